//! Raw HTTP over TCP for the connection-limit tests: requests written by
//! hand, one response read back, a connection watched until the server
//! closes it, and a child server under a low open-file limit.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A keep-alive DynamoDB request for operation `op` with JSON `body`.
pub fn dynamodb_request(op: &str, body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: tidepool\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.{op}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP response: status, head and body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The error type of a DynamoDB or Lambda error body, without namespace.
    pub fn error_type(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        let t = v["__type"].as_str().unwrap_or_default();
        if !t.is_empty() {
            return t.rsplit('#').next().unwrap_or_default().to_string();
        }
        // Lambda names it in a header.
        self.header("x-amzn-errortype").unwrap_or_default().to_string()
    }
}

/// Reads one response (with a Content-Length body) from `stream`, within
/// `within`, and not a byte past it (the next response stays in the
/// socket). `None` if the connection closed or the time ran out first.
pub async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<RawResponse> {
    tokio::time::timeout(within, async {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let len: usize =
            head.to_lowercase().lines().find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok())?;
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.ok()?;
        Some(RawResponse { status, head, body: String::from_utf8_lossy(&body).to_string() })
    })
    .await
    .ok()
    .flatten()
}

/// Sends `request` on `stream` and reads the response.
pub async fn exchange(stream: &mut TcpStream, request: &str) -> Option<RawResponse> {
    stream.write_all(request.as_bytes()).await.ok()?;
    read_response(stream, Duration::from_secs(10)).await
}

/// Reads (and discards) from `stream` until the server closes it; returns
/// when, counted from `since`, or `None` if it is still open at `deadline`.
pub async fn closed_by(stream: &mut TcpStream, since: Instant, deadline: Instant) -> Option<Duration> {
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether the server has closed `stream`, without waiting: a read would
/// block on an open connection.
pub fn still_open(stream: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(stream.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Starts the built `tidepool serve --port 0 <args>` under `ulimit -n
/// nofile` (soft and hard, so the server cannot raise it), its log in
/// `log`; returns it and its endpoint.
pub fn spawn_server_with_nofile(nofile: u32, args: &[&OsStr], log: &Path) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    let log = std::fs::File::create(log).expect("create the server log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--port", "0"])
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn tidepool under sh");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let endpoint = line.trim().rsplit(' ').next().expect("endpoint on the line").to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "unexpected line {line:?}");
    (child, endpoint)
}

/// How long [`read_answer`] waits for a whole answer.
const ANSWER_PATIENCE: Duration = Duration::from_secs(30);

/// A response read off the wire: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts Lambda's error shape: `status`, `x-amzn-ErrorType: kind`,
    /// `application/json`, `{"Type": "User", "message": ...}`; returns the body.
    pub fn lambda_error(&self, status: u16, kind: &str) -> Value {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{kind}: {body}");
        assert_eq!(self.header("x-amzn-errortype"), Some(kind), "{body}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{body}");
        let v = self.json();
        assert_eq!(v["Type"], "User", "{v}");
        assert!(v["Message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v
    }
}

/// Reads one response (head, then a `Content-Length` body) from `stream`.
pub async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    // On the heap: a 64 KiB array would make every future that awaits this
    // one 64 KiB larger, and debug builds copy futures on the stack.
    let mut chunk = vec![0u8; 64 * 1024];
    let read = async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status: u16 = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                if status == 100 {
                    raw.drain(..end + 4);
                    continue;
                }
                let len: usize =
                    headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                while raw.len() < end + 4 + len {
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the connection closed inside the body");
                    raw.extend_from_slice(&chunk[..n]);
                }
                return Answer { status, headers, body: raw[end + 4..end + 4 + len].to_vec() };
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before an answer: {:?}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(ANSWER_PATIENCE, read).await.expect("an answer in time")
}

/// One request on a fresh connection (`Connection: close`) to `addr`
/// (`host:port`), with exactly `headers` and the whole `body`.
pub async fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A `Host` among `headers` replaces the address.
    let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).map_or(addr, |(_, v)| *v);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(&mut stream).await
}
