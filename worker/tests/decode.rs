//! Property tests over arbitrary records for the worker's decoder (`transform`): whatever a partition holds
//! (no payload, bytes that are not JSON, JSON that is not an event, events good and bad), every record
//! becomes exactly one row or one dead letter with a reason, and nothing panics.
#![allow(clippy::unwrap_used)]

use pacer_worker::{Batch, Routes, Settings, transform};
use proptest::prelude::*;
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;
use time::OffsetDateTime;

fn record(offset: i64, key: Option<Vec<u8>>, payload: Option<Vec<u8>>) -> OwnedMessage {
    OwnedMessage::new(
        payload,
        key,
        "events".into(),
        Timestamp::CreateTime(1_700_000_000_000),
        0,
        offset,
        None,
    )
}

/// A payload of every kind a topic can hold.
fn payload() -> impl Strategy<Value = Option<Vec<u8>>> {
    let good = "[a-z0-9]{1,8}".prop_map(|id| {
        format!(r#"{{"specversion":"1.0","id":"{id}","source":"/s","type":"t","data":{{"n":1}}}}"#)
            .into_bytes()
    });
    let almost = "[a-z0-9]{0,8}".prop_map(|id| {
        format!(r#"{{"specversion":"0.3","id":"{id}","source":"","type":7}}"#).into_bytes()
    });
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Some),
        good.prop_map(Some),
        almost.prop_map(Some),
        Just(Some(b"[]".to_vec())),
        Just(Some(b"{\"data\":\"\\u0000\"}".to_vec())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_record_becomes_one_row_or_one_dead_letter(
        records in prop::collection::vec((prop::option::of(prop::collection::vec(any::<u8>(), 0..16)), payload()), 1..40)
    ) {
        let mut batch = Batch::new(Settings::default());
        for (offset, (key, payload)) in records.into_iter().enumerate() {
            batch.push(record(offset as i64, key, payload), 1);
        }
        let out = transform(&batch, &Routes::default(), OffsetDateTime::now_utc());
        let row_records: Vec<usize> = out.tables.iter().flat_map(|t| t.row_records.iter().copied()).collect();
        prop_assert_eq!(out.valid + out.dead.len(), batch.len());
        prop_assert_eq!(row_records.len(), out.valid);
        prop_assert_eq!(out.latencies.len(), out.valid);
        for dead in &out.dead {
            prop_assert!(!dead.reason.is_empty());
        }
        // Rows and dead letters name different records, and every record once.
        let mut seen: Vec<i64> = row_records.iter().map(|&i| i as i64).collect();
        seen.extend(out.dead.iter().map(|d| d.offset));
        seen.sort_unstable();
        let all: Vec<i64> = (0..batch.len() as i64).collect();
        prop_assert_eq!(seen, all);
    }
}
