//! The store: a fjall database holding the catalog, one keyspace of items
//! and one of index entries per table, and the single write path through
//! which every change (item, index entries, counters) commits in one atomic
//! batch.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use crate::catalog::{self, CreateTableInput, IndexInput};
use crate::cipher::{open_in, seal_in};
use crate::durability::{Durability, GroupCommit};
use crate::error::{CancellationReason, Result, StoreError, WriteFailure};
use crate::key::{index_key, item_key};
use crate::messages;
use crate::stream::{
    Image, LiveStream, Origin, RecordRef, StreamConfig, StreamMeta, Streams, decode_stored, encode_record,
    materialize_record, record_key, record_new_by_ref, slot_of, split_stored, stored_item,
};
use crate::table::{BillingMode, StreamSpec, StreamViewType, TableDef, Throughput};
use crate::ttl::{ttl_key, ttl_secs};
use crate::unit::{Change, Unit};
use crate::value::{Item, encode_item, encode_item_value};

/// Where and how to open the store.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// The data directory; `None` makes a temporary one removed on drop.
    pub path: Option<PathBuf>,
    pub durability: Durability,
    /// Block cache size in bytes; 0 picks [`DEFAULT_CACHE_BYTES`].
    pub cache_bytes: u64,
    /// Table files fjall keeps open at once (its descriptor cache); 0 picks
    /// [`DEFAULT_CACHED_FILES`]. The server sizes it from the process's
    /// descriptor limit so that table files never starve connections or the
    /// journal of descriptors.
    pub max_cached_files: usize,
    /// Shards, rollover and retention of change streams, and whether
    /// replicated writes' records are marked.
    pub streams: StreamConfig,
    /// How often expired items are looked for and deleted; `None` picks
    /// [`DEFAULT_TTL_INTERVAL`].
    pub ttl_interval: Option<Duration>,
    /// Encryption at rest (`cipher.rs`): chosen when the data directory is
    /// made; a directory made with a key opens only with that key.
    pub encryption: Option<crate::cipher::EncryptionKey>,
    /// The region this store is (`replication.rs`): the writes it makes to
    /// global tables are stamped with its node number. Empty means
    /// `us-east-1`.
    pub region: String,
}

/// The block cache's default size: a laptop's share. The cache holds data
/// blocks, index partitions and filter partitions of tables past their first
/// two levels; what it cannot hold is read from the OS page cache (a `pread`,
/// a checksum and, past L1, an lz4 decompression of a 4 KiB block per miss).
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// fjall's own default on Linux: descriptors kept open for table files.
pub const DEFAULT_CACHED_FILES: usize = 900;
/// fjall refuses a descriptor cache smaller than this.
const MIN_CACHED_FILES: usize = 10;

/// The TTL sweeper's default interval: prompt, for local use.
pub const DEFAULT_TTL_INTERVAL: Duration = Duration::from_secs(1);

/// Item count and billed bytes of a table, kept exactly and persisted with
/// every write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub items: u64,
    pub bytes: u64,
}

/// An open table: its definition and its keyspaces.
pub struct TableHandle {
    pub def: TableDef,
    pub(crate) items: Keyspace,
    pub(crate) index: Keyspace,
    stats: Arc<Mutex<TableStats>>,
}

impl TableHandle {
    pub fn stats(&self) -> TableStats {
        *lock(&self.stats)
    }

    /// Whether the table is being restored or imported (`CREATING`).
    pub fn is_restoring(&self) -> bool {
        self.def.restore.as_ref().is_some_and(|r| r.in_progress)
    }

    /// Whether the table is being filled by an import (`CREATING`, as a
    /// table being made; one being restored is not yet a table at all).
    pub fn is_importing(&self) -> bool {
        self.def
            .restore
            .as_ref()
            .is_some_and(|r| r.in_progress && matches!(r.source, crate::backup::RestoreSource::Import(_)))
    }
}

/// What a write closure decides, given the current item.
#[derive(Debug)]
pub enum Decision {
    Put(Item),
    Delete,
    /// Change nothing (a condition check, or a write that changes nothing).
    Keep,
}

/// The item before and after a write.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub old: Option<Item>,
    pub new: Option<Item>,
}

/// Decides a write's change from the current item (`None` when absent).
pub type Decide<'a> = Box<dyn FnOnce(Option<&Item>) -> Result<Decision> + 'a>;

/// How a batch of writes is applied, beyond its operations.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// All-or-nothing with per-op cancellation reasons (TransactWriteItems).
    pub transaction: bool,
    /// Who writes; the stream records carry it.
    pub origin: Origin,
    /// System entries to set (`Some`) or delete (`None`) in the same atomic
    /// commit as the writes, such as a trigger's checkpoint together with the
    /// writes of the batch it covers. Keys are the caller's; the store only
    /// keeps them.
    pub sys: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// One write of a transaction or batch: a table, the key item, and the
/// closure deciding the change under the write lock.
pub struct WriteOp<'a> {
    pub table: String,
    pub key: Item,
    pub decide: Decide<'a>,
}

const META_TABLE: &[u8] = b"table\0";
const META_STATS: &[u8] = b"stats\0";
const META_NEXT_ID: &[u8] = b"next_table_id";
pub(crate) const META_STREAM: &[u8] = b"stream\0";
pub(crate) const META_SEQ_NEXT: &[u8] = b"seq_next";
const META_STREAM_NUM: &[u8] = b"next_stream_num";
const META_SECRET: &[u8] = b"secret\0";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn lock_pub<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    lock(m)
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Milliseconds since the epoch, by the wall clock (0 before 1970): the
/// time the store stamps records, revisions and ages with.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(crate) struct Inner {
    pub(crate) db: Database,
    path: PathBuf,
    /// Removed on drop: nothing to flush.
    temporary: bool,
    pub(crate) meta: Keyspace,
    /// Stream records (see `stream.rs`).
    pub(crate) records: LazyKeyspace,
    /// TTL entries: `table id ++ expiry seconds ++ item key` (see `ttl.rs`).
    pub(crate) ttl: LazyKeyspace,
    /// System entries of the layers above (functions, mappings,
    /// checkpoints), written with [`WriteOptions::sys`].
    pub(crate) sys: LazyKeyspace,
    tables: RwLock<HashMap<String, Arc<TableHandle>>>,
    /// Serialises every read-check-write, making conditional writes and
    /// transactions serializable. Holds the next table id.
    pub(crate) write: Mutex<u64>,
    /// Live streams and the sequence counter; locked after `write`.
    pub(crate) streams: Mutex<Streams>,
    /// Held by a commit that puts new images into records (from the items
    /// that referred to them) from its read of the records to its commit,
    /// and by retention around each removal it commits, so that no record
    /// is written back after retention removed it. Locked after `write` and
    /// before `streams`.
    pub(crate) trim: Mutex<()>,
    pub(crate) stream_config: StreamConfig,
    pub(crate) ttl_interval: Duration,
    group: Arc<GroupCommit>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// Dropping the sender stops the maintenance thread.
    maintenance: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    /// When (ms since `opened`) a writer last checked the memtables' sizes.
    memtables_checked_ms: AtomicU64,
    opened: std::time::Instant,
    /// Set by the first write that failed in fjall (see
    /// [`Store::write_failure`]).
    poisoned: std::sync::OnceLock<WriteFailure>,
    /// Backups and restores running (`backup.rs`).
    pub(crate) backup_jobs: Arc<Mutex<crate::backup::Jobs>>,
    /// Item versions of tables with point-in-time recovery (`history.rs`).
    pub(crate) history: LazyKeyspace,
    pub(crate) history_clock: crate::history::HistoryClock,
    /// Set once any table definition carries a resource-based policy (at
    /// open, or when one is saved), and never cleared while the store is
    /// open: until then, authorization may skip looking policies up for
    /// callers whose own policies allow everything.
    resource_policies: AtomicBool,
    /// Point-in-time reads running (`history.rs`).
    pub(crate) history_readers: crate::history::Readers,
    /// Background jobs holding a handle to the store (see `Store::hold`).
    background: Arc<AtomicUsize>,
    /// Running jobs' progress by id (`backup.rs`, `Store::track`).
    pub(crate) progress: Arc<Mutex<HashMap<String, Arc<crate::backup::Progress>>>>,
    /// Encryption at rest (`cipher.rs`): seals every value of the item,
    /// index, stream, history and system keyspaces.
    pub(crate) cipher: Option<crate::cipher::Cipher>,
    /// This region's node number in replication stamps.
    pub(crate) node: u32,
}

/// A background job's hold on the store (see [`Store::hold`]).
pub struct Holding(Arc<AtomicUsize>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    /// Every keyspace of the store.
    fn keyspaces(&self) -> Vec<Keyspace> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Keyspace> = tables.values().flat_map(|t| [t.items.clone(), t.index.clone()]).collect();
        all.push(self.meta.clone());
        all.extend([&self.records, &self.ttl, &self.sys, &self.history].into_iter().filter_map(|k| k.get().cloned()));
        all
    }
}

/// A keyspace created by its first write. Creating a fjall keyspace costs a
/// few milliseconds of fsyncs, so a fresh data directory creates only what
/// it uses: the cold start pays for the catalog alone.
pub(crate) struct LazyKeyspace {
    db: Database,
    name: &'static str,
    options: fn() -> KeyspaceCreateOptions,
    cell: std::sync::OnceLock<Keyspace>,
}

impl LazyKeyspace {
    /// Opens the keyspace if the data directory has it.
    fn open(db: &Database, name: &'static str, options: fn() -> KeyspaceCreateOptions) -> Result<Self> {
        let lazy = LazyKeyspace { db: db.clone(), name, options, cell: std::sync::OnceLock::new() };
        if db.keyspace_exists(name) {
            lazy.get_or_create()?;
        }
        Ok(lazy)
    }

    /// The keyspace, if it exists yet (reads of one that does not find nothing).
    pub(crate) fn get(&self) -> Option<&Keyspace> {
        self.cell.get()
    }

    /// The keyspace, created on first use. Two threads racing here both get
    /// fjall's one keyspace of that name.
    pub(crate) fn get_or_create(&self) -> Result<&Keyspace> {
        if let Some(ks) = self.cell.get() {
            return Ok(ks);
        }
        let ks = self.db.keyspace(self.name, self.options)?;
        Ok(self.cell.get_or_init(|| ks))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((stop, h)) = lock(&self.maintenance).take() {
            drop(stop);
            // The maintenance thread may itself hold the last reference.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        self.group.shutdown();
        if let Some(h) = lock(&self.flusher).take() {
            let _ = h.join();
        }
        // A clean close writes the memtables out, so the next open need not
        // replay the journal (which is what a crash leaves it to do).
        // Small memtables replay from the journal in a blink: flush only
        // when there is enough to matter for the next open.
        const FLUSH_AT_CLOSE_BYTES: u64 = 16 * 1024 * 1024;
        if !self.temporary
            && self.poisoned.get().is_none()
            && self.group.failure().is_none()
            && self.db.write_buffer_size() >= FLUSH_AT_CLOSE_BYTES
        {
            for ks in &self.keyspaces() {
                if let Err(e) = ks.rotate_memtable() {
                    tracing::warn!(error = %e, "flushing a memtable at close failed; the journal covers it");
                }
            }
            // Bounded: whatever is not flushed in time, the journal covers.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            // (An empty memtable stays counted as sealed: count flushes only.)
            while std::time::Instant::now() < deadline && self.db.outstanding_flushes() > 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            if let Err(e) = self.db.persist(fjall::PersistMode::SyncAll) {
                tracing::warn!(error = %e, "final fsync failed");
            }
        }
    }
}

/// A handle to the store; cheap to clone and safe to share across threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The write buffer: once the active memtables of all keyspaces together
/// hold this much, the largest are sealed and flushed until they hold half,
/// by the writer that notices (see [`Store::rotate_full_memtables`]). It
/// bounds the memory of unflushed writes and, with
/// [`MAX_JOURNAL_BYTES`], the journal a restart after a crash replays: a
/// journal file is dropped once every keyspace with writes in it has
/// flushed them, so small keyspaces (the table counters in `meta`, a quiet
/// table) must be flushed too, not only the one that fills up.
const WRITE_BUFFER_BYTES: u64 = 56 * 1024 * 1024;
/// fjall's bound on the journal files kept for unflushed memtables; past it
/// fjall flushes the keyspaces that hold the oldest journal back. Its
/// minimum (fjall's default is 512 MiB, which took 4.5 s to replay).
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// The least time between two memtable checks.
const ROTATION_CHECK_INTERVAL: Duration = Duration::from_millis(5);

/// fjall's own rotation threshold for the keyspaces the store creates: in
/// effect never. fjall asks its workers to rotate from every write once a
/// memtable is past its threshold; under a sustained load that floods their
/// bounded queue, costs a worker wake-up per write, and can block two
/// workers rotating at once on a full queue for good. Keyspaces created
/// before keep fjall's 64 MiB, above [`WRITE_BUFFER_BYTES`].
/// The nice value of fjall's flush and compaction threads. They compete
/// for the same cores as the request threads; on a small machine a
/// compaction that takes a whole core for seconds after a burst of writes
/// would add its time slice to readers' tail latency. At nice 5 the
/// scheduler gives a busy request thread about three times their share, so
/// requests come first, while compaction still gets a quarter of a
/// contended core (and all of an idle one), enough to keep level 0 shallow
/// under sustained writes (BENCHMARKS.md, "Scale").
const BACKGROUND_NICE: i32 = 5;

/// Lowers the priority of fjall's worker threads (`fjall:worker`), found
/// by name in `/proc/self/task`. Linux only (elsewhere a nice value is the
/// process's, not a thread's); best effort: failing to read or set leaves
/// the default priority.
fn lower_background_priority() {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
        for task in tasks.flatten() {
            let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else { continue };
            if comm.trim_end() != "fjall:worker" {
                continue;
            }
            let Some(tid) = task.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            // On Linux PRIO_PROCESS with a thread id sets that thread's
            // nice value alone.
            if let Err(e) = rustix::process::setpriority_process(rustix::process::Pid::from_raw(tid), BACKGROUND_NICE) {
                tracing::debug!(error = %e, tid, "could not lower a storage thread's priority");
            }
        }
    }
}

/// Gives the calling thread the priority of fjall's workers
/// ([`BACKGROUND_NICE`]): backups, restores and imports take what the
/// requests leave. Linux only; best effort.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let Ok(link) = std::fs::read_link("/proc/thread-self") else { return };
        let Some(tid) = link.file_name().and_then(|t| t.to_str()).and_then(|t| t.parse::<i32>().ok()) else { return };
        if let Err(e) = rustix::process::setpriority_process(rustix::process::Pid::from_raw(tid), BACKGROUND_NICE) {
            tracing::debug!(error = %e, "could not lower a background job's priority");
        }
    }
}

const FJALL_MEMTABLE_BYTES: u64 = 1 << 40;

/// Memtables (active and sealed, not yet flushed) past which a bulk writer
/// waits for flushes: four write buffers. A restore writes hundreds of MB a
/// second, faster than a flush at background priority persists them; its
/// sealed memtables would pile up in memory (2.8 GB at 1.4M items).
const BULK_UNFLUSHED_BYTES: u64 = 4 * WRITE_BUFFER_BYTES;

/// Options of every keyspace the store creates (fjall records them with the
/// keyspace; one made by an older version keeps its own).
///
/// Index and filter blocks past L1 are *partitioned*: a small top-level
/// index of each table file stays in memory and the 4 KiB partitions go
/// through the block cache like data blocks. fjall's default keeps a table's
/// index and filter as one block each from L2 to L3; a 64 MiB table of
/// compressible items has an index block of megabytes, larger than a shard
/// of the block cache can hold, so every point read past about a million
/// items re-read and re-checksummed it (GetItem fell from 41k/s to 0.9k/s;
/// BENCHMARKS.md, "Scale"). L0 and L1 filters and indexes are pinned: they
/// are small (L1 is 256 MiB of data) and hit by every read.
fn keyspace_options() -> KeyspaceCreateOptions {
    use fjall::config::{PartitioningPolicy, PinningPolicy};
    KeyspaceCreateOptions::default()
        .max_memtable_size(FJALL_MEMTABLE_BYTES)
        .index_block_pinning_policy(PinningPolicy::new([true, true, false]))
        .filter_block_pinning_policy(PinningPolicy::new([true, true, false]))
        .index_block_partitioning_policy(PartitioningPolicy::new([false, false, true]))
        .filter_block_partitioning_policy(PartitioningPolicy::new([false, false, true]))
}

/// The meta entry holding the check value of an encrypted data directory.
const META_ENCRYPTION: &[u8] = b"encryption";

/// The store's cipher for `key`, after checking that the data directory
/// was made with it: a directory made with a key opens only with that key;
/// one made without opens only without one (its values are plain, and
/// plain and sealed values cannot be told apart), unless it holds nothing
/// yet.
fn open_cipher(
    db: &Database,
    meta: &Keyspace,
    key: Option<&crate::cipher::EncryptionKey>,
    path: &std::path::Path,
) -> Result<Option<crate::cipher::Cipher>> {
    let stored = meta.get(META_ENCRYPTION)?;
    match (key, stored) {
        (None, None) => Ok(None),
        (None, Some(check)) => {
            let id = crate::cipher::check_key_id(&check);
            Err(StoreError::Open(format!(
                "the data directory {} is encrypted (key id {id}): start with its key (--encryption-key)",
                path.display()
            )))
        }
        (Some(key), Some(check)) => {
            let cipher = crate::cipher::open_checked(key, &check)
                .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
            Ok(Some(cipher))
        }
        (Some(key), None) => {
            let fresh = meta.get(META_NEXT_ID)?.is_none()
                && meta.prefix(META_TABLE).next().is_none()
                && ["sys", "streams", "history"].iter().all(|n| !db.keyspace_exists(n));
            if !fresh {
                return Err(StoreError::Open(format!(
                    "the data directory {} was made without encryption and holds data: encryption is chosen when a \
                     data directory is made (export the tables and import them into a new, encrypted one)",
                    path.display()
                )));
            }
            let cipher = crate::cipher::Cipher::for_new_directory(key)?;
            meta.insert(META_ENCRYPTION, crate::cipher::check_value(&cipher))?;
            db.persist(fjall::PersistMode::SyncAll)?;
            Ok(Some(cipher))
        }
    }
}

fn table_keyspace_names(id: u64) -> (String, String) {
    (format!("t{id}"), format!("x{id}"))
}

fn has_resource_policy(def: &TableDef) -> bool {
    def.settings.resource_policy.is_some() || def.settings.stream_resource_policy.is_some()
}

fn stats_key(id: u64) -> Vec<u8> {
    [META_STATS, &id.to_be_bytes()].concat()
}

/// The data directory's file naming the process that has it open (its id),
/// so that another server finding it locked can say which.
const OWNER_FILE: &str = "tidepool.pid";

/// Why the data directory at `path` did not open, naming it once.
fn open_error(path: &std::path::Path, e: fjall::Error) -> StoreError {
    match e {
        fjall::Error::Locked => {
            let owner = std::fs::read_to_string(path.join(OWNER_FILE))
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .map(|pid| format!(" (process {pid})"))
                .unwrap_or_default();
            StoreError::Open(format!(
                "the data directory {} is in use by another server{owner}: stop it, or give this one another --data-dir",
                path.display()
            ))
        }
        fjall::Error::Io(e) => StoreError::Open(format!("{}: {e}", path.display())),
        fjall::Error::Storage(fjall::LsmError::Io(e)) => StoreError::Open(format!("{}: {e}", path.display())),
        e => StoreError::Open(format!("{}: {e}", path.display())),
    }
}

impl Store {
    /// Opens (or creates) the store and recovers its catalog.
    pub fn open(config: StoreConfig) -> Result<Store> {
        let (path, temporary) = match config.path {
            Some(p) => (p, false),
            None => {
                let unique = format!(
                    "tidepool-{}-{}",
                    std::process::id(),
                    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                );
                (std::env::temp_dir().join(unique), true)
            }
        };
        // Commits only fill the journal buffer; `GroupCommit::wait` hands it
        // to the OS (or fsyncs it) once per group of writers, outside the
        // write lock.
        let mut builder = Database::builder(&path).temporary(temporary).manual_journal_persist(true);
        let cache_bytes = if config.cache_bytes > 0 { config.cache_bytes } else { DEFAULT_CACHE_BYTES };
        builder = builder.cache_size(cache_bytes);
        let cached_files = if config.max_cached_files > 0 { config.max_cached_files } else { DEFAULT_CACHED_FILES };
        builder = builder.max_cached_files(Some(cached_files.max(MIN_CACHED_FILES)));
        builder = builder.max_journaling_size(MAX_JOURNAL_BYTES);
        let db = builder.open().map_err(|e| open_error(&path, e))?;
        if !temporary {
            crate::space::remove_probe(&path);
            // Read by the next server that finds the directory locked.
            let _ = std::fs::write(path.join(OWNER_FILE), std::process::id().to_string());
        }
        lower_background_priority();
        let meta = db.keyspace("meta", keyspace_options)?;
        // Stream records are written once, read in order and dropped by age:
        // keeping their values out of the LSM tree (key-value separation)
        // spares compaction from rewriting them.
        let records = LazyKeyspace::open(&db, "streams", || {
            keyspace_options().with_kv_separation(Some(fjall::KvSeparationOptions::default().separation_threshold(512)))
        })?;
        let ttl = LazyKeyspace::open(&db, "ttl", keyspace_options)?;
        let sys = LazyKeyspace::open(&db, "sys", keyspace_options)?;
        // Item versions are written once and read only by a restore.
        let history = LazyKeyspace::open(&db, "history", || {
            keyspace_options().with_kv_separation(Some(fjall::KvSeparationOptions::default().separation_threshold(512)))
        })?;
        let cipher = open_cipher(&db, &meta, config.encryption.as_ref(), &path)?;
        let mut next_id = match meta.get(META_NEXT_ID)? {
            Some(v) => {
                u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt("next table id".into()))?)
            }
            None => 1,
        };
        let mut tables = HashMap::new();
        for kv in meta.prefix(META_TABLE) {
            let (_, v) = kv.into_inner()?;
            let def: TableDef =
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("table definition: {e}")))?;
            next_id = next_id.max(def.id + 1);
            let stats = match meta.get(stats_key(def.id))? {
                Some(v) if v.len() == 16 => TableStats {
                    items: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
                    bytes: u64::from_be_bytes(v[8..].try_into().expect("8 bytes")),
                },
                _ => TableStats::default(),
            };
            let (t, x) = table_keyspace_names(def.id);
            let handle = TableHandle {
                items: db.keyspace(&t, keyspace_options)?,
                index: db.keyspace(&x, keyspace_options)?,
                def,
                stats: Arc::new(Mutex::new(stats)),
            };
            tables.insert(handle.def.name.clone(), Arc::new(handle));
        }
        let resource_policies = AtomicBool::new(tables.values().any(|t| has_resource_policy(&t.def)));
        let streams = load_streams(&meta, records.get())?;
        let (group, flusher) = GroupCommit::start(db.clone(), path.clone(), config.durability);
        tracing::info!(path = %path.display(), tables = tables.len(), streams = streams.live.len(), "store opened");
        let mut stream_config = config.streams;
        stream_config.shards = stream_config.shards.clamp(1, 1024);
        let store = Store {
            inner: Arc::new(Inner {
                path: path.clone(),
                temporary,
                db,
                meta,
                records,
                ttl,
                sys,
                tables: RwLock::new(tables),
                write: Mutex::new(next_id),
                streams: Mutex::new(streams),
                trim: Mutex::new(()),
                stream_config,
                ttl_interval: config.ttl_interval.unwrap_or(DEFAULT_TTL_INTERVAL),
                group,
                flusher: Mutex::new(Some(flusher)),
                maintenance: Mutex::new(None),
                memtables_checked_ms: AtomicU64::new(0),
                opened: std::time::Instant::now(),
                poisoned: std::sync::OnceLock::new(),
                backup_jobs: Arc::default(),
                history,
                history_clock: Default::default(),
                resource_policies,
                history_readers: Default::default(),
                background: Arc::new(AtomicUsize::new(0)),
                progress: Arc::default(),
                cipher,
                node: crate::replication::region_node(if config.region.is_empty() {
                    "us-east-1"
                } else {
                    &config.region
                }),
            }),
        };
        store.adopt_legacy_streams()?;
        store.start_maintenance();
        store.recover_backups()?;
        store.resume_restores();
        store.resume_backfills();
        store.resume_pitr();
        Ok(store)
    }

    /// Whether any table may have a resource-based policy: false only while
    /// no definition saved or loaded since the store opened had one.
    pub fn any_resource_policy(&self) -> bool {
        self.inner.resource_policies.load(Ordering::SeqCst)
    }

    /// The data directory (a temporary one is removed with the store, with
    /// whatever the layers above keep in it).
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn from_weak(weak: &Weak<Inner>) -> Option<Store> {
        weak.upgrade().map(|inner| Store { inner })
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// Whether every handle to the store but those of background jobs
    /// (restores, PITR's enabling copies: see [`Store::hold`]) has been
    /// dropped: they should stop and let it close.
    pub fn closing(&self) -> bool {
        Arc::strong_count(&self.inner) <= self.inner.background.load(Ordering::SeqCst)
    }

    /// Counts the caller as a background job holding the store until the
    /// guard drops (see [`Store::closing`]).
    pub fn hold(&self) -> Holding {
        self.inner.background.fetch_add(1, Ordering::SeqCst);
        Holding(self.inner.background.clone())
    }

    /// Runs retention, shard rollover and the TTL sweeper in the background
    /// until the store is dropped.
    fn start_maintenance(&self) {
        let (stop, rx) = mpsc::channel::<()>();
        let weak = Arc::downgrade(&self.inner);
        let rollover = self.inner.stream_config.rollover;
        let tick = self.inner.ttl_interval.min(rollover / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let handle = std::thread::Builder::new()
            .name("tidepool-maintenance".into())
            .spawn(move || {
                let mut last_ttl = std::time::Instant::now();
                let mut last_trim = std::time::Instant::now();
                loop {
                    match rx.recv_timeout(tick) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(store) = Store::from_weak(&weak) else { return };
                    if let Err(e) = store.maintain_streams(now_ms()) {
                        tracing::warn!(error = %e, "stream maintenance failed");
                    }
                    if last_trim.elapsed() >= crate::history::TRIM_INTERVAL {
                        last_trim = std::time::Instant::now();
                        if let Err(e) = store.trim_history(now_secs()) {
                            tracing::warn!(error = %e, "trimming point-in-time history failed");
                        }
                    }
                    if last_ttl.elapsed() >= store.inner.ttl_interval {
                        last_ttl = std::time::Instant::now();
                        if let Err(e) = store.sweep_ttl(now_secs() as u64) {
                            tracing::warn!(error = %e, "TTL sweep failed");
                        }
                    }
                }
            })
            .expect("spawn maintenance thread");
        *lock(&self.inner.maintenance) = Some((stop, handle));
    }

    /// After a commit (outside the write lock): seals, and queues for
    /// flushing, the largest active memtables once they hold
    /// [`WRITE_BUFFER_BYTES`] together. The write buffers' total (sealed
    /// ones included) gates it, and one writer checks at most every
    /// [`ROTATION_CHECK_INTERVAL`].
    fn rotate_full_memtables(&self) {
        if self.inner.db.write_buffer_size() < WRITE_BUFFER_BYTES {
            return;
        }
        let now = self.inner.opened.elapsed().as_millis() as u64;
        let last = self.inner.memtables_checked_ms.load(Ordering::Acquire);
        if now < last + ROTATION_CHECK_INTERVAL.as_millis() as u64
            || self.inner.memtables_checked_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        self.seal_full_memtables();
    }

    /// If the active memtables hold [`WRITE_BUFFER_BYTES`] together, seals
    /// the largest until they hold half, now. Bulk loops that commit their
    /// own batches (index and TTL backfills, stream trimming) call it after
    /// each batch.
    /// Bulk writers (restores, imports, history clean-ups) write faster than
    /// flushes persist what they sealed; past [`BULK_UNFLUSHED_BYTES`] not
    /// yet flushed they wait (up to a minute), so memory stays bounded.
    pub(crate) fn wait_for_flushes(&self) {
        let start = std::time::Instant::now();
        while self.inner.db.write_buffer_size() > BULK_UNFLUSHED_BYTES
            && start.elapsed() < Duration::from_secs(60)
            && !self.closing()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub(crate) fn seal_full_memtables(&self) {
        use fjall::AbstractTree;
        let mut active: Vec<(u64, Keyspace)> = self
            .inner
            .keyspaces()
            .into_iter()
            .map(|ks| (ks.tree.active_memtable().size(), ks))
            .filter(|(size, _)| *size > 0)
            .collect();
        let mut total: u64 = active.iter().map(|(size, _)| size).sum();
        if total < WRITE_BUFFER_BYTES {
            return;
        }
        active.sort_unstable_by_key(|(size, _)| std::cmp::Reverse(*size));
        for (size, ks) in active {
            if total <= WRITE_BUFFER_BYTES / 2 {
                break;
            }
            if let Err(e) = ks.rotate_memtable() {
                tracing::warn!(error = %e, "sealing a memtable failed");
            }
            total -= size;
        }
    }

    /// Gives tables whose stream predates stream capture a live stream.
    fn adopt_legacy_streams(&self) -> Result<()> {
        let tables: Vec<Arc<TableHandle>> =
            self.inner.tables.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for t in tables {
            let known = lock(&self.inner.streams).live.contains_key(&t.def.stream.as_ref().map_or(0, |s| s.num));
            if t.def.stream.is_some() && !known {
                self.alter_table(&t.def.name, |def| {
                    if let Some(s) = &mut def.stream {
                        s.num = 0;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// A random 32-byte key named `name`, made on first use and kept in the
    /// store (for example to authenticate tokens handed to clients).
    pub fn secret(&self, name: &str) -> Result<[u8; 32]> {
        let key = [META_SECRET, name.as_bytes()].concat();
        let _guard = lock(&self.inner.write);
        if let Some(v) = self.inner.meta.get(&key)?
            && let Ok(k) = <[u8; 32]>::try_from(v.as_ref())
        {
            return Ok(k);
        }
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let r = self.inner.meta.insert(&key, k);
        self.poison_on_err(r)?;
        self.sync_now()?;
        Ok(k)
    }

    /// The open table called `name`. A table still being restored is not
    /// open yet: data operations do not find it, as DynamoDB's do not find a
    /// `CREATING` table.
    pub fn table(&self, name: &str) -> Result<Arc<TableHandle>> {
        self.table_any(name)
            .filter(|t| !t.is_restoring())
            .ok_or_else(|| StoreError::ResourceNotFound(messages::table::RESOURCE_NOT_FOUND.into()))
    }

    /// The table called `name`, open or being restored.
    pub(crate) fn table_any(&self, name: &str) -> Option<Arc<TableHandle>> {
        self.inner.tables.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Every table, open or being restored.
    pub(crate) fn all_tables(&self) -> Vec<Arc<TableHandle>> {
        self.inner.tables.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Like [`Store::table`], with DescribeTable's wording for a missing
    /// table; finds a table being restored too (its description says
    /// `CREATING`).
    pub fn describe_table(&self, name: &str) -> Result<Arc<TableHandle>> {
        self.table_any(name).ok_or_else(|| StoreError::ResourceNotFound(messages::table::table_not_found(name)))
    }

    /// Table names in order, starting after `start`, at most `limit`.
    /// Returns the names and whether more remain.
    pub fn list_tables(&self, start: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        let tables = self.inner.tables.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = tables.keys().filter(|n| start.is_none_or(|s| n.as_str() > s)).collect();
        names.sort();
        let more = names.len() > limit;
        (names.into_iter().take(limit).cloned().collect(), more)
    }

    /// Why the store takes no more writes, if it does not: a write or an
    /// fsync failed, so the journal's state is unknown until the data
    /// directory is opened again (which recovers the journal to its last
    /// whole batch). Reads go on. The server watches this and reopens the
    /// store once the disk has room (`src/recovery.rs`).
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.inner.poisoned.get().copied().or_else(|| self.inner.group.failure())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        match self.write_failure() {
            Some(f) => Err(StoreError::Poisoned(f)),
            None => Ok(()),
        }
    }

    /// Marks the store unwritable after a storage failure left state unknown.
    pub(crate) fn poison_on_err<T>(&self, r: std::result::Result<T, fjall::Error>) -> Result<T> {
        r.map_err(|e| {
            tracing::error!(error = %e, "storage write failed; refusing further writes");
            // The first failure names the cause; fjall's own `Poisoned`
            // after a failed flush in its workers says nothing more.
            let failure = *self.inner.poisoned.get_or_init(|| WriteFailure::of_fjall(&e, &self.inner.path));
            StoreError::Poisoned(failure)
        })
    }

    fn persist_def(&self, def: &TableDef) -> Result<()> {
        if has_resource_policy(def) {
            self.inner.resource_policies.store(true, Ordering::SeqCst);
        }
        let json = serde_json::to_vec(def).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let r = self.inner.meta.insert([META_TABLE, def.name.as_bytes()].concat(), json);
        self.poison_on_err(r)
    }

    fn stream_label() -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        format_timestamp_millis(now.as_millis() as u64)
    }

    /// Creates a table. The definition is durable before this returns.
    pub fn create_table(&self, input: CreateTableInput) -> Result<Arc<TableHandle>> {
        self.create_table_with(input, None, || Ok(()))
    }

    /// [`Store::create_table`], recording the restore that makes it, once
    /// `check` (run under the write lock) passes.
    pub(crate) fn create_table_with(
        &self,
        input: CreateTableInput,
        restore: Option<crate::table::RestoreSummary>,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<Arc<TableHandle>> {
        let (key_schema, indexes, vector_indexes) = catalog::validate_create(&input)?;
        self.check_writable()?;
        let mut next_id = lock(&self.inner.write);
        check()?;
        if let Some(t) = self.table_any(&input.name) {
            // DynamoDB's words for a name a restore is filling.
            return Err(StoreError::ResourceInUse(if t.is_restoring() {
                messages::table::table_being_used(&input.name)
            } else {
                messages::table::table_already_exists(&input.name)
            }));
        }
        let id = *next_id;
        let next_index_id = (indexes.len() + vector_indexes.len()) as u32 + 1;
        let def = TableDef {
            name: input.name.clone(),
            id,
            table_id: uuid::Uuid::new_v4().to_string(),
            created_at: now_secs(),
            key_schema,
            attribute_definitions: input
                .attribute_definitions
                .iter()
                .map(|(name, ty)| crate::table::KeyAttr { name: name.clone(), ty: *ty })
                .collect(),
            billing_mode: input.billing_mode,
            throughput: input.throughput,
            indexes,
            stream: input.stream.map(|view_type| StreamSpec { view_type, label: Self::stream_label(), num: 0 }),
            old_streams: Vec::new(),
            tags: input.tags,
            ttl_attribute: None,
            deletion_protection: input.deletion_protection,
            table_class: input.table_class.unwrap_or_else(|| "STANDARD".into()),
            next_index_id,
            settings: input.settings,
            restore,
            pitr: None,
            replicas: Vec::new(),
            vector_indexes,
        };
        let mut def = def;
        self.switch_stream(None, &mut def)?;
        let (t, x) = table_keyspace_names(id);
        let items = self.inner.db.keyspace(&t, keyspace_options)?;
        let index = self.inner.db.keyspace(&x, keyspace_options)?;
        let r = self.inner.meta.insert(META_NEXT_ID, (id + 1).to_be_bytes());
        self.poison_on_err(r)?;
        self.persist_def(&def)?;
        self.sync_now()?;
        *next_id = id + 1;
        let handle = Arc::new(TableHandle { def, items, index, stats: Arc::new(Mutex::new(TableStats::default())) });
        self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).insert(input.name, handle.clone());
        Ok(handle)
    }

    pub(crate) fn sync_now(&self) -> Result<()> {
        let r = self.inner.db.persist(fjall::PersistMode::SyncAll);
        self.poison_on_err(r)
    }

    /// Deletes a table and all its items and index entries, unless a
    /// backup of it is being made.
    pub fn delete_table(&self, name: &str) -> Result<Arc<TableHandle>> {
        self.delete_table_checked(name, true)
    }

    /// Deletes a global table's replica at another region's request: the
    /// group has already let it go, so a backup being made does not keep
    /// it (the backup reads its own snapshot).
    pub fn drop_replica_table(&self, name: &str) -> Result<Arc<TableHandle>> {
        self.delete_table_checked(name, false)
    }

    fn delete_table_checked(&self, name: &str, backups: bool) -> Result<Arc<TableHandle>> {
        self.check_writable()?;
        let _guard = lock(&self.inner.write);
        let handle = self.describe_table(name)?;
        if handle.is_restoring() {
            return Err(StoreError::ResourceInUse(messages::table::table_being_created(name)));
        }
        if handle.def.deletion_protection {
            return Err(StoreError::validation(messages::table::DELETION_PROTECTED));
        }
        // "While a backup is in progress, you can't delete the source table
        // of the backup" (the developer guide's on-demand backups).
        if backups
            && self
                .backups()?
                .iter()
                .any(|b| b.status == crate::backup::BackupStatus::Creating && b.table.id == handle.def.id)
        {
            return Err(StoreError::ResourceInUse(messages::table::table_being_backed_up(name)));
        }
        self.remove_table(&handle)?;
        Ok(handle)
    }

    /// Removes a table, under the write lock: its definition, counters and
    /// stream first (durably), then its keyspaces and TTL entries.
    fn remove_table(&self, handle: &Arc<TableHandle>) -> Result<()> {
        let name = handle.def.name.as_str();
        self.materialize_table(handle)?;
        let r = self.inner.meta.remove([META_TABLE, name.as_bytes()].concat());
        self.poison_on_err(r)?;
        let r = self.inner.meta.remove(stats_key(handle.def.id));
        self.poison_on_err(r)?;
        // A table with point-in-time recovery stays restorable for its
        // period (`history.rs`); one still being enabled leaves nothing.
        let keep_items = handle.def.pitr.is_some();
        if keep_items {
            self.record_deleted(&handle.def, handle.stats())?;
        }
        let mut gone = handle.def.clone();
        gone.stream = None;
        self.switch_stream(handle.def.stream.as_ref(), &mut gone)?;
        self.sync_now()?;
        self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        if keep_items {
            // Kept for restores until the recovery period ends; its
            // memtable is flushed so that it holds no journal back.
            let r = handle.items.rotate_memtable();
            self.poison_on_err(r.map(drop))?;
        } else {
            let r = self.inner.db.delete_keyspace(handle.items.clone());
            self.poison_on_err(r)?;
        }
        let r = self.inner.db.delete_keyspace(handle.index.clone());
        self.poison_on_err(r)?;
        if handle.def.ttl_attribute.is_some() {
            self.clear_ttl_entries(handle.def.id)?;
        }
        self.clear_stamps(handle.def.id)?;
        Ok(())
    }

    /// Replaces `old`'s definition with `def` (durably), under the write
    /// lock the caller holds; the same keyspaces and counters.
    pub(crate) fn replace_def(&self, old: &Arc<TableHandle>, def: TableDef) -> Result<Arc<TableHandle>> {
        self.persist_def(&def)?;
        self.sync_now()?;
        let new =
            Arc::new(TableHandle { def, items: old.items.clone(), index: old.index.clone(), stats: old.stats.clone() });
        self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).insert(new.def.name.clone(), new.clone());
        Ok(new)
    }

    /// The items keyspace kept for table `id`, deleted with PITR on.
    pub(crate) fn kept_items(&self, id: u64) -> Result<Option<Keyspace>> {
        let (t, _) = table_keyspace_names(id);
        if !self.inner.db.keyspace_exists(&t) {
            return Ok(None);
        }
        Ok(Some(self.inner.db.keyspace(&t, keyspace_options)?))
    }

    /// Drops the items keyspace kept for table `id`.
    pub(crate) fn drop_kept_items(&self, id: u64) -> Result<()> {
        if let Some(ks) = self.kept_items(id)? {
            let r = self.inner.db.delete_keyspace(ks);
            self.poison_on_err(r)?;
        }
        Ok(())
    }

    /// Removes a table whose restore failed.
    pub(crate) fn drop_restored(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let _guard = lock(&self.inner.write);
        match self.table_any(name) {
            Some(handle) if handle.is_restoring() => self.remove_table(&handle),
            _ => Ok(()),
        }
    }

    /// Marks a restored table loaded: its counters and its definition (no
    /// longer in progress) durably, then the open handle.
    pub(crate) fn finish_restore(&self, name: &str, id: u64, stats: TableStats) -> Result<()> {
        self.check_writable()?;
        let _guard = lock(&self.inner.write);
        let Some(old) = self.table_any(name).filter(|t| t.def.id == id && t.is_restoring()) else {
            return Ok(());
        };
        let mut def = old.def.clone();
        if let Some(r) = def.restore.as_mut() {
            r.in_progress = false;
        }
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&stats.items.to_be_bytes());
        v[8..].copy_from_slice(&stats.bytes.to_be_bytes());
        let r = self.inner.meta.insert(stats_key(id), v.to_vec());
        self.poison_on_err(r)?;
        self.persist_def(&def)?;
        self.sync_now()?;
        *lock(&old.stats) = stats;
        let new =
            Arc::new(TableHandle { def, items: old.items.clone(), index: old.index.clone(), stats: old.stats.clone() });
        self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), new);
        Ok(())
    }

    /// Refuses a change of a table that is `CREATING`: a restore's is not
    /// there until it is ACTIVE (as in DynamoDB); an import's is being made.
    pub fn changeable(&self, name: &str) -> Result<()> {
        match self.table_any(name) {
            Some(t) if t.is_importing() => Err(StoreError::ResourceInUse(messages::table::table_being_created(name))),
            Some(t) if t.is_restoring() => Err(StoreError::ResourceNotFound(messages::table::table_not_found(name))),
            _ => Ok(()),
        }
    }

    /// Replaces a table's definition through `change`, under the write lock;
    /// backfills indexes the change added and clears those it removed.
    pub fn alter_table(
        &self,
        name: &str,
        change: impl FnOnce(&mut TableDef) -> Result<()>,
    ) -> Result<Arc<TableHandle>> {
        self.alter_table_as(name, change, true)
    }

    /// [`Store::alter_table`] for a change another region of a global table
    /// made: a capacity decrease past the daily limit there held is taken
    /// (and counted), not refused.
    pub fn alter_table_replicated(
        &self,
        name: &str,
        change: impl FnOnce(&mut TableDef) -> Result<()>,
    ) -> Result<Arc<TableHandle>> {
        self.alter_table_as(name, change, false)
    }

    fn alter_table_as(
        &self,
        name: &str,
        change: impl FnOnce(&mut TableDef) -> Result<()>,
        enforce_decreases: bool,
    ) -> Result<Arc<TableHandle>> {
        self.check_writable()?;
        let _guard = lock(&self.inner.write);
        self.changeable(name)?;
        let old = self.table(name)?;
        let mut def = old.def.clone();
        change(&mut def)?;
        def.record_throughput_changes_as(&old.def, now_ms() as f64 / 1000.0, enforce_decreases)?;
        catalog::check_index_set(&def.indexes)?;
        crate::vector::check_set(&def.vector_indexes, &def.indexes)?;
        self.switch_stream(old.def.stream.as_ref(), &mut def)?;
        let new =
            Arc::new(TableHandle { def, items: old.items.clone(), index: old.index.clone(), stats: old.stats.clone() });
        // Backfill indexes that are new, drop entries of removed ones.
        // (One filled in the background, `backfill.rs`, is not filled here.)
        let added: Vec<_> =
            new.def.indexes.iter().filter(|i| old.def.index(&i.name).is_none() && i.backfill != Some(true)).collect();
        let removed: Vec<u32> = old
            .def
            .indexes
            .iter()
            .filter(|i| new.def.index(&i.name).is_none())
            .map(|i| i.id)
            .chain(
                old.def
                    .vector_indexes
                    .iter()
                    .filter(|v| new.def.vector_index(&v.name).is_none_or(|n| n.id != v.id))
                    .map(|v| v.id),
            )
            .collect();
        if !removed.is_empty() {
            // The definition without the index is durable before its
            // entries go: a crash in between leaves entries of an id no
            // index has (ids are never reused), never an index that lacks
            // some of its entries.
            self.persist_def(&new.def)?;
            self.sync_now()?;
            self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), new.clone());
        }
        for id in removed {
            let mut batch = self.inner.db.batch();
            for kv in old.index.prefix(id.to_be_bytes()) {
                batch.remove(&old.index, kv.key()?);
                if batch.len() >= 10_000 {
                    let r = std::mem::replace(&mut batch, self.inner.db.batch()).commit();
                    self.poison_on_err(r)?;
                    self.seal_full_memtables();
                }
            }
            let r = batch.commit();
            self.poison_on_err(r)?;
        }
        if !added.is_empty() {
            let mut batch = self.inner.db.batch();
            let cipher = self.inner.cipher.as_ref();
            for kv in old.items.iter() {
                let (k, v) = kv.into_inner()?;
                let item = decode_stored(&open_in(cipher, &old.items, &k, v)?)?;
                for idx in &added {
                    if let Some(k) = index_key(idx, &new.def.key_schema, &item) {
                        let value = encode_item(&idx.project(&item, &new.def.key_schema));
                        batch.insert(&old.index, k.clone(), seal_in(cipher, &old.index, &k, value.into()));
                    }
                }
                if batch.len() >= 10_000 {
                    let r = std::mem::replace(&mut batch, self.inner.db.batch()).commit();
                    self.poison_on_err(r)?;
                    self.seal_full_memtables();
                }
            }
            let r = batch.commit();
            self.poison_on_err(r)?;
        }
        if old.def.ttl_attribute != new.def.ttl_attribute {
            self.clear_ttl_entries(new.def.id)?;
            if let Some(attr) = &new.def.ttl_attribute {
                self.backfill_ttl(&new, attr)?;
            }
        }
        self.persist_def(&new.def)?;
        self.sync_now()?;
        self.inner.tables.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), new.clone());
        Ok(new)
    }

    /// Reads one item by its key item (strongly consistent).
    pub fn get_item(&self, table: &TableHandle, key: &Item) -> Result<Option<Item>> {
        let k = item_key(&table.def.key_schema, key);
        match table.items.get(&k)? {
            Some(v) => Ok(Some(decode_stored(&open_in(self.inner.cipher.as_ref(), &table.items, &k, v)?)?)),
            None => Ok(None),
        }
    }

    /// Reads several items from one consistent snapshot.
    pub fn get_items_consistent(&self, reads: &[(Arc<TableHandle>, Item)]) -> Result<Vec<Option<Item>>> {
        use fjall::Readable;
        let snap = self.inner.db.snapshot();
        reads
            .iter()
            .map(|(t, key)| {
                let k = item_key(&t.def.key_schema, key);
                match snap.get(&t.items, &k)? {
                    Some(v) => Ok(Some(decode_stored(&open_in(self.inner.cipher.as_ref(), &t.items, &k, v)?)?)),
                    None => Ok(None),
                }
            })
            .collect()
    }

    /// Applies one write: reads the current item, lets `decide` choose the
    /// change, and commits item, index entries and counters atomically.
    pub fn write(
        &self,
        table: &str,
        key: &Item,
        decide: impl FnOnce(Option<&Item>) -> Result<Decision>,
    ) -> Result<WriteOutcome> {
        let mut outcomes = self.write_many(
            vec![WriteOp { table: table.to_string(), key: key.clone(), decide: Box::new(decide) }],
            false,
        )?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Applies several writes in one atomic commit. With `transaction`, any
    /// failing op cancels all with per-op reasons; without it the first error
    /// is returned and nothing is written.
    pub fn write_many(&self, ops: Vec<WriteOp<'_>>, transaction: bool) -> Result<Vec<WriteOutcome>> {
        self.write_many_as(ops, transaction, Origin::default())
    }

    /// [`Store::write_many`] on behalf of `origin`, which the stream records
    /// of the writes carry.
    pub fn write_many_as(&self, ops: Vec<WriteOp<'_>>, transaction: bool, origin: Origin) -> Result<Vec<WriteOutcome>> {
        self.write_with(ops, WriteOptions { transaction, origin, sys: Vec::new() })
    }

    /// Reads a system entry (see [`WriteOptions::sys`]).
    pub fn sys_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(sys) = self.inner.sys.get() else { return Ok(None) };
        match sys.get(key)? {
            Some(v) => Ok(Some(open_in(self.inner.cipher.as_ref(), sys, key, v)?.to_vec())),
            None => Ok(None),
        }
    }

    /// Every system entry whose key starts with `prefix`, in key order.
    pub fn sys_scan(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let Some(sys) = self.inner.sys.get() else { return Ok(Vec::new()) };
        let cipher = self.inner.cipher.as_ref();
        sys.prefix(prefix)
            .map(|kv| {
                let (k, v) = kv.into_inner()?;
                let v = open_in(cipher, sys, &k, v)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Sets (`Some`) or deletes (`None`) system entries in one atomic commit,
    /// durable as the store's durability mode makes every write.
    pub fn sys_write(&self, entries: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        self.write_with(Vec::new(), WriteOptions { sys: entries, ..WriteOptions::default() }).map(drop)
    }

    /// Applies `ops` as [`Store::write_many`] does, with `options`.
    pub fn write_with(&self, ops: Vec<WriteOp<'_>>, options: WriteOptions) -> Result<Vec<WriteOutcome>> {
        let WriteOptions { transaction, origin, sys } = options;
        self.atomically(sys, |unit| self.stage(unit, ops, transaction, origin))
    }

    /// Decides `ops` against the committed items and the changes `unit`
    /// already holds, and stages their changes in `unit`: all of them, or
    /// none with the error. With `transaction`, a failing op cancels all with
    /// per-op reasons. Nothing is committed; outside [`Store::atomically`]
    /// this is a dry run against whatever was committed when it read.
    pub fn stage(
        &self,
        unit: &mut Unit,
        ops: Vec<WriteOp<'_>>,
        transaction: bool,
        origin: Origin,
    ) -> Result<Vec<WriteOutcome>> {
        let mut decided = Vec::with_capacity(ops.len());
        let mut reasons = Vec::new();
        let mut failed = false;
        for op in ops {
            let handle = self.table(&op.table)?;
            let k = item_key(&handle.def.key_schema, &op.key);
            let (old, old_raw, repeat) = match unit.latest(handle.def.id, &k) {
                Some(c) => (c.new.clone(), c.new_raw.clone(), true),
                None => {
                    // As stored: it may refer to its latest stream record.
                    let raw = match handle.items.get(&k)? {
                        Some(v) => Some(open_in(self.inner.cipher.as_ref(), &handle.items, &k, v)?),
                        None => None,
                    };
                    let old = match &raw {
                        Some(v) => Some(decode_stored(v)?),
                        None => None,
                    };
                    (old, raw, false)
                }
            };
            match (op.decide)(old.as_ref()) {
                Ok(decision) => {
                    if transaction {
                        reasons.push(CancellationReason { code: "None", message: None, item: None });
                    }
                    decided.push((handle, k, old, old_raw, decision, repeat));
                }
                Err(e) if transaction => {
                    failed = true;
                    reasons.push(match e {
                        StoreError::ConditionalCheckFailed { item } => CancellationReason {
                            code: "ConditionalCheckFailed",
                            message: Some(messages::item::CONDITIONAL_CHECK_FAILED.into()),
                            item,
                        },
                        StoreError::Validation(m) => {
                            CancellationReason { code: "ValidationError", message: Some(m), item: None }
                        }
                        other => return Err(other),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        if failed {
            return Err(StoreError::TransactionCanceled(reasons));
        }
        let mut outcomes = Vec::with_capacity(decided.len());
        for (handle, key, old, old_raw, decision, repeat) in decided {
            let new = match decision {
                Decision::Keep => old.clone(),
                Decision::Put(item) => Some(item),
                Decision::Delete => None,
            };
            if new != old {
                // Each image is encoded once, for the item and its stream
                // record alike.
                let new_raw = new.as_ref().map(encode_item_value);
                // The ops of one call on the same item were all decided
                // against the stored item; the commit must still know the
                // item changes more than once (its last change is stored).
                unit.repeats |= repeat || unit.latest(handle.def.id, &key).is_some();
                unit.push(Change { handle, key, old: old.clone(), old_raw, new: new.clone(), new_raw, origin });
            }
            outcomes.push(WriteOutcome { old, new });
        }
        Ok(outcomes)
    }

    /// Runs `f` under the store's write lock with an empty [`Unit`], then
    /// commits everything `f` staged in it, with the system entries `sys`,
    /// in one atomic batch: items, index and TTL entries, one stream record
    /// per change, counters. If `f` fails nothing is written. `f` must not
    /// write to the store other than through the unit.
    pub fn atomically<T>(
        &self,
        sys: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        f: impl FnOnce(&mut Unit) -> Result<T>,
    ) -> Result<T> {
        self.check_writable()?;
        let mut wakes: Vec<(u64, u32, u64)> = Vec::new();
        let (ticket, out) = {
            let _guard = lock(&self.inner.write);
            let mut unit = Unit::new();
            let out = f(&mut unit)?;
            (self.commit_unit(unit, sys, &mut wakes)?, out)
        };
        if let Some(ticket) = ticket {
            if let Err(failure) = self.inner.group.wait(ticket) {
                return Err(StoreError::Unacknowledged(failure));
            }
            self.rotate_full_memtables();
        }
        if !wakes.is_empty() {
            self.wake(&wakes);
        }
        Ok(out)
    }

    /// Commits `unit` and `sys` in one batch (under the write lock). The
    /// group-commit ticket to wait for, unless there was nothing to write.
    fn commit_unit(
        &self,
        mut unit: Unit,
        mut sys: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        wakes: &mut Vec<(u64, u32, u64)>,
    ) -> Result<Option<u64>> {
        if unit.is_empty() && sys.is_empty() {
            return Ok(None);
        }
        // Changes to global tables carry stamps (`replication.rs`), kept
        // as system entries.
        if !unit.tombstones.is_empty() || unit.changes.iter().any(|c| !c.handle.def.replicas.is_empty()) {
            self.inner.sys.get_or_create()?;
        }
        // Keyspaces not made yet are made first: once staging starts (and
        // moves the stream counters), only the commit itself may fail.
        if unit.changes.iter().any(|c| c.handle.def.stream.is_some()) {
            self.inner.records.get_or_create()?;
        }
        if unit.changes.iter().any(|c| c.handle.def.ttl_attribute.is_some()) {
            self.inner.ttl.get_or_create()?;
        }
        if sys.iter().any(|(_, v)| v.is_some()) {
            self.inner.sys.get_or_create()?;
        }
        // One time for every version this commit records (`history.rs`).
        let history = if unit.changes.iter().any(|c| c.handle.def.pitr.is_some()) {
            Some((self.inner.history.get_or_create()?.clone(), self.inner.history_clock.next()))
        } else {
            None
        };
        let mut batch = self.inner.db.batch();
        // Records whose new image is an item this unit replaces get the
        // image now. Only items read from the store refer to records.
        let mut refs = Vec::new();
        for c in &unit.changes {
            if let Some(stored) = &c.old_raw
                && let (Some(r), image) = split_stored(stored)?
            {
                refs.push((r, image));
            }
        }
        let _trim = (!refs.is_empty()).then(|| lock(&self.inner.trim));
        self.stage_materialize(&mut batch, &refs)?;
        let mut stat_changes: BTreeMap<u64, (Arc<TableHandle>, i64, i64)> = BTreeMap::new();
        let mut streams = None;
        let now = now_ms();
        // The stamp each global item got in this commit so far.
        let mut stamped: HashMap<(u64, Vec<u8>), crate::replication::Stamp> = HashMap::new();
        // Each global item's last stamp, and whether it marks a delete.
        let mut stamp_entries: HashMap<(u64, Vec<u8>), (crate::replication::Stamp, bool)> = HashMap::new();
        // An item changed more than once commits its net change: from its
        // first old image to its last new one. Its stream gets every change.
        let last: HashMap<(u64, &[u8]), usize> = if unit.repeats {
            unit.changes.iter().enumerate().map(|(i, c)| ((c.handle.def.id, c.key.as_slice()), i)).collect()
        } else {
            HashMap::new()
        };
        let mut first: HashMap<(u64, &[u8]), usize> = HashMap::new();
        for (i, c) in unit.changes.iter().enumerate() {
            let id = (c.handle.def.id, c.key.as_slice());
            // Only the item's last change in the unit leaves its new image
            // stored, so only its record may refer to it; and only an
            // INSERT's does. An item's next change pays a read and a rewrite
            // of the record it refers to: once per item, not once per
            // update of an item updated again and again.
            let is_last = !unit.repeats || last.get(&id) == Some(&i);
            let by_ref = is_last && c.old.is_none();
            let old_img = image(c.old.as_ref(), c.old_raw.as_ref())?;
            let new_img = image(c.new.as_ref(), c.new_raw.as_ref())?;
            let mut stored = c.new_raw.clone();
            let stamp = if c.handle.def.replicas.is_empty() {
                None
            } else {
                let stamp = match c.origin.replicated {
                    Some(s) => s,
                    None => self.next_stamp(c.handle.def.id, &c.key, &stamped, now)?,
                };
                stamped.insert((c.handle.def.id, c.key.clone()), stamp);
                stamp_entries.insert((c.handle.def.id, c.key.clone()), (stamp, c.new.is_none()));
                Some(stamp)
            };
            if let Some(spec) = &c.handle.def.stream {
                let streams = streams.get_or_insert_with(|| lock(&self.inner.streams));
                let staged = self.stage_record(
                    &mut batch,
                    streams,
                    spec.num,
                    &c.handle.def,
                    old_img,
                    new_img,
                    now,
                    c.origin,
                    stamp,
                    by_ref,
                )?;
                if let Some((r, by_ref)) = staged {
                    wakes.push((r.stream, r.shard, r.seq));
                    if by_ref && let Some(raw) = &stored {
                        stored = Some(r.stored_value(raw));
                    }
                }
            }
            let net_old = if unit.repeats {
                let f = *first.entry(id).or_insert(i);
                if !is_last {
                    continue;
                }
                &unit.changes[f]
            } else {
                c
            };
            let old_img = image(net_old.old.as_ref(), net_old.old_raw.as_ref())?;
            if c.handle.def.pitr.is_some()
                && let Some((ks, at)) = &history
            {
                // What the change replaces (an undo entry: `history.rs`).
                let old = net_old.old_raw.as_deref().map(crate::stream::stored_item).transpose()?;
                let hk = crate::history::history_key(c.handle.def.id, &c.key, *at);
                let value = seal_in(self.inner.cipher.as_ref(), ks, &hk, crate::history::version_value(old).into());
                batch.insert(ks, hk, value);
            }
            stage_change(
                &mut batch,
                self.inner.cipher.as_ref(),
                &self.inner.ttl,
                &c.handle,
                &c.key,
                net_old.old.as_ref(),
                c.new.as_ref(),
                stored,
            )?;
            let entry = stat_changes.entry(c.handle.def.id).or_insert((c.handle.clone(), 0, 0));
            entry.1 += i64::from(c.new.is_some()) - i64::from(net_old.old.is_some());
            entry.2 += new_img.map_or(0, |i| i.size as i64) - old_img.map_or(0, |i| i.size as i64);
        }
        drop(streams);
        for ((table, key), stamp) in std::mem::take(&mut unit.tombstones) {
            match stamp_entries.get_mut(&(table, key.clone())) {
                Some(e) if e.0 >= stamp => {}
                Some(e) => *e = (stamp, true),
                None => {
                    stamp_entries.insert((table, key), (stamp, true));
                }
            }
        }
        for ((table, key), (stamp, deleted)) in stamp_entries {
            sys.extend(Self::stamp_entries(table, &key, stamp, deleted).map(|(k, v)| (k, Some(v))));
        }
        for (k, v) in sys {
            match v {
                Some(v) => {
                    let ks = self.inner.sys.get_or_create()?;
                    let v = seal_in(self.inner.cipher.as_ref(), ks, &k, v.into());
                    batch.insert(ks, k, v)
                }
                // Nothing to remove from a keyspace never written.
                None => {
                    if let Some(ks) = self.inner.sys.get() {
                        batch.remove(ks, k);
                    }
                }
            }
        }
        let mut new_stats = Vec::new();
        for (id, (handle, d_items, d_bytes)) in &stat_changes {
            let mut s = handle.stats();
            s.items = s.items.saturating_add_signed(*d_items);
            s.bytes = s.bytes.saturating_add_signed(*d_bytes);
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&s.items.to_be_bytes());
            v[8..].copy_from_slice(&s.bytes.to_be_bytes());
            batch.insert(&self.inner.meta, stats_key(*id), v.to_vec());
            new_stats.push((handle.clone(), s));
        }
        let r = batch.commit();
        self.poison_on_err(r)?;
        for (handle, s) in new_stats {
            *lock(&handle.stats) = s;
        }
        Ok(Some(self.inner.group.register()))
    }

    /// Enables, disables or changes the stream of a table.
    pub fn set_stream(&self, name: &str, view: Option<StreamViewType>) -> Result<Arc<TableHandle>> {
        self.alter_table(name, |def| {
            match (&def.stream, view) {
                (Some(_), Some(_)) => {
                    return Err(StoreError::validation(messages::table::stream_already_enabled(name)));
                }
                (None, None) => {
                    return Err(StoreError::validation(messages::table::no_stream_to_disable(name)));
                }
                _ => {}
            }
            if let Some(old) = def.stream.take() {
                def.old_streams.push(old);
            }
            if view.is_some() {
                // A new stream: its resource policy (and that policy's
                // last change) are its own, none yet.
                def.settings.stream_resource_policy = None;
                def.settings.stream_resource_policy_deleted = None;
            }
            def.stream = view.map(|view_type| StreamSpec { view_type, label: Self::stream_label(), num: 0 });
            Ok(())
        })
    }

    /// Adds a global secondary index, `CREATING` while a background thread
    /// fills it from the table's items (`backfill.rs`).
    pub fn add_index(
        &self,
        name: &str,
        input: IndexInput,
        defs: Vec<(String, crate::value::AttrType)>,
    ) -> Result<Arc<TableHandle>> {
        self.add_index_and(name, input, defs, |_| {})
    }

    /// [`Store::add_index`], with `also` changing the definition in the
    /// same write (a global table queues the change for its replicas).
    pub fn add_index_and(
        &self,
        name: &str,
        input: IndexInput,
        defs: Vec<(String, crate::value::AttrType)>,
        also: impl Fn(&mut TableDef),
    ) -> Result<Arc<TableHandle>> {
        let index = input.name.clone();
        let handle = self.alter_table(name, |def| {
            if def.index_in_progress() {
                return Err(one_online_index());
            }
            if def.index(&input.name).is_some() || def.vector_index(&input.name).is_some() {
                return Err(StoreError::validation(messages::table::INDEX_ALREADY_EXISTS));
            }
            // A vector attribute cannot key another index (it holds a list).
            if let Some(v) = def.vector_indexes.iter().find(|v| input.key_schema.iter().any(|(n, _)| *n == v.attribute))
            {
                return Err(StoreError::validation(messages::vector::vector_attribute_defined(&v.attribute)));
            }
            let gsis = def.indexes.iter().filter(|i| i.kind == crate::table::IndexKind::Global).count();
            if gsis >= crate::table::MAX_GSIS {
                return Err(StoreError::LimitExceeded(messages::table::too_many_gsis(crate::table::MAX_GSIS)));
            }
            // New attribute definitions may be added for the new index keys.
            // One the table defines already keeps its type, whatever the
            // request says (DynamoDB neither applies nor refuses another:
            // measured in us-east-1, 2026-08, by ExtendDB's suite).
            let mut all: Vec<(String, crate::value::AttrType)> =
                def.attribute_definitions.iter().map(|a| (a.name.clone(), a.ty)).collect();
            for (n, t) in defs {
                if !all.iter().any(|(m, _)| *m == n) {
                    all.push((n, t));
                }
            }
            let idx = catalog::resolve_index(
                &input,
                &all,
                &def.key_schema,
                def.billing_mode,
                def.next_index_id,
                catalog::Defining::UpdateTable,
            )?;
            def.next_index_id += 1;
            for attr in idx.key_schema.names() {
                if !def.attribute_definitions.iter().any(|a| a.name == attr)
                    && let Some((n, t)) = all.iter().find(|(n, _)| n == attr)
                {
                    def.attribute_definitions.push(crate::table::KeyAttr { name: n.clone(), ty: *t });
                }
            }
            def.indexes.push(crate::table::IndexDef { backfill: Some(true), ..idx });
            also(def);
            Ok(())
        })?;
        self.spawn_backfill(name, &index);
        Ok(handle)
    }

    /// Removes a global secondary index and its entries.
    pub fn remove_index(&self, name: &str, index: &str) -> Result<Arc<TableHandle>> {
        self.remove_index_and(name, index, |_| {})
    }

    /// [`Store::remove_index`], with `also` changing the definition in the
    /// same write.
    pub fn remove_index_and(&self, name: &str, index: &str, also: impl Fn(&mut TableDef)) -> Result<Arc<TableHandle>> {
        self.alter_table(name, |def| {
            // The index being filled may go; nothing else meanwhile.
            if def.indexes.iter().any(|i| i.backfill == Some(true) && i.name != index)
                || def.vector_indexes.iter().any(|v| v.backfill == Some(true))
            {
                return Err(one_online_index());
            }
            match def.indexes.iter().find(|i| i.name == index) {
                None => {
                    return Err(StoreError::ResourceNotFound(messages::table::updated_index_not_found(index, name)));
                }
                Some(i) if i.kind != crate::table::IndexKind::Global => {
                    return Err(StoreError::validation(messages::table::delete_not_global_index(index)));
                }
                Some(_) => {}
            }
            def.indexes.retain(|i| i.name != index);
            def.drop_unused_definitions();
            also(def);
            Ok(())
        })
    }

    /// Sets billing mode and throughput.
    pub fn set_billing(
        &self,
        name: &str,
        mode: Option<BillingMode>,
        throughput: Option<Throughput>,
    ) -> Result<Arc<TableHandle>> {
        self.set_billing_and(name, mode, throughput, |_| {})
    }

    /// [`Store::set_billing`], and `also` on the table's definition in the
    /// same write.
    pub fn set_billing_and(
        &self,
        name: &str,
        mode: Option<BillingMode>,
        throughput: Option<Throughput>,
        also: impl Fn(&mut TableDef),
    ) -> Result<Arc<TableHandle>> {
        self.alter_table(name, |def| {
            if let Some(m) = mode {
                def.set_billing_mode(m);
            }
            if let Some(t) = throughput {
                if def.billing_mode == BillingMode::PayPerRequest {
                    return Err(StoreError::validation(messages::table::THROUGHPUT_WITH_PAY_PER_REQUEST));
                }
                def.throughput = Some(t);
            } else if def.billing_mode == BillingMode::Provisioned && def.throughput.is_none() {
                return Err(StoreError::validation(messages::table::PROVISIONED_WITHOUT_THROUGHPUT));
            }
            also(def);
            Ok(())
        })
    }
}

impl Store {
    /// Moves a table from stream `old` to the stream `def` declares: the old
    /// one is disabled (its shards close), a new one is created when `def`'s
    /// spec is not yet live. Call under the write lock.
    fn switch_stream(&self, old: Option<&StreamSpec>, def: &mut TableDef) -> Result<()> {
        let mut streams = lock(&self.inner.streams);
        let now = now_ms();
        let keep = match (old, &def.stream) {
            (Some(o), Some(n)) => o.num == n.num && streams.live.contains_key(&o.num),
            _ => false,
        };
        if keep {
            return Ok(());
        }
        // Before anything changes: the records' keyspace of a new stream.
        if def.stream.is_some() {
            self.inner.records.get_or_create()?;
        }
        if let Some(o) = old
            && let Some(live) = streams.live.get_mut(&o.num)
            && live.meta.enabled()
        {
            let end = streams.next_seq;
            streams.next_seq += 1;
            let live = streams.live.get_mut(&o.num).expect("checked above");
            live.close_open(now, end);
            live.meta.disabled_ms = Some(now);
            let json = serde_json::to_vec(&live.meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            live.announce_layout();
            let r = self.inner.meta.insert([META_STREAM, &o.num.to_be_bytes()].concat(), json);
            self.poison_on_err(r)?;
        }
        if let Some(spec) = &mut def.stream {
            let num = streams.next_num;
            streams.next_num += 1;
            spec.num = num;
            let meta = StreamMeta {
                num,
                table: def.name.clone(),
                label: spec.label.clone(),
                view_type: spec.view_type,
                key_schema: def.key_schema.clone(),
                created_ms: now,
                disabled_ms: None,
                slots: self.inner.stream_config.shards,
                generation_ms: now,
                next_shard_num: 0,
                shards: Vec::new(),
                tags: BTreeMap::new(),
            };
            let mut live = LiveStream::new(meta, BTreeMap::new());
            let start = streams.next_seq;
            live.open_generation(now, start);
            let json = serde_json::to_vec(&live.meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let r = self.inner.meta.insert([META_STREAM, &num.to_be_bytes()].concat(), json);
            self.poison_on_err(r)?;
            let r = self.inner.meta.insert(META_STREAM_NUM, (num + 1).to_be_bytes());
            self.poison_on_err(r)?;
            streams.live.insert(num, live);
        }
        let r = self.inner.meta.insert(META_SEQ_NEXT, streams.next_seq.to_be_bytes());
        self.poison_on_err(r)
    }

    /// Adds the stream record for one change to `batch`. Returns what to wake
    /// once the batch is durable (nothing if the stream has no open shard).
    #[allow(clippy::too_many_arguments)]
    fn stage_record(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        streams: &mut Streams,
        num: u64,
        def: &TableDef,
        old: Option<Image<'_>>,
        new: Option<Image<'_>>,
        now: u64,
        origin: Origin,
        stamp: Option<crate::replication::Stamp>,
        new_by_ref: bool,
    ) -> Result<Option<(RecordRef, bool)>> {
        let Some(live) = streams.live.get_mut(&num) else { return Ok(None) };
        let Some(item) = new.or(old).map(|i| i.item) else { return Ok(None) };
        let Some(shard) = live.open_shard(slot_of(&def.key_schema, item, live.meta.slots)).map(|s| s.num) else {
            return Ok(None);
        };
        let records = self.inner.records.get_or_create()?;
        let seq = streams.next_seq;
        streams.next_seq += 1;
        let (value, by_ref) =
            encode_record(live.meta.view_type, &def.key_schema, old, new, now, origin, stamp, new_by_ref);
        let rk = record_key(num, shard, seq);
        batch.insert(records, rk, seal_in(self.inner.cipher.as_ref(), records, &rk, value));
        live.last_seq.insert(shard, seq);
        Ok(Some((RecordRef { stream: num, shard, seq }, by_ref)))
    }

    /// Puts its new image (an item encoding) into each referred record that
    /// is still kept. The caller holds the `trim` lock.
    fn stage_materialize(&self, batch: &mut fjall::OwnedWriteBatch, refs: &[(RecordRef, &[u8])]) -> Result<()> {
        let Some(records) = self.inner.records.get() else { return Ok(()) };
        for (r, image) in refs {
            // A record retention removed stays removed.
            let cipher = self.inner.cipher.as_ref();
            let rk = r.key();
            let rec = match records.get(rk)? {
                Some(v) => Some(open_in(cipher, records, &rk, v)?),
                None => None,
            };
            if let Some(rec) = rec
                && record_new_by_ref(&rec)
            {
                batch.insert(records, rk, seal_in(cipher, records, &rk, materialize_record(&rec, image)?));
            }
        }
        Ok(())
    }

    /// Before a table's items go: puts into the records that refer to them
    /// their new images, in batches.
    fn materialize_table(&self, t: &TableHandle) -> Result<()> {
        let by_ref = lock(&self.inner.streams)
            .live
            .values()
            .any(|l| l.meta.table == t.def.name && l.meta.view_type.has_new_image());
        if !by_ref {
            return Ok(());
        }
        let _trim = lock(&self.inner.trim);
        let mut batch = self.inner.db.batch();
        for kv in t.items.iter() {
            let (k, v) = kv.into_inner()?;
            let v = open_in(self.inner.cipher.as_ref(), &t.items, &k, v)?;
            if let (Some(r), image) = split_stored(&v)? {
                self.stage_materialize(&mut batch, &[(r, image)])?;
            }
            if batch.len() >= 10_000 {
                let r = std::mem::replace(&mut batch, self.inner.db.batch()).commit();
                self.poison_on_err(r)?;
                self.seal_full_memtables();
            }
        }
        let r = batch.commit();
        self.poison_on_err(r)
    }

    /// Closes the open shards of stream `num` and opens their children, with
    /// the new layout staged in `batch`.
    pub(crate) fn stage_rollover(&self, batch: &mut fjall::OwnedWriteBatch, streams: &mut Streams, num: u64, now: u64) {
        let end = streams.next_seq;
        streams.next_seq += 1;
        let Some(live) = streams.live.get_mut(&num) else { return };
        live.close_open(now, end);
        live.open_generation(now, end + 1);
        if let Ok(json) = serde_json::to_vec(&live.meta) {
            batch.insert(&self.inner.meta, [META_STREAM, &num.to_be_bytes()].concat(), json);
        }
        batch.insert(&self.inner.meta, META_SEQ_NEXT, streams.next_seq.to_be_bytes());
        live.announce_layout();
        tracing::debug!(stream = num, "stream shards rolled over");
    }

    /// Tells shard subscribers about records now durable.
    fn wake(&self, wakes: &[(u64, u32, u64)]) {
        let streams = lock(&self.inner.streams);
        for &(num, shard, seq) in wakes {
            if let Some(tx) = streams.live.get(&num).and_then(|l| l.shard_tx.get(&shard)) {
                // With nobody watching, the signal is updated without a
                // notification: a later subscriber reads the store after
                // subscribing, so it misses nothing.
                let watched = tx.receiver_count() > 0;
                tx.send_if_modified(|sig| {
                    let newer = sig.last_seq.is_none_or(|s| s < seq);
                    if newer {
                        sig.last_seq = Some(seq);
                    }
                    newer && watched
                });
            }
        }
    }
}

/// Reads every stream's metadata and recovers the sequence counter: past
/// the persisted value (written when streams are switched), every record,
/// every shard boundary and every trimmed record.
fn load_streams(meta: &Keyspace, records: Option<&Keyspace>) -> Result<Streams> {
    let read_u64 = |key: &[u8]| -> Result<Option<u64>> {
        match meta.get(key)? {
            Some(v) => Ok(Some(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| StoreError::Corrupt("stream counter".into()))?,
            ))),
            None => Ok(None),
        }
    };
    let mut next_seq = read_u64(META_SEQ_NEXT)?.unwrap_or(1).max(1);
    let mut next_num = read_u64(META_STREAM_NUM)?.unwrap_or(1).max(1);
    let mut live = BTreeMap::new();
    for kv in meta.prefix(META_STREAM) {
        let (_, v) = kv.into_inner()?;
        let m: StreamMeta =
            serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("stream definition: {e}")))?;
        next_num = next_num.max(m.num + 1);
        let mut last_seq = BTreeMap::new();
        for s in &m.shards {
            next_seq = next_seq
                .max(s.start_seq)
                .max(s.end_seq.map_or(0, |e| e + 1))
                .max(s.trimmed_through.map_or(0, |t| t + 1));
            let last = records.and_then(|r| r.prefix(crate::stream::shard_prefix(m.num, s.num)).next_back());
            if let Some(kv) = last {
                let k = kv.key()?;
                if let Some(seq) = crate::stream::seq_of_key(&k) {
                    next_seq = next_seq.max(seq + 1);
                    last_seq.insert(s.num, seq);
                }
            }
        }
        live.insert(m.num, LiveStream::new(m, last_seq));
    }
    Ok(Streams { live, next_seq, next_num })
}

/// An item and its stored value as a stream record image.
fn image<'a>(item: Option<&'a Item>, stored: Option<&'a fjall::Slice>) -> Result<Option<Image<'a>>> {
    Ok(match item.zip(stored) {
        Some((item, stored)) => Some(Image::new(item, stored_item(stored)?)),
        None => None,
    })
}

/// Adds the item, index and TTL changes for one write to `batch`;
/// `new_raw` is `new` encoded.
#[allow(clippy::too_many_arguments)]
fn stage_change(
    batch: &mut fjall::OwnedWriteBatch,
    cipher: Option<&crate::cipher::Cipher>,
    ttl: &LazyKeyspace,
    t: &TableHandle,
    k: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
    new_raw: Option<fjall::Slice>,
) -> Result<()> {
    match new_raw {
        Some(raw) => batch.insert(&t.items, k.to_vec(), seal_in(cipher, &t.items, k, raw)),
        None => batch.remove(&t.items, k.to_vec()),
    }
    if let Some(attr) = &t.def.ttl_attribute {
        let old_t = old.and_then(|o| ttl_secs(o.get(attr)));
        let new_t = new.and_then(|n| ttl_secs(n.get(attr)));
        if old_t != new_t {
            let ttl = ttl.get_or_create()?;
            if let Some(e) = old_t {
                batch.remove(ttl, ttl_key(t.def.id, e, k));
            }
            if let Some(e) = new_t {
                batch.insert(ttl, ttl_key(t.def.id, e, k), []);
            }
        }
    }
    for idx in &t.def.indexes {
        let old_k = old.and_then(|o| index_key(idx, &t.def.key_schema, o));
        let new_k = new.and_then(|n| index_key(idx, &t.def.key_schema, n));
        if let Some(ok) = &old_k
            && new_k.as_ref() != Some(ok)
        {
            batch.remove(&t.index, ok.clone());
        }
        if let (Some(nk), Some(item)) = (new_k, new) {
            let value = seal_in(cipher, &t.index, &nk, encode_item(&idx.project(item, &t.def.key_schema)).into());
            batch.insert(&t.index, nk, value);
        }
    }
    for v in &t.def.vector_indexes {
        let old_e = old.and_then(|o| v.entry(&t.def.key_schema, o));
        let new_e = new.and_then(|n| v.entry(&t.def.key_schema, n));
        if old_e == new_e {
            continue;
        }
        if let Some((ok, _)) = &old_e
            && new_e.as_ref().map(|(k, _)| k) != Some(ok)
        {
            batch.remove(&t.index, ok.clone());
        }
        if let Some((nk, nv)) = new_e {
            let value = seal_in(cipher, &t.index, &nk, nv.into());
            batch.insert(&t.index, nk, value);
        }
    }
    Ok(())
}

/// Formats epoch milliseconds as `YYYY-MM-DDThh:mm:ss.mmm` (UTC), the shape of
/// a stream label.
pub fn format_timestamp_millis(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}", rem / 3600, (rem % 3600) / 60, rem % 60, ms % 1000)
}

/// DynamoDB's refusal of an index created or deleted while another is
/// being created on the same table.
pub(crate) fn one_online_index() -> StoreError {
    StoreError::LimitExceeded(messages::table::ONE_ONLINE_INDEX.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Store {
        Store::open(StoreConfig { path: Some(dir.to_path_buf()), ..Default::default() }).expect("open")
    }

    fn s(v: &str) -> crate::value::Value {
        crate::value::Value::S(v.into())
    }

    /// Table `tbl`, keyed by `pk`, with a NEW_IMAGE stream.
    fn create_tbl(store: &Store) {
        store
            .create_table(CreateTableInput {
                name: "tbl".into(),
                key_schema: vec![("pk".into(), catalog::KeyType::Hash)],
                attribute_definitions: vec![("pk".into(), crate::value::AttrType::S)],
                billing_mode: BillingMode::PayPerRequest,
                throughput: None,
                indexes: Vec::new(),
                stream: Some(StreamViewType::NewImage),
                tags: BTreeMap::new(),
                deletion_protection: false,
                table_class: None,
                settings: Default::default(),
                vector_indexes: Vec::new(),
            })
            .expect("create table");
    }

    #[test]
    fn keyspaces_are_created_by_their_first_use_and_reopened() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exists = |store: &Store, name: &str| store.inner.db.keyspace_exists(name);
        let store = open(dir.path());
        for name in ["streams", "ttl", "sys"] {
            assert!(!exists(&store, name), "{name} made at open");
        }
        // Reads of keyspaces not yet made find nothing.
        assert_eq!(store.sys_get(b"k").expect("sys get"), None);
        assert!(store.sys_scan(b"").expect("sys scan").is_empty());
        assert_eq!(store.sweep_ttl(u64::MAX / 2).expect("sweep"), 0);

        create_tbl(&store);
        assert!(exists(&store, "streams"), "enabling a stream makes the records' keyspace");
        let key: Item = [("pk".to_string(), s("a"))].into();
        let item: Item = [("pk".to_string(), s("a")), ("ttl".to_string(), s("x"))].into();
        let put = WriteOp { table: "tbl".into(), key: key.clone(), decide: Box::new(move |_| Ok(Decision::Put(item))) };
        let sys = vec![(b"k".to_vec(), Some(b"v".to_vec())), (b"gone".to_vec(), None)];
        store.write_with(vec![put], WriteOptions { sys, ..Default::default() }).expect("write");
        assert!(exists(&store, "sys"), "the first system entry makes its keyspace");
        assert!(!exists(&store, "ttl"), "no table has TTL on");
        drop(store);

        let store = open(dir.path());
        assert_eq!(store.sys_get(b"k").expect("sys get"), Some(b"v".to_vec()));
        let meta = store.list_streams().pop().expect("the stream");
        let records: usize = meta
            .shards
            .iter()
            .map(|sh| {
                let pos = store
                    .shard_position(meta.num, &sh.id, crate::stream::StartingPosition::TrimHorizon)
                    .expect("position");
                store.read_shard(meta.num, &sh.id, pos, 1000, 1 << 20).expect("read").records.len()
            })
            .sum();
        assert_eq!(records, 1, "the record survives the reopen");
        store
            .alter_table("tbl", |def| {
                def.ttl_attribute = Some("ttl".into());
                Ok(())
            })
            .expect("ttl on");
        assert!(exists(&store, "ttl"), "turning TTL on makes its keyspace");
    }

    /// Every record of the one stream, in commit order.
    fn all_records(store: &Store) -> Vec<crate::stream::StreamRecord> {
        let meta = store.list_streams().pop().expect("the stream");
        let mut records = Vec::new();
        for sh in &meta.shards {
            let pos =
                store.shard_position(meta.num, &sh.id, crate::stream::StartingPosition::TrimHorizon).expect("position");
            records.extend(store.read_shard(meta.num, &sh.id, pos, 1000, usize::MAX).expect("read").records);
        }
        records.sort_by_key(|r| r.seq);
        records
    }

    /// The `n` of every record's new image, in commit order.
    fn new_images(store: &Store) -> Vec<Option<crate::value::Value>> {
        all_records(store).into_iter().map(|r| r.new_image.and_then(|i| i.get("n").cloned())).collect()
    }

    /// One call with two writes of the same item: both records keep their
    /// images, and the item counts once.
    #[test]
    fn one_call_writing_an_item_twice_keeps_both_images() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path());
        create_tbl(&store);
        let key: Item = [("pk".to_string(), s("a"))].into();
        let put = |n: &str| {
            let mut item = key.clone();
            item.insert("n".into(), s(n));
            WriteOp { table: "tbl".into(), key: key.clone(), decide: Box::new(move |_| Ok(Decision::Put(item))) }
        };
        store.write_many(vec![put("1"), put("2")], false).expect("write twice");
        assert_eq!(new_images(&store), [Some(s("1")), Some(s("2"))]);
        store.write_many(vec![put("3")], false).expect("write again");
        assert_eq!(new_images(&store), [Some(s("1")), Some(s("2")), Some(s("3"))]);
        let t = store.table("tbl").expect("table");
        assert_eq!(t.stats().items, 1);
        assert_eq!(store.get_item(&t, &key).expect("get").and_then(|i| i.get("n").cloned()), Some(s("3")));
    }

    /// Readers racing the writes that put images into records: every record
    /// read, at any moment, carries the image of its own change.
    #[test]
    fn records_read_during_writes_carry_their_own_images() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path());
        create_tbl(&store);
        const WRITES: u64 = 3000;
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                // Write i inserts item i % 3 with `n` = i, or deletes it
                // again (every other round): every insert's record refers to
                // its item until the delete puts the image in.
                for i in 0..WRITES {
                    let key: Item = [("pk".to_string(), s(&(i % 3).to_string()))].into();
                    let mut item = key.clone();
                    item.insert("n".into(), s(&i.to_string()));
                    let decision = if (i / 3) % 2 == 0 { Decision::Put(item) } else { Decision::Delete };
                    store.write("tbl", &key, move |_| Ok(decision)).expect("write");
                }
            })
        };
        let mut seen = 0;
        while seen < WRITES {
            let records = all_records(&store);
            // Each shard read is a prefix of its records, so item k's j-th
            // INSERT is write k + 6j.
            let mut next = [0u64, 1, 2];
            for r in &records {
                let Some(crate::value::Value::S(k)) = r.keys.get("pk") else { panic!("keys {:?}", r.keys) };
                let k: usize = k.parse().expect("key");
                if r.event == crate::stream::EventName::Remove {
                    assert_eq!(r.new_image, None, "record {}", r.seq);
                    continue;
                }
                let image = r.new_image.as_ref().expect("a new image");
                assert_eq!(image.get("n"), Some(&s(&next[k].to_string())), "record {}", r.seq);
                next[k] += 6;
            }
            seen = records.len() as u64;
        }
        writer.join().expect("writer");
    }

    #[test]
    fn formats_labels() {
        assert_eq!(format_timestamp_millis(0), "1970-01-01T00:00:00.000");
        assert_eq!(format_timestamp_millis(1_700_000_000_123), "2023-11-14T22:13:20.123");
    }

    #[test]
    fn a_table_being_backed_up_is_not_deleted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path());
        create_tbl(&store);
        let job = store.begin_backup("tbl", "b").expect("begin backup");
        match store.delete_table("tbl") {
            Err(StoreError::ResourceInUse(m)) => {
                assert_eq!(m, "Attempt to change a resource which is still in use: Table is being backed up: tbl")
            }
            other => panic!("deleted during its backup: {:?}", other.map(|_| ())),
        }
        job.run().expect("backup written");
        store.delete_table("tbl").expect("deleted once the backup is made");
        // A replica dropped at another region's request goes even while
        // backed up; the backup still completes from its snapshot.
        create_tbl(&store);
        let job = store.begin_backup("tbl", "c").expect("begin backup");
        store.drop_replica_table("tbl").expect("dropped");
        job.run().expect("the backup made from its snapshot");
    }
}
