//! The built-in runtime leaves no thread behind: every pool's worker threads end once it is
//! shut down, or once its last handle is dropped. (Its own test binary, so that no other test's
//! threads are counted.)
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use workcrew::native::block_on;
use workcrew::{Job, Pool};

/// This process's threads whose name starts with `prefix`, as Linux lists them.
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn two_thousand_pools_made_and_stopped_leave_no_thread_behind() {
    let workers = || threads("workcrew-") - threads("workcrew-timer");
    for i in 0..2_000u32 {
        let pool = Pool::builder().workers(2).queue(4).build().unwrap();
        let job = pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).unwrap();
        assert_eq!(block_on(job), Ok(i));
        if i % 2 == 0 {
            let report = block_on(pool.shutdown());
            assert_eq!(report.metrics.workers, 0);
        } // else: dropped, which closes it; its workers finish and stop by themselves
    }
    // The dropped pools' workers stop on their own; give them a generous while to. A thread
    // that is exiting can drop out of one listing of /proc/self/task and show in the next, so
    // the wait ends on three empty listings in a row.
    let start = Instant::now();
    let mut empty = 0;
    while empty < 3 && start.elapsed() < Duration::from_secs(60) {
        empty = if workers() == 0 { empty + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(workers(), 0, "worker threads left behind");
    assert!(threads("workcrew-timer") <= 1, "one shared timer thread at most");
}
