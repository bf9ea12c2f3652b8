//! `kill -9` of a worker in the middle of a stream, then a restart: no event lost, none duplicated.

use crate::common::{Stack, assert_exactly_once, post_steadily};
use std::time::Duration;

const TOTAL: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_stream_loses_and_duplicates_nothing() {
    let stack = Stack::start(4).await;
    let ingest = stack.start_ingest().await;
    let mut victim = stack.spawn_worker_process("victim");
    let mut other = stack.spawn_worker_process("other");
    let pool = stack.pool().await;

    let load = post_steadily(ingest.url(), TOTAL, 100, 2_500.0);
    // Kill the worker once it has written some batches, so it dies with work in flight.
    stack
        .wait_for_rows(&pool, "events", 3_000, Duration::from_secs(60))
        .await;
    victim.start_kill().unwrap();
    let status = victim.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut restarted = stack.spawn_worker_process("victim");

    assert_eq!(load.await.unwrap(), TOTAL);
    stack
        .wait_for_rows(&pool, "events", TOTAL as i64, Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly_once(&pool, TOTAL).await;
    let duplicates: Option<i64> =
        sqlx::query_scalar("SELECT sum(duplicates)::bigint FROM batch_metrics")
            .fetch_one(&pool)
            .await
            .unwrap();
    eprintln!(
        "re-delivered events absorbed by the key: {}",
        duplicates.unwrap_or(0)
    );

    restarted.start_kill().unwrap();
    other.start_kill().unwrap();
    ingest.stop().await;
}
