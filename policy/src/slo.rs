//! The `slo` policy: the longest interval that keeps a freshness target, so that PostgreSQL sees the
//! fewest commits.
//!
//! The operator names a target for the 99th percentile of receipt → commit: from ingest's receipt of an
//! event to the commit of its row. An event waits for three things: the floor F outside the batch (the
//! broker's acknowledgement, the worker's fetch, the wait for the writer), the rest of its batch's
//! collection (up to the interval x), and the batch's processing p ≈ a + b·λ·x (the cost fit `model`
//! uses, [`CostFit`]). The oldest event of a batch waits all of x, so a batch's p99 is about
//! F + x + a + b·λ·x, and the longest interval within the plan τ = target × (1 − margin) is
//!
//!   x = (τ − F − a) / (1 + b·λ).
//!
//! Each batch costs a commit, so the longer the interval the cheaper the pipeline: `slo` runs as long as the
//! target allows, where `model` runs as short as the writer keeps up with.
//!
//! F is what the batches' own p99 shows beyond collection and processing, the largest over the last
//! `floor_window` batches. The floor outside the batch is noisy (the broker answers fetches in rounds), and
//! a floor that fell after each quick batch let the interval grow back into the next slow one: the p99 then
//! missed the target by a few per cent in every phase. The window's largest rises at once with a batch that
//! waited longer and falls only when that batch has left the window. A batch that missed the target halves
//! the interval at once, whatever the fit says; a slower writer (larger a or b) shortens it through the
//! formula.
//!
//! The interval must also keep up: at least `headroom` × a / (1 − b·λ), as in `model`. When the longest
//! interval within the target is shorter than that, no interval meets the target. The policy then runs the
//! shortest stable interval (the freshest it can do), or, when b·λ ≥ 1, doubles toward the largest batch;
//! its advice says how many workers sharing this one's partitions would meet the target (each taking an
//! equal share of the arrivals, with this one's measured cost), or that none would, when the floor and the
//! fixed cost alone exceed the plan.

use crate::Policy;
use crate::bounds::Bounds;
use crate::cost::CostFit;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::{count, fixed, ms};
use crate::signals::{ArrivalRate, WindowMax, secs};
use crate::sizing::adaptive_settings;
use crate::types::{Decision, Observation, Settings};

declare_params! {
    /// The `slo` policy's parameters.
    pub(crate) struct SloParams {
        /// The freshness target: the 99th percentile of receipt → commit, in milliseconds.
        target_ms: 250.0 in 1.0..=3_600_000.0,
        /// The share of the target held back for noise: batches are planned to commit within
        /// target_ms × (1 − margin).
        margin: 0.2 in 0.0..=0.9,
        /// The interval never goes below this multiple of the shortest interval that keeps up, a / (1 − b·λ).
        headroom: 1.3 in 1.0..=10.0,
        /// Forgetting factor of the cost fit per batch (1 = never forget).
        forgetting: 0.995 in 0.5..=1.0,
        /// Weight of the newest batch in the smoothed arrival rate.
        rate_smoothing: 0.1 in 0.01..=1.0,
        /// Batches over which the floor is the largest one seen: a floor that waited longer is taken at once
        /// and is forgotten only this many batches later.
        floor_window: 100.0 in 1.0..=100_000.0,
        /// Batches fitted before the cost fit is trusted; until then the whole last processing time counts
        /// as fixed cost.
        warmup_batches: 5.0 in 2.0..=10_000.0,
    }
}

/// The name of the parameter that holds the target, which `--slo` and the console set.
pub const TARGET_PARAM: &str = "target_ms";

/// The interval is held while it lies within the longest one ÷ this factor and that one × [`OVER`].
const BAND: f64 = 1.25;

/// How far above the longest interval the current one may be and still be held: the margin covers it.
const OVER: f64 = 1.05;

/// The largest factor the interval grows by in one decision.
const MAX_GROWTH: f64 = 2.0;

/// The most workers the advice considers.
const MAX_WORKERS: u32 = 4096;

/// The `slo` policy.
#[derive(Debug, Clone)]
pub(crate) struct Slo {
    bounds: Bounds,
    target: f64,
    margin: f64,
    headroom: f64,
    rate_smoothing: f64,
    warmup: u64,
    rate: ArrivalRate,
    fit: CostFit,
    /// Seconds the batches' p99 spends outside collection and processing: the largest of the window's.
    floor: WindowMax,
    /// The same, negated: its largest is the window's smallest floor. Part of what a batch shows as floor is
    /// its wait for the writer and for the backlog, which more workers would shorten; the advice counts
    /// workers against the smallest floor, the part they cannot.
    low_floor: WindowMax,
}

/// The longest interval that meets the plan, and the shortest that keeps up, at load `load` = b·λ.
#[derive(Debug, Clone, Copy)]
struct Limits {
    longest: f64,
    shortest: f64,
}

impl Limits {
    /// `room` is the plan less the floor and the fixed cost: what collection and the rows' cost may take.
    fn at(room: f64, a: f64, load: f64, headroom: f64) -> Self {
        Limits {
            longest: room / (1.0 + load),
            shortest: if load < 1.0 {
                headroom * a / (1.0 - load)
            } else {
                f64::INFINITY
            },
        }
    }

    fn feasible(&self) -> bool {
        self.longest > 0.0 && self.longest >= self.shortest
    }
}

impl Slo {
    pub(crate) fn new(bounds: &Bounds, params: &SloParams) -> Self {
        // Validated to 1..=100 000, so the cast is exact.
        let window = params.floor_window.round() as u64;
        Slo {
            bounds: *bounds,
            target: params.target_ms / 1000.0,
            margin: params.margin,
            headroom: params.headroom,
            rate_smoothing: params.rate_smoothing,
            // Validated to 2..=10 000, so the cast is exact.
            warmup: params.warmup_batches.round() as u64,
            rate: ArrivalRate::default(),
            fit: CostFit::new(params.forgetting),
            floor: WindowMax::new(window),
            low_floor: WindowMax::new(window),
        }
    }

    /// Folds the batch's p99 beyond its collection and processing into the floor.
    fn track_floor(&mut self, obs: &Observation) {
        let Some(p99) = obs.receipt_p99 else { return };
        let sample = (secs(p99) - secs(obs.collect) - secs(obs.processing)).max(0.0);
        self.floor.push(sample);
        self.low_floor.push(-sample);
    }

    /// The fewest workers, each with this one's cost and an equal share of `rate`, for which an interval
    /// meets the plan; `None` when none would (the floor and the fixed cost leave no room) or more than
    /// [`MAX_WORKERS`] would be needed.
    fn workers_needed(&self, room: f64, a: f64, b: f64, rate: f64) -> Option<u32> {
        if !Limits::at(room, a, 0.0, self.headroom).feasible() {
            return None;
        }
        // Feasibility only grows as the share shrinks, so the first k that works is the fewest.
        (1..=MAX_WORKERS)
            .find(|k| Limits::at(room, a, b * rate / f64::from(*k), self.headroom).feasible())
    }

    /// What to do when no interval meets the target: how many workers would, counted against the smallest
    /// floor of the window (`floors` is the smallest and the largest), or why none would.
    fn advice(&self, plan: f64, floors: (f64, f64), a: f64, b: f64, rate: f64) -> String {
        let (low, high) = floors;
        match self.workers_needed(plan - low - a, a, b, rate) {
            Some(k) if k > 1 => format!(
                "p99 ≤ {} needs {k} workers sharing these partitions: each row costs {} µs and {} rows/s arrive",
                ms(self.target),
                fixed(b * 1e6, 1),
                count(rate)
            ),
            Some(_) => format!(
                "p99 ≤ {} is out of reach while the floor outside the batch is {} (it was {} at the least in the \
                 window): more workers would not shorten it; look at the broker's storage and the fetch wait, or \
                 raise the target",
                ms(self.target),
                ms(high),
                ms(low)
            ),
            None => format!(
                "no number of workers meets p99 ≤ {}: the floor {} and the fixed cost {} leave no room in the \
                 plan {}; look at the broker's storage and the fetch wait, or raise the target",
                ms(self.target),
                ms(low),
                ms(a),
                ms(plan)
            ),
        }
    }
}

impl Policy for Slo {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Slo
    }

    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision {
        let rate = self.rate.update(obs, self.rate_smoothing);
        self.fit.add(obs);
        self.track_floor(obs);
        let warming = self.fit.samples() < self.warmup;
        let (a, b) = if warming {
            (secs(obs.processing), 0.0)
        } else {
            self.fit.cost()
        };
        let floor = self.floor.max().unwrap_or(0.0);
        let low_floor = self.low_floor.max().map_or(0.0, |v| -v);
        let plan = self.target * (1.0 - self.margin);
        let room = plan - floor - a;
        let load = b * rate;
        let limits = Limits::at(room, a, load, self.headroom);
        let now = secs(current.interval);
        let growth_cap = MAX_GROWTH * now.max(self.bounds.min_interval.as_secs_f64());
        let missed = obs.receipt_p99.filter(|p99| secs(*p99) > self.target);
        let (next, rule, advice) = if limits.feasible() {
            let held = (limits.longest / BAND..=limits.longest * OVER).contains(&now);
            let (next, rule) = match missed {
                Some(p99) => (
                    limits.longest.min(now / 2.0),
                    format!(
                        "the batch's p99 {} missed the target: halving",
                        ms(secs(p99))
                    ),
                ),
                None if held => (now, "within it: hold".to_owned()),
                None => (limits.longest.min(growth_cap), "the longest".to_owned()),
            };
            (
                next,
                format!(
                    "longest interval (plan − floor − a) / (1 + b·λ) = {}, {rule}",
                    ms(limits.longest)
                ),
                None,
            )
        } else {
            let (next, rule) = if load < 1.0 {
                (
                    limits.shortest,
                    format!(
                        "no interval meets it: the shortest that keeps up, {}",
                        ms(limits.shortest)
                    ),
                )
            } else {
                let largest = self.bounds.max_rows as f64 / rate.max(1e-9);
                (
                    (2.0 * now).min(largest),
                    format!(
                        "no interval keeps up (load b·λ {} ≥ 1): doubling toward the largest batch",
                        fixed(load, 2)
                    ),
                )
            };
            let advice = self.advice(plan, (low_floor, floor), a, b, rate);
            (next, rule, Some(advice))
        };
        let settings = adaptive_settings(&self.bounds, next, current, obs, rate);
        let margin = match obs.receipt_p99 {
            Some(p99) => format!(
                "batch p99 {}, margin {} of {}",
                ms(secs(p99)),
                ms(self.target - secs(p99)),
                ms(self.target)
            ),
            None => "no receipt times in the batch".to_owned(),
        };
        let fitted = if warming {
            format!(
                "warming up ({} of {} batches fitted), p {}",
                self.fit.samples(),
                self.warmup,
                ms(a)
            )
        } else {
            format!("p ≈ {} + {} µs/row", ms(a), fixed(b * 1e6, 1))
        };
        let reason = format!(
            "slo p99 ≤ {} (plan {}): floor {}, {fitted}, arrivals {} rows/s; {rule}: interval {} → {}, max_rows {}; {margin}",
            ms(self.target),
            ms(plan),
            ms(floor),
            count(rate),
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

    /// Feeds `n` batches of a worker with cost 8 ms + 20 µs/row at `rate` rows/s whose events spend
    /// `floor_ms` outside the batch, at the intervals the policy chooses; returns the last decision.
    fn run(policy: &mut Slo, rate: f64, floor_ms: f64, n: u32) -> Decision {
        let mut current = Bounds::default().cold_start;
        let mut at = 0.0;
        let mut last = None;
        for i in 0..n {
            // Vary the batch a little so the fit sees more than one size.
            let x = current.interval.as_secs_f64() * [1.0, 0.8, 1.2][i as usize % 3];
            let rows = rate * x;
            let p = 0.008 + 20e-6 * rows;
            at += x;
            let mut o = obs(0, 0, rows as u64, 0, (rate * p) as u64);
            o.at = Duration::from_secs_f64(at + p);
            o.settings = current;
            o.collect = Duration::from_secs_f64(x);
            o.processing = Duration::from_secs_f64(p);
            o.receipt_p99 = Some(Duration::from_secs_f64(floor_ms / 1e3 + x + p));
            let d = policy.decide(current, &o);
            current = d.settings;
            last = Some(d);
        }
        last.expect("n > 0")
    }

    fn policy(given: &[(&str, f64)]) -> Slo {
        Slo::new(&Bounds::default(), &params(given))
    }

    #[test]
    fn the_target_parameter_is_named_as_declared() {
        use crate::params::ParamSet;
        assert!(SloParams::DOCS.iter().any(|doc| doc.name == TARGET_PARAM));
    }

    #[test]
    fn runs_the_longest_interval_within_the_plan() {
        let mut p = policy(&[("target_ms", 250.0)]);
        let d = run(&mut p, 5_000.0, 40.0, 60);
        // plan 200 ms − floor 40 ms − a 8 ms = 152 ms, over 1 + b·λ = 1.1: 138 ms.
        let x = d.settings.interval.as_secs_f64();
        assert!(
            x > 0.138 / BAND - 1e-3 && x <= 0.138 * OVER + 1e-3,
            "{x}: {}",
            d.reason
        );
        assert!(d.advice.is_none(), "{d:?}");
        assert!(d.reason.contains("margin"), "{}", d.reason);
    }

    #[test]
    fn a_missed_target_halves_the_interval() {
        let mut p = policy(&[("target_ms", 250.0)]);
        let d = run(&mut p, 1_000.0, 10.0, 30);
        let before = d.settings;
        let mut o = obs(100_000, 0, 100, 10, 0);
        o.settings = before;
        o.collect = before.interval;
        // Just over the target: the floor it shows still leaves room, and the interval halves.
        o.receipt_p99 = Some(Duration::from_millis(260));
        let d = p.decide(before, &o);
        assert!(
            d.settings.interval <= before.interval / 2 + Duration::from_millis(1),
            "{d:?}"
        );
        assert!(d.reason.contains("missed the target"), "{}", d.reason);
    }

    #[test]
    fn an_unreachable_target_advises_workers_or_says_none_would_help() {
        // 45k rows/s at 20 µs: load 0.9. The shortest stable interval is 1.3 × 80 ms = 104 ms, and 100 ms
        // leaves 80 − 5 − 8 = 67 ms of room: infeasible here, feasible for 2 workers (load 0.45).
        let mut p = policy(&[("target_ms", 100.0)]);
        let d = run(&mut p, 45_000.0, 5.0, 60);
        let advice = d.advice.expect("advice");
        assert!(advice.contains("needs 2 workers"), "{advice}");
        // A floor of 90 ms leaves nothing of a 100 ms target's plan.
        let mut p = policy(&[("target_ms", 100.0)]);
        let advice = run(&mut p, 100.0, 90.0, 20).advice.expect("advice");
        assert!(advice.starts_with("no number of workers"), "{advice}");
    }

    /// One batch that waited 150 ms outside its batch after quick ones: the floor takes it at once and keeps
    /// it for the window, and the advice, counted against the window's smallest floor, names the floor
    /// rather than more workers.
    #[test]
    fn a_slow_batch_holds_the_floor_for_the_window() {
        let mut p = policy(&[("target_ms", 200.0), ("floor_window", 10.0)]);
        let quick = run(&mut p, 1_000.0, 10.0, 30).settings;
        let slow = |p: &mut Slo, at_ms: u64, floor_ms: u64, current: Settings| {
            let mut o = obs(at_ms, 0, 100, 10, 0);
            o.settings = current;
            o.collect = current.interval;
            o.receipt_p99 = Some(Duration::from_millis(floor_ms + 10) + current.interval);
            p.decide(current, &o)
        };
        let d = slow(&mut p, 100_000, 150, quick);
        assert!(d.settings.interval < quick.interval, "{d:?}");
        let advice = d.advice.expect("advice");
        assert!(advice.contains("out of reach while the floor"), "{advice}");
        // Nine quick batches later the slow one is still in the window; the tenth pushes it out.
        let mut current = d.settings;
        for i in 1..=10 {
            let d = slow(&mut p, 100_000 + 100 * i, 10, current);
            assert_eq!(
                i < 10,
                d.reason.contains("floor 150 ms"),
                "{i}: {}",
                d.reason
            );
            current = d.settings;
        }
    }
}
