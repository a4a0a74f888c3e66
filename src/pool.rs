//! The pool: where jobs are submitted, metrics read and shutdown asked for.
//!
//! Two public types share one private core, as async-executor's `Executor` and
//! `LocalExecutor` do: [`Pool`], whose jobs are `Send` (threads, multi-threaded executors), and
//! [`LocalPool`], whose jobs need not be (the browser, single-threaded executors). Each public
//! method is a one-line call into [`Core`], which holds the logic once.

#[cfg(feature = "web")]
pub(crate) use crate::in_job::JobTag;
use crate::kind::{Kind, LocalKind, SendKind};
use crate::shared::Shared;
use crate::sync::{Arc, Ordering};
use crate::Metrics;

/// A worker pool: a fixed crew of workers pulling jobs from a bounded queue. Its jobs are
/// `Send`; see [`LocalPool`] for jobs that are not.
///
/// `S` is the [`Sleeper`](crate::Sleeper) that times attempts and backoff. A `Pool` is a cheap handle: clone it
/// to submit from several places. When the last clone is dropped without a shutdown, the pool
/// closes and the workers finish what is queued, then stop.
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use std::time::Duration;
/// use workcrew::{Job, Pool};
///
/// # workcrew::native::block_on(async {
/// let pool = Pool::builder()
///     .workers(4)
///     .queue(64)
///     .timeout(Duration::from_secs(1))
///     .retries(2)
///     .build()?;
///
/// let handles: Vec<_> = (0..10u64).map(|i| {
///     pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i * i) })).unwrap()
/// }).collect();
/// let mut total = 0;
/// for h in handles {
///     total += h.await.unwrap();
/// }
/// assert_eq!(total, 285);
///
/// let report = pool.shutdown().await;
/// assert_eq!(report.metrics.succeeded, 10);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Pool<S> {
    pub(crate) core: Core<S, SendKind>,
}

/// A worker pool for a single-threaded executor (the browser, embedded executors): like
/// [`Pool`], but its jobs, their values and its observer need not be `Send`, and neither is the
/// pool. Build one with [`LocalPoolBuilder`](crate::LocalPoolBuilder).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use core::time::Duration;
/// use futures_lite::future;
/// use workcrew::{Job, LocalPoolBuilder};
///
/// let (pool, workers) = LocalPoolBuilder::new(|_: Duration| async {}).workers(2).build_workers()?;
/// let shared = Rc::new(21); // not `Send`
/// let handle = pool
///     .try_submit(Job::new(move |_| {
///         let shared = Rc::clone(&shared);
///         async move { Ok::<_, ()>(*shared * 2) }
///     }))
///     .unwrap();
/// pool.close();
/// // On a single-threaded executor, spawn each worker; here, a plain run of each in turn.
/// for worker in workers {
///     future::block_on(worker);
/// }
/// assert_eq!(future::block_on(handle), Ok(42));
/// # Ok::<_, workcrew::BuildError>(())
/// ```
pub struct LocalPool<S> {
    pub(crate) core: Core<S, LocalKind>,
}

// --- what both pools have ---------------------------------------------------------------------

/// The methods `Pool` and `LocalPool` share, written once: each is a call into the core.
macro_rules! common {
    ($pool:ident, $kind:ty) => {
        impl<S> $pool<S> {
            pub(crate) fn from_shared(shared: Arc<Shared<S, $kind>>) -> Self {
                Self { core: Core { shared } }
            }

            /// A snapshot of the counters and gauges.
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// # workcrew::native::block_on(async {
            /// let pool = workcrew::Pool::builder().build()?;
            /// let m = pool.metrics();
            /// assert_eq!((m.submitted, m.queued, m.running), (0, 0, 0));
            /// # Ok::<_, workcrew::BuildError>(())
            /// # }).unwrap();
            /// ```
            pub fn metrics(&self) -> Metrics {
                self.core.metrics()
            }

            /// The number of workers.
            pub fn workers(&self) -> usize {
                self.core.shared.workers
            }

            /// The queue's capacity.
            pub fn capacity(&self) -> usize {
                self.core.shared.sched.capacity()
            }

            /// Whether the pool has stopped accepting jobs.
            pub fn is_closed(&self) -> bool {
                self.core.shared.sched.is_closed()
            }

            /// Pauses the pool: running attempts go on to their end (and a running job's
            /// retries still run: its worker keeps it), but no queued job starts until
            /// [`resume`](Self::resume). Submissions are still accepted and queue up.
            ///
            /// A graceful [`shutdown`](Self::shutdown) (or
            /// [`shutdown_timeout`](Self::shutdown_timeout), or dropping the last `Pool`
            /// clone) resumes a paused pool, so that it can finish what is queued, and from
            /// then on `pause` does nothing; an [`abort`](Self::abort) cancels the queued jobs
            /// whether paused or not; [`close`](Self::close) leaves it paused (the workers
            /// wait for `resume`).
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(1).build()?;
            /// pool.pause();
            /// let handle = pool.submit(Job::new(|_| async { Ok::<_, ()>(1) })).await?;
            /// assert_eq!(pool.metrics().queued, 1); // waits while paused
            /// pool.resume();
            /// assert_eq!(handle.await, Ok(1));
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn pause(&self) {
                self.core.shared.sched.pause();
            }

            /// Lets queued jobs start again after [`pause`](Self::pause).
            pub fn resume(&self) {
                self.core.shared.sched.resume();
            }

            /// Whether the pool is paused.
            pub fn is_paused(&self) -> bool {
                self.core.shared.sched.is_paused()
            }

            /// How many jobs may run at once now (see
            /// [`set_concurrency`](Self::set_concurrency)).
            pub fn concurrency(&self) -> usize {
                self.core.shared.sched.concurrency()
            }

            /// Sets how many jobs may run at once, from 1 up to the crew's size
            /// ([`workers`](Self::workers), fixed when the pool was built: build it with
            /// more workers than [`PoolBuilder::concurrency`](crate::PoolBuilder::concurrency)
            /// to have room to grow). Growing starts queued jobs at once; shrinking never
            /// interrupts a running attempt: the jobs beyond the new limit finish, and no new
            /// one starts until fewer run than the limit.
            ///
            /// # Errors
            ///
            /// [`LimitError::ZeroConcurrency`](crate::LimitError::ZeroConcurrency) for 0 (use
            /// [`pause`](Self::pause)), and
            /// [`LimitError::ConcurrencyAboveWorkers`](crate::LimitError::ConcurrencyAboveWorkers)
            /// above the crew.
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// # workcrew::native::block_on(async {
            /// let pool = workcrew::Pool::builder().workers(8).concurrency(2).build()?;
            /// assert_eq!(pool.concurrency(), 2);
            /// pool.set_concurrency(8)?;
            /// assert!(pool.set_concurrency(9).is_err());
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn set_concurrency(&self, concurrency: usize) -> Result<(), crate::LimitError> {
                self.core.shared.sched.set_concurrency(concurrency)
            }

            /// Sets, changes or (with `None`) lifts the rate limit: at most
            /// [`RateLimit::count`](crate::RateLimit::count) attempt starts in any window of
            /// its interval (see [`PoolBuilder::rate_limit`](crate::PoolBuilder::rate_limit)).
            /// Starts made under the old limit still count until their own interval has
            /// passed.
            ///
            /// # Errors
            ///
            /// [`LimitError::ZeroIntervalCap`](crate::LimitError::ZeroIntervalCap) or
            /// [`LimitError::ZeroInterval`](crate::LimitError::ZeroInterval).
            pub fn set_rate_limit(
                &self,
                limit: Option<crate::RateLimit>,
            ) -> Result<(), crate::LimitError> {
                self.core.shared.sched.set_rate_limit(limit)
            }

            /// The rate limit, if one is set.
            pub fn rate_limit(&self) -> Option<crate::RateLimit> {
                self.core.shared.sched.rate_limit()
            }

            /// Whether a job (or a retry) that could otherwise start now waits for the rate
            /// limit.
            pub fn is_rate_limited(&self) -> bool {
                self.core.shared.sched.is_rate_limited()
            }

            /// Cancels every queued job (not the running ones) and returns how many. Each is
            /// settled at once, as [`JobHandle::cancel`](crate::JobHandle::cancel) settles a
            /// queued job: its place is free, it is counted in `cancelled`, its event emitted,
            /// its handle resolved with [`JobError::Cancelled`](crate::JobError::Cancelled).
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(1).build()?;
            /// pool.pause();
            /// let a = pool.submit(Job::new(|_| async { Ok::<_, ()>(1) })).await?;
            /// let b = pool.submit(Job::new(|_| async { Ok::<_, ()>(2) })).await?;
            /// assert_eq!(pool.clear(), 2);
            /// assert!(a.await.unwrap_err().is_cancelled());
            /// assert!(b.await.unwrap_err().is_cancelled());
            /// assert_eq!(pool.metrics().cancelled, 2);
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn clear(&self) -> usize {
                self.core.shared.clear()
            }

            /// Stops accepting jobs, without waiting. Queued and running jobs go on; see
            /// [`shutdown`](Self::shutdown) to wait for them.
            pub fn close(&self) {
                self.core.close();
            }
        }

        impl<S> Clone for $pool<S> {
            fn clone(&self) -> Self {
                Self { core: self.core.clone() }
            }
        }

        impl<S> core::fmt::Debug for $pool<S> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.core.debug(stringify!($pool), f)
            }
        }
    };
}

common!(Pool, SendKind);
common!(LocalPool, LocalKind);

// --- the core both share ------------------------------------------------------------------------

/// A pool of either kind: one handle on the state shared with the workers.
pub(crate) struct Core<S, K: Kind> {
    pub(crate) shared: Arc<Shared<S, K>>,
}

impl<S, K: Kind> Core<S, K> {
    pub(crate) fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    pub(crate) fn close(&self) {
        self.shared.sched.close();
    }

    fn debug(&self, name: &str, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct(name)
            .field("workers", &self.shared.workers)
            .field("capacity", &self.shared.sched.capacity())
            .field("closed", &self.shared.sched.is_closed())
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl<S, K: Kind> Clone for Core<S, K> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<S, K: Kind> Drop for Core<S, K> {
    /// The last handle closes the pool; the workers finish what is queued, then stop.
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.sched.drain(); // nobody is left to resume it
            self.shared.sched.close();
        }
    }
}

// --- for the JavaScript API (src/web) ------------------------------------------------------------

impl<S> LocalPool<S> {
    /// The core, for the JavaScript API (its shutdown from a job's continuation).
    #[cfg(feature = "web")]
    pub(crate) fn core(&self) -> &Core<S, LocalKind> {
        &self.core
    }

    /// The JavaScript API's `submit`: enqueues if there is room now. A full queue hands the job
    /// back without counting a refusal (the caller then waits for room with
    /// [`submit`](Self::submit)); a closed pool's refusal is counted, as `try_submit` counts it.
    #[cfg(feature = "web")]
    #[allow(clippy::type_complexity)]
    pub(crate) fn try_push<F, Fut, P>(
        &self,
        job: crate::Job<F, P>,
    ) -> Result<crate::LocalJobHandle<(), ()>, crate::SubmitError<crate::Job<F, P>>>
    where
        F: FnMut(crate::Attempt) -> Fut + 'static,
        Fut: core::future::Future<Output = Result<(), ()>> + 'static,
        P: crate::RetryIf<()> + 'static,
    {
        match self.core.try_enqueue(job) {
            Ok(handle) => Ok(crate::LocalJobHandle::from_inner(handle)),
            Err((crate::sched::Refused::Full, job)) => Err(crate::SubmitError::Full(job)),
            Err((refused, job)) => Err(self.core.refuse(refused, job)),
        }
    }

    /// Jobs waiting in the queue, without a whole metrics snapshot: the JavaScript API's
    /// `size`, read after every event while someone awaits `onEmpty()` or `onIdle()`.
    #[cfg(feature = "web")]
    pub(crate) fn queued(&self) -> usize {
        self.core.shared.sched.queued()
    }
}
