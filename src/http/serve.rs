//! The accept loop: admission, the connection tasks, graceful shutdown.
//!
//! The loop takes a socket permit before each `accept`, so at most
//! `connections + overflow` sockets are ever open (the rest wait in the
//! kernel's listen backlog). An accepted connection is then:
//! - served, while fewer than `connections` are;
//! - served in place of the connection idle the longest, when the server is
//!   full and one is idle (no request in flight and no byte of the next
//!   one): that one is closed gracefully, which an HTTP client treats like
//!   any server-side keep-alive close and reconnects;
//! - otherwise answered with a throttling error and closed: DynamoDB's
//!   `ThrottlingException` (HTTP 400) on `/`, Lambda's
//!   `TooManyRequestsException` (HTTP 429) elsewhere. The AWS SDKs retry
//!   both with backoff (their throttling error codes), and back off harder
//!   than for a transient 5xx.
//!
//! With TLS on, the handshake follows admission (so a throttled client is
//! told so over TLS too) and runs on the connection's clock: it counts
//! towards the first head's timeout, and eviction or shutdown abandons it.
//!
//! `stop` (the shutdown signal) drops the listener, asks every connection to
//! finish its request in flight and close, and returns once all have.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::Instant;
use tower_service::Service;

use super::conn::{ConnState, RequestBody, ResponseBody, TimedIo, Timeouts, millis_since};
use super::limits::{DescriptorBudget, HttpLimits, READ_BUFFER_BYTES};
use super::tls::Tls;

/// After an `accept` error other than a client's (EMFILE, ENFILE, ENOBUFS),
/// wait this long before the next: the condition clears as connections
/// close, and retrying at once would spin (hyper 0.14 and axum wait 1 s).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// A throttled request's body is read up to this much before the answer, so
/// that closing the socket does not reset the connection under the client's
/// unread answer; a larger body is left and the client may see a reset
/// (which the SDKs retry as well).
const THROTTLED_BODY_DRAIN_BYTES: usize = 64 * 1024;

/// WARN about throttled or replaced connections at most this often.
const FULL_LOG_INTERVAL_MS: u64 = 10_000;

/// What the accept loop and the connection tasks share.
struct Shared {
    router: Router,
    /// HTTPS, when on.
    tls: Option<Arc<Tls>>,
    timeouts: Timeouts,
    max_connections: usize,
    /// The server's start: connections' idle times count from it.
    epoch: Instant,
    registry: Mutex<Registry>,
    /// When the server last logged that it was full (ms since `epoch`).
    full_logged_ms: AtomicU64,
    /// Connections throttled and replaced since then.
    throttled: AtomicU64,
    replaced: AtomicU64,
}

/// The connections being served.
#[derive(Default)]
struct Registry {
    next_id: u64,
    live: HashMap<u64, Arc<ConnState>>,
}

enum Admission {
    /// Served, registered under this id.
    Serve(u64),
    Throttle,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        millis_since(self.epoch)
    }

    /// Registers `conn` if there is room or an idle connection to replace.
    fn admit(&self, conn: &Arc<ConnState>) -> Admission {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if reg.live.len() >= self.max_connections {
            let victim = reg.live.iter().filter_map(|(id, c)| c.idle_since().map(|t| (t, *id))).min();
            let Some((_, id)) = victim else {
                drop(reg);
                self.note_full(&self.throttled);
                return Admission::Throttle;
            };
            if let Some(old) = reg.live.remove(&id) {
                old.evict.notify_one();
            }
            self.note_full(&self.replaced);
        }
        let id = reg.next_id;
        reg.next_id += 1;
        reg.live.insert(id, conn.clone());
        Admission::Serve(id)
    }

    fn leave(&self, id: u64) {
        self.registry.lock().unwrap_or_else(|p| p.into_inner()).live.remove(&id);
    }

    /// Counts a throttled or replaced connection and WARNs now and then.
    fn note_full(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let last = self.full_logged_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= FULL_LOG_INTERVAL_MS)
            && self.full_logged_ms.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                max_connections = self.max_connections,
                replaced_idle = self.replaced.swap(0, Ordering::Relaxed),
                throttled = self.throttled.swap(0, Ordering::Relaxed),
                "the connection limit is reached: idle connections are closed for new ones, \
                 and new ones are throttled while none is idle"
            );
        }
    }
}

/// Serves `router` on `listener` within `limits` and `budget` until
/// `shutdown` fires, then drains the connections and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    budget: DescriptorBudget,
    tls: Option<Arc<Tls>>,
    shutdown: oneshot::Receiver<()>,
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        router,
        tls,
        timeouts: Timeouts {
            header: limits.header_read_timeout,
            idle: limits.idle_timeout,
            body: limits.body_read_timeout,
            write: limits.write_timeout,
        },
        max_connections: budget.connections.max(1),
        epoch: Instant::now(),
        registry: Mutex::new(Registry::default()),
        full_logged_ms: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        replaced: AtomicU64::new(0),
    });
    let sockets_total = budget.connections.max(1).saturating_add(budget.overflow);
    let sockets_total = u32::try_from(sockets_total).unwrap_or(u32::MAX >> 1);
    let sockets = Arc::new(Semaphore::new(sockets_total as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    // Accept failures in a row, WARNed at the first and counted at the end.
    let mut accept_errors: u64 = 0;
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = sockets.clone().acquire_owned() => p.expect("the socket semaphore is never closed"),
        };
        let stream = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    if accept_errors > 0 {
                        tracing::info!(failed = accept_errors, "accepting connections again");
                        accept_errors = 0;
                    }
                    // Each answer goes out as soon as it is written: request
                    // and response, never a small segment held back for
                    // Nagle's algorithm behind the client's delayed ACK.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "setting TCP_NODELAY failed");
                    }
                    stream
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    if accept_errors == 0 {
                        tracing::warn!(error = %e, "accepting a connection failed; retrying every {ACCEPT_ERROR_BACKOFF:?}");
                    }
                    accept_errors += 1;
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                    }
                }
            },
        };
        tokio::spawn(connection(shared.clone(), stream, permit, stop_rx.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection task holds a permit until it ends.
    let _all = sockets.acquire_many(sockets_total).await.expect("the socket semaphore is never closed");
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection, holding its socket permit until it closes.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let conn = Arc::new(ConnState::new(shared.now_ms()));
    let peer = stream.peer_addr().ok().map(super::PeerAddr);
    let timed = TimedIo::new(stream, conn.clone(), shared.timeouts);
    let admission = shared.admit(&conn);
    // Leaves the registry however the connection ends, a panic in a handler
    // included (else its slot would never be freed).
    let _leave = match admission {
        Admission::Serve(id) => Some(Leave(&shared, id)),
        Admission::Throttle => None,
    };
    let io = match &shared.tls {
        None => Io::Plain(timed),
        Some(tls) => {
            let accepted = tokio::select! {
                r = tls.acceptor.accept(timed) => r,
                _ = conn.evict.notified() => return,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match accepted {
                Ok(s) => {
                    conn.handshake_done();
                    Io::Tls(Box::new(s))
                }
                Err(e) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
    };
    let secure = matches!(io, Io::Tls(_));
    let io = TokioIo::new(io);
    let mut builder = http1::Builder::new();
    builder.max_buf_size(READ_BUFFER_BYTES);
    match admission {
        Admission::Serve(_) => {
            let (svc_shared, svc_conn) = (shared.clone(), conn.clone());
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (shared, conn) = (svc_shared.clone(), svc_conn.clone());
                async move {
                    let body_state = conn.begin_request(hyper::body::Body::is_end_stream(req.body()));
                    let mut req = req.map(|b| RequestBody::new(b, conn.clone(), body_state));
                    if let Some(peer) = peer {
                        req.extensions_mut().insert(peer);
                    }
                    if secure {
                        req.extensions_mut().insert(super::SecureTransport);
                    }
                    let mut router = shared.router.clone();
                    let resp = match router.call(req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    };
                    Ok::<_, Infallible>(resp.map(|b| ResponseBody::new(b, conn, shared.epoch)))
                }
            });
            let served = builder.serve_connection(io, svc);
            drive(served, &conn, stop).await;
        }
        Admission::Throttle => {
            builder.keep_alive(false);
            let max = shared.max_connections;
            let svc_conn = conn.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let conn = svc_conn.clone();
                async move {
                    let throttle = throttled(req.method(), req.uri().path(), max);
                    let body_state = conn.begin_request(hyper::body::Body::is_end_stream(req.body()));
                    let body = axum::body::Body::new(RequestBody::new(req.into_body(), conn, body_state));
                    let _ = axum::body::to_bytes(body, THROTTLED_BODY_DRAIN_BYTES).await;
                    Ok::<_, Infallible>(throttle)
                }
            });
            let served = builder.serve_connection(io, svc);
            drive(served, &conn, stop).await;
        }
    }
}

/// A connection's transport: the timed socket, or TLS over it.
enum Io {
    Plain(TimedIo),
    Tls(Box<tokio_rustls::server::TlsStream<TimedIo>>),
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Takes a served connection out of the registry when dropped.
struct Leave<'a>(&'a Shared, u64);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

/// Runs a hyper connection to its end; asked to close (eviction or server
/// shutdown), lets it finish the request in flight first.
async fn drive<S, B>(served: http1::Connection<TokioIo<Io>, S>, conn: &ConnState, mut stop: watch::Receiver<bool>)
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut served = std::pin::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        _ = conn.evict.notified() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
        _ = async { drop(stop.wait_for(|stop| *stop).await) } => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// The answer to a request on a connection past the limit.
fn throttled(method: &Method, path: &str, max: usize) -> Response<axum::body::Body> {
    let message = tidepool_store::messages::request::too_many_connections(max);
    let mut resp = if method == Method::POST && path == "/" {
        crate::dynamodb::error::ApiError::new(StatusCode::BAD_REQUEST, "ThrottlingException", message).into_response()
    } else {
        crate::lambda::api::Failure::from(crate::lambda::LambdaError::new("TooManyRequestsException", message))
            .into_response()
    };
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
