//! Plain JSON routes (`format = "json"`): their identity keys and defaults, the lookups the worker
//! uses, and where each mistake is reported.

use super::{error, parse};
use crate::{Format, IdFrom, JsonIdentity, SourceFrom};

const CLICKS: &str = r#"[[route]]
name = "orders"
type = "shop.order.*"
table = "orders"
key = []

[route.columns]
id = { type = "text", from = "/id" }

[[route]]
name = "clicks"
topic = "clicks"
format = "json"
id_from = "/click_id"
source_from = "/site"
table = "clicks"
key = []

[route.columns]
url = { type = "text", from = "/data/url" }

[[route]]
name = "views"
topic = "views"
format = "json"
table = "views"
key = []

[route.columns]
url = { type = "text", from = "/data/url" }

[[route]]
name = "rest"
topic = "events"
format = "cloudevents"
table = "events"

[fallback]
route = "rest"
"#;

/// A one-route file of the `clicks` topic with `keys` spliced in at line 3.
fn json_route(keys: &str) -> String {
    format!(
        "[[route]]\nname = \"clicks\"\n{keys}\ntable = \"t\"\nkey = []\n[route.columns]\nurl = {{ type = \"text\", from = \"/data/url\" }}\n"
    )
}

#[test]
fn json_routes_declare_their_identity_with_defaults() {
    let pipeline = parse(CLICKS);
    let format = |index: usize| pipeline.routes()[index].format().clone();
    assert_eq!(format(0), Format::CloudEvents, "the default");
    assert_eq!(
        format(1),
        Format::Json(JsonIdentity {
            id: IdFrom::Pointer("/click_id".into()),
            source: SourceFrom::Pointer("/site".into()),
        })
    );
    assert_eq!(
        format(2),
        Format::Json(JsonIdentity {
            id: IdFrom::KafkaPosition,
            source: SourceFrom::Value("kafka:views".into()),
        })
    );
    assert_eq!(format(3), Format::CloudEvents);
    assert_eq!(IdFrom::kafka_position("views", 2, 17), "views-2-17");

    let pipeline = parse(&json_route(
        "topic = \"clicks\"\nformat = \"json\"\nid_from = \"kafka\"\nsource_value = \"urn:legacy:clicks\"",
    ));
    assert_eq!(
        pipeline.routes()[0].format(),
        &Format::Json(JsonIdentity {
            id: IdFrom::KafkaPosition,
            source: SourceFrom::Value("urn:legacy:clicks".into()),
        })
    );
}

#[test]
fn lookups_by_topic_and_cloud_event() {
    let pipeline = parse(CLICKS);
    assert_eq!(pipeline.json_route_for_topic("clicks"), Some(1));
    assert_eq!(pipeline.json_route_for_topic("views"), Some(2));
    assert_eq!(pipeline.json_route_for_topic("events"), None);
    assert_eq!(pipeline.topics(), ["clicks", "views", "events"]);

    assert_eq!(
        pipeline.route_index("events", "shop.order.x", "/s"),
        Some(0)
    );
    assert_eq!(pipeline.route_index("events", "bank.x", "/s"), Some(3));
    // A json route takes no CloudEvent, even one read from its topic: the fallback does.
    assert!(!pipeline.routes()[1].matches("clicks", "any", "/s"));
    assert_eq!(pipeline.route_index("clicks", "bank.x", "/s"), Some(3));
    assert_eq!(
        pipeline
            .route_for("clicks", "bank.x", "/s")
            .map(|r| r.name()),
        Some("rest")
    );

    let no_fallback = parse(&CLICKS.replace("[fallback]\nroute = \"rest\"\n", ""));
    assert_eq!(no_fallback.route_index("other", "bank.x", "/s"), None);
}

#[test]
fn the_module_doc_example_parses() {
    let doc = include_str!("../lib.rs");
    let start = doc.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
    let end = start + doc[start..].find("//! ```\n").unwrap();
    let example: String = doc[start..end]
        .lines()
        .map(|line| {
            line.strip_prefix("//!")
                .unwrap_or(line)
                .trim_start_matches(' ')
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let pipeline = parse(&example);
    assert_eq!(pipeline.json_route_for_topic("clicks"), Some(1));
    assert_eq!(pipeline.routes()[0].order_column(), Some("event_time"));
}

#[test]
fn json_keys_are_checked_where_they_are() {
    let cases = [
        (
            "format = \"json\"",
            "pacer.toml:3:10: route \"clicks\": format: json needs topic = \"...\", the topic whose records are plain JSON",
        ),
        (
            "topic = \"clicks\"\nformat = \"yaml\"",
            "pacer.toml:4:10: route \"clicks\": format: unknown format \"yaml\"; expected cloudevents or json",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\ntype = \"click\"",
            "pacer.toml:5:8: route \"clicks\": type: not for format = \"json\"; a plain JSON record has no type to match",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\nsource = \"/web\"",
            "pacer.toml:5:10: route \"clicks\": source: not for format = \"json\"",
        ),
        (
            "topic = \"clicks\"\nid_from = \"/id\"",
            "pacer.toml:4:11: route \"clicks\": id_from: only for format = \"json\"; a CloudEvent carries its own id and source",
        ),
        (
            "topic = \"clicks\"\nformat = \"cloudevents\"\nsource_value = \"x\"",
            "pacer.toml:5:16: route \"clicks\": source_value: only for format = \"json\"",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\nsource_from = \"/site\"\nsource_value = \"x\"",
            "pacer.toml:6:16: route \"clicks\": source_value: give source_from or source_value, not both",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\nsource_value = \"\"",
            "pacer.toml:5:16: route \"clicks\": source_value: empty; expected a URI-reference",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\nid_from = \"click_id\"",
            "pacer.toml:5:11: route \"clicks\": id_from: \"click_id\" is not a JSON pointer (it must start with /); expected a JSON pointer into the record such as /click_id, or kafka for the record's position",
        ),
        (
            "topic = \"clicks\"\nformat = \"json\"\nsource_from = \"/a~b\"",
            "pacer.toml:5:15: route \"clicks\": source_from: \"/a~b\" has a bare ~",
        ),
    ];
    for (keys, expected) in cases {
        let message = error(&json_route(keys));
        assert!(message.starts_with(expected), "{keys}:\n{message}");
    }
    let message = error(&json_route(
        "topic = \"clicks\"\nformat = \"json\"\nmode = \"delete\"\ndelete_types = [\"x\"]",
    ));
    assert!(
        message.starts_with(
            "pacer.toml:6:16: route \"clicks\": delete_types: not for format = \"json\""
        ),
        "{message}"
    );
}

#[test]
fn a_json_topic_has_one_route_and_is_not_the_fallback() {
    let second = "\n[[route]]\nname = \"more\"\ntopic = \"clicks\"\ntable = \"u\"\n";
    let message = error(&format!(
        "{}{second}",
        json_route("topic = \"clicks\"\nformat = \"json\"")
    ));
    assert!(
        message.starts_with("pacer.toml:12:9: route \"more\": topic: \"clicks\" is read by route \"clicks\" too (line 1), and route \"clicks\" reads it as plain JSON; a topic of plain JSON has one route"),
        "{message}"
    );
    let message = error(&format!(
        "{}\n[fallback]\nroute = \"clicks\"\n",
        json_route("topic = \"clicks\"\nformat = \"json\"")
    ));
    assert!(
        message.starts_with("pacer.toml:11:9: fallback, route: route \"clicks\" reads plain JSON"),
        "{message}"
    );
}
