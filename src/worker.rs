//! A worker: a plain future that takes jobs from the queue and runs them one at a time.
//!
//! Workers are what an executor spawns. The built-in executor runs each on its own thread; any
//! other executor (tokio, smol, embassy, the browser) can spawn the futures returned by
//! [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers).

use core::future::Future;

use event_listener::EventListener;

use crate::pool::Shared;
use crate::sync::{Arc, Ordering};
use crate::TaskKind;

/// Runs jobs until the pool is closed and its queue is empty, or it is aborted.
pub(crate) fn run<S, K: TaskKind>(shared: Arc<Shared<S, K>>) -> impl Future<Output = ()> {
    // Outside the async block, so a worker dropped before it ever ran is still counted out.
    let exit = ExitGuard(shared);
    async move {
        let shared = &*exit.0;
        // One listener serves the worker's whole life: abort happens at most once.
        let mut abort = None;
        while let Some(task) = shared.queue.pop().await {
            if shared.is_aborted() {
                drop(task); // settles the job as cancelled
                continue;
            }
            // The job first: a job that is ready at once never touches the abort listener.
            futures_lite::future::or(task, aborted(shared, &mut abort)).await;
        }
    }
}

/// Completes once the pool is aborted.
fn aborted<'a, S, K: TaskKind>(
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
/// left nothing would run those jobs, and queued tasks would keep the pool's shared state alive.
struct ExitGuard<S, K: TaskKind>(Arc<Shared<S, K>>);

impl<S, K: TaskKind> Drop for ExitGuard<S, K> {
    fn drop(&mut self) {
        let shared = &*self.0;
        if shared.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.queue.close();
            while let Some(task) = shared.queue.try_pop() {
                drop(task); // settles the job as cancelled
            }
            shared.workers_done.notify(usize::MAX);
        }
    }
}
