//! Items and attribute values: PutItem, GetItem, UpdateItem, DeleteItem,
//! BatchGetItem, BatchWriteItem; keys, numbers, sets, sizes, and the outcome
//! of a failed condition.

/// Why a number literal was refused, worded as DynamoDB words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Every operation reading an attribute value, and arithmetic in an update:
    /// an `N` that is not a number; carries the literal. ValidationException.
    #[error("The parameter cannot be converted to a numeric value: {0}")]
    NotNumeric(String),
    /// Every operation reading an attribute value, and arithmetic in an update:
    /// more than 38 significant digits. ValidationException.
    #[error("Attempting to store more than 38 significant digits in a Number")]
    TooPrecise,
    /// Every operation reading an attribute value, and arithmetic in an update:
    /// a magnitude above 9.99…E+125. ValidationException.
    #[error("Number overflow. Attempting to store a number with magnitude larger than supported range")]
    Overflow,
    /// Every operation reading an attribute value, and arithmetic in an update:
    /// a magnitude below 1E-130. ValidationException.
    #[error("Number underflow. Attempting to store a number with magnitude smaller than supported range")]
    Underflow,
}

/// PutItem, UpdateItem, DeleteItem, ExecuteStatement (and a transaction's
/// cancellation reason `ConditionalCheckFailed`): the condition evaluated
/// to false. ConditionalCheckFailedException.
pub const CONDITIONAL_CHECK_FAILED: &str = "The conditional request failed";

/// GetItem, UpdateItem, DeleteItem, BatchGetItem, BatchWriteItem (delete),
/// TransactGetItems, TransactWriteItems, ExecuteStatement: a `Key` that lacks
/// a key attribute, has one of another type, or has attributes beyond the
/// key. ValidationException.
pub const KEY_MISMATCH: &str = "The provided key element does not match the schema";

/// PutItem, BatchWriteItem (put), TransactWriteItems (Put): the item lacks a
/// key attribute. ValidationException.
pub fn missing_key(key: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: Missing the key {key} in the item")
}

/// PutItem, BatchWriteItem (put), TransactWriteItems (Put): a key attribute
/// of another type than the key schema's. ValidationException.
pub fn key_type_mismatch(
    key: impl std::fmt::Display,
    expected: impl std::fmt::Display,
    actual: impl std::fmt::Display,
) -> String {
    format!(
        "One or more parameter values were invalid: Type mismatch for key {key} expected: {expected} actual: {actual}"
    )
}

/// PutItem, UpdateItem, BatchWriteItem, TransactWriteItems, ExecuteStatement:
/// an attribute that keys a secondary index holds a value of another type
/// than the index's key schema. ValidationException.
pub fn index_key_type_mismatch(
    key: impl std::fmt::Display,
    expected: impl std::fmt::Display,
    actual: impl std::fmt::Display,
    index: impl std::fmt::Display,
) -> String {
    format!(
        "One or more parameter values were invalid: Type mismatch for Index Key {key} Expected: {expected} Actual: {actual} IndexName: {index}"
    )
}

/// Every operation with a key or an item: an empty string or binary key
/// attribute; `kind` is `string` or `binary`. ValidationException.
pub fn empty_key(kind: impl std::fmt::Display, key: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {key}"
    )
}

/// PutItem, UpdateItem, BatchWriteItem, TransactWriteItems, ExecuteStatement:
/// an empty string or binary in an attribute that keys a secondary index;
/// `kind` is `string` or `binary`. ValidationException.
pub fn empty_index_key(
    kind: impl std::fmt::Display,
    index: impl std::fmt::Display,
    key: impl std::fmt::Display,
) -> String {
    format!(
        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {index}, IndexKey: {key}"
    )
}

/// Every operation with a key or an item: a partition key longer than its
/// limit; carries the limit. ValidationException.
/// No space before the number: DynamoDB's own typo (recorded by dynalite's
/// and moto's tests against it).
pub fn partition_key_too_long(max: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of{max} bytes"
    )
}

/// Every operation with a key or an item: a sort key longer than its limit;
/// carries the limit. ValidationException.
pub fn sort_key_too_long(max: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of {max} bytes"
    )
}

/// Every operation reading an attribute value: an empty `N` (in the older
/// value layer), or a null member of a number set. ValidationException.
pub const NOT_NUMERIC: &str = "The parameter cannot be converted to a numeric value";

/// Every operation reading an attribute value: a number set with a member
/// twice (the current value layer names no members). ValidationException.
pub const NUMBER_SET_DUPLICATES: &str =
    "One or more parameter values were invalid: Input collection contains duplicates.";

/// Every operation reading an attribute value: a number set with a member
/// twice, in the older value layer's words (no prefix, no full stop).
/// ValidationException.
pub const NUMBER_SET_DUPLICATES_OLDER: &str = "Input collection contains duplicates";

/// Every operation reading an attribute value, and PartiQL's `<<...>>`: a
/// string set with a member twice; carries the members listed.
/// ValidationException.
pub fn set_duplicates(members: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: Input collection [{members}] contains duplicates.")
}

/// Every operation reading an attribute value: a binary set with a member
/// twice; carries the members listed. ValidationException. No space after
/// the list: DynamoDB's own.
pub fn binary_set_duplicates(members: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: Input collection [{members}]of type BS contains duplicates.")
}

/// Every operation reading an attribute value: an empty binary set.
/// ValidationException.
pub const EMPTY_BINARY_SET: &str = "One or more parameter values were invalid: Binary sets should not be empty";

/// Every operation reading an attribute value: an empty string or number
/// set; `kind` is `string` or `number`. ValidationException. "An number"
/// and the two spaces before "may" are DynamoDB's own.
pub fn empty_set(kind: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: An {kind} set  may not be empty")
}

/// Every operation reading an attribute value: a null member of a string
/// set. ValidationException.
pub const STRING_SET_NULL_MEMBER: &str =
    "One or more parameter values were invalid: An string set may not have a null string as a member";

/// Every operation reading an attribute value: a null member of a binary
/// set. ValidationException.
pub const NULL_ATTRIBUTE_VALUE: &str = "The supplied Item contains a null AttributeValue";

/// Every operation reading an attribute value: an AttributeValue with no
/// type member. ValidationException.
pub const EMPTY_ATTRIBUTE_VALUE: &str =
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes";

/// Every operation reading an attribute value: an AttributeValue with more
/// than one type member. BatchWriteItem: a write request with neither or
/// both of `PutRequest` and `DeleteRequest` (DynamoDB's words for it too).
/// ValidationException.
pub const SEVERAL_DATATYPES: &str =
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes";

/// Every operation reading an attribute value: `{"NULL": false}`.
/// ValidationException.
pub const NULL_FALSE: &str =
    "One or more parameter values were invalid: Null attribute value types must have the value of true";

/// Every operation reading an attribute value: a map or list nested deeper
/// than 32 levels. ValidationException (inside the `1 validation error
/// detected: ` envelope in PutItem, UpdateItem and DeleteItem, unless the
/// request nests past about 62 levels; the conformance suite's
/// `limits/nestingDepth`, captured in five regions, 2026-10).
pub const NESTED_TOO_DEEPLY: &str =
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";

/// PutItem, BatchWriteItem (put), TransactWriteItems (Put), and an item an
/// update leaves: larger than 400 KB. ValidationException.
pub const ITEM_TOO_LARGE: &str = "Item size has exceeded the maximum allowed size";

/// UpdateItem: the updated item, or what the update writes, larger than the
/// limit. ValidationException.
pub const UPDATE_TOO_LARGE: &str = "Item size to update has exceeded the maximum allowed size";

/// PutItem, DeleteItem: `ReturnValues` other than `ALL_OLD` or `NONE`.
/// ValidationException.
pub const RETURN_VALUES_ALL_OLD_OR_NONE: &str = "ReturnValues can only be ALL_OLD or NONE";

/// UpdateItem, TransactWriteItems (Update), ExecuteStatement (UPDATE): an
/// update of a key attribute. ValidationException.
pub fn key_attribute_update(attribute: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Cannot update attribute {attribute}. This attribute is part of the key"
    )
}

/// BatchGetItem: an empty `RequestItems`. ValidationException. The
/// validation framework's generic message, which BatchGetItem moved to in
/// 2026-08.
pub const BATCH_GET_NO_TABLES: &str = "1 validation error detected: Value at 'RequestItems' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// BatchWriteItem: an empty `RequestItems`. ValidationException. The older
/// sentence, which BatchWriteItem keeps while its rollout has not settled.
pub fn request_items_required(operation: impl std::fmt::Display) -> String {
    format!("The requestItems parameter is required for {operation}")
}

/// BatchGetItem: a table with more `Keys` than the limit; carries the table
/// and the limit. ValidationException.
pub fn batch_get_too_many_keys(table: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value at 'RequestItems.{table}.member.Keys' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// BatchGetItem: more keys in all than the limit. ValidationException.
pub const BATCH_GET_TOO_MANY_KEYS: &str = "Too many items requested for the BatchGetItem call";

/// BatchGetItem: a table with empty `Keys`. ValidationException.
pub fn batch_get_no_keys(table: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value at 'RequestItems.{table}.member.Keys' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// BatchGetItem, BatchWriteItem, BatchExecuteStatement: one item's key
/// twice in the request. ValidationException.
pub const DUPLICATE_KEYS: &str = "Provided list of item keys contains duplicates";

/// BatchWriteItem: more write requests than the limit in all, or a table
/// with none; carries the request's items as DynamoDB's Java renders them,
/// and the limit. ValidationException.
pub fn batch_write_count(request_items: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{request_items}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {max}, Member must have length greater than or equal to 1]"
    )
}

/// UpdateItem, TransactWriteItems (Update): an update that sets a secondary
/// index key attribute to an empty string or binary given in the request;
/// `kind` is `string` or `binary`. ValidationException.
pub fn update_empty_index_key(kind: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value."
    )
}

/// Every operation reading an item, a key or an attribute value, and
/// `ExpressionAttributeNames`, `AttributesToGet` and `AttributeUpdates`: an
/// attribute name (at any depth, a map's keys included) of 65,536 bytes or
/// more. ValidationException (enveloped as [`NESTED_TOO_DEEPLY`] is). The
/// live service's text, measured for PutItem and UpdateItem (ExtendDB issue
/// 365, 2026-09); 65,535 bytes is accepted (Alternator's `test_limits.py`).
pub const ATTRIBUTE_NAME_TOO_LARGE: &str = "Attribute name is too large, must be less than 65536 bytes";

/// PutItem, BatchWriteItem, TransactWriteItems and every operation reading
/// an item or key: a top-level attribute named with the empty string.
/// ValidationException (enveloped as [`NESTED_TOO_DEEPLY`] is). DynamoDB
/// Local's text for the case (the live service's is not recorded).
pub const EMPTY_ATTRIBUTE_NAME: &str = "Empty attribute name";
