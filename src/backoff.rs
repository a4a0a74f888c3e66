//! How long to wait before each retry: a small pure value type.
//!
//! A [`Backoff`] maps a retry number (1 for the first retry) to a delay. Arithmetic saturates, so
//! no combination of inputs overflows or panics; every delay is capped by [`Backoff::with_max`].

use core::time::Duration;

/// The delay schedule between attempts.
///
/// | schedule | delay before retry *n* (n ≥ 1) |
/// |---|---|
/// | [`none`](Backoff::none) | 0 |
/// | [`constant(d)`](Backoff::constant) | d |
/// | [`linear(step)`](Backoff::linear) | n × step |
/// | [`exponential(base)`](Backoff::exponential) | base × factorⁿ⁻¹ (factor 2 unless [`with_factor`](Backoff::with_factor)) |
///
/// Then the delay is capped at [`with_max`](Backoff::with_max) and, with
/// [`with_jitter`](Backoff::with_jitter), replaced by a uniformly random delay between zero and
/// itself ("full jitter"), which spreads retries out instead of only ever lengthening them.
///
/// The default is the Go original's schedule, `linear(100 ms)`: 100 ms, 200 ms, 300 ms, …
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use workcrew::Backoff;
///
/// let b = Backoff::exponential(Duration::from_millis(50)).with_max(Duration::from_secs(1));
/// assert_eq!(b.delay(1), Duration::from_millis(50));
/// assert_eq!(b.delay(2), Duration::from_millis(100));
/// assert_eq!(b.delay(5), Duration::from_millis(800));
/// assert_eq!(b.delay(6), Duration::from_secs(1)); // capped
/// assert_eq!(b.delay(u32::MAX), Duration::from_secs(1)); // no overflow
///
/// assert_eq!(Backoff::default().delay(3), Duration::from_millis(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    kind: Kind,
    base: Duration,
    factor: u32,
    max: Duration,
    jitter: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Constant,
    Linear,
    Exponential,
}

impl Default for Backoff {
    /// `linear(100 ms)`, the Go original's schedule.
    fn default() -> Self {
        Self::linear(Duration::from_millis(100))
    }
}

impl Backoff {
    /// No delay between attempts.
    pub const fn none() -> Self {
        Self::constant(Duration::ZERO)
    }

    /// The same `delay` before every retry.
    pub const fn constant(delay: Duration) -> Self {
        Self::new(Kind::Constant, delay)
    }

    /// `n × step` before retry `n`.
    pub const fn linear(step: Duration) -> Self {
        Self::new(Kind::Linear, step)
    }

    /// `base × 2ⁿ⁻¹` before retry `n` (see [`with_factor`](Backoff::with_factor)).
    pub const fn exponential(base: Duration) -> Self {
        Self::new(Kind::Exponential, base)
    }

    const fn new(kind: Kind, base: Duration) -> Self {
        Self { kind, base, factor: 2, max: Duration::MAX, jitter: false }
    }

    /// Sets the growth factor of an exponential schedule (ignored by the others).
    pub const fn with_factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// Caps every delay at `max`.
    pub const fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Draws each delay uniformly between zero and the scheduled delay ("full jitter").
    pub const fn with_jitter(mut self) -> Self {
        self.jitter = true;
        self
    }

    /// Whether [`with_jitter`](Backoff::with_jitter) is set.
    pub const fn has_jitter(&self) -> bool {
        self.jitter
    }

    /// The scheduled delay before retry `retry` (1 for the first retry), capped, before jitter.
    /// Retry 0 (the first attempt) has no delay.
    pub fn delay(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let base = self.base.as_nanos();
        let nanos = match self.kind {
            Kind::Constant => base,
            Kind::Linear => base.saturating_mul(u128::from(retry)),
            Kind::Exponential => {
                let growth = u128::from(self.factor).checked_pow(retry - 1).unwrap_or(u128::MAX);
                base.saturating_mul(growth)
            }
        };
        from_nanos(nanos.min(self.max.as_nanos()))
    }

    /// The delay before retry `retry`, drawing a random number only if there is jitter.
    pub(crate) fn next_delay(&self, retry: u32, random: impl FnOnce() -> u64) -> Duration {
        if self.jitter {
            self.jittered_delay(retry, random())
        } else {
            self.delay(retry)
        }
    }

    /// The delay before retry `retry`, with jitter applied when enabled: `random` is a uniformly
    /// distributed `u64`, scaled into `[0, delay]`. Without jitter, `random` is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use workcrew::Backoff;
    ///
    /// let b = Backoff::constant(Duration::from_secs(10)).with_jitter();
    /// assert_eq!(b.jittered_delay(1, 0), Duration::ZERO);
    /// assert_eq!(b.jittered_delay(1, u64::MAX / 2), Duration::from_secs(5) - Duration::from_nanos(1));
    /// assert!(b.jittered_delay(1, u64::MAX) <= Duration::from_secs(10));
    /// ```
    pub fn jittered_delay(&self, retry: u32, random: u64) -> Duration {
        let delay = self.delay(retry);
        if !self.jitter {
            return delay;
        }
        // delay × random / 2⁶⁴, split so the product cannot overflow u128.
        let nanos = delay.as_nanos();
        let (hi, lo) = (nanos >> 64, nanos & u128::from(u64::MAX));
        let r = u128::from(random);
        from_nanos(hi * r + ((lo * r) >> 64))
    }
}

/// Converts nanoseconds to a `Duration`, saturating at `Duration::MAX`.
///
/// Long division by 10⁹, 32 bits at a time in `u64`s: dividing a `u128` would link a 1 KB
/// routine from `compiler_builtins` into every build (firmware and the `.wasm` included).
fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u64 = 1_000_000_000;
    let (mut secs, mut rem) = (0u128, 0u64);
    for shift in [96, 64, 32, 0] {
        // rem < 10⁹ < 2³⁰, so this fits, and so does the quotient in 32 bits.
        let part = (rem << 32) | u64::from((nanos >> shift) as u32);
        secs = (secs << 32) | u128::from(part / NANOS_PER_SEC);
        rem = part % NANOS_PER_SEC;
    }
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, rem as u32),
        Err(_) => Duration::MAX,
    }
}

/// One step of SplitMix64: a fast, well-mixed generator for jitter. Not cryptographic.
pub(crate) fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn from_nanos_divides_exactly_and_saturates() {
        let max = Duration::MAX.as_nanos();
        for n in [0, 1, 999_999_999, 1_000_000_000, 1 << 64, (1 << 64) + 7, max - 1, max] {
            let d = from_nanos(n);
            assert_eq!(d.as_nanos(), n, "{n}");
        }
        assert_eq!(from_nanos(max + 1), Duration::MAX);
        assert_eq!(from_nanos(u128::MAX), Duration::MAX);
    }

    #[test]
    fn schedules() {
        assert_eq!(Backoff::none().delay(7), Duration::ZERO);
        assert_eq!(Backoff::constant(MS * 5).delay(1), MS * 5);
        assert_eq!(Backoff::constant(MS * 5).delay(9), MS * 5);
        assert_eq!(Backoff::linear(MS * 100).delay(1), MS * 100);
        assert_eq!(Backoff::linear(MS * 100).delay(4), MS * 400);
        let exp = Backoff::exponential(MS * 10);
        assert_eq!([1, 2, 3, 4].map(|n| exp.delay(n)), [MS * 10, MS * 20, MS * 40, MS * 80]);
        let exp3 = exp.with_factor(3);
        assert_eq!([1, 2, 3].map(|n| exp3.delay(n)), [MS * 10, MS * 30, MS * 90]);
    }

    #[test]
    fn first_attempt_has_no_delay() {
        for b in [Backoff::constant(MS), Backoff::linear(MS), Backoff::exponential(MS)] {
            assert_eq!(b.delay(0), Duration::ZERO);
        }
    }

    #[test]
    fn default_is_the_go_original() {
        assert_eq!(Backoff::default(), Backoff::linear(MS * 100));
    }

    #[test]
    fn cap_applies_to_every_schedule() {
        let cap = MS * 250;
        assert_eq!(Backoff::constant(MS * 999).with_max(cap).delay(1), cap);
        assert_eq!(Backoff::linear(MS * 100).with_max(cap).delay(3), cap);
        assert_eq!(Backoff::exponential(MS * 100).with_max(cap).delay(3), cap);
        assert_eq!(Backoff::exponential(MS * 100).with_max(cap).delay(2), MS * 200);
    }

    #[test]
    fn extremes_saturate_instead_of_overflowing() {
        let huge = Duration::MAX;
        assert_eq!(Backoff::linear(huge).delay(u32::MAX), Duration::MAX);
        assert_eq!(Backoff::exponential(huge).delay(u32::MAX), Duration::MAX);
        assert_eq!(Backoff::exponential(MS).with_factor(u32::MAX).delay(u32::MAX), Duration::MAX);
        assert_eq!(Backoff::exponential(MS).delay(200), Duration::MAX);
        assert_eq!(Backoff::exponential(Duration::ZERO).delay(u32::MAX), Duration::ZERO);
        assert_eq!(Backoff::exponential(MS).with_factor(0).delay(2), Duration::ZERO);
        let capped = Backoff::exponential(MS).with_max(Duration::from_secs(30));
        assert_eq!(capped.delay(u32::MAX), Duration::from_secs(30));
        let jit = Backoff::linear(huge).with_jitter();
        assert!(jit.jittered_delay(u32::MAX, u64::MAX) <= Duration::MAX);
        assert_eq!(jit.jittered_delay(u32::MAX, 0), Duration::ZERO);
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_spreads() {
        let b = Backoff::constant(Duration::from_secs(1)).with_jitter();
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        let mut state = 42;
        for _ in 0..10_000 {
            state = splitmix64(state);
            let d = b.jittered_delay(1, state);
            assert!(d <= Duration::from_secs(1));
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo < MS * 10, "jitter should reach near zero, got {lo:?}");
        assert!(hi > MS * 990, "jitter should reach near the cap, got {hi:?}");
    }

    #[test]
    fn jitter_is_ignored_unless_enabled() {
        assert_eq!(Backoff::constant(MS * 7).jittered_delay(1, 0), MS * 7);
    }
}
