//! Lambda function URLs: an HTTP endpoint per function (or alias) that
//! invokes it with Lambda's function-URL event (payload format 2.0) and maps
//! its response as Lambda does (`Create/Get/Update/DeleteFunctionUrlConfig`,
//! `ListFunctionUrlConfigs`, under `/2021-10-31/`).
//!
//! On AWS a URL is `https://<url-id>.lambda-url.<region>.on.aws/`. Here it
//! is `http://<url-id>.lambda-url.<region>.localhost:<port>/` on the
//! server's own port: a request whose `Host` names a URL id is the function's
//! (`*.localhost` resolves to the loopback address in browsers and curl). A
//! client that cannot resolve such names uses the same URL's path form,
//! `http://<host>:<port>/lambda-url/<url-id>/<path>`.
//!
//! A config lives in the store's system entries (`fnu/<function>/<qualifier>`,
//! `$LATEST` for the unqualified function) with an index by URL id
//! (`fnui/<url-id>`). `AuthType` `AWS_IAM` takes only requests signed for
//! `lambda` once the server's authentication is on (`--auth`); while it is
//! off, as every other API, it admits any caller. `NONE` admits anyone.
//! `InvokeMode` `RESPONSE_STREAM` is accepted and answered buffered.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::InvokeOptions;
use tidepool_store::Store;

use super::api::{
    ApiResult, BodyKind, Failure, MAX_SYNC_PAYLOAD_BYTES, PathParam, blocking, empty, fail, function_ref, json_request,
    lambda_state, max_items, page, percent_decode, query, read_body, reply, validation,
};
use super::{ACCOUNT_ID, Lambda, now_ms};
use crate::dynamodb::App;
use crate::http::PeerAddr;

const PREFIX: &[u8] = b"fnu/";
const INDEX: &[u8] = b"fnui/";
/// The path form of a function URL: `/lambda-url/<url-id>/...`.
const PATH_FORM: &str = "/lambda-url/";
/// ListFunctionUrlConfigs' largest page (Lambda's 50).
const MAX_PAGE: usize = 50;
/// Lambda's limits on a URL's CORS lists.
const MAX_CORS_ENTRIES: usize = 100;
const MAX_CORS_METHODS: usize = 6;
/// Lambda's bound on `Cors.MaxAge` (a day).
const MAX_CORS_MAX_AGE: i64 = 86_400;

/// One function's (or alias's) URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlConfig {
    pub function: String,
    /// `$LATEST` or an alias.
    pub qualifier: String,
    pub url_id: String,
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Json>,
    pub invoke_mode: String,
    pub creation_ms: u64,
    pub last_modified_ms: u64,
}

fn key(function: &str, qualifier: &str) -> Vec<u8> {
    [PREFIX, function.as_bytes(), b"/", qualifier.as_bytes()].concat()
}

fn index_key(url_id: &str) -> Vec<u8> {
    [INDEX, url_id.as_bytes()].concat()
}

fn load(store: &Store, function: &str, qualifier: &str) -> Result<Option<UrlConfig>, Failure> {
    let raw = store.sys_get(&key(function, qualifier)).map_err(|e| fail("ServiceException", e.to_string()))?;
    Ok(raw.and_then(|raw| serde_json::from_slice(&raw).ok()))
}

/// The auth type of the URL of `function` (`$LATEST` or an alias), if it
/// has one.
pub fn url_auth_type(store: &Store, function: &str, qualifier: &str) -> Option<String> {
    load(store, function, qualifier).ok().flatten().map(|c| c.auth_type)
}

fn by_id(store: &Store, url_id: &str) -> Option<UrlConfig> {
    let target = store.sys_get(&index_key(url_id)).ok()??;
    let target = String::from_utf8(target).ok()?;
    let (function, qualifier) = target.rsplit_once('/')?;
    // An index entry left by a config since replaced names nothing.
    load(store, function, qualifier).ok()?.filter(|c| c.url_id == url_id)
}

/// Serialises CreateFunctionUrlConfig's check and write: two at once must
/// not both create (the loser's URL id would stay in the index).
static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn save(store: &Store, c: &UrlConfig) -> Result<(), Failure> {
    let value = serde_json::to_vec(c).map_err(|e| fail("ServiceException", e.to_string()))?;
    let target = format!("{}/{}", c.function, c.qualifier).into_bytes();
    store
        .sys_write(vec![(key(&c.function, &c.qualifier), Some(value)), (index_key(&c.url_id), Some(target))])
        .map_err(|e| fail("ServiceException", e.to_string()))
}

fn remove(store: &Store, c: &UrlConfig) -> Result<(), tidepool_store::StoreError> {
    store.sys_write(vec![(key(&c.function, &c.qualifier), None), (index_key(&c.url_id), None)])
}

/// Forgets every URL of `function` (DeleteFunction), or of one of its
/// aliases (DeleteAlias).
pub fn forget(store: &Store, function: &str, qualifier: Option<&str>) -> Result<(), tidepool_store::StoreError> {
    let prefix = match qualifier {
        Some(q) => key(function, q),
        None => [PREFIX, function.as_bytes(), b"/"].concat(),
    };
    for (_, raw) in store.sys_scan(&prefix)? {
        if let Ok(c) = serde_json::from_slice::<UrlConfig>(&raw)
            && c.function == function
            && qualifier.is_none_or(|q| c.qualifier == q)
        {
            remove(store, &c)?;
        }
    }
    Ok(())
}

/// The routes of the URL config API.
pub fn routes(
    router: Router<Arc<App>>,
    route: impl Fn(Router<Arc<App>>, &str, MethodRouter<Arc<App>>) -> Router<Arc<App>>,
) -> Router<Arc<App>> {
    let router = route(
        router,
        "/2021-10-31/functions/{name}/url",
        post(create_config).get(get_config).put(update_config).delete(delete_config),
    );
    route(router, "/2021-10-31/functions/{name}/urls", get(list_configs))
}

/// A URL config's function and qualifier: an alias or `$LATEST` (Lambda
/// refuses a version number).
fn target(lambda: &Lambda, raw: &str, uri: &Uri) -> Result<(String, String), Failure> {
    let q = query(uri);
    let given = q.get("Qualifier").map(String::as_str);
    if let Some(q) = given
        && !valid_qualifier(q)
    {
        return Err(validation(
            "qualifier",
            q,
            "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
        ));
    }
    let (name, qualifier) = function_ref(lambda, raw, given)?;
    if !lambda.registry.has_qualifier(&name, "$LATEST") {
        return Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}", lambda.registry.function_arn(&name)),
        ));
    }
    match qualifier {
        None => Ok((name, "$LATEST".into())),
        Some(q) if q.bytes().all(|b| b.is_ascii_digit()) || q == "$LATEST" => Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}:{q}", lambda.registry.function_arn(&name)),
        )),
        Some(q) => Ok((name, q)),
    }
}

fn valid_qualifier(q: &str) -> bool {
    !q.is_empty()
        && q.len() <= 128
        && !q.bytes().all(|b| b.is_ascii_digit())
        && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn function_arn(lambda: &Lambda, c: &UrlConfig) -> String {
    match c.qualifier.as_str() {
        "$LATEST" => lambda.registry.function_arn(&c.function),
        q => format!("{}:{q}", lambda.registry.function_arn(&c.function)),
    }
}

/// The URL clients call: the server's own port, the URL id as a host name
/// under `localhost`.
fn url_of(lambda: &Lambda, region: &str, url_id: &str) -> String {
    let port = lambda.endpoint.as_deref().and_then(|e| e.rsplit_once(':')).map(|(_, p)| p.trim_end_matches('/'));
    let scheme = if lambda.https { "https" } else { "http" };
    match port {
        Some(port) => format!("{scheme}://{url_id}.lambda-url.{region}.localhost:{port}/"),
        None => format!("{scheme}://{url_id}.lambda-url.{region}.localhost/"),
    }
}

/// Lambda's timestamps on URL configs: ISO 8601 with microseconds.
fn timestamp(ms: u64) -> String {
    let base = tidepool_store::format_timestamp_millis(ms);
    format!("{base}000Z")
}

fn describe(lambda: &Lambda, region: &str, c: &UrlConfig, with_modified: bool) -> Json {
    let mut out = json!({
        "FunctionUrl": url_of(lambda, region, &c.url_id),
        "FunctionArn": function_arn(lambda, c),
        "AuthType": c.auth_type,
        "CreationTime": timestamp(c.creation_ms),
        "InvokeMode": c.invoke_mode,
    });
    if let Some(cors) = &c.cors {
        out["Cors"] = cors.clone();
    }
    if with_modified {
        out["LastModifiedTime"] = json!(timestamp(c.last_modified_ms));
    }
    out
}

/// An enum member `name` (`member` in messages) of `values`; `None` when
/// absent, which is an error when `required`.
fn enum_member(
    m: &Map<String, Json>,
    (name, member): (&str, &str),
    values: &[&str],
    required: bool,
) -> Result<Option<String>, Failure> {
    match m.get(name) {
        None | Some(Json::Null) if required => Err(validation(member, "null", "Member must not be null")),
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if values.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(other) => Err(validation(
            member,
            other.as_str().unwrap_or(&other.to_string()),
            &format!("Member must satisfy enum value set: [{}]", values.join(", ")),
        )),
    }
}

fn auth_type(m: &Map<String, Json>, required: bool) -> Result<Option<String>, Failure> {
    enum_member(m, ("AuthType", "authType"), &["AWS_IAM", "NONE"], required)
}

fn invoke_mode(m: &Map<String, Json>) -> Result<Option<String>, Failure> {
    enum_member(m, ("InvokeMode", "invokeMode"), &["RESPONSE_STREAM", "BUFFERED"], false)
}

/// `Cors`, checked against Lambda's constraints; `None` when absent.
fn cors(m: &Map<String, Json>) -> Result<Option<Json>, Failure> {
    let Some(c) = m.get("Cors").filter(|c| !c.is_null()) else { return Ok(None) };
    let Json::Object(c) = c else {
        return Err(fail("InvalidParameterValueException", "Cors must be an object"));
    };
    let mut out = Map::new();
    for (name, v) in c {
        let member = match name.as_str() {
            "AllowCredentials" => {
                let Json::Bool(_) = v else {
                    return Err(fail("InvalidParameterValueException", "Cors.AllowCredentials must be a boolean"));
                };
                v.clone()
            }
            "MaxAge" => match v.as_i64() {
                Some(n) if (0..=MAX_CORS_MAX_AGE).contains(&n) => v.clone(),
                _ => {
                    return Err(validation(
                        "cors.maxAge",
                        v,
                        &format!("Member must have value less than or equal to {MAX_CORS_MAX_AGE}"),
                    ));
                }
            },
            "AllowHeaders" | "AllowMethods" | "AllowOrigins" | "ExposeHeaders" => {
                let Some(list) = v.as_array().filter(|l| l.iter().all(Json::is_string)) else {
                    return Err(fail(
                        "InvalidParameterValueException",
                        format!("Cors.{name} must be a list of strings"),
                    ));
                };
                let (most, longest) =
                    if name == "AllowMethods" { (MAX_CORS_METHODS, 6) } else { (MAX_CORS_ENTRIES, 1024) };
                if list.len() > most {
                    return Err(validation(
                        &format!("cors.{}", lower_first(name)),
                        v,
                        &format!("Member must have length less than or equal to {most}"),
                    ));
                }
                if let Some(long) = list.iter().filter_map(Json::as_str).find(|s| s.is_empty() || s.len() > longest) {
                    return Err(validation(
                        &format!("cors.{}", lower_first(name)),
                        long,
                        &format!("Member must have length between 1 and {longest}"),
                    ));
                }
                v.clone()
            }
            other => {
                return Err(fail("InvalidParameterValueException", format!("Cors has no member {other}")));
            }
        };
        out.insert(name.clone(), member);
    }
    Ok(Some(Json::Object(out)))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str()).unwrap_or_default()
}

/// A fresh URL id: 32 lowercase letters and digits, as Lambda's.
fn new_url_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().chain(more.iter()).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

async fn create_config(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "CreateFunctionUrlConfig").await?;
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let auth = auth_type(&m, true)?.unwrap_or_default();
    let cors = cors(&m)?;
    let mode = invoke_mode(&m)?.unwrap_or_else(|| "BUFFERED".into());
    let (app2, region) = (app.clone(), app.region.clone());
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        if !lambda.registry.has_qualifier(&function, &qualifier) {
            return Err(fail(
                "ResourceNotFoundException",
                format!("Function not found: {}", lambda.registry.function_arn(&function)),
            ));
        }
        if load(&lambda.store, &function, &qualifier)?.is_some() {
            let arn = match qualifier.as_str() {
                "$LATEST" => lambda.registry.function_arn(&function),
                q => format!("{}:{q}", lambda.registry.function_arn(&function)),
            };
            return Err(fail(
                "ResourceConflictException",
                format!(
                    "Failed to create function url config for [functionArn = {arn}]. Error message:  \
                     FunctionUrlConfig exists for this Lambda function"
                ),
            ));
        }
        let now = now_ms();
        let c = UrlConfig {
            function,
            qualifier,
            url_id: new_url_id(),
            auth_type: auth,
            cors,
            invoke_mode: mode,
            creation_ms: now,
            last_modified_ms: now,
        };
        save(&lambda.store, &c)?;
        Ok(reply(StatusCode::CREATED, &describe(lambda, &region, &c, false)))
    })
    .await
}

fn not_found() -> Failure {
    fail("ResourceNotFoundException", "The resource you requested does not exist.")
}

async fn get_config(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let c = load(&lambda.store, &function, &qualifier)?.ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, &describe(lambda, &app.region, &c, true)))
}

async fn update_config(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "UpdateFunctionUrlConfig").await?;
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let auth = auth_type(&m, false)?;
    let cors = cors(&m)?;
    let mode = invoke_mode(&m)?;
    let cors_given = m.contains_key("Cors");
    let (app2, region) = (app.clone(), app.region.clone());
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        let mut c = load(&lambda.store, &function, &qualifier)?.ok_or_else(not_found)?;
        if let Some(auth) = auth {
            c.auth_type = auth;
        }
        if cors_given {
            c.cors = cors;
        }
        if let Some(mode) = mode {
            c.invoke_mode = mode;
        }
        c.last_modified_ms = now_ms();
        save(&lambda.store, &c)?;
        Ok(reply(StatusCode::OK, &describe(lambda, &region, &c, true)))
    })
    .await
}

async fn delete_config(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    let app2 = app.clone();
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        let c = load(&lambda.store, &function, &qualifier)?.ok_or_else(not_found)?;
        remove(&lambda.store, &c).map_err(|e| fail("ServiceException", e.to_string()))?;
        Ok(empty(StatusCode::NO_CONTENT))
    })
    .await
}

async fn list_configs(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let (function, qualifier) = function_ref(lambda, &raw, None)?;
    if !lambda.registry.has_qualifier(&function, "$LATEST") {
        return Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}", lambda.registry.function_arn(&function)),
        ));
    }
    if qualifier.is_some() {
        return Err(fail(
            "InvalidParameterValueException",
            "ListFunctionUrlConfigs takes an unqualified function name",
        ));
    }
    let limit = max_items(&q, MAX_PAGE)?;
    if limit > MAX_PAGE {
        return Err(validation("maxItems", limit, "Member must have value less than or equal to 50"));
    }
    let prefix = [PREFIX, function.as_bytes(), b"/"].concat();
    let all: Vec<UrlConfig> = lambda
        .store
        .sys_scan(&prefix)
        .map_err(|e| fail("ServiceException", e.to_string()))?
        .into_iter()
        .filter_map(|(_, raw)| serde_json::from_slice::<UrlConfig>(&raw).ok())
        .filter(|c| c.function == function)
        .collect();
    let start = match q.get("Marker") {
        Some(marker) => all
            .iter()
            .position(|c| c.url_id == *marker)
            .ok_or_else(|| fail("InvalidParameterValueException", "The marker is not valid for this request"))?,
        None => 0,
    };
    let out = page(
        &all,
        start,
        limit,
        "FunctionUrlConfigs",
        |c| describe(lambda, &app.region, c, true),
        |c| c.url_id.clone(),
    );
    Ok(reply(StatusCode::OK, &out))
}

// ---------------------------------------------------------------- serving URLs

/// The URL id a request is addressed to, with the path it carries, if it is
/// a function URL's: by `Host` (`<url-id>.lambda-url.<anything>`) or by the
/// path form (`/lambda-url/<url-id>/...`).
pub fn addressed(req: &Request) -> Option<(String, String)> {
    let host =
        req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| req.uri().host()).unwrap_or_default();
    let name =
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    if let Some((id, rest)) = name.split_once('.')
        && rest.starts_with("lambda-url.")
        && is_url_id(id)
    {
        return Some((id.to_ascii_lowercase(), req.uri().path().to_string()));
    }
    let rest = req.uri().path().strip_prefix(PATH_FORM)?;
    let (id, path) = rest.split_once('/').map_or((rest, ""), |(id, path)| (id, path));
    is_url_id(id).then(|| (id.to_ascii_lowercase(), format!("/{path}")))
}

fn is_url_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A plain answer of the URL front end: `{"Message": ...}`, as Lambda's.
fn message(status: StatusCode, text: &str) -> Response {
    let mut resp = (status, json!({"Message": text}).to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Serves a request to function URL `url_id`: CORS preflight, or the
/// function's invocation with the request as its event.
pub async fn serve(app: Arc<App>, url_id: String, raw_path: String, req: Request) -> Response {
    with_request_id(serve_url(app, url_id, raw_path, req).await)
}

async fn serve_url(app: Arc<App>, url_id: String, raw_path: String, req: Request) -> Response {
    let Ok(lambda) = lambda_state(&app) else { return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable") };
    let store = lambda.store.clone();
    let id = url_id.clone();
    let Ok(Some(config)) = tokio::task::spawn_blocking(move || by_id(&store, &id)).await else {
        return message(StatusCode::FORBIDDEN, "Forbidden");
    };
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    if req.method() == Method::OPTIONS
        && origin.is_some()
        && let Some(cors) = &config.cors
    {
        return preflight(cors, origin.as_deref().unwrap_or_default(), req.headers());
    }
    // `AWS_IAM` URLs take only signed requests once authentication is on.
    let (req, _held) = match &app.auth {
        Some(auth) if config.auth_type == "AWS_IAM" => {
            match crate::http::auth::authenticate_function_url(auth, &app, req).await {
                Ok((req, held)) => {
                    // A caller with policies needs lambda:InvokeFunctionUrl
                    // and, as for every URL made since October 2025,
                    // lambda:InvokeFunction (the Lambda guide's "Control
                    // access to Lambda function URLs").
                    let caller = req.extensions().get::<crate::http::auth::Caller>().cloned();
                    if let Some(caller) = caller.filter(|c| c.principal.policies.is_some()) {
                        let qualifier = (config.qualifier != "$LATEST").then_some(config.qualifier.as_str());
                        let arn = super::access::function_arn(&config.function, qualifier, &app.region);
                        let mut checks = vec![
                            crate::iam::Check::new("lambda:InvokeFunctionUrl", arn.clone())
                                .with("lambda:FunctionUrlAuthType", vec!["AWS_IAM".into()]),
                            crate::iam::Check::new("lambda:InvokeFunction", arn)
                                .with("lambda:InvokedViaFunctionUrl", vec!["true".into()]),
                        ];
                        super::permissions::attach(&app.store, &mut checks);
                        if let Err(denied) = caller.authorize(checks, &app.region) {
                            return message(StatusCode::FORBIDDEN, &denied.message);
                        }
                    }
                    (req, held)
                }
                Err(refused) => return refused,
            }
        }
        _ => (req, None),
    };
    let mut resp = match invoke(&app, lambda, &config, &url_id, raw_path, req).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    };
    if let (Some(cors), Some(origin)) = (&config.cors, origin.as_deref()) {
        cors_headers(cors, origin, resp.headers_mut());
    }
    resp
}

/// Every answer of a URL carries a request id, as Lambda's.
fn with_request_id(mut resp: Response) -> Response {
    if !resp.headers().contains_key("x-amzn-requestid")
        && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

async fn invoke(
    app: &Arc<App>,
    lambda: &Lambda,
    config: &UrlConfig,
    url_id: &str,
    raw_path: String,
    req: Request,
) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip().to_canonical().to_string());
    let payload = read_body(
        app,
        &parts.headers,
        body,
        (MAX_SYNC_PAYLOAD_BYTES, BodyKind::Invoke),
        "RequestTooLargeException",
        "Invoke",
    )
    .await
    .map_err(|f| match f.kind() {
        "TooManyRequestsException" => message(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded."),
        "RequestTooLargeException" => message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        ),
        _ => message(StatusCode::BAD_REQUEST, "Bad Request"),
    })?;
    let event = event(config, url_id, &raw_path, &parts, &payload.bytes, peer.as_deref().unwrap_or("127.0.0.1"));
    let qualifier = (config.qualifier != "$LATEST").then_some(config.qualifier.as_str());
    let function = lambda
        .registry
        .resolve(&config.function, qualifier)
        .map_err(|_| message(StatusCode::FORBIDDEN, "Forbidden"))?;
    let permit = function.try_acquire().map_err(|_| {
        app.metrics.throttled(&config.function);
        message(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.")
    })?;
    let (logs, name) = (lambda.logs.clone(), config.function.clone());
    let reservation = payload.reservation;
    let event = event.to_string();
    if event.len() > MAX_SYNC_PAYLOAD_BYTES {
        return Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        ));
    }
    let inv = tokio::task::spawn_blocking(move || {
        let _reservation = reservation;
        let _running = logs.running(&name);
        let inv = function.invoke(permit, &event, InvokeOptions::new());
        logs.record(&name, &inv);
        inv
    })
    .await
    .map_err(|_| message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))?;
    let mut resp = match &inv.result {
        Err(_) => message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
        Ok(payload) => response_of(payload),
    };
    if let Ok(v) = HeaderValue::from_str(&inv.request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    Ok(resp)
}

/// Lambda's function-URL event (payload format 2.0) for a request.
fn event(
    config: &UrlConfig,
    url_id: &str,
    raw_path: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
    source_ip: &str,
) -> Json {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if *name == header::COOKIE {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string));
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_pairs(&raw_query) {
        params
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let host =
        headers.get("host").map(|h| h.rsplit_once(':').map_or(h.as_str(), |(n, _)| n).to_string()).unwrap_or_default();
    let now = now_ms();
    let method = parts.method.as_str();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut e = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": if config.auth_type == "AWS_IAM" { ACCOUNT_ID } else { "anonymous" },
            "apiId": url_id,
            "domainName": host,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": format!("{:?}", parts.version),
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": now,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !params.is_empty() {
        e["queryStringParameters"] = json!(params);
    }
    if !body.is_empty() {
        let content_type = headers.get("content-type").map(String::as_str).unwrap_or_default();
        match std::str::from_utf8(body) {
            Ok(text) if is_text(content_type) => e["body"] = json!(text),
            _ => {
                e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                e["isBase64Encoded"] = json!(true);
            }
        }
    }
    e
}

/// Whether Lambda passes a body of this type as text (else base64).
fn is_text(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    t.starts_with("text/")
        || t.ends_with("/json")
        || t.ends_with("+json")
        || t.ends_with("/xml")
        || t.ends_with("+xml")
        || t == "application/javascript"
        || t == "application/x-www-form-urlencoded"
}

/// `application/x-www-form-urlencoded` pairs of a query string, decoded.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((percent_decode(k), percent_decode(v)));
    }
    out
}

/// The request time as API Gateway and function URLs write it:
/// `12/Mar/2020:19:03:58 +0000`.
fn clf_time(ms: u64) -> String {
    let iso = tidepool_store::format_timestamp_millis(ms); // 2020-03-12T19:03:58.123
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = iso.get(5..7).and_then(|m| m.parse::<usize>().ok()).and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    match (iso.get(0..4), month, iso.get(8..10), iso.get(11..19)) {
        (Some(y), Some(m), Some(d), Some(t)) => format!("{d}/{m}/{y}:{t} +0000"),
        _ => iso,
    }
}

/// The HTTP response for a function's result, as Lambda maps it: an object
/// with `statusCode` gives the status, `headers`, `cookies` and `body`
/// (base64-decoded when `isBase64Encoded`); any other result is a 200 JSON
/// body of the result itself.
fn response_of(payload: &str) -> Response {
    let json = |body: String| {
        let mut resp = (StatusCode::OK, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    };
    let m = match serde_json::from_str::<Json>(payload) {
        Ok(Json::Object(m)) if m.contains_key("statusCode") => m,
        // A string is the body itself (`"Hello"` answers `Hello`).
        Ok(Json::String(s)) => return json(s),
        Ok(_) => return json(payload.to_string()),
        Err(_) => return message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
    };
    let Some(status) =
        m["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
    };
    let body = match m.get("body") {
        Some(Json::String(s)) if m.get("isBase64Encoded").and_then(Json::as_bool) == Some(true) => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => bytes,
                Err(_) => return message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
            }
        }
        Some(Json::String(s)) => s.clone().into_bytes(),
        None | Some(Json::Null) => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.remove(header::CONTENT_TYPE);
    if let Some(Json::Object(headers)) = m.get("headers") {
        for (name, value) in headers {
            let value = match value {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(&value)) {
                h.append(n, v);
            }
        }
    }
    if let Some(Json::Array(cookies)) = m.get("cookies") {
        for c in cookies.iter().filter_map(Json::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::SET_COOKIE, v);
            }
        }
    }
    resp
}

fn list<'a>(cors: &'a Json, member: &str) -> Vec<&'a str> {
    cors[member].as_array().map(|l| l.iter().filter_map(Json::as_str).collect()).unwrap_or_default()
}

fn origin_allowed(cors: &Json, origin: &str) -> bool {
    list(cors, "AllowOrigins").iter().any(|o| *o == "*" || o.eq_ignore_ascii_case(origin))
}

/// The answer to a CORS preflight, from the URL's `Cors`.
fn preflight(cors: &Json, origin: &str, headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::OK.into_response();
    if !origin_allowed(cors, origin) {
        return resp;
    }
    let method = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|m| m.to_str().ok()).unwrap_or_default();
    let methods = list(cors, "AllowMethods");
    let h = resp.headers_mut();
    cors_headers(cors, origin, h);
    if methods.iter().any(|m| *m == "*" || m.eq_ignore_ascii_case(method))
        && let Ok(v) = HeaderValue::from_str(&method.to_ascii_uppercase())
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    let allow_headers = list(cors, "AllowHeaders");
    if !allow_headers.is_empty()
        && let Ok(v) = HeaderValue::from_str(&allow_headers.join(","))
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = cors["MaxAge"].as_i64() {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    resp
}

/// The CORS headers of an answer to an allowed origin.
fn cors_headers(cors: &Json, origin: &str, h: &mut HeaderMap) {
    if !origin_allowed(cors, origin) {
        return;
    }
    let allow =
        if list(cors, "AllowOrigins").contains(&"*") && cors["AllowCredentials"] != json!(true) { "*" } else { origin };
    if let Ok(v) = HeaderValue::from_str(allow) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if allow != "*" {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    let expose = list(cors, "ExposeHeaders");
    if !expose.is_empty()
        && let Ok(v) = HeaderValue::from_str(&expose.join(","))
    {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if cors["AllowCredentials"] == json!(true) {
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_map_as_lambda_maps_them() {
        let r = response_of(r#"{"statusCode": 201, "headers": {"x-a": "b"}, "body": "hi", "cookies": ["c=1"]}"#);
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "b");
        assert_eq!(r.headers()[header::SET_COOKIE], "c=1");
        let r = response_of(r#"{"message": "no status"}"#);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response_of("\"text\"").status(), 200);
        assert_eq!(response_of("not json").status(), 502);
        assert_eq!(clf_time(1_583_348_638_390), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(
            form_pairs("a=1&a=2&b=x%20y"),
            vec![("a".into(), "1".into()), ("a".into(), "2".into()), ("b".into(), "x y".into())]
        );
        assert!(is_text("application/json; charset=utf-8") && !is_text("application/octet-stream"));
    }
}
