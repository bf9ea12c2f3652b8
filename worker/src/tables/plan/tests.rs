//! The plan's DDL, from pipeline files and tables as the catalog would describe them.

use super::*;

const ORDERS: &str = r#"
[[route]]
name = "orders"
type = "shop.order.*"
table = "shop.orders"
mode = "upsert"
key = ["order_id"]
order = "event_time"

[route.columns]
order_id = { type = "uuid", from = "/data/order/id" }
amount = { type = "numeric", from = "/data/amount" }
items = { type = "text[]", from = "/data/items", nullable = true }
event_time = { type = "timestamptz", from = "/time" }
note = { type = "text", from = "/data/note", default = "''" }
"#;

fn pipeline(text: &str) -> Pipeline {
    Pipeline::parse(text, "pacer.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn table(pipeline: &Pipeline) -> Table {
    pipeline.routes()[0].table().clone()
}

/// A table with these columns and unique keys.
fn state(columns: &[(&str, &str)], keys: &[&[&str]]) -> Option<TableState> {
    Some(TableState {
        columns: columns
            .iter()
            .map(|(name, type_name)| FoundColumn {
                name: (*name).to_owned(),
                type_name: (*type_name).to_owned(),
            })
            .collect(),
        unique_keys: keys
            .iter()
            .map(|key| key.iter().map(|c| (*c).to_owned()).collect())
            .collect(),
        ..TableState::default()
    })
}

fn planned(pipeline: &Pipeline, found: Option<TableState>) -> Result<Plan, TablesError> {
    let found = introspect::Found::from([(table(pipeline), found)]);
    plan_for(managed(pipeline), found)
}

fn statements(plan: &Plan) -> Vec<&str> {
    plan.steps().iter().map(Step::sql).collect()
}

fn refusals(result: Result<Plan, TablesError>) -> Vec<String> {
    match result {
        Err(TablesError::Refused(refusals)) => refusals.iter().map(ToString::to_string).collect(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const ORDERS_FOUND: [(&str, &str); 5] = [
    ("order_id", "uuid"),
    ("amount", "numeric(12,2)"),
    ("items", "text[]"),
    ("event_time", "timestamp with time zone"),
    ("note", "text"),
];

#[test]
fn a_missing_table_is_created_with_its_schema_and_key() {
    let plan = planned(&pipeline(ORDERS), None).unwrap();
    assert_eq!(
        statements(&plan),
        [
            "CREATE SCHEMA IF NOT EXISTS \"shop\"",
            "CREATE TABLE \"shop\".\"orders\" (\n    \"order_id\" uuid NOT NULL,\n    \
             \"amount\" numeric NOT NULL,\n    \"items\" text[],\n    \
             \"event_time\" timestamptz NOT NULL,\n    \"note\" text NOT NULL DEFAULT '',\n    \
             PRIMARY KEY (\"order_id\")\n)",
        ]
    );
    let script = plan.to_string();
    assert!(
        script.starts_with("-- create schema shop if it does not exist (route \"orders\")\n"),
        "{script}"
    );
    assert!(script.contains(";\n\n-- create table shop.orders (route \"orders\")\nCREATE TABLE"));
}

#[test]
fn a_matching_table_needs_nothing() {
    let plan = planned(&pipeline(ORDERS), state(&ORDERS_FOUND, &[&["order_id"]])).unwrap();
    assert!(plan.is_empty(), "{plan}");
}

#[test]
fn missing_columns_with_a_value_for_old_rows_are_added() {
    let [order_id, amount, _items, event_time, _note] = ORDERS_FOUND;
    let found = state(&[order_id, amount, event_time], &[&["order_id"]]);
    let plan = planned(&pipeline(ORDERS), found).unwrap();
    assert_eq!(
        statements(&plan),
        [
            "ALTER TABLE \"shop\".\"orders\" ADD COLUMN \"items\" text[]",
            "ALTER TABLE \"shop\".\"orders\" ADD COLUMN \"note\" text NOT NULL DEFAULT ''",
        ]
    );
    assert_eq!(
        plan.summary(),
        "add column shop.orders.items (route \"orders\")\n\
         add column shop.orders.note (route \"orders\")"
    );
}

#[test]
fn a_missing_not_null_column_without_default_is_refused() {
    let found = state(&ORDERS_FOUND[1..], &[&["order_id"]]);
    let lines = refusals(planned(&pipeline(ORDERS), found));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("route \"orders\": table shop.orders, column \"order_id\": declared uuid NOT NULL without a default"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("`nullable = true` or give it a `default`"));
}

#[test]
fn a_retype_is_refused_with_both_types_and_every_refusal_is_listed() {
    let mut columns = ORDERS_FOUND;
    columns[1] = ("amount", "text");
    columns[3] = ("event_time", "timestamp without time zone");
    let lines = refusals(planned(
        &pipeline(ORDERS),
        state(&columns, &[&["order_id"]]),
    ));
    assert_eq!(
        lines
            .iter()
            .map(|l| l.split(';').next().unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "route \"orders\": table shop.orders, column \"amount\": declared numeric, found text",
            "route \"orders\": table shop.orders, column \"event_time\": declared timestamptz, found timestamp without time zone",
        ]
    );
}

#[test]
fn a_key_without_a_unique_constraint_gets_an_index_under_a_free_name() {
    let found = state(&ORDERS_FOUND, &[&["order_id", "amount"]]);
    let plan = planned(&pipeline(ORDERS), found).unwrap();
    assert_eq!(
        statements(&plan),
        [
            "CREATE UNIQUE INDEX IF NOT EXISTS \"orders_pacer_key\" ON \"shop\".\"orders\" (\"order_id\")"
        ]
    );
    let mut found = state(&ORDERS_FOUND, &[]);
    if let Some(state) = &mut found {
        state.index_names.push("orders_pacer_key".into());
    }
    let plan = planned(&pipeline(ORDERS), found).unwrap();
    assert!(
        statements(&plan)[0].contains("\"orders_pacer_key2\""),
        "{plan}"
    );
}

#[test]
fn index_names_fit_in_63_bytes() {
    let long = "t".repeat(63);
    let text = ORDERS.replace("shop.orders", &long);
    let name = index_name(&table(&pipeline(&text)), &[]);
    assert_eq!(name.len(), 63);
    assert!(name.ends_with("_pacer_key"));
}

#[test]
fn an_append_route_without_key_has_no_primary_key_and_built_in_routes_are_left_out() {
    let text = r#"
[[route]]
name = "clicks"
type = "click"
table = "clicks"
key = []

[route.columns]
url = { type = "text", from = "/data/url" }

[[route]]
name = "rest"
source = "*"
table = "events"
"#;
    let plan = planned(&pipeline(text), None).unwrap();
    assert_eq!(
        statements(&plan),
        ["CREATE TABLE \"clicks\" (\n    \"url\" text NOT NULL\n)"]
    );
}

#[test]
fn routes_sharing_a_table_create_it_once() {
    let text = format!(
        "{ORDERS}\n{}",
        r#"
[[route]]
name = "cancellations"
type = "shop.cancel"
table = "shop.orders"
mode = "delete"
key = ["order_id"]
order = "event_time"

[route.columns]
order_id = { type = "uuid", from = "/data/order/id" }
event_time = { type = "timestamptz", from = "/time" }
reason = { type = "text", from = "/data/reason", nullable = true }
"#
    );
    let plan = planned(&pipeline(&text), None).unwrap();
    let sql = statements(&plan);
    // One CREATE TABLE with the columns of both routes; the delete route's own column is nullable.
    assert_eq!(sql.len(), 2, "{plan}");
    assert!(sql[1].starts_with("CREATE TABLE"));
    assert!(sql[1].contains("\"reason\" text,"), "{plan}");
}

#[test]
fn a_column_some_inserting_route_lacks_is_created_nullable() {
    let text = r#"
[[route]]
name = "gone"
type = "customer.deleted"
table = "customers"
mode = "delete"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/id" }
at = { type = "timestamptz", from = "/time" }

[[route]]
name = "customers"
type = "customer.*"
table = "customers"
mode = "upsert"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/id" }
name = { type = "text", from = "/data/name" }
at = { type = "timestamptz", from = "/time" }

[[route]]
name = "imports"
type = "import.customer"
table = "customers"
mode = "upsert"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/id" }
at = { type = "timestamptz", from = "/time" }
"#;
    let plan = planned(&pipeline(text), None).unwrap();
    let sql = statements(&plan);
    assert_eq!(sql.len(), 1, "{plan}");
    // `name`: the delete-only route does not count, but `imports` inserts rows without it.
    assert!(sql[0].contains("\"name\" text,"), "{plan}");
    assert!(sql[0].contains("\"at\" timestamp"), "{plan}");
    assert!(sql[0].contains("\"id\" text NOT NULL"), "{plan}");
}
