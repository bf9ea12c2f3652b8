//! Capped exponential back-off with equal jitter, and the one retry loop built on it ([`Retry`]), for every
//! retry and reconnect loop of pacer (worker, control plane, console).
#![forbid(unsafe_code)]

mod retry;

pub use retry::{Attempt, Outcome, Retry};
use std::time::Duration;

/// Delays that double from `base` up to `cap`, with equal jitter: each delay is drawn uniformly from
/// `[delay/2, delay]`, so that many clients retrying together spread out while none retries much sooner
/// than the step it is at (full jitter would draw from `[0, delay]`).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    current: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A back-off starting at `base` and never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            current: base,
            rng: fastrand::Rng::new(),
        }
    }

    /// The same, with a fixed seed (for tests).
    pub fn with_seed(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            ..Self::new(base, cap)
        }
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.current;
        // Grow for next time, but never past the cap (min, not max: the cap is the upper bound).
        self.current = self.current.saturating_mul(2).min(self.cap);
        let low = ceiling / 2;
        let span = (ceiling - low).as_micros() as u64;
        low + Duration::from_micros(self.rng.u64(0..=span))
    }

    /// Starts again from `base` after a success.
    pub fn reset(&mut self) {
        self.current = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_resets() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::with_seed(base, cap, 7);
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= base / 2 && delays[0] <= base);
        assert!(delays.iter().all(|d| *d <= cap), "{delays:?}");
        assert!(delays[9] >= cap / 2, "{delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut a = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(1), 1);
        let mut b = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(1), 2);
        assert_ne!(a.next_delay(), b.next_delay());
    }
}
