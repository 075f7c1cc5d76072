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
//!
//! Either way the fsync runs outside fjall's journal lock (see
//! `sync_journal`): writers keep committing while it runs, and the next group
//! forms meanwhile.
//!
//! Failures: that fsync opens each journal file anew, which can fail when the
//! process is out of descriptors (EMFILE, ENFILE) or memory. Nothing has been
//! done to the data then (the commits are in the page cache and fjall's
//! journal is intact), so the fsync falls back to fjall's own, through the
//! descriptor fjall keeps open, and writes go on. A failed fsync or hand-off
//! is different: after one the kernel may have dropped the dirty pages, so
//! the journal is not known to be on disk, and writes are refused (fjall
//! poisons itself too) until the store is opened again, which the server
//! does by itself once the disk has room (`src/recovery.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{Database, PersistMode};

use crate::error::WriteFailure;

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
    /// Writers waiting on `synced_cv`; without any, a notification would
    /// only cost a futex call (std's condition variables make one
    /// regardless), once per write.
    waiters: usize,
    /// The sync-mode flusher is waiting on `work_cv`.
    idle: bool,
    /// Set by a failed fsync or hand-off: nothing more is acknowledged.
    failed: Option<WriteFailure>,
    shutdown: bool,
}

/// Shares fsyncs between writers and runs the background flusher.
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Writers wait here for their ticket to be synced (or flushed).
    synced_cv: Condvar,
    db: Database,
    /// The data directory.
    dir: PathBuf,
    /// The flusher waits here for work or its interval.
    work_cv: Condvar,
    mode: Durability,
}

impl GroupCommit {
    /// Starts the fsync thread for the database at `dir`.
    pub(crate) fn start(db: Database, dir: PathBuf, mode: Durability) -> (Arc<Self>, JoinHandle<()>) {
        let gc = Arc::new(GroupCommit {
            state: Mutex::new(State::default()),
            synced_cv: Condvar::new(),
            work_cv: Condvar::new(),
            mode,
            db: db.clone(),
            dir: dir.clone(),
        });
        let worker = gc.clone();
        let handle = std::thread::Builder::new()
            .name("tidepool-fsync".into())
            .spawn(move || worker.run(&db, &dir))
            .expect("spawn the fsync thread");
        (gc, handle)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, db: &Database, dir: &Path) {
        // Syncing under fjall's lock because a journal file could not be
        // opened; logged once when it starts and once when it ends.
        let mut fallback = false;
        loop {
            let target = {
                let mut st = self.lock();
                match self.mode {
                    Durability::Sync => {
                        // After a failed fsync nothing more is synced: wait
                        // for shutdown rather than retry in a loop.
                        while (st.requested == st.synced || st.failed.is_some()) && !st.shutdown {
                            st.idle = true;
                            st = self.work_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                            st.idle = false;
                        }
                    }
                    Durability::Buffered { flush_interval } => {
                        if !st.shutdown {
                            st = self.work_cv.wait_timeout(st, flush_interval).unwrap_or_else(|p| p.into_inner()).0;
                        }
                        // As above: one failure, logged once, is final.
                        while st.failed.is_some() && !st.shutdown {
                            st = self.work_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                }
                if st.shutdown {
                    return;
                }
                st.requested
            };
            let result = sync_journal(db, dir);
            match &result {
                Ok(Synced::Fallback(Some(e))) if !fallback => {
                    tracing::warn!(
                        error = %e,
                        "opening a journal file to fsync it failed; fsyncing through fjall's descriptor, \
                         under its journal lock, until it can be opened again"
                    );
                    fallback = true;
                }
                Ok(Synced::Files) if fallback => {
                    tracing::info!("journal files can be opened again; fsyncing outside fjall's lock");
                    fallback = false;
                }
                _ => {}
            }
            let mut st = self.lock();
            match result {
                Ok(_) => {
                    st.synced = st.synced.max(target);
                    st.flushed = st.flushed.max(target);
                }
                Err((failure, e)) => {
                    tracing::error!(error = %e, "fsync of the journal failed; refusing further writes");
                    st.failed = Some(failure);
                }
            }
            self.wake_waiters(&st);
        }
    }

    /// Wakes the writers waiting for a flush or an fsync, if any.
    fn wake_waiters(&self, st: &State) {
        if st.waiters > 0 {
            self.synced_cv.notify_all();
        }
    }

    /// Waits on `synced_cv`, counted in [`State::waiters`].
    fn wait_synced<'a>(&self, mut st: std::sync::MutexGuard<'a, State>) -> std::sync::MutexGuard<'a, State> {
        st.waiters += 1;
        let mut st = self.synced_cv.wait(st).unwrap_or_else(|p| p.into_inner());
        st.waiters -= 1;
        st
    }

    /// Registers a finished commit; returns its ticket. Call in commit order.
    pub(crate) fn register(&self) -> u64 {
        let mut st = self.lock();
        st.requested += 1;
        st.requested
    }

    /// Blocks until `ticket` is handed to the operating system (buffered
    /// mode) or on disk (sync mode). Fails if that failed.
    pub(crate) fn wait(&self, ticket: u64) -> Result<(), WriteFailure> {
        if self.mode != Durability::Sync {
            return self.flush(ticket);
        }
        let mut st = self.lock();
        if st.idle {
            self.work_cv.notify_one();
        }
        while st.synced < ticket && st.failed.is_none() && !st.shutdown {
            st = self.wait_synced(st);
        }
        st.failed.map_or(Ok(()), Err)
    }

    /// Group flush: the first waiter writes the journal buffer out for every
    /// commit registered so far; the others wait for it.
    fn flush(&self, ticket: u64) -> Result<(), WriteFailure> {
        let mut st = self.lock();
        loop {
            if let Some(failure) = st.failed {
                return Err(failure);
            }
            if st.flushed >= ticket {
                return Ok(());
            }
            if st.flushing {
                st = self.wait_synced(st);
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
                    st.failed = Some(WriteFailure::of_fjall(&e, &self.dir));
                }
            }
            self.wake_waiters(&st);
        }
    }

    pub(crate) fn failure(&self) -> Option<WriteFailure> {
        self.lock().failed
    }

    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.work_cv.notify_all();
        self.synced_cv.notify_all();
    }
}

/// How [`sync_journal`] made the commits durable.
#[derive(Debug)]
enum Synced {
    /// By fsyncing the journal files outside fjall's lock.
    Files,
    /// By fjall's fsync under its lock: no journal file was found (fjall laid
    /// its files out differently), or one could not be listed or opened for
    /// this reason.
    Fallback(Option<String>),
}

/// Makes every commit handed over so far durable: hands fjall's journal
/// buffer to the operating system (briefly, under fjall's journal lock),
/// then fsyncs the journal files outside that lock, so writers go on
/// committing during the fsync instead of queueing behind it. Sound because
/// fjall fsyncs a journal before it seals it and starts the next: the files
/// present after the hand-off hold every commit it covered. If no journal
/// file is found, or one cannot be opened (no descriptor left, no memory),
/// fjall fsyncs its active journal under its lock, through the descriptor it
/// holds: that needs no new one, and covers the same commits. An error here
/// is fatal: the hand-off or an fsync failed.
fn sync_journal(db: &Database, dir: &Path) -> Result<Synced, (WriteFailure, String)> {
    // A failed hand-off (`write`) is classified: out of space there means
    // the kernel took none of it, and a reopened journal is whole. A
    // failed fsync is not: after one the kernel may have dropped the
    // pages it could not write, so the journal may have a hole that only
    // a power loss would show; that is never recovered from automatically.
    let handed_over = |e: fjall::Error| (WriteFailure::of_fjall(&e, dir), e.to_string());
    let fsync_failed = |e: fjall::Error| (WriteFailure::Storage, e.to_string());
    db.persist(PersistMode::Buffer).map_err(handed_over)?;
    let why = match sync_journal_files(dir) {
        Ok(synced) if synced > 0 => return Ok(Synced::Files),
        Ok(_) => None,
        Err(JournalFileError::Open(e)) => Some(e),
        Err(JournalFileError::Sync(e)) => return Err(e),
    };
    db.persist(PersistMode::SyncAll).map_err(fsync_failed)?;
    Ok(Synced::Fallback(why))
}

/// Why fsyncing the journal files directly did not work.
enum JournalFileError {
    /// The directory could not be listed or a file opened: nothing was done.
    Open(String),
    /// An fsync failed: the file's state on disk is unknown.
    Sync((WriteFailure, String)),
}

/// Fsyncs every journal file in `dir`; returns how many.
fn sync_journal_files(dir: &Path) -> Result<usize, JournalFileError> {
    let open = |e: std::io::Error, what: &Path| JournalFileError::Open(format!("{}: {e}", what.display()));
    let mut synced = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| open(e, dir))? {
        let path = entry.map_err(|e| open(e, dir))?.path();
        if path.extension().is_none_or(|x| x != "jnl") {
            continue;
        }
        match std::fs::File::open(&path) {
            Ok(file) => file
                .sync_data()
                .map_err(|e| JournalFileError::Sync((WriteFailure::Storage, format!("{}: {e}", path.display()))))?,
            // Flushed and dropped by fjall since the listing: nothing to sync.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open(e, &path)),
        }
        synced += 1;
    }
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_files_are_found_and_synced_outside_fjalls_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).manual_journal_persist(true).open().unwrap();
        let ks = db.keyspace("k", fjall::KeyspaceCreateOptions::default).unwrap();
        ks.insert("a", "1").unwrap();
        // Not the fallback: fjall's journal is where this expects it.
        assert!(matches!(sync_journal(&db, dir.path()).unwrap(), Synced::Files));
    }

    #[test]
    fn a_journal_directory_that_cannot_be_listed_falls_back_to_fjalls_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).manual_journal_persist(true).open().unwrap();
        let ks = db.keyspace("k", fjall::KeyspaceCreateOptions::default).unwrap();
        ks.insert("a", "1").unwrap();
        let missing = dir.path().join("missing");
        assert!(matches!(sync_journal(&db, &missing).unwrap(), Synced::Fallback(Some(_))));
    }

    /// A journal file that cannot be opened (here a symlink to itself, which
    /// fails with ELOOP as running out of descriptors fails with EMFILE)
    /// leaves writes going: the flusher fsyncs through fjall's descriptor,
    /// and sync-mode writers are acknowledged.
    #[cfg(unix)]
    #[test]
    fn a_journal_file_that_cannot_be_opened_does_not_stop_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).manual_journal_persist(true).open().unwrap();
        let ks = db.keyspace("k", fjall::KeyspaceCreateOptions::default).unwrap();
        let journals = tempfile::tempdir().unwrap();
        let bad = journals.path().join("0.jnl");
        std::os::unix::fs::symlink(&bad, &bad).unwrap();
        assert!(std::fs::File::open(&bad).is_err());
        let (gc, flusher) = GroupCommit::start(db.clone(), journals.path().to_path_buf(), Durability::Sync);
        for i in 0..3 {
            ks.insert(format!("k{i}"), "v").unwrap();
            let ticket = gc.register();
            assert_eq!(gc.wait(ticket), Ok(()), "write {i} was refused");
        }
        assert!(gc.failure().is_none());
        gc.shutdown();
        flusher.join().unwrap();
    }
}
