//! The worker's Kafka consumer: a group member that commits by hand, only offsets whose records PostgreSQL
//! has committed, and that keeps each (topic, partition)'s ownership epoch and lag in its context.

use crate::config::WorkerConfig;
use crate::ownership::OwnershipContext;
use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaError;
use std::sync::Arc;

/// The longest the broker holds a fetch that has little data: records reach a batch soon after they are
/// produced. (With nisshi keeping its log in PostgreSQL, 10 ms made freshness worse than 100 ms: see
/// docs/BENCHMARKS.md.)
pub const FETCH_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The consumer, shared by the collecting side (fetch) and the writing side (commit).
pub(crate) type Kafka = Arc<StreamConsumer<OwnershipContext>>;

/// Creates the consumer (not yet subscribed).
pub(crate) fn create(config: &WorkerConfig) -> Result<Kafka, KafkaError> {
    let consumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("client.id", &config.worker_id)
        // Offsets are committed by the writing side once their batch is in PostgreSQL, never by a timer.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (config.session_timeout.as_millis() / 3)
                .max(100)
                .to_string(),
        )
        .set("fetch.wait.max.ms", FETCH_WAIT.as_millis().to_string())
        // The statistics give the lag per partition that the metrics and the control plane read.
        .set("statistics.interval.ms", "1000")
        .create_with_context(OwnershipContext::watching(&config.brokers))?;
    Ok(Arc::new(consumer))
}
