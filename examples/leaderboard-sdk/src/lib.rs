//! The `leaderboard` example (`../leaderboard`) as a Lambda function in Rust would write it: the
//! AWS SDK for Rust (`aws-sdk-dynamodb`) instead of the `store` import.
//!
//! For every record of the `Scores` stream it adds the change in the player's score to the
//! `total` of the game's item in the table `TABLE` (default `Leaderboard`), with `UpdateItem
//! ADD`. The SDK's client comes from the environment the host hands the function (region,
//! credentials and `AWS_ENDPOINT_URL`, the server's own endpoint, which the host serves in
//! process): `tidepool_guest::aws::config()` is what `aws_config::load_from_env()` is on Lambda.
//!
//! `FAIL_AFTER_WRITES` (a probability) makes an invocation fail after its writes, to show
//! retries: with a mapping's `ExactlyOnce` the retried batch's writes count once.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use tidepool_guest::{Context, Error, aws, handler, log};

fn score(image: &Value) -> i64 {
    image["score"]["N"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn handle(event: Value, _context: &Context) -> Result<Value, Error> {
    let client = Client::new(&aws::config());
    let table = std::env::var("TABLE").unwrap_or_else(|_| "Leaderboard".into());
    for record in event["Records"].as_array().into_iter().flatten() {
        let change = &record["dynamodb"];
        let (new, old) = (&change["NewImage"], &change["OldImage"]);
        let image = if new.is_object() { new } else { old };
        let Some(game) = image["game"]["S"].as_str().or_else(|| change["Keys"]["game"]["S"].as_str()) else {
            continue;
        };
        let delta = score(new) - score(old);
        if delta == 0 {
            continue;
        }
        let update = client
            .update_item()
            .table_name(&table)
            .key("game", AttributeValue::S(game.to_string()))
            .update_expression("ADD #total :delta")
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .send();
        aws::block_on(update).map_err(|e| {
            Error::new(e.code().unwrap_or("SdkError"), e.message().map_or_else(|| format!("{e:?}"), str::to_string))
        })?;
        log::debug(&format!("{game}: {delta:+}"));
    }
    if fails_now() {
        return Err(Error::new("InjectedFailure", "FAIL_AFTER_WRITES: failing after the writes"));
    }
    Ok(json!({}))
}

/// Whether to fail this invocation, with probability `FAIL_AFTER_WRITES`.
fn fails_now() -> bool {
    use std::hash::{BuildHasher, Hasher};
    let Some(p) = std::env::var("FAIL_AFTER_WRITES").ok().and_then(|v| v.parse::<f64>().ok()) else {
        return false;
    };
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (r as f64 / u64::MAX as f64) < p
}

handler!(handle);
