//! The pool: where jobs are submitted, metrics read and shutdown asked for.

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;

use event_listener::EventListener;

use crate::queue::{Permit, Refused};
use crate::shared::Shared;
use crate::sync::{widen, Arc, Ordering};

use crate::{IntoTask, JobEvent, JobHandle, Metrics, Sleeper, SubmitError, Task, TaskKind};

/// A worker pool: a fixed crew of workers pulling jobs from a bounded queue.
///
/// `S` is the [`Sleeper`] that times attempts and backoff; `K` the kind of task queued,
/// [`Task`] (the default, `Send`) or [`LocalTask`](crate::LocalTask) for single-threaded
/// executors. A `Pool` is a cheap handle: clone it to submit from several places. When the last
/// clone is dropped without a shutdown, the pool closes and the workers finish what is queued,
/// then stop.
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use std::time::Duration;
/// use workcrew::{Job, Pool};
///
/// # workcrew::block_on(async {
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
pub struct Pool<S, K: TaskKind = Task> {
    shared: Arc<Shared<S, K>>,
}

/// What a shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that ended with a value or an error while the shutdown waited.
    pub completed: u64,
    /// Jobs cancelled while the shutdown waited (by the deadline, an abort, or their handles).
    pub cancelled: u64,
    /// Whether a deadline passed and the remaining jobs were cancelled.
    pub deadline_expired: bool,
    /// The metrics once every worker had stopped.
    pub metrics: Metrics,
}

impl<S, K: TaskKind> Pool<S, K> {
    pub(crate) fn from_shared(shared: Arc<Shared<S, K>>) -> Self {
        Self { shared }
    }

    /// A snapshot of the counters and gauges.
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// # workcrew::block_on(async {
    /// let pool = workcrew::Pool::builder().build()?;
    /// let m = pool.metrics();
    /// assert_eq!((m.submitted, m.queued, m.running), (0, 0, 0));
    /// # Ok::<_, workcrew::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity()
    }

    /// Whether the pool has stopped accepting jobs.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// Stops accepting jobs, without waiting. Queued and running jobs go on; see
    /// [`shutdown`](Pool::shutdown) to wait for them.
    pub fn close(&self) {
        self.shared.queue.close();
    }

    /// Graceful shutdown: stops accepting jobs, lets every queued and running job finish, and
    /// waits for the workers to stop. Calling it again, or concurrently, is harmless: each call
    /// waits for the same end.
    ///
    /// **From inside one of the pool's own jobs** it cannot wait for its own worker, which is
    /// busy running the caller. There it waits for every *other* worker to stop; the calling
    /// job goes on once it returns, and any jobs still queued behind it then run on its worker
    /// before that worker stops (none is lost). A shutdown from outside, meanwhile, does not
    /// wait for a worker whose job is itself waiting in `shutdown`.
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use workcrew::{Job, Pool};
    ///
    /// # workcrew::block_on(async {
    /// let pool = Pool::builder().workers(2).build()?;
    /// for i in 0..5 {
    ///     drop(pool.submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).await?);
    /// }
    /// let report = pool.shutdown().await;
    /// assert_eq!(report.completed + report.metrics.succeeded, 5 + report.completed);
    /// assert_eq!(report.metrics.succeeded, 5);
    /// assert!(pool.try_submit(Job::new(|_| async { Ok::<_, ()>(0) })).unwrap_err().is_closed());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(&self) -> ShutdownReport {
        self.drain(false).await
    }

    /// Closes the pool and waits for the workers to stop (see [`shutdown`](Pool::shutdown)).
    /// `from_job`: the caller is one of the pool's jobs, though not inside its poll (a
    /// JavaScript job's continuation), so it must not wait for its own worker.
    pub(crate) async fn drain(&self, from_job: bool) -> ShutdownReport {
        let before = self.metrics();
        self.close();
        self.workers_done(from_job).await;
        self.report(before, false)
    }

    /// Whether the caller is inside a poll of one of this pool's jobs (or its function call).
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn is_inside_own_job(&self) -> bool {
        crate::worker::inside_job(&self.shared)
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
        let before = self.metrics();
        self.abort_now();
        self.workers_done(false).await;
        self.report(before, false)
    }

    fn abort_now(&self) {
        let shared = &*self.shared;
        shared.set_aborted();
        self.close();
        while let Some(task) = shared.queue.try_pop() {
            shared.discard(shared.counters.outside(), task);
        }
    }

    /// Waits until every worker has stopped, except those whose job is waiting in a shutdown
    /// of this pool (the caller's own worker among them, if the caller is one of its jobs).
    /// Once the pool is aborted, a caller inside a job never gets here: its worker drops it.
    fn workers_done(&self, from_job: bool) -> WorkersDone<'_, S, K> {
        WorkersDone { shared: &self.shared, listener: None, from_job, counted: false }
    }

    fn report(&self, before: Metrics, deadline_expired: bool) -> ShutdownReport {
        let metrics = self.metrics();
        ShutdownReport {
            completed: (metrics.succeeded + metrics.failed) - (before.succeeded + before.failed),
            cancelled: metrics.cancelled - before.cancelled,
            deadline_expired,
            metrics,
        }
    }
}

impl<S: Sleeper, K: TaskKind> Pool<S, K> {
    /// Graceful shutdown with a deadline: like [`shutdown`](Pool::shutdown), but once `deadline`
    /// has passed, whatever is still queued or running is cancelled as by
    /// [`abort`](Pool::abort).
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use std::time::Duration;
    /// use workcrew::{Job, Pool};
    ///
    /// # workcrew::block_on(async {
    /// let pool = Pool::builder().workers(1).build()?;
    /// let stuck = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
    /// let report = pool.shutdown_with_deadline(Duration::from_millis(20)).await;
    /// assert!(report.deadline_expired);
    /// assert!(stuck.await.unwrap_err().is_cancelled());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown_with_deadline(&self, deadline: Duration) -> ShutdownReport {
        self.drain_until(deadline, false).await
    }

    /// [`shutdown_with_deadline`](Pool::shutdown_with_deadline); `from_job` as in
    /// [`drain`](Pool::drain).
    pub(crate) async fn drain_until(&self, deadline: Duration, from_job: bool) -> ShutdownReport {
        let before = self.metrics();
        self.close();
        let mut done = pin!(self.workers_done(from_job));
        let mut timer = pin!(self.shared.sleeper.sleep(deadline));
        let expired = core::future::poll_fn(|cx| {
            if done.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            timer.as_mut().poll(cx).map(|()| true)
        })
        .await;
        if expired {
            self.abort_now();
            self.workers_done(from_job).await;
        }
        self.report(before, expired)
    }
}

impl<S, K: TaskKind> Pool<S, K> {
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
    /// # workcrew::block_on(async {
    /// let pool = Pool::builder().workers(1).queue(1).build()?;
    /// let handle = pool.submit(Job::new(|_| async { Ok::<_, String>("done") })).await?;
    /// assert_eq!(handle.await, Ok("done"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn submit<J: IntoTask<K>>(&self, job: J) -> Submit<'_, S, K, J> {
        Submit { pool: self, job: Some(job), listener: None }
    }

    /// Submits a job if there is room now; otherwise hands it back in
    /// [`SubmitError::Full`] or [`SubmitError::Closed`].
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use workcrew::{Job, Pool, SubmitError};
    ///
    /// # workcrew::block_on(async {
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
    pub fn try_submit<J: IntoTask<K>>(
        &self,
        job: J,
    ) -> Result<JobHandle<J::Output, J::Error, K>, SubmitError<J>> {
        match self.shared.queue.try_reserve() {
            Ok(permit) => Ok(self.enqueue(permit, job)),
            Err(refused) => Err(self.refuse(refused, job)),
        }
    }

    fn enqueue<J: IntoTask<K>>(
        &self,
        permit: Permit<'_, K::Ref>,
        job: J,
    ) -> JobHandle<J::Output, J::Error, K> {
        let shared = &*self.shared;
        // The submitted count so far is the new job's id.
        let id = widen(shared.counters.submitted.fetch_add(1, Ordering::Release));
        let (task, handle) = job.into_task(id);
        if shared.has_observer() {
            shared.emit(shared.counters.outside(), JobEvent::Queued { job: id });
        }
        permit.send(task);
        handle
    }

    fn refuse<J>(&self, refused: Refused, job: J) -> SubmitError<J> {
        self.shared.counters.rejected.fetch_add(1, Ordering::Release);
        match refused {
            Refused::Full => SubmitError::Full(job),
            Refused::Closed => SubmitError::Closed(job),
        }
    }
}

impl<S, K: TaskKind> Clone for Pool<S, K> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<S, K: TaskKind> Drop for Pool<S, K> {
    /// The last handle closes the pool; the workers finish what is queued, then stop.
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.queue.close();
        }
    }
}

impl<S, K: TaskKind> core::fmt::Debug for Pool<S, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// The future of [`Pool::submit`]: waits for room in the queue, then enqueues the job.
#[must_use = "a submission does nothing unless awaited"]
pub struct Submit<'a, S, K: TaskKind, J> {
    pool: &'a Pool<S, K>,
    job: Option<J>,
    listener: Option<EventListener>,
}

// The job is only ever moved out whole, never pinned: `Submit` need not be pinned either.
impl<S, K: TaskKind, J> Unpin for Submit<'_, S, K, J> {}

impl<S, K: TaskKind, J: IntoTask<K>> Future for Submit<'_, S, K, J> {
    type Output = Result<JobHandle<J::Output, J::Error, K>, SubmitError<J>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let pool = this.pool;
        let reserved = match pool.shared.queue.poll_reserve(&mut this.listener, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(reserved) => reserved,
        };
        let job = this.job.take().expect("Submit polled after it completed");
        Poll::Ready(match reserved {
            Ok(permit) => Ok(pool.enqueue(permit, job)),
            Err(refused) => Err(pool.refuse(refused, job)),
        })
    }
}

impl<S, K: TaskKind, J> core::fmt::Debug for Submit<'_, S, K, J> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Submit").field("pending", &self.job.is_some()).finish()
    }
}

/// Waits for the workers to stop (see `Pool::workers_done`).
struct WorkersDone<'a, S, K: TaskKind> {
    shared: &'a Shared<S, K>,
    listener: Option<EventListener>,
    /// The caller is one of the pool's jobs, outside its poll (see `Pool::drain`).
    from_job: bool,
    /// Whether this wait counts itself in `waiting_in_shutdown`.
    counted: bool,
}

impl<S, K: TaskKind> Future for WorkersDone<'_, S, K> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.shared;
        let in_poll = crate::worker::inside_job(shared);
        if shared.is_aborted() {
            if in_poll {
                // The calling job is being cancelled by the abort: its worker drops it right
                // after this poll. Returning first would race with that drop.
                return Poll::Pending;
            }
            if this.counted {
                // A job's continuation (JavaScript): the abort cancels that job too, so its
                // worker stops like the others; wait for it.
                this.counted = false;
                shared.waiting_in_shutdown.fetch_sub(1, Ordering::AcqRel);
            }
        } else if !this.counted && (in_poll || this.from_job) {
            this.counted = true;
            shared.waiting_in_shutdown.fetch_add(1, Ordering::AcqRel);
            shared.workers_changed.notify(usize::MAX);
        }
        let done = || {
            let waiting = shared.waiting_in_shutdown.load(Ordering::Acquire);
            shared.live_workers.load(Ordering::Acquire) <= waiting
        };
        crate::sync::poll_until(done, &shared.workers_changed, &mut this.listener, cx)
    }
}

impl<S, K: TaskKind> Drop for WorkersDone<'_, S, K> {
    fn drop(&mut self) {
        if self.counted {
            self.shared.waiting_in_shutdown.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
