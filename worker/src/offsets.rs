//! Which offsets a written batch may commit: a partition that changed owner while the batch was collected
//! and written is left to its new owner, whose commits must not be moved back or past what it wrote.

use crate::batch::Batch;
use crate::ownership::OwnershipContext;
use rdkafka::{Offset, TopicPartitionList};

/// The offsets a batch may commit: the next offset of each of its partitions that is still owned under the
/// assignment epoch the batch read it in.
pub fn offsets_to_commit(
    batch: &Batch,
    ownership: &OwnershipContext,
    topic: &str,
) -> TopicPartitionList {
    let mut offsets = TopicPartitionList::new();
    for (&partition, mark) in batch.marks() {
        if ownership.epoch(topic, partition) != Some(mark.epoch) {
            tracing::info!(
                partition,
                "partition changed owner during the batch; not committing it"
            );
            continue;
        }
        if let Err(e) =
            offsets.add_partition_offset(topic, partition, Offset::Offset(mark.last_offset + 1))
        {
            tracing::warn!(error = %e, partition, "cannot build the offset commit");
        }
    }
    offsets
}
