//! [`NativeTimer`]: deadlines kept per thread by [`block_on`](super::block_on), or by one shared
//! timer thread for sleeps polled anywhere else.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::Sleeper;

/// The built-in runtime's [`Sleeper`].
///
/// Creating a sleep reads the clock and nothing more; the first poll arms it. Inside
/// [`block_on`](super::block_on) (so in every built-in worker) arming is a map insert on the
/// current thread; elsewhere a shared timer thread serves it. A duration too large to add to
/// the clock sleeps forever.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use workcrew::native::NativeTimer;
/// use workcrew::Sleeper;
///
/// // Works from any thread and any executor, not only the built-in one.
/// let start = Instant::now();
/// futures_lite::future::block_on(NativeTimer.sleep(Duration::from_millis(5)));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeTimer;

impl Sleeper for NativeTimer {
    type Sleep = Sleep;

    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep { deadline: Instant::now().checked_add(duration), registration: None }
    }
}

/// The future returned by [`NativeTimer::sleep`].
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    /// `None`: the duration overflowed the clock, so the sleep never ends.
    deadline: Option<Instant>,
    registration: Option<Registration>,
}

#[derive(Clone, Copy, Debug)]
struct Registration {
    timers: u64,
    key: Key,
}

type Key = (Instant, u64);

/// The id of the shared timer thread's map; thread maps get ids from 1.
const SHARED: u64 = 0;
static NEXT_ID: AtomicU64 = AtomicU64::new(SHARED + 1);

struct Timers {
    id: u64,
    next_key: u64,
    entries: BTreeMap<Key, Waker>,
}

impl Timers {
    fn new(id: u64) -> Self {
        Self { id, next_key: 0, entries: BTreeMap::new() }
    }

    /// Registers `waker` for `deadline`, or refreshes an existing registration's waker.
    fn arm(
        &mut self,
        current: Option<Registration>,
        deadline: Instant,
        waker: &Waker,
    ) -> Registration {
        if let Some(r) = current.filter(|r| r.timers == self.id) {
            if let Some(w) = self.entries.get_mut(&r.key) {
                w.clone_from(waker);
                return r;
            }
        }
        self.next_key += 1;
        let key = (deadline, self.next_key);
        self.entries.insert(key, waker.clone());
        Registration { timers: self.id, key }
    }

    /// Removes the expired entries into `woken`; returns the next deadline.
    fn expire(&mut self, now: Instant, woken: &mut Vec<Waker>) -> Option<Instant> {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            woken.push(entry.remove());
        }
        None
    }
}

std::thread_local! {
    static LOCAL: RefCell<Option<Timers>> = const { RefCell::new(None) };
}

/// Gives the current thread its own timers for as long as it lives (a `block_on` call).
pub(crate) struct LocalTimers {
    owner: bool,
}

impl LocalTimers {
    pub(crate) fn enter() -> Self {
        let owner = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let fresh = local.is_none();
            if fresh {
                *local = Some(Timers::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)));
            }
            fresh
        });
        Self { owner }
    }
}

impl Drop for LocalTimers {
    fn drop(&mut self) {
        if self.owner {
            // Sleeps still armed here re-arm wherever they are polled next.
            let left = LOCAL.with(|local| local.borrow_mut().take());
            for (_, waker) in left.into_iter().flat_map(|t| t.entries) {
                waker.wake();
            }
        }
    }
}

/// Wakes this thread's expired sleeps; returns its next deadline.
pub(crate) fn fire_local() -> Option<Instant> {
    let mut woken = Vec::new();
    let next = LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let timers = local.as_mut().filter(|t| !t.entries.is_empty())?;
        timers.expire(Instant::now(), &mut woken)
    });
    woken.into_iter().for_each(Waker::wake);
    next
}

struct SharedTimers {
    timers: Mutex<Timers>,
    changed: Condvar,
}

fn shared() -> &'static SharedTimers {
    static TIMERS: OnceLock<SharedTimers> = OnceLock::new();
    static START: Once = Once::new();
    let timers = TIMERS.get_or_init(|| SharedTimers {
        timers: Mutex::new(Timers::new(SHARED)),
        changed: Condvar::new(),
    });
    START.call_once(|| {
        std::thread::Builder::new()
            .name("workcrew-timer".into())
            .spawn(|| timer_thread(shared()))
            .expect("workcrew: the operating system refused to start the timer thread");
    });
    timers
}

fn lock(timers: &SharedTimers) -> MutexGuard<'_, Timers> {
    timers.timers.lock().unwrap_or_else(PoisonError::into_inner)
}

fn timer_thread(shared: &SharedTimers) {
    let mut woken = Vec::new();
    let mut timers = lock(shared);
    loop {
        let now = Instant::now();
        let next = timers.expire(now, &mut woken);
        if !woken.is_empty() {
            drop(timers);
            woken.drain(..).for_each(Waker::wake);
            timers = lock(shared);
            continue;
        }
        timers = match next {
            Some(deadline) => {
                let wait = shared.changed.wait_timeout(timers, deadline - now);
                wait.unwrap_or_else(PoisonError::into_inner).0
            }
            None => shared.changed.wait(timers).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

impl Sleep {
    fn disarm(&mut self) {
        let Some(r) = self.registration.take() else {
            return;
        };
        if r.timers == SHARED {
            lock(shared()).entries.remove(&r.key);
        } else {
            // A registration on another thread's map is left to expire there harmlessly.
            LOCAL.with(|local| {
                if let Some(t) = local.borrow_mut().as_mut().filter(|t| t.id == r.timers) {
                    t.entries.remove(&r.key);
                }
            });
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            self.disarm();
            return Poll::Ready(());
        }
        let current = self.registration;
        let local = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            local.as_mut().map(|t| t.arm(current, deadline, cx.waker()))
        });
        self.registration = Some(match local {
            Some(r) => r,
            None => {
                let shared = shared();
                let r = lock(shared).arm(current, deadline, cx.waker());
                shared.changed.notify_one();
                r
            }
        });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}
