//! Another engine's DynamoDB-compatible JSON API (DynamoDB, DynamoDB
//! Streams) over HTTP, requests signed with SigV4. The record source of a remote stream reads through it
//! ([`StreamsSource`](crate::esm::StreamsSource)).
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the first link of the AWS
//! SDKs' chain. Without them requests are signed with a placeholder key, which
//! servers that accept any credentials (Tidepool without `--auth`, DynamoDB
//! Local, moto) take. Only `http://` endpoints for now. Each request in flight has a
//! connection of its own (at most [`MAX_CONNECTIONS`]), kept alive for the
//! next.

use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// How long the endpoint has to answer one request before the connection is
/// dropped and the call fails (and is tried again by its caller): an endpoint
/// that is down or partitioned must not hold a reader forever.
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read: a handler's `BatchGetItem` answers up to 16 MB
/// of items (a `GetRecords` page is at most 1 MB), with room for the JSON
/// envelope; past this the answer is refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 20 * 1024 * 1024;

/// Requests in flight to one endpoint at once, each on a connection of its
/// own (a feed per shard, the layout, handlers' calls); more wait.
pub const MAX_CONNECTIONS: usize = 32;

/// The key a request is signed with when the environment has none.
const PLACEHOLDER_KEY: (&str, &str) = ("tidepool", "tidepool");

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The endpoint answered with the API's error: its `__type` (without the
    /// namespace) and message.
    Api { status: u16, kind: String, message: String },
    /// No answer: connection, timeout, or no free slot.
    Transport(String),
    /// An answer that is not the API's JSON (another kind of server, or an
    /// engine that does not know the operation and says so in HTML).
    NotJson { status: u16, body: String },
}

impl CallError {
    /// The error type without its namespace (`TrimmedDataAccessException`),
    /// or `""` for a transport error.
    pub fn kind(&self) -> &str {
        match self {
            CallError::Api { kind, .. } => kind,
            CallError::Transport(_) | CallError::NotJson { .. } => "",
        }
    }

    /// Worth trying again: throttling, a server error, no answer.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Api { status, kind, .. } => {
                *status >= 500
                    || matches!(
                        kind.as_str(),
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "LimitExceededException"
                            | "RequestLimitExceeded"
                            | "InternalServerError"
                    )
            }
            CallError::Transport(_) => true,
            CallError::NotJson { status, .. } => *status >= 500,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api { status, kind, message } => write!(f, "{kind} ({status}): {message}"),
            CallError::Transport(e) => write!(f, "{e}"),
            CallError::NotJson { status, body } => write!(f, "a {status} answer that is not JSON: {body}"),
        }
    }
}

/// The service a request is for, which names its target and signing scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Streams,
}

impl Service {
    fn target_prefix(self) -> &'static str {
        match self {
            Service::DynamoDb => "DynamoDB_20120810",
            Service::Streams => "DynamoDBStreams_20120810",
        }
    }

    /// The SigV4 service name: DynamoDB Streams signs as `dynamodb` too.
    fn signing_name(self) -> &'static str {
        "dynamodb"
    }
}

/// A DynamoDB-compatible endpoint.
pub struct Endpoint {
    authority: String,
    region: String,
    credentials: aws_credential_types::Credentials,
    /// Connections between requests. A request takes one (or opens one) and
    /// puts it back only once it has its whole answer: a request abandoned
    /// half-way (its task aborted) drops its connection with it.
    idle: std::sync::Mutex<Vec<Connection>>,
    /// At most [`MAX_CONNECTIONS`] requests at once.
    slots: tokio::sync::Semaphore,
    /// At most [`MAX_WAITS`] long waits (push subscriptions) at once, apart
    /// from the other requests, which they would otherwise hold up.
    wait_slots: tokio::sync::Semaphore,
}

/// Why a long wait was not sent: every wait slot is taken.
pub const WAITS_FULL: &str = "every wait slot is taken";

/// Long waits (`WaitForRecords`, one per shard being read) at once; a feed
/// past them polls. Below a Tidepool source's own limit (256).
pub const MAX_WAITS: usize = 128;

type Connection = hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>;

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("authority", &self.authority).field("region", &self.region).finish()
    }
}

/// `host:port` of an `http://host:port[/]` URL.
pub fn authority(url: &str) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("an endpoint is http://host:port (got {url})"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(format!("an endpoint is http://host:port (got {url})"));
    }
    Ok(rest.to_string())
}

impl Endpoint {
    /// The endpoint at `url`, its requests signed for `region` with the
    /// environment's credentials.
    pub fn new(url: &str, region: &str) -> Result<Endpoint, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                aws_credential_types::Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment")
            }
            _ => {
                aws_credential_types::Credentials::new(PLACEHOLDER_KEY.0, PLACEHOLDER_KEY.1, None, None, "placeholder")
            }
        };
        Ok(Endpoint {
            authority: authority(url)?,
            region: region.to_string(),
            credentials,
            idle: std::sync::Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
            wait_slots: tokio::sync::Semaphore::new(MAX_WAITS),
        })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `body` to `operation` of `service`: the answer's status and
    /// body, whatever they are.
    pub async fn call_raw(
        &self,
        service: Service,
        operation: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), CallError> {
        self.send(service, operation, body, None).await
    }

    /// A call the endpoint may hold for up to `wait` before answering (a
    /// push subscription's), on a slot of its own; the answer's JSON.
    pub async fn call_waiting(
        &self,
        service: Service,
        operation: &str,
        request: &Value,
        wait: Duration,
    ) -> Result<Value, CallError> {
        let body = serde_json::to_vec(request).map_err(|e| CallError::Transport(e.to_string()))?;
        let answer = self.send(service, operation, body, Some(wait)).await?;
        Self::parse(operation, answer)
    }

    async fn send(
        &self,
        service: Service,
        operation: &str,
        body: Vec<u8>,
        wait: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let target = format!("{}.{operation}", service.target_prefix());
        let timeout = ENDPOINT_TIMEOUT + wait.unwrap_or_default();
        // The wait for a slot counts: a caller is answered within the timeout.
        // A long wait takes a free slot or none (its caller polls instead).
        let call = async {
            let _slot = match wait {
                None => self.slots.acquire().await.map_err(|e| e.to_string())?,
                Some(_) => self.wait_slots.try_acquire().map_err(|_| WAITS_FULL.to_string())?,
            };
            let reused = self.take_idle();
            let fresh = reused.is_none();
            let mut conn = match reused {
                Some(c) => c,
                None => self.connect().await?,
            };
            // A kept connection the endpoint closed meanwhile fails before the
            // request is sent: then on a new one. A request that may have
            // been sent is never sent again (a write could apply twice).
            if conn.ready().await.is_err() {
                if fresh {
                    return Err(format!("the connection to {} closed at once", self.authority));
                }
                conn = self.connect().await?;
            }
            let answer = self.exchange(&mut conn, service, &target, body).await?;
            self.put_back(conn);
            Ok::<_, String>(answer)
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(CallError::Transport(e)),
            Err(_) => Err(CallError::Transport(format!("no answer from {} within {timeout:?}", self.authority))),
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_CONNECTIONS && !conn.is_closed() {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        let tcp =
            TcpStream::connect(&self.authority).await.map_err(|e| format!("connect to {}: {e}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        let (send, driver) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(send)
    }

    /// Calls `operation` of `service` with `request`; the answer's JSON.
    pub async fn call(&self, service: Service, operation: &str, request: &Value) -> Result<Value, CallError> {
        let body = serde_json::to_vec(request).map_err(|e| CallError::Transport(e.to_string()))?;
        let answer = self.call_raw(service, operation, body).await?;
        Self::parse(operation, answer)
    }

    /// An answer's JSON, or the API's error it carries.
    fn parse(operation: &str, (status, bytes): (u16, Vec<u8>)) -> Result<Value, CallError> {
        let json: Value = serde_json::from_slice(&bytes).map_err(|_| CallError::NotJson {
            status,
            body: format!("{operation}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
        })?;
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let kind = json.get("__type").and_then(Value::as_str).unwrap_or("UnknownError");
        let kind = kind.rsplit('#').next().unwrap_or(kind).to_string();
        let message =
            json.get("message").or_else(|| json.get("Message")).and_then(Value::as_str).unwrap_or_default().to_string();
        Err(CallError::Api { status, kind, message })
    }

    async fn exchange(
        &self,
        send: &mut Connection,
        service: Service,
        target: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        send.ready().await.map_err(|e| e.to_string())?;
        let content_type = "application/x-amz-json-1.0";
        let mut request = http::Request::post("/")
            .header("host", &self.authority)
            .header("content-type", content_type)
            .header("x-amz-target", target);
        for (k, v) in self.sign(service, target, content_type, &body)? {
            request = request.header(k, v);
        }
        let request = request.body(Full::new(bytes::Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = send.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer from {}: {e}", self.authority))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }

    /// The headers that sign a POST of `body` to `/`.
    fn sign(
        &self,
        service: Service,
        target: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let url = format!("http://{}/", self.authority);
        let headers = [("host", self.authority.as_str()), ("content-type", content_type), ("x-amz-target", target)];
        let signable = SignableRequest::new("POST", &url, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}
