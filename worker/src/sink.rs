//! The PostgreSQL side of the worker: one transaction per batch, rows by `COPY`, exactly one row per
//! `(source, id)`.
//!
//! The fast path copies straight into `events`: its primary key refuses a duplicate, which then happens only
//! after a crash or a rebalance re-delivers records, or when a client retried a request. When that happens the
//! transaction is rolled back and the batch goes through a staging table and `INSERT ... ON CONFLICT DO
//! NOTHING`. So the common case costs one `COPY`, and the guarantee comes from the key, not from luck.

use crate::batch::Batch;
use crate::transform::{DeadLetter, EVENT_COLUMNS, Transformed, dead_letter, record_time};
use rdkafka::Message;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

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

/// Errors of the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The database URL does not parse.
    #[error("invalid database URL: {0}")]
    Url(sqlx::Error),
    /// Connecting or running a statement failed.
    #[error("PostgreSQL error")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("schema migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

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
        let options = PgConnectOptions::from_str(database_url).map_err(SinkError::Url)?;
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
    pub async fn write(&self, batch: &Transformed) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        match self.write_in_tx(&mut conn, batch, CopyPath::Direct).await {
            Err(e) if is_unique_violation(&e) => {
                tracing::debug!(
                    "batch holds events already written; writing it through the staging table"
                );
                self.write_in_tx(&mut conn, batch, CopyPath::Staged).await
            }
            other => other,
        }
    }

    /// Writes a batch through the staging table and `INSERT ... ON CONFLICT DO NOTHING`: the path a batch with
    /// re-delivered events takes. [`Sink::write`] chooses it by itself; this is for benchmarks and tests.
    pub async fn write_via_staging(
        &self,
        batch: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        self.write_in_tx(&mut conn, batch, CopyPath::Staged).await
    }

    /// Writes a batch that PostgreSQL refused as a whole (data that validation let through, or a constraint an
    /// operator added). The refused rows become dead letters with PostgreSQL's error; rows already there count
    /// as duplicates; everything else is written, in one transaction.
    ///
    /// First the rows already in `events` (a re-delivery) are found through the staging table and left out.
    /// Then the rest is copied straight into `events` under a savepoint. PostgreSQL names the line of a `COPY`
    /// it refuses: that row is taken out (a dead letter, or a duplicate for a unique violation), and the rows
    /// before it and after it are copied on their own. k refused rows cost about 2k + 1 `COPY`s. A refusal
    /// that names no line is handled by halving the rows instead ([`Sink::write_halving`]).
    pub async fn write_isolating(
        &self,
        batch: &Batch,
        transformed: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut dead = transformed.dead.clone();
        let rows = &transformed.events;
        let mut left_out = already_written(&mut tx, batch, transformed).await?;
        let mut outcome = WriteOutcome {
            duplicates: left_out.iter().filter(|&&out| out).count() as u64,
            ..WriteOutcome::default()
        };
        // Ranges of rows still to copy. A refusal splits its range around the refused row: the rows before it
        // are copied again (they may hold a refusal found later, such as a duplicate key: PostgreSQL checks
        // the keys of a `COPY` in batches), then the rows after it.
        let mut ranges = Vec::new();
        ranges.push(0..rows.len());
        while let Some(range) = ranges.pop() {
            let kept: Vec<usize> = range.clone().filter(|&i| !left_out[i]).collect();
            if kept.is_empty() {
                continue;
            }
            sqlx::query("SAVEPOINT pacer_rows")
                .execute(&mut *tx)
                .await?;
            let error = match copy_bytes(&mut tx, "events", &rows_bytes(rows, &kept)).await {
                Ok(written) => {
                    outcome.written += written;
                    sqlx::query("RELEASE SAVEPOINT pacer_rows")
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Err(e) => e,
            };
            roll_back_to(&mut tx, "pacer_rows").await?;
            let Some(line) = copy_line(&error).filter(|line| (1..=kept.len()).contains(line))
            else {
                if !is_data_error(&error) {
                    return Err(error);
                }
                self.write_halving(&mut tx, batch, transformed, &kept, &mut dead, &mut outcome)
                    .await?;
                continue;
            };
            let refused = kept[line - 1];
            if is_duplicate_event(&error) {
                outcome.duplicates += 1;
            } else if is_data_error(&error) {
                let record = &batch.records()[transformed.row_records[refused]];
                tracing::warn!(partition = record.partition(), offset = record.offset(), error = %error, "PostgreSQL refused one event; dead-lettering it");
                dead.push(refused_event(record, &error));
            } else {
                return Err(error);
            }
            left_out[refused] = true;
            ranges.push(refused + 1..range.end);
            ranges.push(range.start..refused);
        }
        outcome.dead_letters = self.insert_dead_letters(&mut tx, &dead).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Writes rows `rest` of a refused batch by halves under savepoints, through the staging table: a part
    /// PostgreSQL takes is written in one go (rows already there skipped as duplicates), a part it refuses is
    /// halved again, down to the single rows it refuses, which become dead letters.
    async fn write_halving(
        &self,
        tx: &mut PgConnection,
        batch: &Batch,
        transformed: &Transformed,
        rest: &[usize],
        dead: &mut Vec<DeadLetter>,
        outcome: &mut WriteOutcome,
    ) -> Result<(), sqlx::Error> {
        create_staging(&mut *tx).await?;
        let mut parts = vec![rest];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            sqlx::query("SAVEPOINT pacer_part")
                .execute(&mut *tx)
                .await?;
            match write_part(&mut *tx, &rows_bytes(&transformed.events, part)).await {
                Ok(inserted) => {
                    outcome.written += inserted;
                    outcome.duplicates += part.len() as u64 - inserted;
                    sqlx::query("RELEASE SAVEPOINT pacer_part")
                        .execute(&mut *tx)
                        .await?;
                }
                Err(e) if is_data_error(&e) => {
                    roll_back_to(&mut *tx, "pacer_part").await?;
                    if let [row] = part {
                        let record = &batch.records()[transformed.row_records[*row]];
                        tracing::warn!(partition = record.partition(), offset = record.offset(), error = %e, "PostgreSQL refused one event; dead-lettering it");
                        dead.push(refused_event(record, &e));
                    } else {
                        let (first, second) = part.split_at(part.len() / 2);
                        parts.push(second);
                        parts.push(first);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write_in_tx(
        &self,
        conn: &mut PgConnection,
        batch: &Transformed,
        path: CopyPath,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut tx = conn.begin().await?;
        let written = if batch.valid == 0 {
            0
        } else {
            match path {
                CopyPath::Direct => copy_into(&mut tx, "events", batch).await?,
                CopyPath::Staged => {
                    create_staging(&mut tx).await?;
                    copy_into(&mut tx, "events_staging", batch).await?;
                    insert_from_staging(&mut tx).await?
                }
            }
        };
        let dead_letters = self.insert_dead_letters(&mut tx, &batch.dead).await?;
        tx.commit().await?;
        Ok(WriteOutcome {
            written,
            duplicates: batch.valid as u64 - written,
            dead_letters,
        })
    }

    async fn insert_dead_letters(
        &self,
        conn: &mut PgConnection,
        dead: &[DeadLetter],
    ) -> Result<u64, sqlx::Error> {
        if dead.is_empty() {
            return Ok(0);
        }
        // Either key absorbs a second dead letter for the same thing: the record's position (a re-delivery) or
        // the event's identity (a client's retry of an event PostgreSQL refuses).
        let result = sqlx::query(
            "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, key, payload, reason, ingested_at, \
             event_source, event_id, worker_id) \
             SELECT t.*, $10 FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::bytea[], $6::text[], \
             $7::timestamptz[], $8::text[], $9::text[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(dead.iter().map(|d| d.topic.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.partition).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.offset).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.key.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.payload.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.reason.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.ingested_at).collect::<Vec<Option<OffsetDateTime>>>())
        .bind(dead.iter().map(|d| d.event.as_ref().map(|(source, _)| source.clone())).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.event.as_ref().map(|(_, id)| id.clone())).collect::<Vec<_>>())
        .bind(&self.worker_id)
        .execute(conn)
        .await?;
        Ok(result.rows_affected())
    }
}

#[derive(Debug, Clone, Copy)]
enum CopyPath {
    Direct,
    Staged,
}

async fn create_staging(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the staged rows into `events`, skipping those already there; returns how many were inserted.
async fn insert_from_staging(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let insert = format!(
        "INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events_staging \
         ON CONFLICT (source, id) DO NOTHING"
    );
    Ok(sqlx::query(&insert).execute(conn).await?.rows_affected())
}

/// Rolls back to a savepoint and releases it, so that refusals do not pile up nested subtransactions.
async fn roll_back_to(conn: &mut PgConnection, savepoint: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("ROLLBACK TO SAVEPOINT {savepoint}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("RELEASE SAVEPOINT {savepoint}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// True if `error` is a conflict on the primary key of `events`: the event is already there. A conflict on
/// another unique index (one an operator added) is a refusal of the row, not a duplicate.
fn is_duplicate_event(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            is_unique_violation(error)
                && e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| pg.constraint())
                    == Some("events_pkey")
        }
        _ => false,
    }
}

/// The `COPY` text of some rows of a batch.
fn rows_bytes(rows: &crate::copy::CopyText, which: &[usize]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &i in which {
        bytes.extend_from_slice(rows.row_range(i..i + 1));
    }
    bytes
}

/// Which rows of a batch are already in `events` (by `(source, id)`), found by copying the batch into the
/// staging table. All `false` if PostgreSQL refuses the batch even there (then the line-by-line copy sorts
/// the rows out).
async fn already_written(
    conn: &mut PgConnection,
    batch: &Batch,
    transformed: &Transformed,
) -> Result<Vec<bool>, sqlx::Error> {
    let mut written = vec![false; transformed.events.len()];
    create_staging(&mut *conn).await?;
    sqlx::query("SAVEPOINT pacer_staging")
        .execute(&mut *conn)
        .await?;
    match copy_bytes(&mut *conn, "events_staging", transformed.events.as_bytes()).await {
        Ok(_) => {}
        Err(e) if is_data_error(&e) => {
            roll_back_to(&mut *conn, "pacer_staging").await?;
            return Ok(written);
        }
        Err(e) => return Err(e),
    }
    let there: Vec<(i32, i64)> = sqlx::query_as(
        "DELETE FROM events_staging s USING events e WHERE e.source = s.source AND e.id = s.id \
         RETURNING s.kafka_partition, s.kafka_offset",
    )
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("TRUNCATE events_staging")
        .execute(&mut *conn)
        .await?;
    sqlx::query("RELEASE SAVEPOINT pacer_staging")
        .execute(&mut *conn)
        .await?;
    if !there.is_empty() {
        let there: std::collections::HashSet<(i32, i64)> = there.into_iter().collect();
        for (row, &record) in transformed.row_records.iter().enumerate() {
            let record = &batch.records()[record];
            written[row] = there.contains(&(record.partition(), record.offset()));
        }
    }
    Ok(written)
}

/// The line of the `COPY` input that PostgreSQL refused (1 for the first row), from the error's context
/// (`COPY events, line 12, column type: "..."`).
fn copy_line(error: &sqlx::Error) -> Option<usize> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let context = e
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .r#where()?;
    let after = context.split_once("COPY ")?.1.split_once(", line ")?.1;
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .map_or(after, |end| &after[..end]);
    digits.parse().ok()
}

/// Writes some rows through the (emptied) staging table, skipping those already in `events`; returns how many
/// were inserted.
async fn write_part(conn: &mut PgConnection, rows: &[u8]) -> Result<u64, sqlx::Error> {
    sqlx::query("TRUNCATE events_staging")
        .execute(&mut *conn)
        .await?;
    copy_bytes(&mut *conn, "events_staging", rows).await?;
    insert_from_staging(conn).await
}

/// The dead letter of a valid event that PostgreSQL refused. It carries the event's `(source, id)`, so that
/// a client's retry of the same event (a second record) does not make a second dead letter.
fn refused_event(record: &rdkafka::message::OwnedMessage, error: &sqlx::Error) -> DeadLetter {
    let ingested_at = record_time(record);
    let mut dead = dead_letter(
        record,
        ingested_at,
        format!("PostgreSQL refused the event: {error}"),
    );
    dead.event = record.payload().and_then(|payload| {
        pacer_event::parse_one(payload, ingested_at.unwrap_or_else(OffsetDateTime::now_utc))
            .ok()
            .map(|event| (event.source, event.id))
    });
    dead
}

async fn copy_into(
    conn: &mut PgConnection,
    table: &str,
    batch: &Transformed,
) -> Result<u64, sqlx::Error> {
    copy_bytes(conn, table, batch.events.as_bytes()).await
}

async fn copy_bytes(conn: &mut PgConnection, table: &str, rows: &[u8]) -> Result<u64, sqlx::Error> {
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

fn is_unique_violation(error: &sqlx::Error) -> bool {
    sqlstate_in(error, &["23505"])
}

/// True if PostgreSQL refused the data itself, so that the same rows would fail again however often they are
/// retried: class 22 (data exception), 23 (integrity constraint, such as a CHECK an operator added) and 54
/// (program limit exceeded). Everything else — connections, shutdowns, permissions, locks, timeouts, a table
/// being migrated — is retried with back-off, and never turns a valid event into a dead letter.
pub fn is_data_error(error: &sqlx::Error) -> bool {
    sqlstate_in(error, &["22", "23", "54"])
}

/// True if `error` is a PostgreSQL error whose SQLSTATE belongs to one of `classes` (two-character prefixes).
fn sqlstate_in(error: &sqlx::Error, classes: &[&str]) -> bool {
    match error {
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| classes.iter().any(|class| code.starts_with(class))),
        _ => false,
    }
}

/// True if PostgreSQL is unreachable or not accepting work yet (starting, shutting down): worth waiting for at
/// start-up, where any other error is a mistake to report at once.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    // 08: connection exception; 53: insufficient resources; 57: operator intervention (shutdown, startup).
    sqlstate_in(error, &["08", "53", "57"])
        || matches!(
            error,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Protocol(_)
        )
}
