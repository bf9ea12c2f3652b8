//! Rows PostgreSQL refuses in a route's own table (a CHECK constraint an operator added): each becomes a
//! dead letter with PostgreSQL's reason and the route, and the rest of the batch is written, in every mode.

use crate::common::{Stack, raw, start_worker_with};
use crate::routes::apply_tables;
use pacer_pipeline::Pipeline;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const PIPELINE: &str = r#"
[[route]]
name = "payments"
type = "payment"
table = "payments"
key = ["id"]
[route.columns]
id = { type = "text", from = "/id" }
amount = { type = "integer", from = "/data/amount" }

[[route]]
name = "balances"
type = "balance"
table = "balances"
mode = "upsert"
key = ["account"]
[route.columns]
account = { type = "text", from = "/data/account" }
amount = { type = "integer", from = "/data/amount" }
at = { type = "timestamptz", from = "/time" }
"#;

fn event(ty: &str, id: &str, account: &str, amount: i64) -> serde_json::Value {
    json!({
        "specversion": "1.0", "id": id, "source": "/refused", "type": ty,
        "time": format!("2026-12-01T10:00:{:02}Z", amount.rem_euclid(60)),
        "data": { "account": account, "amount": amount },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_postgresql_refuses_become_dead_letters_and_the_rest_is_written() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    let pipeline = Pipeline::from_file(&file).unwrap();
    apply_tables(&pool, &pipeline).await;
    for table in ["payments", "balances"] {
        sqlx::query(&format!(
            "ALTER TABLE {table} ADD CONSTRAINT {table}_small CHECK (amount < 1000)"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    let mut payloads = Vec::new();
    for i in 0..20 {
        let amount = if i % 7 == 3 { 5_000 } else { i };
        payloads.push(raw(&event("payment", &format!("p{i}"), "-", amount)));
        payloads.push(raw(&event(
            "balance",
            &format!("b{i}"),
            &format!("acct-{i}"),
            amount,
        )));
    }
    stack.produce_raw(&payloads).await;
    let mut config = stack.worker_config("refused");
    config.routes = Arc::new(pacer_worker::Routes::new(pipeline));
    let worker = start_worker_with(config);

    crate::common::eventually("rows and dead letters", Duration::from_secs(60), async || {
        let (rows, dead): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM payments) + (SELECT count(*) FROM balances), (SELECT count(*) FROM dead_letters)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (rows == 34 && dead == 6).then_some(()).ok_or(format!("{rows} rows, {dead} dead letters"))
    })
    .await;
    let letters: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT event_id, route, reason FROM dead_letters ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let ids: Vec<&str> = letters.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["b10", "b17", "b3", "p10", "p17", "p3"]);
    for (id, route, reason) in &letters {
        let want = if id.starts_with('p') {
            "payments"
        } else {
            "balances"
        };
        assert_eq!(route.as_deref(), Some(want));
        assert!(reason.contains("_small"), "{id}: {reason}");
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_stops_with_one_message_when_its_table_changes_under_it() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    apply_tables(&pool, &Pipeline::from_file(&file).unwrap()).await;
    let mut worker = stack
        .worker_command("changed", &["--pipeline", file.to_str().unwrap()])
        .env("PACER_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    stack
        .produce_raw(&[raw(&event("payment", "p1", "-", 1))])
        .await;
    crate::common::eventually("the first row", Duration::from_secs(60), async || {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
            .fetch_one(&pool)
            .await
            .unwrap();
        (rows == 1).then_some(()).ok_or(format!("{rows} rows"))
    })
    .await;
    // An operator drops a column the route writes: no retry can heal that, and no row is at fault.
    sqlx::query("ALTER TABLE payments DROP COLUMN amount")
        .execute(&pool)
        .await
        .unwrap();
    stack
        .produce_raw(&[raw(&event("payment", "p2", "-", 2))])
        .await;
    let status = tokio::time::timeout(Duration::from_secs(60), worker.wait())
        .await
        .expect("the worker stops by itself")
        .unwrap();
    assert!(!status.success());
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut worker.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("amount") && stderr.contains("pacer tables plan"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("error: PostgreSQL refuses to write the batch"))
            .count(),
        1,
        "{stderr}"
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 0, "no event is blamed for a changed table");
}

const CUSTOMERS: &str = r#"
[[route]]
name = "gone"
type = "customer.deleted"
table = "customers"
mode = "delete"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/account" }
at = { type = "timestamptz", from = "/time" }

[[route]]
name = "customers"
type = "customer.*"
table = "customers"
mode = "upsert"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/account" }
amount = { type = "integer", from = "/data/amount" }
at = { type = "timestamptz", from = "/time" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_a_foreign_key_refuses_is_a_dead_letter_and_the_other_deletes_happen() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, CUSTOMERS).unwrap();
    let pipeline = Pipeline::from_file(&file).unwrap();
    apply_tables(&pool, &pipeline).await;
    let mut config = stack.worker_config("deletes");
    config.routes = Arc::new(pacer_worker::Routes::new(pipeline));
    let worker = start_worker_with(config);
    let upserts: Vec<_> = (1..=3)
        .map(|i| {
            raw(&event(
                "customer.updated",
                &format!("u{i}"),
                &format!("c{i}"),
                i,
            ))
        })
        .collect();
    stack.produce_raw(&upserts).await;
    crate::common::eventually("three customers", Duration::from_secs(60), async || {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&pool)
            .await
            .unwrap();
        (rows == 3).then_some(()).ok_or(format!("{rows} customers"))
    })
    .await;
    // An operator's table points at customer c2: PostgreSQL refuses to delete it.
    sqlx::query("CREATE TABLE invoices (customer text REFERENCES customers (id))")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO invoices VALUES ('c2')")
        .execute(&pool)
        .await
        .unwrap();
    let deletes: Vec<_> = (1..=3)
        .map(|i| {
            raw(&event(
                "customer.deleted",
                &format!("d{i}"),
                &format!("c{i}"),
                50 + i,
            ))
        })
        .collect();
    stack.produce_raw(&deletes).await;
    crate::common::eventually("the deletes", Duration::from_secs(60), async || {
        let (rows, dead): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM dead_letters)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (rows == 1 && dead == 1)
            .then_some(())
            .ok_or(format!("{rows} customers, {dead} dead letters"))
    })
    .await;
    let (id, route, reason): (String, Option<String>, String) =
        sqlx::query_as("SELECT event_id, route, reason FROM dead_letters")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((id.as_str(), route.as_deref()), ("d2", Some("gone")));
    assert!(reason.contains("invoices"), "{reason}");
    let left: String = sqlx::query_scalar("SELECT id FROM customers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, "c2");
    worker.stop().await;
}
