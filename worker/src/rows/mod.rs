//! From events to rows: the pipeline file read once into what each batch needs ([`Routes`]), and the rows of
//! a batch, one `COPY` stream per route.
//!
//! [`decode`] turns a record into an event, [`resolve`] finds a column's value in it, [`convert`] turns that
//! value into PostgreSQL's text for the column's type, and [`typed`] writes a route's row from them. The
//! built-in `events` layout keeps its own writer ([`builtin`]), the path pacer takes without a file.

pub(crate) mod builtin;
pub(crate) mod convert;
pub(crate) mod decode;
pub(crate) mod extract;
pub(crate) mod resolve;
pub(crate) mod typed;

use crate::copy::CopyText;
use crate::sink::plan::TablePlan;
use extract::DataPaths;
use pacer_pipeline::{Mode, Pipeline, Route};
use resolve::Lookup;
use std::collections::HashSet;

/// The pipeline as the worker uses it: the routes, and for each the lookups of its columns and the SQL
/// that writes its table. Built once at start; shared by the transform and the sink.
#[derive(Debug)]
pub struct Routes {
    pipeline: Pipeline,
    compiled: Vec<Compiled>,
}

/// What one route needs per batch.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// Per declared column: where its value is, and whether a delete event still needs it (key and order).
    pub(crate) lookups: Vec<(Lookup, bool)>,
    /// The pointers into `data` the lookups read, found in one pass over each event's data.
    pub(crate) paths: DataPaths,
    /// For a route that merges: which columns are its key (their texts tell whether a batch's keys are all
    /// different); empty otherwise.
    pub(crate) key_columns: Vec<bool>,
    /// The statements that write the route's table.
    pub(crate) plan: TablePlan,
}

impl Routes {
    /// Prepares `pipeline` for writing.
    pub fn new(pipeline: Pipeline) -> Self {
        let compiled = pipeline
            .routes()
            .iter()
            .enumerate()
            .map(|(index, route)| Compiled::new(index, route))
            .collect();
        Self { pipeline, compiled }
    }

    /// The pipeline these routes come from.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The route at `index` of the pipeline, with what the worker made of it.
    pub(crate) fn get(&self, index: usize) -> (&Route, &Compiled) {
        (&self.pipeline.routes()[index], &self.compiled[index])
    }

    /// The names of the routes, in file order: the label values of the per-route metrics.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pipeline.routes().iter().map(Route::name)
    }
}

impl Default for Routes {
    /// pacer without a pipeline file: every event appended to the built-in `events` table.
    fn default() -> Self {
        Self::new(Pipeline::default())
    }
}

impl Compiled {
    fn new(index: usize, route: &Route) -> Self {
        let keeps = |name: &str| {
            route.key().iter().any(|key| key == name) || route.order_column() == Some(name)
        };
        let mut paths = DataPaths::default();
        let lookups: Vec<(Lookup, bool)> = route
            .columns()
            .iter()
            .map(|column| {
                (
                    Lookup::new(column.source(), &mut paths),
                    keeps(column.name()),
                )
            })
            .collect();
        let key_columns = if merges(route.mode()) {
            route
                .columns()
                .iter()
                .map(|column| route.key().iter().any(|key| key == column.name()))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            lookups,
            paths,
            key_columns,
            plan: TablePlan::new(index, route),
        }
    }
}

/// The rows of one route in a batch.
#[derive(Debug)]
pub struct TableRows {
    /// The route's index in the pipeline.
    pub route: usize,
    /// The rows, in `COPY` text form, in the column order of the route's plan.
    pub rows: CopyText,
    /// For each row, the index of its record in the batch.
    pub row_records: Vec<usize>,
    /// Whether no two rows have the same key text (a route that merges can then skip picking the newest
    /// version of each key). Known only for routes that merge; `false` for the others.
    pub distinct_keys: bool,
    /// The hashes of the key texts seen, while they are all different.
    keys: HashSet<u64>,
}

impl TableRows {
    fn new(route: usize, capacity: usize) -> Self {
        Self {
            route,
            rows: CopyText::with_capacity(capacity),
            row_records: Vec::new(),
            distinct_keys: true,
            keys: HashSet::new(),
        }
    }

    /// Notes the key of the row just written, by the hash of its text (`None`: the route does not merge).
    /// Two keys with the same hash count as the same, which errs on the safe side.
    pub(crate) fn note_key(&mut self, key: Option<u64>) {
        match key {
            Some(hash) if self.distinct_keys => self.distinct_keys = self.keys.insert(hash),
            Some(_) => {}
            None => self.distinct_keys = false,
        }
    }
}

/// The rows of a batch by route, in the pipeline's route order.
#[derive(Debug)]
pub(crate) struct ByRoute {
    tables: Vec<Option<TableRows>>,
    /// The room each route's rows start with.
    capacity: usize,
}

impl ByRoute {
    /// Room for rows of about `bytes` in all, in each route: one allocation of the right size rather than a
    /// buffer that doubles (and copies) its way up. Room never written costs no memory.
    pub(crate) fn with_room(bytes: usize) -> Self {
        Self {
            tables: Vec::new(),
            capacity: bytes,
        }
    }

    /// The rows of route `index`, started on first use.
    pub(crate) fn of(&mut self, index: usize) -> &mut TableRows {
        if self.tables.len() <= index {
            self.tables.resize_with(index + 1, || None);
        }
        self.tables[index].get_or_insert_with(|| TableRows::new(index, self.capacity))
    }

    /// The routes that have rows, in route order.
    pub(crate) fn into_tables(self) -> Vec<TableRows> {
        self.tables
            .into_iter()
            .flatten()
            .filter(|t| !t.rows.is_empty())
            .collect()
    }
}

/// Whether rows of this mode go through a staging table and a merge (they are never copied straight in).
pub(crate) fn merges(mode: Mode) -> bool {
    mode != Mode::Append
}
