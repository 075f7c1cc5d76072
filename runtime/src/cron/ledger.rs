//! Where schedule state is kept: [`CronLedger`], in the store's system entries
//! ([`StoreCronLedger`]) or in a fake.

use tidepool_store::Store;

use super::CronError;
use super::core::CronState;

/// Schedule state lives in the store's system entries under this prefix:
/// `cron/<name>` → [`CronState`] as JSON.
pub const SYS_PREFIX: &[u8] = b"cron/";

/// Durable schedule state. Blocking: call from a blocking thread.
pub trait CronLedger: Send + Sync {
    fn load(&self, name: &str) -> Result<Option<CronState>, CronError>;
    /// Durable (as the store's durability mode makes every write) when it returns.
    fn save(&self, name: &str, state: &CronState) -> Result<(), CronError>;
    fn remove(&self, name: &str) -> Result<(), CronError>;
}

/// A [`CronLedger`] on the store's system entries.
#[derive(Clone)]
pub struct StoreCronLedger {
    store: Store,
}

impl StoreCronLedger {
    pub fn new(store: Store) -> Self {
        StoreCronLedger { store }
    }
}

fn key(name: &str) -> Vec<u8> {
    [SYS_PREFIX, name.as_bytes()].concat()
}

impl CronLedger for StoreCronLedger {
    fn load(&self, name: &str) -> Result<Option<CronState>, CronError> {
        let Some(bytes) = self.store.sys_get(&key(name)).map_err(|e| CronError::Storage(e.to_string()))? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::error!(schedule = %name, error = %e, "unreadable schedule state; starting it afresh");
                Ok(None)
            }
        }
    }

    fn save(&self, name: &str, state: &CronState) -> Result<(), CronError> {
        let json = serde_json::to_vec(state).map_err(|e| CronError::Storage(e.to_string()))?;
        self.store.sys_write(vec![(key(name), Some(json))]).map_err(|e| CronError::Storage(e.to_string()))
    }

    fn remove(&self, name: &str) -> Result<(), CronError> {
        self.store.sys_write(vec![(key(name), None)]).map_err(|e| CronError::Storage(e.to_string()))
    }
}
