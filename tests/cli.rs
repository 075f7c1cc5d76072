//! The `tidepool` client commands, run as the built binary against a server
//! started in-process: `deploy`, `invoke`, `functions`, `mappings`, `logs`.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Harness, harness, s};
use tidepool_runtime::examples::example_path;

/// How long a test waits for an effect that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `tidepool <args> --endpoint <endpoint>` to its end.
async fn tidepool(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidepool"));
    cmd.args(args).arg("--endpoint").arg(endpoint).env_remove("TIDEPOOL_ENDPOINT");
    tokio::task::spawn_blocking(move || cmd.output().expect("run tidepool")).await.unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `tidepool logs` line without its time.
fn message(line: &str) -> &str {
    line.split_once(' ').map_or(line, |(_, m)| m)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A manifest in `dir` with its code beside it (relative paths).
fn write_app(dir: &Path) -> std::path::PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("wasm")).unwrap();
    std::fs::copy(example_path("leaderboard"), app.join("leaderboard.wasm")).unwrap();
    std::fs::copy(example_path("echo"), app.join("wasm/echo.wasm")).unwrap();
    std::fs::copy(example_path("misbehave"), app.join("wasm/misbehave.wasm")).unwrap();
    let manifest = app.join("tidepool.toml");
    std::fs::write(
        &manifest,
        r#"
[[table]]
name = "Scores"
partition_key = "player:S"
sort_key = "game:S"
stream = "NEW_AND_OLD_IMAGES"

[[table]]
name = "Leaderboard"
partition_key = "game:S"

[[function]]
name = "leaderboard"
code = "leaderboard.wasm"

[[function]]
name = "echo"
code = "wasm/echo.wasm"
memory = 256

[[function]]
name = "misbehave"
code = "wasm/misbehave.wasm"

[[mapping]]
function = "leaderboard"
table = "Scores"
StartingPosition = "TRIM_HORIZON"
BatchSize = 10
"#,
    )
    .unwrap();
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_invokes_lists_and_reads_logs() {
    let Harness { server, client: ddb, dir } = harness().await;
    let ep = server.endpoint();
    let manifest = write_app(dir.path());
    let manifest = manifest.to_str().unwrap();

    // deploy: one line per item, as it goes.
    let out = tidepool(&ep, &["deploy", manifest]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[1/7] table Scores ... created table Scores"), "{text}");
    assert!(text.contains("[2/7] table Leaderboard ... created table Leaderboard"), "{text}");
    assert!(text.contains("] function leaderboard (") && text.contains("created function leaderboard"), "{text}");
    assert!(text.contains("] mapping leaderboard <- Scores ... created mapping "), "{text}");
    assert!(text.contains("[7/7] the rest of the manifest ... unchanged"), "{text}");
    assert!(text.contains("done: 6 changes"), "{text}");
    // Applying it again changes nothing.
    let again = tidepool(&ep, &["deploy", manifest]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("done: 0 changes"), "{}", stdout(&again));

    // The mapping runs: a score reaches the leaderboard.
    ddb.put_item()
        .table_name("Scores")
        .item("player", s("ada"))
        .item("game", s("chess"))
        .item("score", AttributeValue::N("42".into()))
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = ddb.get_item().table_name("Leaderboard").key("game", s("chess")).send().await.unwrap();
        if got.item().and_then(|i| i.get("total")) == Some(&AttributeValue::N("42".into())) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the deployed mapping never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // invoke: the payload on stdout; errors on stderr with a failing status.
    let out = tidepool(&ep, &["invoke", "echo", r#"{"a":1}"#]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"a\":1}\n");
    let out = tidepool(&ep, &["invoke", "misbehave", r#"{"action":"print","text":"cli"}"#, "--log"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "\"printed\"\n");
    assert!(stderr(&out).contains("START RequestId: ") && stderr(&out).contains("out: cli"), "{}", stderr(&out));
    let out = tidepool(&ep, &["invoke", "misbehave", r#"{"action":"nonsense"}"#]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("function error (Handled)") && stderr(&out).contains("UnknownAction"));
    let out = tidepool(&ep, &["invoke", "nobody"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ResourceNotFoundException"), "{}", stderr(&out));

    // functions and mappings: tables with their state.
    let out = tidepool(&ep, &["functions"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("STATE"), "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    let echo = lines.iter().find(|l| l.starts_with("echo ")).expect("echo is listed");
    assert!(echo.contains("Active") && echo.contains("256 MB") && echo.contains("3 s"), "{echo}");
    let out = tidepool(&ep, &["mappings"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().contains("ITERATOR AGE"), "{text}");
    let row = text.lines().nth(1).expect("one mapping");
    assert!(row.contains("leaderboard") && row.contains("Scores") && row.contains("Enabled"), "{row}");
    assert!(row.ends_with("OK"), "{row}");

    // logs: what was kept; --follow prints new lines as they come.
    let out = tidepool(&ep, &["logs", "echo"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Each line after its time, as `aws logs tail` prints them.
    let (at, first) = text.lines().next().unwrap().split_once(' ').unwrap();
    assert!(at.len() == "2026-12-04T02:46:19.696Z".len() && at.ends_with('Z') && at.contains('T'), "{text}");
    assert!(first.starts_with("START RequestId: "), "{text}");
    assert!(message(text.lines().last().unwrap()).starts_with("REPORT RequestId: "), "{text}");
    let out = tidepool(&ep, &["logs", "nobody"]).await;
    assert!(!out.status.success());

    let mut follower = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["logs", "misbehave", "--follow", "--endpoint", &ep])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    'follow: loop {
        // Invoke until the follower shows the new line (it may connect after the first).
        let out = tidepool(&ep, &["invoke", "misbehave", r#"{"action":"print","text":"followed"}"#]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let wait = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(line)) = tokio::time::timeout_at(wait, rx.recv()).await {
            if message(&line) == "out: followed" {
                break 'follow;
            }
            seen.push(line);
        }
        assert!(tokio::time::Instant::now() < deadline, "the follower never printed the line: {seen:?}");
    }
    follower.kill().unwrap();
    follower.wait().unwrap();

    // A manifest mistake fails the command with the server's reason.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[function]]\nname = \"x\"\ncode = \"missing.wasm\"\n").unwrap();
    let out = tidepool(&ep, &["deploy", bad.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.wasm"), "{}", stderr(&out));
    let bad_table = dir.path().join("bad-table.toml");
    std::fs::write(&bad_table, "[[table]]\nname = \"T\"\npartition_key = \"k:X\"\n").unwrap();
    let out = tidepool(&ep, &["deploy", bad_table.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("InvalidParameterValueException"), "{}", stderr(&out));
    server.stop().await.unwrap();
}

/// `tidepool serve` as a child process (port 0), with `env` set; returns it,
/// its endpoint, and its stderr lines as they come.
fn serve(env: &[(&str, &str)]) -> (std::process::Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--in-memory", "--port", "0"])
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tidepool serve");
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Keep draining stdout so the server never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let Some(endpoint) = first.trim().strip_prefix("tidepool listening on ").map(str::to_string) else {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        panic!("tidepool serve did not start: {first}{err}");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, endpoint, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_invocation_that_fails_is_tried_three_times() {
    // Lambda waits a minute, then two; the server's test knob shortens that.
    let (mut child, ep, server_log) = serve(&[("TIDEPOOL_ASYNC_RETRY_DELAY_MS", "200")]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example_path("always-fail"), dir.path().join("fail.wasm")).unwrap();
    let manifest = dir.path().join("m.toml");
    std::fs::write(&manifest, "[[function]]\nname = \"fail\"\ncode = \"fail.wasm\"\n").unwrap();
    let out = tidepool(&ep, &["deploy", manifest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let client = {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let conf = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new("AKID", "secret", None, None, "test"))
            .endpoint_url(&ep)
            .http_client(http)
            .build();
        aws_sdk_lambda::Client::from_conf(conf)
    };
    let sent = client
        .invoke()
        .function_name("fail")
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status_code(), 202);
    let id = aws_sdk_lambda::operation::RequestId::request_id(&sent).expect("a request id").to_string();

    // The server says when it gives up: after the third attempt.
    let dropped = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while let Ok(line) = server_log.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            if line.contains("asynchronous invocation failed; event dropped") {
                return Some(line);
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the event is dropped after its retries");
    assert!(dropped.contains(&id) && dropped.contains("attempts=3"), "{dropped}");

    // Three attempts under one request id.
    let out = tidepool(&ep, &["logs", "fail"]).await;
    let text = stdout(&out);
    let starts = text.lines().map(message).filter(|l| l.starts_with("START RequestId: ")).collect::<Vec<_>>();
    assert_eq!(starts, vec![format!("START RequestId: {id} Version: $LATEST"); 3], "{text}");
    assert_eq!(text.matches("failing a batch of 0 records").count(), 3, "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Errors a person can act on: one line naming the cause (and the path
/// once), no backtrace even with `RUST_BACKTRACE` set, unless `--debug`.
#[tokio::test]
async fn errors_are_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, _) = common::spawn_server(&[std::ffi::OsStr::new("--data-dir"), data.as_os_str()]);
    let run = |args: Vec<std::ffi::OsString>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidepool"));
        cmd.args(args).env("RUST_BACKTRACE", "1").env_remove("TIDEPOOL_ENDPOINT").env_remove("RUST_LOG");
        cmd.output().expect("run tidepool")
    };
    let serve = |debug: bool| {
        let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--port".into(), "0".into(), "--data-dir".into()];
        args.push(data.clone().into());
        if debug {
            args.push("--debug".into());
        }
        run(args)
    };

    // A data directory held by another server names it and its process.
    let out = serve(false);
    assert!(!out.status.success());
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("tidepool: error: ")).unwrap_or_else(|| panic!("{err}"));
    let want = format!("is in use by another server (process {})", first.id());
    assert!(line.contains(&want) && line.contains(&data.display().to_string()), "{err}");
    assert_eq!(err.matches(&data.display().to_string()).count(), 1, "the path once: {err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    // No colour codes when stderr is not a terminal.
    assert!(!err.contains('\u{1b}'), "{err:?}");
    // Nor does the storage engine say it opened or recovered anything.
    assert!(!err.contains("fjall") && !err.contains("lsm_tree"), "{err}");
    // `--debug` shows the chain and the backtrace.
    let err = stderr(&serve(true));
    assert!(err.to_lowercase().contains("backtrace"), "{err}");

    // A misspelt manifest key: the nearest name, and nothing else.
    let manifest = dir.path().join("tidepool.toml");
    std::fs::write(&manifest, "[[mapping]]\nfunction = \"f\"\ntable = \"T\"\nMaximumRetryAttemps = 2\n").unwrap();
    let out = run(vec!["deploy".into(), manifest.clone().into()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `MaximumRetryAttemps` in [[mapping]]; did you mean `MaximumRetryAttempts`?"),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
}

/// Schedules can be seen, disabled, enabled and deleted (CLI and HTTP), and
/// `tidepool reset` empties the server but for a protected table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_managed_and_reset_empties_the_server() {
    let Harness { server, client: ddb, dir } = harness().await;
    let ep = server.endpoint();
    let manifest = write_app(dir.path());
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[[schedule]]\nname = \"nightly\"\nfunction = \"echo\"\nexpression = \"cron(0 2 * * ? *)\"\n");
    std::fs::write(&manifest, text).unwrap();
    let out = tidepool(&ep, &["deploy", manifest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let row = |out: &Output| stdout(out).lines().find(|l| l.starts_with("nightly")).map(str::to_string);
    let out = tidepool(&ep, &["schedules"]).await;
    let line = row(&out).unwrap_or_else(|| panic!("{}", stdout(&out)));
    assert!(line.contains("echo") && line.contains("cron(0 2 * * ? *)") && line.contains("ENABLED"), "{line}");
    assert!(line.contains("T02:00:00.000Z"), "the next fire: {line}");

    let out = tidepool(&ep, &["schedules", "disable", "nightly"]).await;
    assert!(out.status.success() && stdout(&out).contains("schedule nightly disabled"), "{}", stderr(&out));
    let http = reqwest_like(&ep, "GET", "/tidepool/schedules/nightly", "").await;
    assert_eq!((http.0, http.1["State"].as_str()), (200, Some("DISABLED")), "{http:?}");
    assert_eq!(http.1["Expression"], "cron(0 2 * * ? *)", "only the state changed: {http:?}");
    let out = tidepool(&ep, &["schedules", "enable", "nightly"]).await;
    assert!(row(&tidepool(&ep, &["schedules"]).await).unwrap().contains("ENABLED"), "{}", stdout(&out));

    // Created and refused over HTTP, in Lambda's error shape.
    let made =
        reqwest_like(&ep, "PUT", "/tidepool/schedules/hourly", r#"{"Function":"echo","Expression":"rate(1 hour)"}"#)
            .await;
    assert_eq!((made.0, made.1["State"].as_str()), (200, Some("ENABLED")), "{made:?}");
    let bad = reqwest_like(&ep, "PUT", "/tidepool/schedules/hourly", r#"{"Colour":"blue"}"#).await;
    assert_eq!((bad.0, bad.1["Type"].as_str()), (400, Some("User")), "{bad:?}");
    let missing = reqwest_like(&ep, "PUT", "/tidepool/schedules/new", r#"{"State":"DISABLED"}"#).await;
    assert_eq!(missing.0, 400, "a new schedule needs its function and expression: {missing:?}");

    let out = tidepool(&ep, &["schedules", "delete", "nightly"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tidepool(&ep, &["schedules", "delete", "nightly"]).await;
    assert!(!out.status.success() && stderr(&out).contains("ResourceNotFoundException"), "{}", stderr(&out));

    // Reset: everything goes but a table protected against deletion.
    ddb.update_table().table_name("Leaderboard").deletion_protection_enabled(true).send().await.unwrap();
    let out = tidepool(&ep, &["reset", "--yes"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("deleted 1 mappings, 1 schedules"), "{text}");
    assert!(text.contains("deleted functions: echo, leaderboard, misbehave"), "{text}");
    assert!(text.contains("deleted tables: Scores"), "{text}");
    assert!(text.contains("kept table Leaderboard: Resource cannot be deleted"), "{text}");
    let tables = ddb.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["Leaderboard"]);
    let lambda = common::lambda_client(&ep);
    assert!(lambda.list_functions().send().await.unwrap().functions().is_empty());
    assert!(lambda.list_event_source_mappings().send().await.unwrap().event_source_mappings().is_empty());
    assert!(stdout(&tidepool(&ep, &["schedules"]).await).contains("no schedules"));
    server.stop().await.unwrap();
}

/// One plain HTTP request: status and JSON body.
async fn reqwest_like(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
    let answer = common::http::read_answer(&mut stream).await;
    let json = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
    (answer.status, json)
}

/// `deploy --dry-run` shows the plan and changes nothing; drift in a key
/// schema and a stream replacement that would orphan a mapping are refused
/// with the reason, in the plan and in the deploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_changes_nothing_and_drift_is_refused() {
    let Harness { server, client: ddb, dir } = harness().await;
    let ep = server.endpoint();
    let manifest = write_app(dir.path());
    let path = manifest.to_str().unwrap();

    let out = tidepool(&ep, &["deploy", "--dry-run", path]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would have created table Scores"), "{text}");
    assert!(text.contains("would have created function leaderboard"), "{text}");
    assert!(text.contains("would have created mapping (leaderboard ← Scores)"), "{text}");
    assert!(text.contains("6 changes"), "{text}");
    assert!(ddb.list_tables().send().await.unwrap().table_names().is_empty(), "a plan changes nothing");
    let lambda = common::lambda_client(&ep);
    assert!(lambda.list_functions().send().await.unwrap().functions().is_empty());

    // A bad value is refused by the plan as by the deploy, with Lambda's words.
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, original.replace("BatchSize = 10", "BatchSize = 0")).unwrap();
    let out = tidepool(&ep, &["deploy", "--dry-run", path]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("ValidationException") || stderr(&out).contains("batchSize"), "{}", stderr(&out));
    std::fs::write(&manifest, &original).unwrap();

    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tidepool(&ep, &["deploy", "--dry-run", path]).await;
    assert!(stdout(&out).contains("0 changes"), "{}", stdout(&out));

    // Drift: another key for an existing table.
    std::fs::write(&manifest, original.replace("sort_key = \"game:S\"", "sort_key = \"round:N\"")).unwrap();
    for args in [vec!["deploy", "--dry-run", path], vec!["deploy", path]] {
        let out = tidepool(&ep, &args).await;
        assert!(!out.status.success(), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("table Scores: drift") && err.contains("round:N") && err.contains("game:S"), "{err}");
    }
    let table = ddb.describe_table().table_name("Scores").send().await.unwrap();
    assert_eq!(table.table().unwrap().key_schema()[1].attribute_name(), "game", "nothing applied");

    // A new stream view type would leave the mapping on the old stream.
    std::fs::write(&manifest, original.replace("stream = \"NEW_AND_OLD_IMAGES\"", "stream = \"KEYS_ONLY\"")).unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let uuid = lambda.list_event_source_mappings().send().await.unwrap().event_source_mappings()[0]
        .uuid()
        .unwrap()
        .to_string();
    let err = stderr(&out);
    assert!(err.contains("makes a new stream") && err.contains(&uuid), "{err}");
    let table = ddb.describe_table().table_name("Scores").send().await.unwrap();
    let view = table.table().unwrap().stream_specification().unwrap().stream_view_type().unwrap().as_str().to_string();
    assert_eq!(view, "NEW_AND_OLD_IMAGES", "the stream was kept");
    server.stop().await.unwrap();
}

/// A mapping's counters and last processing result survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_counters_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = common::start_in(&data, tidepool_store::Durability::default()).await;
    let ep = server.endpoint();
    let manifest = write_app(dir.path());
    let out = tidepool(&ep, &["deploy", manifest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let ddb = common::client(&ep);
    for (player, score) in [("ada", "1"), ("bob", "2"), ("cy", "3")] {
        let item = [("player", s(player)), ("game", s("go")), ("score", AttributeValue::N(score.into()))];
        let item = item.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        ddb.put_item().table_name("Scores").set_item(Some(item)).send().await.unwrap();
    }
    let total = |ep: String| async move {
        let (status, body) = reqwest_like(&ep, "GET", "/tidepool/mappings", "").await;
        assert_eq!(status, 200, "{body}");
        body["Mappings"][0].clone()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let before = loop {
        let m = total(ep.clone()).await;
        if m["Metrics"]["total"]["invoked"].as_u64() == Some(3) && m["LastProcessingResult"] == "OK" {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "the mapping never handled the records: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.stop().await.unwrap();

    let server = common::start_in(&data, tidepool_store::Durability::default()).await;
    let after = total(server.endpoint()).await;
    // At least what was counted before: a record whose checkpoint had not
    // been committed at the stop is delivered, and counted, again.
    let count = |m: &serde_json::Value, k: &str| m["Metrics"]["total"][k].as_u64().unwrap_or(0);
    for k in ["invoked", "polled", "invocations"] {
        assert!(count(&after, k) >= count(&before, k), "{k}: {after}");
    }
    assert_eq!(after["LastProcessingResult"], "OK", "{after}");
    server.stop().await.unwrap();
}

/// Tables declare their indexes, capacity and TTL, and are seeded from
/// JSON or CSV when the manifest makes them; a later index is added, a
/// changed one is drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_declare_indexes_capacity_and_seed_items() {
    let Harness { server, client: ddb, dir } = harness().await;
    let ep = server.endpoint();
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("data")).unwrap();
    std::fs::write(
        app.join("data/orders.json"),
        r#"[{"customer": "ada", "order": "o1", "status": "open", "total": 12.5},
            {"customer": {"S": "bob"}, "order": {"S": "o2"}, "status": {"S": "shipped"}, "total": {"N": "3"}}]"#,
    )
    .unwrap();
    std::fs::write(app.join("data/players.csv"), "id,name,level\n007,\"Bond, James\",3\n2,Ada,\n").unwrap();
    let manifest = app.join("tidepool.toml");
    let text = r#"
[[table]]
name = "Orders"
partition_key = "customer:S"
sort_key = "order:S"
billing_mode = "PROVISIONED"
read_capacity = 5
write_capacity = 2
ttl_attribute = "expires"
seed = "data/orders.json"

[[table.global_index]]
name = "by-status"
partition_key = "status:S"
sort_key = "total:N"
projection = "KEYS_ONLY"
read_capacity = 1
write_capacity = 1

[[table.local_index]]
name = "by-total"
sort_key = "total:N"
projection = ["status"]

[[table]]
name = "Players"
partition_key = "id:S"
seed = "data/players.csv"
"#;
    std::fs::write(&manifest, text).unwrap();
    let path = manifest.to_str().unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("seeded table Orders with 2 items") && said.contains("seeded table Players with 2 items"),
        "{said}"
    );

    let t = ddb.describe_table().table_name("Orders").send().await.unwrap().table.unwrap();
    // As DynamoDB, a table made provisioned has no BillingModeSummary.
    assert_ne!(t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str()), Some("PAY_PER_REQUEST"));
    assert_eq!(t.provisioned_throughput().unwrap().read_capacity_units(), Some(5));
    let gsi = &t.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("by-status"));
    assert_eq!(gsi.projection().unwrap().projection_type().unwrap().as_str(), "KEYS_ONLY");
    let lsi = &t.local_secondary_indexes()[0];
    assert_eq!(lsi.projection().unwrap().non_key_attributes(), ["status"]);
    let ttl = ddb.describe_time_to_live().table_name("Orders").send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().unwrap().attribute_name(), Some("expires"));
    let open = ddb
        .query()
        .table_name("Orders")
        .index_name("by-status")
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s("open"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.count(), 1, "the seeded plain-JSON item is indexed with its number");
    let bond = ddb.get_item().table_name("Players").key("id", s("007")).send().await.unwrap().item.unwrap();
    assert_eq!(bond["name"], s("Bond, James"));
    assert_eq!(bond["level"], AttributeValue::N("3".into()));
    let ada = ddb.get_item().table_name("Players").key("id", s("2")).send().await.unwrap().item.unwrap();
    assert!(!ada.contains_key("level"), "an empty cell is no attribute");

    // Again: nothing changes, nothing is seeded twice.
    ddb.delete_item().table_name("Players").key("id", s("2")).send().await.unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(stdout(&out).contains("done: 0 changes"), "{}", stdout(&out));
    assert!(ddb.get_item().table_name("Players").key("id", s("2")).send().await.unwrap().item.is_none());

    // A new global index, with a multi-attribute key, is added to the
    // existing table; deployed again, it is no drift.
    let added = text.replace(
        "[[table.local_index]]",
        "[[table.global_index]]\nname = \"by-order\"\npartition_key = [\"order:S\", \"status:S\"]\nread_capacity = 1\nwrite_capacity = 1\n\n[[table.local_index]]",
    );
    std::fs::write(&manifest, &added).unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(stdout(&out).contains("created index by-order on table Orders"), "{}{}", stdout(&out), stderr(&out));
    let t = ddb.describe_table().table_name("Orders").send().await.unwrap().table.unwrap();
    assert_eq!(t.global_secondary_indexes().len(), 2);
    let by_order = t.global_secondary_indexes().iter().find(|i| i.index_name() == Some("by-order")).unwrap();
    let keys: Vec<(&str, &str)> =
        by_order.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
    assert_eq!(keys, [("order", "HASH"), ("status", "HASH")]);
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(stdout(&out).contains("done: 0 changes"), "{}{}", stdout(&out), stderr(&out));

    // An index's key cannot change; a local index cannot be added later.
    std::fs::write(
        &manifest,
        added.replace("sort_key = \"total:N\"\nprojection = \"KEYS_ONLY\"", "projection = \"KEYS_ONLY\""),
    )
    .unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success() && stderr(&out).contains("drift: index by-status"), "{}", stderr(&out));
    std::fs::write(&manifest, format!("{added}\n[[table.local_index]]\nname = \"late\"\nsort_key = \"id:S\"\n"))
        .unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success() && stderr(&out).contains("local index late"), "{}", stderr(&out));

    // A changed projection is drift too.
    std::fs::write(&manifest, added.replace("projection = \"KEYS_ONLY\"", "projection = \"ALL\"")).unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success() && stderr(&out).contains("the projection ALL but has KEYS_ONLY"), "{}", stderr(&out));

    // A seed DynamoDB refuses takes its table with it: nothing half-filled.
    std::fs::write(app.join("data/bad.json"), r#"[{"id": "a"}, {"name": "no key"}]"#).unwrap();
    std::fs::write(&manifest, "[[table]]\nname = \"Broken\"\npartition_key = \"id:S\"\nseed = \"data/bad.json\"\n")
        .unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success() && stderr(&out).contains("seed item 2"), "{}", stderr(&out));
    assert!(ddb.describe_table().table_name("Broken").send().await.is_err(), "the table was not made");

    // A bad declaration gets DynamoDB's own words.
    std::fs::write(&manifest, "[[table]]\nname = \"x\"\npartition_key = \"id:S\"\n").unwrap();
    let out = tidepool(&ep, &["deploy", path]).await;
    assert!(!out.status.success() && stderr(&out).contains("ValidationException"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Member must have length greater than or equal to 3"), "{}", stderr(&out));
    server.stop().await.unwrap();
}
