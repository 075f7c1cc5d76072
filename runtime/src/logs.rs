//! The invocation's log: the guest's stdout, stderr and `log` calls, interleaved in the order
//! they were written, in a bounded buffer that keeps the newest bytes. A line longer than
//! [`MAX_LOG_LINE_BYTES`] keeps its head and ends in a marker (`…[truncated N bytes]`): its
//! other bytes are never stored.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::limits::MAX_LOG_LINE_BYTES;
use crate::text::marker;

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
    /// The longest line kept, marker included.
    max_line: usize,
    /// Bytes of the current (unfinished) line stored so far.
    line_len: usize,
    /// Bytes of the current line cut so far: a marker ends it.
    line_cut: u64,
}

/// What was captured: the newest `capacity` bytes, and how many older ones were dropped.
pub(crate) struct CapturedLog {
    pub(crate) text: String,
    pub(crate) dropped_bytes: u64,
}

impl LogBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        LogBuffer::with_max_line(capacity, MAX_LOG_LINE_BYTES)
    }

    fn with_max_line(capacity: usize, max_line: usize) -> Self {
        let inner = Inner { bytes: Vec::new(), capacity, dropped: 0, max_line, line_len: 0, line_cut: 0 };
        LogBuffer { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the buffer inconsistent: keep using it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `bytes`, cutting each line at the line limit.
    pub(crate) fn append(&self, bytes: &[u8]) {
        self.append_parts(&[bytes]);
    }

    /// Appends `parts` one after the other (under one lock, so no other writer comes between).
    pub(crate) fn append_parts(&self, parts: &[&[u8]]) {
        self.lock().append(parts);
    }

    /// Appends `parts`, then counts `unread` more bytes (a string's tail the host did not copy)
    /// as cut from the line the parts end in, and ends that line with its marker.
    pub(crate) fn append_parts_cut(&self, parts: &[&[u8]], unread: u64) {
        let mut inner = self.lock();
        inner.append(parts);
        inner.line_cut += unread;
        inner.end_line();
        inner.store(b"\n");
    }

    pub(crate) fn take(&self) -> CapturedLog {
        let mut inner = self.lock();
        if inner.line_cut > 0 {
            inner.end_line();
        }
        let excess = inner.bytes.len().saturating_sub(inner.capacity);
        if excess > 0 {
            inner.bytes.drain(..excess);
            inner.dropped += excess as u64;
        }
        let bytes = std::mem::take(&mut inner.bytes);
        CapturedLog { text: String::from_utf8_lossy(&bytes).into_owned(), dropped_bytes: inner.dropped }
    }
}

/// Bytes kept free at the end of a cut line for its marker.
const MARKER_ROOM: usize = 48;

impl Inner {
    /// Appends `parts` one after the other, cutting each line at the line limit.
    fn append(&mut self, parts: &[&[u8]]) {
        for part in parts {
            let mut rest: &[u8] = part;
            while !rest.is_empty() {
                let (segment, newline) = match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => (&rest[..i], true),
                    None => (rest, false),
                };
                rest = &rest[segment.len() + usize::from(newline)..];
                self.line_segment(segment);
                if newline {
                    self.end_line();
                    self.store(b"\n");
                }
            }
        }
    }

    /// Stores the part of `segment` (a piece of a line, without its newline) that fits the line.
    fn line_segment(&mut self, segment: &[u8]) {
        // Once a line is cut, nothing more of it is kept (no gap inside what is shown).
        let room = match self.line_cut {
            0 => self.max_line.saturating_sub(MARKER_ROOM).saturating_sub(self.line_len),
            _ => 0,
        };
        let mut keep = segment.len().min(room);
        if keep < segment.len() {
            // Cut before a UTF-8 continuation byte rather than inside a character.
            while keep > 0 && (segment[keep] & 0xC0) == 0x80 {
                keep -= 1;
            }
        }
        self.store(&segment[..keep]);
        self.line_len += keep;
        self.line_cut += (segment.len() - keep) as u64;
    }

    /// Ends the current line: its marker if it was cut.
    fn end_line(&mut self) {
        if self.line_cut > 0 {
            let marker = marker(self.line_cut);
            self.store(marker.as_bytes());
        }
        self.line_len = 0;
        self.line_cut = 0;
    }

    /// Stores `bytes`, dropping the oldest bytes past the capacity.
    fn store(&mut self, bytes: &[u8]) {
        let inner = self;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_keeps_its_head_and_a_marker() {
        let logs = LogBuffer::with_max_line(1024, 100);
        logs.append(b"short\nBEGIN");
        logs.append(&[b'x'; 300]);
        logs.append_parts(&[b"tail\n", b"next\n"]);
        logs.append(format!("a{}", "é".repeat(60)).as_bytes());
        let text = logs.take().text;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "short");
        assert!(lines[1].starts_with("BEGINxxx"), "{}", lines[1]);
        assert!(lines[1].len() <= 100, "{}", lines[1].len());
        let kept = lines[1].find('…').unwrap();
        assert_eq!(lines[1][kept..], marker((5 + 300 + 4 - kept) as u64));
        assert_eq!(lines[2], "next");
        assert!(lines[3].starts_with("aé") && lines[3].ends_with("[truncated 70 bytes]"), "{}", lines[3]);
        assert!(!lines[3].contains('\u{FFFD}'), "cut on a character boundary: {}", lines[3]);
    }

    #[test]
    fn an_unread_tail_counts_as_cut_from_its_line() {
        let logs = LogBuffer::with_max_line(1024, 100);
        logs.append_parts_cut(&[b"[INFO]\t", b"head"], 1000);
        logs.append_parts_cut(&[b"[INFO]\t", &[b'x'; 200]], 5);
        logs.append(b"after\n");
        let text = logs.take().text;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("[INFO]\thead{}", marker(1000)));
        let kept = lines[1].find('…').unwrap();
        assert_eq!(lines[1][kept..], marker((7 + 200 + 5 - kept) as u64));
        assert_eq!(lines[2], "after");
    }
}
