//! What the engine keeps durably: per mapping a "started" marker (the
//! starting position was fixed) and per shard a [`ShardCheckpoint`], written
//! together with the on-failure destination records they cover in one atomic
//! [`Commit`]. [`StoreLedger`] keeps them in the store's system entries under
//! `esm/<uuid>/` and writes destination records as items of a table of the
//! same store, in the same batch.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tidepool_store::value::{Item, Number, Value};
use tidepool_store::{Decision, Origin, Store, StoreError, WriteOp, WriteOptions};

use super::config::parse_table_arn;
use crate::bridge::{DeferredCall, StoreBridge};

/// Where a shard's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// Every record at or below this sequence number was handled, filtered
    /// out, dropped or described to the destination.
    pub done_through: Option<super::source::Seq>,
    /// The shard is closed and every record of it was done: its children may
    /// start.
    #[serde(default)]
    pub finished: bool,
    /// The open tumbling window of the shard, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowCheckpoint>,
}

/// A tumbling window's aggregation state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCheckpoint {
    pub start_ms: u64,
    /// The state the function returned, as JSON text.
    pub state: String,
    /// The state grew past its limit: the next invocation ends the window.
    #[serde(default)]
    pub terminate_early: bool,
}

/// One discarded batch, described for the on-failure destination.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRecord {
    /// The shard of the records.
    pub shard: String,
    /// The destination's ARN (a table ARN for [`StoreLedger`]).
    pub destination: String,
    /// The invocation record (`requestContext`, `responseContext`, `version`,
    /// `timestamp`, `DDBStreamBatchInfo`).
    pub record: Json,
    /// The highest `origin.depth` of the records it describes.
    pub depth: u32,
    /// The sequence numbers of the records it describes (with
    /// `ParallelizationFactor` > 1 not every record between the first and
    /// the last).
    pub seqs: Vec<super::source::Seq>,
}

/// Changes to commit atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Record that the mapping's starting position has been fixed.
    pub mark_started: bool,
    pub checkpoints: Vec<(String, ShardCheckpoint)>,
    /// Shards to forget (gone from the stream).
    pub forget: Vec<String>,
    pub failures: Vec<FailureRecord>,
    /// Store writes of handled batches (exactly-once mode), in the order
    /// the invocations finished; the checkpoints here pass their records.
    pub effects: Vec<Effects>,
    /// Records given up per shard since the last commit (retries exhausted,
    /// too old, too deep in a chain of triggers), described in `failures`
    /// or not: the metrics count them once this commit is durable, so a
    /// commit that fails (a destination that cannot take its record) and
    /// gives them up again counts them once.
    pub dropped: Vec<(String, u64)>,
}

/// The deferred store writes of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effects {
    pub shard: String,
    pub writes: Vec<DeferredCall>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        !self.mark_started
            && self.checkpoints.is_empty()
            && self.forget.is_empty()
            && self.failures.is_empty()
            && self.effects.is_empty()
            && self.dropped.is_empty()
    }

    /// Splits a commit whose effects come from several shards into one
    /// commit per such shard (its checkpoint, destination records and
    /// effects) after one of everything else, so one shard's conflicting
    /// writes do not hold back the others'. Each part is atomic on its own.
    pub fn split_by_shard(mut self) -> Vec<Commit> {
        let mut shards: Vec<String> = Vec::new();
        for e in &self.effects {
            if !shards.contains(&e.shard) {
                shards.push(e.shard.clone());
            }
        }
        if shards.len() <= 1 {
            return vec![self];
        }
        let mut parts = Vec::with_capacity(shards.len() + 1);
        let mut rest =
            Commit { mark_started: self.mark_started, forget: std::mem::take(&mut self.forget), ..Commit::default() };
        let mut of_shard: Vec<Commit> = shards.iter().map(|_| Commit::default()).collect();
        let at = |shard: &str| shards.iter().position(|s| s == shard);
        for (id, cp) in self.checkpoints {
            match at(&id) {
                Some(i) => of_shard[i].checkpoints.push((id, cp)),
                None => rest.checkpoints.push((id, cp)),
            }
        }
        for f in self.failures {
            match at(&f.shard) {
                Some(i) => of_shard[i].failures.push(f),
                None => rest.failures.push(f),
            }
        }
        for e in self.effects {
            if let Some(i) = at(&e.shard) {
                of_shard[i].effects.push(e);
            }
        }
        for (shard, n) in self.dropped {
            match at(&shard) {
                Some(i) => of_shard[i].dropped.push((shard, n)),
                None => rest.dropped.push((shard, n)),
            }
        }
        if !rest.is_empty() {
            parts.push(rest);
        }
        parts.extend(of_shard);
        parts
    }
}

/// What a mapping left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerState {
    pub started: bool,
    pub shards: BTreeMap<String, ShardCheckpoint>,
}

/// Why a commit or a load failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The destination cannot take the record (missing table, wrong key).
    #[error("on-failure destination {destination}: {reason}")]
    Destination { destination: String, reason: String },
    /// The store failed or holds something unreadable.
    #[error("checkpoint storage: {0}")]
    Storage(String),
    /// A deferred write no longer succeeds (exactly-once mode): its batch
    /// is to be delivered again.
    #[error("exactly-once writes conflict: {0}")]
    Conflict(String),
}

/// Durable checkpoints and destination records.
pub trait Ledger: Send + Sync {
    fn load(&self, mapping: &str) -> Result<LedgerState, LedgerError>;
    /// Applies `commit` atomically: all of it or nothing.
    fn commit(&self, mapping: &str, commit: &Commit) -> Result<(), LedgerError>;
    /// Forgets everything of `mapping`.
    fn remove(&self, mapping: &str) -> Result<(), LedgerError>;
}

/// The ledger in the store's system entries.
#[derive(Clone)]
pub struct StoreLedger {
    store: Store,
    /// Replays the effects of exactly-once mappings.
    bridge: Option<Arc<dyn StoreBridge>>,
}

/// The error types of a replayed write that mean it raced another writer.
const CONFLICTS: &[&str] =
    &["ConditionalCheckFailedException", "TransactionCanceledException", "TransactionConflictException"];

/// Prefix of every system entry the engine writes.
pub const SYS_PREFIX: &str = "esm/";

fn mapping_prefix(mapping: &str) -> String {
    format!("{SYS_PREFIX}{mapping}/")
}

fn started_key(mapping: &str) -> Vec<u8> {
    format!("{}started", mapping_prefix(mapping)).into_bytes()
}

fn shard_key(mapping: &str, shard: &str) -> Vec<u8> {
    format!("{}shard/{shard}", mapping_prefix(mapping)).into_bytes()
}

impl StoreLedger {
    pub fn new(store: Store) -> Self {
        StoreLedger { store, bridge: None }
    }

    /// A ledger that commits exactly-once effects by replaying them through
    /// `bridge`.
    pub fn with_bridge(store: Store, bridge: Arc<dyn StoreBridge>) -> Self {
        StoreLedger { store, bridge: Some(bridge) }
    }
}

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

/// A failed commit's error: the store's own failure, or the destination's.
fn destination_error(commit: &Commit, e: StoreError) -> LedgerError {
    match e {
        e @ (StoreError::Storage(_)
        | StoreError::Poisoned(_)
        | StoreError::Unacknowledged(_)
        | StoreError::Corrupt(_)) => storage(e),
        other => LedgerError::Destination {
            destination: commit.failures.first().map(|f| f.destination.clone()).unwrap_or_default(),
            reason: other.to_string(),
        },
    }
}

impl Ledger for StoreLedger {
    fn load(&self, mapping: &str) -> Result<LedgerState, LedgerError> {
        let mut state = LedgerState {
            started: self.store.sys_get(&started_key(mapping)).map_err(storage)?.is_some(),
            ..LedgerState::default()
        };
        let prefix = format!("{}shard/", mapping_prefix(mapping));
        for (k, v) in self.store.sys_scan(prefix.as_bytes()).map_err(storage)? {
            let shard = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let cp: ShardCheckpoint =
                serde_json::from_slice(&v).map_err(|e| storage(format!("checkpoint of {shard}: {e}")))?;
            state.shards.insert(shard, cp);
        }
        Ok(state)
    }

    fn commit(&self, mapping: &str, commit: &Commit) -> Result<(), LedgerError> {
        if commit.is_empty() {
            return Ok(());
        }
        let mut sys = Vec::new();
        if commit.mark_started {
            sys.push((started_key(mapping), Some(b"1".to_vec())));
        }
        for (shard, cp) in &commit.checkpoints {
            sys.push((shard_key(mapping, shard), Some(serde_json::to_vec(cp).map_err(storage)?)));
        }
        for shard in &commit.forget {
            sys.push((shard_key(mapping, shard), None));
        }
        let mut ops = Vec::with_capacity(commit.failures.len());
        let mut depth = 0;
        for f in &commit.failures {
            let (table, item) = destination_item(&self.store, f)?;
            depth = depth.max(f.depth.saturating_add(1));
            let key = item.clone();
            ops.push(WriteOp { table, key, decide: Box::new(move |_| Ok(Decision::Put(item))) });
        }
        let origin = Origin { ttl: false, depth, replicated: None };
        if sys.is_empty() && ops.is_empty() && commit.effects.is_empty() {
            // Only counts for the metrics.
            return Ok(());
        }
        if commit.effects.is_empty() {
            let options = WriteOptions { transaction: false, origin, sys };
            return self.store.write_with(ops, options).map(drop).map_err(|e| destination_error(commit, e));
        }
        let bridge = self.bridge.as_ref().ok_or_else(|| storage("no store bridge to replay exactly-once writes"))?;
        let mut conflict = None;
        let r = self.store.atomically(sys, |unit| {
            self.store.stage(unit, ops, false, origin)?;
            for e in &commit.effects {
                if let Err(c) = bridge.replay(&e.writes, unit) {
                    conflict = Some(c);
                    return Err(StoreError::Validation("exactly-once replay failed".into()));
                }
            }
            Ok(())
        });
        match (r, conflict) {
            // A condition that held when the handler called no longer does:
            // deliver again. Anything else (the table is gone, the server
            // stops) is a failure to report and back off from.
            (_, Some(c)) if CONFLICTS.contains(&c.error_type.as_str()) => Err(LedgerError::Conflict(c.to_string())),
            (_, Some(c)) => Err(storage(format!("replaying exactly-once writes: {c}"))),
            (r, None) => r.map_err(|e| destination_error(commit, e)),
        }
    }

    fn remove(&self, mapping: &str) -> Result<(), LedgerError> {
        let keys = self.store.sys_scan(mapping_prefix(mapping).as_bytes()).map_err(storage)?;
        if keys.is_empty() {
            return Ok(());
        }
        self.store.sys_write(keys.into_iter().map(|(k, _)| (k, None)).collect()).map_err(storage)
    }
}

/// Writes one destination record that no checkpoint covers (an
/// asynchronous invocation's `OnSuccess` or `OnFailure` record) as an item
/// of the table `destination` names, as [`destination_item`] shapes it.
pub fn write_destination_record(store: &Store, destination: &str, record: Json) -> Result<(), LedgerError> {
    let f = FailureRecord {
        shard: String::new(),
        destination: destination.to_string(),
        record,
        depth: 0,
        seqs: Vec::new(),
    };
    let (table, mut item) = destination_item(store, &f)?;
    // Within DynamoDB's item size: the JSON copy goes first, then the payloads.
    for member in ["payload", "responsePayload", "requestPayload"] {
        if tidepool_store::value::item_size(&item) > tidepool_store::value::MAX_ITEM_SIZE {
            item.remove(member);
        }
    }
    let key = item.clone();
    let op = WriteOp { table, key, decide: Box::new(move |_| Ok(Decision::Put(item))) };
    let options =
        WriteOptions { transaction: false, origin: Origin { ttl: false, depth: 1, replicated: None }, sys: Vec::new() };
    store
        .write_with(vec![op], options)
        .map(drop)
        .map_err(|e| LedgerError::Destination { destination: destination.to_string(), reason: e.to_string() })
}

/// The item a destination record becomes: the table's partition key (a
/// string) holds `requestContext.requestId`; a sort key, if any, holds
/// `DDBStreamBatchInfo.startSequenceNumber` (as a string or a number, per its
/// type); every member of the record is an attribute (objects as maps); and
/// `payload` holds the whole record as JSON text.
fn destination_item(store: &Store, f: &FailureRecord) -> Result<(String, Item), LedgerError> {
    let fail = |reason: String| LedgerError::Destination { destination: f.destination.clone(), reason };
    let (table, schema) = destination_table(store, &f.destination).map_err(fail)?;
    let mut item: Item = match json_to_value(&f.record) {
        Value::M(m) => m,
        _ => Item::new(),
    };
    item.insert("payload".into(), Value::S(f.record.to_string()));
    let request_id = f.record["requestContext"]["requestId"].as_str().unwrap_or_default().to_string();
    item.insert(schema.hash.name.clone(), Value::S(request_id));
    if let Some(range) = &schema.range {
        let start = f.record["DDBStreamBatchInfo"]["startSequenceNumber"].as_str().unwrap_or("0").to_string();
        let v = match range.ty {
            tidepool_store::value::AttrType::N => {
                Value::N(Number::from_str(start.trim_start_matches('0')).unwrap_or_else(|_| Number::zero()))
            }
            _ => Value::S(start),
        };
        item.insert(range.name.clone(), v);
    }
    Ok((table.to_string(), item))
}

/// Whether `destination` names a table of `store` that takes destination
/// records (see [`destination_item`]); if not, why, naming the table.
/// CreateEventSourceMapping, UpdateEventSourceMapping and the event invoke
/// configs refuse a destination that does not, as Lambda checks a
/// destination when it is set, rather than fail at the first discard.
pub fn check_destination(store: &Store, destination: &str) -> Result<(), String> {
    destination_table(store, destination).map(drop)
}

/// The table `destination` names and its key schema: a string partition
/// key, and a sort key, if any, a string or a number.
fn destination_table<'a>(
    store: &Store,
    destination: &'a str,
) -> Result<(&'a str, tidepool_store::table::KeySchema), String> {
    use tidepool_store::value::AttrType;
    let table = parse_table_arn(destination).ok_or_else(|| "not a table ARN".to_string())?;
    let handle = store.table(table).map_err(|e| match e {
        StoreError::ResourceNotFound(_) => format!("table {table} does not exist in this server's store"),
        other => format!("table {table}: {other}"),
    })?;
    let schema = handle.def.key_schema.clone();
    if schema.hash.ty != AttrType::S {
        return Err(format!("the partition key {} of table {table} must be a string (S)", schema.hash.name));
    }
    if let Some(range) = &schema.range
        && !matches!(range.ty, AttrType::S | AttrType::N)
    {
        return Err(format!("the sort key {} of table {table} must be a string or a number", range.name));
    }
    Ok((table, schema))
}

/// JSON as a DynamoDB value: strings S, numbers N, booleans BOOL, null NULL,
/// arrays L, objects M.
pub(crate) fn json_to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Number::from_str(&n.to_string()).map(Value::N).unwrap_or_else(|_| Value::S(n.to_string())),
        Json::String(s) => Value::S(s.clone()),
        Json::Array(a) => Value::L(a.iter().map(json_to_value).collect()),
        Json::Object(o) => Value::M(o.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect()),
    }
}
