//! The request as a whole, before any operation looks at it: the wire
//! (serialization, unknown operations, sizes, compression), required
//! parameters, and the `N validation errors detected: ...` envelope of
//! member constraint violations.

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
