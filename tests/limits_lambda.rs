//! The Lambda side's bounds, end to end: the real server on port 0, real
//! components from `examples/`, raw HTTP where the answer's exact shape is
//! the point. Oversized responses and errors, long log lines, a flood of
//! asynchronous events, large code uploads at once, the guest memory budget,
//! and errors in Lambda's JSON shape for every client mistake.
//!
//! The tests of this binary run one at a time (`serial`): one of them
//! measures the process's resident memory while a guest returns a huge
//! error.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType, StreamSpecification, StreamViewType};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use common::http::{Answer, read_answer, send};
use common::{Harness, harness};
use serde_json::{Value, json};
use tidepool_runtime::examples::example_bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROLE: &str = "arn:aws:iam::000000000000:role/tidepool";
/// How long a test waits for an effect that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------- a memory meter

/// A field of `/proc/self/status`, in bytes (`VmRSS`: resident now, `VmHWM`:
/// its peak).
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    let kb: usize = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a size in kB");
    kb * 1024
}

/// Runs `f` and returns its output and how far the process's resident
/// memory rose above where it started, at its peak (Linux's `VmHWM`, reset
/// through `/proc/self/clear_refs`).
async fn rss_rise<T>(f: impl Future<Output = T>) -> (T, usize) {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    let start = status_bytes("VmRSS:");
    let out = f.await;
    (out, status_bytes("VmHWM:").saturating_sub(start))
}

/// One test of this binary at a time (the memory meter is process-wide).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

// ---------------------------------------------------------------- clients

/// Creates `name` from example `example` with `memory_mb` and `timeout` seconds.
async fn create(client: &aws_sdk_lambda::Client, name: &str, example: &str, memory_mb: i32, timeout: i32) {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::from("wasm32-wasip2"))
        .role(ROLE)
        .memory_size(memory_mb)
        .timeout(timeout)
        .code(FunctionCode::builder().zip_file(Blob::new(example_bytes(example))).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
}

/// One request on a fresh connection, with the whole `body` (JSON unless
/// `headers` name another content type).
async fn http(endpoint: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut all = headers.to_vec();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        all.push(("Content-Type", "application/json"));
    }
    send(endpoint.trim_start_matches("http://"), method, path, &all, body).await
}

/// Sends only the head of a request announcing `length` body bytes with
/// `Expect: 100-continue`: the server answers `100 Continue` once it starts
/// reading the body, or its final answer without reading any.
async fn announce(endpoint: &str, path: &str, length: usize) -> TcpStream {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Expect: 100-continue\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads the `100 Continue` interim answer.
async fn continued(stream: &mut TcpStream) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !raw.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the connection closed: {raw:?}");
            raw.push(byte[0]);
        }
    };
    tokio::time::timeout(PATIENCE, read).await.expect("an interim answer in time");
    let head = String::from_utf8_lossy(&raw);
    assert!(head.starts_with("HTTP/1.1 100"), "expected 100 Continue, got {head:?}");
}

async fn invoke(endpoint: &str, function: &str, event: &Value, invocation_type: &str) -> Answer {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    http(endpoint, "POST", &path, &[("X-Amz-Invocation-Type", invocation_type)], event.to_string().as_bytes()).await
}

async fn limits(endpoint: &str) -> Value {
    let answer = http(endpoint, "GET", "/tidepool/limits", &[], b"").await;
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

/// Polls `/tidepool/limits` until `check` holds, for at most [`PATIENCE`].
async fn until_limits(endpoint: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = limits(endpoint).await;
        if check(&now) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn log_lines(endpoint: &str, function: &str) -> Vec<String> {
    let answer = http(endpoint, "GET", &format!("/tidepool/logs/{function}"), &[], b"").await;
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    let page = answer.json();
    page["lines"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------- tests

/// Lambda's response limit (6 MiB and 100 bytes) applies to a response and to
/// an error object alike: past it the caller gets
/// `Function.ResponseSizeTooLarge` (Unhandled) with the payload's size, and
/// the guest's bytes are measured where they lie, never copied into the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_responses_and_errors_are_response_size_too_large() {
    let _one = serial().await;
    let Harness { server, dir: _dir, .. } = harness().await;
    let endpoint = server.endpoint();
    create(&common::lambda_client(&endpoint), "big", "misbehave", 1024, 60).await;
    let max = tidepool_runtime::limits::MAX_RESPONSE_BYTES;
    assert_eq!(max, 6_291_556);
    let too_large = |size: usize| {
        json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!(
                "Response payload size ({size} bytes) exceeded maximum allowed payload size (6291556 bytes)."
            ),
        })
    };

    let answer = invoke(&endpoint, "big", &json!({"action": "big", "bytes": max + 1}), "RequestResponse").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json(), too_large(max + 1));
    let answer = invoke(&endpoint, "big", &json!({"action": "big", "bytes": max}), "RequestResponse").await;
    assert_eq!((answer.status, answer.header("x-amz-function-error"), answer.body.len()), (200, None, max));

    // The error object is `{"errorMessage":"ee...e","errorType":"BigError"}`:
    // 42 bytes besides the message. One at the limit comes back whole, as the
    // function's.
    let object = |message: usize| message + r#"{"errorMessage":"","errorType":"BigError"}"#.len();
    let fits = max - object(0);
    let answer = invoke(&endpoint, "big", &json!({"action": "big_error", "bytes": fits}), "RequestResponse").await;
    assert_eq!(answer.header("x-amz-function-error"), Some("Handled"));
    assert_eq!(answer.body.len(), max);
    let error = answer.json();
    assert_eq!(
        (error["errorType"].as_str(), error["errorMessage"].as_str().map(str::len)),
        (Some("BigError"), Some(fits))
    );
    // One byte past it is refused like a response.
    let answer = invoke(&endpoint, "big", &json!({"action": "big_error", "bytes": fits + 1}), "RequestResponse").await;
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json(), too_large(max + 1));

    // A 100 MB error: the guest's memory holds it (and counts in the
    // process's), the host copies none of it (before, it held it three times).
    let (answer, rise) =
        rss_rise(invoke(&endpoint, "big", &json!({"action": "big_error", "bytes": 100 * MIB}), "RequestResponse"))
            .await;
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(answer.json(), too_large(object(100 * MIB)));
    assert!(rise < 100 * MIB + 64 * MIB, "resident memory rose by {} MiB for a 100 MiB error", rise / MIB);
    server.stop().await.unwrap();
}

/// A line of a guest's output longer than CloudWatch's largest event keeps
/// its head and ends in a marker of what was cut, in the function's logs;
/// through stdout and through the `log` import alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_log_line_is_truncated_with_a_marker() {
    let _one = serial().await;
    let Harness { server, dir: _dir, .. } = harness().await;
    let endpoint = server.endpoint();
    create(&common::lambda_client(&endpoint), "chatty", "misbehave", 128, 10).await;
    let max = tidepool_runtime::limits::MAX_LOG_LINE_BYTES;
    let bytes = MIB;
    for (via_log, prefix) in [(false, "BEGIN"), (true, "[INFO]\tBEGIN")] {
        let event = json!({"action": "long_line", "bytes": bytes, "log": via_log});
        let answer = invoke(&endpoint, "chatty", &event, "RequestResponse").await;
        assert_eq!((answer.status, answer.json()), (200, json!("written")));
        let lines = log_lines(&endpoint, "chatty").await;
        let line = lines.iter().rfind(|l| l.contains("BEGIN")).expect("the long line is logged");
        assert!(line.starts_with(prefix), "the line keeps its head: {:?}", &line[..40.min(line.len())]);
        assert!(line.len() <= max, "{} bytes", line.len());
        let kept = line.find('…').expect("a truncation marker");
        let cut = prefix.len() - "BEGIN".len() + bytes - kept;
        assert!(line.ends_with(&format!("…[truncated {cut} bytes]")), "{}", &line[kept..]);
        assert!(kept > max - 64, "the line keeps almost {max} bytes, kept {kept}");
    }
    server.stop().await.unwrap();
}

/// Asynchronous events are held in memory: past the queue's byte budget an
/// `Event` Invoke is a 429 `TooManyRequestsException` (retryable), and the
/// queue's own accounting never passes its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_async_events_is_throttled_at_the_queues_byte_bound() {
    let _one = serial().await;
    let Harness { server, dir: _dir, .. } = harness().await;
    let endpoint = server.endpoint();
    let client = common::lambda_client(&endpoint);
    create(&client, "stuck", "echo", 128, 3).await;
    // A reserved concurrency of 0: events wait in the queue (for up to six hours).
    client.put_function_concurrency().function_name("stuck").reserved_concurrent_executions(0).send().await.unwrap();

    let bounds = limits(&endpoint).await;
    let max_bytes = bounds["AsyncQueue"]["MaxBytes"].as_u64().unwrap() as usize;
    let event = json!({"data": "x".repeat(256 * 1024 - 20)});
    let size = event.to_string().len();
    assert!(size <= 256 * 1024, "{size}");
    let fit = max_bytes / size;
    let mut accepted = 0;
    let refused = loop {
        let answer = invoke(&endpoint, "stuck", &event, "Event").await;
        if answer.status != 202 {
            break answer;
        }
        accepted += 1;
        assert!(accepted <= fit, "{accepted} events of {size} bytes accepted by a queue of {max_bytes} bytes");
    };
    let body = refused.lambda_error(429, "TooManyRequestsException");
    assert_eq!(body["Reason"], "ConcurrentInvocationLimitExceeded");
    assert!(body["Message"].as_str().unwrap().contains("asynchronous invocation queue"), "{body}");
    assert!(accepted + 1 >= max_bytes / (size + 2048), "only {accepted} of about {fit} events fit");

    let now = limits(&endpoint).await;
    let queue = &now["AsyncQueue"];
    assert_eq!(queue["Events"], accepted);
    let held = queue["Bytes"].as_u64().unwrap() as usize;
    assert!(held <= max_bytes && held >= accepted * size, "{queue}");
    // Still refused: nothing left the queue.
    invoke(&endpoint, "stuck", &event, "Event").await.lambda_error(429, "TooManyRequestsException");
    server.stop().await.unwrap();
}

/// Code uploads share a byte budget: while one large deploy body is being
/// read, a second that does not fit beside it is a 429 before a byte of it
/// is read, one over the per-request bound a 413; both in Lambda's JSON
/// shape. When the first goes, its bytes come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_deploy_bodies_are_throttled_and_oversized_ones_refused() {
    let _one = serial().await;
    let Harness { server, dir: _dir, .. } = harness().await;
    let endpoint = server.endpoint();
    let bounds = limits(&endpoint).await;
    let budget = bounds["CodeBodies"]["MaxBytes"].as_u64().unwrap() as usize;
    let per_request = bounds["RequestBytes"]["Deploy"].as_u64().unwrap() as usize;
    assert!(per_request <= budget, "a deploy at its limit fits the budget on its own");

    // The first, at the per-request limit, is admitted: the server starts reading its body.
    let mut first = announce(&endpoint, "/tidepool/deploy", per_request).await;
    continued(&mut first).await;
    until_limits(&endpoint, "the first body's reservation", |l| l["CodeBodies"]["Bytes"] == per_request).await;

    // A second that does not fit beside it is refused before it is read.
    let mut second = announce(&endpoint, "/tidepool/deploy", budget - per_request + 1).await;
    let answer = read_answer(&mut second).await;
    let body = answer.lambda_error(429, "TooManyRequestsException");
    assert!(body["Message"].as_str().unwrap().contains("retry"), "{body}");
    // So is a large CreateFunction (code uploads share the budget).
    let mut third = announce(&endpoint, "/2015-03-31/functions", 70_000_000).await;
    read_answer(&mut third).await.lambda_error(429, "TooManyRequestsException");
    // A small request of another kind is not held up.
    let answer = http(&endpoint, "GET", "/2015-03-31/functions/", &[], b"").await;
    assert_eq!(answer.status, 200);
    // One over the per-request bound is refused outright.
    let mut huge = announce(&endpoint, "/tidepool/deploy", per_request + 1).await;
    read_answer(&mut huge).await.lambda_error(413, "RequestEntityTooLargeException");

    // The first client goes away: its bytes are given back, and a deploy fits again.
    drop(first);
    until_limits(&endpoint, "the first body's bytes given back", |l| l["CodeBodies"]["Bytes"] == 0).await;
    let manifest = "[[table]]\nname = \"Deployed\"\npartition_key = \"pk:S\"\n";
    let answer =
        http(&endpoint, "POST", "/tidepool/deploy", &[], json!({"Manifest": manifest}).to_string().as_bytes()).await;
    assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["Changes"], json!(["created table Deployed"]));
    server.stop().await.unwrap();
}

/// Every client mistake on the Lambda and `/tidepool` paths is answered in
/// Lambda's JSON error shape with a 4xx: a manifest the store refuses, bodies
/// that are not JSON, unknown operations and methods, undecodable paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_get_lambdas_json_errors() {
    let _one = serial().await;
    let Harness { server, dir: _dir, .. } = harness().await;
    let endpoint = server.endpoint();
    let deploy = |manifest: &str| json!({"Manifest": manifest}).to_string();

    // A manifest whose table name DynamoDB refuses (3 to 255 characters).
    let bad_table = deploy("[[table]]\nname = \"x\"\npartition_key = \"pk:S\"\n");
    let answer = http(&endpoint, "POST", "/tidepool/deploy", &[], bad_table.as_bytes()).await;
    let body = answer.lambda_error(400, "InvalidParameterValueException");
    assert!(body["Message"].as_str().unwrap().to_lowercase().contains("table"), "{body}");
    // One that does not parse, one with an unknown section, one without code.
    for manifest in ["[[table]\nname =", "[[nonsense]]\n", "[[function]]\nname = \"f\"\ncode = \"f.wasm\"\n"] {
        let answer = http(&endpoint, "POST", "/tidepool/deploy", &[], deploy(manifest).as_bytes()).await;
        answer.lambda_error(400, "InvalidParameterValueException");
    }
    for body in [&b"{not json"[..], b"[1, 2]", b""] {
        let answer = http(&endpoint, "POST", "/tidepool/deploy", &[], body).await;
        assert!(answer.status == 400, "{answer:?}");
        answer.lambda_error(400, answer.header("x-amzn-errortype").unwrap());
    }
    let answer = http(&endpoint, "POST", "/2015-03-31/functions", &[], b"{not json").await;
    answer.lambda_error(400, "InvalidRequestContentException");
    let answer = http(&endpoint, "POST", "/tidepool/deploy", &[("Content-Type", "image/png")], b"{}").await;
    answer.lambda_error(415, "UnsupportedMediaTypeException");

    // Operations Tidepool does not serve, methods a path does not take.
    for (method, path) in [
        ("PATCH", "/2015-03-31/functions/f/aliases"),
        ("PUT", "/2015-03-31/functions/f/versions"),
        ("PATCH", "/2019-09-25/functions/f/event-invoke-config"),
        ("PATCH", "/2015-03-31/functions/"),
        ("GET", "/2015-03-31/functions/f/invocations"),
        ("DELETE", "/tidepool/deploy"),
        ("GET", "/tidepool/nothing/here"),
        ("GET", "/2015-03-31"),
    ] {
        http(&endpoint, method, path, &[], b"").await.lambda_error(404, "UnknownOperationException");
    }
    // A path parameter that does not decode (invalid UTF-8).
    http(&endpoint, "GET", "/2015-03-31/functions/%FF%FE", &[], b"").await.lambda_error(400, "ValidationException");
    // A function that does not exist.
    http(&endpoint, "GET", "/2015-03-31/functions/nobody", &[], b"")
        .await
        .lambda_error(404, "ResourceNotFoundException");
    server.stop().await.unwrap();
}

/// Guest memory is a budget over the invocations running at once: a
/// function whose memory size takes it all holds it while it runs; then a
/// synchronous invoke of another is a 429 `TooManyRequestsException` with a
/// `Reason`, while an asynchronous one waits (seen waiting in
/// `/tidepool/limits`, and without running: no `END` line, no write) and runs
/// once the memory is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_memory_budget_throttles_sync_invokes_and_delays_async_ones() {
    let _one = serial().await;
    // The budget is the server's option (`--guest-memory-mb`).
    let dir = tempfile::tempdir().unwrap();
    let config = tidepool::ServerConfig { guest_memory_mb: 1024, ..tidepool::ServerConfig::default() };
    let server = common::start_with(dir.path(), config).await;
    let endpoint = server.endpoint();
    let ddb = common::client(&endpoint);
    let client = common::lambda_client(&endpoint);
    common::create_table(&ddb, "Gate", None).await;
    // A memory size over the budget reserves all of it.
    create(&client, "hog", "misbehave", 10_240, 60).await;
    create(&client, "small", "misbehave", 128, 10).await;
    let max_mb = limits(&endpoint).await["GuestMemory"]["MaxMB"].as_u64().unwrap();
    assert_eq!(max_mb, 1024);
    let ran = || async {
        let got = ddb.get_item().table_name("Gate").key("pk", common::s("ran")).consistent_read(true).send().await;
        got.unwrap().item.is_some()
    };

    let hog = tokio::spawn({
        let endpoint = endpoint.clone();
        async move {
            let event = json!({"action": "wait", "table": "Gate", "key": "open"});
            invoke(&endpoint, "hog", &event, "RequestResponse").await
        }
    });
    until_limits(&endpoint, "the hog's reservation", |l| l["GuestMemory"]["ReservedMB"] == max_mb).await;

    let answer = invoke(&endpoint, "small", &json!({"action": "counter"}), "RequestResponse").await;
    let body = answer.lambda_error(429, "TooManyRequestsException");
    assert_eq!(body["Reason"], "ConcurrentInvocationLimitExceeded", "{body}");
    assert!(body["Message"].as_str().unwrap().contains("guest memory"), "{body}");

    // An asynchronous event that leaves a mark when it runs: the item `ran`.
    let mark = json!({"TableName": "Gate", "Item": {"pk": {"S": "ran"}}});
    let event = json!({"action": "store", "operation": "PutItem", "request": mark});
    let queued = invoke(&endpoint, "small", &event, "Event").await;
    assert_eq!(queued.status, 202);
    let request_id = queued.header("x-amzn-requestid").unwrap().to_string();
    let end = format!("END RequestId: {request_id}");

    // It reaches the budget and waits there, while the hog holds all of it.
    let waiting =
        until_limits(&endpoint, "the event waiting for guest memory", |l| l["GuestMemory"]["Waiting"] == 1).await;
    assert_eq!(waiting["GuestMemory"]["ReservedMB"], max_mb, "{waiting}");
    assert_eq!(waiting["AsyncQueue"]["Events"], 1, "{waiting}");
    // Waiting, it cannot have run: the hog's memory is held until the gate opens.
    assert!(!log_lines(&endpoint, "small").await.contains(&end), "the event ran while the memory was held");
    assert!(!ran().await, "the event wrote while the memory was held");

    ddb.put_item().table_name("Gate").item("pk", common::s("open")).send().await.unwrap();
    let released = tokio::time::timeout(PATIENCE, hog).await.expect("the hog ends").unwrap();
    assert_eq!((released.status, released.json()), (200, json!("released")));
    until_limits(&endpoint, "the queued event to run", |l| l["AsyncQueue"]["Events"] == 0).await;
    let lines = log_lines(&endpoint, "small").await;
    assert!(lines.contains(&end), "{lines:?}");
    assert!(ran().await, "the event ran once the memory was back");
    until_limits(&endpoint, "the memory given back", |l| {
        l["GuestMemory"]["ReservedMB"] == 0 && l["GuestMemory"]["Waiting"] == 0
    })
    .await;
    let answer = invoke(&endpoint, "small", &json!({"action": "counter"}), "RequestResponse").await;
    assert_eq!((answer.status, answer.json()), (200, json!(1)));
    server.stop().await.unwrap();
}

/// Invoke payloads and the small JSON requests of the control plane have
/// budgets of their own: with the Invoke budget taken up by payloads being
/// read (slow clients, or invocations that hold theirs), another Invoke is a
/// 429 with a `Reason`, and the calls that relieve a jam
/// (PutFunctionConcurrency, UpdateFunctionConfiguration,
/// CreateEventSourceMapping...) still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_payloads_never_lock_out_the_control_plane() {
    let _one = serial().await;
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let endpoint = server.endpoint();
    let client = common::lambda_client(&endpoint);
    create(&client, "busy", "echo", 128, 3).await;
    let bounds = limits(&endpoint).await;
    let budget = bounds["InvokeBodies"]["MaxBytes"].as_u64().unwrap() as usize;
    let payload = bounds["RequestBytes"]["InvokeRequestResponse"].as_u64().unwrap() as usize;
    let path = "/2015-03-31/functions/busy/invocations";

    // Clients announce payloads at Lambda's limit and send none of them: each
    // holds its bytes of the budget while the server waits for the body.
    let mut held = Vec::new();
    for _ in 0..budget / payload {
        let mut stream = announce(&endpoint, path, payload).await;
        continued(&mut stream).await;
        held.push(stream);
    }
    let full = until_limits(&endpoint, "the payloads' reservations", |l| {
        l["InvokeBodies"]["Bytes"] == (budget / payload * payload)
    })
    .await;
    assert!(full["InvokeBodies"]["Bytes"].as_u64().unwrap() as usize + payload > budget, "{full}");

    // One more is throttled, retryably, with Lambda's `Reason`.
    let mut refused = announce(&endpoint, path, payload).await;
    let body = read_answer(&mut refused).await.lambda_error(429, "TooManyRequestsException");
    assert_eq!(body["Reason"], "CallerRateLimitExceeded", "{body}");
    assert!(body["Message"].as_str().unwrap().contains("retry"), "{body}");

    // The control plane is not held up.
    client.put_function_concurrency().function_name("busy").reserved_concurrent_executions(5).send().await.unwrap();
    let updated =
        client.update_function_configuration().function_name("busy").timeout(10).send().await.expect("update");
    assert_eq!(updated.timeout(), Some(10));
    let created = ddb
        .create_table()
        .table_name("Source")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(common::key_elem("pk", KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", ScalarAttributeType::S))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stream_arn = created.table_description().and_then(|t| t.latest_stream_arn()).unwrap().to_string();
    let mapping = client
        .create_event_source_mapping()
        .function_name("busy")
        .event_source_arn(stream_arn)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
        .send()
        .await
        .expect("create a mapping");
    client.delete_event_source_mapping().uuid(mapping.uuid().unwrap()).send().await.unwrap();
    assert_eq!(limits(&endpoint).await["ControlBodies"]["Bytes"], 0);

    // The clients go away: their bytes come back, and Invoke works again.
    drop(held);
    until_limits(&endpoint, "the payloads' bytes given back", |l| l["InvokeBodies"]["Bytes"] == 0).await;
    let answer = invoke(&endpoint, "busy", &json!({"hello": "again"}), "RequestResponse").await;
    assert_eq!((answer.status, answer.json()), (200, json!({"hello": "again"})));
    server.stop().await.unwrap();
}
