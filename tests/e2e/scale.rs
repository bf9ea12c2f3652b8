//! The scale advice on the real pipeline: one worker made slow (a trigger that sleeps for each row) while
//! records arrive faster than it can write them. The control plane's snapshot and its
//! `pacer_control_workers_needed` gauge say that more workers are needed, and the batches record their
//! freshness (receipt → commit) for the control plane's window.

use crate::common::{self, Stack, WORKER_TOKEN, start_worker_with, wait_for_pipeline};
use std::time::Duration;

/// A row takes at least 40 ms to insert: the worker writes at most 25 rows per second of busy time.
const SLOW_ROWS: &str = "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \
     $$ BEGIN PERFORM pg_sleep(0.04); RETURN NEW; END $$; \
     CREATE TRIGGER slow_row BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow_row();";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_worker_makes_the_control_plane_advise_more_workers() {
    let stack = Stack::start(4).await;
    let pool = stack.pool().await;
    pacer_worker::MIGRATOR.run(&pool).await.unwrap();
    sqlx::raw_sql(SLOW_ROWS).execute(&pool).await.unwrap();
    let registry = prometheus::Registry::new();
    let mut config = stack.control_config(100.0);
    // At most 50 rows a batch (2 s of the slow rows), so that the window of the last 10 s holds several.
    let settings = pacer_policy::Settings {
        interval: Duration::from_millis(100),
        max_rows: 50,
        max_bytes: 1 << 20,
    };
    let bounds = pacer_policy::Bounds {
        min_rows: 10,
        max_rows: settings.max_rows,
        cold_start: settings,
        ..pacer_policy::Bounds::default()
    };
    let params = std::collections::BTreeMap::from([("interval_ms".to_owned(), 100.0)]);
    config.policy =
        pacer_policy::PolicyConfig::new(pacer_policy::PolicyKind::Static, &params, bounds).unwrap();
    config.metrics.register(&registry).unwrap();
    let control = stack.start_control(config).await;
    let url = control.url();
    let worker = start_worker_with(stack.attached_config("slow", &url, WORKER_TOKEN));
    // More than 25 records a second: 20 at a time, then a pause of 100 ms.
    let producer = stack.produce_steadily(20);

    let snapshot = wait_for_pipeline(
        &url,
        Duration::from_secs(60),
        "advice for more workers",
        |s| {
            s.recent_batches
                .as_ref()
                .and_then(|r| r.scale.as_ref())
                .is_some_and(|scale| scale.workers_needed >= 2)
        },
    )
    .await;
    let recent = snapshot.recent_batches.unwrap();
    let scale = recent.scale.clone().unwrap();
    assert!(
        scale.rate_per_worker > 0.0 && scale.rate_per_worker < 30.0,
        "{scale:?}"
    );
    // More arrive than one worker takes at the planned 80 % of its time.
    assert!(
        recent.arrival_per_s.unwrap() > 0.8 * scale.rate_per_worker,
        "{recent:?}"
    );
    // 4 partitions: up to 4 workers can help.
    assert_eq!(scale.workers_usable, scale.workers_needed.min(4));
    assert_eq!(scale.capped, scale.workers_needed > 4);
    assert!(scale.advice.contains("workers needed"), "{}", scale.advice);
    assert!(recent.receipt_commit_p99.is_some(), "{recent:?}");
    // The gauge an autoscaler reads says the same (it is set on the control plane's next tick).
    common::eventually(
        "the workers_needed gauge",
        Duration::from_secs(10),
        async || {
            let needed = registry
                .gather()
                .iter()
                .find(|family| family.name() == pacer_control::metric_names::WORKERS_NEEDED)
                .and_then(|family| {
                    family
                        .get_metric()
                        .iter()
                        .find(|m| {
                            m.get_label()
                                .iter()
                                .any(|l| l.name() == "bound" && l.value() == "needed")
                        })
                        .map(|m| m.get_gauge().get_value())
                })
                .unwrap_or(0.0);
            (needed >= 2.0).then_some(()).ok_or(format!(
                "pacer_control_workers_needed{{bound=\"needed\"}} is {needed}"
            ))
        },
    )
    .await;
    producer.stop().await;
    worker.stop().await;
    control.stop().await;
}
