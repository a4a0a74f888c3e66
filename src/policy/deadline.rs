//! A job's total deadline: the time limit across all its attempts and backoffs, counted from
//! its first attempt's start (p-retry's `maxRetryTime` and backon's `total_delay` only check
//! between attempts, or count only the sleeps).
//!
//! There is no clock to compare with: the deadline is one sleep of the pool's sleeper, made
//! when the first attempt starts, and every await of the attempt loop after it (the attempts,
//! the backoffs, the wait for a rate token) races it. When it ends first, what was awaited is
//! dropped: a running attempt stops at its next await point, a backoff never sleeps past the
//! deadline, and no attempt starts after it. The job ends as
//! [`JobError::DeadlineExceeded`](crate::JobError::DeadlineExceeded), counted in
//! [`Metrics::deadline_exceeded`](crate::Metrics::deadline_exceeded) and reported as
//! [`JobEvent::DeadlineExceeded`](crate::JobEvent::DeadlineExceeded), then `Failed`.

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::Poll;
use core::time::Duration;

use crate::Sleeper;

/// A job's deadline timer, if it has a deadline.
pub(crate) struct Deadline<F>(Option<Pin<Box<F>>>);

/// Why an await was cut short.
pub(crate) enum Cut {
    /// The deadline passed.
    Passed,
    /// The sleeper panicked (making or polling the timer).
    Panicked(Option<String>),
}

impl<F: Future<Output = ()>> Deadline<F> {
    /// Starts the timer: `deadline` from now.
    pub(crate) fn start<S: Sleeper<Sleep = F>>(
        sleeper: &S,
        deadline: Option<Duration>,
    ) -> Result<Self, Option<String>> {
        match deadline {
            None => Ok(Self(None)),
            Some(d) => Ok(Self(Some(Box::pin(crate::catch::unwind(|| sleeper.sleep(d))?)))),
        }
    }

    /// Whether the job has a deadline.
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// `future`, unless the deadline passes first (then `future` is dropped).
    pub(crate) async fn within<T>(&mut self, future: impl Future<Output = T>) -> Result<T, Cut> {
        let Some(timer) = self.0.as_mut() else { return Ok(future.await) };
        let mut future = pin!(future);
        core::future::poll_fn(|cx| {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            match crate::catch::unwind(|| timer.as_mut().poll(cx)) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(())) => Poll::Ready(Err(Cut::Passed)),
                Err(message) => Poll::Ready(Err(Cut::Panicked(message))),
            }
        })
        .await
    }
}

impl<F> Drop for Deadline<F> {
    fn drop(&mut self) {
        let timer = self.0.take();
        crate::catch::quietly(move || drop(timer));
    }
}
