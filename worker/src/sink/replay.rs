//! The transactions of a dead-letter replay (see [`crate::replay`]): a chunk of letters locked, run through
//! the routes, its rows written, the letters that passed deleted and those that failed again updated, all in
//! one transaction.
//!
//! Rows go through the staging tables and the routes' merges, so a row already there is absorbed and its
//! letter counts as "already there". A chunk whose rows PostgreSQL refuses is replayed again one letter per
//! transaction, and a refused letter fails again with PostgreSQL's reason. Nothing here inserts a dead
//! letter: a letter that fails again is its own row, updated.

use super::dead_letters::refused_event;
use super::fast::{CopyPath, write_rows};
use super::sqlstate::is_data_error;
use crate::batch::Batch;
use crate::letter::DeadLetter;
use crate::replay::{FILTER, Filter, LETTER_COLUMNS, Letter, ORDER, Position, ReplaySummary};
use crate::rows::Routes;
use crate::transform::{Transformed, transform};
use pacer_batch::Settings;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashSet;
use time::OffsetDateTime;

/// The letters one chunk reads: those `filter` matches after `after` (from the start if `None`) and up to
/// `last`, at most `limit`.
pub(crate) struct Window<'a> {
    pub(crate) filter: &'a Filter,
    pub(crate) after: Option<&'a Position>,
    pub(crate) last: &'a Position,
    pub(crate) limit: usize,
}

/// Replays the next chunk of the window in one transaction (committed, or rolled back for a dry run).
/// Returns the last letter it read and what became of its letters; `None` when none is left.
pub(crate) async fn chunk(
    pool: &PgPool,
    routes: &Routes,
    window: &Window<'_>,
    dry_run: bool,
) -> Result<Option<(Position, ReplaySummary)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let letters = lock_chunk(&mut tx, window).await?;
    let Some(last) = letters.last().map(Letter::position) else {
        return Ok(None);
    };
    let (batch, transformed) = rebuild(&letters, routes);
    match settle(&mut tx, routes, &batch, &transformed).await {
        Ok(summary) => {
            finish(tx, dry_run).await?;
            Ok(Some((last, summary)))
        }
        Err(e) if is_data_error(&e) => {
            tx.rollback().await?;
            tracing::warn!(
                letters = letters.len(),
                error = %pacer_pg::describe(&e),
                "PostgreSQL refused rows of a chunk of replayed dead letters; replaying them one by one"
            );
            let mut summary = ReplaySummary::default();
            for letter in &letters {
                summary += one(pool, routes, &letter.position(), dry_run).await?;
            }
            Ok(Some((last, summary)))
        }
        Err(e) => Err(e),
    }
}

/// Replays one letter in its own transaction; a letter PostgreSQL refuses fails again with its reason.
async fn one(
    pool: &PgPool,
    routes: &Routes,
    at: &Position,
    dry_run: bool,
) -> Result<ReplaySummary, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let letter: Option<Letter> = sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM dead_letters \
         WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset = $3 FOR UPDATE SKIP LOCKED"
    ))
    .bind(&at.topic)
    .bind(at.partition)
    .bind(at.offset)
    .fetch_optional(&mut *tx)
    .await?;
    // Gone or locked: another replay has it.
    let Some(letter) = letter else {
        return Ok(ReplaySummary::default());
    };
    let letters = [letter];
    let (batch, transformed) = rebuild(&letters, routes);
    let mut savepoint = Connection::begin(&mut *tx).await?;
    let summary = match settle(&mut savepoint, routes, &batch, &transformed).await {
        Ok(summary) => {
            savepoint.commit().await?;
            summary
        }
        Err(e) if is_data_error(&e) => {
            savepoint.rollback().await?;
            let route = transformed
                .tables
                .first()
                .map_or("", |table| routes.get(table.route).0.name());
            let record = &batch.records()[0];
            failed_again(&mut tx, &[refused_event(record, route, &e)]).await?;
            ReplaySummary {
                failed_again: 1,
                ..ReplaySummary::default()
            }
        }
        Err(e) => return Err(e),
    };
    finish(tx, dry_run).await?;
    Ok(summary)
}

/// Locks the window's next letters, in replay order, skipping those another replay holds.
async fn lock_chunk(
    tx: &mut PgConnection,
    window: &Window<'_>,
) -> Result<Vec<Letter>, sqlx::Error> {
    let after = window.after;
    sqlx::query_as(&format!(
        "SELECT {LETTER_COLUMNS} FROM dead_letters WHERE {FILTER} \
         AND ($4::timestamptz IS NULL OR ({ORDER}) > ($4, $5::text, $6::int4, $7::int8)) \
         AND ({ORDER}) <= ($8::timestamptz, $9::text, $10::int4, $11::int8) \
         ORDER BY {ORDER} LIMIT $12 FOR UPDATE SKIP LOCKED"
    ))
    .bind(&window.filter.route)
    .bind(&window.filter.reason)
    .bind(window.filter.since)
    .bind(after.map(|p| p.failed_at))
    .bind(after.map(|p| p.topic.as_str()))
    .bind(after.map(|p| p.partition))
    .bind(after.map(|p| p.offset))
    .bind(window.last.failed_at)
    .bind(&window.last.topic)
    .bind(window.last.partition)
    .bind(window.last.offset)
    .bind(i64::try_from(window.limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await
}

/// The letters' records as a batch, transformed by the routes in force.
fn rebuild(letters: &[Letter], routes: &Routes) -> (Batch, Transformed) {
    let mut batch = Batch::new(Settings::default());
    for letter in letters {
        // The batch is never flushed: the size limit it may report means nothing here.
        let _ = batch.push(letter.record(), 0);
    }
    let transformed = transform(&batch, routes, OffsetDateTime::now_utc());
    (batch, transformed)
}

/// Writes the rows, deletes the letters that became rows or were already there and updates those that failed
/// again, in the caller's transaction.
async fn settle(
    tx: &mut PgConnection,
    routes: &Routes,
    batch: &Batch,
    transformed: &Transformed,
) -> Result<ReplaySummary, sqlx::Error> {
    let outcome = write_rows(&mut *tx, routes, transformed, CopyPath::Staged).await?;
    let dead: HashSet<(&str, i32, i64)> = transformed
        .dead
        .iter()
        .map(|d| (d.topic.as_str(), d.partition, d.offset))
        .collect();
    let settled: Vec<_> = batch
        .records()
        .iter()
        .map(|r| {
            use rdkafka::Message;
            (r.topic(), r.partition(), r.offset())
        })
        .filter(|position| !dead.contains(position))
        .collect();
    if !settled.is_empty() {
        sqlx::query(
            "DELETE FROM dead_letters d USING UNNEST($1::text[], $2::int4[], $3::int8[]) AS t(topic, part, off) \
             WHERE d.topic = t.topic AND d.kafka_partition = t.part AND d.kafka_offset = t.off",
        )
        .bind(settled.iter().map(|p| p.0).collect::<Vec<_>>())
        .bind(settled.iter().map(|p| p.1).collect::<Vec<_>>())
        .bind(settled.iter().map(|p| p.2).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    failed_again(&mut *tx, &transformed.dead).await?;
    let already_there = outcome.duplicates.min(settled.len() as u64);
    Ok(ReplaySummary {
        passed: settled.len() as u64 - already_there,
        failed_again: transformed.dead.len() as u64,
        already_there,
    })
}

/// Records a new failure of each letter: the new reason, route, pointer and keyword, one more attempt.
async fn failed_again(tx: &mut PgConnection, dead: &[DeadLetter]) -> Result<(), sqlx::Error> {
    if dead.is_empty() {
        return Ok(());
    }
    let texts = |field: fn(&DeadLetter) -> Option<&str>| {
        dead.iter()
            .map(|d| field(d).map(str::to_owned))
            .collect::<Vec<Option<String>>>()
    };
    sqlx::query(
        "UPDATE dead_letters d SET reason = t.reason, route = t.route, pointer = t.pointer, \
         keyword = t.keyword, replay_attempts = d.replay_attempts + 1, last_replayed_at = now() \
         FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[]) \
         AS t(topic, part, off, reason, route, pointer, keyword) \
         WHERE d.topic = t.topic AND d.kafka_partition = t.part AND d.kafka_offset = t.off",
    )
    .bind(dead.iter().map(|d| d.topic.as_str()).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.partition).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.offset).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>())
    .bind(texts(|d| d.route.as_deref()))
    .bind(texts(|d| d.pointer.as_deref()))
    .bind(texts(|d| d.keyword.as_deref()))
    .execute(tx)
    .await?;
    Ok(())
}

/// Commits, or for a dry run rolls back.
async fn finish(tx: Transaction<'_, Postgres>, dry_run: bool) -> Result<(), sqlx::Error> {
    if dry_run {
        tx.rollback().await
    } else {
        tx.commit().await
    }
}
