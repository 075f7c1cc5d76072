//! The store against a simple model: random sequences of puts, conditional
//! puts, deletes, counter updates, transactions and reopens, on a small key
//! space so that writes collide. After every step the store must agree with
//! a `BTreeMap`: point reads, a full scan in key order, queries both ways, a
//! GSI, the table's counters, and one stream record per real change, in
//! order, with the images its view type carries. The stream is sometimes
//! switched to another view, and the table is deleted at the end: its
//! streams must still read the same.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tidepool_store::catalog::{CreateTableInput, IndexInput, KeyType};
use tidepool_store::query::{ReadParams, Source};
use tidepool_store::stream::{EventName, StartingPosition, StreamRecord};
use tidepool_store::table::{BillingMode, IndexKind, Projection, StreamViewType};
use tidepool_store::value::{AttrType, Item, Number, Value, item_size};
use tidepool_store::{Decide, Decision, Store, StoreConfig, StoreError, WriteOp};

/// (partition, sort) → (value, group)
type Model = BTreeMap<(String, i64), (i64, String)>;

/// Every real change in order: the stream view type then, and the item
/// before and after.
type Log = Vec<(StreamViewType, Option<Item>, Option<Item>)>;

const VIEWS: [StreamViewType; 4] =
    [StreamViewType::KeysOnly, StreamViewType::NewImage, StreamViewType::OldImage, StreamViewType::NewAndOldImages];

#[derive(Debug, Clone)]
enum Op {
    Put {
        pk: u8,
        sk: u8,
        v: i64,
        g: u8,
    },
    PutIfAbsent {
        pk: u8,
        sk: u8,
        v: i64,
    },
    Delete {
        pk: u8,
        sk: u8,
    },
    Add {
        pk: u8,
        sk: u8,
        d: i64,
    },
    /// Two puts, all or nothing; the second requires its item to exist.
    Transact {
        a: (u8, u8, i64),
        b: (u8, u8, i64),
    },
    /// Adds (`Some`) and deletes (`None`) staged in one unit of work, then
    /// committed together or, with `abort`, thrown away.
    Unit {
        steps: Vec<(u8, u8, Option<i64>)>,
        abort: bool,
    },
    Reopen,
    /// Disables the stream and enables a new one with view `VIEWS[view]`.
    Restream {
        view: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let key = (0u8..3, 0u8..3);
    prop_oneof![
        4 => (key.clone(), -5i64..5, 0u8..2).prop_map(|((pk, sk), v, g)| Op::Put { pk, sk, v, g }),
        2 => (key.clone(), -5i64..5).prop_map(|((pk, sk), v)| Op::PutIfAbsent { pk, sk, v }),
        2 => key.clone().prop_map(|(pk, sk)| Op::Delete { pk, sk }),
        2 => (key.clone(), -3i64..3).prop_map(|((pk, sk), d)| Op::Add { pk, sk, d }),
        1 => (key.clone(), -5i64..5, key.clone(), -5i64..5).prop_map(|((p1, s1), v1, (p2, s2), v2)| Op::Transact {
            a: (p1, s1, v1),
            b: (p2, s2, v2)
        }),
        2 => (proptest::collection::vec((key, proptest::option::of(-3i64..3)), 1..6), proptest::bool::weighted(0.2))
            .prop_map(|(steps, abort)| Op::Unit {
                steps: steps.into_iter().map(|((pk, sk), d)| (pk, sk, d)).collect(),
                abort
            }),
        1 => Just(Op::Reopen),
        1 => (0u8..4).prop_map(|view| Op::Restream { view }),
    ]
}

fn pk(p: u8) -> String {
    format!("p{p}")
}

fn num(v: i64) -> Value {
    Value::N(v.to_string().parse::<Number>().expect("number"))
}

fn key(p: u8, s: u8) -> Item {
    Item::from([("pk".to_string(), Value::S(pk(p))), ("sk".to_string(), num(i64::from(s)))])
}

fn item(p: u8, s: u8, v: i64, g: &str) -> Item {
    let mut i = key(p, s);
    i.insert("v".into(), num(v));
    i.insert("g".into(), Value::S(g.into()));
    i
}

fn model_item(k: &(String, i64), (v, g): &(i64, String)) -> Item {
    Item::from([
        ("pk".to_string(), Value::S(k.0.clone())),
        ("sk".to_string(), num(k.1)),
        ("v".to_string(), num(*v)),
        ("g".to_string(), Value::S(g.clone())),
    ])
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::N(n)) => n.to_string().parse().expect("integer"),
        other => panic!("not a number: {other:?}"),
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig { path: Some(dir.to_path_buf()), ..Default::default() }).expect("open")
}

fn create(store: &Store) {
    store
        .create_table(CreateTableInput {
            name: "tbl".into(),
            key_schema: vec![("pk".into(), KeyType::Hash), ("sk".into(), KeyType::Range)],
            attribute_definitions: vec![
                ("pk".into(), AttrType::S),
                ("sk".into(), AttrType::N),
                ("g".into(), AttrType::S),
                ("v".into(), AttrType::N),
            ],
            billing_mode: BillingMode::PayPerRequest,
            throughput: None,
            indexes: vec![IndexInput {
                name: "by_g".into(),
                kind: IndexKind::Global,
                key_schema: vec![("g".into(), KeyType::Hash), ("v".into(), KeyType::Range)],
                projection: Projection::All,
                throughput: None,
                projection_fault: None,
            }],
            stream: Some(StreamViewType::NewAndOldImages),
            tags: BTreeMap::new(),
            deletion_protection: false,
            table_class: None,
            settings: Default::default(),
            vector_indexes: Vec::new(),
        })
        .expect("create table");
}

/// Every stream record of every stream of the table, from all shards, in
/// commit order (sequence numbers are store-wide).
fn stream_records(store: &Store) -> Vec<StreamRecord> {
    let mut all = Vec::new();
    for meta in store.list_streams() {
        for shard in &meta.shards {
            let mut pos = store.shard_position(meta.num, &shard.id, StartingPosition::TrimHorizon).expect("position");
            loop {
                let page = store.read_shard(meta.num, &shard.id, pos, 1000, 1 << 20).expect("read");
                let empty = page.records.is_empty();
                all.extend(page.records);
                match page.next {
                    Some(next) if !empty => pos = next,
                    _ => break,
                }
            }
        }
    }
    all.sort_by_key(|r| r.seq);
    all
}

/// The stream holds one record per logged change, with its images.
fn check_stream(store: &Store, log: &Log) {
    let records = stream_records(store);
    assert_eq!(records.len(), log.len(), "one stream record per real change");
    for (i, (r, (view, old, new))) in records.iter().zip(log).enumerate() {
        let event = match (old, new) {
            (None, _) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        assert_eq!(r.event, event, "change {i}");
        let with_new = view.has_new_image();
        let with_old = view.has_old_image();
        assert_eq!(r.new_image.as_ref(), new.as_ref().filter(|_| with_new), "change {i}: new image");
        assert_eq!(r.old_image.as_ref(), old.as_ref().filter(|_| with_old), "change {i}: old image");
    }
}

/// Sets (`Some`) or removes (`None`) an item of the model, logging the
/// change if it is one.
fn set(model: &mut Model, log: &mut Log, view: StreamViewType, k: (String, i64), to: Option<(i64, String)>) {
    let old = model.get(&k).cloned();
    if old == to {
        return;
    }
    log.push((view, old.map(|m| model_item(&k, &m)), to.as_ref().map(|m| model_item(&k, m))));
    match to {
        Some(m) => model.insert(k, m),
        None => model.remove(&k),
    };
}

fn check(store: &Store, model: &Model, log: &Log) {
    let t = store.table("tbl").expect("table");
    for p in 0..3u8 {
        for s in 0..3u8 {
            let got = store.get_item(&t, &key(p, s)).expect("get");
            let want = model.get(&(pk(p), i64::from(s))).map(|m| model_item(&(pk(p), i64::from(s)), m));
            assert_eq!(got, want, "get p{p}/{s}");
        }
    }
    let keep = |_: &Item| Ok(true);
    let params = ReadParams { limit: None, exclusive_start: None, filter: &keep, fetch_from_table: false, until: None };
    let scanned = store.scan(&t, Source::Table, None, &params).expect("scan").items;
    let want: Vec<Item> = model.iter().map(|(k, v)| model_item(k, v)).collect();
    assert_eq!(scanned, want, "scan in key order");
    for p in 0..3u8 {
        let hash = Value::S(pk(p));
        let fwd =
            store.query(&t, Source::Table, std::slice::from_ref(&hash), &[], None, true, &params).expect("query").items;
        let want: Vec<Item> = model.iter().filter(|(k, _)| k.0 == pk(p)).map(|(k, v)| model_item(k, v)).collect();
        assert_eq!(fwd, want, "query p{p}");
        let mut back = store
            .query(&t, Source::Table, std::slice::from_ref(&hash), &[], None, false, &params)
            .expect("query")
            .items;
        back.reverse();
        assert_eq!(back, want, "query p{p} backwards");
        // Stopped at a key (a strongly consistent read's other region's
        // page end): the items up to it, and that key to go on from.
        let until = key(p, 1);
        let stop = ReadParams { until: Some(&until), ..params };
        for forward in [true, false] {
            let page = store
                .query(&t, Source::Table, std::slice::from_ref(&hash), &[], None, forward, &stop)
                .expect("query until");
            let before: Vec<Item> =
                want.iter().filter(|i| (int(i.get("sk")) <= 1) == forward || int(i.get("sk")) == 1).cloned().collect();
            let mut got = page.items;
            if !forward {
                got.reverse();
            }
            assert_eq!(got, before, "query p{p} until sk 1, forward {forward}");
            assert_eq!(page.last_key.as_ref(), Some(&until), "query p{p} until sk 1 goes on from there");
        }
    }
    let idx = t.def.index("by_g").expect("index");
    for g in ["g0", "g1"] {
        let got =
            store.query(&t, Source::Index(idx), &[Value::S(g.into())], &[], None, true, &params).expect("gsi").items;
        let mut want: Vec<(i64, Item)> =
            model.iter().filter(|(_, m)| m.1 == g).map(|(k, m)| (m.0, model_item(k, m))).collect();
        // By v, then by the table key (the index entry's tiebreak).
        want.sort_by_key(|a| a.0);
        let got_v: Vec<i64> = got.iter().map(|i| int(i.get("v"))).collect();
        let want_v: Vec<i64> = want.iter().map(|(v, _)| *v).collect();
        assert_eq!(got_v, want_v, "gsi {g} order");
        let mut got_sorted = got.clone();
        got_sorted.sort_by_key(|i| format!("{i:?}"));
        let mut want_items: Vec<Item> = want.into_iter().map(|(_, i)| i).collect();
        want_items.sort_by_key(|i| format!("{i:?}"));
        assert_eq!(got_sorted, want_items, "gsi {g} items");
    }
    let stats = t.stats();
    assert_eq!(stats.items, model.len() as u64, "item count");
    let bytes: usize = model.iter().map(|(k, v)| item_size(&model_item(k, v))).sum();
    assert_eq!(stats.bytes, bytes as u64, "table bytes");
    check_stream(store, log);
}

/// Adds `d` to item p/s's `v`, creating it in group g1.
fn add(p: u8, s: u8, d: i64) -> impl FnOnce(Option<&Item>) -> Result<Decision, StoreError> {
    move |cur| {
        Ok(match cur {
            Some(c) => {
                let mut n = c.clone();
                n.insert("v".into(), num(int(c.get("v")) + d));
                Decision::Put(n)
            }
            None => Decision::Put(item(p, s, d, "g1")),
        })
    }
}

fn model_add(model: &mut Model, log: &mut Log, view: StreamViewType, p: u8, s: u8, d: i64) {
    let k = (pk(p), i64::from(s));
    let to = match model.get(&k) {
        Some((v, g)) => (v + d, g.clone()),
        None => (d, "g1".into()),
    };
    set(model, log, view, k, Some(to));
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(dir.path());
    create(&store);
    let mut model = Model::new();
    let mut log = Log::new();
    let mut view = StreamViewType::NewAndOldImages;
    for op in ops {
        match op {
            Op::Put { pk: p, sk: s, v, g } => {
                let g = format!("g{g}");
                let new = item(p, s, v, &g);
                store.write("tbl", &key(p, s), |_| Ok(Decision::Put(new))).expect("put");
                set(&mut model, &mut log, view, (pk(p), i64::from(s)), Some((v, g)));
            }
            Op::PutIfAbsent { pk: p, sk: s, v } => {
                let r = store.write("tbl", &key(p, s), |cur| match cur {
                    Some(_) => Err(StoreError::ConditionalCheckFailed { item: None }),
                    None => Ok(Decision::Put(item(p, s, v, "g0"))),
                });
                let k = (pk(p), i64::from(s));
                if !model.contains_key(&k) {
                    r.expect("absent: put");
                    set(&mut model, &mut log, view, k, Some((v, "g0".into())));
                } else {
                    assert!(matches!(r, Err(StoreError::ConditionalCheckFailed { .. })), "present: {r:?}");
                }
            }
            Op::Delete { pk: p, sk: s } => {
                store.write("tbl", &key(p, s), |_| Ok(Decision::Delete)).expect("delete");
                set(&mut model, &mut log, view, (pk(p), i64::from(s)), None);
            }
            Op::Add { pk: p, sk: s, d } => {
                store.write("tbl", &key(p, s), add(p, s, d)).expect("add");
                model_add(&mut model, &mut log, view, p, s, d);
            }
            Op::Unit { steps, abort } => {
                let staged = store.atomically(Vec::new(), |unit| {
                    for &(p, s, d) in &steps {
                        let decide: Decide<'static> = match d {
                            Some(d) => Box::new(add(p, s, d)),
                            None => Box::new(|_: Option<&Item>| Ok(Decision::Delete)),
                        };
                        store.stage(
                            unit,
                            vec![WriteOp { table: "tbl".into(), key: key(p, s), decide }],
                            false,
                            Default::default(),
                        )?;
                    }
                    if abort { Err(StoreError::Validation("abort".into())) } else { Ok(unit.len()) }
                });
                if abort {
                    assert!(staged.is_err(), "an aborted unit fails");
                } else {
                    staged.expect("unit");
                    for (p, s, d) in steps {
                        match d {
                            Some(d) => model_add(&mut model, &mut log, view, p, s, d),
                            None => set(&mut model, &mut log, view, (pk(p), i64::from(s)), None),
                        }
                    }
                }
            }
            Op::Transact { a, b } => {
                if (a.0, a.1) == (b.0, b.1) {
                    continue;
                }
                let ops = vec![
                    WriteOp {
                        table: "tbl".into(),
                        key: key(a.0, a.1),
                        decide: Box::new(move |_| Ok(Decision::Put(item(a.0, a.1, a.2, "g0")))),
                    },
                    WriteOp {
                        table: "tbl".into(),
                        key: key(b.0, b.1),
                        decide: Box::new(move |cur| match cur {
                            Some(_) => Ok(Decision::Put(item(b.0, b.1, b.2, "g1"))),
                            None => Err(StoreError::ConditionalCheckFailed { item: None }),
                        }),
                    },
                ];
                let r = store.write_many(ops, true);
                let kb = (pk(b.0), i64::from(b.1));
                if model.contains_key(&kb) {
                    r.expect("transaction");
                    for (k, val) in [((pk(a.0), i64::from(a.1)), (a.2, "g0")), (kb, (b.2, "g1"))] {
                        set(&mut model, &mut log, view, k, Some((val.0, val.1.into())));
                    }
                } else {
                    assert!(matches!(r, Err(StoreError::TransactionCanceled(_))), "cancelled: {r:?}");
                }
            }
            Op::Reopen => {
                drop(store);
                store = open(dir.path());
            }
            Op::Restream { view: v } => {
                store.set_stream("tbl", None).expect("disable the stream");
                view = VIEWS[usize::from(v)];
                store.set_stream("tbl", Some(view)).expect("enable a stream");
            }
        }
        check(&store, &model, &log);
    }
    // A deleted table's streams stay readable, images and all.
    store.delete_table("tbl").expect("delete table");
    check_stream(&store, &log);
    drop(store);
    check_stream(&open(dir.path()), &log);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_a_map(ops in proptest::collection::vec(op(), 1..32)) {
        run(ops);
    }
}
