//! A retry budget shared by a pool's jobs, as tower's `retry::budget` and Finagle's: retries
//! are allowed while they stay within a ratio of first attempts over a recent window, plus a
//! small minimum. When a service goes down and every job fails, the budget keeps the retries
//! from multiplying its load (a retry storm).
//!
//! The window is counted in **first attempts**, not in time: the pool's only source of time is
//! its sleeper, and a count needs no clock. It is kept as ten slots (fewer for a window under
//! 10) of a tenth of the window each (their sizes differ by at most one, and add up to the
//! window); when the newest slot is full, the oldest is forgotten. The arithmetic is in integers
//! (hundredths of a retry), so a fractional ratio allows exactly what it says (tower #857).

use crate::sync::Lock;

/// A retry budget: over the last [`window`](RetryBudget::window) first attempts, retries are
/// allowed while
///
/// `retries ≤ percent / 100 × first attempts + min_retries`.
///
/// A failed attempt that would retry but finds the budget spent ends its job with that
/// attempt's error, counted in [`Metrics::retries_denied`](crate::Metrics::retries_denied) and
/// reported as [`JobEvent::RetryDenied`](crate::JobEvent::RetryDenied). A retry that is then
/// never sent (its job cancelled in the backoff, its deadline passed there, the breaker
/// refusing it) gives its share back. Hedged attempts are not retries and take nothing from it. Set it with
/// [`PoolBuilder::retry_budget`](crate::PoolBuilder::retry_budget).
///
/// The default, `RetryBudget::new(20)`, allows 20 retries per 100 first attempts plus 10, over
/// the last 1,000 first attempts.
///
/// # Examples
///
/// ```
/// use workcrew::RetryBudget;
///
/// // At most 1 retry per 10 first attempts, plus 5, over the last 500 first attempts.
/// let budget = RetryBudget::new(10).min_retries(5).window(500);
/// assert_ne!(budget, RetryBudget::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    percent: u32,
    min_retries: u32,
    window: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(20)
    }
}

impl RetryBudget {
    /// Allows `percent` retries per 100 first attempts (`percent` above 100 allows more
    /// retries than first attempts), plus 10, over the last 1,000 first attempts.
    pub const fn new(percent: u32) -> Self {
        Self { percent, min_retries: 10, window: 1000 }
    }

    /// Retries allowed in any window whatever the ratio (default 10), so that a pool with
    /// little traffic can still retry.
    pub const fn min_retries(mut self, retries: u32) -> Self {
        self.min_retries = retries;
        self
    }

    /// How many of the latest first attempts the budget remembers (default 1,000; at least 1).
    /// It forgets them a tenth of the window at a time (rounded up), so between `window` less a
    /// tenth and `window` are remembered once that many have been made, never more.
    pub const fn window(mut self, first_attempts: u32) -> Self {
        self.window = first_attempts;
        self
    }

    pub(crate) fn check(self) -> Result<Self, crate::PolicyError> {
        if self.window == 0 {
            return Err(crate::PolicyError::ZeroWindow);
        }
        Ok(self)
    }
}

/// Slots in the window (fewer for a window under 10): the oldest is forgotten at a time.
const SLOTS: usize = 10;

#[derive(Clone, Copy, Default)]
struct Slot {
    firsts: u64,
    retries: u64,
    /// Which use of the slot this is: a withdrawal is given back only to the use it was
    /// counted in.
    turn: u64,
}

/// A retry counted in the budget, until it is sent: given back if it is not
/// ([`Budget::refund`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Withdrawal {
    slot: usize,
    turn: u64,
}

/// A budget's counts, shared by the pool's workers behind one lock (held for a few additions).
pub(crate) struct Budget {
    config: RetryBudget,
    inner: Lock<Window>,
}

struct Window {
    slots: [Slot; SLOTS],
    /// The newest slot.
    at: usize,
    /// Slots in use: 10, or the window if smaller.
    used: usize,
    /// First attempts per slot: the window over the slots, rounded down; the first
    /// `window % used` slots hold one more, so that they add up to the window.
    per_slot: u64,
    larger: usize,
    /// Slots started so far.
    turns: u64,
    firsts: u64,
    retries: u64,
}

impl Window {
    fn size(&self, slot: usize) -> u64 {
        self.per_slot + u64::from(slot < self.larger)
    }
}

impl Budget {
    pub(crate) fn new(config: RetryBudget) -> Self {
        let used = (config.window as usize).clamp(1, SLOTS);
        let window = u64::from(config.window).max(1);
        let per_slot = window / used as u64;
        let larger = (window % used as u64) as usize;
        let slots = [Slot::default(); SLOTS];
        let window =
            Window { slots, at: 0, used, per_slot, larger, turns: 0, firsts: 0, retries: 0 };
        Self { config, inner: Lock::new(window) }
    }

    /// A job's first attempt begins: it deposits `percent` hundredths of a retry.
    pub(crate) fn deposit(&self) {
        let mut w = self.inner.lock();
        if w.slots[w.at].firsts == w.size(w.at) {
            // The newest slot is full: the next one, forgetting the oldest tenth.
            w.at = (w.at + 1) % w.used;
            w.turns += 1;
            let (at, turn) = (w.at, w.turns);
            let old = core::mem::replace(&mut w.slots[at], Slot { turn, ..Slot::default() });
            w.firsts -= old.firsts;
            w.retries -= old.retries;
        }
        let at = w.at;
        w.slots[at].firsts += 1;
        w.firsts += 1;
    }

    /// A retry asks for the budget: counted, if it stays within it.
    pub(crate) fn withdraw(&self) -> Option<Withdrawal> {
        let c = self.config;
        let mut w = self.inner.lock();
        let allowed = u64::from(c.percent)
            .saturating_mul(w.firsts)
            .saturating_add(100 * u64::from(c.min_retries));
        if w.retries.saturating_add(1).saturating_mul(100) > allowed {
            return None;
        }
        let at = w.at;
        w.slots[at].retries += 1;
        w.retries += 1;
        Some(Withdrawal { slot: at, turn: w.slots[at].turn })
    }

    /// A retry counted by [`withdraw`](Self::withdraw) was not sent: it no longer counts (if
    /// its slot is still remembered).
    pub(crate) fn refund(&self, withdrawal: Withdrawal) {
        let mut w = self.inner.lock();
        let slot = &mut w.slots[withdrawal.slot];
        if slot.turn == withdrawal.turn && slot.retries > 0 {
            slot.retries -= 1;
            w.retries -= 1;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_ratio_plus_the_minimum() {
        let b = Budget::new(RetryBudget::new(20).min_retries(3).window(1000));
        for _ in 0..100 {
            b.deposit();
        }
        let allowed = (0..1000).filter(|_| b.withdraw().is_some()).count();
        assert_eq!(allowed, 20 + 3);
    }

    #[test]
    fn a_fractional_ratio_allows_exactly_what_it_says() {
        // 1 retry per 3 first attempts would be 33.3%: 33 per 100 allows 33 retries per 100
        // first attempts, never 34 (tower #857 allowed more than its ratio).
        let b = Budget::new(RetryBudget::new(33).min_retries(0).window(100));
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!((0..100).filter(|_| b.withdraw().is_some()).count(), 33);
        let b = Budget::new(RetryBudget::new(50).min_retries(0).window(100));
        b.deposit();
        assert!(b.withdraw().is_none(), "half a retry is not a retry");
        b.deposit();
        assert!(b.withdraw().is_some());
        assert!(b.withdraw().is_none());
    }

    #[test]
    fn the_oldest_tenth_is_forgotten_once_the_window_is_full() {
        let b = Budget::new(RetryBudget::new(0).min_retries(2).window(100));
        b.deposit();
        assert!(b.withdraw().is_some() && b.withdraw().is_some() && b.withdraw().is_none());
        // 99 more first attempts fill the window: the early retries are still remembered.
        for _ in 0..99 {
            b.deposit();
        }
        assert!(b.withdraw().is_none());
        // The 101st forgets the first slot (10 first attempts, and the two retries).
        b.deposit();
        assert!(b.withdraw().is_some() && b.withdraw().is_some() && b.withdraw().is_none());
    }

    #[test]
    fn a_small_window_remembers_exactly_its_size() {
        let b = Budget::new(RetryBudget::new(100).min_retries(0).window(3));
        for _ in 0..3 {
            b.deposit();
        }
        assert!(
            b.withdraw().is_some()
                && b.withdraw().is_some()
                && b.withdraw().is_some()
                && b.withdraw().is_none()
        );
        // The fourth first attempt forgets the first; the retries, made in the third's slot,
        // are remembered until that slot goes.
        b.deposit();
        assert!(b.withdraw().is_none(), "3 first attempts remembered, 3 retries: spent");
        b.deposit();
        b.deposit();
        assert!(b.withdraw().is_some(), "the third's slot went, and its retries with it");
    }

    #[test]
    fn a_window_that_is_no_multiple_of_ten_remembers_at_most_its_size() {
        for window in [11, 19, 1001] {
            let b = Budget::new(RetryBudget::new(100).min_retries(0).window(window));
            for _ in 0..3 * window {
                b.deposit();
            }
            let allowed = (0..3 * window).filter(|_| b.withdraw().is_some()).count() as u32;
            let tenth = window.div_ceil(10);
            assert!(allowed <= window && allowed > window - tenth, "{window}: {allowed}");
        }
    }

    #[test]
    fn a_refund_gives_the_retry_back_unless_its_slot_was_forgotten() {
        let b = Budget::new(RetryBudget::new(0).min_retries(1).window(10));
        let w = b.withdraw().unwrap();
        assert!(b.withdraw().is_none());
        b.refund(w);
        let again = b.withdraw().unwrap();
        // Ten first attempts later the slot it was counted in is a new one: nothing to give.
        for _ in 0..11 {
            b.deposit();
        }
        let fresh = b.withdraw().unwrap();
        b.refund(again);
        assert!(b.withdraw().is_none(), "a stale refund gave back a retry it did not count");
        b.refund(fresh);
        assert!(b.withdraw().is_some());
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let b = Budget::new(RetryBudget::new(u32::MAX).min_retries(u32::MAX).window(u32::MAX));
        b.deposit();
        assert!(b.withdraw().is_some());
    }

    #[test]
    fn without_first_attempts_only_the_minimum_is_allowed() {
        let b = Budget::new(RetryBudget::new(1000).min_retries(1));
        assert!(b.withdraw().is_some());
        assert!(b.withdraw().is_none());
    }
}
