//! `pacer worker`: one consumer-group member writing micro-batches to PostgreSQL.

use super::{BatchArgs, KafkaArgs, parse_duration};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// PostgreSQL URL of the pipeline's database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The Kafka consumer group the workers share.
    #[arg(long, env = "PACER_GROUP", default_value = "pacer")]
    pub group: String,
    /// This worker's id (defaults to host-pid).
    #[arg(long, env = "PACER_WORKER_ID")]
    pub worker_id: Option<String>,
    /// How long the group waits for a silent worker before handing its partitions to others.
    #[arg(long, env = "PACER_SESSION_TIMEOUT", default_value = "6s", value_parser = parse_duration)]
    pub session_timeout: Duration,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let mut config =
        pacer_worker::WorkerConfig::new(&args.kafka.brokers, &args.kafka.topic, &args.database_url);
    config.group = args.group;
    config.settings = args.batch.settings();
    config.session_timeout = args.session_timeout;
    if let Some(id) = args.worker_id {
        config.worker_id = id;
    }
    let (_handle, settings) = pacer_worker::SettingsHandle::new(config.settings);
    pacer_worker::run(config, settings, crate::shutdown::signalled()).await?;
    Ok(())
}
