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
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// How a batch was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    /// operator added): every row is copied into `events` on its own under a savepoint; a row already there
    /// counts as a duplicate, and a row PostgreSQL refuses becomes a dead letter with its error.
    /// Slow, but it happens only for such batches, and it keeps one bad record from stalling its partition.
    pub async fn write_isolating(
        &self,
        batch: &Batch,
        transformed: &Transformed,
    ) -> Result<WriteOutcome, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut dead = transformed.dead.clone();
        let (mut written, mut duplicates) = (0, 0);
        for (row, &record_index) in transformed.events.rows().zip(&transformed.row_records) {
            sqlx::query("SAVEPOINT pacer_row").execute(&mut *tx).await?;
            match copy_bytes(&mut tx, "events", row).await {
                Ok(n) => {
                    written += n;
                    sqlx::query("RELEASE SAVEPOINT pacer_row")
                        .execute(&mut *tx)
                        .await?;
                }
                Err(e) if is_unique_violation(&e) => {
                    duplicates += 1;
                    sqlx::query("ROLLBACK TO SAVEPOINT pacer_row")
                        .execute(&mut *tx)
                        .await?;
                }
                Err(e) if is_data_error(&e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT pacer_row")
                        .execute(&mut *tx)
                        .await?;
                    let record = &batch.records()[record_index];
                    tracing::warn!(partition = record.partition(), offset = record.offset(), error = %e, "PostgreSQL refused one event; dead-lettering it");
                    dead.push(dead_letter(
                        record,
                        record_time(record),
                        format!("PostgreSQL refused the event: {e}"),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let dead_letters = self.insert_dead_letters(&mut tx, &dead).await?;
        tx.commit().await?;
        Ok(WriteOutcome {
            written,
            duplicates,
            dead_letters,
        })
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
        let result = sqlx::query(
            "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, key, payload, reason, ingested_at, worker_id) \
             SELECT t.*, $8 FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::bytea[], $6::text[], \
             $7::timestamptz[]) AS t ON CONFLICT DO NOTHING",
        )
        .bind(dead.iter().map(|d| d.topic.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.partition).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.offset).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.key.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.payload.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.reason.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.ingested_at).collect::<Vec<Option<OffsetDateTime>>>())
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
    Ok(sqlx::query(AssertSqlSafe(insert))
        .execute(conn)
        .await?
        .rows_affected())
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
