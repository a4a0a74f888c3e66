//! How a [`Job`] becomes a queued task: one [`Cell`] allocation, seen by the queue and the
//! worker as a type-erased [`RunJob`], and by the handle as a typed [`JobHandle`].
//!
//! Two kinds of pool share the one core: [`Pool`](crate::Pool), whose jobs (and observer) may
//! move between threads, and [`LocalPool`](crate::LocalPool) for single-threaded executors (the
//! browser, embedded), whose jobs may hold `!Send` values such as JavaScript objects.

use alloc::boxed::Box;
use core::future::Future;
use core::time::Duration;

use core::task::Poll;

use crate::attempt::{run_attempt, run_hedged, Ended};
use crate::cell::{Cell, Overrides, RunJob, Unreturned};
use crate::handle::Handle;
use crate::metrics::Counters;
use crate::policy::breaker::{Admit, Verdict};
use crate::policy::deadline::{Cut, Deadline};
use crate::shared::{Hub, Shared};
use crate::sync::Arc;
use crate::worker::Tokens;
use crate::{Attempt, Job, JobError, JobEvent, RetryIf, Sleeper};

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

/// The kind of a [`Pool`](crate::Pool): its jobs and observer are `Send`, so they may move
/// between threads.
#[derive(Debug)]
pub(crate) enum SendKind {}

/// The kind of a [`LocalPool`](crate::LocalPool), for single-threaded executors (the browser,
/// embedded): its jobs and observer need not be `Send`.
#[derive(Debug)]
pub(crate) enum LocalKind {}

/// What differs between the two kinds of pool: the queued reference to a job's cell and the
/// observer's bounds. Everything else is one core, generic over the kind.
pub(crate) trait Kind: 'static {
    /// A job's cell, type-erased: `Send + Sync` for [`SendKind`].
    type Job: ?Sized + RunJob;
    /// A shared reference to a job's cell.
    type Ref: Clone;
    /// The observer a pool of this kind accepts.
    type Observer: ?Sized + Fn(&JobEvent<'_>);
    /// The cell behind a reference.
    fn job(r: &Self::Ref) -> &Self::Job;
}

impl Kind for SendKind {
    type Job = dyn RunJob + Send + Sync;
    type Ref = Arc<Self::Job>;
    type Observer = dyn Fn(&JobEvent<'_>) + Send + Sync;
    fn job(r: &Self::Ref) -> &Self::Job {
        &**r
    }
}

impl Kind for LocalKind {
    type Job = dyn RunJob;
    type Ref = Arc<Self::Job>;
    type Observer = dyn Fn(&JobEvent<'_>);
    fn job(r: &Self::Ref) -> &Self::Job {
        &**r
    }
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

// --- the attempt loop ----------------------------------------------------------------------------

/// The attempt loop of a started job, run by a worker: ask the breaker, attempt (a round of
/// hedged attempts, with hedging), decide, back off, repeat, all within the job's deadline;
/// then settle the job exactly once. Its state (attempt number, options, timers) lives in the
/// worker's future, not in the job's cell. If the loop is dropped before it ends (abort,
/// shutdown deadline), its guard settles the job as cancelled. `token` is the rate token the
/// scheduler gave the job's first attempt, if the pool has a rate limit.
pub(crate) fn run_job<'a, S: Sleeper, K: Kind>(
    shared: &'a Shared<S, K>,
    counters: &'a Counters,
    worker: usize,
    tokens: &'a Tokens<'a, S, K>,
    job: &'a K::Job,
    overrides: Overrides,
    token: Option<Duration>,
) -> impl Future<Output = ()> + 'a {
    let defaults = &shared.defaults;
    let retries = overrides.retries.unwrap_or(defaults.retries);
    let timeout = overrides.timeout.unwrap_or(defaults.timeout);
    let backoff = overrides.backoff.unwrap_or(defaults.backoff);
    let deadline = overrides.deadline.unwrap_or(defaults.deadline);
    let hedge = overrides.hedge.unwrap_or(defaults.hedge);
    let key = overrides.key;
    // Outside the async block: dropping the loop before its first poll still settles the job.
    let guard = Settle { shared, counters, job, attempts: 0, started: false, done: false, token };
    async move {
        let mut g = guard;
        let policies = &shared.policies;
        let key = key.as_ref();
        // An open breaker refuses the job before its first attempt: the service is not
        // called, and the rate token goes back.
        let mut admitted = policies.admit(key);
        if admitted == Some(Admit::Refuse) {
            return g.refuse();
        }
        if let Some(interval) = g.token.take() {
            tokens.hold(interval);
        }
        Counters::bump(&counters.started);
        g.started = true;
        if let Some(budget) = &policies.budget {
            budget.deposit();
        }
        let mut deadline = match Deadline::start(&shared.sleeper, deadline) {
            Ok(deadline) => deadline,
            Err(message) => {
                policies.attempt_ended(shared, counters, key, admitted, Verdict::Cancelled);
                Counters::bump(&counters.panicked);
                return g.finish(Some(JobError::Panicked { message, attempts: 0 }));
            }
        };
        let mut round = 0u32;
        loop {
            if job.is_cancel_requested() {
                policies.attempt_ended(shared, counters, key, admitted, Verdict::Cancelled);
                let attempts = g.attempts;
                return g.finish(Some(JobError::Cancelled { attempts }));
            }
            round = round.saturating_add(1);
            let first = g.attempts.saturating_add(1);
            if round > 1 {
                Counters::bump(&counters.retried);
            }
            let ran = match hedge {
                None => {
                    g.attempts = first;
                    shared
                        .emit(counters, JobEvent::AttemptStarted { job: job.id(), attempt: first });
                    let attempt =
                        run_attempt::<S, K>(shared, counters, worker, job, first, round, timeout);
                    match deadline.within(attempt).await {
                        Ok(ended) => {
                            let verdict = ended.verdict();
                            if let Some(generation) =
                                policies.attempt_ended(shared, counters, key, admitted, verdict)
                            {
                                tokens.cool_down(key, generation);
                            }
                            Ok(decide(shared, counters, job, first, ended))
                        }
                        Err(cut) => Err(cut),
                    }
                }
                Some(hedge) => {
                    let attempts = &mut g.attempts;
                    let round = run_hedged(
                        shared, counters, worker, tokens, job, attempts, round, timeout, hedge,
                        key, admitted,
                    );
                    deadline.within(round).await
                }
            };
            let n = g.attempts;
            let (error, retry) = match ran {
                Ok(None) => return g.finish(None),
                Ok(Some(outcome)) => outcome,
                Err(cut) => {
                    // Whatever the round still ran is dropped; for the breaker, the deadline
                    // cut it short as a timeout would.
                    job.drop_attempt();
                    if let Some(generation) =
                        policies.attempt_ended(shared, counters, key, admitted, Verdict::Failure)
                    {
                        tokens.cool_down(key, generation);
                    }
                    return g.cut(cut);
                }
            };
            if !retry || round > retries {
                return g.finish(Some(error));
            }
            if let Some(budget) = &policies.budget {
                if !budget.withdraw() {
                    Counters::bump(&counters.retries_denied);
                    let attempt = n.saturating_add(1);
                    shared.emit(counters, JobEvent::RetryDenied { job: job.id(), attempt });
                    return g.finish(Some(error));
                }
            }
            let delay = backoff.next_delay(round, || shared.random());
            let next = n.saturating_add(1);
            shared.emit(counters, JobEvent::RetryScheduled { job: job.id(), attempt: next, delay });
            match deadline.within(wait_unless_cancelled(&shared.sleeper, delay, job)).await {
                Ok(Ok(())) => {}
                Ok(Err(message)) | Err(Cut::Panicked(message)) => {
                    Counters::bump(&counters.panicked);
                    return g.finish(Some(JobError::Panicked { message, attempts: n }));
                }
                Err(Cut::Passed) => return g.cut(Cut::Passed),
            }
            if job.is_cancel_requested() {
                continue; // the loop's first step settles it
            }
            // The breaker again: a retry it refuses is not sent.
            admitted = policies.admit(key);
            if admitted == Some(Admit::Refuse) {
                return g.refuse();
            }
            // A retry is a request too: with a rate limit it takes a token (before new jobs).
            match deadline.within(wait_for_token(shared, worker, job)).await {
                Ok(Some(interval)) => tokens.hold(interval),
                Ok(None) => {}
                Err(cut) => {
                    policies.attempt_ended(shared, counters, key, admitted, Verdict::Cancelled);
                    return g.cut(cut);
                }
            }
        }
    }
}

impl Ended {
    /// How the attempt counts for a circuit breaker.
    pub(crate) fn verdict(&self) -> Verdict {
        match self {
            Ended::Succeeded => Verdict::Success,
            Ended::Cancelled => Verdict::Cancelled,
            Ended::Failed { .. }
            | Ended::TimedOut
            | Ended::Panicked(_)
            | Ended::PoolCodePanicked(_) => Verdict::Failure,
        }
    }
}

/// Maps how an attempt ended to the job's error (if it ends now) and whether a retry is
/// allowed, counting and reporting the attempt's end. `None`: the job succeeded. A timeout or
/// a panic asks the retry predicate ([`RetryIf::should_retry_failure`](crate::RetryIf)).
pub(crate) fn decide<S, K: Kind>(
    shared: &Shared<S, K>,
    counters: &Counters,
    job: &K::Job,
    n: u32,
    ended: Ended,
) -> Option<(JobError<()>, bool)> {
    let id = job.id();
    // The predicate's verdict on a failure without an error; a panic in it ends the job.
    let ask = |failure: Unreturned<'_>| match job.retry_unreturned(failure) {
        Ok(retry) => Ok(retry),
        Err(message) => {
            Counters::bump(&counters.panicked);
            Err(JobError::Panicked { message, attempts: n })
        }
    };
    Some(match ended {
        Ended::Succeeded => return None,
        Ended::Cancelled => (JobError::Cancelled { attempts: n }, false),
        // The cell reported `AttemptFailed` and asked the retry predicate.
        Ended::Failed { retry } => (JobError::Failed { error: (), attempts: n }, retry),
        Ended::TimedOut => {
            Counters::bump(&counters.timed_out);
            shared.emit(counters, JobEvent::AttemptTimedOut { job: id, attempt: n });
            match ask(Unreturned::TimedOut) {
                Ok(retry) => (JobError::TimedOut { attempts: n }, retry),
                Err(panicked) => (panicked, false),
            }
        }
        Ended::Panicked(message) => {
            Counters::bump(&counters.panicked);
            let m = message.as_deref();
            shared.emit(counters, JobEvent::AttemptPanicked { job: id, attempt: n, message: m });
            match ask(Unreturned::Panicked(m)) {
                Ok(retry) => (JobError::Panicked { message, attempts: n }, retry),
                Err(panicked) => (panicked, false),
            }
        }
        // The retry predicate or the sleeper panicked: the job ends, without another attempt.
        Ended::PoolCodePanicked(message) => {
            Counters::bump(&counters.panicked);
            (JobError::Panicked { message, attempts: n }, false)
        }
    })
}

/// Sleeps for `delay` (not at all if zero), or until a cancel request, which the loop then
/// sees before the next attempt. `Err` if the sleeper panicked.
async fn wait_unless_cancelled<S: Sleeper, J: ?Sized + RunJob>(
    sleeper: &S,
    delay: core::time::Duration,
    job: &J,
) -> Result<(), Option<alloc::string::String>> {
    if delay.is_zero() {
        return Ok(());
    }
    let mut sleep = core::pin::pin!(Some(crate::catch::unwind(|| sleeper.sleep(delay))?));
    let waited = core::future::poll_fn(|cx| {
        if job.poll_cancel(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let Some(s) = sleep.as_mut().as_pin_mut() else { return Poll::Ready(Ok(())) };
        match crate::catch::unwind(|| s.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(message) => Poll::Ready(Err(message)),
        }
    })
    .await;
    crate::catch::quietly(|| sleep.set(None));
    waited
}

/// A rate token for a retry, waiting (unless the job is cancelled meanwhile: then `None`, and
/// the loop sees the request). `None` at once without a rate limit.
async fn wait_for_token<S, K: Kind>(
    shared: &Shared<S, K>,
    worker: usize,
    job: &K::Job,
) -> Option<Duration> {
    let sched = &shared.sched;
    let mut waiting = None;
    core::future::poll_fn(|cx| {
        if job.is_cancel_requested() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(token) = sched.poll_token(worker, cx) {
            if let Some(leave) = waiting.take() {
                LeaveTokenLine::<K>::left(leave); // poll_token left the line itself
            }
            return Poll::Ready(token);
        }
        waiting.get_or_insert_with(|| LeaveTokenLine(sched, worker));
        job.poll_cancel(cx).map(|()| None)
    })
    .await
}

/// Leaves the line of attempts waiting for a rate token, however the wait ends.
pub(crate) struct LeaveTokenLine<'a, K: Kind>(
    pub(crate) &'a crate::sched::Scheduler<K>,
    pub(crate) usize,
);

impl<K: Kind> LeaveTokenLine<'_, K> {
    /// The wait ended with a token: `poll_token` left the line itself.
    pub(crate) fn left(self) {
        core::mem::forget(self);
    }
}

impl<K: Kind> Drop for LeaveTokenLine<'_, K> {
    fn drop(&mut self) {
        self.0.stop_waiting_for_token(self.1);
    }
}

/// Settles the job, counts it and reports it, exactly once.
struct Settle<'a, S, K: Kind> {
    shared: &'a Shared<S, K>,
    counters: &'a Counters,
    job: &'a K::Job,
    attempts: u32,
    /// Counted in `started`: a job dropped before that (an abort as it was taken) is counted
    /// as cancelled while queued.
    started: bool,
    done: bool,
    /// The first attempt's rate token, until it starts: a job that ends before (refused by
    /// the breaker, or dropped by an abort) gives it back at once.
    token: Option<Duration>,
}

impl<S, K: Kind> Settle<'_, S, K> {
    /// The breaker refused the next attempt.
    fn refuse(&mut self) {
        let attempts = self.attempts;
        self.finish(Some(JobError::CircuitOpen { attempts }));
    }

    /// The deadline passed, or its timer panicked.
    fn cut(&mut self, cut: Cut) {
        let attempts = self.attempts;
        match cut {
            Cut::Passed => self.finish(Some(JobError::DeadlineExceeded { attempts })),
            Cut::Panicked(message) => {
                Counters::bump(&self.counters.panicked);
                self.finish(Some(JobError::Panicked { message, attempts }));
            }
        }
    }

    fn finish(&mut self, error: Option<JobError<()>>) {
        if self.token.take().is_some() {
            self.shared.sched.return_token();
        }
        let c = self.counters;
        let (job, attempts) = (self.job.id(), self.attempts);
        // The outcome is sealed first: a cancel request that came before wins over the
        // attempt's own, and one that comes later fails, so count, event and handle agree.
        let error = if self.job.seal() { Some(JobError::Cancelled { attempts }) } else { error };
        let (counter, event) = match &error {
            None => (&c.succeeded, JobEvent::Succeeded { job, attempts }),
            Some(JobError::Cancelled { .. }) if !self.started => {
                (&c.cancelled_queued, JobEvent::Cancelled { job, attempts })
            }
            Some(JobError::Cancelled { .. }) => {
                (&c.cancelled_running, JobEvent::Cancelled { job, attempts })
            }
            Some(JobError::CircuitOpen { .. }) => {
                Counters::bump(&c.circuit_refused);
                // Never started: counted apart, so the `running` gauge need not subtract it.
                let counter = if self.started { &c.failed } else { &c.refused_unstarted };
                (counter, JobEvent::Failed { job, attempts })
            }
            Some(JobError::DeadlineExceeded { .. }) => {
                Counters::bump(&c.deadline_exceeded);
                self.shared.emit(c, JobEvent::DeadlineExceeded { job, attempts });
                (&c.failed, JobEvent::Failed { job, attempts })
            }
            Some(_) => (&c.failed, JobEvent::Failed { job, attempts }),
        };
        Counters::bump(counter);
        self.shared.emit(c, event);
        self.done = true;
        // Count first, then settle: whoever sees the result also sees it in the metrics.
        self.job.settle(error);
    }
}

impl<S, K: Kind> Drop for Settle<'_, S, K> {
    fn drop(&mut self) {
        if !self.done {
            self.job.drop_attempt();
            let attempts = self.attempts;
            self.finish(Some(JobError::Cancelled { attempts }));
        }
    }
}
