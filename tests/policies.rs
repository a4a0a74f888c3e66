//! The policies across attempts, deterministic on the manual clock: the total deadline, the
//! retry budget, the circuit breaker, hedged attempts, and a retry predicate that sees the
//! whole failure. Each test names the promise it checks.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{clock_pool, Clock, ClockPool, Count, DropFlag, Sim, MS};
use workcrew::{
    Attempt, Backoff, BuildError, CircuitBreaker, Failure, Hedge, Job, JobError, JobEvent, JobKey,
    PolicyError, PoolBuilder, RetryBudget,
};

/// An attempt that takes `ms` on the clock, then returns `result`; it counts as dropped in
/// `dropped` unless it ran to its end.
struct Step {
    sleep: common::ClockSleep,
    result: Option<Result<u32, &'static str>>,
    dropped: Option<DropFlag>,
}

impl std::future::Future for Step {
    type Output = Result<u32, &'static str>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::ready!(std::pin::Pin::new(&mut self.sleep).poll(cx));
        std::mem::forget(self.dropped.take()); // it ended: not dropped early
        std::task::Poll::Ready(self.result.take().expect("polled after it ended"))
    }
}

/// A job whose attempt `n` (from 1) takes `plan(n).0` ms and returns `plan(n).1`; every call
/// is counted in `calls`, and every attempt dropped before its end in `dropped`.
fn job(
    clock: &Clock,
    calls: &Count,
    dropped: &Count,
    plan: impl Fn(Attempt) -> (u64, Result<u32, &'static str>) + Send + 'static,
) -> Job<impl FnMut(Attempt) -> Step + Send> {
    let (clock, calls, dropped) = (clock.clone(), calls.clone(), dropped.clone());
    Job::new(move |a: Attempt| {
        calls.hit();
        let (ms, result) = plan(a);
        Step {
            sleep: clock.sleep(Duration::from_millis(ms)),
            result: Some(result),
            dropped: Some(DropFlag(dropped.clone())),
        }
    })
    .backoff(Backoff::none())
}

type Log = Arc<Mutex<Vec<String>>>;
type BoxSleeper = Box<dyn Fn(Duration) -> common::ClockSleep + Send + Sync>;

/// Every event, as `Debug` text, in order.
fn logged(b: PoolBuilder<BoxSleeper>, log: &Log) -> PoolBuilder<BoxSleeper> {
    let log = Arc::clone(log);
    b.on_event(move |e: &JobEvent<'_>| {
        let text = format!("{e:?}");
        if !text.starts_with("AttemptFailed") {
            log.lock().unwrap().push(text);
        }
    })
}

fn has(log: &Log, text: &str) -> usize {
    log.lock().unwrap().iter().filter(|e| e.contains(text)).count()
}

/// Advances the clock by `ms`, one millisecond at a time, letting the workers run between.
fn run_for(sim: &mut Sim, clock: &Clock, ms: u64) {
    for _ in 0..ms {
        sim.run_until_stalled();
        clock.advance(MS);
    }
    sim.run_until_stalled();
}

fn balanced(sim: &mut Sim, pool: &ClockPool) -> workcrew::Metrics {
    let m = sim.block(pool.shutdown()).metrics;
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "balance: {m:?}");
    assert_eq!((m.queued, m.running), (0, 0), "at rest: {m:?}");
    m
}

// --- the total deadline ----------------------------------------------------------------------

#[test]
fn a_deadline_drops_the_running_attempt_and_starts_no_other() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let pool = clock_pool(&mut sim, &clock, |b| {
        logged(b, &log).timeout(2000 * MS).retries(5).deadline(3000 * MS)
    });
    let (calls, dropped) = (Count::new(), Count::new());
    // Each attempt would take an hour: the first times out at 2 s, the second is cut at 3 s.
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (3_600_000, Ok(1)))).unwrap();
    run_for(&mut sim, &clock, 2999);
    assert_eq!((calls.get(), dropped.get()), (2, 1), "the second attempt runs at 2.999 s");
    run_for(&mut sim, &clock, 1);
    assert_eq!(sim.block(h), Err(JobError::DeadlineExceeded { attempts: 2 }));
    assert_eq!(dropped.get(), 2, "the running attempt was dropped at the deadline");
    run_for(&mut sim, &clock, 10_000);
    assert_eq!(calls.get(), 2, "no attempt after the deadline");
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.deadline_exceeded, m.failed, m.timed_out, m.attempts), (1, 1, 1, 2));
    let log = log.lock().unwrap();
    let at = log.iter().position(|e| e.starts_with("DeadlineExceeded")).expect("its event");
    assert!(log[at + 1].starts_with("Failed"), "then Failed: {log:?}");
}

#[test]
fn no_backoff_sleeps_past_the_deadline() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(3).deadline(1000 * MS));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool
        .try_submit(
            job(&clock, &calls, &dropped, |_| (10, Err("503")))
                .backoff(Backoff::constant(Duration::from_secs(10))),
        )
        .unwrap();
    run_for(&mut sim, &clock, 999);
    assert!(!h.is_finished(), "still in its backoff at 0.999 s");
    run_for(&mut sim, &clock, 1);
    assert!(h.is_finished(), "ended at the deadline, not after the 10 s backoff");
    assert_eq!(sim.block(h), Err(JobError::DeadlineExceeded { attempts: 1 }));
    assert_eq!(calls.get(), 1);
    balanced(&mut sim, &pool);
}

#[test]
fn the_deadline_counts_from_the_first_start_not_from_submit() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).deadline(100 * MS));
    let (calls, dropped) = (Count::new(), Count::new());
    // The first job holds the only worker for 90 ms; the second waits, then takes 90 ms too.
    let first = pool.try_submit(job(&clock, &calls, &dropped, |_| (90, Ok(1)))).unwrap();
    let second = pool.try_submit(job(&clock, &calls, &dropped, |_| (90, Ok(2)))).unwrap();
    run_for(&mut sim, &clock, 200);
    assert_eq!((sim.block(first), sim.block(second)), (Ok(1), Ok(2)));
    balanced(&mut sim, &pool);
}

#[test]
fn a_job_overrides_the_pools_deadline() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.deadline(10 * MS));
    let (calls, dropped) = (Count::new(), Count::new());
    let free = pool.try_submit(job(&clock, &calls, &dropped, |_| (500, Ok(1))).no_deadline());
    let longer =
        pool.try_submit(job(&clock, &calls, &dropped, |_| (500, Ok(2))).deadline(MS * 400));
    let pooled = pool.try_submit(job(&clock, &calls, &dropped, |_| (500, Ok(3))));
    run_for(&mut sim, &clock, 600);
    assert_eq!(sim.block(free.unwrap()), Ok(1));
    assert_eq!(sim.block(longer.unwrap()), Err(JobError::DeadlineExceeded { attempts: 1 }));
    assert_eq!(sim.block(pooled.unwrap()), Err(JobError::DeadlineExceeded { attempts: 1 }));
    assert_eq!(balanced(&mut sim, &pool).deadline_exceeded, 2);
}

// --- the retry budget ------------------------------------------------------------------------

#[test]
fn under_total_failure_retries_stay_within_the_budget() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let budget = RetryBudget::new(20).min_retries(2).window(1000);
    let pool = clock_pool(&mut sim, &clock, |b| {
        logged(b, &log).workers(1).retries(3).retry_budget(budget)
    });
    let (calls, dropped) = (Count::new(), Count::new());
    let handles: Vec<_> = (0..50)
        .map(|_| pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("down")))).unwrap())
        .collect();
    run_for(&mut sim, &clock, 1000);
    for h in handles {
        assert!(matches!(sim.block(h), Err(JobError::Failed { error: "down", .. })));
    }
    let m = balanced(&mut sim, &pool);
    // Without the budget: 50 × 3 retries. With it: 20% of 50 first attempts, plus 2.
    assert_eq!((m.started, m.retried), (50, 12), "{m:?}");
    // Each job retried while the budget allowed, then was denied once: none got 3 retries.
    assert_eq!(m.retries_denied, 50, "{m:?}");
    assert_eq!(has(&log, "RetryDenied"), m.retries_denied as usize);
    assert_eq!(calls.get(), 62);
}

#[test]
fn a_pool_without_a_budget_retries_every_job() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(3));
    let (calls, dropped) = (Count::new(), Count::new());
    for _ in 0..10 {
        drop(pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("down")))).unwrap());
    }
    run_for(&mut sim, &clock, 100);
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.retried, m.retries_denied), (30, 0));
}

// --- the circuit breaker ---------------------------------------------------------------------

#[test]
fn consecutive_failures_open_the_breaker_and_a_probe_closes_it() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let breaker = CircuitBreaker::consecutive(3, Duration::from_secs(1));
    let pool =
        clock_pool(&mut sim, &clock, |b| logged(b, &log).workers(1).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    let healthy = Arc::new(Mutex::new(false));
    let service = |healthy: &Arc<Mutex<bool>>| {
        let healthy = Arc::clone(healthy);
        job(&clock, &calls, &dropped, move |_| {
            (10, if *healthy.lock().unwrap() { Ok(1) } else { Err("503") })
        })
    };
    for _ in 0..3 {
        let h = pool.try_submit(service(&healthy)).unwrap();
        run_for(&mut sim, &clock, 10);
        assert!(matches!(sim.block(h), Err(JobError::Failed { .. })));
    }
    assert_eq!(has(&log, "CircuitOpened { key: None }"), 1);
    // Open: jobs fail at once, without calling the service.
    for _ in 0..5 {
        let h = pool.try_submit(service(&healthy)).unwrap();
        sim.run_until_stalled();
        assert_eq!(sim.block(h), Err(JobError::CircuitOpen { attempts: 0 }));
    }
    assert_eq!(calls.get(), 3, "refused jobs never called the service");
    // The cool-down ends: half-open; the service is back; the probe closes the breaker.
    run_for(&mut sim, &clock, 1000);
    assert_eq!(has(&log, "CircuitHalfOpen"), 1);
    *healthy.lock().unwrap() = true;
    let probe = pool.try_submit(service(&healthy)).unwrap();
    run_for(&mut sim, &clock, 10);
    assert_eq!(sim.block(probe), Ok(1));
    assert_eq!(has(&log, "CircuitClosed"), 1);
    let after = pool.try_submit(service(&healthy)).unwrap();
    run_for(&mut sim, &clock, 10);
    assert_eq!(sim.block(after), Ok(1));
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.circuit_refused, m.circuit_opened, m.failed, m.succeeded), (5, 1, 8, 2));
    assert_eq!((m.started, m.attempts), (5, 5), "refused jobs never started: {m:?}");
}

#[test]
fn while_the_probe_runs_other_jobs_are_refused_and_a_failed_probe_reopens_it() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(1));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (10, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 1010);
    assert!(sim.block(h).is_err());
    let probe = pool.try_submit(job(&clock, &calls, &dropped, |_| (50, Err("503")))).unwrap();
    sim.run_until_stalled();
    let other = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(2)))).unwrap();
    sim.run_until_stalled();
    assert_eq!(sim.block(other), Err(JobError::CircuitOpen { attempts: 0 }), "one probe");
    run_for(&mut sim, &clock, 50);
    assert!(matches!(sim.block(probe), Err(JobError::Failed { attempts: 1, .. })));
    let again = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(3)))).unwrap();
    sim.run_until_stalled();
    assert_eq!(sim.block(again), Err(JobError::CircuitOpen { attempts: 0 }), "open again");
    assert_eq!(balanced(&mut sim, &pool).circuit_opened, 2);
}

#[test]
fn a_cancelled_probe_lets_another_through() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(1));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (10, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 1010);
    assert!(sim.block(h).is_err());
    let probe = pool.try_submit(job(&clock, &calls, &dropped, |_| (500, Ok(1)))).unwrap();
    sim.run_until_stalled();
    assert!(probe.cancel());
    assert_eq!(sim.block(probe), Err(JobError::Cancelled { attempts: 1 }));
    let next = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(2)))).unwrap();
    run_for(&mut sim, &clock, 1);
    assert_eq!(sim.block(next), Ok(2), "the next job is the probe, and closes it");
    balanced(&mut sim, &pool);
}

#[test]
fn timeouts_count_as_failures_and_cancellations_do_not() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(2, Duration::from_secs(1));
    let pool =
        clock_pool(&mut sim, &clock, |b| b.workers(1).timeout(5 * MS).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    // Two cancellations in a row open nothing.
    for _ in 0..2 {
        let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (3, Ok(1)))).unwrap();
        sim.run_until_stalled();
        h.cancel();
        sim.run_until_stalled();
    }
    // Two timeouts do.
    for _ in 0..2 {
        let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (50, Ok(1)))).unwrap();
        run_for(&mut sim, &clock, 5);
        assert_eq!(sim.block(h), Err(JobError::TimedOut { attempts: 1 }));
    }
    let refused = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(1)))).unwrap();
    sim.run_until_stalled();
    assert_eq!(sim.block(refused), Err(JobError::CircuitOpen { attempts: 0 }));
    balanced(&mut sim, &pool);
}

#[test]
fn a_retry_the_open_breaker_refuses_is_not_sent() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(2, Duration::from_secs(60));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(5).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 10);
    assert_eq!(sim.block(h), Err(JobError::CircuitOpen { attempts: 2 }));
    assert_eq!(calls.get(), 2);
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.circuit_refused, m.failed, m.started, m.retried), (1, 1, 1, 1));
}

#[test]
fn per_key_breakers_open_apart() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let breaker = CircuitBreaker::consecutive(2, Duration::from_secs(1)).per_key();
    let pool =
        clock_pool(&mut sim, &clock, |b| logged(b, &log).workers(1).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    for _ in 0..2 {
        let h =
            pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("503"))).key("down.example"));
        run_for(&mut sim, &clock, 1);
        assert!(sim.block(h.unwrap()).is_err());
    }
    assert_eq!(
        has(&log, r#"CircuitOpened { key: Some(JobKey(Text("down.example")))"#),
        1,
        "{log:?}"
    );
    let down = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(1))).key("down.example"));
    let up = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(2))).key("up.example"));
    let keyless = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(3))));
    run_for(&mut sim, &clock, 5);
    assert_eq!(sim.block(down.unwrap()), Err(JobError::CircuitOpen { attempts: 0 }));
    assert_eq!(sim.block(up.unwrap()), Ok(2));
    assert_eq!(sim.block(keyless.unwrap()), Ok(3));
    let _ = JobKey::from("unused");
    balanced(&mut sim, &pool);
}

#[test]
fn a_ratio_breaker_opens_on_the_share_of_failures() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::ratio(50, 4, Duration::from_secs(1));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    for (i, result) in [Ok(1), Err("503"), Ok(1), Err("503")].into_iter().enumerate() {
        let h = pool.try_submit(job(&clock, &calls, &dropped, move |_| (1, result))).unwrap();
        run_for(&mut sim, &clock, 1);
        assert_eq!(sim.block(h).is_ok(), i % 2 == 0);
    }
    let refused = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(1)))).unwrap();
    sim.run_until_stalled();
    assert_eq!(sim.block(refused), Err(JobError::CircuitOpen { attempts: 0 }));
    balanced(&mut sim, &pool);
}

#[test]
fn a_refused_job_gives_its_rate_token_back() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(60));
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(1).rate_limit(2, Duration::from_secs(10)).circuit_breaker(breaker)
    });
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 1);
    assert!(sim.block(h).is_err());
    for _ in 0..5 {
        let refused = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Ok(1)))).unwrap();
        sim.run_until_stalled();
        assert_eq!(sim.block(refused), Err(JobError::CircuitOpen { attempts: 0 }));
    }
    assert!(!pool.is_rate_limited(), "the refused jobs took no tokens");
    balanced(&mut sim, &pool);
}

#[test]
fn bad_policies_are_build_errors() {
    let clock = Clock::new();
    let build = |b: PoolBuilder<_>| b.build_workers().map(drop).unwrap_err();
    let b = || PoolBuilder::new(clock.sleeper());
    assert_eq!(
        build(b().retry_budget(RetryBudget::new(20).window(0))),
        BuildError::Policy(PolicyError::ZeroWindow)
    );
    assert_eq!(
        build(b().circuit_breaker(CircuitBreaker::consecutive(1, Duration::ZERO))),
        BuildError::Policy(PolicyError::ZeroCooldown)
    );
    assert_eq!(Hedge::new(MS, 17), Err(PolicyError::HedgeMax { requested: 17 }));
}

// --- hedged attempts -------------------------------------------------------------------------

fn hedge(delay_ms: u64, max: u32) -> Hedge {
    Hedge::new(Duration::from_millis(delay_ms), max).unwrap()
}

#[test]
fn a_hedge_wins_and_the_slow_attempt_is_dropped() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let pool = clock_pool(&mut sim, &clock, |b| logged(b, &log).hedge(hedge(20, 1)));
    let (calls, dropped) = (Count::new(), Count::new());
    let hedges = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&hedges);
    let h = pool
        .try_submit(job(&clock, &calls, &dropped, move |a| {
            seen.lock().unwrap().push((a.number(), a.is_hedge(), a.is_retry()));
            if a.is_hedge() {
                (10, Ok(2))
            } else {
                (100, Ok(1))
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 29);
    assert!(!h.is_finished());
    run_for(&mut sim, &clock, 1);
    assert_eq!(sim.block(h), Ok(2), "the hedge, started at 20 ms, answered at 30 ms");
    assert_eq!(*hedges.lock().unwrap(), [(1, false, false), (2, true, false)]);
    assert_eq!(dropped.get(), 1, "the slow first attempt was dropped");
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.attempts, m.hedges_started, m.hedges_won, m.retried), (2, 1, 1, 0));
    assert_eq!(has(&log, "HedgeStarted { job: 0, attempt: 2 }"), 1, "{log:?}");
    assert_eq!(has(&log, "Succeeded { job: 0, attempts: 2 }"), 1);
}

#[test]
fn a_fast_attempt_is_not_hedged_and_the_first_can_still_win() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.hedge(hedge(20, 2)));
    let (calls, dropped) = (Count::new(), Count::new());
    let fast = pool.try_submit(job(&clock, &calls, &dropped, |_| (10, Ok(1)))).unwrap();
    // The first attempt answers at 30 ms, before its hedge (started at 20, taking 50).
    let first_wins = pool
        .try_submit(job(&clock, &calls, &dropped, |a| {
            if a.is_hedge() {
                (50, Ok(2))
            } else {
                (30, Ok(1))
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 100);
    assert_eq!((sim.block(fast), sim.block(first_wins)), (Ok(1), Ok(1)));
    assert_eq!(dropped.get(), 1, "the losing hedge was dropped");
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.hedges_started, m.hedges_won, m.attempts), (1, 0, 3));
}

#[test]
fn when_every_attempt_of_a_round_fails_the_job_retries_as_a_whole() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(1).hedge(hedge(20, 2)));
    let (calls, dropped) = (Count::new(), Count::new());
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (seen, at) = (Arc::clone(&starts), clock.clone());
    let h = pool
        .try_submit(job(&clock, &calls, &dropped, move |a| {
            seen.lock().unwrap().push((at.now().as_millis(), a.number(), a.is_retry()));
            (50, Err("503"))
        }))
        .unwrap();
    run_for(&mut sim, &clock, 300);
    assert!(matches!(sim.block(h), Err(JobError::Failed { error: "503", attempts: 6 })));
    // Round 1 at 0, 20, 40 (all fail by 90 ms); round 2 at 90, 110, 130.
    let want = [
        (0, 1, false),
        (20, 2, false),
        (40, 3, false),
        (90, 4, true),
        (110, 5, true),
        (130, 6, true),
    ];
    assert_eq!(*starts.lock().unwrap(), want);
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.attempts, m.retried, m.hedges_started, m.hedges_won), (6, 1, 4, 0));
}

#[test]
fn a_declined_failure_ends_the_job_at_once_and_drops_the_others() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.retries(3).hedge(hedge(10, 1)));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool
        .try_submit(
            job(&clock, &calls, &dropped, |a| {
                if a.is_hedge() {
                    (5, Err("404"))
                } else {
                    (100, Ok(1))
                }
            })
            .retry_if(|e: &&str| *e != "404"),
        )
        .unwrap();
    run_for(&mut sim, &clock, 15);
    assert!(matches!(sim.block(h), Err(JobError::Failed { error: "404", attempts: 2 })));
    assert_eq!(dropped.get(), 1, "the first attempt stopped with the job");
    balanced(&mut sim, &pool);
}

#[test]
fn each_hedge_has_its_own_timeout() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(30 * MS).hedge(hedge(20, 1)));
    let (calls, dropped) = (Count::new(), Count::new());
    // The first attempt times out at 30 ms; the hedge (from 20 ms) answers at 45 ms.
    let h = pool
        .try_submit(job(&clock, &calls, &dropped, |a| {
            if a.is_hedge() {
                (25, Ok(2))
            } else {
                (1000, Ok(1))
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 45);
    assert_eq!(sim.block(h), Ok(2));
    let m = balanced(&mut sim, &pool);
    assert_eq!((m.timed_out, m.hedges_won), (1, 1));
}

#[test]
fn a_hedge_takes_a_rate_token_and_waits_for_one() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(2).rate_limit(1, Duration::from_millis(100)).hedge(hedge(10, 1))
    });
    let (calls, dropped) = (Count::new(), Count::new());
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (seen, at) = (Arc::clone(&starts), clock.clone());
    let h = pool
        .try_submit(job(&clock, &calls, &dropped, move |a| {
            seen.lock().unwrap().push(at.now().as_millis());
            if a.is_hedge() {
                (10, Ok(2))
            } else {
                (1000, Ok(1))
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 200);
    assert_eq!(sim.block(h), Ok(2));
    assert_eq!(*starts.lock().unwrap(), [0, 100], "the hedge was due at 10 ms, its token at 100");
    balanced(&mut sim, &pool);
}

#[test]
fn a_job_can_refuse_the_pools_hedging() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.hedge(hedge(10, 3)));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (100, Ok(1))).no_hedge()).unwrap();
    run_for(&mut sim, &clock, 100);
    assert_eq!(sim.block(h), Ok(1));
    assert_eq!((calls.get(), balanced(&mut sim, &pool).hedges_started), (1, 0));
}

#[test]
fn cancelling_a_hedged_job_drops_every_attempt() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.hedge(hedge(10, 2)));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (1000, Ok(1)))).unwrap();
    run_for(&mut sim, &clock, 25);
    assert_eq!(calls.get(), 3);
    assert!(h.cancel());
    sim.run_until_stalled();
    assert_eq!(dropped.get(), 3, "every attempt stopped at the cancel");
    assert_eq!(sim.block(h), Err(JobError::Cancelled { attempts: 3 }));
    balanced(&mut sim, &pool);
}

#[test]
fn hedges_start_only_while_the_breaker_is_closed() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(60));
    let pool =
        clock_pool(&mut sim, &clock, |b| b.workers(2).hedge(hedge(10, 1)).circuit_breaker(breaker));
    let (calls, dropped) = (Count::new(), Count::new());
    let hedged = pool.try_submit(job(&clock, &calls, &dropped, |_| (50, Ok(2)))).unwrap();
    let failing = pool.try_submit(job(&clock, &calls, &dropped, |_| (5, Err("503"))).no_hedge());
    run_for(&mut sim, &clock, 5);
    assert!(sim.block(failing.unwrap()).is_err());
    // The breaker opened at 5 ms (one failure); the hedge due at 10 ms does not start.
    run_for(&mut sim, &clock, 100);
    assert_eq!(sim.block(hedged), Ok(2));
    assert_eq!(balanced(&mut sim, &pool).hedges_started, 0);
}

// --- which failures retry --------------------------------------------------------------------

#[test]
fn a_post_that_timed_out_is_not_sent_again() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(10 * MS).retries(3));
    let (calls, dropped) = (Count::new(), Count::new());
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&failures);
    let post =
        job(
            &clock,
            &calls,
            &dropped,
            |a| if a.number() == 1 { (1, Err("503")) } else { (100, Ok(1)) },
        )
        .retry_when(move |f: Failure<'_, &str>| {
            seen.lock().unwrap().push(format!("{f:?}"));
            matches!(f, Failure::Error(&"503"))
        });
    let h = pool.try_submit(post).unwrap();
    run_for(&mut sim, &clock, 50);
    assert_eq!(sim.block(h), Err(JobError::TimedOut { attempts: 2 }));
    assert_eq!(*failures.lock().unwrap(), ["Error(\"503\")", "TimedOut"]);
    assert_eq!(calls.get(), 2, "the timed-out POST was not sent a third time");
    balanced(&mut sim, &pool);
}

#[test]
fn the_simple_predicate_still_retries_timeouts() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(10 * MS).retries(2));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool
        .try_submit(job(&clock, &calls, &dropped, |_| (100, Ok(1))).retry_if(|_: &&str| false))
        .unwrap();
    run_for(&mut sim, &clock, 50);
    assert_eq!(sim.block(h), Err(JobError::TimedOut { attempts: 3 }));
    balanced(&mut sim, &pool);
}

#[cfg(panic = "unwind")]
#[test]
fn a_predicate_that_panics_on_a_timeout_ends_the_job() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.timeout(10 * MS).retries(2));
    let (calls, dropped) = (Count::new(), Count::new());
    let h = pool
        .try_submit(
            job(&clock, &calls, &dropped, |_| (100, Ok(1)))
                .retry_when(|_: Failure<'_, &str>| panic!("no verdict")),
        )
        .unwrap();
    run_for(&mut sim, &clock, 50);
    let err = sim.block(h).unwrap_err();
    assert!(
        matches!(err, JobError::Panicked { ref message, attempts: 1 } if message.as_deref() == Some("no verdict")),
        "{err:?}"
    );
    balanced(&mut sim, &pool);
}

#[test]
fn a_probes_round_starts_no_hedge() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let breaker = CircuitBreaker::ratio(75, 3, Duration::from_millis(1));
    let pool = clock_pool(&mut sim, &clock, |b| {
        logged(b, &log)
            .workers(2)
            .retries(1)
            .backoff(Backoff::constant(4 * MS))
            .circuit_breaker(breaker)
    });
    let (calls, dropped) = (Count::new(), Count::new());
    let starts = Arc::new(Mutex::new(Vec::new()));
    let (seen, at) = (Arc::clone(&starts), clock.clone());
    let h = pool
        .try_submit(
            job(&clock, &calls, &dropped, move |_| {
                seen.lock().unwrap().push(at.now().as_millis());
                (12, Err("503"))
            })
            .backoff(Backoff::constant(4 * MS))
            .hedge(hedge(10, 2)),
        )
        .unwrap();
    run_for(&mut sim, &clock, 100);
    let _ = sim.block(h);
    assert_eq!(*starts.lock().unwrap(), [0, 10, 20, 36], "{:?}", log.lock().unwrap());
}

/// "A begun attempt is polled at least once": a hedge begun in the same wake-up in which the
/// first attempt then ends still runs (here the first attempt, due with the hedge at 20 ms,
/// is ready only when polled again, as a future that yields once is).
#[test]
fn every_hedge_begun_runs_even_if_the_first_attempt_then_wins() {
    use std::future::Future;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::task::Poll;
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| b.hedge(hedge(20, 1)));
    let ran = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&ran);
    let c = clock.clone();
    let h = pool
        .try_submit(Job::new(move |a: Attempt| {
            let (sleep, ran) = (c.sleep(Duration::from_millis(20)), Arc::clone(&r));
            let mut sleep = Box::pin(sleep);
            let mut yielded = false;
            std::future::poll_fn(move |cx| {
                if a.is_hedge() {
                    ran.fetch_add(1, Ordering::SeqCst); // the hedge ran
                    return Poll::Pending; // and never ends by itself
                }
                std::task::ready!(sleep.as_mut().poll(cx));
                if !std::mem::replace(&mut yielded, true) {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Ok::<u32, &str>(1))
            })
        }))
        .unwrap();
    run_for(&mut sim, &clock, 25);
    assert_eq!(sim.block(h), Ok(1));
    let m = balanced(&mut sim, &pool);
    assert_eq!(
        (m.hedges_started, ran.load(Ordering::SeqCst)),
        (1, 1),
        "a hedge counted as started whose function never ran"
    );
}

/// A retry that the open breaker would refuse does not first wait for a rate token: its job
/// ends at once, and the token line is left to attempts that can run.
#[test]
fn a_retry_the_open_breaker_refuses_does_not_wait_for_a_token() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(10));
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(1).rate_limit(1, Duration::from_millis(100)).circuit_breaker(breaker)
    });
    let (calls, dropped) = (Count::new(), Count::new());
    // Fails at 1 ms and opens the breaker; its retry would wait for a token until 100 ms.
    let h = pool.try_submit(job(&clock, &calls, &dropped, |_| (1, Err("503"))).retries(1)).unwrap();
    run_for(&mut sim, &clock, 5);
    assert!(h.is_finished(), "the refused retry waited for a token");
    assert_eq!(sim.block(h), Err(JobError::CircuitOpen { attempts: 1 }));
    assert_eq!(calls.get(), 1);
    balanced(&mut sim, &pool);
}
