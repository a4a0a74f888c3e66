//! The adapter in-process against a real `redis-server`: idempotent enqueue, the consumer's
//! metrics and outcomes, and who may connect (a password, an ACL user limited to the queue's
//! keys, a wrong password refused at once).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use workcrew::Pool;
use workcrew_redis::{Consumer, Enqueue, Error, Outcome, Producer, Redis};

fn consume_n(redis: Redis, queue: &str, n: usize) -> workcrew_redis::Metrics {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let pool = Pool::builder().workers(2).build().unwrap();
    let consumer = Consumer::builder(redis, queue)
        .lease(Duration::from_secs(5))
        .on_settle(move |s| log.lock().unwrap().push(s.outcome))
        .start(pool, |d, _| async move {
            let v: serde_json::Value = d.json().map_err(|e| e.to_string())?;
            assert!(v.get("n").is_some());
            Ok::<(), String>(())
        })
        .unwrap();
    wait_for(Duration::from_secs(20), "all acked", || {
        (consumer.metrics().acked == n as u64).then_some(())
    });
    let report = consumer.shutdown();
    assert!(report.drained && report.left_group && report.abandoned == 0);
    assert!(report.metrics.adds_up());
    assert!(seen.lock().unwrap().iter().all(|o| *o == Outcome::Acked));
    report.metrics
}

#[test]
fn enqueue_is_idempotent_and_consumed_once() {
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    let mut producer = Producer::connect(&redis, "api").unwrap();
    let jobs: Vec<Enqueue> = (0..50)
        .map(|i| Enqueue::json(format!("j{i}"), &serde_json::json!({ "n": i })).unwrap())
        .collect();
    let first = producer.enqueue_many(&jobs).unwrap();
    assert!(first.iter().all(|e| !e.is_duplicate()));
    let again = producer.enqueue_many(&jobs).unwrap();
    assert!(again.iter().all(|e| e.is_duplicate()));
    assert_eq!(
        first.iter().map(|e| e.entry_id()).collect::<Vec<_>>(),
        again.iter().map(|e| e.entry_id()).collect::<Vec<_>>()
    );
    assert!(matches!(
        producer.enqueue(&Enqueue::new("", b"x".to_vec())),
        Err(Error::InvalidInput(_))
    ));
    let m = consume_n(redis, "api", 50);
    assert_eq!((m.read, m.acked, m.claimed, m.released), (50, 50, 0, 0));
    let mut c = server.conn();
    assert_eq!(xlen(&mut c, "{api}:stream"), 0);
    assert_eq!(pending(&mut c, "api", None), 0);
}

#[test]
fn bad_configuration_is_an_error_not_a_panic() {
    assert!(matches!(Redis::from_url("http://example.com"), Err(Error::InvalidUrl(_))));
    assert!(matches!(workcrew_redis::Keys::new("a{b}"), Err(Error::InvalidInput(_))));
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    let pool = || Pool::builder().workers(1).build().unwrap();
    let handler = |_, _| async { Ok::<(), String>(()) };
    let zero_lease =
        Consumer::builder(redis.clone(), "q").lease(Duration::ZERO).start(pool(), handler);
    assert!(matches!(zero_lease, Err(Error::InvalidInput(_))));
    let zero_deliveries =
        Consumer::builder(redis.clone(), "q").max_deliveries(0).start(pool(), handler);
    assert!(matches!(zero_deliveries, Err(Error::InvalidInput(_))));
    let nobody =
        Redis::from_url("redis://127.0.0.1:1").unwrap().connect_timeout(Duration::from_millis(500));
    assert!(matches!(Producer::connect(&nobody, "q"), Err(Error::Connect(_))));
}

#[test]
fn auth_password_and_acl_user() {
    let server = Server::start(&["--requirepass", "s3cret-pw"]);
    let mut admin = server.conn_as(Some("s3cret-pw"));
    // An ACL user that may use only the keys of queue `authq`, and only the commands the
    // adapter needs (docs/redis.md lists them).
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("worker")
        .arg("on")
        .arg(">w0rker-pw")
        .arg("resetkeys")
        .arg("~{authq}:*")
        .arg("resetchannels")
        .arg("-@all")
        .arg("+ping")
        .arg("+evalsha")
        .arg("+eval")
        .arg("+script|load")
        .arg("+xreadgroup")
        .arg("+xgroup|create")
        .arg("+xgroup|delconsumer")
        .arg("+xadd")
        .arg("+xack")
        .arg("+xdel")
        .arg("+xclaim")
        .arg("+xautoclaim")
        .arg("+xpending")
        .arg("+xrange")
        .arg("+get")
        .arg("+set")
        .query(&mut admin)
        .unwrap();
    let port = server.port;

    // A wrong password: a clear error at connect, at once, not a retry loop.
    for url in [
        format!("redis://:wrong@127.0.0.1:{port}"),
        format!("redis://worker:wrong@127.0.0.1:{port}"),
    ] {
        let started = Instant::now();
        let redis = Redis::from_url(&url).unwrap();
        match Producer::connect(&redis, "authq") {
            Err(Error::Auth(msg)) => assert!(!msg.contains("wrong"), "{msg}"),
            other => panic!("expected Error::Auth, got {other:?}"),
        }
        let pool = Pool::builder().workers(1).build().unwrap();
        let started_consumer =
            Consumer::builder(redis, "authq").start(pool, |_, _| async { Ok::<(), String>(()) });
        assert!(matches!(started_consumer, Err(Error::Auth(_))), "{started_consumer:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // No password at all.
    let anonymous = Redis::from_url(&server.url()).unwrap();
    assert!(matches!(Producer::connect(&anonymous, "authq"), Err(Error::Auth(_))));

    // The password from the URL; the Debug output and errors never show it.
    let with_password = Redis::from_url(&format!("redis://:s3cret-pw@127.0.0.1:{port}")).unwrap();
    assert!(!format!("{with_password:?}").contains("s3cret"));
    let mut producer = Producer::connect(&with_password, "authq").unwrap();
    assert!(!format!("{producer:?}").contains("s3cret"));
    producer.enqueue(&Enqueue::json("a0", &serde_json::json!({ "n": 0 })).unwrap()).unwrap();

    // The ACL user, with the credentials given apart from the URL (as from the environment).
    let worker = Redis::from_url(&server.url()).unwrap().username("worker").password("w0rker-pw");
    assert!(!format!("{worker:?}").contains("w0rker-pw"));
    let mut producer = Producer::connect(&worker, "authq").unwrap();
    for i in 1..10 {
        producer
            .enqueue(&Enqueue::json(format!("a{i}"), &serde_json::json!({ "n": i })).unwrap())
            .unwrap();
    }
    let m = consume_n(worker.clone(), "authq", 10);
    assert_eq!(m.acked, 10);
    // ... and it may not touch another queue's keys: refused at start, clearly.
    let pool = Pool::builder().workers(1).build().unwrap();
    let other = Consumer::builder(worker.clone(), "otherq")
        .start(pool, |_, _| async { Ok::<(), String>(()) });
    assert!(matches!(other, Err(Error::Auth(_))), "{other:?}");
    let mut p = Producer::connect(&worker, "otherq").unwrap();
    assert!(matches!(p.enqueue(&Enqueue::new("x", b"{}".to_vec())), Err(Error::Auth(_))));
}

#[test]
fn released_and_cancelled_jobs_keep_their_deliveries() {
    // A job cancelled by the pool (here: the pool aborted under the consumer) is released,
    // not dead-lettered, and its delivery is not spent.
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    enqueue(&server, "rel", "r", 3, "{}", None);
    let pool = Pool::builder().workers(3).build().unwrap();
    let consumer = Consumer::builder(redis, "rel")
        .lease(Duration::from_secs(10))
        .start(pool.clone(), |_, _| async {
            workcrew::native::NativeTimer.sleep(Duration::from_secs(600)).await;
            Ok::<(), String>(())
        })
        .unwrap();
    wait_for(Duration::from_secs(10), "3 running", || (pool.metrics().running == 3).then_some(()));
    workcrew::native::block_on(pool.abort());
    wait_for(Duration::from_secs(10), "3 released", || {
        (consumer.metrics().released == 3).then_some(())
    });
    let mut c = server.conn();
    for (id, who, deliveries) in pending_entries(&mut c, "rel") {
        assert_eq!(who, workcrew_redis::PARKING_CONSUMER, "{id}");
        assert_eq!(deliveries, 0, "{id}: released with its delivery given back");
    }
    let report = consumer.shutdown();
    assert!(report.metrics.adds_up(), "{:?}", report.metrics);
}

use workcrew::Sleeper;

#[test]
fn leases_of_long_jobs_are_renewed() {
    // Four jobs that run for 4 leases: a thief that claims everything idle for a lease finds
    // nothing, and every job is acked by its consumer.
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    enqueue(&server, "long", "l", 4, "{}", None);
    let pool = Pool::builder().workers(4).build().unwrap();
    let lease = Duration::from_millis(600);
    let consumer = Consumer::builder(redis, "long")
        .lease(lease)
        .start(pool.clone(), |_, _| async {
            workcrew::native::NativeTimer.sleep(Duration::from_millis(2400)).await;
            Ok::<(), String>(())
        })
        .unwrap();
    wait_for(Duration::from_secs(10), "4 running", || (pool.metrics().running == 4).then_some(()));
    let mut c = server.conn();
    let started = Instant::now();
    while consumer.metrics().acked < 4 {
        let stolen: redis::Value = redis::cmd("XAUTOCLAIM")
            .arg("{long}:stream")
            .arg("workcrew")
            .arg("thief")
            .arg(lease.as_millis() as u64)
            .arg("0-0")
            .arg("JUSTID")
            .query(&mut c)
            .unwrap();
        let ids = match &stolen {
            redis::Value::Array(parts) => match parts.get(1) {
                Some(redis::Value::Array(ids)) => ids.len(),
                _ => 0,
            },
            _ => 0,
        };
        assert_eq!(ids, 0, "a held entry was idle for a lease: {stolen:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = consumer.shutdown();
    assert_eq!((report.metrics.acked, report.metrics.leases_lost), (4, 0), "{:?}", report.metrics);
    assert!(report.metrics.max_renewal_gap_ms < lease.as_millis() as u64);
}

/// A gate that jobs wait on, opened for all of them at once.
#[derive(Default)]
struct Gate(Mutex<(bool, Vec<std::task::Waker>)>);

impl Gate {
    fn open(&self) {
        let wakers = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        wakers.into_iter().for_each(|w| w.wake());
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                std::task::Poll::Ready(())
            } else {
                g.1.push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn a_settlement_batch_refuses_the_entries_another_consumer_claimed() {
    // Four jobs end while the settler is busy (held in `on_settle` of a first job), so they
    // are settled together: two succeeded, two failed, and of each pair one entry was claimed
    // by another consumer meanwhile, before any renewal could notice (the lease is long). The
    // batch acks the owned success, dead-letters the owned failure, and refuses both lost
    // entries, counting them, and leaving them untouched with their new owner.
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    let mut producer = Producer::connect(&redis, "mix").unwrap();
    let names = ["first", "ok-mine", "ok-lost", "fail-mine", "fail-lost"];
    let jobs: Vec<Enqueue> = names.iter().map(|n| Enqueue::new(*n, b"{}".to_vec())).collect();
    let ids: Vec<String> =
        producer.enqueue_many(&jobs).unwrap().iter().map(|e| e.entry_id().to_owned()).collect();
    let id = |name: &str| ids[names.iter().position(|n| *n == name).unwrap()].clone();

    let gate = Arc::new(Gate::default());
    let outcomes = Arc::new(Mutex::new(std::collections::HashMap::new()));
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    let log = Arc::clone(&outcomes);
    let pool = Pool::builder().workers(5).retries(0).build().unwrap();
    let g = Arc::clone(&gate);
    let consumer = Consumer::builder(redis, "mix")
        .lease(Duration::from_secs(600))
        .on_settle(move |s| {
            log.lock().unwrap().insert(s.job_id.clone(), s.outcome);
            if s.job_id == "first" {
                entered_tx.lock().unwrap().send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            }
        })
        .start(pool.clone(), move |d, _| {
            let g = Arc::clone(&g);
            async move {
                if d.job_id() != "first" {
                    g.wait().await;
                }
                if d.job_id().starts_with("fail") {
                    Err("boom".to_owned())
                } else {
                    Ok(())
                }
            }
        })
        .unwrap();
    entered_rx.recv_timeout(Duration::from_secs(20)).expect("the first job settled");
    wait_for(Duration::from_secs(20), "4 jobs waiting at the gate", || {
        (pool.metrics().running == 4).then_some(())
    });
    let mut c = server.conn();
    let stolen: Vec<String> = redis::cmd("XCLAIM")
        .arg("{mix}:stream")
        .arg("workcrew")
        .arg("thief")
        .arg(0)
        .arg(id("ok-lost"))
        .arg(id("fail-lost"))
        .arg("JUSTID")
        .query(&mut c)
        .unwrap();
    assert_eq!(stolen.len(), 2);
    gate.open();
    wait_for(Duration::from_secs(20), "the 4 jobs ended", || {
        let m = pool.metrics();
        (m.succeeded + m.failed == 5).then_some(())
    });
    // (Let their handles resolve, so that the settler finds all four at once.)
    std::thread::sleep(Duration::from_millis(200));
    go_tx.send(()).unwrap();
    wait_for(Duration::from_secs(20), "all settled", || {
        (outcomes.lock().unwrap().len() == 5).then_some(())
    });

    let got = outcomes.lock().unwrap().clone();
    assert_eq!(got["first"], Outcome::Acked);
    assert_eq!(got["ok-mine"], Outcome::Acked);
    assert_eq!(got["fail-mine"], Outcome::DeadLettered(workcrew_redis::DeadReason::Failed));
    assert_eq!(got["ok-lost"], Outcome::Lost, "a claimed entry's ack was refused");
    assert_eq!(got["fail-lost"], Outcome::Lost, "a claimed entry's dead-lettering was refused");
    let report = consumer.shutdown();
    let m = report.metrics;
    assert_eq!(
        (m.acked, m.dead_lettered.failed, m.leases_lost, m.acks_refused, m.held),
        (2, 1, 2, 2, 0),
        "{m:?}"
    );
    assert!(m.adds_up(), "{m:?}");
    // The lost entries are untouched: still in the stream, pending for the thief with one
    // more delivery; the dead stream has only the owned failure.
    let mut left = pending_entries(&mut c, "mix");
    left.sort();
    let mut want =
        vec![(id("ok-lost"), "thief".to_owned(), 1), (id("fail-lost"), "thief".to_owned(), 1)];
    want.sort();
    assert_eq!(left, want);
    assert_eq!(xlen(&mut c, "{mix}:stream"), 2, "acked and dead entries deleted, lost ones kept");
    let dead: Vec<(String, Vec<(String, String)>)> =
        redis::cmd("XRANGE").arg("{mix}:dead").arg("-").arg("+").query(&mut c).unwrap();
    assert_eq!(dead.len(), 1);
    let field = |k: &str| dead[0].1.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    assert_eq!(field("entry"), Some(id("fail-mine")));
    assert_eq!(field("reason").as_deref(), Some("failed"));
    assert_eq!(field("attempts").as_deref(), Some("1"));
    assert_eq!(field("error").as_deref(), Some("boom"));
}

#[test]
fn policies_end_jobs_as_dead_or_released() {
    // A job past the pool's total deadline is dead with `reason=deadline_exceeded`; a job the
    // pool's open circuit breaker refused was never run, so it is released, not dead, and its
    // delivery is not spent.
    use workcrew::CircuitBreaker;
    let server = Server::start(&[]);
    let redis = Redis::from_url(&server.url()).unwrap();
    let mut c = server.conn();

    enqueue(&server, "dl", "slow", 2, "slow", None);
    let pool = Pool::builder().workers(2).deadline(Duration::from_millis(200)).build().unwrap();
    let consumer = Consumer::builder(redis.clone(), "dl")
        .start(pool, |_, _| async {
            workcrew::native::NativeTimer.sleep(Duration::from_secs(600)).await;
            Ok::<(), String>(())
        })
        .unwrap();
    wait_for(Duration::from_secs(20), "2 dead", || (xlen(&mut c, "{dl}:dead") == 2).then_some(()));
    for d in common::dead(&mut c, "dl") {
        assert_eq!((d["reason"].as_str(), d["attempts"].as_str()), ("deadline_exceeded", "1"));
    }
    let report = consumer.shutdown();
    assert_eq!(report.metrics.dead_lettered.deadline_exceeded, 2, "{:?}", report.metrics);
    assert!(report.metrics.adds_up(), "{:?}", report.metrics);

    let ran = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&ran);
    let pool = Pool::builder()
        .workers(1)
        .circuit_breaker(CircuitBreaker::consecutive(1, Duration::from_secs(600)))
        .build()
        .unwrap();
    let consumer = Consumer::builder(redis, "cb")
        .lease(Duration::from_secs(2))
        .start(pool, move |d, _| {
            let log = Arc::clone(&log);
            async move {
                let body = String::from_utf8_lossy(d.payload()).into_owned();
                log.lock().unwrap().push(body.clone());
                if body == "fail" {
                    Err("service down".to_string())
                } else {
                    Ok(())
                }
            }
        })
        .unwrap();
    enqueue(&server, "cb", "fail", 1, "fail", None);
    wait_for(Duration::from_secs(20), "1 dead", || (xlen(&mut c, "{cb}:dead") == 1).then_some(()));
    enqueue(&server, "cb", "ok", 3, "ok", None);
    wait_for(Duration::from_secs(20), "3 released", || {
        (consumer.metrics().released >= 3).then_some(())
    });
    assert_eq!(*ran.lock().unwrap(), ["fail"], "the open breaker called the service");
    assert_eq!(xlen(&mut c, "{cb}:dead"), 1, "a refused job was dead-lettered");
    let report = consumer.shutdown();
    assert_eq!(report.metrics.acked, 0);
    assert!(report.metrics.adds_up(), "{:?}", report.metrics);
    // Nothing lost: the three are still in the group, their deliveries given back.
    let left = pending_entries(&mut c, "cb");
    assert_eq!(left.len(), 3, "{left:?}");
    for (id, _, deliveries) in left {
        assert!(deliveries <= 1, "{id}: {deliveries} deliveries spent by refusals");
    }
}
