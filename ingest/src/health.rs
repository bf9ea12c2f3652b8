//! Readiness: a background probe of the broker, so that `GET /readyz` and `POST /v1/events` answer at once.

use crate::producer::EventProducer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the broker answered the latest probe.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// True while the broker is reachable and has the topic.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Starts probing the broker every second; the probe stops when the returned handle is aborted.
pub fn spawn_probe(
    producer: Arc<EventProducer>,
    topic: String,
) -> (Readiness, tokio::task::JoinHandle<()>) {
    let readiness = Readiness::default();
    let flag = readiness.0.clone();
    let task = tokio::spawn(async move {
        loop {
            producer.publish_queue_depth();
            let p = producer.clone();
            let up = tokio::task::spawn_blocking(move || p.probe(PROBE_TIMEOUT))
                .await
                .unwrap_or(false);
            if flag.swap(up, Ordering::Relaxed) != up {
                if up {
                    tracing::info!(%topic, "broker is reachable; ingest is ready");
                } else {
                    tracing::warn!(%topic, "broker is unreachable or lacks the topic; ingest answers 503");
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    });
    (readiness, task)
}
