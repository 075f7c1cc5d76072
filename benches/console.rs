//! The console benchmark (issue 18): the console's first page load and its
//! item browser on a table of a million items, in headless Chromium, beside
//! dynamodb-admin (npm, the GUI DynamoDB Local users reach for) pointed at
//! the same server. Run with
//!
//! ```sh
//! cargo bench --bench console -- [--items 1000000] [--runs 5] [--no-peer]
//! ```
//!
//! It starts `tidepool serve` on a fresh data directory, loads a table
//! `big` (`pk` S, `sk` N, ten items per partition, about 300 bytes each)
//! with BatchWriteItem, then in one Chromium session, `--runs` times each
//! (after `about:blank`, so every load is a real navigation):
//! - the console's tables page: from navigation to the table listed;
//! - its item browser on `big`: from navigation to the first page of 25
//!   items shown, then the next page;
//! - dynamodb-admin (installed from npm into `target/tmp/dynamodb-admin`):
//!   its tables page, and its table page until the first 25 items show.
//!
//! The first run of each is cold (nothing cached); the table gives it and
//! the median of the rest. Last, a backup of `big` is restored into a new
//! table while the console shows the restore's progress (a screenshot,
//! `target/tmp/console-screenshots/restore.png`).

#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/common/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use serde_json::json;
use webdriver::Browser;

const TABLE: &str = "big";
const PER_PARTITION: u64 = 10;
const BATCH: u64 = 25;
/// Concurrent BatchWriteItem calls while loading.
const LOADERS: u64 = 16;
/// dynamodb-admin's version (the npm registry's latest when written).
const PEER_VERSION: &str = "5.3.3";

struct Opts {
    items: u64,
    runs: usize,
    peer: bool,
}

fn opts() -> Opts {
    let mut o = Opts { items: 1_000_000, runs: 5, peer: true };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let next = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--items" => {
                o.items = next().parse().expect("--items N");
                i += 1;
            }
            "--runs" => {
                o.runs = next().parse::<usize>().expect("--runs N").max(1);
                i += 1;
            }
            "--no-peer" => o.peer = false,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
        i += 1;
    }
    o
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

async fn wait_listening(port: u16, what: &str) {
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(t0.elapsed() < Duration::from_secs(120), "{what} did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("AKIDBENCH", "secret", None, None, "bench"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

fn item(i: u64) -> std::collections::HashMap<String, AttributeValue> {
    let s = |v: String| AttributeValue::S(v);
    std::collections::HashMap::from([
        ("pk".to_string(), s(format!("user-{:08}", i / PER_PARTITION))),
        ("sk".to_string(), AttributeValue::N((i % PER_PARTITION).to_string())),
        ("name".to_string(), s(format!("Player {i}"))),
        ("email".to_string(), s(format!("player{i}@example.com"))),
        ("score".to_string(), AttributeValue::N((i * 7919 % 100_000).to_string())),
        ("note".to_string(), s(format!("{i:08} {}", "lorem ipsum dolor sit amet ".repeat(7)))),
    ])
}

async fn load(c: &Client, items: u64) {
    c.create_table()
        .table_name(TABLE)
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::N).build().unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    let t0 = Instant::now();
    let batches = items.div_ceil(BATCH);
    let mut tasks = Vec::new();
    for w in 0..LOADERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = w;
            while b < batches {
                let writes: Vec<WriteRequest> = (b * BATCH..((b + 1) * BATCH).min(items))
                    .map(|i| {
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(Some(item(i))).build().unwrap())
                            .build()
                    })
                    .collect();
                let mut pending = Some(std::collections::HashMap::from([(TABLE.to_string(), writes)]));
                while let Some(req) = pending.take() {
                    let out = c.batch_write_item().set_request_items(Some(req)).send().await.expect("load");
                    pending = out.unprocessed_items.filter(|u| !u.is_empty());
                }
                b += LOADERS;
            }
        }));
    }
    for t in tasks {
        t.await.expect("a loader");
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("loaded {items} items in {secs:.1} s ({:.0} items/s)", items as f64 / secs);
}

/// Waits until `script` (returning a boolean) holds in the page.
async fn until(b: &Browser, script: &str, what: &str) {
    let t0 = Instant::now();
    loop {
        if b.script(script, json!([])).await == json!(true) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{what} never showed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Milliseconds from navigating to `url` until `ready` holds.
async fn timed_load(b: &Browser, url: &str, ready: &str) -> f64 {
    b.goto("about:blank").await;
    let t0 = Instant::now();
    b.goto(url).await;
    until(b, ready, url).await;
    t0.elapsed().as_secs_f64() * 1000.0
}

/// The first value, and the median of the rest.
fn cold_warm(v: &[f64]) -> (f64, f64) {
    let mut rest: Vec<f64> = v[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    let median = if rest.is_empty() { v[0] } else { rest[rest.len() / 2] };
    (v[0], median)
}

/// dynamodb-admin from npm, in `dir` (installed once).
fn install_peer(dir: &Path) -> PathBuf {
    let script = dir.join("node_modules/dynamodb-admin/dist/dynamodb-admin.js");
    if !script.is_file() {
        std::fs::create_dir_all(dir).expect("peer dir");
        println!("installing dynamodb-admin@{PEER_VERSION} from npm into {}", dir.display());
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .arg(format!("dynamodb-admin@{PEER_VERSION}"))
            .status()
            .expect("run npm");
        assert!(ok.success(), "npm install dynamodb-admin failed");
    }
    script
}

#[tokio::main]
async fn main() {
    let o = opts();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let data = tempfile::tempdir_in(&tmp).expect("a data directory");
    let port = free_port();
    let _server = Proc(
        Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tidepool"),
    );
    wait_listening(port, "tidepool").await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let c = client(&endpoint);
    load(&c, o.items).await;

    let b = Browser::start().await;
    let console = format!("{endpoint}/console");
    let mut tables = Vec::new();
    let mut first_page = Vec::new();
    let mut next_page = Vec::new();
    for _ in 0..o.runs {
        tables.push(
            timed_load(
                &b,
                &format!("{console}#/tables"),
                "const t = document.querySelector('#tables'); return !!t && t.innerText.includes('big')",
            )
            .await,
        );
        first_page.push(
            timed_load(
                &b,
                &format!("{console}#/table/{TABLE}"),
                "const p = document.querySelector('#page-number'); return !!p && p.innerText.includes('25 items')",
            )
            .await,
        );
        let t0 = Instant::now();
        b.click("#page-next").await;
        until(
            &b,
            "const p = document.querySelector('#page-number'); return !!p && p.innerText.includes('page 2, 25 items')",
            "page 2",
        )
        .await;
        next_page.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let mut rows = vec![
        ("Tidepool console: tables page", cold_warm(&tables)),
        ("Tidepool console: item browser, first page of 25", cold_warm(&first_page)),
        ("Tidepool console: item browser, next page", cold_warm(&next_page)),
    ];

    let _peer = if o.peer {
        let script = install_peer(&tmp.join("dynamodb-admin"));
        let peer_port = free_port();
        let peer = Proc(
            Command::new("node")
                .arg(&script)
                .args(["--port", &peer_port.to_string()])
                .env("DYNAMO_ENDPOINT", &endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "secret")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dynamodb-admin"),
        );
        wait_listening(peer_port, "dynamodb-admin").await;
        let admin = format!("http://127.0.0.1:{peer_port}");
        let mut p_tables = Vec::new();
        let mut p_first = Vec::new();
        for _ in 0..o.runs {
            p_tables.push(timed_load(&b, &format!("{admin}/"), "return document.body.innerText.includes('big')").await);
            p_first.push(
                timed_load(
                    &b,
                    &format!("{admin}/tables/{TABLE}"),
                    "return document.querySelectorAll('#items-container tr').length >= 25",
                )
                .await,
            );
        }
        rows.push(("dynamodb-admin: tables page", cold_warm(&p_tables)));
        rows.push(("dynamodb-admin: table page, first page of 25", cold_warm(&p_first)));
        Some(peer)
    } else {
        None
    };

    // A restore of the whole table, its progress shown as it loads.
    let t0 = Instant::now();
    let backup = c.create_backup().table_name(TABLE).backup_name("bench").send().await.expect("backup");
    let arn = backup.backup_details().map(|d| d.backup_arn().to_string()).expect("an ARN");
    loop {
        let d = c.describe_backup().backup_arn(&arn).send().await.expect("describe the backup");
        let status = d.backup_description().and_then(|d| d.backup_details()).map(|d| d.backup_status().as_str());
        if status == Some("AVAILABLE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backup_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    c.restore_table_from_backup().target_table_name("big-copy").backup_arn(&arn).send().await.expect("restore");
    b.goto(&format!("{console}#/table/big-copy")).await;
    let mut shot = false;
    loop {
        let status = b
            .script(
                "const s = document.querySelector('#restore-status'); return s ? s.innerText : (document.querySelector('#page-number') ? 'ACTIVE' : '')",
                json!([]),
            )
            .await;
        let status = status.as_str().unwrap_or_default().to_string();
        if status == "ACTIVE" {
            break;
        }
        if !shot && status.contains(" %") {
            b.screenshot("restore").await;
            println!("restore progress shown: {status}");
            shot = true;
        }
        assert!(t0.elapsed() < Duration::from_secs(1800), "the restore never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restore_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    c.delete_table().table_name("big-copy").send().await.expect("delete the copy");
    let delete_secs = t0.elapsed().as_secs_f64();

    println!();
    println!("| {} items | cold (ms) | warm, median of {} (ms) |", o.items, o.runs.saturating_sub(1));
    println!("|---|---|---|");
    for (what, (cold, warm)) in &rows {
        println!("| {what} | {cold:.0} | {warm:.0} |");
    }
    println!();
    println!(
        "backup of {} items: {backup_secs:.1} s; restore into a new table, its progress followed in the console until ACTIVE: {restore_secs:.1} s; DeleteTable of the copy: {delete_secs:.2} s",
        o.items
    );
}
