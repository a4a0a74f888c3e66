//! The JavaScript API (`web` feature): `new WorkPool(options)` in the browser or Node.
//!
//! Workers run as `spawn_local` tasks on the page's event loop; timeouts and backoff use
//! [`WebTimer`] (`setTimeout`). A job is a JavaScript function called with
//! `{ signal, attempt, job }` for each attempt; when the attempt times out, is cancelled or the
//! pool aborts, its `signal` fires, so a `fetch(url, { signal })` in flight is really aborted.
//!
//! Option names and units match the Rust builder (times in milliseconds). Bad options throw
//! (constructor, `trySubmit`) or reject (`submit`, `shutdown`) with a `TypeError` or
//! `RangeError` whose message names the field.

mod host;
mod job;
mod options;
mod signal;
mod timer;

pub use timer::{WebSleep, WebTimer};

use alloc::format;
use alloc::rc::Rc;
use alloc::string::ToString;
use core::cell::RefCell;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::{
    JobError, JobEvent, LocalPool, LocalPoolBuilder, Metrics, ShutdownReport, SubmitError,
};
use options::{JobOptions, PoolOptions};

/// A worker pool for JavaScript: the core of the package's `WorkPool` class (`npm/index.js`),
/// which adds `EventTarget`, `size`, `pending`, `onIdle()` and `onEmpty()`, and exports the
/// error classes. See the module docs and the TypeScript declarations.
#[wasm_bindgen(js_name = PoolCore, skip_typescript)]
pub struct WorkPool {
    pool: LocalPool<WebTimer>,
    /// Dropped attempts whose signals fire once their reason is known.
    aborts: Rc<signal::Aborts>,
    /// The package's JavaScript side, once attached: the fast path of `submit`.
    host: Rc<RefCell<Option<Rc<host::Shared>>>>,
    listener: Rc<RefCell<Option<Function>>>,
    /// Calls of the listener that threw (each caught and logged).
    listener_errors: Rc<core::cell::Cell<u64>>,
    /// The prototype of every job context: it carries `shutdown`, for a job to stop its own
    /// pool without waiting for itself.
    context: Object,
    /// Keeps `shutdown`'s function on the context prototype alive.
    _shutdown_from_job: Closure<dyn Fn(JsValue) -> Promise>,
}

impl core::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkPool").field("pool", &self.pool).finish_non_exhaustive()
    }
}

#[wasm_bindgen(js_class = PoolCore)]
impl WorkPool {
    /// `new WorkPool({ workers, queue, timeout, retries, backoff, onEvent })`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<WorkPool, JsValue> {
        let o = PoolOptions::parse(&options)?;
        let listener = Rc::new(RefCell::new(o.on_event));
        let observer = Rc::clone(&listener);
        let listener_errors = Rc::new(core::cell::Cell::new(0));
        let errors = Rc::clone(&listener_errors);
        let aborts = Rc::new(signal::Aborts::default());
        let timeouts = Rc::clone(&aborts);
        let attached: Rc<RefCell<Option<Rc<host::Shared>>>> = Rc::default();
        let to_host = Rc::clone(&attached);
        let mut builder = LocalPoolBuilder::new(WebTimer)
            .workers(o.workers)
            .queue(o.queue)
            .retries(o.retries)
            .backoff(o.backoff)
            .on_event(move |event| {
                if let JobEvent::AttemptTimedOut { job, .. } = *event {
                    let reason = signal::dom_exception("the attempt timed out", "TimeoutError");
                    timeouts.reason(job, reason);
                }
                if let Some(h) = to_host.borrow().as_ref() {
                    tell_host(&h.host, event);
                    if h.listening.get() {
                        if let Err(e) = host_event(&h.host, event) {
                            errors.set(errors.get() + 1);
                            web_log_error(&e);
                        }
                    }
                }
                // Cloned out, so a listener may replace itself or submit more jobs.
                let listener = observer.borrow().clone();
                if let Some(f) = listener {
                    if let Err(e) = f.call1(&JsValue::UNDEFINED, &event_object(event)) {
                        errors.set(errors.get() + 1);
                        web_log_error(&e);
                    }
                }
            });
        if let Some(timeout) = o.timeout {
            builder = builder.timeout(timeout);
        }
        let (pool, workers) =
            builder.build_workers().map_err(|e| options::range_error(&e.to_string()))?;
        for worker in workers {
            wasm_bindgen_futures::spawn_local(worker);
        }
        let (p, errors) = (pool.clone(), Rc::clone(&listener_errors));
        let shutdown_from_job = Closure::<dyn Fn(JsValue) -> Promise>::new(move |options| {
            shutdown_promise(p.clone(), &options, true, Rc::clone(&errors))
        });
        let context = job::context_prototype(shutdown_from_job.as_ref());
        Ok(WorkPool {
            pool,
            aborts,
            host: attached,
            listener,
            listener_errors,
            context,
            _shutdown_from_job: shutdown_from_job,
        })
    }

    /// `submit(job, options)`: a promise of the job's value; waits for room in the queue.
    pub fn submit(&self, job: JsValue, options: JsValue) -> Promise {
        let prepared = match self.prepare(job, &options) {
            Ok(p) => p,
            Err(e) => return Promise::reject(&e),
        };
        let (pool, aborts) = (self.pool.clone(), Rc::clone(&self.aborts));
        future_to_promise(async move {
            let (job, signal) = prepared;
            let handle = pool.submit(job).await.map_err(refused)?;
            settle(handle, signal, aborts).await
        })
    }

    /// `trySubmit(job, options)`: like `submit`, but throws a `QueueFullError` or
    /// `PoolClosedError` at once instead of waiting.
    #[wasm_bindgen(js_name = trySubmit)]
    pub fn try_submit(&self, job: JsValue, options: JsValue) -> Result<Promise, JsValue> {
        let (job, signal) = self.prepare(job, &options)?;
        let handle = self.pool.try_submit(job).map_err(refused)?;
        Ok(future_to_promise(settle(handle, signal, Rc::clone(&self.aborts))))
    }

    /// `attach(host)`: the package's JavaScript side (`npm/index.js`), which keeps the fast
    /// path's functions, values and promises. Once per pool.
    pub fn attach(&self, host: JsValue) {
        let shared = host::Shared {
            host: host.unchecked_into(),
            listening: core::cell::Cell::new(false),
            attempts: host::Attempts::default(),
        };
        *self.host.borrow_mut() = Some(Rc::new(shared));
    }

    /// `push()`: the fast path of `submit` (see `host.rs`). Enqueues a job whose function the
    /// host keeps and returns its id, or -1 if the queue is full (not counted as a refusal: the
    /// caller then waits through `submit`), or -2 if the pool is closed, or -3 without a host.
    pub fn push(&self) -> f64 {
        let Some(shared) = self.host.borrow().clone() else { return -3.0 };
        match self.pool.try_push(host::host_job(shared)) {
            Some(id) => id as f64,
            None if self.pool.is_closed() => -2.0,
            None => -1.0,
        }
    }

    /// `listen(on)`: whether the host wants events, built by the host from numbers.
    pub fn listen(&self, on: bool) {
        if let Some(shared) = self.host.borrow().as_ref() {
            shared.listening.set(on);
        }
    }

    /// `attemptDone(token, ok)`: a fast-path attempt ended (its value or error stays with the
    /// host).
    #[wasm_bindgen(js_name = attemptDone)]
    pub fn attempt_done(&self, token: u32, ok: bool) {
        if let Some(shared) = self.host.borrow().as_ref() {
            shared.attempts.done(token, ok);
        }
    }

    /// The prototype of this pool's job contexts (`shutdown`, the lazy `signal`).
    #[wasm_bindgen(getter, js_name = contextPrototype)]
    pub fn context_prototype(&self) -> Object {
        self.context.clone()
    }

    /// Jobs waiting in the queue.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.pool.metrics().queued as f64
    }

    /// Jobs running now.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> f64 {
        self.pool.metrics().running as f64
    }

    /// `metrics()`: the counters and gauges as a plain object.
    pub fn metrics(&self) -> JsValue {
        metrics_object(&self.pool.metrics(), self.listener_errors.get()).into()
    }

    /// `shutdown({ timeout })`: drain, or drain for at most `timeout` ms, then cancel the rest.
    ///
    /// Called by one of the pool's own jobs before its first `await`, it is recognised as the
    /// job's own (see `ctx.shutdown`); later in a job, use `ctx.shutdown`.
    pub fn shutdown(&self, options: JsValue) -> Promise {
        let from_job = self.pool.core().is_inside_own_job();
        shutdown_promise(self.pool.clone(), &options, from_job, Rc::clone(&self.listener_errors))
    }

    /// `abort()`: cancel queued jobs, abort running attempts.
    pub fn abort(&self) -> Promise {
        let pool = self.pool.clone();
        let errors = Rc::clone(&self.listener_errors);
        future_to_promise(
            async move { Ok(report_object(&pool.abort().await, errors.get()).into()) },
        )
    }

    /// `onEvent(listener | null)`: replaces the event listener.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(&self, listener: JsValue) -> Result<(), JsValue> {
        let f = if listener.is_null() || listener.is_undefined() {
            None
        } else {
            Some(options::function(listener, "listener")?)
        };
        *self.listener.borrow_mut() = f;
        Ok(())
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

/// Checks a submission's arguments and builds its job.
#[allow(clippy::type_complexity)]
/// A shutdown's promise. `from_job`: started by one of the pool's jobs, so it waits for every
/// other worker but not for the caller's own (which is busy running the caller).
fn shutdown_promise(
    pool: LocalPool<WebTimer>,
    options: &JsValue,
    from_job: bool,
    errors: Rc<core::cell::Cell<u64>>,
) -> Promise {
    let timeout = match options::shutdown_timeout(options) {
        Ok(d) => d,
        Err(e) => return Promise::reject(&e),
    };
    future_to_promise(async move {
        let report = match timeout {
            Some(d) => pool.core().drain_until(d, from_job).await,
            None => pool.core().drain(from_job).await,
        };
        Ok(report_object(&report, errors.get()).into())
    })
}

impl WorkPool {
    /// Checks a submission's arguments and builds its job.
    #[allow(clippy::type_complexity)] // the job's closure type can only be written as `impl`
    fn prepare(
        &self,
        f: JsValue,
        options: &JsValue,
    ) -> Result<(crate::Job<impl FnMut(crate::Attempt) -> job::JsAttempt>, Option<JsValue>), JsValue>
    {
        let f = options::function(f, "job")?;
        let options = JobOptions::parse(options)?;
        if let Some(reason) = options.signal.as_ref().and_then(signal::already_aborted) {
            return Err(reason);
        }
        let job = job::js_job(f, &options, self.context.clone(), Rc::clone(&self.aborts));
        Ok((job, options.signal))
    }
}

/// Waits for the job, cancelling it if the caller's `signal` fires first. Cancelled that way, it
/// rejects with `signal.reason`, as `fetch` does, and its running attempt's signal fires with
/// the same reason.
async fn settle(
    mut handle: crate::LocalJobHandle<JsValue, JsValue>,
    signal: Option<JsValue>,
    aborts: Rc<signal::Aborts>,
) -> Result<JsValue, JsValue> {
    let Some(signal) = signal else {
        return handle.await.map_err(job_error);
    };
    let mut aborted = signal::aborted(&signal);
    let first = futures_lite::future::or(async { Some((&mut handle).await) }, async {
        let _ = (&mut aborted).await;
        None
    })
    .await;
    if let Some(result) = first {
        return result.map_err(job_error);
    }
    let job = handle.job_id();
    let reason = signal::reason(&signal);
    aborts.reason(job, reason.clone());
    let cancelled = handle.cancel();
    let result = handle.await;
    aborts.forget(job);
    match result {
        Err(JobError::Cancelled { .. }) if cancelled => Err(reason),
        other => other.map_err(job_error),
    }
}

fn refused<J>(e: SubmitError<J>) -> JsValue {
    let (name, message) = match e {
        SubmitError::Full(_) => ("QueueFullError", "the queue is full"),
        SubmitError::Closed(_) => ("PoolClosedError", "the pool is shut down"),
    };
    named_error(name, message, None)
}

/// A job's failure as a JavaScript value: its own error, intact, or a named `Error`.
fn job_error(e: JobError<JsValue>) -> JsValue {
    let attempts = Some(e.attempts());
    match e {
        JobError::Failed { error, .. } => error,
        JobError::TimedOut { attempts: n } => {
            named_error("TimeoutError", &format!("job timed out after {n} attempts"), attempts)
        }
        JobError::Cancelled { attempts: n } => {
            named_error("AbortError", &format!("job cancelled after {n} attempts"), attempts)
        }
        // wasm32 aborts on panic, so this cannot happen; a job's own errors come back intact.
        JobError::Panicked { attempts: n, .. } => {
            named_error("Error", &format!("job failed after {n} attempts"), attempts)
        }
    }
}

std::thread_local! {
    /// Makes the pool's errors as instances of the package's exported classes
    /// (`setErrorFactory`); without it, plain `Error`s with the same `name`.
    static ERRORS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// `eventTypes()`: the events' names, each at its code's position (what the host's `event`
/// receives), so that the package's JavaScript reads them from here.
#[wasm_bindgen(js_name = eventTypes, skip_typescript)]
pub fn event_types() -> js_sys::Array {
    EVENT_TYPES.iter().map(|t| JsValue::from_str(t)).collect()
}

/// `abortContext(ctx, reason)`: fires a job context's signal with `reason` (when the job reads
/// it, if it has not yet). The package's fast path uses it for the attempts it runs, so that the
/// context's lazy `signal` is defined in one place (`job.rs`).
#[wasm_bindgen(js_name = abortContext, skip_typescript)]
pub fn abort_context(ctx: &Object, reason: &JsValue) {
    job::abort_context(ctx, reason);
}

/// `setErrorFactory((name, message, attempts) => Error)`: called once by the package's
/// `index.js`, so that `instanceof TimeoutError` and the like work.
#[wasm_bindgen(js_name = setErrorFactory, skip_typescript)]
pub fn set_error_factory(factory: Function) {
    ERRORS.with(|e| *e.borrow_mut() = Some(factory));
}

fn named_error(name: &str, message: &str, attempts: Option<u32>) -> JsValue {
    let attempts_js = attempts.map_or(JsValue::UNDEFINED, JsValue::from);
    let factory = ERRORS.with(|e| e.borrow().clone());
    if let Some(made) = factory.and_then(|f| {
        f.call3(&JsValue::UNDEFINED, &name.into(), &message.into(), &attempts_js).ok()
    }) {
        return made;
    }
    let e = js_sys::Error::new(message);
    e.set_name(name);
    if attempts.is_some() {
        let _ = Reflect::set(&e, &"attempts".into(), &attempts_js);
    }
    e.into()
}

/// Sets `obj[key]`. Keys are interned: sent to JavaScript once, not decoded again per call.
pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(wasm_bindgen::intern(key)), &value.into());
}

fn metrics_object(m: &Metrics, listener_errors: u64) -> Object {
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
        ("listenerErrors", listener_errors),
        ("queued", m.queued),
        ("running", m.running),
        ("workers", m.workers),
    ] {
        set(&o, k, v as f64);
    }
    o
}

fn report_object(r: &ShutdownReport, listener_errors: u64) -> Object {
    let o = Object::new();
    set(&o, "completed", r.completed as f64);
    set(&o, "cancelled", r.cancelled as f64);
    set(&o, "timedOut", r.timed_out);
    set(&o, "metrics", metrics_object(&r.metrics, listener_errors));
    o
}

/// Tells the host how a job ended (it settles the fast path's promises; others it ignores), and
/// that an attempt timed out.
fn tell_host(host: &host::Host, e: &JobEvent<'_>) {
    match *e {
        JobEvent::Succeeded { job, attempts } => host.settle(job as f64, host::SUCCEEDED, attempts),
        JobEvent::Failed { job, attempts } => host.settle(job as f64, host::FAILED, attempts),
        JobEvent::Cancelled { job, attempts } => host.settle(job as f64, host::CANCELLED, attempts),
        JobEvent::AttemptTimedOut { job, .. } => host.timed_out(job as f64),
        _ => {}
    }
}

/// The events' names in JavaScript; an event's code is its position here (`npm/index.js` reads
/// them with `eventTypes()`).
const EVENT_TYPES: [&str; 8] = [
    "queued",
    "attemptStarted",
    "attemptFailed",
    "attemptTimedOut",
    "retryScheduled",
    "succeeded",
    "failed",
    "cancelled",
];

/// An event as JavaScript sees it, in numbers: its code (see [`EVENT_TYPES`]), the attempt (codes
/// 1 to 4) or the attempts (5 to 7), the delay in ms (`retryScheduled`), and the attempt's error
/// (`attemptFailed` of a job whose error is a `JsValue`).
struct EventParts<'a> {
    code: u32,
    n: u32,
    delay: f64,
    error: Option<&'a JsValue>,
}

fn event_parts<'a>(e: &JobEvent<'a>) -> EventParts<'a> {
    let (code, n, delay, error) = match *e {
        JobEvent::Queued { .. } => (0, 0, 0.0, None),
        JobEvent::AttemptStarted { attempt, .. } => (1, attempt, 0.0, None),
        JobEvent::AttemptFailed { attempt, error, .. } => (2, attempt, 0.0, error.downcast_ref()),
        // wasm32 aborts on panic: a JavaScript job throws instead, which fails its attempt.
        JobEvent::AttemptPanicked { attempt, .. } => (2, attempt, 0.0, None),
        JobEvent::AttemptTimedOut { attempt, .. } => (3, attempt, 0.0, None),
        JobEvent::RetryScheduled { attempt, delay, .. } => {
            (4, attempt, delay.as_secs_f64() * 1000.0, None)
        }
        JobEvent::Succeeded { attempts, .. } => (5, attempts, 0.0, None),
        JobEvent::Failed { attempts, .. } => (6, attempts, 0.0, None),
        JobEvent::Cancelled { attempts, .. } => (7, attempts, 0.0, None),
    };
    EventParts { code, n, delay, error }
}

/// An event in numbers, for the host to build and dispatch.
fn host_event(host: &host::Host, e: &JobEvent<'_>) -> Result<(), JsValue> {
    let p = event_parts(e);
    host.event(p.code, e.job() as f64, p.n, p.delay, p.error.unwrap_or(&JsValue::UNDEFINED))
}

/// An event as an object, for a listener of the core itself (`onEvent` without the package's
/// JavaScript side): the same fields as the host builds.
fn event_object(e: &JobEvent<'_>) -> Object {
    let p = event_parts(e);
    let o = Object::new();
    set(&o, "type", JsValue::from_str(wasm_bindgen::intern(EVENT_TYPES[p.code as usize])));
    set(&o, "job", e.job() as f64);
    match p.code {
        0 => {}
        1..=4 => set(&o, "attempt", p.n),
        _ => set(&o, "attempts", p.n),
    }
    if p.code == 4 {
        set(&o, "delay", p.delay);
    }
    if let Some(error) = p.error {
        set(&o, "error", error.clone());
    }
    o
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_log_error(e: &JsValue);
}
