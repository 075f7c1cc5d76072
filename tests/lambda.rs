//! The Lambda API end to end: the real server, driven by `aws-sdk-lambda` and
//! `aws-sdk-dynamodb`, running real components built from `examples/`.

mod common;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ScalarAttributeType};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Environment, EventSourcePosition, Filter, FilterCriteria, FunctionCode, InvocationType, LogType, Runtime,
};
use base64::Engine as _;
use common::{Harness, attr_def, harness, key_elem, n, s};
use serde_json::{Value, json};
use tidepool_runtime::examples::example_bytes;

const ROLE: &str = "arn:aws:iam::000000000000:role/tidepool";
/// How long a test waits for an effect that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// The error code the SDK parsed.
fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &aws_sdk_lambda::error::SdkError<E, R>,
) -> String {
    err.as_service_error().and_then(|e| e.code()).map(str::to_string).unwrap_or_else(|| format!("{err:?}"))
}

/// A zip holding `bytes` as entry `name` (deflated), and a README.
fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("README.txt", opts).unwrap();
    w.write_all(b"a component").unwrap();
    w.start_file(name, opts).unwrap();
    w.write_all(bytes).unwrap();
    w.finish().unwrap().into_inner()
}

/// Creates `name` from the raw component of example `example`.
async fn create_raw(client: &aws_sdk_lambda::Client, name: &str, example: &str) {
    create_code(client, name, example_bytes(example)).send().await.unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    wait_active(client, name).await;
}

/// CreateFunction of `name` from the raw component `code`, to send.
fn create_code(
    client: &aws_sdk_lambda::Client,
    name: &str,
    code: Vec<u8>,
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::from("wasm32-wasip2"))
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
}

/// Waits until function `name` is `Active`, as the SDKs' `FunctionActiveV2`
/// waiter does: CreateFunction may answer `Pending` while the code compiles.
async fn wait_active(client: &aws_sdk_lambda::Client, name: &str) {
    eventually(&format!("{name} Active"), || async {
        let c = client.get_function_configuration().function_name(name).send().await.unwrap();
        (c.state() == Some(&aws_sdk_lambda::types::State::Active)).then_some(())
    })
    .await
}

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw HTTP/1.1 exchange with the server: status, headers (lowercase names), body.
async fn http(endpoint: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http_typed(endpoint, method, path, "application/json", body).await
}

/// [`http`] with a `Content-Type` of `content_type`.
async fn http_typed(
    endpoint: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let a = common::http::send(
        endpoint.trim_start_matches("http://"),
        method,
        path,
        &[("Content-Type", content_type)],
        body,
    )
    .await;
    (a.status, a.headers, a.body)
}

async fn logs(endpoint: &str, function: &str, query: &str) -> Value {
    let (status, _, body) = http(endpoint, "GET", &format!("/tidepool/logs/{function}?{query}"), b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn messages(page: &Value) -> Vec<String> {
    page["lines"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_created_read_listed_updated_and_deleted() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    let echo = example_bytes("echo");

    let created = client
        .create_function()
        .function_name("zipped")
        .runtime(Runtime::from("wasm32-wasip2"))
        .role(ROLE)
        .handler("echo.wasm")
        .description("from a zip")
        .code(FunctionCode::builder().zip_file(Blob::new(zip_of("echo.wasm", &echo))).build())
        .send()
        .await
        .expect("create from a zip");
    assert_eq!(created.function_name(), Some("zipped"));
    assert_eq!(created.function_arn(), Some("arn:aws:lambda:us-east-1:000000000000:function:zipped"));
    assert_eq!(created.handler(), Some("echo.wasm"));
    assert_eq!(created.code_size(), echo.len() as i64);
    assert_eq!(created.timeout(), Some(3));
    assert_eq!(created.memory_size(), Some(128));
    assert_eq!(created.version(), Some("$LATEST"));
    // Active in the answer when it compiles within CreateFunction's wait,
    // else Pending (see a_function_is_pending_until_its_code_compiles).
    assert!(matches!(created.state().map(|s| s.as_str()), Some("Active" | "Pending")), "{created:?}");
    wait_active(&client, "zipped").await;
    assert_eq!(created.runtime().map(|r| r.as_str()), Some("wasm32-wasip2"));
    let sha = base64::engine::general_purpose::STANDARD.decode(created.code_sha256().unwrap()).unwrap();
    assert_eq!(sha.len(), 32);

    create_raw(&client, "raw", "echo").await;
    let conf = client.get_function_configuration().function_name("raw").send().await.unwrap();
    assert_eq!(conf.code_size(), echo.len() as i64);
    assert_eq!(conf.code_sha256(), created.code_sha256(), "same component, same hash");

    // Name, ARN and partial ARN name the same function.
    for name in ["zipped", "arn:aws:lambda:us-east-1:000000000000:function:zipped", "000000000000:function:zipped"] {
        let got = client.get_function().function_name(name).send().await.unwrap();
        assert_eq!(got.configuration().and_then(|c| c.description()), Some("from a zip"));
        assert!(got.concurrency().is_none());
    }

    let e = client
        .create_function()
        .function_name("raw")
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(echo.clone())).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceConflictException");

    // Pagination.
    let first = client.list_functions().max_items(1).send().await.unwrap();
    assert_eq!(first.functions().len(), 1);
    assert_eq!(first.functions()[0].function_name(), Some("raw"));
    let marker = first.next_marker().expect("a next page").to_string();
    let second = client.list_functions().max_items(1).marker(marker).send().await.unwrap();
    assert_eq!(second.functions()[0].function_name(), Some("zipped"));
    assert!(second.next_marker().is_none());
    assert_eq!(client.list_functions().send().await.unwrap().functions().len(), 2);

    let updated = client
        .update_function_configuration()
        .function_name("raw")
        .timeout(10)
        .memory_size(256)
        .description("changed")
        .environment(Environment::builder().variables("GREETING", "hi").build())
        .send()
        .await
        .unwrap();
    assert_eq!((updated.timeout(), updated.memory_size()), (Some(10), Some(256)));
    assert_eq!(updated.environment().and_then(|e| e.variables()).and_then(|v| v.get("GREETING")).unwrap(), "hi");
    assert_ne!(updated.revision_id(), conf.revision_id());
    let e = client
        .update_function_configuration()
        .function_name("raw")
        .revision_id(conf.revision_id().unwrap())
        .timeout(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "PreconditionFailedException");

    // New code: the misbehave example shows the environment and context.
    let misbehave = example_bytes("misbehave");
    let recoded =
        client.update_function_code().function_name("raw").zip_file(Blob::new(misbehave.clone())).send().await.unwrap();
    assert_eq!(recoded.code_size(), misbehave.len() as i64);
    let out = client.invoke().function_name("raw").payload(Blob::new(r#"{"action":"context"}"#)).send().await.unwrap();
    let ctx: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(ctx["env"]["GREETING"], "hi");
    assert_eq!(ctx["memory_limit_in_mb"], 256);
    assert_eq!(ctx["function_name"], "raw");

    // Code in a zip for a function made from raw wasm: its only .wasm entry.
    client
        .update_function_code()
        .function_name("raw")
        .zip_file(Blob::new(zip_of("x.wasm", &echo)))
        .send()
        .await
        .unwrap();
    let out = client.invoke().function_name("raw").payload(Blob::new(r#"{"x":1}"#)).send().await.unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"x":1}"#);

    client.delete_function().function_name("raw").send().await.unwrap();
    let e = client.get_function().function_name("raw").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = client.delete_function().function_name("raw").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert_eq!(client.list_functions().send().await.unwrap().functions().len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_get_lambdas_errors() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    let echo = example_bytes("echo");
    let create = |name: &str, code: Vec<u8>| {
        client
            .create_function()
            .function_name(name)
            .role(ROLE)
            .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
    };
    let e = create("bad name!", echo.clone()).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException", "{e:?}");
    let e = create("notzip", b"just some bytes".to_vec()).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    assert!(e.message().unwrap_or_default().contains("Could not unzip"), "{e:?}");
    let e = create("nowasm", zip_of("a.txt", b"text")).handler("missing.wasm").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    let e = create("notcomponent", b"\0asm\x01\0\0\0".to_vec()).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    // Words that say what to do: a core module is built for the wrong target.
    let message = e.message().unwrap_or_default();
    assert!(message.contains("core WebAssembly module") && message.contains("wasm32-wasip2"), "{e:?}");
    let e = create("nottext", zip_of("f.wasm", b"#!/bin/sh")).handler("f.wasm").send().await.unwrap_err();
    let message = e.message().unwrap_or_default();
    assert!(message.contains("not WebAssembly") && message.contains("wasm32-wasip2"), "{e:?}");
    let e = create("t", echo.clone()).timeout(0).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = create("t", echo.clone()).memory_size(64).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = create("t", echo.clone()).timeout(901).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    assert_eq!(client.list_functions().send().await.unwrap().functions().len(), 0, "nothing was created");

    let e = client.get_function().function_name("nope").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert!(e.message().unwrap().contains("function:nope"));
    let e = client.invoke().function_name("nope").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = client.list_functions().max_items(0).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = client.get_event_source_mapping().uuid("6f1e0c4e-0000-0000-0000-000000000000").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    // The wire shape: status, x-amzn-ErrorType, {"Type", "message"}.
    let ep = server.endpoint();
    let (status, headers, body) = http(&ep, "GET", "/2015-03-31/functions/nope/configuration", b"").await;
    assert_eq!(status, 404);
    assert!(headers.contains(&("x-amzn-errortype".into(), "ResourceNotFoundException".into())), "{headers:?}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Type"], "User");
    assert!(body["Message"].as_str().unwrap().starts_with("Function not found"));
    let (status, headers, _) = http(&ep, "POST", "/2015-03-31/functions", b"{not json").await;
    assert_eq!(status, 400);
    assert!(headers.contains(&("x-amzn-errortype".into(), "InvalidRequestContentException".into())));
    let (status, _, _) = http(&ep, "POST", "/2015-03-31/functions", br#"{"FunctionName": 7}"#).await;
    assert_eq!(status, 400);
    let (status, _, _) =
        http(&ep, "POST", "/2015-03-31/functions", br#"{"FunctionName": "x", "Code": {"S3Bucket": "b"}}"#).await;
    assert_eq!(status, 400);
    let (status, _, _) = http(&ep, "GET", "/2015-03-31/functions/?MaxItems=lots", b"").await;
    assert_eq!(status, 400);
    let (status, _, _) = http(&ep, "GET", "/tidepool/logs/nope", b"").await;
    assert_eq!(status, 404);
    let (status, headers, _) =
        http_typed(&ep, "PUT", "/2015-03-31/functions/x/configuration", "application/xml", b"<x/>").await;
    assert_eq!(status, 415);
    assert!(headers.contains(&("x-amzn-errortype".into(), "UnsupportedMediaTypeException".into())));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_invoke_returns_payload_errors_and_log_tail() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "echo", "echo").await;
    create_raw(&client, "misbehave", "misbehave").await;

    let out = client.invoke().function_name("echo").payload(Blob::new(r#"{"hello":"world"}"#)).send().await.unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"hello":"world"}"#);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert!(out.function_error().is_none());
    assert!(out.log_result().is_none());
    // No payload is an empty event.
    let out = client.invoke().function_name("echo").send().await.unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), b"{}");

    // A returned error is Handled; a trap is Unhandled.
    let out =
        client.invoke().function_name("misbehave").payload(Blob::new(r#"{"action":"nonsense"}"#)).send().await.unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Handled"));
    let err: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(err["errorType"], "UnknownAction");
    let out = client
        .invoke()
        .function_name("misbehave")
        .payload(Blob::new(r#"{"action":"trap"}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let err: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(err["errorType"], "Runtime.ExitError");
    let tail = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(out.log_result().unwrap()).unwrap())
        .unwrap();
    assert!(tail.contains("about to trap"), "{tail}");

    // LogType Tail: the invocation's framed log.
    let out = client
        .invoke()
        .function_name("misbehave")
        .payload(Blob::new(r#"{"action":"print","text":"tidepool"}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let id = out.log_result().map(|t| base64::engine::general_purpose::STANDARD.decode(t).unwrap()).unwrap();
    let tail = String::from_utf8(id).unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    assert!(lines[0].starts_with("START RequestId: ") && lines[0].ends_with(" Version: $LATEST"), "{tail}");
    assert!(lines.contains(&"out: tidepool") && lines.contains(&"err: tidepool"), "{tail}");
    assert!(lines.contains(&"[INFO]\tlog: tidepool"), "{tail}");
    assert!(lines[lines.len() - 2].starts_with("END RequestId: "), "{tail}");
    let report = lines[lines.len() - 1];
    assert!(report.starts_with("REPORT RequestId: ") && report.contains("\tBilled Duration: "), "{report}");
    assert!(report.contains("\tMemory Size: 128 MB\tMax Memory Used: "), "{report}");
    // Over 4 KB of output: only the last 4 KB come back.
    let out = client
        .invoke()
        .function_name("misbehave")
        .payload(Blob::new(r#"{"action":"flood","bytes":20000}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let tail = base64::engine::general_purpose::STANDARD.decode(out.log_result().unwrap()).unwrap();
    assert!(tail.len() <= 4096 && tail.len() > 3000, "{}", tail.len());
    assert!(String::from_utf8(tail).unwrap().contains("REPORT RequestId: "));

    // DryRun checks and runs nothing.
    let out = client.invoke().function_name("echo").invocation_type(InvocationType::DryRun).send().await.unwrap();
    assert_eq!(out.status_code(), 204);

    // Payload mistakes.
    let e = client.invoke().function_name("echo").payload(Blob::new("{nope")).send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidRequestContentException");
    let big = format!("\"{}\"", "x".repeat(6 * 1024 * 1024 + 1));
    let e = client.invoke().function_name("echo").payload(Blob::new(big)).send().await.unwrap_err();
    assert_eq!(code(&e), "RequestTooLargeException");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(413));
    let e = client.invoke().function_name("echo").qualifier("1").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let out = client.invoke().function_name("echo").qualifier("$LATEST").send().await.unwrap();
    assert_eq!(out.status_code(), 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_throttles() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "echo", "echo").await;
    let e = client.get_function_concurrency().function_name("echo").send().await.unwrap();
    assert_eq!(e.reserved_concurrent_executions(), None);

    let put =
        client.put_function_concurrency().function_name("echo").reserved_concurrent_executions(0).send().await.unwrap();
    assert_eq!(put.reserved_concurrent_executions(), Some(0));
    let got = client.get_function_concurrency().function_name("echo").send().await.unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(0));
    let f = client.get_function().function_name("echo").send().await.unwrap();
    assert_eq!(f.concurrency().and_then(|c| c.reserved_concurrent_executions()), Some(0));

    let e = client.invoke().function_name("echo").send().await.unwrap_err();
    assert_eq!(code(&e), "TooManyRequestsException");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(429));
    match e.into_service_error() {
        aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(t) => {
            assert_eq!(t.reason().map(|r| r.as_str()), Some("ReservedFunctionConcurrentInvocationLimitExceeded"));
        }
        other => panic!("not a throttle: {other:?}"),
    }
    let e = client.put_function_concurrency().function_name("echo").reserved_concurrent_executions(-1).send().await;
    assert_eq!(code(&e.unwrap_err()), "ValidationException");

    client.delete_function_concurrency().function_name("echo").send().await.unwrap();
    let out = client.invoke().function_name("echo").send().await.unwrap();
    assert_eq!(out.status_code(), 200);

    // CloudWatch's Lambda metrics, scraped by a Prometheus parser.
    let m = common::scrape(&server.endpoint()).await;
    let echo = r#"{"function_name":"echo"}"#;
    let get = |name: &str| m.get(&format!("{name}{echo}")).copied();
    assert_eq!(get("aws_lambda_invocations_total"), Some(1.0));
    // Each of the SDK's attempts at the throttled invoke counts.
    assert!(get("aws_lambda_throttles_total").is_some_and(|t| t >= 1.0), "{m:?}");
    assert_eq!(get("aws_lambda_errors_total"), Some(0.0));
    assert_eq!(get("aws_lambda_duration_count"), Some(1.0));
    assert_eq!(get("aws_lambda_concurrent_executions"), Some(0.0));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_invoke_runs_in_the_background() {
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    common::create_table(&ddb, "Effects", None).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "misbehave", "misbehave").await;

    let event = json!({
        "action": "store",
        "operation": "PutItem",
        "request": {"TableName": "Effects", "Item": {"pk": {"S": "async"}, "v": {"N": "1"}}},
    });
    let out = client
        .invoke()
        .function_name("misbehave")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));
    eventually("the asynchronous invocation's write", || {
        let ddb = ddb.clone();
        async move {
            let got = ddb.get_item().table_name("Effects").key("pk", s("async")).send().await.unwrap();
            got.item().map(|_| ())
        }
    })
    .await;

    // Its log is kept, under the request id the 202 carried (recorded as the
    // invocation ends, just after its write).
    let id = out.request_id().expect("the 202 carries the request id").to_string();
    let end = format!("END RequestId: {id}");
    let endpoint = server.endpoint();
    let lines = eventually("the asynchronous invocation's log", || {
        let (endpoint, end) = (endpoint.clone(), end.clone());
        async move {
            let lines = messages(&logs(&endpoint, "misbehave", "").await);
            lines.contains(&end).then_some(lines)
        }
    })
    .await;
    assert!(lines.contains(&format!("START RequestId: {id} Version: $LATEST")), "{id}: {lines:?}");

    // Async payloads over 256 KB are refused.
    let big = format!("\"{}\"", "x".repeat(256 * 1024 + 1));
    let e = client
        .invoke()
        .function_name("misbehave")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "RequestTooLargeException");
    server.stop().await.unwrap();
}

/// Creates `Scores` (player, game; NEW_AND_OLD_IMAGES stream) and
/// `Leaderboard` (game), and returns the stream's ARN.
async fn leaderboard_tables(ddb: &aws_sdk_dynamodb::Client) -> String {
    ddb.create_table()
        .table_name("Scores")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key_elem("player", KeyType::Hash))
        .key_schema(key_elem("game", KeyType::Range))
        .attribute_definitions(attr_def("player", ScalarAttributeType::S))
        .attribute_definitions(attr_def("game", ScalarAttributeType::S))
        .stream_specification(common::new_and_old_images())
        .send()
        .await
        .unwrap();
    create_leaderboard(ddb).await;
    let t = ddb.describe_table().table_name("Scores").send().await.unwrap();
    t.table().and_then(|t| t.latest_stream_arn()).unwrap().to_string()
}

/// The leaderboard example's `Leaderboard` table (partition key `game`).
async fn create_leaderboard(ddb: &aws_sdk_dynamodb::Client) {
    ddb.create_table()
        .table_name("Leaderboard")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key_elem("game", KeyType::Hash))
        .attribute_definitions(attr_def("game", ScalarAttributeType::S))
        .send()
        .await
        .unwrap();
}

async fn score(ddb: &aws_sdk_dynamodb::Client, player: &str, game: &str, points: i64) {
    ddb.put_item()
        .table_name("Scores")
        .item("player", s(player))
        .item("game", s(game))
        .item("score", n(points))
        .send()
        .await
        .unwrap();
}

async fn total(ddb: &aws_sdk_dynamodb::Client, game: &str) -> Option<i64> {
    let got = ddb.get_item().table_name("Leaderboard").key("game", s(game)).send().await.unwrap();
    match got.item().and_then(|i| i.get("total")) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_mapping_runs_the_leaderboard_and_follows_updates() {
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let arn = leaderboard_tables(&ddb).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "leaderboard", "leaderboard").await;

    // Mistakes first.
    let e = client
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(format!("{arn}x"))
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    let e = client
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = client
        .create_event_source_mapping()
        .function_name("nobody")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    score(&ddb, "ada", "chess", 1200).await;
    let created = client
        .create_event_source_mapping()
        .function_name("arn:aws:lambda:us-east-1:000000000000:function:leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(10)
        .send()
        .await
        .expect("create the mapping");
    let uuid = created.uuid().unwrap().to_string();
    assert_eq!(created.batch_size(), Some(10));
    assert_eq!(created.event_source_arn(), Some(arn.as_str()));
    assert_eq!(created.function_arn(), Some("arn:aws:lambda:us-east-1:000000000000:function:leaderboard"));
    assert_eq!(created.starting_position().map(|p| p.as_str()), Some("TRIM_HORIZON"));
    // The change under way, as Lambda answers it; then where it settled.
    assert_eq!(created.state(), Some("Creating"));
    let got = client.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(got.state(), Some("Enabled"));
    let e = client
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceConflictException");

    // TRIM_HORIZON: the score written before the mapping counts too.
    score(&ddb, "ada", "chess", 1300).await;
    score(&ddb, "bob", "chess", 900).await;
    score(&ddb, "bob", "go", 50).await;
    eventually("the leaderboard totals", || {
        let ddb = ddb.clone();
        async move { (total(&ddb, "chess").await == Some(2200) && total(&ddb, "go").await == Some(50)).then_some(()) }
    })
    .await;

    let listed = client.list_event_source_mappings().function_name("leaderboard").send().await.unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);
    assert_eq!(listed.event_source_mappings()[0].uuid(), Some(uuid.as_str()));
    let by_arn = client.list_event_source_mappings().event_source_arn(&arn).send().await.unwrap();
    assert_eq!(by_arn.event_source_mappings().len(), 1);
    let none = client.list_event_source_mappings().function_name("echo").send().await.unwrap();
    assert!(none.event_source_mappings().is_empty());
    // A second mapping of the stream, to page through.
    create_raw(&client, "echo", "echo").await;
    let other = client
        .create_event_source_mapping()
        .function_name("echo")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::Latest)
        .enabled(false)
        .send()
        .await
        .unwrap();
    assert_eq!(other.state(), Some("Creating"));
    let got = client.get_event_source_mapping().uuid(other.uuid().unwrap()).send().await.unwrap();
    assert_eq!(got.state(), Some("Disabled"));
    let first = client.list_event_source_mappings().event_source_arn(&arn).max_items(1).send().await.unwrap();
    assert_eq!(first.event_source_mappings().len(), 1);
    let marker = first.next_marker().expect("a second page").to_string();
    let second = client.list_event_source_mappings().marker(marker).max_items(1).send().await.unwrap();
    assert_eq!(second.event_source_mappings().len(), 1);
    assert!(second.next_marker().is_none());
    let mut seen = [first.event_source_mappings()[0].uuid(), second.event_source_mappings()[0].uuid()];
    seen.sort();
    let mut want = [Some(uuid.as_str()), other.uuid()];
    want.sort();
    assert_eq!(seen, want);
    client.delete_event_source_mapping().uuid(other.uuid().unwrap()).send().await.unwrap();
    let got = eventually("a processing result", || {
        let client = client.clone();
        let uuid = uuid.clone();
        async move {
            let m = client.get_event_source_mapping().uuid(uuid).send().await.unwrap();
            (m.last_processing_result() == Some("OK")).then_some(m)
        }
    })
    .await;
    assert_eq!(got.batch_size(), Some(10));

    // Update: a filter that passes only go, and a smaller batch.
    let updated = client
        .update_event_source_mapping()
        .uuid(&uuid)
        .batch_size(5)
        .filter_criteria(
            FilterCriteria::builder()
                .filters(Filter::builder().pattern(r#"{"dynamodb":{"NewImage":{"game":{"S":["go"]}}}}"#).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.batch_size(), Some(5));
    assert_eq!(updated.state(), Some("Updating"));
    let got = client.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(got.batch_size(), Some(5));
    let patterns: Vec<&str> =
        got.filter_criteria().map(|f| f.filters().iter().filter_map(|f| f.pattern()).collect()).unwrap_or_default();
    assert_eq!(patterns, [r#"{"dynamodb":{"NewImage":{"game":{"S":["go"]}}}}"#]);
    // Both writes land in one shard (same player), chess first: once the go
    // change shows, the chess change was read and filtered out.
    score(&ddb, "cy", "chess", 5000).await;
    score(&ddb, "cy", "go", 70).await;
    eventually("the go total", || {
        let ddb = ddb.clone();
        async move { (total(&ddb, "go").await == Some(120)).then_some(()) }
    })
    .await;
    assert_eq!(total(&ddb, "chess").await, Some(2200), "the filter dropped the chess change");

    // Disabled: nothing is delivered; the state says so.
    let disabled = client.update_event_source_mapping().uuid(&uuid).enabled(false).send().await.unwrap();
    assert_eq!(disabled.state(), Some("Disabling"));
    let got = client.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(got.state(), Some("Disabled"));

    // The handler's log lines are kept too.
    let page = logs(&server.endpoint(), "leaderboard", "").await;
    let lines = messages(&page);
    assert!(lines.iter().any(|l| l == "[DEBUG]\tgo: +70"), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("REPORT RequestId: ")), "{lines:?}");

    let deleted = client.delete_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(deleted.state(), Some("Deleting"));
    let e = client.get_event_source_mapping().uuid(&uuid).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert!(client.list_event_source_mappings().send().await.unwrap().event_source_mappings().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_function_keeps_its_mappings() {
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let arn = leaderboard_tables(&ddb).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "leaderboard", "leaderboard").await;
    let m = client
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .unwrap();
    client.delete_function().function_name("leaderboard").send().await.unwrap();
    // As on AWS, the mapping stays; a function of that name picks it up again.
    let got = client.get_event_source_mapping().uuid(m.uuid().unwrap()).send().await.unwrap();
    assert_eq!(got.uuid(), m.uuid());
    create_raw(&client, "leaderboard", "leaderboard").await;
    score(&ddb, "ada", "chess", 10).await;
    eventually("the leaderboard total", || {
        let ddb = ddb.clone();
        async move { (total(&ddb, "chess").await == Some(10)).then_some(()) }
    })
    .await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_read_from_a_cursor_and_followed() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let ep = server.endpoint();
    let client = common::lambda_client(&ep);
    create_raw(&client, "misbehave", "misbehave").await;
    let empty = logs(&ep, "misbehave", "").await;
    assert!(messages(&empty).is_empty());

    let out = client
        .invoke()
        .function_name("misbehave")
        .payload(Blob::new(r#"{"action":"print","text":"one"}"#))
        .send()
        .await
        .unwrap();
    let id = out.request_id().expect("a request id").to_string();
    let page = logs(&ep, "misbehave", "").await;
    let lines = messages(&page);
    assert!(lines[0].starts_with("START RequestId: "), "{lines:?}");
    assert!(lines.contains(&"out: one".to_string()) && lines.contains(&"err: one".to_string()), "{lines:?}");
    let request_id = page["lines"][0]["requestId"].as_str().unwrap().to_string();
    assert_eq!(id, request_id, "the invoke's request id is the log's");
    assert!(page["lines"].as_array().unwrap().iter().all(|l| l["requestId"] == request_id.as_str()));
    let next = page["nextCursor"].as_u64().unwrap();

    // Nothing new after the cursor; tail picks the last lines.
    assert!(messages(&logs(&ep, "misbehave", &format!("since={next}")).await).is_empty());
    let tail = messages(&logs(&ep, "misbehave", "tail=1").await);
    assert_eq!(tail.len(), 1);
    assert!(tail[0].starts_with("REPORT "));

    // A long poll returns as soon as a line arrives.
    let ep2 = ep.clone();
    let follower = tokio::spawn(async move { logs(&ep2, "misbehave", &format!("since={next}&wait=10")).await });
    let c2 = client.clone();
    let invoker = tokio::spawn(async move {
        // Invoke until the follower has what it waited for (it may subscribe after the first).
        for _ in 0..100 {
            c2.invoke()
                .function_name("misbehave")
                .payload(Blob::new(r#"{"action":"print","text":"two"}"#))
                .send()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let page = tokio::time::timeout(PATIENCE, follower).await.expect("the long poll returns").unwrap();
    invoker.abort();
    let lines = messages(&page);
    assert!(lines.contains(&"out: two".to_string()), "{lines:?}");
    assert!(!lines.contains(&"out: one".to_string()), "{lines:?}");
    assert!(page["nextCursor"].as_u64().unwrap() > next);

    // Deleting the function forgets its logs.
    client.delete_function().function_name("misbehave").send().await.unwrap();
    let (status, _, _) = http(&ep, "GET", "/tidepool/logs/misbehave", b"").await;
    assert_eq!(status, 404);
    server.stop().await.unwrap();
}

/// As Lambda: CreateFunction answers `Pending` while the code compiles
/// (here at once: the server's wait is set to 0), GetFunction shows
/// `Pending` then `Active`, and the function runs once `Active`. Code that
/// fails after the answer leaves a `Failed` function that Invoke refuses
/// with ResourceConflictException and DeleteFunction removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_is_pending_until_its_code_compiles() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    let lambda = server.app.lambda.get().unwrap();
    lambda.active_wait_ms.store(0, std::sync::atomic::Ordering::Relaxed);

    let echo = example_bytes("echo");
    let created = create_code(&client, "slow", echo.clone()).send().await.unwrap();
    assert_eq!(created.state().map(|s| s.as_str()), Some("Pending"), "{created:?}");
    assert_eq!(created.state_reason_code().map(|s| s.as_str()), Some("Creating"));
    assert_eq!(created.last_update_status().map(|s| s.as_str()), Some("InProgress"));
    assert_eq!(created.code_size(), echo.len() as i64);
    assert!(created.code_sha256().is_some_and(|s| !s.is_empty()));
    let again = create_code(&client, "slow", echo.clone()).send().await.unwrap_err();
    assert_eq!(code(&again), "ResourceConflictException", "the name is taken while pending");
    let listed = client.list_functions().send().await.unwrap();
    assert!(listed.functions().iter().any(|f| f.function_name() == Some("slow")));
    wait_active(&client, "slow").await;
    let out = client.invoke().function_name("slow").payload(Blob::new("[1]")).send().await.unwrap();
    assert_eq!(out.payload().map(|p| p.as_ref()), Some(&b"[1]"[..]));
    let conf = client.get_function_configuration().function_name("slow").send().await.unwrap();
    assert_eq!(conf.last_update_status().map(|s| s.as_str()), Some("Successful"));
    assert_eq!(conf.code_sha256(), created.code_sha256());

    // UpdateFunctionCode: InProgress while the new code compiles, the old
    // code serving; then Successful with the new code, or Failed with the
    // old code still serving.
    let update = |bytes: Vec<u8>| client.update_function_code().function_name("slow").zip_file(Blob::new(bytes)).send();
    let status = || async {
        let c = client.get_function_configuration().function_name("slow").send().await.unwrap();
        (c.last_update_status().map(|s| s.as_str().to_string()), c)
    };
    let updating = update(example_bytes("partial-batch")).await.unwrap();
    assert_eq!(updating.last_update_status().map(|s| s.as_str()), Some("InProgress"), "{updating:?}");
    assert_eq!(updating.state().map(|s| s.as_str()), Some("Active"));
    let updated = eventually("the update to finish", || async {
        let (s, c) = status().await;
        (s.as_deref() == Some("Successful")).then_some(c)
    })
    .await;
    assert_ne!(updated.code_sha256(), created.code_sha256(), "the new code");
    let updating = update(b"\0asm\x0d\0\x01\0".to_vec()).await.unwrap();
    assert_eq!(updating.last_update_status().map(|s| s.as_str()), Some("InProgress"));
    let failed = eventually("the bad update to fail", || async {
        let (s, c) = status().await;
        (s.as_deref() == Some("Failed")).then_some(c)
    })
    .await;
    assert!(failed.last_update_status_reason().is_some_and(|r| !r.is_empty()), "{failed:?}");
    assert_eq!(failed.code_sha256(), updated.code_sha256(), "the previous code stays");
    client.invoke().function_name("slow").payload(Blob::new("{}")).send().await.expect("the previous code serves");

    // An empty component compiles but exports no handler: the answer came
    // first, so the function fails after it.
    let core_module = b"\0asm\x0d\0\x01\0".to_vec();
    let created = create_code(&client, "broken", core_module).send().await.unwrap();
    assert_eq!(created.state().map(|s| s.as_str()), Some("Pending"));
    let failed = eventually("broken Failed", || async {
        let c = client.get_function_configuration().function_name("broken").send().await.unwrap();
        (c.state() == Some(&aws_sdk_lambda::types::State::Failed)).then_some(c)
    })
    .await;
    assert!(failed.state_reason().is_some_and(|r| r.contains("handle")), "{failed:?}");
    assert_eq!(failed.last_update_status().map(|s| s.as_str()), Some("Failed"));
    let e = client.invoke().function_name("broken").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceConflictException", "{e:?}");
    client.delete_function().function_name("broken").send().await.unwrap();
    let e = client.get_function().function_name("broken").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    // With the default wait, a small component answers Active.
    lambda.active_wait_ms.store(10_000, std::sync::atomic::Ordering::Relaxed);
    let created = create_code(&client, "quick", example_bytes("partial-batch")).send().await.unwrap();
    assert_eq!(created.state().map(|s| s.as_str()), Some("Active"));
}

/// Tags on functions (CreateFunction's Tags, TagResource, UntagResource,
/// ListTags, GetFunction's Tags) and GetAccountSettings, through the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_take_tags_and_the_account_has_settings() {
    let Harness { server, dir: _dir, .. } = harness().await;
    let client = common::lambda_client(&server.endpoint());
    let made = client
        .create_function()
        .function_name("tagged")
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(example_bytes("echo"))).build())
        .tags("team", "data")
        .send()
        .await
        .unwrap();
    let arn = made.function_arn().unwrap().to_string();
    let tags = |t: Option<&std::collections::HashMap<String, String>>| {
        let mut v: Vec<(String, String)> = t.cloned().unwrap_or_default().into_iter().collect();
        v.sort();
        v
    };
    let listed = client.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(tags(listed.tags()), [("team".to_string(), "data".to_string())]);
    client.tag_resource().resource(&arn).tags("env", "dev").tags("team", "ml").send().await.unwrap();
    let got = client.get_function().function_name("tagged").send().await.unwrap();
    assert_eq!(tags(got.tags()), [("env".into(), "dev".into()), ("team".into(), "ml".into())]);
    client.untag_resource().resource(&arn).tag_keys("env").send().await.unwrap();
    let listed = client.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(tags(listed.tags()), [("team".to_string(), "ml".to_string())]);

    let e = client.tag_resource().resource(&arn).tags("aws:owner", "x").send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException");
    let missing = arn.replace("tagged", "nobody");
    let e = client.list_tags().resource(&missing).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let mut many = client.tag_resource().resource(&arn);
    for i in 0..50 {
        many = many.tags(format!("k{i}"), "v");
    }
    let e = many.send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidParameterValueException", "51 tags with the one there");

    let settings = client.get_account_settings().send().await.unwrap();
    let limit = settings.account_limit().unwrap();
    assert_eq!(limit.concurrent_executions(), 1000);
    assert_eq!(limit.code_size_unzipped(), 262_144_000);
    let usage = settings.account_usage().unwrap();
    assert_eq!(usage.function_count(), 1);
    assert!(usage.total_code_size() > 0);
    server.stop().await.unwrap();
}

/// PublishVersion, ListVersionsByFunction, aliases with weighted routing,
/// qualified Invoke/GetFunction/DeleteFunction, and all of it after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_in(dir.path(), tidepool_store::Durability::default()).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "vers", "echo").await;

    // Version 1 is the echo code; publishing again with nothing changed
    // answers version 1 again.
    let v1 = client.publish_version().function_name("vers").send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert!(v1.function_arn().unwrap().ends_with(":function:vers:1"), "{:?}", v1.function_arn());
    let again = client.publish_version().function_name("vers").send().await.unwrap();
    assert_eq!(again.version(), Some("1"));
    // A CodeSha256 that is not $LATEST's is refused.
    let err = client.publish_version().function_name("vers").code_sha256("AAAA").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");

    // Version 2 is the misbehave code.
    client
        .update_function_code()
        .function_name("vers")
        .zip_file(Blob::new(example_bytes("misbehave")))
        .send()
        .await
        .unwrap();
    let v2 = client.publish_version().function_name("vers").description("second").send().await.unwrap();
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.description(), Some("second"));
    let versions = client.list_versions_by_function().function_name("vers").send().await.unwrap();
    let labels: Vec<_> = versions.versions().iter().filter_map(|v| v.version()).collect();
    assert_eq!(labels, ["$LATEST", "1", "2"]);
    let page = client.list_versions_by_function().function_name("vers").max_items(2).send().await.unwrap();
    assert_eq!(page.versions().len(), 2);
    assert_eq!(page.next_marker(), Some("2"));

    // A qualifier picks the code that runs, and the executed version says so.
    let echo_payload = r#"{"action":"nonsense"}"#;
    let out =
        client.invoke().function_name("vers").qualifier("1").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    assert!(out.function_error().is_none());
    assert_eq!(out.payload().unwrap().as_ref(), echo_payload.as_bytes());
    let out = client.invoke().function_name("vers:2").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("2"));
    assert_eq!(out.function_error(), Some("Handled"));
    let err = client.invoke().function_name("vers").qualifier("7").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = client.invoke().function_name("vers:1").qualifier("2").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    let got = client.get_function().function_name("vers").qualifier("1").send().await.unwrap();
    assert_eq!(got.configuration().unwrap().version(), Some("1"));
    let latest = client.get_function_configuration().function_name("vers").send().await.unwrap();
    assert_eq!(latest.version(), Some("$LATEST"));
    assert_ne!(latest.code_sha256(), v1.code_sha256());

    // Aliases.
    let live = client.create_alias().function_name("vers").name("live").function_version("1").send().await.unwrap();
    assert!(live.alias_arn().unwrap().ends_with(":function:vers:live"));
    assert_eq!(live.function_version(), Some("1"));
    let out = client.invoke().function_name("vers:live").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    let err = client.create_alias().function_name("vers").name("live").function_version("2").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceConflictException");
    let err = client.create_alias().function_name("vers").name("gone").function_version("9").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = client.create_alias().function_name("vers").name("123").function_version("1").send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = client.get_alias().function_name("vers").name("nope").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // The alias moves; a stale RevisionId is refused.
    let err = client
        .update_alias()
        .function_name("vers")
        .name("live")
        .function_version("2")
        .revision_id("stale")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "PreconditionFailedException");
    let moved = client.update_alias().function_name("vers").name("live").function_version("2").send().await.unwrap();
    assert_eq!(moved.function_version(), Some("2"));
    let out =
        client.invoke().function_name("vers").qualifier("live").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("2"));

    // Weighted routing: all of the share to version 1, then none.
    let routed =
        |w: f64| aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("1", w).build();
    client.update_alias().function_name("vers").name("live").routing_config(routed(1.0)).send().await.unwrap();
    for _ in 0..5 {
        let out = client.invoke().function_name("vers:live").payload(Blob::new(echo_payload)).send().await.unwrap();
        assert_eq!(out.executed_version(), Some("1"));
    }
    client.update_alias().function_name("vers").name("live").routing_config(routed(0.0)).send().await.unwrap();
    let out = client.invoke().function_name("vers:live").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("2"));
    let err =
        client.update_alias().function_name("vers").name("live").routing_config(routed(1.5)).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    client.create_alias().function_name("vers").name("canary").function_version("$LATEST").send().await.unwrap();
    let aliases = client.list_aliases().function_name("vers").send().await.unwrap();
    let names: Vec<_> = aliases.aliases().iter().filter_map(|a| a.name()).collect();
    assert_eq!(names, ["canary", "live"]);
    let only = client.list_aliases().function_name("vers").function_version("2").send().await.unwrap();
    assert_eq!(only.aliases().len(), 1);

    // A version an alias names is kept; $LATEST cannot be deleted alone.
    let err = client.delete_function().function_name("vers").qualifier("2").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceConflictException");
    let err = client.delete_function().function_name("vers").qualifier("$LATEST").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");

    // Everything survives a restart.
    server.stop().await.unwrap();
    let server = common::start_in(dir.path(), tidepool_store::Durability::default()).await;
    let client = common::lambda_client(&server.endpoint());
    let live = client.get_alias().function_name("vers").name("live").send().await.unwrap();
    assert_eq!(live.function_version(), Some("2"));
    let out = client.invoke().function_name("vers:1").payload(Blob::new(echo_payload)).send().await.unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    assert!(out.function_error().is_none());

    // Version numbers are never reused.
    client.delete_alias().function_name("vers").name("live").send().await.unwrap();
    client.delete_alias().function_name("vers").name("live").send().await.unwrap();
    client.delete_function().function_name("vers").qualifier("2").send().await.unwrap();
    let err = client.invoke().function_name("vers:2").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    client.update_function_configuration().function_name("vers").timeout(5).send().await.unwrap();
    let v3 = client.publish_version().function_name("vers").send().await.unwrap();
    assert_eq!(v3.version(), Some("3"));
    assert_eq!(v3.timeout(), Some(5));

    // Operations on $LATEST alone refuse another qualifier; a version is
    // written as Lambda writes it.
    let err = client
        .put_function_concurrency()
        .function_name("vers:3")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = client.invoke().function_name("vers:03").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // An alias on $LATEST takes no routing weights, whichever member moves it there.
    client
        .create_alias()
        .function_name("vers")
        .name("split")
        .function_version("3")
        .routing_config(routed(0.5))
        .send()
        .await
        .unwrap();
    let err =
        client.update_alias().function_name("vers").name("split").function_version("$LATEST").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    client.delete_alias().function_name("vers").name("split").send().await.unwrap();

    // Deleting the function deletes its versions and aliases; `Publish`
    // makes version 1 at once.
    client.delete_function().function_name("vers").send().await.unwrap();
    let created = client
        .create_function()
        .function_name("vers")
        .runtime(Runtime::from("wasm32-wasip2"))
        .role(ROLE)
        .code(FunctionCode::builder().zip_file(Blob::new(example_bytes("echo"))).build())
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(created.version(), Some("1"));
    let versions = client.list_versions_by_function().function_name("vers").send().await.unwrap();
    assert_eq!(versions.versions().len(), 2);
    assert!(client.list_aliases().function_name("vers").send().await.unwrap().aliases().is_empty());
}

/// A mapping on an alias ARN invokes the version the alias names at each
/// batch, so it follows the alias when the alias moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_on_an_alias_follows_the_alias() {
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let arn = leaderboard_tables(&ddb).await;
    let client = common::lambda_client(&server.endpoint());
    // Version 1 only echoes; version 2 is the leaderboard.
    create_raw(&client, "board", "echo").await;
    client.publish_version().function_name("board").send().await.unwrap();
    client
        .update_function_code()
        .function_name("board")
        .zip_file(Blob::new(example_bytes("leaderboard")))
        .send()
        .await
        .unwrap();
    client.publish_version().function_name("board").send().await.unwrap();
    client.create_alias().function_name("board").name("live").function_version("1").send().await.unwrap();
    let mapping = client
        .create_event_source_mapping()
        .function_name("board:live")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(1)
        .send()
        .await
        .unwrap();
    assert!(mapping.function_arn().unwrap().ends_with(":function:board:live"), "{:?}", mapping.function_arn());

    score(&ddb, "ann", "chess", 5).await;
    let endpoint = server.endpoint();
    eventually("version 1 to take the first record", || {
        let endpoint = endpoint.clone();
        async move { (!messages(&logs(&endpoint, "board", "").await).is_empty()).then_some(()) }
    })
    .await;
    assert_eq!(total(&ddb, "chess").await, None, "version 1 writes nothing");

    client.update_alias().function_name("board").name("live").function_version("2").send().await.unwrap();
    score(&ddb, "bob", "chess", 7).await;
    let t = eventually("version 2 to count the second record", || {
        let ddb = ddb.clone();
        async move { total(&ddb, "chess").await }
    })
    .await;
    assert_eq!(t, 7, "only the record after the alias moved reached the leaderboard");
}

/// A mapping on a published version: its on-failure destination record
/// names the version that ran (`responseContext.executedVersion`). A
/// destination table that does not exist is refused when it is set (create
/// or update), naming it; one deleted later holds the shard, and a discard
/// counts once, when its record is written, however often it was tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_on_a_version_names_it_in_failure_records() {
    use aws_sdk_lambda::types::{DestinationConfig, OnFailure};
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let arn = leaderboard_tables(&ddb).await;
    common::create_table(&ddb, "Outcomes", None).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "fails", "always-fail").await;
    client.publish_version().function_name("fails").send().await.unwrap();
    let to = |table: &str| {
        let failure =
            OnFailure::builder().destination(format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}"));
        DestinationConfig::builder().on_failure(failure.build()).build()
    };
    let create = |table: &str| {
        client
            .create_event_source_mapping()
            .function_name("fails:1")
            .event_source_arn(&arn)
            .starting_position(EventSourcePosition::TrimHorizon)
            .batch_size(1)
            .maximum_retry_attempts(0)
            .destination_config(to(table))
            .send()
    };
    let refused = |err: &dyn ProvideErrorMetadata| (err.code().map(str::to_string), err.message().map(str::to_string));
    let err = create("Missing").await.unwrap_err();
    let (code, message) = refused(err.as_service_error().unwrap());
    assert_eq!(code.as_deref(), Some("InvalidParameterValueException"), "{message:?}");
    assert!(message.as_deref().is_some_and(|m| m.contains("table Missing does not exist")), "{message:?}");
    assert!(client.list_event_source_mappings().send().await.unwrap().event_source_mappings().is_empty());
    let uuid = create("Outcomes").await.unwrap().uuid.unwrap();
    let err = client.update_event_source_mapping().uuid(&uuid).destination_config(to("Missing")).send().await;
    let (code, message) = refused(err.as_ref().unwrap_err().as_service_error().unwrap());
    assert_eq!(code.as_deref(), Some("InvalidParameterValueException"), "{message:?}");
    assert!(message.as_deref().is_some_and(|m| m.contains("table Missing does not exist")), "{message:?}");

    score(&ddb, "ann", "chess", 5).await;
    let failure_records = |ddb: aws_sdk_dynamodb::Client| async move {
        let items = ddb.scan().table_name("Outcomes").send().await.unwrap();
        let records: Vec<Value> = items
            .items()
            .iter()
            .filter_map(|i| match i.get("payload") {
                Some(AttributeValue::S(json)) => Some(serde_json::from_str::<Value>(json).unwrap()),
                _ => None,
            })
            .collect();
        records
    };
    let record = eventually("the failure record", || {
        let ddb = ddb.clone();
        async move { failure_records(ddb).await.pop() }
    })
    .await;
    assert_eq!(record["responseContext"]["executedVersion"], "1", "{record}");
    assert!(record["requestContext"]["functionArn"].as_str().unwrap().ends_with(":function:fails:1"), "{record}");

    let engine = &server.app.lambda.get().unwrap().engine;
    let total = || engine.metrics(&uuid).unwrap().total;
    let counted = |n: u64| {
        let t = total();
        ((t.dropped, t.sent_to_destination) == (n, n)).then_some(())
    };
    eventually("one record given up", || async { counted(1) }).await;
    // The destination goes: the next discard cannot be written, and the
    // mapping tries again (each time invoking the batch) without counting it.
    ddb.delete_table().table_name("Outcomes").send().await.unwrap();
    let before = total().invocations;
    score(&ddb, "bob", "chess", 7).await;
    eventually("the problem shown and the batch tried again", || async {
        let m = client.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
        let result = m.last_processing_result().unwrap_or_default();
        let problem =
            result.starts_with("PROBLEM: on-failure destination") && result.contains("table Outcomes does not exist");
        (problem && total().invocations >= before + 3).then_some(())
    })
    .await;
    let t = total();
    assert_eq!((t.dropped, t.sent_to_destination), (1, 1), "{t:?}");
    // Back: the discard is written, and counted once.
    common::create_table(&ddb, "Outcomes", None).await;
    let record = eventually("the second failure record", || {
        let ddb = ddb.clone();
        async move { failure_records(ddb).await.pop() }
    })
    .await;
    assert!(record["requestContext"]["approximateInvokeCount"].as_u64() >= Some(1), "{record}");
    eventually("two records given up", || async { counted(2) }).await;
    let t = total();
    assert!(t.invocations >= before + 3, "{t:?}");
}

/// Event invoke configs: retry attempts, and OnSuccess / OnFailure
/// destinations to a table and to another function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_invoke_configs_send_outcomes_to_destinations() {
    use aws_sdk_lambda::types::{DestinationConfig, OnFailure, OnSuccess};
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    common::create_table(&ddb, "Outcomes", None).await;
    let table_arn = "arn:aws:dynamodb:us-east-1:000000000000:table/Outcomes";
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "ok", "echo").await;
    create_raw(&client, "collector", "echo").await;
    create_raw(&client, "bad", "misbehave").await;
    let fn_arn = |name: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{name}");
    let to = |success: Option<String>, failure: Option<String>| {
        DestinationConfig::builder()
            .set_on_success(success.map(|d| OnSuccess::builder().destination(d).build()))
            .set_on_failure(failure.map(|d| OnFailure::builder().destination(d).build()))
            .build()
    };

    // Mistakes first.
    let err = client.get_function_event_invoke_config().function_name("ok").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let put_ok = || client.put_function_event_invoke_config().function_name("ok");
    let err = put_ok().maximum_retry_attempts(3).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = put_ok().maximum_event_age_in_seconds(59).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let sqs = Some("arn:aws:sqs:us-east-1:000000000000:q".to_string());
    let err = put_ok().destination_config(to(sqs, None)).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    let err = put_ok().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException", "a config with nothing in it");
    let err = put_ok().destination_config(to(Some(fn_arn("ok")), None)).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException", "a function as its own destination");
    let err = put_ok().destination_config(to(None, Some(fn_arn("nobody")))).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException", "a destination function that does not exist");
    let missing = Some("arn:aws:dynamodb:us-east-1:000000000000:table/Missing".to_string());
    let err = put_ok().destination_config(to(missing, None)).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException", "a destination table that does not exist");
    let message = err.as_service_error().and_then(|e| e.message()).unwrap_or_default();
    assert!(message.contains("table Missing does not exist"), "{message}");
    let err = client
        .put_function_event_invoke_config()
        .function_name("nobody")
        .maximum_retry_attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    // ok → (success) collector → (success) the table.
    let put = client
        .put_function_event_invoke_config()
        .function_name("ok")
        .maximum_event_age_in_seconds(3600)
        .destination_config(to(Some(fn_arn("collector")), None))
        .send()
        .await
        .unwrap();
    assert!(put.function_arn().unwrap().ends_with(":function:ok:$LATEST"), "{:?}", put.function_arn());
    assert_eq!(put.maximum_event_age_in_seconds(), Some(3600));
    assert_eq!(put.maximum_retry_attempts(), None);
    client
        .put_function_event_invoke_config()
        .function_name("collector")
        .destination_config(to(Some(table_arn.into()), None))
        .send()
        .await
        .unwrap();
    // bad fails once (no retries) → the table.
    client
        .put_function_event_invoke_config()
        .function_name("bad")
        .maximum_retry_attempts(2)
        .destination_config(to(None, Some(table_arn.into())))
        .send()
        .await
        .unwrap();
    let updated = client
        .update_function_event_invoke_config()
        .function_name("bad")
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.maximum_retry_attempts(), Some(0));
    assert_eq!(
        updated.destination_config().and_then(|d| d.on_failure()).and_then(|f| f.destination()),
        Some(table_arn),
        "an update keeps the members it leaves out"
    );
    let listed = client.list_function_event_invoke_configs().function_name("bad").send().await.unwrap();
    assert_eq!(listed.function_event_invoke_configs().len(), 1);

    let invoke = |name: &'static str, payload: Value| {
        let client = client.clone();
        async move {
            let out = client
                .invoke()
                .function_name(name)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload.to_string()))
                .send()
                .await
                .unwrap();
            out.request_id().unwrap().to_string()
        }
    };
    let record = |id: String| {
        let ddb = ddb.clone();
        async move {
            let got = ddb.get_item().table_name("Outcomes").key("pk", s(&id)).send().await.unwrap();
            match got.item().and_then(|i| i.get("payload")) {
                Some(AttributeValue::S(json)) => Some(serde_json::from_str::<Value>(json).unwrap()),
                _ => None,
            }
        }
    };

    let failed_id = invoke("bad", json!({"action": "nonsense"})).await;
    let failed = eventually("bad's failure record", || record(failed_id.clone())).await;
    assert_eq!(failed["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(failed["requestContext"]["approximateInvokeCount"], 1);
    assert!(failed["requestContext"]["functionArn"].as_str().unwrap().ends_with(":function:bad:$LATEST"));
    assert_eq!(failed["requestPayload"]["action"], "nonsense");
    assert_eq!(failed["responseContext"]["functionError"], "Handled");
    assert_eq!(failed["responsePayload"]["errorType"], "UnknownAction");

    invoke("ok", json!({"hello": "world"})).await;
    // collector's own success record names the record ok's success sent it.
    let chained = eventually("collector's success record", || {
        let ddb = ddb.clone();
        async move {
            let items = ddb.scan().table_name("Outcomes").send().await.unwrap();
            items.items().iter().find_map(|i| match i.get("payload") {
                Some(AttributeValue::S(json)) => {
                    let v: Value = serde_json::from_str(json).unwrap();
                    v["requestContext"]["functionArn"].as_str().unwrap().ends_with(":collector:$LATEST").then_some(v)
                }
                _ => None,
            })
        }
    })
    .await;
    assert_eq!(chained["requestContext"]["condition"], "Success");
    let inner = &chained["requestPayload"];
    assert_eq!(inner["requestContext"]["condition"], "Success");
    assert!(inner["requestContext"]["functionArn"].as_str().unwrap().ends_with(":function:ok:$LATEST"));
    assert_eq!(inner["requestPayload"]["hello"], "world");
    assert_eq!(inner["responsePayload"]["hello"], "world");

    client.delete_function_event_invoke_config().function_name("bad").send().await.unwrap();
    let err = client.get_function_event_invoke_config().function_name("bad").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

/// A mapping whose function's reserved concurrency is 0 waits, and resumes
/// when the limit is removed, without touching the mapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_resumes_when_reserved_concurrency_leaves_zero() {
    let Harness { server, client: ddb, dir: _dir } = harness().await;
    let arn = leaderboard_tables(&ddb).await;
    let client = common::lambda_client(&server.endpoint());
    create_raw(&client, "leaderboard", "leaderboard").await;
    client
        .put_function_concurrency()
        .function_name("leaderboard")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let mapping = client
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .unwrap();
    assert_eq!(mapping.state_transition_reason(), Some("User action"));
    score(&ddb, "ann", "chess", 5).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(total(&ddb, "chess").await, None, "throttled at 0");

    client.delete_function_concurrency().function_name("leaderboard").send().await.unwrap();
    let t = eventually("the held batch to run", || {
        let ddb = ddb.clone();
        async move { total(&ddb, "chess").await }
    })
    .await;
    assert_eq!(t, 5);
    let now = client.get_event_source_mapping().uuid(mapping.uuid().unwrap()).send().await.unwrap();
    assert_eq!(now.state().map(|s| s.to_string()), Some("Enabled".to_string()));
}

/// A handler's AWS SDK (`examples/leaderboard-sdk`, over `wasi:http`) reaches
/// the server's own endpoint, which the host hands it and serves in process,
/// and no other address unless its function allows that host: then the
/// request goes out over a socket, here to a second server.
#[tokio::test]
async fn a_handler_reaches_only_its_server_unless_a_host_is_allowed() {
    let h = harness().await;
    let other = harness().await;
    for c in [&h.client, &other.client] {
        create_leaderboard(c).await;
    }
    let lambda = common::lambda_client(&h.server.endpoint());
    create_raw(&lambda, "sdk", "leaderboard-sdk").await;
    let event = json!({"Records": [{
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"game": {"S": "g"}}, "NewImage": {"game": {"S": "g"}, "score": {"N": "5"}}},
    }]});
    let total = |c: &aws_sdk_dynamodb::Client| {
        let get = c.get_item().table_name("Leaderboard").key("game", s("g")).consistent_read(true).send();
        async move { get.await.unwrap().item.and_then(|i| i.get("total").cloned()) }
    };
    let invoke = || {
        let call = lambda.invoke().function_name("sdk").log_type(LogType::Tail).payload(Blob::new(event.to_string()));
        async move {
            let out = call.send().await.unwrap();
            let logs = base64::engine::general_purpose::STANDARD.decode(out.log_result().unwrap_or_default()).unwrap();
            let payload = String::from_utf8_lossy(out.payload().unwrap().as_ref()).into_owned();
            (out.function_error().map(str::to_string), payload, String::from_utf8_lossy(&logs).into_owned())
        }
    };
    let set_environment = |vars: Vec<(&str, String)>| {
        let mut env = Environment::builder();
        for (k, v) in vars {
            env = env.variables(k, v);
        }
        lambda.update_function_configuration().function_name("sdk").environment(env.build()).send()
    };

    // By default the SDK's endpoint is the server's own, served in process.
    let (error, payload, _) = invoke().await;
    assert_eq!(error, None, "{payload}");
    assert_eq!(total(&h.client).await, Some(n(5)));

    // Pointed at another address, the request is refused before any socket.
    let other_endpoint = other.server.endpoint();
    set_environment(vec![("AWS_ENDPOINT_URL", other_endpoint.clone())]).await.unwrap();
    let (error, payload, logs) = invoke().await;
    assert!(error.is_some(), "{payload}");
    assert!(payload.contains("HttpRequestDenied"), "the SDK's error names the refusal: {payload}");
    assert!(logs.contains("refused"), "the log says why: {logs}");
    assert!(logs.contains("TIDEPOOL_ALLOWED_HOSTS"), "and how to allow it: {logs}");
    assert_eq!(total(&other.client).await, None, "nothing reached the other server");

    // Allowed, it goes out over a socket to that server.
    let authority = other_endpoint.trim_start_matches("http://").to_string();
    set_environment(vec![("AWS_ENDPOINT_URL", other_endpoint), ("TIDEPOOL_ALLOWED_HOSTS", authority)]).await.unwrap();
    let (error, payload, _) = invoke().await;
    assert_eq!(error, None, "{payload}");
    assert_eq!(total(&other.client).await, Some(n(5)));
    assert_eq!(total(&h.client).await, Some(n(5)), "and not to its own");
}

/// Function URLs: the config API through `aws-sdk-lambda`, and the URL
/// itself called with a plain HTTP client, by host name and by path: the
/// function gets Lambda's payload format 2.0 event, its result comes back as
/// the HTTP response, CORS preflights are answered from the config, and a
/// deleted URL is forbidden.
#[tokio::test]
async fn function_urls_invoke_the_function_with_the_http_event() {
    use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType};
    let h = harness().await;
    let lambda = common::lambda_client(&h.server.endpoint());
    create_raw(&lambda, "web", "echo").await;
    let cors = Cors::builder().allow_origins("https://app.example").allow_methods("POST").max_age(60).build();
    let created = lambda
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::None)
        .cors(cors)
        .send()
        .await
        .unwrap();
    let url = created.function_url().to_string();
    let addr = h.server.addr.to_string();
    let port = h.server.addr.port();
    assert!(url.starts_with("http://") && url.ends_with(&format!(".lambda-url.us-east-1.localhost:{port}/")), "{url}");
    let url_id = url.trim_start_matches("http://").split('.').next().unwrap().to_string();
    assert_eq!(url_id.len(), 32);
    assert!(created.function_arn().ends_with(":function:web"));
    let again = lambda.create_function_url_config().function_name("web").auth_type(FunctionUrlAuthType::None).send();
    assert_eq!(code(&again.await.unwrap_err()), "ResourceConflictException");
    let got = lambda.get_function_url_config().function_name("web").send().await.unwrap();
    assert_eq!(got.function_url(), url);
    assert_eq!(got.cors().unwrap().allow_origins(), ["https://app.example"]);
    let listed = lambda.list_function_url_configs().function_name("web").send().await.unwrap();
    assert_eq!(listed.function_url_configs().len(), 1);

    // By host name: the event as Lambda builds it, echoed back as a 200 JSON body.
    let host = format!("{url_id}.lambda-url.us-east-1.localhost:{port}");
    let headers = [
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
        ("Cookie", "s=1; t=2"),
        ("User-Agent", "plain/1.0"),
    ];
    let a = common::http::send(&addr, "POST", "/items/7?a=1&a=2&b=x%20y", &headers, br#"{"k":"v"}"#).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let event: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["rawPath"], "/items/7");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=x%20y");
    assert_eq!(event["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
    assert_eq!(event["cookies"], json!(["s=1", "t=2"]));
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["body"], r#"{"k":"v"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    let context = &event["requestContext"];
    assert_eq!(context["http"]["method"], "POST");
    assert_eq!(context["http"]["path"], "/items/7");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["http"]["userAgent"], "plain/1.0");
    assert_eq!(context["domainPrefix"], url_id.as_str());
    assert_eq!(context["accountId"], "anonymous");

    // By path, for clients that cannot resolve the name; a binary body is base64.
    let path = format!("/lambda-url/{url_id}/raw");
    let binary = [("Content-Type", "application/octet-stream")];
    let a = common::http::send(&addr, "PUT", &path, &binary, &[0, 159, 146, 150]).await;
    assert_eq!(a.status, 200);
    let event: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(event["rawPath"], "/raw");
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "AJ+Slg==");

    // CORS: a preflight from an allowed origin is answered from the config.
    let preflight = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")];
    let a = common::http::send(&addr, "OPTIONS", &path, &preflight, b"").await;
    assert_eq!(a.status, 200);
    let header = |a: &common::http::Answer, name: &str| {
        a.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    assert_eq!(header(&a, "access-control-allow-origin").as_deref(), Some("https://app.example"));
    assert_eq!(header(&a, "access-control-allow-methods").as_deref(), Some("POST"));
    assert_eq!(header(&a, "access-control-max-age").as_deref(), Some("60"));
    let elsewhere = [("Origin", "https://other.example"), ("Access-Control-Request-Method", "POST")];
    let a = common::http::send(&addr, "OPTIONS", &path, &elsewhere, b"").await;
    assert_eq!(header(&a, "access-control-allow-origin"), None);

    // Updated, then deleted: the URL is forbidden and the config gone.
    let updated = lambda
        .update_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.auth_type(), &FunctionUrlAuthType::AwsIam);
    assert_eq!(updated.function_url(), url, "a URL never changes");
    lambda.delete_function_url_config().function_name("web").send().await.unwrap();
    let a = common::http::send(&addr, "GET", &path, &[], b"").await;
    assert_eq!(a.status, 403);
    let gone = lambda.get_function_url_config().function_name("web").send().await.unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
}
