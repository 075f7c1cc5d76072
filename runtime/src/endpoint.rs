//! Another engine's DynamoDB-compatible JSON API (DynamoDB, DynamoDB
//! Streams) over HTTP or HTTPS, requests signed with SigV4. The record
//! source of a remote stream reads through it
//! ([`StreamsSource`](crate::esm::StreamsSource)), and so do a worker's
//! leases. AWS itself (`aws`, `https://dynamodb.<region>.amazonaws.com`)
//! serves Streams from a host of its own.
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); without them an `https://`
//! endpoint asks the AWS SDKs' default chain (`aws-config`), and an
//! `http://` one (or an `https://` one that is not AWS, when the chain has
//! none) is signed with a placeholder key, which servers that accept any
//! credentials (Tidepool without `--auth`, DynamoDB Local, moto) take. Each
//! request in flight has a
//! connection of its own (at most [`MAX_CONNECTIONS`]), kept alive for the
//! next.

use std::sync::Arc;
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

/// Where one service's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    https: bool,
    /// `host[:port]` as the URL gives it: the `Host` header, and what is
    /// signed.
    authority: String,
    /// `host:port`, with the scheme's port when the URL gives none.
    address: String,
}

impl Host {
    fn url(&self) -> String {
        format!("{}://{}/", if self.https { "https" } else { "http" }, self.authority)
    }
}

/// The hosts of DynamoDB and DynamoDB Streams at `url`: both at its host,
/// or, for an AWS region's DynamoDB (`https://dynamodb.<region>.amazonaws.com`,
/// or `aws` for `region`'s), Streams at `streams.dynamodb.<region>…`.
fn hosts(url: &str, region: &str) -> Result<(Host, Host), String> {
    let given = url;
    let bad = |why: &str| format!("an endpoint is http://host:port, https://host[:port] or aws (got {given}: {why})");
    let url = if url == "aws" { format!("https://dynamodb.{region}.amazonaws.com") } else { url.to_string() };
    let (https, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(bad("not an http:// or https:// URL")),
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains(['/', '?', '#']) {
        return Err(bad("a path, query or fragment is not taken"));
    }
    if authority.contains('@') {
        return Err(bad("credentials go in the environment, not the URL"));
    }
    // `[v6]:port`, `host:port`, or either without its port.
    let (name, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, rest)) => match rest.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return Err(bad("an IPv6 address is [address]:port")),
            },
            None => return Err(bad("an IPv6 address is [address]:port")),
        },
        None => match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        },
    };
    if name.is_empty() {
        return Err(bad("no host"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) || (!authority.starts_with('[') && name.contains(':'))
    {
        return Err(bad("not a host name or address"));
    }
    match port {
        // Digits only: `+80` and ` 80` are no ports.
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0) => {}
        Some(_) => return Err(bad("the port is not a number from 1 to 65535")),
        None if https => {}
        None => return Err(bad("no port")),
    }
    let has_port = port.is_some();
    let host = |authority: &str| Host {
        https,
        authority: authority.to_string(),
        address: if has_port { authority.to_string() } else { format!("{authority}:{}", if https { 443 } else { 80 }) },
    };
    let dynamodb = host(authority);
    // AWS serves Streams from a host of its own.
    let streams = match aws_region(authority) {
        Some(_) => host(&format!("streams.{authority}")),
        None => dynamodb.clone(),
    };
    Ok((dynamodb, streams))
}

/// The region of an AWS DynamoDB host (`dynamodb.<region>.amazonaws.com`,
/// with or without a port), which its requests are signed for.
fn aws_region(authority: &str) -> Option<&str> {
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        _ => authority,
    };
    let tail = host.strip_prefix("dynamodb.")?;
    let region = tail.strip_suffix(".amazonaws.com").or_else(|| tail.strip_suffix(".amazonaws.com.cn"))?;
    (!region.is_empty() && !region.contains('.')).then_some(region)
}

/// Where the signing keys come from.
enum Keys {
    /// Fixed: the environment's, or the placeholder.
    Fixed(aws_credential_types::Credentials),
    /// The AWS SDKs' default chain (environment, profile files, web
    /// identity, the container's and the instance's credentials), asked
    /// again five minutes before they expire.
    Chain(Box<Chain>),
}

struct Chain {
    region: String,
    /// Another engine than AWS: without credentials from the chain, it gets
    /// the placeholder key (as an `http://` one does).
    placeholder_allowed: bool,
    /// Built at the first request (building it is asynchronous).
    chain: tokio::sync::OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
    /// One refresh at a time; the others wait for it and take its keys.
    cached: tokio::sync::Mutex<Option<aws_credential_types::Credentials>>,
}

/// A DynamoDB-compatible endpoint.
pub struct Endpoint {
    authority: String,
    dynamodb: Host,
    streams: Host,
    region: String,
    keys: Keys,
    /// TLS for `https://` hosts.
    tls: Option<tokio_rustls::TlsConnector>,
    /// Connections between requests, with the host each is to. A request
    /// takes one (or opens one) and puts it back only once it has its whole
    /// answer: a request abandoned half-way (its task aborted) drops its
    /// connection with it.
    idle: std::sync::Mutex<Vec<(bool, Connection)>>,
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

/// The client TLS configuration of `https://` sources: the system's trusted
/// roots (`SSL_CERT_FILE` or `SSL_CERT_DIR` replace them), or Mozilla's
/// (`webpki-roots`) when there are none.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!(error = %e, "trusted roots: a certificate store did not load");
    }
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
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
    ///
    /// An `https://` endpoint (AWS itself, say) signs with the AWS SDKs'
    /// default credential chain; an `http://` one with the environment's
    /// keys or a placeholder that servers accepting any take. Must be called
    /// within a tokio runtime.
    pub fn new(url: &str, region: &str) -> Result<Endpoint, String> {
        let (dynamodb, streams) = hosts(url, region)?;
        // AWS checks the region signed for against its host's.
        let signing_region = aws_region(&dynamodb.authority).unwrap_or(region).to_string();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let keys = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Keys::Fixed(aws_credential_types::Credentials::new(
                id,
                secret,
                env("AWS_SESSION_TOKEN"),
                None,
                "environment",
            )),
            _ if dynamodb.https => Keys::Chain(Box::new(Chain {
                region: signing_region.clone(),
                placeholder_allowed: aws_region(&dynamodb.authority).is_none(),
                chain: tokio::sync::OnceCell::new(),
                cached: tokio::sync::Mutex::new(None),
            })),
            _ => Keys::Fixed(aws_credential_types::Credentials::new(
                PLACEHOLDER_KEY.0,
                PLACEHOLDER_KEY.1,
                None,
                None,
                "placeholder",
            )),
        };
        let tls = if dynamodb.https { Some(tls_connector()?) } else { None };
        Ok(Endpoint {
            authority: dynamodb.authority.clone(),
            dynamodb,
            streams,
            region: signing_region,
            keys,
            tls,
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
            // Before a slot is taken: a refresh of the keys holds none.
            let credentials = self.credentials().await?;
            let _slot = match wait {
                None => self.slots.acquire().await.map_err(|e| e.to_string())?,
                Some(_) => self.wait_slots.try_acquire().map_err(|_| WAITS_FULL.to_string())?,
            };
            let streams = service == Service::Streams && self.streams != self.dynamodb;
            let host = if streams { &self.streams } else { &self.dynamodb };
            let reused = self.take_idle(streams);
            let fresh = reused.is_none();
            let mut conn = match reused {
                Some(c) => c,
                None => self.connect(host).await?,
            };
            // A kept connection the endpoint closed meanwhile fails before the
            // request is sent: then on a new one. A request that may have
            // been sent is never sent again (a write could apply twice).
            if conn.ready().await.is_err() {
                if fresh {
                    return Err(format!("the connection to {} closed at once", host.authority));
                }
                conn = self.connect(host).await?;
            }
            let answer = self.exchange(&mut conn, host, &credentials, service, &target, body).await?;
            self.put_back(streams, conn);
            Ok::<_, String>(answer)
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(CallError::Transport(e)),
            Err(_) => {
                // The host the call went to: Streams' own, when it has one.
                let host = if service == Service::Streams { &self.streams } else { &self.dynamodb };
                Err(CallError::Transport(format!("no answer from {} within {timeout:?}", host.authority)))
            }
        }
    }

    /// The keys to sign with now.
    async fn credentials(&self) -> Result<aws_credential_types::Credentials, String> {
        use aws_credential_types::provider::ProvideCredentials as _;
        match &self.keys {
            Keys::Fixed(c) => Ok(c.clone()),
            Keys::Chain(c) => {
                let mut cached = c.cached.lock().await;
                let now = SystemTime::now();
                let usable = |k: &aws_credential_types::Credentials, margin: Duration| {
                    k.expiry().is_none_or(|t| t > now + margin)
                };
                if let Some(k) = cached.as_ref().filter(|k| usable(k, Duration::from_secs(300))) {
                    return Ok(k.clone());
                }
                // Built afresh by each attempt until one completes (an
                // attempt cut short by its caller's timeout leaves nothing
                // half-made).
                let chain = c.chain.get_or_init(|| default_chain(&c.region).build()).await;
                match chain.provide_credentials().await {
                    Ok(k) => {
                        *cached = Some(k.clone());
                        Ok(k)
                    }
                    // Still valid for a while: used until the chain answers.
                    Err(_) if cached.as_ref().is_some_and(|k| usable(k, Duration::ZERO)) => {
                        Ok(cached.clone().expect("cached keys"))
                    }
                    Err(e) if c.placeholder_allowed => {
                        tracing::info!(error = %e, "no AWS credentials for the source: signing with a placeholder key");
                        let k = aws_credential_types::Credentials::new(
                            PLACEHOLDER_KEY.0,
                            PLACEHOLDER_KEY.1,
                            None,
                            None,
                            "placeholder",
                        );
                        *cached = Some(k.clone());
                        Ok(k)
                    }
                    Err(e) => Err(format!("AWS credentials: {e}")),
                }
            }
        }
    }

    fn take_idle(&self, streams: bool) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(at) = idle.iter().rposition(|(s, _)| *s == streams) {
            let (_, c) = idle.swap_remove(at);
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn put_back(&self, streams: bool, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_CONNECTIONS && !conn.is_closed() {
            idle.push((streams, conn));
        }
    }

    async fn connect(&self, host: &Host) -> Result<Connection, String> {
        let tcp = TcpStream::connect(&host.address).await.map_err(|e| format!("connect to {}: {e}", host.address))?;
        let _ = tcp.set_nodelay(true);
        let (send, driver) = match (&self.tls, host.https) {
            (Some(tls), true) => {
                let name = server_name(&host.address)?;
                let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS with {}: {e}", host.address))?;
                let (send, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                return Ok(send);
            }
            _ => hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?,
        };
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
        host: &Host,
        credentials: &aws_credential_types::Credentials,
        service: Service,
        target: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        send.ready().await.map_err(|e| e.to_string())?;
        let content_type = "application/x-amz-json-1.0";
        let mut request = http::Request::post("/")
            .header("host", &host.authority)
            .header("content-type", content_type)
            .header("x-amz-target", target);
        for (k, v) in self.sign(host, credentials, service, target, content_type, &body)? {
            request = request.header(k, v);
        }
        let request = request.body(Full::new(bytes::Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = send.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer from {}: {e}", host.authority))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }

    /// The headers that sign a POST of `body` to `/`.
    fn sign(
        &self,
        host: &Host,
        credentials: &aws_credential_types::Credentials,
        service: Service,
        target: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity = credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let url = host.url();
        let headers = [("host", host.authority.as_str()), ("content-type", content_type), ("x-amz-target", target)];
        let signable = SignableRequest::new("POST", &url, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

/// The name to check an `https://` host's certificate against: the host of
/// `address` (`host:port`, `[v6]:port`).
fn server_name(address: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let host = match address.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => address.rsplit_once(':').map_or(address, |(h, _)| h),
    };
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))
}

/// The AWS SDKs' default credential chain for `region`, its own requests
/// (STS, SSO, the instance metadata service) made with rustls and ring.
fn default_chain(region: &str) -> aws_config::default_provider::credentials::Builder {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_config::provider_config::ProviderConfig::default().with_http_client(http);
    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .configure(conf)
        .region(aws_config::Region::new(region.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_url_names_the_hosts_of_both_services() {
        let (d, s) = hosts("http://127.0.0.1:8000", "us-east-1").unwrap();
        assert_eq!((d.https, d.authority.as_str(), d.address.as_str()), (false, "127.0.0.1:8000", "127.0.0.1:8000"));
        assert_eq!(s, d);
        let (d, s) = hosts("https://tidepool.internal/", "us-east-1").unwrap();
        assert_eq!((d.authority.as_str(), d.address.as_str()), ("tidepool.internal", "tidepool.internal:443"));
        assert_eq!(s, d);
        // AWS serves Streams from a host of its own.
        let (d, s) = hosts("aws", "eu-west-1").unwrap();
        assert_eq!(d.url(), "https://dynamodb.eu-west-1.amazonaws.com/");
        assert_eq!(s.url(), "https://streams.dynamodb.eu-west-1.amazonaws.com/");
        assert_eq!(s.address, "streams.dynamodb.eu-west-1.amazonaws.com:443");
        let (_, s) = hosts("https://dynamodb.cn-north-1.amazonaws.com.cn", "cn-north-1").unwrap();
        assert_eq!(s.authority, "streams.dynamodb.cn-north-1.amazonaws.com.cn");
        let (_, s) = hosts("https://dynamodb.eu-west-1.amazonaws.com:443", "us-east-1").unwrap();
        assert_eq!(s.address, "streams.dynamodb.eu-west-1.amazonaws.com:443");
        // Signed for the region of an AWS host, whatever --region says.
        assert_eq!(aws_region("dynamodb.eu-west-1.amazonaws.com:443"), Some("eu-west-1"));
        assert_eq!(aws_region("dynamodb.cn-north-1.amazonaws.com.cn"), Some("cn-north-1"));
        assert_eq!(aws_region("127.0.0.1:8000"), None);
        assert_eq!(aws_region("dynamodb.amazonaws.com"), None);
        let (d, _) = hosts("http://[::1]:8000", "us-east-1").unwrap();
        assert_eq!(d.address, "[::1]:8000");
        let (d, _) = hosts("https://[::1]", "us-east-1").unwrap();
        assert_eq!(d.address, "[::1]:443");
    }

    #[test]
    fn a_source_url_without_a_usable_port_or_host_is_refused_with_the_form() {
        let refusal = |url: &str| hosts(url, "us-east-1").err().unwrap_or_else(|| format!("{url} was taken"));
        let all = [
            "ftp://x",
            "http://",
            "http://h/path",
            "https://u@h",
            "dynamodb",
            "http://127.0.0.1",
            "http://127.0.0.1/",
            "http://127.0.0.1:notaport",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "http://127.0.0.1:+80",
            "https://h:65536",
            "http://:8000",
            "http://h:80?x=1",
            "http://a:b:80",
            "http://[::1]",
            "http://[::1]8000",
            "http://[::1:8000",
            "http://ex ample:80",
        ];
        let got: Vec<String> = all.iter().map(|u| refusal(u)).collect();
        expect_test::expect![[r#"
            an endpoint is http://host:port, https://host[:port] or aws (got ftp://x: not an http:// or https:// URL)
            an endpoint is http://host:port, https://host[:port] or aws (got http://: no host)
            an endpoint is http://host:port, https://host[:port] or aws (got http://h/path: a path, query or fragment is not taken)
            an endpoint is http://host:port, https://host[:port] or aws (got https://u@h: credentials go in the environment, not the URL)
            an endpoint is http://host:port, https://host[:port] or aws (got dynamodb: not an http:// or https:// URL)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1: no port)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1/: no port)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1:notaport: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1:99999: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1:0: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1:: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got http://127.0.0.1:+80: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got https://h:65536: the port is not a number from 1 to 65535)
            an endpoint is http://host:port, https://host[:port] or aws (got http://:8000: no host)
            an endpoint is http://host:port, https://host[:port] or aws (got http://h:80?x=1: a path, query or fragment is not taken)
            an endpoint is http://host:port, https://host[:port] or aws (got http://a:b:80: not a host name or address)
            an endpoint is http://host:port, https://host[:port] or aws (got http://[::1]: no port)
            an endpoint is http://host:port, https://host[:port] or aws (got http://[::1]8000: an IPv6 address is [address]:port)
            an endpoint is http://host:port, https://host[:port] or aws (got http://[::1:8000: an IPv6 address is [address]:port)
            an endpoint is http://host:port, https://host[:port] or aws (got http://ex ample:80: not a host name or address)
        "#]]
        .assert_eq(&(got.join("\n") + "\n"));
    }
}
