//! Where records come from: a stream's shard layout and its records. The
//! engine reads through [`RecordSource`]; [`StoreSource`] is the store's
//! change stream, [`StreamsSource`](super::remote::StreamsSource) another
//! engine's DynamoDB Streams API, the simulation has its own.
//!
//! A source hands the engine records already written as the function
//! receives them ([`SourceRecord`]), with what the engine needs to order,
//! filter and age them, so the engine depends on no source's record format.

use std::sync::{Arc, Mutex};

use tidepool_store::stream::{RecordPage, StartingPosition, StreamMeta, StreamRecord};
use tidepool_store::table::StreamViewType;
use tidepool_store::value::json::value_to_json;
use tidepool_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::config::parse_stream_arn;

/// A stream record's sequence number. DynamoDB Streams writes them as
/// decimal strings of 21 to 40 digits (DynamoDB's own run to about 28, the
/// store's are 21); a `u128` holds every one below 3.4 × 10^38, and a source
/// refuses a longer one (see [`parse_seq`]).
pub type Seq = u128;

/// A sequence number as DynamoDB Streams writes it: at least 21 digits,
/// zero-padded (the store's form; DynamoDB's own are 21 digits or longer, so
/// they come out as they went in).
pub fn format_seq(seq: Seq) -> String {
    format!("{seq:021}")
}

/// A sequence number string as a number; `None` when it is not decimal
/// digits or does not fit a [`Seq`].
pub fn parse_seq(s: &str) -> Option<Seq> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // `Seq::MAX` stands for "past every record".
    s.parse::<Seq>().ok().filter(|n| *n < Seq::MAX)
}

/// One record as the engine delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub seq: Seq,
    /// `ApproximateCreationDateTime`, in milliseconds since the epoch.
    pub created_ms: u64,
    /// How many trigger invocations led to the write (`origin.depth`; 0 for
    /// records of another engine, which does not say).
    pub depth: u32,
    /// The value of the table's partition key as JSON text: records with
    /// the same value keep their order under `ParallelizationFactor`.
    pub partition: String,
    /// The record as the function receives it, `eventSourceARN` included.
    pub json: String,
}

impl SourceRecord {
    /// A record of the store's change stream, written for a function
    /// consuming `stream_arn` in `region`; `mark_replicated` as the store's
    /// `StreamConfig::mark_replicated_writes`.
    pub fn from_store(
        r: &StreamRecord,
        view: StreamViewType,
        hash_key: &str,
        region: &str,
        stream_arn: &str,
        mark_replicated: bool,
    ) -> Self {
        let mut buf = Vec::with_capacity(256 + 2 * r.size_bytes as usize);
        r.write_json(&mut buf, view, region, true, Some(stream_arn), mark_replicated);
        let json = match String::from_utf8(buf) {
            Ok(text) => text,
            // The writer only writes UTF-8 (it copies strings and ASCII).
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        SourceRecord {
            seq: Seq::from(r.seq),
            created_ms: r.created_ms,
            depth: r.origin.depth,
            partition: r.keys.get(hash_key).map(|k| value_to_json(k).to_string()).unwrap_or_default(),
            json,
        }
    }
}

/// A page of records read from one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePage {
    pub records: Vec<SourceRecord>,
    /// Where the next read starts (past the last record returned), or `None`
    /// once a closed shard has been read to its end.
    pub next: Option<Seq>,
    /// No record was returned because the reader is at the shard's newest
    /// record (its iterator age is 0); false when the source cannot tell
    /// (another engine's records on their way).
    pub caught_up: bool,
}

impl SourcePage {
    /// A page of the store's change stream (see [`SourceRecord::from_store`]).
    pub fn from_store(
        page: RecordPage,
        view: StreamViewType,
        hash_key: &str,
        region: &str,
        stream_arn: &str,
        mark_replicated: bool,
    ) -> Self {
        SourcePage {
            // The store answers with what it has: an empty page is its end.
            caught_up: page.records.is_empty(),
            records: page
                .records
                .iter()
                .map(|r| SourceRecord::from_store(r, view, hash_key, region, stream_arn, mark_replicated))
                .collect(),
            next: page.next.map(Seq::from),
        }
    }
}

/// How long the store keeps stream records (DynamoDB Streams' 24 hours): a
/// record older than this is treated as trimmed even while it is buffered.
pub const STREAM_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// One shard as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parent: Option<String>,
    /// Its first sequence number.
    pub start_seq: Seq,
    /// No record will be added (it has an ending sequence number).
    pub closed: bool,
}

/// A stream's shards and lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLayout {
    /// Parents are listed before their children.
    pub shards: Vec<ShardInfo>,
    /// How long records stay readable.
    pub retention_ms: u64,
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The position is before the oldest retained record.
    Trimmed,
    /// Not known yet: the source is finding it out (another engine's latest
    /// position, say). Asked again later.
    Pending,
    /// The shard (or the stream) no longer exists.
    Gone,
    /// Anything else; the read is tried again later.
    Failed(String),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TrimmedDataAccess(_) => ReadError::Trimmed,
            StoreError::ResourceNotFound(_) => ReadError::Gone,
            other => ReadError::Failed(other.to_string()),
        }
    }
}

/// A stream the engine consumes.
pub trait RecordSource: Send + Sync {
    /// The current layout, or `None` while the stream does not exist.
    fn layout(&self) -> Option<StreamLayout>;
    /// The first sequence number a reader starting at the trim horizon
    /// (`latest` false) or after the newest record (`latest` true) reads.
    fn position(&self, shard: &str, latest: bool) -> Result<Seq, ReadError>;
    /// At most `limit` records of `shard` from sequence number `from` on.
    fn read(&self, shard: &str, from: Seq, limit: usize) -> Result<SourcePage, ReadError>;
    /// Notifies `wake` whenever records of `shard` may have become readable
    /// or the shard closed, until the task returned is aborted; `None` when
    /// the source cannot tell (the engine then looks again within a second).
    fn watch_shard(&self, _shard: &str, _wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        None
    }
    /// Notifies `wake` whenever shards open, close or go, likewise.
    fn watch_layout(&self, _wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        None
    }
    /// `shard` is no longer read here (its lease went to another worker):
    /// whatever is read ahead for it may go.
    fn release(&self, _shard: &str) {}
    /// Why the source cannot be read now (another engine that does not
    /// answer, say), shown as the mapping's `LastProcessingResult` while it
    /// lasts; `None` when it can.
    fn problem(&self) -> Option<String> {
        None
    }
}

/// Failed calls in a row before a source's problem is shown: one is a blip,
/// tried again at once.
pub(crate) const PROBLEM_AFTER_FAILURES: u32 = 2;

/// The longest problem text shown (an engine's error message is cut).
const MAX_PROBLEM_CHARS: usize = 400;

/// The problem of a source at `authority` whose `what` failed with `error`,
/// in a bounded text: unreachable, or refused with the engine's answer.
pub(crate) fn source_problem(what: &str, authority: &str, error: &crate::endpoint::CallError) -> String {
    let text = match error {
        crate::endpoint::CallError::Api { .. } => format!("{what} at {authority} refused the call: {error}"),
        _ => format!("{what} at {authority} cannot be reached: {error}"),
    };
    match text.char_indices().nth(MAX_PROBLEM_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Forwards changes of a watch channel to `notify`, once at the start too (a
/// change between the last read and the subscription is not lost).
pub(crate) fn forward<T: Send + Sync + 'static>(
    mut rx: tokio::sync::watch::Receiver<T>,
    notify: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        notify.notify_one();
        while rx.changed().await.is_ok() {
            notify.notify_one();
        }
    })
}

/// The change stream of a table of the store, named by its ARN.
pub struct StoreSource {
    store: Store,
    table: String,
    label: String,
    /// The stream's ARN and the region, as records name them.
    arn: String,
    region: String,
    /// Once the stream exists: its number and record shape, which never
    /// change (a new stream of the table has another label, so another ARN).
    known: Mutex<Option<Known>>,
}

#[derive(Clone)]
struct Known {
    num: u64,
    view: StreamViewType,
    hash_key: String,
}

impl StoreSource {
    /// The stream `arn` names (it need not exist yet), its records written
    /// for a function in `region`.
    pub fn new(store: Store, arn: &str, region: &str) -> Option<StoreSource> {
        let (table, label) = parse_stream_arn(arn)?;
        Some(StoreSource {
            store,
            table: table.into(),
            label: label.into(),
            arn: arn.into(),
            region: region.into(),
            known: Mutex::new(None),
        })
    }

    fn meta(&self) -> Option<StreamMeta> {
        let num = self.known.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|k| k.num);
        if let Some(n) = num {
            return self.store.stream_by_num(n);
        }
        let m = self.store.stream(&self.table, &self.label)?;
        let k = Known { num: m.num, view: m.view_type, hash_key: m.key_schema.hash.name.clone() };
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(k);
        Some(m)
    }

    fn known(&self) -> Option<Known> {
        if let Some(k) = &*self.known.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(k.clone());
        }
        self.meta()?;
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The stream's number.
    fn num(&self) -> Option<u64> {
        self.known().map(|k| k.num)
    }
}

impl RecordSource for StoreSource {
    fn layout(&self) -> Option<StreamLayout> {
        let m = self.meta()?;
        Some(StreamLayout {
            shards: m
                .shards
                .iter()
                .map(|s| ShardInfo {
                    id: s.id.clone(),
                    parent: s.parent.clone(),
                    start_seq: Seq::from(s.start_seq),
                    closed: s.end_seq.is_some(),
                })
                .collect(),
            retention_ms: STREAM_RETENTION_MS,
        })
    }

    fn position(&self, shard: &str, latest: bool) -> Result<Seq, ReadError> {
        let num = self.num().ok_or(ReadError::Gone)?;
        let pos = if latest { StartingPosition::Latest } else { StartingPosition::TrimHorizon };
        Ok(Seq::from(self.store.shard_position(num, shard, pos)?))
    }

    fn read(&self, shard: &str, from: Seq, limit: usize) -> Result<SourcePage, ReadError> {
        let k = self.known().ok_or(ReadError::Gone)?;
        // Past the store's sequence numbers: nothing there yet.
        let from = u64::try_from(from).unwrap_or(u64::MAX);
        let page = self.store.read_shard(k.num, shard, from, limit, tidepool_store::MAX_READ_BYTES)?;
        let mark = self.store.stream_config().mark_replicated_writes;
        Ok(SourcePage::from_store(page, k.view, &k.hash_key, &self.region, &self.arn, mark))
    }

    fn watch_shard(&self, shard: &str, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        let rx = self.store.subscribe_shard(self.num()?, shard)?;
        Some(forward(rx, wake))
    }

    fn watch_layout(&self, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        let rx = self.store.subscribe_layout(self.num()?)?;
        Some(forward(rx, wake))
    }
}
