//! Loom models of the hand-written atomic state machines, one per primitive, as tokio has:
//! every interleaving (up to loom's preemption bound) of the threads below is explored.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom loom
//! ```

use core::future::{poll_fn, ready, Future};
use core::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::cell::{Overrides, RunJob};
use crate::kind::SendKind;
use crate::outcome::Ended;
use crate::sched::{Next, RateLimit, Refused, Scheduler};
use crate::state::Cancelled;
use crate::submit::IntoTask;
use crate::sync::Arc;
use alloc::vec::Vec;

use crate::{Attempt, Job, JobError, JobHandle, PoolBuilder};

/// Runs `f` under loom, exploring interleavings with at most `preemptions` forced thread
/// switches (`None`: all of them). The bounds keep the whole suite within a few minutes.
fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemptions;
    builder.check(f);
}

// --- the job's cell (issue 17, risks 4 and 5: lock-free wakers; cancel() == true wins) --------
//
// The cell's state machine: start, cancel, seal and settle racing each other, and each waker's
// registration racing the wake meant for it. Lead: scheduler and shutdown models go below, after
// the end of this section.

/// `f`'s job in a cell, with its handle.
fn job_with<Fut>(f: impl FnMut(Attempt) -> Fut + Send + 'static) -> (Task, JobHandle<u32, ()>)
where
    Fut: Future<Output = Result<u32, ()>> + Send + 'static,
{
    let (task, handle, _) = IntoTask::<SendKind>::into_task(Job::new(f), 0, None);
    (task, JobHandle::from_inner(handle))
}

type Task = Arc<dyn RunJob + Send + Sync>;

fn job(value: u32) -> (Task, JobHandle<u32, ()>) {
    job_with(move |_| ready(Ok::<u32, ()>(value)))
}

/// The cell: a worker starts, runs, seals and settles the job while its handle cancels it and
/// waits. Exactly one of start and cancel wins, and one of cancel and seal: `cancel()` returns
/// `true` exactly when the handle resolves `Cancelled`, even when the attempt produced its value
/// at the same moment (the value is then dropped).
#[test]
fn loom_cell_start_cancel_settle() {
    model(None, || {
        let (task, handle) = job(7);
        let worker = thread::spawn(move || {
            if !task.claim() {
                task.clear();
                return false;
            }
            let _: Overrides = task.start();
            task.begin(Attempt::new(0, 1, 1, false), 0).unwrap();
            let polled = block_on(poll_fn(|cx| task.poll_attempt(cx, 1, 0, &|_| {})));
            assert!(matches!(polled, Ended::Succeeded));
            let cancelled = task.seal();
            task.settle(cancelled.then_some(JobError::Cancelled { attempts: 1 }));
            true
        });
        let cancelled = handle.cancel();
        let result = block_on(handle);
        let started = worker.join().unwrap();
        match result {
            Ok(7) => assert!(started && !cancelled),
            Err(JobError::Cancelled { attempts: 0 }) => assert!(cancelled && !started),
            Err(JobError::Cancelled { attempts: 1 }) => assert!(cancelled && started),
            other => panic!("unexpected outcome {other:?}"),
        }
    });
}

/// The cell's cancel wake-up: a worker waiting for a cancel request is woken by the handle's
/// cancel, and the handle then wakes with the worker's settlement.
#[test]
fn loom_cell_cancel_wakes_the_worker() {
    model(None, || {
        let (task, handle) = job(7);
        assert!(task.claim());
        let _: Overrides = task.start();
        let worker = thread::spawn(move || {
            block_on(poll_fn(|cx| task.poll_cancel(cx)));
            assert!(task.seal(), "the cancel request came first");
            task.settle(Some(JobError::Cancelled { attempts: 1 }));
        });
        assert!(handle.cancel());
        assert_eq!(block_on(handle), Err(JobError::Cancelled { attempts: 1 }));
        worker.join().unwrap();
    });
}

/// Three parties: a worker running an attempt that waits until it is cancelled, a canceller on
/// a thread of its own, and the handle, polled once with one waker and then awaited with
/// another (so its registration replaces a waker while the settle may be waking it). Whoever
/// is woken is always woken: the worker by the cancel, the handle by the settle.
#[test]
fn loom_cell_cancel_against_both_wakers() {
    model(Some(2), || {
        let (task, mut handle) = job_with(|_| core::future::pending::<Result<u32, ()>>());
        let t = task.clone();
        let canceller = thread::spawn(move || t.cancel() != crate::state::Cancelled::No);
        let worker = thread::spawn(move || {
            if !task.claim() {
                task.clear();
                return false;
            }
            let _: Overrides = task.start();
            task.begin(Attempt::new(0, 1, 1, false), 0).unwrap();
            block_on(poll_fn(|cx| {
                assert!(task.poll_attempt(cx, 1, 0, &|_| {}).is_pending());
                task.poll_cancel(cx)
            }));
            task.drop_attempt();
            assert!(task.seal(), "the cancel request came first");
            task.settle(Some(JobError::Cancelled { attempts: 1 }));
            true
        });
        let first = block_on(poll_fn(|cx| {
            Poll::Ready(core::pin::Pin::new(&mut handle).poll(cx).map(|r| r.unwrap_err()))
        }));
        let result = match first {
            Poll::Ready(error) => error,
            Poll::Pending => block_on(handle).unwrap_err(),
        };
        assert!(canceller.join().unwrap(), "the only cancel request succeeds");
        let started = worker.join().unwrap();
        assert_eq!(result, JobError::Cancelled { attempts: u32::from(started) });
    });
}

/// A cancel request that returns `true` wins, through the whole worker path: the handle
/// resolves `Cancelled`, even if the attempt produced its value at the same moment, and the
/// metrics count what the handle saw.
#[test]
fn loom_pool_cancel_true_means_cancelled() {
    model(Some(2), || {
        let (pool, mut workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(1)
            .build_workers()
            .unwrap();
        let handle = pool.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok().unwrap();
        let worker = workers.pop().unwrap();
        let w = thread::spawn(move || block_on(worker));
        let cancelled = handle.cancel();
        let result = block_on(handle);
        match result {
            Ok(1) => assert!(!cancelled, "cancel() returned true, the job resolved Ok"),
            Err(JobError::Cancelled { .. }) => assert!(cancelled),
            other => panic!("unexpected outcome {other:?}"),
        }
        block_on(pool.shutdown());
        w.join().unwrap();
        let m = pool.metrics();
        assert_eq!((m.succeeded, m.cancelled), if cancelled { (0, 1) } else { (1, 0) });
        assert_eq!((m.submitted, m.queued, m.running), (1, 0, 0));
    });
}

// --- end of the cell's section ----------------------------------------------------------------

// --- the scheduler (issue 18): one locked structure, loom's `Mutex` under loom ------------------
//
// The scheduler's own models drive `Scheduler` directly, as the workers and the pool do: a
// worker is a thread calling `poll_next` until `Stop` (a job it takes ends at its next call),
// a submitter reserves a place and pushes a cell into it. Whole pools follow further below.

type Sched = Scheduler<SendKind>;

/// A scheduler of `capacity` places for a crew of `crew`, all of whom may run at once.
fn sched(capacity: usize, crew: usize, per_key: Option<usize>, rate: Option<RateLimit>) -> Sched {
    Scheduler::new(capacity, crew, crew, per_key, rate)
}

/// A queued cell for job `id` (its handle dropped: these models need only the cell).
fn cell(id: u64) -> Task {
    keyed(id, None)
}

/// A queued cell for job `id`, under `key`.
fn keyed(id: u64, key: Option<u64>) -> Task {
    let job = Job::new(|_| ready(Ok::<u32, ()>(0)));
    let job = match key {
        Some(k) => job.key(k),
        None => job,
    };
    IntoTask::<SendKind>::into_task(job, id, None).0
}

/// Reserves a place now and queues job `id` in it, under `key`; `false` if refused.
fn try_push(s: &Sched, id: u64, key: Option<u64>) -> bool {
    match s.try_reserve() {
        Ok(place) => {
            assert!(place.push(keyed(id, key), 0).is_ok());
            true
        }
        Err(_) => false,
    }
}

/// Worker `w`'s next step, parked in the scheduler until there is one.
fn next(s: &Sched, w: usize) -> Next<Task> {
    block_on(poll_fn(|cx| s.poll_next(w, cx)))
}

/// Runs worker `w` until the scheduler says stop, calling `run` with each job it takes (a job
/// ends at the worker's next call). Returns the ids taken, as bits, and how many times a job
/// was found blocked on its key.
fn work(s: &Sched, w: usize, mut run: impl FnMut(u64)) -> (u32, usize) {
    let (mut taken, mut blocked) = (0u32, 0);
    loop {
        match next(s, w) {
            Next::Job { job, .. } => {
                let id = job.id();
                assert_eq!(taken & (1 << id), 0, "job {id} taken twice");
                taken |= 1 << id;
                run(id);
            }
            Next::Trash(job) => assert!(!job.is_queued(), "a live job thrown away"),
            Next::Blocked(_) => blocked += 1,
            Next::Stop => return (taken, blocked),
        }
    }
}

/// Polls a future-like `poll` once with a waker that does nothing (to take a place in a line
/// before the model's threads start).
fn poll_once<T>(mut poll: impl FnMut(&mut core::task::Context<'_>) -> Poll<T>) -> Poll<T> {
    struct Noop;
    impl alloc::task::Wake for Noop {
        fn wake(self: alloc::sync::Arc<Self>) {}
    }
    let waker = core::task::Waker::from(alloc::sync::Arc::new(Noop));
    poll(&mut core::task::Context::from_waker(&waker))
}

/// (a) A submission racing a close, against a worker: it is either refused (`Closed`) or its
/// job is taken by the worker, once; the worker always stops; no place is left reserved.
#[test]
fn loom_sched_submit_against_close() {
    model(Some(3), || {
        let s = Arc::new(sched(1, 1, None, None));
        let s2 = s.clone();
        let submitter = thread::spawn(move || match s2.try_reserve() {
            Ok(place) => {
                assert!(place.push(cell(0), 0).is_ok());
                true
            }
            Err(Refused::Closed) => false,
            Err(Refused::Full) => panic!("a queue of one with nothing in it was full"),
        });
        let s3 = s.clone();
        let closer = thread::spawn(move || s3.close());
        let (taken, _) = work(&s, 0, |_| {});
        let sent = submitter.join().unwrap();
        closer.join().unwrap();
        assert_eq!(taken == 1, sent, "a job lost, or one run that was refused");
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// (b) A waiting submitter is granted the place a worker's take frees, at once, while a
/// `try_reserve` races it: the one that does not wait never overtakes the one in line (it is
/// refused until the waiter is through), and nothing is lost. The waiter takes its place in
/// line before the threads start, so "it was waiting" is a fact, not a race.
#[test]
fn loom_sched_waiting_submitter_granted_try_reserve_never_overtakes() {
    model(Some(3), || {
        let s = Arc::new(sched(1, 1, None, None));
        assert!(try_push(&s, 0, None));
        let mut line = None;
        assert!(poll_once(|cx| s.poll_reserve(&mut line, cx)).is_pending(), "the queue is full");
        assert!(line.is_some());
        let admitted = Arc::new(crate::sync::AtomicBool::new(false));
        let (s1, a1) = (s.clone(), admitted.clone());
        let waiter = thread::spawn(move || {
            let place = block_on(poll_fn(|cx| s1.poll_reserve(&mut line, cx)));
            let place = place.ok().expect("granted, not refused");
            a1.store(true, crate::sync::Ordering::SeqCst);
            assert!(place.push(cell(1), 0).is_ok());
        });
        let (s2, a2) = (s.clone(), admitted.clone());
        let racer = thread::spawn(move || {
            let ok = try_push(&s2, 2, None);
            // Room for it only once the waiter's job was queued and taken.
            assert!(!ok || a2.load(crate::sync::Ordering::SeqCst), "try_reserve overtook");
            ok
        });
        let mut taken = 0u32;
        let mut take = |s: &Sched| match next(s, 0) {
            Next::Job { job, .. } => taken |= 1 << job.id(),
            _ => panic!("only live jobs here"),
        };
        take(&s); // job 0: its place goes to the waiter
        take(&s); // the waiter's job (or the racer's, if it came after)
        waiter.join().unwrap();
        let raced = racer.join().unwrap();
        if raced {
            take(&s);
        }
        assert_eq!(taken, if raced { 0b111 } else { 0b011 });
        s.close();
        assert!(matches!(next(&s, 0), Next::Stop));
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// (c) A handle's cancel of a queued job racing the worker's take (its claim, under the lock):
/// exactly one wins. A cancel that found it queued settles it at that moment (the cell is done
/// when `cancel` returns), counts it, frees its place, and the worker never runs it; one that
/// found it running asks it to stop. Either way nothing stays queued.
#[test]
fn loom_sched_cancel_queued_against_take() {
    model(None, || {
        let s = Arc::new(sched(4, 1, None, None));
        let task = cell(0);
        let place = s.try_reserve().ok().unwrap();
        assert!(place.push(task.clone(), 0).is_ok());
        s.close();
        let s2 = s.clone();
        let worker = thread::spawn(move || work(&s2, 0, |_| {}).0);
        let counter = crate::sync::Counter::new(0);
        let cancelled = s.cancel(&*task, &counter);
        let done_at_once = task.is_done();
        let ran = worker.join().unwrap() == 1;
        let counted = counter.load(crate::sync::Ordering::SeqCst);
        match cancelled {
            Cancelled::Queued { on_key, .. } => {
                assert!(!ran && done_at_once && !on_key, "cancelled while queued, yet it ran");
                assert_eq!(counted, 1);
            }
            Cancelled::Running { .. } => {
                assert!(ran && task.is_cancel_requested(), "asked to stop a job never taken");
                assert_eq!(counted, 0);
            }
            Cancelled::No => panic!("a fresh job refused its first cancel"),
        }
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// (d) Two workers, a capacity of 4, `per_key(1)`: jobs 0, 1 and 3 share key 1, job 2 has key
/// 2. Never two jobs of one key at once; a job found blocked waits without a worker and runs
/// once its key frees, in its key's order; every job runs once; at rest nothing waits on a key.
#[test]
fn loom_sched_two_workers_per_key_one() {
    model(None, || {
        let s = Arc::new(sched(4, 2, Some(1), None));
        for (id, key) in [(0, 1), (1, 1), (2, 2), (3, 1)] {
            assert!(try_push(&s, id, Some(key)));
        }
        assert!(!try_push(&s, 9, Some(9)), "four places");
        s.close();
        let running: Arc<[crate::sync::AtomicUsize; 3]> = Arc::new(Default::default());
        let order = Arc::new(loom::sync::Mutex::new(alloc::vec::Vec::new()));
        let workers: [_; 2] = core::array::from_fn(|w| {
            let (s, running, order) = (s.clone(), running.clone(), order.clone());
            thread::spawn(move || {
                // A job runs from its take until the worker's next call: inside `run` it
                // surely runs, so two of one key seen there at once is a real overlap.
                work(&s, w, |id| {
                    let k = if id == 2 { 2 } else { 1 };
                    let at_once = running[k].fetch_add(1, crate::sync::Ordering::SeqCst) + 1;
                    assert_eq!(at_once, 1, "two jobs of key {k} at once");
                    if k == 1 {
                        order.lock().unwrap().push(id);
                    }
                    running[k].fetch_sub(1, crate::sync::Ordering::SeqCst);
                })
            })
        });
        let [a, b] = workers.map(|w| w.join().unwrap());
        assert!(a.1 + b.1 <= 2, "a job blocked more than once");
        assert_eq!(a.0 & b.0, 0, "a job taken by both workers");
        assert_eq!(a.0 | b.0, 0b1111, "a job lost");
        assert_eq!(*order.lock().unwrap(), [0, 1, 3], "key 1's jobs out of order");
        assert_eq!((s.queued(), s.waiting_on_key(), s.places()), (0, 0, 0));
    });
}

/// (e) Pause, resume and a concurrency change racing two workers. The pool starts paused with
/// a concurrency of 1 and two jobs that each wait for the other to start (so both must run at
/// once). No job starts before `resume` (the flag is set just before it); `resume` wakes a
/// worker; and growing the concurrency to 2 wakes the other, parked while one job ran (were
/// either wake missing, loom would find every thread blocked).
#[test]
fn loom_sched_pause_resume_and_concurrency_wake_workers() {
    model(Some(3), || {
        let s = Arc::new(Scheduler::<SendKind>::new(4, 2, 1, None, None));
        s.pause();
        assert!(try_push(&s, 0, None) && try_push(&s, 1, None), "a paused pool still queues");
        let resumed = Arc::new(crate::sync::AtomicBool::new(false));
        let started = Arc::new(crate::sync::AtomicUsize::new(0));
        let both = Arc::new(loom::sync::Notify::new());
        let workers: [_; 2] = core::array::from_fn(|w| {
            let (s, resumed, started, both) =
                (s.clone(), resumed.clone(), started.clone(), both.clone());
            thread::spawn(move || {
                work(&s, w, |_| {
                    assert!(resumed.load(crate::sync::Ordering::SeqCst), "started while paused");
                    if started.fetch_add(1, crate::sync::Ordering::SeqCst) == 0 {
                        both.wait(); // the other job must start while this one runs
                    } else {
                        both.notify();
                    }
                })
                .0
            })
        });
        resumed.store(true, crate::sync::Ordering::SeqCst);
        s.resume();
        s.set_concurrency(2).unwrap();
        assert!(s.set_concurrency(3).is_err(), "above the crew");
        s.close();
        let [a, b] = workers.map(|w| w.join().unwrap());
        assert_eq!((a | b, a & b), (0b11, 0));
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// (f) The last worker is lost while a submitter holds a reserved place: the scheduler is
/// abandoned (every queued job handed back to be cancelled) and a later push is refused, its
/// job handed back. Whichever comes first, the job is handed back exactly once or it was never
/// accepted.
#[test]
fn loom_sched_push_into_abandoned_scheduler_is_handed_back() {
    model(None, || {
        let s = Arc::new(sched(4, 1, None, None));
        let s2 = s.clone();
        let submitter = thread::spawn(move || {
            let Ok(place) = s2.try_reserve() else { return (0, 0) };
            match place.push(cell(0), 0) {
                Ok(()) => (1, 0),
                Err(job) => (1, usize::from(job.is_queued())),
            }
        });
        let counter = crate::sync::Counter::new(0);
        let abandoned = s.abandon(&counter);
        assert!(abandoned
            .iter()
            .all(|(job, how)| !job.is_queued() && matches!(how, Cancelled::Queued { .. })));
        let (sent, handed_back) = submitter.join().unwrap();
        let cancelled = abandoned.len();
        assert_eq!(cancelled + handed_back, sent, "a job stranded, or handed back twice");
        assert_eq!(counter.load(crate::sync::Ordering::SeqCst), cancelled as u64);
        assert!(!try_push(&s, 1, None));
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// Two submitters and two workers, a capacity of 4, against a close: every place reserved is
/// taken by one worker, once; each worker stops.
#[test]
fn loom_sched_two_workers_capacity_four() {
    model(Some(2), || {
        let s = Arc::new(sched(4, 2, None, None));
        let submitters: [_; 2] = core::array::from_fn(|i| {
            let s = s.clone();
            thread::spawn(move || {
                let mut sent = 0;
                for id in [i as u64, 2 + i as u64] {
                    if try_push(&s, id, None) {
                        sent |= 1 << id;
                    }
                }
                sent
            })
        });
        let s2 = s.clone();
        let worker = thread::spawn(move || work(&s2, 1, |_| {}).0);
        let sent = submitters.map(|t| t.join().unwrap()).iter().fold(0, |a, b| a | b);
        assert_eq!(sent, 0b1111, "four places, four jobs, nothing ever full");
        s.close();
        let mine = work(&s, 0, |_| {}).0;
        let theirs = worker.join().unwrap();
        assert_eq!((mine | theirs, mine & theirs), (sent, 0));
        assert_eq!((s.queued(), s.places()), (0, 0));
    });
}

/// Two waiting submitters on a full queue of 4, each granted a place freed by one of two
/// workers' takes: none is left waiting while there is room, and every job is taken once.
#[test]
fn loom_sched_waiting_submitters_two_workers() {
    model(Some(2), || {
        let s = Arc::new(sched(4, 2, None, None));
        for id in 0..4 {
            assert!(try_push(&s, id, None));
        }
        let submitters: [_; 2] = core::array::from_fn(|i| {
            let s = s.clone();
            thread::spawn(move || {
                let mut line = None;
                let place = block_on(poll_fn(|cx| s.poll_reserve(&mut line, cx)));
                assert!(place.ok().unwrap().push(cell(4 + i as u64), 0).is_ok());
            })
        });
        let take3 = |s: &Sched, w: usize| {
            (0..3).fold(0u32, |bits, _| match next(s, w) {
                Next::Job { job, .. } => bits | 1 << job.id(),
                _ => panic!("only live jobs here"),
            })
        };
        let s2 = s.clone();
        let worker = thread::spawn(move || take3(&s2, 1));
        let mine = take3(&s, 0);
        submitters.map(|t| t.join().unwrap()).iter().for_each(drop);
        let theirs = worker.join().unwrap();
        assert_eq!((mine | theirs, mine & theirs), (0b11_1111, 0));
    });
}

/// Rate tokens: with 1 start per interval, a retry waiting for a token goes before a new job.
/// Worker 0 took job 0 (the one token) and its retry waits in line for a token; a token comes
/// back; worker 1 wants job 1. Worker 0's retry gets the token first, whatever the
/// interleaving; worker 1 starts job 1 only with the token worker 0 then gives back.
#[test]
fn loom_sched_rate_token_retry_before_new_job() {
    model(Some(3), || {
        let rate = RateLimit::new(1, core::time::Duration::from_millis(1));
        let s = Arc::new(sched(4, 2, None, Some(rate)));
        assert!(try_push(&s, 0, None) && try_push(&s, 1, None));
        match next(&s, 0) {
            Next::Job { job, token } => assert_eq!((job.id(), token), (0, Some(rate.interval()))),
            _ => panic!("job 0 starts with the one token"),
        }
        assert!(poll_once(|cx| s.poll_token(0, cx)).is_pending(), "the token is out");
        assert!(s.is_rate_limited());
        let retried = Arc::new(crate::sync::AtomicBool::new(false));
        let (s0, r0) = (s.clone(), retried.clone());
        let retry = thread::spawn(move || {
            let token = block_on(poll_fn(|cx| s0.poll_token(0, cx)));
            assert_eq!(token, Some(rate.interval()));
            r0.store(true, crate::sync::Ordering::SeqCst);
            s0.return_token(); // its interval passed
        });
        let (s1, r1) = (s.clone(), retried.clone());
        let fresh = thread::spawn(move || {
            work(&s1, 1, |id| {
                assert_eq!(id, 1);
                assert!(r1.load(crate::sync::Ordering::SeqCst), "a new job overtook a retry");
            })
            .0
        });
        s.return_token(); // job 0's first token comes back
        retry.join().unwrap();
        s.close();
        assert_eq!(fresh.join().unwrap(), 0b10);
        assert!(matches!(next(&s, 0), Next::Stop));
        assert_eq!((s.queued(), s.places()), (0, 0));
        assert!(!s.is_rate_limited());
    });
}

// --- whole pools -------------------------------------------------------------------------------

/// Shutdown against submit, through a whole pool: a submission either is refused or its job
/// runs; the shutdown returns after it; the metrics balance.
#[test]
fn loom_pool_submit_against_shutdown() {
    model(Some(1), || {
        let (pool, mut workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(1)
            .build_workers()
            .unwrap();
        let worker = workers.pop().unwrap();
        let w = thread::spawn(move || block_on(worker));
        let p = pool.clone();
        let submitter = thread::spawn(move || {
            p.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok().map(block_on)
        });
        let report = block_on(pool.shutdown());
        let outcome = submitter.join().unwrap();
        w.join().unwrap();
        let m = pool.metrics();
        assert_eq!(m.submitted, m.succeeded + m.failed + m.cancelled);
        match outcome {
            Some(r) => assert_eq!((r, m.submitted), (Ok(1), 1)),
            None => assert_eq!((m.submitted, m.rejected), (0, 1)),
        }
        assert_eq!(report.metrics.workers, 0);
    });
}

/// `clear()` racing a worker's takes through a whole pool: each of two queued jobs is either
/// cleared (settled at once as cancelled, counted) or run, never both; `clear` returns how many
/// it cancelled; the metrics agree and nothing stays queued.
#[test]
fn loom_pool_clear_against_worker() {
    model(Some(2), || {
        let (pool, mut workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(4)
            .build_workers()
            .unwrap();
        let handles: [_; 2] = core::array::from_fn(|i| {
            pool.try_submit(Job::new(move |_| ready(Ok::<u32, ()>(i as u32)))).ok().unwrap()
        });
        let worker = workers.pop().unwrap();
        let w = thread::spawn(move || block_on(worker));
        let cleared = pool.clear();
        let finished = handles.iter().filter(|h| h.is_finished()).count();
        assert!(finished >= cleared, "a cleared job not settled at once");
        let mut cancelled = 0;
        for (i, h) in handles.into_iter().enumerate() {
            match block_on(h) {
                Ok(v) => assert_eq!(v, i as u32),
                Err(JobError::Cancelled { attempts: 0 }) => cancelled += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(cancelled, cleared);
        block_on(pool.shutdown());
        w.join().unwrap();
        let m = pool.metrics();
        assert_eq!(
            (m.submitted, m.cancelled, m.succeeded),
            (2, cleared as u64, 2 - cleared as u64)
        );
        assert_eq!((m.queued, m.waiting_on_key, m.running), (0, 0, 0));
    });
}

/// Keys through a whole pool: two workers, a queue of 4, `per_key(1)`, two jobs of one key.
/// Never both at once (each job counts itself in and out while it runs): the second waits for
/// the key without a worker and runs once the first ends; both succeed; at rest nothing is
/// queued or waits on a key.
#[test]
fn loom_pool_two_workers_per_key() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.max_branches = 20_000;
    builder.check(|| {
        let (pool, workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(2)
            .queue(4)
            .per_key(1)
            .build_workers()
            .unwrap();
        let running = Arc::new(crate::sync::AtomicUsize::new(0));
        let handles: [_; 2] = core::array::from_fn(|i| {
            let running = running.clone();
            let job = Job::new(move |_| {
                let n = running.fetch_add(1, crate::sync::Ordering::SeqCst);
                assert_eq!(n, 0, "two jobs of one key at once");
                running.fetch_sub(1, crate::sync::Ordering::SeqCst);
                ready(Ok::<u32, ()>(i as u32))
            });
            pool.try_submit(job.key(1u64)).ok().unwrap()
        });
        pool.close();
        let threads: [_; 2] = {
            let mut w = workers.into_iter();
            core::array::from_fn(|_| {
                let worker = w.next().unwrap();
                thread::spawn(move || block_on(worker))
            })
        };
        threads.map(|t| t.join().unwrap()).iter().for_each(drop);
        for (i, h) in handles.into_iter().enumerate() {
            assert!(h.is_finished());
            assert_eq!(block_on(h), Ok(i as u32));
        }
        let m = pool.metrics();
        assert_eq!((m.succeeded, m.queued, m.waiting_on_key, m.workers), (2, 0, 0, 0));
    });
}

// --- workers lost; shutdowns from inside a job --------------------------------------------------

/// Risk 1 through a whole pool: the last worker is dropped (an executor stopping) while a
/// submission is under way on another thread; the job settles either way.
#[test]
fn loom_pool_workers_lost_during_submit() {
    model(Some(3), || {
        let (pool, workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(1)
            .queue(4)
            .build_workers()
            .unwrap();
        let p = pool.clone();
        let submitter =
            thread::spawn(move || p.try_submit(Job::new(|_| ready(Ok::<u32, ()>(1)))).ok());
        drop(workers);
        if let Some(handle) = submitter.join().unwrap() {
            assert!(handle.is_finished(), "stranded");
            assert_eq!(block_on(handle), Err(JobError::Cancelled { attempts: 0 }));
        }
        let m = pool.metrics();
        assert_eq!(
            (m.submitted, m.cancelled, m.queued, m.workers),
            (m.cancelled, m.submitted, 0, 0)
        );
    });
}

/// Risk 2 of the review: one job of two workers shuts its own pool down from inside, awaiting
/// two shutdowns at once. They excuse its own worker only, so they return only once the other
/// worker's job has ended; every job settles and both workers stop. (With the old counting, two
/// shutdowns excused two workers and returned while the plain job could still be running.)
#[test]
fn loom_pool_two_shutdowns_inside_a_job_excuse_one_worker() {
    // A whole pool with two workers runs longer than loom's default of 1,000 branches.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.max_branches = 20_000;
    builder.check(|| {
        let (pool, workers) = PoolBuilder::new(|_: core::time::Duration| async {})
            .workers(2)
            .queue(4)
            .build_workers()
            .unwrap();
        let p = pool.clone();
        let stopper = pool
            .try_submit(Job::new(move |_| {
                let p = p.clone();
                async move {
                    let (a, b) = futures_lite::future::zip(p.shutdown(), p.shutdown()).await;
                    Ok::<u64, ()>(a.metrics.succeeded.min(b.metrics.succeeded))
                }
            }))
            .unwrap();
        let plain = pool.try_submit(Job::new(|_| ready(Ok::<u64, ()>(7)))).unwrap();
        drop(pool);
        let threads: [_; 2] = {
            let mut w = workers.into_iter();
            core::array::from_fn(|_| {
                let worker = w.next().unwrap();
                thread::spawn(move || block_on(worker))
            })
        };
        assert_eq!(block_on(stopper), Ok(1), "the shutdowns returned before the plain job ended");
        assert_eq!(block_on(plain), Ok(7));
        threads.map(|t| t.join().unwrap()).iter().for_each(drop);
    });
}

// --- the policies (issue 19): the circuit breaker and the retry budget, shared by workers ----

/// Two workers end attempts while a third asks to start one: the breaker opens exactly once
/// (one cool-down to time), and once open every admission is refused.
#[test]
fn loom_breaker_opens_once() {
    use crate::policy::breaker::{Admit, Breakers, Change, Verdict};
    use crate::CircuitBreaker;
    model(Some(3), || {
        let b = Arc::new(Breakers::new(CircuitBreaker::consecutive(
            2,
            core::time::Duration::from_secs(1),
        )));
        let (a1, a2) = (b.admit(None), b.admit(None));
        assert_eq!((a1, a2), (Admit::Pass(0), Admit::Pass(0)));
        let failer = |b: &Arc<Breakers>, admitted| {
            let b = Arc::clone(b);
            thread::spawn(move || b.record(None, admitted, Verdict::Failure))
        };
        let (t1, t2) = (failer(&b, a1), failer(&b, a2));
        let asker = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.admit(None))
        };
        let changes = [t1.join().unwrap(), t2.join().unwrap()];
        let asked = asker.join().unwrap();
        let opened: Vec<_> = changes.iter().flatten().collect();
        assert_eq!(opened, [&Change::Opened(1)], "one opening, one cool-down");
        assert!(asked == Admit::Pass(0) || asked == Admit::Refuse);
        assert_eq!(b.admit(None), Admit::Refuse);
        // The admitted asker's attempt ends after the opening: it counts for nothing.
        assert_eq!(b.record(None, asked, Verdict::Failure), None);
        assert_eq!(b.cooled(None, 1), Some(Change::HalfOpen));
    });
}

/// After the cool-down, exactly one of two racing attempts is the probe, while the probe's
/// verdict may race the other's admission; a success closes the breaker.
#[test]
fn loom_breaker_half_open_admits_one_probe() {
    use crate::policy::breaker::{Admit, Breakers, Change, Verdict};
    use crate::CircuitBreaker;
    model(None, || {
        let b = Arc::new(Breakers::new(CircuitBreaker::consecutive(
            1,
            core::time::Duration::from_secs(1),
        )));
        let a = b.admit(None);
        assert_eq!(b.record(None, a, Verdict::Failure), Some(Change::Opened(1)));
        assert_eq!(b.cooled(None, 1), Some(Change::HalfOpen));
        let probes: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.admit(None))
            })
            .collect();
        let admitted: Vec<Admit> = probes.into_iter().map(|t| t.join().unwrap()).collect();
        let probe = admitted.iter().filter(|a| **a == Admit::Probe(1)).count();
        assert_eq!(probe, 1, "exactly one probe: {admitted:?}");
        assert_eq!(b.record(None, Admit::Probe(1), Verdict::Success), Some(Change::Closed));
        assert_eq!(b.admit(None), Admit::Pass(1));
    });
}

/// Two workers' retries race for the last retry in the budget while a third deposits: never
/// more retries than the budget allows at any interleaving.
#[test]
fn loom_budget_two_retries_race_for_one() {
    use crate::policy::budget::Budget;
    use crate::RetryBudget;
    model(None, || {
        let b = Arc::new(Budget::new(RetryBudget::new(100).min_retries(0).window(10)));
        b.deposit();
        let spenders: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.withdraw())
            })
            .collect();
        let allowed = spenders.into_iter().map(|t| t.join().unwrap());
        assert_eq!(
            allowed.filter(Option::is_some).count(),
            1,
            "one first attempt pays for one retry"
        );
    });
}
