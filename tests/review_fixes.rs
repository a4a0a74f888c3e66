//! What a second review (of the policy fixes) found: each test states a promise the code
//! before its fix broke (each failed then). Deterministic, on the manual clock of
//! `tests/common`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{clock_pool, Clock, ClockSleep, Count, Sim, MS};
use workcrew::{Attempt, Backoff, CircuitBreaker, Job};

/// An attempt that takes `ms` on the clock, then returns `result`.
struct Step {
    sleep: ClockSleep,
    result: Option<Result<u32, &'static str>>,
}

impl Future for Step {
    type Output = Result<u32, &'static str>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
        Poll::Ready(self.result.take().expect("polled after it ended"))
    }
}

fn job(
    clock: &Clock,
    calls: &Count,
    plan: impl Fn(Attempt) -> (u64, Result<u32, &'static str>) + Send + 'static,
) -> Job<impl FnMut(Attempt) -> Step + Send> {
    let (clock, calls) = (clock.clone(), calls.clone());
    Job::new(move |a: Attempt| {
        calls.hit();
        let (ms, result) = plan(a);
        Step { sleep: clock.sleep(Duration::from_millis(ms)), result: Some(result) }
    })
    .backoff(Backoff::none())
}

fn run_for(sim: &mut Sim, clock: &Clock, ms: u64) {
    for _ in 0..ms {
        sim.run_until_stalled();
        clock.advance(MS);
    }
    sim.run_until_stalled();
}

// --- a shutdown from inside a job waits out another worker's timers --------------------------

/// `Pool::shutdown`: "From inside one of the pool's own jobs ... it waits for every *other*
/// worker to stop; the calling job goes on once it returns". The other worker has nothing to
/// run, but it times a breaker cool-down, and a stopping worker now waits (`poll_quiet`) until
/// no job runs: the one job running is the caller, which waits for that worker. So the
/// shutdown returns only when the 10 s cool-down ends. (Passed at 06a6e4d.)
#[test]
fn a_shutdown_from_inside_a_job_does_not_wait_out_a_cooldown() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(10));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).circuit_breaker(breaker));
    let calls = Count::new();
    // Opens the breaker at 1 ms: its worker times the cool-down, until 10 s.
    let opener = pool.try_submit(job(&clock, &calls, |_| (1, Err("503")))).unwrap();
    let (p, c) = (pool.clone(), clock.clone());
    let stopper = pool
        .try_submit(Job::new(move |_: Attempt| {
            let (p, c) = (p.clone(), c.clone());
            async move {
                c.sleep(5 * MS).await;
                let report = p.shutdown().await;
                Ok::<bool, ()>(report.timed_out)
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 3);
    assert!(sim.block(opener).is_err());
    run_for(&mut sim, &clock, 100);
    assert_eq!(
        sim.poll_once(stopper),
        Some(Ok(false)),
        "the job's shutdown still waits at {:?} for a worker with nothing to run",
        clock.now()
    );
}

/// The same with `shutdown_timeout(1 s)`: nothing is left to run but the caller, yet the
/// time limit passes (the other worker waits for its 10 s cool-down), the pool is aborted,
/// and the calling job itself is cancelled. (Passed at 06a6e4d.)
#[test]
fn a_shutdown_timeout_from_inside_a_job_does_not_abort_it_for_a_cooldown() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(10));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).circuit_breaker(breaker));
    let calls = Count::new();
    let opener = pool.try_submit(job(&clock, &calls, |_| (1, Err("503")))).unwrap();
    let (p, c) = (pool.clone(), clock.clone());
    let timed_out = Arc::new(Mutex::new(None));
    let t = Arc::clone(&timed_out);
    let stopper = pool
        .try_submit(Job::new(move |_: Attempt| {
            let (p, c, t) = (p.clone(), c.clone(), Arc::clone(&t));
            async move {
                c.sleep(5 * MS).await;
                let report = p.shutdown_timeout(Duration::from_secs(1)).await;
                *t.lock().unwrap() = Some(report.timed_out);
                Ok::<u32, ()>(1)
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 3);
    assert!(sim.block(opener).is_err());
    for _ in 0..20 {
        run_for(&mut sim, &clock, 100);
    }
    assert_eq!(
        (*timed_out.lock().unwrap(), sim.poll_once(stopper)),
        (Some(false), Some(Ok(1))),
        "nothing was left to run, yet the shutdown timed out and cancelled its own job"
    );
}

/// The same cause with rate tokens (older than these commits: fails at 06a6e4d too): a worker
/// holding a token for a 10 s interval keeps a 1 s `shutdown_timeout` from inside a job from
/// ever finishing gracefully.
#[test]
fn a_shutdown_timeout_from_inside_a_job_does_not_abort_it_for_a_rate_token() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool =
        clock_pool(&mut sim, &clock, |b| b.workers(2).rate_limit(10, Duration::from_secs(10)));
    let calls = Count::new();
    let first = pool.try_submit(job(&clock, &calls, |_| (1, Ok(0)))).unwrap();
    let (p, c) = (pool.clone(), clock.clone());
    let timed_out = Arc::new(Mutex::new(None));
    let t = Arc::clone(&timed_out);
    let stopper = pool
        .try_submit(Job::new(move |_: Attempt| {
            let (p, c, t) = (p.clone(), c.clone(), Arc::clone(&t));
            async move {
                c.sleep(5 * MS).await;
                let report = p.shutdown_timeout(Duration::from_secs(1)).await;
                *t.lock().unwrap() = Some(report.timed_out);
                Ok::<u32, ()>(1)
            }
        }))
        .unwrap();
    run_for(&mut sim, &clock, 3);
    assert_eq!(sim.block(first), Ok(0));
    for _ in 0..20 {
        run_for(&mut sim, &clock, 100);
    }
    assert_eq!(
        (*timed_out.lock().unwrap(), sim.poll_once(stopper)),
        (Some(false), Some(Ok(1))),
        "nothing was left to run, yet the shutdown timed out and cancelled its own job"
    );
}
