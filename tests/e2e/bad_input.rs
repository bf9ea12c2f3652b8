//! Every kind of bad request gets its status and a JSON error naming what is wrong, and nothing of a rejected
//! request reaches the topic. With the broker down, ingest answers 503 with Retry-After.

use crate::common::{Stack, event, eventually};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value, Option<String>) {
    let mut request = client.post(url).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        retry_after,
    )
}

/// A request with a large body written by hand: chunked (no Content-Length, so the limit applies while
/// reading) or with a declared Content-Length and no body at all (refused before reading). Returns the answer.
async fn post_large(addr: std::net::SocketAddr, body_len: usize, chunked: bool) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {body_len}")
    };
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    if chunked {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&frame).await.is_err() {
                break; // the server may close as soon as it has refused the body
            }
            sent += chunk.len();
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_errors_and_produce_nothing() {
    let mut stack = Stack::start(2).await;
    let ingest = stack.start_ingest().await;
    let client = reqwest::Client::new();
    let url = ingest.url();
    let good = event("g1", 1).to_string();

    /// One bad request and what the answer must say.
    struct Case {
        what: &'static str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        status: u16,
        code: &'static str,
        attribute: Option<&'static str>,
        index: Option<u64>,
        line_column: Option<(u64, u64)>,
    }
    let case = |what, content_type, body: &[u8], status, code| Case {
        what,
        content_type,
        body: body.to_vec(),
        status,
        code,
        attribute: None,
        index: None,
        line_column: None,
    };
    let single = Some("application/json");
    let batch = Some("application/cloudevents-batch+json");
    let cases = [
        case("wrong content type", Some("text/plain"), good.as_bytes(), 415, "unsupported_media_type"),
        case("no content type", None, good.as_bytes(), 415, "unsupported_media_type"),
        Case {
            line_column: Some((3, 2)),
            ..case("malformed JSON", single, b"{\n\"id\": \"1\",\n oops}", 400, "malformed_json")
        },
        Case {
            index: Some(2),
            ..case("malformed JSON in a batch", batch, format!("[{good},{good},{{\"id\": ]").as_bytes(), 400, "malformed_json")
        },
        case("invalid UTF-8", single, b"{\"id\":\"\xff\"}", 400, "malformed_json"),
        case("not an object", single, b"[1, 2]", 422, "not_an_object"),
        Case {
            attribute: Some("id"),
            ..case("missing id", single, br#"{"specversion":"1.0","source":"/s","type":"t"}"#, 422, "missing_attribute")
        },
        Case {
            attribute: Some("source"),
            index: Some(1),
            ..case(
                "wrong type in a batch, after a valid event",
                batch,
                serde_json::json!([event("g2", 2), {"specversion":"1.0","id":"x","source":5,"type":"t"}]).to_string().as_bytes(),
                422,
                "wrong_type",
            )
        },
        Case {
            attribute: Some("specversion"),
            ..case("wrong spec version", single, br#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#, 422, "invalid_attribute")
        },
        Case {
            attribute: Some("time"),
            ..case("bad time", single, br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"noon"}"#, 422, "invalid_attribute")
        },
        case("empty batch", batch, b"[]", 422, "empty_batch"),
        Case {
            attribute: Some("type"),
            index: Some(2),
            ..case(
                "NDJSON with a bad third line",
                Some("application/x-ndjson"),
                format!("{good}\n{good}\n{{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"}}\n").as_bytes(),
                422,
                "missing_attribute",
            )
        },
    ];
    for c in cases {
        let (status, body, _) = post(&client, &url, c.content_type, c.body).await;
        let error = &body["error"];
        assert_eq!(
            (status, error["code"].as_str()),
            (c.status, Some(c.code)),
            "{}: {body}",
            c.what
        );
        assert!(
            !error["message"].as_str().unwrap_or("").is_empty(),
            "{}: no message",
            c.what
        );
        assert_eq!(
            error["attribute"].as_str(),
            c.attribute,
            "{}: {body}",
            c.what
        );
        assert_eq!(error["index"].as_u64(), c.index, "{}: {body}", c.what);
        if let Some((line, column)) = c.line_column {
            assert_eq!(
                (error["line"].as_u64(), error["column"].as_u64()),
                (Some(line), Some(column)),
                "{}: {body}",
                c.what
            );
        }
        if let Some(attribute) = c.attribute {
            assert!(
                error["message"].as_str().unwrap().contains(attribute),
                "{}: {body}",
                c.what
            );
        }
    }

    // 413: over the limit (1 MiB here), declared or streamed.
    let answer = post_large(ingest.addr, 2 * 1024 * 1024, false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    let answer = post_large(ingest.addr, 2 * 1024 * 1024, true).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    assert_eq!(
        stack.topic_records(),
        0,
        "a rejected request reached the topic"
    );

    // A good request is produced.
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/cloudevents+json"),
        good.clone(),
    )
    .await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (202, Some(1)),
        "{body}"
    );
    assert_eq!(stack.topic_records(), 1);

    // Broker down: 503 with Retry-After, and /readyz says so.
    stack.broker.kill().await.unwrap();
    let ready_url = format!("http://{}/readyz", ingest.addr);
    eventually(
        "readyz to say the broker is down",
        Duration::from_secs(20),
        async || {
            if client.get(&ready_url).send().await.unwrap().status() == 200 {
                Err("readyz still 200 with the broker down")
            } else {
                Ok(())
            }
        },
    )
    .await;
    let (status, body, retry_after) = post(&client, &url, Some("application/json"), good).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("broker_unavailable")),
        "{body}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    let health = client
        .get(format!("http://{}/healthz", ingest.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    ingest.stop().await;
}
