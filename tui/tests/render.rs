//! The console drawn from fixed snapshots on ratatui's `TestBackend`: what an operator sees at several
//! sizes, with an empty pipeline, a lost worker, an override, advise mode and a broken connection.
#![allow(clippy::unwrap_used)]

mod common;

use common::{T0, app_with, app_with_scale, pipeline, render, settings, ts};
use pacer_proto::v1 as pb;
use pacer_tui::app::{App, Outcome};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn an_empty_console_says_it_is_connecting_and_has_no_data() {
    let app = App::new("http://127.0.0.1:50051", false);
    let screen = render(&app, 80, 24, Instant::now());
    assert!(screen.contains("127.0.0.1:50051"), "{screen}");
    assert!(screen.contains("connecting…"), "{screen}");
    assert!(screen.contains("no data yet"), "{screen}");
    assert!(screen.contains("no decision yet"), "{screen}");
    assert!(screen.contains("no partition reported yet"), "{screen}");
    assert!(screen.contains("* every worker"), "{screen}");
    assert!(screen.contains("0 known"), "{screen}");
    assert!(screen.contains("no admin token"), "{screen}");
}

#[test]
fn a_pipeline_with_no_worker_draws_at_the_smallest_size() {
    let mut app = App::new("http://127.0.0.1:50051", true);
    let mut empty = pipeline(T0, pb::Mode::Enforce);
    empty.workers.clear();
    empty.recent_decisions.clear();
    app.on_snapshot(empty);
    let screen = render(&app, 80, 24, Instant::now());
    assert!(screen.contains("0 attached"), "{screen}");
    assert!(screen.contains("policy model [enforce]"), "{screen}");
    assert!(screen.contains("override none"), "{screen}");
    assert!(screen.contains("up 1h02m"), "{screen}");
}

#[test]
fn the_full_console_shows_totals_rates_workers_lag_and_decisions() {
    let app = app_with_scale(
        pb::Mode::Enforce,
        Some(pb::ScaleAdvice {
            workers_needed: 3,
            workers_usable: 3,
            rate_per_worker: 500.0,
            capped: false,
            advice: "3 workers needed at 500 rows/s each".into(),
        }),
    );
    for (width, height) in [(80, 24), (120, 40), (200, 60)] {
        let screen = render(&app, width, height, Instant::now());
        // Totals: 4,080 + 29,000 ingested.
        assert!(
            screen.contains("ingested 33.1k"),
            "{width}x{height}\n{screen}"
        );
        assert!(screen.contains("written 33.0k"), "{screen}");
        assert!(screen.contains("dead letters 10"), "{screen}");
        assert!(screen.contains("1 attached, 1 lost"), "{screen}");
        // Rates from one snapshot a second with 1,000 more each time.
        assert!(screen.contains("ingested 1.0k"), "{screen}");
        assert!(screen.contains("written 1.0k"), "{screen}");
        // Latency legend: batch p50/p99, e2e p50/p99, interval.
        assert!(screen.contains("batch 48ms"), "{screen}");
        assert!(screen.contains("e2e 90ms"), "{screen}");
        // Freshness, and the scale advice: 3 workers needed and 1 attached.
        if width >= 120 {
            assert!(screen.contains("fresh p99 180ms"), "{screen}");
            assert!(
                screen.contains("scale: 3 workers needed at 500 rows/s each"),
                "{screen}"
            );
        }
        // Workers: ids in full even at 80 columns, states, settings, lag.
        let row = |id: &str| {
            screen
                .lines()
                .find(|l| l.contains(id))
                .unwrap_or_default()
                .to_owned()
        };
        let alpha = row("w-alpha-01");
        assert!(
            alpha.contains("attached") && alpha.contains("120ms") && alpha.contains("321"),
            "{alpha}"
        );
        let bravo = row("w-bravo-02");
        assert!(
            bravo.contains("lost") && !bravo.contains("attached"),
            "{bravo}"
        );
        assert!(screen.contains("p0 40"), "{screen}");
        assert!(screen.contains("lag 80"), "{screen}");
        // The decision and its reason.
        assert!(screen.contains("500ms/10.0k → 120ms/5.0k"), "{screen}");
        assert!(screen.contains("model: p ≈ 30 ms"), "{screen}");
    }
    // Wide terminals show every column; narrow ones drop the least needed.
    let wide = render(&app, 200, 60, Instant::now());
    assert!(wide.contains("max rows") && wide.contains("took"), "{wide}");
    let narrow = render(&app, 80, 24, Instant::now());
    assert!(!narrow.contains("took"), "{narrow}");
}

#[test]
fn under_pacer_up_the_header_shows_the_children_it_supervises() {
    let mut app = App::new("http://127.0.0.1:50051", true);
    app.on_snapshot(pipeline(T0, pb::Mode::Enforce));
    let screen = render(&app, 120, 40, Instant::now());
    assert!(!screen.contains("stack "), "{screen}");
    app.stack = Some(pacer_tui::StackStatus {
        text: "postgres up, broker restarting (2 restarts)".into(),
        healthy: false,
    });
    let screen = render(&app, 120, 40, Instant::now());
    let line = screen
        .lines()
        .find(|l| l.contains("policy "))
        .unwrap_or_default();
    assert!(
        line.contains("stack postgres up, broker restarting (2 restarts)"),
        "{screen}"
    );
}

#[test]
fn an_override_shows_in_the_header_and_on_the_worker() {
    let mut app = App::new("http://127.0.0.1:50051", true);
    let mut snapshot = pipeline(T0, pb::Mode::Enforce);
    snapshot.overrides.push(pb::Override {
        worker_id: String::new(),
        interval_ms: 250,
        max_rows: 0,
        expires_at: ts(T0 + 600),
        set_at: ts(T0),
    });
    snapshot.workers[0].settings = settings(250, 5000);
    snapshot.workers[0].settings_source = pb::SettingsSource::Override.into();
    app.on_snapshot(snapshot);
    let screen = render(&app, 120, 40, Instant::now());
    assert!(screen.contains("override all 250ms"), "{screen}");
    let all = screen
        .lines()
        .find(|l| l.contains("* every worker"))
        .unwrap_or_default();
    assert!(all.contains("250ms") && all.contains("override"), "{all}");
    let row = screen
        .lines()
        .find(|l| l.contains("w-alpha-01"))
        .unwrap_or_default();
    assert!(row.contains("250ms") && row.contains("override"), "{row}");
}

#[test]
fn advise_mode_shows_the_suggested_settings_and_marks_decisions() {
    let mut app = App::new("http://127.0.0.1:50051", true);
    let mut snapshot = pipeline(T0, pb::Mode::Advise);
    snapshot.workers[0].suggested = settings(80, 8000);
    app.on_snapshot(snapshot);
    let screen = render(&app, 120, 40, Instant::now());
    assert!(screen.contains("[advise]"), "{screen}");
    assert!(screen.contains("suggests"), "{screen}");
    assert!(screen.contains("80ms/8.0k"), "{screen}");
    assert!(screen.contains("(advised)"), "{screen}");
}

#[test]
fn a_lost_connection_keeps_the_last_data_and_counts_down() {
    let mut app = app_with(pb::Mode::Enforce);
    let now = Instant::now();
    app.on_disconnected(
        "control plane unavailable: connection refused".into(),
        now + Duration::from_millis(2_500),
    );
    let screen = render(&app, 120, 40, now);
    assert!(screen.contains("disconnected, retrying in 3s"), "{screen}");
    assert!(screen.contains("w-alpha-01"), "{screen}");
    assert!(screen.contains("written 33.0k"), "{screen}");
}

#[test]
fn below_80_by_24_it_says_so() {
    let app = app_with(pb::Mode::Enforce);
    for (width, height) in [(79, 24), (80, 23), (60, 20)] {
        let screen = render(&app, width, height, Instant::now());
        assert!(screen.contains("terminal too small"), "{screen}");
        assert!(
            screen.contains(&format!("{width}×{height} here")),
            "{screen}"
        );
    }
}

#[test]
fn no_size_and_no_overlay_makes_it_panic() {
    let mut app = app_with(pb::Mode::Advise);
    let overlays: [&[KeyCode]; 5] = [
        &[],
        &[KeyCode::Char('?')],
        &[KeyCode::Char('o')],
        &[KeyCode::Char('P')],
        &[KeyCode::Char('m')],
    ];
    for keys in overlays {
        app.overlay = pacer_tui::Overlay::None;
        for code in keys {
            assert_eq!(app.handle_key(key(*code)), Outcome::Nothing);
        }
        for width in (1..=220).step_by(7) {
            for height in (1..=70).step_by(5) {
                render(&app, width, height, Instant::now());
            }
        }
    }
    app.overlay = pacer_tui::Overlay::ConfirmQuit;
    for (width, height) in [(1, 1), (40, 10), (80, 24), (200, 60)] {
        render(&app, width, height, Instant::now());
    }
    let small = render(&app, 60, 20, Instant::now());
    assert!(small.contains("stops the whole pipeline"), "{small}");
}

#[test]
fn the_help_lists_every_key_and_forms_draw_over_the_console() {
    let mut app = app_with(pb::Mode::Enforce);
    app.handle_key(key(KeyCode::Char('?')));
    let help = render(&app, 100, 30, Instant::now());
    for word in [
        "override",
        "pause / resume",
        "enforce / advise",
        "quit",
        "policy",
    ] {
        assert!(help.contains(word), "{word}\n{help}");
    }
    app.handle_key(key(KeyCode::Char('x')));
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Char('o')));
    let form = render(&app, 100, 30, Instant::now());
    assert!(form.contains("override for w-alpha-01"), "{form}");
    assert!(form.contains("Enter set"), "{form}");
    app.handle_key(key(KeyCode::Enter));
    let refused = render(&app, 100, 30, Instant::now());
    assert!(
        refused.contains("give an interval, max rows, or both"),
        "{refused}"
    );
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(key(KeyCode::Char('m')));
    let confirm = render(&app, 100, 30, Instant::now());
    assert!(confirm.contains("switch to advise mode?"), "{confirm}");
}
