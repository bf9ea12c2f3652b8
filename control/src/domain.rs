//! The control plane's own types: what it knows of workers, overrides and decisions. They know nothing of
//! protobuf; `convert` turns them into messages and back at the edge.

pub use pacer_batch::WorkerId;
use pacer_batch::{Flush, Overlay, Settings};
use pacer_policy::{Bounds, PolicyKind};
pub use pacer_policy::{Mode, Source};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// What a worker says about itself when it attaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// Its id.
    pub worker_id: WorkerId,
    /// Its host.
    pub host: String,
    /// Its consumer group.
    pub group: String,
    /// The topic it consumes.
    pub topic: String,
    /// Its partitions now.
    pub partitions: Vec<i32>,
    /// Its settings now.
    pub settings: Settings,
    /// Whether it is paused now.
    pub paused: bool,
    /// Its pacer version.
    pub version: String,
}

/// A worker's sign of life.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Its partitions now.
    pub partitions: Vec<i32>,
    /// Records behind, and the end where known, per (topic, partition).
    pub lag: Vec<PartitionLag>,
    /// Whether it is paused now.
    pub paused: bool,
}

/// One batch as a worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Its number in the worker's run.
    pub batch_no: u64,
    /// When it finished, on the worker's clock, if it said: shown, never computed with (the policy's time
    /// is the control plane's).
    pub finished_at: Option<OffsetDateTime>,
    /// Records in it.
    pub records: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Duplicates absorbed.
    pub duplicates: u64,
    /// Dead letters.
    pub invalid: u64,
    /// Record bytes.
    pub bytes: u64,
    /// What closed it.
    pub flush: Flush,
    /// The settings it was collected under.
    pub settings: Settings,
    /// Collect time.
    pub poll: Duration,
    /// Transform time.
    pub transform: Duration,
    /// Write time.
    pub write: Duration,
    /// Commit time.
    pub commit: Duration,
    /// Records behind, and the end where known, per (topic, partition) after it.
    pub lag: Vec<PartitionLag>,
    /// Median end-to-end latency.
    pub e2e_p50: Option<Duration>,
    /// Largest end-to-end latency.
    pub e2e_max: Option<Duration>,
    /// Receipt to commit of the batch's valid events: median, 99th percentile and largest.
    pub receipt_to_commit: Option<[Duration; 3]>,
    /// Rows and dead letters per route that had any, as the worker counted them.
    pub routes: Vec<RouteCount>,
}

pub use pacer_batch::{PartitionLag, RouteCount};

impl Report {
    /// Transform, write and commit: the time the batch took once collected.
    pub fn processing(&self) -> Duration {
        self.transform
            .saturating_add(self.write)
            .saturating_add(self.commit)
    }

    /// Total records behind, if any partition's lag is known.
    pub fn total_lag(&self) -> Option<u64> {
        (!self.lag.is_empty()).then(|| {
            self.lag
                .iter()
                .fold(0u64, |sum, l| sum.saturating_add(l.lag.max(0) as u64))
        })
    }
}

#[cfg(test)]
impl Report {
    /// A clean batch for tests: 10 rows in 100 ms under 100 ms / 1000 rows / 1 MiB, nothing behind.
    pub(crate) fn sample() -> Report {
        Report {
            batch_no: 1,
            finished_at: None,
            records: 10,
            rows_written: 10,
            duplicates: 0,
            invalid: 0,
            bytes: 100,
            flush: Flush::Interval,
            settings: Settings {
                interval: Duration::from_millis(100),
                max_rows: 1000,
                max_bytes: 1 << 20,
            },
            poll: Duration::from_millis(100),
            transform: Duration::ZERO,
            write: Duration::ZERO,
            commit: Duration::ZERO,
            lag: Vec::new(),
            e2e_p50: None,
            e2e_max: None,
            receipt_to_commit: None,
            routes: Vec::new(),
        }
    }
}

/// A manual override of interval and/or max rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The worker, or `None` for every worker.
    pub worker: Option<WorkerId>,
    /// The interval it fixes, if any.
    pub interval: Option<Duration>,
    /// The max rows it fixes, if any.
    pub max_rows: Option<u64>,
    /// When it was set.
    pub set_at: OffsetDateTime,
    /// When it ends, if it does by itself.
    pub expires_at: Option<OffsetDateTime>,
}

impl Override {
    /// The fields it fixes.
    pub fn overlay(&self) -> Overlay {
        Overlay {
            interval: self.interval,
            max_rows: self.max_rows,
        }
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A new policy as an operator asks for it: its kind, its parameters (missing ones take their defaults) and
/// what to change in the bounds. The state task puts the change over the bounds in force and validates.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyChange {
    /// The policy.
    pub kind: PolicyKind,
    /// Its parameters by name.
    pub params: BTreeMap<String, f64>,
    /// The bounds fields to change.
    pub bounds: BoundsChange,
}

/// Bounds fields to change; a field left `None` keeps its current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundsChange {
    /// The shortest interval.
    pub min_interval: Option<Duration>,
    /// The longest interval.
    pub max_interval: Option<Duration>,
    /// The fewest `max_rows`.
    pub min_rows: Option<u64>,
    /// The most `max_rows`.
    pub max_rows: Option<u64>,
    /// The most `max_bytes`.
    pub max_bytes: Option<u64>,
}

impl BoundsChange {
    /// `current` with the fields this change sets replaced.
    pub fn over(self, current: Bounds) -> Bounds {
        Bounds {
            min_interval: self.min_interval.unwrap_or(current.min_interval),
            max_interval: self.max_interval.unwrap_or(current.max_interval),
            min_rows: self.min_rows.unwrap_or(current.min_rows),
            max_rows: self.max_rows.unwrap_or(current.max_rows),
            max_bytes: self.max_bytes.unwrap_or(current.max_bytes),
            cold_start: current.cold_start,
        }
    }
}

/// A decision, by the policy or an operator, as recorded in `policy_decisions`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// When.
    pub at: OffsetDateTime,
    /// The worker, or `None` for every worker.
    pub worker: Option<WorkerId>,
    /// The policy's name, or `override` / `clear-override`.
    pub policy: String,
    /// Settings before.
    pub old: Settings,
    /// Settings after.
    pub new: Settings,
    /// Pushed or only advised.
    pub mode: Mode,
    /// Why.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_what_it_sets_and_expires() {
        let base = Settings {
            interval: Duration::from_millis(100),
            max_rows: 1000,
            max_bytes: 1 << 20,
        };
        let now = OffsetDateTime::now_utc();
        let ov = Override {
            worker: None,
            interval: Some(Duration::from_millis(700)),
            max_rows: None,
            set_at: now,
            expires_at: Some(now + Duration::from_secs(3)),
        };
        assert_eq!(
            ov.overlay().apply(base),
            Settings {
                interval: Duration::from_millis(700),
                ..base
            }
        );
        assert!(!ov.expired(now));
        assert!(ov.expired(now + Duration::from_secs(3)));
        let forever = Override {
            expires_at: None,
            ..ov
        };
        assert!(!forever.expired(now + Duration::from_secs(86_400)));
    }
}
