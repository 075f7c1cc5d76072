//! Shared set-up for end-to-end tests: a real server on port 0 over a real
//! fjall store in a temporary directory, driven by the official AWS SDK.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

pub mod http;
pub mod tools;
pub mod webdriver;

use std::path::Path;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType};
use tidepool::{Server, ServerConfig};
use tidepool_store::Durability;

/// Starts a server on 127.0.0.1:0 over `dir`.
pub async fn start_in(dir: &Path, durability: Durability) -> Server {
    start_with(dir, ServerConfig { durability, ..ServerConfig::default() }).await
}

/// Starts a server with `config` on 127.0.0.1:0 over `dir`.
pub async fn start_with(dir: &Path, config: ServerConfig) -> Server {
    tidepool::start(ServerConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        data_dir: Some(dir.to_path_buf()),
        ..config
    })
    .await
    .expect("start server")
}

/// A DynamoDB Streams SDK client for `endpoint` with dummy credentials.
pub fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .http_client(http)
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// An SDK client for `endpoint` with dummy credentials.
pub fn client(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// [`client`] without retries: the error a request met, as it was (a
/// write to a region that is down fails at once, a retryable refusal is
/// seen).
pub fn client_without_retries(endpoint: &str) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

/// A server in a fresh temporary directory, with a client.
pub struct Harness {
    pub server: Server,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub async fn harness() -> Harness {
    harness_with(ServerConfig::default()).await
}

/// [`harness`] with a server of `config`.
pub async fn harness_with(config: ServerConfig) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_with(dir.path(), config).await;
    let client = client(&server.endpoint());
    Harness { server, client, dir }
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key_elem(name: &str, kt: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kt).build().expect("key element")
}

/// A stream that carries both images.
pub fn new_and_old_images() -> aws_sdk_dynamodb::types::StreamSpecification {
    aws_sdk_dynamodb::types::StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
        .build()
        .expect("a stream specification")
}

/// Waits (up to 10 s) until table `name` is `ACTIVE` (a restore's target).
pub async fn until_active(client: &Client, name: &str) {
    for _ in 0..500 {
        let d = client.describe_table().table_name(name).send().await.expect("describe the table");
        if d.table().and_then(|t| t.table_status()) == Some(&aws_sdk_dynamodb::types::TableStatus::Active) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{name} did not become ACTIVE");
}

pub fn attr_def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(t).build().expect("attribute definition")
}

/// Creates a pay-per-request table with a string partition key `pk` and,
/// when `sort` is given, a sort key `sk` of that type.
pub async fn create_table(client: &Client, name: &str, sort: Option<ScalarAttributeType>) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S));
    if let Some(t) = sort {
        req = req.key_schema(key_elem("sk", KeyType::Range)).attribute_definitions(attr_def("sk", t));
    }
    req.send().await.expect("create table");
}

/// Creates function `name` from the example component of that name, and
/// waits until it is `Active`, as the SDKs' `FunctionActiveV2` waiter does
/// (CreateFunction answers `Pending` while a loaded machine compiles it).
pub async fn create_example_function(lambda: &aws_sdk_lambda::Client, name: &str) {
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
        .role("arn:aws:iam::000000000000:role/tidepool")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tidepool_runtime::examples::example_bytes(name)))
                .build(),
        )
        .send()
        .await
        .expect("create the function");
    let start = std::time::Instant::now();
    loop {
        let c = lambda.get_function_configuration().function_name(name).send().await.expect("the function");
        if c.state() == Some(&aws_sdk_lambda::types::State::Active) {
            return;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "{name} did not become Active: {c:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The error code the SDK parsed from a failed call.
pub fn code<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()).map(str::to_string).unwrap_or_else(|| "<not a service error>".into())
}

/// Starts the built `tidepool serve --port 0 <args>` as a child process (so a
/// test can SIGKILL it); returns it and its endpoint, read from the line it
/// prints once listening.
pub fn spawn_server(args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--port", "0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tidepool");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let endpoint = line.trim().rsplit(' ').next().expect("endpoint on the line").to_string();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("https://127.0.0.1:"),
        "unexpected line {line:?}"
    );
    (child, endpoint)
}

/// An `aws-sdk-lambda` client for the server at `endpoint`, with any credentials.
pub fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// `/metrics` scraped and parsed by the Prometheus client library's text
/// parser: every sample as `name{labels as sorted JSON}` → value, and each
/// family as `TYPE <name> <type>` → 1.
pub async fn scrape(endpoint: &str) -> std::collections::HashMap<String, f64> {
    let py = tools::python_with_prometheus_client();
    let script = format!(
        r#"
import json, urllib.request
from prometheus_client.parser import text_string_to_metric_families
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
text = opener.open("{endpoint}/metrics").read().decode()
out = {{}}
for family in text_string_to_metric_families(text):
    out["TYPE " + family.name + " " + family.type] = 1.0
    for s in family.samples:
        out[s.name + json.dumps(s.labels, sort_keys=True, separators=(",", ":"))] = s.value
print(json.dumps(out))
"#
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py).arg("-c").arg(script).output().expect("run python")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("samples")
}

/// Waits until index `index` of `table` is `ACTIVE` (an index UpdateTable
/// adds is `CREATING` while it is filled, as in DynamoDB).
pub async fn wait_index_active(c: &Client, table: &str, index: &str) {
    let started = std::time::Instant::now();
    loop {
        let d = c.describe_table().table_name(table).send().await.expect("describe the table");
        let status = d
            .table()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .find(|i| i.index_name() == Some(index))
            .and_then(|i| i.index_status().cloned());
        if status == Some(aws_sdk_dynamodb::types::IndexStatus::Active) {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "{index} never became ACTIVE ({status:?})");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A `moto_server` on a free loopback port, killed when dropped.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn moto() -> Moto {
    let server = tools::moto_server();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
    let child = std::process::Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "moto_server did not listen");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    moto
}
