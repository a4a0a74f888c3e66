//! A consumer process: runs the queue's jobs in a workcrew pool until SIGTERM or SIGINT, then
//! shuts down gracefully and prints its metrics. The tests and the benchmark run it too.
//!
//! ```text
//! WORKCREW_REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example consumer
//! ```
//!
//! Each payload is JSON: `{"ms": 5}` sleeps 5 ms (cancellable), `{"block_ms": 5}` blocks its
//! worker thread for 5 ms (not cancellable), `{"fail": true}` fails every attempt,
//! `{"abort": true}` aborts the whole process. Unless `EFFECT=0`, a job then commits its
//! **effect exactly once**: one Lua script records the job id in `{queue}:effects` and applies
//! the effect (`INCR {queue}:effect_total`) only if the id was not there, so a redelivered job
//! finds its effect done and only counts itself in `{queue}:dups`.
//!
//! Settings (environment): `QUEUE` (jobs), `WORKERS` (4), `IN_FLIGHT` (2 × workers),
//! `LEASE_MS` (30000), `MAX_DELIVERIES` (5), `CLAIM_MS`, `DRAIN_MS`, `RETRIES` (0, the pool's),
//! `EFFECT` (1), and the connection's `WORKCREW_REDIS_URL`, `WORKCREW_REDIS_USERNAME`,
//! `WORKCREW_REDIS_PASSWORD`.
//!
//! It prints `ready <name>` once consuming, and at the end one line
//! `metrics <read> <claimed> <acked> <dead> <released> <leases_lost> <acks_refused> <held> <reconnects>`,
//! then `latency <ms>:<count>,...` (enqueue to settle, per millisecond) and
//! `rss_kb <first> <max> <last>`; the final `Metrics` also go to stderr, in full.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use workcrew::native::NativeTimer;
use workcrew::{Backoff, Pool, Sleeper};
use workcrew_redis::{Consumer, Keys, Outcome, Redis};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(serde::Deserialize, Default)]
struct Task {
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    block_ms: u64,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    abort: bool,
}

/// Records a job's effect once: the job id and the effect in one script.
const COMMIT: &str = r#"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('INCR', KEYS[2])
  return 1
end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return 0
"#;

/// Connections for the jobs' effects: taken for one call, never held across an await.
struct Conns {
    redis: redis::Client,
    free: Mutex<Vec<redis::Connection>>,
}

impl Conns {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let taken = self.free.lock().unwrap().pop();
        let mut conn = match taken {
            Some(c) => c,
            None => {
                let c = self.redis.get_connection_with_timeout(Duration::from_secs(2));
                let c = c.map_err(|e| e.to_string())?;
                c.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
                c
            }
        };
        let out = f(&mut conn).map_err(|e| e.to_string());
        if out.is_ok() {
            self.free.lock().unwrap().push(conn);
        }
        out
    }
}

fn rss_kb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue: String = env("QUEUE", "jobs".to_string());
    let workers: usize = env("WORKERS", 4);
    let lease = Duration::from_millis(env("LEASE_MS", 30_000));
    let effect = env("EFFECT", 1u8) == 1;
    let redis = Redis::from_env()?;
    Keys::new(&queue)?;
    let (effects, total, dups) = (
        format!("{{{queue}}}:effects"),
        format!("{{{queue}}}:effect_total"),
        format!("{{{queue}}}:dups"),
    );

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;

    // Publish-to-settle latency, per millisecond up to 60 s (bounded memory).
    let latency = Arc::new(Mutex::new(vec![0u64; 60_001]));
    let lat = Arc::clone(&latency);

    let pool = Pool::builder()
        .workers(workers)
        .retries(env("RETRIES", 0))
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .build()?;
    let mut builder = Consumer::builder(redis.clone(), &queue)
        .lease(lease)
        .max_deliveries(env("MAX_DELIVERIES", 5))
        .in_flight(env("IN_FLIGHT", workers * 2))
        .validate(|d| d.json::<Task>().map(drop).map_err(|e| e.to_string()))
        .on_settle(move |s| {
            if s.outcome == Outcome::Acked {
                if let Some(at) = s.entry_id.split('-').next().and_then(|ms| ms.parse::<u64>().ok())
                {
                    let ms = now_ms().saturating_sub(at).min(60_000) as usize;
                    lat.lock().unwrap()[ms] += 1;
                }
            }
        });
    if let Ok(ms) = std::env::var("CLAIM_MS") {
        builder = builder.claim_interval(Duration::from_millis(ms.parse()?));
    }
    if let Ok(ms) = std::env::var("DRAIN_MS") {
        builder = builder.drain_timeout(Duration::from_millis(ms.parse()?));
    }
    let conns = Arc::new(Conns {
        redis: redis::Client::open(url_of(&redis)?)?,
        free: Mutex::new(Vec::new()),
    });
    let consumer = builder.start(pool, move |delivery, _attempt| {
        let conns = Arc::clone(&conns);
        let (effects, total, dups) = (effects.clone(), total.clone(), dups.clone());
        async move {
            let task: Task = delivery.json().map_err(|e| e.to_string())?;
            if task.abort {
                std::process::abort();
            }
            if task.ms > 0 {
                NativeTimer.sleep(Duration::from_millis(task.ms)).await;
            }
            if task.block_ms > 0 {
                std::thread::sleep(Duration::from_millis(task.block_ms));
            }
            if task.fail {
                return Err("this job always fails".to_string());
            }
            if effect {
                // Redis may be restarting: try again (the script is idempotent) for up to 60 s.
                let script = redis::Script::new(COMMIT);
                let mut tries = 0;
                loop {
                    let done = conns.with(|c| {
                        script
                            .key(&effects)
                            .key(&total)
                            .key(&dups)
                            .arg(delivery.job_id())
                            .arg(delivery.entry_id())
                            .invoke::<i64>(c)
                    });
                    match done {
                        Ok(_) => break,
                        Err(e) if tries >= 600 => return Err(e),
                        Err(_) => {
                            tries += 1;
                            NativeTimer.sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            Ok(())
        }
    })?;
    println!("ready {}", consumer.name());
    std::io::stdout().flush()?;

    let mut rss = (rss_kb(), 0u64, 0u64);
    let mut ticks = 0u32;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
        ticks += 1;
        if ticks.is_multiple_of(25) {
            let now = rss_kb();
            rss.1 = rss.1.max(now);
            rss.2 = now;
        }
    }
    let report = consumer.shutdown();
    let m = report.metrics;
    println!(
        "metrics {} {} {} {} {} {} {} {} {}",
        m.read,
        m.claimed,
        m.acked,
        m.dead_lettered.total(),
        m.released,
        m.leases_lost,
        m.acks_refused,
        m.held,
        m.reconnects
    );
    eprintln!("{m:?}");
    let hist = latency.lock().unwrap();
    let buckets: Vec<String> = hist
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(ms, n)| format!("{ms}:{n}"))
        .collect();
    println!("latency {}", buckets.join(","));
    let now = rss_kb();
    println!("rss_kb {} {} {}", rss.0, rss.1.max(now), now);
    println!(
        "shutdown drained={} abandoned={} left_group={}",
        report.drained, report.abandoned, report.left_group
    );
    std::io::stdout().flush()?;
    Ok(())
}

/// The URL for the effects' own connections (the example reads the same environment).
fn url_of(_redis: &Redis) -> Result<redis::ConnectionInfo, Box<dyn std::error::Error>> {
    use redis::IntoConnectionInfo;
    let url =
        std::env::var(workcrew_redis::ENV_URL).unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut info = url.into_connection_info()?;
    let mut settings = info.redis_settings().clone();
    if let Ok(u) = std::env::var(workcrew_redis::ENV_USERNAME) {
        settings = settings.set_username(u);
    }
    if let Ok(p) = std::env::var(workcrew_redis::ENV_PASSWORD) {
        settings = settings.set_password(p);
    }
    info = info.set_redis_settings(settings);
    Ok(info)
}
