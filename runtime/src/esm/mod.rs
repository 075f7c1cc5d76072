//! Stream triggers: Lambda event source mappings on the store's change
//! streams, with the semantics of AWS Lambda on DynamoDB Streams
//! (`ESM-SEMANTICS.md`), pushed instead of polled.
//!
//! # Layout
//! - [`config`]: [`MappingConfig`], every mapping parameter with Lambda's
//!   validation, and the Lambda API's JSON shapes.
//! - [`filter`]: `FilterCriteria` patterns.
//! - `shard` and `core`: delivery as a state machine that neither waits nor
//!   reads the clock ([`MappingCore`]); `engine`: the tokio tasks that drive it
//!   in the server ([`Engine`]).
//! - The parts the state machine is given, each a trait with the real
//!   implementation and room for fakes: [`Clock`] ([`SystemClock`]),
//!   [`RecordSource`] ([`StoreSource`]), [`Invoker`] ([`FunctionInvoker`]) and
//!   [`Ledger`] ([`StoreLedger`]: checkpoints and destination records).
//!
//! # Delivery guarantees
//! - At least once, in shard order; with `ParallelizationFactor` > 1 the
//!   records of a shard are spread over that many lanes by partition key, so
//!   the records of one key are delivered in order and never concurrently.
//! - A checkpoint (per mapping and shard, in the store's system entries under
//!   `esm/<uuid>/`) never passes a record that was not handled, filtered out,
//!   dropped (see below) or described to the on-failure destination; the
//!   destination records are written in the same atomic commit as the
//!   checkpoint that passes their records. It is durable before the next
//!   batch of its shard starts, and it only moves forward.
//! - A child shard starts when its parent is finished and checkpointed.
//! - Retries, bisection, partial batch responses, record age and tumbling
//!   windows follow the spec; see [`MappingCore`] and the `shard` module.
//!   A retried piece waits a short backoff (50 ms doubling to 1 s) so a
//!   function that always fails does not spin; AWS does not say how long it
//!   waits.
//! - A partial batch response retries the rest of the same batch (from the
//!   lowest failed record to the batch's end), not a fresh batch.
//! - Tumbling windows: windows are aligned to multiples of the window length
//!   of the records' `ApproximateCreationDateTime`; a batch never spans two
//!   windows; the state is per shard (so a mapping with tumbling windows
//!   delivers each shard in one lane, whatever its `ParallelizationFactor`);
//!   the final invocation of a window carries no records, the state and
//!   `isFinalInvokeForWindow: true`, and comes when a record of a later
//!   window is read, the window's end passes, or the shard ends. A returned
//!   state larger than 1 MB ends the window early: the next invocation is the
//!   final one (`isWindowTerminatedEarly: true`) with that state, and the
//!   window goes on with a fresh state.
//!
//! # The on-failure destination
//! Discarded batches are described to a **table of the same store**, named by
//! its ARN in `DestinationConfig.OnFailure.Destination`
//! (`arn:aws:dynamodb:<region>:<account>:table/<name>`). The user creates it
//! with a **string partition key** (any name), and optionally a sort key
//! (string or number). Each discarded batch becomes one item:
//! - partition key: `requestContext.requestId` (the last invocation's request
//!   id, or a fresh UUID for records that aged out before any invocation);
//! - sort key, if any: `DDBStreamBatchInfo.startSequenceNumber`;
//! - attributes `requestContext`, `responseContext`, `version`, `timestamp`
//!   and `DDBStreamBatchInfo` (maps), exactly Lambda's invocation record;
//! - `payload`: the whole invocation record as JSON text.
//!
//! `condition` is `RetryAttemptsExhausted` or `RecordAgeExceeded` (also for
//! records past the stream's 24-hour retention). `responseContext` is `{}`
//! when the records were never invoked, and has no `functionError` when the
//! last invocation returned a (partial or invalid) response rather than an
//! error. The Lambda API refuses a destination that cannot take records
//! (a missing table, a wrong key type: [`check_destination`]) when it is
//! set. If it cannot take one later (the table deleted since), the commit
//! fails and the mapping restarts from its checkpoint with a growing
//! backoff, so nothing is lost; records given up are counted in the
//! metrics only once a commit that gives them up is durable
//! ([`Commit::dropped`]), so retries do not count them again.
//!
//! # Recursive loops
//! Every stream record carries `origin.depth`: how many trigger invocations
//! led to its write. A batch is invoked with
//! [`InvokeOptions::chain_depth`](crate::InvokeOptions) = the highest depth in
//! it plus one, which the store bridge stamps on the function's writes.
//! Records of depth [`MAX_CHAIN_DEPTH`] (16) or more are not delivered: they
//! are counted as dropped, logged with a warning and checkpointed past, as
//! Lambda's recursive loop detection stops a loop after about 16
//! invocations.
//!
//! # Beyond AWS
//! A commit wakes the consumers of its shard at once (no polling interval).
//!
//! ## Exactly-once store effects
//! With [`MappingConfig::exactly_once`] each invocation is asked to defer
//! its store writes ([`InvokeRequest::defer_writes`]): the store bridge
//! checks and answers each write against the committed store plus the
//! invocation's earlier writes, and records it instead of committing it
//! ([`DeferringBridge`](crate::DeferringBridge)). A successful invocation's
//! record ([`InvokeOutcome::writes`]) is held by its shard until the
//! checkpoint passes its records, then travels in that [`Commit`]
//! ([`Commit::effects`]); [`StoreLedger`] replays it through
//! [`StoreBridge::replay`](crate::StoreBridge::replay) into the unit of work
//! that commits the checkpoint, so writes and checkpoint are one atomic
//! batch. A failed invocation's writes are dropped with it. If a replayed
//! write fails (a condition no longer holds), nothing of the commit is
//! written ([`LedgerError::Conflict`]) and the mapping restarts from its
//! checkpoints, delivering those batches again. A commit carrying several
//! shards' effects is split per shard ([`Commit::split_by_shard`]) so one
//! shard's conflict does not hold back another's. The mode requires
//! `ParallelizationFactor` 1 and excludes `ReportBatchItemFailures`.
//!
//! On a worker (leased mappings) the record is instead one
//! `TransactWriteItems` action per item ([`lease::TRANSACT_ACTION`]), and
//! [`Leases::checkpoint_with`] commits a shard's actions and its checkpoint
//! in one transaction of the source engine; a conflict drops the shard,
//! which is taken again and delivered from its checkpoint.

pub mod clock;
pub mod config;
mod core;
mod engine;
pub mod filter;
mod invoker;
pub mod lease;
mod ledger;
mod metrics;
mod remote;
mod shard;
mod source;
pub mod trace;

pub use self::core::{Job, MappingCore, Settings, Step};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, ConfigErrorKind, MappingConfig, MappingParams, MappingState, StartingPosition};
pub use engine::Engine;
pub use invoker::{FunctionInvoker, InvokeError, InvokeFuture, InvokeOutcome, InvokeRequest, Invoker};
pub use lease::{LEASE_DURATION, LEASE_TABLE, LeaseOptions, Leases};
pub use ledger::{
    Commit, FailureRecord, Ledger, LedgerError, LedgerState, SYS_PREFIX, ShardCheckpoint, StoreLedger,
    WindowCheckpoint, check_destination, write_destination_record,
};
pub use metrics::{MappingMetrics, ShardMetrics};
pub use remote::{
    FEED_MAX_BYTES, FEED_MAX_RECORDS, LAYOUT_REFRESH, POLLS_PER_SECOND, SHARD_CALLS_PER_SECOND, StreamsSource,
};
pub use shard::{
    MAX_CHAIN_DEPTH, MAX_PAYLOAD_BYTES, MAX_WINDOW_STATE_BYTES, RESULT_FUNCTION_FAILED, RESULT_INVALID_RESPONSE,
    RESULT_OK,
};
pub use source::{
    ReadError, RecordSource, STREAM_RETENTION_MS, Seq, ShardInfo, SourcePage, SourceRecord, StoreSource, StreamLayout,
    format_seq, parse_seq,
};
