//! `pacer up`: the whole pipeline on one machine, on embedded defaults. It starts (or reuses) a private
//! PostgreSQL, starts the nisshi broker, creates the topic, runs ingest and the workers, and stops it all on
//! Ctrl-C.

use super::{BatchArgs, parse_duration};
use crate::load::{LoadPlan, LoadStats, Profile, generate};
use anyhow::Context;
use clap::Args;
use pacer_stack::{Broker, BrokerOptions, PostgresOptions, PrivatePostgres};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Use this Kafka instead of starting the nisshi broker.
    #[arg(long, env = "PACER_BROKERS")]
    pub brokers: Option<String>,
    /// Use this PostgreSQL instead of starting a private cluster.
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
}

fn default_state_dir() -> PathBuf {
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

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
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
    // Whatever happens next, a cluster started here is stopped again.
    let result = run_on(&args, &state_dir, database_url).await;
    if let Some(pg) = postgres.as_ref().filter(|pg| pg.started_here()) {
        match pg.stop().await {
            Ok(()) => tracing::info!("private PostgreSQL stopped"),
            Err(e) => tracing::warn!(error = %e, "could not stop the private PostgreSQL"),
        }
    }
    tracing::info!("pacer stopped");
    result
}

/// Everything after PostgreSQL: the broker, the topic, ingest, the workers and the optional load.
async fn run_on(
    args: &UpArgs,
    state_dir: &std::path::Path,
    database_url: String,
) -> anyhow::Result<()> {
    let (mut broker, brokers) = match &args.brokers {
        Some(brokers) => (None, brokers.clone()),
        None => {
            let options = BrokerOptions::in_memory(
                pacer_stack::find_nisshi()?,
                args.kafka_port,
                state_dir.join("nisshi.log"),
            );
            let broker = Broker::start(options)
                .await
                .context("cannot start the nisshi broker")?;
            let brokers = broker.bootstrap();
            (Some(broker), brokers)
        }
    };
    pacer_stack::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
    pacer_stack::create_topic(&brokers, &args.topic, args.partitions).await?;

    let listener = bind_http(args.http_port).await?;
    let http = listener.local_addr()?;
    let (stop_tx, stop) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let mut tasks = JoinSet::new();
    let ingest_config = pacer_ingest::IngestConfig::new(&brokers, &args.topic);
    tasks.spawn({
        let shutdown = stopped(stop.clone());
        async move {
            pacer_ingest::serve(ingest_config, listener, shutdown)
                .await
                .map_err(anyhow::Error::from)
        }
    });
    // Workers start after ingest is listening: migrations run once, in the first worker, then the others.
    for i in 0..args.workers {
        let mut config = pacer_worker::WorkerConfig::new(&brokers, &args.topic, &database_url);
        config.worker_id = format!("{}-w{i}", pacer_worker::default_worker_id());
        config.settings = args.batch.settings();
        let (_handle, settings) = pacer_worker::SettingsHandle::new(config.settings);
        let shutdown = stopped(stop.clone());
        tasks.spawn(async move {
            pacer_worker::run(config, settings, shutdown)
                .await
                .map_err(anyhow::Error::from)
        });
    }

    banner(&http, &brokers, &database_url, state_dir, args.workers);

    let load_stats = Arc::new(LoadStats::default());
    if args.load.is_some() || args.load_profile.is_some() {
        let profile = args.load_profile.clone().unwrap_or_else(|| {
            Profile::constant(
                args.load.unwrap_or(0.0),
                args.load_duration
                    .unwrap_or(Duration::from_secs(365 * 86_400)),
            )
        });
        let plan = LoadPlan {
            url: format!("http://{http}"),
            profile,
            batch: 100,
            concurrency: 16,
        };
        // Give the workers a moment to join the group so the first events are not waiting on a rebalance.
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::spawn(generate(plan, load_stats.clone(), stop.clone()));
    }

    let status = tokio::spawn(report_status(
        database_url.clone(),
        load_stats,
        stop.clone(),
    ));
    tokio::select! {
        _ = crate::shutdown::signalled() => {}
        _ = sleep_or_forever(args.run_for) => tracing::info!("--run-for elapsed; stopping"),
        Some(result) = tasks.join_next() => {
            tracing::error!(?result, "a pipeline task ended early; stopping");
        }
    }
    let _ = stop_tx.send(true);
    status.abort();
    while let Some(result) = tasks.join_next().await {
        if let Ok(Err(e)) = result {
            tracing::warn!(error = %e, "a task failed while stopping");
        }
    }
    if let Some(broker) = broker.as_mut() {
        broker.stop().await?;
    }
    Ok(())
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn bind_http(port: u16) -> anyhow::Result<TcpListener> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            tracing::warn!(
                port,
                instead = listener.local_addr()?.port(),
                "HTTP port is taken; using a free one"
            );
            Ok(listener)
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on 127.0.0.1:{port}")),
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the banner is pacer up's output to the person who ran it"
)]
fn banner(
    http: &SocketAddr,
    brokers: &str,
    database_url: &str,
    state_dir: &std::path::Path,
    workers: usize,
) {
    println!();
    println!("pacer is up");
    println!("  ingest      http://{http}/v1/events   (health: /healthz, /readyz)");
    println!("  kafka       {brokers}");
    println!("  postgres    {database_url}");
    println!("  workers     {workers}");
    println!("  state, logs {}", state_dir.display());
    println!();
    println!("  try: curl -H 'content-type: application/cloudevents+json' \\");
    println!(
        "         -d '{{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/demo\",\"type\":\"demo\",\"data\":{{\"hello\":\"world\"}}}}' \\"
    );
    println!("         http://{http}/v1/events");
    println!("  Ctrl-C stops everything.");
    println!();
}

/// Every 5 s: what was posted, what was written, what was dead-lettered.
async fn report_status(database_url: String, load: Arc<LoadStats>, stop: watch::Receiver<bool>) {
    let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&database_url)
    else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut last_rows = 0i64;
    tick.tick().await;
    while !*stop.borrow() {
        tick.tick().await;
        let row: Result<(Option<i64>, Option<i64>, Option<i64>), _> = sqlx::query_as(
            "SELECT sum(rows_written)::bigint, sum(invalid)::bigint, \
             (SELECT lag FROM batch_metrics ORDER BY id DESC LIMIT 1) FROM batch_metrics",
        )
        .fetch_one(&pool)
        .await;
        let (sent, acked, failed) = load.snapshot();
        match row {
            Ok((rows, invalid, lag)) => {
                let rows = rows.unwrap_or(0);
                tracing::info!(
                    load_sent = sent,
                    load_acked = acked,
                    load_failed = failed,
                    rows_written = rows,
                    rows_per_s = (rows - last_rows) / 5,
                    dead_letters = invalid.unwrap_or(0),
                    lag = lag.unwrap_or(0),
                    "pipeline status"
                );
                last_rows = rows;
            }
            Err(e) => tracing::debug!(error = %e, "status query failed"),
        }
    }
}
