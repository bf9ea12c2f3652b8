//! The worker's settings.

use crate::attach::ControlLink;
use crate::settings::BatchSettings;
use std::time::Duration;

/// What a worker needs to run; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topic to consume.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// PostgreSQL URL.
    pub database_url: String,
    /// This worker's id, unique in the group (it names its rows in `batch_metrics`).
    pub worker_id: String,
    /// The batch settings to start with.
    pub settings: BatchSettings,
    /// How long the broker waits for a dead worker before giving its partitions to others.
    pub session_timeout: Duration,
    /// The control plane to attach to, if any.
    pub control: Option<ControlLink>,
    /// The process's worker metrics (shared by every worker of the process).
    pub metrics: crate::WorkerMetrics,
}

impl WorkerConfig {
    /// Defaults that suit a local stack.
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        database_url: impl Into<String>,
    ) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            group: "pacer".into(),
            database_url: database_url.into(),
            worker_id: default_worker_id(),
            settings: BatchSettings::default(),
            session_timeout: Duration::from_secs(6),
            control: None,
            metrics: crate::WorkerMetrics::new(),
        }
    }
}

/// `host-pid`, unique enough on one machine and readable.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
