//! The `fixed-point` policy, after Das, Zhong, Stoica and Shenker, "Adaptive Stream Processing using Dynamic
//! Batch Sizing" (SoCC 2014).
//!
//! A micro-batch system is stable when a batch is processed no slower than the next one is collected. Das
//! et al. keep the processing time p(x) of a batch of interval x at a fraction ρ < 1 of x, so that noise has
//! room, by finding the fixed point of x ↦ p(x)/ρ: run with xₙ, observe p(xₙ), try xₙ₊₁ = p(xₙ)/ρ. With
//! p(x) = a + b·λ·x (fixed cost plus rows) the iteration contracts by b·λ/ρ per step and converges to
//! x* = a / (ρ − b·λ), the shortest interval with p ≤ ρ·x. Like the paper we damp the step (`step`, their
//! answer to noisy processing times) and smooth p with an exponential average (`smoothing`).
//!
//! When b·λ ≥ ρ there is no fixed point: each step grows the interval by a factor, and the ceiling of the
//! bounds is where it ends, which is what the worker then needs (amortise the fixed cost as far as allowed).
//! ρ is therefore set high by default: ρ must exceed the worker's load b·λ for a fixed point to exist, and
//! a busy worker runs at 90 % load.

use crate::Policy;
use crate::bounds::Bounds;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::{interval_decision, ms};
use crate::signals::{ArrivalRate, secs};
use crate::sizing::adaptive_settings;
use crate::types::{Decision, Observation, Settings};

declare_params! {
    /// The `fixed-point` policy's parameters.
    pub(crate) struct FixedPointParams {
        /// The processing time to keep, as a fraction of the interval (the fixed point's ρ).
        rho: 0.95 in 0.05..=0.999,
        /// Damping: the share of the way from the interval in force to p/ρ taken per batch.
        step: 0.5 in 0.01..=1.0,
        /// Weight of the newest batch in the smoothed processing time and arrival rate.
        smoothing: 0.3 in 0.01..=1.0,
    }
}

/// The `fixed-point` policy.
#[derive(Debug, Clone)]
pub(crate) struct FixedPoint {
    bounds: Bounds,
    rho: f64,
    step: f64,
    smoothing: f64,
    rate: ArrivalRate,
    /// Smoothed processing time (seconds) and the interval it was observed under.
    processing: Option<(f64, f64)>,
}

impl FixedPoint {
    pub(crate) fn new(bounds: &Bounds, params: &FixedPointParams) -> Self {
        FixedPoint {
            bounds: *bounds,
            rho: params.rho,
            step: params.step,
            smoothing: params.smoothing,
            rate: ArrivalRate::default(),
            processing: None,
        }
    }
}

impl Policy for FixedPoint {
    fn kind(&self) -> PolicyKind {
        PolicyKind::FixedPoint
    }

    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision {
        let rate = self.rate.update(obs, self.smoothing);
        let ran_under = secs(obs.settings.interval);
        let p = secs(obs.processing);
        // Smooth only over batches of the same interval: after a change the old times describe another x.
        let smoothed = match self.processing {
            Some((avg, under)) if (under - ran_under).abs() <= 1e-9 * under.max(1e-9) => {
                avg + self.smoothing * (p - avg)
            }
            _ => p,
        };
        self.processing = Some((smoothed, ran_under));
        let now = secs(current.interval);
        // The iteration runs on the interval the batch ran under: p is a function of that x, not of a target.
        let wanted = smoothed / self.rho;
        let next = ran_under + self.step * (wanted - ran_under);
        let settings = adaptive_settings(&self.bounds, next, current, obs, rate);
        let why = format!(
            "fixed point: processing {} (smoothed) under interval {}, p/ρ {} = {}; step {} of the way",
            ms(smoothed),
            ms(ran_under),
            self.rho,
            ms(wanted),
            self.step,
        );
        interval_decision(&why, now, settings, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{obs, params};
    use std::time::Duration;

    #[test]
    fn converges_to_a_over_rho_minus_load() {
        // a = 8 ms, b = 20 µs/row, λ = 15 000 rows/s: x* = 8 / (0.95 − 0.3) ≈ 12.3 ms.
        let mut p = FixedPoint::new(&Bounds::default(), &params(&[]));
        let mut x = 0.5;
        // Batches close every x; each ends p after it closed (no queueing), so that lag = λ·p.
        let mut closed = 0.0;
        for _ in 0..200 {
            let rows = 15_000.0 * x;
            let processing = 0.008 + 20e-6 * rows;
            closed += x;
            let mut o = obs(0, 0, rows as u64, 0, (15_000.0 * processing) as u64);
            o.at = Duration::from_secs_f64(closed + processing);
            o.settings.interval = Duration::from_secs_f64(x);
            o.collect = o.settings.interval;
            o.processing = Duration::from_secs_f64(processing);
            let d = p.decide(o.settings, &o);
            x = d.settings.interval.as_secs_f64();
        }
        let expected = 0.008 / (0.95 - 0.3);
        assert!((x - expected).abs() < 0.02 * expected, "{x} vs {expected}");
    }
}
