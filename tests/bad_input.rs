//! Every kind of bad request gets its status and a JSON error naming what is wrong, and nothing of a rejected
//! request reaches the topic. With the broker down, ingest answers 503 with Retry-After.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::{Stack, event};
use serde_json::{Value, json};
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

    // 415: wrong or missing content type.
    let (status, body, _) = post(&client, &url, Some("text/plain"), good.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text/plain")
    );
    let (status, _, _) = post(&client, &url, None, good.clone()).await;
    assert_eq!(status, 415);

    // 400: malformed JSON, with line and column.
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/json"),
        "{\n\"id\": \"1\",\n oops}",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (
            body["error"]["line"].as_u64(),
            body["error"]["column"].as_u64()
        ),
        (Some(3), Some(2)),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "malformed_json");

    // 400 in a batch: the index of the bad event.
    let batch = format!("[{good},{good},{{\"id\": ]");
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/cloudevents-batch+json"),
        batch,
    )
    .await;
    assert_eq!(
        (status, body["error"]["index"].as_u64()),
        (400, Some(2)),
        "{body}"
    );

    // 400: invalid UTF-8.
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/json"),
        b"{\"id\":\"\xff\"}".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // 422: a missing attribute, named; in a batch, with its index; the valid event before it is not produced.
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/json"),
        r#"{"specversion":"1.0","source":"/s","type":"t"}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["attribute"].as_str()),
        (422, Some("id")),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "missing_attribute");
    let batch =
        json!([event("g2", 2), {"specversion":"1.0","id":"x","source":5,"type":"t"}]).to_string();
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/cloudevents-batch+json"),
        batch,
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["attribute"].as_str(),
            body["error"]["index"].as_u64()
        ),
        (422, Some("source"), Some(1)),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "wrong_type");

    // 422: a wrong spec version, a bad time, an empty batch, NDJSON with the bad line's index.
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/json"),
        r#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["attribute"].as_str()),
        (422, Some("specversion")),
        "{body}"
    );
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/json"),
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"noon"}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["attribute"].as_str()),
        (422, Some("time")),
        "{body}"
    );
    let (status, body, _) = post(
        &client,
        &url,
        Some("application/cloudevents-batch+json"),
        "[]",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("empty_batch")),
        "{body}"
    );
    let ndjson =
        format!("{good}\n{good}\n{{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"}}\n");
    let (status, body, _) = post(&client, &url, Some("application/x-ndjson"), ndjson).await;
    assert_eq!(
        (
            status,
            body["error"]["index"].as_u64(),
            body["error"]["attribute"].as_str()
        ),
        (422, Some(2), Some("type")),
        "{body}"
    );

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
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while client.get(&ready_url).send().await.unwrap().status() == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "readyz still 200 with the broker down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
