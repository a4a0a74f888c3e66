//! The state a pool's handles and its workers share, and the defaults every job inherits.

use alloc::boxed::Box;
use core::time::Duration;

use event_listener::Event;

use crate::backoff::splitmix64;
use crate::cell::RunJob;
use crate::in_job::Crew;
use crate::kind::Kind;
use crate::metrics::{Counters, PoolCounters};
use crate::policy::Policies;
use crate::sched::{RateLimit, Scheduler};
use crate::state::Cancelled;
use crate::sync::{widen, Arc, AtomicBool, AtomicUsize, Counter, Ordering};
use crate::{Backoff, Hedge, JobEvent, Metrics};

/// Retry and timeout settings a job inherits unless it sets its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Defaults {
    pub(crate) retries: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) backoff: Backoff,
    /// Seeds jitter's random numbers; `None`: a seed of the pool's own.
    pub(crate) jitter_seed: Option<u64>,
    /// The total time limit of a job.
    pub(crate) deadline: Option<Duration>,
    /// Hedged attempts.
    pub(crate) hedge: Option<Hedge>,
}

/// What a pool's workers share with it: the [`Hub`] (which job handles share too), the
/// sleeper and the defaults.
pub(crate) struct Shared<S, K: Kind> {
    pub(crate) hub: Arc<Hub<K>>,
    pub(crate) sleeper: S,
    pub(crate) defaults: Defaults,
    /// The retry budget and the circuit breakers, if set.
    pub(crate) policies: Policies,
}

impl<S, K: Kind> core::ops::Deref for Shared<S, K> {
    type Target = Hub<K>;
    fn deref(&self) -> &Hub<K> {
        &self.hub
    }
}

/// How a pool runs its jobs: the limits its scheduler starts with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) concurrency: usize,
    pub(crate) per_key: Option<usize>,
    pub(crate) rate: Option<RateLimit>,
}

/// The part of a pool that does not depend on its sleeper: the scheduler, the counters and
/// the observer. A job's handle holds it too, so that cancelling a queued job (or changing its
/// priority) reaches the scheduler at once.
pub(crate) struct Hub<K: Kind> {
    pub(crate) sched: Scheduler<K>,
    pub(crate) counters: PoolCounters,
    pub(crate) workers: usize,
    aborted: AtomicBool,
    /// Notified once, when the pool is aborted.
    pub(crate) abort: Event,
    /// Workers not yet stopped.
    pub(crate) live_workers: AtomicUsize,
    /// Of those, workers whose queue ran dry, waiting only for the timers they keep (rate
    /// tokens, breaker cool-downs) while other jobs still run: they run no job again.
    pub(crate) lingering: AtomicUsize,
    /// Which job each worker runs, and which of those wait in a shutdown of this pool.
    pub(crate) crew: Crew,
    /// Notified when a worker stops, or a job starts waiting in `shutdown`.
    pub(crate) workers_changed: Event,
    /// Live `Pool` clones; the last one to go closes the queue.
    pub(crate) handles: AtomicUsize,
    seed: Counter,
    jitter_seed: Option<u64>,
    observer: Option<Box<K::Observer>>,
}

impl<S, K: Kind> Shared<S, K> {
    pub(crate) fn new(
        sleeper: S,
        workers: usize,
        queue: usize,
        limits: Limits,
        defaults: Defaults,
        policies: Policies,
        observer: Option<Box<K::Observer>>,
    ) -> Self {
        let Limits { concurrency, per_key, rate } = limits;
        let hub = Hub {
            sched: Scheduler::new(queue, workers, concurrency, per_key, rate),
            counters: PoolCounters::new(workers),
            workers,
            aborted: AtomicBool::new(false),
            abort: Event::new(),
            live_workers: AtomicUsize::new(workers),
            lingering: AtomicUsize::new(0),
            crew: Crew::new(workers),
            workers_changed: Event::new(),
            handles: AtomicUsize::new(1),
            seed: Counter::new(0),
            jitter_seed: defaults.jitter_seed,
            observer,
        };
        Self { hub: Arc::new(hub), sleeper, defaults, policies }
    }
}

impl<K: Kind> crate::event::Observe for Hub<K> {
    fn observe(&self, counters: &Counters, event: JobEvent<'_>) {
        self.emit(counters, event);
    }
}

impl<S, K: Kind> crate::event::Observe for Shared<S, K> {
    fn observe(&self, counters: &Counters, event: JobEvent<'_>) {
        self.hub.emit(counters, event);
    }
}

impl<K: Kind> Hub<K> {
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
        let sched = &self.sched;
        self.counters.snapshot(sched.queued(), sched.waiting_on_key(), workers)
    }

    /// A fresh random `u64` for jitter: the `n`-th number of the pool's sequence, seeded by
    /// [`PoolBuilder::jitter_seed`](crate::PoolBuilder::jitter_seed) or by the pool's address.
    pub(crate) fn random(&self) -> u64 {
        let n = widen(self.seed.fetch_add(1, Ordering::Relaxed));
        let seed = self.jitter_seed.unwrap_or(self as *const Self as usize as u64);
        splitmix64(n ^ seed)
    }

    /// Whether a shutdown may return: every worker has stopped, except those running a job
    /// that is itself waiting in a shutdown of this pool (see [`Crew`]), and then those that
    /// only linger for their timers (they wait for that very job to end). Once the pool is
    /// aborted every worker stops soon (it drops its job), so then only "all stopped" will do.
    pub(crate) fn workers_done(&self) -> bool {
        let live = self.live_workers.load(Ordering::Acquire);
        if live == 0 {
            return true;
        }
        if self.is_aborted() {
            return false;
        }
        let excused = self.crew.excused();
        excused > 0 && live <= excused + self.lingering.load(Ordering::Acquire)
    }

    /// A cancel request for `job` from its handle: a queued job is cancelled, counted and
    /// reported now, its place given back; a running one is asked to stop. Returns whether
    /// the request took effect (see [`JobHandle::cancel`](crate::JobHandle::cancel)).
    pub(crate) fn cancel(&self, job: &K::Job) -> bool {
        let outside = self.counters.outside();
        match self.sched.cancel(job, &outside.cancelled_queued) {
            Cancelled::No => false,
            Cancelled::Queued { .. } => {
                self.report_cancelled(job);
                true
            }
            Cancelled::Running { .. } => true,
        }
    }

    /// Cancels every queued job (not the running ones) at once; returns how many.
    pub(crate) fn clear(&self) -> usize {
        let cancelled = self.sched.clear(&self.counters.outside().cancelled_queued);
        self.report_all(cancelled)
    }

    /// Takes every job still queued and ends each as cancelled now: the pool was aborted, or
    /// (`abandon`) no worker is left to run them.
    pub(crate) fn discard_queued(&self, abandon: bool) {
        let counter = &self.counters.outside().cancelled_queued;
        let cancelled =
            if abandon { self.sched.abandon(counter) } else { self.sched.clear(counter) };
        self.report_all(cancelled);
    }

    fn report_all(&self, cancelled: alloc::vec::Vec<(K::Ref, Cancelled)>) -> usize {
        let n = cancelled.len();
        for (task, how) in cancelled {
            let job = K::job(&task);
            job.wake_cancelled(how);
            self.report_cancelled(job);
            crate::catch::quietly(move || drop(task));
        }
        n
    }

    /// A queued job was cancelled (and counted, under the scheduler's lock): reports it and
    /// drops its function, no lock held.
    fn report_cancelled(&self, job: &K::Job) {
        job.clear(); // first: an observer that sees the event sees the function gone
        self.emit(self.counters.outside(), JobEvent::Cancelled { job: job.id(), attempts: 0 });
    }

    /// A job that could not be queued because no worker is left: it was accepted, so it is
    /// cancelled, counted and reported here.
    pub(crate) fn cancel_unqueued(&self, task: K::Ref) {
        let job = K::job(&task);
        Counters::bump(&self.counters.outside().cancelled_queued);
        job.cancel();
        self.report_cancelled(job);
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
    use crate::kind::SendKind;

    fn shared(jitter_seed: Option<u64>) -> Shared<(), SendKind> {
        let backoff = Backoff::none();
        let defaults = Defaults {
            retries: 0,
            timeout: None,
            backoff,
            jitter_seed,
            deadline: None,
            hedge: None,
        };
        let limits = Limits { concurrency: 1, per_key: None, rate: None };
        let policies = crate::policy::Policies { budget: None, breakers: None };
        Shared::new((), 1, 1, limits, defaults, policies, None)
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
