//! The JSON errors of the HTTP API: each names what is wrong, with the status that fits it.

use crate::producer::ProduceError;
use crate::schema::{DataError, DataRefused};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pacer_event::{EventError, Problem};
use serde::Serialize;

/// Seconds a client is told to wait before retrying a 503.
const RETRY_AFTER_SECS: u64 = 1;

/// An error answer of the ingest API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not an acceptable set of CloudEvents (400 or 422).
    #[error(transparent)]
    Event(#[from] EventError),
    /// An event's data does not match its route's JSON Schema (422); nothing of the request was produced.
    #[error(transparent)]
    Data(#[from] DataRefused),
    /// The body is larger than the configured limit (413).
    #[error("the request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The content type is not one of the CloudEvents JSON forms (415).
    #[error(
        "unsupported content type {got:?}; use application/cloudevents+json, application/json, application/cloudevents-batch+json or application/x-ndjson"
    )]
    UnsupportedMediaType { got: String },
    /// The body did not arrive in time (408).
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    /// The body could not be read (400).
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    /// The broker is unreachable (503).
    #[error("the broker is unreachable; retry later")]
    NotReady,
    /// Too many requests are being handled already (503).
    #[error("ingest is handling {limit} requests already; retry later")]
    Busy { limit: usize },
    /// The broker did not take the events (503).
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, Default)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    /// For a schema violation: the route, and where in the event and by which keyword it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyword: Option<&'a str>,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Event(e) if e.is_syntax() => StatusCode::BAD_REQUEST,
            ApiError::Event(_) | ApiError::Data(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::Produce(ProduceError::Encode(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Produce(ProduceError::EventTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotReady | ApiError::Busy { .. } | ApiError::Produce(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Event(e) => e.code(),
            ApiError::Data(DataRefused {
                error: DataError::Violation(_),
                ..
            }) => "schema_violation",
            ApiError::Data(DataRefused {
                error: DataError::Uncheckable { .. },
                ..
            }) => "data_uncheckable",
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::BodyRead(_) => "body_unreadable",
            ApiError::NotReady => "broker_unavailable",
            ApiError::Busy { .. } => "too_many_requests",
            ApiError::Produce(ProduceError::QueueFull) => "producer_queue_full",
            ApiError::Produce(ProduceError::Broker(_)) => "broker_unavailable",
            ApiError::Produce(ProduceError::Encode(_)) => "internal_error",
            ApiError::Produce(ProduceError::EventTooLarge { .. }) => "event_too_large",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut detail = ErrorDetail {
            code: self.code(),
            message: self.to_string(),
            ..ErrorDetail::default()
        };
        match &self {
            ApiError::Event(e) => {
                detail.attribute = e.attribute();
                detail.index = e.index;
                if let Problem::Syntax { line, column, .. } = &e.problem {
                    (detail.line, detail.column) = (Some(*line), Some(*column));
                }
            }
            ApiError::Data(refused) => {
                detail.index = Some(refused.index);
                match &refused.error {
                    DataError::Violation(violation) => {
                        detail.route = Some(&violation.route);
                        detail.pointer = Some(&violation.pointer);
                        detail.keyword = Some(&violation.keyword);
                    }
                    DataError::Uncheckable { route, .. } => detail.route = Some(route),
                }
            }
            ApiError::Produce(ProduceError::EventTooLarge { index, .. }) => {
                detail.index = Some(*index);
            }
            _ => {}
        }
        let body = ErrorBody { error: detail };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
