//! Leases: how the workers of a fleet (`tidepool workers --source URL`)
//! share the shards of a stream, in a lease table of the source engine, as
//! the Kinesis Client Library and Lambda's own pollers do.
//!
//! A mapping's leases form a group, named by its function and its stream
//! (`<function name>|<stream ARN>`): workers that run the same function on
//! the same stream share its shards, whatever their mappings' UUIDs. The
//! table (created on first use, on demand) holds one item per shard of the
//! group:
//!
//! | attribute | |
//! |---|---|
//! | `leaseGroup` (hash key) | `<function name>\|<stream ARN>` |
//! | `leaseKey` (sort key) | the shard's id |
//! | `leaseOwner` | the worker holding it (absent: free) |
//! | `leaseCounter` | the fencing token: raised by every renewal, take and checkpoint |
//! | `checkpoint` | `TRIM_HORIZON`, `LATEST`, `SHARD_END`, or the last sequence number done |
//! | `checkpointState` | the whole checkpoint (with a tumbling window's state), JSON |
//! | `parentShardId` | the shard's parent, if any |
//!
//! and one item `#start` recording that the group's starting position was
//! fixed. Every write is conditional on the counter the writer last saw, so
//! a worker that lost a lease (it was taken after it stopped renewing, or
//! stolen to balance the load) can never move its checkpoint: its write
//! fails and it drops the shard.
//!
//! A worker renews each lease a quarter of [`LEASE_DURATION`] after its
//! last write (a renewal or a checkpoint), looking every eighth, so an idle
//! lease takes four writes per duration and a busy one its checkpoints; a
//! lease whose counter did not move for a whole duration, as this worker
//! saw it, is expired and taken. Workers balance by taking expired leases
//! up to an even share, then stealing one at a time from the most loaded
//! worker. A shard's lease is taken only once its parent's lease is
//! finished (or the parent has gone from the stream), so a parent finishes
//! before its children start. On a clean stop (SIGTERM) a worker hands its
//! leases back at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::config::StartingPosition;
use super::ledger::ShardCheckpoint;
use super::source::{PROBLEM_AFTER_FAILURES, RecordSource, format_seq, parse_seq, source_problem};
use crate::endpoint::{CallError, Endpoint, Service};

/// The lease table's name when none is given (`--lease-table`).
pub const LEASE_TABLE: &str = "tidepool-leases";

/// How long a lease lasts without renewal before other workers take it
/// (`--lease-duration`): the failover time after a worker dies is about
/// this plus a third of it. The Kinesis Client Library's default.
pub const LEASE_DURATION: Duration = Duration::from_secs(10);

/// The shortest lease duration taken: a quarter of it is the longest a
/// lease call may take, and a second is as short as that may be.
pub const MIN_LEASE_DURATION: Duration = Duration::from_secs(3);

/// How old (in sixteenths of the lease duration) a lease's last write is
/// when it is renewed: a quarter, less half of the eighth between two looks.
const RENEW_AFTER_SIXTEENTHS: u32 = 3;

/// The longest lease duration taken: failing over after more than an hour
/// is no failover, and the timers stay far from overflowing.
pub const MAX_LEASE_DURATION: Duration = Duration::from_secs(3600);

/// The most lease items of one group read per pass: a stream keeps its
/// shards for 24 hours, a few thousand at most; past this the rest wait.
const MAX_LEASES: usize = 20_000;

/// The longest the lease table may take to become `ACTIVE` after it is
/// created before the worker tries again.
const TABLE_WAIT: Duration = Duration::from_secs(60);

/// The first wait after a failed pass, doubled up to the lease duration.
const RETRY: Duration = Duration::from_millis(200);

/// How long a lease's shard must be missing from this worker's view of the
/// stream before the lease is deleted: longer than a layout refresh or two,
/// so a view that is merely behind (a shard another worker already saw
/// open) never deletes a live lease and has it made again from the start.
const GONE_AFTER: Duration = Duration::from_secs(60);

/// What a worker remembers between passes.
#[derive(Default)]
struct PassState {
    /// Per lease, its counter and when this worker saw it last move.
    seen: HashMap<String, (u64, Instant)>,
    /// Per lease whose shard this worker's view lacks, since when.
    absent: HashMap<String, Instant>,
}

/// The sort key of the item that records the group's start.
const START_KEY: &str = "#start";

const SHARD_END: &str = "SHARD_END";

/// Where the leases live and who this worker is.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// The source engine, through an endpoint of the leases' own, so that
    /// renewals never wait behind feeds or handlers' calls.
    pub endpoint: Arc<Endpoint>,
    pub table: String,
    pub duration: Duration,
    /// This worker's name in `leaseOwner`: kept in its data directory, so a
    /// worker restarted after a crash takes its own leases back at once.
    pub worker: String,
}

impl LeaseOptions {
    pub fn new(endpoint: Arc<Endpoint>, worker: impl Into<String>) -> LeaseOptions {
        LeaseOptions { endpoint, table: LEASE_TABLE.to_string(), duration: LEASE_DURATION, worker: worker.into() }
    }

    /// How long one call to the lease table may take: a renewal answered
    /// later than this is of no use (the lease is about to expire for the
    /// others), so it is given up and tried again. A quarter of the
    /// duration: a renewal sent up to 5/16 after the last write that times
    /// out is tried again by 11/16 and answered by 15/16, within the
    /// duration.
    fn call_timeout(&self) -> Duration {
        (self.duration / 4).clamp(Duration::from_secs(1), crate::endpoint::ENDPOINT_TIMEOUT)
    }
}

/// Where a newly held shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStart {
    TrimHorizon,
    /// After the newest record when the shard is first read.
    Latest,
    At(ShardCheckpoint),
}

/// The shards this worker holds, each with the counter of the take that
/// gave it (a shard lost and taken again is a new take) and where it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseView {
    pub generation: u64,
    pub shards: BTreeMap<String, (u64, LeaseStart)>,
}

/// The most item actions an exactly-once invocation on a worker may commit
/// with its checkpoint: they and the lease's conditional update go in one
/// `TransactWriteItems`, which takes at most 100 actions.
pub const MAX_EFFECT_ITEMS: usize = 99;

/// The room kept for the lease's update in that transaction: its checkpoint
/// state, which holds a tumbling window's state of up to
/// [`MAX_WINDOW_STATE_BYTES`](super::shard::MAX_WINDOW_STATE_BYTES) as JSON
/// (escaped, so up to about twice that), beside the keys and expressions.
pub const LEASE_UPDATE_RESERVE_BYTES: usize = 2 * super::shard::MAX_WINDOW_STATE_BYTES + 64 * 1024;

/// The most bytes (as request JSON) of an exactly-once invocation's item
/// actions: `TransactWriteItems` takes at most 4 MB, and the lease's update
/// needs [`LEASE_UPDATE_RESERVE_BYTES`] of them.
pub const MAX_EFFECT_BYTES: usize = 4 * 1024 * 1024 - LEASE_UPDATE_RESERVE_BYTES;

/// The `operation` of a worker's exactly-once write
/// ([`DeferredCall`](crate::DeferredCall)): one `TransactWriteItems`
/// action (`{"Put": ...}`, `{"Update": ...}`, `{"Delete": ...}` or
/// `{"ConditionCheck": ...}`), net of the invocation's calls on its item,
/// committed by [`Leases::checkpoint_with`]. Its `outcome` names the item
/// (its table and key), so that two invocations' actions on one item are
/// told apart (a transaction takes one action per item).
pub const TRANSACT_ACTION: &str = "TransactWriteItem";

/// Why a checkpoint was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The lease is no longer this worker's: the shard is dropped.
    #[error("the lease of {0} was lost")]
    Lost(String),
    /// Whether the write landed is unknown: the shard is dropped and taken
    /// again from the checkpoint the lease table holds.
    #[error("lease table: {0}")]
    Failed(String),
    /// An exactly-once commit did not apply because an item it writes is no
    /// longer as the handler read it (or the engine saw a conflicting
    /// transaction): the shard is dropped and taken again, so its batches
    /// are delivered again and see the writes they raced with.
    #[error("exactly-once writes conflicted: {0}")]
    Conflict(String),
    /// The source engine does not run `TransactWriteItems`: exactly-once
    /// writes cannot commit there.
    #[error(
        "ExactlyOnce on a worker needs a source engine with transactions: the handler's writes and the \
         checkpoint commit in one TransactWriteItems, and the source answered {0}"
    )]
    Unsupported(String),
    /// The source engine refused the transaction as it stands (its size,
    /// an expression): it would refuse it again.
    #[error("the source engine refused the exactly-once commit: {0}")]
    Rejected(String),
}

/// What a `TransactWriteItems` of a checkpoint and its writes came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitAnswer {
    Applied,
    /// The lease's own condition failed: another worker holds it.
    Lost,
    /// An item's condition failed, a conflicting transaction or throttling:
    /// nothing applied; delivering the batches again may succeed.
    Conflict(String),
    /// The engine does not know the operation.
    Unsupported(String),
    /// The engine refused the request itself; it always will.
    Rejected(String),
    /// No answer, or a server error: it may have applied.
    Unknown(String),
}

/// Classifies the answer to a `TransactWriteItems` whose last action
/// (`lease`, its index) is the lease's conditional update.
pub fn classify_commit(answer: &Result<(u16, Vec<u8>), CallError>, lease: usize) -> CommitAnswer {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(e) => return CommitAnswer::Unknown(e.to_string()),
    };
    let status = *status;
    if (200..300).contains(&status) {
        return CommitAnswer::Applied;
    }
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        // A proxy's throttling in front of the engine is a retry; other
        // answers not from an engine, no transactions.
        return if status == 429 {
            CommitAnswer::Conflict(format!("a 429 answer that is not JSON: {}", text()))
        } else if status == 404 || status == 501 || (400..500).contains(&status) {
            CommitAnswer::Unsupported(format!("a {status} answer that is not JSON: {}", text()))
        } else {
            CommitAnswer::Unknown(format!("a {status} answer that is not JSON: {}", text()))
        };
    };
    let kind = json.get("__type").and_then(Value::as_str).unwrap_or("");
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = json.get("message").or_else(|| json.get("Message")).and_then(Value::as_str).unwrap_or_default();
    let said = format!("{kind}: {message}");
    match kind {
        "TransactionCanceledException" => {
            let codes = cancellation_codes(&json, message);
            if codes.get(lease).is_some_and(|c| c == "ConditionalCheckFailed") {
                return CommitAnswer::Lost;
            }
            let retryable = ["None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"];
            if codes.iter().all(|c| retryable.contains(&c.as_str()) || c.starts_with("ProvisionedThroughput")) {
                CommitAnswer::Conflict(said)
            } else {
                CommitAnswer::Rejected(said)
            }
        }
        "TransactionConflictException"
        | "TransactionInProgressException"
        | "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => CommitAnswer::Conflict(said),
        "UnknownOperationException" => CommitAnswer::Unsupported(said),
        _ if status == 501 => CommitAnswer::Unsupported(said),
        _ if status >= 500 || kind.is_empty() => CommitAnswer::Unknown(said),
        _ => CommitAnswer::Rejected(said),
    }
}

/// The reasons' codes of a `TransactionCanceledException`, in action order:
/// its `CancellationReasons`, or else the list its message ends with
/// (`... reasons [None, ConditionalCheckFailed]`, as DynamoDB, Tidepool and
/// moto word it).
fn cancellation_codes(error: &Value, message: &str) -> Vec<String> {
    if let Some(reasons) = error.get("CancellationReasons").and_then(Value::as_array) {
        return reasons.iter().map(|r| r.get("Code").and_then(Value::as_str).unwrap_or("None").to_string()).collect();
    }
    let Some(list) = message.rsplit_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(l, _)| l) else {
        return Vec::new();
    };
    list.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
}

/// A lease held by this worker.
#[derive(Debug)]
struct Held {
    /// The counter of the take.
    take: u64,
    /// The counter as last written.
    counter: u64,
    start: LeaseStart,
    renewed: Instant,
    /// Writes of this lease (renewals, checkpoints) go one at a time, each
    /// conditional on the counter the last one left.
    io: Arc<tokio::sync::Mutex<()>>,
}

/// The leases of one group, as one worker takes part in it.
pub struct Leases {
    options: LeaseOptions,
    group: String,
    starting: StartingPosition,
    held: std::sync::Mutex<BTreeMap<String, Held>>,
    generation: AtomicU64,
    /// Woken when the held shards change (the mapping's delivery task).
    wake: std::sync::Mutex<Option<Arc<Notify>>>,
    /// Runs a pass now (a shard finished: its children are wanted).
    pass: Notify,
    /// Why the lease table cannot be used now, after
    /// [`PROBLEM_AFTER_FAILURES`] failed passes in a row.
    problem: std::sync::Mutex<Option<String>>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One lease item as read.
#[derive(Debug, Clone)]
struct Lease {
    shard: String,
    owner: Option<String>,
    counter: u64,
    checkpoint: String,
    state: Option<String>,
    parent: Option<String>,
}

impl Lease {
    fn parse(item: &Value) -> Option<Lease> {
        let s = |k: &str| item.get(k).and_then(|v| v.get("S")).and_then(Value::as_str).map(str::to_string);
        Some(Lease {
            shard: s("leaseKey")?,
            owner: s("leaseOwner"),
            counter: item.get("leaseCounter")?.get("N")?.as_str()?.parse().ok()?,
            checkpoint: s("checkpoint").unwrap_or_else(|| "TRIM_HORIZON".into()),
            state: s("checkpointState"),
            parent: s("parentShardId"),
        })
    }

    fn finished(&self) -> bool {
        self.checkpoint == SHARD_END
    }

    fn start(&self) -> LeaseStart {
        if let Some(cp) = self.state.as_deref().and_then(|s| serde_json::from_str::<ShardCheckpoint>(s).ok()) {
            return LeaseStart::At(cp);
        }
        match self.checkpoint.as_str() {
            "LATEST" => LeaseStart::Latest,
            SHARD_END => LeaseStart::At(ShardCheckpoint { finished: true, ..ShardCheckpoint::default() }),
            other => match parse_seq(other) {
                Some(seq) => LeaseStart::At(ShardCheckpoint { done_through: Some(seq), ..ShardCheckpoint::default() }),
                None => LeaseStart::TrimHorizon,
            },
        }
    }
}

fn n(v: u64) -> Value {
    json!({"N": v.to_string()})
}

impl Leases {
    /// The leases of `function` (its ARN, qualified as the mapping's) on
    /// `stream_arn`.
    pub fn new(options: LeaseOptions, function_arn: &str, stream_arn: &str, starting: StartingPosition) -> Arc<Leases> {
        Arc::new(Leases {
            options,
            group: format!("{function_arn}|{stream_arn}"),
            starting,
            held: std::sync::Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            wake: std::sync::Mutex::new(None),
            pass: Notify::new(),
            problem: std::sync::Mutex::new(None),
        })
    }

    async fn call(&self, operation: &str, request: &Value) -> Result<Value, CallError> {
        let call = self.options.endpoint.call(Service::DynamoDb, operation, request);
        match tokio::time::timeout(self.options.call_timeout(), call).await {
            Ok(answer) => answer,
            Err(_) => Err(CallError::Transport(format!("{operation} on the lease table timed out"))),
        }
    }

    /// The group's name in `leaseGroup`.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// This worker's name in `leaseOwner`.
    pub fn worker(&self) -> &str {
        &self.options.worker
    }

    /// The lease table.
    pub fn table(&self) -> &str {
        &self.options.table
    }

    /// Why the lease table cannot be used now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        lock(&self.problem).clone()
    }

    /// Counts a pass (or the table's check) that failed with `error`, or
    /// succeeded (`None`), into [`Leases::problem`].
    fn passed(&self, failures: &mut u32, error: Option<&CallError>) {
        let mut problem = lock(&self.problem);
        match error {
            None => {
                *failures = 0;
                *problem = None;
            }
            Some(e) => {
                *failures = failures.saturating_add(1);
                if *failures >= PROBLEM_AFTER_FAILURES {
                    let what = format!("The lease table {}", self.options.table);
                    *problem = Some(source_problem(&what, self.options.endpoint.authority(), e));
                }
            }
        }
    }

    /// The shards whose leases this worker holds now.
    pub fn held(&self) -> Vec<String> {
        lock(&self.held).keys().cloned().collect()
    }

    /// The shards held now. A lease not renewed for a whole duration (the
    /// lease table could not be reached) counts as lost: another worker may
    /// have taken it.
    pub fn view(&self) -> LeaseView {
        let mut held = lock(&self.held);
        let before = held.len();
        held.retain(|shard, h| {
            let keep = h.renewed.elapsed() < self.options.duration;
            if !keep {
                tracing::warn!(group = %self.group, shard, "lease not renewed in time: the shard is dropped");
            }
            keep
        });
        if held.len() != before {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        LeaseView {
            generation: self.generation.load(Ordering::Relaxed),
            shards: held.iter().map(|(k, h)| (k.clone(), (h.take, h.start.clone()))).collect(),
        }
    }

    /// Whether the held shards changed since `generation`.
    pub fn changed_since(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Relaxed) != generation
            || lock(&self.held).values().any(|h| h.renewed.elapsed() >= self.options.duration)
    }

    /// Wakes `wake` whenever the held shards change.
    pub fn subscribe(&self, wake: Arc<Notify>) {
        *lock(&self.wake) = Some(wake);
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = lock(&self.wake).as_ref() {
            w.notify_one();
        }
    }

    fn key(&self, shard: &str) -> Value {
        json!({"leaseGroup": {"S": self.group}, "leaseKey": {"S": shard}})
    }

    /// An UpdateItem of `shard`'s lease that holds only while this worker
    /// owns it at `counter` (`update` may use `:one`, `:me` and the members
    /// of `values`).
    fn owned_update(&self, shard: &str, update: &str, counter: u64, mut values: Value) -> Value {
        values[":one"] = n(1);
        values[":me"] = json!({"S": self.options.worker});
        values[":n"] = n(counter);
        json!({
            "TableName": self.options.table,
            "Key": self.key(shard),
            "UpdateExpression": update,
            "ConditionExpression": "leaseOwner = :me AND leaseCounter = :n",
            "ExpressionAttributeValues": values,
        })
    }

    /// Drops `shard` if it is still held by take `take`.
    fn lose(&self, shard: &str, take: u64) {
        let mut held = lock(&self.held);
        if held.get(shard).is_some_and(|h| h.take == take) {
            held.remove(shard);
            drop(held);
            tracing::info!(group = %self.group, shard, "lease lost");
            self.changed();
        }
    }

    /// Writes `cp` as the checkpoint of `shard`, conditional on this
    /// worker's lease: [`LeaseError::Lost`] when it is no longer held.
    pub async fn checkpoint(&self, shard: &str, cp: &ShardCheckpoint) -> Result<(), LeaseError> {
        self.checkpoint_with(shard, cp, &[]).await
    }

    /// [`Leases::checkpoint`] together with an exactly-once invocation's
    /// item writes (`TransactWriteItems` actions, at most
    /// [`MAX_EFFECT_ITEMS`]): all of them and the lease's conditional
    /// update commit in one `TransactWriteItems`, or none does. Without
    /// writes it is the lease's `UpdateItem` alone.
    pub async fn checkpoint_with(
        &self,
        shard: &str,
        cp: &ShardCheckpoint,
        effects: &[Value],
    ) -> Result<(), LeaseError> {
        let Some((take, io)) = lock(&self.held).get(shard).map(|h| (h.take, h.io.clone())) else {
            return Err(LeaseError::Lost(shard.to_string()));
        };
        let _turn = io.lock().await;
        let Some(counter) = lock(&self.held).get(shard).filter(|h| h.take == take).map(|h| h.counter) else {
            return Err(LeaseError::Lost(shard.to_string()));
        };
        let text = if cp.finished {
            SHARD_END.to_string()
        } else {
            match cp.done_through {
                Some(d) => format_seq(d),
                None => "TRIM_HORIZON".to_string(),
            }
        };
        let state = serde_json::to_string(cp).map_err(|e| LeaseError::Failed(e.to_string()))?;
        // A finished shard's lease is handed back with its last checkpoint.
        let update = if cp.finished {
            "SET checkpoint = :c, checkpointState = :s, leaseCounter = leaseCounter + :one REMOVE leaseOwner"
        } else {
            "SET checkpoint = :c, checkpointState = :s, leaseCounter = leaseCounter + :one"
        };
        let sent = Instant::now();
        let request = self.owned_update(shard, update, counter, json!({":c": {"S": text}, ":s": {"S": state}}));
        let answer = if effects.is_empty() {
            match self.call("UpdateItem", &request).await {
                Ok(_) => CommitAnswer::Applied,
                Err(e) if e.kind() == "ConditionalCheckFailedException" => CommitAnswer::Lost,
                Err(e) => CommitAnswer::Unknown(e.to_string()),
            }
        } else {
            self.transact(effects, request).await
        };
        match answer {
            CommitAnswer::Applied => {
                let mut held = lock(&self.held);
                if cp.finished {
                    // Done: its children may be taken (by anyone).
                    held.remove(shard);
                    drop(held);
                    self.changed();
                    self.pass.notify_one();
                } else if let Some(h) = held.get_mut(shard).filter(|h| h.take == take) {
                    h.counter = counter.saturating_add(1);
                    h.renewed = sent;
                    h.start = LeaseStart::At(cp.clone());
                }
                Ok(())
            }
            CommitAnswer::Lost => {
                self.lose(shard, take);
                Err(LeaseError::Lost(shard.to_string()))
            }
            // Nothing applied: the shard is taken again at once (by this
            // worker, whose lease it still is) from its last checkpoint.
            // (Throttled, it waits for the next pass instead.)
            CommitAnswer::Conflict(e) => {
                tracing::info!(group = %self.group, shard, error = %e, "exactly-once writes conflicted; the shard's batches are delivered again");
                self.lose(shard, take);
                let throttled = ["Throttl", "ProvisionedThroughput", "RequestLimit", "LimitExceeded", "a 429 answer"];
                if !throttled.iter().any(|t| e.contains(t)) {
                    self.pass.notify_one();
                }
                Err(LeaseError::Conflict(e))
            }
            // Nothing applied, and the lease still holds: the mapping stops
            // with a problem and goes on from the lease's checkpoint.
            CommitAnswer::Unsupported(e) => Err(LeaseError::Unsupported(e)),
            CommitAnswer::Rejected(e) => Err(LeaseError::Rejected(e)),
            // Whether it landed is unknown, so the counter is: the shard is
            // dropped and taken again (by this worker, at its next pass)
            // from its last checkpoint known to be written. (With writes,
            // the checkpoint and the writes landed together or not at all.)
            CommitAnswer::Unknown(e) => {
                tracing::warn!(group = %self.group, shard, error = %e, "checkpoint not written; the shard starts again from the last one");
                self.lose(shard, take);
                Err(LeaseError::Failed(e))
            }
        }
    }

    /// Sends `effects` and the lease's `update` (last) in one
    /// `TransactWriteItems`.
    async fn transact(&self, effects: &[Value], update: Value) -> CommitAnswer {
        let mut items: Vec<Value> = effects.to_vec();
        items.push(json!({"Update": update}));
        let lease = items.len() - 1;
        let body = match serde_json::to_vec(&json!({"TransactItems": items})) {
            Ok(b) => b,
            Err(e) => return CommitAnswer::Rejected(e.to_string()),
        };
        // Up to 4 MB: given the endpoint's own bound rather than a lease
        // call's. Should it outlive the lease, the lease's condition in the
        // same transaction keeps it from landing after another worker took
        // the shard.
        let call = self.options.endpoint.call_raw(Service::DynamoDb, "TransactWriteItems", body);
        let wait = crate::endpoint::ENDPOINT_TIMEOUT + Duration::from_secs(1);
        let answer = match tokio::time::timeout(wait, call).await {
            Ok(answer) => answer,
            Err(_) => Err(CallError::Transport("TransactWriteItems of a checkpoint timed out".into())),
        };
        classify_commit(&answer, lease)
    }

    /// Drops `shard` (its current take), so that it is taken again from its
    /// last checkpoint: its batches since are delivered again.
    pub fn drop_shard(&self, shard: &str) {
        let take = lock(&self.held).get(shard).map(|h| h.take);
        if let Some(take) = take {
            self.lose(shard, take);
            self.pass.notify_one();
        }
    }

    /// Takes part in the group until `stop`: creates the table and the
    /// leases of new shards, renews, takes and balances; then hands the
    /// leases back.
    pub async fn run(self: Arc<Self>, source: Arc<dyn RecordSource>, mut stop: watch::Receiver<bool>) {
        let mut retry = RETRY;
        let mut failures = 0;
        loop {
            let ready = tokio::select! {
                _ = stop.changed() => return,
                ready = self.ensure_table() => ready,
            };
            self.passed(&mut failures, ready.as_ref().err());
            let Err(e) = ready else { break };
            tracing::warn!(table = %self.options.table, error = %e, "lease table not ready; trying again");
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(self.options.duration);
        }
        let renewer = tokio::spawn(self.clone().keep_renewing(stop.clone()));
        let mut state = PassState::default();
        let mut retry = RETRY;
        loop {
            if *stop.borrow() {
                break;
            }
            let pass = self.pass_once(source.as_ref(), &mut state).await;
            self.passed(&mut failures, pass.as_ref().err());
            let wait = match pass {
                Ok(false) => {
                    retry = RETRY;
                    self.options.duration / 3
                }
                // The view of the stream behind the lease table: again soon,
                // backing off up to the usual third of a duration.
                Ok(true) => {
                    let wait = retry;
                    retry = (retry * 2).min(self.options.duration / 3);
                    wait
                }
                Err(e) => {
                    tracing::warn!(group = %self.group, error = %e, "lease pass failed");
                    retry = (retry * 2).min(self.options.duration / 3);
                    retry
                }
            };
            tokio::select! {
                changed = stop.changed() => {
                    // The engine went without a shutdown: stop too.
                    if changed.is_err() {
                        break;
                    }
                }
                _ = self.pass.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let _ = renewer.await;
        self.release_all().await;
    }

    /// Looks every eighth of a duration for leases due for renewal, apart
    /// from the passes (whose calls could otherwise hold renewals past
    /// expiry).
    async fn keep_renewing(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.options.duration / 8);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut calls = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
                _ = tick.tick() => {}
                Some(_) = calls.join_next(), if !calls.is_empty() => continue,
            }
            self.renew(&mut calls);
        }
        while calls.join_next().await.is_some() {}
    }

    async fn ensure_table(&self) -> Result<(), CallError> {
        let describe = json!({"TableName": self.options.table});
        match self.call("DescribeTable", &describe).await {
            Ok(t) if t["Table"]["TableStatus"] == "ACTIVE" => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == "ResourceNotFoundException" => {
                let create = json!({
                    "TableName": self.options.table,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "leaseGroup", "AttributeType": "S"},
                        {"AttributeName": "leaseKey", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "leaseGroup", "KeyType": "HASH"},
                        {"AttributeName": "leaseKey", "KeyType": "RANGE"},
                    ],
                });
                match self.call("CreateTable", &create).await {
                    Ok(_) => tracing::info!(table = %self.options.table, "lease table created"),
                    Err(e) if e.kind() == "ResourceInUseException" => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        let start = Instant::now();
        loop {
            let t = self.call("DescribeTable", &describe).await?;
            if t["Table"]["TableStatus"] == "ACTIVE" {
                return Ok(());
            }
            if start.elapsed() > TABLE_WAIT {
                return Err(CallError::Transport(format!("{} is not ACTIVE", self.options.table)));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every lease item of the group, the start item apart: `(leases, started)`.
    async fn read_all(&self) -> Result<(Vec<Lease>, bool), CallError> {
        let mut leases = Vec::new();
        let mut started = false;
        let mut start_key: Option<Value> = None;
        loop {
            let mut request = json!({
                "TableName": self.options.table,
                "KeyConditionExpression": "leaseGroup = :g",
                "ExpressionAttributeValues": {":g": {"S": self.group}},
                "ConsistentRead": true,
            });
            if let Some(k) = start_key.take() {
                request["ExclusiveStartKey"] = k;
            }
            let page = self.call("Query", &request).await?;
            for item in page["Items"].as_array().into_iter().flatten() {
                if item["leaseKey"]["S"] == START_KEY {
                    started = true;
                } else if let Some(l) = Lease::parse(item) {
                    leases.push(l);
                } else {
                    tracing::warn!(group = %self.group, item = %item, "a lease item that cannot be read is left alone");
                }
            }
            match page.get("LastEvaluatedKey") {
                Some(k) if !k.is_null() && leases.len() < MAX_LEASES => start_key = Some(k.clone()),
                _ => return Ok((leases, started)),
            }
        }
    }

    /// One pass: renew, read, create, clean up, take. `Ok(true)` when this
    /// worker's view of the stream is not there yet, or lacks a shard a
    /// lease names: the next pass comes soon, not a third of a duration
    /// later (a worker just started would otherwise wait that long for its
    /// first shard).
    async fn pass_once(&self, source: &dyn RecordSource, state: &mut PassState) -> Result<bool, CallError> {
        let PassState { seen, absent } = state;
        let (mut leases, mut started) = self.read_all().await?;
        let Some(layout) = source.layout() else { return Ok(true) };
        let mut behind = false;
        let in_stream: BTreeSet<&str> = layout.shards.iter().map(|s| s.id.as_str()).collect();

        if !started {
            let mut item = self.key(START_KEY);
            item["startingPosition"] = json!({"S": self.starting.as_str()});
            let put = json!({
                "TableName": self.options.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(leaseKey)",
            });
            // Written before the leases: should the pass stop between the
            // two, shards are delivered from their beginning (more, not less).
            match self.call("PutItem", &put).await {
                Ok(_) => {}
                Err(e) if e.kind() == "ConditionalCheckFailedException" => started = true,
                Err(e) => return Err(e),
            }
        }

        // Leases for shards new to the group.
        let known: BTreeSet<String> = leases.iter().map(|l| l.shard.clone()).collect();
        for sh in layout.shards.iter().filter(|s| !known.contains(&s.id)) {
            // A group's first shards start where the mapping says; a shard
            // opened later starts at its beginning.
            let checkpoint = match (started, self.starting) {
                (false, StartingPosition::Latest) if sh.closed => SHARD_END,
                (false, StartingPosition::Latest) => "LATEST",
                _ => "TRIM_HORIZON",
            };
            let mut item = self.key(&sh.id);
            item["leaseCounter"] = n(0);
            item["checkpoint"] = json!({"S": checkpoint});
            if let Some(p) = &sh.parent {
                item["parentShardId"] = json!({"S": p});
            }
            let put = json!({
                "TableName": self.options.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(leaseKey)",
            });
            match self.call("PutItem", &put).await {
                Ok(_) => {
                    if let Some(l) = Lease::parse(&put["Item"]) {
                        leases.push(l);
                    }
                }
                Err(e) if e.kind() == "ConditionalCheckFailedException" => {}
                Err(e) => return Err(e),
            }
        }
        // Leases of shards gone from the stream are deleted: a finished one
        // once this worker's view has missed its shard for a while, any
        // other once it has for the stream's retention (a view merely behind
        // must never delete a lease still in use: it would be made again,
        // from the shard's beginning). An unfinished one goes only if no
        // worker holds it (unowned, or its counter has not moved for a
        // lease duration), or this worker does (it drops the shard at
        // once): a lease held and renewed by another worker is left to that
        // worker, whose view may have the shard still (this one's may be
        // stale: a source that cannot describe the stream keeps its last
        // layout), and which deletes it itself once its own view has missed
        // the shard for the retention; else such a lease stayed held and
        // renewed for good. A delete that meets a counter moved since the
        // read is tried again at the next pass.
        let now = Instant::now();
        let retention = Duration::from_millis(layout.retention_ms);
        absent.retain(|k, _| !in_stream.contains(k.as_str()) && leases.iter().any(|l| &l.shard == k));
        for l in leases.iter().filter(|l| !in_stream.contains(l.shard.as_str())) {
            absent.entry(l.shard.clone()).or_insert(now);
        }
        let (gone, mut leases): (Vec<Lease>, Vec<Lease>) = leases.into_iter().partition(|l| {
            let after = if l.finished() { GONE_AFTER } else { retention.max(GONE_AFTER) };
            absent.get(&l.shard).is_some_and(|t| now.duration_since(*t) >= after)
        });
        for l in gone {
            // A lease this worker holds: the counter its last write left.
            let mine = lock(&self.held).get(&l.shard).map(|h| (h.take, h.counter));
            let moved = seen.entry(l.shard.clone()).or_insert((l.counter, now));
            if moved.0 != l.counter {
                *moved = (l.counter, now);
            }
            let expired = now.duration_since(moved.1) >= self.options.duration;
            if mine.is_none() && l.owner.is_some() && !l.finished() && !expired {
                continue;
            }
            let delete = json!({
                "TableName": self.options.table,
                "Key": self.key(&l.shard),
                "ConditionExpression": "leaseCounter = :n",
                "ExpressionAttributeValues": {":n": n(mine.map_or(l.counter, |(_, c)| c))},
            });
            match self.call("DeleteItem", &delete).await {
                Ok(_) => {
                    tracing::info!(group = %self.group, shard = %l.shard, "lease of a shard gone from the stream deleted");
                    if let Some((take, _)) = mine {
                        self.lose(&l.shard, take);
                    }
                }
                Err(e) if e.kind() == "ConditionalCheckFailedException" => continue,
                Err(CallError::Api { .. }) => {}
                Err(e) => return Err(e),
            }
            seen.remove(&l.shard);
            absent.remove(&l.shard);
        }
        leases.sort_by(|a, b| a.shard.cmp(&b.shard));

        // When each lease's counter last moved, as this worker saw it.
        let me = &self.options.worker;
        let held: BTreeMap<String, u64> = lock(&self.held).iter().map(|(k, h)| (k.clone(), h.take)).collect();
        // (A gone lease waiting for its holder keeps its entry: `absent`.)
        seen.retain(|k, _| leases.iter().any(|l| &l.shard == k) || absent.contains_key(k));
        let mut free: Vec<&Lease> = Vec::new();
        let mut load: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
        let finished: BTreeSet<&str> = leases.iter().filter(|l| l.finished()).map(|l| l.shard.as_str()).collect();
        let leased: BTreeSet<&str> = leases.iter().map(|l| l.shard.as_str()).collect();
        for l in &leases {
            let first = !seen.contains_key(&l.shard);
            let entry = seen.entry(l.shard.clone()).or_insert((l.counter, now));
            if entry.0 != l.counter {
                *entry = (l.counter, now);
            }
            // A shard this worker's view does not have yet (another worker
            // saw it open first) waits for the view to catch up.
            if l.finished() {
                continue;
            }
            if !in_stream.contains(l.shard.as_str()) {
                behind = true;
                continue;
            }
            // A parent finishes before its children start.
            let parent_done = match &l.parent {
                None => true,
                Some(p) => {
                    finished.contains(p.as_str()) || (!leased.contains(p.as_str()) && !in_stream.contains(p.as_str()))
                }
            };
            if !parent_done {
                continue;
            }
            if held.contains_key(&l.shard) {
                load.entry(me.as_str()).or_default().push(l);
                continue;
            }
            let expired = match &l.owner {
                None => true,
                // A lease of this worker's before a restart.
                Some(o) if o == me => true,
                Some(_) => !first && now.duration_since(entry.1) >= self.options.duration,
            };
            if expired {
                free.push(l);
            } else if let Some(o) = &l.owner {
                load.entry(o.as_str()).or_default().push(l);
            }
        }
        let eligible = free.len() + load.values().map(Vec::len).sum::<usize>();
        let workers = load.keys().filter(|o| **o != me.as_str()).count() + 1;
        let target = eligible.div_ceil(workers);
        let mine = held.len();
        let mut want = target.saturating_sub(mine);
        for l in free {
            if want == 0 {
                break;
            }
            if self.take(l).await? {
                want -= 1;
            }
        }
        if want > 0 && mine < target {
            // Steal one from the most loaded worker, if it holds two more
            // than this one (a difference of one stays: no ping-pong).
            let victim = load
                .iter()
                .filter(|(o, _)| **o != me.as_str())
                .max_by_key(|(_, ls)| ls.len())
                .filter(|(_, ls)| ls.len() >= mine + 2)
                .and_then(|(_, ls)| ls.last().copied());
            if let Some(l) = victim {
                tracing::info!(group = %self.group, shard = %l.shard, from = ?l.owner, "lease taken to balance the load");
                self.take(l).await?;
            }
        }
        Ok(behind)
    }

    /// Takes `l` if its counter has not moved since it was read.
    async fn take(&self, l: &Lease) -> Result<bool, CallError> {
        let request = json!({
            "TableName": self.options.table,
            "Key": self.key(&l.shard),
            "UpdateExpression": "SET leaseOwner = :me, leaseCounter = leaseCounter + :one",
            "ConditionExpression": "leaseCounter = :n",
            "ExpressionAttributeValues": {":me": {"S": self.options.worker}, ":one": n(1), ":n": n(l.counter)},
            "ReturnValues": "ALL_NEW",
        });
        let sent = Instant::now();
        match self.call("UpdateItem", &request).await {
            Ok(answer) => {
                let now = Lease::parse(&answer["Attributes"])
                    .unwrap_or_else(|| Lease { counter: l.counter.saturating_add(1), ..l.clone() });
                tracing::info!(group = %self.group, shard = %l.shard, "lease taken");
                lock(&self.held).insert(
                    l.shard.clone(),
                    Held {
                        take: now.counter,
                        counter: now.counter,
                        start: now.start(),
                        renewed: sent,
                        io: Arc::new(tokio::sync::Mutex::new(())),
                    },
                );
                self.changed();
                Ok(true)
            }
            Err(e) if e.kind() == "ConditionalCheckFailedException" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Raises the counter of every lease held whose last write (a renewal or
    /// a checkpoint) is a quarter of a duration old. Checked every eighth of
    /// a duration, so a renewal cut short by its timeout is followed by
    /// another well within the duration; "a quarter" is
    /// [`RENEW_AFTER_SIXTEENTHS`] sixteenths, half a tick early, so a tick a
    /// moment ahead of the last write's still renews at the second tick:
    /// four writes per duration for an idle lease, none for one whose
    /// checkpoints come more often.
    /// Each renewal goes on its own, without waiting for the others; a lease
    /// whose last write is still under way (a renewal or a checkpoint) is
    /// left to the next tick.
    fn renew(self: &Arc<Self>, calls: &mut tokio::task::JoinSet<()>) {
        let after = self.options.duration * RENEW_AFTER_SIXTEENTHS / 16;
        let due: Vec<(String, u64, tokio::sync::OwnedMutexGuard<()>)> = lock(&self.held)
            .iter()
            .filter(|(_, h)| h.renewed.elapsed() >= after)
            .filter_map(|(k, h)| h.io.clone().try_lock_owned().ok().map(|turn| (k.clone(), h.take, turn)))
            .collect();
        for (shard, take, turn) in due {
            calls.spawn(self.clone().write_lease(shard, take, turn, false));
        }
    }

    /// Hands every held lease back (a clean stop), all at once, so other
    /// workers take them at their next pass instead of after a duration.
    async fn release_all(self: &Arc<Self>) {
        let all: Vec<(String, u64, Arc<tokio::sync::Mutex<()>>)> =
            lock(&self.held).iter().map(|(k, h)| (k.clone(), h.take, h.io.clone())).collect();
        let mut calls = tokio::task::JoinSet::new();
        for (shard, take, io) in all {
            let me = self.clone();
            calls.spawn(async move {
                let turn = io.lock_owned().await;
                me.write_lease(shard, take, turn, true).await;
            });
        }
        while calls.join_next().await.is_some() {}
        lock(&self.held).clear();
        self.changed();
    }

    /// Renews the lease of `shard` (take `take`), or hands it back.
    async fn write_lease(
        self: Arc<Self>,
        shard: String,
        take: u64,
        _turn: tokio::sync::OwnedMutexGuard<()>,
        release: bool,
    ) {
        let Some(counter) = lock(&self.held).get(&shard).filter(|h| h.take == take).map(|h| h.counter) else {
            return;
        };
        let update = if release {
            "REMOVE leaseOwner SET leaseCounter = leaseCounter + :one"
        } else {
            "SET leaseCounter = leaseCounter + :one"
        };
        let sent = Instant::now();
        let request = self.owned_update(&shard, update, counter, json!({}));
        match self.call("UpdateItem", &request).await {
            Ok(_) if release => tracing::info!(group = %self.group, shard, "lease handed back"),
            Ok(_) => {
                if let Some(h) = lock(&self.held).get_mut(&shard).filter(|h| h.take == take) {
                    h.counter = counter.saturating_add(1);
                    h.renewed = sent;
                }
            }
            Err(e) if release => tracing::debug!(group = %self.group, shard, error = %e, "lease not handed back"),
            Err(e) if e.kind() == "ConditionalCheckFailedException" => self.lose(&shard, take),
            Err(e) => tracing::warn!(group = %self.group, shard, error = %e, "lease not renewed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Result<(u16, Vec<u8>), CallError> {
        Ok((status, body.to_string().into_bytes()))
    }

    fn canceled(codes: &[&str]) -> Value {
        let reasons: Vec<Value> = codes.iter().map(|c| json!({"Code": c})).collect();
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [...]",
            "CancellationReasons": reasons,
        })
    }

    #[test]
    fn a_commits_answer_is_classified_by_its_reasons() {
        assert_eq!(classify_commit(&answer(200, json!({})), 2), CommitAnswer::Applied);
        // The lease's condition (the last action) failed: another worker has it.
        let lost = answer(400, canceled(&["None", "None", "ConditionalCheckFailed"]));
        assert_eq!(classify_commit(&lost, 2), CommitAnswer::Lost);
        let both = answer(400, canceled(&["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]));
        assert_eq!(classify_commit(&both, 2), CommitAnswer::Lost);
        // A handler's item changed since it was read: delivered again.
        for codes in [["ConditionalCheckFailed", "None", "None"], ["None", "TransactionConflict", "None"]] {
            let c = classify_commit(&answer(400, canceled(&codes)), 2);
            assert!(matches!(c, CommitAnswer::Conflict(_)), "{codes:?}: {c:?}");
        }
        // A reason that would come again: refused for good.
        let c = classify_commit(&answer(400, canceled(&["ValidationError", "None", "None"])), 2);
        assert!(matches!(c, CommitAnswer::Rejected(_)), "{c:?}");
        // Without CancellationReasons, the message's list tells them.
        let moto = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]",
        });
        assert_eq!(classify_commit(&answer(400, moto.clone()), 1), CommitAnswer::Lost);
        assert!(matches!(classify_commit(&answer(400, moto), 0), CommitAnswer::Conflict(_)));
        let c = classify_commit(
            &answer(400, json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException"})),
            0,
        );
        assert!(matches!(c, CommitAnswer::Conflict(_)), "{c:?}");
        // An engine without transactions.
        let unknown = json!({"__type": "com.amazon.coral.service#UnknownOperationException", "message": "An unknown operation was requested."});
        assert!(matches!(classify_commit(&answer(400, unknown), 0), CommitAnswer::Unsupported(_)));
        let html = Ok((404, b"<html>not found</html>".to_vec()));
        assert!(matches!(classify_commit(&html, 0), CommitAnswer::Unsupported(_)));
        // Refused as sent: it would be again.
        let big = json!({"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "too large"});
        assert!(matches!(classify_commit(&answer(400, big), 0), CommitAnswer::Rejected(_)));
        // No answer, or the server's failure: it may have applied.
        let c = classify_commit(&Err(CallError::Transport("reset".into())), 0);
        assert!(matches!(c, CommitAnswer::Unknown(_)), "{c:?}");
        let c = classify_commit(&answer(500, json!({"__type": "InternalServerError", "message": "x"})), 0);
        assert!(matches!(c, CommitAnswer::Unknown(_)), "{c:?}");
    }
}
