//! workcrew's scheduler against a pool core built on async-channel, side by side (issue 21).
//!
//! The question: would a plain FIFO channel serve as the queue of plain jobs? The channel core is
//! the minimal pool a user of async-channel would write: a bounded channel (capacity = the pool's
//! queue, 1024) of boxed jobs, W worker futures each doing
//! `while let Ok(job) = rx.recv().await { job().await }`, each worker on its own thread under
//! `workcrew::native::block_on`: the same threads and executor as workcrew's built-in runtime.
//! Each job sends its value to a one-shot result slot (an `Arc` with a spin lock and a waker),
//! so that the submitter holds a handle and awaits every result in order, as it does with the
//! pool. A second channel variant has no handles (fire and forget, the values summed by the
//! workers): the floor for a channel of boxed jobs.
//!
//! Every round runs every variant once, in turn (the order rotating each round); the report gives
//! each variant's median and each round's ratio to workcrew's pool (median, min, max).
//!
//!   bash bench/channel.sh                                   (builds from a snapshot of HEAD)
//!   cargo run --release --manifest-path bench/Cargo.toml --bin channel
//!   N=200000 ROUNDS=5 cargo run --release --manifest-path bench/Cargo.toml --bin channel
//!   cargo run --release --manifest-path bench/Cargo.toml --bin channel -- once NAME   (one run,
//!       for callgrind: prints NAME<TAB>ns per job)
//!   cargo run --release --manifest-path bench/Cargo.toml --bin channel -- line   (the waiting
//!       line and cancel, on both: what a FIFO channel does not keep)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use workcrew::native::block_on;
use workcrew::{Job, Pool};

const QUEUE: usize = 1024;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn expected_sum(n: usize) -> u64 {
    (n as u64) * (n as u64 - 1) / 2
}

// --- workcrew's pool, plain jobs (as bench/src/main.rs's "workcrew, W=2") ------------------------

fn workcrew_pool(workers: usize, n: usize) -> Duration {
    let pool = Pool::builder().workers(workers).queue(QUEUE).build().unwrap();
    let start = Instant::now();
    let sum = block_on(async {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let job = Job::new(move |_: workcrew::Attempt| async move { Ok::<_, ()>(i) });
            handles.push(pool.submit(job).await.unwrap());
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    block_on(pool.shutdown());
    elapsed
}

// --- a pool core on async-channel ---------------------------------------------------------------

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type BoxJob = Box<dyn FnOnce() -> BoxFuture + Send>;

/// A one-shot result: the job's value, or the waker of the handle waiting for it.
struct Slot {
    state: spin::Mutex<(Option<u64>, Option<Waker>)>,
}

impl Slot {
    fn put(&self, v: u64) {
        let waker = {
            let mut s = self.state.lock();
            s.0 = Some(v);
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The submitter's side of a [`Slot`].
struct Handle(Arc<Slot>);

impl Future for Handle {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut s = self.0.state.lock();
        if let Some(v) = s.0.take() {
            return Poll::Ready(v);
        }
        if !s.1.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.1 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The channel core's workers: one thread each, running
/// `while let Ok(job) = rx.recv().await { job().await }` under workcrew's `block_on`.
fn start_workers(
    workers: usize,
    rx: async_channel::Receiver<BoxJob>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..workers)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                block_on(async move {
                    while let Ok(job) = rx.recv().await {
                        job().await;
                    }
                })
            })
        })
        .collect()
}

/// Jobs with result handles, awaited in order: the pool's shape.
fn channel_core(workers: usize, n: usize) -> Duration {
    let (tx, rx) = async_channel::bounded::<BoxJob>(QUEUE);
    let threads = start_workers(workers, rx);
    let start = Instant::now();
    let sum = block_on(async {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let slot = Arc::new(Slot { state: spin::Mutex::new((None, None)) });
            let out = Arc::clone(&slot);
            let job: BoxJob = Box::new(move || {
                Box::pin(async move {
                    out.put(std::hint::black_box(i));
                })
            });
            tx.send(job).await.unwrap();
            handles.push(Handle(slot));
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    drop(tx);
    threads.into_iter().for_each(|t| t.join().unwrap());
    elapsed
}

/// Jobs without handles: each adds its value to a shared sum; timed until the workers end.
fn channel_core_no_results(workers: usize, n: usize) -> Duration {
    let (tx, rx) = async_channel::bounded::<BoxJob>(QUEUE);
    let total = Arc::new(AtomicU64::new(0));
    let threads = start_workers(workers, rx);
    let start = Instant::now();
    block_on(async {
        for i in 0..n as u64 {
            let total = Arc::clone(&total);
            let job: BoxJob = Box::new(move || {
                Box::pin(async move {
                    total.fetch_add(std::hint::black_box(i), Ordering::Relaxed);
                })
            });
            tx.send(job).await.unwrap();
        }
    });
    drop(tx);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let elapsed = start.elapsed();
    assert_eq!(total.load(Ordering::Relaxed), expected_sum(n));
    elapsed
}

// --- the line: what a FIFO channel does not keep -------------------------------------------------

/// Polls a future once (on a no-op waker): `Some` if it finished.
fn poll_once<F: Future>(f: Pin<&mut F>) -> Option<F::Output> {
    match f.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn wait_until(what: impl Fn() -> bool) {
    let start = Instant::now();
    while !what() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        std::thread::yield_now();
    }
}

fn job() -> BoxJob {
    Box::new(|| Box::pin(async {}))
}

/// A queue of 1, full; submitter A waits for room (`send`/`submit`, polled once); a place is
/// freed; then submitter B tries (`try_send`/`try_submit`) before A is polled again. In a FIFO
/// line B finds the queue full (the place went to A); `true` if B got in ahead of A.
fn overtaken_channel() -> bool {
    let (tx, rx) = async_channel::bounded::<BoxJob>(1);
    tx.try_send(job()).ok().unwrap();
    let mut a = std::pin::pin!(tx.send(job()));
    assert!(poll_once(a.as_mut()).is_none(), "A waits");
    drop(rx.try_recv().ok().unwrap()); // a worker takes the queued job: a place is free
    let b_in = tx.try_send(job()).is_ok();
    let a_in = poll_once(a.as_mut()).is_some_and(|r| r.is_ok());
    assert!(b_in != a_in, "one of them gets the place");
    b_in
}

fn overtaken_workcrew() -> bool {
    let pool = Pool::builder().workers(1).queue(1).build().unwrap();
    let (open, gate) = async_channel::bounded::<()>(1);
    let blocker = pool
        .try_submit(Job::new(move |_| {
            let gate = gate.clone();
            async move { gate.recv().await.map_err(drop) }
        }))
        .unwrap();
    wait_until(|| pool.metrics().running == 1);
    let plain = || Job::new(|_| async { Ok::<_, ()>(()) });
    let queued = pool.try_submit(plain()).unwrap(); // the queue is full
    let mut a = std::pin::pin!(pool.submit(plain()));
    assert!(poll_once(a.as_mut()).is_none(), "A waits");
    open.try_send(()).unwrap(); // the blocker ends; the worker takes the queued job
    block_on(blocker).unwrap();
    wait_until(|| pool.metrics().started == 2);
    let b_in = pool.try_submit(plain()).is_ok();
    let a_in = poll_once(a.as_mut()).is_some_and(|r| r.is_ok());
    assert!(b_in != a_in, "one of them gets the place");
    block_on(queued).unwrap();
    block_on(pool.shutdown());
    b_in
}

/// A queue of 1 behind a busy worker holds job J; J is cancelled; `true` if a new job then
/// finds a place at once (the cancelled job's place was freed).
fn cancel_frees_channel() -> bool {
    let (tx, _rx) = async_channel::bounded::<BoxJob>(1); // no worker takes jobs meanwhile
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let j: BoxJob = Box::new(move || {
        Box::pin(async move {
            if !flag.load(Ordering::Relaxed) {
                // the job's work
            }
        })
    });
    tx.try_send(j).ok().unwrap();
    cancelled.store(true, Ordering::Relaxed); // the only cancel a channel offers: a flag
    tx.try_send(job()).is_ok()
}

fn cancel_frees_workcrew() -> bool {
    let pool = Pool::builder().workers(1).queue(1).build().unwrap();
    let (open, gate) = async_channel::bounded::<()>(1);
    let blocker = pool
        .try_submit(Job::new(move |_| {
            let gate = gate.clone();
            async move { gate.recv().await.map_err(drop) }
        }))
        .unwrap();
    wait_until(|| pool.metrics().running == 1);
    let plain = || Job::new(|_| async { Ok::<_, ()>(()) });
    let j = pool.try_submit(plain()).unwrap();
    assert!(j.cancel());
    let freed = pool.try_submit(plain()).map(drop).is_ok();
    open.try_send(()).unwrap();
    block_on(blocker).unwrap();
    block_on(pool.shutdown());
    freed
}

/// The system allocator, counting allocations while `COUNTING` is set (in `line` only; the
/// timed runs pay one untaken branch per allocation, every variant alike).
struct Counting;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made while `f` runs (on this thread; nothing else runs meanwhile).
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// A queue of 1, full: the allocations a refused submission makes (the pool's shape: a job and
/// its result handle). The channel takes a built message; the pool reserves a place first.
fn refused_channel() -> u64 {
    let (tx, _rx) = async_channel::bounded::<BoxJob>(1);
    tx.try_send(job()).ok().unwrap();
    allocations(|| {
        let slot = Arc::new(Slot { state: spin::Mutex::new((None, None)) });
        let out = Arc::clone(&slot);
        let j: BoxJob = Box::new(move || Box::pin(async move { out.put(1) }));
        assert!(tx.try_send(j).is_err());
        drop(Handle(slot));
    })
}

fn refused_workcrew() -> u64 {
    let pool = Pool::builder().workers(1).queue(1).build().unwrap();
    let (open, gate) = async_channel::bounded::<()>(1);
    let blocker = pool
        .try_submit(Job::new(move |_| {
            let gate = gate.clone();
            async move { gate.recv().await.map_err(drop) }
        }))
        .unwrap();
    wait_until(|| pool.metrics().running == 1);
    let plain = || Job::new(|_| async { Ok::<_, ()>(1u64) });
    let queued = pool.try_submit(plain()).unwrap();
    let n = allocations(|| assert!(pool.try_submit(plain()).is_err()));
    open.try_send(()).unwrap();
    block_on(blocker).unwrap();
    block_on(queued).unwrap();
    block_on(pool.shutdown());
    n
}

fn line() {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("\n### What a FIFO channel keeps, against the scheduler (queue of 1)\n");
    println!("| | async-channel | workcrew |");
    println!("|---|---|---|");
    println!(
        "| a place freed while A waits: B's try overtakes A | {} | {} |",
        yes(overtaken_channel()),
        yes(overtaken_workcrew())
    );
    println!(
        "| a queued job cancelled: its place free at once | {} | {} |",
        yes(cancel_frees_channel()),
        yes(cancel_frees_workcrew())
    );
    println!(
        "| allocations made by a refused submission (queue full) | {} | {} |",
        refused_channel(),
        refused_workcrew()
    );
}

// --- the run ------------------------------------------------------------------------------------

type Variant = (&'static str, Box<dyn Fn(usize) -> Duration>);

const BASE: &str = "workcrew Pool, W=2";

fn variants() -> Vec<Variant> {
    vec![
        (BASE, Box::new(|n| workcrew_pool(2, n))),
        ("async-channel core, handles, W=2", Box::new(|n| channel_core(2, n))),
        ("async-channel core, no results, W=2", Box::new(|n| channel_core_no_results(2, n))),
        ("workcrew Pool, W=8", Box::new(|n| workcrew_pool(8, n))),
        ("async-channel core, handles, W=8", Box::new(|n| channel_core(8, n))),
    ]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = env_usize("N", 1_000_000);
    let all = variants();
    if args.get(1).map(String::as_str) == Some("line") {
        line();
        return;
    }
    if args.get(1).map(String::as_str) == Some("once") {
        for name in &args[2..] {
            let (name, run) = all
                .iter()
                .find(|v| v.0 == name.as_str())
                .unwrap_or_else(|| panic!("no variant named {name:?}"));
            println!("{name}\t{:.1}", run(n).as_nanos() as f64 / n as f64);
        }
        return;
    }
    let rounds = env_usize("ROUNDS", 7);
    eprintln!("{n} jobs per run, {rounds} rounds, variants alternating (order rotating)");
    let mut times = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for k in 0..all.len() {
            let i = (k + round) % all.len();
            let (name, run) = &all[i];
            let ns = run(n).as_nanos() as f64 / n as f64;
            times[i].push(ns);
            eprintln!("round {}: {name}: {ns:.0} ns/job", round + 1);
        }
    }
    // Each variant against the pool with as many workers, round by round.
    let base_of = |name: &str| if name.contains("W=8") { 3 } else { 0 };
    println!("\n### async-channel core vs workcrew's pool ({n} plain jobs, queue {QUEUE}, {rounds} rounds)\n");
    println!("| variant | median ns/job | range ns/job | time vs workcrew Pool (same W): median | min | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (name, _)) in all.iter().enumerate() {
        let t = sorted(times[i].clone());
        let b = base_of(name);
        let ratios = sorted(times[i].iter().zip(&times[b]).map(|(x, y)| x / y).collect::<Vec<_>>());
        println!(
            "| {name} | {:.0} | {:.0}–{:.0} | {:.2} | {:.2} | {:.2} |",
            t[t.len() / 2],
            t[0],
            t[t.len() - 1],
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}
