//! The pipeline file as TOML has it: serde shapes with the position of every value, and nothing checked
//! beyond the shape.
//!
//! Unknown keys are refused here (`deny_unknown_fields`), so a misspelt key is an error rather than a
//! silently ignored setting. Values stay strings where the message for a bad one needs the route's and
//! the column's name; `validate` turns them into the typed [`Route`](crate::Route).

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDoc {
    #[serde(default)]
    pub(crate) route: Vec<Spanned<RouteDoc>>,
    pub(crate) fallback: Option<Spanned<FallbackDoc>>,
}

/// One `[[route]]`. Required keys are `Option` so that a missing one is reported with the route's name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteDoc {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) topic: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub(crate) event_type: Option<Spanned<String>>,
    pub(crate) source: Option<Spanned<String>>,
    pub(crate) table: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) order: Option<Spanned<String>>,
    pub(crate) delete_types: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) schema: Option<Spanned<String>>,
    pub(crate) format: Option<Spanned<String>>,
    pub(crate) id_from: Option<Spanned<String>>,
    pub(crate) source_from: Option<Spanned<String>>,
    pub(crate) source_value: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) columns: ColumnsDoc,
}

/// `[route.columns]`, in the order the file declares them.
#[derive(Debug, Default)]
pub(crate) struct ColumnsDoc(pub(crate) Vec<(Spanned<String>, Spanned<ColumnDoc>)>);

/// One column: `name = { type = "...", from = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ColumnDoc {
    #[serde(rename = "type")]
    pub(crate) column_type: Spanned<String>,
    pub(crate) from: Spanned<String>,
    pub(crate) nullable: Option<Spanned<bool>>,
    pub(crate) default: Option<Spanned<String>>,
}

/// `[fallback]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FallbackDoc {
    pub(crate) route: Spanned<String>,
}

// === impl ColumnsDoc ===

// `toml` hands a table's keys over sorted by name (its map is a BTreeMap unless `preserve_order` is on);
// the key spans give the file's order back without that feature.
impl<'de> Deserialize<'de> for ColumnsDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColumnsVisitor;

        impl<'de> Visitor<'de> for ColumnsVisitor {
            type Value = ColumnsDoc;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of columns, `name = { type = \"...\", from = \"...\" }`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ColumnsDoc, A::Error> {
                let mut columns: Vec<(Spanned<String>, Spanned<ColumnDoc>)> = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    columns.push(entry);
                }
                columns.sort_by_key(|(name, _)| name.span().start);
                Ok(ColumnsDoc(columns))
            }
        }

        deserializer.deserialize_map(ColumnsVisitor)
    }
}
