//! One worker in the registry: what it runs, its policy state, and how a report or an override turns into
//! settings pushed to it.

use super::clock::Now;
use super::snapshot::WorkerView;
use crate::domain::{Heartbeat, Hello, Mode, Override, PartitionLag, Report, Source, WorkerId};
pub use pacer_policy::Admitted;
use pacer_policy::{Controller, Governor, Observation, Policy, Settings};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the control plane tells a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// Run with these settings from the next batch on.
    Settings {
        /// The settings.
        settings: Settings,
        /// Who chose them.
        source: Source,
        /// The policy that chose them, if one did.
        policy: String,
        /// Why.
        reason: String,
        /// The batch whose report led to it; 0 when no report did (an override, a policy switch, a re-push).
        batch_no: u64,
    },
    /// Stop starting batches.
    Pause {
        /// Why.
        reason: String,
    },
    /// Start batches again.
    Resume,
}

/// An open stream to a worker: its number (to tell a stale stream's goodbye from the current one's) and the
/// queue of what to push to it.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub outbox: mpsc::Sender<Push>,
}

/// One worker.
#[derive(Debug)]
pub struct Entry {
    pub id: WorkerId,
    pub hello: Hello,
    pub connection: Option<Connection>,
    pub last_seen: Instant,
    pub last_seen_at: OffsetDateTime,
    pub attached_at: OffsetDateTime,
    pub partitions: Vec<i32>,
    pub lag: Vec<PartitionLag>,
    pub paused: bool,
    /// Whether an operator wants it paused.
    pub want_paused: bool,
    /// The settings it runs with, as far as the control plane knows.
    pub settings: Settings,
    pub source: Source,
    /// What it goes back to when no override applies and the policy has no say (advise mode, or no decision
    /// yet): the settings it attached with, or those it ran just before an override began.
    pub resting: Settings,
    /// Where its latest report is on the policy's time axis (see `reports::axis_time`): the control plane's
    /// monotonic clock, kept strictly increasing, so that reports replayed after a reconnect keep a spacing
    /// of their own rather than arriving all at one instant.
    pub last_at: Duration,
    /// Reports in a row that ran under other settings than the ones pushed.
    pub mismatches: u32,
    /// When a pause or resume was last pushed.
    pub pause_pushed: Option<Instant>,
    /// The policy at work for it, its governor, and what they last decided.
    pub controller: Controller,
    pub last: Option<Report>,
    pub batches: u64,
    pub records: u64,
    pub rows_written: u64,
    pub invalid: u64,
    pub duplicates: u64,
}

impl Entry {
    /// A worker seen for the first time, `now`.
    pub fn new(hello: Hello, policy: Box<dyn Policy>, governor: Governor, now: Now) -> Self {
        Self {
            id: hello.worker_id.clone(),
            partitions: hello.partitions.clone(),
            paused: hello.paused,
            want_paused: hello.paused,
            settings: hello.settings,
            resting: hello.settings,
            last_at: Duration::ZERO,
            mismatches: 0,
            pause_pushed: None,
            hello,
            connection: None,
            last_seen: now.mono,
            last_seen_at: now.wall,
            attached_at: now.wall,
            lag: Vec::new(),
            source: Source::Initial,
            controller: Controller::new(policy, governor),
            last: None,
            batches: 0,
            records: 0,
            rows_written: 0,
            invalid: 0,
            duplicates: 0,
        }
    }

    /// Whether its stream is open.
    pub fn attached(&self) -> bool {
        self.connection.is_some()
    }

    /// Notes that the worker was heard from `now`.
    pub fn seen(&mut self, now: Now) {
        self.last_seen = now.mono;
        self.last_seen_at = now.wall;
    }

    /// How long it has been silent at `now`.
    pub fn silent(&self, now: Now) -> Duration {
        now.mono.saturating_duration_since(self.last_seen)
    }

    /// Takes a heartbeat in, received `now`.
    pub fn heartbeat(&mut self, heartbeat: Heartbeat, now: Now) {
        self.seen(now);
        self.partitions = heartbeat.partitions;
        if !heartbeat.lag.is_empty() {
            self.lag = heartbeat.lag;
        }
        self.paused = heartbeat.paused;
    }

    /// Queues `push` for the worker; false if it is not attached or not keeping up.
    pub fn push(&self, push: Push) -> bool {
        let Some(connection) = &self.connection else {
            return false;
        };
        match connection.outbox.try_send(push) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "cannot push to the worker now");
                false
            }
        }
    }

    /// Pushes `settings` and, only if the push was queued, records them and their source as what the worker
    /// runs: a worker away (or not keeping up) gets what it should run when it re-attaches. True if queued.
    pub fn push_settings(
        &mut self,
        settings: Settings,
        source: Source,
        policy: String,
        reason: String,
        batch_no: u64,
    ) -> bool {
        let queued = self.push(Push::Settings {
            settings,
            source,
            policy,
            reason,
            batch_no,
        });
        if queued {
            self.settings = settings;
            self.source = source;
        }
        queued
    }

    /// Takes a report in and lets the policy decide. Returns what to push (enforce) or suggest (advise) if
    /// the governor admits it. With an override in force the policy still decides, and the override's fields
    /// are put over its decision: an override of the interval alone leaves max_rows to the policy.
    pub fn report(
        &mut self,
        report: Report,
        at: Duration,
        mode: Mode,
        ov: Option<&Override>,
        now: Now,
    ) -> Option<Admitted> {
        self.seen(now);
        self.batches = self.batches.saturating_add(1);
        self.records = self.records.saturating_add(report.records);
        self.rows_written = self.rows_written.saturating_add(report.rows_written);
        self.invalid = self.invalid.saturating_add(report.invalid);
        self.duplicates = self.duplicates.saturating_add(report.duplicates);
        if !report.lag.is_empty() {
            self.lag = report.lag.clone();
        }
        let observation = Observation {
            at,
            settings: report.settings,
            rows: report.records,
            bytes: report.bytes,
            flush: report.flush,
            collect: report.poll,
            processing: report.processing(),
            lag: report.total_lag(),
            e2e_p50: report.e2e_p50,
            e2e_max: report.e2e_max,
            receipt_p99: report.receipt_to_commit.map(|[_, p99, _]| p99),
        };
        self.last = Some(report);
        // The decision loop is the one the simulator runs (`pacer_policy::Controller`): the policy steps
        // from what it believes is in force, its decision goes on the wire in whole milliseconds, an
        // override goes on top, and the governor admits it or not.
        self.controller
            .observe(&observation, self.settings, mode, ov.map(Override::overlay))
    }

    /// What the worker should run, and who chose it, under `ov` (if any) in `mode`.
    pub fn wanted(&self, mode: Mode, ov: Option<&Override>) -> (Settings, Source) {
        self.controller
            .wanted(mode, ov.map(Override::overlay), self.resting)
    }

    /// Notes a report's settings: true when the worker ran other settings than the ones pushed for three
    /// batches in a row (a push lost on the way, or not queued), so they should be pushed again.
    pub fn ran_other_settings(&mut self, ran: Settings) -> bool {
        if ran == self.settings {
            self.mismatches = 0;
            return false;
        }
        // The batch collecting when a push arrives, and the one written meanwhile, still run the old settings.
        self.mismatches += 1;
        if self.mismatches >= 3 {
            self.mismatches = 0;
            return true;
        }
        false
    }

    /// A copy for the admin API, at `now`.
    pub fn view(&self, lost_after: Duration, now: Now) -> WorkerView {
        WorkerView {
            id: self.id.clone(),
            host: self.hello.host.clone(),
            group: self.hello.group.clone(),
            attached: self.attached() && self.silent(now) <= lost_after,
            paused: self.paused,
            partitions: self.partitions.clone(),
            lag: self.lag.clone(),
            settings: self.settings,
            source: self.source,
            suggested: self.controller.suggested(),
            advice: self.controller.advice().map(str::to_owned),
            last: self.last.clone(),
            attached_at: self.attached_at,
            last_seen: self.last_seen_at,
            batches: self.batches,
            rows_written: self.rows_written,
            invalid: self.invalid,
        }
    }
}
