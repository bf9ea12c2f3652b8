//! `pacer up` on embedded defaults: it starts PostgreSQL and the broker itself, events flow from its load
//! generator into PostgreSQL, and on stop it lets the workers write everything acknowledged before it stops
//! everything it started.

use crate::tui_tmux::Tmux;
use std::process::Command;

#[test]
fn pacer_up_runs_the_pipeline_and_stops_cleanly() {
    let state = tempfile::Builder::new()
        .prefix("pacer-up-")
        .tempdir()
        .unwrap();
    // Twice on one state directory: the second run reuses the database and the workers' stable ids, and its
    // totals are its own.
    for run in 1..=2 {
        up_once(state.path(), run);
    }
}

fn up_once(state: &std::path::Path, run: u32) {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args([
            "up",
            "--http-port",
            "0",
            "--load",
            "300",
            "--run-for",
            "14s",
            "--interval",
            "200ms",
        ])
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pacer up (run {run}) failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("pacer is up") && stdout.contains("/v1/events"),
        "{stdout}"
    );
    // The status line every 5 s says how many rows the workers wrote.
    let written: Vec<u64> = stderr
        .lines()
        .filter(|l| l.contains("pipeline status"))
        .filter_map(|l| {
            l.split("rows_written=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        written.last().is_some_and(|n| *n > 0),
        "no rows written:\n{stderr}"
    );
    // Batches of 2 s leave events in the topic at the stop: they are written before the workers stop.
    let totals = stderr
        .lines()
        .find(|l| l.contains("this run's totals"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let field = |name: &str| -> u64 {
        totals
            .split(&format!("{name}="))
            .nth(1)
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    assert!(field("load_acked") > 0, "{totals}");
    assert_eq!(
        field("rows_written"),
        field("load_acked"),
        "run {run}: {totals}"
    );
    assert_eq!(field("dead_letters"), 0, "{totals}");
    assert!(stderr.contains("private PostgreSQL stopped"), "{stderr}");
    assert!(
        !state.join("postgres/data/postmaster.pid").exists(),
        "PostgreSQL still running"
    );
}

/// After `q` `y` in the console, the terminal gets the run's totals, as the no-console mode prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_the_console_prints_the_runs_totals() {
    let state = tempfile::Builder::new()
        .prefix("pacer-up-console-")
        .tempdir()
        .unwrap();
    let command = format!(
        "{} up --http-port 0 --load 200 --interval 100ms --state-dir {}; sleep 60",
        env!("CARGO_BIN_EXE_pacer"),
        state.path().display()
    );
    let tmux = Tmux::start(140, 45, &command);
    tmux.wait_for_screen("the pipeline with rows written", |s| {
        s.contains("● connected") && s.contains("-w0")
    })
    .await;
    tmux.keys(&["q"]);
    tmux.keys(&["y"]);
    let screen = tmux
        .wait_for_screen("the run's totals after the console", |s| {
            s.contains("this run's totals")
        })
        .await;
    let totals = screen
        .lines()
        .find(|l| l.contains("this run's totals"))
        .unwrap_or_default();
    assert!(
        totals.contains("rows written")
            && totals.contains("dead letters")
            && totals.contains("acknowledged"),
        "{totals}"
    );
}
