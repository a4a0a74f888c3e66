//! The synchronisation primitives the core is built on, in one place, so that each can be
//! swapped: from `core`/`alloc`, from `portable-atomic` (targets such as `thumbv6m-none-eabi`
//! that lack compare-and-swap), or from `loom` when the crate is built with `--cfg loom` to
//! model-check its atomic state machines (see `src/loom_tests.rs`).

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use alloc::sync::Arc;
#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic_util::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A 64-bit atomic, where the target has them: a job's state word and id (see `state`).
#[cfg(all(target_has_atomic = "64", not(feature = "portable-atomic"), not(loom)))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(all(target_has_atomic = "64", feature = "portable-atomic", not(loom)))]
pub(crate) use portable_atomic::AtomicU64;

/// A lock held only to put or take a value, never across an await or a call into user code
/// (which includes dropping a user's value: a `Drop` impl is user code). It spins: it must only
/// guard what the state machine already gives to one party at a time, so it is never contended
/// (see [`cell`](crate::cell)), and a party preempted while holding it keeps no other waiting.
#[cfg(not(loom))]
pub(crate) struct Lock<T>(spin::Mutex<T>);

/// What [`Lock::lock`] returns.
#[cfg(not(loom))]
pub(crate) type LockGuard<'a, T> = spin::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

#[cfg(not(loom))]
impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(spin::Mutex::new(value))
    }

    /// Spins; with `std`, after a few spins it yields the thread, so that a holder preempted
    /// by the OS (more threads than cores) gets to run and release it.
    pub(crate) fn lock(&self) -> spin::MutexGuard<'_, T> {
        #[cfg(feature = "std")]
        {
            let mut spins = 0u32;
            loop {
                if let Some(guard) = self.0.try_lock() {
                    return guard;
                }
                spins += 1;
                if spins > 64 {
                    std::thread::yield_now();
                } else {
                    core::hint::spin_loop();
                }
            }
        }
        #[cfg(not(feature = "std"))]
        self.0.lock()
    }
}

#[cfg(loom)]
pub(crate) struct Lock<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

/// A slot for one waker, registered and woken without a lock: a register racing a wake never
/// waits for it (the wake then wakes the newly registered waker), and a waker's own code (its
/// `clone`, `wake` and `drop`) may call back into whatever registered it (a register of the
/// same slot from inside one is dropped, and the outer waker kept). `atomic-waker`'s,
/// with `portable-atomic`'s atomics under the `portable-atomic` feature; loom's under loom, so
/// the models explore its races too.
#[cfg(not(loom))]
pub(crate) use atomic_waker::AtomicWaker;

#[cfg(loom)]
#[derive(Default)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(loom)]
impl AtomicWaker {
    pub(crate) fn register(&self, waker: &core::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }
}

/// A monotonic event counter: 64-bit where the target has 64-bit atomics, the native word
/// otherwise (it then wraps after 2³² events; snapshots are always reported as `u64`).
#[cfg(all(target_has_atomic = "64", not(feature = "portable-atomic"), not(loom)))]
pub(crate) type Counter = core::sync::atomic::AtomicU64;
#[cfg(all(target_has_atomic = "64", feature = "portable-atomic", not(loom)))]
pub(crate) type Counter = portable_atomic::AtomicU64;
#[cfg(all(target_has_atomic = "64", loom))]
pub(crate) type Counter = loom::sync::atomic::AtomicU64;
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type Counter = AtomicUsize;

/// A counter's value as `u64` (it is `usize` on targets without 64-bit atomics).
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(crate) fn widen(value: impl Into<CounterValue>) -> u64 {
    value.into() as u64
}

/// The integer a [`Counter`] holds.
#[cfg(target_has_atomic = "64")]
pub(crate) type CounterValue = u64;
/// The integer a [`Counter`] holds.
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type CounterValue = usize;

/// Aligns a value to its own cache line, so counters written by different threads do not
/// invalidate each other's caches (128 bytes: two lines, as adjacent-line prefetchers pair them).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Polls until `ready()` holds, waiting on `event` in between. It checks, listens, then checks
/// again before sleeping, so a notification between the check and the listen is never missed.
/// `listener` keeps the registration across polls.
pub(crate) fn poll_until(
    mut ready: impl FnMut() -> bool,
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
