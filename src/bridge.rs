//! The `store` import of handler components: a guest's DynamoDB calls run
//! through the very dispatch the HTTP API uses, so they see the same
//! semantics and errors, and their writes produce stream records like any
//! other, carrying the trigger chain's depth.
//!
//! For a mapping in exactly-once mode each invocation gets a
//! [`DeferringServerBridge`]: its writes are staged in a unit of work (so
//! they are checked and answered as they would run now) and recorded rather
//! than committed. The delivery engine's ledger later replays the record
//! through [`StoreBridge::replay`] into the unit that commits the
//! checkpoint.

use std::sync::{Arc, Mutex, Weak};

use serde_json::Value as Json;
use tidepool_runtime::{DeferredCall, DeferringBridge, InvocationOrigin, StoreBridge, StoreCallError};
use tidepool_store::{Origin, Unit};

use crate::dynamodb::error::ApiError;
use crate::dynamodb::request::Req;
use crate::dynamodb::{App, dispatch, with_origin, with_unit};

/// Operations an exactly-once handler runs at once: they read the
/// committed store.
const READS: &[&str] = &[
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
    "DescribeTable",
    "ListTables",
    "DescribeTimeToLive",
    "ListTagsOfResource",
    "DescribeLimits",
    "DescribeEndpoints",
];

/// Operations whose item writes an exactly-once handler defers. PartiQL
/// SELECTs among them read the committed store and defer nothing.
const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// The server's [`StoreBridge`]. Holds the server state weakly: the state
/// owns the runtime, which owns the bridge.
pub struct ServerBridge {
    app: Weak<App>,
}

impl ServerBridge {
    pub fn new(app: Weak<App>) -> Self {
        ServerBridge { app }
    }
}

fn short_type(e: &ApiError) -> String {
    e.kind.rsplit('#').next().unwrap_or(&e.kind).to_string()
}

/// Runs one DynamoDB operation for a guest, its writes attributed to chain
/// depth `depth`.
fn run(app: &Weak<App>, operation: &str, request_json: &str, depth: u32) -> Result<String, StoreCallError> {
    let app = app.upgrade().ok_or_else(|| StoreCallError::new("InternalServerError", "the server is stopping"))?;
    let json: Json = serde_json::from_str(request_json)
        .map_err(|e| StoreCallError::new("SerializationException", format!("Malformed request body: {e}")))?;
    let Json::Object(map) = &json else {
        return Err(StoreCallError::new("SerializationException", "Request body must be a JSON object"));
    };
    let origin = Origin { ttl: false, depth };
    with_origin(origin, || dispatch(&app, operation, Req(map), "localhost"))
        .map(|body| body.to_string())
        .map_err(|e| StoreCallError::new(short_type(&e), e.message))
}

impl StoreBridge for ServerBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        run(&self.app, operation, request_json, origin.chain_depth)
    }

    fn deferring(&self) -> Option<Arc<dyn DeferringBridge>> {
        Some(Arc::new(DeferringServerBridge { app: self.app.clone(), state: Mutex::default() }))
    }

    fn replay(&self, calls: &[DeferredCall], unit: &mut Unit) -> Result<(), StoreCallError> {
        for c in calls {
            with_unit(unit, || run(&self.app, &c.operation, &c.request_json, c.chain_depth))?;
        }
        Ok(())
    }
}

/// One exactly-once invocation's bridge (see the module documentation).
pub struct DeferringServerBridge {
    app: Weak<App>,
    state: Mutex<Deferred>,
}

#[derive(Default)]
struct Deferred {
    /// The invocation's writes so far, staged against the store as it was
    /// when each was made.
    unit: Unit,
    calls: Vec<DeferredCall>,
}

impl StoreBridge for DeferringServerBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        if READS.contains(&operation) {
            return run(&self.app, operation, request_json, origin.chain_depth);
        }
        if !WRITES.contains(&operation) {
            return Err(StoreCallError::new(
                "ValidationException",
                format!(
                    "{operation} cannot be called by the handler of an exactly-once mapping: \
                     only item reads and writes can be (writes are deferred to the checkpoint)"
                ),
            ));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let before = state.unit.len();
        let result = with_unit(&mut state.unit, || run(&self.app, operation, request_json, origin.chain_depth));
        if result.is_err() {
            state.unit.truncate(before);
        } else if state.unit.len() > before {
            state.calls.push(DeferredCall {
                operation: operation.to_string(),
                request_json: request_json.to_string(),
                chain_depth: origin.chain_depth,
            });
        }
        result
    }
}

impl DeferringBridge for DeferringServerBridge {
    fn take(&self) -> Vec<DeferredCall> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.unit = Unit::new();
        std::mem::take(&mut state.calls)
    }
}
