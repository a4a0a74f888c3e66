//! The scheduler's features, deterministic on the manual clock: priority, per-key limits,
//! pause and resume, concurrency at run time, the rate limit, `clear` and `until_queued_below`.
//! Each test names the promise it checks.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{clock_pool, Clock, ClockPool, Count, DropFlag, Sim, MS};
use futures_lite::future;
use workcrew::{
    Attempt, BuildError, Job, JobError, JobEvent, JobHandle, LimitError, PoolBuilder, RateLimit,
};

type Log = Arc<Mutex<Vec<(Duration, String)>>>;

/// A clock sleep, then a result: an attempt that takes time and may fail.
struct Then(common::ClockSleep, Result<u32, ()>);

impl std::future::Future for Then {
    type Output = Result<u32, ()>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let result = self.1;
        std::pin::Pin::new(&mut self.0).poll(cx).map(|()| result)
    }
}

/// A job named `name` that records when each of its attempts starts, then takes `ms` on the
/// clock and succeeds with its attempt's number (or, with `fail_first`, fails its first).
fn named(
    clock: &Clock,
    log: &Log,
    name: &str,
    ms: u64,
    fail_first: bool,
) -> Job<impl FnMut(Attempt) -> Then + Send> {
    let (clock, log, name) = (clock.clone(), Arc::clone(log), name.to_string());
    Job::new(move |a: Attempt| {
        log.lock().unwrap().push((clock.now(), name.clone()));
        let result = if fail_first && a.number() == 1 { Err(()) } else { Ok(a.number()) };
        Then(clock.sleep(Duration::from_millis(ms)), result)
    })
    .backoff(workcrew::Backoff::none())
}

type Handle = JobHandle<u32, ()>;

fn names(log: &Log) -> Vec<String> {
    log.lock().unwrap().iter().map(|(_, n)| n.clone()).collect()
}

fn starts_at(log: &Log) -> Vec<(u64, String)> {
    log.lock().unwrap().iter().map(|(t, n)| (t.as_millis() as u64, n.clone())).collect()
}

fn submit(pool: &ClockPool, job: Job<impl FnMut(Attempt) -> Then + Send + 'static>) -> Handle {
    pool.try_submit(job).unwrap()
}

#[test]
fn higher_priority_starts_first_and_one_priority_keeps_its_order() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    pool.pause();
    for (name, priority) in [("a0", 0), ("b5", 5), ("c-1", -1), ("d5", 5), ("e2", 2), ("f0", 0)] {
        drop(submit(&pool, named(&clock, &log, name, 1, false).priority(priority)));
    }
    sim.run_until_stalled();
    assert!(names(&log).is_empty(), "paused: nothing starts");
    pool.resume();
    for _ in 0..6 {
        sim.run_until_stalled();
        clock.advance(MS);
    }
    assert_eq!(names(&log), ["b5", "d5", "e2", "a0", "f0", "c-1"]);
}

#[test]
fn a_queued_jobs_priority_can_change_and_a_started_ones_cannot() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let first = submit(&pool, named(&clock, &log, "first", 10, false));
    sim.run_until_stalled();
    let a = submit(&pool, named(&clock, &log, "a", 1, false).priority(1));
    let b = submit(&pool, named(&clock, &log, "b", 1, false));
    let c = submit(&pool, named(&clock, &log, "c", 1, false).priority(1));
    assert!(b.set_priority(1), "queued: moved to the back of priority 1");
    assert!(!first.set_priority(9), "running: too late");
    for _ in 0..20 {
        clock.advance(MS);
        sim.run_until_stalled();
    }
    assert_eq!(names(&log), ["first", "a", "c", "b"]);
    assert!(!a.set_priority(3), "ended: too late");
    drop((a, b, c));
}

#[test]
fn retries_keep_their_worker_and_so_their_place_before_lower_priorities() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(1));
    let flaky = submit(&pool, named(&clock, &log, "flaky", 5, true).priority(-5));
    sim.run_until_stalled();
    let later = submit(&pool, named(&clock, &log, "later", 5, false).priority(100));
    for _ in 0..30 {
        clock.advance(MS);
        sim.run_until_stalled();
    }
    assert_eq!(names(&log), ["flaky", "flaky", "later"]);
    assert_eq!(future::block_on(flaky), Ok(2));
    assert_eq!(future::block_on(later), Ok(1));
}

#[test]
fn the_failing_attempt_of_named_fails() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let h = submit(&pool, named(&clock, &log, "x", 1, true).retries(0));
    sim.run_until_stalled();
    clock.advance(MS);
    sim.run_until_stalled();
    assert_eq!(future::block_on(h), Err(JobError::Failed { error: (), attempts: 1 }));
}

#[test]
fn a_busy_key_waits_without_a_worker_while_other_keys_pass_it() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(2).per_key(1).on_event(move |e| {
            if let JobEvent::WaitingOnKey { job } = *e {
                seen.lock().unwrap().push(job);
            }
        })
    });
    let a1 = submit(&pool, named(&clock, &log, "a1", 10, false).key("a"));
    let a2 = submit(&pool, named(&clock, &log, "a2", 10, false).key("a"));
    let b1 = submit(&pool, named(&clock, &log, "b1", 10, false).key("b"));
    let n = submit(&pool, named(&clock, &log, "none", 10, false));
    sim.run_until_stalled();
    assert_eq!(starts_at(&log), [(0, "a1".into()), (0, "b1".into())], "a2 waits; b1 passes it");
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_on_key, m.running), (2, 1, 2));
    assert_eq!(*events.lock().unwrap(), [a2.job_id()]);
    clock.advance(10 * MS);
    sim.run_until_stalled();
    // a1 and b1 ended: a2 goes back to the front of its line, before the job without a key.
    assert_eq!(&starts_at(&log)[2..], [(10, "a2".into()), (10, "none".into())]);
    assert_eq!(pool.metrics().waiting_on_key, 0);
    clock.advance(10 * MS);
    sim.run_until_stalled();
    for h in [a1, a2, b1, n] {
        assert_eq!(future::block_on(h), Ok(1));
    }
}

#[test]
fn per_key_never_runs_more_than_n_of_a_key_at_once() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(6).per_key(2));
    let running: Arc<Mutex<[usize; 3]>> = Arc::default();
    let peak: Arc<Mutex<[usize; 3]>> = Arc::default();
    let mut handles = Vec::new();
    for i in 0..60u64 {
        let key = (i * 7 % 3) as usize;
        let (clock, running, peak) = (clock.clone(), running.clone(), peak.clone());
        let job = Job::new(move |_| {
            let (clock, running, peak) = (clock.clone(), running.clone(), peak.clone());
            async move {
                let now = {
                    let mut r = running.lock().unwrap();
                    r[key] += 1;
                    r[key]
                };
                {
                    let mut p = peak.lock().unwrap();
                    p[key] = p[key].max(now);
                }
                clock.sleep(Duration::from_millis(1 + i % 4)).await;
                running.lock().unwrap()[key] -= 1;
                Ok::<u64, ()>(i)
            }
        })
        .key(key as u64);
        handles.push(pool.try_submit(job).unwrap());
    }
    for _ in 0..200 {
        sim.run_until_stalled();
        clock.advance(MS);
    }
    assert_eq!(*peak.lock().unwrap(), [2, 2, 2], "each key reached its limit, never more");
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(future::block_on(h), Ok(i as u64));
    }
    let m = pool.metrics();
    assert_eq!((m.succeeded, m.queued, m.waiting_on_key), (60, 0, 0));
}

#[test]
fn cancelling_a_job_that_waits_for_its_key_frees_its_place_at_once() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(2).per_key(1));
    let a1 = submit(&pool, named(&clock, &log, "a1", 10, false).key("a"));
    let a2 = submit(&pool, named(&clock, &log, "a2", 10, false).key("a"));
    sim.run_until_stalled();
    assert_eq!(pool.metrics().waiting_on_key, 1);
    assert!(a2.cancel());
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_on_key, m.cancelled), (0, 0, 1));
    let a3 = submit(&pool, named(&clock, &log, "a3", 10, false).key("a"));
    clock.advance(10 * MS);
    sim.run_until_stalled();
    clock.advance(10 * MS);
    sim.run_until_stalled();
    assert_eq!(names(&log), ["a1", "a3"]);
    assert!(future::block_on(a2).unwrap_err().is_cancelled());
    assert_eq!(future::block_on(a1), Ok(1));
    assert_eq!(future::block_on(a3), Ok(1));
}

#[test]
fn a_paused_pool_queues_submissions_and_lets_running_attempts_finish() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2));
    let running = submit(&pool, named(&clock, &log, "running", 10, false));
    sim.run_until_stalled();
    pool.pause();
    assert!(pool.is_paused());
    let queued = submit(&pool, named(&clock, &log, "queued", 10, false));
    sim.run_until_stalled();
    clock.advance(10 * MS);
    sim.run_until_stalled();
    assert_eq!(future::block_on(running), Ok(1), "the running attempt finished");
    assert_eq!(names(&log), ["running"]);
    assert_eq!(pool.metrics().queued, 1);
    pool.resume();
    sim.run_until_stalled();
    assert_eq!(names(&log), ["running", "queued"]);
    clock.advance(10 * MS);
    sim.run_until_stalled();
    assert_eq!(future::block_on(queued), Ok(1));
}

#[test]
fn shutdown_resumes_a_paused_pool_and_abort_cancels_its_queue() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    pool.pause();
    let h = submit(&pool, named(&clock, &log, "h", 1, false));
    let p = pool.clone();
    let report = Arc::new(Mutex::new(None));
    let r = Arc::clone(&report);
    sim.spawn(async move { *r.lock().unwrap() = Some(p.shutdown().await) });
    sim.run_until_stalled();
    clock.advance(MS);
    sim.run_until_stalled();
    assert_eq!(report.lock().unwrap().unwrap().completed, 1, "shutdown ran what was queued");
    assert_eq!(future::block_on(h), Ok(1));

    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    pool.pause();
    let h = submit(&pool, named(&clock, &log, "h", 1, false));
    let report = sim.block(pool.abort());
    assert_eq!(report.cancelled, 1);
    assert!(future::block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn close_leaves_a_paused_pool_paused() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    pool.pause();
    let h = submit(&pool, named(&clock, &log, "h", 1, false));
    pool.close();
    sim.run_until_stalled();
    assert_eq!((sim.live(), names(&log).len()), (1, 0), "the worker waits for resume");
    pool.resume();
    sim.run_until_stalled();
    clock.advance(MS);
    sim.run_until_stalled();
    assert_eq!(future::block_on(h), Ok(1));
    assert_eq!(sim.live(), 0, "then it stops");
}

#[test]
fn growing_the_concurrency_starts_queued_jobs_at_once_and_shrinking_interrupts_nothing() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(4).concurrency(1));
    assert_eq!((pool.workers(), pool.concurrency()), (4, 1));
    let handles: Vec<_> =
        (0..6).map(|i| submit(&pool, named(&clock, &log, &format!("j{i}"), 10, false))).collect();
    sim.run_until_stalled();
    assert_eq!(pool.metrics().running, 1);
    pool.set_concurrency(3).unwrap();
    sim.run_until_stalled();
    assert_eq!(pool.metrics().running, 3, "grown: two more started, no time passed");
    pool.set_concurrency(1).unwrap();
    sim.run_until_stalled();
    assert_eq!(pool.metrics().running, 3, "shrunk: the running attempts go on");
    clock.advance(10 * MS);
    sim.run_until_stalled();
    assert_eq!(pool.metrics().running, 1, "then only one at a time");
    assert_eq!(starts_at(&log).iter().filter(|(t, _)| *t == 10).count(), 1);
    for _ in 0..4 {
        clock.advance(10 * MS);
        sim.run_until_stalled();
    }
    for h in handles {
        assert_eq!(future::block_on(h), Ok(1));
    }
}

#[test]
fn limits_out_of_range_are_typed_errors() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2));
    assert_eq!(pool.set_concurrency(0), Err(LimitError::ZeroConcurrency));
    assert_eq!(
        pool.set_concurrency(3),
        Err(LimitError::ConcurrencyAboveWorkers { requested: 3, workers: 2 })
    );
    assert_eq!(pool.concurrency(), 2, "unchanged");
    let zero = Some(RateLimit::new(0, MS));
    assert_eq!(pool.set_rate_limit(zero), Err(LimitError::ZeroIntervalCap));
    let instant = Some(RateLimit::new(1, Duration::ZERO));
    assert_eq!(pool.set_rate_limit(instant), Err(LimitError::ZeroInterval));
    assert_eq!(pool.rate_limit(), None);

    let build = |b: PoolBuilder<fn(Duration) -> future::Ready<()>>| b.build_workers().err();
    let new = || PoolBuilder::new((|_| future::ready(())) as fn(Duration) -> future::Ready<()>);
    let above = LimitError::ConcurrencyAboveWorkers { requested: 5, workers: 4 };
    assert_eq!(build(new().workers(4).concurrency(5)), Some(BuildError::Limit(above)));
    assert_eq!(build(new().concurrency(0)), Some(BuildError::Limit(LimitError::ZeroConcurrency)));
    assert_eq!(build(new().per_key(0)), Some(BuildError::Limit(LimitError::ZeroPerKey)));
    assert_eq!(
        build(new().rate_limit(0, MS)),
        Some(BuildError::Limit(LimitError::ZeroIntervalCap))
    );
    assert_eq!(
        build(new().rate_limit(1, Duration::ZERO)),
        Some(BuildError::Limit(LimitError::ZeroInterval))
    );
    // Without `workers`, the crew grows to the concurrency asked for.
    let (pool, workers) = new().concurrency(9).build_workers().unwrap();
    assert_eq!((pool.workers(), pool.concurrency(), workers.len()), (9, 9, 9));
}

#[test]
fn the_rate_limit_is_a_sliding_window_of_attempt_starts() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(4).rate_limit(2, 100 * MS));
    let handles: Vec<_> =
        (0..5).map(|i| submit(&pool, named(&clock, &log, &format!("j{i}"), 1, false))).collect();
    sim.run_until_stalled();
    assert!(pool.is_rate_limited(), "three wait for tokens");
    assert_eq!(pool.metrics().running, 2, "waiting for a token holds no worker");
    for _ in 0..250 {
        clock.advance(MS);
        sim.run_until_stalled();
    }
    let times: Vec<u64> = starts_at(&log).into_iter().map(|(t, _)| t).collect();
    assert_eq!(times, [0, 0, 100, 100, 200]);
    assert!(!pool.is_rate_limited());
    for h in handles {
        assert_eq!(future::block_on(h), Ok(1));
    }
}

#[test]
fn retries_take_tokens_first_and_cancelled_queued_jobs_take_none() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).retries(1).rate_limit(1, 100 * MS));
    let flaky = submit(&pool, named(&clock, &log, "flaky", 1, true));
    let cancelled = submit(&pool, named(&clock, &log, "cancelled", 1, false));
    let next = submit(&pool, named(&clock, &log, "next", 1, false));
    sim.run_until_stalled();
    assert!(cancelled.cancel(), "queued, waiting for a token");
    for _ in 0..250 {
        clock.advance(MS);
        sim.run_until_stalled();
    }
    // flaky's retry (a request too) takes the token at 100 before the new job; next at 200.
    assert_eq!(starts_at(&log), [(0, "flaky".into()), (100, "flaky".into()), (200, "next".into())]);
    assert_eq!(future::block_on(flaky), Ok(2));
    assert!(future::block_on(cancelled).unwrap_err().is_cancelled());
    assert_eq!(future::block_on(next), Ok(1));
}

#[test]
fn the_rate_limit_can_change_and_lift_at_run_time() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(4).rate_limit(1, 100 * MS));
    let handles: Vec<_> =
        (0..4).map(|i| submit(&pool, named(&clock, &log, &format!("j{i}"), 1, false))).collect();
    sim.run_until_stalled();
    assert_eq!(names(&log).len(), 1);
    pool.set_rate_limit(Some(RateLimit::new(2, 100 * MS))).unwrap();
    sim.run_until_stalled();
    assert_eq!(names(&log).len(), 2, "a second token at once");
    pool.set_rate_limit(None).unwrap();
    sim.run_until_stalled();
    assert_eq!(names(&log).len(), 4, "lifted: the rest start");
    clock.advance(MS);
    sim.run_until_stalled();
    for h in handles {
        assert_eq!(future::block_on(h), Ok(1));
    }
}

#[test]
fn clear_cancels_every_queued_job_at_once_and_leaves_the_running_ones() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).per_key(1));
    let running = submit(&pool, named(&clock, &log, "running", 10, false).key("k"));
    sim.run_until_stalled();
    let dropped = Count::new();
    let queued: Vec<_> = (0..5)
        .map(|i| {
            let flag = DropFlag(dropped.clone());
            let job = Job::new(move |_| {
                let _keep = &flag;
                async { Ok::<u32, ()>(0) }
            })
            .priority(i)
            .key(if i % 2 == 0 { "k" } else { "other" });
            pool.try_submit(job).unwrap()
        })
        .collect();
    assert_eq!(pool.clear(), 5);
    assert_eq!(dropped.get(), 5);
    assert!(queued.iter().all(|h| h.is_finished()));
    let m = pool.metrics();
    assert_eq!((m.cancelled, m.queued, m.waiting_on_key, m.running), (5, 0, 0, 1));
    assert_eq!(pool.clear(), 0);
    clock.advance(10 * MS);
    sim.run_until_stalled();
    assert_eq!(future::block_on(running), Ok(1));
    for h in queued {
        assert_eq!(future::block_on(h), Err(JobError::Cancelled { attempts: 0 }));
    }
}

#[test]
fn until_queued_below_waits_for_the_queue_to_drain_to_its_level() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let handles: Vec<_> =
        (0..5).map(|i| submit(&pool, named(&clock, &log, &format!("j{i}"), 10, false))).collect();
    sim.run_until_stalled(); // one runs, four queued
    assert!(future::block_on(future::poll_once(pool.until_queued_below(5))).is_some());
    let below = Arc::new(Mutex::new(None));
    let (p, c, b) = (pool.clone(), clock.clone(), Arc::clone(&below));
    sim.spawn(async move {
        p.until_queued_below(2).await;
        *b.lock().unwrap() = Some(c.now());
    });
    for _ in 0..6 {
        sim.run_until_stalled();
        clock.advance(10 * MS);
    }
    assert_eq!(
        *below.lock().unwrap(),
        Some(Duration::from_millis(30)),
        "4 → 1 queued after 3 jobs"
    );
    drop(handles);
}

#[test]
fn many_cancelled_jobs_are_swept_and_the_rest_keep_their_order() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(2000));
    let busy = submit(&pool, named(&clock, &log, "busy", 10, false));
    sim.run_until_stalled();
    let mut kept = Vec::new();
    for i in 0..1000 {
        let h = submit(&pool, named(&clock, &log, &format!("j{i}"), 0, false));
        if i % 100 == 0 {
            kept.push((format!("j{i}"), h));
        } else {
            assert!(h.cancel());
        }
    }
    assert_eq!(pool.metrics().queued, 10);
    for _ in 0..5 {
        clock.advance(10 * MS);
        sim.run_until_stalled();
    }
    let expected: Vec<String> =
        std::iter::once("busy".to_string()).chain(kept.iter().map(|(n, _)| n.clone())).collect();
    assert_eq!(names(&log), expected);
    assert_eq!(future::block_on(busy), Ok(1));
    let m = pool.metrics();
    assert_eq!((m.succeeded, m.cancelled, m.queued), (11, 990, 0));
}

#[test]
fn a_dropped_waiting_submit_passes_its_granted_place_on() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(1));
    let _running = submit(&pool, named(&clock, &log, "running", 10, false));
    sim.run_until_stalled();
    let _queued = submit(&pool, named(&clock, &log, "queued", 10, false));
    let mut first = Box::pin(pool.submit(named(&clock, &log, "first", 10, false)));
    let mut second = Box::pin(pool.submit(named(&clock, &log, "second", 10, false)));
    assert!(future::block_on(future::poll_once(first.as_mut())).is_none());
    assert!(future::block_on(future::poll_once(second.as_mut())).is_none());
    clock.advance(10 * MS);
    sim.run_until_stalled(); // a place frees: granted to `first`
    drop(first); // which gives it up
    assert!(matches!(future::block_on(future::poll_once(second.as_mut())), Some(Ok(_))));
    assert!(pool.try_submit(named(&clock, &log, "late", 1, false)).unwrap_err().is_full());
}

#[test]
fn at_rest_every_accepted_job_is_counted_once() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(3).concurrency(2).per_key(1).rate_limit(3, 10 * MS).retries(1)
    });
    let mut handles = Vec::new();
    for i in 0..40u64 {
        let job = named(&clock, &log, &format!("j{i}"), i % 3, i % 5 == 0)
            .priority((i % 4) as i32)
            .key(i % 3);
        handles.push(submit(&pool, job));
        if i % 7 == 0 {
            assert!(handles[i as usize / 2].cancel() || handles[i as usize / 2].is_finished());
        }
        if i == 20 {
            pool.pause();
            pool.set_concurrency(3).unwrap();
        }
        if i == 30 {
            pool.resume();
            pool.clear();
        }
        sim.run_until_stalled();
        clock.advance(MS);
    }
    for _ in 0..500 {
        clock.advance(MS);
        sim.run_until_stalled();
    }
    let m = pool.metrics();
    assert_eq!(m.submitted, 40);
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled);
    assert_eq!((m.queued, m.running, m.waiting_on_key), (0, 0, 0));
    for h in handles {
        assert!(h.is_finished());
    }
}

/// A job put back in line when its key freed, then cancelled before it started, must not
/// strand the jobs still waiting for that key: the key has room, so the next one goes.
#[test]
fn a_cancelled_job_whose_key_had_freed_leaves_the_next_one_its_turn() {
    let (mut sim, clock, log) = (Sim::new(), Clock::new(), Log::default());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).per_key(1));
    let a1 = submit(&pool, named(&clock, &log, "a1", 10, false).key("a"));
    let a2 = submit(&pool, named(&clock, &log, "a2", 10, false).key("a"));
    let a3 = submit(&pool, named(&clock, &log, "a3", 10, false).key("a"));
    sim.run_until_stalled();
    assert_eq!(pool.metrics().waiting_on_key, 2);
    pool.pause();
    clock.advance(10 * MS);
    sim.run_until_stalled(); // a1 ends: a2's turn, but the pool is paused
    assert!(a2.cancel());
    pool.resume();
    for _ in 0..3 {
        sim.run_until_stalled();
        clock.advance(10 * MS);
    }
    assert_eq!(names(&log), ["a1", "a3"]);
    assert_eq!(future::block_on(a1), Ok(1));
    assert!(future::block_on(a2).unwrap_err().is_cancelled());
    assert_eq!(future::block_on(a3), Ok(1), "a3 ran");
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_on_key), (0, 0));
}
