//! `pacer control --slo p99=…` on the real pipeline: the `slo` policy runs with that target, its decisions
//! reach the worker and say the margin they keep, and every batch records its freshness (receipt → commit)
//! and its stages before the close (receipt → fetched, fetched → closed).

use crate::common::{Stack, WORKER_TOKEN, start_worker_with, wait_for_pipeline};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freshness_target_reaches_the_workers_and_every_batch_records_its_freshness() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    pacer_worker::MIGRATOR.run(&pool).await.unwrap();
    let (_control, addr) = stack.spawn_control_with(0, &["--slo", "p99=300ms"]).await;
    let url = format!("http://{addr}");
    let worker = start_worker_with(stack.attached_config("fresh", &url, WORKER_TOKEN));
    let producer = stack.produce_steadily(20);

    // The policy moves the worker off its cold start (500 ms) to what the target allows.
    let snapshot = wait_for_pipeline(&url, Duration::from_secs(60), "an slo decision", |s| {
        s.workers.iter().any(|w| {
            w.settings_source() == pacer_proto::v1::SettingsSource::Policy
                && w.settings.as_ref().is_some_and(|s| s.interval_ms < 500)
        })
    })
    .await;
    let policy = snapshot.policy.unwrap();
    assert_eq!(policy.name, "slo");
    assert_eq!(
        policy.params.get(pacer_policy::SLO_TARGET_PARAM),
        Some(&300.0)
    );
    let pushed = snapshot.workers[0].settings.unwrap().interval_ms;

    // The worker runs it: a batch collected under the pushed interval.
    crate::common::eventually(
        "a batch under the pushed interval",
        Duration::from_secs(30),
        async || {
            let ran: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM batch_metrics WHERE worker_id = 'fresh' AND interval_ms = $1",
            )
            .bind(i64::try_from(pushed).unwrap())
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            (ran > 0)
                .then_some(())
                .ok_or(format!("no batch ran with {pushed} ms yet"))
        },
    )
    .await;
    producer.stop().await;
    worker.stop().await;

    // Each decision names the target and the margin it keeps.
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM policy_decisions WHERE policy = 'slo' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!reasons.is_empty());
    for reason in &reasons {
        assert!(reason.starts_with("slo p99 ≤ 300 ms"), "{reason}");
        assert!(reason.contains("margin"), "{reason}");
    }
    // Every batch that wrote rows has its freshness.
    let (batches, without, unstaged, backwards): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE receipt_commit_p99_ms IS NULL), \
         count(*) FILTER (WHERE receipt_fetch_p99_ms IS NULL OR fetch_close_p99_ms IS NULL), \
         count(*) FILTER (WHERE receipt_fetch_p50_ms > receipt_commit_p99_ms + 1) \
         FROM batch_metrics WHERE rows_written > 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(batches > 0);
    assert_eq!(without, 0, "of {batches} batches");
    // And where the records waited before the batch closed, which comes before the commit.
    assert_eq!(unstaged, 0, "of {batches} batches");
    assert_eq!(backwards, 0, "of {batches} batches");
}
