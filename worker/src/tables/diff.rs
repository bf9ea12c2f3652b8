//! How a table differs from what a route declares: the one comparison both the plan (which turns
//! differences into DDL or refusals) and the start-up check (which reports them) are made of.
//!
//! # Type compatibility
//!
//! A declared type is compared with the catalog's `format_type` spelling ([`pg_spelling`]: `timestamptz`
//! is `timestamp with time zone`, `text[]` stays `text[]`). A found column is compatible when it is
//!
//! - the same type, with or without a type modifier: `numeric(10,2)` for `numeric`,
//!   `timestamp(3) with time zone` for `timestamptz`. A modifier only narrows what the column holds: a
//!   value it refuses (too many digits) is refused by PostgreSQL when the row is written and becomes a
//!   dead letter, as any other refused row;
//! - for `text`, also `character varying` with or without a length, for the same reason (`varchar(n)`
//!   is `text` with a length limit, and the pipeline file has no spelling for it);
//! - an array exactly when the declared type is one, of an element compatible by these rules.
//!
//! Nothing else is: not `character(n)` for `text` (it pads with blanks and compares ignoring them, so a
//! key would match other rows), not `json` for `jsonb` (no equality, which an upsert needs), not a wider
//! number (`bigint` for `integer`) nor a domain over the declared type. The rules are deliberately
//! narrow: a column pacer accepts is one whose values read back as the event's.

use super::introspect::TableState;
use pacer_pipeline::{ColumnType, Route, ScalarType};

/// A column as the pipeline file declares it (or as the built-in events table has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declared<'a> {
    pub(crate) name: &'a str,
    pub(crate) column_type: ColumnType,
    pub(crate) nullable: bool,
    pub(crate) default: Option<&'a str>,
}

impl<'a> Declared<'a> {
    /// The declared columns of `route`, in file order; empty for a route on the built-in layout.
    pub(crate) fn of(route: &'a Route) -> Vec<Declared<'a>> {
        route
            .columns()
            .iter()
            .map(|column| Declared {
                name: column.name(),
                column_type: column.column_type(),
                nullable: column.nullable(),
                default: column.default(),
            })
            .collect()
    }
}

/// One way a table differs from a route's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Difference<'a> {
    /// No relation of that name.
    MissingTable,
    /// The name is taken by something else (`a view`).
    NotATable(&'static str),
    /// A declared column the table lacks.
    MissingColumn(Declared<'a>),
    /// A declared column whose type is not compatible.
    WrongType { column: Declared<'a>, found: String },
    /// No primary key or unique constraint on exactly the key columns.
    MissingKey,
}

/// How the table found (`None`: missing) differs from `columns` and `key`; empty when it matches. A
/// missing table is one difference, not one per column.
pub(crate) fn differences<'a>(
    columns: &[Declared<'a>],
    key: &[String],
    found: Option<&TableState>,
) -> Vec<Difference<'a>> {
    let Some(found) = found else {
        return vec![Difference::MissingTable];
    };
    if let Some(kind) = found.not_a_table {
        return vec![Difference::NotATable(kind)];
    }
    let mut differences = Vec::new();
    for column in columns {
        match found.column(column.name) {
            None => differences.push(Difference::MissingColumn(*column)),
            Some(existing) if !compatible(column.column_type, &existing.type_name) => {
                differences.push(Difference::WrongType {
                    column: *column,
                    found: existing.type_name.clone(),
                });
            }
            Some(_) => {}
        }
    }
    if !key.is_empty() && !found.has_unique(key) {
        differences.push(Difference::MissingKey);
    }
    differences
}

/// The spelling `format_type` gives a column of `column_type` (no type modifier).
pub(crate) fn pg_spelling(column_type: ColumnType) -> String {
    let scalar = scalar_spelling(column_type.scalar());
    if column_type.is_array() {
        format!("{scalar}[]")
    } else {
        scalar.to_owned()
    }
}

fn scalar_spelling(scalar: ScalarType) -> &'static str {
    match scalar {
        ScalarType::Text => "text",
        ScalarType::Integer => "integer",
        ScalarType::BigInt => "bigint",
        ScalarType::Numeric => "numeric",
        ScalarType::DoublePrecision => "double precision",
        ScalarType::Boolean => "boolean",
        ScalarType::Timestamptz => "timestamp with time zone",
        ScalarType::Date => "date",
        ScalarType::Uuid => "uuid",
        ScalarType::Jsonb => "jsonb",
    }
}

/// Whether a column `format_type` spells `found` can hold a declared `column_type` (the rules are in the
/// module documentation).
pub(crate) fn compatible(declared: ColumnType, found: &str) -> bool {
    let (element, array) = match found.strip_suffix("[]") {
        Some(element) => (element, true),
        None => (found, false),
    };
    if array != declared.is_array() {
        return false;
    }
    let base = without_modifiers(element);
    let scalar = declared.scalar();
    base == scalar_spelling(scalar) || (scalar == ScalarType::Text && base == "character varying")
}

/// `found` without its parenthesised type modifiers: `timestamp(3) with time zone` is
/// `timestamp with time zone`, `numeric(10,2)` is `numeric`.
fn without_modifiers(found: &str) -> String {
    let mut base = String::with_capacity(found.len());
    let mut depth = 0_usize;
    for c in found.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => base.push(c),
            _ => {}
        }
    }
    base.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ColumnType {
        text.parse().expect("a type the pipeline file accepts")
    }

    #[test]
    fn every_type_is_compatible_with_its_own_spelling() {
        for scalar in ScalarType::ALL {
            let column_type = ColumnType::Scalar(scalar);
            assert!(compatible(column_type, &pg_spelling(column_type)));
            if scalar != ScalarType::Jsonb {
                let array = ColumnType::Array(scalar);
                assert!(compatible(array, &pg_spelling(array)));
                assert!(!compatible(column_type, &pg_spelling(array)));
                assert!(!compatible(array, &pg_spelling(column_type)));
            }
        }
    }

    #[test]
    fn spellings_are_format_types() {
        assert_eq!(
            pg_spelling(parsed("timestamptz")),
            "timestamp with time zone"
        );
        assert_eq!(
            pg_spelling(parsed("timestamptz[]")),
            "timestamp with time zone[]"
        );
        assert_eq!(pg_spelling(parsed("float8")), "double precision");
        assert_eq!(pg_spelling(parsed("int")), "integer");
        assert_eq!(pg_spelling(parsed("bool[]")), "boolean[]");
    }

    #[test]
    fn a_type_modifier_is_compatible() {
        assert!(compatible(parsed("numeric"), "numeric(10,2)"));
        assert!(compatible(parsed("numeric[]"), "numeric(10,2)[]"));
        assert!(compatible(
            parsed("timestamptz"),
            "timestamp(3) with time zone"
        ));
        assert!(compatible(parsed("text"), "character varying(20)"));
        assert!(compatible(parsed("text[]"), "character varying[]"));
    }

    #[test]
    fn other_types_are_not() {
        assert!(!compatible(parsed("text"), "character(5)"));
        assert!(!compatible(parsed("jsonb"), "json"));
        assert!(!compatible(parsed("integer"), "bigint"));
        assert!(!compatible(
            parsed("timestamptz"),
            "timestamp without time zone"
        ));
        assert!(!compatible(parsed("uuid"), "text"));
        assert!(!compatible(parsed("text"), "shop.label"));
    }
}
