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
