//! Checks a stream's delivery order per key, for the tests of a worker fleet.
//!
//! `Events` items are `{k: S, v: N}`, each key written with `v` = 1, 2, 3, … in turn. For every
//! record with a new image the handler moves `Seen[k].v` (hash key `k`, S) from `v - 1` to `v`,
//! conditionally. A record already seen (`Seen[k].v >= v`: delivered again after a failover)
//! adds one to `Seen[k].dups`; a record that comes before its predecessor adds one to
//! `Seen[k].gaps`. So at the end `v` is the last value written when every record was delivered,
//! `gaps` is 0 when each key's records came in order, and `dups` counts the records delivered
//! more than once.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use serde_json::{Value, json};
use tidepool::handler::store;

struct OrderCheck;

fn failure(error_type: &str, error_message: String) -> FunctionError {
    FunctionError { error_type: error_type.into(), error_message }
}

fn call(operation: &str, request: &Value) -> Result<Result<Value, String>, FunctionError> {
    match store::call(operation, &request.to_string()) {
        Ok(answer) => Ok(Ok(serde_json::from_str(&answer).unwrap_or(Value::Null))),
        Err(e) if e.error_type.ends_with("ConditionalCheckFailedException") => Ok(Err(e.message)),
        Err(e) => Err(failure(&e.error_type, e.message)),
    }
}

fn count(k: &str, what: &str) -> Result<(), FunctionError> {
    let request = json!({
        "TableName": "Seen",
        "Key": {"k": {"S": k}},
        "UpdateExpression": "ADD #c :one",
        "ExpressionAttributeNames": {"#c": what},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    });
    call("UpdateItem", &request)?.map_err(|e| failure("Unexpected", e))?;
    Ok(())
}

impl Guest for OrderCheck {
    fn handle(event: String, _context: Context) -> Result<String, FunctionError> {
        let event: Value = serde_json::from_str(&event).map_err(|e| failure("InvalidEvent", e.to_string()))?;
        for record in event["Records"].as_array().into_iter().flatten() {
            let image = &record["dynamodb"]["NewImage"];
            let (Some(k), Some(v)) = (image["k"]["S"].as_str(), image["v"]["N"].as_str()) else { continue };
            let Ok(v) = v.parse::<u64>() else { continue };
            let request = json!({
                "TableName": "Seen",
                "Key": {"k": {"S": k}},
                "UpdateExpression": "SET v = :v",
                "ConditionExpression": "(attribute_not_exists(v) AND :v = :first) OR v = :prev",
                "ExpressionAttributeValues": {
                    ":v": {"N": v.to_string()}, ":first": {"N": "1"}, ":prev": {"N": v.saturating_sub(1).to_string()},
                },
            });
            if call("UpdateItem", &request)?.is_ok() {
                continue;
            }
            let get = json!({"TableName": "Seen", "Key": {"k": {"S": k}}, "ConsistentRead": true});
            let seen = call("GetItem", &get)?.map_err(|e| failure("Unexpected", e))?;
            let at: u64 = seen["Item"]["v"]["N"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
            count(k, if at >= v { "dups" } else { "gaps" })?;
        }
        Ok("{}".into())
    }
}

export!(OrderCheck);
