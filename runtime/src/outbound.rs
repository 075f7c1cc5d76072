//! `wasi:http/outgoing-handler` for guests: how a handler's AWS SDK (or plain `fetch`) reaches
//! the server's APIs, and nothing else unless its function allows it.
//!
//! - A request to the server's own endpoint ([`RuntimeConfig::endpoint`](crate::RuntimeConfig),
//!   also as `localhost` or a loopback address with the same port) never touches a socket. A
//!   DynamoDB call (`X-Amz-Target: DynamoDB_20120810.*`) runs through the invocation's store
//!   bridge, exactly as the `store` import's calls do: the same dispatch, the trigger chain's
//!   depth on its writes, deferred writes in a mapping's exactly-once mode. Any other request
//!   (DynamoDB Streams, the Lambda API) is served by the server's router
//!   ([`StoreBridge::http`]).
//! - A request to a host the function allows ([`ALLOWED_HOSTS_VARIABLE`]) goes out with
//!   wasmtime's client (HTTP or HTTPS with the webpki roots).
//! - Anything else is refused with `HTTP-request-denied`, and a line in the invocation's log
//!   says why and how to allow it.
//!
//! The invocation's timeout covers time spent waiting on HTTP (the guest waits in a WASI poll,
//! which the invocation's timer interrupts), and a response is read into the guest's own memory,
//! under its limit.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::bridge::{InvocationOrigin, StoreBridge};
use crate::config::ALLOWED_HOSTS_VARIABLE;
use crate::limits::{MAX_OUTBOUND_IN_FLIGHT, MAX_STORE_REQUEST_BYTES};
use crate::logs::LogBuffer;

/// The prefix of a DynamoDB operation's `X-Amz-Target`.
const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";

/// The boxed futures `WasiHttpHooks::send_request` returns.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Where a function's guest may send HTTP requests: computed once per function.
#[derive(Debug, Clone, Default)]
pub(crate) struct Destinations {
    /// `host:port` forms of the server's own endpoint, lowercase.
    own: Arc<[String]>,
    /// The function's allowed hosts (`host`, `host:port`, `*.domain`), lowercase.
    allowed: Arc<[String]>,
}

impl Destinations {
    /// The destinations of a function whose allowed hosts are `allowed`, in a runtime whose
    /// server listens at `endpoint` (`http://host:port`).
    pub(crate) fn new(endpoint: Option<&str>, allowed: Vec<String>) -> Self {
        let mut own = Vec::new();
        if let Some(endpoint) = endpoint {
            let authority = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
            let authority = authority.split('/').next().unwrap_or(authority).to_ascii_lowercase();
            if let Some((_, port)) = authority.rsplit_once(':') {
                for host in ["localhost", "127.0.0.1", "[::1]"] {
                    own.push(format!("{host}:{port}"));
                }
            }
            own.push(authority);
        }
        Destinations { own: own.into(), allowed: allowed.into() }
    }

    fn is_own(&self, authority: &str) -> bool {
        self.own.iter().any(|a| a == authority)
    }

    fn is_allowed(&self, authority: &str) -> bool {
        let host = host_of(authority);
        self.allowed.iter().any(|entry| {
            if let Some(pattern) = entry.strip_prefix("*.") {
                // `*.domain` or `*.domain:port`: any subdomain, on that port if one is given.
                let (domain, port) = match pattern.rsplit_once(':') {
                    Some((domain, port)) => (domain, Some(port)),
                    None => (pattern, None),
                };
                let port_matches = port.is_none_or(|p| authority.rsplit_once(':').is_some_and(|(_, q)| q == p));
                port_matches
                    && host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            } else if has_port(entry) {
                entry == authority
            } else {
                entry == host
            }
        })
    }
}

/// Whether an authority names a port.
fn has_port(authority: &str) -> bool {
    if authority.starts_with('[') { authority.contains("]:") } else { authority.contains(':') }
}

/// The host of an authority (`host:port`, `[v6]:port`, `host`), without its port.
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

/// One invocation's `wasi:http` hooks.
pub(crate) struct Outbound {
    pub(crate) destinations: Destinations,
    pub(crate) bridge: Arc<dyn StoreBridge>,
    pub(crate) origin: InvocationOrigin,
    pub(crate) logs: LogBuffer,
    /// Where requests to allowed hosts run their connections.
    io: Option<tokio::runtime::Handle>,
    /// Requests of this invocation waiting for their response.
    in_flight: Arc<AtomicUsize>,
}

impl Outbound {
    pub(crate) fn new(
        destinations: Destinations,
        bridge: Arc<dyn StoreBridge>,
        origin: InvocationOrigin,
        logs: LogBuffer,
        io: Option<tokio::runtime::Handle>,
    ) -> Self {
        Outbound { destinations, bridge, origin, logs, io, in_flight: Arc::default() }
    }

    fn note(&self, line: String) {
        self.logs.append(format!("{line}\n").as_bytes());
    }
}

/// Counts a request in flight until its response body is done with (or the request failed).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let authority = request.uri().authority().map(|a| a.as_str().to_ascii_lowercase()).unwrap_or_default();
        let own = self.destinations.is_own(&authority);
        if !own && !self.destinations.is_allowed(&authority) {
            self.note(format!(
                "tidepool: HTTP request to {authority} refused: a handler reaches the server's own endpoint \
                 ({}) and the hosts its function allows in {ALLOWED_HOSTS_VARIABLE} (the manifest's allowed_hosts)",
                self.destinations.own.last().map_or("none", String::as_str),
            ));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_OUTBOUND_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.note(format!(
                "tidepool: HTTP request to {authority} refused: {MAX_OUTBOUND_IN_FLIGHT} requests of this invocation \
                 are already waiting for their responses"
            ));
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        let guard = InFlight(self.in_flight.clone());
        if own {
            let (bridge, origin) = (self.bridge.clone(), self.origin.clone());
            Box::new(async move {
                let response = serve_own(&*bridge, &origin, request).await?;
                let no_io: IoFuture = Box::new(async { Ok(()) });
                let full = |body| Full::new(body).map_err(|never| match never {}).boxed_unsync();
                Ok((response.map(|body| Counted { inner: full(body), _guard: guard }.boxed_unsync()), no_io))
            })
        } else {
            let Some(runtime) = self.io.clone() else {
                self.note(format!("tidepool: HTTP request to {authority} failed: the host has no I/O runtime"));
                return Box::new(async { Err(Error::ConnectionRefused) });
            };
            // The connection runs on the I/O runtime (the invocation's executor has no I/O
            // driver); the guest reads the response body from here through its channel.
            Box::new(async move {
                // Both tasks stop when the guest drops the request or the response.
                let sent = Task(runtime.spawn(async move {
                    let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                    Ok::<_, Error>((response, Task(tokio::spawn(io))))
                }));
                let (response, connection) = sent.await??;
                let io: IoFuture = Box::new(async move { connection.await? });
                Ok((response.map(|body| Counted { inner: body.boxed_unsync(), _guard: guard }.boxed_unsync()), io))
            })
        }
    }
}

/// A response body that keeps its request counted in flight until it is read to its end or
/// dropped.
struct Counted {
    inner: WasiBody,
    _guard: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A task of the I/O runtime, stopped when dropped.
struct Task<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map_err(|_| Error::InternalError(Some("the host's HTTP client task stopped".into())))
    }
}

/// A request to the server's own endpoint, served in process.
async fn serve_own(
    bridge: &dyn StoreBridge,
    origin: &InvocationOrigin,
    request: http::Request<WasiBody>,
) -> Result<http::Response<Bytes>, Error> {
    let (parts, mut body) = request.into_parts();
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            if bytes.len() + data.len() > MAX_STORE_REQUEST_BYTES {
                return Ok(json_response(
                    413,
                    r#"{"__type":"com.amazon.coral.service#RequestEntityTooLarge","message":"Request must be smaller than 16777216 bytes for the operation"}"#.into(),
                ));
            }
            bytes.extend_from_slice(data);
        }
    }
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(operation) = target.strip_prefix(DYNAMODB_TARGET) {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Ok(json_response(
                400,
                r#"{"__type":"com.amazon.coral.service#SerializationException","Message":"The request body is not UTF-8"}"#.into(),
            ));
        };
        let wire = bridge.call_wire(operation, text, origin);
        return Ok(json_response(wire.status, wire.body));
    }
    Ok(bridge.http(http::Request::from_parts(parts, bytes.freeze()), origin).await)
}

/// A DynamoDB JSON answer, with the headers DynamoDB sends.
fn json_response(status: u16, body: String) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-amz-json-1.0"));
    if let Ok(id) = http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_endpoint_and_allowed_hosts() {
        let d = Destinations::new(
            Some("http://127.0.0.1:8000"),
            vec!["api.example.com".into(), "*.internal.test".into(), "10.0.0.5:9000".into()],
        );
        assert!(d.is_own("127.0.0.1:8000"));
        assert!(d.is_own("localhost:8000"));
        assert!(!d.is_own("localhost:8001"));
        assert!(d.is_allowed("api.example.com"));
        assert!(d.is_allowed("api.example.com:443"));
        assert!(!d.is_allowed("evil.api.example.com"));
        assert!(d.is_allowed("a.internal.test:80"));
        let ported = Destinations::new(None, vec!["*.internal.test:8443".into()]);
        assert!(ported.is_allowed("a.internal.test:8443"));
        assert!(!ported.is_allowed("a.internal.test:8444") && !ported.is_allowed("a.internal.test"));
        assert!(!d.is_allowed("internal.test"));
        assert!(!d.is_allowed("xinternal.test"));
        assert!(d.is_allowed("10.0.0.5:9000"));
        assert!(!d.is_allowed("10.0.0.5:9001"));
        assert!(!d.is_allowed("127.0.0.1:8000"));
        let none = Destinations::new(None, vec![]);
        assert!(!none.is_own("127.0.0.1:8000") && !none.is_allowed("example.com"));
    }
}
