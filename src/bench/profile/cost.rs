//! What a contender costs while it runs: PostgreSQL's commits (`pg_stat_database.xact_commit`), the CPU of
//! the worker processes and the CPU of the PostgreSQL cluster, read twice a second, so that a phase's cost is
//! the difference between the readings at its ends.

use crate::bench::procstat;
use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// How often the readings are taken.
const EVERY: Duration = Duration::from_millis(500);

/// The totals so far at one moment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    at: OffsetDateTime,
    commits: i64,
    workers: Duration,
    postgres: Duration,
}

/// What a span of the run cost.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Cost {
    pub(super) seconds: f64,
    pub(super) commits: i64,
    pub(super) workers: Duration,
    pub(super) postgres: Duration,
}

/// Readings taken in the background until [`Sampler::finish`].
pub(super) struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Reading>>,
}

async fn read(pool: &PgPool, workers: &[u32], postmaster: u32) -> anyhow::Result<Reading> {
    let commits: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    Ok(Reading {
        at: OffsetDateTime::now_utc(),
        commits,
        workers: workers.iter().copied().map(procstat::cpu).sum(),
        postgres: procstat::cluster_cpu(postmaster),
    })
}

impl Sampler {
    /// Starts reading the worker processes `workers` and the cluster of `postmaster` through `pool`.
    pub(super) fn start(pool: PgPool, workers: Vec<u32>, postmaster: u32) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut readings = Vec::new();
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => match read(&pool, &workers, postmaster).await {
                        Ok(reading) => readings.push(reading),
                        Err(e) => tracing::warn!(error = %e, "reading the cost of the run"),
                    },
                    _ = stopped.changed() => break,
                }
            }
            readings
        });
        Self { stop, task }
    }

    /// Stops reading; the readings, oldest first.
    pub(super) async fn finish(self) -> Vec<Reading> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The cost between the readings nearest to `from` and `to`.
pub(super) fn between(readings: &[Reading], from: OffsetDateTime, to: OffsetDateTime) -> Cost {
    let nearest = |t: OffsetDateTime| {
        readings
            .iter()
            .min_by_key(|r| (r.at - t).unsigned_abs())
            .copied()
    };
    let (Some(a), Some(b)) = (nearest(from), nearest(to)) else {
        return Cost::default();
    };
    Cost {
        seconds: (b.at - a.at).as_seconds_f64(),
        commits: b.commits - a.commits,
        workers: b.workers.saturating_sub(a.workers),
        postgres: b.postgres.saturating_sub(a.postgres),
    }
}
