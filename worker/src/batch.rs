//! One micro-batch as it fills: the records, and which limit closed it.

use pacer_batch::{Flush, Settings};
use rdkafka::message::{Message, OwnedMessage};
use std::collections::BTreeMap;

/// The highest offset seen in a (topic, partition) during this batch, and the ownership epoch it was read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMark {
    /// The assignment epoch of the partition when its first record of the batch arrived.
    pub epoch: u64,
    /// The highest offset in the batch.
    pub last_offset: i64,
}

/// Records collected for one micro-batch.
#[derive(Debug)]
pub struct Batch {
    settings: Settings,
    records: Vec<OwnedMessage>,
    bytes: usize,
    /// By topic, then partition: a record's topic is looked up without copying it.
    marks: BTreeMap<String, BTreeMap<i32, PartitionMark>>,
}

impl Batch {
    /// An empty batch under `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            records: Vec::new(),
            bytes: 0,
            marks: BTreeMap::new(),
        }
    }

    /// Adds a record read under ownership `epoch` of its (topic, partition); returns the reason to close the
    /// batch now, if a size limit is reached.
    pub fn push(&mut self, record: OwnedMessage, epoch: u64) -> Option<Flush> {
        self.push_with(record, || epoch)
    }

    /// As [`Self::push`], asking for the epoch only when the record is its partition's first in the batch.
    pub fn push_with(
        &mut self,
        record: OwnedMessage,
        epoch: impl FnOnce() -> u64,
    ) -> Option<Flush> {
        self.bytes += record.payload().map_or(0, <[u8]>::len) + record.key().map_or(0, <[u8]>::len);
        let partitions = match self.marks.get_mut(record.topic()) {
            Some(partitions) => partitions,
            None => self.marks.entry(record.topic().to_owned()).or_default(),
        };
        let mark = partitions
            .entry(record.partition())
            .or_insert_with(|| PartitionMark {
                epoch: epoch(),
                last_offset: -1,
            });
        mark.last_offset = mark.last_offset.max(record.offset());
        self.records.push(record);
        if self.records.len() >= self.settings.max_rows_usize() {
            Some(Flush::MaxRows)
        } else if self.bytes >= self.settings.max_bytes_usize() {
            Some(Flush::MaxBytes)
        } else {
            None
        }
    }

    /// The settings this batch was opened under.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The records, in arrival order.
    pub fn records(&self) -> &[OwnedMessage] {
        &self.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if no record arrived.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Key and payload bytes of all records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Per (topic, partition), in that order: the epoch it was read under and its highest offset.
    pub fn marks(&self) -> impl Iterator<Item = (&str, i32, PartitionMark)> + '_ {
        self.marks.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(&partition, &mark)| (topic.as_str(), partition, mark))
        })
    }

    /// The mark of one (topic, partition), if the batch holds a record of it.
    pub fn mark(&self, topic: &str, partition: i32) -> Option<PartitionMark> {
        self.marks.get(topic)?.get(&partition).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use std::time::Duration;

    fn record(partition: i32, offset: i64, size: usize) -> OwnedMessage {
        record_of("t", partition, offset, size)
    }

    fn record_of(topic: &str, partition: i32, offset: i64, size: usize) -> OwnedMessage {
        OwnedMessage::new(
            Some(vec![b'x'; size]),
            None,
            topic.into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    fn settings(max_rows: u64, max_bytes: u64) -> Settings {
        Settings {
            interval: Duration::from_secs(1),
            max_rows,
            max_bytes,
        }
    }

    fn mark(epoch: u64, last_offset: i64) -> PartitionMark {
        PartitionMark { epoch, last_offset }
    }

    #[test]
    fn closes_at_max_rows() {
        let mut batch = Batch::new(settings(3, 1_000));
        assert_eq!(batch.push(record(0, 0, 1), 1), None);
        assert_eq!(batch.push(record(0, 1, 1), 1), None);
        assert_eq!(batch.push(record(0, 2, 1), 1), Some(Flush::MaxRows));
    }

    #[test]
    fn closes_at_max_bytes() {
        let mut batch = Batch::new(settings(100, 10));
        assert_eq!(batch.push(record(0, 0, 6), 1), None);
        assert_eq!(batch.push(record(0, 1, 6), 1), Some(Flush::MaxBytes));
        assert_eq!(batch.bytes(), 12);
    }

    #[test]
    fn tracks_highest_offset_and_first_epoch_per_partition() {
        let mut batch = Batch::new(settings(100, 1_000));
        batch.push(record(1, 7, 1), 3);
        batch.push(record(2, 4, 1), 5);
        batch.push(record(1, 9, 1), 4);
        assert_eq!(batch.mark("t", 1), Some(mark(3, 9)));
        assert_eq!(batch.mark("t", 2), Some(mark(5, 4)));
        assert_eq!(batch.mark("t", 0), None);
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn the_same_partition_number_of_two_topics_has_two_marks() {
        let mut batch = Batch::new(settings(100, 1_000));
        batch.push(record_of("orders", 0, 12, 1), 2);
        batch.push(record_of("clicks", 0, 3, 1), 7);
        batch.push(record_of("orders", 0, 15, 1), 9);
        batch.push(record_of("clicks", 1, 40, 1), 8);
        batch.push(record_of("clicks", 0, 2, 1), 9);
        assert_eq!(batch.mark("orders", 0), Some(mark(2, 15)));
        assert_eq!(batch.mark("clicks", 0), Some(mark(7, 3)));
        assert_eq!(batch.mark("orders", 1), None);
        let marks: Vec<(&str, i32, PartitionMark)> = batch.marks().collect();
        assert_eq!(
            marks,
            [
                ("clicks", 0, mark(7, 3)),
                ("clicks", 1, mark(8, 40)),
                ("orders", 0, mark(2, 15)),
            ]
        );
    }
}
