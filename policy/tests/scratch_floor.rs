use pacer_policy::sim::{self, CostModel, FloorModel, SimConfig, standard_profile};
use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use std::collections::BTreeMap;
use std::time::Duration;

fn cfg(kind: PolicyKind, params: &[(&str, f64)], phase: Duration, floor: FloorModel) -> SimConfig {
    let params: BTreeMap<String, f64> = params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let config = PolicyConfig::new(kind, &params, Bounds::default()).expect("valid");
    let phases = standard_profile(CostModel::default().sustainable_rate(1), phase);
    SimConfig {
        workers: 1,
        floor,
        ..SimConfig::new(config, phases)
    }
}

#[test]
fn scratch() {
    for (f, j) in [(0, 0), (20, 80), (40, 60), (10, 150)] {
        let floor = FloorModel {
            fixed: Duration::from_millis(f),
            jitter: Duration::from_millis(j),
        };
        for target in [250.0, 300.0, 400.0] {
            let fast = sim::run(&cfg(
                PolicyKind::Static,
                &[("interval_ms", 10.0)],
                Duration::from_secs(60),
                floor,
            ));
            let fb: Vec<_> = fast
                .phases
                .iter()
                .map(|p| (p.p99.as_millis(), p.batches))
                .collect();
            println!("floor {f}+{j} target {target} static10 {fb:?}");
            for w in [1.0, 10.0, 30.0, 100.0, 200.0] {
                let r = sim::run(&cfg(
                    PolicyKind::Slo,
                    &[("target_ms", target), ("floor_window", w)],
                    Duration::from_secs(60),
                    floor,
                ));
                let v: Vec<_> = r
                    .phases
                    .iter()
                    .map(|p| (p.p99.as_millis(), p.batches))
                    .collect();
                println!("   w {w}: {v:?}");
            }
        }
    }
}
