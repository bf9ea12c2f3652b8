//! Tests of the whole crate through its public API: a full file, choosing routes, the default pipeline
//! (`parse`), where each mistake is reported (`errors`), plain JSON routes (`json`) and JSON Schemas
//! (`schema`).

use crate::Pipeline;

mod errors;
mod json;
mod parse;
mod schema;

pub(super) fn parse(text: &str) -> Pipeline {
    match Pipeline::parse(text, "conf/pacer.toml") {
        Ok(pipeline) => pipeline,
        Err(error) => panic!("{error}"),
    }
}

pub(super) fn error(text: &str) -> String {
    match Pipeline::parse(text, "pacer.toml") {
        Ok(pipeline) => panic!("accepted: {pipeline:?}"),
        Err(error) => error.to_string(),
    }
}

/// A one-route file with `route` and `columns` spliced in: the route starts on line 1, `name` on line 2.
pub(super) fn with(route: &str, columns: &str) -> String {
    format!("[[route]]\nname = \"orders\"\n{route}\n[route.columns]\n{columns}\n")
}

pub(super) const ID: &str = "order_id = { type = \"uuid\", from = \"/data/id\" }";
