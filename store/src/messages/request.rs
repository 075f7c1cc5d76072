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

/// PutItem, UpdateItem, DeleteItem, Query, Scan: a legacy map parameter
/// (`Expected`, `AttributeUpdates`, `KeyConditions`, `QueryFilter`,
/// `ScanFilter`) with an entry that is not a structure.
/// SerializationException.
pub fn expected_structures(member: impl std::fmt::Display) -> String {
    format!("Expected structures in {member}")
}

/// Every operation reading an attribute value: a JSON decimal where a string
/// is expected. SerializationException.
pub const DECIMAL_AS_STRING: &str = "DECIMAL_VALUE cannot be converted to String";

/// Every operation reading an attribute value: a JSON integer where a string
/// is expected. SerializationException.
pub const NUMBER_AS_STRING: &str = "NUMBER_VALUE cannot be converted to String";

/// Every operation reading an attribute value: `true` where a string is
/// expected. SerializationException.
pub const TRUE_AS_STRING: &str = "TRUE_VALUE cannot be converted to String";

/// Every operation reading an attribute value: `false` where a string is
/// expected. SerializationException.
pub const FALSE_AS_STRING: &str = "FALSE_VALUE cannot be converted to String";

/// Every operation reading an attribute value: an object where a string is
/// expected. SerializationException.
pub const STRUCTURE_NOT_EXPECTED: &str = "Start of structure or map found where not expected";

/// Every operation reading an attribute value: an array where a string is
/// expected. SerializationException.
pub const COLLECTION_AS_STRING: &str = "Unrecognized collection type class java.lang.String";

/// Every operation reading an attribute value: `null` where a string is
/// expected. SerializationException.
pub const UNEXPECTED_NULL: &str = "Unexpected null value";

/// Every operation reading an attribute value: a binary whose base64 length
/// is not a multiple of 4; carries the length. SerializationException.
pub fn base64_length(length: impl std::fmt::Display) -> String {
    format!("Base64 encoded length is expected a multiple of 4 bytes but found: {length}")
}

/// Every operation reading an attribute value: a set or `L` that is not an
/// array. SerializationException.
pub const EXPECTED_LIST: &str = "Expected list or null";

/// Every operation reading an attribute value: an AttributeValue that is not
/// an object. SerializationException.
pub const UNEXPECTED_VALUE_TYPE: &str = "Unexpected value type in payload";

/// Every operation reading an attribute value: a `BOOL` or `NULL` that is
/// not a boolean. SerializationException.
pub const EXPECTED_BOOLEAN: &str = "Expected boolean value";

/// Every operation reading an attribute value: an `M` or an item that is not
/// an object. SerializationException.
pub const EXPECTED_MAP: &str = "Expected map or null";

/// BatchGetItem: a `RequestItems` entry (`KeysAndAttributes`) that is not a
/// structure. SerializationException.
pub fn expected_structure(member: impl std::fmt::Display) -> String {
    format!("Expected a structure for {member}")
}

/// BatchWriteItem: a `RequestItems` entry that is not a list.
/// SerializationException.
pub const EXPECTED_WRITE_REQUESTS: &str = "Expected a list of WriteRequest";

/// BatchWriteItem: a write request that is not a structure.
/// SerializationException.
pub const EXPECTED_WRITE_REQUEST: &str = "Expected a WriteRequest structure";

/// Every operation: a body in an unknown `Content-Encoding`, or not valid in
/// its coding. InternalServerError (a 500, as DynamoDB answers; Alternator's
/// tests against the live service). Tidepool's text.
pub const UNDECODABLE_BODY: &str = "The request body could not be decoded with its Content-Encoding";

/// Every operation: a body larger than the limit; carries the limit in
/// bytes. RequestEntityTooLarge (413).
pub fn request_too_large(max: impl std::fmt::Display) -> String {
    format!("Request must be smaller than {max} bytes for the operation")
}
