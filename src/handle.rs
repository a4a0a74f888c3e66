//! A job's handle: a future of its result, reading the job's [cell](crate::cell).

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::cell::RunJob;
use crate::{JobError, Task, TaskKind};

/// A future of a job's result. It always resolves, whatever happens to the pool.
///
/// Dropping a handle detaches the job: it still runs and is counted in the metrics. Like any
/// future, a handle must not be polled again once it has resolved (that panics).
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use workcrew::{Job, JobError, Pool};
///
/// # workcrew::block_on(async {
/// let pool = Pool::builder().workers(1).build()?;
/// let handle = pool.submit(Job::new(|_| async { Ok::<_, ()>(6 * 7) })).await?;
/// assert_eq!(handle.await, Ok(42));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "the job runs either way; await the handle for its result, or drop it to detach the job"]
pub struct JobHandle<T, E, K: TaskKind = Task> {
    cell: K::Ref,
    job: u64,
    done: bool,
    _result: PhantomData<fn() -> (T, E)>,
}

impl<T, E, K: TaskKind> JobHandle<T, E, K> {
    pub(crate) fn new(cell: K::Ref, job: u64) -> Self {
        Self { cell, job, done: false, _result: PhantomData }
    }

    /// The job's id, as in [`Attempt::job_id`](crate::Attempt::job_id) and its
    /// [`JobEvent`](crate::JobEvent)s. Ids count up from 0 in submission order.
    pub fn job_id(&self) -> u64 {
        self.job
    }

    /// Cancels the job. A queued job never starts and its handle resolves at once with
    /// [`JobError::Cancelled`] (0 attempts). A running job's attempt is dropped at its next await
    /// point (or when it next yields), then the handle resolves with `Cancelled`.
    ///
    /// Returns `false` if the job had already ended or was already cancelled; then the handle
    /// resolves with the job's own outcome.
    ///
    /// # Examples
    ///
    /// ```rust ignore-wasm32
    /// use workcrew::{Job, JobError, Pool};
    ///
    /// # workcrew::block_on(async {
    /// let pool = Pool::builder().workers(1).build()?;
    /// let hang = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
    /// assert!(hang.cancel());
    /// assert!(hang.await.unwrap_err().is_cancelled());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        K::job(&self.cell).cancel() != crate::state::Cancelled::No
    }

    /// Whether the job has ended and the handle would resolve without waiting.
    pub fn is_finished(&self) -> bool {
        self.done || K::job(&self.cell).is_done()
    }
}

impl<T: 'static, E: 'static, K: TaskKind> Future for JobHandle<T, E, K> {
    type Output = Result<T, JobError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "JobHandle polled after it resolved");
        let mut out: Option<Self::Output> = None;
        let ready = match K::job(&this.cell).poll_result(cx, &mut out) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ready) => ready,
        };
        this.done = true;
        Poll::Ready(match out {
            Some(result) if ready => result,
            _ => Err(JobError::Cancelled { attempts: 0 }),
        })
    }
}

impl<T, E, K: TaskKind> Unpin for JobHandle<T, E, K> {}

impl<T, E, K: TaskKind> core::fmt::Debug for JobHandle<T, E, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job", &self.job)
            .field("finished", &self.is_finished())
            .finish()
    }
}
