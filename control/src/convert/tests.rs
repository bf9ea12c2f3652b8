//! The conversions' tests: which messages are refused and why, and what a round trip keeps.

use super::*;
use pacer_policy::Flush;

fn hello(id: &str, settings: Option<pb::BatchSettings>) -> pb::Hello {
    pb::Hello {
        worker_id: id.into(),
        settings,
        ..Default::default()
    }
}

fn good() -> pb::BatchSettings {
    pb::BatchSettings {
        interval_ms: 250,
        max_rows: 5000,
        max_bytes: 1 << 20,
    }
}

#[test]
fn a_hello_is_checked_and_names_the_bad_field() {
    let ok = Hello::try_from(hello("w1", Some(good()))).unwrap();
    assert_eq!(ok.settings.interval, Duration::from_millis(250));
    let no_id = Hello::try_from(hello("", Some(good()))).unwrap_err();
    assert_eq!(no_id.field, "hello.worker_id");
    let no_settings = Hello::try_from(hello("w1", None)).unwrap_err();
    assert_eq!(no_settings.field, "hello.settings");
    let zero = Hello::try_from(hello(
        "w1",
        Some(pb::BatchSettings {
            max_rows: 0,
            ..good()
        }),
    ))
    .unwrap_err();
    assert!(zero.to_string().contains("at least 1"), "{zero}");
}

#[test]
fn a_report_needs_a_known_flush_reason() {
    let report = pb::BatchReport {
        settings: Some(good()),
        flush_reason: pb::FlushReason::MaxRows.into(),
        transform: Some(duration_pb(Duration::from_millis(3))),
        write: Some(duration_pb(Duration::from_millis(10))),
        lag: vec![
            pb::PartitionLag {
                topic: "t".into(),
                partition: 0,
                lag: 5,
                end_offset: 1_000,
            },
            pb::PartitionLag {
                topic: "t".into(),
                partition: 1,
                lag: 0,
                end_offset: -1,
            },
        ],
        ..Default::default()
    };
    let domain = Report::try_from(report.clone()).unwrap();
    // An unknown end (-1) is not taken for an end.
    let ends: Vec<_> = domain
        .lag
        .iter()
        .map(|l| (l.topic.as_str(), l.partition, l.end))
        .collect();
    assert_eq!(ends, [("t", 0, Some(1_000)), ("t", 1, None)]);
    assert_eq!(domain.flush, Flush::MaxRows);
    assert_eq!(domain.processing(), Duration::from_millis(13));
    assert_eq!(domain.total_lag(), Some(5));
    let huge = pb::BatchReport {
        write: Some(prost_types::Duration {
            seconds: i64::MAX,
            nanos: 0,
        }),
        ..report.clone()
    };
    assert_eq!(Report::try_from(huge).unwrap_err().field, "report.write");
    let unspecified = pb::BatchReport {
        flush_reason: 0,
        ..report
    };
    assert_eq!(
        Report::try_from(unspecified).unwrap_err().field,
        "report.flush_reason"
    );
}

#[test]
fn bounds_fields_left_at_zero_keep_their_value() {
    let current = Bounds::default();
    let changed = bounds(pb::Bounds {
        max_interval_ms: 2_000,
        ..Default::default()
    })
    .over(current);
    assert_eq!(changed.max_interval, Duration::from_secs(2));
    assert_eq!(
        Bounds {
            max_interval: current.max_interval,
            ..changed
        },
        current
    );
}

#[test]
fn settings_survive_the_round_trip() {
    let s = proto::settings("s", Some(good())).unwrap();
    assert_eq!(settings_pb(s), good());
    let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
    assert_eq!(timestamp(Some(timestamp_pb(t))), Some(t));
    assert_eq!(timestamp(None), None);
}
