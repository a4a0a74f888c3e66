//! The bounded job queue.
//!
//! A `ConcurrentQueue` (lock-free, growing in blocks as it fills) carries the jobs; capacity is
//! a counter of reserved places. A submitter reserves a place *before* it builds the job's cell,
//! so a refused job is handed back untouched, and a reserved place can always be filled: the
//! queue closes for pushes only once it is closed **and** every place is released.
//!
//! `state` packs the count of reserved places (`state >> 2`), a closed bit (`state & 1`) and an
//! abandoned bit (`state & 2`): set when the last worker is gone, so nothing will ever pop again.
//!
//! A job pushed into an abandoned queue must still settle. The last worker out sets the bit,
//! then drains; a submitter pushes, then reads the state with a read-modify-write
//! ([`Permit::send`]). Both touch the one state word, so one comes first: either the drain
//! sees the pushed job, or the submitter sees the bit and drains the queue itself.
//!
//! Wake-ups cost nothing when nobody waits: both events are notified with `notify(1)`, which is
//! a single atomic load while a listener is already notified or none is listening. Each woken
//! party passes the baton on: a worker that took a job wakes another if jobs remain, a
//! submitter that found room wakes another if room remains. (A listener dropped while notified
//! passes its notification on by itself.)
//!
//! Waiting submitters are woken in batches: a full queue wakes them only once it has drained to
//! its low-water mark (a quarter of the capacity free), so a submitter that outpaces the workers
//! parks once per batch of jobs instead of once per job. A submitter that finds the queue not
//! full never waits, so the mark delays no one who could proceed.

use core::task::{Context, Poll};

use concurrent_queue::{ConcurrentQueue, PopError};
use event_listener::{Event, EventListener};

use crate::sync::{AtomicUsize, Ordering};

const CLOSED: usize = 1;
const ABANDONED: usize = 2;
const ONE: usize = 4;
const COUNT_SHIFT: u32 = 2;

pub(crate) struct Queue<T> {
    items: ConcurrentQueue<T>,
    state: AtomicUsize,
    capacity: usize,
    /// At most this many places reserved, the queue wakes waiting submitters.
    low_water: usize,
    /// Notified when the queue drains to `low_water`, or closes.
    room: Event,
    /// Notified when a job is pushed, or the queue closes for good.
    ready: Event,
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
    /// Puts `item` into the reserved place. Returns `false` if the queue was abandoned (no
    /// worker is left): then the caller must drain it, as nobody else will (see the module docs).
    #[must_use = "a job pushed into an abandoned queue must be drained by its submitter"]
    pub(crate) fn send(self, item: T) -> bool {
        let queue = self.queue;
        core::mem::forget(self);
        // The queue stays open for pushes while any place is reserved, so this cannot fail.
        let pushed = queue.items.push(item);
        debug_assert!(pushed.is_ok());
        // A read-modify-write, not a load: ordered against `abandon`'s on the same word.
        if queue.state.fetch_add(0, Ordering::AcqRel) & ABANDONED != 0 {
            return false;
        }
        queue.ready.notify(1);
        true
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.queue.release();
    }
}

impl<T> Queue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let low_water = capacity - capacity.div_ceil(4).max(1);
        Self {
            items: ConcurrentQueue::unbounded(),
            state: AtomicUsize::new(0),
            capacity,
            low_water,
            room: Event::new(),
            ready: Event::new(),
        }
    }

    /// Reserves a place now, or says why not.
    pub(crate) fn try_reserve(&self) -> Result<Permit<'_, T>, Refused> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            if state >> COUNT_SHIFT >= self.capacity {
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
        let was_waiting = listener.is_some();
        let mut reserved = None;
        let check = || match self.try_reserve() {
            Err(Refused::Full) => false,
            other => {
                reserved = Some(other);
                true
            }
        };
        if crate::sync::poll_until(check, &self.room, listener, cx).is_pending() {
            return Poll::Pending;
        }
        *listener = None;
        if was_waiting && self.len() < self.capacity {
            self.room.notify(1); // the baton: room is left for another
        }
        Poll::Ready(reserved.unwrap_or(Err(Refused::Closed)))
    }

    /// Takes the next job, waiting for one (registering `listener`). `None` once the queue is
    /// closed and empty.
    pub(crate) fn poll_pop(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let was_waiting = listener.is_some();
        let mut popped = None;
        let check = || match self.try_pop_or_closed() {
            Ok(item) => {
                popped = Some(item);
                true
            }
            Err(closed) => closed,
        };
        if crate::sync::poll_until(check, &self.ready, listener, cx).is_pending() {
            return Poll::Pending;
        }
        *listener = None;
        if was_waiting && popped.is_some() && !self.items.is_empty() {
            self.ready.notify(1); // the baton: jobs are left for another
        }
        Poll::Ready(popped)
    }

    /// Takes the next job if there is one now.
    pub(crate) fn try_pop(&self) -> Option<T> {
        self.try_pop_or_closed().ok()
    }

    /// A job, or `Err(closed)`: whether the queue is closed and empty for good.
    fn try_pop_or_closed(&self) -> Result<T, bool> {
        match self.items.pop() {
            Ok(item) => {
                self.release();
                Ok(item)
            }
            Err(PopError::Closed) => Err(true),
            Err(PopError::Empty) => Err(false),
        }
    }

    fn release(&self) {
        let prev = self.state.fetch_sub(ONE, Ordering::AcqRel);
        if prev & !ABANDONED == ONE | CLOSED {
            self.close_items();
        }
        if (prev >> COUNT_SHIFT) - 1 <= self.low_water {
            self.room.notify(1);
        }
    }

    /// Closes the item queue for good: pops drain what is left, then see `Closed`.
    fn close_items(&self) {
        self.items.close();
        self.ready.notify(usize::MAX);
    }

    /// Stops accepting jobs. Queued jobs stay until popped; once none is left, `pop` returns
    /// `None`. Waiting submitters are woken and refused.
    pub(crate) fn close(&self) {
        self.close_with(CLOSED);
    }

    /// Closes the queue for good because no worker is left to pop it: a submitter that pushes
    /// after this sees it in [`Permit::send`]. The caller drains what is queued.
    pub(crate) fn abandon(&self) {
        self.close_with(CLOSED | ABANDONED);
    }

    fn close_with(&self, bits: usize) {
        let prev = self.state.fetch_or(bits, Ordering::AcqRel);
        if prev >> COUNT_SHIFT == 0 {
            self.close_items();
        }
        self.room.notify(usize::MAX);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Places reserved: jobs queued, plus submissions being enqueued right now.
    pub(crate) fn len(&self) -> usize {
        self.state.load(Ordering::Acquire) >> COUNT_SHIFT
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
