//! Point-in-time recovery: every version of every item of a table with PITR
//! on, kept for its recovery period, from which a table is restored as it
//! was at any moment of that period.
//!
//! Keyspace `history`: `table id (u64 BE) ++ item key ++ time (u64 BE,
//! microseconds since the epoch)` → `01 ++ encoded item`, or `00` when the
//! write deleted the item. The item key is the table's own (`key.rs`), so an
//! item's versions are adjacent and in time order, and a restore is one scan
//! that keeps, of each item, its last version at or before the restore time.
//!
//! - Each commit writes the versions of the items it changes in the same
//!   fjall batch as the items (`db.rs::commit_unit`), under the write lock,
//!   with one time for the whole commit, strictly after the previous
//!   commit's (`HistoryClock`): whatever survives a crash survives with its
//!   history, and no two commits share a time.
//! - Enabling PITR copies the table's items, from a snapshot taken under the
//!   write lock, as versions at the enabling time; writes after it are
//!   recorded by their commits meanwhile. The table's PITR is `ENABLING`
//!   until the copy is done (a crash restarts it at the next open).
//! - The maintenance thread trims versions older than the recovery period
//!   every [`TRIM_INTERVAL`]: of each item, the last version before the
//!   cut-off stays (it is the item's state then) unless it is a deletion.
//! - DeleteTable of a table with PITR keeps its history, recorded in `meta`
//!   (`pitr\0<table id>` → [`DeletedTable`]) for the recovery period, and
//!   shown as a `SYSTEM` backup (DynamoDB makes one on such a delete).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{Store, lock_pub as lock, now_secs};
use crate::error::{Result, StoreError};
use crate::table::{PitrSpec, TableDef};
use crate::value::{Item, decode_item};

/// How often versions past the recovery period are trimmed.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(600);
/// Entries an enabling copy or a trim commits at once.
const BATCH_ENTRIES: usize = 10_000;
/// DynamoDB's bounds on `RecoveryPeriodInDays`, and its default.
pub const MIN_RECOVERY_DAYS: u32 = 1;
pub const MAX_RECOVERY_DAYS: u32 = 35;
pub const DEFAULT_RECOVERY_DAYS: u32 = 35;

const META_DELETED: &[u8] = b"pitr\0";

/// The time of the next commit's versions: now in microseconds, or just
/// after the previous commit's if the clock has not moved (or went back).
#[derive(Default)]
pub(crate) struct HistoryClock(AtomicU64);

impl HistoryClock {
    pub(crate) fn next(&self) -> u64 {
        let now = now_micros();
        let prev = self.0.fetch_max(now, Ordering::SeqCst);
        if now > prev { now } else { self.0.fetch_add(1, Ordering::SeqCst) + 1 }
    }
}

pub(crate) fn now_micros() -> u64 {
    (now_secs() * 1_000_000.0) as u64
}

pub(crate) fn history_key(table: u64, item_key: &[u8], time_us: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + item_key.len());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(item_key);
    k.extend_from_slice(&time_us.to_be_bytes());
    k
}

/// A version's value: the item's encoding after `01`, or `00` for a deletion.
pub(crate) fn version_value(raw: Option<&[u8]>) -> Vec<u8> {
    match raw {
        Some(r) => {
            let mut v = Vec::with_capacity(1 + r.len());
            v.push(1);
            v.extend_from_slice(r);
            v
        }
        None => vec![0],
    }
}

/// Splits a history key of table `table` into its item key and time.
fn split_key(k: &[u8]) -> Result<(&[u8], u64)> {
    if k.len() < 16 {
        return Err(StoreError::Corrupt("a history key is too short".into()));
    }
    let (rest, time) = k.split_at(k.len() - 8);
    Ok((&rest[8..], u64::from_be_bytes(time.try_into().expect("8 bytes"))))
}

/// A table deleted with PITR on: restorable until its period ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedTable {
    pub def: TableDef,
    /// Epoch seconds with fraction.
    pub deleted_at: f64,
    /// Its item count and billed size when deleted.
    #[serde(default)]
    pub items: u64,
    #[serde(default)]
    pub bytes: u64,
}

impl DeletedTable {
    /// When its history is dropped.
    pub fn expires_at(&self) -> f64 {
        let days = self.def.pitr.as_ref().map_or(DEFAULT_RECOVERY_DAYS, |p| p.period_days);
        self.deleted_at + f64::from(days) * 86_400.0
    }

    /// The id DynamoDB's system backup of it goes by.
    pub fn backup_id(&self) -> String {
        format!("{:014}-{:08x}", (self.deleted_at * 1000.0) as u64, self.def.id as u32)
    }
}

fn deleted_key(id: u64) -> Vec<u8> {
    [META_DELETED, &id.to_be_bytes()].concat()
}

/// A table's restorable window, epoch seconds: from the later of enabling
/// and the period's start, to `latest`.
pub fn window(spec: &PitrSpec, latest: f64) -> (f64, f64) {
    let earliest = spec.enabled_at.max(latest - f64::from(spec.period_days) * 86_400.0);
    (earliest, latest)
}

/// A table to restore to a point in time: a live one with PITR, or one
/// deleted with it.
#[derive(Debug, Clone)]
pub struct PitrSource {
    pub def: TableDef,
    pub deleted_at: Option<f64>,
}

impl PitrSource {
    /// The restorable window at `now`, epoch seconds; `None` while PITR is
    /// being enabled. A live table's ends a second ago, a deleted one's at
    /// its deletion.
    pub fn window(&self, now: f64) -> Option<(f64, f64)> {
        let spec = self.def.pitr.as_ref().filter(|p| p.ready)?;
        let latest = self.deleted_at.unwrap_or(now - 1.0).max(spec.enabled_at);
        let earliest = spec.enabled_at.max(now - f64::from(spec.period_days) * 86_400.0);
        Some((earliest.min(latest), latest))
    }
}

fn refused(kind: &'static str, message: String) -> StoreError {
    StoreError::Refused { kind, message }
}

impl Store {
    /// The table `name` as a source of RestoreTableToPointInTime: the live
    /// table, else the last one of that name deleted with PITR on.
    pub fn pitr_source(&self, name: &str) -> Result<PitrSource> {
        if let Ok(t) = self.table(name) {
            if t.def.pitr.is_none() {
                return Err(refused(
                    "PointInTimeRecoveryUnavailableException",
                    format!("Point in time recovery is not enabled for table '{name}'"),
                ));
            }
            return Ok(PitrSource { def: t.def.clone(), deleted_at: None });
        }
        match self.deleted_tables()?.into_iter().rev().find(|d| d.def.name == name) {
            Some(d) => Ok(PitrSource { def: d.def, deleted_at: Some(d.deleted_at) }),
            None => Err(refused("SourceTableNotFoundException", format!("Source table not found: {name}"))),
        }
    }

    /// The table deleted with PITR on whose system backup has `id`.
    pub fn system_backup(&self, id: &str) -> Result<Option<DeletedTable>> {
        Ok(self.deleted_tables()?.into_iter().find(|d| d.backup_id() == id))
    }

    /// Drops a deleted table's history (DeleteBackup of its system backup).
    pub fn delete_system_backup(&self, d: &DeletedTable) -> Result<()> {
        self.check_writable()?;
        let _guard = lock(&self.inner().write);
        let in_use = self.all_tables().iter().any(|t| {
            t.is_restoring()
                && t.def.restore.as_ref().is_some_and(
                    |r| matches!(r.source, crate::backup::RestoreSource::PointInTime { table, .. } if table == d.def.id),
                )
        });
        if in_use {
            return Err(refused(
                "BackupInUseException",
                format!("Backup is being restored to a table: {}", d.backup_id()),
            ));
        }
        self.clear_history(d.def.id)?;
        let r = self.inner().meta.remove(deleted_key(d.def.id));
        self.poison_on_err(r)?;
        self.sync_now()
    }

    /// Restores `source` as it was at `at` (epoch seconds, within its
    /// window) into a new table made from `input`, `CREATING` until loaded.
    pub fn restore_to_point_in_time(
        &self,
        source: &PitrSource,
        at: f64,
        input: crate::catalog::CreateTableInput,
    ) -> Result<Arc<crate::TableHandle>> {
        self.check_writable()?;
        if self.table_any(&input.name).is_some() {
            return Err(refused("TableAlreadyExistsException", format!("Table already exists: {}", input.name)));
        }
        let slot = crate::backup::take_slot(&self.inner().backup_jobs, None)?;
        let summary = crate::table::RestoreSummary {
            source: crate::backup::RestoreSource::PointInTime {
                table: source.def.id,
                at_us: (at * 1_000_000.0) as u64,
            },
            source_table: source.def.name.clone(),
            restored_to: at,
            in_progress: true,
        };
        let handle = self.create_table_with(input, Some(summary))?;
        self.spawn_restore(handle.clone(), slot);
        Ok(handle)
    }

    /// Turns PITR on (with a recovery period of `days`) or off for `table`.
    /// Turning it on records the table's items as they are (in a thread
    /// when `background`; the table's PITR says ENABLING until done);
    /// turning it off drops its history. Unchanged if already so, apart
    /// from a new period.
    pub fn set_pitr(&self, table: &str, days: Option<u32>) -> Result<Arc<crate::TableHandle>> {
        self.check_writable()?;
        let guard = lock(&self.inner().write);
        let old = self.table(table)?;
        let mut def = old.def.clone();
        match (days, &mut def.pitr) {
            (Some(d), Some(spec)) => spec.period_days = d,
            (Some(d), None) => {
                def.pitr = Some(PitrSpec { enabled_at: now_secs(), period_days: d, ready: false });
            }
            (None, None) => return Ok(old),
            (None, Some(_)) => def.pitr = None,
        }
        let starting = old.def.pitr.is_none() && def.pitr.is_some();
        let stopping = old.def.pitr.is_some() && def.pitr.is_none();
        if stopping {
            let in_use = self.all_tables().iter().any(|t| {
                t.is_restoring()
                    && t.def.restore.as_ref().is_some_and(
                        |r| matches!(r.source, crate::backup::RestoreSource::PointInTime { table, .. } if table == def.id),
                    )
            });
            if in_use {
                return Err(StoreError::ResourceInUse(format!(
                    "Table {table} is being restored to another table; point-in-time recovery cannot be disabled until it finishes"
                )));
            }
            self.clear_history(def.id)?;
        }
        let snapshot = starting.then(|| self.inner().db.snapshot());
        let new = self.replace_def(&old, def)?;
        drop(guard);
        if let Some(snapshot) = snapshot {
            self.spawn_base_copy(new.clone(), Some(snapshot));
        }
        Ok(new)
    }

    fn spawn_base_copy(&self, handle: Arc<crate::TableHandle>, snapshot: Option<fjall::Snapshot>) {
        let weak = self.downgrade();
        let spawned = std::thread::Builder::new().name("tidepool-pitr".into()).spawn(move || {
            let Some(store) = Store::from_weak(&weak) else { return };
            let _holding = store.hold();
            if let Err(e) = store.base_copy(&handle, snapshot) {
                tracing::error!(table = %handle.def.name, error = %e, "enabling point-in-time recovery failed; it resumes at the next start");
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a thread to enable point-in-time recovery; it resumes at the next start");
        }
    }

    /// Copies the table's items as versions at its enabling time, then marks
    /// its PITR ready. Without a snapshot (resumed at open), takes one under
    /// the write lock, with a new enabling time.
    fn base_copy(&self, handle: &Arc<crate::TableHandle>, snapshot: Option<fjall::Snapshot>) -> Result<()> {
        use fjall::Readable;
        let (snapshot, handle) = match snapshot {
            Some(s) => (s, handle.clone()),
            None => {
                let _guard = lock(&self.inner().write);
                let Ok(current) = self.table(&handle.def.name) else { return Ok(()) };
                if current.def.id != handle.def.id || current.def.pitr.as_ref().is_none_or(|p| p.ready) {
                    return Ok(());
                }
                self.clear_history(current.def.id)?;
                let mut def = current.def.clone();
                if let Some(p) = def.pitr.as_mut() {
                    p.enabled_at = now_secs();
                }
                let snapshot = self.inner().db.snapshot();
                (snapshot, self.replace_def(&current, def)?)
            }
        };
        let Some(spec) = handle.def.pitr.clone() else { return Ok(()) };
        let at = (spec.enabled_at * 1_000_000.0) as u64;
        let history = self.inner().history.get_or_create()?.clone();
        let db = &self.inner().db;
        let mut batch = db.batch();
        for kv in snapshot.iter(&handle.items) {
            let (k, v) = kv.into_inner()?;
            let raw = crate::stream::stored_item(&v)?;
            batch.insert(&history, history_key(handle.def.id, &k, at), version_value(Some(raw)));
            if batch.len() >= BATCH_ENTRIES {
                let r = std::mem::replace(&mut batch, db.batch()).commit();
                self.poison_on_err(r)?;
                self.seal_full_memtables();
                if self.closing() {
                    return Ok(());
                }
            }
        }
        let r = batch.commit();
        self.poison_on_err(r)?;
        drop(snapshot);
        let _guard = lock(&self.inner().write);
        let Ok(current) = self.table(&handle.def.name) else { return Ok(()) };
        if current.def.id != handle.def.id || current.def.pitr.as_ref().map(|p| p.enabled_at) != Some(spec.enabled_at) {
            return Ok(());
        }
        let mut def = current.def.clone();
        if let Some(p) = def.pitr.as_mut() {
            p.ready = true;
        }
        self.replace_def(&current, def)?;
        tracing::info!(table = %handle.def.name, "point-in-time recovery enabled");
        Ok(())
    }

    /// Removes every version of table `id`.
    pub(crate) fn clear_history(&self, id: u64) -> Result<()> {
        let Some(history) = self.inner().history.get() else { return Ok(()) };
        let db = &self.inner().db;
        let mut batch = db.batch();
        for kv in history.prefix(id.to_be_bytes()) {
            batch.remove(history, kv.key()?);
            if batch.len() >= BATCH_ENTRIES {
                let r = std::mem::replace(&mut batch, db.batch()).commit();
                self.poison_on_err(r)?;
            }
        }
        let r = batch.commit();
        self.poison_on_err(r)
    }

    /// At open: resumes the enabling copies a crash interrupted.
    pub(crate) fn resume_pitr(&self) {
        for t in self.all_tables() {
            if t.def.pitr.as_ref().is_some_and(|p| !p.ready) && !t.is_restoring() {
                tracing::warn!(table = %t.def.name, "enabling point-in-time recovery was interrupted; starting it again");
                self.spawn_base_copy(t, None);
            }
        }
    }

    /// Records a table deleted with PITR on (made durable with the
    /// deletion's own sync).
    pub(crate) fn record_deleted(&self, def: &TableDef, stats: crate::TableStats) -> Result<()> {
        let d = DeletedTable { def: def.clone(), deleted_at: now_secs(), items: stats.items, bytes: stats.bytes };
        let json = serde_json::to_vec(&d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let r = self.inner().meta.insert(deleted_key(def.id), json);
        self.poison_on_err(r)
    }

    /// Tables deleted with PITR on whose history is kept, oldest first.
    pub fn deleted_tables(&self) -> Result<Vec<DeletedTable>> {
        let mut out: Vec<DeletedTable> = self
            .inner()
            .meta
            .prefix(META_DELETED)
            .map(|kv| {
                let (_, v) = kv.into_inner()?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("deleted table: {e}")))
            })
            .collect::<Result<_>>()?;
        out.sort_by(|a, b| a.deleted_at.total_cmp(&b.deleted_at));
        Ok(out)
    }

    /// Drops versions past each table's recovery period, and the history
    /// of deleted tables past theirs.
    pub(crate) fn trim_history(&self, now: f64) -> Result<()> {
        let Some(history) = self.inner().history.get().cloned() else { return Ok(()) };
        for d in self.deleted_tables()? {
            if d.expires_at() <= now {
                self.clear_history(d.def.id)?;
                let r = self.inner().meta.remove(deleted_key(d.def.id));
                self.poison_on_err(r)?;
            }
        }
        for t in self.all_tables() {
            let Some(spec) = t.def.pitr.as_ref().filter(|p| p.ready) else { continue };
            let cutoff = ((now - f64::from(spec.period_days) * 86_400.0) * 1_000_000.0) as u64;
            self.trim_table(&history, t.def.id, cutoff)?;
        }
        Ok(())
    }

    /// Of each item of table `id`, drops the versions before `cutoff` but
    /// the last (unless that is a deletion): the state at the cut-off stays.
    fn trim_table(&self, history: &fjall::Keyspace, id: u64, cutoff: u64) -> Result<()> {
        let db = &self.inner().db;
        let mut batch = db.batch();
        // The last version before the cut-off of the item being read.
        let mut held: Option<(Vec<u8>, Vec<u8>, bool)> = None;
        for kv in history.prefix(id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            let (item, time) = split_key(&k)?;
            if let Some((hk, hitem, deletion)) = &held
                && (hitem.as_slice() != item || time < cutoff)
            {
                // Superseded before the cut-off, or the item's last state
                // before it was a deletion: not needed.
                if hitem.as_slice() == item || *deletion {
                    batch.remove(history, hk.clone());
                }
                held = None;
            }
            if time < cutoff {
                held = Some((k.to_vec(), item.to_vec(), v.first() == Some(&0)));
            }
            if batch.len() >= BATCH_ENTRIES {
                let r = std::mem::replace(&mut batch, db.batch()).commit();
                self.poison_on_err(r)?;
            }
        }
        if let Some((hk, _, true)) = held {
            batch.remove(history, hk);
        }
        let r = batch.commit();
        self.poison_on_err(r)
    }

    /// The items of table `id` as they were at `at_us`, in key order, to `f`.
    pub(crate) fn items_at(&self, id: u64, at_us: u64, mut f: impl FnMut(Item) -> Result<bool>) -> Result<bool> {
        let Some(history) = self.inner().history.get() else { return Ok(true) };
        let mut current: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
        let emit = |c: Option<(Vec<u8>, Option<Vec<u8>>)>, f: &mut dyn FnMut(Item) -> Result<bool>| -> Result<bool> {
            match c {
                Some((_, Some(v))) => f(decode_item(&v[1..])?),
                _ => Ok(true),
            }
        };
        for kv in history.prefix(id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            let (item, time) = split_key(&k)?;
            if current.as_ref().is_some_and(|(c, _)| c.as_slice() != item) && !emit(current.take(), &mut f)? {
                return Ok(false);
            }
            if time <= at_us {
                let value = (v.first() == Some(&1)).then(|| v.to_vec());
                current = Some((item.to_vec(), value));
            }
        }
        emit(current.take(), &mut f)
    }
}
