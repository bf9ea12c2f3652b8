//! What the workers report about each partition, kept per (topic, partition) rather than per worker, so that a
//! worker lost or a rebalance does not make the figures jump, and partition n of one topic is never taken for
//! partition n of another:
//!
//! - the ends (high watermarks): how far each moved since the control plane first saw the partition is what
//!   the topic took since, and its growth is the ingest rate. A partition first seen late adds its growth
//!   from then on, not its whole history; an end never moves back.
//! - the lag, as last reported by whichever worker owns (or owned) the partition: the backlog.

use crate::domain::PartitionLag;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default)]
struct Partition {
    /// The first and the latest end seen.
    ends: Option<(i64, i64)>,
    /// The latest lag reported.
    lag: i64,
}

/// Per-partition ends and lag.
#[derive(Debug, Default)]
pub struct Partitions {
    partitions: BTreeMap<(String, i32), Partition>,
}

impl Partitions {
    /// Takes in a report's or a heartbeat's ends and lag.
    pub fn observe(&mut self, lag: &[PartitionLag]) {
        for l in lag {
            let p = self
                .partitions
                .entry((l.topic.clone(), l.partition))
                .or_default();
            if let Some(end) = l.end {
                p.ends = Some(match p.ends {
                    None => (end, end),
                    Some((first, latest)) => (first, latest.max(end)),
                });
            }
            p.lag = l.lag.max(0);
        }
    }

    /// Records the topic took since each partition was first seen.
    pub fn arrived(&self) -> u64 {
        self.partitions
            .values()
            .filter_map(|p| p.ends)
            .map(|(first, latest)| latest.saturating_sub(first).max(0) as u64)
            .sum()
    }

    /// The partitions seen.
    pub fn count(&self) -> u32 {
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    /// Records waiting over every partition, as last reported for each.
    pub fn backlog(&self) -> u64 {
        self.partitions.values().map(|p| p.lag as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(topic: &str, partition: i32, lag: i64, end: Option<i64>) -> PartitionLag {
        PartitionLag {
            topic: topic.into(),
            partition,
            lag,
            end,
        }
    }

    fn ends(ends: &[(i32, i64)]) -> Vec<PartitionLag> {
        ends.iter()
            .map(|&(p, end)| at("t", p, 0, Some(end)))
            .collect()
    }

    #[test]
    fn each_partition_counts_from_when_it_was_first_seen_and_never_backwards() {
        let mut p = Partitions::default();
        p.observe(&ends(&[(0, 1_000), (1, 500)]));
        assert_eq!(p.arrived(), 0);
        p.observe(&ends(&[(0, 1_100), (1, 550)]));
        assert_eq!(p.arrived(), 150);
        // A partition seen late adds only its growth from then on.
        p.observe(&ends(&[(2, 9_000)]));
        p.observe(&ends(&[(2, 9_010)]));
        assert_eq!(p.arrived(), 160);
        // A stale report from another worker does not move an end back.
        p.observe(&ends(&[(0, 1_050)]));
        assert_eq!(p.arrived(), 160);
        // An unknown end leaves the partition's ends as they were.
        p.observe(&[at("t", 0, 3, None)]);
        assert_eq!(p.arrived(), 160);
    }

    #[test]
    fn partition_n_of_one_topic_is_not_partition_n_of_another() {
        let mut p = Partitions::default();
        // Two workers, one per topic, report partition 0 of each: a big end and a small one.
        p.observe(&[at("big", 0, 10, Some(50_000))]);
        p.observe(&[at("small", 0, 4, Some(100))]);
        p.observe(&[at("big", 0, 20, Some(50_300))]);
        p.observe(&[at("small", 0, 6, Some(160))]);
        // Each grew on its own: 300 + 60, and the small end is not a stale view of the big one.
        assert_eq!(p.arrived(), 360);
        assert_eq!(p.count(), 2);
        assert_eq!(p.backlog(), 26);
    }

    #[test]
    fn the_backlog_keeps_each_partitions_latest_lag() {
        let mut p = Partitions::default();
        p.observe(&[at("t", 0, 40, None), at("t", 1, 60, None)]);
        assert_eq!(p.backlog(), 100);
        // Another worker now owns partition 1 and reports it; partition 0's owner is silent (lost): its last
        // figure stays.
        p.observe(&[at("t", 1, 5, None)]);
        assert_eq!(p.backlog(), 45);
        p.observe(&[at("t", 0, -1, None)]);
        assert_eq!(p.backlog(), 5);
    }
}
