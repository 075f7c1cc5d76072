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
//! | (Tidepool) mappings with metrics | `GET /tidepool/mappings` | 200 |
//! | (Tidepool) apply a manifest | `POST /tidepool/deploy` | 200 |
//!
//! Errors are Lambda's REST JSON errors: the status, an `x-amzn-ErrorType`
//! header and `{"Type": "User", "message": ...}` (`"Service"` for a
//! `ServiceException`), which the SDKs parse into typed errors.
//!
//! Only `$LATEST` exists: `Publish` is ignored and any other qualifier is a
//! `ResourceNotFoundException`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use serde_json::{Map, Value as Json, json};
use tidepool_runtime::esm::MappingParams;
use tidepool_runtime::registry::{FunctionRecord, check_name};
use tidepool_runtime::{InvokeOptions, Throttled};

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
/// A manifest with its code inline: a few functions' worth of components.
pub const MAX_DEPLOY_REQUEST_BYTES: usize = 256 * 1024 * 1024;
/// Lambda's `Description` limit.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Lambda's range of `MaxItems` in list operations.
pub const MAX_ITEMS: std::ops::RangeInclusive<i64> = 1..=10_000;
/// ListFunctions' default page size (Lambda's 50).
pub const DEFAULT_LIST_FUNCTIONS: usize = 50;
/// ListEventSourceMappings' default page size (Lambda's 100).
pub const DEFAULT_LIST_MAPPINGS: usize = 100;
/// Lambda retries an asynchronous invocation whose function fails twice.
pub const ASYNC_RETRIES: usize = 2;
/// Lambda waits about a minute before the first retry, two before the second.
pub const ASYNC_RETRY_DELAYS: [Duration; ASYNC_RETRIES] = [Duration::from_secs(60), Duration::from_secs(120)];
/// Lambda's maximum age of an asynchronous event (6 hours): after it, a
/// waiting event is dropped.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 3600);
/// Asynchronous events queued or running at once; past it, Invoke is throttled
/// rather than growing memory without bound.
pub const MAX_QUEUED_EVENTS: usize = 10_000;
/// The longest a logs request waits for a new line (`wait=`). A waiting
/// request holds up a graceful shutdown this long at most.
pub const MAX_LOG_WAIT: Duration = Duration::from_secs(10);
/// Environment variable that shortens the asynchronous retry delays, in
/// milliseconds (first retry; the second waits twice as long). For tests and
/// demos; unset, Lambda's delays apply.
pub const ASYNC_RETRY_DELAY_ENV: &str = "TIDEPOOL_ASYNC_RETRY_DELAY_MS";

/// The Lambda routes and Tidepool's own.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/2015-03-31/functions", post(create_function).get(list_functions))
        .route("/2015-03-31/functions/", post(create_function).get(list_functions))
        .route("/2015-03-31/functions/{name}", get(get_function).delete(delete_function))
        .route("/2015-03-31/functions/{name}/configuration", get(get_configuration).put(update_configuration))
        .route("/2015-03-31/functions/{name}/code", put(update_code))
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route("/2017-10-31/functions/{name}/concurrency", put(put_concurrency).delete(delete_concurrency))
        .route("/2019-09-30/functions/{name}/concurrency", get(get_concurrency))
        .route("/2015-03-31/event-source-mappings", post(create_mapping).get(list_mappings))
        .route("/2015-03-31/event-source-mappings/", post(create_mapping).get(list_mappings))
        .route("/2015-03-31/event-source-mappings/{uuid}", get(get_mapping).put(update_mapping).delete(delete_mapping))
        .route("/tidepool/logs/{name}", get(read_logs))
        .route("/tidepool/mappings", get(mappings_with_metrics))
        .route("/tidepool/deploy", post(deploy))
}

// ---------------------------------------------------------------- errors

/// A failed request: a Lambda error, with the `Reason` of a throttle.
#[derive(Debug)]
pub struct Failure {
    error: LambdaError,
    reason: Option<&'static str>,
}

impl From<LambdaError> for Failure {
    fn from(error: LambdaError) -> Self {
        Failure { error, reason: None }
    }
}

impl From<tidepool_runtime::registry::RegistryError> for Failure {
    fn from(e: tidepool_runtime::registry::RegistryError) -> Self {
        Failure::from(LambdaError::from(e))
    }
}

fn fail(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure::from(LambdaError::new(kind, message))
}

fn validation(member: &str, value: impl std::fmt::Display, constraint: &str) -> Failure {
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

/// The status Lambda answers each error type with.
fn status_of(kind: &str) -> StatusCode {
    match kind {
        "ResourceNotFoundException" => StatusCode::NOT_FOUND,
        "ResourceConflictException" => StatusCode::CONFLICT,
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
            tracing::error!(error = %self.error.message, "Lambda API request failed");
        }
        let mut body = json!({"Type": if service { "Service" } else { "User" }, "message": self.error.message});
        if let Some(reason) = self.reason {
            body["Reason"] = json!(reason);
        }
        let mut resp = reply(status, &body);
        resp.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(self.error.kind));
        resp
    }
}

type ApiResult = Result<Response, Failure>;

fn request_id_header(resp: &mut Response, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
}

/// A JSON response with a fresh request id.
fn reply(status: StatusCode, body: &Json) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request_id_header(&mut resp, &uuid::Uuid::new_v4().to_string());
    resp
}

fn empty(status: StatusCode) -> Response {
    let mut resp = status.into_response();
    request_id_header(&mut resp, &uuid::Uuid::new_v4().to_string());
    resp
}

// ---------------------------------------------------------------- request parts

fn lambda_state(app: &App) -> Result<&Lambda, Failure> {
    app.lambda.get().ok_or_else(|| fail("ServiceException", "Lambda is not started yet"))
}

/// Reads a body of at most `limit` bytes; a larger one is `too_large`.
async fn read_body(body: Body, limit: usize, too_large: &'static str, operation: &str) -> Result<Bytes, Failure> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        fail(too_large, format!("Request must be smaller than {limit} bytes for the {operation} operation"))
    })
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

async fn json_request(headers: &HeaderMap, body: Body, operation: &str) -> Result<Map<String, Json>, Failure> {
    check_json_media_type(headers)?;
    let bytes = read_body(body, MAX_JSON_REQUEST_BYTES, "RequestEntityTooLargeException", operation).await?;
    json_object(&bytes)
}

fn str_member(m: &Map<String, Json>, name: &str) -> Result<Option<String>, Failure> {
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
fn query(uri: &Uri) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn max_items(q: &HashMap<String, String>, default: usize) -> Result<usize, Failure> {
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
/// the only qualifier that exists.
pub fn function_name(lambda: &Lambda, raw: &str, qualifier: Option<&str>) -> Result<String, Failure> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (name, qual) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => ("", None),
    };
    check_name(if name.is_empty() { raw } else { name }).map_err(LambdaError::from)?;
    for q in [qual, qualifier].into_iter().flatten() {
        if q != "$LATEST" {
            return Err(fail(
                "ResourceNotFoundException",
                format!("Function not found: {}:{q}", lambda.registry.function_arn(name)),
            ));
        }
    }
    Ok(name.to_string())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs blocking work (compiling, fsyncs) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Failure> + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| internal("the request's work did not finish", e))?
}

// ---------------------------------------------------------------- functions

/// `FunctionConfiguration`.
fn configuration(lambda: &Lambda, r: &FunctionRecord) -> Json {
    let mut c = json!({
        "FunctionName": r.name,
        "FunctionArn": lambda.registry.function_arn(&r.name),
        "Runtime": r.runtime,
        "Role": r.role,
        "Handler": r.handler,
        "CodeSize": r.code_size,
        "Description": r.description,
        "Timeout": r.timeout_secs,
        "MemorySize": r.memory_mb,
        "LastModified": r.last_modified,
        "CodeSha256": hex_to_base64(&r.code_sha256),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": r.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", r.name)},
    });
    if !r.environment.is_empty() {
        c["Environment"] = json!({"Variables": r.environment});
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
    if !out.starts_with(b"\0asm") {
        return Err(fail(
            "InvalidParameterValueException",
            format!("The zip entry {entry:?} is not a WebAssembly component"),
        ));
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

fn check_revision(m: &Map<String, Json>, r: &FunctionRecord) -> Result<(), Failure> {
    match str_member(m, "RevisionId")? {
        Some(id) if id != r.revision_id => Err(fail(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

async fn create_function(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> ApiResult {
    check_json_media_type(&headers)?;
    let bytes = read_body(body, MAX_CODE_REQUEST_BYTES, "RequestEntityTooLargeException", "CreateFunction").await?;
    let m = json_object(&bytes)?;
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
    let handler = str_member(&m, "Handler")?;
    let app2 = app.clone();
    let record = blocking(move || {
        let (component, entry) = extract_component(code, handler.as_deref(), true)?;
        record.handler = handler.or(entry).unwrap_or_else(|| "handler.wasm".into());
        let lambda = lambda_state(&app2)?;
        Ok(lambda.registry.create(record, &component)?)
    })
    .await?;
    Ok(reply(StatusCode::CREATED, &configuration(lambda, &record)))
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
    let page: Vec<Json> = all.iter().skip(start).take(limit).map(|r| configuration(lambda, r)).collect();
    let mut out = json!({"Functions": page});
    if let Some(next) = all.get(start + limit) {
        out["NextMarker"] = json!(next.name);
    }
    Ok(reply(StatusCode::OK, &out))
}

async fn get_function(State(app): State<Arc<App>>, Path(raw): Path<String>, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let name = function_name(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let r = lambda.registry.get(&name)?;
    let mut out = json!({
        "Configuration": configuration(lambda, &r),
        "Code": {"RepositoryType": "S3"},
    });
    if let Some(n) = r.reserved_concurrency {
        out["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
    }
    Ok(reply(StatusCode::OK, &out))
}

async fn get_configuration(State(app): State<Arc<App>>, Path(raw): Path<String>, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let name = function_name(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let r = lambda.registry.get(&name)?;
    Ok(reply(StatusCode::OK, &configuration(lambda, &r)))
}

async fn delete_function(State(app): State<Arc<App>>, Path(raw): Path<String>, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let name = function_name(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
    let app2 = app.clone();
    let n = name.clone();
    // As on AWS, the function's event source mappings stay; they fail (and
    // retry) until a function of that name exists again.
    blocking(move || Ok(lambda_state(&app2)?.registry.delete(&n)?)).await?;
    lambda.logs.remove(&name);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn update_configuration(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&headers, body, "UpdateFunctionConfiguration").await?;
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let current = lambda.registry.get(&name)?;
    check_revision(&m, &current)?;
    let mut next = current.clone();
    apply_settings(&mut next, &m)?;
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
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    check_json_media_type(&headers)?;
    let bytes = read_body(body, MAX_CODE_REQUEST_BYTES, "RequestEntityTooLargeException", "UpdateFunctionCode").await?;
    let m = json_object(&bytes)?;
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let current = lambda.registry.get(&name)?;
    check_revision(&m, &current)?;
    let code = zip_file(&m)?;
    let dry_run = bool_member(&m, "DryRun")?.unwrap_or(false);
    let app2 = app.clone();
    let record =
        blocking(move || {
            let (component, _) = extract_component(code, Some(&current.handler), false)?;
            let lambda = lambda_state(&app2)?;
            if dry_run {
                lambda.registry.runtime().compile(&component).map_err(|e| {
                    Failure::from(LambdaError::from(tidepool_runtime::registry::RegistryError::from(e)))
                })?;
                return Ok(current);
            }
            Ok(lambda.registry.update_code(&name, &component)?)
        })
        .await?;
    Ok(reply(StatusCode::OK, &configuration(lambda, &record)))
}

// ---------------------------------------------------------------- concurrency

async fn put_concurrency(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&headers, body, "PutFunctionConcurrency").await?;
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

async fn get_concurrency(State(app): State<Arc<App>>, Path(raw): Path<String>) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let name = function_name(lambda, &raw, None)?;
    let r = lambda.registry.get(&name)?;
    let out = match r.reserved_concurrency {
        Some(n) => json!({"ReservedConcurrentExecutions": n}),
        None => json!({}),
    };
    Ok(reply(StatusCode::OK, &out))
}

async fn delete_concurrency(State(app): State<Arc<App>>, Path(raw): Path<String>) -> ApiResult {
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
    Failure { error: LambdaError::new("TooManyRequestsException", "Rate Exceeded."), reason: Some(t.reason.as_str()) }
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
    Path(raw): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let q = query(&uri);
    let name = function_name(lambda, &raw, q.get("Qualifier").map(String::as_str))?;
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
    let payload = read_body(body, limit, "RequestTooLargeException", "Invoke").await?;
    let event = event_of(&payload)?;
    let function = lambda.registry.loaded(&name)?;
    match invocation_type {
        "DryRun" => Ok(empty(StatusCode::NO_CONTENT)),
        "Event" => {
            let request_id = lambda.events.submit(app.clone(), name, event)?;
            let mut resp = StatusCode::ACCEPTED.into_response();
            request_id_header(&mut resp, &request_id);
            Ok(resp)
        }
        _ => {
            let permit = function.try_acquire().map_err(throttled)?;
            let logs = lambda.logs.clone();
            let (inv, lines) = blocking(move || {
                let inv = function.invoke(permit, &event, InvokeOptions::new());
                let lines = logs.record(&name, &inv);
                Ok((inv, lines))
            })
            .await?;
            let mut resp = (StatusCode::OK, inv.payload()).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert("X-Amz-Executed-Version", HeaderValue::from_static("$LATEST"));
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

/// Asynchronous invocations: queued in memory (lost at a restart), each run
/// at least once when it can, with Lambda's two retries after a function
/// error and its maximum event age.
pub struct EventQueue {
    pending: Arc<AtomicUsize>,
    retry_delays: [Duration; ASYNC_RETRIES],
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue::new()
    }
}

/// Decrements the queue's count when an event is done with.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl EventQueue {
    /// Lambda's retry delays, or the shorter ones of [`ASYNC_RETRY_DELAY_ENV`].
    pub fn new() -> Self {
        let retry_delays = match std::env::var(ASYNC_RETRY_DELAY_ENV).ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => [Duration::from_millis(ms), Duration::from_millis(ms.saturating_mul(2))],
            None => ASYNC_RETRY_DELAYS,
        };
        EventQueue { pending: Arc::new(AtomicUsize::new(0)), retry_delays }
    }

    /// Events queued or running.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Queues `event` for `function`; returns its request id.
    fn submit(&self, app: Arc<App>, function: String, event: String) -> Result<String, Failure> {
        if self.pending.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_EVENTS {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(Failure {
                error: LambdaError::new("TooManyRequestsException", "Rate Exceeded."),
                reason: Some("ConcurrentInvocationLimitExceeded"),
            });
        }
        let guard = Pending(self.pending.clone());
        let request_id = uuid::Uuid::new_v4().to_string();
        let delays = self.retry_delays;
        let id = request_id.clone();
        tokio::spawn(async move {
            let _guard = guard;
            run_event(app, function, event, id, delays).await;
        });
        Ok(request_id)
    }
}

/// Runs one asynchronous event: up to three attempts, waiting for
/// concurrency (a throttle is waited out, not counted) while the event is
/// younger than [`MAX_EVENT_AGE`].
#[tracing::instrument(skip_all, fields(function = %function, request_id = %request_id))]
async fn run_event(app: Arc<App>, function: String, event: String, request_id: String, delays: [Duration; 2]) {
    let queued = tokio::time::Instant::now();
    for attempt in 0..=ASYNC_RETRIES {
        let Some(lambda) = app.lambda.get() else { return };
        let age = queued.elapsed();
        let Some(left) = MAX_EVENT_AGE.checked_sub(age) else {
            tracing::warn!("asynchronous event dropped: older than the maximum event age");
            return;
        };
        let Ok(loaded) = lambda.registry.loaded(&function) else {
            tracing::warn!("asynchronous event dropped: the function no longer exists");
            return;
        };
        let Ok(permit) = tokio::time::timeout(left, loaded.acquire()).await else {
            tracing::warn!("asynchronous event dropped: throttled until the maximum event age");
            return;
        };
        let (logs, name, ev) = (lambda.logs.clone(), function.clone(), event.clone());
        let options = InvokeOptions::new().request_id(request_id.clone());
        let run = tokio::task::spawn_blocking(move || {
            let inv = loaded.invoke(permit, &ev, options);
            logs.record(&name, &inv);
            inv
        });
        let inv = match run.await {
            Ok(inv) => inv,
            Err(e) => {
                tracing::error!(error = %e, "asynchronous invocation did not finish");
                return;
            }
        };
        let Err(error) = &inv.result else { return };
        match delays.get(attempt) {
            Some(delay) => {
                tracing::info!(attempt = attempt + 1, error = %error, "asynchronous invocation failed; retrying in {delay:?}");
                tokio::time::sleep(*delay).await;
            }
            None => {
                tracing::warn!(attempts = attempt + 1, error = %error, "asynchronous invocation failed; event dropped");
            }
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
    let m = json_request(&headers, body, "CreateEventSourceMapping").await?;
    let lambda = lambda_state(&app)?;
    let Some(raw) = str_member(&m, "FunctionName")? else {
        return Err(validation("functionName", "null", "Member must not be null"));
    };
    let name = function_name(lambda, &raw, None)?;
    let params = mapping_params(&m)?;
    let created = lambda.create_mapping(&name, params).await?;
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

async fn get_mapping(State(app): State<Arc<App>>, Path(uuid): Path<String>) -> ApiResult {
    let m = lambda_state(&app)?.mapping(&uuid)?;
    Ok(reply(StatusCode::OK, &m.to_lambda_json()))
}

async fn update_mapping(
    State(app): State<Arc<App>>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&headers, body, "UpdateEventSourceMapping").await?;
    let lambda = lambda_state(&app)?;
    let function = match str_member(&m, "FunctionName")? {
        Some(f) => Some(function_name(lambda, &f, None)?),
        None => None,
    };
    let params = mapping_params(&m)?;
    let updated = lambda.update_mapping(&uuid, function.as_deref(), params).await?;
    Ok(reply(StatusCode::ACCEPTED, &updated.to_lambda_json()))
}

async fn delete_mapping(State(app): State<Arc<App>>, Path(uuid): Path<String>) -> ApiResult {
    let mut m = lambda_state(&app)?.delete_mapping(&uuid).await?;
    m.state = tidepool_runtime::esm::MappingState::Deleting;
    Ok(reply(StatusCode::ACCEPTED, &m.to_lambda_json()))
}

// ---------------------------------------------------------------- Tidepool's own

/// `GET /tidepool/logs/{name}`: the function's log lines from cursor `since`
/// (default 0: all kept), at most `limit` (or the last `tail`), waiting up
/// to `wait` seconds for one when there is none (a long poll, for
/// `tidepool logs --follow`). Returns [`LogPage`] as JSON.
async fn read_logs(State(app): State<Arc<App>>, Path(raw): Path<String>, uri: Uri) -> ApiResult {
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
    let all: Vec<Json> = lambda
        .mappings(None, None)
        .iter()
        .map(|m| {
            let mut j = m.to_lambda_json();
            j["FunctionName"] = json!(m.function_name);
            if let Some(metrics) = lambda.engine.metrics(&m.uuid) {
                j["Metrics"] = serde_json::to_value(metrics).unwrap_or(Json::Null);
            }
            j
        })
        .collect();
    Ok(reply(StatusCode::OK, &json!({"Mappings": all})))
}

/// `POST /tidepool/deploy`: `{"Manifest": "<TOML>", "Files": {"<code path as
/// the manifest writes it>": "<base64 component>"}, "Only": {"Kind":
/// "table" | "function" | "mapping", "Index": n}}`. The client resolves and
/// reads the code files; the server applies the manifest (or, with `Only`,
/// just that item of it, so a client can show progress item by item) as
/// `serve --manifest` does and returns `{"Changes": [...]}`.
async fn deploy(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> ApiResult {
    check_json_media_type(&headers)?;
    let bytes = read_body(body, MAX_DEPLOY_REQUEST_BYTES, "RequestEntityTooLargeException", "Deploy").await?;
    let m = json_object(&bytes)?;
    lambda_state(&app)?;
    let Some(text) = str_member(&m, "Manifest")? else {
        return Err(fail("InvalidParameterValueException", "Manifest (the manifest's TOML text) is required"));
    };
    let mut manifest = manifest::Manifest::parse(&text)
        .map_err(|e| fail("InvalidParameterValueException", format!("manifest: {e}")))?;
    if let Some(Json::Object(only)) = m.get("Only") {
        let kind = str_member(only, "Kind")?.unwrap_or_default();
        let index = int_member(only, "Index")?.and_then(|i| usize::try_from(i).ok()).unwrap_or(usize::MAX);
        let missing = || fail("InvalidParameterValueException", format!("the manifest has no {kind} {index}"));
        let mut one = manifest::Manifest { base: manifest.base.clone(), ..Default::default() };
        match kind.as_str() {
            "table" => one.tables.push(manifest.tables.get(index).cloned().ok_or_else(missing)?),
            "function" => one.functions.push(manifest.functions.get(index).cloned().ok_or_else(missing)?),
            "mapping" => one.mappings.push(manifest.mappings.get(index).cloned().ok_or_else(missing)?),
            _ => return Err(fail("InvalidParameterValueException", "Only.Kind must be table, function or mapping")),
        }
        manifest = one;
    }
    let files = match m.get("Files") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(f)) => f.clone(),
        Some(_) => return Err(fail("InvalidParameterValueException", "Files must be an object")),
    };
    let dir = app.store.path().join("lambda").join("deploy").join(uuid::Uuid::new_v4().to_string());
    let rt = tokio::runtime::Handle::current();
    let app2 = app.clone();
    let applied = blocking(move || {
        let result = (|| {
            for (i, f) in manifest.functions.iter_mut().enumerate() {
                let key = f.code.to_string_lossy().into_owned();
                let Some(Json::String(b64)) = files.get(&key) else {
                    return Err(fail(
                        "InvalidParameterValueException",
                        format!("function {}: the code {key} was not sent in Files", f.name),
                    ));
                };
                let code = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| {
                    fail("InvalidParameterValueException", format!("function {}: code is not base64: {e}", f.name))
                })?;
                let file_name = f.code.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "handler.wasm".into());
                let rel = std::path::PathBuf::from(i.to_string()).join(file_name);
                let path = dir.join(&rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| internal("create the deploy directory", e))?;
                }
                std::fs::write(&path, code).map_err(|e| internal("write code to deploy", e))?;
                f.code = rel;
            }
            manifest.base = dir.clone();
            Ok(manifest::apply(&app2, &manifest, &rt)?)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    })
    .await?;
    Ok(reply(StatusCode::OK, &json!({"Changes": applied.changes})))
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
        assert!(e.error.message.contains("not a WebAssembly component"), "{e:?}");
        assert!(extract_component(b"PK\x03\x04garbage".to_vec(), None, true).is_err());
        assert!(extract_component(Vec::new(), None, true).is_err());
    }
}
