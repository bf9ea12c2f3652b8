//! Parse, enforce the schema and enrich: a batch of Kafka records becomes `COPY` rows for `events` and dead
//! letters for the records that are not valid CloudEvents.

use crate::batch::Batch;
use crate::copy::CopyText;
use rdkafka::Timestamp;
use rdkafka::message::{Message, OwnedMessage};
use time::{Duration, OffsetDateTime};

/// The columns of `events`, in the order [`Transformed::events`] writes them.
pub const EVENT_COLUMNS: &str = "source, id, type, time, subject, datacontenttype, dataschema, data, data_base64, \
     extensions, ingested_at, processed_at, kafka_partition, kafka_offset";

/// A record that is not a valid CloudEvent.
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
    /// What is wrong with it.
    pub reason: String,
    /// The record's timestamp.
    pub ingested_at: Option<OffsetDateTime>,
    /// The event's `(source, id)`, when the record is a valid event that PostgreSQL refused.
    pub event: Option<(String, String)>,
}

/// A transformed batch.
#[derive(Debug)]
pub struct Transformed {
    /// `COPY` text for `events`.
    pub events: CopyText,
    /// Number of rows in [`Self::events`].
    pub valid: usize,
    /// For each row of [`Self::events`], the index of its record in the batch.
    pub row_records: Vec<usize>,
    /// Invalid records.
    pub dead: Vec<DeadLetter>,
    /// End-to-end latency (`processed_at - time`) of the valid events, sorted ascending.
    pub latencies: Vec<Duration>,
    /// When the rows were stamped (`processed_at`).
    pub processed_at: OffsetDateTime,
}

impl Transformed {
    /// The median and the largest end-to-end latency, if any event was valid.
    pub fn latency_p50_max(&self) -> Option<(Duration, Duration)> {
        let max = *self.latencies.last()?;
        Some((self.latencies[(self.latencies.len() - 1) / 2], max))
    }
}

/// Transforms every record of `batch`; `processed_at` stamps every row.
pub fn transform(batch: &Batch, processed_at: OffsetDateTime) -> Transformed {
    let mut events = CopyText::with_capacity(batch.bytes() + batch.len() * 96);
    let mut dead = Vec::new();
    let mut latencies = Vec::with_capacity(batch.len());
    let mut valid = 0;
    let mut row_records = Vec::with_capacity(batch.len());
    for (index, record) in batch.records().iter().enumerate() {
        let ingested_at = record_time(record);
        let Some(payload) = record.payload() else {
            dead.push(dead_letter(
                record,
                ingested_at,
                "the record has no payload".into(),
            ));
            continue;
        };
        let event = match pacer_event::parse_one(payload, ingested_at.unwrap_or(processed_at)) {
            Ok(event) => event,
            Err(e) => {
                dead.push(dead_letter(
                    record,
                    ingested_at,
                    format!("not a valid CloudEvent: {e}"),
                ));
                continue;
            }
        };
        let data = event.data.as_ref().map(|raw| raw.get());
        events
            .text(&event.source)
            .text(&event.id)
            .text(&event.ty)
            .timestamp(event.time)
            .opt_text(event.subject.as_deref())
            .opt_text(event.datacontenttype.as_deref())
            .opt_text(event.dataschema.as_deref())
            .opt_text(data)
            .opt_text(event.data_base64.as_deref())
            .text(&event.extensions_json())
            .timestamp(ingested_at.unwrap_or(processed_at))
            .timestamp(processed_at)
            .int(i64::from(record.partition()))
            .int(record.offset());
        events.end_row();
        latencies.push(processed_at - event.time);
        row_records.push(index);
        valid += 1;
    }
    latencies.sort_unstable();
    Transformed {
        events,
        valid,
        row_records,
        dead,
        latencies,
        processed_at,
    }
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
        reason,
        ingested_at,
        event: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_batch::Settings;

    fn record(offset: i64, payload: Option<&[u8]>) -> OwnedMessage {
        OwnedMessage::new(
            payload.map(<[u8]>::to_vec),
            None,
            "events".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            3,
            offset,
            None,
        )
    }

    #[test]
    fn valid_records_become_rows_and_the_rest_dead_letters() {
        let mut batch = Batch::new(Settings::default());
        batch.push(record(0, Some(br#"{"specversion":"1.0","id":"a","source":"/s","type":"t","data":{"x":"1\t2"}}"#)), 1);
        batch.push(record(1, Some(b"not json")), 1);
        batch.push(record(2, None), 1);
        batch.push(
            record(
                3,
                Some(br#"{"specversion":"1.0","source":"/s","type":"t"}"#),
            ),
            1,
        );
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap();
        let out = transform(&batch, now);
        assert_eq!(out.valid, 1);
        assert_eq!(
            out.dead.iter().map(|d| d.offset).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(
            out.dead[2].reason.contains("`id`"),
            "{}",
            out.dead[2].reason
        );
        let text = std::str::from_utf8(out.events.as_bytes()).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(
            text.starts_with(
                "/s\ta\tt\t2023-11-14T22:13:20Z\t\\N\t\\N\t\\N\t{\"x\":\"1\\\\t2\"}\t\\N\t{}\t"
            ),
            "{text}"
        );
        assert!(text.ends_with("\t3\t0\n"));
        // No `time`: the record timestamp stands in, one second before processing.
        assert_eq!(
            out.latency_p50_max(),
            Some((Duration::seconds(1), Duration::seconds(1)))
        );
    }
}
