//! Global tables in the store: the replica set of a table, the hidden
//! replication stamp of each of its items, and the last-writer-wins apply
//! of a write that another region made.
//!
//! Every write to a table with replicas gets a [`Stamp`]: the commit time
//! in milliseconds and the writing region's node number. A local write's
//! time is at least one past the item's current stamp, so a region's own
//! writes to an item are ordered even when its clock steps back. The stamp
//! is kept beside the item (a system entry `rep/<table id><item key>`, also
//! for a deleted item: a tombstone), and its stream record carries it, so
//! the replicator ships each change with the stamp it was made with.
//!
//! A replicated change is applied only when its stamp is greater than the
//! item's: the later time wins, and at the same millisecond the greater
//! node. Every region applies the same rule to the same stamps, so they
//! converge whatever order changes arrive in, and a delivery repeated after
//! a crash changes nothing. A delete wins or loses by the same rule, and its
//! tombstone keeps an older write from bringing the item back.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cipher::open_in;
use crate::db::{Store, TableHandle, now_ms};
use crate::error::{Result, StoreError};
use crate::key::item_key;
use crate::messages;
use crate::stream::{Origin, decode_stored};
use crate::unit::{Change, Unit};
use crate::value::{Item, encode_item_value};

/// When and where a version of an item was written. Ordered by time, then
/// node: the order every region resolves conflicts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Epoch milliseconds.
    pub ms: u64,
    /// The writing region's [`region_node`].
    pub node: u32,
}

/// The number a region's stamps carry: FNV-1a of its name, the same in
/// every process.
pub fn region_node(region: &str) -> u32 {
    region.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// One replica of a global table, as this region knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaDef {
    pub region: String,
    /// `CREATING`, `ACTIVE`, `DELETING` (DynamoDB's `ReplicaStatus`).
    pub status: String,
    /// When the replica was asked for, epoch milliseconds.
    pub created_ms: u64,
    /// A replica of a version 2017.11.29 global table (CreateGlobalTable),
    /// which DescribeTable does not list.
    #[serde(default)]
    pub legacy: bool,
    /// A witness of a table with multi-Region strong consistency
    /// (`GlobalTableWitnesses`), not a replica: it keeps the items for the
    /// others and serves no client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub witness: bool,
    /// What the replica sets for itself over the table's settings.
    #[serde(default, skip_serializing_if = "ReplicaOverrides::is_unset")]
    pub overrides: ReplicaOverrides,
    /// Index changes made to the table here that the replica's region has
    /// yet to make, in order: UpdateTable requests (`AttributeDefinitions`
    /// and `GlobalSecondaryIndexUpdates`) as JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_changes: Vec<String>,
    /// The region that added this replica (DynamoDB refuses to delete a
    /// region that added a replica in the last 24 hours). `None` for one
    /// added before Tidepool recorded it, or a version 2017.11.29 one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The replica's own customer managed KMS key (its ARN, in its
    /// region), of a table encrypted with one: each region has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
}

impl ReplicaDef {
    /// A replica as a region first learns of it, with no overrides.
    pub fn new(region: impl Into<String>, status: &str, created_ms: u64) -> ReplicaDef {
        ReplicaDef {
            region: region.into(),
            status: status.into(),
            created_ms,
            legacy: false,
            witness: false,
            overrides: ReplicaOverrides::default(),
            index_changes: Vec::new(),
            source: None,
            kms_key_arn: None,
        }
    }
}

/// A replica's own settings over its table's (UpdateTable's `ReplicaUpdates`
/// `Create` and `Update`: DynamoDB's `ProvisionedThroughputOverride`,
/// `OnDemandThroughputOverride`, `TableClassOverride` and index overrides),
/// which every region of the table records and DescribeTable reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaOverrides {
    /// Read capacity units of a provisioned replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_capacity: Option<u64>,
    /// The most read request units a second of an on-demand replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_request_units: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_class: Option<String>,
    /// When the table class was set, epoch milliseconds.
    #[serde(default)]
    pub table_class_ms: u64,
    /// When these were last changed, epoch milliseconds: of two regions'
    /// updates of one replica, every region keeps the later.
    #[serde(default)]
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexOverride>,
    /// Set where an `Update` was asked until every region of the table has
    /// these (DescribeTable says `UPDATING` meanwhile); the supervisor
    /// sends them, so that a restart or a peer down only delays them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsent: bool,
}

impl ReplicaOverrides {
    pub fn is_empty(&self) -> bool {
        self.read_capacity.is_none()
            && self.max_read_request_units.is_none()
            && self.table_class.is_none()
            && self.indexes.is_empty()
            && !self.unsent
    }

    /// Never set: no override, nothing to send, no time of a change (which
    /// must be kept once there was one, so that an older update arriving
    /// later is told apart).
    pub fn is_unset(&self) -> bool {
        self.is_empty() && self.updated_ms == 0
    }

    /// Whether `self`, arrived from another region, replaces `current`: the
    /// later change, and of two at the same millisecond the same one in
    /// every region (the greater by their JSON).
    pub fn supersedes(&self, current: &ReplicaOverrides) -> bool {
        let key = |o: &ReplicaOverrides| {
            let sent = ReplicaOverrides { unsent: false, ..o.clone() };
            (o.updated_ms, serde_json::to_string(&sent).unwrap_or_default())
        };
        key(self) >= key(current)
    }

    /// `update` laid over these: what it names replaces what was there,
    /// index by index.
    pub fn merge(&mut self, update: &ReplicaOverrides) {
        self.updated_ms = self.updated_ms.max(update.updated_ms);
        if update.read_capacity.is_some() {
            self.read_capacity = update.read_capacity;
        }
        if update.max_read_request_units.is_some() {
            self.max_read_request_units = update.max_read_request_units;
        }
        if update.table_class.is_some() {
            self.table_class.clone_from(&update.table_class);
            self.table_class_ms = update.table_class_ms;
        }
        for i in &update.indexes {
            match self.indexes.iter_mut().find(|x| x.name == i.name) {
                Some(x) => {
                    if i.read_capacity.is_some() {
                        x.read_capacity = i.read_capacity;
                    }
                    if i.max_read_request_units.is_some() {
                        x.max_read_request_units = i.max_read_request_units;
                    }
                }
                None => self.indexes.push(i.clone()),
            }
        }
        self.indexes.retain(|i| i.read_capacity.is_some() || i.max_read_request_units.is_some());
    }
}

/// A replica's own settings from before it took its first override: what
/// an override taken away gives back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaBase {
    #[serde(default)]
    pub read_capacity: Option<u64>,
    #[serde(default)]
    pub max_read_request_units: Option<i64>,
    pub table_class: String,
    /// Global secondary indexes' read capacity, by name.
    #[serde(default)]
    pub indexes: Vec<(String, Option<u64>)>,
}

/// A replica's override of one global secondary index's read settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexOverride {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_capacity: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_request_units: Option<i64>,
}

const REP_PREFIX: &[u8] = b"rep/";
const DELETED: u8 = 1;
const STAMP_VALUE_LEN: usize = 8 + 4 + 1;

/// Tombstones by time (`rept/<table id><stamp ms><item key>`, no value),
/// written with each tombstone so that [`Store::collect_tombstones`] reads
/// only those old enough to go.
const TOMBSTONE_PREFIX: &[u8] = b"rept/";

/// How long a tombstone is kept: the stream retention (24 hours), within
/// which a change reaches every region or never does (a region down for
/// longer misses the changes its peers' streams dropped), and an hour for
/// regions' clocks to disagree. After that no change older than the delete
/// can still arrive, so none needs the tombstone to lose.
pub const TOMBSTONE_RETENTION_MS: u64 = 25 * 3600 * 1000;

/// The stamp time before which a tombstone may be gone: the cutoff of
/// [`Store::collect_tombstones`], and the age past which
/// [`Store::apply_replicated`] supersedes a change to an item with no stamp.
pub fn tombstone_horizon() -> u64 {
    now_ms().saturating_sub(TOMBSTONE_RETENTION_MS)
}

/// Stamps removed per batch when a table goes.
const COLLECT_BATCH: usize = 10_000;

/// Tombstone index entries looked at per batch of a collection, which holds
/// the write lock: about a millisecond of point reads.
const TOMBSTONE_BATCH: usize = 1_000;

fn stamp_key(table: u64, key: &[u8]) -> Vec<u8> {
    [REP_PREFIX, &table.to_be_bytes(), key].concat()
}

fn tombstone_key(table: u64, ms: u64, key: &[u8]) -> Vec<u8> {
    [TOMBSTONE_PREFIX, &table.to_be_bytes(), &ms.to_be_bytes(), key].concat()
}

pub(crate) fn stamp_value(stamp: Stamp, deleted: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(STAMP_VALUE_LEN);
    v.extend_from_slice(&stamp.ms.to_be_bytes());
    v.extend_from_slice(&stamp.node.to_be_bytes());
    v.push(if deleted { DELETED } else { 0 });
    v
}

fn parse_stamp(v: &[u8]) -> Result<(Stamp, bool)> {
    if v.len() != STAMP_VALUE_LEN {
        return Err(StoreError::Corrupt("replication stamp".into()));
    }
    let ms = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
    let node = u32::from_be_bytes(v[8..12].try_into().expect("4 bytes"));
    Ok((Stamp { ms, node }, v[12] & DELETED != 0))
}

/// A change another region made, to apply here.
#[derive(Debug, Clone)]
pub struct ReplicatedChange {
    /// The item's key attributes.
    pub keys: Item,
    /// The item as written, or `None` for a delete.
    pub item: Option<Item>,
    pub stamp: Stamp,
}

/// One entry of a [`Store::stamped_page`]: an item's key attributes, the
/// item (none for a delete), and its stamp.
#[derive(Debug, Clone)]
pub struct StampedEntry {
    pub keys: Item,
    pub item: Option<Item>,
    pub stamp: Stamp,
}

/// Where a [`Store::stamped_page`] stops.
#[derive(Debug, Clone, Copy)]
pub struct PageCaps {
    /// Items (a read's Limit).
    pub limit: usize,
    /// Bytes of items (a page's 1 MB).
    pub max_bytes: usize,
    /// Deletes: they cost the reader a lookup each.
    pub max_deletes: usize,
    /// Entries of both kinds: the answer's size, however small the items.
    pub max_entries: usize,
}

/// What [`Store::apply_replicated`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Changes newer than the item's stamp, now written.
    pub applied: usize,
    /// Changes older than (or the same as) the item's stamp, dropped.
    pub superseded: usize,
}

impl Store {
    /// This store's node number (its region's, [`region_node`]).
    pub fn node(&self) -> u32 {
        self.inner().node
    }

    /// The stamp of an item of a global table, if it has one, and whether
    /// it marks a delete.
    pub(crate) fn read_stamp(&self, table: u64, key: &[u8]) -> Result<Option<(Stamp, bool)>> {
        let Some(sys) = self.inner().sys.get() else { return Ok(None) };
        let k = stamp_key(table, key);
        match sys.get(&k)? {
            Some(v) => Ok(Some(parse_stamp(&open_in(self.inner().cipher.as_ref(), sys, &k, v)?)?)),
            None => Ok(None),
        }
    }

    /// The stamp a local write to an item now gets: the time, but past the
    /// item's current stamp (`stamped`, within one commit) or stored one.
    pub(crate) fn next_stamp(
        &self,
        table: u64,
        key: &[u8],
        stamped: &HashMap<(u64, Vec<u8>), Stamp>,
        now: u64,
    ) -> Result<Stamp> {
        let prev = match stamped.get(&(table, key.to_vec())) {
            Some(s) => Some(*s),
            None => self.read_stamp(table, key)?.map(|(s, _)| s),
        };
        let ms = prev.map_or(now, |p| now.max(p.ms.saturating_add(1)));
        Ok(Stamp { ms, node: self.inner().node })
    }

    /// The system entries recording an item's stamp: the stamp, and for a
    /// tombstone its entry by time.
    pub(crate) fn stamp_entries(
        table: u64,
        key: &[u8],
        stamp: Stamp,
        deleted: bool,
    ) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        let by_time = deleted.then(|| (tombstone_key(table, stamp.ms, key), Vec::new()));
        std::iter::once((stamp_key(table, key), stamp_value(stamp, deleted))).chain(by_time)
    }

    /// Removes the tombstones stamped before `before_ms` (epoch ms) of every
    /// table, and the index of those that no longer are (the item was
    /// written again). Run every so often with [`tombstone_horizon`], by a
    /// background job holding the store ([`Store::hold`]): it stops between
    /// batches once the store closes. Returns how many tombstones went.
    pub fn collect_tombstones(&self, before_ms: u64) -> Result<usize> {
        let Some(sys) = self.inner().sys.get() else { return Ok(0) };
        // The end of the index: the prefix with its last byte one past.
        let end = [&TOMBSTONE_PREFIX[..TOMBSTONE_PREFIX.len() - 1], b"0"].concat();
        let mut from = TOMBSTONE_PREFIX.to_vec();
        let mut collected = 0;
        loop {
            if self.closing() {
                return Ok(collected);
            }
            self.check_writable()?;
            // A batch at a time under the write lock: a write to one of
            // these items in between would otherwise have its new stamp
            // removed.
            let guard = crate::db::lock_pub(&self.inner().write);
            let mut batch = self.inner().db.batch();
            let mut next = None;
            for kv in sys.range(from.clone()..end.clone()) {
                let k = kv.key()?;
                let Some(rest) = k.strip_prefix(TOMBSTONE_PREFIX).filter(|r| r.len() >= 16) else {
                    return Err(StoreError::Corrupt("tombstone index entry".into()));
                };
                let table = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
                let ms = u64::from_be_bytes(rest[8..16].try_into().expect("8 bytes"));
                if ms >= before_ms {
                    // A table's entries are in time order: the rest of this
                    // one stays; on to the next table's.
                    next = table.checked_add(1).map(|t| [TOMBSTONE_PREFIX, &t.to_be_bytes()].concat());
                    break;
                }
                let item_key = &rest[16..];
                if let Some((stamp, true)) = self.read_stamp(table, item_key)?
                    && stamp.ms == ms
                {
                    batch.remove(sys, stamp_key(table, item_key));
                    collected += 1;
                }
                batch.remove(sys, k.to_vec());
                if batch.len() >= TOMBSTONE_BATCH {
                    // Removed by this batch: the next one starts past it.
                    next = Some(k.to_vec());
                    break;
                }
            }
            let committed = batch.commit();
            drop(guard);
            self.poison_on_err(committed)?;
            self.seal_full_memtables();
            match next {
                Some(n) => from = n,
                None => return Ok(collected),
            }
        }
    }

    /// Applies changes another region made to `table`, each only if its
    /// stamp is newer than the item's, in one atomic commit. Their stream
    /// records are marked as replicated. Conditions, transactions and
    /// capacity are the origin's business: none is checked here.
    ///
    /// A change to an item with no stamp here that is older than a
    /// tombstone is kept ([`TOMBSTONE_RETENTION_MS`]) is superseded too: the
    /// item's tombstone may have been collected (a region down for longer
    /// than its stream keeps records sends such changes when it returns).
    /// Checked under the write lock, so no collection runs in between.
    pub fn apply_replicated(&self, table: &str, changes: Vec<ReplicatedChange>) -> Result<Applied> {
        self.apply_replicated_since(table, changes, tombstone_horizon())
    }

    /// [`Store::apply_replicated`] for a new replica's fill: each item's
    /// current version, whatever its age.
    pub fn apply_fill(&self, table: &str, changes: Vec<ReplicatedChange>) -> Result<Applied> {
        self.apply_replicated_since(table, changes, 0)
    }

    /// Applies `changes`; one to an item without a stamp here stamped
    /// before `horizon_ms` is superseded.
    fn apply_replicated_since(&self, table: &str, changes: Vec<ReplicatedChange>, horizon_ms: u64) -> Result<Applied> {
        let mut applied = Applied::default();
        self.atomically(Vec::new(), |unit| {
            // Read under the write lock: the definition the commit uses.
            let handle = self.table(table)?;
            if handle.def.replicas.is_empty() {
                return Err(StoreError::validation(messages::global_table::not_global_table(table)));
            }
            // The newest stamp staged per item in this commit.
            let mut latest: HashMap<Vec<u8>, Stamp> = HashMap::new();
            for c in changes {
                let key = item_key(&handle.def.key_schema, &c.keys);
                let current = match latest.get(&key) {
                    Some(s) => Some(*s),
                    None => self.read_stamp(handle.def.id, &key)?.map(|(s, _)| s),
                };
                if current.map_or(c.stamp.ms < horizon_ms, |s| s >= c.stamp) {
                    applied.superseded += 1;
                    continue;
                }
                handle.def.check_key_attrs(&c.keys, true)?;
                if let Some(item) = &c.item {
                    handle.def.check_key_attrs(item, false)?;
                    handle.def.check_index_attrs(item)?;
                    if item_key(&handle.def.key_schema, item) != key {
                        return Err(StoreError::validation(messages::global_table::CHANGE_KEY_MISMATCH));
                    }
                }
                latest.insert(key.clone(), c.stamp);
                applied.applied += 1;
                self.stage_replicated(unit, &handle, key, c)?;
            }
            Ok(())
        })?;
        Ok(applied)
    }

    fn stage_replicated(
        &self,
        unit: &mut Unit,
        handle: &Arc<TableHandle>,
        key: Vec<u8>,
        c: ReplicatedChange,
    ) -> Result<()> {
        let (old, old_raw) = match unit.latest(handle.def.id, &key) {
            Some(ch) => (ch.new.clone(), ch.new_raw.clone()),
            None => {
                let raw = match handle.items.get(&key)? {
                    Some(v) => Some(open_in(self.inner().cipher.as_ref(), &handle.items, &key, v)?),
                    None => None,
                };
                (raw.as_deref().map(decode_stored).transpose()?, raw)
            }
        };
        if old.is_none() && c.item.is_none() {
            // A delete of an item this region does not have: nothing
            // changes, but its tombstone is kept in the same commit.
            let slot = unit.tombstones.entry((handle.def.id, key)).or_insert(c.stamp);
            *slot = (*slot).max(c.stamp);
            return Ok(());
        }
        let new_raw = c.item.as_ref().map(encode_item_value);
        let repeat = unit.latest(handle.def.id, &key).is_some();
        unit.repeats |= repeat;
        unit.push(Change {
            handle: handle.clone(),
            key,
            old,
            old_raw,
            new: c.item,
            new_raw,
            origin: Origin { replicated: Some(c.stamp), ..Origin::default() },
        });
        Ok(())
    }

    /// A page of a global table's items with their stamps, read from one
    /// snapshot, after `after` (a raw item key) in key order: what a new
    /// replica is filled with. Items written before the table became global
    /// have no stamp and get the zero time (any later write wins).
    #[allow(clippy::type_complexity)]
    pub fn stamped_items(
        &self,
        table: &str,
        after: Option<&[u8]>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<(Item, Stamp)>, Option<Vec<u8>>)> {
        use fjall::Readable;
        let handle = self.table(table)?;
        let snap = self.inner().db.snapshot();
        let cipher = self.inner().cipher.as_ref();
        let range = match after {
            Some(a) => snap.range(&handle.items, (std::ops::Bound::Excluded(a.to_vec()), std::ops::Bound::Unbounded)),
            None => snap.range::<Vec<u8>, _>(&handle.items, ..),
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for kv in range {
            let (k, v) = kv.into_inner()?;
            let item = decode_stored(&open_in(cipher, &handle.items, &k, v)?)?;
            let stamp = match self.inner().sys.get() {
                Some(sys) => {
                    let sk = stamp_key(handle.def.id, &k);
                    match snap.get(sys, &sk)? {
                        Some(v) => parse_stamp(&open_in(cipher, sys, &sk, v)?)?.0,
                        None => Stamp::default(),
                    }
                }
                None => Stamp::default(),
            };
            bytes += crate::value::item_size(&item);
            out.push((item, stamp));
            if out.len() >= limit || bytes >= max_bytes {
                return Ok((out, Some(k.to_vec())));
            }
        }
        Ok((out, None))
    }

    /// The stamped items and deletes of a global table in `range` of its
    /// physical keys, walked in order (or reverse) past `after` (an
    /// ExclusiveStartKey) from one snapshot, optionally in one segment of
    /// a parallel scan: what a strongly consistent Query or Scan in another
    /// region compares with its own. It stops once it holds `limit` items
    /// or `max_bytes` of them, or `max_deletes` deletes, and then returns
    /// the key of the last entry it read: the reader reads no further.
    /// Items never written since the table became global (no stamp, or the
    /// zero stamp of a copy filled in) are not returned: every region holds
    /// them as they are.
    #[allow(clippy::too_many_arguments)]
    pub fn stamped_page(
        &self,
        table: &str,
        range: crate::query::KeyRange,
        forward: bool,
        after: Option<&Item>,
        segment: Option<(u32, u32)>,
        caps: PageCaps,
    ) -> Result<(Vec<StampedEntry>, Option<Item>)> {
        use fjall::Readable;
        use std::ops::Bound;
        let handle = self.table(table)?;
        let source = crate::query::Source::Table;
        let (mut lo, mut hi) = range;
        if let Some(start) = after {
            // Past the start key, and still within the range.
            let k = crate::query::start_key_bytes(&handle, &source, start)?;
            if forward {
                if !matches!(&lo, Bound::Included(l) | Bound::Excluded(l) if *l > k) {
                    lo = Bound::Excluded(k);
                }
            } else if !matches!(&hi, Bound::Included(h) | Bound::Excluded(h) if *h < k) {
                hi = Bound::Excluded(k);
            }
        }
        let Some(sys) = self.inner().sys.get() else { return Ok((Vec::new(), None)) };
        let prefix = stamp_key(handle.def.id, &[]);
        let with = |b: Bound<Vec<u8>>, low: bool| match b {
            Bound::Included(k) => Bound::Included([&prefix[..], &k].concat()),
            Bound::Excluded(k) => Bound::Excluded([&prefix[..], &k].concat()),
            Bound::Unbounded if low => Bound::Included(prefix.clone()),
            Bound::Unbounded => match crate::key::prefix_successor(&prefix) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        };
        let (lo, hi) = (with(lo, true), with(hi, false));
        if crate::query::is_empty(&lo, &hi) {
            return Ok((Vec::new(), None));
        }
        let snap = self.inner().db.snapshot();
        let cipher = self.inner().cipher.as_ref();
        let iter = snap.range(sys, (lo, hi));
        let iter: Box<dyn Iterator<Item = fjall::Guard>> = if forward { Box::new(iter) } else { Box::new(iter.rev()) };
        let (mut out, mut items, mut bytes, mut deletes) = (Vec::new(), 0, 0, 0);
        for guard in iter {
            let (k, v) = guard.into_inner()?;
            let raw = &k[prefix.len()..];
            if let Some(seg) = segment
                && !crate::query::in_segment(&handle, &source, raw, seg)
            {
                continue;
            }
            let (stamp, deleted) = parse_stamp(&open_in(cipher, sys, &k, v)?)?;
            // A copy filled in from the region that had it before the table
            // became global: every region holds it, or something newer.
            if stamp == Stamp::default() {
                continue;
            }
            let Some(keys) = crate::key::item_key_attrs(&handle.def.key_schema, raw) else {
                return Err(StoreError::Corrupt("replication stamp key".into()));
            };
            let item = if deleted {
                deletes += 1;
                None
            } else {
                // A stamp without its item is a write this snapshot does
                // not hold whole; the reader's own copy stands.
                let Some(v) = snap.get(&handle.items, raw)? else { continue };
                let item = decode_stored(&open_in(cipher, &handle.items, raw, v)?)?;
                items += 1;
                bytes += crate::value::item_size(&item);
                Some(item)
            };
            out.push(StampedEntry { keys, item, stamp });
            if items >= caps.limit
                || bytes >= caps.max_bytes
                || deletes >= caps.max_deletes
                || out.len() >= caps.max_entries
            {
                let cut = out.last().map(|e: &StampedEntry| e.keys.clone());
                return Ok((out, cut));
            }
        }
        Ok((out, None))
    }

    /// An item of a global table and its stamp (with whether it marks a
    /// delete), read from one snapshot: what a strongly consistent read in
    /// another region compares with its own.
    #[allow(clippy::type_complexity)]
    pub fn item_with_stamp(&self, table: &str, keys: &Item) -> Result<(Option<Item>, Option<(Stamp, bool)>)> {
        use fjall::Readable;
        let handle = self.table(table)?;
        handle.def.check_key_attrs(keys, true)?;
        let key = item_key(&handle.def.key_schema, keys);
        let snap = self.inner().db.snapshot();
        let cipher = self.inner().cipher.as_ref();
        let item = match snap.get(&handle.items, &key)? {
            Some(v) => Some(decode_stored(&open_in(cipher, &handle.items, &key, v)?)?),
            None => None,
        };
        let stamp = match self.inner().sys.get() {
            Some(sys) => {
                let sk = stamp_key(handle.def.id, &key);
                match snap.get(sys, &sk)? {
                    Some(v) => Some(parse_stamp(&open_in(cipher, sys, &sk, v)?)?),
                    None => None,
                }
            }
            None => None,
        };
        Ok((item, stamp))
    }

    /// Sets the replica set of a table (empty: not global). A table with
    /// replicas needs a `NEW_AND_OLD_IMAGES` stream, which the replicator
    /// reads; the caller sees to it.
    pub fn set_replicas(&self, name: &str, replicas: Vec<ReplicaDef>) -> Result<Arc<TableHandle>> {
        self.alter_table(name, |def| {
            def.replicas = replicas;
            Ok(())
        })
    }

    /// Removes the stamps of a deleted table's items (and its tombstones'
    /// index), a batch at a time.
    pub(crate) fn clear_stamps(&self, table: u64) -> Result<()> {
        let Some(sys) = self.inner().sys.get() else { return Ok(()) };
        let mut batch = self.inner().db.batch();
        for prefix in [REP_PREFIX, TOMBSTONE_PREFIX] {
            for kv in sys.prefix([prefix, &table.to_be_bytes()].concat()) {
                batch.remove(sys, kv.key()?);
                if batch.len() >= COLLECT_BATCH {
                    std::mem::replace(&mut batch, self.inner().db.batch()).commit()?;
                    self.seal_full_memtables();
                }
            }
        }
        batch.commit()?;
        Ok(())
    }
}

/// The time a stamp for a write made now would carry.
pub fn now_stamp_ms() -> u64 {
    now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CreateTableInput;
    use crate::stream::{StartingPosition, StreamRecord};
    use crate::table::StreamViewType;
    use crate::value::{AttrType, Value};
    use crate::{Decision, StoreConfig, StreamConfig, WriteOp};

    #[test]
    fn overrides_merge_by_member_and_the_later_supersedes_everywhere() {
        let index = |read| IndexOverride { name: "g".into(), read_capacity: read, max_read_request_units: None };
        let mut o = ReplicaOverrides { read_capacity: Some(7), updated_ms: 10, ..Default::default() };
        let update = ReplicaOverrides {
            table_class: Some("STANDARD_INFREQUENT_ACCESS".into()),
            table_class_ms: 20,
            updated_ms: 20,
            indexes: vec![index(Some(4))],
            ..Default::default()
        };
        o.merge(&update);
        assert_eq!(o.read_capacity, Some(7), "a member not named is kept");
        assert_eq!(o.table_class.as_deref(), Some("STANDARD_INFREQUENT_ACCESS"));
        assert_eq!((o.updated_ms, o.indexes.clone()), (20, vec![index(Some(4))]));
        // Later wins; at the same millisecond, one of the two in every region.
        let older = ReplicaOverrides { updated_ms: 15, ..Default::default() };
        assert!(!older.supersedes(&o) && o.supersedes(&older));
        let twin = ReplicaOverrides { read_capacity: Some(8), ..o.clone() };
        assert!(twin.supersedes(&o) != o.supersedes(&twin));
        assert!(o.supersedes(&o), "the same again is taken (it changes nothing)");
        // No override left still keeps its time, so an older one is refused.
        let cleared = ReplicaOverrides { updated_ms: 30, ..Default::default() };
        assert!(cleared.is_empty() && !cleared.is_unset());
        let json = serde_json::to_string(&ReplicaDef { overrides: cleared, ..eu_replica() }).unwrap();
        let back: ReplicaDef = serde_json::from_str(&json).unwrap();
        assert_eq!(back.overrides.updated_ms, 30);
        // A definition stored before overrides existed still reads.
        let old = r#"{"region":"eu-west-1","status":"ACTIVE","created_ms":0}"#;
        assert_eq!(serde_json::from_str::<ReplicaDef>(old).unwrap(), eu_replica());
    }

    /// An ACTIVE replica in eu-west-1.
    fn eu_replica() -> ReplicaDef {
        ReplicaDef::new("eu-west-1", "ACTIVE", 0)
    }

    fn item(pk: &str, v: &str) -> Item {
        [("pk".to_string(), Value::S(pk.into())), ("v".to_string(), Value::S(v.into()))].into()
    }

    fn keys(pk: &str) -> Item {
        [("pk".to_string(), Value::S(pk.into()))].into()
    }

    fn global(region: &str) -> Store {
        global_with(StoreConfig { region: region.into(), ..Default::default() })
    }

    fn global_with(config: StoreConfig) -> Store {
        let store = Store::open(config).expect("open");
        let mut input = CreateTableInput::for_test("glob", "pk", AttrType::S);
        input.stream = Some(StreamViewType::NewAndOldImages);
        store.create_table(input).expect("create");
        let other = eu_replica();
        store.set_replicas("glob", vec![other]).expect("replicas");
        store
    }

    fn put(store: &Store, it: Item) {
        let op = WriteOp { table: "glob".into(), key: keys("a"), decide: Box::new(move |_| Ok(Decision::Put(it))) };
        store.write_many(vec![op], false).expect("put");
    }

    fn records(store: &Store) -> Vec<StreamRecord> {
        let meta = store.list_streams().pop().expect("the stream");
        let mut out = Vec::new();
        for sh in &meta.shards {
            let pos = store.shard_position(meta.num, &sh.id, StartingPosition::TrimHorizon).expect("position");
            out.extend(store.read_shard(meta.num, &sh.id, pos, 1000, usize::MAX).expect("read").records);
        }
        out.sort_by_key(|r| r.seq);
        out
    }

    fn v(store: &Store) -> Option<Value> {
        let t = store.table("glob").expect("table");
        store.get_item(&t, &keys("a")).expect("get").and_then(|i| i.get("v").cloned())
    }

    #[test]
    fn tombstones_go_after_their_retention() {
        let store = global("us-east-1");
        let eu = region_node("eu-west-1");
        let t = store.table("glob").expect("table");
        let key_of = |pk: &str| item_key(&t.def.key_schema, &keys(pk));
        let stamp = |ms| Stamp { ms, node: eu };
        let del = |pk: &str, ms| ReplicatedChange { keys: keys(pk), item: None, stamp: stamp(ms) };
        // b deleted at 1000; c deleted at 2000 and written again at 2500; d
        // deleted at 5000.
        store.apply_replicated_since("glob", vec![del("b", 1000), del("c", 2000), del("d", 5000)], 0).expect("apply");
        let back = ReplicatedChange { keys: keys("c"), item: Some(item("c", "back")), stamp: stamp(2500) };
        store.apply_replicated_since("glob", vec![back], 0).expect("apply");
        // a written and deleted here, now.
        put(&store, item("a", "x"));
        let op = WriteOp { table: "glob".into(), key: keys("a"), decide: Box::new(|_| Ok(Decision::Delete)) };
        store.write_many(vec![op], false).expect("delete");
        let (a_stamp, a_deleted) = store.read_stamp(t.def.id, &key_of("a")).expect("stamp").expect("a stamp");
        assert!(a_deleted);
        // A second table, made later (its entries sort after glob's), with
        // more old tombstones than one batch of a collection takes.
        let mut input = CreateTableInput::for_test("glob2", "pk", AttrType::S);
        input.stream = Some(StreamViewType::NewAndOldImages);
        store.create_table(input).expect("create");
        let other = eu_replica();
        store.set_replicas("glob2", vec![other]).expect("replicas");
        let many: Vec<_> = (0..1500).map(|i| del(&format!("k{i}"), 100 + i)).collect();
        assert_eq!(store.apply_replicated_since("glob2", many, 0).expect("apply").applied, 1500);
        assert_eq!(store.sys_scan(TOMBSTONE_PREFIX).expect("scan").len(), 1504);

        // Before 3000: b's tombstone goes (glob's newer ones stay, and the
        // collection goes on to glob2's, all of which go); c's index entry
        // goes too, its live stamp stays.
        assert_eq!(store.collect_tombstones(3000).expect("collect"), 1 + 1500);
        assert_eq!(store.read_stamp(t.def.id, &key_of("b")).expect("stamp"), None);
        assert_eq!(store.read_stamp(t.def.id, &key_of("c")).expect("stamp"), Some((stamp(2500), false)));
        assert_eq!(store.read_stamp(t.def.id, &key_of("d")).expect("stamp"), Some((stamp(5000), true)));
        assert_eq!(store.sys_scan(TOMBSTONE_PREFIX).expect("scan").len(), 2);
        // A kept tombstone still wins over an older write; a collected one
        // no longer stands in the way.
        let late_d = ReplicatedChange { keys: keys("d"), item: Some(item("d", "late")), stamp: stamp(4000) };
        assert_eq!(store.apply_replicated_since("glob", vec![late_d], 0).expect("apply").superseded, 1);
        let late_b = ReplicatedChange { keys: keys("b"), item: Some(item("b", "late")), stamp: stamp(900) };
        assert_eq!(store.apply_replicated_since("glob", vec![late_b], 0).expect("apply").applied, 1);

        // Past everything: d's and a's go, and the index is empty.
        assert_eq!(store.collect_tombstones(a_stamp.ms + 1).expect("collect"), 2);
        assert_eq!(store.read_stamp(t.def.id, &key_of("a")).expect("stamp"), None);
        assert!(store.sys_scan(TOMBSTONE_PREFIX).expect("scan").is_empty());
        assert_eq!(store.collect_tombstones(u64::MAX).expect("collect"), 0);

        // Past the horizon a change to an item with no stamp here is
        // superseded (its tombstone may be gone); one to an item with a
        // stamp is compared with it as ever.
        let old_a = ReplicatedChange { keys: keys("a"), item: Some(item("a", "old")), stamp: stamp(6000) };
        assert_eq!(store.apply_replicated_since("glob", vec![old_a], 10_000).expect("apply").superseded, 1);
        let newer_c = ReplicatedChange { keys: keys("c"), item: Some(item("c", "newer")), stamp: stamp(6000) };
        assert_eq!(store.apply_replicated_since("glob", vec![newer_c], 10_000).expect("apply").applied, 1);
        // A fill is an item's current version, whatever its age.
        let fill_a = ReplicatedChange { keys: keys("a"), item: Some(item("a", "fill")), stamp: stamp(6000) };
        assert_eq!(store.apply_fill("glob", vec![fill_a]).expect("fill").applied, 1);
    }

    /// A replicated write's record carries no `userIdentity`, as on AWS,
    /// unless the store marks replicated writes. That is decided when a
    /// record is read, so records stored before the setting changed follow
    /// it.
    #[test]
    fn replicated_writes_are_marked_only_when_the_store_marks_them() {
        assert!(!StoreConfig::default().streams.mark_replicated_writes, "off by default");
        let dir = tempfile::tempdir().expect("dir");
        let config = |mark| StoreConfig {
            path: Some(dir.path().to_path_buf()),
            region: "us-east-1".into(),
            streams: StreamConfig { mark_replicated_writes: mark, ..StreamConfig::default() },
            ..Default::default()
        };
        // The `userIdentity` of each record, oldest first, as GetRecords
        // writes it with the store's setting.
        let identities = |store: &Store| -> Vec<serde_json::Value> {
            let mark = store.stream_config().mark_replicated_writes;
            records(store)
                .iter()
                .map(|r| r.to_json(StreamViewType::NewAndOldImages, "us-east-1", false, mark)["userIdentity"].clone())
                .collect()
        };
        let store = global_with(config(false));
        put(&store, item("a", "local"));
        let local = records(&store).pop().expect("a record").stamp.expect("a stamp");
        let newer = Stamp { ms: local.ms + 10, node: region_node("eu-west-1") };
        let change = ReplicatedChange { keys: keys("a"), item: Some(item("a", "remote")), stamp: newer };
        assert_eq!(store.apply_replicated_since("glob", vec![change], 0).expect("apply").applied, 1);
        assert_eq!(records(&store).pop().expect("a record").origin.replicated, Some(newer));
        assert_eq!(identities(&store), vec![serde_json::Value::Null; 2]);
        drop(store);

        // Reopened marking replicated writes: the same records, the
        // replicated one the replication service's, the local one no one's.
        let store = Store::open(config(true)).expect("reopen");
        let marked = serde_json::json!({"Type": "Service", "PrincipalId": "replication.dynamodb.amazonaws.com"});
        assert_eq!(identities(&store), vec![serde_json::Value::Null, marked]);
        drop(store);
        let store = Store::open(config(false)).expect("reopen");
        assert_eq!(identities(&store), vec![serde_json::Value::Null; 2]);
    }

    #[test]
    fn the_later_stamp_wins_and_deletes_leave_tombstones() {
        let store = global("us-east-1");
        put(&store, item("a", "local"));
        let local = records(&store).pop().expect("a record").stamp.expect("a stamp");
        assert_eq!(local.node, region_node("us-east-1"));
        let eu = region_node("eu-west-1");

        // Older than the local write: dropped; newer: applied.
        let older =
            ReplicatedChange { keys: keys("a"), item: Some(item("a", "old")), stamp: Stamp { ms: 1, node: eu } };
        assert_eq!(store.apply_replicated_since("glob", vec![older.clone()], 0).expect("apply").superseded, 1);
        assert_eq!(v(&store), Some(Value::S("local".into())));
        let newer = Stamp { ms: local.ms + 10, node: eu };
        let change = ReplicatedChange { keys: keys("a"), item: Some(item("a", "remote")), stamp: newer };
        assert_eq!(store.apply_replicated_since("glob", vec![change.clone()], 0).expect("apply").applied, 1);
        assert_eq!(v(&store), Some(Value::S("remote".into())));
        // Applying it again changes nothing (a redelivery).
        assert_eq!(store.apply_replicated_since("glob", vec![change], 0).expect("apply").superseded, 1);
        let last = records(&store).pop().expect("a record");
        assert_eq!(last.origin.replicated, Some(newer));

        // A local write after it is stamped past it, whatever the clock says.
        put(&store, item("a", "after"));
        let after = records(&store).pop().expect("a record");
        assert!(after.stamp.expect("stamp") > newer && after.origin.replicated.is_none());

        // A replicated delete of an absent item keeps a tombstone that an
        // older put loses to; a newer one wins.
        let gone = Stamp { ms: u64::MAX / 4, node: eu };
        let del = ReplicatedChange { keys: keys("b"), item: None, stamp: gone };
        assert_eq!(store.apply_replicated_since("glob", vec![del], 0).expect("apply").applied, 1);
        let t = store.table("glob").expect("table");
        let id = t.def.id;
        let key = item_key(&t.def.key_schema, &keys("b"));
        assert_eq!(store.read_stamp(id, &key).expect("stamp"), Some((gone, true)));
        let late = ReplicatedChange { keys: keys("b"), item: Some(item("b", "x")), stamp: Stamp { ms: 5, node: eu } };
        assert_eq!(store.apply_replicated_since("glob", vec![late], 0).expect("apply").superseded, 1);
        assert_eq!(store.get_item(&t, &keys("b")).expect("get"), None);

        // The same time from two regions: the greater node wins everywhere.
        let (lo, hi) =
            if eu < region_node("us-east-1") { (eu, region_node("us-east-1")) } else { (region_node("us-east-1"), eu) };
        let at = u64::MAX / 2;
        let c = |n, v| ReplicatedChange { keys: keys("c"), item: Some(item("c", v)), stamp: Stamp { ms: at, node: n } };
        store.apply_replicated_since("glob", vec![c(hi, "hi"), c(lo, "lo")], 0).expect("apply");
        let got = store.get_item(&t, &keys("c")).expect("get").and_then(|i| i.get("v").cloned());
        assert_eq!(got, Some(Value::S("hi".into())));

        // One batch deleting an item twice (the second finds it gone):
        // the later stamp is the one kept, whatever the order in the batch.
        let st = |ms| Stamp { ms, node: eu };
        let ch = |k: &str, it: Option<Item>, ms| ReplicatedChange { keys: keys(k), item: it, stamp: st(ms) };
        store.apply_replicated_since("glob", vec![ch("d", Some(item("d", "x")), 10)], 0).expect("apply");
        store.apply_replicated_since("glob", vec![ch("d", None, 11), ch("d", None, 13)], 0).expect("apply");
        let kd = item_key(&t.def.key_schema, &keys("d"));
        assert_eq!(store.read_stamp(id, &kd).expect("stamp"), Some((st(13), true)));
        // A tombstone then a put of the same item: the put's stamp.
        store
            .apply_replicated_since("glob", vec![ch("e", None, 20), ch("e", Some(item("e", "y")), 21)], 0)
            .expect("apply");
        let ke = item_key(&t.def.key_schema, &keys("e"));
        assert_eq!(store.read_stamp(id, &ke).expect("stamp"), Some((st(21), false)));
        store.apply_replicated_since("glob", vec![ch("d", Some(item("d", "late")), 12)], 0).expect("apply");
        assert_eq!(store.get_item(&t, &keys("d")).expect("get"), None, "older than the second delete");

        // The snapshot a new replica is filled from carries the stamps.
        let (page, next) = store.stamped_items("glob", None, 10, usize::MAX).expect("page");
        assert_eq!(next, None);
        assert_eq!(page.len(), 3);
        assert!(page.iter().any(|(i, s)| i.get("v") == Some(&Value::S("hi".into())) && s.ms == at));
    }
}
