//! Application Auto Scaling for DynamoDB, on the DynamoDB port: the JSON
//! 1.1 protocol with `X-Amz-Target: AnyScaleFrontendService.<Operation>`,
//! so `aws application-autoscaling` and the SDKs work unchanged.
//!
//! Scalable targets and target tracking policies are system entries
//! (`aas/t/…`, `aas/p/…`); a task ([`run`]) observes each policy's table
//! or index once a minute and applies what [`controller::observe`]
//! decides, recording each scaling activity (the last
//! [`MAX_ACTIVITIES`], in memory).

pub mod controller;
pub mod replica;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_store::table::{BillingMode, Throughput};

use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;
use controller::{Alarms, Decision, Decreases, Tracking};

/// The API name in `X-Amz-Target`.
pub const TARGET_API: &str = "AnyScaleFrontendService";
/// Its protocol's content type (AWS JSON 1.1).
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The operations served; any other is `UnknownOperationException`.
pub const OPERATIONS: [&str; 7] = [
    "RegisterScalableTarget",
    "DescribeScalableTargets",
    "DeregisterScalableTarget",
    "PutScalingPolicy",
    "DescribeScalingPolicies",
    "DeleteScalingPolicy",
    "DescribeScalingActivities",
];
/// Scaling activities kept (newest first), across targets.
pub const MAX_ACTIVITIES: usize = 1000;
/// Scalable targets at most (AWS's default quota per namespace is 3,000).
pub const MAX_TARGETS: usize = 3000;
/// How often policies are evaluated: CloudWatch's one-minute datapoints.
pub const EVALUATION_PERIOD: Duration = Duration::from_secs(60);
/// Results per page of the Describe operations at most (AWS's 50).
const MAX_RESULTS: usize = 50;

const TARGET_PREFIX: &str = "aas/t/";
const POLICY_PREFIX: &str = "aas/p/";

/// A registered scalable target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalableTarget {
    pub resource_id: String,
    pub dimension: String,
    pub min: u64,
    pub max: u64,
    pub role_arn: String,
    pub created: f64,
    pub suspended: Suspended,
    pub id: String,
}

/// A target tracking policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub resource_id: String,
    pub dimension: String,
    pub id: String,
    pub created: f64,
    /// The configuration as given (echoed by DescribeScalingPolicies).
    pub configuration: Json,
    pub target: f64,
    pub scale_out_cooldown: u64,
    pub scale_in_cooldown: u64,
    pub disable_scale_in: bool,
}

/// One scaling activity.
#[derive(Debug, Clone, PartialEq)]
struct Activity {
    id: String,
    resource_id: String,
    dimension: String,
    description: String,
    cause: String,
    time: f64,
    message: String,
    /// `Successful`, or `Failed` (DynamoDB refused the change).
    status: &'static str,
}

/// The controller's state per target: alarms, decreases, and the baseline
/// of the last observation (the consumed units counted then, when, and of
/// which table: a table deleted and made again starts a new baseline).
#[derive(Default)]
struct Watch {
    alarms: Alarms,
    decreases: Decreases,
    baseline: Option<(f64, u64, u64)>,
}

/// A gap between observations past which the last one is no baseline (a
/// late tick, a table that was on-demand or missing meanwhile): seconds.
const MAX_GAP_SECS: u64 = 90;

/// Activities and the controller's state.
#[derive(Default)]
pub struct AutoScaling {
    activities: Mutex<VecDeque<Activity>>,
    watches: Mutex<HashMap<(String, String), Watch>>,
    /// Held by every change of targets and policies and by each applied
    /// decision, so none of them interleave.
    changes: Mutex<()>,
}

impl AutoScaling {
    fn forget(&self, resource: &str, dimension: &str) {
        self.watches.lock().unwrap_or_else(|e| e.into_inner()).remove(&(resource.to_string(), dimension.to_string()));
    }

    fn changing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A target's `SuspendedState`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Suspended {
    pub scale_in: bool,
    pub scale_out: bool,
    pub scheduled: bool,
}

impl Suspended {
    /// `SuspendedState` as given, over `self` (members left out keep their
    /// value, as AWS merges them).
    fn merged(mut self, r: &Req<'_>) -> ApiResult<Suspended> {
        if let Some(s) = r.obj_opt("SuspendedState")? {
            self.scale_in = s.bool_opt("DynamicScalingInSuspended")?.unwrap_or(self.scale_in);
            self.scale_out = s.bool_opt("DynamicScalingOutSuspended")?.unwrap_or(self.scale_out);
            self.scheduled = s.bool_opt("ScheduledScalingSuspended")?.unwrap_or(self.scheduled);
        }
        Ok(self)
    }

    fn json(self) -> Json {
        json!({"DynamicScalingInSuspended": self.scale_in, "DynamicScalingOutSuspended": self.scale_out,
            "ScheduledScalingSuspended": self.scheduled})
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ObjectNotFoundException", message)
}

/// Whether a table's write capacity (or, with `index`, one of its global
/// indexes') is auto scaled: a scalable target with a scaling policy on its
/// write dimension, as DynamoDB requires of every write dimension of a
/// provisioned table before it takes a replica.
pub fn writes_autoscaled(app: &App, table: &str, index: Option<&str>) -> bool {
    let (dimension, resource) = match index {
        None => ("dynamodb:table:WriteCapacityUnits", format!("table/{table}")),
        Some(i) => ("dynamodb:index:WriteCapacityUnits", format!("table/{table}/index/{i}")),
    };
    let target = app.target(dimension, &resource).ok().flatten().is_some();
    let policies = app.store.sys_scan(&key(POLICY_PREFIX, dimension, &resource, Some("")));
    target && policies.is_ok_and(|p| !p.is_empty())
}

/// Whether a target or policy on `resource` and `dimension` is on the write
/// capacity of `table` or of one of its global indexes.
fn on_writes_of(table: &str, resource: &str, dimension: &str) -> bool {
    let own = format!("table/{table}");
    dimension.ends_with(":WriteCapacityUnits")
        && (resource == own || resource.strip_prefix(&own).is_some_and(|r| r.starts_with("/index/")))
}

/// The auto scaling of `table`'s write capacity (and its global indexes'):
/// its targets and policies, for a new replica's region, which DynamoDB
/// gives the same (a replica of a provisioned table needs it).
pub fn write_scaling_of(app: &App, table: &str) -> Json {
    let targets: Vec<ScalableTarget> = app
        .targets()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| on_writes_of(table, &t.resource_id, &t.dimension))
        .collect();
    let policies: Vec<Policy> = app
        .policies()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| on_writes_of(table, &p.resource_id, &p.dimension))
        .collect();
    json!({"Targets": targets, "Policies": policies})
}

/// Another region's write auto scaling of `table` ([`write_scaling_of`])
/// registered here for this region's replica, with ids of its own; a
/// target past [`MAX_TARGETS`] is left out, and anything not on the
/// table's write capacity is ignored.
pub fn take_write_scaling(app: &App, table: &str, scaling: &Json) -> ApiResult<()> {
    let targets: Vec<ScalableTarget> = serde_json::from_value(scaling["Targets"].clone()).unwrap_or_default();
    let policies: Vec<Policy> = serde_json::from_value(scaling["Policies"].clone()).unwrap_or_default();
    let room = MAX_TARGETS.saturating_sub(app.targets()?.len());
    let mut writes = Vec::new();
    for mut t in targets.into_iter().filter(|t| on_writes_of(table, &t.resource_id, &t.dimension)).take(room) {
        t.id = uuid::Uuid::new_v4().simple().to_string();
        t.created = now_secs();
        let bytes = serde_json::to_vec(&t).map_err(|_| ApiError::internal())?;
        writes.push((key(TARGET_PREFIX, &t.dimension, &t.resource_id, None), Some(bytes)));
    }
    for mut p in policies.into_iter().filter(|p| on_writes_of(table, &p.resource_id, &p.dimension)) {
        p.id = uuid::Uuid::new_v4().simple().to_string();
        p.created = now_secs();
        let bytes = serde_json::to_vec(&p).map_err(|_| ApiError::internal())?;
        writes.push((key(POLICY_PREFIX, &p.dimension, &p.resource_id, Some(&p.name)), Some(bytes)));
    }
    if !writes.is_empty() {
        app.store.sys_write(writes)?;
    }
    Ok(())
}

/// The error of a request naming a target not registered.
fn no_target(resource: &str, dimension: &str) -> ApiError {
    not_found(format!(
        "No scalable target registered for service namespace: dynamodb, resource ID: {resource}, scalable dimension: {dimension}"
    ))
}

fn key(prefix: &str, dimension: &str, resource: &str, policy: Option<&str>) -> Vec<u8> {
    let mut k = format!("{prefix}{dimension}/{resource}");
    if let Some(p) = policy {
        k.push('\u{0}');
        k.push_str(p);
    }
    k.into_bytes()
}

/// What a resource id and dimension name: the table, the index (if any),
/// whether it is reads.
fn parse_resource(resource: &str, dimension: &str) -> ApiResult<(String, Option<String>, bool)> {
    let (kind, reads) = match dimension {
        "dynamodb:table:ReadCapacityUnits" => ("table", true),
        "dynamodb:table:WriteCapacityUnits" => ("table", false),
        "dynamodb:index:ReadCapacityUnits" => ("index", true),
        "dynamodb:index:WriteCapacityUnits" => ("index", false),
        other => {
            return Err(validation(format!(
                "Unsupported scalable dimension {other}: Tidepool scales DynamoDB tables and global secondary indexes"
            )));
        }
    };
    let parts: Vec<&str> = resource.split('/').collect();
    match (kind, parts.as_slice()) {
        ("table", ["table", t]) if !t.is_empty() => Ok((t.to_string(), None, reads)),
        ("index", ["table", t, "index", i]) if !t.is_empty() && !i.is_empty() => {
            Ok((t.to_string(), Some(i.to_string()), reads))
        }
        _ => Err(validation(format!("Unsupported resource ID {resource} for scalable dimension {dimension}"))),
    }
}

fn namespace(r: &Req<'_>) -> ApiResult<()> {
    match r.str("ServiceNamespace")? {
        "dynamodb" => Ok(()),
        other => Err(validation(format!(
            "Unsupported service namespace {other}: Tidepool's Application Auto Scaling scales DynamoDB (dynamodb)"
        ))),
    }
}

impl App {
    fn targets(&self) -> ApiResult<Vec<ScalableTarget>> {
        let entries = self.store.sys_scan(TARGET_PREFIX.as_bytes())?;
        Ok(entries.iter().filter_map(|(_, v)| serde_json::from_slice(v).ok()).collect())
    }

    fn policies(&self) -> ApiResult<Vec<Policy>> {
        let entries = self.store.sys_scan(POLICY_PREFIX.as_bytes())?;
        Ok(entries.iter().filter_map(|(_, v)| serde_json::from_slice(v).ok()).collect())
    }

    fn target(&self, dimension: &str, resource: &str) -> ApiResult<Option<ScalableTarget>> {
        let v = self.store.sys_get(&key(TARGET_PREFIX, dimension, resource, None))?;
        Ok(v.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The provisioned units of a target's table or index now, and its
    /// table's billing mode.
    fn provisioned(&self, resource: &str, dimension: &str) -> ApiResult<(u64, BillingMode)> {
        let (table, index, reads) = parse_resource(resource, dimension)?;
        let handle = self.store.describe_table(&table).map_err(|_| validation(format!("Table {table} not found")))?;
        let t = match &index {
            Some(i) => {
                let idx = handle
                    .def
                    .gsis()
                    .find(|x| &x.name == i)
                    .ok_or_else(|| validation(format!("Global secondary index {i} of table {table} not found")))?;
                match (idx.throughput, handle.def.billing_mode) {
                    (Some(t), _) => t,
                    (None, BillingMode::PayPerRequest) => Throughput { read: 0, write: 0 },
                    (None, BillingMode::Provisioned) => {
                        return Err(validation(format!(
                            "Global secondary index {i} of table {table} has no provisioned throughput of its own: set it with UpdateTable first"
                        )));
                    }
                }
            }
            None => handle.def.throughput.unwrap_or(Throughput { read: 0, write: 0 }),
        };
        Ok((if reads { t.read } else { t.write }, handle.def.billing_mode))
    }

    /// Sets a target's provisioned units: one change under the store's
    /// catalog lock, the mode checked, the one dimension set and the other
    /// left as it is.
    fn set_provisioned(&self, resource: &str, dimension: &str, units: u64) -> ApiResult<()> {
        use tidepool_store::StoreError;
        let (table, index, reads) = parse_resource(resource, dimension)?;
        self.store.alter_table(&table, |def| {
            if def.billing_mode != BillingMode::Provisioned {
                return Err(StoreError::validation(format!("Table {table} is not in provisioned mode")));
            }
            let slot = match &index {
                None => &mut def.throughput,
                Some(i) => {
                    let global = tidepool_store::table::IndexKind::Global;
                    let idx = def.indexes.iter_mut().find(|x| &x.name == i && x.kind == global);
                    &mut idx
                        .ok_or_else(|| StoreError::validation(format!("Global secondary index {i} not found")))?
                        .throughput
                }
            };
            let Some(t) = slot.as_mut() else {
                return Err(StoreError::validation("no provisioned throughput to scale"));
            };
            if reads {
                t.read = units;
            } else {
                t.write = units;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn record_activity(&self, target: &ScalableTarget, units: u64, cause: String) {
        tracing::info!(resource = %target.resource_id, dimension = %target.dimension, units, "auto scaling: {cause}");
        self.record(target, units, cause, None);
    }

    /// A scaling activity DynamoDB refused (its daily limit on decreases),
    /// in AWS's words.
    fn record_failed_activity(&self, target: &ScalableTarget, units: u64, cause: String, reason: &str) {
        self.record(target, units, cause, Some(reason));
    }

    fn record(&self, target: &ScalableTarget, units: u64, cause: String, failure: Option<&str>) {
        let what = if target.dimension.ends_with("ReadCapacityUnits") { "read" } else { "write" };
        let (message, status) = match failure {
            None => (
                format!(
                    "Successfully set {what} capacity units to {units}. Change successfully fulfilled by dynamodb."
                ),
                "Successful",
            ),
            Some(reason) => (
                format!("Failed to set {what} capacity units to {units}. Reason: Failed updating table: {reason}"),
                "Failed",
            ),
        };
        let a = Activity {
            id: uuid::Uuid::new_v4().to_string(),
            resource_id: target.resource_id.clone(),
            dimension: target.dimension.clone(),
            description: format!("Setting {what} capacity units to {units}."),
            cause,
            time: now_secs(),
            message,
            status,
        };
        let mut list = self.autoscaling.activities.lock().unwrap_or_else(|e| e.into_inner());
        // A failure repeated each minute (a decrease the daily limit holds
        // back) is one activity, brought up to date, not one a minute.
        if let Some(last) = list.iter_mut().find(|x| x.resource_id == a.resource_id && x.dimension == a.dimension)
            && last.status == "Failed"
            && a.status == "Failed"
            && last.description == a.description
        {
            *last = a;
            return;
        }
        list.push_front(a);
        list.truncate(MAX_ACTIVITIES);
    }

    fn arn(&self, kind: &str, rest: &str) -> String {
        format!("arn:aws:application-autoscaling:{}:{}:{kind}/{rest}", self.region, crate::dynamodb::ACCOUNT_ID)
    }
}

/// Serves one Application Auto Scaling operation.
pub fn dispatch(app: &App, op: &str, r: Req<'_>) -> ApiResult<Json> {
    match op {
        "RegisterScalableTarget" => register(app, r),
        "DescribeScalableTargets" => describe_targets(app, r),
        "DeregisterScalableTarget" => deregister(app, r),
        "PutScalingPolicy" => put_policy(app, r),
        "DescribeScalingPolicies" => describe_policies(app, r),
        "DeleteScalingPolicy" => delete_policy(app, r),
        "DescribeScalingActivities" => describe_activities(app, r),
        _ => Err(ApiError::bare(StatusCode::BAD_REQUEST, "UnknownOperationException")),
    }
}

fn capacity_param(r: &Req<'_>, name: &str) -> ApiResult<Option<u64>> {
    match r.int_opt(name)? {
        Some(v) if v < 0 => Err(validation(format!(
            "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to 0",
            lower_first(name)
        ))),
        // The model's integers are 32 bits.
        Some(v) if v > i64::from(i32::MAX) => Err(validation(format!(
            "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {}",
            lower_first(name),
            i32::MAX
        ))),
        Some(v) => Ok(Some(v as u64)),
        None => Ok(None),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str()).unwrap_or_default()
}

fn register(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let _changing = app.autoscaling.changing();
    let resource = r.str("ResourceId")?.to_string();
    let dimension = r.str("ScalableDimension")?.to_string();
    let (table, _, _) = parse_resource(&resource, &dimension)?;
    let (current, billing) = app.provisioned(&resource, &dimension)?;
    if billing != BillingMode::Provisioned {
        return Err(validation(format!(
            "Table {table} is in on-demand mode (PAY_PER_REQUEST): only provisioned capacity can be scaled"
        )));
    }
    let min = capacity_param(&r, "MinCapacity")?;
    let max = capacity_param(&r, "MaxCapacity")?;
    let existing = app.target(&dimension, &resource)?;
    let target = match existing {
        Some(mut t) => {
            t.min = min.unwrap_or(t.min);
            t.max = max.unwrap_or(t.max);
            t.suspended = t.suspended.merged(&r)?;
            t
        }
        None => {
            let (Some(min), Some(max)) = (min, max) else {
                return Err(validation("MinCapacity and MaxCapacity are required to register a new scalable target"));
            };
            if app.targets()?.len() >= MAX_TARGETS {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "LimitExceededException",
                    format!("The maximum number of scalable targets ({MAX_TARGETS}) has been reached"),
                ));
            }
            ScalableTarget {
                resource_id: resource.clone(),
                dimension: dimension.clone(),
                min,
                max,
                role_arn: r.str_opt("RoleARN")?.map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "arn:aws:iam::{}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
                        crate::dynamodb::ACCOUNT_ID
                    )
                }),
                created: now_secs(),
                suspended: Suspended::default().merged(&r)?,
                id: uuid::Uuid::new_v4().simple().to_string(),
            }
        }
    };
    if target.min > target.max {
        return Err(validation("Minimum capacity cannot be greater than maximum capacity"));
    }
    if target.min < 1 {
        return Err(validation("Minimum capacity must be at least 1 for DynamoDB"));
    }
    // Capacity outside the new bounds is brought within them at once,
    // before the target is saved: a change DynamoDB refuses (its daily
    // limit on decreases) registers nothing.
    let within = current.clamp(target.min, target.max);
    if within != current {
        app.set_provisioned(&resource, &dimension, within)?;
    }
    let bytes = serde_json::to_vec(&target).map_err(|_| ApiError::internal())?;
    app.store.sys_write(vec![(key(TARGET_PREFIX, &dimension, &resource, None), Some(bytes))])?;
    if within != current {
        let side = if within > current { "minimum" } else { "maximum" };
        app.record_activity(&target, within, format!("{side} capacity was set to {within}"));
    }
    Ok(json!({"ScalableTargetARN": app.arn("scalable-target", &target.id)}))
}

fn target_json(app: &App, t: &ScalableTarget) -> Json {
    json!({
        "ServiceNamespace": "dynamodb",
        "ResourceId": t.resource_id,
        "ScalableDimension": t.dimension,
        "MinCapacity": t.min,
        "MaxCapacity": t.max,
        "RoleARN": t.role_arn,
        "CreationTime": t.created,
        "SuspendedState": t.suspended.json(),
        "ScalableTargetARN": app.arn("scalable-target", &t.id),
    })
}

/// One page of `items` by `MaxResults` and `NextToken` (an offset).
fn page<T>(r: &Req<'_>, items: Vec<T>) -> ApiResult<(Vec<T>, Option<String>)> {
    let max = match r.int_opt("MaxResults")? {
        Some(n) if !(1..=MAX_RESULTS as i64).contains(&n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value {}",
                if n < 1 {
                    "greater than or equal to 1".to_string()
                } else {
                    format!("less than or equal to {MAX_RESULTS}")
                }
            )));
        }
        Some(n) => n as usize,
        None => MAX_RESULTS,
    };
    let start = match r.str_opt("NextToken")? {
        Some(t) => t.parse::<usize>().map_err(|_| validation("Invalid NextToken"))?,
        None => 0,
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + out.len() < total).then(|| (start + out.len()).to_string());
    Ok((out, next))
}

fn with_next(mut body: Map<String, Json>, next: Option<String>) -> Json {
    if let Some(n) = next {
        body.insert("NextToken".into(), json!(n));
    }
    Json::Object(body)
}

fn describe_targets(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let ids = r.strings("ResourceIds")?;
    let dimension = r.str_opt("ScalableDimension")?;
    let mut list: Vec<ScalableTarget> = app
        .targets()?
        .into_iter()
        .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&t.resource_id)))
        .filter(|t| dimension.is_none_or(|d| d == t.dimension))
        .collect();
    list.sort_by(|a, b| (&a.resource_id, &a.dimension).cmp(&(&b.resource_id, &b.dimension)));
    let (list, next) = page(&r, list)?;
    let mut body = Map::new();
    body.insert("ScalableTargets".into(), Json::Array(list.iter().map(|t| target_json(app, t)).collect()));
    Ok(with_next(body, next))
}

fn deregister(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let _changing = app.autoscaling.changing();
    let resource = r.str("ResourceId")?;
    let dimension = r.str("ScalableDimension")?;
    parse_resource(resource, dimension)?;
    if app.target(dimension, resource)?.is_none() {
        return Err(no_target(resource, dimension));
    }
    let mut entries = vec![(key(TARGET_PREFIX, dimension, resource, None), None)];
    for p in app.policies()?.into_iter().filter(|p| p.resource_id == resource && p.dimension == dimension) {
        entries.push((key(POLICY_PREFIX, dimension, resource, Some(&p.name)), None));
    }
    app.store.sys_write(entries)?;
    app.autoscaling.forget(resource, dimension);
    Ok(json!({}))
}

fn policy_arn(app: &App, p: &Policy) -> String {
    format!(
        "arn:aws:autoscaling:{}:{}:scalingPolicy:{}:resource/dynamodb/{}:policyName/{}",
        app.region,
        crate::dynamodb::ACCOUNT_ID,
        p.id,
        p.resource_id,
        p.name
    )
}

fn alarms_json(app: &App, p: &Policy) -> Json {
    let alarm = |kind: &str| {
        let name = format!("TargetTracking-{}-{kind}-{}", p.resource_id, p.id);
        json!({"AlarmName": name, "AlarmARN": format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", app.region, crate::dynamodb::ACCOUNT_ID)})
    };
    json!([alarm("AlarmHigh"), alarm("AlarmLow")])
}

fn put_policy(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let _changing = app.autoscaling.changing();
    let name = r.str("PolicyName")?.to_string();
    if name.is_empty() || name.len() > 256 {
        return Err(validation(
            "1 validation error detected: Value at 'policyName' failed to satisfy constraint: Member must have length between 1 and 256",
        ));
    }
    let resource = r.str("ResourceId")?.to_string();
    let dimension = r.str("ScalableDimension")?.to_string();
    let (_, _, reads) = parse_resource(&resource, &dimension)?;
    if app.target(&dimension, &resource)?.is_none() {
        return Err(no_target(&resource, &dimension));
    }
    match r.str_opt("PolicyType")? {
        None | Some("TargetTrackingScaling") => {}
        Some(other) => {
            return Err(validation(format!(
                "Unsupported policy type {other}: Tidepool supports TargetTrackingScaling for DynamoDB"
            )));
        }
    }
    let config = r.obj_opt("TargetTrackingScalingPolicyConfiguration")?.ok_or_else(|| {
        validation("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy")
    })?;
    let target = match config.get("TargetValue").and_then(Json::as_f64) {
        Some(v) => v,
        None => return Err(validation("TargetValue is required")),
    };
    if !(20.0..=90.0).contains(&target) {
        return Err(validation(format!(
            "The target value {target} is out of range for DynamoDB: it must be between 20.0 and 90.0"
        )));
    }
    let want = if reads { "DynamoDBReadCapacityUtilization" } else { "DynamoDBWriteCapacityUtilization" };
    match config.obj_opt("PredefinedMetricSpecification")? {
        Some(spec) => {
            let metric = spec.str("PredefinedMetricType")?;
            if metric != want {
                return Err(validation(format!(
                    "Predefined metric type {metric} is not supported for scalable dimension {dimension}: use {want}"
                )));
            }
        }
        None => {
            if config.get("CustomizedMetricSpecification").is_none() {
                return Err(validation("A PredefinedMetricSpecification or CustomizedMetricSpecification is required"));
            }
            return Err(validation("Tidepool tracks the predefined DynamoDB utilization metrics only"));
        }
    }
    let cooldown = |n: &str| -> ApiResult<u64> {
        match config.int_opt(n)? {
            Some(v) if !(0..=31_536_000).contains(&v) => {
                Err(validation(format!("{n} must be between 0 and 31536000 seconds, not {v}")))
            }
            Some(v) => Ok(v as u64),
            None => Ok(0),
        }
    };
    let (scale_out_cooldown, scale_in_cooldown) = (cooldown("ScaleOutCooldown")?, cooldown("ScaleInCooldown")?);
    // Target tracking policies of one target must track different metrics;
    // a DynamoDB dimension has one.
    if let Some(other) =
        app.policies()?.into_iter().find(|p| p.resource_id == resource && p.dimension == dimension && p.name != name)
    {
        return Err(validation(format!(
            "Scalable target {resource} ({dimension}) already has target tracking policy {} on {want}: put that policy to change it",
            other.name
        )));
    }
    let k = key(POLICY_PREFIX, &dimension, &resource, Some(&name));
    let previous: Option<Policy> = app.store.sys_get(&k)?.and_then(|v| serde_json::from_slice(&v).ok());
    let disable_scale_in = config.bool_opt("DisableScaleIn")?.unwrap_or(false);
    // Echoed as validated, not as sent.
    let configuration = json!({
        "TargetValue": target,
        "PredefinedMetricSpecification": {"PredefinedMetricType": want},
        "ScaleOutCooldown": scale_out_cooldown,
        "ScaleInCooldown": scale_in_cooldown,
        "DisableScaleIn": disable_scale_in,
    });
    let policy = Policy {
        name: name.clone(),
        resource_id: resource.clone(),
        dimension: dimension.clone(),
        id: previous.as_ref().map_or_else(|| uuid::Uuid::new_v4().to_string(), |p| p.id.clone()),
        created: previous.as_ref().map_or_else(now_secs, |p| p.created),
        configuration,
        target,
        scale_out_cooldown,
        scale_in_cooldown,
        disable_scale_in,
    };
    let bytes = serde_json::to_vec(&policy).map_err(|_| ApiError::internal())?;
    app.store.sys_write(vec![(k, Some(bytes))])?;
    Ok(json!({"PolicyARN": policy_arn(app, &policy), "Alarms": alarms_json(app, &policy)}))
}

fn describe_policies(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let names = r.strings("PolicyNames")?;
    let resource = r.str_opt("ResourceId")?;
    let dimension = r.str_opt("ScalableDimension")?;
    let mut list: Vec<Policy> = app
        .policies()?
        .into_iter()
        .filter(|p| names.as_ref().is_none_or(|n| n.contains(&p.name)))
        .filter(|p| resource.is_none_or(|x| x == p.resource_id))
        .filter(|p| dimension.is_none_or(|x| x == p.dimension))
        .collect();
    list.sort_by(|a, b| (&a.resource_id, &a.dimension, &a.name).cmp(&(&b.resource_id, &b.dimension, &b.name)));
    let (list, next) = page(&r, list)?;
    let items: Vec<Json> = list
        .iter()
        .map(|p| {
            json!({
                "PolicyARN": policy_arn(app, p),
                "PolicyName": p.name,
                "ServiceNamespace": "dynamodb",
                "ResourceId": p.resource_id,
                "ScalableDimension": p.dimension,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": p.configuration,
                "Alarms": alarms_json(app, p),
                "CreationTime": p.created,
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("ScalingPolicies".into(), Json::Array(items));
    Ok(with_next(body, next))
}

fn delete_policy(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let _changing = app.autoscaling.changing();
    let name = r.str("PolicyName")?;
    let resource = r.str("ResourceId")?;
    let dimension = r.str("ScalableDimension")?;
    parse_resource(resource, dimension)?;
    let k = key(POLICY_PREFIX, dimension, resource, Some(name));
    if app.store.sys_get(&k)?.is_none() {
        return Err(not_found(format!(
            "No scaling policy found for service namespace: dynamodb, resource ID: {resource}, scalable dimension: {dimension}: policy name: {name}"
        )));
    }
    app.store.sys_write(vec![(k, None)])?;
    app.autoscaling.forget(resource, dimension);
    Ok(json!({}))
}

fn describe_activities(app: &App, r: Req<'_>) -> ApiResult<Json> {
    namespace(&r)?;
    let resource = r.str_opt("ResourceId")?;
    let dimension = r.str_opt("ScalableDimension")?;
    let list: Vec<Activity> = {
        let all = app.autoscaling.activities.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter(|a| resource.is_none_or(|x| x == a.resource_id))
            .filter(|a| dimension.is_none_or(|x| x == a.dimension))
            .cloned()
            .collect()
    };
    let (list, next) = page(&r, list)?;
    let items: Vec<Json> = list
        .iter()
        .map(|a| {
            json!({
                "ActivityId": a.id,
                "ServiceNamespace": "dynamodb",
                "ResourceId": a.resource_id,
                "ScalableDimension": a.dimension,
                "Description": a.description,
                "Cause": a.cause,
                "StartTime": a.time,
                "EndTime": a.time,
                "StatusCode": a.status,
                "StatusMessage": a.message,
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("ScalingActivities".into(), Json::Array(items));
    Ok(with_next(body, next))
}

/// Observes every policy once at `now` (epoch seconds) and applies what
/// the controller decides.
pub fn evaluate(app: &App, now: u64) {
    let (Ok(targets), Ok(policies)) = (app.targets(), app.policies()) else { return };
    for p in policies {
        let Some(t) = targets.iter().find(|t| t.resource_id == p.resource_id && t.dimension == p.dimension) else {
            continue;
        };
        let watch_key = (t.resource_id.clone(), t.dimension.clone());
        let Ok((table, index, reads)) = parse_resource(&t.resource_id, &t.dimension) else { continue };
        let table_id = app.store.describe_table(&table).map(|h| h.def.id);
        let (Ok(table_id), Ok((provisioned, BillingMode::Provisioned))) =
            (table_id, app.provisioned(&t.resource_id, &t.dimension))
        else {
            // Nothing to observe (missing, on-demand): no baseline either.
            app.autoscaling.forget(&t.resource_id, &t.dimension);
            continue;
        };
        let consumed_total = app.metrics.table(&table).map_or(0.0, |m| {
            let (r, w) = match &index {
                None => m.consumed(),
                Some(i) => {
                    m.index_consumed().into_iter().find(|(n, _, _)| n == i).map_or((0.0, 0.0), |(_, r, w)| (r, w))
                }
            };
            if reads { r } else { w }
        });
        let tracking = Tracking {
            target: p.target,
            scale_out_cooldown_secs: p.scale_out_cooldown,
            scale_in_cooldown_secs: p.scale_in_cooldown,
            disable_scale_in: p.disable_scale_in || t.suspended.scale_in,
        };
        let (decision, before) = {
            let mut watches = app.autoscaling.watches.lock().unwrap_or_else(|e| e.into_inner());
            let w = watches.entry(watch_key.clone()).or_default();
            // A baseline of another table, or too old, is none: start again.
            let previous = w.baseline.replace((consumed_total, now, table_id));
            let Some((last, at, _)) = previous.filter(|(_, at, id)| {
                *id == table_id && now > *at && now - *at <= MAX_GAP_SECS && consumed_total >= 0.0
            }) else {
                w.alarms = Alarms::default();
                continue;
            };
            // The units of a minute at the rate since the last look.
            let consumed = (consumed_total - last).max(0.0) * 60.0 / (now - at) as f64;
            let before = (w.alarms.clone(), w.decreases.clone());
            let mut d = controller::observe(
                &mut w.alarms,
                &mut w.decreases,
                &tracking,
                (t.min, t.max),
                now,
                consumed,
                provisioned,
            );
            if t.suspended.scale_out && matches!(d, Some(Decision::ScaleOut { .. })) {
                (w.alarms, w.decreases) = before.clone();
                d = None;
            }
            (d, before)
        };
        let (to, alarm) = match decision {
            Some(Decision::ScaleOut { to, .. }) => (to, "AlarmHigh"),
            Some(Decision::ScaleIn { to, .. }) => (to, "AlarmLow"),
            None => continue,
        };
        let applied = {
            let _changing = app.autoscaling.changing();
            // Still registered with this policy (not removed meanwhile).
            let current = app.target(&t.dimension, &t.resource_id).ok().flatten();
            match current {
                Some(_) => app.set_provisioned(&t.resource_id, &t.dimension, to),
                None => Err(not_found("the scalable target was deregistered")),
            }
        };
        let cause = format!(
            "monitor alarm TargetTracking-{}-{alarm}-{} in state ALARM triggered policy {}",
            t.resource_id, p.id, p.name
        );
        if let Err(e) = applied {
            // Not done: the alarms and the decrease count stay as they were
            // (the alarm stays in ALARM and tries again next minute). A
            // decrease past the table's daily limit (the table's own
            // UpdateTable decreases count too) is a failed activity, as on
            // AWS.
            if e.kind.ends_with("#LimitExceededException") {
                app.record_failed_activity(t, to, cause, &e.message);
            } else {
                tracing::warn!(resource = %t.resource_id, error = e.message, "auto scaling could not set capacity");
            }
            let mut watches = app.autoscaling.watches.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = watches.get_mut(&watch_key) {
                (w.alarms, w.decreases) = before;
            }
            continue;
        }
        app.record_activity(t, to, cause);
    }
}

/// Evaluates the policies every [`EVALUATION_PERIOD`] until the app goes.
pub async fn run(app: std::sync::Weak<App>) {
    let mut tick = tokio::time::interval(EVALUATION_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { return };
        let now = now_secs() as u64;
        let _ = tokio::task::spawn_blocking(move || evaluate(&app, now)).await;
    }
}

#[cfg(test)]
mod tests;
