//! One worker in the registry: what it runs, its policy state, and how a report or an override turns into
//! settings pushed to it.

use super::snapshot::WorkerView;
use crate::domain::{Heartbeat, Hello, Mode, Override, Report, Source, WorkerId, on_the_wire};
use pacer_policy::{Decision, Governor, Observation, Policy, Settings};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::mpsc;

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
    pub lag: Vec<(i32, i64)>,
    pub paused: bool,
    /// Whether an operator wants it paused.
    pub want_paused: bool,
    /// The settings it runs with, as far as the control plane knows.
    pub settings: Settings,
    pub source: Source,
    /// What it goes back to when no override applies and the policy has no say (advise mode, or no decision
    /// yet): the settings it attached with, or those it ran just before an override began.
    pub resting: Settings,
    /// The time of its latest report, on the control plane's clock: reports replayed after a reconnect keep
    /// their own spacing.
    pub last_at: Duration,
    /// Reports in a row that ran under other settings than the ones pushed.
    pub mismatches: u32,
    /// When a pause or resume was last pushed.
    pub pause_pushed: Option<Instant>,
    pub policy: Box<dyn Policy>,
    pub governor: Governor,
    /// The policy's latest admitted settings (enforced or advised).
    pub policy_settings: Option<Settings>,
    /// In advise mode, the latest suggestion.
    pub suggested: Option<Settings>,
    pub advice: Option<String>,
    pub last: Option<Report>,
    pub batches: u64,
    pub records: u64,
    pub rows_written: u64,
    pub invalid: u64,
    pub duplicates: u64,
}

/// A policy decision that passed the governor: to push (enforce) or to show (advise).
#[derive(Debug)]
pub struct Admitted {
    pub old: Settings,
    pub new: Settings,
    pub reason: String,
}

impl Entry {
    /// A worker seen for the first time.
    pub fn new(hello: Hello, policy: Box<dyn Policy>, governor: Governor) -> Self {
        let now = OffsetDateTime::now_utc();
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
            last_seen: Instant::now(),
            last_seen_at: now,
            attached_at: now,
            lag: Vec::new(),
            source: Source::Initial,
            policy,
            governor,
            policy_settings: None,
            suggested: None,
            advice: None,
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

    /// Notes that the worker was heard from.
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
        self.last_seen_at = OffsetDateTime::now_utc();
    }

    /// Takes a heartbeat in.
    pub fn heartbeat(&mut self, heartbeat: Heartbeat) {
        self.seen();
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

    /// Takes a report in and lets the policy decide. Returns what to push (enforce) or suggest (advise) if
    /// the governor admits it. With an override in force the policy still decides, and the override's fields
    /// are put over its decision: an override of the interval alone leaves max_rows to the policy.
    pub fn report(
        &mut self,
        report: Report,
        at: Duration,
        mode: Mode,
        ov: Option<&Override>,
    ) -> Option<Admitted> {
        self.seen();
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
        };
        self.last = Some(report);
        // The policy steps from what it believes is in force: its own last setting, or its last suggestion.
        let believed = match mode {
            Mode::Enforce => self.policy_settings.unwrap_or(self.settings),
            Mode::Advise => self.suggested.unwrap_or(self.settings),
        };
        let Decision {
            settings,
            reason,
            advice,
            ..
        } = self.policy.decide(believed, &observation);
        self.advice = advice;
        let settings = on_the_wire(settings);
        let (current, proposed, reason) = match (mode, ov) {
            (Mode::Enforce, Some(ov)) => {
                // Not pushed as such, but kept: it is where the worker goes when the override ends.
                self.policy_settings = Some(settings);
                (
                    self.settings,
                    ov.apply(settings),
                    format!("{reason} (override in force on top)"),
                )
            }
            (Mode::Enforce, None) => (self.settings, settings, reason),
            (Mode::Advise, _) => (self.suggested.unwrap_or(self.settings), settings, reason),
        };
        if !self.governor.admit(at, &current, &proposed) {
            return None;
        }
        if ov.is_none() {
            self.policy_settings = Some(settings);
        }
        Some(Admitted {
            old: current,
            new: proposed,
            reason,
        })
    }

    /// What the worker should run, and who chose it, under `ov` (if any) in `mode`.
    pub fn wanted(&self, mode: Mode, ov: Option<&Override>) -> (Settings, Source) {
        let (base, source) = match (mode, self.policy_settings) {
            (Mode::Enforce, Some(settings)) => (settings, Source::Policy),
            _ => (self.resting, Source::Initial),
        };
        match ov {
            Some(ov) => (ov.apply(base), Source::Override),
            None => (base, source),
        }
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

    /// A copy for the admin API.
    pub fn view(&self, lost_after: Duration) -> WorkerView {
        WorkerView {
            id: self.id.clone(),
            host: self.hello.host.clone(),
            group: self.hello.group.clone(),
            attached: self.attached() && self.last_seen.elapsed() <= lost_after,
            paused: self.paused,
            partitions: self.partitions.clone(),
            lag: self.lag.clone(),
            settings: self.settings,
            source: self.source,
            suggested: self.suggested,
            advice: self.advice.clone(),
            last: self.last.clone(),
            attached_at: self.attached_at,
            last_seen: self.last_seen_at,
            batches: self.batches,
            rows_written: self.rows_written,
            invalid: self.invalid,
        }
    }
}
