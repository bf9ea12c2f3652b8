//! The `slo` policy on simulated profiles: it meets its target in every phase where some interval can, at
//! a fraction of the commits of a short static interval, and says how many workers a phase needs where no
//! interval can.

use pacer_policy::sim::{self, CostModel, FloorModel, SimConfig, standard_profile};
use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use std::collections::BTreeMap;
use std::time::Duration;

fn one_worker(kind: PolicyKind, params: &[(&str, f64)], phase: Duration) -> SimConfig {
    let params: BTreeMap<String, f64> = params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let config = PolicyConfig::new(kind, &params, Bounds::default()).expect("valid");
    let phases = standard_profile(CostModel::default().sustainable_rate(1), phase);
    SimConfig {
        workers: 1,
        ..SimConfig::new(config, phases)
    }
}

/// Idle → spike (90 % of what the worker sustains) → steady → idle: a 300 ms target holds in every phase,
/// and at idle the policy commits at most a fifth as often as static 10 ms. (The best static interval's p99
/// in the spike is about 250 ms in this cost model, so 300 ms is a target some interval can meet.)
#[test]
fn the_target_holds_in_every_phase_with_few_commits() {
    let phase = Duration::from_secs(60);
    let slo = sim::run(&one_worker(PolicyKind::Slo, &[("target_ms", 300.0)], phase));
    let fast = sim::run(&one_worker(
        PolicyKind::Static,
        &[("interval_ms", 10.0)],
        phase,
    ));
    held(&slo, &fast, Duration::from_millis(300), 5);
}

/// Every phase of `slo` met `target` and kept up, and each idle phase made at most 1/`fewer` of the batches
/// of `fast`.
fn held(slo: &sim::SimResult, fast: &sim::SimResult, target: Duration, fewer: u64) {
    for stats in &slo.phases {
        assert!(stats.p99 <= target, "{stats:?}");
        assert!(!stats.lag_growing, "{stats:?}");
    }
    for (slo, fast) in slo.phases.iter().zip(&fast.phases) {
        if slo.name.starts_with("idle") {
            assert!(
                fewer * slo.batches <= fast.batches,
                "{slo:?} against {fast:?}"
            );
        }
    }
}

/// The same with a noisy floor outside the batch, as the broker's fetch rounds make one: every event waits
/// 20 ms, and a batch's events up to 80 ms more. The target still holds in every phase, at fewer commits
/// than static 10 ms at idle.
#[test]
fn the_target_holds_over_a_noisy_floor() {
    let phase = Duration::from_secs(60);
    let floor = FloorModel {
        fixed: Duration::from_millis(20),
        jitter: Duration::from_millis(80),
    };
    let noisy = |kind, params: &[(&str, f64)]| {
        sim::run(&SimConfig {
            floor,
            ..one_worker(kind, params, phase)
        })
    };
    let slo = noisy(PolicyKind::Slo, &[("target_ms", 400.0)]);
    let fast = noisy(PolicyKind::Static, &[("interval_ms", 10.0)]);
    held(&slo, &fast, Duration::from_millis(400), 3);
}

/// A 100 ms target at 90 % load: no interval meets it, and the decisions of the spike advise a second
/// worker; at idle they advise nothing.
#[test]
fn an_unreachable_target_advises_more_workers() {
    let config = one_worker(
        PolicyKind::Slo,
        &[("target_ms", 100.0)],
        Duration::from_secs(30),
    );
    let (mut spike_advice, mut idle_advice) = (Vec::new(), Vec::new());
    sim::run_observed(&config, |step| {
        let at = step.observation.at.as_secs_f64();
        if let Some(advice) = &step.decision.advice {
            if (40.0..60.0).contains(&at) {
                spike_advice.push(advice.clone());
            } else if (10.0..30.0).contains(&at) {
                idle_advice.push(advice.clone());
            }
        }
    });
    assert!(idle_advice.is_empty(), "{idle_advice:?}");
    assert!(
        spike_advice.iter().any(|a| a.contains("needs 2 workers")),
        "{spike_advice:?}"
    );
}
