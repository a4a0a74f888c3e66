//! Pool behaviour, deterministic: a manual clock and a single-threaded scheduler (see
//! `common`). Each test names the promise it checks.

mod common;

// The same tests run natively and, under `wasm-pack test`, in Node and Chromium.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

// In a browser run of `wasm-pack test` (see `build.rs`), these tests run in the browser.
#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{clock_pool, Clock, Count, DropFlag, Sim, MS};
use futures_lite::future;
use workcrew::{
    Backoff, BuildError, Job, JobError, PoolBuilder, SubmitError, MAX_QUEUE, MAX_WORKERS,
};

/// A job that finishes `after` on the clock with `value`.
fn sleepy(
    clock: &Clock,
    after: Duration,
    value: u32,
) -> Job<impl FnMut(workcrew::Attempt) -> common::ClockSleepThen + Send> {
    let clock = clock.clone();
    Job::new(move |_| common::ClockSleepThen(clock.sleep(after), value))
}

fn hang() -> Job<impl FnMut(workcrew::Attempt) -> future::Pending<Result<u32, &'static str>> + Send>
{
    Job::new(|_| future::pending())
}

#[test]
fn a_fixed_crew_pulls_from_a_bounded_queue() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(3));
    let mut handles: Vec<_> =
        (0..2).map(|i| pool.try_submit(sleepy(&clock, MS * 10, i)).unwrap()).collect();
    sim.run_until_stalled(); // both workers take a job
    handles.extend((2..5).map(|i| pool.try_submit(sleepy(&clock, MS * 10, i)).unwrap()));
    assert!(pool.try_submit(sleepy(&clock, MS, 9)).unwrap_err().is_full(), "three places only");
    sim.run_until_stalled();
    let m = pool.metrics();
    assert_eq!((m.running, m.queued, m.started), (2, 3, 2), "two workers, three waiting");

    clock.advance(MS * 10);
    sim.run_until_stalled();
    let m = pool.metrics();
    assert_eq!((m.succeeded, m.running, m.queued), (2, 2, 1));

    clock.advance(MS * 10);
    clock.advance(MS * 10);
    sim.run_until_stalled();
    clock.advance(MS * 10);
    sim.run_until_stalled();
    let values: Vec<_> = handles.into_iter().map(|h| sim.block(h).unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 3, 4]);
}

#[test]
fn retries_count_extra_attempts_with_the_original_linear_backoff() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(3));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (clock.clone(), starts.clone());
    let h = pool
        .try_submit(Job::new(move |a: workcrew::Attempt| {
            s.lock().unwrap().push((a.number(), c.now()));
            async { Err::<(), _>("always") }
        }))
        .unwrap();
    // Default backoff: (attempt) × 100 ms before each retry.
    for _ in 0..6 {
        sim.run_until_stalled();
        if let Some(next) = clock.next_deadline() {
            clock.advance(next - clock.now());
        }
    }
    assert_eq!(sim.block(h), Err(JobError::Failed { error: "always", attempts: 4 }));
    let starts = starts.lock().unwrap().clone();
    let ms = |n| Duration::from_millis(n);
    assert_eq!(starts, [(1, ms(0)), (2, ms(100)), (3, ms(300)), (4, ms(600))]);
    let m = pool.metrics();
    assert_eq!((m.attempts, m.retried, m.failed, m.succeeded), (4, 3, 1, 0));
}

#[test]
fn a_flaky_job_succeeds_on_retry() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(5).backoff(Backoff::none()));
    let h = pool
        .try_submit(Job::new(|a: workcrew::Attempt| async move {
            if a.number() <= 2 {
                Err("flaky")
            } else {
                Ok(a.number())
            }
        }))
        .unwrap();
    assert_eq!(sim.block(h), Ok(3));
    assert_eq!(pool.metrics().retried, 2);
}

#[test]
fn the_retry_predicate_stops_retries_of_permanent_errors() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(5).backoff(Backoff::none()));
    let h = pool
        .try_submit(
            Job::new(|a: workcrew::Attempt| async move {
                Err::<(), _>(if a.number() < 2 { 503 } else { 404 })
            })
            .retry_if(|status: &u16| *status >= 500),
        )
        .unwrap();
    assert_eq!(sim.block(h), Err(JobError::Failed { error: 404, attempts: 2 }));
}

#[test]
fn a_timed_out_attempt_is_dropped_and_its_work_stops() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool =
        clock_pool(&mut sim, &clock, |b| b.timeout(MS * 50).retries(1).backoff(Backoff::none()));
    let (dropped, ticks) = (Count::new(), Count::new());
    let (d, t, c) = (dropped.clone(), ticks.clone(), clock.clone());
    let h = pool
        .try_submit(Job::new(move |_| {
            let (d, t, c) = (d.clone(), t.clone(), c.clone());
            async move {
                let _guard = DropFlag(d);
                loop {
                    c.sleep(MS * 10).await; // a unit of work, then an await point
                    t.hit();
                }
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            }
        }))
        .unwrap();
    for _ in 0..12 {
        sim.run_until_stalled();
        clock.advance(MS * 10);
    }
    sim.run_until_stalled();
    assert_eq!(sim.block(h), Err(JobError::TimedOut { attempts: 2 }));
    assert_eq!(dropped.get(), 2, "each timed-out attempt's future was dropped");
    let after = ticks.get();
    assert!(after <= 10, "at most 5 ticks per 50 ms attempt, got {after}");
    clock.advance(MS * 100);
    sim.run_until_stalled();
    assert_eq!(ticks.get(), after, "no work after the timeout");
    let m = pool.metrics();
    assert_eq!((m.timed_out, m.failed, m.attempts), (2, 1, 2));
}

#[test]
fn a_job_that_finishes_in_time_is_not_timed_out() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(MS * 50));
    let h = pool.try_submit(sleepy(&clock, MS * 49, 7)).unwrap();
    sim.run_until_stalled();
    clock.advance(MS * 49);
    assert_eq!(sim.block(h), Ok(7));
    assert_eq!(clock.armed(), 0, "the attempt's timer was disarmed");
}

#[test]
fn a_zero_timeout_gives_an_attempt_one_poll() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(Duration::ZERO));
    let ready = pool.try_submit(Job::new(|_| async { Ok::<_, ()>(1) })).unwrap();
    let waits = pool.try_submit(sleepy(&clock, MS, 2)).unwrap();
    assert_eq!(sim.block(ready), Ok(1));
    assert_eq!(sim.block(waits), Err(JobError::TimedOut { attempts: 1 }));
}

#[test]
fn an_enormous_timeout_or_backoff_neither_overflows_nor_fires() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.timeout(Duration::MAX).retries(u32::MAX).backoff(Backoff::exponential(Duration::MAX))
    });
    let h = pool.try_submit(Job::new(|_| async { Err::<(), _>("once") })).unwrap();
    sim.run_until_stalled();
    clock.advance(Duration::from_secs(1 << 40));
    sim.run_until_stalled();
    assert!(!h.is_finished(), "waiting out an effectively infinite backoff");
    assert!(h.cancel());
    assert_eq!(sim.block(h), Err(JobError::Cancelled { attempts: 1 }));
}

#[test]
#[cfg(panic = "unwind")] // wasm32 aborts on panic: nothing to catch
fn a_panic_is_the_attempts_outcome_and_the_worker_survives() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(1).backoff(Backoff::none()));
    let h = pool.try_submit(Job::new(|_| async { panic!("boom") as Result<(), ()> })).unwrap();
    assert_eq!(sim.block(h), Err(JobError::Panicked { message: Some("boom".into()), attempts: 2 }));
    // A panic in the job's function itself (before any future) is caught too.
    let h = pool
        .try_submit(
            Job::new(|a: workcrew::Attempt| -> future::Ready<Result<(), ()>> {
                panic!("eager {}", a.number())
            })
            .retries(0),
        )
        .unwrap();
    assert_eq!(
        sim.block(h),
        Err(JobError::Panicked { message: Some("eager 1".into()), attempts: 1 })
    );
    // The single worker still runs jobs.
    let h = pool.try_submit(Job::new(|_| async { Ok::<_, ()>("alive") })).unwrap();
    assert_eq!(sim.block(h), Ok("alive"));
    let m = pool.metrics();
    assert_eq!((m.panicked, m.failed, m.succeeded), (3, 2, 1));
}

#[test]
fn jobs_override_the_pool_defaults() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(5).timeout(MS).backoff(Backoff::none()));
    let h = pool.try_submit(Job::new(|_| async { Err::<(), _>("x") }).retries(0)).unwrap();
    assert_eq!(sim.block(h), Err(JobError::Failed { error: "x", attempts: 1 }));
    let h = pool.try_submit(sleepy(&clock, MS * 20, 5).no_timeout()).unwrap();
    sim.run_until_stalled();
    clock.advance(MS * 20);
    assert_eq!(sim.block(h), Ok(5));
    let h = pool
        .try_submit(
            Job::new(|a: workcrew::Attempt| async move {
                if a.is_retry() {
                    Ok(())
                } else {
                    Err(())
                }
            })
            .backoff(Backoff::constant(MS * 30)),
        )
        .unwrap();
    sim.run_until_stalled();
    assert_eq!(clock.next_deadline(), Some(clock.now() + MS * 30));
    clock.advance(MS * 30);
    assert_eq!(sim.block(h), Ok(()));
}

#[test]
fn cancelling_a_queued_job_settles_it_at_once_and_it_never_starts() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let busy = pool.try_submit(sleepy(&clock, MS * 10, 1)).unwrap();
    let started = Count::new();
    let s = started.clone();
    let queued = pool
        .try_submit(Job::new(move |_| {
            s.hit();
            async { Ok::<u32, ()>(2) }
        }))
        .unwrap();
    sim.run_until_stalled();
    assert!(queued.cancel());
    assert!(!queued.cancel(), "a second cancel is a no-op");
    assert_eq!(sim.poll_once(queued), Some(Err(JobError::Cancelled { attempts: 0 })));
    clock.advance(MS * 10);
    assert_eq!(sim.block(busy), Ok(1));
    sim.run_until_stalled();
    assert_eq!(started.get(), 0, "the cancelled job never ran");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.succeeded, m.cancelled, m.started), (2, 1, 1, 1));
}

#[test]
fn cancelling_a_running_job_drops_its_attempt() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b);
    let dropped = Count::new();
    let d = dropped.clone();
    let h = pool
        .try_submit(Job::new(move |_| {
            let guard = DropFlag(d.clone());
            async move {
                let _g = guard;
                future::pending::<Result<(), ()>>().await
            }
        }))
        .unwrap();
    sim.run_until_stalled();
    assert_eq!(pool.metrics().running, 1);
    assert!(h.cancel());
    assert_eq!(sim.block(h), Err(JobError::Cancelled { attempts: 1 }));
    assert_eq!(dropped.get(), 1);
    let m = pool.metrics();
    assert_eq!((m.running, m.cancelled), (0, 1));
}

#[test]
fn cancelling_during_backoff_ends_the_job_without_another_attempt() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(3).backoff(Backoff::constant(MS * 100)));
    let attempts = Count::new();
    let a = attempts.clone();
    let h = pool
        .try_submit(Job::new(move |_| {
            a.hit();
            async { Err::<(), _>(()) }
        }))
        .unwrap();
    sim.run_until_stalled();
    assert_eq!(clock.armed(), 1, "waiting out the backoff");
    assert!(h.cancel());
    assert_eq!(sim.block(h), Err(JobError::Cancelled { attempts: 1 }));
    assert_eq!(attempts.get(), 1);
    assert_eq!(clock.armed(), 0);
}

#[test]
fn a_dropped_handle_detaches_the_job() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b);
    let ran = Count::new();
    let r = ran.clone();
    drop(pool.try_submit(Job::new(move |_| {
        r.hit();
        async { Ok::<_, ()>(()) }
    })));
    sim.run_until_stalled();
    assert_eq!(ran.get(), 1);
    assert_eq!(pool.metrics().succeeded, 1);
}

#[test]
fn try_submit_refuses_when_full_and_hands_the_job_back() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(1));
    let first = pool.try_submit(sleepy(&clock, MS * 10, 1)).unwrap();
    sim.run_until_stalled(); // the worker takes it
    let second = pool.try_submit(sleepy(&clock, MS * 10, 2)).unwrap();
    let refused = match pool.try_submit(sleepy(&clock, MS * 10, 3)) {
        Err(e @ SubmitError::Full(_)) => e,
        other => panic!("expected Full, got {other:?}"),
    };
    assert_eq!(refused.to_string(), "job refused: the queue is full");
    assert_eq!(pool.metrics().rejected, 1);
    clock.advance(MS * 10);
    assert_eq!(sim.block(first), Ok(1));
    // The handed-back job is whole: submit it again.
    let third = pool.try_submit(refused.into_job()).unwrap();
    clock.advance(MS * 10);
    assert_eq!(sim.block(second), Ok(2));
    clock.advance(MS * 10);
    assert_eq!(sim.block(third), Ok(3));
}

#[test]
fn submit_waits_for_room_in_the_queue() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(1));
    let _a = pool.try_submit(sleepy(&clock, MS * 10, 1)).unwrap();
    sim.run_until_stalled();
    let _b = pool.try_submit(sleepy(&clock, MS * 10, 2)).unwrap();
    let mut waiting = Box::pin(pool.submit(sleepy(&clock, MS * 10, 3)));
    assert!(sim.poll_once(waiting.as_mut()).is_none(), "no room yet");
    clock.advance(MS * 10); // the first job ends, the second leaves the queue
    let c = sim.block(waiting).expect("room freed up");
    for _ in 0..2 {
        sim.run_until_stalled();
        clock.advance(MS * 10);
    }
    assert_eq!(sim.block(c), Ok(3));
}

#[test]
fn a_waiting_submit_is_refused_when_the_pool_closes() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(1));
    let a = pool.try_submit(hang()).unwrap();
    sim.run_until_stalled();
    let b = pool.try_submit(hang()).unwrap();
    let mut waiting = Box::pin(pool.submit(hang()));
    assert!(sim.poll_once(waiting.as_mut()).is_none());
    pool.close();
    assert!(sim.block(waiting).unwrap_err().is_closed());
    sim.block(pool.abort());
    assert!(sim.block(a).unwrap_err().is_cancelled());
    assert!(sim.block(b).unwrap_err().is_cancelled());
    assert_eq!(pool.metrics().rejected, 1);
}

#[test]
fn shutdown_drains_everything_queued_and_is_idempotent() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(10));
    let handles: Vec<_> =
        (0..6).map(|i| pool.try_submit(sleepy(&clock, MS * 5, i)).unwrap()).collect();
    let mut shutdown = Box::pin(pool.shutdown());
    assert!(sim.poll_once(shutdown.as_mut()).is_none(), "waits for the queue to drain");
    assert!(pool.try_submit(sleepy(&clock, MS, 99)).unwrap_err().is_closed());
    for _ in 0..3 {
        clock.advance(MS * 5);
        sim.run_until_stalled();
    }
    let report = sim.block(shutdown);
    assert_eq!((report.completed, report.cancelled, report.timed_out), (6, 0, false));
    assert_eq!(sim.live(), 0, "every worker stopped");
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(sim.block(h), Ok(i as u32));
    }
    let again = sim.block(pool.shutdown());
    assert_eq!((again.completed, again.cancelled), (0, 0));
    let m = again.metrics;
    assert_eq!((m.submitted, m.succeeded, m.rejected), (6, 6, 1));
}

#[test]
fn shutdown_timeout_cancels_what_is_left() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).queue(10));
    let quick = pool.try_submit(sleepy(&clock, MS * 10, 1)).unwrap();
    let slow = pool.try_submit(sleepy(&clock, MS * 100, 2)).unwrap();
    let queued = pool.try_submit(sleepy(&clock, MS, 3)).unwrap();
    let mut shutdown = Box::pin(pool.shutdown_timeout(MS * 50));
    assert!(sim.poll_once(shutdown.as_mut()).is_none());
    clock.advance(MS * 10);
    sim.run_until_stalled();
    clock.advance(MS * 40);
    let report = sim.block(shutdown);
    assert!(report.timed_out);
    assert_eq!((report.completed, report.cancelled), (1, 2));
    assert_eq!(sim.block(quick), Ok(1));
    assert_eq!(sim.block(slow), Err(JobError::Cancelled { attempts: 1 }));
    assert_eq!(sim.block(queued), Err(JobError::Cancelled { attempts: 0 }));
    let m = report.metrics;
    assert_eq!(m.submitted, m.settled());
}

#[test]
fn shutdown_timeout_that_is_met_cancels_nothing() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let h = pool.try_submit(sleepy(&clock, MS * 10, 1)).unwrap();
    let mut shutdown = Box::pin(pool.shutdown_timeout(MS * 50));
    assert!(sim.poll_once(shutdown.as_mut()).is_none());
    clock.advance(MS * 10);
    let report = sim.block(shutdown);
    assert!(!report.timed_out);
    assert_eq!(sim.block(h), Ok(1));
    assert_eq!(clock.armed(), 0);
}

#[test]
fn abort_cancels_queued_jobs_and_drops_running_attempts() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(10));
    let dropped = Count::new();
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let d = dropped.clone();
            pool.try_submit(Job::new(move |_| {
                let g = DropFlag(d.clone());
                async move {
                    let _g = g;
                    future::pending::<Result<(), ()>>().await
                }
            }))
            .unwrap()
        })
        .collect();
    sim.run_until_stalled();
    let report = sim.block(pool.abort());
    assert_eq!((report.completed, report.cancelled), (0, 5));
    assert_eq!(dropped.get(), 2, "both running attempts dropped");
    let attempts: Vec<_> =
        handles.into_iter().map(|h| sim.block(h).unwrap_err().attempts()).collect();
    assert_eq!(attempts, [1, 1, 0, 0, 0]);
    assert_eq!(sim.live(), 0);
    assert!(pool.try_submit(hang()).unwrap_err().is_closed());
}

#[test]
fn dropping_the_last_pool_handle_drains_the_queue() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1));
    let clone = pool.clone();
    let handles: Vec<_> = (0..3).map(|i| pool.try_submit(sleepy(&clock, MS, i)).unwrap()).collect();
    drop(pool);
    assert!(!clone.is_closed(), "a clone keeps the pool open");
    drop(clone);
    for _ in 0..3 {
        sim.run_until_stalled();
        clock.advance(MS);
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(sim.block(h), Ok(i as u32));
    }
    assert_eq!(sim.live(), 0, "workers stop once the queue is empty");
}

#[test]
fn handles_settle_even_if_the_workers_never_run() {
    let clock = Clock::new();
    let sleeper: Box<dyn Fn(Duration) -> common::ClockSleep + Send + Sync> =
        Box::new(clock.sleeper());
    let (pool, workers) = PoolBuilder::new(sleeper).build_workers().unwrap();
    let flags = Count::new();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let flag = DropFlag(flags.clone());
            pool.try_submit(Job::new(move |_| {
                let _ = &flag;
                async { Ok::<_, ()>(()) }
            }))
            .unwrap()
        })
        .collect();
    drop(workers);
    drop(pool);
    for h in handles {
        assert_eq!(future::block_on(h), Err(JobError::Cancelled { attempts: 0 }));
    }
    assert_eq!(flags.get(), 3, "every job closure was dropped");
}

#[test]
fn jitter_keeps_delays_within_the_schedule() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.retries(1).backoff(Backoff::constant(MS * 100).with_jitter())
    });
    let mut delays = Vec::new();
    for _ in 0..20 {
        let h = pool
            .try_submit(Job::new(|a: workcrew::Attempt| async move {
                if a.is_retry() {
                    Ok(())
                } else {
                    Err(())
                }
            }))
            .unwrap();
        sim.run_until_stalled();
        let delay = clock.next_deadline().map_or(Duration::ZERO, |d| d - clock.now());
        delays.push(delay);
        clock.advance(delay);
        assert_eq!(sim.block(h), Ok(()));
    }
    assert!(delays.iter().all(|d| *d <= MS * 100));
    delays.sort();
    delays.dedup();
    assert!(delays.len() > 10, "delays are spread: {delays:?}");
}

#[test]
fn metrics_balance_at_rest() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(3).queue(100).retries(1).timeout(MS * 20).backoff(Backoff::none())
    });
    let mut handles = Vec::new();
    for i in 0..40u32 {
        fn done<T: 'static, E: 'static>(h: workcrew::JobHandle<T, E>) -> Box<dyn Fn() -> bool> {
            Box::new(move || h.is_finished())
        }
        handles.push(match i % 5 {
            0 => done(pool.try_submit(Job::new(|_| async { Ok::<_, &str>(0) })).unwrap()),
            1 => done(pool.try_submit(Job::new(|_| async { Err::<u32, _>("no") })).unwrap()),
            2 => done(pool.try_submit(hang()).unwrap()),
            3 => done(
                pool.try_submit(Job::new(|_| async {
                    // wasm32 cannot unwind: there the job fails instead.
                    if cfg!(panic = "unwind") {
                        panic!("p")
                    }
                    Err::<u32, &str>("p")
                }))
                .unwrap(),
            ),
            _ => {
                let h = pool.try_submit(sleepy(&clock, MS * 5, 4).no_timeout()).unwrap();
                h.cancel();
                done(h)
            }
        });
    }
    // 8 hanging jobs × 2 attempts × 20 ms on 3 workers: 120 ms is enough; go well past it.
    for _ in 0..30 {
        sim.run_until_stalled();
        clock.advance(MS * 10);
    }
    let handles_done = handles.iter().filter(|done| done()).count();
    assert_eq!(handles_done, 40);
    let m = sim.block(pool.shutdown()).metrics;
    assert_eq!(m.submitted, 40);
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled);
    assert_eq!((m.succeeded, m.failed, m.cancelled), (8, 24, 8));
    assert_eq!((m.timed_out, m.panicked), (16, if cfg!(panic = "unwind") { 16 } else { 0 }));
    assert_eq!((m.queued, m.running), (0, 0));
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let b = || PoolBuilder::new(|_: Duration| async {});
    assert_eq!(b().workers(0).build_workers().err(), Some(BuildError::ZeroWorkers));
    assert_eq!(
        b().workers(MAX_WORKERS + 1).build_workers().err(),
        Some(BuildError::TooManyWorkers { requested: MAX_WORKERS + 1 })
    );
    assert_eq!(b().queue(0).build_workers().err(), Some(BuildError::ZeroQueue));
    assert_eq!(
        b().queue(usize::MAX).build_workers().err(),
        Some(BuildError::QueueTooLarge { requested: usize::MAX })
    );
    assert!(b().workers(MAX_WORKERS).queue(MAX_QUEUE).build_workers().is_ok());
    #[cfg(not(target_arch = "wasm32"))] // the built-in runtime
    assert_eq!(workcrew::Pool::builder().workers(0).build().err(), Some(BuildError::ZeroWorkers));
}

#[test]
fn events_tell_a_jobs_story_in_order() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let sleeper: Box<dyn Fn(Duration) -> common::ClockSleep + Send + Sync> =
        Box::new(clock.sleeper());
    let (pool, workers) = PoolBuilder::new(sleeper)
        .workers(1)
        .retries(2)
        .timeout(MS * 10)
        .backoff(Backoff::constant(MS * 5))
        .on_event(move |e: &workcrew::JobEvent<'_>| {
            let line = match *e {
                workcrew::JobEvent::AttemptFailed { job, attempt, error } => {
                    format!("failed {job}/{attempt}: {}", error.downcast_ref::<&str>().unwrap())
                }
                workcrew::JobEvent::RetryScheduled { job, attempt, delay } => {
                    format!("retry {job}/{attempt} in {delay:?}")
                }
                other => format!("{other:?}"),
            };
            l.lock().unwrap().push(line);
        })
        .build_workers()
        .unwrap();
    workers.into_iter().for_each(|w| sim.spawn(w));
    let c = clock.clone();
    let h = pool
        .try_submit(Job::new(move |a: workcrew::Attempt| {
            let c = c.clone();
            async move {
                match a.number() {
                    1 => Err("bad gateway"),
                    2 => {
                        c.sleep(MS * 60).await;
                        Ok(0)
                    }
                    n => Ok(n),
                }
            }
        }))
        .unwrap();
    assert_eq!(h.job_id(), 0);
    for _ in 0..5 {
        sim.run_until_stalled();
        if let Some(d) = clock.next_deadline() {
            clock.advance(d - clock.now());
        }
    }
    assert_eq!(sim.block(h), Ok(3));
    let cancelled = pool.try_submit(hang()).unwrap();
    assert_eq!(cancelled.job_id(), 1);
    cancelled.cancel();
    sim.block(pool.shutdown());
    assert_eq!(
        *log.lock().unwrap(),
        [
            "Queued { job: 0 }",
            "AttemptStarted { job: 0, attempt: 1 }",
            "failed 0/1: bad gateway",
            "retry 0/2 in 5ms",
            "AttemptStarted { job: 0, attempt: 2 }",
            "AttemptTimedOut { job: 0, attempt: 2 }",
            "retry 0/3 in 5ms",
            "AttemptStarted { job: 0, attempt: 3 }",
            "Succeeded { job: 0, attempts: 3 }",
            "Queued { job: 1 }",
            "Cancelled { job: 1, attempts: 0 }",
        ]
    );
}

/// After a drain, an abort, or a plain drop, every job closure and everything it captured has
/// been dropped: nothing leaks through the queue, the workers or the handles.
#[test]
fn every_job_closure_is_dropped_after_shutdown_abort_or_drop() {
    for ending in ["shutdown", "abort", "drop"] {
        let (mut sim, clock) = (Sim::new(), Clock::new());
        let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(8));
        let (made, dropped) = (Count::new(), Count::new());
        let mut handles = Vec::new();
        for i in 0..6u32 {
            made.hit();
            let (captured, c) = (DropFlag(dropped.clone()), clock.clone());
            let job = Job::new(move |_| {
                let _keep = &captured;
                let sleep = c.sleep(MS * (1 + i % 3) * 10);
                async move {
                    sleep.await;
                    Ok::<_, ()>(i)
                }
            });
            handles.push(pool.try_submit(job).unwrap());
        }
        sim.run_until_stalled();
        match ending {
            "shutdown" => {
                let mut s = Box::pin(pool.shutdown());
                for _ in 0..10 {
                    if sim.poll_once(s.as_mut()).is_some() {
                        break;
                    }
                    clock.advance(MS * 10);
                }
            }
            "abort" => {
                sim.block(pool.abort());
            }
            _ => {
                drop(pool);
                for _ in 0..10 {
                    clock.advance(MS * 10);
                    sim.run_until_stalled();
                }
            }
        }
        assert_eq!(sim.live(), 0, "{ending}: the workers stopped");
        for h in handles {
            assert!(h.is_finished(), "{ending}");
            drop(sim.block(h));
        }
        assert_eq!(dropped.get(), made.get(), "{ending}: every closure was dropped");
    }
}
