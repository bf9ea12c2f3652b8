//! The console's state and what each key does to it. Nothing here does I/O: a key either changes the view or
//! yields an [`Action`] for the caller to send, so the key bindings are tested without a terminal.

use crate::action::{Action, Mode, Target};
use crate::forms::{OverrideForm, PolicyForm};
use crate::history::History;
use pacer_proto::v1 as pb;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Instant;

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
}

/// The line at the bottom: the result of the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What to show.
    pub text: String,
    /// Whether it is an error.
    pub error: bool,
}

/// What a key led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The view changed, or nothing did.
    Nothing,
    /// The operator wants to leave.
    Quit,
    /// An admin call to send.
    Call(Action),
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
    /// The action sent and not yet answered.
    pub pending: Option<Action>,
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
            pending: None,
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

    /// Shows the answer to the pending action.
    pub fn on_result(&mut self, result: Result<String, String>) {
        self.pending = None;
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
        let state = |w: &pb::WorkerInfo| match (w.status(), w.paused) {
            (pb::WorkerStatus::Attached, false) => 0,
            (pb::WorkerStatus::Attached, true) => 1,
            _ => 2,
        };
        let interval = |w: &pb::WorkerInfo| w.settings.as_ref().map_or(0, |s| s.interval_ms);
        match self.sort {
            SortKey::Id => {}
            SortKey::State => workers.sort_by_key(|w| state(w)),
            SortKey::Interval => workers.sort_by_key(|w| interval(w)),
            SortKey::Lag => workers.sort_by_key(|w| std::cmp::Reverse(lag(w))),
            SortKey::Rows => workers.sort_by_key(|w| std::cmp::Reverse(w.rows_written)),
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

    /// The running mode, if known.
    pub fn mode(&self) -> Option<Mode> {
        let policy = self.snapshot.as_ref()?.policy.as_ref()?;
        match policy.mode() {
            pb::Mode::Enforce => Some(Mode::Enforce),
            pb::Mode::Advise => Some(Mode::Advise),
            pb::Mode::Unspecified => None,
        }
    }

    /// What a key does.
    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Outcome::Quit;
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => self.main_key(key),
            Overlay::Help => {
                // Any key closes the help, and only that.
                Outcome::Nothing
            }
            Overlay::Confirm(action) => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.call(action),
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    self.status = Some(Status {
                        text: format!("cancelled: {action}"),
                        error: false,
                    });
                    Outcome::Nothing
                }
                _ => {
                    self.overlay = Overlay::Confirm(action);
                    Outcome::Nothing
                }
            },
            Overlay::Override(mut form) => match form.handle_key(key) {
                crate::forms::FormOutcome::Editing => {
                    self.overlay = Overlay::Override(form);
                    Outcome::Nothing
                }
                crate::forms::FormOutcome::Cancelled => Outcome::Nothing,
                crate::forms::FormOutcome::Done(action) => self.confirm_or_call(action),
            },
            Overlay::Policy(mut form) => match form.handle_key(key) {
                crate::forms::FormOutcome::Editing => {
                    self.overlay = Overlay::Policy(form);
                    Outcome::Nothing
                }
                crate::forms::FormOutcome::Cancelled => Outcome::Nothing,
                crate::forms::FormOutcome::Done(action) => self.confirm_or_call(action),
            },
        }
    }

    fn main_key(&mut self, key: KeyEvent) -> Outcome {
        let rows = self.workers().len() + 1;
        let row = self.selected_row();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Outcome::Quit,
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Overlay::Help,
            KeyCode::Down | KeyCode::Char('j') => self.select_row((row + 1) % rows),
            KeyCode::Up | KeyCode::Char('k') => self.select_row((row + rows - 1) % rows),
            KeyCode::Home | KeyCode::Char('g') => self.select_row(0),
            KeyCode::End | KeyCode::Char('G') => self.select_row(rows - 1),
            KeyCode::Char('a') => self.selected = None,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('S') => self.reverse = !self.reverse,
            KeyCode::Char('o') => {
                let current = self.current_override(&self.target());
                self.overlay = Overlay::Override(OverrideForm::new(self.target(), current));
            }
            KeyCode::Char('c') => {
                return self.confirm_or_call(Action::ClearOverride {
                    target: self.target(),
                });
            }
            KeyCode::Char('p') => return self.confirm_or_call(Action::Pause(self.target())),
            KeyCode::Char('r') => return self.confirm_or_call(Action::Resume(self.target())),
            KeyCode::Char('m') => {
                let next = match self.mode() {
                    Some(Mode::Enforce) => Mode::Advise,
                    Some(Mode::Advise) | None => Mode::Enforce,
                };
                return self.confirm_or_call(Action::SetMode(next));
            }
            KeyCode::Char('P') => {
                let policy = self.snapshot.as_ref().and_then(|s| s.policy.clone());
                self.overlay = Overlay::Policy(PolicyForm::new(policy.as_ref()));
            }
            _ => {}
        }
        Outcome::Nothing
    }

    /// The override in force for `target`, to start the form from.
    fn current_override(&self, target: &Target) -> Option<pb::Override> {
        let id = target.worker_id();
        self.snapshot
            .as_ref()?
            .overrides
            .iter()
            .find(|o| o.worker_id == id)
            .cloned()
    }

    fn confirm_or_call(&mut self, action: Action) -> Outcome {
        if action.is_pipeline_wide() {
            self.overlay = Overlay::Confirm(action);
            Outcome::Nothing
        } else {
            self.call(action)
        }
    }

    fn call(&mut self, action: Action) -> Outcome {
        self.pending = Some(action.clone());
        Outcome::Call(action)
    }
}
