//! Stopping a pool: a graceful shutdown (with or without a time limit) and an abort, and what
//! each reports. From inside one of the pool's own jobs, a shutdown waits for every *other*
//! worker (`in_job`).

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;

use event_listener::EventListener;

use crate::in_job::JobTag;
use crate::kind::Kind;
use crate::pool::Core;
use crate::shared::Shared;
use crate::{LocalPool, Metrics, Pool, Sleeper};

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

/// `shutdown`, `abort` and `shutdown_timeout`, for both pools.
macro_rules! stopping {
    ($pool:ident) => {
        impl<S> $pool<S> {
            /// Graceful shutdown: stops accepting jobs, lets every queued and running job finish, and
            /// waits for the workers to stop. Calling it again, or concurrently, is harmless: each call
            /// waits for the same end.
            ///
            /// **From inside one of the pool's own jobs** it cannot wait for its own worker, which is
            /// busy running the caller. There it waits for every *other* worker to stop (not for a
            /// worker that only lingers for its rate tokens or breaker cool-downs); the calling
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
    };
}

stopping!(Pool);
stopping!(LocalPool);

impl<S, K: Kind> Core<S, K> {
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
