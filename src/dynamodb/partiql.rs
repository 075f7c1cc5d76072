//! ExecuteStatement, BatchExecuteStatement and ExecuteTransaction: PartiQL
//! statements parsed and planned by `tidepool_store::partiql`, then run with
//! the reads and the write path every other operation uses (`Store::query`,
//! `scan`, `get_item`, `write`, `write_many`), so conditions, indexes,
//! counters and change streams behave exactly as for the JSON operations.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use tidepool_store::expr::{self, Path, UpdateExpr};
use tidepool_store::key::item_key;
use tidepool_store::messages;
use tidepool_store::partiql::{
    self, Access, MAX_STATEMENT_LEN, Mode, PartiqlError, Plan, Returning, SelectPlan, Statement,
};
use tidepool_store::query::{MAX_PAGE_BYTES, ReadParams, Source};
use tidepool_store::table::{IndexKind, TableDef};
use tidepool_store::value::{Item, Value, item_size};
use tidepool_store::{Decide, Decision, StoreError, TableHandle, WriteOp, WriteOutcome};

use super::App;
use super::attr::{item_from_json, item_to_json, value_from_json};
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, IndexUnits, Split, read_units};
use super::items::{apply_update, check_condition, check_item, return_on_failure, write_capacity};
use super::request::{Req, missing};

/// BatchExecuteStatement runs at most 25 statements.
pub const MAX_BATCH_STATEMENTS: usize = 25;
/// ExecuteTransaction runs at most 100 statements, as TransactWriteItems.
pub const MAX_TRANSACT_STATEMENTS: usize = 100;
/// A NextToken is at most 32768 characters long.
const MAX_NEXT_TOKEN_LEN: usize = 32_768;

fn pq_err(e: PartiqlError) -> ApiError {
    ApiError::validation(e.to_string())
}

fn duplicate_item() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "DuplicateItemException", messages::partiql::DUPLICATE_ITEM)
}

/// The `Statement` member of a request or a batch member.
fn statement_text<'a>(r: &Req<'a>) -> ApiResult<&'a str> {
    let text = r.str_opt("Statement")?.ok_or_else(|| missing("Statement"))?;
    if text.is_empty() {
        return Err(ApiError::validation(messages::partiql::STATEMENT_EMPTY));
    }
    if partiql::too_long(text) {
        return Err(ApiError::validation(messages::partiql::statement_too_long(MAX_STATEMENT_LEN)));
    }
    Ok(text)
}

/// The `Parameters` member, decoded.
pub(crate) fn parameters(r: &Req<'_>) -> ApiResult<Vec<Value>> {
    let Some(list) = r.list_opt("Parameters")? else { return Ok(Vec::new()) };
    if list.is_empty() {
        return Err(ApiError::validation(messages::partiql::PARAMETERS_EMPTY));
    }
    list.iter().map(|v| value_from_json(v, 0)).collect()
}

/// How a write's returned item is chosen from its outcome.
enum Returned {
    Nothing,
    AllOld,
    AllNew,
    ModifiedOld(Vec<Path>),
    ModifiedNew(Vec<Path>),
}

impl Returned {
    fn of(returning: Option<Returning>, update: Option<&UpdateExpr>) -> Returned {
        let paths = || update.map(|u| u.actions.iter().map(|a| a.target().clone()).collect()).unwrap_or_default();
        match returning {
            None => Returned::Nothing,
            Some(Returning::AllOld) => Returned::AllOld,
            Some(Returning::AllNew) => Returned::AllNew,
            Some(Returning::ModifiedOld) => Returned::ModifiedOld(paths()),
            Some(Returning::ModifiedNew) => Returned::ModifiedNew(paths()),
        }
    }

    /// The returned item; `None` when there is nothing (or nothing left after
    /// projection) to return.
    fn item(&self, out: &WriteOutcome) -> Option<Item> {
        let item = match self {
            Returned::Nothing => None,
            Returned::AllOld => out.old.clone(),
            Returned::AllNew => out.new.clone(),
            Returned::ModifiedOld(paths) => out.old.as_ref().map(|o| expr::project(paths, o)),
            Returned::ModifiedNew(paths) => out.new.as_ref().map(|n| expr::project(paths, n)),
        };
        item.filter(|i| !i.is_empty())
    }
}

/// A planned write, ready for the store.
struct Write {
    table: Arc<TableHandle>,
    key: Item,
    decide: Decide<'static>,
    returned: Returned,
    insert: bool,
}

fn condition_failed(current: Option<&Item>, on_fail: bool) -> StoreError {
    StoreError::ConditionalCheckFailed { item: if on_fail { current.cloned() } else { None } }
}

/// Turns a write plan into the key and closure the store's write path takes.
fn prepare_write(table: &Arc<TableHandle>, plan: Plan, on_fail: bool) -> ApiResult<Write> {
    let def: TableDef = table.def.clone();
    let (key, decide, returned, insert): (Item, Decide<'static>, Returned, bool) = match plan {
        Plan::Insert { item } => {
            check_item(&def, &item, false)?;
            let key = def.key_of(&item);
            // The only way an INSERT fails its condition is a duplicate key.
            let decide: Decide<'static> = Box::new(move |cur| match cur {
                Some(_) => Err(StoreError::ConditionalCheckFailed { item: None }),
                None => Ok(Decision::Put(item)),
            });
            (key, decide, Returned::Nothing, true)
        }
        Plan::Update { key, condition, update, returning } => {
            let returned = Returned::of(returning, Some(&update));
            let k = key.clone();
            let decide: Decide<'static> = Box::new(move |cur| {
                // An UPDATE is not an upsert: the item must exist.
                let Some(cur) = cur else { return Err(condition_failed(None, on_fail)) };
                check_condition(condition.as_ref(), Some(cur), on_fail)?;
                Ok(Decision::Put(apply_update(&def, &k, Some(cur), Some(&update))?))
            });
            (key, decide, returned, false)
        }
        Plan::Delete { key, condition, returning } => {
            let returned = if returning { Returned::AllOld } else { Returned::Nothing };
            let decide: Decide<'static> = Box::new(move |cur| {
                // Deleting a missing item succeeds without looking at the condition.
                if cur.is_some() {
                    check_condition(condition.as_ref(), cur, on_fail)?;
                }
                Ok(Decision::Delete)
            });
            (key, decide, returned, false)
        }
        Plan::Check { key, condition } => {
            let decide: Decide<'static> = Box::new(move |cur| {
                let Some(cur) = cur else { return Err(condition_failed(None, on_fail)) };
                check_condition(Some(&condition), Some(cur), on_fail)?;
                Ok(Decision::Keep)
            });
            (key, decide, Returned::Nothing, false)
        }
        _ => return Err(ApiError::validation(messages::partiql::UNSUPPORTED_WRITE)),
    };
    Ok(Write { table: table.clone(), key, decide, returned, insert })
}

/// Maps a failed single write to its API error.
fn write_error(e: StoreError, insert: bool) -> ApiError {
    match e {
        StoreError::ConditionalCheckFailed { .. } if insert => duplicate_item(),
        other => other.into(),
    }
}

// ---- ExecuteStatement ----

pub fn execute_statement(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let text = statement_text(&r)?;
    let params = parameters(&r)?;
    let consistent = r.bool_opt("ConsistentRead")?.unwrap_or(false);
    let limit = match r.int_opt("Limit")? {
        Some(l) if l < 1 => {
            return Err(ApiError::validation(messages::stream::limit_too_small(l)));
        }
        Some(l) => Some(usize::try_from(l).unwrap_or(usize::MAX)),
        None => None,
    };
    let next_token = r.str_opt("NextToken")?;
    if next_token.is_some_and(|t| t.is_empty() || t.len() > MAX_NEXT_TOKEN_LEN) {
        return Err(ApiError::validation(messages::partiql::INVALID_NEXT_TOKEN));
    }
    let cap = Capacity::from_request(&r)?;
    let on_fail = return_on_failure(&r)?;
    let stmt = partiql::parse(text).map_err(pq_err)?;
    partiql::check(&stmt, &params).map_err(pq_err)?;
    let table = app.store.table(stmt.table())?;
    let plan = partiql::plan(&stmt, &params, &table.def, Mode::Single).map_err(pq_err)?;
    match plan {
        Plan::Select(select) => {
            let fingerprint = request_fingerprint(text, r.get("Parameters"));
            let read = SelectRead { table: &table, plan: &select, limit, consistent, cap };
            read.run(app, next_token, &fingerprint)
        }
        write => {
            let w = prepare_write(&table, write, on_fail)?;
            let out = app.metered_write_raw(&w.table.def, &w.key, w.decide)?.map_err(|e| write_error(e, w.insert))?;
            let mut body = Map::new();
            let items: Vec<Json> = w.returned.item(&out).iter().map(item_to_json).collect();
            body.insert("Items".into(), Json::Array(items));
            let (units, idx) = write_capacity(&table.def, &out);
            if let Some(mut c) = cap.render(&table.def.name, units, &idx, Split::None) {
                super::vector::add_write_capacity(&mut c, cap, &table.def, &out);
                body.insert("ConsumedCapacity".into(), c);
            }
            Ok(Json::Object(body))
        }
    }
}

/// A hash of what a NextToken must be presented with again.
fn request_fingerprint(text: &str, params: Option<&Json>) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    h.update(params.map(Json::to_string).unwrap_or_default().as_bytes());
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Where a paged SELECT resumes: which partition key value of the plan's
/// list, and the last key read there.
struct Resume {
    hash: usize,
    key: Option<Item>,
}

fn encode_token(fingerprint: &str, resume: &Resume) -> String {
    let body = json!({
        "f": fingerprint,
        "i": resume.hash,
        "k": resume.key.as_ref().map(item_to_json),
    });
    B64.encode(body.to_string())
}

fn decode_token(token: &str, fingerprint: &str) -> ApiResult<Resume> {
    let invalid = || ApiError::validation(messages::partiql::INVALID_NEXT_TOKEN);
    let bytes = B64.decode(token).map_err(|_| invalid())?;
    let body: Json = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if body.get("f").and_then(Json::as_str).ok_or_else(invalid)? != fingerprint {
        return Err(ApiError::validation(messages::partiql::NEXT_TOKEN_MISMATCH));
    }
    let hash = body.get("i").and_then(Json::as_u64).and_then(|i| usize::try_from(i).ok()).ok_or_else(invalid)?;
    let key = match body.get("k") {
        None | Some(Json::Null) => None,
        Some(k) => Some(item_from_json(k).map_err(|_| invalid())?),
    };
    Ok(Resume { hash, key })
}

/// One page of a `SELECT` through ExecuteStatement.
struct SelectRead<'a> {
    table: &'a Arc<TableHandle>,
    plan: &'a SelectPlan,
    limit: Option<usize>,
    consistent: bool,
    cap: Capacity,
}

impl SelectRead<'_> {
    /// A strongly consistent read of a multi-Region strongly consistent
    /// table consults another region first (as Query and Scan do).
    #[allow(clippy::too_many_arguments)]
    fn consult_peer(
        &self,
        app: &App,
        index: Option<&tidepool_store::table::IndexDef>,
        range: impl FnOnce() -> tidepool_store::error::Result<tidepool_store::query::KeyRange>,
        forward: bool,
        start: Option<&Item>,
        limit: Option<usize>,
    ) -> ApiResult<Option<Item>> {
        if !self.consistent || index.is_some() || !self.table.def.settings.multi_region_strong {
            return Ok(None);
        }
        crate::global_tables::strong::consistent_page(app, self.table, &range()?, forward, start, None, limit)
    }
    fn run(&self, app: &App, next_token: Option<&str>, fingerprint: &str) -> ApiResult<Json> {
        let def = &self.table.def;
        let index = match &self.plan.index {
            Some(name) => Some(def.index(name).ok_or_else(|| ApiError::validation(messages::partiql::NO_SUCH_INDEX))?),
            None => None,
        };
        if let Some(i) = index {
            super::read::readable(i)?;
        }
        if self.consistent && index.is_some_and(|i| i.kind == IndexKind::Global) {
            return Err(ApiError::validation(messages::partiql::GSI_STRONG_READ));
        }
        let source = || match index {
            Some(i) => Source::Index(i),
            None => Source::Table,
        };
        // A statement on one partition key value touches that partition.
        let partition = match &self.plan.access {
            Access::Query { hashes, .. } if hashes.len() == 1 => hashes.first(),
            _ => None,
        };
        let target = crate::capacity::Target { def, index, partition, sort: None };
        app.capacity.admit(crate::capacity::Access::Read, target)?;
        let resume = match next_token {
            Some(t) => decode_token(t, fingerprint)?,
            None => Resume { hash: 0, key: None },
        };
        let filter = |item: &Item| -> tidepool_store::error::Result<bool> {
            match &self.plan.filter {
                Some(f) => f.eval(item).map_err(|e| StoreError::validation(e.to_string())),
                None => Ok(true),
            }
        };
        let mut items: Vec<Json> = Vec::new();
        let mut read_bytes = 0usize;
        let mut fetched: Vec<usize> = Vec::new();
        let mut next: Option<Resume> = None;
        match &self.plan.access {
            Access::Scan => {
                if resume.hash != 0 {
                    return Err(ApiError::validation(messages::partiql::INVALID_NEXT_TOKEN));
                }
                let until = self.consult_peer(
                    app,
                    index,
                    || Ok(tidepool_store::query::scan_range(&source())),
                    true,
                    resume.key.as_ref(),
                    self.limit,
                )?;
                let params = ReadParams {
                    limit: self.limit,
                    exclusive_start: resume.key.as_ref(),
                    filter: &filter,
                    fetch_from_table: self.plan.fetch_from_table,
                    until: until.as_ref(),
                };
                let page = app.store.scan(self.table, source(), None, &params)?;
                read_bytes = page.read_bytes;
                fetched.extend_from_slice(&page.fetched);
                items.extend(page.items.iter().map(|i| item_to_json(&self.plan.project(i))));
                next = page.last_key.map(|k| Resume { hash: 0, key: Some(k) });
            }
            Access::Query { hashes, range } => {
                if resume.hash >= hashes.len().max(1) {
                    return Err(ApiError::validation(messages::partiql::INVALID_NEXT_TOKEN));
                }
                let mut scanned = 0usize;
                for (i, hash) in hashes.iter().enumerate().skip(resume.hash) {
                    let start = if i == resume.hash { resume.key.as_ref() } else { None };
                    let limit = self.limit.map(|l| l.saturating_sub(scanned));
                    let until = self.consult_peer(
                        app,
                        index,
                        || {
                            tidepool_store::query::query_range(
                                self.table,
                                &source(),
                                std::slice::from_ref(hash),
                                &[],
                                range.as_ref(),
                            )
                        },
                        self.plan.forward,
                        start,
                        limit,
                    )?;
                    let params = ReadParams {
                        limit,
                        exclusive_start: start,
                        filter: &filter,
                        fetch_from_table: self.plan.fetch_from_table,
                        until: until.as_ref(),
                    };
                    let page = app.store.query(
                        self.table,
                        source(),
                        std::slice::from_ref(hash),
                        &[],
                        range.as_ref(),
                        self.plan.forward,
                        &params,
                    )?;
                    scanned += page.scanned;
                    read_bytes += page.read_bytes;
                    fetched.extend_from_slice(&page.fetched);
                    items.extend(page.items.iter().map(|i| item_to_json(&self.plan.project(i))));
                    if let Some(k) = page.last_key {
                        next = Some(Resume { hash: i, key: Some(k) });
                        break;
                    }
                    let full = self.limit.is_some_and(|l| scanned >= l) || read_bytes >= MAX_PAGE_BYTES;
                    if full && i + 1 < hashes.len() {
                        next = Some(Resume { hash: i + 1, key: None });
                        break;
                    }
                }
            }
            Access::Get { .. } => return Err(ApiError::validation(messages::partiql::SINGLE_ITEM_SELECT)),
        }
        let mut body = Map::new();
        body.insert("Items".into(), Json::Array(items));
        if let Some(n) = &next {
            body.insert("NextToken".into(), Json::String(encode_token(fingerprint, n)));
        }
        let units = read_units(read_bytes, self.consistent);
        let (table_units, idx) = match index {
            Some(i) => (
                super::read::fetch_units(&fetched, self.consistent),
                vec![(i.name.clone(), i.kind == IndexKind::Global, units)],
            ),
            None => (units, vec![]),
        };
        app.capacity.charge(crate::capacity::Access::Read, target, table_units, &idx);
        if let Some(Json::Array(items)) = body.get("Items") {
            app.metrics.returned(&def.name, "ExecuteStatement", items.len());
        }
        if let Some(c) = self.cap.render(&def.name, table_units, &idx, Split::None) {
            body.insert("ConsumedCapacity".into(), c);
        }
        Ok(Json::Object(body))
    }
}

// ---- BatchExecuteStatement ----

thread_local! {
    /// The statements of the BatchExecuteStatement being served that its
    /// caller may not run, by position: each one's denial ([`with_denials`]).
    static DENIED: std::cell::RefCell<Vec<Option<String>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` (a BatchExecuteStatement) with `denied`, its statements'
/// denials by position (`access::batch_statement_denials`): a denied
/// statement fails alone, with `AccessDenied`, as in DynamoDB.
pub(crate) fn with_denials<T>(denied: Vec<Option<String>>, f: impl FnOnce() -> T) -> T {
    struct Restore(Vec<Option<String>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DENIED.with(|d| *d.borrow_mut() = std::mem::take(&mut self.0));
        }
    }
    let _restore = Restore(DENIED.with(|d| d.replace(denied)));
    f()
}

/// The denial of the statement at `position`, if its caller may not run it.
fn denial(position: usize) -> Option<ApiError> {
    let message = DENIED.with(|d| d.borrow().get(position).cloned().flatten())?;
    Some(ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message))
}

/// Whether the statement at `position` of the BatchExecuteStatement being
/// served is denied ([`with_denials`]): it writes nothing, so it takes no
/// part in what its table's writes involve (a strongly consistent global
/// table's claims, the table's metrics).
pub(crate) fn is_denied(position: usize) -> bool {
    DENIED.with(|d| d.borrow().get(position).is_some_and(Option::is_some))
}

/// One member's error: `Code`, `Message` and, for a failed condition, the
/// item when asked for.
fn batch_error(e: &ApiError, table: Option<&str>, item: Option<&Item>) -> Json {
    let name = e.kind.rsplit('#').next().unwrap_or_default();
    let code = match name {
        "ValidationException" => "ValidationError",
        "ConditionalCheckFailedException" => "ConditionalCheckFailed",
        "ResourceNotFoundException" => "ResourceNotFound",
        "DuplicateItemException" => "DuplicateItem",
        "TransactionConflictException" => "TransactionConflict",
        "ProvisionedThroughputExceededException" => "ProvisionedThroughputExceeded",
        "ThrottlingException" => "ThrottlingError",
        "RequestLimitExceeded" => "RequestLimitExceeded",
        "ItemCollectionSizeLimitExceededException" => "ItemCollectionSizeLimitExceeded",
        "AccessDeniedException" => "AccessDenied",
        _ => "InternalServerError",
    };
    let mut err = Map::new();
    err.insert("Code".into(), json!(code));
    err.insert("Message".into(), json!(e.message));
    if let Some(i) = item {
        err.insert("Item".into(), item_to_json(i));
    }
    let mut out = Map::new();
    out.insert("Error".into(), Json::Object(err));
    if let Some(t) = table {
        out.insert("TableName".into(), json!(t));
    }
    Json::Object(out)
}

/// A batch member after parsing and planning, or the error it answers with.
enum Member {
    Failed(Json),
    Read { table: Arc<TableHandle>, plan: Box<SelectPlan>, consistent: bool },
    Write(Write),
}

fn statements_of<'a>(r: &Req<'a>, member: &str, field: &str, max: usize) -> ApiResult<Vec<Req<'a>>> {
    if r.get(member).is_none() {
        return Err(missing(member));
    }
    let list = r.objects(member)?;
    if list.is_empty() {
        return Err(ApiError::validation(messages::partiql::no_statements(field)));
    }
    if list.len() > max {
        return Err(ApiError::validation(messages::partiql::too_many_statements(field, max)));
    }
    Ok(list)
}

pub fn batch_execute_statement(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = statements_of(&r, "Statements", "statements", MAX_BATCH_STATEMENTS)?;
    let cap = Capacity::from_request(&r)?;
    let mut members = Vec::with_capacity(list.len());
    let mut reads = false;
    let mut writes = false;
    for (position, s) in list.iter().enumerate() {
        let text = statement_text(s)?;
        let consistent = s.bool_opt("ConsistentRead")?.unwrap_or(false);
        let on_fail = return_on_failure(s)?;
        let prepared = (|| -> ApiResult<(Statement, Arc<TableHandle>, Plan)> {
            let params = parameters(s)?;
            let stmt = partiql::parse(text).map_err(pq_err)?;
            partiql::check(&stmt, &params).map_err(pq_err)?;
            // Authorized once its table and action are known, before the
            // table is looked up; a denied statement still counts as the
            // read or write it is (a batch of both is refused first).
            if let Some(denied) = denial(position) {
                if stmt.is_read() {
                    reads = true;
                } else {
                    writes = true;
                }
                return Err(denied);
            }
            let table = app.store.table(stmt.table())?;
            let plan = partiql::plan(&stmt, &params, &table.def, Mode::Batch).map_err(pq_err)?;
            Ok((stmt, table, plan))
        })();
        let member = match prepared {
            Err(e) if e.kind.ends_with("SerializationException") => return Err(e),
            Err(e) => Member::Failed(batch_error(&e, None, None)),
            Ok((stmt, table, Plan::Select(plan))) => {
                debug_assert!(stmt.is_read());
                reads = true;
                Member::Read { table, plan: Box::new(plan), consistent }
            }
            Ok((_, table, plan)) => {
                writes = true;
                match prepare_write(&table, plan, on_fail) {
                    Ok(w) => Member::Write(w),
                    Err(e) => Member::Failed(batch_error(&e, Some(&table.def.name), None)),
                }
            }
        };
        members.push(member);
    }
    if reads && writes {
        return Err(ApiError::validation(messages::partiql::BATCH_READS_AND_WRITES));
    }
    let mut seen = HashSet::new();
    for m in &members {
        if let Member::Write(w) = m
            && !seen.insert((w.table.def.id, item_key(&w.table.def.key_schema, &w.key)))
        {
            return Err(ApiError::validation(messages::item::DUPLICATE_KEYS));
        }
    }
    let mut consumed: BTreeMap<String, (f64, IndexUnits)> = BTreeMap::new();
    // The writes to tables with vector indexes, whose bytes ConsumedCapacity
    // reports under `INDEXES`.
    let mut vector_writes: Vec<(Arc<TableHandle>, tidepool_store::WriteOutcome)> = Vec::new();
    let mut responses = Vec::with_capacity(members.len());
    for m in members {
        responses.push(match m {
            Member::Failed(j) => j,
            Member::Read { table, plan, consistent } => {
                let Access::Get { key } = &plan.access else {
                    return Err(ApiError::validation(messages::partiql::SINGLE_ITEM_SELECT));
                };
                // Each statement is admitted against capacity on its own; a
                // throttled one is its error, the rest go on.
                let target = crate::capacity::Target::item(&table.def, key);
                if let Err(t) = app.capacity.admit(crate::capacity::Access::Read, target) {
                    responses.push(batch_error(&t.into(), Some(&table.def.name), None));
                    continue;
                }
                if consistent {
                    crate::global_tables::strong::consult_items(app, &table.def.name, std::slice::from_ref(key))?;
                }
                let item = app.store.get_item(&table, key)?;
                let units = read_units(item.as_ref().map_or(0, item_size), consistent);
                app.capacity.charge(
                    crate::capacity::Access::Read,
                    crate::capacity::Target::item(&table.def, key),
                    units,
                    &[],
                );
                consumed.entry(table.def.name.clone()).or_default().0 += units;
                let mut out = Map::new();
                out.insert("TableName".into(), json!(table.def.name));
                if let Some(i) = item {
                    out.insert("Item".into(), item_to_json(&plan.project(&i)));
                }
                Json::Object(out)
            }
            Member::Write(w) => {
                let name = w.table.def.name.clone();
                let target = crate::capacity::Target::item(&w.table.def, &w.key);
                if let Err(t) = app.capacity.admit(crate::capacity::Access::Write, target) {
                    responses.push(batch_error(&t.into(), Some(&name), None));
                    continue;
                }
                match app.write(&name, &w.key, w.decide) {
                    Ok(out) => {
                        let (units, idx) = write_capacity(&w.table.def, &out);
                        let target = crate::capacity::Target::item(&w.table.def, &w.key);
                        app.capacity.charge(crate::capacity::Access::Write, target, units, &idx);
                        let e = consumed.entry(name.clone()).or_default();
                        e.0 += units;
                        e.1.extend(idx);
                        let mut o = Map::new();
                        o.insert("TableName".into(), json!(name));
                        if let Some(i) = w.returned.item(&out) {
                            o.insert("Item".into(), item_to_json(&i));
                        }
                        if !w.table.def.vector_indexes.is_empty() {
                            vector_writes.push((w.table.clone(), out));
                        }
                        Json::Object(o)
                    }
                    Err(e) if e.is_client_error() => {
                        let item = match &e {
                            StoreError::ConditionalCheckFailed { item } => item.clone(),
                            _ => None,
                        };
                        batch_error(&write_error(e, w.insert), Some(&name), item.as_ref())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        });
    }
    let mut body = Map::new();
    body.insert("Responses".into(), Json::Array(responses));
    if cap != Capacity::None {
        let list: Vec<Json> = consumed.iter().filter_map(|(n, (u, idx))| cap.render(n, *u, idx, Split::None)).collect();
        let mut list = Json::Array(list);
        super::vector::add_writes_capacity(&mut list, cap, vector_writes.iter().map(|(t, out)| (&t.def, out)));
        body.insert("ConsumedCapacity".into(), list);
    }
    Ok(Json::Object(body))
}

// ---- ExecuteTransaction ----

pub fn execute_transaction(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = statements_of(&r, "TransactStatements", "transactStatements", MAX_TRANSACT_STATEMENTS)?;
    let token = r.str_opt("ClientRequestToken")?;
    if token.is_some_and(|t| t.is_empty() || t.len() > 36) {
        return Err(ApiError::validation(if token.is_some_and(str::is_empty) {
            messages::partiql::TOKEN_TOO_SHORT
        } else {
            messages::partiql::TOKEN_TOO_LONG
        }));
    }
    let cap = Capacity::from_request(&r)?;
    let mut planned = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let text = statement_text(s)?;
        let params = parameters(s)?;
        let on_fail = return_on_failure(s)?;
        // A statement's fault names its position, whether it does not
        // parse or does not plan.
        let in_statement = |e: PartiqlError| ApiError::validation(messages::partiql::in_transact_statement(i, e));
        let stmt = partiql::parse(text).map_err(in_statement)?;
        partiql::check(&stmt, &params).map_err(in_statement)?;
        let table = app.store.table(stmt.table())?;
        let plan = partiql::plan(&stmt, &params, &table.def, Mode::Transaction).map_err(in_statement)?;
        planned.push((stmt.is_read(), table, plan, on_fail));
    }
    let reads = planned.iter().filter(|(read, ..)| *read).count();
    if reads > 0 && reads < planned.len() {
        return Err(ApiError::validation(messages::partiql::TRANSACTION_READS_AND_WRITES));
    }
    if reads > 0 {
        return transact_reads(app, planned.into_iter().map(|(_, t, p, _)| (t, p)).collect(), cap);
    }
    let hash: [u8; 32] = Sha256::digest(serde_json::to_vec(r.0).unwrap_or_default()).into();
    if let Some(t) = token
        && let Some(units) = app.partiql_tokens.seen(t, hash)?
    {
        let mut body = Map::new();
        body.insert("Responses".into(), Json::Array(Vec::new()));
        return Ok(super::transact::replay_answer(cap, &units, body));
    }
    let mut writes = Vec::with_capacity(planned.len());
    let mut seen = HashSet::new();
    for (_, table, plan, on_fail) in planned {
        let w = prepare_write(&table, plan, on_fail)?;
        if !seen.insert((w.table.def.id, item_key(&w.table.def.key_schema, &w.key))) {
            return Err(ApiError::validation(messages::transaction::SAME_ITEM_TWICE));
        }
        writes.push(w);
    }
    let inserts: Vec<bool> = writes.iter().map(|w| w.insert).collect();
    let tables: Vec<Arc<TableHandle>> = writes.iter().map(|w| w.table.clone()).collect();
    let keys: Vec<Item> =
        if app.capacity.wants_keys() { writes.iter().map(|w| w.key.clone()).collect() } else { Vec::new() };
    // Admitted as a whole, as TransactWriteItems: a throttled statement
    // cancels the transaction with its reason.
    super::transact::admit_all(app, crate::capacity::Access::Write, tables.iter().zip(&keys))?;
    let ops: Vec<WriteOp<'static>> =
        writes.into_iter().map(|w| WriteOp { table: w.table.def.name.clone(), key: w.key, decide: w.decide }).collect();
    let outcomes = match app.write_many(ops, true) {
        Ok(o) => o,
        Err(StoreError::TransactionCanceled(mut reasons)) => {
            // An INSERT's only condition is that its key is new.
            for (reason, insert) in reasons.iter_mut().zip(&inserts) {
                if *insert && reason.code == "ConditionalCheckFailed" {
                    reason.code = "DuplicateItem";
                    reason.message = Some(messages::partiql::DUPLICATE_ITEM.into());
                    reason.item = None;
                }
            }
            return Err(StoreError::TransactionCanceled(reasons).into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(t) = token
        && !super::staging()
    {
        app.partiql_tokens.remember(t, hash, super::transact::replay_units(&tables, &outcomes));
    }
    for (i, (t, out)) in tables.iter().zip(&outcomes).enumerate() {
        super::transact::charge_transactional_write(app, t, keys.get(i), out);
    }
    let mut body = Map::new();
    body.insert("Responses".into(), Json::Array(Vec::new()));
    if let Some(list) = super::transact::transact_write_capacity(cap, &tables, &outcomes) {
        body.insert("ConsumedCapacity".into(), list);
    }
    Ok(Json::Object(body))
}

/// A transaction of `SELECT`s: every item read from one snapshot.
fn transact_reads(app: &App, planned: Vec<(Arc<TableHandle>, Plan)>, cap: Capacity) -> ApiResult<Json> {
    let mut reads = Vec::with_capacity(planned.len());
    let mut plans = Vec::with_capacity(planned.len());
    for (table, plan) in planned {
        let Plan::Select(select) = plan else {
            return Err(ApiError::validation(messages::partiql::TRANSACTION_UNSUPPORTED));
        };
        let Access::Get { key } = &select.access else {
            return Err(ApiError::validation(messages::partiql::TRANSACTION_SELECT_KEY));
        };
        reads.push((table, key.clone()));
        plans.push(select);
    }
    super::transact::admit_all(app, crate::capacity::Access::Read, reads.iter().map(|(t, k)| (t, k)))?;
    let items = app.store.get_items_consistent(&reads)?;
    let mut per_table: BTreeMap<String, f64> = BTreeMap::new();
    let responses: Vec<Json> = items
        .iter()
        .zip(&plans)
        .zip(&reads)
        .map(|((item, plan), (t, key))| {
            let units = 2.0 * read_units(item.as_ref().map_or(0, item_size), true);
            app.capacity.charge(crate::capacity::Access::Read, crate::capacity::Target::item(&t.def, key), units, &[]);
            *per_table.entry(t.def.name.clone()).or_default() += units;
            match item {
                Some(i) => json!({"Item": item_to_json(&plan.project(i))}),
                None => json!({}),
            }
        })
        .collect();
    let mut body = Map::new();
    body.insert("Responses".into(), Json::Array(responses));
    if cap != Capacity::None {
        let list: Vec<Json> = per_table.iter().filter_map(|(n, u)| cap.render(n, *u, &[], Split::Read)).collect();
        body.insert("ConsumedCapacity".into(), Json::Array(list));
    }
    Ok(Json::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tokens_round_trip_and_are_bound_to_their_request() {
        let key: Item = [("pk".to_string(), Value::S("a".into()))].into_iter().collect();
        let token = encode_token("f1", &Resume { hash: 2, key: Some(key.clone()) });
        let back = decode_token(&token, "f1").unwrap();
        assert_eq!((back.hash, back.key), (2, Some(key)));
        assert_eq!(decode_token(&token, "f2").err().unwrap().message, "NextToken does not match request");
        assert_eq!(decode_token("not base64!", "f1").err().unwrap().message, "Invalid NextToken");
        assert_eq!(decode_token(&B64.encode("[1]"), "f1").err().unwrap().message, "Invalid NextToken");
    }

    #[test]
    fn fingerprints_cover_statement_and_parameters() {
        let p = json!([{"S": "a"}]);
        assert_ne!(request_fingerprint("SELECT 1", Some(&p)), request_fingerprint("SELECT 2", Some(&p)));
        assert_ne!(request_fingerprint("SELECT 1", Some(&p)), request_fingerprint("SELECT 1", None));
    }
}
