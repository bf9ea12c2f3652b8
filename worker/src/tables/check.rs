//! The start-up check a worker runs: every route's table is there, with every declared column of a
//! compatible type and a unique constraint on its key. Problems are collected and reported together,
//! each naming its table and column, so that one run of `pacer tables apply` can be planned from them.
//!
//! A route without columns writes the built-in events table layout: its table must have the columns of
//! `events` (pacer's migrations create `events` itself; any other such table is the operator's).

use super::TablesError;
use super::diff::{Declared, Difference, differences};
use super::introspect;
use pacer_pipeline::{ColumnType, Pipeline, Route, ScalarType};
use sqlx::PgPool;
use std::fmt;

/// One way a route's table does not match the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    route: String,
    table: String,
    builtin: bool,
    kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ProblemKind {
    MissingTable,
    NotATable(&'static str),
    MissingColumn {
        column: String,
        declared: String,
    },
    WrongType {
        column: String,
        declared: String,
        found: String,
    },
    MissingKey {
        key: Vec<String>,
    },
}

impl Problem {
    /// The route whose table it is.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The table, as the pipeline file names it.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (route, table) = (&self.route, &self.table);
        write!(f, "route \"{route}\": ")?;
        match &self.kind {
            ProblemKind::MissingTable if self.builtin => write!(
                f,
                "table {table} does not exist; the route declares no columns, so it writes the built-in events layout: create {table} with the columns of the events table (pacer tables apply manages only tables with declared columns)"
            ),
            ProblemKind::MissingTable => write!(f, "table {table} does not exist"),
            ProblemKind::NotATable(kind) => write!(f, "{table} is {kind}, not a table"),
            ProblemKind::MissingColumn { column, declared } => write!(
                f,
                "table {table}, column \"{column}\" (declared {declared}) does not exist"
            ),
            ProblemKind::WrongType {
                column,
                declared,
                found,
            } => write!(
                f,
                "table {table}, column \"{column}\": declared {declared}, found {found}"
            ),
            ProblemKind::MissingKey { key } => write!(
                f,
                "table {table} has no primary key or unique constraint on exactly ({}), which the route's writes need",
                key.join(", ")
            ),
        }
    }
}

/// The problems as one message, one line each, and what to run.
pub(crate) fn mismatch_message(problems: &[Problem]) -> String {
    let mut message = String::from("the tables do not match the pipeline file:");
    for problem in problems {
        message.push_str("\n  ");
        message.push_str(&problem.to_string());
    }
    message.push_str(
        "\nrun `pacer tables apply --pipeline FILE --database-url URL` to add what is missing \
         (it never changes a column's type: for a type mismatch, declare the column as the table has it \
         or change the column yourself)",
    );
    message
}

/// Checks every route's table; all the problems in one [`TablesError::Mismatch`]. Run it after the
/// migrations, which create the built-in `events` table.
pub async fn check(pool: &PgPool, pipeline: &Pipeline) -> Result<(), TablesError> {
    let found = introspect::tables(pool, pipeline.routes()).await?;
    let problems = problems(pipeline.routes(), &found);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(TablesError::Mismatch(problems))
    }
}

/// The columns of the built-in `events` table (worker/migrations/0001_events.sql), for routes without
/// declared columns.
const EVENTS_LAYOUT: [(&str, ScalarType); 14] = [
    ("source", ScalarType::Text),
    ("id", ScalarType::Text),
    ("type", ScalarType::Text),
    ("time", ScalarType::Timestamptz),
    ("subject", ScalarType::Text),
    ("datacontenttype", ScalarType::Text),
    ("dataschema", ScalarType::Text),
    ("data", ScalarType::Jsonb),
    ("data_base64", ScalarType::Text),
    ("extensions", ScalarType::Jsonb),
    ("ingested_at", ScalarType::Timestamptz),
    ("processed_at", ScalarType::Timestamptz),
    ("kafka_partition", ScalarType::Integer),
    ("kafka_offset", ScalarType::BigInt),
];

fn events_layout() -> Vec<Declared<'static>> {
    EVENTS_LAYOUT
        .iter()
        .map(|(name, scalar)| Declared {
            name,
            column_type: ColumnType::Scalar(*scalar),
            // Only names and types are checked here.
            nullable: true,
            default: None,
        })
        .collect()
}

fn problems(routes: &[Route], found: &introspect::Found) -> Vec<Problem> {
    let mut problems = Vec::new();
    for route in routes {
        let builtin = route.uses_builtin_table();
        let columns = if builtin {
            events_layout()
        } else {
            Declared::of(route)
        };
        let state = found.get(route.table()).and_then(Option::as_ref);
        for difference in differences(&columns, route.key(), state) {
            let kind = match difference {
                Difference::MissingTable => ProblemKind::MissingTable,
                Difference::NotATable(kind) => ProblemKind::NotATable(kind),
                Difference::MissingColumn(column) => ProblemKind::MissingColumn {
                    column: column.name.to_owned(),
                    declared: column.column_type.to_string(),
                },
                Difference::WrongType { column, found } => ProblemKind::WrongType {
                    column: column.name.to_owned(),
                    declared: column.column_type.to_string(),
                    found,
                },
                Difference::MissingKey => ProblemKind::MissingKey {
                    key: route.key().to_vec(),
                },
            };
            problems.push(Problem {
                route: route.name().to_owned(),
                table: route.table().to_string(),
                builtin,
                kind,
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_layout_is_the_columns_the_worker_copies() {
        let names: Vec<&str> = EVENTS_LAYOUT.iter().map(|(name, _)| *name).collect();
        let copied: Vec<&str> = crate::EVENT_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(names, copied);
    }

    #[test]
    fn every_problem_is_one_line_and_the_message_says_what_to_run() {
        let problems = vec![
            Problem {
                route: "orders".into(),
                table: "shop.orders".into(),
                builtin: false,
                kind: ProblemKind::WrongType {
                    column: "amount".into(),
                    declared: "numeric".into(),
                    found: "text".into(),
                },
            },
            Problem {
                route: "orders".into(),
                table: "shop.orders".into(),
                builtin: false,
                kind: ProblemKind::MissingKey {
                    key: vec!["order_id".into()],
                },
            },
        ];
        let message = mismatch_message(&problems);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 4, "{message}");
        assert_eq!(
            lines[1],
            "  route \"orders\": table shop.orders, column \"amount\": declared numeric, found text"
        );
        assert!(lines[3].contains("pacer tables apply --pipeline FILE --database-url URL"));
    }
}
