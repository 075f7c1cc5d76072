//! Recovery from a failed write, without an operator.
//!
//! Once a journal write, a flush or an fsync fails (a full disk, a quota, a
//! file-size limit, an I/O error), the journal's state on disk is unknown:
//! the kernel may have kept part of a batch, or dropped dirty pages. fjall
//! then refuses every write ("poisons" itself) and advises to crash and
//! recover; the store refuses writes too ([`Store::write_failure`]). Reads
//! go on, and writes answer a retryable error (`ThrottlingException` when
//! out of space, `InternalServerError` otherwise; a write that was being
//! handed to the disk when it failed gets a 500 too: its outcome is
//! unknown).
//!
//! Recovery is what a restart does: opening the data directory reads the
//! journal back to its last whole, checksummed batch, so every acknowledged
//! write is there and a torn one is not. The server does it on its own:
//! [`until_restart_is_due`] watches the store, and once a write has failed
//! it waits until the data directory's file system has room
//! ([`tidepool_store::space::headroom`]), then [`restart`] replaces the
//! process with a fresh copy of its binary (`exec`), same arguments, same
//! port, same process id. To the clients it looks like a restart after
//! `kill -9` (`tests/recovery.rs` shows nothing acknowledged is lost):
//! connections are closed once in-flight requests have had [`DRAIN`], and
//! the port refuses connections for the restart's fraction of a second.
//!
//! Only running out of space restarts the server, and only when the write
//! that failed was a hand-off (`write`), a flush or a compaction: then the
//! kernel took none of what failed, and the journal is whole. After a failed
//! fsync, or any other I/O error, the kernel may have dropped pages it
//! could not write, and a journal read back from the page cache could hide
//! a hole until a power loss; writes then stay paused until an operator
//! restarts the server.
//!
//! A failure that comes back straight after a restart backs off: each restart within [`STABLE_AFTER`] of the last doubles the
//! wait before the next, up to [`MAX_BACKOFF`].
//!
//! An `--in-memory` server keeps its data in a temporary directory that a
//! new process cannot adopt, so it does not restart: its writes stay paused
//! (and say so) until it is restarted by hand.

use std::time::{Duration, Instant};

use tidepool_store::{Store, WriteFailure};

/// How often the store is checked for a failed write, and the file system
/// for room once one has failed.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long in-flight requests get to finish before the process is
/// replaced; trigger delivery and schedules stop within it too (their
/// checkpoints are in the store, as after `kill -9`).
pub const DRAIN: Duration = Duration::from_secs(2);

/// A server that ran this long without a failed write starts its backoff
/// over.
pub const STABLE_AFTER: Duration = Duration::from_secs(300);

/// The longest wait between two restarts for the same failure.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Carries the number of restarts in a row to the new process.
const ATTEMPT_ENV: &str = "TIDEPOOL_RECOVERY_ATTEMPT";

/// Carries the port to listen on to the new process, so that a server
/// started with `--port 0` comes back where its clients are.
pub const PORT_ENV: &str = "TIDEPOOL_RECOVERY_PORT";

/// How often a restarted server tries to open its store again before it
/// gives up and exits (about four minutes with [`backoff`]).
pub const MAX_START_TRIES: u32 = 8;

/// Restarts in a row so far: 0 in a server started by hand.
pub fn attempt() -> u32 {
    std::env::var(ATTEMPT_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The port a restarted server listens on, if this process is one.
pub fn inherited_port() -> Option<u16> {
    std::env::var(PORT_ENV).ok().and_then(|v| v.parse().ok())
}

/// The wait before restart number `attempt` (0 for the first).
pub fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << attempt.min(6)).min(MAX_BACKOFF)
}

/// Resolves once the store has refused a write and the data directory has
/// room again: the moment to [`restart`]. Never resolves for a store in a
/// temporary directory (`--in-memory`). Returns the restarts in a row this
/// one will be.
pub async fn until_restart_is_due(store: &Store, persistent: bool, started: Instant) -> u32 {
    let failure = loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        if let Some(f) = store.write_failure() {
            break f;
        }
    };
    if !persistent {
        tracing::error!(
            "{failure}; an --in-memory server cannot restart itself without losing its data, \
             so writes stay paused until it is restarted"
        );
        return std::future::pending().await;
    }
    if failure != WriteFailure::OutOfSpace {
        tracing::error!(
            "{failure}; it was not for want of space (a failed fsync, an I/O error), so the journal \
             may not be whole on disk: writes stay paused until the server is restarted by hand \
             (after checking the disk)"
        );
        return std::future::pending().await;
    }
    let attempt = if started.elapsed() >= STABLE_AFTER { 1 } else { attempt() + 1 };
    let wait = backoff(attempt - 1);
    tracing::error!(
        %failure,
        attempt,
        wait_secs = wait.as_secs(),
        "a write failed; reads go on, writes are refused until the server has restarted itself, \
         once the data directory has room"
    );
    tokio::time::sleep(wait).await;
    let dir = store.path().to_path_buf();
    let mut logged = false;
    loop {
        let probe = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || tidepool_store::space::headroom(&dir)).await
        };
        match probe {
            Ok(Ok(bytes)) => {
                tracing::info!(bytes, "the data directory has room again; restarting to reopen the store");
                return attempt;
            }
            Ok(Err(e)) if !logged => {
                let full = WriteFailure::of_io(&e) == WriteFailure::OutOfSpace;
                tracing::warn!(error = %e, full, "waiting for room in the data directory");
                logged = true;
            }
            _ => {}
        }
        tokio::time::sleep(CHECK_INTERVAL).await;
    }
}

/// Replaces this process with a fresh copy of its binary: the same
/// arguments and environment, plus the port it listened on and the
/// restarts in a row. Returns only if that failed.
pub fn restart(port: u16, attempt: u32) -> std::io::Error {
    // `/proc/self/exe` is the running binary even if its file was replaced
    // or removed since (a rebuild); `current_exe` would name the new one.
    let exe = if cfg!(target_os = "linux") {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return e,
        }
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "tidepool".into());
    let mut command = std::process::Command::new(exe);
    command.args(args).env(PORT_ENV, port.to_string()).env(ATTEMPT_ENV, attempt.to_string());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.arg0(arg0).exec()
    }
    #[cfg(not(unix))]
    {
        let _ = arg0;
        std::io::Error::new(std::io::ErrorKind::Unsupported, "restarting in place needs a Unix exec")
    }
}

/// Makes a file-size limit (`ulimit -f`) fail the write that crosses it
/// with `EFBIG`, as a full disk fails it with `ENOSPC`, instead of killing
/// the process with `SIGXFSZ` (its default action): the server then
/// recovers as from a full disk. Call within the async runtime.
pub fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // tokio's handler stays installed for the life of the process.
        let raw = rustix::process::Signal::XFSZ.as_raw();
        if let Err(e) = signal(SignalKind::from_raw(raw)) {
            tracing::warn!(error = %e, "could not handle SIGXFSZ; a file-size limit will end the process");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(4));
        assert_eq!(backoff(5), Duration::from_secs(32));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
