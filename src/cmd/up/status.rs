//! What this run has done, from the workers' batch reports in PostgreSQL: a status line every 5 s while it
//! runs (with the state of the children `pacer up` supervises), and its totals when it stops.

use super::banner::say;
use crate::load::LoadStats;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// This run's workers: ids `<prefix>-w<i>`, and the batches they started since the run began. The prefix is
/// the worker's default id, stable across runs (see `pacer_worker::default_worker_id`), so a database kept
/// from an earlier run holds batches under the same ids: the start time tells them apart.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub prefix: String,
    pub started: time::OffsetDateTime,
}

impl Run {
    /// A run that begins now, its workers named from `prefix`.
    pub fn begin(prefix: String) -> Self {
        Run {
            prefix,
            started: time::OffsetDateTime::now_utc(),
        }
    }
}

/// What this run's workers have written: rows, dead letters, and the latest lag.
async fn run_totals(pool: &sqlx::PgPool, run: &Run) -> Result<(i64, i64, i64), sqlx::Error> {
    let (rows, invalid, lag): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT sum(rows_written)::bigint, sum(invalid)::bigint, \
         (SELECT sum(lag)::bigint FROM (SELECT DISTINCT ON (worker_id) lag FROM batch_metrics \
          WHERE worker_id LIKE $1 AND started_at >= $2 ORDER BY worker_id, id DESC) latest) \
         FROM batch_metrics WHERE worker_id LIKE $1 AND started_at >= $2",
    )
    .bind(format!("{}-w%", run.prefix))
    .bind(run.started)
    .fetch_one(pool)
    .await?;
    Ok((rows.unwrap_or(0), invalid.unwrap_or(0), lag.unwrap_or(0)))
}

/// Every 5 s: what was posted, what was written, what was dead-lettered.
pub(super) async fn report_status(
    pool: sqlx::PgPool,
    run: Run,
    load: Arc<LoadStats>,
    children: Vec<watch::Receiver<pacer_stack::Health>>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut last_rows = 0i64;
    tick.tick().await;
    while !*stop.borrow() {
        tick.tick().await;
        let (sent, acked, failed) = load.snapshot();
        let stack = super::children::describe(&children);
        match run_totals(&pool, &run).await {
            Ok((rows, dead_letters, lag)) => {
                tracing::info!(
                    load_sent = sent,
                    load_acked = acked,
                    load_failed = failed,
                    rows_written = rows,
                    rows_per_s = (rows - last_rows) / 5,
                    dead_letters,
                    lag,
                    stack,
                    "pipeline status"
                );
                last_rows = rows;
            }
            Err(e) => tracing::info!(
                load_sent = sent,
                load_acked = acked,
                load_failed = failed,
                stack,
                error = %e,
                "pipeline status (PostgreSQL does not answer)"
            ),
        }
    }
}

/// This run's totals, once everything has stopped: in the log, which is the terminal without the console;
/// with the console, whose logs go to a file, on the terminal too.
pub(super) async fn report_totals(pool: &sqlx::PgPool, run: &Run, load: &LoadStats, console: bool) {
    let (_, load_acked, _) = load.snapshot();
    match run_totals(pool, run).await {
        Ok((rows, dead_letters, _)) => {
            tracing::info!(
                rows_written = rows,
                dead_letters,
                load_acked,
                "this run's totals"
            );
            if console {
                say(&format!(
                    "this run's totals: {rows} rows written, {dead_letters} dead letters, {load_acked} load events acknowledged"
                ));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read this run's totals");
            if console {
                say(&format!("cannot read this run's totals ({e})"));
            }
        }
    }
}
