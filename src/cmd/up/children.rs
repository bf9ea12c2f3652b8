//! The children `pacer up` started and supervises: the private PostgreSQL and the nisshi broker. An
//! external `--database-url` or `--brokers` is not ours, and is not supervised.

use pacer_stack::{
    Broker, Child, Health, PrivatePostgres, RestartPolicy, StackError, StackMetrics, Supervised,
};
use tokio::sync::watch;

#[derive(Default)]
pub(super) struct Children {
    pub metrics: StackMetrics,
    postgres: Option<Supervised<PrivatePostgres>>,
    broker: Option<Supervised<Broker>>,
}

impl Children {
    /// Starts supervising the private cluster.
    pub fn postgres(&mut self, pg: PrivatePostgres) {
        self.postgres = Some(Supervised::start(
            pg,
            RestartPolicy::default(),
            &self.metrics,
        ));
    }

    /// Starts supervising the broker.
    pub fn broker(&mut self, broker: Broker) {
        self.broker = Some(Supervised::start(
            broker,
            RestartPolicy::default(),
            &self.metrics,
        ));
    }

    /// The supervised children's states (none without supervised children).
    pub fn health(&self) -> Vec<watch::Receiver<Health>> {
        let postgres = self.postgres.iter().map(Supervised::health);
        postgres
            .chain(self.broker.iter().map(Supervised::health))
            .collect()
    }

    /// Resolves once a child kept failing and its supervisor gave up; never otherwise.
    pub async fn gave_up(&self) -> StackError {
        tokio::select! {
            e = gave_up(self.postgres.as_ref()) => e,
            e = gave_up(self.broker.as_ref()) => e,
        }
    }

    /// Ends the broker's supervision and stops it.
    pub async fn stop_broker(&mut self) -> Result<(), StackError> {
        match self.broker.take() {
            Some(supervised) => supervised.stop().await?.stop().await,
            None => Ok(()),
        }
    }

    /// Ends the cluster's supervision and stops it if this run started it (or restarted it).
    pub async fn stop_postgres(&mut self) {
        let Some(supervised) = self.postgres.take() else {
            return;
        };
        match supervised.stop().await {
            Ok(pg) if pg.started_here() => match pg.stop().await {
                Ok(()) => tracing::info!("private PostgreSQL stopped"),
                Err(e) => tracing::warn!(error = %e, "could not stop the private PostgreSQL"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not stop the private PostgreSQL"),
        }
    }
}

async fn gave_up<C: Child>(supervised: Option<&Supervised<C>>) -> StackError {
    match supervised {
        Some(s) => s.gave_up().await,
        None => std::future::pending().await,
    }
}

/// One line for the status log and the console: `postgres up, broker restarting (1 restarts)`.
pub(super) fn describe(health: &[watch::Receiver<Health>]) -> String {
    health
        .iter()
        .map(|h| h.borrow().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The children's state for the console's header, kept current (every 500 ms) by a task that ends with the
/// console; `None` without supervised children.
pub(super) fn stack_status(
    health: Vec<watch::Receiver<Health>>,
) -> Option<watch::Receiver<pacer_tui::StackStatus>> {
    if health.is_empty() {
        return None;
    }
    let status = |health: &[watch::Receiver<Health>]| pacer_tui::StackStatus {
        text: describe(health),
        healthy: health
            .iter()
            .all(|h| h.borrow().state == pacer_stack::ChildState::Running),
    };
    let (tx, rx) = watch::channel(status(&health));
    tokio::spawn(async move {
        while !tx.is_closed() {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let now = status(&health);
            tx.send_if_modified(|s| std::mem::replace(s, now) != *s);
        }
    });
    Some(rx)
}
