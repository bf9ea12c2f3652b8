//! The command line: every subcommand is there and documents its flags.

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
    for sub in [
        "up",
        "ingest",
        "worker",
        "control",
        "tui",
        "load",
        "sim",
        "bench",
        "tables",
        "dead-letters",
    ] {
        assert!(
            top.contains(sub),
            "`pacer --help` does not list {sub}:\n{top}"
        );
    }
    assert!(help(&["up"]).contains("--database-url"));
    for sub in [
        &["up"][..],
        &["ingest"],
        &["worker"],
        &["load"],
        &["tables", "plan"],
        &["dead-letters", "replay"],
    ] {
        let text = help(sub);
        assert!(
            text.contains("--pipeline") && text.contains("PACER_PIPELINE"),
            "{sub:?}:\n{text}"
        );
    }
    assert!(help(&["worker"]).contains("--topics"));
    assert!(help(&["dead-letters", "list"]).contains("--route"));
    assert!(help(&["up"]).contains("--brokers"));
    assert!(help(&["worker"]).contains("--interval"));
    assert!(help(&["worker"]).contains("--max-rows"));
    assert!(help(&["load"]).contains("--profile"));
    assert!(help(&["bench", "sink"]).contains("--rows"));
    assert!(help(&["bench", "profile"]).contains("--contenders"));
    let control_bench = help(&["bench", "control"]);
    for flag in ["--workers", "--rate", "--step", "--limit"] {
        assert!(
            control_bench.contains(flag),
            "`pacer bench control --help` lacks {flag}"
        );
    }
    let control = help(&["control"]);
    for flag in [
        "--listen",
        "--admin-token",
        "--worker-token",
        "--policy",
        "--param",
        "--mode",
        "--tls-cert",
    ] {
        assert!(
            control.contains(flag),
            "`pacer control --help` lacks {flag}:\n{control}"
        );
    }
    assert!(help(&["worker"]).contains("--control-token"));
    assert!(help(&["up"]).contains("--policy"));
    assert!(help(&["up"]).contains("--no-console"));
    let tui = help(&["tui"]);
    for flag in [
        "--control",
        "--admin-token",
        "--admin-token-file",
        "--control-ca",
        "--refresh",
        "--log-file",
    ] {
        assert!(
            tui.contains(flag),
            "`pacer tui --help` lacks {flag}:\n{tui}"
        );
    }
}

#[test]
fn the_console_needs_a_terminal_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tui.log");
    let log = log.to_str().unwrap();
    // The test's standard output is a pipe, not a terminal.
    let err = fails(&["tui", "--log-file", log]);
    assert!(err.contains("needs a terminal"), "{err}");
    let err = fails(&["tui", "--control", "127.0.0.1:50051", "--log-file", log]);
    assert!(err.contains("bad control URL"), "{err}");
    let err = fails(&["tui", "--refresh", "10ms", "--log-file", log]);
    assert!(err.contains("at least 100ms"), "{err}");
    let missing = dir.path().join("missing.token");
    let err = fails(&[
        "tui",
        "--admin-token-file",
        missing.to_str().unwrap(),
        "--log-file",
        log,
    ]);
    assert!(err.contains("missing.token"), "{err}");
}

fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(args)
        .env("PACER_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success(), "pacer {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_policies_are_refused_naming_what_is_wrong() {
    let base = ["control", "--database-url", "postgres://x@127.0.0.1:1/x"];
    let err = fails(&[&base[..], &["--policy", "magic"]].concat());
    assert!(
        err.contains("magic") && err.contains("fixed-point"),
        "{err}"
    );
    let err = fails(
        &[
            &base[..],
            &["--policy", "model", "--param", "no_such_knob=1"],
        ]
        .concat(),
    );
    assert!(
        err.contains("no_such_knob") && err.contains("headroom"),
        "{err}"
    );
    let err = fails(&[&base[..], &["--policy", "static", "--param", "interval_ms"]].concat());
    assert!(err.contains("name=value"), "{err}");
    let err = fails(&[&base[..], &["--mode", "loud"]].concat());
    assert!(err.contains("enforce or advise"), "{err}");
}

#[test]
fn the_simulator_prints_a_table_for_every_policy() {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args([
            "sim",
            "--profile",
            "step",
            "--phase",
            "20s",
            "--workers",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for row in [
        "rules",
        "aimd",
        "fixed-point",
        "model",
        "static 10 ms",
        "static 5.00 s",
    ] {
        assert!(table.contains(row), "no row for {row}:\n{table}");
    }
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
