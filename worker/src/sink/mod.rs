//! The PostgreSQL side of the worker: one transaction per batch, rows by `COPY`, exactly one row per
//! `(source, id)`.
//!
//! This file is the [`Sink`] and what it offers; how a batch is written lives in one file per job:
//! [`fast`] (the `COPY` path every batch tries first), [`isolate`] (a batch PostgreSQL refused),
//! [`dead_letters`] (records that did not become rows) and [`sqlstate`] (what an error means).

mod dead_letters;
mod fast;
mod isolate;
mod sqlstate;

pub(crate) use sqlstate::is_data_error;

use crate::batch::Batch;
use crate::transform::Transformed;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// How a batch was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Rows inserted into `events`.
    pub written: u64,
    /// Valid events that were already there (re-deliveries or client retries).
    pub duplicates: u64,
    /// Dead letters inserted (re-delivered ones are not counted twice).
    pub dead_letters: u64,
}

/// Errors of the sink: PostgreSQL's, as every pacer process reports them.
pub type SinkError = pacer_pg::PgError;

/// A connection pool to the pipeline's database.
#[derive(Debug, Clone)]
pub struct Sink {
    pool: PgPool,
    worker_id: String,
}

/// The schema, embedded in the binary.
/// The control plane's migrations are in the same `_sqlx_migrations` table (under numbers from 1,000,001),
/// so migrations recorded there but unknown here are left alone.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};

impl Sink {
    /// Connects lazily (so that a database that is down at start-up is retried like any other outage).
    pub fn new(database_url: &str, worker_id: impl Into<String>) -> Result<Self, SinkError> {
        let options = PgConnectOptions::from_str(database_url).map_err(SinkError::url)?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            worker_id: worker_id.into(),
        })
    }

    /// Applies the schema migrations (idempotent; concurrent callers serialise on an advisory lock).
    pub async fn migrate(&self) -> Result<(), SinkError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the batch metrics and for tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes a transformed batch in one transaction: one attempt.
    ///
    /// The rows are copied straight into `events`; if that batch holds an event already there (a
    /// re-delivery), it is written again through the staging table, skipping those.
    pub async fn write(&self, batch: &Transformed) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        fast::write(&mut conn, &self.worker_id, batch).await
    }

    /// Writes a batch through the staging table and `INSERT ... ON CONFLICT DO NOTHING`: the path a batch with
    /// re-delivered events takes. [`Sink::write`] chooses it by itself; this is for benchmarks and tests.
    pub async fn write_via_staging(
        &self,
        batch: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        fast::write_in_tx(&mut conn, &self.worker_id, batch, fast::CopyPath::Staged).await
    }

    /// Writes a batch that PostgreSQL refused as a whole (data that validation let through, or a constraint an
    /// operator added). The refused rows become dead letters with PostgreSQL's error; rows already there count
    /// as duplicates; everything else is written, in one transaction.
    ///
    /// First the rows already in `events` (a re-delivery) are found through the staging table and left out.
    /// Then the rest is copied straight into `events` under a savepoint. PostgreSQL names the line of a `COPY`
    /// it refuses: that row is taken out (a dead letter, or a duplicate for a unique violation), and the rows
    /// before it and after it are copied on their own. k refused rows cost about 2k + 1 `COPY`s. A refusal
    /// that names no line is handled by halving the rows instead.
    pub async fn write_isolating(
        &self,
        batch: &Batch,
        transformed: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        isolate::write_isolating(&mut conn, &self.worker_id, batch, transformed).await
    }
}
