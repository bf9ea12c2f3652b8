//! The pipeline file, `pacer.toml`: which events go to which PostgreSQL table, and how they are written.
//!
//! This crate reads and checks the file and picks a route for an event. It does no I/O beyond reading
//! the file and knows nothing of Kafka clients or databases. Every mistake in the file is one error that
//! starts with `file:line:column` and names the route, the column and the key:
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
//! - `table` (required): `name` or `schema.name`, lowercase PostgreSQL identifiers
//!   (`[a-z_][a-z0-9_]*`, at most 63 bytes each).
//! - `mode`: `append` (the default), `upsert` or `delete`.
//! - `key`: key columns, each declared below and not nullable. Required for upsert and delete. For
//!   append it names what identifies a redelivered event (skipped); it defaults to the columns fed from
//!   `/source` and `/id`, which the route must then declare; `key = []` keeps every delivery.
//! - `order` (upsert only): a declared column that orders versions; the later one wins. Default: the
//!   event's `time`.
//! - `delete_types` (delete only): the exact event types that delete the keyed row; default: every event
//!   the route takes.
//! - `schema`: a JSON Schema file for the route's events, relative to the pipeline file (not read here).
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
//! - `nullable`: whether a missing value is `NULL` (default `false`); never for a key column.
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

#![forbid(unsafe_code)]

mod columns;
mod file;
mod matching;
mod names;
mod route;
mod span;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use matching::{Glob, Matcher};
pub use route::{Column, EVENT_IDENTITY, Route, Table, VersionOrder};
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
    /// The file is not valid TOML, or not a valid pipeline.
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
    /// Reads and checks the pipeline file at `path`; errors name it as given.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| PipelineError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Self::parse(&text, path)
    }

    /// Checks pipeline `text`. `path` names the file in errors, and `schema` paths are resolved against
    /// its directory.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let (routes, fallback) = validate::pipeline(text, path.as_ref())?;
        Ok(Self { routes, fallback })
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

    /// The route for an event read from `topic` with this `type` and `source`: the first route whose
    /// criteria all hold, else the fallback. `None` means the event is a "no route" dead letter.
    pub fn route_for(&self, topic: &str, event_type: &str, source: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|route| route.matches(topic, event_type, source))
            .or_else(|| self.fallback())
    }
}

impl Default for Pipeline {
    /// One route, `events`, appending every event to the built-in `events` table: pacer without a file.
    fn default() -> Self {
        let route = Route {
            name: "events".to_owned(),
            matcher: Matcher::default(),
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
