//! Configuring a pool: the crew's size, the queue's capacity, and the defaults every job
//! inherits unless it overrides them.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::time::Duration;

use crate::kind::{Kind, LocalKind, SendKind};
use crate::policy::Policies;
use crate::sched::RateLimit;
use crate::shared::{Defaults, Limits, Shared};
use crate::sync::Arc;
use crate::worker::{LocalWorker, Worker};
use crate::{
    worker, Backoff, BuildError, CircuitBreaker, Hedge, JobEvent, LimitError, LocalPool, Pool,
    RetryBudget, Sleeper,
};

/// The largest crew a pool accepts.
pub const MAX_WORKERS: usize = 4096;

/// The largest queue capacity a pool accepts. The queue allocates as it fills, not up front.
pub const MAX_QUEUE: usize = 1 << 30;

/// Builds a [`Pool`].
///
/// | option | default | meaning |
/// |---|---|---|
/// | [`workers`](PoolBuilder::workers) | 4, or `concurrency` if larger | the crew: jobs that can run at once, 1 ..= [`MAX_WORKERS`] |
/// | [`concurrency`](PoolBuilder::concurrency) | `workers` | jobs run at once, 1 ..= `workers`; changeable later ([`Pool::set_concurrency`]) |
/// | [`queue`](PoolBuilder::queue) | 1024 | jobs waiting beyond those running, 1 ..= [`MAX_QUEUE`] |
/// | [`per_key`](PoolBuilder::per_key) | none | jobs of one [`key`](crate::Job::key) run at once |
/// | [`rate_limit`](PoolBuilder::rate_limit) | none | attempt starts in any window of an interval; changeable later ([`Pool::set_rate_limit`]) |
/// | [`timeout`](PoolBuilder::timeout) | none | time limit of each attempt |
/// | [`retries`](PoolBuilder::retries) | 0 | retries after a failed attempt (`retries + 1` attempts at most) |
/// | [`backoff`](PoolBuilder::backoff) | `linear(100 ms)` | delay schedule between attempts |
///
/// Invalid values are reported by the build methods as a [`BuildError`], never a panic.
///
/// # Examples
///
/// With any executor: build the workers as futures and spawn them.
///
/// ```rust ignore-wasm32
/// use core::time::Duration;
/// use workcrew::{Job, PoolBuilder};
///
/// let sleeper = |d: Duration| async move { async_io_like_sleep(d).await };
/// # async fn async_io_like_sleep(_d: Duration) {}
/// let (pool, workers) = PoolBuilder::new(sleeper).workers(2).queue(8).build_workers()?;
/// assert_eq!(workers.len(), 2);
/// // executor.spawn(worker) for each; here, a tiny single-threaded run:
/// let handle = pool.try_submit(Job::new(|_| async { Ok::<_, ()>(1) })).unwrap();
/// pool.close();
/// for w in workers {
///     futures_lite::future::block_on(w);
/// }
/// assert_eq!(futures_lite::future::block_on(handle), Ok(1));
/// # Ok::<_, workcrew::BuildError>(())
/// ```
#[must_use = "a builder does nothing until a build method is called"]
pub struct PoolBuilder<S> {
    sleeper: S,
    config: Config,
    observer: Option<Box<<SendKind as Kind>::Observer>>,
}

/// Builds a [`LocalPool`], whose jobs and observer need not be `Send`: the same options as
/// [`PoolBuilder`].
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use workcrew::LocalPoolBuilder;
///
/// let events = Rc::new(Cell::new(0)); // not `Send`
/// let seen = Rc::clone(&events);
/// let (pool, workers) = LocalPoolBuilder::new(|_: Duration| async {})
///     .workers(1)
///     .on_event(move |_| seen.set(seen.get() + 1))
///     .build_workers()?;
/// assert_eq!((pool.workers(), workers.len()), (1, 1));
/// # Ok::<_, workcrew::BuildError>(())
/// ```
#[must_use = "a builder does nothing until a build method is called"]
pub struct LocalPoolBuilder<S> {
    sleeper: S,
    config: Config,
    observer: Option<Box<<LocalKind as Kind>::Observer>>,
}

/// What both builders configure besides the sleeper and the observer.
#[derive(Clone, Copy, Debug)]
struct Config {
    /// `None`: 4, or `concurrency` if that is larger.
    workers: Option<usize>,
    concurrency: Option<usize>,
    queue: usize,
    per_key: Option<usize>,
    rate: Option<RateLimit>,
    budget: Option<RetryBudget>,
    breaker: Option<CircuitBreaker>,
    defaults: Defaults,
}

const ONE_TENTH: Duration = Duration::from_millis(100);

impl Config {
    const DEFAULT: Config = Config {
        workers: None,
        concurrency: None,
        queue: 1024,
        per_key: None,
        rate: None,
        budget: None,
        breaker: None,
        defaults: Defaults {
            retries: 0,
            timeout: None,
            backoff: Backoff::linear(ONE_TENTH),
            jitter_seed: None,
            deadline: None,
            hedge: None,
        },
    };

    /// The crew's size and the limits, checked.
    fn validate(&self) -> Result<(usize, Limits), BuildError> {
        let workers = self.workers.unwrap_or(4.max(self.concurrency.unwrap_or(0)));
        let concurrency = self.concurrency.unwrap_or(workers);
        match (workers, self.queue) {
            (0, _) => return Err(BuildError::ZeroWorkers),
            (w, _) if w > MAX_WORKERS => return Err(BuildError::TooManyWorkers { requested: w }),
            (_, 0) => return Err(BuildError::ZeroQueue),
            (_, q) if q > MAX_QUEUE => return Err(BuildError::QueueTooLarge { requested: q }),
            _ => {}
        }
        if concurrency == 0 {
            return Err(BuildError::Limit(LimitError::ZeroConcurrency));
        }
        if concurrency > workers {
            let e = LimitError::ConcurrencyAboveWorkers { requested: concurrency, workers };
            return Err(BuildError::Limit(e));
        }
        if self.per_key == Some(0) {
            return Err(BuildError::Limit(LimitError::ZeroPerKey));
        }
        let rate = self.rate.map(RateLimit::check).transpose().map_err(BuildError::Limit)?;
        let policy = |e| BuildError::Policy(e);
        self.budget.map(RetryBudget::check).transpose().map_err(policy)?;
        self.breaker.map(CircuitBreaker::check).transpose().map_err(policy)?;
        Ok((workers, Limits { concurrency, per_key: self.per_key, rate }))
    }
}

/// The options both builders share, written once.
macro_rules! options {
    () => {
        /// The crew's size: how many jobs can run at once. Without
        /// [`concurrency`](Self::concurrency), as many run at once as there are workers.
        pub const fn workers(mut self, workers: usize) -> Self {
            self.config.workers = Some(workers);
            self
        }

        /// How many jobs run at once to begin with, 1 ..= [`workers`](Self::workers) (which
        /// defaults to 4, or to this if larger). It can change later, within the crew:
        /// [`Pool::set_concurrency`](crate::Pool::set_concurrency).
        pub const fn concurrency(mut self, concurrency: usize) -> Self {
            self.config.concurrency = Some(concurrency);
            self
        }

        /// At most `n` jobs with an equal [`key`](crate::Job::key) run at once. A job whose
        /// key is busy waits, in order, without holding a worker, while jobs of other keys
        /// (and jobs without a key) pass it; it counts as queued, and in
        /// [`Metrics::waiting_on_key`](crate::Metrics::waiting_on_key). A job holds its key
        /// through its retries and their backoff. Without `per_key`, keys limit nothing.
        ///
        /// # Examples
        ///
        /// ```rust ignore-wasm32
        /// use workcrew::{Job, Pool};
        ///
        /// # workcrew::native::block_on(async {
        /// let pool = Pool::builder().workers(8).per_key(2).build()?;
        /// for host in ["a.example", "b.example"] {
        ///     for _ in 0..5 {
        ///         // at most 2 requests to each host at once
        ///         drop(pool.submit(Job::new(move |_| async move { Ok::<_, ()>(host) }).key(host)).await?);
        ///     }
        /// }
        /// assert_eq!(pool.shutdown().await.metrics.succeeded, 10);
        /// # Ok::<_, Box<dyn std::error::Error>>(())
        /// # }).unwrap();
        /// ```
        pub const fn per_key(mut self, n: usize) -> Self {
            self.config.per_key = Some(n);
            self
        }

        /// At most `count` attempt starts in any window of `interval` (a sliding window):
        /// each start takes a token that the pool's sleeper gives back `interval` later, so
        /// no clock is needed. Retries are attempts, so they count (they are requests to the
        /// limited service), and they take a token before any new job does; a job cancelled
        /// before it starts takes none. A job whose first attempt waits for a token holds no
        /// worker; a retry waiting for one keeps its job's worker (and key).
        /// Changeable later: [`Pool::set_rate_limit`](crate::Pool::set_rate_limit).
        ///
        /// # Examples
        ///
        /// ```
        /// use core::time::Duration;
        /// use workcrew::PoolBuilder;
        ///
        /// // At most 10 attempts a second start.
        /// let builder = PoolBuilder::new(|_: Duration| async {}).rate_limit(10, Duration::from_secs(1));
        /// # let _ = builder;
        /// ```
        pub const fn rate_limit(mut self, count: usize, interval: Duration) -> Self {
            self.config.rate = Some(RateLimit::new(count, interval));
            self
        }

        /// How many jobs may wait beyond those running. `submit` waits for room when the
        /// queue is full, `try_submit` refuses. No rendezvous mode: 0 is an error.
        pub const fn queue(mut self, capacity: usize) -> Self {
            self.config.queue = capacity;
            self
        }

        /// The default time limit of each attempt. See [`Job::timeout`](crate::Job::timeout).
        pub const fn timeout(mut self, timeout: Duration) -> Self {
            self.config.defaults.timeout = Some(timeout);
            self
        }

        /// No default time limit (the default).
        pub const fn no_timeout(mut self) -> Self {
            self.config.defaults.timeout = None;
            self
        }

        /// The default number of retries after a failed attempt: `retries(3)` allows up to
        /// **4 attempts**.
        pub const fn retries(mut self, retries: u32) -> Self {
            self.config.defaults.retries = retries;
            self
        }

        /// The default delay schedule between attempts.
        pub const fn backoff(mut self, backoff: Backoff) -> Self {
            self.config.defaults.backoff = backoff;
            self
        }

        /// Seeds the random numbers of [`Backoff::with_jitter`], so that a run's jittered
        /// delays repeat run after run (tests, simulations). Without it each pool draws from a
        /// seed of its own.
        ///
        /// # Examples
        ///
        /// ```
        /// use core::time::Duration;
        /// use workcrew::{Backoff, PoolBuilder};
        ///
        /// let builder = PoolBuilder::new(|_: Duration| async {})
        ///     .backoff(Backoff::exponential(Duration::from_millis(10)).with_jitter())
        ///     .jitter_seed(42);
        /// # let _ = builder;
        /// ```
        pub const fn jitter_seed(mut self, seed: u64) -> Self {
            self.config.defaults.jitter_seed = Some(seed);
            self
        }

        /// The default total time limit of a job, across all its attempts and backoffs,
        /// counted from its first attempt's start. See [`Job::deadline`](crate::Job::deadline).
        ///
        /// # Examples
        ///
        /// ```rust ignore-wasm32
        /// use std::time::Duration;
        /// use workcrew::{Job, JobError, Pool};
        ///
        /// # workcrew::native::block_on(async {
        /// // Each attempt may take 2 s, and up to 6 attempts are allowed; but 300 ms in all.
        /// let pool = Pool::builder()
        ///     .timeout(Duration::from_secs(2))
        ///     .retries(5)
        ///     .deadline(Duration::from_millis(300))
        ///     .build()?;
        /// let hang = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
        /// assert_eq!(hang.await, Err(JobError::DeadlineExceeded { attempts: 1 }));
        /// assert_eq!(pool.metrics().deadline_exceeded, 1);
        /// # Ok::<_, Box<dyn std::error::Error>>(())
        /// # }).unwrap();
        /// ```
        pub const fn deadline(mut self, deadline: Duration) -> Self {
            self.config.defaults.deadline = Some(deadline);
            self
        }

        /// Hedged attempts for every job that does not say otherwise ([`Hedge`]; a job opts
        /// out with [`Job::no_hedge`](crate::Job::no_hedge)).
        pub const fn hedge(mut self, hedge: Hedge) -> Self {
            self.config.defaults.hedge = Some(hedge);
            self
        }

        /// A retry budget shared by the pool's jobs ([`RetryBudget`]): retries stay within a
        /// ratio of first attempts, so a failing service is not flooded with them.
        /// A bad budget is a [`BuildError::Policy`](crate::BuildError::Policy).
        pub const fn retry_budget(mut self, budget: RetryBudget) -> Self {
            self.config.budget = Some(budget);
            self
        }

        /// A circuit breaker ([`CircuitBreaker`]) for the pool, or for each job key: after
        /// repeated failed attempts, jobs fail at once as
        /// [`JobError::CircuitOpen`](crate::JobError::CircuitOpen) for a cool-down, then one
        /// probe is let through. A bad breaker is a
        /// [`BuildError::Policy`](crate::BuildError::Policy).
        ///
        /// # Examples
        ///
        /// ```rust ignore-wasm32
        /// use std::time::Duration;
        /// use workcrew::{CircuitBreaker, Job, JobError, Pool};
        ///
        /// # workcrew::native::block_on(async {
        /// let pool = Pool::builder()
        ///     .workers(1)
        ///     .circuit_breaker(CircuitBreaker::consecutive(2, Duration::from_secs(30)))
        ///     .build()?;
        /// for _ in 0..2 {
        ///     let down = pool.submit(Job::new(|_| async { Err::<(), _>("503") })).await?;
        ///     assert!(matches!(down.await, Err(JobError::Failed { .. })));
        /// }
        /// // Open: the next job is not sent.
        /// let refused = pool.submit(Job::new(|_| async { Ok::<_, &str>(()) })).await?;
        /// assert_eq!(refused.await, Err(JobError::CircuitOpen { attempts: 0 }));
        /// assert_eq!(pool.metrics().circuit_refused, 1);
        /// # Ok::<_, Box<dyn std::error::Error>>(())
        /// # }).unwrap();
        /// ```
        pub const fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
            self.config.breaker = Some(breaker);
            self
        }
    };
}

impl<S> PoolBuilder<S> {
    /// A builder for a pool that times attempts and backoff with `sleeper`.
    pub const fn new(sleeper: S) -> Self {
        Self { sleeper, config: Config::DEFAULT, observer: None }
    }

    options!();

    /// Calls `observer` with every [`JobEvent`]: on the worker's thread, or the submitter's for
    /// `Queued`. A panic in the observer is caught and counted in
    /// [`Metrics::observer_panics`](crate::Metrics::observer_panics).
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use std::sync::{Arc, Mutex};
    /// use workcrew::{Job, JobEvent, Pool};
    ///
    /// # workcrew::native::block_on(async {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let pool = Pool::builder()
    ///     .retries(1)
    ///     .backoff(workcrew::Backoff::none())
    ///     .on_event(move |e: &JobEvent<'_>| log.lock().unwrap().push(format!("{e:?}")))
    ///     .build()?;
    /// let h = pool.submit(Job::new(|a: workcrew::Attempt| async move {
    ///     if a.is_retry() { Ok(()) } else { Err("first try fails") }
    /// })).await?;
    /// h.await.unwrap();
    /// pool.shutdown().await;
    /// let seen = seen.lock().unwrap();
    /// assert_eq!(seen.first().unwrap(), "Queued { job: 0 }");
    /// assert_eq!(seen.last().unwrap(), "Succeeded { job: 0, attempts: 2 }");
    /// // Queued, AttemptStarted, AttemptFailed, RetryScheduled, AttemptStarted, Succeeded.
    /// assert_eq!(seen.len(), 6);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn on_event(mut self, observer: impl Fn(&JobEvent<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The same options for a [`LocalPool`], whose jobs need not be `Send`. An observer set
    /// before carries over.
    pub fn local(self) -> LocalPoolBuilder<S> {
        LocalPoolBuilder {
            sleeper: self.sleeper,
            config: self.config,
            observer: self.observer.map(|o| -> Box<dyn Fn(&JobEvent<'_>)> { o }),
        }
    }

    /// Builds the pool and returns its workers, for an executor of your choice to spawn (or
    /// to `join`). Nothing runs until they are polled.
    ///
    /// Each worker ends once the pool is shut down (or its last handle dropped) and the queue is
    /// empty, or once it is aborted.
    pub fn build_workers(self) -> Result<(Pool<S>, Vec<Worker>), BuildError>
    where
        S: Sleeper + Send + Sync + 'static,
        S::Sleep: Send,
    {
        let (pool, workers) = self.build_unboxed()?;
        Ok((pool, workers.into_iter().map(Worker::new).collect()))
    }

    /// [`build_workers`](Self::build_workers), without boxing the workers (the built-in
    /// runtime's threads each run one).
    #[allow(clippy::type_complexity, dead_code)]
    pub(crate) fn build_unboxed(
        self,
    ) -> Result<(Pool<S>, Vec<impl Future<Output = ()>>), BuildError>
    where
        S: Sleeper,
    {
        let (shared, workers) = build(self.sleeper, self.config, self.observer)?;
        Ok((Pool::from_shared(shared), workers))
    }
}

impl<S> LocalPoolBuilder<S> {
    /// A builder for a local pool that times attempts and backoff with `sleeper`.
    pub const fn new(sleeper: S) -> Self {
        Self { sleeper, config: Config::DEFAULT, observer: None }
    }

    options!();

    /// Calls `observer` with every [`JobEvent`]; in a local pool it need not be `Send`. A
    /// panic in the observer is caught (where panics unwind) and counted in
    /// [`Metrics::observer_panics`](crate::Metrics::observer_panics).
    pub fn on_event(mut self, observer: impl Fn(&JobEvent<'_>) + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Builds the pool and returns its workers as futures for a single-threaded executor to
    /// spawn. Nothing runs until they are polled.
    ///
    /// Each worker ends once the pool is shut down (or its last handle dropped) and the queue is
    /// empty, or once it is aborted.
    pub fn build_workers(self) -> Result<(LocalPool<S>, Vec<LocalWorker>), BuildError>
    where
        S: Sleeper + 'static,
    {
        let (shared, workers) = build(self.sleeper, self.config, self.observer)?;
        let workers = workers.into_iter().map(LocalWorker::new).collect();
        Ok((LocalPool::from_shared(shared), workers))
    }
}

/// Validates the options, then makes the shared state and one worker future per worker.
#[allow(clippy::type_complexity)]
fn build<S: Sleeper, K: Kind>(
    sleeper: S,
    config: Config,
    observer: Option<Box<K::Observer>>,
) -> Result<(Arc<Shared<S, K>>, Vec<impl Future<Output = ()>>), BuildError> {
    let (workers, limits) = config.validate()?;
    let Config { queue, defaults, budget, breaker, .. } = config;
    let policies = Policies {
        budget: budget.map(crate::policy::budget::Budget::new),
        breakers: breaker.map(crate::policy::breaker::Breakers::new),
    };
    let shared =
        Arc::new(Shared::new(sleeper, workers, queue, limits, defaults, policies, observer));
    let futures = (0..workers).map(|i| worker::work(Arc::clone(&shared), i)).collect();
    Ok((shared, futures))
}

macro_rules! debug_builder {
    ($name:ident) => {
        impl<S: core::fmt::Debug> core::fmt::Debug for $name<S> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("sleeper", &self.sleeper)
                    .field("workers", &self.config.workers)
                    .field("concurrency", &self.config.concurrency)
                    .field("queue", &self.config.queue)
                    .field("per_key", &self.config.per_key)
                    .field("rate_limit", &self.config.rate)
                    .field("retry_budget", &self.config.budget)
                    .field("circuit_breaker", &self.config.breaker)
                    .field("defaults", &self.config.defaults)
                    .field("observer", &self.observer.is_some())
                    .finish()
            }
        }
    };
}

debug_builder!(PoolBuilder);
debug_builder!(LocalPoolBuilder);
