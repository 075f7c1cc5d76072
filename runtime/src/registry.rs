//! Functions as persistent objects: what `CreateFunction` makes and
//! `GetFunctionConfiguration` shows, kept in the store's system entries
//! (`fn/<name>` → JSON) with the component's bytes in
//! `<data dir>/lambda/code/<sha256>.wasm`, so a restart reloads every
//! function from the precompiled cache without compiling.
//!
//! Published versions are immutable snapshots of a function's record
//! (`fnv/<name>/<number>`), numbered from 1 and never reused; aliases
//! (`fna/<name>/<alias>`) name a version, with an optional second version
//! taking a weighted share of the invocations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidepool_store::Store;

use crate::{CodeHash, FunctionConfig, LoadedFunction, Runtime, RuntimeError};

const FN_PREFIX: &[u8] = b"fn/";
const VERSION_PREFIX: &[u8] = b"fnv/";
const ALIAS_PREFIX: &[u8] = b"fna/";
/// Lambda's default quota: 75 GB of code per region, about 7,500 versions of a
/// 10 MB function; a bound on the versions a function keeps in memory.
pub const MAX_VERSIONS_PER_FUNCTION: usize = 1_000;
/// A bound on a function's aliases (Lambda documents none; the list is paged).
pub const MAX_ALIASES_PER_FUNCTION: usize = 1_000;

/// Why a registry operation failed, in Lambda's error vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `ResourceNotFoundException` (404).
    #[error("{0}")]
    NotFound(String),
    /// `ResourceConflictException` (409).
    #[error("{0}")]
    Conflict(String),
    /// `CodeStorageExceededException` (400): a function holds all the versions it may.
    #[error("{0}")]
    CodeStorageExceeded(String),
    /// `PreconditionFailedException` (412): a `RevisionId` that is not the current one.
    #[error("{0}")]
    Precondition(String),
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
    /// The published version this record is (`"3"`); empty for `$LATEST`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// On `$LATEST`: the highest version number published so far (numbers
    /// are never reused, even after a version is deleted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_version: u64,
    /// Lambda's `State`: a function being created is `Pending` until its code
    /// is compiled (not persisted: only an `Active` function is).
    #[serde(skip)]
    pub state: FunctionState,
    /// Lambda's `LastUpdateStatus` of an `Active` function: an
    /// UpdateFunctionCode whose code still compiles is `InProgress` (the
    /// previous code keeps serving), one whose code failed is `Failed`.
    #[serde(skip)]
    pub update: UpdateStatus,
}

/// Lambda's `LastUpdateStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UpdateStatus {
    #[default]
    Successful,
    InProgress,
    /// The new code failed to compile or load, for this reason; the previous code serves.
    Failed(String),
}

/// Lambda's function states that Tidepool has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FunctionState {
    #[default]
    Active,
    /// Created; its code compiles in the background.
    Pending,
    /// Its code failed to compile or load, for this reason.
    Failed(String),
}

impl FunctionState {
    /// Lambda's name for the state.
    pub fn name(&self) -> &'static str {
        match self {
            FunctionState::Active => "Active",
            FunctionState::Pending => "Pending",
            FunctionState::Failed(_) => "Failed",
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An alias: a name for a version, with weighted routing to a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub function: String,
    pub name: String,
    /// `$LATEST` or a version number.
    pub function_version: String,
    pub description: String,
    /// `RoutingConfig.AdditionalVersionWeights`: version → share (0 to 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

/// The execution role of a function created without one (Lambda requires
/// `Role`; Tidepool's open default gives this one).
pub const DEFAULT_ROLE: &str = "arn:aws:iam::000000000000:role/tidepool";

impl FunctionRecord {
    /// A record with Lambda's defaults (3 s, 128 MB).
    pub fn new(name: impl Into<String>) -> Self {
        FunctionRecord {
            name: name.into(),
            runtime: "wasm32-wasip2".into(),
            handler: "handler.wasm".into(),
            description: String::new(),
            role: DEFAULT_ROLE.into(),
            timeout_secs: 3,
            memory_mb: 128,
            environment: BTreeMap::new(),
            reserved_concurrency: None,
            code_sha256: String::new(),
            code_size: 0,
            last_modified: String::new(),
            revision_id: String::new(),
            tags: BTreeMap::new(),
            version: String::new(),
            last_version: 0,
            state: FunctionState::Active,
            update: UpdateStatus::Successful,
        }
    }

    /// `$LATEST` or the version number.
    pub fn version_label(&self) -> &str {
        if self.version.is_empty() { "$LATEST" } else { &self.version }
    }

    /// Whether `other` has the same code and settings (what PublishVersion
    /// compares before publishing anything new).
    fn same_code_and_settings(&self, other: &FunctionRecord) -> bool {
        self.code_sha256 == other.code_sha256
            && self.runtime == other.runtime
            && self.handler == other.handler
            && self.role == other.role
            && self.timeout_secs == other.timeout_secs
            && self.memory_mb == other.memory_mb
            && self.environment == other.environment
    }

    fn runtime_config(&self, region: &str, account: &str) -> FunctionConfig {
        let mut c = FunctionConfig::new(&self.name, region, account);
        if !self.version.is_empty() {
            c.arn = format!("{}:{}", c.arn, self.version);
            c.version = self.version.clone();
        }
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
    /// Published versions by (function, number).
    versions: RwLock<VersionMap>,
    /// Aliases by (function, alias).
    aliases: RwLock<BTreeMap<(String, String), AliasRecord>>,
    /// Functions created whose code still compiles (or failed to), by name,
    /// with the id of their creation.
    pending: std::sync::Mutex<BTreeMap<String, (u64, FunctionRecord)>>,
    next_pending: std::sync::atomic::AtomicU64,
}

type VersionMap = BTreeMap<(String, u64), (FunctionRecord, Arc<LoadedFunction>)>;

fn version_key(name: &str, n: u64) -> Vec<u8> {
    [VERSION_PREFIX, name.as_bytes(), b"/", format!("{n:020}").as_bytes()].concat()
}

fn alias_key(name: &str, alias: &str) -> Vec<u8> {
    [ALIAS_PREFIX, name.as_bytes(), b"/", alias.as_bytes()].concat()
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
            versions: RwLock::new(BTreeMap::new()),
            aliases: RwLock::new(BTreeMap::new()),
            pending: Default::default(),
            next_pending: Default::default(),
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
        for (_, v) in registry.store.sys_scan(VERSION_PREFIX)? {
            let Ok(record) = serde_json::from_slice::<FunctionRecord>(&v) else {
                tracing::error!("unreadable function version record skipped");
                continue;
            };
            let Ok(n) = record.version.parse::<u64>() else { continue };
            let Ok(latest) = registry.loaded(&record.name) else { continue };
            match registry.load_version(&record, &latest) {
                Ok(f) => {
                    registry.write_versions().insert((record.name.clone(), n), (record, f));
                }
                Err(e) => tracing::error!(function = %record.name, version = n, error = %e, "version not loaded"),
            }
        }
        for (_, v) in registry.store.sys_scan(ALIAS_PREFIX)? {
            match serde_json::from_slice::<AliasRecord>(&v) {
                Ok(a) => {
                    registry.write_aliases().insert((a.function.clone(), a.name.clone()), a);
                }
                Err(e) => tracing::error!(error = %e, "unreadable alias record skipped"),
            }
        }
        Ok(registry)
    }

    fn write_versions(&self) -> std::sync::RwLockWriteGuard<'_, VersionMap> {
        self.versions.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_versions(&self) -> std::sync::RwLockReadGuard<'_, VersionMap> {
        self.versions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_aliases(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<(String, String), AliasRecord>> {
        self.aliases.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_aliases(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), AliasRecord>> {
        self.aliases.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A published version's code, sharing `latest`'s reserved concurrency.
    fn load_version(
        &self,
        record: &FunctionRecord,
        latest: &LoadedFunction,
    ) -> Result<Arc<LoadedFunction>, RegistryError> {
        let hash = self.compiled_code(record)?;
        let mut config = record.runtime_config(&self.region, &self.account);
        config.reserved_concurrency = None;
        Ok(self.runtime.load_version(config, &hash, latest)?)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account)
    }

    /// The ARN of `name` with `qualifier` (a version or alias), if any.
    pub fn qualified_arn(&self, name: &str, qualifier: Option<&str>) -> String {
        match qualifier {
            Some(q) => format!("{}:{q}", self.function_arn(name)),
            None => self.function_arn(name),
        }
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
        let hash = self.compiled_code(record)?;
        let config = record.runtime_config(&self.region, &self.account);
        config.validate()?;
        Ok(self.runtime.load_function(config, &hash)?)
    }

    /// `record`'s code hash, its code compiled (from the precompiled cache,
    /// or again from the kept component bytes).
    fn compiled_code(&self, record: &FunctionRecord) -> Result<CodeHash, RegistryError> {
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
        Ok(hash)
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
    pub fn create(&self, record: FunctionRecord, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        let id = self.begin_create(&record, code)?;
        let created = self.finish_create(id, record.clone(), code);
        if created.is_err() {
            self.abandon_create(&record.name, id);
        }
        created
    }

    /// The first half of [`Registry::create`]: checks the name and holds it
    /// with a `Pending` record (which GetFunction and ListFunctions show, and
    /// which Invoke refuses) until [`Registry::finish_create`] with the id
    /// returned. The caller may answer in between, as Lambda answers
    /// CreateFunction before the function is `Active`.
    pub fn begin_create(&self, record: &FunctionRecord, code: &[u8]) -> Result<u64, RegistryError> {
        check_name(&record.name)?;
        let mut shown = record.clone();
        shown.state = FunctionState::Pending;
        shown.code_sha256 = crate::CodeHash::of(code).to_string();
        shown.code_size = code.len() as u64;
        shown.last_modified = now_lambda_time();
        shown.revision_id = uuid::Uuid::new_v4().to_string();
        let map = self.read_map();
        let mut pending = self.lock_pending();
        if map.contains_key(&record.name) || pending.contains_key(&record.name) {
            return Err(RegistryError::Conflict(format!("Function already exist: {}", record.name)));
        }
        let id = self.next_pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pending.insert(record.name.clone(), (id, shown));
        Ok(id)
    }

    /// Compiles `code` and makes the function `Active`. On failure (a panic
    /// included) the pending record says `Failed` (until DeleteFunction) and
    /// the error is returned. A function deleted meanwhile stays deleted.
    pub fn finish_create(&self, id: u64, record: FunctionRecord, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        /// Marks the creation failed unless it finished.
        struct Unfinished<'a>(&'a Registry, &'a str, u64, Option<String>);
        impl Drop for Unfinished<'_> {
            fn drop(&mut self) {
                let reason = self.3.take().unwrap_or_else(|| "InternalError: the function's code did not load".into());
                let mut pending = self.0.lock_pending();
                if let Some((held, shown)) = pending.get_mut(self.1)
                    && *held == self.2
                {
                    shown.state = FunctionState::Failed(reason);
                }
            }
        }
        let name = record.name.clone();
        let mut unfinished = Unfinished(self, &name, id, None);
        let result = self.activate(id, record, code);
        match &result {
            Ok(_) => std::mem::forget(unfinished),
            Err(e) => unfinished.3 = Some(e.to_string()),
        }
        result
    }

    /// Forgets `name` if it is `Failed` (a deploy replaces it); says whether it was.
    pub fn forget_failed(&self, name: &str) -> bool {
        let mut pending = self.lock_pending();
        let failed = pending.get(name).is_some_and(|(_, r)| matches!(r.state, FunctionState::Failed(_)));
        if failed {
            pending.remove(name);
        }
        failed
    }

    /// Whether `name` is being created (`Pending`, not `Failed`).
    pub fn is_pending(&self, name: &str) -> bool {
        self.lock_pending().get(name).is_some_and(|(_, r)| r.state == FunctionState::Pending)
    }

    fn activate(&self, id: u64, mut record: FunctionRecord, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        let (sha, size) = self.deploy_code(code)?;
        record.code_sha256 = sha;
        record.code_size = size;
        record.last_modified = now_lambda_time();
        record.revision_id = uuid::Uuid::new_v4().to_string();
        record.state = FunctionState::Active;
        let loaded = self.load(&record)?;
        let mut map = self.write_map();
        let mut pending = self.lock_pending();
        if pending.get(&record.name).is_none_or(|(held, _)| *held != id) {
            return Err(not_found(&self.function_arn(&record.name)));
        }
        self.persist(&record)?;
        pending.remove(&record.name);
        map.insert(record.name.clone(), (record.clone(), loaded));
        Ok(record)
    }

    /// Forgets a creation whose failure its caller reports (the function
    /// never existed for the client).
    pub fn abandon_create(&self, name: &str, id: u64) {
        let mut pending = self.lock_pending();
        if pending.get(name).is_some_and(|(held, _)| *held == id) {
            pending.remove(name);
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (u64, FunctionRecord)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A function that is not `Active` yet: Lambda refuses operations on it.
    fn not_active(&self, name: &str) -> Option<RegistryError> {
        let pending = self.lock_pending();
        let (_, record) = pending.get(name)?;
        Some(RegistryError::Conflict(format!(
            "The operation cannot be performed at this time. The function is currently in the following state: {}",
            record.state.name()
        )))
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
        record.update = UpdateStatus::Successful;
        self.replace(record, false)
    }

    /// Replaces a function's code.
    pub fn update_code(&self, name: &str, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        let (_, before) = self.begin_update(name)?;
        let updated = self.finish_update(name, code);
        if updated.is_err() {
            self.forget_update_failure(name, before);
        }
        updated
    }

    /// The first half of [`Registry::update_code`]: marks the function's
    /// update `InProgress` (its code keeps serving; another change is a
    /// conflict until [`Registry::finish_update`]). Returns the record as it
    /// shows now.
    /// Returns the record as it shows now and the status it had before.
    pub fn begin_update(&self, name: &str) -> Result<(FunctionRecord, UpdateStatus), RegistryError> {
        let mut map = self.write_map();
        let Some((record, _)) = map.get_mut(name) else {
            return Err(self.not_active(name).unwrap_or_else(|| not_found(&self.function_arn(name))));
        };
        if record.update == UpdateStatus::InProgress {
            return Err(self.update_in_progress(name));
        }
        let before = std::mem::replace(&mut record.update, UpdateStatus::InProgress);
        Ok((record.clone(), before))
    }

    /// Compiles `code` and makes it the function's. On failure (a panic
    /// included) the previous code stays and `LastUpdateStatus` says
    /// `Failed` with the reason.
    pub fn finish_update(&self, name: &str, code: &[u8]) -> Result<FunctionRecord, RegistryError> {
        /// Marks the update failed unless it finished.
        struct Unfinished<'a>(&'a Registry, &'a str, Option<String>);
        impl Drop for Unfinished<'_> {
            fn drop(&mut self) {
                let reason = self.2.take().unwrap_or_else(|| "InternalError: the new code did not load".into());
                if let Some((record, _)) = self.0.write_map().get_mut(self.1)
                    && record.update == UpdateStatus::InProgress
                {
                    record.update = UpdateStatus::Failed(reason);
                }
            }
        }
        let mut unfinished = Unfinished(self, name, None);
        let result = self.deploy_code(code).and_then(|(sha, size)| {
            let mut record =
                self.read_map().get(name).map(|(r, _)| r.clone()).ok_or_else(|| not_found(&self.function_arn(name)))?;
            record.code_sha256 = sha;
            record.code_size = size;
            record.update = UpdateStatus::Successful;
            self.replace(record, true)
        });
        match &result {
            Ok(_) => std::mem::forget(unfinished),
            Err(e) => unfinished.2 = Some(e.to_string()),
        }
        result
    }

    /// Puts back the status `before` an update whose failure was the
    /// caller's answer (the update never happened for the client), unless
    /// another update has started since.
    pub fn forget_update_failure(&self, name: &str, before: UpdateStatus) {
        if let Some((record, _)) = self.write_map().get_mut(name)
            && matches!(record.update, UpdateStatus::Failed(_))
        {
            record.update = before;
        }
    }

    fn update_in_progress(&self, name: &str) -> RegistryError {
        RegistryError::Conflict(format!(
            "The operation cannot be performed at this time. An update is in progress for resource: {}",
            self.function_arn(name)
        ))
    }

    /// Replaces a function's record (and its loaded code). `new_code`: the
    /// end of an update in progress (which must still be in progress: a
    /// function deleted, or deleted and made again, meanwhile is left
    /// alone); otherwise a change of settings, refused while an update is
    /// in progress. Checked under the map's lock.
    fn replace(&self, mut record: FunctionRecord, new_code: bool) -> Result<FunctionRecord, RegistryError> {
        record.last_modified = now_lambda_time();
        record.revision_id = uuid::Uuid::new_v4().to_string();
        let loaded = self.load(&record)?;
        let mut map = self.write_map();
        let Some((current, _)) = map.get(&record.name) else {
            return Err(not_found(&self.function_arn(&record.name)));
        };
        let updating = current.update == UpdateStatus::InProgress;
        if new_code && !updating {
            return Err(not_found(&self.function_arn(&record.name)));
        }
        if !new_code && updating {
            return Err(self.update_in_progress(&record.name));
        }
        // A PublishVersion since `record` was read counts: numbers are never reused.
        record.last_version = record.last_version.max(current.last_version);
        self.persist(&record)?;
        map.insert(record.name.clone(), (record.clone(), loaded.clone()));
        // The versions count against the (perhaps new) reserved concurrency;
        // taken before the map is let go, so two updates relink in order.
        let mut versions = self.write_versions();
        drop(map);
        for ((_, _), (v, f)) in versions.range_mut((record.name.clone(), 0)..=(record.name.clone(), u64::MAX)) {
            match self.load_version(v, &loaded) {
                Ok(reloaded) => *f = reloaded,
                Err(e) => tracing::error!(function = %v.name, version = %v.version, error = %e, "version not reloaded"),
            }
        }
        Ok(record)
    }

    /// Deletes a function. Its kept code stays (another function may share it).
    pub fn delete(&self, name: &str) -> Result<FunctionRecord, RegistryError> {
        let mut map = self.write_map();
        if !map.contains_key(name)
            && let Some((_, record)) = self.lock_pending().remove(name)
        {
            return Ok(record);
        }
        let record = map.get(name).map(|(r, _)| r.clone()).ok_or_else(|| not_found(&self.function_arn(name)))?;
        let mut versions = self.write_versions();
        let mut aliases = self.write_aliases();
        let mut writes = vec![([FN_PREFIX, name.as_bytes()].concat(), None)];
        let numbers: Vec<u64> =
            versions.range((name.to_string(), 0)..=(name.to_string(), u64::MAX)).map(|((_, n), _)| *n).collect();
        let names: Vec<String> = aliases
            .range((name.to_string(), String::new())..)
            .take_while(|((f, _), _)| f == name)
            .map(|((_, a), _)| a.clone())
            .collect();
        writes.extend(numbers.iter().map(|n| (version_key(name, *n), None)));
        writes.extend(names.iter().map(|a| (alias_key(name, a), None)));
        self.store.sys_write(writes)?;
        map.remove(name);
        for n in numbers {
            versions.remove(&(name.to_string(), n));
        }
        for a in names {
            aliases.remove(&(name.to_string(), a));
        }
        Ok(record)
    }

    /// PublishVersion: a snapshot of `$LATEST` as the next version number,
    /// unless nothing changed since the last version (then that one).
    /// `expect_sha` (hex) must match `$LATEST`'s code when given.
    pub fn publish(
        &self,
        name: &str,
        description: Option<String>,
        expect_sha: Option<&str>,
    ) -> Result<FunctionRecord, RegistryError> {
        let mut map = self.write_map();
        let (latest, loaded) = map.get(name).cloned().ok_or_else(|| not_found(&self.function_arn(name)))?;
        if latest.update == UpdateStatus::InProgress {
            return Err(self.update_in_progress(name));
        }
        if let Some(sha) = expect_sha
            && sha != latest.code_sha256
        {
            return Err(RegistryError::InvalidParameter(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again.",
                latest.code_sha256
            )));
        }
        let mut versions = self.write_versions();
        let mine = versions.range((name.to_string(), 0)..=(name.to_string(), u64::MAX));
        if let Some((_, (last, _))) = mine.clone().next_back()
            && last.version == latest.last_version.to_string()
            && last.same_code_and_settings(&latest)
        {
            return Ok(last.clone());
        }
        if mine.count() >= MAX_VERSIONS_PER_FUNCTION {
            return Err(RegistryError::CodeStorageExceeded(format!(
                "Function {name} has {MAX_VERSIONS_PER_FUNCTION} versions, Tidepool's limit; delete some to publish another."
            )));
        }
        let highest = versions
            .range((name.to_string(), 0)..=(name.to_string(), u64::MAX))
            .next_back()
            .map_or(0, |((_, n), _)| *n);
        let n = latest.last_version.max(highest) + 1;
        let mut version = latest.clone();
        version.version = n.to_string();
        version.last_version = 0;
        version.tags = BTreeMap::new();
        version.reserved_concurrency = None;
        if let Some(d) = description {
            version.description = d;
        }
        version.last_modified = now_lambda_time();
        version.revision_id = uuid::Uuid::new_v4().to_string();
        let version_loaded = self.load_version(&version, &loaded)?;
        let mut bumped = latest.clone();
        bumped.last_version = n;
        bumped.revision_id = uuid::Uuid::new_v4().to_string();
        let version_json = serde_json::to_vec(&version).map_err(|e| RegistryError::Internal(e.to_string()))?;
        let latest_json = serde_json::to_vec(&bumped).map_err(|e| RegistryError::Internal(e.to_string()))?;
        self.store.sys_write(vec![
            (version_key(name, n), Some(version_json)),
            ([FN_PREFIX, name.as_bytes()].concat(), Some(latest_json)),
        ])?;
        versions.insert((name.to_string(), n), (version.clone(), version_loaded));
        map.insert(name.to_string(), (bumped, loaded));
        Ok(version)
    }

    /// Published version `n` of `name`, if it exists.
    pub fn version(&self, name: &str, n: u64) -> Option<FunctionRecord> {
        self.read_versions().get(&(name.to_string(), n)).map(|(r, _)| r.clone())
    }

    /// The published versions of `name`, oldest first (`$LATEST` not included).
    pub fn versions(&self, name: &str) -> Result<Vec<FunctionRecord>, RegistryError> {
        self.get(name)?;
        Ok(self
            .read_versions()
            .range((name.to_string(), 0)..=(name.to_string(), u64::MAX))
            .map(|(_, (r, _))| r.clone())
            .collect())
    }

    /// DeleteFunction with a version qualifier. A version an alias names is
    /// kept (`ResourceConflictException`).
    pub fn delete_version(&self, name: &str, n: u64) -> Result<(), RegistryError> {
        let mut versions = self.write_versions();
        if !versions.contains_key(&(name.to_string(), n)) {
            return Ok(());
        }
        let label = n.to_string();
        let users: Vec<String> = self
            .read_aliases()
            .values()
            .filter(|a| {
                a.function == name && (a.function_version == label || a.additional_weights.contains_key(&label))
            })
            .map(|a| a.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(RegistryError::Conflict(format!(
                "Unable to delete version because the following aliases reference it: {users:?}"
            )));
        }
        self.store.sys_write(vec![(version_key(name, n), None)])?;
        versions.remove(&(name.to_string(), n));
        Ok(())
    }

    /// Changes what `$LATEST`, a version or an alias of `name` (`qualifier`)
    /// carries beside its record (its resource-based policy): `change`
    /// gives the system entries to write, written in one batch with the
    /// record's new `RevisionId`, as Lambda gives a function a new revision
    /// when its policy changes. `expect`, the revision the caller read, must
    /// be the current one. Runs under the record's lock, so two changes of
    /// one record take turns. Returns the new revision.
    pub fn amend<E: From<RegistryError>>(
        &self,
        name: &str,
        qualifier: &str,
        expect: Option<&str>,
        change: impl FnOnce() -> Result<Vec<(Vec<u8>, Option<Vec<u8>>)>, E>,
    ) -> Result<String, E> {
        let stale = |current: &str| {
            expect.is_some_and(|e| e != current).then(|| {
                RegistryError::Precondition(
                    "The Revision Id provided does not match the latest Revision Id. \
                     Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                        .into(),
                )
            })
        };
        let revision = uuid::Uuid::new_v4().to_string();
        match qualifier {
            "$LATEST" => {
                let mut map = self.write_map();
                let (record, _) = map.get_mut(name).ok_or_else(|| not_found(&self.function_arn(name)))?;
                if let Some(e) = stale(&record.revision_id) {
                    return Err(e.into());
                }
                let mut writes = change()?;
                let mut next = record.clone();
                next.revision_id = revision.clone();
                writes.push(([FN_PREFIX, name.as_bytes()].concat(), Some(record_json(&next)?)));
                self.store.sys_write(writes).map_err(RegistryError::from)?;
                *record = next;
            }
            q if q.bytes().all(|b| b.is_ascii_digit()) => {
                let n = version_number(q).ok_or_else(|| not_found(&format!("{}:{q}", self.function_arn(name))))?;
                let mut versions = self.write_versions();
                let (record, _) = versions
                    .get_mut(&(name.to_string(), n))
                    .ok_or_else(|| not_found(&format!("{}:{q}", self.function_arn(name))))?;
                if let Some(e) = stale(&record.revision_id) {
                    return Err(e.into());
                }
                let mut writes = change()?;
                let mut next = record.clone();
                next.revision_id = revision.clone();
                writes.push((version_key(name, n), Some(record_json(&next)?)));
                self.store.sys_write(writes).map_err(RegistryError::from)?;
                *record = next;
            }
            alias => {
                let mut aliases = self.write_aliases();
                let record = aliases
                    .get_mut(&(name.to_string(), alias.to_string()))
                    .ok_or_else(|| not_found(&format!("{}:{alias}", self.function_arn(name))))?;
                if let Some(e) = stale(&record.revision_id) {
                    return Err(e.into());
                }
                let mut writes = change()?;
                let mut next = record.clone();
                next.revision_id = revision.clone();
                writes.push((alias_key(name, alias), Some(record_json(&next)?)));
                self.store.sys_write(writes).map_err(RegistryError::from)?;
                *record = next;
            }
        }
        Ok(revision)
    }

    /// The `RevisionId` of `$LATEST`, a version or an alias of `name`.
    pub fn revision(&self, name: &str, qualifier: &str) -> Option<String> {
        match qualifier {
            "$LATEST" => self.read_map().get(name).map(|(r, _)| r.revision_id.clone()),
            q if q.bytes().all(|b| b.is_ascii_digit()) => version_number(q)
                .and_then(|n| self.read_versions().get(&(name.to_string(), n)).map(|(r, _)| r.revision_id.clone())),
            alias => self.read_aliases().get(&(name.to_string(), alias.to_string())).map(|a| a.revision_id.clone()),
        }
    }

    /// Whether `qualifier` names `$LATEST`, a version or an alias of `name`.
    pub fn has_qualifier(&self, name: &str, qualifier: &str) -> bool {
        if self.read_map().get(name).is_none() {
            return false;
        }
        match qualifier {
            "$LATEST" => true,
            q if q.bytes().all(|b| b.is_ascii_digit()) => {
                version_number(q).is_some_and(|n| self.read_versions().contains_key(&(name.to_string(), n)))
            }
            q => self.read_aliases().contains_key(&(name.to_string(), q.to_string())),
        }
    }

    /// The code and settings an invocation of `name:qualifier` runs (its
    /// `config().version` says which version): an alias picks its version
    /// by the routing weights.
    pub fn resolve(&self, name: &str, qualifier: Option<&str>) -> Result<Arc<LoadedFunction>, RegistryError> {
        let qualified_not_found = |q: &str| not_found(&format!("{}:{q}", self.function_arn(name)));
        let version = match qualifier {
            None | Some("$LATEST") => "$LATEST".to_string(),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => q.to_string(),
            Some(q) => {
                let alias = self
                    .read_aliases()
                    .get(&(name.to_string(), q.to_string()))
                    .cloned()
                    .ok_or_else(|| qualified_not_found(q))?;
                pick_version(&alias, uuid::Uuid::new_v4().as_u128())
            }
        };
        if version == "$LATEST" {
            return self.loaded(name);
        }
        let n = version_number(&version).ok_or_else(|| qualified_not_found(&version))?;
        self.read_versions()
            .get(&(name.to_string(), n))
            .map(|(_, f)| f.clone())
            .ok_or_else(|| qualified_not_found(&version))
    }

    fn check_alias_target(&self, name: &str, version: &str) -> Result<(), RegistryError> {
        if version == "$LATEST" || version_number(version).is_some() && self.has_qualifier(name, version) {
            Ok(())
        } else {
            Err(not_found(&format!("{}:{version}", self.function_arn(name))))
        }
    }

    fn persist_alias(&self, alias: &AliasRecord) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(alias).map_err(|e| RegistryError::Internal(e.to_string()))?;
        self.store.sys_write(vec![(alias_key(&alias.function, &alias.name), Some(json))])?;
        Ok(())
    }

    /// CreateAlias.
    pub fn create_alias(&self, mut alias: AliasRecord) -> Result<AliasRecord, RegistryError> {
        self.get(&alias.function)?;
        self.check_alias_target(&alias.function, &alias.function_version)?;
        for v in alias.additional_weights.keys() {
            self.check_alias_target(&alias.function, v)?;
        }
        let mut aliases = self.write_aliases();
        let key = (alias.function.clone(), alias.name.clone());
        if aliases.contains_key(&key) {
            return Err(RegistryError::Conflict(format!(
                "Alias already exists: {}:{}",
                self.function_arn(&alias.function),
                alias.name
            )));
        }
        if aliases.keys().filter(|(f, _)| *f == alias.function).count() >= MAX_ALIASES_PER_FUNCTION {
            return Err(RegistryError::Conflict(format!(
                "Function {} has {MAX_ALIASES_PER_FUNCTION} aliases, Tidepool's limit.",
                alias.function
            )));
        }
        alias.revision_id = uuid::Uuid::new_v4().to_string();
        self.persist_alias(&alias)?;
        aliases.insert(key, alias.clone());
        Ok(alias)
    }

    /// GetAlias.
    pub fn alias(&self, name: &str, alias: &str) -> Result<AliasRecord, RegistryError> {
        self.get(name)?;
        self.read_aliases()
            .get(&(name.to_string(), alias.to_string()))
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("Alias not found: {}:{alias}", self.function_arn(name))))
    }

    /// ListAliases, by name.
    pub fn aliases(&self, name: &str) -> Result<Vec<AliasRecord>, RegistryError> {
        self.get(name)?;
        Ok(self.read_aliases().values().filter(|a| a.function == name).cloned().collect())
    }

    /// UpdateAlias: `change` edits the alias; its targets are checked after.
    pub fn update_alias(
        &self,
        name: &str,
        alias: &str,
        change: impl FnOnce(&mut AliasRecord) -> Result<(), RegistryError>,
    ) -> Result<AliasRecord, RegistryError> {
        let mut record = self.alias(name, alias)?;
        change(&mut record)?;
        self.check_alias_target(name, &record.function_version)?;
        for v in record.additional_weights.keys() {
            self.check_alias_target(name, v)?;
        }
        record.revision_id = uuid::Uuid::new_v4().to_string();
        let mut aliases = self.write_aliases();
        let key = (name.to_string(), alias.to_string());
        if !aliases.contains_key(&key) {
            return Err(RegistryError::NotFound(format!("Alias not found: {}:{alias}", self.function_arn(name))));
        }
        self.persist_alias(&record)?;
        aliases.insert(key, record.clone());
        Ok(record)
    }

    /// DeleteAlias (deleting one that does not exist succeeds, as in Lambda).
    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<(), RegistryError> {
        self.get(name)?;
        let mut aliases = self.write_aliases();
        let key = (name.to_string(), alias.to_string());
        if aliases.contains_key(&key) {
            self.store.sys_write(vec![(alias_key(name, alias), None)])?;
            aliases.remove(&key);
        }
        Ok(())
    }

    /// An `Active` function's record; a function not `Active` yet is a
    /// conflict (Lambda's answer to changing or invoking it).
    pub fn get(&self, name: &str) -> Result<FunctionRecord, RegistryError> {
        // The map stays locked while `pending` is looked at: a creation
        // moving from one to the other is seen in one or the other.
        let map = self.read_map();
        if let Some((r, _)) = map.get(name) {
            return Ok(r.clone());
        }
        Err(self.not_active(name).unwrap_or_else(|| not_found(&self.function_arn(name))))
    }

    /// A function's record in whatever state it is (GetFunction).
    pub fn describe(&self, name: &str) -> Result<FunctionRecord, RegistryError> {
        let map = self.read_map();
        if let Some((r, _)) = map.get(name) {
            return Ok(r.clone());
        }
        self.lock_pending().get(name).map(|(_, r)| r.clone()).ok_or_else(|| not_found(&self.function_arn(name)))
    }

    /// The loaded function, ready to invoke.
    pub fn loaded(&self, name: &str) -> Result<Arc<LoadedFunction>, RegistryError> {
        let map = self.read_map();
        if let Some((_, f)) = map.get(name) {
            return Ok(f.clone());
        }
        Err(self.not_active(name).unwrap_or_else(|| not_found(&self.function_arn(name))))
    }

    /// Every function, by name, those not `Active` yet included.
    pub fn list(&self) -> Vec<FunctionRecord> {
        let map = self.read_map();
        let mut all: BTreeMap<String, FunctionRecord> =
            map.values().map(|(r, _)| (r.name.clone(), r.clone())).collect();
        for (name, (_, r)) in self.lock_pending().iter() {
            all.entry(name.clone()).or_insert_with(|| r.clone());
        }
        all.into_values().collect()
    }
}

/// A version number written as Lambda writes it (`3`, not `03`).
pub fn version_number(q: &str) -> Option<u64> {
    q.parse::<u64>().ok().filter(|n| *n > 0 && n.to_string() == q)
}

/// The version an invocation of `alias` runs, given a uniform `random`:
/// each additional version takes its weight's share, the alias's own
/// version the rest.
pub fn pick_version(alias: &AliasRecord, random: u128) -> String {
    let mut point = (random % 1_000_000) as f64 / 1_000_000.0;
    for (version, weight) in &alias.additional_weights {
        if point < *weight {
            return version.clone();
        }
        point -= weight;
    }
    alias.function_version.clone()
}

fn record_json(record: &impl serde::Serialize) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec(record).map_err(|e| RegistryError::Internal(e.to_string()))
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
