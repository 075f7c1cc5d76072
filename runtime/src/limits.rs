//! Limits of functions and of the host, each with its reason.

use std::time::Duration;

/// Lambda's default function timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Lambda's range of function timeouts, in seconds.
pub const TIMEOUT_SECONDS: std::ops::RangeInclusive<u64> = 1..=900;

/// Lambda's default function memory, in MB.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Lambda's range of function memory sizes, in MB. A wasm32 guest cannot address more than 4096.
pub const MEMORY_MB: std::ops::RangeInclusive<u32> = 128..=10_240;

/// Lambda's limit on the total size of a function's environment variables (names and values).
pub const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;

/// Invocations running at once in one runtime, over all functions (Lambda's account-level
/// concurrency, 1000 on AWS; one machine serves far fewer). Each one holds a slot of the pooling
/// allocator, which reserves address space (not memory) for it up front.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;

/// Captured log text kept per invocation: CloudWatch's limit on one log event. Older output is
/// dropped first, so a crash's last words survive.
pub const DEFAULT_MAX_LOG_BYTES: usize = 256 * 1024;

/// Lambda's limit on a synchronous response payload; a larger one is a function error.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Core wasm instances one component may create (a Rust guest uses 3 or 4; interpreters more).
pub(crate) const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Linear memories one component may create (a Rust, Python or JS guest uses one).
pub(crate) const MAX_MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables one component may create (a Rust guest uses 2).
pub(crate) const MAX_TABLES_PER_COMPONENT: u32 = 8;
/// Elements of one table: function pointers of the guest; C# debug builds were seen with 10k+.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Size of one instance's host-side state (vmctx), the pooling allocator's default.
pub(crate) const MAX_CORE_INSTANCE_BYTES: usize = 1 << 20;
/// Largest linear memory: all a wasm32 memory can address. The function's memory limit is
/// enforced below this by the store's limiter.
pub(crate) const MAX_LINEAR_MEMORY_BYTES: usize = 1 << 32;
/// Epoch ticks per second: the ticker's 1 ms period, and so the timeout's precision.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);
