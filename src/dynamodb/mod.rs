//! The DynamoDB JSON 1.0 protocol: `POST /` with
//! `X-Amz-Target: DynamoDB_20120810.<Operation>`.

pub mod attr;
mod batch;
mod control;
pub mod error;
mod expr;
mod items;
mod legacy;
mod partiql;
mod read;
pub(crate) mod request;
mod transact;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;
use tidepool_store::value::Item;
use tidepool_store::{Decision, Durability, Origin, Store, Unit, WriteOp, WriteOutcome};

use error::{ApiError, ApiResult, CONTENT_TYPE};
use request::Req;

/// The account id in every ARN, as DynamoDB Local uses.
pub const ACCOUNT_ID: &str = "000000000000";
/// DynamoDB refuses requests over 16 MB.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// DynamoDB and Streams request bodies held at once (sixteen requests at
/// [`MAX_REQUEST_BYTES`]): a body is held from its first byte until its
/// answer is written, with its parsed form beside it, so without a bound
/// many large concurrent requests could take gigabytes. A request past it
/// gets `ThrottlingException`, which the AWS SDKs retry with backoff.
pub const MAX_REQUEST_BODIES_IN_FLIGHT_BYTES: usize = 16 * MAX_REQUEST_BYTES;
/// Requests that declare a body this small are read outside that budget:
/// nearly all of DynamoDB's traffic, which clients holding the budget with
/// large bodies that never come must not throttle. Their memory is bounded
/// by the connection limit times this.
pub const SMALL_REQUEST_BYTES: usize = 64 * 1024;
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Shared server state.
pub struct App {
    pub store: Store,
    pub region: String,
    pub durability: Durability,
    pub(crate) tokens: transact::TokenCache,
    /// ClientRequestTokens of ExecuteTransaction, kept apart from
    /// TransactWriteItems' as DynamoDB keeps them.
    pub(crate) partiql_tokens: transact::TokenCache,
    pub(crate) streams: crate::streams::StreamsApi,
    /// Functions and triggers; set once at start, after the state exists
    /// (guests call back into it).
    pub lambda: std::sync::OnceLock<crate::lambda::Lambda>,
    /// Request bodies held now ([`MAX_REQUEST_BODIES_IN_FLIGHT_BYTES`]).
    pub bodies: Arc<crate::lambda::budget::ByteBudget>,
}

impl App {
    /// `iterator_lifetime` is how long a stream shard iterator stays valid
    /// ([`crate::streams::ITERATOR_LIFETIME`] on AWS).
    pub fn new(
        store: Store,
        region: String,
        durability: Durability,
        iterator_lifetime: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let streams = crate::streams::StreamsApi::new(&store, iterator_lifetime)?;
        Ok(App {
            store,
            region,
            durability,
            tokens: Default::default(),
            partiql_tokens: Default::default(),
            streams,
            lambda: Default::default(),
            bodies: crate::lambda::budget::ByteBudget::new(MAX_REQUEST_BODIES_IN_FLIGHT_BYTES),
        })
    }
}

thread_local! {
    /// Who the current request writes for; see [`with_origin`].
    static ORIGIN: std::cell::Cell<Origin> = const { std::cell::Cell::new(Origin { ttl: false, depth: 0 }) };
}

/// Runs `f` with its writes attributed to `origin` (a trigger's writes carry
/// the depth of the chain that led to them into their stream records).
pub fn with_origin<T>(origin: Origin, f: impl FnOnce() -> T) -> T {
    let before = ORIGIN.with(|o| o.replace(origin));
    let out = f();
    ORIGIN.with(|o| o.set(before));
    out
}

thread_local! {
    /// Where the current request's item writes go instead of the store: a
    /// unit of work (an exactly-once handler's deferred writes); see
    /// [`with_unit`].
    static UNIT: std::cell::RefCell<Option<Unit>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with its item writes staged in `unit` (checked against the
/// committed items and the unit's earlier writes) rather than committed.
pub fn with_unit<T>(unit: &mut Unit, f: impl FnOnce() -> T) -> T {
    /// Puts the thread's previous unit back even if `f` panics, so a
    /// panic never leaves later writes of this thread staged and lost.
    struct Restore<'a> {
        unit: &'a mut Unit,
        before: Option<Unit>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.unit = UNIT.with(|u| u.replace(self.before.take())).unwrap_or_default();
        }
    }
    let before = UNIT.with(|u| u.replace(Some(std::mem::take(unit))));
    let _restore = Restore { unit, before };
    f()
}

/// Whether the current request's writes are staged in a unit of work (so
/// it must not remember idempotency tokens: nothing is committed yet).
pub(crate) fn staging() -> bool {
    UNIT.with(|u| u.borrow().is_some())
}

impl App {
    /// [`Store::write`] on behalf of the current origin.
    pub(crate) fn write(
        &self,
        table: &str,
        key: &Item,
        decide: impl FnOnce(Option<&Item>) -> tidepool_store::error::Result<Decision>,
    ) -> tidepool_store::error::Result<WriteOutcome> {
        let op = WriteOp { table: table.to_string(), key: key.clone(), decide: Box::new(decide) };
        let mut out = self.write_many(vec![op], false)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// [`Store::write_many`] on behalf of the current origin.
    pub(crate) fn write_many(
        &self,
        ops: Vec<WriteOp<'_>>,
        transaction: bool,
    ) -> tidepool_store::error::Result<Vec<WriteOutcome>> {
        let origin = ORIGIN.with(|o| o.get());
        match UNIT.with(|u| u.borrow_mut().take()) {
            Some(mut unit) => {
                let out = self.store.stage(&mut unit, ops, transaction, origin);
                UNIT.with(|u| *u.borrow_mut() = Some(unit));
                out
            }
            None => self.store.write_many_as(ops, transaction, origin),
        }
    }
}

/// Runs one DynamoDB operation (the `X-Amz-Target` suffix).
pub fn dispatch(app: &App, op: &str, r: Req<'_>, host: &str) -> ApiResult<Json> {
    match op {
        "CreateTable" => control::create_table(app, r),
        "DescribeTable" => control::describe_table(app, r),
        "ListTables" => control::list_tables(app, r),
        "DeleteTable" => control::delete_table(app, r),
        "UpdateTable" => control::update_table(app, r),
        "TagResource" => control::tag_resource(app, r),
        "UntagResource" => control::untag_resource(app, r),
        "ListTagsOfResource" => control::list_tags(app, r),
        "UpdateTimeToLive" => control::update_ttl(app, r),
        "DescribeTimeToLive" => control::describe_ttl(app, r),
        "DescribeLimits" => control::describe_limits(),
        "DescribeEndpoints" => control::describe_endpoints(host),
        "PutItem" => items::put_item(app, r),
        "GetItem" => items::get_item(app, r),
        "DeleteItem" => items::delete_item(app, r),
        "UpdateItem" => items::update_item(app, r),
        "Query" => read::query(app, r),
        "Scan" => read::scan(app, r),
        "BatchGetItem" => batch::batch_get(app, r),
        "BatchWriteItem" => batch::batch_write(app, r),
        "TransactWriteItems" => transact::transact_write(app, r),
        "TransactGetItems" => transact::transact_get(app, r),
        "ExecuteStatement" => partiql::execute_statement(app, r),
        "BatchExecuteStatement" => partiql::batch_execute_statement(app, r),
        "ExecuteTransaction" => partiql::execute_transaction(app, r),
        _ => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "UnknownOperationException", format!("Unknown operation: {op}")))
        }
    }
}

/// A successful response body: a JSON value, or JSON already serialized
/// (for large responses written without building the tree).
pub enum Reply {
    Json(Json),
    Raw(Vec<u8>),
}

fn ok_response(body: Reply) -> Response {
    let bytes = match body {
        Reply::Json(j) => j.to_string().into_bytes(),
        Reply::Raw(b) => b,
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// Handles one DynamoDB request.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("Request must be smaller than {MAX_REQUEST_BYTES} bytes for the operation"),
    )
}

pub async fn handle(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    // Reserve what the body may take before reading it: its declared length,
    // or the request limit when it has none (a chunked body).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MAX_REQUEST_BYTES);
    if declared > MAX_REQUEST_BYTES {
        return too_large().into_response();
    }
    let _reserved = if declared <= SMALL_REQUEST_BYTES {
        None
    } else {
        match app.bodies.try_reserve(declared) {
            Some(r) => Some(r),
            None => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Too many large requests are being read at once; retry with backoff",
                )
                .into_response();
            }
        }
    };
    let body: Bytes = match axum::body::to_bytes(body, declared).await {
        Ok(b) => b,
        Err(_) => return too_large().into_response(),
    };
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let streams = target.starts_with(crate::streams::TARGET_PREFIX);
    let op = match target.strip_prefix(TARGET_PREFIX) {
        Some(op) => Some(op),
        None => target.strip_prefix(crate::streams::TARGET_PREFIX),
    };
    let Some(op) = op.map(str::to_string) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            if target.is_empty() {
                "Missing X-Amz-Target header".to_string()
            } else {
                format!("Unknown operation: {target}")
            },
        )
        .into_response();
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost:8000").to_string();
    let run = move |app: &App| -> ApiResult<Reply> {
        let json: Json = if body.is_empty() {
            Json::Object(Default::default())
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::serialization(format!("Malformed request body: {e}")))?
        };
        let Json::Object(map) = &json else {
            return Err(ApiError::serialization("Request body must be a JSON object"));
        };
        if streams {
            crate::streams::dispatch(app, &op, Req(map))
        } else {
            dispatch(app, &op, Req(map), &host).map(Reply::Json)
        }
    };
    let result = if app.durability == Durability::Sync {
        // Writes wait for a shared fsync; keep that off the async workers.
        let app2 = app.clone();
        match tokio::task::spawn_blocking(move || run(&app2)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "request task failed");
                Err(ApiError::internal())
            }
        }
    } else {
        run(&app)
    };
    match result {
        Ok(body) => ok_response(body),
        Err(e) => e.into_response(),
    }
}
