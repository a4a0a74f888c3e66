//! A worker: a plain future that takes jobs from the queue and runs them one at a time.
//!
//! Workers are what an executor spawns. The built-in executor runs each on its own thread; any
//! other executor (tokio, smol, embassy, the browser) can spawn the futures returned by
//! [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use event_listener::EventListener;

use crate::cell::RunJob;
use crate::job::JobKey;
use crate::sched::Next;
use crate::shared::Shared;
use crate::sync::{Arc, AtomicBool, Lock, Ordering};
use crate::task::{run_job, Kind};
use crate::{JobEvent, Sleeper};

/// Worker `index`: runs jobs until the pool is closed and its queue is empty, or it is aborted.
pub(crate) fn work<S: Sleeper, K: Kind>(
    shared: Arc<Shared<S, K>>,
    index: usize,
) -> impl Future<Output = ()> {
    // Outside the async block, so a worker dropped before it ever ran is still counted out.
    let exit = ExitGuard(shared, index);
    async move {
        let shared = &*exit.0;
        let counters = shared.counters.worker(index);
        let tokens = Tokens::new(shared);
        // One listener serves the worker's whole life: abort happens at most once.
        let mut abort = None;
        let mut budget = Budget::new();
        let jobs = async {
            loop {
                let next =
                    budget.watch(core::future::poll_fn(|cx| shared.sched.poll_next(index, cx)));
                let (task, token) = match next.await {
                    Next::Job { job, token } => (job, token),
                    Next::Trash(task) => {
                        crate::catch::quietly(move || drop(task)); // cancelled while queued
                        continue;
                    }
                    Next::Blocked(job) => {
                        shared.emit(counters, JobEvent::WaitingOnKey { job });
                        budget.spend().await; // it ran the observer: it counts as a job
                        continue;
                    }
                    Next::Stop => break,
                };
                let job = K::job(&task);
                shared.crew.set_job(index, Some(job.id()));
                let overrides = job.start();
                if shared.is_aborted() {
                    // Never polled: it settles as cancelled, before any attempt.
                    drop(run_job(shared, counters, index, &tokens, job, overrides, token));
                } else {
                    // The job first: a job that is ready at once never touches the abort
                    // listener. If the abort wins, dropping the job's loop settles it as
                    // cancelled. (Built in place: the job's future is not moved again.)
                    let run = run_job(shared, counters, index, &tokens, job, overrides, token);
                    budget.watch(futures_lite::future::or(run, aborted(shared, &mut abort))).await;
                }
                shared.crew.set_job(index, None);
                // The last reference may be ours (a detached handle): the job's value or error
                // is dropped here, and a panic in its destructor is caught (before the budget's
                // await: a worker dropped there must not hold it).
                crate::catch::quietly(move || drop(task));
                budget.spend().await;
            }
            // A stopping worker's rate tokens count until their interval ends, as long as
            // another attempt could still start (a retry of a job another worker runs).
            let quiet = core::future::poll_fn(|cx| {
                if tokens.is_empty() {
                    return Poll::Ready(());
                }
                shared.sched.poll_quiet(index, cx)
            });
            futures_lite::future::or(quiet, aborted(shared, &mut abort)).await;
        };
        // The rate tokens this worker took come back while it waits or works.
        futures_lite::future::or(jobs, tokens.run()).await;
    }
}

/// The rate tokens a worker took (one per attempt start, with a rate limit): each goes back
/// to the scheduler when its sleeper says its interval has passed. They all have the
/// interval of the limit they were taken under, so they mostly end in the order they were
/// taken: the worker polls the first, and each new one once, so that its timer starts.
pub(crate) struct Tokens<'a, S: Sleeper, K: Kind> {
    shared: &'a Shared<S, K>,
    /// Only this worker's task touches it, and never while it polls a timer (taken out, then
    /// put back): the lock is there for `Sync`, so that the worker's future is `Send`.
    timers: Lock<VecDeque<Timer<S::Sleep>>>,
    /// Whether `timers` holds any: without a rate limit it never does, and the worker's poll
    /// of its tokens is this one load.
    any: AtomicBool,
    /// The cool-downs of circuit breakers this worker's attempts opened: the job's key and
    /// the opening's generation, and the sleep. Only this worker's task touches them too.
    cooldowns: Lock<Vec<Cooldown<S::Sleep>>>,
    /// Whether `cooldowns` holds any.
    cooling: AtomicBool,
}

struct Cooldown<F> {
    key: Option<JobKey>,
    generation: u64,
    sleep: Option<Pin<Box<F>>>,
}

struct Timer<F> {
    sleep: Option<Pin<Box<F>>>,
    polled: bool,
}

impl<'a, S: Sleeper, K: Kind> Tokens<'a, S, K> {
    fn new(shared: &'a Shared<S, K>) -> Self {
        Self {
            shared,
            timers: Lock::new(VecDeque::new()),
            any: AtomicBool::new(false),
            cooldowns: Lock::new(Vec::new()),
            cooling: AtomicBool::new(false),
        }
    }

    /// A circuit breaker opened by an attempt of a job with `key`: its cool-down, timed here.
    /// A sleeper that panics ends it at once.
    pub(crate) fn cool_down(&self, key: Option<&JobKey>, generation: u64) {
        let shared = self.shared;
        let Some(breakers) = shared.policies.breakers.as_ref() else { return };
        let cooldown = breakers.cooldown();
        let key = key.cloned();
        match crate::catch::unwind(|| Box::pin(shared.sleeper.sleep(cooldown))) {
            Ok(sleep) => {
                self.cooldowns.lock().push(Cooldown { key, generation, sleep: Some(sleep) });
                self.cooling.store(true, Ordering::Relaxed);
            }
            Err(_) => {
                let counters = shared.counters.outside();
                shared.policies.cooled(shared, counters, key.as_ref(), generation);
            }
        }
    }

    /// Polls the cool-downs; those that ended make their breaker half-open.
    fn poll_cooldowns(&self, cx: &mut core::task::Context<'_>) {
        let mut cooldowns = core::mem::take(&mut *self.cooldowns.lock());
        let mut ended = Vec::new();
        cooldowns.retain_mut(|c| {
            let Some(sleep) = c.sleep.as_mut() else { return false };
            match crate::catch::unwind(|| sleep.as_mut().poll(cx)) {
                Ok(Poll::Pending) => true,
                Ok(Poll::Ready(())) | Err(_) => {
                    let sleep = c.sleep.take();
                    crate::catch::quietly(move || drop(sleep));
                    ended.push((c.key.take(), c.generation));
                    false
                }
            }
        });
        {
            let mut held = self.cooldowns.lock();
            cooldowns.append(&mut held); // none: nothing else runs in this task meanwhile
            self.cooling.store(!cooldowns.is_empty(), Ordering::Relaxed);
            *held = cooldowns;
        }
        let shared = self.shared;
        for (key, generation) in ended {
            let counters = shared.counters.outside();
            shared.policies.cooled(shared, counters, key.as_ref(), generation);
        }
    }

    /// Whether every token this worker took has come back.
    fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Relaxed)
    }

    /// A token taken now, to give back after `interval`. A sleeper that panics gives it back at
    /// once.
    pub(crate) fn hold(&self, interval: Duration) {
        match crate::catch::unwind(|| Box::pin(self.shared.sleeper.sleep(interval))) {
            Ok(sleep) => {
                self.timers.lock().push_back(Timer { sleep: Some(sleep), polled: false });
                self.any.store(true, Ordering::Relaxed);
            }
            Err(_) => self.shared.sched.return_token(),
        }
    }

    /// Gives tokens back as their timers end; never completes.
    async fn run(&self) {
        core::future::poll_fn(|cx| {
            if self.cooling.load(Ordering::Relaxed) {
                self.poll_cooldowns(cx);
            }
            if !self.any.load(Ordering::Relaxed) {
                return Poll::Pending; // woken by `hold`'s caller: it polls this in the same task
            }
            let mut timers = core::mem::take(&mut *self.timers.lock());
            let mut returned = 0;
            let mut poll = |timer: &mut Timer<S::Sleep>| -> bool {
                timer.polled = true;
                let Some(sleep) = timer.sleep.as_mut() else { return true };
                match crate::catch::unwind(|| sleep.as_mut().poll(cx)) {
                    Ok(Poll::Pending) => false,
                    Ok(Poll::Ready(())) | Err(_) => {
                        let sleep = timer.sleep.take();
                        crate::catch::quietly(move || drop(sleep));
                        returned += 1;
                        true
                    }
                }
            };
            // The first, until one is still running; then each new one once, to start it.
            while let Some(front) = timers.front_mut() {
                if !poll(front) {
                    break;
                }
                timers.pop_front();
            }
            for timer in timers.iter_mut().skip(1).filter(|t| !t.polled) {
                poll(timer);
            }
            {
                let mut held = self.timers.lock();
                timers.append(&mut held); // none: nothing else runs in this task meanwhile
                self.any.store(!timers.is_empty(), Ordering::Relaxed);
                *held = timers;
            }
            for _ in 0..returned {
                self.shared.sched.return_token();
            }
            if returned > 0 {
                // The worker's other half (a stopping worker waits for `is_empty`) was polled
                // before this one in the same wake-up: let it look again.
                cx.waker().wake_by_ref();
            }
            Poll::<()>::Pending
        })
        .await;
    }
}

impl<S: Sleeper, K: Kind> Drop for Tokens<'_, S, K> {
    /// A worker dropped (or stopping once nothing more can start, or aborted) gives back the
    /// tokens it still holds.
    fn drop(&mut self) {
        // A breaker whose cool-down this worker timed is half-open at once: nobody else
        // would end its cool-down.
        let shared = self.shared;
        for c in core::mem::take(&mut *self.cooldowns.lock()) {
            let counters = shared.counters.outside();
            shared.policies.cooled(shared, counters, c.key.as_ref(), c.generation);
            crate::catch::quietly(move || drop(c));
        }
        let timers = core::mem::take(&mut *self.timers.lock());
        for timer in timers {
            if timer.sleep.is_some() {
                self.shared.sched.return_token();
            }
            crate::catch::quietly(move || drop(timer));
        }
    }
}

/// A worker's cooperative budget, as tokio's: after [`Budget::JOBS`] jobs in a row that never
/// waited (each was queued and ready at once, as a job that resubmits itself is), the worker
/// yields once, so the executor's other tasks get a turn (on a single-threaded executor they
/// would otherwise wait until the queue runs dry). A worker that waited, for a job or inside
/// one, has given its executor a turn already and starts a fresh budget.
struct Budget {
    left: u32,
    waited: bool,
}

impl Budget {
    /// Jobs in a row before a worker yields: tokio's budget of 128 polls, counted in jobs.
    const JOBS: u32 = 128;

    fn new() -> Self {
        Self { left: Self::JOBS, waited: false }
    }

    /// `future`, noting whether it ever waited (returned `Pending`).
    async fn watch<F: Future>(&mut self, future: F) -> F::Output {
        let mut future = core::pin::pin!(future);
        let waited = &mut self.waited;
        core::future::poll_fn(|cx| {
            let poll = future.as_mut().poll(cx);
            *waited |= poll.is_pending();
            poll
        })
        .await
    }

    /// One job done: yields once the budget is spent without a wait.
    async fn spend(&mut self) {
        if core::mem::take(&mut self.waited) {
            self.left = Self::JOBS;
            return;
        }
        self.left -= 1;
        if self.left == 0 {
            self.left = Self::JOBS;
            futures_lite::future::yield_now().await;
        }
    }
}

/// Completes once the pool is aborted.
fn aborted<'a, S: Sleeper, K: Kind>(
    shared: &'a Shared<S, K>,
    listener: &'a mut Option<EventListener>,
) -> impl Future<Output = ()> + 'a {
    core::future::poll_fn(move |cx| {
        crate::sync::poll_until(|| shared.is_aborted(), &shared.abort, listener, cx)
    })
}

/// Counts the worker out when it ends, even by unwinding or by being dropped unpolled.
///
/// The last worker out closes the queue and cancels whatever is still in it: with no worker
/// left nothing would run those jobs. Submissions are refused from then on
/// ([`SubmitError::Closed`](crate::SubmitError::Closed)), and `Metrics::workers` shows 0.
struct ExitGuard<S, K: Kind>(Arc<Shared<S, K>>, usize);

impl<S, K: Kind> Drop for ExitGuard<S, K> {
    fn drop(&mut self) {
        let shared = &*self.0;
        shared.crew.set_job(self.1, None); // dropped mid-job, it runs that job no more
        shared.sched.worker_gone(self.1);
        if shared.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.discard_queued(true);
        }
        shared.workers_changed.notify(usize::MAX);
    }
}
