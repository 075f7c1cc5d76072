//! The request as a whole, before any operation looks at it: the wire
//! (serialization, unknown operations, sizes, compression), required
//! parameters, and the `N validation errors detected: ...` envelope of
//! member constraint violations.

// A Lambda handler's calls in process (`src/bridge.rs`): their body, and
// what a handler may call.

/// Any operation a handler calls in process: its request body is not JSON
/// (`error` says where). SerializationException. Tidepool's text.
pub fn malformed_body(error: impl std::fmt::Display) -> String {
    format!("Malformed request body: {error}")
}

/// Any operation a handler calls in process: its request body is JSON but
/// not an object. SerializationException. Tidepool's text.
pub const BODY_NOT_OBJECT: &str = "Request body must be a JSON object";

/// A handler's in-process HTTP request (`what`: method and path) that its
/// exactly-once mapping does not allow. AccessDeniedException (Lambda's
/// error shape on Lambda's paths). Tidepool's text.
pub fn not_for_exactly_once_handler_request(what: impl std::fmt::Display) -> String {
    format!(
        "{what} cannot be called by the handler of an exactly-once mapping: only item reads and writes and DynamoDB Streams reads can be"
    )
}

/// A handler's in-process HTTP request (`what`: method and path) to the
/// control plane. AccessDeniedException (Lambda's error shape on Lambda's
/// paths). Tidepool's text.
pub fn not_for_handler_request(what: impl std::fmt::Display) -> String {
    format!(
        "{what} cannot be called by a handler: handlers reach DynamoDB, DynamoDB Streams, and Lambda's Invoke and read operations; the control plane is the operator's"
    )
}

/// An operation other than an item read or write called by the handler of
/// an exactly-once mapping. ValidationException. Tidepool's text.
pub fn not_for_exactly_once_handler(operation: impl std::fmt::Display) -> String {
    format!(
        "{operation} cannot be called by the handler of an exactly-once mapping: only item reads and writes can be (writes are deferred to the checkpoint)"
    )
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction with a
/// write, called by a worker's exactly-once handler. ValidationException.
/// Tidepool's text.
pub fn partiql_write_not_for_worker_handler(operation: impl std::fmt::Display) -> String {
    format!(
        "{operation} with a write cannot be called by the handler of an exactly-once mapping on a worker: use PutItem, UpdateItem, DeleteItem, BatchWriteItem or TransactWriteItems"
    )
}

/// A write by a worker's exactly-once handler whose commit check of the
/// item needs more operators than an expression may have.
/// ValidationException. Tidepool's text.
pub fn exactly_once_item_too_many_operators(
    table: impl std::fmt::Display,
    max: impl std::fmt::Display,
    operators: impl std::fmt::Display,
) -> String {
    format!(
        "An exactly-once handler on a worker cannot write this item of {table}: its commit checks that the item is as read, attribute by attribute, in one expression of at most {max} operators, and this one needs {operators}"
    )
}

/// A write by a worker's exactly-once handler whose commit check of the
/// item is longer than an expression may be. ValidationException.
/// Tidepool's text.
pub fn exactly_once_item_expression_too_long(
    table: impl std::fmt::Display,
    max: impl std::fmt::Display,
    bytes: impl std::fmt::Display,
) -> String {
    format!(
        "An exactly-once handler on a worker cannot write this item of {table}: its commit checks that the item is as read, attribute by attribute, in one expression of at most {max} bytes, and this one needs {bytes}"
    )
}

/// A write by a worker's exactly-once handler past the most items one
/// batch's writes may touch. ValidationException. Tidepool's text.
pub fn exactly_once_too_many_items(max: impl std::fmt::Display) -> String {
    format!(
        "An exactly-once handler on a worker writes at most {max} items per batch: its writes and the checkpoint commit in one TransactWriteItems of at most 100 actions"
    )
}

/// A write by a worker's exactly-once handler past the most bytes one
/// batch's writes may come to. ValidationException. Tidepool's text.
pub fn exactly_once_too_many_bytes(max: impl std::fmt::Display, bytes: impl std::fmt::Display) -> String {
    format!(
        "An exactly-once handler on a worker writes at most {max} bytes per batch: its writes and the checkpoint commit in one TransactWriteItems of at most 4 MB (these come to {bytes})"
    )
}
