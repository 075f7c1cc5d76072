//! Table churn keeps the data directory bounded: creating and deleting
//! tables (with streams, as an app's test suite does in every test) must not
//! leave files or bytes behind in proportion to the number of tables ever
//! made. fjall's catalog of keyspaces used to keep every table file it had
//! compacted while the database was open (vendor/README.md).

use std::collections::BTreeMap;
use std::path::Path;

use tidepool_store::catalog::{CreateTableInput, KeyType};
use tidepool_store::table::{BillingMode, StreamViewType};
use tidepool_store::value::AttrType;
use tidepool_store::{Store, StoreConfig};

fn input(name: &str) -> CreateTableInput {
    CreateTableInput {
        name: name.into(),
        key_schema: vec![("pk".into(), KeyType::Hash)],
        attribute_definitions: vec![("pk".into(), AttrType::S)],
        billing_mode: BillingMode::PayPerRequest,
        throughput: None,
        indexes: Vec::new(),
        stream: Some(StreamViewType::NewAndOldImages),
        tags: BTreeMap::new(),
        deletion_protection: false,
        table_class: None,
        settings: Default::default(),
        vector_indexes: Vec::new(),
    }
}

/// Files and bytes under `dir`, recursively. Journal files are left out:
/// fjall preallocates them at a fixed size and rotates them by size.
fn usage(dir: &Path) -> (u64, u64) {
    let mut acc = (0, 0);
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            let (f, b) = usage(&path);
            acc = (acc.0 + f, acc.1 + b);
        } else if path.extension().is_none_or(|x| x != "jnl") {
            acc = (acc.0 + 1, acc.1 + e.metadata().map(|m| m.len()).unwrap_or(0));
        }
    }
    acc
}

/// After the first rounds the directory holds a steady set of files
/// (catalog, `meta`, the streams keyspace); it must not grow with the rounds.
const MAX_FILES: u64 = 64;
const MAX_BYTES: u64 = 4 * 1024 * 1024;

#[test]
fn table_churn_keeps_the_catalog_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = || Store::open(StoreConfig { path: Some(dir.path().to_path_buf()), ..Default::default() });
    let store = open().expect("open");
    // Some tables stay: their keyspaces' entries in the catalog must survive
    // its compactions.
    for name in ["keep-one", "keep-two"] {
        store.create_table(input(name)).expect("create");
    }
    let mut steady = (0, 0);
    for round in 0..300 {
        let name = format!("churn-{round}");
        store.create_table(input(&name)).expect("create");
        store.delete_table(&name).expect("delete");
        if round == 49 {
            steady = usage(dir.path());
        }
    }
    let (files, bytes) = usage(dir.path());
    assert!(
        files <= MAX_FILES && bytes <= MAX_BYTES,
        "after 300 creates and deletes: {files} files, {bytes} bytes (after 50: {steady:?})"
    );
    assert!(files <= steady.0 + 8, "files grow with churn: {steady:?} after 50 rounds, {files} after 300");
    drop(store);
    let store = open().expect("reopen");
    let (names, more) = store.list_tables(None, 100);
    assert_eq!((names, more), (vec!["keep-one".to_string(), "keep-two".to_string()], false));
    for name in ["keep-one", "keep-two"] {
        store.delete_table(name).expect("delete a table kept through the churn");
    }
}
