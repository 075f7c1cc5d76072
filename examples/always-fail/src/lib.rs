//! Fails on purpose, to show retries, bisection and the on-failure destination.
//!
//! - By default every invocation returns the function error `IntentionalFailure`.
//! - With the environment variable `FAIL_ONLY_POISON=1`, only batches holding a record whose new
//!   image has `poison` = `true` (BOOL) fail, so bisection narrows a batch down to that record.
//! - A record (or the event itself) with `trap` = `true` makes the handler panic instead: an
//!   unhandled error (`Runtime.ExitError`) rather than a returned one.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use serde_json::Value;

struct AlwaysFail;

/// Whether any record's new image has the BOOL attribute `name` set to true.
fn any_record_has(event: &Value, name: &str) -> bool {
    let records = event["Records"].as_array().map(Vec::as_slice).unwrap_or_default();
    records.iter().any(|record| record["dynamodb"]["NewImage"][name]["BOOL"] == Value::Bool(true))
}

impl Guest for AlwaysFail {
    fn handle(event: String, _context: Context) -> Result<String, FunctionError> {
        let event: Value = serde_json::from_str(&event).unwrap_or(Value::Null);
        if event["trap"] == Value::Bool(true) || any_record_has(&event, "trap") {
            panic!("asked to trap");
        }
        let only_poison = std::env::var("FAIL_ONLY_POISON").is_ok_and(|v| v == "1");
        if only_poison && !any_record_has(&event, "poison") {
            return Ok("{}".into());
        }
        let count = event["Records"].as_array().map_or(0, Vec::len);
        eprintln!("failing a batch of {count} records");
        Err(FunctionError {
            error_type: "IntentionalFailure".into(),
            error_message: format!("failed on purpose ({count} records)"),
        })
    }
}

export!(AlwaysFail);
