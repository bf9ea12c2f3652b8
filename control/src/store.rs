//! `policy_decisions` in PostgreSQL: every decision is written there by one background task, so that the
//! state task never waits on the database, in batches of whatever has piled up, and read back for the admin
//! API.

use crate::domain::{DecisionRecord, WorkerId};
use pacer_pg::PgError;
use pacer_policy::Settings;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// Errors of the decision store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL failed, or refused the connection.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// A stored value makes no sense (a row written by something else, or a newer pacer).
    #[error("policy_decisions holds {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether waiting can heal it (PostgreSQL down or starting).
    pub fn heals(&self) -> bool {
        matches!(self, StoreError::Pg(e) if e.heals())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Pg(e.into())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Pg(e.into())
    }
}

/// Writes and reads decisions.
#[derive(Debug, Clone)]
pub struct DecisionStore {
    pool: PgPool,
    writer: mpsc::Sender<DecisionRecord>,
}

impl DecisionStore {
    /// Connects lazily to `url`, and starts the writer task.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(PgError::url)?;
        let (writer, rx) = mpsc::channel(4096);
        tokio::spawn(write_loop(pool.clone(), rx));
        Ok(Self { pool, writer })
    }

    /// Applies the schema. The control plane's migrations share `_sqlx_migrations` with the workers' under
    /// their own numbers (from 1,000,001), and each side leaves the other's alone.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Queues a decision for writing; never waits. A decision that cannot be queued is logged.
    pub fn record(&self, decision: DecisionRecord) {
        if let Err(e) = self.writer.try_send(decision) {
            tracing::warn!(error = %e, "the decision log is falling behind; a decision was not stored");
        }
    }

    /// The latest `limit` decisions, newest first; with `worker`, those concerning it or every worker.
    pub async fn recent(
        &self,
        limit: u32,
        worker: Option<&WorkerId>,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, worker_id, policy, mode, old_interval_ms, old_max_rows, old_max_bytes, \
             new_interval_ms, new_max_rows, new_max_bytes, reason FROM policy_decisions \
             WHERE $1::text IS NULL OR worker_id = $1 OR worker_id IS NULL \
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(worker.map(WorkerId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<DecisionRecord, StoreError> {
    let settings = |interval: i64, rows: i64, bytes: i64| Settings {
        interval: Duration::from_millis(interval.max(0) as u64),
        max_rows: rows.max(0) as u64,
        max_bytes: bytes.max(0) as u64,
    };
    let mode: String = row.try_get("mode")?;
    Ok(DecisionRecord {
        at: row.try_get("at")?,
        worker: row
            .try_get::<Option<String>, _>("worker_id")?
            .and_then(WorkerId::new),
        policy: row.try_get("policy")?,
        old: settings(
            row.try_get("old_interval_ms")?,
            row.try_get("old_max_rows")?,
            row.try_get("old_max_bytes")?,
        ),
        new: settings(
            row.try_get("new_interval_ms")?,
            row.try_get("new_max_rows")?,
            row.try_get("new_max_bytes")?,
        ),
        mode: mode
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("a decision with {e}")))?,
        reason: row.try_get("reason")?,
    })
}

/// Writes queued decisions, retrying each a few times while PostgreSQL is away.
/// Decisions written in one statement at most.
const BATCH: usize = 1000;

/// Writes what the queue holds, as many decisions per statement as have piled up (one `INSERT … SELECT FROM
/// UNNEST`): one row per statement could not keep up with a thousand workers' decisions.
async fn write_loop(pool: PgPool, mut rx: mpsc::Receiver<DecisionRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match insert(&pool, &batch).await {
                Ok(()) => break,
                Err(e) if attempt == 5 => {
                    tracing::warn!(error = %e, decisions = batch.len(), "could not store policy decisions; dropping them");
                }
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "storing policy decisions failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        batch.clear();
    }
}

async fn insert(pool: &PgPool, decisions: &[DecisionRecord]) -> Result<(), sqlx::Error> {
    let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
    let n = |v: u64| v.min(i64::MAX as u64) as i64;
    let column = |f: &dyn Fn(&DecisionRecord) -> i64| decisions.iter().map(f).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO policy_decisions (at, worker_id, scope, policy, mode, old_interval_ms, old_max_rows, \
         old_max_bytes, new_interval_ms, new_max_rows, new_max_bytes, reason) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::text[])",
    )
    .bind(decisions.iter().map(|d| d.at).collect::<Vec<_>>())
    .bind(
        decisions
            .iter()
            .map(|d| d.worker.as_ref().map(|w| w.as_str().to_owned()))
            .collect::<Vec<Option<String>>>(),
    )
    .bind(
        decisions
            .iter()
            .map(|d| if d.worker.is_some() { "worker" } else { "all" })
            .collect::<Vec<_>>(),
    )
    .bind(decisions.iter().map(|d| d.policy.as_str()).collect::<Vec<_>>())
    .bind(decisions.iter().map(|d| d.mode.as_str()).collect::<Vec<_>>())
    .bind(column(&|d| ms(d.old.interval)))
    .bind(column(&|d| n(d.old.max_rows)))
    .bind(column(&|d| n(d.old.max_bytes)))
    .bind(column(&|d| ms(d.new.interval)))
    .bind(column(&|d| n(d.new.max_rows)))
    .bind(column(&|d| n(d.new.max_bytes)))
    .bind(decisions.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}
