//! Lambda: deployed functions (the runtime's [`Registry`]) and, next, the
//! Lambda 2015-03-31 REST API on the same port as DynamoDB.

use std::sync::{Arc, Weak};

use anyhow::Context;
use tidepool_runtime::registry::Registry;
use tidepool_runtime::{Runtime, RuntimeConfig};

use crate::bridge::ServerBridge;
use crate::dynamodb::{ACCOUNT_ID, App};

/// Everything Lambda-shaped the server holds.
pub struct Lambda {
    pub registry: Registry,
}

impl Lambda {
    /// Starts the wasm runtime (its compile cache under the data directory)
    /// and loads the deployed functions. Guests reach the store through
    /// `app`.
    pub fn open(app: Weak<App>, store: &tidepool_store::Store, region: &str) -> anyhow::Result<Lambda> {
        let cache = store.path().join("lambda").join("cache");
        let runtime = Runtime::new(RuntimeConfig::new(cache), Arc::new(ServerBridge::new(app)))
            .context("start the wasm runtime")?;
        let registry = Registry::open(store.clone(), runtime, region, ACCOUNT_ID).context("load functions")?;
        Ok(Lambda { registry })
    }
}
