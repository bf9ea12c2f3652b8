//! Events ingested, from the ends of the partitions the workers report: ingest acknowledges only what the
//! broker holds, so what the topic took is what was ingested. Each partition counts from the first end the
//! control plane saw for it, so a partition that shows up late (a worker attaching, a rebalance) adds its
//! growth from then on, not its whole history; a lost worker's partitions keep their count.

use std::collections::BTreeMap;

/// The first and the latest end seen per partition.
#[derive(Debug, Default)]
pub struct PartitionEnds {
    ends: BTreeMap<i32, (i64, i64)>,
}

impl PartitionEnds {
    /// Takes in reported ends; an end never moves back (a stale report does not undo a newer one).
    pub fn observe(&mut self, ends: &[(i32, i64)]) {
        for &(partition, end) in ends {
            let (_, latest) = self.ends.entry(partition).or_insert((end, end));
            *latest = (*latest).max(end);
        }
    }

    /// Records taken into the topic since each partition was first seen.
    pub fn ingested(&self) -> u64 {
        self.ends
            .values()
            .map(|(first, latest)| latest.saturating_sub(*first).max(0) as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_counts_from_when_it_was_first_seen_and_never_backwards() {
        let mut ends = PartitionEnds::default();
        ends.observe(&[(0, 1_000), (1, 500)]);
        assert_eq!(ends.ingested(), 0);
        ends.observe(&[(0, 1_100), (1, 550)]);
        assert_eq!(ends.ingested(), 150);
        // A partition seen late adds only its growth from then on.
        ends.observe(&[(2, 9_000)]);
        ends.observe(&[(2, 9_010)]);
        assert_eq!(ends.ingested(), 160);
        // A stale report from another worker does not move an end back.
        ends.observe(&[(0, 1_050)]);
        assert_eq!(ends.ingested(), 160);
    }
}
