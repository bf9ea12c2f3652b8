//! One worker consumes several topics, named or by a `^` regex: every event of every topic it takes becomes
//! exactly one row in `events`, each row keeps its record's own partition and offset, the group's offsets are
//! committed per (topic, partition), and a worker that takes over resumes each topic where the last one
//! stopped.

use crate::common::{self, Stack, assert_exactly_once};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

const ORDERS: (&str, i32) = ("shop.orders", 2);
const CLICKS: (&str, i32) = ("shop.clicks", 3);

/// Where each event went: id -> (topic, partition, offset).
type Placed = BTreeMap<String, (String, i32, i64)>;

async fn create_topics(stack: &Stack, topics: &[(&str, i32)]) {
    for &(topic, partitions) in topics {
        pacer_stack::create_topic(&stack.brokers(), topic, partitions)
            .await
            .expect("create the topic");
    }
}

fn producer(stack: &Stack) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", stack.brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Produces the events `{prefix}{i}` for `ids` to `topic`, keyed so that they spread over its partitions.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    prefix: &str,
    ids: impl Iterator<Item = u64>,
    placed: &mut Placed,
) {
    let sends: Vec<_> = ids
        .map(|i| {
            let id = format!("{prefix}{i}");
            let payload = common::event(&id, i).to_string();
            let key = format!("k{}", i % 16);
            let producer = producer.clone();
            let topic = topic.to_owned();
            tokio::spawn(async move {
                let record = FutureRecord::to(&topic).payload(&payload).key(&key);
                let delivery = producer
                    .send(record, Duration::from_secs(5))
                    .await
                    .map_err(|(e, _)| e)
                    .expect("produce");
                (id, (topic, delivery.partition, delivery.offset))
            })
        })
        .collect();
    for send in sends {
        let (id, at) = send.await.unwrap();
        placed.insert(id, at);
    }
}

/// `e{i}` for `ids`: the even ones to the orders topic, the odd ones to the clicks topic.
async fn produce_shop(producer: &FutureProducer, ids: Range<u64>, placed: &mut Placed) {
    let (even, odd): (Vec<u64>, Vec<u64>) = ids.partition(|i| i.is_multiple_of(2));
    produce(producer, ORDERS.0, "e", even.into_iter(), placed).await;
    produce(producer, CLICKS.0, "e", odd.into_iter(), placed).await;
}

/// The group `test`'s committed offset and the end of each partition of `topics`.
fn committed_and_ends(stack: &Stack, topics: &[(&str, i32)]) -> Vec<(String, i32, Offset, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack.brokers())
        .set("group.id", "test")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for &(topic, partitions) in topics {
        for p in 0..partitions {
            list.add_partition(topic, p);
        }
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(5))
        .expect("the group's committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| {
            let (_, end) = consumer
                .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(5))
                .expect("watermarks");
            (e.topic().to_owned(), e.partition(), e.offset(), end)
        })
        .collect()
}

/// Waits until the group has committed the end of every partition of `topics`.
async fn wait_committed_to_the_end(stack: &Stack, topics: &[(&str, i32)]) {
    common::eventually(
        "the group's offsets at the end of every partition",
        Duration::from_secs(20),
        async || {
            let seen = committed_and_ends(stack, topics);
            if seen
                .iter()
                .all(|(_, _, committed, end)| *committed == Offset::Offset(*end))
            {
                Ok(())
            } else {
                Err(format!("committed and ends: {seen:?}"))
            }
        },
    )
    .await;
}

/// Every event of `placed` is one row, holding the partition and offset it was delivered to.
async fn assert_rows_placed(pool: &PgPool, placed: &Placed) {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT id, kafka_partition, kafka_offset FROM events WHERE source = '/test'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), placed.len());
    for (id, partition, offset) in rows {
        let (topic, want_partition, want_offset) = &placed[&id];
        assert_eq!(
            (partition, offset),
            (*want_partition, *want_offset),
            "{id}, produced to {topic}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_named_topics_become_rows_once_each_across_a_takeover() {
    let stack = Stack::start(2).await;
    create_topics(&stack, &[ORDERS, CLICKS]).await;
    let pool = stack.pool().await;
    let producer = producer(&stack);
    let mut placed = Placed::new();
    let topics = [ORDERS.0, CLICKS.0];

    produce_shop(&producer, 0..600, &mut placed).await;
    let first = common::start_worker_with(stack.worker_config("multi-w1").with_topics(topics));
    stack
        .wait_for_rows(&pool, "events", 600, Duration::from_secs(30))
        .await;
    wait_committed_to_the_end(&stack, &[ORDERS, CLICKS]).await;
    first.stop().await;

    // A second worker takes over: it must start each (topic, partition) where the first one committed.
    produce_shop(&producer, 600..1_200, &mut placed).await;
    let second = common::start_worker_with(stack.worker_config("multi-w2").with_topics(topics));
    stack
        .wait_for_rows(&pool, "events", 1_200, Duration::from_secs(30))
        .await;
    wait_committed_to_the_end(&stack, &[ORDERS, CLICKS]).await;
    second.stop().await;

    assert_exactly_once(&pool, 1_200).await;
    assert_rows_placed(&pool, &placed).await;
    // Nothing was read twice: no batch met an event already written.
    let (written, duplicates): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(rows_written), 0), coalesce(sum(duplicates), 0) FROM batch_metrics",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((written, duplicates), (1_200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_regex_takes_in_the_topics_it_matches_and_no_other() {
    let stack = Stack::start(2).await;
    create_topics(&stack, &[ORDERS, CLICKS]).await;
    let pool = stack.pool().await;
    let producer = producer(&stack);
    let mut placed = Placed::new();

    // First into `events`, which the regex does not match: had the worker taken them, they would be rows
    // by the time the shop's are.
    let mut elsewhere = Placed::new();
    produce(&producer, common::TOPIC, "x", 0..100, &mut elsewhere).await;
    produce_shop(&producer, 0..400, &mut placed).await;

    let worker =
        common::start_worker_with(stack.worker_config("multi-re").with_topics([r"^shop\..*"]));
    stack
        .wait_for_rows(&pool, "events", 400, Duration::from_secs(30))
        .await;
    wait_committed_to_the_end(&stack, &[ORDERS, CLICKS]).await;
    worker.stop().await;

    assert_exactly_once(&pool, 400).await;
    assert_rows_placed(&pool, &placed).await;
    let untouched = committed_and_ends(&stack, &[(common::TOPIC, stack.partitions)]);
    assert!(
        untouched
            .iter()
            .all(|(_, _, committed, _)| *committed == Offset::Invalid),
        "the group committed offsets of a topic the regex does not match: {untouched:?}"
    );
}

#[tokio::test]
async fn a_wrong_topic_list_is_refused_with_what_to_do() {
    for (topics, says) in [
        ("orders,,clicks", "empty topic"),
        ("orders,^shop.(", "not a valid topic regex"),
        ("my orders", "not a Kafka topic name"),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args(["worker", "--database-url", "postgres://127.0.0.1:1/x"])
            .args(["--topics", topics])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "--topics {topics} was accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(says), "--topics {topics}: {err}");
    }
    // --topic is checked too, before anything starts.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["worker", "--database-url", "postgres://127.0.0.1:1/x"])
        .args(["--topic", "^("])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not a valid topic regex"), "{err}");
}
