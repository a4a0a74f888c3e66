//! A worker: a plain future that takes jobs from the queue and runs them one at a time.
//!
//! Workers are what an executor spawns. The built-in executor runs each on its own thread; any
//! other executor (tokio, smol, embassy, the browser) can spawn the futures returned by
//! [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers).

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;

use event_listener::EventListener;

use crate::cell::RunJob;
use crate::kind::Kind;
use crate::retry::run_job;
use crate::sched::Next;
use crate::shared::Shared;
use crate::sync::{Arc, Ordering};
use crate::timers::Tokens;
use crate::{JobEvent, Sleeper};

/// Worker `index`: runs jobs until the pool is closed and its queue is empty, or it is aborted.
pub(crate) fn work<S: Sleeper, K: Kind>(
    shared: Arc<Shared<S, K>>,
    index: usize,
) -> impl Future<Output = ()> {
    // Outside the async block, so a worker dropped before it ever ran is still counted out.
    let exit = ExitGuard(shared, index);
    async move {
        let shared = &*exit.0;
        let counters = shared.counters.worker(index);
        let tokens = Tokens::new(shared);
        // One listener serves the worker's whole life: abort happens at most once.
        let mut abort = None;
        let mut budget = Budget::new();
        let jobs = async {
            loop {
                let next =
                    budget.watch(core::future::poll_fn(|cx| shared.sched.poll_next(index, cx)));
                let (task, token) = match next.await {
                    Next::Job { job, token } => (job, token),
                    Next::Trash(task) => {
                        crate::catch::quietly(move || drop(task)); // cancelled while queued
                        continue;
                    }
                    Next::Blocked(job) => {
                        shared.emit(counters, JobEvent::WaitingOnKey { job });
                        budget.spend().await; // it ran the observer: it counts as a job
                        continue;
                    }
                    Next::Stop => break,
                };
                let job = K::job(&task);
                shared.crew.set_job(index, Some(job.id()));
                let overrides = job.start();
                if shared.is_aborted() {
                    // Never polled: it settles as cancelled, before any attempt.
                    drop(run_job(shared, counters, index, &tokens, job, overrides, token));
                } else {
                    // The job first: a job that is ready at once never touches the abort
                    // listener. If the abort wins, dropping the job's loop settles it as
                    // cancelled. (Built in place: the job's future is not moved again.)
                    let mut run = core::pin::pin!(futures_lite::future::or(
                        run_job(shared, counters, index, &tokens, job, overrides, token),
                        aborted(shared, &mut abort),
                    ));
                    budget.watch_pinned(run.as_mut()).await;
                }
                shared.crew.set_job(index, None);
                // The last reference may be ours (a detached handle): the job's value or error
                // is dropped here, and a panic in its destructor is caught (before the budget's
                // await: a worker dropped there must not hold it).
                crate::catch::quietly(move || drop(task));
                budget.spend().await;
            }
            // A stopping worker's rate tokens count until their interval ends, and the breaker
            // cool-downs it times until they end, as long as another attempt could still
            // start (a retry of a job another worker runs). A shutdown awaited inside such a
            // job does not wait for it (`Shared::workers_done`).
            let _lingering = (!tokens.is_empty()).then(|| Lingering::new(shared));
            let quiet = core::future::poll_fn(|cx| {
                if tokens.is_empty() {
                    return Poll::Ready(());
                }
                shared.sched.poll_quiet(index, cx)
            });
            futures_lite::future::or(quiet, aborted(shared, &mut abort)).await;
        };
        // The rate tokens this worker took come back while it waits or works.
        futures_lite::future::or(jobs, tokens.run()).await;
    }
}

/// A worker's cooperative budget, as tokio's: after [`Budget::JOBS`] jobs in a row that never
/// waited (each was queued and ready at once, as a job that resubmits itself is), the worker
/// yields once, so the executor's other tasks get a turn (on a single-threaded executor they
/// would otherwise wait until the queue runs dry). A worker that waited, for a job or inside
/// one, has given its executor a turn already and starts a fresh budget.
struct Budget {
    left: u32,
    waited: bool,
}

impl Budget {
    /// Jobs in a row before a worker yields: tokio's budget of 128 polls, counted in jobs.
    const JOBS: u32 = 128;

    fn new() -> Self {
        Self { left: Self::JOBS, waited: false }
    }

    /// `future`, noting whether it ever waited (returned `Pending`).
    async fn watch<F: Future>(&mut self, future: F) -> F::Output {
        self.watch_pinned(core::pin::pin!(future)).await
    }

    /// As [`watch`](Self::watch), for a future pinned where it was built (a job's: too large
    /// to move again).
    async fn watch_pinned<F: Future>(&mut self, mut future: Pin<&mut F>) -> F::Output {
        let waited = &mut self.waited;
        core::future::poll_fn(|cx| {
            let poll = future.as_mut().poll(cx);
            *waited |= poll.is_pending();
            poll
        })
        .await
    }

    /// One job done: yields once the budget is spent without a wait.
    async fn spend(&mut self) {
        if core::mem::take(&mut self.waited) {
            self.left = Self::JOBS;
            return;
        }
        self.left -= 1;
        if self.left == 0 {
            self.left = Self::JOBS;
            futures_lite::future::yield_now().await;
        }
    }
}

/// Counts a worker in [`Shared::lingering`](crate::shared::Shared) while it waits for its
/// timers only.
struct Lingering<'a, S, K: Kind>(&'a Shared<S, K>);

impl<'a, S, K: Kind> Lingering<'a, S, K> {
    fn new(shared: &'a Shared<S, K>) -> Self {
        shared.lingering.fetch_add(1, Ordering::AcqRel);
        shared.workers_changed.notify(usize::MAX); // a shutdown inside a job looks again
        Self(shared)
    }
}

impl<S, K: Kind> Drop for Lingering<'_, S, K> {
    fn drop(&mut self) {
        self.0.lingering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Completes once the pool is aborted.
fn aborted<'a, S: Sleeper, K: Kind>(
    shared: &'a Shared<S, K>,
    listener: &'a mut Option<EventListener>,
) -> impl Future<Output = ()> + 'a {
    core::future::poll_fn(move |cx| {
        crate::sync::poll_until(|| shared.is_aborted(), &shared.abort, listener, cx)
    })
}

/// Counts the worker out when it ends, even by unwinding or by being dropped unpolled.
///
/// The last worker out closes the queue and cancels whatever is still in it: with no worker
/// left nothing would run those jobs. Submissions are refused from then on
/// ([`SubmitError::Closed`](crate::SubmitError::Closed)), and `Metrics::workers` shows 0.
struct ExitGuard<S, K: Kind>(Arc<Shared<S, K>>, usize);

impl<S, K: Kind> Drop for ExitGuard<S, K> {
    fn drop(&mut self) {
        let shared = &*self.0;
        shared.crew.set_job(self.1, None); // dropped mid-job, it runs that job no more
        shared.sched.worker_gone(self.1);
        if shared.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.discard_queued(true);
        }
        shared.workers_changed.notify(usize::MAX);
    }
}

/// A worker of a [`Pool`](crate::Pool), from [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers):
/// a future with a name, so an executor's task can take it without being generic (embassy's
/// tasks cannot be). It ends once the pool is shut down and its queue is empty, or it is
/// aborted. The future inside is boxed once, when the pool is built.
#[must_use = "a worker does nothing unless spawned or polled"]
pub struct Worker(Pin<Box<dyn Future<Output = ()> + Send>>);

/// A worker of a [`LocalPool`](crate::LocalPool), from
/// [`LocalPoolBuilder::build_workers`](crate::LocalPoolBuilder::build_workers): a
/// [`Worker`] that need not be `Send`.
#[must_use = "a worker does nothing unless spawned or polled"]
pub struct LocalWorker(Pin<Box<dyn Future<Output = ()>>>);

impl Worker {
    pub(crate) fn new(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Box::pin(work))
    }
}

impl LocalWorker {
    pub(crate) fn new(work: impl Future<Output = ()> + 'static) -> Self {
        Self(Box::pin(work))
    }
}

impl Future for Worker {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Future for LocalWorker {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl core::fmt::Debug for Worker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Worker")
    }
}

impl core::fmt::Debug for LocalWorker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LocalWorker")
    }
}
