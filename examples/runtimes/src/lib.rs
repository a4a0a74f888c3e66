//! One scenario, run on each runtime by `src/bin/*.rs`: the demo in miniature. Five jobs
//! that succeed, succeed after retries, time out (their attempts really dropped), get cancelled,
//! and fail for good; then a draining shutdown, and the balanced metrics.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::sync::Arc;

use workcrew::{Backoff, Job, JobError, Pool, PoolBuilder, Sleeper, SubmitError};

/// A pool for the scenario: 2 workers, a 20 ms timeout per attempt, up to 2 retries, 5 ms apart.
pub fn builder<S: Sleeper>(sleeper: S) -> PoolBuilder<S> {
    PoolBuilder::new(sleeper)
        .workers(2)
        .queue(8)
        .timeout(Duration::from_millis(20))
        .retries(2)
        .backoff(Backoff::constant(Duration::from_millis(5)))
}

/// Counts the attempts dropped before they finished.
struct Dropped(Arc<AtomicU32>, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Runs the scenario on a built pool whose workers the runtime is running; `sleep` is the
/// runtime's own timer. Prints each outcome; `Err` says what differed from the expected.
pub async fn scenario<S, F>(
    pool: Pool<S>,
    sleep: impl Fn(Duration) -> F + Send + Sync + 'static,
) -> Result<(), String>
where
    S: Sleeper,
    F: Future<Output = ()> + Send + 'static,
{
    let sleep = Arc::new(sleep);
    let dropped = Arc::new(AtomicU32::new(0));

    let quick = pool.submit(Job::new(|_| async { Ok::<_, &str>(1) })).await.map_err(refused)?;
    let flaky = pool
        .submit(Job::new(|a: workcrew::Attempt| async move {
            if a.number() < 3 {
                Err("not yet")
            } else {
                Ok(a.number())
            }
        }))
        .await
        .map_err(refused)?;
    let hang = pool.submit(wait_long(&sleep, &dropped).retries(1)).await.map_err(refused)?;
    let cancelled = pool.submit(wait_long(&sleep, &dropped).no_timeout()).await.map_err(refused)?;
    let permanent = pool
        .submit(
            Job::new(|_| async { Err::<u32, _>("bad request") })
                .retry_if(|e: &&str| *e != "bad request"),
        )
        .await
        .map_err(refused)?;
    // Let it start, then cancel it.
    while pool.metrics().started < 4 {
        sleep(Duration::from_millis(1)).await;
    }
    cancelled.cancel();

    let outcomes = [
        ("quick", quick.await.map(|v| v as u32), Ok(1)),
        ("flaky", flaky.await, Ok(3)),
        ("hang", hang.await, Err(JobError::TimedOut { attempts: 2 })),
        ("cancelled", cancelled.await, Err(JobError::Cancelled { attempts: 1 })),
        ("permanent", permanent.await, Err(JobError::Failed { error: "bad request", attempts: 1 })),
    ];
    let report = pool.shutdown().await;
    let m = report.metrics;

    let mut wrong = Vec::new();
    for (name, got, want) in &outcomes {
        println!("{name:>10}: {got:?}");
        if got != want {
            wrong.push(format!("{name}: got {got:?}, expected {want:?}"));
        }
    }
    println!(
        "   metrics: submitted {} = succeeded {} + failed {} + cancelled {}; retried {}, timed out {}",
        m.submitted, m.succeeded, m.failed, m.cancelled, m.retried, m.timed_out
    );
    let got = (m.submitted, m.succeeded, m.failed, m.cancelled, m.retried, m.timed_out);
    if got != (5, 2, 2, 1, 3, 2) {
        wrong.push(format!("metrics {got:?}, expected (5, 2, 2, 1, 3, 2)"));
    }
    // Both timed-out attempts and the cancelled one were dropped mid-sleep.
    let dropped = dropped.load(Ordering::SeqCst);
    println!("   dropped: {dropped} attempts stopped at their await point");
    if dropped != 3 {
        wrong.push(format!("{dropped} attempts dropped, expected 3"));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// A job that waits 30 s on the runtime's timer, far past any timeout, counting itself in
/// `dropped` if it is dropped mid-wait.
#[allow(clippy::type_complexity)]
fn wait_long<Sl, F>(
    sleep: &Arc<Sl>,
    dropped: &Arc<AtomicU32>,
) -> Job<
    impl FnMut(workcrew::Attempt) -> Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>
        + Send
        + 'static,
>
where
    Sl: Fn(Duration) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let (s, d) = (Arc::clone(sleep), Arc::clone(dropped));
    Job::new(move |_| {
        let (s, d) = (Arc::clone(&s), Arc::clone(&d));
        Box::pin(async move {
            let mut guard = Dropped(d, false);
            s(Duration::from_secs(30)).await;
            guard.1 = true;
            Ok::<u32, &'static str>(0)
        }) as Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>
    })
}

fn refused<J>(e: SubmitError<J>) -> String {
    format!("the pool refused a job: {e}")
}

/// Prints the verdict and exits: 0 if the scenario went as expected.
pub fn exit(runtime: &str, result: Result<(), String>) -> ! {
    match result {
        Ok(()) => {
            println!("{runtime}: every outcome and the metrics as expected");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{runtime}: {e}");
            std::process::exit(1)
        }
    }
}
