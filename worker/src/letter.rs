//! A record that did not become a row: what is kept of it, and why.

use rdkafka::Timestamp;
use rdkafka::message::{Message, OwnedMessage};
use serde_json::Value as Json;
use time::OffsetDateTime;

/// A record that did not become a row.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its raw key.
    pub key: Option<Vec<u8>>,
    /// Its raw payload.
    pub payload: Option<Vec<u8>>,
    /// Its Kafka headers as a JSON array of `[name, value]` pairs (values as text), if it had any.
    pub headers: Option<String>,
    /// What is wrong with it.
    pub reason: String,
    /// The record's timestamp.
    pub ingested_at: Option<OffsetDateTime>,
    /// The event's `(source, id)`, when the record is an event: a second record of the same event (a
    /// client's retry) then makes no second dead letter.
    pub event: Option<(String, String)>,
    /// The route it was for, if one matched.
    pub route: Option<String>,
    /// Where in the event the problem is, for a schema or conversion failure (`/data/amount`).
    pub pointer: Option<String>,
    /// The JSON Schema keyword that failed, or the column type a value could not be converted to.
    pub keyword: Option<String>,
}

/// The record's timestamp (create or log-append time), if it has one.
pub fn record_time(record: &OwnedMessage) -> Option<OffsetDateTime> {
    let millis = match record.timestamp() {
        Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => ms,
        Timestamp::NotAvailable => return None,
    };
    // A timestamp PostgreSQL cannot store (before year 1) counts as none.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .filter(|t| t.year() >= 1)
}

/// A record's headers as a JSON array of `[name, value]` pairs, values as (lossy) text.
fn headers_json(record: &OwnedMessage) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = record.headers()?;
    let pairs: Vec<Json> = headers
        .iter()
        .map(|header| {
            let value = header
                .value
                // As text, lossy: PostgreSQL's jsonb cannot hold NUL, and a header may be binary.
                .map(|v| String::from_utf8_lossy(v).replace('\0', "\u{fffd}"));
            Json::Array(vec![
                Json::String(header.key.replace('\0', "\u{fffd}")),
                value.map_or(Json::Null, Json::String),
            ])
        })
        .collect();
    Some(Json::Array(pairs).to_string())
}

/// A dead letter for a record, with `reason`.
pub fn dead_letter(
    record: &OwnedMessage,
    ingested_at: Option<OffsetDateTime>,
    reason: String,
) -> DeadLetter {
    // The reason may quote the record (an attribute name, say); PostgreSQL text cannot hold NUL.
    let reason = reason.replace('\0', "\\u0000");
    DeadLetter {
        topic: record.topic().to_owned(),
        partition: record.partition(),
        offset: record.offset(),
        key: record.key().map(<[u8]>::to_vec),
        payload: record.payload().map(<[u8]>::to_vec),
        headers: headers_json(record),
        reason,
        ingested_at,
        event: None,
        route: None,
        pointer: None,
        keyword: None,
    }
}
