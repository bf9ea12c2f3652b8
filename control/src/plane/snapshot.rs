//! The pipeline as the admin API shows it: plain data, copied out of the state task.

use crate::domain::{DecisionRecord, Mode, Override, Report, Source, WorkerId};
use pacer_policy::{PolicyConfig, Settings};
use time::OffsetDateTime;

/// One worker as seen from outside the state task.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Its id.
    pub id: WorkerId,
    /// Its host.
    pub host: String,
    /// Its consumer group.
    pub group: String,
    /// Whether its stream is open and it was heard from recently.
    pub attached: bool,
    /// Whether it says it is paused.
    pub paused: bool,
    /// Its partitions.
    pub partitions: Vec<i32>,
    /// Records behind per partition.
    pub lag: Vec<(i32, i64)>,
    /// The settings it runs with.
    pub settings: Settings,
    /// Who chose them.
    pub source: Source,
    /// In advise mode, what the policy would set.
    pub suggested: Option<Settings>,
    /// The policy's advice when nothing keeps up.
    pub advice: Option<String>,
    /// Its last batch.
    pub last: Option<Report>,
    /// When its current (or last) stream opened.
    pub attached_at: OffsetDateTime,
    /// When it was last heard from.
    pub last_seen: OffsetDateTime,
    /// Batches reported.
    pub batches: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Dead letters.
    pub invalid: u64,
}

/// Totals over every worker since the control plane started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Batches reported.
    pub batches: u64,
    /// Records consumed.
    pub records: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Dead letters.
    pub invalid: u64,
    /// Duplicates absorbed.
    pub duplicates: u64,
    /// Records behind, as last reported by the attached workers.
    pub lag: i64,
    /// Events ingested: records consumed plus the backlog of every partition.
    pub ingested: u64,
    /// Records the topic took since the control plane first saw each partition.
    pub arrived: u64,
}

/// The running policy and mode.
#[derive(Debug, Clone)]
pub struct PolicyView {
    /// The policy, its parameters and bounds.
    pub config: PolicyConfig,
    /// Enforce or advise.
    pub mode: Mode,
}

/// The whole pipeline at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken.
    pub taken_at: OffsetDateTime,
    /// When the control plane started.
    pub started_at: OffsetDateTime,
    /// The running policy.
    pub policy: PolicyView,
    /// Overrides in force.
    pub overrides: Vec<Override>,
    /// Every known worker, by id.
    pub workers: Vec<WorkerView>,
    /// Totals.
    pub totals: Totals,
    /// The latest decisions, newest first.
    pub recent: Vec<DecisionRecord>,
    /// The batches of the last seconds, summed up.
    pub batches: super::RecentBatches,
}
