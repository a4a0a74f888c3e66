//! Heap bytes per queued job on a 32-bit target, counted by the allocator: wasm32 has the same
//! layout rules as a Cortex-M (`thumbv7em`): 32-bit pointers, 8-byte-aligned `u64`. Run by
//! `wasm-pack test --node`; it prints the figure docs/embedded.md reports and holds it to a budget.
//! (The 64-bit figure is the native benchmark's, `bench/`.)
#![cfg(target_arch = "wasm32")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Duration;

use wasm_bindgen_test::wasm_bindgen_test as test;

// In a browser run of `wasm-pack test` (see `build.rs`), these tests run in the browser.
#[cfg(wasm_browser_test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
use workcrew::{Job, LocalPoolBuilder};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn heap_bytes_per_queued_job_on_a_32_bit_target() {
    const N: usize = 10_000;
    // A local pool whose workers nobody polls: every job stays queued.
    let (pool, _workers) =
        LocalPoolBuilder::new(|_: Duration| async {}).workers(1).queue(N).build_workers().unwrap();
    let mut handles = Vec::with_capacity(N);
    let before = LIVE.load(Relaxed);
    for i in 0..N as u64 {
        handles.push(pool.try_submit(Job::new(move |_| async move { Ok::<_, ()>(i) })).unwrap());
    }
    let after = LIVE.load(Relaxed);
    // Beyond the closure's captures (a `u64`) and the handle (in the vector, allocated before).
    let per_job = (after - before) as f64 / N as f64 - 8.0;
    web_sys_log(&format!("heap bytes per queued job, wasm32: {per_job:.1}"));
    assert!(per_job <= 80.0, "{per_job} bytes per queued job");
}

fn web_sys_log(s: &str) {
    wasm_bindgen_test::console_log!("{s}");
}
