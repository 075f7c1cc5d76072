//! PutItem, GetItem, DeleteItem and UpdateItem.

use serde_json::{Map, Value as Json, json};
use tidepool_store::expr::{self, Condition, ExprKind, UpdateExpr};
use tidepool_store::key::index_key;
use tidepool_store::messages;
use tidepool_store::table::{IndexKind, TableDef};
use tidepool_store::value::json::write_item;
use tidepool_store::value::{Item, MAX_ITEM_SIZE, item_size};
use tidepool_store::{Decision, StoreError, WriteOutcome};

use super::App;
use super::attr::{item_from_json, item_to_json};
use super::error::{ApiError, ApiResult};
use super::expr::{
    Capacity, Exprs, IndexUnits, Split, check_exclusive, check_params, consistent, expr_err, key_param, read_units,
    write_units,
};
use super::legacy;
use super::request::{Req, missing};

/// Whether the caller wants the old item back when its condition fails.
pub fn return_on_failure(r: &Req<'_>) -> ApiResult<bool> {
    Ok(r.enum_opt("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])? == Some("ALL_OLD"))
}

/// Evaluates a write's condition against the current item.
pub fn check_condition(cond: Option<&Condition>, current: Option<&Item>, return_item: bool) -> Result<(), StoreError> {
    let Some(cond) = cond else { return Ok(()) };
    let empty = Item::new();
    let ok = cond.eval(current.unwrap_or(&empty)).map_err(|e| StoreError::validation(e.to_string()))?;
    if ok {
        Ok(())
    } else {
        Err(StoreError::ConditionalCheckFailed { item: if return_item { current.cloned() } else { None } })
    }
}

/// The write condition of a request: ConditionExpression or legacy Expected.
pub fn write_condition(r: &Req<'_>, ex: &mut Exprs) -> ApiResult<Option<Condition>> {
    // Legacy and expression parameters were kept apart by `check_params`.
    // So was a ConditionalOperator without two or more Expected conditions.
    if r.get("Expected").is_some() {
        return legacy::expected(r);
    }
    ex.condition(r, "ConditionExpression", ExprKind::Condition)
}

fn check_size(item: &Item, update: bool) -> Result<(), StoreError> {
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(StoreError::validation(if update {
            messages::item::UPDATE_TOO_LARGE
        } else {
            messages::item::ITEM_TOO_LARGE
        }));
    }
    Ok(())
}

/// What a standalone UpdateItem is charged against the item size limit
/// beside the finished item: the attributes it writes plus a cost per
/// action. The live service's rule, as the conformance suite measured it
/// (`tests/tier3/limits/itemSizeBySurface`): 3 bytes, 19 per SET or ADD
/// action (one more through a list index), 2 per REMOVE or DELETE, plus the
/// finished size of each top-level attribute a SET or ADD writes. The key
/// and the attributes the update leaves alone are not counted, so this
/// ceiling is lower than the item's for items that are mostly what the
/// update writes. PartiQL updates and transactions do not apply it.
fn check_update_size(update: &UpdateExpr, new: &Item) -> Result<(), StoreError> {
    use tidepool_store::expr::{PathElem, UpdateAction};
    const BASE: usize = 3;
    const PER_WRITE: usize = 19;
    const PER_REMOVAL: usize = 2;
    let mut cost = BASE;
    let mut written: Vec<&str> = Vec::new();
    for action in &update.actions {
        match action {
            UpdateAction::Set(p, _) => {
                cost += PER_WRITE + usize::from(p.rest().iter().any(|e| matches!(e, PathElem::Index(_))));
                written.push(p.top());
            }
            UpdateAction::Add(p, _) => {
                cost += PER_WRITE;
                written.push(p.top());
            }
            UpdateAction::Remove(_) | UpdateAction::Delete(..) => cost += PER_REMOVAL,
        }
    }
    written.sort_unstable();
    written.dedup();
    let bytes: usize = written.iter().filter_map(|n| new.get(*n).map(|v| n.len() + v.size())).sum();
    if bytes + cost > MAX_ITEM_SIZE {
        return Err(StoreError::validation(messages::item::UPDATE_TOO_LARGE));
    }
    Ok(())
}

/// Validates a full item for a table: key attributes, index key types, size.
pub fn check_item(def: &TableDef, item: &Item, update: bool) -> Result<(), StoreError> {
    def.check_key_attrs(item, false)?;
    def.check_index_attrs(item)?;
    check_size(item, update)
}

/// Write capacity of a change, for the table and each index it touched.
pub fn write_capacity(def: &TableDef, out: &WriteOutcome) -> (f64, IndexUnits) {
    let size = |i: &Option<Item>| i.as_ref().map_or(0, item_size);
    let table = write_units(size(&out.old).max(size(&out.new)));
    let mut indexes = Vec::new();
    for idx in &def.indexes {
        let old_k = out.old.as_ref().and_then(|o| index_key(idx, &def.key_schema, o));
        let new_k = out.new.as_ref().and_then(|n| index_key(idx, &def.key_schema, n));
        let proj = |i: &Option<Item>| i.as_ref().map_or(0, |i| idx.projected_size(i, &def.key_schema));
        let units = match (&old_k, &new_k) {
            (None, None) => continue,
            // The index's entry stays put: it is written only if what the
            // index stores of the item changed (an identical overwrite, or
            // a change to attributes it does not project, costs it nothing).
            (Some(a), Some(b)) if a == b => {
                if let (Some(o), Some(n)) = (&out.old, &out.new)
                    && idx.same_projection(o, n, &def.key_schema)
                {
                    continue;
                }
                write_units(proj(&out.new))
            }
            (Some(_), Some(_)) => write_units(proj(&out.old)) + write_units(proj(&out.new)),
            (Some(_), None) => write_units(proj(&out.old)),
            (None, Some(_)) => write_units(proj(&out.new)),
        };
        indexes.push((idx.name.clone(), idx.kind == IndexKind::Global, units));
    }
    (table, indexes)
}

/// What PutItem checks of its request right after its item, before its
/// conditions (dynalite's tests, recorded against DynamoDB): ReturnValues,
/// then the item's size.
pub(super) fn put_checks(r: &Req<'_>, item: &Item) -> ApiResult<bool> {
    let all_old = wants_all_old(r)?;
    check_item_size(item)?;
    Ok(all_old)
}

/// An item to be written, held to DynamoDB's 400 KB before anything else
/// looks at it (PutItem, a transaction's Put, BatchWriteItem's PutRequest).
pub(super) fn check_item_size(item: &Item) -> ApiResult<()> {
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(ApiError::validation(messages::item::ITEM_TOO_LARGE));
    }
    Ok(())
}

/// ReturnValues of PutItem and DeleteItem: only ALL_OLD or NONE.
fn wants_all_old(r: &Req<'_>) -> ApiResult<bool> {
    match r.enum_opt("ReturnValues", &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(_) => Err(ApiError::validation(messages::item::RETURN_VALUES_ALL_OLD_OR_NONE)),
    }
}

/// The response of PutItem or DeleteItem: the old item if asked, and capacity.
fn single_write_response(all_old: bool, cap: Capacity, metrics: bool, def: &TableDef, out: &WriteOutcome) -> Json {
    let mut body = Map::new();
    if all_old && let Some(old) = &out.old {
        body.insert("Attributes".into(), item_to_json(old));
    }
    with_capacity(body, cap, metrics, def, out)
}

/// Whether `ReturnItemCollectionMetrics` asks for `SIZE`.
pub fn wants_collection_metrics(r: &Req<'_>) -> ApiResult<bool> {
    Ok(r.enum_opt("ReturnItemCollectionMetrics", &["SIZE", "NONE"])? == Some("SIZE"))
}

/// `ItemCollectionMetrics` of a write, as DynamoDB reports it: only for
/// tables with a local secondary index (where item collections are bounded
/// to 10 GB), keyed by the partition key. The size is an estimate in GB;
/// DynamoDB's lower bound is 0 and its upper 1 for any collection under a
/// gigabyte, which is every collection a local table holds in practice.
pub fn collection_metrics(def: &TableDef, out: &WriteOutcome) -> Option<Json> {
    def.lsis().next()?;
    let item = out.new.as_ref().or(out.old.as_ref())?;
    let hash = &def.key_schema.hash.name;
    let value = item.get(hash)?;
    let mut key = Item::new();
    key.insert(hash.clone(), value.clone());
    Some(json!({"ItemCollectionKey": item_to_json(&key), "SizeEstimateRangeGB": [0.0, 1.0]}))
}

/// `ItemCollectionMetrics` of a batch or transaction, per table: one entry
/// per write to a table with a local secondary index. `None` when not asked
/// for or when no such table was written.
pub fn collection_metrics_map<'a>(
    metrics: bool,
    writes: impl Iterator<Item = (&'a TableDef, &'a WriteOutcome)>,
) -> Option<Json> {
    if !metrics {
        return None;
    }
    let mut per_table: std::collections::BTreeMap<String, Vec<Json>> = std::collections::BTreeMap::new();
    for (def, out) in writes {
        if let Some(m) = collection_metrics(def, out) {
            per_table.entry(def.name.clone()).or_default().push(m);
        }
    }
    (!per_table.is_empty()).then(|| json!(per_table))
}

fn with_capacity(
    mut body: Map<String, Json>,
    cap: Capacity,
    metrics: bool,
    def: &TableDef,
    out: &WriteOutcome,
) -> Json {
    if metrics && let Some(m) = collection_metrics(def, out) {
        body.insert("ItemCollectionMetrics".into(), m);
    }
    if cap != Capacity::None {
        let (units, idx) = write_capacity(def, out);
        if let Some(mut c) = cap.render(&def.name, units, &idx, Split::None) {
            super::vector::add_write_capacity(&mut c, cap, def, out);
            body.insert("ConsumedCapacity".into(), c);
        }
    }
    Json::Object(body)
}

pub fn put_item(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = r.str("TableName")?;
    check_params("PutItem", &r)?;
    let item = item_from_json(r.get("Item").ok_or_else(|| missing("Item"))?)?;
    let table = app.store.table(name)?;
    let all_old = put_checks(&r, &item)?;
    let mut ex = Exprs::from_request(&r)?.for_operation("PutItem");
    let cond = write_condition(&r, &mut ex)?;
    ex.finish()?;
    let on_fail = return_on_failure(&r)?;
    let cap = Capacity::from_request(&r)?;
    let metrics = wants_collection_metrics(&r)?;
    check_item(&table.def, &item, false)?;
    let key = table.def.key_of(&item);
    let out = app.metered_write(&table.def, &key, |cur| {
        check_condition(cond.as_ref(), cur, on_fail)?;
        Ok(Decision::Put(item))
    })?;
    Ok(single_write_response(all_old, cap, metrics, &table.def, &out))
}

pub fn get_item(app: &App, r: Req<'_>) -> ApiResult<Vec<u8>> {
    let table = app.store.table(r.str("TableName")?)?;
    check_params("GetItem", &r)?;
    let mut ex = Exprs::names_only(&r)?;
    let projection = match r.strings("AttributesToGet")? {
        Some(names) => Some(legacy::attributes_to_get(names)?),
        None => ex.projection(&r)?,
    };
    ex.finish()?;
    let key = key_param(&r, &table.def)?;
    if let Some(p) = &projection {
        super::expr::scalar_keys(&table.def, p)?;
    }
    let strong = consistent(&r)?;
    let cap = Capacity::from_request(&r)?;
    let target = crate::capacity::Target::item(&table.def, &key);
    app.capacity.admit(crate::capacity::Access::Read, target)?;
    let item = app.store.get_item(&table, &key)?;
    let size = item.as_ref().map_or(0, item_size);
    app.capacity.charge(crate::capacity::Access::Read, target, read_units(size, strong), &[]);
    // Written without the JSON tree, members in the order it prints them.
    let mut out = Vec::with_capacity(size + size / 2 + 64);
    out.push(b'{');
    if let Some(c) = cap.render(&table.def.name, read_units(size, strong), &[], Split::None) {
        out.extend_from_slice(b"\"ConsumedCapacity\":");
        out.extend_from_slice(c.to_string().as_bytes());
    }
    if let Some(item) = item {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"Item\":");
        match &projection {
            Some(p) => write_item(&mut out, &expr::project(p, &item)),
            None => write_item(&mut out, &item),
        }
    }
    out.push(b'}');
    Ok(out)
}

pub fn delete_item(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = app.store.table(r.str("TableName")?)?;
    check_params("DeleteItem", &r)?;
    let mut ex = Exprs::from_request(&r)?.for_operation("DeleteItem");
    let cond = write_condition(&r, &mut ex)?;
    ex.finish()?;
    let key = key_param(&r, &table.def)?;
    let all_old = wants_all_old(&r)?;
    let on_fail = return_on_failure(&r)?;
    let cap = Capacity::from_request(&r)?;
    let metrics = wants_collection_metrics(&r)?;
    let out = app.metered_write(&table.def, &key, |cur| {
        check_condition(cond.as_ref(), cur, on_fail)?;
        Ok(Decision::Delete)
    })?;
    Ok(single_write_response(all_old, cap, metrics, &table.def, &out))
}

/// The update of a request: UpdateExpression or legacy AttributeUpdates.
pub fn update_of(r: &Req<'_>, ex: &mut Exprs) -> ApiResult<Option<UpdateExpr>> {
    check_exclusive(r, &["AttributeUpdates"], &["UpdateExpression"])?;
    if r.get("AttributeUpdates").is_some() {
        return legacy::attribute_updates(r).map(Some);
    }
    match r.str_opt("UpdateExpression")? {
        Some(text) => {
            ex.mark_used();
            expr::parse_update(text, &mut ex.ph).map(Some).map_err(expr_err)
        }
        None => Ok(None),
    }
}

/// Whether an update leaves a missing item missing: one that only removes
/// attributes (REMOVE, DELETE from a set, or AttributeUpdates DELETE) has
/// nothing to write, and DynamoDB neither creates the item nor writes a
/// stream record.
/// A key attribute among the update's targets is refused first, even then.
pub fn creates_nothing(
    def: &TableDef,
    current: Option<&Item>,
    update: Option<&UpdateExpr>,
) -> Result<bool, StoreError> {
    use tidepool_store::expr::UpdateAction;
    if let Some(u) = update {
        refuse_key_update(def, u)?;
    }
    Ok(current.is_none()
        && update.is_some_and(|u| {
            !u.actions.is_empty()
                && u.actions.iter().all(|a| matches!(a, UpdateAction::Remove(_) | UpdateAction::Delete(..)))
        }))
}

/// An update may not change a key attribute of the table.
fn refuse_key_update(def: &TableDef, u: &UpdateExpr) -> Result<(), StoreError> {
    match u.top_level_names().into_iter().find(|name| def.key_schema.contains(name)) {
        Some(name) => Err(StoreError::validation(messages::item::key_attribute_update(name))),
        None => Ok(()),
    }
}

/// Applies an update to the current item (or to the key alone when the item
/// does not exist), refusing changes to key attributes.
pub fn apply_update(
    def: &TableDef,
    key: &Item,
    current: Option<&Item>,
    update: Option<&UpdateExpr>,
) -> Result<Item, StoreError> {
    let mut item = current.cloned().unwrap_or_else(|| key.clone());
    if let Some(u) = update {
        refuse_key_update(def, u)?;
        u.apply(&mut item).map_err(|e| StoreError::validation(e.to_string()))?;
    }
    def.check_index_attrs(&item)?;
    check_size(&item, true)?;
    Ok(item)
}

/// AttributeUpdates' ADD and DELETE with a value of the wrong type: the
/// legacy parameter has its own wording (dynalite's recording of DynamoDB).
fn legacy_mismatch(e: StoreError, legacy: bool) -> StoreError {
    match e {
        StoreError::Validation(m)
            if legacy && m == messages::expression::ExprError::IncorrectOperandType.to_string() =>
        {
            StoreError::validation(messages::expression::ATTRIBUTE_UPDATES_TYPE_MISMATCH)
        }
        other => other,
    }
}

pub fn update_item(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = app.store.table(r.str("TableName")?)?;
    check_params("UpdateItem", &r)?;
    let mut ex = Exprs::from_request(&r)?.for_operation("UpdateItem");
    let update = update_of(&r, &mut ex)?;
    let cond = write_condition(&r, &mut ex)?;
    ex.finish()?;
    let key = key_param(&r, &table.def)?;
    if let Some(u) = &update {
        super::expr::scalar_keys_of_update(&table.def, u)?;
        // An index key set to an empty value by the expression is a fault
        // of the request, in DynamoDB's update wording (as in a transaction).
        super::transact::check_update_index_keys(&table.def, u)?;
    }
    let ret =
        r.enum_opt("ReturnValues", &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])?.unwrap_or("NONE");
    let on_fail = return_on_failure(&r)?;
    let cap = Capacity::from_request(&r)?;
    let metrics = wants_collection_metrics(&r)?;
    let def = &table.def;
    let legacy_update = r.get("AttributeUpdates").is_some();
    let out = app.metered_write(def, &key, |cur| {
        check_condition(cond.as_ref(), cur, on_fail)?;
        // Before the update is applied: on a missing item DynamoDB ignores
        // even a REMOVE through a missing parent (`REMOVE x.y`), which it
        // refuses on an item that exists (Alternator's tests against
        // DynamoDB).
        if creates_nothing(def, cur, update.as_ref())? {
            return Ok(Decision::Keep);
        }
        let new = apply_update(def, &key, cur, update.as_ref()).map_err(|e| legacy_mismatch(e, legacy_update))?;
        if let Some(u) = &update {
            check_update_size(u, &new)?;
        }
        Ok(Decision::Put(new))
    })?;
    let mut body = Map::new();
    let updated_paths = || -> Vec<expr::Path> {
        update.as_ref().map(|u| u.actions.iter().map(|a| a.target().clone()).collect()).unwrap_or_default()
    };
    let attrs = match ret {
        "ALL_OLD" => out.old.clone(),
        "ALL_NEW" => out.new.clone(),
        "UPDATED_OLD" => out.old.as_ref().map(|o| expr::project(&updated_paths(), o)),
        "UPDATED_NEW" => out.new.as_ref().map(|n| expr::project(&updated_paths(), n)),
        _ => None,
    };
    if let Some(a) = attrs.filter(|a| !a.is_empty()) {
        body.insert("Attributes".into(), item_to_json(&a));
    }
    Ok(with_capacity(body, cap, metrics, def, &out))
}
