//! Tidepool's wasm host: runs WebAssembly components that target the `tidepool:handler` world
//! (`wit/`) the way Lambda runs functions.
//!
//! - [`Runtime::compile`] compiles a component once, at deploy, and keeps the precompiled form on
//!   disk keyed by the SHA-256 of its bytes; a restart maps it back without compiling.
//! - [`Runtime::load_function`] pairs code with a [`FunctionConfig`] (timeout, memory,
//!   environment, reserved concurrency) into a [`LoadedFunction`].
//! - [`LoadedFunction::invoke`] runs one event in a fresh instance (pooling allocator,
//!   `InstancePre`), under the timeout (epoch interruption) and the memory limit (a store
//!   limiter), and returns an [`Invocation`]: the response or a Lambda-shaped [`FunctionError`],
//!   the captured logs, the duration and the peak memory. Each invocation reserves its memory
//!   size in the runtime's guest memory budget ([`RuntimeConfig::max_guest_memory_mb`]), and a
//!   response or error past Lambda's 6 MB is measured in the guest, never copied out.
//! - Guests reach the DynamoDB API through a [`StoreBridge`] the embedder provides: with the
//!   `store` import, or with an AWS SDK over `wasi:http` to the server's own endpoint, served in
//!   process (`outbound.rs`); other hosts only where the function allows them.
//!
//! The API is synchronous: async callers take a permit with [`LoadedFunction::acquire`] and run
//! [`LoadedFunction::invoke`] in `spawn_blocking`. Inside, an invocation is driven by a
//! current-thread tokio executor of the invoking thread (wasmtime's async calls), so that a
//! timeout also stops a guest that waits in a WASI sleep.

mod bindings;
mod bridge;
mod code;
mod config;
pub mod cron;
pub mod endpoint;
mod error;
pub mod esm;
pub mod examples;
mod function;
mod host;
mod invocation;
pub mod limits;
mod logs;
mod outbound;
mod payload;
pub mod registry;
mod runtime;
pub mod text;
mod ticker;

pub use bridge::{
    DeferredCall, DeferringBridge, HttpFuture, InvocationOrigin, NoStore, StoreBridge, StoreCallError, WireResponse,
};
pub use code::{CodeHash, InvalidCodeHash};
pub use config::{ALLOWED_HOSTS_VARIABLE, ENDPOINT_VARIABLE, FunctionConfig, RuntimeConfig};
pub use error::RuntimeError;
pub use function::{InvokePermit, LoadedFunction};
pub use invocation::{FunctionError, FunctionErrorKind, Invocation, InvokeOptions, ThrottleReason, Throttled};
pub use runtime::{HANDLER_WORLD, Runtime, RuntimeStats, not_a_component};
