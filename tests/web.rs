//! The Rust API on the web (`web` feature), as a Rust application compiled to wasm32 uses it: a
//! `LocalPool` on [`WebTimer`] (`setTimeout`) with its workers on `spawn_local`. Run by
//! `wasm-pack test --node` and `--headless --chrome`. (The JavaScript API, the npm package, is
//! tested from its packed tarball: `npm/test/run.sh`.)
#![cfg(all(target_arch = "wasm32", feature = "web"))]

use core::time::Duration;
use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen_test::wasm_bindgen_test as test;
use workcrew::web::WebTimer;
use workcrew::{Job, JobError, LocalPoolBuilder, Sleeper};

// In a browser run of `wasm-pack test` (see `build.rs`), these tests run in the browser.
#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[test]
async fn a_web_sleep_never_ends_early() {
    // 1.5 ms rounds up to 2 ms, never down to 1.
    for d in [Duration::ZERO, Duration::from_micros(1_500), Duration::from_millis(20)] {
        let start = now_ms();
        WebTimer.sleep(d).await;
        let slept = now_ms() - start;
        // Date.now() counts whole milliseconds: allow one for the clock's own rounding.
        assert!(slept + 1.0 >= d.as_secs_f64() * 1000.0, "{d:?} took {slept} ms");
    }
}

/// Drops its flag's count when dropped: proof that a timed-out attempt was really dropped.
struct Dropped(Rc<Cell<u32>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
async fn timeouts_and_backoff_run_on_set_timeout() {
    let (pool, workers) = LocalPoolBuilder::new(WebTimer)
        .workers(2)
        .timeout(Duration::from_millis(10))
        .retries(1)
        .backoff(workcrew::Backoff::constant(Duration::from_millis(5)))
        .build_workers()
        .unwrap();
    for worker in workers {
        wasm_bindgen_futures::spawn_local(worker);
    }
    let dropped = Rc::new(Cell::new(0));
    let d = Rc::clone(&dropped);
    let start = now_ms();
    let hangs = pool
        .submit(Job::new(move |_| {
            let guard = Dropped(Rc::clone(&d));
            async move {
                let _guard = guard;
                core::future::pending::<Result<(), ()>>().await
            }
        }))
        .await
        .unwrap();
    let quick = pool
        .submit(Job::new(|attempt: workcrew::Attempt| async move {
            WebTimer.sleep(Duration::from_millis(1)).await;
            Ok::<_, ()>(attempt.number())
        }))
        .await
        .unwrap();
    assert_eq!(quick.await, Ok(1));
    assert!(matches!(hangs.await, Err(JobError::TimedOut { attempts: 2 })));
    // Two 10 ms attempts and a 5 ms backoff between them.
    assert!(now_ms() - start >= 24.0, "took {} ms", now_ms() - start);
    assert_eq!(dropped.get(), 2, "both timed-out attempts were dropped");
    let report = pool.shutdown().await;
    let m = report.metrics;
    assert_eq!((m.submitted, m.succeeded, m.failed, m.timed_out), (2, 1, 1, 2));
}

/// Spawns a local pool's workers on the page's event loop.
fn spawn(workers: Vec<impl core::future::Future<Output = ()> + 'static>) {
    for worker in workers {
        wasm_bindgen_futures::spawn_local(worker);
    }
}

/// What `named` jobs return: a boxed attempt.
type Attempt = core::pin::Pin<Box<dyn core::future::Future<Output = Result<(), ()>>>>;
type Log = Rc<std::cell::RefCell<Vec<&'static str>>>;

/// A job that records its name when it starts, then sleeps `ms` on `setTimeout`.
fn named(log: &Log, name: &'static str, ms: u64) -> Job<impl FnMut(workcrew::Attempt) -> Attempt> {
    let log = Rc::clone(log);
    Job::new(move |_| -> Attempt {
        log.borrow_mut().push(name);
        Box::pin(async move {
            WebTimer.sleep(Duration::from_millis(ms)).await;
            Ok(())
        })
    })
}

#[test]
async fn pause_priority_set_priority_and_clear_on_the_web() {
    let (pool, workers) = LocalPoolBuilder::new(WebTimer).workers(1).build_workers().unwrap();
    spawn(workers);
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    pool.pause();
    let low = pool.try_submit(named(&log, "low", 0).priority(-1)).unwrap();
    let a = pool.try_submit(named(&log, "a", 0)).unwrap();
    let b = pool.try_submit(named(&log, "b", 0)).unwrap();
    let high = pool.try_submit(named(&log, "high", 0).priority(3)).unwrap();
    let gone = pool.try_submit(named(&log, "gone", 0).priority(9)).unwrap();
    assert!(b.set_priority(3), "b is queued: it moves behind high");
    assert!(gone.cancel());
    assert_eq!(pool.metrics().queued, 4, "the cancelled job's place is free at once");
    WebTimer.sleep(Duration::from_millis(5)).await;
    assert!(log.borrow().is_empty(), "nothing starts while paused");
    pool.resume();
    for h in [high, b, a, low] {
        assert_eq!(h.await, Ok(()));
    }
    assert!(gone.await.unwrap_err().is_cancelled());
    assert_eq!(*log.borrow(), ["high", "b", "a", "low"]);

    // clear(): every queued job settles at once; the running one goes on.
    let running = pool.try_submit(named(&log, "running", 20)).unwrap();
    WebTimer.sleep(Duration::from_millis(2)).await;
    let queued: Vec<_> =
        (0..3).map(|_| pool.try_submit(named(&log, "cleared", 0)).unwrap()).collect();
    assert_eq!(pool.clear(), 3);
    assert!(queued.iter().all(|h| h.is_finished()), "each settled inside clear()");
    assert_eq!(running.await, Ok(()));
    let m = pool.shutdown().await.metrics;
    assert_eq!((m.succeeded, m.cancelled, m.queued), (5, 4, 0));
    assert!(!log.borrow().contains(&"cleared"));
}

#[test]
async fn per_key_and_until_queued_below_on_the_web() {
    let (pool, workers) =
        LocalPoolBuilder::new(WebTimer).workers(3).per_key(1).build_workers().unwrap();
    spawn(workers);
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let handles: Vec<_> = ["a", "a", "a", "b"]
        .into_iter()
        .map(|k| pool.try_submit(named(&log, k, 10).key(k)).unwrap())
        .collect();
    WebTimer.sleep(Duration::from_millis(3)).await;
    // One "a" runs; the other two wait on their key without a worker; "b" passes them.
    assert_eq!(*log.borrow(), ["a", "b"]);
    assert_eq!(pool.metrics().waiting_on_key, 2);
    pool.until_queued_below(2).await;
    assert!(pool.metrics().queued < 2);
    for h in handles {
        assert_eq!(h.await, Ok(()));
    }
    assert_eq!(pool.metrics().waiting_on_key, 0);
    pool.shutdown().await;
}

#[test]
async fn the_rate_limit_runs_on_set_timeout() {
    let (pool, workers) = LocalPoolBuilder::new(WebTimer)
        .workers(4)
        .rate_limit(2, Duration::from_millis(30))
        .build_workers()
        .unwrap();
    spawn(workers);
    let starts = Rc::new(std::cell::RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let starts = Rc::clone(&starts);
            pool.try_submit(Job::new(move |_| {
                starts.borrow_mut().push(now_ms());
                async { Ok::<_, ()>(()) }
            }))
            .unwrap()
        })
        .collect();
    WebTimer.sleep(Duration::from_millis(5)).await;
    assert!(pool.is_rate_limited());
    for h in handles {
        assert_eq!(h.await, Ok(()));
    }
    let starts = starts.borrow().clone();
    // No 3 starts within any 30 ms (Date.now() counts whole ms: 2 ms of slack for its rounding).
    for w in starts.windows(3) {
        assert!(w[2] - w[0] >= 28.0, "3 starts within {} ms: {starts:?}", w[2] - w[0]);
    }
    pool.set_rate_limit(None).unwrap();
    assert!(!pool.is_rate_limited());
    pool.shutdown().await;
}
