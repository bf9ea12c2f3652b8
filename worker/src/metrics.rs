//! The row each batch leaves in `batch_metrics`.

use crate::batch::FlushReason;
use crate::settings::BatchSettings;
use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

/// The figures of one batch.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The worker that wrote the batch.
    pub worker_id: String,
    /// The batch's number in this worker's run, from 1.
    pub batch_no: u64,
    /// When the batch started collecting records.
    pub started_at: OffsetDateTime,
    /// When its offsets were committed.
    pub finished_at: OffsetDateTime,
    /// Records in the batch.
    pub records: usize,
    /// Rows inserted into `events`.
    pub rows_written: u64,
    /// Valid events that were already in `events` (re-deliveries, client retries).
    pub duplicates: u64,
    /// Records that became dead letters.
    pub invalid: usize,
    /// Key and payload bytes of the records.
    pub bytes: usize,
    /// Which limit closed the batch.
    pub flush_reason: FlushReason,
    /// The settings the batch was collected under.
    pub settings: BatchSettings,
    /// Time spent collecting records.
    pub poll: Duration,
    /// Time spent parsing, validating, enriching and encoding.
    pub transform: Duration,
    /// Time spent in PostgreSQL, retries included.
    pub write: Duration,
    /// Time spent committing the Kafka offsets.
    pub commit: Duration,
    /// Write attempts (1 unless PostgreSQL failed).
    pub write_attempts: u32,
    /// Records behind the end of the owned partitions after this batch, if known.
    pub lag: Option<i64>,
    /// Records behind the end of each owned partition, from the same statistics.
    pub partition_lag: Vec<crate::ownership::PartitionLag>,
    /// Median end-to-end latency (`processed_at - time`) of the batch's events.
    pub e2e_p50: Option<Duration>,
    /// Largest end-to-end latency of the batch's events.
    pub e2e_max: Option<Duration>,
}

impl BatchReport {
    /// Inserts the report into `batch_metrics`.
    pub async fn insert(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO batch_metrics (worker_id, batch_no, started_at, finished_at, records, rows_written, \
             duplicates, invalid, bytes, flush_reason, interval_ms, max_rows, max_bytes, poll_ms, transform_ms, \
             write_ms, commit_ms, write_attempts, lag, e2e_p50_ms, e2e_max_ms) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)",
        )
        .bind(&self.worker_id)
        .bind(self.batch_no as i64)
        .bind(self.started_at)
        .bind(self.finished_at)
        .bind(self.records as i32)
        .bind(self.rows_written as i32)
        .bind(self.duplicates as i32)
        .bind(self.invalid as i32)
        .bind(self.bytes as i64)
        .bind(self.flush_reason.as_str())
        .bind(self.settings.interval.as_millis() as i64)
        .bind(self.settings.max_rows as i64)
        .bind(self.settings.max_bytes as i64)
        .bind(ms(self.poll))
        .bind(ms(self.transform))
        .bind(ms(self.write))
        .bind(ms(self.commit))
        .bind(self.write_attempts as i32)
        .bind(self.lag)
        .bind(self.e2e_p50.map(ms))
        .bind(self.e2e_max.map(ms))
        .execute(pool)
        .await?;
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
