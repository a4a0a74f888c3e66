//! User code around the job: what a panic in each piece of it does, and jobs that call back
//! into their own pool.
//!
//! The rule these tests hold the pool to: **no panic in user code aborts the process, kills a
//! worker, hangs the pool, or leaves a job unsettled.** Each test ends by running one more job
//! on a one-worker pool: the worker survived.
//!
//! Native only: in wasm32 a Rust panic aborts the instance (JavaScript jobs that throw are
//! ordinary failures, see `tests/web.rs`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{clock_pool, Clock, ClockSleep, Sim, MS};
use futures_lite::future;
use workcrew::native::NativeTimer;
use workcrew::{Backoff, Job, JobError, JobEvent, LocalPoolBuilder, Pool, PoolBuilder, Sleeper};

/// Panics when dropped: a closure, value, error or future with a buggy destructor.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a destructor panicked");
        }
    }
}

fn ok(value: u32) -> Job<impl FnMut(workcrew::Attempt) -> future::Ready<Result<u32, ()>> + Send> {
    Job::new(move |_| future::ready(Ok(value)))
}

#[test]
fn a_panicking_observer_is_caught_counted_and_still_called_for_other_events() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(1).on_event(move |e: &JobEvent<'_>| {
            if e.job() == Some(1) {
                panic!("a bug in the logging code");
            }
            log.lock().unwrap().push(format!("{e:?}"));
        })
    });
    // The observer panics for `Queued` on the submitting thread (this one), and for job 1's
    // other events on the worker.
    let handles: Vec<_> = (0..3).map(|i| pool.try_submit(ok(i)).unwrap()).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(sim.block(h), Ok(i as u32));
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.succeeded, m.workers), (3, 3, 1));
    assert_eq!(m.observer_panics, 3, "Queued, AttemptStarted and Succeeded of job 1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6, "jobs 0 and 2, three events each: {seen:?}");
    assert!(seen.iter().all(|e| !e.contains("job: 1")));
}

#[test]
fn a_panicking_retry_predicate_ends_the_job_as_panicked_and_the_worker_survives() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(3).backoff(Backoff::none()));
    let h = pool
        .try_submit(
            Job::new(|_| async { Err::<u32, _>("boom") })
                .retry_if(|_: &&str| -> bool { panic!("a bug in the predicate") }),
        )
        .unwrap();
    assert_eq!(
        sim.block(h),
        Err(JobError::Panicked { message: Some("a bug in the predicate".into()), attempts: 1 })
    );
    assert_eq!(sim.block(pool.try_submit(ok(7)).unwrap()), Ok(7));
    let m = pool.metrics();
    assert_eq!((m.failed, m.succeeded, m.panicked, m.attempts, m.workers), (1, 1, 1, 2, 1));
}

/// A sleeper on `clock` with bugs: it panics when asked for `PANIC_NOW`, and its future panics
/// when polled for `PANIC_ON_POLL`.
const PANIC_NOW: Duration = Duration::from_millis(7);
const PANIC_ON_POLL: Duration = Duration::from_millis(9);

struct BuggySleep(ClockSleep, bool);

impl Future for BuggySleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert!(!self.1, "a bug in the sleeper's future");
        Pin::new(&mut self.0).poll(cx)
    }
}

#[test]
fn a_panicking_sleeper_ends_the_job_as_panicked_and_the_worker_survives() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let c = clock.clone();
    let sleeper = move |d: Duration| {
        assert!(d != PANIC_NOW, "a bug in the sleeper");
        BuggySleep(c.sleep(d), d == PANIC_ON_POLL)
    };
    let (pool, workers) = PoolBuilder::new(sleeper).workers(1).build_workers().unwrap();
    workers.into_iter().for_each(|w| sim.spawn(w));

    // The attempt's timer cannot even be made.
    let timer = pool.try_submit(ok(1).timeout(PANIC_NOW)).unwrap();
    assert_eq!(
        sim.block(timer),
        Err(JobError::Panicked { message: Some("a bug in the sleeper".into()), attempts: 1 })
    );
    // The attempt's timer panics when polled (the attempt waits, so the timer is polled).
    let hang = Job::new(|_| future::pending::<Result<u32, ()>>()).timeout(PANIC_ON_POLL);
    let polled = pool.try_submit(hang).unwrap();
    let e = sim.block(polled).unwrap_err();
    assert!(e.is_panic() && e.attempts() == 1, "{e:?}");
    // The backoff's sleep panics when polled.
    let flaky = Job::new(|_| async { Err::<u32, _>(()) })
        .retries(1)
        .backoff(Backoff::constant(PANIC_ON_POLL));
    let backoff = pool.try_submit(flaky).unwrap();
    let e = sim.block(backoff).unwrap_err();
    assert!(e.is_panic() && e.attempts() == 1, "{e:?}");

    assert_eq!(sim.block(pool.try_submit(ok(7)).unwrap()), Ok(7));
    let m = pool.metrics();
    assert_eq!((m.failed, m.succeeded, m.panicked, m.workers), (3, 1, 3, 1));
}

#[test]
fn panicking_destructors_of_closures_values_errors_and_futures_are_caught() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(1).backoff(Backoff::none()));

    // The job's closure, dropped once the job ends.
    let bomb = Bomb;
    let closure = Job::new(move |_| {
        let _ = &bomb;
        future::ready(Ok::<u32, ()>(1))
    });
    assert_eq!(sim.block(pool.try_submit(closure).unwrap()), Ok(1));

    // A value nobody takes: its handle is dropped, so the worker drops it.
    drop(pool.try_submit(Job::new(|_| async { Ok::<_, ()>(Bomb) })).unwrap());
    sim.run_until_stalled();

    // The first attempt's error, dropped when the retry begins; the last one is delivered.
    let errors = pool.try_submit(Job::new(|_| async { Err::<(), _>(Bomb) })).unwrap();
    let e = sim.block(errors).unwrap_err();
    assert_eq!(e.attempts(), 2);
    std::mem::forget(e); // the test's own copy would panic on drop

    // An attempt's future, dropped in place when it times out.
    let slow = Job::new(|_| {
        let bomb = Bomb;
        async move {
            let _b = bomb;
            future::pending::<Result<(), ()>>().await
        }
    })
    .retries(0)
    .timeout(MS);
    let slow = pool.try_submit(slow).unwrap();
    sim.run_until_stalled();
    clock.advance(MS);
    assert_eq!(sim.block(slow), Err(JobError::TimedOut { attempts: 1 }));

    assert_eq!(sim.block(pool.try_submit(ok(7)).unwrap()), Ok(7));
    let m = pool.metrics();
    assert_eq!((m.succeeded, m.failed, m.workers), (3, 2, 1));
}

#[test]
fn losing_every_worker_shows_in_the_metrics_and_submit_refuses() {
    let (pool, workers) =
        PoolBuilder::new(|_: Duration| async {}).workers(2).build_workers().unwrap();
    let queued = pool.try_submit(ok(1)).unwrap();
    assert_eq!(pool.metrics().workers, 2);
    drop(workers); // an executor shut down under the pool
    assert_eq!(pool.metrics().workers, 0);
    assert_eq!(future::block_on(queued), Err(JobError::Cancelled { attempts: 0 }));
    assert!(pool.try_submit(ok(2)).unwrap_err().is_closed());
    assert!(future::block_on(pool.submit(ok(3))).unwrap_err().is_closed());
}

// --- jobs that call back into their own pool -----------------------------------------------------

/// Waits, inside a job, until the pool's metrics satisfy `ready`.
async fn until(pool: &Pool<NativeTimer>, ready: impl Fn(&workcrew::Metrics) -> bool) {
    while !ready(&pool.metrics()) {
        NativeTimer.sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn a_job_submits_to_its_own_pool_and_awaits_the_results() {
    let pool = Pool::builder().workers(2).queue(4).build().unwrap();
    let p = pool.clone();
    // A crawler's shape: the job submits follow-up jobs, waiting for room, then awaits them.
    let parent = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            async move {
                let mut children = Vec::new();
                for i in 0..20u32 {
                    let child = p.submit(ok(i)).await.map_err(|e| e.to_string())?;
                    children.push(child);
                }
                let mut sum = 0;
                for child in children {
                    sum += child.await.map_err(|e| format!("{e:?}"))?;
                }
                let m = p.metrics();
                Ok::<_, String>((sum, m.submitted))
            }
        }))
        .unwrap();
    assert_eq!(workcrew::native::block_on(parent), Ok((190, 21)));
    let report = workcrew::native::block_on(pool.shutdown());
    assert_eq!(report.metrics.succeeded, 21);
}

#[test]
fn a_shutdown_from_inside_a_job_waits_for_the_other_workers_and_completes() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let sibling = pool
        .try_submit(Job::new(|_| async {
            NativeTimer.sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>("sibling")
        }))
        .unwrap();
    let p = pool.clone();
    let stopper = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            async move { Ok::<_, ()>(p.shutdown().await) }
        }))
        .unwrap();
    let report = workcrew::native::block_on(stopper).unwrap();
    assert!(sibling.is_finished(), "the shutdown waited for the other worker's job");
    assert_eq!(report.metrics.succeeded, 1, "the sibling; the stopper itself was still running");
    assert_eq!(workcrew::native::block_on(sibling), Ok("sibling"));
    assert!(pool.is_closed());
    let last = workcrew::native::block_on(pool.shutdown());
    assert_eq!((last.metrics.succeeded, last.metrics.workers), (2, 0));
}

#[test]
fn a_shutdown_from_inside_the_only_worker_returns_and_the_queue_behind_it_still_runs() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let p = pool.clone();
    let stopper = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            async move {
                // The three jobs below are queued behind this one before it shuts down.
                until(&p, |m| m.queued >= 3).await;
                Ok::<_, ()>(p.shutdown().await.metrics.queued)
            }
        }))
        .unwrap();
    let behind: Vec<_> = (0..3).map(|i| pool.try_submit(ok(i)).unwrap()).collect();
    assert_eq!(workcrew::native::block_on(stopper), Ok(3), "it returned with 3 jobs still queued");
    for (i, h) in behind.into_iter().enumerate() {
        assert_eq!(workcrew::native::block_on(h), Ok(i as u32), "none is lost");
    }
    assert_eq!(workcrew::native::block_on(pool.shutdown()).metrics.succeeded, 4);
}

#[test]
fn an_abort_from_inside_a_job_cancels_it_too_and_completes() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let hang = pool.try_submit(Job::new(|_| future::pending::<Result<(), ()>>())).unwrap();
    let p = pool.clone();
    let aborter = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            async move {
                // Both jobs running (this one and `hang`), so the abort drops a running attempt.
                until(&p, |m| m.running >= 2).await;
                p.abort().await;
                Ok::<_, ()>(())
            }
        }))
        .unwrap();
    assert_eq!(workcrew::native::block_on(aborter), Err(JobError::Cancelled { attempts: 1 }));
    assert_eq!(workcrew::native::block_on(hang), Err(JobError::Cancelled { attempts: 1 }));
    let report = workcrew::native::block_on(pool.shutdown());
    assert_eq!((report.metrics.cancelled, report.metrics.workers), (2, 0));
}

#[test]
fn a_local_pool_job_submits_and_shuts_down_its_own_pool() {
    let mut sim = Sim::new();
    let (pool, workers) =
        LocalPoolBuilder::new(|_: Duration| async {}).workers(2).build_workers().unwrap();
    workers.into_iter().for_each(|w| sim.spawn(w));
    let p = pool.clone();
    let parent: workcrew::LocalJobHandle<u32, ()> = pool
        .try_submit(Job::new(move |_| {
            // Not `Send`: fine in a local pool.
            let p = std::rc::Rc::new(p.clone());
            async move {
                let child = p.submit(Job::new(|_| async { Ok::<u32, ()>(5) })).await.unwrap();
                let v = child.await.unwrap();
                p.shutdown().await;
                Ok(v)
            }
        }))
        .unwrap();
    assert_eq!(sim.block(parent), Ok(5));
    sim.run_until_stalled();
    assert_eq!(sim.live(), 0, "both workers stopped");
    assert_eq!(pool.metrics().succeeded, 2);
}

// --- the review's risks: workers lost mid-submit, shutdowns inside jobs, a worker's budget -------

/// A submission holds its reserved place while the observer runs (between the reservation and
/// the push). If every worker is lost right then — here the observer drops them, as an executor
/// stopping on another thread would — the job can no longer run, so it must settle now.
#[test]
fn a_job_enqueued_while_the_last_worker_is_lost_settles_at_once() {
    type Held = Arc<Mutex<Option<Box<dyn std::any::Any + Send>>>>;
    let held: Held = Arc::new(Mutex::new(None));
    let h = Arc::clone(&held);
    let (pool, workers) = PoolBuilder::new(|_: Duration| async {})
        .workers(2)
        .on_event(move |e| {
            if let JobEvent::Queued { .. } = e {
                let workers = h.lock().unwrap().take(); // the guard is gone before they drop
                drop(workers);
            }
        })
        .build_workers()
        .unwrap();
    *held.lock().unwrap() = Some(Box::new(workers));
    let job = pool.try_submit(ok(1)).unwrap();
    let m = pool.metrics();
    assert_eq!(m.workers, 0);
    assert!(job.is_finished(), "the job was stranded in a queue no worker will read");
    assert_eq!((m.submitted, m.cancelled, m.queued), (1, 1, 0));
    assert_eq!(future::block_on(job), Err(JobError::Cancelled { attempts: 0 }));
    assert!(pool.try_submit(ok(2)).unwrap_err().is_closed());
}

/// A gate a job waits on, polled with the worker's own timer.
#[derive(Clone, Default)]
struct Gate(Arc<std::sync::atomic::AtomicBool>);

impl Gate {
    fn open(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    async fn wait(self) {
        while !self.0.load(std::sync::atomic::Ordering::SeqCst) {
            NativeTimer.sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Blocks the test thread up to `limit` for `handle`, without awaiting it: whether it finished.
fn finishes_within<T, E>(handle: &workcrew::JobHandle<T, E>, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while !handle.is_finished() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(1));
    }
    handle.is_finished()
}

#[test]
fn a_job_awaiting_two_shutdowns_at_once_still_waits_for_the_other_worker() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    let sibling = pool.try_submit(Job::new(move |_| g.clone().wait().then_ok())).unwrap();
    let p = pool.clone();
    let stopper = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            async move {
                until(&p, |m| m.running >= 2).await;
                let (a, b) = future::zip(p.shutdown(), p.shutdown()).await;
                Ok::<_, ()>((a.metrics.succeeded, b.metrics.succeeded))
            }
        }))
        .unwrap();
    // Counting the two shutdowns as two workers let them return at once, the sibling running.
    assert!(!finishes_within(&stopper, Duration::from_millis(200)), "returned before the sibling");
    gate.open();
    assert_eq!(future::block_on(sibling), Ok(()));
    assert_eq!(future::block_on(stopper), Ok((1, 1)));
    let report = workcrew::native::block_on(pool.shutdown());
    assert_eq!((report.metrics.succeeded, report.metrics.workers), (2, 0));
}

#[test]
fn a_shutdown_started_by_a_job_that_returned_no_longer_excuses_its_worker() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let (first, last) = (Gate::default(), Gate::default());
    let f = first.clone();
    let blocker = pool.try_submit(Job::new(move |_| f.clone().wait().then_ok())).unwrap();
    let (started, started_rx) = std::sync::mpsc::channel();
    let p = pool.clone();
    // The job starts a shutdown inside its poll, hands it to another thread and returns, as a
    // JavaScript job that calls `ctx.shutdown()` without awaiting it does.
    let starter = pool
        .try_submit(Job::new(move |_| {
            let p = p.clone();
            let started = started.clone();
            async move {
                until(&p, |m| m.running >= 2 && m.queued >= 1).await;
                let mut shutdown = Box::pin(async move { p.shutdown().await });
                assert!(future::poll_once(shutdown.as_mut()).await.is_none(), "blocker runs");
                started.send(shutdown).unwrap();
                Ok::<_, ()>(())
            }
        }))
        .unwrap();
    let l = last.clone();
    let behind = pool.try_submit(Job::new(move |_| l.clone().wait().then_ok())).unwrap();
    let handed_off = started_rx.recv().unwrap();
    assert_eq!(future::block_on(starter), Ok(()));
    // The starter's worker now runs `behind`; the blocker's worker stops once it is done.
    first.open();
    assert_eq!(future::block_on(blocker), Ok(()));
    let outside = std::thread::spawn({
        let pool = pool.clone();
        move || workcrew::native::block_on(pool.shutdown())
    });
    let other = std::thread::spawn(move || workcrew::native::block_on(handed_off));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!outside.is_finished(), "a shutdown returned while a worker still ran a job");
    assert!(!other.is_finished(), "the handed-off shutdown returned while a worker ran a job");
    last.open();
    assert_eq!(future::block_on(behind), Ok(()));
    let (a, b) = (outside.join().unwrap(), other.join().unwrap());
    assert_eq!((a.metrics.succeeded, a.metrics.workers), (3, 0));
    assert_eq!((b.metrics.succeeded, b.metrics.workers), (3, 0));
}

/// `Ok(())` once a future is done: the gated jobs' shape.
trait ThenOk: Future<Output = ()> + Sized {
    async fn then_ok(self) -> Result<(), ()> {
        self.await;
        Ok(())
    }
}

impl<F: Future<Output = ()>> ThenOk for F {}

/// A job that resubmits itself is always ready: its worker must still let the executor's other
/// tasks run, after a budget of jobs, as tokio's cooperative budget does.
#[test]
fn a_worker_yields_to_other_tasks_between_jobs_that_are_always_ready() {
    let mut sim = Sim::new();
    let (pool, workers) =
        LocalPoolBuilder::new(|_: Duration| async {}).workers(1).queue(4).build_workers().unwrap();
    workers.into_iter().for_each(|w| sim.spawn(w));
    let done = std::rc::Rc::new(std::cell::Cell::new(0u32));
    fn chain(
        pool: workcrew::LocalPool<impl workcrew::Sleeper + 'static>,
        done: std::rc::Rc<std::cell::Cell<u32>>,
        left: u32,
    ) {
        let p = pool.clone();
        let job = Job::new(move |_| {
            done.set(done.get() + 1);
            if left > 0 {
                chain(p.clone(), done.clone(), left - 1);
            }
            future::ready(Ok::<_, ()>(()))
        });
        drop(pool.try_submit(job).unwrap());
    }
    chain(pool.clone(), done.clone(), 10_000);
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let (d, s) = (done.clone(), seen.clone());
    sim.spawn(async move { s.set(Some(d.get())) });
    sim.run_until_stalled();
    assert_eq!(done.get(), 10_001);
    let seen = seen.get().unwrap();
    assert!(seen < 1_000, "the other task waited for {seen} jobs");
    pool.close();
    sim.run_until_stalled();
    assert_eq!(sim.live(), 0);
}

/// The worker's budget yields between jobs; a worker dropped there (an executor stopping) holds
/// no job, so a detached job's value whose `Drop` panics was dropped, caught, before it.
#[test]
fn a_worker_dropped_at_its_budget_yield_lets_no_panic_of_a_value_escape() {
    let (pool, mut workers) =
        PoolBuilder::new(|_: Duration| async {}).workers(1).queue(256).build_workers().unwrap();
    for _ in 0..127 {
        drop(pool.try_submit(Job::new(|_| async { Ok::<Option<Bomb>, ()>(None) })).unwrap());
    }
    // The 128th job in a row: its value panics when dropped; its handle is detached.
    drop(pool.try_submit(Job::new(|_| async { Ok::<Option<Bomb>, ()>(Some(Bomb)) })).unwrap());
    let mut worker = Box::pin(workers.pop().unwrap());
    assert!(worker.as_mut().poll(&mut std::task::Context::from_waker(&noop_waker())).is_pending());
    assert_eq!(pool.metrics().succeeded, 128, "the worker yielded after 128 jobs");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(worker)));
    assert!(dropped.is_ok(), "a panic in a job's value escaped from dropping the worker");
}

/// Sets its flag when woken.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

type Abort = Pin<Box<dyn Future<Output = workcrew::ShutdownReport> + Send>>;

/// An abort polled from an "interrupt" that preempts a job's poll (same thread, so it is taken
/// for the job's own) must still be woken once every worker has stopped.
#[test]
fn an_abort_from_an_interrupt_that_preempted_a_job_is_woken_once_the_workers_stop() {
    let (pool, mut workers) =
        PoolBuilder::new(|_: Duration| async {}).workers(1).build_workers().unwrap();
    let flag = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    let waker = std::task::Waker::from(flag.clone());
    let slot: Arc<Mutex<Option<Abort>>> = Arc::default();
    let (p, s, w) = (pool.clone(), slot.clone(), waker.clone());
    let _job = pool
        .try_submit(Job::new(move |_| {
            let (p, s, w) = (p.clone(), s.clone(), w.clone());
            std::future::poll_fn(move |cx| {
                // The interrupt fires here: its task calls `abort()` on the pool.
                let mut abort: Abort = Box::pin({
                    let p = p.clone();
                    async move { p.abort().await }
                });
                assert!(abort.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
                *s.lock().unwrap() = Some(abort);
                cx.waker().wake_by_ref();
                Poll::<Result<u32, ()>>::Pending
            })
        }))
        .unwrap();
    // The worker (the low-priority executor) runs on; the abort drops the job, and it stops.
    let mut worker = Box::pin(workers.pop().unwrap());
    let noop = &noop_waker();
    let mut stopped = false;
    for _ in 0..100 {
        if worker.as_mut().poll(&mut Context::from_waker(noop)).is_ready() {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "the worker stopped");
    assert_eq!(pool.metrics().workers, 0);
    let woken = flag.0.load(std::sync::atomic::Ordering::SeqCst);
    let ready = slot
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready();
    assert!(woken, "the abort's task was never woken (a poll now would be ready: {ready})");
}

/// A waker that does nothing (`Waker::noop` is newer than the crate's minimum Rust).
fn noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}
