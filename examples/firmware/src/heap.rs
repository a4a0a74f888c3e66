//! The fixed heap (embedded-alloc's linked-list allocator over a static array), counting the
//! allocations made, so the firmware can report allocations per job.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;

use embedded_alloc::LlffHeap;
use portable_atomic::{AtomicU32, Ordering};

/// The heap's size: a quarter of the lm3s6965's 64 KiB RAM; 10 of the micro:bit's 16 KiB (the
/// Cortex-M0 build, the one without compare-and-swap), which leaves room for the statics and a
/// stack of a few KiB.
#[cfg(target_has_atomic = "32")]
pub const SIZE: usize = 16 * 1024;
#[cfg(not(target_has_atomic = "32"))]
pub const SIZE: usize = 10 * 1024;

struct Counting {
    heap: LlffHeap,
    allocations: AtomicU32,
}

#[global_allocator]
static HEAP: Counting = Counting { heap: LlffHeap::empty(), allocations: AtomicU32::new(0) };

// SAFETY: forwards to embedded-alloc's heap, which upholds `GlobalAlloc`'s contract; counting
// touches no memory of the caller's.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `layout` contract passes through unchanged.
        unsafe { self.heap.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

/// Gives the heap its memory. Call once, first thing.
pub fn init() {
    static mut MEMORY: [MaybeUninit<u8>; SIZE] = [MaybeUninit::uninit(); SIZE];
    // SAFETY: called once, before any allocation; `MEMORY` is used by nothing else.
    unsafe { HEAP.heap.init(core::ptr::addr_of_mut!(MEMORY) as usize, SIZE) }
}

/// Bytes in use on the heap.
pub fn used() -> usize {
    HEAP.heap.used()
}

/// Allocations made so far.
pub fn allocations() -> u32 {
    HEAP.allocations.load(Ordering::Relaxed)
}
