//! Writing a batch that PostgreSQL refused as a whole (data that validation let through, or a constraint an
//! operator added): find the refused rows, make them dead letters, and write everything else, in one
//! transaction.
//!
//! Two strategies: the line-by-line copy, which takes out the row a refused `COPY` names, and halving through
//! the staging table, for a refusal that names no row.

use super::fast::{copy_bytes, create_staging, insert_from_staging};
use super::sqlstate::{is_data_error, is_duplicate_event};
use super::{WriteOutcome, dead_letters};
use crate::batch::Batch;
use crate::copy::CopyText;
use crate::transform::{DeadLetter, Transformed};
use rdkafka::Message;
use sqlx::{Connection, PgConnection};

/// Writes a refused batch, finding its refused rows line by line (see [`super::Sink::write_isolating`]).
pub(super) async fn write_isolating(
    conn: &mut PgConnection,
    worker_id: &str,
    batch: &Batch,
    transformed: &Transformed,
) -> Result<WriteOutcome, sqlx::Error> {
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
        let Some(line) = copy_line(&error).filter(|line| (1..=kept.len()).contains(line)) else {
            if !is_data_error(&error) {
                return Err(error);
            }
            write_halving(&mut tx, batch, transformed, &kept, &mut dead, &mut outcome).await?;
            continue;
        };
        let refused = kept[line - 1];
        if is_duplicate_event(&error) {
            outcome.duplicates += 1;
        } else if is_data_error(&error) {
            let record = &batch.records()[transformed.row_records[refused]];
            tracing::warn!(partition = record.partition(), offset = record.offset(), error = %error, "PostgreSQL refused one event; dead-lettering it");
            dead.push(dead_letters::refused_event(record, &error));
        } else {
            return Err(error);
        }
        left_out[refused] = true;
        ranges.push(refused + 1..range.end);
        ranges.push(range.start..refused);
    }
    outcome.dead_letters = dead_letters::insert(&mut tx, worker_id, &dead).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Writes rows `rest` of a refused batch by halves under savepoints, through the staging table: a part
/// PostgreSQL takes is written in one go (rows already there skipped as duplicates), a part it refuses is
/// halved again, down to the single rows it refuses, which become dead letters.
async fn write_halving(
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
                    dead.push(dead_letters::refused_event(record, &e));
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

/// The `COPY` text of some rows of a batch.
fn rows_bytes(rows: &CopyText, which: &[usize]) -> Vec<u8> {
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
