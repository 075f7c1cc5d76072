//! Another engine's stream as a record source: DynamoDB Streams' API
//! (`DescribeStream`, `GetShardIterator`, `GetRecords`) polled over HTTP, as
//! Lambda's pollers read DynamoDB's streams.
//!
//! The engine asks a source synchronously, so the network is kept out of its
//! way: a task per shard being read (a *feed*) polls `GetRecords` ahead of
//! the engine into a bounded buffer and wakes it when records arrive, and a
//! task keeps the shard layout (`DescribeStream`, paged) fresh. A read the
//! buffer cannot answer (the first one, or one that goes back, after a
//! restart from a checkpoint) restarts the shard's feed at that position and
//! answers an empty page; the records follow with the feed's first poll.
//!
//! - **Rate.** A feed polls at most [`POLLS_PER_SECOND`] times a second, as
//!   Lambda polls DynamoDB's shards four times a second; every feed of this
//!   process for the same shard shares [`SHARD_CALLS_PER_SECOND`] (DynamoDB
//!   Streams allows five `GetRecords` a second per shard).
//! - **Iterators.** An iterator that expired (15 minutes unused, while the
//!   buffer was full) is acquired again after the last record read.
//! - **Trimmed records.** When the position was trimmed by the 24-hour
//!   retention (`TrimmedDataAccessException`), the feed logs it and goes on
//!   at the trim horizon, as Lambda does.
//! - **Shard ends.** A feed that reads its shard to the end (no next
//!   iterator) asks for the shard's children (`ShardFilter` `CHILD_SHARDS`,
//!   or the whole layout where the engine does not filter), so a child starts
//!   as soon as its parent is done.
//! - **`LATEST`.** A mapping starting at `LATEST` starts each shard just
//!   past its newest record when it started polling: a Tidepool source says
//!   where that is at once (`fix_latest`); another engine only with the
//!   first record written after the start, and until a record arrives in
//!   every open shard, the position is pending and nothing starts.
//!
//! The records are the engine's own JSON, with `eventSourceARN` added as
//! Lambda adds it; their trigger chain depth is 0 (another engine does not
//! record it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::source::{
    PROBLEM_AFTER_FAILURES, ReadError, RecordSource, STREAM_RETENTION_MS, Seq, ShardInfo, SourcePage, SourceRecord,
    StreamLayout, forward, parse_seq, source_problem,
};
use crate::endpoint::{CallError, Endpoint, Service};

/// `GetRecords` calls a feed makes per second at most (Lambda polls each
/// shard four times a second).
pub const POLLS_PER_SECOND: u32 = 4;
/// `GetRecords` calls per second per shard across every feed of the
/// process: DynamoDB Streams' limit.
pub const SHARD_CALLS_PER_SECOND: u32 = 5;
/// Records a feed holds ahead of the engine; it stops polling past this.
pub const FEED_MAX_RECORDS: usize = 10_000;
/// Bytes of record JSON a feed holds ahead of the engine (about eight
/// `GetRecords` pages of 1 MB).
pub const FEED_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Records asked for per `GetRecords` call (DynamoDB Streams' maximum).
const GET_RECORDS_LIMIT: u32 = 1000;
/// How often the whole shard layout is described again.
pub const LAYOUT_REFRESH: Duration = Duration::from_secs(10);
/// A shard leaves the layout once it has been missing from this many
/// descriptions in a row over at least [`ABSENT_FOR`].
const ABSENT_DESCRIPTIONS: u32 = 3;
const ABSENT_FOR: Duration = Duration::from_secs(20);
/// Shards per `DescribeStream` page (DynamoDB Streams' maximum).
const DESCRIBE_LIMIT: u32 = 100;
/// First wait after a failed call, doubled per failure up to
/// [`MAX_BACKOFF`].
const BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A stream of another engine, read through its Streams API.
pub struct StreamsSource {
    shared: Arc<Shared>,
}

struct Shared {
    endpoint: Arc<Endpoint>,
    arn: String,
    state: Mutex<State>,
    /// Bumped when the layout changes.
    layout_tx: watch::Sender<u64>,
    /// Asks the layout task for a refresh (`Some(shard)`: that shard ended,
    /// its children are wanted).
    refresh_tx: tokio::sync::mpsc::UnboundedSender<Option<String>>,
    /// When each shard was last asked for records by this process.
    calls: Arc<ShardCalls>,
    /// The engine answered a push subscription's wait at least once.
    push_seen: std::sync::atomic::AtomicBool,
    /// No push subscription is tried before this time (epoch ms): the
    /// engine had none when last asked.
    push_off_until: std::sync::atomic::AtomicU64,
    /// Why the stream cannot be described now, after
    /// [`PROBLEM_AFTER_FAILURES`] failures in a row.
    problem: Mutex<Option<String>>,
}

/// How long a source without a push subscription is polled before it is
/// asked again (a Tidepool node upgraded meanwhile, say).
pub const PUSH_RETRY: Duration = Duration::from_secs(300);
/// How long after a first wait that failed (not for want of the operation)
/// it is tried again.
const PUSH_FIRST_RETRY: Duration = Duration::from_secs(15);
/// The least time between two pushed reads of one shard.
const PUSHED_READ_GAP: Duration = Duration::from_millis(5);

/// Wake-ups in a row whose read found no record before the feed keeps the
/// polling pace until a read finds records (a guard against a busy loop).
const MAX_EMPTY_WAKES: u32 = 3;

/// The longest one wait on a push subscription lasts (the engine's own
/// limit is 20 s); the shard is read again after it either way.
pub const PUSH_WAIT: Duration = Duration::from_secs(10);

/// The spacing of `GetRecords` calls per shard, shared by every feed of the
/// process.
#[derive(Default)]
pub struct ShardCalls(Mutex<HashMap<String, Instant>>);

impl ShardCalls {
    /// Waits until a call to `shard` of `arn` keeps within
    /// [`SHARD_CALLS_PER_SECOND`], and books it.
    async fn book(&self, arn: &str, shard: &str) {
        let gap = Duration::from_secs(1) / SHARD_CALLS_PER_SECOND;
        let key = format!("{arn} {shard}");
        let at = {
            let mut calls = lock(&self.0);
            let now = Instant::now();
            let at = calls.get(&key).map_or(now, |last| (*last + gap).max(now));
            calls.insert(key, at);
            if calls.len() > 100_000 {
                calls.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(60));
            }
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// The process's spacing of calls per shard.
fn shard_calls() -> Arc<ShardCalls> {
    static CALLS: std::sync::OnceLock<Arc<ShardCalls>> = std::sync::OnceLock::new();
    CALLS.get_or_init(|| Arc::new(ShardCalls::default())).clone()
}

#[derive(Default)]
struct State {
    layout: Option<StreamLayout>,
    /// The table's partition key attribute.
    hash_key: String,
    feeds: HashMap<String, Feed>,
    /// Per shard, the wake-ups of the engine's watchers (kept across feed
    /// restarts).
    wakes: HashMap<String, watch::Sender<u64>>,
    /// Feeds started, so a stale poller can tell it was replaced.
    next_feed: u64,
    /// Shards of the layout missing from the last descriptions: how many
    /// in a row, since when.
    absent: HashMap<String, (u32, Instant)>,
    layout_task: Option<JoinHandle<()>>,
}

/// Where a feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Horizon,
    Latest,
    After(Seq),
}

struct Feed {
    id: u64,
    /// Every record from here on (below the next poll's) is in `buffer`.
    /// `Seq::MAX` for a `LATEST` feed until its position is known.
    lo: Seq,
    buffer: VecDeque<SourceRecord>,
    bytes: usize,
    /// The shard was read to its end.
    ended: bool,
    /// Where a `LATEST` feed starts: just past the shard's newest record
    /// when it started (`fix_latest`), or its first record.
    latest_at: Option<Seq>,
    latest: bool,
    gone: bool,
    /// The source had no record past those read: the last `GetRecords`
    /// answered none, or a push wait for the next one is under way. With
    /// the buffer empty the engine is caught up (iterator age 0).
    at_tip: bool,
    /// The poller waits here while the buffer is full.
    room: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for StreamsSource {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        for (_, f) in st.feeds.drain() {
            f.task.abort();
        }
        if let Some(t) = st.layout_task.take() {
            t.abort();
        }
    }
}

impl StreamsSource {
    /// The stream `arn` of `endpoint`. Must be called within a tokio runtime:
    /// it starts describing the stream at once.
    pub fn new(endpoint: Arc<Endpoint>, arn: &str) -> StreamsSource {
        let (refresh_tx, refresh_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            endpoint,
            arn: arn.to_string(),
            state: Mutex::new(State::default()),
            layout_tx: watch::Sender::new(0),
            refresh_tx,
            calls: shard_calls(),
            push_seen: std::sync::atomic::AtomicBool::new(false),
            // `TIDEPOOL_SOURCE_PUSH=off` polls even a Tidepool source (to
            // compare the two, as bench/workers.py does).
            push_off_until: std::sync::atomic::AtomicU64::new(
                if std::env::var("TIDEPOOL_SOURCE_PUSH").is_ok_and(|v| v == "off") { u64::MAX } else { 0 },
            ),
            problem: Mutex::new(None),
        });
        let task = tokio::spawn(keep_layout(shared.clone(), refresh_rx));
        lock(&shared.state).layout_task = Some(task);
        StreamsSource { shared }
    }

    /// Starts (or restarts) the feed of `shard` at `start`, its buffer valid
    /// from `lo`.
    fn start_feed(&self, st: &mut State, shard: &str, start: Start, lo: Seq) {
        if let Some(old) = st.feeds.remove(shard) {
            old.task.abort();
        }
        st.next_feed += 1;
        let id = st.next_feed;
        let room = Arc::new(Notify::new());
        let task = tokio::spawn(poll_shard(self.shared.clone(), shard.to_string(), id, start, room.clone()));
        let latest = start == Start::Latest;
        st.feeds.insert(
            shard.to_string(),
            Feed {
                id,
                lo,
                buffer: VecDeque::new(),
                bytes: 0,
                ended: false,
                latest_at: None,
                latest,
                gone: false,
                at_tip: false,
                room,
                task,
            },
        );
    }
}

impl RecordSource for StreamsSource {
    fn layout(&self) -> Option<StreamLayout> {
        lock(&self.shared.state).layout.clone()
    }

    fn release(&self, shard: &str) {
        if let Some(f) = lock(&self.shared.state).feeds.remove(shard) {
            f.task.abort();
        }
    }

    fn problem(&self) -> Option<String> {
        lock(&self.shared.problem).clone()
    }

    fn position(&self, shard: &str, latest: bool) -> Result<Seq, ReadError> {
        let mut st = lock(&self.shared.state);
        if !latest {
            let layout = st.layout.as_ref().ok_or(ReadError::Pending)?;
            return layout.shards.iter().find(|s| s.id == shard).map(|s| s.start_seq).ok_or(ReadError::Gone);
        }
        match st.feeds.get(shard) {
            Some(f) if f.latest => {
                if let Some(at) = f.latest_at {
                    Ok(at)
                } else if f.ended {
                    // Nothing was written after the start before the shard
                    // closed: past every record.
                    Ok(Seq::MAX)
                } else if f.gone {
                    Err(ReadError::Gone)
                } else {
                    Err(ReadError::Pending)
                }
            }
            _ => {
                self.start_feed(&mut st, shard, Start::Latest, Seq::MAX);
                Err(ReadError::Pending)
            }
        }
    }

    fn read(&self, shard: &str, from: Seq, limit: usize) -> Result<SourcePage, ReadError> {
        let mut st = lock(&self.shared.state);
        let start_seq = st.layout.as_ref().and_then(|l| l.shards.iter().find(|s| s.id == shard)).map(|s| s.start_seq);
        // Past every record: a `LATEST` shard that closed before any was
        // written.
        if from == Seq::MAX {
            return Ok(SourcePage { records: Vec::new(), next: None, caught_up: true });
        }
        match st.feeds.get_mut(shard) {
            Some(f) if from >= f.lo || (f.gone && f.buffer.is_empty()) => {
                let before = f.buffer.len();
                while f.buffer.front().is_some_and(|r| r.seq < from) {
                    let r = f.buffer.pop_front().expect("a front record");
                    f.bytes -= r.json.len();
                }
                let n = f.buffer.len().min(limit);
                let records: Vec<SourceRecord> = f.buffer.drain(..n).collect();
                f.bytes -= records.iter().map(|r| r.json.len()).sum::<usize>();
                f.lo = records.last().map_or(from, |r| r.seq.saturating_add(1)).max(from);
                if f.buffer.len() < before {
                    f.room.notify_one();
                }
                if records.is_empty() && f.gone {
                    return Err(ReadError::Gone);
                }
                let done = f.ended && f.buffer.is_empty();
                let next = (!done).then_some(f.lo);
                let caught_up = records.is_empty() && f.buffer.is_empty() && (f.at_tip || done);
                if done {
                    // Read to its end: the feed's work is over.
                    st.feeds.remove(shard);
                }
                Ok(SourcePage { records, next, caught_up })
            }
            _ => {
                let start = match start_seq {
                    Some(s) if from <= s => Start::Horizon,
                    _ => match from.checked_sub(1) {
                        Some(after) => Start::After(after),
                        None => Start::Horizon,
                    },
                };
                self.start_feed(&mut st, shard, start, from);
                Ok(SourcePage { records: Vec::new(), next: Some(from), caught_up: false })
            }
        }
    }

    fn watch_shard(&self, shard: &str, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        let rx = lock(&self.shared.state)
            .wakes
            .entry(shard.to_string())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        Some(forward(rx, wake))
    }

    fn watch_layout(&self, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        Some(forward(self.shared.layout_tx.subscribe(), wake))
    }
}

fn backoff(failures: u32) -> Duration {
    (BACKOFF * 2u32.saturating_pow(failures.min(8))).min(MAX_BACKOFF)
}

/// Wakes the engine's watchers of `shard`.
fn wake(st: &mut State, shard: &str) {
    st.wakes.entry(shard.to_string()).or_insert_with(|| watch::Sender::new(0)).send_modify(|n| *n += 1);
}

/// A feed's poller: keeps the buffer of feed `id` of `shard` filled.
async fn poll_shard(shared: Arc<Shared>, shard: String, id: u64, mut start: Start, room: Arc<Notify>) {
    if start == Start::Latest
        && let Some(fixed) = fix_latest(&shared, &shard, id).await
    {
        start = fixed;
    }
    let mut iterator: Option<String> = None;
    let mut failures = 0u32;
    let mut last_poll: Option<Instant> = None;
    let mut pushed = false;
    let mut empty_wakes = 0u32;
    let poll_gap = Duration::from_secs(1) / POLLS_PER_SECOND;
    loop {
        // Wait for room in the buffer.
        loop {
            let full = {
                let st = lock(&shared.state);
                match st.feeds.get(&shard) {
                    Some(f) if f.id == id => f.buffer.len() >= FEED_MAX_RECORDS || f.bytes >= FEED_MAX_BYTES,
                    _ => return,
                }
            };
            if !full {
                break;
            }
            // Rechecked at least each second, should a notification be missed.
            let _ = tokio::time::timeout(Duration::from_secs(1), room.notified()).await;
        }
        let it = match iterator.take() {
            Some(it) => it,
            None => match shard_iterator(&shared, &shard, start).await {
                Ok(it) => it,
                Err(e) if e.kind() == "TrimmedDataAccessException" && start != Start::Horizon => {
                    tracing::warn!(stream = %shared.arn, shard = %shard, "records trimmed by retention before delivery: going on at the trim horizon");
                    start = Start::Horizon;
                    continue;
                }
                Err(e) if e.kind() == "ResourceNotFoundException" => {
                    mark_gone(&shared, &shard, id);
                    return;
                }
                // A position the engine does not take (a number between two
                // records, say): read from the trim horizon; what is below the
                // position is dropped as it arrives.
                Err(e) if e.kind() == "ValidationException" && matches!(start, Start::After(_)) => {
                    tracing::debug!(stream = %shared.arn, shard = %shard, error = %e, "position refused; reading from the trim horizon");
                    start = Start::Horizon;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(stream = %shared.arn, shard = %shard, error = %e, "GetShardIterator failed; trying again");
                    tokio::time::sleep(backoff(failures)).await;
                    failures += 1;
                    continue;
                }
            },
        };
        // Woken by the engine's push subscription: straight to the records.
        // Polled: within Lambda's rate and DynamoDB Streams' limit.
        let was_pushed = std::mem::take(&mut pushed);
        if was_pushed {
            // Even pushed, reads of one shard are a few milliseconds apart.
            if let Some(at) = last_poll {
                tokio::time::sleep_until((at + PUSHED_READ_GAP).into()).await;
            }
        } else {
            if let Some(at) = last_poll {
                tokio::time::sleep_until((at + poll_gap).into()).await;
            }
            shared.calls.book(&shared.arn, &shard).await;
        }
        last_poll = Some(Instant::now());
        let answer = shared
            .endpoint
            .call(Service::Streams, "GetRecords", &json!({"ShardIterator": it, "Limit": GET_RECORDS_LIMIT}))
            .await;
        match answer {
            Ok(page) => {
                failures = 0;
                let hash_key = lock(&shared.state).hash_key.clone();
                let records = page_records(&page, &shared.arn, &hash_key, &shard);
                if let Some(last) = records.last() {
                    start = Start::After(last.seq);
                }
                let got = records.len();
                let next = page.get("NextShardIterator").and_then(Value::as_str).map(str::to_string);
                let ended = next.is_none();
                {
                    let mut st = lock(&shared.state);
                    let Some(f) = st.feeds.get_mut(&shard).filter(|f| f.id == id) else { return };
                    // A `LATEST` position found (or the shard ended before
                    // one): the engine waits on it with no shard active, so
                    // it is woken through the layout's channel.
                    let mut settled = false;
                    if f.latest && f.latest_at.is_none() {
                        if let Some(first) = records.first() {
                            f.latest_at = Some(first.seq);
                            f.lo = first.seq;
                            settled = true;
                        } else if ended {
                            settled = true;
                        }
                    }
                    let got = !records.is_empty();
                    for r in records {
                        if r.seq >= f.lo || f.lo == Seq::MAX {
                            f.bytes += r.json.len();
                            f.buffer.push_back(r);
                        }
                    }
                    f.ended = ended;
                    f.at_tip = !got;
                    if got || ended {
                        wake(&mut st, &shard);
                    }
                    if settled {
                        shared.layout_tx.send_modify(|n| *n += 1);
                    }
                }
                if ended {
                    let _ = shared.refresh_tx.send(Some(shard.clone()));
                    return;
                }
                iterator = next;
                // A page that was not full read what there was: wait for the
                // next record past the last one where the engine offers a
                // push subscription (it answers at once if one is there). A
                // wake-up whose read found nothing, several in a row, falls
                // back to the polling pace until a read finds records.
                if got > 0 {
                    empty_wakes = 0;
                } else if was_pushed {
                    empty_wakes += 1;
                }
                // From the trim horizon with nothing read yet, any record will do.
                let after = match start {
                    Start::After(a) => Some(Some(a)),
                    Start::Horizon => Some(None),
                    Start::Latest => None,
                };
                if (got as u32) < GET_RECORDS_LIMIT
                    && empty_wakes < MAX_EMPTY_WAKES
                    && let Some(after) = after
                {
                    pushed = wait_for_records(&shared, &shard, id, after).await;
                }
            }
            Err(e) => match e.kind() {
                "ExpiredIteratorException" => {
                    tracing::debug!(stream = %shared.arn, shard = %shard, "shard iterator expired; acquiring another");
                }
                "TrimmedDataAccessException" => {
                    tracing::warn!(stream = %shared.arn, shard = %shard, "records trimmed by retention before delivery: going on at the trim horizon");
                    start = Start::Horizon;
                }
                "ResourceNotFoundException" => {
                    mark_gone(&shared, &shard, id);
                    return;
                }
                _ => {
                    tracing::warn!(stream = %shared.arn, shard = %shard, error = %e, "GetRecords failed; trying again");
                    tokio::time::sleep(backoff(failures)).await;
                    failures += 1;
                }
            },
        }
    }
}

/// Waits on a Tidepool source's push subscription (`WaitForRecords`) until
/// `shard` has a record past `after`, or closes, or [`PUSH_WAIT`] passes.
/// True when the answer says records (or the shard's end) are there to be
/// read at once; false when the next read keeps the polling pace: the wait
/// ran out, the engine has no such subscription (anything but Tidepool's
/// answer before one was seen turns it off for [`PUSH_RETRY`]), or the
/// call failed.
async fn wait_for_records(shared: &Shared, shard: &str, id: u64, after: Option<Seq>) -> bool {
    use std::sync::atomic::Ordering;
    let now = super::clock::Clock::now_ms(&super::clock::SystemClock);
    if now < shared.push_off_until.load(Ordering::Relaxed) {
        return false;
    }
    let mut request = json!({"StreamArn": shared.arn, "ShardId": shard, "TimeoutMillis": PUSH_WAIT.as_millis() as u64});
    if let Some(a) = after {
        request["AfterSequenceNumber"] = super::source::format_seq(a).into();
    }
    // While the wait lasts the source has no record past `after` (it
    // answers at once when it has): the feed is at the shard's tip.
    let at_tip = |on: bool| {
        if let Some(f) = lock(&shared.state).feeds.get_mut(shard).filter(|f| f.id == id) {
            f.at_tip = on;
        }
    };
    at_tip(true);
    let answer = shared.endpoint.call_waiting(Service::Streams, "WaitForRecords", &request, PUSH_WAIT).await;
    at_tip(false);
    let off_for = |d: Duration, why: &dyn std::fmt::Display| {
        tracing::debug!(stream = %shared.arn, reason = %why, "no push subscription for now: polling");
        shared.push_off_until.store(now + d.as_millis() as u64, Ordering::Relaxed);
        false
    };
    match answer {
        // Tidepool's answer: `TimedOut` is a boolean.
        Ok(a) if a.get("TimedOut").is_some_and(Value::is_boolean) => {
            if !shared.push_seen.swap(true, Ordering::Relaxed) {
                tracing::info!(stream = %shared.arn, "the source pushes: its shards are read as records commit");
            }
            let closed = a.get("Closed").and_then(Value::as_bool).unwrap_or(false);
            let last = a.get("LastSequenceNumber").and_then(Value::as_str).and_then(parse_seq);
            let past = last.is_some_and(|l| after.is_none_or(|a| l > a));
            a.get("TimedOut") == Some(&Value::Bool(false)) && (closed || past)
        }
        // The engine has no such operation: poll, and ask again later.
        Ok(_) => off_for(PUSH_RETRY, &"an answer that is not Tidepool's"),
        Err(e @ CallError::NotJson { .. }) => off_for(PUSH_RETRY, &e),
        Err(e) if e.kind() == "UnknownOperationException" || e.kind() == "UnknownOperation" => off_for(PUSH_RETRY, &e),
        // Tidepool, too busy for another waiter: poll this time.
        Err(e) if e.kind() == "LimitExceededException" => {
            shared.push_seen.store(true, Ordering::Relaxed);
            false
        }
        // This worker's wait slots are taken, or a passing failure of an
        // engine known to push: poll this time.
        Err(CallError::Transport(e)) if e == crate::endpoint::WAITS_FULL => false,
        Err(_) if shared.push_seen.load(Ordering::Relaxed) => false,
        // A first wait that failed otherwise: ask again soon.
        Err(e) => off_for(PUSH_FIRST_RETRY, &e),
    }
}

/// Fixes a `LATEST` feed's position at once where the source says where
/// its shard's newest record is (a Tidepool source's `WaitForRecords`,
/// asked not to wait): just past it, or the shard's first record when it
/// has none. The engine then checkpoints that position in the lease, so a
/// worker that takes the shard before any record is delivered (after a
/// `kill -9`, a hand-back, a steal) starts there, not at a `LATEST` of its
/// own that skips what was written meanwhile. Another engine gives no
/// position without a record: its feed stays `LATEST` until the first one
/// (README, "Running a worker fleet"). `None`: not fixed.
/// Asked whether or not the source pushes (`push_off_until`): it is one
/// call per feed started at `LATEST`, and it holds no waiter slot there.
async fn fix_latest(shared: &Shared, shard: &str, id: u64) -> Option<Start> {
    let request = json!({"StreamArn": shared.arn, "ShardId": shard, "TimeoutMillis": 0});
    let answer = shared.endpoint.call(Service::Streams, "WaitForRecords", &request).await.ok()?;
    // Tidepool's answer only: `TimedOut` is a boolean.
    answer.get("TimedOut").filter(|t| t.is_boolean())?;
    // Absent: the shard has no record. Present but unreadable: not fixed.
    let last = match answer.get("LastSequenceNumber") {
        None => None,
        Some(v) => Some(v.as_str().and_then(parse_seq)?),
    };
    let mut st = lock(&shared.state);
    let first = st.layout.as_ref()?.shards.iter().find(|s| s.id == shard)?.start_seq;
    let (start, at) = match last {
        Some(l) => (Start::After(l), l.saturating_add(1)),
        None => (Start::Horizon, first),
    };
    let f = st.feeds.get_mut(shard).filter(|f| f.id == id)?;
    f.latest_at = Some(at);
    f.lo = at;
    drop(st);
    // The engine waits on the position with no shard active: woken through
    // the layout's channel, as when a first record fixes it.
    shared.layout_tx.send_modify(|n| *n += 1);
    Some(start)
}

fn mark_gone(shared: &Shared, shard: &str, id: u64) {
    let mut st = lock(&shared.state);
    if let Some(f) = st.feeds.get_mut(shard).filter(|f| f.id == id) {
        f.gone = true;
        wake(&mut st, shard);
    }
    let _ = shared.refresh_tx.send(None);
}

async fn shard_iterator(shared: &Shared, shard: &str, start: Start) -> Result<String, CallError> {
    let mut request = json!({"StreamArn": shared.arn, "ShardId": shard});
    match start {
        Start::Horizon => request["ShardIteratorType"] = "TRIM_HORIZON".into(),
        Start::Latest => request["ShardIteratorType"] = "LATEST".into(),
        Start::After(seq) => {
            request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER".into();
            request["SequenceNumber"] = super::source::format_seq(seq).into();
        }
    }
    let answer = shared.endpoint.call(Service::Streams, "GetShardIterator", &request).await?;
    answer
        .get("ShardIterator")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| CallError::Transport("GetShardIterator answered no ShardIterator".into()))
}

/// The records of a `GetRecords` answer, as the function receives them. A
/// record without a sequence number this engine can order is skipped, with
/// a warning: it cannot be delivered in order or checkpointed.
fn page_records(page: &Value, arn: &str, hash_key: &str, shard: &str) -> Vec<SourceRecord> {
    let Some(list) = page.get("Records").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        let mut r = r.clone();
        let Some(ddb) = r.get("dynamodb") else {
            tracing::warn!(stream = arn, shard, "a record without `dynamodb` skipped");
            continue;
        };
        let seq_text = ddb.get("SequenceNumber").and_then(Value::as_str).unwrap_or_default();
        let Some(seq) = parse_seq(seq_text) else {
            tracing::warn!(
                stream = arn,
                shard,
                sequence_number = seq_text,
                "a record whose sequence number cannot be read skipped"
            );
            continue;
        };
        // Without a creation time, the time it was read: never "too old".
        let created_ms =
            ddb.get("ApproximateCreationDateTime").and_then(Value::as_f64).filter(|s| *s > 0.0).map_or_else(
                || super::clock::Clock::now_ms(&super::clock::SystemClock),
                |s| if s > 1e11 { s as u64 } else { (s * 1000.0) as u64 },
            );
        let partition = ddb.get("Keys").and_then(|k| k.get(hash_key)).map(Value::to_string).unwrap_or_default();
        if let Some(o) = r.as_object_mut() {
            o.insert("eventSourceARN".into(), Value::String(arn.to_string()));
        }
        out.push(SourceRecord { seq, created_ms, depth: 0, partition, json: r.to_string() });
    }
    out
}

/// Keeps the layout fresh: described at start, every [`LAYOUT_REFRESH`],
/// and when a feed asks.
async fn keep_layout(shared: Arc<Shared>, mut asks: tokio::sync::mpsc::UnboundedReceiver<Option<String>>) {
    let mut failures = 0u32;
    let mut next_full = Instant::now();
    loop {
        tokio::select! {
            ask = asks.recv() => match ask {
                None => return,
                // The children of a shard that ended: a filtered call, or
                // the whole stream where the engine has no filter.
                Some(Some(parent)) => {
                    if let Err(e) = children(&shared, &parent).await {
                        tracing::debug!(stream = %shared.arn, error = %e, "children not listed by filter; describing the whole stream");
                        next_full = Instant::now();
                    }
                }
                Some(None) => next_full = Instant::now(),
            },
            _ = tokio::time::sleep_until(next_full.into()) => {}
        }
        if Instant::now() >= next_full {
            match describe(&shared).await {
                Ok(()) => {
                    failures = 0;
                    next_full = Instant::now() + LAYOUT_REFRESH;
                    *lock(&shared.problem) = None;
                }
                Err(e) => {
                    tracing::warn!(stream = %shared.arn, error = %e, "DescribeStream failed; trying again");
                    failures += 1;
                    next_full = Instant::now() + backoff(failures);
                    if failures >= PROBLEM_AFTER_FAILURES {
                        let what = "The stream source";
                        *lock(&shared.problem) = Some(source_problem(what, shared.endpoint.authority(), &e));
                    }
                }
            }
        }
    }
}

/// One shard of a `DescribeStream` answer.
fn shard_info(s: &Value) -> Option<ShardInfo> {
    let id = s.get("ShardId")?.as_str()?.to_string();
    let range = s.get("SequenceNumberRange")?;
    let start_seq = parse_seq(range.get("StartingSequenceNumber")?.as_str()?)?;
    let closed = range.get("EndingSequenceNumber").is_some_and(|e| !e.is_null());
    let parent = s.get("ParentShardId").and_then(Value::as_str).map(str::to_string);
    Some(ShardInfo { id, parent, start_seq, closed })
}

/// Describes the whole stream (every page) into the layout.
async fn describe(shared: &Shared) -> Result<(), CallError> {
    let mut shards = Vec::new();
    let mut hash_key = String::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = json!({"StreamArn": shared.arn, "Limit": DESCRIBE_LIMIT});
        if let Some(a) = &after {
            request["ExclusiveStartShardId"] = a.clone().into();
        }
        let answer = match shared.endpoint.call(Service::Streams, "DescribeStream", &request).await {
            Ok(a) => a,
            Err(e) if e.kind() == "ResourceNotFoundException" => {
                let mut st = lock(&shared.state);
                if st.layout.take().is_some() {
                    shared.layout_tx.send_modify(|n| *n += 1);
                }
                drop(st);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let desc = answer.get("StreamDescription").cloned().unwrap_or(Value::Null);
        if let Some(keys) = desc.get("KeySchema").and_then(Value::as_array) {
            for k in keys {
                if k.get("KeyType").and_then(Value::as_str) == Some("HASH") {
                    hash_key = k.get("AttributeName").and_then(Value::as_str).unwrap_or_default().to_string();
                }
            }
        }
        for s in desc.get("Shards").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            if let Some(info) = shard_info(s) {
                shards.push(info);
            }
        }
        after = desc.get("LastEvaluatedShardId").and_then(Value::as_str).map(str::to_string);
        if after.is_none() {
            break;
        }
    }
    let mut st = lock(&shared.state);
    // A shard missing from one description (a page that raced a change) is
    // kept until it has been missing from several in a row: the engine
    // forgets a shard gone from the layout, checkpoint and all.
    let described: std::collections::HashSet<String> = shards.iter().map(|s| s.id.clone()).collect();
    let known: Vec<ShardInfo> = st.layout.as_ref().map(|l| l.shards.clone()).unwrap_or_default();
    let now = Instant::now();
    let gone = |(n, since): &(u32, Instant)| *n >= ABSENT_DESCRIPTIONS && now.duration_since(*since) >= ABSENT_FOR;
    for s in known {
        if !described.contains(&s.id) {
            let seen = st.absent.entry(s.id.clone()).or_insert((0, now));
            seen.0 += 1;
            if !gone(seen) {
                shards.push(s);
            }
        }
    }
    st.absent.retain(|id, seen| !described.contains(id) && !gone(seen));
    let layout = StreamLayout { shards: parents_first(shards), retention_ms: STREAM_RETENTION_MS };
    st.hash_key = hash_key;
    // Shards the engine no longer lists (trimmed away): their feeds go.
    let ids: std::collections::HashSet<&str> = layout.shards.iter().map(|s| s.id.as_str()).collect();
    st.feeds.retain(|id, f| {
        let keep = ids.contains(id.as_str());
        if !keep {
            f.task.abort();
        }
        keep
    });
    st.wakes.retain(|id, _| ids.contains(id.as_str()));
    if st.layout.as_ref() != Some(&layout) {
        st.layout = Some(layout);
        shared.layout_tx.send_modify(|n| *n += 1);
    }
    Ok(())
}

/// Adds the children of `parent` to the layout, listed with `ShardFilter`.
async fn children(shared: &Shared, parent: &str) -> Result<(), CallError> {
    let request = json!({
        "StreamArn": shared.arn,
        "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": parent},
    });
    let answer = shared.endpoint.call(Service::Streams, "DescribeStream", &request).await?;
    let found: Vec<ShardInfo> = answer
        .pointer("/StreamDescription/Shards")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(shard_info).collect())
        .unwrap_or_default();
    let mut st = lock(&shared.state);
    let Some(layout) = st.layout.as_mut() else { return Ok(()) };
    let mut changed = false;
    for s in &mut layout.shards {
        if s.id == parent && !s.closed {
            s.closed = true;
            changed = true;
        }
    }
    for child in found {
        if child.parent.as_deref() == Some(parent) && !layout.shards.iter().any(|s| s.id == child.id) {
            layout.shards.push(child);
            changed = true;
        }
    }
    if changed {
        shared.layout_tx.send_modify(|n| *n += 1);
    }
    Ok(())
}

/// The shards with every parent listed before its children.
fn parents_first(mut shards: Vec<ShardInfo>) -> Vec<ShardInfo> {
    let mut out: Vec<ShardInfo> = Vec::with_capacity(shards.len());
    while !shards.is_empty() {
        let ids: std::collections::HashSet<String> = shards.iter().map(|s| s.id.clone()).collect();
        let (ready, rest): (Vec<ShardInfo>, Vec<ShardInfo>) =
            shards.into_iter().partition(|s| s.parent.as_ref().is_none_or(|p| !ids.contains(p)));
        if ready.is_empty() {
            // A cycle (a broken engine): keep the rest as listed.
            out.extend(rest);
            break;
        }
        out.extend(ready);
        shards = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> ShardInfo {
        ShardInfo { id: id.into(), parent: parent.map(Into::into), start_seq: 1, closed: false }
    }

    #[test]
    fn parents_come_before_children() {
        let got = parents_first(vec![
            shard("c", Some("b")),
            shard("b", Some("a")),
            shard("a", None),
            shard("x", Some("gone")),
        ]);
        let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "x", "b", "c"]);
    }

    #[test]
    fn records_get_the_source_arn_and_their_numbers() {
        let page = json!({"Records": [{
            "eventID": "e1", "eventName": "INSERT",
            "dynamodb": {"ApproximateCreationDateTime": 1.7e9, "Keys": {"pk": {"S": "a"}},
                         "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 10}
        }]});
        let got = page_records(&page, "arn:s", "pk", "s0");
        assert_eq!(got[0].seq, 4421584500000000017450439091);
        assert_eq!(got[0].created_ms, 1_700_000_000_000);
        assert_eq!(got[0].partition, r#"{"S":"a"}"#);
        let v: Value = serde_json::from_str(&got[0].json).unwrap();
        assert_eq!(v["eventSourceARN"], "arn:s");
        assert_eq!(v["eventID"], "e1");
        let bad = json!({"Records": [{"dynamodb": {"SequenceNumber": "12x"}}, {"dynamodb": {"SequenceNumber": "000000000000000000007"}}]});
        let got = page_records(&bad, "arn:s", "pk", "s0");
        assert_eq!(got.len(), 1, "the unreadable record is skipped");
        assert_eq!(got[0].seq, 7);
        assert!(got[0].created_ms > 1_700_000_000_000, "no creation time: the time it was read");
    }
}
