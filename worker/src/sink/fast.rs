//! The fast path: a batch in one transaction, each route's rows by one `COPY`.
//!
//! `append` rows go straight into their table. The key's unique constraint refuses a duplicate, which
//! happens only after a crash or a rebalance re-delivers records, or when a client retried a request. Then
//! the transaction is rolled back and the batch goes through the staging tables and `INSERT ... ON
//! CONFLICT DO NOTHING`. So the common case costs one `COPY` per table, and the guarantee comes from the
//! key, not from luck. `upsert` and `delete` rows always take the staging table and their merge (see
//! [`super::plan`]). The `COPY` and staging steps here are also the ones the isolation strategies
//! ([`super::isolate`]) are built from.

use super::plan::TablePlan;
use super::sqlstate::is_unique_violation;
use super::{WriteOutcome, dead_letters};
use crate::rows::Routes;
use crate::transform::Transformed;
use sqlx::{Connection, PgConnection};

/// Where a batch's rows are copied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CopyPath {
    /// Straight into the tables that can take it: one `COPY`, refused as a whole if one key is already there.
    Direct,
    /// Into the staging tables, then into the tables skipping the keys already there.
    Staged,
}

/// Writes a batch straight into its tables, and again through the staging tables if it holds keys already
/// written.
pub(super) async fn write(
    conn: &mut PgConnection,
    worker_id: &str,
    routes: &Routes,
    batch: &Transformed,
) -> Result<WriteOutcome, sqlx::Error> {
    match write_in_tx(conn, worker_id, routes, batch, CopyPath::Direct).await {
        Err(e) if is_unique_violation(&e) => {
            tracing::debug!(
                "batch holds events already written; writing it through the staging tables"
            );
            write_in_tx(conn, worker_id, routes, batch, CopyPath::Staged).await
        }
        other => other,
    }
}

/// Writes a batch's rows by `path` and its dead letters, in one transaction.
pub(super) async fn write_in_tx(
    conn: &mut PgConnection,
    worker_id: &str,
    routes: &Routes,
    batch: &Transformed,
    path: CopyPath,
) -> Result<WriteOutcome, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut outcome = write_rows(&mut tx, routes, batch, path).await?;
    outcome.dead_letters = dead_letters::insert(&mut tx, worker_id, &batch.dead).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Writes a batch's rows by `path` in the caller's transaction: every route's table, then the deletes.
/// The dead letters are the caller's.
pub(crate) async fn write_rows(
    tx: &mut PgConnection,
    routes: &Routes,
    batch: &Transformed,
    path: CopyPath,
) -> Result<WriteOutcome, sqlx::Error> {
    let mut outcome = WriteOutcome::default();
    for table in &batch.tables {
        let plan = &routes.get(table.route).1.plan;
        let bytes = table.rows.as_bytes();
        let written = match (path, &plan.direct) {
            (CopyPath::Direct, Some(copy)) => copy_rows(&mut *tx, copy, bytes).await?,
            _ => stage_and_merge(&mut *tx, plan, bytes, table.distinct_keys).await?,
        };
        outcome.add(table.route, written);
    }
    for table in &batch.tables {
        if let Some(deletes) = &routes.get(table.route).1.plan.deletes {
            let deleted = sqlx::query(deletes)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            outcome.add(table.route, deleted);
        }
    }
    outcome.duplicates = batch.valid as u64 - outcome.written.min(batch.valid as u64);
    Ok(outcome)
}

/// Creates the session's staging table for a route, emptied at every commit, if it is not there yet.
pub(super) async fn create_staging(
    conn: &mut PgConnection,
    plan: &TablePlan,
) -> Result<(), sqlx::Error> {
    sqlx::query(&plan.create_staging).execute(conn).await?;
    Ok(())
}

/// Copies rows into the route's (empty) staging table and merges them into its table; returns how many rows
/// were written. `distinct_keys`: no two of the rows have the same key text.
async fn stage_and_merge(
    conn: &mut PgConnection,
    plan: &TablePlan,
    rows: &[u8],
    distinct_keys: bool,
) -> Result<u64, sqlx::Error> {
    create_staging(&mut *conn, plan).await?;
    copy_rows(&mut *conn, &plan.copy_staging, rows).await?;
    if distinct_keys && let Some(statement) = &plan.merge_distinct {
        // Under a savepoint: keys with different texts can still be equal to PostgreSQL (`1.0` and `1.00` in
        // a numeric key), and then the statement fails with 21000 and the general merge runs instead.
        sqlx::query("SAVEPOINT \"pacer-distinct\"")
            .execute(&mut *conn)
            .await?;
        match sqlx::query(statement).execute(&mut *conn).await {
            Ok(done) => {
                sqlx::query("RELEASE SAVEPOINT \"pacer-distinct\"")
                    .execute(&mut *conn)
                    .await?;
                return Ok(done.rows_affected());
            }
            Err(e) if pacer_pg::sqlstate(&e).as_deref() == Some("21000") => {
                sqlx::query("ROLLBACK TO SAVEPOINT \"pacer-distinct\"")
                    .execute(&mut *conn)
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    merge(conn, plan).await
}

/// Moves the staged rows into the table by the route's merge statements; returns how many rows they wrote.
/// The route's deletes are left to the caller (see [`TablePlan::deletes`]).
pub(super) async fn merge(conn: &mut PgConnection, plan: &TablePlan) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for statement in &plan.merge {
        written += sqlx::query(statement)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(written)
}

/// Runs a `COPY ... FROM STDIN` statement with rows in `COPY` text form; returns how many were copied.
pub(super) async fn copy_rows(
    conn: &mut PgConnection,
    statement: &str,
    rows: &[u8],
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(rows).await {
        // Leave the connection usable; the send error is the one to report.
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await
}
