//! Recovery: acknowledged writes and their stream records survive a clean
//! restart and a SIGKILL of a child-process server, in both durability modes.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, ScalarAttributeType, StreamSpecification, StreamViewType, WriteRequest};
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
use common::{client, create_table, n, s, start_in, streams_client};
use tidepool_store::Durability;

#[tokio::test]
async fn clean_restart_keeps_items_counts_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path(), Durability::default()).await;
    let c = client(&server.endpoint());
    create_table(&c, "keep", Some(ScalarAttributeType::N)).await;
    for i in 0..50 {
        c.put_item().table_name("keep").item("pk", s("p")).item("sk", n(i)).send().await.unwrap();
    }
    c.delete_item().table_name("keep").key("pk", s("p")).key("sk", n(0)).send().await.unwrap();
    server.stop().await.unwrap();

    let server = start_in(dir.path(), Durability::default()).await;
    let c = client(&server.endpoint());
    let t = c.describe_table().table_name("keep").send().await.unwrap().table.unwrap();
    assert_eq!(t.item_count, Some(49));
    let q = c
        .query()
        .table_name("keep")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count, 49);
    assert_eq!(q.items()[0]["sk"], n(1));
    server.stop().await.unwrap();
}

/// A child-process server over `dir` in durability mode `durability`.
fn spawn_server_with(dir: &Path, durability: &str, extra: &[&str]) -> (Child, String) {
    let mut args: Vec<&OsStr> = vec!["--durability".as_ref(), durability.as_ref(), "--data-dir".as_ref(), dir.as_ref()];
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    common::spawn_server(&args)
}

fn spawn_server(dir: &Path, durability: &str) -> (Child, String) {
    spawn_server_with(dir, durability, &[])
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    for (round, mode) in ["sync", "buffered", "sync"].iter().enumerate() {
        let (mut child, endpoint) = spawn_server(dir.path(), mode);
        let c = client(&endpoint);
        if round == 0 {
            create_table(&c, "crash", None).await;
        }
        // Everything acknowledged before is still there, exactly once.
        for k in &acknowledged {
            let got = c.get_item().table_name("crash").key("pk", s(k)).consistent_read(true).send().await.unwrap();
            assert!(got.item.is_some(), "round {round}: acknowledged {k} lost");
        }
        // Writes in flight at the kill may have committed without being
        // acknowledged, so there can be more items, never fewer; and the
        // table's counter must equal what a scan finds.
        let t = c.describe_table().table_name("crash").send().await.unwrap().table.unwrap();
        let scanned: i32 = c
            .scan()
            .table_name("crash")
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .map(|page| page.unwrap().count)
            .sum();
        assert!(
            scanned as usize >= acknowledged.len(),
            "round {round}: {scanned} items, {} acknowledged",
            acknowledged.len()
        );
        assert_eq!(t.item_count, Some(i64::from(scanned)), "round {round}: item count");

        // Four concurrent writers; kill the server while they run.
        let mut tasks = Vec::new();
        for w in 0..4 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0.. {
                    let k = format!("r{round}-w{w}-{i}");
                    match c.put_item().table_name("crash").item("pk", s(&k)).item("v", n(i)).send().await {
                        Ok(_) => done.push(k),
                        Err(_) => break,
                    }
                }
                done
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + 100 * round as u64)).await;
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
        for t in tasks {
            acknowledged.extend(t.await.unwrap());
        }
        assert!(!acknowledged.is_empty());
    }
    let (mut child, endpoint) = spawn_server(dir.path(), "sync");
    let c = client(&endpoint);
    for k in &acknowledged {
        let got = c.get_item().table_name("crash").key("pk", s(k)).send().await.unwrap();
        assert!(got.item.is_some(), "acknowledged {k} lost");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A stream reader that remembers, per shard, the last sequence number it
/// read, and resumes after it (AFTER_SEQUENCE_NUMBER), as a consumer that
/// checkpoints would.
#[derive(Default)]
struct Reader {
    last: BTreeMap<String, String>,
    /// (key, value, sequence number) in the order read.
    seen: Vec<(String, i64, u128)>,
}

impl Reader {
    async fn catch_up(&mut self, sc: &aws_sdk_dynamodbstreams::Client, arn: &str) {
        let d = sc.describe_stream().stream_arn(arn).send().await.unwrap().stream_description.unwrap();
        assert!(d.last_evaluated_shard_id.is_none(), "one page of shards");
        for sh in d.shards() {
            let id = sh.shard_id.clone().unwrap();
            let (kind, seq) = match self.last.get(&id) {
                Some(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.clone())),
                None => (ShardIteratorType::TrimHorizon, None),
            };
            let mut it = sc
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(&id)
                .shard_iterator_type(kind)
                .set_sequence_number(seq)
                .send()
                .await
                .unwrap()
                .shard_iterator;
            while let Some(token) = it {
                let page = sc.get_records().shard_iterator(token).send().await.unwrap();
                for r in page.records() {
                    let d = r.dynamodb.as_ref().unwrap();
                    let img = d.new_image.as_ref().unwrap();
                    let key = match &img["pk"] {
                        StreamValue::S(k) => k.clone(),
                        other => panic!("{other:?}"),
                    };
                    let v = match &img["v"] {
                        StreamValue::N(v) => v.parse().unwrap(),
                        other => panic!("{other:?}"),
                    };
                    let seq = d.sequence_number.clone().unwrap();
                    self.seen.push((key, v, seq.parse().unwrap()));
                    self.last.insert(id.clone(), seq);
                }
                if page.records().is_empty() {
                    break;
                }
                it = page.next_shard_iterator;
            }
        }
    }
}

#[tokio::test]
async fn stream_records_survive_sigkill_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<(String, i64)> = Vec::new();
    let mut reader = Reader::default();
    let mut arn = String::new();
    // Short shard lifetimes, so lineage crosses the restarts too.
    let extra = ["--shard-rollover-secs", "1", "--stream-shards", "3"];
    for (round, mode) in ["sync", "buffered", "sync", "buffered"].iter().enumerate() {
        let (mut child, endpoint) = spawn_server_with(dir.path(), mode, &extra);
        let c = client(&endpoint);
        let sc = streams_client(&endpoint);
        if round == 0 {
            create_table(&c, "feed", None).await;
            let spec = StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap();
            let t = c.update_table().table_name("feed").stream_specification(spec).send().await.unwrap();
            arn = t.table_description.unwrap().latest_stream_arn.unwrap();
        }
        // Resuming after the restart reads each record once: the reader's
        // records equal a fresh full read, with no gap and no duplicate.
        reader.catch_up(&sc, &arn).await;
        let mut fresh = Reader::default();
        fresh.catch_up(&sc, &arn).await;
        let mut resumed: Vec<u128> = reader.seen.iter().map(|r| r.2).collect();
        let mut full: Vec<u128> = fresh.seen.iter().map(|r| r.2).collect();
        resumed.sort_unstable();
        full.sort_unstable();
        assert_eq!(resumed, full, "round {round}: a resumed reader sees exactly the full stream");
        // Every acknowledged write has exactly one record, and each key's
        // records are in write order.
        let mut per_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (k, v, _) in &fresh.seen {
            per_key.entry(k).or_default().push(*v);
        }
        for (k, vs) in &per_key {
            assert!(vs.windows(2).all(|w| w[0] < w[1]), "round {round}: {k} out of order or repeated: {vs:?}");
        }
        for (k, v) in &acknowledged {
            assert!(per_key.get(k.as_str()).is_some_and(|vs| vs.contains(v)), "round {round}: record of {k}={v} lost");
        }

        // Four writers, one key each, values increasing; kill mid-flight,
        // while the reader reads.
        let mut tasks = Vec::new();
        for w in 0..4 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0.. {
                    let v = round as i64 * 1_000_000 + i;
                    let k = format!("w{w}");
                    match c.put_item().table_name("feed").item("pk", s(&k)).item("v", n(v)).send().await {
                        Ok(_) => done.push((k, v)),
                        Err(_) => break,
                    }
                }
                done
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        reader.catch_up(&sc, &arn).await;
        tokio::time::sleep(Duration::from_millis(100 + 150 * round as u64)).await;
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
        for t in tasks {
            acknowledged.extend(t.await.unwrap());
        }
    }
    assert!(acknowledged.len() > 100, "the writers got going: {}", acknowledged.len());
}

/// Sets the file-size limit (`ulimit -f`, bytes) of process `pid`.
#[cfg(target_os = "linux")]
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    use rustix::process::{Pid, Resource, Rlimit, prlimit};
    let pid = Pid::from_raw(pid as i32).expect("a live child's pid");
    prlimit(Some(pid), Resource::Fsize, Rlimit { current: bytes, maximum: None }).expect("prlimit the server");
}

/// A full disk, seen by the real binary through a file-size limit (writes
/// past it fail with `EFBIG` as they would with `ENOSPC`): writes are
/// refused with a retryable `ThrottlingException` while reads go on, and
/// once there is room again the server restarts itself in place (same
/// process, same port) and takes writes again, with every acknowledged
/// write kept.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_disk_pauses_writes_until_there_is_room_again() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("stdout");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .expect("spawn tidepool");
    let listening = || -> Vec<String> {
        let text = std::fs::File::open(&out).map(BufReader::new).unwrap();
        text.lines().map_while(Result::ok).filter(|l| l.starts_with("tidepool listening on ")).collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while listening().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let endpoint = listening()[0].rsplit(' ').next().unwrap().to_string();
    let c = client(&endpoint);
    create_table(&c, "full", None).await;
    let put = |i: usize| {
        c.put_item().table_name("full").item("pk", s(&format!("k{i}"))).item("v", s(&"x".repeat(2000))).send()
    };
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        put(i).await.unwrap();
        acknowledged.push(format!("k{i}"));
    }

    // The disk fills up: no file can grow past 1 MiB. fjall allocates its
    // journal 64 MiB at a time, so the write that fails is the one that
    // needs a new journal file or a flushed memtable's table file.
    set_file_size_limit(child.id(), Some(1024 * 1024));
    let mut refused = None;
    let big = s(&"y".repeat(16 * 1024));
    'load: for batch in 0..400 {
        let keys: Vec<String> = (0..25).map(|i| format!("b{batch}-{i}")).collect();
        let mut req = c.batch_write_item();
        let writes = keys
            .iter()
            .map(|k| {
                let item = [("pk".to_string(), s(k)), ("v".to_string(), big.clone())].into();
                WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build()
            })
            .collect();
        req = req.request_items("full", writes);
        match req.send().await {
            Ok(out) => {
                assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()), "{out:?}");
                acknowledged.extend(keys);
            }
            Err(e) => {
                refused = Some(e.into_service_error());
                break 'load;
            }
        }
    }
    // The write that met the failure may get a 500 (its outcome unknown:
    // it was being handed to the disk); the next are refused before
    // anything of them is staged.
    let refused = refused.expect("a write past the limit is refused");
    let code = refused.meta().code();
    assert!(matches!(code, Some("ThrottlingException" | "InternalServerError")), "{refused:?}");
    let refused = put(4000).await.unwrap_err().into_service_error();
    assert_eq!(refused.meta().code(), Some("ThrottlingException"), "{refused:?}");
    assert!(refused.meta().message().unwrap().contains("out of space"), "{refused:?}");
    // Still refused, and retryable: nothing needs a restart by hand.
    let again = put(5000).await.unwrap_err().into_service_error();
    assert_eq!(again.meta().code(), Some("ThrottlingException"), "{again:?}");
    // Reads go on.
    let got = c.get_item().table_name("full").key("pk", s("k3")).send().await.unwrap();
    assert!(got.item().is_some());

    // Room again: the server reopens its store by itself, in place.
    set_file_size_limit(child.id(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the server exited instead of restarting itself");
        match put(6000).await {
            Ok(_) => break,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "writes did not resume: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(listening().len(), 2, "one restart, on the same port: {:?}", listening());
    assert_eq!(listening()[1], listening()[0]);
    for k in acknowledged {
        let got = c.get_item().table_name("full").key("pk", s(&k)).consistent_read(true).send().await;
        assert!(got.unwrap().item().is_some(), "acknowledged item {k} was lost");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

/// An accepted asynchronous invoke survives `kill -9`: the event waits
/// (its function's reserved concurrency is 0), the server is killed, and
/// after the restart the event runs once the function can take it.
#[tokio::test]
async fn an_accepted_event_invoke_survives_sigkill() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Environment, FunctionCode, InvocationType};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = |log: &str| {
        let args = [OsStr::new("--data-dir"), data.as_os_str()];
        common::http::spawn_server_with_nofile(4096, &args, &dir.path().join(log))
    };
    let (mut child, endpoint) = serve("first.log");
    let ddb = client(&endpoint);
    // The `tick` example writes items keyed by `id`.
    ddb.create_table()
        .table_name("Ticks")
        .attribute_definitions(common::attr_def("id", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", aws_sdk_dynamodb::types::KeyType::Hash))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let lambda = common::lambda_client(&endpoint);
    lambda
        .create_function()
        .function_name("tick")
        .role("arn:aws:iam::000000000000:role/tidepool")
        .code(FunctionCode::builder().zip_file(Blob::new(tidepool_runtime::examples::example_bytes("tick"))).build())
        .environment(Environment::builder().variables("TABLE", "Ticks").build())
        .send()
        .await
        .unwrap();
    lambda.put_function_concurrency().function_name("tick").reserved_concurrent_executions(0).send().await.unwrap();
    let accepted = lambda
        .invoke()
        .function_name("tick")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(br#"{"kept": "across the crash"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status_code(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ddb.scan().table_name("Ticks").send().await.unwrap().count(), 0, "throttled: not run yet");
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, endpoint) = serve("second.log");
    let ddb = client(&endpoint);
    let lambda = common::lambda_client(&endpoint);
    lambda.delete_function_concurrency().function_name("tick").send().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let items = loop {
        let items = ddb.scan().table_name("Ticks").send().await.unwrap().items().to_vec();
        if !items.is_empty() || std::time::Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert_eq!(items.len(), 1, "the event ran once after the restart: {items:?}\n{log}");
    let input = items[0].get("input").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    assert!(input.contains("across the crash"), "{items:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
