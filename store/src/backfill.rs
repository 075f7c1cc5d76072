//! Online index creation, as DynamoDB's: `add_index` puts a global index in
//! the table's definition as `CREATING` with `Backfilling` and returns at
//! once; a background thread then fills it from the table's items and marks
//! it `ACTIVE` (its `backfill` goes from `Some(true)` to `Some(false)`).
//!
//! The index is in the definition from the start, so every write maintains
//! it as it maintains the others. The thread reads the items' keys without
//! a lock and fills the index a chunk of [`BACKFILL_CHUNK`] keys at a time
//! under the store's write lock, reading each item as it is then: a write
//! before the chunk is seen by it, a write after it maintains the entry, so
//! no entry is ever stale. Writers wait at most one chunk, never the whole
//! backfill. An index deleted meanwhile stops the thread; a restart starts
//! the backfill again from the first item (its entries are rewritten to
//! what they already are).

use std::ops::Bound;

use crate::cipher::{open_in, seal_in};
use crate::db::{Store, lock_pub as lock};
use crate::error::Result;
use crate::key::index_key;
use crate::stream::decode_stored;
use crate::table::{IndexDef, KeySchema, TableDef};
use crate::value::{Item, encode_item};
use crate::vector::{ALLOCATION_MS, MIN_BACKFILL_MS, VectorIndexDef};

/// Items filled per turn of the write lock: about a millisecond of work, so
/// a write waits at most that long for the backfill.
pub const BACKFILL_CHUNK: usize = 1_000;

impl Store {
    /// Starts filling index `index` of `table` in the background.
    pub(crate) fn spawn_backfill(&self, table: &str, index: &str) {
        let weak = self.downgrade();
        let (table, index) = (table.to_string(), index.to_string());
        // At normal priority: it holds the write lock a chunk at a time, and
        // a lowered holder would keep writers waiting longer.
        let spawned = std::thread::Builder::new().name("tidepool-backfill".into()).spawn(move || {
            let Some(store) = Store::from_weak(&weak) else { return };
            let _holding = store.hold();
            match store.backfill(&table, &index) {
                Ok(true) => tracing::info!(table, index, "index backfilled"),
                Ok(false) => {}
                // The index stays `CREATING` until the next open resumes it.
                Err(e) => tracing::error!(table, index, error = %e, "index backfill failed"),
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start an index backfill thread; it starts at the next open");
        }
    }

    /// At open: starts again every backfill a stop interrupted.
    pub(crate) fn resume_backfills(&self) {
        for t in self.all_tables() {
            let secondary = t.def.indexes.iter().filter(|i| i.backfill == Some(true)).map(|i| &i.name);
            let vector = t.def.vector_indexes.iter().filter(|v| v.backfill == Some(true)).map(|v| &v.name);
            for name in secondary.chain(vector) {
                tracing::info!(table = %t.def.name, index = %name, "resuming an index backfill");
                self.spawn_backfill(&t.def.name, name);
            }
        }
    }

    /// Fills index `index` of `table`, then marks it filled. `Ok(false)`
    /// when it stopped first: the store closing (it resumes at the next
    /// open), or the index or its table gone.
    fn backfill(&self, table: &str, index: &str) -> Result<bool> {
        let Ok(handle) = self.table(table) else { return Ok(false) };
        let Some(target) = Target::of(&handle.def, index, None) else { return Ok(false) };
        let id = target.id();
        // A vector index allocates its resources first (`vector.rs`).
        let added_ms = match target {
            Target::Vector(v) => v.added_ms,
            Target::Secondary(_) => None,
        };
        if let Some(added) = added_ms
            && !self.wait_until(table, handle.def.id, index, id, added + ALLOCATION_MS)
        {
            return Ok(false);
        }
        let cipher = self.inner().cipher.as_ref();
        let mut after: Option<Vec<u8>> = None;
        loop {
            if self.closing() {
                return Ok(false);
            }
            let start = match &after {
                Some(k) => Bound::Excluded(k.clone()),
                None => Bound::Unbounded,
            };
            let mut keys = Vec::with_capacity(BACKFILL_CHUNK);
            for kv in handle.items.range::<Vec<u8>, _>((start, Bound::Unbounded)).take(BACKFILL_CHUNK) {
                keys.push(kv.key()?.to_vec());
            }
            {
                let _guard = lock(&self.inner().write);
                // Nothing is written after a failed fsync, until a reopen.
                self.check_writable()?;
                // The table and index as they are now: a delete or a
                // re-creation under the same name stops the backfill.
                let Ok(now) = self.table(table) else { return Ok(false) };
                let Some(idx) = Target::of(&now.def, index, Some(id)) else { return Ok(false) };
                if now.def.id != handle.def.id {
                    return Ok(false);
                }
                let mut batch = self.inner().db.batch();
                for k in &keys {
                    let Some(v) = now.items.get(k)? else { continue };
                    let item = decode_stored(&open_in(cipher, &now.items, k, v)?)?;
                    if let Some((ik, value)) = idx.entry(&now.def.key_schema, &item) {
                        batch.insert(&now.index, ik.clone(), seal_in(cipher, &now.index, &ik, value.into()));
                    }
                }
                let r = batch.commit();
                self.poison_on_err(r)?;
            }
            self.seal_full_memtables();
            // A bulk writer: sealed memtables are flushed before more.
            self.wait_for_flushes();
            if keys.len() < BACKFILL_CHUNK {
                break;
            }
            after = keys.pop();
        }
        // A vector index's backfill phase lasts its least time.
        if let Some(added) = added_ms
            && !self.wait_until(table, handle.def.id, index, id, added + ALLOCATION_MS + MIN_BACKFILL_MS)
        {
            return Ok(false);
        }
        // Marked filled only on this table (not one made since under its
        // name, whose index may have the same id).
        let table_id = handle.def.id;
        let mut done = false;
        let marked = self.alter_table(table, |def| {
            if def.id != table_id {
                return Ok(());
            }
            if let Some(i) = def.indexes.iter_mut().find(|i| i.name == index && i.id == id) {
                i.backfill = Some(false);
                done = true;
            }
            if let Some(v) = def.vector_indexes.iter_mut().find(|v| v.name == index && v.id == id) {
                v.backfill = Some(false);
                done = true;
            }
            Ok(())
        });
        match marked {
            Ok(_) => Ok(done),
            Err(crate::error::StoreError::ResourceNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sleeps until `at_ms` (ms since the epoch). False when the store
    /// closes, or the index (`id` of table `table_id`) stops being filled,
    /// first.
    fn wait_until(&self, table: &str, table_id: u64, index: &str, id: u32, at_ms: u64) -> bool {
        loop {
            if self.closing() {
                return false;
            }
            match self.table(table) {
                Ok(t) if t.def.id == table_id && Target::of(&t.def, index, Some(id)).is_some() => {}
                _ => return false,
            }
            let now = crate::db::now_ms();
            if now >= at_ms {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis((at_ms - now).min(50)));
        }
    }
}

/// The index a backfill fills.
#[derive(Clone, Copy)]
enum Target<'a> {
    Secondary(&'a IndexDef),
    Vector(&'a VectorIndexDef),
}

impl<'a> Target<'a> {
    /// Index `name` of `def` while it is being filled (with id `id`, when
    /// given).
    fn of(def: &'a TableDef, name: &str, id: Option<u32>) -> Option<Target<'a>> {
        let filling = |i: u32, b: Option<bool>| b == Some(true) && id.is_none_or(|id| id == i);
        if let Some(i) = def.index(name).filter(|i| filling(i.id, i.backfill)) {
            return Some(Target::Secondary(i));
        }
        def.vector_index(name).filter(|v| filling(v.id, v.backfill)).map(Target::Vector)
    }

    fn id(self) -> u32 {
        match self {
            Target::Secondary(i) => i.id,
            Target::Vector(v) => v.id,
        }
    }

    /// The index entry of `item`: key and value, before sealing.
    fn entry(self, table_keys: &KeySchema, item: &Item) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            Target::Secondary(i) => {
                index_key(i, table_keys, item).map(|k| (k, encode_item(&i.project(item, table_keys))))
            }
            Target::Vector(v) => v.entry(table_keys, item),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::catalog::{CreateTableInput, IndexInput, KeyType};
    use crate::table::{IndexKind, Projection};
    use crate::value::{AttrType, Item, Value};
    use crate::{Decision, Store, StoreConfig, WriteOp};

    fn item(pk: u64, g: u64) -> Item {
        BTreeMap::from([
            ("pk".to_string(), Value::N(pk.to_string().parse().unwrap())),
            ("g".to_string(), Value::N(g.to_string().parse().unwrap())),
        ])
    }

    fn write(store: &Store, pk: u64, new: Option<Item>) {
        let key: Item = BTreeMap::from([("pk".to_string(), Value::N(pk.to_string().parse().unwrap()))]);
        let decide = move |_: Option<&Item>| Ok(new.map_or(Decision::Delete, Decision::Put));
        let op = WriteOp { table: "backfilled".into(), key, decide: Box::new(decide) };
        store.write_many(vec![op], false).expect("write");
    }

    /// The index is filled in the background; writes during it (changes,
    /// deletes) leave it holding exactly the table's items.
    #[test]
    fn an_index_is_filled_in_the_background_and_kept_right_under_writes() {
        let store = Store::open(StoreConfig::default()).expect("open");
        store.create_table(CreateTableInput::for_test("backfilled", "pk", AttrType::N)).expect("create");
        let n = 5 * super::BACKFILL_CHUNK as u64 + 7;
        for i in 0..n {
            write(&store, i, Some(item(i, i % 10)));
        }
        let input = IndexInput {
            name: "by-g".into(),
            kind: IndexKind::Global,
            key_schema: vec![("g".into(), KeyType::Hash)],
            projection: Projection::All,
            throughput: None,
            projection_fault: None,
        };
        store.add_index("backfilled", input, vec![("g".into(), AttrType::N)]).expect("add the index");
        assert_eq!(
            store.table("backfilled").unwrap().def.index("by-g").unwrap().backfill,
            Some(true),
            "it answers first"
        );
        for i in 0..n / 2 {
            write(&store, i, Some(item(i, 100 + i % 3)));
        }
        for i in n / 2..n / 2 + 50 {
            write(&store, i, None);
        }
        let started = std::time::Instant::now();
        while store.table("backfilled").unwrap().def.index("by-g").unwrap().backfill != Some(false) {
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "the backfill finished");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let t = store.table("backfilled").unwrap();
        let idx = t.def.index("by-g").unwrap();
        let mut want: Vec<Vec<u8>> = t
            .items
            .iter()
            .map(|kv| {
                let (_, v) = kv.into_inner().unwrap();
                let item = crate::stream::decode_stored(&v).unwrap();
                crate::key::index_key(idx, &t.def.key_schema, &item).unwrap()
            })
            .collect();
        want.sort();
        let mut have: Vec<Vec<u8>> =
            t.index.prefix(idx.id.to_be_bytes()).map(|kv| kv.key().unwrap().to_vec()).collect();
        have.sort();
        assert_eq!(have.len() as u64, n - 50);
        assert_eq!(have, want);
    }
}
