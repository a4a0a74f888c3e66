//! A job's handle: a future of its result, reading the job's [cell](crate::cell).

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::cell::RunJob;
use crate::kind::{Kind, LocalKind, SendKind};
use crate::shared::Hub;
use crate::sync::Arc;
use crate::JobError;

/// A future of a job's result, from a [`Pool`](crate::Pool). It always resolves, whatever
/// happens to the pool.
///
/// Dropping a handle detaches the job: it still runs and is counted in the metrics. Like any
/// future, a handle must not be polled again once it has resolved (that panics).
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use workcrew::{Job, JobError, Pool};
///
/// # workcrew::native::block_on(async {
/// let pool = Pool::builder().workers(1).build()?;
/// let handle = pool.submit(Job::new(|_| async { Ok::<_, ()>(6 * 7) })).await?;
/// assert_eq!(handle.await, Ok(42));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "the job runs either way; await the handle for its result, or drop it to detach the job"]
pub struct JobHandle<T, E>(Handle<T, E, SendKind>);

/// A future of a job's result, from a [`LocalPool`](crate::LocalPool): a [`JobHandle`] whose
/// job need not be `Send`, so neither is the handle.
#[must_use = "the job runs either way; await the handle for its result, or drop it to detach the job"]
pub struct LocalJobHandle<T, E>(Handle<T, E, LocalKind>);

macro_rules! handle_methods {
    ($name:ident, $kind:ty, $abort:ident) => {
        impl<T, E> $name<T, E> {
            pub(crate) fn from_inner(inner: Handle<T, E, $kind>) -> Self {
                Self(inner)
            }

            /// The job's id, as in [`Attempt::job_id`](crate::Attempt::job_id) and its
            /// [`JobEvent`](crate::JobEvent)s. Ids count up from 0 in submission order. They
            /// wrap: modulo 2⁵⁷ where the target has 64-bit atomics (64-bit targets, wasm32;
            /// 2⁵⁷ submissions take some four years at a billion a second), modulo 2³² on
            /// 32-bit targets without them, as the pool's counters do.
            pub fn job_id(&self) -> u64 {
                self.0.job
            }

            /// Cancels the job. A queued job never starts: at once, its place in the queue is
            /// given back (a waiting submitter gets it), its function is dropped, it is counted
            /// in [`Metrics::cancelled`](crate::Metrics) and no longer in `queued`, its
            /// [`JobEvent::Cancelled`](crate::JobEvent) is emitted, and its handle resolves
            /// with [`JobError::Cancelled`] (0 attempts). A running job's attempt is dropped at its
            /// next await point (or when it next yields), then the handle resolves with
            /// `Cancelled` (with the number of attempts begun).
            ///
            /// Returns `true` exactly when this call cancelled the job: then the handle resolves
            /// with `Cancelled`, whatever the job's attempt does meanwhile. An attempt that
            /// returns a value or an error at the same moment loses: its value or error is
            /// dropped, and the job is counted ([`Metrics::cancelled`](crate::Metrics)) and
            /// reported ([`JobEvent::Cancelled`](crate::JobEvent)) as cancelled.
            ///
            /// Returns `false` if the job's outcome was already decided: it had ended, its
            /// worker was already settling it, or it had been cancelled before (by an earlier
            /// `cancel`, or, while it was queued, by the pool: [`abort`](crate::Pool::abort), a
            /// shutdown's time limit, its workers dropped). The handle then resolves with that
            /// outcome, which is `Cancelled` in the last case. A running job the pool is
            /// aborting is dropped by its worker without a cancel request, so until then
            /// `cancel` still returns `true`; it ends `Cancelled` either way.
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, JobError, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(1).build()?;
            /// let hang = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
            /// assert!(hang.cancel());
            /// assert!(hang.await.unwrap_err().is_cancelled());
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn cancel(&self) -> bool {
                self.0.cancel()
            }

            /// Changes the priority of a job that is still queued (see
            /// [`Job::priority`](crate::Job::priority)): it goes to the back of its new
            /// priority's line. Returns `false`, changing nothing, once the job has started or
            /// ended.
            ///
            /// # Examples
            ///
            /// ```
            /// use core::time::Duration;
            /// use workcrew::{Job, PoolBuilder};
            ///
            /// let (pool, workers) = PoolBuilder::new(|_: Duration| async {}).workers(1).build_workers()?;
            /// let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            /// let job = |name: &'static str| {
            ///     let order = order.clone();
            ///     Job::new(move |_| {
            ///         order.lock().unwrap().push(name);
            ///         async { Ok::<_, ()>(()) }
            ///     })
            /// };
            /// let _a = pool.try_submit(job("a")).unwrap();
            /// let b = pool.try_submit(job("b")).unwrap();
            /// assert!(b.set_priority(1)); // still queued: b now goes first
            /// pool.close();
            /// for w in workers {
            ///     futures_lite::future::block_on(w);
            /// }
            /// assert_eq!(*order.lock().unwrap(), ["b", "a"]);
            /// assert!(!b.set_priority(2)); // it has run
            /// # Ok::<_, workcrew::BuildError>(())
            /// ```
            pub fn set_priority(&self, priority: i32) -> bool {
                self.0.set_priority(priority)
            }

            /// Whether the job has ended and the handle would resolve without waiting.
            pub fn is_finished(&self) -> bool {
                self.0.is_finished()
            }

            /// A handle that can cancel the job (as [`cancel`](Self::cancel)) after this one
            /// has been moved into an `.await`, as tokio's `AbortHandle` can: a timeout
            /// elsewhere, a user's click. It can be cloned. It holds the job's cell: a job's
            /// value or error, once the job ends with no handle left to take it, is freed
            /// when the last `AbortHandle` is dropped.
            ///
            /// # Examples
            ///
            /// ```rust ignore-wasm32
            /// use workcrew::{Job, JobError, Pool};
            ///
            /// # workcrew::native::block_on(async {
            /// let pool = Pool::builder().workers(1).build()?;
            /// let hang = pool.submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>())).await?;
            /// let abort = hang.abort_handle();
            /// let waiter = std::thread::spawn(move || workcrew::native::block_on(hang));
            /// assert!(abort.cancel());
            /// assert!(waiter.join().unwrap().unwrap_err().is_cancelled());
            /// assert!(abort.is_finished());
            /// # Ok::<_, Box<dyn std::error::Error>>(())
            /// # }).unwrap();
            /// ```
            pub fn abort_handle(&self) -> $abort {
                $abort(Abort {
                    cell: self.0.cell.clone(),
                    hub: self.0.hub.clone(),
                    job: self.0.job,
                })
            }
        }

        impl<T: 'static, E: 'static> Future for $name<T, E> {
            type Output = Result<T, JobError<E>>;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.0.poll(cx)
            }
        }

        impl<T, E> core::fmt::Debug for $name<T, E> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("job", &self.0.job)
                    .field("finished", &self.is_finished())
                    .finish()
            }
        }
    };
}

handle_methods!(JobHandle, SendKind, AbortHandle);
handle_methods!(LocalJobHandle, LocalKind, LocalAbortHandle);

/// Cancels a [`Pool`](crate::Pool)'s job from anywhere, once its [`JobHandle`] is busy in an
/// `.await`: see [`JobHandle::abort_handle`].
#[derive(Clone)]
pub struct AbortHandle(Abort<SendKind>);

/// Cancels a [`LocalPool`](crate::LocalPool)'s job from anywhere: see
/// [`LocalJobHandle::abort_handle`].
#[derive(Clone)]
pub struct LocalAbortHandle(Abort<LocalKind>);

macro_rules! abort_methods {
    ($name:ident) => {
        impl $name {
            /// The job's id, as its handle's [`job_id`](JobHandle::job_id).
            pub fn job_id(&self) -> u64 {
                self.0.job
            }

            /// Cancels the job, as [`JobHandle::cancel`] does: `true` if this request will
            /// end it as cancelled, `false` if it had ended (or was ending) already.
            pub fn cancel(&self) -> bool {
                self.0.cancel()
            }

            /// Whether the job has ended.
            pub fn is_finished(&self) -> bool {
                self.0.is_finished()
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("job", &self.0.job)
                    .field("finished", &self.is_finished())
                    .finish()
            }
        }
    };
}

abort_methods!(AbortHandle);
abort_methods!(LocalAbortHandle);

/// What an abort handle holds: the job's cell and the pool's hub, as its handle does.
struct Abort<K: Kind> {
    cell: K::Ref,
    hub: Option<Arc<Hub<K>>>,
    job: u64,
}

impl<K: Kind> Clone for Abort<K> {
    fn clone(&self) -> Self {
        Self { cell: self.cell.clone(), hub: self.hub.clone(), job: self.job }
    }
}

impl<K: Kind> Abort<K> {
    fn cancel(&self) -> bool {
        cancel::<K>(&self.cell, &self.hub)
    }

    fn is_finished(&self) -> bool {
        K::job(&self.cell).is_done()
    }
}

/// A cancel request for the job in `cell`: through the pool's scheduler if it may be queued.
fn cancel<K: Kind>(cell: &K::Ref, hub: &Option<Arc<Hub<K>>>) -> bool {
    let job = K::job(cell);
    match hub {
        Some(hub) => hub.cancel(job),
        None => job.cancel() != crate::state::Cancelled::No,
    }
}

/// The handle of either kind of pool: the job's cell, read for its result, and the pool's
/// hub, through which a queued job is cancelled or moved in line.
pub(crate) struct Handle<T, E, K: Kind> {
    cell: K::Ref,
    hub: Option<Arc<Hub<K>>>,
    job: u64,
    done: bool,
    _result: PhantomData<fn() -> (T, E)>,
}

impl<T, E, K: Kind> Handle<T, E, K> {
    /// The handle of the job in `cell`, with the cell's copy of the job's id, so the handle,
    /// the job's attempts and its events always agree on it.
    pub(crate) fn new(cell: K::Ref, hub: Option<Arc<Hub<K>>>) -> Self {
        let job = K::job(&cell).id();
        Self { cell, hub, job, done: false, _result: PhantomData }
    }

    pub(crate) fn cancel(&self) -> bool {
        cancel::<K>(&self.cell, &self.hub)
    }

    fn set_priority(&self, priority: i32) -> bool {
        self.hub.as_ref().is_some_and(|hub| hub.sched.set_priority(self.job, priority))
    }

    fn is_finished(&self) -> bool {
        self.done || K::job(&self.cell).is_done()
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JobError<E>>>
    where
        T: 'static,
        E: 'static,
    {
        assert!(!self.done, "JobHandle polled after it resolved");
        let mut out: Option<Result<T, JobError<E>>> = None;
        let ready = match K::job(&self.cell).poll_result(cx, &mut out) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ready) => ready,
        };
        self.done = true;
        Poll::Ready(match out {
            Some(result) if ready => result,
            _ => Err(JobError::Cancelled { attempts: 0 }),
        })
    }
}

// Nothing in a handle is pinned: the cell is behind a reference.
impl<T, E, K: Kind> Unpin for Handle<T, E, K> {}
