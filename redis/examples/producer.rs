//! A producer process: enqueues `N` jobs (default 1000) with ids `<PREFIX>-0 ..`, in batches.
//!
//! ```text
//! WORKCREW_REDIS_URL=redis://127.0.0.1:6379 cargo run --release --example producer -- 1000 '{"ms":5}'
//! ```
//!
//! Arguments: the number of jobs, then the payload (JSON, default `{}`). Environment: `QUEUE`
//! (jobs), `PREFIX` (job), `RETRIES`, `TIMEOUT_MS`, and the connection's `WORKCREW_REDIS_*`.
//! Enqueueing the same ids again adds nothing (they are idempotency keys). Prints
//! `enqueued <added> <duplicates> <seconds>`.

use std::time::{Duration, Instant};

use workcrew_redis::{Enqueue, Producer, Redis};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let payload = args.next().unwrap_or_else(|| "{}".into());
    let queue = std::env::var("QUEUE").unwrap_or_else(|_| "jobs".into());
    let prefix = std::env::var("PREFIX").unwrap_or_else(|_| "job".into());
    let retries: Option<u32> = std::env::var("RETRIES").ok().map(|r| r.parse()).transpose()?;
    let timeout: Option<u64> = std::env::var("TIMEOUT_MS").ok().map(|t| t.parse()).transpose()?;

    let mut producer = Producer::connect(&Redis::from_env()?, &queue)?;
    let started = Instant::now();
    let (mut added, mut dups) = (0, 0);
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(1000) {
        let jobs: Vec<Enqueue> = chunk
            .iter()
            .map(|i| {
                let mut job = Enqueue::new(format!("{prefix}-{i}"), payload.as_bytes().to_vec());
                if let Some(r) = retries {
                    job = job.retries(r);
                }
                if let Some(t) = timeout {
                    job = job.timeout(Duration::from_millis(t));
                }
                job
            })
            .collect();
        for e in producer.enqueue_many(&jobs)? {
            if e.is_duplicate() {
                dups += 1;
            } else {
                added += 1;
            }
        }
    }
    println!("enqueued {added} {dups} {:.3}", started.elapsed().as_secs_f64());
    Ok(())
}
