//! Room on the data directory's file system.
//!
//! A write that fails for want of space (`ENOSPC`, a quota's `EDQUOT`, a
//! `ulimit -f` file-size limit's `EFBIG`) leaves the store refusing writes
//! until it is opened again (see [`crate::WriteFailure`]). [`headroom`]
//! tells whether that is worth doing yet, and names the cause of a failure
//! fjall reports only as "poisoned" (a flush in its workers failed).

use std::io::Write;
use std::path::Path;

/// The most free space [`headroom`] asks for: a full journal's worth
/// (`db.rs`, `MAX_JOURNAL_BYTES`; fjall allocates each journal file at
/// that size), so that a reopened store can take writes for a while
/// rather than fail again at once.
pub const MAX_HEADROOM_BYTES: u64 = 64 * 1024 * 1024;

/// On a small file system (a test's tmpfs) [`headroom`] asks for this
/// fraction of its size instead, so that freeing most of it is enough.
const HEADROOM_DIVISOR: u64 = 8;

/// The least room [`headroom`] asks for, whatever the file system's size.
const MIN_HEADROOM_BYTES: u64 = 1024 * 1024;

/// The probe's file in the data directory.
const PROBE_FILE: &str = ".tidepool-room-probe";

/// Reserves room in `dir` (a file of the bytes asked for, removed again);
/// returns how much. Fails as a write there would: `ENOSPC`, `EDQUOT`,
/// `EFBIG`.
pub fn headroom(dir: &Path) -> std::io::Result<u64> {
    let want = wanted_room(dir);
    #[cfg(unix)]
    {
        use std::io::{Error, ErrorKind};
        // Cheap answers first: the free blocks the file system reports,
        // and a file-size limit (`ulimit -f`) that freeing space would not
        // lift: fjall's journal files are 64 MiB each.
        if let Ok(vfs) = rustix::fs::statvfs(dir)
            && vfs.f_bavail.saturating_mul(vfs.f_frsize) < want
        {
            return Err(Error::new(ErrorKind::StorageFull, "the file system has less free space than asked for"));
        }
        let limit = rustix::process::getrlimit(rustix::process::Resource::Fsize);
        if limit.current.is_some_and(|bytes| bytes < MAX_HEADROOM_BYTES) {
            return Err(Error::new(ErrorKind::FileTooLarge, "the file-size limit (ulimit -f) is under 64 MiB"));
        }
    }
    let path = dir.join(PROBE_FILE);
    let result = std::fs::File::create(&path).and_then(|file| reserve(&file, want));
    let _ = std::fs::remove_file(&path);
    result.map(|()| want)
}

/// Removes a probe file a killed process left behind.
pub fn remove_probe(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(PROBE_FILE));
}

/// The room to ask for in `dir`'s file system.
fn wanted_room(dir: &Path) -> u64 {
    #[cfg(unix)]
    if let Ok(vfs) = rustix::fs::statvfs(dir) {
        let total = vfs.f_blocks.saturating_mul(vfs.f_frsize);
        return (total / HEADROOM_DIVISOR).clamp(MIN_HEADROOM_BYTES, MAX_HEADROOM_BYTES);
    }
    let _ = dir;
    MAX_HEADROOM_BYTES
}

/// Allocates `len` bytes of `file`: at once where the file system can
/// (Linux `fallocate`), else by writing zeros.
fn reserve(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => return Ok(()),
        Err(e) if e != rustix::io::Errno::OPNOTSUPP => return Err(e.into()),
        Err(_) => {}
    }
    let chunk = vec![0u8; 1024 * 1024];
    let mut out = std::io::BufWriter::new(file);
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reserves_room_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = headroom(dir.path()).unwrap();
        assert!((MIN_HEADROOM_BYTES..=MAX_HEADROOM_BYTES).contains(&bytes), "{bytes}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
