//! [`WebTimer`]: the browser's `setTimeout`, through `gloo-timers`, as a [`Sleeper`].

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use gloo_timers::future::TimeoutFuture;

use crate::Sleeper;

/// `setTimeout` takes at most 2³¹ − 1 ms; longer sleeps are taken in pieces.
const MAX_PIECE: Duration = Duration::from_millis(i32::MAX as u64);

/// The browser's [`Sleeper`]: `setTimeout` through `gloo-timers`.
///
/// Sleeps are rounded up to whole milliseconds, never down, so a timeout never fires early;
/// sleeps longer than `setTimeout`'s limit (about 24.8 days) are taken in pieces instead of
/// overflowing. Nothing is scheduled until the sleep is first polled.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebTimer;

impl Sleeper for WebTimer {
    type Sleep = WebSleep;

    fn sleep(&self, duration: Duration) -> WebSleep {
        WebSleep { left: duration, current: None }
    }
}

/// The future returned by [`WebTimer::sleep`].
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct WebSleep {
    left: Duration,
    current: Option<TimeoutFuture>,
}

impl Future for WebSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(timeout) = &mut self.current {
                if Pin::new(timeout).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.current = None;
            }
            if self.left.is_zero() {
                return Poll::Ready(());
            }
            let piece = self.left.min(MAX_PIECE);
            self.left -= piece;
            let millis = piece.as_nanos().div_ceil(1_000_000) as u32;
            self.current = Some(TimeoutFuture::new(millis));
        }
    }
}
