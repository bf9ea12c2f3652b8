//! An `upsert` route under `kill -9`s of its workers while versions of the same keys keep arriving, out of
//! order and re-delivered: no row ever goes backwards, and the table ends as the newest version per key.

use crate::common::{Stack, post_batch_answer};
use crate::routes::apply_tables;
use pacer_pipeline::Pipeline;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PIPELINE: &str = r#"
[[route]]
name = "accounts"
type = "bank.account.*"
table = "accounts"
mode = "upsert"
key = ["account"]

[route.columns]
account = { type = "text", from = "/data/account" }
version = { type = "bigint", from = "/data/version" }
balance = { type = "numeric", from = "/data/balance" }
changed_at = { type = "timestamptz", from = "/time" }
kafka_partition = { type = "integer", from = "kafka.partition" }
kafka_offset = { type = "bigint", from = "kafka.offset" }
"#;

const KEYS: u64 = 40;
const VERSIONS: u64 = 150;
const KILLS: usize = 10;

/// Version `v` of account `k`: its time goes forward with `v`, so the newest by time is the highest version.
fn version(k: u64, v: u64) -> Value {
    let time = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
        + time::Duration::milliseconds((v * 1_000 + k) as i64);
    json!({
        "specversion": "1.0", "id": format!("acct-{k}-{v}"), "source": "/bank",
        "type": "bank.account.changed", "time": time.format(&Rfc3339).unwrap(),
        "partitionkey": format!("acct-{k}"),
        "data": { "account": format!("acct-{k}"), "version": v, "balance": format!("{}.{:02}", v * 3, k) },
    })
}

/// Reads every account's version; fails the run if one is lower than seen before.
async fn watch_versions(pool: PgPool, stop: Arc<AtomicBool>) -> usize {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut reads = 0;
    while !stop.load(Ordering::Relaxed) {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT account, version FROM accounts")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        for (account, version) in rows {
            let before = seen.insert(account.clone(), version).unwrap_or(-1);
            assert!(
                version >= before,
                "{account} went back from version {before} to {version}"
            );
        }
        reads += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_rows_never_go_backwards_across_worker_kills() {
    let stack = Stack::start(4).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    let pipeline = Arc::new(Pipeline::from_file(&file).unwrap());
    apply_tables(&pool, &pipeline).await;
    let ingest = stack
        .start_ingest_with(|config| config.pipeline = Some(pipeline.clone()))
        .await;
    let path = file.to_str().unwrap().to_owned();
    let spawn = |id: &str| stack.spawn_worker_process_with(id, &["--pipeline", &path]);
    let mut workers = vec![spawn("upsert-a"), spawn("upsert-b")];

    // Versions in rounds, each round shuffled: within a round, older versions arrive after newer ones.
    let mut events: Vec<Value> = Vec::new();
    fastrand::seed(17);
    for round in (0..VERSIONS).collect::<Vec<_>>().chunks(5) {
        let mut part: Vec<Value> = round
            .iter()
            .flat_map(|&v| (0..KEYS).map(move |k| version(k, v)))
            .collect();
        fastrand::shuffle(&mut part);
        events.extend(part);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_versions(pool.clone(), stop.clone()));
    let url = ingest.url();
    let poster = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for chunk in events.chunks(50) {
            let (status, body) =
                post_batch_answer(&client, &url, Value::Array(chunk.to_vec()).to_string()).await;
            assert_eq!(status, 202, "{body}");
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });

    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let victim = kill % workers.len();
        workers[victim].start_kill().unwrap();
        workers[victim].wait().await.unwrap();
        workers[victim] = spawn(if victim == 0 { "upsert-a" } else { "upsert-b" });
    }
    poster.await.unwrap();

    // Every account ends at its newest version, with that version's balance.
    crate::common::eventually("newest versions", Duration::from_secs(120), async || {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE version = $1")
            .bind((VERSIONS - 1) as i64)
            .fetch_one(&pool)
            .await
            .unwrap();
        (done == KEYS as i64)
            .then_some(())
            .ok_or(format!("{done} of {KEYS} accounts at the newest version"))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let reads = watcher.await.unwrap();
    assert!(reads > 10, "the watcher read the table {reads} times");
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT account, version, balance::text FROM accounts ORDER BY account")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), KEYS as usize);
    for (account, v, balance) in rows {
        let k: u64 = account.strip_prefix("acct-").unwrap().parse().unwrap();
        assert_eq!(v, (VERSIONS - 1) as i64);
        assert_eq!(
            balance,
            version(k, VERSIONS - 1)["data"]["balance"]
                .as_str()
                .unwrap()
        );
    }
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    for mut worker in workers {
        worker.start_kill().unwrap();
    }
    ingest.stop().await;
}

/// Keys whose texts differ but which PostgreSQL holds equal (`1.0` and `1.00` in a numeric key) in one
/// batch: the merge for keys that are all different is refused (21000) and the general one runs instead, so
/// the newer version wins and nothing is dead-lettered or retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_equal_only_to_postgresql_still_keep_the_newest_version() {
    const NUMERIC_KEY: &str = r#"
[[route]]
name = "prices"
type = "price.set"
table = "prices"
mode = "upsert"
key = ["item"]

[route.columns]
item = { type = "numeric", from = "/data/item" }
price = { type = "text", from = "/data/price" }
set_at = { type = "timestamptz", from = "/time" }
"#;
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, NUMERIC_KEY).unwrap();
    let pipeline = Arc::new(Pipeline::from_file(&file).unwrap());
    apply_tables(&pool, &pipeline).await;
    let ingest = stack
        .start_ingest_with(|config| config.pipeline = Some(pipeline.clone()))
        .await;
    // Both in one request, on one partition, before any worker runs: one batch takes both.
    let body = r#"[
      {"specversion":"1.0","id":"p-2","source":"/shop","type":"price.set","time":"2026-12-01T10:00:02Z","data":{"item":1.00,"price":"newer"}},
      {"specversion":"1.0","id":"p-1","source":"/shop","type":"price.set","time":"2026-12-01T10:00:01Z","data":{"item":1.0,"price":"older"}}
    ]"#;
    let (status, answer) =
        post_batch_answer(&reqwest::Client::new(), &ingest.url(), body.to_owned()).await;
    assert_eq!(status, 202, "{answer}");
    let path = file.to_str().unwrap().to_owned();
    let mut worker = stack.spawn_worker_process_with("prices", &["--pipeline", &path]);
    crate::common::wait_for_batch_metrics(&pool, 2).await;
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT item::text, price FROM prices")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows, vec![("1.00".to_owned(), "newer".to_owned())]);
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    worker.start_kill().unwrap();
    ingest.stop().await;
}
