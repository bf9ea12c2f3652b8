//! Where a batch's records spent their time before the batch closed: from their receipt (the record's
//! timestamp, which pacer's ingest sets to the receipt of the request) to the moment the worker's consumer
//! handed them over, and from then to the batch's close. With the write and the commit, which the batch's
//! report times, this is the freshness budget stage by stage (`pacer bench latency`).

use rdkafka::Message;
use std::time::Duration;
use time::OffsetDateTime;

/// The median and 99th percentile of each stage before a batch closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchStages {
    /// Receipt → fetched: the broker's acknowledgement and the consumer's fetch.
    pub receipt_to_fetch: [Duration; 2],
    /// Fetched → the batch closed: the rest of the batch's collection.
    pub fetch_to_close: [Duration; 2],
}

/// The clock of one batch's records as they are fetched.
#[derive(Debug, Default)]
pub(crate) struct StageClock {
    receipt_to_fetch: Vec<Duration>,
    fetched: Vec<OffsetDateTime>,
}

impl StageClock {
    /// Notes `record`, handed over by the consumer at `at`. A record without a timestamp has no receipt,
    /// but still waited in the batch.
    pub(crate) fn fetched(&mut self, record: &impl Message, at: OffsetDateTime) {
        if let Some(ms) = record.timestamp().to_millis() {
            let receipt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000);
            if let Ok(receipt) = receipt {
                self.receipt_to_fetch
                    .push((at - receipt).try_into().unwrap_or_default());
            }
        }
        self.fetched.push(at);
    }

    /// The stages at the batch's close at `closed_at`, if any record was fetched.
    pub(crate) fn close(mut self, closed_at: OffsetDateTime) -> Option<FetchStages> {
        let mut waits: Vec<Duration> = self
            .fetched
            .iter()
            .map(|at| (closed_at - *at).try_into().unwrap_or_default())
            .collect();
        Some(FetchStages {
            receipt_to_fetch: p50_p99(&mut self.receipt_to_fetch)?,
            fetch_to_close: p50_p99(&mut waits)?,
        })
    }
}

/// The nearest-rank median and 99th percentile of `values`, if there are any.
fn p50_p99(values: &mut [Duration]) -> Option<[Duration; 2]> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some([rank(0.5), rank(0.99)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    fn record(timestamp: Timestamp) -> OwnedMessage {
        OwnedMessage::new(None, None, "t".into(), timestamp, 0, 0, None)
    }

    #[test]
    fn each_stage_is_measured_from_the_receipt_and_to_the_close() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let ms = |n: i64| time::Duration::milliseconds(n);
        let mut clock = StageClock::default();
        // Received at t0, t0 + 1 ms, ..., each fetched 30 ms after its receipt.
        for i in 0..100 {
            let receipt = (t0 + ms(i)).unix_timestamp_nanos() / 1_000_000;
            clock.fetched(
                &record(Timestamp::CreateTime(receipt as i64)),
                t0 + ms(i + 30),
            );
        }
        // One record without a timestamp: it counts for the wait only.
        clock.fetched(&record(Timestamp::NotAvailable), t0 + ms(130));
        let stages = clock.close(t0 + ms(140)).unwrap();
        assert_eq!(stages.receipt_to_fetch, [Duration::from_millis(30); 2]);
        // Waits of 10..=110 ms: the 51st is 60 ms, the 100th of 101 is 109 ms.
        assert_eq!(
            stages.fetch_to_close,
            [Duration::from_millis(60), Duration::from_millis(109)]
        );
        assert_eq!(StageClock::default().close(t0), None);
    }
}
