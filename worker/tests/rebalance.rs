//! Deterministic checks of the commit rules against librdkafka's own mock cluster (no broker process): the
//! rebalance callbacks keep the ownership epochs, and a batch read before a rebalance commits nothing for a
//! (topic, partition) that moved, while a batch read after it commits exactly its next offsets; with one topic,
//! and with two topics (one named, one by a `^` regex) whose partition numbers coincide.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use pacer_worker::{Batch, OwnershipContext, Settings, offsets_to_commit};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, Timestamp};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A topic of the test: its name, partitions, and the records produced to each partition.
#[derive(Clone, Copy)]
struct Topic {
    name: &'static str,
    partitions: i32,
    records: i64,
}

type Owned = BTreeSet<(String, i32)>;

fn consumer(bootstrap: &str, id: &str, subscription: &[&str]) -> BaseConsumer<OwnershipContext> {
    let consumer: BaseConsumer<OwnershipContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "g")
        .set("client.id", id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create_with_context(OwnershipContext::default())
        .unwrap();
    consumer.subscribe(subscription).unwrap();
    consumer
}

fn owned(consumer: &BaseConsumer<OwnershipContext>, topics: &[Topic]) -> Owned {
    let owned: Owned = topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(|p| (t.name.to_owned(), p)))
        .filter(|(topic, p)| consumer.context().epoch(topic, *p).is_some())
        .collect();
    // The context's own list says the same.
    assert_eq!(
        consumer
            .context()
            .partitions()
            .into_iter()
            .collect::<Owned>(),
        owned
    );
    owned
}

/// Polls every consumer until `done` holds for what they read (or panics after 30 s); returns the messages.
fn poll_until(
    consumers: &[&BaseConsumer<OwnershipContext>],
    done: impl Fn(&[Vec<OwnedMessage>]) -> bool,
) -> Vec<Vec<OwnedMessage>> {
    let mut read = vec![Vec::new(); consumers.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&read) {
        assert!(Instant::now() < deadline, "the group did not settle");
        for (i, c) in consumers.iter().enumerate() {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                read[i].push(m.detach());
            }
        }
    }
    read
}

fn batch_of(messages: &[OwnedMessage], ownership: &OwnershipContext) -> Batch {
    let mut batch = Batch::new(Settings::default());
    for m in messages {
        batch.push(
            m.clone(),
            ownership.epoch(m.topic(), m.partition()).unwrap_or(0),
        );
    }
    batch
}

fn committed(batch: &Batch, ownership: &OwnershipContext) -> Vec<(String, i32, Offset)> {
    offsets_to_commit(batch, ownership)
        .elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
        .collect()
}

#[test]
fn a_batch_never_commits_a_partition_that_moved() {
    let topic = Topic {
        name: "t",
        partitions: 4,
        records: 5,
    };
    commit_rules_hold(&[topic], &["t"]);
}

#[test]
fn two_topics_with_the_same_partition_numbers_are_committed_apart() {
    let named = Topic {
        name: "orders",
        partitions: 2,
        records: 3,
    };
    let matched = Topic {
        name: "shop.clicks",
        partitions: 2,
        records: 5,
    };
    commit_rules_hold(&[named, matched], &["orders", r"^shop\..*"]);
}

/// Produces `records` to every partition of `topics`, lets one member read them all and checks what its batch
/// commits, then lets a second member join and checks that the batch read before the rebalance commits nothing
/// that moved, and that one read after it commits exactly what `a` owns now.
fn commit_rules_hold(topics: &[Topic], subscription: &[&str]) {
    let cluster = MockCluster::new(1).unwrap();
    for t in topics {
        cluster.create_topic(t.name, t.partitions, 1).unwrap();
    }
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for t in topics {
        for p in 0..t.partitions {
            for i in 0..t.records {
                let payload = format!("{}-{p}-{i}", t.name);
                producer
                    .send(
                        BaseRecord::<(), _>::to(t.name)
                            .partition(p)
                            .payload(&payload),
                    )
                    .unwrap();
            }
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let all: Owned = topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(|p| (t.name.to_owned(), p)))
        .collect();
    let total: i64 = topics
        .iter()
        .map(|t| i64::from(t.partitions) * t.records)
        .sum();

    // One member owns every partition of every topic and reads everything.
    let a = consumer(&bootstrap, "a", subscription);
    let first = poll_until(&[&a], |read| {
        owned(&a, topics) == all && read[0].len() as i64 == total
    })
    .remove(0);
    let before = batch_of(&first, a.context());
    let offsets = committed(&before, a.context());
    let mut expected: Vec<(String, i32, Offset)> = topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(|p| (t.name.to_owned(), p, Offset::Offset(t.records))))
        .collect();
    expected.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
    assert_eq!(
        offsets, expected,
        "each (topic, partition) commits its own next offset"
    );

    // A second member joins: the partitions are shared out again.
    let b = consumer(&bootstrap, "b", subscription);
    poll_until(&[&a, &b], |_| {
        let (oa, ob) = (owned(&a, topics), owned(&b, topics));
        !oa.is_empty() && !ob.is_empty() && oa.len() + ob.len() == all.len() && oa.is_disjoint(&ob)
    });
    // The batch read before the rebalance may commit nothing for a partition `a` lost, and with the eager
    // protocol every partition was revoked and assigned anew, so nothing at all.
    let stale = committed(&before, a.context());
    let kept = owned(&a, topics);
    let lost: Owned = all.difference(&kept).cloned().collect();
    assert!(!lost.is_empty());
    for (topic, partition, _) in &stale {
        assert!(
            !lost.contains(&(topic.clone(), *partition)),
            "would commit {topic}/{partition} that moved to b"
        );
    }
    assert_eq!(stale, [], "eager rebalance: every epoch is new");

    // A batch read under the new assignment commits its partitions, each at its own next offset.
    let fresh: Vec<OwnedMessage> = kept
        .iter()
        .map(|(topic, p)| {
            OwnedMessage::new(
                Some(b"x".to_vec()),
                None,
                topic.clone(),
                Timestamp::NotAvailable,
                *p,
                7 + i64::from(*p),
                None,
            )
        })
        .collect();
    let after = batch_of(&fresh, a.context());
    let offsets = committed(&after, a.context());
    let expected: Vec<(String, i32, Offset)> = kept
        .iter()
        .map(|(topic, p)| (topic.clone(), *p, Offset::Offset(8 + i64::from(*p))))
        .collect();
    assert_eq!(offsets, expected);
}
