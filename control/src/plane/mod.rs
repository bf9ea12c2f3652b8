//! The one task that owns the control plane's state: the worker registry, the policy, the overrides and the
//! mode. The gRPC handlers talk to it through [`Plane`], a cheap handle over a channel; nothing else touches
//! the state, and no lock is held across an `.await`.

mod entry;
mod partitions;
mod snapshot;
#[cfg(test)]
mod tests;
mod window;

pub use entry::Push;
use partitions::Partitions;
pub use snapshot::{PolicyView, Snapshot, Totals, WorkerView};
use window::BatchWindow;
pub use window::RecentBatches;

use crate::domain::{DecisionRecord, Heartbeat, Hello, Mode, Override, Report, Source, WorkerId};
use crate::store::DecisionStore;
use entry::{Connection, Entry};
use pacer_policy::{Governor, PolicyConfig};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// How the state task runs.
#[derive(Debug, Clone)]
pub struct PlaneConfig {
    /// The policy to start with.
    pub policy: PolicyConfig,
    /// Enforce or advise, to start with.
    pub mode: Mode,
    /// A worker not heard from for this long is marked lost and its stream closed.
    pub lost_after: Duration,
    /// A lost worker is dropped from the registry after this long.
    pub forget_after: Duration,
    /// The least time between two changes a policy makes to one worker.
    pub min_gap: Duration,
    /// The least relative change a policy must propose to be applied.
    pub hysteresis: f64,
    /// Where the state task's figures go.
    pub metrics: crate::ControlMetrics,
}

/// Why an admin request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No worker has this id.
    #[error("no worker with id {0:?} is known")]
    UnknownWorker(WorkerId),
    /// The control plane is stopping.
    #[error("the control plane is stopping")]
    Stopping,
}

type Reply<T> = oneshot::Sender<T>;

enum Command {
    Attach {
        hello: Hello,
        connection: u64,
        outbox: mpsc::Sender<Push>,
    },
    Heartbeat {
        worker: WorkerId,
        connection: u64,
        heartbeat: Heartbeat,
    },
    Report {
        worker: WorkerId,
        connection: u64,
        report: Box<Report>,
    },
    Detach {
        worker: WorkerId,
        connection: u64,
    },
    Snapshot(Reply<Snapshot>),
    SetPolicy(PolicyConfig, Reply<PolicyView>),
    SetMode(Mode, Reply<PolicyView>),
    SetOverride(Override, Reply<Result<Override, AdminError>>),
    ClearOverride(Option<WorkerId>, Reply<bool>),
    Pause(
        Option<WorkerId>,
        bool,
        Reply<Result<Vec<WorkerId>, AdminError>>,
    ),
}

/// A handle on the state task.
#[derive(Clone, Debug)]
pub struct Plane {
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Plane {
    /// Starts the state task; it ends when every handle is dropped. The task's handle tells a failure.
    pub fn start(config: PlaneConfig, store: DecisionStore) -> (Self, tokio::task::JoinHandle<()>) {
        let (commands, rx) = mpsc::channel(1024);
        let state = State {
            started_at: OffsetDateTime::now_utc(),
            policy: config.policy.clone(),
            mode: config.mode,
            config,
            workers: BTreeMap::new(),
            overrides: BTreeMap::new(),
            recent: VecDeque::new(),
            forgotten: Totals::default(),
            batches: BatchWindow::default(),
            partitions: Partitions::default(),
            store,
        };
        let task = tokio::spawn(state.run(rx));
        (Self { commands }, task)
    }

    async fn tell(&self, command: Command) {
        if self.commands.send(command).await.is_err() {
            tracing::debug!("the state task is gone; a worker's message was dropped");
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, AdminError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| AdminError::Stopping)?;
        rx.await.map_err(|_| AdminError::Stopping)
    }

    /// A worker's stream opened.
    pub async fn attach(&self, hello: Hello, connection: u64, outbox: mpsc::Sender<Push>) {
        self.tell(Command::Attach {
            hello,
            connection,
            outbox,
        })
        .await;
    }

    /// A worker's heartbeat.
    pub async fn heartbeat(&self, worker: WorkerId, connection: u64, heartbeat: Heartbeat) {
        self.tell(Command::Heartbeat {
            worker,
            connection,
            heartbeat,
        })
        .await;
    }

    /// A worker's batch report.
    pub async fn report(&self, worker: WorkerId, connection: u64, report: Report) {
        self.tell(Command::Report {
            worker,
            connection,
            report: Box::new(report),
        })
        .await;
    }

    /// A worker's stream closed.
    pub async fn detach(&self, worker: WorkerId, connection: u64) {
        self.tell(Command::Detach { worker, connection }).await;
    }

    /// The pipeline now.
    pub async fn snapshot(&self) -> Result<Snapshot, AdminError> {
        self.ask(Command::Snapshot).await
    }

    /// Replaces the policy.
    pub async fn set_policy(&self, config: PolicyConfig) -> Result<PolicyView, AdminError> {
        self.ask(|reply| Command::SetPolicy(config, reply)).await
    }

    /// Switches between enforce and advise.
    pub async fn set_mode(&self, mode: Mode) -> Result<PolicyView, AdminError> {
        self.ask(|reply| Command::SetMode(mode, reply)).await
    }

    /// Sets an override and pushes it.
    pub async fn set_override(&self, ov: Override) -> Result<Override, AdminError> {
        self.ask(|reply| Command::SetOverride(ov, reply)).await?
    }

    /// Clears an override; false if there was none.
    pub async fn clear_override(&self, worker: Option<WorkerId>) -> Result<bool, AdminError> {
        self.ask(|reply| Command::ClearOverride(worker, reply))
            .await
    }

    /// Pauses (or resumes) one worker, or every attached one.
    pub async fn pause(
        &self,
        worker: Option<WorkerId>,
        paused: bool,
    ) -> Result<Vec<WorkerId>, AdminError> {
        self.ask(|reply| Command::Pause(worker, paused, reply))
            .await?
    }
}

/// How many decisions the snapshot carries.
const RECENT: usize = 50;

struct State {
    config: PlaneConfig,
    started_at: OffsetDateTime,
    policy: PolicyConfig,
    mode: Mode,
    workers: BTreeMap<WorkerId, Entry>,
    /// Overrides by worker; `None` is the one for every worker.
    overrides: BTreeMap<Option<WorkerId>, Override>,
    recent: VecDeque<DecisionRecord>,
    /// What the workers dropped from the registry had reported, so that the totals do not shrink.
    forgotten: Totals,
    /// The batches of the last seconds, for the percentiles the snapshot shows.
    batches: BatchWindow,
    /// Ends and lag per partition, for the events ingested.
    partitions: Partitions,
    store: DecisionStore,
}

impl State {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => self.handle(command),
                    None => return,
                },
                _ = tick.tick() => self.tick(),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Attach {
                hello,
                connection,
                outbox,
            } => self.attach(
                hello,
                Connection {
                    id: connection,
                    outbox,
                },
            ),
            Command::Heartbeat {
                worker,
                connection,
                heartbeat,
            } => self.heartbeat(&worker, connection, heartbeat),
            Command::Report {
                worker,
                connection,
                report,
            } => self.report(&worker, connection, *report),
            Command::Detach { worker, connection } => {
                if let Some(entry) = self.current(&worker, connection) {
                    entry.connection = None;
                    tracing::info!(worker = %worker, "worker detached");
                }
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::SetPolicy(config, reply) => {
                tracing::info!(policy = config.kind().as_str(), params = ?config.params(), "policy replaced");
                let (min_gap, hysteresis) = (self.config.min_gap, self.config.hysteresis);
                for entry in self.workers.values_mut() {
                    entry.policy = config.build();
                    entry.governor = Governor::new(min_gap, hysteresis);
                    entry.policy_settings = None;
                    entry.suggested = None;
                    entry.advice = None;
                }
                self.policy = config;
                let _ = reply.send(self.policy_view());
            }
            Command::SetMode(mode, reply) => {
                if mode != self.mode {
                    tracing::info!(mode = mode.as_str(), "mode changed");
                    self.mode = mode;
                    for entry in self.workers.values_mut() {
                        entry.suggested = None;
                        entry.governor = Governor::new(self.config.min_gap, self.config.hysteresis);
                    }
                }
                let _ = reply.send(self.policy_view());
            }
            Command::SetOverride(ov, reply) => {
                let _ = reply.send(self.set_override(ov));
            }
            Command::ClearOverride(worker, reply) => {
                let removed = self.overrides.remove(&worker).is_some();
                if removed {
                    self.reapply(
                        worker.as_ref(),
                        "clear-override",
                        "override cleared by an operator",
                    );
                }
                let _ = reply.send(removed);
            }
            Command::Pause(worker, paused, reply) => {
                let _ = reply.send(self.pause(worker, paused));
            }
        }
    }

    fn governor(&self) -> Governor {
        Governor::new(self.config.min_gap, self.config.hysteresis)
    }

    /// The worker's entry, if `connection` is its current stream (a stale stream's messages are ignored).
    fn current(&mut self, worker: &WorkerId, connection: u64) -> Option<&mut Entry> {
        self.workers
            .get_mut(worker)
            .filter(|e| e.connection.as_ref().is_some_and(|c| c.id == connection))
    }

    /// The override in force for a worker: its own override's fields win over those of the one for every
    /// worker, field by field.
    fn effective(&self, id: &WorkerId) -> Option<Override> {
        let own = self.overrides.get(&Some(id.clone()));
        let all = self.overrides.get(&None);
        match (own, all) {
            (Some(own), Some(all)) => Some(Override {
                interval: own.interval.or(all.interval),
                max_rows: own.max_rows.or(all.max_rows),
                ..own.clone()
            }),
            (own, all) => own.or(all).cloned(),
        }
    }

    fn attach(&mut self, hello: Hello, connection: Connection) {
        let id = hello.worker_id.clone();
        let ov = self.effective(&id);
        let mode = self.mode;
        let policy_name = self.policy.kind().as_str().to_owned();
        let known = self.workers.contains_key(&id);
        let policy = self.policy.build();
        let governor = self.governor();
        let entry = self
            .workers
            .entry(id.clone())
            .or_insert_with(|| Entry::new(hello.clone(), policy, governor));
        if known && entry.attached() {
            tracing::warn!(worker = %id, "a new stream replaces this worker's open one; two workers with the same id?");
        } else if known {
            tracing::info!(worker = %id, "worker re-attached");
        } else {
            tracing::info!(worker = %id, host = %hello.host, "worker attached");
        }
        entry.seen();
        entry.attached_at = OffsetDateTime::now_utc();
        entry.partitions = hello.partitions.clone();
        entry.paused = hello.paused;
        entry.settings = hello.settings;
        entry.mismatches = 0;
        if ov.is_none() {
            // What it runs now is where it rests: in advise mode nothing moves it from there.
            entry.resting = hello.settings;
        }
        entry.connection = Some(connection);
        entry.hello = hello;
        // A worker that comes back (a new process, or after the control plane restarted) is brought back to
        // what the control plane wants for it.
        let (wanted, source) = entry.wanted(mode, ov.as_ref());
        if wanted != entry.settings
            && entry.push(Push::Settings {
                settings: wanted,
                source,
                policy: if source == Source::Policy {
                    policy_name
                } else {
                    String::new()
                },
                reason: if source == Source::Override {
                    "override in force".into()
                } else {
                    "settings restored on re-attach".into()
                },
                batch_no: 0,
            })
        {
            entry.settings = wanted;
            entry.source = source;
        } else if wanted == entry.settings {
            entry.source = source;
        }
        if entry.want_paused != entry.paused {
            push_pause(entry);
        }
    }

    fn heartbeat(&mut self, worker: &WorkerId, connection: u64, heartbeat: Heartbeat) {
        self.partitions.observe(&heartbeat.ends, &heartbeat.lag);
        let Some(entry) = self.current(worker, connection) else {
            return;
        };
        entry.heartbeat(heartbeat);
        // A pause or resume that did not take (lost, or not queued) is pushed again, at most every 5 s: the
        // worker only reports its pause once the batch it was collecting is done.
        if entry.paused != entry.want_paused
            && entry
                .pause_pushed
                .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
        {
            tracing::info!(worker = %worker, want_paused = entry.want_paused, "the worker's pause state lags behind; pushing it again");
            push_pause(entry);
        }
    }

    fn report(&mut self, worker: &WorkerId, connection: u64, report: Report) {
        let mode = self.mode;
        let ov = self.effective(worker);
        let policy_name = self.policy.kind().as_str().to_owned();
        // The report's own time, kept increasing per worker: reports replayed after a reconnect keep their
        // spacing, and the policy's rate estimates with them.
        let since_start = (report.finished_at - self.started_at)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let Some(entry) = self
            .workers
            .get_mut(worker)
            .filter(|e| e.connection.as_ref().is_some_and(|c| c.id == connection))
        else {
            return;
        };
        self.config.metrics.report();
        self.batches.push(Instant::now(), &report);
        self.partitions.observe(&report.ends, &report.lag);
        let at = since_start.max(entry.last_at);
        entry.last_at = at;
        if mode == Mode::Enforce || ov.is_some() {
            let ran = report.settings;
            if entry.ran_other_settings(ran) {
                tracing::info!(worker = %worker, ran = %ran, wanted = %entry.settings, "the worker still runs other settings than pushed; pushing them again");
                entry.push(Push::Settings {
                    settings: entry.settings,
                    source: entry.source,
                    policy: String::new(),
                    reason: "pushed again: the worker still ran the previous settings".into(),
                    batch_no: 0,
                });
            }
        }
        let batch_no = report.batch_no;
        let Some(admitted) = entry.report(report, at, mode, ov.as_ref()) else {
            return;
        };
        let source = if ov.is_some() {
            Source::Override
        } else {
            Source::Policy
        };
        match mode {
            Mode::Enforce => {
                let pushed = entry.push(Push::Settings {
                    settings: admitted.new,
                    source,
                    policy: policy_name.clone(),
                    reason: admitted.reason.clone(),
                    batch_no,
                });
                if !pushed {
                    return;
                }
                entry.settings = admitted.new;
                entry.source = source;
            }
            Mode::Advise => entry.suggested = Some(admitted.new),
        }
        let record = DecisionRecord {
            at: OffsetDateTime::now_utc(),
            worker: Some(worker.clone()),
            policy: policy_name,
            old: admitted.old,
            new: admitted.new,
            mode,
            reason: admitted.reason,
        };
        tracing::debug!(worker = %worker, reason = %record.reason, mode = mode.as_str(), "policy decision");
        self.config
            .metrics
            .decision(&record.policy, "worker", mode.as_str());
        self.record(record);
    }

    fn record(&mut self, record: DecisionRecord) {
        self.store.record(record.clone());
        self.recent.push_front(record);
        self.recent.truncate(RECENT);
    }

    fn set_override(&mut self, ov: Override) -> Result<Override, AdminError> {
        if let Some(id) = &ov.worker
            && !self.workers.contains_key(id)
        {
            return Err(AdminError::UnknownWorker(id.clone()));
        }
        tracing::info!(worker = ?ov.worker.as_ref().map(WorkerId::as_str), interval = ?ov.interval, max_rows = ?ov.max_rows, expires_at = ?ov.expires_at, "override set");
        self.overrides.insert(ov.worker.clone(), ov.clone());
        self.reapply(
            ov.worker.as_ref(),
            "override",
            "override set by an operator",
        );
        Ok(ov)
    }

    /// Brings the workers that `scope` concerns (one, or all) to what they should run now, after an override
    /// changed, and records each change pushed under `label` (`override` or `clear-override`).
    fn reapply(&mut self, scope: Option<&WorkerId>, label: &str, reason: &str) {
        let ids: Vec<WorkerId> = match scope {
            Some(id) => vec![id.clone()],
            None => self.workers.keys().cloned().collect(),
        };
        let policy_name = self.policy.kind().as_str().to_owned();
        let mode = self.mode;
        let mut records = Vec::new();
        for id in ids {
            let ov = self.effective(&id);
            let Some(entry) = self.workers.get_mut(&id) else {
                continue;
            };
            if ov.is_some() && entry.source != Source::Override {
                // Where to come back to in advise mode, or before the policy has decided.
                entry.resting = entry.settings;
            }
            let (wanted, source) = entry.wanted(mode, ov.as_ref());
            let old = entry.settings;
            if wanted == old {
                entry.source = source;
                continue;
            }
            let pushed = entry.push(Push::Settings {
                settings: wanted,
                source,
                policy: if source == Source::Policy {
                    policy_name.clone()
                } else {
                    String::new()
                },
                reason: reason.to_owned(),
                batch_no: 0,
            });
            // A worker away gets what it should run when it re-attaches; only what was pushed is recorded.
            if !pushed {
                continue;
            }
            entry.settings = wanted;
            entry.source = source;
            records.push(DecisionRecord {
                at: OffsetDateTime::now_utc(),
                worker: Some(id.clone()),
                policy: label.to_owned(),
                old,
                new: wanted,
                mode: Mode::Enforce,
                reason: reason.to_owned(),
            });
        }
        // One operator action is one decision, whatever number of workers it changed.
        if !records.is_empty() {
            let scope = if scope.is_some() { "worker" } else { "all" };
            self.config
                .metrics
                .decision(label, scope, Mode::Enforce.as_str());
        }
        for record in records {
            self.record(record);
        }
    }

    fn pause(
        &mut self,
        worker: Option<WorkerId>,
        paused: bool,
    ) -> Result<Vec<WorkerId>, AdminError> {
        let ids: Vec<WorkerId> = match worker {
            Some(id) if !self.workers.contains_key(&id) => {
                return Err(AdminError::UnknownWorker(id));
            }
            Some(id) => vec![id],
            None => self
                .workers
                .values()
                .filter(|e| e.attached())
                .map(|e| e.id.clone())
                .collect(),
        };
        let mut told = Vec::new();
        for id in ids {
            if let Some(entry) = self.workers.get_mut(&id) {
                // Kept even for a worker away: it is paused (or resumed) when it re-attaches.
                entry.want_paused = paused;
                tracing::info!(worker = %id, paused, "pause changed by an operator");
                if push_pause(entry) {
                    told.push(id);
                }
            }
        }
        Ok(told)
    }

    /// Expires overrides and marks workers lost.
    fn tick(&mut self) {
        let now = OffsetDateTime::now_utc();
        let expired: Vec<Option<WorkerId>> = self
            .overrides
            .iter()
            .filter(|(_, ov)| ov.expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        for scope in expired {
            self.overrides.remove(&scope);
            tracing::info!(worker = ?scope.as_ref().map(WorkerId::as_str), "override expired");
            self.reapply(scope.as_ref(), "clear-override", "override expired");
        }
        let lost_after = self.config.lost_after;
        for entry in self.workers.values_mut() {
            if entry.attached() && entry.last_seen.elapsed() > lost_after {
                tracing::warn!(worker = %entry.id, silent = ?entry.last_seen.elapsed(), "worker missed its heartbeats; marking it lost");
                // Dropping the outbox ends the stream; a live worker reconnects.
                entry.connection = None;
            }
        }
        let forget_after = self.config.forget_after;
        let forgotten: Vec<WorkerId> = self
            .workers
            .values()
            .filter(|e| !e.attached() && e.last_seen.elapsed() > forget_after)
            .map(|e| e.id.clone())
            .collect();
        for id in forgotten {
            if let Some(entry) = self.workers.remove(&id) {
                tracing::info!(worker = %id, "forgetting a worker lost for long");
                self.forgotten.add(&entry);
                self.config.metrics.forget(id.as_str());
            }
        }
        let registry: Vec<(String, &'static str, f64, u64)> = self
            .workers
            .values()
            .map(|e| {
                let state = match (e.attached(), e.paused) {
                    (true, false) => "attached",
                    (true, true) => "paused",
                    (false, _) => "lost",
                };
                (
                    e.id.to_string(),
                    state,
                    e.settings.interval.as_secs_f64(),
                    e.settings.max_rows,
                )
            })
            .collect();
        self.config
            .metrics
            .registry(&registry, self.overrides.len());
    }

    fn policy_view(&self) -> PolicyView {
        PolicyView {
            config: self.policy.clone(),
            mode: self.mode,
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        self.batches.prune(Instant::now());
        let lost_after = self.config.lost_after;
        let workers: Vec<WorkerView> = self.workers.values().map(|e| e.view(lost_after)).collect();
        let mut totals = self.forgotten;
        for entry in self.workers.values() {
            totals.add(entry);
            if entry.attached() {
                totals.lag = entry
                    .lag
                    .iter()
                    .fold(totals.lag, |sum, (_, l)| sum.saturating_add(*l));
            }
        }
        totals.ingested = totals.records.saturating_add(self.partitions.backlog());
        totals.arrived = self.partitions.arrived();
        Snapshot {
            taken_at: OffsetDateTime::now_utc(),
            started_at: self.started_at,
            policy: self.policy_view(),
            overrides: self.overrides.values().cloned().collect(),
            workers,
            totals,
            recent: self.recent.iter().cloned().collect(),
            batches: self.batches.summary(),
        }
    }
}

/// Pushes the pause or resume an operator wants; true if it was queued.
fn push_pause(entry: &mut Entry) -> bool {
    entry.pause_pushed = Some(Instant::now());
    entry.push(if entry.want_paused {
        Push::Pause {
            reason: "paused by an operator".into(),
        }
    } else {
        Push::Resume
    })
}

impl Totals {
    fn add(&mut self, entry: &Entry) {
        self.batches = self.batches.saturating_add(entry.batches);
        self.records = self.records.saturating_add(entry.records);
        self.rows_written = self.rows_written.saturating_add(entry.rows_written);
        self.invalid = self.invalid.saturating_add(entry.invalid);
        self.duplicates = self.duplicates.saturating_add(entry.duplicates);
    }
}
