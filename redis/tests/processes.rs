//! The failure tests: consumer processes (the `consumer` example) against a real
//! `redis-server`, killed, stopped, terminated, and Redis itself restarted.
//!
//! Metrics lines are `read claimed acked dead released leases_lost acks_refused held reconnects`.

mod common;

use std::time::{Duration, Instant};

use common::*;

const READ: usize = 0;
const CLAIMED: usize = 1;
const ACKED: usize = 2;
const DEAD: usize = 3;
const RELEASED: usize = 4;
const LOST: usize = 5;
const REFUSED: usize = 6;
const HELD: usize = 7;
const RECONNECTS: usize = 8;

fn adds_up(m: &[u64]) {
    assert_eq!(m[READ] + m[CLAIMED], m[ACKED] + m[DEAD] + m[RELEASED] + m[LOST] + m[HELD], "{m:?}");
    assert_eq!(m[HELD], 0, "{m:?}");
}

fn effects(c: &mut redis::Connection, q: &str) -> (u64, u64, u64) {
    (
        hlen(c, &format!("{{{q}}}:effects")),
        get_u64(c, &format!("{{{q}}}:effect_total")),
        hsum(c, &format!("{{{q}}}:dups")),
    )
}

/// 3 consumers, 3,000 jobs; one gets SIGKILL while it holds jobs. Every effect happens once,
/// none is lost, redeliveries number no more than what the killed one held, and the pending
/// list and the dead stream end empty.
#[test]
fn kill_one_of_three_consumers() {
    let _turn = serial();
    let server = Server::start(&[]);
    let q = "kill";
    let env = [("WORKERS", "4"), ("LEASE_MS", "1500"), ("CLAIM_MS", "100")];
    let mut victim = Proc::consumer(&server, q, &env);
    let mut a = Proc::consumer(&server, q, &env);
    let mut b = Proc::consumer(&server, q, &env);
    enqueue(&server, q, "job", 3000, r#"{"ms":4}"#, None);
    let mut c = server.conn();
    wait_for(Duration::from_secs(60), "300 effects and the victim holding jobs", || {
        (effects(&mut c, q).0 >= 300 && pending(&mut c, q, Some(&victim.name)) > 0).then_some(())
    });
    victim.signal("KILL");
    victim.wait(Duration::from_secs(10));
    let held = pending(&mut c, q, Some(&victim.name));
    assert!(held > 0, "the victim held nothing when killed");

    wait_for(Duration::from_secs(90), "all 3,000 effects and nothing pending", || {
        (effects(&mut c, q).0 == 3000 && pending(&mut c, q, None) == 0).then_some(())
    });
    let (ma, mb) = (a.stop(), b.stop());
    let (recorded, applied, dups) = effects(&mut c, q);
    assert_eq!((recorded, applied), (3000, 3000), "every effect exactly once");
    let redelivered = ma[CLAIMED] + mb[CLAIMED];
    assert!(redelivered >= 1, "the killed consumer's jobs were redelivered");
    assert!(redelivered <= held, "redeliveries {redelivered} > held by the killed {held}");
    assert!(dups <= held, "duplicate runs {dups} > held {held}");
    for m in [&ma, &mb] {
        adds_up(m);
        assert_eq!((m[DEAD], m[LOST]), (0, 0), "{m:?}");
    }
    assert_eq!(pending(&mut c, q, None), 0);
    assert_eq!(xlen(&mut c, "{kill}:dead"), 0);
    assert_eq!(xlen(&mut c, "{kill}:stream"), 0, "acked entries are deleted");
    // The survivors left the group; the killed one's name stays, with nothing pending.
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("{kill}:stream")
        .arg("workcrew")
        .query(&mut c)
        .unwrap();
    assert!(consumers.len() <= 2, "{consumers:?}");
}

/// A consumer stopped (SIGSTOP) for twice its lease, then continued: its entries were taken
/// over, its leases are reported lost, its late acks refused, and every effect happened once.
#[test]
fn stalled_consumer_loses_its_leases() {
    let _turn = serial();
    let server = Server::start(&[]);
    let q = "stall";
    let lease_ms = 1000;
    let env = [("WORKERS", "4"), ("LEASE_MS", "1000"), ("CLAIM_MS", "100")];
    let mut stalled = Proc::consumer(&server, q, &env);
    // Jobs that block their thread: the stopped process resumes in the middle of them. It
    // holds all 8 (4 running, 4 queued in its pool) when it is stopped.
    enqueue(&server, q, "job", 8, r#"{"block_ms":600}"#, None);
    let mut c = server.conn();
    wait_for(Duration::from_secs(30), "the consumer to hold all 8", || {
        (pending(&mut c, q, Some(&stalled.name)) == 8).then_some(())
    });
    stalled.signal("STOP");
    let stopped = Instant::now();
    let mut other = Proc::consumer(&server, q, &env);
    wait_for(Duration::from_secs(30), "the other consumer to take them over", || {
        (pending(&mut c, q, Some(&stalled.name)) == 0).then_some(())
    });
    let until = stopped + Duration::from_millis(2 * lease_ms);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    stalled.signal("CONT");
    wait_for(Duration::from_secs(60), "all 8 effects and nothing pending", || {
        (effects(&mut c, q).0 == 8 && pending(&mut c, q, None) == 0).then_some(())
    });
    stalled.signal("TERM");
    let status = stalled.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    let ms = stalled.metrics();
    let mo = other.stop();
    let (recorded, applied, _dups) = effects(&mut c, q);
    assert_eq!((recorded, applied), (8, 8), "every effect exactly once");
    // All 8 were taken over while it was stopped. (Were the other consumer starved for a
    // lease, the resumed one could take some back in turn: those would count on both sides.)
    assert!(ms[LOST] >= 8, "the stalled consumer reports its 8 leases lost: {ms:?}");
    assert!(ms[REFUSED] >= 8, "its late settlements were all refused: {ms:?}");
    assert!(mo[CLAIMED] >= 8, "the other consumer took over: {mo:?}");
    adds_up(&ms);
    adds_up(&mo);
    assert_eq!(xlen(&mut c, "{stall}:dead"), 0);
}

/// Poison: a job that always fails is dead with attempts = retries + 1; an undecodable entry is
/// dead at once; a job that aborts its process is dead after max_deliveries, unrun the last time.
#[test]
fn poison_jobs_reach_the_dead_stream() {
    let _turn = serial();
    let server = Server::start(&[]);
    let q = "poison";
    let mut c = server.conn();
    let env =
        [("WORKERS", "2"), ("LEASE_MS", "1000"), ("CLAIM_MS", "100"), ("MAX_DELIVERIES", "2")];
    let mut consumer = Proc::consumer(&server, q, &env);
    enqueue(&server, q, "fails", 1, r#"{"fail":true}"#, Some(2));
    enqueue(&server, q, "notjson", 1, "{not json", None);
    let _: String = redis::cmd("XADD")
        .arg("{poison}:stream")
        .arg("*")
        .arg("garbage")
        .arg("1")
        .query(&mut c)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("{poison}:stream")
        .arg("*")
        .arg("id")
        .arg("badretries")
        .arg("p")
        .arg("{}")
        .arg("retries")
        .arg("-1")
        .query(&mut c)
        .unwrap();
    wait_for(Duration::from_secs(30), "4 dead entries", || {
        (xlen(&mut c, "{poison}:dead") == 4).then_some(())
    });
    let m = consumer.stop();
    adds_up(&m);
    let dead = dead(&mut c, q);
    let fails = dead.iter().find(|d| d.get("id").map(String::as_str) == Some("fails-0")).unwrap();
    assert_eq!(fails["reason"], "failed");
    assert_eq!(fails["attempts"], "3", "retries + 1");
    assert_eq!(fails["deliveries"], "1");
    assert_eq!(fails["error"], "this job always fails");
    let undecodable: Vec<_> = dead.iter().filter(|d| d["reason"] == "undecodable").collect();
    assert_eq!(undecodable.len(), 3, "{dead:?}");
    for d in &undecodable {
        assert_eq!(d["deliveries"], "1", "dead at once: {d:?}");
        assert_eq!(d["attempts"], "0");
    }
    assert!(undecodable.iter().any(|d| d.get("garbage").is_some()), "the original fields are kept");

    // A job that aborts its process: each consumer that takes it dies; after max_deliveries (2)
    // the next one dead-letters it without running it.
    enqueue(&server, q, "abort", 1, r#"{"abort":true}"#, None);
    let started = Instant::now();
    let mut aborted = 0;
    while xlen(&mut c, "{poison}:dead") < 5 {
        assert!(started.elapsed() < Duration::from_secs(60), "the aborting job never died");
        let mut p = Proc::consumer(&server, q, &env);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if xlen(&mut c, "{poison}:dead") == 5 {
                p.stop();
                break;
            }
            if Instant::now() > until {
                panic!("a consumer neither aborted nor dead-lettered the job");
            }
            if p.line("metrics").is_none() && p.try_exited() {
                aborted += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(aborted, 2, "the job ran max_deliveries times");
    let dead = common::dead(&mut c, q);
    let abort = dead.iter().find(|d| d.get("id").map(String::as_str) == Some("abort-0")).unwrap();
    assert_eq!(abort["reason"], "deliveries");
    assert_eq!(abort["deliveries"], "3", "delivered max_deliveries + 1 times, the last unrun");
    assert_eq!(pending(&mut c, q, None), 0);
}

/// SIGTERM: the consumer drains what it can, releases the rest, exits 0 with nothing pending;
/// another consumer picks the released entries up within a second, their deliveries unspent.
#[test]
fn sigterm_releases_for_another_consumer() {
    let _turn = serial();
    let server = Server::start(&[]);
    let q = "term";
    let mut c = server.conn();
    // A long lease: only a release can hand the entries over within a second.
    let env = [
        ("WORKERS", "2"),
        ("IN_FLIGHT", "2"),
        ("LEASE_MS", "20000"),
        ("CLAIM_MS", "100"),
        ("DRAIN_MS", "200"),
    ];
    let mut first = Proc::consumer(&server, q, &env);
    enqueue(&server, q, "long", 2, r#"{"ms":600000}"#, None);
    wait_for(Duration::from_secs(20), "the first consumer to hold both", || {
        (pending(&mut c, q, Some(&first.name)) == 2).then_some(())
    });
    let second = Proc::consumer(&server, q, &env);
    let m = first.stop();
    let exited = Instant::now();
    assert_eq!(m[RELEASED], 2, "{m:?}");
    adds_up(&m);
    assert_eq!(
        pending(&mut c, q, Some(&first.name)),
        0,
        "nothing pending for the stopped consumer"
    );
    let name = second.name.clone();
    wait_for(Duration::from_secs(10), "the second consumer to take both", || {
        let p = pending_entries(&mut c, q);
        (p.len() == 2 && p.iter().all(|(_, who, _)| *who == name)).then_some(())
    });
    let took = exited.elapsed();
    assert!(took < Duration::from_secs(1), "picked up in {took:?}");
    for (id, _, deliveries) in pending_entries(&mut c, q) {
        assert_eq!(deliveries, 1, "the release spent no delivery of {id}");
    }
    second.signal("KILL");
}

/// Redis restarted mid-run with persistence on: the consumers reconnect, nothing is lost,
/// every effect happens once.
#[test]
fn redis_restart_loses_nothing() {
    let _turn = serial();
    let dir = std::env::temp_dir().join(format!("workcrew-redis-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Server::start_persistent(&dir);
    let q = "restart";
    let env = [("WORKERS", "4"), ("LEASE_MS", "5000"), ("CLAIM_MS", "100")];
    let mut a = Proc::consumer(&server, q, &env);
    let mut b = Proc::consumer(&server, q, &env);
    enqueue(&server, q, "job", 1000, r#"{"ms":5}"#, None);
    let mut c = server.conn();
    wait_for(Duration::from_secs(60), "100 effects", || {
        (effects(&mut c, q).0 >= 100).then_some(())
    });
    server.stop();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    let mut c = server.conn();
    assert!(effects(&mut c, q).0 < 1000, "the restart came too late to test anything");
    wait_for(Duration::from_secs(90), "all 1,000 effects and nothing pending", || {
        (effects(&mut c, q).0 == 1000 && pending(&mut c, q, None) == 0).then_some(())
    });
    let (ma, mb) = (a.stop(), b.stop());
    let (recorded, applied, _) = effects(&mut c, q);
    assert_eq!((recorded, applied), (1000, 1000));
    assert!(ma[RECONNECTS] >= 1 && mb[RECONNECTS] >= 1, "{ma:?} {mb:?}");
    adds_up(&ma);
    adds_up(&mb);
    assert_eq!(xlen(&mut c, "{restart}:dead"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
