//! The limits on client connections and the process's descriptor budget.

use std::time::Duration;

/// A client must send a complete request head within this long of
/// connecting, or of sending the head's first byte on a kept-alive
/// connection: an SDK writes a head in one go, so 10 s covers a stalled
/// network path while cutting slow-header clients (slowloris) off early
/// (Go's servers commonly use 10 s; hyper's default is 30 s).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A kept-alive connection with no request in flight is closed after this
/// long: AWS load balancers and API Gateway close idle connections after
/// 60 s, so clients expect it, and the AWS SDKs reconnect transparently.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A request body must arrive in full within this long of its head: 60 s
/// carries Lambda's largest direct upload (50 MB) over a link of about
/// 1 MB/s and stops bodies that trickle in to hold a connection forever.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection whose client reads none of its response for this long is
/// closed (nginx's `send_timeout`): a client that stops reading would
/// otherwise hold the connection and the response in memory forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection's read buffer, which a request head must fit in: AWS
/// services take far smaller heads (a DynamoDB request's is under 2 KiB),
/// and it bounds the memory an idle or slow connection can pin to this
/// times [`MAX_CONNECTIONS`] (256 MiB at most; hyper's default is 400 KiB).
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Connections served at once, at most, whatever the descriptor limit: each
/// costs a task and up to [`READ_BUFFER_BYTES`] of buffer, and a local
/// DynamoDB serves tests and tools, not thousands of clients.
pub const MAX_CONNECTIONS: usize = 4096;

/// Connections served at once, at least, however low the descriptor limit:
/// fewer than an SDK's typical pool would throttle a single client.
pub const MIN_CONNECTIONS: usize = 16;

/// Sockets accepted beyond [`HttpLimits::max_connections`], as a fraction
/// (1/8) of it: each is answered with a throttling error or takes the place
/// of an idle connection it replaced, so that a full server answers rather
/// than leaving clients in the listen backlog.
const OVERFLOW_DIVISOR: usize = 8;
/// The fewest overflow sockets: a small server must still be able to answer.
const MIN_OVERFLOW: usize = 2;
/// The most overflow sockets: past this many at once the backlog holds the rest.
const MAX_OVERFLOW: usize = 64;

/// Descriptors left to what no share of the budget counts: stdio, the
/// listener, the runtime's epoll and event descriptors, fjall's journals,
/// lock and version files, table files being written by flushes and
/// compactions, function code files and wasmtime's memory images, and the
/// fsync thread's journal handles. The reserve is this or an eighth of the
/// limit, whichever is more.
pub const DESCRIPTOR_RESERVE: u64 = 96;
/// The reserve's share of a large descriptor limit (1/8).
const RESERVE_DIVISOR: u64 = 8;

/// Table files fjall keeps open at most, however high the limit: about a
/// terabyte of 64 MiB tables; past that a reopen per cold read costs little.
pub const MAX_TABLE_FILES: usize = 8192;
/// Table files fjall keeps open at least (fjall refuses fewer than 10): a
/// store a bit beyond its first levels without reopening files per read.
pub const MIN_TABLE_FILES: usize = 16;

/// The bounds on client connections ([`crate::ServerConfig::http`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Client connections served at once; 0 derives it from the process's
    /// descriptor limit ([`DescriptorBudget`]). A connection past it takes
    /// the place of the connection idle the longest (one between requests
    /// or that has sent nothing yet), or, when every connection is busy,
    /// is answered with a retryable throttling error and closed.
    pub max_connections: usize,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 0,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// How the process's descriptors are shared out.
///
/// With `limit` the soft `RLIMIT_NOFILE`:
/// - `reserve = max(DESCRIPTOR_RESERVE, limit / 8)`, for what is not counted;
/// - `share = limit - reserve`, half for connections, half for table files;
/// - `connections = clamp(share/2 × 8/9, MIN_CONNECTIONS, MAX_CONNECTIONS)`
///   (unless set), plus `overflow = clamp(connections / 8, 2, 64)` sockets
///   accepted past it to be answered; the two make up about `share / 2`;
/// - `table_files = clamp(share - connections - overflow, MIN_TABLE_FILES,
///   MAX_TABLE_FILES)`, fjall's descriptor cache.
///
/// At `ulimit -n 256`: 71 connections + 8 overflow, 81 table files, 96
/// reserved. At 1024: 398 + 49, 449, 128. A limit too small for the minimums
/// is logged at WARN and the minimums are used regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The soft open-file limit the budget was cut from (`u64::MAX`: none).
    pub limit: u64,
    /// Client connections served at once.
    pub connections: usize,
    /// Sockets accepted past `connections`, to be throttled or to replace
    /// an idle connection.
    pub overflow: usize,
    /// fjall's table-file descriptor cache (`StoreConfig::max_cached_files`).
    pub table_files: usize,
    /// Left for everything else.
    pub reserve: u64,
}

impl DescriptorBudget {
    /// The budget for a soft open-file limit of `limit`; `max_connections`
    /// other than 0 fixes the connection count instead of deriving it.
    pub fn new(limit: u64, max_connections: usize) -> Self {
        let reserve = DESCRIPTOR_RESERVE.max(limit / RESERVE_DIVISOR);
        let share = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
        let connections = if max_connections > 0 {
            max_connections
        } else {
            ((share / 2).saturating_mul(8) / 9).clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
        };
        let overflow = (connections / OVERFLOW_DIVISOR).clamp(MIN_OVERFLOW, MAX_OVERFLOW);
        let table_files =
            share.saturating_sub(connections.saturating_add(overflow)).clamp(MIN_TABLE_FILES, MAX_TABLE_FILES);
        DescriptorBudget { limit, connections, overflow, table_files, reserve }
    }

    /// True when the minimums did not fit in the limit.
    pub fn overcommitted(&self) -> bool {
        let used = (self.connections + self.overflow + self.table_files) as u64;
        used.saturating_add(self.reserve) > self.limit
    }
}

/// The process's soft open-file limit (`u64::MAX` when unlimited or unknown).
pub fn descriptor_limit() -> u64 {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX)
    }
    #[cfg(not(unix))]
    {
        u64::MAX
    }
}

/// Raises the soft open-file limit to the hard limit, as Go's runtime does
/// at start: the soft limit (often 1024) exists for programs that use
/// `select`, which this one does not. Returns the limit now in force.
pub fn raise_descriptor_limit() -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
        let Some(current) = current else { return Ok(u64::MAX) };
        // An unlimited hard limit still cannot be the soft one (Linux caps
        // it at `fs.nr_open`, macOS at `kern.maxfilesperproc`).
        let target = maximum.unwrap_or(UNLIMITED_TARGET);
        if current >= target {
            return Ok(current);
        }
        setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum })?;
        Ok(target)
    }
    #[cfg(not(unix))]
    {
        Ok(u64::MAX)
    }
}

/// The soft limit asked for when the hard limit is unlimited: Linux's
/// default `fs.nr_open`, far past what the budget's maximums use.
#[cfg(unix)]
const UNLIMITED_TARGET: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_shares_the_limit_and_adds_up() {
        for limit in [256u64, 1024, 4096, 20_000, 1 << 20] {
            let b = DescriptorBudget::new(limit, 0);
            assert!(!b.overcommitted(), "{b:?}");
            assert!(b.connections >= MIN_CONNECTIONS && b.connections <= MAX_CONNECTIONS, "{b:?}");
            assert!(b.table_files >= MIN_TABLE_FILES && b.table_files <= MAX_TABLE_FILES, "{b:?}");
        }
        assert_eq!(
            DescriptorBudget::new(256, 0),
            DescriptorBudget { limit: 256, connections: 71, overflow: 8, table_files: 81, reserve: 96 }
        );
        assert_eq!(
            DescriptorBudget::new(1024, 0),
            DescriptorBudget { limit: 1024, connections: 398, overflow: 49, table_files: 449, reserve: 128 }
        );
    }

    #[test]
    fn a_limit_too_small_keeps_the_minimums_and_says_so() {
        let b = DescriptorBudget::new(64, 0);
        assert_eq!((b.connections, b.overflow, b.table_files), (MIN_CONNECTIONS, MIN_OVERFLOW, MIN_TABLE_FILES));
        assert!(b.overcommitted());
    }

    #[test]
    fn unlimited_descriptors_are_capped_by_the_constants() {
        let b = DescriptorBudget::new(u64::MAX, 0);
        assert_eq!((b.connections, b.overflow, b.table_files), (MAX_CONNECTIONS, MAX_OVERFLOW, MAX_TABLE_FILES));
    }

    #[test]
    fn an_explicit_connection_count_wins_and_table_files_take_the_rest() {
        let b = DescriptorBudget::new(1024, 100);
        assert_eq!((b.connections, b.overflow, b.table_files), (100, 12, 896 - 112));
    }
}
