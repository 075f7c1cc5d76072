//! The README's quick starts, run: the server starts with the manifest the
//! README's first command names, and the walkthrough's items, expected total
//! and calls are read from the README itself, so the two cannot drift apart.
//! Then both quick starts' shell blocks run as written, with bash and the
//! AWS CLI (v1 from PyPI always, v2 where the machine has it), one after
//! the other on one server, as a user would; then the README's boto3 and
//! JavaScript SDK snippets (both installed from their registries) on the
//! same table.

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
    block_after(readme, "<!-- quickstart:")
}

/// The shell block that follows `marker`.
fn block_after<'a>(readme: &'a str, marker: &str) -> &'a str {
    let at = readme.find(marker).unwrap_or_else(|| panic!("the README marks {marker}"));
    let rest = &readme[at..];
    let fence = rest.find("```").expect("a code block");
    let start = fence + rest[fence..].find('\n').expect("the block's first line") + 1;
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

/// Runs a README shell block with bash, as written, against `endpoint`,
/// with `cli` as `aws`: the only changes are the endpoint (the README's
/// `http://localhost:8000`, and `TIDEPOOL_ENDPOINT` for the client
/// commands) and `cargo run --release --` as the test's own build of the
/// binary. Runs in `cwd` with `HOME` there too (no user AWS config).
/// Returns stdout; fails the test on any failing command.
fn run_block(block: &str, cli: &common::tools::AwsCli, endpoint: &str, cwd: &Path) -> String {
    let bin = cwd.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("aws");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&cli.path, &link).unwrap();
    let script = block
        .replace("http://localhost:8000", endpoint)
        .replace("cargo run --release --", env!("CARGO_BIN_EXE_tidepool"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(cwd)
        .env("PATH", path)
        .env("HOME", cwd)
        .env("TIDEPOOL_ENDPOINT", endpoint)
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "AWS CLI v{}: the block failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        cli.major,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn both_quick_starts_run_as_written_with_the_aws_cli() {
    let text = readme();
    let example_app = quickstart_block(&text);
    let cli_tour = block_after(&text, "<!-- quickstart-cli:");
    let mut clis = vec![common::tools::aws_cli_v1()];
    match common::tools::aws_cli_v2() {
        Some(v2) => clis.push(v2),
        None => eprintln!("AWS CLI v2 not found (apt-get install awscli, or TIDEPOOL_AWS_CLI_V2): ran with v1 only"),
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidepool.toml");
    for cli in clis {
        let v = cli.major;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = ServerConfig { manifest: Some(manifest.clone()), ..ServerConfig::default() };
        let server = start_with(&data, config).await;
        let endpoint = server.endpoint();

        // The example app: the trigger's total, the functions, the invoke, the logs.
        let (block, cwd, cli2, ep) = (example_app.to_string(), dir.path().to_path_buf(), cli.clone(), endpoint.clone());
        let out = tokio::task::spawn_blocking(move || run_block(&block, &cli2, &ep, &cwd)).await.unwrap();
        let compact: String = out.split_whitespace().collect();
        assert!(compact.contains(r#""total":{"N":"2000"}"#), "v{v}: the leaderboard total: {out}");
        assert!(out.contains("leaderboard") && out.contains("tick"), "v{v}: list-functions: {out}");
        assert!(compact.contains(r#""StatusCode":200"#) && out.contains("LogResult"), "v{v}: invoke: {out}");
        assert!(dir.path().join("out.json").exists(), "v{v}: invoke wrote its response");
        assert!(out.contains("START RequestId: ") && out.contains("REPORT RequestId: "), "v{v}: logs: {out}");

        // The CLI tour, on the same server: its own table, items, a stream
        // read shard by shard.
        let (block, cwd, cli2, ep) = (cli_tour.to_string(), dir.path().to_path_buf(), cli.clone(), endpoint.clone());
        let out = tokio::task::spawn_blocking(move || run_block(&block, &cli2, &ep, &cwd)).await.unwrap();
        let compact: String = out.split_whitespace().collect();
        assert!(compact.contains(r#""Plays":{"N":"2"}"#), "v{v}: update-item: {out}");
        let records: Vec<&str> =
            out.lines().filter(|l| l.starts_with("INSERT\t") || l.starts_with("MODIFY\t")).collect();
        let mut sorted = records.clone();
        sorted.sort();
        assert_eq!(sorted, ["INSERT\tCall Me Today", "INSERT\tHappy Day", "MODIFY\tHappy Day"], "v{v}: {out}");
        if v == 1 {
            // boto3 and the JS SDK, on the same table, with the same variables.
            let env = [
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
            ];
            let python = block_after(&text, "<!-- quickstart-python:").replace("http://localhost:8000", &endpoint);
            let (py, home) = (common::tools::python_with_boto3(), dir.path().to_path_buf());
            let out = tokio::task::spawn_blocking(move || {
                let mut cmd = std::process::Command::new(py);
                cmd.arg("-c").arg(python).env("HOME", home).env_remove("AWS_PROFILE");
                cmd.envs(env).output().expect("run python")
            })
            .await
            .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "boto3: {said}{}", String::from_utf8_lossy(&out.stderr));
            assert!(said.contains("Still in Love"), "boto3: {said}");

            let js = block_after(&text, "<!-- quickstart-js:").replace("http://localhost:8000", &endpoint);
            let (root, home) = (common::tools::node_with_dynamodb_client(), dir.path().to_path_buf());
            let out = tokio::task::spawn_blocking(move || {
                let script = root.join(format!("quick-{}.mjs", std::process::id()));
                std::fs::write(&script, js).unwrap();
                let mut cmd = std::process::Command::new("node");
                cmd.arg(&script).current_dir(&root).env("HOME", home).env_remove("AWS_PROFILE");
                let out = cmd.envs(env).output().expect("run node");
                let _ = std::fs::remove_file(&script);
                out
            })
            .await
            .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "JS SDK: {said}{}", String::from_utf8_lossy(&out.stderr));
            assert!(said.contains("Still in Love") && said.contains("Plays"), "JS SDK: {said}");
        }
        server.stop().await.unwrap();
    }
}
