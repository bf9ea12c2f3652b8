//! A row that passes validation but that PostgreSQL refuses (here: a CHECK constraint an operator added) does
//! not stall its partition: the refused row is taken out by the line PostgreSQL names and becomes a dead letter with
//! PostgreSQL's reason, a duplicate in the same batch is absorbed, and every other row is written. The same
//! refused event twice (a client's retry after a lost answer) is one dead letter, not two.

use crate::common::{self, Stack, event, raw};
use sqlx::PgPool;
use std::time::Duration;

const NO_POISON: &str = "ALTER TABLE events ADD CONSTRAINT no_poison CHECK (type <> 'poison')";

/// A stack whose schema `ddl` has changed, with `events` produced before the worker `id` starts, so that
/// they land in one batch.
async fn one_batch_under(
    ddl: &str,
    events: &[serde_json::Value],
    id: &str,
) -> (Stack, PgPool, common::Worker) {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    sqlx::query(ddl).execute(&pool).await.unwrap();
    let records: Vec<Option<Vec<u8>>> = events.iter().map(raw).collect();
    stack.produce_raw(&records).await;
    let worker = stack.start_worker(id);
    (stack, pool, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_refuses_is_dead_lettered_and_the_rest_written() {
    let mut poison = event("p1", 0);
    poison["type"] = "poison".into();
    // All six land in one batch.
    let events = [
        event("v1", 1),
        poison.clone(),
        event("v2", 2),
        event("v1", 1),
        event("v3", 3),
        poison.clone(),
    ];
    let (stack, pool, worker) = one_batch_under(NO_POISON, &events, "iso").await;

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
    crate::common::wait_for_batch_metrics(&pool, events.len() as i64).await;
    let (records, written, duplicates, invalid): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT sum(records)::bigint, sum(rows_written)::bigint, sum(duplicates)::bigint, sum(invalid)::bigint FROM batch_metrics",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // Two records were refused; they are the same event, so there is one dead letter.
    assert_eq!((records, written, duplicates, invalid), (6, 3, 1, 2));
    let (dead, identity): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*), max(event_source || ' ' || event_id) FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((dead, identity.as_deref()), (1, Some("/test p1")));
    worker.stop().await;
}

/// A quarter of a batch refused: each refused row becomes a dead letter and every other row is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_many_refused_rows_loses_none_of_the_others() {
    let events: Vec<serde_json::Value> = (0..200u64)
        .map(|n| {
            let mut e = event(&format!("x{n}"), n);
            if n % 4 == 0 {
                e["type"] = "poison".into();
            }
            e
        })
        .collect();
    let (stack, pool, worker) = one_batch_under(NO_POISON, &events, "halves").await;

    stack
        .wait_for_rows(&pool, "dead_letters", 50, Duration::from_secs(60))
        .await;
    stack
        .wait_for_rows(&pool, "events", 150, Duration::from_secs(60))
        .await;
    let (written, dead): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE type <> 'poison'), \
         (SELECT count(*) FROM dead_letters WHERE reason LIKE '%no_poison%' AND event_id LIKE 'x%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((written, dead), (150, 50));
    worker.stop().await;
}

/// A conflict on a unique index an operator added is a refusal of the row (a dead letter naming the index),
/// not a duplicate of an event already written: the event is not lost as "already there".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_another_unique_index_is_a_dead_letter_not_a_duplicate() {
    // u2 has the same seq as u1 under another id; u1 is also re-delivered, a true duplicate.
    let events = [
        event("u1", 1),
        event("u2", 1),
        event("u1", 1),
        event("u3", 3),
    ];
    let (stack, pool, worker) = one_batch_under(
        "CREATE UNIQUE INDEX one_per_seq ON events ((data->>'seq'))",
        &events,
        "unique",
    )
    .await;

    stack
        .wait_for_rows(&pool, "dead_letters", 1, Duration::from_secs(60))
        .await;
    stack
        .wait_for_rows(&pool, "events", 2, Duration::from_secs(60))
        .await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids, ["u1", "u3"]);
    let (id, reason): (Option<String>, String) =
        sqlx::query_as("SELECT event_id, reason FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(id.as_deref(), Some("u2"));
    assert!(reason.contains("one_per_seq"), "{reason}");
    crate::common::wait_for_batch_metrics(&pool, events.len() as i64).await;
    let (written, duplicates, invalid): (i64, i64, i64) = sqlx::query_as(
        "SELECT sum(rows_written)::bigint, sum(duplicates)::bigint, sum(invalid)::bigint FROM batch_metrics",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((written, duplicates, invalid), (2, 1, 1));
    worker.stop().await;
}
