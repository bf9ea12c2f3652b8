//! From the file's shapes to checked routes: every rule the serde shapes cannot say, each broken one
//! reported at the value that breaks it, with the route's (and column's) name.

use crate::PipelineError;
use crate::file::{FileDoc, RouteDoc};
use crate::format::Format;
use crate::matching::{Glob, Matcher};
use crate::names::{check_route_name, check_topic, parse_table};
use crate::route::Route;
use crate::schema::RouteSchema;
use crate::span::Location;
use crate::types::Mode;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Checks the whole file: the routes in file order, and the index of the fallback route.
pub(crate) fn pipeline(
    text: &str,
    path: &Path,
) -> Result<(Vec<Route>, Option<usize>), PipelineError> {
    let file = path.display().to_string();
    let cx = Cx { text, file: &file };
    let doc: FileDoc = toml::from_str(text)
        .map_err(|error| cx.error(&error.span().unwrap_or(0..0), toml_message(&error)))?;
    if doc.route.is_empty() {
        return Err(cx.error(
            &(0..0),
            "no [[route]]; expected at least one, with name, table and a type, source or topic",
        ));
    }
    let fallback = doc
        .fallback
        .as_ref()
        .map(|fallback| &fallback.get_ref().route);
    let base = path.parent().unwrap_or(Path::new(""));
    let mut routes: Vec<Route> = Vec::with_capacity(doc.route.len());
    let mut name_spans: Vec<Range<usize>> = Vec::with_capacity(doc.route.len());
    for (index, doc) in doc.route.iter().enumerate() {
        let route = cx.route(
            index,
            doc,
            fallback.map(|name| name.get_ref().as_str()),
            base,
        )?;
        let span = doc
            .get_ref()
            .name
            .as_ref()
            .map_or(doc.span(), Spanned::span);
        if let Some(first) = routes.iter().position(|other| other.name == route.name) {
            let first_line = name_spans.get(first).map_or(1, |first| cx.at(first).line());
            let message = format!(
                "route \"{}\": duplicate route name; the first is on line {first_line}, names must be unique",
                route.name
            );
            return Err(cx.error(&span, message));
        }
        routes.push(route);
        name_spans.push(span);
    }
    cx.json_topics(&doc.route, &routes)?;
    let fallback = match fallback {
        None => None,
        Some(name) => match routes
            .iter()
            .position(|route| &route.name == name.get_ref())
        {
            Some(index) if matches!(routes[index].format, Format::Json(_)) => {
                return Err(cx.error(
                    &name.span(),
                    format!(
                        "fallback, route: route \"{}\" reads plain JSON (format = \"json\"); the fallback takes the CloudEvents no route matches, so name a CloudEvents route",
                        name.get_ref()
                    ),
                ));
            }
            Some(index) => Some(index),
            None => {
                let names: Vec<&str> = routes.iter().map(|route| route.name.as_str()).collect();
                return Err(cx.error(
                    &name.span(),
                    format!(
                        "fallback, route: no route is named \"{}\"; expected one of {}",
                        name.get_ref(),
                        names.join(", ")
                    ),
                ));
            }
        },
    };
    Ok((routes, fallback))
}

/// The bare message of a TOML or shape error, led by the keys it is under (`route.key: invalid type…`).
fn toml_message(error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    // The key path is private, but `Display` appends it when the error has no input to quote.
    let mut bare = error.clone();
    bare.set_input(None);
    match bare.to_string().trim_end().rsplit_once("\nin `") {
        Some((_, keys)) => format!("{}: {message}", keys.trim_end_matches('`')),
        None => message.to_owned(),
    }
}

/// The file being checked, for turning spans into errors.
pub(crate) struct Cx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Cx<'_> {
    pub(crate) fn at(&self, span: &Range<usize>) -> Location {
        Location::at(self.file, self.text, span.start)
    }

    pub(crate) fn error(&self, span: &Range<usize>, message: impl Into<String>) -> PipelineError {
        PipelineError::Invalid {
            at: self.at(span),
            message: message.into(),
        }
    }

    fn route(
        &self,
        index: usize,
        doc: &Spanned<RouteDoc>,
        fallback: Option<&str>,
        base: &Path,
    ) -> Result<Route, PipelineError> {
        let whole = doc.span();
        let doc = doc.get_ref();
        let Some(name) = &doc.name else {
            return Err(self.error(
                &whole,
                format!(
                    "route #{}: missing key \"name\"; expected a unique name like \"orders\"",
                    index + 1
                ),
            ));
        };
        check_route_name(name.get_ref()).map_err(|message| {
            self.error(
                &name.span(),
                format!("route #{}, name: {message}", index + 1),
            )
        })?;
        let label = format!("route \"{}\"", name.get_ref());
        let fail =
            |span: &Range<usize>, message: String| self.error(span, format!("{label}: {message}"));

        let mut matcher = Matcher::default();
        if let Some(topic) = &doc.topic {
            check_topic(topic.get_ref())
                .map_err(|message| fail(&topic.span(), format!("topic: {message}")))?;
            matcher.topic = Some(topic.get_ref().clone());
        }
        let glob = |value: &Spanned<String>, key: &str| {
            Glob::new(value.get_ref())
                .map_err(|message| fail(&value.span(), format!("{key}: {message}")))
        };
        matcher.event_type = doc
            .event_type
            .as_ref()
            .map(|value| glob(value, "type"))
            .transpose()?;
        matcher.source = doc
            .source
            .as_ref()
            .map(|value| glob(value, "source"))
            .transpose()?;
        let format = self.format(&label, doc, matcher.topic.as_deref())?;
        if matcher.is_empty() && fallback != Some(name.get_ref()) {
            return Err(fail(&name.span(), "matches no event; expected at least one of type, source and topic (only the [fallback] route may have none)".to_owned()));
        }

        let Some(table) = &doc.table else {
            return Err(fail(&whole, "missing key \"table\"; expected the PostgreSQL table, like \"orders\" or \"shop.orders\"".to_owned()));
        };
        let table = parse_table(table.get_ref())
            .map_err(|message| fail(&table.span(), format!("table: {message}")))?;
        let mode = match &doc.mode {
            None => Mode::Append,
            Some(mode) => mode
                .get_ref()
                .parse()
                .map_err(|message| fail(&mode.span(), format!("mode: {message}")))?,
        };
        let mode_span = doc.mode.as_ref().map_or(whole.clone(), Spanned::span);

        let mut columns = Vec::with_capacity(doc.columns.0.len());
        for (column_name, column) in &doc.columns.0 {
            let column = self.column(&label, column_name, column.get_ref())?;
            columns.push(column);
        }
        if columns.is_empty() && mode != Mode::Append {
            return Err(fail(
                &mode_span,
                format!(
                    "mode: {mode} needs declared columns ([route.columns]); the built-in events table only appends"
                ),
            ));
        }

        let key = self.key(&label, doc, mode, &mode_span, &whole, &columns)?;
        let order = self.order(&label, doc, mode, &mode_span, &columns)?;
        if let Some(order) = order.as_ref().filter(|order| key.contains(order)) {
            let span = doc.order.as_ref().map_or(mode_span.clone(), Spanned::span);
            return Err(fail(
                &span,
                format!(
                    "order: column \"{order}\" is in the key; versions of one row have one key, so order them by a column outside it (the default is the column from /time)"
                ),
            ));
        }
        let delete_types = match (&doc.delete_types, mode) {
            (Some(types), Mode::Delete) => {
                let mut out = Vec::with_capacity(types.get_ref().len());
                for event_type in types.get_ref() {
                    if event_type.get_ref().is_empty() {
                        return Err(fail(&event_type.span(), "delete_types: empty type; expected CloudEvents types like \"shop.order.cancelled\"".to_owned()));
                    }
                    out.push(event_type.get_ref().clone());
                }
                out
            }
            (Some(types), _) => {
                return Err(fail(
                    &types.span(),
                    format!(
                        "delete_types: only for mode = \"delete\"; this route's mode is {mode}"
                    ),
                ));
            }
            (None, _) => Vec::new(),
        };
        let schema = match &doc.schema {
            Some(schema) if schema.get_ref().trim().is_empty() => {
                return Err(fail(
                    &schema.span(),
                    "schema: empty path; expected a JSON Schema file relative to the pipeline file"
                        .to_owned(),
                ));
            }
            Some(schema) => Some(RouteSchema {
                path: base.join(schema.get_ref()),
                at: self.at(&schema.span()),
                validator: None,
            }),
            None => None,
        };
        Ok(Route {
            name: name.get_ref().clone(),
            matcher,
            format,
            table,
            mode,
            key,
            order,
            delete_types,
            schema,
            columns,
        })
    }
}
