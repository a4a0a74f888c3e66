//! Property tests: random pools and random job scripts, on the manual clock, checked against a
//! reference model written plainly below. Every job's outcome, attempt count and the instant
//! each of its attempts started, what `clear` and `set_priority` returned, and the final
//! metrics (`submitted == succeeded + failed + cancelled`; nothing queued, running or waiting
//! on a key at rest) must match the model.
//!
//! The pool: a crew of `workers`, of which `concurrency` may run at once (changed at given
//! instants by `set_concurrency`), a queue of `queue`, maybe `per_key`, maybe a rate limit of
//! `count` attempt starts per `interval`, maybe paused over windows of time, maybe `clear()`ed
//! at an instant. Every job has a priority (a few levels), maybe a key, maybe a cancel and a
//! `set_priority` on its handle at given instants. Every job is submitted (`try_submit`) at
//! time 0, before any worker runs: the first `queue` are accepted.
//!
//! The model's rules (the issue's, and `PoolBuilder`'s and `Pool`'s docs):
//!
//! * A job holds its worker, its place in the concurrency and its key from its first attempt
//!   through its backoffs and retries to its end.
//! * A job may start when the pool is not paused, fewer jobs run than the concurrency, no
//!   retry waits for a rate token, and a rate token is free. The job that starts is the first
//!   queued job, highest priority first and in submission order within one priority, whose key
//!   (with `per_key`) runs fewer than `per_key` jobs; jobs of a busy key are passed over and
//!   keep their order. `set_priority` on a queued job puts it at the back of its new
//!   priority's line (and returns `true`); on any other, it changes nothing (`false`).
//! * With a rate limit every attempt start (first attempts and retries) takes a token, which
//!   comes back `interval` after that start. A retry, once its backoff is over, waits for a
//!   token in FIFO order, before any new job; pause and the concurrency do not hold it back.
//! * Pause: nothing new starts; running jobs and their retries go on. Shrinking the
//!   concurrency interrupts nothing. `clear()` cancels every queued job, nothing running.
//! * A cancel: a queued job ends `Cancelled(0)` at once; a running one ends `Cancelled(n)`,
//!   `n` the attempts begun, freeing its worker and key.
//!
//! Ties are modelled as the driver resolves them. At any instant, clock events run first
//! (attempts ending, timeouts, backoffs, rate tokens coming back), and workers they free take
//! the next jobs at once; then the actions due at that instant apply (cancels, then priority
//! changes, `clear`, pauses, resumes, concurrency changes, each kind in its given order), all
//! before any worker moves; only then do workers freed or woken by them take jobs. A job (or a
//! chain of retries) that takes no time at all ends in the phase it started in. Actions fall
//! on odd instants, durations and backoffs on multiples of 4, timeouts on 4k + 2.
//!
//! One tie is left open by design: within one phase the workers move one after another, so
//! when two or more things happen in one phase and rate tokens then run short, which of the
//! contenders got the tokens depends on which worker moved first (a job whose key was freed
//! in that phase, or a retry, against a new job). The issue asks nothing there, and the model
//! does not guess: such cases are flagged ambiguous and left out (about 8% of the cases; see
//! `Model::settle`). Without a rate limit the order the workers move in changes nothing: each
//! worker that ends a job frees the one place it takes next.
//!
//! Three scheduler bugs this test found (blocked jobs put back in reverse order; a blocked job
//! moved by `set_priority` jumping its new line; a key's line not ordered by priority) are
//! fixed (d7c56d4, 428c414); the cases it shrank them to are plain tests below.
#![cfg(all(not(target_arch = "wasm32"), panic = "unwind"))]

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
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
    priority: i32,
    key: Option<u64>,
    /// `set_priority(.1)` on its handle at `.0`.
    reprioritise: Option<(u64, i32)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    // The order of the variants is the order of actions due at one instant.
    Cancel(usize),
    SetPriority(usize, i32),
    Clear,
    Pause,
    Resume,
    Concurrency(usize),
}

#[derive(Clone, Debug)]
struct Config {
    workers: usize,
    /// The initial limit, 1 ..= workers.
    concurrency: usize,
    queue: usize,
    retries: u32,
    timeout: Option<u64>,
    backoff: u64,
    per_key: Option<usize>,
    /// At most `.0` attempt starts in any window of `.1` ms.
    rate: Option<(usize, u64)>,
    /// Pause at `.0`, resume at `.1`.
    pauses: Vec<(u64, u64)>,
    /// `set_concurrency(.1)` at `.0`.
    concurrency_at: Vec<(u64, usize)>,
    clear_at: Option<u64>,
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

/// A job's outcome and the instants its attempts started.
type Record = (Outcome, Vec<u64>);

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
    /// What each `clear()` returned.
    cleared: Vec<usize>,
    /// What each `set_priority` returned.
    reprioritised: Vec<bool>,
}

/// The actions of a run, in the order they apply.
fn actions(cfg: &Config, scripts: &[Script]) -> Vec<(u64, Action)> {
    let mut all: Vec<(u64, Action)> = scripts
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.cancel_at.map(|c| (c, Action::Cancel(i))))
        .collect();
    for (i, s) in scripts.iter().enumerate() {
        all.extend(s.reprioritise.map(|(t, p)| (t, Action::SetPriority(i, p))));
    }
    all.extend(cfg.clear_at.map(|c| (c, Action::Clear)));
    for &(p, r) in &cfg.pauses {
        all.push((p, Action::Pause));
        all.push((r, Action::Resume));
    }
    all.extend(cfg.concurrency_at.iter().map(|&(t, n)| (t, Action::Concurrency(n))));
    all.sort(); // stable: by instant, then kind, then job or value
    all
}

// --- the reference model ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Queued,
    /// Attempt `n` runs until `ends`, then times out or ends as its step says.
    Attempt {
        n: u32,
        ends: u64,
        times_out: bool,
    },
    /// Backing off after attempt `n`, until `until`.
    Backoff {
        n: u32,
        until: u64,
    },
    /// Attempt `n` failed; its retry waits for a rate token.
    Token {
        n: u32,
    },
    Done,
}

struct Model<'a> {
    cfg: &'a Config,
    scripts: &'a [Script],
    st: Vec<St>,
    records: Vec<Record>,
    /// Accepted jobs, in the order they may start: priority, then place in line.
    order: Vec<usize>,
    /// Each job's priority and place in line (its submission, or its last `set_priority`).
    priority: Vec<i32>,
    place: Vec<usize>,
    next_place: usize,
    running: usize,
    keys: BTreeMap<u64, usize>,
    /// When each rate token out comes back.
    tokens: Vec<u64>,
    token_queue: VecDeque<usize>,
    paused: bool,
    concurrency: usize,
    totals: Totals,
    /// Events in the current phase (see the module docs' last paragraph).
    events: usize,
    ambiguous: bool,
    /// A `set_priority` of a keyed job under `per_key`: the path of the last bug fixed.
    hazard: bool,
}

impl Model<'_> {
    fn key_free(&self, j: usize) -> bool {
        match (self.cfg.per_key, self.scripts[j].key) {
            (Some(n), Some(k)) => self.keys.get(&k).copied().unwrap_or(0) < n,
            _ => true,
        }
    }

    fn token_free(&self) -> bool {
        self.cfg.rate.map_or(true, |(count, _)| self.tokens.len() < count)
    }

    fn begin(&mut self, j: usize, n: u32, t: u64) {
        let s = &self.scripts[j];
        if let Some((_, interval)) = self.cfg.rate {
            self.tokens.push(t + interval);
        }
        self.records[j].1.push(t);
        self.totals.attempts += 1;
        if n > 1 {
            self.totals.retried += 1;
        }
        let step = s.steps[(n as usize).min(s.steps.len()) - 1];
        let runs = if step.kind == Kind::Hang { u64::MAX } else { step.ms };
        let timeout = s.timeout.unwrap_or(self.cfg.timeout);
        self.st[j] = match timeout {
            Some(to) if to < runs => St::Attempt { n, ends: t + to, times_out: true },
            _ => St::Attempt { n, ends: t.saturating_add(runs), times_out: false },
        };
    }

    fn start(&mut self, j: usize, t: u64) {
        self.running += 1;
        if let (Some(_), Some(k)) = (self.cfg.per_key, self.scripts[j].key) {
            *self.keys.entry(k).or_default() += 1;
        }
        self.totals.started += 1;
        self.begin(j, 1, t);
    }

    fn end(&mut self, j: usize, outcome: Outcome) {
        let was_running = !matches!(self.st[j], St::Queued | St::Done);
        self.st[j] = St::Done;
        match outcome {
            Outcome::Succeeded(_) => self.totals.succeeded += 1,
            Outcome::Cancelled(_) => self.totals.cancelled += 1,
            Outcome::Rejected => unreachable!(),
            _ => self.totals.failed += 1,
        }
        self.records[j].0 = outcome;
        if was_running {
            self.running -= 1;
            if let (Some(_), Some(k)) = (self.cfg.per_key, self.scripts[j].key) {
                *self.keys.get_mut(&k).unwrap() -= 1;
            }
            self.token_queue.retain(|&q| q != j);
        }
    }

    /// Attempt `n` of job `j` ended at `t`.
    fn attempt_ended(&mut self, j: usize, n: u32, times_out: bool, t: u64) {
        let s = &self.scripts[j];
        let retries = s.retries.unwrap_or(self.cfg.retries);
        let step = s.steps[(n as usize).min(s.steps.len()) - 1];
        let (failure, retryable) = if times_out {
            self.totals.timed_out += 1;
            (Outcome::TimedOut(n), true)
        } else {
            match step.kind {
                Kind::Ok => return self.end(j, Outcome::Succeeded(n)),
                Kind::Err => (Outcome::Failed(n), true),
                Kind::Fatal => (Outcome::Failed(n), false),
                Kind::Panic => {
                    self.totals.panicked += 1;
                    (Outcome::Panicked(n), true)
                }
                Kind::Hang => unreachable!("a hang without a timeout ends only by a cancel"),
            }
        };
        if !retryable || n > retries {
            return self.end(j, failure);
        }
        if self.cfg.backoff > 0 {
            self.st[j] = St::Backoff { n, until: t + self.cfg.backoff };
        } else {
            self.retry(j, n, t);
        }
    }

    /// Job `j`'s retry after attempt `n`, at `t`: at once without a rate limit, else in line
    /// for a token.
    fn retry(&mut self, j: usize, n: u32, t: u64) {
        if self.cfg.rate.is_none() {
            self.begin(j, n + 1, t);
        } else {
            self.st[j] = St::Token { n };
            self.token_queue.push_back(j);
        }
    }

    /// Everything that follows at `t` from what happened so far: attempts and backoffs due
    /// now end, retries take tokens, new jobs start, until nothing changes.
    fn settle(&mut self, t: u64) {
        loop {
            let mut moved = false;
            for j in 0..self.st.len() {
                match self.st[j] {
                    St::Attempt { n, ends, times_out } if ends == t => {
                        self.events += 1;
                        self.attempt_ended(j, n, times_out, t);
                        moved = true;
                    }
                    St::Backoff { n, until } if until == t => {
                        self.events += 1;
                        self.retry(j, n, t);
                        moved = true;
                    }
                    _ => {}
                }
            }
            while let Some(&j) = self.token_queue.front() {
                if !self.token_free() {
                    break;
                }
                self.token_queue.pop_front();
                let St::Token { n } = self.st[j] else { unreachable!() };
                self.begin(j, n + 1, t);
                moved = true;
            }
            while self.token_queue.is_empty()
                && !self.paused
                && self.running < self.concurrency
                && self.token_free()
            {
                let next = self
                    .order
                    .iter()
                    .copied()
                    .find(|&j| self.st[j] == St::Queued && self.key_free(j));
                let Some(j) = next else { break };
                self.start(j, t);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        // Rate tokens ran short with several contenders moving in this phase: see the module
        // docs' last paragraph.
        let waiting = !self.token_queue.is_empty()
            || (!self.paused
                && self.running < self.concurrency
                && self.order.iter().any(|&j| self.st[j] == St::Queued && self.key_free(j)));
        if self.cfg.rate.is_some() && waiting && self.events >= 2 {
            self.ambiguous = true;
        }
        self.events = 0;
    }

    fn act(&mut self, action: Action) {
        self.events += 1;
        match action {
            Action::Cancel(j) => match self.st[j] {
                St::Queued => self.end(j, Outcome::Cancelled(0)),
                St::Attempt { n, .. } | St::Backoff { n, .. } => self.end(j, Outcome::Cancelled(n)),
                St::Token { n } => self.end(j, Outcome::Cancelled(n)),
                St::Done => self.events -= 1,
            },
            Action::Clear => {
                let queued: Vec<usize> =
                    self.order.iter().copied().filter(|&j| self.st[j] == St::Queued).collect();
                for &j in &queued {
                    self.end(j, Outcome::Cancelled(0));
                }
                self.totals.cleared.push(queued.len());
            }
            Action::SetPriority(j, p) => {
                self.events -= 1; // moves nobody
                if j >= self.cfg.queue {
                    return; // refused: no handle
                }
                let queued = self.st[j] == St::Queued;
                self.totals.reprioritised.push(queued);
                if queued {
                    self.priority[j] = p;
                    self.place[j] = self.next_place;
                    self.next_place += 1;
                    let (priority, place) = (&self.priority, &self.place);
                    self.order.sort_by_key(|&j| (std::cmp::Reverse(priority[j]), place[j]));
                    // A keyed job moved while keys limit: it may be (or be found) blocked.
                    self.hazard |= self.cfg.per_key.is_some() && self.scripts[j].key.is_some();
                }
            }
            Action::Pause => self.paused = true,
            Action::Resume => self.paused = false,
            Action::Concurrency(n) => self.concurrency = n,
        }
    }

    /// The next instant anything is due, after `t`.
    fn next_instant(&self, actions: &[(u64, Action)]) -> Option<u64> {
        let jobs = self.st.iter().filter_map(|s| match *s {
            St::Attempt { ends, .. } if ends != u64::MAX => Some(ends),
            St::Backoff { until, .. } => Some(until),
            _ => None,
        });
        jobs.chain(self.tokens.iter().copied()).chain(actions.first().map(|a| a.0)).min()
    }
}

/// What the model says of a run.
struct Expected {
    records: Vec<Record>,
    totals: Totals,
    /// An open tie (see the module docs): not compared.
    ambiguous: bool,
    /// A `set_priority` of a keyed job under `per_key`: the path of the last bug fixed.
    hazard: bool,
}

/// Runs the model.
fn model(cfg: &Config, scripts: &[Script]) -> Expected {
    let mut m = Model {
        cfg,
        scripts,
        st: vec![St::Done; scripts.len()],
        records: vec![(Outcome::Rejected, Vec::new()); scripts.len()],
        order: Vec::new(),
        running: 0,
        keys: BTreeMap::new(),
        tokens: Vec::new(),
        token_queue: VecDeque::new(),
        paused: false,
        concurrency: cfg.concurrency,
        totals: Totals::default(),
        events: 0,
        ambiguous: false,
        hazard: false,
        priority: scripts.iter().map(|s| s.priority).collect(),
        place: (0..scripts.len()).collect(),
        next_place: scripts.len(),
    };
    for j in 0..scripts.len() {
        if j < cfg.queue {
            m.st[j] = St::Queued;
            m.order.push(j);
            m.totals.submitted += 1;
        } else {
            m.totals.rejected += 1;
        }
    }
    m.order.sort_by_key(|&j| std::cmp::Reverse(scripts[j].priority)); // stable: FIFO within one
    let actions = actions(cfg, scripts);
    let mut actions = &actions[..];
    let mut t = 0;
    m.events = 1;
    m.settle(0);
    while let Some(next) = m.next_instant(actions) {
        t = next;
        // Clock phase: tokens come back, attempts and backoffs due end.
        let before = m.tokens.len();
        m.tokens.retain(|&r| r > t);
        m.events += before - m.tokens.len();
        m.settle(t);
        // Action phase.
        while let Some(&(at, action)) = actions.first().filter(|a| a.0 == t) {
            let _ = at;
            m.act(action);
            actions = &actions[1..];
        }
        m.settle(t);
    }
    assert!(m.st.iter().all(|&s| s == St::Done), "model stuck at {t} ms: {:?}", m.st);
    Expected { records: m.records, totals: m.totals, ambiguous: m.ambiguous, hazard: m.hazard }
}

// --- the real pool, driven the same way ---------------------------------------------------------

fn run_pool(cfg: &Config, scripts: &[Script]) -> (Vec<Record>, Totals) {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    let pool = clock_pool(&mut sim, &clock, |b| {
        let mut b = b
            .workers(cfg.workers)
            .concurrency(cfg.concurrency)
            .queue(cfg.queue)
            .retries(cfg.retries)
            .backoff(Backoff::constant(MS * cfg.backoff as u32));
        if let Some(t) = cfg.timeout {
            b = b.timeout(MS * t as u32);
        }
        if let Some(n) = cfg.per_key {
            b = b.per_key(n);
        }
        if let Some((count, interval)) = cfg.rate {
            b = b.rate_limit(count, MS * interval as u32);
        }
        b
    });
    let mut handles = Vec::new();
    let mut starts = Vec::new();
    for s in scripts {
        let (steps, c) = (s.steps.clone(), clock.clone());
        let started = Arc::new(Mutex::new(Vec::new()));
        starts.push(started.clone());
        let mut job = Job::new(move |a: Attempt| {
            started.lock().unwrap().push(c.now().as_millis() as u64);
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
        .retry_if(|retryable: &bool| *retryable)
        .priority(s.priority);
        if let Some(k) = s.key {
            job = job.key(k);
        }
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
    let mut actions = actions(cfg, scripts).into_iter().peekable();
    let mut cleared = Vec::new();
    let mut reprioritised = Vec::new();
    let now = |clock: &Clock| clock.now().as_millis() as u64;
    loop {
        sim.run_until_stalled();
        if handles.iter().flatten().all(|h| h.is_finished()) && actions.peek().is_none() {
            break;
        }
        let deadline = clock.next_deadline().map(|d| d.as_millis() as u64);
        let action = actions.peek().map(|a| a.0);
        let next = match (deadline, action) {
            (Some(d), Some(c)) => d.min(c),
            (Some(d), None) => d,
            (None, Some(c)) => c,
            (None, None) => panic!("stuck at {} ms with unfinished jobs", now(&clock)),
        };
        clock.advance(Duration::from_millis(next - now(&clock)));
        sim.run_until_stalled();
        while actions.peek().is_some_and(|a| a.0 == next) {
            match actions.next().unwrap().1 {
                Action::Cancel(i) => {
                    if let Some(h) = &handles[i] {
                        h.cancel();
                    }
                }
                Action::SetPriority(i, p) => {
                    if let Some(h) = &handles[i] {
                        reprioritised.push(h.set_priority(p));
                    }
                }
                Action::Clear => cleared.push(pool.clear()),
                Action::Pause => pool.pause(),
                Action::Resume => pool.resume(),
                Action::Concurrency(n) => pool.set_concurrency(n).unwrap(),
            }
        }
    }
    let mut records = Vec::new();
    for (h, started) in handles.into_iter().zip(&starts) {
        let outcome = match h {
            None => Outcome::Rejected,
            Some(h) => match sim.block(h) {
                Ok(n) => Outcome::Succeeded(n),
                Err(JobError::Failed { attempts, .. }) => Outcome::Failed(attempts),
                Err(JobError::TimedOut { attempts }) => Outcome::TimedOut(attempts),
                Err(JobError::Panicked { attempts, .. }) => Outcome::Panicked(attempts),
                Err(JobError::Cancelled { attempts }) => Outcome::Cancelled(attempts),
                Err(e) => unreachable!("the model sets no policy: {e:?}"),
            },
        };
        records.push((outcome, started.lock().unwrap().clone()));
    }
    let at_rest = pool.metrics();
    assert_eq!((at_rest.queued, at_rest.waiting_on_key, at_rest.running), (0, 0, 0), "at rest");
    let m = sim.block(pool.shutdown()).metrics;
    assert_eq!((m.queued, m.waiting_on_key, m.running), (0, 0, 0));
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
        cleared,
        reprioritised,
    };
    (records, totals)
}

// --- generators ---------------------------------------------------------------------------------

fn step() -> impl Strategy<Value = Step> {
    (0u64..5, prop_oneof![4 => Just(Kind::Ok), 3 => Just(Kind::Err), 1 => Just(Kind::Fatal), 1 => Just(Kind::Panic), 2 => Just(Kind::Hang)])
        .prop_map(|(k, kind)| Step { ms: k * 4, kind })
}

fn timeout() -> impl Strategy<Value = u64> {
    (0u64..6).prop_map(|k| 4 * k + 2) // 2, 6, …, 22 ms: never equal to a duration
}

/// An odd instant below `2 * below`: actions never fall on a multiple of 4 (durations).
fn odd(below: u64) -> impl Strategy<Value = u64> {
    (0..below).prop_map(|c| 2 * c + 1)
}

fn config() -> impl Strategy<Value = Config> {
    let base =
        (1usize..4, 1usize..12, 0u32..4, proptest::option::weighted(0.7, timeout()), 0u64..4);
    let limits = (
        proptest::option::weighted(0.5, 1usize..3),
        proptest::option::weighted(0.3, (1usize..4, 1u64..14)),
        proptest::collection::vec((odd(40), 1u64..16), 0..3),
        proptest::collection::vec((odd(40), 0usize..4), 0..3),
        proptest::option::weighted(0.25, odd(40)),
        0usize..4,
    );
    (base, limits).prop_map(
        |((workers, queue, retries, timeout, b), (per_key, rate, pauses, changes, clear_at, c))| {
            let limit = |n: usize| 1 + n % workers;
            Config {
                workers,
                concurrency: limit(c),
                queue,
                retries,
                timeout,
                backoff: b * 4,
                per_key,
                rate,
                pauses: pauses.into_iter().map(|(p, len)| (p, p + 2 * len)).collect(),
                concurrency_at: changes.into_iter().map(|(t, n)| (t, limit(n))).collect(),
                clear_at,
            }
        },
    )
}

fn script() -> impl Strategy<Value = Script> {
    (
        proptest::collection::vec(step(), 1..4),
        proptest::option::weighted(0.3, odd(60)),
        proptest::option::weighted(0.2, 0u32..4),
        proptest::option::weighted(0.2, proptest::option::of(timeout())),
        prop_oneof![2 => Just(0), 1 => -1i32..3],
        proptest::option::weighted(0.6, 0u64..3),
        proptest::option::weighted(0.15, (odd(40), -1i32..3)),
    )
        .prop_map(|(steps, cancel_at, retries, timeout, priority, key, reprioritise)| Script {
            steps,
            cancel_at,
            retries,
            timeout,
            priority,
            key,
            reprioritise,
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

/// Runs one case through the model and the pool; the model must see no open tie.
fn check(cfg: &Config, scripts: &[Script]) -> (Expected, Vec<Record>) {
    let expected = model(cfg, scripts);
    assert!(!expected.ambiguous);
    let (records, totals) = run_pool(cfg, scripts);
    if records == expected.records {
        assert_eq!(totals, expected.totals);
    }
    (expected, records)
}

fn keyed_job(ms: u64, key: Option<u64>, priority: i32) -> Script {
    Script {
        steps: vec![Step { ms, kind: Kind::Ok }],
        cancel_at: None,
        retries: None,
        timeout: None,
        priority,
        key,
        reprioritise: None,
    }
}

fn keyed_pool(workers: usize) -> Config {
    Config {
        workers,
        concurrency: workers,
        queue: 4,
        retries: 0,
        timeout: None,
        backoff: 0,
        per_key: Some(1),
        rate: None,
        pauses: vec![],
        concurrency_at: vec![],
        clear_at: None,
    }
}

/// Fixed by d7c56d4 (the first bug this test found; its minimal case, as the property test
/// shrank it). Three workers, `per_key(1)`: jobs 0 and 2 have key 1, jobs 1 and 3 key 0. At
/// 0 ms jobs 0 and 1 start; 2 and 3 are found blocked. At 1 ms the concurrency drops to 1. At
/// 4 ms jobs 0 and 1 end, both keys free: FIFO within one priority says job 2 starts first, at
/// 4 ms (it takes no time), then job 3, also at 4 ms. Before the fix, each blocked job went
/// back to the front of its lane, job 3 in front of job 2, and job 2 started only at 8 ms.
#[test]
fn blocked_jobs_keep_their_order() {
    let mut cfg = keyed_pool(3);
    cfg.concurrency_at = vec![(1, 1)];
    let scripts = [
        keyed_job(4, Some(1), 0),
        keyed_job(4, Some(0), 0),
        keyed_job(0, Some(1), 0),
        keyed_job(4, Some(0), 0),
    ];
    let (expected, records) = check(&cfg, &scripts);
    assert_eq!(expected.records[2], (Outcome::Succeeded(1), vec![4]));
    assert_eq!(expected.records[3], (Outcome::Succeeded(1), vec![4]));
    assert_eq!(records, expected.records, "job 2 (earlier) must start before job 3");
}

/// Fixed by d7c56d4 too: a job blocked on its key, moved to a lower priority, goes to the back
/// of its new line (it went back to the front of it when its key freed). Two workers,
/// `per_key(1)`: job 0 (key 1, 8 ms) starts, job 1 (key 1, no time) is found blocked, job 2
/// (12 ms) starts; job 3 (priority -1, 4 ms) waits. At 1 ms job 1 moves to priority -1:
/// behind job 3. At 8 ms job 0 ends: job 3 starts (8 ms), then job 1 once a worker is free
/// (12 ms).
#[test]
fn set_priority_of_a_blocked_job_goes_to_the_back() {
    let mut scripts = [
        keyed_job(8, Some(1), 0),
        keyed_job(0, Some(1), 0),
        keyed_job(12, None, 0),
        keyed_job(4, None, -1),
    ];
    scripts[1].reprioritise = Some((1, -1));
    let (expected, records) = check(&keyed_pool(2), &scripts);
    assert!(expected.hazard);
    assert_eq!(expected.records[1], (Outcome::Succeeded(1), vec![12]));
    assert_eq!(expected.records[3], (Outcome::Succeeded(1), vec![8]));
    assert_eq!(expected.totals.reprioritised, [true]);
    assert_eq!(records, expected.records, "job 1 (moved behind job 3) must start after it");
}

/// Jobs 1 and 2 of key 1 are found blocked behind job 0 (8 ms); job 2 moves to priority 5 at
/// 1 ms. With no worker free then, it waits in its new lane, and starts first when the key
/// frees (8 ms, no time), then job 1 (8 ms).
#[test]
fn set_priority_raises_a_blocked_job_within_its_key() {
    let mut scripts = [
        keyed_job(8, Some(1), 0),
        keyed_job(4, Some(1), 0),
        keyed_job(0, Some(1), 0),
        keyed_job(20, None, 0),
    ];
    scripts[2].reprioritise = Some((1, 5));
    let (expected, records) = check(&keyed_pool(2), &scripts);
    assert_eq!(expected.records[1], (Outcome::Succeeded(1), vec![8]));
    assert_eq!(expected.records[2], (Outcome::Succeeded(1), vec![8]));
    assert_eq!(records, expected.records, "job 2 (raised to 5) must start first");
}

/// The third bug fixed (428c414; a key's line was in the order found blocked, not by
/// priority): as above, but a third worker is idle at 1 ms. It takes job
/// 2 from its new lane at once and finds it blocked again: now behind job 1 in its key's line.
/// "Higher runs first" says job 2 (priority 5) starts first when the key frees at 8 ms (it
/// takes no time), then job 1, also at 8 ms; the scheduler starts job 1 at 8 ms and job 2 only
/// at 12 ms.
#[test]
fn a_job_blocked_again_keeps_its_priority_within_its_key() {
    let mut scripts = [
        keyed_job(8, Some(1), 0),
        keyed_job(4, Some(1), 0),
        keyed_job(0, Some(1), 0),
        keyed_job(20, None, 0),
    ];
    scripts[2].reprioritise = Some((1, 5));
    let (expected, records) = check(&keyed_pool(3), &scripts);
    assert!(expected.hazard);
    assert_eq!(expected.records[1], (Outcome::Succeeded(1), vec![8]));
    assert_eq!(expected.records[2], (Outcome::Succeeded(1), vec![8]));
    assert_eq!(records, expected.records, "job 2 (raised to 5) must start first");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4000)
}

proptest! {
    // 4,000 cases unless `PROPTEST_CASES` says otherwise (proptest reads it into the default).
    // Ambiguous cases (see the module docs) are rejected, so allow as many as there are cases.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_global_rejects: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_pool_matches_the_model(
        cfg in config(),
        scripts in proptest::collection::vec(script(), 1..14),
    ) {
        quiet_panics();
        let scripts: Vec<_> = scripts.into_iter().map(|s| fix_hangs(&cfg, s)).collect();
        let expected = model(&cfg, &scripts);
        prop_assume!(!expected.ambiguous, "an open tie under the rate limit");
        let (records, totals) = run_pool(&cfg, &scripts);
        prop_assert_eq!(records, expected.records);
        prop_assert_eq!(totals, expected.totals);
    }
}
