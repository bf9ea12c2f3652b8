//! The reference for the freshness budget: a plain rdkafka producer and consumer on the same broker, with
//! pacer's client settings (idempotent, `acks=all`, the same linger and fetch wait), at the same rate. It
//! measures what the broker and the clients cost alone: produce → acknowledgement and produce → consume.

use futures::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// What the reference measured, each sorted.
pub(super) struct Reference {
    pub(super) acknowledged: Vec<Duration>,
    pub(super) consumed: Vec<Duration>,
}

/// Produces one record every 1/`rate` s for `duration` to `topic` (one partition) while a consumer reads it;
/// `linger` and `fetch_wait` as pacer's ingest and worker use them.
pub(super) async fn round_trip(
    brokers: &str,
    topic: &str,
    rate: f64,
    duration: Duration,
    (linger, fetch_wait): (Duration, Duration),
) -> anyhow::Result<Reference> {
    pacer_stack::create_topic(brokers, topic, 1).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger.as_millis().to_string())
        .create()?;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reference"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string())
        .create()?;
    consumer.subscribe(&[topic])?;
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let consumed = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let reader = {
        let consumed = consumed.clone();
        tokio::spawn(async move {
            let mut stream = consumer.stream();
            while let Some(Ok(message)) = stream.next().await {
                let now = OffsetDateTime::now_utc();
                if let Some(sent) = message.payload().and_then(|p| std::str::from_utf8(p).ok())
                    && let Ok(nanos) = sent.parse::<i128>()
                    && let Ok(sent) = OffsetDateTime::from_unix_timestamp_nanos(nanos)
                {
                    let mut consumed = consumed.lock().unwrap_or_else(|e| e.into_inner());
                    consumed.push((now - sent).try_into().unwrap_or_default());
                    if consumed.len() >= total {
                        return;
                    }
                }
            }
        })
    };
    // The consumer joins its group before the first record, so that no record waits for the join.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    let mut sends = Vec::with_capacity(total);
    for _ in 0..total {
        tick.tick().await;
        let producer = producer.clone();
        let topic = topic.to_owned();
        sends.push(tokio::spawn(async move {
            let payload = OffsetDateTime::now_utc().unix_timestamp_nanos().to_string();
            let sent = Instant::now();
            producer
                .send(
                    FutureRecord::<(), str>::to(&topic).payload(&payload),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| sent.elapsed())
                .map_err(|(e, _)| e)
        }));
    }
    let mut acknowledged = Vec::with_capacity(total);
    for send in sends {
        acknowledged.push(send.await??);
    }
    if tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .is_err()
    {
        anyhow::bail!("the reference consumer did not read every record within 30 s");
    }
    let mut consumed = std::mem::take(&mut *consumed.lock().unwrap_or_else(|e| e.into_inner()));
    acknowledged.sort_unstable();
    consumed.sort_unstable();
    Ok(Reference {
        acknowledged,
        consumed,
    })
}
