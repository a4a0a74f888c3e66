//! What two reviews of the policies across attempts found: each test states a promise of the
//! docs that the code before its fix broke (each failed then). Deterministic, on the manual
//! clock of `tests/common`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::Cell as StdCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{clock_pool, Clock, ClockSleep, Count, Sim, MS};
use workcrew::{
    Attempt, Backoff, CircuitBreaker, Job, JobError, JobEvent, PoolBuilder, RetryBudget,
};

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

/// A job whose attempt `a` takes `plan(a).0` ms and returns `plan(a).1`; calls counted.
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

type Log = Arc<Mutex<Vec<String>>>;

fn count(log: &Log, text: &str) -> usize {
    log.lock().unwrap().iter().filter(|e| e.contains(text)).count()
}

// --- 1. per-key breakers: a forgotten breaker restarts at generation 0 -----------------------

/// `CircuitBreaker`: "An attempt admitted before the breaker opened and ending after it counts
/// for nothing". A per-key breaker that closes again is forgotten (idle), and the next one for
/// the key starts at generation 0 again: an attempt admitted at generation 0, before the first
/// opening, then matches the fresh breaker and its failure opens it.
#[test]
fn a_forgotten_per_key_breaker_counts_an_attempt_admitted_before_it_opened() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let log = Log::default();
    let l = Arc::clone(&log);
    let breaker = CircuitBreaker::consecutive(1, Duration::from_millis(100)).per_key();
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(3)
            .circuit_breaker(breaker)
            .on_event(move |e: &JobEvent<'_>| l.lock().unwrap().push(format!("{e:?}")))
    });
    let calls = Count::new();
    // Admitted at 0 ms (generation 0), fails at 500 ms.
    let slow = pool.try_submit(job(&clock, &calls, |_| (500, Err("503"))).key("k")).unwrap();
    // Fails at 10 ms: opens the key's breaker; half-open at 110 ms.
    let fast = pool.try_submit(job(&clock, &calls, |_| (10, Err("503"))).key("k")).unwrap();
    run_for(&mut sim, &clock, 150);
    assert!(sim.block(fast).is_err());
    assert_eq!(count(&log, "CircuitHalfOpen"), 1);
    // The probe closes it at 160 ms: the key's breaker is idle, and forgotten.
    let probe = pool.try_submit(job(&clock, &calls, |_| (10, Ok(1))).key("k")).unwrap();
    run_for(&mut sim, &clock, 20);
    assert_eq!(sim.block(probe), Ok(1));
    assert_eq!(count(&log, "CircuitClosed"), 1);
    // The slow attempt, admitted before the opening, fails at 500 ms: it should count for
    // nothing.
    run_for(&mut sim, &clock, 340);
    assert!(sim.block(slow).is_err());
    let next = pool.try_submit(job(&clock, &calls, |_| (1, Ok(2))).key("k")).unwrap();
    run_for(&mut sim, &clock, 5);
    assert_eq!(
        (sim.block(next), count(&log, "CircuitOpened")),
        (Ok(2), 1),
        "a stale attempt re-opened the forgotten breaker: {:?}",
        log.lock().unwrap()
    );
}

// --- 2. a probe dropped with its worker never frees the half-open breaker -------------------

thread_local! {
    /// The id of the wrapped worker being polled (`usize::MAX`: none).
    static POLLING: StdCell<usize> = const { StdCell::new(usize::MAX) };
}

/// A worker an executor can drop (a task aborted): polled until `kill` is set, then dropped.
struct Killable {
    inner: Option<workcrew::Worker>,
    kill: Arc<AtomicBool>,
    id: usize,
}

impl Future for Killable {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.kill.load(Ordering::SeqCst) {
            self.inner = None; // the executor drops the task
            return Poll::Ready(());
        }
        POLLING.with(|p| p.set(self.id));
        let polled = Pin::new(self.inner.as_mut().unwrap()).poll(cx);
        POLLING.with(|p| p.set(usize::MAX));
        polled
    }
}

/// The breaker docs: a cancelled probe leaves the breaker "half-open, for another probe", and
/// "a worker that stops with a cool-down still running makes the breaker half-open at once, so
/// that no breaker stays open with nobody to close it". A worker dropped while it runs the
/// probe settles the probe's job as cancelled, but never tells the breaker: it stays
/// half-open with its probe "out", and refuses every job from then on.
#[test]
fn a_probe_dropped_with_its_worker_lets_another_probe_through() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let sleeper: Box<dyn Fn(Duration) -> ClockSleep + Send + Sync> = Box::new(clock.sleeper());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_millis(10));
    let (pool, workers) =
        PoolBuilder::new(sleeper).workers(2).circuit_breaker(breaker).build_workers().unwrap();
    let kills: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
    for (id, w) in workers.into_iter().enumerate() {
        sim.spawn(Killable { inner: Some(w), kill: Arc::clone(&kills[id]), id });
    }
    let calls = Count::new();
    // Holds one worker until 50 ms (its verdict is stale by then).
    let long = pool.try_submit(job(&clock, &calls, |_| (50, Ok(0)))).unwrap();
    // Opens the breaker at 1 ms; half-open at 11 ms.
    let fail = pool.try_submit(job(&clock, &calls, |_| (1, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 20);
    assert!(sim.block(fail).is_err());
    // The probe, on the other worker; it records which worker runs it.
    let ran_on = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&ran_on);
    let probe = pool
        .try_submit(job(&clock, &calls, move |_| {
            *seen.lock().unwrap() = Some(POLLING.with(StdCell::get));
            (10_000, Ok(1))
        }))
        .unwrap();
    sim.run_until_stalled();
    let w = ran_on.lock().unwrap().expect("the probe started");
    kills[w].store(true, Ordering::SeqCst);
    sim.spawn(async {}); // wake the executor: it drops the probe's worker
    sim.run_until_stalled();
    assert_eq!(sim.block(probe), Err(JobError::Cancelled { attempts: 1 }));
    run_for(&mut sim, &clock, 40);
    assert_eq!(sim.block(long), Ok(0));
    // The probe was cancelled: the next job should be the new probe.
    let next = pool.try_submit(job(&clock, &calls, |_| (1, Ok(2)))).unwrap();
    run_for(&mut sim, &clock, 5);
    assert_eq!(sim.block(next), Ok(2), "the breaker stayed half-open with a dead probe");
}

// --- 3. the retry budget -------------------------------------------------------------------

/// `RetryBudget`: "retries are allowed while retries ≤ percent / 100 × first attempts +
/// min_retries". A retry is withdrawn from the budget before its backoff; when it is then
/// never sent (the job is cancelled in its backoff, its deadline passes there, or the breaker
/// refuses it), the budget still counts it, and denies a real retry later.
#[test]
fn a_retry_that_is_never_sent_takes_nothing_from_the_budget() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let budget = RetryBudget::new(0).min_retries(1);
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retries(1).retry_budget(budget));
    let calls = Count::new();
    // Fails at 1 ms, withdraws the one retry the budget allows, backs off 100 ms: cancelled.
    let cancelled = pool
        .try_submit(
            job(&clock, &calls, |_| (1, Err("503")))
                .backoff(Backoff::constant(Duration::from_millis(100))),
        )
        .unwrap();
    run_for(&mut sim, &clock, 10);
    assert!(cancelled.cancel());
    assert_eq!(sim.block(cancelled), Err(JobError::Cancelled { attempts: 1 }));
    // No retry has been sent yet: this job's one retry is within the budget.
    let h = pool
        .try_submit(job(&clock, &calls, |a| (1, if a.number() == 1 { Err("503") } else { Ok(7) })))
        .unwrap();
    run_for(&mut sim, &clock, 10);
    let result = sim.block(h);
    let m = sim.block(pool.shutdown()).metrics;
    assert_eq!((result, m.retried, m.retries_denied), (Ok(7), 1, 0), "{m:?}");
}

/// `RetryBudget::window`: "How many of the latest first attempts the budget remembers ...
/// between `window` less a tenth and `window` are remembered". With `window(11)` each of the
/// ten slots holds `ceil(11 / 10) = 2` first attempts, so up to 20 are remembered, and
/// `new(100)` allows 19 retries over "the last 11" first attempts.
#[test]
fn a_window_of_11_remembers_at_most_11_first_attempts() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let budget = RetryBudget::new(100).min_retries(0).window(11);
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(1).retry_budget(budget));
    let calls = Count::new();
    for _ in 0..20 {
        drop(pool.try_submit(job(&clock, &calls, |_| (1, Ok(0)))).unwrap());
        run_for(&mut sim, &clock, 1);
    }
    // One job that always fails, with retries to spare: only the budget stops it.
    let h = pool.try_submit(job(&clock, &calls, |_| (1, Err("503"))).retries(100)).unwrap();
    run_for(&mut sim, &clock, 200);
    assert!(sim.block(h).is_err());
    let m = sim.block(pool.shutdown()).metrics;
    assert!(
        m.retried <= 11,
        "100% of at most 11 first attempts allows at most 11 retries, got {}: {m:?}",
        m.retried
    );
}

// --- 4. a graceful shutdown ends a cool-down early -----------------------------------------

/// The breaker refuses every attempt for its whole cool-down. The cool-down is held by the
/// worker whose attempt opened it, and a worker that stops makes the breaker half-open at once:
/// in a graceful shutdown (or `close()`), that worker stops as soon as the queue is empty, while
/// other workers still run jobs whose retries are then let through as probes in the middle of
/// the cool-down (against an outage, the moment the pool is being stopped).
#[test]
fn a_closing_pool_keeps_the_breaker_open_for_its_cooldown() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(1, Duration::from_secs(1));
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).circuit_breaker(breaker));
    let calls = Count::new();
    // Attempt 1 fails at 20 ms (admitted before the opening: no verdict); its retry is due at
    // 70 ms, in the cool-down.
    let retrying = pool
        .try_submit(
            job(&clock, &calls, |a| (20, if a.number() == 1 { Err("503") } else { Ok(2) }))
                .retries(1)
                .backoff(Backoff::constant(Duration::from_millis(50))),
        )
        .unwrap();
    // Opens the breaker at 1 ms, until 1001 ms.
    let opener = pool.try_submit(job(&clock, &calls, |_| (1, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 5);
    assert!(sim.block(opener).is_err());
    pool.close(); // nothing more to submit; the opener's worker stops
    run_for(&mut sim, &clock, 200);
    assert_eq!(
        (sim.block(retrying), calls.get()),
        (Err(JobError::CircuitOpen { attempts: 1 }), 2),
        "a retry reached the service 70 ms into a 1 s cool-down"
    );
}

// --- 5. a retry admitted by the breaker before its rate-token wait --------------------------

/// "Open: an attempt that wants to start is refused ... without calling the service". A retry
/// asks the breaker *before* it waits for its rate token, and is not asked again: a breaker
/// that opens during the wait does not stop it, and the retry reaches the service while the
/// breaker is open.
#[test]
fn a_retry_that_waited_for_a_token_is_refused_by_a_breaker_opened_meanwhile() {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let breaker = CircuitBreaker::consecutive(2, Duration::from_secs(10));
    let pool = clock_pool(&mut sim, &clock, |b| {
        b.workers(2).rate_limit(2, Duration::from_millis(100)).circuit_breaker(breaker)
    });
    let calls = Count::new();
    // Fails at 5 ms (1 failure in a row); its retry is admitted (closed), then waits for a
    // token until 100 ms.
    let retrying = pool
        .try_submit(
            job(&clock, &calls, |a| (5, if a.number() == 1 { Err("503") } else { Ok(2) }))
                .retries(1),
        )
        .unwrap();
    // Fails at 10 ms: 2 in a row, the breaker opens.
    let opener = pool.try_submit(job(&clock, &calls, |_| (10, Err("503")))).unwrap();
    run_for(&mut sim, &clock, 20);
    assert!(sim.block(opener).is_err());
    assert_eq!(pool.metrics().circuit_opened, 1);
    run_for(&mut sim, &clock, 200);
    assert_eq!(
        (sim.block(retrying), calls.get()),
        (Err(JobError::CircuitOpen { attempts: 1 }), 2),
        "the retry was sent at 100 ms, with the breaker open since 10 ms"
    );
}

// --- the second review: a shutdown from inside a job waited out another worker's timers ----

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
