//! Numbers and times, short enough for a terminal cell.

use std::time::Duration;
use time::OffsetDateTime;

/// `850µs`, `12ms`, `1.5s`, `2m05s`, `3h10m`, `2d4h`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    if ms == 0 {
        format!("{}µs", d.as_micros())
    } else if ms < 1_000 {
        format!("{ms}ms")
    } else if secs < 10 && !ms.is_multiple_of(1_000) {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3_600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h{:02}m", secs / 3_600, secs % 3_600 / 60)
    } else {
        format!("{}d{}h", secs / 86_400, secs % 86_400 / 3_600)
    }
}

/// A protobuf duration as a [`Duration`]; negative ones are zero.
pub fn from_pb(d: &prost_types::Duration) -> Duration {
    Duration::try_from(*d).unwrap_or_default()
}

/// A protobuf timestamp as a date-time; `None` if it is out of range.
pub fn timestamp(t: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// `HH:MM:SS` in UTC.
pub fn clock(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `950`, `12.3k`, `4.56M`, `7.89G`.
pub fn count(n: f64) -> String {
    let a = n.abs();
    if a < 1e3 {
        format!("{n:.0}")
    } else if a < 1e6 {
        format!("{:.1}k", n / 1e3)
    } else if a < 1e9 {
        format!("{:.2}M", n / 1e6)
    } else {
        format!("{:.2}G", n / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::from_micros(850)), "850µs");
        assert_eq!(duration(Duration::from_millis(12)), "12ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::from_secs(2)), "2s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(duration(Duration::from_secs(3 * 3600 + 600)), "3h10m");
        assert_eq!(duration(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d4h");
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(count(950.0), "950");
        assert_eq!(count(12_340.0), "12.3k");
        assert_eq!(count(4_560_000.0), "4.56M");
        assert_eq!(count(-2_000.0), "-2.0k");
    }

    #[test]
    fn protobuf_times_convert_and_bad_ones_do_not_panic() {
        let d = prost_types::Duration {
            seconds: 1,
            nanos: 500_000_000,
        };
        assert_eq!(from_pb(&d), Duration::from_millis(1500));
        assert_eq!(
            from_pb(&prost_types::Duration {
                seconds: -1,
                nanos: 0
            }),
            Duration::ZERO
        );
        let t = prost_types::Timestamp {
            seconds: 3_600 + 61,
            nanos: 0,
        };
        assert_eq!(timestamp(&t).map(clock).as_deref(), Some("01:01:01"));
        assert!(
            timestamp(&prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0
            })
            .is_none()
        );
    }
}
