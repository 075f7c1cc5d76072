//! The `store` import: how a guest reaches the DynamoDB API of the server.

use std::fmt;

/// Who is calling the store: passed with every call so the caller can attribute writes (and, for
/// example, stop a chain of triggers that re-trigger themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationOrigin {
    /// The function that runs.
    pub function_name: String,
    /// The invocation's request id.
    pub request_id: String,
    /// Opaque to the runtime: whatever the invoker put in [`InvokeOptions::chain_depth`](crate::InvokeOptions::chain_depth).
    pub chain_depth: u32,
}

/// An error from the DynamoDB API, as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCallError {
    /// The short name of the `__type`, e.g. `ConditionalCheckFailedException`.
    pub error_type: String,
    /// The error's `message`.
    pub message: String,
}

impl StoreCallError {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        StoreCallError { error_type: error_type.into(), message: message.into() }
    }
}

impl fmt::Display for StoreCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// Runs a guest's DynamoDB calls. The server implements it with the very dispatch its HTTP API
/// uses, so a guest sees the same semantics and errors.
///
/// Called on the invoking thread, synchronously, while the guest waits; the guest's timeout keeps
/// running but interrupts it only once the call returns.
pub trait StoreBridge: Send + Sync {
    /// Runs `operation` (the `X-Amz-Target` suffix, e.g. `PutItem`) on the JSON request body
    /// `request_json`, returning the JSON response body.
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError>;
}

/// A bridge for runtimes without a store: every call fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl StoreBridge for NoStore {
    fn call(
        &self,
        _operation: &str,
        _request_json: &str,
        _origin: &InvocationOrigin,
    ) -> Result<String, StoreCallError> {
        Err(StoreCallError::new("InternalServerError", "no store is attached to this runtime"))
    }
}
