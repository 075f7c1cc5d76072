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
    /// Set to end the invocation early, as its timeout would (a server shutting down
    /// interrupts the batches it will not checkpoint, rather than run them beside the worker
    /// that takes its shards over).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
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

    pub fn cancel(mut self, cancel: Option<Arc<std::sync::atomic::AtomicBool>>) -> Self {
        self.cancel = cancel;
        self
    }
}

impl fmt::Debug for InvokeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokeOptions")
            .field("request_id", &self.request_id)
            .field("chain_depth", &self.chain_depth)
            .field("bridge", &self.bridge.as_ref().map(|_| "..."))
            .field("cancel", &self.cancel)
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
    /// The version that ran: `$LATEST` or a published version's number.
    pub version: String,
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

    /// `{"errorMessage": ..., "errorType": ...}`, written straight from the two strings.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            #[serde(rename = "errorMessage")]
            error_message: &'a str,
            #[serde(rename = "errorType")]
            error_type: &'a str,
        }
        let wire = Wire { error_message: &self.error_message, error_type: &self.error_type };
        let mut out = Vec::with_capacity(self.json_len());
        serde_json::to_writer(&mut out, &wire).expect("two strings always serialize");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The length of [`FunctionError::to_json`], counted without writing it.
    pub fn json_len(&self) -> usize {
        ERROR_JSON_OVERHEAD
            + json_string_len(self.error_message.as_bytes())
            + json_string_len(self.error_type.as_bytes())
    }
}

/// The bytes of an error object besides its two strings: `{"errorMessage":`, `,"errorType":`
/// and `}`.
pub(crate) const ERROR_JSON_OVERHEAD: usize = r#"{"errorMessage":,"errorType":}"#.len();

/// The bytes one byte of a UTF-8 string takes in JSON as `serde_json` writes it: `"` and `\`
/// and the short escapes (`\b \t \n \f \r`) two, other control characters six (`\u00XX`),
/// everything else (other ASCII, and each byte of a longer character) itself.
pub(crate) fn json_byte_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0x00..=0x1f => 6,
        _ => 1,
    }
}

/// The length of the UTF-8 string `bytes` as a JSON string, its quotes included.
pub(crate) fn json_string_len(bytes: &[u8]) -> usize {
    2 + bytes.iter().map(|&b| json_byte_len(b)).sum::<usize>()
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
    /// The invocations running hold the runtime's `max_guest_memory_mb`, and this one's memory
    /// size does not fit beside them. Lambda's `Reason` has no memory variant: it is reported as
    /// `ConcurrentInvocationLimitExceeded`, with its own message.
    GuestMemoryLimitExceeded,
}

impl ThrottleReason {
    /// Lambda's `Reason` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::ConcurrentInvocationLimitExceeded | ThrottleReason::GuestMemoryLimitExceeded => {
                "ConcurrentInvocationLimitExceeded"
            }
        }
    }

    /// The `message` of the `TooManyRequestsException`: Lambda's `Rate Exceeded.`, and for the
    /// guest memory budget what ran out.
    pub fn message(&self) -> &'static str {
        match self {
            ThrottleReason::GuestMemoryLimitExceeded => {
                "Rate Exceeded. The invocations running hold the server's guest memory budget; retry later."
            }
            _ => "Rate Exceeded.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_objects_length_is_counted_as_serde_json_writes_it() {
        let nasty = "quote \" slash \\ newline \n tab \t bell \u{7} nul \0 del \u{7f} é 日本 🎉 \u{8}\u{c}\r /";
        for (error_type, error_message) in [("", ""), ("T", nasty), (nasty, "plain"), ("BigError", &"e".repeat(1000))] {
            let error = FunctionError::new(error_type, error_message, FunctionErrorKind::Returned);
            let json = error.to_json();
            assert_eq!(error.json_len(), json.len(), "{json}");
            let back: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(back, serde_json::json!({"errorType": error_type, "errorMessage": error_message}));
        }
    }
}
