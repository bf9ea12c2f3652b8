//! 20,000 events posted over HTTP, as single events, batches and NDJSON, end up as exactly 20,000 rows, and
//! every field round-trips.

use crate::common::Stack;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TOTAL: u64 = 20_000;

fn varied_event(i: u64) -> Value {
    let mut e = json!({
        "specversion": "1.0",
        "id": format!("e{i}"),
        "source": format!("/src/{}", i % 7),
        "type": format!("t.{}", i % 3),
    });
    let o = e.as_object_mut().unwrap();
    if i.is_multiple_of(2) {
        let t =
            OffsetDateTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_000 + i * 1_001);
        o.insert("time".into(), json!(t.format(&Rfc3339).unwrap()));
    }
    if i.is_multiple_of(3) {
        o.insert("subject".into(), json!(format!("subject\t{i}")));
    }
    if i.is_multiple_of(4) {
        o.insert("datacontenttype".into(), json!("application/json"));
    }
    if i.is_multiple_of(5) {
        o.insert("dataschema".into(), json!("https://example.com/schema/v1"));
    }
    if i.is_multiple_of(6) {
        o.insert("extstr".into(), json!(format!("v{i}")));
        o.insert("extnum".into(), json!(i));
        o.insert("extbool".into(), json!(i.is_multiple_of(12)));
        o.insert("partitionkey".into(), json!(format!("pk{}", i % 10)));
    }
    if i.is_multiple_of(11) {
        o.insert("data_base64".into(), json!("aGVsbG8gd29ybGQ="));
    } else {
        o.insert(
            "data".into(),
            json!({"seq": i, "text": "tab\there\nnewline \\ backslash \"quote\" é ✓ 😀", "nested": {"list": [1, 2.5, -3, null, true]}, "neg": -1.25e-3}),
        );
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_thousand_events_become_exactly_twenty_thousand_rows() {
    let stack = Stack::start(4).await;
    let ingest = stack.start_ingest().await;
    let workers = [stack.start_worker("w1"), stack.start_worker("w2")];
    let started = OffsetDateTime::now_utc();

    let events: Vec<Value> = (0..TOTAL).map(varied_event).collect();
    let mut requests: Vec<(String, String, usize)> = Vec::new();
    for (n, e) in events[..2_000].iter().enumerate() {
        let ct = if n.is_multiple_of(2) {
            "application/json"
        } else {
            "application/cloudevents+json; charset=utf-8"
        };
        requests.push((ct.into(), e.to_string(), 1));
    }
    for chunk in events[2_000..11_000].chunks(100) {
        requests.push((
            "application/cloudevents-batch+json".into(),
            Value::Array(chunk.to_vec()).to_string(),
            chunk.len(),
        ));
    }
    for chunk in events[11_000..].chunks(100) {
        let body: String = chunk.iter().map(|e| format!("{e}\n")).collect();
        requests.push(("application/x-ndjson".into(), body, chunk.len()));
    }
    let client = reqwest::Client::new();
    let url = ingest.url();
    let answers: Vec<(u16, Value, usize)> = futures::stream::iter(requests)
        .map(|(ct, body, n)| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client
                    .post(&url)
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (
                    status,
                    serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap(),
                    n,
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (status, body, n) in &answers {
        assert_eq!(*status, 202, "{body}");
        assert_eq!(body["accepted"], json!(n));
    }

    let pool = stack.pool().await;
    let rows = stack
        .wait_for_rows(&pool, "events", TOTAL as i64, Duration::from_secs(180))
        .await;
    assert_eq!(rows, TOTAL as i64);
    // Let a late duplicate (there should be none) show up before the final count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, TOTAL as i64);
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    let written: i64 = sqlx::query_scalar("SELECT sum(rows_written)::bigint FROM batch_metrics")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, TOTAL as i64);
    freshness_is_recorded_for_every_batch(&pool, started).await;

    type Row = (
        String,
        String,
        String,
        OffsetDateTime,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        OffsetDateTime,
        OffsetDateTime,
    );
    let stored: Vec<Row> = sqlx::query_as(
        "SELECT source, id, type, time, subject, datacontenttype, dataschema, data::text, data_base64, extensions::text, \
         ingested_at, processed_at FROM events",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_key: HashMap<(String, String), Row> = stored
        .into_iter()
        .map(|r| ((r.0.clone(), r.1.clone()), r))
        .collect();
    let now = OffsetDateTime::now_utc();
    for e in &events {
        let key = (
            e["source"].as_str().unwrap().to_owned(),
            e["id"].as_str().unwrap().to_owned(),
        );
        let row = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("no row for {key:?}"));
        assert_eq!(row.2, e["type"].as_str().unwrap());
        match e.get("time") {
            Some(t) => assert_eq!(
                row.3,
                OffsetDateTime::parse(t.as_str().unwrap(), &Rfc3339).unwrap(),
                "{key:?}"
            ),
            None => assert!(
                row.3 >= started - Duration::from_secs(1) && row.3 <= now,
                "receive time {:?}",
                row.3
            ),
        }
        assert_eq!(row.4.as_deref(), e.get("subject").and_then(Value::as_str));
        assert_eq!(
            row.5.as_deref(),
            e.get("datacontenttype").and_then(Value::as_str)
        );
        assert_eq!(
            row.6.as_deref(),
            e.get("dataschema").and_then(Value::as_str)
        );
        let data: Option<Value> = row.7.as_deref().map(|d| serde_json::from_str(d).unwrap());
        assert_eq!(data.as_ref(), e.get("data"), "{key:?}");
        assert_eq!(
            row.8.as_deref(),
            e.get("data_base64").and_then(Value::as_str)
        );
        let extensions: Value = serde_json::from_str(&row.9).unwrap();
        let expected: serde_json::Map<String, Value> = e
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("ext") || *k == "partitionkey")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(extensions, Value::Object(expected), "{key:?}");
        assert!(row.10 <= row.11, "ingested_at after processed_at");
    }

    for w in workers {
        w.stop().await;
    }
    ingest.stop().await;
}

/// Every batch that wrote rows records receipt → commit, consistent with itself and with the clock: the
/// percentiles in order, and no wait longer than the test has run.
async fn freshness_is_recorded_for_every_batch(pool: &sqlx::PgPool, started: OffsetDateTime) {
    let elapsed_ms = (OffsetDateTime::now_utc() - started).as_seconds_f64() * 1e3;
    type Waits = (i32, Option<f64>, Option<f64>, Option<f64>);
    let batches: Vec<Waits> = sqlx::query_as(
        "SELECT rows_written, receipt_commit_p50_ms, receipt_commit_p99_ms, receipt_commit_max_ms \
         FROM batch_metrics WHERE rows_written > 0",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(!batches.is_empty());
    for (rows, p50, p99, max) in batches {
        let (Some(p50), Some(p99), Some(max)) = (p50, p99, max) else {
            panic!("a batch of {rows} rows has no receipt → commit: {p50:?} {p99:?} {max:?}");
        };
        assert!(
            0.0 <= p50 && p50 <= p99 && p99 <= max && max <= elapsed_ms,
            "receipt → commit of a batch of {rows} rows: p50 {p50} p99 {p99} max {max} ms, test ran {elapsed_ms} ms"
        );
    }
    // Each row's ingested_at is the receipt of its request: within the test's run, before its row was made.
    let outside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE ingested_at < $1 - interval '1 millisecond' OR ingested_at > processed_at",
    )
    .bind(started)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(outside, 0);
}
