//! `AbortController` and `AbortSignal`, bound directly (no `web-sys`), so each attempt gets a
//! signal that fires when the attempt is dropped: on timeout, cancel or abort, with a reason
//! that says which (`signal.reason`: a `TimeoutError` or `AbortError` `DOMException`, or the
//! caller's own reason when the caller's signal cancelled the job).

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `DOMException`, what `fetch` and `AbortSignal.timeout()` reject with.
    type DomException;
    #[wasm_bindgen(constructor, js_class = "DOMException")]
    fn new(message: &str, name: &str) -> DomException;

    /// `AbortSignal`.
    type AbortSignal;
    #[wasm_bindgen(method, getter)]
    fn aborted(this: &AbortSignal) -> bool;
    #[wasm_bindgen(method, getter)]
    fn reason(this: &AbortSignal) -> JsValue;
    #[wasm_bindgen(method, js_name = addEventListener)]
    fn add_event_listener(this: &AbortSignal, kind: &str, listener: &Function, options: &JsValue);
}

pub(crate) fn is_abort_signal(v: &JsValue) -> bool {
    v.is_instance_of::<AbortSignal>()
}

/// If `signal` has already fired, its reason.
pub(crate) fn already_aborted(signal: &JsValue) -> Option<JsValue> {
    let signal = signal.unchecked_ref::<AbortSignal>();
    signal.aborted().then(|| signal.reason())
}

/// The reason `signal` fired with.
pub(crate) fn reason(signal: &JsValue) -> JsValue {
    signal.unchecked_ref::<AbortSignal>().reason()
}

/// Completes when `signal` fires, or at once if it already has.
pub(crate) fn aborted(signal: &JsValue) -> JsFuture {
    let signal = signal.unchecked_ref::<AbortSignal>();
    if signal.aborted() {
        return JsFuture::from(Promise::resolve(&JsValue::UNDEFINED));
    }
    let once = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&once, &"once".into(), &JsValue::TRUE);
    let promise = Promise::new(&mut |resolve, _reject| {
        signal.add_event_listener("abort", &resolve, &once);
    });
    JsFuture::from(promise)
}

/// A `DOMException` named `name`: `TimeoutError` or `AbortError`.
pub(crate) fn dom_exception(message: &str, name: &str) -> JsValue {
    DomException::new(message, name).into()
}

/// The attempts a pool dropped, whose signals fire once it is known why. An attempt is dropped
/// first and its reason becomes known right after (the core reports a timeout once the attempt
/// is gone), so the signals fire in a microtask, each with its reason.
#[derive(Default)]
pub(crate) struct Aborts {
    /// Dropped attempts' contexts, by job id.
    dropped: RefCell<Vec<(u64, js_sys::Object)>>,
    /// Reasons known so far, by job id: a timeout, or the caller's signal.
    reasons: RefCell<Vec<(u64, JsValue)>>,
}

impl Aborts {
    /// Gives `job`'s dropped attempt this reason (unless it has one already).
    pub(crate) fn reason(&self, job: u64, reason: JsValue) {
        let mut reasons = self.reasons.borrow_mut();
        if !reasons.iter().any(|(j, _)| *j == job) {
            reasons.push((job, reason));
        }
    }

    /// Forgets `job`'s reason: the job has settled.
    pub(crate) fn forget(&self, job: u64) {
        self.reasons.borrow_mut().retain(|(j, _)| *j != job);
    }

    /// An attempt of `job` was dropped: its signal fires in a microtask.
    fn dropped(self: &Rc<Self>, job: u64, ctx: js_sys::Object) {
        let first = {
            let mut dropped = self.dropped.borrow_mut();
            dropped.push((job, ctx));
            dropped.len() == 1
        };
        if first {
            let this = Rc::clone(self);
            wasm_bindgen_futures::spawn_local(async move { this.fire() });
        }
    }

    /// Fires every dropped attempt's signal with its reason: the job's, or an `AbortError`.
    fn fire(&self) {
        let dropped = core::mem::take(&mut *self.dropped.borrow_mut());
        for (job, ctx) in dropped {
            // Each reason is for one dropped attempt.
            let known = {
                let mut reasons = self.reasons.borrow_mut();
                reasons.iter().position(|(j, _)| *j == job).map(|i| reasons.swap_remove(i).1)
            };
            let reason =
                known.unwrap_or_else(|| dom_exception("the job was cancelled", "AbortError"));
            super::job::abort_context(&ctx, &reason);
        }
    }
}

/// Aborts its controller when dropped, unless disarmed: an attempt dropped by a timeout, a
/// cancel or an abort signals its job, so a `fetch` in flight is really aborted.
pub(crate) struct AbortOnDrop {
    /// The attempt's context, whose signal (if the job read it) fires.
    pub(crate) ctx: Option<js_sys::Object>,
    pub(crate) job: u64,
    pub(crate) aborts: Rc<Aborts>,
}

impl AbortOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.ctx = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            self.aborts.dropped(self.job, ctx);
        }
    }
}
