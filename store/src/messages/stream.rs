//! DynamoDB Streams: ListStreams, DescribeStream, GetShardIterator,
//! GetRecords.
//!
//! `WaitForRecords` is Tidepool's extension (the push subscription of a
//! remote consumer); its own texts are marked so.

use std::fmt::Display;

// Streams and shards.

/// DescribeStream, GetShardIterator, WaitForRecords: `StreamArn` is not a
/// stream's ARN. ValidationException.
pub const INVALID_STREAM_ARN: &str = "Invalid StreamArn";

/// DescribeStream, GetShardIterator, WaitForRecords: a well-formed
/// `StreamArn` of no stream. ResourceNotFoundException.
pub fn stream_not_found(arn: impl Display) -> String {
    format!("Requested resource not found: Stream: {arn} not found")
}

/// GetRecords: the iterator's stream is gone (its table deleted).
/// ResourceNotFoundException.
pub const STREAM_GONE: &str = "Requested resource not found: Stream does not exist";

/// GetShardIterator, GetRecords: the stream has no such shard.
/// ResourceNotFoundException.
pub fn shard_not_found(shard: impl Display) -> String {
    format!("Requested resource not found: Shard does not exist: {shard}")
}

/// WaitForRecords: the stream has no such shard. ResourceNotFoundException.
/// Tidepool's text.
pub fn shard_not_in_stream(shard: impl Display, arn: impl Display) -> String {
    format!("Requested resource not found: Shard: {shard} in Stream: {arn}")
}

/// ListStreams: `ExclusiveStartStreamArn` is not a stream's ARN.
/// ValidationException.
pub const INVALID_EXCLUSIVE_START_STREAM_ARN: &str = "Invalid ExclusiveStartStreamArn";

/// ListStreams, DescribeStream, GetRecords, ExecuteStatement: `Limit` under
/// 1. ValidationException.
pub fn limit_too_small(limit: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    )
}

/// ListStreams, DescribeStream, GetRecords, ListBackups: `Limit` over `max`.
/// ValidationException.
pub fn limit_too_large(limit: impl Display, max: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max}"
    )
}

/// DescribeStream: a `ShardFilter` of type CHILD_SHARDS without a
/// `ShardId`. ValidationException.
pub const CHILD_SHARDS_NEED_SHARD_ID: &str = "ShardFilter of type CHILD_SHARDS requires a ShardId";

// Sequence numbers and iterators.

/// GetShardIterator, WaitForRecords: a `SequenceNumber`
/// (`AfterSequenceNumber`) that is not one. ValidationException.
pub fn invalid_sequence_number(sequence_number: impl Display) -> String {
    format!("Invalid SequenceNumber: {sequence_number}")
}

/// GetShardIterator: a `SequenceNumber` outside the shard's range.
/// ValidationException.
pub fn sequence_number_not_in_shard(sequence_number: impl Display, shard: impl Display) -> String {
    format!("Invalid SequenceNumber: {sequence_number} is not in the range of shard {shard}")
}

/// GetShardIterator: AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER without a
/// `SequenceNumber`. ValidationException.
pub fn sequence_number_required(iterator_type: impl Display) -> String {
    format!("SequenceNumber is required for ShardIteratorType {iterator_type}")
}

/// GetShardIterator: a `SequenceNumber` with TRIM_HORIZON or LATEST.
/// ValidationException.
pub fn sequence_number_not_allowed(iterator_type: impl Display) -> String {
    format!(
        "SequenceNumber is only valid for ShardIteratorType AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER, not {iterator_type}"
    )
}

/// GetShardIterator, GetRecords: the position is before the oldest record
/// the shard keeps. TrimmedDataAccessException.
pub const TRIMMED: &str = "The operation attempted to read past the oldest stream record in a shard.";

/// GetRecords: `ShardIterator` is empty. ValidationException.
pub const SHARD_ITERATOR_EMPTY: &str = "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// GetRecords: `ShardIterator` longer than 2048 characters.
/// ValidationException.
pub const SHARD_ITERATOR_TOO_LONG: &str = "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length less than or equal to 2048";

/// GetRecords: a `ShardIterator` this server did not issue (or altered).
/// ValidationException.
pub const INVALID_SHARD_ITERATOR: &str = "Invalid ShardIterator";

/// GetRecords: the iterator is older than its lifetime (times in epoch
/// milliseconds). ExpiredIteratorException.
pub fn iterator_expired(issued_ms: impl Display, now_ms: impl Display, lifetime_ms: impl Display) -> String {
    format!(
        "Iterator expired. The iterator was created at time {issued_ms} while right now it is {now_ms} which is further in the future than the tolerated delay of {lifetime_ms} milliseconds."
    )
}

// WaitForRecords (Tidepool's extension).

/// WaitForRecords: `TimeoutMillis` out of range. ValidationException.
/// Tidepool's text.
pub fn wait_timeout_out_of_range(timeout: impl Display, max: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{timeout}' at 'timeoutMillis' failed to satisfy constraint: Member must have value between 0 and {max}"
    )
}

/// WaitForRecords: as many consumers wait as the server lets.
/// LimitExceededException. Tidepool's text.
pub const TOO_MANY_WAITERS: &str = "Too many consumers are waiting for records: poll with GetRecords";
