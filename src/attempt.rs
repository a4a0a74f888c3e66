//! One attempt of a job: its future raced against its timeout and a cancel request, with panics
//! caught (with `std`).
//!
//! The attempt's future is polled first, its timer only once it is pending, so an attempt that
//! finishes at once never touches the timer. When the timer or a cancel request wins, the
//! attempt's future is dropped in its cell: its work really stops, at its next await point.

use alloc::string::String;
use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use crate::cell::{Polled, RunJob};
use crate::metrics::Counters;
use crate::shared::Shared;
use crate::task::Kind;
use crate::{Attempt, Sleeper};

/// How one attempt ended.
pub(crate) enum Ended {
    Succeeded,
    Failed {
        retry: bool,
    },
    TimedOut,
    Panicked(Option<String>),
    /// User code the pool calls around the attempt (the retry predicate, the sleeper)
    /// panicked: the job ends.
    PoolCodePanicked(Option<String>),
    Cancelled,
}

/// Runs attempt `n` of `job`, within `timeout` if there is one.
pub(crate) async fn run_attempt<S: Sleeper, K: Kind>(
    shared: &Shared<S, K>,
    counters: &Counters,
    worker: usize,
    job: &K::Job,
    n: u32,
    timeout: Option<Duration>,
) -> Ended {
    // The job's function runs "inside the job" too: a shutdown it starts before it first
    // awaits is recognised as its own.
    if let Err(message) =
        shared.crew.polling(worker, job.id(), || job.begin(Attempt::new(job.id(), n)))
    {
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
            shared.crew.polling(worker, job.id(), || job.poll_attempt(cx, n, &emit))
        {
            return Poll::Ready(match polled {
                Polled::Succeeded => Ended::Succeeded,
                Polled::Failed { retry } => Ended::Failed { retry },
                Polled::Panicked(message) => Ended::Panicked(message),
                Polled::PredicatePanicked(message) => Ended::PoolCodePanicked(message),
            });
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
