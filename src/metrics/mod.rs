//! Metrics: what CloudWatch would show for DynamoDB and Lambda, counted as
//! the server works and served at `GET /metrics` in the Prometheus text
//! format ([`render`]).
//!
//! Names are CloudWatch's, as the Prometheus CloudWatch exporter maps them:
//! `aws_<namespace>_<metric in snake case>`, with the metric's CloudWatch
//! dimensions as labels in snake case. A CloudWatch `Sum` is a Prometheus
//! counter since the server started (`ConsumedReadCapacityUnits` by
//! `TableName` is `aws_dynamodb_consumed_read_capacity_units_total{table_name="…"}`),
//! a latency or duration a summary in milliseconds (`_sum` and `_count`:
//! CloudWatch's `Average` is their ratio), and `ConcurrentExecutions` and
//! `IteratorAge` gauges of the moment.
//!
//! Recording costs a request a look in its thread's cache of the tables it
//! counted last and a few atomic additions (BENCHMARKS.md).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::capacity::Access;

pub mod history;

/// The DynamoDB operations CloudWatch reports per table and operation.
pub const DATA_OPERATIONS: [&str; 13] = [
    "BatchExecuteStatement",
    "BatchGetItem",
    "BatchWriteItem",
    "DeleteItem",
    "ExecuteStatement",
    "ExecuteTransaction",
    "GetItem",
    "PutItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "TransactWriteItems",
    "UpdateItem",
];

/// Tables (by name) whose metrics are kept; past it a new name is not
/// recorded (a server holds far fewer tables, and only existing tables'
/// names are recorded, so this bounds only churn of many short-lived
/// tables).
pub const MAX_METERED_TABLES: usize = 10_000;
/// Functions whose metrics are kept, likewise.
pub const MAX_METERED_FUNCTIONS: usize = 10_000;

/// One operation's counters on one table.
#[derive(Default)]
struct OpMetrics {
    successes: AtomicU64,
    latency_us: AtomicU64,
    returned_items: AtomicU64,
    throttled: AtomicU64,
    system_errors: AtomicU64,
    condition_failed: AtomicU64,
}

/// One table's counters. Capacity is counted in half units (an eventually
/// consistent read of 4 KB is half a unit; every charge is a multiple).
#[derive(Default)]
pub struct TableMetrics {
    read_half_units: AtomicU64,
    write_half_units: AtomicU64,
    /// Per global index: read and write half units.
    indexes: Mutex<BTreeMap<String, [u64; 2]>>,
    ops: [OpMetrics; DATA_OPERATIONS.len()],
    /// What the table moved, by [`Moved`].
    moved: [AtomicU64; 4],
}

/// What a table moved besides its requests, for the cost meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// DynamoDB Streams read request units: GetRecords calls through the
    /// Streams API (a trigger's reads are free, as Lambda's are).
    StreamReads = 0,
    /// Bytes restored into the table (from a backup or a point in time).
    Restored = 1,
    /// Bytes of the table exported.
    Exported = 2,
    /// Bytes of source data imported into the table.
    Imported = 3,
}

impl TableMetrics {
    /// Read and write capacity units consumed by the table (its global
    /// indexes apart).
    pub fn consumed(&self) -> (f64, f64) {
        (
            self.read_half_units.load(Ordering::Relaxed) as f64 / 2.0,
            self.write_half_units.load(Ordering::Relaxed) as f64 / 2.0,
        )
    }

    /// What the table moved of `what` (units or bytes).
    pub fn moved(&self, what: Moved) -> u64 {
        self.moved[what as usize].load(Ordering::Relaxed)
    }

    /// Read and write units consumed by each global index.
    pub fn index_consumed(&self) -> Vec<(String, f64, f64)> {
        let idx = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        idx.iter().map(|(n, [r, w])| (n.clone(), *r as f64 / 2.0, *w as f64 / 2.0)).collect()
    }
}

/// A thread's cached table counters: the metrics' id, their generation
/// when cached, the table's name, its counters.
type Cached = (u64, u64, String, Arc<TableMetrics>);

/// One function's counters.
#[derive(Default)]
pub struct FunctionMetrics {
    invocations: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
    duration_us: AtomicU64,
    billed_ms: AtomicU64,
    /// Billed milliseconds times memory in MB: Lambda's GB-seconds × 1,024,000.
    mb_ms: AtomicU64,
    running: AtomicU64,
}

impl FunctionMetrics {
    /// Invocations, and their billed GB-seconds.
    pub fn usage(&self) -> (u64, f64) {
        (self.invocations.load(Ordering::Relaxed), self.mb_ms.load(Ordering::Relaxed) as f64 / 1024.0 / 1000.0)
    }
}

/// Every counter of a server.
pub struct Metrics {
    /// When counting started (epoch seconds): the server's start.
    started: f64,
    /// Bumped when a table's counters are forgotten (threads' caches).
    generation: AtomicU64,
    /// This server's metrics among others of the process (threads' caches
    /// tell them apart; an address may be reused by a later server).
    id: u64,
    tables: RwLock<HashMap<String, Arc<TableMetrics>>>,
    functions: RwLock<HashMap<String, Arc<FunctionMetrics>>>,
    user_errors: AtomicU64,
    /// Contributor Insights' counters (the keys accessed and throttled).
    pub insights: crate::insights::Collector,
    /// The counters over time ([`history`]).
    pub history: history::History,
}

impl Default for Metrics {
    fn default() -> Self {
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Metrics {
            started,
            generation: AtomicU64::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tables: Default::default(),
            functions: Default::default(),
            user_errors: Default::default(),
            insights: Default::default(),
            history: history::History::new(started),
        }
    }
}

fn half_units(units: f64) -> u64 {
    (units * 2.0).round().max(0.0) as u64
}

fn op_index(op: &str) -> Option<usize> {
    DATA_OPERATIONS.binary_search(&op).ok()
}

impl Metrics {
    /// When counting started, epoch seconds.
    pub fn started(&self) -> f64 {
        self.started
    }

    /// The counters of table `name`, made on first use (`None` past
    /// [`MAX_METERED_TABLES`]).
    pub fn table(&self, name: &str) -> Option<Arc<TableMetrics>> {
        counters(&self.tables, name, MAX_METERED_TABLES)
    }

    /// The counters of table `name`, if it has any.
    pub fn table_if_counted(&self, name: &str) -> Option<Arc<TableMetrics>> {
        self.tables.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// The counters of function `name`, if it has any.
    pub fn function_if_counted(&self, name: &str) -> Option<Arc<FunctionMetrics>> {
        self.functions.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Runs `f` on table `name`'s counters, found through this thread's
    /// cache of the last few tables it counted: the request path takes no
    /// lock and touches no shared reference count in the common case. A
    /// forgotten table bumps [`Metrics::generation`], which empties every
    /// cache at its next use.
    fn with_table(&self, name: &str, f: impl FnOnce(&TableMetrics)) {
        thread_local! {
            static CACHE: std::cell::RefCell<Vec<Cached>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        /// Tables a thread keeps at hand.
        const CACHED: usize = 8;
        let me = self.id;
        let generation = self.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|(m, g, _, _)| *m != me || *g == generation);
            if let Some((_, _, _, t)) = c.iter().find(|(m, _, n, _)| *m == me && n == name)
                && let Some(f) = f.take()
            {
                f(t);
            }
        });
        let Some(f) = f else { return };
        let Some(t) = self.table(name) else { return };
        f(&t);
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CACHED {
                c.remove(0);
            }
            c.push((me, generation, name.to_string(), t));
        });
    }

    /// Forgets a deleted table's counters (so churn of tables does not
    /// fill [`MAX_METERED_TABLES`]).
    pub fn forget_table(&self, name: &str) {
        self.tables.write().unwrap_or_else(|e| e.into_inner()).remove(name);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets a deleted function's counters.
    pub fn forget_function(&self, name: &str) {
        self.functions.write().unwrap_or_else(|e| e.into_inner()).remove(name);
    }

    /// A 4xx answered before an operation ran (a refused authorization).
    pub fn user_error(&self) {
        self.user_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The tables with counters.
    pub fn tables(&self) -> Vec<(String, Arc<TableMetrics>)> {
        sorted(&self.tables)
    }

    /// Capacity consumed on `table`: `units` of the table itself, and of
    /// each index (`global` ones counted apart; a local index's are the
    /// table's, as CloudWatch reports them).
    /// Counts `n` of `what` for `table` (whether it exists is the caller's
    /// to know).
    pub fn moved(&self, table: &str, what: Moved, n: u64) {
        if let Some(t) = self.table(table) {
            t.moved[what as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn consumed(&self, table: &str, access: Access, units: f64, indexes: &[(String, bool, f64)]) {
        self.with_table(table, |t| Self::count_consumed(t, access, units, indexes));
    }

    fn count_consumed(t: &TableMetrics, access: Access, units: f64, indexes: &[(String, bool, f64)]) {
        let local: f64 = indexes.iter().filter(|(_, g, _)| !g).map(|(_, _, u)| u).sum();
        let counter = match access {
            Access::Read => &t.read_half_units,
            Access::Write => &t.write_half_units,
        };
        counter.fetch_add(half_units(units + local), Ordering::Relaxed);
        if indexes.iter().any(|(_, g, _)| *g) {
            let mut idx = t.indexes.lock().unwrap_or_else(|e| e.into_inner());
            for (name, _, u) in indexes.iter().filter(|(_, g, _)| *g) {
                let slot = match idx.get_mut(name) {
                    Some(slot) => slot,
                    None => idx.entry(name.clone()).or_default(),
                };
                slot[usize::from(access == Access::Write)] += half_units(*u);
            }
        }
    }

    /// Items a Query or Scan returned.
    pub fn returned(&self, table: &str, op: &str, items: usize) {
        if crate::capacity::is_unmetered() {
            return;
        }
        if let Some(i) = op_index(op) {
            self.with_table(table, |t| {
                t.ops[i].returned_items.fetch_add(items as u64, Ordering::Relaxed);
            });
        }
    }

    /// One DynamoDB request's outcome: its tables (that exist), whether it
    /// succeeded, was throttled, or failed on the client's side (a 4xx) or
    /// the server's.
    pub fn request(&self, op: &str, tables: &[&str], outcome: Outcome, took: Duration) {
        if crate::capacity::is_unmetered() {
            return;
        }
        if outcome == Outcome::UserError {
            // CloudWatch's UserErrors is the account's, without dimensions.
            self.user_errors.fetch_add(1, Ordering::Relaxed);
        }
        let Some(i) = op_index(op) else { return };
        for name in tables {
            self.with_table(name, |t| {
                let m = &t.ops[i];
                match outcome {
                    Outcome::Success => {
                        m.successes.fetch_add(1, Ordering::Relaxed);
                        m.latency_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                    }
                    Outcome::Throttled => {
                        m.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::ConditionFailed => {
                        m.condition_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::SystemError => {
                        m.system_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::UserError => {}
                }
            });
        }
    }

    /// The counters of function `name`, made on first use.
    pub fn function(&self, name: &str) -> Option<Arc<FunctionMetrics>> {
        counters(&self.functions, name, MAX_METERED_FUNCTIONS)
    }

    /// The functions with counters.
    pub fn functions(&self) -> Vec<(String, Arc<FunctionMetrics>)> {
        sorted(&self.functions)
    }

    /// One finished invocation of `function`.
    pub fn invoked(&self, function: &str, inv: &tidepool_runtime::Invocation) {
        let Some(f) = self.function(function) else { return };
        f.invocations.fetch_add(1, Ordering::Relaxed);
        if inv.result.is_err() {
            f.errors.fetch_add(1, Ordering::Relaxed);
        }
        f.duration_us.fetch_add(inv.duration.as_micros() as u64, Ordering::Relaxed);
        f.billed_ms.fetch_add(inv.billed_duration_ms, Ordering::Relaxed);
        f.mb_ms.fetch_add(inv.billed_duration_ms * u64::from(inv.memory_size_mb), Ordering::Relaxed);
    }

    /// An invocation of `function` refused for want of concurrency.
    pub fn throttled(&self, function: &str) {
        if let Some(f) = self.function(function) {
            f.throttles.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an invocation of `function` as running until the guard drops.
    pub fn running(&self, function: &str) -> Running {
        let f = self.function(function);
        if let Some(f) = &f {
            f.running.fetch_add(1, Ordering::Relaxed);
        }
        Running(f)
    }
}

/// An invocation counted in `ConcurrentExecutions` while it lives.
pub struct Running(Option<Arc<FunctionMetrics>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            f.running.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The counters of `name` in `map`, made on first use unless `map` holds
/// `max` names already.
fn counters<T: Default>(map: &RwLock<HashMap<String, Arc<T>>>, name: &str, max: usize) -> Option<Arc<T>> {
    if let Some(c) = map.read().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Some(c.clone());
    }
    let mut all = map.write().unwrap_or_else(|e| e.into_inner());
    if !all.contains_key(name) && all.len() >= max {
        return None;
    }
    Some(all.entry(name.to_string()).or_default().clone())
}

/// Every entry of `map`, by name.
fn sorted<T>(map: &RwLock<HashMap<String, Arc<T>>>) -> Vec<(String, Arc<T>)> {
    let all = map.read().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<_> = all.iter().map(|(n, m)| (n.clone(), m.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// How a request ended, as CloudWatch counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Throttled,
    /// A condition that did not hold (`ConditionalCheckFailedException`, a
    /// cancelled transaction): a 400 CloudWatch counts apart from
    /// `UserErrors`.
    ConditionFailed,
    UserError,
    SystemError,
}

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn serve(
    axum::extract::State(app): axum::extract::State<Arc<crate::dynamodb::App>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut ages: BTreeMap<String, u64> = BTreeMap::new();
    let mut leases = String::new();
    if let Some(lambda) = app.lambda.get() {
        for m in lambda.mappings(None, None) {
            let age = lambda.engine.metrics(&m.uuid).map_or(0, |x| x.total.iterator_age_ms);
            let name = m.function_name.split(':').next().unwrap_or_default().to_string();
            // A mapping's function has its series before its first
            // invocation: its iterator age grows while its source cannot
            // be read, invoked yet or not.
            let _ = app.metrics.function(&name);
            let slot = ages.entry(name).or_default();
            *slot = (*slot).max(age);
            if let Some(l) = lambda.engine.leases(&m.uuid) {
                if leases.is_empty() {
                    family(
                        &mut leases,
                        "tidepool_worker_leases_held",
                        "gauge",
                        "Shards whose leases this worker holds, by event source mapping (a worker of a fleet)",
                    );
                }
                let _ = writeln!(
                    leases,
                    "tidepool_worker_leases_held{{uuid=\"{}\",function_name=\"{}\"}} {}",
                    label(&m.uuid),
                    label(m.function_name.split(':').next().unwrap_or_default()),
                    l.held().len()
                );
            }
        }
    }
    let app2 = app.clone();
    let cost = tokio::task::spawn_blocking(move || crate::cost::prometheus(&app2)).await.unwrap_or_default();
    let body = render(&app.metrics, &ages, &format!("{cost}{leases}"));
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// A label value escaped for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes one metric family's header: a counter's names its samples
/// (`…_total`), as the text format 0.0.4 has it.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let suffix = if kind == "counter" { "_total" } else { "" };
    let _ = writeln!(out, "# HELP {name}{suffix} {help}");
    let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
}

/// The Prometheus text of every metric: DynamoDB's by table (and index or
/// operation), Lambda's by function with `iterator_ages` (each function's
/// oldest mapping backlog, milliseconds), and `extra` families appended
/// as they are (the cost meter's).
pub fn render(m: &Metrics, iterator_ages: &BTreeMap<String, u64>, extra: &str) -> String {
    let mut out = String::with_capacity(4096);
    let tables = m.tables();
    for (metric, access, help) in [
        (
            "aws_dynamodb_consumed_read_capacity_units",
            Access::Read,
            "ConsumedReadCapacityUnits: read capacity units consumed (Sum), by TableName and GlobalSecondaryIndexName",
        ),
        (
            "aws_dynamodb_consumed_write_capacity_units",
            Access::Write,
            "ConsumedWriteCapacityUnits: write capacity units consumed (Sum), by TableName and GlobalSecondaryIndexName",
        ),
    ] {
        family(&mut out, metric, "counter", help);
        for (name, t) in &tables {
            let (r, w) = t.consumed();
            let v = if access == Access::Read { r } else { w };
            let _ = writeln!(out, "{metric}_total{{table_name=\"{}\"}} {v}", label(name));
            for (index, r, w) in t.index_consumed() {
                let v = if access == Access::Read { r } else { w };
                let _ = writeln!(
                    out,
                    "{metric}_total{{table_name=\"{}\",global_secondary_index_name=\"{}\"}} {v}",
                    label(name),
                    label(&index)
                );
            }
        }
    }
    let per_op = |out: &mut String, metric: &str, help: &str, value: &dyn Fn(&OpMetrics) -> u64| {
        family(out, metric, "counter", help);
        for (name, t) in &tables {
            for (i, op) in DATA_OPERATIONS.iter().enumerate() {
                let v = value(&t.ops[i]);
                if v > 0 {
                    let _ = writeln!(out, "{metric}_total{{table_name=\"{}\",operation=\"{op}\"}} {v}", label(name));
                }
            }
        }
    };
    per_op(
        &mut out,
        "aws_dynamodb_throttled_requests",
        "ThrottledRequests: requests throttled by capacity (Sum), by TableName and Operation",
        &|o| o.throttled.load(Ordering::Relaxed),
    );
    per_op(
        &mut out,
        "aws_dynamodb_returned_item_count",
        "ReturnedItemCount: items returned by Query and Scan (Sum), by TableName and Operation",
        &|o| o.returned_items.load(Ordering::Relaxed),
    );
    per_op(
        &mut out,
        "aws_dynamodb_system_errors",
        "SystemErrors: requests answered with a 5xx (Sum), by TableName and Operation",
        &|o| o.system_errors.load(Ordering::Relaxed),
    );
    let metric = "aws_dynamodb_successful_request_latency";
    family(
        &mut out,
        metric,
        "summary",
        "SuccessfulRequestLatency: milliseconds of successful requests (Sum and SampleCount), by TableName and Operation",
    );
    for (name, t) in &tables {
        for (i, op) in DATA_OPERATIONS.iter().enumerate() {
            let o = &t.ops[i];
            let n = o.successes.load(Ordering::Relaxed);
            if n > 0 {
                let ms = o.latency_us.load(Ordering::Relaxed) as f64 / 1000.0;
                let labels = format!("table_name=\"{}\",operation=\"{op}\"", label(name));
                let _ = writeln!(out, "{metric}_sum{{{labels}}} {ms}");
                let _ = writeln!(out, "{metric}_count{{{labels}}} {n}");
            }
        }
    }
    let metric = "aws_dynamodb_conditional_check_failed_requests";
    family(
        &mut out,
        metric,
        "counter",
        "ConditionalCheckFailedRequests: writes whose condition did not hold (Sum), by TableName",
    );
    for (name, t) in &tables {
        let v: u64 = t.ops.iter().map(|o| o.condition_failed.load(Ordering::Relaxed)).sum();
        let _ = writeln!(out, "{metric}_total{{table_name=\"{}\"}} {v}", label(name));
    }
    family(
        &mut out,
        "aws_dynamodb_user_errors",
        "counter",
        "UserErrors: requests answered with a 4xx other than throttling (Sum), for the account",
    );
    let _ = writeln!(out, "aws_dynamodb_user_errors_total {}", m.user_errors.load(Ordering::Relaxed));

    let functions = m.functions();
    let per_function =
        |out: &mut String, metric: &str, kind: &str, help: &str, value: &dyn Fn(&str, &FunctionMetrics) -> String| {
            family(out, metric, kind, help);
            let suffix = if kind == "counter" { "_total" } else { "" };
            for (name, f) in &functions {
                let _ = writeln!(out, "{metric}{suffix}{{function_name=\"{}\"}} {}", label(name), value(name, f));
            }
        };
    per_function(&mut out, "aws_lambda_invocations", "counter", "Invocations (Sum), by FunctionName", &|_, f| {
        f.invocations.load(Ordering::Relaxed).to_string()
    });
    per_function(
        &mut out,
        "aws_lambda_errors",
        "counter",
        "Errors: invocations that ended in a function error (Sum), by FunctionName",
        &|_, f| f.errors.load(Ordering::Relaxed).to_string(),
    );
    per_function(
        &mut out,
        "aws_lambda_throttles",
        "counter",
        "Throttles: invocations refused for want of concurrency (Sum), by FunctionName",
        &|_, f| f.throttles.load(Ordering::Relaxed).to_string(),
    );
    per_function(
        &mut out,
        "aws_lambda_concurrent_executions",
        "gauge",
        "ConcurrentExecutions: invocations running now, by FunctionName",
        &|_, f| f.running.load(Ordering::Relaxed).to_string(),
    );
    per_function(
        &mut out,
        "aws_lambda_iterator_age",
        "gauge",
        "IteratorAge: milliseconds from the last record read by a stream mapping to its write, growing while its source cannot be read (Maximum), by FunctionName",
        &|name, _| iterator_ages.get(name).copied().unwrap_or(0).to_string(),
    );
    let metric = "aws_lambda_duration";
    family(&mut out, metric, "summary", "Duration: milliseconds of invocations (Sum and SampleCount), by FunctionName");
    for (name, f) in &functions {
        let labels = format!("function_name=\"{}\"", label(name));
        let ms = f.duration_us.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "{metric}_sum{{{labels}}} {ms}");
        let _ = writeln!(out, "{metric}_count{{{labels}}} {}", f.invocations.load(Ordering::Relaxed));
    }
    out.push_str(extra);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_sorted_for_lookup() {
        let mut sorted = DATA_OPERATIONS;
        sorted.sort_unstable();
        assert_eq!(sorted, DATA_OPERATIONS);
        assert_eq!(op_index("PutItem"), Some(7));
        assert_eq!(op_index("CreateTable"), None);
    }

    #[test]
    fn half_units_add_up_and_labels_escape() {
        let m = Metrics::default();
        m.consumed("t", Access::Read, 0.5, &[]);
        m.consumed("t", Access::Read, 1.5, &[("lsi".into(), false, 1.0), ("gsi".into(), true, 2.0)]);
        let t = m.table("t").expect("table");
        assert_eq!(t.consumed(), (3.0, 0.0));
        assert_eq!(t.index_consumed(), vec![("gsi".to_string(), 2.0, 0.0)]);
        assert_eq!(label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
