//! Query and Scan.

use tidepool_store::TableHandle;
use tidepool_store::expr::{self, Condition, ExprKind, Path};
use tidepool_store::messages;
use tidepool_store::query::{KeyRange, MAX_TOTAL_SEGMENTS, Page, ReadParams, Source};
use tidepool_store::table::{IndexDef, IndexKind, Projection};
use tidepool_store::value::json::write_item;
use tidepool_store::value::{Item, Value};

use super::App;
use super::attr::item_from_json;
use super::error::{ApiError, ApiResult};
use super::expr::{Capacity, Exprs, IndexUnits, Split, check_params, consistent, expr_err, read_units};
use super::legacy;
use super::request::Req;
use crate::capacity::{Access, Target};
use std::ops::Bound;

/// What a read returns per item.
enum Select {
    All,
    Projected,
    Specific(Vec<Path>),
    Count,
}

/// Everything Query and Scan share: index, filter, projection, select, paging.
struct ReadRequest<'t> {
    table: std::sync::Arc<TableHandle>,
    index: Option<&'t IndexDef>,
    filter: Option<Condition>,
    select: Select,
    limit: Option<usize>,
    start: Option<Item>,
    consistent: bool,
    cap: Capacity,
}

fn index_of<'t>(table: &'t TableHandle, r: &Req<'_>, op: &str) -> ApiResult<Option<&'t IndexDef>> {
    let Some(name) = r.str_opt("IndexName")? else { return Ok(None) };
    if table.def.vector_index(name).is_some() {
        // A Query refuses a consistent read first, a Scan the index first
        // (DynamoDB's answers, 2026-08).
        if op == "Query" && r.bool_opt("ConsistentRead")? == Some(true) {
            return Err(ApiError::validation(messages::query::GSI_CONSISTENT_READ));
        }
        return Err(super::vector::not_readable(op));
    }
    let index = table.def.index(name).ok_or_else(|| ApiError::validation(messages::query::no_such_index(name)))?;
    readable(index)?;
    Ok(Some(index))
}

/// An index UpdateTable added cannot be read until it is filled, as in
/// DynamoDB.
pub(crate) fn readable(index: &IndexDef) -> ApiResult<()> {
    if index.backfill == Some(true) {
        return Err(ApiError::validation(messages::query::backfilling_index(&index.name)));
    }
    Ok(())
}

/// A fault of an ExclusiveStartKey's values: those DynamoDB's value check
/// finds (an empty value, more than one type, an empty string or binary
/// set, `{"NULL": false}`) are the start key's, and say so; a number's, a
/// number set's and a duplicate member's come bare, as elsewhere (dynalite's
/// tests, recorded against DynamoDB; the conformance suite's duplicates).
fn start_key_value(e: ApiError) -> ApiError {
    use messages::item::{EMPTY_ATTRIBUTE_VALUE, EMPTY_BINARY_SET, NULL_FALSE, SEVERAL_DATATYPES};
    let m = e.message.as_str();
    let the_start_keys = [EMPTY_ATTRIBUTE_VALUE, SEVERAL_DATATYPES, EMPTY_BINARY_SET, NULL_FALSE].contains(&m)
        || m == messages::item::empty_set("string");
    if e.kind.ends_with("#ValidationException") && the_start_keys {
        ApiError::validation(messages::query::start_key_invalid_value(m))
    } else {
        e
    }
}

fn parse_common<'t>(
    table: &'t std::sync::Arc<TableHandle>,
    r: &Req<'_>,
    ex: &mut Exprs,
    legacy_filter: &str,
) -> ApiResult<ReadRequest<'t>> {
    let op = if legacy_filter == "QueryFilter" { "Query" } else { "Scan" };
    // Legacy and expression parameters were kept apart by `check_params`.
    let index = index_of(table, r, op)?;
    let filter = if r.get(legacy_filter).is_some() {
        legacy::filter(r, legacy_filter)?
    } else {
        ex.condition(r, "FilterExpression", ExprKind::Filter)?
    };
    if legacy_filter == "QueryFilter"
        && let Some(f) = &filter
    {
        let schema = index.map_or(&table.def.key_schema, |i| &i.key_schema);
        if let Some(k) = f.top_level_names().into_iter().find(|n| schema.contains(n)) {
            return Err(ApiError::validation(if r.get("FilterExpression").is_some() {
                messages::query::filter_expression_on_key(k)
            } else {
                messages::query::query_filter_on_key(k)
            }));
        }
    }
    let projection_member = if r.get("AttributesToGet").is_some() { "AttributesToGet" } else { "ProjectionExpression" };
    let projection = match r.strings("AttributesToGet")? {
        Some(names) => Some(legacy::attributes_to_get(names)?),
        None => ex.projection(r)?,
    };
    let select = match (
        r.enum_opt("Select", &["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"])?,
        projection,
    ) {
        (None | Some("SPECIFIC_ATTRIBUTES"), Some(p)) => Select::Specific(p),
        (Some("SPECIFIC_ATTRIBUTES"), None) => {
            return Err(ApiError::validation(messages::query::SPECIFIC_ATTRIBUTES_WITHOUT_PROJECTION));
        }
        (Some(s), Some(_)) => {
            // A Query's Count refusal comes enveloped, a Scan's bare
            // (captured against us-east-1 by ExtendDB's suite, 2026).
            return Err(ApiError::validation(match (s, op) {
                ("COUNT", "Query") => messages::query::query_projection_with_count(projection_member),
                ("COUNT", _) => messages::query::projection_with_count(projection_member),
                _ => messages::query::projection_with_select(projection_member, s),
            }));
        }
        (Some("COUNT"), None) => Select::Count,
        (Some("ALL_PROJECTED_ATTRIBUTES"), None) => {
            if index.is_none() {
                return Err(ApiError::validation(messages::query::ALL_PROJECTED_WITHOUT_INDEX));
            }
            Select::Projected
        }
        (Some(_), None) => Select::All,
        (None, None) => {
            if index.is_some() {
                Select::Projected
            } else {
                Select::All
            }
        }
    };
    if let (Select::All, Some(i)) = (&select, index)
        && i.kind == IndexKind::Global
        && i.projection != Projection::All
    {
        return Err(ApiError::validation(messages::query::all_attributes_from_gsi(&i.name)));
    }
    let limit = match r.int_opt("Limit")? {
        Some(l) if l < 1 => {
            return Err(ApiError::validation(messages::query::LIMIT_BELOW_ONE));
        }
        Some(l) => Some(l as usize),
        None => None,
    };
    let start = r.get("ExclusiveStartKey").map(|k| item_from_json(k).map_err(start_key_value)).transpose()?;
    let consistent = consistent(r)?;
    if consistent && index.is_some_and(|i| i.kind == IndexKind::Global) {
        return Err(ApiError::validation(messages::query::GSI_CONSISTENT_READ));
    }
    Ok(ReadRequest {
        table: table.clone(),
        index,
        filter,
        select,
        limit,
        start,
        consistent,
        cap: Capacity::from_request(r)?,
    })
}

impl ReadRequest<'_> {
    /// Refuses a path into a key attribute in the projection, then in the
    /// filter (`expr::scalar_keys`).
    fn scalar_keys(&self) -> ApiResult<()> {
        if let Select::Specific(paths) = &self.select {
            super::expr::scalar_keys(&self.table.def, paths)?;
        }
        match &self.filter {
            Some(f) => super::expr::scalar_keys(&self.table.def, f.paths()),
            None => Ok(()),
        }
    }

    /// A local index must read the table for attributes it does not project.
    fn fetch_from_table(&self) -> bool {
        match (self.index, &self.select) {
            (Some(i), Select::All) => i.kind == IndexKind::Local && i.projection != Projection::All,
            (Some(i), Select::Specific(paths)) => {
                i.kind == IndexKind::Local
                    && match &i.projection {
                        Projection::All => false,
                        Projection::KeysOnly | Projection::Include(_) => paths.iter().any(|p| {
                            let n = p.top();
                            !(self.table.def.key_schema.contains(n)
                                || i.key_schema.contains(n)
                                || matches!(&i.projection, Projection::Include(a) if a.iter().any(|x| x == n)))
                        }),
                    }
            }
            _ => false,
        }
    }

    fn params<'a>(
        &'a self,
        filter: &'a dyn Fn(&Item) -> tidepool_store::error::Result<bool>,
        until: Option<&'a Item>,
    ) -> ReadParams<'a> {
        ReadParams {
            limit: self.limit,
            exclusive_start: self.start.as_ref(),
            filter,
            fetch_from_table: self.fetch_from_table(),
            until,
        }
    }

    /// For a strongly consistent read of a multi-Region strongly consistent
    /// table: another region's newer items in `range` applied here first,
    /// and where its page ended (`global_tables/strong.rs`).
    /// `range` is the read's, `partition` the table's keys a local index's
    /// Query covers (compared first: the index's order is not the
    /// table's); `None` for a Scan, whose local index is read here.
    fn consult_peer(
        &self,
        app: &App,
        range: impl FnOnce() -> tidepool_store::error::Result<KeyRange>,
        partition: Option<&dyn Fn() -> tidepool_store::error::Result<KeyRange>>,
        forward: bool,
        segment: Option<(u32, u32)>,
    ) -> ApiResult<Option<Item>> {
        if !self.consistent || !self.table.def.settings.multi_region_strong {
            return Ok(None);
        }
        use crate::global_tables::strong;
        match self.index {
            None => {
                strong::consistent_page(app, &self.table, &range()?, forward, self.start.as_ref(), segment, self.limit)
            }
            Some(i) if i.kind == IndexKind::Local => {
                if let Some(partition) = partition {
                    strong::consistent_partition(app, &self.table, &partition()?)?;
                }
                Ok(None)
            }
            Some(_) => Ok(None),
        }
    }

    fn source(&self) -> Source<'_> {
        match self.index {
            Some(i) => Source::Index(i),
            None => Source::Table,
        }
    }

    /// The capacity a page consumed: the table's (a local index's
    /// reach-back when read through one) and the index's.
    fn consumed(&self, page: &Page) -> (f64, IndexUnits) {
        let units = read_units(page.read_bytes, self.consistent);
        match self.index {
            Some(i) => (
                fetch_units(&page.fetched, self.consistent),
                vec![(i.name.clone(), i.kind == IndexKind::Global, units)],
            ),
            None => (units, vec![]),
        }
    }

    /// Where a read of this request goes, for its capacity.
    fn target<'a>(&'a self, partition: Option<&'a Value>) -> Target<'a> {
        Target { def: &self.table.def, index: self.index, partition, sort: None }
    }

    /// Charges what `page` consumed ([`crate::capacity`]) and counts the
    /// items it returns.
    fn charge(&self, app: &App, op: &str, target: Target<'_>, page: &Page) {
        let (units, indexes) = self.consumed(page);
        app.capacity.charge(Access::Read, target, units, &indexes);
        app.metrics.returned(&self.table.def.name, op, page.items.len());
    }

    /// The answer, written without building a JSON tree (pages run to
    /// 1 MB), in the order the tree would print its members.
    fn respond(&self, page: Page) -> Vec<u8> {
        let (table_units, idx) = self.consumed(&page);
        let capacity = self.cap.render(&self.table.def.name, table_units, &idx, Split::None);
        let mut out = Vec::with_capacity(page.read_bytes + page.read_bytes / 2 + 128);
        out.push(b'{');
        if let Some(c) = capacity {
            out.extend_from_slice(b"\"ConsumedCapacity\":");
            out.extend_from_slice(c.to_string().as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(format!("\"Count\":{}", page.items.len()).as_bytes());
        if !matches!(self.select, Select::Count) {
            out.extend_from_slice(b",\"Items\":[");
            for (n, item) in page.items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                match &self.select {
                    Select::Specific(p) => write_item(&mut out, &expr::project(p, item)),
                    _ => write_item(&mut out, item),
                }
            }
            out.push(b']');
        }
        if let Some(k) = &page.last_key {
            out.extend_from_slice(b",\"LastEvaluatedKey\":");
            write_item(&mut out, k);
        }
        out.extend_from_slice(format!(",\"ScannedCount\":{}}}", page.scanned).as_bytes());
        out
    }
}

pub fn query(app: &App, r: Req<'_>) -> ApiResult<Vec<u8>> {
    let table = app.store.table(r.str("TableName")?)?;
    check_params("Query", &r)?;
    let mut ex = Exprs::from_request(&r)?.for_operation("Query");
    let key_expr = if r.get("KeyConditions").is_some() {
        // Its values and operators need no table: checked first (what
        // needs the key schema, after the index and the start key).
        legacy::key_condition_operators(&r)?;
        None
    } else {
        let text = r
            .str_opt("KeyConditionExpression")?
            .ok_or_else(|| ApiError::validation(messages::query::NO_KEY_CONDITION))?;
        ex.mark_used();
        let tree = expr::parse_key_condition_text(text, &mut ex.ph).map_err(expr_err)?;
        match expr::key_condition(tree) {
            Ok(k) => Some(k),
            // A fault of the key condition's shape needs no table: it comes
            // after the other expressions' faults (read as without a table)
            // and before anything the table decides.
            Err(e) => {
                super::validate::table_free("Query", &r)?;
                return Err(expr_err(e));
            }
        }
    };
    let req = parse_common(&table, &r, &mut ex, "QueryFilter")?;
    ex.finish()?;
    // The index, ConsistentRead and the start key's schema come before the
    // key conditions are read against a key (dynalite's tests, checked
    // against DynamoDB).
    tidepool_store::query::check_start(
        &table,
        &req.source(),
        &(Bound::Unbounded, Bound::Unbounded),
        req.start.as_ref(),
        None,
        true,
    )?;
    let key_cond = match key_expr {
        Some(k) => k,
        None => legacy::key_conditions(&r)?,
    };
    let schema = match req.index {
        Some(i) => &i.key_schema,
        None => &table.def.key_schema,
    };
    let key = key_cond.split(schema).map_err(expr_err)?;
    req.scalar_keys()?;
    // One partition key value: a multi-attribute one is not metered per key.
    let target = req.target(if key.hash.len() == 1 { key.hash.first() } else { None });
    app.capacity.admit(Access::Read, target)?;
    let forward = r.bool_opt("ScanIndexForward")?.unwrap_or(true);
    let filter = |item: &Item| -> tidepool_store::error::Result<bool> {
        match &req.filter {
            Some(f) => f.eval(item).map_err(|e| tidepool_store::StoreError::validation(e.to_string())),
            None => Ok(true),
        }
    };
    let until = req.consult_peer(
        app,
        || tidepool_store::query::query_range(&table, &req.source(), &key.hash, &key.sort_eq, key.sort.as_ref()),
        Some(&|| tidepool_store::query::query_range(&table, &Source::Table, &key.hash, &[], None)),
        forward,
        None,
    )?;
    let page = app.store.query(
        &table,
        req.source(),
        &key.hash,
        &key.sort_eq,
        key.sort.as_ref(),
        forward,
        &req.params(&filter, until.as_ref()),
    )?;
    req.charge(app, "Query", target, &page);
    Ok(req.respond(page))
}

pub fn scan(app: &App, r: Req<'_>) -> ApiResult<Vec<u8>> {
    let table = app.store.table(r.str("TableName")?)?;
    check_params("Scan", &r)?;
    let mut ex = Exprs::from_request(&r)?.for_operation("Scan");
    let req = parse_common(&table, &r, &mut ex, "ScanFilter")?;
    ex.finish()?;
    req.scalar_keys()?;
    let segment = match (r.int_opt("Segment")?, r.int_opt("TotalSegments")?) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(ApiError::validation(messages::query::SEGMENT_WITHOUT_TOTAL));
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(messages::query::TOTAL_WITHOUT_SEGMENT));
        }
        (Some(s), Some(t)) => {
            if t < 1 || t > i64::from(MAX_TOTAL_SEGMENTS) {
                return Err(ApiError::validation(if t < 1 {
                    messages::query::total_segments_below_one(t)
                } else {
                    messages::query::total_segments_above_max(t, MAX_TOTAL_SEGMENTS)
                }));
            }
            if s < 0 || s >= t {
                return Err(ApiError::validation(messages::query::segment_out_of_range(s, t)));
            }
            Some((s as u32, t as u32))
        }
    };
    let filter = |item: &Item| -> tidepool_store::error::Result<bool> {
        match &req.filter {
            Some(f) => f.eval(item).map_err(|e| tidepool_store::StoreError::validation(e.to_string())),
            None => Ok(true),
        }
    };
    let target = req.target(None);
    app.capacity.admit(Access::Read, target)?;
    let until = req.consult_peer(app, || Ok(tidepool_store::query::scan_range(&req.source())), None, true, segment)?;
    let page = app.store.scan(&table, req.source(), segment, &req.params(&filter, until.as_ref()))?;
    req.charge(app, "Scan", target, &page);
    Ok(req.respond(page))
}

/// What a local index's reach-back costs the table: each item fetched is a
/// read of its own, rounded up to 4 KB units.
pub(crate) fn fetch_units(fetched: &[usize], consistent: bool) -> f64 {
    // A fold from +0: an empty f64 `sum()` is -0, which JSON would show.
    fetched.iter().fold(0.0, |total, size| total + read_units(*size, consistent))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};
    use tidepool_store::table::{IndexDef, IndexKind, KeyAttr, KeySchema, Projection};
    use tidepool_store::value::AttrType;

    use crate::dynamodb::request::Req;
    use crate::dynamodb::testing::{app, call};

    /// An index still being filled (its thread not run here) is refused to
    /// Query, Scan and PartiQL, and so is creating another meanwhile.
    #[test]
    fn a_backfilling_index_is_unreadable_and_blocks_another() {
        let app = app();
        call(
            &app,
            "CreateTable",
            json!({
                "TableName": "filling",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            }),
        );
        app.store
            .alter_table("filling", |def| {
                let id = def.next_index_id;
                def.next_index_id += 1;
                def.indexes.push(IndexDef {
                    name: "by-g".into(),
                    id,
                    kind: IndexKind::Global,
                    key_schema: KeySchema {
                        hash: KeyAttr { name: "g".into(), ty: AttrType::S },
                        range: None,
                        more_hash: Vec::new(),
                        more_range: Vec::new(),
                    },
                    projection: Projection::All,
                    throughput: None,
                    backfill: Some(true),
                });
                Ok(())
            })
            .expect("an index being filled");
        let run = |op: &str, body: Json| {
            let Json::Object(map) = body else { panic!("an object") };
            crate::dynamodb::dispatch(&app, op, Req(&map), "localhost").map(|_| ()).map_err(|e| (e.kind, e.message))
        };
        let refused = "Cannot read from backfilling global secondary index: by-g".to_string();
        let query = json!({"TableName": "filling", "IndexName": "by-g", "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "x"}}});
        for (op, body) in [
            ("Query", query),
            ("Scan", json!({"TableName": "filling", "IndexName": "by-g"})),
            ("ExecuteStatement", json!({"Statement": "SELECT * FROM \"filling\".\"by-g\""})),
        ] {
            let (kind, message) = run(op, body).expect_err(op);
            assert!(kind.ends_with("ValidationException"), "{op}: {kind}");
            assert_eq!(message, refused, "{op}");
        }
        let create = json!({"TableName": "filling",
            "AttributeDefinitions": [{"AttributeName": "h", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "by-h",
                "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}}]});
        let (kind, message) = run("UpdateTable", create).expect_err("a second index while one fills");
        assert!(kind.ends_with("LimitExceededException"), "{kind}");
        assert_eq!(
            message,
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
        );
        // The index being filled itself may be deleted.
        run(
            "UpdateTable",
            json!({"TableName": "filling", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "by-g"}}]}),
        )
        .expect("delete the index being filled");
    }
}
