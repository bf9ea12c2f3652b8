//! Property tests over arbitrary input for the parser and validator: whatever the bytes, `parse_body` answers
//! (never panics), an error names what is wrong, and an accepted event survives its own encoding unchanged.
#![allow(clippy::unwrap_used)]

use pacer_event::{BodyFormat, parse_body, parse_one};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: OffsetDateTime = time::macros::datetime!(2026-01-01 00:00 UTC);

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event whose attributes are each either a plausible value or anything at all.
fn any_event() -> impl Strategy<Value = Value> {
    let attr = |good: &'static str| prop_oneof![3 => Just(json!(good)), 1 => any_json()];
    (
        attr("1.0"),
        prop_oneof![3 => "[a-z0-9-]{1,12}".prop_map(Value::String), 1 => any_json()],
        attr("/source"),
        attr("com.example.type"),
        prop::option::of(prop_oneof![
            Just(json!("2026-01-01T00:00:00Z")),
            Just(json!("not a time")),
            any_json()
        ]),
        prop::option::of(any_json()),
        prop::option::of(prop_oneof![Just(json!("tenant")), any_json()]),
    )
        .prop_map(|(specversion, id, source, kind, time, data, extension)| {
            let mut event =
                json!({"specversion": specversion, "id": id, "source": source, "type": kind});
            let object = event.as_object_mut().unwrap();
            if let Some(time) = time {
                object.insert("time".into(), time);
            }
            if let Some(data) = data {
                object.insert("data".into(), data);
            }
            if let Some(extension) = extension {
                object.insert("tenantid".into(), extension);
            }
            event
        })
}

fn formats() -> impl Strategy<Value = BodyFormat> {
    prop_oneof![
        Just(BodyFormat::Single),
        Just(BodyFormat::Batch),
        Just(BodyFormat::Ndjson)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_get_an_answer_and_an_error_says_what(body in prop::collection::vec(any::<u8>(), 0..512), format in formats()) {
        if let Err(e) = parse_body(format, &body, NOW) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn any_event_is_accepted_whole_or_refused_with_a_reason(event in any_event()) {
        let body = serde_json::to_vec(&event).unwrap();
        match parse_one(&body, NOW) {
            Ok(parsed) => {
                // Accepted events encode to JSON that parses to the same event.
                let encoded = parsed.to_json().unwrap();
                let again = parse_one(&encoded, NOW).unwrap();
                prop_assert_eq!(again.to_json().unwrap(), encoded);
                prop_assert!(!parsed.id.is_empty());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn a_batch_is_all_or_nothing(events in prop::collection::vec(any_event(), 0..6)) {
        let body = serde_json::to_vec(&Value::Array(events.clone())).unwrap();
        let one_by_one: Vec<bool> = events
            .iter()
            .map(|e| parse_one(&serde_json::to_vec(e).unwrap(), NOW).is_ok())
            .collect();
        match parse_body(BodyFormat::Batch, &body, NOW) {
            Ok(parsed) => {
                prop_assert_eq!(parsed.len(), events.len());
                prop_assert!(one_by_one.iter().all(|ok| *ok));
            }
            Err(_) => prop_assert!(events.is_empty() || one_by_one.iter().any(|ok| !*ok)),
        }
    }

    #[test]
    fn deep_nesting_is_refused_or_kept_never_a_crash(depth in 0usize..400) {
        let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(r#"{{"specversion":"1.0","id":"d","source":"/s","type":"t","data":{data}}}"#);
        let _ = parse_one(body.as_bytes(), NOW);
    }
}
