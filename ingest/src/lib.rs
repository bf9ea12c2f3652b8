//! HTTP ingestion: `POST /v1/events` takes CloudEvents and produces them to Kafka, and answers `202` only once
//! the broker has acknowledged every event of the request. With a pipeline file, an event whose route has a
//! JSON Schema is refused (`422`, and nothing of its request produced) unless its data matches it.
#![forbid(unsafe_code)]

mod config;
mod error;
mod health;
mod producer;
mod routes;
mod schema;
mod telemetry;

pub use config::IngestConfig;
pub use error::ApiError;
pub use producer::{EventProducer, ProduceError};
pub use routes::router;
pub use schema::{DataError, DataRefused, check_events};
pub use telemetry::{IngestMetrics, names as metric_names};

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Errors that stop ingest from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Kafka producer could not be created (a bad setting, not an unreachable broker).
    #[error("cannot create the Kafka producer")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// The HTTP server failed.
    #[error("HTTP server error")]
    Serve(#[from] std::io::Error),
}

/// Serves ingest on `listener` until `shutdown` completes, then flushes the producer.
pub async fn serve(
    config: IngestConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let producer = Arc::new(EventProducer::new(&config)?);
    let (ready, probe) = health::spawn_probe(producer.clone(), config.topic.clone());
    let mut app = router(routes::AppState::new(producer.clone(), ready, &config));
    if let Some(registry) = config.registry.clone() {
        app = app.merge(pacer_telemetry::routes(registry));
    }
    match listener.local_addr() {
        Ok(address) => tracing::info!(%address, topic = %config.topic, "ingest is listening"),
        Err(e) => {
            tracing::info!(error = %e, topic = %config.topic, "ingest is listening (its address is unknown)")
        }
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    probe.abort();
    served?;
    producer.flush();
    tracing::info!("ingest stopped");
    Ok(())
}
