//! Jobs that shut their own pool down: which job each worker runs, which of those jobs wait in a
//! shutdown of their pool, and how a call knows it comes from inside a job.
//!
//! A shutdown waits for every worker to stop, except a worker whose current job is itself
//! waiting in a shutdown of the same pool: that worker is busy waiting too, and waiting for it
//! would never end. [`Crew`] keeps, per worker, **one word** (a [`Counter`]) that says both
//! which job the worker runs and how many shutdowns that job waits in:
//!
//! ```text
//!  bits                    meaning
//!  COUNT_BITS and up       the job's tag: a nonzero number made from its id (0: no job)
//!  0 .. COUNT_BITS         shutdowns of that job waiting now; all ones: sticky (too many)
//! ```
//!
//! * The worker writes the word when a job starts (its tag, no shutdown) and when it ends (0);
//!   so a job's count can never outlive the job, whoever still holds a shutdown of it.
//! * A shutdown started by job `J` adds one with a compare-and-swap that expects `J`'s tag, and
//!   takes it back the same way; once `J` has ended its tag is gone and both are no-ops.
//! * No lock: a task of another interrupt priority that preempts any of these never waits.
//!
//! "From inside a job" is found with a thread-local (`std`): the job whose poll (or function
//! call) this thread is in. Without `std` each worker marks the job it polls, and the caller
//! is taken to be inside the only job being polled; exact where one thread polls the workers
//! (the browser, single-threaded embedded executors), and documented on `Pool::shutdown`.

use alloc::boxed::Box;

use crate::sync::{Counter, CounterValue, Ordering, Padded};

/// Bits of a word that count a job's waiting shutdowns.
#[cfg(target_has_atomic = "64")]
const COUNT_BITS: u32 = 16;
#[cfg(not(target_has_atomic = "64"))]
const COUNT_BITS: u32 = 10;
/// The count's mask, and its sticky value.
const COUNT: CounterValue = (1 << COUNT_BITS) - 1;

/// A job as [`Crew`]'s words hold it: a nonzero tag made from its id, in the bits above the
/// count (ids are taken modulo `2^(width − COUNT_BITS) − 1`, so two jobs of a worker share a tag
/// only that many jobs apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobTag(CounterValue);

impl JobTag {
    /// The tag of job `id`.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    pub(crate) fn of(id: u64) -> Self {
        let jobs = (1u64 << (CounterValue::BITS - COUNT_BITS)) - 1;
        Self((((id % jobs) + 1) as CounterValue) << COUNT_BITS)
    }
}

/// Per worker, the job it runs and the shutdowns that job waits in (see the module docs).
pub(crate) struct Crew {
    words: Box<[Padded<Counter>]>,
    /// Without `std`: per worker, the tag of the job it is polling right now, or 0.
    #[cfg(not(feature = "std"))]
    polling: Box<[Padded<Counter>]>,
}

impl Crew {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            words: (0..workers).map(|_| Padded::default()).collect(),
            #[cfg(not(feature = "std"))]
            polling: (0..workers).map(|_| Padded::default()).collect(),
        }
    }

    /// Worker `index` starts job `id` (`None`: it runs no job any more). Whatever shutdowns the
    /// previous job waited in no longer excuse the worker.
    pub(crate) fn set_job(&self, index: usize, id: Option<u64>) {
        self.words[index].store(id.map_or(0, |id| JobTag::of(id).0), Ordering::Release);
    }

    /// A shutdown of job `job` starts waiting: if a worker runs that job now, it is excused
    /// while it does. Returns whether one was found (then [`leave`](Self::leave) it later).
    pub(crate) fn enter(&self, job: JobTag) -> bool {
        for word in self.words.iter() {
            let mut w = word.load(Ordering::Acquire);
            while w & !COUNT == job.0 {
                if w & COUNT == COUNT {
                    return true; // sticky: the job counts as waiting until it ends
                }
                match word.compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return true,
                    Err(actual) => w = actual,
                }
            }
        }
        false
    }

    /// A shutdown of `job` that [`enter`](Self::enter) found no longer waits. A no-op once the
    /// job has ended.
    pub(crate) fn leave(&self, job: JobTag) {
        for word in self.words.iter() {
            let mut w = word.load(Ordering::Acquire);
            while w & !COUNT == job.0 && w & COUNT != 0 && w & COUNT != COUNT {
                match word.compare_exchange_weak(w, w - 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return,
                    Err(actual) => w = actual,
                }
            }
        }
    }

    /// Workers whose current job waits in a shutdown. The words are read twice and must agree,
    /// so the count is of one moment: a worker excused at the first read and not at the second
    /// (its job's shutdown dropped) is not counted with another excused only at the second.
    /// When they changed in between, the answer is 0: a worker that changed its job is not
    /// waiting, and a shutdown that starts waiting wakes every other shutdown to look again.
    pub(crate) fn excused(&self) -> usize {
        let read = || {
            self.words.iter().fold((0usize, 0u64), |(excused, print), w| {
                let w = w.load(Ordering::Acquire);
                let print = (print ^ crate::sync::widen(w)).wrapping_mul(0x0100_0000_01b3);
                (excused + usize::from(w & COUNT != 0), print.rotate_left(7))
            })
        };
        let (excused, first) = read();
        if read().1 == first {
            excused
        } else {
            0
        }
    }

    /// The job of this crew's pool whose poll (or function call) the caller is inside, if any.
    pub(crate) fn polled(&self) -> Option<JobTag> {
        #[cfg(feature = "std")]
        {
            let (crew, tag) = POLLING.with(|p| p.get());
            (crew == self.address() && tag != 0).then_some(JobTag(tag))
        }
        #[cfg(not(feature = "std"))]
        {
            let mut polled =
                self.polling.iter().map(|p| p.load(Ordering::Acquire)).filter(|&t| t != 0);
            match (polled.next(), polled.next()) {
                (Some(tag), None) => Some(JobTag(tag)),
                _ => None, // none, or several at once (several cores): not known
            }
        }
    }

    /// Runs `poll` (worker `index`'s poll of job `id`, or its function call) marked as inside
    /// that job.
    #[cfg_attr(feature = "std", allow(unused_variables))]
    pub(crate) fn polling<R>(&self, index: usize, id: u64, poll: impl FnOnce() -> R) -> R {
        let tag = JobTag::of(id);
        #[cfg(feature = "std")]
        {
            let outer = POLLING.with(|p| p.replace((self.address(), tag.0)));
            let r = poll();
            POLLING.with(|p| p.set(outer));
            r
        }
        #[cfg(not(feature = "std"))]
        {
            self.polling[index].store(tag.0, Ordering::Release);
            let r = poll();
            self.polling[index].store(0, Ordering::Release);
            r
        }
    }

    /// This crew's address: one pool's, as long as the pool lives (its `Shared` holds it).
    #[cfg(feature = "std")]
    fn address(&self) -> usize {
        self as *const Self as usize
    }
}

// Under loom the model's threads share one OS thread: its own thread-locals keep them apart.
#[cfg(all(feature = "std", not(loom)))]
std::thread_local! {
    /// The crew (its address) and the tag of the job whose poll this thread is in.
    static POLLING: core::cell::Cell<(usize, CounterValue)> = const { core::cell::Cell::new((0, 0)) };
}
#[cfg(all(feature = "std", loom))]
loom::thread_local! {
    static POLLING: core::cell::Cell<(usize, CounterValue)> = core::cell::Cell::new((0, 0));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_never_zero_and_a_count_never_reaches_it() {
        for id in [0, 1, u64::MAX, u64::MAX - 1, (1 << 32) - 1, 1 << 32, (1 << 48) - 1] {
            let tag = JobTag::of(id).0;
            assert_ne!(tag, 0, "{id}");
            assert_eq!(tag & COUNT, 0, "{id}");
        }
    }

    #[test]
    fn a_shutdown_of_a_job_that_ended_changes_nothing() {
        let crew = Crew::new(2);
        crew.set_job(0, Some(7));
        crew.set_job(1, Some(8));
        assert!(crew.enter(JobTag::of(7)));
        assert!(crew.enter(JobTag::of(7)));
        assert_eq!(crew.excused(), 1, "two shutdowns of one job excuse one worker");
        crew.set_job(0, Some(9)); // job 7 ended; a shutdown it started lives on
        assert_eq!(crew.excused(), 0);
        crew.leave(JobTag::of(7));
        assert!(!crew.enter(JobTag::of(7)), "no worker runs job 7");
        assert!(crew.enter(JobTag::of(9)));
        crew.leave(JobTag::of(7)); // the late leave of job 7's shutdown
        assert_eq!(crew.excused(), 1, "job 9's shutdown still excuses its worker");
        crew.leave(JobTag::of(9));
        assert_eq!(crew.excused(), 0);
    }

    #[test]
    fn too_many_shutdowns_of_one_job_stick_until_it_ends() {
        let crew = Crew::new(1);
        crew.set_job(0, Some(1));
        for _ in 0..COUNT + 5 {
            assert!(crew.enter(JobTag::of(1)));
        }
        for _ in 0..COUNT + 5 {
            crew.leave(JobTag::of(1));
        }
        assert_eq!(crew.excused(), 1, "sticky: never counted down to 0 while some may wait");
        crew.set_job(0, None);
        assert_eq!(crew.excused(), 0);
    }
}
