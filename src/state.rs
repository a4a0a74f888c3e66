//! The state word of a job's cell: one atomic word that says who may touch the cell's stage,
//! and who must be woken.
//!
//! ```text
//!  bit  name           set by                       meaning
//!  0-1  phase          start / seal / settle /      QUEUED (0) → RUNNING (1) → SEALED (3)
//!                      cancel                       → DONE (2); or QUEUED → DONE (cancelled
//!                                                   while queued)
//!  2    CANCEL         JobHandle::cancel, the pool  RUNNING: stop at the next await point, and end
//!                                                   as cancelled; DONE without RESULT: cancelled
//!                                                   while queued
//!  3    RESULT         the worker, with DONE        the stage holds the job's result
//!  4    HANDLE_WAKER   the handle                   a waker for the handle is registered
//!  5    WORKER_WAKER   the worker                   a waker for a cancel request is registered
//!  6    ON_KEY         the scheduler, under its     QUEUED: the job waits for its key (see
//!                      lock                         `sched`), not in the ready lanes
//!  7-63 id             Cell::new                    the job's id (never changes), where the
//!                                                   word is 64 bits
//! ```
//!
//! Where the target has 64-bit atomics (64-bit targets, wasm32), the word is a `u64` whose
//! upper 57 bits hold the job's id, so a cell needs no second word for it: the transitions
//! below only add to, or set, bits 0-6, and never carry into the id. An id is kept modulo 2⁵⁷
//! (a pool would need 2⁵⁷ submissions, some four years at a billion a second, to wrap it).
//! Elsewhere (`thumbv7em`, `thumbv6m`), and under loom (where every load of the word would be
//! one more point to explore), the word is a `usize` and the id a separate `usize`: on those
//! 32-bit targets the pool's counters, which number the jobs, are `usize` too.
//!
//! `SEALED`: the worker has decided the job's outcome and is counting and reporting it; a
//! cancel request no longer changes it. The wakers themselves are lock-free slots
//! ([`AtomicWaker`](crate::sync::AtomicWaker)); the two waker bits only spare a settle or a
//! cancel the wake of a slot nobody registered in.
//!
//! The rules that make the cell safe to share:
//!
//! * Exactly one party moves a job out of `QUEUED`: a worker (`QUEUED → RUNNING`, then it owns
//!   the stage) or a canceller (`QUEUED → DONE | CANCEL`, then nobody runs it). Both are a
//!   single compare-and-swap, so start and cancel cannot both win; and both are made under the
//!   scheduler's lock, so the scheduler's counts of queued jobs change with them (see `sched`).
//! * Only the worker that started a job seals it (`RUNNING → SEALED`), in one atomic operation
//!   that reads `CANCEL`: a cancel request that landed before wins over whatever the attempt
//!   returned, and the job ends as cancelled; one that comes after fails (`cancel` returns
//!   [`Cancelled::No`]). So a successful cancel request and the outcome always agree, and the
//!   worker counts the outcome it sealed.
//! * Only that worker settles the job (`SEALED → DONE | RESULT`), after it wrote the result into
//!   the stage; the `Release` of that transition publishes the result to the handle's
//!   `Acquire`.
//! * A waker is registered *before* its bit is set, and whoever flips the phase or the `CANCEL`
//!   bit reads the bit in the same atomic operation: either it sees the bit and wakes the slot,
//!   or the registering side sees the new phase (or `CANCEL`) and does not wait. A wake racing
//!   a new registration in the same slot is resolved by the slot itself.
//!
//! Each transition is model-checked with loom (`src/loom_tests.rs`).

use crate::sync::Ordering;

pub(crate) const QUEUED: Word = 0;
pub(crate) const RUNNING: Word = 1;
pub(crate) const DONE: Word = 2;
pub(crate) const SEALED: Word = 3;
const PHASE: Word = 0b11;
pub(crate) const CANCEL: Word = 1 << 2;
pub(crate) const RESULT: Word = 1 << 3;
pub(crate) const HANDLE_WAKER: Word = 1 << 4;
pub(crate) const WORKER_WAKER: Word = 1 << 5;
pub(crate) const ON_KEY: Word = 1 << 6;

/// What [`State::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The job was queued and never will run: it is settled as cancelled now. `on_key`: it
    /// was waiting for its key.
    Queued { wake_handle: bool, on_key: bool },
    /// The job is running and not yet sealed: it was asked to stop, and will end as cancelled.
    Running { wake_worker: bool },
    /// Already sealed or settled, or already asked to stop: nothing changed.
    No,
}

/// The state word: a `u64` with the job's id in its upper bits, where the target has 64-bit
/// atomics (see the module docs).
#[cfg(all(target_has_atomic = "64", not(loom)))]
pub(crate) type Word = u64;
#[cfg(all(target_has_atomic = "64", not(loom)))]
type AtomicWord = crate::sync::AtomicU64;

/// The state word: a `usize`, the id kept beside it (a `usize` too).
#[cfg(any(not(target_has_atomic = "64"), loom))]
pub(crate) type Word = usize;
#[cfg(any(not(target_has_atomic = "64"), loom))]
type AtomicWord = crate::sync::AtomicUsize;

/// The bits below the id.
#[cfg(all(target_has_atomic = "64", not(loom)))]
const ID_SHIFT: u32 = 7;

pub(crate) struct State {
    word: AtomicWord,
    #[cfg(any(not(target_has_atomic = "64"), loom))]
    id: usize,
}

impl State {
    #[cfg(all(target_has_atomic = "64", not(loom)))]
    pub(crate) fn new(id: u64) -> Self {
        // The id's top 7 bits do not fit (see the module docs).
        Self { word: AtomicWord::new((id << ID_SHIFT) | QUEUED) }
    }

    #[cfg(any(not(target_has_atomic = "64"), loom))]
    pub(crate) fn new(id: u64) -> Self {
        // Ids come from a `usize` counter on 32-bit targets without 64-bit atomics: they fit.
        Self { word: AtomicWord::new(QUEUED), id: id as usize }
    }

    /// The job's id (modulo 2⁵⁷ where it shares the word).
    #[cfg(all(target_has_atomic = "64", not(loom)))]
    pub(crate) fn id(&self) -> u64 {
        // The id bits never change: any ordering reads them.
        self.word.load(Ordering::Relaxed) >> ID_SHIFT
    }

    /// The job's id.
    #[cfg(any(not(target_has_atomic = "64"), loom))]
    pub(crate) fn id(&self) -> u64 {
        self.id as u64
    }

    pub(crate) fn load(&self) -> Word {
        self.word.load(Ordering::Acquire)
    }

    pub(crate) fn phase(state: Word) -> Word {
        state & PHASE
    }

    pub(crate) fn is_done(state: Word) -> bool {
        Self::phase(state) == DONE
    }

    /// `QUEUED → RUNNING`. `false` if the job was cancelled while queued.
    pub(crate) fn start(&self) -> bool {
        self.update(|s| (Self::phase(s) == QUEUED).then_some(s - QUEUED + RUNNING)).is_ok()
    }

    /// `RUNNING → SEALED`, by the worker that started the job, once it knows how the job ends:
    /// `true` if a cancel request came first, so the job ends as cancelled whatever its attempt
    /// returned. Later cancel requests fail.
    pub(crate) fn seal(&self) -> bool {
        let prev = self.word.fetch_add(SEALED - RUNNING, Ordering::AcqRel);
        debug_assert_eq!(Self::phase(prev), RUNNING);
        prev & CANCEL != 0
    }

    /// `SEALED → DONE | RESULT`, by the same worker, once the result is in the stage. Returns
    /// whether the handle's waker must be woken.
    pub(crate) fn settle(&self) -> bool {
        // SEALED (3) → DONE (2) and RESULT (not yet set): one addition.
        let prev = self.word.fetch_add(RESULT + DONE - SEALED, Ordering::AcqRel);
        debug_assert_eq!(Self::phase(prev), SEALED);
        prev & HANDLE_WAKER != 0
    }

    /// A cancel request: settles a queued job, asks a running one to stop (and to end as
    /// cancelled); fails once the job is sealed or done, or asked already.
    pub(crate) fn cancel(&self) -> Cancelled {
        match self.update(|s| match Self::phase(s) {
            QUEUED => Some((s - QUEUED + DONE) | CANCEL),
            RUNNING if s & CANCEL == 0 => Some(s | CANCEL),
            _ => None,
        }) {
            Ok(prev) if Self::phase(prev) == QUEUED => Cancelled::Queued {
                wake_handle: prev & HANDLE_WAKER != 0,
                on_key: prev & ON_KEY != 0,
            },
            Ok(prev) => Cancelled::Running { wake_worker: prev & WORKER_WAKER != 0 },
            Err(_) => Cancelled::No,
        }
    }

    /// Marks a queued job as waiting for its key, or no longer (under the scheduler's lock).
    pub(crate) fn set_on_key(&self, on: bool) {
        if on {
            self.word.fetch_or(ON_KEY, Ordering::AcqRel);
        } else {
            self.word.fetch_and(!ON_KEY, Ordering::AcqRel);
        }
    }

    /// Sets a waker bit (after its waker was stored) and returns the state before.
    pub(crate) fn set(&self, bit: Word) -> Word {
        self.word.fetch_or(bit, Ordering::AcqRel)
    }

    fn update(&self, f: impl FnMut(Word) -> Option<Word>) -> Result<Word, Word> {
        self.word.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The id shares the word with the state bits on 64-bit targets: no transition touches it.
    #[test]
    fn the_id_survives_every_transition() {
        let ids = [0, 1, 0x1234_5678_9abc, u64::from(u32::MAX), (1 << 57) - 1];
        for id in ids {
            let ran = State::new(id);
            assert!(ran.start());
            ran.set(HANDLE_WAKER);
            ran.set(WORKER_WAKER);
            assert_eq!(ran.cancel(), Cancelled::Running { wake_worker: true });
            assert_eq!(ran.cancel(), Cancelled::No);
            assert!(ran.seal(), "the cancel request came first");
            assert_eq!(ran.cancel(), Cancelled::No);
            assert!(ran.settle());
            let s = ran.load();
            assert!(State::is_done(s) && s & RESULT != 0 && s & CANCEL != 0);
            assert_eq!(ran.id(), id);

            let queued = State::new(id);
            queued.set_on_key(true);
            assert_eq!(queued.cancel(), Cancelled::Queued { wake_handle: false, on_key: true });
            assert!(!queued.start());
            assert_eq!((State::is_done(queued.load()), queued.id()), (true, id));

            let sealed = State::new(id);
            assert!(sealed.start() && !sealed.seal());
            assert_eq!(sealed.cancel(), Cancelled::No, "a sealed job's outcome is decided");
            assert!(!sealed.settle());
            assert_eq!(sealed.load() & CANCEL, 0);
            assert_eq!(sealed.id(), id);
        }
    }
}
