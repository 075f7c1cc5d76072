//! The Lambda REST API (`2015-03-31`) on the server's port, as
//! `aws lambda --endpoint-url`, boto3 and `aws-sdk-lambda` call it, and a few
//! Tidepool endpoints under `/tidepool/` (logs, mappings with their metrics,
//! manifest deployment) for the `tidepool` CLI.
//!
//! | operation | route | success |
//! |---|---|---|
//! | CreateFunction | `POST /2015-03-31/functions` | 201 |
//! | ListFunctions | `GET /2015-03-31/functions/` | 200 |
//! | GetFunction | `GET /2015-03-31/functions/{name}` | 200 |
//! | DeleteFunction | `DELETE /2015-03-31/functions/{name}` | 204 |
//! | GetFunctionConfiguration | `GET /2015-03-31/functions/{name}/configuration` | 200 |
//! | UpdateFunctionConfiguration | `PUT /2015-03-31/functions/{name}/configuration` | 200 |
//! | UpdateFunctionCode | `PUT /2015-03-31/functions/{name}/code` | 200 |
//! | Invoke | `POST /2015-03-31/functions/{name}/invocations` | 200, 202 (Event), 204 (DryRun) |
//! | PutFunctionConcurrency | `PUT /2017-10-31/functions/{name}/concurrency` | 200 |
//! | DeleteFunctionConcurrency | `DELETE /2017-10-31/functions/{name}/concurrency` | 204 |
//! | GetFunctionConcurrency | `GET /2019-09-30/functions/{name}/concurrency` | 200 |
//! | CreateEventSourceMapping | `POST /2015-03-31/event-source-mappings/` | 202 |
//! | ListEventSourceMappings | `GET /2015-03-31/event-source-mappings/` | 200 |
//! | GetEventSourceMapping | `GET /2015-03-31/event-source-mappings/{uuid}` | 200 |
//! | UpdateEventSourceMapping | `PUT /2015-03-31/event-source-mappings/{uuid}` | 202 |
//! | DeleteEventSourceMapping | `DELETE /2015-03-31/event-source-mappings/{uuid}` | 202 |
//! | (Tidepool) function logs | `GET /tidepool/logs/{name}?since=&limit=&tail=&wait=` | 200 |
//! | (Tidepool) mappings with metrics (and a worker's leases) | `GET /tidepool/mappings` | 200 |
//! | (Tidepool) apply a manifest | `POST /tidepool/deploy` | 200 |
//! | (Tidepool) limits and their use | `GET /tidepool/limits` | 200 |
//!
//! Errors are Lambda's REST JSON errors: the status, an `x-amzn-ErrorType`
//! header and `{"Type": "User", "Message": ...}` (`"Service"` for a
//! `ServiceException`), which the SDKs parse into typed errors. Every answer
//! on these paths has that shape, also for a request no handler gets to: an
//! unknown operation (a path under a Lambda API version, or `/tidepool/`,
//! that names none, or a method the path does not take) is a 404
//! `UnknownOperationException`, and a path parameter that cannot be decoded
//! a `ValidationException`.
//!
//! Every request body is bounded twice: by its operation's limit (a larger
//! one is a 413 before it is read, when its `Content-Length` says so) and by
//! a byte budget shared by the bodies being read or worked on at once
//! ([`MAX_CODE_BODIES_IN_FLIGHT_BYTES`] for code uploads,
//! [`MAX_INVOKE_BODIES_IN_FLIGHT_BYTES`] for Invoke payloads,
//! [`MAX_CONTROL_BODIES_IN_FLIGHT_BYTES`] for the other, small, JSON
//! requests); past the budget a request is a 429 `TooManyRequestsException`
//! with the `Reason` `CallerRateLimitExceeded`, to retry. The budgets are
//! apart so that invocations holding theirs never lock out the calls that
//! would relieve them (PutFunctionConcurrency, UpdateFunctionConfiguration,
//! the event source mapping calls).
//!
//! Published versions and aliases are `versions.rs`'s; a qualifier (`:3`,
//! `:live`, `?Qualifier=`) that names none is a `ResourceNotFoundException`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post, put};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::esm::MappingParams;
use tidepool_runtime::limits::MAX_LOGGED_TEXT_BYTES;
use tidepool_runtime::registry::{FunctionRecord, FunctionState, RegistryError, UpdateStatus, check_name};
use tidepool_runtime::text::Bounded;
use tidepool_runtime::{InvokeOptions, Throttled};

use super::budget::{ByteBudget, Reservation};
use super::events::{MAX_QUEUED_EVENT_BYTES, MAX_QUEUED_EVENTS};
use super::logs::LogPage;
use super::{Lambda, LambdaError, manifest};
use crate::dynamodb::App;

/// Lambda's limit on a synchronous invocation's payload (6 MB).
pub const MAX_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Lambda's limit on an asynchronous (`Event`) invocation's payload (256 KB).
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 256 * 1024;
/// Lambda's limit on a CreateFunction/UpdateFunctionCode request: a 50 MB
/// zip, base64 in JSON.
pub const MAX_CODE_REQUEST_BYTES: usize = 70_167_211;
/// Lambda's limit on a deployment package once unzipped (250 MB): bounds what
/// an entry may inflate to.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// Other JSON requests (configuration, mappings): far more than any needs.
pub const MAX_JSON_REQUEST_BYTES: usize = 1024 * 1024;
/// A manifest with its code inline (`/tidepool/deploy`): Lambda's 250 MB
/// quota on a deployment package (unzipped), applied to every function's
/// code together as the request carries it (base64), plus the manifest.
pub const MAX_DEPLOY_REQUEST_BYTES: usize = MAX_UNZIPPED_BYTES as usize + MAX_JSON_REQUEST_BYTES;
/// Bytes of code-upload bodies (CreateFunction, UpdateFunctionCode,
/// `/tidepool/deploy`) held at once, from the first byte read until the
/// request is answered (decoding and compiling hold about as much again):
/// one deploy at its limit, or three CreateFunction requests at theirs.
/// Past it such a request is a 429 `TooManyRequestsException`.
pub const MAX_CODE_BODIES_IN_FLIGHT_BYTES: usize = 256 * 1024 * 1024;
/// Bytes of Invoke payloads held at once (a synchronous one until its
/// invocation ends): 42 synchronous payloads at Lambda's 6 MB limit, or 100
/// running invocations (the runtime's concurrency) of 2.5 MB each. Past it
/// an Invoke is a 429 `TooManyRequestsException` (`CallerRateLimitExceeded`).
pub const MAX_INVOKE_BODIES_IN_FLIGHT_BYTES: usize = 256 * 1024 * 1024;
/// Bytes of the other JSON requests' bodies (configuration, concurrency,
/// mappings; each at most [`MAX_JSON_REQUEST_BYTES`], held only while read
/// and parsed) at once: 64 at their limit, where real ones take a few
/// hundred bytes. Apart from the Invoke budget, so that slow invocations
/// never lock out the calls that fix a jam. Past it such a request is a 429
/// `TooManyRequestsException` (`CallerRateLimitExceeded`).
pub const MAX_CONTROL_BODIES_IN_FLIGHT_BYTES: usize = 64 * MAX_JSON_REQUEST_BYTES;
/// Lambda's `Description` limit.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Lambda's range of `MaxItems` in list operations.
pub const MAX_ITEMS: std::ops::RangeInclusive<i64> = 1..=10_000;
/// ListFunctions' default page size (Lambda's 50).
pub const DEFAULT_LIST_FUNCTIONS: usize = 50;
/// ListEventSourceMappings' default page size (Lambda's 100).
pub const DEFAULT_LIST_MAPPINGS: usize = 100;
/// The longest a logs request waits for a new line (`wait=`). A waiting
/// request holds up a graceful shutdown this long at most.
pub const MAX_LOG_WAIT: Duration = Duration::from_secs(10);

/// The API versions (path prefixes) of Lambda's operations, as the SDKs
/// send them: a path under one that names no operation Tidepool serves is an
/// `UnknownOperationException`.
const API_VERSIONS: &[&str] = &[
    "2014-11-13",
    "2015-03-31",
    "2016-08-19",
    "2017-03-31",
    "2017-10-31",
    "2018-10-31",
    "2019-09-25",
    "2019-09-30",
    "2020-04-22",
    "2020-06-30",
    "2021-07-20",
    "2021-10-31",
    "2021-11-15",
    "2024-08-31",
    "2025-11-30",
    "2025-12-01",
    "2026-07-09",
];

/// The Lambda routes and Tidepool's own.
pub fn routes() -> Router<Arc<App>> {
    // A method a path does not take is an unknown operation, in Lambda's shape.
    let route = |router: Router<Arc<App>>, path: &str, methods: MethodRouter<Arc<App>>| {
        router.route(path, methods.fallback(unknown_operation))
    };
    let mut router = Router::new();
    router = route(router, "/2015-03-31/functions", post(create_function).get(list_functions));
    router = route(router, "/2015-03-31/functions/", post(create_function).get(list_functions));
    router = route(router, "/2015-03-31/functions/{name}", get(get_function).delete(delete_function));
    router =
        route(router, "/2015-03-31/functions/{name}/configuration", get(get_configuration).put(update_configuration));
    router = route(router, "/2015-03-31/functions/{name}/code", put(update_code));
    router = route(router, "/2015-03-31/functions/{name}/invocations", post(invoke));
    router = super::versions::routes(router, route);
    router = super::invoke_config::routes(router, route);
    router = super::urls::routes(router, route);
    router = super::permissions::routes(router, route);
    router = route(router, "/2017-10-31/functions/{name}/concurrency", put(put_concurrency).delete(delete_concurrency));
    router = route(router, "/2019-09-30/functions/{name}/concurrency", get(get_concurrency));
    router = route(router, "/2015-03-31/event-source-mappings", post(create_mapping).get(list_mappings));
    router = route(router, "/2015-03-31/event-source-mappings/", post(create_mapping).get(list_mappings));
    router = route(
        router,
        "/2015-03-31/event-source-mappings/{uuid}",
        get(get_mapping).put(update_mapping).delete(delete_mapping),
    );
    router = route(router, "/2017-03-31/tags/{arn}", get(list_tags).post(tag_resource).delete(untag_resource));
    router = route(router, "/2016-08-19/account-settings", get(account_settings));
    router = route(router, "/2016-08-19/account-settings/", get(account_settings));
    router = route(router, "/tidepool/logs/{name}", get(read_logs));
    router = route(router, "/tidepool/mappings", get(mappings_with_metrics));
    router = route(router, "/tidepool/deploy", post(deploy));
    router = route(router, "/tidepool/limits", get(limits));
    router = route(router, "/tidepool/schedules", get(list_schedules));
    router = route(router, "/tidepool/schedules/{name}", get(get_schedule).put(put_schedule).delete(delete_schedule));
    router = route(router, "/tidepool/reset", post(reset));
    router = route(router, "/tidepool/progress/{id}", get(progress));
    router = route(router, "/tidepool/info", get(info));
    router = router.route("/tidepool", any(unknown_operation)).route("/tidepool/{*rest}", any(unknown_operation));
    for version in API_VERSIONS {
        router = router
            .route(&format!("/{version}"), any(unknown_operation))
            .route(&format!("/{version}/{{*rest}}"), any(unknown_operation));
    }
    router
}

/// A request that names no operation: Lambda's `UnknownOperationException`.
async fn unknown_operation(method: axum::http::Method, uri: Uri) -> Failure {
    fail("UnknownOperationException", format!("Unknown operation: {method} {}", uri.path()))
}

// ---------------------------------------------------------------- errors

/// A failed request: a Lambda error, with the `Reason` of a throttle.
#[derive(Debug)]
pub struct Failure {
    error: LambdaError,
    reason: Option<&'static str>,
}

impl From<&crate::dynamodb::error::ApiError> for Failure {
    /// A store error of a `/tidepool` route, in the Lambda API's shape.
    fn from(e: &crate::dynamodb::error::ApiError) -> Self {
        let kind = match e.kind.rsplit('#').next() {
            Some("ResourceNotFoundException") => "ResourceNotFoundException",
            Some("AccessDeniedException") => "AccessDeniedException",
            // Any other mistake of the client's (a malformed key, say).
            _ if e.status.is_client_error() => "InvalidParameterValueException",
            _ => "ServiceException",
        };
        Failure::from(LambdaError::new(kind, e.message.clone()))
    }
}

impl From<LambdaError> for Failure {
    fn from(error: LambdaError) -> Self {
        Failure { error, reason: None }
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::from(LambdaError::from(e))
    }
}

impl Failure {
    /// The error's type, e.g. `TooManyRequestsException`.
    pub(super) fn kind(&self) -> &'static str {
        self.error.kind
    }
}

pub(super) fn fail(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure::from(LambdaError::new(kind, message))
}

pub(super) fn validation(member: &str, value: impl std::fmt::Display, constraint: &str) -> Failure {
    fail(
        "ValidationException",
        format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ),
    )
}

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    fail("ServiceException", format!("{what}: {e}"))
}

/// A 429 for a byte budget with no room: retry later. Lambda's `Reason` for
/// a caller sending more than the service takes at once is
/// `CallerRateLimitExceeded`.
fn out_of_budget(budget: &ByteBudget, what: &str) -> Failure {
    let message = format!(
        "Rate Exceeded. {what} being handled hold {} of the {} bytes the server keeps for them; retry later.",
        budget.used(),
        budget.limit()
    );
    Failure { error: LambdaError::new("TooManyRequestsException", message), reason: Some("CallerRateLimitExceeded") }
}

/// The status Lambda answers each error type with.
fn status_of(kind: &str) -> StatusCode {
    match kind {
        "ResourceNotFoundException" | "UnknownOperationException" => StatusCode::NOT_FOUND,
        "ResourceConflictException" => StatusCode::CONFLICT,
        "AccessDeniedException" => StatusCode::FORBIDDEN,
        "TooManyRequestsException" => StatusCode::TOO_MANY_REQUESTS,
        "RequestTooLargeException" | "RequestEntityTooLargeException" => StatusCode::PAYLOAD_TOO_LARGE,
        "UnsupportedMediaTypeException" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "PreconditionFailedException" => StatusCode::PRECONDITION_FAILED,
        "ServiceException" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = status_of(self.error.kind);
        let service = status.is_server_error();
        if service {
            tracing::error!(error = %Bounded(&self.error.message, MAX_LOGGED_TEXT_BYTES), "Lambda API request failed");
        }
        // `Message`, as Lambda writes it (the SDKs take either case).
        let mut body = json!({"Type": if service { "Service" } else { "User" }, "Message": self.error.message});
        if let Some(reason) = self.reason {
            body["Reason"] = json!(reason);
        }
        let mut resp = reply(status, &body);
        resp.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(self.error.kind));
        resp
    }
}

pub(super) type ApiResult = Result<Response, Failure>;

fn request_id_header(resp: &mut Response, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
}

/// A JSON response with a fresh request id.
pub(super) fn reply(status: StatusCode, body: &Json) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request_id_header(&mut resp, &uuid::Uuid::new_v4().to_string());
    resp
}

pub(super) fn empty(status: StatusCode) -> Response {
    let mut resp = status.into_response();
    request_id_header(&mut resp, &uuid::Uuid::new_v4().to_string());
    resp
}

// ---------------------------------------------------------------- request parts

pub(super) fn lambda_state(app: &App) -> Result<&Lambda, Failure> {
    app.lambda.get().ok_or_else(|| fail("ServiceException", "Lambda is not started yet"))
}

/// A path parameter (a function name or a mapping's UUID), percent-decoded;
/// one that does not decode is a `ValidationException`, not axum's plain
/// text.
pub(super) struct PathParam(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(e) => Err(undecodable_path(parts, &e)),
        }
    }
}

/// A path whose parameters do not decode: a `ValidationException`.
pub(super) fn undecodable_path(parts: &Parts, e: &axum::extract::rejection::PathRejection) -> Failure {
    fail(
        "ValidationException",
        format!("1 validation error detected: the path {} failed to decode: {}", parts.uri.path(), e.body_text()),
    )
}

/// Which budget a request body is counted in.
#[derive(Debug, Clone, Copy)]
pub(super) enum BodyKind {
    /// Code uploads: [`MAX_CODE_BODIES_IN_FLIGHT_BYTES`].
    Code,
    /// Invoke payloads: [`MAX_INVOKE_BODIES_IN_FLIGHT_BYTES`].
    Invoke,
    /// Other JSON requests: [`MAX_CONTROL_BODIES_IN_FLIGHT_BYTES`].
    Control,
}

/// The byte budgets of request bodies.
pub struct BodyBudgets {
    code: Arc<ByteBudget>,
    invoke: Arc<ByteBudget>,
    control: Arc<ByteBudget>,
}

impl Default for BodyBudgets {
    fn default() -> Self {
        BodyBudgets {
            code: ByteBudget::new(MAX_CODE_BODIES_IN_FLIGHT_BYTES),
            invoke: ByteBudget::new(MAX_INVOKE_BODIES_IN_FLIGHT_BYTES),
            control: ByteBudget::new(MAX_CONTROL_BODIES_IN_FLIGHT_BYTES),
        }
    }
}

/// A request body read whole, and its bytes in its budget (given back when
/// dropped: keep it while the body, or what was made of it, is held).
pub(super) struct ReadBody {
    pub(super) bytes: Vec<u8>,
    pub(super) reservation: Reservation,
}

/// Reads a body of at most `limit` bytes, counted in `kind`'s budget as it
/// arrives. Larger is `too_large` (413), refused before a byte is read when
/// `Content-Length` says so; no room in the budget is a 429.
pub(super) async fn read_body(
    app: &App,
    headers: &HeaderMap,
    mut body: Body,
    (limit, kind): (usize, BodyKind),
    too_large: &'static str,
    operation: &str,
) -> Result<ReadBody, Failure> {
    let lambda = lambda_state(app)?;
    let (budget, what) = match kind {
        BodyKind::Code => (&lambda.bodies.code, "Code uploads"),
        BodyKind::Invoke => (&lambda.bodies.invoke, "Invoke payloads"),
        BodyKind::Control => (&lambda.bodies.control, "Request bodies"),
    };
    let too_big =
        || fail(too_large, format!("Request must be smaller than {limit} bytes for the {operation} operation"));
    let declared = header(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let declared = declared.unwrap_or(0);
    let mut reservation = budget.try_reserve(declared).ok_or_else(|| out_of_budget(budget, what))?;
    let mut bytes = Vec::with_capacity(declared);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| fail("InvalidRequestContentException", format!("Could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        let total = bytes.len() + data.len();
        if total > limit {
            return Err(too_big());
        }
        if !reservation.grow_to(total) {
            return Err(out_of_budget(budget, what));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(ReadBody { bytes, reservation })
}

/// Refuses a body that says it is not JSON (`UnsupportedMediaTypeException`).
fn check_json_media_type(headers: &HeaderMap) -> Result<(), Failure> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let ok = ct.is_empty()
        || ct.starts_with("application/json")
        || ct.starts_with("application/x-amz-json")
        || ct.starts_with("application/octet-stream")
        || ct.starts_with("text/plain");
    if ok { Ok(()) } else { Err(fail("UnsupportedMediaTypeException", format!("Unsupported content type: {ct}"))) }
}

/// A JSON object request body (empty is `{}`).
fn json_object(bytes: &[u8]) -> Result<Map<String, Json>, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(bytes) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(fail("InvalidRequestContentException", "Could not parse request body into json: not an object")),
        Err(e) => Err(fail("InvalidRequestContentException", format!("Could not parse request body into json: {e}"))),
    }
}

pub(super) async fn json_request(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    operation: &str,
) -> Result<Map<String, Json>, Failure> {
    check_json_media_type(headers)?;
    let limit = (MAX_JSON_REQUEST_BYTES, BodyKind::Control);
    let body = read_body(app, headers, body, limit, "RequestEntityTooLargeException", operation).await?;
    json_object(&body.bytes)
}

pub(super) fn str_member(m: &Map<String, Json>, name: &str) -> Result<Option<String>, Failure> {
    match m.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(fail("InvalidParameterValueException", format!("{name} must be a string, not {other}"))),
    }
}

fn int_member(m: &Map<String, Json>, name: &str) -> Result<Option<i64>, Failure> {
    match m.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| fail("InvalidParameterValueException", format!("{name} must be an integer, not {v}"))),
    }
}

fn bool_member(m: &Map<String, Json>, name: &str) -> Result<Option<bool>, Failure> {
    match m.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(fail("InvalidParameterValueException", format!("{name} must be a boolean, not {other}"))),
    }
}

/// The query string's parameters, percent-decoded.
pub(crate) fn query(uri: &Uri) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

/// A query component decoded: `+` is a space.
pub(super) fn percent_decode(s: &str) -> String {
    crate::http::sigv4::percent_decode(&s.replace('+', " "))
}

pub(super) fn max_items(q: &HashMap<String, String>, default: usize) -> Result<usize, Failure> {
    let Some(raw) = q.get("MaxItems") else { return Ok(default) };
    let n: i64 =
        raw.parse().map_err(|_| validation("maxItems", raw, "Member must be an integer between 1 and 10000"))?;
    if n < *MAX_ITEMS.start() {
        return Err(validation("maxItems", n, "Member must have value greater than or equal to 1"));
    }
    if n > *MAX_ITEMS.end() {
        return Err(validation("maxItems", n, "Member must have value less than or equal to 10000"));
    }
    Ok(n as usize)
}

/// The function a path or member names: a name, an ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`) or a
/// partial ARN (`<account>:function:<name>[:<qualifier>]`), with `$LATEST` as
/// the only qualifier it takes: the operations that take a version or an
/// alias use [`function_ref`].
pub fn function_name(lambda: &Lambda, raw: &str, qualifier: Option<&str>) -> Result<String, Failure> {
    let (name, q) = function_ref(lambda, raw, qualifier)?;
    match q.as_deref() {
        None | Some("$LATEST") => Ok(name),
        Some(q) => Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}:{q}", lambda.registry.function_arn(&name)),
        )),
    }
}

/// A function name as Lambda reads one: a name, `name:qualifier`, a
/// partial ARN (`account:function:name[:qualifier]`) or a full ARN; the
/// name is empty when `raw` is none of these.
pub(crate) fn split_function_ref(raw: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => ("", None),
    }
}

/// Like [`function_name`], with the qualifier the name or the `Qualifier`
/// parameter gives (they must agree), checked to name `$LATEST`, a version
/// or an alias.
pub fn function_ref(lambda: &Lambda, raw: &str, qualifier: Option<&str>) -> Result<(String, Option<String>), Failure> {
    let (name, qual) = split_function_ref(raw);
    check_name(if name.is_empty() { raw } else { name }).map_err(LambdaError::from)?;
    if let (Some(a), Some(b)) = (qual, qualifier)
        && a != b
    {
        return Err(fail(
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        ));
    }
    let q = qual.or(qualifier);
    if let Some(q) = q
        && !lambda.registry.has_qualifier(name, q)
    {
        return Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}:{q}", lambda.registry.function_arn(name)),
        ));
    }
    Ok((name.to_string(), q.map(str::to_string)))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs blocking work (compiling, fsyncs) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| internal("the request's work did not finish", e))?
}

// ---------------------------------------------------------------- functions

/// `FunctionConfiguration`.
pub(super) fn configuration(lambda: &Lambda, r: &FunctionRecord) -> Json {
    let arn = match r.version.as_str() {
        "" => lambda.registry.function_arn(&r.name),
        v => format!("{}:{v}", lambda.registry.function_arn(&r.name)),
    };
    let mut c = json!({
        "FunctionName": r.name,
        "FunctionArn": arn,
        "Runtime": r.runtime,
        "Role": r.role,
        "Handler": r.handler,
        "CodeSize": r.code_size,
        "Description": r.description,
        "Timeout": r.timeout_secs,
        "MemorySize": r.memory_mb,
        "LastModified": r.last_modified,
        "CodeSha256": hex_to_base64(&r.code_sha256),
        "Version": r.version_label(),
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": r.revision_id,
        "State": r.state.name(),
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", r.name)},
    });
    if !r.environment.is_empty() {
        c["Environment"] = json!({"Variables": r.environment});
    }
    match &r.update {
        UpdateStatus::Successful => {}
        UpdateStatus::InProgress => c["LastUpdateStatus"] = json!("InProgress"),
        UpdateStatus::Failed(reason) => {
            c["LastUpdateStatus"] = json!("Failed");
            c["LastUpdateStatusReason"] = json!(reason);
            c["LastUpdateStatusReasonCode"] = json!("InvalidZipFileException");
        }
    }
    match &r.state {
        FunctionState::Active => {}
        FunctionState::Pending => {
            c["StateReason"] = json!("The function is being created.");
            c["StateReasonCode"] = json!("Creating");
            c["LastUpdateStatus"] = json!("InProgress");
            c["LastUpdateStatusReason"] = json!("The function is being created.");
            c["LastUpdateStatusReasonCode"] = json!("Creating");
        }
        FunctionState::Failed(reason) => {
            c["StateReason"] = json!(reason);
            c["StateReasonCode"] = json!("InvalidZipFileException");
            c["LastUpdateStatus"] = json!("Failed");
            c["LastUpdateStatusReason"] = json!(reason);
            c["LastUpdateStatusReasonCode"] = json!("InvalidZipFileException");
        }
    }
    c
}

/// Lambda shows `CodeSha256` as base64; the registry keeps hex.
fn hex_to_base64(hex: &str) -> String {
    let bytes: Option<Vec<u8>> =
        (0..hex.len() / 2).map(|i| hex.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes.unwrap_or_default())
}

/// The component in a `ZipFile`: the raw bytes when they are a wasm binary
/// (`\0asm`), else the zip entry named `handler`; without a handler (or, when
/// `strict` is off, when no entry has its name) the zip's only `.wasm` entry.
/// Returns the component and the entry it came from.
fn extract_component(
    bytes: Vec<u8>,
    handler: Option<&str>,
    strict: bool,
) -> Result<(Vec<u8>, Option<String>), Failure> {
    if bytes.starts_with(b"\0asm") {
        return Ok((bytes, None));
    }
    let unzip_error = || {
        fail(
            "InvalidParameterValueException",
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
        )
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| unzip_error())?;
    let names: Vec<String> = archive.file_names().filter_map(|n| n.ok()).map(|n| n.into_owned()).collect();
    let wasm: Vec<&String> = names.iter().filter(|n| n.ends_with(".wasm")).collect();
    let entry = match handler {
        Some(h) if names.iter().any(|n| n == h) => h.to_string(),
        Some(h) if strict || wasm.len() != 1 => {
            let listed: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
            return Err(fail(
                "InvalidParameterValueException",
                format!(
                    "The Handler {h:?} names no entry of the zip file (its entries: {}). \
                     Tidepool's Handler is the zip entry holding the wasm component.",
                    listed.join(", ")
                ),
            ));
        }
        _ => match wasm.as_slice() {
            [one] => (*one).clone(),
            _ => {
                return Err(fail(
                    "InvalidParameterValueException",
                    "Handler must name the zip entry holding the wasm component (the zip has no single .wasm entry)",
                ));
            }
        },
    };
    let mut file = archive.by_name(&entry).map_err(|_| unzip_error())?;
    if file.size() > MAX_UNZIPPED_BYTES {
        return Err(fail(
            "InvalidParameterValueException",
            format!("Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"),
        ));
    }
    let mut out = Vec::with_capacity(file.size() as usize);
    (&mut file).take(MAX_UNZIPPED_BYTES + 1).read_to_end(&mut out).map_err(|_| unzip_error())?;
    if out.len() as u64 > MAX_UNZIPPED_BYTES {
        return Err(fail(
            "InvalidParameterValueException",
            format!("Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"),
        ));
    }
    if let Some(reason) = tidepool_runtime::not_a_component(&out) {
        return Err(fail("InvalidParameterValueException", format!("The zip entry {entry:?}: {reason}")));
    }
    Ok((out, Some(entry)))
}

/// `Code.ZipFile`, decoded; other code sources are refused.
fn zip_file(code: &Map<String, Json>) -> Result<Vec<u8>, Failure> {
    for other in ["S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"] {
        if code.get(other).is_some_and(|v| !v.is_null()) {
            return Err(fail(
                "InvalidParameterValueException",
                format!("Tidepool takes code inline only, as Code.ZipFile (a zip or a .wasm component), not {other}"),
            ));
        }
    }
    let Some(b64) = str_member(code, "ZipFile")? else {
        return Err(fail(
            "InvalidParameterValueException",
            "Please provide a source for function code (Code.ZipFile).",
        ));
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| fail("InvalidParameterValueException", format!("Code.ZipFile is not valid base64: {e}")))
}

/// The settings an UpdateFunctionConfiguration or CreateFunction body sets.
fn apply_settings(r: &mut FunctionRecord, m: &Map<String, Json>) -> Result<(), Failure> {
    if let Some(t) = int_member(m, "Timeout")? {
        if t < 1 {
            return Err(validation("timeout", t, "Member must have value greater than or equal to 1"));
        }
        if t > 900 {
            return Err(fail(
                "InvalidParameterValueException",
                format!("Timeout must be between 1 and 900 seconds, not {t}"),
            ));
        }
        r.timeout_secs = t as u64;
    }
    if let Some(mem) = int_member(m, "MemorySize")? {
        if mem < 128 {
            return Err(validation("memorySize", mem, "Member must have value greater than or equal to 128"));
        }
        if mem > 10_240 {
            return Err(validation("memorySize", mem, "Member must have value less than or equal to 10240"));
        }
        r.memory_mb = mem as u32;
    }
    if let Some(d) = str_member(m, "Description")? {
        if d.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(validation("description", "...", "Member must have length less than or equal to 256"));
        }
        r.description = d;
    }
    if let Some(role) = str_member(m, "Role")? {
        r.role = role;
    }
    if let Some(rt) = str_member(m, "Runtime")? {
        r.runtime = rt;
    }
    match m.get("Environment") {
        None | Some(Json::Null) => {}
        Some(Json::Object(env)) => {
            let mut vars = std::collections::BTreeMap::new();
            match env.get("Variables") {
                None | Some(Json::Null) => {}
                Some(Json::Object(v)) => {
                    for (k, val) in v {
                        let Json::String(s) = val else {
                            return Err(fail(
                                "InvalidParameterValueException",
                                format!("Environment variable {k} must be a string"),
                            ));
                        };
                        vars.insert(k.clone(), s.clone());
                    }
                }
                Some(_) => {
                    return Err(fail("InvalidParameterValueException", "Environment.Variables must be an object"));
                }
            }
            r.environment = vars;
        }
        Some(_) => return Err(fail("InvalidParameterValueException", "Environment must be an object")),
    }
    Ok(())
}

/// Lambda's answer to a `Role` it cannot assume: with `--auth`, a role the
/// auth file does not list once it lists roles
/// (`InvalidParameterValueException`).
pub(super) const ROLE_NOT_ASSUMABLE: &str = "The role defined for the function cannot be assumed by Lambda.";

/// Whether a function may be given `role`: with `--auth` and roles in the
/// auth file, only one it lists ([`crate::http::auth::Auth::assumable`]).
pub(super) fn assumable(app: &App, role: &str) -> bool {
    app.auth.as_ref().is_none_or(|auth| auth.assumable(role))
}

/// The role a function is given must be one it may be ([`assumable`]):
/// CreateFunction's, its `Role` or the default one without it, and
/// UpdateFunctionConfiguration's `Role`.
fn check_role(app: &App, role: &str) -> Result<(), Failure> {
    if assumable(app, role) { Ok(()) } else { Err(fail("InvalidParameterValueException", ROLE_NOT_ASSUMABLE)) }
}

/// Lambda's answer to a `RevisionId` that is not the current one
/// (`PreconditionFailedException`).
pub(super) const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id";

pub(super) fn check_revision(m: &Map<String, Json>, r: &FunctionRecord) -> Result<(), Failure> {
    match str_member(m, "RevisionId")? {
        Some(id) if id != r.revision_id => Err(fail("PreconditionFailedException", REVISION_MISMATCH)),
        _ => Ok(()),
    }
}

async fn create_function(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> ApiResult {
    check_json_media_type(&headers)?;
    let limit = (MAX_CODE_REQUEST_BYTES, BodyKind::Code);
    let body = read_body(&app, &headers, body, limit, "RequestEntityTooLargeException", "CreateFunction").await?;
    let m = json_object(&body.bytes)?;
    // The parsed request holds the code now; its reservation stays until the answer.
    let ReadBody { bytes, reservation } = body;
    drop(bytes);
    let lambda = lambda_state(&app)?;
    let Some(raw) = str_member(&m, "FunctionName")? else {
        return Err(validation("functionName", "null", "Member must not be null"));
    };
    let name = function_name(lambda, &raw, None)?;
    if let Some(p) = str_member(&m, "PackageType")?
        && p != "Zip"
    {
        return Err(fail("InvalidParameterValueException", format!("Tidepool runs Zip packages only, not {p}")));
    }
    let code = match m.get("Code") {
        Some(Json::Object(c)) => zip_file(c)?,
        _ => return Err(validation("code", "null", "Member must not be null")),
    };
    let mut record = FunctionRecord::new(name);
    apply_settings(&mut record, &m)?;
    check_role(&app, &record.role)?;
    if let Some(tags) = m.get("Tags") {
        record.tags = tags_member(tags)?;
        check_tag_count(record.tags.len())?;
    }
    let handler = str_member(&m, "Handler")?;
    let publish = bool_member(&m, "Publish")?.unwrap_or(false);
    let app2 = app.clone();
    drop(m);
    // As Lambda: the answer comes before the code is ready when compiling
    // takes a while (`State: Pending`, then `Active`); an Invoke meanwhile
    // gets ResourceConflictException. Code already compiled, or compiled
    // within `active_wait_ms`, answers `Active` (or the code's error).
    let answered = Answered::new(lambda);
    let (begun_tx, begun_rx) = tokio::sync::oneshot::channel();
    let shared = answered.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<FunctionRecord, Failure> {
        let _reservation = reservation;
        let (component, entry) = extract_component(code, handler.as_deref(), true)?;
        record.handler = handler.or(entry).unwrap_or_else(|| "handler.wasm".into());
        let lambda = lambda_state(&app2)?;
        let name = record.name.clone();
        let id = lambda.registry.begin_create(&record, &component)?;
        // A function of this name deleted before may have left its policy
        // (a crash between its two writes): the new one starts with none.
        super::permissions::forget(&app2.store, &name, None).map_err(LambdaError::from)?;
        let _ = begun_tx.send(lambda.registry.describe(&name)?);
        let created = lambda.registry.finish_create(id, record, &component);
        // A failure that is the answer: the function never was.
        let (created, told) =
            shared.settle(created, &name, "CreateFunction", || lambda.registry.abandon_create(&name, id))?;
        // `Publish`: version 1 at once, and its configuration in the answer.
        if publish {
            return publish_after(lambda, &created.name, told);
        }
        Ok(created)
    });
    let record = answered.answer(task, begun_rx).await?;
    Ok(reply(StatusCode::CREATED, &configuration(lambda, &record)))
}

/// How long CreateFunction waits by default for the code to compile before
/// answering `State: Pending` ([`super::Lambda::active_wait_ms`]).
pub(super) const ACTIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a CreateFunction or UpdateFunctionCode told its client the
/// change is under way (`Pending`, `InProgress`), and whether its work
/// finished: decided under one lock, so a failure is either the answer or
/// left on the function, never both or neither. With a wait of 0 the
/// client is always told the change is under way.
#[derive(Clone)]
struct Answered {
    phase: Arc<std::sync::Mutex<(bool, bool)>>,
    wait: std::time::Duration,
}

impl Answered {
    /// For a change answered after at most the Lambda's `active_wait_ms`.
    fn new(lambda: &Lambda) -> Answered {
        let wait = std::time::Duration::from_millis(lambda.active_wait_ms.load(std::sync::atomic::Ordering::Relaxed));
        Answered { phase: Arc::new(std::sync::Mutex::new((wait.is_zero(), false))), wait }
    }

    /// The work's end, with its `result`; also says whether the client was
    /// told it was under way. A failure the client was told of stays on the
    /// function (and is logged); one that is the answer is undone by `undo`.
    fn settle(
        &self,
        result: Result<FunctionRecord, RegistryError>,
        name: &str,
        operation: &str,
        undo: impl FnOnce(),
    ) -> Result<(FunctionRecord, bool), Failure> {
        let told = {
            let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
            phase.1 = true;
            phase.0
        };
        match result {
            Ok(record) => Ok((record, told)),
            Err(e) => {
                if told {
                    tracing::warn!(function = %name, error = %e, "{operation}: the code failed after the answer");
                } else {
                    undo();
                }
                Err(e.into())
            }
        }
    }

    /// The answer: the work's result if it ends within the wait, else the
    /// record it showed when under way (`begun`).
    async fn answer(
        &self,
        mut task: tokio::task::JoinHandle<Result<FunctionRecord, Failure>>,
        begun: tokio::sync::oneshot::Receiver<FunctionRecord>,
    ) -> Result<FunctionRecord, Failure> {
        let joined = |r: Result<Result<FunctionRecord, Failure>, tokio::task::JoinError>| {
            r.map_err(|e| internal("the request's work did not finish", e))?
        };
        if !self.wait.is_zero()
            && let Ok(done) = tokio::time::timeout(self.wait, &mut task).await
        {
            return joined(done);
        }
        match begun.await {
            Ok(shown) => {
                let finished = {
                    let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
                    let finished = phase.1 && !phase.0;
                    phase.0 = true;
                    finished
                };
                // Ended while this answer was being decided: its result is the answer.
                if finished { joined(task.await) } else { Ok(shown) }
            }
            // Failed before it was under way: the task's own error.
            Err(_) => joined(task.await),
        }
    }
}

/// `Publish` after the code: the version's configuration, or the error
/// (logged when the client was already answered).
fn publish_after(lambda: &Lambda, name: &str, told: bool) -> Result<FunctionRecord, Failure> {
    let published = lambda.registry.publish(name, None, None);
    if let (Err(e), true) = (&published, told) {
        tracing::warn!(function = %name, error = %e, "Publish after the answer failed");
    }
    Ok(published?)
}

async fn list_functions(State(app): State<Arc<App>>, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let limit = max_items(&q, DEFAULT_LIST_FUNCTIONS)?;
    let all = lambda.registry.list();
    let start = match q.get("Marker") {
        Some(marker) => all.partition_point(|r| r.name.as_str() < marker.as_str()),
        None => 0,
    };
    let out = page(&all, start, limit, "Functions", |r| configuration(lambda, r), |r| r.name.clone());
    Ok(reply(StatusCode::OK, &out))
}

/// A list operation's answer: `limit` of `all` from `start` as `member`,
/// and the `NextMarker` of the rest.
pub(super) fn page<T>(
    all: &[T],
    start: usize,
    limit: usize,
    member: &str,
    show: impl Fn(&T) -> Json,
    marker: impl Fn(&T) -> String,
) -> Json {
    let shown: Vec<Json> = all.iter().skip(start).take(limit).map(show).collect();
    let mut out = json!({ member: shown });
    if let Some(next) = all.get(start + limit) {
        out["NextMarker"] = json!(marker(next));
    }
    out
}

async fn get_function(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let (name, qualifier) = function_ref(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let r = super::versions::qualified_record(lambda, &name, qualifier.as_deref())?;
    let mut out = json!({
        "Configuration": configuration(lambda, &r),
        "Code": {"RepositoryType": "S3"},
    });
    if let Some(n) = r.reserved_concurrency {
        out["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
    }
    if !r.tags.is_empty() {
        out["Tags"] = json!(r.tags);
    }
    Ok(reply(StatusCode::OK, &out))
}

// ---------------------------------------------------------------- tags, account

/// Lambda's limit on tags per resource.
const MAX_TAGS: usize = 50;
/// Lambda's limits on a tag's key and value, in characters.
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// A `Tags` member: an object of strings, each key and value within
/// Lambda's limits, no key in the reserved `aws:` namespace.
fn tags_member(v: &Json) -> Result<BTreeMap<String, String>, Failure> {
    let invalid = |m: String| fail("InvalidParameterValueException", m);
    let Some(o) = v.as_object() else { return Err(invalid("Tags must be a map of strings".into())) };
    let mut tags = BTreeMap::new();
    for (k, v) in o {
        let Some(v) = v.as_str() else { return Err(invalid(format!("The value of tag {k} must be a string"))) };
        let keys = k.chars().count();
        if keys == 0 || keys > MAX_TAG_KEY_CHARS {
            return Err(invalid(format!("Tag key must be 1 to {MAX_TAG_KEY_CHARS} characters: {k}")));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid(format!("Tag value must be at most {MAX_TAG_VALUE_CHARS} characters: {k}")));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!("Tag key {k} uses the reserved prefix aws:")));
        }
        tags.insert(k.clone(), v.to_string());
    }
    Ok(tags)
}

fn check_tag_count(n: usize) -> Result<(), Failure> {
    if n > MAX_TAGS {
        return Err(fail("InvalidParameterValueException", format!("A resource can have at most {MAX_TAGS} tags")));
    }
    Ok(())
}

/// The function a taggable ARN names (functions are the resources that
/// take tags here; a version or alias ARN does not).
fn tagged_function(lambda: &Lambda, arn: &str) -> Result<String, Failure> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] => {
            let name = function_name(lambda, name, None)?;
            lambda.registry.describe(&name)?;
            Ok(name)
        }
        ["arn", _, "lambda", _, _, "function", _, _] => {
            Err(fail("InvalidParameterValueException", "Tags are not supported on function versions or aliases"))
        }
        _ => Err(fail("InvalidParameterValueException", format!("Invalid resource ARN for tagging: {arn}"))),
    }
}

/// `GET /2017-03-31/tags/{ARN}` (ListTags).
async fn list_tags(State(app): State<Arc<App>>, PathParam(arn): PathParam) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = tagged_function(lambda, &arn)?;
    Ok(reply(StatusCode::OK, &json!({"Tags": lambda.registry.describe(&name)?.tags})))
}

/// `POST /2017-03-31/tags/{ARN}` (TagResource): adds or replaces `Tags`.
async fn tag_resource(
    State(app): State<Arc<App>>,
    PathParam(arn): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "TagResource").await?;
    let lambda = lambda_state(&app)?;
    let name = tagged_function(lambda, &arn)?;
    let Some(tags) = m.get("Tags") else {
        return Err(fail("InvalidParameterValueException", "Tags is required"));
    };
    let tags = tags_member(tags)?;
    let mut all = lambda.registry.get(&name)?.tags;
    all.extend(tags);
    check_tag_count(all.len())?;
    let app2 = app.clone();
    blocking(move || {
        lambda_state(&app2)?.registry.update_config(&name, |r| {
            r.tags = all;
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `DELETE /2017-03-31/tags/{ARN}?tagKeys=k1&tagKeys=k2` (UntagResource).
async fn untag_resource(State(app): State<Arc<App>>, PathParam(arn): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = tagged_function(lambda, &arn)?;
    let keys: Vec<String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == "tagKeys")
        .map(|(_, v)| percent_decode(v))
        .collect();
    if keys.is_empty() {
        return Err(fail("InvalidParameterValueException", "tagKeys is required"));
    }
    let app2 = app.clone();
    blocking(move || {
        lambda_state(&app2)?.registry.update_config(&name, |r| {
            for k in &keys {
                r.tags.remove(k);
            }
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Lambda's default account limits, as `GetAccountSettings` reports them.
const ACCOUNT_TOTAL_CODE_SIZE: u64 = 80_530_636_800;
const ACCOUNT_CONCURRENT_EXECUTIONS: u64 = 1000;

/// `GET /2016-08-19/account-settings` (GetAccountSettings): Lambda's
/// default limits, and this server's use of them.
async fn account_settings(State(app): State<Arc<App>>) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let functions = lambda.registry.list();
    let code: u64 = functions.iter().map(|f| f.code_size).sum();
    let reserved: u64 = functions.iter().filter_map(|f| f.reserved_concurrency).map(u64::from).sum();
    Ok(reply(
        StatusCode::OK,
        &json!({
            "AccountLimit": {
                "TotalCodeSize": ACCOUNT_TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": 52_428_800u64,
                "ConcurrentExecutions": ACCOUNT_CONCURRENT_EXECUTIONS,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENT_EXECUTIONS.saturating_sub(reserved),
            },
            "AccountUsage": {"TotalCodeSize": code, "FunctionCount": functions.len()},
        }),
    ))
}

async fn get_configuration(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let (name, qualifier) = function_ref(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let r = super::versions::qualified_record(lambda, &name, qualifier.as_deref())?;
    Ok(reply(StatusCode::OK, &configuration(lambda, &r)))
}

async fn delete_function(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let (name, qualifier) = function_ref(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    if let Some(qualifier) = qualifier {
        return super::versions::delete_qualified(app, name, qualifier).await;
    }
    let app2 = app.clone();
    let n = name.clone();
    // As on AWS, the function's event source mappings stay; they fail (and
    // retry) until a function of that name exists again.
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        lambda.registry.delete(&n)?;
        super::invoke_config::forget_function(&app2.store, &n).map_err(LambdaError::from)?;
        super::urls::forget(&app2.store, &n, None).map_err(LambdaError::from)?;
        super::permissions::forget(&app2.store, &n, None).map_err(LambdaError::from)?;
        app2.metrics.forget_function(&n);
        Ok(())
    })
    .await?;
    lambda.logs.remove(&name);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn update_configuration(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "UpdateFunctionConfiguration").await?;
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let current = lambda.registry.get(&name)?;
    check_revision(&m, &current)?;
    let mut next = current.clone();
    apply_settings(&mut next, &m)?;
    if let Some(role) = str_member(&m, "Role")? {
        check_role(&app, &role)?;
    }
    if let Some(h) = str_member(&m, "Handler")? {
        next.handler = h;
    }
    let app2 = app.clone();
    let record = blocking(move || {
        Ok(lambda_state(&app2)?.registry.update_config(&name, |r| {
            r.timeout_secs = next.timeout_secs;
            r.memory_mb = next.memory_mb;
            r.description = next.description.clone();
            r.role = next.role.clone();
            r.runtime = next.runtime.clone();
            r.environment = next.environment.clone();
            r.handler = next.handler.clone();
            Ok(())
        })?)
    })
    .await?;
    Ok(reply(StatusCode::OK, &configuration(lambda, &record)))
}

async fn update_code(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    check_json_media_type(&headers)?;
    let limit = (MAX_CODE_REQUEST_BYTES, BodyKind::Code);
    let body = read_body(&app, &headers, body, limit, "RequestEntityTooLargeException", "UpdateFunctionCode").await?;
    let m = json_object(&body.bytes)?;
    let ReadBody { bytes, reservation } = body;
    drop(bytes);
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let current = lambda.registry.get(&name)?;
    check_revision(&m, &current)?;
    let code = zip_file(&m)?;
    let dry_run = bool_member(&m, "DryRun")?.unwrap_or(false);
    let publish = bool_member(&m, "Publish")?.unwrap_or(false);
    drop(m);
    let app2 = app.clone();
    // As Lambda: `LastUpdateStatus: InProgress` while the new code compiles
    // past `active_wait_ms`; the previous code serves until it is ready.
    let answered = Answered::new(lambda);
    let (begun_tx, begun_rx) = tokio::sync::oneshot::channel();
    let shared = answered.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<FunctionRecord, Failure> {
        let _reservation = reservation;
        let (component, _) = extract_component(code, Some(&current.handler), false)?;
        let lambda = lambda_state(&app2)?;
        if dry_run {
            lambda.registry.runtime().compile(&component).map_err(|e| Failure::from(RegistryError::from(e)))?;
            return Ok(current);
        }
        let (shown, before) = lambda.registry.begin_update(&name)?;
        let _ = begun_tx.send(shown);
        let updated = lambda.registry.finish_update(&name, &component);
        // A failure that is the answer: the update never happened.
        let (updated, told) = shared
            .settle(updated, &name, "UpdateFunctionCode", || lambda.registry.forget_update_failure(&name, before))?;
        if publish {
            return publish_after(lambda, &name, told);
        }
        Ok(updated)
    });
    let record = answered.answer(task, begun_rx).await?;
    Ok(reply(StatusCode::OK, &configuration(lambda, &record)))
}

// ---------------------------------------------------------------- concurrency

async fn put_concurrency(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "PutFunctionConcurrency").await?;
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let Some(n) = int_member(&m, "ReservedConcurrentExecutions")? else {
        return Err(validation("reservedConcurrentExecutions", "null", "Member must not be null"));
    };
    if n < 0 {
        return Err(validation("reservedConcurrentExecutions", n, "Member must have value greater than or equal to 0"));
    }
    let max = i64::from(tidepool_runtime::limits::DEFAULT_MAX_CONCURRENCY);
    if n > max {
        return Err(fail(
            "InvalidParameterValueException",
            format!(
                "Specified ReservedConcurrentExecutions for function ({n}) exceeds the server's concurrency limit ({max})"
            ),
        ));
    }
    let app2 = app.clone();
    blocking(move || {
        Ok(lambda_state(&app2)?.registry.update_config(&name, |r| {
            r.reserved_concurrency = Some(n as u32);
            Ok(())
        })?)
    })
    .await?;
    Ok(reply(StatusCode::OK, &json!({"ReservedConcurrentExecutions": n})))
}

async fn get_concurrency(State(app): State<Arc<App>>, PathParam(raw): PathParam) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let r = lambda.registry.get(&name)?;
    let out = match r.reserved_concurrency {
        Some(n) => json!({"ReservedConcurrentExecutions": n}),
        None => json!({}),
    };
    Ok(reply(StatusCode::OK, &out))
}

async fn delete_concurrency(State(app): State<Arc<App>>, PathParam(raw): PathParam) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let app2 = app.clone();
    blocking(move || {
        Ok(lambda_state(&app2)?.registry.update_config(&name, |r| {
            r.reserved_concurrency = None;
            Ok(())
        })?)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

// ---------------------------------------------------------------- invoke

fn throttled(t: Throttled) -> Failure {
    Failure { error: LambdaError::new("TooManyRequestsException", t.reason.message()), reason: Some(t.reason.as_str()) }
}

/// The event an Invoke payload carries: JSON text (empty is `{}`).
fn event_of(payload: &[u8]) -> Result<String, Failure> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok("{}".into());
    }
    let text = std::str::from_utf8(payload)
        .map_err(|_| fail("InvalidRequestContentException", "Could not parse request body into json: not UTF-8"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        fail(
            "InvalidRequestContentException",
            format!("Could not parse request body into json: Could not parse payload into json: {e}"),
        )
    })?;
    Ok(text.to_string())
}

async fn invoke(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    guest: Option<axum::Extension<crate::bridge::GuestCall>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let lambda = lambda_state(&app)?;
    // A handler's Invoke (over wasi:http, in process) continues its chain:
    // one level deeper, and refused past the chain limit, as Lambda stops a
    // recursive loop.
    let depth = guest.map_or(0, |g| g.depth + 1);
    if depth >= tidepool_runtime::esm::MAX_CHAIN_DEPTH {
        return Err(fail(
            "RecursiveInvocationException",
            format!(
                "Lambda has detected your function being invoked in a recursive loop: this invocation would be \
                 {depth} deep in a chain of triggers and invocations, past the limit of {}.",
                tidepool_runtime::esm::MAX_CHAIN_DEPTH
            ),
        ));
    }
    let q = query(&uri);
    let (name, qualifier) = function_ref(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(validation(
            "invocationType",
            invocation_type,
            "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
        ));
    }
    let log_type = header(&headers, "x-amz-log-type").unwrap_or("None");
    if !matches!(log_type, "None" | "Tail") {
        return Err(validation("logType", log_type, "Member must satisfy enum value set: [None, Tail]"));
    }
    let limit = if invocation_type == "Event" { MAX_ASYNC_PAYLOAD_BYTES } else { MAX_SYNC_PAYLOAD_BYTES };
    let payload =
        read_body(&app, &headers, body, (limit, BodyKind::Invoke), "RequestTooLargeException", "Invoke").await?;
    let event = event_of(&payload.bytes)?;
    // The event holds the payload's bytes now; the reservation stays with it.
    let ReadBody { bytes, reservation } = payload;
    drop(bytes);
    let function = lambda.registry.resolve(&name, qualifier.as_deref())?;
    let executed = function.config().version.clone();
    match invocation_type {
        "DryRun" => Ok(empty(StatusCode::NO_CONTENT)),
        "Event" => {
            let request_id = match lambda.events.submit(app.clone(), name, qualifier, depth, event).await {
                Ok(id) => id,
                Err(super::events::Refused::Full(message)) => {
                    return Err(Failure {
                        error: LambdaError::new("TooManyRequestsException", message),
                        reason: Some("ConcurrentInvocationLimitExceeded"),
                    });
                }
                Err(super::events::Refused::Store(e)) => return Err(e.into()),
            };
            let mut resp = StatusCode::ACCEPTED.into_response();
            request_id_header(&mut resp, &request_id);
            Ok(resp)
        }
        _ => {
            let permit = function.try_acquire().map_err(|t| {
                app.metrics.throttled(&name);
                throttled(t)
            })?;
            let logs = lambda.logs.clone();
            let (inv, lines) = blocking(move || {
                let _reservation = reservation;
                let _running = logs.running(&name);
                let inv = function.invoke(permit, &event, InvokeOptions::new().chain_depth(depth));
                let lines = logs.record(&name, &inv);
                Ok((inv, lines))
            })
            .await?;
            let mut resp = (StatusCode::OK, inv.payload()).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&executed) {
                h.insert("X-Amz-Executed-Version", v);
            }
            if let Err(e) = &inv.result {
                h.insert("X-Amz-Function-Error", HeaderValue::from_static(e.function_error_header()));
            }
            if log_type == "Tail"
                && let Ok(v) = HeaderValue::from_str(&super::logs::tail_base64(&lines))
            {
                h.insert("X-Amz-Log-Result", v);
            }
            request_id_header(&mut resp, &inv.request_id);
            Ok(resp)
        }
    }
}

// ---------------------------------------------------------------- mappings

/// The mapping parameters of a request body (members it leaves out are `None`).
fn mapping_params(m: &Map<String, Json>) -> Result<MappingParams, Failure> {
    serde_json::from_value(Json::Object(m.clone()))
        .map_err(|e| fail("InvalidParameterValueException", format!("Invalid event source mapping parameters: {e}")))
}

async fn create_mapping(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> ApiResult {
    let m = json_request(&app, &headers, body, "CreateEventSourceMapping").await?;
    let lambda = lambda_state(&app)?;
    let Some(raw) = str_member(&m, "FunctionName")? else {
        return Err(validation("functionName", "null", "Member must not be null"));
    };
    let (name, qualifier) = function_ref(lambda, &raw, None)?;
    let params = mapping_params(&m)?;
    let mut created = lambda.create_mapping(&name, qualifier.as_deref(), params).await?;
    // The answer shows the change under way, as Lambda's does (`Creating`,
    // then `Enabled` or `Disabled` at once here, where Lambda takes a few
    // seconds); GetEventSourceMapping shows where it settled.
    created.state = tidepool_runtime::esm::MappingState::Creating;
    Ok(reply(StatusCode::ACCEPTED, &created.to_lambda_json()))
}

async fn list_mappings(State(app): State<Arc<App>>, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let limit = max_items(&q, DEFAULT_LIST_MAPPINGS)?;
    let function = match q.get("FunctionName") {
        Some(f) => Some(function_name(lambda, f, None)?),
        None => None,
    };
    let all = lambda.mappings(function.as_deref(), q.get("EventSourceArn").map(String::as_str));
    let start = match q.get("Marker") {
        Some(marker) => all.partition_point(|m| m.uuid.as_str() < marker.as_str()),
        None => 0,
    };
    let page: Vec<Json> = all.iter().skip(start).take(limit).map(|m| m.to_lambda_json()).collect();
    let mut out = json!({"EventSourceMappings": page});
    if let Some(next) = all.get(start + limit) {
        out["NextMarker"] = json!(next.uuid);
    }
    Ok(reply(StatusCode::OK, &out))
}

async fn get_mapping(State(app): State<Arc<App>>, PathParam(uuid): PathParam) -> ApiResult {
    let m = lambda_state(&app)?.mapping(&uuid)?;
    Ok(reply(StatusCode::OK, &m.to_lambda_json()))
}

async fn update_mapping(
    State(app): State<Arc<App>>,
    PathParam(uuid): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "UpdateEventSourceMapping").await?;
    let lambda = lambda_state(&app)?;
    let function = match str_member(&m, "FunctionName")? {
        Some(f) => Some(function_ref(lambda, &f, None)?),
        None => None,
    };
    let params = mapping_params(&m)?;
    let was_enabled = lambda.mapping(&uuid)?.enabled;
    let mut updated =
        lambda.update_mapping(&uuid, function.as_ref().map(|(f, q)| (f.as_str(), q.as_deref())), params).await?;
    // The change under way, as in Lambda's answer: `Enabling` or
    // `Disabling` when `Enabled` changed, else `Updating`.
    use tidepool_runtime::esm::MappingState;
    updated.state = match (was_enabled, updated.enabled) {
        (false, true) => MappingState::Enabling,
        (true, false) => MappingState::Disabling,
        _ => MappingState::Updating,
    };
    Ok(reply(StatusCode::ACCEPTED, &updated.to_lambda_json()))
}

async fn delete_mapping(State(app): State<Arc<App>>, PathParam(uuid): PathParam) -> ApiResult {
    let mut m = lambda_state(&app)?.delete_mapping(&uuid).await?;
    m.state = tidepool_runtime::esm::MappingState::Deleting;
    Ok(reply(StatusCode::ACCEPTED, &m.to_lambda_json()))
}

// ---------------------------------------------------------------- Tidepool's own

/// `GET /tidepool/logs/{name}`: the function's log lines from cursor `since`
/// (default 0: all kept), at most `limit` (or the last `tail`), waiting up
/// to `wait` seconds for one when there is none (a long poll, for
/// `tidepool logs --follow`). Returns [`LogPage`] as JSON.
async fn read_logs(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    if lambda.registry.get(&name).is_err() && !lambda.logs.has(&name) {
        return Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}", lambda.registry.function_arn(&name)),
        ));
    }
    let q = query(&uri);
    let number = |key: &str| -> Result<Option<u64>, Failure> {
        q.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| fail("InvalidParameterValueException", format!("{key} must be a whole number")))
            })
            .transpose()
    };
    let since = number("since")?.unwrap_or(0);
    let limit = number("limit")?.map_or(super::logs::MAX_LINES_PER_READ, |l| l as usize);
    let tail = number("tail")?.map(|t| t as usize);
    let wait = Duration::from_secs(number("wait")?.unwrap_or(0)).min(MAX_LOG_WAIT);
    let page: LogPage = if wait.is_zero() || tail.is_some() {
        lambda.logs.read(&name, since, limit, tail)
    } else {
        lambda.logs.wait(&name, since, limit, wait).await
    };
    let body = serde_json::to_value(&page).map_err(|e| internal("render logs", e))?;
    Ok(reply(StatusCode::OK, &body))
}

/// `GET /tidepool/mappings`: every mapping with its delivery metrics
/// (`Metrics`: iterator age, counts, checkpoints per shard).
async fn mappings_with_metrics(State(app): State<Arc<App>>) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let mut all: Vec<Json> = Vec::new();
    for m in lambda.mappings(None, None) {
        let mut j = m.to_lambda_json();
        j["FunctionName"] = json!(m.function_name);
        if let Some(metrics) = lambda.engine.metrics(&m.uuid) {
            j["Metrics"] = serde_json::to_value(metrics).unwrap_or(Json::Null);
        }
        // A worker of a fleet: the shards it holds of the group's.
        if let Some(leases) = lambda.engine.leases(&m.uuid) {
            j["Leases"] = json!({
                "Worker": leases.worker(),
                "Table": leases.table(),
                "Group": leases.group(),
                "Held": leases.held(),
            });
        }
        all.push(j);
    }
    Ok(reply(StatusCode::OK, &json!({"Mappings": all})))
}

/// `GET /tidepool/schedules`: `{"Schedules": [...]}`, each as
/// [`super::schedule::to_json`].
async fn list_schedules(State(app): State<Arc<App>>) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let all: Vec<Json> = lambda.schedules.list().iter().map(|(d, s)| super::schedule::to_json(d, s)).collect();
    Ok(reply(StatusCode::OK, &json!({"Schedules": all})))
}

/// `GET /tidepool/schedules/{name}`.
async fn get_schedule(State(app): State<Arc<App>>, PathParam(name): PathParam) -> ApiResult {
    let (def, status) = lambda_state(&app)?.schedules.get(&name)?;
    Ok(reply(StatusCode::OK, &super::schedule::to_json(&def, &status)))
}

/// `PUT /tidepool/schedules/{name}`: creates the schedule (`Function`,
/// `Expression`, optional `State` and `Input`) or changes the members
/// given, so `{"State": "DISABLED"}` disables one. Returns it.
async fn put_schedule(
    State(app): State<Arc<App>>,
    PathParam(name): PathParam,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "PutSchedule").await?;
    let lambda = lambda_state(&app)?;
    let have = lambda.schedules.get(&name).ok().map(|(d, _)| d);
    let def = super::schedule::updated(&name, have, &m)?;
    lambda.schedules.put(lambda, def).await?;
    let (def, status) = lambda.schedules.get(&name)?;
    Ok(reply(StatusCode::OK, &super::schedule::to_json(&def, &status)))
}

/// `DELETE /tidepool/schedules/{name}`: returns the deleted schedule.
async fn delete_schedule(State(app): State<Arc<App>>, PathParam(name): PathParam) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (_, status) = lambda.schedules.get(&name)?;
    let def = lambda.schedules.delete(&name).await?;
    Ok(reply(StatusCode::OK, &super::schedule::to_json(&def, &status)))
}

/// `POST /tidepool/reset`: empties the server (see [`super::reset`]).
async fn reset(State(app): State<Arc<App>>) -> ApiResult {
    lambda_state(&app)?;
    Ok(reply(StatusCode::OK, &super::reset::reset(&app).await?))
}

/// `POST /tidepool/deploy`: `{"Manifest": "<TOML>", "Files": {"<code path as
/// the manifest writes it>": "<base64 component>"}, "Only": {"Kind":
/// "table" | "function" | "mapping", "Index": n}}`. The client resolves and
/// reads the code files; the server applies the manifest (or, with `Only`,
/// just that item of it, so a client can show progress item by item) as
/// `serve --manifest` does and returns `{"Changes": [...]}`; with `"DryRun":
/// true` it changes nothing and returns what it would change. A manifest the
/// server refuses (it does not parse, or declares something invalid) is a
/// 400 `InvalidParameterValueException`.
///
/// The body (at most [`MAX_DEPLOY_REQUEST_BYTES`], counted in
/// [`MAX_CODE_BODIES_IN_FLIGHT_BYTES`]) is parsed in place: each file is
/// decoded and written to disk in turn, and the body is dropped before the
/// manifest is applied.
async fn deploy(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> ApiResult {
    check_json_media_type(&headers)?;
    let limit = (MAX_DEPLOY_REQUEST_BYTES, BodyKind::Code);
    let body = read_body(&app, &headers, body, limit, "RequestEntityTooLargeException", "Deploy").await?;
    lambda_state(&app)?;
    let dir = app.store.path().join("lambda").join("deploy").join(uuid::Uuid::new_v4().to_string());
    let rt = tokio::runtime::Handle::current();
    let app2 = app.clone();
    let applied = blocking(move || {
        let ReadBody { bytes, reservation: _reservation } = body;
        let result = (|| {
            let (manifest, dry_run) = stage_deploy(bytes, &dir)?;
            if dry_run {
                Ok(manifest::plan(&app2, &manifest, &rt)?)
            } else {
                Ok(manifest::apply(&app2, &manifest, &rt)?)
            }
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
    .await?;
    Ok(reply(StatusCode::OK, &json!({"Changes": applied.changes})))
}

/// A `/tidepool/deploy` body, its strings borrowed from the body where they
/// hold no escapes (base64 never does).
#[derive(Deserialize)]
struct DeployRequest<'a> {
    #[serde(rename = "Manifest", borrow)]
    manifest: Option<Cow<'a, str>>,
    #[serde(rename = "Files", borrow, default)]
    files: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(rename = "Only", default)]
    only: Option<Only>,
    /// Only say what would change (`tidepool deploy --dry-run`).
    #[serde(rename = "DryRun", default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
struct Only {
    #[serde(rename = "Kind")]
    kind: Option<String>,
    #[serde(rename = "Index")]
    index: Option<i64>,
}

/// Parses a deploy body, writes the code it carries under `dir` (one file
/// at a time, each decoded and dropped before the next) and returns the
/// manifest to apply, its code paths relative to `dir`, and whether only to
/// plan.
fn stage_deploy(body: Vec<u8>, dir: &std::path::Path) -> Result<(manifest::Manifest, bool), Failure> {
    let invalid = |message: String| fail("InvalidParameterValueException", message);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("Manifest (the manifest's TOML text) is required".into()));
    }
    let request: DeployRequest<'_> = serde_json::from_slice(&body).map_err(|e| {
        let kind = if e.is_data() { "InvalidParameterValueException" } else { "InvalidRequestContentException" };
        fail(kind, format!("Could not parse request body into json: {e}"))
    })?;
    let Some(text) = request.manifest.as_deref() else {
        return Err(invalid("Manifest (the manifest's TOML text) is required".into()));
    };
    let mut manifest = manifest::Manifest::parse(text).map_err(|e| invalid(format!("manifest: {e}")))?;
    if let Some(only) = &request.only {
        let kind = only.kind.clone().unwrap_or_default();
        let index = only.index.and_then(|i| usize::try_from(i).ok()).unwrap_or(usize::MAX);
        let missing = || invalid(format!("the manifest has no {kind} {index}"));
        let mut one = manifest::Manifest { base: manifest.base.clone(), ..Default::default() };
        match kind.as_str() {
            "table" => one.tables.push(manifest.tables.get(index).cloned().ok_or_else(missing)?),
            "function" => one.functions.push(manifest.functions.get(index).cloned().ok_or_else(missing)?),
            "mapping" => one.mappings.push(manifest.mappings.get(index).cloned().ok_or_else(missing)?),
            _ => return Err(invalid("Only.Kind must be table, function or mapping".into())),
        }
        manifest = one;
    }
    let files = request.files.unwrap_or_default();
    for (i, f) in manifest.functions.iter_mut().enumerate() {
        let key = f.code.to_string_lossy().into_owned();
        let Some(b64) = files.get(key.as_str()) else {
            return Err(invalid(format!("function {}: the code {key} was not sent in Files", f.name)));
        };
        let code = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| invalid(format!("function {}: code is not base64: {e}", f.name)))?;
        let file_name = f.code.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "handler.wasm".into());
        let rel = std::path::PathBuf::from(i.to_string()).join(file_name);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| internal("create the deploy directory", e))?;
        }
        std::fs::write(&path, code).map_err(|e| internal("write code to deploy", e))?;
        f.code = rel;
    }
    // Seed files, staged as the code is, under their table's number.
    for (i, t) in manifest.tables.iter_mut().enumerate() {
        let Some(seed) = &t.seed else { continue };
        let key = seed.to_string_lossy().into_owned();
        let Some(b64) = files.get(key.as_str()) else {
            return Err(invalid(format!("table {}: the seed {key} was not sent in Files", t.name)));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| invalid(format!("table {}: seed is not base64: {e}", t.name)))?;
        let file_name = seed.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "seed.json".into());
        let rel = std::path::PathBuf::from(format!("seed-{i}")).join(file_name);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| internal("create the deploy directory", e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| internal("write a seed to deploy", e))?;
        t.seed = Some(rel);
    }
    manifest.base = dir.to_path_buf();
    Ok((manifest, request.dry_run.unwrap_or(false)))
}

/// `GET /tidepool/limits`: every bound of the Lambda side with its use now:
/// `{"AsyncQueue": {"Events", "MaxEvents", "Bytes", "MaxBytes"},
/// "CodeBodies": {"Bytes", "MaxBytes"}, "InvokeBodies": {...},
/// "ControlBodies": {...}, "GuestMemory": {"ReservedMB", "MaxMB", "Waiting"},
/// "RequestBytes": {...}, "ResponseBytes", "LogLineBytes", "StoreRequestBytes"}`.
/// `GET /tidepool/progress/{id}`: how far a running backup (its id), restore
/// (`restore:<table>`), export or import (its id) has come, for the CLI's
/// progress bars: `{"Items", "Bytes", "TotalItems", "TotalBytes"}` (a total
/// of 0 is unknown). 404 when no such job runs (not yet, or no longer: its
/// API says how it ended); with `?missing=idle`, `{"Id", "Running":
/// false}` instead (the console polls a restore that may not have begun).
async fn progress(State(app): State<Arc<App>>, PathParam(id): PathParam, uri: Uri) -> ApiResult {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(p) = app.store.progress(&id) else {
        if query(&uri).get("missing").is_some_and(|m| m == "idle") {
            return Ok(reply(StatusCode::OK, &json!({"Id": id, "Running": false})));
        }
        return Err(LambdaError::not_found(format!("No job in progress is called {id}")).into());
    };
    Ok(reply(
        StatusCode::OK,
        &json!({
            "Id": id,
            "Running": true,
            "Items": p.items.load(Relaxed),
            "Bytes": p.bytes.load(Relaxed),
            "TotalItems": p.total_items.load(Relaxed),
            "TotalBytes": p.total_bytes.load(Relaxed),
        }),
    ))
}

/// `GET /tidepool/info`: where the server keeps its data and its "S3
/// buckets" (the CLI's `tidepool import` of a local file copies it there
/// when it runs on the same machine).
async fn info(State(app): State<Arc<App>>) -> ApiResult {
    Ok(reply(
        StatusCode::OK,
        &json!({
            "DataDir": app.store.path().display().to_string(),
            "S3Dir": app.s3_dir.display().to_string(),
            "Region": app.region,
        }),
    ))
}

async fn limits(State(app): State<Arc<App>>) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let queue = lambda.events.usage();
    let runtime = lambda.registry.runtime().stats();
    let budget = |b: &ByteBudget| json!({"Bytes": b.used(), "MaxBytes": b.limit()});
    Ok(reply(
        StatusCode::OK,
        &json!({
            "AsyncQueue": {
                "Events": queue.events,
                "MaxEvents": MAX_QUEUED_EVENTS,
                "Bytes": queue.bytes,
                "MaxBytes": MAX_QUEUED_EVENT_BYTES,
                "MaxEventBytes": MAX_ASYNC_PAYLOAD_BYTES,
            },
            "CodeBodies": budget(&lambda.bodies.code),
            "InvokeBodies": budget(&lambda.bodies.invoke),
            "ControlBodies": budget(&lambda.bodies.control),
            "GuestMemory": {
                "ReservedMB": runtime.guest_memory_reserved_mb,
                "MaxMB": runtime.guest_memory_limit_mb,
                "Waiting": runtime.guest_memory_waiting,
            },
            "RequestBytes": {
                "CreateFunction": MAX_CODE_REQUEST_BYTES,
                "UpdateFunctionCode": MAX_CODE_REQUEST_BYTES,
                "Deploy": MAX_DEPLOY_REQUEST_BYTES,
                "InvokeRequestResponse": MAX_SYNC_PAYLOAD_BYTES,
                "InvokeEvent": MAX_ASYNC_PAYLOAD_BYTES,
                "Other": MAX_JSON_REQUEST_BYTES,
            },
            "ResponseBytes": tidepool_runtime::limits::MAX_RESPONSE_BYTES,
            "LogLineBytes": tidepool_runtime::limits::MAX_LOG_LINE_BYTES,
            "StoreRequestBytes": tidepool_runtime::limits::MAX_STORE_REQUEST_BYTES,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab%2F%24LATEST"), "a:b/$LATEST");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a+b"), "a b");
    }

    #[test]
    fn code_sha_is_base64_of_the_digest() {
        assert_eq!(hex_to_base64("00ff10"), "AP8Q");
    }

    #[test]
    fn raw_wasm_and_zips_yield_the_component() {
        let wasm = b"\0asm\x0d\0\x01\0".to_vec();
        let (c, entry) = extract_component(wasm.clone(), None, true).unwrap();
        assert_eq!((c, entry), (wasm.clone(), None));
        let zip = {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default();
            w.start_file("README", opts).unwrap();
            w.write_all(b"hi").unwrap();
            w.start_file("app.wasm", opts).unwrap();
            w.write_all(&wasm).unwrap();
            w.finish().unwrap().into_inner()
        };
        assert_eq!(extract_component(zip.clone(), Some("app.wasm"), true).unwrap().0, wasm);
        assert_eq!(extract_component(zip.clone(), None, true).unwrap().1.as_deref(), Some("app.wasm"));
        assert!(extract_component(zip.clone(), Some("index.handler"), true).is_err());
        assert_eq!(extract_component(zip.clone(), Some("index.handler"), false).unwrap().0, wasm);
        let e = extract_component(zip, Some("README"), true).unwrap_err();
        assert!(e.error.message.contains("not WebAssembly") && e.error.message.contains("wasm32-wasip2"), "{e:?}");
        assert!(extract_component(b"PK\x03\x04garbage".to_vec(), None, true).is_err());
        assert!(extract_component(Vec::new(), None, true).is_err());
    }
}
