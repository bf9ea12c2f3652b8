//! What `pacer up` prints for the person who ran it: the banner when there is no console, and single lines
//! while the console has (or had) the screen and the logs go to a file.

use super::super::control::PolicyArgs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the banner shows.
pub(super) struct Banner<'a> {
    pub http: SocketAddr,
    pub brokers: &'a str,
    pub database_url: &'a str,
    pub control_url: &'a str,
    pub policy: &'a PolicyArgs,
    /// The admin token's file, when the token was made for this run.
    pub admin_token: Option<PathBuf>,
    pub state_dir: &'a Path,
    pub workers: usize,
}

#[allow(
    clippy::print_stdout,
    reason = "the banner is pacer up's output to the person who ran it"
)]
pub(super) fn print(b: &Banner<'_>) {
    let http = b.http;
    println!();
    println!("pacer is up");
    println!("  ingest      http://{http}/v1/events   (health: /healthz, /readyz)");
    println!("  metrics     http://{http}/metrics     (Prometheus, the whole process)");
    println!("  kafka       {}", b.brokers);
    println!("  postgres    {}", b.database_url);
    let target = b
        .policy
        .slo
        .map(|t| format!(" p99 ≤ {}", humantime::format_duration(t)))
        .unwrap_or_default();
    println!(
        "  control     {}   (gRPC; policy {}{target}, {})",
        b.control_url,
        b.policy.kind(),
        b.policy.mode.as_str()
    );
    if let Some(path) = &b.admin_token {
        println!("  admin token {}", path.display());
    }
    println!("  workers     {}", b.workers);
    println!("  state, logs {}", b.state_dir.display());
    println!();
    println!("  try: curl -H 'content-type: application/cloudevents+json' \\");
    println!(
        "         -d '{{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/demo\",\"type\":\"demo\",\"data\":{{\"hello\":\"world\"}}}}' \\"
    );
    println!("         http://{http}/v1/events");
    println!("  Ctrl-C stops everything.");
    println!();
}

/// A line for the person who ran `pacer up` while the console has (or had) the screen and the logs go to
/// a file: starting, stopping, the console's failure, the run's totals.
#[allow(
    clippy::print_stderr,
    reason = "with the logs in a file, this is how pacer up tells the person who ran it what happens"
)]
pub(super) fn say(line: &str) {
    eprintln!("pacer: {line}");
}
