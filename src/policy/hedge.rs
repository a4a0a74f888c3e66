//! Hedged attempts, for tail latency (gRPC's hedging policy, tower's `hedge`): if an attempt
//! has not ended after a delay, start another attempt of the same job beside it, and keep the
//! first that succeeds.
//!
//! How hedges fit the rest of the pool is said on [`Hedge`].

use core::time::Duration;

/// Hedged attempts: after `delay`, if the job's attempt has not ended, start another beside
/// it, up to `max` extra, each `delay` after the one before. Set it for a pool with
/// [`PoolBuilder::hedge`](crate::PoolBuilder::hedge), for a job with
/// [`Job::hedge`](crate::Job::hedge).
///
/// How hedges fit the rest of the pool:
///
/// * **A round.** A job runs in rounds: a first attempt, then after each `delay` one more
///   attempt while it has not ended, up to `max` extra. The round ends when an attempt
///   succeeds (the others are dropped at once, so their work stops; in JavaScript their
///   signals abort), or when no attempt of it is left running. An attempt that ends with a
///   failure leaves the others running.
/// * **Retries.** A failure that the retry predicate declines ends the job at once, dropping
///   the round's other attempts. When every attempt of a round has failed, the job retries as
///   a whole, after its backoff, with a new round: `retries(n)` allows `n + 1` rounds. A job's
///   `attempts` count every attempt, hedges included.
/// * **Concurrency and keys.** Hedges run on the job's own worker: they take no worker, no
///   place in the concurrency and no place in the per-key limit. So at most
///   `concurrency × (1 + max)` attempts are in flight.
/// * **Timeouts, rate limits, breakers.** Each hedge is an attempt: it has its own per-attempt
///   timeout, takes a rate token (a hedge due while no token is free starts when one comes
///   back), and counts for the circuit breaker; a hedge starts only while the breaker is
///   closed, and never as its probe. Hedges are not retries: the retry budget does not count
///   them.
/// * **Counted**: [`Metrics::hedges_started`](crate::Metrics::hedges_started) and
///   [`Metrics::hedges_won`](crate::Metrics::hedges_won), and the event
///   [`JobEvent::HedgeStarted`](crate::JobEvent::HedgeStarted).
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::Hedge;
///
/// // A second request if the first has not answered within 50 ms (the service's p95, say).
/// let hedge = Hedge::new(Duration::from_millis(50), 1)?;
/// assert_eq!((hedge.delay(), hedge.max()), (Duration::from_millis(50), 1));
/// assert!(Hedge::new(Duration::from_millis(50), 0).is_err());
/// # Ok::<(), workcrew::PolicyError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hedge {
    delay: Duration,
    max: u32,
}

/// The most hedges a round may add.
pub const MAX_HEDGES: u32 = 16;

impl Hedge {
    /// After `delay`, another attempt, up to `max` extra: 1 to [`MAX_HEDGES`], or
    /// [`PolicyError::HedgeMax`](crate::PolicyError::HedgeMax).
    pub const fn new(delay: Duration, max: u32) -> Result<Self, crate::PolicyError> {
        if max == 0 || max > MAX_HEDGES {
            return Err(crate::PolicyError::HedgeMax { requested: max });
        }
        Ok(Self { delay, max })
    }

    /// The wait before each extra attempt.
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// The most extra attempts in one round.
    pub const fn max(&self) -> u32 {
        self.max
    }
}
