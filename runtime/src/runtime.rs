//! The runtime: one wasmtime engine with the pooling allocator, the linker with the handler's
//! imports, the cache of precompiled components and the epoch ticker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::HandlerPre;
use crate::bridge::StoreBridge;
use crate::code::{CodeCache, CodeHash};
use crate::config::{FunctionConfig, RuntimeConfig};
use crate::error::RuntimeError;
use crate::function::LoadedFunction;
use crate::host::HostState;
use crate::limits::{
    MAX_CORE_INSTANCE_BYTES, MAX_CORE_INSTANCES_PER_COMPONENT, MAX_LINEAR_MEMORY_BYTES, MAX_MEMORIES_PER_COMPONENT,
    MAX_TABLE_ELEMENTS, MAX_TABLES_PER_COMPONENT,
};
use crate::ticker::Ticker;

/// The wasm host. Cheap to clone; every clone is the same runtime.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    cache: CodeCache,
    /// Cranelift's incremental cache: machine code of functions compiled in this process.
    functions: Arc<crate::code::FunctionCache>,
    /// Components loaded in this process, shared by every function using the same code.
    components: Mutex<HashMap<CodeHash, Component>>,
    /// One permit per invocation running, over all functions: a pooling-allocator slot.
    pub(crate) slots: Arc<Semaphore>,
    /// One permit per MB of guest memory reserved by the invocations running
    /// ([`RuntimeConfig::max_guest_memory_mb`]).
    pub(crate) memory: Arc<Semaphore>,
    /// Invocations waiting in [`LoadedFunction::acquire`] for their guest memory now.
    pub(crate) memory_waiting: AtomicU32,
    pub(crate) ticker: Ticker,
    pub(crate) bridge: Arc<dyn StoreBridge>,
    pub(crate) config: RuntimeConfig,
    /// Where guests' requests to allowed hosts run their sockets: the embedder's runtime, or a
    /// small one of the process's own (an invocation's executor has no I/O driver).
    /// `None` if neither exists (no thread could be started for it).
    pub(crate) io: Option<tokio::runtime::Handle>,
    stats: Stats,
}

/// The I/O runtime of a [`Runtime`] created outside of any tokio runtime: one worker, made on
/// first use and kept for the process.
fn fallback_io() -> Option<tokio::runtime::Handle> {
    static IO: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let runtime = IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tidepool-guest-io")
            .enable_all()
            .build()
            .ok()
    });
    runtime.as_ref().map(|runtime| runtime.handle().clone())
}

#[derive(Default)]
struct Stats {
    compilations: AtomicU64,
    cache_loads: AtomicU64,
}

/// Counters of the code cache, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// Components compiled by Cranelift in this process.
    pub compilations: u64,
    /// Components loaded from a precompiled file of the cache.
    pub cache_loads: u64,
    /// Functions of components whose machine code Cranelift reused from another component's
    /// compilation in this process (the incremental cache).
    pub functions_reused: u64,
    /// Guest memory (MB) reserved now by the invocations running.
    pub guest_memory_reserved_mb: u32,
    /// The most guest memory (MB) they may reserve together.
    pub guest_memory_limit_mb: u32,
    /// Invocations waiting for guest memory now (stream, schedule and asynchronous ones, which
    /// wait rather than being throttled).
    pub guest_memory_waiting: u32,
}

impl Runtime {
    /// Sets up the engine (pooling allocator sized for `config.max_concurrency` instances, epoch
    /// interruption), the linker and the cache directory, and starts the epoch ticker.
    /// `bridge` serves the guests' store calls unless an invocation brings its own.
    pub fn new(config: RuntimeConfig, bridge: Arc<dyn StoreBridge>) -> Result<Self, RuntimeError> {
        let functions = Arc::new(crate::code::FunctionCache::default());
        let engine = Engine::new(&engine_config(config.max_concurrency, functions.clone())?)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        crate::host::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = CodeCache::open(&config.cache_dir, &engine)?;
        let ticker =
            Ticker::start(engine.clone()).map_err(|e| RuntimeError::Engine(format!("start the epoch ticker: {e}")))?;
        let slots = Arc::new(Semaphore::new(config.max_concurrency as usize));
        let memory = Arc::new(Semaphore::new(config.max_guest_memory_mb.max(1) as usize));
        let inner = Inner {
            engine,
            linker,
            cache,
            functions,
            components: Mutex::default(),
            slots,
            memory,
            memory_waiting: AtomicU32::new(0),
            ticker,
            bridge,
            config,
            io: tokio::runtime::Handle::try_current().ok().or_else(fallback_io),
            stats: Stats::default(),
        };
        Ok(Runtime { inner: Arc::new(inner) })
    }

    /// Deploys a component: compiles it once and keeps the precompiled form in the cache, keyed by
    /// the SHA-256 of `bytes`. A component already in the cache (from this process or an earlier
    /// one) is loaded, not compiled again. Fails if the component is invalid or does not target
    /// the `tidepool:handler/handler` world with imports this host provides.
    #[tracing::instrument(skip_all, fields(hash))]
    pub fn compile(&self, bytes: &[u8]) -> Result<CodeHash, RuntimeError> {
        let hash = CodeHash::of(bytes);
        tracing::Span::current().record("hash", tracing::field::display(&hash));
        if self.loaded_component(&hash)?.is_some() {
            return Ok(hash);
        }
        let inner = &self.inner;
        if let Some(reason) = not_a_component(bytes) {
            return Err(RuntimeError::InvalidComponent { hash, reason });
        }
        let invalid = |e: wasmtime::Error| RuntimeError::InvalidComponent { hash, reason: format!("{e:#}") };
        let artifact = inner.engine.precompile_component(bytes).map_err(invalid)?;
        let path = inner.cache.store(&hash, &artifact)?;
        inner.stats.compilations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(path = %path.display(), bytes = bytes.len(), "compiled component");
        match self.load_cached(&hash, false)? {
            Some(_) => Ok(hash),
            None => Err(RuntimeError::CodeNotFound { hash }),
        }
    }

    /// Whether code `hash` can be loaded without its bytes (it is in memory or in the cache).
    pub fn has_code(&self, hash: &CodeHash) -> bool {
        self.lock_components().contains_key(hash) || self.inner.cache.path(hash).is_file()
    }

    /// Makes a function runnable: code `hash` (from [`Runtime::compile`], in this process or an
    /// earlier one with the same cache directory) with `config`. Never compiles.
    pub fn load_function(&self, config: FunctionConfig, hash: &CodeHash) -> Result<Arc<LoadedFunction>, RuntimeError> {
        config.validate()?;
        let component = self.loaded_component(hash)?.ok_or(RuntimeError::CodeNotFound { hash: *hash })?;
        let pre = self.handler_pre(hash, &component)?;
        Ok(Arc::new(LoadedFunction::new(self.inner.clone(), config, *hash, pre)))
    }

    /// Like [`Runtime::load_function`], for a published version of `latest`: its invocations
    /// count against `latest`'s reserved concurrency, as Lambda's reserved concurrency is the
    /// function's, across its versions.
    pub fn load_version(
        &self,
        config: FunctionConfig,
        hash: &CodeHash,
        latest: &LoadedFunction,
    ) -> Result<Arc<LoadedFunction>, RuntimeError> {
        config.validate()?;
        let component = self.loaded_component(hash)?.ok_or(RuntimeError::CodeNotFound { hash: *hash })?;
        let pre = self.handler_pre(hash, &component)?;
        Ok(Arc::new(LoadedFunction::new(self.inner.clone(), config, *hash, pre).sharing_reserved(latest)))
    }

    /// The cache's counters, and the guest memory reserved and waited for.
    pub fn stats(&self) -> RuntimeStats {
        let limit = self.inner.guest_memory_limit_mb();
        RuntimeStats {
            compilations: self.inner.stats.compilations.load(Ordering::Relaxed),
            cache_loads: self.inner.stats.cache_loads.load(Ordering::Relaxed),
            functions_reused: self.inner.functions.hits(),
            guest_memory_reserved_mb: limit.saturating_sub(self.inner.memory.available_permits() as u32),
            guest_memory_limit_mb: limit,
            guest_memory_waiting: self.inner.memory_waiting.load(Ordering::Relaxed),
        }
    }

    /// The component of `hash` from memory, else from the cache (checked against the handler
    /// world), else `None`.
    fn loaded_component(&self, hash: &CodeHash) -> Result<Option<Component>, RuntimeError> {
        if let Some(component) = self.lock_components().get(hash) {
            return Ok(Some(component.clone()));
        }
        self.load_cached(hash, true)
    }

    /// Maps the precompiled component of `hash` from the cache and keeps it in memory;
    /// `count` it in [`RuntimeStats::cache_loads`] unless it was compiled just now.
    fn load_cached(&self, hash: &CodeHash, count: bool) -> Result<Option<Component>, RuntimeError> {
        let inner = &self.inner;
        let component = match inner.cache.load(&inner.engine, hash) {
            Ok(Some(component)) => component,
            Ok(None) => return Ok(None),
            Err(reason) => {
                tracing::warn!(%hash, %reason, "dropped an unloadable precompiled component");
                return Ok(None);
            }
        };
        if count {
            inner.stats.cache_loads.fetch_add(1, Ordering::Relaxed);
        }
        self.handler_pre(hash, &component)?;
        Ok(Some(self.lock_components().entry(*hash).or_insert(component).clone()))
    }

    /// Links `component` against the host and checks that it exports `handle`.
    fn handler_pre(&self, hash: &CodeHash, component: &Component) -> Result<HandlerPre<HostState>, RuntimeError> {
        // A component that links against something the host does not
        // offer was most often built against another version of the WIT.
        let invalid = |e: wasmtime::Error| RuntimeError::InvalidComponent {
            hash: *hash,
            reason: format!(
                "{e:#}. This server implements the {HANDLER_WORLD} world (wit/handler.wit): \
                 build the handler against that version"
            ),
        };
        let pre = self.inner.linker.instantiate_pre(component).map_err(invalid)?;
        HandlerPre::new(pre).map_err(invalid)
    }

    fn lock_components(&self) -> std::sync::MutexGuard<'_, HashMap<CodeHash, Component>> {
        // The map is only inserted into: a panic elsewhere cannot leave it inconsistent.
        self.inner.components.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// [`RuntimeConfig::max_guest_memory_mb`], at least 1.
    pub(crate) fn guest_memory_limit_mb(&self) -> u32 {
        self.config.max_guest_memory_mb.max(1)
    }
}

/// The engine: Cranelift, epoch interruption, and a pooling allocator with one slot per
/// concurrent invocation.
fn engine_config(max_concurrency: u32, functions: Arc<crate::code::FunctionCache>) -> Result<Config, RuntimeError> {
    let slots = max_concurrency.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MAX_MEMORIES_PER_COMPONENT)
        .total_tables(slots * MAX_TABLES_PER_COMPONENT)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memories_per_module(1)
        .max_tables_per_module(2)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_core_instance_size(MAX_CORE_INSTANCE_BYTES)
        .max_memory_size(MAX_LINEAR_MEMORY_BYTES)
        .total_stacks(slots);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool)).epoch_interruption(true);
    config.enable_incremental_compilation(functions).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok(config)
}

/// The WIT world this host implements, as a component names it in its
/// imports and exports.
pub const HANDLER_WORLD: &str = "tidepool:handler@0.1.0";

/// Why `bytes` cannot be a component at all, in words that say what to do:
/// not WebAssembly, or a core module (built for another target).
pub fn not_a_component(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\0asm";
    /// A core module's version and layer (a component's are `0d 00 01 00`).
    const CORE_MODULE: &[u8] = &[1, 0, 0, 0];
    const BUILD: &str = "build the handler with `cargo build --target wasm32-wasip2 --release` \
        (or another toolchain that makes a WebAssembly component)";
    if !bytes.starts_with(MAGIC) {
        return Some(format!("the code is not WebAssembly (a .wasm file starts with \\0asm): {BUILD}"));
    }
    if bytes.get(4..8) == Some(CORE_MODULE) {
        return Some(format!(
            "the code is a core WebAssembly module, not a component (it was built for wasm32-wasip1 or \
             wasm32-unknown-unknown): {BUILD}, or wrap the module with `wasm-tools component new`"
        ));
    }
    None
}

#[cfg(test)]
mod component_checks {
    use super::*;

    #[test]
    fn non_components_are_named_with_what_to_do() {
        let text = not_a_component(b"hello").unwrap();
        assert!(text.contains("not WebAssembly") && text.contains("wasm32-wasip2"), "{text}");
        let core = not_a_component(b"\0asm\x01\0\0\0").unwrap();
        assert!(core.contains("core WebAssembly module") && core.contains("wasm32-wasip2"), "{core}");
        assert_eq!(not_a_component(b"\0asm\x0d\0\x01\0"), None);
    }

    #[test]
    fn the_world_named_is_the_wit_files() {
        let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/handler.wit")).unwrap();
        let package = HANDLER_WORLD.split('@').next().unwrap();
        let version = HANDLER_WORLD.split('@').nth(1).unwrap();
        assert!(wit.contains(&format!("package {package}@{version};")), "wit/handler.wit names another version");
    }
}
