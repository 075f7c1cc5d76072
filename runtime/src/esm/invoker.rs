//! How the engine runs a function: [`Invoker`], implemented for the wasm host's
//! [`LoadedFunction`] by [`FunctionInvoker`] and by fakes in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::bridge::{DeferredCall, DeferringBridge};
use crate::{FunctionErrorKind, InvokeOptions, LoadedFunction, StoreBridge};

/// One invocation the engine asks for.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The event JSON (`{"Records":[...]}`).
    pub event: String,
    /// Trigger invocations in the chain that led here, this one included.
    pub chain_depth: u32,
    /// Defer the function's store writes and return them in
    /// [`InvokeOutcome::writes`] (a mapping's exactly-once mode).
    pub defer_writes: bool,
    /// Set to end the invocation early ([`crate::InvokeOptions::cancel`]).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl InvokeRequest {
    /// The per-invocation bridge from `bridge` that defers the function's
    /// writes, if the request asks for that; a failed outcome if `bridge`
    /// cannot defer.
    pub fn deferring(
        &self,
        bridge: &dyn StoreBridge,
        request_id: &str,
    ) -> Result<Option<Arc<dyn DeferringBridge>>, InvokeOutcome> {
        if !self.defer_writes {
            return Ok(None);
        }
        bridge.deferring().map(Some).ok_or_else(|| {
            InvokeOutcome::failed(
                request_id.to_string(),
                "Runtime.ExitError",
                "the store bridge cannot defer writes (exactly-once)",
            )
        })
    }
}

/// A function error as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError {
    pub error_type: String,
    pub message: String,
    /// Detected by the runtime (a crash, timeout or memory overrun: Lambda's
    /// `Unhandled`) rather than returned by the handler (`Handled`).
    pub unhandled: bool,
}

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeOutcome {
    pub request_id: String,
    /// The response payload, or the function's error.
    pub result: Result<String, InvokeError>,
    /// The store writes it deferred ([`InvokeRequest::defer_writes`]), in
    /// call order; to be committed with the checkpoint that covers its
    /// records, or dropped if it failed.
    pub writes: Vec<DeferredCall>,
    /// The version that ran (`$LATEST` or a number), as on-failure
    /// destination records say (`responseContext.executedVersion`).
    pub executed_version: String,
}

const LATEST: &str = "$LATEST";

/// The future of one invocation.
pub type InvokeFuture = Pin<Box<dyn Future<Output = InvokeOutcome> + Send + 'static>>;

/// A function the engine delivers batches to.
pub trait Invoker: Send + Sync {
    /// The function's ARN (in destination records).
    fn function_arn(&self) -> String;
    /// Runs one invocation to its end (waiting for concurrency first).
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture;
}

/// A [`LoadedFunction`] as an [`Invoker`]: waits for a permit, then runs the
/// invocation on the blocking pool.
pub struct FunctionInvoker {
    function: Arc<LoadedFunction>,
    bridge: Option<Arc<dyn StoreBridge>>,
}

impl FunctionInvoker {
    /// Invokes `function` with the runtime's store bridge.
    pub fn new(function: Arc<LoadedFunction>) -> Self {
        FunctionInvoker { function, bridge: None }
    }

    /// Invokes with `bridge` instead of the runtime's.
    pub fn with_bridge(function: Arc<LoadedFunction>, bridge: Arc<dyn StoreBridge>) -> Self {
        FunctionInvoker { function, bridge: Some(bridge) }
    }
}

impl Invoker for FunctionInvoker {
    fn function_arn(&self) -> String {
        self.function.config().arn.clone()
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let function = self.function.clone();
        let bridge = self.bridge.clone();
        Box::pin(async move {
            let permit = function.acquire().await;
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut options = InvokeOptions::new()
                .request_id(request_id.clone())
                .chain_depth(request.chain_depth)
                .cancel(request.cancel.clone());
            let bridge = bridge.unwrap_or_else(|| function.bridge());
            let deferring = match request.deferring(bridge.as_ref(), &request_id) {
                Ok(d) => d,
                Err(outcome) => return outcome,
            };
            options = options.bridge(deferring.clone().map_or(bridge, |d| d as Arc<dyn StoreBridge>));
            let run = tokio::task::spawn_blocking(move || function.invoke(permit, &request.event, options));
            InvokeOutcome::of(run.await, request_id).with_writes(deferring.as_deref())
        })
    }
}

impl InvokeOutcome {
    /// An invocation that failed before it ran.
    pub fn failed(request_id: String, error_type: &str, message: impl Into<String>) -> InvokeOutcome {
        InvokeOutcome {
            request_id,
            result: Err(InvokeError { error_type: error_type.into(), message: message.into(), unhandled: true }),
            writes: Vec::new(),
            executed_version: LATEST.into(),
        }
    }

    /// As run by `version` (`$LATEST` or a published version's number).
    pub fn executed(mut self, version: &str) -> InvokeOutcome {
        self.executed_version = version.into();
        self
    }

    /// With the writes `deferring` recorded, if the invocation succeeded
    /// (a failed one's writes are dropped).
    pub fn with_writes(mut self, deferring: Option<&dyn DeferringBridge>) -> InvokeOutcome {
        if let Some(d) = deferring {
            let writes = d.take();
            if self.result.is_ok() {
                self.writes = writes;
            }
        }
        self
    }

    /// The outcome of an invocation run on the blocking pool (`request_id`
    /// names it if the task itself failed).
    pub fn of(run: Result<crate::Invocation, tokio::task::JoinError>, request_id: String) -> InvokeOutcome {
        match run {
            Ok(invocation) => InvokeOutcome {
                request_id: invocation.request_id,
                result: invocation.result.map_err(|e| InvokeError {
                    unhandled: e.kind != FunctionErrorKind::Returned,
                    error_type: e.error_type,
                    message: e.error_message,
                }),
                writes: Vec::new(),
                executed_version: LATEST.into(),
            },
            Err(e) => {
                InvokeOutcome::failed(request_id, "Runtime.ExitError", format!("the invocation did not finish: {e}"))
            }
        }
    }
}
