//! Native benchmark: workcrew side by side with its peers, in one run.
//!
//! Every round runs every variant once, in turn, so all variants see the same machine load;
//! the report gives the median of the rounds and ratios, which is what counts on a noisy machine.
//!
//!   cargo run --release --manifest-path bench/Cargo.toml
//!   N=200000 ROUNDS=3 cargo run --release --manifest-path bench/Cargo.toml   (quicker)
//!   cargo run --release --manifest-path bench/Cargo.toml -- waiting         (a waiting submitter)
//!   cargo run --release --manifest-path bench/Cargo.toml -- once "workcrew, W=2" ...
//!       (each named variant once; what bench/ab.sh alternates between two builds)
//!   bash bench/targets.sh                       (the scheduler's targets, docs/performance.md)

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicIsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use workcrew::{Backoff, Job, Pool};

const QUEUE: usize = 1024;
fn queue_cap() -> usize {
    std::env::var("QUEUE").ok().and_then(|q| q.parse().ok()).unwrap_or(QUEUE)
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn expected_sum(n: usize) -> u64 {
    (n as u64) * (n as u64 - 1) / 2
}

/// Awaits every handle in order and adds up the values.
async fn sum<E: std::fmt::Debug>(
    handles: Vec<impl std::future::Future<Output = Result<u64, E>>>,
) -> u64 {
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    sum
}

// --- workcrew -----------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Mix {
    Plain,
    Timeout,
    /// Each job fails twice, with zero backoff, then succeeds.
    Retries,
    /// Each job at one of 8 priorities (0 to 7), drawn at random (a fixed seed).
    #[cfg(feature = "sched")]
    Priorities,
    /// Each job with one of 16 keys (drawn at random, a fixed seed), the pool with `per_key(2)`.
    #[cfg(feature = "sched")]
    Keys,
}

/// xorshift64: the benchmark's random priorities and keys, the same in every run.
#[cfg_attr(not(feature = "sched"), allow(dead_code))]
struct Rng(u64);

#[cfg_attr(not(feature = "sched"), allow(dead_code))]
impl Rng {
    fn new() -> Self {
        Self(0x9E37_79B9_7F4A_7C15)
    }
    /// A number below `n` (a power of two).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 >> 32 & (n - 1)
    }
}

fn workcrew(workers: usize, mix: Mix, n: usize) -> Duration {
    let mut builder = Pool::builder().workers(workers).queue(queue_cap());
    match mix {
        Mix::Plain => {}
        Mix::Timeout => builder = builder.timeout(Duration::from_secs(10)),
        Mix::Retries => builder = builder.retries(2).backoff(Backoff::none()),
        #[cfg(feature = "sched")]
        Mix::Priorities => {}
        #[cfg(feature = "sched")]
        Mix::Keys => builder = builder.per_key(2),
    }
    let pool = builder.build().unwrap();
    #[allow(unused_mut, unused_variables)]
    let mut rng = Rng::new();
    let start = Instant::now();
    let sum = workcrew::native::block_on(async {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let job = Job::new(move |a: workcrew::Attempt| async move {
                match mix {
                    Mix::Retries if a.number() < 3 => Err(()),
                    _ => Ok(i),
                }
            });
            let job = match mix {
                #[cfg(feature = "sched")]
                Mix::Priorities => job.priority(rng.below(8) as i32),
                #[cfg(feature = "sched")]
                Mix::Keys => job.key(rng.below(16)),
                _ => job,
            };
            handles.push(pool.submit(job).await.unwrap());
        }
        sum(handles).await
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    workcrew::native::block_on(pool.shutdown());
    elapsed
}

// --- tokio --------------------------------------------------------------------------------------

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn tokio_joinset(mix: Mix, n: usize) -> Duration {
    let rt = tokio_rt();
    let start = Instant::now();
    let sum = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n as u64 {
            match mix {
                Mix::Plain => set.spawn(async move { i }),
                Mix::Timeout => set.spawn(async move {
                    tokio::time::timeout(Duration::from_secs(10), async move { i }).await.unwrap()
                }),
                Mix::Retries => set.spawn(async move {
                    let mut attempt = 0;
                    loop {
                        attempt += 1;
                        let r: Result<u64, ()> = if attempt < 3 { Err(()) } else { Ok(i) };
                        if let Ok(v) = black_box(r) {
                            break v;
                        }
                    }
                }),
                #[cfg(feature = "sched")]
                Mix::Priorities | Mix::Keys => unreachable!("workcrew's own variants"),
            };
        }
        let mut sum = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    elapsed
}

fn tokio_semaphore(workers: usize, n: usize) -> Duration {
    let rt = tokio_rt();
    let start = Instant::now();
    let sum = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(workers));
        let mut handles = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let permit = sem.clone().acquire_owned().await.unwrap();
            handles.push(tokio::spawn(async move {
                let _permit = permit;
                i
            }));
        }
        sum(handles).await
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    elapsed
}

// --- the others ---------------------------------------------------------------------------------

fn async_executor(n: usize) -> Duration {
    let ex = Arc::new(async_executor::Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stopped) = (ex.clone(), stopped.clone());
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(stopped.recv())))
        })
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = (0..n as u64).map(|i| ex.spawn(async move { i })).collect();
    let sum = futures_lite::future::block_on(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    drop(stop);
    threads.into_iter().for_each(|t| drop(t.join()));
    elapsed
}

fn threadpool(workers: usize, n: usize) -> Duration {
    let pool = threadpool::ThreadPool::new(workers);
    let start = Instant::now();
    for i in 0..n {
        pool.execute(move || {
            black_box(i);
        });
    }
    pool.join();
    start.elapsed()
}

fn rayon_scope(workers: usize, n: usize) -> Duration {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build().unwrap();
    let start = Instant::now();
    pool.scope(|s| {
        for i in 0..n {
            s.spawn(move |_| {
                black_box(i);
            });
        }
    });
    start.elapsed()
}

/// The limit: a bounded channel of `u64` from one producer to W consumer threads.
fn raw_channel(workers: usize, n: usize) -> Duration {
    let (tx, rx) = async_channel::bounded::<u64>(QUEUE);
    let consumers: Vec<_> = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(async {
                    let mut sum = 0;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
        })
        .collect();
    drop(rx);
    let start = Instant::now();
    futures_lite::future::block_on(async {
        for i in 0..n as u64 {
            tx.send(i).await.unwrap();
        }
    });
    drop(tx);
    let sum: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    elapsed
}

/// A bounded FIFO behind a spin lock (`VecDeque` under `spin::Mutex`, woken through
/// `event-listener`), with the raw channel's shape: what one locked scheduler structure would
/// cost a plain job, measured beside the lock-free queue the pool uses and async-channel.
struct LockedQueue {
    inner: spin::Mutex<(std::collections::VecDeque<u64>, bool)>,
    room: event_listener::Event,
    ready: event_listener::Event,
}

impl LockedQueue {
    async fn send(&self, v: u64) {
        loop {
            {
                let mut q = self.inner.lock();
                if q.0.len() < QUEUE {
                    q.0.push_back(v);
                    drop(q);
                    self.ready.notify(1);
                    return;
                }
            }
            let listener = self.room.listen();
            if self.inner.lock().0.len() < QUEUE {
                continue;
            }
            listener.await;
        }
    }

    async fn recv(&self) -> Option<u64> {
        loop {
            {
                let mut q = self.inner.lock();
                if let Some(v) = q.0.pop_front() {
                    drop(q);
                    self.room.notify(1);
                    return Some(v);
                }
                if q.1 {
                    return None;
                }
            }
            let listener = self.ready.listen();
            let q = self.inner.lock();
            if !q.0.is_empty() || q.1 {
                continue;
            }
            drop(q);
            listener.await;
        }
    }

    fn close(&self) {
        self.inner.lock().1 = true;
        self.ready.notify(usize::MAX);
    }
}

fn raw_locked(workers: usize, n: usize) -> Duration {
    let q = Arc::new(LockedQueue {
        inner: spin::Mutex::new((std::collections::VecDeque::with_capacity(QUEUE), false)),
        room: event_listener::Event::new(),
        ready: event_listener::Event::new(),
    });
    let consumers: Vec<_> = (0..workers)
        .map(|_| {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                futures_lite::future::block_on(async {
                    let mut sum = 0;
                    while let Some(v) = q.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
        })
        .collect();
    let start = Instant::now();
    futures_lite::future::block_on(async {
        for i in 0..n as u64 {
            q.send(i).await;
        }
    });
    q.close();
    let sum: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(sum, expected_sum(n));
    elapsed
}

// --- memory -------------------------------------------------------------------------------------

/// The system allocator, counting live heap bytes once `COUNTING` is set (only in the memory
/// child process, so the timed runs pay one untaken branch per allocation).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(new as isize - layout.size() as isize, Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Relaxed)
}

/// Heap bytes per queued job, beyond the job closure's captures (a `u64`) and its handle (kept
/// in a vector allocated beforehand), counted by the allocator in a fresh process. The jobs wait
/// behind a running job on one worker (workcrew) or in an executor nobody runs (the others).
fn memory(variant: &str, n: usize) -> f64 {
    COUNTING.store(true, Relaxed);
    let captures = std::mem::size_of::<u64>() as f64;
    let per_job = |before: isize, after: isize| (after - before) as f64 / n as f64 - captures;
    match variant {
        "workcrew" => {
            let pool = Pool::builder().workers(1).queue(n + 1).build().unwrap();
            let (open, gate) = async_channel::bounded::<()>(1);
            let blocker = pool
                .try_submit(Job::new(move |_| {
                    let gate = gate.clone();
                    async move { gate.recv().await.map_err(drop) }
                }))
                .unwrap();
            while pool.metrics().running == 0 {
                std::thread::yield_now();
            }
            let mut handles = Vec::with_capacity(n);
            let before = live_bytes();
            for i in 0..n as u64 {
                handles.push(
                    pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).unwrap(),
                );
            }
            let after = live_bytes();
            assert_eq!(pool.metrics().queued, n as u64);
            open.try_send(()).unwrap();
            workcrew::native::block_on(blocker).unwrap();
            let sum: u64 =
                handles.into_iter().map(|h| workcrew::native::block_on(h).unwrap()).sum();
            assert_eq!(sum, expected_sum(n));
            per_job(before, after)
        }
        "async-executor" => {
            let ex = async_executor::Executor::new();
            let mut tasks = Vec::with_capacity(n);
            let before = live_bytes();
            for i in 0..n as u64 {
                tasks.push(ex.spawn(async move { i }));
            }
            let after = live_bytes();
            let sum: u64 = futures_lite::future::block_on(ex.run(async {
                let mut s = 0;
                for t in tasks {
                    s += t.await;
                }
                s
            }));
            assert_eq!(sum, expected_sum(n));
            per_job(before, after)
        }
        "tokio" => {
            // A runtime that is not driven: spawned tasks wait in its queue.
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut handles = Vec::with_capacity(n);
            let before = live_bytes();
            for i in 0..n as u64 {
                handles.push(rt.spawn(async move { i }));
            }
            let after = live_bytes();
            let sum: u64 = rt.block_on(async {
                let mut s = 0;
                for h in handles {
                    s += h.await.unwrap();
                }
                s
            });
            assert_eq!(sum, expected_sum(n));
            per_job(before, after)
        }
        other => panic!("unknown memory variant {other}"),
    }
}

fn memory_in_child(variant: &str, n: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["memory", variant, &n.to_string()])
        .output()
        .expect("run the memory child");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

// --- a submitter waiting on a full queue -------------------------------------------------------

/// One worker, a queue of `QUEUE_W` (100), jobs of `JOB_MS` (10) ms: a producer keeps the queue
/// full with `submit().await`, and each submission after the queue first filled is timed from
/// its call to its admission. Honest waiting admits each within about one job's duration.
/// Prints p50 and p99 over `WAITS` (1,000) submissions, in ms and in job durations.
fn waiting() {
    use workcrew::native::{block_on, NativeTimer};
    use workcrew::Sleeper;
    let waits = env_usize("WAITS", 1000);
    let job_ms = env_usize("JOB_MS", 10) as u64;
    let queue = env_usize("QUEUE_W", 100);
    let pool = Pool::builder().workers(1).queue(queue).build().unwrap();
    let job = || {
        Job::new(move |_| async move {
            NativeTimer.sleep(Duration::from_millis(job_ms)).await;
            Ok::<_, ()>(())
        })
    };
    let mut admitted = Vec::with_capacity(waits);
    block_on(async {
        for _ in 0..=queue {
            drop(pool.submit(job()).await.unwrap()); // fills the queue; the worker takes one
        }
        for _ in 0..waits {
            let start = Instant::now();
            drop(pool.submit(job()).await.unwrap());
            admitted.push(start.elapsed().as_secs_f64() * 1e3);
        }
    });
    block_on(pool.abort());
    admitted.sort_by(|a, b| a.total_cmp(b));
    let at =
        |q: f64| admitted[((admitted.len() as f64 * q).ceil() as usize).min(admitted.len()) - 1];
    let (p50, p99) = (at(0.50), at(0.99));
    let d = job_ms as f64;
    println!(
        "\n### A submitter waiting on a full queue (1 worker, queue {queue}, {job_ms} ms jobs)\n"
    );
    println!("| submissions timed | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {waits} | {p50:.1} ms ({:.2} jobs) | {p99:.1} ms ({:.2} jobs) | {:.1} ms |",
        p50 / d,
        p99 / d,
        admitted[admitted.len() - 1]
    );
    let met = if p99 <= 2.0 * d { "met" } else { "**missed**" };
    println!("\n| target | measured | |\n|---|---:|---|");
    println!("| admitted within 2 job durations at p99 | {:.2} jobs | {met} |", p99 / d);
}

// --- the run ------------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

type Variant = (&'static str, Box<dyn Fn(usize) -> Duration>);

/// Every variant of the throughput table, by name.
fn variants() -> Vec<Variant> {
    vec![
        ("workcrew, W=2", Box::new(|n| workcrew(2, Mix::Plain, n))),
        ("workcrew, W=8", Box::new(|n| workcrew(8, Mix::Plain, n))),
        ("workcrew + timeout, W=2", Box::new(|n| workcrew(2, Mix::Timeout, n))),
        ("workcrew, retries (fail 2×), W=2", Box::new(|n| workcrew(2, Mix::Retries, n))),
        #[cfg(feature = "sched")]
        ("workcrew, 8 random priorities, W=2", Box::new(|n| workcrew(2, Mix::Priorities, n))),
        #[cfg(feature = "sched")]
        ("workcrew, 16 keys, per_key(2), W=2", Box::new(|n| workcrew(2, Mix::Keys, n))),
        #[cfg(feature = "sched")]
        ("workcrew, 16 keys, per_key(2), W=8", Box::new(|n| workcrew(8, Mix::Keys, n))),
        ("tokio JoinSet (2 threads)", Box::new(|n| tokio_joinset(Mix::Plain, n))),
        ("tokio JoinSet + time::timeout", Box::new(|n| tokio_joinset(Mix::Timeout, n))),
        ("tokio JoinSet, inline retries", Box::new(|n| tokio_joinset(Mix::Retries, n))),
        ("tokio Semaphore(2) + spawn", Box::new(|n| tokio_semaphore(2, n))),
        ("tokio Semaphore(8) + spawn", Box::new(|n| tokio_semaphore(8, n))),
        ("async-executor (2 threads)", Box::new(async_executor)),
        ("threadpool, W=2 (no results)", Box::new(|n| threadpool(2, n))),
        ("threadpool, W=8 (no results)", Box::new(|n| threadpool(8, n))),
        ("rayon scope, W=2 (no results)", Box::new(|n| rayon_scope(2, n))),
        ("rayon scope, W=8 (no results)", Box::new(|n| rayon_scope(8, n))),
        ("raw bounded(1024) channel, W=2", Box::new(|n| raw_channel(2, n))),
        ("raw bounded(1024) channel, W=8", Box::new(|n| raw_channel(8, n))),
        ("raw spin-locked VecDeque(1024), W=2", Box::new(|n| raw_locked(2, n))),
    ]
}

/// `once NAME...`: runs each named variant once, in the order given, with `N` jobs, and prints
/// `NAME<TAB>ns per job` for each (what bench/ab.sh alternates between two builds).
fn once(names: &[String]) {
    let n = env_usize("N", 1_000_000);
    let all = variants();
    for name in names {
        let (name, run) = all
            .iter()
            .find(|v| v.0 == name.as_str())
            .unwrap_or_else(|| panic!("no variant named {name:?}"));
        let ns = run(n).as_nanos() as f64 / n as f64;
        println!("{name}\t{ns:.1}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory") {
        println!("{}", memory(&args[2], args[3].parse().unwrap()));
        return;
    }
    if args.get(1).map(String::as_str) == Some("waiting") {
        waiting();
        return;
    }
    if args.get(1).map(String::as_str) == Some("once") {
        once(&args[2..]);
        return;
    }
    let n = env_usize("N", 1_000_000);
    let rounds = env_usize("ROUNDS", 5);
    let variants = variants();
    // ONLY=substring runs the matching variants alone (for profiling).
    let only = std::env::var("ONLY").unwrap_or_default();
    let variants: Vec<Variant> = variants.into_iter().filter(|v| v.0.contains(&only)).collect();
    if !only.is_empty() {
        for (name, run) in &variants {
            for _ in 0..rounds {
                eprintln!("{name}: {:.0} ns/job", run(n).as_nanos() as f64 / n as f64);
            }
        }
        return;
    }
    eprintln!("{} jobs per run, {rounds} rounds, variants alternating", n);
    let mut times = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (i, (name, run)) in variants.iter().enumerate() {
            let ns = run(n).as_nanos() as f64 / n as f64;
            times[i].push(ns);
            eprintln!("round {}: {name}: {ns:.0} ns/job", round + 1);
        }
    }
    let med: Vec<f64> = times.into_iter().map(median).collect();
    let at = |name: &str| med[variants.iter().position(|v| v.0 == name).unwrap()];
    let base = at("workcrew, W=2");

    println!("\n### Throughput ({n} empty jobs, queue {QUEUE}, median of {rounds} rounds)\n");
    println!("| variant | ns/job | jobs/s | time vs workcrew W=2 |");
    println!("|---|---:|---:|---:|");
    for ((name, _), ns) in variants.iter().zip(&med) {
        println!("| {name} | {ns:.0} | {:.2} M | {:.2} |", 1e3 / ns, ns / base);
    }

    let mem_n = env_usize("MEM_N", 1_000_000);
    let mem_wc = memory_in_child("workcrew", mem_n);
    let mem_ae = memory_in_child("async-executor", mem_n);
    let mem_tokio = memory_in_child("tokio", mem_n);
    println!(
        "\n### Memory ({mem_n} jobs queued; heap bytes per job beyond its captures and handle)\n"
    );
    println!("| variant | bytes per queued job |");
    println!("|---|---:|");
    println!("| workcrew | {mem_wc:.0} |");
    println!("| async-executor (spawned, not yet run) | {mem_ae:.0} |");
    println!("| tokio (spawned, not yet run) | {mem_tokio:.0} |");

    let check = |ok: bool| if ok { "met" } else { "**missed**" };
    let ae = base / at("async-executor (2 threads)");
    let raw = base / at("raw bounded(1024) channel, W=2");
    let joinset = at("tokio JoinSet (2 threads)") / base;
    let w8 = base / at("workcrew, W=8");
    let timeout = at("workcrew + timeout, W=2") / base;
    let retries = at("workcrew, retries (fail 2×), W=2") / base;
    println!("\n### Targets\n");
    println!("| target | measured | |");
    println!("|---|---:|---|");
    println!(
        "| W=2 time per job ≤ async-executor's (2 threads) | {ae:.2}× | {} |",
        check(ae <= 1.0)
    );
    println!(
        "| W=2 time per job ≤ 2.5× the raw bounded channel's | {raw:.2}× | {} |",
        check(raw <= 2.5)
    );
    println!("| ≥ 3× tokio JoinSet's throughput | {joinset:.2}× | {} |", check(joinset >= 3.0));
    println!("| W=8 ≥ 0.9× the throughput of W=2 | {w8:.2}× | {} |", check(w8 >= 0.9));
    println!(
        "| timeout-armed job ≤ 1.15× a plain one | {timeout:.2}× | {} |",
        check(timeout <= 1.15)
    );
    println!("| ≤ 64 heap bytes per queued job | {mem_wc:.0} B | {} |", check(mem_wc <= 64.0));
    println!("| (retry-heavy job, 3 attempts, vs plain) | {retries:.2}× | |");
    #[cfg(feature = "sched")]
    {
        let prio = at("workcrew, 8 random priorities, W=2") / base;
        let keys = at("workcrew, 16 keys, per_key(2), W=2") / base;
        let keys8 = at("workcrew, 16 keys, per_key(2), W=8") / at("workcrew, W=8");
        println!(
            "| 8 random priorities ≤ 1.3× plain (W=2) | {prio:.2}× | {} |",
            check(prio <= 1.3)
        );
        println!(
            "| 16 keys, per_key(2) ≤ 1.3× plain (W=2) | {keys:.2}× | {} |",
            check(keys <= 1.3)
        );
        println!("| (16 keys, per_key(2), W=8, vs plain W=8) | {keys8:.2}× | |");
    }
}
