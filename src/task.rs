//! A job's task: the attempt loop that turns a [`Job`] into exactly one settled outcome.
//!
//! Submitting boxes the whole job — its function, its options and this loop — as one future, a
//! *task*, which a worker polls to completion. The task owns a guard that settles the job's
//! handle and counts it in the metrics exactly once: when the loop ends, or, if the task is
//! dropped first (abort, shutdown deadline, a dropped queue), as cancelled.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::Poll;

use crate::attempt::{self, Outcome};
use crate::handle::Slot;
use crate::metrics::Counters;
use crate::pool::Shared;
use crate::sync::Arc;
use crate::{Attempt, Job, JobError, JobEvent, JobHandle, RetryIf, Sleeper};

/// A queued job whose future can move between threads: what the built-in executor runs.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A queued job for a single-threaded executor (the browser, embedded executors): its future
/// may hold `!Send` values such as JavaScript objects.
pub type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Task {}
    impl Sealed for super::LocalTask {}
}

/// The kind of task a pool queues: [`Task`] (`Send`) or [`LocalTask`]. Sealed.
pub trait TaskKind: Future<Output = ()> + Unpin + 'static + sealed::Sealed {
    /// The observer a pool of this kind accepts: `Send + Sync` for [`Task`] pools.
    type Observer: ?Sized + Fn(&JobEvent<'_>);
}

impl TaskKind for Task {
    type Observer = dyn Fn(&JobEvent<'_>) + Send + Sync;
}

impl TaskKind for LocalTask {
    type Observer = dyn Fn(&JobEvent<'_>);
}

/// Something a pool of task kind `K` with sleeper `S` can run: implemented by [`Job`], with
/// `Send` bounds for [`Task`] pools and without them for [`LocalTask`] pools.
pub trait IntoTask<S, K: TaskKind>: Sized {
    /// The job's value.
    type Output;
    /// The job's error.
    type Error;

    #[doc(hidden)]
    fn into_task(
        self,
        shared: &Arc<Shared<S, K>>,
        job: u64,
    ) -> (K, JobHandle<Self::Output, Self::Error>);
}

impl<S, F, Fut, T, E, P> IntoTask<S, Task> for Job<F, P>
where
    S: Sleeper + Send + Sync + 'static,
    S::Sleep: Send,
    F: FnMut(Attempt) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: core::any::Any + Send,
    P: RetryIf<E> + Send + 'static,
{
    type Output = T;
    type Error = E;

    fn into_task(self, shared: &Arc<Shared<S, Task>>, job: u64) -> (Task, JobHandle<T, E>) {
        let slot = Arc::new(Slot::new());
        let task = Box::pin(run(self, job, Arc::clone(shared), Arc::clone(&slot)));
        (task, JobHandle::new(slot, job))
    }
}

impl<S, F, Fut, T, E, P> IntoTask<S, LocalTask> for Job<F, P>
where
    S: Sleeper + 'static,
    F: FnMut(Attempt) -> Fut + 'static,
    Fut: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: core::any::Any,
    P: RetryIf<E> + 'static,
{
    type Output = T;
    type Error = E;

    fn into_task(
        self,
        shared: &Arc<Shared<S, LocalTask>>,
        job: u64,
    ) -> (LocalTask, JobHandle<T, E>) {
        let slot = Arc::new(Slot::new());
        let task = Box::pin(run(self, job, Arc::clone(shared), Arc::clone(&slot)));
        (task, JobHandle::new(slot, job))
    }
}

/// The attempt loop.
fn run<S, K, F, Fut, T, E, P>(
    job: Job<F, P>,
    id: u64,
    shared: Arc<Shared<S, K>>,
    slot: Arc<Slot<T, E>>,
) -> impl Future<Output = ()>
where
    S: Sleeper,
    K: TaskKind,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: core::any::Any,
    P: RetryIf<E>,
{
    // Created outside the async block so that dropping the task before its first poll still
    // drops (and so runs) the guard.
    // Options are resolved and the job taken apart here, so the task stores each part once.
    let defaults = &shared.defaults;
    let retries = job.retries.unwrap_or(defaults.retries);
    let timeout = job.timeout.unwrap_or(defaults.timeout);
    let backoff = job.backoff.unwrap_or(defaults.backoff);
    let (mut f, retry_if) = (job.run, job.retry_if);
    let guard = Settle { shared, slot, id, started: false, attempts: 0, done: false };
    async move {
        let mut guard = guard;
        let g = &mut guard;
        if !g.slot.start() {
            return; // cancelled while queued; the guard counts it
        }
        let counters = &g.shared.counters;
        Counters::bump(&counters.started);
        g.started = true;
        loop {
            if g.slot.is_cancel_requested() {
                let attempts = g.attempts;
                return g.finish(Err(JobError::Cancelled { attempts }));
            }
            g.attempts = g.attempts.saturating_add(1);
            let (n, job) = (g.attempts, g.id);
            if n > 1 {
                Counters::bump(&counters.retried);
            }
            let shared = &*g.shared;
            shared.emit(JobEvent::AttemptStarted { job, attempt: n });
            let outcome =
                attempt::run(&mut f, Attempt::new(job, n), timeout, &shared.sleeper, &g.slot).await;
            let (error, retry) = match outcome {
                Outcome::Succeeded(value) => return g.finish(Ok(value)),
                Outcome::Cancelled => return g.finish(Err(JobError::Cancelled { attempts: n })),
                Outcome::Failed(error) => {
                    shared.emit(JobEvent::AttemptFailed { job, attempt: n, error: &error });
                    let retry = retry_if.should_retry(&error);
                    (JobError::Failed { error, attempts: n }, retry)
                }
                Outcome::TimedOut => {
                    Counters::bump(&counters.timed_out);
                    shared.emit(JobEvent::AttemptTimedOut { job, attempt: n });
                    (JobError::TimedOut { attempts: n }, true)
                }
                Outcome::Panicked(message) => {
                    Counters::bump(&counters.panicked);
                    let msg = message.as_deref();
                    shared.emit(JobEvent::AttemptPanicked { job, attempt: n, message: msg });
                    (JobError::Panicked { message, attempts: n }, true)
                }
            };
            if !retry || n > retries {
                return g.finish(Err(error));
            }
            let random = if backoff.has_jitter() { shared.random() } else { 0 };
            let delay = backoff.jittered_delay(n, random);
            let next = n.saturating_add(1);
            shared.emit(JobEvent::RetryScheduled { job, attempt: next, delay });
            wait_unless_cancelled(&g.shared.sleeper, delay, &g.slot).await;
        }
    }
}

/// Sleeps for `delay` (not at all if zero), or until a cancel request, which the loop then
/// sees before the next attempt.
async fn wait_unless_cancelled<S: Sleeper, T, E>(
    sleeper: &S,
    delay: core::time::Duration,
    slot: &Slot<T, E>,
) {
    if delay.is_zero() {
        return;
    }
    let mut sleep = pin!(sleeper.sleep(delay));
    let mut listener = None;
    core::future::poll_fn(|cx| {
        if slot.poll_cancel(&mut listener, cx).is_ready() {
            return Poll::Ready(());
        }
        sleep.as_mut().poll(cx)
    })
    .await
}

/// Settles the job, counts it and reports it, exactly once.
struct Settle<S, K: TaskKind, T, E> {
    shared: Arc<Shared<S, K>>,
    slot: Arc<Slot<T, E>>,
    id: u64,
    started: bool,
    attempts: u32,
    done: bool,
}

impl<S, K: TaskKind, T, E> Settle<S, K, T, E> {
    fn finish(&mut self, result: Result<T, JobError<E>>) {
        let counters = &self.shared.counters;
        let (job, attempts) = (self.id, self.attempts);
        let (counter, event) = match &result {
            Ok(_) => (&counters.succeeded, JobEvent::Succeeded { job, attempts }),
            Err(JobError::Cancelled { .. }) => {
                (&counters.cancelled_running, JobEvent::Cancelled { job, attempts })
            }
            Err(_) => (&counters.failed, JobEvent::Failed { job, attempts }),
        };
        Counters::bump(counter);
        self.shared.emit(event);
        self.done = true;
        // Count first, then settle: whoever sees the result also sees it in the metrics.
        self.slot.settle(result);
    }
}

impl<S, K: TaskKind, T, E> Drop for Settle<S, K, T, E> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.started {
            self.finish(Err(JobError::Cancelled { attempts: self.attempts }));
            return;
        }
        // Never started: either its handle already cancelled it (and settled it), or it is
        // cancelled now, by the pool dropping it.
        Counters::bump(&self.shared.counters.cancelled_queued);
        self.shared.emit(JobEvent::Cancelled { job: self.id, attempts: 0 });
        if self.slot.start() {
            self.slot.settle(Err(JobError::Cancelled { attempts: 0 }));
        }
    }
}

/// Size budgets. A task is allocated by the submitter and freed by a worker: above glibc's
/// per-thread cache limit (1032 bytes) every such pair takes the allocator's arena lock, which
/// measured 2.3× slower per job (see the README's Performance section). A 640-byte result slot
/// (a padded queue) was the cause once; these keep it from coming back.
#[cfg(all(test, feature = "std", target_pointer_width = "64"))]
mod size_budget {
    use super::*;

    #[test]
    fn a_task_and_its_result_slot_stay_small() {
        let defaults =
            crate::builder::Defaults { retries: 0, timeout: None, backoff: crate::Backoff::none() };
        let shared: Arc<Shared<crate::NativeTimer, Task>> =
            Arc::new(Shared::new(crate::NativeTimer, 1, 1, defaults, None));
        let slot: Arc<Slot<u64, ()>> = Arc::new(Slot::new());
        let task = run(Job::new(|_| async { Ok::<u64, ()>(1) }), 0, shared, slot);
        let size = core::mem::size_of_val(&task);
        assert!(size <= 512, "a task of an empty job is {size} bytes");
        let slot = core::mem::size_of::<Slot<u64, ()>>();
        assert!(slot <= 64, "a result slot is {slot} bytes");
    }
}
