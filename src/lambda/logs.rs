//! Function logs: every invocation's output (the guest's stdout, stderr and
//! `log` calls, as the runtime captured them), framed the way Lambda frames
//! it in CloudWatch:
//!
//! ```text
//! START RequestId: <id> Version: $LATEST
//! <the guest's lines>
//! END RequestId: <id>
//! REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB
//! ```
//!
//! Kept in memory, per function, bounded ([`MAX_LINES_PER_FUNCTION`] lines
//! and [`MAX_BYTES_PER_FUNCTION`] bytes, the oldest lines dropped first), and
//! forgotten when the function is deleted or the server stops. Every line has
//! a cursor from one server-wide counter, so a reader asks for the lines
//! after the last cursor it saw ([`FunctionLogs::read`]) and can wait for new
//! ones ([`FunctionLogs::wait`]). Lines also go to the server's own log
//! (target `tidepool::function`) at DEBUG, or at INFO after
//! [`set_show_at_info`] (`tidepool serve --log-functions`).
//!
//! A line is at most [`MAX_LOG_LINE_BYTES`] (CloudWatch's largest event; the
//! runtime cuts the guest's longer lines as they are written, with a
//! `…[truncated N bytes]` marker), and the server's own log gets at most
//! [`MAX_LOGGED_TEXT_BYTES`] of each.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use tidepool_runtime::Invocation;
use tidepool_runtime::limits::{MAX_LOG_LINE_BYTES, MAX_LOGGED_TEXT_BYTES};
use tidepool_runtime::text::{Bounded, bounded};
use tidepool_store::now_ms;
use tokio::sync::watch;

/// Lines kept per function: about a hundred invocations' worth of chatty output.
pub const MAX_LINES_PER_FUNCTION: usize = 10_000;
/// Bytes of line text kept per function, so a function that prints long lines
/// holds at most this much memory.
pub const MAX_BYTES_PER_FUNCTION: usize = 1024 * 1024;
/// What `X-Amz-Log-Result` carries: Lambda returns the last 4 KB of the log.
pub const TAIL_BYTES: usize = 4 * 1024;
/// Lines one read returns at most, so a response stays small; read again from
/// its `next` cursor for more.
pub const MAX_LINES_PER_READ: usize = 1_000;

/// Whether function log lines go to the server's log at INFO rather than DEBUG.
static SHOW_AT_INFO: AtomicBool = AtomicBool::new(false);

/// Shows function log lines in the server's own log at INFO (process-wide;
/// `tidepool serve --log-functions`).
pub fn set_show_at_info(on: bool) {
    SHOW_AT_INFO.store(on, Ordering::Relaxed);
}

/// One log line of one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Increases with every line the server records, over all functions.
    pub cursor: u64,
    /// Epoch milliseconds.
    pub timestamp: u64,
    pub request_id: String,
    pub message: String,
}

/// The result of a read: lines, and the cursor to read from next.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Pass as `since` to get the lines after these.
    pub next_cursor: u64,
    /// Lines after `since` were dropped (over the bounds) before this read.
    pub dropped: bool,
}

#[derive(Default)]
struct FunctionLog {
    lines: VecDeque<LogLine>,
    bytes: usize,
    /// The cursor of the newest line dropped over the bounds (0: none).
    evicted: u64,
}

impl FunctionLog {
    fn push(&mut self, line: LogLine) {
        self.bytes += line.message.len();
        self.lines.push_back(line);
        while self.lines.len() > MAX_LINES_PER_FUNCTION || self.bytes > MAX_BYTES_PER_FUNCTION {
            let Some(old) = self.lines.pop_front() else { break };
            self.bytes -= old.message.len();
            self.evicted = old.cursor;
        }
    }
}

struct Inner {
    functions: HashMap<String, FunctionLog>,
    /// The next cursor to hand out.
    next: u64,
}

/// The logs of every function of a server.
pub struct FunctionLogs {
    inner: Mutex<Inner>,
    /// Where every invocation is counted (`GET /metrics`).
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Bumped (to the next cursor) whenever lines are recorded; followers wait on it.
    changed: watch::Sender<u64>,
}

impl Default for FunctionLogs {
    fn default() -> Self {
        FunctionLogs::new()
    }
}

/// Lambda's framing of one invocation's log: START, the guest's lines, END,
/// REPORT. The guest's text is split into lines (a last line without a
/// newline counts).
pub fn framed_lines(inv: &Invocation) -> Vec<String> {
    let mut lines = Vec::with_capacity(4);
    lines.push(format!("START RequestId: {} Version: {}", inv.request_id, inv.version));
    if inv.logs_dropped_bytes > 0 {
        lines.push(format!("[{} earlier bytes of this invocation's output were dropped]", inv.logs_dropped_bytes));
    }
    lines.extend(inv.logs.lines().map(|line| bounded(line, MAX_LOG_LINE_BYTES).into_owned()));
    lines.push(format!("END RequestId: {}", inv.request_id));
    lines.push(inv.report_line());
    lines
}

/// `X-Amz-Log-Result`: the last [`TAIL_BYTES`] of the framed log, base64.
pub fn tail_base64(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[start..])
}

impl FunctionLogs {
    pub fn new() -> Self {
        FunctionLogs::with_metrics(Default::default())
    }

    /// Logs that also count every invocation in `metrics`.
    pub fn with_metrics(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        FunctionLogs {
            inner: Mutex::new(Inner { functions: HashMap::new(), next: 1 }),
            metrics,
            changed: watch::channel(1).0,
        }
    }

    /// Counts an invocation of `function` as running (`ConcurrentExecutions`)
    /// until the guard drops.
    pub fn running(&self, function: &str) -> crate::metrics::Running {
        self.metrics.running(function)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a line half-recorded: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records invocation `inv` of `function`; returns its framed lines (for
    /// `LogType: Tail`).
    pub fn record(&self, function: &str, inv: &Invocation) -> Vec<String> {
        self.metrics.invoked(function, inv);
        let lines = framed_lines(inv);
        let end = now_ms();
        let start = end.saturating_sub(inv.duration.as_millis() as u64);
        let info = SHOW_AT_INFO.load(Ordering::Relaxed);
        for line in &lines {
            let line = Bounded(line, MAX_LOGGED_TEXT_BYTES);
            if info {
                tracing::info!(target: "tidepool::function", function, "{line}");
            } else {
                tracing::debug!(target: "tidepool::function", function, "{line}");
            }
        }
        let next = {
            let mut inner = self.lock();
            let mut cursor = inner.next;
            let log = inner.functions.entry(function.to_string()).or_default();
            let last = lines.len().saturating_sub(2);
            for (i, message) in lines.iter().enumerate() {
                let timestamp = if i < last { start } else { end };
                log.push(LogLine { cursor, timestamp, request_id: inv.request_id.clone(), message: message.clone() });
                cursor += 1;
            }
            inner.next = cursor;
            cursor
        };
        self.changed.send_replace(next);
        lines
    }

    /// Forgets `function`'s lines (it was deleted).
    pub fn remove(&self, function: &str) {
        self.lock().functions.remove(function);
    }

    /// Whether any line of `function` is kept.
    pub fn has(&self, function: &str) -> bool {
        self.lock().functions.contains_key(function)
    }

    /// The lines of invocation `request_id` of `function` still kept (at
    /// most `limit`).
    pub fn of_request(&self, function: &str, request_id: &str, limit: usize) -> Vec<LogLine> {
        let inner = self.lock();
        let Some(log) = inner.functions.get(function) else { return Vec::new() };
        log.lines.iter().filter(|l| l.request_id == request_id).take(limit).cloned().collect()
    }

    /// Up to `limit` (at most [`MAX_LINES_PER_READ`]) lines of `function`
    /// with a cursor of `since` or more; with `tail`, only the last `tail`
    /// of those.
    pub fn read(&self, function: &str, since: u64, limit: usize, tail: Option<usize>) -> LogPage {
        let limit = limit.clamp(1, MAX_LINES_PER_READ);
        let inner = self.lock();
        let Some(log) = inner.functions.get(function) else {
            return LogPage { lines: Vec::new(), next_cursor: since.max(inner.next), dropped: false };
        };
        let first = log.lines.partition_point(|l| l.cursor < since);
        let dropped = log.evicted != 0 && since <= log.evicted;
        let available = log.lines.len() - first;
        let skip = match tail {
            Some(t) => available.saturating_sub(t.min(limit)),
            None => 0,
        };
        let lines: Vec<LogLine> = log.lines.range(first + skip..).take(limit).cloned().collect();
        let next_cursor = match lines.last() {
            Some(l) => l.cursor + 1,
            // Nothing new: skip the cursors other functions used meanwhile.
            None => since.max(inner.next),
        };
        LogPage { lines, next_cursor, dropped }
    }

    /// [`FunctionLogs::read`], waiting up to `wait` for a line when there is
    /// none yet (a long poll).
    pub async fn wait(&self, function: &str, since: u64, limit: usize, wait: Duration) -> LogPage {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            let page = self.read(function, since, limit, None);
            if !page.lines.is_empty() || tokio::time::Instant::now() >= deadline {
                return page;
            }
            tokio::select! {
                r = changed.changed() => {
                    if r.is_err() {
                        return page;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cursor: u64, len: usize) -> LogLine {
        LogLine { cursor, timestamp: 0, request_id: "r".into(), message: "x".repeat(len) }
    }

    #[test]
    fn bounds_drop_the_oldest_lines() {
        let mut log = FunctionLog::default();
        for i in 0..(MAX_LINES_PER_FUNCTION as u64 + 5) {
            log.push(line(i, 1));
        }
        assert_eq!(log.lines.len(), MAX_LINES_PER_FUNCTION);
        assert_eq!(log.lines.front().map(|l| l.cursor), Some(5));
        let mut log = FunctionLog::default();
        for i in 0..5 {
            log.push(line(i, MAX_BYTES_PER_FUNCTION / 4));
        }
        assert_eq!(log.lines.len(), 4);
        assert!(log.bytes <= MAX_BYTES_PER_FUNCTION);
    }

    #[test]
    fn tail_keeps_the_last_4_kb_on_a_char_boundary() {
        let lines = vec!["é".repeat(3000), "END".into()];
        let tail = base64::engine::general_purpose::STANDARD.decode(tail_base64(&lines)).unwrap();
        assert!(tail.len() <= TAIL_BYTES);
        let text = String::from_utf8(tail).unwrap();
        assert!(text.ends_with("é\nEND\n"));
        let short = base64::engine::general_purpose::STANDARD.decode(tail_base64(&["a".into()])).unwrap();
        assert_eq!(short, b"a\n");
    }
}
