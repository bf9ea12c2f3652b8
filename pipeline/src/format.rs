//! What a route's Kafka records are: CloudEvents, or plain JSON that the worker turns into an event
//! whose id and source the route declares. Checked here: the keys of a `format = "json"` route, and that
//! a topic of plain JSON belongs to one route alone.

use crate::PipelineError;
use crate::file::RouteDoc;
use crate::route::Route;
use crate::types::{PointerProblem, check_pointer};
use crate::validate::Cx;
use std::ops::Range;
use toml::Spanned;

/// How a route reads its Kafka records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Format {
    /// `format = "cloudevents"` (the default): each record is a CloudEvent in JSON.
    #[default]
    CloudEvents,
    /// `format = "json"`: each record of the route's topic is a plain JSON value, the event's `data`.
    Json(JsonIdentity),
}

/// For a plain JSON record: where the event's `id` and `source` come from. Its `type` is the route's
/// name, its `time` the Kafka record's timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonIdentity {
    /// `id_from`.
    pub id: IdFrom,
    /// `source_from` or `source_value`.
    pub source: SourceFrom,
}

/// Where a plain JSON record's event `id` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdFrom {
    /// A JSON pointer (RFC 6901) into the record, as written (`/click_id`).
    Pointer(String),
    /// `kafka`: the record's position, `<topic>-<partition>-<offset>` (see [`IdFrom::kafka_position`]).
    KafkaPosition,
}

impl IdFrom {
    /// The id of the record at `offset` of `partition` of `topic`, for [`IdFrom::KafkaPosition`].
    pub fn kafka_position(topic: &str, partition: i32, offset: i64) -> String {
        format!("{topic}-{partition}-{offset}")
    }
}

/// Where a plain JSON record's event `source` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFrom {
    /// `source_from`: a JSON pointer (RFC 6901) into the record, as written (`/site`).
    Pointer(String),
    /// `source_value`: the same source for every record; `kafka:<topic>` unless the file gives one.
    Value(String),
}

impl Cx<'_> {
    /// The route's `format` and, for `json`, its identity keys; `topic` is the route's checked topic.
    pub(crate) fn format(
        &self,
        label: &str,
        doc: &RouteDoc,
        topic: Option<&str>,
    ) -> Result<Format, PipelineError> {
        let fail =
            |span: &Range<usize>, message: String| self.error(span, format!("{label}: {message}"));
        let json = match &doc.format {
            None => false,
            Some(format) => match format.get_ref().as_str() {
                "cloudevents" => false,
                "json" => true,
                other => {
                    return Err(fail(
                        &format.span(),
                        format!("format: unknown format \"{other}\"; expected cloudevents or json"),
                    ));
                }
            },
        };
        let identity_keys = [
            ("id_from", &doc.id_from),
            ("source_from", &doc.source_from),
            ("source_value", &doc.source_value),
        ];
        if !json {
            if let Some((key, value)) = identity_keys
                .iter()
                .find_map(|(key, value)| value.as_ref().map(|value| (key, value)))
            {
                return Err(fail(
                    &value.span(),
                    format!(
                        "{key}: only for format = \"json\"; a CloudEvent carries its own id and source"
                    ),
                ));
            }
            return Ok(Format::CloudEvents);
        }
        let format_span = doc.format.as_ref().map(Spanned::span).unwrap_or_default();
        let Some(topic) = topic else {
            return Err(fail(
                &format_span,
                "format: json needs topic = \"...\", the topic whose records are plain JSON"
                    .to_owned(),
            ));
        };
        let matchers = [("type", &doc.event_type), ("source", &doc.source)];
        if let Some((key, value)) = matchers
            .iter()
            .find_map(|(key, value)| value.as_ref().map(|value| (key, value)))
        {
            return Err(fail(
                &value.span(),
                format!(
                    "{key}: not for format = \"json\"; a plain JSON record has no {key} to match, so the route takes every record of its topic"
                ),
            ));
        }
        if let Some(types) = &doc.delete_types {
            return Err(fail(&types.span(), "delete_types: not for format = \"json\"; every record's type is the route's name, so leave it out".to_owned()));
        }
        let id = match &doc.id_from {
            None => IdFrom::KafkaPosition,
            Some(id) if id.get_ref() == "kafka" => IdFrom::KafkaPosition,
            Some(id) => IdFrom::Pointer(
                record_pointer(id, ID_EXPECTED)
                    .map_err(|message| fail(&id.span(), format!("id_from: {message}")))?,
            ),
        };
        let source = match (&doc.source_from, &doc.source_value) {
            (Some(_), Some(value)) => {
                return Err(fail(
                    &value.span(),
                    "source_value: give source_from or source_value, not both".to_owned(),
                ));
            }
            (Some(from), None) => SourceFrom::Pointer(
                record_pointer(from, SOURCE_EXPECTED)
                    .map_err(|message| fail(&from.span(), format!("source_from: {message}")))?,
            ),
            (None, Some(value)) if value.get_ref().is_empty() => {
                return Err(fail(
                    &value.span(),
                    "source_value: empty; expected a URI-reference such as \"urn:legacy:clicks\""
                        .to_owned(),
                ));
            }
            (None, Some(value)) => SourceFrom::Value(value.get_ref().clone()),
            (None, None) => SourceFrom::Value(format!("kafka:{topic}")),
        };
        Ok(Format::Json(JsonIdentity { id, source }))
    }

    /// A topic of plain JSON has one route and no other route names it: its records are no CloudEvents,
    /// and a second route for them would never receive one.
    pub(crate) fn json_topics(
        &self,
        docs: &[Spanned<RouteDoc>],
        routes: &[Route],
    ) -> Result<(), PipelineError> {
        for (index, route) in routes.iter().enumerate() {
            let Some(topic) = route.matcher.topic() else {
                continue;
            };
            let Some(first) = routes[..index].iter().position(|other| {
                other.matcher.topic() == Some(topic)
                    && (matches!(other.format, Format::Json(_))
                        || matches!(route.format, Format::Json(_)))
            }) else {
                continue;
            };
            let span = docs
                .get(index)
                .and_then(|doc| doc.get_ref().topic.as_ref())
                .map(Spanned::span)
                .unwrap_or_default();
            let line = docs.get(first).map_or(1, |doc| self.at(&doc.span()).line());
            let json = if matches!(routes[first].format, Format::Json(_)) {
                &routes[first]
            } else {
                route
            };
            return Err(self.error(
                &span,
                format!(
                    "route \"{}\": topic: \"{topic}\" is read by route \"{}\" too (line {line}), and route \"{}\" reads it as plain JSON; a topic of plain JSON has one route, so give each route its own topic",
                    route.name, routes[first].name, json.name
                ),
            ));
        }
        Ok(())
    }
}

const ID_EXPECTED: &str =
    "expected a JSON pointer into the record such as /click_id, or kafka for the record's position";
const SOURCE_EXPECTED: &str = "expected a JSON pointer into the record such as /site";

/// A checked JSON pointer into a plain JSON record, or what is wrong with it.
fn record_pointer(value: &Spanned<String>, expected: &str) -> Result<String, String> {
    let text = value.get_ref();
    match check_pointer(text) {
        Ok(()) => Ok(text.clone()),
        Err(problem @ PointerProblem::BareTilde) => Err(problem.message(text)),
        Err(problem) => Err(format!("{}; {expected}", problem.message(text))),
    }
}
