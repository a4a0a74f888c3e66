//! Compile-time proof that the public types, and the futures of the pool's methods, are `Send`
//! and `Sync` as documented (the way tokio's `tests/async_send_sync.rs` does it). The futures'
//! `Send` is what lets a job `submit(..).await`, `shutdown().await` or `abort().await` on its
//! own pool. If one of these stops holding, this file stops compiling.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;
use std::time::Duration;

use workcrew::native::{NativeTimer, Sleep};
use workcrew::{
    AbortHandle, Attempt, Backoff, BoxPool, BoxSleeper, BuildError, CircuitBreaker, Hedge, Job,
    JobError, JobHandle, LocalJobHandle, LocalPool, LocalPoolBuilder, LocalSubmit, Metrics, Pool,
    PoolBuilder, RetryBudget, ShutdownReport, Submit, SubmitError, Worker,
};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn send_future<F: Future + Send>(_: F) {}

type Sleeper = fn(Duration) -> std::future::Ready<()>;
type EmptyJob = Job<fn(Attempt) -> std::future::Ready<Result<u32, ()>>>;

#[test]
fn public_types_are_send_and_sync() {
    send::<Pool<Sleeper>>();
    sync::<Pool<Sleeper>>();
    send::<Pool<NativeTimer>>();
    sync::<Pool<NativeTimer>>();
    send::<BoxPool>();
    sync::<BoxPool>();
    send::<BoxSleeper>();
    send::<Worker>();
    send::<AbortHandle>();
    sync::<AbortHandle>();
    send::<Hedge>();
    send::<RetryBudget>();
    send::<CircuitBreaker>();
    send::<PoolBuilder<Sleeper>>();
    send::<JobHandle<u32, ()>>();
    sync::<JobHandle<u32, ()>>();
    unpin::<JobHandle<u32, ()>>();
    send::<Submit<'static, Sleeper, EmptyJob>>();
    unpin::<Submit<'static, Sleeper, EmptyJob>>();
    send::<EmptyJob>();
    send::<Attempt>();
    send::<Backoff>();
    sync::<Backoff>();
    send::<Metrics>();
    send::<ShutdownReport>();
    send::<JobError<String>>();
    send::<BuildError>();
    sync::<BuildError>();
    send::<SubmitError<EmptyJob>>();
    send::<NativeTimer>();
    send::<Sleep>();
    // A local pool's handles are `Unpin` futures too (`Send` they are not: their jobs need not be).
    unpin::<LocalJobHandle<u32, ()>>();
    unpin::<LocalSubmit<'static, Sleeper, EmptyJob>>();
    unpin::<LocalPool<Sleeper>>();
    unpin::<LocalPoolBuilder<Sleeper>>();
}

#[test]
fn the_pools_futures_are_send() {
    let (pool, _workers) = PoolBuilder::new(NativeTimer).workers(1).build_workers().unwrap();
    let job: EmptyJob = Job::new(|_| std::future::ready(Ok(1)));
    // Made, checked and dropped unpolled: nothing runs.
    send_future(pool.submit(job));
    send_future(pool.shutdown());
    send_future(pool.shutdown_timeout(Duration::from_millis(1)));
    send_future(pool.abort());
}

#[test]
fn a_pools_workers_are_send_futures_for_multi_threaded_executors() {
    let (_pool, workers) = PoolBuilder::new(NativeTimer).workers(2).build_workers().unwrap();
    for worker in workers {
        send_future(worker);
    }
}
