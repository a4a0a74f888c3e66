//! One attempt of a job: its future raced against its timeout and a cancel request, with panics
//! caught (with `std`).
//!
//! The attempt's future is polled first, its timer only once it is pending, so an attempt that
//! finishes at once never touches the timer. When the timer or a cancel request wins, the
//! attempt's future is dropped here: its work really stops, at its next await point.

use core::future::Future;
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use crate::handle::Slot;
use crate::{Attempt, Sleeper};

/// How one attempt ended.
pub(crate) enum Outcome<T, E> {
    Succeeded(T),
    Failed(E),
    TimedOut,
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    Panicked(Option<alloc::string::String>),
    Cancelled,
}

/// Runs attempt `attempt` of `run`, within `timeout` if there is one.
pub(crate) async fn run<F, Fut, T, E, S, X, Y>(
    run: &mut F,
    attempt: Attempt,
    timeout: Option<Duration>,
    sleeper: &S,
    slot: &Slot<X, Y>,
) -> Outcome<T, E>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: Sleeper,
{
    // The clock starts now; the timer future is only polled once the attempt waits.
    let mut timer = pin!(timeout.map(|t| sleeper.sleep(t)));
    let mut job = pin!(catch::start(run, attempt));
    let mut cancel = None;
    // A begun attempt is polled at least once, so "attempts made" counts only attempts whose
    // function really ran; a cancel request drops it at its next await point.
    core::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = job.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        if let Some(timer) = timer.as_mut().as_pin_mut() {
            if timer.poll(cx).is_ready() {
                return Poll::Ready(Outcome::TimedOut);
            }
        }
        slot.poll_cancel(&mut cancel, cx).map(|()| Outcome::Cancelled)
    })
    .await
}

#[cfg(feature = "std")]
mod catch {
    use super::*;
    use futures_lite::FutureExt;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Calls the job's function and runs its future, turning a panic in either into an outcome.
    pub(super) async fn start<F, Fut, T, E>(run: &mut F, attempt: Attempt) -> Outcome<T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let result = match catch_unwind(AssertUnwindSafe(|| run(attempt))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(payload) => Err(payload),
        };
        match result {
            Ok(Ok(value)) => Outcome::Succeeded(value),
            Ok(Err(error)) => Outcome::Failed(error),
            Err(payload) => Outcome::Panicked(message(&*payload)),
        }
    }

    fn message(payload: &(dyn std::any::Any + Send)) -> Option<std::string::String> {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some((*s).into())
        } else {
            payload.downcast_ref::<std::string::String>().cloned()
        }
    }
}

#[cfg(not(feature = "std"))]
mod catch {
    use super::*;

    /// Without `std` there is no unwinding to catch: a panic goes to the panic handler.
    pub(super) async fn start<F, Fut, T, E>(run: &mut F, attempt: Attempt) -> Outcome<T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match run(attempt).await {
            Ok(value) => Outcome::Succeeded(value),
            Err(error) => Outcome::Failed(error),
        }
    }
}
