//! Parse, route, enforce the schema and enrich: a batch of Kafka records becomes `COPY` rows, one stream per
//! route, and dead letters for the records that are not events, match no route, break their route's
//! schema, or hold a value their table's column cannot take.

use crate::batch::Batch;
use crate::letter::{DeadLetter, dead_letter, record_time};
use crate::rows::resolve::RecordFacts;
use crate::rows::{ByRoute, Routes, TableRows, builtin, decode, typed};
use rdkafka::message::Message;
use serde_json::Value as Json;
use time::{Duration, OffsetDateTime};

pub use crate::rows::builtin::EVENT_COLUMNS;

/// A transformed batch.
#[derive(Debug)]
pub struct Transformed {
    /// The rows, per route that has any, in route order.
    pub tables: Vec<TableRows>,
    /// Number of rows in all of [`Self::tables`].
    pub valid: usize,
    /// The records that did not become rows.
    pub dead: Vec<DeadLetter>,
    /// End-to-end latency (`processed_at - time`) of the valid events, sorted ascending.
    pub latencies: Vec<Duration>,
    /// When each valid event was received: its record's timestamp, which for an event from pacer's
    /// ingest is the receipt of its request (`processed_at` for a record without one). Earliest first.
    pub receipts: Vec<OffsetDateTime>,
    /// When the rows were stamped (`processed_at`).
    pub processed_at: OffsetDateTime,
}

impl Transformed {
    /// The median and the largest end-to-end latency, if any event was valid.
    pub fn latency_p50_max(&self) -> Option<(Duration, Duration)> {
        let max = *self.latencies.last()?;
        Some((self.latencies[(self.latencies.len() - 1) / 2], max))
    }

    /// Freshness at `committed_at`, when the rows became visible: the median, 99th percentile and
    /// largest time from receipt to commit of the valid events, if any (nearest rank).
    pub fn receipt_to_commit(&self, committed_at: OffsetDateTime) -> Option<[Duration; 3]> {
        let n = self.receipts.len();
        // The latest receipt is the shortest wait: the q-quantile of the waits is the receipt at n - ⌈q·n⌉.
        let at = |rank: usize| committed_at - self.receipts[n - rank];
        let first = *self.receipts.first()?;
        Some([
            at(n.div_ceil(2)),
            at((n * 99).div_ceil(100)),
            committed_at - first,
        ])
    }
}

/// Transforms every record of `batch` by `routes`; `processed_at` stamps every row.
pub fn transform(batch: &Batch, routes: &Routes, processed_at: OffsetDateTime) -> Transformed {
    let pipeline = routes.pipeline();
    // A row takes about its record's payload, plus the columns pacer adds (timestamps, offsets).
    let mut tables = ByRoute::with_room(batch.bytes() + batch.len() * 96);
    let mut dead = Vec::new();
    let mut latencies = Vec::with_capacity(batch.len());
    let mut receipts = Vec::with_capacity(batch.len());
    for (index, record) in batch.records().iter().enumerate() {
        let ingested_at = record_time(record);
        let time = ingested_at.unwrap_or(processed_at);
        let json_route = pipeline.json_route_for_topic(record.topic());
        let decoded = match json_route {
            Some(route) => decode::plain_json(record, &pipeline.routes()[route], time),
            None => decode::cloud_event(record, time),
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(reason) => {
                let mut letter = dead_letter(record, ingested_at, reason);
                // A plain JSON record's route is known from its topic, even when it is not readable.
                letter.route = json_route.map(|route| pipeline.routes()[route].name().to_owned());
                dead.push(letter);
                continue;
            }
        };
        let event = &decoded.event;
        let identity = || Some((event.source.clone(), event.id.clone()));
        let Some(route_index) =
            json_route.or_else(|| pipeline.route_index(record.topic(), &event.ty, &event.source))
        else {
            let mut letter = dead_letter(
                record,
                ingested_at,
                format!(
                    "no route: no route of the pipeline takes topic {:?}, type {:?}, source {:?}, and it names no fallback",
                    record.topic(),
                    event.ty,
                    event.source
                ),
            );
            letter.event = identity();
            dead.push(letter);
            continue;
        };
        let (route, compiled) = routes.get(route_index);
        // `data` as a JSON value only for the schema: the columns read it from its text (rows::extract).
        let parsed;
        let data: Option<&Json> = match (&decoded.data, &event.data) {
            (Some(data), _) => Some(data),
            (None, Some(raw)) if route.has_schema() => {
                match serde_json::from_str::<Json>(raw.get()) {
                    Ok(value) => {
                        parsed = value;
                        Some(&parsed)
                    }
                    // Valid JSON, but not a value the schema can be checked on (a number beyond f64, say).
                    Err(e) => {
                        let mut letter = dead_letter(
                            record,
                            ingested_at,
                            format!(
                                "route \"{}\": data cannot be checked against the schema: {e}",
                                route.name()
                            ),
                        );
                        letter.event = identity();
                        letter.route = Some(route.name().to_owned());
                        letter.pointer = Some("/data".to_owned());
                        dead.push(letter);
                        continue;
                    }
                }
            }
            _ => None,
        };
        if let Err(violation) = route.check_data(data) {
            let mut letter = dead_letter(record, ingested_at, violation.to_string());
            letter.event = identity();
            letter.route = Some(route.name().to_owned());
            letter.pointer = Some(violation.pointer.clone());
            letter.keyword = Some(violation.keyword.clone());
            dead.push(letter);
            continue;
        }
        let facts = RecordFacts {
            topic: record.topic(),
            partition: record.partition(),
            offset: record.offset(),
            ingested_at: time,
            processed_at,
        };
        let table = tables.of(route_index);
        let written = if compiled.plan.builtin.is_some() {
            builtin::write(&mut table.rows, event, &facts);
            Ok(None)
        } else {
            typed::write(&mut table.rows, route, compiled, event, &facts)
        };
        match written {
            Ok(key) => table.note_key(key),
            Err(refused) => {
                let column_type = route
                    .column(&refused.column)
                    .map(|c| c.column_type().to_string());
                let mut letter = dead_letter(
                    record,
                    ingested_at,
                    format!("route \"{}\": {refused}", route.name()),
                );
                letter.event = identity();
                letter.route = Some(route.name().to_owned());
                letter.pointer = Some(refused.from.clone());
                letter.keyword = column_type;
                dead.push(letter);
                continue;
            }
        }
        table.row_records.push(index);
        latencies.push(processed_at - event.time);
        receipts.push(time);
    }
    latencies.sort_unstable();
    receipts.sort_unstable();
    Transformed {
        tables: tables.into_tables(),
        valid: latencies.len(),
        dead,
        latencies,
        receipts,
        processed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_batch::Settings;
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

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
        let out = transform(&batch, &Routes::default(), now);
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
        let text = std::str::from_utf8(out.tables[0].rows.as_bytes()).unwrap();
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
        assert_eq!(out.receipts, vec![now - Duration::seconds(1)]);
    }

    #[test]
    fn receipt_to_commit_takes_nearest_ranks() {
        let committed = OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
        // 200 receipts, 1..=200 ms before the commit.
        let out = Transformed {
            tables: Vec::new(),
            valid: 200,
            dead: Vec::new(),
            latencies: Vec::new(),
            receipts: (1..=200)
                .rev()
                .map(|ms| committed - Duration::milliseconds(ms))
                .collect(),
            processed_at: committed,
        };
        let ms = Duration::milliseconds;
        assert_eq!(
            out.receipt_to_commit(committed),
            Some([ms(100), ms(198), ms(200)])
        );
        let none = Transformed {
            receipts: Vec::new(),
            ..out
        };
        assert_eq!(none.receipt_to_commit(committed), None);
    }

    #[test]
    fn typed_routes_convert_columns_and_dead_letter_what_they_cannot_take() {
        let pipeline = pacer_pipeline::Pipeline::parse(
            r#"
[[route]]
name = "orders"
type = "order.*"
table = "orders"
key = ["id"]
[route.columns]
id = { type = "uuid", from = "/data/id" }
amount = { type = "numeric", from = "/data/amount" }
note = { type = "text", from = "/data/note", nullable = true }
"#,
            "pacer.toml",
        )
        .unwrap();
        let routes = Routes::new(pipeline);
        let mut batch = Batch::new(Settings::default());
        let event = |id: &str, ty: &str, data: &str| {
            format!(
                r#"{{"specversion":"1.0","id":"{id}","source":"/s","type":"{ty}","data":{data}}}"#
            )
        };
        let good = event(
            "a",
            "order.placed",
            r#"{"id":"7D444840-9DC0-11D1-B245-5FFDCE74FAD2","amount":"12.50"}"#,
        );
        let bad = event(
            "b",
            "order.placed",
            r#"{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","amount":"twelve"}"#,
        );
        let stray = event("c", "refund.made", "{}");
        for (offset, payload) in [good, bad, stray].iter().enumerate() {
            batch.push(record(offset as i64, Some(payload.as_bytes())), 1);
        }
        let out = transform(&batch, &routes, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(out.valid, 1);
        let rows = std::str::from_utf8(out.tables[0].rows.as_bytes()).unwrap();
        assert_eq!(rows, "7d444840-9dc0-11d1-b245-5ffdce74fad2\t12.50\t\\N\n");
        let [conversion, no_route] = &out.dead[..] else {
            panic!("{:?}", out.dead)
        };
        assert_eq!(conversion.route.as_deref(), Some("orders"));
        assert_eq!(conversion.pointer.as_deref(), Some("/data/amount"));
        assert_eq!(conversion.keyword.as_deref(), Some("numeric"));
        assert!(
            conversion.reason.contains("column \"amount\""),
            "{}",
            conversion.reason
        );
        assert!(
            conversion.reason.contains("\"twelve\""),
            "{}",
            conversion.reason
        );
        assert_eq!(conversion.event, Some(("/s".to_owned(), "b".to_owned())));
        assert!(
            no_route.reason.starts_with("no route"),
            "{}",
            no_route.reason
        );
        assert_eq!(no_route.route, None);
    }
}
