//! One worker in the registry: what it runs, its policy state, and how a report or an override turns into
//! settings pushed to it.

use super::snapshot::WorkerView;
use crate::domain::{Heartbeat, Hello, Mode, Override, Report, Source, WorkerId};
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
    /// The settings it attached with: what it goes back to when an override ends and no policy decision exists.
    pub base: Settings,
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
            base: hello.settings,
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

    /// Takes a report in and lets the policy decide. Returns the decision if the governor admits it; with an
    /// override in force the policy still learns from the batch but decides nothing.
    pub fn report(
        &mut self,
        report: Report,
        at: Duration,
        mode: Mode,
        overridden: bool,
    ) -> Option<Admitted> {
        self.seen();
        self.batches += 1;
        self.records += report.records;
        self.rows_written += report.rows_written;
        self.invalid += report.invalid;
        self.duplicates += report.duplicates;
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
        let Decision {
            settings,
            reason,
            advice,
            ..
        } = self.policy.decide(self.settings, &observation);
        self.advice = advice;
        if overridden {
            return None;
        }
        let current = match mode {
            Mode::Enforce => self.settings,
            Mode::Advise => self.suggested.unwrap_or(self.settings),
        };
        if !self.governor.admit(at, &current, &settings) {
            return None;
        }
        self.policy_settings = Some(settings);
        Some(Admitted {
            old: current,
            new: settings,
            reason,
        })
    }

    /// The override that applies to this worker, if any: its own wins over the one for every worker.
    pub fn effective_override<'a>(
        &self,
        own: Option<&'a Override>,
        all: Option<&'a Override>,
    ) -> Option<&'a Override> {
        own.or(all)
    }

    /// What the worker should run when no override applies.
    pub fn unoverridden(&self, mode: Mode) -> Settings {
        match (mode, self.policy_settings) {
            (Mode::Enforce, Some(settings)) => settings,
            _ => self.base,
        }
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
