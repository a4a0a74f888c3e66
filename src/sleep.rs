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

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
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

/// Any `Send` sleeper behind one type, so that a pool on it can be named without its sleeper's
/// type: [`BoxPool`](crate::BoxPool), a `Pool<BoxSleeper>`, fits in a struct field whatever
/// the runtime. Each sleep is boxed (one allocation per timeout, backoff or rate token); a
/// pool on the sleeper's own type has none.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::{BoxPool, BoxSleeper, PoolBuilder, Worker};
///
/// struct App {
///     pool: BoxPool, // no runtime in the type
/// }
/// // With tokio: `BoxSleeper::new(tokio::time::sleep)`.
/// let (pool, workers): (BoxPool, Vec<Worker>) =
///     PoolBuilder::new(BoxSleeper::new(|_: Duration| async {})).workers(2).build_workers()?;
/// let app = App { pool };
/// # let _ = (app.pool, workers);
/// # Ok::<_, workcrew::BuildError>(())
/// ```
pub struct BoxSleeper(Box<dyn Fn(Duration) -> SendSleep + Send + Sync>);

/// A boxed sleep of a [`BoxSleeper`].
type SendSleep = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A boxed sleep of a [`LocalBoxSleeper`].
type LocalSleep = Pin<Box<dyn Future<Output = ()>>>;

impl BoxSleeper {
    /// `sleeper`, boxed.
    pub fn new<S>(sleeper: S) -> Self
    where
        S: Sleeper + Send + Sync + 'static,
        S::Sleep: Send + 'static,
    {
        Self(Box::new(move |d| Box::pin(sleeper.sleep(d))))
    }
}

impl Sleeper for BoxSleeper {
    type Sleep = SendSleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (self.0)(duration)
    }
}

impl core::fmt::Debug for BoxSleeper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BoxSleeper")
    }
}

/// Any sleeper, `Send` or not, behind one type: for a [`LocalBoxPool`](crate::LocalBoxPool),
/// as [`BoxSleeper`] is for a [`BoxPool`](crate::BoxPool).
pub struct LocalBoxSleeper(Box<dyn Fn(Duration) -> LocalSleep>);

impl LocalBoxSleeper {
    /// `sleeper`, boxed.
    pub fn new<S>(sleeper: S) -> Self
    where
        S: Sleeper + 'static,
        S::Sleep: 'static,
    {
        Self(Box::new(move |d| Box::pin(sleeper.sleep(d))))
    }
}

impl Sleeper for LocalBoxSleeper {
    type Sleep = LocalSleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (self.0)(duration)
    }
}

impl core::fmt::Debug for LocalBoxSleeper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LocalBoxSleeper")
    }
}
