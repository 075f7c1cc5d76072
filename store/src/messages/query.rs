//! Query and Scan: key conditions, `ExclusiveStartKey`, `Select`, `Limit`,
//! parallel scan segments, indexes read.

/// Query, and Scan of an index: an `ExclusiveStartKey` that does not match
/// the schema (missing, extra or mistyped key attributes). ValidationException.
/// The short form, as measured against DynamoDB in 2026 by ExtendDB's and
/// Floci's suites.
pub const START_KEY_INVALID: &str = "The provided starting key is invalid";

/// Scan of a table: an `ExclusiveStartKey` that does not match the schema.
/// ValidationException.
pub const START_KEY_NOT_SCHEMA: &str =
    "The provided starting key is invalid: The provided key element does not match the schema";

/// Scan (parallel): an `ExclusiveStartKey` outside the requested segment.
/// ValidationException.
pub fn start_key_wrong_segment(total_segments: impl std::fmt::Display, segment: impl std::fmt::Display) -> String {
    format!(
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {total_segments} Segment: {segment}"
    )
}

/// Query: an `ExclusiveStartKey` of another partition than the key
/// condition's, when the condition has none on the sort key.
/// ValidationException.
pub const START_KEY_OUT_OF_RANGE: &str =
    "The provided starting key is outside query boundaries based on provided conditions";

/// Query: an `ExclusiveStartKey` whose sort key the key condition's
/// sort-key condition does not hold for (dynalite's tests, recorded against
/// DynamoDB). ValidationException.
pub const START_KEY_NOT_IN_RANGE_PREDICATE: &str = "The provided starting key does not match the range key predicate";

/// Query: an `ExclusiveStartKey` of another partition than the key
/// condition's whose sort key the condition's sort-key condition holds for
/// (dynalite's tests, recorded against DynamoDB). ValidationException.
pub const START_KEY_CANNOT_RESTART: &str = "The query can return at most one row and cannot be restarted";

/// Query, Scan: an `ExclusiveStartKey` attribute value DynamoDB's value
/// check refuses (empty, more than one type, an empty string or binary
/// set, `{"NULL": false}`); carries that refusal's text (dynalite's tests,
/// recorded against DynamoDB). ValidationException.
pub fn start_key_invalid_value(why: impl std::fmt::Display) -> String {
    format!("The provided starting key is invalid: {why}")
}

/// Query, Scan: `ConsistentRead` on a global secondary index (or, for a
/// Query, on a vector index). ValidationException.
pub const GSI_CONSISTENT_READ: &str = "Consistent reads are not supported on global secondary indexes";

/// Query, Scan: an `IndexName` the table does not have; SearchVectors: no
/// vector index of that name (or one still allocating). ValidationException.
pub fn no_such_index(index: impl std::fmt::Display) -> String {
    format!("The table does not have the specified index: {index}")
}

/// Query, Scan: an index UpdateTable added that is still being filled.
/// ValidationException.
pub fn backfilling_index(index: impl std::fmt::Display) -> String {
    format!("Cannot read from backfilling global secondary index: {index}")
}

/// Query: a `FilterExpression` on a key attribute. ValidationException.
pub fn filter_expression_on_key(key: impl std::fmt::Display) -> String {
    format!("Filter Expression can only contain non-primary key attributes: Primary key attribute: {key}")
}

/// Query: a `QueryFilter` on a key attribute. ValidationException.
pub fn query_filter_on_key(key: impl std::fmt::Display) -> String {
    format!("QueryFilter can only contain non-primary key attributes: Primary key attribute: {key}")
}

/// Query, Scan: `Select: SPECIFIC_ATTRIBUTES` without a projection.
/// ValidationException.
pub const SPECIFIC_ATTRIBUTES_WITHOUT_PROJECTION: &str =
    "1 validation error detected: SPECIFIC_ATTRIBUTES requires a ProjectionExpression or AttributesToGet";

/// Query, Scan: a projection (`member` is `ProjectionExpression` or
/// `AttributesToGet`) with `Select: ALL_ATTRIBUTES` or
/// `ALL_PROJECTED_ATTRIBUTES` (`select`). ValidationException.
pub fn projection_with_select(member: impl std::fmt::Display, select: impl std::fmt::Display) -> String {
    format!("Cannot specify the {member} when choosing to get {select}")
}

/// Scan: a projection (`member` is `ProjectionExpression` or
/// `AttributesToGet`) with `Select: COUNT`. ValidationException.
pub fn projection_with_count(member: impl std::fmt::Display) -> String {
    format!("Cannot specify the {member} when choosing to get only the Count")
}

/// Query: a projection (`member` is `ProjectionExpression` or
/// `AttributesToGet`) with `Select: COUNT`. ValidationException. Enveloped,
/// as a Scan's is not (captured against us-east-1 by ExtendDB's suite, 2026).
pub fn query_projection_with_count(member: impl std::fmt::Display) -> String {
    format!("1 validation error detected: Cannot specify the {member} when choosing to get only the Count")
}

/// Query, Scan: `Select: ALL_PROJECTED_ATTRIBUTES` without `IndexName`.
/// ValidationException.
pub const ALL_PROJECTED_WITHOUT_INDEX: &str =
    "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName";

/// Query, Scan: `Select: ALL_ATTRIBUTES` on a global secondary index that
/// does not project all attributes. ValidationException.
pub fn all_attributes_from_gsi(index: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {index} because its projection type is not ALL"
    )
}

/// Query, Scan: `Limit` below 1. ValidationException.
pub const LIMIT_BELOW_ONE: &str = "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1";

/// Query: neither `KeyConditions` nor `KeyConditionExpression`.
/// ValidationException.
pub const NO_KEY_CONDITION: &str =
    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.";

/// Scan: `Segment` without `TotalSegments`. ValidationException.
pub const SEGMENT_WITHOUT_TOTAL: &str =
    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present";

/// Scan: `TotalSegments` without `Segment`. ValidationException.
pub const TOTAL_WITHOUT_SEGMENT: &str =
    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present";

/// Scan: `TotalSegments` below 1. ValidationException.
pub fn total_segments_below_one(total_segments: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{total_segments}' at 'totalSegments' failed to satisfy constraint: Member must have value greater than or equal to 1"
    )
}

/// Scan: `TotalSegments` above its limit; carries the limit.
/// ValidationException.
pub fn total_segments_above_max(total_segments: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{total_segments}' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to {max}"
    )
}

/// Scan: a `Segment` outside `0..TotalSegments`. ValidationException.
pub fn segment_out_of_range(segment: impl std::fmt::Display, total_segments: impl std::fmt::Display) -> String {
    format!(
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {segment} is not less than TotalSegments: {total_segments}"
    )
}
