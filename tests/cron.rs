//! Cron schedules end to end: a manifest schedules the `tick` example (which
//! writes one item per event it receives) on Tidepool's seconds extension,
//! and the real server fires it with EventBridge's Scheduled Event.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{client, start_with};
use tidepool::ServerConfig;
use tidepool_runtime::examples::example_path;

fn manifest(dir: &Path, schedules: &str) -> PathBuf {
    let text = format!(
        r#"
[[table]]
name = "Ticks"
partition_key = "id:S"

[[function]]
name = "tick"
code = "{}"
timeout = 10
environment = {{ TABLE = "Ticks" }}

{schedules}
"#,
        example_path("tick").display()
    );
    let path = dir.join("tidepool.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

type Item = std::collections::HashMap<String, AttributeValue>;

/// Scans `Ticks` until `enough` holds on its items, up to 30 s.
async fn wait_for(c: &aws_sdk_dynamodb::Client, enough: impl Fn(&[Item]) -> bool) -> Vec<Item> {
    let start = Instant::now();
    loop {
        let items = c.scan().table_name("Ticks").consistent_read(true).send().await.unwrap().items().to_vec();
        if enough(&items) || start.elapsed() > Duration::from_secs(30) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scheduled(items: &[Item]) -> Vec<&Item> {
    items.iter().filter(|i| i.contains_key("rule")).collect()
}

#[tokio::test]
async fn a_schedule_fires_the_function_with_the_scheduled_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        r#"
[[schedule]]
name = "every-second"
function = "tick"
expression = "cron-seconds(* * * * * ? *)"

[[schedule]]
name = "with-input"
function = "tick"
expression = "cron-seconds(* * * * * ? *)"
input = '{"hello":"world"}'

[[schedule]]
name = "off"
function = "tick"
expression = "cron-seconds(* * * * * ? *)"
enabled = false
"#,
    );
    let data = dir.path().join("data");
    let config = ServerConfig { manifest: Some(path), ..ServerConfig::default() };
    let server = start_with(&data, config.clone()).await;
    let c = client(&server.endpoint());
    let items = wait_for(&c, |items| scheduled(items).len() >= 3 && items.len() > scheduled(items).len()).await;
    let ticks = scheduled(&items);
    assert!(ticks.len() >= 3, "{items:?}");
    let mut times: Vec<String> = Vec::new();
    for item in &ticks {
        assert_eq!(text(item, "rule"), "arn:aws:events:us-east-1:000000000000:rule/every-second");
        assert_eq!(text(item, "attempts"), "1");
        let time = text(item, "time");
        assert!(time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        times.push(time);
    }
    times.sort();
    times.dedup();
    assert_eq!(times.len(), ticks.len(), "each fire time once: {times:?}");
    let inputs: Vec<String> = items.iter().filter(|i| i.contains_key("input")).map(|i| text(i, "input")).collect();
    assert!(!inputs.is_empty() && inputs.iter().all(|i| i == r#"{"hello":"world"}"#), "{inputs:?}");

    let lambda = server.app.lambda.get().unwrap();
    // The handler's write lands before the scheduler counts its success, so
    // the count may trail the items briefly.
    let start = Instant::now();
    let (def, status) = loop {
        let (def, status) = lambda.schedules.get("every-second").unwrap();
        if status.succeeded >= 3 || start.elapsed() > Duration::from_secs(30) {
            break (def, status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(def.function, "tick");
    assert!(status.succeeded >= 3 && status.failed == 0, "{status:?}");
    let last = status.last_fire_ms.expect("a persisted last fire");
    let off = lambda.schedules.get("off").unwrap().1;
    assert_eq!((off.succeeded, off.next_fire_ms), (0, None));
    assert_eq!(lambda.schedules.list().len(), 3);
    server.stop().await.unwrap();

    // A restart with the same manifest keeps the schedules and their last
    // fire, and goes on firing after it.
    let server = start_with(&data, config).await;
    let c = client(&server.endpoint());
    let before = scheduled(&wait_for(&c, |_| true).await).len();
    let lambda = server.app.lambda.get().unwrap();
    assert_eq!(lambda.schedules.list().len(), 3);
    let items = wait_for(&c, |items| scheduled(items).len() >= before + 2).await;
    assert!(scheduled(&items).len() >= before + 2);
    let start = Instant::now();
    let status = loop {
        let status = lambda.schedules.get("every-second").unwrap().1;
        if status.last_fire_ms.is_some_and(|l| l > last) || start.elapsed() > Duration::from_secs(30) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.last_fire_ms.is_some_and(|l| l > last), "{status:?} after {last}");

    // Deleting a schedule stops it.
    lambda.schedules.delete("every-second").await.unwrap();
    assert!(lambda.schedules.get("every-second").is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_invalid_expression_fails_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        r#"
[[schedule]]
name = "bad"
function = "tick"
expression = "rate(1 minutes)"
"#,
    );
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(dir.path().join("data")),
        manifest: Some(path),
        ..ServerConfig::default()
    };
    let err = match tidepool::start(config).await {
        Ok(_) => panic!("the manifest applied"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("a value of 1 takes the singular unit: rate(1 minute)"), "{err}");
}
