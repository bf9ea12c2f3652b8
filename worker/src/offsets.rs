//! Which offsets a written batch may commit: a (topic, partition) that changed owner while the batch was
//! collected and written is left to its new owner, whose commits must not be moved back or past what it wrote.
//! Each (topic, partition) is decided alone, under its own epoch: a worker that lost partition 0 of one topic
//! still commits partition 0 of another topic that it kept.

use crate::batch::Batch;
use crate::ownership::OwnershipContext;
use rdkafka::{Offset, TopicPartitionList};

/// The offsets a batch may commit: the next offset of each of its (topic, partition)s that is still owned under
/// the assignment epoch the batch read it in.
pub fn offsets_to_commit(batch: &Batch, ownership: &OwnershipContext) -> TopicPartitionList {
    let mut offsets = TopicPartitionList::new();
    for (topic, partition, mark) in batch.marks() {
        if ownership.epoch(topic, partition) != Some(mark.epoch) {
            tracing::info!(
                topic,
                partition,
                "partition changed owner during the batch; not committing it"
            );
            continue;
        }
        if let Err(e) =
            offsets.add_partition_offset(topic, partition, Offset::Offset(mark.last_offset + 1))
        {
            tracing::warn!(error = %e, topic, partition, "cannot build the offset commit");
        }
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_batch::Settings;
    use rdkafka::Timestamp;
    use rdkafka::message::{Message, OwnedMessage};

    fn list(entries: &[(&str, i32)]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for &(topic, partition) in entries {
            list.add_partition(topic, partition);
        }
        list
    }

    /// A batch of records `(topic, partition, offset)`, each read under its partition's epoch now.
    fn batch(ownership: &OwnershipContext, records: &[(&str, i32, i64)]) -> Batch {
        let mut batch = Batch::new(Settings::default());
        for &(topic, partition, offset) in records {
            let record = OwnedMessage::new(
                Some(b"x".to_vec()),
                None,
                topic.into(),
                Timestamp::NotAvailable,
                partition,
                offset,
                None,
            );
            let epoch = ownership.epoch(record.topic(), partition).unwrap_or(0);
            batch.push(record, epoch);
        }
        batch
    }

    fn committed(offsets: &TopicPartitionList) -> Vec<(String, i32, Offset)> {
        offsets
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
            .collect()
    }

    #[test]
    fn commits_the_next_offset_of_each_topic_and_partition() {
        let ownership = OwnershipContext::default();
        ownership.assign(&list(&[("orders", 0), ("orders", 1), ("clicks", 0)]));
        let batch = batch(
            &ownership,
            &[
                ("orders", 0, 4),
                ("clicks", 0, 90),
                ("orders", 1, 2),
                ("orders", 0, 6),
            ],
        );
        assert_eq!(
            committed(&offsets_to_commit(&batch, &ownership)),
            [
                ("clicks".to_owned(), 0, Offset::Offset(91)),
                ("orders".to_owned(), 0, Offset::Offset(7)),
                ("orders".to_owned(), 1, Offset::Offset(3)),
            ]
        );
    }

    #[test]
    fn a_partition_that_moved_is_left_out_and_the_same_number_of_another_topic_is_not() {
        let ownership = OwnershipContext::default();
        ownership.assign(&list(&[("orders", 0), ("clicks", 0), ("clicks", 1)]));
        let batch = batch(
            &ownership,
            &[("orders", 0, 4), ("clicks", 0, 90), ("clicks", 1, 8)],
        );
        // clicks/0 is lost for good; clicks/1 is lost and regained: a new epoch, so not the batch's either.
        ownership.revoke(&list(&[("clicks", 0), ("clicks", 1)]));
        ownership.assign(&list(&[("clicks", 1)]));
        assert_eq!(
            committed(&offsets_to_commit(&batch, &ownership)),
            [("orders".to_owned(), 0, Offset::Offset(5))]
        );
    }

    #[test]
    fn a_record_read_while_not_owned_is_never_committed() {
        let ownership = OwnershipContext::default();
        ownership.assign(&list(&[("orders", 0)]));
        // clicks/0 is not owned: its records are read under epoch 0, which no assignment has.
        let batch = batch(&ownership, &[("orders", 0, 1), ("clicks", 0, 5)]);
        ownership.assign(&list(&[("clicks", 0)]));
        assert_eq!(
            committed(&offsets_to_commit(&batch, &ownership)),
            [("orders".to_owned(), 0, Offset::Offset(2))]
        );
    }
}
