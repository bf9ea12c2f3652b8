//! A row that passes validation but that PostgreSQL refuses (here: a CHECK constraint an operator added) does
//! not stall its partition: the batch is written row by row, the refused row becomes a dead letter with
//! PostgreSQL's reason, a duplicate in the same batch is absorbed, and every other row is written.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::{Stack, event, raw};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_refuses_is_dead_lettered_and_the_rest_written() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    sqlx::query("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (type <> 'poison')")
        .execute(&pool)
        .await
        .unwrap();
    let mut poison = event("p1", 0);
    poison["type"] = "poison".into();
    let records: Vec<Option<Vec<u8>>> = [
        event("v1", 1),
        poison,
        event("v2", 2),
        event("v1", 1),
        event("v3", 3),
    ]
    .iter()
    .map(raw)
    .collect();
    // All five land in one batch: produced before the worker starts.
    stack.produce_raw(&records).await;
    let worker = stack.start_worker("iso");

    stack
        .wait_for_rows(&pool, "dead_letters", 1, Duration::from_secs(60))
        .await;
    stack
        .wait_for_rows(&pool, "events", 3, Duration::from_secs(60))
        .await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids, ["v1", "v2", "v3"]);
    let (offset, reason): (i64, String) =
        sqlx::query_as("SELECT kafka_offset, reason FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(offset, 1);
    assert!(reason.contains("no_poison"), "{reason}");
    let (records, written, duplicates, invalid): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT sum(records)::bigint, sum(rows_written)::bigint, sum(duplicates)::bigint, sum(invalid)::bigint FROM batch_metrics",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((records, written, duplicates, invalid), (5, 3, 1, 1));
    worker.stop().await;
}
