//! Global tables version 2017.11.29 (legacy): `CreateGlobalTable`,
//! `DescribeGlobalTable`, `UpdateGlobalTable`, `ListGlobalTables`,
//! `DescribeGlobalTableSettings`, `UpdateGlobalTableSettings`.
//!
//! A legacy global table is made of tables the user created in each region
//! (same name and keys, a `NEW_AND_OLD_IMAGES` stream, no items), joined by
//! CreateGlobalTable or UpdateGlobalTable in one of them. Once joined they
//! replicate exactly as version 2019.11.21 replicas do (`replicator.rs`);
//! what differs is the API: their replicas are `legacy` (DescribeTable
//! does not list them), the group is described by the operations here, and
//! removing a region leaves its table in place, out of the group.
//!
//! Each region keeps `lgt/<name>` (the creation time) in its system
//! entries; the group is this region and the table's replicas.

use serde_json::{Value as Json, json};
use tidepool_store::messages;
use tidepool_store::now_ms;
use tidepool_store::replication::ReplicaDef;
use tidepool_store::table::{BillingMode, StreamViewType};

use super::api::TABLE_PATH;
use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;

fn record_key(name: &str) -> Vec<u8> {
    format!("lgt/{name}").into_bytes()
}

fn error(kind: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, kind, message)
}

fn not_found(name: &str) -> ApiError {
    error("GlobalTableNotFoundException", messages::global_table::legacy_not_found(name))
}

fn created(app: &App, name: &str) -> ApiResult<Option<f64>> {
    Ok(app.store.sys_get(&record_key(name))?.and_then(|v| String::from_utf8(v).ok()).and_then(|s| s.parse().ok()))
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

/// The regions of `name`'s group, this one first.
fn group(app: &App, name: &str) -> Vec<String> {
    let mut regions = vec![app.region.clone()];
    if let Ok(t) = app.store.table(name) {
        regions.extend(t.def.replicas.iter().filter(|r| r.legacy).map(|r| r.region.clone()));
    }
    regions
}

fn description(app: &App, name: &str, status: &str) -> ApiResult<Json> {
    let created = created(app, name)?.ok_or_else(|| {
        error("GlobalTableNotFoundException", messages::global_table::legacy_described_not_found(name))
    })?;
    let mut regions = group(app, name);
    regions.sort();
    let group: Vec<Json> = regions.iter().map(|r| json!({"RegionName": r})).collect();
    Ok(json!({
        "ReplicationGroup": group,
        "GlobalTableArn": format!("arn:aws:dynamodb::{}:global-table/{name}", crate::dynamodb::ACCOUNT_ID),
        "CreationDateTime": created,
        "GlobalTableStatus": status,
        "GlobalTableName": name,
    }))
}

/// One request to a peer region, answered now: its refusal in its own
/// words, or `ServiceUnavailable` (retryable) when it does not answer.
fn call_peer(app: &App, region: &str, body: Json) -> ApiResult<()> {
    // The request runs on the server's runtime; this thread (a blocking
    // one, or a handler's, inside its own executor) only waits for it.
    let Some(rt) = app.global.runtime.get() else {
        return Err(unavailable(region, messages::global_table::SERVER_STARTING));
    };
    let peer =
        app.global.peer(region).ok_or_else(|| ApiError::validation(messages::global_table::not_a_peer(region)))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let body = body.to_string().into_bytes();
    rt.spawn(async move {
        let _ = tx.send(peer.post(TABLE_PATH, body).await);
    });
    let sent = rx.recv().unwrap_or_else(|_| Err(anyhow::anyhow!(messages::server::STOPPING)));
    match sent {
        Ok((200, _)) => Ok(()),
        Ok((status, answer)) if (400..500).contains(&status) => {
            let j: Json = serde_json::from_slice(&answer).unwrap_or(Json::Null);
            let kind = j["__type"].as_str().and_then(|t| t.rsplit('#').next()).unwrap_or("ValidationException");
            let message =
                j["message"].as_str().or_else(|| j["Message"].as_str()).unwrap_or(messages::global_table::REFUSED);
            Err(error(kind, messages::global_table::region_refused(region, message)))
        }
        Ok((status, _)) => Err(unavailable(region, &messages::global_table::http_status(status))),
        Err(e) => Err(unavailable(region, &e.to_string())),
    }
}

fn unavailable(region: &str, why: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        messages::global_table::region_unavailable(region, why),
    )
}

/// Checks that `name` here may join a legacy group: it exists, has the
/// stream replication reads, no items, and is in no other global table.
fn check_joinable(app: &App, name: &str) -> ApiResult<std::sync::Arc<tidepool_store::TableHandle>> {
    let t = app.store.table(name).map_err(|_| crate::dynamodb::backup::table_not_found(name))?;
    if t.def.stream.as_ref().is_none_or(|s| s.view_type != StreamViewType::NewAndOldImages) {
        return Err(ApiError::validation(messages::global_table::legacy_needs_both_images(name, &app.region)));
    }
    if !t.def.replicas.is_empty() {
        return Err(error(
            "GlobalTableAlreadyExistsException",
            messages::global_table::already_a_replica(name, &app.region),
        ));
    }
    if !app.store.stamped_items(name, None, 1, 1)?.0.is_empty() {
        return Err(ApiError::validation(messages::global_table::legacy_needs_empty_table(name, &app.region)));
    }
    Ok(t)
}

fn key_schema(t: &tidepool_store::TableHandle) -> Json {
    crate::dynamodb::control::key_schema_json(&t.def.key_schema)
}

/// [`check_joinable`], and the keys `keys` (the asking region's) if given.
fn check_join(app: &App, name: &str, keys: Option<&Json>) -> ApiResult<std::sync::Arc<tidepool_store::TableHandle>> {
    let t = check_joinable(app, name)?;
    if keys.is_some_and(|k| *k != key_schema(&t)) {
        return Err(ApiError::validation(messages::global_table::other_key_schema(name, &app.region)));
    }
    Ok(t)
}

/// A region's entry in a legacy group's replicas, joined at `now_ms`.
fn legacy_member(region: &str, now_ms: u64) -> ReplicaDef {
    ReplicaDef {
        region: region.to_string(),
        status: "ACTIVE".into(),
        created_ms: now_ms,
        legacy: true,
        witness: false,
        overrides: Default::default(),
        index_changes: Vec::new(),
        source: None,
        kms_key_arn: None,
    }
}

/// Makes this region's table a member of a legacy group (`Join` from a
/// peer, or this region itself).
fn join_here(app: &App, name: &str, regions: &[String], keys: Option<&Json>) -> ApiResult<()> {
    check_join(app, name, keys)?;
    let now = now_ms();
    app.store.alter_table(name, |def| {
        for r in regions.iter().filter(|r| **r != app.region) {
            if !def.replicas.iter().any(|x| &x.region == r) {
                def.replicas.push(legacy_member(r, now));
            }
        }
        Ok(())
    })?;
    if created(app, name)?.is_none() {
        app.store.sys_write(vec![(record_key(name), Some(now_secs().to_string().into_bytes()))])?;
    }
    Ok(())
}

/// A peer's `Join`: `TableName`, `Regions`, `KeySchema`; with `Check`,
/// only whether this region's table could join, changing nothing.
pub(super) fn join(app: &App, r: &Req<'_>) -> ApiResult<()> {
    let name = r.str("TableName")?;
    if r.get("Check").and_then(Json::as_bool) == Some(true) {
        return check_join(app, name, r.get("KeySchema")).map(|_| ());
    }
    let regions: Vec<String> = match r.get("Regions") {
        Some(Json::Array(l)) => l.iter().filter_map(Json::as_str).map(str::to_string).collect(),
        _ => return Err(ApiError::validation(messages::global_table::peer_member_required("Regions"))),
    };
    join_here(app, name, &regions, r.get("KeySchema"))
}

/// A peer's `Leave`: this region's table leaves its legacy group and stays.
pub(super) fn leave(app: &App, name: &str) -> ApiResult<()> {
    let t = app.store.alter_table(name, |def| {
        def.replicas.retain(|x| !x.legacy);
        Ok(())
    })?;
    for r in super::api::regions_of(&t) {
        super::replicator::forget_positions(app, t.def.id, &r);
    }
    app.store.sys_write(vec![(record_key(name), None)])?;
    Ok(())
}

fn regions_input(r: &Req<'_>) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for g in r.objects("ReplicationGroup")? {
        let region = g.str("RegionName")?.to_string();
        if !out.contains(&region) {
            out.push(region);
        }
    }
    Ok(out)
}

/// A global table's name (2017.11.29), refused in the words these
/// operations use.
fn global_table_name<'a>(r: &Req<'a>) -> ApiResult<&'a str> {
    let name = r.str("GlobalTableName")?;
    if !(3..=255).contains(&name.chars().count()) {
        return Err(ApiError::validation(messages::backup::TARGET_NAME_LENGTH));
    }
    Ok(name)
}

pub fn create_global_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = global_table_name(&r)?.to_string();
    let regions = regions_input(&r)?;
    if created(app, &name)?.is_some() {
        return Err(error("GlobalTableAlreadyExistsException", messages::global_table::LEGACY_EXISTS));
    }
    if !regions.contains(&app.region) {
        return Err(ApiError::validation(messages::global_table::group_without_this_region(&app.region)));
    }
    let t = check_joinable(app, &name)?;
    let keys = key_schema(&t);
    // All or nothing: every region is asked whether its table can join
    // before any joins, and one that joined is taken out again if a later
    // one refuses (its table changed meanwhile) or does not answer.
    let peers: Vec<&String> = regions.iter().filter(|r| **r != app.region).collect();
    for region in &peers {
        let body = json!({"Join": {"TableName": name, "Regions": regions, "KeySchema": keys, "Check": true}, "From": app.region});
        call_peer(app, region, body)?;
    }
    let mut joined: Vec<&String> = Vec::new();
    let mut outcome = Ok(());
    for region in &peers {
        let body = json!({"Join": {"TableName": name, "Regions": regions, "KeySchema": keys}, "From": app.region});
        outcome = call_peer(app, region, body);
        if outcome.is_err() {
            break;
        }
        joined.push(region);
    }
    if outcome.is_ok() {
        outcome = join_here(app, &name, &regions, None);
    }
    if let Err(e) = outcome {
        for region in joined {
            if let Err(why) = call_peer(app, region, json!({"TableName": name, "Leave": true})) {
                let error = why.message;
                tracing::warn!(
                    table = name,
                    region,
                    error,
                    "a region did not leave a failed global table (2017.11.29)"
                );
            }
        }
        return Err(e);
    }
    tracing::info!(table = name, ?regions, "global table (2017.11.29) created");
    Ok(json!({"GlobalTableDescription": description(app, &name, "CREATING")?}))
}

pub fn describe_global_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = global_table_name(&r)?;
    Ok(json!({"GlobalTableDescription": description(app, name, "ACTIVE")?}))
}

/// One replica change of an UpdateGlobalTable.
enum Step {
    Join(String),
    Leave(String),
}

/// UpdateGlobalTable: every update is checked, in order and against the
/// group as the ones before it leave it, and every region joining asked
/// whether its table can (`Join` with `Check`), before any is made; a
/// request with one bad update changes nothing. This region leaving is
/// done last.
pub fn update_global_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = global_table_name(&r)?.to_string();
    let updates = r.objects("ReplicaUpdates")?;
    // None at all, or one with neither action, is refused bare, before
    // the lookup (DDB-GLOBALTABLE-004).
    if updates.is_empty() || updates.iter().any(|u| u.get("Create").is_none() && u.get("Delete").is_none()) {
        return Err(ApiError::validation(messages::global_table::PARAMETER_VALUES_INVALID));
    }
    if created(app, &name)?.is_none() {
        return Err(not_found(&name));
    }
    let mut members = group(app, &name);
    let mut steps = Vec::new();
    for u in &updates {
        if let Some(c) = u.obj_opt("Create")? {
            let region = c.str("RegionName")?.to_string();
            if members.contains(&region) {
                return Err(error(
                    "ReplicaAlreadyExistsException",
                    messages::global_table::legacy_replica_exists(&region),
                ));
            }
            members.push(region.clone());
            steps.push(Step::Join(region));
        } else if let Some(d) = u.obj_opt("Delete")? {
            let region = d.str("RegionName")?.to_string();
            if !members.contains(&region) {
                return Err(error(
                    "ReplicaNotFoundException",
                    messages::global_table::legacy_replica_not_found(&region),
                ));
            }
            members.retain(|m| *m != region);
            steps.push(Step::Leave(region));
        } else {
            return Err(ApiError::validation(messages::global_table::LEGACY_UPDATE_WITHOUT_ACTION));
        }
    }
    let joining: Vec<&String> =
        steps.iter().filter_map(|s| if let Step::Join(r) = s { Some(r) } else { None }).collect();
    if !joining.is_empty() {
        // A region joins only a global table with no data, as DynamoDB
        // requires (there is no fill in version 2017.11.29).
        if !app.store.stamped_items(&name, None, 1, 1)?.0.is_empty() {
            return Err(ApiError::validation(messages::global_table::legacy_group_has_items(&name)));
        }
        let keys = key_schema(&*app.store.table(&name)?);
        for region in &joining {
            let body = json!({"Join": {"TableName": name, "KeySchema": keys, "Check": true}, "From": app.region});
            call_peer(app, region, body)?;
        }
    }
    let mut leaves = false;
    for step in steps {
        match step {
            Step::Join(region) => join_region(app, &name, &region)?,
            Step::Leave(region) if region == app.region => leaves = true,
            Step::Leave(region) => remove_region(app, &name, &region)?,
        }
    }
    if leaves {
        // This region leaves; the others forget it.
        let members = group(app, &name);
        for other in members.iter().filter(|m| **m != app.region) {
            call_peer(app, other, json!({"TableName": name, "RemoveReplica": app.region}))?;
        }
        leave(app, &name)?;
        return Ok(json!({"GlobalTableDescription": {
            "ReplicationGroup": members.iter().filter(|m| **m != app.region).map(|m| json!({"RegionName": m})).collect::<Vec<_>>(),
            "GlobalTableName": name,
            "GlobalTableStatus": "UPDATING",
        }}));
    }
    Ok(json!({"GlobalTableDescription": description(app, &name, "UPDATING")?}))
}

/// `region` joins the group of `name` (checked by the caller): its table
/// first, then the other members, then this region.
fn join_region(app: &App, name: &str, region: &str) -> ApiResult<()> {
    let members = group(app, name);
    let t = app.store.table(name)?;
    let mut regions = members.clone();
    regions.push(region.to_string());
    let body =
        json!({"Join": {"TableName": name, "Regions": regions, "KeySchema": key_schema(&t)}, "From": app.region});
    call_peer(app, region, body)?;
    for other in members.iter().filter(|m| **m != app.region) {
        call_peer(app, other, json!({"TableName": name, "AddReplica": region, "Legacy": true}))?;
    }
    let now = now_ms();
    app.store.alter_table(name, |def| {
        def.replicas.push(legacy_member(region, now));
        Ok(())
    })?;
    Ok(())
}

/// Another region leaves the group of `name`: its table stays, out of it.
fn remove_region(app: &App, name: &str, region: &str) -> ApiResult<()> {
    let members = group(app, name);
    call_peer(app, region, json!({"TableName": name, "Leave": true}))?;
    for other in members.iter().filter(|m| **m != app.region && *m != region) {
        call_peer(app, other, json!({"TableName": name, "RemoveReplica": region}))?;
    }
    let t = app.store.alter_table(name, |def| {
        def.replicas.retain(|x| x.region != region);
        Ok(())
    })?;
    super::replicator::forget_positions(app, t.def.id, region);
    Ok(())
}

pub fn list_global_tables(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let start = r.str_opt("ExclusiveStartGlobalTableName")?;
    let limit = match r.get("Limit").and_then(Json::as_i64) {
        Some(l) if l < 1 => {
            return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                l,
                "limit",
                messages::request::min_value(1),
            )])));
        }
        Some(l) => l.min(100) as usize,
        None => 100,
    };
    let in_region = r.str_opt("RegionName")?;
    let mut names: Vec<String> = app
        .store
        .sys_scan(b"lgt/")?
        .into_iter()
        .filter_map(|(k, _)| String::from_utf8(k[4..].to_vec()).ok())
        .filter(|n| start.is_none_or(|s| n.as_str() > s))
        .collect();
    names.sort();
    let mut out = Vec::new();
    let mut last = None;
    for name in names {
        let regions = group(app, &name);
        if in_region.is_some_and(|r| !regions.iter().any(|x| x == r)) {
            continue;
        }
        if out.len() == limit {
            last = out.last().and_then(|g: &Json| g["GlobalTableName"].as_str().map(str::to_string));
            break;
        }
        let group: Vec<Json> = regions.iter().map(|r| json!({"RegionName": r})).collect();
        out.push(json!({"GlobalTableName": name, "ReplicationGroup": group}));
    }
    let mut answer = json!({"GlobalTables": out});
    if let Some(l) = last {
        answer["LastEvaluatedGlobalTableName"] = json!(l);
    }
    Ok(answer)
}

fn settings(app: &App, name: &str) -> ApiResult<Json> {
    if created(app, name)?.is_none() {
        return Err(not_found(name));
    }
    let t = app.store.table(name)?;
    let provisioned = t.def.billing_mode == BillingMode::Provisioned;
    let mut regions = group(app, name);
    regions.sort();
    // Every replica has the same settings: UpdateGlobalTableSettings sets
    // them in every region.
    let replica = |region: &String| {
        let mut s = json!({
            "RegionName": region,
            "ReplicaStatus": "ACTIVE",
            "ReplicaBillingModeSummary": {"BillingMode": if provisioned { "PROVISIONED" } else { "PAY_PER_REQUEST" }},
        });
        if let Some(tp) = t.def.throughput.filter(|_| provisioned) {
            s["ReplicaProvisionedReadCapacityUnits"] = json!(tp.read);
            s["ReplicaProvisionedWriteCapacityUnits"] = json!(tp.write);
        }
        let gsis: Vec<Json> = t
            .def
            .gsis()
            .map(|i| {
                let mut g = json!({"IndexName": i.name, "IndexStatus": "ACTIVE"});
                if let Some(tp) = i.throughput.filter(|_| provisioned) {
                    g["ProvisionedReadCapacityUnits"] = json!(tp.read);
                    g["ProvisionedWriteCapacityUnits"] = json!(tp.write);
                }
                g
            })
            .collect();
        if !gsis.is_empty() {
            s["ReplicaGlobalSecondaryIndexSettings"] = Json::Array(gsis);
        }
        s
    };
    Ok(json!({"GlobalTableName": name, "ReplicaSettings": regions.iter().map(replica).collect::<Vec<_>>()}))
}

pub fn describe_global_table_settings(app: &App, r: Req<'_>) -> ApiResult<Json> {
    settings(app, global_table_name(&r)?)
}

/// Billing mode and write capacity for the whole group: applied here and
/// sent to every other region, which applies it to its table.
pub fn update_global_table_settings(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let name = global_table_name(&r)?.to_string();
    for (i, u) in r.objects("ReplicaSettingsUpdate")?.iter().enumerate() {
        if u.get("RegionName").is_none() {
            return Err(ApiError::validation(messages::request::envelope([messages::request::null_at(format!(
                "replicaSettingsUpdate.{}.member.regionName",
                i + 1
            ))])));
        }
    }
    if created(app, &name)?.is_none() {
        return Err(not_found(&name));
    }
    let billing = r.enum_opt("GlobalTableBillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])?;
    let write = r.get("GlobalTableProvisionedWriteCapacityUnits").and_then(Json::as_i64);
    if billing.is_none() && write.is_none() {
        return Err(ApiError::validation(messages::global_table::LEGACY_SETTINGS_CHANGE_REQUIRED));
    }
    let apply = json!({"TableName": name, "Settings": {"BillingMode": billing, "WriteCapacityUnits": write}});
    apply_settings(app, &Req(apply.as_object().expect("an object")))?;
    for other in group(app, &name).iter().filter(|m| **m != app.region) {
        call_peer(app, other, apply.clone())?;
    }
    settings(app, &name)
}

/// `Settings` (`BillingMode`, `WriteCapacityUnits`) applied to this
/// region's table of a legacy group.
pub(super) fn apply_settings(app: &App, r: &Req<'_>) -> ApiResult<()> {
    let name = r.str("TableName")?;
    let s = r
        .obj_opt("Settings")?
        .ok_or_else(|| ApiError::validation(messages::global_table::peer_member_required("Settings")))?;
    let billing = match s.str_opt("BillingMode")? {
        Some("PROVISIONED") => Some(BillingMode::Provisioned),
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        _ => None,
    };
    let t = app.store.table(name)?;
    let write = s.get("WriteCapacityUnits").and_then(Json::as_i64);
    let mode = billing.unwrap_or(t.def.billing_mode);
    let throughput = match mode {
        BillingMode::PayPerRequest => None,
        BillingMode::Provisioned => {
            let old = t.def.throughput.unwrap_or(tidepool_store::table::Throughput { read: 5, write: 5 });
            let write = write.map_or(old.write, |w| w.max(1) as u64);
            Some(tidepool_store::table::Throughput { read: old.read, write })
        }
    };
    app.store.set_billing(name, billing, throughput)?;
    Ok(())
}
