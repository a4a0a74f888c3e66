//! Reading options from JavaScript: every field checked, every mistake a `TypeError` or
//! `RangeError` whose message names the field. Nothing a caller passes can panic.

use alloc::string::String;
use core::time::Duration;

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::{
    Backoff, CircuitBreaker, Hedge, JobKey, RateLimit, RetryBudget, MAX_BREAKER_WINDOW, MAX_HEDGES,
    MAX_QUEUE, MAX_WORKERS,
};

/// The largest number of milliseconds accepted for a time: `Number.MAX_SAFE_INTEGER`.
const MAX_MS: f64 = 9_007_199_254_740_991.0;
/// `Number.MAX_SAFE_INTEGER`: the largest integer a key may be (and, negated, the smallest).
const MAX_SAFE: f64 = MAX_MS;
/// The largest count accepted for a limit (`perKey`, `intervalCap`): a `usize` on wasm32.
const MAX_COUNT: f64 = u32::MAX as f64;

/// A `TypeError` whose message is `parts`, joined. Messages are joined rather than formatted:
/// `format!` brings `core::fmt`'s machinery into the `.wasm` for nothing a join cannot do.
pub(crate) fn type_error(parts: &[&str]) -> JsValue {
    js_sys::TypeError::new(&join(parts)).into()
}

/// A `RangeError` whose message is `parts`, joined (see [`type_error`]).
pub(crate) fn range_error(parts: &[&str]) -> JsValue {
    js_sys::RangeError::new(&join(parts)).into()
}

/// `parts.concat()`, without its generic copy (about 700 bytes of `.wasm`).
fn join(parts: &[&str]) -> String {
    let mut s = String::new();
    for part in parts {
        s.push_str(part);
    }
    s
}

/// A number as JavaScript writes it (`String(n)`), for messages: the spelling JS callers
/// know, and no float formatting code in the `.wasm`.
fn js_number(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}

/// `typeof`-style name of a value, for messages.
fn kind(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if js_sys::Array::is_array(v) {
        "array".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}

/// An options object: `undefined`/`null` mean "all defaults".
pub(crate) struct Fields<'a> {
    obj: Option<&'a Object>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    /// Checks that `value` is a plain object (or absent) with only `known` keys.
    pub(crate) fn new(value: &'a JsValue, path: &'a str, known: &[&str]) -> Result<Self, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self { obj: None, path });
        }
        let obj = match value.dyn_ref::<Object>() {
            Some(o) if !js_sys::Array::is_array(value) && !value.is_function() => o,
            _ => return Err(type_error(&[path, " must be an object, got ", &kind(value)])),
        };
        for key in Object::keys(obj).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let known = known.join(", ");
                return Err(type_error(&[
                    path,
                    " has an unknown field \"",
                    &key,
                    "\" (expected one of: ",
                    &known,
                    ")",
                ]));
            }
        }
        Ok(Self { obj: Some(obj), path })
    }

    /// A call's top-level options object: messages name its fields bare (`workers`, not
    /// `options.workers`), and a non-object is reported as `options`.
    pub(crate) fn top(value: &'a JsValue, known: &[&str]) -> Result<Self, JsValue> {
        Ok(Self { path: "", ..Self::new(value, "options", known)? })
    }

    fn name(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.into()
        } else {
            join(&[self.path, ".", field])
        }
    }

    /// The raw field; `None` when absent or `undefined`.
    pub(crate) fn get(&self, field: &str) -> Result<Option<JsValue>, JsValue> {
        let Some(obj) = self.obj else { return Ok(None) };
        // Reflect.get only fails on non-objects, or a throwing getter: report that as is.
        let v = Reflect::get(obj, &JsValue::from_str(field))?;
        Ok(if v.is_undefined() { None } else { Some(v) })
    }

    /// Whether `field` is `null`.
    pub(crate) fn is_null(&self, field: &str) -> Result<bool, JsValue> {
        Ok(self.get(field)?.is_some_and(|v| v.is_null()))
    }

    fn number(&self, field: &str) -> Result<Option<f64>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        number(&v, &self.name(field)).map(Some)
    }

    /// An integer in `min..=max`.
    pub(crate) fn integer(&self, field: &str, min: f64, max: f64) -> Result<Option<f64>, JsValue> {
        let Some(n) = self.number(field)? else { return Ok(None) };
        in_range(n, &self.name(field), min, max).map(Some)
    }

    /// A time in milliseconds: finite, ≥ 0.
    pub(crate) fn millis(&self, field: &str) -> Result<Option<Duration>, JsValue> {
        let Some(ms) = self.number(field)? else { return Ok(None) };
        if !(0.0..=MAX_MS).contains(&ms) {
            let (max, ms) = (js_number(MAX_MS), js_number(ms));
            let name = self.name(field);
            return Err(range_error(&[
                &name,
                " must be a number of milliseconds from 0 to ",
                &max,
                ", got ",
                &ms,
            ]));
        }
        // In range, so this cannot fail; stay panic-free regardless.
        Ok(Some(Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX)))
    }

    pub(crate) fn boolean(&self, field: &str) -> Result<Option<bool>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        v.as_bool()
            .map(Some)
            .ok_or_else(|| type_error(&[&self.name(field), " must be a boolean, got ", &kind(&v)]))
    }

    pub(crate) fn function(&self, field: &str) -> Result<Option<Function>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        function(v, &self.name(field)).map(Some)
    }

    /// `hedge: { delay, max }`: `delay` (ms) required, `max` 1 to [`MAX_HEDGES`] (default 1).
    pub(crate) fn hedge(&self, field: &str) -> Result<Option<Hedge>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        let name = self.name(field);
        let h = Fields::new(&v, &name, &["delay", "max"])?;
        let delay = h.millis("delay")?.ok_or_else(|| type_error(&[&name, ".delay is required"]))?;
        let max = h.integer("max", 1.0, f64::from(MAX_HEDGES))?.map_or(1, |n| n as u32);
        // In range, so this cannot fail; say so with the field's name regardless.
        Hedge::new(delay, max).map(Some).map_err(|_| range_error(&[&name, ".max is out of range"]))
    }

    /// `retryBudget: { percent, minRetries, window }`: retries per 100 first attempts (default
    /// 20), retries allowed whatever the ratio (default 10), the first attempts remembered
    /// (at least 1, default 1000).
    pub(crate) fn retry_budget(&self, field: &str) -> Result<Option<RetryBudget>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        let name = self.name(field);
        let b = Fields::new(&v, &name, &["percent", "minRetries", "window"])?;
        let max = f64::from(u32::MAX);
        let mut budget = RetryBudget::new(b.integer("percent", 0.0, max)?.map_or(20, |n| n as u32));
        if let Some(n) = b.integer("minRetries", 0.0, max)? {
            budget = budget.min_retries(n as u32);
        }
        if let Some(n) = b.integer("window", 1.0, max)? {
            budget = budget.window(n as u32);
        }
        Ok(Some(budget))
    }

    /// `circuitBreaker`: `{ failures, cooldown, perKey }` (consecutive failed attempts) or
    /// `{ percent, ofLast, cooldown, perKey }` (a failure ratio over the last `ofLast`).
    pub(crate) fn circuit_breaker(&self, field: &str) -> Result<Option<CircuitBreaker>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        let name = self.name(field);
        let known = ["failures", "percent", "ofLast", "cooldown", "perKey"];
        let b = Fields::new(&v, &name, &known)?;
        let failures = b.integer("failures", 1.0, f64::from(u32::MAX))?;
        let percent = b.integer("percent", 1.0, 100.0)?;
        let of_last = b.integer("ofLast", 1.0, f64::from(MAX_BREAKER_WINDOW))?;
        let cooldown = match b.millis("cooldown")? {
            None => return Err(type_error(&[&name, ".cooldown is required"])),
            Some(d) if d.is_zero() => {
                return Err(range_error(&[&name, ".cooldown must be more than 0 milliseconds"]))
            }
            Some(d) => d,
        };
        let breaker = match (failures, percent, of_last) {
            (Some(n), None, None) => CircuitBreaker::consecutive(n as u32, cooldown),
            (None, Some(p), Some(n)) => CircuitBreaker::ratio(p as u32, n as u32, cooldown),
            (None, None, None) => {
                return Err(type_error(&[&name, ".failures (or percent and ofLast) is required"]))
            }
            (None, Some(_), None) => {
                return Err(type_error(&[&name, ".ofLast is required with percent"]))
            }
            (None, None, Some(_)) => {
                return Err(type_error(&[&name, ".percent is required with ofLast"]))
            }
            (Some(_), _, _) => {
                return Err(type_error(&[
                    &name,
                    ".failures cannot be given with percent or ofLast (one kind of breaker)",
                ]))
            }
        };
        Ok(Some(if b.boolean("perKey")? == Some(true) { breaker.per_key() } else { breaker }))
    }

    pub(crate) fn backoff(&self, field: &str) -> Result<Option<Backoff>, JsValue> {
        let Some(v) = self.get(field)? else { return Ok(None) };
        let name = self.name(field);
        let b = Fields::new(&v, &name, &["kind", "delay", "max", "factor", "jitter"])?;
        let kind_name = b.name("kind");
        let kind = match b.get("kind")? {
            None => return Err(type_error(&[&kind_name, " is required"])),
            Some(k) => k
                .as_string()
                .ok_or_else(|| type_error(&[&kind_name, " must be a string, got ", &kind(&k)]))?,
        };
        let delay = b.millis("delay")?;
        let needs_delay = |make: fn(Duration) -> Backoff| {
            delay.map(make).ok_or_else(|| type_error(&[&name, ".delay is required"]))
        };
        let mut backoff = match kind.as_str() {
            "none" => Backoff::none(),
            "constant" => needs_delay(Backoff::constant)?,
            "linear" => needs_delay(Backoff::linear)?,
            "exponential" => needs_delay(Backoff::exponential)?,
            other => {
                return Err(range_error(&[
                    &kind_name,
                    " must be \"none\", \"constant\", \"linear\" or \"exponential\", got \"",
                    other,
                    "\"",
                ]))
            }
        };
        if let Some(max) = b.millis("max")? {
            backoff = backoff.with_max(max);
        }
        if let Some(factor) = b.integer("factor", 0.0, f64::from(u32::MAX))? {
            backoff = backoff.with_factor(factor as u32);
        }
        if b.boolean("jitter")? == Some(true) {
            backoff = backoff.with_jitter();
        }
        Ok(Some(backoff))
    }
}

/// A number (not NaN), named `name` in messages.
fn number(v: &JsValue, name: &str) -> Result<f64, JsValue> {
    let Some(n) = v.as_f64() else {
        return Err(type_error(&[name, " must be a number, got ", &kind(v)]));
    };
    if n.is_nan() {
        return Err(range_error(&[name, " must be a number, got NaN"]));
    }
    Ok(n)
}

/// `n`, if it is an integer in `min..=max`.
fn in_range(n: f64, name: &str, min: f64, max: f64) -> Result<f64, JsValue> {
    if n.fract() != 0.0 || n < min || n > max {
        let (min, max, n) = (js_number(min), js_number(max), js_number(n));
        return Err(range_error(&[
            name,
            " must be an integer from ",
            &min,
            " to ",
            &max,
            ", got ",
            &n,
        ]));
    }
    Ok(n)
}

/// A bare value (a method's argument, a setter's value): an integer in `min..=max`, named
/// `name` in messages.
pub(crate) fn integer(v: &JsValue, name: &str, min: f64, max: f64) -> Result<f64, JsValue> {
    in_range(number(v, name)?, name, min, max)
}

pub(crate) fn function(v: JsValue, name: &str) -> Result<Function, JsValue> {
    v.dyn_into::<Function>()
        .map_err(|v| type_error(&[name, " must be a function, got ", &kind(&v)]))
}

/// `new WorkPool(options)`.
pub(crate) struct PoolOptions {
    pub(crate) workers: usize,
    pub(crate) concurrency: usize,
    pub(crate) queue: usize,
    pub(crate) per_key: Option<usize>,
    pub(crate) rate: Option<RateLimit>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) hedge: Option<Hedge>,
    pub(crate) retry_budget: Option<RetryBudget>,
    pub(crate) circuit_breaker: Option<CircuitBreaker>,
}

const POOL_FIELDS: &[&str] = &[
    "workers",
    "concurrency",
    "queue",
    "perKey",
    "intervalCap",
    "interval",
    "timeout",
    "retries",
    "backoff",
    "deadline",
    "hedge",
    "retryBudget",
    "circuitBreaker",
    "onEvent",
];

impl PoolOptions {
    pub(crate) fn parse(value: &JsValue) -> Result<Self, JsValue> {
        let f = Fields::top(value, POOL_FIELDS)?;
        let max_workers = MAX_WORKERS as f64;
        let workers = f.integer("workers", 1.0, max_workers)?;
        // Within the crew: the workers given, else up to the most a pool may have (the crew
        // then grows to it, as the Rust builder's does).
        let concurrency = f.integer("concurrency", 1.0, workers.unwrap_or(max_workers))?;
        let workers = workers.unwrap_or(concurrency.unwrap_or(0.0).max(4.0)) as usize;
        let options = Self {
            workers,
            concurrency: concurrency.map_or(workers, |n| n as usize),
            queue: f.integer("queue", 1.0, MAX_QUEUE as f64)?.map_or(1024, |n| n as usize),
            per_key: f.integer("perKey", 1.0, MAX_COUNT)?.map(|n| n as usize),
            rate: rate_limit(&f, false)?,
            // `null` turns these off, as leaving them out does.
            timeout: if f.is_null("timeout")? { None } else { f.millis("timeout")? },
            retries: f.integer("retries", 0.0, f64::from(u32::MAX))?.map_or(0, |n| n as u32),
            backoff: f.backoff("backoff")?.unwrap_or_default(),
            deadline: if f.is_null("deadline")? { None } else { f.millis("deadline")? },
            hedge: if f.is_null("hedge")? { None } else { f.hedge("hedge")? },
            retry_budget: if f.is_null("retryBudget")? {
                None
            } else {
                f.retry_budget("retryBudget")?
            },
            circuit_breaker: if f.is_null("circuitBreaker")? {
                None
            } else {
                f.circuit_breaker("circuitBreaker")?
            },
        };
        // `onEvent` is checked here too; the host keeps it.
        f.function("onEvent")?;
        Ok(options)
    }
}

/// `intervalCap` and `interval` (ms, more than 0), both or (unless `required`) neither.
fn rate_limit(f: &Fields<'_>, required: bool) -> Result<Option<RateLimit>, JsValue> {
    let cap = f.integer("intervalCap", 1.0, MAX_COUNT)?;
    let interval = f.millis("interval")?;
    match (cap, interval) {
        (None, None) if !required => Ok(None),
        (Some(cap), Some(interval)) => {
            if interval.is_zero() {
                let name = f.name("interval");
                return Err(range_error(&[&name, " must be more than 0 milliseconds"]));
            }
            Ok(Some(RateLimit::new(cap as usize, interval)))
        }
        (None, _) => Err(type_error(&[
            &f.name("intervalCap"),
            " is required with interval (both or neither)",
        ])),
        (Some(_), None) => Err(type_error(&[
            &f.name("interval"),
            " is required with intervalCap (both or neither)",
        ])),
    }
}

/// `pool.setRateLimit(options)`: `{ intervalCap, interval }`, or `null` (or nothing) to lift
/// the limit.
pub(crate) fn set_rate_limit(value: &JsValue) -> Result<Option<RateLimit>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    rate_limit(&Fields::top(value, &["intervalCap", "interval"])?, true)
}

/// `pool.submit(job, options)`.
pub(crate) struct JobOptions {
    /// `Some(None)`: `timeout: null`, no timeout for this job.
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) retries: Option<u32>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) priority: i32,
    pub(crate) key: Option<JobKey>,
    /// `Some(None)`: `deadline: null`, no deadline for this job.
    pub(crate) deadline: Option<Option<Duration>>,
    /// `Some(None)`: `hedge: null` or `false`, no hedged attempts for this job.
    pub(crate) hedge: Option<Option<Hedge>>,
    /// Whether the job has a `shouldRetry` predicate (the host keeps it).
    pub(crate) should_retry: bool,
    /// Whether the host needs the job's handle: the submission has a `signal` (the host
    /// listens to it and calls `cancel`) or an `id` (for `setPriority`).
    pub(crate) keep: bool,
    /// The signal's reason, if it has already fired: then the job is refused with it.
    pub(crate) aborted: Option<JsValue>,
}

impl JobOptions {
    /// Only a priority and a key (`pushLean`): the options' other fields take the pool's
    /// defaults.
    pub(crate) fn lean(priority: i32, key: Option<JobKey>) -> Self {
        Self {
            timeout: None,
            retries: None,
            backoff: None,
            priority,
            key,
            deadline: None,
            hedge: None,
            should_retry: false,
            keep: false,
            aborted: None,
        }
    }

    /// Checks every field (a mistake is an `Err`); a `signal` that has already fired is
    /// [`aborted`](Self::aborted), with its reason.
    pub(crate) fn parse(value: &JsValue) -> Result<Self, JsValue> {
        let f = Fields::top(
            value,
            &[
                "timeout",
                "retries",
                "backoff",
                "signal",
                "priority",
                "key",
                "id",
                "deadline",
                "hedge",
                "shouldRetry",
            ],
        )?;
        let timeout = match f.get("timeout")? {
            Some(v) if v.is_null() => Some(None),
            _ => f.millis("timeout")?.map(Some),
        };
        let deadline = match f.get("deadline")? {
            Some(v) if v.is_null() => Some(None),
            _ => f.millis("deadline")?.map(Some),
        };
        let hedge = match f.get("hedge")? {
            Some(v) if v.is_null() || v.as_bool() == Some(false) => Some(None),
            _ => f.hedge("hedge")?.map(Some),
        };
        let should_retry = f.function("shouldRetry")?.is_some();
        let signal = match f.get("signal")? {
            None => None,
            Some(s) if s.is_null() => None,
            Some(s) => match s.dyn_into::<AbortSignal>() {
                Ok(s) => Some(s),
                Err(s) => {
                    let got = kind(&s);
                    return Err(type_error(&["signal must be an AbortSignal, got ", &got]));
                }
            },
        };
        let id = match f.get("id")? {
            None => false,
            Some(id) if id.is_string() => true,
            Some(id) => return Err(type_error(&["id must be a string, got ", &kind(&id)])),
        };
        let priority = f.integer("priority", f64::from(i32::MIN), f64::from(i32::MAX))?;
        Ok(Self {
            timeout,
            retries: f.integer("retries", 0.0, f64::from(u32::MAX))?.map(|n| n as u32),
            backoff: f.backoff("backoff")?,
            priority: priority.map_or(0, |n| n as i32),
            key: key(&f)?,
            deadline,
            hedge,
            should_retry,
            aborted: signal.as_ref().filter(|s| s.aborted()).map(|s| s.reason()),
            keep: signal.is_some() || id,
        })
    }
}

/// A job's `key`: a string, or a safe integer (`Number.isSafeInteger`). A number and a string
/// are different keys (`7` is not `"7"`), as in Rust.
fn key(f: &Fields<'_>) -> Result<Option<JobKey>, JsValue> {
    f.get("key")?.map(|v| key_value(&v)).transpose()
}

/// A `key` option's value (see [`key`]).
pub(crate) fn key_value(v: &JsValue) -> Result<JobKey, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(JobKey::from(s));
    }
    if v.as_f64().is_none() {
        let got = kind(v);
        return Err(type_error(&["key must be a string or an integer, got ", &got]));
    }
    let n = integer(v, "key", -MAX_SAFE, MAX_SAFE)?;
    // Negative keys, two's complement: every safe integer a key of its own.
    Ok(JobKey::from(n as i64 as u64))
}

#[wasm_bindgen]
extern "C" {
    /// `AbortSignal`, bound directly (no `web-sys`).
    #[wasm_bindgen(extends = Object)]
    type AbortSignal;
    #[wasm_bindgen(method, getter)]
    fn aborted(this: &AbortSignal) -> bool;
    #[wasm_bindgen(method, getter)]
    fn reason(this: &AbortSignal) -> JsValue;
}

/// `pool.shutdown(options)`.
pub(crate) fn shutdown_timeout(value: &JsValue) -> Result<Option<Duration>, JsValue> {
    Fields::top(value, &["timeout"])?.millis("timeout")
}
