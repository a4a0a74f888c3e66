//! Policies across a job's attempts, beside the per-attempt timeout and the retry schedule:
//!
//! | policy | file | scope |
//! |---|---|---|
//! | total deadline | [`deadline`] | a job: all its attempts and backoffs |
//! | retry budget | [`budget`] | the pool: retries against first attempts |
//! | circuit breaker | [`breaker`] | the pool, or each job key |
//! | hedged attempts | [`hedge`] | a job: attempts beside a slow one |
//!
//! Each is a plain value the user builds (the policy) and, for the two shared ones, a small
//! state behind one lock that the workers consult (the mechanism). None needs a clock: the
//! deadline, the hedge delay and the breaker's cool-down are sleeps of the pool's sleeper;
//! the budget's window is counted in first attempts. A pool that sets none pays a few
//! branches per job, and no allocation, lock or atomic.

pub(crate) mod breaker;
pub(crate) mod budget;
pub(crate) mod deadline;
pub(crate) mod hedge;

use crate::event::Observe;
use crate::job::JobKey;
use crate::metrics::Counters;
use crate::JobEvent;

use breaker::{Admit, Breakers, Change, Verdict};
use budget::Budget;

/// The pool-wide policies' shared state: `None` where the pool sets none.
pub(crate) struct Policies {
    pub(crate) budget: Option<Budget>,
    pub(crate) breakers: Option<Breakers>,
}

/// The breaker refused an attempt: the job ends as [`JobError::CircuitOpen`](crate::JobError::CircuitOpen).
pub(crate) struct Refused;

/// An attempt the breaker let start, until its verdict is told ([`end`](Self::end)). One
/// that is dropped untold (its loop dropped with its worker or by an abort) is told as
/// cancelled (a deadline that cuts a round short tells its running attempts failed, as
/// timeouts): a probe dropped so lets the next attempt probe, and a key's
/// breaker is not forgotten while an attempt it admitted is out. Without a breaker it holds
/// nothing.
pub(crate) struct Admission<'a> {
    grant: Option<(&'a Breakers, Option<&'a JobKey>, Admit)>,
}

impl Policies {
    /// Asks the breaker (if any) whether an attempt of a job with `key` may start.
    #[inline]
    pub(crate) fn admit<'a>(&'a self, key: Option<&'a JobKey>) -> Result<Admission<'a>, Refused> {
        let Some(b) = self.breakers.as_ref() else { return Ok(Admission { grant: None }) };
        let key = b.key_of(key);
        match b.admit(key) {
            Admit::Refuse => Err(Refused),
            admit => Ok(Admission { grant: Some((b, key, admit)) }),
        }
    }

    /// Whether the breaker (if any) would refuse an attempt of a job with `key` now, without
    /// admitting one.
    #[inline]
    pub(crate) fn refusing(&self, key: Option<&JobKey>) -> bool {
        self.breakers.as_ref().is_some_and(|b| b.refusing(b.key_of(key)))
    }

    /// Whether a hedge of a job with `key` may start: only while the breaker is closed (a
    /// hedge is never the probe).
    pub(crate) fn admit_hedge<'a>(
        &'a self,
        key: Option<&'a JobKey>,
    ) -> Result<Admission<'a>, Refused> {
        let Some(b) = self.breakers.as_ref() else { return Ok(Admission { grant: None }) };
        let key = b.key_of(key);
        let admit = b.admit_hedge(key).ok_or(Refused)?;
        Ok(Admission { grant: Some((b, key, admit)) })
    }

    /// A breaker's cool-down ended (timed by a worker): `key` is the job's that opened it.
    pub(crate) fn cooled(
        &self,
        hub: &dyn Observe,
        counters: &Counters,
        key: Option<&JobKey>,
        generation: u64,
    ) {
        let Some(b) = self.breakers.as_ref() else { return };
        let key = b.key_of(key);
        if let Some(change) = b.cooled(key, generation) {
            report(hub, counters, key, change);
        }
    }
}

impl<'a> Admission<'a> {
    /// No admission: the pool has no breaker, or it was told already.
    pub(crate) const NONE: Self = Admission { grant: None };

    /// Whether a breaker admitted the attempt and is not yet told.
    pub(crate) fn is_held(&self) -> bool {
        self.grant.is_some()
    }

    /// Tells the breaker (if the attempt was admitted by one) how the attempt ended, once, and
    /// reports what changed. An opening returns the breaker's key and the generation whose
    /// cool-down to time: the worker holds it ([`Tokens::tell`](crate::timers::Tokens::tell)).
    #[inline]
    pub(crate) fn end(
        &mut self,
        hub: &dyn Observe,
        counters: &Counters,
        v: Verdict,
    ) -> Option<(Option<&'a JobKey>, u64)> {
        let (b, key, admit) = self.grant.take()?;
        let change = b.record(key, admit, v)?;
        report(hub, counters, key, change);
        match change {
            Change::Opened(generation) => Some((key, generation)),
            Change::HalfOpen | Change::Closed => None,
        }
    }
}

impl Drop for Admission<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some((b, key, admit)) = self.grant.take() {
            // A cancelled attempt changes no state that would need reporting.
            b.record(key, admit, Verdict::Cancelled);
        }
    }
}

fn report(hub: &dyn Observe, counters: &Counters, key: Option<&JobKey>, change: Change) {
    let event = match change {
        Change::Opened(_) => {
            Counters::bump(&counters.circuit_opened);
            JobEvent::CircuitOpened { key }
        }
        Change::HalfOpen => JobEvent::CircuitHalfOpen { key },
        Change::Closed => JobEvent::CircuitClosed { key },
    };
    hub.observe(counters, event);
}
