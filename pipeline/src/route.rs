//! The checked, typed form of a route: where its events go and how they are written.
//!
//! Built only by validation (or [`Pipeline::default`](crate::Pipeline::default)), so every `Route`
//! holds together: its key and order columns exist and are `NOT NULL`, upsert and delete have an order
//! column, and a plain JSON route has a topic and the identity of its events.

use crate::format::Format;
use crate::matching::Matcher;
use crate::schema::RouteSchema;
use crate::types::{ColumnSource, ColumnType, Mode};
use std::fmt;
use std::path::Path;

/// The columns of the built-in events table that identify an event; the key of a route without columns.
pub const EVENT_IDENTITY: [&str; 2] = ["source", "id"];

/// A PostgreSQL table, optionally schema-qualified. Both parts are lowercase identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) schema: Option<String>,
    pub(crate) name: String,
}

impl Table {
    /// The schema, if the file named one (`shop` in `shop.orders`).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table's own name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One declared column of a route's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub(crate) name: String,
    pub(crate) column_type: ColumnType,
    pub(crate) source: ColumnSource,
    pub(crate) nullable: bool,
    pub(crate) default: Option<String>,
}

impl Column {
    /// The column's name, a lowercase identifier.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its PostgreSQL type.
    pub fn column_type(&self) -> ColumnType {
        self.column_type
    }

    /// Where its value comes from.
    pub fn source(&self) -> &ColumnSource {
        &self.source
    }

    /// Whether a missing value is written as `NULL` (otherwise it is the default, or the event is refused).
    pub fn nullable(&self) -> bool {
        self.nullable
    }

    /// The SQL expression used when the event has no value, as written (`''`, `now()`, `0`).
    pub fn default(&self) -> Option<&str> {
        self.default.as_deref()
    }
}

/// One route: which events it takes, the table they go to, and how they are written.
#[derive(Debug, Clone)]
pub struct Route {
    pub(crate) name: String,
    pub(crate) matcher: Matcher,
    pub(crate) format: Format,
    pub(crate) table: Table,
    pub(crate) mode: Mode,
    pub(crate) key: Vec<String>,
    pub(crate) order: Option<String>,
    pub(crate) delete_types: Vec<String>,
    pub(crate) schema: Option<RouteSchema>,
    pub(crate) columns: Vec<Column>,
}

impl Route {
    /// The route's unique name (`[a-z][a-z0-9_]*`), also its metric label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which events it takes.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Whether a CloudEvent read from `topic` with this `type` and `source` is one this route takes by
    /// its own criteria (the fallback takes more: see [`Pipeline::route_for`](crate::Pipeline::route_for)).
    /// Never for a plain JSON route: its records are no CloudEvents.
    pub fn matches(&self, topic: &str, event_type: &str, source: &str) -> bool {
        matches!(self.format, Format::CloudEvents)
            && self.matcher.matches(topic, event_type, source)
    }

    /// What its Kafka records are: CloudEvents, or plain JSON and where the event's id and source come
    /// from.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The table it writes.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// How it writes.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The key columns, in key order. For append they identify redelivered events; empty means none is
    /// dropped. A route without declared columns is keyed by [`EVENT_IDENTITY`].
    pub fn key(&self) -> &[String] {
        &self.key
    }

    /// For upsert and delete: the declared column that orders versions of a row. The later version
    /// wins, and a delete never removes a row newer than itself. `order = "..."`, else the first column
    /// fed from `/time`; never nullable. `None` for append.
    pub fn order_column(&self) -> Option<&str> {
        self.order.as_deref()
    }

    /// For delete, the event types that delete; empty means every event the route takes deletes.
    pub fn delete_types(&self) -> &[String] {
        &self.delete_types
    }

    /// Whether an event of `event_type` taken by this route deletes its row.
    pub fn deletes(&self, event_type: &str) -> bool {
        self.mode == Mode::Delete
            && (self.delete_types.is_empty() || self.delete_types.iter().any(|t| t == event_type))
    }

    /// The JSON Schema file its events' data is checked against, resolved against the pipeline file's
    /// directory. See [`Route::has_schema`] and [`Route::check_data`].
    pub fn schema(&self) -> Option<&Path> {
        self.schema.as_ref().map(|schema| schema.path.as_path())
    }

    /// The declared columns, in file order; empty for the built-in events table.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The declared column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// Whether the route writes the built-in events table layout (it declares no columns).
    pub fn uses_builtin_table(&self) -> bool {
        self.columns.is_empty()
    }
}
