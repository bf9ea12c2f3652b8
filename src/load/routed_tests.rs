//! Tests of the routed load through its public API: every event goes to the route it was made for, holds a
//! value of the right shape at every column's pointer and passes ingest's checks; keys repeat for upsert
//! and delete; unreachable routes are skipped with a reason; the shop example loads.

use super::routed::{KEY_POOL, Unreachable};
use super::{Events, RoutedLoad, generic_event};
use pacer_pipeline::{ColumnSource, ColumnType, Mode, Pipeline, ScalarType};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

const TOPIC: &str = "events";

/// Every type, nested and escaped pointers, extensions, a delete route ahead of the upsert it shares a
/// table with, a route shadowed by an earlier one, one on another topic, a plain JSON route, and a
/// fallback.
const PIPELINE: &str = r#"
[[route]]
name = "kinds"
type = "test.kind[s].*"
source = "/test/[!a-m]?"
table = "t.kinds"
key = []

[route.columns]
t_text = { type = "text", from = "/data/text" }
t_int = { type = "int", from = "/data/numbers/int" }
t_big = { type = "bigint", from = "/data/numbers/big" }
t_num = { type = "numeric", from = "/data/numbers/num" }
t_f8 = { type = "float8", from = "/data/numbers/f8" }
t_bool = { type = "bool", from = "/data/flag" }
t_time = { type = "timestamptz", from = "/data/at" }
t_date = { type = "date", from = "/data/on" }
t_uuid = { type = "uuid", from = "/data/a~1b" }
t_json = { type = "jsonb", from = "/data/doc" }
t_inner = { type = "text", from = "/data/doc/inner" }
t_tags = { type = "text[]", from = "/data/x~0y" }
t_ids = { type = "uuid[]", from = "/data/ids" }
t_tenant = { type = "text", from = "/tenant" }
t_count = { type = "bigint", from = "/count" }
t_subject = { type = "text", from = "/subject" }
t_partition = { type = "integer", from = "kafka.partition" }
t_event_time = { type = "timestamptz", from = "/time" }

[[route]]
name = "gone"
type = "test.item.removed"
table = "t.items"
mode = "delete"
key = ["item_id", "region"]
delete_types = ["test.item.removed"]

[route.columns]
item_id = { type = "uuid", from = "/data/item/id" }
region = { type = "text", from = "/region" }
at = { type = "timestamptz", from = "/time" }

[[route]]
name = "items"
type = "test.item.*"
table = "t.items"
mode = "upsert"
key = ["item_id", "region"]
order = "version"

[route.columns]
item_id = { type = "uuid", from = "/data/item/id" }
region = { type = "text", from = "/region" }
version = { type = "bigint", from = "/data/version" }
price = { type = "numeric", from = "/data/price" }

[[route]]
name = "shadowed"
type = "test.item.created"
table = "t.shadowed"
key = []

[route.columns]
note = { type = "text", from = "/data/note" }

[[route]]
name = "elsewhere"
topic = "other"
table = "t.elsewhere"
key = []

[route.columns]
note = { type = "text", from = "/data/note" }

[[route]]
name = "clicks"
topic = "clicks"
format = "json"
table = "t.clicks"
key = []

[route.columns]
url = { type = "text", from = "/data/url" }

[[route]]
name = "rest"
table = "events"

[fallback]
route = "rest"
"#;

fn pipeline(text: &str) -> Pipeline {
    match Pipeline::parse(text, "pacer.toml") {
        Ok(pipeline) => pipeline,
        Err(error) => panic!("{error}"),
    }
}

fn load(pipeline: &Pipeline) -> RoutedLoad {
    match RoutedLoad::new(pipeline, TOPIC) {
        Ok(load) => load,
        Err(error) => panic!("{error}"),
    }
}

fn start() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)
}

fn text<'v>(event: &'v Value, pointer: &str) -> &'v str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Makes `count` events and checks each against its route: routed there, accepted by ingest's rules,
/// and a value of the column's shape at every pointer. Returns them with their route.
fn check_events(pipeline: &Pipeline, count: u64) -> Vec<(String, Value)> {
    let load = load(pipeline);
    let mut out = Vec::new();
    for seq in 0..count {
        let time = start() + time::Duration::milliseconds(seq as i64);
        let generated = load.event("run1", seq, time);
        let event = generated.event;
        let (event_type, source) = (text(&event, "/type"), text(&event, "/source"));
        let chosen = pipeline.route_for(TOPIC, event_type, source);
        assert_eq!(chosen.map(|r| r.name()), Some(generated.route), "{event}");
        let Some(route) = chosen else { continue };
        if let Err(error) = pacer_event::parse_one(event.to_string().as_bytes(), time) {
            panic!("ingest refuses {event}: {error}");
        }
        if let Err(violation) = route.check_data(event.get("data")) {
            panic!("{violation}, in {event}");
        }
        assert!(
            route.mode() != Mode::Delete || route.deletes(event_type),
            "{event}"
        );
        for column in route.columns() {
            let ColumnSource::Pointer(pointer) = column.source() else {
                continue;
            };
            let value = event.pointer(pointer);
            assert!(
                value.is_some_and(|value| fits(value, column.column_type())),
                "route {}, column {}: {pointer} is {value:?} in {event}",
                route.name(),
                column.name()
            );
        }
        out.push((generated.route.to_owned(), event));
    }
    out
}

/// Whether `value` is what a column of `column_type` takes.
fn fits(value: &Value, column_type: ColumnType) -> bool {
    match column_type {
        ColumnType::Scalar(scalar) => fits_scalar(value, scalar),
        ColumnType::Array(scalar) => value.as_array().is_some_and(|items| {
            (1..=3).contains(&items.len()) && items.iter().all(|item| fits_scalar(item, scalar))
        }),
    }
}

fn fits_scalar(value: &Value, scalar: ScalarType) -> bool {
    match scalar {
        ScalarType::Text => value.as_str().is_some_and(|text| !text.is_empty()),
        ScalarType::Integer => value
            .as_i64()
            .is_some_and(|n| n > 0 && i32::try_from(n).is_ok()),
        ScalarType::BigInt => value.as_i64().is_some_and(|n| n > 0),
        ScalarType::Numeric => value.as_f64().is_some_and(|n| n > 0.0),
        ScalarType::DoublePrecision => value.as_f64().is_some_and(f64::is_finite),
        ScalarType::Boolean => value.is_boolean(),
        ScalarType::Timestamptz => value
            .as_str()
            .is_some_and(|text| OffsetDateTime::parse(text, &Rfc3339).is_ok()),
        ScalarType::Date => value.as_str().is_some_and(|text| {
            text.len() == 10 && time::Date::parse(text, &Iso8601::DATE).is_ok()
        }),
        ScalarType::Uuid => value.as_str().is_some_and(is_uuid),
        ScalarType::Jsonb => value.is_object(),
    }
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

#[test]
fn every_event_reaches_its_route_with_a_value_at_every_pointer() {
    let pipeline = pipeline(PIPELINE);
    let events = check_events(&pipeline, 400);
    let mut per_route: BTreeMap<&str, usize> = BTreeMap::new();
    for (route, _) in &events {
        *per_route.entry(route.as_str()).or_default() += 1;
    }
    let want: BTreeMap<&str, usize> =
        [("gone", 100), ("items", 100), ("kinds", 100), ("rest", 100)]
            .into_iter()
            .collect();
    assert_eq!(per_route, want, "round robin over the reachable routes");
    let kinds = events
        .iter()
        .find(|(route, _)| route == "kinds")
        .map(|(_, event)| event.clone())
        .unwrap_or_default();
    assert_eq!(text(&kinds, "/type"), "test.kinds.created");
    assert_eq!(text(&kinds, "/source"), "/test/xx");
    assert!(kinds.pointer("/data/doc/label").is_some(), "{kinds}");
    assert!(kinds.pointer("/data/doc/inner").is_some(), "{kinds}");
    let rest = events
        .iter()
        .find(|(route, _)| route == "rest")
        .map(|(_, event)| event.clone())
        .unwrap_or_default();
    assert_eq!(
        rest,
        generic_event("run1", 3),
        "the fallback gets the generic events"
    );
}

#[test]
fn upserts_and_deletes_share_a_small_pool_of_keys_and_order_grows() {
    let pipeline = pipeline(PIPELINE);
    let events = check_events(&pipeline, 2_000);
    let key = |event: &Value| {
        (
            text(event, "/data/item/id").to_owned(),
            text(event, "/region").to_owned(),
        )
    };
    let keys_of = |name: &str| -> BTreeSet<(String, String)> {
        events
            .iter()
            .filter(|(route, _)| route == name)
            .map(|(_, event)| key(event))
            .collect()
    };
    let (upserted, deleted) = (keys_of("items"), keys_of("gone"));
    assert!(
        upserted.len() <= KEY_POOL && upserted.len() > KEY_POOL / 2,
        "{}",
        upserted.len()
    );
    assert!(
        deleted.is_subset(&upserted),
        "deletes find rows the upserts wrote"
    );
    let versions: Vec<i64> = events
        .iter()
        .filter(|(route, _)| route == "items")
        .filter_map(|(_, event)| event.pointer("/data/version").and_then(Value::as_i64))
        .collect();
    assert_eq!(versions.len(), 500);
    assert!(
        versions.windows(2).all(|pair| pair[0] < pair[1]),
        "order column grows with time"
    );
    assert!(
        events
            .iter()
            .filter(|(route, _)| route == "gone")
            .all(|(_, event)| text(event, "/type") == "test.item.removed")
    );
}

#[test]
fn the_same_arguments_make_the_same_event() {
    let pipeline = pipeline(PIPELINE);
    let load = load(&pipeline);
    assert_eq!(load.event("r", 5, start()), load.event("r", 5, start()));
    assert_ne!(load.event("r", 5, start()), load.event("q", 5, start()));
    let events = Events::Routed(std::sync::Arc::new(load));
    assert_eq!(
        events.event("r", 0, start())["time"],
        "2024-10-04T00:00:00Z"
    );
    assert_eq!(
        Events::Generic.event("r", 5, start()),
        generic_event("r", 5)
    );
}

#[test]
fn routes_no_event_can_reach_are_skipped_with_the_reason() {
    let pipeline = pipeline(PIPELINE);
    let load = load(&pipeline);
    let routes: Vec<&str> = load.routes().collect();
    assert_eq!(routes, ["kinds", "gone", "items", "rest"]);
    let skipped: Vec<(&str, &str)> = load
        .skipped()
        .iter()
        .map(|skipped| (skipped.route.as_str(), skipped.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "shadowed",
                "the events made for it (such as type \"test.item.created\", source \"/pacer/load\") are taken by route \"items\" first"
            ),
            (
                "elsewhere",
                "it reads topic \"other\", and the load's events go to \"events\""
            ),
            (
                "clicks",
                "its records are plain JSON on topic \"clicks\", and the load posts CloudEvents to ingest"
            ),
        ]
    );
}

#[test]
fn a_pipeline_the_load_cannot_reach_is_refused_naming_each_route() {
    let pipeline = pipeline(
        "[[route]]\nname = \"a\"\ntopic = \"other\"\ntable = \"events\"\n\n\
         [[route]]\nname = \"b\"\ntype = \"x.*\"\ntopic = \"other\"\ntable = \"events\"\n",
    );
    let error = RoutedLoad::new(&pipeline, TOPIC)
        .err()
        .map(|e: Unreachable| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some(
            "no route of the pipeline can be reached by the load: route \"a\": it reads topic \"other\", and the load's events go to \"events\"; route \"b\": it reads topic \"other\", and the load's events go to \"events\""
        )
    );
}

#[test]
fn the_shop_example_loads_and_every_route_gets_events() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shop/pacer.toml");
    let pipeline = match Pipeline::from_file(path) {
        Ok(pipeline) => pipeline,
        Err(error) => panic!("{error}"),
    };
    let load = load(&pipeline);
    assert!(load.skipped().is_empty(), "{:?}", load.skipped());
    let events = check_events(&pipeline, 400);
    let routes: BTreeSet<&str> = events.iter().map(|(route, _)| route.as_str()).collect();
    let want: BTreeSet<&str> = ["orders", "customer_deleted", "customers", "events"]
        .into_iter()
        .collect();
    assert_eq!(routes, want);
    for route in pipeline
        .routes()
        .iter()
        .filter(|route| !route.uses_builtin_table())
    {
        assert!(route.has_schema(), "route {} checks its data", route.name());
    }
    // The schemas do refuse what the generator never makes.
    let (_, mut order) = events
        .iter()
        .find(|(route, _)| route == "orders")
        .cloned()
        .unwrap_or_default();
    if let Some(amount) = order.pointer_mut("/data/amount") {
        *amount = Value::from(-1);
    }
    let violation = pipeline
        .route("orders")
        .map(|route| route.check_data(order.get("data")));
    let violation = violation.and_then(Result::err);
    let pointer_and_keyword = violation.map(|v| (v.pointer, v.keyword));
    assert_eq!(
        pointer_and_keyword,
        Some(("/data/amount".to_owned(), "exclusiveMinimum".to_owned()))
    );
}
