//! Stream triggers, with the real store (durable journal), the real delivery
//! engine and the real `echo` component:
//! - write-to-handler-start latency: from just before a write until the
//!   engine calls the function with its record, one write at a time, in
//!   buffered and sync durability;
//! - draining a backlog of records at BatchSize 1000.
//!
//! `cargo bench -p tidepool-runtime --bench triggers` (release). Numbers go
//! to BENCHMARKS.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tidepool_runtime::esm::{
    Engine, FunctionInvoker, InvokeFuture, InvokeRequest, Invoker, MappingConfig, MappingParams,
};
use tidepool_runtime::examples::example_bytes;
use tidepool_runtime::{FunctionConfig, NoStore, Runtime, RuntimeConfig};
use tidepool_store::catalog::{CreateTableInput, KeyType};
use tidepool_store::table::{BillingMode, StreamViewType};
use tidepool_store::value::{AttrType, Item, Value};
use tidepool_store::{Decision, Durability, Store, StoreConfig, StreamConfig, WriteOp};

const REGION: &str = "us-east-1";
const LATENCY_SAMPLES: usize = 2_000;
const BACKLOG: usize = 1_000_000;

/// Notes when each invocation started and counts the records of finished
/// ones.
struct Timed {
    inner: FunctionInvoker,
    started: Arc<Mutex<Vec<Instant>>>,
    records: Arc<AtomicU64>,
    /// Each invocation's start, for the latency loop to await (no busy
    /// waiting: on two cores a spinning waiter would itself delay the engine).
    starts: tokio::sync::mpsc::UnboundedSender<Instant>,
}

impl Invoker for Timed {
    fn function_arn(&self) -> String {
        self.inner.function_arn()
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let now = Instant::now();
        self.started.lock().expect("lock").push(now);
        let _ = self.starts.send(now);
        // Each record carries exactly one eventID.
        let n = request.event.matches("\"eventID\"").count() as u64;
        let done = self.records.clone();
        let run = self.inner.invoke(request);
        Box::pin(async move {
            let out = run.await;
            done.fetch_add(n, Ordering::Relaxed);
            out
        })
    }
}

fn table(name: &str) -> CreateTableInput {
    CreateTableInput {
        name: name.into(),
        key_schema: vec![("pk".into(), KeyType::Hash)],
        attribute_definitions: vec![("pk".into(), AttrType::S)],
        billing_mode: BillingMode::PayPerRequest,
        throughput: None,
        indexes: Vec::new(),
        stream: Some(StreamViewType::NewImage),
        tags: Default::default(),
        deletion_protection: false,
        table_class: None,
        settings: Default::default(),
        vector_indexes: Vec::new(),
    }
}

fn item(k: usize) -> Item {
    Item::from([
        ("pk".to_string(), Value::S(format!("key-{k:08}"))),
        ("n".to_string(), Value::N(k.to_string().parse().expect("number"))),
    ])
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    engine: Engine,
    started: Arc<Mutex<Vec<Instant>>>,
    records: Arc<AtomicU64>,
    timed: Arc<Timed>,
    arn: String,
    starts: tokio::sync::mpsc::UnboundedReceiver<Instant>,
}

fn setup(durability: Durability, shards: u32) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(StoreConfig {
        path: Some(dir.path().join("data")),
        durability,
        streams: StreamConfig { shards, ..StreamConfig::default() },
        ..Default::default()
    })
    .expect("open");
    store.create_table(table("src")).expect("create");
    let runtime = Runtime::new(RuntimeConfig::new(dir.path().join("cache")), Arc::new(NoStore)).expect("runtime");
    let hash = runtime.compile(&example_bytes("echo")).expect("compile");
    let function = runtime.load_function(FunctionConfig::new("echo", REGION, "000000000000"), &hash).expect("load");
    let label = store.list_streams().pop().expect("stream").label;
    let arn = format!("arn:aws:dynamodb:{REGION}:000000000000:table/src/stream/{label}");
    let started = Arc::new(Mutex::new(Vec::new()));
    let records = Arc::new(AtomicU64::new(0));
    let (tx, starts) = tokio::sync::mpsc::unbounded_channel();
    let timed = Arc::new(Timed {
        inner: FunctionInvoker::new(function),
        started: started.clone(),
        records: records.clone(),
        starts: tx,
    });
    let engine = Engine::new(store.clone(), REGION);
    Setup { _dir: dir, store, engine, started, records, timed, arn, starts }
}

fn mapping(arn: &str, batch: u32) -> MappingConfig {
    let params: MappingParams = serde_json::from_value(json!({
        "EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON", "BatchSize": batch
    }))
    .expect("params");
    MappingConfig::create(params, "echo", &format!("arn:aws:lambda:{REGION}:000000000000:function:echo"), 0)
        .expect("mapping")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn latency(durability: Durability, label: &str) {
    let mut s = setup(durability, 1);
    s.engine.upsert(mapping(&s.arn, 100), s.timed.clone()).await.expect("upsert");
    let mut lat = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES + 100 {
        let store = s.store.clone();
        let t0 = Instant::now();
        tokio::task::spawn_blocking(move || store.write("src", &item(i), move |_| Ok(Decision::Put(item(i)))))
            .await
            .expect("join")
            .expect("write");
        let t1 = tokio::time::timeout(Duration::from_secs(5), s.starts.recv())
            .await
            .expect("an invocation within 5 s")
            .expect("the invoker is alive");
        if i >= 100 {
            lat.push(t1.duration_since(t0));
        }
        // Let the invocation finish and its checkpoint commit, so each sample
        // measures an idle consumer (a shard's batches run one at a time).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lat.sort_unstable();
    println!(
        "write to handler start ({label}), {} samples: p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().expect("samples")
    );
    s.engine.shutdown().await;
}

async fn drain() {
    let s = setup(Durability::default(), 4);
    let store = s.store.clone();
    let t0 = Instant::now();
    tokio::task::spawn_blocking(move || {
        for chunk in (0..BACKLOG).collect::<Vec<_>>().chunks(1000) {
            let ops = chunk
                .iter()
                .map(|&k| WriteOp {
                    table: "src".into(),
                    key: item(k),
                    decide: Box::new(move |_| Ok(Decision::Put(item(k)))),
                })
                .collect();
            store.write_many(ops, false).expect("preload");
        }
    })
    .await
    .expect("preload");
    println!("backlog of {BACKLOG} records written in {:.1} s", t0.elapsed().as_secs_f64());
    let m = mapping(&s.arn, 1000);
    let uuid = m.uuid.clone();
    let start = Instant::now();
    s.engine.upsert(m, s.timed.clone()).await.expect("upsert");
    loop {
        let done = s.records.load(Ordering::Relaxed);
        if done >= BACKLOG as u64 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "drain stalled at {done}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let invocations = s.started.lock().expect("lock").len();
    let invoked = s.engine.metrics(&uuid).map(|m| m.total.invoked).unwrap_or(0);
    println!(
        "drained {BACKLOG} records ({invoked} invoked, {invocations} invocations, 4 shards, BatchSize 1000) in {secs:.2} s = {:.0} records/s",
        BACKLOG as f64 / secs
    );
    s.engine.shutdown().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    latency(Durability::default(), "buffered durability").await;
    latency(Durability::Sync, "sync durability: fsync before the write returns").await;
    drain().await;
}
