//! Expressions (condition, filter, key condition, update, projection), their
//! names and values, and the legacy parameters they replace (`Expected`,
//! `QueryFilter`, `ScanFilter`, `AttributesToGet`, `AttributeUpdates`,
//! `ConditionalOperator`).
