//! Reading a contender's figures back: per phase (freshness, rows, peak lag, setting changes, and what the
//! phase cost) and second by second for the plot.

use super::cost::Cost;
use crate::bench::weighted_quantile;
use sqlx::PgPool;
use time::OffsetDateTime;

/// One phase's figures.
#[derive(Debug, Clone)]
pub(super) struct PhaseResult {
    pub(super) name: &'static str,
    pub(super) rate: f64,
    /// Receipt → commit, ms: the records-weighted median of the batches' medians, and the records-weighted
    /// 99th percentile of the batches' 99th percentiles (each batch's p99 bounds 99 % of its rows).
    pub(super) p50: f64,
    pub(super) p99: f64,
    /// Receipt → fetched by the worker, ms, the same 99th percentile: the part of `p99` outside the batch.
    pub(super) fetched_p99: f64,
    /// Rows written by the batches that finished in the phase.
    pub(super) rows: i64,
    pub(super) peak_lag: i64,
    pub(super) changes: i64,
    /// Every PostgreSQL commit (`pg_stat_database`), and the workers' batches (a commit each).
    pub(super) commits_per_s: f64,
    pub(super) batches_per_s: f64,
    /// CPU seconds per million rows written: the worker processes, and the PostgreSQL cluster.
    pub(super) worker_cpu: f64,
    pub(super) postgres_cpu: f64,
}

/// A contender's freshness, its interval and its commits, second by second from `from` to `to`.
pub(super) async fn over_time(
    pool: &PgPool,
    name: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<crate::bench::plot::Series> {
    let per_second = |what: &str| {
        format!(
            "SELECT floor(extract(epoch FROM finished_at - $1))::float8 AS s, {what} \
             FROM batch_metrics WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1 ORDER BY 1"
        )
    };
    let series = async |what: &str| -> anyhow::Result<Vec<(f64, f64)>> {
        Ok(sqlx::query_as(&per_second(what))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?)
    };
    Ok(crate::bench::plot::Series {
        name: name.to_owned(),
        p99_ms: series("max(receipt_commit_p99_ms)::float8").await?,
        interval_ms: series("avg(interval_ms)::float8").await?,
        commits_per_s: series("count(*)::float8").await?,
    })
}

pub(super) async fn measure(
    pool: &PgPool,
    name: &'static str,
    rate: f64,
    (from, to): (OffsetDateTime, OffsetDateTime),
    cost: Cost,
) -> anyhow::Result<PhaseResult> {
    let batches: Vec<(f64, f64, Option<f64>, i64)> = sqlx::query_as(
        "SELECT receipt_commit_p50_ms, receipt_commit_p99_ms, receipt_fetch_p99_ms, rows_written::bigint FROM batch_metrics \
         WHERE finished_at >= $1 AND finished_at < $2 AND receipt_commit_p99_ms IS NOT NULL",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut medians: Vec<(f64, i64)> = batches.iter().map(|b| (b.0, b.3)).collect();
    let mut p99s: Vec<(f64, i64)> = batches.iter().map(|b| (b.1, b.3)).collect();
    let mut fetched: Vec<(f64, i64)> = batches
        .iter()
        .filter_map(|b| b.2.map(|f| (f, b.3)))
        .collect();
    let (rows, batches): (Option<i64>, i64) = sqlx::query_as(
        "SELECT sum(rows_written)::bigint, count(*) FROM batch_metrics \
         WHERE finished_at >= $1 AND finished_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let rows = rows.unwrap_or(0);
    let peak_lag: Option<i64> = sqlx::query_scalar(
        "SELECT max(total)::bigint FROM (SELECT s, sum(l) AS total FROM (SELECT date_trunc('second', finished_at) AS s, \
         worker_id, max(lag) AS l FROM batch_metrics WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1, 2) per_worker \
         GROUP BY s) per_second",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM policy_decisions WHERE at >= $1 AND at < $2 AND mode = 'enforce'",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let per_million = |cpu: std::time::Duration| cpu.as_secs_f64() * 1e6 / rows.max(1) as f64;
    Ok(PhaseResult {
        name,
        rate,
        p50: weighted_quantile(&mut medians, 0.5),
        p99: weighted_quantile(&mut p99s, 0.99),
        fetched_p99: weighted_quantile(&mut fetched, 0.99),
        rows,
        peak_lag: peak_lag.unwrap_or(0),
        changes,
        commits_per_s: cost.commits as f64 / cost.seconds.max(1e-9),
        batches_per_s: batches as f64 / (to - from).as_seconds_f64().max(1e-9),
        worker_cpu: per_million(cost.workers),
        postgres_cpu: per_million(cost.postgres),
    })
}
