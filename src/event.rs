//! What happens to a job, as it happens: events for observers such as a live UI.

use core::any::Any;
use core::time::Duration;

use crate::JobKey;

/// Something that happened to a job, passed to the observer set with
/// [`PoolBuilder::on_event`](crate::PoolBuilder::on_event).
///
/// `job` is the job's id (see [`Attempt::job_id`](crate::Attempt::job_id) and
/// [`JobHandle::job_id`](crate::JobHandle::job_id)); `attempt` counts from 1. A job's events
/// arrive in order: `Queued` (then `WaitingOnKey` while its key is busy), then per attempt
/// `AttemptStarted` (and `HedgeStarted` for a hedge) and, unless it succeeded, one of
/// `AttemptFailed` / `AttemptTimedOut` / `AttemptPanicked`, then `RetryScheduled` before a
/// retry (or `RetryDenied` when the budget is spent), `DeadlineExceeded` if its deadline
/// passed, and last exactly one of `Succeeded`, `Failed` or `Cancelled`. The attempts of a
/// hedged round overlap, so their events interleave. The circuit breaker's events
/// (`CircuitOpened`, `CircuitHalfOpen`, `CircuitClosed`) are about no job.
///
/// The observer runs on the thread that caused the event (a worker, or the submitter for
/// `Queued`); keep it short. A panic in it is caught (with `std`) and counted in
/// [`Metrics::observer_panics`](crate::Metrics::observer_panics); that event is lost, and the
/// observer is still called for the next.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum JobEvent<'a> {
    /// Accepted into the queue.
    Queued {
        /// The job's id.
        job: u64,
    },
    /// The job was next in line, but its key had [`per_key`](crate::PoolBuilder::per_key)
    /// jobs running: it waits for its key, without a worker, and starts once one of them ends.
    WaitingOnKey {
        /// The job's id.
        job: u64,
    },
    /// An attempt began.
    AttemptStarted {
        /// The job's id.
        job: u64,
        /// The attempt's number, from 1.
        attempt: u32,
    },
    /// An attempt returned an error; `error` is the job's `E` (downcast it).
    AttemptFailed {
        /// The job's id.
        job: u64,
        /// The attempt's number.
        attempt: u32,
        /// The attempt's error, as `&E`.
        error: &'a dyn Any,
    },
    /// An attempt hit its timeout and was dropped.
    AttemptTimedOut {
        /// The job's id.
        job: u64,
        /// The attempt's number.
        attempt: u32,
    },
    /// An attempt panicked.
    AttemptPanicked {
        /// The job's id.
        job: u64,
        /// The attempt's number.
        attempt: u32,
        /// The panic message, if it was a string.
        message: Option<&'a str>,
    },
    /// Another attempt will start after `delay`.
    RetryScheduled {
        /// The job's id.
        job: u64,
        /// The number of the attempt to come.
        attempt: u32,
        /// The backoff delay before it.
        delay: Duration,
    },
    /// The job ended with a value.
    Succeeded {
        /// The job's id.
        job: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The job ended with an error, a timeout or a panic.
    Failed {
        /// The job's id.
        job: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The job was cancelled.
    Cancelled {
        /// The job's id.
        job: u64,
        /// Attempts made (0 if it never started).
        attempts: u32,
    },
    /// A hedged attempt began beside one still running ([`Hedge`](crate::Hedge)); its
    /// `AttemptStarted` came just before.
    HedgeStarted {
        /// The job's id.
        job: u64,
        /// The hedge's attempt number.
        attempt: u32,
    },
    /// The retry budget ([`RetryBudget`](crate::RetryBudget)) was spent: the job ends with
    /// its last attempt's failure instead of retrying (its `Failed` follows).
    RetryDenied {
        /// The job's id.
        job: u64,
        /// The number the denied attempt would have had.
        attempt: u32,
    },
    /// The job's total deadline passed; its `Failed` follows.
    DeadlineExceeded {
        /// The job's id.
        job: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// A circuit breaker opened: attempts of its jobs are refused until its cool-down ends.
    CircuitOpened {
        /// The breaker's key, for a per-key breaker; `None` for the pool's.
        key: Option<&'a JobKey>,
    },
    /// A circuit breaker's cool-down ended: the next attempt is its probe.
    CircuitHalfOpen {
        /// The breaker's key, for a per-key breaker; `None` for the pool's.
        key: Option<&'a JobKey>,
    },
    /// A circuit breaker's probe succeeded: it is closed again.
    CircuitClosed {
        /// The breaker's key, for a per-key breaker; `None` for the pool's.
        key: Option<&'a JobKey>,
    },
}

impl JobEvent<'_> {
    /// The id of the job this event is about; `None` for a circuit breaker's.
    pub fn job(&self) -> Option<u64> {
        match *self {
            Self::Queued { job }
            | Self::WaitingOnKey { job }
            | Self::AttemptStarted { job, .. }
            | Self::AttemptFailed { job, .. }
            | Self::AttemptTimedOut { job, .. }
            | Self::AttemptPanicked { job, .. }
            | Self::RetryScheduled { job, .. }
            | Self::Succeeded { job, .. }
            | Self::Failed { job, .. }
            | Self::Cancelled { job, .. }
            | Self::HedgeStarted { job, .. }
            | Self::RetryDenied { job, .. }
            | Self::DeadlineExceeded { job, .. } => Some(job),
            Self::CircuitOpened { .. }
            | Self::CircuitHalfOpen { .. }
            | Self::CircuitClosed { .. } => None,
        }
    }
}

/// Where events go: the pool's observer, if it has one (`shared::Hub`).
pub(crate) trait Observe {
    /// Tells the observer of `event`; a panic in it is counted in `counters`.
    fn observe(&self, counters: &crate::metrics::Counters, event: JobEvent<'_>);
}
