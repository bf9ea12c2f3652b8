//! The `model` policy: an online cost model of each worker, solved for the shortest interval that keeps up.
//!
//! A batch of n rows takes p ≈ a + b·n to process: a fixed cost a (transaction, offset commit, report) and a
//! cost b per row. Both are fitted per worker by recursive least squares with forgetting ([`crate::Rls`]),
//! so the model follows a database that slows down. Rows arrive at λ per second, estimated from the change
//! in lag between batches (exact even when a batch was filled from a backlog) and smoothed.
//!
//! An interval x collects λ·x rows, processed in a + b·λ·x while the next batch collects; the worker keeps
//! up when that is below x, i.e. x > x₀ = a / (1 − b·λ). The end-to-end latency of a batch is about
//! x + p(x), which grows with x, so the best interval is just above x₀, with room for noise. We choose
//! x = `headroom` · x₀, the smallest x with a + b·λ·x ≤ ρ·x for ρ = 1 − (1 − b·λ)·(1 − 1/headroom): the
//! utilisation allowed rises with the load, because a fixed ρ (say 0.8) has no solution at all once
//! b·λ ≥ ρ, and a busy worker at 90 % load would be sent to the longest interval for nothing.
//!
//! The interval is held while it stays within `headroom` × x₀ ×/÷ 1.25, so that noise in λ (x₀ moves 9 % for
//! a 1 % error in λ at 90 % load) does not become a change every second.
//!
//! A backlog is drained two ways. pacer's worker takes everything waiting in the log into its next batch, up
//! to `max_rows` (one fixed cost for the lot), so `max_rows` leaves room for the whole backlog besides the
//! usual headroom. And the backlog counts as extra arrivals to clear within `drain_horizon_ms`, which
//! lengthens the interval while it lasts (a worker whose batches close on a timer, and queue, drains only
//! that way); draining never plans for more than 97 % of the worker. When b·λ ≥ 1 no interval keeps up:
//! the policy doubles the interval per decision toward the one that fills the largest batch the bounds
//! allow (the most rows per fixed cost; doubling, so that one bad fit does not jump there) and says so in
//! `Decision::advice`; above `advice_load` it keeps up
//! but warns that the headroom is gone. Until `warmup_batches` batches are fitted it only shortens the interval to
//! the last processing time × `headroom` (safe: fewer rows process faster still), or doubles it when the
//! writer falls behind.

use crate::Policy;
use crate::bounds::Bounds;
use crate::cost::CostFit;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::{count, fixed, ms};
use crate::signals::{ArrivalRate, backlog, busy_ratio, secs};
use crate::sizing::{adaptive_settings, clamp, needed_rows};
use crate::types::{Decision, Observation, Settings};

declare_params! {
    /// The `model` policy's parameters.
    pub(crate) struct ModelParams {
        /// The interval chosen, as a multiple of the shortest interval that keeps up, a / (1 − b·λ).
        headroom: 1.3 in 1.0..=10.0,
        /// Forgetting factor of the cost fit per batch (1 = never forget).
        forgetting: 0.995 in 0.5..=1.0,
        /// Weight of the newest batch in the smoothed arrival rate.
        rate_smoothing: 0.1 in 0.01..=1.0,
        /// A backlog is planned to be cleared within this many milliseconds (it counts as extra arrivals).
        drain_horizon_ms: 10_000.0 in 100.0..=3_600_000.0,
        /// Batches fitted before the model is trusted; until then the interval only shortens to processing ×
        /// headroom, or doubles when behind.
        warmup_batches: 5.0 in 2.0..=10_000.0,
        /// Load b·λ from which the decision advises more workers or partitions.
        advice_load: 0.95 in 0.1..=1.0,
    }
}

/// The interval is held while within headroom × x₀ ×/÷ this factor.
const BAND: f64 = 1.25;

/// The largest factor the interval grows by in one decision.
const MAX_GROWTH: f64 = 2.0;

/// The most of a worker's capacity that draining a backlog may plan for.
const DRAIN_LOAD: f64 = 0.97;

/// The load assumed when the fit says b·λ ≥ 1 but the last batch kept up.
const OVERLOAD_DOUBT: f64 = 0.99;

/// The `model` policy.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    bounds: Bounds,
    headroom: f64,
    rate_smoothing: f64,
    drain_horizon: f64,
    warmup: u64,
    advice_load: f64,
    rate: ArrivalRate,
    fit: CostFit,
}

impl Model {
    pub(crate) fn new(bounds: &Bounds, params: &ModelParams) -> Self {
        Model {
            bounds: *bounds,
            headroom: params.headroom,
            rate_smoothing: params.rate_smoothing,
            drain_horizon: params.drain_horizon_ms / 1000.0,
            // Validated to 2..=10 000, so the cast is exact.
            warmup: params.warmup_batches.round() as u64,
            advice_load: params.advice_load,
            rate: ArrivalRate::default(),
            fit: CostFit::new(params.forgetting),
        }
    }
}

impl Policy for Model {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Model
    }

    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision {
        let rate = self.rate.update(obs, self.rate_smoothing);
        self.fit.add(obs);
        let now = secs(current.interval);
        if self.fit.samples() < self.warmup {
            let busy = busy_ratio(obs, rate);
            let p = secs(obs.processing);
            let (next, why) = if busy >= 1.0 {
                (
                    now * 2.0,
                    format!("processing {} ≥ the rows' arrival time: doubling", ms(p)),
                )
            } else if p * self.headroom < now {
                // A shorter interval has fewer rows and so processes faster still: p × headroom is safe.
                (
                    p * self.headroom,
                    format!(
                        "processing {} × headroom {}, a safe upper bound",
                        ms(p),
                        self.headroom
                    ),
                )
            } else {
                (
                    now,
                    format!("processing {} leaves no room to shorten", ms(p)),
                )
            };
            let rows = (current.max_rows as f64).max(needed_rows(next, obs, rate));
            let settings = clamp(&self.bounds, next, rows, obs);
            let reason = format!(
                "model warming up ({} of {} batches fitted): {why}: interval {} → {}",
                self.fit.samples(),
                self.warmup,
                ms(now),
                ms(secs(settings.interval))
            );
            return Decision {
                settings,
                reason,
                advice: None,
            };
        }
        let (a, b) = self.fit.cost();
        let waiting = backlog(obs, rate);
        let load = b * rate;
        let busy = busy_ratio(obs, rate);
        // A fit that says "overloaded" while the batch was processed faster than it was collected is noise.
        let load = if load >= 1.0 && busy < 1.0 {
            OVERLOAD_DOUBT.min(load)
        } else {
            load
        };
        // The backlog, as extra arrivals to clear within the horizon; draining never plans for more than
        // DRAIN_LOAD of the worker (or its load, if higher), so that it cannot by itself ask for the longest
        // interval.
        let drain = b * waiting / self.drain_horizon;
        let planned = (load + drain).min(DRAIN_LOAD.max(load));
        let fitted = format!("p ≈ {} + {} µs/row", ms(a), fixed(b * 1e6, 1));
        let arrivals = format!(
            "arrivals {} rows/s, backlog {}",
            count(rate),
            count(waiting)
        );
        let (next, rule, advice) = if load >= 1.0 {
            let largest = self.bounds.max_rows as f64 / rate.max(1e-9);
            let next = if now >= largest {
                largest
            } else {
                (2.0 * now).min(largest)
            };
            let rule = format!(
                "no interval keeps up (load b·λ {} ≥ 1): doubling toward the largest batch, {}",
                fixed(load, 2),
                ms(largest)
            );
            let advice = format!(
                "add workers or partitions: each row costs {} µs, so one worker processes at most {} rows/s \
                 and {} rows/s arrive",
                fixed(b * 1e6, 1),
                count(1.0 / b),
                count(rate)
            );
            (next, rule, Some(advice))
        } else {
            let shortest = a / (1.0 - planned);
            let (lo, hi) = (
                shortest * self.headroom / BAND,
                shortest * self.headroom * BAND,
            );
            let load_shown = if planned - load >= 0.005 {
                format!(
                    "load b·λ {} + draining {}",
                    fixed(load, 2),
                    fixed(planned - load, 2)
                )
            } else {
                format!("load b·λ {}", fixed(load, 2))
            };
            let (next, rule) = if (lo..=hi).contains(&now) {
                let rule = format!(
                    "{load_shown}: shortest interval a/(1−load) = {}, {} is within headroom {} ×/÷ {BAND}: hold",
                    ms(shortest),
                    ms(now),
                    self.headroom,
                );
                (now, rule)
            } else {
                let rule = format!(
                    "{load_shown}: shortest interval a/(1−load) = {} × headroom {}",
                    ms(shortest),
                    self.headroom
                );
                (shortest * self.headroom, rule)
            };
            let advice = (load >= self.advice_load).then(|| {
                format!(
                    "add workers or partitions: the worker runs at {} % of what it can process, no room for bursts",
                    fixed(100.0 * load, 0)
                )
            });
            (next, rule, advice)
        };
        // Grow at most ×2 a decision: near load 1 the formula is steep and the fit uncertain (tiny batches
        // pin a, not b). Doublings are urgent for the governor, so this costs a batch per step, not a second.
        let next = next.min(MAX_GROWTH * now.max(self.bounds.min_interval.as_secs_f64()));
        // Room for bursts, and for the whole backlog in the next batch: the worker takes it at once, and
        // one large batch pays the fixed cost once.
        let settings = adaptive_settings(&self.bounds, next, current, obs, rate);
        let reason = format!(
            "model: {fitted}, {arrivals}; {rule}: interval {} → {}, max_rows {}",
            ms(now),
            ms(secs(settings.interval)),
            settings.max_rows
        );
        Decision {
            settings,
            reason,
            advice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{obs, params};
    use std::time::Duration;

    /// Feeds `n` noiseless batches of a worker with cost 8 ms + 20 µs/row at `rate` rows/s, varying the
    /// interval so the fit sees different batch sizes; returns the last decision.
    fn feed(policy: &mut Model, rate: f64, n: u32) -> Decision {
        // Batches close every x; each ends p after it closed (no queueing), so that lag = λ·p.
        let mut closed = 0.0;
        let mut last = None;
        for i in 0..n {
            let x = [0.05, 0.1, 0.2][i as usize % 3];
            let rows = rate * x;
            let p = 0.008 + 20e-6 * rows;
            closed += x;
            let mut o = obs(0, 0, rows as u64, 0, (rate * p) as u64);
            o.at = Duration::from_secs_f64(closed + p);
            o.settings.interval = Duration::from_secs_f64(x);
            o.collect = o.settings.interval;
            o.processing = Duration::from_secs_f64(p);
            last = Some(policy.decide(o.settings, &o));
        }
        last.expect("n > 0")
    }

    fn policy() -> Model {
        Model::new(&Bounds::default(), &params(&[]))
    }

    #[test]
    fn cold_start_shortens_safely() {
        let mut p = policy();
        let d = p.decide(Bounds::default().cold_start, &obs(500, 500, 500, 18, 18));
        assert_eq!(d.settings.interval, Duration::from_micros(23_400));
        assert!(
            d.reason.starts_with("model warming up (1 of 5"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn picks_headroom_times_the_shortest_stable_interval() {
        let mut p = policy();
        let d = feed(&mut p, 45_000.0, 30);
        // x₀ = 8 ms / (1 − 0.9) = 80 ms; × 1.3 = 104 ms.
        let x = d.settings.interval.as_secs_f64();
        assert!((x - 0.104).abs() < 0.002, "{x}: {}", d.reason);
        assert!(
            d.reason.contains("p ≈ 8.0 ms + 20.0 µs/row"),
            "{}",
            d.reason
        );
        assert!(d.advice.is_none());
        assert!(d.settings.max_rows >= 4 * 4680, "{}", d.settings.max_rows);
    }

    #[test]
    fn overload_goes_to_the_largest_batch_and_advises() {
        let mut p = policy();
        let d = feed(&mut p, 60_000.0, 30);
        assert!(
            d.advice
                .as_deref()
                .is_some_and(|a| a.starts_with("add workers or partitions")),
            "{d:?}"
        );
        assert_eq!(d.settings.max_rows, Bounds::default().max_rows);
    }
}
