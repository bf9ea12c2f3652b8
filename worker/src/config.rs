//! The worker's settings: what it consumes, where it writes, and the control plane it attaches to.

use crate::rows::Routes;
use crate::worker_id::default_worker_id;
use pacer_batch::Settings;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a worker needs to run; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topics to consume, at least one: each a topic name, or a regex if it starts with `^` (librdkafka's
    /// subscription syntax), which takes in every matching topic. See [`crate::check_topics`].
    pub topics: Vec<String>,
    /// The consumer group.
    pub group: String,
    /// PostgreSQL URL.
    pub database_url: String,
    /// This worker's id, unique in the group (it names its rows in `batch_metrics`).
    pub worker_id: String,
    /// The batch settings to start with.
    pub settings: Settings,
    /// How long the broker waits for a dead worker before giving its partitions to others.
    pub session_timeout: Duration,
    /// The control plane to attach to, if any.
    pub control: Option<ControlLink>,
    /// The process's worker metrics (shared by every worker of the process).
    pub metrics: crate::WorkerMetrics,
    /// The routes of the pipeline file; without one, every event goes to the built-in `events` table.
    pub routes: Arc<Routes>,
}

impl WorkerConfig {
    /// Defaults that suit a local stack, consuming one topic (a name, or a `^` regex); see [`Self::with_topics`]
    /// for several.
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        database_url: impl Into<String>,
    ) -> Self {
        Self {
            brokers: brokers.into(),
            topics: vec![topic.into()],
            group: "pacer".into(),
            database_url: database_url.into(),
            worker_id: default_worker_id(),
            settings: Settings::default(),
            session_timeout: Duration::from_secs(6),
            control: None,
            metrics: crate::WorkerMetrics::new(),
            routes: Arc::new(Routes::default()),
        }
    }

    /// Consumes `topics` (names, or `^` regexes) instead of the topic given to [`Self::new`].
    #[must_use]
    pub fn with_topics<T: Into<String>>(mut self, topics: impl IntoIterator<Item = T>) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }
}

/// Where the control plane is and how to prove who we are.
#[derive(Clone)]
pub struct ControlLink {
    /// Its URL, `http://host:port` (or `https://` with `ca`).
    pub url: String,
    /// The worker token, sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    /// A PEM CA certificate to trust for `https://` URLs.
    pub ca: Option<PathBuf>,
}

// The token is a secret: a `Debug` of the configuration (in a log line, say) shows only whether it is set.
impl std::fmt::Debug for ControlLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlLink")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("ca", &self.ca)
            .finish()
    }
}
