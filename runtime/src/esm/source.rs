//! Where records come from: a stream's shard layout and its records. The
//! engine reads through [`RecordSource`]; [`StoreSource`] is the store's
//! change stream, the simulation has its own.

use std::sync::Mutex;

use tidepool_store::stream::{RecordPage, ShardSignal, StartingPosition, StreamMeta};
use tidepool_store::table::StreamViewType;
use tidepool_store::{Store, StoreError};
use tokio::sync::watch;

use super::config::parse_stream_arn;

/// How long the store keeps stream records (DynamoDB Streams' 24 hours): a
/// record older than this is treated as trimmed even while it is buffered.
pub const STREAM_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// One shard as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parent: Option<String>,
    /// Its first sequence number.
    pub start_seq: u64,
    /// No record will be added (it has an ending sequence number).
    pub closed: bool,
}

/// A stream's shards, lineage and record shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLayout {
    pub view_type: StreamViewType,
    /// The table's partition key attribute (records with the same value keep
    /// their order under `ParallelizationFactor`).
    pub hash_key: String,
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
    fn position(&self, shard: &str, latest: bool) -> Result<u64, ReadError>;
    /// At most `limit` records of `shard` from sequence number `from` on.
    fn read(&self, shard: &str, from: u64, limit: usize) -> Result<RecordPage, ReadError>;
}

/// The change stream of a table of the store, named by its ARN.
pub struct StoreSource {
    store: Store,
    table: String,
    label: String,
    num: Mutex<Option<u64>>,
}

impl StoreSource {
    /// The stream `arn` names (it need not exist yet).
    pub fn new(store: Store, arn: &str) -> Option<StoreSource> {
        let (table, label) = parse_stream_arn(arn)?;
        Some(StoreSource { store, table: table.into(), label: label.into(), num: Mutex::new(None) })
    }

    fn meta(&self) -> Option<StreamMeta> {
        let mut num = self.num.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = *num
            && let Some(m) = self.store.stream_by_num(n)
        {
            return Some(m);
        }
        let m = self.store.stream(&self.table, &self.label)?;
        *num = Some(m.num);
        Some(m)
    }

    /// The stream's number; once known it never changes (a new stream of the
    /// table has another label, so another ARN).
    fn num(&self) -> Option<u64> {
        if let Some(n) = *self.num.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(n);
        }
        self.meta().map(|m| m.num)
    }

    /// Wakes when a record of `shard` becomes durable or the shard closes.
    pub fn subscribe_shard(&self, shard: &str) -> Option<watch::Receiver<ShardSignal>> {
        self.store.subscribe_shard(self.num()?, shard)
    }

    /// Wakes when shards open, close or are removed.
    pub fn subscribe_layout(&self) -> Option<watch::Receiver<u64>> {
        self.store.subscribe_layout(self.num()?)
    }
}

impl RecordSource for StoreSource {
    fn layout(&self) -> Option<StreamLayout> {
        let m = self.meta()?;
        Some(StreamLayout {
            view_type: m.view_type,
            hash_key: m.key_schema.hash.name.clone(),
            shards: m
                .shards
                .iter()
                .map(|s| ShardInfo {
                    id: s.id.clone(),
                    parent: s.parent.clone(),
                    start_seq: s.start_seq,
                    closed: s.end_seq.is_some(),
                })
                .collect(),
            retention_ms: STREAM_RETENTION_MS,
        })
    }

    fn position(&self, shard: &str, latest: bool) -> Result<u64, ReadError> {
        let num = self.num().ok_or(ReadError::Gone)?;
        let pos = if latest { StartingPosition::Latest } else { StartingPosition::TrimHorizon };
        Ok(self.store.shard_position(num, shard, pos)?)
    }

    fn read(&self, shard: &str, from: u64, limit: usize) -> Result<RecordPage, ReadError> {
        let num = self.num().ok_or(ReadError::Gone)?;
        Ok(self.store.read_shard(num, shard, from, limit, tidepool_store::MAX_READ_BYTES)?)
    }
}
