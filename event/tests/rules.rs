//! The parsing and validation rules, one case each.

use pacer_event::{BodyFormat, Problem, parse_batch, parse_body, parse_ndjson, parse_one};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-01-02 03:04:05 UTC);

fn ok(json: &str) -> pacer_event::CloudEvent {
    parse_one(json.as_bytes(), NOW).expect("valid event")
}

fn err(json: &str) -> pacer_event::EventError {
    parse_one(json.as_bytes(), NOW).expect_err("invalid event")
}

#[test]
fn a_minimal_event_gets_the_receive_time() {
    let e = ok(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#);
    assert_eq!(
        (e.id.as_str(), e.source.as_str(), e.ty.as_str()),
        ("1", "/s", "t")
    );
    assert_eq!(e.time, NOW);
    assert!(e.data.is_none());
}

#[test]
fn data_is_kept_as_exact_text_and_round_trips() {
    let json = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2020-01-01T00:00:00.5+02:00","subject":"sub","datacontenttype":"application/json","dataschema":"https://x/y","partitionkey":"k","n":7,"flag":true,"data":{"big":123456789012345678901234567890,"z":1,"a":[1.50,"é"]}}"#;
    let e = ok(json);
    assert_eq!(
        e.data.as_ref().unwrap().get(),
        r#"{"big":123456789012345678901234567890,"z":1,"a":[1.50,"é"]}"#
    );
    assert_eq!(e.partition_key(), Some("k"));
    assert_eq!(e.time, datetime!(2020-01-01 00:00:00.5 +02:00));
    let again = ok(std::str::from_utf8(&e.to_json().unwrap()).unwrap());
    assert_eq!(again.to_json().unwrap(), e.to_json().unwrap());
    assert_eq!(again.extensions.len(), 3);
}

#[test]
fn subject_is_the_key_when_there_is_no_partitionkey() {
    let e = ok(r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"sub"}"#);
    assert_eq!(e.partition_key(), Some("sub"));
}

#[test]
fn each_missing_required_attribute_is_named() {
    for missing in ["specversion", "id", "source", "type"] {
        let mut object = serde_json::json!({"specversion":"1.0","id":"1","source":"/s","type":"t"});
        object.as_object_mut().unwrap().remove(missing);
        let e = err(&object.to_string());
        assert_eq!(e.problem, Problem::Missing { attribute: missing });
        assert!(e.to_string().contains(missing), "{e}");
    }
}

#[test]
fn wrong_types_are_named() {
    let cases = [
        (
            r#"{"specversion":1.0,"id":"1","source":"/s","type":"t"}"#,
            "specversion",
        ),
        (
            r#"{"specversion":"1.0","id":5,"source":"/s","type":"t"}"#,
            "id",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":["/s"],"type":"t"}"#,
            "source",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":true}"#,
            "type",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":3}"#,
            "time",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":{}}"#,
            "subject",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":{"a":1}}"#,
            "ext",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","partitionkey":3}"#,
            "partitionkey",
        ),
    ];
    for (json, attribute) in cases {
        let e = err(json);
        assert!(
            matches!(e.problem, Problem::WrongType { .. }),
            "{json}: {e}"
        );
        assert_eq!(e.attribute(), Some(attribute), "{json}");
        assert!(!e.is_syntax());
    }
}

#[test]
fn invalid_values_are_named() {
    let cases = [
        (
            r#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#,
            "specversion",
        ),
        (
            r#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#,
            "id",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"yesterday"}"#,
            "time",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"0000-06-01T00:00:00Z"}"#,
            "time",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","Bad_Name":"x"}"#,
            "Bad_Name",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"\u0000"}"#,
            "data",
        ),
        (
            r#"{"specversion":"1.0","id":"a\u0000","source":"/s","type":"t"}"#,
            "id",
        ),
        (
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}"#,
            "data_base64",
        ),
    ];
    for (json, attribute) in cases {
        let e = err(json);
        assert!(matches!(e.problem, Problem::Invalid { .. }), "{json}: {e}");
        assert_eq!(e.attribute(), Some(attribute), "{json}");
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    let e = err("{\n  \"id\": \"1\",\n  oops\n}");
    match e.problem {
        Problem::Syntax { line, column, .. } => assert_eq!((line, column), (3, 3)),
        other => panic!("{other:?}"),
    }
    assert!(e.is_syntax());
    assert!(err("[1,2]").problem == Problem::NotAnObject);
    assert!(
        parse_one(b"{\"id\":\"\xff\"}", NOW)
            .unwrap_err()
            .is_syntax()
    );
    let deep = format!(
        "{{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data\":{}1{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    let e = err(&deep);
    assert_eq!(e.attribute(), Some("data"), "{e}");
    assert!(e.to_string().contains("nested deeper"), "{e}");
    let fine = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":"[[[[{{{"}}"#;
    assert!(parse_one(fine.as_bytes(), NOW).is_ok());
}

#[test]
fn a_batch_names_the_index_of_the_bad_event() {
    let good = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
    let body =
        format!("[{good},{good},{{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}}]");
    let e = parse_batch(body.as_bytes(), NOW).unwrap_err();
    assert_eq!(e.index, Some(2));
    assert_eq!(e.attribute(), Some("id"));

    let body = format!("[{good},\n{good},\n{{\"id\": ]");
    let e = parse_batch(body.as_bytes(), NOW).unwrap_err();
    assert_eq!(e.index, Some(2));
    assert!(matches!(e.problem, Problem::Syntax { line: 3, .. }), "{e}");

    assert_eq!(
        parse_batch(b"[]", NOW).unwrap_err().problem,
        Problem::EmptyBatch
    );
    assert_eq!(
        parse_batch(format!("[{good},{good}]").as_bytes(), NOW)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn ndjson_names_line_and_index() {
    let good = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
    let body = format!("{good}\n\n{good}\n{{\"specversion\":\"1.0\",\n");
    let e = parse_ndjson(body.as_bytes(), NOW).unwrap_err();
    assert_eq!(e.index, Some(2));
    assert!(matches!(e.problem, Problem::Syntax { line: 4, .. }), "{e}");
    assert_eq!(
        parse_ndjson(format!("{good}\r\n{good}\r\n").as_bytes(), NOW)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        parse_ndjson(b"\n \n", NOW).unwrap_err().problem,
        Problem::EmptyBatch
    );
}

#[test]
fn content_types_choose_the_format() {
    assert_eq!(
        BodyFormat::from_content_type("application/cloudevents+json; charset=utf-8"),
        Some(BodyFormat::Single)
    );
    assert_eq!(
        BodyFormat::from_content_type("Application/JSON"),
        Some(BodyFormat::Single)
    );
    assert_eq!(
        BodyFormat::from_content_type("application/cloudevents-batch+json"),
        Some(BodyFormat::Batch)
    );
    assert_eq!(
        BodyFormat::from_content_type("application/x-ndjson"),
        Some(BodyFormat::Ndjson)
    );
    assert_eq!(BodyFormat::from_content_type("text/plain"), None);
    let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
    assert_eq!(parse_body(BodyFormat::Single, body, NOW).unwrap().len(), 1);
}

#[test]
fn values_postgresql_cannot_store_are_refused_up_front() {
    let with = |extra: &str| {
        format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t",{extra}}}"#)
    };
    let refused = [
        (with(r#""time":"9999-12-31T23:30:00-01:00""#), "time"),
        (with(r#""time":"0000-12-31T23:30:00Z""#), "time"),
        (with(r#""data":1e200000"#), "data"),
        (with(r#""data":{"n":-2E+1001}"#), "data"),
        (with(&format!(r#""data":[{}]"#, "9".repeat(1001))), "data"),
        (with(&format!(r#""data":0.{}"#, "1".repeat(1001))), "data"),
        (
            format!(
                r#"{{"specversion":"1.0","id":"{}","source":"/s","type":"t"}}"#,
                "i".repeat(1025)
            ),
            "id",
        ),
        (
            format!(
                r#"{{"specversion":"1.0","id":"1","source":"{}","type":"t"}}"#,
                "s".repeat(1025)
            ),
            "source",
        ),
        (
            with(&format!(
                r#""data":{}1{}"#,
                "[".repeat(101),
                "]".repeat(101)
            )),
            "data",
        ),
    ];
    for (json, attribute) in &refused {
        let e = err(json);
        assert_eq!(
            e.attribute(),
            Some(*attribute),
            "{}: {e}",
            &json[..json.len().min(80)]
        );
        assert!(!e.is_syntax());
    }
    let accepted = [
        with(r#""time":"9999-12-31T22:30:00-01:00""#),
        with(r#""data":[1.5e-300, -0.0, 1E+308, 123456789012345678901234567890, {"e":"1e99999"}]"#),
        with(&format!(
            r#""data":{}"\u00e9"{}"#,
            "[".repeat(100),
            "]".repeat(100)
        )),
        format!(
            r#"{{"specversion":"1.0","id":"{}","source":"/s","type":"t"}}"#,
            "i".repeat(1024)
        ),
    ];
    for json in &accepted {
        assert!(
            parse_one(json.as_bytes(), NOW).is_ok(),
            "{}",
            &json[..json.len().min(80)]
        );
    }
}
