//! The sink benchmark: the worker's write path (transform + one transaction with `COPY`) against
//! `psql \copy` of the very same rows into the very same table, alternating, on one private PostgreSQL.

use super::{print_table, private_postgres};
use anyhow::Context;
use clap::Args;
use pacer_stack::{Broker, BrokerOptions};
use pacer_worker::{
    Batch, BatchSettings, EVENT_COLUMNS, SettingsHandle, Sink, WorkerConfig, transform,
};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Rows per round.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per worker batch.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Rounds of each contender.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Records as ingest produces them: CloudEvents JSON with a small data object.
fn records(n: usize, round: usize) -> Vec<OwnedMessage> {
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    (0..n)
        .map(|i| {
            let payload = serde_json::json!({
                "specversion": "1.0", "id": format!("r{round}-{i}"), "source": "/bench", "type": "bench.v1",
                "time": "2026-01-01T00:00:00Z", "partitionkey": format!("k{}", i % 64),
                "datacontenttype": "application/json",
                "data": {"seq": i, "user": format!("user-{}", i % 1000), "amount": 12.5, "tags": ["a", "b"]},
            });
            OwnedMessage::new(
                Some(payload.to_string().into_bytes()),
                None,
                "events".into(),
                Timestamp::CreateTime(now_ms),
                (i % 4) as i32,
                i as i64,
                None,
            )
        })
        .collect()
}

fn batches(records: Vec<OwnedMessage>, size: usize) -> Vec<Batch> {
    let settings = BatchSettings {
        interval: Duration::from_secs(1),
        max_rows: size,
        max_bytes: usize::MAX,
    };
    let mut out = vec![Batch::new(settings)];
    for record in records {
        let batch = out.last_mut().expect("one batch at least");
        if batch.push(record, 1).is_some() {
            out.push(Batch::new(settings));
        }
    }
    out.retain(|b| !b.is_empty());
    out
}

async fn truncate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE events, dead_letters, batch_metrics")
        .execute(pool)
        .await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

async fn count(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let (pg, _dir) = private_postgres().await?;
    let url = pg.url();
    let sink = Sink::new(&url, "bench")?;
    sink.migrate().await?;
    let pool = sink.pool().clone();
    let file = tempfile::NamedTempFile::new()?;
    let dir = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let mut broker = Broker::start(BrokerOptions::in_memory(
        pacer_stack::find_nisshi()?,
        0,
        dir.path().join("nisshi.log"),
    ))
    .await?;

    let (mut worker, mut worker_write, mut staged, mut psql) = (vec![], vec![], vec![], vec![]);
    let (mut transform_only, mut from_kafka) = (vec![], vec![]);
    for round in 0..args.rounds {
        // The worker: transform and write, batch by batch, as a worker does.
        let batches = batches(records(args.rows, round), args.batch);
        truncate(&pool).await?;
        // As the worker does it: batch N+1 is transformed while batch N is written (one batch in flight).
        let start = Instant::now();
        let mut in_flight: Option<tokio::task::JoinHandle<Result<(), sqlx::Error>>> = None;
        for batch in &batches {
            let t = transform(batch, OffsetDateTime::now_utc());
            if let Some(previous) = in_flight.take() {
                previous.await??;
            }
            let sink = sink.clone();
            in_flight = Some(tokio::spawn(async move { sink.write(&t).await.map(drop) }));
        }
        if let Some(previous) = in_flight.take() {
            previous.await??;
        }
        worker.push(start.elapsed());
        anyhow::ensure!(
            count(&pool).await? == args.rows as i64,
            "the worker wrote a wrong number of rows"
        );

        // The write alone, batch after batch, with everything transformed beforehand.
        truncate(&pool).await?;
        let transformed: Vec<_> = batches
            .iter()
            .map(|b| transform(b, OffsetDateTime::now_utc()))
            .collect();
        let start = Instant::now();
        for t in &transformed {
            sink.write(t).await?;
        }
        worker_write.push(start.elapsed());
        anyhow::ensure!(
            count(&pool).await? == args.rows as i64,
            "the worker wrote a wrong number of rows"
        );

        // The same rows through the staging table and INSERT ... ON CONFLICT (the path re-deliveries take).
        truncate(&pool).await?;
        let start = Instant::now();
        let transformed: Vec<_> = batches
            .iter()
            .map(|b| transform(b, OffsetDateTime::now_utc()))
            .collect();
        transform_only.push(start.elapsed());
        let start = Instant::now();
        for t in &transformed {
            sink.write_via_staging(t).await?;
        }
        staged.push(start.elapsed());

        // The reference: psql \copy of the same rows (the COPY text the worker sends) into the same table.
        truncate(&pool).await?;
        let mut text = Vec::new();
        for t in &transformed {
            text.extend_from_slice(t.events.as_bytes());
        }
        std::fs::write(file.path(), &text)?;
        let start = Instant::now();
        let status = tokio::process::Command::new("psql")
            .args([url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!(
                "\\copy events ({EVENT_COLUMNS}) FROM '{}'",
                file.path().display()
            ))
            .status()
            .await
            .context("running psql (Debian's postgresql-client)")?;
        psql.push(start.elapsed());
        anyhow::ensure!(status.success(), "psql \\copy failed");
        anyhow::ensure!(
            count(&pool).await? == args.rows as i64,
            "psql copied a wrong number of rows"
        );

        // A real worker draining a topic that holds the same records: the Kafka fetch included.
        truncate(&pool).await?;
        from_kafka.push(drain_topic(&broker.bootstrap(), &url, &pool, &args, round).await?);
    }
    broker.stop().await?;
    pg.stop().await?;

    println!(
        "sink: {} rows per round, batches of {}, {} rounds, medians",
        args.rows, args.batch, args.rounds
    );
    print_table(
        "rows",
        args.rows as u64,
        &[
            ("psql \\copy (reference)", &psql),
            (
                "worker: transform + write, pipelined (direct COPY)",
                &worker,
            ),
            ("worker: write only (direct COPY)", &worker_write),
            ("worker: staging + INSERT ON CONFLICT", &staged),
            (
                "one worker draining a pre-filled topic (Kafka fetch included)",
                &from_kafka,
            ),
            (
                "transform only (parse, validate, encode; no I/O)",
                &transform_only,
            ),
        ],
    );
    Ok(())
}

/// Fills a topic with the round's records, then times one worker from its first batch to its last.
async fn drain_topic(
    brokers: &str,
    url: &str,
    pool: &PgPool,
    args: &SinkArgs,
    round: usize,
) -> anyhow::Result<Duration> {
    let topic = format!("drain-{round}");
    pacer_stack::create_topic(brokers, &topic, 4).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .create()?;
    let records = records(args.rows, round);
    let sends: Vec<_> = records
        .iter()
        .map(|r| {
            let record = FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(r.partition())
                .payload(r.payload().unwrap_or_default());
            producer.send(record, Duration::from_secs(60))
        })
        .collect();
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e)?;
    }

    let mut config = WorkerConfig::new(brokers, &topic, url);
    config.group = topic.clone();
    config.worker_id = topic.clone();
    config.settings = BatchSettings {
        interval: Duration::from_millis(100),
        max_rows: args.batch,
        max_bytes: 64 << 20,
    };
    let (settings, _) = SettingsHandle::new(config.settings);
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(pacer_worker::run(config, settings, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(pool).await? < args.rows as i64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the worker did not drain the topic in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    worker.await??;
    let (seconds, poll, transform, write, commit): (f64, f64, f64, f64, f64) = sqlx::query_as(
        "SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8, sum(poll_ms) / 1e3, \
         sum(transform_ms) / 1e3, sum(write_ms) / 1e3, sum(commit_ms) / 1e3 FROM batch_metrics WHERE worker_id = $1",
    )
    .bind(&topic)
    .fetch_one(pool)
    .await?;
    tracing::info!(
        seconds,
        poll,
        transform,
        write,
        commit,
        "drained the topic; seconds per stage (poll overlaps the write)"
    );
    Ok(Duration::from_secs_f64(seconds))
}
