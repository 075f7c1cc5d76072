//! The sizes of secondary indexes: `ItemCount` and `IndexSizeBytes` of
//! each index in `DescribeTable`, and the indexes' storage in the cost
//! meter. The store counts them by walking the index, which takes seconds
//! at millions of entries, so a walk is bounded:
//!
//! - a table of at most [`EXACT_UP_TO_ITEMS`] items has its indexes walked
//!   on each request (exact, as DynamoDB Local answers);
//! - a larger table's indexes are walked in the background, at most once
//!   per [`REFRESH`] each, and requests answer the last count (DynamoDB
//!   itself updates these figures about every six hours); an index not yet
//!   counted reads 0, as a new index does on DynamoDB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidepool_store::table::IndexDef;
use tidepool_store::vector::VectorIndexDef;
use tidepool_store::{Store, TableHandle};

/// An index whose entries are counted: a secondary index or a vector one.
#[derive(Clone)]
pub enum Counting {
    Secondary(IndexDef),
    Vector(VectorIndexDef),
}

impl Counting {
    fn id(&self) -> u32 {
        match self {
            Counting::Secondary(i) => i.id,
            Counting::Vector(v) => v.id,
        }
    }

    fn count(&self, store: &Store, t: &TableHandle) -> tidepool_store::error::Result<(u64, u64)> {
        match self {
            Counting::Secondary(i) => store.index_stats(t, i),
            Counting::Vector(v) => store.vector_index_stats(t, v),
        }
    }
}

impl From<&IndexDef> for Counting {
    fn from(i: &IndexDef) -> Counting {
        Counting::Secondary(i.clone())
    }
}

impl From<&VectorIndexDef> for Counting {
    fn from(v: &VectorIndexDef) -> Counting {
        Counting::Vector(v.clone())
    }
}

/// The most items a table may hold for its indexes to be walked on each
/// request: about 50 ms of walking.
pub const EXACT_UP_TO_ITEMS: u64 = 100_000;
/// How old a larger table's index count may grow before a walk refreshes
/// it.
pub const REFRESH: Duration = Duration::from_secs(300);
/// Indexes whose counts are kept at most (a table deleted leaves its own
/// behind until this many are kept; then all but those being walked start
/// again).
const MAX_KEPT: usize = 10_000;
/// Background walks at once: a stale index past them waits for a later
/// request to start its walk.
const MAX_WALKERS: usize = 2;

#[derive(Clone, Copy)]
struct Counted {
    count: u64,
    bytes: u64,
    at: Option<Instant>,
    walking: bool,
}

/// The last counts of large tables' indexes, by table id and index id.
#[derive(Clone)]
pub struct IndexSizes {
    kept: Arc<Mutex<HashMap<(u64, u32), Counted>>>,
    exact_up_to: u64,
    walkers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for IndexSizes {
    fn default() -> Self {
        IndexSizes { kept: Default::default(), exact_up_to: EXACT_UP_TO_ITEMS, walkers: Default::default() }
    }
}

/// Ends a background walk's claim, even if the walk panicked.
struct Walking {
    sizes: IndexSizes,
    key: (u64, u32),
}

impl Drop for Walking {
    fn drop(&mut self) {
        self.sizes.walkers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(e) = self.sizes.lock().get_mut(&self.key) {
            e.walking = false;
        }
    }
}

impl IndexSizes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u32), Counted>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries and bytes of index `i` of table `t`: exact for a small
    /// table, else the last count (starting a walk when it is stale).
    pub fn get(&self, store: &Store, t: &TableHandle, i: impl Into<Counting>) -> (u64, u64) {
        let i = i.into();
        if t.stats().items <= self.exact_up_to {
            let exact = i.count(store, t).unwrap_or((0, 0));
            // Kept, so a table growing past the bound starts from it.
            self.keep(t.def.id, i.id(), exact);
            return exact;
        }
        self.last(store, t, i)
    }

    /// The last count of index `i` (starting a background walk when it is
    /// stale), whatever the table's size: the cost meter's, which never
    /// walks on its own thread.
    pub fn last(&self, store: &Store, t: &TableHandle, i: impl Into<Counting>) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        let index = i.into();
        let key = (t.def.id, index.id());
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT && !kept.contains_key(&key) {
            kept.retain(|_, e| e.walking);
        }
        let e = kept.entry(key).or_insert(Counted { count: 0, bytes: 0, at: None, walking: false });
        let fresh = e.at.is_some_and(|at| at.elapsed() < REFRESH);
        if fresh || e.walking || self.walkers.load(Ordering::Relaxed) >= MAX_WALKERS {
            return (e.count, e.bytes);
        }
        e.walking = true;
        self.walkers.fetch_add(1, Ordering::Relaxed);
        let answer = (e.count, e.bytes);
        drop(kept);
        let (sizes, store, name, table_id) = (self.clone(), store.clone(), t.def.name.clone(), t.def.id);
        let spawned = std::thread::Builder::new().name("tidepool-index-sizes".into()).spawn(move || {
            let _claim = Walking { sizes: sizes.clone(), key: (table_id, index.id()) };
            tidepool_store::lower_this_thread();
            // The table as it is now (the same one, not one made again).
            let counted = store
                .describe_table(&name)
                .ok()
                .filter(|h| h.def.id == table_id)
                .and_then(|h| index.count(&store, &h).ok());
            if let Some((count, bytes)) = counted {
                sizes.keep(table_id, index.id(), (count, bytes));
            }
        });
        if spawned.is_err() {
            self.walkers.fetch_sub(1, Ordering::Relaxed);
            if let Some(e) = self.lock().get_mut(&key) {
                e.walking = false;
            }
        }
        answer
    }

    fn keep(&self, table: u64, index: u32, (count, bytes): (u64, u64)) {
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT && !kept.contains_key(&(table, index)) {
            kept.retain(|_, e| e.walking);
        }
        let e = kept.entry((table, index)).or_insert(Counted { count, bytes, at: None, walking: false });
        (e.count, e.bytes, e.at) = (count, bytes, Some(Instant::now()));
    }

    /// Forgets a deleted table's counts.
    pub fn forget_table(&self, table_id: u64) {
        self.lock().retain(|(t, _), _| *t != table_id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dynamodb::testing::{app, call};

    #[test]
    fn a_large_tables_indexes_are_counted_in_the_background() {
        let app = app();
        call(
            &app,
            "CreateTable",
            json!({
                "TableName": "big",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            }),
        );
        // Twenty items, twelve of them in the index.
        for i in 0..20 {
            let mut item = json!({"pk": {"S": format!("k{i}")}});
            if i < 12 {
                item["g"] = json!({"S": "x"});
            }
            call(&app, "PutItem", json!({"TableName": "big", "Item": item}));
        }
        let t = app.store.describe_table("big").expect("table");
        let index = t.def.index("byG").expect("index").clone();
        let exact = IndexSizes::default().get(&app.store, &t, &index);
        assert_eq!(exact.0, 12, "a small table is counted on the spot");
        // Past the bound: 0 until the background walk has counted it.
        let sizes = IndexSizes { exact_up_to: 10, ..IndexSizes::default() };
        assert_eq!(sizes.get(&app.store, &t, &index), (0, 0));
        let started = Instant::now();
        while sizes.get(&app.store, &t, &index) == (0, 0) {
            assert!(started.elapsed() < Duration::from_secs(10), "the walk finished");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(sizes.get(&app.store, &t, &index), exact);
        let started = Instant::now();
        while sizes.walkers.load(std::sync::atomic::Ordering::Relaxed) != 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the walk let go of its claim");
            std::thread::sleep(Duration::from_millis(10));
        }
        sizes.forget_table(t.def.id);
        assert!(sizes.lock().is_empty());
    }
}
