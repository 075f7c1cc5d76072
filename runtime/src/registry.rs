//! Functions as persistent objects: what `CreateFunction` makes and
//! `GetFunctionConfiguration` shows, kept in the store's system entries
//! (`fn/<name>` → JSON) with the component's bytes in
//! `<data dir>/lambda/code/<sha256>.wasm`, so a restart reloads every
//! function from the precompiled cache without compiling.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidepool_store::Store;

use crate::{CodeHash, FunctionConfig, LoadedFunction, Runtime, RuntimeError};

const FN_PREFIX: &[u8] = b"fn/";

/// Why a registry operation failed, in Lambda's error vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `ResourceNotFoundException` (404).
    #[error("{0}")]
    NotFound(String),
    /// `ResourceConflictException` (409).
    #[error("{0}")]
    Conflict(String),
    /// `InvalidParameterValueException` (400).
    #[error("{0}")]
    InvalidParameter(String),
    /// Anything else: the store or the disk failed.
    #[error("{0}")]
    Internal(String),
}

impl From<tidepool_store::StoreError> for RegistryError {
    fn from(e: tidepool_store::StoreError) -> Self {
        RegistryError::Internal(e.to_string())
    }
}

impl From<RuntimeError> for RegistryError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::InvalidComponent { reason, .. } => RegistryError::InvalidParameter(format!(
                "The code is not a valid WebAssembly component for the {} world: {reason}",
                crate::runtime::HANDLER_WORLD
            )),
            RuntimeError::InvalidConfig { field, value, constraint } => {
                RegistryError::InvalidParameter(format!("Invalid {field} {value}: must be {constraint}"))
            }
            other => RegistryError::Internal(other.to_string()),
        }
    }
}

/// A function's settings and code identity, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    /// Free-form, as in Lambda; Tidepool documents `wasm32-wasip2`.
    pub runtime: String,
    /// The zip entry holding the component (or the name it was given).
    pub handler: String,
    pub description: String,
    pub role: String,
    pub timeout_secs: u64,
    pub memory_mb: u32,
    pub environment: BTreeMap<String, String>,
    /// PutFunctionConcurrency's reserved concurrency.
    pub reserved_concurrency: Option<u32>,
    /// Hex SHA-256 of the component.
    pub code_sha256: String,
    pub code_size: u64,
    /// `YYYY-MM-DDThh:mm:ss.sss+0000`, as Lambda shows it.
    pub last_modified: String,
    pub revision_id: String,
    /// TagResource's tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl FunctionRecord {
    /// A record with Lambda's defaults (3 s, 128 MB).
    pub fn new(name: impl Into<String>) -> Self {
        FunctionRecord {
            name: name.into(),
            runtime: "wasm32-wasip2".into(),
            handler: "handler.wasm".into(),
            description: String::new(),
            role: "arn:aws:iam::000000000000:role/tidepool".into(),
            timeout_secs: 3,
            memory_mb: 128,
            environment: BTreeMap::new(),
            reserved_concurrency: None,
            code_sha256: String::new(),
            code_size: 0,
            last_modified: String::new(),
            revision_id: String::new(),
            tags: BTreeMap::new(),
        }
    }

    fn runtime_config(&self, region: &str, account: &str) -> FunctionConfig {
        let mut c = FunctionConfig::new(&self.name, region, account);
        c.timeout = Duration::from_secs(self.timeout_secs);
        c.memory_mb = self.memory_mb;
        c.environment = self.environment.clone();
        c.reserved_concurrency = self.reserved_concurrency;
        c
    }
}

/// The deployed functions, loaded and ready to invoke.
pub struct Registry {
    store: Store,
    runtime: Runtime,
    region: String,
    account: String,
    code_dir: PathBuf,
    functions: RwLock<BTreeMap<String, (FunctionRecord, Arc<LoadedFunction>)>>,
}

fn now_lambda_time() -> String {
    let ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    format!("{}+0000", tidepool_store::format_timestamp_millis(ms))
}

impl Registry {
    /// Loads every persisted function. A function whose code is missing is
    /// skipped with an error in the log rather than failing the start.
    pub fn open(store: Store, runtime: Runtime, region: &str, account: &str) -> Result<Registry, RegistryError> {
        let code_dir = store.path().join("lambda").join("code");
        std::fs::create_dir_all(&code_dir)
            .map_err(|e| RegistryError::Internal(format!("create {}: {e}", code_dir.display())))?;
        let registry = Registry {
            store,
            runtime,
            region: region.to_string(),
            account: account.to_string(),
            code_dir,
            functions: RwLock::new(BTreeMap::new()),
        };
        for (_, v) in registry.store.sys_scan(FN_PREFIX)? {
            let record: FunctionRecord = match serde_json::from_slice(&v) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "unreadable function record skipped");
                    continue;
                }
            };
            match registry.load(&record) {
                Ok(f) => {
                    registry.write_map().insert(record.name.clone(), (record, f));
                }
                Err(e) => tracing::error!(function = %record.name, error = %e, "function not loaded"),
            }
        }
        Ok(registry)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account)
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, (FunctionRecord, Arc<LoadedFunction>)>> {
        self.functions.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, (FunctionRecord, Arc<LoadedFunction>)>> {
        self.functions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn code_path(&self, sha: &str) -> PathBuf {
        self.code_dir.join(format!("{sha}.wasm"))
    }

    /// Loads `record`'s code: from the precompiled cache, or compiled again
    /// from the kept component bytes.
    fn load(&self, record: &FunctionRecord) -> Result<Arc<LoadedFunction>, RegistryError> {
        let hash: CodeHash = record
            .code_sha256
            .parse()
            .map_err(|_| RegistryError::Internal(format!("bad code hash {}", record.code_sha256)))?;
        if !self.runtime.has_code(&hash) {
            let path = self.code_path(&record.code_sha256);
            let bytes =
                std::fs::read(&path).map_err(|e| RegistryError::Internal(format!("read {}: {e}", path.display())))?;
            self.runtime.compile(&bytes)?;
        }
        let config = record.runtime_config(&self.region, &self.account);
        config.validate()?;
        Ok(self.runtime.load_function(config, &hash)?)
    }

    /// Compiles `code` and keeps its bytes; returns its hash and size.
    fn deploy_code(&self, code: &[u8]) -> Result<(String, u64), RegistryError> {
        let hash = self.runtime.compile(code)?;
        let sha = hash.to_string();
        let path = self.code_path(&sha);
        if !path.exists() {
            let tmp = self.code_dir.join(format!(".{sha}.tmp"));
            std::fs::write(&tmp, code)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| RegistryError::Internal(format!("write {}: {e}", path.display())))?;
        }
        Ok((sha, code.len() as u64))
    }

    fn persist(&self, record: &FunctionRecord) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(record).map_err(|e| RegistryError::Internal(e.to_string()))?;
        self.store.sys_write(vec![([FN_PREFIX, record.name.as_bytes()].concat(), Some(json))])?;
        Ok(())
    }

    /// Creates a function from `record`'s settings and the component `code`.
    pub fn create(&self, mut record: FunctionRecord, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        check_name(&record.name)?;
        if self.read_map().contains_key(&record.name) {
            return Err(RegistryError::Conflict(format!("Function already exist: {}", record.name)));
        }
        let (sha, size) = self.deploy_code(code)?;
        record.code_sha256 = sha;
        record.code_size = size;
        record.last_modified = now_lambda_time();
        record.revision_id = uuid::Uuid::new_v4().to_string();
        let loaded = self.load(&record)?;
        let mut map = self.write_map();
        if map.contains_key(&record.name) {
            return Err(RegistryError::Conflict(format!("Function already exist: {}", record.name)));
        }
        self.persist(&record)?;
        map.insert(record.name.clone(), (record.clone(), loaded));
        Ok(record)
    }

    /// Replaces a function's settings through `change` (its code stays).
    pub fn update_config(
        &self,
        name: &str,
        change: impl FnOnce(&mut FunctionRecord) -> Result<(), RegistryError>,
    ) -> Result<FunctionRecord, RegistryError> {
        let mut record = self.get(name)?;
        change(&mut record)?;
        record.name = name.to_string();
        self.replace(record)
    }

    /// Replaces a function's code.
    pub fn update_code(&self, name: &str, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        let mut record = self.get(name)?;
        let (sha, size) = self.deploy_code(code)?;
        record.code_sha256 = sha;
        record.code_size = size;
        self.replace(record)
    }

    fn replace(&self, mut record: FunctionRecord) -> Result<FunctionRecord, RegistryError> {
        record.last_modified = now_lambda_time();
        record.revision_id = uuid::Uuid::new_v4().to_string();
        let loaded = self.load(&record)?;
        let mut map = self.write_map();
        if !map.contains_key(&record.name) {
            return Err(not_found(&self.function_arn(&record.name)));
        }
        self.persist(&record)?;
        map.insert(record.name.clone(), (record.clone(), loaded));
        Ok(record)
    }

    /// Deletes a function. Its kept code stays (another function may share it).
    pub fn delete(&self, name: &str) -> Result<FunctionRecord, RegistryError> {
        let mut map = self.write_map();
        let (record, _) = map.remove(name).ok_or_else(|| not_found(&self.function_arn(name)))?;
        self.store.sys_write(vec![([FN_PREFIX, name.as_bytes()].concat(), None)])?;
        Ok(record)
    }

    pub fn get(&self, name: &str) -> Result<FunctionRecord, RegistryError> {
        self.read_map().get(name).map(|(r, _)| r.clone()).ok_or_else(|| not_found(&self.function_arn(name)))
    }

    /// The loaded function, ready to invoke.
    pub fn loaded(&self, name: &str) -> Result<Arc<LoadedFunction>, RegistryError> {
        self.read_map().get(name).map(|(_, f)| f.clone()).ok_or_else(|| not_found(&self.function_arn(name)))
    }

    /// Every function, by name.
    pub fn list(&self) -> Vec<FunctionRecord> {
        self.read_map().values().map(|(r, _)| r.clone()).collect()
    }
}

fn not_found(arn: &str) -> RegistryError {
    RegistryError::NotFound(format!("Function not found: {arn}"))
}

/// Lambda's function name rule: 1–64 of letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidParameter(format!(
            "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )))
    }
}
