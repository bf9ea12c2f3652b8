//! `pacer up`: the whole pipeline on one machine, on embedded defaults. It starts (or reuses) a private
//! PostgreSQL, starts the nisshi broker, creates the topic, runs ingest and the workers, and stops it all on
//! Ctrl-C.
//!
//! This file holds the command line and the run from start to stop; each step has its file: `spawn` (the
//! broker and pacer's tasks), `tokens`, `banner` (what the person who ran it reads), `console`, `status`
//! (the status lines and the totals) and `drain` (stopping in order).

mod banner;
mod children;
mod console;
mod drain;
mod spawn;
mod status;
mod tables;
mod tokens;

use super::BatchArgs;
use super::control::PolicyArgs;
use crate::duration::parse_duration;
use crate::load::Profile;
use anyhow::Context;
use clap::Args;
use pacer_stack::{PostgresOptions, PrivatePostgres};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Use this Kafka instead of starting the nisshi broker. pacer up restarts a broker it started when it
    /// dies; an external one is not its to supervise.
    #[arg(long, env = "PACER_BROKERS")]
    pub brokers: Option<String>,
    /// Use this PostgreSQL instead of starting a private cluster. pacer up restarts the private cluster
    /// when its server dies; an external one is not its to supervise.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the private cluster and the logs live (default: /var/lib/pacer as root, else ~/.local/state/pacer).
    #[arg(long, env = "PACER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The private PostgreSQL's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub pg_port: u16,
    /// The broker's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub kafka_port: u16,
    /// Where the broker started here keeps its log: `postgres` (durable, in the pipeline's PostgreSQL) or
    /// `memory` (faster; lost when the broker stops).
    #[arg(
        long,
        value_enum,
        env = "PACER_BROKER_STORAGE",
        default_value = "postgres"
    )]
    pub broker_storage: BrokerStorage,
    /// Ingest's HTTP port; if it is taken, a free port is used instead.
    #[arg(long, env = "PACER_HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,
    /// The topic events flow through.
    #[arg(long, env = "PACER_TOPIC", default_value = "events")]
    pub topic: String,
    /// Partitions of the topic, when pacer creates it.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Workers to run.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// The control plane's gRPC port; if it is taken, a free port is used instead.
    #[arg(long, env = "PACER_CONTROL_PORT", default_value_t = 50051)]
    pub control_port: u16,
    /// The admin token of the control plane (default: a random one, written to <state dir>/admin.token).
    #[arg(long, env = "PACER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Also post generated events at this rate (events/s).
    #[arg(long)]
    pub load: Option<f64>,
    /// A load profile instead of a constant --load rate (see `pacer load --help`).
    #[arg(long)]
    pub load_profile: Option<Profile>,
    /// How long the load runs (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub load_duration: Option<Duration>,
    /// Stop everything after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// A pipeline file (pacer.toml): routes that send each event to its own table, checked against its
    /// JSON Schema at ingest. In the private PostgreSQL the routes' tables are created (or given their new
    /// columns) at start; with --database-url they must exist (see `pacer tables`). With --load, the load
    /// posts events that fit the routes.
    #[arg(long, env = "PACER_PIPELINE")]
    pub pipeline: Option<PathBuf>,
    /// Do not open the operator's console; print a banner and log to standard error instead. Without a
    /// terminal on standard input and output, the console never opens.
    #[arg(long, env = "PACER_NO_CONSOLE")]
    pub no_console: bool,
}

/// Where the broker started by `pacer up` keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrokerStorage {
    /// In the pipeline's PostgreSQL: records survive a restart of the broker or of `pacer up`.
    Postgres,
    /// In the broker's memory.
    Memory,
}

impl UpArgs {
    /// Whether the console opens: unless --no-console, when both standard input and output are terminals.
    pub fn console(&self) -> bool {
        use std::io::IsTerminal;
        !self.no_console && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
    }

    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(super::default_state_dir)
    }

    /// Where the logs go while the console is open.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir().join("pacer.log")
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let state_dir = args.state_dir();
    // A mistake in the pipeline file stops `pacer up` before anything starts.
    let pipeline = match &args.pipeline {
        Some(path) => Some(Arc::new(pacer_pipeline::Pipeline::from_file(path)?)),
        None => None,
    };
    if args.console() {
        banner::say(&format!(
            "starting PostgreSQL, the broker, the control plane, ingest and the workers; the console opens when they are up; logs in {}",
            args.log_file().display()
        ));
    }
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;

    let (postgres, database_url) = match &args.database_url {
        Some(url) => (None, url.clone()),
        None => {
            let options = PostgresOptions {
                state_dir: state_dir.clone(),
                port: args.pg_port,
                database: "pacer".into(),
            };
            let pg = PrivatePostgres::start_or_reuse(&options)
                .await
                .context("cannot start the private PostgreSQL")?;
            let url = pg.url();
            (Some(pg), url)
        }
    };
    // The broker's own tables live in a database of their own in the private cluster, else beside the pipeline's.
    let broker_database_url = match &postgres {
        Some(pg) if args.broker_storage == BrokerStorage::Postgres => {
            pg.ensure_database("nisshi")
                .await
                .context("cannot create the broker's database")?;
            pg.url_for("nisshi")
        }
        _ => database_url.clone(),
    };
    // Whatever happens next, a cluster started here is stopped again.
    let result = match (&pipeline, &postgres) {
        (Some(pipeline), Some(_)) => tables::prepare(&database_url, pipeline).await,
        _ => Ok(()),
    };
    let mut children = children::Children::default();
    if let Some(pg) = postgres {
        children.postgres(pg);
    }
    let result = match result {
        Ok(()) => {
            run_on(
                &args,
                &state_dir,
                &mut children,
                database_url,
                broker_database_url,
                pipeline,
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = children.stop_broker().await {
        tracing::warn!(error = %e, "could not stop the broker");
    }
    children.stop_postgres().await;
    tracing::info!("pacer stopped");
    result
}

/// Everything after PostgreSQL: the broker, the topic, ingest, the workers and the optional load.
async fn run_on(
    args: &UpArgs,
    state_dir: &Path,
    children: &mut children::Children,
    database_url: String,
    broker_database_url: String,
    pipeline: Option<Arc<pacer_pipeline::Pipeline>>,
) -> anyhow::Result<()> {
    let (broker, brokers) = spawn::broker(args, state_dir, &broker_database_url).await?;
    let ours = broker.is_some();
    if let Some(broker) = broker {
        children.broker(broker);
    }
    // The topics the routes read (plain JSON ones, say) exist from the start, as --topic does.
    for topic in pipeline.iter().flat_map(|pipeline| pipeline.topics()) {
        if topic != args.topic {
            pacer_stack::create_topic(&brokers, topic, args.partitions).await?;
        }
    }
    let mut stack = spawn::Stack::start(
        args,
        state_dir,
        &brokers,
        &database_url,
        pipeline.clone(),
        &children.metrics,
    )
    .await?;

    let console = args.console();
    if console {
        tracing::info!(
            ingest = %stack.http,
            kafka = %brokers,
            control = %stack.control_url,
            workers = args.workers,
            "pacer is up"
        );
    } else {
        banner::print(&banner::Banner {
            http: stack.http,
            brokers: &brokers,
            database_url: &database_url,
            control_url: &stack.control_url,
            policy: &args.policy,
            admin_token: args
                .admin_token
                .is_none()
                .then(|| tokens::admin_token_path(state_dir)),
            state_dir,
            workers: args.workers,
        });
    }

    let load_stats = spawn::load(args, stack.http, stack.stops.front.subscribe()).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&database_url)?;
    let status = tokio::spawn(status::report_status(
        pool.clone(),
        stack.run.clone(),
        load_stats.clone(),
        children.health(),
        stack.stops.workers.subscribe(),
    ));
    // The console, when it opens, owns the screen until the operator quits it; quitting stops everything.
    let mut ingest_ended = false;
    let mut failed = None;
    tokio::select! {
        () = console::until_quit(args, &stack.control_url, &stack.admin_token, children.health()), if console => {}
        error = children.gave_up() => {
            tracing::error!(error = %error, "stopping everything");
            failed = Some(error);
        }
        _ = crate::shutdown::signalled() => {}
        _ = sleep_or_forever(args.run_for) => tracing::info!("--run-for elapsed; stopping"),
        result = &mut stack.ingest => {
            ingest_ended = true;
            tracing::error!(?result, "ingest ended early; stopping");
        }
        Some(result) = stack.workers.join_next() => {
            tracing::error!(?result, "a worker ended early; stopping");
        }
    }
    // The topic is drained into PostgreSQL only when both are ours and both are up.
    let drain_from = (ours && failed.is_none()).then_some(brokers.as_str());
    drain::stop(&mut stack, ingest_ended, drain_from, status, args).await;
    status::report_totals(&pool, &stack.run, &load_stats, console).await;
    match failed {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
