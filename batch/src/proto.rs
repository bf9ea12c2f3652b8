//! The batch vocabulary in its `pacer.v1` wire form, and back: the one place both ends of the protocol (the
//! worker and the control plane) convert settings, flush reasons, durations, times and lag.

use crate::{Flush, PartitionLag, Settings};
use pacer_proto::v1 as pb;
use std::fmt;
use std::time::Duration;
use time::OffsetDateTime;

/// A message field that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as named in the proto.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Invalid {
    /// `field` is wrong because of `problem`.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Invalid {
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for Invalid {}

impl From<Invalid> for tonic::Status {
    fn from(e: Invalid) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

/// Settings from the message in `field`: present, and every limit at least 1.
pub fn settings(field: &'static str, s: Option<pb::BatchSettings>) -> Result<Settings, Invalid> {
    let s = s.ok_or_else(|| Invalid::new(field, "missing"))?;
    if s.interval_ms == 0 || s.max_rows == 0 || s.max_bytes == 0 {
        return Err(Invalid::new(
            field,
            "interval_ms, max_rows and max_bytes must each be at least 1",
        ));
    }
    Ok(Settings {
        interval: Duration::from_millis(s.interval_ms),
        max_rows: s.max_rows,
        max_bytes: s.max_bytes,
    })
}

/// Settings as a message (the interval in whole milliseconds, rounded down; see [`Settings::on_the_wire`]).
pub fn settings_pb(s: Settings) -> pb::BatchSettings {
    pb::BatchSettings {
        interval_ms: u64::try_from(s.interval.as_millis()).unwrap_or(u64::MAX),
        max_rows: s.max_rows,
        max_bytes: s.max_bytes,
    }
}

/// A flush reason from its wire value.
pub fn flush(field: &'static str, reason: i32) -> Result<Flush, Invalid> {
    match pb::FlushReason::try_from(reason) {
        Ok(pb::FlushReason::Interval) => Ok(Flush::Interval),
        Ok(pb::FlushReason::MaxRows) => Ok(Flush::MaxRows),
        Ok(pb::FlushReason::MaxBytes) => Ok(Flush::MaxBytes),
        Ok(pb::FlushReason::Drain) => Ok(Flush::Drain),
        _ => Err(Invalid::new(field, format!("unknown value {reason}"))),
    }
}

/// A flush reason as a message.
pub fn flush_pb(flush: Flush) -> pb::FlushReason {
    match flush {
        Flush::Interval => pb::FlushReason::Interval,
        Flush::MaxRows => pb::FlushReason::MaxRows,
        Flush::MaxBytes => pb::FlushReason::MaxBytes,
        Flush::Drain => pb::FlushReason::Drain,
    }
}

/// A duration as a message; one too long for the message saturates.
pub fn duration_pb(d: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).unwrap_or(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 0,
    })
}

/// A duration from a message, if present and not negative.
pub fn duration(d: prost_types::Duration) -> Option<Duration> {
    Duration::try_from(d).ok()
}

/// A time as a message.
pub fn timestamp_pb(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

/// A time from a message, if it is one `time` can represent.
pub fn timestamp(t: prost_types::Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .ok()
}

/// Lag per partition as messages.
pub fn lag_pb(lag: &[PartitionLag]) -> Vec<pb::PartitionLag> {
    lag.iter()
        .map(|l| pb::PartitionLag {
            topic: l.topic.clone(),
            partition: l.partition,
            lag: l.lag,
            // The wire's "unknown".
            end_offset: l.end.unwrap_or(-1),
        })
        .collect()
}

/// Lag per partition from messages.
pub fn lag(lag: Vec<pb::PartitionLag>) -> Vec<PartitionLag> {
    lag.into_iter()
        .map(|l| PartitionLag {
            topic: l.topic,
            partition: l.partition,
            lag: l.lag,
            end: (l.end_offset >= 0).then_some(l.end_offset),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_zero_limits_are_refused() {
        let s = Settings {
            interval: Duration::from_millis(250),
            max_rows: 1234,
            max_bytes: 99,
        };
        assert_eq!(settings("s", Some(settings_pb(s))), Ok(s));
        let mut zero = settings_pb(s);
        zero.max_rows = 0;
        let err = settings("s", Some(zero)).expect_err("zero rows");
        assert_eq!(err.field, "s");
        assert!(settings("s", None).is_err());
    }

    #[test]
    fn flush_reasons_round_trip_and_unknown_values_are_refused() {
        for f in Flush::ALL {
            assert_eq!(flush("r", flush_pb(f).into()), Ok(f));
        }
        assert!(flush("r", 0).is_err());
        assert!(flush("r", 99).is_err());
    }

    #[test]
    fn times_and_durations_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("time");
        assert_eq!(timestamp(timestamp_pb(t)), Some(t));
        let d = Duration::from_micros(1_234_567);
        assert_eq!(duration(duration_pb(d)), Some(d));
        assert_eq!(duration_pb(Duration::MAX).seconds, i64::MAX);
    }

    #[test]
    fn lag_round_trips_with_its_topic_and_an_unknown_end() {
        let l = vec![
            PartitionLag {
                topic: "a".into(),
                partition: 0,
                lag: 5,
                end: Some(100),
            },
            PartitionLag {
                topic: "b".into(),
                partition: 0,
                lag: 0,
                end: None,
            },
        ];
        let wire = lag_pb(&l);
        assert_eq!(wire[1].end_offset, -1);
        assert_eq!(lag(wire), l);
    }
}
