//! A corpus of hostile requests against a `pacer ingest` process (with the real broker): deep nesting,
//! numbers out of range, the wrong type for every attribute, a batch of 100,000 events, huge strings. Each
//! gets its documented status and a JSON error, the process stays up and keeps serving, and its memory stays
//! bounded. (Malformed JSON, invalid UTF-8, an empty batch and the rest are in `bad_input.rs`; slow bodies in
//! `slow_clients.rs`.)

use crate::common::{self, Stack, event, eventually};
use serde_json::{Value, json};
use std::time::Duration;

/// Resident memory of a process, in MB, from /proc.
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// One request over a connection of its own, written by hand: a server may answer (413) and close before a
/// large body is all sent, which an HTTP client reports as a write error rather than the answer.
async fn post(addr: std::net::SocketAddr, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await; // the server may stop reading once it has refused the body
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// One request: what it is, its content type and body, the status it must get, the attribute it must name.
type Case = (String, &'static str, Vec<u8>, u16, Option<&'static str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_corpus_gets_documented_answers_and_ingest_stays_up_and_small() {
    let stack = Stack::start(1).await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"));
    command
        .args([
            "ingest",
            "--brokers",
            &stack.brokers(),
            "--topic",
            common::TOPIC,
        ])
        .args(["--listen", "127.0.0.1:0"]);
    let (mut ingest, addresses) =
        common::spawn_listening(command, &[common::INGEST_LISTENING]).await;
    let pid = ingest.id().unwrap();
    let addr = addresses[0];
    let url = format!("http://{addr}/v1/events");
    let client = reqwest::Client::new();
    // Ready once a good event is accepted.
    eventually(
        "ingest to accept an event",
        Duration::from_secs(30),
        async || {
            let body = serde_json::to_vec(&event("warm", 0)).unwrap();
            match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status() == 202 => Ok(()),
                Ok(r) => Err(format!("it answered {}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    let rss_before = rss_mb(pid);

    let single = "application/json";
    let batch = "application/cloudevents-batch+json";
    let base = || json!({"specversion": "1.0", "id": "x", "source": "/s", "type": "t"});
    let mut cases: Vec<Case> = Vec::new();

    // Nesting far deeper than any parser should follow.
    for depth in [200, 10_000, 1_000_000] {
        let body = format!(
            r#"{{"specversion":"1.0","id":"x","source":"/s","type":"t","data":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Refused by the validator, naming `data` (the body limit is 4 MiB; 2 MB of brackets is within it).
        cases.push((
            format!("data nested {depth} deep"),
            single,
            body.into_bytes(),
            422,
            Some("data"),
        ));
    }
    // Numbers JSON allows but no attribute can hold.
    cases.push((
        "a number out of range".into(),
        single,
        br#"{"specversion":"1.0","id":1e400,"source":"/s","type":"t"}"#.to_vec(),
        422,
        Some("id"),
    ));
    // The wrong type for every attribute.
    let wrong: [(&str, Value); 4] = [
        ("number", json!(7)),
        ("boolean", json!(true)),
        ("array", json!(["a"])),
        ("object", json!({"a": 1})),
    ];
    for attribute in [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "dataschema",
    ] {
        for (kind, value) in &wrong {
            let mut e = base();
            e[attribute] = value.clone();
            cases.push((
                format!("{attribute} as a {kind}"),
                single,
                serde_json::to_vec(&e).unwrap(),
                422,
                Some(attribute),
            ));
        }
    }
    // 100,000 events in one batch: past the body limit, refused whole.
    let many: Vec<Value> = (0..100_000).map(|i| event(&format!("m{i}"), i)).collect();
    cases.push((
        "a batch of 100,000 events".into(),
        batch,
        serde_json::to_vec(&many).unwrap(),
        413,
        None,
    ));
    // Strings: one the broker takes; one within the body limit but larger than the broker takes (413 naming
    // the event, not a retryable 503); one past the body limit.
    for (size, status) in [
        (512 * 1024, 202),
        (3 * 1024 * 1024, 413),
        (8 * 1024 * 1024, 413),
    ] {
        let mut e = base();
        e["data"] = json!("x".repeat(size));
        cases.push((
            format!("a {} KiB string", size / 1024),
            single,
            serde_json::to_vec(&e).unwrap(),
            status,
            None,
        ));
    }

    let mut wrong_answers = Vec::new();
    for (what, content_type, body, status, attribute) in cases {
        let (got, error) = post(addr, content_type, body).await;
        let message = error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let named = error["error"]["attribute"].as_str();
        let accepted = status == 202 && error["accepted"] == 1;
        if got != status
            || (!accepted && message.is_empty())
            || attribute.is_some_and(|a| named != Some(a))
        {
            wrong_answers.push(format!(
                "{what}: got {got} {error}, expected {status}{}",
                attribute
                    .map(|a| format!(" naming {a}"))
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        wrong_answers.is_empty(),
        "answers that differ from the documented ones:\n{}",
        wrong_answers.join("\n")
    );

    // Still up, still serving.
    assert!(ingest.try_wait().unwrap().is_none(), "ingest exited");
    let (status, _) = post(
        addr,
        single,
        serde_json::to_vec(&event("after", 1)).unwrap(),
    )
    .await;
    assert_eq!(status, 202);
    // Memory bounded: the corpus held tens of MB in flight, one request at a time; what is left is small.
    let rss_after = rss_mb(pid);
    assert!(
        rss_after < rss_before + 64.0,
        "ingest grew from {rss_before:.0} MB to {rss_after:.0} MB"
    );
    ingest.kill().await.unwrap();
}
