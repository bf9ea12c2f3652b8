//! Which (topic, partition)s this worker owns, with an epoch per assignment, kept up to date by the rebalance
//! callbacks. A batch commits a (topic, partition)'s offset only if its epoch has not changed since the batch
//! read it, so a worker never commits for a partition it lost, even if it got it back in between. Partitions
//! are always named with their topic: partition 0 of one topic and partition 0 of another are owned, lost and
//! committed independently, whether the worker subscribed to them by name or by a `^` regex.
//!
//! The check runs just before the commit, and a rebalance can land between the two. Such a commit carries only
//! offsets of rows already durable in PostgreSQL, so at worst it moves a group offset back and the new owner
//! re-reads records that the `(source, id)` key then absorbs; it never skips a record.

pub use pacer_batch::PartitionLag;
use pacer_kafka::BrokerWatch;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Owned {
    /// The epoch of each owned partition, by topic then partition: looked up for every record, without
    /// copying its topic.
    epochs: HashMap<String, HashMap<i32, u64>>,
    next_epoch: u64,
    /// Consumer lag and end offset per (topic, partition), from librdkafka's latest statistics.
    lag: HashMap<(String, i32), PartitionLag>,
}

impl Owned {
    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.epochs
            .get(topic)
            .is_some_and(|partitions| partitions.contains_key(&partition))
    }
}

/// The consumer context: tracks ownership across rebalances.
#[derive(Debug, Default)]
pub struct OwnershipContext {
    owned: Mutex<Owned>,
    /// Whether the brokers are reachable, logged once per change.
    brokers: BrokerWatch,
}

impl OwnershipContext {
    /// A context for a consumer of `brokers`, whose outages are logged once per change.
    pub fn watching(brokers: &str) -> Self {
        Self {
            owned: Mutex::default(),
            brokers: BrokerWatch::new(brokers),
        }
    }

    /// The current epoch of a partition of `topic`, or `None` if this worker does not own it.
    pub fn epoch(&self, topic: &str, partition: i32) -> Option<u64> {
        self.lock().epochs.get(topic)?.get(&partition).copied()
    }

    /// The (topic, partition)s owned now, in order.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        let mut partitions: Vec<(String, i32)> = self
            .lock()
            .epochs
            .iter()
            .flat_map(|(topic, partitions)| partitions.keys().map(|&p| (topic.clone(), p)))
            .collect();
        partitions.sort_unstable();
        partitions
    }

    /// The consumer lag of each owned (topic, partition), in order, from the latest statistics (refreshed
    /// every second).
    pub fn lag(&self) -> Vec<PartitionLag> {
        let owned = self.lock();
        let mut lag: Vec<PartitionLag> = owned
            .lag
            .values()
            .filter(|l| owned.owns(&l.topic, l.partition))
            .cloned()
            .collect();
        lag.sort_unstable_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        lag
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        // A poisoned lock only means a panic elsewhere; the map itself is always consistent.
        self.owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Owns the partitions of `list`, each under a new epoch.
    pub(crate) fn assign(&self, list: &TopicPartitionList) {
        let mut owned = self.lock();
        for element in list.elements() {
            owned.next_epoch += 1;
            let epoch = owned.next_epoch;
            owned
                .epochs
                .entry(element.topic().to_owned())
                .or_default()
                .insert(element.partition(), epoch);
        }
        tracing::info!(partitions = ?named(list), "partitions assigned");
    }

    /// Lets go of the partitions of `list`.
    pub(crate) fn revoke(&self, list: &TopicPartitionList) {
        let mut owned = self.lock();
        for element in list.elements() {
            if let Some(partitions) = owned.epochs.get_mut(element.topic()) {
                partitions.remove(&element.partition());
                if partitions.is_empty() {
                    owned.epochs.remove(element.topic());
                }
            }
        }
        tracing::info!(partitions = ?named(list), "partitions revoked");
    }
}

/// The (topic, partition)s of a list, for a log line.
fn named(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for OwnershipContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.brokers.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.brokers.error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.brokers.stats(&statistics);
        let mut owned = self.lock();
        owned.lag.clear();
        for (name, topic) in &statistics.topics {
            for (&partition, stats) in &topic.partitions {
                // Partition -1 is librdkafka's internal queue; a negative lag means "not known yet".
                if partition >= 0 && stats.consumer_lag >= 0 {
                    owned.lag.insert(
                        (name.clone(), partition),
                        PartitionLag {
                            topic: name.clone(),
                            partition,
                            lag: stats.consumer_lag,
                            // Negative offsets are librdkafka's "not known".
                            end: (stats.hi_offset >= 0).then_some(stats.hi_offset),
                        },
                    );
                }
            }
        }
    }
}

impl ConsumerContext for OwnershipContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => self.revoke(list),
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                // rdkafka unassigns every partition after a failed rebalance: own nothing until the next assignment.
                tracing::warn!(error = %e, "rebalance failed; dropping every partition until the next assignment");
                self.lock().epochs.clear();
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.assign(list);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Offset;

    fn list(topic: &str, partitions: &[i32]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition_offset(topic, p, Offset::Invalid)
                .unwrap();
        }
        list
    }

    #[test]
    fn a_partition_lost_and_regained_has_a_new_epoch() {
        let ctx = OwnershipContext::default();
        ctx.assign(&list("t", &[0, 1]));
        let first = ctx.epoch("t", 0).unwrap();
        ctx.revoke(&list("t", &[0]));
        assert_eq!(ctx.epoch("t", 0), None);
        assert!(ctx.epoch("t", 1).is_some());
        ctx.assign(&list("t", &[0]));
        assert_ne!(ctx.epoch("t", 0), Some(first));
    }

    #[test]
    fn the_same_partition_number_of_two_topics_is_owned_apart() {
        let ctx = OwnershipContext::default();
        ctx.assign(&list("orders", &[0, 1]));
        ctx.assign(&list("clicks", &[0]));
        let orders = ctx.epoch("orders", 0).unwrap();
        let clicks = ctx.epoch("clicks", 0).unwrap();
        assert_ne!(orders, clicks);
        ctx.revoke(&list("clicks", &[0]));
        assert_eq!(ctx.epoch("clicks", 0), None);
        assert_eq!(ctx.epoch("orders", 0), Some(orders));
        assert_eq!(ctx.epoch("other", 0), None);
        assert_eq!(
            ctx.partitions(),
            [("orders".to_owned(), 0), ("orders".to_owned(), 1)]
        );
    }
}
