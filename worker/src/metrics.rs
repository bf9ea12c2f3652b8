//! The row each batch leaves in `batch_metrics`.

use crate::batch::FlushReason;
use crate::settings::BatchSettings;
use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

/// The figures of one batch.
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub worker_id: String,
    pub batch_no: u64,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
    pub records: usize,
    pub rows_written: u64,
    pub duplicates: u64,
    pub invalid: usize,
    pub bytes: usize,
    pub flush_reason: FlushReason,
    pub settings: BatchSettings,
    pub poll: Duration,
    pub transform: Duration,
    pub write: Duration,
    pub commit: Duration,
    pub write_attempts: u32,
    /// Records behind the end of the owned partitions after this batch, if known.
    pub lag: Option<i64>,
    /// End-to-end latency of the batch's events: median and maximum.
    pub e2e_p50: Option<Duration>,
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
