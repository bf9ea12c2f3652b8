//! The pipeline file, `pacer.toml`: which events go to which PostgreSQL table, and how they are written.
//!
//! This crate reads and checks the file, compiles the routes' JSON Schemas, picks a route for an event
//! and checks an event's data against its route's schema. It does no I/O beyond reading the file and
//! the schemas and knows nothing of Kafka clients or databases. Every mistake in the file (or in a
//! schema it names) is one error that starts with `file:line:column` and names the route, the column
//! and the key:
//!
//! ```text
//! pacer.toml:14:27: route "orders", column "amount": unknown type "money"; expected one of text, …
//! ```
//!
//! # The file
//!
//! ```toml
//! [[route]]
//! name = "orders"
//! topic = "events"
//! type = "shop.order.*"
//! source = "/shop/*"
//! table = "shop.orders"
//! mode = "upsert"
//! key = ["order_id"]
//! order = "event_time"
//! schema = "schemas/order.json"
//!
//! [route.columns]
//! order_id = { type = "uuid", from = "/data/order/id" }
//! amount = { type = "numeric", from = "/data/amount" }
//! items = { type = "text[]", from = "/data/items", nullable = true }
//! event_time = { type = "timestamptz", from = "/time" }
//! partition = { type = "integer", from = "kafka.partition" }
//! note = { type = "text", from = "/data/note", default = "''" }
//!
//! [[route]]
//! name = "clicks"
//! topic = "clicks"
//! format = "json"
//! id_from = "/click_id"
//! source_from = "/site"
//! table = "clicks"
//! key = []
//!
//! [route.columns]
//! click_id = { type = "text", from = "/id" }
//! url = { type = "text", from = "/data/url" }
//! at = { type = "timestamptz", from = "/time" }
//!
//! [fallback]
//! route = "orders"
//! ```
//!
//! ## `[[route]]`, one per route; an event takes the first route that matches it
//!
//! - `name` (required): unique, `[a-z][a-z0-9_]*`, at most 63 characters; the routes' metric label.
//! - `topic`: the Kafka topic, matched exactly; any topic if absent.
//! - `type`: a glob on the CloudEvents `type` (`*`, `?`, `[...]`; see [`Glob`]).
//! - `source`: a glob on the CloudEvents `source`.
//!   A route needs at least one of `topic`, `type` and `source`, except the one `[fallback]` names.
//! - `format`: what the topic's records are ([`Format`]): `cloudevents` (the default), or `json` for
//!   plain JSON values. A `json` route needs `topic` and takes every record of it (no `type`, `source`
//!   or `delete_types`); no other route may name that topic, and it cannot be the fallback. The worker
//!   makes each record an event: `id` and `source` as below, `type` the route's name, `time` the
//!   Kafka record's timestamp, `data` the whole record; so columns read `/data/...`, `/id`, `/source`
//!   and `/time` as for a CloudEvent.
//! - `id_from` (`json` only): a JSON pointer into the record for the event's `id`, or `kafka` (the
//!   default) for the record's position, `<topic>-<partition>-<offset>` ([`IdFrom`]).
//! - `source_from` (`json` only): a JSON pointer into the record for the event's `source`. What a
//!   pointer names must be a non-empty string or an integer; a record without one is a dead letter. Or
//! - `source_value` (`json` only): one source for every record. At most one of the two; the default
//!   is `source_value = "kafka:<topic>"` ([`SourceFrom`]).
//! - `table` (required): `name` or `schema.name`, lowercase PostgreSQL identifiers
//!   (`[a-z_][a-z0-9_]*`, at most 63 bytes each).
//! - `mode`: `append` (the default), `upsert` or `delete`.
//! - `key`: key columns, each declared below and not nullable. Required for upsert and delete. For
//!   append it names what identifies a redelivered event (skipped); it defaults to the columns fed from
//!   `/source` and `/id`, which the route must then declare; `key = []` keeps every delivery.
//! - `order` (upsert and delete): a declared, not nullable column that orders versions of a row; the
//!   later one wins, and a delete never removes a newer row. Default: the first column fed from
//!   `/time`, which the route must then declare.
//! - `delete_types` (delete only): the exact event types that delete the keyed row; default: every event
//!   the route takes.
//! - `schema`: a JSON Schema (draft 2020-12, whatever its `$schema` says) for the events' `data`, a file
//!   relative to the pipeline file. Ingest refuses an event whose data breaks it ([`Route::check_data`]).
//!   A `$ref` may name a file next to it; nothing is fetched over the network; `format` is not asserted.
//!
//! ## `[route.columns]`: the table's columns, in order; none means the built-in events table
//!
//! `name = { type = "...", from = "...", nullable = false, default = "..." }`, the name a lowercase
//! identifier.
//!
//! - `type` (required), case-insensitive: `text`, `integer` (`int`, `int4`), `bigint` (`int8`),
//!   `numeric` (`decimal`), `double precision` (`float8`), `boolean` (`bool`), `timestamptz`, `date`,
//!   `uuid`, `jsonb`, and `T[]` of any of them but `jsonb`. See [`ColumnType`].
//! - `from` (required): a JSON pointer (RFC 6901) into the event — `/data/...`, `/time`, `/source`,
//!   `/id`, `/type`, `/subject` or an extension such as `/tenant` — or a fact about the record:
//!   `kafka.topic`, `kafka.partition`, `kafka.offset`, `ingested_at`, `processed_at`. See
//!   [`ColumnSource`].
//! - `nullable`: whether a missing value is `NULL` (default `false`); never for a key or order column.
//! - `default`: a SQL expression used when the value is missing, such as `"''"` or `"now()"`.
//!
//! A route without columns writes the built-in events table layout, appends only, and is keyed by
//! `(source, id)` ([`EVENT_IDENTITY`]); it takes no `key` or `order`.
//!
//! ## `[fallback]`
//!
//! - `route` (required): the route that takes every event no route matches. Without a fallback such an
//!   event is a "no route" dead letter.
//!
//! Unknown keys anywhere are errors. Without a file, [`Pipeline::default`] is today's behaviour: every
//! event appended to the built-in `events` table.
//!
//! # Loading
//!
//! [`Pipeline::from_file`] reads the file, checks it and compiles every route's schema: what a service
//! calls. [`Pipeline::parse`] checks text alone and reads no schema file; its routes check no data
//! until [`Pipeline::load_schemas`] is called.

#![forbid(unsafe_code)]

mod columns;
mod file;
mod format;
mod matching;
mod names;
mod route;
mod schema;
mod span;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use format::{Format, IdFrom, JsonIdentity, SourceFrom};
pub use matching::{Glob, Matcher};
pub use route::{Column, EVENT_IDENTITY, Route, Table};
pub use schema::Violation;
pub use span::Location;
pub use types::{ColumnSource, ColumnType, ColumnTypeError, Mode, RecordFact, ScalarType};

use std::path::Path;

/// Why a pipeline file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The file could not be read.
    #[error("{path}: cannot read the pipeline file: {cause}")]
    Read {
        /// The file as named.
        path: String,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// The file is not valid TOML, not a valid pipeline, or names a schema that cannot be read, is not
    /// JSON or is not a valid JSON Schema (then `at` is the route's `schema` value).
    #[error("{at}: {message}")]
    Invalid {
        /// Where the mistake is.
        at: Location,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl PipelineError {
    /// Where the mistake is, for an invalid file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Invalid { at, .. } => Some(at),
        }
    }
}

/// The checked pipeline: routes in file order and the optional fallback.
#[derive(Debug, Clone)]
pub struct Pipeline {
    routes: Vec<Route>,
    fallback: Option<usize>,
}

impl Pipeline {
    /// Reads and checks the pipeline file at `path` and compiles the routes' schemas
    /// ([`Pipeline::parse`], then [`Pipeline::load_schemas`]); errors name it as given.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| PipelineError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        let mut pipeline = Self::parse(&text, path)?;
        pipeline.load_schemas()?;
        Ok(pipeline)
    }

    /// Checks pipeline `text`. `path` names the file in errors, and `schema` paths are resolved against
    /// its directory. Reads no schema file: until [`Pipeline::load_schemas`], no route checks data.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let (routes, fallback) = validate::pipeline(text, path.as_ref())?;
        Ok(Self { routes, fallback })
    }

    /// Reads and compiles every route's JSON Schema, in file order. The first that cannot be read, is not
    /// JSON or is not a valid schema is an error at the route's `schema` key, naming the schema file.
    pub fn load_schemas(&mut self) -> Result<(), PipelineError> {
        self.routes.iter_mut().try_for_each(Route::load_schema)
    }

    /// The routes, in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route called `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.name() == name)
    }

    /// The route that takes what no route matches, if the file names one.
    pub fn fallback(&self) -> Option<&Route> {
        self.fallback.and_then(|index| self.routes.get(index))
    }

    /// The route for a CloudEvent read from `topic` with this `type` and `source`: the first route whose
    /// criteria all hold, else the fallback. `None` means the event is a "no route" dead letter.
    pub fn route_for(&self, topic: &str, event_type: &str, source: &str) -> Option<&Route> {
        self.route_index(topic, event_type, source)
            .and_then(|index| self.routes.get(index))
    }

    /// The index in [`Pipeline::routes`] of [`Pipeline::route_for`]'s route. Plain JSON routes never
    /// take a CloudEvent.
    pub fn route_index(&self, topic: &str, event_type: &str, source: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|route| route.matches(topic, event_type, source))
            .or(self.fallback)
    }

    /// The index in [`Pipeline::routes`] of the `format = "json"` route of `topic`: if there is one, every
    /// record of that topic is plain JSON for it (the file allows one such route per topic).
    pub fn json_route_for_topic(&self, topic: &str) -> Option<usize> {
        self.routes.iter().position(|route| {
            matches!(route.format(), Format::Json(_)) && route.matcher().topic() == Some(topic)
        })
    }

    /// The distinct topics the routes name, in file order; empty if no route names one.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = Vec::new();
        for topic in self
            .routes
            .iter()
            .filter_map(|route| route.matcher().topic())
        {
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        topics
    }
}

impl Default for Pipeline {
    /// One route, `events`, appending every event to the built-in `events` table: pacer without a file.
    fn default() -> Self {
        let route = Route {
            name: "events".to_owned(),
            matcher: Matcher::default(),
            format: Format::CloudEvents,
            table: Table {
                schema: None,
                name: "events".to_owned(),
            },
            mode: Mode::Append,
            key: EVENT_IDENTITY
                .iter()
                .map(|column| (*column).to_owned())
                .collect(),
            order: None,
            delete_types: Vec::new(),
            schema: None,
            columns: Vec::new(),
        };
        Self {
            routes: vec![route],
            fallback: Some(0),
        }
    }
}
