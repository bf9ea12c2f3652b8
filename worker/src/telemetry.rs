//! What workers measure for Prometheus. One [`WorkerMetrics`] serves every worker of a process, labelled by
//! worker id (a bounded set: the workers of the process); the names are here and nowhere else.

use crate::ownership::OwnershipContext;
use crate::report::BatchReport;
use pacer_batch::Flush;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The metric names.
pub mod names {
    /// Batches written, by flush reason.
    pub const BATCHES: &str = "pacer_worker_batches_total";
    /// Records consumed.
    pub const RECORDS: &str = "pacer_worker_records_total";
    /// Rows written (inserted, replaced or deleted) in every route's table.
    pub const ROWS_WRITTEN: &str = "pacer_worker_rows_written_total";
    /// Key and payload bytes of the records consumed.
    pub const BYTES: &str = "pacer_worker_bytes_total";
    /// Records that became dead letters.
    pub const DEAD_LETTERS: &str = "pacer_worker_dead_letters_total";
    /// Transform, write and commit time per batch.
    pub const BATCH_DURATION: &str = "pacer_worker_batch_duration_seconds";
    /// Time per batch stage (poll, transform, write, commit).
    pub const STAGE_DURATION: &str = "pacer_worker_batch_stage_duration_seconds";
    /// The batch interval in force.
    pub const INTERVAL: &str = "pacer_worker_interval_seconds";
    /// The max rows in force.
    pub const MAX_ROWS: &str = "pacer_worker_max_rows";
    /// Records behind the end of each owned (topic, partition).
    pub const LAG: &str = "pacer_worker_lag_records";
    /// Written minus event time, per event.
    pub const E2E_LATENCY: &str = "pacer_worker_e2e_latency_seconds";
    pub const RECEIPT_TO_COMMIT: &str = "pacer_worker_receipt_to_commit_seconds";
    /// Rows of `batch_metrics` dropped: the writer's queue was full, or PostgreSQL kept failing.
    pub const BATCH_METRICS_DROPPED: &str = "pacer_worker_batch_metrics_dropped_total";
    /// Rows written per route of the pipeline file (inserted, replaced or deleted).
    pub const ROUTE_ROWS: &str = "pacer_worker_route_rows_total";
    /// Dead letters per route (`route="-"`: records that reached no route).
    pub const ROUTE_DEAD_LETTERS: &str = "pacer_worker_route_dead_letters_total";
}

/// Every worker's metrics in one process; they count whether or not they are registered anywhere.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    batches: IntCounterVec,
    records: IntCounterVec,
    rows_written: IntCounterVec,
    bytes: IntCounterVec,
    dead_letters: IntCounterVec,
    batch_duration: HistogramVec,
    stage_duration: HistogramVec,
    interval: GaugeVec,
    max_rows: IntGaugeVec,
    lag: LagCollector,
    e2e_latency: HistogramVec,
    receipt_to_commit: HistogramVec,
    batch_metrics_dropped: IntCounterVec,
    route_rows: IntCounterVec,
    route_dead_letters: IntCounterVec,
}

/// Lag per owned (topic, partition), read from each running worker's consumer when Prometheus scrapes: it stays
/// true while a worker is paused, idle or stuck on PostgreSQL (no batch is written then), and a partition a
/// worker no longer owns disappears from its series at once.
#[derive(Debug, Clone)]
struct LagCollector {
    gauge: IntGaugeVec,
    sources: Arc<Mutex<BTreeMap<String, Arc<OwnershipContext>>>>,
}

impl Collector for LagCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // The lock also keeps two scrapes from filling the gauge at once.
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.gauge.reset();
        for (worker, context) in sources.iter() {
            for lag in context.lag() {
                self.gauge
                    .with_label_values(&[worker, &lag.topic, &lag.partition.to_string()])
                    .set(lag.lag);
            }
        }
        self.gauge.collect()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// 1 ms to about 85 s, growing by half each: fine enough that p50 and p99 follow the interval changes the
/// policy makes (doubling buckets would blur them up to twofold).
fn latency_buckets() -> Vec<f64> {
    #[allow(clippy::expect_used, reason = "constant, valid buckets")]
    prometheus::exponential_buckets(0.001, 1.5, 29).expect("valid buckets")
}

impl WorkerMetrics {
    /// Fresh metrics, registered nowhere yet.
    pub fn new() -> Self {
        #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(latency_buckets()),
                labels,
            )
            .expect("valid metric")
        };
        Self {
            batches: counter(
                names::BATCHES,
                "Batches written, by the limit that closed them.",
                &["worker", "flush_reason"],
            ),
            records: counter(names::RECORDS, "Records consumed.", &["worker"]),
            rows_written: counter(
                names::ROWS_WRITTEN,
                "Rows written (inserted, replaced or deleted) in every route's table.",
                &["worker"],
            ),
            bytes: counter(
                names::BYTES,
                "Key and payload bytes of the records consumed.",
                &["worker"],
            ),
            dead_letters: counter(
                names::DEAD_LETTERS,
                "Records that became dead letters.",
                &["worker"],
            ),
            batch_duration: histogram(
                names::BATCH_DURATION,
                "Transform, write and commit time of a batch.",
                &["worker"],
            ),
            stage_duration: histogram(
                names::STAGE_DURATION,
                "Time of each stage of a batch: poll (collecting), transform, write, commit.",
                &["worker", "stage"],
            ),
            interval: GaugeVec::new(
                Opts::new(
                    names::INTERVAL,
                    "The batch interval the last batch was collected under, in seconds.",
                ),
                &["worker"],
            )
            .expect("valid metric"),
            max_rows: gauge(
                names::MAX_ROWS,
                "The max rows the last batch was collected under.",
                &["worker"],
            ),
            lag: LagCollector {
                gauge: gauge(
                    names::LAG,
                    "Records behind the end of each partition the worker owns, as its consumer knows now.",
                    &["worker", "topic", "partition"],
                ),
                sources: Arc::default(),
            },
            e2e_latency: histogram(
                names::E2E_LATENCY,
                "End-to-end latency of each valid event: its batch finished minus its event time.",
                &["worker"],
            ),
            receipt_to_commit: histogram(
                names::RECEIPT_TO_COMMIT,
                "Freshness of each valid event: the commit of its row minus its receipt (its record's timestamp; for an event from pacer's ingest, the receipt of its request).",
                &["worker"],
            ),
            batch_metrics_dropped: counter(
                names::BATCH_METRICS_DROPPED,
                "Rows of batch_metrics dropped because its writer's queue was full or PostgreSQL kept failing.",
                &["worker"],
            ),
            // By route only: routes are few and named in the file; the worker label would multiply them.
            route_rows: counter(
                names::ROUTE_ROWS,
                "Rows written per route of the pipeline file (inserted, replaced or deleted).",
                &["route"],
            ),
            route_dead_letters: counter(
                names::ROUTE_DEAD_LETTERS,
                "Dead letters per route of the pipeline file; route=\"-\" for records that reached no route.",
                &["route"],
            ),
        }
    }

    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.batches.clone()))?;
        registry.register(Box::new(self.records.clone()))?;
        registry.register(Box::new(self.rows_written.clone()))?;
        registry.register(Box::new(self.bytes.clone()))?;
        registry.register(Box::new(self.dead_letters.clone()))?;
        registry.register(Box::new(self.batch_duration.clone()))?;
        registry.register(Box::new(self.stage_duration.clone()))?;
        registry.register(Box::new(self.interval.clone()))?;
        registry.register(Box::new(self.max_rows.clone()))?;
        registry.register(Box::new(self.lag.clone()))?;
        registry.register(Box::new(self.e2e_latency.clone()))?;
        registry.register(Box::new(self.receipt_to_commit.clone()))?;
        registry.register(Box::new(self.batch_metrics_dropped.clone()))?;
        registry.register(Box::new(self.route_rows.clone()))?;
        registry.register(Box::new(self.route_dead_letters.clone()))?;
        Ok(())
    }

    /// Makes a worker's series exist from its start (at zero), so that rates and panels have data before
    /// the first batch, and follows its consumer's lag from now on.
    pub(crate) fn start(&self, worker: &str, consumer: Arc<OwnershipContext>) {
        for metric in [
            &self.records,
            &self.rows_written,
            &self.bytes,
            &self.dead_letters,
            &self.batch_metrics_dropped,
        ] {
            metric.with_label_values(&[worker]);
        }
        for reason in Flush::ALL {
            self.batches.with_label_values(&[worker, reason.as_str()]);
        }
        self.lag_sources().insert(worker.to_owned(), consumer);
    }

    fn lag_sources(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<OwnershipContext>>> {
        self.lag
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one written batch and the end-to-end latency of each of its valid events: `latencies` run to
    /// when the rows were stamped; `written_after` (stamp to commit) is added to each, so that the figure is
    /// written (committed) minus event time.
    pub(crate) fn batch(
        &self,
        report: &BatchReport,
        latencies: &[time::Duration],
        written_after: time::Duration,
    ) {
        let worker = report.worker_id.as_str();
        self.batches
            .with_label_values(&[worker, report.flush_reason.as_str()])
            .inc();
        self.records
            .with_label_values(&[worker])
            .inc_by(report.records as u64);
        self.rows_written
            .with_label_values(&[worker])
            .inc_by(report.rows_written);
        self.bytes
            .with_label_values(&[worker])
            .inc_by(report.bytes as u64);
        self.dead_letters
            .with_label_values(&[worker])
            .inc_by(report.invalid as u64);
        let processing = report.transform + report.write + report.commit;
        self.batch_duration
            .with_label_values(&[worker])
            .observe(processing.as_secs_f64());
        for (stage, took) in [
            ("poll", report.poll),
            ("transform", report.transform),
            ("write", report.write),
            ("commit", report.commit),
        ] {
            self.stage_duration
                .with_label_values(&[worker, stage])
                .observe(took.as_secs_f64());
        }
        self.interval
            .with_label_values(&[worker])
            .set(report.settings.interval.as_secs_f64());
        self.max_rows
            .with_label_values(&[worker])
            .set(i64::try_from(report.settings.max_rows).unwrap_or(i64::MAX));
        for route in &report.routes {
            self.route_rows
                .with_label_values(&[&route.route])
                .inc_by(route.rows);
            self.route_dead_letters
                .with_label_values(&[&route.route])
                .inc_by(route.dead_letters);
        }
        let e2e = self.e2e_latency.with_label_values(&[worker]);
        let written_after = written_after.as_seconds_f64().max(0.0);
        for latency in latencies {
            e2e.observe(latency.as_seconds_f64().max(0.0) + written_after);
        }
    }

    /// Observes the freshness of each valid event of a batch: `committed_at` minus its receipt.
    pub(crate) fn freshness(
        &self,
        worker: &str,
        receipts: &[OffsetDateTime],
        committed_at: OffsetDateTime,
    ) {
        let histogram = self.receipt_to_commit.with_label_values(&[worker]);
        for receipt in receipts {
            histogram.observe((committed_at - *receipt).as_seconds_f64().max(0.0));
        }
    }

    /// Counts rows of `batch_metrics` that a worker had to drop.
    pub(crate) fn batch_metrics_dropped(&self, worker: &str, rows: u64) {
        self.batch_metrics_dropped
            .with_label_values(&[worker])
            .inc_by(rows);
    }

    /// Stops following a worker's lag: it has stopped, and its partitions are someone else's.
    pub(crate) fn stop(&self, worker: &str) {
        self.lag_sources().remove(worker);
    }
}
