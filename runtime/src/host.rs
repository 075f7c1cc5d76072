//! The state of one invocation's `Store`: WASI, the captured log, the memory limiter and the
//! store bridge; and the host side of the `tidepool:handler` imports.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::tidepool::handler::{log, store, types};
use crate::bindings::{Level, StoreError};
use crate::bridge::{InvocationOrigin, StoreBridge};
use crate::limits::MAX_TABLE_ELEMENTS;
use crate::logs::LogBuffer;

pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: LogBuffer,
    pub(crate) bridge: Arc<dyn StoreBridge>,
    pub(crate) origin: InvocationOrigin,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl store::Host for HostState {
    fn call(&mut self, operation: String, request: String) -> Result<String, StoreError> {
        self.bridge
            .call(&operation, &request, &self.origin)
            .map_err(|e| StoreError { error_type: e.error_type, message: e.message })
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        let mut line = String::with_capacity(message.len() + 10);
        line.push('[');
        line.push_str(level);
        line.push_str("]\t");
        line.push_str(&message);
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.logs.append(line.as_bytes());
    }
}

/// Holds the guest's linear memories to the function's memory size, and records the peak. A
/// growth past the limit traps at once (as Lambda kills a runtime that exceeds its memory), and
/// sets `exceeded`, which is how the overrun is told apart from other traps.
pub(crate) struct MemoryLimiter {
    limit: usize,
    used: usize,
    /// `used` and `peak` before the last growth, restored if the growth then fails.
    before_growth: (usize, usize),
    pub(crate) peak: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryLimiter { limit, used: 0, before_growth: (0, 0), peak: 0, exceeded: false }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.limit {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes exceeded (wanted {used})", self.limit);
        }
        self.before_growth = (self.used, self.peak);
        self.used = used;
        self.peak = self.peak.max(used);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        (self.used, self.peak) = self.before_growth;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
