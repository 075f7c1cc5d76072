//! Capacity: DynamoDB's throughput limits, enforced when asked.
//!
//! By default Tidepool only reports consumed capacity, as DynamoDB Local
//! does: a local test suite should not flake on throttling. With
//! `--capacity enforce` (or `capacity = "enforce"` on a manifest table) a
//! table is throttled as DynamoDB throttles it:
//! - a provisioned table and each provisioned global secondary index have
//!   a bucket of read and of write units, refilled at the provisioned rate
//!   and holding up to [`BURST_SECONDS`] of it (DynamoDB's burst capacity);
//!   a global index out of write units holds back every write to its base
//!   table, as DynamoDB's do;
//! - an on-demand table with `OnDemandThroughput` maximums gets buckets at
//!   those rates holding one second of them;
//! - in either mode, one partition key value gets at most
//!   [`HOT_KEY_READ_UNITS`] read and [`HOT_KEY_WRITE_UNITS`] write units a
//!   second (DynamoDB's per-partition limit, which a single hot key hits).
//!
//! A request is admitted while its buckets hold more than nothing and pays
//! what it consumed afterwards ([`bucket::Bucket`]). A throttled request
//! gets `ProvisionedThroughputExceededException` (provisioned) or
//! `ThrottlingException` (on-demand) with DynamoDB's `ThrottlingReasons`;
//! the AWS SDKs retry both with backoff.

pub mod bucket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;
use tidepool_store::messages;
use tidepool_store::table::{BillingMode, IndexDef, IndexKind, TableDef, Throughput};
use tidepool_store::value::{Value, encode_key_component};

use crate::dynamodb::error::ApiError;
use bucket::{Bucket, Micros};

/// DynamoDB keeps up to five minutes of a provisioned table's unused
/// capacity for bursts. A bucket starts full: a new table absorbs a burst
/// at once, as one on DynamoDB does.
pub const BURST_SECONDS: f64 = 300.0;
/// An on-demand table's `OnDemandThroughput` maximum allows no burst past
/// one second of it (DynamoDB answers requests past it "quickly").
pub const ON_DEMAND_MAX_BURST_SECONDS: f64 = 1.0;
/// Read units a second one partition key value takes at most (DynamoDB's
/// per-partition limit).
pub const HOT_KEY_READ_UNITS: f64 = 3000.0;
/// Write units a second one partition key value takes at most.
pub const HOT_KEY_WRITE_UNITS: f64 = 1000.0;
/// Partition key values whose buckets are remembered at once (about 100
/// bytes each). A full bucket is forgotten (a fresh one is the same); past
/// this, keys not yet tracked go unmetered until some refill, so a flood of
/// distinct keys cannot grow the map without bound. A hot key is hot for
/// seconds, and every other bucket is full again within about a second.
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// Tables whose buckets are kept; past it, tables whose buckets are all
/// full are forgotten (deleted tables' among them).
const MAX_TRACKED_TABLES: usize = 1024;

/// Whether throughput limits are enforced or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Consumed capacity is reported, nothing is throttled (DynamoDB Local's
    /// behaviour, the default).
    #[default]
    Report,
    /// Requests past a table's capacity are throttled as on DynamoDB.
    Enforce,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "report" => Ok(Mode::Report),
            "enforce" => Ok(Mode::Enforce),
            other => Err(format!("capacity mode must be \"report\" or \"enforce\", not {other:?}")),
        }
    }
}

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn word(self) -> &'static str {
        match self {
            Access::Read => "Read",
            Access::Write => "Write",
        }
    }
}

/// The time the buckets run on.
pub trait Clock: Send + Sync {
    fn now(&self) -> Micros;
}

/// The process's monotonic clock.
pub struct WallClock(Instant);

impl Clock for WallClock {
    fn now(&self) -> Micros {
        self.0.elapsed().as_micros() as Micros
    }
}

/// Virtual time, moved by hand (tests).
#[derive(Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn advance(&self, micros: Micros) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a request reads or writes: a table, the index a read goes through
/// (a global index has capacity of its own; a local one uses the table's),
/// and the partition key value it touches, when it touches one.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub def: &'a TableDef,
    pub index: Option<&'a IndexDef>,
    pub partition: Option<&'a Value>,
    /// The item's sort key value, when it names one item of a table with
    /// a sort key (Contributor Insights' per-item rules).
    pub sort: Option<&'a Value>,
}

impl<'a> Target<'a> {
    pub fn table(def: &'a TableDef) -> Self {
        Target { def, index: None, partition: None, sort: None }
    }

    /// The table's item with this key's partition value.
    pub fn item(def: &'a TableDef, key: &'a tidepool_store::value::Item) -> Self {
        Target {
            def,
            index: None,
            partition: key.get(&def.key_schema.hash.name),
            sort: def.key_schema.range.as_ref().and_then(|r| key.get(&r.name)),
        }
    }

    /// The global index a read goes through, if it is one.
    fn gsi(&self) -> Option<&'a IndexDef> {
        self.index.filter(|i| i.kind == IndexKind::Global)
    }
}

/// Why a request was throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A provisioned table's or global index's capacity.
    Provisioned,
    /// An on-demand table's `OnDemandThroughput` maximum.
    MaxOnDemand,
    /// One partition key value's limit.
    KeyRange,
}

/// A throttled request: what was throttled and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttled {
    pub access: Access,
    pub limit: Limit,
    /// The global index throttled, or `None` for the table.
    pub index: Option<String>,
    /// The ARN of the table or index.
    pub resource: String,
    /// Whether the table is provisioned (the exception type depends on it).
    pub provisioned: bool,
}

impl Throttled {
    /// DynamoDB's `ThrottlingReason.reason`: resource, operation, limit.
    pub fn reason(&self) -> String {
        let resource = if self.index.is_some() { "Index" } else { "Table" };
        let limit = match self.limit {
            Limit::Provisioned => "ProvisionedThroughputExceeded",
            Limit::MaxOnDemand => "MaxOnDemandThroughputExceeded",
            Limit::KeyRange => "KeyRangeThroughputExceeded",
        };
        format!("{resource}{}{limit}", self.access.word())
    }

    /// Whether DynamoDB answers `ProvisionedThroughputExceededException`
    /// (provisioned tables) rather than `ThrottlingException`.
    fn provisioned_exception(&self) -> bool {
        self.limit == Limit::Provisioned || (self.limit == Limit::KeyRange && self.provisioned)
    }

    /// The message DynamoDB sends with it.
    pub fn message(&self) -> &'static str {
        match (self.provisioned_exception(), self.limit, self.index.is_some()) {
            (true, Limit::Provisioned, true) => messages::table::INDEX_THROUGHPUT_EXCEEDED,
            (true, _, _) => messages::table::THROUGHPUT_EXCEEDED,
            (false, Limit::MaxOnDemand, _) => messages::table::MAX_ON_DEMAND_EXCEEDED,
            (false, _, _) => messages::table::ON_DEMAND_KEY_RANGE_EXCEEDED,
        }
    }

    /// The code of a transaction's cancellation reason for it.
    pub fn cancellation_code(&self) -> &'static str {
        if self.provisioned_exception() { "ProvisionedThroughputExceeded" } else { "ThrottlingError" }
    }

    /// The error answered for it.
    pub fn into_error(self) -> ApiError {
        let reasons = json!([{"reason": self.reason(), "resource": self.resource}]);
        if self.provisioned_exception() {
            let mut e =
                ApiError::new(StatusCode::BAD_REQUEST, "ProvisionedThroughputExceededException", self.message());
            e.extra.insert("ThrottlingReasons".into(), reasons);
            e
        } else {
            // The SDKs' models spell this exception's member in camel case.
            let mut e = ApiError::new(StatusCode::BAD_REQUEST, "ThrottlingException", self.message());
            e.extra.insert("throttlingReasons".into(), reasons);
            e
        }
    }
}

impl From<Throttled> for ApiError {
    fn from(t: Throttled) -> ApiError {
        t.into_error()
    }
}

/// The settings a table's buckets were made for.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    billing: BillingMode,
    throughput: Option<Throughput>,
    max_read: Option<i64>,
    max_write: Option<i64>,
    gsis: Vec<(String, Option<Throughput>)>,
}

impl Shape {
    fn of(def: &TableDef) -> Shape {
        Shape {
            billing: def.billing_mode,
            throughput: def.throughput,
            max_read: def.settings.max_read_request_units,
            max_write: def.settings.max_write_request_units,
            gsis: def.gsis().map(|i| (i.name.clone(), i.throughput)).collect(),
        }
    }
}

/// A read and a write bucket (either absent when nothing limits it).
#[derive(Debug, Clone, Default)]
struct Pair {
    read: Option<Bucket>,
    write: Option<Bucket>,
}

impl Pair {
    /// A provisioned table's or index's buckets; none when it has no
    /// throughput recorded (an index of a table switched to provisioned
    /// without throughput of its own is not limited).
    fn provisioned(t: Option<Throughput>, now: Micros) -> Pair {
        let Some(t) = t else { return Pair::default() };
        let bucket = |rate: u64| Bucket::full(rate as f64, rate as f64 * BURST_SECONDS, now);
        Pair { read: Some(bucket(t.read)), write: Some(bucket(t.write)) }
    }

    fn on_demand(max_read: Option<i64>, max_write: Option<i64>, now: Micros) -> Pair {
        let bucket = |max: Option<i64>| {
            max.filter(|m| *m > 0).map(|m| Bucket::full(m as f64, m as f64 * ON_DEMAND_MAX_BURST_SECONDS, now))
        };
        Pair { read: bucket(max_read), write: bucket(max_write) }
    }

    fn get(&mut self, access: Access) -> Option<&mut Bucket> {
        match access {
            Access::Read => self.read.as_mut(),
            Access::Write => self.write.as_mut(),
        }
    }

    /// Carries what each bucket holds over to `new` (an UpdateTable).
    fn carry_into(mut self, mut new: Pair, now: Micros) -> Pair {
        for access in [Access::Read, Access::Write] {
            if let (Some(old), Some(b)) = (self.get(access), new.get(access)) {
                let (rate, cap) = (b.rate(), b.capacity());
                let mut kept = old.clone();
                kept.resize(rate, cap, now);
                *b = kept;
            }
        }
        new
    }

    fn is_full(&mut self, now: Micros) -> bool {
        [Access::Read, Access::Write].into_iter().all(|a| self.get(a).is_none_or(|b| b.is_full(now)))
    }
}

/// One table's buckets.
struct TableBuckets {
    shape: Shape,
    table: Pair,
    gsis: HashMap<String, Pair>,
}

impl TableBuckets {
    fn new(shape: Shape, now: Micros) -> TableBuckets {
        let (table, gsis) = match shape.billing {
            BillingMode::Provisioned => (
                Pair::provisioned(shape.throughput, now),
                shape.gsis.iter().map(|(n, t)| (n.clone(), Pair::provisioned(*t, now))).collect(),
            ),
            BillingMode::PayPerRequest => (Pair::on_demand(shape.max_read, shape.max_write, now), HashMap::new()),
        };
        TableBuckets { shape, table, gsis }
    }

    /// Rebuilt for new settings, keeping what the buckets held where the
    /// mode did not change.
    fn reshape(self, shape: Shape, now: Micros) -> TableBuckets {
        let same_mode = self.shape.billing == shape.billing;
        let mut fresh = TableBuckets::new(shape, now);
        if same_mode {
            fresh.table = self.table.carry_into(fresh.table, now);
            let mut old = self.gsis;
            for (name, pair) in fresh.gsis.iter_mut() {
                if let Some(o) = old.remove(name) {
                    *pair = o.carry_into(std::mem::take(pair), now);
                }
            }
        }
        fresh
    }

    fn is_full(&mut self, now: Micros) -> bool {
        self.table.is_full(now) && self.gsis.values_mut().all(|p| p.is_full(now))
    }
}

/// The key of a partition key value's buckets: a hash of the table id, the
/// global index it is a value of (none for the table) and the value's key
/// encoding. 64 bits: two of [`MAX_TRACKED_KEYS`] values share one with a
/// chance of about one in 10^9, and then only share a limit.
type HotKey = u64;

#[derive(Default)]
struct State {
    tables: HashMap<u64, TableBuckets>,
    hot: HashMap<HotKey, Pair>,
}

impl State {
    fn table(&mut self, def: &TableDef, now: Micros) -> &mut TableBuckets {
        let shape = Shape::of(def);
        if !self.tables.contains_key(&def.id) && self.tables.len() >= MAX_TRACKED_TABLES {
            self.tables.retain(|_, t| !t.is_full(now));
        }
        let entry = self.tables.remove(&def.id);
        let buckets = match entry {
            Some(b) if b.shape == shape => b,
            Some(b) => b.reshape(shape, now),
            None => TableBuckets::new(shape, now),
        };
        self.tables.entry(def.id).or_insert(buckets)
    }

    /// The buckets of one partition key value, or `None` when the map is
    /// full of keys still refilling.
    fn hot(&mut self, key: HotKey, now: Micros) -> Option<&mut Pair> {
        if !self.hot.contains_key(&key) && self.hot.len() >= MAX_TRACKED_KEYS {
            self.hot.retain(|_, p| !p.is_full(now));
            if self.hot.len() >= MAX_TRACKED_KEYS {
                return None;
            }
        }
        Some(self.hot.entry(key).or_insert_with(|| Pair {
            read: Some(Bucket::full(HOT_KEY_READ_UNITS, HOT_KEY_READ_UNITS, now)),
            write: Some(Bucket::full(HOT_KEY_WRITE_UNITS, HOT_KEY_WRITE_UNITS, now)),
        }))
    }
}

thread_local! {
    /// Set while the server itself reads or writes on a table's behalf (a
    /// manifest's seed items, the replay of an exactly-once handler's
    /// writes staged and counted before): not the table's traffic, neither
    /// throttled nor counted in the metrics.
    static UNMETERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread's requests are outside capacity and metrics.
pub fn is_unmetered() -> bool {
    UNMETERED.with(std::cell::Cell::get)
}

/// Runs `f` with its requests outside every table's capacity.
pub fn unmetered<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNMETERED.with(|u| u.set(self.0));
        }
    }
    let _restore = Restore(UNMETERED.with(|u| u.replace(true)));
    f()
}

/// The throughput limits of every table, enforced or only reported.
pub struct Limiter {
    region: String,
    default: Mode,
    /// Per-table modes (the manifest's `capacity`), by table name.
    overrides: RwLock<HashMap<String, Mode>>,
    /// Whether any table may be enforced: the report-only default costs a
    /// request one relaxed load.
    any_enforced: AtomicBool,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Where consumed capacity is counted, enforced or not.
    metrics: Arc<crate::metrics::Metrics>,
    /// Keys the hot-key map's hashes (random per server).
    hasher: std::collections::hash_map::RandomState,
}

impl Limiter {
    pub fn new(region: &str, default: Mode, metrics: Arc<crate::metrics::Metrics>) -> Limiter {
        let mut l = Limiter::with_clock(region, default, Arc::new(WallClock(Instant::now())));
        l.metrics = metrics;
        l
    }

    pub fn with_clock(region: &str, default: Mode, clock: Arc<dyn Clock>) -> Limiter {
        Limiter {
            region: region.to_string(),
            default,
            overrides: RwLock::new(HashMap::new()),
            any_enforced: AtomicBool::new(default == Mode::Enforce),
            clock,
            state: Mutex::new(State::default()),
            metrics: Default::default(),
            hasher: Default::default(),
        }
    }

    /// The mode every table without its own has.
    pub fn default_mode(&self) -> Mode {
        self.default
    }

    /// Sets one table's mode (`None`: the server's).
    pub fn set_table_mode(&self, table: &str, mode: Option<Mode>) {
        let mut o = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        match mode {
            Some(m) => drop(o.insert(table.to_string(), m)),
            None => drop(o.remove(table)),
        }
        let any = self.default == Mode::Enforce || o.values().any(|m| *m == Mode::Enforce);
        self.any_enforced.store(any, Ordering::Relaxed);
    }

    /// The mode `table` runs in.
    pub fn mode(&self, table: &str) -> Mode {
        let o = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        o.get(table).copied().unwrap_or(self.default)
    }

    /// Whether requests on `def` are metered at all.
    pub fn enforces(&self, def: &TableDef) -> bool {
        self.any_enforced.load(Ordering::Relaxed)
            && self.mode(&def.name) == Mode::Enforce
            && !UNMETERED.with(std::cell::Cell::get)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arn(&self, def: &TableDef, index: Option<&str>) -> String {
        let table = format!("arn:aws:dynamodb:{}:{}:table/{}", self.region, crate::dynamodb::ACCOUNT_ID, def.name);
        match index {
            Some(i) => format!("{table}/index/{i}"),
            None => table,
        }
    }

    fn throttled(&self, t: &Target<'_>, access: Access, limit: Limit, index: Option<&str>) -> Throttled {
        Throttled {
            access,
            limit,
            index: index.map(str::to_string),
            resource: self.arn(t.def, index),
            provisioned: t.def.billing_mode == BillingMode::Provisioned,
        }
    }

    /// Whether a read or write of `t` may start now. A throttled one is
    /// counted by Contributor Insights.
    pub fn admit(&self, access: Access, t: Target<'_>) -> Result<(), Throttled> {
        let verdict = self.admit_now(access, t);
        if verdict.is_err() {
            self.metrics.insights.record(&t, true);
        }
        verdict
    }

    fn admit_now(&self, access: Access, t: Target<'_>) -> Result<(), Throttled> {
        if !self.enforces(t.def) {
            return Ok(());
        }
        let now = self.clock.now();
        let mut state = self.state();
        let limit = match t.def.billing_mode {
            BillingMode::Provisioned => Limit::Provisioned,
            BillingMode::PayPerRequest => Limit::MaxOnDemand,
        };
        let buckets = state.table(t.def, now);
        match (access, t.gsi()) {
            // A read through a global index uses the index's capacity.
            (Access::Read, Some(gsi)) => {
                if let Some(b) = buckets.gsis.get_mut(&gsi.name).and_then(|p| p.get(access))
                    && !b.admits(now)
                {
                    return Err(self.throttled(&t, access, limit, Some(&gsi.name)));
                }
            }
            _ => {
                if let Some(b) = buckets.table.get(access)
                    && !b.admits(now)
                {
                    return Err(self.throttled(&t, access, limit, None));
                }
            }
        }
        // A write waits for every global index it may have to update.
        if access == Access::Write {
            let mut spent: Vec<String> = buckets
                .gsis
                .iter_mut()
                .filter_map(|(n, p)| p.write.as_mut().is_some_and(|b| !b.admits(now)).then(|| n.clone()))
                .collect();
            spent.sort();
            if let Some(name) = spent.first() {
                return Err(self.throttled(&t, access, limit, Some(name)));
            }
        }
        if let Some(key) = self.hot_key(&t)
            && let Some(p) = state.hot(key, now)
            && let Some(b) = p.get(access)
            && !b.admits(now)
        {
            let index = t.gsi().map(|i| i.name.as_str());
            return Err(self.throttled(&t, access, Limit::KeyRange, index));
        }
        Ok(())
    }

    /// Charges what a request on `t` consumed: `units` of the table (or of
    /// the global index it read through), and `indexes`' units of each
    /// index a write updated (a local index's are the table's). Counted in
    /// the metrics whether enforced or not.
    /// Each access is charged once this way (Contributor Insights counts
    /// it); more of it afterwards with [`Limiter::recharge`].
    pub fn charge(&self, access: Access, t: Target<'_>, units: f64, indexes: &[(String, bool, f64)]) {
        if is_unmetered() {
            return;
        }
        self.metrics.insights.record(&t, false);
        self.recharge(access, t, units, indexes);
    }

    /// Charges more of an access already charged (a batch write's
    /// correction of its estimate).
    pub fn recharge(&self, access: Access, t: Target<'_>, units: f64, indexes: &[(String, bool, f64)]) {
        if is_unmetered() {
            return;
        }
        self.metrics.consumed(&t.def.name, access, units, indexes);
        if !self.enforces(t.def) {
            return;
        }
        let now = self.clock.now();
        let mut state = self.state();
        let buckets = state.table(t.def, now);
        let local: f64 = indexes.iter().filter(|(_, global, _)| !global).map(|(_, _, u)| u).sum();
        let mut key_units = units + local;
        match (access, t.gsi()) {
            (Access::Read, Some(gsi)) => {
                // `units` here are the table's (a local index's
                // reach-back: none for a global one); the index's read is
                // in `indexes`.
                let own: f64 = indexes.iter().filter(|(n, g, _)| *g && *n == gsi.name).map(|(_, _, u)| u).sum();
                if let Some(b) = buckets.gsis.get_mut(&gsi.name).and_then(|p| p.get(access)) {
                    b.charge(own, now);
                }
                key_units = own;
            }
            _ => {
                if let Some(b) = buckets.table.get(access) {
                    b.charge(units + local, now);
                }
                for (name, global, u) in indexes {
                    if *global && let Some(b) = buckets.gsis.get_mut(name).and_then(|p| p.get(access)) {
                        b.charge(*u, now);
                    }
                }
            }
        }
        if let Some(key) = self.hot_key(&t)
            && let Some(p) = state.hot(key, now)
            && let Some(b) = p.get(access)
        {
            b.charge(key_units, now);
        }
    }

    /// The hot-key entry of the partition value `t` touches.
    fn hot_key(&self, t: &Target<'_>) -> Option<HotKey> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let value = t.partition?;
        let mut bytes = Vec::with_capacity(32);
        encode_key_component(value, &mut bytes);
        let mut h = self.hasher.build_hasher();
        t.def.id.hash(&mut h);
        t.gsi().map(|i| i.id).hash(&mut h);
        bytes.hash(&mut h);
        Some(h.finish())
    }

    /// Whether any table may be enforced now: the cheap test before work
    /// done only for metering.
    pub fn any(&self) -> bool {
        self.any_enforced.load(Ordering::Relaxed) && !UNMETERED.with(std::cell::Cell::get)
    }

    /// Whether requests should name the keys they touch: a table may be
    /// enforced (per-key limits) or Contributor Insights is on somewhere.
    pub fn wants_keys(&self) -> bool {
        (self.any_enforced.load(Ordering::Relaxed) || self.metrics.insights.any())
            && !UNMETERED.with(std::cell::Cell::get)
    }
}

#[cfg(test)]
mod tests;
