//! Recovery: acknowledged writes survive a clean restart and a SIGKILL of a
//! child-process server, in both durability modes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::ScalarAttributeType;
use common::{client, create_table, n, s, start_in};
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

/// Starts `tidepool serve` as a child on a free port; returns it and its endpoint.
fn spawn_server(dir: &std::path::Path, durability: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--port", "0", "--durability", durability, "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tidepool");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let endpoint = line.trim().rsplit(' ').next().expect("endpoint on the line").to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "unexpected line {line:?}");
    (child, endpoint)
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
