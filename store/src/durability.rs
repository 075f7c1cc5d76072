//! Durability modes and group commit.
//!
//! Every commit is written to fjall's journal and handed to the operating
//! system before it is acknowledged, so it survives the process being killed.
//! The hand-off (a `write` of the journal buffer) happens after the writer has
//! left the store's write lock, and concurrent writers share one: the first
//! to arrive flushes for all (group flush). What differs is when the journal
//! reaches the disk:
//! - [`Durability::Sync`]: the write is acknowledged only after an fsync that
//!   covers it. Concurrent writers share one fsync (group commit), so the cost
//!   is one fsync per group, not per write. Survives power loss.
//! - [`Durability::Buffered`]: a background thread fsyncs every
//!   `flush_interval`. A power loss or OS crash can lose at most that window.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{Database, PersistMode};

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync before acknowledging, shared across concurrent writers.
    Sync,
    /// fsync in the background at this interval.
    Buffered { flush_interval: Duration },
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Buffered { flush_interval: Duration::from_millis(100) }
    }
}

#[derive(Default)]
struct State {
    /// Highest commit ticket handed out.
    requested: u64,
    /// Highest ticket known to be on disk.
    synced: u64,
    /// Highest ticket known to be handed to the operating system.
    flushed: u64,
    /// A writer is flushing the journal buffer for everyone.
    flushing: bool,
    failed: bool,
    shutdown: bool,
}

/// Shares fsyncs between writers and runs the background flusher.
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Writers wait here for their ticket to be synced (or flushed).
    synced_cv: Condvar,
    db: Database,
    /// The flusher waits here for work or its interval.
    work_cv: Condvar,
    mode: Durability,
}

impl GroupCommit {
    pub(crate) fn start(db: Database, mode: Durability) -> (Arc<Self>, JoinHandle<()>) {
        let gc = Arc::new(GroupCommit {
            state: Mutex::new(State::default()),
            synced_cv: Condvar::new(),
            work_cv: Condvar::new(),
            mode,
            db: db.clone(),
        });
        let worker = gc.clone();
        let handle = std::thread::Builder::new()
            .name("tidepool-fsync".into())
            .spawn(move || worker.run(&db))
            .expect("spawn the fsync thread");
        (gc, handle)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, db: &Database) {
        loop {
            let target = {
                let mut st = self.lock();
                match self.mode {
                    Durability::Sync => {
                        while st.requested == st.synced && !st.shutdown {
                            st = self.work_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    Durability::Buffered { flush_interval } => {
                        if !st.shutdown {
                            st = self.work_cv.wait_timeout(st, flush_interval).unwrap_or_else(|p| p.into_inner()).0;
                        }
                    }
                }
                if st.shutdown {
                    return;
                }
                st.requested
            };
            let result = db.persist(PersistMode::SyncAll);
            let mut st = self.lock();
            match result {
                Ok(()) => {
                    st.synced = st.synced.max(target);
                    st.flushed = st.flushed.max(target);
                }
                Err(e) => {
                    tracing::error!(error = %e, "fsync of the journal failed; refusing further writes");
                    st.failed = true;
                }
            }
            self.synced_cv.notify_all();
        }
    }

    /// Registers a finished commit; returns its ticket. Call in commit order.
    pub(crate) fn register(&self) -> u64 {
        let mut st = self.lock();
        st.requested += 1;
        st.requested
    }

    /// Blocks until `ticket` is handed to the operating system (buffered
    /// mode) or on disk (sync mode). Returns false if that failed.
    pub(crate) fn wait(&self, ticket: u64) -> bool {
        if self.mode != Durability::Sync {
            return self.flush(ticket);
        }
        let mut st = self.lock();
        self.work_cv.notify_one();
        while st.synced < ticket && !st.failed && !st.shutdown {
            st = self.synced_cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        !st.failed
    }

    /// Group flush: the first waiter writes the journal buffer out for every
    /// commit registered so far; the others wait for it.
    fn flush(&self, ticket: u64) -> bool {
        let mut st = self.lock();
        loop {
            if st.failed {
                return false;
            }
            if st.flushed >= ticket {
                return true;
            }
            if st.flushing {
                st = self.synced_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.flushing = true;
            let target = st.requested;
            drop(st);
            let result = self.db.persist(PersistMode::Buffer);
            st = self.lock();
            st.flushing = false;
            match result {
                Ok(()) => st.flushed = st.flushed.max(target),
                Err(e) => {
                    tracing::error!(error = %e, "writing the journal failed; refusing further writes");
                    st.failed = true;
                }
            }
            self.synced_cv.notify_all();
        }
    }

    pub(crate) fn failed(&self) -> bool {
        self.lock().failed
    }

    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.work_cv.notify_all();
        self.synced_cv.notify_all();
    }
}
