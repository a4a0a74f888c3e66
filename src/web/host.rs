//! The fast path of the package's `submit`: the job's function, its value and its promise stay
//! in JavaScript (`npm/index.js`), and only numbers cross into wasm. Rust keeps what it is for:
//! the queue, the workers, timeouts, retries, backoff and the metrics.
//!
//! Per job: `push()` enqueues it and returns its id; a worker calls the host's
//! `startAttempt(job, attempt, token)` for each attempt, which calls the function and, when it
//! settles, `attemptDone(token, ok)`; at the end, the host's `settle(job, outcome, attempts)`
//! resolves or rejects the job's promise with the value or error it kept.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;

use crate::{Attempt, Job};

#[wasm_bindgen]
extern "C" {
    /// The JavaScript side of a pool: `npm/index.js` keeps each job's function, value and
    /// promise there.
    pub(crate) type Host;
    /// Calls the job's function for this attempt.
    #[wasm_bindgen(method, js_name = startAttempt)]
    fn start_attempt(this: &Host, job: f64, attempt: u32, token: u32);
    /// The attempt was dropped before it ended (a timeout, a cancel, an abort): the host fires
    /// its signal, with a reason that says which.
    #[wasm_bindgen(method)]
    fn dropped(this: &Host, job: f64, attempt: u32);
    /// The job ended: 0 succeeded, 1 failed, 2 cancelled.
    #[wasm_bindgen(method)]
    pub(crate) fn settle(this: &Host, job: f64, outcome: u32, attempts: u32);
    /// The job's latest attempt timed out.
    #[wasm_bindgen(method, js_name = timedOut)]
    pub(crate) fn timed_out(this: &Host, job: f64);
    /// An event, in numbers (see `event_code`), for the host to build and dispatch: `n` is
    /// the attempt or the attempts, `delay` the backoff in ms, `error` the attempt's error (for
    /// `attemptFailed` of a job on the general path).
    #[wasm_bindgen(method, catch)]
    pub(crate) fn event(
        this: &Host,
        code: u32,
        job: f64,
        n: u32,
        delay: f64,
        error: &JsValue,
    ) -> Result<(), JsValue>;
}

/// How a job's end is told to the host.
pub(crate) const SUCCEEDED: u32 = 0;
pub(crate) const FAILED: u32 = 1;
pub(crate) const CANCELLED: u32 = 2;

/// The attempts in flight, by token: where `attemptDone` finds the attempt to wake. A token
/// carries its slot's generation, so a late `attemptDone` of an attempt that was dropped (timed
/// out, cancelled) finds nothing.
#[derive(Default)]
pub(crate) struct Attempts {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Free,
    Waiting(Option<Waker>),
    Done(bool),
}

const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;

impl Attempts {
    fn take_slot(&self) -> u32 {
        let mut slots = self.slots.borrow_mut();
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            slots.push(Slot::default());
            (slots.len() - 1) as u32
        });
        let slot = &mut slots[index as usize];
        slot.state = State::Waiting(None);
        (slot.generation << INDEX_BITS) | index
    }

    fn slot_of(slots: &mut [Slot], token: u32) -> Option<&mut Slot> {
        let slot = slots.get_mut((token & INDEX_MASK) as usize)?;
        (slot.generation & (u32::MAX >> INDEX_BITS) == token >> INDEX_BITS).then_some(slot)
    }

    /// `attemptDone(token, ok)`: the attempt's promise settled (or its function returned).
    pub(crate) fn done(&self, token: u32, ok: bool) {
        let waker = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = Self::slot_of(&mut slots, token) else { return };
            // Already done, or freed: a late call changes nothing.
            let State::Waiting(waker) = &mut slot.state else { return };
            let waker = waker.take();
            slot.state = State::Done(ok);
            waker
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn poll(&self, token: u32, cx: &mut Context<'_>) -> Poll<bool> {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = Self::slot_of(&mut slots, token) else { return Poll::Ready(false) };
        match &mut slot.state {
            State::Done(ok) => Poll::Ready(*ok),
            State::Waiting(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Free => Poll::Ready(false),
        }
    }

    fn release(&self, token: u32) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = Self::slot_of(&mut slots, token) {
            slot.state = State::Free;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.borrow_mut().push(token & INDEX_MASK);
        }
    }
}

/// What a fast-path job needs from its pool.
pub(crate) struct Shared {
    pub(crate) host: Host,
    /// Whether the host wants events (someone listens).
    pub(crate) listening: core::cell::Cell<bool>,
    pub(crate) attempts: Attempts,
}

/// A job whose function lives on the host.
pub(crate) fn host_job(shared: Rc<Shared>) -> Job<impl FnMut(Attempt) -> HostAttempt + 'static> {
    Job::new(move |attempt: Attempt| {
        let (job, number) = (attempt.job_id(), attempt.number());
        let token = shared.attempts.take_slot();
        // The host may call `attemptDone` before it returns (a plain value, or a throw).
        shared.host.start_attempt(job as f64, number, token);
        HostAttempt { shared: Rc::clone(&shared), token, job, number, ended: false }
    })
}

/// One attempt of a host job: done when the host says so.
pub(crate) struct HostAttempt {
    shared: Rc<Shared>,
    token: u32,
    job: u64,
    number: u32,
    /// It ended by itself: nothing to abort when it is dropped.
    ended: bool,
}

impl Future for HostAttempt {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let this = &mut *self;
        let ok = match this.shared.attempts.poll(this.token, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ok) => ok,
        };
        this.shared.attempts.release(this.token);
        this.ended = true;
        Poll::Ready(if ok { Ok(()) } else { Err(()) })
    }
}

impl Drop for HostAttempt {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.attempts.release(self.token);
            self.shared.host.dropped(self.job as f64, self.number);
        }
    }
}
