//! The command line: every subcommand is there and documents its flags.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "pacer {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_subcommand_has_help() {
    let top = help(&[]);
    for sub in ["up", "ingest", "worker", "load", "bench"] {
        assert!(
            top.contains(sub),
            "`pacer --help` does not list {sub}:\n{top}"
        );
    }
    assert!(help(&["up"]).contains("--database-url"));
    assert!(help(&["up"]).contains("--brokers"));
    assert!(help(&["worker"]).contains("--interval"));
    assert!(help(&["worker"]).contains("--max-rows"));
    assert!(help(&["load"]).contains("--profile"));
    assert!(help(&["bench", "sink"]).contains("--rows"));
}

#[test]
fn bad_flags_are_refused_with_a_hint() {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args([
            "worker",
            "--database-url",
            "postgres://x",
            "--interval",
            "soon",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--interval") && err.contains("250ms"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["load", "--profile", "fast"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("RATE:DURATION")
    );
}
