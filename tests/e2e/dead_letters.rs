//! Records that are not valid CloudEvents, produced straight to the topic, end up in `dead_letters` with the
//! reason and their raw bytes; the valid records around them are all written.

use crate::common::{self, Stack, event, raw};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_are_dead_lettered_and_valid_ones_written() {
    let stack = Stack::start(2).await;
    let worker = stack.start_worker("dl");
    let valid = |id: &str| raw(&event(id, 0));
    let invalid: Vec<(Option<Vec<u8>>, &str)> = vec![
        (Some(b"not json at all".to_vec()), "malformed JSON"),
        (Some(b"[1,2,3]".to_vec()), "JSON object"),
        (None, "no payload"),
        (
            Some(br#"{"specversion":"1.0","source":"/s","type":"t"}"#.to_vec()),
            "`id` is missing",
        ),
        (
            Some(
                br#"{"specversion":"1.0","id":"n","source":"/s","type":"t","data":"a\u0000b"}"#
                    .to_vec(),
            ),
            "NUL",
        ),
        (
            Some(
                b"{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\",\"source\":\"/s\",\"type\":\"t\"}"
                    .to_vec(),
            ),
            "malformed JSON",
        ),
        (
            Some(
                format!(
                    r#"{{"specversion":"1.0","id":"deep","source":"/s","type":"t","data":{}0{}}}"#,
                    "[".repeat(200),
                    "]".repeat(200)
                )
                .into_bytes(),
            ),
            "nested deeper",
        ),
        (
            Some(
                br#"{"specversion":"1.0","id":"x","source":"/s","type":"t","Bad\u0000Name":1}"#
                    .to_vec(),
            ),
            "not a valid attribute name",
        ),
    ];
    let mut records = vec![valid("v1")];
    for (i, (payload, _)) in invalid.iter().enumerate() {
        records.push(payload.clone());
        records.push(valid(&format!("v{}", i + 2)));
    }
    stack.produce_raw(&records).await;

    let pool = stack.pool().await;
    let valid_count = 1 + invalid.len() as i64;
    stack
        .wait_for_rows(&pool, "events", valid_count, Duration::from_secs(60))
        .await;
    stack
        .wait_for_rows(
            &pool,
            "dead_letters",
            invalid.len() as i64,
            Duration::from_secs(60),
        )
        .await;

    let dead: Vec<(i64, Option<Vec<u8>>, String, String)> = sqlx::query_as(
        "SELECT kafka_offset, payload, reason, topic FROM dead_letters ORDER BY kafka_offset",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(dead.len(), invalid.len());
    for ((offset, payload, reason, topic), (expected_payload, expected_reason)) in
        dead.iter().zip(&invalid)
    {
        assert_eq!(payload, expected_payload, "offset {offset}");
        assert!(
            reason.contains(expected_reason),
            "offset {offset}: {reason:?} should mention {expected_reason:?}"
        );
        assert_eq!(topic, common::TOPIC);
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events ORDER BY kafka_offset")
        .fetch_all(&pool)
        .await
        .unwrap();
    let expected: Vec<String> = (1..=valid_count).map(|i| format!("v{i}")).collect();
    assert_eq!(ids, expected);
    crate::common::wait_for_batch_metrics(&pool, valid_count + invalid.len() as i64).await;
    let invalid_reported: i64 =
        sqlx::query_scalar("SELECT sum(invalid)::bigint FROM batch_metrics")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(invalid_reported, invalid.len() as i64);
    worker.stop().await;
}
