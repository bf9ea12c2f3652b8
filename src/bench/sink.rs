//! The sink benchmark: the worker's write path (transform + one transaction with `COPY`) against
//! `psql \copy` of the very same rows into the very same table, alternating, on one private PostgreSQL.

use super::{median, print_table, private_postgres};
use anyhow::Context;
use clap::Args;
use pacer_stack::{Broker, BrokerOptions};
use pacer_worker::{Batch, EVENT_COLUMNS, Settings, SettingsHandle, Sink, WorkerConfig, transform};
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

pub(super) fn batches(records: Vec<OwnedMessage>, size: usize) -> Vec<Batch> {
    let settings = Settings {
        interval: Duration::from_secs(1),
        max_rows: size as u64,
        max_bytes: u64::MAX,
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
    // No autovacuum worker may run (and be counted as the CPU of a reaped backend) during a round.
    for table in ["events", "dead_letters", "batch_metrics"] {
        sqlx::query(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ))
        .execute(&pool)
        .await?;
    }
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
    // CPU seconds: the psql client's, the PostgreSQL backend's that served it, and one worker's.
    let (mut psql_cpu, mut backend_cpu, mut worker_cpu) = (vec![], vec![], vec![]);
    for round in 0..args.rounds {
        // The worker: transform and write, batch by batch, as a worker does.
        let batches = batches(records(args.rows, round), args.batch);
        truncate(&pool).await?;
        // As the worker does it: batch N+1 is transformed while batch N is written (one batch in flight).
        let start = Instant::now();
        let mut in_flight: Option<tokio::task::JoinHandle<Result<(), sqlx::Error>>> = None;
        for batch in &batches {
            let t = transform(batch, sink.routes(), OffsetDateTime::now_utc());
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
            .map(|b| transform(b, sink.routes(), OffsetDateTime::now_utc()))
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
            .map(|b| transform(b, sink.routes(), OffsetDateTime::now_utc()))
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
        for table in transformed.iter().flat_map(|t| &t.tables) {
            text.extend_from_slice(table.rows.as_bytes());
        }
        std::fs::write(file.path(), &text)?;
        let start = Instant::now();
        let (children_before, backends_before) = (cpu::children(), cpu::reaped_by(&pg)?);
        let status = tokio::process::Command::new("psql")
            .env("PGAPPNAME", PSQL_APP)
            .args([url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!(
                "\\copy events ({EVENT_COLUMNS}) FROM '{}'",
                file.path().display()
            ))
            .status()
            .await
            .context("running psql (Debian's postgresql-client)")?;
        psql.push(start.elapsed());
        psql_cpu.push(cpu::children().saturating_sub(children_before));
        // The backend that served psql exits with it; its CPU shows once the postmaster has reaped it.
        backend_gone(&pool).await?;
        backend_cpu.push(cpu::reaped_by(&pg)?.saturating_sub(backends_before));
        anyhow::ensure!(status.success(), "psql \\copy failed");
        anyhow::ensure!(
            count(&pool).await? == args.rows as i64,
            "psql copied a wrong number of rows"
        );

        // A real worker draining a topic that holds the same records: the Kafka fetch included.
        truncate(&pool).await?;
        let (took, cpu) = drain_topic(&broker.bootstrap(), &url, &pool, &args, round).await?;
        from_kafka.push(took);
        worker_cpu.push(cpu);
    }
    broker.stop().await?;

    // Small batches, where a fixed cost per write shows: one write of 100 rows, against one round trip
    // (`SELECT 1`) on the same pool, alternating, 200 of each.
    truncate(&pool).await?;
    let (mut small_writes, mut round_trips) = (vec![], vec![]);
    for batch in batches(
        records(SMALL_BATCH * SMALL_WRITES, args.rounds),
        SMALL_BATCH,
    ) {
        let t = transform(&batch, sink.routes(), OffsetDateTime::now_utc());
        let start = Instant::now();
        sink.write(&t).await?;
        small_writes.push(start.elapsed());
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(&pool).await?;
        round_trips.push(start.elapsed());
    }
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
    println!();
    let (write, trip) = (median(&small_writes), median(&round_trips));
    println!("| small batches | median latency | vs reference |");
    println!("| --- | --- | --- |");
    println!(
        "| one round trip, `SELECT 1` (reference) | {:.2} ms | 1.0 |",
        trip.as_secs_f64() * 1e3
    );
    println!(
        "| one write of {SMALL_BATCH} rows (transaction, COPY, commit) | {:.2} ms | {:.1} |",
        write.as_secs_f64() * 1e3,
        write.as_secs_f64() / trip.as_secs_f64().max(1e-9)
    );
    println!();
    print_cpu_table(
        args.rows,
        &[
            ("psql \\copy, the client (reference)", &psql_cpu),
            (
                "psql \\copy, the PostgreSQL backend serving it",
                &backend_cpu,
            ),
            (
                "one worker draining a pre-filled topic (fetch, parse, validate, encode, COPY)",
                &worker_cpu,
            ),
        ],
    );
    Ok(())
}

/// Rows per small batch, and how many small batches are written.
const SMALL_BATCH: usize = 100;
const SMALL_WRITES: usize = 200;

/// The application name of the reference's psql, to tell its backend from the others.
const PSQL_APP: &str = "pacer-bench-psql";

/// Waits until psql's backend has left `pg_stat_activity` (it is exiting), and a moment more for the
/// postmaster to reap it.
async fn backend_gone(pool: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(PSQL_APP)
                .fetch_one(pool)
                .await?;
        if left == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "psql's backend did not exit within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints CPU seconds per million rows (medians) and the ratio to the first row, the reference.
#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
fn print_cpu_table(rows: usize, lines: &[(&str, &[Duration])]) {
    let per_million = |samples: &[Duration]| median(samples).as_secs_f64() * 1e6 / rows as f64;
    let Some((_, reference)) = lines.first() else {
        return;
    };
    let reference = per_million(reference);
    println!("| CPU | median CPU s per million rows | vs reference |");
    println!("| --- | --- | --- |");
    for (name, samples) in lines {
        let value = per_million(samples);
        println!("| {name} | {value:.2} | {:.1} |", value / reference);
    }
}

/// CPU time (user + system) from getrusage.
mod cpu {
    use nix::sys::resource::{UsageWho, getrusage};
    use std::time::Duration;

    fn used(who: UsageWho) -> Duration {
        getrusage(who).map_or(Duration::ZERO, |u| {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_micros((t.tv_sec() * 1_000_000 + t.tv_usec()).max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        })
    }

    /// This process: the harness and anything running in-process (a worker).
    pub fn this_process() -> Duration {
        used(UsageWho::RUSAGE_SELF)
    }

    /// The children of this process that have exited and been waited for (psql).
    pub fn children() -> Duration {
        used(UsageWho::RUSAGE_CHILDREN)
    }

    /// The CPU of the postmaster's children that have exited and been reaped (backends of closed sessions).
    pub fn reaped_by(pg: &pacer_stack::PrivatePostgres) -> anyhow::Result<Duration> {
        use crate::bench::procstat;
        Ok(procstat::reaped(procstat::postmaster(pg)?))
    }
}

/// Fills a topic with the round's records, then times one worker from its first batch to its last.
async fn drain_topic(
    brokers: &str,
    url: &str,
    pool: &PgPool,
    args: &SinkArgs,
    round: usize,
) -> anyhow::Result<(Duration, Duration)> {
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
    // The producer's threads go, so that the process's CPU from here on is the worker's.
    drop(producer);

    let mut config = WorkerConfig::new(brokers, &topic, url);
    config.group = topic.clone();
    config.worker_id = topic.clone();
    config.settings = Settings {
        interval: Duration::from_millis(100),
        max_rows: args.batch as u64,
        max_bytes: 64 << 20,
    };
    let (settings, _) = SettingsHandle::new(config.settings);
    let cpu_before = cpu::this_process();
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
    // This process's CPU while the worker ran: the worker's, plus the harness counting rows every 50 ms.
    let cpu = cpu::this_process().saturating_sub(cpu_before);
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
    Ok((Duration::from_secs_f64(seconds), cpu))
}
