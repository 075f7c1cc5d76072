//! The front of every request, as DynamoDB's front end behaves: request ids,
//! CORS, the health check, the 404 of a request that is not an API call,
//! and for DynamoDB's answers the response coding and `x-amz-crc32`.
//!
//! It runs before the protocols ([`front`] is an axum middleware on the
//! whole router) and knows of them only the [`DynamoReply`] marker the
//! DynamoDB protocol sets on its responses. Later work on authentication
//! and TLS belongs here too.
//!
//! What DynamoDB does, as recorded against the live service by dynalite's
//! connection tests (`test/connection.js`) and Alternator's compression
//! tests:
//! - every answer carries `x-amzn-RequestId` (52 characters of `[0-9A-Z]`);
//! - a request with an `Origin` header gets `Access-Control-Allow-Origin: *`;
//!   an `OPTIONS` preflight with `Origin` gets 200, an empty body, the
//!   requested headers and method echoed back and a max age of two days;
//! - `GET /` answers `healthy: dynamodb.<region>.amazonaws.com ` (the
//!   trailing space included), the check load balancers and containers use;
//! - any other method, an `OPTIONS` without `Origin`, or a body with a
//!   content type that is not JSON answers 404 `<UnknownOperationException/>`;
//! - DynamoDB's answers carry `x-amz-crc32`, the CRC32 of the body as sent
//!   (after compression), which the AWS SDKs check;
//! - the answer is compressed (gzip or deflate) when `Accept-Encoding`
//!   allows it and it is at least 4 KB ([`encoding`](super::encoding)).

use std::cell::Cell;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::encoding::{self, COMPRESS_FROM_BYTES};
use crate::dynamodb::App;

/// Set by the DynamoDB protocol on its responses: they get the response
/// coding and `x-amz-crc32`.
#[derive(Clone, Copy, Debug)]
pub struct DynamoReply;

/// DynamoDB's answer to a request that is not an API call.
const NOT_FOUND_BODY: &str = "<UnknownOperationException/>\n";
/// How long a browser may cache a preflight: DynamoDB's two days.
const PREFLIGHT_MAX_AGE_SECS: &str = "172800";
/// Response headers a browser script may read: the request id and error
/// type the AWS SDK for JavaScript reports, and the checksum it verifies.
const EXPOSED_HEADERS: &str = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-crc32,Date,ETag,x-amz-request-id";
/// DynamoDB's `Server` header.
const SERVER: &str = "Server";

/// The middleware: see the module comment.
pub async fn front(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    // A function URL's request is the function's, whatever its method or path.
    if let Some((url_id, path)) = crate::lambda::urls::addressed(&req) {
        let mut resp = crate::lambda::urls::serve(app, url_id, path, req).await;
        resp.headers_mut().insert(header::SERVER, HeaderValue::from_static(SERVER));
        return resp;
    }
    let origin = req.headers().contains_key(header::ORIGIN);
    let mut resp = if origin && req.method() == Method::OPTIONS {
        preflight(req.headers())
    } else if crate::s3::addressed(&req) {
        // S3's object API (exports' and imports' buckets): signed for `s3`.
        crate::s3::serve(app.clone(), req).await
    } else if req.method() == Method::GET && req.uri().path() == "/" {
        health(&app.region)
    } else if req.method() == Method::GET && crate::console::addressed(req.uri().path()) {
        // The console's assets hold no data: served without authentication
        // (its requests to the APIs are signed like any client's).
        crate::console::serve(req.uri().path())
    } else {
        through(&app, req, next).await
    };
    let headers = resp.headers_mut();
    // axum's method routing adds `Allow` to some answers; no AWS API sends it.
    headers.remove(header::ALLOW);
    if !headers.contains_key("x-amzn-requestid") {
        headers.insert("x-amzn-RequestId", request_id());
    }
    headers.insert(header::SERVER, HeaderValue::from_static(SERVER));
    if origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
    resp
}

/// A request for the protocols: authenticated when auth is on, then
/// served, and a DynamoDB answer coded and checksummed.
async fn through(app: &App, req: Request, next: Next) -> Response {
    // Only the first Accept-Encoding header counts, as in DynamoDB.
    let coding = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).and_then(encoding::negotiate);
    // A verified body's bytes stay counted until its answer is made.
    // A handler's in-process call ([`crate::bridge::GuestCall`], which no
    // network request carries) is not authenticated: it runs as its
    // function's role ([`crate::bridge::role_principal`]).
    let guest = req.extensions().get::<crate::bridge::GuestCall>().map(|g| (g.function.clone(), g.version.clone()));
    if let Some((function, version)) = &guest
        && let Some(principal) = crate::bridge::role_principal(app, function, version)
    {
        let mut req = req;
        if let Err(refused) = super::auth::authorize_guest(app, &req, &principal) {
            return refused;
        }
        let origin = crate::iam::Origin::IN_PROCESS;
        req.extensions_mut().insert(super::auth::Caller { principal: Arc::new(principal), origin });
        let resp = next.run(req).await;
        return if resp.extensions().get::<DynamoReply>().is_some() { finish_dynamo(resp, coding).await } else { resp };
    }
    let (resp, _held) = match &app.auth {
        Some(auth) if guest.is_none() => match super::auth::authenticate(auth, app, req).await {
            Ok((req, held)) => (next.run(req).await, held),
            Err(refused) => (refused, None),
        },
        _ => (next.run(req).await, None),
    };
    if resp.extensions().get::<DynamoReply>().is_some() { finish_dynamo(resp, coding).await } else { resp }
}

/// The router's fallback: a `POST` to any path is a DynamoDB call (DynamoDB
/// ignores the path, so an SDK endpoint with a path prefix works); anything
/// else is not an API call.
pub async fn fallback(State(app): State<Arc<App>>, req: Request) -> Response {
    if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let caller = parts.extensions.get::<super::auth::Caller>().cloned().map(axum::Extension);
        crate::dynamodb::handle(State(app), caller, parts.headers, body).await
    } else {
        not_found()
    }
}

/// 404 `<UnknownOperationException/>`, DynamoDB's answer to a request that
/// is not an API call.
pub fn not_found() -> Response {
    let mut resp = with_crc((StatusCode::NOT_FOUND, NOT_FOUND_BODY).into_response(), NOT_FOUND_BODY.as_bytes());
    // DynamoDB's 404 names no content type.
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp
}

fn health(region: &str) -> Response {
    let body = format!("healthy: dynamodb.{region}.amazonaws.com ");
    let crc = crc32fast::hash(body.as_bytes());
    let mut resp = (StatusCode::OK, body).into_response();
    // DynamoDB's health answer names no content type.
    resp.headers_mut().remove(header::CONTENT_TYPE);
    resp.headers_mut().insert("x-amz-crc32", HeaderValue::from(crc));
    resp
}

fn preflight(req: &HeaderMap) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let headers = resp.headers_mut();
    if let Some(v) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(v) = req.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// Compresses a DynamoDB answer when the client accepts a coding and it is
/// large enough, and sets its checksum. DynamoDB's bodies are built whole,
/// so collecting one costs no wait.
async fn finish_dynamo(resp: Response, coding: Option<encoding::Coding>) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Body::empty()).into_response();
    };
    let bytes = match coding {
        Some(c) if bytes.len() >= COMPRESS_FROM_BYTES => {
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c.name()));
            axum::body::Bytes::from(encoding::encode(c, &bytes))
        }
        _ => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let crc = crc32fast::hash(&bytes);
    let mut resp = Response::from_parts(parts, Body::from(bytes));
    resp.headers_mut().insert("x-amz-crc32", HeaderValue::from(crc));
    resp
}

fn with_crc(mut resp: Response, body: &[u8]) -> Response {
    resp.headers_mut().insert("x-amz-crc32", HeaderValue::from(crc32fast::hash(body)));
    resp
}

thread_local! {
    static ID_STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    u64::from_le_bytes(b[..8].try_into().unwrap_or_default())
}

/// A request id as DynamoDB writes them: 52 characters of `[0-9A-Z]`.
/// Unique, not secret: splitmix64 over a per-thread random seed.
pub fn request_id() -> HeaderValue {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = [0u8; 52];
    ID_STATE.with(|state| {
        let mut chunk = 0u64;
        for (i, c) in id.iter_mut().enumerate() {
            if i % 12 == 0 {
                let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
                state.set(z);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                chunk = z ^ (z >> 31);
            }
            *c = ALPHABET[(chunk % 36) as usize];
            chunk /= 36;
        }
    });
    // Every byte is ASCII alphanumeric.
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}
