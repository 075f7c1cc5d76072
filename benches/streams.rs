//! Stream benchmarks, run with `cargo bench --bench streams`:
//! - GetRecords read throughput over HTTP with 1000-record pages;
//! - commit-to-subscriber wake-up latency, in both durability modes.
//!
//! PutItem throughput with the stream on versus off is measured by
//! `bench/run.sh` (wrk), beside the other HTTP numbers. `-- http-put
//! [off|KEYS_ONLY|NEW_IMAGE|NEW_AND_OLD_IMAGES] [seconds]` measures it from
//! a second client: this one, on one thread, against a `tidepool serve`
//! child process, with every request's latency recorded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tidepool::ServerConfig;
use tidepool_store::catalog::{CreateTableInput, KeyType};
use tidepool_store::table::{BillingMode, StreamViewType};
use tidepool_store::value::{AttrType, Item, Value};
use tidepool_store::{Decision, Durability, Store, StreamConfig, WriteOp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 300_000;
const WAKES: usize = 3_000;

/// One keep-alive HTTP/1.1 connection speaking the JSON 1.0 protocol.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn { stream: BufReader::new(s), host: addr.to_string() }
    }

    async fn call(&mut self, target: &str, body: &Json) -> Vec<u8> {
        let body = body.to_string();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await.expect("write head");
        s.write_all(body.as_bytes()).await.expect("write body");
        let mut len = 0usize;
        let mut status = String::new();
        self.stream.read_line(&mut status).await.expect("status line");
        assert!(status.contains(" 200 "), "{target}: {status}");
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("content length");
            }
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await.expect("body");
        buf
    }
}

fn table(name: &str, view: StreamViewType) -> CreateTableInput {
    CreateTableInput {
        name: name.into(),
        key_schema: vec![("pk".into(), KeyType::Hash)],
        attribute_definitions: vec![("pk".into(), AttrType::S)],
        billing_mode: BillingMode::PayPerRequest,
        throughput: None,
        indexes: Vec::new(),
        stream: Some(view),
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
        ("data".to_string(), Value::S("x".repeat(64))),
        ("n".to_string(), Value::N(k.to_string().parse().expect("number"))),
    ])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn get_records_throughput() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: Some(dir.path().to_path_buf()),
        streams: StreamConfig { shards: 1, ..StreamConfig::default() },
        ..ServerConfig::default()
    };
    let server = tidepool::start(config).await.expect("start");
    let store = server.store.clone();
    tokio::task::spawn_blocking(move || {
        store.create_table(table("feed", StreamViewType::NewImage)).expect("create");
        for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(1000) {
            let ops = chunk
                .iter()
                .map(|&k| WriteOp {
                    table: "feed".into(),
                    key: item(k),
                    decide: Box::new(move |_| Ok(Decision::Put(item(k)))),
                })
                .collect();
            store.write_many(ops, false).expect("preload");
        }
    })
    .await
    .expect("preload task");
    let mut c = Conn::open(server.addr).await;
    let streams: Json =
        serde_json::from_slice(&c.call("DynamoDBStreams_20120810.ListStreams", &json!({})).await).expect("json");
    let arn = streams["Streams"][0]["StreamArn"].as_str().expect("arn").to_string();
    let d: Json =
        serde_json::from_slice(&c.call("DynamoDBStreams_20120810.DescribeStream", &json!({"StreamArn": arn})).await)
            .expect("json");
    let shard = d["StreamDescription"]["Shards"][0]["ShardId"].as_str().expect("shard").to_string();
    for round in 0..3 {
        let it: Json = serde_json::from_slice(
            &c.call(
                "DynamoDBStreams_20120810.GetShardIterator",
                &json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await,
        )
        .expect("json");
        let mut token = it["ShardIterator"].as_str().expect("iterator").to_string();
        let start = Instant::now();
        let mut read = 0usize;
        let mut bytes = 0usize;
        loop {
            let body =
                c.call("DynamoDBStreams_20120810.GetRecords", &json!({"ShardIterator": token, "Limit": 1000})).await;
            bytes += body.len();
            // Count records and find the next iterator without a full parse:
            // the client shares the machine's two cores with the server.
            let text = std::str::from_utf8(&body).expect("utf-8");
            let n = text.matches("\"eventID\"").count();
            read += n;
            if n == 0 {
                break;
            }
            let at = text.find("\"NextShardIterator\":\"").expect("next iterator") + 21;
            token = text[at..at + text[at..].find('"').expect("end quote")].to_string();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "GetRecords round {round}: {read} records in {:.3} s = {:.0} records/s ({:.1} MB/s of responses)",
            secs,
            read as f64 / secs,
            bytes as f64 / secs / 1e6
        );
        assert_eq!(read, RECORDS);
    }
    server.stop().await.expect("stop");
}

async fn wake_latency(durability: Durability, label: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(tidepool_store::StoreConfig {
        path: Some(dir.path().to_path_buf()),
        durability,
        streams: StreamConfig { shards: 1, ..StreamConfig::default() },
        ..Default::default()
    })
    .expect("open");
    store.create_table(table("wake", StreamViewType::KeysOnly)).expect("create");
    let meta = store.list_streams().pop().expect("stream");
    let mut rx = store.subscribe_shard(meta.num, &meta.shards[0].id).expect("subscribe");
    // Ping-pong: one write at a time, the next only after the subscriber
    // saw the last, so each wake-up is measured alone.
    let (tx_start, mut rx_start) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let (tx_ack, rx_ack) = std::sync::mpsc::channel::<()>();
    let waiter = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(WAKES);
        while let Some(t0) = rx_start.recv().await {
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("woken").expect("changed");
            lat.push(t0.elapsed());
            rx.borrow_and_update();
            let _ = tx_ack.send(());
        }
        lat
    });
    let writer_store = store.clone();
    tokio::task::spawn_blocking(move || {
        for i in 0..WAKES {
            let t0 = Instant::now();
            tx_start.send(t0).expect("send");
            writer_store.write("wake", &item(i), move |_| Ok(Decision::Put(item(i)))).expect("write");
            rx_ack.recv_timeout(Duration::from_secs(5)).expect("subscriber acknowledged");
        }
    })
    .await
    .expect("writer");
    let mut lat = waiter.await.expect("waiter");
    lat.sort_unstable();
    println!(
        "wake-up ({label}), write start to subscriber woken, {} samples: p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().expect("samples")
    );
}

/// In-process PutItem cost with the stream off and on (the HTTP comparison
/// is in bench/run.sh): 1 KB items, fresh keys, one writer thread.
fn store_put_cost() {
    // `-- put off|KEYS_ONLY|NEW_AND_OLD_IMAGES` measures one of them (for a profile).
    let only = std::env::args().skip_while(|a| a != "put").nth(1);
    for view in [None, Some(StreamViewType::KeysOnly), Some(StreamViewType::NewAndOldImages)] {
        if only.as_deref().is_some_and(|o| o != view.map_or("off", |v| v.as_str())) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            Store::open(tidepool_store::StoreConfig { path: Some(dir.path().to_path_buf()), ..Default::default() })
                .expect("open");
        let mut t = table("put", StreamViewType::KeysOnly);
        t.stream = view;
        store.create_table(t).expect("create");
        let big = |k: usize| {
            let mut it = item(k);
            it.insert("data".into(), Value::S("x".repeat(1000)));
            it
        };
        let n = 200_000;
        let start = Instant::now();
        for k in 0..n {
            store.write("put", &item(k), move |_| Ok(Decision::Put(big(k)))).expect("put");
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "store put, stream {:<18} {n} puts in {secs:.2} s = {:.0}/s ({:.2} µs each)",
            view.map_or("off", |v| v.as_str()),
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
}

/// Reopening a data directory holding 1M items (about 100 bytes each, no
/// stream): the time from `Store::open` to the first read served.
fn reopen_1m() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || tidepool_store::StoreConfig { path: Some(dir.path().to_path_buf()), ..Default::default() };
    let store = Store::open(config()).expect("open");
    let mut t = table("big", StreamViewType::KeysOnly);
    t.stream = None;
    store.create_table(t).expect("create");
    let n = 1_000_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops = chunk
            .iter()
            .map(|&k| WriteOp {
                table: "big".into(),
                key: item(k),
                decide: Box::new(move |_| Ok(Decision::Put(item(k)))),
            })
            .collect();
        store.write_many(ops, false).expect("load");
    }
    drop(store);
    for round in 0..3 {
        let start = Instant::now();
        let store = Store::open(config()).expect("reopen");
        let t = store.table("big").expect("table");
        let got = store.get_item(&t, &item(n / 2)).expect("get");
        assert!(got.is_some());
        println!("reopen {round}: {} items, first read served after {:?}", t.stats().items, start.elapsed());
    }
}

/// PutItem of 1 KB items with fresh keys over HTTP, from `CONNS` keep-alive
/// connections served by one client thread, against a `tidepool serve`
/// child process: throughput and every request's latency. With a closed
/// loop the mean latency must be about `CONNS` / throughput (Little's law);
/// the report shows both as a check on the client's own figures.
fn http_put(view: &str, secs: u64) {
    const CONNS: usize = 16;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tidepool serve");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (count, mut latencies) = rt.block_on(async {
        let start = Instant::now();
        let mut c = loop {
            match TcpStream::connect(addr).await {
                Ok(_) => break Conn::open(addr).await,
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => panic!("the server did not start: {e}"),
            }
        };
        let mut create = json!({
            "TableName": "bench",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        });
        if view != "off" {
            create["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": view});
        }
        c.call("DynamoDB_20120810.CreateTable", &create).await;
        let payload = "x".repeat(1000);
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..CONNS)
            .map(|task| {
                let payload = payload.clone();
                tokio::spawn(async move {
                    let mut c = Conn::open(addr).await;
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let body = json!({
                            "TableName": "bench",
                            "Item": {"pk": {"S": format!("p{task}-{}", latencies.len())}, "data": {"S": payload}},
                        });
                        let t = Instant::now();
                        c.call("DynamoDB_20120810.PutItem", &body).await;
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        (all.len(), all)
    });
    let _ = server.kill();
    let _ = server.wait();
    latencies.sort();
    let rate = count as f64 / secs as f64;
    let mean = latencies.iter().sum::<Duration>() / count.max(1) as u32;
    let implied = Duration::from_secs_f64(CONNS as f64 / rate);
    println!(
        "http put, stream {view:18} {rate:8.0}/s  mean {mean:?} (Little's law: {implied:?})  p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or_default(),
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "http-put") {
        let view = args.get(i + 1).cloned().unwrap_or_else(|| "off".into());
        let secs = args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(10);
        std::thread::spawn(move || http_put(&view, secs)).join().expect("http-put");
        return;
    }
    if std::env::args().any(|a| a == "put") {
        store_put_cost();
        return;
    }
    if std::env::args().any(|a| a == "reopen") {
        reopen_1m();
        return;
    }
    // `cargo bench` passes `--bench`; nothing to parse.
    get_records_throughput().await;
    wake_latency(Durability::default(), "buffered durability: journal written, fsync every 100 ms").await;
    wake_latency(Durability::Sync, "sync durability: woken after the covering fsync").await;
}
