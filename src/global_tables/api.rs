//! UpdateTable's `ReplicaUpdates`, DescribeTable's `Replicas`, the jobs
//! that add and remove a replica, and the peer endpoints.
//!
//! Adding region R to table T in this region A: UpdateTable records R as
//! `CREATING` and answers. A job (started by the supervisor, so it resumes
//! after a restart) then
//! 1. asks R to create T with T's keys, indexes and billing, a
//!    stream of T's view type, and the replica set (A and T's other
//!    replicas);
//! 2. tells T's other replicas that R joined, so their replicators start
//!    sending their own changes to R (from the start of their streams);
//! 3. fills R from a snapshot of T, each item with its stamp, while A's
//!    replicator for R sends every change from the start of T's stream;
//! 4. marks R `ACTIVE` once the fill is done and the replicator has read
//!    T's stream to its end.
//!
//! The stamps make every step repeatable: an item sent twice, or sent
//! after a newer change, changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use tidepool_store::TableHandle;
use tidepool_store::messages;
use tidepool_store::now_ms;
use tidepool_store::replication::{IndexOverride, ReplicaBase, ReplicaDef, ReplicaOverrides, ReplicatedChange, Stamp};
use tidepool_store::table::{BillingMode, IndexKind, StreamViewType};

use crate::dynamodb::App;
use crate::dynamodb::attr::item_from_json;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;

pub const APPLY_PATH: &str = "/tidepool/replication/apply";
pub const TABLE_PATH: &str = "/tidepool/replication/table";
pub const DROP_PATH: &str = "/tidepool/replication/drop";
/// What this region replicates and how late changes arrive (GET).
pub const STATUS_PATH: &str = "/tidepool/replication";

/// The largest body a peer sends: a replicator's batch
/// ([`super::replicator::BATCH_BYTES`] of records) as JSON, or a fill page.
pub const MAX_PEER_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Items sent to a new replica per request while it is filled, and their
/// bytes at most (DynamoDB's size): a request well within
/// [`MAX_PEER_BODY_BYTES`] as JSON.
const FILL_PAGE_ITEMS: usize = 500;
const FILL_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// How far past this region's clock a peer's stamp may be: further is a
/// broken clock, which would make its writes win for as long.
const MAX_CLOCK_AHEAD_MS: u64 = 24 * 3600 * 1000;

/// The version DescribeTable reports for a table with replicas.
pub const GLOBAL_TABLE_VERSION: &str = "2019.11.21";

pub fn routes() -> axum::Router<Arc<App>> {
    use axum::routing::post;
    axum::Router::new()
        .route(APPLY_PATH, post(apply))
        .route(TABLE_PATH, post(table))
        .route(DROP_PATH, post(drop_table))
        .route(super::strong::READ_PATH, post(read))
        .route(super::strong::CLAIM_PATH, post(claim))
        .route(super::strong::RANGE_PATH, post(range))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PEER_BODY_BYTES))
        .route(STATUS_PATH, axum::routing::get(status))
}

/// `GET /tidepool/replication[?reset=true]`: this region, its peers, its
/// global tables with their replicas, and the replication latency from
/// each region (write in the origin to apply here, p50 and p99 over the
/// latest changes); `reset` starts the latency windows afresh after the
/// answer.
async fn status(State(app): State<Arc<App>>, uri: axum::http::Uri) -> Response {
    let q = crate::lambda::api::query(&uri);
    let (names, _) = app.store.list_tables(None, usize::MAX);
    let mut tables = Vec::new();
    for name in names {
        let Ok(t) = app.store.table(&name) else { continue };
        if t.def.replicas.is_empty() {
            continue;
        }
        let replicas: Vec<Json> =
            t.def.replicas.iter().map(|r| json!({"RegionName": r.region, "ReplicaStatus": r.status})).collect();
        tables.push(json!({"TableName": name, "Replicas": replicas}));
    }
    let latency: Vec<Json> = app
        .global
        .latency()
        .into_iter()
        .map(|(from, p50, p99, n)| json!({"SourceRegion": from, "P50Ms": p50, "P99Ms": p99, "Samples": n}))
        .collect();
    if q.get("reset").is_some_and(|v| v == "true") {
        app.global.latency.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
    axum::Json(json!({
        "Region": app.region,
        "Peers": app.global.peer_regions(),
        "GlobalTables": tables,
        "ReplicationLatency": latency,
    }))
    .into_response()
}

/// How long a region that added a replica cannot be deleted (DynamoDB's
/// rule: its replica could still be filling from it).
const SOURCE_HOLD_MS: u64 = 24 * 3600 * 1000;

/// DynamoDB's refusal to delete a region that added a replica in the last
/// 24 hours, by DeleteTable there or a replica Delete anywhere.
pub fn recent_source() -> ApiError {
    ApiError::validation(messages::global_table::RECENT_SOURCE)
}

/// Whether `region` added one of the table's replicas (this region's own
/// included) less than [`SOURCE_HOLD_MS`] ago and that replica is still
/// there (being deleted counts: it is gone once deleted).
pub fn sourced_recently(def: &tidepool_store::table::TableDef, region: &str) -> bool {
    let now = now_ms();
    let recent = |ms: u64| now.saturating_sub(ms) < SOURCE_HOLD_MS;
    let own_ms = (def.created_at * 1000.0) as u64;
    let live = |x: &&ReplicaDef| !x.legacy && x.status != "CREATION_FAILED";
    def.replicas.iter().filter(live).any(|x| x.source.as_deref() == Some(region) && recent(x.created_ms))
        || (def.settings.replica_source.as_deref() == Some(region)
            && recent(own_ms)
            && def.replicas.iter().any(|x| live(&x)))
}

/// Which region added each replica and when, for a new replica's region
/// (this region's own replica included): `{region: {Source, Ms}}`.
fn sources_of(def: &tidepool_store::table::TableDef, region: &str) -> Json {
    let mut out = Map::new();
    for x in def.replicas.iter().filter(|x| x.source.is_some()) {
        out.insert(x.region.clone(), json!({"Source": x.source, "Ms": x.created_ms}));
    }
    if let Some(s) = &def.settings.replica_source {
        out.insert(region.to_string(), json!({"Source": s, "Ms": (def.created_at * 1000.0) as u64}));
    }
    Json::Object(out)
}

/// How a global table's settings reach its replicas, as DescribeTable
/// names it: group-wide, with per-replica overrides.
const SETTINGS_REPLICATION_MODE: &str = "ENABLED_WITH_OVERRIDES";

/// Whether a table is `UPDATING` for its replicas: one being added or
/// removed (DynamoDB's table is `UPDATING` meanwhile).
pub fn updating(def: &tidepool_store::table::TableDef) -> bool {
    def.replicas.iter().any(|r| !r.legacy && (r.status == "CREATING" || r.status == "DELETING"))
}

/// DescribeTable's members of a global table (version 2019.11.21; a
/// 2017.11.29 one's replicas are described by DescribeGlobalTable).
pub fn describe(def: &tidepool_store::table::TableDef, d: &mut Map<String, Json>) {
    if def.replicas.is_empty() || def.replicas.iter().all(|r| r.legacy) {
        return;
    }
    d.insert("GlobalTableVersion".into(), json!(GLOBAL_TABLE_VERSION));
    // Settings replication, with each replica's overrides: DynamoDB's
    // default, which it names once a table has replicas.
    d.insert("GlobalTableSettingsReplicationMode".into(), json!(SETTINGS_REPLICATION_MODE));
    // DynamoDB names it only when it is not the default.
    if def.settings.multi_region_strong {
        d.insert("MultiRegionConsistency".into(), json!("STRONG"));
    }
    let warm = d.get("WarmThroughput").cloned();
    let replicas: Vec<Json> =
        def.replicas.iter().filter(|r| !r.witness).map(|r| replica_json(def, r, warm.as_ref())).collect();
    d.insert("Replicas".into(), Json::Array(replicas));
    super::witness::describe(def, d);
}

/// One of DescribeTable's `Replicas`: its status (`UPDATING` until its
/// new settings reached every region), its warm throughput (the table's),
/// its KMS key (of a table encrypted with one) and the overrides it has.
fn replica_json(def: &tidepool_store::table::TableDef, r: &ReplicaDef, warm: Option<&Json>) -> Json {
    let o = &r.overrides;
    let status = if o.unsent && r.status == "ACTIVE" { "UPDATING" } else { r.status.as_str() };
    let mut j = json!({
        "RegionName": r.region,
        "ReplicaStatus": status,
        "GlobalTableSettingsReplicationMode": SETTINGS_REPLICATION_MODE,
    });
    if let Some(w) = warm {
        j["WarmThroughput"] = w.clone();
    }
    if let Some(key) = super::encryption::replica_key_id(def, r) {
        j["KMSMasterKeyId"] = json!(key);
    }
    if let Some(read) = o.read_capacity {
        j["ProvisionedThroughputOverride"] = json!({"ReadCapacityUnits": read});
    }
    if let Some(max) = o.max_read_request_units {
        j["OnDemandThroughputOverride"] = json!({"MaxReadRequestUnits": max});
    }
    if !o.indexes.is_empty() {
        let indexes: Vec<Json> = o
            .indexes
            .iter()
            .map(|i| {
                let mut g = json!({"IndexName": i.name});
                if let Some(read) = i.read_capacity {
                    g["ProvisionedThroughputOverride"] = json!({"ReadCapacityUnits": read});
                }
                if let Some(max) = i.max_read_request_units {
                    g["OnDemandThroughputOverride"] = json!({"MaxReadRequestUnits": max});
                }
                g
            })
            .collect();
        j["GlobalSecondaryIndexes"] = Json::Array(indexes);
    }
    if let Some(class) = &o.table_class {
        j["ReplicaTableClassSummary"] =
            json!({"TableClass": class, "LastUpdateDateTime": o.table_class_ms as f64 / 1000.0});
    }
    j
}

/// A table with multi-Region strong consistency: exactly two replicas, made
/// at once, of an empty table.
fn create_strong(
    app: &App,
    name: &str,
    handle: &TableHandle,
    actions: &[ReplicaAction],
    witness_updates: &[super::witness::WitnessUpdate],
) -> ApiResult<Arc<TableHandle>> {
    let regions: Vec<String> = actions.iter().map(|a| a.region.clone()).collect();
    let witnesses: Vec<String> = witness_updates.iter().map(|w| w.region.clone()).collect();
    if let Some(w) = witness_updates.iter().find(|w| !w.create) {
        return Err(not_witnesses(&[&w.region]));
    }
    // Three regions: this one, and two replicas or a replica and a witness.
    if regions.len() + witnesses.len() != 2 {
        return Err(replica_refusal(messages::global_table::STRONG_REPLICA_COUNT));
    }
    if regions.contains(&app.region) {
        return Err(local_region());
    }
    if witnesses.contains(&app.region) {
        return Err(replica_refusal(messages::global_table::WITNESS_IN_LOCAL_REGION));
    }
    if witnesses.iter().any(|w| regions.contains(w)) {
        return Err(replica_refusal(messages::global_table::SAME_REGION_TWICE));
    }
    if let Some(r) = regions.iter().chain(&witnesses).find(|r| app.global.peer(r).is_none()) {
        return Err(unknown_region(app, r));
    }
    if !handle.def.replicas.is_empty() {
        return Err(replica_refusal(messages::global_table::CONSISTENCY_ON_EXISTING));
    }
    if handle.stats().items > 0 {
        return Err(ApiError::validation(messages::global_table::strong_needs_empty_table(name)));
    }
    let mut keys = std::collections::HashMap::new();
    for a in actions {
        check_overrides(&handle.def, a)?;
        keys.insert(a.region.clone(), super::encryption::replica_key(&handle.def, &a.region, a.kms_key.as_deref())?);
    }
    // A witness keeps no table a client sees; a replica's region must have
    // none of the name.
    for r in &regions {
        refuse_if_taken(app, name, r)?;
    }
    if handle.def.stream.is_none() {
        app.store.set_stream(name, Some(StreamViewType::NewAndOldImages))?;
    }
    let now = now_ms();
    let handle = app.store.alter_table(name, |def| {
        if def.stream.as_ref().is_some_and(|s| s.view_type != StreamViewType::NewAndOldImages) {
            return Err(tidepool_store::StoreError::validation(messages::global_table::STRONG_NEEDS_BOTH_IMAGES));
        }
        busy(def, None)?;
        def.settings.multi_region_strong = true;
        let members = regions.iter().map(|r| (r, false)).chain(witnesses.iter().map(|w| (w, true)));
        for (region, witness) in members {
            let asked = actions.iter().find(|a| !witness && &a.region == region).map(|a| a.overrides.clone());
            let overrides = normalized(def, asked.unwrap_or_default());
            def.replicas.push(ReplicaDef {
                region: region.clone(),
                status: "CREATING".into(),
                created_ms: now,
                legacy: false,
                witness,
                overrides,
                index_changes: Vec::new(),
                source: Some(app.region.clone()),
                kms_key_arn: keys.get(region).cloned().flatten(),
            });
        }
        Ok(())
    })?;
    tracing::info!(table = name, ?regions, ?witnesses, "replicas with multi-Region strong consistency requested");
    Ok(handle)
}

/// One replica change at a time per table: refused while a replica (other
/// than `except`) is being made or removed.
fn busy(def: &tidepool_store::table::TableDef, except: Option<&str>) -> tidepool_store::error::Result<()> {
    let changing = def
        .replicas
        .iter()
        .any(|x| (x.status == "CREATING" || x.status == "DELETING") && Some(x.region.as_str()) != except);
    if changing { Err(in_use_store()) } else { Ok(()) }
}

/// The regions of a table's replicas.
pub(crate) fn regions_of(t: &TableHandle) -> Vec<String> {
    t.def.replicas.iter().map(|r| r.region.clone()).collect()
}

/// One of UpdateTable's `ReplicaUpdates`: its action and region.
struct ReplicaAction {
    kind: Action,
    region: String,
    /// A `Create`'s or `Update`'s overrides of the table's settings.
    overrides: ReplicaOverrides,
    /// Whether it names `ProvisionedThroughputOverride` (an `Update` may
    /// not on an on-demand table).
    provisioned_override: bool,
    /// A `Create`'s `KMSMasterKeyId`: the replica's key, in its region.
    kms_key: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    /// The member's name in a constraint's path.
    fn member(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// A `Create`'s or `Update`'s overrides of the replica's settings (`path`
/// names the action in a constraint's message), and whether it named a
/// `ProvisionedThroughputOverride`. Index overrides without a setting are
/// none.
fn overrides_of(o: &Req<'_>, path: &str) -> ApiResult<(ReplicaOverrides, bool)> {
    let read_of = |o: &Req<'_>, path: &str| -> ApiResult<(Option<u64>, Option<i64>, bool)> {
        let mut read = None;
        let given = o.obj_opt("ProvisionedThroughputOverride")?;
        if let Some(p) = &given
            && let Some(r) = p.int_opt("ReadCapacityUnits")?
        {
            if r < 1 {
                return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                    r,
                    format!("{path}.provisionedThroughputOverride.readCapacityUnits"),
                    messages::request::min_value(1),
                )])));
            }
            let read_only = tidepool_store::table::Throughput { read: r as u64, write: 1 };
            tidepool_store::catalog::capacity_in_bounds(read_only, None)?;
            read = Some(r as u64);
        }
        let mut max_read = None;
        if let Some(d) = o.obj_opt("OnDemandThroughputOverride")?
            && let Some(m) = d.int_opt("MaxReadRequestUnits")?
        {
            // -1 takes the maximum away, as on a table.
            if m < 1 && m != -1 {
                return Err(ApiError::validation(messages::global_table::MAX_READ_OVERRIDE_OUT_OF_RANGE));
            }
            max_read = Some(m);
        }
        Ok((read, max_read, given.is_some()))
    };
    let (read_capacity, max_read_request_units, mut provisioned) = read_of(o, path)?;
    let table_class = o
        .str_opt("TableClassOverride")?
        .map(|c| match c {
            "STANDARD" | "STANDARD_INFREQUENT_ACCESS" => Ok(c.to_string()),
            _ => Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                c,
                format!("{path}.tableClassOverride"),
                messages::request::in_enum(&["STANDARD", "STANDARD_INFREQUENT_ACCESS"]),
            )]))),
        })
        .transpose()?;
    let mut indexes = Vec::new();
    for (j, g) in o.objects("GlobalSecondaryIndexes")?.iter().enumerate() {
        let at = format!("{path}.globalSecondaryIndexes.{}.member", j + 1);
        let Some(name) = g.str_opt("IndexName")? else {
            return Err(ApiError::validation(messages::request::envelope([messages::request::null_at(format!(
                "{at}.indexName"
            ))])));
        };
        let (read_capacity, max_read_request_units, index_provisioned) = read_of(g, &at)?;
        provisioned |= index_provisioned;
        if read_capacity.is_some() || max_read_request_units.is_some() {
            indexes.push(IndexOverride { name: name.to_string(), read_capacity, max_read_request_units });
        }
    }
    let now = now_ms();
    let table_class_ms = if table_class.is_some() { now } else { 0 };
    let overrides = ReplicaOverrides {
        read_capacity,
        max_read_request_units,
        table_class,
        table_class_ms,
        updated_ms: now,
        indexes,
        unsent: false,
    };
    Ok((overrides, provisioned))
}

/// `overrides` as a replica of table `def` keeps them: a provisioned read
/// capacity only on a provisioned table, and not when it is the table's own
/// (sending the table's value takes the override away, as in DynamoDB); an
/// on-demand maximum of -1 is none; an index the table lacks is ignored.
fn normalized(def: &tidepool_store::table::TableDef, mut o: ReplicaOverrides) -> ReplicaOverrides {
    let provisioned = def.billing_mode == BillingMode::Provisioned;
    let base = base_of(def);
    o.read_capacity = o.read_capacity.filter(|r| provisioned && Some(*r) != base.read_capacity);
    o.max_read_request_units = o.max_read_request_units.filter(|m| *m != -1);
    for i in &mut o.indexes {
        let index_read = base.indexes.iter().find(|(n, _)| *n == i.name).and_then(|(_, r)| *r);
        i.read_capacity = i.read_capacity.filter(|r| provisioned && Some(*r) != index_read);
        i.max_read_request_units = i.max_read_request_units.filter(|m| *m != -1);
    }
    o.indexes.retain(|i| {
        def.gsis().any(|g| g.name == i.name) && (i.read_capacity.is_some() || i.max_read_request_units.is_some())
    });
    o
}

/// The table's settings before this region's own overrides: what every
/// replica has where it overrides nothing.
fn base_of(def: &tidepool_store::table::TableDef) -> ReplicaBase {
    let live = ReplicaBase {
        read_capacity: def.throughput.filter(|_| def.billing_mode == BillingMode::Provisioned).map(|t| t.read),
        max_read_request_units: def.settings.max_read_request_units,
        table_class: def.table_class.clone(),
        indexes: def.gsis().map(|g| (g.name.clone(), g.throughput.map(|t| t.read))).collect(),
    };
    // A setting this region overrides has its value from before; any
    // other is what the table has now (an UpdateTable may have changed it).
    let (Some(before), own) = (&def.settings.replica_base, &def.settings.own_overrides) else { return live };
    ReplicaBase {
        read_capacity: if own.read_capacity.is_some() { before.read_capacity } else { live.read_capacity },
        max_read_request_units: if own.max_read_request_units.is_some() {
            before.max_read_request_units
        } else {
            live.max_read_request_units
        },
        table_class: if own.table_class.is_some() { before.table_class.clone() } else { live.table_class },
        indexes: live
            .indexes
            .into_iter()
            .map(|(name, read)| {
                let overridden = own.indexes.iter().any(|i| i.name == name && i.read_capacity.is_some());
                let was = before.indexes.iter().find(|(n, _)| *n == name).and_then(|(_, r)| *r);
                let read = if overridden { was } else { read };
                (name, read)
            })
            .collect(),
    }
}

/// DynamoDB's words for a refused replica update.
fn replica_refusal(why: &str) -> ApiError {
    ApiError::validation(why)
}

/// The replica actions of a request, in DynamoDB's words when one is
/// malformed: an element without an action (an `Update` of nothing is
/// none), or with two. Identical `Create`s are one.
fn replica_actions(app: &App, updates: &[Req<'_>]) -> ApiResult<Vec<ReplicaAction>> {
    let mut actions: Vec<ReplicaAction> = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let given: Vec<(Action, Req<'_>)> =
            [("Create", Action::Create), ("Update", Action::Update), ("Delete", Action::Delete)]
                .into_iter()
                .filter_map(|(member, kind)| u.obj_opt(member).ok().flatten().map(|o| (kind, o)))
                .collect();
        if given.len() > 1 {
            return Err(replica_refusal(messages::global_table::TWO_REPLICA_ACTIONS));
        }
        let Some((kind, o)) = given.into_iter().next() else {
            return Err(replica_refusal(messages::global_table::NO_REPLICA_ACTION));
        };
        // A member without its region, in DynamoDB's words for each.
        let Some(region) = o.str_opt("RegionName")? else {
            if kind == Action::Create {
                return Err(replica_refusal(messages::global_table::PARAMETER_VALUES_INVALID));
            }
            let member = if kind == Action::Update { "update" } else { "delete" };
            return Err(ApiError::validation(messages::request::envelope([messages::request::null_at(format!(
                "replicaUpdates.{}.member.{member}.regionName",
                i + 1
            ))])));
        };
        if region.is_empty() {
            return Err(unknown_region(app, region));
        }
        let (overrides, provisioned_override) = match kind {
            Action::Delete => (ReplicaOverrides::default(), false),
            _ => overrides_of(&o, &format!("replicaUpdates.{}.member.{}", i + 1, kind.member()))?,
        };
        if kind == Action::Update && o.get("KMSMasterKeyId").is_some() {
            return Err(replica_refusal(messages::global_table::REPLICA_KMS_KEY));
        }
        if kind == Action::Update && overrides.is_empty() {
            return Err(replica_refusal(messages::global_table::NO_REPLICA_ACTION));
        }
        let kms_key = match kind {
            Action::Create => o.str_opt("KMSMasterKeyId")?.map(str::to_string),
            _ => None,
        };
        let region = region.to_string();
        if kind == Action::Create && actions.iter().any(|a| a.kind == Action::Create && a.region == region) {
            continue;
        }
        actions.push(ReplicaAction { kind, region, overrides, provisioned_override, kms_key });
    }
    Ok(actions)
}

/// "…were not part of the global table…", naming the regions.
fn not_members(regions: &[&str]) -> ApiError {
    replica_refusal(&messages::global_table::not_replicas(regions))
}

/// "…were not part of the global table…", naming the witness regions.
fn not_witnesses(regions: &[&str]) -> ApiError {
    replica_refusal(&messages::global_table::not_witnesses(regions))
}

fn local_region() -> ApiError {
    replica_refusal(messages::global_table::LOCAL_REGION)
}

/// A region that is not one of this server's peers: DynamoDB's refusal of a
/// region it does not serve, listing the regions that can be replicas here.
fn unknown_region(app: &App, region: &str) -> ApiError {
    let hint = if region.is_empty() { String::new() } else { messages::global_table::peers_hint(region) };
    replica_refusal(&messages::global_table::unsupported_region(region, &app.global.peer_regions(), hint))
}

/// DynamoDB's refusal while a replica is being added or removed.
fn in_use_store() -> tidepool_store::StoreError {
    tidepool_store::StoreError::ResourceInUse(messages::global_table::IN_USE.into())
}

/// DynamoDB's refusal of a change to a table while one of its replicas is
/// being added or removed. ResourceInUseException.
pub fn in_use() -> ApiError {
    in_use_store().into()
}

/// UpdateTable's `GlobalTableSettingsReplicationMode`: `ENABLED` and
/// `DISABLED` are taken, `ENABLED_WITH_OVERRIDES` (what DescribeTable names
/// on a global table) refused, as DynamoDB does (DDB-TABLE-048).
pub fn settings_replication_mode<'a>(r: &Req<'a>) -> ApiResult<Option<&'a str>> {
    let mode = r.enum_opt("GlobalTableSettingsReplicationMode", &["ENABLED", "DISABLED", SETTINGS_REPLICATION_MODE])?;
    if mode == Some(SETTINGS_REPLICATION_MODE) {
        return Err(ApiError::validation(messages::global_table::SETTINGS_REPLICATION_WITH_OVERRIDES));
    }
    Ok(mode)
}

/// Applies UpdateTable's `ReplicaUpdates`; `None` when it has none.
pub fn update(app: &App, name: &str, r: &Req<'_>) -> ApiResult<Option<Arc<TableHandle>>> {
    let consistency = r.enum_opt("MultiRegionConsistency", &["EVENTUAL", "STRONG"])?;
    let witness_updates = super::witness::updates(r)?;
    let witnesses = !witness_updates.is_empty();
    let updates = r.objects("ReplicaUpdates")?;
    if updates.is_empty() {
        if consistency.is_some() || witnesses {
            return Err(replica_refusal(messages::global_table::REPLICAS_OR_WITNESSES_ALONE));
        }
        return Ok(None);
    }
    let actions = replica_actions(app, &updates)?;
    let handle = app.store.describe_table(name)?;
    if handle.def.replicas.iter().any(|x| x.legacy) {
        return Err(ApiError::validation(messages::global_table::replica_updates_on_legacy(name)));
    }
    if handle.def.settings.multi_region_strong {
        return update_strong(app, name, &handle, consistency, &actions, &witness_updates).map(Some);
    }
    if witnesses && consistency != Some("STRONG") {
        return Err(replica_refusal(messages::global_table::WITNESSES_NEED_STRONG));
    }
    if consistency == Some("STRONG") {
        if actions.iter().any(|a| a.kind != Action::Create) {
            return Err(replica_refusal(messages::global_table::CONSISTENCY_ONLY_WITH_CREATES));
        }
        return create_strong(app, name, &handle, &actions, &witness_updates).map(Some);
    }
    if actions.iter().filter(|a| a.kind != Action::Update).count() > 1 {
        return Err(replica_refusal(messages::global_table::ONE_REPLICA_CREATE_OR_DELETE));
    }
    for a in actions.iter().filter(|a| a.kind == Action::Update) {
        check_update(&handle.def, a)?;
    }
    let mut handle = handle;
    for a in &actions {
        let region = a.region.clone();
        let known = handle.def.replicas.iter().find(|x| x.region == region).cloned();
        match a.kind {
            Action::Create => {
                if region == app.region {
                    return Err(local_region());
                }
                if known.is_some() {
                    return Err(replica_refusal(&messages::global_table::replica_exists(name)));
                }
                if app.global.peer(&region).is_none() {
                    return Err(unknown_region(app, &region));
                }
                busy(&handle.def, None)?;
                check_overrides(&handle.def, a)?;
                // A provisioned table's writes must scale with its replicas'.
                if handle.def.billing_mode == BillingMode::Provisioned {
                    if !crate::autoscaling::writes_autoscaled(app, name, None) {
                        return Err(ApiError::validation(messages::global_table::TABLE_WRITES_NOT_SCALED));
                    }
                    if handle.def.gsis().any(|g| !crate::autoscaling::writes_autoscaled(app, name, Some(&g.name))) {
                        return Err(ApiError::validation(messages::global_table::INDEX_WRITES_NOT_SCALED));
                    }
                }
                let kms_key_arn = super::encryption::replica_key(&handle.def, &region, a.kms_key.as_deref())?;
                // Asked last, as it waits on the region: nothing here has
                // changed yet when it refuses.
                refuse_if_taken(app, name, &region)?;
                // Any view type is taken and kept (the replicator reads an
                // item whose record has no new image); a table without a
                // stream gets one with both images, as in DynamoDB.
                // (A busy table was refused above, before its stream is set.)
                if handle.def.stream.is_none() {
                    app.store.set_stream(name, Some(StreamViewType::NewAndOldImages))?;
                }
                handle = app.store.alter_table(name, |def| {
                    busy(def, None)?;
                    if def.replicas.iter().any(|x| x.region == region) {
                        return Err(in_use_store());
                    }
                    let overrides = normalized(def, a.overrides.clone());
                    let source = Some(app.region.clone());
                    def.replicas.push(ReplicaDef {
                        overrides,
                        source,
                        kms_key_arn: kms_key_arn.clone(),
                        ..ReplicaDef::new(region.clone(), "CREATING", now_ms())
                    });
                    Ok(())
                })?;
                tracing::info!(table = name, region, "replica requested");
            }
            Action::Delete => {
                if region == app.region {
                    return Err(local_region());
                }
                let Some(x) = known else { return Err(not_members(&[&region])) };
                if sourced_recently(&handle.def, &region) {
                    return Err(recent_source());
                }
                // A replica being added or removed is in use; one being
                // made in a region no longer a peer (gone for good) may go.
                let abandoned = x.status == "CREATING" && app.global.peer(&region).is_none();
                if (x.status == "DELETING" || x.status == "CREATING") && !abandoned {
                    return Err(in_use());
                }
                if x.status == "ACTIVE" {
                    refuse_if_protected(app, name, &region, false)?;
                }
                handle = app.store.alter_table(name, |def| {
                    busy(def, Some(&region))?;
                    if let Some(x) = def.replicas.iter_mut().find(|x| x.region == region) {
                        // One that was never made, or is in a region gone
                        // for good, has nothing to drop that can be asked.
                        if x.status == "CREATION_FAILED" || abandoned {
                            def.replicas.retain(|x| x.region != region);
                        } else {
                            x.status = "DELETING".into();
                        }
                    }
                    Ok(())
                })?;
                tracing::info!(table = name, region, "replica removal requested");
            }
            // Taken once the others are (checked first, below).
            Action::Update => {}
        }
    }
    for a in actions.iter().filter(|a| a.kind == Action::Update) {
        handle = record_update(app, name, a)?;
    }
    Ok(Some(handle))
}

/// DynamoDB's refusal to delete a replica whose own table has deletion
/// protection on (set in its region: protection is regional).
pub fn protected_replica(name: &str, region: &str) -> ApiError {
    ApiError::validation(messages::global_table::protected_replica(name, region))
}

/// Asks `region` whether its replica of `name` may be deleted (its table's
/// deletion protection is off), as DynamoDB refuses a replica Delete when
/// it is on. A region that does not answer in time is not waited for: its
/// drop ([`delete_replica`]) is refused there, and the replica stays.
/// Called on a blocking thread.
///
/// With `strict` (a strongly consistent table, whose replicas go all
/// together), a region that does not answer refuses the Delete, to be
/// asked again: one replica kept back would leave the others gone.
fn refuse_if_protected(app: &App, name: &str, region: &str, strict: bool) -> ApiResult<()> {
    if app.global.peer(region).is_none() {
        return Ok(());
    }
    let body = json!({"TableName": name, "CanDrop": true});
    match super::strong::call(app, region, TABLE_PATH, body) {
        Some((400, answer)) if String::from_utf8_lossy(&answer).contains("deletion protection") => {
            Err(protected_replica(name, region))
        }
        Some((200, _)) => Ok(()),
        _ if strict => Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            messages::global_table::protection_unknown(region, name),
        )),
        _ => Ok(()),
    }
}

/// Asks `region` whether it holds a table named `name` already (one of
/// its own, or a replica not yet removed), which DynamoDB refuses to make a
/// replica of, at once and in the same words as a replica that exists
/// (DDB-TABLE-225). A region that does not answer in time is not waited
/// for: the replica's job finds the table there and fails it. Called on a
/// blocking thread.
fn refuse_if_taken(app: &App, name: &str, region: &str) -> ApiResult<()> {
    let body = json!({"TableName": name, "CanCreate": true});
    match super::strong::call(app, region, TABLE_PATH, body) {
        Some((400, answer)) if String::from_utf8_lossy(&answer).contains(TAKEN) => {
            Err(replica_refusal(&messages::global_table::replica_exists(name)))
        }
        _ => Ok(()),
    }
}

/// `region`'s own entry of DescribeTableReplicaAutoScaling's `Replicas`
/// for table `name` (`autoscaling::replica::replica_entry`), or `None` when
/// it does not answer in time. Called on a blocking thread.
pub(crate) fn peer_auto_scaling(app: &App, name: &str, region: &str) -> Option<Json> {
    match super::strong::call(app, region, TABLE_PATH, json!({"TableName": name, "ReplicaAutoScaling": true})) {
        Some((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    }
}

/// The words of [`messages::global_table::replica_exists`] a peer's
/// refusal is known by.
const TAKEN: &str = "already existed as tables";

/// Whether a `Create`'s or `Update`'s overrides fit the table's billing
/// mode: no read capacity on an on-demand table (an `Update`'s; a
/// `Create`'s is dropped, as DynamoDB takes it, DDB-TABLE-307), no most
/// read request units on a provisioned one (DDB-TABLE-250).
fn check_overrides(def: &tidepool_store::table::TableDef, a: &ReplicaAction) -> ApiResult<()> {
    if a.kind == Action::Update && a.provisioned_override && def.billing_mode == BillingMode::PayPerRequest {
        return Err(ApiError::validation(messages::global_table::READ_OVERRIDE_ON_DEMAND));
    }
    let o = &a.overrides;
    let on_demand = o.max_read_request_units.is_some() || o.indexes.iter().any(|i| i.max_read_request_units.is_some());
    if on_demand && def.billing_mode == BillingMode::Provisioned {
        return Err(ApiError::validation(messages::global_table::MAX_READ_OVERRIDE_ON_PROVISIONED));
    }
    Ok(())
}

/// Whether an `Update` of a replica may be taken, checked for every one
/// before a request changes anything: a member, `ACTIVE`, no replica being
/// made or removed, overrides that fit the billing mode.
fn check_update(def: &tidepool_store::table::TableDef, a: &ReplicaAction) -> ApiResult<()> {
    let Some(x) = def.replicas.iter().find(|x| x.region == a.region && !x.witness) else {
        return Err(not_members(&[&a.region]));
    };
    check_overrides(def, a)?;
    if x.status != "ACTIVE" || busy(def, None).is_err() {
        return Err(in_use());
    }
    Ok(())
}

/// An `Update` of a replica (checked by [`check_update`]): its overrides
/// merged into those recorded here, which the supervisor then sends to
/// every region of the table ([`send_overrides`]); the replica is
/// `UPDATING` until they are sent.
fn record_update(app: &App, name: &str, a: &ReplicaAction) -> ApiResult<Arc<TableHandle>> {
    let region = &a.region;
    let handle = app.store.alter_table(name, |def| {
        let Some(mut merged) = def.replicas.iter().find(|x| &x.region == region).map(|x| x.overrides.clone()) else {
            return Err(in_use_store());
        };
        merged.merge(&a.overrides);
        let mut merged = normalized(def, merged);
        merged.unsent = true;
        if let Some(x) = def.replicas.iter_mut().find(|x| &x.region == region) {
            x.overrides = merged;
        }
        Ok(())
    })?;
    tracing::info!(table = name, region, "replica settings updated");
    Ok(handle)
}

/// ReplicaUpdates on a table with multi-Region strong consistency: none
/// is added, and its replicas are removed all together, in one request.
fn update_strong(
    app: &App,
    name: &str,
    handle: &TableHandle,
    consistency: Option<&str>,
    actions: &[ReplicaAction],
    witness_updates: &[super::witness::WitnessUpdate],
) -> ApiResult<Arc<TableHandle>> {
    if actions.iter().any(|a| a.kind == Action::Create) {
        return Err(replica_refusal(match consistency {
            Some("STRONG") => messages::global_table::STRONG_REPLICA_COUNT,
            Some(_) => messages::global_table::CONSISTENCY_ON_EXISTING,
            None => messages::global_table::NO_REPLICAS_ADDED_TO_STRONG,
        }));
    }
    if consistency.is_some() {
        return Err(replica_refusal(messages::global_table::CONSISTENCY_ONLY_WITH_CREATES));
    }
    if witness_updates.iter().any(|w| w.create) {
        return Err(replica_refusal(messages::global_table::NO_REPLICAS_ADDED_TO_STRONG));
    }
    let is_witness = |r: &str| handle.def.replicas.iter().any(|x| x.region == r && x.witness);
    let is_replica = |r: &str| handle.def.replicas.iter().any(|x| x.region == r && !x.witness);
    let strange: Vec<&str> = witness_updates.iter().map(|w| w.region.as_str()).filter(|w| !is_witness(w)).collect();
    if !strange.is_empty() {
        return Err(not_witnesses(&strange));
    }
    let deleted: Vec<&str> = actions
        .iter()
        .filter(|a| a.kind == Action::Delete)
        .map(|a| a.region.as_str())
        .chain(witness_updates.iter().map(|w| w.region.as_str()))
        .collect();
    if deleted.is_empty() {
        // Updates of replica settings, recorded by each replica's region.
        let strangers: Vec<&str> =
            actions.iter().filter(|a| !is_replica(&a.region)).map(|a| a.region.as_str()).collect();
        if !strangers.is_empty() {
            return Err(not_members(&strangers));
        }
        for a in actions {
            check_update(&handle.def, a)?;
        }
        let mut handle = app.store.describe_table(name)?;
        for a in actions {
            handle = record_update(app, name, a)?;
        }
        return Ok(handle);
    }
    if deleted.contains(&app.region.as_str()) {
        return Err(local_region());
    }
    let strangers: Vec<&str> = actions
        .iter()
        .filter(|a| a.kind == Action::Delete && !is_replica(&a.region))
        .map(|a| a.region.as_str())
        .collect();
    if !strangers.is_empty() {
        return Err(not_members(&strangers));
    }
    if handle.def.replicas.iter().any(|x| x.witness && !deleted.contains(&x.region.as_str())) {
        return Err(replica_refusal(messages::global_table::DELETE_ALL_WITNESSES));
    }
    if handle.def.replicas.iter().any(|x| !deleted.contains(&x.region.as_str())) {
        return Err(replica_refusal(messages::global_table::DELETE_ALL_STRONG_REPLICAS));
    }
    for x in handle.def.replicas.iter().filter(|x| !x.witness) {
        refuse_if_protected(app, name, &x.region, true)?;
    }
    let handle = app.store.alter_table(name, |def| {
        // A member in a region that is no longer a peer (gone for good)
        // goes at once; the others are dropped by their regions.
        def.replicas.retain(|x| app.global.peer(&x.region).is_some());
        busy(def, None)?;
        for x in def.replicas.iter_mut() {
            x.status = "DELETING".into();
        }
        def.settings.multi_region_strong &= !def.replicas.is_empty();
        Ok(())
    })?;
    tracing::info!(table = name, "the strongly consistent replicas' removal requested");
    Ok(handle)
}

/// The CreateTable request that makes `def`'s replica elsewhere.
fn create_request(def: &tidepool_store::table::TableDef) -> Json {
    let keys = crate::dynamodb::control::key_schema_json;
    let throughput = |t: Option<tidepool_store::table::Throughput>| {
        t.map(|t| json!({"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write}))
    };
    let mut req = json!({
        "TableName": def.name,
        "AttributeDefinitions": def.attribute_definitions.iter()
            .map(|a| json!({"AttributeName": a.name, "AttributeType": a.ty.as_str()})).collect::<Vec<_>>(),
        "KeySchema": keys(&def.key_schema),
        "BillingMode": def.billing_mode.as_str(),
        // The table's own view type: a replica's stream is as its table's.
        "StreamSpecification": {
            "StreamEnabled": true,
            "StreamViewType": def.stream.as_ref().map_or(StreamViewType::NewAndOldImages, |s| s.view_type).as_str(),
        },
        "TableClass": group_class(def),
    });
    if let Some(t) = throughput(def.throughput).filter(|_| def.billing_mode == BillingMode::Provisioned) {
        req["ProvisionedThroughput"] = t;
    }
    let index = |i: &tidepool_store::table::IndexDef| {
        let mut o = json!({
            "IndexName": i.name,
            "KeySchema": keys(&i.key_schema),
            "Projection": crate::dynamodb::control::projection_json(&i.projection),
        });
        if i.kind == IndexKind::Global
            && def.billing_mode == BillingMode::Provisioned
            && let Some(t) = throughput(i.throughput)
        {
            o["ProvisionedThroughput"] = t;
        }
        o
    };
    let gsis: Vec<Json> = def.gsis().map(index).collect();
    let lsis: Vec<Json> = def.lsis().map(index).collect();
    if !gsis.is_empty() {
        req["GlobalSecondaryIndexes"] = Json::Array(gsis);
    }
    if !lsis.is_empty() {
        req["LocalSecondaryIndexes"] = Json::Array(lsis);
    }
    if !def.vector_indexes.is_empty() {
        let vectors =
            def.vector_indexes.iter().map(|v| Json::Object(crate::dynamodb::vector::definition_json(v))).collect();
        req["VectorIndexes"] = Json::Array(vectors);
    }
    req
}

/// A replica's overrides as sent to another region (which has them once
/// it answers).
fn sent(o: &ReplicaOverrides) -> ReplicaOverrides {
    ReplicaOverrides { unsent: false, ..o.clone() }
}

/// A replica's CreateTable with its overrides in place of the table's
/// settings (the table's own where this region overrides them): its table
/// class, read capacity and most read request units, table and indexes.
fn with_overrides(mut req: Json, def: &tidepool_store::table::TableDef, o: &ReplicaOverrides) -> Json {
    let base = base_of(def);
    req["TableClass"] = json!(o.table_class.as_deref().unwrap_or(&base.table_class));
    if let Some(read) = o.read_capacity.or(base.read_capacity)
        && req.get("ProvisionedThroughput").is_some()
    {
        req["ProvisionedThroughput"]["ReadCapacityUnits"] = json!(read);
    }
    // Only the maximums set: a CreateTable takes no -1.
    let mut on_demand = Map::new();
    if let Some(max) = o.max_read_request_units.or(base.max_read_request_units).filter(|m| *m >= 1) {
        on_demand.insert("MaxReadRequestUnits".into(), json!(max));
    }
    if let Some(max) = def.settings.max_write_request_units.filter(|m| *m >= 1) {
        on_demand.insert("MaxWriteRequestUnits".into(), json!(max));
    }
    if def.billing_mode == BillingMode::PayPerRequest && !on_demand.is_empty() {
        req["OnDemandThroughput"] = Json::Object(on_demand);
    }
    if let Some(Json::Array(gsis)) = req.get_mut("GlobalSecondaryIndexes") {
        for g in gsis {
            let Some(name) = g["IndexName"].as_str().map(str::to_string) else { continue };
            let own = o.indexes.iter().find(|i| i.name == name).and_then(|i| i.read_capacity);
            let base = base.indexes.iter().find(|(n, _)| *n == name).and_then(|(_, r)| *r);
            if let Some(read) = own.or(base)
                && g.get("ProvisionedThroughput").is_some()
            {
                g["ProvisionedThroughput"]["ReadCapacityUnits"] = json!(read);
            }
        }
    }
    req
}

/// Queues index change `u` (a `GlobalSecondaryIndexUpdates` element,
/// `Create` or `Delete`), made here in `region` in the same write, for
/// every replica's region to make too (witnesses keep no index), which the
/// supervisor sends ([`send_index_changes`]). The change names the regions
/// it was queued for, so a region that has a replica they lack (one it
/// added meanwhile) passes it on.
pub fn queue_index_change(
    def: &mut tidepool_store::table::TableDef,
    region: &str,
    u: &Req<'_>,
    attribute_definitions: Option<&Json>,
    queued_for: &[String],
) {
    let targets: Vec<String> = def
        .replicas
        .iter()
        .filter(|x| !x.witness && !queued_for.contains(&x.region))
        .map(|x| x.region.clone())
        .collect();
    if targets.is_empty() {
        return;
    }
    let mut change = json!({"GlobalSecondaryIndexUpdates": [Json::Object(u.0.clone())]});
    if let Some(defs) = attribute_definitions {
        change["AttributeDefinitions"] = defs.clone();
    }
    queue_change(def, region, change, queued_for);
}

/// Queues `change` (a JSON object: an index change, or a group-wide
/// setting from [`queue_group_change`]) for every replica's region
/// not in `queued_for` (those that have it, or had it queued by another
/// region), in the caller's write of the table. The regions it is queued
/// for go with it, so that a region passing it on queues it for the rest.
fn queue_change(def: &mut tidepool_store::table::TableDef, region: &str, mut change: Json, queued_for: &[String]) {
    let targets: Vec<String> = def
        .replicas
        .iter()
        .filter(|x| !x.witness && !x.legacy && !queued_for.contains(&x.region))
        .map(|x| x.region.clone())
        .collect();
    if targets.is_empty() {
        return;
    }
    let mut queued_for: Vec<String> = queued_for.iter().chain(&targets).cloned().collect();
    queued_for.push(region.to_string());
    change["QueuedFor"] = json!(queued_for);
    let change = change.to_string();
    for x in def.replicas.iter_mut().filter(|x| targets.contains(&x.region)) {
        x.index_changes.push(change.clone());
    }
}

/// A setting DynamoDB keeps the same in every region of a global table
/// (its developer guide: changed in any region, it reaches the others).
/// Each is sent on its own, stamped, and a region takes one only over an
/// older stamp of its own: two regions' changes of different settings both
/// hold everywhere, and of one setting the later wins everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPart<'a> {
    /// Time to Live.
    Ttl,
    /// The billing mode and the table's capacity.
    Capacity,
    /// A global secondary index's capacity.
    Index(&'a str),
    /// The table class.
    Class,
    /// The most write request units of an on-demand table.
    MaxWrite,
    /// The kind of key the table is encrypted with (`encryption.rs`).
    Sse,
}

impl<'a> GroupPart<'a> {
    /// The part's name in stamps and messages.
    fn key(self) -> String {
        match self {
            GroupPart::Ttl => "ttl".into(),
            GroupPart::Capacity => "capacity".into(),
            GroupPart::Index(name) => format!("index:{name}"),
            GroupPart::Class => "class".into(),
            GroupPart::MaxWrite => "max_write".into(),
            GroupPart::Sse => "sse".into(),
        }
    }

    fn parse(s: &'a str) -> Option<GroupPart<'a>> {
        Some(match s {
            "ttl" => GroupPart::Ttl,
            "capacity" => GroupPart::Capacity,
            "class" => GroupPart::Class,
            "max_write" => GroupPart::MaxWrite,
            "sse" => GroupPart::Sse,
            _ => GroupPart::Index(s.strip_prefix("index:")?),
        })
    }
}

fn capacity_json(t: Option<tidepool_store::table::Throughput>) -> Json {
    t.map_or(Json::Null, |t| json!({"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write}))
}

fn capacity_of(v: Option<&Json>) -> Option<tidepool_store::table::Throughput> {
    let v = v?;
    Some(tidepool_store::table::Throughput {
        read: v.get("ReadCapacityUnits")?.as_u64()?,
        write: v.get("WriteCapacityUnits")?.as_u64()?,
    })
}

/// The table class of the group: this replica's own class unless it
/// overrides it, then the class the override covers.
fn group_class(def: &tidepool_store::table::TableDef) -> &str {
    match (&def.settings.replica_base, &def.settings.own_overrides.table_class) {
        (Some(base), Some(_)) => &base.table_class,
        _ => &def.table_class,
    }
}

/// `part` of this region's settings as the group's: a setting this replica
/// overrides (read capacity, the table's or an index's; the table class)
/// is sent as the value the override covers.
fn group_value(def: &tidepool_store::table::TableDef, part: GroupPart<'_>) -> Json {
    let own = &def.settings.own_overrides;
    let base = def.settings.replica_base.as_ref().filter(|_| !own.is_unset());
    match part {
        GroupPart::Ttl => json!({"TimeToLive": def.ttl_attribute}),
        GroupPart::MaxWrite => json!({"MaxWriteRequestUnits": def.settings.max_write_request_units}),
        GroupPart::Class => json!({"TableClass": group_class(def)}),
        GroupPart::Sse => super::encryption::group_value(def),
        GroupPart::Capacity => {
            let mut table = def.throughput;
            if let (Some(t), Some(read), Some(_)) =
                (table.as_mut(), base.and_then(|b| b.read_capacity), own.read_capacity)
            {
                t.read = read;
            }
            json!({"BillingMode": def.billing_mode.as_str(), "ProvisionedThroughput": capacity_json(table)})
        }
        GroupPart::Index(name) => {
            let mut t = def.index(name).and_then(|g| g.throughput);
            let overridden = own.indexes.iter().any(|i| i.name == name && i.read_capacity.is_some());
            let covered = base.and_then(|b| b.indexes.iter().find(|(n, _)| n == name)).and_then(|(_, r)| *r);
            if let (Some(t), Some(read), true) = (t.as_mut(), covered, overridden) {
                t.read = read;
            }
            json!({"ProvisionedThroughput": capacity_json(t)})
        }
    }
}

/// A client's change here of a setting this replica overrides is the
/// group's: it becomes the value the override covers, and the override
/// holds here.
fn keep_overrides(def: &mut tidepool_store::table::TableDef, part: GroupPart<'_>) {
    let own = def.settings.own_overrides.clone();
    if own.is_unset() {
        return;
    }
    let Some(mut base) = def.settings.replica_base.clone() else { return };
    match part {
        GroupPart::Capacity => {
            if let (Some(t), Some(read)) = (def.throughput.as_mut(), own.read_capacity) {
                base.read_capacity = Some(t.read);
                t.read = read;
            }
        }
        GroupPart::Index(name) => {
            let read = own.indexes.iter().find(|i| i.name == name).and_then(|i| i.read_capacity);
            if let (Some(t), Some(read)) =
                (def.indexes.iter_mut().find(|g| g.name == name).and_then(|g| g.throughput.as_mut()), read)
            {
                match base.indexes.iter_mut().find(|(n, _)| n == name) {
                    Some(e) => e.1 = Some(t.read),
                    None => base.indexes.push((name.to_string(), Some(t.read))),
                }
                t.read = read;
            }
        }
        GroupPart::Class => {
            if let Some(class) = &own.table_class {
                base.table_class = std::mem::replace(&mut def.table_class, class.clone());
            }
        }
        GroupPart::Ttl | GroupPart::MaxWrite | GroupPart::Sse => {}
    }
    def.settings.replica_base = Some(base);
}

/// Queues `part` of this region's settings ([`group_value`]) for the other
/// regions of a global table, stamped now, in the caller's write of the
/// table (the one that made the change, in `def`). Nothing for a regional
/// table or a version 2017.11.29 one, whose settings each region keeps.
pub fn queue_group_change(def: &mut tidepool_store::table::TableDef, region: &str, part: GroupPart<'_>) {
    if def.replicas.is_empty() || def.replicas.iter().any(|x| x.legacy) {
        return;
    }
    keep_overrides(def, part);
    // Later than any stamp of the part seen here, so it wins over them.
    let seen = def.settings.group_stamps.get(&part.key()).map_or(0, |(ms, _)| *ms);
    let stamp = (now_ms().max(seen.saturating_add(1)), region.to_string());
    def.settings.group_stamps.insert(part.key(), stamp.clone());
    let mut change = group_value(def, part);
    change["GroupSettings"] = json!(part.key());
    change["Ms"] = json!(stamp.0);
    change["Region"] = json!(stamp.1);
    queue_change(def, region, change, &[]);
}

/// Another region's group-wide setting ([`queue_group_change`]) taken
/// here if its stamp is later than this region's for it (and not past
/// this region's clock by more than [`MAX_CLOCK_AHEAD_MS`]): set, except
/// where this replica overrides it (its read capacity, its table class),
/// where the value the override covers changes instead. `here` is this
/// region.
fn apply_group_settings(def: &mut tidepool_store::table::TableDef, here: &str, change: &Map<String, Json>) {
    let Some(key) = change.get("GroupSettings").and_then(Json::as_str) else { return };
    let Some(part) = GroupPart::parse(key) else { return };
    let ms = change.get("Ms").and_then(Json::as_u64).unwrap_or(0);
    let stamp = (ms, change.get("Region").and_then(Json::as_str).unwrap_or_default().to_string());
    if ms > now_ms().saturating_add(MAX_CLOCK_AHEAD_MS)
        || def.settings.group_stamps.get(key).is_some_and(|have| *have >= stamp)
    {
        return;
    }
    let own = def.settings.own_overrides.clone();
    let mut base = def.settings.replica_base.clone().filter(|_| !own.is_unset());
    match part {
        GroupPart::Ttl => def.ttl_attribute = change.get("TimeToLive").and_then(Json::as_str).map(str::to_string),
        GroupPart::MaxWrite => {
            def.settings.max_write_request_units = change.get("MaxWriteRequestUnits").and_then(Json::as_i64);
        }
        GroupPart::Sse => super::encryption::apply_group(def, here, &stamp.1, change),
        GroupPart::Class => {
            let Some(class) = change.get("TableClass").and_then(Json::as_str) else { return };
            match (base.as_mut(), &own.table_class) {
                (Some(b), Some(_)) => b.table_class = class.to_string(),
                _ => def.table_class = class.to_string(),
            }
        }
        GroupPart::Capacity => {
            let provisioned = change.get("BillingMode").and_then(Json::as_str) == Some("PROVISIONED");
            def.set_billing_mode(if provisioned { BillingMode::Provisioned } else { BillingMode::PayPerRequest });
            let mut table = capacity_of(change.get("ProvisionedThroughput"));
            if let (Some(t), Some(read)) = (table.as_mut(), own.read_capacity) {
                if let Some(b) = base.as_mut() {
                    b.read_capacity = Some(t.read);
                }
                t.read = read;
            }
            def.throughput = table;
        }
        GroupPart::Index(name) => {
            let own_read = own.indexes.iter().find(|i| i.name == name).and_then(|i| i.read_capacity);
            let Some(g) = def.indexes.iter_mut().find(|g| g.name == name && g.kind == IndexKind::Global) else {
                return;
            };
            let mut t = capacity_of(change.get("ProvisionedThroughput"));
            if let (Some(t), Some(read)) = (t.as_mut(), own_read) {
                if let Some(b) = base.as_mut() {
                    match b.indexes.iter_mut().find(|(n, _)| n == name) {
                        Some(e) => e.1 = Some(t.read),
                        None => b.indexes.push((name.to_string(), Some(t.read))),
                    }
                }
                t.read = read;
            }
            g.throughput = t;
        }
    }
    def.settings.group_stamps.insert(key.to_string(), stamp);
    if base.is_some() {
        def.settings.replica_base = base;
    }
}

/// How long to wait before asking again a region that is making or
/// removing another index of the table (one at a time, as in DynamoDB).
const INDEX_CHANGE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends `region` the index changes queued for it, in order, each removed
/// once made there (or refused for good: it cannot be made there). Started
/// by the supervisor while a replica has changes queued; then sends the
/// replica's overrides if they are unsent.
pub async fn send_index_changes(app: std::sync::Weak<App>, id: u64, table: String, region: String) {
    loop {
        let Some(a) = app.upgrade() else { return };
        let Ok(handle) = a.store.table(&table) else { return };
        let Some(x) = handle.def.replicas.iter().find(|x| x.region == region) else { return };
        if handle.def.id != id || x.status != "ACTIVE" {
            return;
        }
        let Some(change) = x.index_changes.first().cloned() else { break };
        let body = json!({"TableName": table, "IndexChange": change, "From": a.region});
        drop((a, handle));
        let sent = tokio::time::timeout(SEND_OVERRIDES_TIMEOUT, send_until_done(&app, &region, TABLE_PATH, body));
        match sent.await {
            Ok(Ok(())) => {}
            // Busy with another index there: one at a time.
            Ok(Err(why)) if why.contains("ResourceInUseException") || why.contains("Only 1 online index") => {
                tokio::time::sleep(INDEX_CHANGE_RETRY).await;
                continue;
            }
            Ok(Err(why)) => tracing::warn!(table, region, why, "a region refused an index change"),
            // Not answering: the supervisor starts this again later.
            Err(_) => return,
        }
        let Some(a) = app.upgrade() else { return };
        let r = a.store.alter_table(&table, |def| {
            if def.id == id
                && let Some(x) = def.replicas.iter_mut().find(|x| x.region == region)
                && x.index_changes.first() == Some(&change)
            {
                x.index_changes.remove(0);
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!(table, region, error = %e, "record an index change as made");
            return;
        }
    }
    send_overrides(app, id, table, region).await;
}

/// An index change made in another region (`send_index_changes`), made
/// here unless it is already: an index created that exists, or deleted
/// that does not, is left as it is.
fn make_index_change(app: &App, name: &str, change: &str, from: &str) -> ApiResult<()> {
    let mut change: Map<String, Json> =
        serde_json::from_str(change).map_err(|e| ApiError::validation(messages::global_table::peer_index_change(e)))?;
    let t = app.store.table(name)?;
    if !t.def.replicas.iter().any(|x| x.region == from) {
        return Err(ApiError::validation(messages::global_table::peer_not_replica_of_region(name, &app.region, from)));
    }
    if change.get("GroupSettings").is_some() {
        let queued_for = queued_for_of(&change);
        let region = app.region.clone();
        // The daily limit on capacity decreases held where it was made.
        app.store.alter_table_replicated(name, |def| {
            apply_group_settings(def, &region, &change);
            // Passed on to any region the sender did not queue it for.
            queue_change(def, &region, Json::Object(change.clone()), &queued_for);
            Ok(())
        })?;
        tracing::info!(table = name, from, "group-wide settings from another region taken");
        return Ok(());
    }
    let wanted = |u: &Json| {
        let named = |m: &str| u.get(m).and_then(|c| c.get("IndexName")).and_then(Json::as_str);
        match (named("Create"), named("Delete")) {
            (Some(i), _) => match t.def.index(i) {
                None => true,
                // Made already; one of another key is two regions' creates
                // of one name at once, which Tidepool does not reconcile.
                Some(have) => {
                    let asked = u["Create"].get("KeySchema");
                    if asked != Some(&crate::dynamodb::control::key_schema_json(&have.key_schema)) {
                        tracing::error!(
                            table = name,
                            index = i,
                            from,
                            "an index created in another region has another key schema than this region's of the same name; they stay different"
                        );
                    }
                    false
                }
            },
            (_, Some(i)) => t.def.index(i).is_some(),
            _ => false,
        }
    };
    let queued_for = queued_for_of(&change);
    let updates: Vec<Json> = match change.get("GlobalSecondaryIndexUpdates") {
        Some(Json::Array(l)) => l.iter().filter(|u| wanted(u)).cloned().collect(),
        _ => Vec::new(),
    };
    if updates.is_empty() {
        return Ok(());
    }
    change.insert("GlobalSecondaryIndexUpdates".into(), Json::Array(updates));
    change.insert("TableName".into(), json!(name));
    change.remove("QueuedFor");
    crate::dynamodb::control::update_table_from(app, Req(&change), Some(&queued_for))?;
    tracing::info!(table = name, from, "index change from another region made");
    Ok(())
}

/// The regions a queued change names as having it (`QueuedFor`).
fn queued_for_of(change: &Map<String, Json>) -> Vec<String> {
    change
        .get("QueuedFor")
        .and_then(Json::as_array)
        .map(|l| l.iter().filter_map(Json::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// How long a region's settings job waits on one region before it leaves
/// the replica's overrides unsent for the supervisor's next pass (a region
/// down for good holds nothing up but its own copy).
const SEND_OVERRIDES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends a replica's updated overrides to every region of the table, the
/// replica's own included (which takes them as its table's settings), then
/// marks them sent unless they changed meanwhile or a region did not
/// answer in time. Started by the supervisor while a replica's overrides
/// are unsent.
pub async fn send_overrides(app: std::sync::Weak<App>, id: u64, table: String, region: String) {
    let Some(a) = app.upgrade() else { return };
    let Ok(handle) = a.store.table(&table) else { return };
    let Some(x) = handle.def.replicas.iter().find(|x| x.region == region) else { return };
    if handle.def.id != id || !x.overrides.unsent {
        return;
    }
    let overrides = sent(&x.overrides);
    let body = json!({"TableName": table, "ReplicaSettings": region, "Overrides": overrides});
    let targets: Vec<String> =
        handle.def.replicas.iter().filter(|x| !x.witness && x.status == "ACTIVE").map(|x| x.region.clone()).collect();
    drop((a, handle));
    let mut answered = true;
    for target in targets {
        match tokio::time::timeout(SEND_OVERRIDES_TIMEOUT, send_until_done(&app, &target, TABLE_PATH, body.clone()))
            .await
        {
            Ok(Ok(())) => {}
            // A refusal, or a region no longer a peer: nothing to retry.
            Ok(Err(why)) => tracing::warn!(table, region, target, why, "a region did not take a replica's settings"),
            Err(_) => answered = false,
        }
    }
    let Some(a) = app.upgrade() else { return };
    // A replica being made learns of these once it is active.
    let making = a.store.table(&table).is_ok_and(|t| t.def.replicas.iter().any(|x| x.status == "CREATING"));
    if !answered || making {
        tracing::debug!(table, region, "a region has not answered; the replica's settings are sent again later");
        return;
    }
    let r = a.store.alter_table(&table, |def| {
        if def.id == id
            && let Some(x) = def.replicas.iter_mut().find(|x| x.region == region)
            && sent(&x.overrides) == overrides
        {
            x.overrides.unsent = false;
        }
        Ok(())
    });
    if let Err(e) = r {
        tracing::warn!(table, region, error = %e, "record a replica's settings as sent");
    }
}

/// A replica's overrides as its own region takes them (`send_overrides`),
/// unless it has later ones: each setting that changed becomes the
/// override, or the region's setting from before its first override.
fn apply_own_overrides(app: &App, name: &str, o: &ReplicaOverrides) -> ApiResult<()> {
    app.store.alter_table(name, |def| {
        let before = def.settings.own_overrides.clone();
        if !o.supersedes(&before) {
            return Ok(());
        }
        let base = base_of(def);
        def.settings.replica_base = Some(base.clone());
        if o.table_class != before.table_class {
            def.table_class = o.table_class.clone().unwrap_or_else(|| base.table_class.clone());
        }
        if o.read_capacity != before.read_capacity
            && let (Some(t), Some(read)) = (def.throughput.as_mut(), o.read_capacity.or(base.read_capacity))
        {
            t.read = read;
        }
        if o.max_read_request_units != before.max_read_request_units {
            def.settings.max_read_request_units = o.max_read_request_units.or(base.max_read_request_units);
        }
        for g in def.indexes.iter_mut().filter(|g| g.kind == IndexKind::Global) {
            let read_of =
                |x: &ReplicaOverrides| x.indexes.iter().find(|i| i.name == g.name).and_then(|i| i.read_capacity);
            let (own, was) = (read_of(o), read_of(&before));
            let base = base.indexes.iter().find(|(n, _)| *n == g.name).and_then(|(_, r)| *r);
            if own != was
                && let (Some(t), Some(read)) = (g.throughput.as_mut(), own.or(base))
            {
                t.read = read;
            }
        }
        def.settings.own_overrides = sent(o);
        Ok(())
    })?;
    Ok(())
}

/// Sends `body` to `region`'s `path` until it answers 200, while the app
/// lives; `Err` with the peer's answer on a 4xx (a refusal, not an outage).
pub(crate) async fn send_until_done(
    app: &std::sync::Weak<App>,
    region: &str,
    path: &str,
    body: Json,
) -> Result<(), String> {
    let mut backoff = std::time::Duration::from_millis(50);
    let body = body.to_string().into_bytes();
    loop {
        let Some(peer) = app.upgrade().and_then(|a| a.global.peer(region)) else {
            return Err(format!("region {region} is no longer a peer"));
        };
        match peer.post(path, body.clone()).await {
            Ok((200, _)) => return Ok(()),
            Ok((status, answer)) if (400..500).contains(&status) && status != 429 => {
                return Err(String::from_utf8_lossy(&answer).into_owned());
            }
            Ok((status, _)) => tracing::debug!(region, status, path, "peer busy or failing; retrying"),
            Err(e) => tracing::debug!(region, error = %e, path, "peer unreachable; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
}

/// Moves a replica from status `from` to `to` (`None`: removes it); a
/// replica no longer in `from` (a delete asked for meanwhile) is left.
fn set_status(app: &App, table: &str, region: &str, from: &str, to: Option<&str>) {
    let r = app.store.alter_table(table, |def| {
        if !def.replicas.iter().any(|x| x.region == region && x.status == from) {
            return Ok(());
        }
        match to {
            Some(s) => {
                if let Some(x) = def.replicas.iter_mut().find(|x| x.region == region) {
                    x.status = s.to_string();
                }
            }
            None => {
                def.replicas.retain(|x| x.region != region);
                // A table of one region is no longer strongly consistent.
                def.settings.multi_region_strong &= !def.replicas.is_empty();
            }
        }
        Ok(())
    });
    if let Err(e) = r {
        tracing::warn!(table, region, error = %e, "record a replica's status");
    }
}

/// Whether `table` (still the one numbered `id`) has its replica in
/// `region` in `status`.
fn replica_is(app: &App, id: u64, table: &str, region: &str, status: &str) -> bool {
    app.store
        .table(table)
        .is_ok_and(|t| t.def.id == id && t.def.replicas.iter().any(|x| x.region == region && x.status == status))
}

/// Makes and fills the replica of `table` in `region` (see the module doc).
/// It stops, leaving the status to the delete, once the replica is no
/// longer `CREATING`.
pub async fn create_replica(app: std::sync::Weak<App>, id: u64, table: String, region: String) {
    let Some(a) = app.upgrade() else { return };
    let Ok(handle) = a.store.table(&table) else { return };
    if handle.def.id != id {
        return;
    }
    // The new region sends to every other replica, those being made with it
    // too (a strongly consistent table makes two at once).
    let mut others: Vec<String> = vec![a.region.clone()];
    others.extend(
        handle
            .def
            .replicas
            .iter()
            .filter(|x| x.region != region && (x.status == "ACTIVE" || x.status == "CREATING"))
            .map(|x| x.region.clone()),
    );
    // A witness keeps a copy no client sees; every region knows which
    // of the others are witnesses.
    let is_witness = |r: &str| handle.def.replicas.iter().any(|x| x.region == r && x.witness);
    let witnesses: Vec<&String> = others.iter().filter(|r| is_witness(r)).collect();
    let replica = handle.def.replicas.iter().find(|x| x.region == region).cloned();
    let own = replica.as_ref().map(|x| x.overrides.clone()).unwrap_or_default();
    let own_key = replica.as_ref().and_then(|x| x.kms_key_arn.clone());
    let mut create = with_overrides(create_request(&handle.def), &handle.def, &own);
    // Encrypted as the table is, with its own key.
    if let Some(sse) = replica.as_ref().and_then(|x| super::encryption::create_spec(&handle.def, x)) {
        create["SSESpecification"] = sse;
    }
    // What each other replica overrides, for the new region to describe.
    let known: Map<String, Json> = handle
        .def
        .replicas
        .iter()
        .filter(|x| x.region != region && !x.overrides.is_unset())
        .map(|x| (x.region.clone(), &x.overrides))
        .chain(Some((a.region.clone(), &handle.def.settings.own_overrides)).filter(|(_, o)| !o.is_unset()))
        .filter_map(|(r, o)| Some((r, serde_json::to_value(sent(o)).ok()?)))
        .collect();
    let body = json!({
        "Create": create,
        "OwnOverrides": sent(&own),
        // The other regions' customer managed keys, for it to describe.
        "KmsKeys": super::encryption::keys_of(&handle.def, &a.region),
        "Base": base_of(&handle.def),
        "ReplicaOverrides": known,
        "Replicas": others,
        "Witnesses": witnesses,
        "Witness": is_witness(&region),
        "From": a.region,
        "Strong": handle.def.settings.multi_region_strong,
        // Time to Live is the global table's, from its first moment.
        "TimeToLive": handle.def.ttl_attribute,
        "Sources": sources_of(&handle.def, &a.region),
        // The group's settings are the new region's as of these changes.
        "GroupStamps": handle.def.settings.group_stamps,
        // A provisioned table's write auto scaling, which its replicas get.
        "WriteScaling": crate::autoscaling::write_scaling_of(&a, &table),
    });
    let joining_witness = is_witness(&region);
    // Existing replicas learn of the new one; one being made lists it.
    let joined: Vec<String> = handle
        .def
        .replicas
        .iter()
        .filter(|x| x.region != region && x.status == "ACTIVE")
        .map(|x| x.region.clone())
        .collect();
    let me = a.region.clone();
    drop(a);
    let failed = |why: String| {
        tracing::warn!(table, region, why, "the replica could not be made");
        if let Some(a) = app.upgrade() {
            set_status(&a, &table, &region, "CREATING", Some("CREATION_FAILED"));
            // The region's table, made in part, is its user's again (to
            // delete): asked once, as the region may be what failed.
            if let Some(peer) = a.global.peer(&region) {
                let body = json!({"TableName": table, "Filled": true}).to_string().into_bytes();
                tokio::spawn(async move {
                    let _ = peer.post(TABLE_PATH, body).await;
                });
            }
        }
    };
    if let Err(why) = send_until_done(&app, &region, TABLE_PATH, body).await {
        return failed(why);
    }
    for other in joined {
        let body = json!({"TableName": table, "AddReplica": region, "Witness": joining_witness, "Overrides": sent(&own), "Source": me, "KmsKey": own_key});
        if let Err(why) = send_until_done(&app, &other, TABLE_PATH, body).await {
            tracing::warn!(table, region, other, why, "a replica did not take the new region");
        }
    }
    // Fill from a snapshot, a page at a time.
    let mut after: Option<Vec<u8>> = None;
    loop {
        let Some(a) = app.upgrade() else { return };
        if !replica_is(&a, id, &table, &region, "CREATING") {
            return;
        }
        let page = {
            let (store, table, after) = (a.store.clone(), table.clone(), after.clone());
            tokio::task::spawn_blocking(move || {
                store.stamped_items(&table, after.as_deref(), FILL_PAGE_ITEMS, FILL_PAGE_BYTES)
            })
            .await
        };
        let (items, next) = match page {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return failed(format!("reading the table: {e}")),
            Err(_) => return,
        };
        let key_names: Vec<String> =
            a.store.table(&table).map(|t| t.def.key_schema.names().map(str::to_string).collect()).unwrap_or_default();
        drop(a);
        if !items.is_empty() {
            let changes: Vec<Json> = items
                .iter()
                .map(|(item, stamp)| {
                    let keys: tidepool_store::value::Item = item
                        .iter()
                        .filter(|(k, _)| key_names.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    json!({
                        "Keys": tidepool_store::value::json::item_to_json(&keys),
                        "Item": tidepool_store::value::json::item_to_json(item),
                        "Ms": stamp.ms,
                        "Node": stamp.node,
                    })
                })
                .collect();
            // A fill's changes are not counted as replication latency.
            let body = json!({"TableName": table, "Changes": changes, "Fill": true});
            if let Err(why) = send_until_done(&app, &region, APPLY_PATH, body).await {
                return failed(format!("the fill was refused: {why}"));
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // Active once the replicator has read the stream to its end after the fill.
    let filled_at = match app.upgrade() {
        Some(a) => a.global.passes.load(std::sync::atomic::Ordering::SeqCst),
        None => return,
    };
    loop {
        let Some(a) = app.upgrade() else { return };
        if !replica_is(&a, id, &table, &region, "CREATING") {
            return;
        }
        if super::replicator::idle_since(&a, id, &region).is_some_and(|p| p > filled_at) {
            drop(a);
            // The region's table is CREATING until it hears the fill is done.
            let body = json!({"TableName": table, "Filled": true});
            if let Err(why) = send_until_done(&app, &region, TABLE_PATH, body).await {
                tracing::warn!(table, region, why, "the replica's region did not take the end of its fill");
            }
            let Some(a) = app.upgrade() else { return };
            set_status(&a, &table, &region, "CREATING", Some("ACTIVE"));
            tracing::info!(table, region, "replica active");
            return;
        }
        drop(a);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Removes the replica of `table` in `region`, and tells the others.
pub async fn delete_replica(app: std::sync::Weak<App>, id: u64, table: String, region: String) {
    let Some(a) = app.upgrade() else { return };
    let Ok(handle) = a.store.table(&table) else { return };
    if handle.def.id != id {
        return;
    }
    let others: Vec<String> =
        handle.def.replicas.iter().filter(|x| x.region != region).map(|x| x.region.clone()).collect();
    drop(a);
    let me = app.upgrade().map(|a| a.region.clone()).unwrap_or_default();
    if let Err(why) = send_until_done(&app, &region, DROP_PATH, json!({"TableName": table, "From": me})).await {
        // Protected since the Delete was taken: the replica stays; of a
        // strongly consistent table, whose replicas go together, it stays
        // `DELETING` and is asked again on the supervisor's next pass.
        if why.contains("deletion protection") {
            tracing::warn!(table, region, why, "the replica is protected against deletion");
            if let Some(a) = app.upgrade()
                && !a.store.table(&table).is_ok_and(|t| t.def.settings.multi_region_strong)
            {
                set_status(&a, &table, &region, "DELETING", Some("ACTIVE"));
            }
            return;
        }
        tracing::warn!(table, region, why, "the replica's region refused to drop it");
    }
    for other in others {
        let body = json!({"TableName": table, "RemoveReplica": region});
        if let Err(why) = send_until_done(&app, &other, TABLE_PATH, body).await {
            tracing::warn!(table, region, other, why, "a replica did not drop the region");
        }
    }
    if let Some(a) = app.upgrade() {
        set_status(&a, &table, &region, "DELETING", None);
        super::replicator::forget_positions(&a, id, &region);
        tracing::info!(table, region, "replica removed");
    }
}

fn parse(body: &[u8]) -> ApiResult<Map<String, Json>> {
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "com.amazon.coral.service#SerializationException",
            messages::global_table::PEER_BODY_NOT_OBJECT,
        )),
    }
}

type Caller = axum::Extension<crate::http::auth::Caller>;

/// With `--auth`, a peer's request is signed (by the peers' administrator
/// key); a caller with policies also needs `tidepool:Replicate` on the
/// table it names.
fn authorize(app: &App, caller: Option<Caller>, body: &Map<String, Json>) -> ApiResult<()> {
    let Some(caller) = caller.map(|c| c.0).filter(|c| c.principal.policies.is_some()) else { return Ok(()) };
    let table = body
        .get("TableName")
        .or_else(|| body.get("Create").and_then(|c| c.get("TableName")))
        .or_else(|| body.get("Join").and_then(|c| c.get("TableName")))
        .and_then(Json::as_str)
        .unwrap_or("*");
    let check = crate::iam::Check::new("tidepool:Replicate", app.table_arn(table));
    caller
        .authorize(vec![check], &app.region)
        .map_err(|denied| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "AccessDeniedException", denied.message))
}

/// A peer endpoint: its body parsed and authorized, then `f` on a blocking
/// thread, answered as JSON or in DynamoDB's error shape.
async fn peer_request(
    app: Arc<App>,
    caller: Option<Caller>,
    body: Bytes,
    f: impl FnOnce(&App, &Map<String, Json>) -> ApiResult<Json> + Send + 'static,
) -> Response {
    let r = async {
        let m = parse(&body)?;
        authorize(&app, caller, &m)?;
        blocking(move || f(&app, &m)).await
    }
    .await;
    answer(r)
}

/// A peer endpoint's answer: the JSON, or the error in DynamoDB's shape.
fn answer(r: ApiResult<Json>) -> Response {
    match r {
        Ok(j) => axum::Json(j).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ApiError::internal())?
}

/// `POST /tidepool/replication/apply`: changes another region made.
async fn apply(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    let r = async {
        let m = parse(&body)?;
        authorize(&app, caller, &m)?;
        let req = Req(&m);
        let table = req.str("TableName")?.to_string();
        let mut changes = Vec::new();
        for c in req.objects("Changes")? {
            let keys = item_from_json(
                c.get("Keys")
                    .ok_or_else(|| ApiError::validation(messages::global_table::peer_member_required("Keys")))?,
            )?;
            let item = match c.get("Item") {
                Some(i) => Some(item_from_json(i)?),
                None => None,
            };
            let num = |n: &str| {
                c.get(n)
                    .and_then(Json::as_u64)
                    .ok_or_else(|| ApiError::validation(messages::global_table::peer_member_required(n)))
            };
            let stamp = Stamp {
                ms: num("Ms")?,
                node: u32::try_from(num("Node")?)
                    .map_err(|_| ApiError::validation(messages::global_table::PEER_NODE))?,
            };
            if stamp.ms > now_ms().saturating_add(MAX_CLOCK_AHEAD_MS) {
                return Err(ApiError::validation(messages::global_table::peer_stamp_ahead(stamp.ms)));
            }
            changes.push(ReplicatedChange { keys, item, stamp });
        }
        let fill = req.get("Fill").and_then(Json::as_bool).unwrap_or(false);
        let stamps: Vec<Stamp> = if fill { Vec::new() } else { changes.iter().map(|c| c.stamp).collect() };
        let a = app.clone();
        let t = table.clone();
        // A fill is each item's current version, whatever its age; other
        // changes older than a tombstone is kept are superseded when the
        // item has no stamp here (`apply_replicated`).
        let applied = blocking(move || {
            Ok(if fill { a.store.apply_fill(&t, changes)? } else { a.store.apply_replicated(&t, changes)? })
        })
        .await?;
        let regions: Vec<String> = app
            .store
            .table(&table)
            .map(|h| h.def.replicas.iter().map(|x| x.region.clone()).collect())
            .unwrap_or_default();
        let now = now_ms();
        for s in stamps.iter().filter(|s| s.ms > 0) {
            app.global.record_latency(s.node, &regions, now.saturating_sub(s.ms));
        }
        Ok::<_, ApiError>(json!({"Applied": applied.applied, "Superseded": applied.superseded}))
    }
    .await;
    answer(r)
}

/// A peer message's optional member `name`, read as a `T` (`what` names
/// it in the refusal); absent or null is `None`.
fn member<T: serde::de::DeserializeOwned>(req: &Req<'_>, name: &str, what: &str) -> ApiResult<Option<T>> {
    match req.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| ApiError::validation(messages::global_table::peer_member_invalid(name, what, e))),
    }
}

/// `POST /tidepool/replication/table`: make this region's replica
/// (`Create`, `Replicas`), or add or remove a region of a replica set.
async fn table(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    peer_request(app, caller, body, |a, m| {
        let req = Req(m);
        let now = now_ms();
        if req.get("Ping").is_some() {
            return Ok(json!({}));
        }
        if let Some(create) = req.obj_opt("Create")? {
            let strong = req.get("Strong").and_then(Json::as_bool).unwrap_or(false);
            let name = create.str("TableName")?.to_string();
            let regions: Vec<String> = match req.get("Replicas") {
                Some(Json::Array(l)) => l.iter().filter_map(Json::as_str).map(str::to_string).collect(),
                _ => return Err(ApiError::validation(messages::global_table::peer_member_required("Replicas"))),
            };
            let witnesses: Vec<&str> =
                req.get("Witnesses").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
            let witness_copy = req.get("Witness").and_then(Json::as_bool).unwrap_or(false);
            let from = req.str_opt("From")?.unwrap_or_default();
            // The other replicas' overrides, by region.
            let known: std::collections::HashMap<String, ReplicaOverrides> =
                member(&req, "ReplicaOverrides", "replicas' overrides")?.unwrap_or_default();
            let keys: std::collections::HashMap<String, String> =
                member(&req, "KmsKeys", "replicas' keys")?.unwrap_or_default();
            match a.store.table(&name) {
                // Only a replica of the asking region's global table (a
                // request made again) is taken as it is.
                Ok(t) if t.def.replicas.is_empty() || !t.def.replicas.iter().any(|x| x.region == from) => {
                    return Err(ApiError::validation(messages::global_table::peer_table_exists(&name, &a.region)));
                }
                Ok(_) => {}
                Err(_) => {
                    // A witness's copy is hidden from its first moment.
                    let mut input = crate::dynamodb::control::create_table_input(a, Req(create.0))?;
                    if witness_copy {
                        a.global.hosts_witness.store(true, std::sync::atomic::Ordering::Relaxed);
                        input.settings.witness_copy = true;
                    }
                    let made = a.store.create_table(input)?;
                    // CREATING here until the source region has filled it.
                    super::filling::mark(a, &name, made.def.id)?;
                    if let Some(scaling) = req.get("WriteScaling") {
                        crate::autoscaling::take_write_scaling(a, &name, scaling)?;
                    }
                }
            }
            let own: ReplicaOverrides = member(&req, "OwnOverrides", "a replica's overrides")?.unwrap_or_default();
            let base: Option<ReplicaBase> = member(&req, "Base", "a table's settings")?;
            let ttl = req.str_opt("TimeToLive")?.map(str::to_string);
            let stamps: std::collections::BTreeMap<String, (u64, String)> =
                member(&req, "GroupStamps", "settings' stamps")?.unwrap_or_default();
            let sources = req.obj_opt("Sources")?;
            let source_of = |r: &str| -> (Option<String>, u64) {
                let s = sources.as_ref().and_then(|m| m.get(r));
                let source = s.and_then(|s| s.get("Source")).and_then(Json::as_str).map(str::to_string);
                (source, s.and_then(|s| s.get("Ms")).and_then(Json::as_u64).unwrap_or(now))
            };
            a.store.alter_table(&name, |def| {
                def.settings.multi_region_strong |= strong;
                if ttl.is_some() {
                    def.ttl_attribute = ttl.clone();
                }
                for (key, stamp) in &stamps {
                    let have = def.settings.group_stamps.entry(key.clone()).or_default();
                    if *have < *stamp {
                        *have = stamp.clone();
                    }
                }
                if def.settings.replica_source.is_none() && !from.is_empty() {
                    def.settings.replica_source = Some(from.to_string());
                }
                def.settings.witness_copy = witness_copy;
                // Made with its overrides in place: what it had without
                // them is the table's own.
                if !own.is_unset() && def.settings.replica_base.is_none() {
                    def.settings.own_overrides = own.clone();
                    def.settings.replica_base = base.clone();
                }
                for r in &regions {
                    if !def.replicas.iter().any(|x| &x.region == r) && r != &a.region {
                        let (source, created_ms) = source_of(r);
                        def.replicas.push(ReplicaDef {
                            region: r.clone(),
                            status: "ACTIVE".into(),
                            created_ms,
                            legacy: false,
                            witness: witnesses.contains(&r.as_str()),
                            overrides: known.get(r).cloned().unwrap_or_default(),
                            index_changes: Vec::new(),
                            source,
                            kms_key_arn: keys.get(r).cloned(),
                        });
                    }
                }
                Ok(())
            })?;
            return Ok(json!({}));
        }
        if let Some(join) = req.obj_opt("Join")? {
            super::legacy::join(a, &join)?;
            return Ok(json!({}));
        }
        let name = req.str("TableName")?.to_string();
        if req.get("Leave").is_some() {
            super::legacy::leave(a, &name)?;
            return Ok(json!({}));
        }
        if req.get("Filled").is_some() {
            super::filling::clear(a, &name)?;
            return Ok(json!({}));
        }
        if req.get("ReplicaAutoScaling").is_some() {
            return crate::autoscaling::replica::replica_entry(a, &name);
        }
        // Whether a replica of `name` may be made here: not while a table
        // of the name is here (`refuse_if_taken`).
        if req.get("CanCreate").is_some() {
            return match a.store.table(&name) {
                Ok(_) => Err(replica_refusal(&messages::global_table::replica_exists(&name))),
                Err(_) => Ok(json!({})),
            };
        }
        if req.get("Settings").is_some() {
            super::legacy::apply_settings(a, &req)?;
            return Ok(json!({}));
        }
        let legacy = req.get("Legacy").and_then(Json::as_bool).unwrap_or(false);
        let overrides = |name: &str| -> ApiResult<ReplicaOverrides> {
            Ok(member(&req, name, "a replica's overrides")?.unwrap_or_default())
        };
        if let Some(change) = req.str_opt("IndexChange")? {
            let from = req.str_opt("From")?.unwrap_or_default();
            make_index_change(a, &name, change, from)?;
            return Ok(json!({}));
        }
        if req.get("CanDrop").is_some() {
            return match a.store.table(&name) {
                Ok(t) if t.def.deletion_protection => Err(protected_replica(&name, &a.region)),
                _ => Ok(json!({})),
            };
        }
        if let Some(region) = req.str_opt("ReplicaSettings")? {
            let o = overrides("Overrides")?;
            if region == a.region {
                apply_own_overrides(a, &name, &o)?;
            } else {
                // The later of two regions' updates wins everywhere; one
                // still to be sent from here stays so.
                a.store.alter_table(&name, |def| {
                    // A replica being made here has not got them: this
                    // region sends them on once it is active.
                    let making = def.replicas.iter().any(|x| x.status == "CREATING");
                    if let Some(x) = def.replicas.iter_mut().find(|x| x.region == region)
                        && o.supersedes(&x.overrides)
                    {
                        x.overrides = ReplicaOverrides { unsent: x.overrides.unsent || making, ..o.clone() };
                    }
                    Ok(())
                })?;
            }
            return Ok(json!({}));
        }
        if let Some(region) = req.str_opt("AddReplica")? {
            let o = overrides("Overrides")?;
            a.store.alter_table(&name, |def| {
                if !def.replicas.iter().any(|x| x.region == region) && region != a.region {
                    def.replicas.push(ReplicaDef {
                        region: region.to_string(),
                        status: "ACTIVE".into(),
                        created_ms: now,
                        legacy,
                        witness: req.get("Witness").and_then(Json::as_bool).unwrap_or(false),
                        overrides: o.clone(),
                        index_changes: Vec::new(),
                        source: req.str_opt("Source").ok().flatten().map(str::to_string),
                        kms_key_arn: req.str_opt("KmsKey").ok().flatten().map(str::to_string),
                    });
                }
                Ok(())
            })?;
        } else if let Some(region) = req.str_opt("RemoveReplica")? {
            let t = a.store.alter_table(&name, |def| {
                def.replicas.retain(|x| x.region != region);
                def.settings.multi_region_strong &= !def.replicas.is_empty();
                Ok(())
            })?;
            super::replicator::forget_positions(a, t.def.id, region);
        } else {
            return Err(ApiError::validation(messages::global_table::PEER_TABLE_REQUEST_EMPTY));
        }
        Ok(json!({}))
    })
    .await
}

/// `POST /tidepool/replication/read`: this region's version of an item
/// (`strong.rs`).
async fn read(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    peer_request(app, caller, body, super::strong::read).await
}

/// `POST /tidepool/replication/range`: this region's stamped items in a
/// range of a table's keys (`strong.rs`).
async fn range(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    peer_request(app, caller, body, super::strong::range).await
}

/// `POST /tidepool/replication/claim`: another region's write claims items
/// (`strong.rs`).
async fn claim(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    peer_request(app, caller, body, super::strong::claim_items).await
}

/// `POST /tidepool/replication/drop`: this region's replica is removed.
async fn drop_table(State(app): State<Arc<App>>, caller: Option<Caller>, body: Bytes) -> Response {
    peer_request(app, caller, body, |a, m| {
        let req = Req(m);
        let name = req.str("TableName")?.to_string();
        let from = req.str("From")?.to_string();
        let Ok(t) = a.store.table(&name) else { return Ok(json!({})) };
        // Only a table that is a replica of the asking region's.
        if !t.def.replicas.iter().any(|x| x.region == from) {
            return Err(ApiError::validation(messages::global_table::peer_not_replica(&name, &a.region, &from)));
        }
        // Protection is the replica's own (regional) setting, and holds.
        if t.def.deletion_protection {
            return Err(protected_replica(&name, &a.region));
        }
        a.store.alter_table(&name, |def| {
            def.replicas.clear();
            def.settings.multi_region_strong = false;
            Ok(())
        })?;
        let handle = a.store.drop_replica_table(&name)?;
        super::filling::clear(a, &name)?;
        a.forget_table(&handle.def);
        tracing::info!(table = name, "replica dropped at another region's request");
        Ok(json!({}))
    })
    .await
}
