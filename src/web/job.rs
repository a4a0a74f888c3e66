//! A JavaScript function as a job: called once per attempt with a context `{ signal, attempt,
//! job, shutdown }`. The context's prototype is the pool's: it carries `shutdown` and a `signal`
//! getter that makes the attempt's `AbortController` only when a job reads it, so a job that
//! never looks at its signal costs no controller.

use alloc::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::options::JobOptions;
use super::signal::{AbortOnDrop, Aborts};
use crate::{Attempt, Job};

#[wasm_bindgen(inline_js = r#"
const CONTROLLER = Symbol('workcrew.controller');
const REASON = Symbol('workcrew.reason');
export function contextPrototype(shutdown) {
  const proto = { shutdown };
  Object.defineProperty(proto, 'signal', {
    get() {
      let c = this[CONTROLLER];
      if (c === undefined) {
        c = this[CONTROLLER] = new AbortController();
        if (REASON in this) c.abort(this[REASON]); // read after the attempt ended
      }
      return c.signal;
    },
  });
  return proto;
}
export function context(proto, attempt, job) {
  const ctx = Object.create(proto);
  ctx.attempt = attempt;
  ctx.job = job;
  return ctx;
}
export function abortContext(ctx, reason) {
  if (ctx[CONTROLLER] !== undefined) ctx[CONTROLLER].abort(reason); else ctx[REASON] = reason;
}
export function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}
"#)]
extern "C" {
    /// The prototype of a pool's job contexts: `shutdown`, and the lazy `signal` getter.
    #[wasm_bindgen(js_name = contextPrototype)]
    pub(crate) fn context_prototype(shutdown: &JsValue) -> Object;
    /// One attempt's context, in one call.
    fn context(proto: &Object, attempt: u32, job: f64) -> Object;
    /// Fires the attempt's signal with `reason` (at once if the job has read it, else when it
    /// does).
    #[wasm_bindgen(js_name = abortContext)]
    pub(crate) fn abort_context(ctx: &Object, reason: &JsValue);
    #[wasm_bindgen(js_name = isThenable)]
    fn is_thenable(v: &JsValue) -> bool;
}

/// The job for `f`, with `options` applied.
///
/// A thrown exception or a rejected promise fails the attempt with that value, intact. A return
/// value that is not a promise (or thenable) is the job's value.
pub(crate) fn js_job(
    f: Function,
    options: &JobOptions,
    proto: Object,
    aborts: Rc<Aborts>,
) -> Job<impl FnMut(Attempt) -> JsAttempt + 'static> {
    let mut job = Job::new(move |attempt: Attempt| {
        let job = attempt.job_id();
        let ctx = context(&proto, attempt.number(), job as f64);
        let called = f.call1(&JsValue::UNDEFINED, &ctx);
        JsAttempt::new(called, AbortOnDrop { ctx: Some(ctx), job, aborts: Rc::clone(&aborts) })
    });
    if let Some(retries) = options.retries {
        job = job.retries(retries);
    }
    job.timeout = options.timeout;
    job.backoff = options.backoff;
    job
}

/// One attempt of a JavaScript job: what it returned, and its context (for its signal).
pub(crate) struct JsAttempt {
    result: Returned,
    abort: AbortOnDrop,
}

enum Returned {
    /// A promise or thenable, adopted by `Promise.resolve`.
    Pending(JsFuture),
    /// A plain value, or a thrown exception: the attempt ends at its first poll.
    Now(Option<Result<JsValue, JsValue>>),
}

impl JsAttempt {
    fn new(called: Result<JsValue, JsValue>, abort: AbortOnDrop) -> Self {
        let result = match called {
            Ok(v) if is_thenable(&v) => Returned::Pending(JsFuture::from(Promise::resolve(&v))),
            other => Returned::Now(Some(other)),
        };
        Self { result, abort }
    }
}

impl core::future::Future for JsAttempt {
    type Output = Result<JsValue, JsValue>;

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Self::Output> {
        let this = &mut *self;
        let poll = match &mut this.result {
            Returned::Pending(future) => core::pin::Pin::new(future).poll(cx),
            Returned::Now(result) => {
                core::task::Poll::Ready(result.take().unwrap_or(Ok(JsValue::UNDEFINED)))
            }
        };
        if poll.is_ready() {
            this.abort.disarm(); // the attempt ended by itself
        }
        poll
    }
}
