//! Write a Tidepool handler in Rust: one dependency and one function.
//!
//! ```no_run
//! use tidepool_guest::{Context, Error, handler, log, store};
//! use serde_json::{Value, json};
//!
//! fn handle(event: Value, context: &Context) -> Result<Value, Error> {
//!     for record in event["Records"].as_array().into_iter().flatten() {
//!         let keys = &record["dynamodb"]["Keys"];
//!         log::info(&format!("{} {keys}", record["eventName"]));
//!         store::update_item(json!({
//!             "TableName": "Counts",
//!             "Key": {"name": {"S": record["eventName"]}},
//!             "UpdateExpression": "ADD n :one",
//!             "ExpressionAttributeValues": {":one": {"N": "1"}},
//!         }))?;
//!     }
//!     Ok(json!({"handled": context.function_name}))
//! }
//!
//! handler!(handle);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` (a crate of
//! `crate-type = ["cdylib"]`): the `.wasm` is a component for the
//! `tidepool:handler` world (`wit/handler.wit`), ready for a manifest's
//! `code` or Lambda's `CreateFunction`. `tidepool new <name>` makes such a
//! crate with its manifest.
//!
//! - The event is the JSON Lambda passes (a DynamoDB stream batch is
//!   `{"Records": [...]}`); the value returned is the response payload (a
//!   stream batch's may carry `batchItemFailures`).
//! - An [`Error`] is the function's error (`errorType`, `errorMessage`): a
//!   stream batch is retried per its mapping. A store call's error converts
//!   with `?`, keeping DynamoDB's error type (`ConditionalCheckFailedException`, …).
//! - [`store`] calls the server's DynamoDB API in process, with its
//!   semantics and errors; items are DynamoDB JSON (`{"pk": {"S": "a"}}`).
//! - [`log`] writes to the invocation's log (`tidepool logs <function>`);
//!   so do `println!` and `eprintln!`.

#[doc(hidden)]
#[cfg(feature = "aws")]
pub mod aws;

pub mod bindings {
    wit_bindgen::generate!({
        world: "handler",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "tidepool_guest::bindings",
    });
}

pub use serde_json;
use serde_json::Value;

/// What Lambda's context object carries: request id, function name and
/// ARN, memory limit, deadline.
pub type Context = bindings::tidepool::handler::types::Context;

/// A function error, as Lambda reports it: `{"errorType": ..., "errorMessage": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub error_type: String,
    pub error_message: String,
}

impl Error {
    /// An error of type `error_type` (Lambda's `errorType`).
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Error {
        Error { error_type: error_type.into(), error_message: error_message.into() }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::new("InvalidJson", e.to_string())
    }
}

/// A store call's error keeps DynamoDB's type (`ValidationException`, …).
impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        Error::new(e.error_type, e.message)
    }
}

/// Runs `handle` on the event text: what [`handler!`] exports.
#[doc(hidden)]
pub fn run(
    event: String,
    context: Context,
    handle: fn(Value, &Context) -> Result<Value, Error>,
) -> Result<String, bindings::tidepool::handler::types::FunctionError> {
    let failed = |e: Error| bindings::tidepool::handler::types::FunctionError {
        error_type: e.error_type,
        error_message: e.error_message,
    };
    let event: Value = serde_json::from_str(&event).map_err(|e| failed(Error::new("InvalidEvent", e.to_string())))?;
    let out = handle(event, &context).map_err(failed)?;
    Ok(out.to_string())
}

/// Exports `fn(serde_json::Value, &Context) -> Result<serde_json::Value, Error>`
/// as the component's handler.
#[macro_export]
macro_rules! handler {
    ($handle:path) => {
        struct __TidepoolHandler;

        impl $crate::bindings::Guest for __TidepoolHandler {
            fn handle(
                event: ::std::string::String,
                context: $crate::Context,
            ) -> ::std::result::Result<::std::string::String, $crate::bindings::tidepool::handler::types::FunctionError>
            {
                $crate::run(event, context, $handle)
            }
        }

        $crate::bindings::export!(__TidepoolHandler with_types_in $crate::bindings);
    };
}

/// The server's DynamoDB API, in process (`store.call` of the WIT).
pub mod store {
    use serde_json::{Value, json};

    use crate::bindings::tidepool::handler::store as host;

    /// An error as DynamoDB reports it: its type (`ConditionalCheckFailedException`)
    /// and message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct StoreError {
        pub error_type: String,
        pub message: String,
    }

    impl std::fmt::Display for StoreError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.error_type, self.message)
        }
    }

    impl std::error::Error for StoreError {}

    /// Any DynamoDB operation by its name (`GetItem`, `TransactWriteItems`,
    /// …) with its JSON request; returns its JSON response.
    pub fn call(operation: &str, request: &Value) -> Result<Value, StoreError> {
        let out = host::call(operation, &request.to_string())
            .map_err(|e| StoreError { error_type: e.error_type, message: e.message })?;
        serde_json::from_str(&out)
            .map_err(|e| StoreError { error_type: "InvalidResponse".into(), message: e.to_string() })
    }

    /// The item with `key` in `table`, if there is one (a strongly
    /// consistent read).
    pub fn get_item(table: &str, key: Value) -> Result<Option<Value>, StoreError> {
        let out = call("GetItem", &json!({"TableName": table, "Key": key, "ConsistentRead": true}))?;
        Ok(out.get("Item").cloned())
    }

    /// Puts `item` into `table`.
    pub fn put_item(table: &str, item: Value) -> Result<(), StoreError> {
        call("PutItem", &json!({"TableName": table, "Item": item})).map(|_| ())
    }

    /// Deletes the item with `key` from `table`.
    pub fn delete_item(table: &str, key: Value) -> Result<(), StoreError> {
        call("DeleteItem", &json!({"TableName": table, "Key": key})).map(|_| ())
    }

    /// UpdateItem with a whole request (`TableName`, `Key`, `UpdateExpression`, …).
    pub fn update_item(request: Value) -> Result<Value, StoreError> {
        call("UpdateItem", &request)
    }

    /// Query with a whole request; returns the items of every page.
    pub fn query(mut request: Value) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        loop {
            let out = call("Query", &request)?;
            items.extend(out["Items"].as_array().cloned().unwrap_or_default());
            match out.get("LastEvaluatedKey") {
                Some(key) => request["ExclusiveStartKey"] = key.clone(),
                None => return Ok(items),
            }
        }
    }
}

/// The invocation's log, at a level (`tidepool logs <function>` shows it).
pub mod log {
    use crate::bindings::tidepool::handler::log::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_type() {
        let e: Error = store::StoreError { error_type: "ValidationException".into(), message: "bad".into() }.into();
        assert_eq!(e, Error::new("ValidationException", "bad"));
        assert_eq!(e.to_string(), "ValidationException: bad");
    }
}
