//! Counters kept by the pool, and the snapshot users read.

use crate::sync::{widen, Counter, Ordering};

/// A snapshot of a pool's counters and gauges.
///
/// Counters only grow. Each says whether it counts **jobs** or **attempts**:
///
/// | field | counts |
/// |---|---|
/// | `submitted` | jobs accepted by `submit`/`try_submit` |
/// | `rejected` | submissions refused (queue full for `try_submit`, or pool closed) |
/// | `started` | jobs whose first attempt began |
/// | `succeeded` | jobs that ended with `Ok` |
/// | `failed` | jobs that ended in [`Failed`], [`TimedOut`] or [`Panicked`] |
/// | `cancelled` | jobs that ended in [`Cancelled`] (queued or running) |
/// | `attempts` | attempts begun |
/// | `retried` | attempts that were retries (attempt 2 or later) |
/// | `timed_out` | attempts that hit their timeout |
/// | `panicked` | attempts that panicked |
/// | `queued` | gauge: jobs accepted and not yet taken by a worker |
/// | `running` | gauge: jobs started and not yet ended |
///
/// A snapshot is consistent at any moment: it never shows a job as ended that it does not also
/// show as submitted. At rest (nothing queued or running),
/// `submitted == succeeded + failed + cancelled`.
///
/// [`Failed`]: crate::JobError::Failed
/// [`TimedOut`]: crate::JobError::TimedOut
/// [`Panicked`]: crate::JobError::Panicked
/// [`Cancelled`]: crate::JobError::Cancelled
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Jobs accepted.
    pub submitted: u64,
    /// Submissions refused.
    pub rejected: u64,
    /// Jobs whose first attempt began.
    pub started: u64,
    /// Jobs that ended with a value.
    pub succeeded: u64,
    /// Jobs that ended with an error, a timeout or a panic.
    pub failed: u64,
    /// Jobs that were cancelled.
    pub cancelled: u64,
    /// Attempts begun.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retried: u64,
    /// Attempts that timed out.
    pub timed_out: u64,
    /// Attempts that panicked.
    pub panicked: u64,
    /// Jobs waiting in the queue (gauge).
    pub queued: u64,
    /// Jobs being run by a worker (gauge).
    pub running: u64,
}

impl Metrics {
    /// Jobs that have ended: `succeeded + failed + cancelled`.
    pub const fn settled(&self) -> u64 {
        self.succeeded + self.failed + self.cancelled
    }

    /// Jobs accepted and not yet ended: `submitted - settled()`.
    pub const fn in_flight(&self) -> u64 {
        self.submitted.saturating_sub(self.settled())
    }
}

/// The live counters. Writers use `Release`, the snapshot `Acquire` and reads the counters in
/// the reverse of the order in which a job passes them, so a snapshot never sees a later stage of
/// a job without its earlier ones.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) submitted: Counter,
    pub(crate) rejected: Counter,
    pub(crate) started: Counter,
    pub(crate) succeeded: Counter,
    pub(crate) failed: Counter,
    /// Cancelled before the first attempt.
    pub(crate) cancelled_queued: Counter,
    /// Cancelled after the first attempt began.
    pub(crate) cancelled_running: Counter,
    pub(crate) retried: Counter,
    pub(crate) timed_out: Counter,
    pub(crate) panicked: Counter,
}

impl Counters {
    pub(crate) fn bump(counter: &Counter) {
        counter.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn snapshot(&self, queued: usize) -> Metrics {
        let get = |c: &Counter| widen(c.load(Ordering::Acquire));
        let succeeded = get(&self.succeeded);
        let failed = get(&self.failed);
        let cancelled_running = get(&self.cancelled_running);
        let cancelled_queued = get(&self.cancelled_queued);
        let retried = get(&self.retried);
        let timed_out = get(&self.timed_out);
        let panicked = get(&self.panicked);
        let started = get(&self.started);
        let submitted = get(&self.submitted);
        let rejected = get(&self.rejected);
        Metrics {
            submitted,
            rejected,
            started,
            succeeded,
            failed,
            cancelled: cancelled_queued + cancelled_running,
            // Every attempt is a job's first (counted in `started`) or a retry.
            attempts: started + retried,
            retried,
            timed_out,
            panicked,
            queued: queued as u64,
            running: started.saturating_sub(succeeded + failed + cancelled_running),
        }
    }
}
