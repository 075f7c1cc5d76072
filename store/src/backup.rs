//! On-demand backups and restores (DynamoDB's CreateBackup,
//! RestoreTableFromBackup and the calls around them).
//!
//! A backup is a file `<data>/backups/<id>.tpbk`, written from one fjall
//! snapshot of the table (so writers never wait for it) and kept apart from
//! the table: it outlives DeleteTable and restarts. Its record in `meta`
//! (`backup\0<id>` → [`Backup`] as JSON) says what it holds and whether it
//! is finished; the file is renamed into place, fsynced, before the record
//! says `AVAILABLE`. A backup a crash interrupted (`CREATING` at open) is
//! removed: its snapshot is gone with the process.
//!
//! The file is self-describing and checksummed block by block:
//!
//! ```text
//! "TPBK0001"
//! block*: kind (u8) ++ length (u32 LE) ++ xxh3-64 of the payload (u64 LE) ++ payload
//!   'D' the backup's record (JSON), first
//!   'I' items: (length (u32 LE) ++ encoded item)*, in key order
//!   'E' the end: item count (u64 LE) ++ billed bytes (u64 LE), last
//! ```
//!
//! A restore reads the whole file and checks every block before it creates
//! the table, so a damaged backup is reported, never restored in part. The
//! new table is `CREATING` (data operations do not see it, DescribeTable and
//! ListTables do) while a thread loads its items and rebuilds its indexes;
//! the definition records the restore as in progress, so a restore a crash
//! interrupted starts again from the top at the next open.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::catalog::CreateTableInput;
use crate::cipher::{open_in as seal_open, seal_in};
use crate::db::{Store, lock_pub as lock, now_secs};
use crate::error::{Result, StoreError};
use crate::key::{index_key, item_key};
use crate::messages;
use crate::table::{RestoreSummary, TableDef};
use crate::value::{decode_item, encode_item, encode_item_value, item_size};

/// The directory under the data directory that holds backup files.
pub const BACKUPS_DIR: &str = "backups";
const MAGIC: &[u8; 8] = b"TPBK0001";
const BLOCK_DEFINITION: u8 = b'D';
const BLOCK_ITEMS: u8 = b'I';
const BLOCK_END: u8 = b'E';
const BLOCK_HEADER_BYTES: usize = 1 + 4 + 8;
/// Items are written in blocks of about this size, each checksummed on
/// its own: small enough to hold in memory while checking, large enough
/// that the checksums and headers cost nothing.
const BLOCK_BYTES: usize = 1 << 20;
/// A block past this is damage, not data: an items block is at most
/// [`BLOCK_BYTES`] plus one item (400 KB), a definition far less.
const MAX_BLOCK_BYTES: usize = 4 << 20;
/// Backups, restores and imports running at once. Each holds a thread and,
/// for a backup, a snapshot that keeps compaction from dropping what it
/// covers. Backups and restores past this wait their turn (below); an
/// import past it is refused with `LimitExceededException`.
pub const MAX_BACKUP_JOBS: usize = 4;
/// Restores (from backups and to points in time) in progress at once, as
/// DynamoDB bounds them per account; past this one is refused with its
/// `LimitExceededException`. Each waiting restore holds a sleeping thread
/// and its `CREATING` table until one of the [`MAX_BACKUP_JOBS`] is free.
pub const MAX_RESTORES_IN_PROGRESS: usize = 50;
/// Backups taken (their snapshots held) and waiting for one of the
/// [`MAX_BACKUP_JOBS`] slots: CreateBackup answers at once, as DynamoDB
/// does, and a burst of them is written a few at a time. Past this many
/// waiting, CreateBackup answers `LimitExceededException`.
pub const MAX_QUEUED_BACKUPS: usize = 64;
/// Entries (items and index entries) a restore commits at once.
const RESTORE_BATCH_ENTRIES: usize = 10_000;

const META_BACKUP: &[u8] = b"backup\0";

/// How far a running job has come (a backup, a restore, or a job of the
/// layers above: an export, an import), for progress bars.
#[derive(Debug, Default)]
pub struct Progress {
    pub items: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// What the job expects to do, when known (0: unknown).
    pub total_items: std::sync::atomic::AtomicU64,
    pub total_bytes: std::sync::atomic::AtomicU64,
}

impl Progress {
    pub fn add(&self, items: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.items.fetch_add(items, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
    }
}

/// A job's entry in the store's progress registry, removed on drop.
pub struct Tracked {
    pub progress: Arc<Progress>,
    jobs: std::sync::Weak<Mutex<std::collections::HashMap<String, Arc<Progress>>>>,
    id: String,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(jobs) = self.jobs.upgrade() {
            lock(&jobs).remove(&self.id);
        }
    }
}

/// A backup's state, as DynamoDB's `BackupStatus` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupStatus {
    Creating,
    Available,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Creating => "CREATING",
            BackupStatus::Available => "AVAILABLE",
        }
    }
}

/// What the store keeps about a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// The backup's id, the last part of its ARN: creation time in
    /// milliseconds (14 digits) and 8 hex digits, as DynamoDB's.
    pub id: String,
    pub name: String,
    /// The source table's definition when the backup was taken.
    pub table: TableDef,
    /// Epoch seconds with fraction.
    pub created_at: f64,
    pub status: BackupStatus,
    /// The source table's item count and billed size in the backup.
    pub items: u64,
    pub bytes: u64,
}

fn backup_key(id: &str) -> Vec<u8> {
    [META_BACKUP, id.as_bytes()].concat()
}

/// Backups and restores running now (see [`MAX_BACKUP_JOBS`]). A table
/// may have several backups being taken at once, as in DynamoDB.
#[derive(Default)]
pub(crate) struct Jobs {
    running: usize,
    /// Backups waiting for a slot (see [`MAX_QUEUED_BACKUPS`]).
    queued: usize,
    /// Backups a restore is reading (from before its file check to the
    /// end of its load): DeleteBackup refuses them.
    reading: Vec<String>,
}

/// A slot of [`MAX_BACKUP_JOBS`], given back on drop.
pub(crate) struct JobSlot {
    jobs: Arc<Mutex<Jobs>>,
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        lock(&self.jobs).running -= 1;
    }
}

/// A restore admitted and not yet finished, and the backup it reads, if
/// any: DeleteBackup and another restore of that backup are refused until
/// this is dropped. The restore waits for a [`JobSlot`] to load.
pub(crate) struct Admission {
    jobs: Arc<Mutex<Jobs>>,
    reading: Option<String>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut jobs = lock(&self.jobs);
        if let Some(id) = &self.reading
            && let Some(i) = jobs.reading.iter().position(|r| r == id)
        {
            jobs.reading.swap_remove(i);
        }
    }
}

/// A place among the backups waiting for a slot, given back on drop.
struct QueueTicket {
    jobs: Arc<Mutex<Jobs>>,
}

impl Drop for QueueTicket {
    fn drop(&mut self) {
        lock(&self.jobs).queued -= 1;
    }
}

fn enqueue(jobs: &Arc<Mutex<Jobs>>) -> Result<QueueTicket> {
    let mut j = lock(jobs);
    if j.queued >= MAX_QUEUED_BACKUPS {
        return Err(StoreError::LimitExceeded(messages::backup::too_many_backups_queued(MAX_QUEUED_BACKUPS)));
    }
    j.queued += 1;
    Ok(QueueTicket { jobs: jobs.clone() })
}

pub(crate) fn take_slot(jobs: &Arc<Mutex<Jobs>>) -> Result<JobSlot> {
    let mut j = lock(jobs);
    if j.running >= MAX_BACKUP_JOBS {
        return Err(StoreError::LimitExceeded(messages::backup::too_many_backup_jobs(MAX_BACKUP_JOBS)));
    }
    j.running += 1;
    Ok(JobSlot { jobs: jobs.clone() })
}

/// Admits a restore reading backup `reading`, if any (one restore at a
/// time reads a backup, as in DynamoDB).
pub(crate) fn admit(jobs: &Arc<Mutex<Jobs>>, reading: Option<&str>) -> Result<Admission> {
    let mut j = lock(jobs);
    if let Some(id) = reading {
        if j.reading.iter().any(|r| r == id) {
            return Err(StoreError::Refused {
                kind: "BackupInUseException",
                message: messages::backup::backup_restoring_another_table(id),
            });
        }
        j.reading.push(id.to_string());
    }
    Ok(Admission { jobs: jobs.clone(), reading: reading.map(str::to_string) })
}

fn not_found(id: &str) -> StoreError {
    StoreError::Refused { kind: "BackupNotFoundException", message: messages::backup::backup_not_found(id) }
}

/// A backup taken but not yet written: [`BackupJob::run`] writes it.
pub struct BackupJob {
    tracked: Tracked,
    store: std::sync::Weak<crate::db::Inner>,
    backup: Backup,
    snapshot: fjall::Snapshot,
    items: fjall::Keyspace,
    ticket: QueueTicket,
}

impl BackupJob {
    pub fn backup(&self) -> &Backup {
        &self.backup
    }

    /// Waits for a slot, writes the backup's file and marks it `AVAILABLE`;
    /// on failure removes it (file and record) and says why.
    pub fn run(self) -> Result<Backup> {
        let id = self.backup.id.clone();
        let slot = loop {
            match take_slot(&self.ticket.jobs) {
                Ok(slot) => break slot,
                Err(StoreError::LimitExceeded(_)) => std::thread::sleep(std::time::Duration::from_millis(20)),
                Err(e) => return Err(e),
            }
        };
        let result = self.write(slot);
        if let Err(e) = &result {
            tracing::error!(backup = %id, error = %e, "backup failed; removed");
        }
        result
    }

    fn write(self, _slot: JobSlot) -> Result<Backup> {
        use fjall::Readable;
        crate::db::lower_this_thread();
        let BackupJob { tracked, store, mut backup, snapshot, items, ticket } = self;
        drop(ticket);
        let cipher = store.upgrade().and_then(|inner| inner.cipher.clone());
        let dir = {
            let Some(s) = Store::from_weak(&store) else { return Err(closed()) };
            s.path().join(BACKUPS_DIR)
        };
        let tmp = dir.join(format!("{}.tpbk.tmp", backup.id));
        let done = dir.join(format!("{}.tpbk", backup.id));
        let outcome = (|| -> Result<(u64, u64)> {
            if !dir.exists() {
                std::fs::create_dir_all(&dir).map_err(io)?;
                // The directory's own entry must survive a crash too.
                if let Some(parent) = dir.parent() {
                    std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io)?;
                }
            }
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(io)?);
            let mut writeback = Writeback::default();
            out.write_all(MAGIC).map_err(io)?;
            write_block(&mut out, BLOCK_DEFINITION, &serde_json::to_vec(&backup).map_err(corrupt)?)?;
            let (mut count, mut bytes) = (0u64, 0u64);
            let mut block = Vec::with_capacity(BLOCK_BYTES + 4096);
            // Blocks are numbered from 1, the definition's.
            let mut number = 1u64;
            let scope = block_scope(&backup.id);
            // Items and end blocks are sealed with a key: bound to their
            // backup and position, so none can be dropped, moved or
            // replaced (the end's count catches a shortened file).
            let mut write_sealed = |out: &mut BufWriter<std::fs::File>, kind: u8, block: &[u8]| -> Result<()> {
                number += 1;
                match &cipher {
                    Some(c) => write_block(out, kind, &c.seal(&scope, &number.to_le_bytes(), block)),
                    None => write_block(out, kind, block),
                }
            };
            for kv in snapshot.iter(&items) {
                let (k, v) = kv.into_inner()?;
                let v = seal_open(cipher.as_ref(), &items, &k, v)?;
                let raw = crate::stream::stored_item(&v)?;
                let item = decode_item(raw)?;
                count += 1;
                let size = item_size(&item) as u64;
                bytes += size;
                tracked.progress.add(1, size);
                block.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                block.extend_from_slice(raw);
                if block.len() >= BLOCK_BYTES {
                    write_sealed(&mut out, BLOCK_ITEMS, &block)?;
                    block.clear();
                    writeback.advance(out.get_mut());
                    // Stop when the store closes: the snapshot would keep
                    // the data directory open.
                    if store.strong_count() == 0 {
                        return Err(closed());
                    }
                }
            }
            if !block.is_empty() {
                write_sealed(&mut out, BLOCK_ITEMS, &block)?;
            }
            let mut end = count.to_le_bytes().to_vec();
            end.extend_from_slice(&bytes.to_le_bytes());
            write_sealed(&mut out, BLOCK_END, &end)?;
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            drop(file);
            std::fs::rename(&tmp, &done).map_err(io)?;
            std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
            Ok((count, bytes))
        })();
        drop(snapshot);
        let Some(s) = Store::from_weak(&store) else { return Err(closed()) };
        match outcome {
            Ok((count, bytes)) => {
                backup.items = count;
                backup.bytes = bytes;
                backup.status = BackupStatus::Available;
                s.put_backup(&backup)?;
                tracing::info!(backup = %backup.id, table = %backup.table.name, items = count, "backup available");
                Ok(backup)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                let _ = s.remove_backup_record(&backup.id);
                Err(e)
            }
        }
    }
}

/// Bytes of a backup file written between two starts of their writeback.
/// Without them the kernel holds the whole file dirty (a 1M-item backup is
/// 1 GB, under the 10 % of memory at which background writeback starts)
/// and the final fsync writes all of it after the last item is read:
/// reading and writing one after the other, 2 s and then 1 to 3 s.
/// Started every 32 MiB, the disk writes while the snapshot is read: a
/// 1M-item backup took 3.3 s on average instead of 4.1 (five runs each,
/// BENCHMARKS.md).
const WRITEBACK_STEP_BYTES: u64 = 32 << 20;

/// Starts the writeback of a file being written, a step at a time. Advice
/// alone (`POSIX_FADV_DONTNEED`, which starts writeback of the dirty pages
/// in its range without waiting for it, and drops only its pages already
/// clean, few this soon after their write): the fsync at the end is still
/// what makes the file durable. Only the newest step is advised, so the
/// pages of the steps before stay cached: dropping them too made a restore
/// right after the backup read its file from the disk (5.6 s instead of
/// 3.2). Best effort; Linux only.
#[derive(Default)]
struct Writeback {
    /// Where the last step ended.
    to: u64,
}

impl Writeback {
    fn advance(&mut self, file: &mut std::fs::File) {
        use std::io::Seek;
        let Ok(written) = file.stream_position() else { return };
        if written < self.to + WRITEBACK_STEP_BYTES {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let len = std::num::NonZeroU64::new(written - self.to);
            let _ = rustix::fs::fadvise(&*file, self.to, len, rustix::fs::Advice::DontNeed);
        }
        self.to = written;
    }
}

fn closed() -> StoreError {
    StoreError::Refused { kind: "InternalServerError", message: messages::backup::SHUTTING_DOWN.into() }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Storage(fjall::Error::Io(e))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The scope of a backup's sealed items blocks: each backup has its own
/// data key, and each block is bound to its number, so blocks cannot be
/// moved between backups or within one.
fn block_scope(id: &str) -> String {
    format!("backup {id}")
}

fn write_block(out: &mut impl Write, kind: u8, payload: &[u8]) -> Result<()> {
    out.write_all(&[kind]).map_err(io)?;
    out.write_all(&(payload.len() as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&xxh3_64(payload).to_le_bytes()).map_err(io)?;
    out.write_all(payload).map_err(io)
}

/// Reads a backup file block by block, checking each.
struct Reader {
    file: BufReader<std::fs::File>,
    path: PathBuf,
    block: usize,
    /// The store's cipher: items and end blocks are sealed (`block_scope`).
    cipher: Option<crate::cipher::Cipher>,
    /// The backup's id, once its definition is read: the items blocks'
    /// scope.
    id: String,
}

impl Reader {
    fn open(path: &Path, cipher: Option<crate::cipher::Cipher>) -> Result<Reader> {
        let file = std::fs::File::open(path).map_err(|e| damaged(path, &format!("cannot open it: {e}")))?;
        let mut r = Reader {
            file: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            block: 0,
            cipher,
            id: String::new(),
        };
        let mut magic = [0u8; 8];
        r.file.read_exact(&mut magic).map_err(|_| damaged(path, "it is too short"))?;
        if &magic != MAGIC {
            return Err(damaged(path, "it is not a Tidepool backup (bad magic)"));
        }
        Ok(r)
    }

    /// The next block's kind and payload, checked against its checksum.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<u8> {
        self.block += 1;
        let mut head = [0u8; BLOCK_HEADER_BYTES];
        self.file
            .read_exact(&mut head)
            .map_err(|_| damaged(&self.path, &format!("it ends inside block {}", self.block)))?;
        let len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(head[5..].try_into().expect("8 bytes"));
        if len > MAX_BLOCK_BYTES {
            return Err(damaged(&self.path, &format!("block {} claims {len} bytes", self.block)));
        }
        buf.resize(len, 0);
        self.file.read_exact(buf).map_err(|_| damaged(&self.path, &format!("it ends inside block {}", self.block)))?;
        if xxh3_64(buf) != sum {
            return Err(damaged(&self.path, &format!("block {} fails its checksum", self.block)));
        }
        if head[0] == BLOCK_DEFINITION && self.block == 1 {
            self.id = serde_json::from_slice::<Backup>(buf).map(|b| b.id).unwrap_or_default();
        }
        if (head[0] == BLOCK_ITEMS || head[0] == BLOCK_END)
            && let Some(c) = &self.cipher
        {
            *buf = c.open(&block_scope(&self.id), &(self.block as u64).to_le_bytes(), buf).map_err(|_| {
                damaged(&self.path, &format!("block {} does not open under the configured key", self.block))
            })?;
        }
        Ok(head[0])
    }

    /// Checks the whole file: every block's checksum, the definition first,
    /// the end last with the count of the items before it. Returns the
    /// backup record the file holds.
    fn verify(path: &Path, cipher: Option<crate::cipher::Cipher>) -> Result<Backup> {
        let mut r = Reader::open(path, cipher)?;
        let mut buf = Vec::new();
        if r.next(&mut buf)? != BLOCK_DEFINITION {
            return Err(damaged(path, "its first block is not the definition"));
        }
        let backup: Backup =
            serde_json::from_slice(&buf).map_err(|e| damaged(path, &format!("its definition does not parse: {e}")))?;
        let mut count = 0u64;
        loop {
            match r.next(&mut buf)? {
                BLOCK_ITEMS => count += items_in(&buf).map_err(|m| damaged(path, &m))?.len() as u64,
                BLOCK_END => {
                    let stated = u64::from_le_bytes(buf.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0xff; 8]));
                    if stated != count {
                        return Err(damaged(path, &format!("it holds {count} items, its end says {stated}")));
                    }
                    let mut rest = [0u8; 1];
                    if r.file.read(&mut rest).map_err(io)? != 0 {
                        return Err(damaged(path, "there is data after its end"));
                    }
                    return Ok(backup);
                }
                other => return Err(damaged(path, &format!("block {} has an unknown kind {other}", r.block))),
            }
        }
    }
}

/// The encoded items of an items block.
fn items_in(block: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = block;
    while !rest.is_empty() {
        let Some(len) = rest.get(..4) else { return Err("an item's length is cut short".into()) };
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let Some(item) = rest.get(4..4 + len) else { return Err("an item is cut short".into()) };
        out.push(item);
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// A damaged backup: the server's fault, not the client's (a 500), named
/// so that it is never mistaken for a passing failure.
fn damaged(path: &Path, why: &str) -> StoreError {
    StoreError::Refused { kind: "InternalServerError", message: messages::backup::backup_damaged(path.display(), why) }
}

/// Where a restored table's items come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum RestoreSource {
    /// An on-demand backup, by id.
    Backup(String),
    /// The history of table `table` (its internal id) at `at_us`,
    /// microseconds since the epoch (`history.rs`).
    PointInTime { table: u64, at_us: u64 },
    /// ImportTable's files (read by the layer above: see [`BulkLoad`]).
    Import(String),
}

/// A table being filled by the layer above (ImportTable): `CREATING`
/// until [`BulkLoad::finish`]; dropped if it is dropped unfinished.
pub struct BulkLoad {
    store: Store,
    handle: Arc<crate::TableHandle>,
    batch: Option<fjall::OwnedWriteBatch>,
    /// Keys in `batch`.
    pending: HashSet<Vec<u8>>,
    count: u64,
    bytes: u64,
    _slot: JobSlot,
    _holding: crate::db::Holding,
}

impl BulkLoad {
    /// Gives the calling thread a background job's priority.
    pub fn lower_priority(&self) {
        crate::db::lower_this_thread();
    }

    /// Whether the store is closing (the load should stop; its table is
    /// then removed at the next open).
    pub fn closing(&self) -> bool {
        self.store.closing()
    }

    pub fn table(&self) -> &Arc<crate::TableHandle> {
        &self.handle
    }

    /// Adds an item (its key and indexes from the table's definition);
    /// one already there with that key is replaced.
    pub fn put(&mut self, item: &crate::value::Item) -> Result<()> {
        let handle = self.handle.clone();
        let def = &handle.def;
        let key = item_key(&def.key_schema, item);
        // A key repeated within the batch: what is pending goes first, so
        // that the read below finds it.
        if self.pending.contains(&key) {
            self.commit()?;
        }
        let batch = self.batch.get_or_insert_with(|| self.store.inner().db.batch());
        if let Some(old) = self.handle.items.get(&key)? {
            let old = seal_open(self.store.inner().cipher.as_ref(), &self.handle.items, &key, old)?;
            let old = crate::stream::decode_stored(&old)?;
            self.count -= 1;
            self.bytes -= item_size(&old) as u64;
            for idx in &def.indexes {
                if let Some(k) = index_key(idx, &def.key_schema, &old) {
                    batch.remove(&self.handle.index, k);
                }
            }
            for v in &def.vector_indexes {
                if let Some((k, _)) = v.entry(&def.key_schema, &old) {
                    batch.remove(&self.handle.index, k);
                }
            }
        }
        self.count += 1;
        self.bytes += item_size(item) as u64;
        stage_loaded(batch, self.store.inner().cipher.as_ref(), &handle, key.clone(), item);
        self.pending.insert(key);
        if batch.len() >= RESTORE_BATCH_ENTRIES {
            self.commit()?;
            self.store.seal_full_memtables();
            self.store.wait_for_flushes();
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.pending.clear();
        if let Some(b) = self.batch.take() {
            let r = b.commit();
            self.store.poison_on_err(r)?;
        }
        Ok(())
    }

    /// Items put so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Marks the table loaded (`ACTIVE`).
    pub fn finish(mut self) -> Result<crate::TableStats> {
        self.commit()?;
        let stats = crate::TableStats { items: self.count, bytes: self.bytes };
        self.store.finish_restore(&self.handle.def.name, self.handle.def.id, stats)?;
        self.count = u64::MAX;
        Ok(stats)
    }
}

impl Drop for BulkLoad {
    fn drop(&mut self) {
        if self.count != u64::MAX
            && let Err(e) = self.store.drop_restored(&self.handle.def.name)
        {
            tracing::error!(table = %self.handle.def.name, error = %e, "removing an unfinished import failed");
        }
    }
}

/// Stages a loaded item (restores, imports) under `key`, with its index
/// entries. The table has no stream or TTL while it loads.
fn stage_loaded(
    batch: &mut fjall::OwnedWriteBatch,
    cipher: Option<&crate::cipher::Cipher>,
    handle: &crate::TableHandle,
    key: Vec<u8>,
    item: &crate::value::Item,
) {
    let def = &handle.def;
    let value = seal_in(cipher, &handle.items, &key, encode_item_value(item));
    batch.insert(&handle.items, key, value);
    for idx in &def.indexes {
        if let Some(k) = index_key(idx, &def.key_schema, item) {
            let value = seal_in(cipher, &handle.index, &k, encode_item(&idx.project(item, &def.key_schema)).into());
            batch.insert(&handle.index, k, value);
        }
    }
    for v in &def.vector_indexes {
        if let Some((k, value)) = v.entry(&def.key_schema, item) {
            let value = seal_in(cipher, &handle.index, &k, value.into());
            batch.insert(&handle.index, k, value);
        }
    }
}

/// A restore's writes: items and index entries in batches, and the counts.
struct Loader<'a> {
    progress: Arc<Progress>,
    store: &'a Store,
    handle: &'a crate::TableHandle,
    batch: fjall::OwnedWriteBatch,
    count: u64,
    bytes: u64,
}

impl Loader<'_> {
    fn put(&mut self, item: &crate::value::Item) -> Result<()> {
        let def = &self.handle.def;
        self.count += 1;
        let size = item_size(item) as u64;
        self.bytes += size;
        self.progress.add(1, size);
        let cipher = self.store.inner().cipher.as_ref();
        stage_loaded(&mut self.batch, cipher, self.handle, item_key(&def.key_schema, item), item);
        if self.batch.len() >= RESTORE_BATCH_ENTRIES {
            self.commit()?;
            self.store.seal_full_memtables();
            self.store.wait_for_flushes();
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, self.store.inner().db.batch());
        let r = batch.commit();
        self.store.poison_on_err(r)
    }
}

impl Store {
    /// Registers a job's progress under `id` (until the guard drops).
    pub fn track(&self, id: &str, total_items: u64, total_bytes: u64) -> Tracked {
        let progress = Arc::new(Progress::default());
        progress.total_items.store(total_items, std::sync::atomic::Ordering::Relaxed);
        progress.total_bytes.store(total_bytes, std::sync::atomic::Ordering::Relaxed);
        let jobs = &self.inner().progress;
        lock(jobs).insert(id.to_string(), progress.clone());
        Tracked { progress, jobs: Arc::downgrade(jobs), id: id.to_string() }
    }

    /// A running job's progress (`None` once it has ended).
    pub fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        lock(&self.inner().progress).get(id).cloned()
    }

    fn backup_path(&self, id: &str) -> PathBuf {
        self.path().join(BACKUPS_DIR).join(format!("{id}.tpbk"))
    }

    pub(crate) fn put_backup(&self, b: &Backup) -> Result<()> {
        let json = serde_json::to_vec(b).map_err(corrupt)?;
        let r = self.inner().meta.insert(backup_key(&b.id), json);
        self.poison_on_err(r)?;
        self.sync_now()
    }

    fn remove_backup_record(&self, id: &str) -> Result<()> {
        let r = self.inner().meta.remove(backup_key(id));
        self.poison_on_err(r)?;
        self.sync_now()
    }

    /// Starts a backup of `table` called `name`: the snapshot is taken and
    /// the backup recorded `CREATING` before this returns; the returned
    /// job writes it (on any thread).
    pub fn begin_backup(&self, table: &str, name: &str) -> Result<BackupJob> {
        self.check_writable()?;
        let handle = self.table(table).map_err(|_| StoreError::Refused {
            kind: "TableNotFoundException",
            message: messages::backup::table_not_found(table),
        })?;
        let ticket = enqueue(&self.inner().backup_jobs)?;
        // The request's time to the millisecond, as DynamoDB records it.
        let ms = (now_secs() * 1000.0) as u64;
        let now = ms as f64 / 1000.0;
        let id = format!("{ms:014}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let stats = handle.stats();
        // Under the write lock the snapshot and the definition agree (an
        // UpdateTable changes both under it); the table must still be the
        // one whose slot was taken (not deleted and made again meanwhile).
        // The backup is recorded `CREATING` under it too, so that a
        // DeleteTable sees it (`delete_table` refuses a table being backed
        // up).
        let (snapshot, backup) = {
            let _guard = lock(&self.inner().write);
            match self.table(table) {
                Ok(current) if current.def.id == handle.def.id => {
                    // Its size while `CREATING` is the table's now (what
                    // CreateBackup answers, and DescribeBackup and
                    // ListBackups too); its own once it is made.
                    let backup = Backup {
                        id,
                        name: name.to_string(),
                        table: current.def.clone(),
                        created_at: now,
                        status: BackupStatus::Creating,
                        items: 0,
                        bytes: stats.bytes,
                    };
                    self.put_backup(&backup)?;
                    (self.inner().db.snapshot(), backup)
                }
                _ => {
                    return Err(StoreError::Refused {
                        kind: "TableNotFoundException",
                        message: messages::backup::table_not_found(table),
                    });
                }
            }
        };
        let tracked = self.track(&backup.id, stats.items, stats.bytes);
        Ok(BackupJob { tracked, store: self.downgrade(), backup, snapshot, items: handle.items.clone(), ticket })
    }

    /// Removes the record of a backup still `CREATING` whose job is gone
    /// (its thread could not start, or panicked).
    pub fn forget_backup(&self, id: &str) -> Result<()> {
        let _guard = lock(&self.inner().write);
        match self.backup(id) {
            Ok(b) if b.status == BackupStatus::Creating => self.remove_backup_record(id),
            _ => Ok(()),
        }
    }

    /// One backup by id.
    pub fn backup(&self, id: &str) -> Result<Backup> {
        match self.inner().meta.get(backup_key(id))? {
            Some(v) => serde_json::from_slice(&v).map_err(corrupt),
            None => Err(not_found(id)),
        }
    }

    /// Every backup, oldest first (ids begin with their creation time).
    pub fn backups(&self) -> Result<Vec<Backup>> {
        self.inner()
            .meta
            .prefix(META_BACKUP)
            .map(|kv| {
                let (_, v) = kv.into_inner()?;
                serde_json::from_slice(&v).map_err(corrupt)
            })
            .collect()
    }

    /// Deletes a backup: its record, then its file. One being created, or
    /// being restored from, is in use.
    pub fn delete_backup(&self, id: &str) -> Result<Backup> {
        self.check_writable()?;
        let _guard = lock(&self.inner().write);
        let backup = self.backup(id)?;
        if backup.status == BackupStatus::Creating {
            return Err(StoreError::Refused {
                kind: "BackupInUseException",
                message: messages::backup::backup_being_created(id),
            });
        }
        if lock(&self.inner().backup_jobs).reading.iter().any(|r| r == id) || self.backup_in_restore(id) {
            return Err(StoreError::Refused {
                kind: "BackupInUseException",
                message: messages::backup::backup_restoring_table(id),
            });
        }
        self.remove_backup_record(id)?;
        if let Err(e) = std::fs::remove_file(self.backup_path(id))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(backup = id, error = %e, "the backup's file could not be removed");
        }
        Ok(backup)
    }

    /// Deletes every backup not in use (on-demand ones being made or
    /// restored from stay), and the history of tables deleted with PITR
    /// on (`POST /tidepool/reset`). Returns how many went.
    pub fn delete_all_backups(&self) -> Result<usize> {
        let mut gone = 0;
        for b in self.backups()? {
            match self.delete_backup(&b.id) {
                Ok(_) => gone += 1,
                Err(StoreError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for d in self.deleted_tables()? {
            match self.delete_system_backup(&d) {
                Ok(()) => gone += 1,
                Err(StoreError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(gone)
    }

    /// At open: removes the backups a crash interrupted, and files no
    /// record names (a crash between writing a file and recording it).
    pub(crate) fn recover_backups(&self) -> Result<()> {
        let mut known = HashSet::new();
        for b in self.backups()? {
            if b.status == BackupStatus::Creating {
                tracing::warn!(backup = %b.id, table = %b.table.name, "a backup was interrupted by a restart; removed");
                self.remove_backup_record(&b.id)?;
            } else {
                known.insert(format!("{}.tpbk", b.id));
            }
        }
        let dir = self.path().join(BACKUPS_DIR);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// Restores a backup into a new table made from `input` (the backup's
    /// definition with the request's overrides; the wire layer builds it
    /// with [`Backup::table`]). The backup file is checked in full first.
    /// The table is `CREATING` until a thread has loaded it.
    pub fn restore_from_backup(&self, id: &str, input: CreateTableInput) -> Result<Arc<crate::TableHandle>> {
        self.check_writable()?;
        let backup = self.backup(id)?;
        if backup.status != BackupStatus::Available {
            return Err(StoreError::Refused {
                kind: "BackupInUseException",
                message: messages::backup::backup_being_created(id),
            });
        }
        // One restore at a time reads a backup, as in DynamoDB.
        if lock(&self.inner().backup_jobs).reading.iter().any(|r| r == id) || self.backup_in_restore(id) {
            return Err(StoreError::Refused {
                kind: "BackupInUseException",
                message: messages::backup::backup_restoring_another_table(id),
            });
        }
        if self.table_any(&input.name).is_some() {
            return Err(StoreError::Refused {
                kind: "TableAlreadyExistsException",
                message: messages::table::table_already_exists(&input.name),
            });
        }
        self.check_restores_in_progress()?;
        // From here to the end of the load DeleteBackup refuses it.
        let admission = admit(&self.inner().backup_jobs, Some(id))?;
        if self.backup(id).is_err() {
            return Err(not_found(id));
        }
        let in_file = Reader::verify(&self.backup_path(id), self.inner().cipher.clone())?;
        if in_file.id != backup.id {
            return Err(damaged(&self.backup_path(id), "it holds another backup"));
        }
        let summary = RestoreSummary {
            source: RestoreSource::Backup(id.to_string()),
            source_table: backup.table.name.clone(),
            restored_to: backup.created_at,
            in_progress: true,
            backup_id: None,
        };
        let handle = self.create_table_with(input, Some(summary), || match self.backup(id) {
            Ok(_) => Ok(()),
            Err(_) => Err(not_found(id)),
        })?;
        self.spawn_restore(handle.clone(), admission);
        Ok(handle)
    }

    /// DynamoDB's bound on restores in progress at once (from backups and
    /// to points in time; imports apart), [`MAX_RESTORES_IN_PROGRESS`].
    pub(crate) fn check_restores_in_progress(&self) -> Result<()> {
        let restoring = self
            .restoring_tables()
            .iter()
            .filter(|t| !matches!(t.def.restore.as_ref().map(|r| &r.source), Some(RestoreSource::Import(_))))
            .count();
        if restoring >= MAX_RESTORES_IN_PROGRESS {
            return Err(StoreError::LimitExceeded(messages::backup::too_many_restores(MAX_RESTORES_IN_PROGRESS)));
        }
        Ok(())
    }

    /// Makes the table of an import (`CREATING`) and returns its loader.
    pub fn begin_bulk_load(&self, import: &str, input: CreateTableInput) -> Result<BulkLoad> {
        self.check_writable()?;
        let slot = take_slot(&self.inner().backup_jobs)?;
        let summary = RestoreSummary {
            source: RestoreSource::Import(import.to_string()),
            source_table: String::new(),
            restored_to: now_secs(),
            in_progress: true,
            backup_id: None,
        };
        let handle = self.create_table_with(input, Some(summary), || Ok(()))?;
        Ok(BulkLoad {
            store: self.clone(),
            handle,
            batch: None,
            pending: HashSet::new(),
            count: 0,
            bytes: 0,
            _slot: slot,
            _holding: self.hold(),
        })
    }

    /// Whether a table is being restored from backup `id`.
    pub fn backup_in_restore(&self, id: &str) -> bool {
        self.restoring_tables()
            .iter()
            .any(|t| t.def.restore.as_ref().is_some_and(|r| r.source == RestoreSource::Backup(id.to_string())))
    }

    /// Tables whose restore has not finished.
    fn restoring_tables(&self) -> Vec<Arc<crate::TableHandle>> {
        self.all_tables().into_iter().filter(|t| t.def.restore.as_ref().is_some_and(|r| r.in_progress)).collect()
    }

    /// At open: starts again every restore a crash interrupted.
    pub(crate) fn resume_restores(&self) {
        for handle in self.restoring_tables() {
            if let Some(RestoreSource::Import(id)) = handle.def.restore.as_ref().map(|r| &r.source) {
                // The layer above reports the import failed (its files are
                // read again only by a new ImportTable).
                tracing::warn!(table = %handle.def.name, import = %id, "an import was interrupted by a restart; its table is removed");
                if let Err(e) = self.drop_restored(&handle.def.name) {
                    tracing::error!(table = %handle.def.name, error = %e, "removing an interrupted import failed");
                }
                continue;
            }
            tracing::warn!(table = %handle.def.name, "a restore was interrupted by a restart; starting it again");
            // Admitted before: outside the bound on restores in progress.
            let jobs = self.inner().backup_jobs.clone();
            self.spawn_restore(handle, Admission { jobs, reading: None });
        }
    }

    /// Starts the thread of an admitted restore: it waits for one of the
    /// [`MAX_BACKUP_JOBS`] slots (the table `CREATING` meanwhile, as a
    /// restore on AWS stays for minutes), then loads the table.
    pub(crate) fn spawn_restore(&self, handle: Arc<crate::TableHandle>, admission: Admission) {
        let weak = self.downgrade();
        let name = handle.def.name.clone();
        let spawned = std::thread::Builder::new().name("tidepool-restore".into()).spawn(move || {
            let _admission = admission;
            crate::db::lower_this_thread();
            let (_slot, store) = loop {
                // Not holding the store while waiting: it may close.
                let Some(store) = Store::from_weak(&weak) else { return };
                if let Ok(slot) = take_slot(&store.inner().backup_jobs) {
                    break (slot, store);
                }
                drop(store);
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let _holding = store.hold();
            match store.load_restore(&handle) {
                Ok(true) => tracing::info!(table = %handle.def.name, items = handle.stats().items, "restore finished"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(table = %handle.def.name, error = %e, "restore failed; the table is removed");
                    if let Err(e) = store.drop_restored(&handle.def.name) {
                        tracing::error!(table = %handle.def.name, error = %e, "removing a failed restore failed");
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(table = %name, error = %e, "could not start a restore thread; the table is removed");
            if let Err(e) = self.drop_restored(&name) {
                tracing::error!(table = %name, error = %e, "removing a restore that could not start failed");
            }
        }
    }

    /// Loads a restoring table from its source, then marks it `ACTIVE`.
    /// `Ok(false)` when the store closed first (the restore resumes at the
    /// next open).
    fn load_restore(&self, handle: &Arc<crate::TableHandle>) -> Result<bool> {
        let Some(summary) = handle.def.restore.clone() else { return Ok(true) };
        // What an interrupted attempt left behind goes first.
        self.clear_keyspace(&handle.items)?;
        self.clear_keyspace(&handle.index)?;
        // Progress goes by the restored table's name (`restore:<name>`).
        let total = match &summary.source {
            RestoreSource::Backup(id) => self.backup(id).map(|b| (b.items, b.bytes)).unwrap_or((0, 0)),
            RestoreSource::PointInTime { table, .. } => self
                .all_tables()
                .iter()
                .find(|t| t.def.id == *table)
                .map(|t| (t.stats().items, t.stats().bytes))
                .unwrap_or((0, 0)),
            RestoreSource::Import(_) => (0, 0),
        };
        let tracked = self.track(&format!("restore:{}", handle.def.name), total.0, total.1);
        let mut loader = Loader {
            progress: tracked.progress.clone(),
            store: self,
            handle,
            batch: self.inner().db.batch(),
            count: 0,
            bytes: 0,
        };
        let finished = match &summary.source {
            RestoreSource::Import(_) => return Ok(true),
            RestoreSource::Backup(id) => self.load_backup(id, &mut loader)?,
            RestoreSource::PointInTime { table, at_us } => self.items_at(*table, *at_us, |item| {
                loader.put(&item)?;
                Ok(!(loader.batch.is_empty() && self.closing()))
            })?,
        };
        if !finished {
            return Ok(false);
        }
        loader.commit()?;
        let (count, bytes) = (loader.count, loader.bytes);
        self.finish_restore(&handle.def.name, handle.def.id, crate::TableStats { items: count, bytes })?;
        Ok(true)
    }

    /// Puts a backup's items into `loader`; `Ok(false)` when the store
    /// closed first.
    fn load_backup(&self, id: &str, loader: &mut Loader<'_>) -> Result<bool> {
        let path = self.backup_path(id);
        let mut reader = Reader::open(&path, self.inner().cipher.clone())?;
        let mut buf = Vec::new();
        if reader.next(&mut buf)? != BLOCK_DEFINITION {
            return Err(damaged(&path, "its first block is not the definition"));
        }
        let mut loaded = 0u64;
        loop {
            match reader.next(&mut buf)? {
                BLOCK_ITEMS => {
                    for raw in items_in(&buf).map_err(|m| damaged(&path, &m))? {
                        loader.put(&decode_item(raw)?)?;
                        loaded += 1;
                    }
                    if self.closing() {
                        return Ok(false);
                    }
                }
                BLOCK_END => {
                    let stated = u64::from_le_bytes(buf.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0xff; 8]));
                    if stated != loaded {
                        return Err(damaged(&path, &format!("it holds {loaded} items, its end says {stated}")));
                    }
                    return Ok(true);
                }
                other => return Err(damaged(&path, &format!("block {} has an unknown kind {other}", reader.block))),
            }
        }
    }

    fn clear_keyspace(&self, ks: &fjall::Keyspace) -> Result<()> {
        let db = &self.inner().db;
        let mut batch = db.batch();
        for kv in ks.iter() {
            batch.remove(ks, kv.key()?);
            if batch.len() >= RESTORE_BATCH_ENTRIES {
                let r = std::mem::replace(&mut batch, db.batch()).commit();
                self.poison_on_err(r)?;
                if self.closing() {
                    return Err(closed());
                }
            }
        }
        let r = batch.commit();
        self.poison_on_err(r)
    }
}
