//! Soak: millions of mixed jobs through the built-in pool; memory must stay flat, every job must
//! settle, and the metrics must balance.
//!
//!   cargo run --release --example soak              (10,000,000 jobs)
//!   cargo run --release --example soak -- 300000    (the short version CI runs)
//!
//! The mix, per 1,000 jobs: 1 hangs (three 1 ms timeouts), 1 panics (three times), 8 fail twice
//! and then succeed, 5 are cancelled through their handle, the rest succeed at once.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn main() {}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn main() {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};
    use workcrew::native::block_on;
    use workcrew::{Attempt, Backoff, Job, JobError, Pool};

    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    // Quiet: the soak's own panics are expected and caught by the pool.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"soak panic") {
            default_hook(info);
        }
    }));
    let rss = || -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);

    let pool = Pool::builder()
        .workers(4)
        .queue(1024)
        .retries(2)
        .backoff(Backoff::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("valid config");
    let start = Instant::now();
    let rss_start = rss();
    let mut samples = Vec::new();
    let (mut ok, mut failed, mut cancelled) = (0u64, 0u64, 0u64);
    block_on(async {
        let mut window = VecDeque::with_capacity(4096);
        for i in 0..n {
            let kind = i % 1000;
            let mut job = Job::new(move |a: Attempt| async move {
                match kind {
                    0 => futures_lite::future::pending().await,
                    1 => panic!("soak panic"),
                    2..=9 if a.number() < 3 => Err("transient"),
                    _ => Ok(i),
                }
            });
            if kind == 0 {
                job = job.timeout(Duration::from_millis(1));
            }
            let handle = pool.submit(job).await.expect("the pool is open");
            if (10..15).contains(&kind) {
                handle.cancel();
            }
            window.push_back(handle);
            if window.len() == 4096 {
                match window.pop_front().unwrap().await {
                    Ok(_) => ok += 1,
                    Err(JobError::Cancelled { .. }) => cancelled += 1,
                    Err(_) => failed += 1,
                }
            }
            if (i + 1) % (n / 10).max(1) == 0 {
                samples.push((i + 1, rss()));
            }
        }
        for handle in window {
            match handle.await {
                Ok(_) => ok += 1,
                Err(JobError::Cancelled { .. }) => cancelled += 1,
                Err(_) => failed += 1,
            }
        }
    });
    let report = block_on(pool.shutdown());
    let elapsed = start.elapsed();
    let m = report.metrics;

    println!("soak: {n} jobs in {elapsed:.1?} ({:.0} jobs/s)", n as f64 / elapsed.as_secs_f64());
    println!("RSS at start: {:.1} MiB", mib(rss_start));
    for (jobs, bytes) in &samples {
        println!("RSS after {jobs:>10} jobs: {:.1} MiB", mib(*bytes));
    }
    println!("handles: {ok} ok, {failed} failed, {cancelled} cancelled");
    println!(
        "metrics: submitted {} = succeeded {} + failed {} + cancelled {}; timed out {}, panicked {}, retried {}",
        m.submitted, m.succeeded, m.failed, m.cancelled, m.timed_out, m.panicked, m.retried
    );
    assert_eq!(ok + failed + cancelled, n, "every handle resolved");
    assert_eq!((m.succeeded, m.failed, m.cancelled), (ok, failed, cancelled));
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "metrics balance");
    // Flat: from the first sample (after warm-up) to the last, RSS grows by at most 8 MiB.
    let (first, last) = (samples.first().unwrap().1, samples.last().unwrap().1);
    let growth = last.saturating_sub(first);
    println!("RSS growth after warm-up: {:.1} MiB", mib(growth));
    assert!(growth <= 8 << 20, "memory is not flat: grew {:.1} MiB", mib(growth));
    println!("nothing lost");
}
