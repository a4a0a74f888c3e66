//! [`WebTimer`]: JavaScript's `setTimeout` as a [`Sleeper`], through gloo-timers'
//! `callback::Timeout` (in the browser and in Node alike).

use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::Sleeper;

/// `setTimeout` takes at most 2³¹ − 1 ms; longer sleeps are taken in pieces.
const MAX_PIECE_MS: u64 = i32::MAX as u64;

/// The browser's [`Sleeper`]: `setTimeout`.
///
/// Sleeps are rounded up to whole milliseconds, never down, so a timeout never fires early;
/// sleeps longer than `setTimeout`'s limit (about 24.8 days) are taken in pieces instead of
/// overflowing. Nothing is scheduled until the sleep is first polled; a sleep dropped before it
/// ends clears its timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebTimer;

impl Sleeper for WebTimer {
    type Sleep = WebSleep;

    fn sleep(&self, duration: Duration) -> WebSleep {
        // Whole milliseconds, rounded up (without 128-bit division: `as_millis` brings it in).
        let ms = duration
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(duration.subsec_nanos().div_ceil(1_000_000)));
        WebSleep { left_ms: ms, current: None }
    }
}

/// The future returned by [`WebTimer::sleep`].
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct WebSleep {
    /// Milliseconds still to sleep after the current piece.
    left_ms: u64,
    current: Option<Timeout>,
}

impl Future for WebSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(timeout) = &self.current {
                if !timeout.poll(cx) {
                    return Poll::Pending;
                }
                self.current = None;
            }
            if self.left_ms == 0 {
                return Poll::Ready(());
            }
            let piece = self.left_ms.min(MAX_PIECE_MS);
            self.left_ms -= piece;
            self.current = Some(Timeout::new(piece as u32));
        }
    }
}

/// One `setTimeout`: fired, or the waker to wake when it fires.
#[derive(Debug)]
struct Timeout {
    state: Rc<RefCell<Fired>>,
    /// gloo-timers' timer: dropping it (with the sleep) clears it.
    _timer: gloo_timers::callback::Timeout,
}

#[derive(Debug, Default)]
struct Fired {
    fired: bool,
    waker: Option<Waker>,
}

impl Timeout {
    fn new(ms: u32) -> Self {
        let state = Rc::new(RefCell::new(Fired::default()));
        let on_fire = Rc::clone(&state);
        let timer = gloo_timers::callback::Timeout::new(ms, move || {
            let waker = {
                let mut s = on_fire.borrow_mut();
                s.fired = true;
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        Self { state, _timer: timer }
    }

    /// Whether it has fired; if not, wakes `cx` when it does.
    fn poll(&self, cx: &mut Context<'_>) -> bool {
        let mut s = self.state.borrow_mut();
        if !s.fired && !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        s.fired
    }
}
