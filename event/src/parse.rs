//! The three body formats of `POST /v1/events`: one event, a JSON array of events, and NDJSON.

use crate::error::{EventError, Problem};
use crate::event::CloudEvent;
use crate::object::RawObject;
use crate::validate::validate;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fmt;
use time::OffsetDateTime;

/// How a request body holds its events, chosen by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/cloudevents+json` or `application/json`: one event.
    Single,
    /// `application/cloudevents-batch+json`: a JSON array of events.
    Batch,
    /// `application/x-ndjson`: one event per line.
    Ndjson,
}

impl BodyFormat {
    /// The format for a `Content-Type` header value (parameters such as `charset` are ignored), if supported.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/cloudevents+json" | "application/json" => Some(Self::Single),
            "application/cloudevents-batch+json" => Some(Self::Batch),
            "application/x-ndjson" | "application/ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// Parses and validates a whole request body. Either every event is valid, or the first error is returned.
pub fn parse_body(
    format: BodyFormat,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Vec<CloudEvent>, EventError> {
    match format {
        BodyFormat::Single => parse_one(body, now).map(|event| vec![event]),
        BodyFormat::Batch => parse_batch(body, now),
        BodyFormat::Ndjson => parse_ndjson(body, now),
    }
}

/// Parses one event. `default_time` fills a missing `time`.
pub fn parse_one(body: &[u8], default_time: OffsetDateTime) -> Result<CloudEvent, EventError> {
    parse_object(body, 0, default_time)
}

/// Parses a JSON array of events; errors carry the index of the offending event.
pub fn parse_batch(body: &[u8], now: OffsetDateTime) -> Result<Vec<CloudEvent>, EventError> {
    let complete = Cell::new(0usize);
    let mut de = serde_json::Deserializer::from_slice(body);
    let items = de
        .deserialize_seq(CountingSeq(&complete))
        .and_then(|items| de.end().map(|()| items))
        .map_err(|e| {
            let error = EventError::new(Problem::syntax(&e, 0));
            // A syntax error inside the array is inside the element after the last complete one.
            if e.classify() == serde_json::error::Category::Syntax || e.is_eof() {
                error.at(complete.get())
            } else {
                error
            }
        })?;
    if items.is_empty() {
        return Err(EventError::new(Problem::EmptyBatch));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_object(raw.get().as_bytes(), 0, now).map_err(|e| e.at(index)))
        .collect()
}

/// Parses newline-delimited events; blank lines are skipped. Errors carry the event index and the body's line.
pub fn parse_ndjson(body: &[u8], now: OffsetDateTime) -> Result<Vec<CloudEvent>, EventError> {
    let mut events = Vec::new();
    for (line_index, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = events.len();
        events.push(parse_object(line, line_index, now).map_err(|e| e.at(index))?);
    }
    if events.is_empty() {
        return Err(EventError::new(Problem::EmptyBatch));
    }
    Ok(events)
}

fn parse_object(
    bytes: &[u8],
    line_offset: usize,
    now: OffsetDateTime,
) -> Result<CloudEvent, EventError> {
    let object = RawObject::parse(bytes).map_err(|e| match e.classify() {
        // Well-formed JSON of another type than an object.
        serde_json::error::Category::Data => EventError::new(Problem::NotAnObject),
        _ => EventError::new(Problem::syntax(&e, line_offset)),
    })?;
    validate(object, now)
}

/// Collects the raw elements of a JSON array while counting the complete ones, so that an error can name the
/// index of the element it happened in.
struct CountingSeq<'a>(&'a Cell<usize>);

impl<'de> Visitor<'de> for CountingSeq<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of CloudEvents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
            self.0.set(items.len());
        }
        Ok(items)
    }
}
