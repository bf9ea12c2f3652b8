//! The `rules` policy: threshold rules an operator can read at a glance. The first rule that fires wins:
//!
//! 1. **behind** — processing took at least `busy_ratio` of the time the batch's rows took to arrive
//!    (smoothed over recent batches of the same interval, so that one slow batch does not ratchet the
//!    interval up), or more than `lag_high_rows` rows
//!    waited beyond those that arrived during processing. In micro-batching a worker falls behind when a
//!    batch takes longer to process than to collect, and the cure is a *longer* interval: the fixed cost of
//!    a batch (transaction, commit, report) is then paid for more rows. Interval × `grow_factor`.
//! 2. **latency** — the batch's median end-to-end latency is above `latency_target_ms` while the writer is
//!    not behind: latency is mostly the interval, so shorten it. Interval × `shrink_factor`.
//! 3. **idle** — processing took less than `idle_ratio` of the rows' arrival time with no backlog: the worker waits on
//!    the clock, so shorten the interval to cut latency. Interval × `shrink_factor`.
//! 4. **hold** — otherwise keep the interval.
//!
//! `max_rows` follows the interval: room for several intervals of arrivals at the observed rate.

use crate::Policy;
use crate::bounds::Bounds;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::{count, fixed, interval_decision, ms};
use crate::signals::{ArrivalRate, backlog, busy_ratio, secs};
use crate::sizing::adaptive_settings;
use crate::types::{Decision, Observation, Settings};

declare_params! {
    /// The `rules` policy's parameters.
    pub(crate) struct RulesParams {
        /// Smoothed processing time over the rows' arrival time at or above which the worker is behind and the
        /// interval grows.
        busy_ratio: 1.0 in 0.1..=2.0,
        /// Smoothed processing time over the rows' arrival time below which the worker is idle and the
        /// interval shrinks.
        idle_ratio: 0.6 in 0.01..=1.0,
        /// Backlog (rows waiting beyond those that arrived during processing) above which the worker is
        /// behind.
        lag_high_rows: 10_000.0 in 0.0..=1e12,
        /// Median end-to-end latency above which the interval shrinks (when the worker is not behind).
        latency_target_ms: 2000.0 in 1.0..=3_600_000.0,
        /// What the interval is multiplied by when the worker is behind.
        grow_factor: 1.5 in 1.01..=10.0,
        /// What the interval is multiplied by when the worker is idle or over the latency target.
        shrink_factor: 0.8 in 0.1..=0.99,
    }
    check = RulesParams::consistent;
}

impl RulesParams {
    /// An idle threshold at or above the busy one would let one batch be both idle and behind.
    fn consistent(&self) -> Result<(), String> {
        if self.idle_ratio >= self.busy_ratio {
            return Err(
                "`idle_ratio` must be below `busy_ratio`, or the rules would both grow and shrink"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Smoothing of the arrival-rate estimate used to size `max_rows`.
const RATE_SMOOTHING: f64 = 0.3;
/// Smoothing of processing time over interval. At 90 % load a single batch is above 1 one time in ten or
/// so from noise alone; the average is not.
const BUSY_SMOOTHING: f64 = 0.2;

/// The `rules` policy.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    bounds: Bounds,
    busy_ratio: f64,
    idle_ratio: f64,
    lag_high_rows: f64,
    latency_target: f64,
    grow_factor: f64,
    shrink_factor: f64,
    rate: ArrivalRate,
    /// Smoothed busy ratio and the interval it was observed under.
    busy: Option<(f64, std::time::Duration)>,
}

impl Rules {
    pub(crate) fn new(bounds: &Bounds, params: &RulesParams) -> Self {
        Rules {
            bounds: *bounds,
            busy_ratio: params.busy_ratio,
            idle_ratio: params.idle_ratio,
            lag_high_rows: params.lag_high_rows,
            latency_target: params.latency_target_ms / 1000.0,
            grow_factor: params.grow_factor,
            shrink_factor: params.shrink_factor,
            rate: ArrivalRate::default(),
            busy: None,
        }
    }
}

impl Policy for Rules {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Rules
    }

    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision {
        let rate = self.rate.update(obs, RATE_SMOOTHING);
        // Average only over batches of one interval: after a change the old ratios describe another setting.
        let busy = match self.busy {
            Some((avg, under)) if under == obs.settings.interval => {
                avg + BUSY_SMOOTHING * (busy_ratio(obs, rate) - avg)
            }
            _ => busy_ratio(obs, rate),
        };
        self.busy = Some((busy, obs.settings.interval));
        let waiting = backlog(obs, rate);
        let x = secs(current.interval);
        let p = secs(obs.processing);
        let shown = format!(
            "processing {} under interval {}, smoothed {}× the rows' arrival time",
            ms(p),
            ms(secs(obs.settings.interval)),
            fixed(busy, 2)
        );
        let (next, why) = if busy >= self.busy_ratio {
            (
                x * self.grow_factor,
                format!("rule behind: {shown} ≥ busy_ratio {}", self.busy_ratio),
            )
        } else if waiting > self.lag_high_rows {
            let why = format!(
                "rule behind: backlog {} rows > lag_high_rows {}",
                count(waiting),
                count(self.lag_high_rows)
            );
            (x * self.grow_factor, why)
        } else if let Some(p50) = obs
            .e2e_p50
            .map(secs)
            .filter(|p50| *p50 > self.latency_target)
        {
            let why = format!(
                "rule latency: e2e p50 {} > latency_target {} and {shown}",
                ms(p50),
                ms(self.latency_target)
            );
            (x * self.shrink_factor, why)
        } else if busy < self.idle_ratio {
            (
                x * self.shrink_factor,
                format!(
                    "rule idle: {shown} < idle_ratio {}, no backlog",
                    self.idle_ratio
                ),
            )
        } else {
            (
                x,
                format!(
                    "rule hold: {shown} between idle_ratio {} and busy_ratio {}",
                    self.idle_ratio, self.busy_ratio
                ),
            )
        };
        let settings = adaptive_settings(&self.bounds, next, current, obs, rate);
        interval_decision(&why, x, settings, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{obs, params};
    use std::time::Duration;

    fn policy() -> Rules {
        Rules::new(&Bounds::default(), &params(&[]))
    }

    fn current(interval_ms: u64) -> Settings {
        Settings {
            interval: Duration::from_millis(interval_ms),
            max_rows: 10_000,
            max_bytes: 1 << 24,
        }
    }

    #[test]
    fn behind_grows_the_interval() {
        let d = policy().decide(current(100), &obs(1000, 100, 4500, 120, 4500));
        assert_eq!(d.settings.interval, Duration::from_millis(150));
        let expected = "rule behind: processing 120 ms under interval 100 ms, smoothed 1.20× the rows' arrival time ≥ busy_ratio 1";
        assert!(d.reason.starts_with(expected), "{}", d.reason);
    }

    #[test]
    fn backlog_grows_the_interval() {
        let d = policy().decide(current(100), &obs(1000, 100, 4500, 50, 80_000));
        assert_eq!(d.settings.interval, Duration::from_millis(150));
        assert!(d.reason.contains("backlog"), "{}", d.reason);
    }

    #[test]
    fn idle_shrinks_and_hold_holds() {
        let mut p = policy();
        let d = p.decide(current(500), &obs(1000, 500, 500, 18, 18));
        assert_eq!(d.settings.interval, Duration::from_millis(400));
        assert!(d.reason.starts_with("rule idle"), "{}", d.reason);
        let d = policy().decide(current(100), &obs(1100, 100, 1000, 70, 50));
        assert_eq!(d.settings.interval, Duration::from_millis(100));
        assert!(d.reason.starts_with("rule hold"), "{}", d.reason);
    }

    #[test]
    fn latency_target_shrinks() {
        let mut o = obs(1000, 5000, 5000, 4000, 10);
        o.e2e_p50 = Some(Duration::from_secs(7));
        let d = policy().decide(current(5000), &o);
        assert_eq!(d.settings.interval, Duration::from_secs(4));
        assert!(d.reason.starts_with("rule latency"), "{}", d.reason);
    }
}
