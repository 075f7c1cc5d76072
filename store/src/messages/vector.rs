//! Tidepool's vector search extension (its own operations and parameters;
//! DynamoDB has no such case, so every text here is Tidepool's).

/// UpdateTable: a switch to PROVISIONED of a table with vector indexes.
/// ValidationException. Tidepool's text.
pub const PROVISIONED_WITH_VECTOR_INDEXES: &str =
    "One or more parameter values were invalid: Vector indexes are only supported for PAY_PER_REQUEST tables";
