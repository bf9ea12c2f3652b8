//! Records that are not structured CloudEvents JSON, produced with an rdkafka producer as other systems do:
//! binary-mode CloudEvents (attributes in `ce_` headers) and plain JSON from a topic of the user's, each
//! into its route's table.

use crate::common::{Stack, TOPIC, start_worker_with};
use crate::routes::apply_tables;
use pacer_pipeline::Pipeline;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

const PIPELINE: &str = r#"
[[route]]
name = "payments"
type = "bank.payment.*"
table = "payments"
key = ["source", "id"]

[route.columns]
id = { type = "text", from = "/id" }
source = { type = "text", from = "/source" }
amount = { type = "numeric", from = "/data/amount" }
tenant = { type = "text", from = "/tenant" }
topic = { type = "text", from = "kafka.topic" }

[[route]]
name = "clicks"
topic = "clicks"
format = "json"
table = "clicks"
id_from = "/click_id"
source_value = "urn:legacy:clicks"
key = ["click_id"]

[route.columns]
click_id = { type = "bigint", from = "/data/click_id" }
page = { type = "text", from = "/data/page" }
at = { type = "timestamptz", from = "/data/at" }
event_source = { type = "text", from = "/source" }
"#;

const N: usize = 300;

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_mode_cloudevents_and_plain_json_land_in_their_tables() {
    let stack = Stack::start(2).await;
    pacer_stack::create_topic(&stack.brokers(), "clicks", 2)
        .await
        .unwrap();
    let pool = stack.pool().await;
    let file = stack.dir.path().join("pacer.toml");
    std::fs::write(&file, PIPELINE).unwrap();
    let pipeline = Pipeline::from_file(&file).unwrap();
    apply_tables(&pool, &pipeline).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack.brokers())
        .create()
        .unwrap();
    for i in 0..N {
        let id = format!("pay-{i}");
        let amount = format!("{{\"amount\": {i}.5}}");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_id",
                value: Some(id.as_str()),
            })
            .insert(Header {
                key: "ce_source",
                value: Some("/bank"),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("bank.payment.made"),
            })
            .insert(Header {
                key: "ce_tenant",
                value: Some("acme"),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
        let record = FutureRecord::to(TOPIC)
            .key(&id)
            .payload(&amount)
            .headers(headers);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
        let click = format!(
            r#"{{"click_id": {i}, "page": "/p/{i}", "at": "2026-12-01T10:00:{:02}Z"}}"#,
            i % 60
        );
        let key = i.to_string();
        producer
            .send(
                FutureRecord::to("clicks").key(&key).payload(&click),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    let mut config = stack.worker_config("inputs");
    config.routes = Arc::new(pacer_worker::Routes::new(pipeline));
    let worker = start_worker_with(config);
    crate::common::eventually("both tables", Duration::from_secs(60), async || {
        let (payments, clicks) = (count(&pool, "payments").await, count(&pool, "clicks").await);
        (payments == N as i64 && clicks == N as i64)
            .then_some(())
            .ok_or(format!("{payments} payments, {clicks} clicks of {N}"))
    })
    .await;

    let payments: Vec<(String, String, String, String, String)> =
        sqlx::query_as("SELECT id, source, amount::text, tenant, topic FROM payments ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (id, source, amount, tenant, topic) in payments {
        let i: usize = id.strip_prefix("pay-").unwrap().parse().unwrap();
        assert_eq!(
            (source.as_str(), tenant.as_str(), topic.as_str()),
            ("/bank", "acme", TOPIC)
        );
        assert_eq!(amount, format!("{i}.5"));
    }
    let clicks: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT click_id, page, event_source FROM clicks ORDER BY click_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (i, (click_id, page, source)) in clicks.into_iter().enumerate() {
        assert_eq!(click_id, i as i64);
        assert_eq!(page, format!("/p/{i}"));
        assert_eq!(source, "urn:legacy:clicks");
    }
    assert_eq!(count(&pool, "dead_letters").await, 0);
    worker.stop().await;
}
