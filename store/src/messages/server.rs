//! The server's own state rather than the request's: writes paused for a
//! full disk or a storage failure, a write whose outcome is unknown,
//! internal errors.

/// Every operation: too many large request bodies are being read at once.
/// ThrottlingException. Tidepool's text.
pub const TOO_MANY_LARGE_REQUESTS: &str = "Too many large requests are being read at once; retry with backoff";

/// Every operation: a failure of the server's own (a store failure that is
/// not the client's). InternalServerError.
pub const INTERNAL_ERROR: &str = "Internal server error";

/// Every write: writes are paused because the data directory is out of
/// space; they resume once space is freed. ThrottlingException (retryable).
/// Tidepool's text.
pub const WRITES_PAUSED_OUT_OF_SPACE: &str =
    "Writes are paused: the server's data directory is out of space. They resume once space is freed; retry.";

/// Every write: writes are paused after a storage failure until the server
/// restarts. InternalServerError. Tidepool's text.
pub const WRITES_PAUSED_STORAGE_FAILURE: &str =
    "Writes are paused after a storage failure; the server needs a restart.";

/// Every write: the write was committed but the storage failed while saving
/// it, so it may or may not have been applied (as after DynamoDB's own 500).
/// InternalServerError. Tidepool's text.
pub const OUTCOME_UNKNOWN: &str = "Internal server error: the server's storage failed while this write was being saved; it may or may not have been applied.";
