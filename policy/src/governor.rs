//! The governor between a policy and its worker: it rate-limits setting changes and ignores changes too
//! small to matter, so that noise in the observations does not become noise in the settings.
//!
//! Rules, in order:
//! 1. A proposal equal to the current settings changes nothing and is not admitted.
//! 2. The first proposal that differs is always admitted (a cold start must be left quickly).
//! 3. An *urgent* proposal is admitted at any time: one that at least doubles the interval or `max_rows`.
//!    Policies only jump that far when a worker is falling behind, and waiting out the gap would let the
//!    backlog grow for nothing; shortening is never urgent, since a longer interval is always safe.
//! 4. Otherwise a proposal within `min_gap` of the last admitted change is refused.
//! 5. Otherwise it is refused when the relative change of the interval and of `max_rows` are both below
//!    `hysteresis` (and `max_bytes` is the only other difference, or none).

use crate::types::Settings;
use std::time::Duration;

/// Rate limit and hysteresis between a policy and the worker, so that settings do not oscillate.
#[derive(Debug, Clone)]
pub struct Governor {
    min_gap: Duration,
    hysteresis: f64,
    last_change: Option<Duration>,
}

/// A proposal at least this many times the current interval or `max_rows` is urgent (rule 3).
const URGENT_FACTOR: f64 = 2.0;

impl Governor {
    /// A governor admitting at most one ordinary change per `min_gap`, and only changes of at least
    /// `hysteresis` (a fraction: 0.1 is 10 %) in the interval or `max_rows`. A NaN or negative hysteresis is
    /// read as 0.
    pub fn new(min_gap: Duration, hysteresis: f64) -> Self {
        let hysteresis = if hysteresis.is_nan() {
            0.0
        } else {
            hysteresis.max(0.0)
        };
        Governor {
            min_gap,
            hysteresis,
            last_change: None,
        }
    }

    /// Whether `proposed` should replace `current` at time `at` (see the module doc for the rules). An
    /// admitted change restarts the gap.
    pub fn admit(&mut self, at: Duration, current: &Settings, proposed: &Settings) -> bool {
        if proposed == current {
            return false;
        }
        let interval = relative(
            current.interval.as_secs_f64(),
            proposed.interval.as_secs_f64(),
        );
        let rows = relative(current.max_rows as f64, proposed.max_rows as f64);
        let urgent = interval.grow >= URGENT_FACTOR || rows.grow >= URGENT_FACTOR;
        let admit = match self.last_change {
            None => true,
            Some(_) if urgent => true,
            Some(last) if at.saturating_sub(last) < self.min_gap => false,
            Some(_) => interval.change >= self.hysteresis || rows.change >= self.hysteresis,
        };
        if admit {
            self.last_change = Some(at);
        }
        admit
    }

    /// Forgets the last admitted change, as a new governor would: the next proposal that differs is admitted
    /// at once (rule 2). For a fresh start, when what the governor compared against no longer applies.
    pub fn restart(&mut self) {
        self.last_change = None;
    }

    /// When the last change was admitted, if any.
    pub fn last_change(&self) -> Option<Duration> {
        self.last_change
    }
}

struct Relative {
    /// |new − old| / old.
    change: f64,
    /// new / old.
    grow: f64,
}

fn relative(old: f64, new: f64) -> Relative {
    if old <= 0.0 {
        let moved = if new > 0.0 { f64::INFINITY } else { 0.0 };
        return Relative {
            change: moved,
            grow: moved,
        };
    }
    Relative {
        change: (new - old).abs() / old,
        grow: new / old,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(interval_ms: u64, max_rows: u64) -> Settings {
        Settings {
            interval: Duration::from_millis(interval_ms),
            max_rows,
            max_bytes: 1 << 20,
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn first_change_is_admitted_even_if_small() {
        let mut g = Governor::new(Duration::from_secs(1), 0.1);
        assert!(!g.admit(at(0), &s(100, 1000), &s(100, 1000)), "no change");
        assert!(g.admit(at(0), &s(100, 1000), &s(101, 1000)));
    }

    #[test]
    fn gap_and_hysteresis() {
        let mut g = Governor::new(Duration::from_secs(1), 0.1);
        assert!(g.admit(at(0), &s(100, 1000), &s(150, 1000)));
        assert!(
            !g.admit(at(500), &s(150, 1000), &s(100, 1000)),
            "within the gap"
        );
        assert!(
            !g.admit(at(1500), &s(150, 1000), &s(140, 1050)),
            "below the hysteresis"
        );
        assert!(
            g.admit(at(1500), &s(150, 1000), &s(150, 1200)),
            "max_rows moved 20 %"
        );
        assert_eq!(g.last_change(), Some(at(1500)));
    }

    #[test]
    fn doubling_is_urgent_shortening_is_not() {
        let mut g = Governor::new(Duration::from_secs(1), 0.1);
        assert!(g.admit(at(0), &s(100, 1000), &s(50, 1000)));
        assert!(
            g.admit(at(10), &s(50, 1000), &s(100, 1000)),
            "doubling the interval"
        );
        assert!(g.admit(at(20), &s(100, 1000), &s(100, 5000)), "max_rows ×5");
        assert!(
            !g.admit(at(30), &s(100, 5000), &s(10, 5000)),
            "shortening waits"
        );
    }

    #[test]
    fn a_restart_admits_the_next_change() {
        let mut g = Governor::new(Duration::from_secs(1), 0.1);
        assert!(g.admit(at(0), &s(100, 1000), &s(150, 1000)));
        assert!(!g.admit(at(10), &s(150, 1000), &s(100, 1000)));
        g.restart();
        assert_eq!(g.last_change(), None);
        assert!(g.admit(at(20), &s(150, 1000), &s(149, 1000)));
    }

    #[test]
    fn odd_hysteresis_is_tolerated() {
        let mut g = Governor::new(Duration::ZERO, f64::NAN);
        assert!(g.admit(at(0), &s(100, 1000), &s(101, 1000)));
        assert!(g.admit(at(1), &s(101, 1000), &s(102, 1000)));
    }
}
