//! `pacer bench control`: how many workers one control plane serves. A `pacer control` process (with its
//! PostgreSQL) takes N simulated workers, real gRPC `Attach` clients with no Kafka behind them, each sending
//! a batch report at a set rate. Each report alternates between a slow and a fast batch, so that the policy
//! (`aimd`, with no rate limit and no hysteresis) changes the settings on nearly every report and pushes them.
//! A push names the batch whose report led to it, so the report-to-push latency is measured exactly, per
//! push. N grows step by step until the p99 passes the limit; the control plane's CPU and memory are read from
//! /proc for each step.

use anyhow::Context;
use clap::Args;
use pacer_batch::proto::{duration_pb, timestamp_pb};
use pacer_proto::v1 as pb;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

#[derive(Debug, Args)]
pub struct ControlBenchArgs {
    /// The numbers of workers to try, in order; it stops after the first step whose p99 passes --limit.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,250,500,1000,1500,2000"
    )]
    workers: Vec<usize>,
    /// Batch reports per second per worker.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// How long each step measures (after a warm-up of a quarter of it).
    #[arg(long, default_value = "20s", value_parser = crate::duration::parse_duration)]
    step: Duration,
    /// The report-to-push p99 that ends the search.
    #[arg(long, default_value = "100ms", value_parser = crate::duration::parse_duration)]
    limit: Duration,
    /// Workers per HTTP/2 connection.
    #[arg(long, default_value_t = 50)]
    per_connection: usize,
}

const TOKEN: &str = "bench-worker-token";

/// What one step measured.
#[derive(Debug, Default)]
struct Step {
    workers: usize,
    reports: u64,
    latencies: Vec<Duration>,
    seconds: f64,
    cpu: f64,
    rss_mb: f64,
}

pub async fn run(args: ControlBenchArgs) -> anyhow::Result<()> {
    let (pg, _dir) = super::private_postgres().await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    let mut control = tokio::process::Command::new(std::env::current_exe()?)
        .args(["control", "--listen", &address.to_string()])
        .args(["--database-url", &pg.url(), "--worker-token", TOKEN])
        .args(["--admin-token", "bench-admin-token", "--policy", "aimd"])
        .args([
            "--min-gap",
            "0s",
            "--hysteresis",
            "0",
            "--metrics-listen",
            "off",
        ])
        .args(["--lost-after", "10s", "--heartbeat", "2s"])
        .env("PACER_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("cannot start pacer control")?;
    let pid = control.id().context("pacer control has no pid")?;
    let url = format!("http://{address}");
    wait_for(&url).await?;

    let mut steps = Vec::new();
    for &n in &args.workers {
        let step = measure(&url, n, &args, pid).await?;
        let p99 = quantile(&step.latencies, 0.99);
        tracing::info!(workers = n, ?p99, "step done");
        steps.push(step);
        if p99 > args.limit {
            break;
        }
    }
    print(&steps, &args);
    control.kill().await?;
    Ok(())
}

/// Waits until the control plane at `url` answers the admin API (60 s at most).
pub(super) async fn wait_for(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(endpoint) = Endpoint::from_shared(url.to_owned())
            && let Ok(channel) = endpoint.connect().await
            && pb::admin_client::AdminClient::new(channel)
                .get_pipeline(pb::GetPipelineRequest {})
                .await
                .is_ok()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the control plane did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// CPU seconds (user + system) and resident MB of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    use crate::bench::procstat;
    (
        procstat::cpu(pid).as_secs_f64(),
        procstat::resident_bytes(pid) as f64 / 1e6,
    )
}

async fn measure(url: &str, n: usize, args: &ControlBenchArgs, pid: u32) -> anyhow::Result<Step> {
    let mut channels = Vec::new();
    for _ in 0..n.div_ceil(args.per_connection.max(1)) {
        channels.push(Endpoint::from_shared(url.to_owned())?.connect().await?);
    }
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reports = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let channel = channels[i / args.per_connection.max(1)].clone();
        tasks.spawn(simulated_worker(
            channel,
            format!("sim-{n}-{i}"),
            Duration::from_secs_f64(1.0 / args.rate),
            Counters {
                measuring: measuring.clone(),
                reports: reports.clone(),
                latencies: latencies.clone(),
            },
            stop.clone(),
        ));
    }
    tokio::time::sleep(args.step / 4).await;
    measuring.store(true, Ordering::Relaxed);
    let (cpu0, _) = usage(pid);
    let started = Instant::now();
    tokio::time::sleep(args.step).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let (cpu1, rss_mb) = usage(pid);
    let _ = stop_tx.send(true);
    while let Some(result) = tasks.join_next().await {
        if let Ok(Err(e)) = result {
            tracing::warn!(error = %e, "a simulated worker failed");
        }
    }
    let latencies = std::mem::take(&mut *latencies.lock().await);
    Ok(Step {
        workers: n,
        reports: reports.load(Ordering::Relaxed),
        latencies,
        seconds,
        cpu: (cpu1 - cpu0) / seconds,
        rss_mb,
    })
}

#[derive(Clone)]
struct Counters {
    measuring: Arc<std::sync::atomic::AtomicBool>,
    reports: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

/// One worker: hello, then a report every `every`, alternating a slow and a fast batch under the settings
/// last pushed; every push that names a report gives one latency.
async fn simulated_worker(
    channel: Channel,
    id: String,
    every: Duration,
    counters: Counters,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut settings = pb::BatchSettings {
        interval_ms: 100,
        max_rows: 1000,
        max_bytes: 1 << 20,
    };
    tx.send(pb::AttachRequest {
        message: Some(pb::attach_request::Message::Hello(pb::Hello {
            worker_id: id,
            host: "bench".into(),
            group: "bench".into(),
            topic: "bench".into(),
            partitions: vec![0],
            settings: Some(settings),
            paused: false,
            version: env!("CARGO_PKG_VERSION").into(),
        })),
    })
    .await?;
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let mut inbound = pb::worker_control_client::WorkerControlClient::new(channel)
        .attach(request)
        .await?
        .into_inner();
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch_no = 0u64;
    loop {
        tokio::select! {
            () = async { let _ = stop.wait_for(|s| *s).await; } => return Ok(()),
            _ = tick.tick() => {
                batch_no += 1;
                let interval = Duration::from_millis(settings.interval_ms);
                // Slow batches take twice their interval, fast ones a millisecond.
                let write = if batch_no.is_multiple_of(2) { interval * 2 } else { Duration::from_millis(1) };
                let now = std::time::SystemTime::now();
                let report = pb::BatchReport {
                    batch_no,
                    started_at: Some(timestamp_pb(time::OffsetDateTime::from(now - interval))),
                    finished_at: Some(timestamp_pb(time::OffsetDateTime::from(now))),
                    records: 100,
                    rows_written: 100,
                    bytes: 10_000,
                    flush_reason: pb::FlushReason::Interval.into(),
                    settings: Some(settings),
                    poll: Some(duration_pb(interval)),
                    transform: Some(duration_pb(Duration::from_micros(200))),
                    write: Some(duration_pb(write)),
                    commit: Some(duration_pb(Duration::from_micros(500))),
                    write_attempts: 1,
                    lag: vec![pb::PartitionLag {
                        topic: "bench".into(),
                        partition: 0,
                        lag: 0,
                        end_offset: -1,
                    }],
                    ..Default::default()
                };
                sent.insert(batch_no, Instant::now());
                sent.retain(|b, _| *b + 100 > batch_no);
                if counters.measuring.load(Ordering::Relaxed) {
                    counters.reports.fetch_add(1, Ordering::Relaxed);
                }
                tx.send(pb::AttachRequest { message: Some(pb::attach_request::Message::Report(report)) }).await?;
            }
            message = inbound.message() => match message? {
                Some(pb::AttachResponse { message: Some(pb::attach_response::Message::Settings(update)) }) => {
                    if let Some(new) = update.settings {
                        settings = new;
                    }
                    if let Some(at) = sent.get(&update.batch_no)
                        && update.batch_no > 0
                        && counters.measuring.load(Ordering::Relaxed)
                    {
                        counters.latencies.lock().await.push(at.elapsed());
                    }
                }
                Some(_) => {}
                None => anyhow::bail!("the control plane closed the stream"),
            },
        }
    }
}

fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
    }
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
fn print(steps: &[Step], args: &ControlBenchArgs) {
    println!(
        "| workers | reports/s (target {:.0}) | pushes/s | push p50 | push p99 | push max | control CPU (cores) | control RSS |",
        args.rate
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for s in steps {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} | {:.2} | {:.0} MB |",
            s.workers,
            s.reports as f64 / s.seconds,
            s.latencies.len() as f64 / s.seconds,
            ms(quantile(&s.latencies, 0.5)),
            ms(quantile(&s.latencies, 0.99)),
            ms(s.latencies.iter().copied().max().unwrap_or_default()),
            s.cpu,
            s.rss_mb
        );
    }
    if let Some(last) = steps.last()
        && quantile(&last.latencies, 0.99) > args.limit
    {
        println!(
            "\nThe p99 passed {:?} at {} workers.",
            args.limit, last.workers
        );
    } else {
        println!("\nThe p99 stayed under {:?} at every step.", args.limit);
    }
}
