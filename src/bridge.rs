//! The `store` import of handler components: a guest's DynamoDB calls run
//! through the very dispatch the HTTP API uses, so they see the same
//! semantics and errors, and their writes produce stream records like any
//! other, carrying the trigger chain's depth.

use std::sync::Weak;

use serde_json::Value as Json;
use tidepool_runtime::{InvocationOrigin, StoreBridge, StoreCallError};
use tidepool_store::Origin;

use crate::dynamodb::error::ApiError;
use crate::dynamodb::request::Req;
use crate::dynamodb::{App, dispatch, with_origin};

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

impl StoreBridge for ServerBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        let app =
            self.app.upgrade().ok_or_else(|| StoreCallError::new("InternalServerError", "the server is stopping"))?;
        let json: Json = serde_json::from_str(request_json)
            .map_err(|e| StoreCallError::new("SerializationException", format!("Malformed request body: {e}")))?;
        let Json::Object(map) = &json else {
            return Err(StoreCallError::new("SerializationException", "Request body must be a JSON object"));
        };
        let origin = Origin { ttl: false, depth: origin.chain_depth };
        with_origin(origin, || dispatch(&app, operation, Req(map), "localhost"))
            .map(|body| body.to_string())
            .map_err(|e| StoreCallError::new(short_type(&e), e.message))
    }
}
