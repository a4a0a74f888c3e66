//! embassy-time's driver on SysTick: one interrupt per millisecond counts time and wakes the
//! timers that are due. `embassy_time::Timer::after` then works as on any embassy board, and it
//! is the pool's sleeper.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// SysTick's reload for 1 ms on the core clock: the LM3S6965 runs at 12 MHz after reset, the
/// nRF51 (the Cortex-M0 build) at 16 MHz. Measured in QEMU: a 5,000 ms `Timer` takes 5.1 s of
/// wall time on both.
#[cfg(target_has_atomic = "32")]
const RELOAD_1MS: u32 = 12_000 - 1;
#[cfg(not(target_has_atomic = "32"))]
const RELOAD_1MS: u32 = 16_000 - 1;

struct SysTickDriver {
    /// Milliseconds since `start`; written only by the SysTick handler.
    ticks: Mutex<Cell<u64>>,
    /// The timers waiting, and when the earliest is due.
    queue: Mutex<RefCell<Queue>>,
    next_alarm: Mutex<Cell<u64>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
    next_alarm: Mutex::new(Cell::new(u64::MAX)),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                // Wakes what is already due, and says when the next one is.
                self.next_alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

/// Starts the 1 ms tick.
pub fn start(mut syst: SYST) {
    syst.set_reload(RELOAD_1MS);
    syst.set_clock_source(SystClkSource::Core);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        let next = DRIVER.next_alarm.borrow(cs);
        if now >= next.get() {
            next.set(DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now));
        }
    });
}
