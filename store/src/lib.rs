//! Tidepool's DynamoDB-compatible document store on fjall: tables, items,
//! expressions, indexes, transactions, change streams and TTL. It knows
//! nothing of HTTP or wasm.

pub mod backfill;
pub mod backup;
pub mod catalog;
pub mod cipher;
mod db;
pub mod durability;
pub mod error;
pub mod expr;
pub mod history;
pub mod key;
pub mod messages;
pub mod partiql;
pub mod query;
pub mod replication;
pub mod space;
pub mod stream;
mod stream_ops;
pub mod table;
mod ttl;
mod unit;
pub mod value;
pub mod vector;

pub use db::{
    DEFAULT_CACHE_BYTES, DEFAULT_CACHED_FILES, DEFAULT_TTL_INTERVAL, Decide, Decision, Store, StoreConfig, TableHandle,
    TableStats, WriteOp, WriteOptions, WriteOutcome, format_timestamp_millis, lower_this_thread, now_ms,
};
pub use durability::Durability;
pub use error::{CancellationReason, StoreError, WriteFailure};
pub use stream::{Origin, StreamConfig};
pub use stream_ops::{MAX_READ_BYTES, MAX_READ_RECORDS};
pub use unit::Unit;
