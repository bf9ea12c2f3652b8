//! The column half of route validation: each `[route.columns]` entry, and the key and order columns
//! that must name them.

use crate::PipelineError;
use crate::file::{ColumnDoc, RouteDoc};
use crate::names::check_identifier;
use crate::route::{Column, EVENT_IDENTITY};
use crate::types::{ColumnSource, ColumnType, Mode};
use crate::validate::Cx;
use std::ops::Range;
use toml::Spanned;

impl Cx<'_> {
    pub(crate) fn column(
        &self,
        label: &str,
        name: &Spanned<String>,
        doc: &ColumnDoc,
    ) -> Result<Column, PipelineError> {
        check_identifier(name.get_ref())
            .map_err(|message| self.error(&name.span(), format!("{label}, columns: {message}")))?;
        let fail = |span: &Range<usize>, message: String| {
            self.error(
                span,
                format!("{label}, column \"{}\": {message}", name.get_ref()),
            )
        };
        let column_type: ColumnType = doc
            .column_type
            .get_ref()
            .parse()
            .map_err(|error| fail(&doc.column_type.span(), format!("{error}")))?;
        let source: ColumnSource = doc
            .from
            .get_ref()
            .parse()
            .map_err(|message| fail(&doc.from.span(), format!("from: {message}")))?;
        let default = match &doc.default {
            Some(default) if default.get_ref().trim().is_empty() => {
                return Err(fail(
                    &default.span(),
                    "default: empty; expected a SQL expression such as \"''\" or \"now()\""
                        .to_owned(),
                ));
            }
            default => default.as_ref().map(|default| default.get_ref().clone()),
        };
        let nullable = doc
            .nullable
            .as_ref()
            .is_some_and(|nullable| *nullable.get_ref());
        Ok(Column {
            name: name.get_ref().clone(),
            column_type,
            source,
            nullable,
            default,
        })
    }

    pub(crate) fn key(
        &self,
        label: &str,
        doc: &RouteDoc,
        mode: Mode,
        mode_span: &Range<usize>,
        whole: &Range<usize>,
        columns: &[Column],
    ) -> Result<Vec<String>, PipelineError> {
        let fail =
            |span: &Range<usize>, message: String| self.error(span, format!("{label}: {message}"));
        if let (Some(key), true) = (&doc.key, columns.is_empty()) {
            return Err(fail(
                &key.span(),
                "key: a route without columns writes the built-in events table, which is keyed by (source, id); drop key, or declare the route's columns".to_owned(),
            ));
        }
        let Some(key) = &doc.key else {
            return match mode {
                Mode::Append if columns.is_empty() => Ok(EVENT_IDENTITY.iter().map(|c| (*c).to_owned()).collect()),
                Mode::Append => identity_columns(columns).ok_or_else(|| {
                    fail(whole, "missing key \"key\"; append skips redelivered events by the columns from /source and /id, so declare both, name a key, or write key = [] to keep every delivery".to_owned())
                }),
                _ => Err(fail(mode_span, format!("mode: {mode} needs key = [...], the columns that identify a row"))),
            };
        };
        if key.get_ref().is_empty() && mode != Mode::Append {
            return Err(fail(
                &key.span(),
                format!("key: empty; mode {mode} needs the columns that identify a row"),
            ));
        }
        let mut out: Vec<String> = Vec::with_capacity(key.get_ref().len());
        for column in key.get_ref() {
            let found = declared(columns, column)
                .map_err(|message| fail(&column.span(), format!("key: {message}")))?;
            if found.nullable {
                return Err(self.error(
                    &nullable_span(doc, &found.name).unwrap_or(column.span()),
                    format!(
                        "{label}, column \"{}\": a key column cannot be nullable; drop nullable or take it out of key",
                        found.name
                    ),
                ));
            }
            if out.contains(column.get_ref()) {
                return Err(fail(
                    &column.span(),
                    format!("key: column \"{}\" is listed twice", column.get_ref()),
                ));
            }
            out.push(column.get_ref().clone());
        }
        Ok(out)
    }

    /// The column that orders versions, for upsert and delete: `order`, else the first column fed from
    /// `/time`. Not nullable.
    pub(crate) fn order(
        &self,
        label: &str,
        doc: &RouteDoc,
        mode: Mode,
        mode_span: &Range<usize>,
        columns: &[Column],
    ) -> Result<Option<String>, PipelineError> {
        let fail =
            |span: &Range<usize>, message: String| self.error(span, format!("{label}: {message}"));
        let (column, span) = match (&doc.order, mode) {
            (Some(order), Mode::Append) => {
                return Err(fail(
                    &order.span(),
                    "order: only for mode = \"upsert\" or \"delete\"; this route's mode is append"
                        .to_owned(),
                ));
            }
            (None, Mode::Append) => return Ok(None),
            (Some(order), _) => (
                declared(columns, order)
                    .map_err(|message| fail(&order.span(), format!("order: {message}")))?,
                order.span(),
            ),
            (None, _) => {
                let time = ColumnSource::Pointer("/time".to_owned());
                let column = columns.iter().find(|column| column.source == time).ok_or_else(|| {
                    fail(mode_span, format!("mode: {mode} needs a column that orders versions of a row (the later wins); declare a column from /time or name one in order"))
                })?;
                (column, mode_span.clone())
            }
        };
        if column.nullable {
            return Err(self.error(
                &nullable_span(doc, &column.name).unwrap_or(span),
                format!(
                    "{label}, column \"{}\": the order column cannot be nullable; drop nullable or name another column in order",
                    column.name
                ),
            ));
        }
        if column.default.is_some() {
            // The merge orders the staged versions before the default is put in: a missing order value
            // would sort first and never win, and a delete without one would delete nothing.
            return Err(self.error(
                &span,
                format!(
                    "{label}, column \"{}\": the order column cannot have a default; every event must carry its order value",
                    column.name
                ),
            ));
        }
        Ok(Some(column.name.clone()))
    }
}

/// Where the file says column `name` is nullable.
fn nullable_span(doc: &RouteDoc, name: &str) -> Option<Range<usize>> {
    doc.columns
        .0
        .iter()
        .find(|(column, _)| column.get_ref() == name)
        .and_then(|(_, column)| column.get_ref().nullable.as_ref())
        .map(Spanned::span)
}

/// The declared column `name` names, or why not.
pub(crate) fn declared<'c>(
    columns: &'c [Column],
    name: &Spanned<String>,
) -> Result<&'c Column, String> {
    columns
        .iter()
        .find(|column| &column.name == name.get_ref())
        .ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|column| column.name.as_str()).collect();
            let expected = if names.is_empty() {
                "the route declares no columns".to_owned()
            } else {
                format!("expected one of {}", names.join(", "))
            };
            format!(
                "column \"{}\" is not declared in [route.columns]; {expected}",
                name.get_ref()
            )
        })
}

/// The columns fed from the event's `/source` and `/id`, the default append key.
fn identity_columns(columns: &[Column]) -> Option<Vec<String>> {
    let from = |pointer: &str| {
        columns
            .iter()
            .find(|column| column.source == ColumnSource::Pointer(pointer.to_owned()))
            .map(|column| column.name.clone())
    };
    Some(vec![from("/source")?, from("/id")?])
}
