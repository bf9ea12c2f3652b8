//! The console's state: the connection, the latest snapshot and its history, the selection, the table's order
//! and what is drawn on top, with the views of it that drawing uses. Nothing here does I/O; `keys` says what
//! each key does to it.

mod keys;
#[cfg(test)]
mod tests;

pub use keys::Outcome;

use crate::action::{Action, Mode, Target};
use crate::forms::{OverrideForm, PolicyForm};
use crate::history::History;
use pacer_proto::v1 as pb;
use std::time::Instant;

pub use pacer_batch::NO_ROUTE;

/// Whether the console hears from the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet.
    Connecting,
    /// Snapshots are arriving.
    Connected,
    /// The stream broke; the next attempt is at `retry_at`.
    Disconnected {
        /// Why, in words.
        error: String,
        /// When the next attempt starts.
        retry_at: Instant,
    },
}

/// The workers table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// By id.
    Id,
    /// Attached, then paused, then lost.
    State,
    /// By current interval.
    Interval,
    /// By lag.
    Lag,
    /// By rows written.
    Rows,
}

impl SortKey {
    fn next(self) -> Self {
        match self {
            SortKey::Id => SortKey::State,
            SortKey::State => SortKey::Interval,
            SortKey::Interval => SortKey::Lag,
            SortKey::Lag => SortKey::Rows,
            SortKey::Rows => SortKey::Id,
        }
    }

    /// The column's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::State => "state",
            SortKey::Interval => "interval",
            SortKey::Lag => "lag",
            SortKey::Rows => "rows",
        }
    }
}

/// What is drawn over the main view.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Nothing.
    None,
    /// The key list.
    Help,
    /// The override form.
    Override(OverrideForm),
    /// The policy form.
    Policy(PolicyForm),
    /// A pipeline-wide action waiting for a yes.
    Confirm(Action),
    /// Quitting, which stops the whole pipeline under `pacer up`, waiting for a yes.
    ConfirmQuit,
}

/// The line at the bottom: the result of the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What to show.
    pub text: String,
    /// Whether it is an error.
    pub error: bool,
}

/// Everything the console shows.
#[derive(Debug)]
pub struct App {
    /// The control plane's address, as given.
    pub control_url: String,
    /// Whether an admin token is set (changes are refused without one when the control plane wants one).
    pub has_token: bool,
    /// The connection's state.
    pub connection: Connection,
    /// The latest snapshot; kept while disconnected.
    pub snapshot: Option<pb::PipelineSnapshot>,
    /// The series the charts draw.
    pub history: History,
    /// The selected worker; `None` is the "every worker" row.
    pub selected: Option<String>,
    /// The table's order.
    pub sort: SortKey,
    /// Whether the order is reversed.
    pub reverse: bool,
    /// What is drawn on top.
    pub overlay: Overlay,
    /// The last action's result.
    pub status: Option<Status>,
    /// The actions sent and not yet answered, oldest first.
    pub in_flight: Vec<Action>,
    /// Whether quitting asks first (under `pacer up`, where it stops the pipeline).
    pub confirm_quit: bool,
    /// Whether the terminal is too small to show the console: then only the quit keys work, since nothing
    /// else could be seen.
    pub too_small: bool,
    /// Under `pacer up`: the state of the processes it supervises.
    pub stack: Option<crate::StackStatus>,
}

impl App {
    /// A console for the control plane at `control_url`, with nothing received yet.
    pub fn new(control_url: impl Into<String>, has_token: bool) -> Self {
        Self {
            control_url: control_url.into(),
            has_token,
            connection: Connection::Connecting,
            snapshot: None,
            history: History::default(),
            selected: None,
            sort: SortKey::Id,
            reverse: false,
            overlay: Overlay::None,
            status: None,
            in_flight: Vec::new(),
            confirm_quit: false,
            too_small: false,
            stack: None,
        }
    }

    /// Takes in a snapshot.
    pub fn on_snapshot(&mut self, snapshot: pb::PipelineSnapshot) {
        self.history.record(&snapshot);
        self.connection = Connection::Connected;
        self.snapshot = Some(snapshot);
    }

    /// Notes that the stream broke; the last snapshot stays on screen.
    pub fn on_disconnected(&mut self, error: String, retry_at: Instant) {
        self.connection = Connection::Disconnected { error, retry_at };
    }

    /// Shows the answer to an action sent.
    pub fn on_result(&mut self, action: &Action, result: Result<String, String>) {
        if let Some(i) = self.in_flight.iter().position(|a| a == action) {
            self.in_flight.remove(i);
        }
        self.status = Some(match result {
            Ok(text) => Status { text, error: false },
            Err(text) => Status { text, error: true },
        });
    }

    /// The workers in the table's order.
    pub fn workers(&self) -> Vec<&pb::WorkerInfo> {
        let mut workers: Vec<&pb::WorkerInfo> = self
            .snapshot
            .as_ref()
            .map(|s| s.workers.iter().collect())
            .unwrap_or_default();
        let lag = |w: &pb::WorkerInfo| w.lag.iter().map(|l| l.lag.max(0)).sum::<i64>();
        let last_rows = |w: &pb::WorkerInfo| w.last_batch.as_ref().map_or(0, |b| b.records);
        let state = |w: &pb::WorkerInfo| match (w.status(), w.paused) {
            (pb::WorkerStatus::Attached, false) => 0,
            (pb::WorkerStatus::Attached, true) => 1,
            _ => 2,
        };
        let interval = |w: &pb::WorkerInfo| w.settings.as_ref().map_or(0, |s| s.interval_ms);
        // Stable sorts over the id order, so that equal keys keep a fixed order.
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        match self.sort {
            SortKey::Id => {}
            SortKey::State => workers.sort_by_key(|w| state(w)),
            SortKey::Interval => workers.sort_by_key(|w| interval(w)),
            SortKey::Lag => workers.sort_by_key(|w| std::cmp::Reverse(lag(w))),
            SortKey::Rows => workers.sort_by_key(|w| std::cmp::Reverse(last_rows(w))),
        }
        if self.reverse {
            workers.reverse();
        }
        workers
    }

    /// The row selected: 0 is "every worker", then the workers in the table's order.
    pub fn selected_row(&self) -> usize {
        match &self.selected {
            None => 0,
            Some(id) => self
                .workers()
                .iter()
                .position(|w| &w.worker_id == id)
                .map_or(0, |i| i + 1),
        }
    }

    /// Whom an action on the selected row concerns.
    pub fn target(&self) -> Target {
        match &self.selected {
            Some(id) if self.workers().iter().any(|w| &w.worker_id == id) => {
                Target::Worker(id.clone())
            }
            _ => Target::All,
        }
    }

    fn select_row(&mut self, row: usize) {
        let workers = self.workers();
        self.selected = match row {
            0 => None,
            n => workers
                .get((n - 1).min(workers.len().saturating_sub(1)))
                .map(|w| w.worker_id.clone()),
        };
    }

    /// The routes in the order the panel lists them: by name, as the control plane sends them, with the
    /// dead letters that reached no route last.
    pub fn routes(&self) -> Vec<&pb::RouteTotals> {
        let mut routes: Vec<&pb::RouteTotals> = self
            .snapshot
            .as_ref()
            .map(|s| s.routes.iter().collect())
            .unwrap_or_default();
        routes.sort_by_key(|r| r.route == NO_ROUTE);
        routes
    }

    /// Whether the routes panel says more than the header: several routes, or dead letters to place.
    pub fn routes_shown(&self) -> bool {
        let routes = self
            .snapshot
            .as_ref()
            .map_or(&[][..], |s| s.routes.as_slice());
        routes.len() > 1 || routes.iter().any(|r| r.dead_letters_total > 0)
    }

    /// The running mode, if known.
    pub fn mode(&self) -> Option<Mode> {
        let policy = self.snapshot.as_ref()?.policy.as_ref()?;
        match policy.mode() {
            pb::Mode::Enforce => Some(Mode::Enforce),
            pb::Mode::Advise => Some(Mode::Advise),
            pb::Mode::Unspecified => None,
        }
    }
}
