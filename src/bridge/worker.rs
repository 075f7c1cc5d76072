//! Exactly-once mode on a worker (`tidepool workers --source URL`): the
//! handler's writes go to another engine, where they must commit in one
//! `TransactWriteItems` with the lease's checkpoint
//! (`Leases::checkpoint_with`), and the worker holds none of the data.
//!
//! Each invocation gets a [`WorkerDeferringBridge`]. Reads go to the source
//! as they are (committed state, as a local exactly-once handler reads). A
//! write is answered here, as the source would answer it after the
//! invocation's earlier writes: the items it names are read from the source
//! once (`BatchGetItem`, consistent), put into a unit of work over the
//! [`Mirror`] (a store holding the source tables' definitions, never an
//! item), and the write runs through Tidepool's own dispatch into that unit,
//! so conditions, `ReturnValues` and errors are DynamoDB's.
//!
//! What is committed is not the calls but one net action per item the
//! invocation touched ([`net_action`]), each conditional on the item being
//! as it was read: a transaction takes one action per item, while a handler
//! may write one item many times (the leaderboard adds to one total per
//! record). An item another client changed in between fails its condition,
//! nothing commits, and the batch is delivered again.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::endpoint::Endpoint;
use tidepool_runtime::esm::lease::{MAX_EFFECT_BYTES, MAX_EFFECT_ITEMS, TRANSACT_ACTION};
use tidepool_runtime::{
    DeferredCall, DeferringBridge, HttpFuture, InvocationOrigin, StoreBridge, StoreCallError, WireResponse,
};
use tidepool_store::expr::{ExprKind, Placeholders};
use tidepool_store::value::Item;
use tidepool_store::{Decision, Durability, Origin, Store, StoreConfig, TableHandle, Unit, WriteOp, messages};

use super::{
    READS, WRITES, authorize_forwarded, call_source, from_wire, partiql_reads_only, repeated_token, route, wire,
};
use crate::dynamodb::attr::{item_from_json, item_to_json, value_from_json};
use crate::dynamodb::error::ApiError;
use crate::dynamodb::request::Req;
use crate::dynamodb::{App, dispatch, with_unit};

/// The most source tables a worker mirrors: each is a definition (keys and
/// index keys), and DynamoDB's largest table quota per account and region
/// is this many.
const MAX_MIRRORED_TABLES: usize = 10_000;

/// The mirror store's block cache: it holds table definitions only.
const MIRROR_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Keys one `BatchGetItem` reads: DynamoDB's limit.
const BATCH_GET_KEYS: usize = 100;

/// Rounds of a `BatchGetItem`'s `UnprocessedKeys` asked again (with a
/// growing pause) before the handler's write fails with a throttling error.
const MAX_READ_ROUNDS: u32 = 6;

/// DynamoDB's longest expression: a net action's condition (one comparison
/// per attribute of the item as read) or update must fit.
const MAX_EXPRESSION_BYTES: usize = tidepool_store::expr::MAX_EXPRESSION_LEN;

/// The source's table definitions, for staging writes against: a store of
/// its own (temporary, in memory and a scratch directory) that never holds
/// an item. Made once per worker.
pub(crate) struct Mirror {
    app: App,
    /// Tables are made one at a time; when each was last compared with the
    /// source, and the CreateTable it was made by.
    making: Mutex<HashMap<String, (std::time::Instant, Json)>>,
}

/// How long a mirrored table's definition is used before it is compared
/// with the source's again (a table re-created there with other keys, or
/// an index added or removed, is mirrored anew within this).
const MIRROR_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(30);

fn internal(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", message.to_string())
}

impl Mirror {
    pub(crate) fn open(region: &str) -> Result<Mirror, ApiError> {
        let config = StoreConfig { cache_bytes: MIRROR_CACHE_BYTES, ..StoreConfig::default() };
        let store = Store::open(config).map_err(|e| internal(messages::server::mirror_store(e)))?;
        let app = App::new(store, region.to_string(), Durability::default(), crate::streams::ITERATOR_LIFETIME)
            .map_err(|e| internal(messages::server::mirror_store(e)))?;
        Ok(Mirror { app, making: Mutex::new(HashMap::new()) })
    }

    /// The mirror of source table `name`, made from its `DescribeTable`
    /// answer (`describe`) the first time.
    fn table(
        &self,
        name: &str,
        describe: impl FnOnce() -> Result<Json, ApiError>,
    ) -> Result<Arc<TableHandle>, ApiError> {
        let lock = || self.making.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut made = lock();
            match made.get_mut(name) {
                Some((at, _)) if at.elapsed() < MIRROR_FRESH_FOR => {
                    if let Ok(t) = self.app.store.table(name) {
                        return Ok(t);
                    }
                }
                // Stale: this caller compares it with the source; the
                // others meanwhile go on with it (one refresh at a time).
                Some((at, _)) => {
                    if let Ok(t) = self.app.store.table(name) {
                        *at = std::time::Instant::now();
                        drop(made);
                        return Ok(self.refresh(name, t, describe));
                    }
                }
                None => {}
            }
        }
        // Asked of the source without the lock (a call of up to seconds).
        let create = create_request(&describe()?);
        let mut made = lock();
        if let Ok(t) = self.app.store.table(name)
            && made.contains_key(name)
        {
            return Ok(t);
        }
        if self.app.store.list_tables(None, MAX_MIRRORED_TABLES).0.len() >= MAX_MIRRORED_TABLES {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "LimitExceededException",
                messages::server::too_many_mirrored_tables(MAX_MIRRORED_TABLES),
            ));
        }
        let Json::Object(request) = &create else {
            return Err(internal(messages::server::MIRROR_DEFINITION_NOT_OBJECT));
        };
        dispatch(&self.app, "CreateTable", Req(request), "localhost")
            .map_err(|e| internal(messages::server::table_not_mirrorable(name, e.message)))?;
        made.insert(name.to_string(), (std::time::Instant::now(), create.clone()));
        self.app.store.table(name).map_err(|e| internal(messages::server::mirror_table_missing(name, e)))
    }

    /// Mirror `t` of table `name` compared with the source's definition:
    /// made anew if that changed (a table of the same name with other keys
    /// or indexes), else kept, as it is kept when the source cannot be
    /// asked now.
    fn refresh(
        &self,
        name: &str,
        t: Arc<TableHandle>,
        describe: impl FnOnce() -> Result<Json, ApiError>,
    ) -> Arc<TableHandle> {
        let Ok(described) = describe() else { return t };
        let create = create_request(&described);
        let mut made = self.making.lock().unwrap_or_else(|p| p.into_inner());
        if made.get(name).is_some_and(|(_, was)| *was == create) {
            return t;
        }
        let Json::Object(request) = &create else { return t };
        let delete = Map::from_iter([("TableName".into(), json!(name))]);
        let _ = dispatch(&self.app, "DeleteTable", Req(&delete), "localhost");
        match dispatch(&self.app, "CreateTable", Req(request), "localhost") {
            Ok(_) => {
                made.insert(name.to_string(), (std::time::Instant::now(), create.clone()));
                tracing::info!(table = name, "the source's table changed; mirrored anew");
            }
            Err(e) => {
                made.remove(name);
                tracing::warn!(table = name, error = %e.message, "the source's table cannot be mirrored anew");
            }
        }
        self.app.store.table(name).unwrap_or(t)
    }
}

/// A `CreateTable` request for the mirror of the table `described`
/// (`DescribeTable`'s answer): its keys and its indexes' keys, which are
/// all a write is checked against.
fn create_request(described: &Json) -> Json {
    let t = &described["Table"];
    let indexes = |member: &str| -> Vec<Json> {
        t[member]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": {"ProjectionType": "KEYS_ONLY"}})
            })
            .collect()
    };
    let mut create = json!({
        "TableName": t["TableName"],
        "KeySchema": t["KeySchema"],
        "AttributeDefinitions": t["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    });
    for member in ["LocalSecondaryIndexes", "GlobalSecondaryIndexes"] {
        let list = indexes(member);
        if !list.is_empty() {
            create[member] = Json::Array(list);
        }
    }
    create
}

/// An item the invocation read from the source.
struct Entry {
    /// Its table's mirror.
    table: Arc<TableHandle>,
    /// Its key, encoded as the store encodes it.
    key_bytes: Vec<u8>,
    /// Its key attributes.
    key: Json,
    /// As read: parsed, and as the source sent it.
    original: Option<(Item, Json)>,
    /// A write named it (and succeeded, or failed on a condition it read).
    touched: bool,
    /// A write replaced it whole (a put).
    replaced: bool,
    /// The top-level attributes the writes' expressions read or wrote.
    names: BTreeSet<String>,
    /// The size of its net action's JSON.
    bytes: usize,
}

/// One invocation's state.
#[derive(Default)]
struct Overlay {
    /// Every item read, seeded as read, then the writes staged over them.
    unit: Unit,
    items: Vec<Entry>,
    /// (table, encoded key) → index in `items`.
    index: HashMap<(String, Vec<u8>), usize>,
    /// `ClientRequestToken`s of the invocation's transactions, with their
    /// requests: a repeat within the invocation is not applied twice.
    tokens: HashMap<String, String>,
    /// The invocation's chain depth (its writes' `DeferredCall`s carry it).
    depth: u32,
}

/// One exactly-once invocation's bridge on a worker (see the module
/// documentation).
pub struct WorkerDeferringBridge {
    app: Weak<App>,
    handle: Option<tokio::runtime::Handle>,
    endpoint: Arc<Endpoint>,
    mirror: Arc<Mirror>,
    state: Mutex<Overlay>,
}

impl WorkerDeferringBridge {
    pub(crate) fn new(
        app: Weak<App>,
        handle: Option<tokio::runtime::Handle>,
        endpoint: Arc<Endpoint>,
        mirror: Arc<Mirror>,
    ) -> Self {
        WorkerDeferringBridge { app, handle, endpoint, mirror, state: Mutex::default() }
    }

    /// Runs `operation` on the source: its answer's JSON, or its error.
    fn source(&self, operation: &str, request: &Json) -> Result<Json, ApiError> {
        let w = call_source(self.endpoint.clone(), &self.handle, operation, &request.to_string());
        if (200..300).contains(&w.status) {
            return serde_json::from_str(&w.body)
                .map_err(|_| internal(messages::server::source_answer_not_json(operation)));
        }
        let e = from_wire(w.clone()).err().unwrap_or_else(|| StoreCallError::new("InternalServerError", ""));
        let status = StatusCode::from_u16(w.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Err(ApiError::new(status, &e.error_type, e.message))
    }

    fn mirrored(&self, table: &str) -> Result<Arc<TableHandle>, ApiError> {
        self.mirror.table(table, || self.source("DescribeTable", &json!({"TableName": table})))
    }

    /// Reads the items of `wanted` not read yet from the source, and seeds
    /// them into the unit as they are there.
    fn read(&self, state: &mut Overlay, wanted: Vec<(Arc<TableHandle>, Vec<u8>, Json)>) -> Result<(), ApiError> {
        let mut unread: Vec<(Arc<TableHandle>, Vec<u8>, Json)> = Vec::new();
        for w in wanted {
            let id = (w.0.def.name.clone(), w.1.clone());
            if !state.index.contains_key(&id) && !unread.iter().any(|u| u.0.def.name == id.0 && u.1 == id.1) {
                unread.push(w);
            }
        }
        for chunk in unread.chunks(BATCH_GET_KEYS) {
            let mut request: Map<String, Json> = Map::new();
            for (t, _, key) in chunk {
                let entry =
                    request.entry(t.def.name.clone()).or_insert_with(|| json!({"Keys": [], "ConsistentRead": true}));
                if let Some(keys) = entry["Keys"].as_array_mut() {
                    keys.push(key.clone());
                }
            }
            let mut found: HashMap<(String, Vec<u8>), Json> = HashMap::new();
            let mut round = 0;
            while !request.is_empty() {
                if round == MAX_READ_ROUNDS {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "ThrottlingException",
                        messages::server::SOURCE_LEFT_ITEMS_UNREAD,
                    ));
                }
                if round > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(50 << round));
                }
                round += 1;
                let answer = self.source("BatchGetItem", &json!({"RequestItems": request}))?;
                for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                    let Some((t, _, _)) = chunk.iter().find(|c| &c.0.def.name == table) else { continue };
                    for item in items.as_array().into_iter().flatten() {
                        let parsed = item_from_json(item)?;
                        let key = tidepool_store::key::item_key(&t.def.key_schema, &parsed);
                        found.insert((table.clone(), key), item.clone());
                    }
                }
                request = answer["UnprocessedKeys"].as_object().cloned().unwrap_or_default();
            }
            for (t, key_bytes, key) in chunk {
                let original = match found.remove(&(t.def.name.clone(), key_bytes.clone())) {
                    Some(json) => Some((item_from_json(&json)?, json)),
                    None => None,
                };
                if let Some((item, _)) = &original {
                    let put = item.clone();
                    let op = WriteOp {
                        table: t.def.name.clone(),
                        key: t.def.key_of(item),
                        decide: Box::new(move |_| Ok(Decision::Put(put))),
                    };
                    self.mirror
                        .app
                        .store
                        .stage(&mut state.unit, vec![op], false, Origin::default())
                        .map_err(|e| ApiError::validation(messages::server::source_item_refused(&t.def.name, e)))?;
                }
                state.index.insert((t.def.name.clone(), key_bytes.clone()), state.items.len());
                state.items.push(Entry {
                    table: t.clone(),
                    key_bytes: key_bytes.clone(),
                    key: key.clone(),
                    original,
                    touched: false,
                    replaced: false,
                    names: BTreeSet::new(),
                    bytes: 0,
                });
            }
        }
        Ok(())
    }

    /// A write: answered as the source would answer it after the
    /// invocation's earlier writes, and kept for the commit.
    fn write(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, ApiError> {
        let mut request: Json = serde_json::from_str(request_json)
            .map_err(|e| ApiError::serialization(messages::request::malformed_body(e)))?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        state.depth = origin.chain_depth;
        let token = request["ClientRequestToken"].as_str().map(str::to_string);
        if let Some(answer) = repeated_token(&state.tokens, token.as_deref(), request_json) {
            return answer;
        }
        let Json::Object(map) = &mut request else {
            return Err(ApiError::serialization(messages::request::BODY_NOT_OBJECT));
        };
        crate::dynamodb::shapes::deserialize(operation, false, map)?;
        // Another engine's table ARNs (any region, any account) name the
        // mirror's tables.
        let renamed = crate::dynamodb::arn::table_names(crate::dynamodb::arn::ANY_REGION, operation, map)?;
        let map = &*map;
        // The items it names, each read once from the source.
        let mut named: Vec<(usize, Target)> = Vec::new();
        let mut wanted = Vec::new();
        for target in targets(operation, map) {
            let table = self.mirrored(&target.table)?;
            // Mirrored anew since this invocation read from it (the source's
            // table changed): its items are staged against the old one, so
            // the invocation fails and its batch is delivered again.
            if state.items.iter().any(|e| e.table.def.name == table.def.name && e.table.def.id != table.def.id) {
                return Err(internal(messages::server::source_table_changed(&table.def.name)));
            }
            // A key the table's schema does not make: the write fails below.
            let Ok(item) = item_from_json(&target.item) else { continue };
            let key = table.def.key_of(&item);
            if table.def.key_schema.names().any(|n| !key.contains_key(n)) {
                continue;
            }
            let key_bytes = tidepool_store::key::item_key(&table.def.key_schema, &key);
            named.push((wanted.len(), target));
            wanted.push((table, key_bytes, item_to_json(&key)));
        }
        let keys: Vec<(String, Vec<u8>)> = wanted.iter().map(|(t, k, _)| (t.def.name.clone(), k.clone())).collect();
        // Should the write not count, the items first read for it are
        // forgotten again: an invocation holds its touched items and one
        // write's, no more.
        let (seeded, known) = (state.unit.len(), state.items.len());
        if let Err(e) = self.read(state, wanted) {
            state.forget_since(seeded, known);
            return Err(e);
        }
        let result = with_unit(&mut state.unit, || dispatch(&self.mirror.app, operation, Req(map), "localhost"));
        let decided_by_state = match &result {
            Ok(_) => true,
            Err(e) => {
                let kind = e.kind.rsplit('#').next().unwrap_or(&e.kind);
                kind == "ConditionalCheckFailedException" || kind == "TransactionCanceledException"
            }
        };
        if !decided_by_state {
            state.forget_since(seeded, known);
            return Err(result.err().unwrap_or_else(ApiError::internal));
        }
        // Its items are now part of the commit, as the write left them.
        let mut saved = Vec::new();
        for (i, target) in named {
            let at = state.index[&keys[i]];
            let e = &mut state.items[at];
            saved.push((at, e.touched, e.replaced, e.names.clone(), e.bytes));
            e.touched = true;
            e.replaced |= target.replaces && result.is_ok();
            e.names.extend(target.names);
        }
        if let Err(limit) = self.measure(state, saved.iter().map(|s| s.0).collect()) {
            for (at, touched, replaced, names, bytes) in saved {
                let e = &mut state.items[at];
                (e.touched, e.replaced, e.names, e.bytes) = (touched, replaced, names, bytes);
            }
            state.forget_since(seeded, known);
            return Err(limit);
        }
        let body = result?;
        if let Some(t) = token {
            state.tokens.insert(t, request_json.to_string());
        }
        Ok(if renamed.is_empty() { body.into_string() } else { renamed.restore(body.into_json()).to_string() })
    }

    /// Sizes the net actions of items `changed` anew, and checks that the
    /// invocation's writes still make one transaction with the checkpoint.
    fn measure(&self, state: &mut Overlay, changed: Vec<usize>) -> Result<(), ApiError> {
        for at in changed {
            let action = state.action(at);
            let body = action.as_object().and_then(|o| o.values().next()).cloned().unwrap_or_default();
            let longest = ["ConditionExpression", "UpdateExpression"]
                .iter()
                .map(|m| body[m].as_str().map_or(0, str::len))
                .max()
                .unwrap_or(0);
            let operators = ["ConditionExpression", "UpdateExpression"]
                .iter()
                .map(|m| body[m].as_str().map_or(0, operators))
                .max()
                .unwrap_or(0);
            if operators > tidepool_store::expr::MAX_OPERATORS {
                return Err(ApiError::validation(messages::request::exactly_once_item_too_many_operators(
                    &state.items[at].table.def.name,
                    tidepool_store::expr::MAX_OPERATORS,
                    operators,
                )));
            }
            if longest > MAX_EXPRESSION_BYTES {
                return Err(ApiError::validation(messages::request::exactly_once_item_expression_too_long(
                    &state.items[at].table.def.name,
                    MAX_EXPRESSION_BYTES,
                    longest,
                )));
            }
            state.items[at].bytes = action.to_string().len();
        }
        let touched = state.items.iter().filter(|e| e.touched).count();
        if touched > MAX_EFFECT_ITEMS {
            return Err(ApiError::validation(messages::request::exactly_once_too_many_items(MAX_EFFECT_ITEMS)));
        }
        let bytes: usize = state.items.iter().filter(|e| e.touched).map(|e| e.bytes).sum();
        if bytes > MAX_EFFECT_BYTES {
            return Err(ApiError::validation(messages::request::exactly_once_too_many_bytes(MAX_EFFECT_BYTES, bytes)));
        }
        Ok(())
    }

    fn call_api(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> WireResponse {
        if let Err(e) = authorize_forwarded(&self.app, operation, request_json, origin) {
            return wire(Err(e));
        }
        let partiql = matches!(operation, "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction");
        let selects =
            partiql && serde_json::from_str::<Json>(request_json).is_ok_and(|r| partiql_reads_only(operation, &r));
        if READS.contains(&operation) || selects {
            return call_source(self.endpoint.clone(), &self.handle, operation, request_json);
        }
        if partiql {
            return wire(Err(ApiError::validation(messages::request::partiql_write_not_for_worker_handler(operation))));
        }
        if !WRITES.contains(&operation) {
            return wire(Err(ApiError::validation(messages::request::not_for_exactly_once_handler(operation))));
        }
        wire(self.write(operation, request_json, origin))
    }
}

impl Overlay {
    /// Drops the changes staged after the first `staged` (the seeds of
    /// items read since, and a write's) and the items read after the first
    /// `items`.
    fn forget_since(&mut self, staged: usize, items: usize) {
        self.unit.truncate(staged);
        for e in self.items.drain(items..) {
            self.index.remove(&(e.table.def.name.clone(), e.key_bytes));
        }
    }

    /// The net action of item `at` as the invocation's writes leave it.
    fn action(&mut self, at: usize) -> Json {
        let e = &self.items[at];
        let staged = self.unit.staged(&e.table, &e.key_bytes);
        let e = &self.items[at];
        let after = match staged {
            Some(after) => after,
            None => e.original.as_ref().map(|(item, _)| item.clone()),
        };
        let keys: Vec<String> = e.table.def.key_schema.names().map(str::to_string).collect();
        let original = e.original.as_ref().map(|(item, json)| (item, json));
        net_action(&e.table.def.name, &keys, &e.key, original, after.as_ref(), e.replaced, &e.names)
    }
}

/// What one item of a write names: the item (or its key), whether the write
/// replaces it whole, and the top-level attributes its expressions name.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    table: String,
    item: Json,
    replaces: bool,
    names: BTreeSet<String>,
}

/// The items write `operation` names (its tables' ARNs already names).
fn targets(operation: &str, request: &Map<String, Json>) -> Vec<Target> {
    let one = |body: &Map<String, Json>, member: &str, replaces: bool| Target {
        table: body.get("TableName").and_then(Json::as_str).unwrap_or_default().to_string(),
        item: body.get(member).cloned().unwrap_or_default(),
        replaces,
        names: expression_names(body),
    };
    match operation {
        "PutItem" => vec![one(request, "Item", true)],
        "UpdateItem" | "DeleteItem" => vec![one(request, "Key", false)],
        "BatchWriteItem" => {
            let mut out = Vec::new();
            for (table, writes) in request.get("RequestItems").and_then(Json::as_object).into_iter().flatten() {
                for w in writes.as_array().into_iter().flatten() {
                    let (item, replaces) = match (w.get("PutRequest"), w.get("DeleteRequest")) {
                        (Some(p), _) => (p.get("Item"), true),
                        (None, Some(d)) => (d.get("Key"), false),
                        (None, None) => (None, false),
                    };
                    if let Some(item) = item {
                        out.push(Target { table: table.clone(), item: item.clone(), replaces, names: BTreeSet::new() });
                    }
                }
            }
            out
        }
        "TransactWriteItems" => {
            let mut out = Vec::new();
            for action in request.get("TransactItems").and_then(Json::as_array).into_iter().flatten() {
                for (kind, member, replaces) in [
                    ("Put", "Item", true),
                    ("Update", "Key", false),
                    ("Delete", "Key", false),
                    ("ConditionCheck", "Key", false),
                ] {
                    if let Some(body) = action.get(kind).and_then(Json::as_object) {
                        out.push(one(body, member, replaces));
                    }
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The top-level attributes a write's expressions (and legacy `Expected`
/// and `AttributeUpdates`) name. An expression that does not parse names
/// nothing here: the write itself fails on it.
fn expression_names(body: &Map<String, Json>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let names: HashMap<String, String> = body
        .get("ExpressionAttributeNames")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    let values = body
        .get("ExpressionAttributeValues")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), value_from_json(v, 0).ok()?)))
        .collect();
    let mut ph = Placeholders::new(names, values);
    if let Some(e) = body.get("ConditionExpression").and_then(Json::as_str)
        && let Ok(c) = tidepool_store::expr::parse_condition(e, &mut ph, ExprKind::Condition)
    {
        out.extend(c.top_level_names().into_iter().map(str::to_string));
    }
    if let Some(e) = body.get("UpdateExpression").and_then(Json::as_str)
        && let Ok(u) = tidepool_store::expr::parse_update(e, &mut ph)
    {
        out.extend(u.paths().into_iter().map(|p| p.top().to_string()));
    }
    for member in ["Expected", "AttributeUpdates"] {
        out.extend(body.get(member).and_then(Json::as_object).into_iter().flatten().map(|(k, _)| k.clone()));
    }
    out
}

/// Placeholders of one action's expressions.
#[derive(Default)]
struct Placeheld {
    names: Map<String, Json>,
    values: Map<String, Json>,
}

impl Placeheld {
    fn name(&mut self, name: &str) -> String {
        let p = format!("#n{}", self.names.len());
        self.names.insert(p.clone(), json!(name));
        p
    }

    fn value(&mut self, value: Json) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), value);
        p
    }
}

/// The operators and functions of an expression this module writes (as
/// DynamoDB counts them against its 300): each comparison, function and
/// `AND`.
fn operators(expression: &str) -> usize {
    [" AND ", " = ", "attribute_exists(", "attribute_not_exists(", "attribute_type("]
        .iter()
        .map(|op| expression.matches(op).count())
        .sum()
}

/// The condition that item as read (`original`, parsed and as sent) is
/// still so: each of its attributes equal (`NULL`s by type), and each
/// attribute in `names` that it lacked still absent; for an item that was
/// not there, that it still is not.
fn as_read(ph: &mut Placeheld, keys: &[String], original: Option<(&Item, &Json)>, names: &BTreeSet<String>) -> String {
    let hash = keys.first().map_or("", String::as_str);
    let Some((item, sent)) = original else {
        return format!("attribute_not_exists({})", ph.name(hash));
    };
    let mut parts = Vec::new();
    for attr in item.keys().filter(|a| !keys.contains(a)) {
        let value = sent.get(attr).cloned().unwrap_or_default();
        let n = ph.name(attr);
        if value.get("NULL").is_some() {
            let v = ph.value(json!({"S": "NULL"}));
            parts.push(format!("attribute_type({n}, {v})"));
        } else {
            let v = ph.value(value);
            parts.push(format!("{n} = {v}"));
        }
    }
    // An item of its key alone is still there (the comparisons above say
    // so of any other).
    if parts.is_empty() {
        parts.push(format!("attribute_exists({})", ph.name(hash)));
    }
    for name in names.iter().filter(|n| !item.contains_key(*n) && !keys.contains(n)) {
        parts.push(format!("attribute_not_exists({})", ph.name(name)));
    }
    parts.join(" AND ")
}

/// The one `TransactWriteItems` action that leaves an item as the
/// invocation's writes left it (`after`), conditional on it being as read
/// (`original`): a `ConditionCheck` if they left it as it was; a `Put` of a
/// new item, or of one a write replaced whole (`replaced`); a `Delete`; or
/// else an `Update` of the attributes that changed (so an attribute another
/// client added meanwhile, which no write named, is kept, as if the
/// invocation had run after it). `names` are the attributes the writes'
/// expressions named (see [`as_read`]).
fn net_action(
    table: &str,
    keys: &[String],
    key: &Json,
    original: Option<(&Item, &Json)>,
    after: Option<&Item>,
    replaced: bool,
    names: &BTreeSet<String>,
) -> Json {
    let mut ph = Placeheld::default();
    let condition = as_read(&mut ph, keys, original, names);
    let mut body = json!({"TableName": table});
    let kind = match (original.map(|o| o.0), after) {
        (None, None) => {
            body["Key"] = key.clone();
            "ConditionCheck"
        }
        (Some(before), Some(now)) if before == now => {
            body["Key"] = key.clone();
            "ConditionCheck"
        }
        (None, Some(now)) => {
            body["Item"] = item_to_json(now);
            "Put"
        }
        (Some(_), Some(now)) if replaced => {
            body["Item"] = item_to_json(now);
            "Put"
        }
        (Some(_), None) => {
            body["Key"] = key.clone();
            "Delete"
        }
        (Some(before), Some(now)) => {
            let now_json = item_to_json(now);
            let mut set = Vec::new();
            for (attr, value) in now.iter().filter(|(a, _)| !keys.contains(a)) {
                if before.get(attr) != Some(value) {
                    let n = ph.name(attr);
                    let v = ph.value(now_json[attr].clone());
                    set.push(format!("{n} = {v}"));
                }
            }
            let remove: Vec<String> =
                before.keys().filter(|a| !keys.contains(a) && !now.contains_key(*a)).map(|a| ph.name(a)).collect();
            let mut update = Vec::new();
            if !set.is_empty() {
                update.push(format!("SET {}", set.join(", ")));
            }
            if !remove.is_empty() {
                update.push(format!("REMOVE {}", remove.join(", ")));
            }
            body["Key"] = key.clone();
            body["UpdateExpression"] = json!(update.join(" "));
            "Update"
        }
    };
    body["ConditionExpression"] = json!(condition);
    body["ExpressionAttributeNames"] = Json::Object(ph.names);
    if !ph.values.is_empty() {
        body["ExpressionAttributeValues"] = Json::Object(ph.values);
    }
    json!({ kind: body })
}

impl StoreBridge for WorkerDeferringBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        from_wire(self.call_api(operation, request_json, origin))
    }

    fn call_wire(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> WireResponse {
        self.call_api(operation, request_json, origin)
    }

    fn http(&self, request: axum::http::Request<Bytes>, origin: &InvocationOrigin) -> HttpFuture {
        route(&self.app, &self.handle, request, origin, true)
    }
}

impl DeferringBridge for WorkerDeferringBridge {
    /// One net action per item the invocation's writes touched, in the
    /// order they first did.
    fn take(&self) -> Vec<DeferredCall> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let touched: Vec<usize> = (0..state.items.len()).filter(|&i| state.items[i].touched).collect();
        let depth = state.depth;
        let calls = touched
            .into_iter()
            .map(|at| DeferredCall {
                operation: TRANSACT_ACTION.to_string(),
                request_json: state.action(at).to_string(),
                chain_depth: depth,
                outcome: format!("{}|{}", state.items[at].table.def.name, state.items[at].key),
                // A worker refuses a batch with a denied statement whole.
                denied: Vec::new(),
            })
            .collect();
        *state = Overlay::default();
        calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(j: Json) -> Item {
        item_from_json(&j).unwrap()
    }

    fn keys() -> Vec<String> {
        vec!["game".to_string()]
    }

    #[test]
    fn each_item_commits_as_one_action_conditional_on_its_state_as_read() {
        let key = json!({"game": {"S": "g"}});
        let none = BTreeSet::new();
        // Not there, still not there: checked absent.
        let a = net_action("T", &keys(), &key, None, None, false, &none);
        assert_eq!(
            a,
            json!({"ConditionCheck": {"TableName": "T", "Key": key, "ConditionExpression": "attribute_not_exists(#n0)",
                "ExpressionAttributeNames": {"#n0": "game"}}})
        );
        // Made: a put, conditional on its absence.
        let made = item(json!({"game": {"S": "g"}, "total": {"N": "5"}}));
        let a = net_action("T", &keys(), &key, None, Some(&made), false, &none);
        assert_eq!(a["Put"]["Item"]["total"], json!({"N": "5"}));
        assert_eq!(a["Put"]["ConditionExpression"], "attribute_not_exists(#n0)");
        // Changed by updates: an update of what changed, conditional on every
        // attribute as read (the number as the source sent it), and on the
        // absence of an attribute the writes named that it lacked.
        let sent = json!({"game": {"S": "g"}, "total": {"N": "5.0"}, "gone": {"S": "x"}, "z": {"NULL": true}});
        let before = item(sent.clone());
        let now = item(json!({"game": {"S": "g"}, "total": {"N": "12"}, "z": {"NULL": true}, "best": {"N": "7"}}));
        let names: BTreeSet<String> = ["total", "best", "lock"].iter().map(|s| s.to_string()).collect();
        let a = net_action("T", &keys(), &key, Some((&before, &sent)), Some(&now), false, &names);
        let u = &a["Update"];
        assert_eq!(u["Key"], key);
        assert_eq!(
            u["ConditionExpression"],
            "#n0 = :v0 AND #n1 = :v1 AND attribute_type(#n2, :v2) AND attribute_not_exists(#n3) AND attribute_not_exists(#n4)"
        );
        assert_eq!(u["UpdateExpression"], "SET #n5 = :v3, #n6 = :v4 REMOVE #n7");
        let n = &u["ExpressionAttributeNames"];
        let v = &u["ExpressionAttributeValues"];
        assert_eq!((&n["#n0"], &v[":v0"]), (&json!("gone"), &json!({"S": "x"})));
        assert_eq!((&n["#n1"], &v[":v1"]), (&json!("total"), &json!({"N": "5.0"})));
        assert_eq!((&n["#n2"], &v[":v2"]), (&json!("z"), &json!({"S": "NULL"})));
        assert_eq!((&n["#n3"], &n["#n4"]), (&json!("best"), &json!("lock")));
        assert_eq!((&n["#n5"], &v[":v3"]), (&json!("best"), &json!({"N": "7"})));
        assert_eq!((&n["#n6"], &v[":v4"]), (&json!("total"), &json!({"N": "12"})));
        assert_eq!(n["#n7"], "gone");
        // Replaced whole: a put, as read.
        let a = net_action("T", &keys(), &key, Some((&before, &sent)), Some(&now), true, &none);
        assert_eq!(a["Put"]["ConditionExpression"], "#n0 = :v0 AND #n1 = :v1 AND attribute_type(#n2, :v2)");
        // Deleted: a delete, as read.
        let a = net_action("T", &keys(), &key, Some((&before, &sent)), None, false, &none);
        assert_eq!(a["Delete"]["Key"], key);
        // Left as it was (a write whose condition failed): checked as read;
        // an item of keys alone is checked present.
        let a = net_action("T", &keys(), &key, Some((&before, &sent)), Some(&before), false, &none);
        assert!(a["ConditionCheck"]["ConditionExpression"].as_str().unwrap().starts_with("#n0 = :v0"));
        let bare = item(key.clone());
        let a = net_action("T", &keys(), &key, Some((&bare, &key)), Some(&bare), false, &none);
        assert_eq!(a["ConditionCheck"]["ConditionExpression"], "attribute_exists(#n0)");
        assert!(a["ConditionCheck"].get("ExpressionAttributeValues").is_none(), "no empty values: {a}");
        // ... and still so when the writes named attributes it lacked (a
        // delete by another client meanwhile must fail the commit).
        let grown = item(json!({"game": {"S": "g"}, "best": {"N": "7"}}));
        let a = net_action("T", &keys(), &key, Some((&bare, &key)), Some(&grown), false, &names);
        let c = a["Update"]["ConditionExpression"].as_str().unwrap();
        assert!(c.starts_with("attribute_exists(#n0) AND attribute_not_exists("), "{c}");
        assert_eq!(operators(c), 7, "four functions and three ANDs: {c}");
    }

    #[test]
    fn a_writes_items_and_the_names_its_expressions_read_are_found() {
        let request = json!({
            "TransactItems": [
                {"Update": {"TableName": "A", "Key": {"k": {"S": "1"}}, "UpdateExpression": "SET #t = #t + :d, bonus = if_not_exists(seen, :d)",
                    "ConditionExpression": "attribute_not_exists(#l) OR #l < :d",
                    "ExpressionAttributeNames": {"#t": "total", "#l": "lock"}, "ExpressionAttributeValues": {":d": {"N": "1"}}}},
                {"Put": {"TableName": "B", "Item": {"k": {"S": "2"}, "v": {"S": "x"}}}},
                {"ConditionCheck": {"TableName": "A", "Key": {"k": {"S": "3"}}, "ConditionExpression": "attribute_exists(k)"}},
            ]
        });
        let found = targets("TransactWriteItems", request.as_object().unwrap());
        assert_eq!(found.len(), 3);
        let names: Vec<&str> = found[0].names.iter().map(String::as_str).collect();
        assert_eq!(names, ["bonus", "lock", "seen", "total"]);
        assert_eq!((found[0].table.as_str(), found[0].replaces), ("A", false));
        assert_eq!((found[1].table.as_str(), found[1].replaces), ("B", true));
        assert_eq!(found[2].item, json!({"k": {"S": "3"}}));
        let batch = json!({"RequestItems": {"A": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}, {"DeleteRequest": {"Key": {"k": {"S": "2"}}}}]}});
        let found = targets("BatchWriteItem", batch.as_object().unwrap());
        assert_eq!(found.iter().map(|t| t.replaces).collect::<Vec<_>>(), [true, false]);
        let legacy = json!({"TableName": "A", "Key": {"k": {"S": "1"}}, "AttributeUpdates": {"n": {"Action": "PUT", "Value": {"N": "1"}}}, "Expected": {"m": {"Exists": false}}});
        let names: Vec<String> = targets("UpdateItem", legacy.as_object().unwrap())[0].names.iter().cloned().collect();
        assert_eq!(names, ["m", "n"]);
    }

    #[test]
    fn the_mirror_keeps_only_keys_and_index_keys() {
        let described = json!({"Table": {
            "TableName": "Orders", "TableStatus": "ACTIVE", "ItemCount": 4,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "c", "AttributeType": "N"}],
            "GlobalSecondaryIndexes": [{"IndexName": "byC", "KeySchema": [{"AttributeName": "c", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}, "IndexStatus": "ACTIVE"}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"},
        }});
        let create = create_request(&described);
        assert_eq!(create["GlobalSecondaryIndexes"][0]["Projection"], json!({"ProjectionType": "KEYS_ONLY"}));
        assert!(create.get("StreamSpecification").is_none() && create.get("LocalSecondaryIndexes").is_none());
        let mirror = Mirror::open("us-east-1").unwrap();
        let t = mirror.table("Orders", || Ok(described.clone())).unwrap();
        assert_eq!(t.def.key_schema.hash.name, "id");
        // Made once: the second look asks the source nothing.
        mirror.table("Orders", || panic!("described again")).unwrap();
        // A write staged over it is checked as the source would check it.
        let mut unit = Unit::new();
        let bad = json!({"TableName": "Orders", "Item": {"id": {"S": "1"}, "c": {"S": "not a number"}}});
        let r = with_unit(&mut unit, || dispatch(&mirror.app, "PutItem", Req(bad.as_object().unwrap()), "localhost"));
        let e = r.err().expect("an index key of the wrong type is refused");
        assert!(e.message.contains("Type mismatch"), "{}", e.message);
        let good = json!({"TableName": "Orders", "Item": {"id": {"S": "1"}, "c": {"N": "2"}}});
        with_unit(&mut unit, || dispatch(&mirror.app, "PutItem", Req(good.as_object().unwrap()), "localhost")).unwrap();
        let key = tidepool_store::key::item_key(&t.def.key_schema, &item(json!({"id": {"S": "1"}})));
        assert_eq!(unit.staged(&t, &key), Some(Some(item(good["Item"].clone()))));
        // Nothing is committed to the mirror.
        assert!(mirror.app.store.get_item(&t, &item(json!({"id": {"S": "1"}}))).unwrap().is_none());
    }
}
