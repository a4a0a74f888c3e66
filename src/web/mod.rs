//! The core of the npm package (`web` feature): the pool in WebAssembly, driven by the package's
//! JavaScript (`npm/index.js`), which is the JavaScript API (`new WorkPool(options)`).
//!
//! The split: Rust keeps the queue, the workers, timeouts, retries, backoff and the metrics;
//! JavaScript keeps what belongs to JavaScript — each job's function, its value or error, its
//! promise, its attempts' `AbortSignal`s and the events' listeners — and only numbers cross
//! between them (see `host.rs` for one job's path). Workers run as `spawn_local` tasks on the
//! page's event loop; timeouts and backoff use [`WebTimer`] (`setTimeout`).
//!
//! Options are checked here, so that their names and units are the Rust builder's (times in
//! milliseconds): every mistake is a `TypeError` or `RangeError` whose message names the field.
//!
//! The scheduler's controls (issue 18) are the Rust pool's, under p-queue's names: `priority`,
//! `key` and `id` on a job; `concurrency`, `perKey`, `intervalCap` and `interval` on the pool;
//! `setPriority`, `pause`/`start`/`isPaused`, the `concurrency` setter, `setRateLimit`,
//! `isRateLimited` and `clear` on it (`onSizeLessThan` is the package's JavaScript: it looks at
//! `size` after each event, as `onEmpty` does).
//!
//! The policies across attempts (issue 19) are the Rust pool's too, with the same names (times
//! in ms): `deadline`, `hedge: { delay, max }`, `retryBudget: { percent, minRetries, window }`
//! and `circuitBreaker: { failures | percent, ofLast, cooldown, perKey }` on the pool;
//! `deadline`, `hedge` (`null` or `false` opts out) and `shouldRetry(failure)` (the retry
//! predicate on the whole outcome, `RetryIf::should_retry_failure`) on a job.

mod host;
mod options;
mod timer;

pub use timer::{WebSleep, WebTimer};

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::future::Future;
use core::pin::Pin;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::{JobEvent, LocalPool, LocalPoolBuilder, Metrics, ShutdownReport, SubmitError};
use host::{Host, Shared};
use options::{JobOptions, PoolOptions};

/// The pool behind the package's `WorkPool` (exported to JavaScript as `PoolCore`). It needs
/// the package's JavaScript side, the host, which it is built with.
#[wasm_bindgen(js_name = PoolCore, skip_typescript)]
pub struct WorkPool {
    pool: LocalPool<WebTimer>,
    shared: Rc<Shared>,
}

impl core::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkPool").field("pool", &self.pool).finish_non_exhaustive()
    }
}

/// `push`'s answers besides a job's id.
const FULL: f64 = -1.0;
const CLOSED: f64 = -2.0;
/// `pushWith`'s: the submission's signal had already fired (its reason: `takeReason`).
const ABORTED: f64 = -3.0;
/// `admitted`'s: the waiting submission was withdrawn (`withdraw`): its signal fired.
const WITHDRAWN: f64 = -4.0;

#[wasm_bindgen(js_class = PoolCore)]
impl WorkPool {
    /// `new PoolCore(options, host)`: checks every option of `new WorkPool(options)` (`onEvent`
    /// too, which the host keeps) and starts the workers.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, host: JsValue) -> Result<WorkPool, JsValue> {
        let o = PoolOptions::parse(&options)?;
        let breaker = o.circuit_breaker.is_some();
        let shared = Rc::new(Shared::new(host.unchecked_into::<Host>(), breaker));
        let to_host = Rc::clone(&shared);
        let mut builder = LocalPoolBuilder::new(WebTimer)
            .workers(o.workers)
            .concurrency(o.concurrency)
            .queue(o.queue)
            .retries(o.retries)
            .backoff(o.backoff)
            .on_event(move |event| to_host.event(event));
        if let Some(timeout) = o.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(n) = o.per_key {
            builder = builder.per_key(n);
        }
        if let Some(rate) = o.rate {
            builder = builder.rate_limit(rate.count(), rate.interval());
        }
        if let Some(deadline) = o.deadline {
            builder = builder.deadline(deadline);
        }
        if let Some(hedge) = o.hedge {
            builder = builder.hedge(hedge);
        }
        if let Some(budget) = o.retry_budget {
            builder = builder.retry_budget(budget);
        }
        if let Some(breaker) = o.circuit_breaker {
            builder = builder.circuit_breaker(breaker);
        }
        // Cannot fail: `parse` checked the same limits, and names the field.
        let (pool, workers) =
            builder.build_workers().map_err(|_| options::range_error(&["invalid pool options"]))?;
        for worker in workers {
            wasm_bindgen_futures::spawn_local(worker);
        }
        Ok(WorkPool { pool, shared })
    }

    /// `push(waiter)`: enqueues a job submitted without options, whose function the host
    /// keeps, and returns its id.
    ///
    /// When the queue is full it returns -1: with `waiter` ≥ 0 (`submit`), the job waits for
    /// room and the host's `admitted(waiter, id)` tells its id later (or -2 if the pool closed
    /// first); with `waiter` < 0 (`trySubmit`), the job is refused and the refusal counted.
    /// Returns -2 if the pool is closed.
    pub fn push(&self, waiter: f64) -> f64 {
        self.enqueue(None, waiter)
    }

    /// `pushWith(options, waiter)`: [`push`](Self::push) with the submission's options. Throws a
    /// `TypeError`/`RangeError` for bad options; returns -3 if `options.signal` has already
    /// fired (its reason: [`takeReason`](Self::take_reason)). Then nothing is enqueued.
    #[wasm_bindgen(js_name = pushWith)]
    pub fn push_with(&self, options: JsValue, waiter: f64) -> Result<f64, JsValue> {
        let mut options = JobOptions::parse(&options)?;
        if let Some(reason) = options.aborted.take() {
            self.shared.reason.set(reason);
            return Ok(ABORTED);
        }
        Ok(self.enqueue(Some(options), waiter))
    }

    /// `pushLean(priority, key, waiter)`: [`pushWith`](Self::push_with) for options that have
    /// no field but `priority` (an `i32`, checked by the host) and `key` (checked here; or
    /// `undefined`), without walking an options object: the common case of a job with a
    /// priority, or a key, costs little more than one without options.
    #[wasm_bindgen(js_name = pushLean)]
    pub fn push_lean(&self, priority: i32, key: JsValue, waiter: f64) -> Result<f64, JsValue> {
        let key = if key.is_undefined() { None } else { Some(options::key_value(&key)?) };
        Ok(self.enqueue(Some(JobOptions::lean(priority, key)), waiter))
    }

    /// `takeReason()`: the reason of the signal that refused the last submission (`pushWith`'s
    /// -3).
    #[wasm_bindgen(js_name = takeReason)]
    pub fn take_reason(&self) -> JsValue {
        self.shared.reason.take()
    }

    /// `withdraw(waiter)`: the `signal` of a submission still waiting for room fired; it leaves
    /// the line at once (the host has rejected its promise; `admitted(waiter, -4)` follows).
    pub fn withdraw(&self, waiter: f64) {
        self.shared.line.withdraw(waiter);
    }

    /// `cancel(id)`: the submission's `signal` fired. Cancels the job (if it has not ended) and
    /// returns whether that took effect; the job then settles as cancelled.
    pub fn cancel(&self, job: f64) -> bool {
        self.shared.cancel(job as u64)
    }

    /// `attemptDone(token, job, attempt, ok)`: attempt `attempt` of `job` ended (its value or
    /// error stays with the host). A call for an attempt that is no longer running (it was
    /// dropped, or ended) does nothing, whichever attempt holds `token` now.
    #[wasm_bindgen(js_name = attemptDone)]
    pub fn attempt_done(&self, token: u32, job: f64, attempt: u32, ok: bool) {
        self.shared.attempts.done(token, job as u64, attempt, ok);
    }

    /// `setPriority(id, priority)`: changes the priority of job `id` (submitted with an `id`
    /// option) if it is still queued; returns whether it was. The host checks `priority` (an
    /// integer in the `i32` range) first.
    #[wasm_bindgen(js_name = setPriority)]
    pub fn set_priority(&self, job: f64, priority: i32) -> bool {
        self.shared.set_priority(job as u64, priority)
    }

    /// `pause()`: no queued job starts until `resume()`; running attempts go on, submissions
    /// still queue.
    pub fn pause(&self) {
        self.pool.pause();
    }

    /// `resume()`: queued jobs start again.
    pub fn resume(&self) {
        self.pool.resume();
    }

    /// Whether the pool is paused.
    #[wasm_bindgen(getter, js_name = isPaused)]
    pub fn is_paused(&self) -> bool {
        self.pool.is_paused()
    }

    /// How many jobs may run at once now.
    #[wasm_bindgen(getter)]
    pub fn concurrency(&self) -> u32 {
        self.pool.concurrency() as u32
    }

    /// `setConcurrency(n)`: `n` from 1 to `workers`, which the host checks first (a `TypeError`
    /// or `RangeError` naming `concurrency`, as it does once the core is freed), so this cannot
    /// fail. Growing starts queued jobs at once; shrinking interrupts nothing.
    #[wasm_bindgen(js_name = setConcurrency)]
    pub fn set_concurrency(&self, n: u32) {
        let _ = self.pool.set_concurrency(n as usize);
    }

    /// `setRateLimit(options)`: `{ intervalCap, interval }` (ms), or `null` to lift the
    /// limit; else a `TypeError` or `RangeError` naming the field.
    #[wasm_bindgen(js_name = setRateLimit)]
    pub fn set_rate_limit(&self, options: JsValue) -> Result<(), JsValue> {
        let rate = options::set_rate_limit(&options)?;
        // Cannot fail: checked above, with the field's name.
        self.pool.set_rate_limit(rate).map_err(|_| options::range_error(&["intervalCap"]))
    }

    /// The rate limit's count (`Infinity` without one, as p-queue's default).
    #[wasm_bindgen(getter, js_name = intervalCap)]
    pub fn interval_cap(&self) -> f64 {
        self.pool.rate_limit().map_or(f64::INFINITY, |r| r.count() as f64)
    }

    /// The rate limit's interval in ms (0 without one, as p-queue's default).
    #[wasm_bindgen(getter)]
    pub fn interval(&self) -> f64 {
        self.pool.rate_limit().map_or(0.0, |r| millis(r.interval()))
    }

    /// Whether a job (or a retry) that could otherwise start now waits for the rate limit.
    #[wasm_bindgen(getter, js_name = isRateLimited)]
    pub fn is_rate_limited(&self) -> bool {
        self.pool.is_rate_limited()
    }

    /// `clear()`: cancels every queued job (each settles at once, as cancelled) and returns
    /// how many.
    pub fn clear(&self) -> f64 {
        self.pool.clear() as f64
    }

    /// `listen(on)`: whether the host wants every event, or only the ones it needs.
    pub fn listen(&self, on: bool) {
        self.shared.listening.set(on);
    }

    /// Jobs waiting in the queue.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.pool.queued() as f64
    }

    /// Jobs running now.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> f64 {
        self.pool.metrics().running as f64
    }

    /// `metrics()`: the counters and gauges as a plain object.
    pub fn metrics(&self) -> JsValue {
        metrics_object(&self.pool.metrics()).into()
    }

    /// `shutdown(options, fromJob)`: drain, or drain for at most `options.timeout` ms, then
    /// cancel the rest. `fromJob`: the id of the job whose `ctx.shutdown` called it (-1 for
    /// none), so it does not wait for that job's worker while the job runs; a call made as a job
    /// starts (before its first `await`) is recognised as the job's own without it.
    pub fn shutdown(&self, options: JsValue, from_job: f64) -> Promise {
        let timeout = match options::shutdown_timeout(&options) {
            Ok(d) => d,
            Err(e) => return Promise::reject(&e),
        };
        let from_job = if from_job >= 0.0 {
            Some(crate::pool::JobTag::of(from_job as u64))
        } else {
            self.pool.core().inside_own_job()
        };
        let pool = self.pool.clone();
        self.report(Box::pin(async move {
            match timeout {
                Some(d) => pool.core().drain_until(d, from_job).await,
                None => pool.core().drain(from_job).await,
            }
        }))
    }

    /// `abort()`: cancel queued jobs, abort running attempts.
    pub fn abort(&self) -> Promise {
        let pool = self.pool.clone();
        self.report(Box::pin(async move { pool.abort().await }))
    }

    /// The number of workers.
    #[wasm_bindgen(getter)]
    pub fn workers(&self) -> u32 {
        self.pool.workers() as u32
    }

    /// The queue's capacity.
    #[wasm_bindgen(getter)]
    pub fn queue(&self) -> u32 {
        self.pool.capacity() as u32
    }

    /// Whether the pool has stopped accepting jobs.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.pool.is_closed()
    }
}

impl WorkPool {
    /// Enqueues a job whose function the host keeps (see `push`).
    fn enqueue(&self, options: Option<JobOptions>, waiter: f64) -> f64 {
        let keep = options.as_ref().is_some_and(|o| o.keep);
        let job = host::job(Rc::clone(&self.shared), options);
        // Once submissions wait, later ones queue up behind them: first come, first admitted.
        let job = if waiter >= 0.0 && self.shared.waiting.get() > 0 {
            job
        } else {
            // `trySubmit` counts a full queue's refusal; `submit` waits instead.
            let tried =
                if waiter < 0.0 { self.pool.try_submit(job) } else { self.pool.try_push(job) };
            match tried {
                Ok(handle) => return self.shared.admitted(handle, keep),
                Err(SubmitError::Closed(_)) => return CLOSED,
                Err(SubmitError::Full(_)) if waiter < 0.0 => return FULL,
                Err(SubmitError::Full(job)) => job,
            }
        };
        let (pool, shared) = (self.pool.clone(), Rc::clone(&self.shared));
        shared.waiting.set(shared.waiting.get() + 1);
        let withdrawn = shared.line.join(waiter);
        wasm_bindgen_futures::spawn_local(async move {
            // Withdrawn (its signal fired): the submission is dropped, so it leaves the line
            // and its turn passes to the next.
            let admit = async { Some(pool.submit(job).await) };
            let submitted = futures_lite::future::or(admit, withdrawn).await;
            shared.waiting.set(shared.waiting.get() - 1);
            shared.line.leave(waiter);
            let id = match submitted {
                None => WITHDRAWN,
                Some(Ok(handle)) => shared.admitted(handle, keep),
                Some(Err(_)) => CLOSED,
            };
            shared.host.admitted(waiter, id);
        });
        FULL
    }

    /// A shutdown's promise of its report (one promise type for both kinds of shutdown).
    fn report(&self, shutdown: Pin<Box<dyn Future<Output = ShutdownReport>>>) -> Promise {
        wasm_bindgen_futures::future_to_promise(
            async move { Ok(report_object(&shutdown.await).into()) },
        )
    }
}

/// `checkJobOptions(options)`: what `pushWith` checks, for a pool that has ended (whose core
/// is freed): throws a `TypeError`/`RangeError` for bad options; returns the reason of an
/// already-fired `signal`, or `undefined`.
#[wasm_bindgen(js_name = checkJobOptions, skip_typescript)]
pub fn check_job_options(options: JsValue) -> Result<JsValue, JsValue> {
    Ok(JobOptions::parse(&options)?.aborted.unwrap_or_default())
}

/// `checkShutdownOptions(options)`: what `shutdown` checks, for a pool that has ended: throws
/// a `TypeError`/`RangeError` for bad options.
#[wasm_bindgen(js_name = checkShutdownOptions, skip_typescript)]
pub fn check_shutdown_options(options: JsValue) -> Result<(), JsValue> {
    options::shutdown_timeout(&options).map(drop)
}

/// `checkRateLimit(options)`: what `setRateLimit` checks, for a pool that has ended: throws a
/// `TypeError`/`RangeError` for bad options; returns `[intervalCap, interval]`, or `undefined`
/// for `null` (no rate limit).
#[wasm_bindgen(js_name = checkRateLimit, skip_typescript)]
pub fn check_rate_limit(options: JsValue) -> Result<JsValue, JsValue> {
    Ok(match options::set_rate_limit(&options)? {
        None => JsValue::UNDEFINED,
        Some(r) => {
            js_sys::Array::of2(&(r.count() as f64).into(), &millis(r.interval()).into()).into()
        }
    })
}

/// `eventTypes()`: the events' names, each at its code's position (what the host's `event`
/// receives), so that the package's JavaScript reads them from here.
#[wasm_bindgen(js_name = eventTypes, skip_typescript)]
pub fn event_types() -> js_sys::Array {
    EVENT_TYPES.iter().map(|t| JsValue::from_str(t)).collect()
}

/// The events' names in JavaScript; an event's code is its position here (the order of
/// [`JobEvent`]'s variants). `npm/index.js` reads the codes it needs from this list by name.
const EVENT_TYPES: [&str; 15] = [
    "queued",
    "waitingOnKey",
    "attemptStarted",
    "attemptFailed",
    "attemptTimedOut",
    "retryScheduled",
    "succeeded",
    "failed",
    "cancelled",
    "hedgeStarted",
    "retryDenied",
    "deadlineExceeded",
    "circuitOpened",
    "circuitHalfOpen",
    "circuitClosed",
];

/// The code of `attemptTimedOut`, which the host always needs.
pub(crate) const TIMED_OUT: u32 = 4;
/// The code of `succeeded`; it, `failed` and `cancelled` end a job.
pub(crate) const SUCCEEDED: u32 = 6;
/// The code of `cancelled`, the last of the three that end a job.
pub(crate) const CANCELLED: u32 = 8;

/// An event in numbers, as the host's `event(code, job, n, delay)` receives it: its code (see
/// [`EVENT_TYPES`]); the attempt (codes 2 to 5, 9 and 10) or the attempts (6 to 8 and 11); and
/// the delay in ms (`retryScheduled`). The breaker's events (12 to 14) have no job: the host's
/// `circuit(code, key)` receives them.
pub(crate) fn event_parts(e: &JobEvent<'_>) -> (u32, u32, f64) {
    match *e {
        JobEvent::Queued { .. } => (0, 0, 0.0),
        JobEvent::WaitingOnKey { .. } => (1, 0, 0.0),
        JobEvent::AttemptStarted { attempt, .. } => (2, attempt, 0.0),
        JobEvent::AttemptFailed { attempt, .. } => (3, attempt, 0.0),
        // wasm32 aborts on panic: a JavaScript job throws instead, which fails its attempt.
        JobEvent::AttemptPanicked { attempt, .. } => (3, attempt, 0.0),
        JobEvent::AttemptTimedOut { attempt, .. } => (TIMED_OUT, attempt, 0.0),
        JobEvent::RetryScheduled { attempt, delay, .. } => {
            (5, attempt, delay.as_secs_f64() * 1000.0)
        }
        JobEvent::Succeeded { attempts, .. } => (SUCCEEDED, attempts, 0.0),
        JobEvent::Failed { attempts, .. } => (7, attempts, 0.0),
        JobEvent::Cancelled { attempts, .. } => (CANCELLED, attempts, 0.0),
        JobEvent::HedgeStarted { attempt, .. } => (9, attempt, 0.0),
        JobEvent::RetryDenied { attempt, .. } => (10, attempt, 0.0),
        JobEvent::DeadlineExceeded { attempts, .. } => (11, attempts, 0.0),
        JobEvent::CircuitOpened { .. } => (12, 0, 0.0),
        JobEvent::CircuitHalfOpen { .. } => (13, 0, 0.0),
        JobEvent::CircuitClosed { .. } => (14, 0, 0.0),
    }
}

/// A time in milliseconds, as JavaScript gave it (whole nanoseconds, so 100 ms reads back as
/// 100).
fn millis(d: core::time::Duration) -> f64 {
    d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_nanos()) / 1e6
}

/// Sets `obj[key]`.
fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// The metrics as a plain object (the host adds `listenerErrors`, which it counts).
fn metrics_object(m: &Metrics) -> Object {
    let o = Object::new();
    for (k, v) in [
        ("submitted", m.submitted),
        ("rejected", m.rejected),
        ("started", m.started),
        ("succeeded", m.succeeded),
        ("failed", m.failed),
        ("cancelled", m.cancelled),
        ("attempts", m.attempts),
        ("retried", m.retried),
        ("timedOut", m.timed_out),
        ("deadlineExceeded", m.deadline_exceeded),
        ("retriesDenied", m.retries_denied),
        ("circuitRefused", m.circuit_refused),
        ("circuitOpened", m.circuit_opened),
        ("hedgesStarted", m.hedges_started),
        ("hedgesWon", m.hedges_won),
        ("queued", m.queued),
        ("waitingOnKey", m.waiting_on_key),
        ("running", m.running),
        ("workers", m.workers),
    ] {
        set(&o, k, v as f64);
    }
    o
}

fn report_object(r: &ShutdownReport) -> Object {
    let o = Object::new();
    set(&o, "completed", r.completed as f64);
    set(&o, "cancelled", r.cancelled as f64);
    set(&o, "timedOut", r.timed_out);
    set(&o, "metrics", metrics_object(&r.metrics));
    o
}
