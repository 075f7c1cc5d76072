//! One shard's delivery: records read ahead into lanes (one per unit of
//! `ParallelizationFactor`, by partition key), batches formed from a lane's
//! queue, and each batch delivered piece by piece until every record of it is
//! handled or discarded.
//!
//! A batch starts as one piece. A failed piece is retried whole, or split in
//! two with `BisectBatchOnFunctionError` (a split does not count as a retry);
//! a partial batch response drops the records before the lowest failed one
//! and retries the rest (a retry). A piece whose retries run out, or whose
//! leading records grew too old, is discarded with a destination record.
//!
//! Nothing here waits or reads the clock: the caller passes `now` and runs the
//! invocations the shard plans, so the simulation can drive it exactly.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};

use super::core::{Job, Settings};
use super::invoker::InvokeOutcome;
use super::ledger::{FailureRecord, ShardCheckpoint, WindowCheckpoint};
use super::metrics::ShardMetrics;
use super::source::{Seq, SourcePage, format_seq, parse_seq};
use crate::bridge::DeferredCall;

/// Lambda's limit on a synchronous invocation's payload: a batch is cut
/// before it would pass it.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Records whose write was caused by this many chained trigger invocations
/// are not delivered (Lambda's recursive loop detection stops a loop after
/// about 16 invocations).
pub const MAX_CHAIN_DEPTH: u32 = 16;
/// Lambda's limit on a tumbling window's state: a larger state ends the
/// window early.
pub const MAX_WINDOW_STATE_BYTES: usize = 1024 * 1024;
/// Records read ahead per shard beyond the batches its lanes can hold.
const READ_AHEAD_RECORDS: usize = 1000;
/// Wait before retry `n` of a piece: `RETRY_BACKOFF_MS << (n - 1)`, capped,
/// so a function that always fails does not spin.
const RETRY_BACKOFF_MS: u64 = 50;
/// The longest wait between two retries.
const MAX_RETRY_BACKOFF_MS: u64 = 1000;

/// The `LastProcessingResult` values the engine reports.
pub const RESULT_OK: &str = "OK";
pub const RESULT_FUNCTION_FAILED: &str = "PROBLEM: Function call failed";
pub const RESULT_INVALID_RESPONSE: &str = "PROBLEM: Function response was invalid";

/// A record read and kept for delivery.
#[derive(Debug, Clone)]
struct Rec {
    seq: Seq,
    /// The record read just before it (filtered and dropped ones
    /// included), or the checkpoint the shard started from: once this
    /// record is the first not done, the checkpoint is there.
    prev: Option<Seq>,
    created_ms: u64,
    read_ms: u64,
    depth: u32,
    /// The record as the function receives it (with `eventSourceARN`).
    json: Arc<str>,
}

/// A run of consecutive records of one batch, delivered as one invocation.
#[derive(Debug)]
struct Piece {
    records: Vec<Rec>,
    /// The last invocation of a tumbling window (no records).
    final_window: bool,
    /// Retries used (bisecting does not use any).
    retries: u32,
    /// Invocations that carried these records (`approximateInvokeCount`).
    invocations: u32,
    request_id: Option<String>,
    /// The version the last invocation ran.
    executed_version: Option<String>,
    /// `Handled` or `Unhandled` when the last invocation was a function error.
    function_error: Option<&'static str>,
    /// Not to be invoked before this time (retry backoff).
    not_before: u64,
}

impl Piece {
    fn new(records: Vec<Rec>) -> Self {
        Piece {
            records,
            final_window: false,
            retries: 0,
            invocations: 0,
            request_id: None,
            executed_version: None,
            function_error: None,
            not_before: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Lane {
    /// Records not yet in a batch, in sequence order.
    queue: VecDeque<Rec>,
    queue_bytes: usize,
    /// The batch being delivered, in order: the front piece goes next.
    pieces: VecDeque<Piece>,
    /// The job running the front piece.
    busy: Option<u64>,
}

#[derive(Debug, Clone)]
struct Window {
    start_ms: u64,
    state: Value,
    terminate_early: bool,
}

/// What an invocation's outcome means for its piece.
enum Verdict {
    /// Handled (with `failed_from`, a partial batch response: records from
    /// that index on are to be retried).
    Done {
        state: Option<Value>,
        failed_from: Option<usize>,
    },
    Failed {
        function_error: Option<&'static str>,
        result: &'static str,
    },
}

/// Delivery state of one shard for one mapping.
#[derive(Debug)]
pub(crate) struct ShardCore {
    pub(crate) id: String,
    /// The next sequence number to read.
    read_pos: Seq,
    /// The last record read (or the checkpoint the shard started from):
    /// the checkpoint when no record read is waiting. A checkpoint names a
    /// record done, never a number between two records, so moving past a
    /// gap without records (sequence numbers are sparse per shard) is no
    /// new checkpoint and costs no write.
    last_read: Option<Seq>,
    /// Closed and read to its end.
    drained: bool,
    lanes: Vec<Lane>,
    window: Option<Window>,
    buffered: usize,
    buffered_bytes: usize,
    /// Destination records of pieces discarded since the last commit.
    pub(crate) failures: Vec<FailureRecord>,
    /// Records given up since the last commit, described in `failures` or
    /// not: counted in the metrics once their commit is durable.
    pub(crate) dropped: u64,
    /// Store writes of handled pieces (exactly-once), each with the last
    /// sequence number it covers (`None`: a window's final invocation), to
    /// commit with the checkpoint that passes it.
    pub(crate) effects: Vec<(Option<Seq>, Vec<DeferredCall>)>,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// ISO 8601 with milliseconds, as destination records write times.
pub(crate) fn iso_millis(ms: u64) -> String {
    format!("{}Z", tidepool_store::format_timestamp_millis(ms))
}

/// ISO 8601 to the second, as tumbling windows write their bounds.
fn iso_seconds(ms: u64) -> String {
    let full = tidepool_store::format_timestamp_millis(ms);
    format!("{}Z", &full[..full.len().saturating_sub(4)])
}

fn backoff(retries: u32) -> u64 {
    RETRY_BACKOFF_MS.saturating_mul(1u64 << retries.saturating_sub(1).min(16)).min(MAX_RETRY_BACKOFF_MS)
}

impl ShardCore {
    pub(crate) fn new(id: String, read_pos: Seq, cp: Option<&ShardCheckpoint>, lanes: usize) -> Self {
        let window = cp.and_then(|c| c.window.as_ref()).map(|w| Window {
            start_ms: w.start_ms,
            state: serde_json::from_str(&w.state).unwrap_or_else(|_| json!({})),
            terminate_early: w.terminate_early,
        });
        ShardCore {
            id,
            read_pos,
            last_read: cp.and_then(|c| c.done_through),
            drained: false,
            lanes: (0..lanes.max(1)).map(|_| Lane::default()).collect(),
            window,
            buffered: 0,
            buffered_bytes: 0,
            failures: Vec::new(),
            dropped: 0,
            effects: Vec::new(),
        }
    }

    /// How many records to read now, if any.
    pub(crate) fn wants_records(&self, s: &Settings) -> Option<usize> {
        let cap = s.batch_size * self.lanes.len() + READ_AHEAD_RECORDS;
        let byte_cap = MAX_PAYLOAD_BYTES * (self.lanes.len() + 1);
        (!self.drained && self.buffered < cap && self.buffered_bytes < byte_cap)
            .then(|| (cap - self.buffered).min(tidepool_store::MAX_READ_RECORDS))
    }

    pub(crate) fn read_pos(&self) -> Seq {
        self.read_pos
    }

    /// Moves past records the stream no longer has.
    pub(crate) fn skip_to(&mut self, pos: Seq) {
        self.read_pos = self.read_pos.max(pos);
    }

    /// The shard is gone: nothing more will be read.
    pub(crate) fn mark_drained(&mut self) {
        self.drained = true;
    }

    /// Takes a page read at `read_pos`: drops records too deep in a trigger
    /// chain, filters, and queues the rest in their lanes.
    pub(crate) fn push(&mut self, page: SourcePage, s: &Settings, now: u64, m: &mut ShardMetrics) {
        if let Some(last) = page.records.last() {
            m.iterator_age_ms = now.saturating_sub(last.created_ms);
            self.read_pos = self.read_pos.max(last.seq + 1);
        } else if page.caught_up && self.buffered == 0 {
            // Nothing newer to read and nothing waiting to be delivered:
            // the shard is not behind (records read but not yet delivered,
            // a batch retried, keep their age).
            m.iterator_age_ms = 0;
        }
        match page.next {
            Some(next) => self.read_pos = self.read_pos.max(next),
            None => self.drained = true,
        }
        let lanes = self.lanes.len() as u64;
        for r in page.records {
            m.polled += 1;
            let prev = self.last_read.replace(r.seq);
            if r.depth >= MAX_CHAIN_DEPTH {
                self.dropped += 1;
                tracing::warn!(
                    shard = %self.id, seq = %r.seq, depth = r.depth,
                    "record not delivered: written by a chain of {} trigger invocations (recursive loop)",
                    r.depth
                );
                continue;
            }
            // The record is parsed only when there are filters to match.
            if !s.filters.is_empty() {
                let matched = serde_json::from_str::<Value>(&r.json).is_ok_and(|v| s.filters.matches(&v));
                if !matched {
                    m.filtered += 1;
                    continue;
                }
            }
            let lane = if lanes > 1 { (fnv(r.partition.as_bytes()) % lanes) as usize } else { 0 };
            let json: Arc<str> = r.json.into();
            self.buffered += 1;
            self.buffered_bytes += json.len();
            let l = &mut self.lanes[lane];
            l.queue_bytes += json.len();
            l.queue.push_back(Rec { seq: r.seq, prev, created_ms: r.created_ms, read_ms: now, depth: r.depth, json });
        }
    }

    fn window_of(s: &Settings, created_ms: u64) -> u64 {
        let w = s.tumbling_ms.unwrap_or(1).max(1);
        created_ms / w * w
    }

    /// Plans the invocations that can start now, into `out`.
    pub(crate) fn plan(&mut self, s: &Settings, now: u64, next_id: &mut u64, m: &mut ShardMetrics, out: &mut Vec<Job>) {
        let full = self.wants_records(s).is_none() && !self.drained;
        for li in 0..self.lanes.len() {
            loop {
                let lane = &mut self.lanes[li];
                if lane.busy.is_some() {
                    break;
                }
                if lane.pieces.is_empty()
                    && let (Some(tw), Some(w)) = (s.tumbling_ms, &self.window)
                {
                    let front = lane.queue.front().map(|r| Self::window_of(s, r.created_ms));
                    let close = w.terminate_early
                        || match front {
                            Some(f) => f != w.start_ms,
                            None => self.drained || now >= w.start_ms + tw,
                        };
                    if close {
                        let mut p = Piece::new(Vec::new());
                        p.final_window = true;
                        lane.pieces.push_back(p);
                    }
                }
                if lane.pieces.is_empty() {
                    let Some(front) = lane.queue.front() else { break };
                    let first_window = Self::window_of(s, front.created_ms);
                    let mut ready = s.batching_window_ms == 0
                        || lane.queue.len() >= s.batch_size
                        || lane.queue_bytes >= MAX_PAYLOAD_BYTES
                        || now >= front.read_ms + s.batching_window_ms
                        || self.drained
                        || full;
                    if let Some(tw) = s.tumbling_ms {
                        ready = ready
                            || now >= first_window + tw
                            || lane.queue.back().is_some_and(|r| Self::window_of(s, r.created_ms) != first_window);
                    }
                    if !ready {
                        break;
                    }
                    let state_bytes = self.window.as_ref().map_or(0, |w| w.state.to_string().len());
                    let budget = MAX_PAYLOAD_BYTES.saturating_sub(1024 + state_bytes);
                    let mut n = 0;
                    let mut bytes = 0;
                    while n < lane.queue.len() && n < s.batch_size {
                        let r = &lane.queue[n];
                        if s.tumbling_ms.is_some() && Self::window_of(s, r.created_ms) != first_window {
                            break;
                        }
                        if n > 0 && bytes + r.json.len() + 1 > budget {
                            break;
                        }
                        bytes += r.json.len() + 1;
                        n += 1;
                    }
                    let records: Vec<Rec> = lane.queue.drain(..n).collect();
                    let taken: usize = records.iter().map(|r| r.json.len()).sum();
                    lane.queue_bytes -= taken;
                    lane.pieces.push_back(Piece::new(records));
                }
                let piece = lane.pieces.front_mut().expect("a piece");
                if piece.not_before > now {
                    break;
                }
                if !piece.final_window {
                    let max_age = s.max_age_ms.unwrap_or(u64::MAX).min(s.retention_ms);
                    let aged = piece.records.iter().take_while(|r| now.saturating_sub(r.created_ms) > max_age).count();
                    if aged > 0 {
                        let gone: Vec<Rec> = piece.records.drain(..aged).collect();
                        let record = failure_record(s, &self.id, &gone, piece, "RecordAgeExceeded", now);
                        let n = gone.len() as u64;
                        let bytes: usize = gone.iter().map(|r| r.json.len()).sum();
                        self.buffered -= gone.len();
                        self.buffered_bytes -= bytes;
                        self.dropped += n;
                        self.failures.extend(record);
                        tracing::warn!(shard = %self.id, records = n, "records discarded: older than the maximum record age");
                        if piece.records.is_empty() {
                            lane.pieces.pop_front();
                            continue;
                        }
                    }
                }
                let id = *next_id;
                *next_id += 1;
                let event = self.event(s, li);
                let lane = &mut self.lanes[li];
                let piece = lane.pieces.front().expect("a piece");
                m.invocations += 1;
                m.invoked += piece.records.len() as u64;
                out.push(Job {
                    id,
                    shard: self.id.clone(),
                    lane: li,
                    event,
                    chain_depth: piece.records.iter().map(|r| r.depth).max().unwrap_or(0) + 1,
                    seqs: piece.records.iter().map(|r| r.seq).collect(),
                    final_window: piece.final_window,
                });
                lane.busy = Some(id);
                break;
            }
        }
    }

    /// The event for the front piece of lane `li`.
    fn event(&self, s: &Settings, li: usize) -> String {
        let piece = self.lanes[li].pieces.front().expect("a piece");
        let size: usize = piece.records.iter().map(|r| r.json.len() + 1).sum();
        let mut e = String::with_capacity(size + 256);
        e.push_str("{\"Records\":[");
        for (i, r) in piece.records.iter().enumerate() {
            if i > 0 {
                e.push(',');
            }
            e.push_str(&r.json);
        }
        e.push(']');
        if let Some(tw) = s.tumbling_ms {
            let (start, state, early) = match (&self.window, piece.records.first()) {
                (Some(w), _) if piece.final_window => (w.start_ms, w.state.clone(), w.terminate_early),
                (Some(w), Some(r)) if Self::window_of(s, r.created_ms) == w.start_ms => {
                    (w.start_ms, w.state.clone(), false)
                }
                (_, Some(r)) => (Self::window_of(s, r.created_ms), json!({}), false),
                (_, None) => (0, json!({}), false),
            };
            let extra = json!({
                "window": {"start": iso_seconds(start), "end": iso_seconds(start + tw)},
                "state": state,
                "shardId": self.id,
                "eventSourceARN": s.stream_arn,
                "isFinalInvokeForWindow": piece.final_window,
                "isWindowTerminatedEarly": piece.final_window && early,
            });
            if let Value::Object(o) = extra {
                for (k, v) in o {
                    e.push(',');
                    e.push_str(&Value::String(k).to_string());
                    e.push(':');
                    e.push_str(&v.to_string());
                }
            }
        }
        e.push('}');
        e
    }

    /// Applies the outcome of the job of lane `lane`; returns the
    /// `LastProcessingResult` it makes.
    pub(crate) fn complete(
        &mut self,
        lane: usize,
        outcome: &InvokeOutcome,
        s: &Settings,
        now: u64,
        m: &mut ShardMetrics,
    ) -> &'static str {
        let Some(l) = self.lanes.get_mut(lane) else { return RESULT_OK };
        l.busy = None;
        let Some(piece) = l.pieces.front_mut() else { return RESULT_OK };
        piece.invocations += 1;
        piece.request_id = Some(outcome.request_id.clone());
        piece.executed_version = Some(outcome.executed_version.clone());
        let exhausted = |p: &Piece| s.max_retries.is_some_and(|max| p.retries >= max);
        let verdict = classify(outcome, piece, s);
        let (done, result) = match verdict {
            Verdict::Done { state, failed_from } => {
                let first_window = piece.records.first().map(|r| Self::window_of(s, r.created_ms));
                if piece.final_window {
                    self.window = None;
                } else if let (Some(state), Some(start)) = (state, first_window) {
                    let early = state.to_string().len() > MAX_WINDOW_STATE_BYTES;
                    self.window = Some(Window { start_ms: start, state, terminate_early: early });
                }
                match failed_from {
                    None => {
                        if !outcome.writes.is_empty() {
                            self.effects.push((piece.records.last().map(|r| r.seq), outcome.writes.clone()));
                        }
                        (std::mem::take(&mut piece.records), RESULT_OK)
                    }
                    Some(i) => {
                        let done: Vec<Rec> = piece.records.drain(..i).collect();
                        m.failed += piece.records.len() as u64;
                        piece.function_error = None;
                        if exhausted(piece) {
                            let rest = std::mem::take(&mut piece.records);
                            self.discard(s, lane, rest, now);
                        } else {
                            piece.retries += 1;
                            piece.not_before = now + backoff(piece.retries);
                        }
                        (done, RESULT_OK)
                    }
                }
            }
            Verdict::Failed { function_error, result } => {
                m.failed += piece.records.len() as u64;
                piece.function_error = function_error;
                if s.bisect && piece.records.len() > 1 {
                    let second = piece.records.split_off(piece.records.len() / 2);
                    let half = Piece {
                        records: second,
                        final_window: false,
                        retries: piece.retries,
                        invocations: piece.invocations,
                        request_id: piece.request_id.clone(),
                        executed_version: piece.executed_version.clone(),
                        function_error,
                        not_before: now,
                    };
                    l.pieces.insert(1, half);
                } else if exhausted(piece) {
                    if piece.final_window {
                        tracing::warn!(shard = %self.id, "tumbling window state dropped: its final invocation kept failing");
                        self.window = None;
                        l.pieces.pop_front();
                    } else {
                        let rest = std::mem::take(&mut piece.records);
                        self.discard(s, lane, rest, now);
                    }
                } else {
                    piece.retries += 1;
                    piece.not_before = now + backoff(piece.retries);
                }
                (Vec::new(), result)
            }
        };
        self.release(&done);
        let l = &mut self.lanes[lane];
        if l.pieces.front().is_some_and(|p| p.records.is_empty() && !p.final_window) {
            l.pieces.pop_front();
        }
        if l.pieces.front().is_some_and(|p| p.final_window && self.window.is_none()) {
            l.pieces.pop_front();
        }
        result
    }

    /// Forgets the buffer space of records that are done.
    fn release(&mut self, done: &[Rec]) {
        self.buffered -= done.len();
        self.buffered_bytes -= done.iter().map(|r| r.json.len()).sum::<usize>();
    }

    /// Gives up `records` of the front piece of `lane` after its retries.
    fn discard(&mut self, s: &Settings, lane: usize, records: Vec<Rec>, now: u64) {
        let piece = self.lanes[lane].pieces.front().expect("a piece");
        let n = records.len() as u64;
        self.dropped += n;
        self.failures.extend(failure_record(s, &self.id, &records, piece, "RetryAttemptsExhausted", now));
        tracing::warn!(
            shard = %self.id, records = n, first = records.first().map(|r| r.seq), retries = piece.retries,
            "records discarded: retries exhausted"
        );
        self.release(&records);
    }

    /// The checkpoint the shard's state allows: the last record read before
    /// the first record not done (every record up to it is done), or the
    /// last record read when none waits.
    pub(crate) fn checkpoint(&self) -> ShardCheckpoint {
        let mut first: Option<&Rec> = None;
        for l in &self.lanes {
            let candidates = [l.pieces.iter().find_map(|p| p.records.first()), l.queue.front()];
            for r in candidates.into_iter().flatten() {
                if first.is_none_or(|f| r.seq < f.seq) {
                    first = Some(r);
                }
            }
        }
        ShardCheckpoint {
            done_through: first.map_or(self.last_read, |r| r.prev),
            finished: self.finished(),
            window: self.window.as_ref().map(|w| WindowCheckpoint {
                start_ms: w.start_ms,
                state: w.state.to_string(),
                terminate_early: w.terminate_early,
            }),
        }
    }

    /// Closed, read to its end, and every record done.
    pub(crate) fn finished(&self) -> bool {
        self.drained && self.window.is_none() && self.lanes.iter().all(|l| l.queue.is_empty() && l.pieces.is_empty())
    }

    /// Whether a job of this shard runs.
    pub(crate) fn busy(&self) -> bool {
        self.lanes.iter().any(|l| l.busy.is_some())
    }

    /// The next time after `now` at which [`ShardCore::plan`] may start
    /// something without new records (batching window, backoff, window end).
    pub(crate) fn deadline(&self, s: &Settings, now: u64) -> Option<u64> {
        let mut d: Option<u64> = None;
        let mut at = |t: u64| {
            if t > now {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        for l in &self.lanes {
            if l.busy.is_some() {
                continue;
            }
            if let Some(p) = l.pieces.front() {
                at(p.not_before);
                continue;
            }
            if let Some(r) = l.queue.front() {
                at(r.read_ms + s.batching_window_ms);
                if let Some(tw) = s.tumbling_ms {
                    at(Self::window_of(s, r.created_ms) + tw);
                }
            }
        }
        if let (Some(tw), Some(w)) = (s.tumbling_ms, &self.window) {
            at(w.start_ms + tw);
        }
        d
    }
}

/// Reads a response as Lambda does for stream sources.
fn classify(outcome: &InvokeOutcome, piece: &Piece, s: &Settings) -> Verdict {
    let invalid = Verdict::Failed { function_error: None, result: RESULT_INVALID_RESPONSE };
    let payload = match &outcome.result {
        Err(e) => {
            return Verdict::Failed {
                function_error: Some(if e.unhandled { "Unhandled" } else { "Handled" }),
                result: RESULT_FUNCTION_FAILED,
            };
        }
        Ok(p) => p.trim(),
    };
    // Without partial batch responses or windows, Lambda ignores the
    // response: don't parse it.
    if !s.report_failures && s.tumbling_ms.is_none() {
        return Verdict::Done { state: None, failed_from: None };
    }
    let parsed: Option<Value> = if payload.is_empty() { Some(Value::Null) } else { serde_json::from_str(payload).ok() };
    let mut state = None;
    if s.tumbling_ms.is_some() {
        match parsed.as_ref().and_then(|v| v.get("state")) {
            Some(st) if st.is_object() => state = Some(st.clone()),
            _ => return invalid,
        }
    }
    if !s.report_failures || piece.final_window {
        return Verdict::Done { state, failed_from: None };
    }
    let failures = match &parsed {
        None => return invalid,
        Some(Value::Null) => return Verdict::Done { state, failed_from: None },
        Some(Value::Object(o)) => match o.get("batchItemFailures") {
            None | Some(Value::Null) => return Verdict::Done { state, failed_from: None },
            Some(Value::Array(a)) => a,
            Some(_) => return invalid,
        },
        Some(_) => return invalid,
    };
    let mut lowest: Option<usize> = None;
    for f in failures {
        let Some(id) = f.get("itemIdentifier").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
            return invalid;
        };
        let Some(index) = parse_seq(id).and_then(|seq| piece.records.iter().position(|r| r.seq == seq)) else {
            return invalid;
        };
        lowest = Some(lowest.map_or(index, |l| l.min(index)));
    }
    Verdict::Done { state, failed_from: lowest }
}

/// The on-failure destination record for `records` given up with
/// `condition`, or `None` without a destination.
fn failure_record(
    s: &Settings,
    shard: &str,
    records: &[Rec],
    piece: &Piece,
    condition: &str,
    now: u64,
) -> Option<FailureRecord> {
    let destination = s.destination.clone()?;
    let (first, last) = (records.first()?, records.last()?);
    let response = if piece.invocations == 0 {
        json!({})
    } else {
        let version = piece.executed_version.as_deref().unwrap_or("$LATEST");
        let mut r = json!({"statusCode": 200, "executedVersion": version});
        if let Some(e) = piece.function_error {
            r["functionError"] = e.into();
        }
        r
    };
    let request_id = match (&piece.request_id, piece.invocations) {
        (Some(id), n) if n > 0 => id.clone(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let record = json!({
        "requestContext": {
            "requestId": request_id,
            "functionArn": s.function_arn,
            "condition": condition,
            "approximateInvokeCount": piece.invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_millis(now),
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": format_seq(first.seq),
            "endSequenceNumber": format_seq(last.seq),
            "approximateArrivalOfFirstRecord": iso_millis(first.created_ms),
            "approximateArrivalOfLastRecord": iso_millis(last.created_ms),
            "batchSize": records.len(),
            "streamArn": s.stream_arn,
        },
    });
    Some(FailureRecord {
        shard: shard.to_string(),
        destination,
        record,
        depth: records.iter().map(|r| r.depth).max().unwrap_or(0),
        seqs: records.iter().map(|r| r.seq).collect(),
    })
}
