//! Single-event rounds of the ingest benchmark: one event per request, with 1, 16 and 256 requests in
//! flight, against a plain rdkafka producer sending the same records one at a time with as many deliveries
//! outstanding. A single event waits out the producer's linger before the broker sees it, so this is where
//! the linger shows.

use futures::StreamExt;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

/// The requests in flight of each round.
pub(super) const IN_FLIGHT: [usize; 3] = [1, 16, 256];

/// One round's figures.
pub(super) struct Round {
    pub(super) took: Duration,
    /// Each request's (or delivery's) latency, sorted.
    pub(super) latencies: Vec<Duration>,
}

impl Round {
    /// The nearest-rank quantile `q` of the latencies, in ms.
    pub(super) fn ms(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1].as_secs_f64() * 1e3
    }
}

fn finish(start: Instant, mut latencies: Vec<Duration>) -> Round {
    let took = start.elapsed();
    latencies.sort_unstable();
    Round { took, latencies }
}

/// Posts each event alone, `in_flight` at a time; every answer must be 202.
pub(super) async fn post_each(
    client: &reqwest::Client,
    url: &str,
    events: Vec<serde_json::Value>,
    in_flight: usize,
) -> anyhow::Result<Round> {
    let start = Instant::now();
    let answers: Vec<(u16, Duration)> = futures::stream::iter(events)
        .map(|event| async move {
            let sent = Instant::now();
            let status = client
                .post(url)
                .header("content-type", "application/cloudevents+json")
                .body(event.to_string())
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            (status, sent.elapsed())
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let failed = answers.iter().filter(|(s, _)| *s != 202).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} single-event requests were not acknowledged"
    );
    Ok(finish(start, answers.into_iter().map(|(_, l)| l).collect()))
}

/// Produces each event alone with `producer`, `in_flight` deliveries outstanding at most.
pub(super) async fn produce_each(
    producer: &FutureProducer,
    topic: &str,
    events: Vec<serde_json::Value>,
    in_flight: usize,
) -> anyhow::Result<Round> {
    let start = Instant::now();
    let deliveries: Vec<Result<Duration, rdkafka::error::KafkaError>> =
        futures::stream::iter(events)
            .map(|event| async move {
                let key = event["partitionkey"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let payload = event.to_string();
                let sent = Instant::now();
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map(|_| sent.elapsed())
                    .map_err(|(e, _)| e)
            })
            .buffer_unordered(in_flight)
            .collect()
            .await;
    let latencies = deliveries.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(finish(start, latencies))
}
