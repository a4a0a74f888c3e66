//! The timers a worker keeps beside its jobs: the rate tokens it took, each given back
//! `interval` after the start that took it, and the cool-downs of circuit breakers its
//! attempts opened. And the line of attempts waiting for a rate token, left however the wait
//! ends.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use core::time::Duration;

use crate::job::JobKey;
use crate::kind::Kind;
use crate::metrics::Counters;
use crate::policy::breaker::Verdict;
use crate::policy::Admission;
use crate::shared::Shared;
use crate::sync::{AtomicBool, Lock, Ordering};
use crate::Sleeper;

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
    pub(crate) fn new(shared: &'a Shared<S, K>) -> Self {
        Self {
            shared,
            timers: Lock::new(VecDeque::new()),
            any: AtomicBool::new(false),
            cooldowns: Lock::new(Vec::new()),
            cooling: AtomicBool::new(false),
        }
    }

    /// Tells the breaker how an attempt it admitted ended; if that opens it, its cool-down is
    /// timed here.
    #[inline]
    pub(crate) fn tell(&self, admission: &mut Admission<'_>, counters: &Counters, v: Verdict) {
        if let Some((key, generation)) = admission.end(self.shared, counters, v) {
            self.cool_down(key, generation);
        }
    }

    /// A circuit breaker opened by an attempt of a job with `key`: its cool-down, timed here.
    /// A sleeper that panics ends it at once.
    fn cool_down(&self, key: Option<&JobKey>, generation: u64) {
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
        if !ended.is_empty() {
            // A stopping worker waits for `is_empty` in the other half of its task.
            cx.waker().wake_by_ref();
        }
        for (key, generation) in ended {
            let counters = shared.counters.outside();
            shared.policies.cooled(shared, counters, key.as_ref(), generation);
        }
    }

    /// Whether every token this worker took has come back, and every cool-down it times has
    /// ended.
    pub(crate) fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Relaxed) && !self.cooling.load(Ordering::Relaxed)
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
    pub(crate) async fn run(&self) {
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
        let cooldowns = core::mem::take(&mut *self.cooldowns.lock());
        for c in cooldowns {
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

/// Leaves the line of attempts waiting for a rate token, however the wait ends.
pub(crate) struct LeaveTokenLine<'a, K: Kind>(
    pub(crate) &'a crate::sched::Scheduler<K>,
    pub(crate) usize,
);

impl<K: Kind> LeaveTokenLine<'_, K> {
    /// The wait ended with a token: `poll_token` left the line itself.
    pub(crate) fn left(self) {
        core::mem::forget(self);
    }
}

impl<K: Kind> Drop for LeaveTokenLine<'_, K> {
    fn drop(&mut self) {
        self.0.stop_waiting_for_token(self.1);
    }
}
