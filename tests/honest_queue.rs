//! The two promises the queue broke under real work (issue 18), written against the API the
//! pool had before the scheduler, so that they run on both: a waiting submitter is admitted as
//! soon as a place frees, and a cancelled queued job gives its place back at once.
//! Deterministic: the manual clock and the single-threaded scheduler of `common`.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{clock_pool, Clock, Count, DropFlag, Sim, MS};
use futures_lite::future;
use workcrew::{Job, JobEvent};

/// A job of `ms` milliseconds on the clock.
fn job_of(
    clock: &Clock,
    ms: u64,
) -> Job<impl FnMut(workcrew::Attempt) -> common::ClockSleepThen + Send> {
    let clock = clock.clone();
    Job::new(move |_| common::ClockSleepThen(clock.sleep(Duration::from_millis(ms)), 0))
}

/// One worker, a queue of 100, 40 ms jobs: once the queue is full, a waiting `submit` is
/// admitted when the first place frees, 40 ms later. (Before: after 25 jobs, 1,000 ms, when a
/// quarter of the queue was free.)
#[test]
fn a_waiting_submitter_is_admitted_as_soon_as_a_place_frees() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(100));
    let mut handles = vec![pool.try_submit(job_of(&clock, 40)).unwrap()];
    sim.run_until_stalled(); // the first job runs
    for _ in 0..100 {
        handles.push(pool.try_submit(job_of(&clock, 40)).unwrap());
    }
    assert!(pool.try_submit(job_of(&clock, 40)).unwrap_err().is_full());
    // The waiting submission is polled as an executor polls a task: only once it is woken.
    let woken = Arc::new(Woken::default());
    let waker = std::task::Waker::from(Arc::clone(&woken));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut waiting = Box::pin(pool.submit(job_of(&clock, 40)));
    assert!(waiting.as_mut().poll(&mut cx).is_pending(), "the queue is full");
    let mut admitted = None;
    for _ in 0..30 {
        clock.advance(40 * MS);
        sim.run_until_stalled();
        if woken.0.swap(false, Ordering::SeqCst) {
            if let std::task::Poll::Ready(handle) = waiting.as_mut().poll(&mut cx) {
                drop(handle.unwrap());
                admitted = Some(clock.now());
                break;
            }
        }
    }
    assert_eq!(admitted, Some(Duration::from_millis(40)), "admitted when the first place freed");
}

/// A waker that records that it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A producer that does not wait cannot take the place that freed for one that waits.
#[test]
fn a_submitter_that_does_not_wait_cannot_overtake_one_that_waits() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(2));
    let _running = pool.try_submit(job_of(&clock, 40)).unwrap();
    sim.run_until_stalled();
    let _queued = [
        pool.try_submit(job_of(&clock, 40)).unwrap(),
        pool.try_submit(job_of(&clock, 40)).unwrap(),
    ];
    let mut waiting = Box::pin(pool.submit(job_of(&clock, 40)));
    assert!(future::block_on(future::poll_once(waiting.as_mut())).is_none(), "full: it waits");
    clock.advance(40 * MS);
    sim.run_until_stalled(); // the running job ends; the worker takes the next: a place frees
    let overtaking = pool.try_submit(job_of(&clock, 40));
    assert!(
        overtaking.as_ref().is_err_and(|e| e.is_full()),
        "try_submit took the place a waiting submit was owed"
    );
    let admitted = future::block_on(future::poll_once(waiting.as_mut()));
    assert!(matches!(admitted, Some(Ok(_))), "the waiting submit is admitted");
}

/// A queue of 4, a busy worker, all 4 queued jobs cancelled: their places are free, the
/// metrics count them, their functions are dropped, their events emitted, and their handles
/// resolve, all at that moment, before the busy job ends. (Before: `try_submit` still returned
/// `Full`, and the metrics said `cancelled 0`, `queued 4`, until a worker reached them.)
#[test]
fn cancelled_queued_jobs_give_their_places_back_at_once() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(1).queue(4).on_event(move |e| {
            if let JobEvent::Cancelled { job, attempts } = *e {
                log.lock().unwrap().push((job, attempts));
            }
        })
    });
    let busy = pool.try_submit(job_of(&clock, 1000)).unwrap();
    sim.run_until_stalled();
    let dropped = Count::new();
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let flag = DropFlag(dropped.clone());
            let job = Job::new(move |_| {
                let _keep = &flag;
                async { Ok::<u32, ()>(1) }
            });
            pool.try_submit(job).unwrap()
        })
        .collect();
    for h in &queued {
        assert!(h.cancel());
    }
    // No worker has run since the cancels.
    let m = pool.metrics();
    assert_eq!((m.cancelled, m.queued), (4, 0), "counted as cancelled, no longer queued");
    assert_eq!(dropped.get(), 4, "each job's function was dropped");
    assert_eq!(events.lock().unwrap().len(), 4, "each cancel was reported");
    assert!(queued.iter().all(|h| h.is_finished()), "each handle resolves now");
    let again = pool.try_submit(job_of(&clock, 1));
    assert!(again.is_ok(), "the places are free");
    for h in queued {
        assert!(future::block_on(h).unwrap_err().is_cancelled());
    }
    assert!(!busy.is_finished());
}
