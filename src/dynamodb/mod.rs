//! The DynamoDB JSON 1.0 protocol: `POST /` with
//! `X-Amz-Target: DynamoDB_20120810.<Operation>`.

pub(crate) mod access;
pub(crate) mod arn;
pub mod attr;
mod attr_text;
pub(crate) mod backup;
mod batch;
pub(crate) mod control;
pub mod error;
pub mod export;
mod expr;
pub mod import;
mod ion;
mod items;
mod layer;
mod legacy;
pub(crate) mod partiql;
mod pitr;
pub(crate) mod policy;
mod read;
pub(crate) mod request;
pub(crate) mod shapes;
pub mod sizes;
mod transact;
mod validate;
pub(crate) mod vector;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};
use tidepool_store::messages;
use tidepool_store::value::Item;
use tidepool_store::{Decision, Durability, Origin, Store, Unit, WriteOp, WriteOutcome};

use error::{ApiError, ApiResult, CONTENT_TYPE};
use request::Req;

/// The account id in every ARN, as DynamoDB Local uses.
pub const ACCOUNT_ID: &str = "000000000000";
/// DynamoDB refuses requests over 16 MB.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// DynamoDB and Streams request bodies held at once (sixteen requests at
/// [`MAX_REQUEST_BYTES`]): a body is held from its first byte until its
/// answer is written, with its parsed form beside it, so without a bound
/// many large concurrent requests could take gigabytes. A request past it
/// gets `ThrottlingException`, which the AWS SDKs retry with backoff.
pub const MAX_REQUEST_BODIES_IN_FLIGHT_BYTES: usize = 16 * MAX_REQUEST_BYTES;
/// Requests that declare a body this small are read outside that budget:
/// nearly all of DynamoDB's traffic, which clients holding the budget with
/// large bodies that never come must not throttle. Their memory is bounded
/// by the connection limit times this.
pub const SMALL_REQUEST_BYTES: usize = 64 * 1024;
/// DynamoDB writes run at once on blocking threads, in buffered mode:
/// twice the cores. A write is CPU work plus a memory copy into the
/// journal's buffer, so more at once adds no throughput; it adds runnable
/// threads that a read on an async worker waits behind (on 2 cores, 16
/// concurrent writers put a second client's GetItem p99 at 7 to 27 ms), and
/// during fjall's write stall every one of them is a parked thread. The
/// others wait their turn without a thread.
pub const MAX_CONCURRENT_WRITES_BUFFERED_PER_CORE: usize = 2;
/// In sync mode a write mostly waits for the shared fsync, and the more
/// writers wait on one, the more each fsync covers: a larger bound.
pub const MAX_CONCURRENT_WRITES_SYNC: usize = 64;
/// How long DynamoDB refuses another change of a table's resource-based
/// policy (and, apart, of its stream's) or of its deletion protection after
/// one: 15 s, with `ThrottlingException` naming when to try again
/// (`--setting-cooldown-ms` shortens it, for tests that change them in a
/// row).
pub const SETTING_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(15);
/// How long DynamoDB refuses another UpdateTimeToLive of a table after one
/// changed it: "any additional UpdateTimeToLive calls for the same table
/// during this one hour duration result in a ValidationException" (the API
/// reference; the live service was measured letting one through after
/// about 31 minutes, DDB-TABLE-143). `--ttl-cooldown-secs` changes it (0:
/// none, for tests that switch TTL on and off).
pub const TTL_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(3600);
/// The API name in `X-Amz-Target: DynamoDB_20120810.<Operation>`.
const TARGET_API: &str = "DynamoDB_20120810";

/// Shared server state.
pub struct App {
    pub store: Store,
    pub region: String,
    pub durability: Durability,
    pub(crate) tokens: transact::TokenCache,
    /// ClientRequestTokens of ExecuteTransaction, kept apart from
    /// TransactWriteItems' as DynamoDB keeps them.
    pub(crate) partiql_tokens: transact::TokenCache,
    pub(crate) streams: crate::streams::StreamsApi,
    /// Functions and triggers; set once at start, after the state exists
    /// (guests call back into it).
    pub lambda: std::sync::OnceLock<crate::lambda::Lambda>,
    /// Request bodies held now ([`MAX_REQUEST_BODIES_IN_FLIGHT_BYTES`]).
    pub bodies: Arc<crate::lambda::budget::ByteBudget>,
    /// Writes running on blocking threads ([`MAX_CONCURRENT_WRITES_SYNC`],
    /// [`MAX_CONCURRENT_WRITES_BUFFERED_PER_CORE`]).
    writers: Arc<tokio::sync::Semaphore>,
    /// Where "S3 buckets" are (`--s3-dir`): exports are written to and
    /// imports read from `<s3_dir>/<bucket>/<key>`.
    pub s3_dir: std::path::PathBuf,
    /// Authentication (`--auth`); `None` accepts any credentials.
    pub auth: Option<Arc<crate::http::auth::Auth>>,
    /// Tables' throughput limits (`--capacity`).
    pub capacity: crate::capacity::Limiter,
    /// What CloudWatch would show (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The price table of the cost meter (`--prices`).
    pub prices: crate::cost::Prices,
    /// Application Auto Scaling's activities and controller state.
    pub(crate) autoscaling: crate::autoscaling::AutoScaling,
    /// Secondary indexes' last counts (`sizes`).
    pub index_sizes: sizes::IndexSizes,
    /// The cost meter's accruals (`cost::meter`).
    pub meter: crate::cost::meter::Meter,
    /// Handlers' writes by request id, for traces (`crate::trace`).
    pub traces: crate::trace::Writes,
    /// Peer regions and replication state (`crate::global_tables`).
    pub global: crate::global_tables::GlobalTables,
    /// Tables' resource policies, parsed once (`policy::governing`).
    pub(crate) parsed_policies: policy::ParsedPolicies,
    /// [`SETTING_COOLDOWN`], or `--setting-cooldown-ms`.
    pub setting_cooldown: std::time::Duration,
    /// [`TTL_COOLDOWN`], or `--ttl-cooldown-secs`.
    pub ttl_cooldown: std::time::Duration,
}

/// A time (epoch seconds) as DynamoDB shows it: to the millisecond. The
/// store keeps some to the microsecond (a table's creation, a deletion's
/// time, which bound point-in-time recovery's window exactly).
pub(crate) fn epoch_ms(secs: f64) -> f64 {
    (secs * 1000.0).floor() / 1000.0
}

impl App {
    /// When a setting last changed at `last_ms` (epoch milliseconds) may
    /// change again, if that is still to come ([`SETTING_COOLDOWN`]).
    pub(crate) fn cooling_until(&self, last_ms: u64) -> Option<u64> {
        // None at all when switched off (a revision id may run a
        // millisecond or two ahead of the clock).
        if self.setting_cooldown.is_zero() {
            return None;
        }
        let until = last_ms.saturating_add(self.setting_cooldown.as_millis() as u64);
        (tidepool_store::now_ms() < until).then_some(until)
    }
}

impl App {
    /// `iterator_lifetime` is how long a stream shard iterator stays valid
    /// ([`crate::streams::ITERATOR_LIFETIME`] on AWS).
    pub fn new(
        store: Store,
        region: String,
        durability: Durability,
        iterator_lifetime: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let streams = crate::streams::StreamsApi::new(&store, iterator_lifetime)?;
        let s3_dir = store.path().join(DEFAULT_S3_DIR);
        let metrics = Arc::new(crate::metrics::Metrics::default());
        // A witness copy kept from before a restart is hidden from the first
        // request (`global_tables::witness`).
        let global = crate::global_tables::GlobalTables::default();
        let (names, _) = store.list_tables(None, usize::MAX);
        if names.iter().any(|n| store.describe_table(n).is_ok_and(|t| t.def.settings.witness_copy)) {
            global.hosts_witness.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(App {
            store,
            s3_dir,
            auth: None,
            capacity: crate::capacity::Limiter::new(&region, crate::capacity::Mode::Report, metrics.clone()),
            metrics,
            prices: crate::cost::Prices::shipped(),
            autoscaling: Default::default(),
            index_sizes: Default::default(),
            meter: Default::default(),
            traces: Default::default(),
            global,
            parsed_policies: Default::default(),
            setting_cooldown: SETTING_COOLDOWN,
            ttl_cooldown: TTL_COOLDOWN,
            region,
            durability,
            tokens: Default::default(),
            partiql_tokens: Default::default(),
            streams,
            lambda: Default::default(),
            bodies: crate::lambda::budget::ByteBudget::new(MAX_REQUEST_BODIES_IN_FLIGHT_BYTES),
            writers: Arc::new(tokio::sync::Semaphore::new(match durability {
                Durability::Sync => MAX_CONCURRENT_WRITES_SYNC,
                Durability::Buffered { .. } => {
                    let cores = std::thread::available_parallelism().map_or(2, usize::from);
                    MAX_CONCURRENT_WRITES_BUFFERED_PER_CORE * cores
                }
            })),
        })
    }
}

thread_local! {
    /// Who the current request writes for; see [`with_origin`].
    static ORIGIN: std::cell::Cell<Origin> = const { std::cell::Cell::new(Origin { ttl: false, depth: 0, replicated: None }) };
}

/// Runs `f` with its writes attributed to `origin` (a trigger's writes carry
/// the depth of the chain that led to them into their stream records).
pub fn with_origin<T>(origin: Origin, f: impl FnOnce() -> T) -> T {
    let before = ORIGIN.with(|o| o.replace(origin));
    let out = f();
    ORIGIN.with(|o| o.set(before));
    out
}

thread_local! {
    /// Where the current request's item writes go instead of the store: a
    /// unit of work (an exactly-once handler's deferred writes); see
    /// [`with_unit`].
    static UNIT: std::cell::RefCell<Option<Unit>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with its item writes staged in `unit` (checked against the
/// committed items and the unit's earlier writes) rather than committed.
pub fn with_unit<T>(unit: &mut Unit, f: impl FnOnce() -> T) -> T {
    /// Puts the thread's previous unit back even if `f` panics, so a
    /// panic never leaves later writes of this thread staged and lost.
    struct Restore<'a> {
        unit: &'a mut Unit,
        before: Option<Unit>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.unit = UNIT.with(|u| u.replace(self.before.take())).unwrap_or_default();
        }
    }
    let before = UNIT.with(|u| u.replace(Some(std::mem::take(unit))));
    let _restore = Restore { unit, before };
    f()
}

/// Whether the current request's writes are staged in a unit of work (so
/// it must not remember idempotency tokens: nothing is committed yet).
pub(crate) fn staging() -> bool {
    UNIT.with(|u| u.borrow().is_some())
}

impl App {
    /// [`Store::write`] on behalf of the current origin.
    pub(crate) fn write(
        &self,
        table: &str,
        key: &Item,
        decide: impl FnOnce(Option<&Item>) -> tidepool_store::error::Result<Decision>,
    ) -> tidepool_store::error::Result<WriteOutcome> {
        let op = WriteOp { table: table.to_string(), key: key.clone(), decide: Box::new(decide) };
        let mut out = self.write_many(vec![op], false)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// [`App::write`] of one item of `def`, within the table's capacity
    /// when it is enforced ([`crate::capacity`]): admitted first, charged
    /// what it consumed after. A write whose condition fails consumes the
    /// units of the item it found (at least one), as on DynamoDB.
    pub(crate) fn metered_write(
        &self,
        def: &tidepool_store::table::TableDef,
        key: &Item,
        decide: impl FnOnce(Option<&Item>) -> tidepool_store::error::Result<Decision>,
    ) -> ApiResult<WriteOutcome> {
        Ok(self.metered_write_raw(def, key, decide)??)
    }

    /// [`App::metered_write`] with the store's own error: the outer error
    /// is the throttling, the inner the write's.
    pub(crate) fn metered_write_raw(
        &self,
        def: &tidepool_store::table::TableDef,
        key: &Item,
        decide: impl FnOnce(Option<&Item>) -> tidepool_store::error::Result<Decision>,
    ) -> ApiResult<tidepool_store::error::Result<WriteOutcome>> {
        use crate::capacity::{Access, Target};
        let target = Target::item(def, key);
        self.capacity.admit(Access::Write, target)?;
        let found = std::cell::Cell::new(0usize);
        let result = self.write(&def.name, key, |cur| {
            let decided = decide(cur);
            // Measured only when the condition failed: this runs under the
            // store's write lock.
            if matches!(decided, Err(tidepool_store::StoreError::ConditionalCheckFailed { .. })) {
                found.set(cur.map_or(0, tidepool_store::value::item_size));
            }
            decided
        });
        match &result {
            Ok(out) => {
                let (units, indexes) = items::write_capacity(def, out);
                self.capacity.charge(Access::Write, target, units, &indexes);
            }
            Err(tidepool_store::StoreError::ConditionalCheckFailed { .. }) => {
                self.capacity.charge(Access::Write, target, expr::write_units(found.get()), &[]);
            }
            Err(_) => {}
        }
        Ok(result)
    }

    /// [`Store::write_many`] on behalf of the current origin.
    pub(crate) fn write_many(
        &self,
        ops: Vec<WriteOp<'_>>,
        transaction: bool,
    ) -> tidepool_store::error::Result<Vec<WriteOutcome>> {
        let origin = ORIGIN.with(|o| o.get());
        match UNIT.with(|u| u.borrow_mut().take()) {
            Some(mut unit) => {
                let out = self.store.stage(&mut unit, ops, transaction, origin);
                UNIT.with(|u| *u.borrow_mut() = Some(unit));
                out
            }
            None => self.store.write_many_as(ops, transaction, origin),
        }
    }
}

/// The "S3 buckets" of exports and imports, under the data directory
/// unless `--s3-dir` says otherwise.
pub const DEFAULT_S3_DIR: &str = "s3";

/// Runs one DynamoDB operation (the `X-Amz-Target` suffix).
/// The DynamoDB operations Tidepool serves; any other target is
/// `UnknownOperationException`, as DynamoDB Local answers the operations
/// it lacks.
const OPERATIONS: [&str; 54] = [
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
    "RestoreTableToPointInTime",
    "CreateBackup",
    "DescribeBackup",
    "ListBackups",
    "DeleteBackup",
    "RestoreTableFromBackup",
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "DeleteTable",
    "UpdateTable",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "UpdateContributorInsights",
    "DescribeContributorInsights",
    "ListContributorInsights",
    "DescribeTableReplicaAutoScaling",
    "UpdateTableReplicaAutoScaling",
    "CreateGlobalTable",
    "DescribeGlobalTable",
    "UpdateGlobalTable",
    "ListGlobalTables",
    "DescribeGlobalTableSettings",
    "UpdateGlobalTableSettings",
    "DescribeLimits",
    "DescribeEndpoints",
    "PutItem",
    "GetItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "SearchVectors",
];

/// Whether `op` names an operation [`dispatch`] serves.
pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

pub fn dispatch(app: &App, op: &str, r: Req<'_>, host: &str) -> ApiResult<Reply> {
    let started = std::time::Instant::now();
    let raw = r.0;
    // A strongly consistent global table's writes and reads consult
    // another region (`global_tables::strong`).
    // A witness copy of a global table serves no client (`witness.rs`).
    let result = crate::global_tables::witness::refuse_hidden(app, op, raw)
        .and_then(|()| crate::global_tables::strong::before(app, op, raw))
        .and_then(|held| {
            let result = layer::serve(op, || run_operation(app, op, r, host))
                .and_then(|reply| crate::global_tables::strong::after(app, op, raw).map(|()| reply));
            crate::global_tables::strong::release(app, held);
            result
        });
    record(app, op, raw, &result, started.elapsed());
    result
}

/// The PartiQL statements of a request that run (none for other
/// operations): a BatchExecuteStatement's denied ones
/// ([`partiql::is_denied`]) do not, and name no table.
pub(crate) fn statements_of<'a>(op: &str, raw: &'a Map<String, Json>) -> Vec<&'a str> {
    match op {
        "ExecuteStatement" => raw.get("Statement").and_then(Json::as_str).into_iter().collect(),
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let batch = op == "BatchExecuteStatement";
            let member = if batch { "Statements" } else { "TransactStatements" };
            let list = raw.get(member).and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
            list.iter()
                .enumerate()
                .filter(|(position, _)| !(batch && partiql::is_denied(*position)))
                .filter_map(|(_, s)| s.get("Statement").and_then(Json::as_str))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Counts a request in the metrics, under each table it named that exists.
fn record(app: &App, op: &str, raw: &Map<String, Json>, result: &ApiResult<Reply>, took: std::time::Duration) {
    use crate::metrics::Outcome;
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(e)
            if e.kind.ends_with("#ProvisionedThroughputExceededException")
                || e.kind.ends_with("#ThrottlingException") =>
        {
            Outcome::Throttled
        }
        Err(e) if e.status.is_server_error() => Outcome::SystemError,
        Err(e) if e.kind.ends_with("#ConditionalCheckFailedException") => Outcome::ConditionFailed,
        // A cancelled transaction, by its reasons: throttled, a condition
        // that did not hold, or another fault.
        Err(e) if e.kind.ends_with("#TransactionCanceledException") => {
            let codes: Vec<&str> = e
                .extra
                .get("CancellationReasons")
                .and_then(Json::as_array)
                .map(|l| l.iter().filter_map(|r| r.get("Code").and_then(Json::as_str)).collect())
                .unwrap_or_default();
            if codes.iter().any(|c| *c == "ThrottlingError" || *c == "ProvisionedThroughputExceeded") {
                Outcome::Throttled
            } else if codes.contains(&"ConditionalCheckFailed") {
                Outcome::ConditionFailed
            } else {
                Outcome::UserError
            }
        }
        Err(_) => Outcome::UserError,
    };
    if !crate::metrics::DATA_OPERATIONS.contains(&op) {
        app.metrics.request(op, &[], outcome, took);
        return;
    }
    // PartiQL names its tables in its statements.
    let statements = statements_of(op, raw);
    // The common case, one table named: no list to make.
    if let Some(name) = raw.get("TableName").and_then(Json::as_str)
        && statements.is_empty()
    {
        if outcome == Outcome::Success || app.store.table(name).is_ok() {
            app.metrics.request(op, &[name], outcome, took);
        } else {
            app.metrics.request(op, &[], outcome, took);
        }
        return;
    }
    let mut parsed: Vec<String> = Vec::new();
    for text in statements {
        if let Ok(stmt) = tidepool_store::partiql::parse(text)
            && !parsed.iter().any(|n| n == stmt.table())
        {
            parsed.push(stmt.table().to_string());
        }
    }
    let mut names: Vec<&str> = parsed.iter().map(String::as_str).collect();
    match raw.get("TableName").and_then(Json::as_str) {
        Some(name) => names.push(name),
        None => {
            if let Some(Json::Object(items)) = raw.get("RequestItems") {
                names.extend(items.keys().map(String::as_str));
            }
            if let Some(Json::Array(list)) = raw.get("TransactItems") {
                for action in list.iter().filter_map(Json::as_object) {
                    let name = action.values().find_map(|a| a.get("TableName").and_then(Json::as_str));
                    if let Some(n) = name.filter(|n| !names.contains(n)) {
                        names.push(n);
                    }
                }
            }
        }
    }
    // Only tables that exist: a request naming a missing one counts as the
    // account's user error alone, and names never grow the metrics.
    // (A PartiQL batch succeeds with members on missing tables.)
    if outcome != Outcome::Success || !parsed.is_empty() {
        names.retain(|n| app.store.table(n).is_ok());
    }
    app.metrics.request(op, &names, outcome, took);
}

fn run_operation(app: &App, op: &str, r: Req<'_>, host: &str) -> ApiResult<Reply> {
    validate::before_lookup(op, &r)?;
    let raw = r.0;
    // Reads write their answers without the JSON tree.
    match op {
        "Query" => return not_found_order(op, raw, read::query(app, r).map(Reply::Raw)),
        "Scan" => return not_found_order(op, raw, read::scan(app, r).map(Reply::Raw)),
        "GetItem" => return not_found_order(op, raw, items::get_item(app, r).map(Reply::Raw)),
        "BatchGetItem" => return not_found_order(op, raw, batch::batch_get(app, r).map(Reply::Raw)),
        _ => {}
    }
    let result = match op {
        "CreateTable" => control::create_table(app, r),
        "CreateBackup" => backup::create_backup(app, r),
        "DescribeBackup" => backup::describe_backup(app, r),
        "ListBackups" => backup::list_backups(app, r),
        "DeleteBackup" => backup::delete_backup(app, r),
        "RestoreTableFromBackup" => backup::restore_table_from_backup(app, r),
        "UpdateContinuousBackups" => pitr::update_continuous_backups(app, r),
        "DescribeContinuousBackups" => pitr::describe_continuous_backups(app, r),
        "RestoreTableToPointInTime" => pitr::restore_table_to_point_in_time(app, r),
        "ExportTableToPointInTime" => export::export_table(app, r),
        "DescribeExport" => export::describe_export(app, r),
        "ListExports" => export::list_exports(app, r),
        "ImportTable" => import::import_table(app, r),
        "DescribeImport" => import::describe_import(app, r),
        "ListImports" => import::list_imports(app, r),
        "DescribeTable" => control::describe_table(app, r),
        "ListTables" => control::list_tables(app, r),
        "DeleteTable" => control::delete_table(app, r),
        "UpdateTable" => control::update_table(app, r),
        "TagResource" => control::tag_resource(app, r),
        "UntagResource" => control::untag_resource(app, r),
        "ListTagsOfResource" => control::list_tags(app, r),
        "UpdateTimeToLive" => control::update_ttl(app, r),
        "DescribeTimeToLive" => control::describe_ttl(app, r),
        "UpdateContributorInsights" => crate::insights::update(app, r),
        "DescribeContributorInsights" => crate::insights::describe(app, r),
        "ListContributorInsights" => crate::insights::list(app, r),
        "DescribeTableReplicaAutoScaling" => crate::autoscaling::replica::describe(app, r),
        "UpdateTableReplicaAutoScaling" => crate::autoscaling::replica::update(app, r),
        "CreateGlobalTable" => crate::global_tables::legacy::create_global_table(app, r),
        "DescribeGlobalTable" => crate::global_tables::legacy::describe_global_table(app, r),
        "UpdateGlobalTable" => crate::global_tables::legacy::update_global_table(app, r),
        "ListGlobalTables" => crate::global_tables::legacy::list_global_tables(app, r),
        "DescribeGlobalTableSettings" => crate::global_tables::legacy::describe_global_table_settings(app, r),
        "UpdateGlobalTableSettings" => crate::global_tables::legacy::update_global_table_settings(app, r),
        "DescribeLimits" => control::describe_limits(),
        "DescribeEndpoints" => control::describe_endpoints(host),
        "PutResourcePolicy" => policy::put_resource_policy(app, r),
        "GetResourcePolicy" => policy::get_resource_policy(app, r),
        "DeleteResourcePolicy" => policy::delete_resource_policy(app, r),
        "PutItem" => items::put_item(app, r),
        "DeleteItem" => items::delete_item(app, r),
        "UpdateItem" => items::update_item(app, r),
        "BatchWriteItem" => batch::batch_write(app, r),
        "TransactWriteItems" => transact::transact_write(app, r),
        "TransactGetItems" => transact::transact_get(app, r),
        "ExecuteStatement" => partiql::execute_statement(app, r),
        "BatchExecuteStatement" => partiql::batch_execute_statement(app, r),
        "ExecuteTransaction" => partiql::execute_transaction(app, r),
        "SearchVectors" => vector::search_vectors(app, r),
        _ => Err(ApiError::bare(StatusCode::BAD_REQUEST, "UnknownOperationException")),
    };
    not_found_order(op, raw, result.map(Reply::Json))
}

/// A missing table is reported only after the checks DynamoDB makes
/// before it looks the table up ([`validate::table_free`]).
fn not_found_order(op: &str, raw: &Map<String, Json>, result: ApiResult<Reply>) -> ApiResult<Reply> {
    match result {
        Err(e) if e.kind.ends_with("#ResourceNotFoundException") => {
            validate::table_free(op, &Req(raw))?;
            Err(e)
        }
        other => other,
    }
}

/// A request body nested deeper than this (objects and arrays) does not
/// parse. DynamoDB reads requests nested past the 32 levels of an item (its
/// conformance suite sends values nested 100 levels, and expects the
/// request's other faults reported ahead of the nesting); serde_json stops
/// at 128 by default to bound its recursion. The runtime's 32 MiB thread
/// stacks (`THREAD_STACK_BYTES` in main.rs) hold this depth many times over.
pub const MAX_BODY_DEPTH: usize = 512;

/// Parses a request body: first with serde_json's default recursion limit
/// of 128 (no extra pass for any usual request), then, when that was the
/// only obstacle, up to [`MAX_BODY_DEPTH`]. Also says whether the body
/// nests past 128: past about that depth (62 levels of item nesting)
/// DynamoDB's item operations read a request in an older form
/// ([`layer::deep_request`]).
fn parse_body(body: &[u8]) -> Option<(Json, bool)> {
    use serde::Deserialize;
    match serde_json::from_slice(body) {
        Ok(j) => Some((j, false)),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") && json_depth(body) <= MAX_BODY_DEPTH => {
            let mut de = serde_json::Deserializer::from_slice(body);
            de.disable_recursion_limit();
            let j = Json::deserialize(&mut de).ok()?;
            de.end().ok()?;
            Some((j, true))
        }
        Err(_) => None,
    }
}

/// How deep objects and arrays nest in `body` (strings skipped).
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Operations that may write (and so wait inside the storage engine), or
/// that do heavy catalog work: they run on a blocking thread. Reads run on
/// the async workers, where they cost no thread hand-off.
fn may_block(op: &str) -> bool {
    !matches!(
        op,
        "GetItem"
            | "Query"
            | "Scan"
            | "BatchGetItem"
            | "TransactGetItems"
            | "DescribeTable"
            | "ListTables"
            | "ListTagsOfResource"
            | "DescribeTimeToLive"
            | "DescribeLimits"
            | "DescribeEndpoints"
    )
}

/// A successful response body: a JSON value, or JSON already serialized
/// (for large responses written without building the tree).
pub enum Reply {
    Json(Json),
    Raw(Vec<u8>),
}

impl Reply {
    /// The body as text (`null` for an empty answer, as the tree prints it).
    pub fn into_string(self) -> String {
        match self {
            Reply::Json(j) => j.to_string(),
            // Written by this server's own JSON writers: UTF-8 throughout.
            Reply::Raw(b) => {
                String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// The body as a JSON tree.
    pub fn into_json(self) -> Json {
        match self {
            Reply::Json(j) => j,
            Reply::Raw(b) => serde_json::from_slice(&b).unwrap_or(Json::Null),
        }
    }
}

fn ok_response(body: Reply) -> Response {
    let bytes = match body {
        // TagResource and UntagResource answer with an empty body.
        Reply::Json(Json::Null) => Vec::new(),
        Reply::Json(j) => j.to_string().into_bytes(),
        Reply::Raw(b) => b,
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// Too many large bodies are held at once
/// ([`MAX_REQUEST_BODIES_IN_FLIGHT_BYTES`]).
fn throttled() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ThrottlingException", messages::request::TOO_MANY_LARGE_REQUESTS)
}

/// A body in an unknown coding, or not valid in its coding: DynamoDB
/// answers these with a 500 (Alternator's tests, against the live service).
fn undecodable() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", messages::request::UNDECODABLE_BODY)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        messages::request::too_large(MAX_REQUEST_BYTES),
    )
}

/// Handles one DynamoDB or DynamoDB Streams request (any path; the HTTP
/// front sends every `POST` outside the Lambda API here).
pub async fn handle(
    State(app): State<Arc<App>>,
    caller: Option<axum::Extension<crate::http::auth::Caller>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = caller.map(|axum::Extension(c)| c);
    // DynamoDB takes JSON bodies only, and answers in the JSON flavour asked.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let plain_json = content_type.as_deref() == Some("application/json");
    let has_body = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) != Some("0")
        && (headers.contains_key(header::CONTENT_LENGTH) || headers.contains_key(header::TRANSFER_ENCODING));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    // A body past the limit is refused first, as DynamoDB refuses it while
    // reading it.
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return too_large().into_response();
    }
    // Application Auto Scaling, on the same port, speaks JSON 1.1.
    let scaling = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).is_some_and(|t| {
        t.starts_with(crate::autoscaling::TARGET_API) && t[crate::autoscaling::TARGET_API.len()..].starts_with('.')
    });
    let json_1_1 = scaling && content_type.as_deref() == Some(crate::autoscaling::CONTENT_TYPE);
    if has_body && !plain_json && !json_1_1 && content_type.as_deref() != Some(CONTENT_TYPE) {
        return crate::http::front::not_found();
    }
    let mut resp = handle_json(app, caller, headers, body).await;
    if plain_json && resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == CONTENT_TYPE) {
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if json_1_1 && resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == CONTENT_TYPE) {
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::autoscaling::CONTENT_TYPE));
    }
    resp.extensions_mut().insert(crate::http::front::DynamoReply);
    resp
}

async fn handle_json(
    app: Arc<App>,
    caller: Option<crate::http::auth::Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let coding = match crate::http::encoding::request_coding(
        headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()),
    ) {
        Ok(c) => c,
        // DynamoDB answers a coding it does not know with a 500.
        Err(crate::http::encoding::UnknownCoding) => return undecodable().into_response(),
    };
    // Reserve what the body may take before reading it: its declared length,
    // or the request limit when it has none (a chunked body).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MAX_REQUEST_BYTES);
    if declared > MAX_REQUEST_BYTES {
        return too_large().into_response();
    }
    let _reserved = if declared <= SMALL_REQUEST_BYTES {
        None
    } else {
        match app.bodies.try_reserve(declared) {
            Some(r) => Some(r),
            None => return throttled().into_response(),
        }
    };
    let mut body: Bytes = match axum::body::to_bytes(body, declared).await {
        Ok(b) => b,
        Err(_) => return too_large().into_response(),
    };
    // A compressed body is held to the request limit once decoded; past
    // SMALL_REQUEST_BYTES its decoded form is reserved in the budget.
    let mut decoded_held = None;
    if let Some(coding) = coding {
        let grow = |n: usize| {
            if n <= SMALL_REQUEST_BYTES {
                return true;
            }
            if decoded_held.is_none() {
                decoded_held = app.bodies.try_reserve(MAX_REQUEST_BYTES);
            }
            decoded_held.is_some()
        };
        body = match crate::http::encoding::decode(coding, &body, MAX_REQUEST_BYTES, grow) {
            Ok(decoded) => Bytes::from(decoded),
            Err(crate::http::encoding::DecodeError::TooLarge) => return too_large().into_response(),
            Err(crate::http::encoding::DecodeError::Refused) => return throttled().into_response(),
            // DynamoDB answers a body that does not decode with a 500.
            Err(crate::http::encoding::DecodeError::Corrupt) => return undecodable().into_response(),
        };
    }
    // DynamoDB's order: the body must parse, then the target must name an
    // operation, then the body must be there. These three answer with the
    // bare error type and no message, as DynamoDB's front end does.
    let (json, deep): (Option<Json>, bool) = if body.is_empty() {
        (None, false)
    } else {
        match parse_body(&body) {
            Some((j, deep)) => (Some(j), deep),
            None => return ApiError::bare(StatusCode::BAD_REQUEST, "SerializationException").into_response(),
        }
    };
    drop(body);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (streams, scaling, op) = match target.split_once('.') {
        Some((TARGET_API, op)) if is_operation(op) => (false, false, op.to_string()),
        Some((crate::streams::TARGET_API, op)) if crate::streams::is_operation(op) => (true, false, op.to_string()),
        Some((crate::autoscaling::TARGET_API, op)) if crate::autoscaling::OPERATIONS.contains(&op) => {
            (false, true, op.to_string())
        }
        _ => return ApiError::bare(StatusCode::BAD_REQUEST, "UnknownOperationException").into_response(),
    };
    let Some(Json::Object(mut map)) = json else {
        return ApiError::bare(StatusCode::BAD_REQUEST, "SerializationException").into_response();
    };
    // Every member is read as its declared type before anything else
    // looks at the request, authorization included.
    if !scaling && let Err(e) = shapes::deserialize(&op, streams, &mut map) {
        app.metrics.user_error();
        return e.into_response();
    }
    // A table named by its ARN is served by its name, and answered as named.
    let renamed = if scaling || streams {
        arn::Renamed::default()
    } else {
        match arn::table_names(&app.region, &op, &mut map) {
            Ok(renamed) => renamed,
            Err(e) => {
                app.metrics.user_error();
                return e.into_response();
            }
        }
    };
    // With authentication on, a caller with policies is authorized for
    // what the request asks before it is served; so is an administrator
    // once some table has a resource-based policy, which may deny it.
    // BatchExecuteStatement's statements are authorized one by one, each
    // denied statement failing alone.
    let mut denied_statements = Vec::new();
    if let Some(caller) = caller.as_ref().filter(|c| c.principal.policies.is_some() || app.store.any_resource_policy())
    {
        let per_statement = !streams && !scaling && op == "BatchExecuteStatement";
        let checks = if scaling {
            vec![crate::iam::Check::new(format!("application-autoscaling:{op}"), "*")]
        } else if per_statement {
            denied_statements =
                access::batch_statement_denials(&app, &map, |checks| caller.authorize(checks, &app.region));
            Vec::new()
        } else {
            access::checks(&app, &op, &map, streams)
        };
        if let Err(denied) = caller.authorize(checks, &app.region) {
            app.metrics.user_error();
            return ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", denied.message).into_response();
        }
    }
    if !streams
        && !scaling
        && op == "PutResourcePolicy"
        && let Some(caller) = caller.as_ref()
        && let Err(e) = policy::lockout_check(&app, &caller.principal, &caller.origin, &map)
    {
        app.metrics.user_error();
        return e.into_response();
    }
    if streams && op == crate::streams::WAIT_OPERATION {
        // The body is read: its budget is not held through the wait.
        drop(_reserved);
        drop(decoded_held);
        return match crate::streams::wait_for_records(&app, Req(&map)).await {
            Ok(body) => ok_response(Reply::Json(body)),
            Err(e) => e.into_response(),
        };
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost:8000").to_string();
    let writes = !streams && (scaling || may_block(&op));
    // A strongly consistent global table's request waits on another region:
    // on a blocking thread, and without a writer's permit (which bounds
    // writers waiting on this store, not on a peer).
    let peers = !streams
        && !scaling
        && partiql::with_denials(denied_statements.clone(), || {
            crate::global_tables::strong::needs_peers(&app, &op, &map)
        });
    let off_workers = app.durability == Durability::Sync || writes || peers;
    let run = move |app: &App| -> ApiResult<Reply> {
        if scaling {
            crate::autoscaling::dispatch(app, &op, Req(&map)).map(Reply::Json)
        } else if streams {
            crate::streams::dispatch(app, &op, Req(&map))
        } else {
            // Only item writes read a deep request in the older form.
            let serve = || dispatch(app, &op, Req(&map), &host);
            partiql::with_denials(denied_statements, || layer::deep_request(deep && layer::envelops(&op), serve))
        }
    };
    let result = if off_workers {
        // A write can wait: for a shared fsync (sync mode), or inside the
        // storage engine, which sleeps a writer while too many memtables
        // wait to be flushed or level 0 is too deep (fjall's write stall).
        // On an async worker that sleep would hold back every connection
        // the worker serves, reads included; on a blocking thread it holds
        // back only this request.
        // Only writes count against the bound; a read that sync mode
        // moves off the workers does not queue behind them. The semaphore
        // is never closed, so acquiring only waits.
        let permit = if writes && !peers {
            let Ok(permit) = app.writers.clone().acquire_owned().await else {
                return ApiError::internal().into_response();
            };
            Some(permit)
        } else {
            None
        };
        let app2 = app.clone();
        match tokio::task::spawn_blocking(move || {
            let out = run(&app2);
            drop(permit);
            out
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "request task failed");
                Err(ApiError::internal())
            }
        }
    } else {
        run(&app)
    };
    match result {
        Ok(body) if renamed.is_empty() => ok_response(body),
        Ok(body) => ok_response(Reply::Json(renamed.restore(body.into_json()))),
        Err(e) => e.into_response(),
    }
}

/// A server state over a temporary store, and requests to it (unit tests).
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Value as Json;
    use tidepool_store::{Durability, Store, StoreConfig};

    use super::App;
    use super::request::Req;

    pub fn app() -> App {
        let store = Store::open(StoreConfig::default()).expect("open");
        App::new(store, "us-east-1".into(), Durability::default(), std::time::Duration::from_secs(900)).expect("app")
    }

    /// Runs DynamoDB operation `op` with `body`, panicking on its error.
    pub fn call(app: &App, op: &str, body: Json) {
        let Json::Object(map) = body else { panic!("a request is an object") };
        super::dispatch(app, op, Req(&map), "localhost").map_err(|e| e.message).expect(op);
    }
}
