//! The ingest benchmark: events/s acknowledged by `POST /v1/events` (batches of 100) against the broker's own
//! produce rate for the same events from a plain rdkafka producer with the same settings (idempotent,
//! `acks=all`), alternating, on one nisshi broker.

use super::ingest_single::{IN_FLIGHT, Round, post_each, produce_each};
use super::print_table;
use clap::Args;
use futures::StreamExt;
use pacer_stack::{Broker, BrokerOptions};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Events per round.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per HTTP request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// HTTP requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Rounds of each contender.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Events per single-event round (one event per request), run with 1, 16 and 256 in flight.
    #[arg(long, default_value_t = 2_000)]
    single_events: usize,
    /// The producers' linger (librdkafka `linger.ms`), ingest's and the reference's alike.
    #[arg(long, default_value = "1ms", value_parser = crate::duration::parse_duration)]
    linger: Duration,
}

fn events(n: usize, round: usize, contender: &str) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "specversion": "1.0", "id": format!("{contender}{round}-{i}"), "source": "/bench", "type": "bench.v1",
                "partitionkey": format!("k{}", i % 64), "datacontenttype": "application/json",
                "data": {"seq": i, "user": format!("user-{}", i % 1000), "amount": 12.5, "tags": ["a", "b"]},
            })
        })
        .collect()
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: IngestBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let mut broker = Broker::start(BrokerOptions::in_memory(
        pacer_stack::find_nisshi()?,
        0,
        dir.path().join("nisshi.log"),
    ))
    .await?;
    let brokers = broker.bootstrap();
    pacer_stack::create_topic(&brokers, "bench", 4).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/events", listener.local_addr()?);
    let mut config = pacer_ingest::IngestConfig::new(&brokers, "bench");
    config.linger = args.linger;
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(pacer_ingest::serve(config, listener, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", args.linger.as_millis().to_string())
        .create()?;

    let (mut http, mut raw) = (vec![], vec![]);
    for round in 0..args.rounds {
        // The reference: the same events produced straight to the broker, every delivery awaited.
        let payloads: Vec<(String, Vec<u8>)> = events(args.events, round, "raw")
            .into_iter()
            .map(|e| {
                (
                    e["partitionkey"].as_str().unwrap_or_default().to_owned(),
                    e.to_string().into_bytes(),
                )
            })
            .collect();
        let start = Instant::now();
        let deliveries: Vec<_> = payloads
            .iter()
            .map(|(key, payload)| {
                producer.send(
                    FutureRecord::to("bench").key(key).payload(payload),
                    Duration::from_secs(30),
                )
            })
            .collect();
        for result in futures::future::join_all(deliveries).await {
            result.map_err(|(e, _)| e)?;
        }
        raw.push(start.elapsed());

        // ingest: batches over HTTP, every request answered 202.
        let bodies: Vec<String> = events(args.events, round, "http")
            .chunks(args.batch)
            .map(|c| serde_json::Value::Array(c.to_vec()).to_string())
            .collect();
        http.push(post_all(&client, &url, bodies, args.concurrency).await?);
    }
    let single = single_rounds(&client, &url, &producer, &args).await?;
    let _ = stop_tx.send(true);
    server.await??;
    broker.stop().await?;

    println!(
        "ingest: {} events per round, {} per request, {} in flight, {} rounds, linger {:?}, medians",
        args.events, args.batch, args.concurrency, args.rounds, args.linger
    );
    print_table(
        "events",
        args.events as u64,
        &[
            ("rdkafka produce, acks=all (reference)", &raw),
            ("POST /v1/events, acknowledged", &http),
        ],
    );
    println!(
        "\nsingle events: {} per round, one per request, {} rounds; events/s of the median round, latency over all rounds",
        args.single_events, args.rounds
    );
    println!("| in flight | contender | events/s | vs reference | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (in_flight, raw, http) in &single {
        let rate = |rounds: &[Round]| {
            let took: Vec<Duration> = rounds.iter().map(|r| r.took).collect();
            super::rate(args.single_events as u64, super::median(&took))
        };
        let all = |rounds: &[Round]| {
            let mut latencies: Vec<Duration> =
                rounds.iter().flat_map(|r| r.latencies.clone()).collect();
            latencies.sort_unstable();
            Round {
                took: Duration::ZERO,
                latencies,
            }
        };
        let reference = rate(raw);
        for (name, rounds) in [
            ("rdkafka produce (reference)", raw),
            ("POST /v1/events", http),
        ] {
            let latency = all(rounds);
            println!(
                "| {in_flight} | {name} | {:.0} | {:.2} | {:.1} | {:.1} |",
                rate(rounds),
                rate(rounds) / reference,
                latency.ms(0.5),
                latency.ms(0.99)
            );
        }
    }
    Ok(())
}

/// Per number in flight: the reference's rounds and ingest's, alternating.
async fn single_rounds(
    client: &reqwest::Client,
    url: &str,
    producer: &FutureProducer,
    args: &IngestBenchArgs,
) -> anyhow::Result<Vec<(usize, Vec<Round>, Vec<Round>)>> {
    let mut results = Vec::new();
    for in_flight in IN_FLIGHT {
        let (mut raw, mut http) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            let contender = format!("raw{in_flight}-");
            let events_raw = events(args.single_events, round, &contender);
            raw.push(produce_each(producer, "bench", events_raw, in_flight).await?);
            let contender = format!("one{in_flight}-");
            let events_http = events(args.single_events, round, &contender);
            http.push(post_each(client, url, events_http, in_flight).await?);
        }
        results.push((in_flight, raw, http));
    }
    Ok(results)
}

/// Posts every body as a batch of CloudEvents, `concurrency` in flight; the time until all were answered,
/// which must all be `202`.
pub(super) async fn post_all(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(bodies)
        .map(|body| async move {
            client
                .post(url)
                .header("content-type", "application/cloudevents-batch+json")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let took = start.elapsed();
    let failed = statuses.iter().filter(|s| **s != 202).count();
    anyhow::ensure!(failed == 0, "{failed} requests were not acknowledged");
    Ok(took)
}

pub(super) async fn wait_ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let ready = url.replace("/v1/events", "/readyz");
    for _ in 0..100 {
        if client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("ingest did not become ready")
}
