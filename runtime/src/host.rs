//! The state of one invocation's `Store`: WASI, the captured log, the memory limiter and the
//! store bridge; and the host side of the `tidepool:handler` imports.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::tidepool::handler::types;
use crate::bindings::{Level, StoreError};
use crate::bridge::{InvocationOrigin, StoreBridge};
use crate::limits::{MAX_LOG_LINE_BYTES, MAX_STORE_OPERATION_BYTES, MAX_STORE_REQUEST_BYTES, MAX_TABLE_ELEMENTS};
use crate::logs::LogBuffer;
use crate::outbound::Outbound;
use crate::payload::{Capped, Head};

pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: LogBuffer,
    pub(crate) bridge: Arc<dyn StoreBridge>,
    pub(crate) origin: InvocationOrigin,
    pub(crate) http: WasiHttpCtx,
    pub(crate) outbound: Outbound,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { hooks: &mut self.outbound, table: &mut self.table, ctx: &mut self.http }
    }
}

impl types::Host for HostState {}

/// The `tidepool:handler` interfaces' instance names, as a component imports them.
const STORE_INTERFACE: &str = "tidepool:handler/store@0.1.0";
const LOG_INTERFACE: &str = "tidepool:handler/log@0.1.0";

/// Adds the `tidepool:handler` imports to `linker`. `store.call` and `log.log` are defined here
/// rather than through the generated bindings, whose `String` arguments wasmtime would copy out
/// of the guest whole, whatever their length: their strings are lifted capped (`payload.rs`).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    type CallArgs = (Capped<MAX_STORE_OPERATION_BYTES>, Capped<MAX_STORE_REQUEST_BYTES>);
    linker.instance(STORE_INTERFACE)?.func_wrap(
        "call",
        |mut cx: StoreContextMut<'_, HostState>, (operation, request): CallArgs| {
            Ok((cx.data_mut().store_call(operation, request),))
        },
    )?;
    linker.instance(LOG_INTERFACE)?.func_wrap(
        "log",
        |mut cx: StoreContextMut<'_, HostState>, (level, message): (Level, Head<MAX_LOG_LINE_BYTES>)| {
            cx.data_mut().log(level, message);
            Ok(())
        },
    )?;
    Ok(())
}

impl HostState {
    /// `store.call`: one DynamoDB operation through the bridge. A request over DynamoDB's 16 MB
    /// (or an operation name longer than any) is refused as DynamoDB refuses it, uncopied.
    fn store_call(
        &mut self,
        operation: Capped<MAX_STORE_OPERATION_BYTES>,
        request: Capped<MAX_STORE_REQUEST_BYTES>,
    ) -> Result<String, StoreError> {
        let operation = match operation {
            Capped::Fits(operation) => operation,
            Capped::TooLarge(len) => {
                return Err(StoreError {
                    error_type: "UnknownOperationException".into(),
                    message: format!("Unknown operation: an operation name of {len} bytes"),
                });
            }
        };
        let request = match request {
            Capped::Fits(request) => request,
            Capped::TooLarge(_) => {
                return Err(StoreError {
                    error_type: "RequestEntityTooLarge".into(),
                    message: format!("Request must be smaller than {MAX_STORE_REQUEST_BYTES} bytes for the operation"),
                });
            }
        };
        self.bridge
            .call(&operation, &request, &self.origin)
            .map_err(|e| StoreError { error_type: e.error_type, message: e.message })
    }

    /// `log.log`: a line of the invocation's log. Only as much of the message as a line keeps
    /// was copied out of the guest ([`MAX_LOG_LINE_BYTES`]); the rest counts as cut.
    fn log(&mut self, level: Level, message: Head<MAX_LOG_LINE_BYTES>) {
        let level = match level {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        let Head { text, unread } = message;
        let parts: [&[u8]; 4] = [b"[", level.as_bytes(), b"]\t", text.as_bytes()];
        if unread > 0 {
            self.logs.append_parts_cut(&parts, unread as u64);
        } else {
            // Written in parts, without another copy: the buffer keeps what fits a line.
            let newline: &[u8] = if text.ends_with('\n') { b"" } else { b"\n" };
            self.logs.append_parts(&[&parts[..], &[newline]].concat());
        }
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
