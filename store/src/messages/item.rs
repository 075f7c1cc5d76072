//! Items and attribute values: PutItem, GetItem, UpdateItem, DeleteItem,
//! BatchGetItem, BatchWriteItem; keys, numbers, sets, sizes, and the outcome
//! of a failed condition.
