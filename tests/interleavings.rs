//! Systematic interleavings: one scenario, every order of its actions (submits, a cancel, a
//! shutdown with a deadline, clock ticks), each with the workers polled in two orders. After
//! each run: every accepted job settled exactly once, every refused submission got an error,
//! no job body ran after its cancellation was confirmed, every job closure was dropped, and the
//! metrics balance.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{clock_pool, Clock, Count, DropFlag, Sim, MS};
use futures_lite::future;
use workcrew::{Attempt, Job, JobError, ShutdownReport};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

// In a browser run of `wasm-pack test` (see `build.rs`), these tests run in the browser.
#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Quick: done after 1 tick.
    SubmitA,
    /// Hangs: its 2-tick timeout and 1 retry end it, unless cancelled first.
    SubmitB,
    /// Fails once, then succeeds at once.
    SubmitC,
    CancelB,
    Shutdown,
    Tick,
}

const TICK: std::time::Duration = MS;

/// Every distinct permutation of `items` (which is sorted), in lexicographic order.
fn permutations(mut items: Vec<Action>, out: &mut Vec<Vec<Action>>) {
    items.sort();
    loop {
        out.push(items.clone());
        // Next permutation.
        let Some(i) = (0..items.len() - 1).rev().find(|&i| items[i] < items[i + 1]) else { return };
        let j = (i + 1..items.len()).rev().find(|&j| items[i] < items[j]).unwrap();
        items.swap(i, j);
        items[i + 1..].reverse();
    }
}

struct Job3 {
    handle: Option<workcrew::JobHandle<u32, &'static str>>,
    refused: bool,
    polls: Count,
}

fn run(order: &[Action], reverse: bool) {
    let (mut sim, clock) = (Sim::new(), Clock::new());
    sim.reverse = reverse;
    let pool = clock_pool(&mut sim, &clock, |b| b.workers(2).queue(2).timeout(TICK * 2).retries(1));
    let live = Count::new(); // job closures created
    let dropped = Count::new(); // job closures dropped
    let report: Rc<RefCell<Option<ShutdownReport>>> = Rc::default();
    let mut jobs: Vec<Job3> =
        (0..3).map(|_| Job3 { handle: None, refused: false, polls: Count::new() }).collect();
    let mut b_cancel_confirmed_at: Option<usize> = None;

    let submit = |k: usize, jobs: &mut Vec<Job3>, sim: &mut Sim| {
        let (c, polls, guard) = (clock.clone(), jobs[k].polls.clone(), DropFlag(dropped.clone()));
        live.hit();
        let job = Job::new(move |a: Attempt| {
            let _ = &guard;
            let (c, polls) = (c.clone(), polls.clone());
            async move {
                polls.hit();
                match k {
                    0 => {
                        c.sleep(TICK).await;
                        polls.hit();
                        Ok(0)
                    }
                    1 => loop {
                        c.sleep(TICK / 4).await; // a quarter tick of work per await point
                        polls.hit();
                    },
                    _ if a.number() == 1 => Err("first try fails"),
                    _ => Ok(2),
                }
            }
        });
        match pool.try_submit(job) {
            Ok(h) => jobs[k].handle = Some(h),
            Err(e) => {
                assert!(e.is_closed() || e.is_full(), "{order:?}");
                jobs[k].refused = true;
            }
        }
        sim.run_until_stalled();
    };

    for &action in order {
        match action {
            Action::SubmitA => submit(0, &mut jobs, &mut sim),
            Action::SubmitB => submit(1, &mut jobs, &mut sim),
            Action::SubmitC => submit(2, &mut jobs, &mut sim),
            Action::CancelB => {
                if let Some(h) = &jobs[1].handle {
                    h.cancel();
                }
                sim.run_until_stalled();
            }
            Action::Shutdown => {
                let (p, r) = (pool.clone(), report.clone());
                sim.spawn(async move {
                    *r.borrow_mut() = Some(p.shutdown_timeout(TICK * 3).await);
                });
                sim.run_until_stalled();
            }
            Action::Tick => {
                clock.advance(TICK / 4);
                sim.run_until_stalled();
                clock.advance(TICK / 4);
                sim.run_until_stalled();
                clock.advance(TICK / 2);
                sim.run_until_stalled();
            }
        }
        if b_cancel_confirmed_at.is_none() {
            if let Some(h) = &jobs[1].handle {
                if h.is_finished() && jobs[1].polls.get() > 0 {
                    b_cancel_confirmed_at = Some(jobs[1].polls.get());
                }
            }
        }
    }
    // Let everything end: the shutdown deadline or the timeouts do, within a few ticks.
    for _ in 0..12 {
        clock.advance(TICK / 4);
        sim.run_until_stalled();
    }
    let report = report.borrow().expect("the shutdown finished");
    assert_eq!(sim.live(), 0, "{order:?}: the workers and the shutdown finished");

    let (mut accepted, mut refused, mut settled) = (0, 0, [0u64; 3]);
    for (k, j) in jobs.iter_mut().enumerate() {
        if j.refused {
            refused += 1;
            continue;
        }
        let Some(h) = j.handle.take() else { continue };
        accepted += 1;
        let polls_at_end = j.polls.get();
        assert!(h.is_finished(), "{order:?}: job {k} never settled");
        match future::block_on(h) {
            Ok(v) => {
                assert_eq!(v as usize, k, "{order:?}");
                settled[0] += 1;
            }
            Err(JobError::Cancelled { .. }) => settled[2] += 1,
            Err(e) => {
                assert!(k == 1 && e.is_timeout(), "{order:?}: job {k}: {e:?}");
                settled[1] += 1;
            }
        }
        // Nothing ran after the job ended.
        clock.advance(TICK * 4);
        sim.run_until_stalled();
        assert_eq!(j.polls.get(), polls_at_end, "{order:?}: job {k} ran after it ended");
    }
    if let Some(at) = b_cancel_confirmed_at {
        assert!(jobs[1].polls.get() <= at + 1, "{order:?}: B ran after its cancel was confirmed");
    }
    // Refusals may come after the shutdown returned; everything else was over by then.
    let m = pool.metrics();
    assert_eq!(m, report.metrics.with_rejected(m.rejected), "{order:?}");
    assert_eq!(m.submitted, accepted, "{order:?}");
    assert_eq!(m.rejected, refused, "{order:?}");
    assert_eq!(
        (m.succeeded, m.failed, m.cancelled),
        (settled[0], settled[1], settled[2]),
        "{order:?}"
    );
    assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled, "{order:?}");
    assert_eq!((m.queued, m.running), (0, 0), "{order:?}");
    drop(pool);
    assert_eq!(dropped.get(), live.get(), "{order:?}: every job closure was dropped");
}

#[test]
fn every_order_of_submit_cancel_shutdown_and_ticks_loses_nothing() {
    use Action::*;
    let mut orders = Vec::new();
    permutations(
        vec![SubmitA, SubmitB, SubmitC, CancelB, Shutdown, Tick, Tick, Tick, Tick],
        &mut orders,
    );
    let mut explored = 0;
    for order in &orders {
        for reverse in [false, true] {
            run(order, reverse);
            explored += 1;
        }
    }
    // 9 actions, four of them identical: 9! / 4! orders, each with two poll orders.
    assert_eq!(explored, 2 * 362_880 / 24);
    println!("interleavings explored: {explored}");
}
