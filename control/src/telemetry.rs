//! What the control plane measures for Prometheus. The names are here and nowhere else.

use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The metric names.
pub mod names {
    /// Known workers by state.
    pub const WORKERS: &str = "pacer_control_workers";
    /// Decisions taken, by policy, scope and mode.
    pub const DECISIONS: &str = "pacer_control_decisions_total";
    /// Overrides in force.
    pub const OVERRIDES: &str = "pacer_control_overrides_active";
    /// The interval each known worker runs with.
    pub const WORKER_INTERVAL: &str = "pacer_control_worker_interval_seconds";
    /// The max rows each known worker runs with.
    pub const WORKER_MAX_ROWS: &str = "pacer_control_worker_max_rows";
    /// Batch reports received from workers.
    pub const REPORTS: &str = "pacer_control_reports_total";
    /// Workers the arrivals need (the scale advice), and those the partitions let work.
    pub const WORKERS_NEEDED: &str = "pacer_control_workers_needed";
}

/// The worker states counted.
pub const STATES: [&str; 3] = ["attached", "paused", "lost"];

/// The control plane's metrics; they count whether or not they are registered anywhere.
#[derive(Debug, Clone)]
pub struct ControlMetrics {
    workers: IntGaugeVec,
    decisions: IntCounterVec,
    overrides: IntGauge,
    worker_interval: GaugeVec,
    worker_max_rows: IntGaugeVec,
    reports: IntCounter,
    workers_needed: IntGaugeVec,
}

impl Default for ControlMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlMetrics {
    /// Fresh metrics, registered nowhere yet.
    #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
    pub fn new() -> Self {
        let metrics = Self {
            workers: IntGaugeVec::new(
                Opts::new(names::WORKERS, "Known workers by state: attached, paused (and attached), lost."),
                &["state"],
            )
            .expect("valid metric"),
            decisions: IntCounterVec::new(
                Opts::new(
                    names::DECISIONS,
                    "Decisions taken, by policy (or override / clear-override), scope (worker or all) and mode.",
                ),
                &["policy", "scope", "mode"],
            )
            .expect("valid metric"),
            overrides: IntGauge::new(names::OVERRIDES, "Overrides in force.").expect("valid metric"),
            workers_needed: IntGaugeVec::new(
                Opts::new(
                    names::WORKERS_NEEDED,
                    "Workers the arrivals of the last 10 s need at 80 % utilisation of each (bound=\"needed\"), and how many of them the topic's partitions let work (bound=\"usable\"); 0 until a worker has measured busy time.",
                ),
                &["bound"],
            )
            .expect("valid metric"),
            worker_interval: GaugeVec::new(
                Opts::new(names::WORKER_INTERVAL, "The interval each known worker runs with, in seconds."),
                &["worker"],
            )
            .expect("valid metric"),
            worker_max_rows: IntGaugeVec::new(
                Opts::new(names::WORKER_MAX_ROWS, "The max rows each known worker runs with."),
                &["worker"],
            )
            .expect("valid metric"),
            reports: IntCounter::new(names::REPORTS, "Batch reports received from workers.")
                .expect("valid metric"),
        };
        for state in STATES {
            metrics.workers.with_label_values(&[state]).set(0);
        }
        metrics.workers_needed(0, 0);
        // Every label set exists from the start at zero, so that the first decision of a kind shows in
        // rate() and increase() (a series that appears at 1 has no increase).
        let labels = pacer_policy::PolicyKind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(["override", "clear-override"]);
        for policy in labels {
            for scope in ["worker", "all"] {
                for mode in ["enforce", "advise"] {
                    metrics.decisions.with_label_values(&[policy, scope, mode]);
                }
            }
        }
        metrics
    }

    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.workers.clone()))?;
        registry.register(Box::new(self.decisions.clone()))?;
        registry.register(Box::new(self.overrides.clone()))?;
        registry.register(Box::new(self.worker_interval.clone()))?;
        registry.register(Box::new(self.worker_max_rows.clone()))?;
        registry.register(Box::new(self.reports.clone()))?;
        registry.register(Box::new(self.workers_needed.clone()))?;
        Ok(())
    }

    /// Sets the scale advice's gauges: workers needed and usable (0 and 0 when there is no advice).
    pub(crate) fn workers_needed(&self, needed: u32, usable: u32) {
        for (bound, value) in [("needed", needed), ("usable", usable)] {
            self.workers_needed
                .with_label_values(&[bound])
                .set(i64::from(value));
        }
    }

    /// Drops the settings series of a worker the registry forgot.
    pub(crate) fn forget(&self, worker: &str) {
        let _ = self.worker_interval.remove_label_values(&[worker]);
        let _ = self.worker_max_rows.remove_label_values(&[worker]);
    }

    /// Counts a batch report.
    pub(crate) fn report(&self) {
        self.reports.inc();
    }

    /// Counts a decision.
    pub(crate) fn decision(&self, policy: &str, scope: &str, mode: &str) {
        self.decisions
            .with_label_values(&[policy, scope, mode])
            .inc();
    }

    /// Sets the gauges from the registry as it is now: `(worker, state, interval seconds, max rows)`.
    pub(crate) fn registry(&self, workers: &[(String, &'static str, f64, u64)], overrides: usize) {
        for state in STATES {
            let n = workers.iter().filter(|w| w.1 == state).count();
            self.workers
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.overrides
            .set(i64::try_from(overrides).unwrap_or(i64::MAX));
        for (worker, _, interval, max_rows) in workers {
            self.worker_interval
                .with_label_values(&[worker])
                .set(*interval);
            self.worker_max_rows
                .with_label_values(&[worker])
                .set(i64::try_from(*max_rows).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the first series of `name` with all the labels, from the text exposition.
    fn value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .find(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn the_registry_gauges_follow_the_workers_and_drop_the_forgotten() {
        let metrics = ControlMetrics::new();
        let registry = Registry::new();
        metrics.register(&registry).unwrap();
        metrics.registry(
            &[
                ("w1".into(), "attached", 0.25, 5000),
                ("w2".into(), "lost", 0.5, 100),
            ],
            1,
        );
        assert_eq!(
            value(&registry, names::WORKERS, &[("state", "attached")]),
            Some(1.0)
        );
        assert_eq!(
            value(&registry, names::WORKERS, &[("state", "lost")]),
            Some(1.0)
        );
        assert_eq!(value(&registry, names::OVERRIDES, &[]), Some(1.0));
        assert_eq!(
            value(&registry, names::WORKER_INTERVAL, &[("worker", "w1")]),
            Some(0.25)
        );
        metrics.forget("w2");
        metrics.registry(&[("w1".into(), "paused", 0.25, 5000)], 0);
        assert_eq!(
            value(&registry, names::WORKERS, &[("state", "paused")]),
            Some(1.0)
        );
        assert_eq!(
            value(&registry, names::WORKER_INTERVAL, &[("worker", "w2")]),
            None
        );
        metrics.decision("model", "worker", "enforce");
        metrics.report();
        assert_eq!(value(&registry, names::REPORTS, &[]), Some(1.0));
        assert_eq!(
            value(
                &registry,
                names::DECISIONS,
                &[
                    ("policy", "model"),
                    ("scope", "worker"),
                    ("mode", "enforce")
                ]
            ),
            Some(1.0)
        );
    }
}
