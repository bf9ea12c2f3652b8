//! Schema enforcement: each event's `data` checked against the JSON Schema of the route the worker will
//! give it, before anything of the request is produced.
//!
//! An event whose route has no schema, or that no route takes (the worker dead-letters it as "no
//! route"), is not checked; its data is not even parsed. Data is parsed only for a route with a schema.

use pacer_event::CloudEvent;
use pacer_pipeline::{Pipeline, Violation};
use serde_json::Value;

/// Why an event's data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The data breaks the route's schema.
    #[error(transparent)]
    Violation(#[from] Violation),
    /// The data is JSON that cannot be held as a value to check, such as a number beyond the range of a
    /// 64-bit float.
    #[error("data cannot be checked against the schema of route \"{route}\": {reason}")]
    Uncheckable {
        /// The route whose schema it would be checked against.
        route: String,
        /// What the JSON parser said.
        reason: String,
    },
}

/// An event of a request refused for its data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {error}")]
pub struct DataRefused {
    /// The event's index in the request (0 for a single event).
    pub index: usize,
    /// What is wrong with its data.
    pub error: DataError,
}

/// Checks every event, in order, against the schema of its route for `topic` (the topic ingest produces
/// to); the first one refused is the error.
pub fn check_events(
    events: &[CloudEvent],
    pipeline: &Pipeline,
    topic: &str,
) -> Result<(), DataRefused> {
    for (index, event) in events.iter().enumerate() {
        let Some(route) = pipeline
            .route_index(topic, &event.ty, &event.source)
            .and_then(|index| pipeline.routes().get(index))
        else {
            continue;
        };
        if !route.has_schema() {
            continue;
        }
        let data: Option<Value> = match &event.data {
            None => None,
            Some(raw) => Some(serde_json::from_str(raw.get()).map_err(|e| DataRefused {
                index,
                error: DataError::Uncheckable {
                    route: route.name().to_owned(),
                    reason: e.to_string(),
                },
            })?),
        };
        route
            .check_data(data.as_ref())
            .map_err(|violation| DataRefused {
                index,
                error: violation.into(),
            })?;
    }
    Ok(())
}

/// Whether any route checks data: if none does, ingest skips the check altogether.
pub(crate) fn checks_any(pipeline: &Pipeline) -> bool {
    pipeline.routes().iter().any(|route| route.has_schema())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    /// A pipeline whose `orders` route (type `shop.*`) checks `amount >= 0`, with an unchecked fallback.
    fn pipeline(dir: &tempfile::TempDir) -> Pipeline {
        let schema = r#"{ "type": "object", "required": ["amount"], "properties": { "amount": { "type": "number", "minimum": 0 } } }"#;
        std::fs::write(dir.path().join("order.json"), schema).unwrap();
        let file = dir.path().join("pacer.toml");
        std::fs::write(
            &file,
            "[[route]]\nname = \"orders\"\ntype = \"shop.*\"\ntable = \"orders\"\nschema = \"order.json\"\n\n[[route]]\nname = \"rest\"\ntopic = \"other\"\ntable = \"events\"\n",
        )
        .unwrap();
        Pipeline::from_file(&file).unwrap()
    }

    fn events(lines: &[&str]) -> Vec<CloudEvent> {
        let body = lines.join("\n");
        pacer_event::parse_ndjson(body.as_bytes(), OffsetDateTime::now_utc()).unwrap()
    }

    fn event(ty: &str, data: &str) -> String {
        format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"{ty}","data":{data}}}"#)
    }

    #[test]
    fn valid_data_and_events_without_a_schema_pass() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline(&dir);
        let batch = events(&[
            &event("shop.order", r#"{"amount": 1}"#),
            // No route takes it: the worker dead-letters it; ingest does not judge its data.
            &event("bank.payment", r#"{"amount": -1}"#),
        ]);
        assert_eq!(check_events(&batch, &pipeline, "events"), Ok(()));
        // On topic "other" the unchecked route takes what "orders" would not.
        let other = events(&[&event("bank.payment", r#"{"amount": -1}"#)]);
        assert_eq!(check_events(&other, &pipeline, "other"), Ok(()));
        assert!(checks_any(&pipeline));
        assert!(!checks_any(&Pipeline::default()));
    }

    #[test]
    fn the_first_refused_event_is_named_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline(&dir);
        let batch = events(&[
            &event("shop.order", r#"{"amount": 1}"#),
            &event("shop.order", r#"{"amount": -1}"#),
            &event("shop.order", r#"{}"#),
        ]);
        let refused = check_events(&batch, &pipeline, "events").unwrap_err();
        assert_eq!(refused.index, 1);
        let DataError::Violation(violation) = &refused.error else {
            panic!("{refused}");
        };
        assert_eq!(
            (violation.pointer.as_str(), violation.keyword.as_str()),
            ("/data/amount", "minimum")
        );
        assert_eq!(
            refused.to_string(),
            "event 1: data does not match the schema of route \"orders\": /data/amount: minimum: -1 is less than the minimum of 0"
        );

        let no_data = events(&[r#"{"specversion":"1.0","id":"1","source":"/s","type":"shop.x"}"#]);
        let refused = check_events(&no_data, &pipeline, "events").unwrap_err();
        assert!(
            matches!(&refused.error, DataError::Violation(v) if v.keyword == "type" && v.pointer == "/data"),
            "{refused}"
        );
    }

    #[test]
    fn data_that_cannot_become_a_value_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = pipeline(&dir);
        let batch = events(&[&event("shop.order", r#"{"amount": 1e400}"#)]);
        let refused = check_events(&batch, &pipeline, "events").unwrap_err();
        assert!(
            refused.to_string().starts_with(
                "event 0: data cannot be checked against the schema of route \"orders\": number out of range"
            ),
            "{refused}"
        );
    }
}
