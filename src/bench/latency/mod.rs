//! `pacer bench latency`: the freshness budget of single events on `pacer up`'s default stack (the broker
//! keeping its log in PostgreSQL), stage by stage, p50/p99: receipt → broker acknowledgement (ingest's
//! answer), receipt → fetched by the worker, fetched → batch closed, transform, write and commit, and the
//! whole receipt → commit. In the same run, a plain rdkafka producer and consumer on the same broker with
//! the same client settings give the reference: what the broker and the clients cost alone.

mod reference;

use super::{private_postgres, weighted_quantile};
use crate::cmd::BrokerStorage;
use clap::Args;
use pacer_stack::{Broker, BrokerOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Events per second, each posted alone.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long the measured load lasts (after 5 s of warm-up).
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse_duration)]
    duration: Duration,
    /// Where the broker keeps its log: postgres (durable, `pacer up`'s default) or memory.
    #[arg(long, value_enum, default_value = "postgres")]
    broker_storage: BrokerStorage,
    /// The worker's batch interval.
    #[arg(long, default_value = "10ms", value_parser = crate::duration::parse_duration)]
    interval: Duration,
}

const TOPIC: &str = "latency";
const WARMUP: Duration = Duration::from_secs(5);

/// A sorted sample's nearest-rank quantile, in ms.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: LatencyArgs) -> anyhow::Result<()> {
    let (pg, dir) = private_postgres().await?;
    let nisshi = pacer_stack::find_nisshi()?;
    let log = dir.path().join("nisshi.log");
    let options = match args.broker_storage {
        BrokerStorage::Memory => BrokerOptions::in_memory(nisshi, 0, log),
        BrokerStorage::Postgres => {
            pg.ensure_database("nisshi").await?;
            BrokerOptions::in_postgres(nisshi, 0, log, &pg.url_for("nisshi"))
        }
    };
    let mut broker = Broker::start(options).await?;
    let brokers = broker.bootstrap();
    pacer_stack::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
    pacer_stack::create_topic(&brokers, TOPIC, 4).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg.url())
        .await?;
    pacer_worker::MIGRATOR.run(&pool).await?;

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    let ingest = pacer_ingest::IngestConfig::new(&brokers, TOPIC);
    let linger = ingest.linger;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/v1/events", listener.local_addr()?);
    let ingest = tokio::spawn(pacer_ingest::serve(ingest, listener, stopped()));
    let mut config = pacer_worker::WorkerConfig::new(&brokers, TOPIC, pg.url());
    config.group = TOPIC.to_owned();
    config.worker_id = "latency".to_owned();
    config.settings.interval = args.interval;
    let (settings, _) = pacer_worker::SettingsHandle::new(config.settings);
    let worker = tokio::spawn(pacer_worker::run(config, settings, stopped()));

    super::ingest::wait_ready(&reqwest::Client::new(), &endpoint).await?;
    tracing::info!(rate = args.rate, "warming up");
    post(&endpoint, args.rate, WARMUP).await?;
    let measured_from = OffsetDateTime::now_utc();
    tracing::info!(rate = args.rate, duration = ?args.duration, "measuring");
    let acknowledged = post(&endpoint, args.rate, args.duration).await?;
    anyhow::ensure!(
        !acknowledged.is_empty(),
        "ingest acknowledged no event while measuring"
    );
    // What is left is written within a few intervals; wait for the group to catch up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && pacer_stack::group_lag(&brokers, TOPIC, TOPIC).await.ok() != Some(0)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_tx.send(true);
    worker.await??;
    ingest.await??;
    let stages = budget(&pool, measured_from).await?;

    tracing::info!("the reference: a plain rdkafka producer and consumer");
    let fetch_wait = pacer_worker::FETCH_WAIT;
    let reference = reference::round_trip(
        &brokers,
        "latency-reference",
        args.rate,
        args.duration,
        (linger, fetch_wait),
    )
    .await?;
    broker.stop().await?;
    pg.stop().await?;

    println!(
        "\nFreshness budget: {} single events/s for {:?}, broker log in {}, worker interval {:?}, linger {linger:?}, fetch wait {fetch_wait:?}\n",
        args.rate,
        args.duration,
        match args.broker_storage {
            BrokerStorage::Postgres => "PostgreSQL",
            BrokerStorage::Memory => "memory",
        },
        args.interval
    );
    println!("| stage | p50 ms | p99 ms |");
    println!("| --- | --- | --- |");
    let row = |name: &str, p50: f64, p99: f64| println!("| {name} | {p50:.1} | {p99:.1} |");
    let ack = [
        quantile_ms(&acknowledged, 0.5),
        quantile_ms(&acknowledged, 0.99),
    ];
    row(
        "receipt → broker acknowledgement (ingest's answer)",
        ack[0],
        ack[1],
    );
    row(
        "receipt → fetched by the worker",
        stages.fetch[0],
        stages.fetch[1],
    );
    println!(
        "| acknowledgement → fetched (difference of the medians) | {:.1} | |",
        stages.fetch[0] - ack[0]
    );
    row("fetched → batch closed", stages.close[0], stages.close[1]);
    row(
        "transform (per batch)",
        stages.transform[0],
        stages.transform[1],
    );
    row(
        "write and PostgreSQL commit (per batch)",
        stages.write[0],
        stages.write[1],
    );
    row(
        "receipt → commit, whole",
        stages.commit[0],
        stages.commit[1],
    );
    let (acked, consumed) = (&reference.acknowledged, &reference.consumed);
    row(
        "reference: rdkafka produce → acknowledgement",
        quantile_ms(acked, 0.5),
        quantile_ms(acked, 0.99),
    );
    row(
        "reference: rdkafka produce → consumed",
        quantile_ms(consumed, 0.5),
        quantile_ms(consumed, 0.99),
    );
    println!(
        "\nPer-batch figures are weighted by the batch's records ({} batches); the percentiles of a stage are of the batches' own percentiles.",
        stages.batches
    );
    Ok(())
}

/// Posts one event every 1/`rate` s for `duration`, each on its own; the latencies of the acknowledged
/// ones, sorted. An event that is not acknowledged (ingest answers 503 while it cannot reach the broker)
/// is counted and said, not measured.
async fn post(endpoint: &str, rate: f64, duration: Duration) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let run = format!("{:08x}", fastrand::u32(..));
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    let mut requests = tokio::task::JoinSet::new();
    for seq in 0..total {
        tick.tick().await;
        let body = crate::load::Events::Generic
            .event(&run, seq, OffsetDateTime::now_utc())
            .to_string();
        let (client, endpoint, latencies) =
            (client.clone(), endpoint.to_owned(), latencies.clone());
        requests.spawn(async move {
            let sent = Instant::now();
            let answer = client
                .post(&endpoint)
                .header("content-type", "application/cloudevents+json")
                .body(body)
                .send()
                .await?;
            if answer.status() != reqwest::StatusCode::ACCEPTED {
                return Ok::<_, anyhow::Error>(false);
            }
            latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sent.elapsed());
            Ok(true)
        });
    }
    let mut refused = 0;
    while let Some(done) = requests.join_next().await {
        if !done?? {
            refused += 1;
        }
    }
    if refused > 0 {
        tracing::warn!(refused, "events were not acknowledged and are not measured");
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    latencies.sort_unstable();
    Ok(latencies)
}

/// The worker's stages over the batches that started from `from`: p50 and p99, ms, weighted by records.
struct Stages {
    batches: usize,
    fetch: [f64; 2],
    close: [f64; 2],
    transform: [f64; 2],
    write: [f64; 2],
    commit: [f64; 2],
}

async fn budget(pool: &sqlx::PgPool, from: OffsetDateTime) -> anyhow::Result<Stages> {
    type Row = (f64, f64, f64, f64, f64, f64, f64, f64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT receipt_fetch_p50_ms, receipt_fetch_p99_ms, fetch_close_p50_ms, fetch_close_p99_ms, \
         transform_ms, write_ms, receipt_commit_p50_ms, receipt_commit_p99_ms, records::bigint \
         FROM batch_metrics WHERE started_at >= $1 AND receipt_fetch_p50_ms IS NOT NULL \
         AND receipt_commit_p50_ms IS NOT NULL",
    )
    .bind(from)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!rows.is_empty(), "no batch was written while measuring");
    let pick = |f: fn(&Row) -> f64, q: f64| {
        let mut values: Vec<(f64, i64)> = rows.iter().map(|r| (f(r), r.8)).collect();
        weighted_quantile(&mut values, q)
    };
    Ok(Stages {
        batches: rows.len(),
        fetch: [pick(|r| r.0, 0.5), pick(|r| r.1, 0.99)],
        close: [pick(|r| r.2, 0.5), pick(|r| r.3, 0.99)],
        transform: [pick(|r| r.4, 0.5), pick(|r| r.4, 0.99)],
        write: [pick(|r| r.5, 0.5), pick(|r| r.5, 0.99)],
        commit: [pick(|r| r.6, 0.5), pick(|r| r.7, 0.99)],
    })
}
