//! The policies' native targets (issue 19), on simulated services, side by side in one run:
//! hedging (p99 with and without, extra requests), the circuit breaker (requests reaching a
//! failing service with and without), and the retry budget (retries against its bound).
//!
//!   cargo run --release --manifest-path bench/Cargo.toml --bin policies            (all three)
//!   cargo run --release --manifest-path bench/Cargo.toml --bin policies -- hedge   (one)
//!   bash bench/policies.sh      (these, the plain-job A/B against 88efb84, and the browser)
//!
//! Knobs (environment): HEDGE_ROUNDS (default 15), HEDGE_JOBS (3000), HEDGE_WORKERS (50),
//! BREAKER_ROUNDS (3), BUDGET_ROUNDS (3).
//!
//! Besides its tables, every target prints one line `#T<TAB>target<TAB>measured<TAB>limit<TAB>PASS|MISS`,
//! which bench/policies.sh gathers into its summary.
//!
//! Every time is real (the built-in runtime, `Pool::builder()`, and its `NativeTimer`): the
//! service's latency is a sleep of the worker's own timer, so the machine's load shows in the
//! figures; hence rounds with and without the policy alternate and the ratios are taken within a
//! round.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use workcrew::native::NativeTimer;
use workcrew::{
    Backoff, CircuitBreaker, Hedge, Job, JobError, Metrics, Pool, RetryBudget, Sleeper,
};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// splitmix64: the service's random draws, a pure function of (seed, n), so no lock is needed.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// --- hedging ------------------------------------------------------------------------------------

/// The simulated service of the hedging target. Its requests come in blocks of 20, and in each
/// block exactly one, at a random place, is slow: exactly 5% of requests take 20 ms (10× the
/// median); the others take 1.5 to 2.5 ms (uniform, median 2 ms). A request is counted when it
/// starts, so a hedge dropped after it started is counted too.
struct TailService {
    seed: u64,
    requests: AtomicU64,
    slow: AtomicU64,
    /// Every request's latency as the service saw it (start to the end of its sleep), in ms;
    /// a request dropped before its end records nothing.
    latencies: Mutex<Vec<f64>>,
}

const MEDIAN_MS: f64 = 2.0;
const SLOW_FACTOR: f64 = 10.0;
const BLOCK: u64 = 20; // one slow request in 20: 5%

impl TailService {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            requests: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            latencies: Mutex::default(),
        }
    }

    async fn request(&self) {
        let n = self.requests.fetch_add(1, Relaxed);
        let slow = mix(self.seed, n / BLOCK) % BLOCK == n % BLOCK;
        let ms = if slow {
            self.slow.fetch_add(1, Relaxed);
            MEDIAN_MS * SLOW_FACTOR
        } else {
            // 1.5 ..= 2.5 ms, uniform
            MEDIAN_MS - 0.5 + (mix(!self.seed, n) % 1001) as f64 / 1000.0
        };
        let start = Instant::now();
        NativeTimer.sleep(Duration::from_secs_f64(ms / 1e3)).await;
        let seen = start.elapsed().as_secs_f64() * 1e3;
        self.latencies.lock().unwrap().push(seen);
    }
}

struct HedgeRun {
    /// Each job's latency, from its first attempt's start to its winning attempt's end, sorted.
    latencies: Vec<f64>,
    requests: u64,
    slow: u64,
    /// The service's own view of each request's latency, sorted.
    service: Vec<f64>,
    metrics: Metrics,
    wall: Duration,
}

impl HedgeRun {
    fn p(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }
}

fn hedge_run(jobs: usize, workers: usize, hedge: Option<Hedge>, seed: u64) -> HedgeRun {
    let service = Arc::new(TailService::new(seed));
    let mut builder = Pool::builder().workers(workers).queue(jobs);
    if let Some(h) = hedge {
        builder = builder.hedge(h);
    }
    let pool = builder.build().unwrap();
    let start = Instant::now();
    let mut latencies = workcrew::native::block_on(async {
        let mut handles = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            let service = service.clone();
            // The job's start: its first attempt's (a hedge finds it set).
            let first = Arc::new(OnceLock::<Instant>::new());
            let job = Job::new(move |_| {
                let (service, first) = (service.clone(), first.clone());
                async move {
                    let t0 = *first.get_or_init(Instant::now);
                    service.request().await;
                    Ok::<f64, ()>(t0.elapsed().as_secs_f64() * 1e3)
                }
            });
            handles.push(pool.submit(job).await.unwrap());
        }
        let mut out = Vec::with_capacity(jobs);
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    let wall = start.elapsed();
    let metrics = workcrew::native::block_on(pool.shutdown()).metrics;
    latencies.sort_by(f64::total_cmp);
    let mut seen = std::mem::take(&mut *service.latencies.lock().unwrap());
    seen.sort_by(f64::total_cmp);
    HedgeRun {
        latencies,
        requests: service.requests.load(Relaxed),
        slow: service.slow.load(Relaxed),
        service: seen,
        metrics,
        wall,
    }
}

fn hedging() {
    let rounds = env_usize("HEDGE_ROUNDS", 15);
    let jobs = env_usize("HEDGE_JOBS", 3000);
    let workers = env_usize("HEDGE_WORKERS", 50);
    println!("\n### Hedging: a simulated service, 5% of requests 10× the median\n");
    println!(
        "{jobs} jobs per run on {workers} workers (all submitted at once, queue {jobs}); each job one request to a service \
         where one request in every 20 (exactly 5%, at a random place) takes {:.0} ms and the others 1.5–2.5 ms \
         (uniform, median {MEDIAN_MS:.0} ms); timed by the workers' NativeTimer. A job's latency runs from its first \
         attempt's start to its winning attempt's end. Requests are counted by the service when they start \
         (a hedge dropped after it started counts).",
        MEDIAN_MS * SLOW_FACTOR
    );

    // Calibration: the p95 of the service's latency, as the service saw it, without hedging
    // (nearest rank; the median of three runs). Every run's request count is a multiple of 20,
    // so exactly 5% are slow and the p95 is the slowest of the fast requests.
    let mut p95s = Vec::new();
    for c in 0..3 {
        let run = hedge_run(jobs, workers, None, 1000 + c);
        p95s.push(percentile(&run.service, 95.0));
    }
    let delay_ms = median(&p95s);
    let delay = Duration::from_secs_f64(delay_ms / 1e3);
    let hedge = Hedge::new(delay, 1).unwrap();
    println!(
        "\nHedge delay: the service's p95 from three calibration runs without hedging: {} ms, median {delay_ms:.2} ms → `Hedge::new({:.2} ms, 1)`.\n",
        p95s.iter().map(|p| format!("{p:.2}")).collect::<Vec<_>>().join(", "),
        delay_ms
    );

    println!("| round | p50 off | p99 off | p50 on | p99 on | p99 on/off | requests off | requests on | extra | hedges started | hedges won | service p95 off (ms) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut ratios, mut extras) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        // The same service draws for both runs of a round; which goes first alternates.
        let seed = 7 + r as u64;
        let (off, on) = if r % 2 == 0 {
            let off = hedge_run(jobs, workers, None, seed);
            (off, hedge_run(jobs, workers, Some(hedge), seed))
        } else {
            let on = hedge_run(jobs, workers, Some(hedge), seed);
            (hedge_run(jobs, workers, None, seed), on)
        };
        assert_eq!(off.requests, jobs as u64);
        assert_eq!(off.slow * BLOCK, off.requests);
        assert_eq!(on.requests, jobs as u64 + on.metrics.hedges_started);
        let ratio = on.p(99.0) / off.p(99.0);
        let extra = on.requests as f64 / off.requests as f64 - 1.0;
        ratios.push(ratio);
        extras.push(extra);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {ratio:.3} | {} | {} | {:.1}% | {} | {} | {:.2} |",
            r + 1,
            off.p(50.0),
            off.p(99.0),
            on.p(50.0),
            on.p(99.0),
            off.requests,
            on.requests,
            extra * 100.0,
            on.metrics.hedges_started,
            on.metrics.hedges_won,
            percentile(&off.service, 95.0),
        );
        eprintln!(
            "hedge round {}: p99 {:.2} → {:.2} ms ({ratio:.3}), extra {:.1}%, walls {:.0}/{:.0} ms",
            r + 1,
            off.p(99.0),
            on.p(99.0),
            extra * 100.0,
            ms(off.wall),
            ms(on.wall)
        );
    }
    let range = |xs: &[f64]| {
        let (lo, hi) = xs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        (lo, hi)
    };
    let (m, (lo, hi)) = (median(&ratios), range(&ratios));
    let (me, (elo, ehi)) = (median(&extras), range(&extras));
    println!(
        "\nMedian over {rounds} rounds: p99 with/without hedging {m:.3}× (range {lo:.3}–{hi:.3}); extra requests {:.1}% (range {:.1}–{:.1}%).",
        me * 100.0,
        elo * 100.0,
        ehi * 100.0
    );
    println!(
        "#T\thedging: p99 with / without, Hedge::new({delay_ms:.2} ms, 1)\t{m:.3}× (range {lo:.3}–{hi:.3})\t≤ 0.3×\t{}",
        verdict(m <= 0.3)
    );
    println!(
        "#T\thedging: extra requests at the service\t{:.1}% (range {:.1}–{:.1}%)\t≤ 10%\t{}",
        me * 100.0,
        elo * 100.0,
        ehi * 100.0,
        verdict(me <= 0.10)
    );
}

// --- the circuit breaker ------------------------------------------------------------------------

/// A service in a 2 s outage: every request that starts within `outage` of `start` fails after
/// 1 ms; later requests succeed after 1 ms. Counted at the service.
struct OutageService {
    start: Instant,
    outage: Duration,
    during: AtomicU64,
    after: AtomicU64,
}

impl OutageService {
    async fn request(&self) -> Result<(), &'static str> {
        let down = self.start.elapsed() < self.outage;
        if down {
            self.during.fetch_add(1, Relaxed);
        } else {
            self.after.fetch_add(1, Relaxed);
        }
        NativeTimer.sleep(Duration::from_millis(1)).await;
        if down {
            Err("503")
        } else {
            Ok(())
        }
    }
}

struct BreakerRun {
    during: u64,
    after: u64,
    failed: u64,
    refused: u64,
    succeeded: u64,
    metrics: Metrics,
    submit_span: Duration,
}

const OUTAGE: Duration = Duration::from_secs(2);
const BREAKER_JOBS: u32 = 1000;

fn breaker_run(breaker: Option<CircuitBreaker>) -> BreakerRun {
    let mut builder = Pool::builder().workers(8).queue(BREAKER_JOBS as usize);
    if let Some(b) = breaker {
        builder = builder.circuit_breaker(b);
    }
    let pool = builder.build().unwrap();
    let start = Instant::now();
    let service = Arc::new(OutageService {
        start,
        outage: OUTAGE,
        during: AtomicU64::new(0),
        after: AtomicU64::new(0),
    });
    let (results, submit_span) = workcrew::native::block_on(async {
        let mut handles = Vec::new();
        // 1,000 jobs spread evenly over the outage: job i is submitted at i × 2 ms.
        for i in 0..BREAKER_JOBS {
            let due = start + OUTAGE * i / BREAKER_JOBS;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let service = service.clone();
            let job = Job::new(move |_| {
                let service = service.clone();
                async move { service.request().await }
            });
            handles.push(pool.submit(job).await.unwrap());
        }
        let span = start.elapsed();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await);
        }
        (out, span)
    });
    let metrics = workcrew::native::block_on(pool.shutdown()).metrics;
    let (mut failed, mut refused, mut succeeded) = (0, 0, 0);
    for r in results {
        match r {
            Ok(()) => succeeded += 1,
            Err(JobError::CircuitOpen { .. }) => refused += 1,
            Err(JobError::Failed { .. }) => failed += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    BreakerRun {
        during: service.during.load(Relaxed),
        after: service.after.load(Relaxed),
        failed,
        refused,
        succeeded,
        metrics,
        submit_span,
    }
}

fn breaker() {
    let rounds = env_usize("BREAKER_ROUNDS", 3);
    let breaker = CircuitBreaker::consecutive(5, Duration::from_millis(500));
    println!("\n### Circuit breaker: a 2 s outage, 1,000 jobs\n");
    println!(
        "1,000 jobs (no retries, 8 workers), submitted one every 2 ms over the outage; the service fails every request \
         that starts within 2 s of the first submission (after 1 ms), and counts them. With \
         `CircuitBreaker::consecutive(5, 500 ms)` against no breaker; which runs first alternates.\n"
    );
    println!("| round | requests, no breaker | requests, breaker | ratio | breaker: failed / refused / succeeded | opened | submissions took (ms) |");
    println!("|---:|---:|---:|---:|---|---:|---|");
    let mut ratios = Vec::new();
    let (mut offs, mut ons) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (off, on) = if r % 2 == 0 {
            let off = breaker_run(None);
            (off, breaker_run(Some(breaker)))
        } else {
            let on = breaker_run(Some(breaker));
            (breaker_run(None), on)
        };
        let ratio = on.during as f64 / off.during as f64;
        ratios.push(ratio);
        offs.push(off.during as f64);
        ons.push(on.during as f64);
        assert_eq!(on.refused, on.metrics.circuit_refused);
        println!(
            "| {} | {} (+{} after) | {} (+{} after) | {:.2}% | {} / {} / {} | {} | {:.0} / {:.0} |",
            r + 1,
            off.during,
            off.after,
            on.during,
            on.after,
            ratio * 100.0,
            on.failed,
            on.refused,
            on.succeeded,
            on.metrics.circuit_opened,
            ms(off.submit_span),
            ms(on.submit_span),
        );
        eprintln!(
            "breaker round {}: {} → {} requests ({:.2}%)",
            r + 1,
            off.during,
            on.during,
            ratio * 100.0
        );
    }
    let m = median(&ratios);
    let hi = ratios.iter().cloned().fold(f64::MIN, f64::max);
    println!(
        "\n(\"after\": requests that started once the outage was over, not counted.) Median ratio {:.2}% (worst {:.2}%).",
        m * 100.0,
        hi * 100.0
    );
    println!(
        "#T\tbreaker: requests during the outage, consecutive(5, 500 ms) / none\t{:.0} / {:.0} = {:.2}% (worst {:.2}%)\t≤ 5%\t{}",
        median(&ons),
        median(&offs),
        m * 100.0,
        hi * 100.0,
        verdict(m <= 0.05)
    );
}

// --- the retry budget ---------------------------------------------------------------------------

fn budget_run(budget: Option<RetryBudget>) -> Metrics {
    let mut builder = Pool::builder().workers(8).queue(1000).retries(3).backoff(Backoff::none());
    if let Some(b) = budget {
        builder = builder.retry_budget(b);
    }
    let pool = builder.build().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    workcrew::native::block_on(async {
        let mut handles = Vec::new();
        for _ in 0..1000 {
            let requests = requests.clone();
            let job = Job::new(move |_| {
                let requests = requests.clone();
                async move {
                    requests.fetch_add(1, Relaxed);
                    NativeTimer.sleep(Duration::from_micros(100)).await;
                    Err::<(), _>("down")
                }
            });
            handles.push(pool.submit(job).await.unwrap());
        }
        for h in handles {
            assert!(matches!(h.await, Err(JobError::Failed { .. })));
        }
    });
    let m = workcrew::native::block_on(pool.shutdown()).metrics;
    assert_eq!(m.attempts, requests.load(Relaxed));
    m
}

fn budget() {
    let rounds = env_usize("BUDGET_ROUNDS", 3);
    println!("\n### Retry budget: 100% failure\n");
    println!(
        "1,000 jobs with `retries(3)`, no backoff, 8 workers; every attempt fails (after 0.1 ms). \
         `RetryBudget::new(20)` (20 per 100 first attempts, min_retries 10, window 1,000 first attempts) \
         against no budget. Bound: 20/100 × started + 10.\n"
    );
    println!("| round | budget | started | retried | bound | retries_denied | attempts |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut worst_margin = i64::MAX;
    let mut all_ok = true;
    let mut last = None;
    for r in 0..rounds {
        let none = budget_run(None);
        let with = budget_run(Some(RetryBudget::new(20)));
        for (name, m) in [("none", none), ("new(20)", with)] {
            let bound = 20 * m.started / 100 + 10;
            println!(
                "| {} | {name} | {} | {} | {} | {} | {} |",
                r + 1,
                m.started,
                m.retried,
                if name == "none" { "–".to_string() } else { bound.to_string() },
                m.retries_denied,
                m.attempts
            );
        }
        let bound = 20 * with.started / 100 + 10;
        all_ok &= with.retried <= bound;
        worst_margin = worst_margin.min(bound as i64 - with.retried as i64);
        last = Some(with);
        eprintln!(
            "budget round {}: retried {} of bound {bound}, denied {}",
            r + 1,
            with.retried,
            with.retries_denied
        );
    }
    let m = last.unwrap();
    let bound = 20 * m.started / 100 + 10;
    println!("\nEvery round within the bound: {all_ok} (smallest margin {worst_margin}).");
    println!(
        "#T\tbudget: retried ≤ 20/100 × started + 10 (retries(3), RetryBudget::new(20))\tretried {} of started {}, denied {} (every round: {})\t≤ {bound}\t{}",
        m.retried,
        m.started,
        m.retries_denied,
        if all_ok { "within" } else { "over" },
        verdict(all_ok)
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    println!(
        "## The policies' native targets ({} cores, load average {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    match which.as_str() {
        "hedge" => hedging(),
        "breaker" => breaker(),
        "budget" => budget(),
        "all" => {
            hedging();
            breaker();
            budget();
        }
        other => panic!("unknown target {other:?}: hedge, breaker, budget or all"),
    }
}
