//! The HTTP routes: `POST /v1/events`, `GET /healthz`, `GET /readyz`.

use crate::config::IngestConfig;
use crate::error::ApiError;
use crate::health::Readiness;
use crate::producer::EventProducer;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use pacer_event::{BodyFormat, parse_body};
use pacer_pipeline::Pipeline;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    producer: Arc<EventProducer>,
    ready: Readiness,
    max_body_bytes: usize,
    body_timeout: Duration,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    metrics: crate::IngestMetrics,
    /// The pipeline whose schemas events are checked against; `None` when no route has a schema.
    pipeline: Option<Arc<Pipeline>>,
    topic: String,
}

impl AppState {
    pub(crate) fn new(
        producer: Arc<EventProducer>,
        ready: Readiness,
        config: &IngestConfig,
    ) -> Self {
        Self {
            producer,
            ready,
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            max_in_flight: config.max_in_flight,
            metrics: config.metrics.clone(),
            pipeline: config
                .pipeline
                .clone()
                .filter(|pipeline| crate::schema::checks_any(pipeline)),
            topic: config.topic.clone(),
        }
    }
}

/// The ingest router.
pub fn router(state: AppState) -> Router {
    let counted = axum::middleware::from_fn_with_state(state.metrics.clone(), count_answer);
    Router::new()
        .route("/v1/events", post(post_events).route_layer(counted))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Counts every answer to `POST /v1/events` by status, errors included.
async fn count_answer(
    State(metrics): State<crate::IngestMetrics>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    metrics.answered(response.status());
    response
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable")
    }
}

async fn post_events(
    State(state): State<AppState>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let received_at = OffsetDateTime::now_utc();
    let _permit = state
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy {
            limit: state.max_in_flight,
        })?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let format = BodyFormat::from_content_type(&content_type)
        .ok_or(ApiError::UnsupportedMediaType { got: content_type })?;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > state.max_body_bytes) {
        return Err(ApiError::TooLarge {
            limit: state.max_body_bytes,
        });
    }
    let body = read_body(
        request.into_body(),
        state.max_body_bytes,
        state.body_timeout,
    )
    .await?;
    state.metrics.request_bytes.inc_by(body.len() as u64);
    let events = parse_body(format, &body, received_at)?;
    // Every event is checked before any is produced: a request is refused whole, never half produced.
    if let Some(pipeline) = &state.pipeline {
        crate::schema::check_events(&events, pipeline, &state.topic)?;
    }
    if !state.ready.is_ready() {
        return Err(ApiError::NotReady);
    }
    let accepted = state.producer.produce_all(&events, received_at).await?;
    state.metrics.events_accepted.inc_by(accepted as u64);
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "accepted": accepted })),
    ))
}

async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<bytes::Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_elapsed) => Err(ApiError::BodyTimeout {
            secs: timeout.as_secs(),
        }),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(ApiError::TooLarge { limit }),
        Ok(Err(e)) => Err(ApiError::BodyRead(e.to_string())),
    }
}

/// axum reports an over-long body as an error whose source chain holds `LengthLimitError`.
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// The router over a producer that never connects (nothing listens on port 1) and a broker not ready.
    fn app(metrics: &crate::IngestMetrics) -> Router {
        app_with(metrics, None)
    }

    fn app_with(metrics: &crate::IngestMetrics, pipeline: Option<Pipeline>) -> Router {
        let mut config = IngestConfig::new("127.0.0.1:1", "events");
        config.metrics = metrics.clone();
        config.pipeline = pipeline.map(Arc::new);
        let producer = Arc::new(EventProducer::new(&config).unwrap());
        router(AppState::new(producer, Readiness::default(), &config))
    }

    async fn post(app: Router, content_type: &str, body: &'static str) -> StatusCode {
        post_for_body(app, content_type, body).await.0
    }

    async fn post_for_body(
        app: Router,
        content_type: &str,
        body: &'static str,
    ) -> (StatusCode, serde_json::Value) {
        let request = Request::post("/v1/events")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// `orders` (type `shop.*`) checks `amount >= 0`.
    fn checked_pipeline(dir: &tempfile::TempDir) -> Pipeline {
        let schema = r#"{ "properties": { "amount": { "type": "number", "minimum": 0 } } }"#;
        std::fs::write(dir.path().join("order.json"), schema).unwrap();
        let file = dir.path().join("pacer.toml");
        std::fs::write(
            &file,
            "[[route]]\nname = \"orders\"\ntype = \"shop.*\"\ntable = \"orders\"\nschema = \"order.json\"\n",
        )
        .unwrap();
        Pipeline::from_file(&file).unwrap()
    }

    #[tokio::test]
    async fn a_schema_violation_is_a_422_naming_the_event_and_produces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = crate::IngestMetrics::new();
        let batch = r#"[
            {"specversion":"1.0","id":"1","source":"/s","type":"shop.order","data":{"amount":1}},
            {"specversion":"1.0","id":"2","source":"/s","type":"shop.order","data":{"amount":-1}}
        ]"#;
        let app = app_with(&metrics, Some(checked_pipeline(&dir)));
        let (status, body) =
            post_for_body(app.clone(), "application/cloudevents-batch+json", batch).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            serde_json::json!({ "error": {
                "code": "schema_violation",
                "message": "event 1: data does not match the schema of route \"orders\": /data/amount: minimum: -1 is less than the minimum of 0",
                "index": 1,
                "route": "orders",
                "pointer": "/data/amount",
                "keyword": "minimum",
            }})
        );
        // Valid data passes the check, then waits for the broker like any event.
        let good = r#"{"specversion":"1.0","id":"1","source":"/s","type":"shop.order","data":{"amount":1}}"#;
        assert_eq!(
            post(app, "application/cloudevents+json", good).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(metrics.events_accepted.get(), 0);
        let count = |status: &str| metrics.requests.with_label_values(&[status]).get();
        assert_eq!((count("422"), count("503")), (1, 1));
    }

    #[tokio::test]
    async fn every_answer_is_counted_once_by_status_and_bytes_only_when_read() {
        let metrics = crate::IngestMetrics::new();
        let event = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
        assert_eq!(
            post(app(&metrics), "text/plain", event).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            post(app(&metrics), "application/cloudevents+json", "{").await,
            StatusCode::BAD_REQUEST
        );
        // Parsed, but the broker is not ready.
        assert_eq!(
            post(app(&metrics), "application/cloudevents+json", event).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let count = |status: &str| metrics.requests.with_label_values(&[status]).get();
        assert_eq!((count("415"), count("400"), count("503")), (1, 1, 1));
        assert_eq!(count("202"), 0);
        // The 415's body was never read; the other two were.
        assert_eq!(metrics.request_bytes.get(), 1 + event.len() as u64);
        assert_eq!(metrics.events_accepted.get(), 0);
    }
}
