//! Submitting a job: it becomes one [`Cell`] allocation, seen by the scheduler and the worker
//! as a type-erased [`RunJob`], and by the handle as a typed job handle.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::cell::{Cell, Overrides, RunJob};
use crate::handle::Handle;
use crate::kind::{Kind, LocalKind, SendKind};
use crate::pool::Core;
use crate::sched::{Refused, Reservation, Scheduler};
use crate::shared::Hub;
use crate::sync::{widen, Arc, Ordering};
use crate::{
    Attempt, Job, JobEvent, JobHandle, LocalJobHandle, LocalPool, Pool, RetryIf, SubmitError,
};

/// `Arc::new(cell)` as an `Arc<dyn …>`. `portable_atomic_util::Arc` (and loom's) cannot
/// coerce to `dyn` on stable Rust, so there it goes through a `Box` (one more short-lived
/// allocation per job, on targets without compare-and-swap only), or std's `Arc` under loom.
macro_rules! erase {
    ($cell:expr, $dyn:ty) => {{
        #[cfg(all(not(feature = "portable-atomic"), not(loom)))]
        let erased: Arc<$dyn> = Arc::new($cell);
        #[cfg(loom)]
        let erased: Arc<$dyn> =
            Arc::from_std(alloc::sync::Arc::new($cell) as alloc::sync::Arc<$dyn>);
        #[cfg(all(feature = "portable-atomic", not(loom)))]
        let erased: Arc<$dyn> = Arc::from(Box::new($cell) as Box<$dyn>);
        erased
    }};
}

/// A job a pool of kind `K` can run: [`Job`], with `Send` bounds for [`SendKind`] and without
/// them for [`LocalKind`]. The public `submit` methods state these bounds themselves.
pub(crate) trait IntoTask<K: Kind>: Sized {
    /// The job's value.
    type Output;
    /// The job's error.
    type Error;
    /// The job's cell, once as the queue's reference and once as the handle's (which reaches
    /// the pool through `hub`, if given), and where the job goes in line.
    #[allow(clippy::type_complexity)]
    fn into_task(
        self,
        id: u64,
        hub: Option<Arc<Hub<K>>>,
    ) -> (K::Ref, Handle<Self::Output, Self::Error, K>, Placement);
}

/// Where a job goes in line: its priority (its key is in its cell, with its overrides).
pub(crate) struct Placement {
    pub(crate) priority: i32,
}

impl<F, Fut, T, E, P> IntoTask<SendKind> for Job<F, P>
where
    F: FnMut(Attempt) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    P: RetryIf<E> + Send + 'static,
{
    type Output = T;
    type Error = E;

    fn into_task(
        self,
        id: u64,
        hub: Option<Arc<Hub<SendKind>>>,
    ) -> (<SendKind as Kind>::Ref, Handle<T, E, SendKind>, Placement) {
        let (func, retry_if, overrides, placement) = self.into_parts();
        let cell = Cell::new(id, func, retry_if, overrides);
        let cell: Arc<dyn RunJob + Send + Sync> = erase!(cell, dyn RunJob + Send + Sync);
        (Arc::clone(&cell), Handle::new(cell, hub), placement)
    }
}

impl<F, Fut, T, E, P> IntoTask<LocalKind> for Job<F, P>
where
    F: FnMut(Attempt) -> Fut + 'static,
    Fut: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
    P: RetryIf<E> + 'static,
{
    type Output = T;
    type Error = E;

    fn into_task(
        self,
        id: u64,
        hub: Option<Arc<Hub<LocalKind>>>,
    ) -> (<LocalKind as Kind>::Ref, Handle<T, E, LocalKind>, Placement) {
        let (func, retry_if, overrides, placement) = self.into_parts();
        let cell = Cell::new(id, func, retry_if, overrides);
        let cell: Arc<dyn RunJob> = erase!(cell, dyn RunJob);
        (Arc::clone(&cell), Handle::new(cell, hub), placement)
    }
}

impl<F, P> Job<F, P> {
    /// The function, the predicate, the overrides boxed if the job sets any, and its place.
    fn into_parts(self) -> (F, P, Option<Box<Overrides>>, Placement) {
        let overrides = Overrides {
            retries: self.retries,
            timeout: self.timeout,
            backoff: self.backoff,
            key: self.key,
            deadline: self.policies.as_ref().and_then(|p| p.deadline),
            hedge: self.policies.as_ref().and_then(|p| p.hedge),
        };
        let any = overrides.retries.is_some()
            || overrides.timeout.is_some()
            || overrides.backoff.is_some()
            || overrides.key.is_some()
            || overrides.deadline.is_some()
            || overrides.hedge.is_some();
        let placement = Placement { priority: self.priority };
        (self.func, self.retry_if, any.then(|| Box::new(overrides)), placement)
    }
}

// --- the public submit methods -----------------------------------------------------------------

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
}

/// `until_queued_below`, for both pools.
macro_rules! queued_below {
    ($pool:ident) => {
        impl<S> $pool<S> {
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
        }
    };
}

queued_below!(Pool);
queued_below!(LocalPool);

// --- the core's submit -------------------------------------------------------------------------

impl<S, K: Kind> Core<S, K> {
    #[allow(clippy::type_complexity)]
    pub(crate) fn try_submit<J: IntoTask<K>>(
        &self,
        job: J,
    ) -> Result<Handle<J::Output, J::Error, K>, SubmitError<J>> {
        self.try_enqueue(job).map_err(|(refused, job)| self.refuse(refused, job))
    }

    /// Enqueues `job` if there is room now; a refusal is not counted (see `refuse`).
    #[allow(clippy::type_complexity)]
    pub(crate) fn try_enqueue<J: IntoTask<K>>(
        &self,
        job: J,
    ) -> Result<Handle<J::Output, J::Error, K>, (Refused, J)> {
        match self.shared.sched.try_reserve() {
            Ok(place) => Ok(self.enqueue(place, job)),
            Err(refused) => Err((refused, job)),
        }
    }

    pub(crate) fn enqueue<J: IntoTask<K>>(
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

    pub(crate) fn refuse<J>(&self, refused: Refused, job: J) -> SubmitError<J> {
        self.shared.counters.rejected.fetch_add(1, Ordering::Release);
        match refused {
            Refused::Full => SubmitError::Full(job),
            Refused::Closed => SubmitError::Closed(job),
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
