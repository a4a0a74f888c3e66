//! Loom models of the hand-written atomic state machines, one per primitive, as tokio has:
//! every interleaving (up to loom's preemption bound) of the threads below is explored.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom loom
//! ```

use core::future::{poll_fn, ready, Future};
use core::task::Poll;

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

// --- the job's cell (issue 17, risks 4 and 5: lock-free wakers; cancel() == true wins) --------
//
// The cell's state machine: start, cancel, seal and settle racing each other, and each waker's
// registration racing the wake meant for it. Lead: queue and shutdown models go below, after
// the end of this section.

/// `f`'s job in a cell, with its handle.
fn job_with<Fut>(f: impl FnMut(Attempt) -> Fut + Send + 'static) -> (Task, JobHandle<u32, ()>)
where
    Fut: Future<Output = Result<u32, ()>> + Send + 'static,
{
    let (task, handle) = IntoTask::<SendKind>::into_task(Job::new(f), 0);
    (task, JobHandle::from_inner(handle))
}

type Task = Arc<dyn RunJob + Send + Sync>;

fn job(value: u32) -> (Task, JobHandle<u32, ()>) {
    job_with(move |_| ready(Ok::<u32, ()>(value)))
}

/// The cell: a worker starts, runs, seals and settles the job while its handle cancels it and
/// waits. Exactly one of start and cancel wins, and one of cancel and seal: `cancel()` returns
/// `true` exactly when the handle resolves `Cancelled`, even when the attempt produced its value
/// at the same moment (the value is then dropped).
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
            let cancelled = task.seal();
            task.settle(cancelled.then_some(JobError::Cancelled { attempts: 1 }));
            true
        });
        let cancelled = handle.cancel();
        let result = block_on(handle);
        let started = worker.join().unwrap();
        match result {
            Ok(7) => assert!(started && !cancelled),
            Err(JobError::Cancelled { attempts: 0 }) => assert!(cancelled && !started),
            Err(JobError::Cancelled { attempts: 1 }) => assert!(cancelled && started),
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
            assert!(task.seal(), "the cancel request came first");
            task.settle(Some(JobError::Cancelled { attempts: 1 }));
        });
        assert!(handle.cancel());
        assert_eq!(block_on(handle), Err(JobError::Cancelled { attempts: 1 }));
        worker.join().unwrap();
    });
}

/// Three parties: a worker running an attempt that waits until it is cancelled, a canceller on
/// a thread of its own, and the handle, polled once with one waker and then awaited with
/// another (so its registration replaces a waker while the settle may be waking it). Whoever
/// is woken is always woken: the worker by the cancel, the handle by the settle.
#[test]
fn loom_cell_cancel_against_both_wakers() {
    model(Some(2), || {
        let (task, mut handle) = job_with(|_| core::future::pending::<Result<u32, ()>>());
        let t = task.clone();
        let canceller = thread::spawn(move || t.cancel() != crate::state::Cancelled::No);
        let worker = thread::spawn(move || {
            if task.start().is_none() {
                task.clear();
                return false;
            }
            task.begin(Attempt::new(0, 1)).unwrap();
            block_on(poll_fn(|cx| {
                assert!(task.poll_attempt(cx, 1, &|_| {}).is_pending());
                task.poll_cancel(cx)
            }));
            task.drop_attempt();
            assert!(task.seal(), "the cancel request came first");
            task.settle(Some(JobError::Cancelled { attempts: 1 }));
            true
        });
        let first = block_on(poll_fn(|cx| {
            Poll::Ready(core::pin::Pin::new(&mut handle).poll(cx).map(|r| r.unwrap_err()))
        }));
        let result = match first {
            Poll::Ready(error) => error,
            Poll::Pending => block_on(handle).unwrap_err(),
        };
        assert!(canceller.join().unwrap(), "the only cancel request succeeds");
        let started = worker.join().unwrap();
        assert_eq!(result, JobError::Cancelled { attempts: u32::from(started) });
    });
}

/// A cancel request that returns `true` wins, through the whole worker path: the handle
/// resolves `Cancelled`, even if the attempt produced its value at the same moment, and the
/// metrics count what the handle saw.
#[test]
fn loom_pool_cancel_true_means_cancelled() {
    model(Some(2), || {
        let (pool, mut workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(1)
            .build_workers()
            .unwrap();
        let handle = pool.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok().unwrap();
        let worker = workers.pop().unwrap();
        let w = thread::spawn(move || block_on(worker));
        let cancelled = handle.cancel();
        let result = block_on(handle);
        match result {
            Ok(1) => assert!(!cancelled, "cancel() returned true, the job resolved Ok"),
            Err(JobError::Cancelled { .. }) => assert!(cancelled),
            other => panic!("unexpected outcome {other:?}"),
        }
        block_on(pool.shutdown());
        w.join().unwrap();
        let m = pool.metrics();
        assert_eq!((m.succeeded, m.cancelled), if cancelled { (0, 1) } else { (1, 0) });
    });
}

// --- end of the cell's section ----------------------------------------------------------------

/// The queue's reservation counter: a submission racing a close is either refused or popped,
/// never lost, and the popping worker always sees the end.
#[test]
fn loom_queue_reserve_close_pop() {
    model(Some(3), || {
        let queue = Arc::new(Queue::<u32>::new(1));
        let q = queue.clone();
        let submitter = thread::spawn(move || match q.try_reserve() {
            Ok(permit) => {
                assert!(permit.send(1));
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
        assert!(queue.try_reserve().ok().unwrap().send(1));
        let q = queue.clone();
        let submitter = thread::spawn(move || {
            let mut listener = None;
            let permit = block_on(poll_fn(|cx| q.poll_reserve(&mut listener, cx)));
            assert!(permit.ok().unwrap().send(2));
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

// --- the queue with two workers and room for four; workers lost; shutdowns from inside a job ---

/// Two submitters and two workers on a queue of four, against a close: every place reserved is
/// popped by one worker, once; each worker sees the end. Explores the batch and baton paths.
#[test]
fn loom_queue_two_workers_capacity_four() {
    model(Some(1), || {
        let queue = Arc::new(Queue::<u32>::new(4));
        let submitters: [_; 2] = core::array::from_fn(|i| {
            let q = queue.clone();
            thread::spawn(move || {
                let mut sent = 0;
                for v in [1, 10] {
                    if let Ok(permit) = q.try_reserve() {
                        assert!(permit.send(v << i));
                        sent += v << i;
                    }
                }
                sent
            })
        });
        let q = queue.clone();
        let worker = thread::spawn(move || {
            let (mut popped, mut listener) = (0u32, None);
            while let Some(v) = block_on(poll_fn(|cx| q.poll_pop(&mut listener, cx))) {
                popped += v;
            }
            popped
        });
        let sent: u32 = submitters.map(|s| s.join().unwrap()).iter().sum::<u32>();
        queue.close();
        let (mut popped, mut listener) = (0, None);
        while let Some(v) = block_on(poll_fn(|cx| queue.poll_pop(&mut listener, cx))) {
            popped += v;
        }
        assert_eq!(popped + worker.join().unwrap(), sent);
    });
}

/// Waiting submitters on a full queue of four, woken by two workers' pops: none is left
/// waiting while there is room, and every job is popped.
#[test]
fn loom_queue_waiting_submitters_two_workers() {
    model(Some(1), || {
        let queue = Arc::new(Queue::<u32>::new(4));
        for v in 0..4 {
            assert!(queue.try_reserve().ok().unwrap().send(1 << v));
        }
        let submitters: [_; 2] = core::array::from_fn(|i| {
            let q = queue.clone();
            thread::spawn(move || {
                let mut listener = None;
                let permit = block_on(poll_fn(|cx| q.poll_reserve(&mut listener, cx)));
                assert!(permit.ok().unwrap().send(16 << i));
            })
        });
        let q = queue.clone();
        let worker = thread::spawn(move || {
            let mut listener = None;
            (0..3)
                .map(|_| block_on(poll_fn(|cx| q.poll_pop(&mut listener, cx))).unwrap())
                .sum::<u32>()
        });
        let mut listener = None;
        let mine: u32 = (0..3)
            .map(|_| block_on(poll_fn(|cx| queue.poll_pop(&mut listener, cx))).unwrap())
            .sum();
        submitters.map(|s| s.join().unwrap()).iter().for_each(drop);
        assert_eq!(mine + worker.join().unwrap(), 0b11_1111);
    });
}

/// Risk 1 of the review: a submitter holds a reserved place while the last worker leaves
/// (abandons the queue and drains it). Whoever comes second drains: the job is never left in a
/// queue nobody reads.
#[test]
fn loom_queue_push_into_abandoned_queue_is_drained() {
    model(None, || {
        let queue = Arc::new(Queue::<u32>::new(4));
        let q = queue.clone();
        let submitter = thread::spawn(move || {
            let Ok(permit) = q.try_reserve() else { return (0, 0) };
            if permit.send(1) {
                return (1, 0);
            }
            let mut drained = 0;
            while let Some(v) = q.try_pop() {
                drained += v;
            }
            (1, drained)
        });
        queue.abandon();
        let mut drained = 0;
        while let Some(v) = queue.try_pop() {
            drained += v;
        }
        let (sent, by_submitter) = submitter.join().unwrap();
        assert_eq!(drained + by_submitter, sent, "a job was stranded");
        assert!(queue.try_pop().is_none());
    });
}

/// Risk 1 through a whole pool: the last worker is dropped (an executor stopping) while a
/// submission is under way on another thread; the job settles either way.
#[test]
fn loom_pool_workers_lost_during_submit() {
    model(Some(3), || {
        let (pool, workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(4)
            .build_workers()
            .unwrap();
        let p = pool.clone();
        let submitter =
            thread::spawn(move || p.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok());
        drop(workers);
        if let Some(handle) = submitter.join().unwrap() {
            assert!(handle.is_finished(), "stranded");
            assert_eq!(block_on(handle), Err(JobError::Cancelled { attempts: 0 }));
        }
        let m = pool.metrics();
        assert_eq!(
            (m.submitted, m.cancelled, m.queued, m.workers),
            (m.cancelled, m.submitted, 0, 0)
        );
    });
}

/// Risk 2 of the review: one job of two workers shuts its own pool down from inside, awaiting
/// two shutdowns at once. They excuse its own worker only, so they return only once the other
/// worker's job has ended; every job settles and both workers stop. (With the old counting, two
/// shutdowns excused two workers and returned while the plain job could still be running.)
#[test]
fn loom_pool_two_shutdowns_inside_a_job_excuse_one_worker() {
    // A whole pool with two workers runs longer than loom's default of 1,000 branches.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.max_branches = 20_000;
    builder.check(|| {
        let (pool, workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(2)
            .queue(4)
            .build_workers()
            .unwrap();
        let p = pool.clone();
        let stopper = pool
            .try_submit(Job::new(move |_| {
                let p = p.clone();
                async move {
                    let (a, b) = futures_lite::future::zip(p.shutdown(), p.shutdown()).await;
                    Ok::<u64, ()>(a.metrics.succeeded.min(b.metrics.succeeded))
                }
            }))
            .unwrap();
        let plain = pool.try_submit(Job::new(|_| ready(Ok::<u64, ()>(7)))).unwrap();
        drop(pool);
        let threads: [_; 2] = {
            let mut w = workers.into_iter();
            core::array::from_fn(|_| {
                let worker = w.next().unwrap();
                thread::spawn(move || block_on(worker))
            })
        };
        assert_eq!(block_on(stopper), Ok(1), "the shutdowns returned before the plain job ended");
        assert_eq!(block_on(plain), Ok(7));
        threads.map(|t| t.join().unwrap()).iter().for_each(drop);
    });
}
