//! The JavaScript API, tested under `wasm-pack test --node` and `--headless --chrome`: real JS
//! job functions (from the inline module below) through `WorkPool`, as a JS caller uses it.
#![cfg(all(target_arch = "wasm32", feature = "web"))]

use js_sys::{Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test as test;

// In a browser run of `wasm-pack test` (see `build.rs`), these tests run in the browser.
#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
use workcrew::web::WorkPool;

#[wasm_bindgen(inline_js = r#"
export function flaky(failures) {
  return ({ attempt }) => { if (attempt <= failures) throw new Error('fail ' + attempt); return Promise.resolve('ok@' + attempt); };
}
export function hangUntilAborted(log) {
  return ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => { log.push('aborted'); reject(signal.reason); }));
}
export function after(ms, value) { return () => new Promise(r => setTimeout(() => r(value), ms)); }
export function throwing(value) { return () => { throw value; }; }
export function rejecting(value) { return async () => { throw value; }; }
export function plain(value) { return () => value; }
export function recorder() { const events = []; const f = e => events.push(e.type + (e.attempt ? ':' + e.attempt : '')); f.events = events; return f; }
export function settled(promise) { return promise.then(v => ({ ok: true, v }), e => ({ ok: false, e })); }
export function controller() { return new AbortController(); }
export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
export function stopperAfter(ms) { return async (ctx) => { await sleep(ms); const r = await ctx.shutdown(); return r.metrics.succeeded; }; }
export function callingAtOnce(f) { return async () => { const r = await f(); return r.metrics.succeeded; }; }
export function callingLater(f) { return async () => { await sleep(1); await f(); return 'after'; }; }
export function throwingListener() { const f = () => { f.calls++; throw new Error('a bug in the listener'); }; f.calls = 0; return f; }
"#)]
extern "C" {
    fn flaky(failures: u32) -> Function;
    #[wasm_bindgen(js_name = hangUntilAborted)]
    fn hang_until_aborted(log: &js_sys::Array) -> Function;
    fn after(ms: u32, value: &JsValue) -> Function;
    fn throwing(value: &JsValue) -> Function;
    fn rejecting(value: &JsValue) -> Function;
    fn plain(value: &JsValue) -> Function;
    fn recorder() -> Function;
    fn settled(promise: &js_sys::Promise) -> js_sys::Promise;
    fn controller() -> web_abort::Controller;
    fn sleep(ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = throwingListener)]
    fn throwing_listener() -> Function;
    #[wasm_bindgen(js_name = stopperAfter)]
    fn stopper_after(ms: u32) -> Function;
    #[wasm_bindgen(js_name = callingAtOnce)]
    fn calling_at_once(f: &Function) -> Function;
    #[wasm_bindgen(js_name = callingLater)]
    fn calling_later(f: &Function) -> Function;
}

/// A JS function that calls `f(pool)`: how a job reaches its own pool.
fn pool_fn(
    pool: &std::rc::Rc<WorkPool>,
    f: fn(&WorkPool) -> js_sys::Promise,
) -> (Function, Closure<dyn Fn() -> js_sys::Promise>) {
    let pool = pool.clone();
    let closure = Closure::<dyn Fn() -> js_sys::Promise>::new(move || f(&pool));
    (closure.as_ref().unchecked_ref::<Function>().clone(), closure)
}

mod web_abort {
    use wasm_bindgen::prelude::*;
    #[wasm_bindgen]
    extern "C" {
        pub type Controller;
        #[wasm_bindgen(method, getter)]
        pub fn signal(this: &Controller) -> JsValue;
        #[wasm_bindgen(method)]
        pub fn abort(this: &Controller);
    }
}

fn json(s: &str) -> JsValue {
    JSON::parse(s).expect("test JSON")
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key).as_f64().unwrap_or_else(|| panic!("{key} is not a number"))
}

/// Awaits `p`: `Ok(value)` or `Err(rejection)`.
async fn outcome(p: js_sys::Promise) -> Result<JsValue, JsValue> {
    let r = JsFuture::from(settled(&p)).await.unwrap();
    if get(&r, "ok").as_bool().unwrap() {
        Ok(get(&r, "v"))
    } else {
        Err(get(&r, "e"))
    }
}

fn name(e: &JsValue) -> String {
    get(e, "name").as_string().unwrap_or_default()
}

fn message(e: &JsValue) -> String {
    get(e, "message").as_string().unwrap_or_default()
}

#[test]
async fn a_job_is_retried_until_it_succeeds() {
    let pool =
        WorkPool::new(json(r#"{"workers":2,"retries":3,"backoff":{"kind":"none"}}"#)).unwrap();
    let v = outcome(pool.submit(flaky(2).into(), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(v.as_string().unwrap(), "ok@3");
    let m = pool.metrics();
    assert_eq!((num(&m, "succeeded"), num(&m, "retried"), num(&m, "attempts")), (1.0, 2.0, 3.0));
}

#[test]
async fn a_jobs_error_comes_back_intact_thrown_or_rejected() {
    let pool = WorkPool::new(JsValue::UNDEFINED).unwrap();
    let err: JsValue = js_sys::Error::new("custom").into();
    let e = outcome(pool.submit(throwing(&err).into(), JsValue::UNDEFINED)).await.unwrap_err();
    assert!(Object::is(&e, &err), "the thrown value itself");
    let e = outcome(pool.submit(rejecting(&err).into(), JsValue::UNDEFINED)).await.unwrap_err();
    assert!(Object::is(&e, &err), "the rejection value itself");
    let e = outcome(pool.submit(throwing(&"a string".into()).into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(e.as_string().unwrap(), "a string");
    assert_eq!(num(&pool.metrics(), "failed"), 3.0);
}

#[test]
async fn a_plain_return_value_is_the_jobs_value() {
    let pool = WorkPool::new(JsValue::UNDEFINED).unwrap();
    let v = outcome(pool.submit(plain(&42.into()).into(), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(v.as_f64(), Some(42.0));
    let v = outcome(pool.submit(plain(&JsValue::NULL).into(), JsValue::UNDEFINED)).await.unwrap();
    assert!(v.is_null());
}

#[test]
async fn a_timeout_aborts_the_attempts_signal() {
    let pool =
        WorkPool::new(json(r#"{"timeout":20,"retries":1,"backoff":{"kind":"none"}}"#)).unwrap();
    let log = js_sys::Array::new();
    let e = outcome(pool.submit(hang_until_aborted(&log).into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(name(&e), "TimeoutError");
    assert_eq!(num(&e, "attempts"), 2.0);
    assert_eq!(log.length(), 2, "each timed-out attempt's signal fired");
    assert_eq!(num(&pool.metrics(), "timedOut"), 2.0);
}

#[test]
async fn the_callers_signal_cancels_the_job_with_its_reason_and_aborts_its_attempt() {
    let pool = WorkPool::new(JsValue::UNDEFINED).unwrap();
    let log = js_sys::Array::new();
    let c = controller();
    let opts = Object::new();
    Reflect::set(&opts, &"signal".into(), &c.signal()).unwrap();
    let p = pool.submit(hang_until_aborted(&log).into(), opts.into());
    JsFuture::from(sleep(10)).await.unwrap();
    c.abort();
    let e = outcome(p).await.unwrap_err();
    // Rejected with the signal's own reason, as `fetch` does.
    assert!(Object::is(&e, &get(&c.signal(), "reason")), "rejects with signal.reason");
    assert_eq!(name(&e), "AbortError");
    JsFuture::from(sleep(1)).await.unwrap();
    assert_eq!(log.length(), 1);
    assert_eq!(num(&pool.metrics(), "cancelled"), 1.0);
    // An already-aborted signal refuses the job outright, with the signal's reason.
    let opts = Object::new();
    Reflect::set(&opts, &"signal".into(), &c.signal()).unwrap();
    let e = outcome(pool.submit(plain(&1.into()).into(), opts.into())).await.unwrap_err();
    assert_eq!(name(&e), "AbortError");
    assert_eq!(num(&pool.metrics(), "submitted"), 1.0);
}

#[test]
async fn abort_settles_every_promise_and_aborts_running_attempts() {
    let pool = WorkPool::new(json(r#"{"workers":2,"queue":10}"#)).unwrap();
    let log = js_sys::Array::new();
    let promises: Vec<_> = (0..5)
        .map(|_| settled(&pool.submit(hang_until_aborted(&log).into(), JsValue::UNDEFINED)))
        .collect();
    JsFuture::from(sleep(10)).await.unwrap();
    let report = JsFuture::from(pool.abort()).await.unwrap();
    assert_eq!(num(&report, "cancelled"), 5.0);
    for p in promises {
        let r = JsFuture::from(p).await.unwrap();
        assert_eq!(name(&get(&r, "e")), "AbortError");
    }
    assert_eq!(log.length(), 2, "the two running attempts saw their signal fire");
    assert!(pool.closed());
}

#[test]
async fn shutdown_drains_or_cancels_at_its_timeout() {
    let pool = WorkPool::new(json(r#"{"workers":1}"#)).unwrap();
    let quick = settled(&pool.submit(after(5, &"quick".into()).into(), JsValue::UNDEFINED));
    let slow = settled(&pool.submit(after(10_000, &"slow".into()).into(), JsValue::UNDEFINED));
    let report = JsFuture::from(pool.shutdown(json(r#"{"timeout":50}"#))).await.unwrap();
    assert_eq!(get(&report, "timedOut").as_bool(), Some(true));
    assert_eq!((num(&report, "completed"), num(&report, "cancelled")), (1.0, 1.0));
    let quick = JsFuture::from(quick).await.unwrap();
    assert_eq!(get(&quick, "v").as_string().unwrap(), "quick");
    let slow = JsFuture::from(slow).await.unwrap();
    assert_eq!(name(&get(&slow, "e")), "AbortError");
    let e = outcome(pool.submit(plain(&1.into()).into(), JsValue::UNDEFINED)).await.unwrap_err();
    assert_eq!(name(&e), "PoolClosedError");
    let m = get(&report, "metrics");
    assert_eq!(
        num(&m, "submitted"),
        num(&m, "succeeded") + num(&m, "failed") + num(&m, "cancelled")
    );
}

#[test]
async fn try_submit_refuses_at_once_when_full() {
    let pool = WorkPool::new(json(r#"{"workers":1,"queue":1}"#)).unwrap();
    let log = js_sys::Array::new();
    let running =
        settled(&pool.try_submit(hang_until_aborted(&log).into(), JsValue::UNDEFINED).unwrap());
    JsFuture::from(sleep(5)).await.unwrap(); // the worker takes it
    let queued =
        settled(&pool.try_submit(hang_until_aborted(&log).into(), JsValue::UNDEFINED).unwrap());
    let e = pool.try_submit(plain(&1.into()).into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(name(&e), "QueueFullError");
    assert_eq!(num(&pool.metrics(), "rejected"), 1.0);
    JsFuture::from(pool.abort()).await.unwrap();
    for p in [running, queued] {
        let r = JsFuture::from(p).await.unwrap();
        assert_eq!(name(&get(&r, "e")), "AbortError");
    }
    let e = pool.try_submit(plain(&1.into()).into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(name(&e), "PoolClosedError");
}

#[test]
async fn events_arrive_in_order() {
    let rec = recorder();
    let opts = json(r#"{"retries":2,"backoff":{"kind":"constant","delay":1},"timeout":1000}"#);
    Reflect::set(&opts, &"onEvent".into(), &rec).unwrap();
    let pool = WorkPool::new(opts).unwrap();
    outcome(pool.submit(flaky(1).into(), JsValue::UNDEFINED)).await.unwrap();
    let events: Vec<String> =
        js_sys::Array::from(&get(&rec, "events")).iter().map(|e| e.as_string().unwrap()).collect();
    assert_eq!(
        events,
        [
            "queued",
            "attemptStarted:1",
            "attemptFailed:1",
            "retryScheduled:2",
            "attemptStarted:2",
            "succeeded"
        ]
    );
}

#[test]
async fn a_throwing_listener_is_logged_and_the_pool_goes_on() {
    let listener = throwing_listener();
    let opts = json(r#"{"workers":1,"retries":1,"backoff":{"kind":"none"}}"#);
    Reflect::set(&opts, &"onEvent".into(), &listener).unwrap();
    let pool = WorkPool::new(opts).unwrap();
    for _ in 0..3 {
        let v = outcome(pool.submit(flaky(1).into(), JsValue::UNDEFINED)).await.unwrap();
        assert_eq!(v.as_string().unwrap(), "ok@2");
    }
    // Six events a job, each one thrown from and logged.
    assert_eq!(num(&listener, "calls"), 18.0);
    let m = pool.metrics();
    assert_eq!((num(&m, "succeeded"), num(&m, "submitted")), (3.0, 3.0));
    assert_eq!(num(&m, "listenerErrors"), 18.0);
}

#[test]
async fn a_job_shuts_its_own_pool_down_through_its_context() {
    let pool = WorkPool::new(json(r#"{"workers":2}"#)).unwrap();
    let sibling = pool.submit(after(20, &"sibling".into()).into(), JsValue::UNDEFINED);
    let stopper = pool.submit(stopper_after(1).into(), JsValue::UNDEFINED);
    // It waited for the other worker's job, not for itself.
    assert_eq!(outcome(stopper).await.unwrap().as_f64(), Some(1.0));
    assert_eq!(outcome(sibling).await.unwrap().as_string().unwrap(), "sibling");
    let e = pool.try_submit(plain(&1.into()).into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(name(&e), "PoolClosedError");
    let report = outcome(pool.shutdown(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(num(&get(&report, "metrics"), "succeeded"), 2.0);
}

#[test]
async fn pool_shutdown_called_as_a_job_starts_is_the_jobs_own() {
    let pool = std::rc::Rc::new(WorkPool::new(json(r#"{"workers":1}"#)).unwrap());
    let (shutdown, _keep) = pool_fn(&pool, |p| p.shutdown(JsValue::UNDEFINED));
    let job = pool.submit(calling_at_once(&shutdown).into(), JsValue::UNDEFINED);
    assert_eq!(outcome(job).await.unwrap().as_f64(), Some(0.0), "it did not wait for itself");
    let report = outcome(pool.shutdown(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(num(&get(&report, "metrics"), "workers"), 0.0);
}

#[test]
async fn an_abort_from_inside_a_job_cancels_it_and_completes() {
    let pool = std::rc::Rc::new(WorkPool::new(json(r#"{"workers":2}"#)).unwrap());
    let (abort, _keep) = pool_fn(&pool, |p| p.abort());
    let log = js_sys::Array::new();
    let other = pool.submit(hang_until_aborted(&log).into(), JsValue::UNDEFINED);
    let job = pool.submit(calling_later(&abort).into(), JsValue::UNDEFINED);
    assert_eq!(name(&outcome(job).await.unwrap_err()), "AbortError");
    assert_eq!(name(&outcome(other).await.unwrap_err()), "AbortError");
    let report = outcome(pool.shutdown(JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(num(&get(&report, "metrics"), "cancelled"), 2.0);
}

/// Every option, with its invalid values: each throws the documented error, naming the field.
#[test]
async fn bad_options_are_type_or_range_errors_that_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("5", "TypeError", "options must be an object"),
        ("[]", "TypeError", "options must be an object"),
        (r#"{"workers":0}"#, "RangeError", "workers"),
        (r#"{"workers":4097}"#, "RangeError", "workers"),
        (r#"{"workers":1.5}"#, "RangeError", "workers"),
        (r#"{"workers":"4"}"#, "TypeError", "workers"),
        (r#"{"workers":null}"#, "TypeError", "workers"),
        (r#"{"queue":0}"#, "RangeError", "queue"),
        (r#"{"queue":-1}"#, "RangeError", "queue"),
        (r#"{"queue":1e12}"#, "RangeError", "queue"),
        (r#"{"timeout":-1}"#, "RangeError", "timeout"),
        (r#"{"timeout":1e300}"#, "RangeError", "timeout"),
        (r#"{"timeout":"1s"}"#, "TypeError", "timeout"),
        (r#"{"retries":-1}"#, "RangeError", "retries"),
        (r#"{"retries":4294967296}"#, "RangeError", "retries"),
        (r#"{"retries":true}"#, "TypeError", "retries"),
        (r#"{"backoff":"linear"}"#, "TypeError", "backoff"),
        (r#"{"backoff":{}}"#, "TypeError", "backoff.kind"),
        (r#"{"backoff":{"kind":"fibonacci","delay":1}}"#, "RangeError", "backoff.kind"),
        (r#"{"backoff":{"kind":"linear"}}"#, "TypeError", "backoff.delay"),
        (r#"{"backoff":{"kind":"linear","delay":-5}}"#, "RangeError", "backoff.delay"),
        (
            r#"{"backoff":{"kind":"exponential","delay":1,"factor":1.5}}"#,
            "RangeError",
            "backoff.factor",
        ),
        (r#"{"backoff":{"kind":"constant","delay":1,"max":-1}}"#, "RangeError", "backoff.max"),
        (r#"{"backoff":{"kind":"constant","delay":1,"jitter":1}}"#, "TypeError", "backoff.jitter"),
        (r#"{"backoff":{"kind":"none","delay":1,"dealy":2}}"#, "TypeError", "dealy"),
        (r#"{"onEvent":1}"#, "TypeError", "onEvent"),
        (r#"{"worker":1}"#, "TypeError", "worker"),
    ];
    for (json_opts, kind, field) in cases {
        let e =
            WorkPool::new(json(json_opts)).err().unwrap_or_else(|| panic!("{json_opts} accepted"));
        assert_eq!(name(&e), *kind, "{json_opts}: {}", message(&e));
        assert!(message(&e).contains(field), "{json_opts}: {}", message(&e));
    }
    let nan = Object::new();
    Reflect::set(&nan, &"timeout".into(), &f64::NAN.into()).unwrap();
    assert_eq!(name(&WorkPool::new(nan.into()).err().unwrap()), "RangeError");

    let pool = WorkPool::new(JsValue::UNDEFINED).unwrap();
    let e = outcome(pool.submit(42.into(), JsValue::UNDEFINED)).await.unwrap_err();
    assert_eq!(
        (name(&e), message(&e)),
        ("TypeError".into(), "job must be a function, got number".into())
    );
    for (job_opts, kind, field) in [
        (r#"{"timeout":-1}"#, "RangeError", "timeout"),
        (r#"{"retries":0.5}"#, "RangeError", "retries"),
        (r#"{"signal":{}}"#, "TypeError", "signal"),
        (r#"{"priority":1}"#, "TypeError", "priority"),
    ] {
        let e = outcome(pool.submit(plain(&1.into()).into(), json(job_opts))).await.unwrap_err();
        assert_eq!(name(&e), kind, "{job_opts}");
        assert!(message(&e).contains(field), "{job_opts}: {}", message(&e));
    }
    let e = pool.try_submit(JsValue::NULL, JsValue::UNDEFINED).unwrap_err();
    assert_eq!(name(&e), "TypeError");
    let e = outcome(pool.shutdown(json(r#"{"timeout":-3}"#))).await.unwrap_err();
    assert_eq!(name(&e), "RangeError");
    assert!(pool.on_event(3.into()).is_err());
    // None of this touched the pool: it still works.
    assert_eq!(num(&pool.metrics(), "submitted"), 0.0);
    let v = outcome(pool.submit(plain(&7.into()).into(), JsValue::UNDEFINED)).await.unwrap();
    assert_eq!(v.as_f64(), Some(7.0));
}

#[test]
async fn many_mixed_jobs_all_settle_and_the_metrics_balance() {
    let pool = WorkPool::new(json(
        r#"{"workers":8,"queue":16,"timeout":30,"retries":1,"backoff":{"kind":"none"}}"#,
    ))
    .unwrap();
    let log = js_sys::Array::new();
    let err: JsValue = "no".into();
    let promises: Vec<_> = (0..200u32)
        .map(|i| {
            let job: JsValue = match i % 4 {
                0 => plain(&i.into()).into(),
                1 => throwing(&err).into(),
                2 => after(1, &i.into()).into(),
                _ => hang_until_aborted(&log).into(),
            };
            // Handled at once, as a caller must: a rejection left unhandled stops Node.
            settled(&pool.submit(job, JsValue::UNDEFINED))
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for p in promises {
        let r = JsFuture::from(p).await.unwrap();
        if get(&r, "ok").as_bool().unwrap() {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert_eq!((ok, failed), (100, 100));
    let m = pool.metrics();
    assert_eq!(num(&m, "submitted"), 200.0);
    assert_eq!(
        num(&m, "submitted"),
        num(&m, "succeeded") + num(&m, "failed") + num(&m, "cancelled")
    );
    assert_eq!((num(&m, "queued"), num(&m, "running")), (0.0, 0.0));
    assert_eq!(log.length(), 100, "every timed-out attempt was aborted");
}

#[wasm_bindgen(inline_js = r#"
// A small deterministic PRNG (mulberry32), so a failing case can be replayed from its seed.
export function rng(seed) {
  let a = seed >>> 0;
  return () => { a = (a + 0x6D2B79F5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
function value(r, depth = 0) {
  return pick(r, [
    () => undefined, () => null, () => NaN, () => Infinity, () => -Infinity, () => -1, () => 0, () => 1,
    () => 0.5, () => 2 ** 31, () => 2 ** 53, () => 1e300, () => Math.floor(r() * 100), () => '',
    () => '5', () => 'linear', () => true, () => false, () => [], () => [1, 2], () => () => {},
    () => Symbol('s'), () => 10n, () => (depth < 2 ? options(r, depth + 1) : {}),
  ])();
}
const KEYS = ['workers', 'queue', 'timeout', 'retries', 'backoff', 'onEvent', 'signal', 'kind', 'delay', 'max', 'factor', 'jitter', 'bogus'];
export function options(r, depth = 0) {
  if (r() < 0.1) return value(r, depth + 1);
  const o = {};
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const key = pick(r, KEYS);
    o[key] = key === 'backoff' && r() < 0.5
      ? { kind: pick(r, ['none', 'constant', 'linear', 'exponential', 'x', 3]), delay: value(r, 2), jitter: value(r, 2) }
      : value(r, depth + 1);
  }
  return o;
}
/** A job with a random behaviour: resolve, reject, throw, plain values, thenables, hang until aborted, slow. */
export function randomJob(r) {
  const kind = Math.floor(r() * 9);
  return ({ signal, attempt }) => {
    switch (kind) {
      case 0: return Promise.resolve(attempt);
      case 1: return Promise.reject(new Error('rejected'));
      case 2: throw new TypeError('thrown');
      case 3: return 42;
      case 4: return undefined;
      case 5: return { then(res) { res('thenable'); } };
      case 6: return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      case 7: return new Promise((res) => setTimeout(res, 2, 'slow'));
      default: throw null;
    }
  };
}
/** Resolves 'settled' once `p` settles, or 'HANG' after `ms`. */
export function watchdog(p, ms) {
  return Promise.race([p.then(() => 'settled', () => 'settled'), new Promise((r) => setTimeout(r, ms, 'HANG'))]);
}
"#)]
extern "C" {
    fn rng(seed: u32) -> Function;
    fn options(r: &Function) -> JsValue;
    #[wasm_bindgen(js_name = randomJob)]
    fn random_job(r: &Function) -> Function;
    fn watchdog(p: &js_sys::Promise, ms: u32) -> js_sys::Promise;
}

/// Random option objects and random job behaviours: every constructor either builds a pool or
/// throws a `TypeError` or `RangeError`; every submission resolves or rejects (no hang); the
/// instance never traps, and the pool keeps working.
#[test]
async fn fuzzing_the_js_api_never_traps_and_every_call_settles() {
    let (mut built, mut refused, mut submitted) = (0, 0, 0);
    for seed in 0..300u32 {
        let r = rng(seed);
        let opts = options(&r);
        let pool = match WorkPool::new(opts) {
            Ok(pool) => {
                built += 1;
                pool
            }
            Err(e) => {
                let n = name(&e);
                assert!(n == "TypeError" || n == "RangeError", "seed {seed}: {n}: {}", message(&e));
                refused += 1;
                // Fuzz the submissions on a pool that exists.
                WorkPool::new(json(r#"{"workers":2,"timeout":20,"retries":1}"#)).unwrap()
            }
        };
        let mut pending = Vec::new();
        for _ in 0..8 {
            let job: JsValue = if r.call0(&JsValue::NULL).unwrap().as_f64().unwrap() < 0.1 {
                options(&r) // not a function
            } else {
                random_job(&r).into()
            };
            let job_opts = options(&r);
            // Hanging jobs need an end: give each submission a bounded timeout unless the fuzz
            // already set one; the pool's own timeout (if any) may be invalid.
            let bounded = Object::new();
            Reflect::set(&bounded, &"timeout".into(), &30.into()).unwrap();
            let opts = if r.call0(&JsValue::NULL).unwrap().as_f64().unwrap() < 0.5 {
                job_opts
            } else {
                bounded.into()
            };
            let p = match pool.try_submit(job.clone(), opts.clone()) {
                Ok(p) => p,
                Err(_) => pool.submit(job, opts), // refused at once: the waiting path too
            };
            submitted += 1;
            pending.push(watchdog(&p, 2_000));
        }
        // Jobs that wait for their signal with no timeout anywhere hang by design: the abort
        // ends them. After it, every promise must have settled.
        JsFuture::from(sleep(20)).await.unwrap();
        let report = JsFuture::from(pool.abort()).await.unwrap();
        for p in pending {
            let verdict = JsFuture::from(p).await.unwrap();
            assert_ne!(
                verdict.as_string().as_deref(),
                Some("HANG"),
                "seed {seed}: a submission never settled"
            );
        }
        let m = get(&report, "metrics");
        assert_eq!(
            num(&m, "submitted"),
            num(&m, "succeeded") + num(&m, "failed") + num(&m, "cancelled"),
            "seed {seed}"
        );
    }
    assert!(
        built > 20 && refused > 100,
        "the fuzz reaches both paths: {built} built, {refused} refused"
    );
    web_sys_log(&format!(
        "fuzz: {} option objects ({built} valid, {refused} refused), {submitted} submissions",
        built + refused
    ));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn web_sys_log(s: &str);
}
