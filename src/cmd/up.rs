//! `pacer up`: the whole pipeline on one machine, on embedded defaults. It starts (or reuses) a private
//! PostgreSQL, starts the nisshi broker, creates the topic, runs ingest and the workers, and stops it all on
//! Ctrl-C.

use super::control::PolicyArgs;
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
    if args.console() {
        say(&format!(
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
    let result = run_on(&args, &state_dir, database_url, broker_database_url).await;
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
    broker_database_url: String,
) -> anyhow::Result<()> {
    let (mut broker, brokers) = match &args.brokers {
        Some(brokers) => (None, brokers.clone()),
        None => {
            let (program, log) = (pacer_stack::find_nisshi()?, state_dir.join("nisshi.log"));
            let options = match args.broker_storage {
                BrokerStorage::Memory => BrokerOptions::in_memory(program, args.kafka_port, log),
                BrokerStorage::Postgres => {
                    BrokerOptions::in_postgres(program, args.kafka_port, log, &broker_database_url)
                }
            };
            let broker = Broker::start(options)
                .await
                .context("cannot start the nisshi broker")?;
            let brokers = broker.bootstrap();
            (Some(broker), brokers)
        }
    };
    pacer_stack::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
    pacer_stack::create_topic(&brokers, &args.topic, args.partitions).await?;

    // The control plane first, so that the workers attach from their first batch.
    let control_listener = bind_or_free(args.control_port, "control plane").await?;
    let control_url = format!("http://{}", control_listener.local_addr()?);
    let worker_token = random_token()?;
    let admin_token = match &args.admin_token {
        Some(token) => {
            // A token file from an earlier run would mislead `pacer tui`, which reads it by default.
            match std::fs::remove_file(state_dir.join("admin.token")) {
                Ok(()) => tracing::info!("removed the admin.token of an earlier run"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remove the admin.token of an earlier run")
                }
            }
            token.clone()
        }
        None => {
            let token = random_token()?;
            write_secret(&state_dir.join("admin.token"), &token)?;
            token
        }
    };
    // One registry for the whole process: ingest serves it on its HTTP port, at /metrics.
    let registry = pacer_telemetry::registry()?;
    let control_metrics = pacer_control::ControlMetrics::new();
    control_metrics.register(&registry)?;
    let worker_metrics = pacer_worker::WorkerMetrics::new();
    worker_metrics.register(&registry)?;
    let control_config = pacer_control::ControlConfig {
        metrics: control_metrics,
        database_url: database_url.clone(),
        worker_token: pacer_control::Token::new(Some(worker_token.clone())),
        admin_token: pacer_control::Token::new(Some(admin_token.clone())),
        policy: args.policy.config()?,
        mode: args.policy.mode,
        heartbeat: Duration::from_secs(1),
        lost_after: Duration::from_secs(5),
        forget_after: Duration::from_secs(600),
        min_gap: args.policy.min_gap,
        hysteresis: args.policy.hysteresis,
        tls: None,
    };
    let (control_tx, control_stop) = watch::channel(false);

    let listener = bind_or_free(args.http_port, "HTTP").await?;
    let http = listener.local_addr()?;
    // Two stops: the front (load and ingest) first, then the workers once they have drained the topic.
    let (front_tx, front) = watch::channel(false);
    let (workers_tx, workers_stop) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let control = tokio::spawn(pacer_control::serve(
        control_config,
        control_listener,
        stopped(control_stop),
    ));

    let mut ingest_config = pacer_ingest::IngestConfig::new(&brokers, &args.topic);
    ingest_config.metrics.register(&registry)?;
    ingest_config.registry = Some(registry);
    let mut ingest = tokio::spawn(pacer_ingest::serve(
        ingest_config,
        listener,
        stopped(front.clone()),
    ));
    let mut workers = JoinSet::new();
    let mut group = String::new();
    // This run's workers are `<host>-<pid>-w<i>`: the status lines count their batches only.
    let run = pacer_worker::default_worker_id();
    for i in 0..args.workers {
        let mut config = pacer_worker::WorkerConfig::new(&brokers, &args.topic, &database_url);
        config.worker_id = format!("{run}-w{i}");
        config.metrics = worker_metrics.clone();
        config.settings = args.batch.settings();
        config.control = Some(pacer_worker::ControlLink {
            url: control_url.clone(),
            token: Some(worker_token.clone()),
            ca: None,
        });
        group.clone_from(&config.group);
        let (settings, _) = pacer_worker::SettingsHandle::new(config.settings);
        workers.spawn(pacer_worker::run(
            config,
            settings,
            stopped(workers_stop.clone()),
        ));
    }

    let console = args.console();
    let banner_info = Banner {
        http,
        brokers: &brokers,
        database_url: &database_url,
        control_url: &control_url,
        policy: &args.policy,
        admin_token: args
            .admin_token
            .is_none()
            .then(|| state_dir.join("admin.token")),
        state_dir,
        workers: args.workers,
    };
    if console {
        tracing::info!(
            ingest = %http,
            kafka = %brokers,
            control = %control_url,
            workers = args.workers,
            "pacer is up"
        );
    } else {
        banner(&banner_info);
    }

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
        tokio::spawn(generate(plan, load_stats.clone(), front.clone()));
    }

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&database_url)?;
    let status = tokio::spawn(report_status(
        pool.clone(),
        run.clone(),
        load_stats.clone(),
        workers_stop.clone(),
    ));
    // The console, when it opens, owns the screen until the operator quits it; quitting stops everything.
    let console_config = pacer_tui::TuiConfig {
        target: pacer_tui::ControlTarget {
            url: control_url.clone(),
            token: Some(admin_token),
            ca: None,
        },
        refresh: Duration::from_secs(1),
        confirm_quit: true,
    };
    let console_run = async {
        if console {
            match pacer_tui::run(console_config, std::future::pending()).await {
                Ok(()) => {
                    tracing::info!("the console was closed; stopping");
                    say(&format!(
                        "stopping (letting the workers write what the topic holds; Ctrl-C skips that); logs in {}",
                        args.log_file().display()
                    ));
                    return;
                }
                Err(e) => {
                    // The pipeline itself is fine: keep it running, as without a console.
                    tracing::error!(error = %e, "the console failed; pacer keeps running");
                    say(&format!(
                        "the console failed ({e}); pacer keeps running, Ctrl-C stops it; logs in {}",
                        args.log_file().display()
                    ));
                }
            }
        }
        std::future::pending::<()>().await
    };
    let mut ingest_ended = false;
    tokio::select! {
        () = console_run => {}
        _ = crate::shutdown::signalled() => {}
        _ = sleep_or_forever(args.run_for) => tracing::info!("--run-for elapsed; stopping"),
        result = &mut ingest => {
            ingest_ended = true;
            tracing::error!(?result, "ingest ended early; stopping");
        }
        Some(result) = workers.join_next() => {
            tracing::error!(?result, "a worker ended early; stopping");
        }
    }
    // Stop taking events, then let the workers write what the topic holds before they stop, so that a stop
    // leaves nothing behind in the broker started here.
    let _ = front_tx.send(true);
    if !ingest_ended {
        match ingest.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "ingest failed while stopping"),
            Err(e) => tracing::warn!(error = %e, "ingest task failed"),
        }
    }
    if broker.is_some() && !workers.is_empty() {
        tokio::select! {
            _ = drain(&brokers, &group, &args.topic, args.broker_storage) => {}
            _ = crate::shutdown::signalled() => tracing::warn!("second stop signal: not waiting for the workers to drain the topic"),
        }
    }
    let _ = workers_tx.send(true);
    status.abort();
    while let Some(result) = workers.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "a worker failed while stopping"),
            Err(e) => tracing::warn!(error = %e, "a worker task failed"),
        }
    }
    let _ = control_tx.send(true);
    match control.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the control plane failed"),
        Err(e) => tracing::warn!(error = %e, "the control plane task failed"),
    }
    let (_, load_acked, _) = load_stats.snapshot();
    match run_totals(&pool, &run).await {
        Ok((rows, dead_letters, _)) => {
            tracing::info!(
                rows_written = rows,
                dead_letters,
                load_acked,
                "this run's totals"
            )
        }
        Err(e) => tracing::warn!(error = %e, "cannot read this run's totals"),
    }
    if let Some(broker) = broker.as_mut() {
        broker.stop().await?;
    }
    Ok(())
}

/// Waits (up to 30 s) until the consumer group has committed everything the topic holds.
async fn drain(brokers: &str, group: &str, topic: &str, storage: BrokerStorage) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match pacer_stack::group_lag(brokers, group, topic).await {
            Ok(0) => {
                tracing::info!("the workers have written everything the topic holds");
                return;
            }
            Ok(lag) if tokio::time::Instant::now() >= deadline => {
                match storage {
                    BrokerStorage::Postgres => tracing::warn!(
                        lag,
                        "stopping with events not yet written; they stay in the broker's storage for the next run"
                    ),
                    BrokerStorage::Memory => tracing::warn!(
                        lag,
                        "stopping with events not yet written; the in-memory broker loses them"
                    ),
                }
                return;
            }
            Ok(lag) => tracing::info!(
                lag,
                "waiting for the workers to write what the topic holds (Ctrl-C again to skip)"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the consumer group's lag; not waiting");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn sleep_or_forever(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// 128 random bits from the kernel, as hex: a token for this run.
fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its mode when opened: make it private all the same.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}

async fn bind_or_free(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    crate::listen::bind_or_free(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), what).await
}

/// A line for the person who ran `pacer up` while the console has (or had) the screen and the logs go to
/// a file: starting, stopping, the console's failure.
#[allow(
    clippy::print_stderr,
    reason = "with the logs in a file, this is how pacer up tells the person who ran it what happens"
)]
fn say(line: &str) {
    eprintln!("pacer: {line}");
}

/// What the banner shows.
struct Banner<'a> {
    http: SocketAddr,
    brokers: &'a str,
    database_url: &'a str,
    control_url: &'a str,
    policy: &'a PolicyArgs,
    admin_token: Option<PathBuf>,
    state_dir: &'a std::path::Path,
    workers: usize,
}

#[allow(
    clippy::print_stdout,
    reason = "the banner is pacer up's output to the person who ran it"
)]
fn banner(b: &Banner<'_>) {
    let http = b.http;
    println!();
    println!("pacer is up");
    println!("  ingest      http://{http}/v1/events   (health: /healthz, /readyz)");
    println!("  metrics     http://{http}/metrics     (Prometheus, the whole process)");
    println!("  kafka       {}", b.brokers);
    println!("  postgres    {}", b.database_url);
    println!(
        "  control     {}   (gRPC; policy {}, {})",
        b.control_url,
        b.policy.policy,
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

/// What this run's workers (ids `<run>-w<i>`) have written: rows, dead letters, and the latest lag.
async fn run_totals(pool: &sqlx::PgPool, run: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    let (rows, invalid, lag): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT sum(rows_written)::bigint, sum(invalid)::bigint, \
         (SELECT sum(lag)::bigint FROM (SELECT DISTINCT ON (worker_id) lag FROM batch_metrics \
          WHERE worker_id LIKE $1 ORDER BY worker_id, id DESC) latest) \
         FROM batch_metrics WHERE worker_id LIKE $1",
    )
    .bind(format!("{run}-w%"))
    .fetch_one(pool)
    .await?;
    Ok((rows.unwrap_or(0), invalid.unwrap_or(0), lag.unwrap_or(0)))
}

/// Every 5 s: what was posted, what was written, what was dead-lettered.
async fn report_status(
    pool: sqlx::PgPool,
    run: String,
    load: Arc<LoadStats>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut last_rows = 0i64;
    tick.tick().await;
    while !*stop.borrow() {
        tick.tick().await;
        let (sent, acked, failed) = load.snapshot();
        match run_totals(&pool, &run).await {
            Ok((rows, dead_letters, lag)) => {
                tracing::info!(
                    load_sent = sent,
                    load_acked = acked,
                    load_failed = failed,
                    rows_written = rows,
                    rows_per_s = (rows - last_rows) / 5,
                    dead_letters,
                    lag,
                    "pipeline status"
                );
                last_rows = rows;
            }
            Err(e) => tracing::debug!(error = %e, "status query failed"),
        }
    }
}
