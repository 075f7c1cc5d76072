//! Lambda's event invoke configs: how asynchronous invocations of a
//! function, version or alias are retried and where their outcome goes
//! (`Put/Get/Update/DeleteFunctionEventInvokeConfig`,
//! `ListFunctionEventInvokeConfigs`, under `/2019-09-25/`).
//!
//! A config is kept in the store's system entries
//! (`eic/<function>/<qualifier>`, `$LATEST` for the unqualified function)
//! and read by `events.rs` at each attempt, so a change applies to the
//! events already queued, as on Lambda.
//!
//! Destinations: Tidepool delivers an invocation record (Lambda's
//! `version`, `timestamp`, `requestContext`, `requestPayload`,
//! `responseContext`, `responsePayload`) to a table of its own store
//! (`arn:aws:dynamodb:<region>:<account>:table/<name>`; the record becomes
//! an item keyed by its request id, as a mapping's on-failure record does)
//! or to a function (`arn:aws:lambda:...:function:<name>[:<qualifier>]`,
//! invoked asynchronously with the record as its event). SQS, SNS, S3 and
//! EventBridge destinations are refused with `InvalidParameterValueException`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{MethodRouter, get, put};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::esm::config::parse_table_arn;
use tidepool_store::Store;

use super::api::{
    ApiResult, Failure, PathParam, blocking, empty, fail, function_ref, json_request, lambda_state, max_items, page,
    query, reply, validation,
};
use super::{Lambda, now_ms};
use crate::dynamodb::App;

/// Lambda's bound on `MaximumRetryAttempts`.
pub const MAX_RETRY_ATTEMPTS: i64 = 2;
/// Lambda's bounds on `MaximumEventAgeInSeconds` (one minute to six hours).
pub const MIN_EVENT_AGE_SECS: i64 = 60;
pub const MAX_EVENT_AGE_SECS: i64 = 21_600;
/// ListFunctionEventInvokeConfigs' default and largest page (Lambda's 50).
const DEFAULT_PAGE: usize = 50;

const PREFIX: &[u8] = b"eic/";

/// One function's (or version's, or alias's) config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    pub function: String,
    /// `$LATEST`, a version number or an alias.
    pub qualifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    pub last_modified_ms: u64,
}

fn key(function: &str, qualifier: &str) -> Vec<u8> {
    [PREFIX, function.as_bytes(), b"/", qualifier.as_bytes()].concat()
}

/// The config of `function:qualifier` (`None`: `$LATEST`), if one is set.
pub fn load(store: &Store, function: &str, qualifier: Option<&str>) -> Option<EventInvokeConfig> {
    let raw = store.sys_get(&key(function, qualifier.unwrap_or("$LATEST"))).ok()??;
    serde_json::from_slice(&raw).ok()
}

/// Forgets every config of `function` (DeleteFunction).
pub fn forget_function(store: &Store, function: &str) -> Result<(), tidepool_store::StoreError> {
    let prefix = [PREFIX, function.as_bytes(), b"/"].concat();
    let keys = store.sys_scan(&prefix)?.into_iter().map(|(k, _)| (k, None)).collect::<Vec<_>>();
    if keys.is_empty() { Ok(()) } else { store.sys_write(keys) }
}

/// Forgets the config of one version (DeleteFunction with a qualifier).
pub fn forget(store: &Store, function: &str, qualifier: &str) -> Result<(), tidepool_store::StoreError> {
    store.sys_write(vec![(key(function, qualifier), None)])
}

/// Where a destination ARN points.
pub enum Destination {
    /// A table of this server's store.
    Table(String),
    /// A function, with its qualifier if the ARN has one.
    Function(String, Option<String>),
}

/// Parses a destination ARN Tidepool can deliver to.
pub fn destination(arn: &str) -> Option<Destination> {
    if let Some(table) = parse_table_arn(arn) {
        return Some(Destination::Table(table.to_string()));
    }
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] if !name.is_empty() => {
            Some(Destination::Function(name.to_string(), None))
        }
        ["arn", _, "lambda", _, _, "function", name, q] if !name.is_empty() && !q.is_empty() => {
            Some(Destination::Function(name.to_string(), Some(q.to_string())))
        }
        _ => None,
    }
}

/// Adds the routes through `route` (which gives each path Lambda's
/// unknown-operation fallback).
pub fn routes(
    router: Router<Arc<App>>,
    route: impl Fn(Router<Arc<App>>, &str, MethodRouter<Arc<App>>) -> Router<Arc<App>>,
) -> Router<Arc<App>> {
    let router = route(
        router,
        "/2019-09-25/functions/{name}/event-invoke-config",
        put(put_config).post(update_config).get(get_config).delete(delete_config),
    );
    route(router, "/2019-09-25/functions/{name}/event-invoke-config/list", get(list_configs))
}

/// `FunctionEventInvokeConfig`.
fn config_json(lambda: &Lambda, c: &EventInvokeConfig) -> Json {
    let target = |d: &Option<String>| match d {
        Some(arn) => json!({"Destination": arn}),
        None => json!({}),
    };
    let mut out = json!({
        "LastModified": c.last_modified_ms as f64 / 1000.0,
        "FunctionArn": lambda.registry.qualified_arn(&c.function, Some(&c.qualifier)),
        "DestinationConfig": {"OnSuccess": target(&c.on_success), "OnFailure": target(&c.on_failure)},
    });
    if let Some(n) = c.maximum_retry_attempts {
        out["MaximumRetryAttempts"] = json!(n);
    }
    if let Some(n) = c.maximum_event_age_secs {
        out["MaximumEventAgeInSeconds"] = json!(n);
    }
    out
}

/// The function and qualifier a request names (`$LATEST` when none).
fn target(lambda: &Lambda, raw: &str, uri: &Uri) -> Result<(String, String), Failure> {
    let q = query(uri);
    let (name, qualifier) = function_ref(lambda, raw, q.get("Qualifier").map(String::as_str))?;
    lambda.registry.get(&name)?;
    Ok((name, qualifier.unwrap_or_else(|| "$LATEST".into())))
}

fn int_in(m: &Map<String, Json>, member: &str, wire: &str, lo: i64, hi: i64) -> Result<Option<u32>, Failure> {
    let Some(v) = m.get(member).filter(|v| !v.is_null()) else { return Ok(None) };
    let n = v
        .as_i64()
        .ok_or_else(|| fail("InvalidParameterValueException", format!("{member} must be an integer, not {v}")))?;
    if n < lo {
        return Err(validation(wire, n, &format!("Member must have value greater than or equal to {lo}")));
    }
    if n > hi {
        return Err(validation(wire, n, &format!("Member must have value less than or equal to {hi}")));
    }
    Ok(Some(n as u32))
}

/// `DestinationConfig.<which>.Destination`: `Some(None)` when the member
/// is there without a destination (it clears one on update).
fn destination_member(m: &Map<String, Json>, which: &str) -> Result<Option<Option<String>>, Failure> {
    let Some(config) = m.get("DestinationConfig").filter(|v| !v.is_null()) else { return Ok(None) };
    let Some(target) = config.get(which).filter(|v| !v.is_null()) else { return Ok(None) };
    let arn = match target.get("Destination") {
        None | Some(Json::Null) => return Ok(Some(None)),
        Some(Json::String(s)) if s.is_empty() => return Ok(Some(None)),
        Some(Json::String(s)) => s.clone(),
        Some(other) => {
            return Err(fail(
                "InvalidParameterValueException",
                format!("DestinationConfig.{which}.Destination must be a string, not {other}"),
            ));
        }
    };
    if destination(&arn).is_none() {
        return Err(fail(
            "InvalidParameterValueException",
            format!(
                "The destination ARN {arn} is invalid. Tidepool delivers to a table of its own store \
                 (arn:aws:dynamodb:<region>:<account>:table/<name>) or to a function \
                 (arn:aws:lambda:<region>:<account>:function:<name>)."
            ),
        ));
    }
    Ok(Some(Some(arn)))
}

/// The members a request sets, applied to `c`; with `replace`, the members
/// it leaves out are cleared (PutFunctionEventInvokeConfig).
fn apply(c: &mut EventInvokeConfig, m: &Map<String, Json>, replace: bool) -> Result<(), Failure> {
    let retries = int_in(m, "MaximumRetryAttempts", "maximumRetryAttempts", 0, MAX_RETRY_ATTEMPTS)?;
    let age =
        int_in(m, "MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", MIN_EVENT_AGE_SECS, MAX_EVENT_AGE_SECS)?;
    let success = destination_member(m, "OnSuccess")?;
    let failure = destination_member(m, "OnFailure")?;
    if replace {
        c.maximum_retry_attempts = retries;
        c.maximum_event_age_secs = age;
        c.on_success = success.flatten();
        c.on_failure = failure.flatten();
    } else {
        if retries.is_some() {
            c.maximum_retry_attempts = retries;
        }
        if age.is_some() {
            c.maximum_event_age_secs = age;
        }
        if let Some(s) = success {
            c.on_success = s;
        }
        if let Some(f) = failure {
            c.on_failure = f;
        }
    }
    c.last_modified_ms = now_ms();
    Ok(())
}

fn not_found(lambda: &Lambda, function: &str, qualifier: &str) -> Failure {
    fail(
        "ResourceNotFoundException",
        format!(
            "The function {}:{qualifier} doesn't have an EventInvokeConfig",
            lambda.registry.function_arn(function)
        ),
    )
}

async fn save(app: &Arc<App>, c: EventInvokeConfig) -> Result<EventInvokeConfig, Failure> {
    let app2 = app.clone();
    blocking(move || {
        let json = serde_json::to_vec(&c).map_err(|e| fail("ServiceException", e.to_string()))?;
        app2.store.sys_write(vec![(key(&c.function, &c.qualifier), Some(json))]).map_err(super::LambdaError::from)?;
        Ok(c)
    })
    .await
}

/// `PUT` (PutFunctionEventInvokeConfig): sets the whole config.
async fn put_config(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    write_config(app, raw, uri, headers, body, true).await
}

/// `POST` (UpdateFunctionEventInvokeConfig): changes the members given.
async fn update_config(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    write_config(app, raw, uri, headers, body, false).await
}

/// Put (`replace`: a new config of the members given) or Update (the
/// members given change an existing config).
async fn write_config(
    app: Arc<App>,
    raw: String,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    replace: bool,
) -> ApiResult {
    let operation = if replace { "PutFunctionEventInvokeConfig" } else { "UpdateFunctionEventInvokeConfig" };
    let m = json_request(&app, &headers, body, operation).await?;
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let mut c = if replace {
        EventInvokeConfig { function, qualifier, ..EventInvokeConfig::default() }
    } else {
        load(&app.store, &function, Some(&qualifier)).ok_or_else(|| not_found(lambda, &function, &qualifier))?
    };
    apply(&mut c, &m, replace)?;
    if c.maximum_retry_attempts.is_none()
        && c.maximum_event_age_secs.is_none()
        && c.on_success.is_none()
        && c.on_failure.is_none()
    {
        return Err(fail(
            "InvalidParameterValueException",
            "You must specify at least one of error handling or destination setting.",
        ));
    }
    for arn in [&c.on_success, &c.on_failure].into_iter().flatten() {
        match destination(arn) {
            Some(Destination::Function(name, _)) => {
                if name == c.function {
                    return Err(fail(
                        "InvalidParameterValueException",
                        "You can't specify the function as a destination for itself.",
                    ));
                }
                if lambda.registry.get(&name).is_err() {
                    return Err(fail(
                        "InvalidParameterValueException",
                        format!("The destination ARN {arn} is invalid."),
                    ));
                }
            }
            // A table that cannot take the record (missing, or keyed
            // otherwise) is refused now, not found out at delivery.
            Some(Destination::Table(_)) => {
                if let Err(why) = tidepool_runtime::esm::check_destination(&app.store, arn) {
                    return Err(fail(
                        "InvalidParameterValueException",
                        format!("The destination ARN {arn} is invalid: {why}."),
                    ));
                }
            }
            None => {}
        }
    }
    let c = save(&app, c).await?;
    Ok(reply(StatusCode::OK, &config_json(lambda, &c)))
}

/// `GET` (GetFunctionEventInvokeConfig).
async fn get_config(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let c = load(&app.store, &function, Some(&qualifier)).ok_or_else(|| not_found(lambda, &function, &qualifier))?;
    Ok(reply(StatusCode::OK, &config_json(lambda, &c)))
}

/// `DELETE` (DeleteFunctionEventInvokeConfig).
async fn delete_config(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    if load(&app.store, &function, Some(&qualifier)).is_none() {
        return Err(not_found(lambda, &function, &qualifier));
    }
    let app2 = app.clone();
    blocking(move || Ok(forget(&app2.store, &function, &qualifier).map_err(super::LambdaError::from)?)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET .../list` (ListFunctionEventInvokeConfigs): the function's configs,
/// by qualifier.
async fn list_configs(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, _) = target(lambda, &raw, &Uri::from_static("/"))?;
    let q = query(&uri);
    let limit = max_items(&q, DEFAULT_PAGE)?;
    if limit > DEFAULT_PAGE {
        return Err(validation("maxItems", limit, "Member must have value less than or equal to 50"));
    }
    let prefix = [PREFIX, function.as_bytes(), b"/"].concat();
    let all: Vec<EventInvokeConfig> = app
        .store
        .sys_scan(&prefix)
        .map_err(super::LambdaError::from)?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    let start = match q.get("Marker") {
        Some(marker) => all.partition_point(|c| c.qualifier.as_str() < marker.as_str()),
        None => 0,
    };
    let out =
        page(&all, start, limit, "FunctionEventInvokeConfigs", |c| config_json(lambda, c), |c| c.qualifier.clone());
    Ok(reply(StatusCode::OK, &out))
}
