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
//! the budget's window is counted in first attempts. A pool that sets none pays one branch
//! per job for each.

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

impl Policies {
    /// Asks the breaker (if any) whether an attempt of a job with `key` may start. `None`:
    /// there is no breaker.
    pub(crate) fn admit(&self, key: Option<&JobKey>) -> Option<Admit> {
        let b = self.breakers.as_ref()?;
        Some(b.admit(b.key_of(key)))
    }

    /// Whether a hedge of a job with `key` may start: `Err` if not (the breaker is not
    /// closed), else its admission (`None` without a breaker).
    pub(crate) fn admit_hedge(&self, key: Option<&JobKey>) -> Result<Option<Admit>, ()> {
        let Some(b) = self.breakers.as_ref() else { return Ok(None) };
        b.admit_hedge(b.key_of(key)).map(Some).ok_or(())
    }

    /// Tells the breaker (if the attempt was admitted by one) how an attempt ended, and
    /// reports what changed. An opening returns the cool-down to time: the worker holds it.
    pub(crate) fn attempt_ended(
        &self,
        hub: &dyn Observe,
        counters: &Counters,
        key: Option<&JobKey>,
        admitted: Option<Admit>,
        verdict: Verdict,
    ) -> Option<u64> {
        let (b, admitted) = (self.breakers.as_ref()?, admitted?);
        let key = b.key_of(key);
        let change = b.record(key, admitted, verdict)?;
        Self::report(hub, counters, key, change);
        match change {
            Change::Opened(generation) => Some(generation),
            Change::HalfOpen | Change::Closed => None,
        }
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
            Self::report(hub, counters, key, change);
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
}
