//! One job's path between the package's JavaScript (the host, `npm/index.js`) and the pool.
//! The job's function, its value or error, its promise and its attempts' signals stay in
//! JavaScript; only numbers cross. Rust keeps what it is for: the queue, the workers, timeouts,
//! retries, backoff and the metrics.
//!
//! 1. `push(options, waiter)` (`mod.rs`) enqueues the job and returns its id (or, when the
//!    queue is full, the host's `admitted(waiter, id)` gives it once there is room).
//! 2. A worker calls the host's `startAttempt(job, attempt, token, hedge)` for each attempt
//!    (`hedge`: it runs beside the round's earlier attempts, which go on): the host calls the
//!    function and, when what it returned settles, `attemptDone(token, job, attempt, ok)`, which
//!    names the attempt in full: a late call, for an attempt that was dropped, never completes
//!    another attempt that has taken its token since.
//! 3. An attempt dropped before it ended (a timeout, a cancel, an abort, the deadline, a hedge
//!    that lost) is told with `dropped(job, attempt)`: the host fires its signal.
//! 4. A job with a `shouldRetry` option: the pool's retry predicate asks the host's
//!    `shouldRetry(job, attempt, timedOut)` after each failed attempt; the host calls the
//!    function, and never throws (a function that throws ends the job, with that error).
//! 5. Events reach the host as `event(code, job, n, how)`: every event while someone listens,
//!    else only those it needs (`attemptTimedOut`, and the job's end, on which it settles the
//!    job's promise with the value or error it kept). A job's end says `how` (see
//!    [`Shared::how`]): the attempt whose value or failure it ends with, or that the deadline
//!    passed, or that a circuit breaker refused it. A queued job's end (a cancel by its
//!    `signal`, `clear()`, `abort()`) reaches the host at once, from inside the call that
//!    cancelled it: the promise rejects then, not when a worker would have reached the job.
//!    A circuit breaker's events (no job) reach the host, while someone listens, as
//!    `circuit(code, key)`.
//!
//! The host is held here (in wasm-bindgen's table of JavaScript values, a GC root) until the
//! pool is freed, but it refers to the user's `WorkPool` only while a job is in flight: an idle
//! `WorkPool` that no one refers to is collected, and its finalizer frees this side.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;

use super::options::JobOptions;
use crate::{Attempt, Failure, Job, JobEvent, JobKey, LocalJobHandle, RetryIf};

#[wasm_bindgen]
extern "C" {
    /// The JavaScript side of a pool (`Host` in `npm/index.js`).
    pub(crate) type Host;
    /// Calls the job's function for this attempt.
    #[wasm_bindgen(method, js_name = startAttempt)]
    fn start_attempt(this: &Host, job: f64, attempt: u32, token: u32, hedge: bool);
    /// Whether the job's `shouldRetry` wants another attempt after attempt `attempt` failed
    /// (`timed_out`: it timed out, else it threw or rejected). It never throws: a
    /// `shouldRetry` that throws answers `false`, and the job ends with what it threw.
    #[wasm_bindgen(method, js_name = shouldRetry)]
    fn should_retry(this: &Host, job: f64, attempt: u32, timed_out: bool) -> bool;
    /// The attempt was dropped before it ended: the host fires its signal, with a reason that
    /// says why (known by the end of the current event-loop task).
    #[wasm_bindgen(method)]
    fn dropped(this: &Host, job: f64, attempt: u32);
    /// A submission that waited for room got its id (or -2: the pool closed first).
    #[wasm_bindgen(method)]
    pub(crate) fn admitted(this: &Host, waiter: f64, job: f64);
    /// An event, in numbers (see `super::event_parts`). It never throws: the host catches
    /// what its listeners throw.
    #[wasm_bindgen(method)]
    fn event(this: &Host, code: u32, job: f64, n: u32, delay: f64);
    /// A circuit breaker's event (`circuitOpened`, `circuitHalfOpen`, `circuitClosed`): its
    /// key, or `null` for the pool's breaker. It never throws.
    #[wasm_bindgen(method)]
    fn circuit(this: &Host, code: u32, key: JsValue);
}

/// A job's end, as the host's `event` receives it in `how`: the deadline passed.
pub(crate) const HOW_DEADLINE: f64 = -1.0;
/// A circuit breaker refused the job's next attempt.
pub(crate) const HOW_CIRCUIT: f64 = -2.0;

/// The latest attempt that ended (by itself, or by its timeout), across the pool: a job's end
/// follows its deciding attempt's end without an await between, so the end finds it here.
#[derive(Clone, Copy, Default)]
struct Last {
    job: u64,
    attempt: u32,
    /// A retry was scheduled after it: the job did not end with it.
    retrying: bool,
}

/// What a pool shares with its jobs and its event observer.
pub(crate) struct Shared {
    pub(crate) host: Host,
    /// Whether the host wants every event (someone listens).
    pub(crate) listening: Cell<bool>,
    pub(crate) attempts: Attempts,
    /// Submissions waiting for room in the queue.
    pub(crate) waiting: Cell<u32>,
    /// Those of them that can be withdrawn (their signal fires while they wait).
    pub(crate) line: Line,
    /// The reason of the last submission refused for its already-fired signal, until the host
    /// takes it (`takeReason`).
    pub(crate) reason: Cell<JsValue>,
    /// The handles of jobs submitted with a `signal` or an `id`, by the job's id (ascending):
    /// what `cancel` and `setPriority` need.
    kept: RefCell<Vec<(u64, LocalJobHandle<(), ()>)>>,
    /// The latest attempt to end (see [`Last`]).
    last: Cell<Last>,
    /// The job whose deadline passed last (its `Failed` follows at once).
    deadline: Cell<Option<u64>>,
    /// Whether the pool has a circuit breaker (so that a job may end refused by it).
    breaker: bool,
}

impl Shared {
    pub(crate) fn new(host: Host, breaker: bool) -> Self {
        Self {
            host,
            listening: Cell::new(false),
            attempts: Attempts::default(),
            waiting: Cell::new(0),
            line: Line::default(),
            reason: Cell::default(),
            kept: RefCell::default(),
            last: Cell::default(),
            deadline: Cell::new(None),
            breaker,
        }
    }

    /// How job `job`'s end came about, for the host's `event` (its `how`): the attempt whose
    /// value or failure it ends with (0: not known), [`HOW_DEADLINE`] or [`HOW_CIRCUIT`].
    ///
    /// A job's end follows the end of the attempt it ends with, with no await between (the
    /// attempt loop decides at once), so [`Shared::last`] still names that attempt then. The
    /// two ends that come after an await are told apart: the deadline's (its event comes
    /// first), and a breaker's refusal of a retry, after its backoff (the job's last attempt
    /// had a retry scheduled, or another job's attempt ended since), or of a first attempt (no
    /// attempt at all).
    fn how(&self, e: &JobEvent<'_>, job: u64) -> f64 {
        let last = self.last.get();
        let decided = last.job == job && last.attempt > 0 && !last.retrying;
        match *e {
            JobEvent::Failed { .. } if self.deadline.get() == Some(job) => {
                self.deadline.set(None);
                HOW_DEADLINE
            }
            JobEvent::Failed { .. } if self.breaker && !decided => HOW_CIRCUIT,
            JobEvent::Succeeded { .. } | JobEvent::Failed { .. } if decided => {
                f64::from(last.attempt)
            }
            _ => 0.0,
        }
    }

    /// Attempt `attempt` of `job` ended.
    fn ended(&self, job: u64, attempt: u32) {
        self.last.set(Last { job, attempt, retrying: false });
    }

    /// A job was enqueued: keeps its handle if the host may need it (`keep`: the job can be
    /// cancelled, or its priority changed), else lets it go (its end reaches the host as an
    /// event). Returns its id.
    pub(crate) fn admitted(&self, handle: LocalJobHandle<(), ()>, keep: bool) -> f64 {
        let id = handle.job_id();
        if keep {
            let mut handles = self.kept.borrow_mut();
            let at = handles.partition_point(|(j, _)| *j < id);
            handles.insert(at, (id, handle));
        }
        id as f64
    }

    /// Cancels `job`, if it was submitted with a signal and has not ended.
    pub(crate) fn cancel(&self, job: u64) -> bool {
        // Taken out first: cancelling may end the job at once, whose event then finds nothing.
        self.take(job).is_some_and(|handle| handle.cancel())
    }

    /// Changes the priority of `job`, if it was kept and is still queued.
    pub(crate) fn set_priority(&self, job: u64, priority: i32) -> bool {
        let handles = self.kept.borrow();
        let Ok(at) = handles.binary_search_by_key(&job, |(j, _)| *j) else { return false };
        handles[at].1.set_priority(priority)
    }

    /// `job`'s handle, if it was kept and has not ended.
    fn take(&self, job: u64) -> Option<LocalJobHandle<(), ()>> {
        let mut handles = self.kept.borrow_mut();
        let at = handles.binary_search_by_key(&job, |(j, _)| *j).ok()?;
        Some(handles.remove(at).1)
    }

    /// The pool's event observer: tells the host what it needs, or everything while someone
    /// listens.
    pub(crate) fn event(&self, e: &JobEvent<'_>) {
        let (code, n, mut delay) = super::event_parts(e);
        let Some(job) = e.job() else {
            if let JobEvent::CircuitOpened { key }
            | JobEvent::CircuitHalfOpen { key }
            | JobEvent::CircuitClosed { key } = *e
            {
                if self.listening.get() {
                    self.host.circuit(code, key.map_or(JsValue::NULL, key_value));
                }
            }
            return;
        };
        match *e {
            JobEvent::AttemptTimedOut { attempt, .. } => self.ended(job, attempt),
            JobEvent::RetryScheduled { .. } => {
                let last = self.last.get();
                if last.job == job {
                    self.last.set(Last { retrying: true, ..last });
                }
            }
            JobEvent::DeadlineExceeded { .. } => self.deadline.set(Some(job)),
            _ => {}
        }
        let ends = (super::SUCCEEDED..=super::CANCELLED).contains(&code);
        if ends {
            drop(self.take(job)); // the job has ended: nothing left to cancel
            delay = self.how(e, job);
        }
        if !(ends || code == super::TIMED_OUT || self.listening.get()) {
            return;
        }
        self.host.event(code, job as f64, n, delay);
    }
}

/// A breaker's key as JavaScript gave it: a string, or a safe integer (keys from JavaScript are
/// made by `options::key_value`, a negative one in two's complement).
fn key_value(key: &JobKey) -> JsValue {
    use alloc::string::ToString;
    let text = key.to_string();
    match text.parse::<u64>() {
        Ok(n) if JobKey::from(n) == *key => JsValue::from(n as i64 as f64),
        _ => JsValue::from(text),
    }
}

/// The retry predicate of a job whose function the host keeps: with a `shouldRetry` option,
/// the host's `shouldRetry` (which never throws); without one, every failure is retried.
pub(crate) struct HostRetry(Option<Rc<Shared>>);

impl RetryIf<()> for HostRetry {
    fn should_retry(&self, _: &()) -> bool {
        self.should_retry_failure(Failure::Error(&()))
    }

    fn should_retry_failure(&self, failure: Failure<'_, ()>) -> bool {
        let Some(shared) = &self.0 else { return true };
        // Asked right after the attempt's end (`AttemptFailed` or `AttemptTimedOut`), which
        // `last` records; a JavaScript job cannot panic on wasm32 (a throw is an error).
        let last = shared.last.get();
        let timed_out = matches!(failure, Failure::TimedOut);
        shared.host.should_retry(last.job as f64, last.attempt, timed_out)
    }
}

/// A job whose function the host keeps, with a submission's options.
pub(crate) fn job(
    shared: Rc<Shared>,
    options: Option<JobOptions>,
) -> Job<impl FnMut(Attempt) -> HostAttempt + 'static, HostRetry> {
    let asks = options.as_ref().is_some_and(|o| o.should_retry);
    let retry = HostRetry(asks.then(|| Rc::clone(&shared)));
    let mut job = Job::new(move |attempt: Attempt| {
        let (job, number) = (attempt.job_id(), attempt.number());
        let token = shared.attempts.take_slot(job, number);
        // The host may call `attemptDone` before it returns (a plain value, or a throw).
        shared.host.start_attempt(job as f64, number, token, attempt.is_hedge());
        HostAttempt { shared: Rc::clone(&shared), token, job, number, ended: false }
    })
    .retry_if(retry);
    if let Some(o) = options {
        if let Some(retries) = o.retries {
            job = job.retries(retries);
        }
        job.timeout = o.timeout;
        job.backoff = o.backoff;
        job = job.priority(o.priority);
        if let Some(key) = o.key {
            job = job.key(key);
        }
        job = match o.deadline {
            None => job,
            Some(Some(d)) => job.deadline(d),
            Some(None) => job.no_deadline(),
        };
        job = match o.hedge {
            None => job,
            Some(Some(h)) => job.hedge(h),
            Some(None) => job.no_hedge(),
        };
    }
    job
}

/// The attempts in flight, by token: where `attemptDone` finds the attempt to wake. A token is
/// a slot's index; the slot also records whose attempt it holds (the job's id and the attempt's
/// number, which no other attempt of the pool ever has), and `attemptDone` names both: a late
/// call for an attempt that was dropped (timed out, cancelled) finds nothing, even once its
/// slot holds another attempt.
#[derive(Default)]
pub(crate) struct Attempts {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

#[derive(Default)]
struct Slot {
    job: u64,
    number: u32,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Free,
    Waiting(Option<Waker>),
    Done(bool),
}

impl Attempts {
    fn take_slot(&self, job: u64, number: u32) -> u32 {
        let mut slots = self.slots.borrow_mut();
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            slots.push(Slot::default());
            (slots.len() - 1) as u32
        });
        slots[index as usize] = Slot { job, number, state: State::Waiting(None) };
        index
    }

    /// The slot of `token` while it holds attempt `number` of `job`.
    fn slot_of(slots: &mut [Slot], token: u32, job: u64, number: u32) -> Option<&mut Slot> {
        let slot = slots.get_mut(token as usize)?;
        let live = !matches!(slot.state, State::Free);
        (live && slot.job == job && slot.number == number).then_some(slot)
    }

    /// `attemptDone(token, job, attempt, ok)`: the attempt's promise settled (or its function
    /// returned).
    pub(crate) fn done(&self, token: u32, job: u64, number: u32, ok: bool) {
        let waker = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = Self::slot_of(&mut slots, token, job, number) else { return };
            // Already done: a second call changes nothing.
            let State::Waiting(waker) = &mut slot.state else { return };
            let waker = waker.take();
            slot.state = State::Done(ok);
            waker
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether attempt `number` of `job` (holding `token`) is done, and how.
    fn poll(&self, token: u32, job: u64, number: u32, cx: &mut Context<'_>) -> Poll<bool> {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = Self::slot_of(&mut slots, token, job, number) else {
            return Poll::Ready(false);
        };
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

    /// Frees the slot of attempt `number` of `job`, for another attempt to take.
    fn release(&self, token: u32, job: u64, number: u32) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = Self::slot_of(&mut slots, token, job, number) {
            slot.state = State::Free;
            self.free.borrow_mut().push(token);
        }
    }
}

/// One attempt of a job whose function the host keeps: done when the host says so.
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
        let ok = match this.shared.attempts.poll(this.token, this.job, this.number, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ok) => ok,
        };
        this.shared.attempts.release(this.token, this.job, this.number);
        this.ended = true;
        this.shared.ended(this.job, this.number);
        Poll::Ready(if ok { Ok(()) } else { Err(()) })
    }
}

impl Drop for HostAttempt {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.attempts.release(self.token, self.job, self.number);
            self.shared.host.dropped(self.job as f64, self.number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;

    struct Noop;
    impl alloc::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll(attempts: &Attempts, token: u32, job: u64, number: u32) -> Poll<bool> {
        let waker = Waker::from(Arc::new(Noop));
        attempts.poll(token, job, number, &mut Context::from_waker(&waker))
    }

    /// Issue 17, risk 3: a token kept 12 generation bits, so after 4,095 reuses of its slot a
    /// late `attemptDone` for a dropped attempt completed the attempt that then held it.
    #[test]
    fn a_late_attempt_done_never_completes_the_attempt_that_took_its_token() {
        let attempts = Attempts::default();
        let a = attempts.take_slot(0, 1); // job 0's attempt, dropped (timed out)
        attempts.release(a, 0, 1);
        for job in 1..4096 {
            let t = attempts.take_slot(job, 1);
            attempts.done(t, job, 1, true);
            attempts.release(t, job, 1);
        }
        let b = attempts.take_slot(4096, 1);
        assert_eq!(a, b, "the same slot, taken again");
        attempts.done(a, 0, 1, true); // job 0's promise resolves, late
        assert!(poll(&attempts, b, 4096, 1).is_pending(), "a stale call completed another attempt");
        attempts.done(b, 4096, 2, true); // not this attempt either
        assert!(poll(&attempts, b, 4096, 1).is_pending());
        attempts.done(b, 4096, 1, false);
        assert_eq!(poll(&attempts, b, 4096, 1), Poll::Ready(false));
        attempts.release(b, 4096, 1);
        attempts.done(b, 4096, 1, true); // after its end: nothing
        assert_eq!(poll(&attempts, b, 4096, 1), Poll::Ready(false));
    }
}

/// The submissions waiting for room, by the host's waiter number: each can be withdrawn.
#[derive(Default)]
pub(crate) struct Line(RefCell<Vec<(f64, Rc<Withdrawal>)>>);

/// A waiting submission's withdrawal: set once, waking the submission's task.
#[derive(Default)]
pub(crate) struct Withdrawal {
    done: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Line {
    /// Waiter `waiter` joins; the future completes (`None`) if it is withdrawn.
    pub(crate) fn join<T>(&self, waiter: f64) -> impl Future<Output = Option<T>> {
        let w = Rc::new(Withdrawal::default());
        self.0.borrow_mut().push((waiter, Rc::clone(&w)));
        core::future::poll_fn(move |cx| {
            if w.done.get() {
                return Poll::Ready(None);
            }
            w.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }

    pub(crate) fn withdraw(&self, waiter: f64) {
        let found = self.0.borrow().iter().find(|(w, _)| *w == waiter).map(|(_, w)| Rc::clone(w));
        if let Some(w) = found {
            w.done.set(true);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }

    pub(crate) fn leave(&self, waiter: f64) {
        self.0.borrow_mut().retain(|(w, _)| *w != waiter);
    }
}
