//! The DynamoDB endpoint's bounds on request bodies, end to end: the real
//! server on port 0 and raw HTTP, where the answer's exact shape is the
//! point. A body over DynamoDB's 16 MB is refused before it is read, and
//! large bodies read at once are bounded in bytes: past the bound a request
//! gets `ThrottlingException` (which the SDKs retry), while small requests,
//! not counted, and the server go on being served.

mod common;

use std::time::Duration;

use serde_json::Value;
use tidepool::dynamodb::{MAX_REQUEST_BODIES_IN_FLIGHT_BYTES, MAX_REQUEST_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for an answer that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// Sends a PutItem head announcing `len` body bytes (none sent yet).
async fn announce(addr: &str, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s
}

/// Reads one response: its status and JSON body.
async fn answer(s: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len || n == 0 {
                    let status = text[9..12].parse().expect("a status");
                    let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or(Value::Null);
                    return (status, body);
                }
            }
            assert!(n > 0, "closed before an answer: {text}");
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("an answer in time")
}

#[tokio::test]
async fn a_body_over_16_mb_is_refused_before_it_is_read() {
    let h = common::harness().await;
    let addr = h.server.addr.to_string();
    let mut s = announce(&addr, MAX_REQUEST_BYTES + 1).await;
    let (status, body) = answer(&mut s).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["__type"], "com.amazon.coral.service#RequestEntityTooLarge", "{body}");
}

#[tokio::test]
async fn large_bodies_at_once_are_bounded_and_throttled_then_served_again() {
    let h = common::harness().await;
    let addr = h.server.addr.to_string();
    common::create_table(&h.client, "bodies", None).await;
    // Fill the budget with requests whose bodies never come.
    let full = MAX_REQUEST_BODIES_IN_FLIGHT_BYTES / MAX_REQUEST_BYTES;
    let mut held = Vec::new();
    for _ in 0..full {
        held.push(announce(&addr, MAX_REQUEST_BYTES).await);
    }
    let bodies = &h.server.app.bodies;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bodies.used() < MAX_REQUEST_BODIES_IN_FLIGHT_BYTES {
        assert!(tokio::time::Instant::now() < deadline, "the server reserved {} bytes", bodies.used());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The next large body is throttled without being read, with the error
    // the SDKs retry.
    let mut s = announce(&addr, MAX_REQUEST_BYTES).await;
    let (status, body) = answer(&mut s).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "com.amazon.coral.availability#ThrottlingException", "{body}");
    assert_eq!(bodies.used(), MAX_REQUEST_BODIES_IN_FLIGHT_BYTES);
    // Small requests are not counted: the budget's holders cannot throttle them.
    let put = h.client.put_item().table_name("bodies").item("pk", common::s("small")).send().await;
    assert!(put.is_ok(), "{put:?}");
    // Once the holders go, large bodies are read again.
    drop(held);
    let payload = "x".repeat(300 * 1024);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let put = h
            .client
            .put_item()
            .table_name("bodies")
            .item("pk", common::s("large"))
            .item("data", common::s(&payload))
            .send()
            .await;
        match put {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(common::code(&e), "ThrottlingException", "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("still throttled after the holders left: {e:?}"),
        }
    }
}
