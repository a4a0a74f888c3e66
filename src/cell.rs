//! A job's cell: the **one allocation** per queued job, shared by the queue, the worker that
//! runs the job and the job's handle.
//!
//! It holds the [state word](crate::state), two waker slots (the handle's, waiting for the
//! result; the worker's, waiting for a cancel request), and the job's *stage*, which is, in turn,
//! what is needed to start the job (its function, retry predicate and option overrides), the
//! running attempt, and the result. The attempt loop's own state (attempt number, timer,
//! backoff) is not here: it lives in the worker, built when the worker starts the job, so a
//! queued job holds only what it needs to start.
//!
//! The running attempt's future is boxed when the attempt begins, by the worker, which also
//! frees it: a short-lived allocation on one thread. Pinning it inside the cell instead would
//! save that allocation but take `unsafe` code and make every queued cell as large as the
//! future; the boxed future is no slower and keeps queued jobs 8 bytes smaller
//! (`docs/performance.md`), so the crate stays `#![forbid(unsafe_code)]`.
//!
//! # Who holds the stage, and when
//!
//! The [state word](crate::state) gives the stage to one party at a time:
//!
//! * `QUEUED`: nobody, until a worker pops the job. The worker that starts it
//!   (`QUEUED → RUNNING`) takes the function and predicate into the running stage; if a cancel
//!   request won instead, whoever popped the job from the queue clears it ([`RunJob::clear`]).
//! * `RUNNING` and `SEALED`: the worker that started the job, alone. To run user code (the
//!   job's function, its future, the observer, the retry predicate) it takes what that code
//!   needs out of the stage, releases the lock, runs it, and puts it back: the function and
//!   predicate by moving the whole running stage out (the stage reads `Empty` meanwhile), the
//!   attempt's future by moving its `Pin<Box<_>>` out (the box keeps the future in place, so
//!   it stays pinned). The handle, the canceller and the pool never read the stage then.
//! * `DONE | RESULT`: the job's handle, alone, which takes the result once.
//! * `DONE` without `RESULT` (cancelled while queued): only the clearing popper, as above.
//!
//! So the stage's lock is never contended; it is there because safe Rust needs a `Sync` cell.
//! It is held only to move values in or out, never while user code runs: user values (the
//! function, predicate, future, error, value) are dropped after the lock is released, as their
//! `Drop` is user code too. The two wakers are lock-free slots
//! ([`AtomicWaker`](crate::sync::AtomicWaker)), so a waker's `clone`, `wake` or `drop`, or an
//! interrupt-priority task preempting a registration, never waits on a lock.

use alloc::boxed::Box;
use alloc::string::String;
use core::any::Any;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::job::JobKey;
use crate::outcome::Ended;
use crate::state::{Cancelled, State, Word, DONE, HANDLE_WAKER, RESULT, WORKER_WAKER};
use crate::sync::{AtomicWaker, Lock};
use crate::{Attempt, Backoff, Failure, Hedge, JobError, JobEvent, RetryIf};

/// A job's own option overrides, unresolved: `None` takes the pool's default. Its key lives
/// here too, so that a job without options or a key needs no box (and a queued job stays one
/// pointer in the scheduler's lines).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) key: Option<JobKey>,
    pub(crate) deadline: Option<Option<Duration>>,
    pub(crate) hedge: Option<Option<Hedge>>,
}

/// A failed attempt that did not return an error, for the retry predicate.
#[derive(Clone, Copy, Debug)]
pub enum Unreturned<'a> {
    /// It ran past its timeout.
    TimedOut,
    /// It panicked.
    Panicked(Option<&'a str>),
}

/// The type-erased face of a cell: what the worker and the handle call.
///
/// One trait for both, so one `Arc<dyn RunJob>` (a single allocation) serves the queue and the
/// handle; the handle receives its typed result through [`RunJob::take_result`].
pub trait RunJob {
    /// The job's id.
    fn id(&self) -> u64;

    /// `QUEUED → RUNNING`, under the scheduler's lock: `false` if the job was cancelled while
    /// queued (then nobody runs it).
    fn claim(&self) -> bool;

    /// After a successful [`claim`](RunJob::claim), by the worker that made it: moves the
    /// function and predicate into the running stage and returns the job's overrides.
    fn start(&self) -> Overrides;

    /// Whether the job is still queued (neither started nor cancelled).
    fn is_queued(&self) -> bool;

    /// Marks the queued job as waiting for its key, or no longer (under the scheduler's lock).
    fn set_on_key(&self, on: bool);

    /// Calls `f` with the queued job's key (`None` without one, or once started). The
    /// scheduler's code, never user code, runs in `f`, under the stage's lock.
    fn with_key(&self, f: &mut dyn FnMut(Option<&JobKey>));

    /// Calls the job's function for `attempt` and keeps the future it returns in `slot` (0 for
    /// a round's first attempt, 1 and up for its hedges). `Err` with the panic message if the
    /// function panicked. A round's first attempt drops the previous round's error.
    fn begin(&self, attempt: Attempt, slot: usize) -> Result<(), Option<String>>;

    /// Polls the attempt in `slot`: `Succeeded`, `Failed`, `Panicked`, or `PoolCodePanicked`
    /// (the retry predicate panicked). On failure, reports `AttemptFailed` to `emit` and asks the
    /// retry predicate; the error replaces any earlier one in the stage. On success, the value
    /// replaces the running stage: every other slot's attempt is dropped.
    fn poll_attempt(
        &self,
        cx: &mut Context<'_>,
        attempt: u32,
        slot: usize,
        emit: &dyn Fn(&JobEvent<'_>),
    ) -> Poll<Ended>;

    /// Asks the retry predicate about an attempt that failed without an error. `Err` with
    /// the message if the predicate panicked.
    fn retry_unreturned(&self, failure: Unreturned<'_>) -> Result<bool, Option<String>>;

    /// Drops every running attempt's future in place (a timeout or a cancel request won).
    fn drop_attempt(&self);

    /// Drops the attempt in `slot` (it timed out while others of its round run).
    fn drop_slot(&self, slot: usize);

    /// Decides the job's outcome, once, before it is counted and settled: `true` if a cancel
    /// request came first, and then the job must settle as [`JobError::Cancelled`] whatever its
    /// attempt returned. From here on cancel requests fail.
    fn seal(&self) -> bool;

    /// Publishes the job's outcome (after [`seal`](RunJob::seal)) and wakes the handle: `None`
    /// for the value already in the stage, or the error, where `Failed`'s `()` stands for the
    /// error already in the stage. A value or error in the stage that the outcome replaces (a
    /// cancel request won) is dropped here.
    fn settle(&self, error: Option<JobError<()>>);

    /// Whether the job was asked to stop.
    fn is_cancel_requested(&self) -> bool;

    /// Ready once the job is asked to stop; registers the worker's waker otherwise.
    fn poll_cancel(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// A cancel request (from the handle, or the pool), waking whoever it must. A queued job
    /// is cancelled only through the scheduler ([`request_cancel`](RunJob::request_cancel)
    /// under its lock), so this is for running jobs and tests.
    fn cancel(&self) -> Cancelled {
        let cancelled = self.request_cancel();
        self.wake_cancelled(cancelled);
        cancelled
    }

    /// The state change of a cancel request, waking nobody (the scheduler calls it under its
    /// lock, and wakes once it is released): see [`wake_cancelled`](RunJob::wake_cancelled).
    fn request_cancel(&self) -> Cancelled;

    /// Wakes whoever `cancelled` (from [`request_cancel`](RunJob::request_cancel)) says waits.
    fn wake_cancelled(&self, cancelled: Cancelled);

    /// Drops the function, predicate and future if they are still here (a job cancelled while
    /// queued, popped by a worker or drained by the pool), so the handle never drops them.
    fn clear(&self);

    /// The handle's poll: `Ready(true)` once settled with a result (then `out`, an
    /// `&mut Option<Result<T, JobError<E>>>`, is filled), `Ready(false)` if the job was cancelled
    /// while queued; registers the handle's waker otherwise.
    fn poll_result(&self, cx: &mut Context<'_>, out: &mut dyn Any) -> Poll<bool>;

    /// Whether the job has settled.
    fn is_done(&self) -> bool;
}

enum Stage<F, P, Fut, T, E> {
    /// `overrides` is boxed, and only for a job that sets any: most jobs take the pool's
    /// defaults, and a queued job should be small.
    Queued {
        func: F,
        retry_if: P,
        overrides: Option<Box<Overrides>>,
    },
    /// `attempt` is the running attempt's future, boxed by the worker when it began; `hedges`
    /// the futures of the round's hedged attempts, boxed only for a job that hedges.
    Running {
        func: F,
        retry_if: P,
        attempt: Option<Pin<Box<Fut>>>,
        hedges: Option<Box<Hedges<Fut>>>,
        error: Option<E>,
    },
    Done(Result<T, JobError<E>>),
    Empty,
}

/// The futures of a round's hedged attempts: slot `k` (from 1) is `[k - 1]`.
type Hedges<Fut> = alloc::vec::Vec<Option<Pin<Box<Fut>>>>;

/// The future slot `slot` names, growing the hedges to hold it.
fn slot_mut<'s, Fut>(
    attempt: &'s mut Option<Pin<Box<Fut>>>,
    hedges: &'s mut Option<Box<Hedges<Fut>>>,
    slot: usize,
) -> &'s mut Option<Pin<Box<Fut>>> {
    if slot == 0 {
        return attempt;
    }
    let hedges = hedges.get_or_insert_with(Default::default);
    if hedges.len() < slot {
        hedges.resize_with(slot, || None);
    }
    &mut hedges[slot - 1]
}

pub(crate) struct Cell<F, P, Fut, T, E> {
    /// The state word, and the job's id.
    state: State,
    /// The handle's waker, waiting for the result.
    handle_waker: AtomicWaker,
    /// The worker's waker, waiting for a cancel request.
    worker_waker: AtomicWaker,
    stage: Lock<Stage<F, P, Fut, T, E>>,
}

impl<F, P, Fut, T, E> Cell<F, P, Fut, T, E> {
    pub(crate) fn new(id: u64, func: F, retry_if: P, overrides: Option<Box<Overrides>>) -> Self {
        Self {
            state: State::new(id),
            handle_waker: AtomicWaker::default(),
            worker_waker: AtomicWaker::default(),
            stage: Lock::new(Stage::Queued { func, retry_if, overrides }),
        }
    }

    /// Registers `cx`'s waker in `slot`, then sets `bit`; returns the state from before the
    /// bit. No lock: the waker's own code may call back into this cell.
    fn register(&self, cx: &Context<'_>, slot: &AtomicWaker, bit: Word) -> Word {
        slot.register(cx.waker());
        self.state.set(bit)
    }

    /// Moves the whole running stage out (the stage reads `Empty` until it is put back), to
    /// run user code with no lock held.
    fn take_running(&self) -> Stage<F, P, Fut, T, E> {
        let taken = core::mem::replace(&mut *self.stage.lock(), Stage::Empty);
        debug_assert!(matches!(taken, Stage::Running { .. })); // only the running job's worker
        taken
    }

    /// Puts back what [`take_running`](Self::take_running) moved out.
    fn put_running(&self, running: Stage<F, P, Fut, T, E>) {
        let empty = core::mem::replace(&mut *self.stage.lock(), running);
        debug_assert!(matches!(empty, Stage::Empty));
        core::mem::forget(empty); // nothing to drop: no call to the stage's drop glue
    }
}

impl<F, P, Fut, T, E> RunJob for Cell<F, P, Fut, T, E>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: RetryIf<E>,
    T: 'static,
    E: 'static,
{
    fn id(&self) -> u64 {
        self.state.id()
    }

    fn claim(&self) -> bool {
        self.state.start()
    }

    fn is_queued(&self) -> bool {
        State::phase(self.state.load()) == crate::state::QUEUED
    }

    fn set_on_key(&self, on: bool) {
        self.state.set_on_key(on);
    }

    fn with_key(&self, f: &mut dyn FnMut(Option<&JobKey>)) {
        match &*self.stage.lock() {
            Stage::Queued { overrides: Some(o), .. } => f(o.key.as_ref()),
            _ => f(None),
        }
    }

    fn start(&self) -> Overrides {
        let overrides = {
            let mut stage = self.stage.lock();
            match core::mem::replace(&mut *stage, Stage::Empty) {
                Stage::Queued { func, retry_if, overrides } => {
                    let running =
                        Stage::Running { func, retry_if, attempt: None, hedges: None, error: None };
                    core::mem::forget(core::mem::replace(&mut *stage, running)); // `Empty`
                    overrides
                }
                _ => unreachable!(), // a job is started once, from the queued stage
            }
        };
        overrides.map_or_else(Overrides::default, |o| *o)
    }

    fn begin(&self, attempt: Attempt, slot: usize) -> Result<(), Option<String>> {
        let Stage::Running { mut func, retry_if, attempt: mut first, mut hedges, mut error } =
            self.take_running()
        else {
            unreachable!(); // attempts begin while the job runs
        };
        if slot == 0 {
            let error = error.take();
            crate::catch::quietly(move || drop(error)); // the previous round's error
        }
        let begun = crate::catch::unwind(|| func(attempt));
        let begun = match begun {
            Ok(future) => {
                let place = slot_mut(&mut first, &mut hedges, slot);
                debug_assert!(place.is_none());
                *place = Some(Box::pin(future));
                Ok(())
            }
            Err(message) => Err(message),
        };
        self.put_running(Stage::Running { func, retry_if, attempt: first, hedges, error });
        begun
    }

    fn poll_attempt(
        &self,
        cx: &mut Context<'_>,
        number: u32,
        slot: usize,
        emit: &dyn Fn(&JobEvent<'_>),
    ) -> Poll<Ended> {
        let future = match &mut *self.stage.lock() {
            Stage::Running { attempt, .. } if slot == 0 => attempt.take(),
            Stage::Running { attempt, hedges, .. } => slot_mut(attempt, hedges, slot).take(),
            _ => None,
        };
        let Some(mut future) = future else {
            unreachable!(); // an attempt is polled while the job runs, after it began
        };
        let polled = match crate::catch::unwind(|| future.as_mut().poll(cx)) {
            Ok(Poll::Pending) => {
                if let Stage::Running { attempt, hedges, .. } = &mut *self.stage.lock() {
                    *slot_mut(attempt, hedges, slot) = Some(future);
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(result)) => Ok(result),
            Err(message) => Err(message),
        };
        crate::catch::quietly(move || drop(future));
        Poll::Ready(match polled {
            Ok(Ok(value)) => {
                self.finish(Ok(value));
                Ended::Succeeded
            }
            Ok(Err(e)) => {
                let Stage::Running { func, retry_if, attempt, hedges, error } = self.take_running()
                else {
                    unreachable!(); // as above
                };
                crate::catch::quietly(move || drop(error)); // an earlier hedge's
                emit(&JobEvent::AttemptFailed { job: self.state.id(), attempt: number, error: &e });
                let verdict =
                    crate::catch::unwind(|| retry_if.should_retry_failure(Failure::Error(&e)));
                let error = Some(e);
                self.put_running(Stage::Running { func, retry_if, attempt, hedges, error });
                match verdict {
                    Ok(retry) => Ended::Failed { retry },
                    // The attempt failed, and the retry predicate panicked.
                    Err(message) => Ended::PoolCodePanicked(message),
                }
            }
            Err(message) => Ended::Panicked(message),
        })
    }

    fn retry_unreturned(&self, failure: Unreturned<'_>) -> Result<bool, Option<String>> {
        let Stage::Running { func, retry_if, attempt, hedges, error } = self.take_running() else {
            unreachable!(); // asked while the job runs
        };
        let failure = match failure {
            Unreturned::TimedOut => Failure::TimedOut,
            Unreturned::Panicked(message) => Failure::Panicked(message),
        };
        let verdict = crate::catch::unwind(|| retry_if.should_retry_failure(failure));
        self.put_running(Stage::Running { func, retry_if, attempt, hedges, error });
        verdict
    }

    fn drop_attempt(&self) {
        let futures = match &mut *self.stage.lock() {
            Stage::Running { attempt, hedges, .. } => (attempt.take(), hedges.take()),
            _ => (None, None),
        };
        crate::catch::quietly(move || drop(futures));
    }

    fn drop_slot(&self, slot: usize) {
        let future = match &mut *self.stage.lock() {
            Stage::Running { attempt, hedges, .. } => slot_mut(attempt, hedges, slot).take(),
            _ => None,
        };
        crate::catch::quietly(move || drop(future));
    }

    fn seal(&self) -> bool {
        self.state.seal()
    }

    fn settle(&self, error: Option<JobError<()>>) {
        if let Some(error) = error {
            let error = match error {
                JobError::Failed { attempts, .. } => {
                    let stored = match &mut *self.stage.lock() {
                        Stage::Running { error, .. } => error.take(),
                        _ => None,
                    };
                    match stored {
                        Some(error) => JobError::Failed { error, attempts },
                        None => unreachable!(), // a job fails with the error its attempt returned
                    }
                }
                JobError::TimedOut { attempts } => JobError::TimedOut { attempts },
                JobError::Panicked { message, attempts } => {
                    JobError::Panicked { message, attempts }
                }
                JobError::Cancelled { attempts } => JobError::Cancelled { attempts },
                JobError::DeadlineExceeded { attempts } => JobError::DeadlineExceeded { attempts },
                JobError::CircuitOpen { attempts } => JobError::CircuitOpen { attempts },
            };
            // Replaces the running stage, or the value already written if a cancel request
            // won; what it replaces is dropped outside the lock.
            self.finish(Err(error));
        }
        if self.state.settle() {
            self.handle_waker.wake();
        }
    }

    fn is_cancel_requested(&self) -> bool {
        self.state.load() & crate::state::CANCEL != 0
    }

    fn poll_cancel(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancel_requested() {
            return Poll::Ready(());
        }
        let prev = self.register(cx, &self.worker_waker, WORKER_WAKER);
        if prev & crate::state::CANCEL != 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn request_cancel(&self) -> Cancelled {
        self.state.cancel()
    }

    fn wake_cancelled(&self, cancelled: Cancelled) {
        match cancelled {
            Cancelled::Queued { wake_handle: true, .. } => self.handle_waker.wake(),
            Cancelled::Running { wake_worker: true } => self.worker_waker.wake(),
            _ => {}
        }
    }

    fn clear(&self) {
        let old = {
            let mut stage = self.stage.lock();
            match &*stage {
                Stage::Queued { .. } => core::mem::replace(&mut *stage, Stage::Empty),
                _ => return,
            }
        };
        crate::catch::quietly(move || drop(old));
    }

    fn poll_result(&self, cx: &mut Context<'_>, out: &mut dyn Any) -> Poll<bool> {
        let mut state = self.state.load();
        if !State::is_done(state) {
            state = self.register(cx, &self.handle_waker, HANDLE_WAKER);
            if !State::is_done(state) {
                return Poll::Pending;
            }
            // Settled meanwhile: the `AcqRel` of `register` synchronised with the settler.
        }
        if state & RESULT == 0 {
            return Poll::Ready(false); // cancelled while queued
        }
        let taken = core::mem::replace(&mut *self.stage.lock(), Stage::Empty);
        let Stage::Done(result) = taken else {
            unreachable!(); // a settled job's result stays until its handle takes it
        };
        match out.downcast_mut::<Option<Result<T, JobError<E>>>>() {
            Some(out) => *out = Some(result),
            None => unreachable!(), // a handle asks for its own job's result type
        }
        Poll::Ready(true)
    }

    fn is_done(&self) -> bool {
        State::phase(self.state.load()) == DONE
    }
}

impl<F, P, Fut, T, E> Cell<F, P, Fut, T, E> {
    /// Writes the result into the stage; what it replaces (the function, predicate and any
    /// future or error, or a value a cancel request overrode) is dropped after the lock is
    /// released, and a panic in its destructors is caught. Not yet visible: [`RunJob::settle`]
    /// publishes it.
    fn finish(&self, result: Result<T, JobError<E>>) {
        let old = core::mem::replace(&mut *self.stage.lock(), Stage::Done(result));
        match old {
            // The usual end: no future or error left, only the function and the predicate.
            Stage::Running { func, retry_if, attempt: None, hedges: None, error: None } => {
                crate::catch::quietly(move || drop((func, retry_if)));
            }
            old => {
                crate::catch::quietly(move || drop(old));
            }
        }
    }
}

/// Size budget of a cell (the one allocation per queued job), on 64-bit targets. The native
/// benchmark measures the whole heap cost per queued job (`docs/performance.md`); this keeps
/// the cell itself from growing unnoticed.
#[cfg(all(test, target_pointer_width = "64", not(loom)))]
mod size_budget {
    use super::*;
    use crate::RetryAll;

    fn cell_size<F, Fut, T, E>(_: &F) -> usize
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        core::mem::size_of::<Cell<F, RetryAll, Fut, T, E>>()
    }

    #[test]
    fn a_cell_stays_small() {
        // An empty job returning a `u64`: the benchmark's job.
        let job = |_: Attempt| async { Ok::<u64, ()>(1) };
        let size = cell_size(&job);
        // state and id 8 (one word: the id in its upper bits), wakers 48 (two lock-free
        // `AtomicWaker`s, a state word and an `Option<Waker>` each), stage 40 (the result, or
        // the function, predicate, boxed attempt and boxed hedges, and a lock). A cell past
        // 96 bytes makes plain jobs measurably slower (`docs/performance.md`).
        assert!(size <= 96, "a cell of an empty job is {size} bytes");
    }
}

/// User code the pool runs while it registers a waker (a waker's `clone` or `drop`, which may do
/// anything, as an interrupt may) can re-enter the same job's cell: nothing may be locked then.
/// Each scenario runs on its own thread, so a deadlock fails the test instead of hanging it.
#[cfg(all(test, feature = "std", not(loom)))]
mod reentry {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};
    use core::time::Duration;
    use std::boxed::Box;
    use std::sync::{mpsc, Arc, Mutex};
    use std::task::Wake;

    use crate::{Job, JobError, PoolBuilder};

    /// Runs `scenario` on its own thread; fails if it has not finished within 10 s (it then spins
    /// on, leaked, until the test process ends).
    fn finishes(what: &str, scenario: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            scenario();
            let _ = done.send(());
        });
        match finished.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => thread.join().unwrap(),
            // The scenario panicked: report its panic.
            Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(
                thread.join().expect_err("the scenario ended without finishing"),
            ),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("deadlock: {what} did not finish within 10 s")
            }
        }
    }

    /// A waker that runs `on_drop` when its last clone is dropped.
    struct OnDrop(Mutex<Option<Box<dyn FnOnce() + Send>>>);

    impl Wake for OnDrop {
        fn wake(self: Arc<Self>) {}
    }

    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(f) = self.0.get_mut().unwrap().take() {
                f();
            }
        }
    }

    fn on_drop(f: impl FnOnce() + Send + 'static) -> Waker {
        Waker::from(Arc::new(OnDrop(Mutex::new(Some(Box::new(f))))))
    }

    fn noop() -> Waker {
        on_drop(|| {})
    }

    fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    /// The handle's new waker replaces its old one, whose last clone is dropped; the old one's
    /// drop aborts the pool, which cancels the queued job and wakes its handle.
    #[test]
    fn a_waker_dropped_as_the_handle_registers_may_cancel_the_job() {
        finishes("the handle's poll", || {
            let (pool, workers) = PoolBuilder::new(|_: Duration| async {})
                .workers(1)
                .queue(1)
                .build_workers()
                .unwrap();
            let mut handle = pool.try_submit(Job::new(|_| async { Ok::<u32, ()>(1) })).unwrap();
            let p = pool.clone();
            let aborting = on_drop(move || {
                let abort = futures_lite::future::poll_once(p.abort());
                let _ = futures_lite::future::block_on(abort);
            });
            assert!(poll(&mut handle, &aborting).is_pending());
            drop(aborting); // the clone the handle registered is now the last one
            let polled = poll(&mut handle, &noop());
            assert_eq!(polled, Poll::Ready(Err(JobError::Cancelled { attempts: 0 })));
            drop(workers);
        });
    }

    /// Every piece of user code the pool runs for a job (its function, its future, the
    /// observer, the retry predicate, the failed attempt's error as it is dropped) calls back
    /// into the same job's cell through its handle: reads whether it finished, and polls it
    /// (registering a waker). No public path reaches the stage's lock from user code run
    /// under it (the handle reads the stage only once the job is done, and the pool only
    /// while it is queued); this keeps the stage free while user code runs.
    #[test]
    fn user_code_may_call_back_into_its_own_job() {
        finishes("the job", || {
            type Slot = Arc<Mutex<Option<crate::JobHandle<u32, Boom>>>>;
            /// Pokes the job through its handle: whether it finished, and one poll.
            fn poke(slot: &Slot) {
                if let Some(handle) = slot.lock().unwrap().as_mut() {
                    assert!(!handle.is_finished());
                    assert!(poll(handle, &noop()).is_pending());
                }
            }
            struct Boom(Slot);
            impl Drop for Boom {
                fn drop(&mut self) {
                    poke(&self.0);
                }
            }
            let slot: Slot = Arc::default();
            let (s1, s2, s3, s4) = (slot.clone(), slot.clone(), slot.clone(), slot.clone());
            let (pool, mut workers) = PoolBuilder::new(|_: Duration| async {})
                .workers(1)
                .retries(1)
                .on_event(move |_| poke(&s1))
                .build_workers()
                .unwrap();
            let job = Job::new(move |attempt: crate::Attempt| {
                poke(&s2);
                let slot = s2.clone();
                async move {
                    poke(&slot);
                    if attempt.number() == 1 {
                        Err(Boom(slot))
                    } else {
                        Ok(attempt.number())
                    }
                }
            })
            .retry_if(move |_: &Boom| {
                poke(&s3);
                true
            });
            let handle = pool.try_submit(job).unwrap();
            *s4.lock().unwrap() = Some(handle);
            let mut worker = Box::pin(workers.pop().unwrap());
            while !slot.lock().unwrap().as_ref().unwrap().is_finished() {
                assert!(poll(&mut worker, &noop()).is_pending());
            }
            let mut handle = slot.lock().unwrap().take().unwrap();
            assert!(matches!(poll(&mut handle, &noop()), Poll::Ready(Ok(2))));
        });
    }

    /// The same, with the old waker's drop polling the worker (an interrupt-priority executor):
    /// the worker registers its own waker, for a cancel request, in the same cell.
    #[test]
    fn a_waker_dropped_as_the_handle_registers_may_poll_the_worker() {
        finishes("the handle's poll", || {
            let (pool, mut workers) = PoolBuilder::new(|_: Duration| async {})
                .workers(1)
                .queue(1)
                .build_workers()
                .unwrap();
            let worker = Arc::new(Mutex::new(Box::pin(workers.pop().unwrap())));
            let hang = || futures_lite::future::pending::<Result<u32, ()>>();
            let mut handle = pool.try_submit(Job::new(move |_| hang())).unwrap();
            assert!(poll(&mut *worker.lock().unwrap(), &noop()).is_pending()); // the job waits
            let w = Arc::clone(&worker);
            let polling = on_drop(move || {
                let _ = poll(&mut *w.lock().unwrap(), &noop());
            });
            assert!(poll(&mut handle, &polling).is_pending());
            drop(polling);
            assert!(poll(&mut handle, &noop()).is_pending());
            assert!(handle.cancel());
            assert!(poll(&mut *worker.lock().unwrap(), &noop()).is_pending()); // the next job
            let polled = poll(&mut handle, &noop());
            assert_eq!(polled, Poll::Ready(Err(JobError::Cancelled { attempts: 1 })));
        });
    }
}
