//! A worker: a plain future that takes jobs from the queue and runs them one at a time.
//!
//! Workers are what an executor spawns. The built-in executor runs each on its own thread; any
//! other executor (tokio, smol, embassy, the browser) can spawn the futures returned by
//! [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers).

use core::future::Future;

use event_listener::EventListener;

use crate::cell::RunJob;
use crate::shared::Shared;
use crate::sync::{Arc, Ordering};
use crate::task::{run_job, Kind};
use crate::Sleeper;

/// Worker `index`: runs jobs until the pool is closed and its queue is empty, or it is aborted.
pub(crate) fn work<S: Sleeper, K: Kind>(
    shared: Arc<Shared<S, K>>,
    index: usize,
) -> impl Future<Output = ()> {
    // Outside the async block, so a worker dropped before it ever ran is still counted out.
    let exit = ExitGuard(shared);
    async move {
        let shared = &*exit.0;
        let counters = shared.counters.worker(index);
        // One listener serves the worker's whole life: abort happens at most once.
        let mut abort = None;
        let mut ready = None;
        while let Some(task) =
            core::future::poll_fn(|cx| shared.queue.poll_pop(&mut ready, cx)).await
        {
            let job = K::job(&task);
            let overrides = if shared.is_aborted() { None } else { job.start() };
            let Some(overrides) = overrides else {
                shared.discard(counters, task); // cancelled while queued, or aborted
                continue;
            };
            // The job first: a job that is ready at once never touches the abort listener.
            // If the abort wins, dropping the job's loop settles it as cancelled.
            futures_lite::future::or(
                run_job(shared, counters, job, overrides),
                aborted(shared, &mut abort),
            )
            .await;
            // The last reference may be ours (a detached handle): the job's value or error is
            // dropped here, and a panic in its destructor is caught.
            crate::catch::quietly(move || drop(task));
        }
    }
}

/// Completes once the pool is aborted.
fn aborted<'a, S, K: Kind>(
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
struct ExitGuard<S, K: Kind>(Arc<Shared<S, K>>);

impl<S, K: Kind> Drop for ExitGuard<S, K> {
    fn drop(&mut self) {
        let shared = &*self.0;
        if shared.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.queue.close();
            while let Some(task) = shared.queue.try_pop() {
                shared.discard(shared.counters.outside(), task);
            }
        }
        shared.workers_changed.notify(usize::MAX);
    }
}

/// Whether the caller is inside a poll of one of `shared`'s jobs: how a shutdown started from
/// inside a job knows not to wait for its own worker.
#[cfg(feature = "std")]
pub(crate) fn inside_job<S, K: Kind>(shared: &Shared<S, K>) -> bool {
    POLLING.with(|p| p.get() == shared as *const _ as usize)
}

/// Without `std` there are no thread-locals: a worker mid-poll means the caller is inside a
/// job, which is exact on single-threaded executors (the browser, embedded), the ones `no_std`
/// users run.
#[cfg(not(feature = "std"))]
pub(crate) fn inside_job<S, K: Kind>(shared: &Shared<S, K>) -> bool {
    shared.polling.load(Ordering::Acquire) > 0
}

#[cfg(feature = "std")]
std::thread_local! {
    /// The pool (its `Shared`'s address) whose job this thread is polling, or 0.
    static POLLING: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Runs `poll` (a poll of a job's attempt) marked as inside one of `shared`'s jobs.
pub(crate) fn polling_job<S, K: Kind, R>(shared: &Shared<S, K>, poll: impl FnOnce() -> R) -> R {
    #[cfg(feature = "std")]
    {
        let outer = POLLING.with(|p| p.replace(shared as *const _ as usize));
        let r = poll();
        POLLING.with(|p| p.set(outer));
        r
    }
    #[cfg(not(feature = "std"))]
    {
        shared.polling.fetch_add(1, Ordering::AcqRel);
        let r = poll();
        shared.polling.fetch_sub(1, Ordering::AcqRel);
        r
    }
}
