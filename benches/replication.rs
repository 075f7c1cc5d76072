//! Global tables' benchmark (issue 19). Run with
//!
//! ```sh
//! cargo bench --bench replication -- [--secs 10] [--rates 1000,10000] [--fill-items 1000000] [--conns 16]
//! ```
//!
//! It starts three `tidepool serve` child processes on 127.0.0.1, regions
//! `us-east-1` (the origin), `eu-west-1` and `ap-south-1`, peers of each
//! other, each on a fresh data directory, and measures:
//! - the origin's PutItem throughput (1 KB items, `--conns` keep-alive
//!   connections) on a table with no replica, one and two;
//! - replication latency from the origin to `eu-west-1` at each of
//!   `--rates` PutItem/s (paced, open loop), as `eu-west-1` measures it
//!   (write in the origin to apply there, `GET /tidepool/replication`);
//! - the fill of a new replica: `--fill-items` items loaded into a table,
//!   then UpdateTable adding `eu-west-1`, timed until the replica is
//!   `ACTIVE`.
//!
//! All processes share the machine's cores with the load client; read the
//! figures as such.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tidepool::global_tables::client::PeerClient;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
const VALUE_BYTES: usize = 1000;

struct Opts {
    secs: u64,
    rates: Vec<u64>,
    fill_items: u64,
    conns: usize,
}

fn parse_opts() -> Opts {
    let mut o = Opts { secs: 10, rates: vec![1000, 10_000], fill_items: 1_000_000, conns: 16 };
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--secs" => o.secs = v.parse().expect("--secs N"),
            "--rates" => o.rates = v.split(',').map(|r| r.parse().expect("--rates A,B")).collect(),
            "--fill-items" => o.fill_items = v.parse().expect("--fill-items N"),
            "--conns" => o.conns = v.parse().expect("--conns N"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

struct Region {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_regions() -> Vec<Region> {
    let ports: Vec<u16> = REGIONS.iter().map(|_| free_port()).collect();
    let mut out = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let dir = tempfile::tempdir().expect("a data directory");
        let peers: Vec<String> = (0..REGIONS.len())
            .filter(|&o| o != i)
            .map(|o| format!("{}=http://127.0.0.1:{}", REGIONS[o], ports[o]))
            .collect();
        let child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["serve", "--port", &ports[i].to_string(), "--region", region, "--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tidepool");
        out.push(Region { child, port: ports[i], _dir: dir });
    }
    for r in &out {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", r.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "a region did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    out
}

fn client(port: u16) -> PeerClient {
    PeerClient::new(format!("127.0.0.1:{port}"))
}

async fn ddb(c: &PeerClient, op: &str, body: &Json) -> (u16, Json) {
    let target = format!("DynamoDB_20120810.{op}");
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
    let (status, body) = c.post_with("/", &headers, body.to_string().into_bytes()).await.expect(op);
    (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
}

async fn ddb_ok(c: &PeerClient, op: &str, body: &Json) -> Json {
    let (status, out) = ddb(c, op, body).await;
    assert_eq!(status, 200, "{op}: {out}");
    out
}

fn item(table: &str, n: u64) -> Json {
    let v: String = std::iter::repeat_n('x', VALUE_BYTES).collect();
    json!({"TableName": table, "Item": {"pk": {"S": format!("k{n:012}")}, "v": {"S": v}}})
}

async fn create(c: &PeerClient, table: &str) {
    create_with(c, table, false).await;
}

/// A table keyed by `pk`, with a `NEW_AND_OLD_IMAGES` stream when `stream`.
async fn create_with(c: &PeerClient, table: &str, stream: bool) {
    let mut body = json!({
        "TableName": table,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    });
    if stream {
        body["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"});
    }
    ddb_ok(c, "CreateTable", &body).await;
}

/// CPU seconds a process has used (user and system), from `/proc`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 12th and 13th of them, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

async fn add_replicas(c: &PeerClient, table: &str, regions: &[&str]) -> Duration {
    let t0 = Instant::now();
    for r in regions {
        let body = json!({"TableName": table, "ReplicaUpdates": [{"Create": {"RegionName": r}}]});
        ddb_ok(c, "UpdateTable", &body).await;
        loop {
            let d = ddb_ok(c, "DescribeTable", &json!({"TableName": table})).await;
            let active = d["Table"]["Replicas"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["RegionName"] == *r && x["ReplicaStatus"] == "ACTIVE"));
            if active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    t0.elapsed()
}

/// PutItem as fast as `conns` connections go for `secs`: puts/s.
async fn put_throughput(port: u16, table: &str, secs: u64, conns: usize) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, table) = (next.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            let c = client(port);
            let mut done = 0u64;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if ddb(&c, "PutItem", &item(&table, n)).await.0 == 200 {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("a writer");
    }
    total as f64 / secs as f64
}

/// PutItem paced at `rate` a second for `secs`: the rate achieved.
async fn paced_puts(port: u16, table: &str, rate: u64, secs: u64, conns: usize) -> f64 {
    let per_conn = rate as f64 / conns as f64;
    let interval = Duration::from_secs_f64(1.0 / per_conn);
    let next = Arc::new(AtomicU64::new(10_000_000));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, table) = (next.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            let c = client(port);
            let mut due = Instant::now();
            let mut done = 0u64;
            while due < deadline {
                tokio::time::sleep_until(due.into()).await;
                let n = next.fetch_add(1, Ordering::Relaxed);
                if ddb(&c, "PutItem", &item(&table, n)).await.0 == 200 {
                    done += 1;
                }
                due += interval;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("a writer");
    }
    total as f64 / t0.elapsed().as_secs_f64()
}

async fn latency_at(port: u16) -> (u64, u64, u64) {
    let out = get(port, "/tidepool/replication").await;
    let l = out["ReplicationLatency"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["SourceRegion"] == "us-east-1").cloned())
        .unwrap_or(Json::Null);
    (l["P50Ms"].as_u64().unwrap_or(0), l["P99Ms"].as_u64().unwrap_or(0), l["Samples"].as_u64().unwrap_or(0))
}

async fn get(port: u16, path: &str) -> Json {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 4);
    serde_json::from_slice(&raw[at..]).unwrap_or(Json::Null)
}

/// Loads `n` items with BatchWriteItem from `conns` connections: items/s.
async fn load(port: u16, table: &str, n: u64, conns: usize) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, table) = (next.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            let c = client(port);
            loop {
                let from = next.fetch_add(25, Ordering::Relaxed);
                if from >= n {
                    break;
                }
                let reqs: Vec<Json> = (from..(from + 25).min(n))
                    .map(|i| json!({"PutRequest": {"Item": item(&table, i)["Item"].clone()}}))
                    .collect();
                let mut body = json!({"RequestItems": {table.clone(): reqs}});
                loop {
                    let out = ddb_ok(&c, "BatchWriteItem", &body).await;
                    match out["UnprocessedItems"].get(&table) {
                        Some(left) if left.as_array().is_some_and(|l| !l.is_empty()) => {
                            body = json!({"RequestItems": {table.clone(): left.clone()}});
                        }
                        _ => break,
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a loader");
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let opts = parse_opts();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let regions = start_regions();
        let origin = regions[0].port;
        let c = client(origin);
        println!("replication bench: {} s phases, {} connections", opts.secs, opts.conns);

        let phases = [
            ("none", "no stream, no replica", false, &[][..]),
            ("stream", "a NEW_AND_OLD_IMAGES stream, no replica", true, &[][..]),
            ("one", "one replica", false, &REGIONS[1..2]),
            ("two", "two replicas", false, &REGIONS[1..]),
        ];
        for (table, what, stream, replicas) in phases {
            create_with(&c, table, stream).await;
            add_replicas(&c, table, replicas).await;
            let pids: Vec<u32> = regions.iter().map(|r| r.child.id()).collect();
            let before: Vec<f64> = pids.iter().map(|p| cpu_secs(*p)).collect();
            let rate = put_throughput(origin, table, opts.secs, opts.conns).await;
            // Let replication drain, so the peers' share is counted whole.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let used: Vec<f64> = pids.iter().zip(&before).map(|(p, b)| cpu_secs(*p) - b).collect();
            let puts = rate * opts.secs as f64;
            println!(
                "PutItem/s on the origin, {what}: {rate:.0}; CPU per PutItem: origin {:.0} µs, other regions {:.0} µs",
                used[0] / puts * 1e6,
                used[1..].iter().sum::<f64>() / puts * 1e6
            );
        }

        create(&c, "paced").await;
        add_replicas(&c, "paced", &REGIONS[1..2]).await;
        for rate in &opts.rates {
            get(regions[1].port, "/tidepool/replication?reset=true").await;
            let got = paced_puts(origin, "paced", *rate, opts.secs, opts.conns).await;
            // Let the last changes arrive, then read the latest window.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (p50, p99, n) = latency_at(regions[1].port).await;
            println!(
                "replication latency at {rate} PutItem/s (achieved {got:.0}/s): p50 {p50} ms, p99 {p99} ms ({n} samples)"
            );
        }

        if opts.fill_items > 0 {
            create(&c, "fill").await;
            let loaded = load(origin, "fill", opts.fill_items, opts.conns).await;
            println!("loaded {} items at {loaded:.0}/s", opts.fill_items);
            let took = add_replicas(&c, "fill", &REGIONS[1..2]).await;
            let count = ddb_ok(&client(regions[1].port), "DescribeTable", &json!({"TableName": "fill"})).await["Table"]
                ["ItemCount"]
                .as_u64()
                .unwrap_or(0);
            println!(
                "fill of a new replica: {} items ACTIVE in {:.1} s ({:.0} items/s); the replica counts {count}",
                opts.fill_items,
                took.as_secs_f64(),
                opts.fill_items as f64 / took.as_secs_f64()
            );
        }
        drop(regions);
    });
}
