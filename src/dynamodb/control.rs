//! Control plane: CreateTable, DescribeTable, ListTables, UpdateTable,
//! DeleteTable, tags, TTL, DescribeLimits and DescribeEndpoints.

use crate::global_tables::api::GroupPart;
use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};
use tidepool_store::catalog::{CreateTableInput, IndexInput, KeySchemaInput, KeyType, capacity_in_bounds, check_tags};
use tidepool_store::messages;
use tidepool_store::table::{
    BillingMode, IndexDef, IndexKind, KeySchema, Projection, StreamViewType, TableDef, TableSettings, Throughput,
};
use tidepool_store::value::AttrType;
use tidepool_store::{StoreError, TableHandle};

use super::App;
use super::error::{ApiError, ApiResult};
use super::request::{Req, missing};

/// A key schema as declared: its HASH elements, then its RANGE elements.
pub(crate) fn key_schema_json(k: &KeySchema) -> Json {
    let hash = k.hash_attrs().map(|a| json!({"AttributeName": a.name, "KeyType": "HASH"}));
    let range = k.range_attrs().map(|a| json!({"AttributeName": a.name, "KeyType": "RANGE"}));
    Json::Array(hash.chain(range).collect())
}

pub(crate) fn projection_json(p: &Projection) -> Json {
    match p {
        // Sorted by name, as DynamoDB describes them (DDB-TABLE-125).
        Projection::Include(a) => {
            let mut a = a.clone();
            a.sort();
            json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": a})
        }
        other => json!({"ProjectionType": other.type_name()}),
    }
}

/// `ProvisionedThroughputDescription`, with the changes recorded (the
/// table's, or a global index's).
fn throughput_json(t: Option<Throughput>, changes: Option<&tidepool_store::table::ThroughputChanges>) -> Json {
    let t = t.unwrap_or(Throughput { read: 0, write: 0 });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let mut d = json!({
        "NumberOfDecreasesToday": changes.map_or(0, |c| c.decreases_today(now)),
        "ReadCapacityUnits": t.read,
        "WriteCapacityUnits": t.write,
    });
    if let Some(c) = changes {
        if let Some(at) = c.last_increase {
            d["LastIncreaseDateTime"] = json!(at);
        }
        if let Some(at) = c.last_decrease {
            d["LastDecreaseDateTime"] = json!(at);
        }
    }
    d
}

impl App {
    pub fn table_arn(&self, name: &str) -> String {
        format!("arn:aws:dynamodb:{}:{}:table/{name}", self.region, super::ACCOUNT_ID)
    }

    /// Drops what the server kept of a deleted table besides the store:
    /// its metrics, Contributor Insights settings and counters, index counts.
    pub fn forget_table(&self, def: &TableDef) {
        self.metrics.forget_table(&def.name);
        crate::insights::forget_table(self, def);
        self.index_sizes.forget_table(def.id);
    }

    pub fn stream_arn(&self, table: &str, label: &str) -> String {
        format!("{}/stream/{label}", self.table_arn(table))
    }

    /// The TableDescription shape, with `status` as the table's status.
    pub fn describe(&self, t: &TableHandle, status: &str) -> Json {
        let def: &TableDef = &t.def;
        let stats = t.stats();
        let arn = self.table_arn(&def.name);
        let mut d = Map::new();
        // Sorted by name, as DynamoDB describes them (DDB-TABLE-125).
        let mut defs: Vec<_> = def.attribute_definitions.iter().collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        d.insert(
            "AttributeDefinitions".into(),
            Json::Array(
                defs.iter().map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty.as_str()})).collect(),
            ),
        );
        d.insert("TableName".into(), json!(def.name));
        d.insert("KeySchema".into(), key_schema_json(&def.key_schema));
        d.insert("TableStatus".into(), json!(status));
        d.insert("CreationDateTime".into(), json!(super::epoch_ms(def.created_at)));
        d.insert(
            "ProvisionedThroughput".into(),
            throughput_json(def.throughput, def.settings.throughput_changes.get("")),
        );
        d.insert("TableSizeBytes".into(), json!(stats.bytes));
        d.insert("ItemCount".into(), json!(stats.items));
        d.insert("TableArn".into(), json!(arn));
        d.insert("TableId".into(), json!(def.table_id));
        if def.billing_mode == BillingMode::PayPerRequest {
            d.insert(
                "BillingModeSummary".into(),
                json!({"BillingMode": "PAY_PER_REQUEST",
                    "LastUpdateToPayPerRequestDateTime":
                        super::epoch_ms(def.settings.on_demand_since.unwrap_or(def.created_at))}),
            );
        }
        let index_json = |i: &IndexDef| {
            // An index being filled counts nothing yet, as DynamoDB shows it
            // (and no partial count is walked and kept for later).
            let (count, bytes) = if i.backfill == Some(true) { (0, 0) } else { self.index_counts(t, i) };
            let mut o = Map::new();
            o.insert("IndexName".into(), json!(i.name));
            o.insert("KeySchema".into(), key_schema_json(&i.key_schema));
            o.insert("Projection".into(), projection_json(&i.projection));
            o.insert("IndexSizeBytes".into(), json!(bytes));
            o.insert("ItemCount".into(), json!(count));
            o.insert("IndexArn".into(), json!(format!("{arn}/index/{}", i.name)));
            if i.kind == IndexKind::Global {
                // One UpdateTable added is `CREATING` with `Backfilling`
                // while it is filled; the member goes once it is `ACTIVE`
                // (Alternator's tests against DynamoDB), and one made with
                // its table never has it.
                let filling = i.backfill == Some(true);
                // A table being made (or restored) makes its indexes too.
                let creating = filling || status == "CREATING";
                o.insert("IndexStatus".into(), json!(if creating { "CREATING" } else { "ACTIVE" }));
                if filling {
                    o.insert("Backfilling".into(), json!(true));
                }
                o.insert(
                    "ProvisionedThroughput".into(),
                    throughput_json(i.throughput, def.settings.throughput_changes.get(&i.name)),
                );
                let [read, write] = def.settings.index_warm.get(&i.name).copied().unwrap_or_default();
                o.insert("WarmThroughput".into(), warm_json((read, write), i.throughput));
            }
            Json::Object(o)
        };
        let lsis: Vec<Json> = def.lsis().map(index_json).collect();
        let gsis: Vec<Json> = def.gsis().map(index_json).collect();
        if !lsis.is_empty() {
            d.insert("LocalSecondaryIndexes".into(), Json::Array(lsis));
        }
        if !gsis.is_empty() {
            d.insert("GlobalSecondaryIndexes".into(), Json::Array(gsis));
        }
        if let Some(v) = super::vector::describe(self, t, &arn) {
            d.insert("VectorIndexes".into(), v);
        }
        if let Some(s) = &def.stream {
            d.insert(
                "StreamSpecification".into(),
                json!({"StreamEnabled": true, "StreamViewType": s.view_type.as_str()}),
            );
        }
        if let Some(s) = def.stream.as_ref().or(def.old_streams.last()) {
            d.insert("LatestStreamLabel".into(), json!(s.label));
            d.insert("LatestStreamArn".into(), json!(self.stream_arn(&def.name, &s.label)));
        }
        // Absent while the class is the default, even one set so
        // (DDB-TABLE-177 of the ack-api-quirks catalogue).
        if def.table_class != "STANDARD" {
            d.insert("TableClassSummary".into(), json!({"TableClass": def.table_class}));
        }
        d.insert("DeletionProtectionEnabled".into(), json!(def.deletion_protection));
        d.insert(
            "WarmThroughput".into(),
            warm_json((def.settings.warm_read_units, def.settings.warm_write_units), def.throughput),
        );
        if let Some(key) = &def.settings.sse_kms_key_arn {
            d.insert("SSEDescription".into(), json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key}));
        }
        crate::global_tables::api::describe(def, &mut d);
        if let Some(summary) = self.restore_summary(def) {
            d.insert("RestoreSummary".into(), summary);
        }
        let (max_read, max_write) = (def.settings.max_read_request_units, def.settings.max_write_request_units);
        if max_read.is_some() || max_write.is_some() {
            d.insert(
                "OnDemandThroughput".into(),
                json!({"MaxReadRequestUnits": max_read.unwrap_or(-1), "MaxWriteRequestUnits": max_write.unwrap_or(-1)}),
            );
        }
        Json::Object(d)
    }

    fn index_counts(&self, t: &TableHandle, i: &IndexDef) -> (u64, u64) {
        self.index_sizes.get(&self.store, t, i)
    }
}

/// The null members of the list `member`'s elements, every one, in the
/// order given, as DynamoDB lists them (`keySchema.1.member.keyType`).
fn null_members(list: &[Req<'_>], member: &str, order: &[&str]) -> ApiResult<()> {
    let mut found = Vec::new();
    for (i, e) in list.iter().enumerate() {
        for m in order {
            if e.get(m).is_none() {
                found.push(messages::request::null_at(format!(
                    "{member}.{}.member.{}",
                    i + 1,
                    super::request::lower_first(m)
                )));
            }
        }
    }
    super::validate::none_of(&found)
}

/// A key schema; `path` names the table's (`keySchema`) in a refusal of
/// its null members.
fn key_schema_input(list: &[Req<'_>], path: Option<&str>) -> ApiResult<KeySchemaInput> {
    if let Some(path) = path {
        null_members(list, path, &["AttributeName", "KeyType"])?;
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e.str("AttributeName")?.to_string();
            let kt = match e.str_opt("KeyType")? {
                Some("HASH") => KeyType::Hash,
                Some("RANGE") => KeyType::Range,
                Some(other) => {
                    return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                        other,
                        format!("keySchema.{}.member.keyType", i + 1),
                        messages::request::in_enum(&["HASH", "RANGE"]),
                    )])));
                }
                None => return Err(missing("KeyType")),
            };
            Ok((name, kt))
        })
        .collect()
}

fn throughput_input(r: &Req<'_>) -> ApiResult<Option<Throughput>> {
    throughput_at(r, "ProvisionedThroughput", "provisionedThroughput")
}

/// Capacity units given in `member`, each at least 1; `path` names it in
/// a refusal (every null or low member named, the write units first, as
/// DynamoDB lists them: DDB-TABLE-038's CreateTable 0/0 and -1/-1, the
/// UpdateTable matrix's 0/0).
pub(super) fn throughput_at(r: &Req<'_>, member: &str, path: &str) -> ApiResult<Option<Throughput>> {
    throughput_of(r, member, path, None)
}

/// [`throughput_at`] of an index's update, which names the index when a
/// value is out of bounds.
fn throughput_of(r: &Req<'_>, member: &str, path: &str, index: Option<&str>) -> ApiResult<Option<Throughput>> {
    let Some(t) = r.obj_opt(member)? else { return Ok(None) };
    let (read, write) = (t.int_opt("ReadCapacityUnits")?, t.int_opt("WriteCapacityUnits")?);
    let nulls: Vec<String> = [("writeCapacityUnits", write), ("readCapacityUnits", read)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(m, _)| messages::request::null_at(format!("{path}.{m}")))
        .collect();
    let (Some(read), Some(write)) = (read, write) else { return Err(super::validate::envelope(&nulls)) };
    let low: Vec<String> = [("writeCapacityUnits", write), ("readCapacityUnits", read)]
        .iter()
        .filter(|(_, v)| *v < 1)
        .map(|(m, v)| messages::request::value_at(v, format!("{path}.{m}"), messages::request::min_value(1)))
        .collect();
    super::validate::none_of(&low)?;
    let t = Throughput { read: read as u64, write: write as u64 };
    // A table's bound is checked with its billing mode (the store's).
    if index.is_some() {
        capacity_in_bounds(t, index)?;
    }
    Ok(Some(t))
}

/// `SSESpecification`: `Some(Some(arn))` for a KMS key, `Some(None)` for
/// the AWS-owned key (`Enabled: false`), `None` when absent.
pub(super) fn sse_input(app: &App, r: &Req<'_>) -> ApiResult<Option<Option<String>>> {
    sse_input_at(app, r, "sSESpecification")
}

/// [`sse_input`], its member named `path` in a refusal (a restore's
/// `SSESpecificationOverride`, read as `SSESpecification`).
pub(super) fn sse_input_at(app: &App, r: &Req<'_>, path: &str) -> ApiResult<Option<Option<String>>> {
    let Some(sse) = r.obj_opt("SSESpecification")? else { return Ok(None) };
    let enabled = sse.bool_opt("Enabled")?;
    let kind = sse.enum_opt("SSEType", &["AES256", "KMS"]).map_err(|e| e.within(&format!("{path}.")))?;
    let key = sse.str_opt("KMSMasterKeyId")?;
    if key == Some("") {
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            "",
            format!("{path}.kMSMasterKeyId"),
            messages::request::min_length(1),
        )])));
    }
    if kind == Some("AES256") {
        return Err(ApiError::validation(messages::table::SSE_AES256));
    }
    if enabled == Some(false) {
        if kind.is_some() {
            return Err(ApiError::validation(messages::table::SSE_TYPE_WHEN_DISABLED));
        }
        if key.is_some() {
            return Err(ApiError::validation(messages::table::SSE_KEY_WHEN_DISABLED));
        }
        return Ok(Some(None));
    }
    if enabled.is_none() && key.is_none() && kind.is_none() {
        return Ok(Some(None));
    }
    if key.is_some() && kind.is_none() {
        return Err(ApiError::validation(messages::table::SSE_KEY_WITHOUT_TYPE));
    }
    let prefix = format!("arn:aws:kms:{}:{}:key/", app.region, super::ACCOUNT_ID);
    let managed = crate::global_tables::encryption::MANAGED_ALIAS;
    let arn = match key {
        // The AWS-managed key (alias/aws/dynamodb, or that alias's ARN) of
        // the account: one a region (global tables tell it from a customer
        // managed key).
        None => crate::global_tables::encryption::aws_managed_key_arn(&app.region),
        Some(k) if k == managed || k.strip_suffix(managed).is_some_and(|rest| rest.ends_with(':')) => {
            crate::global_tables::encryption::aws_managed_key_arn(&app.region)
        }
        Some(k) if k.starts_with("arn:") => k.to_string(),
        Some(k) => format!("{prefix}{k}"),
    };
    Ok(Some(Some(arn)))
}

/// A table's warm throughput when nothing raised it: what DynamoDB
/// describes for a new on-demand table (read and write units a second).
pub const DEFAULT_WARM_READ_UNITS: i64 = 12_000;
pub const DEFAULT_WARM_WRITE_UNITS: i64 = 4_000;

/// `WarmThroughput`: read and write units a second (checked against the
/// table's floor by [`check_warm`]).
pub(super) fn warm_input(r: &Req<'_>) -> ApiResult<Option<(Option<i64>, Option<i64>)>> {
    let Some(o) = r.obj_opt("WarmThroughput")? else { return Ok(None) };
    Ok(Some((o.int_opt("ReadUnitsPerSecond")?, o.int_opt("WriteUnitsPerSecond")?)))
}

/// The warm throughput a table or index has now, below which an update
/// may not go: a provisioned one's follows its capacity (and what was
/// asked), an on-demand one's starts at DynamoDB's initial throughput.
fn current_warm(
    billing: BillingMode,
    asked: (Option<i64>, Option<i64>),
    provisioned: Option<Throughput>,
) -> (i64, i64) {
    match billing {
        BillingMode::Provisioned => {
            let p = provisioned.unwrap_or(Throughput { read: 0, write: 0 });
            (asked.0.unwrap_or(0).max(p.read as i64), asked.1.unwrap_or(0).max(p.write as i64))
        }
        BillingMode::PayPerRequest => {
            let now = warm_json(asked, provisioned);
            (now["ReadUnitsPerSecond"].as_i64().unwrap_or(0), now["WriteUnitsPerSecond"].as_i64().unwrap_or(0))
        }
    }
}

/// What a table's warm throughput may not go below, in DynamoDB's words.
#[derive(Clone, Copy)]
enum WarmFloor {
    /// A new on-demand table's initial throughput.
    OnDemand,
    /// A new provisioned table's capacity.
    Provisioned,
    /// The table's current warm throughput (it only grows).
    Current,
}

/// Refuses warm throughput `asked` below `floor` (read and write units) of
/// the table, or of global index `index`.
fn check_warm(
    asked: (Option<i64>, Option<i64>),
    floor: (i64, i64),
    why: WarmFloor,
    index: Option<&str>,
) -> ApiResult<()> {
    for (member, capacity, given, least) in
        [("Read", "ReadCapacityUnits", asked.0, floor.0), ("Write", "WriteCapacityUnits", asked.1, floor.1)]
    {
        if given.is_some_and(|g| g < least) {
            let reason = match why {
                WarmFloor::OnDemand => messages::table::WARM_BELOW_ON_DEMAND.to_string(),
                WarmFloor::Provisioned => messages::table::warm_below_provisioned(capacity),
                WarmFloor::Current => messages::table::WARM_BELOW_CURRENT.to_string(),
            };
            return Err(ApiError::validation(messages::table::warm_throughput_too_low(member, index, reason)));
        }
    }
    Ok(())
}

/// The `WarmThroughput` a table or index describes: DynamoDB's defaults,
/// raised to its provisioned capacity and to what was asked for.
fn warm_json(asked: (Option<i64>, Option<i64>), provisioned: Option<Throughput>) -> Json {
    let p = provisioned.unwrap_or(Throughput { read: 0, write: 0 });
    let read = DEFAULT_WARM_READ_UNITS.max(p.read as i64).max(asked.0.unwrap_or(0));
    let write = DEFAULT_WARM_WRITE_UNITS.max(p.write as i64).max(asked.1.unwrap_or(0));
    json!({"ReadUnitsPerSecond": read, "WriteUnitsPerSecond": write, "Status": "ACTIVE"})
}

/// Where an `OnDemandThroughput` is read: DynamoDB words its range
/// differently in each, and only an update may clear a maximum with -1.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OnDemandIn {
    Create,
    Update,
    Restore,
}

/// `OnDemandThroughput`: the most read and write request units a second,
/// each at least 1 (or -1, no maximum, in an update).
pub(super) fn on_demand_input(r: &Req<'_>, at: OnDemandIn) -> ApiResult<Option<(Option<i64>, Option<i64>)>> {
    let Some(o) = r.obj_opt("OnDemandThroughput")? else { return Ok(None) };
    let read = o.int_opt("MaxReadRequestUnits")?;
    let write = o.int_opt("MaxWriteRequestUnits")?;
    for (v, member) in [(read, "MaxReadRequestUnits"), (write, "MaxWriteRequestUnits")] {
        let Some(v) = v else { continue };
        if v >= 1 || (v == -1 && at == OnDemandIn::Update) {
            continue;
        }
        return Err(ApiError::validation(match at {
            OnDemandIn::Restore => messages::backup::on_demand_out_of_range(member),
            _ => messages::table::on_demand_out_of_range(member),
        }));
    }
    Ok(Some((read, write)))
}

/// An index's `Projection`: its members' types and enum now, and what is
/// wrong with their combination as a fault for the store to report in
/// its turn (see `IndexInput::projection_fault`).
pub(super) fn projection_input(r: &Req<'_>) -> ApiResult<(Projection, Option<String>)> {
    let p = r.obj_opt("Projection")?.ok_or_else(|| missing("Projection"))?;
    let attrs = p.strings("NonKeyAttributes").map_err(|e| e.within("projection."))?;
    let kind = p.enum_opt("ProjectionType", &["ALL", "KEYS_ONLY", "INCLUDE"]).map_err(|e| e.within("projection."))?;
    let invalid = |fault: String| Ok((Projection::All, Some(fault)));
    match (kind, attrs) {
        (Some("INCLUDE"), Some(a)) => {
            if let Some(dup) = a.iter().enumerate().find_map(|(i, n)| a[..i].contains(n).then_some(n)) {
                return invalid(messages::table::non_key_attribute_twice(dup));
            }
            Ok((Projection::Include(a), None))
        }
        (Some("INCLUDE"), None) => invalid(messages::table::INCLUDE_WITHOUT_NON_KEY_ATTRIBUTES.into()),
        (Some(t), Some(_)) => invalid(messages::table::non_key_attributes_with(t)),
        (Some("KEYS_ONLY"), None) => Ok((Projection::KeysOnly, None)),
        (Some(_), None) => Ok((Projection::All, None)),
        (None, _) => invalid(messages::table::PROJECTION_TYPE_NULL.into()),
    }
}

pub(super) fn index_input(r: &Req<'_>, kind: IndexKind) -> ApiResult<IndexInput> {
    let name = r.str("IndexName")?.to_string();
    let key_schema = key_schema_input(&r.objects("KeySchema")?, Some("keySchema"))?;
    let (projection, projection_fault) = projection_input(r)?;
    Ok(IndexInput { name, kind, key_schema, projection, throughput: throughput_input(r)?, projection_fault })
}

fn attribute_definitions(r: &Req<'_>) -> ApiResult<Vec<(String, AttrType)>> {
    let list = r.objects("AttributeDefinitions")?;
    null_members(&list, "attributeDefinitions", &["AttributeType", "AttributeName"])?;
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let name = a.str("AttributeName")?.to_string();
            let ty = a.str_opt("AttributeType")?.ok_or_else(|| missing("AttributeType"))?;
            let ty = AttrType::parse(ty).filter(|t| matches!(t, AttrType::S | AttrType::N | AttrType::B)).ok_or_else(
                || {
                    ApiError::validation(messages::request::envelope([messages::request::value_at(
                        ty,
                        format!("attributeDefinitions.{}.member.attributeType", i + 1),
                        messages::request::in_enum(&["B", "N", "S"]),
                    )]))
                },
            )?;
            Ok((name, ty))
        })
        .collect()
}

pub(super) fn billing_mode(r: &Req<'_>) -> ApiResult<Option<BillingMode>> {
    Ok(match r.enum_opt("BillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])? {
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        Some(_) => Some(BillingMode::Provisioned),
        None => None,
    })
}

/// How many UpdateTable calls may set a table's class in
/// [`TABLE_CLASS_WINDOW_MS`]: "Updates to TableClass are limited to 2
/// times in 30 day(s)" (DDB-TABLE-443).
const MAX_TABLE_CLASS_UPDATES: usize = 2;
const TABLE_CLASS_WINDOW_MS: u64 = 30 * 86_400_000;

/// `TableClass`, refused in DynamoDB's words when it names no class.
fn table_class<'a>(r: &Req<'a>) -> ApiResult<Option<&'a str>> {
    match r.str_opt("TableClass")? {
        Some(c @ ("STANDARD" | "STANDARD_INFREQUENT_ACCESS")) => Ok(Some(c)),
        Some(_) => Err(ApiError::validation(messages::table::INVALID_TABLE_CLASS)),
        None => Ok(None),
    }
}

/// Parses StreamSpecification: `Some(Some(view))` enables, `Some(None)` disables.
/// `creating`: CreateTable words its refusals differently from UpdateTable.
fn stream_spec(r: &Req<'_>, creating: bool) -> ApiResult<Option<Option<StreamViewType>>> {
    let Some(s) = r.obj_opt("StreamSpecification")? else { return Ok(None) };
    let enabled = s.bool_opt("StreamEnabled")?.ok_or_else(|| missing("streamSpecification.streamEnabled"))?;
    // DynamoDB names the member by its path, and the values in its order.
    let view = match s.str_opt("StreamViewType")? {
        None => None,
        Some(v) if StreamViewType::parse(v).is_some() => Some(v),
        Some(v) => {
            return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                v,
                "streamSpecification.streamViewType",
                messages::request::in_enum(&["OLD_IMAGE", "KEYS_ONLY", "NEW_AND_OLD_IMAGES", "NEW_IMAGE"]),
            )])));
        }
    };
    match (enabled, view) {
        (true, Some(v)) => Ok(Some(Some(StreamViewType::parse(v).expect("checked enum")))),
        (true, None) => Err(ApiError::validation(if creating {
            messages::table::CREATED_STREAM_WITHOUT_VIEW_TYPE
        } else {
            messages::table::STREAM_WITHOUT_VIEW_TYPE
        })),
        (false, Some(_)) => Err(ApiError::validation(if creating {
            messages::table::CREATED_STREAM_DISABLED_WITH_VIEW_TYPE
        } else {
            messages::table::STREAM_DISABLED_WITH_VIEW_TYPE
        })),
        (false, None) => Ok(Some(None)),
    }
}

fn tags_input(r: &Req<'_>) -> ApiResult<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    for t in r.objects("Tags")? {
        // A member left out is named `null`, as DynamoDB words it.
        let key = match t.get("Key") {
            Some(Json::String(k)) => k.to_string(),
            None | Some(Json::Null) => return Err(ApiError::validation(messages::table::invalid_tag_key("null"))),
            Some(_) => t.str("Key")?.to_string(),
        };
        // Reserved in any case (`AWS:`, `Aws:`): AWS's tagging rules.
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(ApiError::validation(messages::table::tag_key_aws(&key)));
        }
        if tags.contains_key(&key) {
            return Err(ApiError::validation(messages::table::tag_key_twice(&key)));
        }
        let value = match t.get("Value") {
            Some(Json::String(v)) => v.to_string(),
            None | Some(Json::Null) => {
                return Err(ApiError::validation(messages::table::invalid_tag_value("null")));
            }
            Some(_) => t.str("Value")?.to_string(),
        };
        tags.insert(key, value);
    }
    Ok(tags)
}

pub fn create_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let input = create_table_input(app, r)?;
    let name = input.name.clone();
    let handle = app.store.create_table(input)?;
    tracing::info!(table = name, "table created");
    Ok(json!({"TableDescription": app.describe(&handle, "CREATING")}))
}

/// CreateTable's request as the store's input, validated as DynamoDB
/// validates it (ImportTable's `TableCreationParameters` too).
pub(crate) fn create_table_input(app: &App, r: Req<'_>) -> ApiResult<CreateTableInput> {
    let name = r
        .str_opt("TableName")?
        .ok_or_else(|| ApiError::validation(messages::request::parameter_required("TableName")))?;
    for list in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if r.get(list).and_then(Json::as_array).is_some_and(Vec::is_empty) {
            return Err(ApiError::validation(messages::table::index_list_empty(list)));
        }
    }
    let mut indexes = Vec::new();
    // Each global index's warm throughput, checked with the table's below.
    let mut index_warm = BTreeMap::new();
    for (i, g) in r.objects("GlobalSecondaryIndexes")?.iter().enumerate() {
        let index = index_input(g, IndexKind::Global)
            .map_err(|e| e.within(&format!("globalSecondaryIndexes.{}.member.", i + 1)))?;
        if let Some((read, write)) = warm_input(g)?.filter(|(read, write)| read.is_some() || write.is_some()) {
            index_warm.insert(index.name.clone(), [read, write]);
        }
        indexes.push(index);
    }
    for (i, l) in r.objects("LocalSecondaryIndexes")?.iter().enumerate() {
        indexes.push(
            index_input(l, IndexKind::Local)
                .map_err(|e| e.within(&format!("localSecondaryIndexes.{}.member.", i + 1)))?,
        );
    }
    let key_schema = r.objects("KeySchema")?;
    if r.get("KeySchema").is_none() {
        return Err(missing("KeySchema"));
    }
    if r.get("AttributeDefinitions").is_none() {
        return Err(missing("AttributeDefinitions"));
    }
    let on_demand = on_demand_input(&r, OnDemandIn::Create)?;
    let warm = warm_input(&r)?;
    let input = CreateTableInput {
        name: name.to_string(),
        key_schema: key_schema_input(&key_schema, Some("keySchema"))?,
        attribute_definitions: attribute_definitions(&r)?,
        billing_mode: billing_mode(&r)?.unwrap_or(BillingMode::Provisioned),
        throughput: throughput_input(&r)?,
        indexes,
        stream: stream_spec(&r, true)?.flatten(),
        tags: tags_input(&r)?,
        deletion_protection: r.bool_opt("DeletionProtectionEnabled")?.unwrap_or(false),
        table_class: table_class(&r)?.map(str::to_string),
        vector_indexes: super::vector::inputs(&r, "VectorIndexes")?,
        settings: TableSettings {
            sse_kms_key_arn: sse_input(app, &r)?.flatten(),
            max_read_request_units: on_demand.and_then(|(read, _)| read),
            max_write_request_units: on_demand.and_then(|(_, write)| write),
            warm_read_units: warm.and_then(|(read, _)| read),
            warm_write_units: warm.and_then(|(_, write)| write),
            resource_policy: match r.str_opt("ResourcePolicy")? {
                Some(doc) => {
                    let checked = super::policy::checked(doc)?;
                    super::policy::check_resources(doc, false)?;
                    super::policy::check_table_actions(doc)?;
                    Some(checked)
                }
                None => None,
            },
            stream_resource_policy: None,
            resource_policy_deleted: None,
            stream_resource_policy_deleted: None,
            deletion_protection_changed_ms: None,
            ttl_changed_ms: None,
            table_class_updates_ms: Vec::new(),
            throughput_changes: Default::default(),
            index_warm,
            on_demand_since: None,
            multi_region_strong: false,
            witness_copy: false,
            own_overrides: Default::default(),
            replica_base: None,
            replica_source: None,
            group_stamps: Default::default(),
        },
    };
    let asked = warm.map(|w| (None, w, input.throughput)).into_iter().chain(
        // In the request's order.
        input.indexes.iter().filter_map(|i| {
            let [read, write] = input.settings.index_warm.get(&i.name)?;
            Some((Some(i.name.as_str()), (*read, *write), i.throughput))
        }),
    );
    for (index, asked, throughput) in asked.collect::<Vec<_>>() {
        match (input.billing_mode, throughput) {
            (BillingMode::Provisioned, Some(t)) => {
                check_warm(asked, (t.read as i64, t.write as i64), WarmFloor::Provisioned, index)?;
            }
            (BillingMode::PayPerRequest, _) => {
                check_warm(asked, (DEFAULT_WARM_READ_UNITS, DEFAULT_WARM_WRITE_UNITS), WarmFloor::OnDemand, index)?;
            }
            _ => {}
        }
    }
    Ok(input)
}

/// Refuses an UpdateTable whose capacity decreases (the table's, or a
/// global index's) any one of DynamoDB's daily limits would refuse, before
/// any of its changes is made (each is its own change of the table).
fn check_decreases(def: &TableDef, throughput: Option<Throughput>, r: &Req<'_>) -> ApiResult<()> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let changes = |key: &str| def.settings.throughput_changes.get(key);
    if let (Some(want), Some(have), Some(c)) = (throughput, def.throughput, changes("")) {
        c.check(have, want, now)?;
    }
    for u in r.objects("GlobalSecondaryIndexUpdates")? {
        let Some(up) = u.obj_opt("Update")? else { continue };
        let index = up.str("IndexName")?;
        let have = def.index(index).and_then(|i| i.throughput);
        if let (Some(want), Some(have), Some(c)) = (throughput_input(&up)?, have, changes(index)) {
            c.check(have, want, now)?;
        }
    }
    Ok(())
}

pub fn describe_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let handle = app.store.describe_table(r.str("TableName")?)?;
    // A replica its source region is still filling is CREATING, as a
    // restore's table is.
    let status = if handle.is_restoring() || crate::global_tables::filling::is_filling(app, &handle.def) {
        "CREATING"
    } else if super::vector::updating(&handle.def) || crate::global_tables::api::updating(&handle.def) {
        "UPDATING"
    } else {
        "ACTIVE"
    };
    Ok(json!({"Table": app.describe(&handle, status)}))
}

pub fn delete_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = r.str("TableName")?;
    crate::global_tables::filling::refuse_delete(app, name)?;
    // Refused to clients only: the server's own removals (a reset, a
    // replica dropped) go on.
    if app.store.describe_table(name).is_ok_and(|t| t.def.settings.multi_region_strong && !t.def.replicas.is_empty()) {
        return Err(ApiError::validation(messages::global_table::DELETE_ALL_STRONG_REPLICAS));
    }
    if app.store.describe_table(name).is_ok_and(|t| crate::global_tables::api::sourced_recently(&t.def, &app.region)) {
        return Err(crate::global_tables::api::recent_source());
    }
    // A replica of a global table is named with its region.
    let global = |t: &TableDef| t.replicas.iter().any(|x| !x.legacy);
    if app.store.describe_table(name).is_ok_and(|t| t.def.deletion_protection && global(&t.def)) {
        return Err(crate::global_tables::api::protected_replica(name, &app.region));
    }
    if app.store.describe_table(name).is_ok_and(|t| t.def.vector_indexes.iter().any(|v| v.backfill == Some(true))) {
        return Err(StoreError::ResourceInUse(messages::table::DELETE_WHILE_INDEXES_CHANGE.into()).into());
    }
    let handle = app.store.delete_table(name)?;
    app.forget_table(&handle.def);
    // The other regions of a global table drop this one (`global_tables`).
    crate::global_tables::replicator::announce_deleted(app, &handle.def);
    tracing::info!(table = name, "table deleted");
    // DeleteTable describes less than DescribeTable: no creation time, key
    // schema, attribute definitions or indexes (the API reference's example;
    // Alternator's tests against DynamoDB).
    let mut description = app.describe(&handle, "DELETING");
    if let Some(d) = description.as_object_mut() {
        for member in [
            "CreationDateTime",
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "VectorIndexes",
        ] {
            d.remove(member);
        }
    }
    Ok(json!({"TableDescription": description}))
}

/// ListTables returns at most 100 names a page.
const LIST_TABLES_MAX: i64 = 100;

pub fn list_tables(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let limit = r.int_opt("Limit")?.unwrap_or(LIST_TABLES_MAX);
    if !(1..=LIST_TABLES_MAX).contains(&limit) {
        let constraint =
            if limit < 1 { messages::request::min_value(1) } else { messages::request::max_value(LIST_TABLES_MAX) };
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            limit, "limit", constraint,
        )])));
    }
    let start = r.str_opt("ExclusiveStartTableName")?;
    if let Some(s) = start.filter(|s| !s.starts_with("arn:")) {
        super::backup::check_name_pattern_first("exclusiveStartTableName", s)?;
    }
    let (mut names, more) = app.store.list_tables(start, limit as usize);
    // The page ends at the last name read, shown or not: a witness copy of
    // a global table is no client's table.
    let last = names.last().cloned();
    names.retain(|n| crate::global_tables::witness::visible(app, n));
    let mut out = json!({"TableNames": names});
    if more {
        out["LastEvaluatedTableName"] = json!(last);
    }
    Ok(out)
}

/// UpdateTable's members that DynamoDB will not change together, in its
/// words (as recorded against the live service): some must be the only
/// change of their request, and a throughput, stream and index change
/// exclude each other.
fn refuse_combined_changes(r: &Req<'_>) -> ApiResult<()> {
    let has = |m: &str| member_given(r, m);
    let others = |me: &[&str]| UPDATE_CHANGES.iter().any(|m| !me.contains(m) && has(m));
    let refuse = |message: &str| Err(ApiError::validation(message));
    // A change of the replica set (or its witnesses and consistency, which
    // go with one) comes alone, and is named first.
    let witnesses = has("GlobalTableWitnessUpdates") || has("MultiRegionConsistency");
    if (has("ReplicaUpdates") || witnesses) && others(&["ReplicaUpdates"]) {
        return refuse(if witnesses {
            messages::global_table::REPLICAS_OR_WITNESSES_ALONE
        } else {
            messages::global_table::REPLICA_CHANGE_ALONE
        });
    }
    if has("SSESpecification") && others(&["SSESpecification"]) {
        return refuse(messages::table::SSE_CHANGE_ALONE);
    }
    if has("TableClass") && others(&["TableClass"]) {
        return refuse(messages::table::TABLE_CLASS_CHANGE_ALONE);
    }
    if has("DeletionProtectionEnabled") && others(&["DeletionProtectionEnabled"]) {
        return refuse(messages::table::DELETION_PROTECTION_CHANGE_ALONE);
    }
    if has("OnDemandThroughput") && others(&["OnDemandThroughput", "BillingMode"]) {
        return refuse(messages::table::ON_DEMAND_CHANGE_ALONE);
    }
    if has("WarmThroughput") && others(&["WarmThroughput"]) {
        return refuse(messages::table::WARM_CHANGE_ALONE);
    }
    let updates = r.get("GlobalSecondaryIndexUpdates").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut named = Vec::new();
    for u in updates {
        let actions: Vec<&Json> =
            ["Create", "Update", "Delete"].iter().filter_map(|a| u.get(*a).filter(|v| !v.is_null())).collect();
        if actions.len() > 1 {
            return refuse(messages::table::INDEX_UPDATE_TWO_ACTIONS);
        }
        if let Some(name) = actions.first().and_then(|a| a.get("IndexName")).and_then(Json::as_str) {
            if named.contains(&name) {
                return refuse(&messages::table::index_updated_twice(name));
            }
            named.push(name);
        }
    }
    let vector_updates = r.get("VectorIndexUpdates").and_then(Json::as_array).map(Vec::len).unwrap_or_default();
    let online =
        updates.iter().filter(|u| u.get("Create").is_some() || u.get("Delete").is_some()).count() + vector_updates;
    if online > 1 {
        return Err(one_online_index());
    }
    let index_created_or_deleted = online > 0;
    // A switch to provisioned capacity is an IOPS update too.
    let iops = has("ProvisionedThroughput") || r.get("BillingMode").and_then(Json::as_str) == Some("PROVISIONED");
    if has("StreamSpecification") && iops {
        return refuse(messages::table::STREAM_WITH_CAPACITY);
    }
    if index_created_or_deleted && has("ProvisionedThroughput") {
        return refuse(messages::table::INDEX_WITH_CAPACITY);
    }
    if index_created_or_deleted && has("StreamSpecification") {
        return refuse(messages::table::INDEX_WITH_STREAM);
    }
    Ok(())
}

/// DynamoDB's refusal of a second index created or deleted while one is.
pub(super) fn one_online_index() -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "LimitExceededException", messages::table::ONE_ONLINE_INDEX)
}

/// UpdateTable's members that change a table. (MultiRegionConsistency and
/// witness updates alone change nothing: they go with ReplicaUpdates.)
const UPDATE_CHANGES: [&str; 13] = [
    "ProvisionedThroughput",
    "BillingMode",
    "StreamSpecification",
    "GlobalSecondaryIndexUpdates",
    "VectorIndexUpdates",
    "SSESpecification",
    "ReplicaUpdates",
    "DeletionProtectionEnabled",
    "OnDemandThroughput",
    "WarmThroughput",
    "TableClass",
    "MultiAccountReplicaReady",
    "GlobalTableSettingsReplicationMode",
];

/// Whether UpdateTable's member `m` asks for something: present, not
/// null, and (for the throughput structures) not empty, as DynamoDB counts
/// them.
fn member_given(r: &Req<'_>, m: &str) -> bool {
    match r.get(m) {
        None | Some(Json::Null) => false,
        Some(Json::Object(o)) if matches!(m, "WarmThroughput" | "OnDemandThroughput") => {
            o.values().any(|v| !v.is_null())
        }
        Some(Json::Array(a))
            if matches!(m, "ReplicaUpdates" | "GlobalTableWitnessUpdates" | "GlobalSecondaryIndexUpdates") =>
        {
            !a.is_empty()
        }
        Some(_) => true,
    }
}

/// UpdateTable's refusal of a request that changes nothing, before the
/// table is looked up; DynamoDB leaves out of its list a member the
/// request already has (MultiRegionConsistency alone changes nothing).
fn require_a_change(r: &Req<'_>) -> ApiResult<()> {
    if UPDATE_CHANGES.iter().any(|m| member_given(r, m)) {
        return Ok(());
    }
    let listed = [
        "ProvisionedThroughput",
        "BillingMode",
        "UpdateStreamEnabled",
        "GlobalSecondaryIndexUpdates",
        "SSESpecification",
        "ReplicaUpdates",
        "MultiAccountReplicaReady",
        "ReplicaTransitRoleArn",
        "MultiRegionConsistency",
        "DeletionProtectionEnabled",
        "OnDemandThroughput",
        "WarmThroughput",
        "TableClass",
    ];
    let names: Vec<&str> = listed.into_iter().filter(|m| r.get(m).is_none_or(Json::is_null)).collect();
    let (last, rest) = names.split_last().expect("TableClass is never a given member here");
    Err(ApiError::validation(messages::table::change_required(rest, last)))
}

pub fn update_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    update_table_from(app, r, None)
}

/// UpdateTable, asked by a client (`peer` `None`) or by another region of
/// a global table, carrying an index change made there
/// (`global_tables::api`) and already queued for the regions `peer` names:
/// it is passed on to this region's other replicas only.
pub(crate) fn update_table_from(app: &App, r: Req<'_>, peer: Option<&[String]>) -> ApiResult<Json> {
    let name = r.str("TableName")?;
    // An index's empty warm throughput, before anything else (even the
    // table's existence), as DynamoDB checks it.
    for (i, u) in r.objects("GlobalSecondaryIndexUpdates")?.iter().enumerate() {
        if ["Update", "Create", "Delete"].iter().all(|m| u.get(m).is_none()) {
            return Err(ApiError::validation(messages::table::INDEX_UPDATE_WITHOUT_ACTION));
        }
        // A created index's name: every constraint it breaks, by its path.
        if let Some(name) = u.obj_opt("Create")?.and_then(|c| c.get("IndexName")).and_then(Json::as_str) {
            super::backup::check_name(&format!("globalSecondaryIndexUpdates.{}.member.create.indexName", i + 1), name)?;
        }
        let Some(up) = u.obj_opt("Update")? else { continue };
        let path = format!("globalSecondaryIndexUpdates.{}.member.update.provisionedThroughput", i + 1);
        throughput_of(&up, "ProvisionedThroughput", &path, up.str_opt("IndexName")?)?;
        if up.get("WarmThroughput").and_then(Json::as_object).is_some_and(|w| w.values().all(Json::is_null)) {
            return Err(ApiError::validation(messages::table::index_warm_throughput_empty(
                up.str_opt("IndexName")?.unwrap_or_default(),
            )));
        }
    }
    refuse_combined_changes(&r)?;
    // What needs no table is checked before the table is looked up.
    let defs = attribute_definitions(&r)?;
    let billing = billing_mode(&r)?;
    let throughput = throughput_input(&r)?;
    if let Some(t) = throughput {
        capacity_in_bounds(t, None)?;
    }
    let stream = stream_spec(&r, false)?;
    let warm = warm_input(&r)?.filter(|(read, write)| read.is_some() || write.is_some());
    let settings_replication = crate::global_tables::api::settings_replication_mode(&r)?;
    require_a_change(&r)?;
    let mut handle = app.store.describe_table(name)?;
    app.store.changeable(name)?;
    let mut changed = false;
    if let (Some(want), Some(have)) = (&throughput, &handle.def.throughput)
        && handle.def.billing_mode == BillingMode::Provisioned
        && billing != Some(BillingMode::PayPerRequest)
        && want == have
    {
        return Err(ApiError::validation(messages::table::throughput_unchanged(
            have.read, want.read, have.write, want.write,
        )));
    }
    let index_updates = r.objects("GlobalSecondaryIndexUpdates")?;
    let index_changes = index_updates.iter().any(|u| u.get("Create").is_some() || u.get("Delete").is_some());
    if !handle.def.replicas.is_empty() && r.get("VectorIndexUpdates").is_some() {
        return Err(ApiError::validation(messages::global_table::vector_index_on_replicas(name)));
    }
    if index_changes && handle.def.replicas.iter().any(|x| x.legacy) {
        return Err(ApiError::validation(messages::global_table::index_on_legacy_replica(name)));
    }
    check_decreases(&handle.def, throughput, &r)?;
    if billing == Some(BillingMode::Provisioned) && !handle.def.vector_indexes.is_empty() {
        return Err(ApiError::validation(messages::vector::NOT_PAY_PER_REQUEST));
    }
    // Each index update checked before anything of the request is made.
    let billing_after = billing.unwrap_or(handle.def.billing_mode);
    // Each created index's definition, read before anything is changed.
    let mut created = Vec::new();
    for (i, u) in index_updates.iter().enumerate() {
        if let Some(c) = u.obj_opt("Create")? {
            // The new index's key attributes are defined in the request.
            if defs.is_empty() {
                return Err(ApiError::validation(messages::table::index_definitions_missing(
                    c.str_opt("IndexName")?.unwrap_or_default(),
                )));
            }
            let input = index_input(&c, IndexKind::Global)
                .map_err(|e| e.within(&format!("globalSecondaryIndexUpdates.{}.member.create.", i + 1)))?;
            // Before anything of the request is made.
            if let Some(fault) = &input.projection_fault {
                return Err(ApiError::validation(fault.clone()));
            }
            if let Some(asked) = warm_input(&c)? {
                let (floor, why) = match (billing_after, input.throughput) {
                    (BillingMode::Provisioned, Some(t)) => ((t.read as i64, t.write as i64), WarmFloor::Provisioned),
                    _ => ((DEFAULT_WARM_READ_UNITS, DEFAULT_WARM_WRITE_UNITS), WarmFloor::OnDemand),
                };
                check_warm(asked, floor, why, Some(&input.name))?;
            }
            created.push(input);
        } else if let Some(up) = u.obj_opt("Update")? {
            let index = up.str("IndexName")?;
            let Some(current) = handle.def.index(index) else {
                return Err(ApiError::not_found(messages::table::updated_index_not_found(index, name)));
            };
            if current.kind != IndexKind::Global {
                return Err(ApiError::validation(messages::table::update_of_local_index(index)));
            }
            let t = throughput_input(&up)?;
            // What an on-demand table's index may change: its on-demand or
            // warm throughput, nothing else (not even nothing).
            let on_demand = up.get("OnDemandThroughput").and_then(Json::as_object).is_some_and(|o| !o.is_empty());
            if billing_after == BillingMode::PayPerRequest
                && (t.is_some() || (!on_demand && up.get("WarmThroughput").is_none()))
            {
                return Err(ApiError::validation(messages::table::on_demand_index_update(index)));
            }
            if let Some(asked) = warm_input(&up)? {
                let [read, write] = handle.def.settings.index_warm.get(index).copied().unwrap_or_default();
                let floor = current_warm(billing_after, (read, write), current.throughput);
                check_warm(asked, floor, WarmFloor::Current, Some(index))?;
            }
            if let (Some(want), Some(have)) = (t, current.throughput)
                && billing_after == BillingMode::Provisioned
                && want == have
            {
                return Err(ApiError::validation(messages::table::index_throughput_unchanged(
                    index, have.read, want.read, have.write, want.write,
                )));
            }
        }
    }
    if billing == Some(BillingMode::Provisioned) {
        // DynamoDB's capacity checks of a switch to (or a restatement of)
        // provisioned mode: the table's throughput, and each global index's
        // unless it has one or the request gives it.
        if throughput.is_none() {
            return Err(ApiError::validation(messages::table::PROVISIONED_WITHOUT_THROUGHPUT));
        }
        let given: Vec<&str> = index_updates
            .iter()
            .filter_map(|u| u.get("Update"))
            .filter(|up| up.get("ProvisionedThroughput").is_some())
            .filter_map(|up| up.get("IndexName").and_then(Json::as_str))
            .collect();
        let missing: Vec<&str> = handle
            .def
            .gsis()
            .filter(|i| i.throughput.is_none() && !given.contains(&i.name.as_str()))
            .map(|i| i.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::validation(messages::table::index_throughput_required(&missing)));
        }
    }
    // While one of its replicas is being added or removed a global table
    // takes no other change (DDB-TABLE-227, -228), as a second replica
    // action is refused (`global_tables::api::update`); turning its stream
    // off is refused first, in its own words. A region's own change sent
    // by another region is not refused.
    if peer.is_none() && !member_given(&r, "ReplicaUpdates") && crate::global_tables::api::updating(&handle.def) {
        if matches!(stream, Some(None)) {
            return Err(ApiError::validation(messages::global_table::STREAM_OF_REPLICA));
        }
        return Err(crate::global_tables::api::in_use());
    }
    // A global table's capacity is the same in every region: a client's
    // change here is queued for the others in each write that makes it.
    let group = |def: &mut tidepool_store::table::TableDef, part: GroupPart<'_>| {
        if peer.is_none() {
            crate::global_tables::api::queue_group_change(def, &app.region, part);
        }
    };
    if billing.is_some() || throughput.is_some() {
        handle = app.store.set_billing_and(name, billing, throughput, |def| group(def, GroupPart::Capacity))?;
        changed = true;
    }
    // A global table's index change, asked by a client, is queued for
    // every replica's region in the write that makes it here.
    let queue = |def: &mut tidepool_store::table::TableDef, u: &Req<'_>| {
        let queued_for = peer.unwrap_or_default();
        crate::global_tables::api::queue_index_change(def, &app.region, u, r.get("AttributeDefinitions"), queued_for);
    };
    let mut created = created.into_iter();
    for u in &index_updates {
        if u.obj_opt("Create")?.is_some() {
            let Some(input) = created.next() else { break };
            let index = input.name.clone();
            handle = app.store.add_index_and(name, input, defs.clone(), |def| queue(def, u))?;
            // Its warm throughput (none kept from an index of its name
            // before it).
            let warm = u.obj_opt("Create")?.map(|c| warm_input(&c)).transpose()?.flatten();
            let warm = warm.filter(|(read, write)| read.is_some() || write.is_some());
            if warm.is_some() || handle.def.settings.index_warm.contains_key(&index) {
                handle = app.store.alter_table(name, |def| {
                    match warm {
                        Some((read, write)) => def.settings.index_warm.insert(index.clone(), [read, write]),
                        None => def.settings.index_warm.remove(&index),
                    };
                    Ok(())
                })?;
            }
        } else if let Some(d) = u.obj_opt("Delete")? {
            let index = d.str("IndexName")?;
            let gone = handle.def.index(index).cloned();
            handle = app.store.remove_index_and(name, index, |def| queue(def, u))?;
            if handle.def.settings.index_warm.contains_key(index) {
                handle = app.store.alter_table(name, |def| {
                    def.settings.index_warm.remove(index);
                    Ok(())
                })?;
            }
            if let Some(i) = gone {
                crate::insights::forget_index(app, &handle.def, &i);
            }
        } else if let Some(up) = u.obj_opt("Update")? {
            let index = up.str("IndexName")?.to_string();
            let t = throughput_input(&up)?;
            let warm = warm_input(&up)?;
            handle = app.store.alter_table(name, |def| {
                if let Some((read, write)) = warm {
                    let w = def.settings.index_warm.entry(index.clone()).or_default();
                    *w = [read.or(w[0]), write.or(w[1])];
                }
                let table = def.name.clone();
                let idx = def.indexes.iter_mut().find(|i| i.name == index);
                let idx = idx.ok_or_else(|| {
                    StoreError::ResourceNotFound(messages::table::updated_index_not_found(&index, table))
                })?;
                if idx.kind != IndexKind::Global {
                    return Err(StoreError::validation(messages::table::update_of_local_index(&index)));
                }
                // An update without throughput (OnDemandThroughput or
                // WarmThroughput alone) keeps the index's.
                if t.is_some() {
                    idx.throughput = t;
                    group(def, GroupPart::Index(&index));
                }
                Ok(())
            })?;
        } else {
            return Err(ApiError::validation(messages::table::INDEX_UPDATE_WITHOUT_ACTION));
        }
        changed = true;
    }
    if let Some(h) = super::vector::update(app, name, &r, &defs)? {
        handle = h;
        changed = true;
    }
    if let Some(spec) = stream {
        // A global table's stream carries its replication. (Enabling it
        // again is refused below as the stream is already enabled.)
        if !handle.def.replicas.is_empty() && spec.is_none() {
            return Err(ApiError::validation(messages::global_table::STREAM_OF_REPLICA));
        }
        handle = app.store.set_stream(name, spec)?;
        changed = true;
    }
    if let Some(h) = crate::global_tables::api::update(app, name, &r)? {
        handle = h;
        changed = true;
    }
    if let Some(p) = r.bool_opt("DeletionProtectionEnabled")? {
        handle = app.store.alter_table(name, |def| {
            // Within the cooldown of the last change even the same value
            // is refused; outside it the same value changes nothing and
            // starts no cooldown (DDB-TABLE-047).
            if let Some(until) = def.settings.deletion_protection_changed_ms.and_then(|l| app.cooling_until(l)) {
                return Err(tidepool_store::StoreError::Refused {
                    kind: "ThrottlingException",
                    message: messages::table::deletion_protection_cooldown(
                        name,
                        app.setting_cooldown.as_millis() as u64,
                        tidepool_store::format_timestamp_millis(until),
                    ),
                });
            }
            if def.deletion_protection != p {
                def.deletion_protection = p;
                def.settings.deletion_protection_changed_ms = Some(tidepool_store::now_ms());
            }
            Ok(())
        })?;
        changed = true;
    }
    let class = table_class(&r)?;
    if let Some(c) = class {
        handle = app.store.alter_table(name, |def| {
            // Two updates of the class in 30 days (DDB-TABLE-443).
            let now = tidepool_store::now_ms();
            let updates = &mut def.settings.table_class_updates_ms;
            updates.retain(|at| now.saturating_sub(*at) < TABLE_CLASS_WINDOW_MS);
            if updates.len() >= MAX_TABLE_CLASS_UPDATES {
                return Err(tidepool_store::StoreError::Refused {
                    kind: "LimitExceededException",
                    message: messages::table::TABLE_CLASS_UPDATES_LIMITED.into(),
                });
            }
            updates.push(now);
            def.table_class = c.to_string();
            group(def, GroupPart::Class);
            Ok(())
        })?;
        changed = true;
    }
    if let Some(sse) = sse_input(app, &r)? {
        // Re-sends DynamoDB refuses as changing nothing: the default
        // encryption asked of a table that has it, and the table's own
        // key by its ARN (an alias or key id re-encrypts, and is taken).
        let current = handle.def.settings.sse_kms_key_arn.as_deref();
        let by_arn = r.get("SSESpecification").and_then(|s| s.get("KMSMasterKeyId")).and_then(Json::as_str);
        if sse.is_none() && current.is_none() {
            return Err(ApiError::validation(messages::table::ALREADY_ENCRYPTED_BY_DEFAULT));
        }
        if by_arn.is_some() && by_arn == current {
            return Err(ApiError::validation(messages::table::ALREADY_ENCRYPTED_WITH_KEY));
        }
        handle = app.store.alter_table(name, |def| {
            def.settings.sse_kms_key_arn = sse;
            group(def, GroupPart::Sse);
            Ok(())
        })?;
        changed = true;
    }
    if let Some((read, write)) = warm {
        let s = &handle.def.settings;
        let floor =
            current_warm(handle.def.billing_mode, (s.warm_read_units, s.warm_write_units), handle.def.throughput);
        check_warm((read, write), floor, WarmFloor::Current, None)?;
        handle = app.store.alter_table(name, |def| {
            def.settings.warm_read_units = read.or(def.settings.warm_read_units);
            def.settings.warm_write_units = write.or(def.settings.warm_write_units);
            Ok(())
        })?;
        changed = true;
    }
    if let Some((read, write)) = on_demand_input(&r, OnDemandIn::Update)? {
        handle = app.store.alter_table(name, |def| {
            def.settings.max_read_request_units = read.or(def.settings.max_read_request_units);
            def.settings.max_write_request_units = write.or(def.settings.max_write_request_units);
            if write.is_some() {
                group(def, GroupPart::MaxWrite);
            }
            Ok(())
        })?;
        changed = true;
    }
    // ENABLED or DISABLED is taken, again too (DDB-TABLE-048); Tidepool
    // replicates a global table's settings either way (recorded nowhere).
    if settings_replication.is_some() {
        changed = true;
    }
    if !changed {
        return Err(ApiError::validation(messages::table::NOTHING_CHANGED));
    }
    // DynamoDB's answer says UPDATING for any update it takes, one that
    // changes nothing included, while DescribeTable says ACTIVE at once
    // when nothing is left to do (DDB-TABLE-057, -156 and -177 of the
    // ack-api-quirks catalogue, against the service).
    let mut description = app.describe(&handle, "UPDATING");
    // A replica just requested is not in the answer yet: DynamoDB's shows
    // `Replicas: []` and lists it a few seconds later (DDB-TABLE-226);
    // DescribeTable lists it `CREATING` at once here.
    if !handle.def.settings.multi_region_strong {
        let created: Vec<String> = r
            .objects("ReplicaUpdates")
            .unwrap_or_default()
            .iter()
            .filter_map(|u| u.obj_opt("Create").ok().flatten())
            .filter_map(|c| c.str_opt("RegionName").ok().flatten().map(str::to_string))
            .collect();
        if let Some(Json::Array(replicas)) = description.get_mut("Replicas")
            && !created.is_empty()
        {
            replicas.retain(|x| x["RegionName"].as_str().is_none_or(|region| !created.iter().any(|c| c == region)));
        }
    }
    Ok(json!({"TableDescription": description}))
}

/// DynamoDB's refusal of an action on a resource the caller may not reach,
/// worded as IAM words it for the account's root user (the caller of a
/// server without `--auth`).
fn not_authorized(action: &str, resource: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "AccessDeniedException",
        messages::table::not_authorized(super::ACCOUNT_ID, action, resource),
    )
}

/// The table named by a table ARN of this server.
fn table_from_arn<'a>(app: &App, arn: &'a str) -> ApiResult<&'a str> {
    if !arn.starts_with("arn:") {
        return Err(ApiError::validation(messages::table::arn_not_an_arn(arn)));
    }
    if arn.split(':').nth(2) != Some("dynamodb") {
        return Err(ApiError::validation(messages::table::arn_not_dynamodb(arn)));
    }
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, super::ACCOUNT_ID);
    let name =
        arn.strip_prefix(&prefix).ok_or_else(|| ApiError::validation(messages::table::invalid_table_arn(arn)))?;
    if name.split('/').nth(1) == Some("index") {
        return Err(ApiError::validation(messages::table::arn_of_index(arn)));
    }
    let name = name.split('/').next().unwrap_or(name);
    app.store.table(name).map_err(|_| match app.store.changeable(name) {
        // A restore's table, not there until it is ACTIVE: named as the
        // other operations name it then (DDB-TABLE-217).
        Err(e) => ApiError::from(e),
        Ok(()) => ApiError::not_found(messages::table::resource_arn_not_found(arn)),
    })?;
    Ok(name)
}

/// The stream a stream ARN of this server names (`None` for another ARN):
/// a stream is tagged on its own, apart from its table ("stream resources
/// do not inherit tags from their parent table", the developer guide's
/// DynamoDB Streams ABAC pages).
fn stream_from_arn(app: &App, arn: &str) -> Option<ApiResult<tidepool_store::stream::StreamMeta>> {
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, super::ACCOUNT_ID);
    let rest = arn.strip_prefix(&prefix)?;
    let (table, label) = rest.split_once("/stream/")?;
    Some(
        app.store
            .stream(table, label)
            .filter(|_| crate::global_tables::witness::visible(app, table))
            .ok_or_else(|| ApiError::not_found(messages::table::resource_arn_not_found(arn))),
    )
}

pub fn tag_resource(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    let stream = stream_from_arn(app, arn).transpose()?;
    let name = match &stream {
        Some(_) => "",
        None => table_from_arn(app, arn)?,
    };
    let tags = tags_input(&r)?;
    if tags.is_empty() {
        return Err(ApiError::validation(messages::table::TAGS_REQUIRED));
    }
    if let Some(s) = stream {
        app.store.alter_stream_tags(s.num, |current| {
            let mut all = current.clone();
            all.extend(tags);
            check_tags(&all)?;
            *current = all;
            Ok(())
        })?;
        return Ok(Json::Null);
    }
    app.store.alter_table(name, |def| {
        let mut all = def.tags.clone();
        all.extend(tags);
        check_tags(&all)?;
        def.tags = all;
        Ok(())
    })?;
    // DynamoDB answers with an empty body (Alternator's tests).
    Ok(Json::Null)
}

pub fn untag_resource(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    let stream = stream_from_arn(app, arn).transpose()?;
    let name = match &stream {
        Some(_) => "",
        None => table_from_arn(app, arn)?,
    };
    let keys = r.strings("TagKeys")?.ok_or_else(|| missing("TagKeys"))?;
    if keys.is_empty() {
        return Err(ApiError::validation(messages::table::TAG_KEYS_REQUIRED));
    }
    // Checked as TagResource checks its tags, though they are removed
    // (DDB-TABLE-107 of the ack-api-quirks catalogue, against the service).
    if keys.len() > tidepool_store::table::MAX_TAGS {
        return Err(ApiError::validation(messages::table::TOO_MANY_TAGS));
    }
    if let Some(k) = keys.iter().find(|k| k.is_empty() || k.chars().count() > tidepool_store::table::MAX_TAG_KEY_CHARS)
    {
        return Err(ApiError::validation(messages::table::invalid_tag_key(k)));
    }
    if let Some(s) = stream {
        app.store.alter_stream_tags(s.num, |current| {
            for k in &keys {
                current.remove(k);
            }
            Ok(())
        })?;
        return Ok(Json::Null);
    }
    app.store.alter_table(name, |def| {
        for k in &keys {
            def.tags.remove(k);
        }
        Ok(())
    })?;
    // DynamoDB answers with an empty body (Alternator's tests).
    Ok(Json::Null)
}

pub fn list_tags(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    if let Some(stream) = stream_from_arn(app, arn) {
        let tags: Vec<Json> = stream?.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
        return Ok(json!({"Tags": tags}));
    }
    // Listing the tags of a table that is not there (or not this
    // account's) is refused as unauthorized, not as not found: the live
    // service's answer (recorded by the public conformance suite, 2026),
    // where TagResource and UntagResource say ResourceNotFoundException.
    let other_account = arn
        .strip_prefix(&format!("arn:aws:dynamodb:{}:", app.region))
        .and_then(|rest| rest.split_once(":table/"))
        .is_some_and(|(account, _)| account != super::ACCOUNT_ID);
    // (A table being restored is not found, in TagResource's words:
    // `table_from_arn`, DDB-TABLE-217.)
    let name = table_from_arn(app, arn).map_err(|e| {
        if e.message == messages::table::resource_arn_not_found(arn) || other_account {
            not_authorized("dynamodb:ListTagsOfResource", arn)
        } else {
            e
        }
    })?;
    let t = app.store.table(name)?;
    let tags: Vec<Json> = t.def.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
    Ok(json!({"Tags": tags}))
}

/// A TTL attribute name is 1 to 255 bytes (`TimeToLiveAttributeName`).
const MAX_TTL_ATTRIBUTE_NAME: usize = 255;

pub fn update_ttl(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = r.str("TableName")?;
    let spec = r.obj_opt("TimeToLiveSpecification")?.ok_or_else(|| missing("TimeToLiveSpecification"))?;
    let enabled = spec.bool_opt("Enabled")?;
    let attr = spec.str_opt("AttributeName")?;
    // Both members left out are both reported, the attribute name first.
    if enabled.is_none() && attr.is_none() {
        return Err(super::validate::report(
            ["attributeName", "enabled"]
                .iter()
                .map(|m| super::validate::Violation(messages::request::null_at(format!("timeToLiveSpecification.{m}"))))
                .collect(),
        ));
    }
    let enabled = enabled.ok_or_else(|| missing("timeToLiveSpecification.enabled"))?;
    let attr = attr.ok_or_else(|| missing("timeToLiveSpecification.attributeName"))?.to_string();
    if attr.is_empty() || attr.len() > MAX_TTL_ATTRIBUTE_NAME {
        let constraint = if attr.is_empty() {
            messages::request::min_length(1)
        } else {
            messages::request::max_length(MAX_TTL_ATTRIBUTE_NAME)
        };
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            &attr,
            "timeToLiveSpecification.attributeName",
            constraint,
        )])));
    }
    app.store.describe_table(name)?;
    let attr2 = attr.clone();
    app.store.alter_table(name, move |def| {
        match (&def.ttl_attribute, enabled) {
            (Some(current), true) if *current != attr2 => {
                return Err(StoreError::validation(messages::table::ttl_on_other_attribute(current)));
            }
            (Some(_), true) => return Err(StoreError::validation(messages::table::TTL_ALREADY_ENABLED)),
            (None, false) => return Err(StoreError::validation(messages::table::TTL_ALREADY_DISABLED)),
            (Some(current), false) if *current != attr2 => {
                return Err(StoreError::validation(messages::table::ttl_on_other_attribute(current)));
            }
            _ => {}
        }
        // Checked after what the request asks (DDB-TABLE-143); a refused
        // call does not move the window.
        let now = tidepool_store::now_ms();
        let cooldown = app.ttl_cooldown.as_millis() as u64;
        if cooldown > 0 && def.settings.ttl_changed_ms.is_some_and(|last| now < last.saturating_add(cooldown)) {
            return Err(StoreError::validation(messages::table::TTL_CHANGED_TOO_OFTEN));
        }
        def.settings.ttl_changed_ms = Some(now);
        def.ttl_attribute = enabled.then_some(attr2);
        // Time to Live is the same in every region of a global table.
        crate::global_tables::api::queue_group_change(def, &app.region, GroupPart::Ttl);
        Ok(())
    })?;
    Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}))
}

pub fn describe_ttl(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let t = app.store.describe_table(r.str("TableName")?)?;
    // A table being imported is CREATING; one being restored is not there
    // yet, as in DynamoDB.
    if t.is_importing() {
        return Err(ApiError::validation(messages::table::TTL_WHILE_CREATING));
    }
    if t.is_restoring() {
        return Err(ApiError::not_found(messages::table::table_not_found(&t.def.name)));
    }
    Ok(match &t.def.ttl_attribute {
        Some(a) => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}}),
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}

pub fn describe_limits() -> ApiResult<Json> {
    Ok(json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000
    }))
}

pub fn describe_endpoints(host: &str) -> ApiResult<Json> {
    Ok(json!({"Endpoints": [{"Address": host, "CachePeriodInMinutes": 1440}]}))
}
