//! The attempt loop of a started job, run by its worker: ask the breaker, attempt (or a round
//! of hedged attempts), decide, back off, retry, all within the job's deadline; then settle
//! the job exactly once, counted and reported.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::task::Poll;
use core::time::Duration;

use crate::attempt::{decide, run_attempt, run_hedged};
use crate::cell::{Overrides, RunJob};
use crate::kind::Kind;
use crate::metrics::Counters;
use crate::outcome::Ended;
use crate::policy::breaker::Verdict;
use crate::policy::budget::Withdrawal;
use crate::policy::deadline::{Cut, Deadline};
use crate::policy::{Admission, Refused};
use crate::shared::Shared;
use crate::timers::{LeaveTokenLine, Tokens};
use crate::{JobError, JobEvent, Sleeper};

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
    let guard = Settle {
        shared,
        counters,
        job,
        attempts: 0,
        started: false,
        done: false,
        token,
        withdrawal: None,
    };
    async move {
        let mut g = guard;
        let policies = &shared.policies;
        let key = key.as_ref();
        // An open breaker refuses the job before its first attempt: the service is not
        // called, and the rate token goes back.
        let Ok(mut admission) = policies.admit(key) else { return g.refuse() };
        Counters::bump(&counters.started);
        g.started = true;
        if let Some(budget) = &policies.budget {
            budget.deposit();
        }
        let mut deadline = match Deadline::start(&shared.sleeper, deadline) {
            Ok(deadline) => deadline,
            Err(message) => {
                admission.end(shared, counters, Verdict::Cancelled);
                Counters::bump(&counters.panicked);
                return g.finish(Some(JobError::Panicked { message, attempts: 0 }));
            }
        };
        let mut round = 0u32;
        loop {
            if job.is_cancel_requested() {
                admission.end(shared, counters, Verdict::Cancelled);
                let attempts = g.attempts;
                return g.finish(Some(JobError::Cancelled { attempts }));
            }
            // The attempt starts: its rate token counts from now, and a retry is spent.
            if let Some(interval) = g.token.take() {
                tokens.hold(interval);
            }
            g.withdrawal = None;
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
                    // Without a deadline the attempt is awaited where it is built; with one it
                    // is boxed, so the loop's future (copied once per job) stays small.
                    let ended = if deadline.is_set() {
                        let attempt = run_attempt::<S, K>(
                            shared, counters, worker, job, first, round, timeout,
                        );
                        deadline.within(Box::pin(attempt)).await
                    } else {
                        Ok(run_attempt::<S, K>(
                            shared, counters, worker, job, first, round, timeout,
                        )
                        .await)
                    };
                    // A deadline that cut the attempt short is a failure, as a timeout is.
                    let verdict = ended.as_ref().map_or(Verdict::Failure, Ended::verdict);
                    tokens.tell(&mut admission, counters, verdict);
                    ended.map(|ended| decide(shared, counters, job, first, ended))
                }
                Some(hedge) => {
                    // Slot `k`'s admission is `admitted[k]` (none without a breaker: no
                    // allocation); the round tells each its verdict.
                    let mut admitted = Vec::new();
                    if admission.is_held() {
                        admitted.push(admission);
                    }
                    let attempts = &mut g.attempts;
                    let round = run_hedged(
                        shared,
                        counters,
                        worker,
                        tokens,
                        job,
                        attempts,
                        round,
                        timeout,
                        hedge,
                        key,
                        &mut admitted,
                    );
                    // Boxed: the round's state is large, and the plain path's future (copied
                    // once per job) should not carry room for it.
                    let ran = deadline.within(Box::pin(round)).await;
                    // Cut by the deadline: the attempts still running failed, as timeouts.
                    for a in &mut admitted {
                        tokens.tell(a, counters, Verdict::Failure);
                    }
                    admission = Admission::NONE;
                    ran
                }
            };
            let n = g.attempts;
            let (error, retry) = match ran {
                Ok(None) => return g.finish(None),
                Ok(Some(outcome)) => outcome,
                Err(cut) => {
                    job.drop_attempt(); // whatever the round still ran
                    return g.cut(cut);
                }
            };
            if !retry || round > retries {
                return g.finish(Some(error));
            }
            if let Some(budget) = &policies.budget {
                // Spent once the retry starts; given back if it never does.
                g.withdrawal = budget.withdraw();
                if g.withdrawal.is_none() {
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
            // A retry is a request too: with a rate limit it takes a token (before new jobs);
            // not one the breaker would refuse anyway.
            if policies.refusing(key) {
                return g.refuse();
            }
            match deadline.within(wait_for_token(shared, worker, job)).await {
                Ok(token) => g.token = token,
                Err(cut) => return g.cut(cut),
            }
            // The breaker last, just before the retry starts: a retry it refuses is not sent,
            // and gives its token back.
            match policies.admit(key) {
                Ok(next) => admission = next,
                Err(Refused) => return g.refuse(),
            }
        }
    }
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
    /// The next attempt's rate token, until it starts: a job that ends before (refused by
    /// the breaker, cancelled, or dropped by an abort) gives it back at once.
    token: Option<Duration>,
    /// The next retry's share of the retry budget, until it starts: given back if it never
    /// does.
    withdrawal: Option<Withdrawal>,
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
        if let (Some(w), Some(budget)) = (self.withdrawal.take(), &self.shared.policies.budget) {
            budget.refund(w);
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
