//! The one thing workcrew needs from a runtime: a way to wait.
//!
//! A [`Sleeper`] turns a [`Duration`] into a future that completes after it. It drives per-attempt
//! timeouts, backoff delays and shutdown deadlines. Any `Fn(Duration) -> impl Future<Output = ()>`
//! is a sleeper, so every runtime already has one:
//!
//! | runtime | sleeper |
//! |---|---|
//! | built-in (`std`) | [`NativeTimer`](crate::NativeTimer) |
//! | tokio | `tokio::time::sleep` |
//! | async-io / smol | `\|d\| async move { async_io::Timer::after(d).await; }` |
//! | embassy | `\|d\| embassy_time::Timer::after(d.try_into().unwrap())` |
//! | browser | `workcrew::web::WebTimer` (`setTimeout`) |
//!
//! A pool cannot be built without one: the builder takes it as an argument, so forgetting it is a
//! compile-time error, not a runtime panic.

use core::future::Future;
use core::time::Duration;

/// Something that can wait for a [`Duration`].
///
/// Implemented for every `Fn(Duration) -> F` where `F: Future<Output = ()>`.
///
/// # Examples
///
/// ```rust ignore-wasm32
/// use core::time::Duration;
/// use workcrew::Sleeper;
///
/// // A sleeper that never waits, handy when retries should be immediate.
/// let instant = |_d: Duration| async {};
/// futures_lite::future::block_on(instant.sleep(Duration::from_secs(3600)));
/// ```
pub trait Sleeper {
    /// The future returned by [`sleep`](Sleeper::sleep).
    type Sleep: Future<Output = ()>;

    /// Returns a future that completes once `duration` has passed.
    ///
    /// The future should do as little as possible until it is first polled: workcrew creates a
    /// timeout for every attempt, and most attempts finish before their timer is ever polled.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<F, Fut> Sleeper for F
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    type Sleep = Fut;

    fn sleep(&self, duration: Duration) -> Fut {
        self(duration)
    }
}
