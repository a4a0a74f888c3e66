//! One attempt of a job: its future raced against its timeout and a cancel request, with panics
//! caught (with `std`).
//!
//! The attempt's future is polled first, its timer only once it is pending, so an attempt that
//! finishes at once never touches the timer. When the timer or a cancel request wins, the
//! attempt's future is dropped in its cell: its work really stops, at its next await point.

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::cell::{RunJob, Unreturned};
use crate::job::JobKey;
use crate::kind::Kind;
use crate::metrics::Counters;
use crate::outcome::Ended;
use crate::policy::breaker::Verdict;
use crate::policy::Admission;
use crate::shared::Shared;
use crate::timers::{LeaveTokenLine, Tokens};
use crate::{Attempt, Hedge, JobError, JobEvent, Sleeper};

/// Runs attempt `n` of `job` (the first of round `round`), within `timeout` if there is one.
pub(crate) async fn run_attempt<S: Sleeper, K: Kind>(
    shared: &Shared<S, K>,
    counters: &Counters,
    worker: usize,
    job: &K::Job,
    n: u32,
    round: u32,
    timeout: Option<Duration>,
) -> Ended {
    // The job's function runs "inside the job" too: a shutdown it starts before it first
    // awaits is recognised as its own.
    let attempt = Attempt::new(job.id(), n, round, false);
    if let Err(message) = shared.crew.polling(worker, job.id(), || job.begin(attempt, 0)) {
        return Ended::Panicked(message); // the job's function itself panicked
    }
    // The clock starts now; the timer future is only polled once the attempt waits.
    let timer = match timeout.map(|t| crate::catch::unwind(|| shared.sleeper.sleep(t))) {
        None => None,
        Some(Ok(timer)) => Some(timer),
        Some(Err(message)) => {
            job.drop_attempt();
            return Ended::PoolCodePanicked(message);
        }
    };
    let mut timer = pin!(timer);
    let emit = |event: &crate::JobEvent<'_>| shared.emit(counters, *event);
    // A begun attempt is polled at least once, so "attempts made" counts only attempts whose
    // function really ran; a cancel request drops it at its next await point.
    let ended = core::future::poll_fn(|cx| {
        if let Poll::Ready(polled) =
            shared.crew.polling(worker, job.id(), || job.poll_attempt(cx, n, 0, &emit))
        {
            return Poll::Ready(polled);
        }
        if let Some(t) = timer.as_mut().as_pin_mut() {
            match crate::catch::unwind(|| t.poll(cx)) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(())) => return Poll::Ready(Ended::TimedOut),
                Err(message) => return Poll::Ready(Ended::PoolCodePanicked(message)),
            }
        }
        job.poll_cancel(cx).map(|()| Ended::Cancelled)
    })
    .await;
    if matches!(ended, Ended::TimedOut | Ended::Cancelled | Ended::PoolCodePanicked(_)) {
        job.drop_attempt();
    }
    crate::catch::quietly(|| timer.set(None));
    ended
}

/// One attempt of a hedged round: its number and its timeout's timer.
struct Running<F> {
    n: u32,
    timer: Option<Pin<Box<F>>>,
}

/// Runs round `round` of a hedged job ([`Hedge`]): its first attempt, then after each
/// `hedge.delay` another beside it while none has ended well, up to `hedge.max` extra (see
/// [`crate::policy::hedge`]). `attempts` counts every attempt begun. `admitted` holds the
/// first attempt's admission by the breaker (empty without a breaker), and the round adds
/// each hedge's (slot `k`'s is `admitted[k]`): the round tells
/// each attempt's verdict as it ends, and the others' (cancelled) when it ends; if the round
/// is cut short, those still untold are the caller's to tell. Returns as [`decide`] does:
/// `None` if an attempt succeeded (the others are dropped with the running stage), else the
/// error to end with and whether to retry.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_hedged<'p, S: Sleeper, K: Kind>(
    shared: &'p Shared<S, K>,
    counters: &Counters,
    worker: usize,
    tokens: &Tokens<'_, S, K>,
    job: &K::Job,
    attempts: &mut u32,
    round: u32,
    timeout: Option<Duration>,
    hedge: Hedge,
    key: Option<&'p JobKey>,
    admitted: &mut Vec<Admission<'p>>,
) -> Option<(JobError<()>, bool)> {
    let id = job.id();
    let policies = &shared.policies;
    let emit = |event: &JobEvent<'_>| shared.emit(counters, *event);
    // Slot `k` of the cell is `running[k]`; `None` once that attempt ended.
    let mut running: Vec<Option<Running<S::Sleep>>> = Vec::new();
    // Begins the attempt of slot `running.len()`; `Err` if it ended at once.
    let begin =
        |running: &mut Vec<Option<Running<S::Sleep>>>, attempts: &mut u32| -> Result<(), Ended> {
            let slot = running.len();
            *attempts = attempts.saturating_add(1);
            let n = *attempts;
            emit(&JobEvent::AttemptStarted { job: id, attempt: n });
            if slot > 0 {
                Counters::bump(&counters.hedges_started);
                emit(&JobEvent::HedgeStarted { job: id, attempt: n });
            }
            let attempt = Attempt::new(id, n, round, slot > 0);
            running.push(None);
            if let Err(message) = shared.crew.polling(worker, id, || job.begin(attempt, slot)) {
                return Err(Ended::Panicked(message));
            }
            let timer =
                match timeout.map(|t| crate::catch::unwind(|| Box::pin(shared.sleeper.sleep(t)))) {
                    None => None,
                    Some(Ok(timer)) => Some(timer),
                    Some(Err(message)) => {
                        job.drop_slot(slot);
                        return Err(Ended::PoolCodePanicked(message));
                    }
                };
            running[slot] = Some(Running { n, timer });
            Ok(())
        };
    // The last failure of the round, to end with if no attempt succeeds.
    let mut last: Option<(JobError<()>, bool)> = None;
    // An attempt ended: counted, reported, told to the breaker. `Some` ends the round now.
    let ended =
        |n: u32, admission: Option<&mut Admission<'_>>, how: Ended, last: &mut Option<_>| {
            if let Some(a) = admission {
                tokens.tell(a, counters, how.verdict());
            }
            match decide(shared, counters, job, n, how) {
                None => Some(None),
                Some((error, true)) => {
                    *last = Some((error, true));
                    None
                }
                Some(declined) => Some(Some(declined)),
            }
        };
    if let Err(how) = begin(&mut running, attempts) {
        let n = *attempts;
        let out = ended(n, admitted.get_mut(0), how, &mut last).unwrap_or(last);
        return out.map(|(error, retry)| (counted(error, *attempts), retry));
    }
    // A sleeper that panics: no hedges this round.
    let mut delay = crate::catch::unwind(|| Box::pin(shared.sleeper.sleep(hedge.delay()))).ok();
    let mut waiting_token: Option<LeaveTokenLine<'_, K>> = None;
    // Polls the attempt of `slot`, then its timer; `Some` ends the round now.
    let poll_slot = |running: &mut Vec<Option<Running<S::Sleep>>>,
                     admitted: &mut Vec<Admission<'p>>,
                     last: &mut Option<(JobError<()>, bool)>,
                     slot: usize,
                     cx: &mut Context<'_>|
     -> Option<Option<(JobError<()>, bool)>> {
        let r = running[slot].as_mut()?;
        let n = r.n;
        let polled = shared.crew.polling(worker, id, || job.poll_attempt(cx, n, slot, &emit));
        let how = match polled {
            Poll::Ready(ended) => ended,
            Poll::Pending => {
                match r.timer.as_mut().map(|t| crate::catch::unwind(|| t.as_mut().poll(cx))) {
                    None | Some(Ok(Poll::Pending)) => return None,
                    Some(Ok(Poll::Ready(()))) => {
                        job.drop_slot(slot);
                        Ended::TimedOut
                    }
                    Some(Err(message)) => {
                        job.drop_slot(slot);
                        Ended::PoolCodePanicked(message)
                    }
                }
            }
        };
        let won = matches!(how, Ended::Succeeded) && slot > 0;
        let timer = running[slot].take().and_then(|r| r.timer);
        crate::catch::quietly(move || drop(timer));
        let end = ended(n, admitted.get_mut(slot), how, last)?;
        if won {
            Counters::bump(&counters.hedges_won);
        }
        Some(end)
    };
    // A hedge just begun, polled before the others: every attempt begun runs, even if an
    // earlier one then ends the round.
    let mut fresh: Option<usize> = None;
    let out = core::future::poll_fn(|cx| loop {
        let first = fresh.take();
        if let Some(slot) = first {
            if let Some(end) = poll_slot(&mut running, admitted, &mut last, slot, cx) {
                return Poll::Ready(end);
            }
        }
        // Each running attempt, then its timer, in slot order.
        for slot in (0..running.len()).filter(|s| Some(*s) != first) {
            if let Some(end) = poll_slot(&mut running, admitted, &mut last, slot, cx) {
                return Poll::Ready(end);
            }
        }
        if running.iter().all(Option::is_none) {
            return Poll::Ready(last.take());
        }
        // The next hedge, once its delay is over, the breaker is closed and a token is free.
        let hedges = running.len() - 1;
        if let Some(timer) = delay.as_mut().filter(|_| hedges < hedge.max() as usize) {
            let due = match waiting_token {
                Some(_) => true,
                None => {
                    !matches!(crate::catch::unwind(|| timer.as_mut().poll(cx)), Ok(Poll::Pending))
                }
            };
            if due {
                match shared.sched.poll_token(worker, cx) {
                    Poll::Pending => {
                        waiting_token.get_or_insert_with(|| LeaveTokenLine(&shared.sched, worker));
                    }
                    Poll::Ready(token) => {
                        if let Some(leave) = waiting_token.take() {
                            leave.left();
                        }
                        // The breaker just before the hedge starts: hedges are never its
                        // probe, they start only while it is closed.
                        let Ok(admission) = policies.admit_hedge(key) else {
                            if token.is_some() {
                                shared.sched.return_token();
                            }
                            delay = None; // the breaker is not closed: no more hedges this round
                            continue;
                        };
                        if let Some(interval) = token {
                            tokens.hold(interval);
                        }
                        if admission.is_held() {
                            admitted.push(admission); // with a breaker, every slot's
                        }
                        let next =
                            crate::catch::unwind(|| Box::pin(shared.sleeper.sleep(hedge.delay())));
                        delay = next.ok();
                        let slot = running.len();
                        match begin(&mut running, attempts) {
                            Ok(()) => fresh = Some(slot),
                            Err(how) => {
                                let n = *attempts;
                                if let Some(end) = ended(n, admitted.get_mut(slot), how, &mut last)
                                {
                                    return Poll::Ready(end);
                                }
                            }
                        }
                        continue; // poll the new attempt at once
                    }
                }
            }
        }
        // A cancel request ends the round: the loop sees it.
        if job.poll_cancel(cx).is_ready() {
            return Poll::Ready(Some((JobError::Cancelled { attempts: *attempts }, false)));
        }
        return Poll::Pending;
    })
    .await;
    // The round's attempts still running are dropped (one succeeded, or the job ends now):
    // for the breaker they count for nothing.
    for admission in admitted.iter_mut() {
        admission.end(shared, counters, Verdict::Cancelled);
    }
    if out.as_ref().is_some_and(|(_, retry)| !retry) {
        job.drop_attempt(); // the job ends now: the round's others stop
    }
    let timers = (running, delay);
    crate::catch::quietly(move || drop(timers));
    // The job's error counts every attempt of the job, hedges included, not the number of
    // the attempt that ended last.
    out.map(|(error, retry)| (counted(error, *attempts), retry))
}

/// `error`, with `attempts` attempts made.
fn counted(error: JobError<()>, attempts: u32) -> JobError<()> {
    match error {
        JobError::Failed { error, .. } => JobError::Failed { error, attempts },
        JobError::TimedOut { .. } => JobError::TimedOut { attempts },
        JobError::Panicked { message, .. } => JobError::Panicked { message, attempts },
        JobError::Cancelled { .. } => JobError::Cancelled { attempts },
        JobError::DeadlineExceeded { .. } => JobError::DeadlineExceeded { attempts },
        JobError::CircuitOpen { .. } => JobError::CircuitOpen { attempts },
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
