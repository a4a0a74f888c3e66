//! Atomics and `Arc`, from `core`/`alloc` or, with the `portable-atomic` feature, from
//! `portable-atomic` (for targets such as `thumbv6m-none-eabi` that lack compare-and-swap).

#[cfg(not(feature = "portable-atomic"))]
pub(crate) use alloc::sync::Arc;
#[cfg(not(feature = "portable-atomic"))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

#[cfg(feature = "portable-atomic")]
pub(crate) use portable_atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(feature = "portable-atomic")]
pub(crate) use portable_atomic_util::Arc;

/// A monotonic event counter: 64-bit where the target has 64-bit atomics, the native word
/// otherwise (it then wraps after 2³² events; snapshots are always reported as `u64`).
#[cfg(all(target_has_atomic = "64", not(feature = "portable-atomic")))]
pub(crate) type Counter = core::sync::atomic::AtomicU64;
#[cfg(all(target_has_atomic = "64", feature = "portable-atomic"))]
pub(crate) type Counter = portable_atomic::AtomicU64;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type Counter = AtomicUsize;

/// A counter's value as `u64` (it is `usize` on targets without 64-bit atomics).
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(crate) fn widen(value: impl Into<CounterValue>) -> u64 {
    value.into() as u64
}

#[cfg(target_has_atomic = "64")]
type CounterValue = u64;
#[cfg(not(target_has_atomic = "64"))]
type CounterValue = usize;

/// Polls until `ready()` holds, waiting on `event` in between. It checks, listens, then checks
/// again before sleeping, so a notification between the check and the listen is never missed.
/// `listener` keeps the registration across polls.
pub(crate) fn poll_until(
    ready: impl Fn() -> bool,
    event: &event_listener::Event,
    listener: &mut Option<event_listener::EventListener>,
    cx: &mut core::task::Context<'_>,
) -> core::task::Poll<()> {
    use core::future::Future;
    loop {
        if ready() {
            return core::task::Poll::Ready(());
        }
        match listener {
            None => *listener = Some(event.listen()),
            Some(l) => {
                if core::pin::Pin::new(l).poll(cx).is_pending() {
                    return core::task::Poll::Pending;
                }
                *listener = None;
            }
        }
    }
}
