//! Keeps a `Leaderboard` table up to date from the stream of a `Scores` table.
//!
//! `Scores` items are `{player: S, game: S, score: N}`. For every stream record the handler adds
//! the change in that player's score (new score minus old score; a missing image counts as 0) to
//! the `total` of the game's item in `Leaderboard` (hash key `game`, S), with `UpdateItem ADD`.
//! So `Leaderboard[game].total` is the sum of the current scores of that game. Give `Scores` the
//! `NEW_AND_OLD_IMAGES` stream view: with `NEW_IMAGE` only, a MODIFY counts the whole new score.
//!
//! Records are parsed with the `aws_lambda_events` crate's DynamoDB event types, unchanged.
//!
//! To show retries, the environment variable `FAIL_AFTER_WRITES` (a probability, e.g. `0.5`)
//! makes an invocation fail at random after it has made its writes: with at-least-once delivery
//! the retried batch adds its scores again; with the mapping's `ExactlyOnce` it does not.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use aws_lambda_events::event::dynamodb::Event;
use serde_dynamo::AttributeValue;
use serde_json::json;
use tidepool::handler::log::{Level, log};
use tidepool::handler::store;

struct Leaderboard;

fn score(image: &serde_dynamo::Item) -> i64 {
    match image.get("score") {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

fn failure(error_type: &str, error_message: String) -> FunctionError {
    FunctionError { error_type: error_type.into(), error_message }
}

impl Guest for Leaderboard {
    fn handle(event: String, _context: Context) -> Result<String, FunctionError> {
        let event: Event = serde_json::from_str(&event).map_err(|e| failure("InvalidEvent", e.to_string()))?;
        for record in &event.records {
            let change = &record.change;
            let image = if change.new_image.is_empty() { &change.old_image } else { &change.new_image };
            let Some(AttributeValue::S(game)) = image.get("game").or_else(|| change.keys.get("game")) else {
                continue;
            };
            let delta = score(&change.new_image) - score(&change.old_image);
            if delta == 0 {
                continue;
            }
            let request = json!({
                "TableName": "Leaderboard",
                "Key": {"game": {"S": game}},
                "UpdateExpression": "ADD #total :delta",
                "ExpressionAttributeNames": {"#total": "total"},
                "ExpressionAttributeValues": {":delta": {"N": delta.to_string()}},
            });
            store::call("UpdateItem", &request.to_string()).map_err(|e| failure(&e.error_type, e.message))?;
            log(Level::Debug, &format!("{game}: {delta:+}"));
        }
        if fails_now() {
            return Err(failure("InjectedFailure", "FAIL_AFTER_WRITES: failing after the writes".into()));
        }
        Ok("{}".into())
    }
}

/// Whether to fail this invocation, with probability `FAIL_AFTER_WRITES`.
fn fails_now() -> bool {
    use std::hash::{BuildHasher, Hasher};
    let Some(p) = std::env::var("FAIL_AFTER_WRITES").ok().and_then(|v| v.parse::<f64>().ok()) else {
        return false;
    };
    // A randomly seeded hasher (WASI's random) is a random u64.
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (r as f64 / u64::MAX as f64) < p
}

export!(Leaderboard);
