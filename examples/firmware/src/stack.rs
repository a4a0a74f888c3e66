//! Stack use, measured by painting: the free RAM between the end of the statics (`__sheap`) and
//! the stack pointer is filled with a pattern at start, and the deepest word the stack ever
//! overwrote is found at the end.

const PAINT: u32 = 0xDEAD_BEEF;

extern "C" {
    static mut __sheap: u32; // cortex-m-rt: the end of .bss/.data/.uninit
    static _stack_start: u32; // cortex-m-rt: the top of RAM, where the stack starts
}

fn bottom() -> *mut u32 {
    core::ptr::addr_of_mut!(__sheap)
}

fn top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paints the free stack space below the current frame (leaving 256 bytes of margin).
pub fn paint() {
    let sp = cortex_m::register::msp::read() as usize - 256;
    let mut p = bottom();
    while (p as usize) < sp {
        // SAFETY: `[__sheap, sp)` is RAM that no static, heap block or live frame uses.
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
}

/// The most stack ever used since `paint`, in bytes.
pub fn high_water() -> usize {
    let mut p = bottom();
    // SAFETY: reads RAM inside `[__sheap, _stack_start)`.
    while (p as usize) < top() && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    top() - p as usize
}
