//! Every error message the DynamoDB and DynamoDB Streams APIs send, in
//! DynamoDB's own words, kept in one place.
//!
//! One submodule per part of the API. Each entry is the text of one case:
//! a `pub const` when the text is fixed, a `pub fn` returning `String` when
//! it carries values from the request. Its doc line names the operations it
//! answers, then the case, then the error type the caller sends it with:
//!
//! ```text
//! /// CreateTable, UpdateTable: a key attribute has no AttributeDefinitions
//! /// entry. ValidationException.
//! ```
//!
//! The text is DynamoDB's, word for word, as its documentation gives it or,
//! where the documentation is silent, as the live service answers (the
//! public conformance suites and the AWS SDKs record those answers). Where
//! the live service's text has a typo or odd spacing, the entry keeps it.
//! Texts Tidepool adds (its extensions, and refusals DynamoDB has no case
//! for) are marked so in their doc line.
//!
//! Callers choose the error type (`StoreError` here, `ApiError` on the wire);
//! the text comes from here. `tests/messages.rs` checks the entries through
//! the real server, one table row per case.

pub mod backup;
pub mod export;
pub mod expression;
pub mod global_table;
pub mod item;
pub mod partiql;
pub mod query;
pub mod request;
pub mod server;
pub mod stream;
pub mod table;
pub mod transaction;
pub mod vector;
