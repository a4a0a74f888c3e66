//! `AbortController` and `AbortSignal`, bound directly (no `web-sys`), so each attempt gets a
//! signal that fires when the attempt is dropped: on timeout, cancel or abort.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `AbortController`.
    pub(crate) type AbortController;
    #[wasm_bindgen(constructor)]
    pub(crate) fn new() -> AbortController;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn signal(this: &AbortController) -> JsValue;
    #[wasm_bindgen(method)]
    pub(crate) fn abort(this: &AbortController);

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

/// Aborts its controller when dropped, unless disarmed: an attempt dropped by a timeout, a
/// cancel or an abort signals its job, so a `fetch` in flight is really aborted.
pub(crate) struct AbortOnDrop(pub(crate) Option<AbortController>);

impl AbortOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}
