//! Property tests: random pools and random job scripts, on the manual clock, checked against a
//! reference model written plainly below. Every job's outcome and attempt count, and the final
//! metrics, must match the model.
//!
//! Ties are modelled as the driver resolves them: at any instant, clock events (attempts ending,
//! timeouts, backoffs) run first, and a worker they free takes the next job at once; then the
//! cancels due at that instant apply, and only then do workers freed by a cancel take jobs. A job
//! holds its worker from its first attempt through its backoffs to its end, so scheduling is a
//! FIFO list schedule.
#![cfg(all(not(target_arch = "wasm32"), panic = "unwind"))]

mod common;

use std::time::Duration;

use common::{clock_pool, Clock, Sim, MS};
use futures_lite::future;
use proptest::prelude::*;
use workcrew::{Attempt, Backoff, Job, JobError};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ok,
    /// An error the retry predicate accepts.
    Err,
    /// An error the retry predicate refuses.
    Fatal,
    Panic,
    Hang,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    ms: u64,
    kind: Kind,
}

#[derive(Clone, Debug)]
struct Script {
    /// Attempt i follows steps[min(i, len) - 1].
    steps: Vec<Step>,
    cancel_at: Option<u64>,
    retries: Option<u32>,
    timeout: Option<Option<u64>>,
}

#[derive(Clone, Debug)]
struct Config {
    workers: usize,
    queue: usize,
    retries: u32,
    timeout: Option<u64>,
    backoff: u64,
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Succeeded(u32),
    Failed(u32),
    TimedOut(u32),
    Panicked(u32),
    Cancelled(u32),
    Rejected,
}

#[derive(Default, Debug, PartialEq)]
struct Totals {
    submitted: u64,
    rejected: u64,
    started: u64,
    succeeded: u64,
    failed: u64,
    cancelled: u64,
    attempts: u64,
    retried: u64,
    timed_out: u64,
    panicked: u64,
}

// --- the reference model ------------------------------------------------------------------------

/// What one job did to its worker.
struct Run {
    outcome: Outcome,
    /// When its worker is free again, and whether a cancel freed it.
    until: (u64, bool),
    timed_out: u64,
    panicked: u64,
}

/// Runs one job that starts at `start`; `in_cancel_phase` if its worker was freed by a cancel at
/// that instant (a job that takes no time at all ends in the same phase it started in).
fn model_job(cfg: &Config, s: &Script, start: u64, in_cancel_phase: bool) -> Run {
    let freed = |t: u64| (t, t == start && in_cancel_phase);
    let retries = s.retries.unwrap_or(cfg.retries);
    let timeout = s.timeout.unwrap_or(cfg.timeout);
    let (mut t, mut attempts, mut timed_out, mut panicked) = (start, 0u32, 0, 0);
    let cancelled_by = |end: u64| s.cancel_at.filter(|&c| c < end);
    loop {
        attempts += 1;
        let step = s.steps[(attempts as usize).min(s.steps.len()) - 1];
        let runs = if step.kind == Kind::Hang { u64::MAX } else { step.ms };
        let (ends, times_out) = match timeout {
            Some(to) if to < runs => (t + to, true),
            _ => (t.saturating_add(runs), false),
        };
        if let Some(c) = cancelled_by(ends) {
            return Run {
                outcome: Outcome::Cancelled(attempts),
                until: (c, true),
                timed_out,
                panicked,
            };
        }
        t = ends;
        let (failure, retryable) = if times_out {
            timed_out += 1;
            (Outcome::TimedOut(attempts), true)
        } else {
            match step.kind {
                Kind::Ok => {
                    let outcome = Outcome::Succeeded(attempts);
                    return Run { outcome, until: freed(t), timed_out, panicked };
                }
                Kind::Err => (Outcome::Failed(attempts), true),
                Kind::Fatal => (Outcome::Failed(attempts), false),
                Kind::Panic => {
                    panicked += 1;
                    (Outcome::Panicked(attempts), true)
                }
                Kind::Hang => unreachable!("a hang without a timeout or a cancel is not generated"),
            }
        };
        if !retryable || attempts > retries {
            return Run { outcome: failure, until: freed(t), timed_out, panicked };
        }
        if let Some(c) = cancelled_by(t + cfg.backoff) {
            return Run {
                outcome: Outcome::Cancelled(attempts),
                until: (c, true),
                timed_out,
                panicked,
            };
        }
        t += cfg.backoff;
    }
}

/// All jobs are submitted at time 0, before any worker runs: the first `queue` are accepted.
fn model(cfg: &Config, scripts: &[Script]) -> (Vec<Outcome>, Totals) {
    // When each worker is free, and whether a cancel freed it (then it takes a job only after
    // the other cancels due at that instant).
    let mut free = vec![(0u64, false); cfg.workers];
    let mut outcomes = Vec::new();
    let mut totals = Totals::default();
    for (i, s) in scripts.iter().enumerate() {
        if i >= cfg.queue {
            outcomes.push(Outcome::Rejected);
            totals.rejected += 1;
            continue;
        }
        totals.submitted += 1;
        let w = (0..free.len()).min_by_key(|&w| free[w]).unwrap();
        let (start, by_cancel) = free[w];
        // Cancelled while queued: the worker skips it.
        if s.cancel_at.is_some_and(|c| c < start || (c == start && by_cancel)) {
            outcomes.push(Outcome::Cancelled(0));
            totals.cancelled += 1;
            continue;
        }
        let Run { outcome, until, timed_out, panicked } = model_job(cfg, s, start, by_cancel);
        free[w] = until;
        let attempts = match outcome {
            Outcome::Succeeded(n) => {
                totals.succeeded += 1;
                n
            }
            Outcome::Failed(n) | Outcome::TimedOut(n) | Outcome::Panicked(n) => {
                totals.failed += 1;
                n
            }
            Outcome::Cancelled(n) => {
                totals.cancelled += 1;
                n
            }
            Outcome::Rejected => unreachable!(),
        };
        totals.started += 1;
        totals.attempts += u64::from(attempts);
        totals.retried += u64::from(attempts - 1);
        totals.timed_out += timed_out;
        totals.panicked += panicked;
        outcomes.push(outcome);
    }
    (outcomes, totals)
}

// --- the real pool, driven the same way ---------------------------------------------------------

fn run_pool(cfg: &Config, scripts: &[Script]) -> (Vec<Outcome>, Totals) {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        let b = b
            .workers(cfg.workers)
            .queue(cfg.queue)
            .retries(cfg.retries)
            .backoff(Backoff::constant(MS * cfg.backoff as u32));
        match cfg.timeout {
            Some(t) => b.timeout(MS * t as u32),
            None => b,
        }
    });
    let mut handles = Vec::new();
    for s in scripts {
        let (steps, c) = (s.steps.clone(), clock.clone());
        let mut job = Job::new(move |a: Attempt| {
            let step = steps[(a.number() as usize).min(steps.len()) - 1];
            let sleep = c.sleep(MS * step.ms as u32);
            async move {
                sleep.await;
                match step.kind {
                    Kind::Ok => Ok(a.number()),
                    Kind::Err => Err(true),
                    Kind::Fatal => Err(false),
                    Kind::Panic => panic!("scripted panic"),
                    Kind::Hang => future::pending().await,
                }
            }
        })
        .retry_if(|retryable: &bool| *retryable);
        if let Some(r) = s.retries {
            job = job.retries(r);
        }
        match s.timeout {
            Some(Some(t)) => job = job.timeout(MS * t as u32),
            Some(None) => job = job.no_timeout(),
            None => {}
        }
        handles.push(pool.try_submit(job).ok());
    }
    let mut cancels: Vec<(u64, usize)> =
        scripts.iter().enumerate().filter_map(|(i, s)| s.cancel_at.map(|c| (c, i))).collect();
    cancels.sort();
    let mut cancels = cancels.into_iter().peekable();
    let now = |clock: &Clock| clock.now().as_millis() as u64;
    loop {
        sim.run_until_stalled();
        if handles.iter().flatten().all(|h| h.is_finished()) && cancels.peek().is_none() {
            break;
        }
        let deadline = clock.next_deadline().map(|d| d.as_millis() as u64);
        let cancel = cancels.peek().map(|c| c.0);
        let next = match (deadline, cancel) {
            (Some(d), Some(c)) => d.min(c),
            (Some(d), None) => d,
            (None, Some(c)) => c,
            (None, None) => panic!("stuck at {} ms with unfinished jobs", now(&clock)),
        };
        clock.advance(Duration::from_millis(next - now(&clock)));
        sim.run_until_stalled();
        while cancels.peek().is_some_and(|c| c.0 == next) {
            let (_, i) = cancels.next().unwrap();
            if let Some(h) = &handles[i] {
                h.cancel();
            }
        }
    }
    let outcomes = handles
        .into_iter()
        .map(|h| match h {
            None => Outcome::Rejected,
            Some(h) => match sim.block(h) {
                Ok(n) => Outcome::Succeeded(n),
                Err(JobError::Failed { attempts, .. }) => Outcome::Failed(attempts),
                Err(JobError::TimedOut { attempts }) => Outcome::TimedOut(attempts),
                Err(JobError::Panicked { attempts, .. }) => Outcome::Panicked(attempts),
                Err(JobError::Cancelled { attempts }) => Outcome::Cancelled(attempts),
            },
        })
        .collect();
    let m = sim.block(pool.shutdown()).metrics;
    assert_eq!((m.queued, m.running), (0, 0));
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "metrics balance");
    let totals = Totals {
        submitted: m.submitted,
        rejected: m.rejected,
        started: m.started,
        succeeded: m.succeeded,
        failed: m.failed,
        cancelled: m.cancelled,
        attempts: m.attempts,
        retried: m.retried,
        timed_out: m.timed_out,
        panicked: m.panicked,
    };
    (outcomes, totals)
}

// --- generators ---------------------------------------------------------------------------------

fn step() -> impl Strategy<Value = Step> {
    (0u64..5, prop_oneof![4 => Just(Kind::Ok), 3 => Just(Kind::Err), 1 => Just(Kind::Fatal), 1 => Just(Kind::Panic), 2 => Just(Kind::Hang)])
        .prop_map(|(k, kind)| Step { ms: k * 4, kind })
}

fn timeout() -> impl Strategy<Value = u64> {
    (0u64..6).prop_map(|k| 4 * k + 2) // 2, 6, …, 22 ms: never equal to a duration
}

fn config() -> impl Strategy<Value = Config> {
    (1usize..4, 1usize..10, 0u32..4, proptest::option::weighted(0.7, timeout()), 0u64..4).prop_map(
        |(workers, queue, retries, timeout, b)| Config {
            workers,
            queue,
            retries,
            timeout,
            backoff: b * 4,
        },
    )
}

fn script() -> impl Strategy<Value = Script> {
    (
        proptest::collection::vec(step(), 1..4),
        proptest::option::weighted(0.3, (0u64..60).prop_map(|c| 2 * c + 1)),
        proptest::option::weighted(0.2, 0u32..4),
        proptest::option::weighted(0.2, proptest::option::of(timeout())),
    )
        .prop_map(|(steps, cancel_at, retries, timeout)| Script {
            steps,
            cancel_at,
            retries,
            timeout,
        })
}

/// A hang needs a timeout or a cancel to end; otherwise it would hang the pool (by design).
fn fix_hangs(cfg: &Config, mut s: Script) -> Script {
    let timeout = s.timeout.unwrap_or(cfg.timeout);
    if timeout.is_none() && s.cancel_at.is_none() {
        for step in &mut s.steps {
            if step.kind == Kind::Hang {
                step.kind = Kind::Err;
            }
        }
    }
    s
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let scripted = info.payload().downcast_ref::<&str>() == Some(&"scripted panic");
            if !scripted {
                default(info);
            }
        }));
    });
}

proptest! {
    // 4,000 cases unless `PROPTEST_CASES` says otherwise (proptest reads it into the default).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_pool_matches_the_model(
        cfg in config(),
        scripts in proptest::collection::vec(script(), 1..12),
    ) {
        quiet_panics();
        let scripts: Vec<_> = scripts.into_iter().map(|s| fix_hangs(&cfg, s)).collect();
        let (expected, expected_totals) = model(&cfg, &scripts);
        let (actual, totals) = run_pool(&cfg, &scripts);
        prop_assert_eq!(actual, expected);
        prop_assert_eq!(totals, expected_totals);
    }
}
