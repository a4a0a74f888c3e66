//! How one attempt ended: the one outcome type the cell, the attempt and the attempt loop share.
//!
//! The cell reports the first four (its poll of the attempt's future); the attempt adds
//! `TimedOut` and `Cancelled` (its timer, or a cancel request, won the race). The attempt loop
//! turns it into the job's [`JobError`](crate::JobError), if the job ends, and whether to retry
//! (`attempt::decide`).

use alloc::string::String;

use crate::policy::breaker::Verdict;

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The value is in the cell's stage, to be published when the job settles.
    Succeeded,
    /// The error is in the stage; `retry` is the retry predicate's verdict.
    Failed {
        /// Whether the predicate allows a retry.
        retry: bool,
    },
    /// It ran past its timeout; its future was dropped.
    TimedOut,
    /// The attempt (the job's function or its future) panicked.
    Panicked(Option<String>),
    /// User code the pool calls around the attempt (the retry predicate, the sleeper)
    /// panicked: the job ends.
    PoolCodePanicked(Option<String>),
    /// A cancel request won.
    Cancelled,
}

impl Ended {
    /// How the attempt counts for a circuit breaker.
    pub(crate) fn verdict(&self) -> Verdict {
        match self {
            Ended::Succeeded => Verdict::Success,
            Ended::Cancelled => Verdict::Cancelled,
            Ended::Failed { .. }
            | Ended::TimedOut
            | Ended::Panicked(_)
            | Ended::PoolCodePanicked(_) => Verdict::Failure,
        }
    }
}
