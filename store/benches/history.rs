//! What point-in-time recovery's history costs in disk (issue 15: "the disk
//! used by one day of history at 1,000 writes/s"). Run with
//!
//! ```sh
//! cargo bench -p tidepool-store --bench history -- [--items 200000]
//! ```
//!
//! For each kind of value (`json`, a 1,000-byte JSON document as a string,
//! which compresses as real documents do; `random`, 1,000 random bytes as a
//! binary, which does not), on a fresh store in a temporary directory with
//! PITR on: inserts `--items` items of `pk` S, `sk` N and the value, then
//! updates every one of them once (a new value), then deletes every one.
//! After each step the history is flushed and its size on disk read
//! (`Store::history_disk_bytes`): the step's bytes per write, and the disk
//! that one day of such writes at 1,000 a second (86.4 million) would keep
//! for a recovery period of one day. The table's own size is printed beside
//! it. No write is timed: the figures are bytes.

use tidepool_store::catalog::{CreateTableInput, KeyType};
use tidepool_store::value::{AttrType, Item, Number, Value};
use tidepool_store::{Decision, Store, StoreConfig};

const TABLE: &str = "hist";
/// Writes in one day at 1,000 a second.
const WRITES_PER_DAY: f64 = 86_400.0 * 1_000.0;
const VALUE_BYTES: usize = 1_000;

fn main() {
    let mut items: u64 = 200_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--items" => items = args.next().and_then(|v| v.parse().ok()).expect("--items N"),
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    println!("| values | step | writes | history on disk | per write | one day at 1,000 writes/s | table on disk |");
    println!("|---|---|---|---|---|---|---|");
    for kind in ["json", "random"] {
        run(kind, items);
    }
}

fn run(kind: &str, items: u64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(StoreConfig { path: Some(dir.path().to_path_buf()), ..Default::default() }).expect("open");
    create(&store);
    store.set_pitr(TABLE, Some(1)).expect("PITR on");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut before = store.history_disk_bytes().expect("history size");
    for step in ["insert", "update", "delete"] {
        for n in 0..items {
            let key = key(n);
            let decision = match step {
                "delete" => Decision::Delete,
                _ => {
                    let mut item = key.clone();
                    item.insert("v".into(), value(kind, n, &mut seed));
                    Decision::Put(item)
                }
            };
            store.write(TABLE, &key, move |_| Ok(decision)).expect("write");
        }
        let after = store.history_disk_bytes().expect("history size");
        let grown = after.saturating_sub(before);
        let per = grown as f64 / items as f64;
        println!(
            "| {kind} | {step} | {items} | {:.1} MB | {per:.0} B | {:.1} GB | {:.1} MB |",
            grown as f64 / 1e6,
            per * WRITES_PER_DAY / 1e9,
            store.table_disk_bytes(TABLE).expect("table size") as f64 / 1e6,
        );
        before = after;
    }
}

fn key(n: u64) -> Item {
    Item::from([
        ("pk".to_string(), Value::S(format!("p{:09}", n / 10))),
        ("sk".to_string(), Value::N((n % 10).to_string().parse::<Number>().expect("a number"))),
    ])
}

/// A 1,000-byte value: a JSON document of words (compressible) or random
/// bytes (not).
fn value(kind: &str, n: u64, seed: &mut u64) -> Value {
    let mut next = || {
        // xorshift64*
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    if kind == "random" {
        return Value::B((0..VALUE_BYTES).map(|_| next() as u8).collect());
    }
    const WORDS: [&str; 16] = [
        "tide", "pool", "stream", "shard", "item", "table", "index", "lambda", "record", "region", "backup", "restore",
        "export", "import", "query", "scan",
    ];
    let mut body = String::new();
    while body.len() < VALUE_BYTES {
        body.push_str(WORDS[(next() % 16) as usize]);
        body.push(' ');
    }
    let doc = format!(r#"{{"id":{n},"rev":{},"body":"{body}"}}"#, next() % 1000);
    Value::S(doc[..VALUE_BYTES].to_string())
}

fn create(store: &Store) {
    store
        .create_table(CreateTableInput::on_demand(
            TABLE,
            vec![("pk".into(), KeyType::Hash), ("sk".into(), KeyType::Range)],
            vec![("pk".into(), AttrType::S), ("sk".into(), AttrType::N)],
        ))
        .expect("create table");
}
