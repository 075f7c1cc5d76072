//! BatchGetItem and BatchWriteItem.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value as Json, json};
use tidepool_store::expr;
use tidepool_store::key::item_key;
use tidepool_store::messages;
use tidepool_store::value::item_size;
use tidepool_store::value::json::{write_item, write_str};
use tidepool_store::{Decision, WriteOp};

use super::App;
use super::attr::item_from_json;
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, Exprs, IndexUnits, Split, check_exclusive, read_units, write_units};
use super::items::{check_item, write_capacity};
use super::legacy;
use super::request::{Req, missing};
use crate::capacity::{Access, Target, Throttled};
use tidepool_store::value::Item;

/// BatchGetItem reads at most 100 keys.
pub const MAX_BATCH_GET_KEYS: usize = 100;
/// BatchWriteItem takes at most 25 requests.
pub const MAX_BATCH_WRITES: usize = 25;
/// A BatchGetItem response carries at most 16 MB; the rest is unprocessed.
const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;

fn request_items<'a>(r: &Req<'a>, op: &str) -> ApiResult<Req<'a>> {
    let items = r.obj_opt("RequestItems")?.ok_or_else(|| missing("RequestItems"))?;
    if items.0.is_empty() {
        // BatchGetItem moved to the validation framework's generic message
        // in 2026-08 (every region but one since 2026-09); BatchWriteItem's
        // rollout has not settled, and keeps the older sentence.
        return Err(ApiError::validation(if op == "BatchGetItem" {
            messages::item::BATCH_GET_NO_TABLES.to_string()
        } else {
            messages::item::request_items_required(op)
        }));
    }
    Ok(items)
}

pub fn batch_get(app: &App, r: Req<'_>) -> ApiResult<Vec<u8>> {
    let items = request_items(&r, "BatchGetItem")?;
    let cap = Capacity::from_request(&r)?;
    let keys_of = |v: &Json| v.get("Keys").and_then(Json::as_array).map_or(0, Vec::len);
    if let Some((name, _)) = items.0.iter().find(|(_, v)| keys_of(v) > MAX_BATCH_GET_KEYS) {
        return Err(ApiError::validation(messages::item::batch_get_too_many_keys(name, MAX_BATCH_GET_KEYS)));
    }
    let total: usize = items.0.values().map(keys_of).sum();
    if total > MAX_BATCH_GET_KEYS {
        return Err(ApiError::validation(messages::item::BATCH_GET_TOO_MANY_KEYS));
    }
    // One request may not mix expression and legacy projections across
    // its tables (DynamoDB refuses the whole request).
    let uses = |member: &str| items.0.values().any(|v| v.get(member).is_some_and(|m| !m.is_null()));
    if uses("ProjectionExpression") && uses("AttributesToGet") {
        return Err(ApiError::validation(messages::expression::mixed_parameters(
            "AttributesToGet",
            "ProjectionExpression",
        )));
    }
    // Each table's projection, then its keys sent twice, before any table
    // is looked up (dynalite's tests, recorded against DynamoDB).
    let mut projections = Vec::with_capacity(items.0.len());
    for spec in items.0.values() {
        let spec = match spec {
            Json::Object(m) => Req(m),
            _ => return Err(ApiError::serialization(messages::request::expected_structure("KeysAndAttributes"))),
        };
        check_exclusive(&spec, &["AttributesToGet"], &["ProjectionExpression"])?;
        let mut ex = Exprs::names_only(&spec)?;
        projections.push(match spec.strings("AttributesToGet")? {
            Some(names) => Some(legacy::attributes_to_get(names)?),
            None => ex.projection(&spec)?,
        });
        ex.finish()?;
        let keys = spec.get("Keys").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
        if keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k)) {
            return Err(ApiError::validation(messages::item::DUPLICATE_KEYS));
        }
    }
    // Each table's items written as DynamoDB JSON, without the tree.
    let mut responses: Vec<(&String, Vec<u8>)> = Vec::new();
    let mut unprocessed = Map::new();
    let mut consumed = Vec::new();
    let mut bytes = 0usize;
    // Keys throttled by their table's capacity are left unprocessed; if
    // every key is, the request fails with the first one's throttling.
    let mut throttled: Option<Throttled> = None;
    let mut served = 0usize;
    // Every table and its keys are checked before any is read, so a fault
    // in one table's request reads (and charges) nothing.
    let mut checked = Vec::with_capacity(items.0.len());
    for ((name, spec), projection) in items.0.iter().zip(projections) {
        let spec = match spec {
            Json::Object(m) => Req(m),
            _ => return Err(ApiError::serialization(messages::request::expected_structure("KeysAndAttributes"))),
        };
        let table = app.store.table(name)?;
        let strong = spec.bool_opt("ConsistentRead")?.unwrap_or(false);
        let keys = spec.list_opt("Keys")?.ok_or_else(|| missing("Keys"))?;
        if keys.is_empty() {
            return Err(ApiError::validation(messages::item::batch_get_no_keys(name)));
        }
        // The keys against the schema, then the projection's paths into
        // key attributes (GetItem's order), then the reads.
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(keys.len());
        for k in keys {
            let key = item_from_json(k)?;
            table.def.check_key_attrs(&key, true)?;
            if !seen.insert(item_key(&table.def.key_schema, &key)) {
                return Err(ApiError::validation(messages::item::DUPLICATE_KEYS));
            }
            parsed.push((k, key));
        }
        if let Some(p) = &projection {
            super::expr::scalar_keys(&table.def, p)?;
        }
        checked.push((name, spec, table, strong, projection, parsed));
    }
    for (name, spec, table, strong, projection, parsed) in checked {
        let mut found = vec![b'['];
        let mut left = Vec::new();
        let mut units = 0.0;
        for (k, key) in parsed {
            if bytes >= MAX_BATCH_GET_BYTES {
                left.push(k.clone());
                continue;
            }
            let target = Target::item(&table.def, &key);
            if let Err(t) = app.capacity.admit(Access::Read, target) {
                throttled.get_or_insert(t);
                left.push(k.clone());
                continue;
            }
            served += 1;
            let item = app.store.get_item(&table, &key)?;
            let size = item.as_ref().map_or(0, item_size);
            bytes += size;
            units += read_units(size, strong);
            app.capacity.charge(Access::Read, target, read_units(size, strong), &[]);
            if let Some(i) = item {
                if found.len() > 1 {
                    found.push(b',');
                }
                match &projection {
                    Some(p) => write_item(&mut found, &expr::project(p, &i)),
                    None => write_item(&mut found, &i),
                }
            }
        }
        found.push(b']');
        responses.push((name, found));
        if !left.is_empty() {
            let mut spec_out = spec.0.clone();
            spec_out.insert("Keys".into(), Json::Array(left));
            unprocessed.insert(name.clone(), Json::Object(spec_out));
        }
        if let Some(c) = cap.render(name, units, &[], Split::None) {
            consumed.push(c);
        }
    }
    if served == 0
        && let Some(t) = throttled
    {
        return Err(t.into());
    }
    // The members in the order the tree would print them.
    let mut out = Vec::with_capacity(bytes + bytes / 2 + 256);
    out.push(b'{');
    if cap != Capacity::None {
        out.extend_from_slice(b"\"ConsumedCapacity\":");
        out.extend_from_slice(Json::Array(consumed).to_string().as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\"Responses\":{");
    for (n, (name, items)) in responses.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(&mut out, name);
        out.push(b':');
        out.extend_from_slice(items);
    }
    out.extend_from_slice(b"},\"UnprocessedKeys\":");
    out.extend_from_slice(Json::Object(unprocessed).to_string().as_bytes());
    out.push(b'}');
    Ok(out)
}

pub fn batch_write(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let items = request_items(&r, "BatchWriteItem")?;
    let cap = Capacity::from_request(&r)?;
    let metrics = super::items::wants_collection_metrics(&r)?;
    let total: usize = items.0.values().map(|v| v.as_array().map_or(0, Vec::len)).sum();
    if total > MAX_BATCH_WRITES {
        return Err(ApiError::validation(messages::item::batch_write_count(
            java::request_items(items.0),
            MAX_BATCH_WRITES,
        )));
    }
    // Every request's values before any two are compared for duplicates
    // (dynalite's order, written against DynamoDB); one request has none.
    if total > 1 {
        super::validate::table_free("BatchWriteItem", &r)?;
    }
    let mut ops = Vec::with_capacity(total);
    let mut tables = Vec::with_capacity(total);
    let mut seen = HashSet::new();
    // Writes throttled by their table's capacity are returned unprocessed;
    // if every write is, the request fails with the first one's throttling.
    let mut unprocessed: Map<String, Json> = Map::new();
    let mut throttled: Option<Throttled> = None;
    let mut estimates: Vec<f64> = Vec::with_capacity(total);
    for (name, list) in items.0 {
        let table = app.store.table(name)?;
        let list =
            list.as_array().ok_or_else(|| ApiError::serialization(messages::request::EXPECTED_WRITE_REQUESTS))?;
        if list.is_empty() {
            return Err(ApiError::validation(messages::item::batch_write_count(
                java::request_items(items.0),
                MAX_BATCH_WRITES,
            )));
        }
        for w in list {
            let w = match w {
                Json::Object(m) => Req(m),
                _ => return Err(ApiError::serialization(messages::request::EXPECTED_WRITE_REQUEST)),
            };
            let (key, decision) = match (w.obj_opt("PutRequest")?, w.obj_opt("DeleteRequest")?) {
                (Some(p), None) => {
                    let item = item_from_json(p.get("Item").ok_or_else(|| missing("Item"))?)?;
                    // A table key missing or of the wrong type: DynamoDB's
                    // batch wording (recorded against the live service),
                    // not PutItem's.
                    let schema = &table.def.key_schema;
                    if std::iter::once(&schema.hash)
                        .chain(schema.range.as_ref())
                        .any(|a| item.get(&a.name).is_none_or(|v| v.attr_type() != a.ty))
                    {
                        return Err(ApiError::validation(messages::item::KEY_MISMATCH));
                    }
                    check_item(&table.def, &item, false)?;
                    (table.def.key_of(&item), Decision::Put(item))
                }
                (None, Some(d)) => {
                    let key = item_from_json(d.get("Key").ok_or_else(|| missing("Key"))?)?;
                    table.def.check_key_attrs(&key, true)?;
                    (key, Decision::Delete)
                }
                _ => {
                    return Err(ApiError::validation(messages::item::SEVERAL_DATATYPES));
                }
            };
            if !seen.insert((table.def.id, item_key(&table.def.key_schema, &key))) {
                return Err(ApiError::validation(messages::item::DUPLICATE_KEYS));
            }
            if app.capacity.enforces(&table.def) {
                let target = Target::item(&table.def, &key);
                if let Err(t) = app.capacity.admit(Access::Write, target) {
                    throttled.get_or_insert(t);
                    let left = unprocessed.entry(name.clone()).or_insert_with(|| Json::Array(Vec::new()));
                    if let Json::Array(list) = left {
                        list.push(Json::Object(w.0.clone()));
                    }
                    continue;
                }
                // Each write is admitted against what the ones before it
                // take: a put's size is known now, a delete's later
                // (charged then, past this estimate of one unit).
                let estimate = match &decision {
                    Decision::Put(item) => write_units(item_size(item)),
                    _ => write_units(0),
                };
                app.capacity.charge(Access::Write, target, estimate, &[]);
                estimates.push(estimate);
            } else {
                estimates.push(0.0);
            }
            tables.push(table.clone());
            ops.push(WriteOp { table: name.clone(), key, decide: Box::new(move |_| Ok(decision)) });
        }
    }
    if ops.is_empty()
        && let Some(t) = throttled
    {
        return Err(t.into());
    }
    let keys: Vec<Item> =
        if app.capacity.wants_keys() { ops.iter().map(|o| o.key.clone()).collect() } else { Vec::new() };
    let outcomes = app.write_many(ops, false)?;
    for (i, (t, out)) in tables.iter().zip(&outcomes).enumerate() {
        // Keys are kept only while a table is enforced (for its per-key
        // limit) or Contributor Insights counts them; the metrics need the
        // table alone. A write admitted was charged its estimate then.
        let target = keys.get(i).map_or(Target::table(&t.def), |k| Target::item(&t.def, k));
        let (units, indexes) = write_capacity(&t.def, out);
        if estimates[i] > 0.0 {
            app.capacity.recharge(Access::Write, target, units - estimates[i], &indexes);
        } else {
            app.capacity.charge(Access::Write, target, units, &indexes);
        }
    }
    let mut body = json!({"UnprocessedItems": unprocessed});
    let writes = tables.iter().map(|t| &t.def).zip(&outcomes);
    if let Some(m) = super::items::collection_metrics_map(metrics, writes) {
        body["ItemCollectionMetrics"] = m;
    }
    if cap != Capacity::None {
        let mut per_table: BTreeMap<String, (f64, IndexUnits)> = BTreeMap::new();
        for (t, out) in tables.iter().zip(&outcomes) {
            let (units, idx) = write_capacity(&t.def, out);
            let e = per_table.entry(t.def.name.clone()).or_default();
            e.0 += units;
            e.1.extend(idx);
        }
        body["ConsumedCapacity"] =
            Json::Array(per_table.iter().filter_map(|(n, (u, idx))| cap.render(n, *u, idx, Split::None)).collect());
        super::vector::add_writes_capacity(
            &mut body["ConsumedCapacity"],
            cap,
            tables.iter().map(|t| &t.def).zip(&outcomes),
        );
    }
    Ok(body)
}

/// The request echoed as DynamoDB's Java front end prints it in a
/// validation message (`{table=[WriteRequest(putRequest=…)]}`).
pub(crate) mod java {
    use serde_json::{Map, Value as Json};

    /// AttributeValue's members in the order Java prints them, with the
    /// DynamoDB JSON type each comes from.
    const MEMBERS: [(&str, Option<&str>); 16] = [
        ("s", Some("S")),
        ("n", Some("N")),
        ("b", Some("B")),
        ("iNT", None),
        ("dECIMAL", None),
        ("dOUBLE", None),
        ("sS", Some("SS")),
        ("nS", Some("NS")),
        ("bS", Some("BS")),
        ("iNTSET", None),
        ("dECIMALSET", None),
        ("dOUBLESET", None),
        ("m", Some("M")),
        ("l", Some("L")),
        ("nULL", Some("NULL")),
        ("bOOL", Some("BOOL")),
    ];

    pub fn request_items(items: &Map<String, Json>) -> String {
        let tables: Vec<String> = items
            .iter()
            .map(|(name, list)| {
                let reqs: Vec<String> =
                    list.as_array().map_or(&[][..], Vec::as_slice).iter().map(write_request).collect();
                format!("{name}=[{}]", reqs.join(", "))
            })
            .collect();
        format!("{{{}}}", tables.join(", "))
    }

    fn write_request(w: &Json) -> String {
        let put = w
            .get("PutRequest")
            .and_then(|p| p.get("Item"))
            .map(|i| format!("PutRequest(item={}, workloadProfileName=null)", map(i)));
        let delete = w
            .get("DeleteRequest")
            .and_then(|d| d.get("Key"))
            .map(|k| format!("DeleteRequest(key={}, workloadProfileName=null)", map(k)));
        format!(
            "WriteRequest(putRequest={}, deleteRequest={})",
            put.as_deref().unwrap_or("null"),
            delete.as_deref().unwrap_or("null")
        )
    }

    fn map(m: &Json) -> String {
        let entries: Vec<String> =
            m.as_object().map(|o| o.iter().map(|(k, v)| format!("{k}={}", attribute(v))).collect()).unwrap_or_default();
        format!("{{{}}}", entries.join(", "))
    }

    fn attribute(v: &Json) -> String {
        let fields: Vec<String> = MEMBERS
            .iter()
            .map(|(java, ty)| {
                let value = ty.and_then(|t| v.get(t)).map_or_else(
                    || "null".to_string(),
                    |inner| match inner {
                        Json::String(s) => s.clone(),
                        Json::Bool(b) => b.to_string(),
                        Json::Array(list) if *ty == Some("L") => {
                            format!("[{}]", list.iter().map(attribute).collect::<Vec<_>>().join(", "))
                        }
                        Json::Array(list) => format!(
                            "[{}]",
                            list.iter()
                                .map(|e| e.as_str().unwrap_or_default().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        Json::Object(_) => map(inner),
                        other => other.to_string(),
                    },
                );
                format!("{java}={value}")
            })
            .collect();
        format!("AttributeValue({})", fields.join(", "))
    }
}
