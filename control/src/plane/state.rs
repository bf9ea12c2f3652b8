//! The state task: what it owns, its loop, and which handler each command goes to. The clock is read here,
//! once per command and once per tick, and the reading is handed down: nothing below reads a clock.

use super::clock::{Clock, Now};
use super::entry::{Connection, Entry};
use super::overrides::Overrides;
use super::partitions::Partitions;
use super::routes::RouteTable;
use super::snapshot::{PolicyView, Snapshot, Totals};
use super::window::BatchWindow;
use super::{Command, PlaneConfig};
use crate::domain::{DecisionRecord, Mode, WorkerId};
use crate::store::DecisionStore;
use pacer_policy::{Governor, PolicyConfig};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the periodic work runs and the watchers' snapshot is published.
pub const TICK: Duration = Duration::from_millis(250);

/// Everything the control plane knows.
pub(super) struct State {
    pub config: PlaneConfig,
    pub clock: Clock,
    pub policy: PolicyConfig,
    pub mode: Mode,
    pub workers: BTreeMap<WorkerId, Entry>,
    pub overrides: Overrides,
    /// The latest decisions, newest first, for the snapshot.
    pub recent: VecDeque<DecisionRecord>,
    /// What the workers dropped from the registry had reported, so that the totals do not shrink.
    pub forgotten: Totals,
    /// The batches of the last seconds, for the percentiles the snapshot shows.
    pub batches: BatchWindow,
    /// Ends and lag per partition, for the events ingested.
    pub partitions: Partitions,
    /// Rows and dead letters per route, kept when a worker is forgotten.
    pub routes: RouteTable,
    pub store: DecisionStore,
    /// The snapshot every watcher reads, published on each tick while someone watches.
    pub published: watch::Sender<Arc<Snapshot>>,
}

impl State {
    pub fn new(config: PlaneConfig, store: DecisionStore) -> Self {
        let clock = Clock::start();
        let policy = PolicyView {
            config: config.policy.clone(),
            mode: config.mode,
        };
        let published =
            watch::Sender::new(Arc::new(Snapshot::at_start(clock.started_at(), policy)));
        State {
            clock,
            policy: config.policy.clone(),
            mode: config.mode,
            config,
            workers: BTreeMap::new(),
            overrides: Overrides::default(),
            recent: VecDeque::new(),
            forgotten: Totals::default(),
            batches: BatchWindow::default(),
            partitions: Partitions::default(),
            routes: RouteTable::default(),
            store,
            published,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => {
                        let now = self.clock.now();
                        self.handle(command, now);
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    let now = self.clock.now();
                    self.tick(now);
                }
            }
        }
    }

    fn handle(&mut self, command: Command, now: Now) {
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
                now,
            ),
            Command::Heartbeat {
                worker,
                connection,
                heartbeat,
            } => self.heartbeat(&worker, connection, heartbeat, now),
            Command::Report {
                worker,
                connection,
                report,
            } => self.report(&worker, connection, *report, now),
            Command::Detach { worker, connection } => self.detach(&worker, connection),
            Command::Snapshot(reply) => {
                let _ = reply.send(self.snapshot(now));
            }
            Command::Watch(reply) => {
                // A new watcher's first snapshot is fresh; the others get it too, a little early.
                let fresh = self.snapshot(now);
                self.published.send_replace(Arc::new(fresh));
                let _ = reply.send(self.published.subscribe());
            }
            Command::SetPolicy(change, reply) => {
                let _ = reply.send(self.set_policy(*change));
            }
            Command::SetMode(mode, reply) => {
                let _ = reply.send(self.set_mode(mode));
            }
            Command::SetOverride(ov, reply) => {
                let _ = reply.send(self.set_override(ov, now));
            }
            Command::ClearOverride(worker, reply) => {
                let _ = reply.send(self.clear_override(worker, now));
            }
            Command::Pause(worker, paused, reply) => {
                let _ = reply.send(self.pause(worker, paused, now));
            }
        }
    }

    /// A governor as the configuration wants it, with no change admitted yet.
    pub fn governor(&self) -> Governor {
        Governor::new(self.config.min_gap, self.config.hysteresis)
    }

    /// The worker's entry, if `connection` is its current stream (a stale stream's messages are ignored).
    pub fn current(&mut self, worker: &WorkerId, connection: u64) -> Option<&mut Entry> {
        self.workers
            .get_mut(worker)
            .filter(|e| e.connection.as_ref().is_some_and(|c| c.id == connection))
    }
}
