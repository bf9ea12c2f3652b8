//! The command line: one module per subcommand.

mod control;
mod dead_letters;
mod ingest;
mod load;
mod sim;
mod tables;
mod token;
mod tui;
mod up;
mod worker;

pub use up::BrokerStorage;

use crate::duration::parse_interval;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pacer_batch::Settings;
use std::path::PathBuf;

/// pacer: events from HTTP through Kafka into PostgreSQL, in micro-batches sized while they run.
#[derive(Debug, Parser)]
#[command(name = "pacer", version, about, propagate_version = true)]
pub struct Cli {
    /// Log filter, in `tracing` syntax (for example `info,pacer_worker=debug`).
    #[arg(long, global = true, env = "PACER_LOG", default_value = "info")]
    log: String,
    /// Check the command line (and its environment fallbacks) and exit: for deployment checks, such as the
    /// test that every service of compose/docker-compose.yml runs a command pacer accepts.
    #[arg(long, global = true, hide = true)]
    pub parse_only: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline locally: PostgreSQL, a Kafka-compatible broker, ingest and workers.
    Up(up::UpArgs),
    /// Run the HTTP ingestion service alone.
    Ingest(ingest::IngestArgs),
    /// Run the control plane alone: the worker registry, the batch-sizing policy and the admin API.
    Control(control::ControlArgs),
    /// Run one worker (a member of the Kafka consumer group) alone.
    Worker(worker::WorkerArgs),
    /// Post generated CloudEvents to ingest at a set rate.
    Load(load::LoadArgs),
    /// The operator's console: the pipeline live, steered from the keyboard.
    Tui(tui::TuiArgs),
    /// Print an admin token that expires, issued from the admin secret (for scripts and operators).
    Token(token::TokenArgs),
    /// Plan or apply the DDL that gives every route of the pipeline file its table (additive only).
    Tables(tables::TablesArgs),
    /// List the records that did not become rows, or replay them through the routes once fixed.
    DeadLetters(dead_letters::DeadLettersArgs),
    /// Simulate workers under a load profile with every batch-sizing policy, side by side (no I/O).
    Sim(sim::SimArgs),
    /// Measure throughput against a physical reference in the same run.
    Bench(crate::bench::BenchArgs),
}

/// Where the pipeline's Kafka topic is.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port`, comma-separated).
    #[arg(long, env = "PACER_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The topic events flow through.
    #[arg(long, env = "PACER_TOPIC", default_value = "events")]
    pub topic: String,
}

/// The micro-batch settings a worker starts with.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// How long a batch collects records before it is written (for example `200ms`, `1s`).
    #[arg(long, env = "PACER_INTERVAL", default_value_t = Settings::DEFAULT.interval.into(), value_parser = parse_interval)]
    pub interval: humantime::Duration,
    /// The most records in one batch.
    #[arg(long, env = "PACER_MAX_ROWS", default_value_t = Settings::DEFAULT.max_rows)]
    pub max_rows: u64,
    /// The most record bytes in one batch.
    #[arg(long, env = "PACER_MAX_BYTES", default_value_t = Settings::DEFAULT.max_bytes)]
    pub max_bytes: u64,
}

impl BatchArgs {
    fn settings(&self) -> Settings {
        Settings {
            interval: self.interval.into(),
            max_rows: self.max_rows,
            max_bytes: self.max_bytes,
        }
    }
}

/// The admin secret: given, read from `file`, or read from `<state dir>/admin.token` if that exists.
pub fn read_admin_token(
    given: Option<&str>,
    file: Option<&std::path::Path>,
    state_dir: &std::path::Path,
) -> anyhow::Result<Option<String>> {
    if let Some(token) = given {
        return Ok(Some(token.to_owned()));
    }
    let (path, named) = match file {
        Some(path) => (path.to_path_buf(), true),
        None => (state_dir.join("admin.token"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(Some(token.trim().to_owned())),
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the admin token {}", path.display())),
    }
}

/// Where pacer keeps its state and logs: /var/lib/pacer as root, else `$XDG_STATE_HOME/pacer` or
/// `~/.local/state/pacer`.
pub fn default_state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/pacer");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/state"))
        .join("pacer")
}

impl Cli {
    /// The file logs go to while a console owns the screen; `None`: standard error.
    fn log_file(&self) -> Option<PathBuf> {
        match &self.command {
            Command::Tui(args) => Some(args.log_file()),
            Command::Up(args) if args.console() => Some(args.log_file()),
            _ => None,
        }
    }
}

/// Sets up logging: to standard error, or to a file while the console owns the screen. Says where logs go
/// if the file cannot be opened.
pub fn init_tracing(cli: &Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match cli.log_file() {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open the log file {}", path.display()))?;
            builder
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .init();
        }
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    Ok(())
}

/// What `--parse-only` checks beyond the command line's shape: the settings each command builds before it
/// does anything (policy parameters, ranges), without any I/O.
pub fn validate(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Control(args) => args.config().map(drop),
        Command::Up(args) => args.policy.config().map(drop),
        _ => Ok(()),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Control(args) => control::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Tui(args) => tui::run(args).await,
        Command::Sim(args) => sim::run(args),
        Command::Token(args) => token::run(args),
        Command::Tables(args) => tables::run(args).await,
        Command::DeadLetters(args) => dead_letters::run(args).await,
        Command::Bench(args) => crate::bench::run(args).await,
    }
}
