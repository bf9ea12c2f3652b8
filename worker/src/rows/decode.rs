//! From a Kafka record to a CloudEvent, in whichever of the three forms it came:
//!
//! - **structured** CloudEvents JSON (what `pacer ingest` produces): the value is the event;
//! - **binary** mode of the CloudEvents Kafka protocol binding: the attributes are `ce_` headers, the
//!   `content-type` header is `datacontenttype`, and the value is `data`;
//! - **plain JSON** on a topic a `format = "json"` route reads: the value is `data`, and the route says
//!   where the event's `id` and `source` come from.
//!
//! Binary and plain records are checked by the same rules as structured ones: they are turned into the
//! structured form's attributes and go through `pacer_event`'s validation.

use super::convert::Found;
use pacer_event::CloudEvent;
use pacer_pipeline::{Format, IdFrom, JsonIdentity, Route, SourceFrom};
use rdkafka::message::{Headers, Message, OwnedMessage};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A record read as an event, with its `data` parsed when it had to be.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) event: CloudEvent,
    /// `data` as a JSON value, when decoding already parsed it (binary and plain records).
    pub(crate) data: Option<Json>,
}

/// Why a record is not an event.
pub(crate) type NotAnEvent = String;

/// Reads a record of a topic whose records are CloudEvents (structured, or binary when it has a
/// `ce_specversion` header).
pub(crate) fn cloud_event(
    record: &OwnedMessage,
    default_time: OffsetDateTime,
) -> Result<Decoded, NotAnEvent> {
    let payload = record.payload();
    if let Some(headers) = record.headers()
        && headers.iter().any(|header| header.key == "ce_specversion")
    {
        return binary(headers, payload.unwrap_or_default(), default_time);
    }
    let Some(payload) = payload else {
        return Err("the record has no payload".to_owned());
    };
    let event = pacer_event::parse_one(payload, default_time)
        .map_err(|e| format!("not a valid CloudEvent: {e}"))?;
    Ok(Decoded { event, data: None })
}

/// A binary-mode record: attributes from the `ce_` headers, `data` from the value.
fn binary(
    headers: &rdkafka::message::OwnedHeaders,
    payload: &[u8],
    default_time: OffsetDateTime,
) -> Result<Decoded, NotAnEvent> {
    let mut attributes = Map::new();
    let mut content_type = None;
    for header in headers.iter() {
        let value = header.value.unwrap_or_default();
        let text = || {
            std::str::from_utf8(value)
                .map(str::to_owned)
                .map_err(|_| format!("binary-mode CloudEvent: header {} is not UTF-8", header.key))
        };
        if let Some(name) = header.key.strip_prefix("ce_") {
            attributes.insert(name.to_owned(), Json::String(text()?));
        } else if header.key.eq_ignore_ascii_case("content-type") {
            content_type = Some(text()?);
        }
    }
    let data = match content_type.as_deref() {
        _ if payload.is_empty() => None,
        None => Some(json_data(payload)?),
        Some(ct) if is_json(ct) => Some(json_data(payload)?),
        Some(ct) if ct.starts_with("text/") => {
            Some(Json::String(String::from_utf8(payload.to_vec()).map_err(
                |_| format!("binary-mode CloudEvent: data of content type {ct} is not UTF-8"),
            )?))
        }
        Some(ct) => {
            use base64::Engine as _;
            attributes.insert(
                "data_base64".to_owned(),
                Json::String(base64::engine::general_purpose::STANDARD.encode(payload)),
            );
            attributes.insert("datacontenttype".to_owned(), Json::String(ct.to_owned()));
            None
        }
    };
    if let Some(ct) = &content_type {
        attributes.insert("datacontenttype".to_owned(), Json::String(ct.clone()));
    }
    if let Some(data) = &data {
        attributes.insert("data".to_owned(), data.clone());
    }
    let structured = Json::Object(attributes).to_string();
    let event = pacer_event::parse_one(structured.as_bytes(), default_time)
        .map_err(|e| format!("not a valid binary-mode CloudEvent: {e}"))?;
    Ok(Decoded { event, data })
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn json_data(payload: &[u8]) -> Result<Json, NotAnEvent> {
    serde_json::from_slice(payload)
        .map_err(|e| format!("binary-mode CloudEvent: data is not JSON ({e})"))
}

/// Reads a plain JSON record of a `format = "json"` route's topic: `data` is the record, `id` and `source`
/// come from where the route says, `type` is the route's name and `time` the record's timestamp.
pub(crate) fn plain_json(
    record: &OwnedMessage,
    route: &Route,
    time: OffsetDateTime,
) -> Result<Decoded, NotAnEvent> {
    let Format::Json(JsonIdentity { id, source }) = route.format() else {
        return Err(format!(
            "route \"{}\" does not read plain JSON",
            route.name()
        ));
    };
    let Some(payload) = record.payload() else {
        return Err("the record has no payload".to_owned());
    };
    let text =
        std::str::from_utf8(payload).map_err(|_| "the record is not UTF-8 JSON".to_owned())?;
    let data: Json =
        serde_json::from_str(text).map_err(|e| format!("the record is not JSON: {e}"))?;
    let id = match id {
        IdFrom::Pointer(pointer) => identity_at(&data, pointer, "id")?,
        IdFrom::KafkaPosition => {
            IdFrom::kafka_position(record.topic(), record.partition(), record.offset())
        }
    };
    let source = match source {
        SourceFrom::Pointer(pointer) => identity_at(&data, pointer, "source")?,
        SourceFrom::Value(value) => value.clone(),
    };
    let raw = RawValue::from_string(text.to_owned())
        .map_err(|e| format!("the record is not JSON: {e}"))?;
    let event = CloudEvent {
        id,
        source,
        ty: route.name().to_owned(),
        time,
        subject: None,
        datacontenttype: Some("application/json".to_owned()),
        dataschema: None,
        data: Some(raw),
        data_base64: None,
        extensions: BTreeMap::new(),
    };
    Ok(Decoded {
        event,
        data: Some(data),
    })
}

/// A string or integer at `pointer` in the record, as the event's `what`.
fn identity_at(data: &Json, pointer: &str, what: &str) -> Result<String, NotAnEvent> {
    match data.pointer(pointer) {
        Some(Json::String(s)) if s.contains('\0') => Err(format!(
            "the record's {what} at {pointer} holds a NUL character, which PostgreSQL text cannot store"
        )),
        Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(other) => Err(format!(
            "the record's {what} at {pointer} is {}, not a non-empty string or an integer",
            Found::Json(other).quoted()
        )),
        None => Err(format!("the record has no {what} at {pointer}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};

    fn record(payload: &[u8], headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            "shop".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            2,
            40,
            headers,
        )
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn binary_mode_takes_attributes_from_headers() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_id",
                value: Some("e-1"),
            })
            .insert(Header {
                key: "ce_source",
                value: Some("/shop"),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("shop.order.created"),
            })
            .insert(Header {
                key: "ce_tenant",
                value: Some("acme"),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
        let decoded = cloud_event(&record(br#"{"amount": 5}"#, Some(headers)), now()).unwrap();
        assert_eq!(decoded.event.id, "e-1");
        assert_eq!(decoded.event.ty, "shop.order.created");
        assert_eq!(
            decoded.event.extensions["tenant"],
            Json::String("acme".into())
        );
        assert_eq!(decoded.data.unwrap()["amount"], 5);
    }

    #[test]
    fn binary_mode_without_an_id_is_refused_by_the_same_rules() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_source",
                value: Some("/shop"),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("t"),
            });
        let error = cloud_event(&record(b"{}", Some(headers)), now()).unwrap_err();
        assert!(error.contains("`id`"), "{error}");
    }

    #[test]
    fn structured_records_parse_as_before() {
        let payload = br#"{"specversion":"1.0","id":"a","source":"/s","type":"t"}"#;
        let decoded = cloud_event(&record(payload, None), now()).unwrap();
        assert_eq!(
            (decoded.event.source.as_str(), decoded.event.id.as_str()),
            ("/s", "a")
        );
        assert!(decoded.data.is_none());
    }
}
