//! The server's own state rather than the request's: writes paused for a
//! full disk or a storage failure, a write whose outcome is unknown,
//! internal errors.

// A Lambda handler's DynamoDB calls in process (`src/bridge.rs`), and on a
// worker (`tidepool workers --source`) those its source engine answers.

/// Any operation a handler calls in process, and the reason a stopping region
/// gives its peers (CreateGlobalTable, UpdateGlobalTable): the server is
/// stopping. InternalServerError. Tidepool's text.
pub const STOPPING: &str = "the server is stopping";
/// A handler's call a worker sends on to another engine, whose table,
/// stream or statement this server cannot read: it cannot be authorized
/// for the handler's role here, so it is not sent.
pub const UNAUTHORIZABLE_ELSEWHERE: &str = "The request does not name its resource in a form this worker can read (a statement that does not parse here, a missing table name), so it cannot be authorized for the function's execution role and is not sent to the stream source";

/// Any operation a worker's handler calls: the source engine's connection
/// failed (`error` says how). InternalServerError. Tidepool's text.
pub fn source_unanswered(error: impl std::fmt::Display) -> String {
    format!("the source engine did not answer: {error}")
}

/// Any operation a worker's handler calls: the source engine did not
/// answer within `wait` (a `Duration`, debug-printed).
/// InternalServerError. Tidepool's text.
pub fn source_unanswered_within(wait: impl std::fmt::Debug) -> String {
    format!("the source engine did not answer within {wait:?}")
}

/// A write by a worker's exactly-once handler: the source engine's answer
/// to `operation` is not JSON. InternalServerError. Tidepool's text.
pub fn source_answer_not_json(operation: impl std::fmt::Display) -> String {
    format!("the source engine's answer to {operation} is not JSON")
}

/// A write by a worker's exactly-once handler: the source engine left
/// items unprocessed after several BatchGetItem rounds.
/// ThrottlingException. Tidepool's text.
pub const SOURCE_LEFT_ITEMS_UNREAD: &str = "the source engine left items unread after several tries";

/// A write by a worker's exactly-once handler: an item as the source holds
/// it does not stage into the worker's mirror (`error` says why).
/// ValidationException. Tidepool's text.
pub fn source_item_refused(table: impl std::fmt::Display, error: impl std::fmt::Display) -> String {
    format!("an item of {table} as the source holds it: {error}")
}

/// A write by a worker's exactly-once handler: the source's table changed
/// (re-created, or its indexes) since the invocation read from it.
/// InternalServerError. Tidepool's text.
pub fn source_table_changed(table: impl std::fmt::Display) -> String {
    format!("the source's table {table} changed during the invocation; its batch is delivered again")
}

/// A write by a worker's exactly-once handler to more tables than the
/// worker mirrors. LimitExceededException. Tidepool's text.
pub fn too_many_mirrored_tables(max: impl std::fmt::Display) -> String {
    format!("an exactly-once handler on a worker writes to at most {max} tables")
}

/// A write by a worker's exactly-once handler: the source's DescribeTable
/// answer gives no table definition. InternalServerError. Tidepool's text.
pub const MIRROR_DEFINITION_NOT_OBJECT: &str = "a table definition that is not an object";

/// A write by a worker's exactly-once handler: the source's table cannot
/// be made in the mirror (`why` is the CreateTable refusal's message).
/// InternalServerError. Tidepool's text.
pub fn table_not_mirrorable(table: impl std::fmt::Display, why: impl std::fmt::Display) -> String {
    format!("the source's table {table} cannot be mirrored: {why}")
}

/// A write by a worker's exactly-once handler: the mirror's table, just
/// made, cannot be opened. InternalServerError. Tidepool's text.
pub fn mirror_table_missing(table: impl std::fmt::Display, error: impl std::fmt::Display) -> String {
    format!("the mirror of {table}: {error}")
}

/// A worker's exactly-once handler: the mirror store cannot be opened
/// (logged; the handler's writes are then not deferred).
/// InternalServerError. Tidepool's text.
pub fn mirror_store(error: impl std::fmt::Display) -> String {
    format!("the worker's mirror store: {error}")
}

/// Every operation: a failure of the server's own (a store failure that is
/// not the client's). InternalServerError.
pub const INTERNAL_ERROR: &str = "Internal server error";

/// Every write: writes are paused because the data directory is out of
/// space; they resume once space is freed. ThrottlingException (retryable).
/// Tidepool's text.
pub const WRITES_PAUSED_OUT_OF_SPACE: &str =
    "Writes are paused: the server's data directory is out of space. They resume once space is freed; retry.";

/// Every write: writes are paused after a storage failure until the server
/// restarts. InternalServerError. Tidepool's text.
pub const WRITES_PAUSED_STORAGE_FAILURE: &str =
    "Writes are paused after a storage failure; the server needs a restart.";

/// Every write: the write was committed but the storage failed while saving
/// it, so it may or may not have been applied (as after DynamoDB's own 500).
/// InternalServerError. Tidepool's text.
pub const OUTCOME_UNKNOWN: &str = "Internal server error: the server's storage failed while this write was being saved; it may or may not have been applied.";

/// `GET /tidepool/trace` (the console's item trace): `table` or `key`
/// missing from the query. ValidationException. Tidepool's text.
pub const TRACE_PARAMETERS_REQUIRED: &str = "The query parameters table and key are required";

/// `GET /tidepool/trace`: `key` is not JSON. ValidationException.
/// Tidepool's text.
pub fn trace_key_not_json(why: impl std::fmt::Display) -> String {
    format!("key is not JSON (DynamoDB JSON of the item's key): {why}")
}
