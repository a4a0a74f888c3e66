//! The pool: where jobs are submitted, metrics read and shutdown asked for.
//!
//! Two public types share one private core, as async-executor's `Executor` and
//! `LocalExecutor` do: [`Pool`], whose jobs are `Send` (threads, multi-threaded executors), and
//! [`LocalPool`], whose jobs need not be (the browser, single-threaded executors). Each public
//! method is a one-line call into [`Core`], which holds the logic once.

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;

use event_listener::EventListener;

use crate::handle::Handle;
pub(crate) use crate::in_job::JobTag;
use crate::sched::{Refused, Reservation, Scheduler};
use crate::shared::Shared;
use crate::sync::{widen, Arc, Ordering};
use crate::task::{IntoTask, Kind, LocalKind, SendKind};
use crate::{
    Attempt, Job, JobEvent, JobHandle, LocalJobHandle, Metrics, RetryIf, Sleeper, SubmitError,
};

/// A worker pool: a fixed crew of workers pulling jobs from a bounded queue. Its jobs are
/// `Send`; see [`LocalPool`] for jobs that are not.
///
/// `S` is the [`Sleeper`] that times attempts and backoff. A `Pool` is a cheap handle: clone it
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
    core: Core<S, SendKind>,
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
    core: Core<S, LocalKind>,
}

/// What a shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that ended with a value or an error while the shutdown waited.
    pub completed: u64,
    /// Jobs cancelled while the shutdown waited (by its time limit, an abort, or their handles).
    pub cancelled: u64,
    /// Whether the time limit of [`Pool::shutdown_timeout`] passed and the remaining jobs were
    /// cancelled.
    pub timed_out: bool,
    /// The metrics once every worker had stopped.
    pub metrics: Metrics,
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

            /// Completes once fewer than `limit` jobs are queued (JavaScript's
            /// `onSizeLessThan`): a producer awaits it to keep the queue short without
            /// holding jobs of its own in line. With a `limit` of 0 it never completes (as
            /// p-queue's `onSizeLessThan(0)`).
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(2).build()?;
            /// for i in 0..100u32 {
            ///     pool.until_queued_below(10).await;
            ///     drop(pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).unwrap());
            /// }
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn until_queued_below(&self, limit: usize) -> impl Future<Output = ()> + '_ {
                QueuedBelow { sched: &self.core.shared.sched, limit, waiter: None }
            }

            /// Stops accepting jobs, without waiting. Queued and running jobs go on; see
            /// [`shutdown`](Self::shutdown) to wait for them.
            pub fn close(&self) {
                self.core.close();
            }

            /// Graceful shutdown: stops accepting jobs, lets every queued and running job finish, and
            /// waits for the workers to stop. Calling it again, or concurrently, is harmless: each call
            /// waits for the same end.
            ///
            /// **From inside one of the pool's own jobs** it cannot wait for its own worker, which is
            /// busy running the caller. There it waits for every *other* worker to stop; the calling
            /// job goes on once it returns, and any jobs still queued behind it then run on its worker
            /// before that worker stops (none is lost). A shutdown from outside, meanwhile, does not
            /// wait for a worker whose job is itself waiting in `shutdown`. A worker is excused only
            /// while it runs that job: two shutdowns awaited at once by one job excuse one worker,
            /// and a shutdown the job started and left running (handed elsewhere, or a JavaScript
            /// `ctx.shutdown()` not awaited) waits for that worker too once the job has returned.
            ///
            /// Without `std` there are no thread-locals: "from inside a job" means while a worker
            /// polls that job, which is exact where one thread polls the pool's workers (the
            /// browser, single-threaded embedded executors). With workers polled on several cores
            /// or interrupt priorities, call `shutdown` from outside the pool's jobs.
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(2).build()?;
            /// for i in 0..5 {
            ///     drop(pool.submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).await?);
            /// }
            /// let report = pool.shutdown().await;
            /// assert_eq!(report.metrics.succeeded, 5);
            /// assert!(pool.try_submit(Job::new(|_| async { Ok::<_, ()>(0) })).unwrap_err().is_closed());
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub async fn shutdown(&self) -> ShutdownReport {
                self.core.drain(None).await
            }

            /// Abort: stops accepting jobs, cancels every queued job, drops every running attempt at its
            /// next await point, and waits for the workers to stop. Every handle resolves, the cancelled
            /// ones with [`JobError::Cancelled`](crate::JobError::Cancelled).
            ///
            /// **From inside one of the pool's own jobs**, the calling job is running too, so it is
            /// cancelled like every other: its attempt is dropped at this await, and `abort` does not
            /// return there. Everything still settles; the calling job with
            /// [`JobError::Cancelled`](crate::JobError::Cancelled).
            pub async fn abort(&self) -> ShutdownReport {
                self.core.abort().await
            }

            /// Graceful shutdown with a time limit: like [`shutdown`](Self::shutdown), but once
            /// `timeout` has passed, whatever is still queued or running is cancelled as by
            /// [`abort`](Self::abort), and the report says [`timed_out`](ShutdownReport::timed_out).
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use std::time::Duration;
            /// use workcrew::{Job, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(1).build()?;
            /// let stuck = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
            /// let report = pool.shutdown_timeout(Duration::from_millis(20)).await;
            /// assert!(report.timed_out);
            /// assert!(stuck.await.unwrap_err().is_cancelled());
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub async fn shutdown_timeout(&self, timeout: Duration) -> ShutdownReport
            where
                S: Sleeper,
            {
                self.core.drain_until(timeout, None).await
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

// --- submitting to a Pool: Send jobs --------------------------------------------------------------

impl<S> Pool<S> {
    /// Submits a job, waiting for room in the queue if it is full.
    ///
    /// Fails with [`SubmitError::Closed`], handing the job back, if the pool is shut down (also
    /// while waiting).
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use workcrew::{Job, Pool};
    ///
    /// # workcrew::native::block_on(async {
    /// let pool = Pool::builder().workers(1).queue(1).build()?;
    /// let handle = pool.submit(Job::new(|_| async { Ok::<_, String>("done") })).await?;
    /// assert_eq!(handle.await, Ok("done"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn submit<F, Fut, T, E, P>(&self, job: Job<F, P>) -> Submit<'_, S, Job<F, P>>
    where
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        P: RetryIf<E> + Send + 'static,
    {
        Submit(SubmitCore { core: &self.core, job: Some(job), waiter: None })
    }

    /// Submits a job if there is room now; otherwise hands it back in
    /// [`SubmitError::Full`] or [`SubmitError::Closed`].
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use workcrew::{Job, Pool, SubmitError};
    ///
    /// # workcrew::native::block_on(async {
    /// let pool = Pool::builder().workers(1).queue(1).build()?;
    /// let block = || Job::new(|_| futures_lite::future::pending::<Result<(), ()>>());
    /// let running = pool.try_submit(block()).unwrap();
    /// # while pool.metrics().running == 0 { std::thread::yield_now() }
    /// let queued = pool.try_submit(block()).unwrap();
    /// match pool.try_submit(block()) {
    ///     Err(SubmitError::Full(_job)) => {} // handed back
    ///     other => panic!("expected Full, got {other:?}"),
    /// }
    /// pool.abort().await;
    /// assert!(running.await.unwrap_err().is_cancelled());
    /// assert!(queued.await.unwrap_err().is_cancelled());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn try_submit<F, Fut, T, E, P>(
        &self,
        job: Job<F, P>,
    ) -> Result<JobHandle<T, E>, SubmitError<Job<F, P>>>
    where
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        P: RetryIf<E> + Send + 'static,
    {
        self.core.try_submit(job).map(JobHandle::from_inner)
    }
}

// --- submitting to a LocalPool: jobs that need not be Send -------------------------------------

impl<S> LocalPool<S> {
    /// Submits a job, waiting for room in the queue if it is full, as [`Pool::submit`]; the job
    /// need not be `Send`.
    pub fn submit<F, Fut, T, E, P>(&self, job: Job<F, P>) -> LocalSubmit<'_, S, Job<F, P>>
    where
        F: FnMut(Attempt) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: 'static,
        P: RetryIf<E> + 'static,
    {
        LocalSubmit(SubmitCore { core: &self.core, job: Some(job), waiter: None })
    }

    /// Submits a job if there is room now, as [`Pool::try_submit`]; the job need not be
    /// `Send`.
    #[allow(clippy::type_complexity)]
    pub fn try_submit<F, Fut, T, E, P>(
        &self,
        job: Job<F, P>,
    ) -> Result<LocalJobHandle<T, E>, SubmitError<Job<F, P>>>
    where
        F: FnMut(Attempt) -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: 'static,
        P: RetryIf<E> + 'static,
    {
        self.core.try_submit(job).map(LocalJobHandle::from_inner)
    }

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
        job: Job<F, P>,
    ) -> Result<LocalJobHandle<(), ()>, SubmitError<Job<F, P>>>
    where
        F: FnMut(Attempt) -> Fut + 'static,
        Fut: Future<Output = Result<(), ()>> + 'static,
        P: RetryIf<()> + 'static,
    {
        match self.core.try_enqueue(job) {
            Ok(handle) => Ok(LocalJobHandle::from_inner(handle)),
            Err((Refused::Full, job)) => Err(SubmitError::Full(job)),
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

// --- the core both share ------------------------------------------------------------------------

/// A pool of either kind: one handle on the state shared with the workers.
pub(crate) struct Core<S, K: Kind> {
    shared: Arc<Shared<S, K>>,
}

impl<S, K: Kind> Core<S, K> {
    fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    fn close(&self) {
        self.shared.sched.close();
    }

    /// Closes the pool and waits for the workers to stop (see [`Pool::shutdown`]).
    /// `from_job`: the id of the job that asks, though not from inside its poll (a JavaScript
    /// job's continuation): while that job runs, its worker is not waited for.
    pub(crate) async fn drain(&self, from_job: Option<JobTag>) -> ShutdownReport {
        let before = self.metrics();
        self.shared.sched.drain(); // a paused pool would never finish
        self.close();
        self.workers_done(from_job).await;
        self.report(before, false)
    }

    /// The job of this pool whose poll (or function call) the caller is inside, if any.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn inside_own_job(&self) -> Option<JobTag> {
        self.shared.crew.polled()
    }

    async fn abort(&self) -> ShutdownReport {
        let before = self.metrics();
        self.abort_now();
        self.workers_done(None).await;
        self.report(before, false)
    }

    fn abort_now(&self) {
        let shared = &*self.shared;
        shared.set_aborted();
        self.close();
        shared.discard_queued(false);
    }

    /// Waits until every worker has stopped, except those running a job that is waiting in a
    /// shutdown of this pool (the caller's own worker among them, if the caller is one of its
    /// jobs). Once the pool is aborted, a caller inside a job never gets here: its worker
    /// drops it.
    fn workers_done(&self, from_job: Option<JobTag>) -> WorkersDone<'_, S, K> {
        WorkersDone { shared: &self.shared, listener: None, from_job, entered: None }
    }

    fn report(&self, before: Metrics, timed_out: bool) -> ShutdownReport {
        let metrics = self.metrics();
        ShutdownReport {
            completed: (metrics.succeeded + metrics.failed) - (before.succeeded + before.failed),
            cancelled: metrics.cancelled - before.cancelled,
            timed_out,
            metrics,
        }
    }

    /// [`Pool::shutdown_timeout`]; `from_job` as in [`drain`](Core::drain).
    pub(crate) async fn drain_until(
        &self,
        timeout: Duration,
        from_job: Option<JobTag>,
    ) -> ShutdownReport
    where
        S: Sleeper,
    {
        let before = self.metrics();
        self.shared.sched.drain();
        self.close();
        let timed_out = {
            let mut done = pin!(self.workers_done(from_job));
            let mut timer = pin!(self.shared.sleeper.sleep(timeout));
            core::future::poll_fn(|cx| {
                if done.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                timer.as_mut().poll(cx).map(|()| true)
            })
            .await
        };
        if timed_out {
            self.abort_now();
            self.workers_done(from_job).await;
        }
        self.report(before, timed_out)
    }

    #[allow(clippy::type_complexity)]
    fn try_submit<J: IntoTask<K>>(
        &self,
        job: J,
    ) -> Result<Handle<J::Output, J::Error, K>, SubmitError<J>> {
        self.try_enqueue(job).map_err(|(refused, job)| self.refuse(refused, job))
    }

    /// Enqueues `job` if there is room now; a refusal is not counted (see `refuse`).
    #[allow(clippy::type_complexity)]
    fn try_enqueue<J: IntoTask<K>>(
        &self,
        job: J,
    ) -> Result<Handle<J::Output, J::Error, K>, (Refused, J)> {
        match self.shared.sched.try_reserve() {
            Ok(place) => Ok(self.enqueue(place, job)),
            Err(refused) => Err((refused, job)),
        }
    }

    fn enqueue<J: IntoTask<K>>(
        &self,
        place: Reservation<'_, K>,
        job: J,
    ) -> Handle<J::Output, J::Error, K> {
        let shared = &*self.shared;
        // The submitted count so far is the new job's id.
        let id = widen(shared.counters.submitted.fetch_add(1, Ordering::Release));
        let (task, handle, at) = job.into_task(id, Some(Arc::clone(&shared.hub)));
        if shared.has_observer() {
            // The cell's id (it may keep fewer bits), as the handle and every later event say.
            let job = crate::cell::RunJob::id(K::job(&task));
            shared.emit(shared.counters.outside(), JobEvent::Queued { job });
        }
        if let Err(task) = place.push(task, at.priority) {
            // Every worker is gone (an executor dropped them): the job settles now.
            shared.cancel_unqueued(task);
        }
        handle
    }

    fn refuse<J>(&self, refused: Refused, job: J) -> SubmitError<J> {
        self.shared.counters.rejected.fetch_add(1, Ordering::Release);
        match refused {
            Refused::Full => SubmitError::Full(job),
            Refused::Closed => SubmitError::Closed(job),
        }
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

// --- submitting ---------------------------------------------------------------------------------

/// The future of [`Pool::submit`]: waits for room in the queue, then enqueues the job.
#[must_use = "a submission does nothing unless awaited"]
pub struct Submit<'a, S, J>(SubmitCore<'a, S, SendKind, J>);

/// The future of [`LocalPool::submit`]: waits for room in the queue, then enqueues the job.
#[must_use = "a submission does nothing unless awaited"]
pub struct LocalSubmit<'a, S, J>(SubmitCore<'a, S, LocalKind, J>);

impl<S, F, Fut, T, E, P> Future for Submit<'_, S, Job<F, P>>
where
    F: FnMut(Attempt) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    P: RetryIf<E> + Send + 'static,
{
    type Output = Result<JobHandle<T, E>, SubmitError<Job<F, P>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll(cx).map(|r| r.map(JobHandle::from_inner))
    }
}

impl<S, F, Fut, T, E, P> Future for LocalSubmit<'_, S, Job<F, P>>
where
    F: FnMut(Attempt) -> Fut + 'static,
    Fut: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
    P: RetryIf<E> + 'static,
{
    type Output = Result<LocalJobHandle<T, E>, SubmitError<Job<F, P>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll(cx).map(|r| r.map(LocalJobHandle::from_inner))
    }
}

impl<S, J> core::fmt::Debug for Submit<'_, S, J> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Submit").field("pending", &self.0.job.is_some()).finish()
    }
}

impl<S, J> core::fmt::Debug for LocalSubmit<'_, S, J> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalSubmit").field("pending", &self.0.job.is_some()).finish()
    }
}

/// A submission of either kind: waits for a place in the queue, then enqueues the job.
struct SubmitCore<'a, S, K: Kind, J> {
    core: &'a Core<S, K>,
    job: Option<J>,
    /// Its place in the line of waiting submitters, once it waits.
    waiter: Option<u64>,
}

impl<S, K: Kind, J> Drop for SubmitCore<'_, S, K, J> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter {
            self.core.shared.sched.leave_line(waiter);
        }
    }
}

// The job is only ever moved out whole, never pinned: a submission need not be pinned either.
impl<S, K: Kind, J> Unpin for SubmitCore<'_, S, K, J> {}

impl<S, K: Kind, J: IntoTask<K>> SubmitCore<'_, S, K, J> {
    #[allow(clippy::type_complexity)]
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Handle<J::Output, J::Error, K>, SubmitError<J>>> {
        let core = self.core;
        let reserved = match core.shared.sched.poll_reserve(&mut self.waiter, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(reserved) => reserved,
        };
        let job = self.job.take().expect("Submit polled after it completed");
        Poll::Ready(match reserved {
            Ok(place) => Ok(core.enqueue(place, job)),
            Err(refused) => Err(core.refuse(refused, job)),
        })
    }
}

/// The future of `until_queued_below`.
struct QueuedBelow<'a, K: Kind> {
    sched: &'a Scheduler<K>,
    limit: usize,
    waiter: Option<u64>,
}

impl<K: Kind> Future for QueuedBelow<'_, K> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.sched.poll_queued_below(this.limit, &mut this.waiter, cx)
    }
}

impl<K: Kind> Drop for QueuedBelow<'_, K> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            self.sched.stop_waiting_size(id);
        }
    }
}

/// Waits for the workers to stop (see [`Shared::workers_done`]).
struct WorkersDone<'a, S, K: Kind> {
    shared: &'a Shared<S, K>,
    listener: Option<EventListener>,
    /// The job that asked for this shutdown, when the caller said so (a JavaScript job's
    /// continuation, which no worker is polling); otherwise the job being polled is found.
    from_job: Option<JobTag>,
    /// The job whose worker this wait excuses (see [`crate::in_job::Crew::enter`]).
    entered: Option<JobTag>,
}

impl<S, K: Kind> Future for WorkersDone<'_, S, K> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.shared;
        if shared.is_aborted() {
            // Every worker stops now, the caller's own among them if it is a job (its worker
            // drops it, and this with it): wait for all of them, excusing none.
            if let Some(job) = this.entered.take() {
                shared.crew.leave(job);
            }
        } else if this.entered.is_none() {
            let job = shared.crew.polled().or(this.from_job);
            if let Some(job) = job.filter(|&job| shared.crew.enter(job)) {
                this.entered = Some(job);
                shared.workers_changed.notify(usize::MAX); // other shutdowns look again
            }
        }
        crate::sync::poll_until(
            || shared.workers_done(),
            &shared.workers_changed,
            &mut this.listener,
            cx,
        )
    }
}

impl<S, K: Kind> Drop for WorkersDone<'_, S, K> {
    fn drop(&mut self) {
        if let Some(job) = self.entered {
            self.shared.crew.leave(job);
        }
    }
}
