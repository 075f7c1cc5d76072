//! Point-in-time recovery: a table with PITR on keeps, for its recovery
//! period, what each change replaced, from which the table is restored as it
//! was at any moment of that period.
//!
//! Keyspace `history`: `table id (u64 BE) ++ item key ++ time (u64 BE,
//! microseconds since the epoch)` → the item's state just *before* the
//! change at that time: `01 ++ encoded item`, or `00` when it was absent (an
//! insert). An undo log: the item key is the table's own (`key.rs`, prefix
//! free), so an item's entries are adjacent and in time order.
//!
//! - The table's state at a moment `T` is, per item, the value of its first
//!   entry after `T` if it has one (what the first later change replaced),
//!   else the item as it is now. A restore merges the history with the
//!   table's items in key order, from one snapshot (`items_at`).
//! - Each commit writes the entries of the items it changes in the same
//!   fjall batch as the items (`db.rs::commit_unit`), under the write lock,
//!   with one time for the whole commit, strictly after the previous
//!   commit's (`HistoryClock`): whatever survives a crash survives with its
//!   history, and no two commits share a time. An insert costs a marker; an
//!   update or delete, the image it read anyway.
//! - Enabling PITR only marks the table: from then on its changes are
//!   recorded, and the items as they are need no copy.
//! - The maintenance thread drops entries older than the recovery period
//!   every [`TRIM_INTERVAL`]: no restore to a moment inside the period reads
//!   them.
//! - DeleteTable of a table with PITR keeps its items keyspace and history,
//!   recorded in `meta` (`pitr\0<table id>` → [`DeletedTable`]) for the
//!   recovery period, and shown as a `SYSTEM` backup (DynamoDB makes one on
//!   such a delete).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{Store, lock_pub as lock, now_secs};
use crate::error::{Result, StoreError};
use crate::messages;
use crate::table::{PitrSpec, TableDef};
use crate::value::{Item, decode_item};

/// How often versions past the recovery period are trimmed.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(600);
/// Entries an enabling copy or a trim commits at once.
const BATCH_ENTRIES: usize = 10_000;
/// Keys a point-in-time read takes from one snapshot (`Store::items_at`):
/// long enough that a run's setup (a snapshot, two seeks) is noise, short
/// enough that what fjall keeps for the snapshot meanwhile (the versions,
/// and memtables, of writes made while it is open) stays small.
const ITEMS_AT_RUN: usize = 20_000;
/// DynamoDB's bounds on `RecoveryPeriodInDays`, and its default.
pub const MIN_RECOVERY_DAYS: u32 = 1;
pub const MAX_RECOVERY_DAYS: u32 = 35;
pub const DEFAULT_RECOVERY_DAYS: u32 = 35;
/// How long the system backup of a deleted table with PITR is kept
/// (the developer guide's "Delete a table with PITR enabled").
pub const SYSTEM_BACKUP_DAYS: u32 = 35;

const META_DELETED: &[u8] = b"pitr\0";

/// The time of the next commit's versions: now in microseconds, or just
/// after the previous commit's if the clock has not moved (or went back).
#[derive(Default)]
pub(crate) struct HistoryClock(AtomicU64);

/// The point-in-time reads running (`Store::items_at`,
/// `Store::changes_between`): table id and moment, one entry per read. The
/// trim keeps their versions and a deleted table's history stays while one
/// reads it.
#[derive(Default)]
pub(crate) struct Readers(std::sync::Mutex<Vec<(u64, u64)>>);

/// A read's entry in [`Readers`], removed when it drops.
struct Reading<'a> {
    readers: &'a Readers,
    entry: (u64, u64),
}

impl Readers {
    fn enter(&self, id: u64, at_us: u64) -> Reading<'_> {
        lock(&self.0).push((id, at_us));
        Reading { readers: self, entry: (id, at_us) }
    }

    fn of(&self) -> Vec<(u64, u64)> {
        lock(&self.0).clone()
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let mut all = lock(&self.readers.0);
        if let Some(i) = all.iter().position(|e| *e == self.entry) {
            all.swap_remove(i);
        }
    }
}

impl HistoryClock {
    /// Never hands out a time at or before `us`.
    pub(crate) fn at_least(&self, us: u64) {
        self.0.fetch_max(us, Ordering::SeqCst);
    }

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

/// Table `id`'s history entries in `snapshot`, from the first item past
/// `after` (every item when `None`). An item key is self-delimiting
/// (`enc`), so every entry of a later item sorts after the last possible
/// entry of `after`.
fn entries_after(snapshot: &fjall::Snapshot, history: &fjall::Keyspace, id: u64, after: Option<&[u8]>) -> fjall::Iter {
    entries_between(snapshot, history, id, after, None)
}

/// The entries of table `id`'s items with keys past `after` (every key when
/// `None`) up to `last` included (every key when `None`).
fn entries_between(
    snapshot: &fjall::Snapshot,
    history: &fjall::Keyspace,
    id: u64,
    after: Option<&[u8]>,
    last: Option<&[u8]>,
) -> fjall::Iter {
    use fjall::Readable;
    use std::ops::Bound;
    let from = match after {
        Some(k) => Bound::Excluded(history_key(id, k, u64::MAX)),
        None => Bound::Included(id.to_be_bytes().to_vec()),
    };
    let to = match (last, id.checked_add(1)) {
        (Some(k), _) => Bound::Included(history_key(id, k, u64::MAX)),
        (None, Some(next)) => Bound::Excluded(next.to_be_bytes().to_vec()),
        (None, None) => Bound::Unbounded,
    };
    snapshot.range(history, (from, to))
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
    /// When its system backup expires, and its items and history are
    /// dropped: DynamoDB "retains it for 35 days", whatever the table's
    /// recovery period (which trims its history meanwhile, as a live
    /// table's: the moments before it are no longer restorable, the
    /// deletion's stays).
    pub fn expires_at(&self) -> f64 {
        self.deleted_at + f64::from(SYSTEM_BACKUP_DAYS) * 86_400.0
    }

    /// The id DynamoDB's system backup of it goes by: the deletion's time,
    /// and eight zeros.
    pub fn backup_id(&self) -> String {
        format!("{:014}-00000000", (self.deleted_at * 1000.0) as u64)
    }
}

fn deleted_key(id: u64) -> Vec<u8> {
    [META_DELETED, &id.to_be_bytes()].concat()
}

/// The earliest restorable moment at `now`: the latest of enabling, the
/// start of what is kept whole, and the period's start.
fn earliest(spec: &PitrSpec, now: f64) -> f64 {
    spec.enabled_at.max(spec.history_from).max(now - f64::from(spec.period_days) * 86_400.0)
}

fn secs_of(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// A table to restore to a point in time: a live one with PITR, or one
/// deleted with it.
#[derive(Debug, Clone)]
pub struct PitrSource {
    pub def: TableDef,
    pub deleted_at: Option<f64>,
}

impl PitrSource {
    /// The restorable window at `now`, epoch seconds; `None` without PITR.
    /// A live table's ends a second ago, a deleted one's at its deletion.
    pub fn window(&self, now: f64) -> Option<(f64, f64)> {
        let spec = self.def.pitr.as_ref()?;
        let latest = self.deleted_at.unwrap_or(now - 1.0).max(spec.enabled_at);
        Some((earliest(spec, now).min(latest), latest))
    }
}

fn refused(kind: &'static str, message: String) -> StoreError {
    StoreError::Refused { kind, message }
}

impl Store {
    /// The history's size on disk (every table's), once what it holds in
    /// memory is flushed: what the recovery period costs (`benches/history.rs`).
    /// For benchmarks and tests: it forces a flush and waits for it.
    pub fn history_disk_bytes(&self) -> Result<u64> {
        let Some(history) = self.inner().history.get() else { return Ok(0) };
        history.rotate_memtable_and_wait()?;
        Ok(history.disk_space())
    }

    /// The size on disk of table `name`'s items and index entries, once
    /// flushed.
    pub fn table_disk_bytes(&self, name: &str) -> Result<u64> {
        let t = self.table(name)?;
        t.items.rotate_memtable_and_wait()?;
        t.index.rotate_memtable_and_wait()?;
        Ok(t.items.disk_space() + t.index.disk_space())
    }

    /// The table `name` as a source of RestoreTableToPointInTime: the live
    /// table, else the last one of that name deleted with PITR on.
    pub fn pitr_source(&self, name: &str) -> Result<PitrSource> {
        if let Ok(t) = self.table(name) {
            if t.def.pitr.is_none() {
                return Err(refused(
                    "PointInTimeRecoveryUnavailableException",
                    messages::backup::pitr_not_enabled(name),
                ));
            }
            return Ok(PitrSource { def: t.def.clone(), deleted_at: None });
        }
        match self.deleted_tables()?.into_iter().rev().find(|d| d.def.name == name) {
            Some(d) => Ok(PitrSource { def: d.def, deleted_at: Some(d.deleted_at) }),
            None => Err(refused("TableNotFoundException", messages::backup::table_not_found(name))),
        }
    }

    /// The table deleted with PITR on whose system backup is `id`; tables deleted in
    /// the same millisecond are told apart by `table`, the ARN's name.
    pub fn system_backup(&self, id: &str, table: &str) -> Result<Option<DeletedTable>> {
        let mut found: Vec<DeletedTable> = self.deleted_tables()?.into_iter().filter(|d| d.backup_id() == id).collect();
        let named = found.iter().position(|d| d.def.name == table).unwrap_or(0);
        Ok((!found.is_empty()).then(|| found.swap_remove(named)))
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
            return Err(refused("BackupInUseException", messages::backup::system_backup_restoring(d.backup_id())));
        }
        if self.inner().history_readers.of().iter().any(|(t, _)| *t == d.def.id) {
            return Err(refused("BackupInUseException", messages::backup::system_backup_exporting(d.backup_id())));
        }
        // The record goes (durably) before the entries and the items.
        let r = self.inner().meta.remove(deleted_key(d.def.id));
        self.poison_on_err(r)?;
        self.sync_now()?;
        self.clear_history(d.def.id)?;
        self.drop_kept_items(d.def.id)
    }

    /// Restores `source` as it was at `at` (epoch seconds, within its
    /// window) into a new table made from `input`, `CREATING` until loaded;
    /// `backup_id` names the SYSTEM backup restored this way, if one was.
    pub fn restore_to_point_in_time(
        &self,
        source: &PitrSource,
        at: f64,
        input: crate::catalog::CreateTableInput,
        backup_id: Option<String>,
    ) -> Result<Arc<crate::TableHandle>> {
        self.check_writable()?;
        if self.table_any(&input.name).is_some() {
            return Err(refused("TableAlreadyExistsException", messages::table::table_already_exists(&input.name)));
        }
        self.check_restores_in_progress()?;
        let admission = crate::backup::admit(&self.inner().backup_jobs, None)?;
        let id = source.def.id;
        let gone = || refused("TableNotFoundException", messages::backup::table_not_found(&source.def.name));
        // Under the write lock, with the table's creation: the source is
        // still there (not disabled, deleted or dropped meanwhile).
        let check = || -> Result<()> {
            match source.deleted_at {
                None => match self.table(&source.def.name) {
                    Ok(t) if t.def.id == id && t.def.pitr.is_some() => Ok(()),
                    _ => Err(gone()),
                },
                Some(_) => match self.inner().meta.get(deleted_key(id))? {
                    Some(_) => Ok(()),
                    None => Err(gone()),
                },
            }
        };
        let summary = crate::table::RestoreSummary {
            source: crate::backup::RestoreSource::PointInTime {
                table: source.def.id,
                at_us: (at * 1_000_000.0).round() as u64,
            },
            source_table: source.def.name.clone(),
            restored_to: at,
            in_progress: true,
            backup_id,
        };
        let handle = self.create_table_with(input, Some(summary), check)?;
        self.spawn_restore(handle.clone(), admission);
        Ok(handle)
    }

    /// The items of table `id` (its internal id) as they were at `at_us`,
    /// microseconds since the epoch, in key order, to `f` until it answers
    /// `false`: the history merged with the table's items (a live table's,
    /// or a deleted one's kept keyspace).
    ///
    /// Read in runs of [`ITEMS_AT_RUN`] keys, each from a snapshot of its
    /// own: while a snapshot is open, fjall keeps every version of every
    /// tree made since, with the memtables they hold, so one snapshot for
    /// a whole restore kept everything written meanwhile in memory (the
    /// restore's own table included: 2.6 GB at 1.5M items). The answer is
    /// the same: an item's state at `at_us` is the first version recorded
    /// after `at_us`, else its current value, and a change records its
    /// version in the same batch as its new value, so any snapshot that
    /// holds `at_us`'s history gives it.
    pub fn items_at(&self, id: u64, at_us: u64, f: impl FnMut(Item) -> Result<bool>) -> Result<bool> {
        self.items_at_in_runs(id, at_us, ITEMS_AT_RUN, f)
    }

    fn items_at_in_runs(
        &self,
        id: u64,
        at_us: u64,
        run_keys: usize,
        mut f: impl FnMut(Item) -> Result<bool>,
    ) -> Result<bool> {
        use fjall::Readable;
        use std::ops::Bound;
        let Some(items) = self.pitr_items(id)? else {
            return Err(StoreError::Corrupt(format!("the items of table {id} are gone")));
        };
        let emit = |f: &mut dyn FnMut(Item) -> Result<bool>, v: &[u8]| -> Result<bool> {
            match v.first() {
                Some(1) => f(decode_item(&v[1..])?),
                _ => Ok(true),
            }
        };
        let (_reading, began) = self.start_read(id, at_us, 0.001)?;
        // The last item key handled: the next run starts after it.
        let mut after: Option<Vec<u8>> = None;
        loop {
            let snapshot = self.run_snapshot(id, began)?;
            let from = match &after {
                Some(k) => Bound::Excluded(k.clone()),
                None => Bound::Unbounded,
            };
            // The run ends at its `run_keys`-th item (`None`: it takes the
            // rest), and so does its read of the history. Unbounded, each
            // run's history read went on past the run's items until it found
            // an entry after `at_us`: for a restore to a recent moment that
            // is every remaining entry, so the runs read the history over and
            // over (7.8 s instead of 0.5 s for 1M items). A first pass over
            // the run's keys finds its end; it leaves their blocks in the
            // cache for the second.
            let last = match snapshot.range(&items, (from.clone(), Bound::Unbounded)).nth(run_keys.max(1) - 1) {
                Some(kv) => Some(kv.key()?.to_vec()),
                None => None,
            };
            let entries = self
                .inner()
                .history
                .get()
                .map(|h| entries_between(&snapshot, h, id, after.as_deref(), last.as_deref()));
            let mut undo = UndoReader { iter: entries, at_us, last: None, store: self };
            let mut next_undo = undo.next()?;
            let to = match &last {
                Some(k) => Bound::Included(k.clone()),
                None => Bound::Unbounded,
            };
            let mut iter = snapshot.range(&items, (from, to));
            let mut next_item = iter.next().map(|kv| kv.into_inner()).transpose()?;
            let mut run = 0;
            loop {
                let (key, go) = match (&next_item, &next_undo) {
                    (None, None) => match last {
                        None => return Ok(true),
                        Some(k) => {
                            after = Some(k);
                            break;
                        }
                    },
                    // Items only the history knows of (deleted since), and
                    // items with a version after `at_us`: the version.
                    (Some((k, _)), Some((uk, uv))) if uk.as_slice() <= k.as_ref() => {
                        let go = emit(&mut f, uv)?;
                        let key = uk.clone();
                        if uk.as_slice() == k.as_ref() {
                            next_item = iter.next().map(|kv| kv.into_inner()).transpose()?;
                        }
                        next_undo = undo.next()?;
                        (key, go)
                    }
                    (None, Some((uk, uv))) => {
                        let go = emit(&mut f, uv)?;
                        let key = uk.clone();
                        next_undo = undo.next()?;
                        (key, go)
                    }
                    (Some((k, v)), _) => {
                        let v = crate::cipher::open_in(self.inner().cipher.as_ref(), &items, k, v.clone())?;
                        let go = f(crate::stream::decode_stored(&v)?)?;
                        let key = k.to_vec();
                        next_item = iter.next().map(|kv| kv.into_inner()).transpose()?;
                        (key, go)
                    }
                };
                if !go {
                    return Ok(false);
                }
                run += 1;
                if run >= run_keys {
                    after = Some(key);
                    break;
                }
            }
        }
    }

    /// Starts a read of table `id`'s history back to `from_us`: registers
    /// it, so that the trim keeps its versions and a deleted table's
    /// history stays until it ends, and refuses a moment more than
    /// `slack_secs` before the history began. Returns the registration and
    /// when the history began, which each run checks again
    /// ([`Store::run_snapshot`]): a history goes when PITR is switched off
    /// (and again when it is switched on), or with a deleted table's system
    /// backup.
    fn start_read(&self, id: u64, from_us: u64, slack_secs: f64) -> Result<(Reading<'_>, Option<f64>)> {
        let reading = self.inner().history_readers.enter(id, from_us);
        let began = self.history_began(id)?;
        if began.is_none_or(|e| (from_us as f64) / 1e6 + slack_secs < e) {
            return Err(StoreError::Validation(messages::backup::history_too_short(id)));
        }
        Ok((reading, began))
    }

    /// A run's snapshot for a read of table `id`'s history, which began at
    /// `began` when the read started: an error if that history has gone
    /// since (PITR switched off, or on again; a deleted table's history
    /// deleted). Checked after the snapshot is taken: a history's record
    /// goes before its entries, so a snapshot taken while they go fails.
    fn run_snapshot(&self, id: u64, began: Option<f64>) -> Result<fjall::Snapshot> {
        let snapshot = self.inner().db.snapshot();
        if self.history_began(id)? != began {
            return Err(StoreError::ResourceInUse(messages::backup::history_switched_off(id)));
        }
        Ok(snapshot)
    }

    /// When table `id`'s history began (PITR enabled), live or deleted with
    /// PITR on; `None` once it has none.
    fn history_began(&self, id: u64) -> Result<Option<f64>> {
        if let Some(t) = self.all_tables().into_iter().find(|t| t.def.id == id) {
            return Ok(t.def.pitr.as_ref().map(|p| p.enabled_at));
        }
        Ok(self
            .deleted_tables()?
            .into_iter()
            .find(|d| d.def.id == id)
            .map(|d| d.def.pitr.map_or(0.0, |p| p.enabled_at)))
    }

    /// The items keyspace of table `id`: a live table's, or the one kept for
    /// a table deleted with PITR on.
    fn pitr_items(&self, id: u64) -> Result<Option<fjall::Keyspace>> {
        if let Some(t) = self.all_tables().into_iter().find(|t| t.def.id == id) {
            return Ok(Some(t.items.clone()));
        }
        self.kept_items(id)
    }

    /// Every item of table `id` changed in `[from_us, to_us)` (DynamoDB's
    /// incremental export: the start inclusive, the end exclusive), in key
    /// order, to `f(old, new, written_us)`: its state just before `from_us`
    /// and just before `to_us` (`None` where absent), and when it last
    /// changed in that span.
    /// An item absent at both ends is left out.
    pub fn changes_between(
        &self,
        id: u64,
        from_us: u64,
        to_us: u64,
        f: impl FnMut(Option<Item>, Option<Item>, u64) -> Result<()>,
    ) -> Result<()> {
        self.changes_between_in_runs(id, from_us, to_us, ITEMS_AT_RUN, f)
    }

    fn changes_between_in_runs(
        &self,
        id: u64,
        from_us: u64,
        to_us: u64,
        run_entries: usize,
        mut f: impl FnMut(Option<Item>, Option<Item>, u64) -> Result<()>,
    ) -> Result<()> {
        use fjall::Readable;
        let Some(history) = self.inner().history.get() else { return Ok(()) };
        let Some(items) = self.pitr_items(id)? else { return Ok(()) };
        // As `items_at`, with a run ending at an item's last entry. An
        // export's start may be the window's first whole second, up to a
        // second before the history began.
        let (_reading, began) = self.start_read(id, from_us, 1.0)?;
        let cipher = self.inner().cipher.as_ref();
        let dec = |v: &[u8]| -> Result<Option<Item>> {
            match v.first() {
                Some(1) => Ok(Some(decode_item(&v[1..])?)),
                _ => Ok(None),
            }
        };
        // The item being read: key, state at `from` (the first entry after
        // it), state at `to` (the first entry after it, if any), last change
        // in the span.
        type Cur = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, u64);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let snapshot = self.run_snapshot(id, began)?;
            let mut flush = |c: Option<Cur>| -> Result<()> {
                let Some((key, old, new, at)) = c else { return Ok(()) };
                let old = dec(&old)?;
                let new = match new {
                    Some(v) => dec(&v)?,
                    None => match snapshot.get(&items, &key)? {
                        Some(v) => {
                            let v = crate::cipher::open_in(cipher, &items, &key, v)?;
                            Some(crate::stream::decode_stored(&v)?)
                        }
                        None => None,
                    },
                };
                if old.is_none() && new.is_none() {
                    return Ok(());
                }
                f(old, new, at)
            };
            let entries = entries_after(&snapshot, history, id, after.as_deref());
            let mut cur: Option<Cur> = None;
            // The last item whose entries were all read, once the run is full.
            let mut stop_after: Option<Vec<u8>> = None;
            for (seen, kv) in entries.enumerate() {
                let (k, v) = kv.into_inner()?;
                let (item, time) = split_key(&k)?;
                if let Some(last) = &stop_after {
                    if last.as_slice() != item {
                        break;
                    }
                } else if seen >= run_entries {
                    stop_after = Some(item.to_vec());
                }
                if cur.as_ref().is_some_and(|c| c.0.as_slice() != item) {
                    flush(cur.take())?;
                }
                if time < from_us {
                    continue;
                }
                let v = crate::cipher::open_in(cipher, history, &k, v)?;
                match cur.as_mut() {
                    None if time < to_us => cur = Some((item.to_vec(), v.to_vec(), None, time)),
                    None => {}
                    Some(c) if time < to_us => c.3 = time,
                    Some(c) if c.2.is_none() => c.2 = Some(v.to_vec()),
                    Some(_) => {}
                }
            }
            flush(cur.take())?;
            match stop_after {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// Now, as point-in-time reads count it (epoch seconds): not before the
    /// history time of any commit made, which runs ahead of the wall clock
    /// after that stepped back.
    pub fn history_now(&self) -> f64 {
        let clock = self.inner().history_clock.0.load(Ordering::SeqCst);
        // A microsecond past the last commit's time, so that the moment,
        // turned to seconds and back, is never before it.
        (now_micros().max(clock.saturating_add(1))) as f64 / 1e6
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
            (Some(d), Some(spec)) => {
                spec.history_from = earliest(spec, now_secs());
                spec.period_days = d;
            }
            (Some(d), None) => {
                let at = secs_of(self.inner().history_clock.next());
                def.pitr = Some(PitrSpec { enabled_at: at, period_days: d, history_from: 0.0 });
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
                return Err(StoreError::ResourceInUse(messages::backup::pitr_disable_while_restoring(table)));
            }
        }
        if starting {
            // Versions a copy cut short by a restart may have left.
            self.clear_history(def.id)?;
        }
        let id = def.id;
        let new = self.replace_def(&old, def)?;
        if stopping {
            // The definition says off (durably) before the entries go.
            self.clear_history(id)?;
        }
        drop(guard);
        Ok(new)
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

    /// At open: the history clock never goes back past a moment already
    /// recorded (as far as definitions tell), even if the wall clock did.
    pub(crate) fn resume_pitr(&self) {
        let mut seen = 0.0f64;
        for t in self.all_tables() {
            if let Some(p) = &t.def.pitr {
                seen = seen.max(p.enabled_at).max(p.history_from);
            }
        }
        for d in self.deleted_tables().unwrap_or_default() {
            seen = seen.max(d.deleted_at);
        }
        self.inner().history_clock.at_least((seen * 1_000_000.0) as u64);
    }

    /// Records a table deleted with PITR on (made durable with the
    /// deletion's own sync).
    pub(crate) fn record_deleted(&self, def: &TableDef, stats: crate::TableStats) -> Result<()> {
        // Under the write lock: after every version the table has.
        let mut deleted_at = secs_of(self.inner().history_clock.next());
        // Its system backup is named by the millisecond (`backup_id`): one
        // no other deleted table has. (Later than the clock's reading is
        // still after every version the table has.)
        let taken: std::collections::HashSet<u64> =
            self.deleted_tables()?.iter().map(|d| (d.deleted_at * 1000.0) as u64).collect();
        while taken.contains(&((deleted_at * 1000.0) as u64)) {
            deleted_at = (((deleted_at * 1000.0) as u64 + 1) as f64 + 0.5) / 1000.0;
        }
        let d = DeletedTable { def: def.clone(), deleted_at, items: stats.items, bytes: stats.bytes };
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

    /// Drops entries past each table's recovery period, and what is kept
    /// of deleted tables past theirs.
    pub(crate) fn trim_history(&self, now: f64) -> Result<()> {
        let Some(history) = self.inner().history.get().cloned() else { return Ok(()) };
        // The moment each source table is being restored to: its entries
        // after it stay until the restore is done.
        let restoring: Vec<(u64, u64)> = self
            .all_tables()
            .iter()
            .filter(|t| t.is_restoring())
            .filter_map(|t| match t.def.restore.as_ref().map(|r| &r.source) {
                Some(crate::backup::RestoreSource::PointInTime { table, at_us }) => Some((*table, *at_us)),
                _ => None,
            })
            .chain(self.inner().history_readers.of())
            .collect();
        for d in self.deleted_tables()? {
            if d.expires_at() <= now && !restoring.iter().any(|(t, _)| *t == d.def.id) {
                let _ = self.delete_system_backup(&d);
            }
        }
        let mut tables: Vec<(u64, u32)> =
            self.all_tables().iter().filter_map(|t| t.def.pitr.as_ref().map(|p| (t.def.id, p.period_days))).collect();
        tables.extend(
            self.deleted_tables()?
                .iter()
                .map(|d| (d.def.id, d.def.pitr.as_ref().map_or(DEFAULT_RECOVERY_DAYS, |p| p.period_days))),
        );
        for (id, days) in tables {
            let mut cutoff = ((now - f64::from(days) * 86_400.0) * 1_000_000.0) as u64;
            for (_, at) in restoring.iter().filter(|(t, _)| *t == id) {
                cutoff = cutoff.min(*at);
            }
            if !self.trim_table(&history, id, cutoff)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Drops table `id`'s entries from before `cutoff`: no restore to a
    /// moment at or after it reads them. `Ok(false)` when the store is
    /// closing (the trim stopped).
    fn trim_table(&self, history: &fjall::Keyspace, id: u64, cutoff: u64) -> Result<bool> {
        let db = &self.inner().db;
        let mut batch = db.batch();
        for kv in history.prefix(id.to_be_bytes()) {
            let k = kv.key()?;
            let (_, time) = split_key(&k)?;
            if time < cutoff {
                batch.remove(history, k.clone());
            }
            if batch.len() >= BATCH_ENTRIES {
                let r = std::mem::replace(&mut batch, db.batch()).commit();
                self.poison_on_err(r)?;
                if self.closing() {
                    return Ok(false);
                }
            }
        }
        let r = batch.commit();
        self.poison_on_err(r)?;
        Ok(true)
    }
}

/// Reads table `id`'s history after `at_us`: per item, the value of its
/// first entry after `at_us`, in key order.
struct UndoReader<'a> {
    iter: Option<fjall::Iter>,
    at_us: u64,
    last: Option<Vec<u8>>,
    store: &'a Store,
}

impl UndoReader<'_> {
    fn next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(iter) = self.iter.as_mut() else { return Ok(None) };
        for kv in iter.by_ref() {
            let (k, v) = kv.into_inner()?;
            let (item, time) = split_key(&k)?;
            if time <= self.at_us || self.last.as_deref() == Some(item) {
                continue;
            }
            self.last = Some(item.to_vec());
            let inner = self.store.inner();
            let v = match inner.history.get() {
                Some(h) => crate::cipher::open_in(inner.cipher.as_ref(), h, &k, v)?,
                None => v,
            };
            return Ok(Some((item.to_vec(), v.to_vec())));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::CreateTableInput;
    use crate::value::{AttrType, Value};
    use crate::{Decision, StoreConfig, WriteOp};

    fn item(pk: &str, v: i64) -> Item {
        [("pk".to_string(), Value::S(pk.into())), ("v".to_string(), Value::N(v.to_string().parse().unwrap()))].into()
    }

    fn put(store: &Store, it: Item) {
        let key: Item = [("pk".to_string(), it["pk"].clone())].into();
        let op = WriteOp { table: "tab".into(), key, decide: Box::new(move |_| Ok(Decision::Put(it))) };
        store.write_many(vec![op], false).expect("put");
    }

    fn delete(store: &Store, pk: &str) {
        let key: Item = [("pk".to_string(), Value::S(pk.into()))].into();
        let op = WriteOp { table: "tab".into(), key, decide: Box::new(|_| Ok(Decision::Delete)) };
        store.write_many(vec![op], false).expect("delete");
    }

    fn at(store: &Store, id: u64, us: u64) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        store
            .items_at(id, us, |i| {
                let Value::S(pk) = &i["pk"] else { panic!("a string key") };
                let Value::N(n) = &i["v"] else { panic!("a number") };
                out.insert(pk.clone(), n.to_string().parse().unwrap());
                Ok(true)
            })
            .expect("items at");
        out
    }

    /// The undo log answers the table's state at any moment, and the
    /// changes of a span `[from, to)` with the images at both ends.
    #[test]
    fn the_history_gives_states_and_changes_between_moments() {
        let store = Store::open(StoreConfig::default()).expect("open");
        let t = store.create_table(CreateTableInput::for_test("tab", "pk", AttrType::S)).expect("create");
        let id = t.def.id;
        put(&store, item("before", 1));
        store.set_pitr("tab", Some(1)).expect("enable");
        let mark = || store.inner().history_clock.next();
        let t0 = mark();
        put(&store, item("a", 1));
        put(&store, item("b", 1));
        let t1 = mark();
        put(&store, item("a", 2));
        delete(&store, "b");
        put(&store, item("c", 1));
        put(&store, item("before", 2));
        let t2 = mark();
        put(&store, item("c", 2));
        delete(&store, "c");

        let state = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
        assert_eq!(at(&store, id, t0), state(&[("before", 1)]));
        assert_eq!(at(&store, id, t1), state(&[("a", 1), ("b", 1), ("before", 1)]));
        assert_eq!(at(&store, id, t2), state(&[("a", 2), ("before", 2), ("c", 1)]));
        assert_eq!(at(&store, id, mark()), state(&[("a", 2), ("before", 2)]));

        // [t1, t2): a updated, b deleted, c inserted, before updated.
        let mut seen = Vec::new();
        store
            .changes_between(id, t1, t2, |old, new, when| {
                assert!(when >= t1 && when < t2);
                let pk = |i: &Option<Item>| i.as_ref().map(|i| i["v"].clone());
                let key = old.as_ref().or(new.as_ref()).map(|i| i["pk"].clone()).expect("an image");
                seen.push((key, pk(&old), pk(&new)));
                Ok(())
            })
            .expect("changes");
        let n = |v: i64| Some(Value::N(v.to_string().parse().unwrap()));
        let key = |k: &str| Value::S(k.into());
        assert_eq!(
            seen,
            vec![(key("a"), n(1), n(2)), (key("b"), n(1), None), (key("before"), n(1), n(2)), (key("c"), None, n(1)),]
        );
        // [t2, now): c inserted earlier, updated and deleted: old 1, new none.
        let mut after = Vec::new();
        store
            .changes_between(id, t2, mark(), |old, new, _| {
                after.push((old.map(|i| i["v"].clone()), new.map(|i| i["v"].clone())));
                Ok(())
            })
            .expect("changes");
        assert_eq!(after, vec![(n(1), None)]);
    }

    /// The changes of a span read in runs of a few entries, each from its
    /// own snapshot, while items keep changing: the same as in one run.
    #[test]
    fn changes_read_in_runs_are_the_same_while_writes_go_on() {
        let store = Store::open(StoreConfig::default()).expect("open");
        let t = store.create_table(CreateTableInput::for_test("tab", "pk", AttrType::S)).expect("create");
        let id = t.def.id;
        let key = |i: usize| format!("k{i:02}");
        for i in 0..12 {
            put(&store, item(&key(i), 0));
        }
        store.set_pitr("tab", Some(1)).expect("enable");
        let from = store.inner().history_clock.next();
        for round in 1..4 {
            for i in (0..12).filter(|i| i % (round + 1) == 0) {
                put(&store, item(&key(i), round as i64));
            }
            delete(&store, &key(round * 3));
        }
        let to = store.inner().history_clock.next();
        put(&store, item(&key(1), 99));
        let read = |run: usize, write: bool| {
            let mut seen = Vec::new();
            let mut n = 0;
            store
                .changes_between_in_runs(id, from, to, run, |old, new, at| {
                    let v = |i: &Option<Item>| i.as_ref().map(|i| i["v"].clone());
                    let k = old.as_ref().or(new.as_ref()).map(|i| i["pk"].clone()).expect("an image");
                    seen.push((k, v(&old), v(&new), at));
                    n += 1;
                    if write {
                        put(&store, item(&key((n * 5) % 12), 500 + n as i64));
                        delete(&store, &key((n * 7) % 12));
                    }
                    Ok(())
                })
                .expect("changes");
            seen
        };
        let whole = read(usize::MAX, false);
        assert!(whole.len() >= 8, "{whole:?}");
        for run in [1, 2, 3, 5] {
            assert_eq!(read(run, true), whole, "runs of {run}");
        }
    }

    /// Read in runs of a few keys, each from its own snapshot, while the
    /// table keeps changing between runs (and, at last, PITR is switched
    /// off and on): the state at a moment is still exact, and a history
    /// switched off mid-read is an error, never a mixed answer.
    #[test]
    fn a_state_read_in_runs_is_exact_while_writes_go_on() {
        let store = Store::open(StoreConfig::default()).expect("open");
        let t = store.create_table(CreateTableInput::for_test("tab", "pk", AttrType::S)).expect("create");
        let id = t.def.id;
        let key = |i: usize| format!("k{i:02}");
        for i in (0..40).step_by(2) {
            put(&store, item(&key(i), 1));
        }
        store.set_pitr("tab", Some(1)).expect("enable");
        // Odd keys inserted, every third deleted, the rest updated.
        for i in 0..40 {
            match i % 3 {
                0 if i % 2 == 0 => delete(&store, &key(i)),
                _ => put(&store, item(&key(i), 2)),
            }
        }
        let at_us = store.inner().history_clock.next();
        let mut expected = BTreeMap::new();
        for i in 0..40 {
            if !(i % 3 == 0 && i % 2 == 0) {
                expected.insert(key(i), 2);
            }
        }
        for run in [1, 2, 3, 7, 100] {
            let mut seen = BTreeMap::new();
            let mut n = 0;
            store
                .items_at_in_runs(id, at_us, run, |i| {
                    let Value::S(pk) = &i["pk"] else { panic!("a string key") };
                    let Value::N(v) = &i["v"] else { panic!("a number") };
                    seen.insert(pk.clone(), v.to_string().parse::<i64>().unwrap());
                    // Between runs: rewrite, delete and re-insert items on
                    // both sides of the read's position, and trim as if
                    // the period had passed (the read's versions stay).
                    n += 1;
                    if n == 5 {
                        store.trim_history(now_secs() + 7.0 * 86_400.0).expect("trim");
                    }
                    put(&store, item(&key(n % 40), 100 + n as i64));
                    delete(&store, &key((n * 7) % 40));
                    put(&store, item(&key((n * 13) % 40), 200));
                    Ok(true)
                })
                .expect("items at");
            assert_eq!(seen, expected, "runs of {run}");
        }
        let mut n = 0;
        let err = store
            .items_at_in_runs(id, at_us, 2, |_| {
                n += 1;
                if n == 3 {
                    store.set_pitr("tab", None).expect("disable");
                    store.set_pitr("tab", Some(1)).expect("enable");
                }
                Ok(true)
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::ResourceInUse(_)), "{err:?}");
    }
}
