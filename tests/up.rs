//! `pacer up` on embedded defaults: it starts PostgreSQL and the broker itself, events flow from its load
//! generator into PostgreSQL, and it stops everything it started.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::process::Command;

#[test]
fn pacer_up_runs_the_pipeline_and_stops_cleanly() {
    let state = tempfile::Builder::new()
        .prefix("pacer-up-")
        .tempdir()
        .unwrap();
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
        .arg(state.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pacer up failed:\n{stdout}\n{stderr}");
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
    assert!(stderr.contains("private PostgreSQL stopped"), "{stderr}");
    assert!(
        !state.path().join("postgres/data/postmaster.pid").exists(),
        "PostgreSQL still running"
    );
}
