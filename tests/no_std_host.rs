//! The crate built without `std`, tested on the host (`cargo test --no-default-features --test
//! no_std_host`): each worker marks the job it polls, so two workers on two threads whose polls
//! overlap without nesting leave no stale mark, and a shutdown from outside every job is
//! taken for what it is.
#![cfg(all(not(feature = "std"), not(target_arch = "wasm32")))]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use workcrew::{Job, PoolBuilder};

struct Unpark(std::thread::Thread);
impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A future that runs `f` in its first poll, then is ready.
struct InPoll<F>(Option<F>);
impl<F: FnOnce() + Unpin> Future for InPoll<F> {
    type Output = Result<u32, ()>;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        (self.0.take().unwrap())();
        Poll::Ready(Ok(1))
    }
}

#[test]
fn an_outside_abort_after_overlapping_polls_returns() {
    let (pool, workers) =
        PoolBuilder::new(|_: Duration| async {}).workers(2).queue(4).build_workers().unwrap();
    let (a_in, a_in_rx) = mpsc::channel::<()>();
    let (b_in, b_in_rx) = mpsc::channel::<()>();
    let a_in_rx = std::sync::Mutex::new(Some(a_in_rx));
    let b_in_rx = std::sync::Mutex::new(Some(b_in_rx));
    let a_in = std::sync::Mutex::new(Some(a_in));
    let b_in = std::sync::Mutex::new(Some(b_in));
    // Job A (id 0): enters its poll first, leaves first, once B is inside its own poll.
    let ha = pool
        .try_submit(Job::new(move |_| {
            let tx = a_in.lock().unwrap().take().unwrap();
            let rx = b_in_rx.lock().unwrap().take().unwrap();
            InPoll(Some(move || {
                tx.send(()).unwrap();
                rx.recv().unwrap(); // B is inside its poll
            }))
        }))
        .unwrap();
    // Job B (id 1): enters once A is inside, leaves well after A has left.
    let hb = pool
        .try_submit(Job::new(move |_| {
            let rx = a_in_rx.lock().unwrap().take().unwrap();
            let tx = b_in.lock().unwrap().take().unwrap();
            InPoll(Some(move || {
                rx.recv().unwrap(); // A is inside its poll
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(200)); // A leaves meanwhile
            }))
        }))
        .unwrap();
    for w in workers {
        std::thread::spawn(move || block_on(w));
    }
    assert_eq!(block_on(ha), Ok(1));
    assert_eq!(block_on(hb), Ok(1));
    std::thread::sleep(Duration::from_millis(100));
    // No job runs now; both workers are idle. An abort from outside any job:
    let (done, finished) = mpsc::channel();
    let p = pool.clone();
    std::thread::spawn(move || {
        let report = block_on(p.abort());
        let _ = done.send(report);
    });
    match finished.recv_timeout(Duration::from_secs(5)) {
        Ok(_) => {}
        Err(_) => panic!(
            "an abort from outside every job did not return within 5 s (workers idle, {:?})",
            pool.metrics()
        ),
    }
}
