//! Routes (the pipeline file): events over HTTP into the user's own typed tables, by the shop example's
//! pipeline, every column checked against the event it came from; schema violations refused at ingest and
//! dead-lettered in the worker; and a worker that refuses to start on a table that does not match.

use crate::common::{Stack, post_batch_answer, raw, start_worker_with};
use pacer_pipeline::Pipeline;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SHOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shop/pacer.toml");

/// The shop example's pipeline, with its tables created in the stack's database.
pub async fn shop(pool: &PgPool) -> Arc<Pipeline> {
    let pipeline = Pipeline::from_file(SHOP).unwrap();
    apply_tables(pool, &pipeline).await;
    Arc::new(pipeline)
}

/// Creates what the pipeline's routes need, as `pacer tables apply` does.
pub async fn apply_tables(pool: &PgPool, pipeline: &Pipeline) {
    pacer_worker::MIGRATOR.run(pool).await.unwrap();
    let plan = pacer_worker::tables::plan(pool, pipeline).await.unwrap();
    pacer_worker::tables::apply(pool, &plan).await.unwrap();
}

/// A worker of the stack that writes by `pipeline`.
pub fn routed_worker(stack: &Stack, id: &str, pipeline: &Pipeline) -> crate::common::Worker {
    let mut config = stack.worker_config(id);
    config.routes = Arc::new(pacer_worker::Routes::new(pipeline.clone()));
    start_worker_with(config)
}

fn uuid(kind: u64, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn at(ms: i64) -> String {
    (OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap() + time::Duration::milliseconds(ms))
        .format(&Rfc3339)
        .unwrap()
}

fn order(i: u64) -> Value {
    let mut data = json!({
        "order_id": uuid(1, i),
        "customer": { "id": uuid(2, i % 300) },
        "amount": (i % 10_000) as f64 / 100.0 + 0.01,
        "items": (0..(i % 3 + 1)).map(|k| format!("sku-{k}\t\"{i}\"")).collect::<Vec<_>>(),
    });
    if i.is_multiple_of(2) {
        data["shipping"] = json!({ "city": "Lyon", "express": i.is_multiple_of(4) });
    }
    json!({
        "specversion": "1.0", "id": format!("order-{i}"), "source": "/shop/eu",
        "type": "shop.order.placed", "time": at(i as i64), "data": data,
    })
}

/// Version `v` of customer `c`; times go forward with `v`, but the events are posted out of order.
fn customer(c: u64, v: u64) -> Value {
    let mut data = json!({ "customer_id": uuid(3, c), "name": format!("customer {c} v{v}") });
    if v % 2 == 1 {
        data["lifetime_value"] = json!(v * 10);
        data["tags"] = json!(["a", format!("v{v}")]);
        data["signed_up_on"] = json!("2026-02-28");
        data["marketing_opt_in"] = json!(true);
    }
    json!({
        "specversion": "1.0", "id": format!("customer-{c}-{v}"), "source": "/crm",
        "type": "shop.customer.updated", "time": at((v * 1_000 + c) as i64), "data": data,
    })
}

fn other(i: u64) -> Value {
    json!({
        "specversion": "1.0", "id": format!("view-{i}"), "source": "/web",
        "type": "shop.cart.viewed", "data": { "n": i },
    })
}

async fn post_all(url: &str, events: &[Value]) {
    let client = reqwest::Client::new();
    for chunk in events.chunks(100) {
        let (status, body) =
            post_batch_answer(&client, url, Value::Array(chunk.to_vec()).to_string()).await;
        assert_eq!(status, 202, "{body}");
    }
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn wait_for(pool: &PgPool, table: &str, n: i64) {
    crate::common::eventually("rows", Duration::from_secs(120), async || {
        let found = count(pool, table).await;
        (found >= n)
            .then_some(())
            .ok_or(format!("{table}: {found} of {n} rows"))
    })
    .await;
}

const ORDERS: u64 = 15_000;
const CUSTOMERS: u64 = 200;
const VERSIONS: u64 = 50;
const OTHERS: u64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shop_example_writes_each_route_into_its_typed_table() {
    let stack = Stack::start(4).await;
    let pool = stack.pool().await;
    let pipeline = shop(&pool).await;
    let ingest = stack
        .start_ingest_with(|config| config.pipeline = Some(pipeline.clone()))
        .await;
    let worker = routed_worker(&stack, "routes", &pipeline);

    // 30,000 events: orders, customers' versions in shuffled order, and events no typed route takes.
    let mut events: Vec<Value> = (0..ORDERS).map(order).collect();
    let mut versions: Vec<(u64, u64)> = (0..CUSTOMERS)
        .flat_map(|c| (0..VERSIONS).map(move |v| (c, v)))
        .collect();
    fastrand::seed(13);
    fastrand::shuffle(&mut versions);
    events.extend(versions.iter().map(|&(c, v)| customer(c, v)));
    events.extend((0..OTHERS).map(other));
    fastrand::shuffle(&mut events);
    assert_eq!(events.len(), 30_000);
    post_all(&ingest.url(), &events).await;
    wait_for(&pool, "shop.orders", ORDERS as i64).await;
    wait_for(&pool, "events", OTHERS as i64).await;

    // Then delete every tenth customer, later than any of its versions.
    let deletes: Vec<Value> = (0..CUSTOMERS)
        .step_by(10)
        .map(|c| {
            json!({
                "specversion": "1.0", "id": format!("gone-{c}"), "source": "/crm",
                "type": "shop.customer.deleted", "time": at((VERSIONS * 1_000 + c) as i64),
                "data": { "customer_id": uuid(3, c) },
            })
        })
        .collect();
    post_all(&ingest.url(), &deletes).await;
    crate::common::eventually("deletes", Duration::from_secs(60), async || {
        let left = count(&pool, "shop.customers").await;
        (left == (CUSTOMERS - CUSTOMERS / 10) as i64)
            .then_some(())
            .ok_or(format!("{left} customers"))
    })
    .await;

    check_orders(&pool).await;
    check_customers(&pool).await;
    assert_eq!(count(&pool, "events").await, OTHERS as i64);
    let typed_in_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE type <> 'shop.cart.viewed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(typed_in_events, 0);
    assert_eq!(count(&pool, "dead_letters").await, 0);
    worker.stop().await;
    ingest.stop().await;
}

async fn check_orders(pool: &PgPool) {
    assert_eq!(count(pool, "shop.orders").await, ORDERS as i64);
    type Row = (
        String,
        String,
        String,
        String,
        Vec<String>,
        Option<Value>,
        OffsetDateTime,
        String,
    );
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT event_id, order_id::text, customer_id::text, amount::text, items, shipping, placed_at, source \
             FROM shop.orders",
        )
        .fetch_all(pool)
        .await
        .unwrap();
    for (event_id, order_id, customer_id, amount, items, shipping, placed_at, source) in rows {
        let i: u64 = event_id.strip_prefix("order-").unwrap().parse().unwrap();
        let event = order(i);
        let data = &event["data"];
        assert_eq!(order_id, data["order_id"].as_str().unwrap());
        assert_eq!(customer_id, data["customer"]["id"].as_str().unwrap());
        assert_eq!(
            amount.parse::<f64>().unwrap(),
            data["amount"].as_f64().unwrap(),
            "{event_id}"
        );
        let expected_items: Vec<String> = serde_json::from_value(data["items"].clone()).unwrap();
        assert_eq!(items, expected_items, "{event_id}");
        assert_eq!(shipping.as_ref(), data.get("shipping"), "{event_id}");
        assert_eq!(
            placed_at,
            OffsetDateTime::parse(event["time"].as_str().unwrap(), &Rfc3339).unwrap()
        );
        assert_eq!(source, "/shop/eu");
    }
}

async fn check_customers(pool: &PgPool) {
    type Row = (
        String,
        String,
        Option<Vec<String>>,
        String,
        bool,
        Option<String>,
        OffsetDateTime,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT customer_id::text, name, tags, lifetime_value::text, marketing_opt_in, signed_up_on::text, \
         updated_at FROM shop.customers",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let by_id: HashMap<String, Row> = rows.into_iter().map(|row| (row.0.clone(), row)).collect();
    for c in 0..CUSTOMERS {
        let row = by_id.get(&uuid(3, c));
        if c.is_multiple_of(10) {
            assert!(row.is_none(), "customer {c} was deleted");
            continue;
        }
        // The newest version wins, whatever order they arrived in.
        let newest = customer(c, VERSIONS - 1);
        let (_, name, tags, value, opt_in, signed_up, updated_at) = row.unwrap();
        let data = &newest["data"];
        assert_eq!(name, data["name"].as_str().unwrap());
        assert_eq!(
            tags.clone(),
            data.get("tags")
                .map(|t| serde_json::from_value(t.clone()).unwrap())
        );
        assert_eq!(
            value.parse::<u64>().unwrap(),
            data["lifetime_value"].as_u64().unwrap_or(0)
        );
        assert_eq!(*opt_in, data["marketing_opt_in"].as_bool().unwrap_or(false));
        assert_eq!(signed_up.as_deref(), data["signed_up_on"].as_str());
        assert_eq!(
            *updated_at,
            OffsetDateTime::parse(newest["time"].as_str().unwrap(), &Rfc3339).unwrap()
        );
    }
}

/// An order whose data breaks `schemas/order.json` at `pointer` by `keyword`.
fn bad_orders() -> Vec<(Value, &'static str, &'static str)> {
    let mut negative = order(90_001);
    negative["data"]["amount"] = json!(-5);
    let mut no_items = order(90_002);
    no_items["data"].as_object_mut().unwrap().remove("items");
    let mut bad_uuid = order(90_003);
    bad_uuid["data"]["order_id"] = json!(12);
    vec![
        (negative, "/data/amount", "exclusiveMinimum"),
        (no_items, "/data", "required"),
        (bad_uuid, "/data/order_id", "type"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schema_violations_are_refused_at_ingest_and_dead_lettered_by_the_worker() {
    let stack = Stack::start(2).await;
    let pool = stack.pool().await;
    let pipeline = shop(&pool).await;
    let ingest = stack
        .start_ingest_with(|config| config.pipeline = Some(pipeline.clone()))
        .await;
    let client = reqwest::Client::new();
    for (bad, pointer, keyword) in bad_orders() {
        // The bad event third in a request of valid ones: the whole request is refused, nothing produced.
        let body = Value::Array(vec![order(1), order(2), bad, order(3)]).to_string();
        let (status, answer) = post_batch_answer(&client, &ingest.url(), body).await;
        assert_eq!(status, 422, "{answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let text = answer.to_string();
        assert!(text.contains("\"index\":2"), "{text}");
        assert!(text.contains(pointer), "{pointer}: {text}");
        assert!(text.contains(keyword), "{keyword}: {text}");
    }
    assert_eq!(
        stack.topic_records(),
        0,
        "nothing of a refused request reaches the topic"
    );

    // The same events produced straight to the topic, between valid ones: dead letters with the same
    // details, and the valid records around them written.
    let mut payloads = Vec::new();
    for (i, (bad, _, _)) in bad_orders().into_iter().enumerate() {
        payloads.push(raw(&order(i as u64)));
        payloads.push(raw(&bad));
    }
    payloads.push(raw(&order(10)));
    stack.produce_raw(&payloads).await;
    let worker = routed_worker(&stack, "schemas", &pipeline);
    wait_for(&pool, "shop.orders", 4).await;
    wait_for(&pool, "dead_letters", 3).await;
    let letters: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT event_id, route, pointer || ' ' || keyword, reason FROM dead_letters ORDER BY event_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: Vec<(String, String)> = bad_orders()
        .into_iter()
        .map(|(event, pointer, keyword)| {
            (
                event["id"].as_str().unwrap().to_owned(),
                format!("{pointer} {keyword}"),
            )
        })
        .collect();
    assert_eq!(letters.len(), expected.len(), "{letters:?}");
    for ((id, route, details, reason), (want_id, want_details)) in letters.iter().zip(&expected) {
        assert_eq!(id, want_id);
        assert_eq!(route.as_deref(), Some("orders"));
        assert_eq!(details.as_deref(), Some(want_details.as_str()), "{reason}");
        assert!(reason.contains("orders"), "{reason}");
    }
    assert_eq!(count(&pool, "shop.orders").await, 4);
    worker.stop().await;
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_refuses_to_start_on_a_table_that_does_not_match_its_route() {
    let stack = Stack::start(1).await;
    let pool = stack.pool().await;
    shop(&pool).await;
    sqlx::query("ALTER TABLE shop.orders ALTER COLUMN amount TYPE text")
        .execute(&pool)
        .await
        .unwrap();
    let output = stack
        .worker_command("mismatch", &["--pipeline", SHOP])
        .env("PACER_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "shop.orders",
        "amount",
        "numeric",
        "text",
        "pacer tables apply",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
