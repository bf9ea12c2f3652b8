//! Routes' JSON Schemas through `Pipeline::from_file`: data checked against them, and a schema that
//! cannot be used reported at the route's `schema` key.

use crate::{Pipeline, PipelineError, Route, Violation};
use serde_json::{Value, json};
use std::path::Path;

const ORDER_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "amount"],
  "properties": {
    "id": { "type": "string", "pattern": "^o-[0-9]+$" },
    "amount": { "type": "number", "minimum": 0 },
    "lines": { "type": "array", "items": { "$ref": "#/$defs/line" } }
  },
  "$defs": { "line": { "type": "object", "required": ["sku"] } }
}"##;

/// A pipeline file in a fresh directory whose one route names `schemas/order.json`, written with
/// `schema` unless `None`, next to `schemas/line.json`.
fn load(schema: Option<&str>) -> (tempfile::TempDir, Result<Pipeline, PipelineError>) {
    load_in("", schema)
}

/// [`load`] in the `sub` directory of a fresh one.
fn load_in(
    sub: &str,
    schema: Option<&str>,
) -> (tempfile::TempDir, Result<Pipeline, PipelineError>) {
    let root = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let dir = root.path().join(sub);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{e}");
    }
    let write = |path: &Path, text: &str| {
        if let Err(e) = std::fs::write(path, text) {
            panic!("{}: {e}", path.display());
        }
    };
    let path = dir.join("pacer.toml");
    write(
        &path,
        "[[route]]\nname = \"orders\"\ntype = \"shop.*\"\ntable = \"orders\"\nschema = \"schemas/order.json\"\n",
    );
    if let Some(schema) = schema {
        if let Err(e) = std::fs::create_dir(dir.join("schemas")) {
            panic!("{e}");
        }
        write(&dir.join("schemas/order.json"), schema);
        write(
            &dir.join("schemas/line.json"),
            r#"{ "type": "object", "required": ["sku"], "properties": { "sku": { "type": "string" } } }"#,
        );
    }
    let pipeline = Pipeline::from_file(&path);
    (root, pipeline)
}

fn route(schema: &str) -> (tempfile::TempDir, Route) {
    match load(Some(schema)) {
        (dir, Ok(pipeline)) => (dir, pipeline.routes()[0].clone()),
        (_, Err(error)) => panic!("{error}"),
    }
}

fn violation(route: &Route, data: &Value) -> Violation {
    match route.check_data(Some(data)) {
        Ok(()) => panic!("accepted {data}"),
        Err(violation) => violation,
    }
}

fn error_of(schema: Option<&str>) -> (String, String) {
    match load(schema) {
        (dir, Ok(_)) => panic!("accepted in {}", dir.path().display()),
        (dir, Err(error)) => (error.to_string(), dir.path().display().to_string()),
    }
}

#[test]
fn valid_data_passes_and_the_first_violation_is_named() {
    let (_dir, orders) = route(ORDER_SCHEMA);
    assert!(orders.has_schema());
    let good = json!({ "id": "o-1", "amount": 3.5, "lines": [{ "sku": "a" }] });
    assert_eq!(orders.check_data(Some(&good)), Ok(()));

    let minimum = violation(&orders, &json!({ "id": "o-1", "amount": -1 }));
    assert_eq!(
        (minimum.pointer.as_str(), minimum.keyword.as_str()),
        ("/data/amount", "minimum")
    );
    assert_eq!(
        minimum.to_string(),
        "data does not match the schema of route \"orders\": /data/amount: minimum: -1 is less than the minimum of 0"
    );
    let required = violation(&orders, &json!({ "id": "o-1" }));
    assert_eq!(
        (required.pointer.as_str(), required.keyword.as_str()),
        ("/data", "required")
    );
    assert!(required.message.contains("\"amount\""), "{required}");
    let pattern = violation(&orders, &json!({ "id": "x-1", "amount": 1 }));
    assert_eq!(
        (pattern.pointer.as_str(), pattern.keyword.as_str()),
        ("/data/id", "pattern")
    );
    let nested = violation(
        &orders,
        &json!({ "id": "o-1", "amount": 1, "lines": [{}, { "sku": 1 }] }),
    );
    assert_eq!(
        (nested.pointer.as_str(), nested.keyword.as_str()),
        ("/data/lines/0", "required")
    );
    let whole = violation(&orders, &json!([1, 2]));
    assert_eq!(
        (whole.pointer.as_str(), whole.keyword.as_str()),
        ("/data", "type")
    );
    let missing = orders.check_data(None).err();
    assert_eq!(
        missing.map(|v| (v.pointer, v.keyword)),
        Some(("/data".to_owned(), "type".to_owned())),
        "no data is checked as null"
    );
}

#[test]
fn messages_are_one_short_line() {
    let (_dir, orders) = route(r#"{ "type": "string" }"#);
    let long: Vec<String> = (0..500).map(|i| format!("line\n{i}")).collect();
    let message = violation(&orders, &json!({ "lines": long })).message;
    assert!(message.chars().count() <= 201, "{message}");
    assert!(message.ends_with('…'), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn a_ref_to_a_sibling_file_is_resolved_and_nothing_is_fetched() {
    let schema = r#"{ "type": "array", "items": { "$ref": "line.json" } }"#;
    for sub in ["", "with space/100%"] {
        let orders = match load_in(sub, Some(schema)) {
            (_dir, Ok(pipeline)) => pipeline.routes()[0].clone(),
            (_, Err(error)) => panic!("{error}"),
        };
        assert_eq!(orders.check_data(Some(&json!([{ "sku": "a" }]))), Ok(()));
        let bad = violation(&orders, &json!([{ "sku": "a" }, { "sku": 2 }]));
        assert_eq!(
            (bad.pointer.as_str(), bad.keyword.as_str()),
            ("/data/1/sku", "type")
        );
    }
    let (message, _) = error_of(Some(r#"{ "$ref": "https://example.com/line.json" }"#));
    assert!(
        message.contains("https://example.com/line.json is not a local file; pacer fetches no schema over the network"),
        "{message}"
    );
}

#[test]
fn a_missing_schema_file_is_named_at_the_schema_key() {
    let (message, dir) = error_of(None);
    let prefix = format!(
        "{dir}/pacer.toml:5:10: route \"orders\": schema: cannot read {dir}/schemas/order.json: "
    );
    assert!(message.starts_with(&prefix), "{message}");
}

#[test]
fn a_schema_that_is_not_json_or_not_a_schema_is_named() {
    let (message, dir) = error_of(Some("{ \"type\": "));
    let prefix = format!(
        "{dir}/pacer.toml:5:10: route \"orders\": schema: {dir}/schemas/order.json is not JSON: "
    );
    assert!(message.starts_with(&prefix), "{message}");

    let (message, dir) = error_of(Some(
        r#"{ "properties": { "amount": { "type": "money" } } }"#,
    ));
    let prefix = format!(
        "{dir}/pacer.toml:5:10: route \"orders\": schema: {dir}/schemas/order.json is not a valid JSON Schema (draft 2020-12) at /properties/amount/type: "
    );
    assert!(message.starts_with(&prefix), "{message}");

    let (message, _) = error_of(Some(r#"{ "$ref": "missing.json" }"#));
    assert!(
        message.contains("is not a valid JSON Schema (draft 2020-12)"),
        "{message}"
    );
}

#[test]
fn parse_alone_checks_no_data_until_the_schemas_are_loaded() {
    let text = "[[route]]\nname = \"orders\"\ntype = \"shop.*\"\ntable = \"orders\"\nschema = \"none.json\"\n";
    let mut pipeline = match Pipeline::parse(text, "/nonexistent/pacer.toml") {
        Ok(pipeline) => pipeline,
        Err(error) => panic!("{error}"),
    };
    assert!(!pipeline.routes()[0].has_schema());
    assert_eq!(pipeline.routes()[0].check_data(Some(&json!(1))), Ok(()));
    let message = pipeline
        .load_schemas()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("/nonexistent/pacer.toml:5:10: route \"orders\": schema: cannot read /nonexistent/none.json: "),
        "{message}"
    );
}
