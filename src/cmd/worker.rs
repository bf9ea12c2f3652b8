//! `pacer worker`: one consumer-group member writing micro-batches to PostgreSQL.

use super::{BatchArgs, KafkaArgs};
use crate::duration::parse_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Where the control plane is.
#[derive(Debug, Clone, Args)]
pub struct ControlLinkArgs {
    /// The control plane's URL (`http://host:port`, or `https://` with --control-ca); none: run on the
    /// --interval/--max-rows flags alone.
    #[arg(long, env = "PACER_CONTROL")]
    pub control: Option<String>,
    /// The worker token the control plane expects.
    #[arg(long, env = "PACER_WORKER_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// A PEM CA certificate to trust for an `https://` control plane.
    #[arg(long, env = "PACER_CONTROL_CA")]
    pub control_ca: Option<PathBuf>,
}

impl ControlLinkArgs {
    fn link(&self) -> Option<pacer_worker::ControlLink> {
        self.control.as_ref().map(|url| pacer_worker::ControlLink {
            url: url.clone(),
            token: self.control_token.clone(),
            ca: self.control_ca.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub metrics: crate::metrics::MetricsArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The topics to consume, comma-separated, in place of the one --topic: each a topic name, or a regex if
    /// it starts with `^` (`--topics orders,^shop\..*`). A regex also takes in topics created later, within
    /// librdkafka's metadata refresh (5 min). A regex with a comma in it goes alone in --topic.
    #[arg(long, env = "PACER_TOPICS", value_delimiter = ',', value_parser = parse_topic)]
    pub topics: Vec<String>,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// PostgreSQL URL of the pipeline's database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The Kafka consumer group the workers share.
    #[arg(long, env = "PACER_GROUP", default_value = "pacer")]
    pub group: String,
    /// This worker's id; by default `<host>-<n>`, n the lowest slot free on this host, so that a restarted
    /// worker keeps its id (slots are lock files in $XDG_RUNTIME_DIR/pacer, or /tmp/pacer-<uid>).
    #[arg(long, env = "PACER_WORKER_ID")]
    pub worker_id: Option<String>,
    /// How long the group waits for a silent worker before handing its partitions to others.
    #[arg(long, env = "PACER_SESSION_TIMEOUT", default_value = "6s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    #[command(flatten)]
    pub control: ControlLinkArgs,
    /// A pipeline file (pacer.toml): routes that send each event to its own table. Without one, every event
    /// goes to the built-in `events` table. Each route's table must match it (see `pacer tables`).
    #[arg(long, env = "PACER_PIPELINE")]
    pub pipeline: Option<PathBuf>,
}

/// Where `pacer worker` serves its metrics unless told otherwise (the next free port if taken).
const METRICS_DEFAULT: &str = "127.0.0.1:9471";

/// One entry of --topics, spaces around it dropped.
fn parse_topic(entry: &str) -> Result<String, pacer_worker::TopicError> {
    let entry = entry.trim();
    pacer_worker::check_topic(entry)?;
    Ok(entry.to_owned())
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let mut config =
        pacer_worker::WorkerConfig::new(&args.kafka.brokers, &args.kafka.topic, &args.database_url);
    if !args.topics.is_empty() {
        config = config.with_topics(args.topics);
    }
    // Before anything starts: --topic is not checked by clap (`ingest` and `load` share it).
    pacer_worker::check_topics(&config.topics)?;
    config.group = args.group;
    config.settings = args.batch.settings();
    config.session_timeout = args.session_timeout;
    if let Some(id) = args.worker_id {
        config.worker_id = id;
    }
    config.control = args.control.link();
    if let Some(path) = &args.pipeline {
        let pipeline = pacer_pipeline::Pipeline::from_file(path)?;
        config.routes = std::sync::Arc::new(pacer_worker::Routes::new(pipeline));
    }
    let registry = pacer_telemetry::registry()?;
    config.metrics.register(&registry)?;
    let (settings, _) = pacer_worker::SettingsHandle::new(config.settings);
    let ran = args
        .metrics
        .serve_during(
            METRICS_DEFAULT,
            registry,
            pacer_worker::run(config, settings, crate::shutdown::signalled()),
        )
        .await?;
    ran?;
    Ok(())
}
