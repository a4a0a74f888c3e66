//! What a consumer counts.

/// Why an entry went to the dead-letter stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadReason {
    /// The job returned an error on its last attempt ([`JobError::Failed`](workcrew::JobError::Failed)).
    Failed,
    /// The job's last attempt timed out ([`JobError::TimedOut`](workcrew::JobError::TimedOut)).
    TimedOut,
    /// The job's last attempt panicked ([`JobError::Panicked`](workcrew::JobError::Panicked)).
    Panicked,
    /// The job's total time limit passed
    /// ([`JobError::DeadlineExceeded`](workcrew::JobError::DeadlineExceeded)).
    DeadlineExceeded,
    /// Redis delivered the entry more than `max_deliveries` times (its consumers died or lost
    /// it each time); it was not run again.
    Deliveries,
    /// The entry could not be decoded (or the consumer's validator refused it); it never ran.
    Undecodable,
}

impl DeadReason {
    /// The reason as written in the dead entry's `reason` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Panicked => "panicked",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Deliveries => "deliveries",
            Self::Undecodable => "undecodable",
        }
    }
}

/// Dead-lettered entries, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadCounts {
    /// [`DeadReason::Failed`].
    pub failed: u64,
    /// [`DeadReason::TimedOut`].
    pub timed_out: u64,
    /// [`DeadReason::Panicked`].
    pub panicked: u64,
    /// [`DeadReason::DeadlineExceeded`].
    pub deadline_exceeded: u64,
    /// [`DeadReason::Deliveries`].
    pub deliveries: u64,
    /// [`DeadReason::Undecodable`].
    pub undecodable: u64,
}

impl DeadCounts {
    /// All dead-lettered entries.
    pub const fn total(&self) -> u64 {
        self.failed
            + self.timed_out
            + self.panicked
            + self.deadline_exceeded
            + self.deliveries
            + self.undecodable
    }
}

/// A snapshot of a consumer's counters.
///
/// Every entry the consumer takes (`read + claimed`) ends in exactly one of `acked`,
/// `dead_lettered`, `released` or `leases_lost`, or is still `held`, so at any moment
/// `read + claimed == acked + dead_lettered.total() + released + leases_lost + held`
/// ([`adds_up`](Self::adds_up)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// New entries read with XREADGROUP.
    pub read: u64,
    /// Entries recovered with XAUTOCLAIM after another consumer's lease lapsed (or released by
    /// another consumer).
    pub claimed: u64,
    /// Entries acknowledged and deleted after their job succeeded.
    pub acked: u64,
    /// Entries moved to the dead-letter stream, by reason.
    pub dead_lettered: DeadCounts,
    /// Entries given back (job cancelled, shutdown, pool closed, circuit breaker open) without
    /// spending a delivery.
    pub released: u64,
    /// Entries that stopped being this consumer's before it settled them: claimed by another
    /// consumer after a lapsed lease, or given up after a settlement error (see `errors`).
    pub leases_lost: u64,
    /// Of `leases_lost`: entries whose job ended after the entry was lost (having finished
    /// anyway, or cancelled because of the loss), so that their ack, dead-lettering or release
    /// was refused: checked with the lease thread's report, or by the script itself.
    pub acks_refused: u64,
    /// Entries taken and not yet settled (gauge).
    pub held: u64,
    /// Connections made again after a failure.
    pub reconnects: u64,
    /// Commands Redis answered with an error (other than a lost connection).
    pub errors: u64,
    /// The longest time, in milliseconds, between the ends of two renewal passes that had
    /// entries to renew (a pass is due every third of the lease). Near the lease or above it,
    /// leases can lapse under a healthy consumer — a starved process, a slow or unreachable
    /// Redis — and the lease should be longer.
    pub max_renewal_gap_ms: u64,
}

impl Metrics {
    /// Entries taken: `read + claimed`.
    pub const fn taken(&self) -> u64 {
        self.read + self.claimed
    }

    /// Entries settled: `acked + dead_lettered + released + leases_lost`.
    pub const fn settled(&self) -> u64 {
        self.acked + self.dead_lettered.total() + self.released + self.leases_lost
    }

    /// Whether `taken() == settled() + held`, as it is for a consistent snapshot (one taken
    /// while entries move may be off by the few in motion; at rest it is exact).
    pub const fn adds_up(&self) -> bool {
        self.taken() == self.settled() + self.held
    }
}
