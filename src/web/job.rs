//! A JavaScript function as a job: called once per attempt with `{ signal, attempt, job }`,
//! whose prototype carries `shutdown` (see `WorkPool`).

use js_sys::{Function, Object, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::options::JobOptions;
use super::signal::{AbortController, AbortOnDrop};
use crate::{Attempt, Job};

/// The job for `f`, with `options` applied.
///
/// A thrown exception or a rejected promise fails the attempt with that value, intact. A return
/// value that is not a promise (or thenable) is the job's value.
pub(crate) fn js_job(
    f: Function,
    options: &JobOptions,
    context: Object,
) -> Job<impl FnMut(Attempt) -> JsAttempt + 'static> {
    let mut job = Job::new(move |attempt: Attempt| {
        let controller = AbortController::new();
        // Inherits `shutdown` from the pool's context prototype.
        let ctx = Object::create(&context);
        super::set(&ctx, "signal", controller.signal());
        super::set(&ctx, "attempt", attempt.number());
        super::set(&ctx, "job", attempt.job_id() as f64);
        let called = f.call1(&JsValue::UNDEFINED, &ctx);
        JsAttempt::new(called, AbortOnDrop(Some(controller)))
    });
    if let Some(retries) = options.retries {
        job = job.retries(retries);
    }
    job.timeout = options.timeout;
    job.backoff = options.backoff;
    job
}

/// One attempt of a JavaScript job: the promise it returned, and its abort controller.
pub(crate) struct JsAttempt {
    result: Result<JsFuture, JsValue>,
    abort: AbortOnDrop,
}

impl JsAttempt {
    fn new(called: Result<JsValue, JsValue>, abort: AbortOnDrop) -> Self {
        // `Promise.resolve` adopts promises and thenables and wraps plain values.
        Self { result: called.map(|v| JsFuture::from(Promise::resolve(&v))), abort }
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
            Ok(future) => core::pin::Pin::new(future).poll(cx),
            Err(thrown) => core::task::Poll::Ready(Err(thrown.clone())),
        };
        if poll.is_ready() {
            this.abort.disarm(); // the attempt ended by itself
        }
        poll
    }
}
