//! Data protection: on-demand backups and restores through `aws-sdk-dynamodb`,
//! across a restart and a `kill -9`, and a damaged backup refused.

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BackupStatus, BillingMode, GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, Projection, ProjectionType,
    ProvisionedThroughput, PutRequest, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification, WriteRequest,
};
use common::{attr_def, client, code, harness, key_elem, n, s, start_in};
use tidepool_store::Durability;

/// `orders`: `pk` (S) and `sk` (N), a GSI `by-status` on `status`, an LSI
/// `by-total` on `total`, a stream, TTL on `expires` and a tag.
async fn create_orders(c: &Client, name: &str) {
    c.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("status", ScalarAttributeType::S))
        .attribute_definitions(attr_def("total", ScalarAttributeType::N))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-status")
                .key_schema(key_elem("status", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-total")
                .key_schema(key_elem("pk", KeyType::Hash))
                .key_schema(key_elem("total", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .tags(aws_sdk_dynamodb::types::Tag::builder().key("team").value("a").build().unwrap())
        .send()
        .await
        .expect("create table");
    c.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
}

/// Writes items `from..to` of partition `p<i % 10>`: every third is
/// `open`, every item has a total and a 1 KB body.
async fn put_orders(c: &Client, table: &str, from: u32, to: u32) {
    let body = "x".repeat(1000);
    let mut batch = Vec::new();
    for i in from..to {
        let mut put = PutRequest::builder()
            .item("pk", s(&format!("p{}", i % 10)))
            .item("sk", n(i))
            .item("total", n(i * 3))
            .item("body", s(&body));
        if i % 3 == 0 {
            put = put.item("status", s("open"));
        }
        batch.push(WriteRequest::builder().put_request(put.build().unwrap()).build());
        if batch.len() == 25 || i + 1 == to {
            let mut req = c.batch_write_item();
            req = req.request_items(table, std::mem::take(&mut batch));
            let out = req.send().await.expect("batch write");
            assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
        }
    }
}

async fn scan_count(c: &Client, table: &str) -> i32 {
    let mut total = 0;
    let mut start = None;
    loop {
        let out = c
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        total += out.count;
        start = out.last_evaluated_key;
        if start.is_none() {
            return total;
        }
    }
}

async fn wait_available(c: &Client, arn: &str) {
    for _ in 0..600 {
        let d = c.describe_backup().backup_arn(arn).send().await.expect("describe backup");
        let status = d.backup_description.unwrap().backup_details.unwrap().backup_status;
        if status == BackupStatus::Available {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("backup {arn} never became AVAILABLE");
}

async fn wait_active(c: &Client, table: &str) -> aws_sdk_dynamodb::types::TableDescription {
    for _ in 0..1200 {
        let t = c.describe_table().table_name(table).send().await.expect("describe table").table.unwrap();
        if t.table_status == Some(TableStatus::Active) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {table} never became ACTIVE");
}

async fn backup(c: &Client, table: &str, name: &str) -> String {
    let out = c.create_backup().table_name(table).backup_name(name).send().await.expect("create backup");
    let d = out.backup_details.unwrap();
    assert_eq!(d.backup_name, name);
    assert!(
        matches!(d.backup_status, BackupStatus::Creating | BackupStatus::Available),
        "status {:?}",
        d.backup_status
    );
    wait_available(c, &d.backup_arn).await;
    d.backup_arn
}

#[tokio::test]
async fn a_backup_restores_its_items_and_indexes_after_the_table_is_gone() {
    let h = harness().await;
    let c = &h.client;
    create_orders(c, "orders").await;
    put_orders(c, "orders", 0, 600).await;
    let arn = backup(c, "orders", "nightly").await;
    assert!(arn.starts_with("arn:aws:dynamodb:us-east-1:"), "{arn}");
    assert!(arn.contains(":table/orders/backup/"), "{arn}");
    // Writes after the backup are not in it.
    put_orders(c, "orders", 600, 700).await;
    c.delete_item().table_name("orders").key("pk", s("p0")).key("sk", n(0)).send().await.unwrap();

    let d = c.describe_backup().backup_arn(&arn).send().await.unwrap().backup_description.unwrap();
    let details = d.backup_details.unwrap();
    assert_eq!(details.backup_type, aws_sdk_dynamodb::types::BackupType::User);
    assert!(details.backup_size_bytes.unwrap() > 600_000);
    let source = d.source_table_details.unwrap();
    assert_eq!(source.table_name, "orders");
    assert_eq!(source.item_count, Some(600));
    assert_eq!(source.billing_mode, Some(BillingMode::PayPerRequest));
    let features = d.source_table_feature_details.unwrap();
    assert_eq!(features.global_secondary_indexes()[0].index_name(), Some("by-status"));
    assert_eq!(features.local_secondary_indexes()[0].index_name(), Some("by-total"));
    assert_eq!(features.stream_description.unwrap().stream_view_type, Some(StreamViewType::NewImage));
    assert_eq!(features.time_to_live_description.unwrap().attribute_name(), Some("expires"));

    // The backup outlives its table.
    c.delete_table().table_name("orders").send().await.unwrap();
    let listed = c.list_backups().send().await.unwrap();
    assert_eq!(listed.backup_summaries().len(), 1);
    assert_eq!(listed.backup_summaries()[0].backup_arn(), Some(arn.as_str()));
    assert_eq!(listed.backup_summaries()[0].table_name(), Some("orders"));

    let restored = c.restore_table_from_backup().target_table_name("orders2").backup_arn(&arn).send().await.unwrap();
    let t = restored.table_description.unwrap();
    assert_eq!(t.table_status, Some(TableStatus::Creating));
    let summary = t.restore_summary.unwrap();
    assert_eq!(summary.source_backup_arn(), Some(arn.as_str()));
    assert!(summary.restore_in_progress);
    let t = wait_active(c, "orders2").await;
    assert_eq!(t.item_count, Some(600));
    assert!(!t.restore_summary.unwrap().restore_in_progress);
    // What DynamoDB does not restore: the stream, TTL and tags.
    assert!(t.stream_specification.is_none());
    let ttl = c.describe_time_to_live().table_name("orders2").send().await.unwrap();
    assert_eq!(
        ttl.time_to_live_description.unwrap().time_to_live_status,
        Some(aws_sdk_dynamodb::types::TimeToLiveStatus::Disabled)
    );
    let tags = c.list_tags_of_resource().resource_arn(t.table_arn.unwrap()).send().await.unwrap();
    assert!(tags.tags().is_empty());

    assert_eq!(scan_count(c, "orders2").await, 600);
    let got = c.get_item().table_name("orders2").key("pk", s("p0")).key("sk", n(0)).send().await.unwrap();
    assert_eq!(got.item.unwrap()["total"], n(0));
    let open = c
        .query()
        .table_name("orders2")
        .index_name("by-status")
        .key_condition_expression("#s = :o")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":o", s("open"))
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(open.count, 200);
    let by_total = c
        .query()
        .table_name("orders2")
        .index_name("by-total")
        .key_condition_expression("pk = :p AND #t < :t")
        .expression_attribute_names("#t", "total")
        .expression_attribute_values(":p", s("p1"))
        .expression_attribute_values(":t", n(300))
        .send()
        .await
        .unwrap();
    assert_eq!(by_total.count, 10);
    // The restored table takes writes.
    c.put_item().table_name("orders2").item("pk", s("new")).item("sk", n(1)).send().await.unwrap();
}

#[tokio::test]
async fn backup_errors_are_dynamodbs() {
    let h = harness().await;
    let c = &h.client;
    common::create_table(c, "tab", None).await;
    c.put_item().table_name("tab").item("pk", s("a")).send().await.unwrap();

    let e = c.create_backup().table_name("missing").backup_name("nightly-1").send().await.unwrap_err();
    assert_eq!(code(&e), "TableNotFoundException");
    let e = c.create_backup().table_name("tab").backup_name("bb").send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c.create_backup().table_name("tab").backup_name("bad name").send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    let unknown = "arn:aws:dynamodb:us-east-1:000000000000:table/tab/backup/01700000000000-deadbeef";
    let e = c.describe_backup().backup_arn(unknown).send().await.unwrap_err();
    assert_eq!(code(&e), "BackupNotFoundException");
    let e = c.delete_backup().backup_arn(unknown).send().await.unwrap_err();
    assert_eq!(code(&e), "BackupNotFoundException");
    let e = c.restore_table_from_backup().target_table_name("uuu").backup_arn(unknown).send().await.unwrap_err();
    assert_eq!(code(&e), "BackupNotFoundException");

    let arn = backup(c, "tab", "nightly-1").await;
    let e = c.restore_table_from_backup().target_table_name("tab").backup_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&e), "TableAlreadyExistsException");

    // Overrides: provisioned, without the indexes.
    let out = c
        .restore_table_from_backup()
        .target_table_name("tab-provisioned")
        .backup_arn(&arn)
        .billing_mode_override(BillingMode::Provisioned)
        .provisioned_throughput_override(
            ProvisionedThroughput::builder().read_capacity_units(7).write_capacity_units(3).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.table_description.unwrap().table_name(), Some("tab-provisioned"));
    let t = wait_active(c, "tab-provisioned").await;
    assert_eq!(t.provisioned_throughput.unwrap().read_capacity_units, Some(7));
    assert!(t.billing_mode_summary.is_none());
    let e = c
        .restore_table_from_backup()
        .target_table_name("tab-bad")
        .backup_arn(&arn)
        .billing_mode_override(BillingMode::Provisioned)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    // A backup's name need not be unique; list filters and pages.
    let second = backup(c, "tab", "nightly-1").await;
    let all = c.list_backups().table_name("tab").limit(1).send().await.unwrap();
    assert_eq!(all.backup_summaries().len(), 1);
    let next = all.last_evaluated_backup_arn.expect("a second page");
    let rest = c.list_backups().table_name("tab").exclusive_start_backup_arn(next).send().await.unwrap();
    assert_eq!(rest.backup_summaries().len(), 1);
    assert!(rest.last_evaluated_backup_arn.is_none());
    assert!(c.list_backups().table_name("other").send().await.unwrap().backup_summaries().is_empty());
    let system = c.list_backups().backup_type(aws_sdk_dynamodb::types::BackupTypeFilter::System).send().await.unwrap();
    assert!(system.backup_summaries().is_empty());

    let deleted = c.delete_backup().backup_arn(&second).send().await.unwrap();
    assert_eq!(deleted.backup_description.unwrap().backup_details.unwrap().backup_status, BackupStatus::Deleted);
    let e = c.describe_backup().backup_arn(&second).send().await.unwrap_err();
    assert_eq!(code(&e), "BackupNotFoundException");
    assert_eq!(c.list_backups().send().await.unwrap().backup_summaries().len(), 1);
}

#[tokio::test]
async fn a_damaged_backup_is_reported_not_restored() {
    let h = harness().await;
    let c = &h.client;
    common::create_table(c, "tab", None).await;
    for i in 0..50 {
        c.put_item().table_name("tab").item("pk", s(&format!("k{i}"))).item("v", s("value")).send().await.unwrap();
    }
    let arn = backup(c, "tab", "nightly-1").await;
    let id = arn.rsplit('/').next().unwrap();
    let path = h.dir.path().join("backups").join(format!("{id}.tpbk"));
    let mut bytes = std::fs::read(&path).expect("the backup file");
    let at = bytes.len() - 100;
    bytes[at] ^= 0x5a;
    std::fs::write(&path, bytes).unwrap();

    let e = c.restore_table_from_backup().target_table_name("tab2").backup_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&e), "InternalServerError");
    assert!(format!("{:?}", e.into_service_error()).contains("damaged"));
    let e = c.describe_table().table_name("tab2").send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

/// Backups survive a restart; a restore cut by `kill -9` finishes after
/// the restart, and a restoring table is `CREATING`, invisible to data
/// operations, until it is loaded.
#[tokio::test]
async fn backups_survive_a_restart_and_a_killed_restore_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path(), Durability::default()).await;
    let c = client(&server.endpoint());
    create_orders(&c, "orders").await;
    put_orders(&c, "orders", 0, 3000).await;
    let arn = backup(&c, "orders", "before").await;
    server.stop().await.unwrap();

    let args: Vec<&OsStr> = vec!["--data-dir".as_ref(), dir.path().as_os_str()];
    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    let d = c.describe_backup().backup_arn(&arn).send().await.unwrap().backup_description.unwrap();
    assert_eq!(d.backup_details.unwrap().backup_status, BackupStatus::Available);
    c.restore_table_from_backup().target_table_name("copy").backup_arn(&arn).send().await.unwrap();
    // Until loaded, data operations do not find the table.
    match c.get_item().table_name("copy").key("pk", s("p1")).key("sk", n(1)).send().await {
        Err(e) => assert_eq!(code(&e), "ResourceNotFoundException"),
        Ok(_) => assert_eq!(
            c.describe_table().table_name("copy").send().await.unwrap().table.unwrap().table_status,
            Some(TableStatus::Active)
        ),
    }
    child.kill().expect("SIGKILL the server");
    child.wait().unwrap();

    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    let t = wait_active(&c, "copy").await;
    assert_eq!(t.item_count, Some(3000));
    assert_eq!(scan_count(&c, "copy").await, 3000);
    assert_eq!(scan_count(&c, "orders").await, 3000);
    child.kill().unwrap();
    child.wait().unwrap();
}
