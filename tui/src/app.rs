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
    /// The actions sent and not yet answered, oldest first.
    pub in_flight: Vec<Action>,
    /// Whether quitting asks first (under `pacer up`, where it stops the pipeline).
    pub confirm_quit: bool,
    /// Whether the terminal is too small to show the console: then only the quit keys work, since nothing
    /// else could be seen.
    pub too_small: bool,
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
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if self.too_small && self.overlay != Overlay::ConfirmQuit {
            // Nothing but the "too small" notice is on screen: only quitting makes sense.
            return match key.code {
                KeyCode::Char('q') => self.quit(),
                _ if ctrl_c => self.quit(),
                _ => Outcome::Nothing,
            };
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::ConfirmQuit => match key.code {
                KeyCode::Char('y' | 'Y') => Outcome::Quit,
                _ if ctrl_c => Outcome::Quit,
                _ => Outcome::Nothing,
            },
            _ if ctrl_c => self.quit(),
            Overlay::None => self.main_key(key),
            // Any key closes the help, and only that.
            Overlay::Help => Outcome::Nothing,
            // Only y confirms: Enter, which sent the form, must not also say yes when pressed twice.
            Overlay::Confirm(action) => match key.code {
                KeyCode::Char('y' | 'Y') => self.call(action),
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

    /// Quits, or asks first where quitting stops the pipeline.
    fn quit(&mut self) -> Outcome {
        if self.confirm_quit {
            self.overlay = Overlay::ConfirmQuit;
            Outcome::Nothing
        } else {
            Outcome::Quit
        }
    }

    fn main_key(&mut self, key: KeyEvent) -> Outcome {
        // Ctrl- and Alt- combinations are not commands (Ctrl-P must not pause a worker).
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return Outcome::Nothing;
        }
        let rows = self.workers().len() + 1;
        let row = self.selected_row();
        match key.code {
            KeyCode::Char('q') => return self.quit(),
            KeyCode::Esc => self.status = None,
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
        self.in_flight.push(action.clone());
        Outcome::Call(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn with_worker() -> App {
        let mut app = App::new("http://127.0.0.1:1", true);
        app.on_snapshot(pb::PipelineSnapshot {
            workers: vec![pb::WorkerInfo {
                worker_id: "w1".into(),
                status: pb::WorkerStatus::Attached.into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        app
    }

    #[test]
    fn ctrl_and_alt_letters_are_not_commands() {
        let mut app = with_worker();
        app.handle_key(key(KeyCode::Down));
        for modifiers in [KeyModifiers::CONTROL, KeyModifiers::ALT] {
            for c in ['p', 'r', 'o', 'm', 's', 'q'] {
                let outcome = app.handle_key(KeyEvent::new(KeyCode::Char(c), modifiers));
                assert_eq!(outcome, Outcome::Nothing, "{modifiers:?}-{c}");
                assert_eq!(app.overlay, Overlay::None);
            }
        }
        assert_eq!(app.sort, SortKey::Id);
        assert_eq!(
            app.handle_key(key(KeyCode::Char('p'))),
            Outcome::Call(Action::Pause(Target::Worker("w1".into())))
        );
    }

    #[test]
    fn quitting_asks_first_when_it_stops_the_pipeline() {
        let mut app = with_worker();
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Outcome::Nothing);
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Outcome::Quit);
        app.confirm_quit = true;
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Outcome::Nothing);
        assert_eq!(app.overlay, Overlay::ConfirmQuit);
        // Any other key stays.
        assert_eq!(app.handle_key(key(KeyCode::Enter)), Outcome::Nothing);
        assert_eq!(app.overlay, Overlay::None);
        app.handle_key(key(KeyCode::Char('q')));
        assert_eq!(app.handle_key(key(KeyCode::Char('y'))), Outcome::Quit);
        // Ctrl-C twice quits too.
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.handle_key(ctrl_c), Outcome::Nothing);
        assert_eq!(app.handle_key(ctrl_c), Outcome::Quit);
    }

    #[test]
    fn on_a_terminal_too_small_only_quitting_works() {
        let mut app = with_worker();
        app.too_small = true;
        for c in ['j', 'p', 'o', 'm', 'P', '?'] {
            assert_eq!(app.handle_key(key(KeyCode::Char(c))), Outcome::Nothing);
            assert_eq!(app.overlay, Overlay::None);
        }
        assert!(app.in_flight.is_empty());
        app.confirm_quit = true;
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Outcome::Nothing);
        assert_eq!(app.handle_key(key(KeyCode::Char('y'))), Outcome::Quit);
    }

    #[test]
    fn answers_clear_their_own_action_only() {
        let mut app = with_worker();
        let pause = Action::Pause(Target::All);
        let mode = Action::SetMode(Mode::Advise);
        app.in_flight = vec![pause.clone(), mode.clone()];
        app.on_result(&mode, Ok("mode now advise".into()));
        assert_eq!(app.in_flight, vec![pause]);
        assert_eq!(app.status.as_ref().map(|s| s.error), Some(false));
    }
}
