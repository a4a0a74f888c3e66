//! The result of a job: a one-shot slot shared by the job's task and its [`JobHandle`].
//!
//! The slot is one small allocation: a state byte, the result behind a spin lock (held only to put
//! or take it, never across an await), and two lazily allocated events (one for the handle
//! waiting on the result, one for the task waiting on a cancel request). Nothing is allocated for
//! waiting unless someone waits.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::sync::{Arc, AtomicU8, Ordering};
use crate::JobError;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const SETTLED: u8 = 2;
/// Set beside `RUNNING` when the handle asks a running job to stop.
const CANCEL: u8 = 4;

pub(crate) struct Slot<T, E> {
    state: AtomicU8,
    result: spin::Mutex<Option<Result<T, JobError<E>>>>,
    settled: Event,
    cancel: Event,
}

impl<T, E> Slot<T, E> {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(QUEUED),
            result: spin::Mutex::new(None),
            settled: Event::new(),
            cancel: Event::new(),
        }
    }

    /// Moves a queued job to running. `false` if it was cancelled while queued.
    pub(crate) fn start(&self) -> bool {
        self.state.compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Stores the outcome and wakes the handle. The caller must be the only settler: the task
    /// after `start`, or a canceller that won the `QUEUED → SETTLED` transition.
    pub(crate) fn settle(&self, result: Result<T, JobError<E>>) {
        *self.result.lock() = Some(result);
        self.state.store(SETTLED, Ordering::Release);
        self.settled.notify(usize::MAX);
    }

    fn is_settled(&self) -> bool {
        self.state.load(Ordering::Acquire) == SETTLED
    }

    pub(crate) fn is_cancel_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCEL != 0
    }

    /// Polls for a cancel request, registering `listener` to be woken by one.
    pub(crate) fn poll_cancel(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        crate::sync::poll_until(|| self.is_cancel_requested(), &self.cancel, listener, cx)
    }

    /// Requests cancellation. A queued job is settled as cancelled at once; a running one is
    /// asked to stop and settles when its task drops the attempt.
    fn cancel(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                QUEUED => SETTLED,
                RUNNING => RUNNING | CANCEL,
                _ => return false,
            };
            match self.state.compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SETTLED => {
                    self.settle(Err(JobError::Cancelled { attempts: 0 }));
                    return true;
                }
                Ok(_) => {
                    self.cancel.notify(usize::MAX);
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
    }
}

/// A future of a job's result. It always resolves, whatever happens to the pool.
///
/// Dropping a handle detaches the job: it still runs and is counted in the metrics. Like any
/// future, a handle must not be polled again once it has resolved (that panics).
///
/// # Examples
///
/// ```
/// use workcrew::{Job, JobError, Pool};
///
/// # workcrew::block_on(async {
/// let pool = Pool::builder().workers(1).build()?;
/// let handle = pool.submit(Job::new(|_| async { Ok::<_, ()>(6 * 7) })).await?;
/// assert_eq!(handle.await, Ok(42));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "a handle does nothing unless awaited; drop it explicitly to detach the job"]
pub struct JobHandle<T, E> {
    slot: Arc<Slot<T, E>>,
    job: u64,
    listener: Option<EventListener>,
    done: bool,
}

impl<T, E> JobHandle<T, E> {
    pub(crate) fn new(slot: Arc<Slot<T, E>>, job: u64) -> Self {
        Self { slot, job, listener: None, done: false }
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
    /// ```
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
        self.slot.cancel()
    }

    /// Whether the job has ended and the handle would resolve without waiting.
    pub fn is_finished(&self) -> bool {
        self.done || self.slot.result.lock().is_some()
    }
}

impl<T, E> Future for JobHandle<T, E> {
    type Output = Result<T, JobError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "JobHandle polled after it resolved");
        let slot = &*this.slot;
        // `settle` stores the result before it marks the slot settled.
        if crate::sync::poll_until(|| slot.is_settled(), &slot.settled, &mut this.listener, cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        match slot.result.lock().take() {
            Some(result) => {
                this.done = true;
                this.listener = None;
                Poll::Ready(result)
            }
            None => unreachable!("a settled slot holds its result until the handle takes it"),
        }
    }
}

impl<T, E> core::fmt::Debug for JobHandle<T, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job", &self.job)
            .field("finished", &self.is_finished())
            .finish()
    }
}
