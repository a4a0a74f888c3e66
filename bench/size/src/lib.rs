//! A minimal no_std user of workcrew: build a pool with a sleeper, submit a job, run the worker,
//! read the result and the metrics. What it links is the core's code size on a microcontroller.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use workcrew::{Job, LocalPoolBuilder};

/// Runs one job through a one-worker pool; returns its value, or 0.
#[no_mangle]
pub extern "C" fn workcrew_minimal() -> u32 {
    // A real firmware passes its runtime's timer here, such as embassy_time::Timer::after.
    let sleeper = |_d: Duration| core::future::ready(());
    let Ok((pool, workers)) = LocalPoolBuilder::new(sleeper).workers(1).queue(4).build_workers()
    else {
        return 0;
    };
    let Ok(handle) = pool.try_submit(Job::new(|_| async { Ok::<u32, ()>(42) }).retries(2)) else {
        return 0;
    };
    pool.close();
    let mut cx = Context::from_waker(Waker::noop());
    for worker in workers {
        let mut worker = pin!(worker);
        while worker.as_mut().poll(&mut cx).is_pending() {}
    }
    let mut handle = pin!(handle);
    match handle.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(v)) => v + pool.metrics().succeeded as u32 - 1,
        _ => 0,
    }
}

/// A bump allocator over a static buffer: enough to link and measure, not for real use.
struct Bump;

const HEAP_SIZE: usize = 16 * 1024;
static mut HEAP: [u8; HEAP_SIZE] = [0; HEAP_SIZE];
static NEXT: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = (NEXT.load(Ordering::Relaxed) + layout.align() - 1) & !(layout.align() - 1);
        let end = start + layout.size();
        if end > HEAP_SIZE {
            return core::ptr::null_mut();
        }
        NEXT.store(end, Ordering::Relaxed);
        // SAFETY: `start..end` lies inside HEAP and is handed out once (single-threaded use).
        unsafe { core::ptr::addr_of_mut!(HEAP).cast::<u8>().add(start) }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
