//! `pacer bench scale`: the control plane's advice on workers, followed. One worker on a topic of 8
//! partitions gets 150 % of the rate it sustains; the advice names k workers; the benchmark starts k − 1
//! more and reports whether, and how fast, the lag stops growing and drains.
//!
//! A trigger makes each row cost PostgreSQL a fixed time (`--row-cost`), so that a worker, not the two
//! cores of the machine, is what limits the rate: more workers then add capacity, as they would on a
//! machine with cores to spare.

use crate::duration::parse_duration;
use crate::load::{LoadPlan, LoadStats, Profile, generate};
use clap::Args;
use pacer_proto::v1 as pb;
use pacer_stack::Broker;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Partitions of the topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// What each row costs PostgreSQL (a trigger sleeps this long per row).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    row_cost: Duration,
    /// The offered load, as a multiple of the rate one worker sustains (measured first).
    #[arg(long, default_value_t = 1.5)]
    overload: f64,
    /// How long the one worker runs under the load before the advice is followed.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    before: Duration,
    /// How long the lag may take to drain once the advice is followed.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    drain_within: Duration,
    /// The most rows a batch may hold (the policy's bound, and the workers' own before the first push), so
    /// that batches report often.
    #[arg(long, default_value_t = 500)]
    max_rows: u64,
}

/// One sample of the run, every 2 s.
struct Sample {
    at: Duration,
    workers: usize,
    acked_per_s: f64,
    rows_per_s: f64,
    lag: i64,
    /// What the control plane sees: arrivals/s and the backlog the workers report.
    seen_arrival: f64,
    seen_lag: i64,
    needed: u32,
    advice: String,
}

/// What the control plane's latest snapshot says.
#[derive(Default)]
struct Seen {
    arrival: f64,
    lag: i64,
    needed: u32,
    advice: String,
}

/// The shared parts: PostgreSQL with the slow rows and the broker. Each phase (calibration, the run) has
/// its own topic, ingest and control plane: the control plane names partitions by number only, so one
/// that had seen the calibration's topic would take the run's partitions for the same ones.
struct Rig {
    pg: pacer_stack::PrivatePostgres,
    _dir: tempfile::TempDir,
    broker: Broker,
    pool: PgPool,
    /// Stops every phase's ingest and control plane.
    stop: watch::Sender<bool>,
}

impl Rig {
    /// Resolves once the rig stops.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    }
}

pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    let mut rig = rig(&args).await?;
    let outcome = measure(&rig, &args).await;
    rig.stop.send_replace(true);
    rig.broker.stop().await?;
    rig.pg.stop().await?;
    let (samples, scaled_at, offered) = outcome?;
    print(&samples, scaled_at, offered);
    Ok(())
}

/// What one worker sustains, then the run that follows the advice: the samples, when the advice was
/// followed and the rate offered.
#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
async fn measure(rig: &Rig, args: &ScaleArgs) -> anyhow::Result<(Vec<Sample>, Duration, f64)> {
    let one = sustained(rig, args).await?;
    let offered = one * args.overload;
    println!(
        "\nScale advice, followed: one worker sustains {one:.0} rows/s (each row costs PostgreSQL {:?}); offered {offered:.0} events/s ({:.0} %), {} partitions\n",
        args.row_cost,
        args.overload * 100.0,
        args.partitions
    );
    let (samples, scaled_at) = follow_the_advice(rig, args, offered).await?;
    Ok((samples, scaled_at, offered))
}

async fn rig(args: &ScaleArgs) -> anyhow::Result<Rig> {
    let (pg, dir, broker, pool) = super::pipeline_rig().await?;
    let seconds = args.row_cost.as_secs_f64();
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$; \
         CREATE TRIGGER slow_row BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow_row();"
    ))
    .execute(&pool)
    .await?;

    let (stop, _) = watch::channel(false);
    Ok(Rig {
        pg,
        _dir: dir,
        broker,
        pool,
        stop,
    })
}

/// A control plane of its own for a phase, serving until the rig stops; its URL.
async fn control_plane(rig: &Rig, args: &ScaleArgs) -> anyhow::Result<String> {
    let settings = pacer_policy::Settings {
        interval: Duration::from_millis(100),
        max_rows: args.max_rows,
        max_bytes: 16 << 20,
    };
    let bounds = pacer_policy::Bounds {
        min_rows: 10.min(args.max_rows),
        max_rows: args.max_rows,
        cold_start: settings,
        ..pacer_policy::Bounds::default()
    };
    let policy = pacer_policy::PolicyConfig::new(
        pacer_policy::PolicyKind::Model,
        &Default::default(),
        bounds,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let control_url = format!("http://{}", listener.local_addr()?);
    let config = super::control_config(rig.pg.url(), policy);
    let stopped = rig.stopped();
    tokio::spawn(async move {
        if let Err(e) = pacer_control::serve(config, listener, stopped).await {
            tracing::error!(error = %e, "the control plane failed");
        }
    });
    super::control::wait_for(&control_url).await?;
    Ok(control_url)
}

/// Ingest on `topic` (created with `partitions`), serving until the rig stops; its URL.
async fn ingest(rig: &Rig, topic: &str, partitions: i32) -> anyhow::Result<String> {
    let brokers = rig.broker.bootstrap();
    pacer_stack::create_topic(&brokers, topic, partitions).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = pacer_ingest::IngestConfig::new(&brokers, topic);
    let stopped = rig.stopped();
    tokio::spawn(async move {
        if let Err(e) = pacer_ingest::serve(config, listener, stopped).await {
            tracing::error!(error = %e, "ingest failed");
        }
    });
    Ok(url)
}

fn load(url: String, rate: f64, stats: Arc<LoadStats>, stop: watch::Receiver<bool>) {
    let plan = LoadPlan {
        url,
        profile: Profile::constant(rate, Duration::from_secs(3600)),
        batch: 100,
        concurrency: 32,
    };
    tokio::spawn(generate(plan, stats, stop));
}

async fn rows(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

/// A phase's topic, with its ingest and control plane.
struct Phase {
    topic: &'static str,
    ingest: String,
    control: String,
}

impl Phase {
    async fn start(rig: &Rig, args: &ScaleArgs, topic: &'static str) -> anyhow::Result<Phase> {
        Ok(Phase {
            topic,
            ingest: ingest(rig, topic, args.partitions).await?,
            control: control_plane(rig, args).await?,
        })
    }

    /// Worker `i` of the phase, starting at the bounded batch size.
    fn worker(
        &self,
        rig: &Rig,
        args: &ScaleArgs,
        i: usize,
    ) -> anyhow::Result<tokio::process::Child> {
        let max_rows = args.max_rows.to_string();
        super::worker_process(
            &rig.broker.bootstrap(),
            self.topic,
            &format!("{}-w{i}", self.topic),
            &rig.pg.url(),
            &self.control,
            &["--max-rows", &max_rows],
        )
    }
}

/// Rows/s one worker writes while offered three times what the row cost allows.
async fn sustained(rig: &Rig, args: &ScaleArgs) -> anyhow::Result<f64> {
    let phase = Phase::start(rig, args, "scale-calibration").await?;
    let url = phase.ingest.clone();
    let mut workers = vec![phase.worker(rig, args, 0)?];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let offered = 3.0 / args.row_cost.as_secs_f64().max(1e-6);
    tracing::info!(offered, "measuring what one worker sustains: 25 s of load");
    let (stop_tx, stop) = watch::channel(false);
    load(url, offered, Arc::new(LoadStats::default()), stop);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t0, r0) = (Instant::now(), rows(&rig.pool).await?);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let rate = (rows(&rig.pool).await? - r0) as f64 / t0.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    super::stop_workers(&mut workers).await;
    sqlx::query("TRUNCATE events, dead_letters, batch_metrics")
        .execute(&rig.pool)
        .await?;
    anyhow::ensure!(rate > 0.0, "the worker wrote nothing while calibrating");
    Ok(rate)
}

/// The control plane's latest snapshot: arrivals, backlog and the scale advice.
async fn seen(url: &str) -> anyhow::Result<Seen> {
    let mut admin = pb::admin_client::AdminClient::connect(url.to_owned()).await?;
    let snapshot = admin
        .get_pipeline(pb::GetPipelineRequest {})
        .await?
        .into_inner()
        .snapshot
        .unwrap_or_default();
    let recent = snapshot.recent_batches.unwrap_or_default();
    let scale = recent.scale.unwrap_or_default();
    Ok(Seen {
        arrival: recent.arrival_per_s.unwrap_or(0.0),
        lag: snapshot.totals.map_or(0, |t| t.lag),
        needed: scale.workers_needed,
        advice: scale.advice,
    })
}

/// One worker under the overload until `--before`, then k − 1 more, k from the advice then; samples
/// until the lag has drained (or `--drain-within` passes). Returns the samples and when it scaled.
async fn follow_the_advice(
    rig: &Rig,
    args: &ScaleArgs,
    offered: f64,
) -> anyhow::Result<(Vec<Sample>, Duration)> {
    let phase = Phase::start(rig, args, "scale").await?;
    let (url, topic, control_url) = (phase.ingest.clone(), phase.topic, phase.control.clone());
    let brokers = rig.broker.bootstrap();
    let spawn = |i: usize| phase.worker(rig, args, i);
    let mut workers = vec![spawn(0)?];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = Arc::new(LoadStats::default());
    let (stop_tx, stop) = watch::channel(false);
    load(url, offered, stats.clone(), stop);

    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut scaled_at = None;
    let (mut last_acked, mut last_rows, mut last_at) = (0u64, 0i64, Duration::ZERO);
    let result = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let at = start.elapsed();
        let (_, acked, _) = stats.snapshot();
        let written = rows(&rig.pool).await?;
        let lag = pacer_stack::group_lag(&brokers, topic, topic).await?;
        let seen = seen(&control_url).await.unwrap_or_default();
        let span = (at - last_at).as_secs_f64();
        let sample = Sample {
            at,
            workers: workers.len(),
            acked_per_s: (acked - last_acked) as f64 / span,
            rows_per_s: (written - last_rows) as f64 / span,
            lag,
            seen_arrival: seen.arrival,
            seen_lag: seen.lag,
            needed: seen.needed,
            advice: seen.advice,
        };
        (last_acked, last_rows, last_at) = (acked, written, at);
        tracing::info!(at = ?at, workers = sample.workers, lag, needed = sample.needed, "sample");
        samples.push(sample);
        match scaled_at {
            None if at >= args.before => {
                let k = samples.last().map_or(1, |s| s.needed.max(1) as usize);
                tracing::info!(k, "following the advice: starting {} more workers", k - 1);
                for i in workers.len()..k {
                    workers.push(spawn(i)?);
                }
                scaled_at = Some(at);
            }
            Some(scaled) if drained(&samples, offered) || at - scaled > args.drain_within => {
                break Ok((samples, scaled));
            }
            _ => {}
        }
    };
    let _ = stop_tx.send(true);
    super::stop_workers(&mut workers).await;
    result
}

/// The lag is back under two seconds of arrivals, two samples running: what the workers' batches in
/// flight hold once the backlog is gone (about one batch per worker).
fn drained(samples: &[Sample], offered: f64) -> bool {
    samples.len() >= 2
        && samples[samples.len() - 2..]
            .iter()
            .all(|s| (s.lag as f64) <= 2.0 * offered)
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
fn print(samples: &[Sample], scaled_at: Duration, offered: f64) {
    println!(
        "| t s | workers | acknowledged/s | written/s | lag | control plane: arrivals/s | its lag | workers needed | advice |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for s in samples {
        println!(
            "| {:.0} | {} | {:.0} | {:.0} | {} | {:.0} | {} | {} | {} |",
            s.at.as_secs_f64(),
            s.workers,
            s.acked_per_s,
            s.rows_per_s,
            s.lag,
            s.seen_arrival,
            s.seen_lag,
            s.needed,
            s.advice
        );
    }
    let at_scale = samples.iter().find(|s| s.at >= scaled_at);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= scaled_at).collect();
    let peak = after.iter().max_by_key(|s| s.lag);
    let drained_at = drained(samples, offered).then(|| samples.last().map(|s| s.at));
    println!();
    if let Some(s) = at_scale {
        println!(
            "- followed at {:.0} s: the advice said {} workers ({}); lag {}",
            s.at.as_secs_f64(),
            s.needed,
            s.advice,
            s.lag
        );
    }
    if let Some(p) = peak {
        println!(
            "- the lag peaked at {} records, {:.0} s after the new workers started",
            p.lag,
            (p.at - scaled_at).as_secs_f64()
        );
    }
    match drained_at.flatten() {
        Some(at) => println!(
            "- drained (lag ≤ two seconds of arrivals, twice running) {:.0} s after the new workers started",
            (at - scaled_at).as_secs_f64()
        ),
        None => println!("- the lag did not drain within the time allowed"),
    }
}
