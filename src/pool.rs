//! The pool: where jobs are submitted, metrics read and shutdown asked for.

use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use event_listener::Event;

use crate::backoff::splitmix64;
use crate::builder::Defaults;
use crate::metrics::Counters;
use crate::queue::{Queue, Refused};
use crate::sync::{widen, Arc, AtomicBool, AtomicUsize, Counter, Ordering};
use alloc::boxed::Box;

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
/// ```
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

/// State shared by the pool's handles, its workers and its tasks.
#[doc(hidden)]
pub struct Shared<S, K: TaskKind> {
    pub(crate) queue: Queue<K>,
    pub(crate) sleeper: S,
    pub(crate) defaults: Defaults,
    pub(crate) counters: Counters,
    pub(crate) workers: usize,
    aborted: AtomicBool,
    pub(crate) abort: Event,
    pub(crate) live_workers: AtomicUsize,
    pub(crate) workers_done: Event,
    /// Live `Pool` clones; the last one to go closes the queue.
    handles: AtomicUsize,
    seed: Counter,
    observer: Option<Box<K::Observer>>,
}

impl<S, K: TaskKind> core::fmt::Debug for Shared<S, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared").field("workers", &self.workers).finish_non_exhaustive()
    }
}

impl<S, K: TaskKind> Shared<S, K> {
    pub(crate) fn new(
        sleeper: S,
        workers: usize,
        queue: usize,
        defaults: Defaults,
        observer: Option<Box<K::Observer>>,
    ) -> Self {
        Self {
            queue: Queue::new(queue),
            sleeper,
            defaults,
            counters: Counters::default(),
            workers,
            aborted: AtomicBool::new(false),
            abort: Event::new(),
            live_workers: AtomicUsize::new(workers),
            workers_done: Event::new(),
            handles: AtomicUsize::new(1),
            seed: Counter::new(0),
            observer,
        }
    }

    /// Tells the observer, if there is one.
    pub(crate) fn emit(&self, event: JobEvent<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// A fresh random `u64` for jitter.
    pub(crate) fn random(&self) -> u64 {
        let n = widen(self.seed.fetch_add(1, Ordering::Relaxed));
        splitmix64(n ^ (self as *const Self as usize as u64))
    }
}

/// What a shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// ```
    /// # workcrew::block_on(async {
    /// let pool = workcrew::Pool::builder().build()?;
    /// let m = pool.metrics();
    /// assert_eq!((m.submitted, m.queued, m.running), (0, 0, 0));
    /// # Ok::<_, workcrew::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.counters.snapshot(self.shared.queue.len())
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
    /// # Examples
    ///
    /// ```
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
        let before = self.metrics();
        self.close();
        self.workers_done().await;
        self.report(before, false)
    }

    /// Abort: stops accepting jobs, cancels every queued job, drops every running attempt at its
    /// next await point, and waits for the workers to stop. Every handle resolves, the cancelled
    /// ones with [`JobError::Cancelled`](crate::JobError::Cancelled).
    pub async fn abort(&self) -> ShutdownReport {
        let before = self.metrics();
        self.abort_now();
        self.workers_done().await;
        self.report(before, false)
    }

    fn abort_now(&self) {
        self.shared.aborted.store(true, Ordering::Release);
        self.close();
        self.shared.abort.notify(usize::MAX);
        // Dropping a queued task settles its job as cancelled.
        while let Some(task) = self.shared.queue.try_pop() {
            drop(task);
        }
    }

    async fn workers_done(&self) {
        let live = || self.shared.live_workers.load(Ordering::Acquire);
        while live() > 0 {
            let listener = self.shared.workers_done.listen();
            if live() == 0 {
                break;
            }
            listener.await;
        }
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
    /// ```
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
        let before = self.metrics();
        self.close();
        let mut done = pin!(self.workers_done());
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
            self.workers_done().await;
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
    /// ```
    /// use workcrew::{Job, Pool};
    ///
    /// # workcrew::block_on(async {
    /// let pool = Pool::builder().workers(1).queue(1).build()?;
    /// let handle = pool.submit(Job::new(|_| async { Ok::<_, String>("done") })).await?;
    /// assert_eq!(handle.await, Ok("done"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn submit<J>(&self, job: J) -> Result<JobHandle<J::Output, J::Error>, SubmitError<J>>
    where
        J: IntoTask<S, K>,
    {
        match self.shared.queue.reserve().await {
            Ok(permit) => Ok(self.enqueue(permit, job)),
            Err(refused) => Err(self.refuse(refused, job)),
        }
    }

    /// Submits a job if there is room now; otherwise hands it back in
    /// [`SubmitError::Full`] or [`SubmitError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
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
    pub fn try_submit<J>(&self, job: J) -> Result<JobHandle<J::Output, J::Error>, SubmitError<J>>
    where
        J: IntoTask<S, K>,
    {
        match self.shared.queue.try_reserve() {
            Ok(permit) => Ok(self.enqueue(permit, job)),
            Err(refused) => Err(self.refuse(refused, job)),
        }
    }

    fn enqueue<J: IntoTask<S, K>>(
        &self,
        permit: crate::queue::Permit<'_, K>,
        job: J,
    ) -> JobHandle<J::Output, J::Error> {
        // The submitted count so far is the new job's id.
        let id = widen(self.shared.counters.submitted.fetch_add(1, Ordering::Release));
        let (task, handle) = job.into_task(&self.shared, id);
        self.shared.emit(JobEvent::Queued { job: id });
        permit.send(task);
        handle
    }

    fn refuse<J>(&self, refused: Refused, job: J) -> SubmitError<J> {
        Counters::bump(&self.shared.counters.rejected);
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
