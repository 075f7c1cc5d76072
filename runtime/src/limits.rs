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

/// Guest memory reserved at once over all running invocations, in MB: each invocation reserves
/// its function's memory size (at most what a wasm32 guest can address) before it starts, and
/// the host's RAM is what runs out otherwise (32 invocations of Lambda's default 128 MB, or one
/// of 4 GB). Past it a synchronous invoke is throttled (`TooManyRequestsException`) and
/// stream, schedule and asynchronous invocations wait their turn.
pub const DEFAULT_MAX_GUEST_MEMORY_MB: u32 = 4096;

/// Captured log text kept per invocation: CloudWatch's limit on one log event. Older output is
/// dropped first, so a crash's last words survive.
pub const DEFAULT_MAX_LOG_BYTES: usize = 256 * 1024;

/// One line of a guest's output at most: CloudWatch Logs' largest event (256 KB, less the 26
/// bytes it counts per event). A longer line keeps its head and ends in a marker saying how many
/// bytes were cut.
pub const MAX_LOG_LINE_BYTES: usize = 256 * 1024 - 26;

/// What the server's own log (`tracing`) copies of a guest's text (an error message, a log
/// line): enough to read, never a whole payload; the rest is cut with a marker.
pub const MAX_LOGGED_TEXT_BYTES: usize = 4 * 1024;

/// Lambda's limit on a synchronous response payload, and on an error object's (both are "the
/// response"): 6 MiB and 100 bytes, the figure Lambda's own error names ("Response payload size
/// (N bytes) exceeded maximum allowed payload size (6291556 bytes)."). A larger one is a
/// `Function.ResponseSizeTooLarge` function error. The guest's strings are measured before they
/// are copied, so a larger one is never held by the host.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// The largest request a guest's `store.call` passes: DynamoDB's limit on a request (16 MB). A
/// larger one is refused with DynamoDB's `RequestEntityTooLarge` before the host copies it.
pub const MAX_STORE_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// HTTP requests one invocation may have open at once (`wasi:http`), from the request until its
/// response body is read or dropped: a handler's SDK sends one at a time, a fan-out a few. Each
/// holds a task and, for an allowed host, a connection (a descriptor); one to the server's own
/// endpoint holds its request and its answer in host memory, at most 16 MiB each, so an
/// invocation's requests hold at most 16 × 32 MiB besides its guest memory.
pub const MAX_OUTBOUND_IN_FLIGHT: usize = 16;

/// The longest operation name a guest's `store.call` passes: DynamoDB's longest
/// (`DescribeKinesisStreamingDestination`) has 35 bytes; a longer one names no operation, and is
/// refused (`UnknownOperationException`) without being copied.
pub const MAX_STORE_OPERATION_BYTES: usize = 256;

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
/// The most linear memory one instance can use, in MB: its memories (at most
/// [`MAX_MEMORIES_PER_COMPONENT`]) of 4 GiB each. A larger memory size reserves no more.
pub(crate) const MAX_GUEST_ADDRESSABLE_MB: u32 = MAX_MEMORIES_PER_COMPONENT * 4096;
/// Largest linear memory: all a wasm32 memory can address. The function's memory limit is
/// enforced below this by the store's limiter.
pub(crate) const MAX_LINEAR_MEMORY_BYTES: usize = 1 << 32;
/// Epoch ticks per second: the ticker's 1 ms period, and so the timeout's precision.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);
