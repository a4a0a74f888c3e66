//! A job's cell: the **one allocation** per queued job, shared by the queue, the worker that
//! runs the job and the job's handle.
//!
//! It holds the [state word](crate::state), the two wakers (the handle's, waiting for the
//! result; the worker's, waiting for a cancel request), and the job's *stage*, which is, in turn,
//! what is needed to start the job (its function, retry predicate and option overrides), the
//! running attempt, and the result. The attempt loop's own state (attempt number, timer,
//! backoff) is not here: it lives in the worker, built when the worker starts the job, so a
//! queued job holds only what it needs to start.
//!
//! The running attempt's future is boxed when the attempt begins, by the worker, which also
//! frees it: a short-lived allocation on one thread. Pinning it inside the cell instead would
//! save that allocation but take `unsafe` code and make every queued cell as large as the
//! future; measured side by side (README, Performance), the boxed future was no slower and
//! queued jobs were 8 bytes smaller, so the crate stays `#![forbid(unsafe_code)]`.
//!
//! Who may touch the stage is decided by the state word (see [`state`](crate::state)); the
//! stage's lock is only ever taken by one party at a time in practice, and never across an
//! await.

use alloc::boxed::Box;
use alloc::string::String;
use core::any::Any;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::state::{Cancelled, State, DONE, HANDLE_WAKER, RESULT, WORKER_WAKER};
use crate::sync::Lock;
use crate::{Attempt, Backoff, JobError, JobEvent, RetryIf};

/// A job's own option overrides, unresolved: `None` takes the pool's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) backoff: Option<Backoff>,
}

/// How one poll of an attempt ended.
#[derive(Debug)]
pub enum Polled {
    /// The value is in the stage, to be published by [`RunJob::settle`].
    Succeeded,
    /// The error is in the stage; `retry` is the predicate's verdict.
    Failed { retry: bool },
    /// The attempt panicked.
    Panicked(Option<String>),
    /// The attempt failed, and the retry predicate panicked.
    PredicatePanicked(Option<String>),
}

/// The type-erased face of a cell: what the worker and the handle call.
///
/// One trait for both, so one `Arc<dyn RunJob>` (a single allocation) serves the queue and the
/// handle; the handle receives its typed result through [`RunJob::take_result`].
pub trait RunJob {
    /// The job's id.
    fn id(&self) -> u64;

    /// `QUEUED → RUNNING`: the job's overrides, or `None` if it was cancelled while queued.
    fn start(&self) -> Option<Overrides>;

    /// Calls the job's function for `attempt` and keeps the future it returns. `Err` with the
    /// panic message if the function panicked.
    fn begin(&self, attempt: Attempt) -> Result<(), Option<String>>;

    /// Polls the running attempt. On failure, reports `AttemptFailed` to `emit` and asks the
    /// retry predicate.
    fn poll_attempt(
        &self,
        cx: &mut Context<'_>,
        attempt: u32,
        emit: &dyn Fn(&JobEvent<'_>),
    ) -> Poll<Polled>;

    /// Drops the running attempt's future in place (a timeout or a cancel request won).
    fn drop_attempt(&self);

    /// Publishes the job's outcome and wakes the handle: `None` for the value already in the
    /// stage, or the error, where `Failed`'s `()` stands for the error already in the stage.
    fn settle(&self, error: Option<JobError<()>>);

    /// Whether the job was asked to stop.
    fn is_cancel_requested(&self) -> bool;

    /// Ready once the job is asked to stop; registers the worker's waker otherwise.
    fn poll_cancel(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// A cancel request (from the handle, or the pool for a queued job).
    fn cancel(&self) -> Cancelled;

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
    /// `attempt` is the running attempt's future, boxed by the worker when it began.
    Running {
        func: F,
        retry_if: P,
        attempt: Option<Pin<Box<Fut>>>,
        error: Option<E>,
    },
    Done(Result<T, JobError<E>>),
    Empty,
}

/// The wakers, behind one small lock.
#[derive(Default)]
struct Wakers {
    handle: Option<Waker>,
    worker: Option<Waker>,
}

pub(crate) struct Cell<F, P, Fut, T, E> {
    state: State,
    id: u64,
    wakers: Lock<Wakers>,
    stage: Lock<Stage<F, P, Fut, T, E>>,
}

impl<F, P, Fut, T, E> Cell<F, P, Fut, T, E> {
    pub(crate) fn new(id: u64, func: F, retry_if: P, overrides: Option<Box<Overrides>>) -> Self {
        Self {
            state: State::new(),
            id,
            wakers: Lock::new(Wakers::default()),
            stage: Lock::new(Stage::Queued { func, retry_if, overrides }),
        }
    }

    fn wake_handle(&self) {
        let waker = self.wakers.lock().handle.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Stores `cx`'s waker in `slot`, then sets `bit`; returns the state from before the bit.
    fn register(
        &self,
        cx: &Context<'_>,
        bit: usize,
        slot: fn(&mut Wakers) -> &mut Option<Waker>,
    ) -> usize {
        {
            let mut wakers = self.wakers.lock();
            let slot = slot(&mut wakers);
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.state.set(bit)
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
        self.id
    }

    fn start(&self) -> Option<Overrides> {
        if !self.state.start() {
            return None;
        }
        let mut stage = self.stage.lock();
        match core::mem::replace(&mut *stage, Stage::Empty) {
            Stage::Queued { func, retry_if, overrides } => {
                *stage = Stage::Running { func, retry_if, attempt: None, error: None };
                Some(overrides.map_or_else(Overrides::default, |o| *o))
            }
            _ => unreachable!(), // a job is started once, from the queued stage
        }
    }

    fn begin(&self, attempt: Attempt) -> Result<(), Option<String>> {
        let mut stage = self.stage.lock();
        let Stage::Running { func, attempt: running, error, .. } = &mut *stage else {
            unreachable!(); // attempts begin while the job runs
        };
        crate::catch::quietly(|| *error = None); // the previous attempt's error
        debug_assert!(running.is_none());
        *running = Some(Box::pin(crate::catch::unwind(|| func(attempt))?));
        Ok(())
    }

    fn poll_attempt(
        &self,
        cx: &mut Context<'_>,
        number: u32,
        emit: &dyn Fn(&JobEvent<'_>),
    ) -> Poll<Polled> {
        let mut stage = self.stage.lock();
        let Stage::Running { attempt, error, retry_if, .. } = &mut *stage else {
            unreachable!(); // attempts are polled while the job runs
        };
        let Some(future) = attempt.as_mut() else {
            unreachable!(); // an attempt is polled after it began
        };
        let future = future.as_mut();
        let polled = match crate::catch::unwind(|| future.poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => Ok(result),
            Err(message) => Err(message),
        };
        crate::catch::quietly(|| *attempt = None);
        Poll::Ready(match polled {
            Ok(Ok(value)) => {
                drop(stage);
                self.finish(Ok(value));
                Polled::Succeeded
            }
            Ok(Err(e)) => {
                let e = error.insert(e);
                emit(&JobEvent::AttemptFailed {
                    job: self.id,
                    attempt: number,
                    error: e as &dyn Any,
                });
                match crate::catch::unwind(|| retry_if.should_retry(e)) {
                    Ok(retry) => Polled::Failed { retry },
                    Err(message) => Polled::PredicatePanicked(message),
                }
            }
            Err(message) => Polled::Panicked(message),
        })
    }

    fn drop_attempt(&self) {
        let mut stage = self.stage.lock();
        if let Stage::Running { attempt, .. } = &mut *stage {
            crate::catch::quietly(|| *attempt = None);
        }
    }

    fn settle(&self, error: Option<JobError<()>>) {
        if let Some(error) = error {
            let stored = {
                let mut stage = self.stage.lock();
                match &mut *stage {
                    Stage::Running { error, .. } => error.take(),
                    _ => None,
                }
            };
            let error = match error {
                JobError::Failed { attempts, .. } => match stored {
                    Some(error) => JobError::Failed { error, attempts },
                    None => unreachable!(), // a job fails with the error its attempt returned
                },
                JobError::TimedOut { attempts } => JobError::TimedOut { attempts },
                JobError::Panicked { message, attempts } => {
                    JobError::Panicked { message, attempts }
                }
                JobError::Cancelled { attempts } => JobError::Cancelled { attempts },
            };
            self.finish(Err(error));
        }
        if self.state.settle() {
            self.wake_handle();
        }
    }

    fn is_cancel_requested(&self) -> bool {
        self.state.load() & crate::state::CANCEL != 0
    }

    fn poll_cancel(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancel_requested() {
            return Poll::Ready(());
        }
        let prev = self.register(cx, WORKER_WAKER, |w| &mut w.worker);
        if prev & crate::state::CANCEL != 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn cancel(&self) -> Cancelled {
        let cancelled = self.state.cancel();
        match cancelled {
            Cancelled::Queued { wake_handle: true } => self.wake_handle(),
            Cancelled::Running { wake_worker: true } => {
                let waker = self.wakers.lock().worker.take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            _ => {}
        }
        cancelled
    }

    fn clear(&self) {
        let mut stage = self.stage.lock();
        if let Stage::Queued { .. } = &*stage {
            let old = core::mem::replace(&mut *stage, Stage::Empty);
            crate::catch::quietly(move || drop(old));
        }
    }

    fn poll_result(&self, cx: &mut Context<'_>, out: &mut dyn Any) -> Poll<bool> {
        let mut state = self.state.load();
        if !State::is_done(state) {
            state = self.register(cx, HANDLE_WAKER, |w| &mut w.handle);
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
    /// Writes the result into the stage, dropping the function and predicate (a panic in their
    /// destructors is caught). Not yet visible: [`RunJob::settle`] publishes it.
    fn finish(&self, result: Result<T, JobError<E>>) {
        let mut stage = self.stage.lock();
        if let Stage::Running { attempt, .. } = &mut *stage {
            crate::catch::quietly(|| *attempt = None);
        }
        let old = core::mem::replace(&mut *stage, Stage::Done(result));
        drop(stage);
        crate::catch::quietly(move || drop(old));
    }
}

/// Size budget of a cell (the one allocation per queued job), on 64-bit targets. The native
/// benchmark measures the whole heap cost per queued job (README, Performance); this keeps
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
        // state 8, id 8, wakers 40 (two `Option<Waker>` and a lock), stage 40 (the result, or
        // the function, predicate and boxed attempt, and a lock).
        assert!(size <= 96, "a cell of an empty job is {size} bytes");
    }
}
