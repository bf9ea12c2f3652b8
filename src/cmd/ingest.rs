//! `pacer ingest`: the HTTP ingestion service alone.

use super::KafkaArgs;
use crate::duration::parse_duration;
use anyhow::Context;
use clap::Args;
use pacer_pipeline::Pipeline;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// How long the producer waits to fill a Kafka batch before it sends (librdkafka `linger.ms`). Every
    /// request waits it out before the broker sees its events; under load, records that queue while earlier
    /// batches are in flight go together anyway.
    #[arg(long, env = "PACER_LINGER", default_value = "1ms", value_parser = parse_duration)]
    pub linger: Duration,
    /// A pipeline file (pacer.toml): an event whose route has a JSON Schema is refused (422) unless its
    /// data matches it. Without one, no data is checked.
    #[arg(long, env = "PACER_PIPELINE")]
    pub pipeline: Option<PathBuf>,
}

impl IngestArgs {
    /// The settings, with the pipeline file read and its schemas compiled.
    pub fn config(&self) -> anyhow::Result<pacer_ingest::IngestConfig> {
        let mut config = pacer_ingest::IngestConfig::new(&self.kafka.brokers, &self.kafka.topic);
        config.max_body_bytes = self.max_body_bytes;
        config.delivery_timeout = self.delivery_timeout;
        config.linger = self.linger;
        config.max_in_flight = self.max_in_flight;
        if let Some(path) = &self.pipeline {
            let pipeline = Pipeline::from_file(path)?;
            check_topic(&pipeline, &self.kafka.topic)?;
            let schemas = pipeline.routes().iter().filter(|r| r.has_schema()).count();
            tracing::info!(pipeline = %path.display(), schemas, "ingest checks event data against the pipeline's schemas");
            config.pipeline = Some(Arc::new(pipeline));
        }
        Ok(config)
    }
}

/// Ingest produces CloudEvents: a topic the pipeline reads as plain JSON would turn them into JSON records.
fn check_topic(pipeline: &Pipeline, topic: &str) -> anyhow::Result<()> {
    match pipeline
        .json_route_for_topic(topic)
        .and_then(|index| pipeline.routes().get(index))
    {
        Some(route) => anyhow::bail!(
            "the pipeline's route \"{}\" reads topic \"{topic}\" as plain JSON (format = \"json\"), but ingest produces CloudEvents to it; give ingest another --topic",
            route.name()
        ),
        None => Ok(()),
    }
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    // The pipeline file first: a mistake in it stops ingest before it listens.
    let mut config = args.config()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? Pass --listen",
                args.listen
            )
        })?;
    let registry = pacer_telemetry::registry()?;
    config.metrics.register(&registry)?;
    config.registry = Some(registry);
    pacer_ingest::serve(config, listener, crate::shutdown::signalled()).await?;
    Ok(())
}
