//! The pipeline as the admin API shows it: plain data, copied out of the state task, and how the state task
//! takes it.

use super::clock::Now;
use super::entry::Entry;
use super::routes::RouteTotals;
use super::state::State;
use super::window::BatchWindow;
use crate::domain::{DecisionRecord, Mode, Override, PartitionLag, Report, Source, WorkerId};
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
    /// Records behind per (topic, partition).
    pub lag: Vec<PartitionLag>,
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
    /// Per route, by name, over every worker since the start.
    pub routes: Vec<RouteTotals>,
}

impl Snapshot {
    /// The pipeline before any worker attached.
    pub(super) fn at_start(started_at: OffsetDateTime, policy: PolicyView) -> Self {
        Snapshot {
            taken_at: started_at,
            started_at,
            policy,
            overrides: Vec::new(),
            workers: Vec::new(),
            totals: Totals::default(),
            recent: Vec::new(),
            batches: BatchWindow::default().summary(),
            routes: Vec::new(),
        }
    }
}

impl Totals {
    /// Adds what `entry` reported.
    pub(super) fn add(&mut self, entry: &Entry) {
        self.batches = self.batches.saturating_add(entry.batches);
        self.records = self.records.saturating_add(entry.records);
        self.rows_written = self.rows_written.saturating_add(entry.rows_written);
        self.invalid = self.invalid.saturating_add(entry.invalid);
        self.duplicates = self.duplicates.saturating_add(entry.duplicates);
    }
}

impl State {
    /// The pipeline at `now`.
    pub(super) fn snapshot(&mut self, now: Now) -> Snapshot {
        self.batches.prune(now.mono);
        let lost_after = self.config.lost_after;
        let workers: Vec<WorkerView> = self
            .workers
            .values()
            .map(|e| e.view(lost_after, now))
            .collect();
        let mut totals = self.forgotten;
        for entry in self.workers.values() {
            totals.add(entry);
            if entry.attached() {
                totals.lag = entry
                    .lag
                    .iter()
                    .fold(totals.lag, |sum, l| sum.saturating_add(l.lag));
            }
        }
        totals.ingested = totals.records.saturating_add(self.partitions.backlog());
        totals.arrived = self.partitions.arrived();
        Snapshot {
            taken_at: now.wall,
            started_at: self.clock.started_at(),
            policy: self.policy_view(),
            overrides: self.overrides.iter().cloned().collect(),
            workers,
            totals,
            recent: self.recent.iter().cloned().collect(),
            batches: self.batches.summary(),
            routes: self.routes.totals(self.clock.since_start(now)),
        }
    }
}
