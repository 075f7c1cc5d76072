//! The limiter on virtual time, over table definitions made by a real
//! store.

use std::collections::BTreeMap;
use std::sync::Arc;

use tidepool_store::catalog::{CreateTableInput, IndexInput, KeyType};
use tidepool_store::table::{BillingMode, IndexKind, Projection, TableDef, Throughput};
use tidepool_store::value::{AttrType, Item, Value};
use tidepool_store::{Store, StoreConfig};

use super::*;

const SEC: Micros = 1_000_000;

fn table(store: &Store, name: &str, billing: BillingMode, t: Option<Throughput>, gsi: Option<Throughput>) -> TableDef {
    let mut settings = tidepool_store::table::TableSettings::default();
    if billing == BillingMode::PayPerRequest {
        settings.max_write_request_units = Some(10);
    }
    let mut attrs = vec![("pk".into(), AttrType::S)];
    if gsi.is_some() {
        attrs.push(("owner".into(), AttrType::S));
    }
    let indexes = gsi
        .map(|g| IndexInput {
            name: "byOwner".into(),
            kind: IndexKind::Global,
            key_schema: vec![("owner".into(), KeyType::Hash)],
            projection: Projection::All,
            throughput: Some(g),
            projection_fault: None,
        })
        .into_iter()
        .collect();
    store
        .create_table(CreateTableInput {
            name: name.into(),
            key_schema: vec![("pk".into(), KeyType::Hash)],
            attribute_definitions: attrs,
            billing_mode: billing,
            throughput: t,
            indexes,
            stream: None,
            tags: BTreeMap::new(),
            deletion_protection: false,
            table_class: None,
            settings,
            vector_indexes: Vec::new(),
        })
        .expect("create")
        .def
        .clone()
}

fn key(pk: &str) -> Item {
    let mut k = Item::new();
    k.insert("pk".into(), Value::S(pk.into()));
    k
}

fn limiter() -> (Limiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (Limiter::with_clock("us-east-1", Mode::Enforce, clock.clone()), clock)
}

/// Writes of one unit each to distinct keys until one is throttled;
/// returns how many went through.
fn writes_until_throttled(l: &Limiter, def: &TableDef, from: usize) -> (usize, Throttled) {
    for n in from.. {
        let k = key(&format!("k{n}"));
        match l.admit(Access::Write, Target::item(def, &k)) {
            Ok(()) => l.charge(Access::Write, Target::item(def, &k), 1.0, &[]),
            Err(t) => return (n - from, t),
        }
    }
    unreachable!()
}

#[test]
fn a_provisioned_table_throttles_exactly_when_its_bucket_and_burst_are_spent() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let def = table(&store, "prov", BillingMode::Provisioned, Some(Throughput { read: 10, write: 5 }), None);
    let (l, clock) = limiter();
    // Full at the start: 300 s of 5 units.
    let (done, t) = writes_until_throttled(&l, &def, 0);
    assert_eq!(done, 1500);
    assert_eq!(t.reason(), "TableWriteProvisionedThroughputExceeded");
    assert_eq!(t.resource, "arn:aws:dynamodb:us-east-1:000000000000:table/prov");
    let e = t.into_error();
    assert!(e.kind.ends_with("#ProvisionedThroughputExceededException"));
    assert_eq!(
        e.message,
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API"
    );
    // One second refills five writes, and no more.
    clock.advance(SEC);
    assert_eq!(writes_until_throttled(&l, &def, 2000).0, 5);
    // Reads have a bucket of their own: eventually consistent reads cost
    // half a unit, so 10 RCU × 300 s is 6,000 of them.
    let mut reads = 0;
    let t = loop {
        let k = key(&format!("r{reads}"));
        match l.admit(Access::Read, Target::item(&def, &k)) {
            Ok(()) => l.charge(Access::Read, Target::item(&def, &k), 0.5, &[]),
            Err(t) => break t,
        }
        reads += 1;
    };
    assert_eq!(reads, 6000);
    assert_eq!(t.reason(), "TableReadProvisionedThroughputExceeded");
}

#[test]
fn a_debt_holds_requests_back_until_it_is_refilled() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let def = table(&store, "debt", BillingMode::Provisioned, Some(Throughput { read: 1, write: 1 }), None);
    let (l, clock) = limiter();
    let k = key("a");
    // A 400 KB write is admitted on a full bucket of 300 and leaves 100 owed.
    l.admit(Access::Write, Target::item(&def, &k)).expect("admitted");
    l.charge(Access::Write, Target::item(&def, &k), 400.0, &[]);
    clock.advance(100 * SEC);
    assert!(l.admit(Access::Write, Target::item(&def, &k)).is_err(), "exactly paid back is still nothing");
    clock.advance(SEC);
    assert!(l.admit(Access::Write, Target::item(&def, &k)).is_ok());
}

#[test]
fn a_hot_key_throttles_while_other_keys_in_the_same_table_do_not() {
    let store = Store::open(StoreConfig::default()).expect("open");
    // Far more table capacity than one key may use.
    let def = table(&store, "hot", BillingMode::Provisioned, Some(Throughput { read: 40_000, write: 40_000 }), None);
    let (l, clock) = limiter();
    let hot = key("hot");
    let mut n = 0;
    while l.admit(Access::Write, Target::item(&def, &hot)).is_ok() {
        l.charge(Access::Write, Target::item(&def, &hot), 1.0, &[]);
        n += 1;
    }
    assert_eq!(n, 1000, "1,000 write units a second for one partition key value");
    let t = l.admit(Access::Write, Target::item(&def, &hot)).expect_err("throttled");
    assert_eq!(t.reason(), "TableWriteKeyRangeThroughputExceeded");
    assert!(t.into_error().kind.ends_with("#ProvisionedThroughputExceededException"));
    // Every other key is served meanwhile.
    for i in 0..500 {
        let k = key(&format!("cold{i}"));
        l.admit(Access::Write, Target::item(&def, &k)).expect("a cold key");
        l.charge(Access::Write, Target::item(&def, &k), 1.0, &[]);
    }
    // Reads of the hot key have their own limit.
    l.admit(Access::Read, Target::item(&def, &hot)).expect("reads are separate");
    // A millisecond refills one unit for the hot key.
    clock.advance(SEC / 1000);
    l.admit(Access::Write, Target::item(&def, &hot)).expect("refilled");
}

#[test]
fn a_spent_global_index_holds_back_writes_to_its_table() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let def = table(
        &store,
        "gsi",
        BillingMode::Provisioned,
        Some(Throughput { read: 100, write: 100 }),
        Some(Throughput { read: 1, write: 1 }),
    );
    let (l, _clock) = limiter();
    let index = vec![("byOwner".to_string(), true, 1.0)];
    let mut n = 0;
    loop {
        let k = key(&format!("k{n}"));
        match l.admit(Access::Write, Target::item(&def, &k)) {
            Ok(()) => l.charge(Access::Write, Target::item(&def, &k), 1.0, &index),
            Err(t) => {
                assert_eq!(t.reason(), "IndexWriteProvisionedThroughputExceeded");
                assert_eq!(t.resource, "arn:aws:dynamodb:us-east-1:000000000000:table/gsi/index/byOwner");
                assert!(t.message().contains("global secondary indexes"));
                break;
            }
        }
        n += 1;
    }
    assert_eq!(n, 300, "the index's 300 s of one unit");
}

#[test]
fn an_on_demand_maximum_throttles_with_throttling_exception() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let def = table(&store, "ondemand", BillingMode::PayPerRequest, None, None);
    let (l, clock) = limiter();
    let (done, t) = writes_until_throttled(&l, &def, 0);
    assert_eq!(done, 10, "MaxWriteRequestUnits 10, one second of burst");
    assert_eq!(t.reason(), "TableWriteMaxOnDemandThroughputExceeded");
    let e = t.into_error();
    assert!(e.kind.ends_with("#ThrottlingException"));
    assert_eq!(e.message, "Throughput exceeds the maximum OnDemandThroughput configured on table or index");
    assert!(e.extra.contains_key("throttlingReasons"));
    // Reads have no maximum: never throttled but by a hot key.
    for i in 0..5000 {
        let k = key(&format!("r{i}"));
        l.admit(Access::Read, Target::item(&def, &k)).expect("no read maximum");
        l.charge(Access::Read, Target::item(&def, &k), 1.0, &[]);
    }
    clock.advance(SEC);
    assert_eq!(writes_until_throttled(&l, &def, 100).0, 10);
}

#[test]
fn report_mode_meters_nothing_and_a_table_can_opt_in() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let def = table(&store, "quiet", BillingMode::Provisioned, Some(Throughput { read: 1, write: 1 }), None);
    let clock = Arc::new(ManualClock::default());
    let l = Limiter::with_clock("us-east-1", Mode::Report, clock);
    for i in 0..2000 {
        let k = key(&format!("k{i}"));
        l.admit(Access::Write, Target::item(&def, &k)).expect("report mode");
        l.charge(Access::Write, Target::item(&def, &k), 1.0, &[]);
    }
    l.set_table_mode("quiet", Some(Mode::Enforce));
    assert_eq!(writes_until_throttled(&l, &def, 5000).0, 300);
    l.set_table_mode("quiet", None);
    assert!(!l.enforces(&def));
}

#[test]
fn update_table_keeps_what_the_bucket_holds() {
    let store = Store::open(StoreConfig::default()).expect("open");
    let mut def = table(&store, "grow", BillingMode::Provisioned, Some(Throughput { read: 1, write: 1 }), None);
    let (l, clock) = limiter();
    assert_eq!(writes_until_throttled(&l, &def, 0).0, 300);
    // More capacity: the spent bucket refills at the new rate.
    def.throughput = Some(Throughput { read: 1, write: 50 });
    assert!(l.admit(Access::Write, Target::item(&def, &key("x"))).is_err(), "still spent");
    clock.advance(SEC);
    assert_eq!(writes_until_throttled(&l, &def, 1000).0, 50);
}
