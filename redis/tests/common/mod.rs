//! A real `redis-server` per test, on 127.0.0.1 and a free port, killed when the guard drops
//! (also on a panic); consumer processes (the `consumer` example) likewise.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tests that run several processes take turns: on 2 cores, two at once would make the
/// timing of each (leases of a second) meaningless.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    dir: Option<PathBuf>,
    args: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Without persistence.
    pub fn start(extra: &[&str]) -> Server {
        let mut args: Vec<String> =
            ["--save", "", "--appendonly", "no"].iter().map(|s| s.to_string()).collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(free_port(), None, args)
    }

    /// With an append-only file in `dir`, fsynced at every write.
    pub fn start_persistent(dir: &Path) -> Server {
        let args: Vec<String> = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Self::spawn(free_port(), Some(dir.to_path_buf()), args)
    }

    fn spawn(port: u16, dir: Option<PathBuf>, args: Vec<String>) -> Server {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port").arg(port.to_string()).arg("--bind").arg("127.0.0.1");
        cmd.arg("--daemonize").arg("no").arg("--logfile").arg("");
        if let Some(d) = &dir {
            cmd.arg("--dir").arg(d);
        }
        cmd.args(&args).stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().expect("redis-server (apt-get install redis-server)");
        let server = Server { child: Some(child), port, dir, args };
        server.wait_up();
        server
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) =
                redis::Client::open(self.url_no_auth()).and_then(|c| c.get_connection())
            {
                let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut c);
                match pong {
                    Ok(_) => return,
                    Err(e) if e.code() == Some("NOAUTH") => return,
                    Err(_) => {}
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        self.url_no_auth()
    }

    fn url_no_auth(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A plain connection for the test's own checks.
    pub fn conn(&self) -> redis::Connection {
        self.conn_as(None)
    }

    pub fn conn_as(&self, password: Option<&str>) -> redis::Connection {
        let url = match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => self.url(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
                Ok(c) => return c,
                Err(e) => assert!(Instant::now() < deadline, "no connection: {e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server gracefully (SIGTERM: it flushes its append-only file) and waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, with the same files.
    pub fn restart(&mut self) {
        self.stop();
        let again = Self::spawn(self.port, self.dir.clone(), self.args.clone());
        let mut again = again;
        self.child = again.child.take();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} {pid}");
}

/// The `consumer` example, built by `cargo test` next to the test binaries.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} not built (cargo test builds the examples)", path.display());
    path
}

/// A consumer process, killed if still running when dropped.
pub struct Proc {
    child: Option<Child>,
    pub pid: u32,
    pub name: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread that reads the process's stdout: it ends at the process's exit (EOF).
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts the consumer example with `env`, and waits for its `ready` line.
    pub fn consumer(server: &Server, queue: &str, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(example("consumer"));
        cmd.env("WORKCREW_REDIS_URL", server.url()).env("QUEUE", queue);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut p =
            Proc { child: Some(child), pid, name: String::new(), lines, reader: Some(reader) };
        p.name = wait_for(Duration::from_secs(30), "consumer ready", || {
            p.line("ready ").map(|l| l["ready ".len()..].to_string())
        });
        p
    }

    pub fn line(&self, prefix: &str) -> Option<String> {
        self.lines.lock().unwrap().iter().find(|l| l.starts_with(prefix)).cloned()
    }

    pub fn signal(&self, sig: &str) {
        signal(self.pid, sig);
    }

    /// Waits for the process to exit (up to `within`).
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // Every line it printed has been collected once its stdout is closed.
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            assert!(Instant::now() < deadline, "consumer {} did not exit", self.pid);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait for exit 0, and the `metrics` line's numbers:
    /// read claimed acked dead released leases_lost acks_refused held reconnects.
    pub fn stop(&mut self) -> Vec<u64> {
        self.signal("TERM");
        let status = self.wait(Duration::from_secs(30));
        assert!(status.success(), "consumer {} exited with {status}", self.pid);
        self.metrics()
    }

    /// Whether the process has exited (without waiting).
    pub fn try_exited(&mut self) -> bool {
        let exited = self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_some());
        if exited {
            self.child = None;
        }
        exited
    }

    pub fn metrics(&self) -> Vec<u64> {
        let line = self.line("metrics ").expect("a metrics line");
        line.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after `within`.
pub fn wait_for<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn enqueue(
    server: &Server,
    queue: &str,
    prefix: &str,
    n: usize,
    payload: &str,
    retries: Option<u32>,
) {
    let redis = workcrew_redis::Redis::from_url(&server.url()).unwrap();
    let mut p = workcrew_redis::Producer::connect(&redis, queue).unwrap();
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let j =
                workcrew_redis::Enqueue::new(format!("{prefix}-{i}"), payload.as_bytes().to_vec());
            match retries {
                Some(r) => j.retries(r),
                None => j,
            }
        })
        .collect();
    let out = p.enqueue_many(&jobs).unwrap();
    assert!(out.iter().all(|e| !e.is_duplicate()));
}

/// Entries pending in the group: in all, or for one consumer.
pub fn pending(c: &mut redis::Connection, queue: &str, consumer: Option<&str>) -> u64 {
    let stream = format!("{{{queue}}}:stream");
    match consumer {
        None => {
            let v: redis::Value =
                redis::cmd("XPENDING").arg(&stream).arg("workcrew").query(c).unwrap();
            match v {
                redis::Value::Array(a) => match a.first() {
                    Some(redis::Value::Int(n)) => *n as u64,
                    _ => 0,
                },
                _ => 0,
            }
        }
        Some(name) => {
            let v: Vec<redis::Value> = redis::cmd("XPENDING")
                .arg(&stream)
                .arg("workcrew")
                .arg("-")
                .arg("+")
                .arg(100_000)
                .arg(name)
                .query(c)
                .unwrap();
            v.len() as u64
        }
    }
}

/// (entry id, consumer, deliveries) of every pending entry.
pub fn pending_entries(c: &mut redis::Connection, queue: &str) -> Vec<(String, String, u64)> {
    let stream = format!("{{{queue}}}:stream");
    let v: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("workcrew")
        .arg("-")
        .arg("+")
        .arg(100_000)
        .query(c)
        .unwrap();
    v.into_iter().map(|(id, consumer, _idle, n)| (id, consumer, n)).collect()
}

pub fn hlen(c: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("HLEN").arg(key).query(c).unwrap()
}

pub fn get_u64(c: &mut redis::Connection, key: &str) -> u64 {
    let v: Option<u64> = redis::cmd("GET").arg(key).query(c).unwrap();
    v.unwrap_or(0)
}

pub fn xlen(c: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(c).unwrap()
}

/// The sum of the values of a hash of counters.
pub fn hsum(c: &mut redis::Connection, key: &str) -> u64 {
    let v: Vec<u64> = redis::cmd("HVALS").arg(key).query(c).unwrap();
    v.iter().sum()
}

/// The dead stream's entries as field maps.
pub fn dead(
    c: &mut redis::Connection,
    queue: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let v: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(format!("{{{queue}}}:dead")).arg("-").arg("+").query(c).unwrap();
    v.into_iter()
        .map(|(_, f)| f.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
        .collect()
}
