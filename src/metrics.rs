//! Counters kept by the pool, and the snapshot users read.

use alloc::boxed::Box;

use crate::sync::{widen, Counter, Ordering, Padded};

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
/// | `failed` | jobs that ended in [`Failed`], [`TimedOut`], [`Panicked`], [`DeadlineExceeded`] or [`CircuitOpen`] |
/// | `cancelled` | jobs that ended in [`Cancelled`] (queued or running) |
/// | `attempts` | attempts begun |
/// | `retried` | attempts that were retries (the first attempt of a round after the first) |
/// | `timed_out` | attempts that hit their timeout |
/// | `panicked` | attempts that panicked, and panics of the pool's helpers for a job: its retry predicate, and the sleeper's timers (timeout, backoff, deadline) |
/// | `observer_panics` | calls of the event observer that panicked (each caught) |
/// | `deadline_exceeded` | jobs that ended in [`DeadlineExceeded`] (also in `failed`) |
/// | `retries_denied` | retries the [retry budget](crate::RetryBudget) denied (each ended its job) |
/// | `circuit_refused` | jobs an open [circuit breaker](crate::CircuitBreaker) ended as [`CircuitOpen`] (also in `failed`) |
/// | `circuit_opened` | times a circuit breaker opened |
/// | `hedges_started` | hedged attempts begun ([`Hedge`](crate::Hedge); also in `attempts`) |
/// | `hedges_won` | jobs whose value came from a hedged attempt |
/// | `queued` | gauge: jobs accepted and not yet taken by a worker (those waiting on their key included) |
/// | `waiting_on_key` | gauge: queued jobs waiting because their key is at its limit |
/// | `running` | gauge: jobs started and not yet ended |
/// | `workers` | gauge: workers alive (they stop after a shutdown, or when an executor drops them) |
///
/// A snapshot is consistent at any moment: it never shows a job as ended that it does not also
/// show as submitted. At rest (nothing queued or running),
/// `submitted == succeeded + failed + cancelled`.
///
/// [`Failed`]: crate::JobError::Failed
/// [`TimedOut`]: crate::JobError::TimedOut
/// [`Panicked`]: crate::JobError::Panicked
/// [`Cancelled`]: crate::JobError::Cancelled
/// [`DeadlineExceeded`]: crate::JobError::DeadlineExceeded
/// [`CircuitOpen`]: crate::JobError::CircuitOpen
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Attempts that panicked, and the pool's helpers for a job that did (its retry
    /// predicate, the sleeper's timers).
    pub panicked: u64,
    /// Observer calls that panicked.
    pub observer_panics: u64,
    /// Jobs that ran past their total deadline.
    pub deadline_exceeded: u64,
    /// Retries the retry budget denied.
    pub retries_denied: u64,
    /// Jobs an open circuit breaker refused.
    pub circuit_refused: u64,
    /// Times a circuit breaker opened.
    pub circuit_opened: u64,
    /// Hedged attempts begun.
    pub hedges_started: u64,
    /// Jobs whose value came from a hedged attempt.
    pub hedges_won: u64,
    /// Jobs waiting in the queue (gauge), those waiting on their key included.
    pub queued: u64,
    /// Queued jobs waiting because their key is at its limit (gauge).
    pub waiting_on_key: u64,
    /// Jobs being run by a worker (gauge).
    pub running: u64,
    /// Workers alive (gauge).
    pub workers: u64,
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

    /// This snapshot with `rejected` replaced: for comparing two snapshots that may differ only
    /// in refusals (a pool refuses submissions after it stopped, so only `rejected` still grows).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = workcrew::Metrics::default();
    /// assert_eq!(a.with_rejected(3).rejected, 3);
    /// assert_eq!(a.with_rejected(3).with_rejected(0), a);
    /// ```
    pub const fn with_rejected(mut self, rejected: u64) -> Self {
        self.rejected = rejected;
        self
    }
}

/// The counters of one worker, or of everything that happens outside workers. Written by one
/// thread at a time in the common case, on a cache line of its own.
#[derive(Default)]
pub(crate) struct Counters {
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
    pub(crate) observer_panics: Counter,
    /// Jobs that ended past their deadline (also in `failed`).
    pub(crate) deadline_exceeded: Counter,
    /// Retries the budget denied.
    pub(crate) retries_denied: Counter,
    /// Jobs an open breaker refused (in `failed`, or in `refused_unstarted`).
    pub(crate) circuit_refused: Counter,
    /// Jobs an open breaker refused before their first attempt: failed, but never started.
    pub(crate) refused_unstarted: Counter,
    /// Breakers that opened.
    pub(crate) circuit_opened: Counter,
    pub(crate) hedges_started: Counter,
    pub(crate) hedges_won: Counter,
}

impl Counters {
    pub(crate) fn bump(counter: &Counter) {
        // Each block has one writer in the common case, but not always (the `outside` block, a
        // worker counted out while another thread drains): an atomic add, not a load and store.
        counter.fetch_add(1, Ordering::Release);
    }
}

/// The pool's counters: the submitters' on one cache line, then one block per worker and one
/// for everything settled outside a worker (a queued job cancelled by its handle or the pool).
///
/// Writers use `Release`; the snapshot reads with `Acquire`, in the reverse of the order in
/// which a job passes the counters (ended, then started, then submitted), so a snapshot never
/// shows a later stage of a job without its earlier ones.
pub(crate) struct PoolCounters {
    pub(crate) submitted: Padded<Counter>,
    pub(crate) rejected: Padded<Counter>,
    blocks: Box<[Padded<Counters>]>,
}

impl PoolCounters {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            submitted: Padded::default(),
            rejected: Padded::default(),
            blocks: (0..=workers).map(|_| Padded::default()).collect(),
        }
    }

    /// Worker `index`'s block.
    pub(crate) fn worker(&self, index: usize) -> &Counters {
        &self.blocks[index]
    }

    /// The block for what happens outside any worker.
    pub(crate) fn outside(&self) -> &Counters {
        &self.blocks[self.blocks.len() - 1]
    }

    pub(crate) fn snapshot(&self, queued: usize, waiting_on_key: usize, workers: usize) -> Metrics {
        let sum = |field: fn(&Counters) -> &Counter| -> u64 {
            self.blocks.iter().map(|b| widen(field(b).load(Ordering::Acquire))).sum()
        };
        let succeeded = sum(|c| &c.succeeded);
        let refused_unstarted = sum(|c| &c.refused_unstarted);
        let failed = sum(|c| &c.failed);
        let cancelled_running = sum(|c| &c.cancelled_running);
        let cancelled_queued = sum(|c| &c.cancelled_queued);
        let retried = sum(|c| &c.retried);
        let timed_out = sum(|c| &c.timed_out);
        let panicked = sum(|c| &c.panicked);
        let observer_panics = sum(|c| &c.observer_panics);
        let deadline_exceeded = sum(|c| &c.deadline_exceeded);
        let retries_denied = sum(|c| &c.retries_denied);
        let circuit_refused = sum(|c| &c.circuit_refused);
        let circuit_opened = sum(|c| &c.circuit_opened);
        let hedges_won = sum(|c| &c.hedges_won);
        let hedges_started = sum(|c| &c.hedges_started);
        let started = sum(|c| &c.started);
        let submitted = widen(self.submitted.load(Ordering::Acquire));
        let rejected = widen(self.rejected.load(Ordering::Acquire));
        Metrics {
            submitted,
            rejected,
            started,
            succeeded,
            failed: failed + refused_unstarted,
            cancelled: cancelled_queued + cancelled_running,
            // Every attempt is a job's first (counted in `started`), a retry or a hedge.
            attempts: started + retried + hedges_started,
            retried,
            timed_out,
            panicked,
            observer_panics,
            deadline_exceeded,
            retries_denied,
            circuit_refused,
            circuit_opened,
            hedges_started,
            hedges_won,
            queued: queued as u64,
            waiting_on_key: waiting_on_key as u64,
            running: started.saturating_sub(succeeded + failed + cancelled_running),
            workers: workers as u64,
        }
    }
}
