//! A full file parses to the expected typed routes; routes are chosen first-match-wins, then the
//! fallback; the default pipeline is today's behaviour.

use super::{ID, error, parse, with};
use crate::{ColumnSource, ColumnType, Mode, Pipeline, RecordFact, ScalarType};
use std::path::Path;

const FULL: &str = r#"# routes for the shop
[[route]]
name = "orders"
topic = "events"
type = "shop.order.*"
source = "/shop/*"
table = "shop.orders"
mode = "upsert"
key = ["order_id"]
order = "event_time"
schema = "schemas/order.json"

[route.columns]
order_id = { type = "uuid", from = "/data/order/id" }
amount = { type = "NUMERIC", from = "/data/amount" }
items = { type = "text[]", from = "/data/items", nullable = true }
event_time = { type = "timestamptz", from = "/time" }
partition = { type = "int4", from = "kafka.partition" }
note = { type = "text", from = "/data/note", default = "''" }

[[route]]
name = "cancellations"
type = "shop.order.cancelled"
table = "orders_gone"
mode = "delete"
key = ["order_id"]
delete_types = ["shop.order.cancelled"]

[route.columns]
order_id = { type = "uuid", from = "/data/order/id" }
at = { type = "timestamptz", from = "/time" }

[[route]]
name = "everything"
table = "events"

[fallback]
route = "everything"
"#;

#[test]
fn a_full_file_parses_to_typed_routes() {
    let pipeline = parse(FULL);
    let names: Vec<&str> = pipeline.routes().iter().map(|route| route.name()).collect();
    assert_eq!(names, ["orders", "cancellations", "everything"]);

    let orders = &pipeline.routes()[0];
    assert_eq!(orders.matcher().topic(), Some("events"));
    assert_eq!(
        orders.matcher().event_type().map(|glob| glob.as_str()),
        Some("shop.order.*")
    );
    assert_eq!(orders.table().schema(), Some("shop"));
    assert_eq!(orders.table().to_string(), "shop.orders");
    assert_eq!(orders.mode(), Mode::Upsert);
    assert_eq!(orders.key(), ["order_id"]);
    assert_eq!(orders.order_column(), Some("event_time"));
    assert_eq!(orders.schema(), Some(Path::new("conf/schemas/order.json")));
    assert!(!orders.has_schema(), "parse reads no schema file");
    assert_eq!(orders.check_data(None), Ok(()));
    let columns: Vec<&str> = orders
        .columns()
        .iter()
        .map(|column| column.name())
        .collect();
    assert_eq!(
        columns,
        [
            "order_id",
            "amount",
            "items",
            "event_time",
            "partition",
            "note"
        ],
        "file order"
    );
    let items = orders.column("items").unwrap();
    assert_eq!(items.column_type(), ColumnType::Array(ScalarType::Text));
    assert!(items.nullable());
    assert_eq!(
        orders.column("amount").unwrap().column_type().to_string(),
        "numeric"
    );
    assert_eq!(
        orders.column("partition").unwrap().source(),
        &ColumnSource::Record(RecordFact::KafkaPartition)
    );
    assert_eq!(
        orders.column("order_id").unwrap().source().pointer_tokens(),
        ["data", "order", "id"]
    );
    assert_eq!(orders.column("note").unwrap().default(), Some("''"));

    let gone = &pipeline.routes()[1];
    assert_eq!(gone.mode(), Mode::Delete);
    assert_eq!(gone.order_column(), Some("at"), "the column from /time");
    assert!(gone.deletes("shop.order.cancelled"));
    assert!(!gone.deletes("shop.order.created"));

    let everything = pipeline.fallback().unwrap();
    assert_eq!(everything.name(), "everything");
    assert_eq!(everything.order_column(), None);
    assert!(everything.uses_builtin_table());
    assert_eq!(everything.key(), ["source", "id"]);
}

#[test]
fn the_first_matching_route_wins_then_the_fallback() {
    let pipeline = parse(FULL);
    let route = |topic, event_type, source| {
        pipeline
            .route_for(topic, event_type, source)
            .map(|r| r.name())
    };
    assert_eq!(
        route("events", "shop.order.created", "/shop/eu"),
        Some("orders")
    );
    // Matches "orders" by type but not by topic or source, then "cancellations" by type alone.
    assert_eq!(
        route("other", "shop.order.cancelled", "/shop/eu"),
        Some("cancellations")
    );
    assert_eq!(
        route("events", "shop.order.cancelled", "/bank"),
        Some("cancellations")
    );
    assert_eq!(
        route("events", "shop.order.cancelled", "/shop/eu"),
        Some("orders"),
        "first wins"
    );
    assert_eq!(route("events", "bank.payment", "/bank"), Some("everything"));

    let no_fallback = parse(&with("type = \"shop.*\"\ntable = \"orders\"\nkey = []", ID));
    assert_eq!(
        no_fallback
            .route_for("events", "shop.x", "/s")
            .map(|r| r.name()),
        Some("orders")
    );
    assert!(
        no_fallback.route_for("events", "bank.x", "/s").is_none(),
        "a no-route dead letter"
    );
}

#[test]
fn the_default_pipeline_appends_everything_to_events() {
    let pipeline = Pipeline::default();
    let route = pipeline.route_for("any", "any.type", "/any").unwrap();
    assert_eq!(route.name(), "events");
    assert_eq!(route.table().to_string(), "events");
    assert_eq!(route.mode(), Mode::Append);
    assert!(route.uses_builtin_table());
    assert_eq!(route.key(), ["source", "id"]);
    assert_eq!(pipeline.routes().len(), 1);
}

#[test]
fn append_keys_by_the_event_identity_columns_unless_told() {
    let columns =
        "src = { type = \"text\", from = \"/source\" }\neid = { type = \"text\", from = \"/id\" }";
    let pipeline = parse(&with("type = \"a\"\ntable = \"t\"", columns));
    assert_eq!(pipeline.routes()[0].key(), ["src", "eid"]);
    let kept = parse(&with("type = \"a\"\ntable = \"t\"\nkey = []", ID));
    assert!(kept.routes()[0].key().is_empty());
    let message = error(&with("type = \"a\"\ntable = \"t\"", ID));
    assert!(
        message.starts_with("pacer.toml:1:1: route \"orders\": missing key \"key\"; "),
        "{message}"
    );
}

#[test]
fn column_types_parse_case_insensitively_with_aliases() {
    let parse = |text: &str| text.parse::<ColumnType>();
    assert_eq!(
        parse("Double  Precision"),
        Ok(ColumnType::Scalar(ScalarType::DoublePrecision))
    );
    assert_eq!(
        parse("float8"),
        Ok(ColumnType::Scalar(ScalarType::DoublePrecision))
    );
    assert_eq!(parse("INT8[]"), Ok(ColumnType::Array(ScalarType::BigInt)));
    assert_eq!(parse("bool"), Ok(ColumnType::Scalar(ScalarType::Boolean)));
    assert!(parse("jsonb[]").is_err());
    assert!(parse("money").is_err());
}
