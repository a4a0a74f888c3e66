//! Panics in user code, caught where the pool calls it (with `std`, where panics unwind; without
//! `std`, or with `panic = "abort"` as on wasm32, a panic goes to the target's panic handler,
//! which usually halts, and there is nothing to catch).
//!
//! Every call into user code — the job's function and future, the retry predicate, the
//! observer, the sleeper's future, and the destructors of what the pool holds — goes through
//! [`unwind`] or [`quietly`], so no panic there unwinds through a worker or a submitter.

use alloc::string::String;

/// Runs `f`; a panic becomes `Err` with its message, when the payload was a string.
#[cfg(all(feature = "std", panic = "unwind"))]
pub(crate) fn unwind<R>(f: impl FnOnce() -> R) -> Result<R, Option<String>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some((*s).into())
        } else {
            payload.downcast_ref::<String>().cloned()
        }
        // The payload is dropped here; a payload whose own destructor panics is the one case
        // that still aborts, as it does in std's own `catch_unwind` users.
    })
}

#[cfg(not(all(feature = "std", panic = "unwind")))]
pub(crate) fn unwind<R>(f: impl FnOnce() -> R) -> Result<R, Option<String>> {
    Ok(f())
}

/// Runs `f` (a drop, an observer call) and ignores a panic in it. Returns whether it panicked.
pub(crate) fn quietly(f: impl FnOnce()) -> bool {
    unwind(f).is_err()
}
