//! The `store` import of handler components: a guest's DynamoDB calls run
//! through the very dispatch the HTTP API uses, so they see the same
//! semantics and errors, and their writes produce stream records like any
//! other, carrying the trigger chain's depth.
//!
//! For a mapping in exactly-once mode each invocation gets a
//! [`DeferringServerBridge`]: its writes are staged in a unit of work (so
//! they are checked and answered as they would run now) and recorded rather
//! than committed. The delivery engine's ledger later replays the record
//! through [`StoreBridge::replay`] into the unit that commits the
//! checkpoint.
//!
//! On a worker (`tidepool workers --source`) the calls go to the source
//! engine instead, and an exactly-once invocation gets a
//! [`worker::WorkerDeferringBridge`], whose writes commit in the source's
//! `TransactWriteItems` with the lease's checkpoint.
//!
//! A guest's AWS SDK reaches the same bridge over `wasi:http`
//! (`runtime/src/outbound.rs`): its DynamoDB calls come through
//! [`StoreBridge::call_wire`], which keeps DynamoDB's whole error body, and
//! its other requests to the server (Streams, the Lambda API) through
//! [`StoreBridge::http`], which runs the server's router in process.

use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::Value as Json;
use tidepool_runtime::{
    DeferredCall, DeferringBridge, HttpFuture, InvocationOrigin, StoreBridge, StoreCallError, WireResponse,
};
use tidepool_store::{Origin, Unit, messages};
use tower_service::Service;

use crate::dynamodb::error::ApiError;
use crate::dynamodb::request::Req;
use crate::dynamodb::{App, dispatch, with_origin, with_unit};

pub mod worker;

/// Operations an exactly-once handler runs at once: they read the
/// committed store.
const READS: &[&str] = &[
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
    "SearchVectors",
    "DescribeTable",
    "ListTables",
    "DescribeTimeToLive",
    "ListTagsOfResource",
    "DescribeLimits",
    "DescribeEndpoints",
];

/// Operations whose item writes an exactly-once handler defers. PartiQL
/// SELECTs among them read the committed store and defer nothing.
pub(crate) const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// The largest answer a guest's in-process request to the server's router
/// gets: past Lambda's 6 MB invoke response and Streams' 1 MB of records,
/// with room for their envelopes.
const MAX_IN_PROCESS_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The server's [`StoreBridge`]. Holds the server state weakly: the state
/// owns the runtime, which owns the bridge.
pub struct ServerBridge {
    app: Weak<App>,
    /// The server's runtime, where a guest's requests to the router run.
    handle: Option<tokio::runtime::Handle>,
    /// On a worker, the source's table definitions its exactly-once
    /// handlers' writes are staged against (made at the first).
    mirror: Mutex<Option<Arc<worker::Mirror>>>,
}

impl ServerBridge {
    pub fn new(app: Weak<App>) -> Self {
        ServerBridge { app, handle: tokio::runtime::Handle::try_current().ok(), mirror: Mutex::default() }
    }

    fn mirror(&self) -> Result<Arc<worker::Mirror>, ApiError> {
        let mut mirror = self.mirror.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = &*mirror {
            return Ok(m.clone());
        }
        let region = self.app.upgrade().ok_or_else(stopping)?.region.clone();
        let made = Arc::new(worker::Mirror::open(&region)?);
        *mirror = Some(made.clone());
        Ok(made)
    }
}

fn short_type(e: &ApiError) -> String {
    e.kind.rsplit('#').next().unwrap_or(&e.kind).to_string()
}

fn call_error(e: ApiError) -> StoreCallError {
    StoreCallError::new(short_type(&e), e.message)
}

fn wire(result: Result<String, ApiError>) -> WireResponse {
    match result {
        Ok(body) => WireResponse { status: 200, body },
        Err(e) => WireResponse { status: e.status.as_u16(), body: e.body() },
    }
}

fn stopping() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", messages::server::STOPPING)
}

/// Runs one DynamoDB operation for a guest, its writes attributed to chain
/// depth `depth`.
fn run(app: &Weak<App>, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, ApiError> {
    let mut json = parse_request(request_json)?;
    run_parsed(app, operation, &mut json, origin, None).map(|served| served.body)
}

fn parse_request(request_json: &str) -> Result<Json, ApiError> {
    serde_json::from_str(request_json).map_err(|e| ApiError::serialization(messages::request::malformed_body(e)))
}

/// A guest's call as served: its answer, and what its role was denied
/// within it (a BatchExecuteStatement's statements, by position), which a
/// replay of it must deny again.
struct Served {
    body: String,
    denied: Vec<Option<String>>,
}

/// [`run`] on a request already parsed. Its members are read as their
/// declared types first, as over HTTP (`dynamodb::shapes`). `replayed`:
/// the call is the replay of a deferred write, authorized when it was
/// staged, whose denials (`DeferredCall::denied`) it repeats.
fn run_parsed(
    app: &Weak<App>,
    operation: &str,
    json: &mut Json,
    origin: &InvocationOrigin,
    replayed: Option<Vec<Option<String>>>,
) -> Result<Served, ApiError> {
    let app = app.upgrade().ok_or_else(stopping)?;
    let Json::Object(map) = json else {
        return Err(ApiError::serialization(messages::request::BODY_NOT_OBJECT));
    };
    crate::dynamodb::shapes::deserialize(operation, false, map)?;
    let renamed = crate::dynamodb::arn::table_names(&app.region, operation, map)?;
    let map = &*map;
    let replay = replayed.is_some();
    let denied = match replayed {
        Some(denied) => denied,
        None => authorize_role(&app, operation, map, origin)?,
    };
    let depth = Origin { ttl: false, depth: origin.chain_depth, replicated: None };
    let serve = || dispatch(&app, operation, Req(map), "localhost");
    let body = crate::dynamodb::partiql::with_denials(denied.clone(), || with_origin(depth, serve))?;
    // A deferred write is traced as the handler made it, not at replay.
    if !replay {
        app.traces.record(&app, &origin.request_id, operation, map);
    }
    let body = if renamed.is_empty() { body.into_string() } else { renamed.restore(body.into_json()).to_string() };
    Ok(Served { body, denied })
}

/// With authentication on and roles in the auth file (`[[roles]]`), a
/// handler's call is authorized as its function's execution role; a role
/// the file does not list allows nothing. Without roles, the call runs as
/// an administrator, refused only by an explicit deny in a table's or
/// stream's resource-based policy. A BatchExecuteStatement's statements
/// are authorized one by one: the answer is each one's denial, by position.
fn authorize_role(
    app: &App,
    operation: &str,
    map: &serde_json::Map<String, Json>,
    origin: &InvocationOrigin,
) -> Result<Vec<Option<String>>, ApiError> {
    let Some(principal) = role_principal(app, &origin.function_name, &origin.function_version) else {
        return Ok(Vec::new());
    };
    // An in-process call: no source address, as AWS leaves `aws:SourceIp`
    // out of a call a service makes on your behalf.
    let origin = crate::iam::Origin::IN_PROCESS;
    if operation == "BatchExecuteStatement" {
        let authorize = |checks| principal.authorize(checks, &app.region, &origin);
        return Ok(crate::dynamodb::access::batch_statement_denials(app, map, authorize));
    }
    let checks = crate::dynamodb::access::checks(app, operation, map, false);
    if let Some(refused) = crate::dynamodb::access::unreadable_elsewhere(&checks) {
        return Err(refused);
    }
    principal
        .authorize(checks, &app.region, &origin)
        .map_err(|d| ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", d.message))?;
    // A handler's role is held to DynamoDB's lockout check as any caller.
    if operation == "PutResourcePolicy" {
        crate::dynamodb::policy::lockout_check(app, &principal, &origin, map)?;
    }
    Ok(Vec::new())
}

/// The principal a handler of `function` runs as: its execution role's
/// session, once the auth file lists roles, or an administrator's session
/// of that role once some table has a resource-based policy (`None`
/// otherwise, and with authentication off: nothing to check). Once the
/// file lists roles, a function that cannot be looked up (deleted while
/// its handler runs) runs as a role that allows nothing.
pub(crate) fn role_principal(app: &App, function: &str, version: &str) -> Option<crate::iam::Principal> {
    let auth = app.auth.as_ref().filter(|a| a.has_roles() || app.store.any_resource_policy())?;
    let registry = app.lambda.get().map(|l| &l.registry);
    // A published version runs with its own configuration's role.
    let record = match tidepool_runtime::registry::version_number(version) {
        Some(n) => registry.and_then(|r| r.version(function, n)),
        None => registry.and_then(|r| r.get(function).ok()),
    };
    let role = record.map(|r| r.role).unwrap_or_default();
    Some(auth.role_principal(&role, function))
}

/// A handler's in-process request that is not a DynamoDB call, in the
/// request's extensions: the chain depth of the invocation that made it,
/// which an Invoke continues, and its function (whose role authorizes it).
#[derive(Debug, Clone)]
pub struct GuestCall {
    pub depth: u32,
    pub function: Arc<str>,
    /// The function's version that runs (its role authorizes the call).
    pub version: Arc<str>,
}

/// What a handler may ask of the server's router in process: DynamoDB
/// Streams (any), and of the Lambda API, Invoke and reads. The control
/// plane (creating or changing functions, mappings and URLs, and the
/// `/tidepool` endpoints: deploy, reset, logs) is the operator's, not a
/// handler's: while authentication is off nothing else would keep a handler
/// from rewriting its own allowed hosts or another function's code. A
/// handler of an exactly-once mapping may only read Streams (anything else
/// would repeat on every redelivery).
fn guest_may(request: &axum::http::Request<Bytes>, exactly_once: bool) -> Result<(), String> {
    use axum::http::Method;
    let target = request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or("");
    let path = request.uri().path();
    // A Streams target, only where the router takes DynamoDB's protocol:
    // on another path the router would serve the path instead.
    if request.method() == Method::POST
        && target.starts_with("DynamoDBStreams_20120810.")
        && crate::http::auth::is_dynamodb_path(path)
        && !path.starts_with("/lambda-url/")
    {
        return Ok(());
    }
    let what = format!("{} {path}", request.method());
    if exactly_once {
        return Err(messages::request::not_for_exactly_once_handler_request(what));
    }
    let lambda_api = path.starts_with("/20") && !path.starts_with("/tidepool");
    let invoke = request.method() == Method::POST && path.ends_with("/invocations");
    if lambda_api && (invoke || request.method() == Method::GET) {
        return Ok(());
    }
    Err(messages::request::not_for_handler_request(what))
}

/// A JSON error answer to a guest's in-process request: Lambda's shape on
/// its paths, DynamoDB's elsewhere.
fn refused(request: &axum::http::Request<Bytes>, message: String) -> axum::http::Response<Bytes> {
    let path = request.uri().path();
    let lambda = path.starts_with("/20") || path.starts_with("/tidepool");
    let body = if lambda {
        serde_json::json!({"Message": message}).to_string()
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message).body()
    };
    let mut response = axum::http::Response::new(Bytes::from(body));
    *response.status_mut() = if lambda { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST };
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    if lambda {
        headers.insert("x-amzn-ErrorType", axum::http::HeaderValue::from_static("AccessDeniedException"));
        if let Ok(id) = axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-RequestId", id);
        }
    }
    response
}

/// Aborts a task of the server's runtime when dropped: a guest's request
/// stops when its invocation does.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves a guest's request to the server's router on the server's runtime
/// (its handlers spawn tasks there), as a connection would, if the guest
/// may make it ([`guest_may`]).
fn route(
    app: &Weak<App>,
    handle: &Option<tokio::runtime::Handle>,
    mut request: axum::http::Request<Bytes>,
    origin: &InvocationOrigin,
    exactly_once: bool,
) -> HttpFuture {
    if let Err(message) = guest_may(&request, exactly_once) {
        let response = refused(&request, message);
        return Box::pin(async move { response });
    }
    request.extensions_mut().insert(GuestCall {
        depth: origin.chain_depth,
        function: origin.function_name.as_str().into(),
        version: origin.function_version.as_str().into(),
    });
    let app = app.upgrade();
    let handle = handle.clone();
    Box::pin(async move {
        let failed = |e: ApiError| {
            let status = e.status;
            let mut response = axum::http::Response::new(Bytes::from(e.body()));
            *response.status_mut() = status;
            response
        };
        let Some(app) = app else { return failed(stopping()) };
        let serve = async move {
            let mut router = crate::router(app);
            let response = match router.call(request.map(axum::body::Body::from)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            match axum::body::to_bytes(body, MAX_IN_PROCESS_RESPONSE_BYTES).await {
                Ok(bytes) => axum::http::Response::from_parts(parts, bytes),
                Err(_) => failed(ApiError::internal()),
            }
        };
        match handle {
            Some(handle) => {
                let mut task = AbortOnDrop(handle.spawn(serve));
                (&mut task.0).await.unwrap_or_else(|_| failed(stopping()))
            }
            None => serve.await,
        }
    })
}

/// The engine a worker's handlers call (`tidepool workers --source`): the
/// one its mappings read, not this server's store.
fn source_engine(app: &Weak<App>) -> Option<Arc<tidepool_runtime::endpoint::Endpoint>> {
    app.upgrade()?.lambda.get()?.stream_source.clone()
}

/// Runs a guest's DynamoDB call on the source engine, on the server's
/// runtime (where the connection lives), waiting on this invocation's
/// thread: DynamoDB's status and body as the engine answered them.
fn call_source(
    endpoint: Arc<tidepool_runtime::endpoint::Endpoint>,
    handle: &Option<tokio::runtime::Handle>,
    operation: &str,
    request_json: &str,
) -> WireResponse {
    let unreachable = |message: String| {
        let e = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", message);
        WireResponse { status: e.status.as_u16(), body: e.body() }
    };
    let Some(handle) = handle else { return unreachable(messages::server::STOPPING.into()) };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (op, body) = (operation.to_string(), request_json.as_bytes().to_vec());
    let _task = AbortOnDrop(handle.spawn(async move {
        let _ = tx.send(endpoint.call_raw(tidepool_runtime::endpoint::Service::DynamoDb, &op, body).await);
    }));
    // The call times out on its own; this wait is a second bound.
    let wait = tidepool_runtime::endpoint::ENDPOINT_TIMEOUT + std::time::Duration::from_secs(1);
    match rx.recv_timeout(wait) {
        Ok(Ok((status, body))) => WireResponse { status, body: String::from_utf8_lossy(&body).into_owned() },
        Ok(Err(e)) => unreachable(messages::server::source_unanswered(e)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            unreachable(messages::server::source_unanswered_within(wait))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => unreachable(messages::server::STOPPING.into()),
    }
}

/// A forwarded call is authorized here first, as the handler's execution
/// role, as a call to this server's store would be.
fn authorize_forwarded(
    app: &Weak<App>,
    operation: &str,
    request_json: &str,
    origin: &InvocationOrigin,
) -> Result<(), ApiError> {
    let app = app.upgrade().ok_or_else(stopping)?;
    let json: Json = serde_json::from_str(request_json)
        .map_err(|e| ApiError::serialization(messages::request::malformed_body(e)))?;
    let Json::Object(map) = &json else {
        return Err(ApiError::serialization(messages::request::BODY_NOT_OBJECT));
    };
    let denied = crate::dynamodb::access::for_elsewhere(|| authorize_role(&app, operation, map, origin))?;
    // The other engine runs the batch: a statement this role may not run
    // refuses it whole here (the statements cannot fail one by one there).
    match denied.into_iter().flatten().next() {
        Some(message) => Err(ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", message)),
        None => Ok(()),
    }
}

/// A wire answer as the `store` import's result.
fn from_wire(w: WireResponse) -> Result<String, StoreCallError> {
    if (200..300).contains(&w.status) {
        return Ok(w.body);
    }
    let json: Json = serde_json::from_str(&w.body).unwrap_or(Json::Null);
    let kind = json.get("__type").and_then(Json::as_str).unwrap_or("InternalServerError");
    let message = json.get("message").or_else(|| json.get("Message")).and_then(Json::as_str).unwrap_or_default();
    Err(StoreCallError::new(kind.rsplit('#').next().unwrap_or(kind), message))
}

impl StoreBridge for ServerBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        if let Some(endpoint) = source_engine(&self.app) {
            authorize_forwarded(&self.app, operation, request_json, origin).map_err(call_error)?;
            return from_wire(call_source(endpoint, &self.handle, operation, request_json));
        }
        run(&self.app, operation, request_json, origin).map_err(call_error)
    }

    fn call_wire(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> WireResponse {
        if let Some(endpoint) = source_engine(&self.app) {
            if let Err(e) = authorize_forwarded(&self.app, operation, request_json, origin) {
                return wire(Err(e));
            }
            return call_source(endpoint, &self.handle, operation, request_json);
        }
        wire(run(&self.app, operation, request_json, origin))
    }

    fn http(&self, request: axum::http::Request<Bytes>, origin: &InvocationOrigin) -> HttpFuture {
        route(&self.app, &self.handle, request, origin, false)
    }

    fn deferring(&self) -> Option<Arc<dyn DeferringBridge>> {
        if let Some(endpoint) = source_engine(&self.app) {
            return match self.mirror() {
                Ok(mirror) => Some(Arc::new(worker::WorkerDeferringBridge::new(
                    self.app.clone(),
                    self.handle.clone(),
                    endpoint,
                    mirror,
                ))),
                Err(e) => {
                    tracing::error!(error = %e.message, "exactly-once writes cannot be staged on this worker");
                    None
                }
            };
        }
        Some(Arc::new(DeferringServerBridge {
            app: self.app.clone(),
            handle: self.handle.clone(),
            state: Mutex::default(),
        }))
    }

    fn replay(&self, calls: &[DeferredCall], unit: &mut Unit) -> Result<(), StoreCallError> {
        for c in calls {
            // Authorized when staged: the replay names no function, and
            // denies again what was denied then (a denied statement of a
            // BatchExecuteStatement fails as it did).
            let origin = InvocationOrigin {
                function_name: String::new(),
                function_version: String::new(),
                request_id: String::new(),
                chain_depth: c.chain_depth,
            };
            let replayed = || {
                let mut json = parse_request(&c.request_json)?;
                run_parsed(&self.app, &c.operation, &mut json, &origin, Some(c.denied.clone()))
            };
            // Counted and charged when staged: the replay is not traffic.
            let response = crate::capacity::unmetered(|| with_unit(unit, replayed)).map_err(call_error)?.body;
            if outcome_of(&c.operation, &response) != c.outcome {
                return Err(StoreCallError::new(
                    "TransactionConflictException",
                    format!("{}: its statements no longer succeed and fail as they did", c.operation),
                ));
            }
        }
        Ok(())
    }
}

/// One exactly-once invocation's bridge (see the module documentation).
pub struct DeferringServerBridge {
    app: Weak<App>,
    handle: Option<tokio::runtime::Handle>,
    state: Mutex<Deferred>,
}

#[derive(Default)]
struct Deferred {
    /// The invocation's writes so far, staged against the store as it was
    /// when each was made.
    unit: Unit,
    calls: Vec<DeferredCall>,
    /// `ClientRequestToken`s of the invocation's transactions, with their
    /// requests: a repeat within the invocation is not applied twice.
    tokens: std::collections::HashMap<String, String>,
}

/// What a write's replay must reproduce: for BatchExecuteStatement, which
/// statements failed (their errors come inside a successful response); for
/// every other operation success is enough.
fn outcome_of(operation: &str, response: &str) -> String {
    if operation != "BatchExecuteStatement" {
        return String::new();
    }
    let json: Json = serde_json::from_str(response).unwrap_or(Json::Null);
    json["Responses"]
        .as_array()
        .map(|rs| rs.iter().map(|r| if r.get("Error").is_some() { '1' } else { '0' }).collect())
        .unwrap_or_default()
}

/// Whether a PartiQL request only reads (nothing of it to replay).
fn partiql_reads_only(operation: &str, request: &Json) -> bool {
    let reads = |s: &Json| {
        s.as_str().is_some_and(|t| t.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("select")))
    };
    match operation {
        "ExecuteStatement" => reads(&request["Statement"]),
        "BatchExecuteStatement" => {
            request["Statements"].as_array().is_some_and(|a| a.iter().all(|s| reads(&s["Statement"])))
        }
        "ExecuteTransaction" => {
            request["TransactStatements"].as_array().is_some_and(|a| a.iter().all(|s| reads(&s["Statement"])))
        }
        _ => false,
    }
}

impl StoreBridge for DeferringServerBridge {
    fn call(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, StoreCallError> {
        self.call_api(operation, request_json, origin).map_err(call_error)
    }

    fn call_wire(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> WireResponse {
        wire(self.call_api(operation, request_json, origin))
    }

    fn http(&self, request: axum::http::Request<Bytes>, origin: &InvocationOrigin) -> HttpFuture {
        route(&self.app, &self.handle, request, origin, true)
    }
}

impl DeferringServerBridge {
    fn call_api(&self, operation: &str, request_json: &str, origin: &InvocationOrigin) -> Result<String, ApiError> {
        if READS.contains(&operation) {
            return run(&self.app, operation, request_json, origin);
        }
        if !WRITES.contains(&operation) {
            return Err(ApiError::validation(messages::request::not_for_exactly_once_handler(operation)));
        }
        let mut request = parse_request(request_json)?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let token = request["ClientRequestToken"].as_str().map(str::to_string);
        if let Some(answer) = repeated_token(&state.tokens, token.as_deref(), request_json) {
            return answer;
        }
        let before = state.unit.len();
        let result = with_unit(&mut state.unit, || run_parsed(&self.app, operation, &mut request, origin, None));
        match result {
            Err(e) => {
                state.unit.truncate(before);
                Err(e)
            }
            // Every write is replayed, even one that changed nothing now:
            // by commit time it may (last writer wins, as in DynamoDB).
            Ok(Served { body, denied }) if !partiql_reads_only(operation, &request) => {
                state.calls.push(DeferredCall {
                    operation: operation.to_string(),
                    request_json: request_json.to_string(),
                    chain_depth: origin.chain_depth,
                    outcome: outcome_of(operation, &body),
                    denied,
                });
                if let Some(t) = token {
                    state.tokens.insert(t, request_json.to_string());
                }
                Ok(body)
            }
            Ok(served) => Ok(served.body),
        }
    }
}

impl DeferringBridge for DeferringServerBridge {
    fn take(&self) -> Vec<DeferredCall> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.unit = Unit::new();
        state.tokens.clear();
        std::mem::take(&mut state.calls)
    }
}

/// A deferred transaction's `ClientRequestToken` seen before in the
/// invocation (`tokens`: token → request): the same request again answers
/// `{}` and is not staged twice; another request with it is refused.
pub(crate) fn repeated_token(
    tokens: &std::collections::HashMap<String, String>,
    token: Option<&str>,
    request_json: &str,
) -> Option<Result<String, ApiError>> {
    let seen = tokens.get(token?)?;
    Some(if seen == request_json {
        Ok("{}".into())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "IdempotentParameterMismatchException",
            messages::transaction::TOKEN_MISMATCH,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partiql_selects_are_not_replayed_and_batch_failures_are_compared() {
        assert!(partiql_reads_only("ExecuteStatement", &json!({"Statement": "  select * from t"})));
        assert!(!partiql_reads_only("ExecuteStatement", &json!({"Statement": "UPDATE t SET a = 1"})));
        let batch =
            json!({"Statements": [{"Statement": "SELECT * FROM t"}, {"Statement": "DELETE FROM t WHERE k = 1"}]});
        assert!(!partiql_reads_only("BatchExecuteStatement", &batch));
        assert!(!partiql_reads_only("PutItem", &json!({})));
        let response = r#"{"Responses":[{"TableName":"t"},{"Error":{"Code":"ConditionalCheckFailed"}}]}"#;
        assert_eq!(outcome_of("BatchExecuteStatement", response), "01");
        assert_eq!(outcome_of("PutItem", "{}"), "");
    }
}
