//! The benchmark (not run in CI): workcrew-redis consumers against BullMQ workers on the same
//! Redis with the same concurrency, and against a plain XREADGROUP/XACK loop.
//!
//! ```text
//! (cd redis/bench/bullmq && npm ci)   # BullMQ, once
//! cargo build --release --manifest-path redis/Cargo.toml --examples
//! cargo run --release --manifest-path redis/Cargo.toml --example bench [-- <jobs> <concurrency>]
//! ```
//!
//! It starts its own `redis-server` (127.0.0.1, a free port, no persistence) and, for 1, 2 and
//! 3 consumer processes, enqueues `jobs` (20,000) no-op jobs, then the same with 10 ms jobs.
//! Each consumer process runs `concurrency` (8) jobs at once: workcrew-redis with a pool of 8
//! workers (16 entries in flight), BullMQ with `concurrency: 8`; the plain loop reads 16
//! entries at a time (no-op jobs only). Throughput is jobs / (first enqueue → last settle);
//! latency is each job's enqueue → settle (ack; BullMQ's `completed`); RSS is each consumer's
//! resident memory at start, its maximum and at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use workcrew_redis::{Enqueue, Producer, Redis};

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process whose stdout lines arrive on a channel.
struct Proc {
    child: Guard,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child: Guard(child), lines: rx, seen: Vec::new(), stdin }
    }

    fn wait_line(&mut self, prefix: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return l.clone();
        }
        loop {
            let line =
                self.lines.recv_timeout(Duration::from_secs(120)).expect("a line from a child");
            self.seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// SIGTERM, then its final lines.
    fn finish(mut self) -> (Vec<(u64, u64)>, [u64; 3]) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.0.id().to_string()).status();
        let lat = self.wait_line("latency");
        let rss = self.wait_line("rss_kb");
        let _ = self.child.0.wait();
        let hist = lat
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .split(',')
            .filter_map(|b| b.split_once(':'))
            .map(|(ms, n)| (ms.parse().unwrap(), n.parse().unwrap()))
            .collect();
        let r: Vec<u64> = rss.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
        (hist, [r[0], r[1], r[2]])
    }
}

fn percentile(hist: &[(u64, u64)], p: f64) -> u64 {
    let mut h = hist.to_vec();
    h.sort();
    let total: u64 = h.iter().map(|b| b.1).sum();
    let want = ((total as f64) * p).ceil() as u64;
    let mut seen = 0;
    for (ms, n) in h {
        seen += n;
        if seen >= want {
            return ms;
        }
    }
    0
}

fn query<T: redis::FromRedisValue>(c: &mut redis::Connection, cmd: &mut redis::Cmd) -> T {
    cmd.query(c).unwrap()
}

struct Row {
    system: &'static str,
    job: &'static str,
    consumers: usize,
    secs: f64,
    jobs: usize,
    hist: Vec<(u64, u64)>,
    rss: Vec<[u64; 3]>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let conc: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    // `noop` or `10ms` runs only that half (for quick checks; the published table runs both).
    let only = args.next();
    let examples = std::env::current_exe()?.parent().unwrap().to_path_buf();
    for name in ["consumer", "plain"] {
        if !examples.join(name).exists() {
            return Err(format!(
                "build the examples first: cargo build --release --examples ({name})"
            )
            .into());
        }
    }
    let bullmq = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/bullmq");
    let has_bullmq = bullmq.join("node_modules/bullmq").exists();
    if !has_bullmq {
        eprintln!("(no BullMQ: run `npm ci` in {}; its rows are skipped)", bullmq.display());
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _server = Guard(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let url = format!("redis://127.0.0.1:{port}");
    let mut c = loop {
        if let Ok(mut c) = redis::Client::open(url.as_str())?.get_connection() {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                break c;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let version: String = query(&mut c, redis::cmd("INFO").arg("server"));
    let version =
        version.lines().find(|l| l.starts_with("redis_version")).unwrap_or("?").trim().to_owned();
    let redis = Redis::from_url(&url)?;
    let mut rows = Vec::new();

    for (job, payload, ms) in [("no-op", "{}", 0u64), ("10 ms", r#"{"ms":10}"#, 10)] {
        if only.as_deref().is_some_and(|o| o != if ms == 0 { "noop" } else { "10ms" }) {
            continue;
        }
        for consumers in 1..=3 {
            // workcrew-redis
            let _: () = query(&mut c, &mut redis::cmd("FLUSHALL"));
            let mut procs: Vec<Proc> = (0..consumers)
                .map(|_| {
                    let mut cmd = Command::new(examples.join("consumer"));
                    cmd.env("WORKCREW_REDIS_URL", &url)
                        .env("QUEUE", "bench")
                        .env("WORKERS", conc.to_string())
                        .env("EFFECT", "0");
                    Proc::spawn(cmd)
                })
                .collect();
            for p in &mut procs {
                p.wait_line("ready");
            }
            let mut producer = Producer::connect(&redis, "bench")?;
            let started = Instant::now();
            for start in (0..jobs).step_by(1000) {
                let batch: Vec<Enqueue> = (start..(start + 1000).min(jobs))
                    .map(|i| Enqueue::new(format!("job-{i}"), payload.as_bytes().to_vec()))
                    .collect();
                producer.enqueue_many(&batch)?;
            }
            loop {
                let left: u64 = query(&mut c, redis::cmd("XLEN").arg("{bench}:stream"));
                if left == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let secs = started.elapsed().as_secs_f64();
            let (mut hist, mut rss) = (Vec::new(), Vec::new());
            for p in procs {
                let (h, r) = p.finish();
                hist.extend(h);
                rss.push(r);
            }
            rows.push(Row { system: "workcrew-redis", job, consumers, secs, jobs, hist, rss });
            eprintln!("done: workcrew-redis {job} x{consumers}: {secs:.2} s");

            // BullMQ
            if has_bullmq {
                let _: () = query(&mut c, &mut redis::cmd("FLUSHALL"));
                let mut procs: Vec<Proc> = (0..consumers)
                    .map(|_| {
                        let mut cmd = Command::new("node");
                        cmd.current_dir(&bullmq).args([
                            "worker.mjs",
                            &port.to_string(),
                            "bench",
                            &conc.to_string(),
                            &ms.to_string(),
                        ]);
                        Proc::spawn(cmd)
                    })
                    .collect();
                for p in &mut procs {
                    p.wait_line("ready");
                }
                let mut cmd = Command::new("node");
                cmd.current_dir(&bullmq).args([
                    "produce.mjs",
                    &port.to_string(),
                    "bench",
                    &jobs.to_string(),
                ]);
                let mut prod = Proc::spawn(cmd);
                prod.wait_line("ready");
                let started = Instant::now();
                writeln!(prod.stdin.as_mut().unwrap(), "go")?;
                prod.wait_line("enqueued");
                loop {
                    let waiting: u64 = query(&mut c, redis::cmd("LLEN").arg("bull:bench:wait"));
                    let active: u64 = query(&mut c, redis::cmd("LLEN").arg("bull:bench:active"));
                    if waiting + active == 0 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                let secs = started.elapsed().as_secs_f64();
                let (mut hist, mut rss) = (Vec::new(), Vec::new());
                for p in procs {
                    let (h, r) = p.finish();
                    hist.extend(h);
                    rss.push(r);
                }
                let completed: u64 = hist.iter().map(|b| b.1).sum();
                assert_eq!(completed as usize, jobs, "BullMQ completed them all");
                rows.push(Row { system: "BullMQ", job, consumers, secs, jobs, hist, rss });
                eprintln!("done: BullMQ {job} x{consumers}: {secs:.2} s");
            }

            // The plain loop: the broker's ceiling, no-op jobs only.
            if ms == 0 {
                let _: () = query(&mut c, &mut redis::cmd("FLUSHALL"));
                let mut procs: Vec<Proc> = (0..consumers)
                    .map(|_| {
                        let mut cmd = Command::new(examples.join("plain"));
                        cmd.env("WORKCREW_REDIS_URL", &url)
                            .env("STREAM", "plain")
                            .env("COUNT", (2 * conc).to_string());
                        Proc::spawn(cmd)
                    })
                    .collect();
                for p in &mut procs {
                    p.wait_line("ready");
                }
                let started = Instant::now();
                for start in (0..jobs).step_by(1000) {
                    let mut pipe = redis::pipe();
                    for i in start..(start + 1000).min(jobs) {
                        pipe.cmd("XADD")
                            .arg("plain")
                            .arg("*")
                            .arg("id")
                            .arg(format!("job-{i}"))
                            .arg("p")
                            .arg(payload)
                            .ignore();
                    }
                    let _: () = pipe.query(&mut c)?;
                }
                loop {
                    let pending: redis::Value =
                        query(&mut c, redis::cmd("XPENDING").arg("plain").arg("g"));
                    let n = match pending {
                        redis::Value::Array(a) => match a.first() {
                            Some(redis::Value::Int(n)) => *n,
                            _ => 0,
                        },
                        _ => 0,
                    };
                    // Done when nothing is pending and the group has read everything.
                    let entries_read: i64 = {
                        let r: redis::Value =
                            query(&mut c, redis::cmd("XINFO").arg("GROUPS").arg("plain"));
                        entries_read(&r)
                    };
                    if n == 0 && entries_read as usize >= jobs {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                let secs = started.elapsed().as_secs_f64();
                let (mut hist, mut rss) = (Vec::new(), Vec::new());
                for p in procs {
                    let (h, r) = p.finish();
                    hist.extend(h);
                    rss.push(r);
                }
                rows.push(Row {
                    system: "plain XREADGROUP/XACK loop",
                    job,
                    consumers,
                    secs,
                    jobs,
                    hist,
                    rss,
                });
                eprintln!("done: plain {job} x{consumers}: {secs:.2} s");
            }
        }
    }

    println!("{version}, {jobs} jobs per run, {conc} jobs at once per consumer process");
    println!();
    println!("| system | jobs | consumers | jobs/s | p50 ms | p99 ms | consumer RSS KiB (start / max / end) |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for r in &rows {
        let rss: Vec<String> =
            r.rss.iter().map(|m| format!("{} / {} / {}", m[0], m[1], m[2])).collect();
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} |",
            r.system,
            r.job,
            r.consumers,
            r.jobs as f64 / r.secs,
            percentile(&r.hist, 0.50),
            percentile(&r.hist, 0.99),
            rss.join("; ")
        );
    }
    println!();
    let rate = |sys: &str, job: &str, n: usize| {
        rows.iter()
            .find(|r| r.system.starts_with(sys) && r.job == job && r.consumers == n)
            .map(|r| r.jobs as f64 / r.secs)
    };
    for n in (1..=3).filter(|_| rate("workcrew", "no-op", 1).is_some()) {
        let ours = rate("workcrew", "no-op", n).unwrap();
        if let Some(b) = rate("BullMQ", "no-op", n) {
            println!("target: no-op, {n} consumer(s): {:.2}x BullMQ (want >= 2)", ours / b);
        }
        if let Some(p) = rate("plain", "no-op", n) {
            println!(
                "target: no-op, {n} consumer(s): {:.0}% of the plain loop (want >= 60%)",
                100.0 * ours / p
            );
        }
    }
    let one = rate("workcrew", "10 ms", 1).unwrap();
    println!(
        "target: 10 ms jobs, 2 consumers: {:.2}x 1 consumer (want >= 1.8)",
        rate("workcrew", "10 ms", 2).unwrap() / one
    );
    println!(
        "target: 10 ms jobs, 3 consumers: {:.2}x 1 consumer (want >= 2.5)",
        rate("workcrew", "10 ms", 3).unwrap() / one
    );
    Ok(())
}

/// `entries-read` of the first group in an XINFO GROUPS reply.
fn entries_read(v: &redis::Value) -> i64 {
    let redis::Value::Array(groups) = v else { return 0 };
    let Some(redis::Value::Array(fields)) = groups.first() else { return 0 };
    for pair in fields.chunks(2) {
        if let [redis::Value::BulkString(k), val] = pair {
            if k == b"entries-read" {
                if let redis::Value::Int(n) = val {
                    return *n;
                }
            }
        }
    }
    0
}
