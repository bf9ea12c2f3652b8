//! Dead letters: the records that did not become rows of `events`, kept with the reason in `dead_letters`.

use crate::transform::{DeadLetter, dead_letter, record_time};
use rdkafka::Message;
use sqlx::PgConnection;
use time::OffsetDateTime;

/// Inserts dead letters in the caller's transaction; returns how many were new.
pub(super) async fn insert(
    conn: &mut PgConnection,
    worker_id: &str,
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
    .bind(worker_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// The dead letter of a valid event that PostgreSQL refused. It carries the event's `(source, id)`, so that
/// a client's retry of the same event (a second record) does not make a second dead letter.
pub(super) fn refused_event(
    record: &rdkafka::message::OwnedMessage,
    error: &sqlx::Error,
) -> DeadLetter {
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
