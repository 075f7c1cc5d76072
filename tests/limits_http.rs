//! Bounds on client connections: slow heads, trickling bodies, idle
//! keep-alive connections and unread responses are cut off on their
//! deadlines while others are served; a full server replaces idle
//! connections and throttles the rest; and a server out of descriptors
//! recovers once the connections that used them close.

mod common;

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::http::{closed_by, dynamodb_request, exchange, read_response, spawn_server_with_nofile, still_open};
use common::{client, create_table, s, start_with};
use tidepool::ServerConfig;
use tidepool::http::HttpLimits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A deadline generous enough for a loaded machine: what must happen within
/// it happens at the configured timeout, long before.
const PATIENCE: Duration = Duration::from_secs(20);

fn limits(f: impl FnOnce(&mut HttpLimits)) -> ServerConfig {
    let mut http = HttpLimits::default();
    f(&mut http);
    ServerConfig { http, ..ServerConfig::default() }
}

#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    const HEADER: Duration = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        dir.path(),
        limits(|l| {
            l.header_read_timeout = HEADER;
            l.max_connections = 1000;
        }),
    )
    .await;
    let c = client(&server.endpoint());
    create_table(&c, "items", None).await;

    // Slowloris: 300 connections that send part of a head, then nothing.
    let start = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(b"POST / HTTP/1.1\r\nHost: tidepool\r\nX-Amz-Tar").await.unwrap();
        slow.push(conn);
    }
    // And a few that trickle a head in, a byte at a time: the deadline is
    // the head's, not a byte's.
    let mut tricklers = Vec::new();
    for _ in 0..5 {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        tricklers.push(tokio::spawn(async move {
            let connected = Instant::now();
            let head = b"POST / HTTP/1.1\r\nHost: tidepool\r\nX-Pad: ".iter().chain(std::iter::repeat(&b'a'));
            for b in head {
                if conn.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            connected.elapsed()
        }));
    }

    // A normal client is served while they are all open.
    c.put_item().table_name("items").item("pk", s("a")).send().await.expect("served beside slow clients");
    let got = c.get_item().table_name("items").key("pk", s("a")).send().await.unwrap();
    assert_eq!(got.item.unwrap()["pk"], s("a"));
    assert!(slow.iter().all(still_open), "the slow clients were still connected while the SDK was served");

    // Each is closed by the server, on the header deadline and not before.
    let deadline = Instant::now() + PATIENCE;
    for (i, conn) in slow.iter_mut().enumerate() {
        let after = closed_by(conn, start, deadline).await.unwrap_or_else(|| panic!("slow client {i} still open"));
        assert!(after >= HEADER, "slow client {i} closed after {after:?}, before the header timeout");
    }
    for t in tricklers {
        let lasted = tokio::time::timeout(PATIENCE, t).await.expect("a trickler is cut off").unwrap();
        assert!(lasted >= HEADER && lasted < PATIENCE, "a trickler lasted {lasted:?}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    const HEADER: Duration = Duration::from_millis(300);
    const IDLE: Duration = Duration::from_millis(2500);
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        dir.path(),
        limits(|l| {
            l.header_read_timeout = HEADER;
            l.idle_timeout = IDLE;
        }),
    )
    .await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let r = exchange(&mut conn, &dynamodb_request("ListTables", "{}")).await.expect("first request answered");
    assert_eq!(r.status, 200, "{r:?}");
    // Idle for several header timeouts, well within the idle timeout: the
    // connection is kept.
    tokio::time::sleep(HEADER * 3).await;
    let r =
        exchange(&mut conn, &dynamodb_request("ListTables", "{}")).await.expect("kept alive past the header timeout");
    assert_eq!(r.status, 200, "{r:?}");
    // Then idle until the server closes it: on the idle deadline.
    let idle_from = Instant::now();
    let after = closed_by(&mut conn, idle_from, idle_from + PATIENCE).await.expect("an idle connection is closed");
    assert!(after >= IDLE - Duration::from_millis(50), "closed after {after:?}, before the idle timeout");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off() {
    const BODY: Duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), limits(|l| l.body_read_timeout = BODY)).await;
    let c = client(&server.endpoint());
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    conn.write_all(
        b"POST / HTTP/1.1\r\nHost: tidepool\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    // Another client is served meanwhile.
    assert!(c.list_tables().send().await.is_ok());
    // The trickle goes on: one byte each 50 ms would take 5 s for the body.
    let trickle = async {
        for _ in 0..99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if conn.write_all(b" ").await.is_err() {
                return;
            }
        }
    };
    trickle.await;
    let after = closed_by(&mut conn, start, start + PATIENCE).await.expect("a trickling body is cut off");
    assert!(after >= BODY, "cut off after {after:?}");
    assert!(after < Duration::from_millis(99 * 50), "the whole body arrived before the cut ({after:?})");
    server.stop().await.unwrap();
}

/// A body refused for its size is read to its end and discarded, so the
/// client finishes sending and reads the refusal rather than a reset.
#[tokio::test]
async fn a_refused_body_is_drained_so_the_client_reads_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), ServerConfig::default()).await;
    // DynamoDB's 16 MiB request limit, and 40 MiB more than the sockets'
    // buffers could hold once the server stopped reading.
    let len = 56 * 1024 * 1024;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: tidepool\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: {len}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    for i in 0..len / chunk.len() {
        conn.write_all(&chunk).await.unwrap_or_else(|e| panic!("the server stopped reading after {i} MiB: {e}"));
    }
    let r = read_response(&mut conn, PATIENCE).await.expect("the refusal");
    assert_eq!((r.status, r.error_type().as_str()), (413, "RequestEntityTooLarge"), "{r:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_reads_no_response_is_cut_off() {
    const WRITE: Duration = Duration::from_millis(300);
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), limits(|l| l.write_timeout = WRITE)).await;
    let c = client(&server.endpoint());
    create_table(&c, "big", None).await;
    let blob = "x".repeat(380 * 1024);
    c.put_item().table_name("big").item("pk", s("k")).item("v", AttributeValue::S(blob)).send().await.unwrap();
    // 80 pipelined GetItems answer 30 MB, more than the sockets' buffers
    // hold; the client reads none of it for ten write timeouts.
    let get = dynamodb_request("GetItem", r#"{"TableName":"big","Key":{"pk":{"S":"k"}}}"#);
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(get.repeat(80).as_bytes()).await.unwrap();
    tokio::time::sleep(WRITE * 10).await;
    // The server gave up on it: fewer than 80 answers arrive before the close.
    let mut answered = 0;
    while read_response(&mut conn, PATIENCE).await.is_some() {
        answered += 1;
    }
    assert!(answered < 80, "all {answered} responses were written to a client that read none for a while");
    assert!(c.list_tables().send().await.is_ok());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_server_replaces_the_longest_idle_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), limits(|l| l.max_connections = 4)).await;
    // Four kept-alive connections with no request in flight fill the server.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
        // Idle in this order: each is answered before the next connects.
        let r = exchange(idle.last_mut().unwrap(), &dynamodb_request("ListTables", "{}")).await.unwrap();
        assert_eq!(r.status, 200);
    }
    // A fifth is served, in place of the one idle the longest.
    let c = client(&server.endpoint());
    c.list_tables().send().await.expect("served in place of an idle connection");
    let now = Instant::now();
    closed_by(&mut idle[0], now, now + PATIENCE).await.expect("the longest-idle connection is closed");
    assert!(idle[1..].iter().all(still_open));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_server_throttles_new_connections_while_none_is_idle_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(
        dir.path(),
        limits(|l| {
            l.max_connections = 4;
            l.header_read_timeout = Duration::from_secs(60);
        }),
    )
    .await;
    // Four connections in the middle of a head: busy, not idle. Each is
    // answered once first, so it is known to hold a place.
    let mut busy: Vec<TcpStream> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let r = loop {
        // A probe may have taken the place of a busy connection whose head
        // the server had not read yet (it looked idle): replace any closed.
        busy.retain(still_open);
        while busy.len() < 4 {
            let mut conn = TcpStream::connect(server.addr).await.unwrap();
            let r = exchange(&mut conn, &dynamodb_request("ListTables", "{}")).await.expect("answered");
            if r.status != 200 {
                continue;
            }
            conn.write_all(b"POST / HTTP/1.1\r\nHost: tidepool\r\n").await.unwrap();
            busy.push(conn);
        }
        let mut probe = TcpStream::connect(server.addr).await.unwrap();
        let r = exchange(&mut probe, &dynamodb_request("ListTables", "{}")).await.expect("an answer, not a hang");
        if r.status != 200 {
            // DynamoDB's throttling error on `/`, with the connection closed.
            let now = Instant::now();
            assert!(closed_by(&mut probe, now, now + PATIENCE).await.is_some(), "a throttled connection is closed");
            break r;
        }
        assert!(Instant::now() < deadline, "never throttled with every connection busy");
    };
    assert_eq!((r.status, r.error_type().as_str()), (400, "ThrottlingException"), "{r:?}");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    // Lambda's on its paths.
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let r = exchange(&mut conn, "GET /2015-03-31/functions/ HTTP/1.1\r\nHost: tidepool\r\n\r\n").await.unwrap();
    assert_eq!((r.status, r.error_type().as_str()), (429, "TooManyRequestsException"), "{r:?}");
    // The SDK sees a throttle it retries.
    let no_retry = aws_sdk_dynamodb::Client::from_conf(
        client(&server.endpoint())
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    );
    let err = no_retry.list_tables().send().await.expect_err("throttled");
    assert_eq!(common::code(&err), "ThrottlingException");
    // Once the busy clients go, new ones are served.
    drop(busy);
    let c = client(&server.endpoint());
    let deadline = Instant::now() + PATIENCE;
    loop {
        match c.list_tables().send().await {
            Ok(_) => break,
            Err(e) if common::code(&e) == "ThrottlingException" && Instant::now() < deadline => {}
            Err(e) => panic!("not served after the busy clients left: {e:?}"),
        }
    }
    server.stop().await.unwrap();
}

/// The issue's reproduction: a server limited to 256 descriptors, 300 idle
/// connections held for 3 s while another client writes, then closed. Every
/// write is acknowledged or refused with a retryable error meanwhile, and
/// writes work afterwards. With the derived connection limit the idle
/// connections never get the descriptors; with the limit set past the
/// descriptors (`--max-connections 1000`) they do run out, and the journal's
/// fsync must get by without opening a file, in both durability modes.
#[tokio::test]
async fn the_descriptor_exhaustion_repro_recovers() {
    for (mode, extra) in [("buffered", None), ("buffered", Some("1000")), ("sync", Some("1000"))] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let data = dir.path().join("data");
        let mut args: Vec<&OsStr> = vec!["--data-dir".as_ref(), data.as_ref(), "--durability".as_ref(), mode.as_ref()];
        if let Some(max) = extra {
            args.extend(["--max-connections".as_ref(), OsStr::new(max)]);
        }
        let (child, endpoint) = spawn_server_with_nofile(256, &args, &log);
        let child = KillOnDrop(child);
        let outcome = tokio::time::timeout(Duration::from_secs(60), exhaust(&endpoint)).await;
        drop(child);
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let case = format!("{mode}, max connections {}", extra.unwrap_or("derived"));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{case}: {e}\nserver log:\n{log}"),
            Err(_) => panic!("{case}: the server wedged\nserver log:\n{log}"),
        }
    }
}

/// Kills the child server however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn exhaust(endpoint: &str) -> Result<(), String> {
    let c = client(endpoint);
    create_table(&c, "items", None).await;
    let addr = endpoint.trim_start_matches("http://");
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?);
    }
    // Writes while they are open: acknowledged, or throttled (retryable),
    // never a 500.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (c, stop) = (c.clone(), stop.clone());
        async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("during-{i}");
                if put(&c, &key).await? {
                    acknowledged.push(key);
                }
            }
            Ok::<_, String>(acknowledged)
        }
    });
    // The scenario holds them for 3 s (30 background fsyncs).
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(idle);
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.await.map_err(|e| format!("the writer panicked: {e}"))??;
    // Afterwards every write is acknowledged.
    let deadline = Instant::now() + PATIENCE;
    loop {
        match c.put_item().table_name("items").item("pk", s("after")).send().await {
            Ok(_) => break,
            Err(e) if common::code(&e) == "ThrottlingException" && Instant::now() < deadline => {}
            Err(e) => return Err(format!("PutItem after the connections closed: {e:?}")),
        }
    }
    for k in acknowledged.iter().map(String::as_str).chain(["after"]) {
        let got = c.get_item().table_name("items").key("pk", s(k)).consistent_read(true).send().await;
        if got.map_err(|e| format!("GetItem {k}: {e:?}"))?.item.is_none() {
            return Err(format!("item {k} is missing"));
        }
    }
    Ok(())
}

/// One PutItem: whether it was acknowledged (Ok(false): throttled), or an
/// error for anything else.
async fn put(c: &aws_sdk_dynamodb::Client, key: &str) -> Result<bool, String> {
    match c.put_item().table_name("items").item("pk", s(key)).send().await {
        Ok(_) => Ok(true),
        Err(e) if common::code(&e) == "ThrottlingException" => Ok(false),
        Err(e) => Err(format!("PutItem {key} while 300 connections were open: {e:?}")),
    }
}
