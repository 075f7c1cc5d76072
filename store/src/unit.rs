//! A unit of work: the changes of one or more writes, staged against the
//! committed items and each other, committed together by
//! [`Store::atomically`](crate::Store::atomically) or thrown away.

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::TableHandle;
use crate::stream::Origin;
use crate::value::Item;

/// Below this many changes a lookup scans them; above, it uses an index.
const SCAN_LIMIT: usize = 8;

/// Staged changes, in the order they were made. A later write to an item
/// sees the item as the earlier ones left it.
#[derive(Default)]
pub struct Unit {
    pub(crate) changes: Vec<Change>,
    /// (table id, item key) → index of the item's latest change, built once
    /// the unit outgrows [`SCAN_LIMIT`].
    latest: Option<HashMap<(u64, Vec<u8>), usize>>,
    /// Some item changes more than once.
    pub(crate) repeats: bool,
    /// Stamps of replicated deletes that changed no item (`replication.rs`):
    /// (table id, item key) → stamp, merged with the changes' stamps at the
    /// commit so that each item's stamp is written once, the greatest.
    pub(crate) tombstones: HashMap<(u64, Vec<u8>), crate::replication::Stamp>,
}

/// One change of one item.
pub(crate) struct Change {
    pub(crate) handle: Arc<TableHandle>,
    pub(crate) key: Vec<u8>,
    pub(crate) old: Option<Item>,
    /// `old` as stored: read from the store, it may start with a reference
    /// to its latest stream record (see [`crate::stream`]).
    pub(crate) old_raw: Option<fjall::Slice>,
    pub(crate) new: Option<Item>,
    pub(crate) new_raw: Option<fjall::Slice>,
    pub(crate) origin: Origin,
}

impl Unit {
    pub fn new() -> Unit {
        Unit::default()
    }

    /// How many item changes are staged.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.tombstones.is_empty()
    }

    /// The latest staged change of an item.
    pub(crate) fn latest(&mut self, table: u64, key: &[u8]) -> Option<&Change> {
        if self.changes.len() <= SCAN_LIMIT {
            return self.changes.iter().rev().find(|c| c.handle.def.id == table && c.key == key);
        }
        let changes = &self.changes;
        let index = self.latest.get_or_insert_with(|| {
            changes.iter().enumerate().map(|(i, c)| ((c.handle.def.id, c.key.clone()), i)).collect()
        });
        index.get(&(table, key.to_vec())).map(|&i| &self.changes[i])
    }

    /// The item of `table` whose encoded key is `key` as the staged changes
    /// leave it: `None` if no change touched it, `Some(None)` if they
    /// deleted it. (`key` is [`item_key`](crate::key::item_key) of the
    /// table's key schema.)
    pub fn staged(&mut self, table: &TableHandle, key: &[u8]) -> Option<Option<Item>> {
        self.latest(table.def.id, key).map(|c| c.new.clone())
    }

    /// Drops the changes staged after the first `len`.
    pub fn truncate(&mut self, len: usize) {
        if len < self.changes.len() {
            self.changes.truncate(len);
            self.latest = None;
        }
    }

    pub(crate) fn push(&mut self, change: Change) {
        if let Some(index) = &mut self.latest {
            index.insert((change.handle.def.id, change.key.clone()), self.changes.len());
        }
        self.changes.push(change);
    }
}
