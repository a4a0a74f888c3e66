//! What a job is: an async function of its attempt, plus optional per-job overrides of the
//! pool's retry and timeout defaults.

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::{Backoff, Hedge};

/// What a job's per-key limit counts it under: a host, a tenant, an account. At most
/// [`PoolBuilder::per_key`](crate::PoolBuilder::per_key) jobs with the same key run at once.
///
/// A key is a number or a string; a `&'static str` is kept without a copy.
///
/// # Examples
///
/// ```
/// use workcrew::JobKey;
///
/// assert_eq!(JobKey::from("api.example.com"), JobKey::from(String::from("api.example.com")));
/// assert_ne!(JobKey::from(7u64), JobKey::from("7"));
/// assert_eq!(JobKey::from(7u64).to_string(), "7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey(KeyRepr);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyRepr {
    Number(u64),
    Text(Cow<'static, str>),
}

impl From<u64> for JobKey {
    fn from(n: u64) -> Self {
        Self(KeyRepr::Number(n))
    }
}

impl From<u32> for JobKey {
    fn from(n: u32) -> Self {
        Self(KeyRepr::Number(n.into()))
    }
}

impl From<&'static str> for JobKey {
    fn from(s: &'static str) -> Self {
        Self(KeyRepr::Text(Cow::Borrowed(s)))
    }
}

impl From<String> for JobKey {
    fn from(s: String) -> Self {
        Self(KeyRepr::Text(Cow::Owned(s)))
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyRepr::Number(n) => write!(f, "{n}"),
            KeyRepr::Text(s) => f.write_str(s),
        }
    }
}

/// Which attempt of a job is running, passed to the job's function.
///
/// # Examples
///
/// ```
/// use workcrew::{Attempt, Job};
///
/// // Fails on the first attempt, succeeds on the retry.
/// let job = Job::new(|attempt: Attempt| async move {
///     if attempt.is_retry() { Ok(attempt.number()) } else { Err("flaky") }
/// });
/// # let _ = job;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    job: u64,
    number: u32,
    round: u32,
    hedge: bool,
}

impl Attempt {
    /// Attempt `number` of `job`, in `round` (1 for the first attempt and its hedges).
    pub(crate) const fn new(job: u64, number: u32, round: u32, hedge: bool) -> Self {
        Self { job, number, round, hedge }
    }

    /// The id of the job, the same as in its [`JobEvent`](crate::JobEvent)s.
    pub const fn job_id(&self) -> u64 {
        self.job
    }

    /// The attempt's number, starting at 1: every attempt of the job, hedges included, has
    /// its own.
    pub const fn number(&self) -> u32 {
        self.number
    }

    /// Whether this attempt belongs to a retry: its round began after every attempt of the
    /// round before had failed. Without hedging, attempt 2 or later; with hedging, the
    /// hedges of a retry's round too (see [`is_hedge`](Self::is_hedge)).
    pub const fn is_retry(&self) -> bool {
        self.round > 1
    }

    /// Whether this attempt is a hedge ([`Hedge`]): it began beside an attempt still running.
    pub const fn is_hedge(&self) -> bool {
        self.hedge
    }
}

/// How a failed attempt ended, for a retry predicate that looks at more than the job's error
/// ([`Job::retry_when`]).
///
/// # Examples
///
/// ```
/// use workcrew::Failure;
///
/// // A POST may have reached the service before it timed out: do not send it again.
/// let idempotent = false;
/// let retry = |f: Failure<'_, std::io::Error>| match f {
///     Failure::Error(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
///     Failure::TimedOut | Failure::Panicked(_) => idempotent,
/// };
/// assert!(!retry(Failure::TimedOut));
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Failure<'a, E> {
    /// The attempt returned `Err(error)`.
    Error(&'a E),
    /// The attempt ran past its timeout and was dropped.
    TimedOut,
    /// The attempt panicked (with `std`); the message, when the payload was a string.
    Panicked(Option<&'a str>),
}

/// Decides whether a failed attempt is worth another attempt.
///
/// Implemented for every `Fn(&E) -> bool` ([`Job::retry_if`]), which sees the job's own errors
/// only (timeouts and panics are then always retried while retries remain), and by
/// [`RetryWhen`] ([`Job::retry_when`]), which sees every [`Failure`]. A predicate that panics
/// ends the job at once as [`JobError::Panicked`](crate::JobError::Panicked) (with `std`).
pub trait RetryIf<E> {
    /// `true` to retry after `error` (if retries remain), `false` to fail the job now.
    fn should_retry(&self, error: &E) -> bool;

    /// `true` to retry after `failure`. By default, [`should_retry`](RetryIf::should_retry)
    /// for an error, and `true` for a timeout or a panic.
    fn should_retry_failure(&self, failure: Failure<'_, E>) -> bool {
        match failure {
            Failure::Error(error) => self.should_retry(error),
            Failure::TimedOut | Failure::Panicked(_) => true,
        }
    }
}

/// A retry predicate that sees the attempt's whole [`Failure`]: made by [`Job::retry_when`].
#[derive(Clone, Copy, Debug)]
pub struct RetryWhen<Q>(pub(crate) Q);

impl<E, Q: Fn(Failure<'_, E>) -> bool> RetryIf<E> for RetryWhen<Q> {
    fn should_retry(&self, error: &E) -> bool {
        (self.0)(Failure::Error(error))
    }

    fn should_retry_failure(&self, failure: Failure<'_, E>) -> bool {
        (self.0)(failure)
    }
}

impl<E, F: Fn(&E) -> bool> RetryIf<E> for F {
    fn should_retry(&self, error: &E) -> bool {
        self(error)
    }
}

/// The default retry predicate: every error is worth a retry.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryAll;

impl<E> RetryIf<E> for RetryAll {
    fn should_retry(&self, _: &E) -> bool {
        true
    }
}

/// A job: a function called once per attempt, returning a future of `Result<T, E>`.
///
/// Options left unset take the pool's defaults (see [`PoolBuilder`](crate::PoolBuilder)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workcrew::{Backoff, Job};
///
/// #[derive(Debug)]
/// enum FetchError { NotFound, Unavailable }
///
/// let job = Job::new(|_attempt| async { Err::<String, _>(FetchError::Unavailable) })
///     .retries(3) // up to 4 attempts in all
///     .timeout(Duration::from_secs(2)) // for each attempt
///     .backoff(Backoff::exponential(Duration::from_millis(50)).with_jitter())
///     .retry_if(|e: &FetchError| !matches!(e, FetchError::NotFound));
/// # let _ = job;
/// ```
#[derive(Clone, Debug)]
#[must_use = "a job does nothing until it is submitted to a pool"]
pub struct Job<F, P = RetryAll> {
    pub(crate) func: F,
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) priority: i32,
    pub(crate) key: Option<JobKey>,
    /// The job's policy overrides, boxed only if it sets any: a `Job` moves by value through
    /// `submit`, and most jobs take the pool's.
    pub(crate) policies: Option<alloc::boxed::Box<JobPolicies>>,
    pub(crate) retry_if: P,
}

/// A job's own deadline and hedging, overriding the pool's (`None`: the pool's).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JobPolicies {
    pub(crate) deadline: Option<Option<Duration>>,
    pub(crate) hedge: Option<Option<Hedge>>,
}

impl<F> Job<F> {
    /// A job that calls `func` for each attempt. `func` returns a future of `Result<T, E>`.
    pub const fn new<Fut>(func: F) -> Self
    where
        F: FnMut(Attempt) -> Fut,
    {
        Self {
            func,
            retries: None,
            timeout: None,
            backoff: None,
            priority: 0,
            key: None,
            policies: None,
            retry_if: RetryAll,
        }
    }
}

impl<F, P> Job<F, P> {
    /// Retries after a failed attempt: `retries(3)` means up to **4 attempts** in all.
    /// `u32::MAX` retries forever.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The time limit of each attempt. When it passes, the attempt's future is dropped, so its
    /// work stops at its next await point. A zero timeout lets an attempt run only until it first
    /// waits.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// Lets each attempt run as long as it needs, whatever the pool's default.
    pub const fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self
    }

    /// The delay schedule between attempts.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The job's priority: a queued job of higher priority starts first; jobs of one priority
    /// start in the order they were submitted. The default is 0; negative values run after it.
    /// It can be changed while the job is queued, with
    /// [`JobHandle::set_priority`](crate::JobHandle::set_priority). A job keeps its worker
    /// through its retries, so its retries need no priority of their own.
    pub const fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The job's key, for the pool's per-key limit ([`PoolBuilder::per_key`](crate::PoolBuilder::per_key)):
    /// at most that many jobs with an equal key run at once. A job whose key is busy waits, in
    /// order, without holding a worker, while jobs of other keys pass it.
    pub fn key(mut self, key: impl Into<JobKey>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The job's total time limit, across all its attempts and backoffs, counted from its
    /// first attempt's start. When it passes, the running attempt is dropped (its work stops
    /// at its next await point) or the backoff cut short, and the job ends as
    /// [`JobError::DeadlineExceeded`](crate::JobError::DeadlineExceeded). No attempt starts
    /// after it. It overrides the pool's ([`PoolBuilder::deadline`](crate::PoolBuilder::deadline)).
    pub fn deadline(self, deadline: Duration) -> Self {
        self.with_policies(|p| p.deadline = Some(Some(deadline)))
    }

    /// No total time limit for this job, whatever the pool's default.
    pub fn no_deadline(self) -> Self {
        self.with_policies(|p| p.deadline = Some(None))
    }

    /// Hedged attempts for this job ([`Hedge`]), whatever the pool's default.
    pub fn hedge(self, hedge: Hedge) -> Self {
        self.with_policies(|p| p.hedge = Some(Some(hedge)))
    }

    /// No hedged attempts for this job, whatever the pool's default (a job that must not run
    /// twice at once).
    pub fn no_hedge(self) -> Self {
        self.with_policies(|p| p.hedge = Some(None))
    }

    fn with_policies(mut self, set: impl FnOnce(&mut JobPolicies)) -> Self {
        set(self.policies.get_or_insert_with(Default::default));
        self
    }

    /// Retries only errors for which `predicate` returns `true`; timeouts and panics are
    /// retried while retries remain (see [`retry_when`](Self::retry_when)).
    pub fn retry_if<Q>(self, predicate: Q) -> Job<F, Q> {
        Job {
            func: self.func,
            retries: self.retries,
            timeout: self.timeout,
            backoff: self.backoff,
            priority: self.priority,
            key: self.key,
            policies: self.policies,
            retry_if: predicate,
        }
    }

    /// Retries only failures for which `predicate` returns `true`, seeing how the attempt
    /// ended: its error, a timeout or a panic ([`Failure`]). A job that must not run twice
    /// (a `POST`) can refuse a retry after a timeout, when the request may have reached the
    /// service.
    ///
    /// ```
    /// use workcrew::{Failure, Job};
    ///
    /// let post = Job::new(|_| async { Err::<(), _>("503") })
    ///     .retries(3)
    ///     .retry_when(|f: Failure<'_, &str>| matches!(f, Failure::Error(&"503")));
    /// # let _ = post;
    /// ```
    pub fn retry_when<Q, E>(self, predicate: Q) -> Job<F, RetryWhen<Q>>
    where
        Q: Fn(Failure<'_, E>) -> bool,
    {
        self.retry_if(RetryWhen(predicate))
    }
}
