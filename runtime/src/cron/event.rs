//! The event a scheduled function receives: EventBridge's Scheduled Event.

use chrono::{TimeZone, Utc};
use serde_json::json;

/// EventBridge's Scheduled Event for a fire of schedule `name` at `fire_ms`:
/// `{"version":"0","id":...,"detail-type":"Scheduled Event","source":"aws.events",
/// "account":...,"time":"2026-01-01T12:00:00Z","region":...,"resources":[<rule ARN>],"detail":{}}`.
pub fn scheduled_event(id: &str, name: &str, fire_ms: u64, region: &str, account: &str) -> String {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": format_time(fire_ms),
        "region": region,
        "resources": [rule_arn(name, region, account)],
        "detail": {},
    })
    .to_string()
}

/// `arn:aws:events:<region>:<account>:rule/<name>`.
pub fn rule_arn(name: &str, region: &str, account: &str) -> String {
    format!("arn:aws:events:{region}:{account}:rule/{name}")
}

/// `2026-01-01T12:00:00Z`: ISO 8601 in UTC, whole seconds, as EventBridge writes `time`.
pub fn format_time(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    match Utc.timestamp_opt(secs, 0).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "1970-01-01T00:00:00Z".into(),
    }
}
