//! What PostgreSQL's catalog says about a route's table: its columns with their types, and the column
//! sets of its primary key and unique constraints.
//!
//! The table is found with `to_regclass`, so an unqualified name resolves through the `search_path`
//! exactly as the worker's statements will resolve it.

use super::TablesError;
use pacer_pipeline::{Route, Table};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};

/// Every table as found, by table; `None` for one that does not exist.
pub(crate) type Found = HashMap<Table, Option<TableState>>;

/// A table as found in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableState {
    /// The relation is a table (plain or partitioned); `Some(kind)` names what it is instead.
    pub(crate) not_a_table: Option<&'static str>,
    /// The columns, in table order.
    pub(crate) columns: Vec<FoundColumn>,
    /// The column sets of the primary key and of every unique constraint or index that `ON CONFLICT`
    /// can use (valid, not deferrable, not partial, no expressions).
    pub(crate) unique_keys: Vec<BTreeSet<String>>,
    /// The names of all its indexes, usable or not (a new index must not take one).
    pub(crate) index_names: Vec<String>,
}

impl TableState {
    /// The column called `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&FoundColumn> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// Whether a unique constraint covers exactly the columns of `key` (in any order, as `ON CONFLICT`
    /// infers it).
    pub(crate) fn has_unique(&self, key: &[String]) -> bool {
        let wanted: BTreeSet<String> = key.iter().cloned().collect();
        self.unique_keys.contains(&wanted)
    }
}

/// One column as found in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundColumn {
    pub(crate) name: String,
    /// `format_type(atttypid, atttypmod)`: `integer`, `numeric(10,2)`, `timestamp with time zone[]`.
    pub(crate) type_name: String,
}

/// `table` as a SQL name, each part double-quoted: `"shop"."orders"`.
pub(crate) fn quoted_table(table: &Table) -> String {
    match table.schema() {
        Some(schema) => format!("{}.{}", quote(schema), quote(table.name())),
        None => quote(table.name()),
    }
}

/// An identifier double-quoted, with any double quote in it doubled.
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Reads the tables of `routes` from the catalog, each once.
pub(crate) async fn tables<'a>(
    pool: &PgPool,
    routes: impl IntoIterator<Item = &'a Route>,
) -> Result<Found, TablesError> {
    let mut found = Found::new();
    for route in routes {
        if !found.contains_key(route.table()) {
            let state = table_state(pool, route.table()).await?;
            found.insert(route.table().clone(), state);
        }
    }
    Ok(found)
}

/// Reads `table` from the catalog; `None` if no relation of that name is visible.
async fn table_state(pool: &PgPool, table: &Table) -> Result<Option<TableState>, TablesError> {
    let name = quoted_table(table);
    let kind: Option<(String,)> =
        sqlx::query_as("SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)")
            .bind(&name)
            .fetch_optional(pool)
            .await
            .map_err(pacer_pg::PgError::from)?;
    let Some((kind,)) = kind else {
        return Ok(None);
    };
    let not_a_table = relation_kind(&kind);
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
         FROM pg_attribute a \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(&name)
    .fetch_all(pool)
    .await
    .map_err(pacer_pg::PgError::from)?;
    // Only the key columns (`indnkeyatts`), not those an index merely INCLUDEs.
    let indexes: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
        "SELECT c.relname::text, \
             i.indisunique AND i.indisvalid AND i.indimmediate \
                 AND i.indpred IS NULL AND i.indexprs IS NULL, \
             ARRAY( \
                 SELECT a.attname::text \
                 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE k.position <= i.indnkeyatts \
                 ORDER BY k.position) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = to_regclass($1)",
    )
    .bind(&name)
    .fetch_all(pool)
    .await
    .map_err(pacer_pg::PgError::from)?;
    Ok(Some(TableState {
        not_a_table,
        columns: columns
            .into_iter()
            .map(|(name, type_name)| FoundColumn { name, type_name })
            .collect(),
        unique_keys: indexes
            .iter()
            .filter(|(_, usable, _)| *usable)
            .map(|(_, _, columns)| columns.iter().cloned().collect())
            .collect(),
        index_names: indexes.into_iter().map(|(name, _, _)| name).collect(),
    }))
}

/// `None` for a table pacer can write (plain or partitioned), else what the relation is, in words.
fn relation_kind(relkind: &str) -> Option<&'static str> {
    match relkind {
        "r" | "p" => None,
        "v" => Some("a view"),
        "m" => Some("a materialized view"),
        "f" => Some("a foreign table"),
        "i" | "I" => Some("an index"),
        "S" => Some("a sequence"),
        "c" => Some("a composite type"),
        _ => Some("not a table"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_double_quoted() {
        assert_eq!(quote("orders"), "\"orders\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn a_unique_key_matches_in_any_order() {
        let state = TableState {
            unique_keys: vec![["b", "a"].iter().map(|c| (*c).to_owned()).collect()],
            ..TableState::default()
        };
        assert!(state.has_unique(&["a".to_owned(), "b".to_owned()]));
        assert!(!state.has_unique(&["a".to_owned()]));
    }
}
