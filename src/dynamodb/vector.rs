//! Vector indexes on the wire: `VectorIndexes` in CreateTable, DescribeTable
//! and backups, `VectorIndexUpdates` in UpdateTable, the `SearchVectors`
//! operation, and the vector members of `ConsumedCapacity`. The index and
//! the search are the store's (`tidepool_store::vector`).
//!
//! The words of every refusal are DynamoDB's, as the public conformance
//! suite (nubo-db/dynamodb-conformance, `tests/tier2/vectorSearch` and
//! `tests/tier3/error-messages`) and the Developer Guide record them.

use serde_json::{Map, Value as Json, json};
use tidepool_store::expr::{Comparator, Condition, ExprKind, Operand};
use tidepool_store::messages;
use tidepool_store::now_ms;
use tidepool_store::table::TableDef;
use tidepool_store::value::{AttrType, Value};
use tidepool_store::vector::{
    Distance, Hit, MAX_DIMENSIONS, MAX_TOP_K, Phase, SearchQuery, SearchRole, VectorIndexDef, VectorIndexInput, to_f32,
};
use tidepool_store::{TableHandle, WriteOutcome};

use super::App;
use super::attr::{item_to_json, value_from_json};
use super::control::projection_input;
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, Exprs};
use super::request::{Req, missing};
use super::validate::{Violation, name_constraints, report};

const DISTANCES: &[&str] = &["COSINE", "DOT_PRODUCT", "EUCLIDEAN"];
const ROLES: &[&str] = &["HASH", "INLINE_FILTER"];

/// The vector indexes of a CreateTable (or a restore's override), checked
/// against the request model first: every violation is reported together,
/// named by its member path (`vectorIndexes.1.member.dimensions`).
pub(super) fn inputs(r: &Req<'_>, member: &str) -> ApiResult<Vec<VectorIndexInput>> {
    let list = r.objects(member)?;
    if member == "VectorIndexes" && r.get(member).and_then(Json::as_array).is_some_and(Vec::is_empty) {
        return Err(ApiError::validation(messages::vector::EMPTY_LIST));
    }
    let path = super::request::lower_first(member);
    let mut found = Vec::new();
    for (i, v) in list.iter().enumerate() {
        found.extend(model_faults(v, &format!("{path}.{}.member", i + 1)));
    }
    if !found.is_empty() {
        return Err(report(found));
    }
    list.iter().map(input).collect()
}

/// What the request model refuses in one vector index, under `at`.
fn model_faults(v: &Req<'_>, at: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    match v.get("IndexName") {
        Some(Json::String(name)) => {
            for rule in name_constraints(name) {
                found.push(Violation(messages::vector::index_name_violation(name, at, rule)));
            }
        }
        _ => found.push(Violation(messages::request::null_at(format!("{at}.indexName")))),
    }
    match v.get("Dimensions").and_then(Json::as_i64) {
        Some(d) if d < 1 => found.push(Violation(messages::vector::dimensions_too_small(d, at))),
        Some(_) => {}
        None => found.push(Violation(messages::request::null_at(format!("{at}.dimensions")))),
    }
    match v.get("DistanceFunction").and_then(Json::as_str) {
        Some(d) if !DISTANCES.contains(&d) => {
            found.push(Violation(messages::vector::distance_not_in_set(d, at, DISTANCES.join(", "))))
        }
        Some(_) => {}
        None => found.push(Violation(messages::request::null_at(format!("{at}.distanceFunction")))),
    }
    match v.get("VectorAttribute").and_then(|a| a.get("AttributeName")).and_then(Json::as_str) {
        Some(n) if n.is_empty() || n.len() > 255 => found.push(Violation(if n.is_empty() {
            messages::vector::attribute_name_empty(n, at)
        } else {
            messages::vector::attribute_name_too_long(n, at)
        })),
        Some(_) => {}
        None => found.push(Violation(messages::request::null_at(format!("{at}.vectorAttribute")))),
    }
    if v.get("Projection").is_none() {
        found.push(Violation(messages::request::null_at(format!("{at}.projection"))));
    }
    if let Some(Json::Array(schema)) = v.get("SearchSchema") {
        if schema.is_empty() {
            found.push(Violation(messages::vector::search_schema_empty(at)));
        }
        for (j, e) in schema.iter().enumerate() {
            match e.get("SearchSchemaElementType").and_then(Json::as_str) {
                Some(t) if !ROLES.contains(&t) => {
                    found.push(Violation(messages::vector::element_type_not_in_set(t, at, j + 1, ROLES.join(", "))))
                }
                Some(_) => {}
                None => found.push(Violation(messages::request::null_at(format!(
                    "{at}.searchSchema.{}.member.searchSchemaElementType",
                    j + 1
                )))),
            }
        }
    }
    found
}

/// One vector index as the store takes it (the request model already
/// checked).
fn input(v: &Req<'_>) -> ApiResult<VectorIndexInput> {
    let attribute = v.obj_opt("VectorAttribute")?.ok_or_else(|| missing("VectorAttribute"))?;
    let mut search_schema = Vec::new();
    for e in v.objects("SearchSchema")? {
        let role = e.str("SearchSchemaElementType")?;
        search_schema.push((
            e.str("AttributeName")?.to_string(),
            SearchRole::parse(role).ok_or_else(|| missing("SearchSchemaElementType"))?,
        ));
    }
    Ok(VectorIndexInput {
        name: v.str("IndexName")?.to_string(),
        attribute: attribute.str("AttributeName")?.to_string(),
        dimensions: v.int_opt("Dimensions")?.ok_or_else(|| missing("Dimensions"))?,
        distance: Distance::parse(v.str("DistanceFunction")?).ok_or_else(|| missing("DistanceFunction"))?,
        search_schema,
        projection: match projection_input(v)? {
            (_, Some(fault)) => return Err(ApiError::validation(fault)),
            (p, None) => p,
        },
    })
}

/// A vector index as CreateTable would make it again (a restore's).
pub(super) fn input_of(v: &VectorIndexDef) -> VectorIndexInput {
    VectorIndexInput {
        name: v.name.clone(),
        attribute: v.attribute.clone(),
        dimensions: i64::from(v.dimensions),
        distance: v.distance,
        search_schema: v.search_schema.iter().map(|a| (a.name.clone(), a.role)).collect(),
        projection: v.projection.clone(),
    }
}

/// A vector index's definition, as CreateTable takes it (and a backup's
/// `SourceTableFeatureDetails` describes it).
pub(crate) fn definition_json(v: &VectorIndexDef) -> Map<String, Json> {
    let mut o = Map::new();
    o.insert("IndexName".into(), json!(v.name));
    if !v.search_schema.is_empty() {
        o.insert(
            "SearchSchema".into(),
            Json::Array(
                v.search_schema
                    .iter()
                    .map(|a| json!({"AttributeName": a.name, "SearchSchemaElementType": a.role.as_str()}))
                    .collect(),
            ),
        );
    }
    o.insert("Projection".into(), super::control::projection_json(&v.projection));
    o.insert("VectorAttribute".into(), json!({"AttributeName": v.attribute}));
    o.insert("Dimensions".into(), json!(v.dimensions));
    o.insert("DistanceFunction".into(), json!(v.distance.as_str()));
    o
}

/// DescribeTable's `VectorIndexes`, or `None` for a table without any.
pub(crate) fn describe(app: &App, t: &TableHandle, arn: &str) -> Option<Json> {
    if t.def.vector_indexes.is_empty() {
        return None;
    }
    let now = now_ms();
    let list = t
        .def
        .vector_indexes
        .iter()
        .map(|v| {
            let mut o = definition_json(v);
            let phase = v.phase(now);
            o.insert("IndexStatus".into(), json!(if phase == Phase::Active { "ACTIVE" } else { "CREATING" }));
            // Only an index UpdateTable added says whether it is being
            // filled, and only until it is `ACTIVE`.
            if phase != Phase::Active {
                o.insert("Backfilling".into(), json!(phase == Phase::Backfilling));
            }
            let (count, bytes) = if phase == Phase::Active { app.index_sizes.get(&app.store, t, v) } else { (0, 0) };
            o.insert("IndexSizeBytes".into(), json!(bytes));
            o.insert("ItemCount".into(), json!(count));
            o.insert("IndexArn".into(), json!(format!("{arn}/index/{}", v.name)));
            Json::Object(o)
        })
        .collect();
    Some(Json::Array(list))
}

/// Whether the table is `UPDATING` for an index still allocating its
/// resources.
pub(crate) fn updating(def: &TableDef) -> bool {
    let now = now_ms();
    def.vector_indexes.iter().any(|v| v.phase(now) == Phase::Allocating)
}

/// UpdateTable's `VectorIndexUpdates`: one create or delete (the online
/// index limit DynamoDB shares with global secondary indexes). `defs` are
/// the request's attribute definitions. `None` when there are none.
pub(super) fn update(
    app: &App,
    name: &str,
    r: &Req<'_>,
    defs: &[(String, AttrType)],
) -> ApiResult<Option<std::sync::Arc<TableHandle>>> {
    let updates = r.objects("VectorIndexUpdates")?;
    if updates.is_empty() {
        return Ok(None);
    }
    if updates.len() > 1 {
        return Err(super::control::one_online_index());
    }
    let u = &updates[0];
    if let Some(c) = u.obj_opt("Create")? {
        let found = model_faults(&c, "vectorIndexUpdates.1.member.create");
        if !found.is_empty() {
            return Err(report(found));
        }
        return Ok(Some(app.store.add_vector_index(name, input(&c)?, defs.to_vec())?));
    }
    if let Some(d) = u.obj_opt("Delete")? {
        return Ok(Some(app.store.remove_vector_index(name, d.str("IndexName")?)?));
    }
    Err(ApiError::validation(messages::vector::NO_UPDATE_ACTION))
}

/// The refusal of a Query or Scan (or a PartiQL read) of a vector index.
pub(crate) fn not_readable(op: &str) -> ApiError {
    // Query's sentence ends with a period, Scan's does not (DynamoDB's
    // answers, 2026-08).
    let end = if op == "Query" { "." } else { "" };
    ApiError::validation(messages::vector::not_readable(op, end))
}

/// The `VectorIndexes` member a write's ConsumedCapacity carries under
/// `INDEXES`: the bytes each index's entry took, for the indexes whose
/// entries changed. `None` when none did.
pub(crate) fn write_capacity(def: &TableDef, out: &WriteOutcome) -> Option<Json> {
    let mut m = Map::new();
    for v in &def.vector_indexes {
        let bytes = v.write_bytes(&def.key_schema, out.old.as_ref(), out.new.as_ref());
        if bytes > 0 {
            m.insert(v.name.clone(), json!({"VectorWriteRequestBytes": bytes as f64}));
        }
    }
    (!m.is_empty()).then_some(Json::Object(m))
}

/// Adds the vector members to a write's rendered ConsumedCapacity (only
/// under `INDEXES`, as DynamoDB reports them).
pub(crate) fn add_write_capacity(consumed: &mut Json, cap: Capacity, def: &TableDef, out: &WriteOutcome) {
    if cap != Capacity::Indexes {
        return;
    }
    if let (Some(o), Some(v)) = (consumed.as_object_mut(), write_capacity(def, out)) {
        o.insert("VectorIndexes".into(), v);
    }
}

/// Adds the vector members to the per-table ConsumedCapacity list of a
/// batch or transaction of `writes` (under `INDEXES` only): each table's
/// indexes' bytes, summed over its writes.
pub(crate) fn add_writes_capacity<'a>(
    consumed: &mut Json,
    cap: Capacity,
    writes: impl Iterator<Item = (&'a TableDef, &'a WriteOutcome)>,
) {
    if cap != Capacity::Indexes {
        return;
    }
    let mut per_table: std::collections::BTreeMap<&str, Map<String, Json>> = Default::default();
    for (def, out) in writes {
        for v in &def.vector_indexes {
            let bytes = v.write_bytes(&def.key_schema, out.old.as_ref(), out.new.as_ref());
            if bytes > 0 {
                let m = per_table.entry(def.name.as_str()).or_default();
                let e = m.entry(v.name.clone()).or_insert_with(|| json!({"VectorWriteRequestBytes": 0.0}));
                let sum = e["VectorWriteRequestBytes"].as_f64().unwrap_or(0.0) + bytes as f64;
                e["VectorWriteRequestBytes"] = json!(sum);
            }
        }
    }
    for entry in consumed.as_array_mut().into_iter().flatten() {
        let Some(name) = entry.get("TableName").and_then(Json::as_str) else { continue };
        if let Some(m) = per_table.remove(name) {
            entry["VectorIndexes"] = Json::Object(m);
        }
    }
}

/// SearchVectors: the `TopK` items of a vector index closest to a vector.
/// The checks come in DynamoDB's order: the request model, `TopK`'s range,
/// the expressions (syntax, equalities only), the table, the index and its
/// phase, the vector, then the condition against the search schema.
pub fn search_vectors(app: &App, r: Req<'_>) -> ApiResult<Json> {
    check_model(&r)?;
    let cap = Capacity::from_request(&r)?;
    let top_k = r.int_opt("TopK")?.ok_or_else(|| missing("TopK"))?;
    if top_k > MAX_TOP_K {
        return Err(ApiError::validation(messages::vector::top_k_out_of_range(top_k, MAX_TOP_K)));
    }
    let mut ex = Exprs::from_request(&r)?.for_operation("SearchVectors");
    let condition = ex.condition(&r, "SearchConditionExpression", ExprKind::SearchCondition)?;
    let mut equalities = Vec::new();
    if let Some(c) = &condition {
        collect_equalities(c, &mut equalities)?;
    }
    let projection = ex.projection(&r)?;
    // Only the search condition takes values (a projection names, never
    // values), as DynamoDB words it for Scan's filter.
    if condition.is_none() && r.get("ExpressionAttributeValues").is_some() {
        return Err(ApiError::validation(messages::vector::VALUES_WITHOUT_CONDITION));
    }
    ex.finish()?;
    let vector = search_vector(&r)?;
    let table = app.store.table(r.str("TableName")?)?;
    let index_name = r.str("IndexName")?;
    let index = table
        .def
        .vector_index(index_name)
        .filter(|v| v.phase(now_ms()) != Phase::Allocating)
        .ok_or_else(|| ApiError::validation(messages::query::no_such_index(index_name)))?;
    if index.phase(now_ms()) == Phase::Backfilling {
        return Err(ApiError::validation(messages::vector::index_backfilling(index_name)));
    }
    if vector.len() != index.dimensions as usize {
        return Err(ApiError::validation(messages::vector::dimension_mismatch(vector.len(), index.dimensions)));
    }
    let (hash, filters) = search_condition(index, condition.is_some(), equalities)?;
    let query = SearchQuery { vector, top_k: top_k as usize, hash, filters };
    let hits = app.store.search_vectors(&table, index, &query)?;
    let bytes = index.search_bytes(&table.def.key_schema, &hits);
    let results: Vec<Json> = hits
        .into_iter()
        .map(|Hit { mut item, score }| {
            item = match &projection {
                Some(paths) => tidepool_store::expr::project(paths, &item),
                None => {
                    item.remove(&index.attribute);
                    item
                }
            };
            // Only what the index projects can come back (the vector of
            // a KEYS_ONLY index never does).
            item.retain(|n, _| index.projects(n, &table.def.key_schema));
            json!({"Item": item_to_json(&item), "Score": score})
        })
        .collect();
    let mut out = json!({"SearchResults": results});
    if cap != Capacity::None {
        out["ConsumedCapacity"] = json!({"VectorSearchRequestBytes": bytes as f64});
    }
    Ok(out)
}

/// SearchVectors' members against the request model, before the table is
/// looked up.
fn check_model(r: &Req<'_>) -> ApiResult<()> {
    let mut found = Vec::new();
    // IndexName and SearchVector are named as sent, without their values
    // (DynamoDB's answers, 2026-08).
    match r.get("IndexName") {
        Some(Json::String(name)) => {
            for rule in name_constraints(name) {
                found.push(Violation(messages::vector::search_index_name_violation(rule)));
            }
        }
        _ => found.push(Violation(messages::request::null_at("indexName"))),
    }
    match r.get("SearchVector") {
        Some(Json::Array(v)) if v.is_empty() => found.push(Violation(messages::vector::SEARCH_VECTOR_EMPTY.into())),
        Some(Json::Array(v)) if v.len() > MAX_DIMENSIONS as usize => {
            found.push(Violation(messages::vector::search_vector_too_long(MAX_DIMENSIONS)))
        }
        Some(_) => {}
        None => found.push(Violation(messages::request::null_at("searchVector"))),
    }
    match r.get("TopK").and_then(Json::as_i64) {
        Some(k) if k < 1 => found.push(Violation(messages::vector::TOP_K_TOO_SMALL.into())),
        Some(_) => {}
        None => found.push(Violation(messages::request::null_at("topK"))),
    }
    if let Some(Json::String(v)) = r.get("ReturnConsumedCapacity")
        && !["INDEXES", "TOTAL", "NONE"].contains(&v.as_str())
    {
        found.push(Violation(messages::vector::return_consumed_capacity_not_in_set(v)));
    }
    if found.is_empty() { Ok(()) } else { Err(report(found)) }
}

/// The query vector: numbers that fit an `f32` (checked before the table
/// is looked up, as every attribute value is).
fn search_vector(r: &Req<'_>) -> ApiResult<Vec<f32>> {
    let list = r.list_opt("SearchVector")?.ok_or_else(|| missing("SearchVector"))?;
    let invalid = || ApiError::validation(messages::vector::INVALID_SEARCH_VECTOR);
    let mut vector = Vec::with_capacity(list.len());
    for e in list {
        match value_from_json(e, 0).map_err(|_| invalid())? {
            Value::N(n) => vector.push(to_f32(&n).ok_or_else(invalid)?),
            _ => return Err(invalid()),
        }
    }
    Ok(vector)
}

/// Equality filters: attribute names and the values they must hold.
type Filters = Vec<(String, Value)>;

/// One `name = value` term of a search condition; `nested` when its path
/// goes below the top-level attribute.
struct Equality {
    name: String,
    nested: bool,
    value: Value,
}

/// The search condition as the store takes it: the HASH value and the
/// inline filters' values, checked against the index's search schema in
/// DynamoDB's order (DynamoDB Developer Guide, "Filtering", and the
/// service's answers as recorded in 2026-08).
fn search_condition(
    index: &VectorIndexDef,
    given: bool,
    equalities: Vec<Equality>,
) -> ApiResult<(Option<Value>, Filters)> {
    for e in &equalities {
        if !index.search_schema.iter().any(|a| a.name == e.name) {
            return Err(ApiError::validation(messages::vector::attribute_not_in_search_schema(&e.name)));
        }
    }
    if equalities.iter().any(|e| e.nested) {
        return Err(ApiError::validation(messages::vector::NESTED_CONDITION));
    }
    for (i, e) in equalities.iter().enumerate() {
        if equalities[..i].iter().any(|o| o.name == e.name) {
            return Err(ApiError::validation(messages::vector::ONE_CONDITION_PER_ATTRIBUTE));
        }
    }
    let hash_attr = index.hash_attr();
    if hash_attr.is_some_and(|h| !equalities.iter().any(|e| e.name == h.name)) || (!given && hash_attr.is_some()) {
        return Err(ApiError::validation(messages::vector::HASH_CONDITION_REQUIRED));
    }
    let mut hash = None;
    let mut filters = Vec::new();
    for Equality { name, value, .. } in equalities {
        match hash_attr {
            Some(h) if h.name == name => {
                if value.attr_type() != h.ty {
                    return Err(ApiError::validation(messages::vector::hash_type_mismatch(
                        &name,
                        value.attr_type(),
                        h.ty,
                    )));
                }
                tidepool_store::table::check_key_value(&name, &value, true, None)?;
                hash = Some(value);
            }
            _ => filters.push((name, value)),
        }
    }
    Ok((hash, filters))
}

/// The `name = value` terms of a conjunction: any other comparator, or
/// another shape (OR, NOT, a function), is refused.
fn collect_equalities(c: &Condition, out: &mut Vec<Equality>) -> ApiResult<()> {
    let comparator = || ApiError::validation(messages::vector::INVALID_COMPARATOR);
    match c {
        Condition::And(a, b) => {
            collect_equalities(a, out)?;
            collect_equalities(b, out)
        }
        Condition::Compare { op, left, right } => {
            if *op != Comparator::Eq {
                return Err(comparator());
            }
            let (path, value) = match (left, right) {
                (Operand::Path(p), Operand::Value(v)) | (Operand::Value(v), Operand::Path(p)) => (p, v),
                _ => return Err(comparator()),
            };
            out.push(Equality { name: path.top().to_string(), nested: !path.rest().is_empty(), value: value.clone() });
            Ok(())
        }
        // DynamoDB's word for these (2026-08): an operator, not a comparator.
        Condition::Between { .. } | Condition::In { .. } => {
            Err(ApiError::validation(messages::vector::INVALID_OPERATOR))
        }
        _ => Err(comparator()),
    }
}
