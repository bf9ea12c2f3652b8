//! Reading a contender's figures back from PostgreSQL: per phase (latency, rows, peak lag, setting changes)
//! and second by second for the plot.

use sqlx::PgPool;
use time::OffsetDateTime;

/// One phase's figures.
#[derive(Debug, Clone)]
pub(super) struct PhaseResult {
    pub(super) name: &'static str,
    pub(super) rate: f64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) rows: i64,
    pub(super) peak_lag: i64,
    pub(super) changes: i64,
}

/// A contender's latency and interval, second by second from `from` to `to`.
pub(super) async fn over_time(
    pool: &PgPool,
    name: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<crate::bench::plot::Series> {
    let p99_ms: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM ingested_at - $1))::float8 AS s, \
         1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)) \
         FROM events WHERE ingested_at >= $1 AND ingested_at < $2 GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let interval_ms: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM finished_at - $1))::float8 AS s, avg(interval_ms)::float8 \
         FROM batch_metrics WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(crate::bench::plot::Series {
        name: name.to_owned(),
        p99_ms,
        interval_ms,
    })
}

pub(super) async fn measure(
    pool: &PgPool,
    name: &'static str,
    rate: f64,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<PhaseResult> {
    let (p50, p99, rows): (Option<f64>, Option<f64>, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)), \
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)), count(*) \
         FROM events WHERE ingested_at >= $1 AND ingested_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
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
    Ok(PhaseResult {
        name,
        rate,
        p50: p50.unwrap_or(f64::NAN) * 1e3,
        p99: p99.unwrap_or(f64::NAN) * 1e3,
        rows,
        peak_lag: peak_lag.unwrap_or(0),
        changes,
    })
}
