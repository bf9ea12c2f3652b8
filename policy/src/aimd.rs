//! The `aimd` policy: additive decrease, multiplicative increase of the interval, in the spirit of Vector's
//! adaptive request concurrency (which adds one request while responses are fast and halves on trouble).
//!
//! The direction is flipped relative to concurrency because here the safe side is a *long* interval: a
//! longer interval amortises a batch's fixed cost over more rows, so it always keeps up better, at the price
//! of latency. So while the worker is **stable** — processing ≤ `rho` × the time the batch's rows took to
//! arrive (the interval, unless the batch was filled from a backlog) and no backlog above
//! `lag_high_rows` — the interval shrinks by `decrease_ms` per batch (latency improves slowly, probing for
//! the edge); when it is **unstable** the interval is multiplied by `backoff` (it retreats fast). After an
//! increase the policy waits until a batch has run under it before judging again, as ARC waits for a
//! response under the new limit; otherwise a slow governor would let it compound one increase per batch.
//!
//! The policy keeps its own target between decisions so that small per-batch steps add up even while the
//! governor refuses each of them as too small; an override far from the target resets it.

use crate::Policy;
use crate::bounds::Bounds;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::{count, fixed, interval_decision, ms};
use crate::signals::{ArrivalRate, backlog, busy_ratio, secs};
use crate::sizing::adaptive_settings;
use crate::types::{Decision, Observation, Settings};

declare_params! {
    /// The `aimd` policy's parameters.
    pub(crate) struct AimdParams {
        /// Processing time over the time the batch's rows took to arrive, up to which a batch is stable.
        rho: 1.0 in 0.05..=2.0,
        /// How much the interval shrinks after each stable batch, in milliseconds (additive decrease).
        decrease_ms: 10.0 in 0.001..=10_000.0,
        /// What the interval is multiplied by after an unstable batch (multiplicative increase).
        backoff: 1.5 in 1.01..=10.0,
        /// Backlog (rows waiting beyond those that arrived during processing) above which a batch is
        /// unstable.
        lag_high_rows: 10_000.0 in 0.0..=1e12,
    }
}

/// Smoothing of the arrival-rate estimate used to size `max_rows`.
const RATE_SMOOTHING: f64 = 0.3;

/// How far below the target a batch may have run and still count as run under it (seconds): a worker runs
/// the target rounded to whole milliseconds, as the wire carries it ([`Settings::on_the_wire`]). Without
/// this, a target rounded down (11.25 ms runs as 11 ms) would never be reached, and the policy would wait
/// for ever instead of backing off again.
const WIRE_ROUNDING: f64 = 0.000_5;

/// The `aimd` policy.
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    bounds: Bounds,
    rho: f64,
    decrease: f64,
    backoff: f64,
    lag_high_rows: f64,
    rate: ArrivalRate,
    /// The interval (seconds) the policy is steering to, which the governor may not have admitted yet.
    target: Option<f64>,
}

impl Aimd {
    pub(crate) fn new(bounds: &Bounds, params: &AimdParams) -> Self {
        Aimd {
            bounds: *bounds,
            rho: params.rho,
            decrease: params.decrease_ms / 1000.0,
            backoff: params.backoff,
            lag_high_rows: params.lag_high_rows,
            rate: ArrivalRate::default(),
            target: None,
        }
    }
}

impl Policy for Aimd {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Aimd
    }

    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision {
        let rate = self.rate.update(obs, RATE_SMOOTHING);
        let busy = busy_ratio(obs, rate);
        let waiting = backlog(obs, rate);
        let now = secs(current.interval);
        let base = match self.target {
            // An override (or a clamp) moved the interval far from where we steer: start from it.
            Some(target) if now / target > 0.5 && now / target < 2.0 => target,
            _ => now,
        };
        let ran_under = secs(obs.settings.interval);
        let shown = format!(
            "processing {} = {}× the rows' arrival time (interval {})",
            ms(secs(obs.processing)),
            fixed(busy, 2),
            ms(ran_under)
        );
        let (next, why) = if busy <= self.rho && waiting <= self.lag_high_rows {
            (
                base - self.decrease,
                format!(
                    "stable: {shown} ≤ ρ {}: additive decrease {}",
                    self.rho,
                    ms(self.decrease)
                ),
            )
        } else if ran_under >= base * 0.999 - WIRE_ROUNDING {
            let signal = if busy > self.rho {
                format!("{shown} > ρ {}", self.rho)
            } else {
                format!(
                    "backlog {} rows > lag_high_rows {}",
                    count(waiting),
                    count(self.lag_high_rows)
                )
            };
            (
                base * self.backoff,
                format!("unstable: {signal}: back off ×{}", self.backoff),
            )
        } else {
            (
                base,
                format!(
                    "unstable: {shown}, but the batch ran under {} before the last increase: wait",
                    ms(ran_under)
                ),
            )
        };
        let settings = adaptive_settings(&self.bounds, next, current, obs, rate);
        self.target = Some(secs(settings.interval));
        interval_decision(&why, now, settings, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{obs, params};
    use std::time::Duration;

    fn policy() -> Aimd {
        Aimd::new(
            &Bounds::default(),
            &params(&[("decrease_ms", 0.5), ("rho", 0.9)]),
        )
    }

    fn current(interval_ms: u64) -> Settings {
        Settings {
            interval: Duration::from_millis(interval_ms),
            max_rows: 10_000,
            max_bytes: 1 << 24,
        }
    }

    #[test]
    fn stable_steps_add_up_while_refused() {
        let mut p = policy();
        for i in 0..10 {
            p.decide(current(100), &obs(100 * i, 100, 1000, 30, 300));
        }
        let d = p.decide(current(100), &obs(1000, 100, 1000, 30, 300));
        assert_eq!(d.settings.interval, Duration::from_micros(94_500));
        assert!(
            d.reason.starts_with(
                "stable: processing 30 ms = 0.30× the rows' arrival time (interval 100 ms) ≤ ρ 0.9"
            ),
            "{}",
            d.reason
        );
    }

    #[test]
    fn unstable_backs_off_once_per_applied_setting() {
        let mut p = policy();
        let d = p.decide(current(100), &obs(0, 100, 4500, 98, 4500));
        assert_eq!(d.settings.interval, Duration::from_millis(150));
        // The next batch still ran under 100 ms: wait for the increase to show.
        let d = p.decide(current(100), &obs(100, 100, 4500, 99, 4600));
        assert_eq!(d.settings.interval, Duration::from_millis(150));
        assert!(d.reason.contains("wait"), "{}", d.reason);
        let d = p.decide(current(150), &obs(250, 150, 6750, 150, 6700));
        assert_eq!(d.settings.interval, Duration::from_millis(225));
    }

    #[test]
    fn a_target_rounded_down_on_the_wire_counts_as_reached() {
        let mut p = Aimd::new(&Bounds::default(), &params(&[("backoff", 1.125)]));
        let d = p.decide(current(10), &obs(0, 10, 4500, 98, 4500));
        assert_eq!(d.settings.interval, Duration::from_micros(11_250));
        // The worker runs 11 ms: the increase has shown, and a still unstable batch backs off again.
        let d = p.decide(current(11), &obs(100, 11, 4500, 99, 4600));
        assert!(d.reason.contains("back off"), "{}", d.reason);
        assert_eq!(d.settings.interval, Duration::from_nanos(12_656_250));
    }

    #[test]
    fn an_override_resets_the_target() {
        let mut p = policy();
        p.decide(current(100), &obs(0, 100, 1000, 30, 300));
        let d = p.decide(current(2000), &obs(100, 100, 1000, 30, 300));
        assert_eq!(d.settings.interval, Duration::from_micros(1_999_500));
    }
}
