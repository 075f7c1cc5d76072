//! The AWS SDK for Rust inside a handler (feature `aws`).
//!
//! ```ignore
//! let client = aws_sdk_dynamodb::Client::new(&tidepool_guest::aws::config());
//! let output = tidepool_guest::aws::block_on(client.get_item().table_name("T").key("pk", key).send())?;
//! ```
//!
//! [`config`] is what `aws_config::load_from_env()` gives a Lambda function: the region,
//! credentials and endpoint from the environment the host hands the guest (`AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`), with
//! an HTTP client over `wasi:http` and a sleep for the SDK's retries. The host serves requests
//! to its own endpoint in process, with the same semantics as the `store` calls.
//!
//! The client writes a request body in the pieces the stream accepts, so requests of any size
//! work (`aws-smithy-wasm` 0.1 writes the body in one `blocking-write-and-flush`, which WASI
//! limits to 4096 bytes).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::body::SdkBody;
use aws_types::SdkConfig;
use aws_types::region::Region;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// The SDK configuration a Lambda function loads from its environment, for any AWS SDK client
/// (`aws_sdk_dynamodb::Client::new(&config())`).
pub fn config() -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
        var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        var("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client())
        .sleep_impl(sleep());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        builder = builder.region(Region::new(region));
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// Runs an SDK future to its end. The client's I/O blocks in `wasi:http`, so the futures the
/// SDK makes here are ready when polled, except its sleeps (retry backoff): while the future is
/// pending the guest waits a millisecond on WASI's clock and polls it again.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        wasi::clocks::monotonic_clock::subscribe_duration(POLL_INTERVAL_NS).block();
    }
}

/// How long [`block_on`] waits between polls of a pending future.
const POLL_INTERVAL_NS: u64 = 1_000_000;

/// The SDK's sleep for retries and timeouts, on WASI's monotonic clock: ready once the time
/// has passed (the SDK also races sleeps against a response, so one must not block).
pub fn sleep() -> SharedAsyncSleep {
    SharedAsyncSleep::new(WasiSleep)
}

#[derive(Debug, Clone, Copy)]
struct WasiSleep;

impl AsyncSleep for WasiSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let now = wasi::clocks::monotonic_clock::now();
        let deadline = now.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
        Sleep::new(std::future::poll_fn(move |_| {
            if wasi::clocks::monotonic_clock::now() >= deadline { Poll::Ready(()) } else { Poll::Pending }
        }))
    }
}

/// An HTTP client for the AWS SDK over `wasi:http/outgoing-handler`.
pub fn http_client() -> SharedHttpClient {
    WasiClient.into_shared()
}

#[derive(Debug, Clone, Copy)]
struct WasiClient;

impl HttpClient for WasiClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        WasiClient.into_shared()
    }
}

impl HttpConnector for WasiClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let result = send(request);
        HttpConnectorFuture::ready(result)
    }
}

fn io_error(message: String) -> ConnectorError {
    ConnectorError::io(message.into())
}

/// Writes a request body through its stream.
fn write_body(body: &OutgoingBody, mut rest: &[u8]) -> Result<(), String> {
    let stream = body.write().map_err(|()| "the body's stream is taken".to_string())?;
    while !rest.is_empty() {
        let room = stream.check_write().map_err(|e| format!("{e:?}"))?;
        if room == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        stream.write(&rest[..n]).map_err(|e| format!("{e:?}"))?;
        rest = &rest[n..];
    }
    stream.blocking_flush().map_err(|e| format!("{e:?}"))
}

/// Headers `wasi:http` keeps for the host (wasmtime's default list).
const FORBIDDEN_HEADERS: &[&str] =
    &["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "te"];

/// Sends one request and reads its whole response.
fn send(request: HttpRequest) -> Result<Response<SdkBody>, ConnectorError> {
    let uri: http::Uri = request.uri().parse().map_err(|e| ConnectorError::user(Box::new(e)))?;
    // The host sets `host` from the authority and owns the connection-level headers, which
    // `wasi:http` forbids a guest to set.
    let entries: Vec<(String, Vec<u8>)> = request
        .headers()
        .iter()
        .filter(|(name, _)| !FORBIDDEN_HEADERS.iter().any(|f| name.eq_ignore_ascii_case(f)))
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries).map_err(|e| ConnectorError::user(format!("headers: {e:?}").into()))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| ConnectorError::user(format!("the request's {what} is invalid").into());
    outgoing.set_method(&method).map_err(|()| invalid("method"))?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    outgoing.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
    outgoing.set_authority(uri.authority().map(|a| a.as_str())).map_err(|()| invalid("authority"))?;
    outgoing.set_path_with_query(uri.path_and_query().map(|p| p.as_str())).map_err(|()| invalid("path"))?;

    let body = outgoing.body().map_err(|()| invalid("body"))?;
    // The request goes first and its body after, in the pieces the stream accepts: a body
    // larger than the stream's buffer then flows while the host reads it.
    let pending = outgoing_handler::handle(outgoing, None).map_err(|e| io_error(format!("{e:?}")))?;
    let Some(payload) = request.body().bytes() else {
        return Err(ConnectorError::user("a streaming request body is not supported: the SDK must buffer it".into()));
    };
    let written = write_body(&body, payload);
    let finished = written.and_then(|()| OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}")));
    pending.subscribe().block();
    let incoming = match pending.get() {
        Some(Ok(Ok(response))) => response,
        // A refused or failed request closes the body's stream: its error says why.
        Some(Ok(Err(code))) => return Err(io_error(format!("HTTP request failed: {code:?}"))),
        Some(Err(())) | None => return Err(io_error("no HTTP response".into())),
    };
    // A server may answer before reading the whole body (a 413): its answer counts, not the
    // write it cut short.
    drop(finished);
    let status = StatusCode::try_from(incoming.status()).map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let headers = incoming.headers().entries();
    let body = incoming.consume().map_err(|()| io_error("the response has no body".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| io_error("the response has no body".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(io_error(format!("read the response: {e:?}"))),
            }
        }
    }
    drop(body);
    let mut response = Response::new(status, SdkBody::from(bytes));
    for (name, value) in headers {
        if let Ok(value) = String::from_utf8(value) {
            let _ = response.headers_mut().try_append(name, value);
        }
    }
    Ok(response)
}
