//! Everything that can go wrong, as typed values: building a pool, submitting a job, running one.

use alloc::string::String;
use core::fmt;

/// Why a job did not produce a value. Every variant carries the number of attempts made.
///
/// # Examples
///
/// ```
/// use workcrew::JobError;
///
/// let e: JobError<&str> = JobError::Failed { error: "boom", attempts: 4 };
/// assert_eq!(e.attempts(), 4);
/// assert_eq!(e.to_string(), "job failed after 4 attempts: boom");
/// assert_eq!(e.into_error(), Some("boom"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobError<E> {
    /// The last attempt returned `Err(error)`, and no retry was left or the retry predicate
    /// declined it.
    Failed {
        /// The last attempt's error.
        error: E,
        /// Attempts made (≥ 1).
        attempts: u32,
    },
    /// The last attempt ran past its timeout; its future was dropped.
    TimedOut {
        /// Attempts made (≥ 1).
        attempts: u32,
    },
    /// The last attempt panicked (only with the `std` feature, which catches panics).
    Panicked {
        /// The panic message, when the payload was a string.
        message: Option<String>,
        /// Attempts made (≥ 1).
        attempts: u32,
    },
    /// The job was cancelled: by [`JobHandle::cancel`](crate::JobHandle::cancel), by
    /// [`Pool::abort`](crate::Pool::abort), or by a shutdown deadline. A job cancelled while
    /// queued has made 0 attempts and never ran.
    Cancelled {
        /// Attempts made (0 if it never started).
        attempts: u32,
    },
    /// The job's total time limit ([`Job::deadline`](crate::Job::deadline),
    /// [`PoolBuilder::deadline`](crate::PoolBuilder::deadline)) passed: the running attempt was
    /// dropped, or a backoff cut short.
    DeadlineExceeded {
        /// Attempts made (≥ 1).
        attempts: u32,
    },
    /// The job's circuit breaker ([`PoolBuilder::circuit_breaker`](crate::PoolBuilder::circuit_breaker))
    /// was open when an attempt was to start: the service was not called.
    CircuitOpen {
        /// Attempts made before (0 if the breaker refused the first).
        attempts: u32,
    },
}

impl<E> JobError<E> {
    /// Attempts made before the job ended (0 for a job cancelled before it started).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Failed { attempts, .. }
            | Self::TimedOut { attempts }
            | Self::Panicked { attempts, .. }
            | Self::Cancelled { attempts }
            | Self::DeadlineExceeded { attempts }
            | Self::CircuitOpen { attempts } => *attempts,
        }
    }

    /// The last attempt's error, if the job failed with one.
    pub fn into_error(self) -> Option<E> {
        match self {
            Self::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the job timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }

    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked { .. })
    }

    /// Whether the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    /// Whether the job's total deadline passed.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, Self::DeadlineExceeded { .. })
    }

    /// Whether the job's circuit breaker refused it.
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Self::CircuitOpen { .. })
    }
}

impl<E: fmt::Display> fmt::Display for JobError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { error, attempts } => {
                write!(f, "job failed after {attempts} attempts: {error}")
            }
            Self::TimedOut { attempts } => write!(f, "job timed out after {attempts} attempts"),
            Self::Panicked { message: Some(m), attempts } => {
                write!(f, "job panicked after {attempts} attempts: {m}")
            }
            Self::Panicked { message: None, attempts } => {
                write!(f, "job panicked after {attempts} attempts")
            }
            Self::Cancelled { attempts } => write!(f, "job cancelled after {attempts} attempts"),
            Self::DeadlineExceeded { attempts } => {
                write!(f, "job ran past its deadline after {attempts} attempts")
            }
            Self::CircuitOpen { attempts } => {
                write!(f, "job refused by an open circuit breaker after {attempts} attempts")
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for JobError<E> {}

/// A submission the pool refused. The job is handed back untouched.
///
/// # Examples
///
/// ```
/// use workcrew::{Job, SubmitError};
///
/// let err = SubmitError::Full(Job::new(|_| async { Ok::<u8, ()>(1) }));
/// assert!(err.is_full());
/// let _job_back = err.into_job();
/// ```
pub enum SubmitError<J> {
    /// The queue was full ([`Pool::try_submit`](crate::Pool::try_submit) only;
    /// [`Pool::submit`](crate::Pool::submit) waits for room instead).
    Full(J),
    /// The pool is shutting down or shut down, and accepts no new jobs.
    Closed(J),
}

impl<J> SubmitError<J> {
    /// The refused job.
    pub fn into_job(self) -> J {
        match self {
            Self::Full(j) | Self::Closed(j) => j,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<J> fmt::Debug for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<J> fmt::Display for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("job refused: the queue is full"),
            Self::Closed(_) => f.write_str("job refused: the pool is shut down"),
        }
    }
}

impl<J> core::error::Error for SubmitError<J> {}

/// An invalid pool configuration, reported by the builder instead of a panic.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::{BuildError, PoolBuilder};
///
/// let err = PoolBuilder::new(|_: Duration| async {}).workers(0).build_workers().err().unwrap();
/// assert_eq!(err, BuildError::ZeroWorkers);
/// assert_eq!(err.to_string(), "workers must be at least 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `workers` was 0: a pool with no workers would never run anything.
    ZeroWorkers,
    /// `workers` was above [`MAX_WORKERS`](crate::MAX_WORKERS).
    TooManyWorkers {
        /// The requested number.
        requested: usize,
    },
    /// `queue` was 0. workcrew has no rendezvous mode: use `queue(1)` for the smallest buffer.
    ZeroQueue,
    /// `queue` was above [`MAX_QUEUE`](crate::MAX_QUEUE).
    QueueTooLarge {
        /// The requested capacity.
        requested: usize,
    },
    /// A limit was out of range: `concurrency`, `per_key` or `rate_limit`.
    Limit(LimitError),
    /// A policy was out of range: `retry_budget` or `circuit_breaker`.
    Policy(PolicyError),
    /// The operating system refused to start a worker thread (built-in executor only).
    Spawn(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWorkers => f.write_str("workers must be at least 1"),
            Self::TooManyWorkers { requested } => {
                write!(f, "workers must be at most {}, got {requested}", crate::MAX_WORKERS)
            }
            Self::ZeroQueue => f.write_str("queue must be at least 1"),
            Self::QueueTooLarge { requested } => {
                write!(f, "queue must be at most {}, got {requested}", crate::MAX_QUEUE)
            }
            Self::Limit(e) => e.fmt(f),
            Self::Policy(e) => e.fmt(f),
            Self::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
        }
    }
}

impl core::error::Error for BuildError {}

/// A limit out of range, given to the builder or changed on a running pool.
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use workcrew::{LimitError, Pool};
///
/// # workcrew::native::block_on(async {
/// let pool = Pool::builder().workers(2).build()?;
/// let err = pool.set_concurrency(3).unwrap_err();
/// assert_eq!(err, LimitError::ConcurrencyAboveWorkers { requested: 3, workers: 2 });
/// assert_eq!(err.to_string(), "concurrency must be at most the 2 workers the pool was built with, got 3");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// `concurrency` was 0 (to stop starting jobs, pause the pool).
    ZeroConcurrency,
    /// `concurrency` was above the crew the pool was built with.
    ConcurrencyAboveWorkers {
        /// The requested concurrency.
        requested: usize,
        /// The crew's size.
        workers: usize,
    },
    /// `per_key` was 0.
    ZeroPerKey,
    /// A rate limit's count (`intervalCap` in JavaScript) was 0.
    ZeroIntervalCap,
    /// A rate limit's interval was zero.
    ZeroInterval,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroConcurrency => f.write_str("concurrency must be at least 1 (pause the pool to stop starting jobs)"),
            Self::ConcurrencyAboveWorkers { requested, workers } => write!(
                f,
                "concurrency must be at most the {workers} workers the pool was built with, got {requested}"
            ),
            Self::ZeroPerKey => f.write_str("per_key must be at least 1"),
            Self::ZeroIntervalCap => f.write_str("a rate limit's count (intervalCap) must be at least 1"),
            Self::ZeroInterval => f.write_str("a rate limit's interval must be more than zero"),
        }
    }
}

impl core::error::Error for LimitError {}

/// A policy across attempts out of range: a [`Hedge`](crate::Hedge), a
/// [`RetryBudget`](crate::RetryBudget) or a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::{Hedge, PolicyError};
///
/// let err = Hedge::new(Duration::from_millis(50), 0).unwrap_err();
/// assert_eq!(err, PolicyError::HedgeMax { requested: 0 });
/// assert_eq!(err.to_string(), "a hedge's max must be 1 to 16, got 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A hedge's `max` (extra attempts) was 0 or above [`MAX_HEDGES`](crate::MAX_HEDGES).
    HedgeMax {
        /// The requested number.
        requested: u32,
    },
    /// A retry budget's `window` was 0.
    ZeroWindow,
    /// A consecutive-failures breaker's `failures` was 0.
    ZeroFailures,
    /// A ratio breaker's `percent` was 0 or above 100.
    FailurePercent {
        /// The requested percentage.
        requested: u32,
    },
    /// A ratio breaker's `of_last` was 0 or above
    /// [`MAX_BREAKER_WINDOW`](crate::MAX_BREAKER_WINDOW).
    BreakerWindow {
        /// The requested number of attempts.
        requested: u32,
    },
    /// A breaker's `cooldown` was zero.
    ZeroCooldown,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HedgeMax { requested } => {
                write!(f, "a hedge's max must be 1 to {}, got {requested}", crate::MAX_HEDGES)
            }
            Self::ZeroWindow => f.write_str("a retry budget's window must be at least 1"),
            Self::ZeroFailures => f.write_str("a circuit breaker's failures must be at least 1"),
            Self::FailurePercent { requested } => {
                write!(f, "a circuit breaker's percent must be 1 to 100, got {requested}")
            }
            Self::BreakerWindow { requested } => write!(
                f,
                "a circuit breaker's of_last must be 1 to {}, got {requested}",
                crate::MAX_BREAKER_WINDOW
            ),
            Self::ZeroCooldown => {
                f.write_str("a circuit breaker's cooldown must be more than zero")
            }
        }
    }
}

impl core::error::Error for PolicyError {}
