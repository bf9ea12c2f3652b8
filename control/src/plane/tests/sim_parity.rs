//! The simulator and the control plane run one controller: the reports a simulated worker would send, fed
//! to a registry entry the way the state task feeds them, give the pushes the simulator made, batch for
//! batch, for every policy.

use super::super::clock::Clock;
use super::super::entry::{Connection, Entry, Push};
use crate::domain::{Hello, Mode, PartitionLag, Report, Source, WorkerId};
use pacer_policy::sim::{self, CostModel, SimConfig, standard_profile};
use pacer_policy::{Bounds, Governor, Observation, PolicyConfig, PolicyKind, Settings};
use std::time::Duration;
use tokio::sync::mpsc;

/// The report a worker sends for the batch the simulator observed.
fn report_of(obs: &Observation, batch_no: u64) -> Report {
    Report {
        batch_no,
        finished_at: None,
        records: obs.rows,
        rows_written: obs.rows,
        duplicates: 0,
        invalid: 0,
        bytes: obs.bytes,
        flush: obs.flush,
        settings: obs.settings,
        poll: obs.collect,
        transform: Duration::ZERO,
        write: obs.processing,
        commit: Duration::ZERO,
        lag: obs
            .lag
            .map(|lag| {
                vec![PartitionLag {
                    topic: "events".into(),
                    partition: 0,
                    lag: lag as i64,
                    end: None,
                }]
            })
            .unwrap_or_default(),
        e2e_p50: obs.e2e_p50,
        e2e_max: obs.e2e_max,
        // The controller reads the p99; the median and the largest do not reach it.
        receipt_to_commit: obs.receipt_p99.map(|p99| [p99; 3]),
        routes: Vec::new(),
    }
}

#[tokio::test]
async fn the_same_reports_give_the_same_pushes_as_the_simulator() {
    let cost = CostModel::default();
    for kind in PolicyKind::ALL {
        let policy = PolicyConfig::default_for(kind, Bounds::default()).expect("defaults");
        let profile = standard_profile(cost.sustainable_rate(1), Duration::from_secs(20));
        let config = SimConfig {
            workers: 1,
            ..SimConfig::new(policy, profile)
        };
        let mut simulated: Vec<(Observation, Option<Settings>)> = Vec::new();
        sim::run_observed(&config, |step| {
            simulated.push((*step.observation, step.admitted.map(|a| a.new)));
        });

        let clock = Clock::start();
        let hello = Hello {
            worker_id: WorkerId::new("w0").expect("id"),
            host: "h".into(),
            group: "g".into(),
            topic: "t".into(),
            partitions: vec![0],
            settings: config.policy.initial_settings(),
            paused: false,
            version: "test".into(),
        };
        let governor = Governor::new(config.governor.min_gap, config.governor.hysteresis);
        let mut entry = Entry::new(hello, config.policy.build(), governor, clock.now());
        let (outbox, mut pushes) = mpsc::channel(simulated.len().max(1));
        entry.connection = Some(Connection { id: 1, outbox });
        let mut changes = 0;
        for (batch, (obs, admitted)) in simulated.iter().enumerate() {
            let report = report_of(obs, batch as u64 + 1);
            // As the state task does on a report: decide, then push what was admitted.
            let decided = entry.report(report, obs.at, Mode::Enforce, None, clock.now());
            if let Some(decided) = &decided {
                assert!(entry.push_settings(
                    decided.new,
                    Source::Policy,
                    kind.to_string(),
                    decided.reason.clone(),
                    batch as u64 + 1,
                ));
            }
            let pushed = match pushes.try_recv() {
                Ok(Push::Settings { settings, .. }) => Some(settings),
                Ok(other) => panic!("{kind}: unexpected push {other:?}"),
                Err(_) => None,
            };
            assert_eq!(
                pushed, *admitted,
                "{kind} batch {batch}: control plane vs simulator"
            );
            changes += usize::from(pushed.is_some());
        }
        assert!(
            kind == PolicyKind::Static || changes > 1,
            "{kind}: the comparison saw no change to compare"
        );
    }
}
