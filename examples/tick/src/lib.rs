//! A scheduled handler: writes one item per event it receives to the table named by the `TABLE`
//! environment variable (hash key `id`, S).
//!
//! For EventBridge's Scheduled Event the item is `{id: <event id>, time: <event time>, rule:
//! <resources[0]>, attempts: N}`; any other event (a schedule's constant input) is stored as text
//! in `input`, keyed by the invocation's request id. `attempts` counts the invocations of one event
//! (`UpdateItem ADD`), so a test can see retries; with `FAIL_ATTEMPTS` = n the first n invocations
//! of each event fail.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use serde_json::{Value, json};
use tidepool::handler::store;

struct Tick;

fn failure(error_type: &str, error_message: String) -> FunctionError {
    FunctionError { error_type: error_type.into(), error_message }
}

impl Guest for Tick {
    fn handle(event: String, context: Context) -> Result<String, FunctionError> {
        let table = std::env::var("TABLE").map_err(|_| failure("Configuration", "TABLE is not set".into()))?;
        let parsed: Value = serde_json::from_str(&event).map_err(|e| failure("InvalidEvent", e.to_string()))?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let request = if parsed["detail-type"] == "Scheduled Event" {
            json!({
                "TableName": table,
                "Key": {"id": {"S": text(&parsed["id"])}},
                "UpdateExpression": "SET #time = :time, #rule = :rule ADD attempts :one",
                "ExpressionAttributeNames": {"#time": "time", "#rule": "rule"},
                "ExpressionAttributeValues": {
                    ":time": {"S": text(&parsed["time"])},
                    ":rule": {"S": text(&parsed["resources"][0])},
                    ":one": {"N": "1"},
                },
                "ReturnValues": "UPDATED_NEW",
            })
        } else {
            json!({
                "TableName": table,
                "Key": {"id": {"S": context.request_id}},
                "UpdateExpression": "SET #input = :input ADD attempts :one",
                "ExpressionAttributeNames": {"#input": "input"},
                "ExpressionAttributeValues": {":input": {"S": event}, ":one": {"N": "1"}},
                "ReturnValues": "UPDATED_NEW",
            })
        };
        let response =
            store::call("UpdateItem", &request.to_string()).map_err(|e| failure(&e.error_type, e.message))?;
        let attempts: u64 = serde_json::from_str::<Value>(&response)
            .ok()
            .and_then(|r| r["Attributes"]["attempts"]["N"].as_str().and_then(|n| n.parse().ok()))
            .unwrap_or(1);
        let fail: u64 = std::env::var("FAIL_ATTEMPTS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
        if attempts <= fail {
            return Err(failure("Tick", format!("failing attempt {attempts} of {fail}")));
        }
        Ok("{}".into())
    }
}

export!(Tick);
