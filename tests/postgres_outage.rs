//! PostgreSQL stopped for a few seconds under load, then started: no event lost, none duplicated.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::{Stack, assert_exactly_once, post_steadily};
use std::time::Duration;

const TOTAL: u64 = 15_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_load_loses_and_duplicates_nothing() {
    let mut stack = Stack::start(4).await;
    let ingest = stack.start_ingest().await;
    let workers = [stack.start_worker("a"), stack.start_worker("b")];
    let pool = stack.pool().await;

    let load = post_steadily(ingest.url(), TOTAL, 100, 2_000.0);
    stack
        .wait_for_rows(&pool, "events", 2_000, Duration::from_secs(60))
        .await;
    stack.pg.stop().await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stack.pg.start().await.unwrap();

    assert_eq!(load.await.unwrap(), TOTAL);
    let pool = stack.pool().await;
    stack
        .wait_for_rows(&pool, "events", TOTAL as i64, Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly_once(&pool, TOTAL).await;
    let retried: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM batch_metrics WHERE write_attempts > 1 OR write_ms > 2000",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        retried > 0,
        "no batch was retried or waited: the outage did not hit the workers"
    );

    for w in workers {
        w.stop().await;
    }
    ingest.stop().await;
}
