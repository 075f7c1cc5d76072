//! The `store` import: how a guest reaches the DynamoDB API of the server.

use std::fmt;
use std::sync::Arc;

use tidepool_store::Unit;

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

    /// A bridge for one invocation whose writes are deferred rather than committed (a mapping's
    /// exactly-once mode), or `None` if this bridge cannot defer.
    fn deferring(&self) -> Option<Arc<dyn DeferringBridge>> {
        None
    }

    /// Stages deferred writes into `unit` (within [`Store::atomically`](tidepool_store::Store::atomically)),
    /// in order, each as its operation would now run. An error: one of them no longer succeeds
    /// (a condition that held when the guest called fails now), and nothing may be committed.
    fn replay(&self, calls: &[DeferredCall], unit: &mut Unit) -> Result<(), StoreCallError> {
        let _ = (calls, unit);
        Err(StoreCallError::new("InternalServerError", "this store bridge cannot replay deferred writes"))
    }
}

/// One invocation's bridge in exactly-once mode. Reads see the committed store. A write is
/// checked as it would run now (after the invocation's earlier writes), answered as such, and
/// recorded instead of committed; [`DeferringBridge::take`] hands over the record.
pub trait DeferringBridge: StoreBridge {
    /// The writes that succeeded, in call order.
    fn take(&self) -> Vec<DeferredCall>;
}

/// A write a guest made in exactly-once mode: recorded, to be committed with the checkpoint that
/// covers its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredCall {
    /// The `X-Amz-Target` suffix, e.g. `UpdateItem`.
    pub operation: String,
    pub request_json: String,
    /// The chain depth its stream records carry.
    pub chain_depth: u32,
    /// What the call came to, as far as the bridge checks it again at
    /// replay (opaque to the runtime).
    pub outcome: String,
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
