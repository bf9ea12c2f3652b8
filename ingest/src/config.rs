//! Ingest's settings.

use pacer_pipeline::Pipeline;
use std::sync::Arc;
use std::time::Duration;

/// What ingest needs to run; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Kafka bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// The topic events are produced to.
    pub topic: String,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a request may take to send its body before it is refused.
    pub body_timeout: Duration,
    /// How long the producer keeps trying to deliver an event before the request fails with 503.
    pub delivery_timeout: Duration,
    /// How long the producer waits to fill a Kafka batch (librdkafka `linger.ms`).
    pub linger: Duration,
    /// Requests handled at once; more get 503 at once, which bounds memory to about this many bodies.
    pub max_in_flight: usize,
    /// Ingest's metrics.
    pub metrics: crate::IngestMetrics,
    /// The registry `GET /metrics` shows, if any (the process's, with ingest's metrics in it).
    pub registry: Option<pacer_telemetry::Registry>,
    /// The pipeline file, loaded with its schemas: an event whose route (for `topic`) has a JSON Schema
    /// is refused (422) unless its data matches it. `None`: no data is checked.
    pub pipeline: Option<Arc<Pipeline>>,
}

impl IngestConfig {
    /// Defaults that suit a local stack.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            max_body_bytes: 4 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(10),
            linger: Duration::from_millis(1),
            max_in_flight: 256,
            metrics: crate::IngestMetrics::new(),
            registry: None,
            pipeline: None,
        }
    }
}
