//! Load that fits a pipeline file: CloudEvents made for each route in turn, with a `type` and `source`
//! its globs match and a `data` value at every column's pointer, of the column's type.
//!
//! [`RoutedLoad::new`] works out once which routes the load can reach and with which attributes
//! (checking each choice with [`Pipeline::route_for`], so an earlier route cannot take it);
//! [`RoutedLoad::event`] is then a pure function of the run, the sequence number and the time. Upsert and
//! delete routes draw their keys from a small pool per table, so rows really are replaced and deleted,
//! and their order column grows with the event's time.

use super::generic_event;
use super::values::{
    SOURCE_WORDS, TYPE_WORDS, attribute_value, concretise, order_value, place, pooled_value,
    rfc3339, seed, value,
};
use pacer_pipeline::{Column, ColumnSource, Format, Glob, Mode, Pipeline, Route};
use serde_json::{Map, Value, json};
use std::fmt;
use time::OffsetDateTime;

/// How many keys an upsert or delete route's events share, per table: small enough that rows are
/// replaced often, large enough that a batch holds several keys.
pub const KEY_POOL: usize = 50;

/// The `type` and `source` of events for a route that matches on neither, such as a fallback with no
/// criteria: the generic load's, whose events such a route takes when it writes the built-in table.
const GENERIC_TYPE: &str = "pacer.load.v1";
const GENERIC_SOURCE: &str = "/pacer/load";

/// CloudEvents attributes the generator sets itself; a column fed from one takes what the event holds.
const OWN_ATTRIBUTES: [&str; 6] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
];

/// Events that fit the routes of a pipeline, one route after the other.
#[derive(Debug, Clone)]
pub struct RoutedLoad {
    targets: Vec<Target>,
    skipped: Vec<Skipped>,
}

/// A route the load cannot reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The route's name.
    pub route: String,
    /// Why no generated event would reach it.
    pub reason: String,
}

/// One generated event and the route it was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated<'a> {
    /// The route's name.
    pub route: &'a str,
    /// The CloudEvent, as posted to ingest.
    pub event: Value,
}

/// No route of the pipeline can be reached by the load; each is listed with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable(pub Vec<Skipped>);

/// A route the load reaches: what its events look like.
#[derive(Debug, Clone)]
struct Target {
    route: String,
    table: String,
    event_type: String,
    source: String,
    /// Keys come from the pool (upsert and delete).
    pooled: bool,
    key: Vec<String>,
    order: Option<String>,
    columns: Vec<Column>,
}

impl RoutedLoad {
    /// The routes of `pipeline` that events posted to an ingest writing `topic` can reach, in file
    /// order. Fails when there is none.
    pub fn new(pipeline: &Pipeline, topic: &str) -> Result<Self, Unreachable> {
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for route in pipeline.routes() {
            match target(pipeline, route, topic) {
                Ok(target) => targets.push(target),
                Err(reason) => skipped.push(Skipped {
                    route: route.name().to_owned(),
                    reason,
                }),
            }
        }
        if targets.is_empty() {
            return Err(Unreachable(skipped));
        }
        Ok(Self { targets, skipped })
    }

    /// The routes events are made for, in the order they take turns.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|target| target.route.as_str())
    }

    /// The routes no generated event reaches, with the reason.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Event `seq` of run `run`, happening at `time`: for the routes in turn. The same arguments give
    /// the same event.
    pub fn event(&self, run: &str, seq: u64, time: OffsetDateTime) -> Generated<'_> {
        let turn = usize::try_from(seq % self.targets.len() as u64).unwrap_or(0);
        let target = &self.targets[turn];
        if target.columns.is_empty()
            && target.event_type == GENERIC_TYPE
            && target.source == GENERIC_SOURCE
        {
            return Generated {
                route: &target.route,
                event: generic_event(run, seq),
            };
        }
        let mut rng = fastrand::Rng::with_seed(seed(&[run.as_bytes(), &seq.to_le_bytes()]));
        let slot = target.pooled.then(|| rng.usize(..KEY_POOL));
        let mut event = Map::new();
        event.insert("specversion".into(), Value::from("1.0"));
        event.insert("id".into(), Value::from(format!("{run}-{seq}")));
        event.insert("source".into(), Value::from(target.source.as_str()));
        event.insert("type".into(), Value::from(target.event_type.as_str()));
        event.insert("time".into(), Value::from(rfc3339(time)));
        let partition_key = match slot {
            Some(slot) => format!("{}-{slot}", target.table),
            None => format!("k{}", seq % 64),
        };
        event.insert("partitionkey".into(), Value::from(partition_key));
        event.insert("datacontenttype".into(), Value::from("application/json"));

        let mut data = Map::new();
        if target.columns.is_empty() {
            let generic = json!({ "seq": seq, "run": run, "note": "generated by pacer load" });
            if let Value::Object(generic) = generic {
                data = generic;
            }
        }
        for column in &target.columns {
            let ColumnSource::Pointer(_) = column.source() else {
                continue;
            };
            let tokens = column.source().pointer_tokens();
            let Some((head, rest)) = tokens.split_first() else {
                continue;
            };
            let keyed = target.key.iter().any(|key| key == column.name());
            let made = match slot {
                Some(slot) if keyed => {
                    pooled_value(&target.table, column.name(), column.column_type(), slot)
                }
                _ if target.order.as_deref() == Some(column.name()) => {
                    order_value(column.column_type(), &mut rng, time)
                }
                _ => value(column.column_type(), &mut rng, time),
            };
            match head.as_str() {
                "data" if rest.is_empty() => {
                    if let Value::Object(made) = made {
                        place_all(&mut data, made);
                    }
                }
                "data" => place(&mut data, rest, made),
                // A pooled `/id` makes the redelivery of a key look like one event, which is what it is.
                "id" if keyed && slot.is_some() => {
                    event.insert("id".into(), Value::from(scalar_text(made)));
                }
                own if OWN_ATTRIBUTES.contains(&own) => {}
                // An extension or `subject`: CloudEvents attributes are flat.
                _ if rest.is_empty() => {
                    let made = if keyed && slot.is_some() {
                        Value::from(scalar_text(made))
                    } else {
                        attribute_value(column.column_type(), &mut rng, time)
                    };
                    event.insert(head.clone(), made);
                }
                _ => {}
            }
        }
        event.insert("data".into(), Value::Object(data));
        Generated {
            route: &target.route,
            event: Value::Object(event),
        }
    }
}

/// How `route` is reached from `topic`, or why it is not.
fn target(pipeline: &Pipeline, route: &Route, topic: &str) -> Result<Target, String> {
    let matcher = route.matcher();
    if let Format::Json(_) = route.format() {
        return Err(format!(
            "its records are plain JSON on topic \"{}\", and the load posts CloudEvents to ingest",
            matcher.topic().unwrap_or_default()
        ));
    }
    if let Some(wanted) = matcher.topic()
        && wanted != topic
    {
        return Err(format!(
            "it reads topic \"{wanted}\", and the load's events go to \"{topic}\""
        ));
    }
    let types = if route.mode() == Mode::Delete && !route.delete_types().is_empty() {
        let types: Vec<String> = route
            .delete_types()
            .iter()
            .filter(|t| matcher.event_type().is_none_or(|glob| glob.matches(t)))
            .cloned()
            .collect();
        if types.is_empty() {
            return Err("none of its delete_types matches its type glob".to_owned());
        }
        types
    } else {
        candidates(matcher.event_type(), GENERIC_TYPE, &TYPE_WORDS)
    };
    let sources = candidates(matcher.source(), GENERIC_SOURCE, &SOURCE_WORDS);
    let mut taken_by: Option<String> = None;
    for event_type in &types {
        for source in &sources {
            match pipeline.route_for(topic, event_type, source) {
                Some(chosen) if chosen.name() == route.name() => {
                    return Ok(Target {
                        route: route.name().to_owned(),
                        table: route.table().to_string(),
                        event_type: event_type.clone(),
                        source: source.clone(),
                        pooled: matches!(route.mode(), Mode::Upsert | Mode::Delete),
                        key: route.key().to_vec(),
                        order: route.order_column().map(str::to_owned),
                        columns: route.columns().to_vec(),
                    });
                }
                Some(chosen) => {
                    taken_by.get_or_insert_with(|| format!("route \"{}\"", chosen.name()));
                }
                None => {
                    taken_by.get_or_insert_with(|| "no route".to_owned());
                }
            }
        }
    }
    let example = format!(
        "type \"{}\", source \"{}\"",
        types.first().map_or("", String::as_str),
        sources.first().map_or("", String::as_str)
    );
    Err(format!(
        "the events made for it (such as {example}) are taken by {} first",
        taken_by.unwrap_or_else(|| "another route".to_owned())
    ))
}

/// Strings to try for an attribute: the glob made concrete with each word, or the generic value.
fn candidates(glob: Option<&Glob>, generic: &str, words: &[&str]) -> Vec<String> {
    match glob {
        None => vec![generic.to_owned()],
        Some(glob) => {
            let mut out: Vec<String> = Vec::with_capacity(words.len());
            for word in words {
                let text = concretise(glob.as_str(), word);
                if !out.contains(&text) {
                    out.push(text);
                }
            }
            out
        }
    }
}

fn place_all(data: &mut Map<String, Value>, made: Map<String, Value>) {
    for (key, value) in made {
        place(data, &[key], value);
    }
}

/// A key value as attribute text (`id` and extensions hold strings).
fn scalar_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no route of the pipeline can be reached by the load")?;
        for (index, skipped) in self.0.iter().enumerate() {
            let lead = if index == 0 { ": " } else { "; " };
            write!(f, "{lead}route \"{}\": {}", skipped.route, skipped.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for Unreachable {}
