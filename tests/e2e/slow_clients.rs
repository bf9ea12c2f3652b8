//! Slow clients cannot pin ingest: a body that does not arrive in time gets 408, and requests beyond the
//! in-flight limit get 503 with Retry-After at once, so memory stays bounded. Ingest keeps serving afterwards.

use crate::common::{Stack, event, post_batch};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends the head and the first bytes of a body that never completes.
async fn start_slow_request(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"id\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_time_out_and_excess_requests_are_shed() {
    let stack = Stack::start(1).await;
    let ingest = stack
        .start_ingest_with(|config| {
            config.max_in_flight = 2;
            config.body_timeout = Duration::from_secs(2);
        })
        .await;
    let mut slow = vec![
        start_slow_request(ingest.addr).await,
        start_slow_request(ingest.addr).await,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = reqwest::Client::new();
    let response = client
        .post(ingest.url())
        .header("content-type", "application/json")
        .body(event("x", 0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");

    for stream in &mut slow {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
    }
    assert_eq!(
        post_batch(&client, &ingest.url(), &[event("y", 1)]).await,
        202
    );
    assert_eq!(stack.topic_records(), 1);
    ingest.stop().await;
}
