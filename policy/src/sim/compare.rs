//! Side-by-side runs of adaptive policies and a grid of static intervals, the table that shows them, and
//! the check of the product requirement against them.

use super::{SimConfig, SimResult, run};
use crate::config::PolicyConfig;
use crate::kind::PolicyKind;
use crate::params::ParamError;
use crate::reason::{count, ms};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// The static intervals (milliseconds) adaptive policies are compared with.
pub const STATIC_GRID_MS: [u64; 9] = [10, 25, 50, 100, 250, 500, 1000, 2000, 5000];

/// The results of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// One result per adaptive policy, in the order asked.
    pub adaptive: Vec<SimResult>,
    /// One result per static interval, in the order asked.
    pub statics: Vec<SimResult>,
}

/// Runs `base` once per policy in `adaptive` and once per static interval in `statics_ms` (same seed, same
/// arrivals, same bounds as `base.policy`).
pub fn compare(
    base: &SimConfig,
    adaptive: &[PolicyConfig],
    statics_ms: &[u64],
) -> Result<Comparison, ParamError> {
    let with = |policy: PolicyConfig| {
        run(&SimConfig {
            policy,
            ..base.clone()
        })
    };
    let adaptive = adaptive.iter().cloned().map(with).collect();
    let mut statics = Vec::with_capacity(statics_ms.len());
    for ms in statics_ms {
        let params = BTreeMap::from([("interval_ms".to_owned(), *ms as f64)]);
        statics.push(with(PolicyConfig::new(
            PolicyKind::Static,
            &params,
            base.policy.bounds(),
        )?));
    }
    Ok(Comparison { adaptive, statics })
}

/// A plain-text table: one row per policy; per phase p50 / p99 end-to-end latency, peak lag (rows, `↑` when
/// it grew without bound) and setting changes pushed.
pub fn render_table(comparison: &Comparison) -> String {
    let rows: Vec<&SimResult> = comparison
        .adaptive
        .iter()
        .chain(&comparison.statics)
        .collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out = String::new();
    let cell = 31;
    let _ = write!(out, "{:<16}", "policy");
    for phase in &first.phases {
        let _ = write!(out, " | {:<cell$}", phase.name);
    }
    out.push('\n');
    let _ = write!(out, "{:<16}", "");
    for _ in &first.phases {
        let _ = write!(
            out,
            " | {:>7} {:>7} {:>8} {:>6}",
            "p50", "p99", "lag", "chg"
        );
    }
    out.push('\n');
    for result in rows {
        let _ = write!(out, "{:<16}", result.label);
        for p in &result.phases {
            let lag = format!(
                "{}{}",
                count(p.peak_lag as f64),
                if p.lag_growing { "↑" } else { "" }
            );
            let _ = write!(
                out,
                " | {:>7} {:>7} {:>8} {:>6}",
                ms(p.p50.as_secs_f64()).to_string(),
                ms(p.p99.as_secs_f64()).to_string(),
                lag,
                p.changes
            );
        }
        out.push('\n');
    }
    out
}

/// Whether an adaptive policy meets the product requirement against the static grid (see [`goal_met`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GoalCheck {
    /// The adaptive policy checked.
    pub policy: String,
    /// Its p99 is within 1.25× the best static interval's p99 in every phase.
    pub within_best: bool,
    /// Its lag grew without bound in no phase ([`PhaseStats::lag_growing`](super::PhaseStats::lag_growing)).
    pub lag_bounded: bool,
    /// Every static interval is at least 2× worse in some phase: p99 ≥ 2× its p99, or lag growing.
    pub statics_worse: bool,
    /// One line per shortfall, naming the phase or static interval and the figures.
    pub misses: Vec<String>,
}

impl GoalCheck {
    /// All three parts hold.
    pub fn met(&self) -> bool {
        self.within_best && self.lag_bounded && self.statics_worse
    }
}

impl fmt::Display for GoalCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        write!(
            f,
            "goal {} by {}: p99 within 1.25× of the best static interval in every phase: {}; lag bounded: {}; \
             every static interval at least 2× worse in some phase: {}",
            if self.met() { "met" } else { "NOT met" },
            self.policy,
            yes(self.within_best),
            yes(self.lag_bounded),
            yes(self.statics_worse)
        )?;
        if !self.misses.is_empty() {
            write!(f, " ({})", self.misses.join("; "))?;
        }
        Ok(())
    }
}

/// Checks `adaptive` against `statics` (results of the same profile, phase for phase):
/// 1. in every phase its p99 ≤ 1.25 × the smallest p99 of any static interval in that phase;
/// 2. its lag grows without bound in no phase;
/// 3. for every static interval there is a phase where that interval's p99 ≥ 2 × the adaptive p99, or its
///    lag grows without bound.
pub fn goal_met(adaptive: &SimResult, statics: &[SimResult]) -> GoalCheck {
    let mut misses = Vec::new();
    let mut within_best = true;
    for (i, phase) in adaptive.phases.iter().enumerate() {
        let best = statics
            .iter()
            .filter_map(|s| s.phases.get(i).map(|p| (p.p99, &s.label)))
            .min_by_key(|(p99, _)| *p99);
        if let Some((best, label)) = best
            && phase.p99.as_secs_f64() > 1.25 * best.as_secs_f64()
        {
            within_best = false;
            misses.push(format!(
                "{}: p99 {} > 1.25 × {} of {label}",
                phase.name,
                ms(phase.p99.as_secs_f64()),
                ms(best.as_secs_f64())
            ));
        }
    }
    let growing: Vec<&str> = adaptive
        .phases
        .iter()
        .filter(|p| p.lag_growing)
        .map(|p| p.name.as_str())
        .collect();
    let lag_bounded = growing.is_empty();
    if !lag_bounded {
        misses.push(format!("lag grows without bound in {}", growing.join(", ")));
    }
    let mut statics_worse = true;
    for s in statics {
        let mut ratio_best = 0.0_f64;
        let mut worse = false;
        for (ours, theirs) in adaptive.phases.iter().zip(&s.phases) {
            let ratio = theirs.p99.as_secs_f64() / ours.p99.as_secs_f64().max(1e-9);
            ratio_best = ratio_best.max(ratio);
            worse |= theirs.lag_growing || ratio >= 2.0;
        }
        if !worse {
            statics_worse = false;
            misses.push(format!(
                "{} is at most {ratio_best:.2}× worse in any phase",
                s.label
            ));
        }
    }
    GoalCheck {
        policy: adaptive.label.clone(),
        within_best,
        lag_bounded,
        statics_worse,
        misses,
    }
}
