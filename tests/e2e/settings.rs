//! Batch settings change while the worker runs, from the next batch on, and every batch records which limit
//! closed it.

use crate::common::{Stack, event, raw};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_settings_apply_from_the_next_batch() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let worker = stack.start_worker("s");
    let payloads = |from: u64| -> Vec<Option<Vec<u8>>> {
        (from..from + 500)
            .map(|i| raw(&event(&format!("e{i}"), i)))
            .collect()
    };

    // Under the start settings (interval 100 ms, max_rows 10,000): batches close on the interval.
    stack.produce_raw(&payloads(0)).await;
    stack
        .wait_for_rows(&pool, "events", 500, Duration::from_secs(60))
        .await;
    let mut settings = worker.handle.get();
    settings.max_rows = 40;
    settings.interval = Duration::from_secs(3);
    worker.handle.set(settings);
    // The batch open now still runs under the old settings; give it time to close.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM batch_metrics")
        .fetch_one(&pool)
        .await
        .unwrap();

    stack.produce_raw(&payloads(500)).await;
    stack
        .wait_for_rows(&pool, "events", 1_000, Duration::from_secs(60))
        .await;
    let first: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT interval_ms, flush_reason, records::bigint FROM batch_metrics WHERE id <= $1",
    )
    .bind(before)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        first
            .iter()
            .all(|(interval, reason, _)| *interval == 100 && reason == "interval"),
        "{first:?}"
    );
    let after: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT interval_ms, max_rows, flush_reason, records::bigint FROM batch_metrics WHERE id > $1",
    )
    .bind(before)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(after.iter().map(|r| r.3).sum::<i64>(), 500, "{after:?}");
    for (interval, max_rows, reason, records) in &after {
        assert_eq!((*interval, *max_rows), (3_000, 40), "{after:?}");
        match reason.as_str() {
            "max_rows" => assert_eq!(*records, 40, "{after:?}"),
            "interval" => assert!(*records < 40, "{after:?}"),
            other => panic!("unexpected flush reason {other}: {after:?}"),
        }
    }
    assert!(
        after.iter().filter(|r| r.2 == "max_rows").count() >= 12,
        "{after:?}"
    );
    worker.stop().await;
}
