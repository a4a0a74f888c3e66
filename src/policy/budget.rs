//! A retry budget shared by a pool's jobs, as tower's `retry::budget` and Finagle's: retries
//! are allowed while they stay within a ratio of first attempts over a recent window, plus a
//! small minimum. When a service goes down and every job fails, the budget keeps the retries
//! from multiplying its load (a retry storm).
//!
//! The window is counted in **first attempts**, not in time: the pool's only source of time is
//! its sleeper, and a count needs no clock. It is kept as ten slots of a tenth of the window
//! each; when the newest slot is full, the oldest is forgotten. The arithmetic is in integers
//! (hundredths of a retry), so a fractional ratio allows exactly what it says (tower #857).

use crate::sync::Lock;

/// A retry budget: over the last [`window`](RetryBudget::window) first attempts, retries are
/// allowed while
///
/// `retries ≤ percent / 100 × first attempts + min_retries`.
///
/// A failed attempt that would retry but finds the budget spent ends its job with that
/// attempt's error, counted in [`Metrics::retries_denied`](crate::Metrics::retries_denied) and
/// reported as [`JobEvent::RetryDenied`](crate::JobEvent::RetryDenied). Hedged attempts are
/// not retries and take nothing from it. Set it with
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
    /// It forgets them a tenth of the window at a time, so between `window` less a tenth and
    /// `window` are remembered once that many have been made.
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
    /// First attempts per slot: the window over the slots, rounded up.
    per_slot: u64,
    firsts: u64,
    retries: u64,
}

impl Budget {
    pub(crate) fn new(config: RetryBudget) -> Self {
        let used = (config.window as usize).clamp(1, SLOTS);
        let per_slot = u64::from(config.window).div_ceil(used as u64).max(1);
        let slots = [Slot::default(); SLOTS];
        let window = Window { slots, at: 0, used, per_slot, firsts: 0, retries: 0 };
        Self { config, inner: Lock::new(window) }
    }

    /// A job's first attempt begins: it deposits `percent` hundredths of a retry.
    pub(crate) fn deposit(&self) {
        let mut w = self.inner.lock();
        if w.slots[w.at].firsts == w.per_slot {
            // The newest slot is full: the next one, forgetting the oldest tenth.
            w.at = (w.at + 1) % w.used;
            let at = w.at;
            let old = core::mem::take(&mut w.slots[at]);
            w.firsts -= old.firsts;
            w.retries -= old.retries;
        }
        let at = w.at;
        w.slots[at].firsts += 1;
        w.firsts += 1;
    }

    /// A retry asks for the budget: `true` (and counted) if it stays within it.
    pub(crate) fn withdraw(&self) -> bool {
        let c = self.config;
        let mut w = self.inner.lock();
        let allowed = u64::from(c.percent) * w.firsts + 100 * u64::from(c.min_retries);
        if 100 * (w.retries + 1) > allowed {
            return false;
        }
        let at = w.at;
        w.slots[at].retries += 1;
        w.retries += 1;
        true
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
        let allowed = (0..1000).filter(|_| b.withdraw()).count();
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
        assert_eq!((0..100).filter(|_| b.withdraw()).count(), 33);
        let b = Budget::new(RetryBudget::new(50).min_retries(0).window(100));
        b.deposit();
        assert!(!b.withdraw(), "half a retry is not a retry");
        b.deposit();
        assert!(b.withdraw());
        assert!(!b.withdraw());
    }

    #[test]
    fn the_oldest_tenth_is_forgotten_once_the_window_is_full() {
        let b = Budget::new(RetryBudget::new(0).min_retries(2).window(100));
        b.deposit();
        assert!(b.withdraw() && b.withdraw() && !b.withdraw());
        // 99 more first attempts fill the window: the early retries are still remembered.
        for _ in 0..99 {
            b.deposit();
        }
        assert!(!b.withdraw());
        // The 101st forgets the first slot (10 first attempts, and the two retries).
        b.deposit();
        assert!(b.withdraw() && b.withdraw() && !b.withdraw());
    }

    #[test]
    fn a_small_window_remembers_exactly_its_size() {
        let b = Budget::new(RetryBudget::new(100).min_retries(0).window(3));
        for _ in 0..3 {
            b.deposit();
        }
        assert!(b.withdraw() && b.withdraw() && b.withdraw() && !b.withdraw());
        // The fourth first attempt forgets the first; the retries, made in the third's slot,
        // are remembered until that slot goes.
        b.deposit();
        assert!(!b.withdraw(), "3 first attempts remembered, 3 retries: spent");
        b.deposit();
        b.deposit();
        assert!(b.withdraw(), "the third's slot went, and its retries with it");
    }

    #[test]
    fn without_first_attempts_only_the_minimum_is_allowed() {
        let b = Budget::new(RetryBudget::new(1000).min_retries(1));
        assert!(b.withdraw());
        assert!(!b.withdraw());
    }
}
