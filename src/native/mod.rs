//! The built-in runtime (`std` feature): one OS thread per worker, each driving its worker
//! future with [`block_on`], and [`NativeTimer`], a timer that lives inside those threads.
//!
//! Why this design:
//!
//! * **A thread per worker.** A worker runs one job at a time, so it needs no scheduler: its
//!   thread polls the worker future and parks when it waits. There is no task queue, no work
//!   stealing and no cross-thread handoff beyond the job queue itself, so the cost per job is
//!   the queue's plus one poll. It adds no dependency. A worker with nothing to do parks at
//!   once (spinning first measured within noise: `docs/performance.md`).
//! * **A timer per thread.** Each [`block_on`] thread keeps its own deadline map and parks with
//!   a timeout until the earliest one, so arming a timer is a map insert without locks or
//!   system calls, and an attempt that finishes before it waits never arms one at all.
//!   [`NativeTimer`] futures polled on other threads fall back to one shared timer thread,
//!   started on first use.

mod executor;
mod timer;

pub use executor::block_on;
pub use timer::{NativeTimer, Sleep};

use std::string::ToString;

use crate::{BuildError, Pool, PoolBuilder, Sleeper};

impl Pool<NativeTimer> {
    /// A builder for a pool on the built-in runtime: worker threads and [`NativeTimer`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workcrew::Pool::builder().workers(2).build()?;
    /// assert_eq!(pool.workers(), 2);
    /// # Ok::<_, workcrew::BuildError>(())
    /// ```
    pub fn builder() -> PoolBuilder<NativeTimer> {
        PoolBuilder::new(NativeTimer)
    }
}

impl<S> PoolBuilder<S>
where
    S: Sleeper + Send + Sync + 'static,
    S::Sleep: Send,
{
    /// Builds the pool and starts its workers, one thread each (named `workcrew-N`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use workcrew::{Backoff, Pool};
    ///
    /// let pool = Pool::builder()
    ///     .workers(8)
    ///     .queue(256)
    ///     .timeout(Duration::from_secs(5))
    ///     .retries(3)
    ///     .backoff(Backoff::exponential(Duration::from_millis(10)).with_jitter())
    ///     .build()?;
    /// assert_eq!(pool.capacity(), 256);
    /// # Ok::<_, workcrew::BuildError>(())
    /// ```
    pub fn build(self) -> Result<Pool<S>, BuildError> {
        let (pool, workers) = self.build_unboxed()?;
        for (i, worker) in workers.into_iter().enumerate() {
            let spawned = std::thread::Builder::new()
                .name(std::format!("workcrew-{i}"))
                .spawn(move || block_on(worker));
            if let Err(e) = spawned {
                // The workers already started stop at once: the queue is closed and empty.
                pool.close();
                return Err(BuildError::Spawn(e.to_string()));
            }
        }
        Ok(pool)
    }
}
