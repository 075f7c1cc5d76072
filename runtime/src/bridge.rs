//! The `store` import: how a guest reaches the DynamoDB API of the server.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use tidepool_store::Unit;

/// Who is calling the store: passed with every call so the caller can attribute writes (and, for
/// example, stop a chain of triggers that re-trigger themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationOrigin {
    /// The function that runs.
    pub function_name: String,
    /// Its version that runs: `$LATEST` or a published version's number
    /// (whose own configuration, its role included, applies).
    pub function_version: String,
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

/// A DynamoDB call's answer as the wire protocol carries it: what a guest's SDK reads from an
/// HTTP request to the server's endpoint ([`StoreBridge::call_wire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// The HTTP status: 200, or the error's (400 for a client's mistake, 500 for the server's).
    pub status: u16,
    /// The JSON response body, or the error body (`{"__type": ..., "message": ...}` and any
    /// members the error carries, such as `CancellationReasons`).
    pub body: String,
}

impl WireResponse {
    /// The wire form of an error that carries only a type and a message.
    pub fn error(e: &StoreCallError) -> Self {
        let status = match e.error_type.as_str() {
            "InternalServerError" => 500,
            "ServiceUnavailable" => 503,
            "RequestEntityTooLarge" => 413,
            _ => 400,
        };
        let namespace = match e.error_type.as_str() {
            "UnknownOperationException" | "SerializationException" | "RequestEntityTooLarge" => {
                "com.amazon.coral.service#"
            }
            "ThrottlingException" => "com.amazon.coral.availability#",
            _ => "com.amazonaws.dynamodb.v20120810#",
        };
        // Coral's deserializer names its text `Message`, the service `message`.
        let key = if e.error_type == "SerializationException" { "Message" } else { "message" };
        let mut body = serde_json::Map::new();
        body.insert("__type".into(), format!("{namespace}{}", e.error_type).into());
        body.insert(key.into(), e.message.clone().into());
        let body = serde_json::Value::Object(body);
        WireResponse { status, body: body.to_string() }
    }
}

/// A request's answer on its way back, for [`StoreBridge::http`].
pub type HttpFuture = Pin<Box<dyn Future<Output = http::Response<Bytes>> + Send>>;

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

    /// [`StoreBridge::call`] for a guest that speaks the wire protocol (an AWS SDK over
    /// `wasi:http`): the status and body DynamoDB's HTTP API would answer. The default derives
    /// them from `call`; the server keeps the members an error carries besides its message.
    fn call_wire(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> WireResponse {
        match self.call(operation, request_json, origin) {
            Ok(body) => WireResponse { status: 200, body },
            Err(e) => WireResponse::error(&e),
        }
    }

    /// Serves a guest's HTTP request to the server's own endpoint that is not a DynamoDB call
    /// (DynamoDB Streams, the Lambda API), as the server would over a socket. The default
    /// answers that there is no such API here.
    fn http(&self, request: http::Request<Bytes>, origin: &InvocationOrigin) -> HttpFuture {
        let _ = (request, origin);
        Box::pin(async {
            let body = r#"{"__type":"com.amazon.coral.service#UnknownOperationException","message":"no server is attached to this runtime"}"#;
            let mut response = http::Response::new(Bytes::from_static(body.as_bytes()));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            response
        })
    }

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
    /// replay (opaque to the runtime); for a worker's transaction action
    /// ([`TRANSACT_ACTION`](crate::esm::lease::TRANSACT_ACTION)), the item
    /// it writes.
    pub outcome: String,
    /// What the caller was refused within the call when it was made (opaque
    /// to the runtime): for the server's BatchExecuteStatement, each
    /// statement's denial by position, which its replay denies again.
    pub denied: Vec<Option<String>>,
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
