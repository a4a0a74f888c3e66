//! The state a pool's handles and its workers share, and the defaults every job inherits.

use alloc::boxed::Box;
use core::time::Duration;

use event_listener::Event;

use crate::backoff::splitmix64;
use crate::cell::RunJob;
use crate::in_job::Crew;
use crate::metrics::{Counters, PoolCounters};
use crate::queue::Queue;
use crate::sync::{widen, AtomicBool, AtomicUsize, Counter, Ordering};
use crate::task::Kind;
use crate::{Backoff, JobEvent, Metrics};

/// Retry and timeout settings a job inherits unless it sets its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Defaults {
    pub(crate) retries: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) backoff: Backoff,
    /// Seeds jitter's random numbers; `None`: a seed of the pool's own.
    pub(crate) jitter_seed: Option<u64>,
}

/// State shared by the pool's handles and its workers. Jobs do not point here: a job's cell
/// holds only the job.
pub(crate) struct Shared<S, K: Kind> {
    pub(crate) queue: Queue<K::Ref>,
    pub(crate) sleeper: S,
    pub(crate) defaults: Defaults,
    pub(crate) counters: PoolCounters,
    pub(crate) workers: usize,
    aborted: AtomicBool,
    /// Notified once, when the pool is aborted.
    pub(crate) abort: Event,
    /// Workers not yet stopped.
    pub(crate) live_workers: AtomicUsize,
    /// Which job each worker runs, and which of those wait in a shutdown of this pool.
    pub(crate) crew: Crew,
    /// Notified when a worker stops, or a job starts waiting in `shutdown`.
    pub(crate) workers_changed: Event,
    /// Live `Pool` clones; the last one to go closes the queue.
    pub(crate) handles: AtomicUsize,
    seed: Counter,
    observer: Option<Box<K::Observer>>,
}

impl<S, K: Kind> Shared<S, K> {
    pub(crate) fn new(
        sleeper: S,
        workers: usize,
        queue: usize,
        defaults: Defaults,
        observer: Option<Box<K::Observer>>,
    ) -> Self {
        Self {
            queue: Queue::new(queue),
            sleeper,
            defaults,
            counters: PoolCounters::new(workers),
            workers,
            aborted: AtomicBool::new(false),
            abort: Event::new(),
            live_workers: AtomicUsize::new(workers),
            crew: Crew::new(workers),
            workers_changed: Event::new(),
            handles: AtomicUsize::new(1),
            seed: Counter::new(0),
            observer,
        }
    }

    /// Tells the observer, if there is one. A panic in the observer is caught and counted in
    /// `counters` (`observer_panics`); the pool goes on, and the observer is called for later
    /// events as before.
    pub(crate) fn emit(&self, counters: &Counters, event: JobEvent<'_>) {
        if let Some(observer) = &self.observer {
            if crate::catch::quietly(|| observer(&event)) {
                Counters::bump(&counters.observer_panics);
            }
        }
    }

    pub(crate) fn has_observer(&self) -> bool {
        self.observer.is_some()
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    pub(crate) fn set_aborted(&self) {
        self.aborted.store(true, Ordering::Release);
        self.abort.notify(usize::MAX);
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let workers = self.live_workers.load(Ordering::Acquire);
        self.counters.snapshot(self.queue.len(), workers)
    }

    /// A fresh random `u64` for jitter: the `n`-th number of the pool's sequence, seeded by
    /// [`PoolBuilder::jitter_seed`](crate::PoolBuilder::jitter_seed) or by the pool's address.
    pub(crate) fn random(&self) -> u64 {
        let n = widen(self.seed.fetch_add(1, Ordering::Relaxed));
        let seed = self.defaults.jitter_seed.unwrap_or(self as *const Self as usize as u64);
        splitmix64(n ^ seed)
    }

    /// Whether a shutdown may return: every worker has stopped, except those running a job
    /// that is itself waiting in a shutdown of this pool (see [`Crew`]). Once the pool is
    /// aborted every worker stops soon (it drops its job), so then only "all stopped" will do.
    pub(crate) fn workers_done(&self) -> bool {
        let live = self.live_workers.load(Ordering::Acquire);
        live == 0 || (!self.is_aborted() && live <= self.crew.excused())
    }

    /// Takes every job still queued and ends each as cancelled (an abort, or no worker left).
    pub(crate) fn discard_queued(&self) {
        while let Some(task) = self.queue.try_pop() {
            self.discard(self.counters.outside(), task);
        }
    }

    /// Ends a job taken from the queue that will not run: cancelled by its handle while queued,
    /// or now, by the pool (abort, no worker left). It is counted and reported here, once, by
    /// whoever took it from the queue, into `counters`.
    pub(crate) fn discard(&self, counters: &Counters, task: K::Ref) {
        let job = K::job(&task);
        job.cancel(); // settles it if it was still queued; a no-op if its handle cancelled it
        Counters::bump(&counters.cancelled_queued);
        self.emit(counters, JobEvent::Cancelled { job: job.id(), attempts: 0 });
        job.clear();
        crate::catch::quietly(move || drop(task));
    }
}

impl<S, K: Kind> core::fmt::Debug for Shared<S, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared").field("workers", &self.workers).finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std", not(loom)))]
mod tests {
    use super::*;
    use crate::task::SendKind;

    fn shared(jitter_seed: Option<u64>) -> Shared<(), SendKind> {
        let backoff = Backoff::none();
        let defaults = Defaults { retries: 0, timeout: None, backoff, jitter_seed };
        Shared::new((), 1, 1, defaults, None)
    }

    #[test]
    fn a_jitter_seed_repeats_the_sequence() {
        let draw = |s: &Shared<(), SendKind>| -> std::vec::Vec<u64> {
            (0..4).map(|_| s.random()).collect()
        };
        let (a, b, c) = (shared(Some(7)), shared(Some(7)), shared(Some(8)));
        let first = draw(&a);
        assert_eq!(first, draw(&b), "same seed, same numbers");
        assert_ne!(first, draw(&c), "another seed, other numbers");
        assert_ne!(draw(&shared(None)), draw(&shared(None)), "unseeded pools differ");
    }
}
