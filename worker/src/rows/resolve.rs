//! Where a column's value is: a route's `from` read once into a lookup (which attribute, or which pointer
//! inside `data` or an extension), and the lookup run against one event.

use super::convert::Found;
use super::extract::{DataPaths, Slots};
use pacer_event::CloudEvent;
use pacer_pipeline::{ColumnSource, RecordFact};
use serde_json::Value as Json;
use time::OffsetDateTime;

/// A column's `from`, ready to look up.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// A context attribute of the event.
    Attribute(Attribute),
    /// `data`, or a pointer inside it: its slot in the route's [`DataPaths`].
    Data(usize),
    /// An extension attribute, or a pointer inside its value.
    Extension(String, String),
    /// A fact about the record.
    Fact(RecordFact),
}

/// The CloudEvents attributes a pointer's first token can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attribute {
    Id,
    Source,
    Type,
    SpecVersion,
    Time,
    Subject,
    DataContentType,
    DataSchema,
    DataBase64,
}

/// The record an event came from, and when its batch is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordFacts<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) ingested_at: OffsetDateTime,
    pub(crate) processed_at: OffsetDateTime,
}

impl Lookup {
    /// The lookup for a column's `from`; a pointer into `data` is added to `paths`.
    pub(crate) fn new(source: &ColumnSource, paths: &mut DataPaths) -> Self {
        let ColumnSource::Pointer(pointer) = source else {
            let ColumnSource::Record(fact) = source else {
                unreachable!("a column source is a pointer or a record fact")
            };
            return Self::Fact(*fact);
        };
        // The first token names the attribute; the rest (still escaped) points inside its value.
        let body = &pointer[1..];
        let (first, rest) = match body.find('/') {
            Some(at) => (&body[..at], &body[at..]),
            None => (body, ""),
        };
        let first = first.replace("~1", "/").replace("~0", "~");
        let attribute = match first.as_str() {
            "data" => return Self::Data(paths.add(rest)),
            "id" => Attribute::Id,
            "source" => Attribute::Source,
            "type" => Attribute::Type,
            "specversion" => Attribute::SpecVersion,
            "time" => Attribute::Time,
            "subject" => Attribute::Subject,
            "datacontenttype" => Attribute::DataContentType,
            "dataschema" => Attribute::DataSchema,
            "data_base64" => Attribute::DataBase64,
            _ => return Self::Extension(first, rest.to_owned()),
        };
        Self::Attribute(attribute)
    }

    /// The value for one event; `data` is what its data holds at the slots of the route's [`DataPaths`].
    pub(crate) fn find<'a>(
        &self,
        event: &'a CloudEvent,
        data: &Slots<'a>,
        facts: &RecordFacts<'a>,
    ) -> Found<'a> {
        let text = |value: Option<&'a String>| value.map_or(Found::Missing, |v| Found::Text(v));
        match self {
            Self::Attribute(attribute) => match attribute {
                Attribute::Id => Found::Text(&event.id),
                Attribute::Source => Found::Text(&event.source),
                Attribute::Type => Found::Text(&event.ty),
                Attribute::SpecVersion => Found::Text(CloudEvent::SPEC_VERSION),
                Attribute::Time => Found::Time(event.time),
                Attribute::Subject => text(event.subject.as_ref()),
                Attribute::DataContentType => text(event.datacontenttype.as_ref()),
                Attribute::DataSchema => text(event.dataschema.as_ref()),
                Attribute::DataBase64 => text(event.data_base64.as_ref()),
            },
            Self::Data(slot) => data[*slot].map_or(Found::Missing, Found::Raw),
            Self::Extension(name, rest) => inside(event.extensions.get(name), rest),
            Self::Fact(fact) => match fact {
                RecordFact::KafkaTopic => Found::Text(facts.topic),
                RecordFact::KafkaPartition => Found::Int(i64::from(facts.partition)),
                RecordFact::KafkaOffset => Found::Int(facts.offset),
                RecordFact::IngestedAt => Found::Time(facts.ingested_at),
                RecordFact::ProcessedAt => Found::Time(facts.processed_at),
            },
        }
    }
}

fn inside<'a>(value: Option<&'a Json>, rest: &str) -> Found<'a> {
    match value.and_then(|value| {
        if rest.is_empty() {
            Some(value)
        } else {
            value.pointer(rest)
        }
    }) {
        Some(value) => Found::Json(value),
        None => Found::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> CloudEvent {
        let mut event = pacer_event::parse_one(
            br#"{"specversion":"1.0","id":"e1","source":"/shop","type":"t","tenant":"acme","data":{"order":{"id":"o/1","a~b":3}}}"#,
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        event.subject = None;
        event
    }

    fn find(pointer: &str) -> String {
        let event = event();
        let facts = RecordFacts {
            topic: "events",
            partition: 1,
            offset: 9,
            ingested_at: OffsetDateTime::UNIX_EPOCH,
            processed_at: OffsetDateTime::UNIX_EPOCH,
        };
        let mut paths = DataPaths::default();
        let lookup = Lookup::new(&pointer.parse().unwrap(), &mut paths);
        let data = paths.find(event.data.as_deref());
        lookup.find(&event, &data, &facts).quoted()
    }

    #[test]
    fn pointers_reach_attributes_data_and_extensions() {
        assert_eq!(find("/id"), "\"e1\"");
        assert_eq!(find("/data/order/id"), "\"o/1\"");
        assert_eq!(find("/data/order/a~0b"), "3");
        // `data` as the text it arrived as, key order and all.
        assert_eq!(find("/data"), r#"{"order":{"id":"o/1","a~b":3}}"#);
        assert_eq!(find("/tenant"), "\"acme\"");
        assert_eq!(find("/subject"), "nothing");
        assert_eq!(find("/data/missing"), "nothing");
        assert_eq!(find("kafka.offset"), "9");
        assert_eq!(find("kafka.topic"), "\"events\"");
    }
}
