//! No shutdown waits on a lock another shutdown may hold: a shutdown preempted in the middle of
//! its bookkeeping (here an "interrupt" fires in the allocator, at the first allocation of a
//! job's own shutdown poll) by a higher-priority task that polls another shutdown of the same
//! pool must not spin, as the preempted one never runs again on that core. (A test binary of
//! its own: its global allocator plays the interrupt.)
#![cfg(not(target_arch = "wasm32"))]
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::Context;
use std::time::Duration;

use workcrew::{Job, PoolBuilder};

type Interrupt = Pin<Box<dyn Future<Output = workcrew::ShutdownReport>>>;

std::thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static INTERRUPT: RefCell<Option<Interrupt>> = const { RefCell::new(None) };
}

struct Preempting;

unsafe impl GlobalAlloc for Preempting {
    // SAFETY: forwards to the system allocator; the interrupt it plays allocates only through
    // this same path, with `ARMED` cleared first, so it does not recurse into itself.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.try_with(|a| a.replace(false)).unwrap_or(false) {
            // The interrupt: a higher-priority task polls a shutdown of the same pool.
            if let Some(mut f) = INTERRUPT.with(|i| i.borrow_mut().take()) {
                eprintln!("interrupt at an allocation of {} bytes", layout.size());
                let _ = f.as_mut().poll(&mut Context::from_waker(&noop_waker()));
                eprintln!("the interrupt's shutdown poll returned");
            }
        }
        // SAFETY: the caller's layout, forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: a pointer this allocator returned, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Preempting = Preempting;

#[test]
fn a_shutdown_preempted_by_another_shutdown_of_its_pool_does_not_deadlock_it() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let (pool, mut workers) =
            PoolBuilder::new(|_: Duration| async {}).workers(1).build_workers().unwrap();
        let p = pool.clone();
        let handle = pool
            .try_submit(Job::new(move |_| {
                let p = p.clone();
                async move {
                    let interrupt: Interrupt = Box::pin({
                        let p = p.clone();
                        async move { p.shutdown().await }
                    });
                    INTERRUPT.with(|i| *i.borrow_mut() = Some(interrupt));
                    let mut own = Box::pin(p.shutdown());
                    let waker = noop_waker(); // made before arming: it allocates
                    ARMED.with(|a| a.set(true));
                    let _ = own.as_mut().poll(&mut Context::from_waker(&waker));
                    ARMED.with(|a| a.set(false));
                    Ok::<u32, ()>(1)
                }
            }))
            .unwrap();
        let mut worker = Box::pin(workers.pop().unwrap());
        let _ = worker.as_mut().poll(&mut Context::from_waker(&noop_waker()));
        drop(handle);
        let _ = done.send(());
    });
    if finished.recv_timeout(Duration::from_secs(5)).is_err() {
        panic!(
            "deadlock: the higher-priority shutdown spins on the lock its preempted holder keeps"
        );
    }
}

/// A waker that does nothing (`Waker::noop` is newer than the crate's minimum Rust).
fn noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}
