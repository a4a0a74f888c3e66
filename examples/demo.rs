//! The Go original's demo, replayed: jobs that succeed, fail and then succeed on retry, hang
//! past their timeout, panic, and a graceful shutdown that drains the queue.
//!
//! Run with `cargo run --example demo`.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn main() {} // the built-in runtime needs threads; see www/ for the browser demo

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use futures_lite::future;
    use std::time::{Duration, Instant};
    use workcrew::native::{block_on, NativeTimer};
    use workcrew::{Backoff, Job, JobError, Pool, Sleeper};

    // A one-line report instead of the default panic message: the pool catches the panic.
    std::panic::set_hook(Box::new(|info| {
        let at =
            info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("  (a job panicked{at}; the pool caught it)");
    }));
    let started = Instant::now();
    block_on(async {
        let pool = Pool::builder()
            .workers(3)
            .queue(10)
            .timeout(Duration::from_millis(300)) // per attempt
            .retries(3) // up to 4 attempts
            .backoff(Backoff::linear(Duration::from_millis(100))) // the original: (attempt + 1) × 100 ms
            .build()?;
        println!("pool: {} workers, queue of {}\n", pool.workers(), pool.capacity());

        let mut jobs = Vec::new();
        for i in 1..=4u32 {
            let h = pool
                .submit(Job::new(move |_| async move {
                    NativeTimer.sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(format!("processed item {i}"))
                }))
                .await?;
            jobs.push((format!("quick #{i}"), h));
        }
        let flaky = pool
            .submit(Job::new(|attempt: workcrew::Attempt| async move {
                if attempt.number() < 3 {
                    Err(format!("transient failure on attempt {}", attempt.number()))
                } else {
                    Ok(format!("succeeded on attempt {}", attempt.number()))
                }
            }))
            .await?;
        jobs.push(("flaky".into(), flaky));
        let hang = pool
            .submit(Job::new(|_| future::pending::<Result<String, String>>()).retries(1))
            .await?;
        jobs.push(("hang".into(), hang));
        let panics =
            pool.submit(Job::new(|_| async { panic!("index out of range") }).retries(0)).await?;
        jobs.push(("panic".into(), panics));
        let permanent = pool
            .submit(
                Job::new(|_| async { Err::<String, _>("404 not found".to_string()) })
                    .retry_if(|e: &String| !e.starts_with("404")),
            )
            .await?;
        jobs.push(("permanent".into(), permanent));

        println!(
            "submitted {} jobs; shutting down gracefully (queued jobs still run)\n",
            jobs.len()
        );
        let report = pool.shutdown().await;

        for (name, handle) in jobs {
            let line = match handle.await {
                Ok(value) => format!("ok        {value}"),
                Err(JobError::Failed { error, attempts }) => {
                    format!("failed    after {attempts} attempt(s): {error}")
                }
                Err(JobError::TimedOut { attempts }) => {
                    format!("timed out after {attempts} attempt(s)")
                }
                Err(JobError::Panicked { message, attempts }) => format!(
                    "panicked  after {attempts} attempt(s): {}",
                    message.unwrap_or_default()
                ),
                Err(JobError::Cancelled { attempts }) => {
                    format!("cancelled after {attempts} attempt(s)")
                }
                Err(other) => format!("{other}"),
            };
            println!("{name:<10} {line}");
        }

        let m = report.metrics;
        println!("\nshutdown: {} completed, {} cancelled", report.completed, report.cancelled);
        println!(
            "metrics:  submitted {}  started {}  succeeded {}  failed {}  cancelled {}",
            m.submitted, m.started, m.succeeded, m.failed, m.cancelled
        );
        println!(
            "          attempts {}  retried {}  timed out {}  panicked {}  rejected {}",
            m.attempts, m.retried, m.timed_out, m.panicked, m.rejected
        );
        println!(
            "balanced: {} == {} + {} + {}  ({:.2?})",
            m.submitted,
            m.succeeded,
            m.failed,
            m.cancelled,
            started.elapsed()
        );
        assert_eq!(m.submitted, m.settled());
        Ok(())
    })
}
