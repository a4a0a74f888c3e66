//! The built-in runtime on real threads. Time-based assertions use generous bounds; the
//! concurrency test asserts only facts that hold under any interleaving.

#![cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{Count, DropFlag};
use futures_lite::future;
use workcrew::native::{block_on, NativeTimer};
use workcrew::{Backoff, Job, JobError, Pool, Sleeper};

#[test]
fn the_built_in_runtime_runs_jobs_on_its_worker_threads() {
    let pool = Pool::builder().workers(3).build().unwrap();
    let names: Vec<_> = (0..30)
        .map(|_| {
            pool.try_submit(Job::new(|_| async {
                Ok::<_, ()>(thread::current().name().unwrap_or("").to_owned())
            }))
            .unwrap()
        })
        .collect();
    let names: HashSet<_> = names.into_iter().map(|h| block_on(h).unwrap()).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("workcrew-")), "{names:?}");
    assert!(names.len() <= 3);
    block_on(pool.shutdown());
}

#[test]
fn a_hanging_job_times_out_in_real_time() {
    let pool = Pool::builder().workers(1).timeout(Duration::from_millis(30)).build().unwrap();
    let dropped = Count::new();
    let d = dropped.clone();
    let start = Instant::now();
    let h = pool
        .try_submit(Job::new(move |_| {
            let g = DropFlag(d.clone());
            async move {
                let _g = g;
                future::pending::<Result<(), ()>>().await
            }
        }))
        .unwrap();
    assert_eq!(block_on(h), Err(JobError::TimedOut { attempts: 1 }));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(30), "not before its timeout: {took:?}");
    assert!(took < Duration::from_secs(10), "and not much after: {took:?}");
    assert_eq!(dropped.get(), 1);
}

#[test]
fn backoff_and_sleeps_inside_jobs_use_the_workers_own_timers() {
    let pool = Pool::builder()
        .workers(2)
        .retries(2)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .build()
        .unwrap();
    let start = Instant::now();
    let h = pool
        .try_submit(Job::new(|a: workcrew::Attempt| async move {
            NativeTimer.sleep(Duration::from_millis(5)).await;
            if a.number() < 3 {
                Err("again")
            } else {
                Ok(a.number())
            }
        }))
        .unwrap();
    assert_eq!(block_on(h), Ok(3));
    assert!(start.elapsed() >= Duration::from_millis(25), "3 sleeps and 2 backoffs of 5 ms");
}

#[test]
fn native_timer_works_outside_block_on() {
    // Polled by another executor: served by the shared timer thread.
    let start = Instant::now();
    future::block_on(async {
        let a = NativeTimer.sleep(Duration::from_millis(20));
        let b = NativeTimer.sleep(Duration::from_millis(5));
        future::zip(a, b).await;
    });
    assert!(start.elapsed() >= Duration::from_millis(20));
    // An unreachable deadline never fires (and does not overflow).
    let mut forever = Box::pin(NativeTimer.sleep(Duration::MAX));
    assert!(future::block_on(future::poll_once(forever.as_mut())).is_none());
}

#[test]
fn shutdown_timeout_cancels_real_hanging_work() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| pool.try_submit(Job::new(|_| future::pending::<Result<(), ()>>())).unwrap())
        .collect();
    let report = block_on(pool.shutdown_timeout(Duration::from_millis(20)));
    assert!(report.timed_out);
    assert_eq!(report.cancelled, 4);
    for h in handles {
        assert!(block_on(h).unwrap_err().is_cancelled());
    }
}

/// Several threads submit while another shuts the pool down. Whatever the interleaving:
/// every accepted job settles exactly once, every refused one got an error, and the metrics
/// balance. Submitters keep going until the pool refuses them, so every round races the
/// shutdown.
#[test]
fn concurrent_submitters_and_a_shutdown_lose_nothing() {
    const SUBMITTERS: usize = 4;
    const MAX_PER_THREAD: usize = 1_000_000;
    for round in 0..10 {
        let pool = Pool::builder()
            .workers(3)
            .queue(64)
            .retries(2)
            .backoff(Backoff::none())
            .build()
            .unwrap();
        let accepted_total = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(SUBMITTERS + 1));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let (pool, start, accepted_total) =
                    (pool.clone(), start.clone(), accepted_total.clone());
                thread::spawn(move || {
                    start.wait();
                    let (mut accepted, mut refused) = (Vec::new(), 0usize);
                    for i in 0..MAX_PER_THREAD {
                        let id = t * MAX_PER_THREAD + i;
                        let runs = Arc::new(AtomicUsize::new(0));
                        let r = runs.clone();
                        // Fails on its first attempt one time in three, then succeeds.
                        let job = Job::new(move |a: workcrew::Attempt| {
                            r.fetch_add(1, Ordering::SeqCst);
                            async move {
                                if id % 3 == 0 && a.number() == 1 {
                                    Err(id)
                                } else {
                                    Ok(id)
                                }
                            }
                        });
                        let submitted = if i % 2 == 0 {
                            block_on(pool.submit(job))
                        } else {
                            pool.try_submit(job)
                        };
                        match submitted {
                            Ok(h) => {
                                if i % 7 == 0 {
                                    h.cancel();
                                }
                                accepted.push((id, h, runs));
                                accepted_total.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) if e.is_full() => refused += 1,
                            Err(_closed) => {
                                refused += 1;
                                break;
                            }
                        }
                    }
                    let settled: Vec<_> =
                        accepted.into_iter().map(|(id, h, runs)| (id, block_on(h), runs)).collect();
                    (settled, refused)
                })
            })
            .collect();
        start.wait();
        // Shut down in the middle of the submissions.
        while accepted_total.load(Ordering::SeqCst) < 500 {
            thread::yield_now();
        }
        let report = block_on(pool.shutdown());
        let (mut accepted, mut refused, mut ok, mut cancelled) = (0u64, 0u64, 0u64, 0u64);
        let mut seen = HashSet::new();
        for s in submitters {
            let (settled, r) = s.join().unwrap();
            assert!(r >= 1, "round {round}: every submitter ends on a refusal");
            refused += r as u64;
            for (id, result, runs) in settled {
                assert!(seen.insert(id), "job {id} settled twice");
                accepted += 1;
                let runs = runs.load(Ordering::SeqCst);
                match result {
                    Ok(v) => {
                        assert_eq!(v, id);
                        assert_eq!(runs, if id % 3 == 0 { 2 } else { 1 }, "job {id}");
                        ok += 1;
                    }
                    Err(JobError::Cancelled { attempts }) => {
                        assert_eq!(runs, attempts as usize, "job {id}");
                        cancelled += 1;
                    }
                    Err(e) => panic!("round {round}: job {id} ended with {e:?}"),
                }
            }
        }
        let m = pool.metrics();
        // Only refusals may grow after shutdown returned: late submitters are still refused.
        assert_eq!(m, report.metrics.with_rejected(m.rejected), "round {round}");
        assert_eq!(m.submitted, accepted, "round {round}");
        assert_eq!(m.rejected, refused, "round {round}");
        assert_eq!((m.succeeded, m.cancelled, m.failed), (ok, cancelled, 0));
        assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled);
        assert_eq!((m.queued, m.running), (0, 0));
    }
}
