//! One client connection's clock.
//!
//! A connection is always in one phase, and each phase but handling has a
//! read deadline, armed when the phase begins:
//!
//! | phase | begins | deadline |
//! |---|---|---|
//! | fresh | accept | header timeout (the first head, counted from accept) |
//! | idle | the previous response was handed to hyper | idle timeout |
//! | head | the first byte of a head after idle | header timeout |
//! | body | the head is parsed (hyper calls the service) | body timeout |
//! | handling | the body is read in full (or dropped) | none |
//!
//! A fresh connection's first byte moves it to head without re-arming, so
//! its whole first head is counted from accept. Past the deadline a read
//! fails with `TimedOut`, hyper closes the connection, and every later read
//! or write on it fails too: the client is cut off, not answered.
//! Independently, a write that makes no progress for the write timeout
//! fails the same way.
//!
//! A request body the handler drops unread (a request refused for its size)
//! is drained in the background, up to `LINGER_BYTES` and within the
//! deadlines above, so the client can finish sending and read the answer.
//!
//! The phase lives in one atomic shared by the IO wrapper ([`TimedIo`]),
//! the request body ([`RequestBody`]) and the response body
//! ([`ResponseBody`]); each change bumps an epoch so the IO re-arms its
//! deadline the next time a read would wait. A fresh or idle connection is
//! the one eviction may close (`serve.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// The timeouts of a connection's phases.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    pub body: Duration,
    pub write: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh = 0,
    Idle = 1,
    Head = 2,
    Body = 3,
    Handling = 4,
}

const PHASE_BITS: u32 = 3;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

fn phase_of(state: u64) -> Phase {
    match state & PHASE_MASK {
        0 => Phase::Fresh,
        1 => Phase::Idle,
        2 => Phase::Head,
        3 => Phase::Body,
        _ => Phase::Handling,
    }
}

fn epoch_of(state: u64) -> u64 {
    state >> PHASE_BITS
}

/// The next epoch in `phase`.
fn advance(state: u64, phase: Phase) -> u64 {
    ((epoch_of(state) + 1) << PHASE_BITS) | phase as u64
}

/// A connection's phase, shared by its IO, its bodies and the server.
pub(crate) struct ConnState {
    /// `epoch << 3 | phase`.
    state: AtomicU64,
    /// When the connection last became fresh or idle, in milliseconds since
    /// the server's start: eviction picks the smallest.
    idle_since_ms: AtomicU64,
    /// Notified when the server asks the connection to close (eviction).
    pub(crate) evict: Notify,
}

impl ConnState {
    pub(crate) fn new(now_ms: u64) -> Self {
        ConnState {
            state: AtomicU64::new(Phase::Fresh as u64),
            idle_since_ms: AtomicU64::new(now_ms),
            evict: Notify::new(),
        }
    }

    fn load(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// When the connection became fresh or idle, if it still is: it has no
    /// request in flight and has sent no byte of the next one.
    pub(crate) fn idle_since(&self) -> Option<u64> {
        match phase_of(self.load()) {
            Phase::Fresh | Phase::Idle => Some(self.idle_since_ms.load(Ordering::Relaxed)),
            _ => None,
        }
    }

    /// Bytes arrived: a fresh or idle connection starts reading a head.
    fn on_bytes(&self) {
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match phase_of(s) {
            // The first head keeps the deadline armed at accept.
            Phase::Fresh => Some((s & !PHASE_MASK) | Phase::Head as u64),
            Phase::Idle => Some(advance(s, Phase::Head)),
            _ => None,
        });
    }

    /// The TLS handshake finished: its bytes moved a fresh connection to
    /// reading a head, but no byte of a request has been read, so it is
    /// fresh again (and may be evicted), its deadline still counted from
    /// accept.
    pub(crate) fn handshake_done(&self) {
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match phase_of(s) {
            Phase::Head => Some((s & !PHASE_MASK) | Phase::Fresh as u64),
            _ => None,
        });
    }

    /// hyper parsed a head and called the service: the body phase begins
    /// (handling if there is no body). Returns the state set.
    pub(crate) fn begin_request(&self, body_done: bool) -> u64 {
        let phase = if body_done { Phase::Handling } else { Phase::Body };
        let mut set = 0;
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            set = advance(s, phase);
            Some(set)
        });
        set
    }

    /// The body begun in `body_state` is read or dropped: handling begins,
    /// unless the connection has moved on since.
    fn body_done(&self, body_state: u64) {
        let _ = self.state.compare_exchange(
            body_state,
            advance(body_state, Phase::Handling),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// The response was handed to hyper: the connection waits for the next
    /// request.
    pub(crate) fn response_done(&self, now_ms: u64) {
        self.idle_since_ms.store(now_ms, Ordering::Relaxed);
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(advance(s, Phase::Idle)));
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("client connection timed out {what}"))
}

/// A client's socket with its phase's read deadline and a write-stall
/// deadline.
pub(crate) struct TimedIo {
    inner: TcpStream,
    conn: Arc<ConnState>,
    timeouts: Timeouts,
    /// The epoch the read deadline was armed for.
    read_epoch: Option<u64>,
    /// The read deadline, when the phase has one.
    read_armed: bool,
    read_timer: Pin<Box<Sleep>>,
    write_armed: bool,
    write_timer: Pin<Box<Sleep>>,
    /// A deadline passed: the connection is cut off.
    expired: bool,
}

impl TimedIo {
    pub(crate) fn new(inner: TcpStream, conn: Arc<ConnState>, timeouts: Timeouts) -> Self {
        let now = Instant::now();
        TimedIo {
            inner,
            conn,
            timeouts,
            read_epoch: None,
            read_armed: false,
            read_timer: Box::pin(tokio::time::sleep_until(now)),
            write_armed: false,
            write_timer: Box::pin(tokio::time::sleep_until(now)),
            expired: false,
        }
    }

    /// A read would wait: (re-)arm the phase's deadline and check it.
    fn poll_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = self.conn.load();
        if self.read_epoch != Some(epoch_of(state)) {
            self.read_epoch = Some(epoch_of(state));
            let timeout = match phase_of(state) {
                Phase::Fresh | Phase::Head => Some(self.timeouts.header),
                Phase::Idle => Some(self.timeouts.idle),
                Phase::Body => Some(self.timeouts.body),
                Phase::Handling => None,
            };
            self.read_armed = timeout.is_some();
            if let Some(t) = timeout {
                self.read_timer.as_mut().reset(Instant::now() + t);
            }
        }
        if self.read_armed && self.read_timer.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let what = match phase_of(state) {
                Phase::Fresh | Phase::Head => "reading a request head",
                Phase::Idle => "while idle",
                _ => "reading a request body",
            };
            tracing::debug!(phase = ?phase_of(state), "closing a client connection: {what}");
            return Poll::Ready(Err(timed_out(what)));
        }
        Poll::Pending
    }

    /// A write would wait: arm the stall deadline if it is not, and check it.
    fn poll_write_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.write_armed {
            self.write_armed = true;
            self.write_timer.as_mut().reset(Instant::now() + self.timeouts.write);
        }
        if self.write_timer.as_mut().poll(cx).is_ready() {
            self.expired = true;
            tracing::debug!("closing a client connection: it read none of its response");
            return Poll::Ready(Err(timed_out("writing a response")));
        }
        Poll::Pending
    }

    fn written(&mut self, r: Poll<io::Result<usize>>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match r {
            Poll::Pending => self.poll_write_stall(cx),
            ready => {
                self.write_armed = false;
                ready
            }
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(Err(timed_out("earlier")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn.on_bytes();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_read_deadline(cx).map_ok(|()| ()),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(Err(timed_out("earlier")));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(Err(timed_out("earlier")));
        }
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A body left unread (a request refused before its body was read) is read
/// and discarded up to this much after the handler drops it, so that the
/// client can finish sending and read the refusal instead of a reset
/// (nginx's lingering close): it covers the largest bodies refused for
/// their size (Lambda's 6 MB payloads, DynamoDB's 16 MB batches, 50 MB code
/// zips) with room. [`LINGER_TIMEOUT`] bounds the time it takes.
const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// How long that drain may take: the connection's phase is no longer a
/// body read then, so no other deadline bounds it, and a client trickling a
/// refused body must not hold its socket (or a graceful shutdown) forever.
const LINGER_TIMEOUT: std::time::Duration = super::limits::BODY_READ_TIMEOUT;

/// A request's body: tells the connection when it has been read in full or
/// dropped, which ends the body phase, and drains what is left unread.
pub(crate) struct RequestBody {
    /// `None` once handed to the drain.
    inner: Option<Incoming>,
    conn: Arc<ConnState>,
    /// The state `begin_request` set.
    body_state: u64,
    /// The body ended (or failed): nothing is left to drain.
    finished: bool,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, conn: Arc<ConnState>, body_state: u64) -> Self {
        let finished = inner.is_end_stream();
        RequestBody { inner: Some(inner), conn, body_state, finished }
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let frame = ready!(Pin::new(&mut *inner).poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || inner.is_end_stream() {
            this.finished = true;
            this.conn.body_done(this.body_state);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(Incoming::size_hint).unwrap_or_default()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.conn.body_done(self.body_state);
        if self.finished {
            return;
        }
        let (Some(mut inner), Ok(rt)) = (self.inner.take(), tokio::runtime::Handle::try_current()) else { return };
        rt.spawn(async move {
            let drain = async {
                let mut drained = 0usize;
                while drained <= LINGER_BYTES {
                    match std::future::poll_fn(|cx| Pin::new(&mut inner).poll_frame(cx)).await {
                        Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
                        _ => return,
                    }
                }
            };
            // Past the deadline the body is dropped and hyper closes the connection.
            let _ = tokio::time::timeout(LINGER_TIMEOUT, drain).await;
        });
    }
}

/// A response's body: hyper drops it once it has taken the last of it,
/// which makes the connection idle.
pub(crate) struct ResponseBody {
    inner: axum::body::Body,
    conn: Arc<ConnState>,
    epoch: tokio::time::Instant,
}

impl ResponseBody {
    /// `epoch` is the server's start, which idle times count from.
    pub(crate) fn new(inner: axum::body::Body, conn: Arc<ConnState>, epoch: Instant) -> Self {
        ResponseBody { inner, conn, epoch }
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.conn.response_done(millis_since(self.epoch));
    }
}

/// Milliseconds from `epoch` to now.
pub(crate) fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_handshake_leaves_the_connection_fresh() {
        let c = ConnState::new(5);
        let before = c.load();
        c.on_bytes();
        assert_eq!(c.idle_since(), None);
        c.handshake_done();
        assert_eq!((c.load(), c.idle_since()), (before, Some(5)));
    }

    #[test]
    fn phases_move_and_bump_the_epoch() {
        let c = ConnState::new(5);
        assert_eq!(c.idle_since(), Some(5));
        // The first head keeps the epoch: its deadline counts from accept.
        c.on_bytes();
        assert_eq!((phase_of(c.load()), epoch_of(c.load())), (Phase::Head, 0));
        assert_eq!(c.idle_since(), None);
        let body = c.begin_request(false);
        assert_eq!((phase_of(body), epoch_of(body)), (Phase::Body, 1));
        c.body_done(body);
        assert_eq!((phase_of(c.load()), epoch_of(c.load())), (Phase::Handling, 2));
        // A body dropped after its state moved on changes nothing.
        c.body_done(body);
        assert_eq!(epoch_of(c.load()), 2);
        c.response_done(9);
        assert_eq!(c.idle_since(), Some(9));
        c.on_bytes();
        assert_eq!((phase_of(c.load()), epoch_of(c.load())), (Phase::Head, 4));
        // Bytes of a body leave its phase alone.
        let body = c.begin_request(false);
        c.on_bytes();
        assert_eq!(c.load(), body);
    }
}
