//! `pacer ingest`: the HTTP ingestion service alone.

use super::KafkaArgs;
use crate::duration::parse_duration;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Address to listen on.
    #[arg(long, env = "PACER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "PACER_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests handled at once; more are answered 503 at once.
    #[arg(long, env = "PACER_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// How long the broker may take to acknowledge a request's events before it fails with 503.
    #[arg(long, env = "PACER_DELIVERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Duration,
}

impl IngestArgs {
    pub fn config(&self) -> pacer_ingest::IngestConfig {
        let mut config = pacer_ingest::IngestConfig::new(&self.kafka.brokers, &self.kafka.topic);
        config.max_body_bytes = self.max_body_bytes;
        config.delivery_timeout = self.delivery_timeout;
        config.max_in_flight = self.max_in_flight;
        config
    }
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? Pass --listen",
                args.listen
            )
        })?;
    let mut config = args.config();
    let registry = pacer_telemetry::registry()?;
    config.metrics.register(&registry)?;
    config.registry = Some(registry);
    pacer_ingest::serve(config, listener, crate::shutdown::signalled()).await?;
    Ok(())
}
