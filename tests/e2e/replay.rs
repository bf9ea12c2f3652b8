//! `pacer dead-letters replay`: events a route's JSON Schema refused are dead-lettered by the worker; once
//! the schema is fixed, a replay writes each of them once into the route's table and removes its letter in
//! the same transaction. A replay stopped after its first chunk loses nothing and a second run finishes it;
//! letters that fail again stay, with their attempts counted; a dry run changes nothing; a row PostgreSQL
//! refuses fails again with PostgreSQL's reason without stopping the others.

use crate::common::{Stack, raw, start_worker_with};
use pacer_pipeline::Pipeline;
use pacer_worker::Routes;
use pacer_worker::replay::{self, Filter, ReplayOptions, ReplaySummary};
use serde_json::json;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const PIPELINE: &str = r#"
[[route]]
name = "payments"
type = "payment.*"
table = "payments"
key = ["source", "event_id"]
schema = "payment.json"

[route.columns]
source = { type = "text", from = "/source" }
event_id = { type = "text", from = "/id" }
amount = { type = "numeric", from = "/data/amount" }
"#;

/// The route's schema: `amount` a number of at least `minimum`.
fn schema(minimum: i64) -> String {
    json!({
        "type": "object",
        "required": ["amount"],
        "properties": { "amount": { "type": "number", "minimum": minimum } },
    })
    .to_string()
}

fn payment(id: &str, amount: i64) -> Option<Vec<u8>> {
    raw(&json!({
        "specversion": "1.0", "id": id, "source": "/pay", "type": "payment.made",
        "data": { "amount": amount },
    }))
}

/// A stack whose worker has written `records` by the payments route (amount at least 0): `rows` rows and
/// `dead` dead letters. Returns the stack, a pool and the pipeline file.
async fn written(records: &[Option<Vec<u8>>], rows: i64, dead: i64) -> (Stack, PgPool, PathBuf) {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    std::fs::write(stack.dir.path().join("payment.json"), schema(0)).unwrap();
    let pipeline = Pipeline::from_file(&file).unwrap();
    let plan = pacer_worker::tables::plan(&pool, &pipeline).await.unwrap();
    pacer_worker::tables::apply(&pool, &plan).await.unwrap();
    let mut config = stack.worker_config("replay");
    config.routes = Arc::new(Routes::new(pipeline));
    let worker = start_worker_with(config);
    stack.produce_raw(records).await;
    stack
        .wait_for_rows(&pool, "payments", rows, Duration::from_secs(60))
        .await;
    stack
        .wait_for_rows(&pool, "dead_letters", dead, Duration::from_secs(60))
        .await;
    worker.stop().await;
    assert_eq!(count(&pool, "SELECT count(*) FROM payments").await, rows);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM dead_letters").await,
        dead
    );
    (stack, pool, file)
}

/// Fixes the schema (any amount from -1000) and reads the pipeline again.
fn fix_schema(file: &Path) -> Routes {
    std::fs::write(file.with_file_name("payment.json"), schema(-1000)).unwrap();
    Routes::new(Pipeline::from_file(file).unwrap())
}

async fn count(pool: &PgPool, query: &str) -> i64 {
    sqlx::query_scalar(query).fetch_one(pool).await.unwrap()
}

/// Every key of `payments` once: (rows, distinct keys).
async fn rows_and_keys(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT (source, event_id)) FROM payments")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `pacer dead-letters ARGS --database-url URL`; returns standard output, failing the test on an error.
async fn pacer(stack: &Stack, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
        .arg("dead-letters")
        .args(args)
        .args(["--database-url", &stack.database_url()])
        .env("PACER_LOG", "warn")
        .env_remove("PACER_PIPELINE")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pacer dead-letters {args:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `valid` payments of amounts 0.. and `invalid` ones of amount -5, interleaved, after two records that are
/// not events at all.
fn records(valid: usize, invalid: usize) -> Vec<Option<Vec<u8>>> {
    let mut records = vec![Some(b"not json".to_vec()), None];
    for i in 0..valid.max(invalid) {
        if i < valid {
            records.push(payment(&format!("ok-{i}"), i as i64));
        }
        if i < invalid {
            records.push(payment(&format!("neg-{i}"), -5));
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixing_the_schema_and_replaying_writes_each_refused_event_once() {
    let (valid, invalid) = (20, 12);
    let (stack, pool, file) =
        written(&records(valid, invalid), valid as i64, invalid as i64 + 2).await;
    let (route, pointer, keyword): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT route, pointer, keyword FROM dead_letters WHERE event_id = 'neg-0'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (route.as_deref(), pointer.as_deref(), keyword.as_deref()),
        (Some("payments"), Some("/data/amount"), Some("minimum"))
    );
    let listed = pacer(&stack, &["list", "--route", "payments"]).await;
    assert_eq!(
        listed.lines().last(),
        Some(format!("{invalid} dead letters").as_str()),
        "{listed}"
    );
    assert!(listed.contains("/data/amount (minimum)"), "{listed}");
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM dead_letters WHERE route IS NULL ORDER BY kafka_offset",
    )
    .fetch_all(&pool)
    .await
    .unwrap();

    fix_schema(&file);
    let out = pacer(&stack, &["replay", "--pipeline", file.to_str().unwrap()]).await;
    assert!(
        out.contains(&format!(
            "replayed {}: {invalid} passed, 2 failed again, 0 already there",
            invalid + 2
        )),
        "{out}"
    );
    let total = (valid + invalid) as i64;
    assert_eq!(rows_and_keys(&pool).await, (total, total));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments WHERE amount = -5").await,
        invalid as i64
    );
    // The two records that are not events fail again, the same way, in the same rows: attempts counted.
    let left: Vec<(String, i32, bool)> = sqlx::query_as(
        "SELECT reason, replay_attempts, last_replayed_at IS NOT NULL FROM dead_letters ORDER BY kafka_offset",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        left,
        reasons
            .iter()
            .map(|r| (r.clone(), 1, true))
            .collect::<Vec<_>>()
    );

    let again = pacer(&stack, &["replay", "--pipeline", file.to_str().unwrap()]).await;
    assert!(
        again.contains("replayed 2: 0 passed, 2 failed again, 0 already there"),
        "{again}"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT min(replay_attempts)::bigint FROM dead_letters"
        )
        .await,
        2
    );
    assert_eq!(rows_and_keys(&pool).await, (total, total));
    let listed = pacer(&stack, &["list", "--reason", "MALFORMED"]).await;
    assert_eq!(listed.lines().last(), Some("1 dead letter"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_stopped_after_one_chunk_is_finished_by_the_next_run_exactly_once() {
    let (valid, invalid) = (5, 25);
    let (_stack, pool, file) =
        written(&records(valid, invalid), valid as i64, invalid as i64 + 2).await;
    let routes = fix_schema(&file);
    let all = Filter::default();
    // The run that "crashes": it stops after its first chunk of 10.
    let stopped = ReplayOptions {
        chunk: 10,
        max_chunks: Some(1),
        ..ReplayOptions::default()
    };
    let first = replay::replay(&pool, &routes, &all, stopped).await.unwrap();
    // One partition, so the letters are in offset order: the two that are not events come first.
    assert_eq!(
        first,
        ReplaySummary {
            passed: 8,
            failed_again: 2,
            already_there: 0
        }
    );
    assert_eq!(rows_and_keys(&pool).await, (13, 13));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM dead_letters").await,
        2 + 17
    );
    // Someone wrote one of the rows meanwhile: the replay finds it already there.
    sqlx::query("INSERT INTO payments (source, event_id, amount) VALUES ('/pay', 'neg-24', -5)")
        .execute(&pool)
        .await
        .unwrap();

    let options = ReplayOptions {
        chunk: 4,
        ..ReplayOptions::default()
    };
    let second = replay::replay(&pool, &routes, &all, options).await.unwrap();
    assert_eq!(
        second,
        ReplaySummary {
            passed: 16,
            failed_again: 2,
            already_there: 1
        }
    );
    let total = (valid + invalid) as i64;
    assert_eq!(rows_and_keys(&pool).await, (total, total));
    let left: Vec<(i32, Option<String>)> =
        sqlx::query_as("SELECT replay_attempts, event_id FROM dead_letters ORDER BY kafka_offset")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, [(2, None), (2, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_would_happen_and_changes_nothing() {
    let (valid, invalid) = (3, 7);
    let (stack, pool, file) =
        written(&records(valid, invalid), valid as i64, invalid as i64 + 2).await;
    let routes = fix_schema(&file);
    let snapshot = "SELECT string_agg(concat_ws('|', topic, kafka_offset, reason, route, replay_attempts, \
                    last_replayed_at), ',' ORDER BY kafka_offset) FROM dead_letters";
    let before: String = sqlx::query_scalar(snapshot).fetch_one(&pool).await.unwrap();
    let dry = ReplayOptions {
        dry_run: true,
        chunk: 3,
        max_chunks: None,
    };
    let summary = replay::replay(&pool, &routes, &Filter::default(), dry)
        .await
        .unwrap();
    assert_eq!(
        summary,
        ReplaySummary {
            passed: invalid as u64,
            failed_again: 2,
            already_there: 0
        }
    );
    let out = pacer(
        &stack,
        &["replay", "--dry-run", "--pipeline", file.to_str().unwrap()],
    )
    .await;
    assert!(
        out.contains(
            "dry run, nothing changed: replayed 9: 7 passed, 2 failed again, 0 already there"
        ),
        "{out}"
    );
    let after: String = sqlx::query_scalar(snapshot).fetch_one(&pool).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(rows_and_keys(&pool).await, (valid as i64, valid as i64));
    // A filter narrows what a replay reads.
    let only = Filter {
        reason: Some("NO PAYLOAD".into()),
        ..Filter::default()
    };
    let summary = replay::replay(&pool, &routes, &only, dry).await.unwrap();
    assert_eq!(summary.total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_refuses_fails_again_with_its_reason_and_the_rest_pass() {
    let mut records = records(2, 6);
    records.push(payment("very-negative", -500));
    let (_stack, pool, file) = written(&records, 2, 9).await;
    sqlx::query("ALTER TABLE payments ADD CONSTRAINT not_too_negative CHECK (amount > -100)")
        .execute(&pool)
        .await
        .unwrap();
    let routes = fix_schema(&file);
    let options = ReplayOptions::default();
    let summary = replay::replay(&pool, &routes, &Filter::default(), options)
        .await
        .unwrap();
    assert_eq!(
        summary,
        ReplaySummary {
            passed: 6,
            failed_again: 3,
            already_there: 0
        }
    );
    assert_eq!(rows_and_keys(&pool).await, (8, 8));
    let (reason, route, attempts): (String, Option<String>, i32) = sqlx::query_as(
        "SELECT reason, route, replay_attempts FROM dead_letters WHERE event_id = 'very-negative'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(reason.contains("not_too_negative"), "{reason}");
    assert_eq!((route.as_deref(), attempts), (Some("payments"), 1));
}
