//! What ingest measures for Prometheus. The names are here and nowhere else.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// The metric names.
pub mod names {
    /// Requests to `POST /v1/events`, by response status.
    pub const REQUESTS: &str = "pacer_ingest_requests_total";
    /// Events acknowledged by the broker and answered with 202.
    pub const EVENTS_ACCEPTED: &str = "pacer_ingest_events_accepted_total";
    /// Request body bytes read.
    pub const REQUEST_BYTES: &str = "pacer_ingest_request_bytes_total";
    /// From the first event sent to the producer to the last acknowledgement (or the failure), per request.
    pub const PRODUCE_DURATION: &str = "pacer_ingest_produce_duration_seconds";
    /// Events in the producer not yet acknowledged by the broker.
    pub const PRODUCER_QUEUE: &str = "pacer_ingest_producer_queue_events";
}

/// Ingest's metrics; they count whether or not they are registered anywhere.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    pub(crate) requests: IntCounterVec,
    pub(crate) events_accepted: IntCounter,
    pub(crate) request_bytes: IntCounter,
    pub(crate) produce_duration: HistogramVec,
    pub(crate) producer_queue: IntGauge,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl IngestMetrics {
    /// Fresh metrics, registered nowhere yet.
    pub fn new() -> Self {
        #[allow(clippy::expect_used, reason = "constant, valid names and buckets")]
        Self {
            requests: IntCounterVec::new(
                Opts::new(names::REQUESTS, "Requests to POST /v1/events, by response status."),
                &["status"],
            )
            .expect("valid metric"),
            events_accepted: IntCounter::new(
                names::EVENTS_ACCEPTED,
                "Events acknowledged by the broker and answered with 202.",
            )
            .expect("valid metric"),
            request_bytes: IntCounter::new(names::REQUEST_BYTES, "Request body bytes read.")
                .expect("valid metric"),
            produce_duration: HistogramVec::new(
                HistogramOpts::new(
                    names::PRODUCE_DURATION,
                    "From the first event handed to the producer to the broker's last acknowledgement, or to the \
                     failure, per request; by outcome (ok, error). A request whose client went away is not counted.",
                )
                .buckets(prometheus::exponential_buckets(0.0005, 1.5, 30).expect("valid buckets")),
                &["outcome"],
            )
            .expect("valid metric"),
            producer_queue: IntGauge::new(
                names::PRODUCER_QUEUE,
                "Events in the producer not yet acknowledged by the broker.",
            )
            .expect("valid metric"),
        }
        .prefill()
    }

    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.events_accepted.clone()))?;
        registry.register(Box::new(self.request_bytes.clone()))?;
        registry.register(Box::new(self.produce_duration.clone()))?;
        registry.register(Box::new(self.producer_queue.clone()))?;
        Ok(())
    }

    /// The statuses ingest answers with; their series exist from the start at zero, so that the first one
    /// of a kind shows in rate() and increase().
    const STATUSES: [&str; 8] = ["202", "400", "408", "413", "415", "422", "500", "503"];

    /// Makes the series that should exist before anything happened.
    fn prefill(self) -> Self {
        for status in Self::STATUSES {
            self.requests.with_label_values(&[status]);
        }
        for outcome in ["ok", "error"] {
            self.produce_duration.with_label_values(&[outcome]);
        }
        self
    }

    /// Counts a request's answer.
    pub(crate) fn answered(&self, status: axum::http::StatusCode) {
        self.requests.with_label_values(&[status.as_str()]).inc();
    }
}
