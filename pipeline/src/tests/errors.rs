//! Each mistake is one error at the right `file:line:column`, naming the route, the column and the key.

use super::{ID, error, with};
use crate::Pipeline;

#[test]
fn an_unknown_column_type_names_line_column_and_the_choices() {
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = [\"order_id\"]",
        "order_id = { type = \"money\", from = \"/data/id\" }",
    ));
    assert!(
        message.starts_with("pacer.toml:7:21: route \"orders\", column \"order_id\": unknown type \"money\"; expected one of text, integer, bigint"),
        "{message}"
    );
}

#[test]
fn an_unknown_key_is_an_error_where_it_is() {
    let message = error(&with("type = \"a\"\ntable = \"t\"\ncolour = \"red\"", ID));
    assert!(
        message.starts_with("pacer.toml:5:1: route: unknown field `colour`, expected one of"),
        "{message}"
    );
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = []",
        "id = { type = \"uuid\", from = \"/id\", null = true }",
    ));
    assert!(message.starts_with("pacer.toml:7:"), "{message}");
    assert!(message.contains("unknown field `null`"), "{message}");
}

#[test]
fn a_missing_table_names_the_route() {
    let message = error(&with("type = \"a\"", ID));
    assert!(
        message.starts_with("pacer.toml:1:1: route \"orders\": missing key \"table\"; expected"),
        "{message}"
    );
}

#[test]
fn key_columns_must_be_declared_and_not_nullable() {
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = [\"order_id\", \"sku\"]",
        ID,
    ));
    assert!(
        message.starts_with("pacer.toml:5:20: route \"orders\": key: column \"sku\" is not declared in [route.columns]; expected one of order_id"),
        "{message}"
    );
    let nullable = "order_id = { type = \"uuid\", from = \"/data/id\", nullable = true }";
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = [\"order_id\"]",
        nullable,
    ));
    assert!(
        message.starts_with("pacer.toml:7:59: route \"orders\", column \"order_id\": a key column cannot be nullable"),
        "{message}"
    );
}

#[test]
fn order_is_only_for_upsert_and_must_be_declared() {
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = [\"order_id\"]\norder = \"order_id\"",
        ID,
    ));
    assert!(
        message.starts_with("pacer.toml:6:9: route \"orders\": order: only for mode = \"upsert\" or \"delete\"; this route's mode is append"),
        "{message}"
    );
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nmode = \"upsert\"\nkey = [\"order_id\"]\norder = \"at\"",
        ID,
    ));
    assert!(
        message
            .starts_with("pacer.toml:7:9: route \"orders\": order: column \"at\" is not declared"),
        "{message}"
    );
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = []\ndelete_types = [\"x\"]",
        ID,
    ));
    assert!(
        message.starts_with(
            "pacer.toml:6:16: route \"orders\": delete_types: only for mode = \"delete\""
        ),
        "{message}"
    );
}

#[test]
fn upsert_and_delete_need_an_order_column_that_is_not_nullable() {
    for mode in ["upsert", "delete"] {
        let message = error(&with(
            &format!("type = \"a\"\ntable = \"t\"\nmode = \"{mode}\"\nkey = [\"order_id\"]"),
            ID,
        ));
        assert!(
            message.starts_with(&format!("pacer.toml:5:8: route \"orders\": mode: {mode} needs a column that orders versions of a row (the later wins); declare a column from /time or name one in order")),
            "{message}"
        );
    }
    let at = "at = { type = \"timestamptz\", from = \"/time\", nullable = true }";
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nmode = \"delete\"\nkey = [\"order_id\"]",
        &format!("{ID}\n{at}"),
    ));
    assert!(
        message.starts_with(
            "pacer.toml:9:57: route \"orders\", column \"at\": the order column cannot be nullable"
        ),
        "{message}"
    );
    let version = "version = { type = \"bigint\", from = \"/data/v\", nullable = true }";
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nmode = \"upsert\"\nkey = [\"order_id\"]\norder = \"version\"",
        &format!("{ID}\n{version}"),
    ));
    assert!(
        message.starts_with("pacer.toml:10:59: route \"orders\", column \"version\": the order column cannot be nullable"),
        "{message}"
    );
}

#[test]
fn upsert_needs_a_key() {
    let message = error(&with("type = \"a\"\ntable = \"t\"\nmode = \"upsert\"", ID));
    assert!(
        message.starts_with("pacer.toml:5:8: route \"orders\": mode: upsert needs key = [...]"),
        "{message}"
    );
    let message =
        error("[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\nmode = \"upsert\"\n");
    assert!(
        message.starts_with("pacer.toml:5:8: route \"a\": mode: upsert needs declared columns"),
        "{message}"
    );
    let message = error(&with("type = \"a\"\ntable = \"t\"\nmode = \"merge\"", ID));
    assert!(
        message.starts_with(
            "pacer.toml:5:8: route \"orders\": mode: unknown mode \"merge\"; expected one of append"
        ),
        "{message}"
    );
}

#[test]
fn a_bad_glob_names_the_key() {
    let message = error(&with("type = \"shop.[order\"\ntable = \"t\"\nkey = []", ID));
    assert!(
        message.starts_with("pacer.toml:3:8: route \"orders\": type: bad glob \"shop.[order\": "),
        "{message}"
    );
    let message = error(&with("source = \"\"\ntable = \"t\"\nkey = []", ID));
    assert!(
        message.starts_with("pacer.toml:3:10: route \"orders\": source: empty pattern"),
        "{message}"
    );
}

#[test]
fn a_route_must_match_something_unless_it_is_the_fallback() {
    let message = error(&with("table = \"t\"\nkey = []", ID));
    assert!(
        message.starts_with(
            "pacer.toml:2:8: route \"orders\": matches no event; expected at least one of type"
        ),
        "{message}"
    );
}

#[test]
fn route_names_are_unique_and_well_formed() {
    let text = "[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\n\n[[route]]\nname = \"a\"\ntype = \"y\"\ntable = \"u\"\n";
    let message = error(text);
    assert!(
        message.starts_with(
            "pacer.toml:7:8: route \"a\": duplicate route name; the first is on line 2"
        ),
        "{message}"
    );
    let message = error("[[route]]\nname = \"Orders\"\ntype = \"x\"\ntable = \"t\"\n");
    assert!(message.starts_with("pacer.toml:2:8: route #1, name: \"Orders\" is not a route name; expected [a-z][a-z0-9_]*"), "{message}");
}

#[test]
fn the_fallback_must_name_a_route() {
    let text = "[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\n\n[fallback]\nroute = \"everything\"\n";
    let message = error(text);
    assert_eq!(
        message,
        "pacer.toml:7:9: fallback, route: no route is named \"everything\"; expected one of a"
    );
}

#[test]
fn a_toml_syntax_error_names_line_and_column() {
    let message = error("[[route]]\nname = \"a\"\ntype = \"x\ntable = \"t\"\n");
    assert!(message.starts_with("pacer.toml:3:"), "{message}");
    let message = error("[[route]]\nname = \"a\"\ntable = = \"t\"\n");
    assert!(message.starts_with("pacer.toml:3:9: "), "{message}");
}

#[test]
fn names_tables_topics_and_sources_are_checked() {
    let message = error(&with("type = \"a\"\ntable = \"shop.Orders\"\nkey = []", ID));
    assert!(message.starts_with("pacer.toml:4:9: route \"orders\": table: \"Orders\" is not a lowercase PostgreSQL identifier"), "{message}");
    let message = error(&with("topic = \"my topic\"\ntable = \"t\"\nkey = []", ID));
    assert!(
        message.starts_with(
            "pacer.toml:3:9: route \"orders\": topic: \"my topic\" is not a Kafka topic name"
        ),
        "{message}"
    );
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nkey = []",
        "id = { type = \"uuid\", from = \"data/id\" }",
    ));
    assert!(message.starts_with("pacer.toml:7:30: route \"orders\", column \"id\": from: unknown source \"data/id\"; expected a JSON pointer"), "{message}");
    let message = error("");
    assert!(
        message.starts_with("pacer.toml:1:1: no [[route]]"),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let error = Pipeline::from_file("/nonexistent/pacer.toml").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/pacer.toml: cannot read the pipeline file: "),
        "{error}"
    );
    assert!(error.location().is_none());
}

#[test]
fn shape_errors_name_the_keys_they_are_under() {
    let route = "[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\n";
    let message = error(&format!("{route}key = \"x\"\n"));
    assert_eq!(
        message,
        "pacer.toml:5:7: route.key: invalid type: string \"x\", expected a sequence"
    );
    let message = error(&format!(
        "{route}[route.columns]\nx = {{ from = \"/id\" }}\n"
    ));
    assert_eq!(
        message,
        "pacer.toml:6:5: route.columns.x: missing field `type`"
    );
    let message = error(&format!("[fallback]\nroute = 3\n{route}"));
    assert_eq!(
        message,
        "pacer.toml:2:9: fallback.route: invalid type: integer `3`, expected a string"
    );
}

#[test]
fn a_missing_key_points_at_its_route() {
    let text = "[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\n\n[[route]]\nname = \"b\"\ntype = \"y\"\n";
    let message = error(text);
    assert!(
        message.starts_with("pacer.toml:6:1: route \"b\": missing key \"table\""),
        "{message}"
    );
    let message =
        error("[[route]]\nname = \"a\"\ntype = \"x\"\ntable = \"t\"\n\n[[route]]\ntype = \"y\"\n");
    assert!(
        message.starts_with("pacer.toml:6:1: route #2: missing key \"name\""),
        "{message}"
    );
}

#[test]
fn a_key_on_the_built_in_table_and_a_defaulted_order_column_are_refused() {
    let message = error("[[route]]\nname = \"all\"\ntype = \"a\"\ntable = \"events\"\nkey = []\n");
    assert!(
        message.starts_with("pacer.toml:5:7: route \"all\": key: a route without columns"),
        "{message}"
    );
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nmode = \"upsert\"\nkey = [\"id\"]",
        "id = { type = \"text\", from = \"/id\" }\nat = { type = \"timestamptz\", from = \"/time\", default = \"now()\" }",
    ));
    assert!(
        message.contains("the order column cannot have a default"),
        "{message}"
    );
}

#[test]
fn an_order_column_in_the_key_is_refused() {
    let message = error(&with(
        "type = \"a\"\ntable = \"t\"\nmode = \"delete\"\nkey = [\"id\", \"at\"]",
        "id = { type = \"text\", from = \"/id\" }\nat = { type = \"timestamptz\", from = \"/time\" }",
    ));
    assert!(
        message.contains("order: column \"at\" is in the key"),
        "{message}"
    );
}
