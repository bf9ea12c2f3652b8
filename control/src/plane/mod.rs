//! The control plane's state: the worker registry, the policy, the overrides and the mode, owned by one task
//! ([`state`]). The gRPC handlers talk to it through [`Plane`], a cheap handle that turns each call into a
//! [`Command`] on a channel; nothing else touches the state, and no lock is held across an `.await`.
//! Watchers do not ask: the task publishes one [`Snapshot`] per tick for all of them ([`Plane::watch`]).

mod clock;
mod entry;
mod overrides;
mod partitions;
mod pauses;
mod policy;
mod reports;
mod routes;
mod snapshot;
mod state;
#[cfg(test)]
mod tests;
mod tick;
mod window;
mod workers;

pub use entry::Push;
pub use routes::RouteTotals;
pub use snapshot::{PolicyView, Snapshot, WorkerView};
pub use window::RecentBatches;

use crate::domain::{Heartbeat, Hello, Mode, Override, PolicyChange, Report, WorkerId};
use crate::store::DecisionStore;
use pacer_policy::PolicyConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

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
    #[error("no worker with id {0} is known")]
    UnknownWorker(WorkerId),
    /// The policy, its parameters or its bounds do not hold together.
    #[error("{0}")]
    InvalidPolicy(String),
    /// The control plane is stopping.
    #[error("the control plane is stopping")]
    Stopping,
}

type Reply<T> = oneshot::Sender<T>;

/// What the handlers ask of the state task.
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
    Watch(Reply<watch::Receiver<Arc<Snapshot>>>),
    SetPolicy(Box<PolicyChange>, Reply<Result<PolicyView, AdminError>>),
    SetMode(Mode, Reply<PolicyView>),
    SetOverride(Override, Reply<Result<Override, AdminError>>),
    ClearOverride(Option<WorkerId>, Reply<bool>),
    Pause(
        Option<WorkerId>,
        bool,
        Reply<Result<Vec<WorkerId>, AdminError>>,
    ),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// A handle on the state task.
#[derive(Clone, Debug)]
pub struct Plane {
    commands: mpsc::Sender<Command>,
}

// === impl Plane ===

impl Plane {
    /// Starts the state task; it ends when every handle is dropped. The task's handle tells a failure.
    pub fn start(config: PlaneConfig, store: DecisionStore) -> (Self, tokio::task::JoinHandle<()>) {
        let (commands, rx) = mpsc::channel(1024);
        let task = tokio::spawn(state::State::new(config, store).run(rx));
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

    /// The pipeline now, taken for this caller.
    pub async fn snapshot(&self) -> Result<Snapshot, AdminError> {
        self.ask(Command::Snapshot).await
    }

    /// The snapshots the state task publishes on every tick, shared by every watcher. The receiver holds a
    /// fresh one at once; it reports the channel closed when the state task has stopped.
    pub async fn watch(&self) -> Result<watch::Receiver<Arc<Snapshot>>, AdminError> {
        self.ask(Command::Watch).await
    }

    /// Replaces the policy: `change` is put over the bounds in force, and refused if it does not validate.
    pub async fn set_policy(&self, change: PolicyChange) -> Result<PolicyView, AdminError> {
        self.ask(|reply| Command::SetPolicy(Box::new(change), reply))
            .await?
    }

    /// Switches between enforce and advise.
    pub async fn set_mode(&self, mode: Mode) -> Result<PolicyView, AdminError> {
        self.ask(|reply| Command::SetMode(mode, reply)).await
    }

    /// Sets an override and pushes it. Its times are put on the state task's clock: it lasts as long after
    /// it arrives as it was set to.
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
