//! A small async worker pool: a fixed crew of workers pulls jobs from a bounded queue; every
//! attempt has a timeout that really cancels it; failed attempts are retried with backoff; panics
//! are caught; every job's handle settles exactly once; the pool keeps metrics and shuts down
//! gracefully. One core runs natively, on `no_std` + `alloc` targets and in the browser.
//!
//! ```rust ignore-wasm32
//! use std::time::Duration;
//! use workcrew::{Backoff, Job, JobError, Pool};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! workcrew::native::block_on(async {
//!     let pool = Pool::builder()
//!         .workers(4)
//!         .queue(100)
//!         .timeout(Duration::from_millis(200)) // per attempt
//!         .retries(2) // up to 3 attempts
//!         .backoff(Backoff::exponential(Duration::from_millis(10)).with_jitter())
//!         .build()?;
//!
//!     // Fails twice, then succeeds on its third attempt.
//!     let flaky = pool
//!         .submit(Job::new(|attempt| async move {
//!             if attempt.number() < 3 { Err("not yet") } else { Ok(attempt.number()) }
//!         }))
//!         .await?;
//!
//!     // Never finishes: each attempt is dropped after 200 ms.
//!     let hang = pool
//!         .submit(Job::new(|_| futures_lite::future::pending::<Result<(), ()>>()).retries(0))
//!         .await?;
//!
//!     assert_eq!(flaky.await, Ok(3));
//!     assert_eq!(hang.await, Err(JobError::TimedOut { attempts: 1 }));
//!
//!     let report = pool.shutdown().await;
//!     let m = report.metrics;
//!     assert_eq!((m.submitted, m.succeeded, m.failed, m.retried, m.timed_out), (2, 1, 1, 2, 1));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # The path of a job
//!
//! Each step lives in its own module, in this order:
//!
//! 1. **submit** ([`Pool::submit`], [`Pool::try_submit`]): reserve a place in the bounded queue
//!    (waiting submitters are let in first come, first served), put the [`Job`] in its *cell*
//!    (`cell`: one allocation, the job, then its running attempts, then its result), get a
//!    [`JobHandle`] to the same cell; or refuse with [`SubmitError`], handing the job back;
//! 2. **sched**: the queue, and which queued job may start now (see
//!    [Scheduling](#scheduling));
//! 3. **worker**: a plain future that takes the next job that may start, one at a time, with
//!    its **timers** (rate tokens, breaker cool-downs);
//! 4. **retry**: the attempt loop, run by the worker: the breaker, attempt, [`Backoff`],
//!    [`RetryIf`], the retry budget, retry, all within the job's deadline (**policy**);
//! 5. **attempt**: one attempt (or a round of [`Hedge`]d attempts) raced against its timeout
//!    and a cancel request, panics caught;
//! 6. **outcome**: how the attempt ended; the cell is settled once, and the handle resolves
//!    with a value or a [`JobError`];
//! 7. **metrics**: [`Metrics`], counted on the way.
//!
//! Beside the path: **pool** (the two pool types, over one core, by **kind**), **shutdown**
//! ([`Pool::shutdown`], [`Pool::abort`]), **in_job** (a job that uses its own pool),
//! **builder**, **sleep** (the runtime's one service).
//!
//! # Scheduling
//!
//! Workers take the next queued job *that may start now*:
//!
//! * **priority** ([`Job::priority`]): higher first, first come first served within one
//!   priority; changeable while queued ([`JobHandle::set_priority`]);
//! * **per-key limits** ([`Job::key`], [`PoolBuilder::per_key`]): at most `n` jobs of one key
//!   (a host, a tenant) at once; a busy key's jobs wait in order, without a worker, while
//!   others pass them;
//! * **pause** ([`Pool::pause`], [`Pool::resume`]): running attempts finish, queued jobs wait,
//!   submissions still queue;
//! * **concurrency** ([`PoolBuilder::concurrency`], [`Pool::set_concurrency`]): how many run at
//!   once, changeable at run time within the crew ([`PoolBuilder::workers`]);
//! * **rate limit** ([`PoolBuilder::rate_limit`], [`Pool::set_rate_limit`]): at most `count`
//!   attempt starts (retries included) in any window of `interval`, timed by the sleeper;
//! * **cancel frees at once**: a queued job cancelled by its handle, [`Pool::clear`],
//!   [`Pool::abort`] or a shutdown's time limit gives its place back, drops its function, is
//!   counted and reported, and settles its handle at that moment;
//! * **room below a level**: [`Pool::until_queued_below`].
//!
//! ```rust ignore-wasm32
//! use std::time::Duration;
//! use workcrew::{Job, Pool};
//!
//! # workcrew::native::block_on(async {
//! let pool = Pool::builder()
//!     .workers(8)
//!     .concurrency(4) // may grow to 8 later
//!     .per_key(2) // at most 2 requests per host at once
//!     .rate_limit(50, Duration::from_secs(1)) // at most 50 attempt starts a second
//!     .build()?;
//! let urgent = pool
//!     .submit(Job::new(|_| async { Ok::<_, ()>("GET /health") }).key("api.example.com").priority(10))
//!     .await?;
//! assert_eq!(urgent.await, Ok("GET /health"));
//! pool.set_concurrency(8)?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Policies across attempts
//!
//! Beside each attempt's timeout and the retry schedule, four policies look across a job's
//! attempts; each is set for the pool, and the per-job ones can be overridden by a job:
//!
//! * **total deadline** ([`PoolBuilder::deadline`], [`Job::deadline`]): the time limit across
//!   all attempts and backoffs, from the first start; the running attempt is dropped, no
//!   backoff sleeps past it, and the job ends as [`JobError::DeadlineExceeded`];
//! * **retry budget** ([`RetryBudget`]): retries stay within a share of first attempts, plus a
//!   minimum, over a window counted in first attempts, so that a failing service is not
//!   flooded with retries;
//! * **circuit breaker** ([`CircuitBreaker`], for the pool or per [`JobKey`]): after repeated
//!   failed attempts, jobs fail at once as [`JobError::CircuitOpen`] for a cool-down, then one
//!   probe goes through;
//! * **hedged attempts** ([`Hedge`]): if an attempt has not ended after a delay, another starts
//!   beside it, and the first success wins (the others are dropped);
//! * and which failures retry: [`Job::retry_when`] sees a timeout or a panic too
//!   ([`Failure`]), so a `POST` that timed out need not be sent again.
//!
//! None needs a clock: the deadline, the hedge delay and the cool-down are sleeps of the
//! pool's sleeper, and the budget counts first attempts.
//!
//! ```rust ignore-wasm32
//! use std::time::Duration;
//! use workcrew::{CircuitBreaker, Hedge, Job, Pool, RetryBudget};
//!
//! # workcrew::native::block_on(async {
//! let pool = Pool::builder()
//!     .timeout(Duration::from_secs(2)) // each attempt
//!     .retries(3)
//!     .deadline(Duration::from_secs(5)) // all attempts and backoffs together
//!     .retry_budget(RetryBudget::new(20)) // 20 retries per 100 first attempts, plus 10
//!     .circuit_breaker(CircuitBreaker::consecutive(5, Duration::from_secs(10)).per_key())
//!     .hedge(Hedge::new(Duration::from_millis(50), 1)?) // a second try after 50 ms
//!     .build()?;
//! let get = pool
//!     .submit(Job::new(|_| async { Ok::<_, ()>("200 OK") }).key("api.example.com"))
//!     .await?;
//! assert_eq!(get.await, Ok("200 OK"));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Panics in user code
//!
//! With `std` (where panics unwind), no panic in user code aborts the process, kills a worker,
//! hangs the pool or leaves a job unsettled. A panicking job (its function or its future) fails
//! that attempt as [`JobError::Panicked`] and is retried while retries remain; a panicking
//! retry predicate or sleeper ends the job as `Panicked` at once; a panicking observer is
//! caught and counted in [`Metrics::observer_panics`]; a panicking destructor of what the pool
//! drops is caught and ignored. The repository's `docs/reliability.md` has the table and its
//! tests.
//!
//! # Jobs that use their own pool
//!
//! A job may hold a clone of its pool and submit to it, read its metrics, or shut it down.
//! From inside a job, [`Pool::shutdown`] waits for every *other* worker (not for the caller's
//! own, which is busy running the caller), and [`Pool::abort`] cancels the calling job too.
//!
//! # Runtimes
//!
//! The pool needs two things from a runtime: something to poll its workers, and a [`Sleeper`]
//! (any `Fn(Duration) -> impl Future<Output = ()>`). Without a sleeper there is no builder, so a
//! missing runtime is a compile error, not a runtime panic.
//!
//! * **Built in** (`std`, default): [`Pool::builder`] runs each worker on its own thread with
//!   [`native::NativeTimer`]. The [`native`] module explains why.
//! * **Any executor**: [`PoolBuilder::new`] with your sleeper, then
//!   [`PoolBuilder::build_workers`], and spawn the worker futures. On single-threaded
//!   executors, [`LocalPoolBuilder`] builds a [`LocalPool`], whose jobs need not be `Send`.
//!   The repository's `examples/runtimes` runs the pool on tokio, smol and embassy-executor,
//!   and `examples/firmware` on embassy-executor on Cortex-M3 and Cortex-M0 boards in QEMU.
//!
//! # Features
//!
//! * `std` (default): the built-in runtime ([`native`]), and **panic
//!   capture** where panics unwind. Without `std` (or with `panic = "abort"`, as on wasm32) a
//!   panic is not caught: it goes to the target's panic handler (which usually halts).
//! * `portable-atomic`: builds on targets without compare-and-swap, such as
//!   `thumbv6m-none-eabi`, through `portable-atomic` (choose its `critical-section` or
//!   single-core mode in your binary).
//!
//! Without `std` the crate is `#![no_std]` and needs only `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod attempt;
mod backoff;
mod builder;
mod catch;
mod cell;
mod error;
mod event;
mod handle;
mod in_job;
mod job;
mod kind;
mod metrics;
mod outcome;
mod policy;
// The browser has no threads and no `Instant`: there the built-in runtime is absent, so using it
// is a compile error rather than a runtime panic.
#[cfg(all(feature = "std", not(all(target_arch = "wasm32", target_os = "unknown"))))]
pub mod native;
mod pool;
mod retry;
mod sched;
mod shared;
mod shutdown;
mod sleep;
mod state;
mod submit;
mod sync;
mod timers;
mod worker;

pub use backoff::Backoff;
pub use builder::{LocalPoolBuilder, PoolBuilder, MAX_QUEUE, MAX_WORKERS};
pub use error::{BuildError, JobError, LimitError, PolicyError, SubmitError};
pub use event::JobEvent;
pub use handle::{AbortHandle, JobHandle, LocalAbortHandle, LocalJobHandle};
pub use job::{Attempt, Failure, Job, JobKey, RetryAll, RetryIf, RetryWhen};
pub use metrics::Metrics;
pub use policy::breaker::{CircuitBreaker, MAX_BREAKER_WINDOW};
pub use policy::budget::RetryBudget;
pub use policy::hedge::{Hedge, MAX_HEDGES};
pub use pool::{LocalPool, Pool};
pub use sched::RateLimit;
pub use shutdown::ShutdownReport;
pub use sleep::{BoxSleeper, LocalBoxSleeper, Sleeper};
pub use worker::{LocalWorker, Worker};

/// A [`Pool`] on any `Send` sleeper ([`BoxSleeper`]): a pool type to write in a struct field
/// whatever the runtime. On the built-in runtime, `Pool<native::NativeTimer>` (what
/// [`Pool::builder`] builds) names a pool without boxing.
pub type BoxPool = Pool<BoxSleeper>;

/// A [`LocalPool`] on any sleeper ([`LocalBoxSleeper`]).
pub type LocalBoxPool = LocalPool<LocalBoxSleeper>;
pub use submit::{LocalSubmit, Submit};

#[cfg(feature = "web")]
pub mod web;

#[cfg(all(test, loom))]
mod loom_tests;

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
