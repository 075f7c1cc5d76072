//! The delivery engine end to end without HTTP: the real store in a temporary
//! directory, real components from `examples/`, the real [`Engine`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tidepool_runtime::esm::{
    Engine, FunctionInvoker, InvokeFuture, InvokeOutcome, InvokeRequest, Invoker, MappingConfig, MappingParams,
    SYS_PREFIX,
};
use tidepool_runtime::examples::example_bytes;
use tidepool_runtime::{FunctionConfig, LoadedFunction, NoStore, Runtime, RuntimeConfig};
use tidepool_store::catalog::{CreateTableInput, KeyType};
use tidepool_store::query::{ReadParams, Source};
use tidepool_store::stream::parse_seq;
use tidepool_store::table::{BillingMode, StreamViewType};
use tidepool_store::value::{AttrType, Item, Value};
use tidepool_store::{Decision, Store, StoreConfig, StreamConfig, WriteOp};
use tokio::sync::Notify;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
/// How long a test waits for the engine before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// One runtime for the tests of this binary, so each example compiles once.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<(Runtime, tempfile::TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("create a cache directory");
            let runtime = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).expect("create the runtime");
            (runtime, dir)
        })
        .0
}

fn function(example: &str, name: &str, environment: &[(&str, &str)]) -> Arc<LoadedFunction> {
    let code = runtime().compile(&example_bytes(example)).expect("compile the example");
    let mut config = FunctionConfig::new(name, REGION, ACCOUNT);
    for (k, v) in environment {
        config.environment.insert(k.to_string(), v.to_string());
    }
    runtime().load_function(config, &code).expect("load the function")
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        path: Some(dir.to_path_buf()),
        streams: StreamConfig { shards: 1, ..StreamConfig::default() },
        ..StoreConfig::default()
    })
    .expect("open the store")
}

/// Creates table `name` keyed by string `pk`, with a stream if `stream`;
/// returns its stream ARN.
fn table(store: &Store, name: &str, stream: bool) -> Option<String> {
    let t = store
        .create_table(CreateTableInput {
            name: name.into(),
            key_schema: vec![("pk".into(), KeyType::Hash)],
            attribute_definitions: vec![("pk".into(), AttrType::S)],
            billing_mode: BillingMode::PayPerRequest,
            throughput: None,
            indexes: Vec::new(),
            stream: stream.then_some(StreamViewType::NewAndOldImages),
            tags: Default::default(),
            deletion_protection: false,
            table_class: None,
            settings: Default::default(),
            vector_indexes: Vec::new(),
        })
        .expect("create the table");
    t.def.stream.as_ref().map(|s| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}/stream/{}", s.label))
}

fn item(pk: &str, extra: &[(&str, Value)]) -> Item {
    let mut i: Item = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    i.insert("pk".into(), Value::S(pk.into()));
    i
}

/// Puts `items` into `table` in one atomic commit.
fn put_all(store: &Store, table: &str, items: Vec<Item>) {
    let ops = items
        .into_iter()
        .map(|i| {
            let key = item(
                match &i["pk"] {
                    Value::S(s) => s,
                    _ => unreachable!(),
                },
                &[],
            );
            WriteOp { table: table.into(), key, decide: Box::new(move |_| Ok(Decision::Put(i))) }
        })
        .collect();
    store.write_many(ops, true).expect("write the items");
}

fn mapping(arn: &str, function: &LoadedFunction, params: Json) -> MappingConfig {
    let mut body = json!({"EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON"});
    for (k, v) in params.as_object().expect("an object") {
        body[k] = v.clone();
    }
    let params: MappingParams = serde_json::from_value(body).expect("params");
    MappingConfig::create(params, &function.config().name, &function.config().arn, 0).expect("a valid mapping")
}

/// One invocation the engine made: its records' sequence numbers, the event
/// and the outcome.
#[derive(Debug, Clone)]
struct Seen {
    seqs: Vec<u64>,
    event: Json,
    outcome: InvokeOutcome,
    started: tokio::time::Instant,
    finished: tokio::time::Instant,
}

/// Records every invocation of the function it wraps.
#[derive(Clone)]
struct Recorder(Arc<RecorderInner>);

struct RecorderInner {
    function: FunctionInvoker,
    arn: String,
    seen: Mutex<Vec<Seen>>,
    changed: Notify,
}

impl Recorder {
    fn new(function: Arc<LoadedFunction>) -> Recorder {
        let arn = function.config().arn.clone();
        Recorder(Arc::new(RecorderInner {
            function: FunctionInvoker::new(function),
            arn,
            seen: Mutex::new(Vec::new()),
            changed: Notify::new(),
        }))
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.seen.lock().unwrap().clone()
    }

    fn seqs(&self) -> Vec<Vec<u64>> {
        self.seen().into_iter().map(|s| s.seqs).collect()
    }

    /// Waits until `done` holds of the invocations seen.
    async fn until(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let wait = async {
            loop {
                let notified = self.0.changed.notified();
                if done(&self.seen()) {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(PATIENCE, wait).await.is_err() {
            panic!("timed out waiting for {what}; seen {:?}", self.seqs());
        }
    }
}

impl Invoker for Recorder {
    fn function_arn(&self) -> String {
        self.0.arn.clone()
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let me = self.clone();
        let event: Json = serde_json::from_str(&request.event).expect("the event is JSON");
        let seqs = event["Records"]
            .as_array()
            .expect("Records")
            .iter()
            .map(|r| parse_seq(r["dynamodb"]["SequenceNumber"].as_str().expect("a sequence number")).expect("ours"))
            .collect();
        let run = self.0.function.invoke(request);
        let started = tokio::time::Instant::now();
        Box::pin(async move {
            let outcome = run.await;
            let finished = tokio::time::Instant::now();
            me.0.seen.lock().unwrap().push(Seen { seqs, event, outcome: outcome.clone(), started, finished });
            me.0.changed.notify_waiters();
            outcome
        })
    }
}

/// A store in a fresh directory with a streamed table, a function built
/// from an example, a recorder of its invocations, and an engine.
struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    arn: String,
    function: Arc<LoadedFunction>,
    recorder: Recorder,
    engine: Engine,
}

fn setup(table_name: &str, example: &str, function_name: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, table_name, true).unwrap();
    let function = function(example, function_name, &[]);
    let recorder = Recorder::new(function.clone());
    let engine = Engine::new(store.clone(), REGION);
    Setup { _dir: dir, store, arn, function, recorder, engine }
}

/// Waits until `done` holds, checking whenever the engine may have moved.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The items of a destination table and the invocation records their
/// `payload` holds.
fn destination_records(store: &Store, table: &tidepool_store::TableHandle) -> (Vec<Item>, Vec<Json>) {
    let params =
        ReadParams { limit: None, exclusive_start: None, filter: &|_| Ok(true), fetch_from_table: false, until: None };
    let items = store.scan(table, Source::Table, None, &params).unwrap().items;
    let records = items
        .iter()
        .map(|i| match &i["payload"] {
            Value::S(s) => serde_json::from_str(s).unwrap(),
            other => panic!("payload {other:?}"),
        })
        .collect();
    (items, records)
}

fn first_seq(store: &Store, arn: &str) -> u64 {
    let (t, l) = tidepool_runtime::esm::config::parse_stream_arn(arn).unwrap();
    store.stream(t, l).unwrap().shards[0].start_seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_the_handler_as_lambda_events() {
    let Setup { _dir, store, arn, function: echo, recorder, engine } = setup("Scores", "echo", "echo");
    let m = mapping(&arn, &echo, json!({"BatchSize": 10}));
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    put_all(&store, "Scores", vec![item("ada", &[("score", Value::S("1".into()))])]);
    recorder.until("the first record", |s| !s.is_empty()).await;
    put_all(&store, "Scores", vec![item("bob", &[]), item("cyd", &[])]);
    recorder.until("three records", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 3).await;

    let seen = recorder.seen();
    let first = &seen[0].event["Records"][0];
    assert_eq!(first["eventName"], "INSERT");
    assert_eq!(first["eventSource"], "aws:dynamodb");
    assert_eq!(first["eventVersion"], "1.1");
    assert_eq!(first["awsRegion"], REGION);
    assert_eq!(first["eventSourceARN"], arn.as_str());
    assert_eq!(first["dynamodb"]["Keys"], json!({"pk": {"S": "ada"}}));
    assert_eq!(first["dynamodb"]["NewImage"]["score"], json!({"S": "1"}));
    assert_eq!(first["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    // Echo returns its event: a success.
    assert_eq!(
        seen[0].outcome.result.as_deref().map(|s| serde_json::from_str::<Json>(s).unwrap()),
        Ok(seen[0].event.clone())
    );

    let last = *seen.last().unwrap().seqs.last().unwrap();
    eventually("the checkpoint", || {
        engine.metrics(&m.uuid).and_then(|x| x.total_checkpoint()).is_some_and(|c| c == last)
    })
    .await;
    let metrics = engine.metrics(&m.uuid).unwrap();
    assert_eq!(metrics.total.polled, 3);
    assert_eq!(metrics.total.invoked, 3);
    assert_eq!(metrics.last_processing_result, "OK");
    let entries = store.sys_scan(format!("{SYS_PREFIX}{}/", m.uuid).as_bytes()).unwrap();
    assert_eq!(entries.len(), 2, "the started marker and one shard's checkpoint");
    engine.shutdown().await;
}

trait Checkpoint {
    fn total_checkpoint(&self) -> Option<u64>;
}

impl Checkpoint for tidepool_runtime::esm::MappingMetrics {
    fn total_checkpoint(&self) -> Option<u64> {
        self.shards.values().filter_map(|s| s.checkpoint.as_deref().and_then(parse_seq)).max()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_batch_failures_are_delivered_again_then_sent_to_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, "Orders", true).unwrap();
    table(&store, "Failures", false);
    put_all(
        &store,
        "Orders",
        vec![
            item("a", &[("fail", Value::Bool(false))]),
            item("b", &[("fail", Value::Bool(true))]),
            item("c", &[("fail", Value::Bool(false))]),
        ],
    );
    let f = function("partial-batch", "partial", &[]);
    let recorder = Recorder::new(f.clone());
    let engine = Engine::new(store.clone(), REGION);
    let destination = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Failures");
    let m = mapping(
        &arn,
        &f,
        json!({"FunctionResponseTypes": ["ReportBatchItemFailures"], "MaximumRetryAttempts": 2,
               "DestinationConfig": {"OnFailure": {"Destination": destination}}}),
    );
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    let failures = store.table("Failures").unwrap();
    eventually("the destination record", || failures.stats().items == 1).await;

    let s0 = first_seq(&store, &arn);
    let (a, b, c) = (s0, s0 + 1, s0 + 2);
    // The batch, then twice the records from the failed one on.
    assert_eq!(recorder.seqs(), vec![vec![a, b, c], vec![b, c], vec![b, c]]);
    let (items, records) = destination_records(&store, &failures);
    let record = &records[0];
    assert_eq!(items[0]["pk"], Value::S(recorder.seen()[2].outcome.request_id.clone()));
    assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestContext"]["functionArn"], f.config().arn.as_str());
    assert_eq!(record["responseContext"], json!({"statusCode": 200, "executedVersion": "$LATEST"}));
    assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 2);
    assert_eq!(record["DDBStreamBatchInfo"]["streamArn"], arn.as_str());
    assert!(matches!(items[0]["DDBStreamBatchInfo"], Value::M(_)));
    eventually("the checkpoint past the batch", || {
        engine.metrics(&m.uuid).and_then(|x| x.total_checkpoint()) == Some(c)
    })
    .await;
    let metrics = engine.metrics(&m.uuid).unwrap();
    assert_eq!((metrics.total.dropped, metrics.total.sent_to_destination), (2, 2));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_bisected_and_its_poison_record_reaches_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, "Events", true).unwrap();
    table(&store, "Failures", false);
    put_all(
        &store,
        "Events",
        vec![item("a", &[]), item("b", &[]), item("c", &[("poison", Value::Bool(true))]), item("d", &[])],
    );
    let f = function("always-fail", "fail", &[("FAIL_ONLY_POISON", "1")]);
    let recorder = Recorder::new(f.clone());
    let engine = Engine::new(store.clone(), REGION);
    let destination = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Failures");
    let m = mapping(
        &arn,
        &f,
        json!({"BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 1,
               "DestinationConfig": {"OnFailure": {"Destination": destination}}}),
    );
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    let failures = store.table("Failures").unwrap();
    eventually("the destination record", || failures.stats().items == 1).await;
    let s = first_seq(&store, &arn);
    recorder.until("the last record", |seen| seen.iter().any(|x| x.seqs == [s + 3])).await;
    assert_eq!(
        recorder.seqs(),
        vec![vec![s, s + 1, s + 2, s + 3], vec![s, s + 1], vec![s + 2, s + 3], vec![s + 2], vec![s + 2], vec![s + 3]]
    );
    let error = recorder.seen()[0].outcome.result.clone().unwrap_err();
    assert_eq!(error.error_type, "IntentionalFailure");
    assert!(!error.unhandled);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_mapping_keeps_its_checkpoint_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (arn, uuid, s0) = {
        let store = open(dir.path());
        let arn = table(&store, "Log", true).unwrap();
        let echo = function("echo", "echo", &[]);
        let recorder = Recorder::new(echo.clone());
        let engine = Engine::new(store.clone(), REGION);
        let mut m = mapping(&arn, &echo, json!({}));
        engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
        put_all(&store, "Log", vec![item("a", &[]), item("b", &[])]);
        recorder.until("two records", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 2).await;
        let s0 = first_seq(&store, &arn);
        eventually("the checkpoint", || engine.metrics(&m.uuid).and_then(|x| x.total_checkpoint()) == Some(s0 + 1))
            .await;

        m.update(serde_json::from_value(json!({"Enabled": false})).unwrap(), 1).unwrap();
        engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
        assert!(!engine.is_running(&m.uuid).await);
        put_all(&store, "Log", vec![item("c", &[])]);
        engine.shutdown().await;
        assert_eq!(recorder.seqs().concat(), vec![s0, s0 + 1]);
        (arn, m, s0)
    };
    // The store reopened: the mapping, enabled again, resumes after its checkpoint.
    let store = open(dir.path());
    let echo = function("echo", "echo", &[]);
    let recorder = Recorder::new(echo.clone());
    let engine = Engine::new(store.clone(), REGION);
    let mut m = uuid;
    m.update(serde_json::from_value(json!({"Enabled": true})).unwrap(), 2).unwrap();
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    put_all(&store, "Log", vec![item("d", &[])]);
    recorder.until("the records written since", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 2).await;
    assert_eq!(recorder.seqs().concat(), vec![s0 + 2, s0 + 3]);
    assert_eq!(recorder.seen()[0].event["Records"][0]["dynamodb"]["Keys"]["pk"]["S"], "c");
    assert_eq!(recorder.seen()[0].event["Records"][0]["eventSourceARN"], arn.as_str());

    assert!(engine.remove(&m.uuid).await.unwrap());
    assert!(store.sys_scan(format!("{SYS_PREFIX}{}/", m.uuid).as_bytes()).unwrap().is_empty());
    assert!(engine.metrics(&m.uuid).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_starts_after_what_the_stream_already_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, "Feed", true).unwrap();
    put_all(&store, "Feed", vec![item("old", &[])]);
    let echo = function("echo", "echo", &[]);
    let recorder = Recorder::new(echo.clone());
    let engine = Engine::new(store.clone(), REGION);
    let m = mapping(&arn, &echo, json!({"StartingPosition": "LATEST"}));
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    // The starting position is fixed durably before anything is delivered.
    eventually("the starting position", || {
        store.sys_get(format!("{SYS_PREFIX}{}/started", m.uuid).as_bytes()).unwrap().is_some()
    })
    .await;
    put_all(&store, "Feed", vec![item("new", &[])]);
    recorder.until("the new record", |s| !s.is_empty()).await;
    assert_eq!(recorder.seen()[0].event["Records"][0]["dynamodb"]["Keys"]["pk"]["S"], "new");
    assert_eq!(recorder.seen()[0].seqs.len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_destination_holds_the_checkpoint_until_the_table_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, "Jobs", true).unwrap();
    put_all(&store, "Jobs", vec![item("a", &[])]);
    let f = function("always-fail", "fail", &[]);
    let recorder = Recorder::new(f.clone());
    let engine = Engine::new(store.clone(), REGION);
    let destination = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Later");
    let m = mapping(
        &arn,
        &f,
        json!({"MaximumRetryAttempts": 0, "DestinationConfig": {"OnFailure": {"Destination": destination}}}),
    );
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    // The discard cannot be committed: the mapping restarts from its checkpoint and tries again.
    recorder.until("a second delivery after a restart", |s| s.len() >= 2).await;
    eventually("the problem is reported", || {
        engine.metrics(&m.uuid).is_some_and(|x| x.last_processing_result.contains("Later"))
    })
    .await;
    let s0 = first_seq(&store, &arn);
    assert!(engine.metrics(&m.uuid).unwrap().total_checkpoint().is_none_or(|c| c < s0));
    // A discard whose commit failed is no discard: not counted, however
    // often it is tried.
    recorder.until("a third delivery", |s| s.len() >= 3).await;
    let total = engine.metrics(&m.uuid).unwrap().total;
    assert_eq!((total.dropped, total.sent_to_destination), (0, 0), "{total:?}");
    table(&store, "Later", false);
    let later = store.table("Later").unwrap();
    eventually("the destination record", || later.stats().items == 1).await;
    eventually("the checkpoint", || engine.metrics(&m.uuid).and_then(|x| x.total_checkpoint()) == Some(s0)).await;
    let total = engine.metrics(&m.uuid).unwrap().total;
    assert_eq!((total.dropped, total.sent_to_destination), (1, 1), "counted once, when committed: {total:?}");
    assert!(total.invocations >= 3, "{total:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_deep_in_a_trigger_chain_are_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let arn = table(&store, "Loop", true).unwrap();
    let write = |pk: &str, depth: u32| {
        let i = item(pk, &[]);
        let op = WriteOp { table: "Loop".into(), key: i.clone(), decide: Box::new(move |_| Ok(Decision::Put(i))) };
        store.write_many_as(vec![op], false, tidepool_store::Origin { ttl: false, depth, replicated: None }).unwrap();
    };
    write("deep", 16);
    write("shallow", 15);
    let echo = function("echo", "echo", &[]);
    let recorder = Recorder::new(echo.clone());
    let engine = Engine::new(store.clone(), REGION);
    let m = mapping(&arn, &echo, json!({}));
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    recorder.until("the shallow record", |s| !s.is_empty()).await;
    let s0 = first_seq(&store, &arn);
    assert_eq!(recorder.seqs(), vec![vec![s0 + 1]]);
    eventually("the checkpoint", || engine.metrics(&m.uuid).and_then(|x| x.total_checkpoint()) == Some(s0 + 1)).await;
    assert_eq!(engine.metrics(&m.uuid).unwrap().total.dropped, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_size_and_the_batching_window_shape_the_batches() {
    let Setup { _dir, store, arn, function: echo, recorder, engine } = setup("Scores", "echo", "echo-batches");
    let m = mapping(&arn, &echo, json!({"BatchSize": 10, "MaximumBatchingWindowInSeconds": 1}));
    // 25 records waiting before the mapping starts: two full batches at
    // once, then the rest when the window ends.
    put_all(&store, "Scores", (0..25).map(|i| item(&format!("p{i:02}"), &[])).collect());
    engine.upsert(m, Arc::new(recorder.clone())).await.unwrap();
    recorder.until("25 records", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 25).await;
    let sizes: Vec<usize> = recorder.seqs().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5], "BatchSize caps each batch");

    // A lone record waits for the window to fill its batch.
    let written = tokio::time::Instant::now();
    put_all(&store, "Scores", vec![item("late", &[])]);
    recorder.until("the late record", |s| s.len() == 4).await;
    let waited = written.elapsed();
    assert!(waited >= Duration::from_millis(900), "the batching window held the record only {waited:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelization_splits_a_shard_by_key_and_keeps_each_key_in_order() {
    let Setup { _dir, store, arn, function: echo, recorder, engine } = setup("Scores", "echo", "echo-parallel");
    for round in 0..2 {
        let n = Value::N(round.to_string().parse().unwrap());
        put_all(&store, "Scores", (0..8).map(|k| item(&format!("k{k}"), &[("round", n.clone())])).collect());
    }
    // With one lane, all 16 records would fit one batch of 100.
    let m = mapping(&arn, &echo, json!({"BatchSize": 100, "ParallelizationFactor": 4}));
    engine.upsert(m, Arc::new(recorder.clone())).await.unwrap();
    recorder.until("16 records", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 16).await;
    let seen = recorder.seen();
    assert!(seen.len() > 1, "the shard's records went to several lanes: {:?}", recorder.seqs());
    // Invocations are recorded as they finish: a key's records arrive in
    // order because its lane runs one batch at a time.
    let mut rounds: std::collections::HashMap<String, Vec<String>> = Default::default();
    for s in &seen {
        for r in s.event["Records"].as_array().unwrap() {
            let key = r["dynamodb"]["Keys"]["pk"]["S"].as_str().unwrap().to_string();
            let round = r["dynamodb"]["NewImage"]["round"]["N"].as_str().unwrap().to_string();
            rounds.entry(key).or_default().push(round);
        }
    }
    assert_eq!(rounds.len(), 8);
    for (key, r) in &rounds {
        assert_eq!(r, &["0", "1"], "records of {key} in order");
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tumbling_window_ends_with_a_final_invocation_carrying_its_state() {
    // Echo returns its event, so the state it returns is the state it got.
    let Setup { _dir, store, arn, function: echo, recorder, engine } = setup("Scores", "echo", "echo-window");
    let m = mapping(&arn, &echo, json!({"BatchSize": 10, "TumblingWindowInSeconds": 1}));
    engine.upsert(m, Arc::new(recorder.clone())).await.unwrap();
    put_all(&store, "Scores", vec![item("ada", &[]), item("bob", &[])]);
    recorder
        .until("the window's final invocation", |s| s.iter().any(|x| x.event["isFinalInvokeForWindow"] == true))
        .await;
    let seen = recorder.seen();
    let first = &seen[0].event;
    assert_eq!(first["Records"].as_array().unwrap().len(), 2);
    assert_eq!(first["isFinalInvokeForWindow"], false);
    assert_eq!(first["eventSourceARN"], arn.as_str());
    assert!(first["shardId"].is_string());
    assert_eq!(first["state"], json!({}), "a window starts with an empty state");
    let final_call = seen.iter().find(|x| x.event["isFinalInvokeForWindow"] == true).unwrap();
    assert_eq!(final_call.event["Records"], json!([]), "the final invocation carries no records");
    assert_eq!(final_call.event["window"], first["window"], "it closes the same window");
    let (start, end) = (first["window"]["start"].as_str().unwrap(), first["window"]["end"].as_str().unwrap());
    assert!(start < end, "{start} .. {end}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_shard_starts_after_its_parent_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        path: Some(dir.path().to_path_buf()),
        streams: StreamConfig { shards: 1, rollover: Duration::from_millis(200), ..StreamConfig::default() },
        ..StoreConfig::default()
    })
    .unwrap();
    let arn = table(&store, "Scores", true).unwrap();
    put_all(&store, "Scores", vec![item("k", &[("v", Value::S("parent".into()))])]);
    let (t, l) = tidepool_runtime::esm::config::parse_stream_arn(&arn).unwrap();
    // A rollover after the parent's write (on a loaded machine the first one
    // may come before it): the child's record then goes to a later shard.
    let shards = store.stream(t, l).unwrap().shards.len();
    eventually("a rollover", || store.stream(t, l).unwrap().shards.len() > shards).await;
    put_all(&store, "Scores", vec![item("k", &[("v", Value::S("child".into()))])]);
    let echo = function("echo", "echo-lineage", &[]);
    let recorder = Recorder::new(echo.clone());
    let engine = Engine::new(store.clone(), REGION);
    // Both shards are readable when the mapping starts.
    engine.upsert(mapping(&arn, &echo, json!({})), Arc::new(recorder.clone())).await.unwrap();
    recorder.until("both records", |s| s.iter().map(|x| x.seqs.len()).sum::<usize>() == 2).await;
    let seen = recorder.seen();
    assert_eq!(seen.len(), 2, "{:?}", recorder.seqs());
    let value = |s: &Seen| s.event["Records"][0]["dynamodb"]["NewImage"]["v"]["S"].as_str().unwrap().to_string();
    assert_eq!((value(&seen[0]), value(&seen[1])), ("parent".to_string(), "child".to_string()));
    assert!(seen[1].started >= seen[0].finished, "the child's batch started before the parent's finished");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_older_than_the_maximum_age_go_to_the_destination() {
    let Setup { _dir, store, arn, function: f, recorder, engine } = setup("Events", "always-fail", "fail-age");
    table(&store, "Failures", false);
    let destination = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Failures");
    // Retries never run out; the record's age (Lambda's least, 60 s) does.
    let m = mapping(
        &arn,
        &f,
        json!({"MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": 60,
               "DestinationConfig": {"OnFailure": {"Destination": destination}}}),
    );
    engine.upsert(m.clone(), Arc::new(recorder.clone())).await.unwrap();
    let written = tokio::time::Instant::now();
    put_all(&store, "Events", vec![item("old", &[])]);
    let failures = store.table("Failures").unwrap();
    let deadline = written + Duration::from_secs(90);
    while failures.stats().items == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the record never aged out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(written.elapsed() >= Duration::from_secs(59), "discarded after {:?}", written.elapsed());
    assert!(recorder.seen().len() > 5, "it was retried until then");
    let (_, records) = destination_records(&store, &failures);
    assert_eq!(records[0]["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(engine.metrics(&m.uuid).unwrap().total.sent_to_destination, 1);
    engine.shutdown().await;
}
