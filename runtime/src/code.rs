//! Content hashes of components and the on-disk cache of their precompiled form.
//!
//! A component is compiled once, when it is deployed, by
//! [`Engine::precompile_component`]; the artifact is written to
//! `<cache_dir>/<engine>/<sha256 of the component>.cwasm`, where `<engine>` hashes the wasmtime
//! version and the engine's settings, so an upgrade never loads an incompatible artifact. Loading
//! maps that file ([`Component::deserialize_file`]) in a millisecond or two instead of compiling.

use std::fmt;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::RuntimeError;

/// The SHA-256 of a component's bytes: its identity in the cache. Lambda's `CodeSha256` is this
/// hash in base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeHash([u8; 32]);

impl CodeHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        CodeHash(Sha256::digest(bytes).into())
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeHash({self})")
    }
}

/// Parses the 64 lowercase or uppercase hex digits [`CodeHash`]'s `Display` writes.
impl FromStr for CodeHash {
    type Err = InvalidCodeHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(InvalidCodeHash(s.into()));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| InvalidCodeHash(s.into()))?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| InvalidCodeHash(s.into()))?;
        }
        Ok(CodeHash(bytes))
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a code hash (64 hex digits): {0:?}")]
pub struct InvalidCodeHash(pub String);

/// The directory of precompiled components for one engine configuration.
pub(crate) struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    /// Opens (creating it if needed) the cache for `engine` under `root`.
    pub(crate) fn open(root: &Path, engine: &Engine) -> Result<Self, RuntimeError> {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_id: String = hasher.0.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
        let dir = root.join(format!("wasmtime-{engine_id}"));
        fs::create_dir_all(&dir).map_err(|source| RuntimeError::Cache {
            action: "create cache directory",
            path: dir.clone(),
            source,
        })?;
        Ok(CodeCache { dir })
    }

    pub(crate) fn path(&self, hash: &CodeHash) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    /// Writes a precompiled artifact: to a temporary file first, synced, then renamed into place,
    /// so the cache never holds a partial artifact under a real name.
    pub(crate) fn store(&self, hash: &CodeHash, artifact: &[u8]) -> Result<PathBuf, RuntimeError> {
        let path = self.path(hash);
        static UNIQUE: AtomicU64 = AtomicU64::new(0);
        let unique = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{hash}.{}.{unique}.tmp", std::process::id()));
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Cache { action, path, source }
        };
        let mut file = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(artifact).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io("rename into place", &path))?;
        Ok(path)
    }

    /// Maps the precompiled artifact of `hash`, if the cache has one this engine accepts.
    /// `Ok(None)`: no such file; `Err`: a file that cannot be loaded (removed, so that the
    /// caller compiles again).
    pub(crate) fn load(&self, engine: &Engine, hash: &CodeHash) -> Result<Option<Component>, String> {
        let path = self.path(hash);
        if !path.is_file() {
            return Ok(None);
        }
        match deserialize(engine, &path) {
            Ok(component) => Ok(Some(component)),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(format!("{e:#}"))
            }
        }
    }
}

/// Maps a precompiled component from the cache.
///
/// The one `unsafe` call of the crate: wasmtime trusts a precompiled artifact to be machine code
/// it produced itself, and a mapped file must not change while it is in use.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `path` is `<cache_dir>/wasmtime-<engine>/<sha256>.cwasm`, a file only this module
    // writes (`CodeCache::store`), with the output of `Engine::precompile_component` of an engine
    // of the same configuration (the directory is keyed by its compatibility hash, and wasmtime
    // checks its header again). It is written to a temporary name and renamed into place, never
    // modified after, and replaced only by a new file (rename), which leaves existing mappings of
    // the old one intact. The cache directory is the runtime's own (`RuntimeConfig::cache_dir`):
    // whoever can write there can run code as Tidepool anyway.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Feeds `Hash` output into SHA-256, for a hash that is stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The most bytes of compiled functions [`FunctionCache`] keeps: about four
/// JavaScript or Python engines' worth (each is some tens of MB of machine
/// code), in memory for the process's life.
pub const MAX_FUNCTION_CACHE_BYTES: usize = 192 * 1024 * 1024;

/// Cranelift's incremental compilation cache: the machine code of each
/// compiled function, keyed by the function's body and settings. Components
/// that embed the same engine (componentize-js's SpiderMonkey,
/// componentize-py's CPython) share most functions, so the second one
/// compiles only what differs. In memory, up to
/// [`MAX_FUNCTION_CACHE_BYTES`]; past that, entries are not added.
#[derive(Debug, Default)]
pub struct FunctionCache {
    entries: std::sync::Mutex<std::collections::HashMap<Vec<u8>, std::sync::Arc<[u8]>>>,
    bytes: AtomicU64,
    hits: AtomicU64,
}

impl FunctionCache {
    /// Functions whose compiled code was reused so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, std::sync::Arc<[u8]>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        let found = self.lock().get(key).map(|v| std::borrow::Cow::Owned(v.to_vec()));
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let size = (key.len() + value.len()) as u64;
        let mut entries = self.lock();
        if entries.contains_key(key) {
            return true;
        }
        if self.bytes.load(Ordering::Relaxed) + size > MAX_FUNCTION_CACHE_BYTES as u64 {
            return false;
        }
        entries.insert(key.to_vec(), value.into());
        self.bytes.fetch_add(size, Ordering::Relaxed);
        true
    }
}
