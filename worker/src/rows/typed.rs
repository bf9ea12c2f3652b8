//! A route's own row: each declared column's value found in the event and converted to its type, or the
//! reason the event cannot be that row. Nothing is silently nulled: a missing value is `NULL` only in a
//! nullable column, the default only in a column that declares one, and otherwise the event is refused.

use super::Compiled;
use super::convert::{Found, to_text};
use super::resolve::RecordFacts;
use crate::copy::CopyText;
use pacer_event::CloudEvent;
use pacer_pipeline::Route;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Why an event cannot become its route's row: one column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unconvertible {
    /// The column.
    pub(crate) column: String,
    /// Where its value was looked for: a JSON pointer into the event, or a record fact.
    pub(crate) from: String,
    /// The value found, quoted and cut short; `None` if there was none.
    pub(crate) value: Option<String>,
    /// What the column takes.
    pub(crate) expected: String,
}

impl fmt::Display for Unconvertible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            column,
            from,
            value,
            expected,
        } = self;
        match value {
            Some(value) => write!(
                f,
                "column \"{column}\" (from {from}): cannot store {value}; expected {expected}"
            ),
            None => write!(
                f,
                "column \"{column}\" (from {from}): no value; expected {expected} (or declare the column nullable or give it a default)"
            ),
        }
    }
}

/// Writes `event` as a row of `route`'s table. A `delete` event needs only its key and order columns; the
/// others are left `NULL`. Rows of routes that merge carry three more columns for the merge: the record's
/// partition and offset (to order versions with equal order values) and whether the event deletes. For
/// those routes it returns the hash of the row's key texts.
pub(crate) fn write(
    rows: &mut CopyText,
    route: &Route,
    compiled: &Compiled,
    event: &CloudEvent,
    facts: &RecordFacts<'_>,
) -> Result<Option<u64>, Unconvertible> {
    let deletes = route.deletes(&event.ty);
    let data = compiled.paths.find(event.data.as_deref());
    let mark = rows.mark();
    let mut text = String::new();
    let mut key = DefaultHasher::new();
    for (at, (column, (lookup, kept_by_delete))) in
        route.columns().iter().zip(&compiled.lookups).enumerate()
    {
        let in_key = compiled.key_columns.get(at).copied().unwrap_or(false);
        if deletes && !kept_by_delete {
            rows.null();
            continue;
        }
        let found = lookup.find(event, &data, facts);
        let refuse = |found: Found<'_>, expected: String| Unconvertible {
            column: column.name().to_owned(),
            from: column.source().to_string(),
            value: (!found.is_null()).then(|| found.quoted()),
            expected,
        };
        if found.is_null() {
            // Missing or JSON null: the staged insert puts the default in for `NULL`.
            if column.nullable() || column.default().is_some() {
                if in_key {
                    None::<&str>.hash(&mut key);
                }
                rows.null();
                continue;
            }
            rows.rollback(mark);
            return Err(refuse(found, format!("a {} value", column.column_type())));
        }
        text.clear();
        if let Err(expected) = to_text(column.column_type(), found, &mut text) {
            rows.rollback(mark);
            return Err(refuse(found, expected));
        }
        if in_key {
            Some(text.as_str()).hash(&mut key);
        }
        rows.text(&text);
    }
    let merges = super::merges(route.mode());
    if merges {
        rows.int(i64::from(facts.partition))
            .int(facts.offset)
            .text(if deletes { "t" } else { "f" });
    }
    rows.end_row();
    Ok(merges.then(|| key.finish()))
}
