//! The simulator runs the controller that ships: replaying what each simulated worker observed through a
//! fresh [`Controller`], the way the control plane feeds it reports, admits the same settings at the same
//! batches, and every batch ran settings that were pushed.

use pacer_policy::sim::{self, CostModel, SimConfig, standard_profile};
use pacer_policy::{
    Bounds, Controller, Governor, Mode, Observation, PolicyConfig, PolicyKind, Settings,
};
use std::time::Duration;

/// What one simulated worker saw after a batch, and what was pushed to it then.
struct Seen {
    worker: usize,
    observation: Observation,
    admitted: Option<Settings>,
}

#[test]
fn replaying_a_simulation_through_a_controller_admits_the_same_settings() {
    let workers = 2;
    let cost = CostModel::default();
    for kind in PolicyKind::ALL {
        let policy = PolicyConfig::default_for(kind, Bounds::default()).expect("defaults");
        let profile = standard_profile(cost.sustainable_rate(workers), Duration::from_secs(20));
        let config = SimConfig {
            workers,
            ..SimConfig::new(policy, profile)
        };
        let mut seen = Vec::new();
        sim::run_observed(&config, |step| {
            seen.push(Seen {
                worker: step.worker,
                observation: *step.observation,
                admitted: step.admitted.map(|a| a.new),
            });
        });
        for worker in 0..workers {
            let governor = Governor::new(config.governor.min_gap, config.governor.hysteresis);
            let mut controller = Controller::new(config.policy.build(), governor);
            // What the control plane knows the worker runs: what it last pushed.
            let mut running = config.policy.initial_settings();
            let mut pushed = vec![running];
            let mine = seen.iter().filter(|s| s.worker == worker);
            for (batch, s) in mine.enumerate() {
                let obs = &s.observation;
                assert!(
                    pushed.contains(&obs.settings),
                    "{kind} worker {worker} batch {batch} ran {} that was never pushed",
                    obs.settings
                );
                let replayed = controller
                    .observe(obs, running, Mode::Enforce, None)
                    .map(|a| a.new);
                assert_eq!(replayed, s.admitted, "{kind} worker {worker} batch {batch}");
                if let Some(new) = replayed {
                    assert_eq!(
                        new,
                        new.on_the_wire(),
                        "{kind}: pushed as the wire carries it"
                    );
                    running = new;
                    pushed.push(new);
                }
            }
            assert!(
                kind == PolicyKind::Static || pushed.len() > 2,
                "{kind} worker {worker} changed nothing: {pushed:?}"
            );
        }
    }
}
