//! The PostgreSQL side of the worker: one transaction per batch, whatever tables its routes write, rows by
//! `COPY`, exactly one row per key.
//!
//! This file is the [`Sink`] and what it offers; how a batch is written lives in one file per job:
//! [`plan`] (each route's statements), [`fast`] (the `COPY` path every batch tries first), [`isolate`] (a
//! batch PostgreSQL refused), [`dead_letters`] (records that did not become rows) and [`sqlstate`] (what an
//! error means).

mod dead_letters;
mod fast;
mod isolate;
pub(crate) mod plan;
pub(crate) mod replay;
mod sqlstate;

pub(crate) use sqlstate::{is_data_error, is_schema_error};

use crate::batch::Batch;
use crate::rows::Routes;
use crate::transform::Transformed;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How a batch was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Rows inserted, replaced or deleted, in every table.
    pub written: u64,
    /// Valid events that were already there (re-deliveries or client retries).
    pub duplicates: u64,
    /// Dead letters inserted (re-delivered ones are not counted twice).
    pub dead_letters: u64,
    /// Rows written per route, by the route's index in the pipeline (empty for a route without rows).
    pub by_route: Vec<u64>,
    /// Rows PostgreSQL refused per route (they became dead letters), by the route's index.
    pub refused_by_route: Vec<u64>,
}

impl WriteOutcome {
    /// Counts `rows` written for route `route`.
    pub(crate) fn add(&mut self, route: usize, rows: u64) {
        self.written += rows;
        if self.by_route.len() <= route {
            self.by_route.resize(route + 1, 0);
        }
        self.by_route[route] += rows;
    }

    /// Counts one row of route `route` that PostgreSQL refused.
    pub(crate) fn refuse(&mut self, route: usize) {
        if self.refused_by_route.len() <= route {
            self.refused_by_route.resize(route + 1, 0);
        }
        self.refused_by_route[route] += 1;
    }
}

/// Errors of the sink: PostgreSQL's, as every pacer process reports them.
pub type SinkError = pacer_pg::PgError;

/// A connection pool to the pipeline's database.
#[derive(Debug, Clone)]
pub struct Sink {
    pool: PgPool,
    worker_id: String,
    routes: Arc<Routes>,
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
        // Staging tables are created with `IF NOT EXISTS` every batch: PostgreSQL's notice that one is
        // there already would be a log line per batch.
        let options = PgConnectOptions::from_str(database_url)
            .map_err(SinkError::url)?
            .options([("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            worker_id: worker_id.into(),
            routes: Arc::new(Routes::default()),
        })
    }

    /// The same sink writing by `routes` (the pipeline file) instead of the built-in `events` route.
    pub fn with_routes(mut self, routes: Arc<Routes>) -> Self {
        self.routes = routes;
        self
    }

    /// The routes it writes by.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
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
    /// Append rows are copied straight into their tables; if that batch holds a key already there (a
    /// re-delivery), it is written again through the staging tables, skipping those. Upserts and deletes
    /// always go through staging and their merge.
    pub async fn write(&self, batch: &Transformed) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        fast::write(&mut conn, &self.worker_id, &self.routes, batch).await
    }

    /// Writes a batch through the staging table and `INSERT ... ON CONFLICT DO NOTHING`: the path a batch with
    /// re-delivered events takes. [`Sink::write`] chooses it by itself; this is for benchmarks and tests.
    pub async fn write_via_staging(
        &self,
        batch: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        fast::write_in_tx(
            &mut conn,
            &self.worker_id,
            &self.routes,
            batch,
            fast::CopyPath::Staged,
        )
        .await
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
        isolate::write_isolating(&mut conn, &self.worker_id, &self.routes, batch, transformed).await
    }
}
