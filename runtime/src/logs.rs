//! The invocation's log: the guest's stdout, stderr and `log` calls, interleaved in the order
//! they were written, in a bounded buffer that keeps the newest bytes.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much a guest may write in one `write` call: WASI's usual permit.
const WRITE_PERMIT: usize = 64 * 1024;

/// A shared, bounded log buffer. Clones write to the same buffer.
#[derive(Clone)]
pub(crate) struct LogBuffer {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    bytes: Vec<u8>,
    /// Bytes kept at most; the buffer holds up to twice this before it drops the oldest.
    capacity: usize,
    dropped: u64,
}

/// What was captured: the newest `capacity` bytes, and how many older ones were dropped.
pub(crate) struct CapturedLog {
    pub(crate) text: String,
    pub(crate) dropped_bytes: u64,
}

impl LogBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        LogBuffer { inner: Arc::new(Mutex::new(Inner { bytes: Vec::new(), capacity, dropped: 0 })) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the buffer inconsistent: keep using it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn append(&self, bytes: &[u8]) {
        let mut inner = self.lock();
        let capacity = inner.capacity;
        if bytes.len() >= capacity {
            let skip = bytes.len() - capacity;
            inner.dropped += (inner.bytes.len() + skip) as u64;
            inner.bytes.clear();
            inner.bytes.extend_from_slice(&bytes[skip..]);
            return;
        }
        inner.bytes.extend_from_slice(bytes);
        if inner.bytes.len() > 2 * capacity {
            let excess = inner.bytes.len() - capacity;
            inner.bytes.drain(..excess);
            inner.dropped += excess as u64;
        }
    }

    pub(crate) fn take(&self) -> CapturedLog {
        let mut inner = self.lock();
        let excess = inner.bytes.len().saturating_sub(inner.capacity);
        if excess > 0 {
            inner.bytes.drain(..excess);
            inner.dropped += excess as u64;
        }
        let bytes = std::mem::take(&mut inner.bytes);
        CapturedLog { text: String::from_utf8_lossy(&bytes).into_owned(), dropped_bytes: inner.dropped }
    }
}

impl IsTerminal for LogBuffer {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogBuffer {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Never blocks and never fails: a guest that writes too much loses its oldest output, it does
/// not crash on a failed `println!`.
#[wasmtime_wasi::async_trait]
impl OutputStream for LogBuffer {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogBuffer {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogBuffer {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
