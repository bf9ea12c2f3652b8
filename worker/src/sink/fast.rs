//! The fast path: a batch in one transaction, its rows by one `COPY` straight into `events`.
//!
//! The primary key of `events` refuses a duplicate, which happens only after a crash or a rebalance
//! re-delivers records, or when a client retried a request. Then the transaction is rolled back and the batch
//! goes through a staging table and `INSERT ... ON CONFLICT DO NOTHING`. So the common case costs one `COPY`,
//! and the guarantee comes from the key, not from luck. The `COPY` and staging steps here are also the ones
//! the isolation strategies ([`super::isolate`]) are built from.

use super::sqlstate::is_unique_violation;
use super::{WriteOutcome, dead_letters};
use crate::transform::{EVENT_COLUMNS, Transformed};
use sqlx::{Connection, PgConnection};

/// Where a batch's rows are copied.
#[derive(Debug, Clone, Copy)]
pub(super) enum CopyPath {
    /// Straight into `events`: one `COPY`, refused as a whole if one event is already there.
    Direct,
    /// Into the staging table, then into `events` skipping the events already there.
    Staged,
}

/// Writes a batch straight into `events`, and again through the staging table if it holds events already
/// written.
pub(super) async fn write(
    conn: &mut PgConnection,
    worker_id: &str,
    batch: &Transformed,
) -> Result<WriteOutcome, sqlx::Error> {
    match write_in_tx(conn, worker_id, batch, CopyPath::Direct).await {
        Err(e) if is_unique_violation(&e) => {
            tracing::debug!(
                "batch holds events already written; writing it through the staging table"
            );
            write_in_tx(conn, worker_id, batch, CopyPath::Staged).await
        }
        other => other,
    }
}

/// Writes a batch's rows by `path` and its dead letters, in one transaction.
pub(super) async fn write_in_tx(
    conn: &mut PgConnection,
    worker_id: &str,
    batch: &Transformed,
    path: CopyPath,
) -> Result<WriteOutcome, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let written = if batch.valid == 0 {
        0
    } else {
        match path {
            CopyPath::Direct => copy_bytes(&mut tx, "events", batch.events.as_bytes()).await?,
            CopyPath::Staged => {
                create_staging(&mut tx).await?;
                copy_bytes(&mut tx, "events_staging", batch.events.as_bytes()).await?;
                insert_from_staging(&mut tx).await?
            }
        }
    };
    let dead_letters = dead_letters::insert(&mut tx, worker_id, &batch.dead).await?;
    tx.commit().await?;
    Ok(WriteOutcome {
        written,
        duplicates: batch.valid as u64 - written,
        dead_letters,
    })
}

/// Creates the session's staging table, emptied at every commit, if it is not there yet.
pub(super) async fn create_staging(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the staged rows into `events`, skipping those already there; returns how many were inserted.
pub(super) async fn insert_from_staging(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let insert = format!(
        "INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events_staging \
         ON CONFLICT (source, id) DO NOTHING"
    );
    Ok(sqlx::query(&insert).execute(conn).await?.rows_affected())
}

/// Copies rows in `COPY` text form into `table`; returns how many were copied.
pub(super) async fn copy_bytes(
    conn: &mut PgConnection,
    table: &str,
    rows: &[u8],
) -> Result<u64, sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({EVENT_COLUMNS}) FROM STDIN"))
        .await?;
    if let Err(e) = copy.send(rows).await {
        // Leave the connection usable; the send error is the one to report.
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await
}
