//! Re-encoding a validated event as CloudEvents JSON: what ingest produces to Kafka.

use crate::event::CloudEvent;
use serde::ser::{Serialize, SerializeMap, Serializer};
use time::format_description::well_known::Rfc3339;

impl Serialize for CloudEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let time = self
            .time
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", CloudEvent::SPEC_VERSION)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.ty)?;
        map.serialize_entry("time", &time)?;
        if let Some(subject) = &self.subject {
            map.serialize_entry("subject", subject)?;
        }
        if let Some(v) = &self.datacontenttype {
            map.serialize_entry("datacontenttype", v)?;
        }
        if let Some(v) = &self.dataschema {
            map.serialize_entry("dataschema", v)?;
        }
        for (name, value) in &self.extensions {
            map.serialize_entry(name, value)?;
        }
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(b64) = &self.data_base64 {
            map.serialize_entry("data_base64", b64)?;
        }
        map.end()
    }
}

impl CloudEvent {
    /// The event as CloudEvents JSON bytes, with `time` always present. It fails only for a `time` that RFC 3339
    /// cannot express, which validation never lets through.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
