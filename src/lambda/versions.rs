//! Lambda's versions and aliases: `PublishVersion`, `ListVersionsByFunction`,
//! `CreateAlias`, `GetAlias`, `ListAliases`, `UpdateAlias`, `DeleteAlias`,
//! and `DeleteFunction` with a qualifier. The registry keeps them
//! (`tidepool_runtime::registry`); this module is their HTTP face, in
//! Lambda's REST shapes and errors. Invoke, GetFunction and
//! GetFunctionConfiguration take a qualifier through `api::function_ref`.
//!
//! An alias may route a share of its invocations to one additional version
//! (`RoutingConfig.AdditionalVersionWeights`), as Lambda allows; both must
//! be published versions then.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::registry::{AliasRecord, FunctionRecord, RegistryError};

use super::Lambda;
use super::api::{
    ApiResult, Failure, PathParam, REVISION_MISMATCH, blocking, check_revision, configuration, empty, fail,
    function_name, json_request, lambda_state, max_items, page, query, reply, str_member, undecodable_path, validation,
};
use crate::dynamodb::App;

/// Lambda's limit on an alias name, in characters.
const MAX_ALIAS_NAME_CHARS: usize = 128;
/// Lambda's limit on a version's or alias's description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 256;
/// ListVersionsByFunction's and ListAliases' default page.
const DEFAULT_PAGE: usize = 50;
const ALIAS_NAME_PATTERN: &str = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)";
const VERSION_PATTERN: &str = "(\\$LATEST|[0-9]+)";

/// A function's and an alias's names from the path, percent-decoded.
struct AliasPath(String, String);

impl<S: Send + Sync> FromRequestParts<S> for AliasPath {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match axum::extract::Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path((function, alias))) => Ok(AliasPath(function, alias)),
            Err(e) => Err(undecodable_path(parts, &e)),
        }
    }
}

/// Adds this module's routes through `route` (which gives each path
/// Lambda's unknown-operation fallback).
pub fn routes(
    router: Router<Arc<App>>,
    route: impl Fn(Router<Arc<App>>, &str, MethodRouter<Arc<App>>) -> Router<Arc<App>>,
) -> Router<Arc<App>> {
    let router = route(router, "/2015-03-31/functions/{name}/versions", post(publish_version).get(list_versions));
    let router = route(router, "/2015-03-31/functions/{name}/aliases", post(create_alias).get(list_aliases));
    route(router, "/2015-03-31/functions/{name}/aliases/{alias}", get(get_alias).put(update_alias).delete(delete_alias))
}

/// The record GetFunction and GetFunctionConfiguration show for a
/// qualifier: `$LATEST`, a version, or the version an alias names.
pub fn qualified_record(lambda: &Lambda, name: &str, qualifier: Option<&str>) -> Result<FunctionRecord, Failure> {
    let version = match qualifier {
        None | Some("$LATEST") => return Ok(lambda.registry.describe(name)?),
        Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => q.to_string(),
        Some(alias) => lambda.registry.alias(name, alias)?.function_version,
    };
    if version == "$LATEST" {
        return Ok(lambda.registry.get(name)?);
    }
    lambda.registry.versions(name)?.into_iter().find(|r| r.version == version).ok_or_else(|| {
        Failure::from(RegistryError::NotFound(format!(
            "Function not found: {}:{version}",
            lambda.registry.function_arn(name)
        )))
    })
}

/// DeleteFunction with a qualifier: deletes that version.
pub async fn delete_qualified(app: Arc<App>, name: String, qualifier: String) -> ApiResult {
    if qualifier == "$LATEST" {
        return Err(fail(
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting the function.",
        ));
    }
    let Ok(n) = qualifier.parse::<u64>() else {
        return Err(fail(
            "InvalidParameterValueException",
            "Deletion of aliases is not supported. Use DeleteAlias to delete an alias.",
        ));
    };
    blocking(move || {
        lambda_state(&app)?.registry.delete_version(&name, n)?;
        super::invoke_config::forget(&app.store, &name, &qualifier).map_err(super::LambdaError::from)?;
        super::permissions::forget(&app.store, &name, Some(&qualifier)).map_err(super::LambdaError::from)?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn description(m: &Map<String, Json>) -> Result<Option<String>, Failure> {
    let d = str_member(m, "Description")?;
    if let Some(d) = &d
        && d.chars().count() > MAX_DESCRIPTION_CHARS
    {
        return Err(validation("description", d, "Member must have length less than or equal to 256"));
    }
    Ok(d)
}

/// `POST /2015-03-31/functions/{name}/versions` (PublishVersion).
async fn publish_version(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "PublishVersion").await?;
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let description = description(&m)?;
    let sha = match str_member(&m, "CodeSha256")? {
        Some(b64) => Some(base64_to_hex(&b64).ok_or_else(|| {
            fail("InvalidParameterValueException", format!("CodeSha256 {b64} is not a base64-encoded SHA-256"))
        })?),
        None => None,
    };
    check_revision(&m, &lambda.registry.get(&name)?)?;
    let app2 = app.clone();
    let n = name.clone();
    let record = blocking(move || Ok(lambda_state(&app2)?.registry.publish(&n, description, sha.as_deref())?)).await?;
    Ok(reply(StatusCode::CREATED, &configuration(lambda, &record)))
}

fn base64_to_hex(b64: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `GET /2015-03-31/functions/{name}/versions` (ListVersionsByFunction):
/// `$LATEST` first, then the versions in order.
async fn list_versions(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let q = query(&uri);
    let limit = max_items(&q, DEFAULT_PAGE)?;
    let mut all = vec![lambda.registry.describe(&name)?];
    all.extend(lambda.registry.versions(&name)?);
    let start = match q.get("Marker") {
        // A marker's version may be gone by the next page: start at the next one.
        Some(marker) if marker == "$LATEST" => 0,
        Some(marker) => {
            let n = marker.parse::<u64>().unwrap_or(u64::MAX);
            all.iter().position(|r| r.version.parse::<u64>().is_ok_and(|v| v >= n)).unwrap_or(all.len())
        }
        None => 0,
    };
    let out = page(&all, start, limit, "Versions", |r| configuration(lambda, r), |r| r.version_label().to_string());
    Ok(reply(StatusCode::OK, &out))
}

/// `AliasConfiguration`.
fn alias_json(lambda: &Lambda, a: &AliasRecord) -> Json {
    let mut out = json!({
        "AliasArn": format!("{}:{}", lambda.registry.function_arn(&a.function), a.name),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.additional_weights.is_empty() {
        out["RoutingConfig"] = json!({"AdditionalVersionWeights": a.additional_weights});
    }
    out
}

fn alias_name(name: &str) -> Result<(), Failure> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(validation("name", name, "Member must have length greater than or equal to 1"));
    }
    if chars > MAX_ALIAS_NAME_CHARS {
        return Err(validation("name", name, "Member must have length less than or equal to 128"));
    }
    let pattern_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if !pattern_ok {
        return Err(validation(
            "name",
            name,
            &format!("Member must satisfy regular expression pattern: {ALIAS_NAME_PATTERN}"),
        ));
    }
    Ok(())
}

fn function_version(v: &str) -> Result<(), Failure> {
    let ok = !v.is_empty() && v.len() <= 1024 && (v == "$LATEST" || v.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(validation(
            "functionVersion",
            v,
            &format!("Member must satisfy regular expression pattern: {VERSION_PATTERN}"),
        ))
    }
}

/// `RoutingConfig.AdditionalVersionWeights`: at most one published version,
/// not the alias's own, with a weight from 0 to 1.
fn routing(m: &Map<String, Json>, primary: &str) -> Result<Option<BTreeMap<String, f64>>, Failure> {
    let Some(config) = m.get("RoutingConfig").filter(|v| !v.is_null()) else { return Ok(None) };
    let weights = match config.get("AdditionalVersionWeights") {
        None | Some(Json::Null) => return Ok(Some(BTreeMap::new())),
        Some(Json::Object(w)) => w,
        Some(other) => {
            return Err(fail(
                "InvalidParameterValueException",
                format!("AdditionalVersionWeights must be a map of version to weight, not {other}"),
            ));
        }
    };
    if weights.len() > 1 {
        return Err(fail(
            "InvalidParameterValueException",
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ));
    }
    let mut out = BTreeMap::new();
    for (version, weight) in weights {
        let w = weight.as_f64().filter(|w| (0.0..=1.0).contains(w)).ok_or_else(|| {
            validation(
                "routingConfig.additionalVersionWeights",
                weight,
                "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]",
            )
        })?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || primary == "$LATEST" {
            return Err(fail(
                "InvalidParameterValueException",
                "$LATEST is not supported for an alias pointing to more than 1 version",
            ));
        }
        if version == primary {
            return Err(fail(
                "InvalidParameterValueException",
                format!(
                    "Invalid function version {version}. Function version {version} is already included in routing configuration."
                ),
            ));
        }
        out.insert(version.clone(), w);
    }
    Ok(Some(out))
}

/// `POST /2015-03-31/functions/{name}/aliases` (CreateAlias).
async fn create_alias(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "CreateAlias").await?;
    let lambda = lambda_state(&app)?;
    let function = function_name(lambda, &raw, None)?;
    let name = str_member(&m, "Name")?.ok_or_else(|| validation("name", "null", "Member must not be null"))?;
    alias_name(&name)?;
    let version = str_member(&m, "FunctionVersion")?
        .ok_or_else(|| validation("functionVersion", "null", "Member must not be null"))?;
    function_version(&version)?;
    let description = description(&m)?.unwrap_or_default();
    let additional_weights = routing(&m, &version)?.unwrap_or_default();
    let alias = AliasRecord {
        function,
        name,
        function_version: version,
        description,
        additional_weights,
        revision_id: String::new(),
    };
    let app2 = app.clone();
    let created = blocking(move || Ok(lambda_state(&app2)?.registry.create_alias(alias)?)).await?;
    Ok(reply(StatusCode::CREATED, &alias_json(lambda, &created)))
}

/// `GET /2015-03-31/functions/{name}/aliases` (ListAliases), optionally
/// only the aliases of one `FunctionVersion`.
async fn list_aliases(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let function = function_name(lambda, &raw, None)?;
    let q = query(&uri);
    let limit = max_items(&q, DEFAULT_PAGE)?;
    if let Some(v) = q.get("FunctionVersion") {
        function_version(v)?;
    }
    let all: Vec<AliasRecord> = lambda
        .registry
        .aliases(&function)?
        .into_iter()
        .filter(|a| q.get("FunctionVersion").is_none_or(|v| *v == a.function_version))
        .collect();
    let start = match q.get("Marker") {
        Some(marker) => all.partition_point(|a| a.name.as_str() < marker.as_str()),
        None => 0,
    };
    let out = page(&all, start, limit, "Aliases", |a| alias_json(lambda, a), |a| a.name.clone());
    Ok(reply(StatusCode::OK, &out))
}

/// `GET /2015-03-31/functions/{name}/aliases/{alias}` (GetAlias).
async fn get_alias(State(app): State<Arc<App>>, AliasPath(raw, alias): AliasPath) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let function = function_name(lambda, &raw, None)?;
    alias_name(&alias)?;
    Ok(reply(StatusCode::OK, &alias_json(lambda, &lambda.registry.alias(&function, &alias)?)))
}

/// `PUT /2015-03-31/functions/{name}/aliases/{alias}` (UpdateAlias): the
/// members given replace the alias's; `RevisionId` must match when given.
async fn update_alias(
    State(app): State<Arc<App>>,
    AliasPath(raw, alias): AliasPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "UpdateAlias").await?;
    let lambda = lambda_state(&app)?;
    let function = function_name(lambda, &raw, None)?;
    alias_name(&alias)?;
    let version = str_member(&m, "FunctionVersion")?;
    if let Some(v) = &version {
        function_version(v)?;
    }
    let description = description(&m)?;
    let revision = str_member(&m, "RevisionId")?;
    let current = lambda.registry.alias(&function, &alias)?;
    let primary = version.clone().unwrap_or_else(|| current.function_version.clone());
    let weights = routing(&m, &primary)?;
    let app2 = app.clone();
    let updated = blocking(move || {
        Ok(lambda_state(&app2)?.registry.update_alias(&function, &alias, |a| {
            if let Some(id) = revision
                && id != a.revision_id
            {
                return Err(RegistryError::Precondition(REVISION_MISMATCH.into()));
            }
            if let Some(v) = version {
                a.function_version = v;
            }
            if let Some(d) = description {
                a.description = d;
            }
            if let Some(w) = weights {
                a.additional_weights = w;
            }
            if !a.additional_weights.is_empty() && a.function_version == "$LATEST" {
                return Err(RegistryError::InvalidParameter(
                    "$LATEST is not supported for an alias pointing to more than 1 version".into(),
                ));
            }
            if a.additional_weights.contains_key(&a.function_version) {
                return Err(RegistryError::InvalidParameter(format!(
                    "Invalid function version {0}. Function version {0} is already included in routing configuration.",
                    a.function_version
                )));
            }
            Ok(())
        })?)
    })
    .await?;
    Ok(reply(StatusCode::OK, &alias_json(lambda, &updated)))
}

/// `DELETE /2015-03-31/functions/{name}/aliases/{alias}` (DeleteAlias).
async fn delete_alias(State(app): State<Arc<App>>, AliasPath(raw, alias): AliasPath) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let function = function_name(lambda, &raw, None)?;
    alias_name(&alias)?;
    let app2 = app.clone();
    blocking(move || {
        lambda_state(&app2)?.registry.delete_alias(&function, &alias)?;
        super::invoke_config::forget(&app2.store, &function, &alias).map_err(super::LambdaError::from)?;
        super::urls::forget(&app2.store, &function, Some(&alias)).map_err(super::LambdaError::from)?;
        super::permissions::forget(&app2.store, &function, Some(&alias)).map_err(super::LambdaError::from)?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
