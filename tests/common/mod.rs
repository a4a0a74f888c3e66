//! Test support: a manual clock, and a single-threaded scheduler that runs futures until none of
//! them can make progress. Together they make pool tests deterministic: time moves only when a
//! test says so, and "stalled" is a fact, not a guess.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use workcrew::{Pool, PoolBuilder};

/// A clock that moves only when told to.
#[derive(Clone, Default)]
pub struct Clock {
    inner: Arc<Mutex<ClockInner>>,
}

#[derive(Default)]
struct ClockInner {
    now: Duration,
    next_id: u64,
    armed: Vec<(u64, Duration, Waker)>,
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sleeper on this clock, for `PoolBuilder::new`.
    pub fn sleeper(&self) -> impl Fn(Duration) -> ClockSleep + Clone + Send + Sync + 'static {
        let clock = self.clone();
        move |d| clock.sleep(d)
    }

    pub fn sleep(&self, d: Duration) -> ClockSleep {
        let deadline = self.now().checked_add(d);
        ClockSleep { clock: self.clone(), deadline, id: None }
    }

    pub fn now(&self) -> Duration {
        self.inner.lock().unwrap().now
    }

    /// Sleeps currently waiting.
    pub fn armed(&self) -> usize {
        self.inner.lock().unwrap().armed.len()
    }

    /// The earliest deadline of a waiting sleep.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.inner.lock().unwrap().armed.iter().map(|a| a.1).min()
    }

    /// Moves time forward by `d`, waking every sleep that is then due.
    pub fn advance(&self, d: Duration) {
        let due: Vec<Waker> = {
            let mut inner = self.inner.lock().unwrap();
            inner.now += d;
            let now = inner.now;
            let (due, keep) =
                std::mem::take(&mut inner.armed).into_iter().partition(|a| a.1 <= now);
            inner.armed = keep;
            due.into_iter().map(|a: (u64, Duration, Waker)| a.2).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }
}

pub struct ClockSleep {
    clock: Clock,
    deadline: Option<Duration>,
    id: Option<u64>,
}

impl Future for ClockSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let clock = self.clock.clone();
        let mut inner = clock.inner.lock().unwrap();
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if inner.now >= deadline {
            if let Some(id) = self.id.take() {
                inner.armed.retain(|a| a.0 != id);
            }
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                if let Some(a) = inner.armed.iter_mut().find(|a| a.0 == id) {
                    a.2 = cx.waker().clone();
                }
            }
            None => {
                inner.next_id += 1;
                let id = inner.next_id;
                inner.armed.push((id, deadline, cx.waker().clone()));
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for ClockSleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.clock.inner.lock().unwrap().armed.retain(|a| a.0 != id);
        }
    }
}

struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A single-threaded scheduler for worker futures and test code.
pub struct Sim {
    tasks: Vec<Pin<Box<dyn Future<Output = ()>>>>,
    flag: Arc<Flag>,
    /// Poll tasks last-spawned first: another interleaving of the same program.
    pub reverse: bool,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    pub fn new() -> Self {
        Self { tasks: Vec::new(), flag: Arc::new(Flag(AtomicBool::new(true))), reverse: false }
    }

    pub fn spawn(&mut self, f: impl Future<Output = ()> + 'static) {
        self.tasks.push(Box::pin(f));
        self.flag.0.store(true, Ordering::SeqCst);
    }

    /// Tasks (workers) still running.
    pub fn live(&self) -> usize {
        self.tasks.len()
    }

    fn round(&mut self) {
        let waker = Waker::from(Arc::clone(&self.flag));
        let mut cx = Context::from_waker(&waker);
        if self.reverse {
            self.tasks.reverse();
        }
        self.tasks.retain_mut(|t| t.as_mut().poll(&mut cx).is_pending());
        if self.reverse {
            self.tasks.reverse();
        }
    }

    /// Polls every task until a whole round passes without a wake-up.
    pub fn run_until_stalled(&mut self) {
        for _ in 0..100_000 {
            if !self.flag.0.swap(false, Ordering::SeqCst) {
                return;
            }
            self.round();
        }
        panic!("Sim: tasks keep waking each other; no stall after 100000 rounds");
    }

    /// Runs `fut` alongside the tasks until it completes. Panics if everything stalls first:
    /// that is a hang.
    pub fn block<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::from(Arc::clone(&self.flag));
        let mut cx = Context::from_waker(&waker);
        self.flag.0.store(true, Ordering::SeqCst);
        for _ in 0..100_000 {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            if !self.flag.0.swap(false, Ordering::SeqCst) {
                panic!("Sim: the awaited future can never complete (everything stalled)");
            }
            self.round();
        }
        panic!("Sim: no progress after 100000 rounds");
    }

    /// Polls `fut` once with the tasks stalled around it: `Some` if it is ready.
    pub fn poll_once<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        self.run_until_stalled();
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::from(Arc::clone(&self.flag));
        match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

pub type ClockPool = Pool<Box<dyn Fn(Duration) -> ClockSleep + Send + Sync>>;

/// A pool on `clock` whose workers run in `sim`, configured by `f`.
pub fn clock_pool(
    sim: &mut Sim,
    clock: &Clock,
    f: impl FnOnce(
        PoolBuilder<Box<dyn Fn(Duration) -> ClockSleep + Send + Sync>>,
    ) -> PoolBuilder<Box<dyn Fn(Duration) -> ClockSleep + Send + Sync>>,
) -> ClockPool {
    let sleeper: Box<dyn Fn(Duration) -> ClockSleep + Send + Sync> = Box::new(clock.sleeper());
    let (pool, workers) = f(PoolBuilder::new(sleeper)).build_workers().expect("valid config");
    for w in workers {
        sim.spawn(w);
    }
    pool
}

/// Counts how often something happened, shareable with jobs.
#[derive(Clone, Default)]
pub struct Count(Arc<AtomicUsize>);

impl Count {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Sets its count when dropped: proves a future (or closure) was really dropped.
pub struct DropFlag(pub Count);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.hit();
    }
}

pub const MS: Duration = Duration::from_millis(1);

/// A clock sleep, then a value: the shape of a job that takes time.
pub struct ClockSleepThen(pub ClockSleep, pub u32);

impl Future for ClockSleepThen {
    type Output = Result<u32, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, ()>> {
        let value = self.1;
        Pin::new(&mut self.0).poll(cx).map(|()| Ok(value))
    }
}
