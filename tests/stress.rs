//! Stress on real threads: several submitters, random cancels, and a shutdown with a deadline in
//! the middle, many times over. Whatever the interleaving: every accepted job settles exactly
//! once, no handle hangs, no job body runs after its cancellation was confirmed, and the metrics
//! balance. `STRESS_ROUNDS=500 cargo test --release --test stress` for a longer run.
#![cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures_lite::future;
use workcrew::native::{block_on, NativeTimer};
use workcrew::{Backoff, Job, JobError, Pool, Sleeper};

/// Yields once: the job gives its worker back to the executor, as at an await point.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// xorshift: reproducible randomness per thread and round.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

struct Tracked {
    handle: workcrew::JobHandle<usize, ()>,
    runs: Arc<AtomicUsize>,
    id: usize,
}

#[test]
fn submitters_cancels_and_a_deadline_shutdown_lose_nothing() {
    const SUBMITTERS: usize = 4;
    let rounds: u64 =
        std::env::var("STRESS_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    for round in 0..rounds {
        let pool = Pool::builder()
            .workers(3)
            .queue(32)
            .timeout(Duration::from_millis(50))
            .retries(1)
            .backoff(Backoff::none())
            .build()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(SUBMITTERS + 1));
        let threads: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let (pool, accepted, start) = (pool.clone(), accepted.clone(), start.clone());
                thread::spawn(move || {
                    let mut rand = rng(round * 131 + t as u64 + 1);
                    start.wait();
                    let (mut tracked, mut refused) = (Vec::<Tracked>::new(), 0usize);
                    for i in 0.. {
                        let id = t * 1_000_000 + i;
                        let runs = Arc::new(AtomicUsize::new(0));
                        let (r, spins) = (runs.clone(), rand() % 50);
                        let job = Job::new(move |_| {
                            let r = r.clone();
                            async move {
                                // A few steps with await points; one job in 50 spins until its
                                // timeout or a cancel stops it.
                                let mut step = 0;
                                loop {
                                    r.fetch_add(1, Ordering::SeqCst);
                                    YieldNow(false).await;
                                    step += 1;
                                    if spins != 0 && step == 4 {
                                        return Ok(id);
                                    }
                                }
                            }
                        });
                        let submitted = if rand() % 2 == 0 {
                            block_on(pool.submit(job))
                        } else {
                            pool.try_submit(job)
                        };
                        match submitted {
                            Ok(handle) => {
                                accepted.fetch_add(1, Ordering::SeqCst);
                                tracked.push(Tracked { handle, runs, id });
                            }
                            Err(e) if e.is_full() => refused += 1,
                            Err(_closed) => {
                                refused += 1;
                                break;
                            }
                        }
                        // Cancel a random earlier job now and then.
                        if rand() % 5 == 0 {
                            let k = (rand() as usize) % tracked.len().max(1);
                            if let Some(victim) = tracked.get(k) {
                                victim.handle.cancel();
                            }
                        }
                    }
                    // Settle every handle, with a watchdog: none may hang.
                    let mut settled = Vec::new();
                    for t in tracked {
                        let watchdog = async {
                            NativeTimer.sleep(Duration::from_secs(20)).await;
                            panic!("job {} never settled", t.id)
                        };
                        let result = block_on(future::or(t.handle, watchdog));
                        let runs_when_settled = t.runs.load(Ordering::SeqCst);
                        settled.push((t.id, result, t.runs, runs_when_settled));
                    }
                    (settled, refused)
                })
            })
            .collect();
        start.wait();
        while accepted.load(Ordering::SeqCst) < 200 {
            thread::yield_now();
        }
        let report = block_on(pool.shutdown_timeout(Duration::from_millis(20)));
        let (mut n, mut ok, mut failed, mut cancelled, mut refused) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut after_settle = Vec::new();
        for t in threads {
            let (settled, r) = t.join().unwrap();
            refused += r as u64;
            for (id, result, runs, at) in settled {
                n += 1;
                match result {
                    Ok(v) => {
                        assert_eq!(v, id);
                        ok += 1;
                    }
                    Err(JobError::Cancelled { .. }) => cancelled += 1,
                    Err(e) => {
                        assert!(e.is_timeout(), "round {round}: job {id}: {e:?}");
                        failed += 1;
                    }
                }
                after_settle.push((id, runs, at));
            }
        }
        // Give any stray work a chance to show itself, then check nothing ran after it ended.
        thread::sleep(Duration::from_millis(30));
        for (id, runs, at) in after_settle {
            assert_eq!(
                runs.load(Ordering::SeqCst),
                at,
                "round {round}: job {id} ran after it settled"
            );
        }
        let m = pool.metrics();
        assert_eq!(m, report.metrics.with_rejected(m.rejected), "round {round}");
        assert_eq!(m.submitted, n, "round {round}: every accepted job settled once");
        assert_eq!(m.rejected, refused, "round {round}: every refusal was reported");
        assert_eq!((m.succeeded, m.failed, m.cancelled), (ok, failed, cancelled), "round {round}");
        assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "round {round}");
        assert_eq!((m.queued, m.running), (0, 0), "round {round}");
    }
}
