//! A worker told to stop while a batch keeps failing leaves that batch uncommitted, and does not write or
//! commit the batch after it either: a later commit would skip the failing batch's records for good.

use crate::common::{Stack, event, raw};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_during_retries_loses_nothing() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    // PostgreSQL keeps failing the batch that holds `stuck`, with an error a retry might cure.
    sqlx::raw_sql(
        "CREATE FUNCTION fail_stuck() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.id = 'stuck' THEN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER fail_stuck BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_stuck();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let payloads = |ids: &[&str]| -> Vec<Option<Vec<u8>>> {
        ids.iter().map(|id| raw(&event(id, 0))).collect()
    };

    let worker = stack.start_worker("first");
    stack.produce_raw(&payloads(&["before", "stuck"])).await;
    // Let the batch with `stuck` fail a few times, then give the worker the next batch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.produce_raw(&payloads(&["after1", "after2"])).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    worker.stop().await;
    let written: Vec<String> = sqlx::query_scalar("SELECT id FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        written.iter().all(|id| id == "before"),
        "written past the failing batch: {written:?}"
    );

    sqlx::query("DROP TRIGGER fail_stuck ON events")
        .execute(&pool)
        .await
        .unwrap();
    let worker = stack.start_worker("second");
    stack
        .wait_for_rows(&pool, "events", 4, Duration::from_secs(60))
        .await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events ORDER BY kafka_offset")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids, ["before", "stuck", "after1", "after2"]);
    worker.stop().await;
}
