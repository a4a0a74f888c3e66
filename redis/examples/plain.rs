//! The broker's ceiling for the benchmark: a plain XREADGROUP / XACK loop, no pool, no leases,
//! no checks. Reads `COUNT` (16) entries at a time from the stream `STREAM`, "runs" each (a
//! no-op) and acks the batch in one XACK. On SIGTERM prints `done <acked>`,
//! `latency <ms>:<count>,...` (enqueue to ack) and `rss_kb <first> <max> <last>`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("WORKCREW_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let stream = std::env::var("STREAM").unwrap_or_else(|_| "plain".into());
    let count: usize = std::env::var("COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(16);
    let name = format!("plain-{}", std::process::id());
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let mut c = redis::Client::open(url.as_str())?.get_connection()?;
    let _: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut c);
    let mut hist = vec![0u64; 60_001];
    let rss = || {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4
    };
    let (first, mut max) = (rss(), 0);
    let mut done = 0u64;
    println!("ready {name}");
    std::io::stdout().flush()?;
    let mut loops = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let reply: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg(&name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query(&mut c)?;
        let mut ids: Vec<String> = Vec::new();
        if let redis::Value::Array(streams) = reply {
            for s in streams {
                let redis::Value::Array(parts) = s else { continue };
                let Some(redis::Value::Array(entries)) = parts.get(1) else { continue };
                for e in entries {
                    let redis::Value::Array(e) = e else { continue };
                    if let Some(redis::Value::BulkString(id)) = e.first() {
                        ids.push(String::from_utf8_lossy(id).into_owned());
                    }
                }
            }
        }
        if ids.is_empty() {
            continue;
        }
        let _: u64 = redis::cmd("XACK").arg(&stream).arg("g").arg(&ids).query(&mut c)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        for id in &ids {
            let at: u64 = id.split('-').next().and_then(|m| m.parse().ok()).unwrap_or(now);
            hist[now.saturating_sub(at).min(60_000) as usize] += 1;
        }
        done += ids.len() as u64;
        loops += 1;
        if loops.is_multiple_of(256) {
            max = max.max(rss());
        }
    }
    let last = rss();
    println!("done {done}");
    let buckets: Vec<String> = hist
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(ms, n)| format!("{ms}:{n}"))
        .collect();
    println!("latency {}", buckets.join(","));
    println!("rss_kb {first} {} {last}", max.max(last));
    Ok(())
}
