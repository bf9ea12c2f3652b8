//! Running contenders on the rig: calibrating the sustainable rate, and one contender's own ingest, control
//! plane and workers under the profile's load until what is left is written.

use super::contender::Contender;
use super::cost::{self, Sampler};
use super::measure::{PhaseResult, measure, over_time};
use super::{PHASES, ProfileArgs, Rig};
use crate::load::{LoadPlan, LoadStats, Phase, Profile, generate};
use anyhow::Context;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// The sustainable rate: rows/s written while the offered load is well above what the pipeline can take,
/// under a long static interval (which amortises each batch's fixed cost best). An offered load that the
/// pipeline keeps up with proves nothing, so it is tripled until the pipeline falls behind.
pub(super) async fn calibrate(rig: &Rig, args: &ProfileArgs) -> anyhow::Result<f64> {
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
        let load = tokio::spawn(generate(
            plan(&stack.http, profile, args.batch as usize),
            stats,
            stop,
        ));
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

fn plan(http: &str, profile: Profile, batch: usize) -> LoadPlan {
    LoadPlan {
        url: http.to_owned(),
        profile,
        batch,
        concurrency: 32,
    }
}

async fn count(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

/// Ingest, the control plane and the workers of one contender, on a topic and group of its own. The
/// workers are `pacer worker` processes, so that their CPU is theirs alone.
struct Running {
    http: String,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    workers: Vec<tokio::process::Child>,
    topic: String,
}

impl Running {
    fn worker_pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter_map(tokio::process::Child::id)
            .collect()
    }

    async fn stop(mut self) {
        // The workers first, as an operator stops them, while the control plane still answers.
        super::super::stop_workers(&mut self.workers).await;
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
    let control = super::super::control_config(rig.pg.url(), contender.policy.clone());
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
    let workers = (0..args.workers)
        .map(|w| {
            let id = format!("{topic}-w{w}");
            super::super::worker_process(&brokers, &topic, &id, &rig.pg.url(), &control_url, &[])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Let the workers join the group before the first events.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(Running {
        http,
        stop,
        tasks,
        workers,
        topic,
    })
}

pub(super) async fn run_contender(
    rig: &Rig,
    args: &ProfileArgs,
    index: usize,
    contender: &Contender,
    profile: Profile,
) -> anyhow::Result<(Vec<PhaseResult>, crate::bench::plot::Series)> {
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
    let postmaster = crate::bench::procstat::postmaster(&rig.pg)?;
    let sampler = Sampler::start(rig.pool.clone(), stack.worker_pids(), postmaster);
    generate(
        plan(&stack.http, with_warmup, args.batch as usize),
        stats.clone(),
        stop,
    )
    .await;
    // Give the workers up to 30 s to write what is left; what they cannot is the backlog the policy left.
    let group = stack.topic.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match pacer_stack::group_lag(&rig.broker.bootstrap(), &group, &stack.topic).await {
            Ok(0) => break,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let readings = sampler.finish().await;
    stack.stop().await;
    let (_, acked, failed) = stats.snapshot();
    let written = count(&rig.pool).await?;
    tracing::info!(contender = %contender.name, acked, failed, written, "profile done");

    let mut results = Vec::new();
    let mut from = began;
    for (i, phase) in profile.0.iter().enumerate() {
        let to = from + phase.duration;
        let cost = cost::between(&readings, from, to);
        results.push(measure(&rig.pool, PHASES[i].0, phase.rate, (from, to), cost).await?);
        from = to;
    }
    let line = over_time(&rig.pool, &contender.name, began, from).await?;
    Ok((results, line))
}
