//! A circuit breaker: after repeated failures, stop calling the service for a cool-down, then
//! let one probe through.
//!
//! | state | an attempt that wants to start | what moves it on |
//! |---|---|---|
//! | closed | starts | a trip (`consecutive` failed attempts, or `percent`% of the last `of_last`) opens it |
//! | open | is refused: its job ends as [`JobError::CircuitOpen`](crate::JobError::CircuitOpen) | the cool-down ends: half-open |
//! | half-open | the first starts as the probe; others are refused | the probe succeeds: closed; fails: open again; is cancelled: half-open, for another probe |
//!
//! Failed attempts are errors, timeouts, panics, and attempts a job's deadline cut short;
//! cancelled attempts (a cancel request, a hedge dropped because another attempt won) count
//! for nothing. An attempt admitted before
//! the breaker opened and ending after it counts for nothing either: the breaker already knows.
//!
//! There is no clock: the cool-down is a sleep of the pool's sleeper, held by the worker whose
//! attempt opened the breaker, alongside its rate tokens (`timers::Tokens`). A worker whose
//! queue ran dry in a `close()` or a graceful shutdown keeps timing its cool-downs while other
//! workers still run jobs; a worker that stops (dropped, aborted, or the pool quiet) with a
//! cool-down still running makes the breaker half-open at once, so that no breaker stays open
//! with nobody to close it. The breaker's state sits behind one lock, held
//! for a few comparisons, never across user code.

use alloc::collections::BTreeMap;
use core::time::Duration;

use crate::job::JobKey;
use crate::sync::Lock;

/// When a circuit breaker opens, and for how long. Set it with
/// [`PoolBuilder::circuit_breaker`](crate::PoolBuilder::circuit_breaker).
///
/// | state | an attempt that wants to start | what moves it on |
/// |---|---|---|
/// | closed | starts | a trip (`consecutive` failed attempts, or `percent`% of the last `of_last`) opens it |
/// | open | is refused: its job ends as [`JobError::CircuitOpen`](crate::JobError::CircuitOpen) | the cool-down ends: half-open |
/// | half-open | the first starts as the probe; others are refused | the probe succeeds: closed; fails: open again; is cancelled: half-open, for another probe |
///
/// Failed attempts are errors, timeouts, panics, and attempts a job's deadline cut short;
/// cancelled attempts (a cancel request, a hedge dropped because another attempt won) count
/// for nothing. An attempt admitted before
/// the breaker opened and ending after it counts for nothing either: the breaker already knows.
///
/// Opening, half-opening and closing are reported as [`JobEvent::CircuitOpened`],
/// [`JobEvent::CircuitHalfOpen`] and [`JobEvent::CircuitClosed`]; refused jobs are counted in
/// [`Metrics::circuit_refused`](crate::Metrics::circuit_refused). The cool-down is a sleep of
/// the pool's sleeper, timed by the worker whose attempt opened the breaker.
///
/// [`JobEvent::CircuitOpened`]: crate::JobEvent::CircuitOpened
/// [`JobEvent::CircuitHalfOpen`]: crate::JobEvent::CircuitHalfOpen
/// [`JobEvent::CircuitClosed`]: crate::JobEvent::CircuitClosed
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::CircuitBreaker;
///
/// // Open after 5 failed attempts in a row; after 10 s, let one probe through.
/// let one = CircuitBreaker::consecutive(5, Duration::from_secs(10));
/// // Open when half of the last 20 attempts failed, one breaker per job key (a host).
/// let per_host = CircuitBreaker::ratio(50, 20, Duration::from_secs(10)).per_key();
/// assert_ne!(one, per_host);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub(crate) trip: Trip,
    pub(crate) cooldown: Duration,
    pub(crate) per_key: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trip {
    Consecutive(u32),
    Ratio { percent: u32, of_last: u32 },
}

/// The most attempts a ratio breaker remembers.
pub const MAX_BREAKER_WINDOW: u32 = 1024;

impl CircuitBreaker {
    /// Opens after `failures` failed attempts in a row (at least 1), for `cooldown`.
    pub const fn consecutive(failures: u32, cooldown: Duration) -> Self {
        Self { trip: Trip::Consecutive(failures), cooldown, per_key: false }
    }

    /// Opens when at least `percent`% (1 to 100) of the last `of_last` attempts (1 to
    /// [`MAX_BREAKER_WINDOW`]) failed, once that many have ended; for `cooldown`.
    pub const fn ratio(percent: u32, of_last: u32, cooldown: Duration) -> Self {
        Self { trip: Trip::Ratio { percent, of_last }, cooldown, per_key: false }
    }

    /// One breaker per job key ([`Job::key`](crate::Job::key)): a failing host opens its own
    /// breaker only. Jobs without a key share the pool's. A key's breaker is forgotten while it
    /// is closed, remembers no failure and has no attempt running (so healthy keys do not pile
    /// up; a key whose breaker remembers a failure, or is open, is kept until a later attempt
    /// of it clears that); the key's next attempt starts a new one, closed.
    pub const fn per_key(mut self) -> Self {
        self.per_key = true;
        self
    }

    pub(crate) fn check(self) -> Result<Self, crate::PolicyError> {
        use crate::PolicyError as E;
        match self.trip {
            Trip::Consecutive(0) => return Err(E::ZeroFailures),
            Trip::Ratio { percent, .. } if percent == 0 || percent > 100 => {
                return Err(E::FailurePercent { requested: percent })
            }
            Trip::Ratio { of_last, .. } if of_last == 0 || of_last > MAX_BREAKER_WINDOW => {
                return Err(E::BreakerWindow { requested: of_last })
            }
            _ => {}
        }
        if self.cooldown.is_zero() {
            return Err(E::ZeroCooldown);
        }
        Ok(self)
    }
}

/// What the breaker says to an attempt that wants to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Closed: start. The breaker's generation then: a verdict counts only if the breaker has
    /// not opened since.
    Pass(u64),
    /// Half-open: start, as the one probe of this generation.
    Probe(u64),
    /// Open, or half-open with its probe out: do not start.
    Refuse,
}

/// How an admitted attempt ended, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    Cancelled,
}

/// A state change to report (and, for `Opened`, a cool-down to time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Opened: time `cooldown`, then call [`Breakers::cooled`] with this generation.
    Opened(u64),
    HalfOpen,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    Open,
    HalfOpen { probing: bool },
}

/// One breaker's state.
#[derive(Clone, Debug)]
struct Breaker {
    phase: Phase,
    /// Opened so many times: a cool-down names the opening it ends.
    generation: u64,
    /// Attempts admitted and not yet told: a key's breaker is kept while any is out, so that
    /// its generation still tells their verdicts apart.
    out: u32,
    /// Failed attempts in a row (closed).
    consecutive: u32,
    /// The last attempts' verdicts, a bit each (1: failed), newest at `next - 1`.
    window: alloc::vec::Vec<u64>,
    next: u32,
    seen: u32,
    failures: u32,
}

impl Breaker {
    fn new(trip: Trip) -> Self {
        let words = match trip {
            Trip::Ratio { of_last, .. } => of_last.div_ceil(64) as usize,
            Trip::Consecutive(_) => 0,
        };
        Self {
            phase: Phase::Closed,
            generation: 0,
            out: 0,
            consecutive: 0,
            window: alloc::vec![0; words],
            next: 0,
            seen: 0,
            failures: 0,
        }
    }

    fn admit(&mut self) -> Admit {
        let admit = match self.phase {
            Phase::Closed => Admit::Pass(self.generation),
            Phase::Open | Phase::HalfOpen { probing: true } => return Admit::Refuse,
            Phase::HalfOpen { probing: false } => {
                self.phase = Phase::HalfOpen { probing: true };
                Admit::Probe(self.generation)
            }
        };
        self.out = self.out.saturating_add(1);
        admit
    }

    /// A hedge starts only while the breaker is closed: it is never the probe.
    fn admit_hedge(&mut self) -> Option<Admit> {
        if self.phase != Phase::Closed {
            return None;
        }
        self.out = self.out.saturating_add(1);
        Some(Admit::Pass(self.generation))
    }

    /// Forgets every verdict (closing, or opening).
    fn reset(&mut self) {
        self.consecutive = 0;
        self.window.iter_mut().for_each(|w| *w = 0);
        (self.next, self.seen, self.failures) = (0, 0, 0);
    }

    fn open(&mut self) -> Change {
        self.reset();
        self.phase = Phase::Open;
        self.generation += 1;
        Change::Opened(self.generation)
    }

    fn record(&mut self, trip: Trip, admitted: Admit, verdict: Verdict) -> Option<Change> {
        if admitted != Admit::Refuse {
            self.out = self.out.saturating_sub(1);
        }
        let current = match admitted {
            Admit::Pass(g) | Admit::Probe(g) => g == self.generation,
            Admit::Refuse => false,
        };
        if !current {
            return None; // admitted before the breaker opened (again): it knows already
        }
        match (admitted, self.phase, verdict) {
            (Admit::Probe(_), Phase::HalfOpen { probing: true }, Verdict::Success) => {
                self.reset();
                self.phase = Phase::Closed;
                Some(Change::Closed)
            }
            (Admit::Probe(_), Phase::HalfOpen { probing: true }, Verdict::Failure) => {
                Some(self.open())
            }
            (Admit::Probe(_), Phase::HalfOpen { probing: true }, Verdict::Cancelled) => {
                self.phase = Phase::HalfOpen { probing: false };
                None
            }
            (Admit::Pass(_), Phase::Closed, Verdict::Success | Verdict::Failure) => {
                let failed = verdict == Verdict::Failure;
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                let tripped = match trip {
                    Trip::Consecutive(n) => self.consecutive >= n,
                    Trip::Ratio { percent, of_last } => {
                        let (word, bit) = ((self.next / 64) as usize, self.next % 64);
                        let old = self.window[word] >> bit & 1 == 1;
                        if self.seen == of_last && old {
                            self.failures -= 1;
                        }
                        self.window[word] &= !(1 << bit);
                        if failed {
                            self.window[word] |= 1 << bit;
                            self.failures += 1;
                        }
                        self.next = (self.next + 1) % of_last;
                        self.seen = (self.seen + 1).min(of_last);
                        self.seen == of_last
                            && u64::from(self.failures) * 100
                                >= u64::from(percent) * u64::from(of_last)
                    }
                };
                tripped.then(|| self.open())
            }
            // Admitted before the breaker opened (or a cancelled attempt): it knows already.
            _ => None,
        }
    }

    fn cooled(&mut self, generation: u64) -> Option<Change> {
        if self.phase == Phase::Open && self.generation == generation {
            self.phase = Phase::HalfOpen { probing: false };
            return Some(Change::HalfOpen);
        }
        None
    }

    /// Closed, remembering no failure, and with no admitted attempt out: the same as a new
    /// breaker.
    fn is_idle(&self) -> bool {
        self.phase == Phase::Closed && self.consecutive == 0 && self.failures == 0 && self.out == 0
    }
}

/// A pool's breakers: one, or one per key (and one for jobs without a key).
pub(crate) struct Breakers {
    config: CircuitBreaker,
    inner: Lock<Inner>,
}

struct Inner {
    pool: Breaker,
    keys: BTreeMap<JobKey, Breaker>,
}

impl Breakers {
    pub(crate) fn new(config: CircuitBreaker) -> Self {
        let inner = Inner { pool: Breaker::new(config.trip), keys: BTreeMap::new() };
        Self { config, inner: Lock::new(inner) }
    }

    /// The cool-down of an opened breaker.
    pub(crate) fn cooldown(&self) -> Duration {
        self.config.cooldown
    }

    /// The breaker a job with `key` answers to: `None` for the pool's.
    pub(crate) fn key_of<'k>(&self, key: Option<&'k JobKey>) -> Option<&'k JobKey> {
        key.filter(|_| self.config.per_key)
    }

    fn with<R>(&self, key: Option<&JobKey>, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut inner = self.inner.lock();
        let Some(key) = key else { return f(&mut inner.pool) };
        let trip = self.config.trip;
        if let Some(b) = inner.keys.get_mut(key) {
            let r = f(b);
            if b.is_idle() {
                inner.keys.remove(key);
            }
            return r;
        }
        let mut b = Breaker::new(trip);
        let r = f(&mut b);
        if !b.is_idle() {
            inner.keys.insert(key.clone(), b);
        }
        r
    }

    /// Whether an attempt of a job with `key` would be refused now (open, or half-open with
    /// its probe out), without admitting it: a retry about to wait for a rate token asks.
    pub(crate) fn refusing(&self, key: Option<&JobKey>) -> bool {
        let inner = self.inner.lock();
        let b = match key {
            None => &inner.pool,
            Some(key) => match inner.keys.get(key) {
                Some(b) => b,
                None => return false, // forgotten: closed
            },
        };
        matches!(b.phase, Phase::Open | Phase::HalfOpen { probing: true })
    }

    /// Whether an attempt of a job with `key` (from [`key_of`](Self::key_of)) may start.
    pub(crate) fn admit(&self, key: Option<&JobKey>) -> Admit {
        self.with(key, Breaker::admit)
    }

    /// Whether a hedged attempt may start: only while the breaker is closed (a hedge is never
    /// the probe); `Some` admission if so.
    pub(crate) fn admit_hedge(&self, key: Option<&JobKey>) -> Option<Admit> {
        self.with(key, Breaker::admit_hedge)
    }

    /// How an admitted attempt ended.
    pub(crate) fn record(
        &self,
        key: Option<&JobKey>,
        admitted: Admit,
        v: Verdict,
    ) -> Option<Change> {
        let trip = self.config.trip;
        self.with(key, |b| b.record(trip, admitted, v))
    }

    /// A cool-down of opening `generation` ended.
    pub(crate) fn cooled(&self, key: Option<&JobKey>, generation: u64) -> Option<Change> {
        self.with(key, |b| b.cooled(generation))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(1);

    fn fail(b: &Breakers, key: Option<&JobKey>) -> Option<Change> {
        let admitted = b.admit(key);
        b.record(key, admitted, Verdict::Failure)
    }

    #[test]
    fn consecutive_failures_open_it_and_a_probe_closes_it() {
        let b = Breakers::new(CircuitBreaker::consecutive(3, COOL));
        assert_eq!(fail(&b, None), None);
        assert_eq!(b.record(None, Admit::Pass(0), Verdict::Success), None); // the run is broken
        assert_eq!((fail(&b, None), fail(&b, None)), (None, None));
        assert_eq!(fail(&b, None), Some(Change::Opened(1)));
        assert_eq!(b.admit(None), Admit::Refuse);
        assert_eq!(b.cooled(None, 0), None, "a stale cool-down changes nothing");
        assert_eq!(b.cooled(None, 1), Some(Change::HalfOpen));
        assert!(matches!(b.admit(None), Admit::Probe(_)));
        assert_eq!(b.admit(None), Admit::Refuse, "one probe at a time");
        assert_eq!(b.record(None, Admit::Probe(1), Verdict::Success), Some(Change::Closed));
        assert!(matches!(b.admit(None), Admit::Pass(_)));
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_cancelled_one_lets_another_through() {
        let b = Breakers::new(CircuitBreaker::consecutive(1, COOL));
        assert_eq!(fail(&b, None), Some(Change::Opened(1)));
        b.cooled(None, 1);
        assert!(matches!(b.admit(None), Admit::Probe(_)));
        assert_eq!(b.record(None, Admit::Probe(1), Verdict::Cancelled), None);
        assert!(matches!(b.admit(None), Admit::Probe(_)));
        assert_eq!(b.record(None, Admit::Probe(1), Verdict::Failure), Some(Change::Opened(2)));
        assert_eq!(b.cooled(None, 1), None);
        assert_eq!(b.cooled(None, 2), Some(Change::HalfOpen));
    }

    #[test]
    fn attempts_admitted_before_it_opened_count_for_nothing() {
        let b = Breakers::new(CircuitBreaker::consecutive(1, COOL));
        let early = b.admit(None);
        assert_eq!(fail(&b, None), Some(Change::Opened(1)));
        assert_eq!(b.record(None, early, Verdict::Failure), None);
        b.cooled(None, 1);
        assert_eq!(b.record(None, early, Verdict::Success), None, "only the probe closes it");
        assert!(matches!(b.admit(None), Admit::Probe(_)));
    }

    #[test]
    fn a_ratio_opens_it_once_the_window_is_full() {
        let b = Breakers::new(CircuitBreaker::ratio(50, 4, COOL));
        assert_eq!((fail(&b, None), fail(&b, None)), (None, None));
        assert_eq!(b.record(None, Admit::Pass(0), Verdict::Success), None);
        assert_eq!(b.record(None, Admit::Pass(0), Verdict::Success), Some(Change::Opened(1)));
        // After a probe closes it, the window starts empty: 3 of 4 failed, then a success.
        b.cooled(None, 1);
        b.admit(None);
        b.record(None, Admit::Probe(1), Verdict::Success);
        for _ in 0..10 {
            // A failure and a success in turn: 50% of the last 4, whenever 4 are seen.
            assert_eq!(b.record(None, Admit::Pass(1), Verdict::Success), None);
            let change = fail(&b, None);
            if change.is_some() {
                return;
            }
        }
        panic!("50% of the last 4 never opened it");
    }

    #[test]
    fn the_ratio_forgets_the_oldest_verdict() {
        let b = Breakers::new(CircuitBreaker::ratio(75, 4, COOL));
        assert_eq!(fail(&b, None), None);
        for _ in 0..3 {
            assert_eq!(b.record(None, Admit::Pass(0), Verdict::Success), None);
        }
        // [F S S S]; a failure replaces the oldest verdict (the F): still 1 of 4, then 2, then 3.
        assert_eq!((fail(&b, None), fail(&b, None)), (None, None));
        assert_eq!(fail(&b, None), Some(Change::Opened(1)), "[S F F F] is 75%");
    }

    #[test]
    fn per_key_breakers_are_apart_and_idle_ones_forgotten() {
        let b = Breakers::new(CircuitBreaker::consecutive(2, COOL).per_key());
        let (a, c) = (JobKey::from("a"), JobKey::from("c"));
        let ka = b.key_of(Some(&a));
        assert_eq!(fail(&b, ka), None);
        assert_eq!(fail(&b, ka), Some(Change::Opened(1)));
        assert_eq!(b.admit(ka), Admit::Refuse);
        assert!(matches!(b.admit(Some(&c)), Admit::Pass(_)));
        assert!(matches!(b.admit(None), Admit::Pass(_)));
        b.record(Some(&c), Admit::Pass(0), Verdict::Success);
        assert_eq!(b.inner.lock().keys.len(), 1, "c's breaker is idle: forgotten");
        let pooled = Breakers::new(CircuitBreaker::consecutive(2, COOL));
        assert_eq!(pooled.key_of(Some(&a)), None, "without per_key every job shares one");
    }

    #[test]
    fn bad_settings_are_refused() {
        use crate::PolicyError as E;
        let c = CircuitBreaker::consecutive(0, COOL).check();
        assert_eq!(c, Err(E::ZeroFailures));
        assert_eq!(
            CircuitBreaker::ratio(0, 4, COOL).check(),
            Err(E::FailurePercent { requested: 0 })
        );
        assert_eq!(
            CircuitBreaker::ratio(101, 4, COOL).check(),
            Err(E::FailurePercent { requested: 101 })
        );
        assert_eq!(
            CircuitBreaker::ratio(50, 0, COOL).check(),
            Err(E::BreakerWindow { requested: 0 })
        );
        assert_eq!(
            CircuitBreaker::ratio(50, 2000, COOL).check(),
            Err(E::BreakerWindow { requested: 2000 })
        );
        assert_eq!(CircuitBreaker::consecutive(1, Duration::ZERO).check(), Err(E::ZeroCooldown));
    }
}
