//! Loom models of the hand-written atomic state machines, one per primitive, as tokio has:
//! every interleaving (up to loom's preemption bound) of the threads below is explored.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom loom
//! ```

use core::future::{poll_fn, ready};

use loom::future::block_on;
use loom::thread;

use crate::cell::{Overrides, Polled, RunJob};
use crate::queue::Queue;
use crate::sync::Arc;
use crate::task::{IntoTask, SendKind};
use crate::{Attempt, Job, JobError, JobHandle, PoolBuilder};

/// Runs `f` under loom, exploring interleavings with at most `preemptions` forced thread
/// switches (`None`: all of them). The bounds keep the whole suite to about a minute.
fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemptions;
    builder.check(f);
}

fn job(value: u32) -> (Arc<dyn RunJob + Send + Sync>, JobHandle<u32, ()>) {
    let (task, handle) =
        IntoTask::<SendKind>::into_task(Job::new(move |_| ready(Ok::<u32, ()>(value))), 0);
    (task, JobHandle::from_inner(handle))
}

/// The cell: a worker starts, runs and settles the job while its handle cancels it and waits.
/// Exactly one of start and cancel wins; the handle always wakes with the winner's outcome.
#[test]
fn loom_cell_start_cancel_settle() {
    model(None, || {
        let (task, handle) = job(7);
        let worker = thread::spawn(move || {
            let Some(overrides) = task.start() else {
                task.clear();
                return false;
            };
            let _: Overrides = overrides;
            task.begin(Attempt::new(0, 1)).unwrap();
            let polled = block_on(poll_fn(|cx| task.poll_attempt(cx, 1, &|_| {})));
            assert!(matches!(polled, Polled::Succeeded));
            task.settle(None);
            true
        });
        let cancelled = handle.cancel();
        let result = block_on(handle);
        let started = worker.join().unwrap();
        match result {
            Ok(7) => assert!(started),
            Err(JobError::Cancelled { attempts: 0 }) => assert!(cancelled && !started),
            other => panic!("unexpected outcome {other:?}"),
        }
    });
}

/// The cell's cancel wake-up: a worker waiting for a cancel request is woken by the handle's
/// cancel, and the handle then wakes with the worker's settlement.
#[test]
fn loom_cell_cancel_wakes_the_worker() {
    model(None, || {
        let (task, handle) = job(7);
        assert!(task.start().is_some());
        let worker = thread::spawn(move || {
            block_on(poll_fn(|cx| task.poll_cancel(cx)));
            task.settle(Some(JobError::Cancelled { attempts: 1 }));
        });
        assert!(handle.cancel());
        assert_eq!(block_on(handle), Err(JobError::Cancelled { attempts: 1 }));
        worker.join().unwrap();
    });
}

/// The queue's reservation counter: a submission racing a close is either refused or popped,
/// never lost, and the popping worker always sees the end.
#[test]
fn loom_queue_reserve_close_pop() {
    model(Some(3), || {
        let queue = Arc::new(Queue::<u32>::new(1));
        let q = queue.clone();
        let submitter = thread::spawn(move || match q.try_reserve() {
            Ok(permit) => {
                permit.send(1);
                true
            }
            Err(_) => false,
        });
        let q = queue.clone();
        let closer = thread::spawn(move || q.close());
        let mut popped = 0;
        let mut listener = None;
        while let Some(v) = block_on(poll_fn(|cx| queue.poll_pop(&mut listener, cx))) {
            popped += v;
        }
        let sent = submitter.join().unwrap();
        closer.join().unwrap();
        assert_eq!(popped == 1, sent);
    });
}

/// The queue's room wake-up: a submitter waiting on a full queue is woken by a pop.
#[test]
fn loom_queue_waiting_submitter_is_woken() {
    model(Some(3), || {
        let queue = Arc::new(Queue::<u32>::new(1));
        queue.try_reserve().ok().unwrap().send(1);
        let q = queue.clone();
        let submitter = thread::spawn(move || {
            let mut listener = None;
            let permit = block_on(poll_fn(|cx| q.poll_reserve(&mut listener, cx)));
            permit.ok().unwrap().send(2);
        });
        let mut listener = None;
        let a = block_on(poll_fn(|cx| queue.poll_pop(&mut listener, cx))).unwrap();
        let b = block_on(poll_fn(|cx| queue.poll_pop(&mut listener, cx))).unwrap();
        submitter.join().unwrap();
        assert_eq!(a + b, 3);
    });
}

/// Shutdown against submit, through a whole pool: a submission either is refused or its job
/// runs; the shutdown returns after it; the metrics balance.
#[test]
fn loom_pool_submit_against_shutdown() {
    model(Some(2), || {
        let (pool, mut workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(1)
            .build_workers()
            .unwrap();
        let worker = workers.pop().unwrap();
        let w = thread::spawn(move || block_on(worker));
        let p = pool.clone();
        let submitter = thread::spawn(move || {
            p.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok().map(block_on)
        });
        let report = block_on(pool.shutdown());
        let outcome = submitter.join().unwrap();
        w.join().unwrap();
        let m = pool.metrics();
        assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled);
        match outcome {
            Some(r) => assert_eq!((r, m.submitted), (Ok(1), 1)),
            None => assert_eq!((m.submitted, m.rejected), (0, 1)),
        }
        assert_eq!(report.metrics.workers, 0);
    });
}
