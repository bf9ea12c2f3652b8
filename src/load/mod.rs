//! The load generator: posts real CloudEvents to ingest following a rate profile, and counts what the server
//! acknowledged.
//!
//! The events are the generic ones (`pacer.load.v1`, for the built-in events table) or, with a pipeline
//! file, ones that fit its routes ([`RoutedLoad`], in `routed`; the values it puts in them are `values`).

mod routed;
mod values;

#[cfg(test)]
mod routed_tests;

pub use routed::RoutedLoad;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};

/// One phase of a profile: a constant rate for a while.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Events per second.
    pub rate: f64,
    /// How long the phase lasts.
    pub duration: Duration,
}

/// A sequence of constant-rate phases, written `RATE:DURATION,RATE:DURATION,...` (for example
/// `100:10s,2000:5s,100:10s`), or `spike:RATE` for a base rate with a tenfold spike in the middle.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile(pub Vec<Phase>);

impl Profile {
    /// A single phase.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self(vec![Phase { rate, duration }])
    }

    /// Total length.
    pub fn duration(&self) -> Duration {
        self.0.iter().map(|p| p.duration).sum()
    }

    /// Events due by `elapsed` since the start.
    pub fn due(&self, elapsed: Duration) -> u64 {
        let mut left = elapsed;
        let mut total = 0.0;
        for phase in &self.0 {
            let span = left.min(phase.duration);
            total += phase.rate * span.as_secs_f64();
            left = left.saturating_sub(phase.duration);
            if left.is_zero() {
                break;
            }
        }
        total as u64
    }

    /// Total events of the whole profile.
    pub fn total(&self) -> u64 {
        self.due(self.duration())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(base) = text.strip_prefix("spike:") {
            let rate: f64 = base
                .parse()
                .map_err(|_| format!("bad base rate in {text:?}"))?;
            let s = Duration::from_secs;
            return Ok(Self(vec![
                Phase {
                    rate,
                    duration: s(10),
                },
                Phase {
                    rate: rate * 10.0,
                    duration: s(10),
                },
                Phase {
                    rate,
                    duration: s(10),
                },
            ]));
        }
        let phases = text
            .split(',')
            .map(|part| {
                let (rate, duration) = part
                    .split_once(':')
                    .ok_or_else(|| format!("phase {part:?} must be RATE:DURATION, like 500:10s"))?;
                let rate: f64 = rate
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad rate {rate:?} in phase {part:?}"))?;
                let duration = humantime::parse_duration(duration.trim())
                    .map_err(|e| format!("bad duration in phase {part:?}: {e}"))?;
                if !(rate >= 0.0 && rate.is_finite()) {
                    return Err(format!("rate in phase {part:?} must be zero or more"));
                }
                Ok(Phase { rate, duration })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self(phases))
    }
}

/// Counters of a load run.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Events posted.
    pub sent: AtomicU64,
    /// Events acknowledged with 202.
    pub acked: AtomicU64,
    /// Events in requests that failed (any other status or a transport error).
    pub failed: AtomicU64,
}

impl LoadStats {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// How to generate load.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// `http://host:port` of ingest.
    pub url: String,
    pub profile: Profile,
    /// Events per request (1 sends single events, more sends batches).
    pub batch: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
}

/// What a load run posts.
#[derive(Debug, Clone, Default)]
pub enum Events {
    /// `pacer.load.v1` events from `/pacer/load`, for the built-in events table.
    #[default]
    Generic,
    /// Events that fit the routes of a pipeline file, route after route.
    Routed(Arc<RoutedLoad>),
}

impl Events {
    /// Event `seq` of run `run`, happening at `time` (which the generic events leave to ingest).
    pub fn event(&self, run: &str, seq: u64, time: OffsetDateTime) -> serde_json::Value {
        match self {
            Self::Generic => generic_event(run, seq),
            Self::Routed(load) => load.event(run, seq, time).event,
        }
    }
}

/// Runs the plan with the generic events until its profile ends or `stop` turns true.
pub async fn generate(plan: LoadPlan, stats: Arc<LoadStats>, stop: watch::Receiver<bool>) {
    generate_events(plan, Events::Generic, stats, stop).await;
}

/// Runs the plan with `events` until its profile ends or `stop` turns true.
pub async fn generate_events(
    plan: LoadPlan,
    events: Events,
    stats: Arc<LoadStats>,
    mut stop: watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    let endpoint = format!("{}/v1/events", plan.url.trim_end_matches('/'));
    let run = format!("{:08x}", fastrand::u32(..));
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let start = Instant::now();
    // In microseconds, as PostgreSQL keeps them.
    let now = OffsetDateTime::now_utc();
    let wall_start = now.replace_microsecond(now.microsecond()).unwrap_or(now);
    // Each event's time is a microsecond past the one before at least, so an upsert's order column grows
    // with the sequence even when a tick sends several requests.
    let mut next_time = wall_start;
    let end = plan.profile.duration();
    let mut next_seq = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while start.elapsed() < end && !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let due = plan.profile.due(start.elapsed());
        while next_seq < due {
            let count = (due - next_seq).min(plan.batch as u64);
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let elapsed = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            let time = next_time.max(wall_start + Duration::from_micros(elapsed));
            let (content_type, body) =
                request_body(&events, &run, next_seq, count, plan.batch > 1, time);
            next_seq += count;
            next_time = time + MICROSECOND * u32::try_from(count).unwrap_or(u32::MAX);
            stats.sent.fetch_add(count, Ordering::Relaxed);
            let (client, endpoint, stats) = (client.clone(), endpoint.clone(), stats.clone());
            tokio::spawn(async move {
                let ok = client
                    .post(&endpoint)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED);
                let counter = if ok { &stats.acked } else { &stats.failed };
                counter.fetch_add(count, Ordering::Relaxed);
                drop(permit);
            });
        }
    }
    // Wait for the requests in flight.
    let _ = permits.acquire_many(plan.concurrency.max(1) as u32).await;
}

const MICROSECOND: Duration = Duration::from_micros(1);

/// The body of one request: events `first..first + count`, the first at `time`, each a microsecond later.
fn request_body(
    events: &Events,
    run: &str,
    first: u64,
    count: u64,
    as_batch: bool,
    time: OffsetDateTime,
) -> (&'static str, String) {
    let event = |seq: u64| {
        let offset = MICROSECOND * u32::try_from(seq - first).unwrap_or(u32::MAX);
        events.event(run, seq, time + offset)
    };
    if as_batch {
        let events: Vec<_> = (first..first + count).map(event).collect();
        (
            "application/cloudevents-batch+json",
            serde_json::Value::Array(events).to_string(),
        )
    } else {
        ("application/cloudevents+json", event(first).to_string())
    }
}

/// The generic event `seq` of run `run`.
fn generic_event(run: &str, seq: u64) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": format!("{run}-{seq}"),
        "source": "/pacer/load",
        "type": "pacer.load.v1",
        "partitionkey": format!("k{}", seq % 64),
        "datacontenttype": "application/json",
        "data": { "seq": seq, "run": run, "note": "generated by pacer load" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_integrate() {
        let p: Profile = "100:10s,1000:2s".parse().unwrap();
        assert_eq!(p.duration(), Duration::from_secs(12));
        assert_eq!(p.due(Duration::from_secs(5)), 500);
        assert_eq!(p.due(Duration::from_secs(11)), 2000);
        assert_eq!(p.total(), 3000);
        assert_eq!(p.due(Duration::from_secs(60)), 3000);
        let spike: Profile = "spike:10".parse().unwrap();
        assert_eq!(spike.total(), 100 + 1000 + 100);
        assert!("100".parse::<Profile>().is_err());
        assert!("-1:1s".parse::<Profile>().is_err());
        assert!("5:soon".parse::<Profile>().is_err());
    }
}
