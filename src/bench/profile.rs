//! The standard load profile on the real pipeline (nisshi, PostgreSQL, the control plane, ingest and
//! workers, all on this machine), once per contender: the adaptive policies and static intervals. Rates are
//! fractions of the sustainable rate, measured first in the same run unless given. Per phase it reports the
//! p50/p99 end-to-end latency of the events (ingest's `ingested_at` to the worker's `processed_at`), the
//! peak lag, the rows written and the setting changes.

use crate::load::{LoadPlan, LoadStats, Phase, Profile, generate};
use anyhow::Context;
use clap::Args;
use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use pacer_stack::{Broker, BrokerOptions};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The contenders: policy names, and `static:DURATION` for a static interval.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "model,static:25ms,static:100ms,static:500ms,static:2s"
    )]
    contenders: Vec<Contender>,
    /// How long each phase lasts.
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse_duration)]
    phase: Duration,
    /// The sustainable rate (events/s) the phases are fractions of; measured first when left out.
    #[arg(long)]
    rate: Option<f64>,
    /// Load at the first phase's rate before the profile, not measured: the policies leave their cold start
    /// (the workers start at 500 ms) before the first phase counts.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse_duration)]
    warmup: Duration,
    /// Workers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Partitions of each contender's topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Where the plot goes: latency and interval over time, one line per contender (SVG).
    #[arg(long, default_value = "pacer-profile.svg")]
    plot: std::path::PathBuf,
}

/// A policy to run the profile under.
#[derive(Debug, Clone)]
pub struct Contender {
    name: String,
    policy: PolicyConfig,
}

impl std::str::FromStr for Contender {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, params) = match text.strip_prefix("static:") {
            Some(interval) => {
                let interval = crate::duration::parse_duration(interval)?;
                let ms = interval.as_secs_f64() * 1e3;
                (
                    PolicyKind::Static,
                    BTreeMap::from([("interval_ms".to_owned(), ms)]),
                )
            }
            None => (
                text.parse::<PolicyKind>().map_err(|e| e.to_string())?,
                BTreeMap::new(),
            ),
        };
        let policy =
            PolicyConfig::new(kind, &params, Bounds::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            name: text.to_owned(),
            policy,
        })
    }
}

/// The standard profile's phases: name and fraction of the sustainable rate.
const PHASES: [(&str, f64); 4] = [
    ("idle", 0.02),
    ("spike", 0.9),
    ("steady", 0.3),
    ("idle", 0.02),
];

/// One phase's figures.
#[derive(Debug, Clone)]
struct PhaseResult {
    name: &'static str,
    rate: f64,
    p50: f64,
    p99: f64,
    rows: i64,
    peak_lag: i64,
    changes: i64,
}

/// A shared private PostgreSQL and broker for the whole run.
struct Rig {
    pg: pacer_stack::PrivatePostgres,
    _dir: tempfile::TempDir,
    broker: Broker,
    pool: PgPool,
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: ProfileArgs) -> anyhow::Result<()> {
    let (pg, dir) = super::private_postgres().await?;
    let broker = Broker::start(BrokerOptions::in_memory(
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
    let mut rig = Rig {
        pg,
        _dir: dir,
        broker,
        pool,
    };

    let rate = match args.rate {
        Some(rate) => rate,
        None => calibrate(&rig, &args).await?,
    };
    println!(
        "\nStandard profile on the real pipeline: sustainable rate {rate:.0} events/s, phases of {:?} after {:?} of warm-up, {} workers, {} partitions\n",
        args.phase, args.warmup, args.workers, args.partitions
    );
    let mut results = Vec::new();
    let mut lines = Vec::new();
    for (i, contender) in args.contenders.iter().enumerate() {
        let phases: Vec<Phase> = PHASES
            .iter()
            .map(|(_, f)| Phase {
                rate: rate * f,
                duration: args.phase,
            })
            .collect();
        let (result, line) = run_contender(&rig, &args, i, contender, Profile(phases)).await?;
        results.push((contender.name.clone(), result));
        lines.push(line);
    }
    print_results(&results);
    let mut spans = Vec::new();
    let mut from = 0.0;
    for (name, _) in PHASES {
        let to = from + args.phase.as_secs_f64();
        spans.push(super::plot::PhaseSpan { name, from, to });
        from = to;
    }
    let title = format!(
        "pacer: the standard profile on the real pipeline (sustainable rate {rate:.0} events/s, {} workers)",
        args.workers
    );
    super::plot::write_svg(&args.plot, &title, &spans, &lines)?;
    println!("\nThe plot: {}", args.plot.display());
    rig.broker.stop().await?;
    rig.pg.stop().await?;
    Ok(())
}

/// The sustainable rate: rows/s written while the offered load is well above what the pipeline can take,
/// under a long static interval (which amortises each batch's fixed cost best). An offered load that the
/// pipeline keeps up with proves nothing, so it is tripled until the pipeline falls behind.
async fn calibrate(rig: &Rig, args: &ProfileArgs) -> anyhow::Result<f64> {
    let contender: Contender = "static:1s".parse().map_err(anyhow::Error::msg)?;
    let mut offered = 40_000.0;
    for attempt in 0..3 {
        tracing::info!(
            offered,
            "measuring the sustainable rate: 20 s of load, interval 1 s"
        );
        let stack = start(rig, args, 990 + attempt, &contender).await?;
        let stats = Arc::new(LoadStats::default());
        let (stop_tx, stop) = watch::channel(false);
        let profile = Profile::constant(offered, Duration::from_secs(20));
        let load = tokio::spawn(generate(plan(&stack.http, profile), stats, stop));
        tokio::time::sleep(Duration::from_secs(8)).await;
        let (t0, r0) = (std::time::Instant::now(), count(&rig.pool).await?);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rate = (count(&rig.pool).await? - r0) as f64 / t0.elapsed().as_secs_f64();
        let _ = stop_tx.send(true);
        let _ = load.await;
        stack.stop().await;
        tracing::info!(offered, rate, "written under load");
        anyhow::ensure!(rate > 0.0, "nothing was written while calibrating");
        if rate < 0.8 * offered {
            return Ok(rate);
        }
        offered *= 3.0;
    }
    anyhow::bail!("the pipeline kept up with every load offered; give the rate with --rate")
}

fn plan(http: &str, profile: Profile) -> LoadPlan {
    LoadPlan {
        url: http.to_owned(),
        profile,
        batch: 100,
        concurrency: 32,
    }
}

async fn count(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

/// Ingest, the control plane and the workers of one contender, on a topic and group of its own.
struct Running {
    http: String,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    topic: String,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn start(
    rig: &Rig,
    args: &ProfileArgs,
    index: usize,
    contender: &Contender,
) -> anyhow::Result<Running> {
    sqlx::query("TRUNCATE events, dead_letters, batch_metrics")
        .execute(&rig.pool)
        .await?;
    let brokers = rig.broker.bootstrap();
    let topic = format!("profile-{index}");
    pacer_stack::create_topic(&brokers, &topic, args.partitions).await?;
    let (stop, rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();

    let control_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let control_url = format!("http://{}", control_listener.local_addr()?);
    let control = pacer_control::ControlConfig {
        metrics: pacer_control::ControlMetrics::new(),
        database_url: rig.pg.url(),
        worker_token: pacer_control::Token::new(None),
        admin_token: pacer_control::Token::new(None),
        policy: contender.policy.clone(),
        mode: pacer_control::Mode::Enforce,
        heartbeat: Duration::from_secs(1),
        lost_after: Duration::from_secs(5),
        forget_after: Duration::from_secs(600),
        min_gap: Duration::from_secs(1),
        hysteresis: 0.1,
        tls: None,
    };
    let done = stopped();
    tasks.spawn(async move {
        if let Err(e) = pacer_control::serve(control, control_listener, done).await {
            tracing::error!(error = %e, "the control plane failed");
        }
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = format!("http://{}", listener.local_addr()?);
    let ingest = pacer_ingest::IngestConfig::new(&brokers, &topic);
    let done = stopped();
    tasks.spawn(async move {
        if let Err(e) = pacer_ingest::serve(ingest, listener, done).await {
            tracing::error!(error = %e, "ingest failed");
        }
    });
    for w in 0..args.workers {
        let mut config = pacer_worker::WorkerConfig::new(&brokers, &topic, rig.pg.url());
        config.group = topic.clone();
        config.worker_id = format!("{topic}-w{w}");
        config.settings.interval = Duration::from_millis(500);
        config.control = Some(pacer_worker::ControlLink {
            url: control_url.clone(),
            token: None,
            ca: None,
        });
        let (settings, _) = pacer_worker::SettingsHandle::new(config.settings);
        let done = stopped();
        tasks.spawn(async move {
            if let Err(e) = pacer_worker::run(config, settings, done).await {
                tracing::error!(error = %e, "a worker failed");
            }
        });
    }
    // Let the workers join the group before the first events.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(Running {
        http,
        stop,
        tasks,
        topic,
    })
}

async fn run_contender(
    rig: &Rig,
    args: &ProfileArgs,
    index: usize,
    contender: &Contender,
    profile: Profile,
) -> anyhow::Result<(Vec<PhaseResult>, super::plot::Series)> {
    tracing::info!(contender = %contender.name, "running the standard profile");
    let stack = start(rig, args, index, contender).await?;
    // The control plane created its table by now; earlier contenders' decisions go.
    sqlx::query("DELETE FROM policy_decisions")
        .execute(&rig.pool)
        .await
        .context("the control plane's table")?;
    let stats = Arc::new(LoadStats::default());
    let (_stop_load, stop) = watch::channel(false);
    let mut with_warmup = profile.clone();
    if let Some(first) = profile.0.first()
        && !args.warmup.is_zero()
    {
        with_warmup.0.insert(
            0,
            Phase {
                rate: first.rate,
                duration: args.warmup,
            },
        );
    }
    let began = OffsetDateTime::now_utc() + args.warmup;
    generate(plan(&stack.http, with_warmup), stats.clone(), stop).await;
    // Give the workers up to 30 s to write what is left; what they cannot is the backlog the policy left.
    let group = stack.topic.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match pacer_stack::group_lag(&rig.broker.bootstrap(), &group, &stack.topic).await {
            Ok(0) => break,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    stack.stop().await;
    let (_, acked, failed) = stats.snapshot();
    let written = count(&rig.pool).await?;
    tracing::info!(contender = %contender.name, acked, failed, written, "profile done");

    let mut results = Vec::new();
    let mut from = began;
    for (i, phase) in profile.0.iter().enumerate() {
        let to = from + phase.duration;
        results.push(measure(&rig.pool, PHASES[i].0, phase.rate, from, to).await?);
        from = to;
    }
    let line = over_time(&rig.pool, &contender.name, began, from).await?;
    Ok((results, line))
}

/// A contender's latency and interval, second by second from `from` to `to`.
async fn over_time(
    pool: &PgPool,
    name: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<super::plot::Series> {
    let p99_ms: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM ingested_at - $1))::float8 AS s, \
         1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)) \
         FROM events WHERE ingested_at >= $1 AND ingested_at < $2 GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let interval_ms: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM finished_at - $1))::float8 AS s, avg(interval_ms)::float8 \
         FROM batch_metrics WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(super::plot::Series {
        name: name.to_owned(),
        p99_ms,
        interval_ms,
    })
}

async fn measure(
    pool: &PgPool,
    name: &'static str,
    rate: f64,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<PhaseResult> {
    let (p50, p99, rows): (Option<f64>, Option<f64>, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)), \
         percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - ingested_at)), count(*) \
         FROM events WHERE ingested_at >= $1 AND ingested_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let peak_lag: Option<i64> = sqlx::query_scalar(
        "SELECT max(total)::bigint FROM (SELECT s, sum(l) AS total FROM (SELECT date_trunc('second', finished_at) AS s, \
         worker_id, max(lag) AS l FROM batch_metrics WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1, 2) per_worker \
         GROUP BY s) per_second",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM policy_decisions WHERE at >= $1 AND at < $2 AND mode = 'enforce'",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(PhaseResult {
        name,
        rate,
        p50: p50.unwrap_or(f64::NAN) * 1e3,
        p99: p99.unwrap_or(f64::NAN) * 1e3,
        rows,
        peak_lag: peak_lag.unwrap_or(0),
        changes,
    })
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
fn print_results(results: &[(String, Vec<PhaseResult>)]) {
    println!(
        "| contender | phase | rate/s | rows | e2e p50 ms | e2e p99 ms | peak lag | changes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, phases) in results {
        for p in phases {
            println!(
                "| {name} | {} | {:.0} | {} | {:.0} | {:.0} | {} | {} |",
                p.name, p.rate, p.rows, p.p50, p.p99, p.peak_lag, p.changes
            );
        }
    }
    // Each adaptive contender's p99 against the best static interval's, phase by phase.
    let statics: Vec<&(String, Vec<PhaseResult>)> = results
        .iter()
        .filter(|(n, _)| n.starts_with("static:"))
        .collect();
    if statics.is_empty() {
        return;
    }
    println!();
    println!("| adaptive | phase | its p99 ms | best static | best static p99 ms | ratio |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, phases) in results.iter().filter(|(n, _)| !n.starts_with("static:")) {
        for (i, p) in phases.iter().enumerate() {
            let best = statics
                .iter()
                .filter_map(|(n, s)| s.get(i).map(|s| (n, s.p99)))
                .filter(|(_, p99)| p99.is_finite())
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((best_name, best_p99)) = best {
                println!(
                    "| {name} | {} | {:.0} | {best_name} | {best_p99:.0} | {:.2} |",
                    p.name,
                    p.p99,
                    p.p99 / best_p99
                );
            }
        }
    }
}
