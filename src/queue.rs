//! The bounded job queue.
//!
//! An unbounded `async_channel` carries the jobs; capacity is a counter of reserved places. A
//! submitter reserves a place *before* it builds the job's task, so a refused job is handed back
//! untouched, and a reserved place can always be filled: the channel closes only once the queue
//! is closed **and** every place is released, which is also when the workers exit.
//!
//! `state` packs the count of reserved places (`state >> 1`) and a closed bit (`state & 1`).
//!
//! Waiting submitters are woken in batches: a full queue wakes them only once it has drained to
//! its low-water mark (a quarter of the capacity free), so a submitter that outpaces the workers
//! parks once per batch of jobs instead of once per job. A submitter that finds the queue not
//! full never waits, so the mark delays no one who could proceed.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use async_channel::{Receiver, Sender};
use event_listener::{Event, EventListener};

use crate::sync::{AtomicUsize, Ordering};

const CLOSED: usize = 1;
const ONE: usize = 2;

pub(crate) struct Queue<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
    state: AtomicUsize,
    capacity: usize,
    /// At most this many places reserved, the queue wakes waiting submitters.
    low_water: usize,
    /// How many waiting submitters a wake-up wakes.
    batch: usize,
    /// Notified when the queue drains to `low_water`, or closes.
    room: Event,
}

/// Why a place could not be reserved.
pub(crate) enum Refused {
    Full,
    Closed,
}

/// A reserved place in the queue. Dropping it unused gives the place back.
pub(crate) struct Permit<'a, T> {
    queue: &'a Queue<T>,
}

impl<T> Permit<'_, T> {
    /// Puts `item` into the reserved place.
    pub(crate) fn send(self, item: T) {
        let queue = self.queue;
        core::mem::forget(self);
        // The channel stays open while any place is reserved, so this cannot fail.
        let sent = queue.tx.try_send(item);
        debug_assert!(sent.is_ok());
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.queue.release();
    }
}

impl<T> Queue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, rx) = async_channel::unbounded();
        let batch = capacity.div_ceil(4).max(1);
        let low_water = capacity - batch;
        Self { tx, rx, state: AtomicUsize::new(0), capacity, low_water, batch, room: Event::new() }
    }

    /// Reserves a place now, or says why not.
    pub(crate) fn try_reserve(&self) -> Result<Permit<'_, T>, Refused> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            if state >> 1 >= self.capacity {
                return Err(Refused::Full);
            }
            match self.state.compare_exchange_weak(
                state,
                state + ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Permit { queue: self }),
                Err(actual) => state = actual,
            }
        }
    }

    /// Reserves a place, waiting for room (registering `listener`). Fails only if the queue is
    /// closed.
    pub(crate) fn poll_reserve(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Permit<'_, T>, Refused>> {
        loop {
            match self.try_reserve() {
                Err(Refused::Full) => {}
                other => {
                    *listener = None;
                    return Poll::Ready(other);
                }
            }
            match listener {
                None => *listener = Some(self.room.listen()),
                Some(l) => {
                    if Pin::new(l).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *listener = None;
                }
            }
        }
    }

    /// Takes the next job, waiting for one. `None` once the queue is closed and empty.
    pub(crate) async fn pop(&self) -> Option<T> {
        let item = self.rx.recv().await.ok()?;
        self.release();
        Some(item)
    }

    /// Takes the next job if there is one now.
    pub(crate) fn try_pop(&self) -> Option<T> {
        let item = self.rx.try_recv().ok()?;
        self.release();
        Some(item)
    }

    fn release(&self) {
        let prev = self.state.fetch_sub(ONE, Ordering::AcqRel);
        if prev == ONE | CLOSED {
            self.tx.close();
        }
        if (prev >> 1) - 1 <= self.low_water {
            // Counts listeners already notified, so repeated calls cost one atomic load.
            self.room.notify(self.batch);
        }
    }

    /// Stops accepting jobs. Queued jobs stay until popped; once none is left, `pop` returns
    /// `None`. Waiting submitters are woken and refused.
    pub(crate) fn close(&self) {
        let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        if prev >> 1 == 0 {
            self.tx.close();
        }
        self.room.notify(usize::MAX);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Places reserved: jobs queued, plus submissions being enqueued right now.
    pub(crate) fn len(&self) -> usize {
        self.state.load(Ordering::Acquire) >> 1
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
