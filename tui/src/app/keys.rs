//! What each key does to the console's state: a key either changes the view or yields an [`Action`] for the
//! caller to send, so the key bindings are tested without a terminal.

use super::{App, Overlay, Status};
use crate::action::{Action, Mode, Target};
use crate::forms::{FormOutcome, OverrideForm, PolicyForm};
use pacer_proto::v1 as pb;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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

impl App {
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
                FormOutcome::Editing => {
                    self.overlay = Overlay::Override(form);
                    Outcome::Nothing
                }
                FormOutcome::Cancelled => Outcome::Nothing,
                FormOutcome::Done(action) => self.confirm_or_call(action),
            },
            Overlay::Policy(mut form) => match form.handle_key(key) {
                FormOutcome::Editing => {
                    self.overlay = Overlay::Policy(form);
                    Outcome::Nothing
                }
                FormOutcome::Cancelled => Outcome::Nothing,
                FormOutcome::Done(action) => self.confirm_or_call(action),
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
