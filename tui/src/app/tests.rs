//! The key bindings, checked without a terminal.

use super::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

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
