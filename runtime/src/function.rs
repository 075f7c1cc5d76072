//! A loaded function: its configuration, its pre-linked component, its concurrency, and the
//! invocation itself.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{I32Exit, WasiCtx};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::HandlerPre;
use crate::bindings::tidepool::handler::types::Context as GuestContext;
use crate::bridge::InvocationOrigin;
use crate::code::CodeHash;
use crate::config::FunctionConfig;
use crate::host::{HostState, MemoryLimiter};
use crate::invocation::{FunctionError, FunctionErrorKind, Invocation, InvokeOptions, ThrottleReason, Throttled};
use crate::limits::{EPOCH_TICK, MAX_GUEST_ADDRESSABLE_MB, MAX_LOGGED_TEXT_BYTES, MAX_RESPONSE_BYTES};
use crate::logs::LogBuffer;
use crate::outbound::{Destinations, Outbound};
use crate::payload::{Capped, CappedError};
use crate::runtime::Inner;
use crate::text::Bounded;

const MIB: usize = 1024 * 1024;

thread_local! {
    /// Drives one invocation's future on the invoking thread: wasmtime's async calls (on a fiber
    /// stack from the pool) and WASI's host futures, with a timer for the timeout.
    static EXECUTOR: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime needs no resources that can run out");
}

/// A function ready to run: a fresh instance of its component per invocation.
pub struct LoadedFunction {
    id: u64,
    runtime: Arc<Inner>,
    config: FunctionConfig,
    code: CodeHash,
    pre: HandlerPre<HostState>,
    environment: Vec<(String, String)>,
    /// Where its guest may send HTTP requests.
    destinations: Destinations,
    /// The function's reserved concurrency, if it has one.
    reserved: Option<Arc<Semaphore>>,
}

/// The right to run one invocation of one function: a slot of its reserved concurrency (if any)
/// and of the runtime's pool, and its memory size in the runtime's guest memory budget. Released
/// when dropped.
#[must_use = "a permit is released when dropped"]
pub struct InvokePermit {
    function: u64,
    _reserved: Option<OwnedSemaphorePermit>,
    _slot: OwnedSemaphorePermit,
    /// The guest memory reserved, in MB: the guest's memory limit.
    memory_mb: u32,
    _memory: OwnedSemaphorePermit,
}

impl std::fmt::Debug for InvokePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvokePermit").field("function", &self.function).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoadedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFunction").field("config", &self.config).field("code", &self.code).finish()
    }
}

impl LoadedFunction {
    pub(crate) fn new(runtime: Arc<Inner>, config: FunctionConfig, code: CodeHash, pre: HandlerPre<HostState>) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let endpoint = runtime.config.endpoint.as_deref();
        let environment = config.guest_environment(endpoint);
        let destinations = Destinations::new(endpoint, config.allowed_hosts());
        LoadedFunction {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            runtime,
            environment,
            destinations,
            reserved: config.reserved_concurrency.map(|n| Arc::new(Semaphore::new(n as usize))),
            config,
            code,
            pre,
        }
    }

    /// This function with `latest`'s reserved concurrency (one semaphore for a function's
    /// versions).
    pub(crate) fn sharing_reserved(mut self, latest: &LoadedFunction) -> Self {
        self.reserved = latest.reserved.clone();
        self
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// The store bridge its invocations use unless given another.
    pub fn bridge(&self) -> Arc<dyn crate::StoreBridge> {
        self.runtime.bridge.clone()
    }

    pub fn code_hash(&self) -> &CodeHash {
        &self.code
    }

    /// The guest memory one invocation reserves, in MB: the function's memory size, but no more
    /// than a guest can address, nor than the whole budget (the guest is then held to that).
    pub fn reserved_memory_mb(&self) -> u32 {
        self.config.memory_mb.min(MAX_GUEST_ADDRESSABLE_MB).min(self.runtime.guest_memory_limit_mb())
    }

    /// Takes a permit if one is free now, else fails as Lambda throttles a synchronous invoke.
    pub fn try_acquire(&self) -> Result<InvokePermit, Throttled> {
        let reserved = self.reserved.as_ref().map(|semaphore| semaphore.clone().try_acquire_owned()).transpose();
        let reserved =
            reserved.map_err(|e| throttled(e, ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded))?;
        let slot = self.runtime.slots.clone().try_acquire_owned();
        let slot = slot.map_err(|e| throttled(e, ThrottleReason::ConcurrentInvocationLimitExceeded))?;
        let memory_mb = self.reserved_memory_mb();
        let memory = self.runtime.memory.clone().try_acquire_many_owned(memory_mb);
        let memory = memory.map_err(|e| throttled(e, ThrottleReason::GuestMemoryLimitExceeded))?;
        Ok(InvokePermit { function: self.id, _reserved: reserved, _slot: slot, memory_mb, _memory: memory })
    }

    /// Waits for a permit (stream delivery waits rather than failing), its guest memory
    /// included. With a reserved concurrency of 0 it never returns.
    pub async fn acquire(&self) -> InvokePermit {
        let reserved = match &self.reserved {
            Some(semaphore) => Some(semaphore.clone().acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        let slot = self.runtime.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let memory_mb = self.reserved_memory_mb();
        let memory = match self.runtime.memory.clone().try_acquire_many_owned(memory_mb) {
            Ok(memory) => memory,
            Err(_) => {
                let _waiting = Waiting::on(&self.runtime.memory_waiting);
                let memory = self.runtime.memory.clone().acquire_many_owned(memory_mb).await;
                memory.expect("the semaphore is never closed")
            }
        };
        InvokePermit { function: self.id, _reserved: reserved, _slot: slot, memory_mb, _memory: memory }
    }

    /// [`LoadedFunction::acquire`], blocking the thread. Not from inside an async task.
    pub fn acquire_blocking(&self) -> InvokePermit {
        block_on(self.acquire())
    }

    /// [`LoadedFunction::try_acquire`], then [`LoadedFunction::invoke`].
    pub fn try_invoke(&self, event: &str, options: InvokeOptions) -> Result<Invocation, Throttled> {
        let permit = self.try_acquire()?;
        Ok(self.invoke(permit, event, options))
    }

    /// Runs the handler on `event` (the JSON Lambda would pass) in a fresh instance, and drops
    /// the instance. A trap, timeout or memory overrun is a [`FunctionError`] in the result;
    /// nothing a guest does makes this panic.
    ///
    /// Synchronous and CPU-bound for up to the function's timeout: call it from a plain thread or
    /// `spawn_blocking`, never from an async task.
    ///
    /// # Panics
    /// If `permit` was taken from another function, or the store bridge panics.
    #[tracing::instrument(skip_all, fields(function = %self.config.name, request_id))]
    pub fn invoke(&self, permit: InvokePermit, event: &str, options: InvokeOptions) -> Invocation {
        assert_eq!(permit.function, self.id, "an InvokePermit is used with the function it was taken from");
        let request_id = options.request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        tracing::Span::current().record("request_id", request_id.as_str());
        let runtime = &*self.runtime;
        let timeout = self.config.timeout;
        // The guest may grow to what its permit reserved: its memory size, or less when the
        // runtime's guest memory budget is smaller.
        let memory_limit = permit.memory_mb as usize * MIB;
        let logs = LogBuffer::new(runtime.config.max_log_bytes);

        let start = Instant::now();
        let deadline = start + timeout;
        let deadline_ms = (SystemTime::now() + timeout).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let context = GuestContext {
            request_id: request_id.clone(),
            function_name: self.config.name.clone(),
            function_version: self.config.version.clone(),
            invoked_function_arn: self.config.arn.clone(),
            memory_limit_in_mb: self.config.memory_mb,
            deadline_ms,
        };
        let bridge = options.bridge.unwrap_or_else(|| runtime.bridge.clone());
        let origin = InvocationOrigin {
            function_name: self.config.name.clone(),
            function_version: self.config.version.clone(),
            request_id: request_id.clone(),
            chain_depth: options.chain_depth,
        };
        let state = HostState {
            wasi: self.wasi_ctx(&logs),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            logs: logs.clone(),
            outbound: Outbound::new(
                self.destinations.clone(),
                bridge.clone(),
                origin.clone(),
                logs.clone(),
                runtime.io.clone(),
            ),
            http: WasiHttpCtx::new(),
            bridge,
            origin,
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        // The epoch ticks every millisecond while invocations run; the callback checks the real
        // clock, so a late ticker delays the timeout but never brings it forward. A guest that
        // computes yields to the invocation's executor every `GUEST_YIELD_EVERY`, so the host's
        // tasks it waits on without polling (a `wasi:http` response it spins on) still run.
        store.set_epoch_deadline(ticks(timeout.min(GUEST_YIELD_EVERY)));
        let cancel = options.cancel.clone();
        let cancellable = cancel.is_some();
        let cancelled = move || cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed));
        let cancelled_too = cancelled.clone();
        store.epoch_deadline_callback(move |_| {
            let now = Instant::now();
            if now >= deadline || cancelled_too() {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(ticks((deadline - now).min(GUEST_YIELD_EVERY))))
            }
        });

        let returned = {
            let _ticking = runtime.ticker.activate();
            let run = async {
                let instance = self.pre.instance_pre().instantiate_async(&mut store).await?;
                // The result is lifted with its strings capped (`payload.rs`): a response or an
                // error over Lambda's limit is measured in the guest's memory, never copied.
                let handle = instance
                    .get_typed_func::<(&str, &GuestContext), (Result<Response, CappedError>,)>(&mut store, "handle")?;
                let (returned,) = handle.call_async(&mut store, (event, &context)).await?;
                Ok::<_, wasmtime::Error>(returned)
            };
            // The epoch interrupts a guest that computes; this timer one that waits in a host
            // call (a WASI sleep or poll), where epochs are not checked.
            // A cancelled invocation ends as a timed-out one, at the guest's next yield or
            // within `CANCEL_CHECK` of a host wait.
            let timed = async {
                let watch_cancel = async {
                    if !cancellable {
                        std::future::pending::<()>().await;
                    }
                    loop {
                        if cancelled() {
                            return;
                        }
                        tokio::time::sleep(CANCEL_CHECK).await;
                    }
                };
                tokio::select! {
                    out = tokio::time::timeout_at(deadline.into(), run) => match out {
                        Ok(returned) => returned,
                        Err(_elapsed) => Err(wasmtime::Error::from(Trap::Interrupt)),
                    },
                    () = watch_cancel => Err(wasmtime::Error::from(Trap::Interrupt)),
                }
            };
            EXECUTOR.with(|executor| executor.block_on(timed))
        };
        let duration = start.elapsed();
        // The guest's resources go now, on the executor: dropping one aborts the tasks it
        // started (an HTTP request and its connection), and the executor must run once for an
        // aborted task to stop, or it would wait for this thread's next invocation.
        let table = std::mem::replace(&mut store.data_mut().table, ResourceTable::new());
        EXECUTOR.with(|executor| {
            executor.block_on(async move {
                drop(table);
                tokio::task::yield_now().await;
            })
        });
        let state = store.into_data();
        drop(permit);

        let result = match returned {
            Ok(Ok(Capped::Fits(response))) => Ok(response),
            Ok(Err(CappedError::Fits { error_type, error_message })) => {
                Err(FunctionError::new(error_type, error_message, FunctionErrorKind::Returned))
            }
            // The error object is the response payload, and Lambda's limit applies to it too.
            Ok(Ok(Capped::TooLarge(size)) | Err(CappedError::TooLarge(size))) => Err(response_too_large(size)),
            Err(error) => {
                let error = self.runtime_error(&request_id, error, &state);
                logs.append(format!("{}\n", error.error_message).as_bytes());
                Err(error)
            }
        };
        let captured = logs.take();
        Invocation {
            request_id,
            result,
            logs: captured.text,
            logs_dropped_bytes: captured.dropped_bytes,
            billed_duration_ms: (duration.as_nanos().div_ceil(1_000_000) as u64).max(1),
            duration,
            memory_size_mb: self.config.memory_mb,
            max_memory_used_mb: state.limiter.peak.div_ceil(MIB) as u32,
            version: self.config.version.clone(),
        }
    }

    /// WASI for one invocation: the function's environment, output into the log, the host's
    /// clocks and random; no files (no preopened directories) and no network.
    fn wasi_ctx(&self, logs: &LogBuffer) -> WasiCtx {
        WasiCtx::builder()
            .envs(&self.environment)
            .stdout(logs.clone())
            .stderr(logs.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build()
    }

    /// Classifies a trap or exit as Lambda reports a runtime that died.
    fn runtime_error(&self, request_id: &str, error: wasmtime::Error, state: &HostState) -> FunctionError {
        let kind;
        let message;
        if state.limiter.exceeded {
            kind = FunctionErrorKind::OutOfMemory;
            message = "Runtime exited with error: signal: killed".to_string();
        } else if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            kind = FunctionErrorKind::Timeout;
            message = format!("Task timed out after {:.2} seconds", self.config.timeout.as_secs_f64());
        } else if let Some(exit) = error.downcast_ref::<I32Exit>() {
            kind = FunctionErrorKind::Crashed;
            message = match exit.0 {
                0 => "Runtime exited without providing a reason".to_string(),
                code => format!("Runtime exited with error: exit status {code}"),
            };
        } else {
            kind = FunctionErrorKind::Crashed;
            let cause = match error.downcast_ref::<Trap>() {
                Some(trap) => trap.to_string(),
                None => format!("{:#}", error),
            };
            message = format!("Runtime exited with error: {cause}");
            let error = format!("{error:?}");
            tracing::debug!(error = %Bounded(&error, MAX_LOGGED_TEXT_BYTES), "guest trapped");
        }
        let error_type = match kind {
            FunctionErrorKind::OutOfMemory => "Runtime.OutOfMemory",
            FunctionErrorKind::Timeout => "Sandbox.Timedout",
            _ => "Runtime.ExitError",
        };
        FunctionError::new(error_type, format!("RequestId: {request_id} Error: {message}"), kind)
    }
}

/// What the handler returns: its response, copied only within Lambda's limit.
type Response = Capped<MAX_RESPONSE_BYTES>;

/// Lambda's answer to a response (or an error object) of `size` bytes, over
/// [`MAX_RESPONSE_BYTES`].
fn response_too_large(size: usize) -> FunctionError {
    FunctionError::new(
        "Function.ResponseSizeTooLarge",
        format!(
            "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        ),
        FunctionErrorKind::ResponseTooLarge,
    )
}

/// Counts an invocation waiting for guest memory while it lives.
struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    fn on(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Epoch ticks (milliseconds) to wait for `duration`, at least one.
/// How long a guest computes before it yields to its invocation's executor (which then runs the
/// host tasks it may be waiting on, and resumes it at once).
const GUEST_YIELD_EVERY: std::time::Duration = std::time::Duration::from_millis(10);
/// How often an invocation waiting in a host call looks whether it was cancelled
/// ([`InvokeOptions::cancel`]); one that computes is stopped at its next yield.
const CANCEL_CHECK: std::time::Duration = std::time::Duration::from_millis(20);

fn ticks(duration: std::time::Duration) -> u64 {
    (duration.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64).max(1)
}

fn throttled(error: TryAcquireError, reason: ThrottleReason) -> Throttled {
    debug_assert!(matches!(error, TryAcquireError::NoPermits), "the semaphores are never closed");
    Throttled { reason }
}

/// Runs a future to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}
