//! The dead letters an operator looks at and replays: [`list`] shows the ones a [`Filter`] matches, and
//! [`replay`] runs them through the routes in force again (after a schema or a table was fixed), writing
//! the rows of those that pass and removing them from `dead_letters` in the same transaction.
//!
//! A replay reads the letters that matched at its start, oldest first, in chunks, each chunk locked and
//! settled in one transaction (`sink/replay.rs`). A crash mid-replay loses nothing: a letter
//! leaves `dead_letters` only in the transaction that writes its row, so a second run picks up the rest.
//! Letters that fail again keep their place (their `failed_at` does not change) and the pass ends at the
//! last letter that matched at the start, so one run tries each letter once.

use crate::rows::Routes;
use crate::sink::{SinkError, replay as settle};
use rdkafka::Timestamp;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use sqlx::PgPool;
use time::OffsetDateTime;

/// Which dead letters a command is about; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only the letters of this route (exactly).
    pub route: Option<String>,
    /// Only the letters whose reason contains this text (case-insensitive).
    pub reason: Option<String>,
    /// Only the letters that failed at or after this time.
    pub since: Option<OffsetDateTime>,
}

/// One dead letter as `pacer dead-letters list` shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    /// The topic of its record.
    pub topic: String,
    /// The partition of its record.
    #[sqlx(rename = "kafka_partition")]
    pub partition: i32,
    /// The offset of its record.
    #[sqlx(rename = "kafka_offset")]
    pub offset: i64,
    /// The route it was for, if one matched.
    pub route: Option<String>,
    /// What is wrong with it.
    pub reason: String,
    /// Where in the event the problem is (`/data/amount`), for a schema or conversion failure.
    pub pointer: Option<String>,
    /// The JSON Schema keyword that failed, or the column type a value could not be converted to.
    pub keyword: Option<String>,
    /// How often a replay tried it and it failed again.
    pub replay_attempts: i32,
    /// When it first failed.
    pub failed_at: OffsetDateTime,
    /// When a replay last tried it.
    pub last_replayed_at: Option<OffsetDateTime>,
    /// The event's `source`, if the record is an event.
    pub event_source: Option<String>,
    /// The event's `id`, if the record is an event.
    pub event_id: Option<String>,
}

/// How a replay runs.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Do everything in transactions that are rolled back, and report what would happen.
    pub dry_run: bool,
    /// Dead letters per chunk (per transaction); at least 1.
    pub chunk: usize,
    /// Stop after this many chunks, before the pass is over (a later run goes on from there).
    pub max_chunks: Option<usize>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            chunk: 500,
            max_chunks: None,
        }
    }
}

/// What a replay did (or, in a dry run, would do) with the letters it read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Letters whose record became a row (removed from `dead_letters`).
    pub passed: u64,
    /// Letters that failed again (kept, with the new reason and one more attempt).
    pub failed_again: u64,
    /// Letters whose row was already there (removed from `dead_letters`).
    pub already_there: u64,
}

impl ReplaySummary {
    /// Every letter the replay read.
    pub fn total(&self) -> u64 {
        self.passed + self.failed_again + self.already_there
    }
}

impl std::ops::AddAssign for ReplaySummary {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed_again += other.failed_again;
        self.already_there += other.already_there;
    }
}

/// The conditions of a [`Filter`], on parameters `$1` (route), `$2` (reason) and `$3` (since).
pub(crate) const FILTER: &str = "($1::text IS NULL OR route = $1) \
     AND ($2::text IS NULL OR strpos(lower(reason), lower($2)) > 0) \
     AND ($3::timestamptz IS NULL OR failed_at >= $3)";

/// The order letters are listed and replayed in: oldest first, then by the record's position.
pub(crate) const ORDER: &str = "failed_at, topic, kafka_partition, kafka_offset";

/// The dead letters `filter` matches, oldest first; at most `limit` of them.
pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    limit: Option<u64>,
) -> Result<Vec<Listed>, SinkError> {
    let limit = limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let listed = sqlx::query_as::<_, Listed>(&format!(
        "SELECT topic, kafka_partition, kafka_offset, route, reason, pointer, keyword, replay_attempts, \
         failed_at, last_replayed_at, event_source, event_id FROM dead_letters WHERE {FILTER} \
         ORDER BY {ORDER} LIMIT $4"
    ))
    .bind(&filter.route)
    .bind(&filter.reason)
    .bind(filter.since)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(listed)
}

/// How many dead letters `filter` matches.
pub async fn count(pool: &PgPool, filter: &Filter) -> Result<u64, SinkError> {
    let count: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM dead_letters WHERE {FILTER}"))
            .bind(&filter.route)
            .bind(&filter.reason)
            .bind(filter.since)
            .fetch_one(pool)
            .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Replays the dead letters `filter` matches through `routes`, one pass, chunk by chunk (see the module
/// doc). Writes no new dead letter: one that fails again is updated in place.
pub async fn replay(
    pool: &PgPool,
    routes: &Routes,
    filter: &Filter,
    options: ReplayOptions,
) -> Result<ReplaySummary, SinkError> {
    let mut summary = ReplaySummary::default();
    let Some(last) = last_position(pool, filter).await? else {
        return Ok(summary);
    };
    let chunk = options.chunk.max(1);
    let mut after = None;
    let mut chunks = 0;
    while options.max_chunks.is_none_or(|max| chunks < max) {
        let window = settle::Window {
            filter,
            after: after.as_ref(),
            last: &last,
            limit: chunk,
        };
        let Some((reached, settled)) =
            settle::chunk(pool, routes, &window, options.dry_run).await?
        else {
            break;
        };
        tracing::debug!(
            passed = settled.passed,
            failed_again = settled.failed_again,
            already_there = settled.already_there,
            dry_run = options.dry_run,
            "replayed a chunk of dead letters"
        );
        summary += settled;
        after = Some(reached);
        chunks += 1;
    }
    Ok(summary)
}

/// Where a dead letter stands in the replay order ([`ORDER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) failed_at: OffsetDateTime,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// The last letter `filter` matches now: where the pass ends.
async fn last_position(pool: &PgPool, filter: &Filter) -> Result<Option<Position>, SinkError> {
    let last: Option<(OffsetDateTime, String, i32, i64)> = sqlx::query_as(&format!(
        "SELECT failed_at, topic, kafka_partition, kafka_offset FROM dead_letters WHERE {FILTER} \
         ORDER BY failed_at DESC, topic DESC, kafka_partition DESC, kafka_offset DESC LIMIT 1"
    ))
    .bind(&filter.route)
    .bind(&filter.reason)
    .bind(filter.since)
    .fetch_optional(pool)
    .await?;
    Ok(last.map(|(failed_at, topic, partition, offset)| Position {
        failed_at,
        topic,
        partition,
        offset,
    }))
}

/// A dead letter as a replay reads it: what it takes to rebuild its Kafka record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Letter {
    pub(crate) topic: String,
    pub(crate) kafka_partition: i32,
    pub(crate) kafka_offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    /// The record's headers as JSON text: an array of `[name, value]` pairs.
    pub(crate) headers: Option<String>,
    pub(crate) ingested_at: Option<OffsetDateTime>,
    pub(crate) failed_at: OffsetDateTime,
}

/// The columns a [`Letter`] is read from.
pub(crate) const LETTER_COLUMNS: &str = "topic, kafka_partition, kafka_offset, key, payload, headers::text AS headers, ingested_at, failed_at";

impl Letter {
    pub(crate) fn position(&self) -> Position {
        Position {
            failed_at: self.failed_at,
            topic: self.topic.clone(),
            partition: self.kafka_partition,
            offset: self.kafka_offset,
        }
    }

    /// The Kafka record it was: topic, partition, offset, key, payload, headers, and `ingested_at` as its
    /// create time.
    pub(crate) fn record(&self) -> OwnedMessage {
        let timestamp = match self.ingested_at {
            Some(at) => {
                let millis = at.unix_timestamp_nanos() / 1_000_000;
                i64::try_from(millis).map_or(Timestamp::NotAvailable, Timestamp::CreateTime)
            }
            None => Timestamp::NotAvailable,
        };
        OwnedMessage::new(
            self.payload.clone(),
            self.key.clone(),
            self.topic.clone(),
            timestamp,
            self.kafka_partition,
            self.kafka_offset,
            self.headers
                .as_deref()
                .and_then(|text| self.parse_headers(text)),
        )
    }

    fn parse_headers(&self, text: &str) -> Option<OwnedHeaders> {
        let pairs = match headers_from_json(text) {
            Ok(pairs) => pairs,
            Err(reason) => {
                tracing::warn!(
                    topic = %self.topic,
                    partition = self.kafka_partition,
                    offset = self.kafka_offset,
                    reason,
                    "a dead letter's headers are not [name, value] pairs; replaying its record without headers"
                );
                return None;
            }
        };
        let headers = pairs
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: value.as_deref(),
                })
            });
        Some(headers)
    }
}

/// The `[name, value]` pairs of a dead letter's `headers` (a value may be `null`).
fn headers_from_json(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Array(pairs) = value else {
        return Err("not a JSON array".into());
    };
    pairs
        .into_iter()
        .map(|pair| match pair {
            Value::Array(mut pair) if pair.len() == 2 => {
                let value = pair.pop();
                let name = pair.pop();
                match (name, value) {
                    (Some(Value::String(name)), Some(Value::String(value))) => {
                        Ok((name, Some(value)))
                    }
                    (Some(Value::String(name)), Some(Value::Null)) => Ok((name, None)),
                    _ => Err("a pair is not [text, text or null]".into()),
                }
            }
            _ => Err("an element is not a [name, value] pair".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Message;
    use rdkafka::message::Headers;

    fn letter(headers: Option<&str>) -> Letter {
        Letter {
            topic: "orders".into(),
            kafka_partition: 2,
            kafka_offset: 41,
            key: Some(b"k".to_vec()),
            payload: Some(b"{}".to_vec()),
            headers: headers.map(str::to_owned),
            ingested_at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).ok(),
            failed_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_letter_becomes_the_record_it_was() {
        let record = letter(Some(r#"[["ce_id","a"],["empty",null]]"#)).record();
        assert_eq!(
            (record.topic(), record.partition(), record.offset()),
            ("orders", 2, 41)
        );
        assert_eq!(record.key(), Some(&b"k"[..]));
        assert_eq!(record.payload(), Some(&b"{}"[..]));
        assert_eq!(record.timestamp(), Timestamp::CreateTime(1_700_000_000_123));
        let headers = record.headers().map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            headers,
            Some(vec![
                ("ce_id".into(), Some(b"a".to_vec())),
                ("empty".into(), None)
            ])
        );
    }

    #[test]
    fn headers_that_are_not_pairs_are_left_out() {
        assert!(
            letter(Some(r#"{"ce_id":"a"}"#))
                .record()
                .headers()
                .is_none()
        );
        assert!(letter(Some(r#"[["ce_id"]]"#)).record().headers().is_none());
        assert!(letter(None).record().headers().is_none());
        assert_eq!(
            headers_from_json(r#"[["a","1"]]"#),
            Ok(vec![("a".into(), Some("1".into()))])
        );
    }
}
