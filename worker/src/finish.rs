//! The writing side of the batch loop: write a batch to PostgreSQL (retrying while it fails), commit its
//! Kafka offsets, then report it: to Prometheus, to the control plane, and to the background writer of
//! `batch_metrics`. Nothing here waits for the bookkeeping; only the write and the commit are awaited.

use crate::batch::Batch;
use crate::batch_metrics::MetricsWriter;
use crate::consumer::Kafka;
use crate::offsets::offsets_to_commit;
use crate::report::BatchReport;
use crate::sink::{Sink, WriteOutcome, is_data_error, is_schema_error};
use crate::transform::Transformed;
use pacer_backoff::{Attempt, Backoff, Outcome, Retry};
use pacer_batch::Flush;
use rdkafka::consumer::{CommitMode, Consumer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

/// A batch that is collected and transformed, ready to be written.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) batch_no: u64,
    pub(crate) batch: Batch,
    pub(crate) transformed: Transformed,
    pub(crate) reason: Flush,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) poll: Duration,
    pub(crate) transform: Duration,
    /// Where the records waited until the batch closed.
    pub(crate) stages: Option<crate::FetchStages>,
}

/// Whether a batch reached PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Yes,
    /// The worker was told to stop while the batch was still failing to write; it is not committed.
    No,
}

/// The writing side: writes a batch, commits its offsets, reports it.
pub(crate) struct Finisher {
    pub(crate) metrics: crate::WorkerMetrics,
    pub(crate) worker_id: String,
    pub(crate) consumer: Kafka,
    pub(crate) sink: Sink,
    pub(crate) stop: watch::Receiver<bool>,
    /// To the control-plane link, if attached.
    pub(crate) reports: Option<mpsc::Sender<BatchReport>>,
    /// To the background writer of `batch_metrics`.
    pub(crate) batch_metrics: MetricsWriter,
    /// Why writing stopped for good (PostgreSQL refuses the statements themselves), for `run` to report.
    pub(crate) fatal: Arc<std::sync::Mutex<Option<String>>>,
    /// Stops the whole worker, as a shutdown does, once a batch cannot be written at all.
    pub(crate) halt: Arc<watch::Sender<bool>>,
}

impl Finisher {
    pub(crate) async fn finish(self: Arc<Self>, ready: Ready) -> Written {
        let Ready {
            batch_no,
            batch,
            transformed,
            reason,
            started_at,
            poll,
            transform,
            stages,
        } = ready;
        let t1 = Instant::now();
        let Some((outcome, attempts)) = self.write_with_retry(&batch, &transformed).await else {
            tracing::warn!(
                batch = batch_no,
                "stopping before the batch was written; it is not committed and will be re-delivered"
            );
            return Written::No;
        };
        let write_time = t1.elapsed();
        // The rows are visible from here: the write ends with the transaction's commit.
        let committed_at = OffsetDateTime::now_utc();

        let t2 = Instant::now();
        self.commit(&batch).await;
        let commit_time = t2.elapsed();

        let (e2e_p50, e2e_max) =
            transformed
                .latency_p50_max()
                .map_or((None, None), |(p50, max)| {
                    (
                        Some(p50.try_into().unwrap_or_default()),
                        Some(max.try_into().unwrap_or_default()),
                    )
                });
        let report = BatchReport {
            worker_id: self.worker_id.clone(),
            batch_no,
            started_at,
            finished_at: OffsetDateTime::now_utc(),
            records: batch.len(),
            rows_written: outcome.written,
            duplicates: outcome.duplicates,
            // Records that did not become (or were not already) rows: validation's and PostgreSQL's dead letters.
            invalid: batch
                .len()
                .saturating_sub((outcome.written + outcome.duplicates) as usize),
            bytes: batch.bytes(),
            flush_reason: reason,
            settings: batch.settings(),
            poll,
            transform,
            write: write_time,
            commit: commit_time,
            write_attempts: attempts,
            lag: self.lag(),
            partition_lag: self.consumer.context().lag(),
            e2e_p50,
            e2e_max,
            receipt_to_commit: transformed
                .receipt_to_commit(committed_at)
                .map(|waits| waits.map(|wait| wait.try_into().unwrap_or_default())),
            routes: crate::report::route_counts(self.sink.routes(), &outcome, &transformed.dead),
            stages,
        };
        self.metrics.batch(
            &report,
            &transformed.latencies,
            report.finished_at - transformed.processed_at,
        );
        self.metrics
            .freshness(&report.worker_id, &transformed.receipts, committed_at);
        tracing::debug!(batch = report.batch_no, records = report.records, written = report.rows_written, reason = %reason, "batch written");
        // The control plane's policies act on the report: it goes first. Neither hand-over waits; the row in
        // `batch_metrics` is written in the background, so batch N+1 never waits for batch N's bookkeeping.
        if let Some(reports) = &self.reports
            && reports.try_send(report.clone()).is_err()
        {
            tracing::debug!(
                batch = batch_no,
                "the control plane is away and its report queue is full; report dropped"
            );
        }
        self.batch_metrics.record(report);
        Written::Yes
    }

    /// Writes the batch, retrying with capped back-off while PostgreSQL is failing. `None` if told to stop first.
    ///
    /// A batch that PostgreSQL refuses for its data is written again row by row, and the refused rows become
    /// dead letters; transient failures (connection, shutdown) are retried as they are.
    async fn write_with_retry(
        &self,
        batch: &Batch,
        transformed: &Transformed,
    ) -> Option<(WriteOutcome, u32)> {
        let mut retry = Retry::new(
            "write the batch to PostgreSQL",
            Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        );
        // Counted through atomics so that each attempt's future owns only shared references: a closure's
        // future that borrows the closure's own state is not `Send`, and the finisher runs in a spawned task.
        let attempts = AtomicU32::new(0);
        let isolate = AtomicBool::new(false);
        let mut stop = self.stop.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let (attempts_ref, isolate_ref) = (&attempts, &isolate);
        let outcome = retry
            .run(stopped, move || async move {
                attempts_ref.fetch_add(1, Ordering::Relaxed);
                let result = if isolate_ref.load(Ordering::Relaxed) {
                    self.sink.write_isolating(batch, transformed).await
                } else {
                    self.sink.write(transformed).await
                };
                match result {
                    Ok(outcome) => Attempt::Done(outcome),
                    Err(e) if is_schema_error(&e) => Attempt::Fatal(e),
                    Err(e) if is_data_error(&e) && !isolate_ref.load(Ordering::Relaxed) => {
                        tracing::warn!(error = %e, "PostgreSQL refused the batch; writing it row by row to find the bad rows");
                        isolate_ref.store(true, Ordering::Relaxed);
                        attempts_ref.fetch_add(1, Ordering::Relaxed);
                        match self.sink.write_isolating(batch, transformed).await {
                            Ok(outcome) => Attempt::Done(outcome),
                            Err(e) if is_schema_error(&e) => Attempt::Fatal(e),
                            Err(e) => Attempt::Retry(e),
                        }
                    }
                    Err(e) => Attempt::Retry(e),
                }
            })
            .await;
        let attempts = attempts.into_inner();
        match outcome {
            Outcome::Done(outcome) => Some((outcome, attempts)),
            Outcome::Stopped => None,
            // The statements themselves are refused: no retry heals that, and no row is to blame.
            Outcome::Fatal(e) => {
                let why = pacer_pg::describe(&e);
                tracing::error!(error = %why, "PostgreSQL refuses the batch's statements; the worker stops");
                *self
                    .fatal
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                let _ = self.halt.send(true);
                None
            }
        }
    }

    /// Commits the next offset of every (topic, partition) in the batch that this worker still owns under the
    /// same assignment; one lost (or lost and regained) meanwhile is left to its new owner.
    async fn commit(&self, batch: &Batch) {
        let offsets = offsets_to_commit(batch, self.consumer.context());
        if offsets.count() == 0 {
            return;
        }
        let consumer = self.consumer.clone();
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await;
        match committed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered and absorbed")
            }
            Err(e) => tracing::warn!(error = %e, "offset commit task failed"),
        }
    }

    /// Records behind the end of the owned partitions, from librdkafka's statistics of the last second.
    fn lag(&self) -> Option<i64> {
        let lag = self.consumer.context().lag();
        (!lag.is_empty()).then(|| lag.iter().map(|l| l.lag).sum())
    }
}
