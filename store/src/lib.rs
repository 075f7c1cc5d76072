//! Tidepool's DynamoDB-compatible document store on fjall: tables, items,
//! expressions, indexes and transactions. It knows nothing of HTTP, JSON wire
//! shapes or wasm.

pub mod catalog;
mod db;
pub mod durability;
pub mod error;
pub mod expr;
pub mod key;
pub mod query;
pub mod table;
pub mod value;

pub use db::{
    Decide, Decision, Store, StoreConfig, TableHandle, TableStats, WriteOp, WriteOutcome, format_timestamp_millis,
};
pub use durability::Durability;
pub use error::{CancellationReason, StoreError};
