//! What an invocation is given and what it returns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::bridge::StoreBridge;

/// Per-invocation options.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct InvokeOptions {
    /// The request id; a fresh UUID when `None`.
    pub request_id: Option<String>,
    /// Opaque to the runtime, handed to the store bridge in [`InvocationOrigin`](crate::InvocationOrigin):
    /// the invoker's count of triggers in the chain that led here.
    pub chain_depth: u32,
    /// The store bridge for this invocation, instead of the runtime's (for example one that
    /// collects the writes to commit them with a checkpoint).
    pub bridge: Option<Arc<dyn StoreBridge>>,
}

impl InvokeOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    pub fn chain_depth(mut self, chain_depth: u32) -> Self {
        self.chain_depth = chain_depth;
        self
    }

    pub fn bridge(mut self, bridge: Arc<dyn StoreBridge>) -> Self {
        self.bridge = Some(bridge);
        self
    }
}

impl fmt::Debug for InvokeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokeOptions")
            .field("request_id", &self.request_id)
            .field("chain_depth", &self.chain_depth)
            .field("bridge", &self.bridge.as_ref().map(|_| "..."))
            .finish()
    }
}

/// One finished invocation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Invocation {
    pub request_id: String,
    /// The response payload (JSON, as the guest returned it) or the function's error.
    pub result: Result<String, FunctionError>,
    /// stdout, stderr and `log` calls, interleaved; the newest bytes when it was too long.
    pub logs: String,
    /// Older log bytes dropped to keep `logs` within the runtime's `max_log_bytes`.
    pub logs_dropped_bytes: u64,
    /// From the start of instantiation to the handler's return (or the trap).
    pub duration: Duration,
    /// `duration` rounded up to the millisecond, as Lambda bills.
    pub billed_duration_ms: u64,
    /// The function's memory size.
    pub memory_size_mb: u32,
    /// The guest's peak linear memory, rounded up to the MB.
    pub max_memory_used_mb: u32,
}

impl Invocation {
    /// The payload Lambda returns: the response, or `{"errorType": ..., "errorMessage": ...}`.
    pub fn payload(&self) -> String {
        match &self.result {
            Ok(response) => response.clone(),
            Err(error) => error.to_json(),
        }
    }

    /// Lambda's `REPORT` log line.
    pub fn report_line(&self) -> String {
        format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id,
            self.duration.as_secs_f64() * 1000.0,
            self.billed_duration_ms,
            self.memory_size_mb,
            self.max_memory_used_mb,
        )
    }
}

/// A function error, in Lambda's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionError {
    pub error_type: String,
    pub error_message: String,
    pub kind: FunctionErrorKind,
}

/// Where a function error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FunctionErrorKind {
    /// The handler returned it: its own `errorType` and `errorMessage`.
    Returned,
    /// The guest trapped (a panic, `unreachable`, a bad memory access) or exited:
    /// `Runtime.ExitError`.
    Crashed,
    /// The timeout interrupted it: `Sandbox.Timedout`.
    Timeout,
    /// It grew its memory past the function's memory size: `Runtime.OutOfMemory`.
    OutOfMemory,
    /// It returned a response larger than Lambda allows: `Function.ResponseSizeTooLarge`.
    ResponseTooLarge,
}

impl FunctionError {
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>, kind: FunctionErrorKind) -> Self {
        FunctionError { error_type: error_type.into(), error_message: error_message.into(), kind }
    }

    /// Lambda's `X-Amz-Function-Error` value: `Handled` when the handler returned the error,
    /// `Unhandled` when the runtime detected it.
    pub fn function_error_header(&self) -> &'static str {
        match self.kind {
            FunctionErrorKind::Returned => "Handled",
            _ => "Unhandled",
        }
    }

    /// `{"errorType": ..., "errorMessage": ...}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({"errorType": self.error_type, "errorMessage": self.error_message}).to_string()
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// An invocation refused because too many run at once: Lambda's `TooManyRequestsException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Rate Exceeded.")]
pub struct Throttled {
    pub reason: ThrottleReason,
}

/// Lambda's `Reason` of a `TooManyRequestsException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleReason {
    /// The function's reserved concurrency is in use.
    ReservedFunctionConcurrentInvocationLimitExceeded,
    /// The runtime's `max_concurrency` is in use.
    ConcurrentInvocationLimitExceeded,
}

impl ThrottleReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::ConcurrentInvocationLimitExceeded => "ConcurrentInvocationLimitExceeded",
        }
    }
}
