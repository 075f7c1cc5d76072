//! Issue 20: a fleet of workers (`tidepool workers --source URL`, separate
//! processes) shares the shards of one stream through leases kept in the
//! source engine. Workers die (`kill -9`), restart, join and leave while
//! records are written; every record is still delivered, in order per key,
//! with duplicates bounded, and a worker that lost its lease never moves its
//! checkpoint.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_lambda::types::EventSourcePosition;
use common::{attr_def, client, lambda_client, s};
use tidepool::ServerConfig;
use tidepool_store::stream::StreamConfig;

/// Keys written, each with `v` = 1, 2, 3, … in turn.
const KEYS: usize = 24;
const BATCH: i32 = 10;
/// Seconds a lease lasts unrenewed in this test (the default is 10).
const LEASE_SECS: u64 = 3;

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, limit: Duration, mut ok: impl FnMut() -> F) {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn table(c: &Client, name: &str, stream: bool) {
    let mut create = c
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr_def("k", ScalarAttributeType::S))
        .key_schema(KeySchemaElement::builder().attribute_name("k").key_type(KeyType::Hash).build().unwrap());
    if stream {
        create = create.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                .build()
                .unwrap(),
        );
    }
    create.send().await.unwrap_or_else(|e| panic!("create {name}: {e:?}"));
}

/// A worker process on its own data directory, reading `source`.
struct Worker {
    child: Child,
    endpoint: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_worker(dir: &Path, source: &str, mapping: bool, exactly_once: bool) -> Worker {
    let arn = if mapping { Some(stream_arn(&client(source)).await) } else { None };
    let worker = start_worker_with(dir, source, arn.as_deref().filter(|_| !exactly_once), &[]).await;
    if let Some(arn) = arn.filter(|_| exactly_once) {
        // The SDKs have no `ExactlyOnce`: the request as JSON.
        common::create_example_function(&lambda_client(&worker.endpoint), "order-check").await;
        let body = serde_json::json!({
            "FunctionName": "order-check", "EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON",
            "BatchSize": BATCH, "ExactlyOnce": true,
        });
        let addr = worker.endpoint.trim_start_matches("http://");
        let headers = [("content-type", "application/json")];
        let answer = common::http::send(
            addr,
            "POST",
            "/2015-03-31/event-source-mappings/",
            &headers,
            body.to_string().as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 202, "an exactly-once mapping: {}", answer.json());
    }
    worker
}

/// A worker whose mapping (if `stream_arn`) reads that stream, with `env`.
async fn start_worker_with(dir: &Path, source: &str, stream_arn: Option<&str>, env: &[(&str, &Path)]) -> Worker {
    use std::io::{BufRead, BufReader};
    std::fs::create_dir_all(dir).expect("worker dir");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("worker.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["workers", "--port", "0", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--source", source, "--lease-duration", &LEASE_SECS.to_string()])
        .env("RUST_LOG", "warn,tidepool=info,tidepool_runtime::esm::lease=info")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn a worker");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the listening line");
    let endpoint = line.trim().rsplit(' ').next().expect("endpoint").to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{line:?}");
    if let Some(arn) = stream_arn {
        let lambda = lambda_client(&endpoint);
        common::create_example_function(&lambda, "order-check").await;
        lambda
            .create_event_source_mapping()
            .function_name("order-check")
            .event_source_arn(arn)
            .starting_position(EventSourcePosition::TrimHorizon)
            .batch_size(BATCH)
            .send()
            .await
            .expect("the mapping");
    }
    Worker { child, endpoint }
}

/// Every lease of the fleet's group: shard → (owner, counter, checkpoint).
async fn leases(c: &Client) -> BTreeMap<String, (Option<String>, u64, String)> {
    let mut items = Vec::new();
    let mut start = None;
    let mut failures = 0;
    loop {
        match c
            .scan()
            .table_name("tidepool-leases")
            .consistent_read(true)
            .set_exclusive_start_key(start.clone())
            .send()
            .await
        {
            Ok(page) => {
                items.extend(page.items.unwrap_or_default());
                match page.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
            // Not made yet (the first worker makes it), or a hiccup.
            Err(e) if common::code(&e) == "ResourceNotFoundException" => return BTreeMap::new(),
            Err(e) => {
                failures += 1;
                assert!(failures < 20, "scan the lease table: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    items
        .iter()
        .filter_map(|i| {
            let shard = i.get("leaseKey")?.as_s().ok()?.clone();
            let owner = i.get("leaseOwner").and_then(|o| o.as_s().ok()).cloned();
            let counter = i.get("leaseCounter")?.as_n().ok()?.parse().ok()?;
            let cp = i.get("checkpoint").and_then(|c| c.as_s().ok()).cloned().unwrap_or_default();
            (!shard.starts_with('#')).then_some((shard, (owner, counter, cp)))
        })
        .collect()
}

/// The workers holding leases of shards not finished.
async fn owners(c: &Client) -> std::collections::BTreeSet<String> {
    leases(c).await.into_values().filter(|l| l.2 != "SHARD_END").filter_map(|l| l.0).collect()
}

/// The name worker `dir` logged for itself.
fn worker_name(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("worker.log")).expect("the worker's log");
    let line = log.lines().find(|l| l.contains("shards are shared by leases")).expect("the worker's name line");
    line.split("worker=").nth(1).and_then(|w| w.split_whitespace().next()).expect("worker=").to_string()
}

/// A checkpoint's place in its shard's order.
fn rank(cp: &str) -> u128 {
    match cp {
        "TRIM_HORIZON" | "LATEST" | "" => 0,
        "SHARD_END" => u128::MAX,
        n => n.parse::<u128>().expect("a sequence number") + 1,
    }
}

/// On a Tidepool source whose stream has 4 shards at a time, rolled over
/// every 6 s (so parents finish and children start under the leases too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_workers_shares_the_shards_through_kills_restarts_and_joins() {
    let dir = tempfile::tempdir().expect("dir");
    let streams = StreamConfig { shards: 4, rollover: Duration::from_secs(6), ..StreamConfig::default() };
    let source =
        common::start_with(&dir.path().join("source"), ServerConfig { streams, ..ServerConfig::default() }).await;
    let shape = Shape { shared_by: [2, 3], shards_at_least: 8, atomic_conditions: true, exactly_once: false };
    fleet(dir.path(), &source.endpoint(), shape).await;
    source.stop().await.expect("stop the source");
}

/// The same fleet with `ExactlyOnce`: each batch's writes commit with its
/// checkpoint in one TransactWriteItems of the source, so through the kills,
/// the stolen lease and the clean stop no record is applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_fleet_applies_every_record_once_through_kills_and_failovers() {
    let dir = tempfile::tempdir().expect("dir");
    let streams = StreamConfig { shards: 4, rollover: Duration::from_secs(6), ..StreamConfig::default() };
    let source =
        common::start_with(&dir.path().join("source"), ServerConfig { streams, ..ServerConfig::default() }).await;
    let shape = Shape { shared_by: [2, 3], shards_at_least: 8, atomic_conditions: true, exactly_once: true };
    fleet(dir.path(), &source.endpoint(), shape).await;
    source.stop().await.expect("stop the source");
}

/// The same fleet on moto's DynamoDB Streams (an independent
/// implementation, from PyPI), whose streams have one shard: the workers
/// pass it among themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_workers_shares_motos_stream() {
    let dir = tempfile::tempdir().expect("dir");
    let moto = common::moto().await;
    let shape = Shape { shared_by: [1, 1], shards_at_least: 1, atomic_conditions: false, exactly_once: false };
    fleet(dir.path(), &moto.endpoint, shape).await;
}

/// What a source's stream lets the fleet show.
struct Shape {
    /// How many workers hold leases at once with two workers, then three.
    shared_by: [usize; 2],
    /// Leases made over the run.
    shards_at_least: usize,
    /// A conditional write is checked and applied atomically (moto's are
    /// not, under concurrent requests).
    atomic_conditions: bool,
    /// The mapping is exactly-once: no record is applied twice.
    exactly_once: bool,
}

async fn fleet(dir: &Path, url: &str, shape: Shape) {
    let url = url.to_string();
    let sc = client(&url);
    table(&sc, "Events", true).await;
    table(&sc, "Seen", false).await;

    // Steady writes for the whole run: each key's values in order.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (sc, writing) = (sc.clone(), writing.clone());
        tokio::spawn(async move {
            let mut last = vec![0u64; KEYS];
            let mut i = 0;
            while writing.load(Ordering::Relaxed) {
                let k = i % KEYS;
                last[k] += 1;
                sc.put_item()
                    .table_name("Events")
                    .item("k", s(&format!("key-{k}")))
                    .item("v", AttributeValue::N(last[k].to_string()))
                    .send()
                    .await
                    .expect("write an event");
                i += 1;
                if i % 8 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            last
        })
    };

    // The checkpoints as seen from outside, all along: none moves back.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (sc, watching) = (sc.clone(), watching.clone());
        tokio::spawn(async move {
            let mut highest: BTreeMap<String, (u128, String)> = BTreeMap::new();
            let mut owners = std::collections::BTreeSet::new();
            while watching.load(Ordering::Relaxed) {
                for (shard, (owner, _, cp)) in leases(&sc).await {
                    let r = rank(&cp);
                    if let Some((was, text)) = highest.get(&shard) {
                        assert!(r >= *was, "the checkpoint of {shard} moved back from {text} to {cp}");
                    }
                    highest.insert(shard, (r, cp));
                    owners.extend(owner);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (highest, owners)
        })
    };

    let w = |i: usize| dir.join(format!("worker-{i}"));
    let eo = shape.exactly_once;
    let mut a = start_worker(&w(1), &url, true, eo).await;
    let b = start_worker(&w(2), &url, true, eo).await;
    eventually("the leases to be shared by two workers", Duration::from_secs(30), || async {
        owners(&sc).await.len() == shape.shared_by[0]
    })
    .await;

    // A worker dies mid-batch and comes back on the same data directory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.child.kill().expect("kill -9 a worker");
    let _ = a.child.wait();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = start_worker(&w(1), &url, false, eo).await;
    // A third joins: it takes a share from the others.
    let c = start_worker(&w(3), &url, true, eo).await;
    eventually("the third worker to hold leases", Duration::from_secs(30), || async {
        owners(&sc).await.len() == shape.shared_by[1]
    })
    .await;

    // A lease taken from under its worker (as another worker would after a
    // pause): its checkpoint does not move while the intruder holds it, and
    // after the intruder's lease expires another worker goes on.
    // (The workers raise the counter with every checkpoint: tried until it
    // holds still between the read and the write.)
    let group =
        sc.scan().table_name("tidepool-leases").send().await.expect("scan").items.unwrap_or_default()[0]["leaseGroup"]
            .as_s()
            .unwrap()
            .clone();
    let function_arn = format!("arn:aws:lambda:us-east-1:000000000000:function:order-check|{}", stream_arn(&sc).await);
    assert_eq!(group, function_arn, "a group is named by the function's ARN and the stream's");
    let mut attempts = 0;
    let (shard, cp) = loop {
        let (shard, (_, counter, cp)) =
            leases(&sc).await.into_iter().find(|(_, l)| l.0.is_some() && l.2 != "SHARD_END").expect("a held lease");
        let took = sc
            .update_item()
            .table_name("tidepool-leases")
            .key("leaseGroup", s(&group))
            .key("leaseKey", s(&shard))
            .update_expression("SET leaseOwner = :i, leaseCounter = leaseCounter + :one")
            .condition_expression("leaseCounter = :n")
            .expression_attribute_values(":i", s("intruder"))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":n", AttributeValue::N(counter.to_string()))
            .send()
            .await;
        match took {
            Ok(_) => break (shard, cp),
            Err(e) if common::code(&e) == "ConditionalCheckFailedException" && attempts < 200 => attempts += 1,
            Err(e) => panic!("take a lease by hand: {e:?}"),
        }
    };
    let stolen_at = Instant::now();
    let mut cp = cp;
    if !shape.atomic_conditions {
        // moto checks a condition and writes apart, so a checkpoint written
        // at the moment of the take may land after it; any later one may not.
        tokio::time::sleep(Duration::from_millis(300)).await;
        cp = leases(&sc).await[&shard].2.clone();
    }
    while stolen_at.elapsed() < Duration::from_millis(LEASE_SECS * 1000 - 500) {
        let now = leases(&sc).await;
        let (owner, _, now_cp) = now.get(&shard).expect("the stolen lease");
        if owner.as_deref() != Some("intruder") {
            break;
        }
        assert_eq!(now_cp, &cp, "a worker without the lease moved the checkpoint of {shard}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One dies for good, one leaves cleanly (SIGTERM hands its leases back).
    let mut b = b;
    b.child.kill().expect("kill -9 a worker");
    let _ = b.child.wait();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c_name = worker_name(&w(3));
    let _ = Command::new("kill").arg(c.child.id().to_string()).status();
    let mut c = c;
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = c.child.try_wait().expect("wait for the worker") {
            break status;
        }
        assert!(stopping.elapsed() < Duration::from_secs(30), "the worker did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean stop: {status:?}");
    // It handed its leases back as it stopped.
    assert!(!owners(&sc).await.contains(&c_name), "{c_name} still holds leases after a clean stop");
    tokio::time::sleep(Duration::from_secs(1)).await;

    writing.store(false, Ordering::Relaxed);
    let last = writer.await.expect("the writer");
    let written: u64 = last.iter().sum();
    // The last worker delivers the rest: every record, in order per key.
    let seen = || async {
        let items = sc.scan().table_name("Seen").consistent_read(true).send().await.expect("scan Seen").items;
        items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                let n = |a: &str| i.get(a).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                (i["k"].as_s().unwrap().clone(), (n("v"), n("dups"), n("gaps")))
            })
            .collect::<BTreeMap<String, (u64, u64, u64)>>()
    };
    let expected: BTreeMap<String, u64> = last.iter().enumerate().map(|(k, v)| (format!("key-{k}"), *v)).collect();
    eventually("every record to be delivered", Duration::from_secs(90), || async {
        let now = seen().await;
        expected.iter().all(|(k, v)| now.get(k).is_some_and(|s| s.0 == *v))
    })
    .await;
    let seen = seen().await;
    let gaps: u64 = seen.values().map(|s| s.2).sum();
    let dups: u64 = seen.values().map(|s| s.1).sum();
    assert_eq!(gaps, 0, "records out of order: {seen:?}");
    // Each failover delivers again at most the batches in flight: a batch
    // per shard the dead or robbed worker held.
    let bound = if shape.exactly_once { 0 } else { 3 * 8 * BATCH as u64 };
    assert!(dups <= bound, "{dups} duplicates of {written} records, more than {bound}");
    eprintln!("{written} records, {dups} delivered twice");

    watching.store(false, Ordering::Relaxed);
    let (highest, owners) = watcher.await.expect("the checkpoint watcher");
    assert!(highest.len() >= shape.shards_at_least, "shards leased: {highest:?}");
    assert!(owners.len() > shape.shared_by[1], "workers and the intruder held leases: {owners:?}");
    // The worker that stayed reports its mapping, as a Lambda would.
    let mappings = lambda_client(&a.endpoint).list_event_source_mappings().send().await.expect("list");
    let m = &mappings.event_source_mappings()[0];
    assert_eq!(m.state(), Some("Enabled"));
    assert_eq!(m.last_processing_result(), Some("OK"));
    // Its view of the mapping names it and the shards it holds (the others
    // are gone).
    let addr = a.endpoint.trim_start_matches("http://");
    let view = common::http::send(addr, "GET", "/tidepool/mappings", &[], b"").await.json();
    let leases = &view["Mappings"][0]["Leases"];
    assert_eq!(leases["Worker"].as_str(), Some(worker_name(&w(1)).as_str()), "{view}");
    let held = leases["Held"].as_array().map_or(0, Vec::len);
    assert!(held >= 1, "{view}");
    drop(a);
}

async fn stream_arn(c: &Client) -> String {
    c.describe_table().table_name("Events").send().await.unwrap().table.unwrap().latest_stream_arn.unwrap()
}

/// A DynamoDB client over HTTPS that trusts the CA of `ca_pem` only.
fn https_client(endpoint: &str, ca_pem: &[u8]) -> Client {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.to_vec());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(TlsContext::builder().with_trust_store(trust).build().expect("a TLS context"))
        .build_https();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// A worker reads a source over HTTPS (as it reads AWS), trusting the
/// system's roots: here the source's own CA, through `SSL_CERT_FILE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reads_a_source_over_https() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("source");
    let (mut source, url) =
        common::spawn_server(&["--data-dir".as_ref(), data.as_os_str(), "--tls".as_ref(), "self-signed".as_ref()]);
    assert!(url.starts_with("https://"), "{url}");
    let ca_file = data.join("tls/ca.pem");
    let sc = https_client(&url, &std::fs::read(&ca_file).expect("the CA"));
    table(&sc, "Events", true).await;
    table(&sc, "Seen", false).await;
    let arn = stream_arn(&sc).await;
    let env: [(&str, &Path); 3] = [
        ("SSL_CERT_FILE", &ca_file),
        ("AWS_ACCESS_KEY_ID", Path::new("AKIDTEST")),
        ("AWS_SECRET_ACCESS_KEY", Path::new("secret")),
    ];
    let worker = start_worker_with(&dir.path().join("worker"), &url, Some(&arn), &env).await;
    for v in 1..=20 {
        sc.put_item()
            .table_name("Events")
            .item("k", s("key-0"))
            .item("v", AttributeValue::N(v.to_string()))
            .send()
            .await
            .expect("write an event");
    }
    eventually("the records, read over HTTPS", Duration::from_secs(60), || async {
        let item = sc.get_item().table_name("Seen").key("k", s("key-0")).consistent_read(true).send().await;
        item.ok().and_then(|i| i.item).and_then(|i| i.get("v").and_then(|v| v.as_n().ok()).cloned()).as_deref()
            == Some("20")
    })
    .await;
    drop(worker);
    let _ = source.kill();
    let _ = source.wait();
}
