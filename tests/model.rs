//! Property tests: random pools and random job scripts, on the manual clock, checked against a
//! reference model written plainly below. Every job's outcome, attempt count and the instant
//! each of its attempts started (hedges included), what `clear` and `set_priority` returned,
//! and the final metrics (`submitted == succeeded + failed + cancelled`; nothing queued,
//! running or waiting on a key at rest; `deadline_exceeded`, `retries_denied`,
//! `circuit_refused`, `circuit_opened`, `hedges_started`, `hedges_won`) must match the model.
//!
//! The pool: a crew of `workers`, of which `concurrency` may run at once (changed at given
//! instants by `set_concurrency`), a queue of `queue`, maybe `per_key`, maybe a rate limit of
//! `count` attempt starts per `interval`, maybe paused over windows of time, maybe `clear()`ed
//! at an instant. Every job has a priority (a few levels), maybe a key, maybe a cancel and a
//! `set_priority` on its handle at given instants. Every job is submitted (`try_submit`) at
//! time 0, before any worker runs: the first `queue` are accepted. Each of the policies is
//! drawn independently, and often absent: a pool deadline and per-job `deadline` /
//! `no_deadline`; a retry budget (percent, `min_retries`, window); a circuit breaker
//! (`consecutive` or `ratio`, a cool-down, `per_key` or not); hedging for the pool and per-job
//! `hedge` / `no_hedge` (a delay, `max`); and for some jobs a `retry_when` predicate that
//! refuses retries after a timeout, or after a panic, or both.
//!
//! The model's rules (the issue's, `PoolBuilder`'s, `Pool`'s and the policies' docs):
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
//! * A job runs in rounds (`Hedge`): a first attempt, then, while none has succeeded and one
//!   still runs, a hedge `delay` after the previous attempt of the round, up to `max`. The
//!   first success wins (`Succeeded(n)`: `n` the winner's number; a hedge's win counts in
//!   `hedges_won`); a failure the predicate declines ends the job at once; a round whose
//!   attempts all failed is retried as a whole, `backoff` after its last failure
//!   (`retries(r)`: `r + 1` rounds). Attempts ending at one instant end in slot order, before
//!   a hedge due then. An error carries the attempts made, hedges included.
//! * The deadline is `d` after the first attempt starts: then the job ends
//!   `DeadlineExceeded(n)`, whatever it was doing (an attempt, a backoff, a wait for a token).
//! * The budget: a first attempt deposits, a retry (a new round) withdraws, and is denied
//!   when `100 × (retries + 1) > percent × first attempts + 100 × min_retries`; the job then
//!   ends with its round's failure. A retry withdrawn but never sent (its job ends in the
//!   backoff or the wait for a token, or the breaker refuses it) is given back.
//! * The breaker (one, or one per key and one for keyless jobs): closed, open after the trip
//!   (for ratio, once `of_last` verdicts are in), half-open after the cool-down (timed from
//!   the failure that opened it), one probe. A job's first attempt asks it first, a retry
//!   last (after its backoff and its rate token; one it would refuse anyway does not wait
//!   for a token): refused, the job ends `CircuitOpen(n)`
//!   (`n = 0`: never started), and its rate token goes back at once. A hedge starts only
//!   while it is closed; otherwise no more
//!   hedges that round. Errors, timeouts, panics and a deadline cutting an attempt are
//!   failures; cancelled and dropped attempts count for nothing; so does an attempt admitted
//!   before the breaker opened (or, a probe, before it opened again). A key's breaker forgets
//!   its successes whenever it remembers no failure and no attempt it admitted is out (its
//!   docs: it is forgotten, and the key's next attempt meets a new one).
//!
//! Ties are modelled as the driver resolves them. At any instant, clock events run first
//! (attempts ending, timeouts, hedges due, backoffs, rate tokens coming back, cool-downs,
//! deadlines), and workers they free take the next jobs at once; then the actions due at that
//! instant apply (cancels, then priority changes, `clear`, pauses, resumes, concurrency
//! changes, each kind in its given order), all before any worker moves; only then do workers
//! freed or woken by them take jobs. A job (or a chain of retries) that takes no time at all
//! ends in the phase it started in. Actions fall on odd instants, durations and backoffs on
//! multiples of 4, timeouts on 4k + 2, deadlines and cool-downs are odd, hedge delays even.
//!
//! Some ties are left open by design: within one phase the workers move one after another,
//! and the issue asks nothing of the order. The model does not guess; it flags such cases
//! ambiguous and leaves them out (`Expected::ambiguous`, with the reason):
//!
//! * rate tokens run short after two or more things happened in one phase: which contender
//!   got them depends on which worker moved first;
//! * a breaker touched by two or more independently moving workers in one phase (each job
//!   with something due, each token back, each cool-down, each action; every worker at 0 ms
//!   and after a resume or a concurrency change) where the order changes the result: its
//!   state changed and someone asked it, or verdicts of both kinds came in;
//! * the budget asked by such workers in one phase where the order decides who is denied;
//! * a deadline falling at an instant its own job has something else due.
//!
//! `the_share_of_ambiguous_cases_is_low` prints the share (about 11% of cases; most of it the
//! rate tokens, as before the policies) and what the rest exercise, and bounds it.
//!
//! Where the policies meet features in ways the docs leave open, the generator is narrowed
//! rather than the model made to guess (`prepare`): no hedging under a rate limit (when a
//! hedge due waits for a token, and which waiter gets it, is unspecified); no deadline for a
//! hedged job under a breaker (a cut round counts once for the breaker, however many of its
//! attempts ran); budget windows of 14 or more, so that no case makes enough first attempts
//! to reach the window's end (what a small window forgets is not what its docs say: see
//! below).
//!
//! Three scheduler bugs this test found (blocked jobs put back in reverse order; a blocked job
//! moved by `set_priority` jumping its new line; a key's line not ordered by priority) are
//! fixed (d7c56d4, 428c414); the cases it shrank them to are plain tests below. Three policy
//! bugs it found are fixed too, and their plain tests pass: `hedged_round_error_counts_every_attempt`,
//! `an_attempt_admitted_before_the_breaker_opened_counts_for_nothing` and
//! `a_budget_remembers_only_its_window`. The model still leaves out the cases on the path of
//! the first two (`Expected::bug`; also printed by the share test): there its tie detection
//! misses a breaker fed by two workers in one phase.
#![cfg(all(not(target_arch = "wasm32"), panic = "unwind"))]

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{clock_pool, Clock, Sim, MS};
use futures_lite::future;
use proptest::prelude::*;
use workcrew::{Attempt, Backoff, CircuitBreaker, Failure, Hedge, Job, JobError, RetryBudget};

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

/// Hedged attempts: `max` extra, each `delay` ms after the one before.
#[derive(Clone, Copy, Debug, PartialEq)]
struct HedgeCfg {
    delay: u64,
    max: u32,
}

/// A `retry_when` predicate: errors as `retry_if` sees them, and a refusal after a timeout or
/// a panic.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Refuse {
    timeout: bool,
    panic: bool,
}

#[derive(Clone, Debug, Default)]
struct Script {
    /// Attempt i follows steps[min(i, len) - 1] (hedges are attempts too).
    steps: Vec<Step>,
    cancel_at: Option<u64>,
    retries: Option<u32>,
    timeout: Option<Option<u64>>,
    priority: i32,
    key: Option<u64>,
    /// `set_priority(.1)` on its handle at `.0`.
    reprioritise: Option<(u64, i32)>,
    /// `Job::deadline` (`Some(Some)`) or `Job::no_deadline` (`Some(None)`).
    deadline: Option<Option<u64>>,
    /// `Job::hedge` (`Some(Some)`) or `Job::no_hedge` (`Some(None)`).
    hedge: Option<Option<HedgeCfg>>,
    /// `retry_when` instead of `retry_if`.
    refuse: Option<Refuse>,
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Trip {
    Consecutive(u32),
    /// `percent`% of the last `of_last`.
    Ratio(u32, u32),
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct BreakerCfg {
    trip: Trip,
    cooldown: u64,
    per_key: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct BudgetCfg {
    percent: u32,
    min_retries: u32,
    /// At least 14: more than a case's first attempts, so the window never forgets (see the
    /// module docs).
    window: u32,
}

#[derive(Clone, Debug, Default)]
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
    deadline: Option<u64>,
    budget: Option<BudgetCfg>,
    breaker: Option<BreakerCfg>,
    hedge: Option<HedgeCfg>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// The value: the number of the attempt that succeeded.
    Succeeded(u32),
    Failed(u32),
    TimedOut(u32),
    Panicked(u32),
    Cancelled(u32),
    DeadlineExceeded(u32),
    CircuitOpen(u32),
    Rejected,
}

/// A job's outcome and the instants its attempts started (hedges included, by number).
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
    deadline_exceeded: u64,
    retries_denied: u64,
    circuit_refused: u64,
    circuit_opened: u64,
    hedges_started: u64,
    hedges_won: u64,
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

/// How a breaker let an attempt start: as a plain attempt or as its probe, when it had opened
/// `.0` times. An attempt counts for the breaker only while the breaker is still in that state
/// (the docs: one admitted before the breaker opened and ending after it counts for nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Adm {
    Pass(u64),
    Probe(u64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Closed,
    Open,
    HalfOpen { probing: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Success,
    Failure,
    Cancelled,
}

/// What touched a breaker in the current phase (see `Model::settle`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    /// An attempt asked whether it may start, or a hedge whether the breaker is closed.
    Look,
    Record(Verdict),
    Cooled,
}

/// A circuit breaker, as its docs' table says.
#[derive(Clone, Debug)]
struct Brk {
    phase: Phase,
    /// Times opened.
    epoch: u64,
    consecutive: u32,
    /// The verdicts since it last closed or opened, newest last (`true`: failed).
    window: VecDeque<bool>,
    cools_at: Option<u64>,
    /// A key's breaker: forgotten while closed with no failure remembered and no admitted
    /// attempt out (its docs), so its window forgets the successes then.
    forgets: bool,
    /// Admitted attempts not yet ended.
    out: u32,
    ops: Vec<Op>,
    /// Its state changed in the current phase.
    changed: bool,
    /// An attempt admitted before it last opened ended while it was not open: the pool may
    /// count it.
    stale_counted: bool,
    /// One ended while it was open, in this phase.
    stale_in_phase: bool,
}

impl Brk {
    fn new(forgets: bool) -> Self {
        Brk {
            forgets,
            phase: Phase::Closed,
            epoch: 0,
            consecutive: 0,
            window: VecDeque::new(),
            cools_at: None,
            out: 0,
            ops: Vec::new(),
            changed: false,
            stale_counted: false,
            stale_in_phase: false,
        }
    }

    fn admit(&mut self) -> Option<Adm> {
        self.ops.push(Op::Look);
        let adm = match self.phase {
            Phase::Closed => Adm::Pass(self.epoch),
            Phase::HalfOpen { probing: false } => {
                self.phase = Phase::HalfOpen { probing: true };
                self.changed = true;
                Adm::Probe(self.epoch)
            }
            _ => return None,
        };
        self.out += 1;
        Some(adm)
    }

    /// Whether it would refuse an attempt now (asked without admitting one).
    fn refusing(&mut self) -> bool {
        self.ops.push(Op::Look);
        matches!(self.phase, Phase::Open | Phase::HalfOpen { probing: true })
    }

    /// A hedge starts only while the breaker is closed.
    fn admit_hedge(&mut self) -> Option<Adm> {
        self.ops.push(Op::Look);
        if self.phase != Phase::Closed {
            return None;
        }
        self.out += 1;
        Some(Adm::Pass(self.epoch))
    }

    fn open(&mut self, cfg: &BreakerCfg, t: u64) {
        self.phase = Phase::Open;
        self.epoch += 1;
        self.consecutive = 0;
        self.window.clear();
        self.cools_at = Some(t + cfg.cooldown);
    }

    /// An admitted attempt ended at `t`; `true` if that opened the breaker.
    fn record(&mut self, cfg: &BreakerCfg, adm: Adm, v: Verdict, t: u64) -> bool {
        self.out -= 1;
        let opened = self.verdict(cfg, adm, v, t);
        if self.forgets
            && self.out == 0
            && self.phase == Phase::Closed
            && self.consecutive == 0
            && !self.window.contains(&true)
        {
            self.window.clear(); // forgotten: the key's next attempt meets a new breaker
        }
        opened
    }

    fn verdict(&mut self, cfg: &BreakerCfg, adm: Adm, v: Verdict, t: u64) -> bool {
        match adm {
            Adm::Probe(e)
                if e == self.epoch && self.phase == (Phase::HalfOpen { probing: true }) =>
            {
                self.ops.push(Op::Record(v));
                self.changed = true;
                match v {
                    Verdict::Success => {
                        self.phase = Phase::Closed;
                        self.consecutive = 0;
                        self.window.clear();
                    }
                    Verdict::Failure => {
                        self.open(cfg, t);
                        return true;
                    }
                    Verdict::Cancelled => self.phase = Phase::HalfOpen { probing: false },
                }
                false
            }
            Adm::Pass(e) if e == self.epoch && self.phase == Phase::Closed => {
                if v == Verdict::Cancelled {
                    return false;
                }
                self.ops.push(Op::Record(v));
                let failed = v == Verdict::Failure;
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                let tripped = match cfg.trip {
                    Trip::Consecutive(n) => self.consecutive >= n,
                    Trip::Ratio(percent, of_last) => {
                        self.window.push_back(failed);
                        if self.window.len() > of_last as usize {
                            self.window.pop_front();
                        }
                        let failures = self.window.iter().filter(|&&f| f).count() as u32;
                        self.window.len() == of_last as usize && failures * 100 >= percent * of_last
                    }
                };
                if tripped {
                    self.changed = true;
                    self.open(cfg, t);
                }
                tripped
            }
            // Stale: counts for nothing. The pool counts it while closed (BUG_STALE_COUNTED):
            // so leave the case out if it was, or could have been in another order.
            Adm::Pass(_) if v != Verdict::Cancelled => {
                if self.phase == Phase::Open {
                    self.stale_in_phase = true;
                } else {
                    self.stale_counted = true;
                }
                false
            }
            _ => false,
        }
    }

    /// Its ops in this phase give one result whatever order the workers made them in.
    fn commutes(&self, ratio: bool) -> bool {
        let records: Vec<Verdict> = self
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Record(v) => Some(*v),
                _ => None,
            })
            .collect();
        let alike = records.windows(2).all(|w| w[0] == w[1]);
        // A key's ratio breaker forgets its successes once no attempt is out: whether a
        // success came before another attempt was admitted decides what it remembers.
        let looks = self.ops.contains(&Op::Look);
        if self.forgets && ratio && looks && records.contains(&Verdict::Success) {
            return false;
        }
        self.ops.len() <= 1
            || (alike && records.len() == self.ops.len())
            || (alike && !self.changed)
    }

    fn why(&self, ratio: bool) -> &'static str {
        let looks = self.ops.contains(&Op::Look);
        if self.forgets && ratio && looks && self.ops.contains(&Op::Record(Verdict::Success)) {
            return "breaker: a key's ratio breaker asked and told a success in one phase";
        }
        let records = self.ops.iter().filter(|o| matches!(o, Op::Record(_))).count();
        if records == self.ops.len() {
            "breaker: verdicts of both kinds in one phase"
        } else if self.changed {
            "breaker: changed and asked in one phase"
        } else {
            "breaker: asked, with verdicts of both kinds, in one phase"
        }
    }
}

/// How a round's attempt failed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fail {
    Failed,
    TimedOut,
    Panicked,
}

impl Fail {
    fn outcome(self, n: u32) -> Outcome {
        match self {
            Fail::Failed => Outcome::Failed(n),
            Fail::TimedOut => Outcome::TimedOut(n),
            Fail::Panicked => Outcome::Panicked(n),
        }
    }
}

/// A running attempt of a round.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Live {
    n: u32,
    /// 0 for the round's first attempt, k for its k-th hedge.
    slot: u32,
    ends: u64,
    times_out: bool,
    adm: Option<Adm>,
}

#[derive(Clone, Debug, PartialEq)]
enum St {
    Queued,
    /// Round `round` runs: its live attempts in slot order, its next hedge.
    Round {
        round: u32,
        live: Vec<Live>,
        hedges: u32,
        next_hedge: Option<u64>,
        /// The latest failure, and the number of the attempt that failed.
        last: Option<(Fail, u32)>,
    },
    /// Backing off after round `round`, until `until`.
    Backoff {
        round: u32,
        until: u64,
    },
    /// Round `round` failed; its retry waits for a rate token (then asks the breaker).
    Token {
        round: u32,
    },
    Done,
}

/// The retry budget: nothing is ever forgotten (the window holds more first attempts than a
/// case makes).
#[derive(Default)]
struct Bud {
    firsts: u64,
    retries: u64,
    /// This phase: first attempts, retries asked for, and the counts before.
    deposits: u64,
    withdrawals: u64,
    /// Retries given back this phase (withdrawn, never sent).
    refunds: u64,
    before: (u64, u64),
    /// Per job: its next retry is withdrawn and not yet sent.
    withdrew: Vec<bool>,
}

struct Model<'a> {
    cfg: &'a Config,
    scripts: &'a [Script],
    st: Vec<St>,
    records: Vec<Record>,
    /// Attempts begun, per job.
    attempts: Vec<u32>,
    /// When each running job's deadline passes.
    deadline_at: Vec<Option<u64>>,
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
    /// Events in the current phase (see the module docs).
    events: usize,
    /// Workers that may move independently in the current phase (see the module docs).
    chains: usize,
    budget: Bud,
    /// The breakers, by key (`None`: the pool's).
    breakers: BTreeMap<Option<u64>, Brk>,
    ambiguous: Option<&'static str>,
    /// A path of a known core bug (see the `#[ignore]`d tests): not compared.
    bug: Option<&'static str>,
    /// A `set_priority` of a keyed job under `per_key`: the path of the last bug fixed.
    hazard: bool,
}

/// `JobError`'s `attempts` after a hedged round is the number of the attempt that failed,
/// not the attempts made: `hedged_round_error_counts_every_attempt`.
const BUG_HEDGED_ATTEMPTS: &str = "hedged round: error carries the failing attempt's number";

/// An attempt admitted before the breaker opened, ending once it has closed again, counts as
/// a verdict: `an_attempt_admitted_before_the_breaker_opened_counts_for_nothing`. Left out
/// wherever such an attempt ends while the breaker is not open (or changes in that phase).
const BUG_STALE_COUNTED: &str = "breaker: an attempt admitted before it opened counted";

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

    fn flag(&mut self, why: &'static str) {
        self.ambiguous.get_or_insert(why);
    }

    fn hedge_of(&self, j: usize) -> Option<HedgeCfg> {
        self.scripts[j].hedge.unwrap_or(self.cfg.hedge)
    }

    fn brk(&mut self, j: usize) -> Option<&mut Brk> {
        let cfg = self.cfg.breaker?;
        let key = if cfg.per_key { self.scripts[j].key } else { None };
        Some(self.breakers.entry(key).or_insert_with(|| Brk::new(key.is_some())))
    }

    /// The breaker's answer to an attempt of `j` that wants to start: `Err` if refused.
    fn admit(&mut self, j: usize) -> Result<Option<Adm>, ()> {
        match self.brk(j) {
            None => Ok(None),
            Some(b) => b.admit().map(Some).ok_or(()),
        }
    }

    fn record(&mut self, j: usize, adm: Option<Adm>, v: Verdict, t: u64) {
        let (Some(adm), Some(cfg)) = (adm, self.cfg.breaker) else { return };
        let b = self.brk(j).unwrap();
        let opened = b.record(&cfg, adm, v, t);
        if std::mem::take(&mut b.stale_counted) {
            self.bug.get_or_insert(BUG_STALE_COUNTED);
        }
        if opened {
            self.totals.circuit_opened += 1;
        }
    }

    /// Attempt begins at `t`, in `slot` of its round.
    fn begin(&mut self, j: usize, t: u64, slot: u32, adm: Option<Adm>) -> Live {
        let s = &self.scripts[j];
        if let Some((_, interval)) = self.cfg.rate {
            assert_eq!(slot, 0, "no hedging under a rate limit (see `prepare`)");
            self.tokens.push(t + interval);
        }
        self.records[j].1.push(t);
        self.attempts[j] += 1;
        let n = self.attempts[j];
        self.totals.attempts += 1;
        let step = s.steps[(n as usize).min(s.steps.len()) - 1];
        let runs = if step.kind == Kind::Hang { u64::MAX } else { step.ms };
        let timeout = s.timeout.unwrap_or(self.cfg.timeout);
        let (ends, times_out) = match timeout {
            Some(to) if to < runs => (t + to, true),
            _ => (t.saturating_add(runs), false),
        };
        Live { n, slot, ends, times_out, adm }
    }

    fn start_round(&mut self, j: usize, round: u32, t: u64, adm: Option<Adm>) {
        if round > 1 {
            self.totals.retried += 1;
            self.budget.withdrew[j] = false;
        }
        let first = self.begin(j, t, 0, adm);
        let next_hedge = self.hedge_of(j).map(|h| t + h.delay);
        self.st[j] = St::Round { round, live: vec![first], hedges: 0, next_hedge, last: None };
    }

    /// A worker takes job `j` at `t`.
    fn start(&mut self, j: usize, t: u64) {
        let Ok(adm) = self.admit(j) else {
            return self.end(j, Outcome::CircuitOpen(0)); // never started
        };
        self.running += 1;
        if let (Some(_), Some(k)) = (self.cfg.per_key, self.scripts[j].key) {
            *self.keys.entry(k).or_default() += 1;
        }
        self.totals.started += 1;
        if self.cfg.budget.is_some() {
            self.budget.firsts += 1;
            self.budget.deposits += 1;
        }
        let deadline = self.scripts[j].deadline.unwrap_or(self.cfg.deadline);
        self.deadline_at[j] = deadline.map(|d| t + d);
        self.start_round(j, 1, t, adm);
    }

    fn end(&mut self, j: usize, outcome: Outcome) {
        let was_running = !matches!(self.st[j], St::Queued | St::Done);
        // A retry withdrawn and never sent gives its share back.
        if std::mem::take(&mut self.budget.withdrew[j]) {
            self.budget.retries -= 1;
            self.budget.refunds += 1;
        }
        self.st[j] = St::Done;
        match outcome {
            Outcome::Succeeded(_) => self.totals.succeeded += 1,
            Outcome::Cancelled(_) => self.totals.cancelled += 1,
            Outcome::Rejected => unreachable!(),
            Outcome::DeadlineExceeded(_) => {
                self.totals.deadline_exceeded += 1;
                self.totals.failed += 1;
            }
            Outcome::CircuitOpen(_) => {
                self.totals.circuit_refused += 1;
                self.totals.failed += 1;
            }
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

    /// The round's other attempts are dropped: for the breaker they count for nothing.
    fn drop_live(&mut self, j: usize, t: u64) {
        let St::Round { live, .. } = &self.st[j] else { return };
        for a in live.clone() {
            self.record(j, a.adm, Verdict::Cancelled, t);
        }
    }

    /// Attempt `a` of job `j` (taken out of its round) ended at `t`. `true` if the job ended.
    fn attempt_ended(&mut self, j: usize, a: Live, t: u64) -> bool {
        let s = &self.scripts[j];
        let step = s.steps[(a.n as usize).min(s.steps.len()) - 1];
        let refuse = s.refuse.unwrap_or(Refuse { timeout: false, panic: false });
        let (fail, retryable) = if a.times_out {
            self.totals.timed_out += 1;
            (Fail::TimedOut, !refuse.timeout)
        } else {
            match step.kind {
                Kind::Ok => {
                    self.record(j, a.adm, Verdict::Success, t);
                    self.drop_live(j, t);
                    if a.slot > 0 {
                        self.totals.hedges_won += 1;
                    }
                    self.end(j, Outcome::Succeeded(a.n));
                    return true;
                }
                Kind::Err => (Fail::Failed, true),
                Kind::Fatal => (Fail::Failed, false),
                Kind::Panic => {
                    self.totals.panicked += 1;
                    (Fail::Panicked, !refuse.panic)
                }
                Kind::Hang => unreachable!("a hang without a timeout ends only by a cancel"),
            }
        };
        self.record(j, a.adm, Verdict::Failure, t);
        if !retryable {
            self.drop_live(j, t);
            let n = self.attempts[j];
            if a.n != n {
                self.bug.get_or_insert(BUG_HEDGED_ATTEMPTS);
            }
            self.end(j, fail.outcome(n));
            return true;
        }
        let St::Round { last, .. } = &mut self.st[j] else { unreachable!() };
        *last = Some((fail, a.n));
        false
    }

    /// What job `j`'s round does at `t`: attempts end (in slot order), then the next hedge.
    fn step(&mut self, j: usize, t: u64) -> bool {
        let mut moved = false;
        let h = self.hedge_of(j).unwrap_or(HedgeCfg { delay: 0, max: 0 });
        loop {
            let St::Round { live, hedges, next_hedge, .. } = &mut self.st[j] else { return moved };
            if let Some(i) = live.iter().position(|a| a.ends == t) {
                let a = live.remove(i);
                moved = true;
                self.events += 1;
                if self.attempt_ended(j, a, t) {
                    return true;
                }
                continue;
            }
            if live.is_empty() {
                self.round_failed(j, t);
                return true;
            }
            if *next_hedge != Some(t) {
                return moved;
            }
            moved = true;
            if *hedges >= h.max {
                *next_hedge = None;
                continue;
            }
            let adm = self.brk(j).map(|b| b.admit_hedge());
            let St::Round { next_hedge, .. } = &mut self.st[j] else { unreachable!() };
            if adm == Some(None) {
                *next_hedge = None; // no more hedges this round
                continue;
            }
            let adm = adm.flatten();
            let St::Round { hedges, .. } = &self.st[j] else { unreachable!() };
            let a = self.begin(j, t, hedges + 1, adm);
            self.totals.hedges_started += 1;
            let St::Round { live, hedges, next_hedge, .. } = &mut self.st[j] else {
                unreachable!()
            };
            live.push(a);
            *hedges += 1;
            *next_hedge = Some(t + h.delay);
        }
    }

    /// Every attempt of job `j`'s round failed, the last at `t`, each one the predicate would
    /// retry.
    fn round_failed(&mut self, j: usize, t: u64) {
        let St::Round { round, last, .. } = self.st[j] else { unreachable!() };
        let (fail, failed) = last.unwrap();
        let failure = fail.outcome(self.attempts[j]);
        if failed != self.attempts[j] {
            // Only an error that ends the job now shows it (a retry's attempts move on).
            let ends = round > self.scripts[j].retries.unwrap_or(self.cfg.retries)
                || self.cfg.budget.is_some();
            if ends {
                self.bug.get_or_insert(BUG_HEDGED_ATTEMPTS);
            }
        }
        let retries = self.scripts[j].retries.unwrap_or(self.cfg.retries);
        if round > retries {
            return self.end(j, failure);
        }
        if let Some(b) = self.cfg.budget {
            let w = &mut self.budget;
            w.withdrawals += 1;
            let allowed = u64::from(b.percent) * w.firsts + 100 * u64::from(b.min_retries);
            if 100 * (w.retries + 1) > allowed {
                self.totals.retries_denied += 1;
                return self.end(j, failure);
            }
            w.retries += 1;
            w.withdrew[j] = true;
        }
        if self.cfg.backoff > 0 {
            self.st[j] = St::Backoff { round, until: t + self.cfg.backoff };
        } else {
            self.retry(j, round, t);
        }
    }

    /// Job `j`'s retry after round `round`, at `t`: refused at once by a breaker that would
    /// refuse it anyway, else at once without a rate limit, else in line for a token.
    fn retry(&mut self, j: usize, round: u32, t: u64) {
        if self.brk(j).is_some_and(|b| b.refusing()) {
            let n = self.attempts[j];
            return self.end(j, Outcome::CircuitOpen(n));
        }
        if self.cfg.rate.is_none() {
            self.send_retry(j, round, t);
        } else {
            self.st[j] = St::Token { round };
            self.token_queue.push_back(j);
        }
    }

    /// Job `j`'s retry after round `round` may start at `t` (it has its token): the breaker
    /// asked last, just before it starts; refused, it is not sent (and its token unused).
    fn send_retry(&mut self, j: usize, round: u32, t: u64) {
        let Ok(adm) = self.admit(j) else {
            let n = self.attempts[j];
            return self.end(j, Outcome::CircuitOpen(n));
        };
        self.start_round(j, round + 1, t, adm);
    }

    /// Job `j`'s deadline passes at `t`.
    fn cut(&mut self, j: usize, t: u64) {
        self.events += 1;
        match self.st[j].clone() {
            St::Round { live, next_hedge, .. } => {
                if live.iter().any(|a| a.ends == t) || next_hedge == Some(t) {
                    self.flag("a deadline at an instant its job moves");
                }
                // Unhedged under a breaker (see `prepare`): as a timeout would.
                if let Some(a) = live.first() {
                    self.record(j, a.adm, Verdict::Failure, t);
                }
            }
            St::Backoff { until, .. } => {
                if until == t {
                    self.flag("a deadline at an instant its job moves");
                }
            }
            St::Token { .. } => {
                let others = self.tokens.contains(&t) || self.moves_at(t);
                if others {
                    self.flag("a deadline at an instant its job moves");
                }
            }
            St::Queued | St::Done => unreachable!(),
        }
        let n = self.attempts[j];
        self.end(j, Outcome::DeadlineExceeded(n));
    }

    /// Jobs with an attempt, hedge, backoff or deadline due at `t`: each on its own worker.
    fn movers(&self, t: u64) -> usize {
        (0..self.st.len())
            .filter(|&j| {
                let due = match &self.st[j] {
                    St::Round { live, next_hedge, .. } => {
                        live.iter().any(|a| a.ends == t) || *next_hedge == Some(t)
                    }
                    St::Backoff { until, .. } => *until == t,
                    St::Token { .. } => false,
                    St::Queued | St::Done => return false,
                };
                due || self.deadline_at[j] == Some(t)
            })
            .count()
    }

    /// Whether any job's attempt, hedge or backoff is due at `t`.
    fn moves_at(&self, t: u64) -> bool {
        self.st.iter().any(|s| match s {
            St::Round { live, next_hedge, .. } => {
                live.iter().any(|a| a.ends == t) || *next_hedge == Some(t)
            }
            St::Backoff { until, .. } => *until == t,
            _ => false,
        })
    }

    /// Everything that follows at `t` from what happened so far: attempts and backoffs due
    /// now end, hedges start, retries take tokens, new jobs start, until nothing changes.
    fn settle(&mut self, t: u64) {
        loop {
            let mut moved = false;
            for j in 0..self.st.len() {
                match self.st[j] {
                    St::Round { .. } => moved |= self.step(j, t),
                    St::Backoff { round, until } if until == t => {
                        self.events += 1;
                        self.retry(j, round, t);
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
                let St::Token { round } = self.st[j] else { unreachable!() };
                self.send_retry(j, round, t);
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
        // Rate tokens ran short with several contenders moving in this phase.
        let waiting = !self.token_queue.is_empty()
            || (!self.paused
                && self.running < self.concurrency
                && self.order.iter().any(|&j| self.st[j] == St::Queued && self.key_free(j)));
        if self.cfg.rate.is_some() && waiting && self.events >= 2 {
            self.flag("rate tokens short after several events");
        }
        self.events = 0;
        // The budget: several asked of it in this phase, and the answers hang on the order.
        if let Some(b) = self.cfg.budget {
            let w = &mut self.budget;
            let (r0, f0) = w.before;
            let touches = w.withdrawals + w.deposits + w.refunds;
            if self.chains >= 2 && w.withdrawals >= 1 && touches >= 2 {
                let allowed =
                    |firsts: u64| u64::from(b.percent) * firsts + 100 * u64::from(b.min_retries);
                let all_allowed = 100 * (r0 + w.withdrawals) <= allowed(f0);
                let all_denied =
                    100 * (r0.saturating_sub(w.refunds) + 1) > allowed(f0 + w.deposits);
                if !all_allowed && !all_denied {
                    self.ambiguous.get_or_insert("the budget asked in one phase");
                }
            }
            (w.deposits, w.withdrawals, w.refunds) = (0, 0, 0);
            w.before = (w.retries, w.firsts);
        }
        // A breaker: several touched it in this phase, and the result hangs on the order.
        let mut open_tie = None;
        let ratio = matches!(self.cfg.breaker, Some(BreakerCfg { trip: Trip::Ratio(..), .. }));
        for b in self.breakers.values_mut() {
            if std::mem::take(&mut b.stale_in_phase) && b.changed {
                self.bug.get_or_insert(BUG_STALE_COUNTED);
            }
            if self.chains >= 2 && !b.commutes(ratio) {
                open_tie = Some(b.why(ratio));
            }
            b.ops.clear();
            b.changed = false;
        }
        if let Some(w) = open_tie {
            self.flag(w);
        }
        self.chains = 0;
    }

    fn act(&mut self, action: Action, t: u64) {
        self.events += 1;
        match action {
            Action::Cancel(j) => {
                let n = self.attempts[j];
                match self.st[j].clone() {
                    St::Queued => self.end(j, Outcome::Cancelled(0)),
                    St::Round { .. } => {
                        self.drop_live(j, t);
                        self.end(j, Outcome::Cancelled(n));
                    }
                    St::Backoff { .. } | St::Token { .. } => self.end(j, Outcome::Cancelled(n)),
                    St::Done => self.events -= 1,
                }
            }
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

    /// The next instant anything is due.
    fn next_instant(&self, actions: &[(u64, Action)]) -> Option<u64> {
        let mut due: Vec<u64> = Vec::new();
        for (j, s) in self.st.iter().enumerate() {
            match s {
                St::Round { live, next_hedge, .. } => {
                    due.extend(live.iter().map(|a| a.ends).filter(|&e| e != u64::MAX));
                    due.extend(*next_hedge);
                }
                St::Backoff { until, .. } => due.push(*until),
                _ => {}
            }
            if !matches!(s, St::Queued | St::Done) {
                due.extend(self.deadline_at[j]);
            }
        }
        due.extend(self.breakers.values().filter_map(|b| b.cools_at));
        due.extend(self.tokens.iter().copied());
        due.extend(actions.first().map(|a| a.0));
        due.into_iter().min()
    }
}

/// What the model says of a run.
struct Expected {
    records: Vec<Record>,
    totals: Totals,
    /// An open tie (see the module docs): not compared.
    ambiguous: Option<&'static str>,
    /// A path of a known core bug: not compared.
    bug: Option<&'static str>,
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
        attempts: vec![0; scripts.len()],
        deadline_at: vec![None; scripts.len()],
        order: Vec::new(),
        running: 0,
        keys: BTreeMap::new(),
        tokens: Vec::new(),
        token_queue: VecDeque::new(),
        paused: false,
        concurrency: cfg.concurrency,
        totals: Totals::default(),
        events: 0,
        chains: 0,
        budget: Bud { withdrew: vec![false; scripts.len()], ..Bud::default() },
        breakers: BTreeMap::new(),
        ambiguous: None,
        bug: None,
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
    m.chains = cfg.workers;
    m.settle(0);
    while let Some(next) = m.next_instant(actions) {
        t = next;
        // Clock phase: tokens come back, cool-downs end, deadlines pass, attempts, hedges and
        // backoffs due now (deadlines before the tokens: `cut` looks at those due now).
        m.chains = m.movers(t);
        for b in m.breakers.values_mut() {
            if b.cools_at == Some(t) {
                b.cools_at = None;
                if b.phase == Phase::Open {
                    b.phase = Phase::HalfOpen { probing: false };
                    b.ops.push(Op::Cooled);
                    b.changed = true;
                    m.chains += 1;
                }
            }
        }
        for j in 0..scripts.len() {
            if !matches!(m.st[j], St::Queued | St::Done) && m.deadline_at[j] == Some(t) {
                m.cut(j, t);
            }
        }
        let before = m.tokens.len();
        m.tokens.retain(|&r| r > t);
        m.events += before - m.tokens.len();
        m.chains += before - m.tokens.len();
        m.settle(t);
        // Action phase.
        while let Some(&(_, action)) = actions.first().filter(|a| a.0 == t) {
            m.chains += match action {
                Action::Resume | Action::Concurrency(_) => cfg.workers,
                _ => 1,
            };
            m.act(action, t);
            actions = &actions[1..];
        }
        m.settle(t);
    }
    assert!(m.st.iter().all(|s| *s == St::Done), "model stuck at {t} ms: {:?}", m.st);
    Expected {
        records: m.records,
        totals: m.totals,
        ambiguous: m.ambiguous,
        bug: m.bug,
        hazard: m.hazard,
    }
}

// --- the real pool, driven the same way ---------------------------------------------------------

fn hedge(h: HedgeCfg) -> Hedge {
    Hedge::new(MS * h.delay as u32, h.max).unwrap()
}

/// A script's options on its job.
fn options<F, P>(mut job: Job<F, P>, s: &Script) -> Job<F, P> {
    job = job.priority(s.priority);
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
    match s.deadline {
        Some(Some(d)) => job = job.deadline(MS * d as u32),
        Some(None) => job = job.no_deadline(),
        None => {}
    }
    match s.hedge {
        Some(Some(h)) => job = job.hedge(hedge(h)),
        Some(None) => job = job.no_hedge(),
        None => {}
    }
    job
}

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
        if let Some(d) = cfg.deadline {
            b = b.deadline(MS * d as u32);
        }
        if let Some(g) = cfg.budget {
            b = b.retry_budget(
                RetryBudget::new(g.percent).min_retries(g.min_retries).window(g.window),
            );
        }
        if let Some(c) = cfg.breaker {
            let cooldown = MS * c.cooldown as u32;
            let mut breaker = match c.trip {
                Trip::Consecutive(n) => CircuitBreaker::consecutive(n, cooldown),
                Trip::Ratio(percent, of_last) => CircuitBreaker::ratio(percent, of_last, cooldown),
            };
            if c.per_key {
                breaker = breaker.per_key();
            }
            b = b.circuit_breaker(breaker);
        }
        if let Some(h) = cfg.hedge {
            b = b.hedge(hedge(h));
        }
        b
    });
    let mut handles = Vec::new();
    let mut starts = Vec::new();
    for s in scripts {
        let (steps, c) = (s.steps.clone(), clock.clone());
        let started = Arc::new(Mutex::new(Vec::new()));
        starts.push(started.clone());
        let job = Job::new(move |a: Attempt| {
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
        });
        let handle = match s.refuse {
            None => pool.try_submit(options(job.retry_if(|retryable: &bool| *retryable), s)).ok(),
            Some(r) => pool
                .try_submit(options(
                    job.retry_when(move |f: Failure<'_, bool>| match f {
                        Failure::Error(retryable) => *retryable,
                        Failure::TimedOut => !r.timeout,
                        Failure::Panicked(_) => !r.panic,
                    }),
                    s,
                ))
                .ok(),
        };
        handles.push(handle);
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
                Err(JobError::DeadlineExceeded { attempts }) => Outcome::DeadlineExceeded(attempts),
                Err(JobError::CircuitOpen { attempts }) => Outcome::CircuitOpen(attempts),
                Err(e) => unreachable!("an error the model does not know: {e:?}"),
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
        deadline_exceeded: m.deadline_exceeded,
        retries_denied: m.retries_denied,
        circuit_refused: m.circuit_refused,
        circuit_opened: m.circuit_opened,
        hedges_started: m.hedges_started,
        hedges_won: m.hedges_won,
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

/// A total deadline: odd (3 ..= 45 ms), so it seldom meets its own job's even instants.
fn deadline() -> impl Strategy<Value = u64> {
    (1u64..23).prop_map(|k| 2 * k + 1)
}

fn hedge_cfg() -> impl Strategy<Value = HedgeCfg> {
    (prop_oneof![1 => Just(0u64), 6 => (1u64..7).prop_map(|k| 2 * k)], 1u32..4)
        .prop_map(|(delay, max)| HedgeCfg { delay, max })
}

fn budget() -> impl Strategy<Value = BudgetCfg> {
    (
        prop_oneof![Just(0u32), Just(25), Just(50), Just(100), Just(150)],
        0u32..4,
        prop_oneof![14u32..40, Just(1000)],
    )
        .prop_map(|(percent, min_retries, window)| BudgetCfg { percent, min_retries, window })
}

fn breaker() -> impl Strategy<Value = BreakerCfg> {
    let trip = prop_oneof![
        (1u32..4).prop_map(Trip::Consecutive),
        (prop_oneof![Just(25u32), Just(50), Just(75), Just(100)], 1u32..6)
            .prop_map(|(p, n)| Trip::Ratio(p, n)),
    ];
    (trip, odd(20), any::<bool>()).prop_map(|(trip, cooldown, per_key)| BreakerCfg {
        trip,
        cooldown,
        per_key,
    })
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
    let policies = (
        proptest::option::weighted(0.3, deadline()),
        proptest::option::weighted(0.3, budget()),
        proptest::option::weighted(0.35, breaker()),
        proptest::option::weighted(0.3, hedge_cfg()),
    );
    (base, limits, policies).prop_map(
        |(
            (workers, queue, retries, timeout, b),
            (per_key, rate, pauses, changes, clear_at, c),
            (deadline, budget, breaker, hedge),
        )| {
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
                deadline,
                budget,
                breaker,
                hedge,
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
        proptest::option::weighted(0.15, proptest::option::weighted(0.7, deadline())),
        proptest::option::weighted(0.15, proptest::option::weighted(0.7, hedge_cfg())),
        proptest::option::weighted(0.3, (any::<bool>(), any::<bool>())),
    )
        .prop_map(
            |(
                steps,
                cancel_at,
                retries,
                timeout,
                priority,
                key,
                reprioritise,
                deadline,
                hedge,
                refuse,
            )| Script {
                steps,
                cancel_at,
                retries,
                timeout,
                priority,
                key,
                reprioritise,
                deadline,
                hedge,
                refuse: refuse.map(|(timeout, panic)| Refuse { timeout, panic }),
            },
        )
}

/// Where the policies meet features in ways the docs leave open, the case is narrowed rather
/// than the model made to guess (see the module docs): no hedging under a rate limit, and no
/// deadline for a hedged job under a breaker. Then hangs are made to end.
fn prepare(mut cfg: Config, scripts: Vec<Script>) -> (Config, Vec<Script>) {
    if cfg.rate.is_some() {
        cfg.hedge = None;
    }
    let scripts = scripts
        .into_iter()
        .map(|mut s| {
            if cfg.rate.is_some() && matches!(s.hedge, Some(Some(_))) {
                s.hedge = None;
            }
            let hedged = s.hedge.unwrap_or(cfg.hedge).is_some();
            if cfg.breaker.is_some() && hedged {
                s.deadline = Some(None);
            }
            fix_hangs(&cfg, s)
        })
        .collect();
    (cfg, scripts)
}

/// A hang needs a timeout, a deadline or a cancel to end; otherwise it would hang the pool (by
/// design).
fn fix_hangs(cfg: &Config, mut s: Script) -> Script {
    let timeout = s.timeout.unwrap_or(cfg.timeout);
    let deadline = s.deadline.unwrap_or(cfg.deadline);
    if timeout.is_none() && deadline.is_none() && s.cancel_at.is_none() {
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
    quiet_panics();
    let expected = model(cfg, scripts);
    assert_eq!(expected.ambiguous, None);
    let (records, totals) = run_pool(cfg, scripts);
    if records == expected.records {
        assert_eq!(totals, expected.totals);
    }
    (expected, records)
}

fn keyed_job(ms: u64, key: Option<u64>, priority: i32) -> Script {
    Script { steps: vec![Step { ms, kind: Kind::Ok }], priority, key, ..Script::default() }
}

fn keyed_pool(workers: usize) -> Config {
    Config { workers, concurrency: workers, queue: 4, per_key: Some(1), ..Config::default() }
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

/// Core bug (the property test shrank it to this): a hedged round's error carries the number
/// of the attempt that failed last, not the attempts made ("every variant carries the number
/// of attempts made"; `Hedge`: "a job's `attempts` count every attempt, hedges included").
/// Attempt 1 fails at 20 ms; its hedge, attempt 2 (from 10 ms), failed at 14 ms: the job made
/// 2 attempts, and ends `Failed { attempts: 1 }`.
#[test]
fn hedged_round_error_counts_every_attempt() {
    let cfg = Config {
        workers: 1,
        concurrency: 1,
        queue: 1,
        hedge: Some(HedgeCfg { delay: 10, max: 1 }),
        ..Config::default()
    };
    let job = Script {
        steps: vec![Step { ms: 20, kind: Kind::Err }, Step { ms: 4, kind: Kind::Err }],
        ..Script::default()
    };
    quiet_panics();
    let expected = model(&cfg, std::slice::from_ref(&job));
    assert_eq!(expected.records, [(Outcome::Failed(2), vec![0, 10])]);
    let (records, _) = run_pool(&cfg, &[job]);
    assert_eq!(records, expected.records);
}

/// Core bug: `RetryBudget::window` "how many of the latest first attempts the budget
/// remembers", and over them `retries ≤ percent / 100 × first attempts + min_retries`. With
/// `window(1)`, `new(100)`, `min_retries(0)`: jobs 0 and 1 start at 0 ms, fail at 4 and 8 ms,
/// and may retry once. Over the last 1 first attempt, 1 retry is allowed, so job 1's is denied;
/// the budget keeps ten slots of `ceil(window / 10)` first attempts, remembers both, and
/// allows both. (The property test draws windows of 14 or more, where both agree.)
#[test]
fn a_budget_remembers_only_its_window() {
    let cfg = Config {
        workers: 2,
        concurrency: 2,
        queue: 2,
        retries: 1,
        budget: Some(BudgetCfg { percent: 100, min_retries: 0, window: 1 }),
        ..Config::default()
    };
    let fails = |ms| Script {
        steps: vec![Step { ms, kind: Kind::Err }, Step { ms: 0, kind: Kind::Ok }],
        ..Script::default()
    };
    let (_, totals) = run_pool(&cfg, &[fails(4), fails(8)]);
    assert_eq!((totals.retried, totals.retries_denied), (1, 1));
}

/// Core bug (the property test shrank it to this): the breaker's docs say "an attempt admitted
/// before the breaker opened and ending after it counts for nothing", but one that ends after
/// the breaker has closed again counts. `consecutive(1)`, cool-down 1 ms, backoff 4 ms, pool
/// timeout 2 ms, retries 2. Job 0 (no timeout, 12 ms, fails) and job 1 (4 ms) start at 0 ms;
/// job 1 times out at 2 ms and opens the breaker; half-open at 3; job 1's retry at 6 ms is the
/// probe and succeeds at once: closed. Job 0's first attempt, admitted at 0 ms, fails at 12 ms:
/// it should count for nothing, and the breaker opens once more only when job 0's retry (16
/// ms) fails at 28 ms: 2 openings in all. The pool opens it at 12 ms too: 3.
#[test]
fn an_attempt_admitted_before_the_breaker_opened_counts_for_nothing() {
    let cfg = Config {
        workers: 2,
        concurrency: 2,
        queue: 2,
        retries: 2,
        timeout: Some(2),
        backoff: 4,
        breaker: Some(BreakerCfg { trip: Trip::Consecutive(1), cooldown: 1, per_key: false }),
        ..Config::default()
    };
    let scripts = [
        Script {
            steps: vec![Step { ms: 12, kind: Kind::Err }],
            timeout: Some(None),
            ..Script::default()
        },
        Script {
            steps: vec![Step { ms: 4, kind: Kind::Ok }, Step { ms: 0, kind: Kind::Ok }],
            ..Script::default()
        },
    ];
    quiet_panics();
    let expected = model(&cfg, &scripts);
    let (records, totals) = run_pool(&cfg, &scripts);
    assert_eq!(records, expected.records);
    assert_eq!(totals.circuit_opened, expected.totals.circuit_opened);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4000)
}

/// The share of generated cases the model leaves out (open ties), by reason, and how many of
/// the rest exercise each policy: printed (`--nocapture`), and bounded.
#[test]
fn the_share_of_ambiguous_cases_is_low() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (config(), proptest::collection::vec(script(), 1..14));
    let n = 4000;
    let mut left_out: BTreeMap<&str, u32> = BTreeMap::new();
    let mut checked: BTreeMap<&str, u32> = BTreeMap::new();
    let mut bugs: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..n {
        let (cfg, scripts) = strategy.new_tree(&mut runner).unwrap().current();
        let (cfg, scripts) = prepare(cfg, scripts);
        let e = model(&cfg, &scripts);
        if let Some(why) = e.ambiguous {
            *left_out.entry(why).or_default() += 1;
            continue;
        }
        if let Some(why) = e.bug {
            *bugs.entry(why).or_default() += 1;
            continue;
        }
        let t = &e.totals;
        let outcomes = |f: fn(&Outcome) -> bool| e.records.iter().any(|r| f(&r.0));
        let seen = [
            ("checked", true),
            ("a deadline passed", t.deadline_exceeded > 0),
            ("a retry denied", t.retries_denied > 0),
            ("a breaker opened", t.circuit_opened > 0),
            ("a job refused by a breaker", t.circuit_refused > 0),
            ("a hedge started", t.hedges_started > 0),
            ("a hedge won", t.hedges_won > 0),
            ("a retry refused after a timeout", {
                let refused = |s: &Script, r: &Record| {
                    s.refuse.is_some_and(|f| f.timeout) && matches!(r.0, Outcome::TimedOut(_))
                };
                scripts.iter().zip(&e.records).any(|(s, r)| refused(s, r))
            }),
            (
                "a job cancelled while running",
                outcomes(|o| matches!(o, Outcome::Cancelled(n) if *n > 0)),
            ),
        ];
        for (what, yes) in seen {
            if yes {
                *checked.entry(what).or_default() += 1;
            }
        }
    }
    let ambiguous: u32 = left_out.values().sum();
    let buggy: u32 = bugs.values().sum();
    println!("of {n} cases, {ambiguous} left out as ambiguous: {left_out:?}");
    println!("{buggy} left out on the path of a known core bug: {bugs:?}");
    println!("of the {} checked: {checked:?}", checked["checked"]);
    assert!(ambiguous * 100 <= n * 15, "too many ambiguous cases: {ambiguous} of {n}");
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
        let (cfg, scripts) = prepare(cfg, scripts);
        let expected = model(&cfg, &scripts);
        prop_assume!(expected.ambiguous.is_none(), "an open tie");
        // The paths of the two policy bugs fixed since (their plain tests below pass): the
        // model's tie detection was written around them, and a case on one of them can end
        // on a tie it does not flag, so they are still left out.
        prop_assume!(expected.bug.is_none(), "a former core bug's path");
        let (records, totals) = run_pool(&cfg, &scripts);
        prop_assert_eq!(records, expected.records);
        prop_assert_eq!(totals, expected.totals);
    }
}
