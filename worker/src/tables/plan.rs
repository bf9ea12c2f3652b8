//! The plan: the DDL that makes the database hold every table the pipeline file declares, additively.
//!
//! It creates a missing table (and its schema), adds a missing column that is nullable or has a default,
//! and adds a unique index where the key has none. It never drops, and never retypes: what it cannot do
//! additively it refuses, naming the table and column. Routes without columns write the built-in events
//! table, which pacer's migrations manage, and are left out.

use super::TablesError;
use super::diff::{Declared, Difference, differences, pg_spelling};
use super::introspect::{self, FoundColumn, TableState, quote, quoted_table};
use pacer_pipeline::{Mode, Pipeline, Route, Table};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The statements that make the tables match the pipeline file, in the order they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<Step>,
}

/// One DDL statement, with what it does in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    summary: String,
    sql: String,
}

impl Step {
    /// What the statement does: `create table shop.orders (route "orders")`.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The statement, without its terminating `;`.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl Plan {
    /// The statements, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether every table matches already.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// One line per statement, saying what it does.
    pub fn summary(&self) -> String {
        let lines: Vec<&str> = self.steps.iter().map(Step::summary).collect();
        lines.join("\n")
    }
}

impl fmt::Display for Plan {
    /// The plan as a SQL script: each statement after a comment saying what it does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            writeln!(f, "-- {}", step.summary)?;
            writeln!(f, "{};", step.sql)?;
        }
        Ok(())
    }
}

/// What the plan will not do to a table that exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A missing column that would have no value in the rows already there.
    #[error(
        "route \"{route}\": table {table}, column \"{column}\": declared {declared} NOT NULL without a default, which cannot be added to a table that exists (its rows would have no value); declare it `nullable = true` or give it a `default` in the pipeline file"
    )]
    NotNullWithoutDefault {
        route: String,
        table: String,
        column: String,
        declared: String,
    },
    /// A column of another type than declared.
    #[error(
        "route \"{route}\": table {table}, column \"{column}\": declared {declared}, found {found}; pacer never changes a column's type: declare the column as the table has it, or change the column yourself"
    )]
    Retype {
        route: String,
        table: String,
        column: String,
        declared: String,
        found: String,
    },
    /// The name is taken by something that is not a table.
    #[error(
        "route \"{route}\": {table} is {kind}, not a table; name another table in the pipeline file"
    )]
    NotATable {
        route: String,
        table: String,
        kind: &'static str,
    },
}

/// Reads the tables the pipeline file names and plans what makes them match it.
pub async fn plan(pool: &PgPool, pipeline: &Pipeline) -> Result<Plan, TablesError> {
    let found = introspect::tables(pool, managed(pipeline)).await?;
    plan_for(managed(pipeline), found)
}

/// The routes whose tables the plan manages: those that declare columns.
fn managed(pipeline: &Pipeline) -> impl Iterator<Item = &Route> {
    pipeline
        .routes()
        .iter()
        .filter(|route| !route.uses_builtin_table())
}

/// Runs every statement of `plan` in one transaction: all of it or, if one fails, none.
pub async fn apply(pool: &PgPool, plan: &Plan) -> Result<(), TablesError> {
    if plan.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(pacer_pg::PgError::from)?;
    for step in &plan.steps {
        sqlx::raw_sql(&step.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| TablesError::Apply {
                statement: step.summary.clone(),
                cause: e.into(),
            })?;
    }
    tx.commit().await.map_err(pacer_pg::PgError::from)?;
    for step in &plan.steps {
        tracing::debug!(statement = %step.summary, "Applied a table change.");
    }
    Ok(())
}

/// The plan for `routes` given the tables as `found`; a table not in `found` is missing. Routes that
/// share a table are planned one after the other, each against the table as the steps before left it.
pub(crate) fn plan_for<'a>(
    routes: impl IntoIterator<Item = &'a Route>,
    mut found: introspect::Found,
) -> Result<Plan, TablesError> {
    let routes: Vec<&Route> = routes.into_iter().collect();
    let mut planner = Planner {
        shared: shared_columns(&routes),
        ..Planner::default()
    };
    for route in routes {
        let state = found.entry(route.table().clone()).or_default();
        planner.route(route, state);
    }
    if planner.refusals.is_empty() {
        Ok(Plan {
            steps: planner.steps,
        })
    } else {
        Err(TablesError::Refused(planner.refusals))
    }
}

#[derive(Debug, Default)]
struct Planner<'a> {
    steps: Vec<Step>,
    refusals: Vec<Refusal>,
    schemas: BTreeSet<String>,
    /// Per table, the columns a `CREATE TABLE` gives it: those of every route that writes it.
    shared: HashMap<Table, Vec<Declared<'a>>>,
}

/// The columns of each table, over every route that writes it, in file order. Routes that share a table
/// (an upsert route and a delete route, say) get it created once with all their columns. A column is
/// `NOT NULL` only if every route that inserts rows into the table declares it so; a route that only
/// deletes (mode delete, no `delete_types`) inserts nothing and does not count.
fn shared_columns<'a>(routes: &[&'a Route]) -> HashMap<Table, Vec<Declared<'a>>> {
    let deletes_only =
        |route: &Route| route.mode() == Mode::Delete && route.delete_types().is_empty();
    let mut shared: HashMap<Table, Vec<Declared<'a>>> = HashMap::new();
    for route in routes {
        let columns = shared.entry(route.table().clone()).or_default();
        for column in Declared::of(route) {
            if !columns.iter().any(|c| c.name == column.name) {
                columns.push(column);
            }
        }
    }
    for (table, columns) in &mut shared {
        let on_table: Vec<&Route> = routes
            .iter()
            .copied()
            .filter(|r| r.table() == table)
            .collect();
        let inserting: Vec<&Route> = on_table
            .iter()
            .copied()
            .filter(|r| !deletes_only(r))
            .collect();
        // With no route inserting, the declarations of the delete routes decide.
        let deciding = if inserting.is_empty() {
            &on_table
        } else {
            &inserting
        };
        for column in columns.iter_mut() {
            column.nullable = deciding
                .iter()
                .any(|r| r.column(column.name).is_none_or(|c| c.nullable()));
        }
    }
    shared
}

impl Planner<'_> {
    /// Plans `route` against its table's `state`, and updates the state as the steps will leave it.
    fn route(&mut self, route: &Route, state: &mut Option<TableState>) {
        let table = route.table();
        let columns = Declared::of(route);
        let key = route.key();
        let on = |what: String| format!("{what} (route \"{}\")", route.name());
        for difference in differences(&columns, key, state.as_ref()) {
            match difference {
                Difference::MissingTable => {
                    if let Some(schema) = table.schema()
                        && self.schemas.insert(schema.to_owned())
                    {
                        self.step(
                            on(format!("create schema {schema} if it does not exist")),
                            format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)),
                        );
                    }
                    let all = self.shared.get(table).map_or(&columns, |all| all);
                    let (sql, made) = (create_table(table, all, key), created(all, key));
                    self.step(on(format!("create table {table}")), sql);
                    *state = Some(made);
                }
                Difference::MissingColumn(column)
                    if column.nullable || column.default.is_some() =>
                {
                    self.step(
                        on(format!("add column {table}.{}", column.name)),
                        format!(
                            "ALTER TABLE {} ADD COLUMN {}",
                            quoted_table(table),
                            column_definition(&column)
                        ),
                    );
                    if let Some(state) = state {
                        state.columns.push(found_column(&column));
                    }
                }
                Difference::MissingColumn(column) => {
                    self.refusals.push(Refusal::NotNullWithoutDefault {
                        route: route.name().to_owned(),
                        table: table.to_string(),
                        column: column.name.to_owned(),
                        declared: column.column_type.to_string(),
                    });
                }
                Difference::WrongType { column, found } => self.refusals.push(Refusal::Retype {
                    route: route.name().to_owned(),
                    table: table.to_string(),
                    column: column.name.to_owned(),
                    declared: column.column_type.to_string(),
                    found,
                }),
                Difference::NotATable(kind) => self.refusals.push(Refusal::NotATable {
                    route: route.name().to_owned(),
                    table: table.to_string(),
                    kind,
                }),
                Difference::MissingKey => {
                    let Some(state) = state else { continue };
                    let index = index_name(table, &state.index_names);
                    self.step(
                        on(format!(
                            "add a unique index {index} on {table} ({})",
                            key.join(", ")
                        )),
                        format!(
                            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
                            quote(&index),
                            quoted_table(table),
                            quoted_list(key)
                        ),
                    );
                    state.index_names.push(index);
                    state.unique_keys.push(key.iter().cloned().collect());
                }
            }
        }
    }

    fn step(&mut self, summary: String, sql: String) {
        self.steps.push(Step { summary, sql });
    }
}

/// `CREATE TABLE` with every declared column and, for a non-empty key, its primary key.
fn create_table(table: &Table, columns: &[Declared<'_>], key: &[String]) -> String {
    let mut lines: Vec<String> = columns.iter().map(column_definition).collect();
    if !key.is_empty() {
        lines.push(format!("PRIMARY KEY ({})", quoted_list(key)));
    }
    format!(
        "CREATE TABLE {} (\n    {}\n)",
        quoted_table(table),
        lines.join(",\n    ")
    )
}

/// `"name" type [NOT NULL] [DEFAULT expr]`.
fn column_definition(column: &Declared<'_>) -> String {
    let mut definition = format!("{} {}", quote(column.name), column.column_type);
    if !column.nullable {
        definition.push_str(" NOT NULL");
    }
    if let Some(default) = column.default {
        definition.push_str(" DEFAULT ");
        definition.push_str(default);
    }
    definition
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| quote(name)).collect();
    quoted.join(", ")
}

/// `<table>_pacer_key`, or with a number after it if the table has an index of that name already (on
/// other columns), shortened to PostgreSQL's 63 bytes. Names are ASCII, so any cut is on a character.
fn index_name(table: &Table, taken: &[String]) -> String {
    (1..)
        .map(|n| {
            let suffix = if n == 1 {
                "_pacer_key".to_owned()
            } else {
                format!("_pacer_key{n}")
            };
            let room = 63 - suffix.len();
            let name = table.name();
            format!("{}{suffix}", &name[..name.len().min(room)])
        })
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| format!("{}_pacer_key", table.name()))
}

/// The table as a `CREATE TABLE` of `columns` and `key` leaves it.
fn created(columns: &[Declared<'_>], key: &[String]) -> TableState {
    TableState {
        columns: columns.iter().map(found_column).collect(),
        unique_keys: if key.is_empty() {
            Vec::new()
        } else {
            vec![key.iter().cloned().collect()]
        },
        ..TableState::default()
    }
}

fn found_column(column: &Declared<'_>) -> FoundColumn {
    FoundColumn {
        name: column.name.to_owned(),
        type_name: pg_spelling(column.column_type),
    }
}

#[cfg(test)]
mod tests;
