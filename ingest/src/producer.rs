//! The Kafka side of ingest: an idempotent producer with `acks=all` that reports success only for events the
//! broker acknowledged.

use crate::config::IngestConfig;
use futures::future::join_all;
use pacer_event::CloudEvent;
use pacer_kafka::{BrokerWatch, WatchedContext};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Why a request's events were not all acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The producer's local queue is full: the broker is slower than the clients.
    #[error("the producer queue is full; retry later")]
    QueueFull,
    /// The broker did not acknowledge an event in time, or refused it.
    #[error("the broker did not acknowledge the events: {0}")]
    Broker(KafkaError),
    /// An event is larger than the broker takes; nothing of the request was produced.
    #[error(
        "event {index} is {bytes} bytes encoded; the largest event the broker takes is {limit} bytes"
    )]
    EventTooLarge {
        /// Its index in the request.
        index: usize,
        /// Its encoded size (payload and key).
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// An event could not be encoded (a bug: validation should have refused it).
    #[error("an event could not be encoded")]
    Encode(#[from] serde_json::Error),
}

/// The producer's `message.max.bytes` (librdkafka's default, and Kafka's broker default).
const MESSAGE_MAX_BYTES: usize = 1_000_000;

/// The largest event (encoded payload and key) ingest produces: the message limit less room for the record's
/// framing and headers, so that an event that passes is never refused by the producer.
pub const MAX_EVENT_BYTES: usize = MESSAGE_MAX_BYTES - 4096;

/// A shared idempotent Kafka producer for one topic.
pub struct EventProducer {
    producer: FutureProducer<WatchedContext>,
    brokers: Arc<BrokerWatch>,
    topic: String,
    metrics: crate::IngestMetrics,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// Creates the producer; it connects lazily.
    pub fn new(config: &IngestConfig) -> Result<Self, KafkaError> {
        let brokers = Arc::new(BrokerWatch::new(&config.brokers));
        let producer: FutureProducer<WatchedContext> = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", config.linger.as_millis().to_string())
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            )
            .set("queue.buffering.max.messages", "200000")
            .set("message.max.bytes", MESSAGE_MAX_BYTES.to_string())
            .set("client.id", "pacer-ingest")
            // The statistics tell the broker watch when a broker is up again after an outage.
            .set("statistics.interval.ms", "1000")
            .create_with_context(WatchedContext(brokers.clone()))?;
        Ok(Self {
            producer,
            brokers,
            topic: config.topic.clone(),
            metrics: config.metrics.clone(),
        })
    }

    /// Produces every event and waits until the broker has acknowledged all of them. Each record's
    /// timestamp is `received_at`, when ingest received the request: the worker measures freshness (receipt
    /// to commit) from it.
    ///
    /// On error some events may already be in the broker; a client that retries the request is safe, because
    /// the worker keeps exactly one row per `(source, id)`.
    pub async fn produce_all(
        &self,
        events: &[CloudEvent],
        received_at: OffsetDateTime,
    ) -> Result<usize, ProduceError> {
        // Timed by hand: a request dropped midway (its client went away) records nothing.
        let started = std::time::Instant::now();
        let received_ms = i64::try_from(received_at.unix_timestamp_nanos() / 1_000_000).ok();
        let result = self.send_and_wait(events, received_ms).await;
        self.publish_queue_depth();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .produce_duration
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Sets the queue-depth gauge to the events not yet acknowledged.
    pub(crate) fn publish_queue_depth(&self) {
        self.metrics
            .producer_queue
            .set(i64::from(self.producer.in_flight_count()));
    }

    async fn send_and_wait(
        &self,
        events: &[CloudEvent],
        received_ms: Option<i64>,
    ) -> Result<usize, ProduceError> {
        // Every event is encoded and measured before any is sent: a request with one event too large is
        // refused whole, not half produced.
        let mut encoded = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let payload = event.to_json()?;
            let bytes = payload.len() + event.partition_key().map_or(0, str::len);
            if bytes > MAX_EVENT_BYTES {
                return Err(ProduceError::EventTooLarge {
                    index,
                    bytes,
                    limit: MAX_EVENT_BYTES,
                });
            }
            encoded.push(payload);
        }
        let mut deliveries = Vec::with_capacity(events.len());
        for (event, payload) in events.iter().zip(&encoded) {
            let mut record = FutureRecord::<str, [u8]>::to(&self.topic).payload(payload);
            if let Some(ms) = received_ms {
                record = record.timestamp(ms);
            }
            if let Some(key) = event.partition_key() {
                record = record.key(key);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(ProduceError::QueueFull);
                }
                Err((e, _)) => return Err(ProduceError::Broker(e)),
            }
        }
        for outcome in join_all(deliveries).await {
            match outcome {
                Ok(Ok(_delivery)) => {}
                Ok(Err((e, _message))) => return Err(ProduceError::Broker(e)),
                Err(_canceled) => return Err(ProduceError::Broker(KafkaError::Canceled)),
            }
        }
        Ok(events.len())
    }

    /// True if the broker answers a metadata request for the topic within `timeout`, and the producer has not
    /// hit a fatal error (after which an idempotent producer refuses every event). Blocking.
    pub fn probe(&self, timeout: Duration) -> bool {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::error!(%code, %reason, "the Kafka producer hit a fatal error; ingest must be restarted");
            return false;
        }
        match self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))
        {
            Ok(metadata) => metadata
                .topics()
                .iter()
                .any(|t| t.error().is_none() && !t.partitions().is_empty())
                .then(|| self.brokers.up())
                .is_some(),
            Err(_) => false,
        }
    }

    /// Waits (up to 10 s) for queued events to be delivered.
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(Timeout::After(Duration::from_secs(10))) {
            tracing::warn!(error = %e, "producer flush at shutdown did not complete");
        }
    }
}
