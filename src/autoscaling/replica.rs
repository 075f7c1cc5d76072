//! DynamoDB's `DescribeTableReplicaAutoScaling` and
//! `UpdateTableReplicaAutoScaling`: a table's auto scaling settings, for its
//! replicas and their global indexes at once, in DynamoDB's shapes, over the
//! same scalable targets and target tracking policies the Application Auto
//! Scaling API keeps, of global tables only (a regional table is not found,
//! as in DynamoDB). A Tidepool server is one region: the replica changed is
//! this server's region; the description lists every region of the table,
//! each as its own server answers for it (`replica_entry`, asked through
//! `global_tables::api::peer_auto_scaling`). Writes are scaled for the
//! table (every replica alike), reads per replica, as DynamoDB splits them.

use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;
use tidepool_store::table::{BillingMode, IndexKind};

use super::{Policy, ScalableTarget};
use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;

const READ: &str = "ReadCapacityUnits";
const WRITE: &str = "WriteCapacityUnits";

/// A table's or index's resource id and the scalable dimension of `units`.
fn target_of(table: &str, index: Option<&str>, units: &str) -> (String, String) {
    match index {
        Some(i) => (format!("table/{table}/index/{i}"), format!("dynamodb:index:{units}")),
        None => (format!("table/{table}"), format!("dynamodb:table:{units}")),
    }
}

/// `AutoScalingSettingsDescription` of one target; one not registered is
/// described as disabled, with no policies (DDB-TABLE-232: so are an
/// on-demand table's).
fn settings(targets: &[ScalableTarget], policies: &[Policy], resource: &str, dimension: &str) -> Json {
    let Some(t) = targets.iter().find(|t| t.resource_id == resource && t.dimension == dimension) else {
        return json!({"AutoScalingDisabled": true, "ScalingPolicies": []});
    };
    let policies: Vec<Json> = policies
        .iter()
        .filter(|p| p.resource_id == resource && p.dimension == dimension)
        .map(|p| {
            json!({
                "PolicyName": p.name,
                "TargetTrackingScalingPolicyConfiguration": {
                    "DisableScaleIn": p.disable_scale_in,
                    "ScaleInCooldown": p.scale_in_cooldown,
                    "ScaleOutCooldown": p.scale_out_cooldown,
                    "TargetValue": p.target,
                },
            })
        })
        .collect();
    // AutoScalingDisabled is named only when true.
    json!({
        "MinimumUnits": t.min,
        "MaximumUnits": t.max,
        "AutoScalingRoleArn": t.role_arn,
        "ScalingPolicies": policies,
    })
}

/// The table named by name or ARN.
fn table_name<'a>(app: &App, r: &Req<'a>) -> ApiResult<String> {
    let name = r.str("TableName")?;
    if name.is_empty() || name.chars().count() > 1024 {
        let constraint =
            if name.is_empty() { messages::request::min_length(1) } else { messages::request::max_length(1024) };
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            name,
            "tableName",
            constraint,
        )])));
    }
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, crate::dynamodb::ACCOUNT_ID);
    Ok(name.strip_prefix(&prefix).map_or(name, |n| n.split('/').next().unwrap_or(n)).to_string())
}

/// `table`, a global table (version 2019.11.21): these operations answer
/// for no other, a missing table included (DDB-TABLE-231, DDB-TABLE-254,
/// DDB-TABLEREPLICAAUTOSCALING-001).
fn global_table(app: &App, table: &str) -> ApiResult<std::sync::Arc<tidepool_store::TableHandle>> {
    match app.store.describe_table(table) {
        Ok(t) if t.def.replicas.iter().any(|r| !r.legacy) => Ok(t),
        _ => Err(ApiError::not_found(messages::global_table::legacy_not_found(table))),
    }
}

/// This region's entry of `table`'s `Replicas` in a
/// `TableAutoScalingDescription`: its settings and its indexes', from this
/// server's targets and policies (a peer region asks for it).
pub(crate) fn replica_entry(app: &App, table: &str) -> ApiResult<Json> {
    entry(app, table, true)
}

/// [`replica_entry`]; without `reads`, with the table's write scaling (every
/// replica's) and no read scaling: another region's entry while it cannot
/// answer for itself (its replica being made, say).
fn entry(app: &App, table: &str, reads: bool) -> ApiResult<Json> {
    let t = app.store.describe_table(table)?;
    let (targets, policies) = (app.targets()?, app.policies()?);
    let settings_of = |index: Option<&str>, units: &str| {
        let (resource, dimension) = target_of(table, index, units);
        if !reads && units == READ {
            return settings(&[], &[], &resource, &dimension);
        }
        settings(&targets, &policies, &resource, &dimension)
    };
    let mut replica = Map::new();
    replica.insert("RegionName".into(), json!(app.region));
    let indexes: Vec<Json> = t
        .def
        .indexes
        .iter()
        .filter(|i| i.kind == IndexKind::Global)
        .map(|i| {
            json!({
                "IndexName": i.name,
                "IndexStatus": "ACTIVE",
                "ProvisionedReadCapacityAutoScalingSettings": settings_of(Some(&i.name), READ),
                "ProvisionedWriteCapacityAutoScalingSettings": settings_of(Some(&i.name), WRITE),
            })
        })
        .collect();
    replica.insert("GlobalSecondaryIndexes".into(), Json::Array(indexes));
    replica.insert("ReplicaProvisionedReadCapacityAutoScalingSettings".into(), settings_of(None, READ));
    replica.insert("ReplicaProvisionedWriteCapacityAutoScalingSettings".into(), settings_of(None, WRITE));
    replica.insert("ReplicaStatus".into(), json!("ACTIVE"));
    Ok(Json::Object(replica))
}

/// The `TableAutoScalingDescription` of `table`: an entry for each of its
/// regions, this one's included, in the order of their names (DDB-TABLE-232,
/// DDB-TABLE-265), each with its status as this region knows it. A region
/// that does not answer (or has no table yet) is listed as [`entry`]
/// without reads describes it.
fn description(app: &App, table: &str) -> ApiResult<Json> {
    let t = global_table(app, table)?;
    let mut replicas = vec![replica_entry(app, table)?];
    for r in t.def.replicas.iter().filter(|r| !r.legacy && !r.witness) {
        let answer = crate::global_tables::api::peer_auto_scaling(app, table, &r.region).filter(Json::is_object);
        let mut entry = match answer {
            Some(e) => e,
            None => entry(app, table, false)?,
        };
        entry["RegionName"] = json!(r.region);
        entry["ReplicaStatus"] = json!(r.status);
        replicas.push(entry);
    }
    replicas.sort_by(|a, b| a["RegionName"].as_str().cmp(&b["RegionName"].as_str()));
    let status = if t.is_restoring() { "CREATING" } else { "ACTIVE" };
    Ok(json!({
        "TableAutoScalingDescription": {
            "TableName": table,
            "TableStatus": status,
            "Replicas": replicas,
        }
    }))
}

/// `DescribeTableReplicaAutoScaling`.
pub fn describe(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = table_name(app, &r)?;
    description(app, &table)
}

/// The faults the Application Auto Scaling operations would find in one
/// `AutoScalingSettingsUpdate`, found before any update of the request is
/// applied (so a request changes all it names or nothing).
fn check(app: &App, table: &str, index: Option<&str>, units: &str, update: &Req<'_>) -> ApiResult<()> {
    let (resource, dimension) = target_of(table, index, units);
    if update.bool_opt("AutoScalingDisabled")? == Some(true) {
        return Ok(());
    }
    update.str_opt("AutoScalingRoleArn")?;
    let existing = app.target(&dimension, &resource)?;
    let bound = |name: &str| -> ApiResult<Option<u64>> {
        match update.int_opt(name)? {
            Some(v) if v < 1 || v > i64::from(i32::MAX) => {
                Err(ApiError::validation(messages::global_table::scaling_units_out_of_range(name, i32::MAX, v)))
            }
            v => Ok(v.map(|v| v as u64)),
        }
    };
    let (min, max) = (bound("MinimumUnits")?, bound("MaximumUnits")?);
    let (Some(min), Some(max)) = (min.or(existing.as_ref().map(|t| t.min)), max.or(existing.as_ref().map(|t| t.max)))
    else {
        return Err(ApiError::validation(messages::global_table::scaling_bounds_required(&resource, &dimension)));
    };
    if min > max {
        return Err(ApiError::validation(messages::global_table::SCALING_MIN_ABOVE_MAX));
    }
    // Capacity brought within the bounds must be a change DynamoDB takes.
    let (current, _) = app.provisioned(&resource, &dimension)?;
    let within = current.clamp(min, max);
    if within < current {
        let t = app.store.describe_table(table)?;
        let (key, have) = match index {
            Some(i) => (i, t.def.index(i).and_then(|x| x.throughput)),
            None => ("", t.def.throughput),
        };
        if let (Some(have), Some(c)) = (have, t.def.settings.throughput_changes.get(key)) {
            let mut want = have;
            if units == READ {
                want.read = within;
            } else {
                want.write = within;
            }
            c.check(have, want, super::now_secs())?;
        }
    }
    let Some(policy) = update.obj_opt("ScalingPolicyUpdate")? else { return Ok(()) };
    let config = policy.obj_opt("TargetTrackingScalingPolicyConfiguration")?.ok_or_else(no_configuration)?;
    match config.get("TargetValue").and_then(Json::as_f64) {
        Some(v) if (20.0..=90.0).contains(&v) => {}
        Some(v) => {
            return Err(ApiError::validation(messages::global_table::scaling_target_out_of_range(v)));
        }
        None => return Err(ApiError::validation(messages::global_table::SCALING_TARGET_REQUIRED)),
    }
    config.bool_opt("DisableScaleIn")?;
    for name in ["ScaleInCooldown", "ScaleOutCooldown"] {
        if let Some(v) = config.int_opt(name)?.filter(|v| !(0..=31_536_000).contains(v)) {
            return Err(ApiError::validation(messages::global_table::scaling_cooldown_out_of_range(name, v)));
        }
    }
    if let Some(name) = policy.str_opt("PolicyName")? {
        if name.is_empty() || name.chars().count() > 256 {
            return Err(ApiError::validation(messages::request::envelope([messages::request::unechoed_at(
                "policyName",
                messages::request::length_between(1, 256),
            )])));
        }
        let other = app.policies()?.into_iter().find(|p| p.resource_id == resource && p.dimension == dimension);
        if let Some(p) = other.filter(|p| p.name != name) {
            return Err(ApiError::validation(messages::global_table::scaling_policy_exists(
                &resource, &dimension, &p.name,
            )));
        }
    }
    Ok(())
}

/// A `ScalingPolicyUpdate` without its `TargetTrackingScalingPolicyConfiguration`.
fn no_configuration() -> ApiError {
    ApiError::validation(messages::request::envelope([messages::request::null_at(
        "targetTrackingScalingPolicyConfiguration",
    )]))
}

/// One `AutoScalingSettingsUpdate` of a table's or index's `units`, applied
/// through the Application Auto Scaling operations (so their checks hold).
fn apply(app: &App, table: &str, index: Option<&str>, units: &str, update: &Req<'_>) -> ApiResult<()> {
    let (resource, dimension) = target_of(table, index, units);
    let base = |m: &mut Map<String, Json>| {
        m.insert("ServiceNamespace".into(), json!("dynamodb"));
        m.insert("ResourceId".into(), json!(resource));
        m.insert("ScalableDimension".into(), json!(dimension));
    };
    if update.bool_opt("AutoScalingDisabled")? == Some(true) {
        if app.target(&dimension, &resource)?.is_some() {
            let mut m = Map::new();
            base(&mut m);
            super::deregister(app, Req(&m))?;
        }
        return Ok(());
    }
    let mut m = Map::new();
    base(&mut m);
    for (from, to) in
        [("MinimumUnits", "MinCapacity"), ("MaximumUnits", "MaxCapacity"), ("AutoScalingRoleArn", "RoleARN")]
    {
        if let Some(v) = update.get(from) {
            m.insert(to.into(), v.clone());
        }
    }
    super::register(app, Req(&m))?;
    let Some(policy) = update.obj_opt("ScalingPolicyUpdate")? else { return Ok(()) };
    let config = policy.obj_opt("TargetTrackingScalingPolicyConfiguration")?.ok_or_else(no_configuration)?;
    let metric = if units == READ { "DynamoDBReadCapacityUtilization" } else { "DynamoDBWriteCapacityUtilization" };
    // The target's policy keeps its name unless another is given.
    let existing = app.policies()?.into_iter().find(|p| p.resource_id == resource && p.dimension == dimension);
    let name = match (policy.str_opt("PolicyName")?, existing) {
        (Some(n), _) => n.to_string(),
        (None, Some(p)) => p.name,
        (None, None) => format!("{metric}:{resource}"),
    };
    let mut configuration = config.0.clone();
    configuration.insert("PredefinedMetricSpecification".into(), json!({"PredefinedMetricType": metric}));
    let mut m = Map::new();
    base(&mut m);
    m.insert("PolicyName".into(), json!(name));
    m.insert("PolicyType".into(), json!("TargetTrackingScaling"));
    m.insert("TargetTrackingScalingPolicyConfiguration".into(), Json::Object(configuration));
    super::put_policy(app, Req(&m))?;
    Ok(())
}

/// `UpdateTableReplicaAutoScaling`: the table's and its global indexes'
/// write scaling, and each replica's read scaling (this server's region
/// only).
pub fn update(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = table_name(app, &r)?;
    let t = global_table(app, &table)?;
    let gsi = |name: &str| -> ApiResult<()> {
        match t.def.index(name) {
            Some(i) if i.kind == IndexKind::Global => Ok(()),
            _ => Err(ApiError::not_found(messages::table::index_not_found(name, &table))),
        }
    };
    // Every part, each named thing checked: (index, units, settings).
    let mut parts: Vec<(Option<&str>, &str, Req<'_>)> = Vec::new();
    if let Some(u) = r.obj_opt("ProvisionedWriteCapacityAutoScalingUpdate")? {
        parts.push((None, WRITE, u));
    }
    for u in r.objects("GlobalSecondaryIndexUpdates")? {
        let index = u.str("IndexName")?;
        gsi(index)?;
        if let Some(s) = u.obj_opt("ProvisionedWriteCapacityAutoScalingUpdate")? {
            parts.push((Some(index), WRITE, s));
        }
    }
    for u in r.objects("ReplicaUpdates")? {
        let region = u.str("RegionName")?;
        if region != app.region {
            return Err(ApiError::validation(messages::global_table::scaling_other_region(
                &table,
                region,
                &app.region,
            )));
        }
        if let Some(s) = u.obj_opt("ReplicaProvisionedReadCapacityAutoScalingUpdate")? {
            parts.push((None, READ, s));
        }
        for i in u.objects("ReplicaGlobalSecondaryIndexUpdates")? {
            let index = i.str("IndexName")?;
            gsi(index)?;
            if let Some(s) = i.obj_opt("ProvisionedReadCapacityAutoScalingUpdate")? {
                parts.push((Some(index), READ, s));
            }
        }
    }
    // An on-demand table has nothing to scale: only taking scaling away
    // is taken (DDB-TABLE-190).
    if t.def.billing_mode != BillingMode::Provisioned {
        for (_, _, update) in &parts {
            if update.bool_opt("AutoScalingDisabled")? != Some(true) {
                return Err(ApiError::validation(messages::global_table::scaling_on_demand(&table)));
            }
        }
    }
    // Every part is checked before any changes.
    for (index, units, update) in &parts {
        check(app, &table, *index, units, update)?;
    }
    for (index, units, update) in &parts {
        apply(app, &table, *index, units, update)?;
    }
    description(app, &table)
}
