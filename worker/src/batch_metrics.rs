//! The `batch_metrics` table, one row per written batch, filled by a background task: the data path never
//! waits for its own bookkeeping.
//!
//! The batch loop hands each report to a [`MetricsWriter`] and goes on. The writer's queue is bounded: a row
//! that does not fit is dropped and counted ([`crate::metric_names::BATCH_METRICS_DROPPED`]). The task writes
//! whatever has piled up in one `INSERT … SELECT FROM UNNEST`, retries a failed insert a few times (PostgreSQL
//! away), then drops those rows too, with the same count. A warning says when rows start being dropped and a
//! note when they are written again: one line per change, not one per row. When the last [`MetricsWriter`]
//! is gone the task writes what it still holds and ends; the worker awaits it before it returns, so that what
//! a stopped worker did is in the table.

use crate::WorkerMetrics;
use crate::report::BatchReport;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Rows waiting for the writer. A worker writes a few batches a second at most, so this is minutes of rows
/// while PostgreSQL is slow or away.
const QUEUE: usize = 1024;

/// Rows written in one statement at most.
const PER_STATEMENT: usize = 256;

/// Tries of one insert before its rows are dropped.
const ATTEMPTS: u32 = 4;

/// The wait after the first failed try; it doubles after each.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Hands batch reports to the writer of `batch_metrics`; never waits.
#[derive(Debug, Clone)]
pub(crate) struct MetricsWriter {
    queue: mpsc::Sender<BatchReport>,
    drops: Arc<Drops>,
}

impl MetricsWriter {
    /// Starts the writer task for one worker. It ends once every clone of the returned writer is dropped and
    /// what it held is written (or dropped, if PostgreSQL is failing); after `stop` it no longer waits to
    /// retry a failed insert.
    pub(crate) fn spawn(
        pool: PgPool,
        worker_id: &str,
        metrics: WorkerMetrics,
        stop: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let (writer, queue) = Self::new(QUEUE, worker_id, metrics);
        let task = tokio::spawn(write_loop(pool, queue, writer.drops.clone(), stop));
        (writer, task)
    }

    fn new(
        capacity: usize,
        worker_id: &str,
        metrics: WorkerMetrics,
    ) -> (Self, mpsc::Receiver<BatchReport>) {
        let (queue, rx) = mpsc::channel(capacity);
        let drops = Arc::new(Drops {
            worker_id: worker_id.to_owned(),
            metrics,
            count: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
        });
        (Self { queue, drops }, rx)
    }

    /// Queues a report's row; if the queue is full, the row is dropped and counted.
    pub(crate) fn record(&self, report: BatchReport) {
        if self.queue.try_send(report).is_err() {
            self.drops.dropped(1, "the queue of rows to write is full");
        }
    }
}

/// What the writer had to drop, shared by the batch loop (a full queue) and the writer task (failed inserts).
#[derive(Debug)]
struct Drops {
    worker_id: String,
    metrics: WorkerMetrics,
    /// Rows dropped so far; the task checks that none were dropped while it wrote before it says that rows
    /// are written again.
    count: AtomicU64,
    /// Whether rows are being dropped now.
    dropping: AtomicBool,
}

impl Drops {
    fn dropped(&self, rows: u64, why: &str) {
        self.count.fetch_add(rows, Ordering::Relaxed);
        self.metrics.batch_metrics_dropped(&self.worker_id, rows);
        if !self.dropping.swap(true, Ordering::Relaxed) {
            tracing::warn!(worker = %self.worker_id, reason = why, "dropping batch_metrics rows; the batches themselves are written and committed as usual");
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// An insert succeeded, and `before` rows had been dropped when it began.
    fn written(&self, before: u64) {
        let now = self.count();
        if now == before && self.dropping.swap(false, Ordering::Relaxed) {
            tracing::info!(worker = %self.worker_id, dropped = now, "batch_metrics rows are written again");
        }
    }
}

/// Writes what the queue holds until every sender is gone and the queue is empty.
async fn write_loop(
    pool: PgPool,
    mut queue: mpsc::Receiver<BatchReport>,
    drops: Arc<Drops>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rows = Vec::with_capacity(PER_STATEMENT);
    // Set when an insert failed after the stop: PostgreSQL is away, and the worker should not wait for it to
    // time out once per statement.
    let mut given_up = false;
    while queue.recv_many(&mut rows, PER_STATEMENT).await > 0 {
        if given_up {
            drops.dropped(
                rows.len() as u64,
                "PostgreSQL failed while the worker stopped",
            );
            rows.clear();
            continue;
        }
        let before = drops.count();
        let mut delay = FIRST_RETRY;
        for attempt in 1.. {
            let error = match insert_all(&pool, &rows).await {
                Ok(()) => {
                    drops.written(before);
                    break;
                }
                Err(e) => e,
            };
            let stopping = *stop.borrow();
            if attempt >= ATTEMPTS || stopping {
                given_up = stopping;
                drops.dropped(rows.len() as u64, &format!("PostgreSQL failed: {error}"));
                break;
            }
            tracing::debug!(error = %error, attempt, "writing batch_metrics rows failed; retrying");
            // A stop ends the wait: one last try now, rather than a worker that lingers.
            let _ = tokio::time::timeout(delay, stop.wait_for(|stop| *stop)).await;
            delay *= 2;
        }
        rows.clear();
    }
}

impl BatchReport {
    /// Inserts the report into `batch_metrics`, now. (A worker hands its reports to a background writer that
    /// inserts many at a time.)
    pub async fn insert(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        insert_all(pool, std::slice::from_ref(self)).await
    }
}

/// Inserts the rows of `reports` in one statement.
async fn insert_all(pool: &PgPool, reports: &[BatchReport]) -> Result<(), sqlx::Error> {
    fn column<T>(reports: &[BatchReport], f: impl Fn(&BatchReport) -> T) -> Vec<T> {
        reports.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO batch_metrics (worker_id, batch_no, started_at, finished_at, records, rows_written, \
         duplicates, invalid, bytes, flush_reason, interval_ms, max_rows, max_bytes, poll_ms, transform_ms, \
         write_ms, commit_ms, write_attempts, lag, e2e_p50_ms, e2e_max_ms, receipt_commit_p50_ms, \
         receipt_commit_p99_ms, receipt_commit_max_ms, receipt_fetch_p50_ms, receipt_fetch_p99_ms, \
         fetch_close_p50_ms, fetch_close_p99_ms) \
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::timestamptz[], $4::timestamptz[], $5::int4[], \
         $6::int4[], $7::int4[], $8::int4[], $9::int8[], $10::text[], $11::int8[], $12::int8[], $13::int8[], \
         $14::float8[], $15::float8[], $16::float8[], $17::float8[], $18::int4[], $19::int8[], $20::float8[], \
         $21::float8[], $22::float8[], $23::float8[], $24::float8[], $25::float8[], $26::float8[], \
         $27::float8[], $28::float8[])",
    )
    .bind(column(reports, |r| r.worker_id.clone()))
    .bind(column(reports, |r| r.batch_no as i64))
    .bind(column(reports, |r| r.started_at))
    .bind(column(reports, |r| r.finished_at))
    .bind(column(reports, |r| r.records as i32))
    .bind(column(reports, |r| r.rows_written as i32))
    .bind(column(reports, |r| r.duplicates as i32))
    .bind(column(reports, |r| r.invalid as i32))
    .bind(column(reports, |r| r.bytes as i64))
    .bind(column(reports, |r| r.flush_reason.as_str()))
    .bind(column(reports, |r| r.settings.interval.as_millis() as i64))
    .bind(column(reports, |r| r.settings.max_rows as i64))
    .bind(column(reports, |r| r.settings.max_bytes as i64))
    .bind(column(reports, |r| ms(r.poll)))
    .bind(column(reports, |r| ms(r.transform)))
    .bind(column(reports, |r| ms(r.write)))
    .bind(column(reports, |r| ms(r.commit)))
    .bind(column(reports, |r| r.write_attempts as i32))
    .bind(column(reports, |r| r.lag))
    .bind(column(reports, |r| r.e2e_p50.map(ms)))
    .bind(column(reports, |r| r.e2e_max.map(ms)))
    .bind(column(reports, |r| r.receipt_to_commit.map(|w| ms(w[0]))))
    .bind(column(reports, |r| r.receipt_to_commit.map(|w| ms(w[1]))))
    .bind(column(reports, |r| r.receipt_to_commit.map(|w| ms(w[2]))))
    .bind(column(reports, |r| r.stages.map(|s| ms(s.receipt_to_fetch[0]))))
    .bind(column(reports, |r| r.stages.map(|s| ms(s.receipt_to_fetch[1]))))
    .bind(column(reports, |r| r.stages.map(|s| ms(s.fetch_to_close[0]))))
    .bind(column(reports, |r| r.stages.map(|s| ms(s.fetch_to_close[1]))))
    .execute(pool)
    .await?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;
    use pacer_batch::{Flush, Settings};
    use sqlx::postgres::PgPoolOptions;
    use time::OffsetDateTime;

    fn report(batch_no: u64) -> BatchReport {
        BatchReport {
            worker_id: "w".into(),
            batch_no,
            started_at: OffsetDateTime::now_utc(),
            finished_at: OffsetDateTime::now_utc(),
            records: 1,
            rows_written: 1,
            duplicates: 0,
            invalid: 0,
            bytes: 10,
            flush_reason: Flush::Interval,
            settings: Settings::default(),
            poll: Duration::ZERO,
            transform: Duration::ZERO,
            write: Duration::ZERO,
            commit: Duration::ZERO,
            write_attempts: 1,
            lag: None,
            partition_lag: Vec::new(),
            e2e_p50: None,
            e2e_max: None,
            receipt_to_commit: None,
            stages: None,
            routes: Vec::new(),
        }
    }

    /// The dropped-rows counter of worker `w`, as Prometheus would read it.
    fn dropped(metrics: &WorkerMetrics) -> u64 {
        let registry = prometheus::Registry::new();
        metrics.register(&registry).unwrap();
        registry
            .gather()
            .iter()
            .filter(|family| family.name() == crate::metric_names::BATCH_METRICS_DROPPED)
            .flat_map(|family| family.get_metric())
            .map(|metric| metric.get_counter().get_value() as u64)
            .sum()
    }

    /// A pool whose database refuses connections at once.
    fn unreachable() -> PgPool {
        PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(200))
            .connect_lazy("postgres://pacer@127.0.0.1:1/pacer")
            .unwrap()
    }

    #[test]
    fn a_full_queue_drops_the_row_and_counts_it() {
        let metrics = WorkerMetrics::new();
        let (writer, mut queue) = MetricsWriter::new(2, "w", metrics.clone());
        for n in 1..=3 {
            writer.record(report(n));
        }
        assert_eq!(dropped(&metrics), 1);
        assert!(writer.drops.dropping.load(Ordering::Relaxed));
        assert_eq!(queue.try_recv().unwrap().batch_no, 1);
        assert_eq!(queue.try_recv().unwrap().batch_no, 2);
        // Room again, but nothing was written yet: still dropping until an insert succeeds.
        writer.record(report(4));
        assert_eq!(dropped(&metrics), 1);
    }

    #[test]
    fn the_dropping_state_ends_only_after_a_clean_insert() {
        let (writer, _queue) = MetricsWriter::new(1, "w", WorkerMetrics::new());
        writer.record(report(1));
        writer.record(report(2));
        let before = writer.drops.count();
        writer.record(report(3));
        writer.drops.written(before);
        assert!(
            writer.drops.dropping.load(Ordering::Relaxed),
            "a row was dropped during the insert"
        );
        writer.drops.written(writer.drops.count());
        assert!(!writer.drops.dropping.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_failing_insert_is_retried_then_dropped_and_counted() {
        let metrics = WorkerMetrics::new();
        let (_stop_tx, stop) = watch::channel(false);
        let (writer, task) = MetricsWriter::spawn(unreachable(), "w", metrics.clone(), stop);
        writer.record(report(1));
        writer.record(report(2));
        drop(writer);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dropped(&metrics), 2);
    }

    #[tokio::test]
    async fn after_the_stop_a_failing_insert_is_not_waited_for() {
        let metrics = WorkerMetrics::new();
        let (_stop_tx, stop) = watch::channel(true);
        let (writer, task) = MetricsWriter::spawn(unreachable(), "w", metrics.clone(), stop);
        for n in 1..=(PER_STATEMENT as u64 + 1) {
            writer.record(report(n));
        }
        drop(writer);
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dropped(&metrics), PER_STATEMENT as u64 + 1);
        // One try of the first statement (the pool's 200 ms), none of the second, no retry waits.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
