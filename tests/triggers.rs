//! Stream triggers end to end: a manifest deploys tables, a real wasm
//! component from `examples/` and an event source mapping into the real
//! server; writes through `aws-sdk-dynamodb` reach the handler, whose own
//! writes go through the same store.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{client, n, s, start_with};
use tidepool::ServerConfig;
use tidepool_runtime::examples::example_path;

/// A manifest deploying the leaderboard example: `Scores` (stream) →
/// `leaderboard` → `Leaderboard` totals per game; failed batches go to
/// `Failed`.
fn leaderboard_manifest(dir: &Path, extra_mapping: &str) -> std::path::PathBuf {
    leaderboard_manifest_with(dir, "", extra_mapping)
}

/// [`leaderboard_manifest`] with `extra_function` lines for the function.
fn leaderboard_manifest_with(dir: &Path, extra_function: &str, extra_mapping: &str) -> std::path::PathBuf {
    example_manifest(dir, "leaderboard", extra_function, extra_mapping)
}

/// [`leaderboard_manifest_with`] for the leaderboard written as `example`.
fn example_manifest(dir: &Path, example: &str, extra_function: &str, extra_mapping: &str) -> std::path::PathBuf {
    code_manifest(dir, &example_path(example), extra_function, extra_mapping)
}

/// [`leaderboard_manifest_with`] for the leaderboard built at `code`.
fn code_manifest(dir: &Path, code: &Path, extra_function: &str, extra_mapping: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[[table]]
name = "Scores"
partition_key = "player:S"
sort_key = "game:S"
stream = "NEW_AND_OLD_IMAGES"

[[table]]
name = "Leaderboard"
partition_key = "game:S"

[[table]]
name = "Failed"
partition_key = "requestId:S"

[[function]]
name = "leaderboard"
code = "{}"
timeout = 10
{extra_function}

[[mapping]]
function = "leaderboard"
table = "Scores"
StartingPosition = "TRIM_HORIZON"
DestinationConfig = {{ OnFailure = {{ Destination = "arn:aws:dynamodb:us-east-1:000000000000:table/Failed" }} }}
{extra_mapping}
"#,
        code.display()
    );
    let path = dir.join("tidepool.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until the one mapping has a durable checkpoint at the last record
/// of every shard of `table`'s streams: its results are all committed, so
/// a restart must deliver none of them again.
async fn wait_checkpointed(server: &tidepool::Server, table: &str) {
    use tidepool_store::stream::{StartingPosition, format_seq};
    let store = &server.app.store;
    let lambda = server.app.lambda.get().unwrap();
    let uuid = lambda.mappings(None, None)[0].uuid.clone();
    let mut last = BTreeMap::new();
    for meta in store.list_streams().into_iter().filter(|m| m.table == table) {
        for shard in &meta.shards {
            let pos = store.shard_position(meta.num, &shard.id, StartingPosition::TrimHorizon).unwrap();
            let page = store.read_shard(meta.num, &shard.id, pos, 1000, usize::MAX).unwrap();
            if let Some(r) = page.records.last() {
                last.insert(shard.id.clone(), format_seq(r.seq));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = lambda.engine.metrics(&uuid).unwrap();
        if last.iter().all(|(id, seq)| metrics.shards.get(id).and_then(|m| m.checkpoint.as_ref()) == Some(seq)) {
            return;
        }
        assert!(Instant::now() < deadline, "checkpoints {:?}, records up to {last:?}", metrics.shards);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Leaderboard totals by game.
async fn totals(c: &aws_sdk_dynamodb::Client) -> BTreeMap<String, i64> {
    let scan = c.scan().table_name("Leaderboard").consistent_read(true).send().await.unwrap();
    scan.items()
        .iter()
        .map(|i| {
            let game = match &i["game"] {
                AttributeValue::S(g) => g.clone(),
                other => panic!("{other:?}"),
            };
            let total = match &i["total"] {
                AttributeValue::N(t) => t.parse().unwrap(),
                other => panic!("{other:?}"),
            };
            (game, total)
        })
        .collect()
}

/// Waits until `check` holds on the totals, up to `limit`.
async fn wait_for(
    c: &aws_sdk_dynamodb::Client,
    limit: Duration,
    check: impl Fn(&BTreeMap<String, i64>) -> bool,
) -> BTreeMap<String, i64> {
    let start = Instant::now();
    loop {
        let t = totals(c).await;
        if check(&t) || start.elapsed() > limit {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_manifest_deploys_a_trigger_that_keeps_a_leaderboard() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = leaderboard_manifest(dir.path(), "");
    let data = dir.path().join("data");
    let config = ServerConfig { manifest: Some(manifest.clone()), ..ServerConfig::default() };
    let server = start_with(&data, config.clone()).await;
    let c = client(&server.endpoint());
    for (player, game, score) in [("ada", "chess", 10), ("bob", "chess", 5), ("ada", "go", 7)] {
        c.put_item()
            .table_name("Scores")
            .item("player", s(player))
            .item("game", s(game))
            .item("score", n(score))
            .send()
            .await
            .unwrap();
    }
    let want = BTreeMap::from([("chess".to_string(), 15), ("go".to_string(), 7)]);
    let got = wait_for(&c, Duration::from_secs(30), |t| *t == want).await;
    assert_eq!(got, want);
    // A MODIFY adds the difference; a REMOVE takes the score away.
    c.put_item()
        .table_name("Scores")
        .item("player", s("bob"))
        .item("game", s("chess"))
        .item("score", n(8))
        .send()
        .await
        .unwrap();
    c.delete_item().table_name("Scores").key("player", s("ada")).key("game", s("go")).send().await.unwrap();
    let want = BTreeMap::from([("chess".to_string(), 18), ("go".to_string(), 0)]);
    let got = wait_for(&c, Duration::from_secs(30), |t| *t == want).await;
    assert_eq!(got, want);
    // The handler's writes land before the checkpoint that passes them (at
    // least once): a stop in between delivers them again, as in Lambda.
    wait_checkpointed(&server, "Scores").await;
    let lambda = server.app.lambda.get().unwrap();
    let mappings = lambda.mappings(None, None);
    assert_eq!(mappings.len(), 1);
    let uuid = mappings[0].uuid.clone();
    server.stop().await.unwrap();

    // Restarting with the same manifest changes nothing and resumes from the
    // checkpoint: nothing is delivered twice.
    let server = start_with(&data, config).await;
    let c = client(&server.endpoint());
    let lambda = server.app.lambda.get().unwrap();
    let mappings = lambda.mappings(None, None);
    assert_eq!(mappings.len(), 1);
    assert_eq!(mappings[0].uuid, uuid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(totals(&c).await, want);
    c.put_item()
        .table_name("Scores")
        .item("player", s("cy"))
        .item("game", s("go"))
        .item("score", n(3))
        .send()
        .await
        .unwrap();
    let want = BTreeMap::from([("chess".to_string(), 18), ("go".to_string(), 3)]);
    assert_eq!(wait_for(&c, Duration::from_secs(30), |t| *t == want).await, want);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn filters_from_the_manifest_drop_records_before_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    // Only INSERTs reach the handler: updates and deletes are filtered out.
    let manifest = leaderboard_manifest(
        dir.path(),
        r#"FilterCriteria = { Filters = [{ Pattern = '{"eventName":["INSERT"]}' }] }"#,
    );
    let config = ServerConfig { manifest: Some(manifest), ..ServerConfig::default() };
    let server = start_with(&dir.path().join("data"), config).await;
    let c = client(&server.endpoint());
    for score in [4, 9] {
        c.put_item()
            .table_name("Scores")
            .item("player", s("ada"))
            .item("game", s("chess"))
            .item("score", n(score))
            .send()
            .await
            .unwrap();
    }
    c.put_item()
        .table_name("Scores")
        .item("player", s("bob"))
        .item("game", s("chess"))
        .item("score", n(1))
        .send()
        .await
        .unwrap();
    let want = BTreeMap::from([("chess".to_string(), 5)]);
    let got = wait_for(&c, Duration::from_secs(30), |t| *t == want).await;
    assert_eq!(got, want);
    // Let any wrongly delivered MODIFY land before checking again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(totals(&c).await, want);
    let metrics =
        server.app.lambda.get().unwrap().engine.metrics(&server.app.lambda.get().unwrap().mappings(None, None)[0].uuid);
    assert!(metrics.is_some());
    server.stop().await.unwrap();
}

/// A child-process server over `data` (sync durability) with a manifest.
fn spawn_server(data: &Path, manifest: &Path) -> (Child, String) {
    common::spawn_server(&[
        "--durability".as_ref(),
        "sync".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
    ])
}

/// Kills a child server with SIGKILL three times while three writers put
/// scores of 1 into game `g`, restarts it and waits for the leaderboard to
/// reach every acknowledged write. The running server, its client, and the
/// number of acknowledged writes.
async fn kill_while_writing(data: &Path, manifest: &Path) -> (Child, aws_sdk_dynamodb::Client, i64) {
    let mut expected = 0i64;
    for round in 0..3 {
        let (mut child, endpoint) = spawn_server(data, manifest);
        let c = client(&endpoint);
        // Each acknowledged INSERT adds its score once or more (at least
        // once: a batch in flight at the kill is delivered again).
        let got = wait_for(&c, Duration::from_secs(60), |t| t.get("g").copied().unwrap_or(0) >= expected).await;
        assert!(got.get("g").copied().unwrap_or(0) >= expected, "round {round}: {got:?} < {expected}");
        let mut tasks = Vec::new();
        for w in 0..3 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = 0i64;
                for i in 0.. {
                    let player = format!("r{round}-w{w}-{i}");
                    let put = c
                        .put_item()
                        .table_name("Scores")
                        .item("player", s(&player))
                        .item("game", s("g"))
                        .item("score", n(1))
                        .send()
                        .await;
                    match put {
                        Ok(_) => acked += 1,
                        Err(_) => break,
                    }
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 200 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for t in tasks {
            expected += t.await.unwrap();
        }
    }
    let (child, endpoint) = spawn_server(data, manifest);
    let c = client(&endpoint);
    let got = wait_for(&c, Duration::from_secs(60), |t| t.get("g").copied().unwrap_or(0) >= expected).await;
    assert!(got["g"] >= expected, "{got:?} < {expected}");
    assert!(expected > 20, "the writers got going: {expected}");
    (child, c, expected)
}

/// The sum of the scores `Scores` holds for game `g`: every committed write,
/// acknowledged or cut off by a kill.
async fn committed_scores(c: &aws_sdk_dynamodb::Client) -> i64 {
    let mut sum = 0;
    let mut start = None;
    loop {
        let page =
            c.scan().table_name("Scores").consistent_read(true).set_exclusive_start_key(start).send().await.unwrap();
        for item in page.items() {
            if let AttributeValue::N(v) = &item["score"] {
                sum += v.parse::<i64>().unwrap();
            }
        }
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return sum,
        }
    }
}

#[tokio::test]
async fn every_record_is_handled_at_least_once_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = leaderboard_manifest(dir.path(), "BatchSize = 7");
    let (mut child, c, _) = kill_while_writing(&dir.path().join("data"), &manifest).await;
    // Nothing failed into the destination.
    let failed = c.scan().table_name("Failed").send().await.unwrap();
    assert_eq!(failed.count, 0);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn exactly_once_totals_are_exact_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = leaderboard_manifest(dir.path(), "BatchSize = 7\nExactlyOnce = true");
    let (mut child, c, _) = kill_while_writing(&dir.path().join("data"), &manifest).await;
    // Every committed score, acknowledged or not, counts exactly once.
    let want = committed_scores(&c).await;
    let got = wait_for(&c, Duration::from_secs(60), |t| t.get("g").copied().unwrap_or(0) >= want).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = totals(&c).await;
    assert_eq!(got["g"], want, "the leaderboard counts each committed score once");
    assert_eq!(got_after["g"], want, "and nothing is applied again later");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn exactly_once_writes_of_a_failed_invocation_are_not_applied() {
    failed_invocations_count_once(&example_path("leaderboard"), 30).await;
}

/// The leaderboard written with the AWS SDK for Rust (`examples/leaderboard-sdk`):
/// its `UpdateItem`s go over `wasi:http` to the server's endpoint, served in
/// process through the same bridge as the `store` import, so the exactly-once
/// mode defers them too.
#[tokio::test]
async fn a_handler_using_the_aws_sdk_counts_exactly_once() {
    failed_invocations_count_once(&example_path("leaderboard-sdk"), 30).await;
}

/// The leaderboard written in Python (`examples/leaderboard-py`, a Lambda
/// handler `def lambda_handler(event, context)`), built by `tidepool build`
/// with componentize-py: the same exact totals in exactly-once mode.
#[tokio::test]
async fn a_python_handler_counts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let code = build_example("leaderboard-py", dir.path());
    failed_invocations_count_once(&code, 30).await;
}

/// The leaderboard as a Lambda JavaScript handler (examples/leaderboard-js:
/// `export const handler = async (event) => ...` with the AWS SDK for
/// JavaScript v3, unconfigured), built by `tidepool build` with esbuild and
/// componentize-js: the same exact totals in exactly-once mode.
#[tokio::test]
async fn a_javascript_handler_counts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let code = build_example("leaderboard-js", dir.path());
    failed_invocations_count_once(&code, 30).await;
}

/// `tidepool build examples/<name>` into `dir`; returns the component.
fn build_example(name: &str, dir: &Path) -> PathBuf {
    let code = dir.join(format!("{name}.wasm"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    let built = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .arg("build")
        .arg(&source)
        .arg("--out")
        .arg(&code)
        .output()
        .unwrap();
    assert!(built.status.success(), "tidepool build {name}: {}", String::from_utf8_lossy(&built.stderr));
    code
}

/// The leaderboard built at `code`, in exactly-once mode, with half of
/// its invocations failing after their writes and retried: after `puts`
/// scores every total is exact and nothing went to the destination.
async fn failed_invocations_count_once(code: &Path, puts: i64) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = code_manifest(
        dir.path(),
        code,
        r#"environment = { FAIL_AFTER_WRITES = "0.5" }"#,
        "BatchSize = 3\nMaximumRetryAttempts = -1\nExactlyOnce = true",
    );
    let config = ServerConfig { manifest: Some(manifest), ..ServerConfig::default() };
    let server = start_with(&dir.path().join("data"), config).await;
    let c = client(&server.endpoint());
    let mut want = BTreeMap::new();
    for i in 0..puts {
        let game = format!("g{}", i % 3);
        let put = c.put_item().table_name("Scores").item("player", s(&format!("p{i}"))).item("game", s(&game));
        put.item("score", n(i)).send().await.unwrap();
        *want.entry(game).or_insert(0) += i;
    }
    let got = wait_for(&c, Duration::from_secs(60), |t| *t == want).await;
    assert_eq!(got, want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(totals(&c).await, want, "no retried batch applied its writes twice");
    let lambda = server.app.lambda.get().unwrap();
    let metrics = lambda.engine.metrics(&lambda.mappings(None, None)[0].uuid).unwrap();
    assert!(metrics.total.failed > 0, "some invocations failed and were retried: {metrics:?}");
    let failed = c.scan().table_name("Failed").send().await.unwrap();
    assert_eq!(failed.count, 0);
    server.stop().await.unwrap();
}

/// A guest's SDK requests to the server's endpoint that are not DynamoDB
/// calls (Streams, the Lambda API) are served by the server's router in
/// process, through the bridge; DynamoDB calls in wire form keep the whole
/// error body.
#[tokio::test]
async fn the_bridge_serves_streams_and_lambda_requests_in_process() {
    use std::sync::Arc;
    use tidepool::bridge::ServerBridge;
    use tidepool_runtime::{InvocationOrigin, StoreBridge};

    let h = common::harness().await;
    common::create_table(&h.client, "Tab", None).await;
    let bridge = Arc::new(ServerBridge::new(Arc::downgrade(&h.server.app)));
    let origin = InvocationOrigin {
        function_name: "f".into(),
        function_version: "$LATEST".into(),
        request_id: "r".into(),
        chain_depth: 0,
    };
    let streams = axum::http::Request::post("/")
        .header("x-amz-target", "DynamoDBStreams_20120810.ListStreams")
        .header("content-type", "application/x-amz-json-1.0")
        .body(axum::body::Bytes::from_static(b"{}"))
        .unwrap();
    let (b, o) = (bridge.clone(), origin.clone());
    let response = tokio::task::spawn_blocking(move || futures_block_on(b.http(streams, &o))).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert!(body["Streams"].is_array(), "{body}");
    let functions = axum::http::Request::get("/2015-03-31/functions/").body(axum::body::Bytes::new()).unwrap();
    let (b, o) = (bridge.clone(), origin.clone());
    let response = tokio::task::spawn_blocking(move || futures_block_on(b.http(functions, &o))).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert!(body["Functions"].is_array(), "{body}");
    // The control plane is not a handler's: a function's configuration, the
    // `/tidepool` endpoints; in exactly-once mode only Streams reads.
    for (method, path) in [("PUT", "/2015-03-31/functions/f/configuration"), ("POST", "/tidepool/reset")] {
        let request = axum::http::Request::builder().method(method).uri(path).body(axum::body::Bytes::new()).unwrap();
        let (b, o) = (bridge.clone(), origin.clone());
        let response = tokio::task::spawn_blocking(move || futures_block_on(b.http(request, &o))).await.unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
        assert_eq!(response.headers()["x-amzn-errortype"], "AccessDeniedException");
        // In Lambda's shape: `Message`, and a request id that is a UUID.
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert!(body["Message"].as_str().is_some_and(|m| m.contains("cannot be called by a handler")), "{body}");
        let id = response.headers()["x-amzn-requestid"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    // A Streams target on a control-plane path is that path's, and refused.
    let reset = axum::http::Request::post("/tidepool/reset")
        .header("x-amz-target", "DynamoDBStreams_20120810.ListStreams")
        .body(axum::body::Bytes::from_static(b"{}"))
        .unwrap();
    let (b, o) = (bridge.clone(), origin.clone());
    let response = tokio::task::spawn_blocking(move || futures_block_on(b.http(reset, &o))).await.unwrap();
    assert_eq!(response.status(), 403, "a Streams target does not open /tidepool/reset");
    let deferring = bridge.deferring().unwrap();
    let list = axum::http::Request::get("/2015-03-31/functions/").body(axum::body::Bytes::new()).unwrap();
    let o = origin.clone();
    let response = tokio::task::spawn_blocking(move || futures_block_on(deferring.http(list, &o))).await.unwrap();
    assert_eq!(response.status(), 403, "an exactly-once handler only reads Streams");
    // A failed condition in wire form: DynamoDB's status and error type.
    let put = serde_json::json!({
        "TableName": "Tab", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)",
    });
    let (b, o) = (bridge.clone(), origin.clone());
    let wire = tokio::task::spawn_blocking(move || b.call_wire("PutItem", &put.to_string(), &o)).await.unwrap();
    assert_eq!(wire.status, 400);
    assert!(wire.body.contains("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"), "{}", wire.body);
}

/// Drives a future on the calling (non-async) thread, as an invocation's
/// executor does.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
}

/// What an exactly-once handler's store calls see, through the server's own
/// deferring bridge: writes answered as if made, but committed only by the
/// replay into a unit of work; a replay whose condition no longer holds fails.
#[tokio::test]
async fn deferred_writes_are_answered_now_and_committed_by_replay() {
    use std::sync::Arc;
    use tidepool::bridge::ServerBridge;
    use tidepool_runtime::{InvocationOrigin, StoreBridge};

    let h = common::harness().await;
    common::create_table(&h.client, "Tab", None).await;
    let bridge = ServerBridge::new(Arc::downgrade(&h.server.app));
    let deferring = bridge.deferring().expect("the server's bridge defers");
    let origin = InvocationOrigin {
        function_name: "f".into(),
        function_version: "$LATEST".into(),
        request_id: "r".into(),
        chain_depth: 1,
    };
    let call = |op: &str, body: serde_json::Value| deferring.call(op, &body.to_string(), &origin);
    let add = serde_json::json!({
        "TableName": "Tab", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW",
    });
    // Each write is answered as it would run after the invocation's earlier ones.
    assert!(call("UpdateItem", add.clone()).unwrap().contains(r#""N":"1""#));
    assert!(call("UpdateItem", add.clone()).unwrap().contains(r#""N":"2""#));
    let put_new = serde_json::json!({
        "TableName": "Tab", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(pk)",
    });
    assert_eq!(call("PutItem", put_new.clone()).unwrap_err().error_type, "ConditionalCheckFailedException");
    // Reads see the committed store: nothing yet.
    let get = serde_json::json!({"TableName": "Tab", "Key": {"pk": {"S": "a"}}, "ConsistentRead": true});
    assert_eq!(call("GetItem", get).unwrap(), "{}");
    assert!(h.client.get_item().table_name("Tab").key("pk", s("a")).send().await.unwrap().item.is_none());
    let create = serde_json::json!({"TableName": "Other"});
    assert_eq!(call("CreateTable", create).unwrap_err().error_type, "ValidationException");
    let b_new = serde_json::json!({
        "TableName": "Tab", "Item": {"pk": {"S": "b"}}, "ConditionExpression": "attribute_not_exists(pk)",
    });
    call("PutItem", b_new).unwrap();
    // A write that changes nothing now is still replayed: by commit time it may.
    call("DeleteItem", serde_json::json!({"TableName": "Tab", "Key": {"pk": {"S": "gone"}}})).unwrap();
    // A transaction repeated with its token within the invocation applies once.
    let txn = serde_json::json!({
        "ClientRequestToken": "t1",
        "TransactItems": [{"Update": {
            "TableName": "Tab", "Key": {"pk": {"S": "t"}}, "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }}],
    });
    call("TransactWriteItems", txn.clone()).unwrap();
    assert_eq!(call("TransactWriteItems", txn.clone()).unwrap(), "{}");
    let mut other = txn.clone();
    other["TransactItems"][0]["Update"]["Key"]["pk"]["S"] = "u".into();
    assert_eq!(call("TransactWriteItems", other).unwrap_err().error_type, "IdempotentParameterMismatchException");
    let calls = deferring.take();
    let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        ops,
        ["UpdateItem", "UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems"],
        "failed writes are not recorded"
    );
    // Meanwhile another client creates the item the handler deleted.
    h.client.put_item().table_name("Tab").item("pk", s("gone")).send().await.unwrap();

    // The replay commits them, atomically with whatever else the unit holds.
    h.server
        .store
        .atomically(vec![(b"test/marker".to_vec(), Some(b"1".to_vec()))], |unit| {
            bridge.replay(&calls, unit).map_err(|e| tidepool_store::StoreError::Validation(e.to_string()))
        })
        .unwrap();
    let a = h.client.get_item().table_name("Tab").key("pk", s("a")).consistent_read(true).send().await.unwrap();
    assert_eq!(a.item.unwrap()["n"], n(2));
    assert_eq!(h.server.store.sys_get(b"test/marker").unwrap().as_deref(), Some(&b"1"[..]));
    let gone = h.client.get_item().table_name("Tab").key("pk", s("gone")).consistent_read(true).send().await.unwrap();
    assert!(gone.item.is_none(), "the replayed delete removed what was created in between");
    let t = h.client.get_item().table_name("Tab").key("pk", s("t")).consistent_read(true).send().await.unwrap();
    assert_eq!(t.item.unwrap()["n"], n(1), "the repeated transaction applied once");

    // Replayed again, the conditional put of `b` no longer holds: nothing of
    // the unit is written.
    let r = h.server.store.atomically(Vec::new(), |unit| {
        bridge.replay(&calls, unit).map_err(|e| tidepool_store::StoreError::Validation(e.to_string()))
    });
    assert!(r.unwrap_err().to_string().contains("ConditionalCheckFailed"));
    let a = h.client.get_item().table_name("Tab").key("pk", s("a")).consistent_read(true).send().await.unwrap();
    assert_eq!(a.item.unwrap()["n"], n(2), "the ADDs before the failed put were not committed");
}

/// `GET /tidepool/trace` on `table` and the item `key` (DynamoDB JSON).
async fn trace(server: &tidepool::Server, table: &str, key: serde_json::Value) -> serde_json::Value {
    let q = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let path = format!("/tidepool/trace?table={table}&key={}", q(&key.to_string()));
    let a = common::http::send(&server.addr.to_string(), "GET", &path, &[], b"").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json()
}

/// [`trace`] until it shows `invocations` invocations (an invocation is
/// recorded when its outcome is back, a moment after its writes land).
async fn trace_until(
    server: &tidepool::Server,
    table: &str,
    key: serde_json::Value,
    invocations: usize,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = trace(server, table, key.clone()).await;
        if t["Invocations"].as_array().map_or(0, Vec::len) >= invocations || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A trace follows a write to its stream record, the invocation whose
/// batch held it (with its log), and the items that invocation wrote; a
/// deleted item's REMOVE is found among the stream's newest records.
#[tokio::test]
async fn a_trace_follows_a_write_to_its_record_invocation_and_the_handlers_writes() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = leaderboard_manifest(dir.path(), "");
    let config = ServerConfig { manifest: Some(manifest), ..ServerConfig::default() };
    let server = start_with(&dir.path().join("data"), config).await;
    let c = client(&server.endpoint());
    c.put_item()
        .table_name("Scores")
        .item("player", s("ada"))
        .item("game", s("chess"))
        .item("score", n(10))
        .send()
        .await
        .unwrap();
    let want = BTreeMap::from([("chess".to_string(), 10)]);
    assert_eq!(wait_for(&c, Duration::from_secs(30), |t| *t == want).await, want);
    let key = serde_json::json!({"player": {"S": "ada"}, "game": {"S": "chess"}});
    let t = trace_until(&server, "Scores", key.clone(), 1).await;
    assert_eq!(t["Item"]["score"], serde_json::json!({"N": "10"}), "{t}");
    assert_eq!(t["Record"]["eventName"], "INSERT", "{t}");
    assert_eq!(t["Record"]["dynamodb"]["Keys"], key, "{t}");
    let inv = &t["Invocations"][0];
    assert_eq!(inv["FunctionName"], "leaderboard", "{t}");
    assert_eq!(inv["BatchSize"], 1, "{t}");
    assert!(inv["FunctionError"].is_null(), "{t}");
    let request = inv["RequestId"].as_str().unwrap();
    let log: Vec<&str> = inv["Log"].as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
    assert!(log.iter().any(|l| l.starts_with("START RequestId: ") && l.contains(request)), "{t}");
    assert_eq!(
        inv["Writes"],
        serde_json::json!([{"Operation": "UpdateItem", "TableName": "Leaderboard", "Key": {"game": {"S": "chess"}}}]),
        "{t}"
    );
    // The handler's write traced in turn: Leaderboard has no stream.
    let t2 = trace(&server, "Leaderboard", serde_json::json!({"game": {"S": "chess"}})).await;
    assert_eq!(t2["Item"]["total"], serde_json::json!({"N": "10"}), "{t2}");
    assert!(t2["Record"].is_null(), "{t2}");

    // A deleted item: its REMOVE record, and the invocation of it.
    c.delete_item().table_name("Scores").key("player", s("ada")).key("game", s("chess")).send().await.unwrap();
    let want = BTreeMap::from([("chess".to_string(), 0)]);
    assert_eq!(wait_for(&c, Duration::from_secs(30), |t| *t == want).await, want);
    let t = trace_until(&server, "Scores", key, 1).await;
    assert!(t["Item"].is_null(), "{t}");
    assert_eq!(t["Record"]["eventName"], "REMOVE", "{t}");
    assert_eq!(t["Invocations"].as_array().map(Vec::len), Some(1), "{t}");
    assert_ne!(t["Invocations"][0]["RequestId"].as_str(), Some(request), "{t}");

    // Bad requests answer the Lambda API's errors.
    let addr = server.addr.to_string();
    let a = common::http::send(&addr, "GET", "/tidepool/trace?table=Scores", &[], b"").await;
    a.lambda_error(400, "InvalidParameterValueException");
    let a = common::http::send(&addr, "GET", "/tidepool/trace?table=Nope&key=%7B%7D", &[], b"").await;
    a.lambda_error(404, "ResourceNotFoundException");
    let a = common::http::send(&addr, "GET", "/tidepool/trace?table=Scores&key=%5B%5D", &[], b"").await;
    a.lambda_error(400, "InvalidParameterValueException");
    // No job: a 404, or with `missing=idle` (the console's restore view), idle.
    let a = common::http::send(&addr, "GET", "/tidepool/progress/restore:Nope", &[], b"").await;
    a.lambda_error(404, "ResourceNotFoundException");
    let a = common::http::send(&addr, "GET", "/tidepool/progress/restore:Nope?missing=idle", &[], b"").await;
    assert_eq!((a.status, a.json()), (200, serde_json::json!({"Id": "restore:Nope", "Running": false})));
    server.stop().await.unwrap();
}

/// A server stopping (SIGTERM) interrupts the batches under way, as their
/// timeout would, rather than wait for them: their results would not be
/// checkpointed, and a worker's shards go to another worker at once, which
/// must not run the same batch beside them. The batch is delivered again
/// after the restart.
#[tokio::test]
async fn a_stopping_server_interrupts_the_batches_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("tidepool.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[[table]]
name = "Slow"
partition_key = "pk:S"
stream = "NEW_IMAGE"

[[function]]
name = "slow"
code = "{}"
timeout = 600
environment = {{ ON_RECORDS = '{{"action":"sleep","ms":300000}}' }}

[[mapping]]
function = "slow"
table = "Slow"
StartingPosition = "TRIM_HORIZON"
"#,
            example_path("misbehave").display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (mut child, endpoint) = spawn_server(&data, &manifest);
    let c = client(&endpoint);
    c.put_item().table_name("Slow").item("pk", s("a")).send().await.unwrap();
    // Until the handler runs (ConcurrentExecutions 1).
    let addr = endpoint.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = common::http::send(&addr, "GET", "/metrics", &[], b"").await;
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        if text.lines().any(|l| l.starts_with("aws_lambda_concurrent_executions{") && l.ends_with(" 1")) {
            break;
        }
        assert!(Instant::now() < deadline, "the handler never started: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    // It stops long before the handler's five minutes are up.
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(60), "the server waited for its handler to finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean stop: {status:?}");
}
