//! One error type for the DynamoDB wire protocol: every failure becomes a
//! `{"__type": "...#Name", "message": "..."}` body with DynamoDB's status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use tidepool_store::{StoreError, WriteFailure, messages};

use super::attr::item_to_json;

const DYNAMO: &str = "com.amazonaws.dynamodb.v20120810#";
const CORAL: &str = "com.amazon.coral.service#";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Full `__type`, namespace included.
    pub kind: String,
    pub message: String,
    /// Extra members of the error body (`Item`, `CancellationReasons`).
    pub extra: Map<String, Json>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        let ns = match kind {
            "UnknownOperationException"
            | "SerializationException"
            | "AccessDeniedException"
            | "MissingAuthenticationTokenException"
            | "IncompleteSignatureException"
            | "InvalidSignatureException"
            | "UnrecognizedClientException"
            | "RequestEntityTooLarge" => CORAL,
            // DynamoDB's request-rate throttling comes from its front end.
            "ThrottlingException" => "com.amazon.coral.availability#",
            // Its validation, too: the live service answers
            // `com.amazon.coral.validate#ValidationException` (as DynamoDB
            // Local does not); the SDKs read the name after the `#`.
            "ValidationException" => "com.amazon.coral.validate#",
            _ => DYNAMO,
        };
        ApiError { status, kind: format!("{ns}{kind}"), message: message.into(), extra: Map::new() }
    }

    /// An error with no message, as DynamoDB's front end answers a body
    /// that does not parse or a target that names no operation.
    pub fn bare(status: StatusCode, kind: &str) -> Self {
        ApiError::new(status, kind, "")
    }

    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// A constraint violation found in a nested structure, its member paths
    /// put under `prefix` (`globalSecondaryIndexes.1.member.`): DynamoDB
    /// names a member by its whole path. Other errors are left as they are.
    pub fn within(mut self, prefix: &str) -> Self {
        if !self.kind.ends_with("#ValidationException") || !self.message.contains(" detected: ") {
            return self;
        }
        const AT: &str = " at '";
        const AFTER: &str = "' failed to satisfy constraint";
        let mut out = String::with_capacity(self.message.len() + prefix.len());
        let mut rest = self.message.as_str();
        while let Some(at) = rest.find(AT) {
            let (head, tail) = rest.split_at(at + AT.len());
            out.push_str(head);
            // A path: no quote or space in it, and the constraint after it.
            if tail.find('\'').is_some_and(|end| !tail[..end].contains(' ') && tail[end..].starts_with(AFTER)) {
                out.push_str(prefix);
            }
            rest = tail;
        }
        out.push_str(rest);
        self.message = out;
        self
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "ResourceNotFoundException", message)
    }

    pub fn internal() -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", messages::server::INTERNAL_ERROR)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let bad = StatusCode::BAD_REQUEST;
        match e {
            StoreError::Validation(m) => ApiError::validation(m),
            StoreError::ResourceNotFound(m) => ApiError::not_found(m),
            StoreError::ResourceInUse(m) => ApiError::new(bad, "ResourceInUseException", m),
            StoreError::LimitExceeded(m) => ApiError::new(bad, "LimitExceededException", m),
            StoreError::Refused { kind: "InternalServerError", message } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", message)
            }
            StoreError::Refused { kind, message } => ApiError::new(bad, kind, message),
            StoreError::TrimmedDataAccess(m) => ApiError::new(bad, "TrimmedDataAccessException", m),
            StoreError::IdempotentParameterMismatch(m) => ApiError::new(bad, "IdempotentParameterMismatchException", m),
            StoreError::ConditionalCheckFailed { item } => {
                let mut err =
                    ApiError::new(bad, "ConditionalCheckFailedException", messages::item::CONDITIONAL_CHECK_FAILED);
                if let Some(item) = item {
                    err.extra.insert("Item".into(), item_to_json(&item));
                }
                err
            }
            StoreError::TransactionCanceled(reasons) => {
                let message = StoreError::TransactionCanceled(reasons.clone()).to_string();
                let mut err = ApiError::new(bad, "TransactionCanceledException", message);
                let list: Vec<Json> = reasons
                    .iter()
                    .map(|r| {
                        let mut o = Map::new();
                        o.insert("Code".into(), json!(r.code));
                        if let Some(m) = &r.message {
                            o.insert("Message".into(), json!(m));
                        }
                        if let Some(i) = &r.item {
                            o.insert("Item".into(), item_to_json(i));
                        }
                        Json::Object(o)
                    })
                    .collect();
                err.extra.insert("CancellationReasons".into(), Json::Array(list));
                err
            }
            // Retryable: writes resume once the server has reopened its
            // store (`crate::recovery`); reads are served meanwhile.
            StoreError::Poisoned(WriteFailure::OutOfSpace) => {
                ApiError::new(bad, "ThrottlingException", messages::server::WRITES_PAUSED_OUT_OF_SPACE)
            }
            StoreError::Poisoned(WriteFailure::Storage) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                messages::server::WRITES_PAUSED_STORAGE_FAILURE,
            ),
            // Committed, but not known to be on disk: as DynamoDB's own 500,
            // the write may or may not have happened.
            StoreError::Unacknowledged(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                messages::server::OUTCOME_UNKNOWN,
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl ApiError {
    /// The error's JSON body, as DynamoDB sends it.
    pub fn body(self) -> String {
        let mut body = self.extra;
        // Coral's deserializer names it `Message` (dynalite's tests,
        // checked against DynamoDB), and so does its authorizer (a denied
        // PutItem as DynamoDB answers it: `"__type":"com.amazon.coral.
        // service#AccessDeniedException","Message":"User: ..."`); the
        // service's own errors, and Coral's other authentication errors
        // (`UnrecognizedClientException`), `message`.
        let key = if self.kind.ends_with("#SerializationException") || self.kind.ends_with("#AccessDeniedException") {
            "Message"
        } else {
            "message"
        };
        body.insert("__type".into(), Json::String(self.kind));
        if !self.message.is_empty() {
            body.insert(key.into(), Json::String(self.message));
        }
        Json::Object(body).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut resp = (status, self.body()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
