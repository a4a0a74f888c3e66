//! The demo as firmware. A two-worker `LocalPool` runs on embassy-executor, with
//! `embassy_time::Timer` (driven by SysTick, `systick.rs`) as its sleeper and a fixed heap
//! (`heap.rs`). Jobs succeed; fail and then succeed after retries with backoff; time out with
//! their attempts really dropped; get cancelled running and queued; fail for good. Then a
//! draining shutdown. Every outcome and the metrics go out over semihosting, and the exit status
//! says whether they were what this file expects. Then the figures: heap bytes per queued job,
//! allocations per job, stack high-water mark.
#![no_std]
#![no_main]

extern crate alloc;

mod heap;
mod stack;
mod systick;

use alloc::vec::Vec;
use core::fmt::Debug;
use core::future::Future;
use core::time::Duration;

use cortex_m_semihosting::{debug, hprintln};
use embassy_executor::Spawner;
use portable_atomic::{AtomicU32, Ordering};
use static_cell::StaticCell;
use workcrew::{Attempt, Backoff, Job, JobError, LocalPool, LocalPoolBuilder, LocalWorker};

/// The pool's sleeper: embassy's timer.
type Sleeper = fn(Duration) -> embassy_time::Timer;

fn sleep(d: Duration) -> embassy_time::Timer {
    embassy_time::Timer::after(embassy_time::Duration::from_micros(d.as_micros() as u64))
}

/// The pool lives in a `static`: built once at start (it allocates), then shared as
/// `&'static` by the tasks.
static POOL: StaticCell<LocalPool<Sleeper>> = StaticCell::new();

/// Attempts dropped before they finished (timed out or cancelled).
static DROPPED: AtomicU32 = AtomicU32::new(0);

/// An embassy task per worker. Tasks cannot be generic: each takes a `LocalWorker`, the
/// workers' one nameable type.
#[embassy_executor::task(pool_size = 3)]
async fn worker(work: LocalWorker) {
    work.await
}

/// A job that waits far past any timeout, counting itself if it is dropped mid-wait.
async fn wait_forever() -> Result<u32, &'static str> {
    struct Guard(bool);
    impl Drop for Guard {
        fn drop(&mut self) {
            if !self.0 {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let mut guard = Guard(false);
    embassy_time::Timer::after_secs(3600).await;
    guard.0 = true;
    Ok(0)
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    stack::paint();
    heap::init();
    let peripherals = cortex_m::Peripherals::take().expect("taken once");
    systick::start(peripherals.SYST);

    let (pool, workers) = LocalPoolBuilder::new(sleep as Sleeper)
        .workers(2)
        .queue(8)
        .timeout(Duration::from_millis(20))
        .retries(2)
        .backoff(Backoff::exponential(Duration::from_millis(5)).with_jitter())
        .jitter_seed(7)
        .build_workers()
        .expect("valid options");
    let pool: &'static LocalPool<Sleeper> = POOL.init(pool);
    for work in workers {
        spawner.spawn(worker(work).expect("a task slot per worker"));
    }

    let mut wrong = 0;
    wrong += scenario(pool).await;
    let report = pool.shutdown().await;
    let m = report.metrics;
    hprintln!(
        "metrics: submitted {} = succeeded {} + failed {} + cancelled {}; retried {}, timed out {}, workers {}",
        m.submitted, m.succeeded, m.failed, m.cancelled, m.retried, m.timed_out, m.workers
    );
    let got = (m.submitted, m.succeeded, m.failed, m.cancelled, m.retried, m.timed_out, m.workers);
    wrong += check("metrics", got, (8, 4, 2, 2, 3, 2, 0));
    wrong += check("balanced", m.submitted, m.succeeded + m.failed + m.cancelled);
    wrong += check("attempts dropped", DROPPED.load(Ordering::Relaxed), 3);
    // Two 20 ms timeouts and a backoff of at least 5 ms lie on the hang job's path alone.
    let elapsed = embassy_time::Instant::now().as_millis();
    hprintln!("time: {} ms of SysTick", elapsed);
    wrong += check("SysTick time passed", elapsed >= 45, true);

    figures(&spawner).await;
    #[cfg(feature = "oom")]
    out_of_memory(&spawner).await;

    if wrong == 0 {
        hprintln!("verdict: every outcome and the metrics as expected");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("verdict: {} unexpected", wrong);
        debug::exit(debug::EXIT_FAILURE);
    }
}

/// The demo's jobs; returns how many outcomes differed from the expected.
async fn scenario(pool: &'static LocalPool<Sleeper>) -> u32 {
    let mut quick = Vec::new();
    for i in 0..3u32 {
        quick.push(pool.submit(Job::new(move |_| async move { Ok::<_, &str>(i) })).await.ok());
    }
    let flaky = pool
        .submit(Job::new(|a: Attempt| async move {
            if a.number() < 3 {
                Err("not yet")
            } else {
                Ok(a.number())
            }
        }))
        .await
        .ok();
    let hang = pool.submit(Job::new(|_| wait_forever()).retries(1)).await.ok();
    let running = pool.submit(Job::new(|_| wait_forever()).no_timeout()).await.ok();
    let permanent = pool
        .submit(
            Job::new(|_| async { Err::<u32, _>("bad request") })
                .retry_if(|e: &&str| *e != "bad request"),
        )
        .await
        .ok();
    // Submitted and cancelled before the workers run again: it never starts.
    let queued = pool.submit(Job::new(|_| wait_forever())).await.ok();
    if let Some(h) = &queued {
        h.cancel();
    }
    // Cancel the long job once it is running.
    while pool.metrics().started < 6 {
        embassy_time::Timer::after_millis(1).await;
    }
    if let Some(h) = &running {
        h.cancel();
    }

    let mut wrong = 0;
    for (i, h) in quick.into_iter().enumerate() {
        wrong += outcome("quick", h, Ok(i as u32)).await;
    }
    wrong += outcome("flaky", flaky, Ok(3)).await;
    wrong += outcome("hang", hang, Err(JobError::TimedOut { attempts: 2 })).await;
    wrong += outcome("cancelled running", running, Err(JobError::Cancelled { attempts: 1 })).await;
    wrong += outcome("cancelled queued", queued, Err(JobError::Cancelled { attempts: 0 })).await;
    let failed = Err(JobError::Failed { error: "bad request", attempts: 1 });
    wrong += outcome("permanent", permanent, failed).await;
    wrong
}

async fn outcome<H, T>(name: &str, handle: Option<H>, want: T) -> u32
where
    H: Future<Output = T>,
    T: Debug + PartialEq,
{
    let Some(handle) = handle else {
        hprintln!("{}: refused", name);
        return 1;
    };
    let got = handle.await;
    hprintln!("{}: {:?}", name, got);
    check(name, got, want)
}

fn check<T: Debug + PartialEq>(what: &str, got: T, want: T) -> u32 {
    if got == want {
        0
    } else {
        hprintln!("UNEXPECTED {}: got {:?}, expected {:?}", what, got, want);
        1
    }
}

/// Heap bytes per queued job, allocations per job, and the stack's high-water mark.
async fn figures(spawner: &Spawner) {
    // Few enough for the micro:bit's heap, which the scenario's pool (in its static) shares.
    const N: usize = 16;
    // Queued: a pool whose worker nobody runs.
    let (idle, _workers) = LocalPoolBuilder::new(sleep as Sleeper)
        .workers(1)
        .queue(N)
        .build_workers()
        .expect("valid options");
    let mut handles = Vec::with_capacity(N);
    let before = heap::used();
    for i in 0..N as u32 {
        handles.push(idle.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).ok());
    }
    let queued = (heap::used() - before) / N;
    drop(handles);
    drop(idle);
    drop(_workers);

    // Run: a one-worker pool; N plain jobs one at a time (the worker waits for each), then N
    // submitted back to back and awaited together.
    let (pool, workers) = LocalPoolBuilder::new(sleep as Sleeper)
        .workers(1)
        .queue(N)
        .build_workers()
        .expect("valid options");
    for work in workers {
        spawner.spawn(worker(work).expect("a task slot per worker"));
    }
    let before = heap::allocations();
    for i in 0..N as u32 {
        if let Ok(h) = pool.submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).await {
            let _ = h.await;
        }
    }
    let one_at_a_time = heap::allocations() - before;

    let mut handles = Vec::with_capacity(N);
    let before = heap::allocations();
    for i in 0..N as u32 {
        handles.push(pool.submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).await.ok());
    }
    for h in handles.into_iter().flatten() {
        let _ = h.await;
    }
    let back_to_back = heap::allocations() - before;
    pool.shutdown().await;

    hprintln!(
        "figures: heap {} B; {} B per queued job; allocations for {} jobs: {} one at a time, {} back to back; stack high-water {} B",
        heap::SIZE,
        queued,
        N,
        one_at_a_time,
        back_to_back,
        stack::high_water()
    );
}

/// Submits jobs until the heap runs out. Allocation failure is not a typed error in `no_std`
/// Rust: it goes to the alloc error handler, which panics, and the panic handler below reports
/// it and exits. Never a hang.
#[cfg(feature = "oom")]
async fn out_of_memory(spawner: &Spawner) {
    let _ = spawner;
    let (pool, _workers) = LocalPoolBuilder::new(sleep as Sleeper)
        .queue(workcrew::MAX_QUEUE)
        .build_workers()
        .expect("valid options");
    let mut handles = Vec::new();
    for i in 0u32.. {
        if i % 32 == 0 {
            hprintln!("oom: {} jobs queued, {} heap bytes used", i, heap::used());
        }
        handles.push(pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).ok());
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
