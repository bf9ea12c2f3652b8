//! One worker's arrivals: a cumulative count over time, Poisson-like in 10 ms slots, so that the simulator
//! can ask how many rows arrived by time t, and when the n-th row arrived, without simulating events.

use super::Phase;

/// Arrival counts are drawn per slot of this many seconds.
pub(crate) const SLOT: f64 = 0.01;

/// The cumulative arrivals of one worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrivals {
    /// `cum[i]` = rows arrived before slot i; one more entry than slots.
    cum: Vec<f64>,
}

impl Arrivals {
    /// Draws the arrivals of one worker of `workers` for the whole `profile`: each slot gets its expected
    /// count plus a normal deviate with the Poisson variance (the count is never negative).
    pub(crate) fn generate(&mut self, profile: &[Phase], workers: usize, rng: &mut fastrand::Rng) {
        self.cum.clear();
        self.cum.push(0.0);
        let share = 1.0 / workers.max(1) as f64;
        let mut total = 0.0;
        let mut start = 0.0;
        for phase in profile {
            let len = phase.duration.as_secs_f64();
            let slots = (len / SLOT).round() as usize;
            for i in 0..slots {
                let t = (i as f64 + 0.5) * SLOT;
                let expected = phase.rate_at(t) * share * SLOT;
                let count = (expected + expected.sqrt() * super::normal(rng)).max(0.0);
                total += count;
                self.cum.push(total);
            }
            start += len;
        }
        debug_assert!(start >= 0.0);
    }

    /// The end of the arrivals (seconds).
    pub(crate) fn end(&self) -> f64 {
        (self.cum.len() - 1) as f64 * SLOT
    }

    /// Rows arrived by time `t`.
    pub(crate) fn count(&self, t: f64) -> f64 {
        let slots = self.cum.len() - 1;
        if t <= 0.0 {
            return 0.0;
        }
        let pos = t / SLOT;
        let i = pos as usize;
        if i >= slots {
            return self.cum[slots];
        }
        self.cum[i] + (self.cum[i + 1] - self.cum[i]) * (pos - i as f64)
    }

    /// When the `n`-th row arrived (the first time `count` reaches `n`), or `None` if it never does.
    pub(crate) fn time_of(&self, n: f64) -> Option<f64> {
        let slots = self.cum.len() - 1;
        if n <= 0.0 {
            return Some(0.0);
        }
        if n > self.cum[slots] {
            return None;
        }
        // First slot boundary with cum >= n; the row arrived inside the slot before it.
        let j = self.cum.partition_point(|c| *c < n).max(1);
        let (lo, hi) = (self.cum[j - 1], self.cum[j]);
        let within = if hi > lo { (n - lo) / (hi - lo) } else { 1.0 };
        Some(((j - 1) as f64 + within) * SLOT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn count_and_time_of_agree() {
        let profile = [Phase::new("p", 1000.0, Duration::from_secs(10))];
        let mut a = Arrivals::default();
        a.generate(&profile, 2, &mut fastrand::Rng::with_seed(1));
        assert!((a.end() - 10.0).abs() < 1e-9);
        let total = a.count(10.0);
        assert!((total - 5000.0).abs() < 300.0, "{total}");
        for n in [1.0, 10.0, 2500.0, total] {
            let t = a.time_of(n).expect("arrived");
            assert!((a.count(t) - n).abs() < 1e-6, "{n} at {t}");
        }
        assert_eq!(a.time_of(total + 1.0), None);
    }
}
