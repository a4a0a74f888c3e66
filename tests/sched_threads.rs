//! The scheduler on real threads (the built-in runtime): the wake-ups the deterministic tests
//! cannot see (their scheduler polls every task on any wake). Each test must finish, count
//! every job once, and keep its limits; a watchdog turns a lost wake-up into a failure instead
//! of a hang. Bounds on time are generous: these check progress, not speed.
#![cfg(all(not(target_arch = "wasm32"), feature = "std"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use workcrew::native::block_on;
use workcrew::{Job, JobError, Metrics, Pool};

/// Runs `f` on its own thread; fails if it takes more than a minute (a lost wake-up).
fn within_a_minute(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => t.join().unwrap(), // it panicked: report it
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no progress for a minute: a lost wake-up"),
    }
}

fn at_rest(m: Metrics, submitted: u64) {
    assert_eq!(m.submitted, submitted);
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "{m:?}");
    assert_eq!((m.queued, m.running, m.waiting_on_key), (0, 0, 0), "{m:?}");
}

#[test]
fn waiting_submitters_on_four_threads_all_get_in() {
    within_a_minute(|| {
        let pool = Pool::builder().workers(2).queue(8).build().unwrap();
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    block_on(async {
                        let mut handles = Vec::new();
                        for i in 0..2000u64 {
                            let job = Job::new(move |_| async move { Ok::<_, ()>(p * 10_000 + i) });
                            handles.push(pool.submit(job).await.unwrap());
                        }
                        for (i, h) in handles.into_iter().enumerate() {
                            assert_eq!(h.await, Ok(p * 10_000 + i as u64));
                        }
                    })
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        at_rest(block_on(pool.shutdown()).metrics, 8000);
    });
}

#[test]
fn keys_stay_within_their_limit_on_four_workers() {
    within_a_minute(|| {
        let pool = Pool::builder().workers(4).per_key(1).queue(10_000).build().unwrap();
        let running: Arc<[AtomicUsize; 8]> = Arc::new(Default::default());
        let peak: Arc<[AtomicUsize; 8]> = Arc::new(Default::default());
        let handles: Vec<_> = (0..4000usize)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                let key = i % 8;
                let job = Job::new(move |_| {
                    let (running, peak) = (running.clone(), peak.clone());
                    async move {
                        let now = running[key].fetch_add(1, Ordering::SeqCst) + 1;
                        peak[key].fetch_max(now, Ordering::SeqCst);
                        futures_lite::future::yield_now().await;
                        running[key].fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(i)
                    }
                })
                .key(key as u64)
                .priority((i % 3) as i32);
                pool.try_submit(job).unwrap()
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(block_on(h), Ok(i));
        }
        assert!(peak.iter().all(|p| p.load(Ordering::SeqCst) == 1));
        at_rest(block_on(pool.shutdown()).metrics, 4000);
    });
}

#[test]
fn the_rate_limit_holds_in_every_window_with_retries() {
    within_a_minute(|| {
        let (cap, interval) = (20, Duration::from_millis(40));
        let pool = Pool::builder()
            .workers(4)
            .retries(1)
            .backoff(workcrew::Backoff::none())
            .rate_limit(cap, interval)
            .build()
            .unwrap();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..100u32)
            .map(|i| {
                let starts = starts.clone();
                pool.try_submit(Job::new(move |a: workcrew::Attempt| {
                    starts.lock().unwrap().push(Instant::now());
                    let fail = i % 4 == 0 && a.number() == 1;
                    async move {
                        if fail {
                            Err(())
                        } else {
                            Ok(a.number())
                        }
                    }
                }))
                .unwrap()
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(block_on(h), Ok(if i % 4 == 0 { 2 } else { 1 }));
        }
        let mut starts = starts.lock().unwrap().clone();
        starts.sort();
        assert_eq!(starts.len(), 125, "100 first attempts and 25 retries");
        // A token goes back `interval` after it was taken, a little before the job's function
        // records its start: allow 2 ms for that.
        let window = interval - Duration::from_millis(2);
        for (i, t) in starts.iter().enumerate() {
            let in_window = starts[i..].iter().take_while(|u| **u - *t < window).count();
            assert!(in_window <= cap, "{in_window} starts within {window:?}");
        }
        at_rest(block_on(pool.shutdown()).metrics, 100);
    });
}

#[test]
fn pause_resume_and_concurrency_changes_racing_the_workers_lose_nothing() {
    within_a_minute(|| {
        let pool = Pool::builder().workers(4).concurrency(1).queue(64).build().unwrap();
        let p = pool.clone();
        let stop = Arc::new(AtomicUsize::new(0));
        let s = stop.clone();
        let churn = std::thread::spawn(move || {
            let mut n = 0;
            while s.load(Ordering::SeqCst) == 0 {
                n += 1;
                if n % 2 == 0 {
                    p.pause()
                } else {
                    p.resume()
                }
                p.set_concurrency(1 + n % 4).unwrap();
                std::thread::yield_now();
            }
            p.resume();
        });
        block_on(async {
            let mut handles = Vec::new();
            for i in 0..5000u32 {
                handles.push(
                    pool.submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).await.unwrap(),
                );
            }
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await, Ok(i as u32));
            }
        });
        stop.store(1, Ordering::SeqCst);
        churn.join().unwrap();
        at_rest(block_on(pool.shutdown()).metrics, 5000);
    });
}

#[test]
fn cancels_and_clears_racing_the_workers_count_each_job_once() {
    within_a_minute(|| {
        let pool = Pool::builder().workers(2).queue(100_000).per_key(2).build().unwrap();
        let handles: Vec<_> = (0..20_000u32)
            .map(|i| {
                let job = Job::new(move |_| async move { Ok::<_, ()>(i) }).key(u64::from(i % 5));
                pool.try_submit(job).unwrap()
            })
            .collect();
        let handles = Arc::new(handles);
        let h = handles.clone();
        let canceller = std::thread::spawn(move || {
            let mut yes = 0;
            for handle in h.iter().step_by(2) {
                yes += usize::from(handle.cancel());
            }
            yes
        });
        let p = pool.clone();
        let clearer = std::thread::spawn(move || (0..50).map(|_| p.clear()).sum::<usize>());
        let cancelled_by_handle = canceller.join().unwrap();
        let cleared = clearer.join().unwrap();
        let m = block_on(pool.shutdown()).metrics;
        at_rest(m, 20_000);
        let handles = Arc::try_unwrap(handles).unwrap_or_else(|_| unreachable!());
        let mut ended_cancelled = 0;
        for (i, h) in handles.into_iter().enumerate() {
            match block_on(h) {
                Ok(v) => assert_eq!(v, i as u32),
                Err(JobError::Cancelled { .. }) => ended_cancelled += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ended_cancelled as u64, m.cancelled);
        assert_eq!(m.cancelled as usize, cancelled_by_handle + cleared);
    });
}

#[test]
fn until_queued_below_wakes_on_real_threads() {
    within_a_minute(|| {
        let pool = Pool::builder().workers(2).queue(1000).build().unwrap();
        block_on(async {
            for i in 0..20_000u32 {
                pool.until_queued_below(16).await;
                assert!(pool.metrics().queued < 16);
                drop(pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).unwrap());
            }
        });
        at_rest(block_on(pool.shutdown()).metrics, 20_000);
    });
}
