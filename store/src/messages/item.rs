//! Items and attribute values: PutItem, GetItem, UpdateItem, DeleteItem,
//! BatchGetItem, BatchWriteItem; keys, numbers, sets, sizes, and the outcome
//! of a failed condition.

/// PutItem, DeleteItem: ReturnValues other than ALL_OLD or NONE, in a
/// request nested deep enough that DynamoDB reads it in its older form
/// (checked before the table is looked up). ValidationException.
pub const RETURN_VALUES_ALL_OLD_OR_NONE: &str = "ReturnValues can only be ALL_OLD or NONE";

/// BatchWriteItem: a WriteRequest with both PutRequest and DeleteRequest,
/// or neither (checked before the table is looked up).
/// ValidationException.
pub const WRITE_REQUEST_NOT_ONE_KIND: &str =
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes";
