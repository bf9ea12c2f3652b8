//! Dead letters: the records that did not become rows, kept with the reason (and, for a route's schema or
//! column, the route, the pointer and the keyword) in `dead_letters`.

use crate::letter::{DeadLetter, dead_letter, record_time};
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
    let texts = |field: fn(&DeadLetter) -> Option<&str>| {
        dead.iter()
            .map(|d| field(d).map(str::to_owned))
            .collect::<Vec<Option<String>>>()
    };
    // Either key absorbs a second dead letter for the same thing: the record's position (a re-delivery) or
    // the event's identity (a client's retry of an event that fails again).
    let result = sqlx::query(
        "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, key, payload, reason, ingested_at, \
         event_source, event_id, route, pointer, keyword, headers, worker_id) \
         SELECT t.topic, t.part, t.off, t.key, t.payload, t.reason, t.ingested_at, t.source, t.id, t.route, \
         t.pointer, t.keyword, t.headers::jsonb, $14 \
         FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::bytea[], $6::text[], $7::timestamptz[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) \
         AS t(topic, part, off, key, payload, reason, ingested_at, source, id, route, pointer, keyword, headers) \
         ON CONFLICT DO NOTHING",
    )
    .bind(dead.iter().map(|d| d.topic.clone()).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.partition).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.offset).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.key.clone()).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.payload.clone()).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.reason.clone()).collect::<Vec<_>>())
    .bind(dead.iter().map(|d| d.ingested_at).collect::<Vec<Option<OffsetDateTime>>>())
    .bind(texts(|d| d.event.as_ref().map(|(source, _)| source.as_str())))
    .bind(texts(|d| d.event.as_ref().map(|(_, id)| id.as_str())))
    .bind(texts(|d| d.route.as_deref()))
    .bind(texts(|d| d.pointer.as_deref()))
    .bind(texts(|d| d.keyword.as_deref()))
    .bind(texts(|d| d.headers.as_deref()))
    .bind(worker_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// The dead letter of a valid event of `route` that PostgreSQL refused. It carries the event's `(source,
/// id)` when the record is a structured CloudEvent, so that a client's retry of the same event (a second
/// record) does not make a second dead letter.
pub(super) fn refused_event(
    record: &rdkafka::message::OwnedMessage,
    route: &str,
    error: &sqlx::Error,
) -> DeadLetter {
    let ingested_at = record_time(record);
    let mut dead = dead_letter(
        record,
        ingested_at,
        format!(
            "PostgreSQL refused the event: {}",
            pacer_pg::describe(error)
        ),
    );
    dead.route = Some(route.to_owned());
    dead.event = record.payload().and_then(|payload| {
        pacer_event::parse_one(payload, ingested_at.unwrap_or_else(OffsetDateTime::now_utc))
            .ok()
            .map(|event| (event.source, event.id))
    });
    dead
}
