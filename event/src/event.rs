//! The validated CloudEvent.

use serde_json::value::RawValue;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A CloudEvent that passed validation. `data` is kept as the exact JSON text it arrived as, so that numbers
/// and key order round-trip to PostgreSQL unchanged.
#[derive(Debug, Clone)]
pub struct CloudEvent {
    /// `id`: unique within `source`.
    pub id: String,
    /// `source`: a URI-reference naming the producer.
    pub source: String,
    /// `type`.
    pub ty: String,
    /// `time`: from the event, or the time it was received when the event had none.
    pub time: OffsetDateTime,
    /// `subject`.
    pub subject: Option<String>,
    /// `datacontenttype`.
    pub datacontenttype: Option<String>,
    /// `dataschema`.
    pub dataschema: Option<String>,
    /// `data` as raw JSON text.
    pub data: Option<Box<RawValue>>,
    /// `data_base64`: binary data, base64-encoded.
    pub data_base64: Option<String>,
    /// Extension attributes (strings, integers or booleans), by name.
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl CloudEvent {
    /// The only spec version accepted.
    pub const SPEC_VERSION: &'static str = "1.0";

    /// The key for Kafka: the `partitionkey` extension if present, else `subject`.
    pub fn partition_key(&self) -> Option<&str> {
        match self.extensions.get("partitionkey") {
            Some(serde_json::Value::String(key)) => Some(key),
            _ => self.subject.as_deref(),
        }
    }
}
