//! `pacer bench`: throughput against a physical reference measured in the same run, so that the machine's
//! noise cancels out in the ratio. Rounds alternate between the subject and its reference; medians are reported.

mod control;
mod ingest;
mod ingest_schema;
mod ingest_single;
mod latency;
mod plot;
mod procstat;
mod profile;
mod scale;
mod sink;
mod sink_routes;

use anyhow::Context;
use clap::{Args, Subcommand};
use pacer_stack::{PostgresOptions, PrivatePostgres};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Rows/s the worker writes into `events`, against `psql \copy` of the same rows into the same table.
    Sink(sink::SinkArgs),
    /// Rows/s the worker writes through a pipeline file's typed `append` and `upsert` routes, against
    /// `psql \copy` of rows of the same shape into the same table.
    Routes(sink_routes::RoutesArgs),
    /// Events/s acknowledged by `POST /v1/events` in batches, against a plain rdkafka producer.
    Ingest(ingest::IngestBenchArgs),
    /// Events/s acknowledged by `POST /v1/events` when their route has a JSON Schema, against the same
    /// requests to an ingest without a pipeline file.
    IngestSchema(ingest_schema::IngestSchemaArgs),
    /// How many simulated workers one control plane serves at a report rate: report-to-push latency, CPU
    /// and memory, step by step until the p99 passes a limit.
    Control(control::ControlBenchArgs),
    /// The standard load profile (idle, spike, steady, idle) on the real pipeline, per policy and static
    /// interval: freshness (receipt → commit), PostgreSQL commits/s, CPU per million rows, lag and setting
    /// changes per phase.
    Profile(profile::ProfileArgs),
    /// The freshness budget of single events on the default stack, stage by stage (receipt → broker
    /// acknowledgement → fetched → batch closed → written and committed), against a plain rdkafka round trip
    /// on the same broker.
    Latency(latency::LatencyArgs),
    /// The control plane's advice on workers, followed: one worker on 8 partitions at 150 % of what it
    /// sustains, then as many more as the advice says; whether and how fast the lag drains.
    Scale(scale::ScaleArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Sink(a) => sink::run(a).await,
        Which::Ingest(a) => ingest::run(a).await,
        Which::Routes(a) => sink_routes::run(a).await,
        Which::IngestSchema(a) => ingest_schema::run(a).await,
        Which::Profile(a) => profile::run(a).await,
        Which::Control(a) => control::run(a).await,
        Which::Latency(a) => latency::run(a).await,
        Which::Scale(a) => scale::run(a).await,
    }
}

/// A `pacer worker` process in group `topic`, attached to the control plane at `control_url` (with `extra`
/// flags), so that its CPU is its own.
pub(crate) fn worker_process(
    brokers: &str,
    topic: &str,
    id: &str,
    database_url: &str,
    control_url: &str,
    extra: &[&str],
) -> anyhow::Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("finding the pacer executable")?;
    tokio::process::Command::new(exe)
        .args([
            "worker",
            "--log",
            "warn",
            "--brokers",
            brokers,
            "--topic",
            topic,
        ])
        .args(["--group", topic, "--worker-id", id, "--interval", "500ms"])
        .args(["--database-url", database_url, "--control", control_url])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting a `pacer worker` process")
}

/// Stops worker processes as an operator does (SIGTERM: each writes the batch in hand), killing any that
/// has not stopped within 30 s.
pub(crate) async fn stop_workers(workers: &mut [tokio::process::Child]) {
    for pid in workers.iter().filter_map(tokio::process::Child::id) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    for worker in workers {
        if tokio::time::timeout(Duration::from_secs(30), worker.wait())
            .await
            .is_err()
        {
            tracing::warn!("a worker did not stop within 30 s of SIGTERM; killing it");
            let _ = worker.kill().await;
        }
    }
}

/// The median of some durations.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Items per second.
pub fn rate(items: u64, took: Duration) -> f64 {
    items as f64 / took.as_secs_f64().max(1e-9)
}

/// Prints a Markdown table of medians: time, rate and the ratio to the first row, which is the reference.
#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub fn print_table(unit: &str, items: u64, rows: &[(&str, &[Duration])]) {
    let Some((_, reference)) = rows.first() else {
        return;
    };
    let reference = rate(items, median(reference));
    println!("| path | median time | {unit}/s | vs reference |");
    println!("| --- | --- | --- | --- |");
    for (name, samples) in rows {
        let m = median(samples);
        let r = rate(items, m);
        println!(
            "| {name} | {:.3} s | {r:.0} | {:.2} |",
            m.as_secs_f64(),
            r / reference
        );
    }
}

/// The `q` quantile of `values` weighted by their counts (each value counts as often as its weight); NaN when
/// there are none.
pub fn weighted_quantile(values: &mut [(f64, i64)], q: f64) -> f64 {
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: i64 = values.iter().map(|(_, w)| *w).sum();
    let wanted = q * total as f64;
    let mut seen = 0;
    for (value, weight) in values.iter() {
        seen += weight;
        if seen as f64 >= wanted {
            return *value;
        }
    }
    f64::NAN
}

/// A private PostgreSQL in a temporary state directory, for one benchmark run.
pub async fn private_postgres() -> anyhow::Result<(PrivatePostgres, tempfile::TempDir)> {
    let dir = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let pg = PrivatePostgres::start_or_reuse(&PostgresOptions {
        state_dir: PathBuf::from(dir.path()),
        port: 0,
        database: "pacer".into(),
    })
    .await?;
    Ok((pg, dir))
}

/// The rig of the benchmarks that run the pipeline: a private PostgreSQL with pacer's tables, a broker
/// keeping its log in memory, and a small pool on the database.
pub async fn pipeline_rig() -> anyhow::Result<(
    PrivatePostgres,
    tempfile::TempDir,
    pacer_stack::Broker,
    sqlx::PgPool,
)> {
    let (pg, dir) = private_postgres().await?;
    let broker = pacer_stack::Broker::start(pacer_stack::BrokerOptions::in_memory(
        pacer_stack::find_nisshi()?,
        0,
        dir.path().join("nisshi.log"),
    ))
    .await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg.url())
        .await?;
    pacer_worker::MIGRATOR.run(&pool).await?;
    Ok((pg, dir, broker, pool))
}

/// A control plane's configuration for a benchmark: `policy` enforced, no tokens, the usual clocks.
pub fn control_config(
    database_url: String,
    policy: pacer_policy::PolicyConfig,
) -> pacer_control::ControlConfig {
    pacer_control::ControlConfig {
        metrics: pacer_control::ControlMetrics::new(),
        database_url,
        worker_token: pacer_control::Token::new(None),
        admin_token: pacer_control::Token::new(None),
        policy,
        mode: pacer_control::Mode::Enforce,
        heartbeat: Duration::from_secs(1),
        lost_after: Duration::from_secs(5),
        forget_after: Duration::from_secs(600),
        min_gap: Duration::from_secs(1),
        hysteresis: 0.1,
        tls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_quantile_counts_each_value_as_often_as_its_weight() {
        let mut values = vec![(300.0, 1), (10.0, 98), (50.0, 1)];
        assert_eq!(weighted_quantile(&mut values, 0.5), 10.0);
        assert_eq!(weighted_quantile(&mut values, 0.99), 50.0);
        assert_eq!(weighted_quantile(&mut values, 1.0), 300.0);
        assert!(weighted_quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn median_of_odd_and_even() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
