//! Deterministic checks of the commit rules against librdkafka's own mock cluster (no broker process): the
//! rebalance callbacks keep the ownership epochs, and a batch read before a rebalance commits nothing for a
//! partition that moved, while a batch read after it commits exactly its next offsets.
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

const TOPIC: &str = "t";

fn consumer(bootstrap: &str, id: &str) -> BaseConsumer<OwnershipContext> {
    let consumer: BaseConsumer<OwnershipContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "g")
        .set("client.id", id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create_with_context(OwnershipContext::default())
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

fn owned(consumer: &BaseConsumer<OwnershipContext>) -> BTreeSet<i32> {
    (0..4)
        .filter(|p| consumer.context().epoch(TOPIC, *p).is_some())
        .collect()
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
            ownership.epoch(TOPIC, m.partition()).unwrap_or(0),
        );
    }
    batch
}

#[test]
fn a_batch_never_commits_a_partition_that_moved() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 4, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for p in 0..4 {
        for i in 0..5 {
            let payload = format!("{p}-{i}");
            producer
                .send(
                    BaseRecord::<(), _>::to(TOPIC)
                        .partition(p)
                        .payload(&payload),
                )
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    // One member owns all four partitions and reads everything.
    let a = consumer(&bootstrap, "a");
    let first = poll_until(&[&a], |read| owned(&a).len() == 4 && read[0].len() == 20).remove(0);
    let before = batch_of(&first, a.context());
    let offsets = offsets_to_commit(&before, a.context(), TOPIC);
    assert_eq!(offsets.count(), 4);
    for e in offsets.elements() {
        assert_eq!(e.offset(), Offset::Offset(5), "partition {}", e.partition());
    }

    // A second member joins: the partitions are shared out again.
    let b = consumer(&bootstrap, "b");
    poll_until(&[&a, &b], |_| {
        let (oa, ob) = (owned(&a), owned(&b));
        !oa.is_empty() && !ob.is_empty() && oa.len() + ob.len() == 4 && oa.is_disjoint(&ob)
    });
    // The batch read before the rebalance may commit nothing for a partition `a` lost, and with the eager
    // protocol every partition was revoked and assigned anew, so nothing at all.
    let stale = offsets_to_commit(&before, a.context(), TOPIC);
    let lost: BTreeSet<i32> = (0..4).filter(|p| !owned(&a).contains(p)).collect();
    assert!(!lost.is_empty());
    for e in stale.elements() {
        assert!(
            !lost.contains(&e.partition()),
            "would commit partition {} that moved to b",
            e.partition()
        );
    }
    assert_eq!(stale.count(), 0, "eager rebalance: every epoch is new");

    // A batch read under the new assignment commits its partitions.
    let fresh: Vec<OwnedMessage> = owned(&a)
        .iter()
        .map(|&p| {
            OwnedMessage::new(
                Some(b"x".to_vec()),
                None,
                TOPIC.into(),
                Timestamp::NotAvailable,
                p,
                7,
                None,
            )
        })
        .collect();
    let after = batch_of(&fresh, a.context());
    let offsets = offsets_to_commit(&after, a.context(), TOPIC);
    let committed: BTreeSet<i32> = offsets.elements().iter().map(|e| e.partition()).collect();
    assert_eq!(committed, owned(&a));
    assert!(
        offsets
            .elements()
            .iter()
            .all(|e| e.offset() == Offset::Offset(8))
    );
}
