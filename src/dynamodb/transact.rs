//! TransactWriteItems and TransactGetItems.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capacity::{Access, Target};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use tidepool_store::expr::{ExprKind, SetValue, UpdateAction, UpdateExpr, UpdateOperand};
use tidepool_store::key::item_key;
use tidepool_store::messages;
use tidepool_store::table::{KeyAttr, KeySchema, TableDef, check_key_value};
use tidepool_store::value::{Item, Value};
use tidepool_store::{CancellationReason, Decide, Decision, StoreError, TableHandle, WriteOp, WriteOutcome};

use super::App;
use super::attr::{item_from_json, item_to_json};
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, Exprs, IndexUnits, Split, write_units};
use super::items::{apply_update, check_condition, check_item, update_of, write_capacity};
use super::request::{Req, missing};

/// A transaction holds at most 100 actions.
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// The items a transaction writes add up to at most 4 MB.
const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// ClientRequestToken makes a transaction idempotent for 10 minutes.
const TOKEN_TTL: Duration = Duration::from_secs(600);
/// Tokens remembered at once; the oldest are dropped beyond this.
const MAX_TOKENS: usize = 100_000;

/// Read units per table that replaying a transaction costs.
pub(crate) type ReplayUnits = Vec<(String, f64)>;

/// Remembered ClientRequestTokens: token → (hash of the request, when, what
/// a replay costs).
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, Remembered>>);

/// A remembered token: the request's hash, when it ran, what a replay costs.
type Remembered = ([u8; 32], Instant, ReplayUnits);

impl TokenCache {
    /// `Ok(Some(cost))` if this exact request already succeeded within the
    /// window: DynamoDB answers it without running it again, and charges a
    /// transactional read of the items it wrote.
    pub(crate) fn seen(&self, token: &str, hash: [u8; 32]) -> ApiResult<Option<ReplayUnits>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, (_, t, _)| now.duration_since(*t) < TOKEN_TTL);
        match m.get(token) {
            Some((h, _, units)) if *h == hash => Ok(Some(units.clone())),
            Some(_) => {
                Err(StoreError::IdempotentParameterMismatch(messages::transaction::TOKEN_MISMATCH.into()).into())
            }
            None => Ok(None),
        }
    }

    pub(crate) fn remember(&self, token: &str, hash: [u8; 32], replay: ReplayUnits) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_TOKENS
            && let Some(oldest) = m.iter().min_by_key(|(_, (_, t, _))| *t).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(token.to_string(), (hash, Instant::now(), replay));
    }
}

/// What replaying a write transaction costs: a transactional read (twice a
/// strongly consistent read, 4 KB units) of each item it wrote, per table.
pub(crate) fn replay_units(tables: &[Arc<TableHandle>], outcomes: &[WriteOutcome]) -> ReplayUnits {
    let mut per_table: BTreeMap<String, f64> = BTreeMap::new();
    for (t, out) in tables.iter().zip(outcomes) {
        let size = |i: &Option<tidepool_store::value::Item>| i.as_ref().map_or(0, tidepool_store::value::item_size);
        let units = 2.0 * super::expr::read_units(size(&out.old).max(size(&out.new)), true);
        *per_table.entry(t.def.name.clone()).or_default() += units;
    }
    per_table.into_iter().collect()
}

/// The answer to a replayed write transaction: its ConsumedCapacity, if asked.
pub(crate) fn replay_answer(cap: Capacity, units: &ReplayUnits, mut body: Map<String, Json>) -> Json {
    if cap != Capacity::None {
        let list: Vec<Json> = units.iter().filter_map(|(n, u)| cap.render(n, *u, &[], Split::Read)).collect();
        body.insert("ConsumedCapacity".into(), Json::Array(list));
    }
    Json::Object(body)
}

fn actions<'a>(r: &Req<'a>) -> ApiResult<Vec<Req<'a>>> {
    let items = r.objects("TransactItems")?;
    if r.get("TransactItems").is_none() {
        return Err(missing("TransactItems"));
    }
    if items.is_empty() || items.len() > MAX_TRANSACT_ITEMS {
        // DynamoDB echoes the list as its Java front end prints it.
        let echo: Vec<String> = items
            .iter()
            .map(|a| {
                let kinds = ["ConditionCheck", "Put", "Delete", "Update", "Get"];
                let kind = kinds.iter().find(|k| a.get(k).is_some()).copied().unwrap_or("Unknown");
                let table = a.get(kind).and_then(|o| o.get("TableName")).and_then(Json::as_str).unwrap_or("null");
                format!("{kind}(tableName={table})")
            })
            .collect();
        return Err(ApiError::validation(if items.is_empty() {
            messages::transaction::no_items(echo.join(", "))
        } else {
            messages::transaction::too_many_items(echo.join(", "), MAX_TRANSACT_ITEMS)
        }));
    }
    Ok(items)
}

// DynamoDB splits an action's faults in two. What it can tell from the
// request alone (missing members, bad expressions, empty or oversized key
// values, a Put's size, an Update writing an empty value to an index key) is
// a ValidationException before the transaction opens. What it finds once the
// action meets the table's schema while the transaction runs (a key value of
// the wrong type, a Key that does not match the key schema) cancels the
// transaction, with a `ValidationError` reason at that action. The helpers
// below return the first kind as `Err` and the second as `Ok(Some(reason))`.

/// A key schema's attributes with whether each is the partition key.
fn key_attrs(schema: &KeySchema) -> impl Iterator<Item = (&KeyAttr, bool)> {
    std::iter::once((&schema.hash, true)).chain(schema.range.as_ref().map(|r| (r, false)))
}

/// A table's `Key` parameter: `Err` for a fault of the request (a missing
/// `Key`, an empty or oversized key value), the key with the cancellation
/// reason when it does not match the key schema (an attribute missing, extra
/// or of another type).
fn key_fault(r: &Req<'_>, def: &TableDef) -> ApiResult<(Item, Option<String>)> {
    let key = item_from_json(r.get("Key").ok_or_else(|| missing("Key"))?)?;
    for (attr, is_hash) in key_attrs(&def.key_schema) {
        if let Some(v) = key.get(&attr.name)
            && v.attr_type() == attr.ty
        {
            check_key_value(&attr.name, v, is_hash, None)?;
        }
    }
    match def.check_key_attrs(&key, true) {
        Ok(()) => Ok((key, None)),
        Err(StoreError::Validation(m)) => Ok((key, Some(m))),
        Err(e) => Err(e.into()),
    }
}

/// A Put's item: `Err` for a fault of the request (a key attribute missing,
/// an empty or oversized table or index key value, the item's size), the
/// cancellation reason for a table or index key value of another type.
fn put_fault(def: &TableDef, item: &Item) -> ApiResult<Option<String>> {
    for (attr, is_hash) in key_attrs(&def.key_schema) {
        match item.get(&attr.name) {
            None => {
                return Err(ApiError::validation(messages::item::missing_key(&attr.name)));
            }
            Some(v) if v.attr_type() == attr.ty => check_key_value(&attr.name, v, is_hash, None)?,
            Some(_) => {}
        }
    }
    for idx in &def.indexes {
        for (attr, is_hash) in key_attrs(&idx.key_schema) {
            if let Some(v) = item.get(&attr.name)
                && v.attr_type() == attr.ty
            {
                check_key_value(&attr.name, v, is_hash, Some(&idx.name))?;
            }
        }
    }
    super::items::check_item_size(item)?;
    // What is left for the full check to find is a type mismatch.
    match check_item(def, item, false) {
        Ok(()) => Ok(None),
        Err(StoreError::Validation(m)) => Ok(Some(m)),
        Err(e) => Err(e.into()),
    }
}

/// An Update that sets an index key attribute to an empty string or binary
/// given in the request: a fault of the request, in DynamoDB's update wording.
pub(super) fn check_update_index_keys(def: &TableDef, update: &UpdateExpr) -> ApiResult<()> {
    for action in &update.actions {
        let UpdateAction::Set(path, SetValue::Operand(UpdateOperand::Value(v))) = action else { continue };
        // A table key attribute is refused as such when the update runs.
        if !path.rest().is_empty() || def.key_schema.contains(path.top()) {
            continue;
        }
        let kind = match v {
            Value::S(s) if s.is_empty() => "string",
            Value::B(b) if b.is_empty() => "binary",
            _ => continue,
        };
        let is_index_key = def
            .indexes
            .iter()
            .flat_map(|idx| key_attrs(&idx.key_schema))
            .any(|(attr, _)| attr.name == path.top() && attr.ty == v.attr_type())
            || def
                .vector_indexes
                .iter()
                .filter_map(|x| x.hash_attr())
                .any(|a| a.name == path.top() && a.ty == v.attr_type());
        if is_index_key {
            return Err(ApiError::validation(messages::item::update_empty_index_key(kind)));
        }
    }
    Ok(())
}

/// Whether `key` holds each key attribute of the table with its type, so it
/// names an item.
fn is_well_typed(def: &TableDef, key: &Item) -> bool {
    key_attrs(&def.key_schema).all(|(attr, _)| key.get(&attr.name).is_some_and(|v| v.attr_type() == attr.ty))
}

pub fn transact_write(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = actions(&r)?;
    let token = r.str_opt("ClientRequestToken")?;
    // ClientRequestToken: 1 to 36 characters.
    if let Some(t) = token.filter(|t| t.is_empty() || t.len() > 36) {
        return Err(ApiError::validation(if t.is_empty() {
            messages::transaction::token_too_short(t)
        } else {
            messages::transaction::token_too_long(t)
        }));
    }
    let hash: [u8; 32] = Sha256::digest(serde_json::to_vec(r.0).unwrap_or_default()).into();
    let cap = Capacity::from_request(&r)?;
    let metrics = super::items::wants_collection_metrics(&r)?;
    if let Some(t) = token
        && let Some(units) = app.tokens.seen(t, hash)?
    {
        return Ok(replay_answer(cap, &units, Map::new()));
    }
    let mut ops = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    let mut put_bytes = 0usize;
    // The first action with a fault of its own (a key of the wrong type,
    // ...): DynamoDB stops there, that action's reason is ValidationError
    // and every other one None, conditions unevaluated (Alternator's
    // tests, recorded against DynamoDB).
    let mut first_fault: Option<(usize, String)> = None;
    let mut tables = Vec::new();
    const ACTIONS: [&str; 4] = ["ConditionCheck", "Put", "Delete", "Update"];
    if list.iter().any(|a| ACTIONS.iter().filter(|k| a.obj_opt(k).ok().flatten().is_some()).count() > 1) {
        return Err(ApiError::validation(messages::transaction::SEVERAL_ACTIONS));
    }
    for action in &list {
        let (kind, a) = match ACTIONS.iter().find_map(|k| action.obj_opt(k).ok().flatten().map(|a| (*k, a))) {
            Some(x) => x,
            None => {
                return Err(ApiError::validation(messages::transaction::NO_ACTION));
            }
        };
        let table = app.store.table(a.str("TableName")?)?;
        let mut ex = Exprs::from_action(&a)?.for_operation(kind).in_transaction();
        let on_fail = a.enum_opt("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])? == Some("ALL_OLD");
        let def = &table.def;
        let (key, decide, fault): (Item, Decide<'static>, Option<String>) = match kind {
            "Put" => {
                let item = item_from_json(a.get("Item").ok_or_else(|| missing("Item"))?)?;
                put_bytes += tidepool_store::value::item_size(&item);
                let fault = put_fault(def, &item)?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                (
                    def.key_of(&item),
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        Ok(Decision::Put(item))
                    }),
                    fault,
                )
            }
            "Delete" => {
                let (key, fault) = key_fault(&a, def)?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        Ok(Decision::Delete)
                    }),
                    fault,
                )
            }
            "ConditionCheck" => {
                let (key, fault) = key_fault(&a, def)?;
                let cond = ex
                    .condition(&a, "ConditionExpression", ExprKind::Condition)?
                    .ok_or_else(|| missing("ConditionExpression"))?;
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(Some(&cond), cur, on_fail)?;
                        Ok(Decision::Keep)
                    }),
                    fault,
                )
            }
            _ => {
                let (key, fault) = key_fault(&a, def)?;
                let update = update_of(&a, &mut ex)?.ok_or_else(|| missing("UpdateExpression"))?;
                super::expr::scalar_keys_of_update(def, &update)?;
                check_update_index_keys(def, &update)?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                let d = def.clone();
                let k2 = key.clone();
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        if super::items::creates_nothing(&d, cur, Some(&update))? {
                            return Ok(Decision::Keep);
                        }
                        Ok(Decision::Put(apply_update(&d, &k2, cur, Some(&update))?))
                    }),
                    fault,
                )
            }
        };
        ex.finish()?;
        let well_typed = is_well_typed(def, &key);
        if well_typed && !seen.insert((def.id, item_key(&def.key_schema, &key))) {
            return Err(ApiError::validation(messages::transaction::SAME_ITEM_TWICE));
        }
        // The request's other actions are still read for faults of the
        // request itself (a top-level ValidationException comes first).
        if let Some(reason) = fault {
            first_fault.get_or_insert((ops.len(), reason));
        }
        tables.push(table.clone());
        ops.push(WriteOp { table: table.def.name.clone(), key, decide });
    }
    if put_bytes > MAX_TRANSACTION_BYTES {
        return Err(ApiError::validation(messages::transaction::TOO_LARGE));
    }
    if let Some((at, reason)) = first_fault {
        let reasons = (0..ops.len())
            .map(|i| match i == at {
                true => CancellationReason { code: "ValidationError", message: Some(reason.clone()), item: None },
                false => CancellationReason { code: "None", message: None, item: None },
            })
            .collect();
        return Err(StoreError::TransactionCanceled(reasons).into());
    }
    let keys: Vec<Item> =
        if app.capacity.wants_keys() { ops.iter().map(|o| o.key.clone()).collect() } else { Vec::new() };
    admit_all(app, Access::Write, tables.iter().zip(&keys))?;
    let outcomes = app.write_many(ops, true)?;
    for (i, (t, out)) in tables.iter().zip(&outcomes).enumerate() {
        charge_transactional_write(app, t, keys.get(i), out);
    }
    if let Some(t) = token
        && !super::staging()
    {
        app.tokens.remember(t, hash, replay_units(&tables, &outcomes));
    }
    let mut body = Map::new();
    if let Some(list) = transact_write_capacity(cap, &tables, &outcomes) {
        body.insert("ConsumedCapacity".into(), list);
    }
    let writes = tables.iter().map(|t| &t.def).zip(&outcomes);
    if let Some(m) = super::items::collection_metrics_map(metrics, writes) {
        body.insert("ItemCollectionMetrics".into(), m);
    }
    Ok(Json::Object(body))
}

/// Charges a transaction's write of `key` (when known, for its per-key
/// limit) on `t`: twice the units of a plain write, a condition check one
/// unit's worth.
pub(crate) fn charge_transactional_write(app: &App, t: &Arc<TableHandle>, key: Option<&Item>, out: &WriteOutcome) {
    let (units, indexes) =
        if out.old.is_none() && out.new.is_none() { (write_units(0), vec![]) } else { write_capacity(&t.def, out) };
    let indexes: IndexUnits = indexes.into_iter().map(|(n, g, u)| (n, g, 2.0 * u)).collect();
    let target = key.map_or(Target::table(&t.def), |k| Target::item(&t.def, k));
    app.capacity.charge(Access::Write, target, 2.0 * units, &indexes);
}

/// Admits each action of a transaction within its table's capacity
/// ([`crate::capacity`]); if any is throttled, the transaction is cancelled
/// with a reason for each (DynamoDB's `ProvisionedThroughputExceeded` or
/// `ThrottlingError`, `None` for the others).
pub(super) fn admit_all<'a>(
    app: &App,
    access: Access,
    actions: impl Iterator<Item = (&'a Arc<TableHandle>, &'a Item)>,
) -> ApiResult<()> {
    let verdicts: Vec<Result<(), crate::capacity::Throttled>> =
        actions.map(|(t, key)| app.capacity.admit(access, Target::item(&t.def, key))).collect();
    if verdicts.iter().all(Result::is_ok) {
        return Ok(());
    }
    let reasons = verdicts
        .into_iter()
        .map(|v| match v {
            Ok(()) => CancellationReason { code: "None", message: None, item: None },
            Err(t) => CancellationReason { code: t.cancellation_code(), message: Some(t.message().into()), item: None },
        })
        .collect();
    Err(StoreError::TransactionCanceled(reasons).into())
}

/// ConsumedCapacity of a write transaction, per table: transactional writes
/// cost twice the units of plain writes. `None` when not asked for.
pub(crate) fn transact_write_capacity(
    cap: Capacity,
    tables: &[Arc<TableHandle>],
    outcomes: &[WriteOutcome],
) -> Option<Json> {
    if cap == Capacity::None {
        return None;
    }
    let mut per_table: BTreeMap<String, (f64, IndexUnits)> = BTreeMap::new();
    for (t, out) in tables.iter().zip(outcomes) {
        let (units, idx) =
            if out.old.is_none() && out.new.is_none() { (write_units(0), vec![]) } else { write_capacity(&t.def, out) };
        let e = per_table.entry(t.def.name.clone()).or_default();
        e.0 += 2.0 * units;
        e.1.extend(idx.into_iter().map(|(n, g, u)| (n, g, 2.0 * u)));
    }
    let mut list =
        Json::Array(per_table.iter().filter_map(|(name, (u, idx))| cap.render(name, *u, idx, Split::Write)).collect());
    super::vector::add_writes_capacity(&mut list, cap, tables.iter().map(|t| &t.def).zip(outcomes));
    Some(list)
}

pub fn transact_get(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = actions(&r)?;
    let cap = Capacity::from_request(&r)?;
    let mut reads = Vec::with_capacity(list.len());
    let mut projections = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    let mut faults = Vec::with_capacity(list.len());
    for action in &list {
        let g = action.obj_opt("Get")?.ok_or_else(|| ApiError::validation(messages::transaction::ONLY_GET))?;
        let table = app.store.table(g.str("TableName")?)?;
        let mut ex = Exprs::names_only(&g)?.in_transaction();
        let projection = ex.projection(&g)?;
        ex.finish()?;
        if let Some(p) = &projection {
            super::expr::scalar_keys(&table.def, p)?;
        }
        projections.push(projection);
        let (key, fault) = key_fault(&g, &table.def)?;
        if is_well_typed(&table.def, &key) && !seen.insert((table.def.id, item_key(&table.def.key_schema, &key))) {
            return Err(ApiError::validation(messages::transaction::SAME_ITEM_TWICE));
        }
        faults.push(fault);
        reads.push((table, key));
    }
    // A Key that does not match the table's schema cancels the transaction
    // (found as it runs), once the whole request has passed validation.
    // Only the first: DynamoDB stops there (as TransactWriteItems does).
    if let Some(at) = faults.iter().position(Option::is_some) {
        let reasons = faults
            .into_iter()
            .enumerate()
            .map(|(i, f)| match (i == at, f) {
                (true, Some(m)) => CancellationReason { code: "ValidationError", message: Some(m), item: None },
                _ => CancellationReason { code: "None", message: None, item: None },
            })
            .collect();
        return Err(StoreError::TransactionCanceled(reasons).into());
    }
    admit_all(app, Access::Read, reads.iter().map(|(t, k)| (t, k)))?;
    let items = app.store.get_items_consistent(&reads)?;
    for (item, (t, key)) in items.iter().zip(&reads) {
        let size = item.as_ref().map_or(0, tidepool_store::value::item_size);
        let units = 2.0 * super::expr::read_units(size, true);
        app.capacity.charge(Access::Read, Target::item(&t.def, key), units, &[]);
    }
    let mut per_table: BTreeMap<String, f64> = BTreeMap::new();
    let responses: Vec<Json> = items
        .iter()
        .zip(&projections)
        .zip(&reads)
        .map(|((item, proj), (t, _))| {
            let size = item.as_ref().map_or(0, tidepool_store::value::item_size);
            *per_table.entry(t.def.name.clone()).or_default() += 2.0 * super::expr::read_units(size, true);
            match item {
                Some(i) => {
                    let i = match proj {
                        Some(p) => tidepool_store::expr::project(p, i),
                        None => i.clone(),
                    };
                    json!({"Item": item_to_json(&i)})
                }
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
