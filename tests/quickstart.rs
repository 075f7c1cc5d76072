//! The README's quick start, run: the server starts with the manifest the
//! README's first command names, and the walkthrough's items, expected total
//! and calls are read from the README itself, so the two cannot drift apart.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{client, s, start_with};
use tidepool::ServerConfig;

fn readme() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("README.md")).expect("README.md")
}

/// The shell block that follows the `<!-- quickstart` marker.
fn quickstart_block(readme: &str) -> &str {
    let at = readme.find("<!-- quickstart").expect("the README marks its quick start");
    let rest = &readme[at..];
    let start = rest.find("```sh\n").expect("a shell block") + 6;
    let end = rest[start..].find("```").expect("the block ends") + start;
    &rest[start..end]
}

/// Every `--item '<json>'` of the block, as SDK items (S and N attributes).
fn items(block: &str) -> Vec<HashMap<String, AttributeValue>> {
    block
        .split("--item '")
        .skip(1)
        .map(|rest| {
            let json: serde_json::Value = serde_json::from_str(&rest[..rest.find('\'').expect("closing quote")])
                .expect("the README's item is JSON");
            json.as_object()
                .expect("an item")
                .iter()
                .map(|(k, v)| {
                    let value = match (v.get("S"), v.get("N")) {
                        (Some(x), _) => AttributeValue::S(x.as_str().expect("S").into()),
                        (_, Some(x)) => AttributeValue::N(x.as_str().expect("N").into()),
                        _ => panic!("unexpected attribute {v}"),
                    };
                    (k.clone(), value)
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_readme_quick_start_works() {
    let text = readme();
    let first_block = &text[text.find("```sh\n").expect("a first block")..];
    let first_command = first_block.lines().nth(1).expect("the first command");
    assert!(
        first_command.starts_with("cargo run --release -- serve --manifest examples/tidepool.toml"),
        "the README's first command starts the example app: {first_command}"
    );
    let block = quickstart_block(&text);
    let scores = items(block);
    assert!(scores.len() >= 2, "the walkthrough puts scores");
    let total: i64 = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("# → \"total\": {\"N\": \""))
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the README shows the expected total");

    let dir = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidepool.toml");
    let config = ServerConfig { manifest: Some(manifest), ..ServerConfig::default() };
    let server = start_with(dir.path(), config).await;
    let c = client(&server.endpoint());
    for item in scores {
        c.put_item().table_name("Scores").set_item(Some(item)).send().await.unwrap();
    }
    let start = Instant::now();
    let got = loop {
        let out = c.get_item().table_name("Leaderboard").key("game", s("chess")).send().await.unwrap();
        let got = out.item.and_then(|i| i.get("total").cloned());
        if got == Some(AttributeValue::N(total.to_string())) || start.elapsed() > Duration::from_secs(30) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(got, Some(AttributeValue::N(total.to_string())), "the leaderboard total the README shows");

    let l = common::lambda_client(&server.endpoint());
    assert!(block.contains("list-functions"));
    let names: Vec<String> =
        l.list_functions().send().await.unwrap().functions().iter().filter_map(|f| f.function_name.clone()).collect();
    assert!(names.contains(&"leaderboard".to_string()) && names.contains(&"tick".to_string()), "{names:?}");
    let mappings = l.list_event_source_mappings().function_name("leaderboard").send().await.unwrap();
    assert_eq!(mappings.event_source_mappings().len(), 1);
    assert!(block.contains("--function-name tick") && block.contains("--log-type Tail"));
    let out = l
        .invoke()
        .function_name("tick")
        .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"hello":"world"}"#.to_vec()))
        .log_type(aws_sdk_lambda::types::LogType::Tail)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code, 200);
    assert!(out.function_error.is_none(), "{:?}", out.payload);
    assert!(out.log_result.is_some(), "LogType Tail returns the log");
    server.stop().await.unwrap();
}
