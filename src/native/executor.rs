//! `block_on`: drives one future on the current thread, parking between wake-ups and firing the
//! thread's timers.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use super::timer;

struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }
}

/// Runs `future` to completion on the current thread.
///
/// [`NativeTimer`](super::NativeTimer) sleeps polled inside are served by this thread's own
/// timer, without a helper thread. The built-in pool runs each worker with it; use it to wait
/// on a pool from synchronous code.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use workcrew::native::NativeTimer;
/// use workcrew::Sleeper;
///
/// let start = Instant::now();
/// workcrew::native::block_on(NativeTimer.sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let signal = Arc::new(Signal { woken: AtomicBool::new(false), thread: thread::current() });
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let _timers = timer::LocalTimers::enter();
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        loop {
            let next = timer::fire_local();
            if signal.woken.swap(false, Ordering::AcqRel) {
                break;
            }
            match next {
                Some(deadline) => {
                    thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                }
                None => thread::park(),
            }
        }
    }
}
