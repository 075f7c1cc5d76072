//! Issue 20: a worker (`tidepool workers --source URL`) runs functions and
//! event source mappings on another engine's stream, read through its
//! DynamoDB Streams API, and its handlers' calls go to that engine.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_lambda::types::EventSourcePosition;
use common::{attr_def, client, lambda_client, new_and_old_images, s};
use tidepool::ServerConfig;
use tidepool_store::stream::StreamConfig;

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut ok: impl FnMut() -> F) {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `Scores` (player, game; a stream with both images) and `Leaderboard`
/// (game) on `c`; the `Scores` stream's ARN.
async fn tables(c: &Client) -> String {
    c.create_table()
        .table_name("Scores")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr_def("player", ScalarAttributeType::S))
        .attribute_definitions(attr_def("game", ScalarAttributeType::S))
        .key_schema(KeySchemaElement::builder().attribute_name("player").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("game").key_type(KeyType::Range).build().unwrap())
        .stream_specification(new_and_old_images())
        .send()
        .await
        .expect("Scores");
    c.create_table()
        .table_name("Leaderboard")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr_def("game", ScalarAttributeType::S))
        .key_schema(KeySchemaElement::builder().attribute_name("game").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .expect("Leaderboard");
    c.describe_table().table_name("Scores").send().await.unwrap().table.unwrap().latest_stream_arn.unwrap()
}

async fn put_score(c: &Client, player: &str, game: &str, score: i64) {
    c.put_item()
        .table_name("Scores")
        .item("player", s(player))
        .item("game", s(game))
        .item("score", AttributeValue::N(score.to_string()))
        .send()
        .await
        .expect("put a score");
}

/// `Leaderboard`'s totals on `c`.
async fn totals(c: &Client) -> BTreeMap<String, i64> {
    let items = c.scan().table_name("Leaderboard").send().await.expect("scan").items.unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            let game = i.get("game")?.as_s().ok()?.clone();
            let total = i.get("total")?.as_n().ok()?.parse().ok()?;
            Some((game, total))
        })
        .collect()
}

/// A worker delivers another engine's stream to its function with the
/// mapping's semantics: every record once, across shards that close and
/// open (the source rolls its shards over every second), and the handler's
/// writes land in the source engine, not in the worker's own store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_a_trigger_on_another_engines_stream() {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let streams = StreamConfig { shards: 2, rollover: Duration::from_secs(1), ..StreamConfig::default() };
    let source = common::start_with(d1.path(), ServerConfig { streams, ..ServerConfig::default() }).await;
    let sc = client(&source.endpoint());
    let arn = tables(&sc).await;
    // Written before the worker exists: a TRIM_HORIZON mapping delivers them.
    for (player, score) in [("ann", 10), ("bob", 20)] {
        put_score(&sc, player, "g1", score).await;
    }

    let worker = common::start_with(
        d2.path(),
        ServerConfig { stream_source: Some(source.endpoint()), ..ServerConfig::default() },
    )
    .await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;

    // A stream the source does not have is refused, as on AWS.
    let missing = arn.replace("Scores", "Nothing");
    let e = lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&missing)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .expect_err("a missing stream");
    assert_eq!(e.as_service_error().and_then(|e| e.meta().code()), Some("InvalidParameterValueException"), "{e:?}");
    let uuid = lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(7)
        .send()
        .await
        .expect("the mapping")
        .uuid
        .unwrap();

    // Writes, updates and a delete, spread over several shard generations.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    expected.insert("g1".into(), 30);
    for round in 0..4 {
        for i in 0..10 {
            let game = format!("g{}", i % 3);
            put_score(&sc, &format!("p{round}-{i}"), &game, i64::from(i + 1)).await;
            *expected.entry(game).or_default() += i64::from(i + 1);
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    put_score(&sc, "ann", "g1", 15).await;
    *expected.entry("g1".into()).or_default() += 5;
    sc.delete_item().table_name("Scores").key("player", s("bob")).key("game", s("g1")).send().await.expect("delete");
    *expected.entry("g1".into()).or_default() -= 20;

    eventually("the source's leaderboard to add up", || async { totals(&sc).await == expected }).await;
    // The handler's writes went to the source engine only.
    let wc = client(&worker.endpoint());
    assert!(wc.describe_table().table_name("Leaderboard").send().await.is_err(), "the worker has no Leaderboard");
    // The mapping reports its shards on the worker.
    let m = lambda.get_event_source_mapping().uuid(&uuid).send().await.expect("the mapping");
    assert_eq!(m.event_source_arn(), Some(arn.as_str()));
    assert_eq!(m.last_processing_result(), Some("OK"));

    // Nothing more arrives: every record was delivered once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(totals(&sc).await, expected);
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// A mapping that starts at `LATEST` on another engine delivers what is
/// written after it started, not what was there before, and a worker that
/// restarts goes on from its checkpoints. A Tidepool source says where its
/// shard's newest record is, so the position is fixed in the lease before
/// any record comes: what is written while no worker holds the shard is
/// delivered too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_starts_at_latest_and_resumes_after_a_restart() {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let streams = StreamConfig { shards: 1, ..StreamConfig::default() };
    let source = common::start_with(d1.path(), ServerConfig { streams, ..ServerConfig::default() }).await;
    let sc = client(&source.endpoint());
    let arn = tables(&sc).await;
    put_score(&sc, "old", "g", 1000).await;

    let config = || ServerConfig { stream_source: Some(source.endpoint()), ..ServerConfig::default() };
    let worker = common::start_with(d2.path(), config()).await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::Latest)
        .send()
        .await
        .expect("the mapping");
    eventually("the LATEST position fixed in the lease", || async {
        let leases = sc.scan().table_name("tidepool-leases").send().await.map(|o| o.items.unwrap_or_default());
        let checkpoints: Vec<String> = leases
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.get("checkpoint").and_then(|c| c.as_s().ok()).cloned())
            .collect();
        checkpoints.len() == 1 && checkpoints[0] != "LATEST"
    })
    .await;
    worker.stop().await.expect("stop the worker");
    // Written while no worker holds the shard: after the start, delivered.
    put_score(&sc, "a", "g", 1).await;
    let worker = common::start_with(d2.path(), config()).await;
    eventually("the record written while no worker held the shard", || async {
        totals(&sc).await.get("g") == Some(&1)
    })
    .await;

    // Restarted, the worker goes on from its checkpoint.
    worker.stop().await.expect("stop the worker");
    put_score(&sc, "b", "g", 2).await;
    let worker = common::start_with(d2.path(), config()).await;
    put_score(&sc, "c", "g", 4).await;
    eventually("the records after the restart", || async { totals(&sc).await.get("g") == Some(&7) }).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(totals(&sc).await.get("g"), Some(&7), "no record twice, and not the old one");
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// The worker needs nothing of Tidepool in its source: the same trigger on
/// moto's DynamoDB Streams (an independent implementation, from PyPI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_a_trigger_on_motos_stream() {
    let moto = common::moto().await;
    let mc = client(&moto.endpoint);
    let arn = tables(&mc).await;
    put_score(&mc, "ann", "g", 10).await;

    let dir = tempfile::tempdir().expect("dir");
    let worker = common::start_with(
        dir.path(),
        ServerConfig { stream_source: Some(moto.endpoint.clone()), ..ServerConfig::default() },
    )
    .await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(3)
        .send()
        .await
        .expect("the mapping");
    let mut total = 10;
    for i in 1..=8 {
        put_score(&mc, &format!("p{i}"), "g", i).await;
        total += i;
    }
    put_score(&mc, "ann", "g", 15).await;
    total += 5;
    mc.delete_item().table_name("Scores").key("player", s("p8")).key("game", s("g")).send().await.expect("delete");
    total -= 8;
    eventually("moto's leaderboard to add up", || async { totals(&mc).await.get("g") == Some(&total) }).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(totals(&mc).await.get("g"), Some(&total), "every record once");
    worker.stop().await.expect("stop the worker");
}

/// A Tidepool source's push subscription (`WaitForRecords`, Tidepool's
/// extension of the Streams API): it answers once a record past the given
/// sequence number is durable, or when its time runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tidepool_source_pushes_new_records_to_a_waiting_consumer() {
    let dir = tempfile::tempdir().expect("dir");
    let streams = StreamConfig { shards: 1, ..StreamConfig::default() };
    let source = common::start_with(dir.path(), ServerConfig { streams, ..ServerConfig::default() }).await;
    let sc = client(&source.endpoint());
    let arn = tables(&sc).await;
    put_score(&sc, "ann", "g", 1).await;
    let desc = common::streams_client(&source.endpoint()).describe_stream().stream_arn(&arn).send().await.unwrap();
    let shard = desc.stream_description.unwrap().shards.unwrap()[0].shard_id.clone().unwrap();
    let addr = source.addr.to_string();
    let wait = |body: serde_json::Value| {
        let addr = addr.clone();
        async move {
            let headers = [
                ("x-amz-target", "DynamoDBStreams_20120810.WaitForRecords"),
                ("content-type", "application/x-amz-json-1.0"),
            ];
            common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await
        }
    };

    // A record is there: at once, with its number.
    let a = wait(serde_json::json!({"StreamArn": arn, "ShardId": shard})).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let first = a.json()["LastSequenceNumber"].as_str().expect("a number").to_string();
    assert_eq!(a.json()["TimedOut"], false);
    // Nothing past it: the wait runs out.
    let a = wait(
        serde_json::json!({"StreamArn": arn, "ShardId": shard, "AfterSequenceNumber": first, "TimeoutMillis": 50}),
    )
    .await;
    assert_eq!(a.json()["TimedOut"], true, "{:?}", a.json());
    // A write wakes a waiting consumer.
    let request = wait(
        serde_json::json!({"StreamArn": arn, "ShardId": shard, "AfterSequenceNumber": first, "TimeoutMillis": 20000}),
    );
    let waiting = tokio::spawn(async move {
        let a = request.await;
        (a, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = Instant::now();
    put_score(&sc, "bob", "g", 2).await;
    let (a, answered) = waiting.await.expect("the wait");
    assert!(answered >= written, "the wait answered before the write");
    assert_eq!(a.json()["TimedOut"], false, "{:?}", a.json());
    let next = a.json()["LastSequenceNumber"].as_str().expect("a number").to_string();
    assert!(next > first, "{next} after {first}");
    // Bad requests get the API's errors.
    let a = wait(serde_json::json!({"StreamArn": arn, "ShardId": shard, "TimeoutMillis": 20001})).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["__type"].as_str().unwrap().ends_with("ValidationException"), "{:?}", a.json());
    let a = wait(serde_json::json!({"StreamArn": arn, "ShardId": "shardId-nothing"})).await;
    assert!(a.json()["__type"].as_str().unwrap().ends_with("ResourceNotFoundException"), "{:?}", a.json());
    source.stop().await.expect("stop the source");
}

/// A worker applies a manifest: its functions and mappings, each mapping
/// on the named table of the source engine (waiting for the source to make
/// it); the manifest's tables are the source's, so the worker makes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_applies_a_manifest_whose_mappings_name_the_sources_tables() {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let source = common::start_with(d1.path(), ServerConfig::default()).await;
    let sc = client(&source.endpoint());
    // The source makes its tables a moment after the worker starts: the
    // worker's manifest waits for them.
    let making = {
        let sc = sc.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            tables(&sc).await;
            put_score(&sc, "ann", "g", 5).await;
        })
    };
    let manifest = d2.path().join("tidepool.toml");
    std::fs::write(
        &manifest,
        r#"
[[table]]
name = "Scores"
partition_key = "player:S"
sort_key = "game:S"
stream = "NEW_AND_OLD_IMAGES"

[[function]]
name = "leaderboard"
code = "example:leaderboard"

[[mapping]]
function = "leaderboard"
table = "Scores"
StartingPosition = "TRIM_HORIZON"
"#,
    )
    .unwrap();
    let config =
        ServerConfig { stream_source: Some(source.endpoint()), manifest: Some(manifest), ..ServerConfig::default() };
    let worker = common::start_with(&d2.path().join("data"), config).await;
    making.await.expect("the source's tables");
    put_score(&sc, "bob", "g", 7).await;
    eventually("the source's leaderboard", || async { totals(&sc).await.get("g") == Some(&12) }).await;
    let wc = client(&worker.endpoint());
    assert!(wc.list_tables().send().await.unwrap().table_names().is_empty(), "the worker made no table");
    let mappings = lambda_client(&worker.endpoint()).list_event_source_mappings().send().await.unwrap();
    let arn = sc.describe_table().table_name("Scores").send().await.unwrap().table.unwrap().latest_stream_arn;
    assert_eq!(mappings.event_source_mappings()[0].event_source_arn(), arn.as_deref());
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// A worker's manifest: the leaderboard, on the source's `Scores`, in
/// exactly-once mode, 70 % of its invocations failing after their writes
/// (so that of a handful of batches, one fails all but surely: 0.3⁵ of a
/// run of five sees none).
fn exactly_once_manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tidepool.toml");
    std::fs::write(
        &path,
        r#"
[[function]]
name = "leaderboard"
code = "example:leaderboard"
timeout = 10
environment = { FAIL_AFTER_WRITES = "0.7" }

[[mapping]]
function = "leaderboard"
table = "Scores"
StartingPosition = "TRIM_HORIZON"
BatchSize = 3
MaximumRetryAttempts = -1
ExactlyOnce = true
"#,
    )
    .unwrap();
    path
}

/// Exactly-once on a worker: the handler's writes and the checkpoint commit
/// in one TransactWriteItems of the source engine. Invocations that fail
/// after their writes are retried, two shards add to the same totals (their
/// commits conflict and are delivered again), and every total on the source
/// comes out exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_exactly_once_writes_commit_with_its_checkpoints_in_the_source() {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let streams = StreamConfig { shards: 2, ..StreamConfig::default() };
    let source = common::start_with(d1.path(), ServerConfig { streams, ..ServerConfig::default() }).await;
    let sc = client(&source.endpoint());
    tables(&sc).await;
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    let put = |want: &mut BTreeMap<String, i64>, i: i64| {
        let game = format!("g{}", i % 3);
        *want.entry(game.clone()).or_default() += i;
        let sc = sc.clone();
        async move { put_score(&sc, &format!("p{i}"), &game, i).await }
    };
    for i in 1..=15 {
        put(&mut want, i).await;
    }
    let config = ServerConfig {
        stream_source: Some(source.endpoint()),
        manifest: Some(exactly_once_manifest(d2.path())),
        ..ServerConfig::default()
    };
    let worker = common::start_with(&d2.path().join("data"), config).await;
    // Some written while the worker delivers.
    for i in 16..=30 {
        put(&mut want, i).await;
    }
    eventually("the source's leaderboard to add up", || async { totals(&sc).await == want }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(totals(&sc).await, want, "no retried batch applied its writes twice");
    let lambda = worker.app.lambda.get().unwrap();
    let mapping = &lambda.mappings(None, None)[0];
    assert!(mapping.exactly_once);
    let metrics = lambda.engine.metrics(&mapping.uuid).unwrap();
    assert!(metrics.total.failed > 0, "some invocations failed and were retried: {metrics:?}");
    // The handler's writes went to the source only; the checkpoints are in
    // its lease table.
    let wc = client(&worker.endpoint());
    assert!(wc.list_tables().send().await.unwrap().table_names().is_empty(), "the worker made no table");
    let leases = sc.scan().table_name("tidepool-leases").send().await.expect("the lease table");
    assert!(leases.items().iter().any(|l| l.get("checkpointState").is_some()), "{leases:?}");
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// The same on moto (an independent engine, from PyPI): the net writes'
/// conditions and the lease's update in one TransactWriteItems are
/// DynamoDB's, not Tidepool's dialect. (One worker, one shard: moto's
/// conditions are not atomic under concurrent requests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_exactly_once_writes_commit_in_motos_transactions() {
    let moto = common::moto().await;
    let mc = client(&moto.endpoint);
    tables(&mc).await;
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for i in 1..=12 {
        let game = format!("g{}", i % 2);
        put_score(&mc, &format!("p{i}"), &game, i).await;
        *want.entry(game).or_default() += i;
    }
    let dir = tempfile::tempdir().expect("dir");
    let config = ServerConfig {
        stream_source: Some(moto.endpoint.clone()),
        manifest: Some(exactly_once_manifest(dir.path())),
        ..ServerConfig::default()
    };
    let worker = common::start_with(&dir.path().join("data"), config).await;
    // A score changed and one deleted: updates and deletes count once too.
    put_score(&mc, "p1", "g1", 100).await;
    *want.entry("g1".into()).or_default() += 99;
    mc.delete_item().table_name("Scores").key("player", s("p2")).key("game", s("g0")).send().await.expect("delete");
    *want.entry("g0".into()).or_default() -= 2;
    eventually("moto's leaderboard to add up", || async { totals(&mc).await == want }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(totals(&mc).await, want, "no retried batch applied its writes twice");
    let lambda = worker.app.lambda.get().unwrap();
    let metrics = lambda.engine.metrics(&lambda.mappings(None, None)[0].uuid).unwrap();
    assert!(metrics.total.failed > 0, "some invocations failed and were retried: {metrics:?}");
    assert_eq!(metrics.last_processing_result, "OK", "{metrics:?}");
    worker.stop().await.expect("stop the worker");
}

/// A worker's exactly-once bridge, as a handler's calls meet it: writes are
/// answered as the source would answer them after the invocation's earlier
/// writes, reads see the source's committed items, nothing reaches the
/// source until the commit, and an invocation's writes stop at 99 items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_exactly_once_bridge_answers_as_the_source_and_defers_the_writes() {
    use std::sync::Arc;
    use tidepool_runtime::{InvocationOrigin, StoreBridge};

    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let source = common::start_with(d1.path(), ServerConfig::default()).await;
    let sc = client(&source.endpoint());
    tables(&sc).await;
    let put = sc.put_item().table_name("Leaderboard").item("game", s("g0"));
    put.item("total", AttributeValue::N("5".into())).send().await.expect("a total");
    let config = ServerConfig { stream_source: Some(source.endpoint()), ..ServerConfig::default() };
    let worker = common::start_with(d2.path(), config).await;
    let bridge = tidepool::bridge::ServerBridge::new(Arc::downgrade(&worker.app));
    let deferring = bridge.deferring().expect("a worker defers exactly-once writes");
    let actions = tokio::task::spawn_blocking(move || {
        let origin = InvocationOrigin {
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            request_id: "r".into(),
            chain_depth: 1,
        };
        let call = |op: &str, request: serde_json::Value| deferring.call(op, &request.to_string(), &origin);
        let add = |n: i64| {
            serde_json::json!({"TableName": "Leaderboard", "Key": {"game": {"S": "g0"}}, "UpdateExpression": "ADD #t :d", "ExpressionAttributeNames": {"#t": "total"},
                "ExpressionAttributeValues": {":d": {"N": n.to_string()}}, "ReturnValues": "UPDATED_NEW"})
        };
        let answer: serde_json::Value = serde_json::from_str(&call("UpdateItem", add(2)).unwrap()).unwrap();
        assert_eq!(answer["Attributes"]["total"]["N"], "7", "answered after the source's item");
        let answer: serde_json::Value = serde_json::from_str(&call("UpdateItem", add(3)).unwrap()).unwrap();
        assert_eq!(answer["Attributes"]["total"]["N"], "10", "and after the invocation's earlier write");
        let e = call(
            "PutItem",
            serde_json::json!({"TableName": "Leaderboard", "Item": {"game": {"S": "g0"}},
                "ConditionExpression": "attribute_not_exists(game)"}),
        )
        .unwrap_err();
        assert_eq!(e.error_type, "ConditionalCheckFailedException");
        // Reads see what the source has committed.
        let read = call("GetItem", serde_json::json!({"TableName": "Leaderboard", "Key": {"game": {"S": "g0"}}}));
        let read: serde_json::Value = serde_json::from_str(&read.unwrap()).unwrap();
        assert_eq!(read["Item"]["total"]["N"], "5");
        let e = call("ExecuteStatement", serde_json::json!({"Statement": "DELETE FROM Leaderboard WHERE game = 'g0'"}))
            .unwrap_err();
        assert_eq!(e.error_type, "ValidationException", "{e}");
        // 98 more items make 99; the 100th does not fit the transaction.
        for i in 1..=98 {
            let item = serde_json::json!({"TableName": "Leaderboard", "Item": {"game": {"S": format!("g{i}")}, "total": {"N": "1"}}});
            call("PutItem", item).expect("an item that fits");
        }
        let item = serde_json::json!({"TableName": "Leaderboard", "Item": {"game": {"S": "g99"}, "total": {"N": "1"}}});
        let e = call("PutItem", item).unwrap_err();
        assert_eq!(e.error_type, "ValidationException");
        assert!(e.message.contains("at most 99 items per batch"), "{e}");
        deferring.take()
    })
    .await
    .expect("the handler's calls");
    // One net action per item: g0's update of its total, as read.
    assert_eq!(actions.len(), 99);
    let first: serde_json::Value = serde_json::from_str(&actions[0].request_json).unwrap();
    let update = &first["Update"];
    assert_eq!(update["UpdateExpression"], "SET #n1 = :v1", "{first}");
    assert_eq!(update["ExpressionAttributeValues"][":v1"], serde_json::json!({"N": "10"}), "{first}");
    assert_eq!(update["ExpressionAttributeValues"][":v0"], serde_json::json!({"N": "5"}), "as read: {first}");
    let last: serde_json::Value = serde_json::from_str(&actions[98].request_json).unwrap();
    assert_eq!(last["Put"]["ConditionExpression"], "attribute_not_exists(#n0)", "{last}");
    // Nothing reached the source.
    assert_eq!(totals(&sc).await, BTreeMap::from([("g0".to_string(), 5)]));
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// An engine without transactions, as far as a worker can tell: every
/// request is answered as an engine that does not know its operation
/// answers (DynamoDB's `UnknownOperationException`).
async fn engine_without_transactions() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            r#"{"__type":"com.amazon.coral.service#UnknownOperationException","message":"An unknown operation was requested."}"#,
        )
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// On an engine without transactions an exactly-once mapping is refused
/// when it is made, with the reason; an at-least-once one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_exactly_once_on_an_engine_without_transactions() {
    let (url, stub) = engine_without_transactions().await;
    let dir = tempfile::tempdir().expect("dir");
    let worker =
        common::start_with(dir.path(), ServerConfig { stream_source: Some(url), ..ServerConfig::default() }).await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/Scores/stream/2026-01-01T00:00:00.000";
    let addr = worker.addr.to_string();
    let json = [("content-type", "application/json")];
    let create = |exactly_once: bool| {
        let body = serde_json::json!({
            "FunctionName": "leaderboard", "EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON",
            "ExactlyOnce": exactly_once, "Enabled": false,
        });
        let addr = addr.clone();
        async move {
            common::http::send(&addr, "POST", "/2015-03-31/event-source-mappings/", &json, body.to_string().as_bytes())
                .await
        }
    };
    let a = create(true).await;
    let message = a.lambda_error(400, "InvalidParameterValueException")["Message"].to_string();
    assert!(message.contains("ExactlyOnce on a worker needs a source engine with transactions"), "{message}");
    assert!(message.contains("UnknownOperationException"), "the engine's answer is named: {message}");
    assert!(lambda.list_event_source_mappings().send().await.unwrap().event_source_mappings().is_empty());
    // At-least-once needs no transaction; turning it exactly-once is refused too.
    let a = create(false).await;
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    let uuid = a.json()["UUID"].as_str().expect("a UUID").to_string();
    let update = serde_json::json!({"ExactlyOnce": true});
    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    let a = common::http::send(&addr, "PUT", &path, &json, update.to_string().as_bytes()).await;
    let message = a.lambda_error(400, "InvalidParameterValueException")["Message"].to_string();
    assert!(message.contains("needs a source engine with transactions"), "{message}");
    let m = lambda.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(m.state(), Some("Disabled"), "the mapping is as it was");
    worker.stop().await.expect("stop the worker");
    stub.abort();
}

/// A proxy in front of a source engine that counts the lease table's
/// checkpoint writes answered 200 and answers `WaitForRecords` as an engine
/// without it (so the worker polls): its URL, the count, and its task.
async fn counting_proxy(
    source: &str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>, tokio::task::JoinHandle<()>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use tidepool_runtime::endpoint::{Endpoint, Service};
    let upstream = std::sync::Arc::new(Endpoint::new(source, "us-east-1").expect("the source's endpoint"));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (up, counted) = (upstream.clone(), count.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (up, counted) = (up.clone(), counted.clone());
        async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let (prefix, op) = target.split_once('.').unwrap_or_default();
            let json_type = [("content-type", "application/x-amz-json-1.0")];
            if op == "WaitForRecords" {
                let unknown = r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#;
                return (StatusCode::BAD_REQUEST, json_type, unknown.as_bytes().to_vec());
            }
            let service = if prefix.starts_with("DynamoDBStreams") { Service::Streams } else { Service::DynamoDb };
            let (status, answer) = match up.call_raw(service, op, body.to_vec()).await {
                Ok(a) => a,
                Err(e) => return (StatusCode::BAD_GATEWAY, json_type, e.to_string().into_bytes()),
            };
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let checkpoint = op == "UpdateItem"
                && request["TableName"] == "tidepool-leases"
                && request["UpdateExpression"].as_str().is_some_and(|u| u.contains("checkpoint = :c"));
            if checkpoint && status == 200 {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), json_type, answer)
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, count, task)
}

/// The worker's mappings as `GET /tidepool/mappings` shows them: the first.
async fn shown_mapping(worker: &tidepool::Server) -> serde_json::Value {
    let a = common::http::send(&worker.addr.to_string(), "GET", "/tidepool/mappings", &[], b"").await;
    assert_eq!(a.status, 200);
    a.json()["Mappings"][0].clone()
}

/// The shards a shown mapping holds, and those its metrics list.
fn held_and_shown(m: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let held = m["Leases"]["Held"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).map(str::to_string);
    let shown = m["Metrics"]["shards"].as_object().into_iter().flat_map(|o| o.keys().cloned());
    (held.collect(), shown.collect())
}

/// `aws_lambda_iterator_age` of the leaderboard function on `/metrics`.
async fn iterator_age_metric(worker: &tidepool::Server) -> Option<f64> {
    let a = common::http::send(&worker.addr.to_string(), "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8_lossy(&a.body).into_owned();
    let line = text.lines().find(|l| l.starts_with(r#"aws_lambda_iterator_age{function_name="leaderboard"}"#))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// Per shard of the source's stream, the sequence number of its last record.
async fn last_records(source: &str, arn: &str) -> BTreeMap<String, Option<String>> {
    let streams = common::streams_client(source);
    let desc = streams.describe_stream().stream_arn(arn).send().await.expect("the stream");
    let mut out = BTreeMap::new();
    for shard in desc.stream_description().map(|d| d.shards()).unwrap_or_default() {
        let id = shard.shard_id().unwrap_or_default().to_string();
        let it = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("an iterator");
        let page = streams.get_records().shard_iterator(it.shard_iterator().unwrap()).send().await.expect("records");
        let last = page.records().last().and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number());
        out.insert(id, last.map(str::to_string));
    }
    out
}

/// Issue 20's findings, through the real servers: a worker writes one
/// conditional checkpoint per batch (not one more for the gap before a
/// record: a shard's sequence numbers are sparse), each naming the last
/// record done, and a shard nothing was read from keeps `TRIM_HORIZON`;
/// caught up, its iterator age reads 0 in its mappings view and on
/// `/metrics`; and a shard whose lease another worker takes leaves its
/// view, its counts staying in the totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_checkpoints_once_per_batch_and_reports_only_the_shards_it_holds() {
    let (d1, d2, d3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let streams = StreamConfig { shards: 2, ..StreamConfig::default() };
    let source = common::start_with(d1.path(), ServerConfig { streams, ..ServerConfig::default() }).await;
    let sc = client(&source.endpoint());
    let arn = tables(&sc).await;
    let (proxy, checkpoints, proxy_task) = counting_proxy(&source.endpoint()).await;
    // Leases renewed after 11 minutes at the soonest: every write of the
    // lease table in this test is a take or a checkpoint.
    let config = |url: String| ServerConfig {
        stream_source: Some(url),
        lease_duration: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let worker = common::start_with(d2.path(), config(proxy)).await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    let mapping = || {
        lambda
            .create_event_source_mapping()
            .function_name("leaderboard")
            .event_source_arn(&arn)
            .starting_position(EventSourcePosition::TrimHorizon)
            .send()
    };
    mapping().await.expect("the mapping");
    eventually("both leases", || async { held_and_shown(&shown_mapping(&worker).await).0.len() == 2 }).await;

    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..3 {
        put_score(&sc, &format!("p{i}"), "g", 1).await;
        *expected.entry("g".into()).or_default() += 1;
    }
    eventually("the first records", || async { totals(&sc).await == expected }).await;
    // One shard had no record yet, or both had: none was checkpointed
    // before a record of it was done.
    let leases = sc.scan().table_name("tidepool-leases").send().await.expect("the lease table");
    let lasts = last_records(&source.endpoint(), &arn).await;
    for (shard, last) in &lasts {
        if last.is_none() {
            let lease = leases.items().iter().find(|l| l.get("leaseKey").and_then(|k| k.as_s().ok()) == Some(shard));
            let cp = lease.and_then(|l| l.get("checkpoint")).and_then(|c| c.as_s().ok());
            assert_eq!(cp.map(String::as_str), Some("TRIM_HORIZON"), "{shard}: a fresh lease's checkpoint");
        }
    }
    for i in 3..24 {
        put_score(&sc, &format!("p{i}"), "g", 1).await;
        *expected.entry("g".into()).or_default() += 1;
    }
    eventually("every record", || async { totals(&sc).await == expected }).await;
    // One conditional checkpoint write per batch.
    let invocations = || async { shown_mapping(&worker).await["Metrics"]["total"]["invocations"].as_u64().unwrap() };
    eventually("a checkpoint per batch", || async {
        checkpoints.load(std::sync::atomic::Ordering::SeqCst) as u64 == invocations().await
    })
    .await;
    // Each lease's checkpoint is its shard's last record.
    let lasts = last_records(&source.endpoint(), &arn).await;
    let leases = sc.scan().table_name("tidepool-leases").send().await.expect("the lease table");
    for (shard, last) in &lasts {
        let lease = leases.items().iter().find(|l| l.get("leaseKey").and_then(|k| k.as_s().ok()) == Some(shard));
        let cp = lease.and_then(|l| l.get("checkpoint")).and_then(|c| c.as_s().ok()).cloned();
        assert_eq!(cp, Some(last.clone().unwrap_or_else(|| "TRIM_HORIZON".into())), "the checkpoint of {shard}");
    }
    // Caught up: no lag, in the view and the metric.
    eventually("an iterator age of 0", || async {
        let m = shown_mapping(&worker).await;
        let (held, shown) = held_and_shown(&m);
        m["Metrics"]["total"]["iteratorAgeMs"] == 0
            && held == shown
            && shown.iter().all(|s| m["Metrics"]["shards"][s]["iteratorAgeMs"] == 0)
            && iterator_age_metric(&worker).await == Some(0.0)
    })
    .await;

    // A second worker takes one of the two shards at its first pass; the
    // first drops it at its next checkpoint there, and shows only the
    // shard it holds.
    let before = invocations().await;
    // The second worker looks every 30 s (a third of its 90 s duration), so
    // a first pass that comes before its view of the stream (a pass skips
    // shards it has not seen yet) is followed by another within the wait;
    // the first worker's other lease cannot expire in its eyes before 90 s.
    let second = common::start_with(
        d3.path(),
        ServerConfig { lease_duration: Duration::from_secs(90), ..config(source.endpoint()) },
    )
    .await;
    let lambda2 = lambda_client(&second.endpoint());
    common::create_example_function(&lambda2, "leaderboard").await;
    lambda2
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .expect("the second worker's mapping");
    let start = Instant::now();
    while held_and_shown(&shown_mapping(&second).await).0.len() != 1 {
        assert!(start.elapsed() < Duration::from_secs(75), "timed out waiting for the second worker's lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut i = 100;
    eventually("the first worker to let the shard go", || {
        i += 1;
        let (sc, player) = (sc.clone(), format!("p{i}"));
        let worker = &worker;
        async move {
            put_score(&sc, &player, "g", 1).await;
            let m = shown_mapping(worker).await;
            let (held, shown) = held_and_shown(&m);
            held.len() == 1 && held == shown
        }
    })
    .await;
    assert!(invocations().await >= before, "a released shard's counts stay in the totals");
    eventually("the first worker caught up again", || async {
        let m = shown_mapping(&worker).await;
        let (held, shown) = held_and_shown(&m);
        m["Metrics"]["total"]["iteratorAgeMs"] == 0 && held == shown && held.len() == 1
    })
    .await;
    second.stop().await.expect("stop the second worker");
    worker.stop().await.expect("stop the worker");
    proxy_task.abort();
    source.stop().await.expect("stop the source");
}

/// A worker whose source does not answer says so in its mapping's
/// `LastProcessingResult` (Lambda's `PROBLEM: ...` form), and stops saying
/// it once the source is back; meanwhile its iterator age grows (it holds
/// no shard to take an age from), so an age alarm fires during an outage,
/// and reads 0 again once caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_says_when_its_source_cannot_be_reached_and_clears_when_it_can() {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let source = common::start_with(d1.path(), ServerConfig::default()).await;
    let sc = client(&source.endpoint());
    let arn = tables(&sc).await;
    let (addr, url) = (source.addr, source.endpoint());
    source.stop().await.expect("stop the source");

    let worker =
        common::start_with(d2.path(), ServerConfig { stream_source: Some(url.clone()), ..ServerConfig::default() })
            .await;
    let lambda = lambda_client(&worker.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    let uuid = lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .send()
        .await
        .expect("the mapping (the source is given the benefit of the doubt)")
        .uuid
        .unwrap();
    let result = || async {
        let m = lambda.get_event_source_mapping().uuid(&uuid).send().await.expect("the mapping");
        m.last_processing_result().unwrap_or_default().to_string()
    };
    let authority = addr.to_string();
    eventually("the problem shown", || async {
        let r = result().await;
        r.starts_with("PROBLEM: ") && r.contains(&authority) && r.contains("cannot be reached")
    })
    .await;
    let listed = shown_mapping(&worker).await;
    assert!(listed["LastProcessingResult"].as_str().unwrap().starts_with("PROBLEM: "), "{listed}");
    let age = || async { shown_mapping(&worker).await["Metrics"]["total"]["iteratorAgeMs"].as_u64() };
    eventually("the iterator age growing through the outage", || async {
        age().await.is_some_and(|a| a >= 500) && iterator_age_metric(&worker).await.is_some_and(|a| a >= 500.0)
    })
    .await;
    let (a, b) = (age().await, {
        tokio::time::sleep(Duration::from_millis(100)).await;
        age().await
    });
    assert!(b > a, "still growing: {a:?} then {b:?}");

    // The source back on its address: the problem goes, and delivery starts.
    let source = tidepool::start(ServerConfig {
        listen: addr,
        data_dir: Some(d1.path().to_path_buf()),
        ..ServerConfig::default()
    })
    .await
    .expect("restart the source");
    eventually("the problem gone", || async { !result().await.starts_with("PROBLEM") }).await;
    put_score(&sc, "a", "g", 5).await;
    eventually("the record delivered", || async { totals(&sc).await.get("g") == Some(&5) }).await;
    eventually("the result of the invocation", || async { result().await == "OK" }).await;
    eventually("no lag once caught up", || async {
        age().await == Some(0) && iterator_age_metric(&worker).await == Some(0.0)
    })
    .await;
    worker.stop().await.expect("stop the worker");
    source.stop().await.expect("stop the source");
}

/// A `--source` that is no `http://host:port` (a port that is no number,
/// out of range, or missing) or a lease duration out of bounds is refused
/// as the worker starts, with the form, and exit status 1; lease options
/// without a source are refused likewise.
#[test]
fn bad_worker_options_are_refused_at_start() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(args)
            .env_remove("TIDEPOOL_SOURCE")
            .env_remove("TIDEPOOL_LEASE_DURATION")
            .env_remove("TIDEPOOL_LEASE_TABLE")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run tidepool");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        stderr
    };
    let worker = ["workers", "--in-memory", "--port", "0", "--source"];
    for (url, why) in [
        ("http://127.0.0.1:notaport", "the port is not a number from 1 to 65535"),
        ("http://127.0.0.1:99999", "the port is not a number from 1 to 65535"),
        ("http://127.0.0.1", "no port"),
    ] {
        let stderr = run(&[&worker[..], &[url]].concat());
        let want = format!("--source: an endpoint is http://host:port, https://host[:port] or aws (got {url}: {why})");
        assert!(stderr.contains(&want), "{url}: {stderr}");
    }
    for duration in ["0", "2", "3601"] {
        let stderr = run(&[&worker[..], &["http://127.0.0.1:8000", "--lease-duration", duration]].concat());
        let want = format!("--lease-duration: a lease lasts at least 3 and at most 3600 seconds (got {duration})");
        assert!(stderr.contains(&want), "{duration}: {stderr}");
    }
    let stderr = run(&["serve", "--in-memory", "--port", "0", "--lease-duration", "5"]);
    assert!(stderr.contains("--lease-duration applies to a worker"), "{stderr}");
    let stderr = run(&["serve", "--in-memory", "--port", "0", "--lease-table", "mine"]);
    assert!(stderr.contains("--lease-table applies to a worker"), "{stderr}");
}
