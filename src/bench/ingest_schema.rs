//! The ingest schema benchmark: events/s acknowledged by `POST /v1/events` when the events' route has a
//! JSON Schema that ingest checks every event's data against, against the very same requests to an ingest
//! without a pipeline file, alternating, both on one nisshi broker. Then the same check without I/O: the
//! bodies parsed, against the bodies parsed and checked.
//!
//! The route, its schema and the events are the routes benchmark's ([`super::sink_routes`]).

use super::ingest::{post_all, wait_ready};
use super::print_table;
use super::sink_routes::{APPEND_TYPE, event, pipeline_file};
use clap::Args;
use pacer_event::{BodyFormat, parse_body};
use pacer_pipeline::Pipeline;
use pacer_stack::{Broker, BrokerOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct IngestSchemaArgs {
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
}

/// The topic both ingests produce to.
const TOPIC: &str = "bench";

/// An ingest in this process, until `stop` is sent.
struct Server {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), pacer_ingest::StartError>>,
}

async fn start(brokers: &str, pipeline: Option<Arc<Pipeline>>) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/events", listener.local_addr()?);
    let mut config = pacer_ingest::IngestConfig::new(brokers, TOPIC);
    config.pipeline = pipeline;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(pacer_ingest::serve(config, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Ok(Server { url, stop, task })
}

/// Request bodies of `batch` events each, `events` in all.
fn bodies(events: usize, batch: usize, round: usize) -> Vec<String> {
    let all: Vec<serde_json::Value> = (0..events)
        .map(|i| {
            event(
                APPEND_TYPE,
                &format!("s{round}-{i}"),
                i,
                "2026-01-01T00:00:00Z",
            )
        })
        .collect();
    all.chunks(batch)
        .map(|c| serde_json::Value::Array(c.to_vec()).to_string())
        .collect()
}

/// Parses every body as ingest does, and with `pipeline` checks its events as ingest does; the time taken.
fn parse_and_check(bodies: &[String], pipeline: Option<&Pipeline>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for body in bodies {
        let events = parse_body(
            BodyFormat::Batch,
            body.as_bytes(),
            OffsetDateTime::now_utc(),
        )?;
        if let Some(pipeline) = pipeline {
            pacer_ingest::check_events(&events, pipeline, TOPIC)?;
        }
    }
    Ok(start.elapsed())
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: IngestSchemaArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let pipeline = Arc::new(pipeline_file(dir.path(), true)?);
    let mut broker = Broker::start(BrokerOptions::in_memory(
        pacer_stack::find_nisshi()?,
        0,
        dir.path().join("nisshi.log"),
    ))
    .await?;
    let brokers = broker.bootstrap();
    pacer_stack::create_topic(&brokers, TOPIC, 4).await?;
    let plain = start(&brokers, None).await?;
    let checked = start(&brokers, Some(pipeline.clone())).await?;
    let client = reqwest::Client::new();
    wait_ready(&client, &plain.url).await?;
    wait_ready(&client, &checked.url).await?;

    let (mut without, mut with) = (vec![], vec![]);
    for round in 0..args.rounds {
        let bodies = bodies(args.events, args.batch, round);
        // The same requests to both; which goes first alternates, so that drift in the machine cancels.
        let order = if round.is_multiple_of(2) {
            [true, false]
        } else {
            [false, true]
        };
        for plain_now in order {
            if plain_now {
                without
                    .push(post_all(&client, &plain.url, bodies.clone(), args.concurrency).await?);
            } else {
                with.push(post_all(&client, &checked.url, bodies.clone(), args.concurrency).await?);
            }
        }
    }
    for server in [plain, checked] {
        let _ = server.stop.send(true);
        server.task.await??;
    }
    broker.stop().await?;

    // The CPU part alone, in this thread: the bodies parsed (reference), and parsed and checked.
    let (mut parse, mut parse_check) = (vec![], vec![]);
    let bodies = bodies(args.events, args.batch, args.rounds);
    for _ in 0..args.rounds {
        parse.push(parse_and_check(&bodies, None)?);
        parse_check.push(parse_and_check(&bodies, Some(&pipeline))?);
    }

    println!(
        "ingest schema: {} events per round, {} per request, {} in flight, {} rounds, medians",
        args.events, args.batch, args.concurrency, args.rounds
    );
    println!();
    print_table(
        "events",
        args.events as u64,
        &[
            ("POST /v1/events, no pipeline file (reference)", &without),
            ("POST /v1/events, route with a JSON Schema", &with),
        ],
    );
    println!();
    print_table(
        "events",
        args.events as u64,
        &[
            ("parse the bodies, no I/O (reference)", &parse),
            ("parse and check against the schema, no I/O", &parse_check),
        ],
    );
    Ok(())
}
