//! TransactWriteItems and TransactGetItems.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use tidepool_store::expr::ExprKind;
use tidepool_store::key::item_key;
use tidepool_store::value::Item;
use tidepool_store::{Decide, Decision, StoreError, TableHandle, WriteOp, WriteOutcome};

use super::App;
use super::attr::{item_from_json, item_to_json};
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, Exprs, IndexUnits, Split, key_param, write_units};
use super::items::{apply_update, check_condition, check_item, update_of, write_capacity};
use super::request::{Req, missing};

/// A transaction holds at most 100 actions.
pub const MAX_TRANSACT_ITEMS: usize = 100;
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
            Some(_) => Err(StoreError::IdempotentParameterMismatch(
                "The request uses the same client token as a previous, but non-identical request.".into(),
            )
            .into()),
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
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length {}",
            if items.is_empty() {
                "greater than or equal to 1".to_string()
            } else {
                format!("less than or equal to {MAX_TRANSACT_ITEMS}")
            }
        )));
    }
    Ok(items)
}

pub fn transact_write(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = actions(&r)?;
    let token = r.str_opt("ClientRequestToken")?;
    let hash: [u8; 32] = Sha256::digest(serde_json::to_vec(r.0).unwrap_or_default()).into();
    let cap = Capacity::from_request(&r)?;
    if let Some(t) = token
        && let Some(units) = app.tokens.seen(t, hash)?
    {
        return Ok(replay_answer(cap, &units, Map::new()));
    }
    let mut ops = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    let mut tables = Vec::new();
    for action in &list {
        let (kind, a) = match ["ConditionCheck", "Put", "Delete", "Update"]
            .iter()
            .find_map(|k| action.obj_opt(k).ok().flatten().map(|a| (*k, a)))
        {
            Some(x) => x,
            None => {
                return Err(ApiError::validation("TransactItems can only contain one of Check, Put, Update or Delete"));
            }
        };
        let table = app.store.table(a.str("TableName")?)?;
        let mut ex = Exprs::from_request(&a)?;
        let on_fail = a.enum_opt("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])? == Some("ALL_OLD");
        let (key, decide): (Item, Decide<'static>) = match kind {
            "Put" => {
                let item = item_from_json(a.get("Item").ok_or_else(|| missing("Item"))?)?;
                check_item(&table.def, &item, false)?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                (
                    table.def.key_of(&item),
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        Ok(Decision::Put(item))
                    }),
                )
            }
            "Delete" => {
                let key = key_param(&a, &table.def)?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        Ok(Decision::Delete)
                    }),
                )
            }
            "ConditionCheck" => {
                let key = key_param(&a, &table.def)?;
                let cond = ex
                    .condition(&a, "ConditionExpression", ExprKind::Condition)?
                    .ok_or_else(|| missing("ConditionExpression"))?;
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(Some(&cond), cur, on_fail)?;
                        Ok(Decision::Keep)
                    }),
                )
            }
            _ => {
                let key = key_param(&a, &table.def)?;
                let update = update_of(&a, &mut ex)?.ok_or_else(|| missing("UpdateExpression"))?;
                let cond = ex.condition(&a, "ConditionExpression", ExprKind::Condition)?;
                let def = table.def.clone();
                let k2 = key.clone();
                (
                    key,
                    Box::new(move |cur| {
                        check_condition(cond.as_ref(), cur, on_fail)?;
                        Ok(Decision::Put(apply_update(&def, &k2, cur, Some(&update))?))
                    }),
                )
            }
        };
        ex.finish()?;
        if !seen.insert((table.def.id, item_key(&table.def.key_schema, &key))) {
            return Err(ApiError::validation("Transaction request cannot include multiple operations on one item"));
        }
        tables.push(table.clone());
        ops.push(WriteOp { table: table.def.name.clone(), key, decide });
    }
    let outcomes = app.write_many(ops, true)?;
    if let Some(t) = token
        && !super::staging()
    {
        app.tokens.remember(t, hash, replay_units(&tables, &outcomes));
    }
    let mut body = Map::new();
    if let Some(list) = transact_write_capacity(cap, &tables, &outcomes) {
        body.insert("ConsumedCapacity".into(), list);
    }
    Ok(Json::Object(body))
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
    Some(Json::Array(per_table.iter().filter_map(|(name, (u, idx))| cap.render(name, *u, idx, Split::Write)).collect()))
}

pub fn transact_get(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let list = actions(&r)?;
    let cap = Capacity::from_request(&r)?;
    let mut reads = Vec::with_capacity(list.len());
    let mut projections = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    for action in &list {
        let g = action.obj_opt("Get")?.ok_or_else(|| ApiError::validation("TransactItems can only contain Get"))?;
        let table = app.store.table(g.str("TableName")?)?;
        let mut ex = Exprs::from_request(&g)?;
        projections.push(ex.projection(&g)?);
        ex.finish()?;
        let key = key_param(&g, &table.def)?;
        if !seen.insert((table.def.id, item_key(&table.def.key_schema, &key))) {
            return Err(ApiError::validation("Transaction request cannot include multiple operations on one item"));
        }
        reads.push((table, key));
    }
    let items = app.store.get_items_consistent(&reads)?;
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
