//! Prometheus exposition for every pacer process: one [`Registry`] per process with the process metrics
//! (CPU seconds, resident memory, open file descriptors, start time) registered, the text encoding, and a
//! small HTTP server for `GET /metrics`. What each component measures, and the names, live in that
//! component's crate.
#![forbid(unsafe_code)]

pub use prometheus::Registry;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use tokio::net::TcpListener;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the metrics endpoint could not run.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A metric could not be registered (a name clash: a bug).
    #[error("cannot register a metric")]
    Register(#[from] prometheus::Error),
    /// The HTTP server failed.
    #[error("metrics HTTP server error")]
    Serve(#[from] std::io::Error),
}

/// A registry with the process metrics in it.
pub fn registry() -> Result<Registry, TelemetryError> {
    let registry = Registry::new();
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// Everything in `registry`, in the text exposition format.
pub fn render(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut out = String::new();
    prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out)?;
    Ok(out)
}

/// `GET /metrics`, as a route to merge into a router of its own.
pub fn routes(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
}

async fn metrics(State(registry): State<Registry>) -> axum::response::Response {
    match render(&registry) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        // An empty 200 would look like a healthy target with no series.
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the metrics: {e}"),
            )
                .into_response()
        }
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    registry: Registry,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    tracing::info!(address = ?listener.local_addr().ok(), "serving Prometheus metrics on /metrics");
    axum::serve(listener, routes(registry))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_the_process_metrics() {
        let text = render(&registry().unwrap()).unwrap();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
