//! Data protection: on-demand backups and restores through `aws-sdk-dynamodb`,
//! across a restart and a `kill -9`, and a damaged backup refused.

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
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

/// An error's type and message.
fn message(e: &impl ProvideErrorMetadata) -> (String, String) {
    (e.code().unwrap_or_default().to_string(), e.message().unwrap_or_default().to_string())
}

async fn backup(c: &Client, table: &str, name: &str) -> String {
    let out = c.create_backup().table_name(table).backup_name(name).send().await.expect("create backup");
    let d = out.backup_details.unwrap();
    assert_eq!(d.backup_name, name);
    // CreateBackup always answers CREATING, as DynamoDB does.
    assert_eq!(d.backup_status, BackupStatus::Creating);
    assert!(d.backup_size_bytes.is_some());
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
    // Once ACTIVE nothing marks a table as restored, as in DynamoDB.
    assert!(t.restore_summary.is_none());
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

    // An override may rename an index (same keys and projection), once.
    let renamed = |name: &str| {
        aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key_elem("status", KeyType::Hash))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap()
    };
    c.restore_table_from_backup()
        .target_table_name("orders3")
        .backup_arn(&arn)
        .global_secondary_index_override(renamed("by-state"))
        .send()
        .await
        .expect("a renamed index");
    let t = wait_active(c, "orders3").await;
    let names: Vec<_> = t.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect();
    assert_eq!(names, ["by-state"]);
    let e = c
        .restore_table_from_backup()
        .target_table_name("orders4")
        .backup_arn(&arn)
        .global_secondary_index_override(renamed("one"))
        .global_secondary_index_override(renamed("two"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    // An index under its own name must keep its keys and projection.
    let changed = aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
        .index_name("by-status")
        .key_schema(key_elem("status", KeyType::Hash))
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .unwrap();
    let e = c
        .restore_table_from_backup()
        .target_table_name("orders5")
        .backup_arn(&arn)
        .global_secondary_index_override(changed)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some(
            "Invalid Request: Index by-status does not match a secondary index that existed in the source table and cannot be created during the restore operation"
        )
    );
    // Restored as provisioned, each index override names its capacity.
    let e = c
        .restore_table_from_backup()
        .target_table_name("orders5")
        .backup_arn(&arn)
        .billing_mode_override(BillingMode::Provisioned)
        .provisioned_throughput_override(
            ProvisionedThroughput::builder().read_capacity_units(5).write_capacity_units(5).build().unwrap(),
        )
        .global_secondary_index_override(renamed("by-status"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some("Invalid Request: Must specify provisioned throughput for index by-status")
    );
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

    // ARNs by form, as DynamoDB reads them: another region's names the
    // same backup (echoed as sent); the rest are malformed or foreign.
    let id = arn.rsplit_once("/backup/").unwrap().1;
    let elsewhere = format!("arn:aws:dynamodb:eu-west-1:000000000000:table/tab/backup/{id}");
    let d = c.describe_backup().backup_arn(&elsewhere).send().await.unwrap();
    assert_eq!(d.backup_description.and_then(|d| d.backup_details).map(|d| d.backup_arn), Some(elsewhere.clone()));
    let forms = [
        ("arn:aws:dynamodb:us-east-1:000000000000:table/tab".to_string(), "ValidationException", "Invalid Backup ARN"),
        ("x".repeat(48), "ValidationException", "Invalid Backup ARN"),
        (
            format!("arn:aws:dynamodb:xx-fake-1:000000000000:table/tab/backup/{id}"),
            "ValidationException",
            "Invalid Request: BackupArn is not valid",
        ),
        (
            format!("arn:aws-cn:dynamodb:us-east-1:000000000000:table/tab/backup/{id}"),
            "ValidationException",
            "Invalid Request: BackupArn is not valid",
        ),
        (
            format!("arn:aws:dynamodb:us-east-1:111111111111:table/tab/backup/{id}"),
            "AccessDeniedException",
            "Access is denied",
        ),
    ];
    for (form, want_code, want) in &forms {
        let e = c.describe_backup().backup_arn(form).send().await.unwrap_err();
        assert_eq!(message(&e), (want_code.to_string(), want.to_string()), "{form}");
    }
    let e = c.restore_table_from_backup().target_table_name("tab-x").backup_arn(&elsewhere).send().await.unwrap_err();
    assert_eq!(message(&e).1, "Invalid Request: sseSpecificationOverride must be provided for cross-region restores");
    let swapped = format!("arn:aws:dynamodb:us-west-2:000000000000:table/tab/backup/{id}");
    let e = c.list_backups().exclusive_start_backup_arn(&swapped).send().await.unwrap_err();
    assert_eq!(message(&e).1, "Invalid Request: The supplied ExclusiveStartBackupArn does not match the region");

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
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some("Invalid Request: Must override ProvisionedThroughput if BillingMode is overridden to PROVISIONED")
    );
    // The other override refusals, in DynamoDB's words.
    let restore = || c.restore_table_from_backup().target_table_name("tab-bad").backup_arn(&arn);
    let throughput = ProvisionedThroughput::builder().read_capacity_units(1).write_capacity_units(1).build().unwrap();
    let cases = [
        (
            restore().provisioned_throughput_override(throughput.clone()),
            "Invalid Request: Cannot override ProvisionedThroughput unless BillingMode is PROVISIONED",
        ),
        (
            restore()
                .billing_mode_override(BillingMode::PayPerRequest)
                .provisioned_throughput_override(throughput.clone()),
            "Invalid Request: Cannot override ProvisionedThroughput if BillingMode is overridden to PAY_PER_REQUEST",
        ),
        (
            restore()
                .billing_mode_override(BillingMode::Provisioned)
                .provisioned_throughput_override(throughput)
                .on_demand_throughput_override(
                    aws_sdk_dynamodb::types::OnDemandThroughput::builder().max_write_request_units(5).build(),
                ),
            "Invalid Request: Cannot override MaxWriteRequestUnits for OnDemandThroughput unless BillingModeOverride is PAY_PER_REQUEST",
        ),
        (
            restore().on_demand_throughput_override(
                aws_sdk_dynamodb::types::OnDemandThroughput::builder().max_read_request_units(0).build(),
            ),
            "Invalid Request: Requested MaxReadRequestUnits for OnDemandThroughput is outside of valid range",
        ),
        (
            restore().global_secondary_index_override(
                aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                    .index_name("invented")
                    .key_schema(key_elem("pk", KeyType::Hash))
                    .projection(
                        aws_sdk_dynamodb::types::Projection::builder().projection_type(ProjectionType::All).build(),
                    )
                    .build()
                    .unwrap(),
            ),
            "Invalid Request: Index invented does not match a secondary index that existed in the source table and cannot be created during the restore operation",
        ),
    ];
    for (request, text) in cases {
        let e = request.send().await.unwrap_err();
        assert_eq!(e.as_service_error().and_then(|e| e.message()), Some(text));
    }

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

    // A reset drops backups too.
    // Backups of one table may be taken at once.
    let (a, b) = tokio::join!(
        c.create_backup().table_name("tab").backup_name("twin").send(),
        c.create_backup().table_name("tab").backup_name("twin").send()
    );
    let (a, b) = (a.unwrap().backup_details.unwrap().backup_arn, b.unwrap().backup_details.unwrap().backup_arn);
    assert_ne!(a, b);
    wait_available(c, &a).await;
    wait_available(c, &b).await;
    let deleted = reset(&h.server.endpoint()).await;
    assert_eq!(deleted["Deleted"]["Backups"], 3, "{deleted}");
    assert!(c.list_backups().send().await.unwrap().backup_summaries().is_empty());
}

/// `POST /tidepool/reset`: its JSON answer.
async fn reset(endpoint: &str) -> serde_json::Value {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /tidepool/reset HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
    let answer = common::http::read_answer(&mut stream).await;
    assert_eq!(answer.status, 200);
    serde_json::from_slice(&answer.body).unwrap()
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

/// More restores at once than run at once wait their turn, `CREATING`, as
/// on AWS (up to 50 in progress); none is refused.
#[tokio::test]
async fn restores_past_the_running_ones_wait_their_turn() {
    let h = harness().await;
    let c = &h.client;
    create_orders(c, "orders").await;
    put_orders(c, "orders", 0, 2000).await;
    // One restore at a time reads a backup: a backup each.
    let mut arns = Vec::new();
    for i in 0..8 {
        arns.push(backup(c, "orders", &format!("turn-{i}")).await);
    }
    let restores: Vec<_> = arns
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            let c = c.clone();
            let arn = arn.clone();
            tokio::spawn(async move {
                c.restore_table_from_backup().target_table_name(format!("turn-{i}")).backup_arn(arn).send().await
            })
        })
        .collect();
    for (i, r) in restores.into_iter().enumerate() {
        let out = r.await.unwrap().unwrap_or_else(|e| panic!("restore {i}: {:?}", e.into_service_error()));
        assert_eq!(out.table_description.unwrap().table_status, Some(TableStatus::Creating));
    }
    for i in 0..8 {
        let t = wait_active(c, &format!("turn-{i}")).await;
        assert_eq!(t.item_count, Some(2000), "turn-{i}");
    }
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

async fn enable_pitr(c: &Client, table: &str, days: Option<i32>) {
    let out = c
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .set_recovery_period_in_days(days)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable PITR");
    let d = out.continuous_backups_description.unwrap();
    assert_eq!(d.continuous_backups_status, aws_sdk_dynamodb::types::ContinuousBackupsStatus::Enabled);
    for _ in 0..400 {
        let d = c.describe_continuous_backups().table_name(table).send().await.unwrap();
        let p = d.continuous_backups_description.unwrap().point_in_time_recovery_description.unwrap();
        if p.point_in_time_recovery_status == Some(aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled) {
            assert!(p.earliest_restorable_date_time.is_some() && p.latest_restorable_date_time.is_some());
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("PITR never became ENABLED");
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A seeded xorshift, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

type Model = std::collections::BTreeMap<
    (String, i64),
    std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
>;

/// Every item of `table` (all pages), keyed as the model is.
async fn table_state(c: &Client, table: &str) -> Model {
    let mut out = Model::new();
    let mut start = None;
    loop {
        let page = c.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan");
        for item in page.items() {
            let pk = item["pk"].as_s().unwrap().clone();
            let sk: i64 = item["sk"].as_n().unwrap().parse().unwrap();
            out.insert((pk, sk), item.clone());
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// The model's items with `status = open`, as the GSI must return them.
fn open_in(model: &Model) -> Vec<(String, i64)> {
    model.iter().filter(|(_, i)| i.get("status") == Some(&s("open"))).map(|(k, _)| k.clone()).collect()
}

async fn open_via_index(c: &Client, table: &str) -> Vec<(String, i64)> {
    let q = c
        .query()
        .table_name(table)
        .index_name("by-status")
        .key_condition_expression("#s = :o")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":o", s("open"))
        .send()
        .await
        .unwrap();
    let mut keys: Vec<(String, i64)> =
        q.items().iter().map(|i| (i["pk"].as_s().unwrap().clone(), i["sk"].as_n().unwrap().parse().unwrap())).collect();
    keys.sort();
    keys
}

/// The model-based check: random writes of every kind (PutItem, UpdateItem,
/// DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL, a TTL expiry),
/// each between two recorded instants, then restores to instants between
/// writes: each restored table equals the model's state then, its global
/// secondary index included.
#[tokio::test]
async fn restores_to_points_in_time_match_the_model() {
    let seed = 0x9e37_79b9_7f4a_7c15u64 ^ (epoch_now() as u64);
    let mut rng = Rng(seed | 1);
    let h = harness().await;
    let c = &h.client;
    create_orders(c, "ledger").await;
    // A few items before PITR is on: the enabling copy records them.
    put_orders(c, "ledger", 0, 20).await;
    enable_pitr(c, "ledger", Some(7)).await;
    let mut model = table_state(c, "ledger").await;
    assert_eq!(model.len(), 20);
    // (instant after the write, state then)
    let mut checkpoints: Vec<(f64, Model)> = vec![(epoch_now(), model.clone())];
    let key = |rng: &mut Rng| (format!("p{}", rng.below(3)), rng.below(30) as i64);
    for step in 0..60 {
        tokio::time::sleep(Duration::from_millis(4)).await;
        let (pk, sk) = key(&mut rng);
        match rng.below(7) {
            0 => {
                let status = if rng.below(2) == 0 { "open" } else { "closed" };
                c.put_item()
                    .table_name("ledger")
                    .item("pk", s(&pk))
                    .item("sk", n(sk))
                    .item("status", s(status))
                    .item("step", n(step))
                    .send()
                    .await
                    .unwrap();
                model.insert(
                    (pk.clone(), sk),
                    [("pk", s(&pk)), ("sk", n(sk)), ("status", s(status)), ("step", n(step))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                );
            }
            1 => {
                c.update_item()
                    .table_name("ledger")
                    .key("pk", s(&pk))
                    .key("sk", n(sk))
                    .update_expression("SET step = :s REMOVE #st")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":s", n(step))
                    .send()
                    .await
                    .unwrap();
                let item = model.entry((pk.clone(), sk)).or_insert_with(|| {
                    [("pk", s(&pk)), ("sk", n(sk))].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                });
                item.insert("step".into(), n(step));
                item.remove("status");
            }
            2 => {
                c.delete_item().table_name("ledger").key("pk", s(&pk)).key("sk", n(sk)).send().await.unwrap();
                model.remove(&(pk, sk));
            }
            3 => {
                let (pk2, sk2) = key(&mut rng);
                if (pk2.clone(), sk2) == (pk.clone(), sk) {
                    continue;
                }
                let put = PutRequest::builder()
                    .item("pk", s(&pk))
                    .item("sk", n(sk))
                    .item("status", s("open"))
                    .item("step", n(step))
                    .build()
                    .unwrap();
                let del = aws_sdk_dynamodb::types::DeleteRequest::builder()
                    .key("pk", s(&pk2))
                    .key("sk", n(sk2))
                    .build()
                    .unwrap();
                c.batch_write_item()
                    .request_items(
                        "ledger",
                        vec![
                            WriteRequest::builder().put_request(put).build(),
                            WriteRequest::builder().delete_request(del).build(),
                        ],
                    )
                    .send()
                    .await
                    .unwrap();
                model.insert(
                    (pk.clone(), sk),
                    [("pk", s(&pk)), ("sk", n(sk)), ("status", s("open")), ("step", n(step))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                );
                model.remove(&(pk2, sk2));
            }
            4 => {
                let (pk2, sk2) = key(&mut rng);
                if (pk2.clone(), sk2) == (pk.clone(), sk) {
                    continue;
                }
                let put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name("ledger")
                    .item("pk", s(&pk))
                    .item("sk", n(sk))
                    .item("status", s("closed"))
                    .item("step", n(step))
                    .build()
                    .unwrap();
                let del = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name("ledger")
                    .key("pk", s(&pk2))
                    .key("sk", n(sk2))
                    .build()
                    .unwrap();
                c.transact_write_items()
                    .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build())
                    .transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().delete(del).build())
                    .send()
                    .await
                    .unwrap();
                model.insert(
                    (pk.clone(), sk),
                    [("pk", s(&pk)), ("sk", n(sk)), ("status", s("closed")), ("step", n(step))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                );
                model.remove(&(pk2, sk2));
            }
            5 => {
                c.execute_statement()
                    .statement(format!(
                        "INSERT INTO \"ledger\" VALUE {{'pk': '{pk}', 'sk': {sk}, 'status': 'open', 'step': {step}}}"
                    ))
                    .send()
                    .await
                    .ok();
                // INSERT fails on an existing item (the model then keeps it).
                model.entry((pk.clone(), sk)).or_insert_with(|| {
                    [("pk", s(&pk)), ("sk", n(sk)), ("status", s("open")), ("step", n(step))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                });
            }
            _ => {
                // An item that has already expired: the TTL sweeper deletes
                // it, which the history records like any delete.
                let expired = (epoch_now() as i64 - 60).to_string();
                c.put_item()
                    .table_name("ledger")
                    .item("pk", s(&pk))
                    .item("sk", n(sk))
                    .item("expires", n(&expired))
                    .send()
                    .await
                    .unwrap();
                let mut after = model.clone();
                after.insert(
                    (pk.clone(), sk),
                    [("pk", s(&pk)), ("sk", n(sk)), ("expires", n(&expired))]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                );
                checkpoints.push((epoch_now(), after));
                tokio::time::sleep(Duration::from_millis(4)).await;
                for _ in 0..100 {
                    let got =
                        c.get_item().table_name("ledger").key("pk", s(&pk)).key("sk", n(sk)).send().await.unwrap();
                    if got.item.is_none() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                model.remove(&(pk, sk));
            }
        }
        checkpoints.push((epoch_now(), model.clone()));
    }
    assert_eq!(table_state(c, "ledger").await, model, "seed {seed:#x}: the live table drifted from the model");
    // The latest restorable time is a second behind.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Restore between writes: just after checkpoint i (before write i+1).
    let mut picks: Vec<usize> = (0..6).map(|_| rng.below(checkpoints.len() as u64) as usize).collect();
    picks.push(0);
    picks.push(checkpoints.len() - 1);
    for (n_restore, i) in picks.into_iter().enumerate() {
        let (at, expected) = &checkpoints[i];
        let at = at + 0.001;
        let target = format!("ledger-at-{n_restore}");
        let out = c
            .restore_table_to_point_in_time()
            .source_table_name("ledger")
            .target_table_name(&target)
            .restore_date_time(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(at))
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {seed:#x}: restore to {at}: {e:?}"));
        assert!(out.table_description.unwrap().restore_summary.unwrap().restore_in_progress);
        wait_active(c, &target).await;
        let got = table_state(c, &target).await;
        assert_eq!(&got, expected, "seed {seed:#x}: restore to checkpoint {i} at {at}");
        assert_eq!(open_via_index(c, &target).await, open_in(expected), "seed {seed:#x}: index at checkpoint {i}");
    }

    // The latest restorable time, by ARN.
    let arn = c.describe_table().table_name("ledger").send().await.unwrap().table.unwrap().table_arn.unwrap();
    c.restore_table_to_point_in_time()
        .source_table_arn(arn)
        .target_table_name("ledger-latest")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    wait_active(c, "ledger-latest").await;
    assert_eq!(table_state(c, "ledger-latest").await, model);
}

#[tokio::test]
async fn point_in_time_errors_and_a_deleted_table() {
    let h = harness().await;
    let c = &h.client;
    common::create_table(c, "plain", None).await;
    let d = c.describe_continuous_backups().table_name("plain").send().await.unwrap();
    let d = d.continuous_backups_description.unwrap();
    assert_eq!(d.continuous_backups_status, aws_sdk_dynamodb::types::ContinuousBackupsStatus::Enabled);
    assert_eq!(
        d.point_in_time_recovery_description.unwrap().point_in_time_recovery_status,
        Some(aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Disabled)
    );
    let e = c
        .restore_table_to_point_in_time()
        .source_table_name("plain")
        .target_table_name("plain2")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "PointInTimeRecoveryUnavailableException");
    let e = c.describe_continuous_backups().table_name("missing").send().await.unwrap_err();
    assert_eq!(code(&e), "TableNotFoundException");
    // A source ARN by its form.
    let from_arn = |arn: &str| {
        c.restore_table_to_point_in_time()
            .source_table_arn(arn)
            .target_table_name("plain2")
            .use_latest_restorable_time(true)
            .send()
    };
    let invalid = "One or more parameter values were invalid: ";
    for (arn, want) in [
        ("not-an-arn-at-all", format!("{invalid}ARNs must start with 'arn:': not-an-arn-at-all")),
        ("arn:aws:dynamodb:us-east-1:000000000000:bogus", format!("{invalid}sourceTableArn is not a valid ARN")),
        ("arn:foo", format!("{invalid}sourceTableArn is not a valid ARN")),
        (
            "arn:aws:dynamodb:us-east-1:111111111111:table/plain",
            "This action is only supported by accounts that match the resource owner\u{2019}s account.".to_string(),
        ),
        (
            "arn:aws:dynamodb:us-west-2:000000000000:table/plain",
            "Invalid Request: sseSpecificationOverride must be provided for cross-region restores".to_string(),
        ),
    ] {
        let e = from_arn(arn).await.unwrap_err();
        assert_eq!(message(&e), ("ValidationException".to_string(), want), "{arn}");
    }
    let e = c
        .restore_table_to_point_in_time()
        .source_table_name("missing")
        .target_table_name("plain2")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "TableNotFoundException");
    assert_eq!(e.as_service_error().and_then(|e| e.message()), Some("Table not found: missing"));
    // By its ARN, the answer names nothing.
    let e = from_arn("arn:aws:dynamodb:us-east-1:000000000000:table/missing").await.unwrap_err();
    assert_eq!(message(&e), ("TableNotFoundException".to_string(), "Table not found".to_string()));
    // The time members are checked first, then the source, in DynamoDB's
    // words.
    let now = aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(epoch_now());
    let pitr = |latest: Option<bool>, at: Option<aws_sdk_dynamodb::primitives::DateTime>| {
        c.restore_table_to_point_in_time()
            .target_table_name("plain2")
            .set_use_latest_restorable_time(latest)
            .set_restore_date_time(at)
    };
    let cases = [
        (
            pitr(Some(true), Some(now)),
            "Invalid Request: Both RestoreDateTime and UseLatestRestorableTime cannot be set for point-in-time restore request. Please specify either RestoreDateTime time or UseLatestRestorableTime",
        ),
        (
            pitr(Some(false), None).source_table_name("plain"),
            "Invalid Request: Either one of RestoreDateTime or UseLatestRestorableTime must be specified, but not both",
        ),
        (pitr(Some(true), None), "The parameter 'TableName' is required but was not present in the request"),
        (
            pitr(Some(true), None)
                .source_table_name("plain")
                .source_table_arn("arn:aws:dynamodb:us-east-1:000000000000:table/plain"),
            "Must provide exactly one of: sourceTableArn, sourceTableName",
        ),
    ];
    for (request, text) in cases {
        let e = request.send().await.unwrap_err();
        assert_eq!(
            (code(&e).as_str(), e.as_service_error().and_then(|e| e.message())),
            ("ValidationException", Some(text))
        );
    }
    let e = c
        .update_continuous_backups()
        .table_name("plain")
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .recovery_period_in_days(7)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some("Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.")
    );
    let e = c
        .list_backups()
        .time_range_lower_bound(now)
        .time_range_upper_bound(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(epoch_now() - 60.0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some(
            "One or more parameter values were invalid: Time range lower bound must be less than or equal to upper bound"
        )
    );
    let e = c
        .update_continuous_backups()
        .table_name("plain")
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .recovery_period_in_days(36)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    common::create_table(c, "keep", None).await;
    c.put_item().table_name("keep").item("pk", s("a")).item("v", n(1)).send().await.unwrap();
    enable_pitr(c, "keep", Some(3)).await;
    let d = c.describe_continuous_backups().table_name("keep").send().await.unwrap();
    let p = d.continuous_backups_description.unwrap().point_in_time_recovery_description.unwrap();
    assert_eq!(p.recovery_period_in_days, Some(3));
    // A time before the window.
    let e = c
        .restore_table_to_point_in_time()
        .source_table_name("keep")
        .target_table_name("keep-old")
        .restore_date_time(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(epoch_now() - 86_400.0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidRestoreTimeException");
    let text = e.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string();
    assert!(
        text.starts_with("RestoreDateTime '") && text.contains("Z' must be within EarliestRestorableDateTime '"),
        "{text}"
    );

    c.put_item().table_name("keep").item("pk", s("b")).item("v", n(2)).send().await.unwrap();
    c.delete_table().table_name("keep").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The deleted table is a SYSTEM backup, and restorable by name.
    let system = c.list_backups().backup_type(aws_sdk_dynamodb::types::BackupTypeFilter::System).send().await.unwrap();
    let summary = &system.backup_summaries()[0];
    assert_eq!(summary.table_name(), Some("keep"));
    assert_eq!(summary.backup_type(), Some(&aws_sdk_dynamodb::types::BackupType::System));
    // Kept for 35 days, as DynamoDB keeps a system backup, whatever the
    // recovery period.
    let created = summary.backup_creation_date_time().unwrap().as_secs_f64();
    let expires = summary.backup_expiry_date_time().unwrap().as_secs_f64();
    assert!((expires - created - 35.0 * 86_400.0).abs() < 1.0, "{created} {expires}");
    // Its times to the millisecond, as DynamoDB shows every time.
    // (Within a microsecond: an epoch in seconds, a JSON number, is read
    // as a double, whose step there is a quarter of one.)
    for t in [summary.backup_creation_date_time(), summary.backup_expiry_date_time()] {
        let nanos = i64::from(t.unwrap().subsec_nanos());
        assert!(((nanos + 500_000) / 1_000_000 * 1_000_000 - nanos).abs() < 1_000, "{t:?}");
    }
    assert!(c.list_backups().send().await.unwrap().backup_summaries().is_empty());
    c.restore_table_to_point_in_time()
        .source_table_name("keep")
        .target_table_name("keep-again")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    wait_active(c, "keep-again").await;
    assert_eq!(scan_count(c, "keep-again").await, 2);
    let system_arn = summary.backup_arn().unwrap();
    assert!(system_arn.ends_with("-00000000"), "{system_arn}");
    let started = c
        .restore_table_from_backup()
        .target_table_name("keep-from-system")
        .backup_arn(system_arn)
        .send()
        .await
        .unwrap();
    // While it is made, its RestoreSummary names the SYSTEM backup.
    let restoring = started.table_description.and_then(|t| t.restore_summary).unwrap();
    assert_eq!(restoring.source_backup_arn(), Some(system_arn));
    wait_active(c, "keep-from-system").await;
    assert_eq!(scan_count(c, "keep-from-system").await, 2);
    // No one deletes a system backup: it expires after 35 days.
    let e = c.delete_backup().backup_arn(system_arn).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let text = e.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string();
    let refusal = format!(
        "Invalid Request: User is not allowed to delete the system backup with arn {system_arn}. It will automatically expire on "
    );
    assert!(text.starts_with(&refusal) && text.ends_with('Z'), "{text}");
}

/// What PITR records survives `kill -9`; a longer period never claims
/// moments whose history was not kept; turning PITR off drops it.
#[tokio::test]
async fn point_in_time_history_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = vec!["--data-dir".as_ref(), dir.path().as_os_str()];
    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    common::create_table(&c, "crashy", None).await;
    enable_pitr(&c, "crashy", Some(3)).await;
    for i in 0..20 {
        c.put_item().table_name("crashy").item("pk", s(&format!("k{i}"))).item("v", n(1)).send().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let first = epoch_now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for i in 0..20 {
        c.update_item()
            .table_name("crashy")
            .key("pk", s(&format!("k{i}")))
            .update_expression("SET v = :two")
            .expression_attribute_values(":two", n(2))
            .send()
            .await
            .unwrap();
    }
    c.delete_item().table_name("crashy").key("pk", s("k0")).send().await.unwrap();
    child.kill().expect("SIGKILL the server");
    child.wait().unwrap();

    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.restore_table_to_point_in_time()
        .source_table_name("crashy")
        .target_table_name("crashy-first")
        .restore_date_time(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(first))
        .send()
        .await
        .unwrap();
    wait_active(&c, "crashy-first").await;
    let state = c.scan().table_name("crashy-first").send().await.unwrap();
    assert_eq!(state.count, 20);
    assert!(state.items().iter().all(|i| i["v"] == n(1)), "{:?}", state.items());
    c.restore_table_to_point_in_time()
        .source_table_name("crashy")
        .target_table_name("crashy-last")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    wait_active(&c, "crashy-last").await;
    let state = c.scan().table_name("crashy-last").send().await.unwrap();
    assert_eq!(state.count, 19);
    assert!(state.items().iter().all(|i| i["v"] == n(2)));

    // A longer period keeps the earliest restorable moment where it was.
    let before = c.describe_continuous_backups().table_name("crashy").send().await.unwrap();
    let earliest = |d: aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput| {
        d.continuous_backups_description
            .unwrap()
            .point_in_time_recovery_description
            .unwrap()
            .earliest_restorable_date_time
            .unwrap()
            .secs()
    };
    let e0 = earliest(before);
    enable_pitr(&c, "crashy", Some(30)).await;
    let e1 = earliest(c.describe_continuous_backups().table_name("crashy").send().await.unwrap());
    assert!(e1 >= e0, "{e1} < {e0}");
    // Off: the history goes, restores are refused.
    c.update_continuous_backups()
        .table_name("crashy")
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let e = c
        .restore_table_to_point_in_time()
        .source_table_name("crashy")
        .target_table_name("crashy-off")
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "PointInTimeRecoveryUnavailableException");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Every DynamoDB type, for round trips through exports and imports.
fn every_type(i: u32) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let mut m = std::collections::HashMap::new();
    m.insert("pk".to_string(), s(&format!("item-{i}")));
    m.insert("n".into(), n(format!("{i}.5")));
    m.insert("b".into(), A::B(Blob::new(vec![0u8, 1, 2, i as u8])));
    m.insert("t".into(), A::Bool(i.is_multiple_of(2)));
    m.insert("z".into(), A::Null(true));
    m.insert("l".into(), A::L(vec![s("x"), n(i), A::M([("k".to_string(), s("v"))].into())]));
    m.insert("ss".into(), A::Ss(vec!["a".into(), format!("s{i}")]));
    m.insert("ns".into(), A::Ns(vec!["1".into(), "2.25".into(), format!("{}", i + 10)]));
    m.insert("bs".into(), A::Bs(vec![Blob::new(vec![9u8]), Blob::new(vec![i as u8, 7])]));
    m.insert("quote".into(), s("a \"quoted\" line\nwith a break, and a comma"));
    m
}

async fn wait_export(c: &Client, arn: &str) -> aws_sdk_dynamodb::types::ExportDescription {
    for _ in 0..600 {
        let d = c.describe_export().export_arn(arn).send().await.unwrap().export_description.unwrap();
        if d.export_status != Some(aws_sdk_dynamodb::types::ExportStatus::InProgress) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("export {arn} never finished");
}

async fn wait_import(c: &Client, arn: &str) -> aws_sdk_dynamodb::types::ImportTableDescription {
    for _ in 0..600 {
        let d = c.describe_import().import_arn(arn).send().await.unwrap().import_table_description.unwrap();
        if d.import_status != Some(aws_sdk_dynamodb::types::ImportStatus::InProgress) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import {arn} never finished");
}

fn creation(table: &str) -> aws_sdk_dynamodb::types::TableCreationParameters {
    aws_sdk_dynamodb::types::TableCreationParameters::builder()
        .table_name(table)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .build()
        .unwrap()
}

/// Exports in both formats land as DynamoDB lays them out in S3, and import
/// back into new tables equal to the source.
#[tokio::test]
async fn exports_import_back_into_equal_tables() {
    use aws_sdk_dynamodb::types::{ExportFormat, ExportStatus, ImportStatus, InputCompressionType, InputFormat};
    let h = harness().await;
    let c = &h.client;
    std::fs::create_dir_all(h.dir.path().join("s3/exports")).unwrap();
    common::create_table(c, "source", None).await;
    for i in 0..120 {
        c.put_item().table_name("source").set_item(Some(every_type(i))).send().await.unwrap();
    }
    let arn = c.describe_table().table_name("source").send().await.unwrap().table.unwrap().table_arn.unwrap();
    let e = c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("exports").send().await.unwrap_err();
    assert_eq!(code(&e), "PointInTimeRecoveryUnavailableException");
    enable_pitr(c, "source", None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let original = c.scan().table_name("source").send().await.unwrap().items.unwrap();

    // A bucket that does not exist: the export is accepted and then FAILED,
    // as on AWS, and no directory is made for it.
    let out = c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("nowhere").send().await.unwrap();
    let d = wait_export(c, &out.export_description.unwrap().export_arn.unwrap()).await;
    assert_eq!(d.export_status, Some(ExportStatus::Failed), "{d:?}");
    assert_eq!(d.failure_code.as_deref(), Some("S3NoSuchBucket"));
    assert_eq!(
        d.failure_message.as_deref(),
        Some("The specified bucket does not exist (Service: Amazon S3; Status Code: 404; Error Code: NoSuchBucket)")
    );
    assert!(!h.dir.path().join("s3/nowhere").exists());

    for (format, target) in [(ExportFormat::DynamodbJson, "from-json"), (ExportFormat::Ion, "from-ion")] {
        let out = c
            .export_table_to_point_in_time()
            .table_arn(&arn)
            .s3_bucket("exports")
            .s3_prefix("nightly")
            .export_format(format.clone())
            .send()
            .await
            .unwrap();
        let export_arn = out.export_description.unwrap().export_arn.unwrap();
        let d = wait_export(c, &export_arn).await;
        assert_eq!(d.export_status, Some(ExportStatus::Completed), "{d:?}");
        assert_eq!(d.item_count, Some(120));
        // A full export's type is not echoed (the live service's
        // DescribeExport); ListExports names it.
        assert_eq!(d.export_type, None);
        // Its moment is its start, as DynamoDB's (DDB-EXPORT-017).
        assert_eq!(d.export_time, d.start_time);
        let id = export_arn.rsplit('/').next().unwrap();
        let root = h.dir.path().join("s3/exports/nightly/AWSDynamoDB").join(id);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("manifest-summary.json")).unwrap()).unwrap();
        assert_eq!(summary["itemCount"], 120);
        assert_eq!(summary["exportArn"], export_arn.as_str());
        assert_eq!(
            d.export_manifest.as_deref(),
            Some(format!("nightly/AWSDynamoDB/{id}/manifest-summary.json").as_str())
        );
        let files = std::fs::read_to_string(root.join("manifest-files.json")).unwrap();
        let first: serde_json::Value = serde_json::from_str(files.lines().next().unwrap()).unwrap();
        assert!(first["dataFileS3Key"].as_str().unwrap().starts_with(&format!("nightly/AWSDynamoDB/{id}/data/")));
        assert!(root.join("_started").exists());

        let input_format = if format == ExportFormat::Ion { InputFormat::Ion } else { InputFormat::DynamodbJson };
        let out = c
            .import_table()
            .s3_bucket_source(
                aws_sdk_dynamodb::types::S3BucketSource::builder()
                    .s3_bucket("exports")
                    .s3_key_prefix(format!("nightly/AWSDynamoDB/{id}/data/"))
                    .build()
                    .unwrap(),
            )
            .input_format(input_format)
            .input_compression_type(InputCompressionType::Gzip)
            .table_creation_parameters(creation(target))
            .send()
            .await
            .unwrap();
        let import_arn = out.import_table_description.unwrap().import_arn.unwrap();
        let d = wait_import(c, &import_arn).await;
        assert_eq!(d.import_status, Some(ImportStatus::Completed), "{d:?}");
        assert_eq!((d.imported_item_count, d.error_count), (120, 0));
        wait_active(c, target).await;
        let mut copy = c.scan().table_name(target).send().await.unwrap().items.unwrap();
        let mut want = original.clone();
        let by_pk = |a: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
            a["pk"].as_s().unwrap().clone()
        };
        copy.sort_by_key(by_pk);
        want.sort_by_key(by_pk);
        assert_eq!(copy, want, "{format:?}");
    }
    // The two exports and the one that failed for its bucket (first),
    // newest first.
    let exports = c.list_exports().table_arn(&arn).send().await.unwrap();
    let statuses: Vec<_> = exports.export_summaries().iter().filter_map(|e| e.export_status.clone()).collect();
    assert_eq!(statuses, [ExportStatus::Completed, ExportStatus::Completed, ExportStatus::Failed]);
    assert!(
        exports
            .export_summaries()
            .iter()
            .all(|e| e.export_type == Some(aws_sdk_dynamodb::types::ExportType::FullExport))
    );
    assert_eq!(c.list_imports().send().await.unwrap().import_summary_list().len(), 2);
    // Paged: a token of the form DynamoDB's model gives it (112 or more
    // hex digits in groups of 16), which boto3 and the CLI check.
    let first = c.list_imports().page_size(1).send().await.unwrap();
    let token = first.next_token().expect("a next page").to_string();
    assert!(token.len() >= 112 && token.len() % 16 == 0, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{token}");
    let second = c.list_imports().page_size(1).next_token(&token).send().await.unwrap();
    assert_eq!(second.import_summary_list().len(), 1);
    assert_ne!(first.import_summary_list()[0].import_arn(), second.import_summary_list()[0].import_arn());
    assert!(second.next_token().is_none());
    // The table deleted (and another made under its name): its exports are
    // no longer listed by its ARN, and are still described (DDB-EXPORT-020).
    c.delete_table().table_name("source").send().await.unwrap();
    assert!(c.list_exports().table_arn(&arn).send().await.unwrap().export_summaries().is_empty());
    common::create_table(c, "source", None).await;
    assert!(c.list_exports().table_arn(&arn).send().await.unwrap().export_summaries().is_empty());
    let any = c.list_exports().send().await.unwrap();
    let first = any.export_summaries()[0].export_arn().unwrap();
    c.describe_export().export_arn(first).send().await.expect("still described");
}

/// An export of an empty table has one empty data file, as DynamoDB's; a
/// ClientToken given again with any parameter changed is a conflict.
#[tokio::test]
async fn an_empty_export_has_its_data_file_and_tokens_conflict_on_any_change() {
    use aws_sdk_dynamodb::types::{ExportStatus, S3SseAlgorithm};
    let h = harness().await;
    let c = &h.client;
    std::fs::create_dir_all(h.dir.path().join("s3/exports")).unwrap();
    common::create_table(c, "empty", None).await;
    enable_pitr(c, "empty", None).await;
    let arn = c.describe_table().table_name("empty").send().await.unwrap().table.unwrap().table_arn.unwrap();
    let export = || c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("exports").client_token("once");
    let first = export().send().await.unwrap().export_description.unwrap().export_arn.unwrap();
    let d = wait_export(c, &first).await;
    assert_eq!((d.export_status, d.item_count), (Some(ExportStatus::Completed), Some(0)));
    let id = first.rsplit('/').next().unwrap();
    let root = h.dir.path().join("s3/exports/AWSDynamoDB").join(id);
    let files = std::fs::read_to_string(root.join("manifest-files.json")).unwrap();
    let lines: Vec<serde_json::Value> = files.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{files}");
    assert_eq!(lines[0]["itemCount"], 0);
    let key = lines[0]["dataFileS3Key"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(root.join("data").join(key)).unwrap()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, "");
    // The same request again names the same export; another, a conflict.
    let again = export().send().await.unwrap().export_description.unwrap().export_arn.unwrap();
    assert_eq!(again, first);
    let e = export().s3_sse_algorithm(S3SseAlgorithm::Aes256).send().await.unwrap_err();
    assert_eq!(code(&e), "ExportConflictException");
}

/// CSV (zstd, saved with a byte order mark, a quoted field across lines)
/// with a bad line: counted, skipped, the rest imported; an import's
/// refusals are DynamoDB's.
#[tokio::test]
async fn imports_count_bad_lines_and_refuse_as_dynamodb() {
    use aws_sdk_dynamodb::types::{ImportStatus, InputCompressionType, InputFormat};
    let h = harness().await;
    let c = &h.client;
    let bucket = h.dir.path().join("s3/seed-bucket/csv");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::create_dir_all(h.dir.path().join("s3/exports")).unwrap();
    let csv = "\u{feff}pk;name;age\na;Ann;31\nb;\"Bob; Jr\";40\n;nobody;1\nc;Cy;\nd;\"Di\r\n\nDa\";5\n";
    let compressed = zstd::encode_all(csv.as_bytes(), 3).unwrap();
    std::fs::write(bucket.join("part-1.csv.zst"), compressed).unwrap();
    let source = aws_sdk_dynamodb::types::S3BucketSource::builder()
        .s3_bucket("seed-bucket")
        .s3_key_prefix("csv/")
        .build()
        .unwrap();
    let out = c
        .import_table()
        .s3_bucket_source(source.clone())
        .input_format(InputFormat::Csv)
        .input_format_options(
            aws_sdk_dynamodb::types::InputFormatOptions::builder()
                .csv(aws_sdk_dynamodb::types::CsvOptions::builder().delimiter(";").build())
                .build(),
        )
        .input_compression_type(InputCompressionType::Zstd)
        .table_creation_parameters(creation("people"))
        .client_token("seed-people")
        .send()
        .await
        .unwrap();
    // A refused line fails the import, yet the good ones are in the table
    // (the live service's answer).
    let d = wait_import(c, &out.import_table_description.unwrap().import_arn.unwrap()).await;
    assert_eq!(d.import_status, Some(ImportStatus::Failed), "{d:?}");
    assert_eq!(d.failure_code.as_deref(), Some("ItemValidationError"));
    // The bucket's owner is back-filled with this account, as on AWS.
    assert_eq!(d.s3_bucket_source.as_ref().and_then(|s| s.s3_bucket_owner.as_deref()), Some("000000000000"));
    assert_eq!(
        d.failure_message.as_deref(),
        Some(
            "Some of the items failed validation checks and were not imported. Please check CloudWatch error logs for more details."
        )
    );
    assert_eq!((d.processed_item_count, d.imported_item_count, d.error_count), (5, 4, 1));
    let di = c.get_item().table_name("people").key("pk", s("d")).send().await.unwrap().item.unwrap();
    assert_eq!(di["name"], s("Di\n\nDa"), "a quoted field keeps its line breaks");
    let bob = c.get_item().table_name("people").key("pk", s("b")).send().await.unwrap().item.unwrap();
    assert_eq!(bob["name"], s("Bob; Jr"));
    assert_eq!(bob["age"], s("40"), "CSV cells other than keys are strings");
    let cy = c.get_item().table_name("people").key("pk", s("c")).send().await.unwrap().item.unwrap();
    assert!(!cy.contains_key("age"));

    // The token again once the import has ended, as the live service
    // answers (DDB-IMPORT-017): while its table exists, the table is in use;
    // under another table name, format, delimiter or compression, a
    // conflict.
    let again = |prefix: &str, table: &str, delimiter: &str, compression: InputCompressionType| {
        let source =
            aws_sdk_dynamodb::types::S3BucketSource::builder().s3_bucket("seed-bucket").s3_key_prefix(prefix).build();
        c.import_table()
            .s3_bucket_source(source.unwrap())
            .input_format(InputFormat::Csv)
            .input_format_options(
                aws_sdk_dynamodb::types::InputFormatOptions::builder()
                    .csv(aws_sdk_dynamodb::types::CsvOptions::builder().delimiter(delimiter).build())
                    .build(),
            )
            .input_compression_type(compression)
            .table_creation_parameters(creation(table))
            .client_token("seed-people")
            .send()
    };
    let e = again("csv/", "people", ";", InputCompressionType::Zstd).await.unwrap_err();
    assert_eq!(message(&e), ("ResourceInUseException".into(), "Table already exists: people".into()));
    // The same request under another key prefix names the first import.
    let replayed = again("elsewhere/", "people", ";", InputCompressionType::Zstd).await.unwrap();
    assert_eq!(replayed.import_table_description.and_then(|r| r.import_arn), d.import_arn);
    for (table, delimiter, compression) in [
        ("people2", ";", InputCompressionType::Zstd),
        ("people2", ",", InputCompressionType::Zstd),
        ("people2", ";", InputCompressionType::Gzip),
    ] {
        let e = again("csv/", table, delimiter, compression).await.unwrap_err();
        assert_eq!(
            message(&e),
            (
                "ImportConflictException".into(),
                "Import conflict: Duplicate request detected with conflicting parameters".into()
            )
        );
    }
    assert!(c.describe_table().table_name("people2").send().await.is_err(), "no table is made");

    // The table exists: ImportTable makes a new one only.
    let e = c
        .import_table()
        .s3_bucket_source(source.clone())
        .input_format(InputFormat::Csv)
        .input_compression_type(InputCompressionType::Zstd)
        .table_creation_parameters(creation("people"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceInUseException");
    // Nothing under the prefix: COMPLETED, an empty table.
    let empty = aws_sdk_dynamodb::types::S3BucketSource::builder()
        .s3_bucket("seed-bucket")
        .s3_key_prefix("none/")
        .build()
        .unwrap();
    let out = c
        .import_table()
        .s3_bucket_source(empty)
        .input_format(InputFormat::DynamodbJson)
        .table_creation_parameters(creation("empty-import"))
        .send()
        .await
        .unwrap();
    let d = wait_import(c, &out.import_table_description.unwrap().import_arn.unwrap()).await;
    assert_eq!(d.import_status, Some(ImportStatus::Completed), "{d:?}");
    assert_eq!((d.processed_item_count, d.imported_item_count, d.error_count), (0, 0, 0));
    assert_eq!(scan_count(c, "empty-import").await, 0);

    // A DynamoDB JSON line that does not parse ends its file's read (line 6
    // of 10: 6 processed, 5 imported), where an item that parses and is
    // refused does not; a file that is not what its compression says (a
    // plain file read as GZIP) is one error, and the next file is read:
    // FAILED ItemValidationError, the table kept with the good items
    // (DDB-IMPORT-013, -015, -020).
    let json = h.dir.path().join("s3/seed-bucket/json");
    std::fs::create_dir_all(&json).unwrap();
    let line = |i: usize| format!("{{\"Item\":{{\"pk\":{{\"S\":\"k{i}\"}}}}}}\n");
    let mut garbled: String = (0..5).map(line).collect();
    garbled.push_str("{not json\n");
    garbled.extend((6..10).map(line));
    std::fs::write(json.join("a.json"), &garbled).unwrap();
    let keyless = format!("{}{{\"Item\":{{\"other\":{{\"S\":\"x\"}}}}}}\n{}", line(20), line(21));
    std::fs::write(json.join("b.json"), keyless).unwrap();
    let import = |prefix: &str, table: &str, compression: InputCompressionType| {
        let source = aws_sdk_dynamodb::types::S3BucketSource::builder()
            .s3_bucket("seed-bucket")
            .s3_key_prefix(prefix)
            .build()
            .unwrap();
        c.import_table()
            .s3_bucket_source(source)
            .input_format(InputFormat::DynamodbJson)
            .input_compression_type(compression)
            .table_creation_parameters(creation(table))
            .send()
    };
    let out = import("json/", "garbled", InputCompressionType::None).await.unwrap();
    let d = wait_import(c, &out.import_table_description.unwrap().import_arn.unwrap()).await;
    assert_eq!(d.failure_code.as_deref(), Some("ItemValidationError"), "{d:?}");
    assert_eq!((d.processed_item_count, d.imported_item_count, d.error_count), (9, 7, 2));
    assert_eq!(scan_count(c, "garbled").await, 7);
    let out = import("json/", "gzipped", InputCompressionType::Gzip).await.unwrap();
    let d = wait_import(c, &out.import_table_description.unwrap().import_arn.unwrap()).await;
    assert_eq!(d.import_status, Some(ImportStatus::Failed), "{d:?}");
    assert_eq!(d.failure_code.as_deref(), Some("ItemValidationError"), "{d:?}");
    assert_eq!((d.processed_item_count, d.imported_item_count, d.error_count), (2, 0, 2));
    assert_eq!(scan_count(c, "gzipped").await, 0, "the table is kept, empty");
    // A bucket that does not exist (and one DynamoDB takes but S3 cannot
    // have): FAILED S3NoSuchBucket, and no table.
    for (bucket, table) in [("no-such-bucket", "nobucket"), ("My_Bucket", "badbucket")] {
        let out = c
            .import_table()
            .s3_bucket_source(aws_sdk_dynamodb::types::S3BucketSource::builder().s3_bucket(bucket).build().unwrap())
            .input_format(InputFormat::DynamodbJson)
            .table_creation_parameters(creation(table))
            .send()
            .await
            .unwrap();
        let d = wait_import(c, &out.import_table_description.unwrap().import_arn.unwrap()).await;
        assert_eq!(d.import_status, Some(ImportStatus::Failed), "{d:?}");
        assert_eq!(d.failure_code.as_deref(), Some("S3NoSuchBucket"), "{bucket}");
        let e = c.describe_table().table_name(table).send().await.unwrap_err();
        assert_eq!(code(&e), "ResourceNotFoundException");
    }
    // A bucket name that would leave the directory of buckets.
    let bad = aws_sdk_dynamodb::types::S3BucketSource::builder().s3_bucket("../etc").build().unwrap();
    let e = c
        .import_table()
        .s3_bucket_source(bad)
        .input_format(InputFormat::DynamodbJson)
        .table_creation_parameters(creation("evil"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let unknown = "arn:aws:dynamodb:us-east-1:000000000000:table/people/import/01700000000000-deadbeef";
    let e = c.describe_import().import_arn(unknown).send().await.unwrap_err();
    assert_eq!(code(&e), "ImportNotFoundException");
    // Not an import's or an export's ARN at all; a page token never given.
    let table_arn = "arn:aws:dynamodb:us-east-1:000000000000:table/people";
    let e = c.describe_import().import_arn(table_arn).send().await.unwrap_err();
    assert_eq!(message(&e), ("ValidationException".into(), "Invalid Import ARN".into()));
    let e = c.describe_export().export_arn(table_arn).send().await.unwrap_err();
    assert_eq!(message(&e), ("ValidationException".into(), "Invalid Export ARN".into()));
    let e = c.list_exports().next_token("deadbeef").send().await.unwrap_err();
    assert_eq!(message(&e).1, "Invalid Request: Provided nextToken is invalid: deadbeef");
    // Another account's: access denied (DDB-EXPORT-006, DDB-IMPORT-010).
    let theirs = "arn:aws:dynamodb:us-east-1:111111111111:table/people/export/01700000000000-deadbeef";
    let e = c.describe_export().export_arn(theirs).send().await.unwrap_err();
    assert_eq!(message(&e), ("AccessDeniedException".into(), "Access is denied".into()));
    let e = c.describe_import().import_arn(theirs.replace("/export/", "/import/")).send().await.unwrap_err();
    assert_eq!(message(&e), ("AccessDeniedException".into(), "Access is denied".into()));
    let e = c.list_imports().next_token("deadbeef").send().await.unwrap_err();
    assert_eq!(message(&e).1, "Invalid Request: Provided nextToken is invalid: deadbeef");
    let e = c
        .describe_export()
        .export_arn("arn:aws:dynamodb:us-east-1:000000000000:table/people/export/01700000000000-deadbeef")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExportNotFoundException");
    // An incremental export's period, checked as DynamoDB checks it: its
    // start within recovery (none yet: the same refusal, DDB-EXPORT-001),
    // its end not past now, then 15 minutes to a day.
    let arn = c.describe_table().table_name("people").send().await.unwrap().table.unwrap().table_arn.unwrap();
    let incremental = |from: f64, to: Option<f64>| {
        c.export_table_to_point_in_time()
            .table_arn(&arn)
            .s3_bucket("exports")
            .export_type(aws_sdk_dynamodb::types::ExportType::IncrementalExport)
            .incremental_export_specification(
                aws_sdk_dynamodb::types::IncrementalExportSpecification::builder()
                    .export_from_time(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(from))
                    .set_export_to_time(to.map(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64))
                    .build(),
            )
            .send()
    };
    let at = |t: f64| {
        aws_sdk_dynamodb::primitives::DateTime::from_secs(t as i64)
            .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
            .unwrap()
    };
    let from = (epoch_now() - 3600.0).floor();
    let e = incremental(from, None).await.unwrap_err();
    assert_eq!(
        message(&e),
        (
            "InvalidExportTimeException".into(),
            format!("Incremental export period from time cannot be less than the table creation time : {}", at(from))
        )
    );
    // A bucket owner is an account id (DDB-EXPORT-002).
    let e = c
        .export_table_to_point_in_time()
        .table_arn(&arn)
        .s3_bucket("exports")
        .s3_bucket_owner("not-an-account")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&e).1,
        "1 validation error detected: Value 'not-an-account' at 's3BucketOwner' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{12}"
    );
    enable_pitr(c, "people", None).await;
    let before = (epoch_now() - 600.0).floor();
    let e = incremental(before, Some(epoch_now())).await.unwrap_err();
    assert_eq!(code(&e), "InvalidExportTimeException");
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()).map(str::to_string),
        Some(format!(
            "Incremental export period from time cannot be less than the table creation time : {}",
            at(before)
        ))
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let future = (epoch_now() + 3600.0).floor();
    let e = incremental(epoch_now() - 0.2, Some(future)).await.unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()).map(str::to_string),
        Some(format!("Incremental export period to time cannot be greater than the current time : {}", at(future)))
    );
    let e = incremental(epoch_now() - 0.2, None).await.unwrap_err();
    assert_eq!(code(&e), "InvalidExportTimeException");
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some("Difference between export period from time and export period to time is less than 15 minutes")
    );
    // The shape of an export request, in DynamoDB's words.
    let export = || c.export_table_to_point_in_time().table_arn(&arn).s3_bucket("exports");
    let spec = aws_sdk_dynamodb::types::IncrementalExportSpecification::builder()
        .export_to_time(aws_sdk_dynamodb::primitives::DateTime::from_secs_f64(epoch_now()))
        .build();
    let cases = [
        (
            export().export_type(aws_sdk_dynamodb::types::ExportType::IncrementalExport),
            "Invalid Request: Incremental Export Specification expected when export type is set as Incremental Export",
        ),
        (
            export()
                .export_type(aws_sdk_dynamodb::types::ExportType::IncrementalExport)
                .incremental_export_specification(spec.clone()),
            "Invalid Request: ExportFromTime must be provided in IncrementalExportSpecification",
        ),
        (
            export().incremental_export_specification(spec.clone()),
            "Invalid Request: Export Type expected to be Incremental Export when incremental export specification is provided",
        ),
        (
            export()
                .export_type(aws_sdk_dynamodb::types::ExportType::FullExport)
                .incremental_export_specification(spec),
            "Invalid Request: When Export Type is Full Export , Incremental Export Specification should not be provided",
        ),
        (
            c.export_table_to_point_in_time().table_arn("people").s3_bucket("exports"),
            "One or more parameter values were invalid: tableArn is not a valid ARN",
        ),
        (
            c.export_table_to_point_in_time().table_arn(format!("{arn}/index/byname")).s3_bucket("exports"),
            "Invalid Request: Table ARN is invalid.",
        ),
        // A prefix no directory can stand for (S3 keeps `a//b` a key).
        (
            export().s3_prefix("a//b"),
            "One or more parameter values were invalid: S3 prefix 'a//b' is not a valid key prefix here",
        ),
    ];
    for (request, text) in cases {
        let e = request.send().await.unwrap_err();
        assert_eq!(e.as_service_error().and_then(|e| e.message()), Some(text));
    }
    let e = c
        .export_table_to_point_in_time()
        .table_arn("arn:aws:dynamodb:us-east-1:000000000000:table/nothing")
        .s3_bucket("exports")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.message()),
        Some("Table not found: arn:aws:dynamodb:us-east-1:000000000000:table/nothing")
    );
    // Another account's table is denied; another region's ARN names a
    // table looked up here.
    for (arn, want) in [
        ("arn:aws:dynamodb:us-east-1:111111111111:table/people", ("AccessDeniedException", "Access is denied")),
        (
            "arn:aws:dynamodb:us-west-2:000000000000:table/nothing",
            ("TableNotFoundException", "Table not found: arn:aws:dynamodb:us-west-2:000000000000:table/nothing"),
        ),
    ] {
        let e = c.export_table_to_point_in_time().table_arn(arn).s3_bucket("exports").send().await.unwrap_err();
        assert_eq!(message(&e), (want.0.to_string(), want.1.to_string()), "{arn}");
    }
}

/// The AWS CLI round trip: a backup and its restore, then an export,
/// an import of it into a new table, and the two tables compared.
#[test]
fn the_aws_cli_backs_up_exports_and_imports() {
    let cli = common::tools::aws_cli_v1();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, endpoint) = common::spawn_server(&[OsStr::new("--data-dir"), data.as_os_str()]);
    let aws = |args: &[&str]| -> serde_json::Value {
        let out = cli.command(&endpoint, dir.path()).arg("dynamodb").args(args).output().expect("run aws");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    aws(&[
        "create-table",
        "--table-name",
        "Music",
        "--attribute-definitions",
        "AttributeName=Artist,AttributeType=S",
        "AttributeName=Song,AttributeType=S",
        "--key-schema",
        "AttributeName=Artist,KeyType=HASH",
        "AttributeName=Song,KeyType=RANGE",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
    for i in 0..30 {
        let item = format!(r#"{{"Artist":{{"S":"a{}"}},"Song":{{"S":"s{i}"}},"Year":{{"N":"{}"}}}}"#, i % 3, 1990 + i);
        aws(&["put-item", "--table-name", "Music", "--item", &item]);
    }
    let backup = aws(&["create-backup", "--table-name", "Music", "--backup-name", "MusicBackup"]);
    let backup_arn = backup["BackupDetails"]["BackupArn"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let d = aws(&["describe-backup", "--backup-arn", &backup_arn]);
        if d["BackupDescription"]["BackupDetails"]["BackupStatus"] == "AVAILABLE" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    aws(&["restore-table-from-backup", "--target-table-name", "MusicRestored", "--backup-arn", &backup_arn]);
    aws(&[
        "update-continuous-backups",
        "--table-name",
        "Music",
        "--point-in-time-recovery-specification",
        "PointInTimeRecoveryEnabled=true",
    ]);
    std::thread::sleep(Duration::from_millis(1100));
    let table_arn =
        aws(&["describe-table", "--table-name", "Music"])["Table"]["TableArn"].as_str().unwrap().to_string();
    // The bucket is made first, as on AWS (an export to a missing bucket
    // fails), through the server's S3 API.
    let out = cli.command(&endpoint, dir.path()).args(["s3", "mb", "s3://music-exports"]).output().expect("run aws");
    assert!(out.status.success(), "aws s3 mb: {}", String::from_utf8_lossy(&out.stderr));
    let export = aws(&["export-table-to-point-in-time", "--table-arn", &table_arn, "--s3-bucket", "music-exports"]);
    let export_arn = export["ExportDescription"]["ExportArn"].as_str().unwrap().to_string();
    let mut done = serde_json::Value::Null;
    for _ in 0..200 {
        done = aws(&["describe-export", "--export-arn", &export_arn]);
        if done["ExportDescription"]["ExportStatus"] != "IN_PROGRESS" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(done["ExportDescription"]["ExportStatus"], "COMPLETED", "{done}");
    let id = export_arn.rsplit('/').next().unwrap();
    // The export read with `aws s3`, as from S3: listed, and its data files
    // downloaded (the server's port serves S3's API for the bucket).
    let s3 = |args: &[&str]| -> String {
        let out = cli.command(&endpoint, dir.path()).arg("s3").args(args).output().expect("run aws s3");
        assert!(out.status.success(), "aws s3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = s3(&["ls", "--recursive", "s3://music-exports"]);
    assert!(listed.contains(&format!("AWSDynamoDB/{id}/manifest-summary.json")), "{listed}");
    let fetched = dir.path().join("fetched");
    s3(&["cp", "--recursive", &format!("s3://music-exports/AWSDynamoDB/{id}/data/"), fetched.to_str().unwrap()]);
    let lines: usize = std::fs::read_dir(&fetched)
        .unwrap()
        .map(|f| {
            let gz = std::fs::read(f.unwrap().path()).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
            text.lines().count()
        })
        .sum();
    assert_eq!(lines, 30, "every item exported once");
    let import = aws(&[
        "import-table",
        "--s3-bucket-source",
        &format!("S3Bucket=music-exports,S3KeyPrefix=AWSDynamoDB/{id}/data/"),
        "--input-format",
        "DYNAMODB_JSON",
        "--input-compression-type",
        "GZIP",
        "--table-creation-parameters",
        r#"{"TableName":"MusicImported","AttributeDefinitions":[{"AttributeName":"Artist","AttributeType":"S"},{"AttributeName":"Song","AttributeType":"S"}],"KeySchema":[{"AttributeName":"Artist","KeyType":"HASH"},{"AttributeName":"Song","KeyType":"RANGE"}],"BillingMode":"PAY_PER_REQUEST"}"#,
    ]);
    let import_arn = import["ImportTableDescription"]["ImportArn"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let d = aws(&["describe-import", "--import-arn", &import_arn]);
        if d["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS" {
            assert_eq!(d["ImportTableDescription"]["ImportStatus"], "COMPLETED", "{d}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let sorted = |table: &str| {
        let mut items = aws(&["scan", "--table-name", table])["Items"].as_array().unwrap().clone();
        items.sort_by_key(|i| i.to_string());
        items
    };
    let source = sorted("Music");
    assert_eq!(source.len(), 30);
    assert_eq!(sorted("MusicImported"), source);
    for _ in 0..200 {
        if aws(&["describe-table", "--table-name", "MusicRestored"])["Table"]["TableStatus"] == "ACTIVE" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sorted("MusicRestored"), source);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `kill -9` while a backup, an export and an import run: afterwards none
/// is left half-done and marked finished, the source is intact, and each
/// either finished or is reported failed (a backup cut short is gone).
#[tokio::test]
async fn sigkill_during_backup_export_and_import_leaves_nothing_half_done() {
    use aws_sdk_dynamodb::types::{ExportStatus, ImportStatus, InputFormat};
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = vec!["--data-dir".as_ref(), dir.path().as_os_str()];
    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    create_orders(&c, "big").await;
    put_orders(&c, "big", 0, 6000).await;
    enable_pitr(&c, "big", None).await;
    std::fs::create_dir_all(dir.path().join("s3/exports")).unwrap();
    // An import source: a large DynamoDB JSON file.
    let src = dir.path().join("s3/seed/data");
    std::fs::create_dir_all(&src).unwrap();
    let mut lines = String::new();
    for i in 0..50_000 {
        lines
            .push_str(&format!("{{\"Item\":{{\"pk\":{{\"S\":\"k{i}\"}},\"v\":{{\"S\":\"{}\"}}}}}}\n", "y".repeat(200)));
    }
    std::fs::write(src.join("items.json"), lines).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let arn = c.describe_table().table_name("big").send().await.unwrap().table.unwrap().table_arn.unwrap();

    let (c1, c2, c3) = (c.clone(), c.clone(), c.clone());
    let backup =
        tokio::spawn(async move { c1.create_backup().table_name("big").backup_name("cut-short").send().await });
    let export =
        tokio::spawn(
            async move { c2.export_table_to_point_in_time().table_arn(arn).s3_bucket("exports").send().await },
        );
    let import = tokio::spawn(async move {
        c3.import_table()
            .s3_bucket_source(aws_sdk_dynamodb::types::S3BucketSource::builder().s3_bucket("seed").build().unwrap())
            .input_format(InputFormat::DynamodbJson)
            .table_creation_parameters(creation("seeded"))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().expect("SIGKILL the server");
    child.wait().unwrap();
    let (_, _, _) = (backup.await, export.await, import.await);

    let (mut child, endpoint) = common::spawn_server(&args);
    let c = client(&endpoint);
    assert_eq!(scan_count(&c, "big").await, 6000, "the source is intact");
    for b in c.list_backups().send().await.unwrap().backup_summaries() {
        assert_eq!(b.backup_status(), Some(&BackupStatus::Available), "{b:?}");
        let restored = format!("from-{}", b.backup_name().unwrap());
        c.restore_table_from_backup()
            .target_table_name(&restored)
            .backup_arn(b.backup_arn().unwrap())
            .send()
            .await
            .unwrap();
        wait_active(&c, &restored).await;
        assert_eq!(scan_count(&c, &restored).await, 6000);
    }
    for e in c.list_exports().send().await.unwrap().export_summaries() {
        let d =
            c.describe_export().export_arn(e.export_arn().unwrap()).send().await.unwrap().export_description.unwrap();
        match d.export_status.unwrap() {
            ExportStatus::Completed => assert_eq!(d.item_count, Some(6000)),
            ExportStatus::Failed => assert!(d.failure_message.is_some()),
            other => panic!("export left {other:?}"),
        }
    }
    for i in c.list_imports().send().await.unwrap().import_summary_list() {
        let d = c
            .describe_import()
            .import_arn(i.import_arn().unwrap())
            .send()
            .await
            .unwrap()
            .import_table_description
            .unwrap();
        match d.import_status.unwrap() {
            ImportStatus::Completed => assert_eq!(scan_count(&c, "seeded").await, 50_000),
            ImportStatus::Failed => {
                assert!(d.failure_message.is_some());
                let e = c.describe_table().table_name("seeded").send().await.unwrap_err();
                assert_eq!(code(&e), "ResourceNotFoundException");
            }
            other => panic!("import left {other:?}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `tidepool backup`, `restore`, `export` and `import` against a running
/// server, as a user seeds and protects a prototype.
#[tokio::test]
async fn the_cli_backs_up_restores_exports_and_imports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, endpoint) = common::spawn_server(&[OsStr::new("--data-dir"), data.as_os_str()]);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(args)
            .env("TIDEPOOL_ENDPOINT", &endpoint)
            .env_remove("RUST_LOG")
            .output()
            .expect("run tidepool");
        assert!(out.status.success(), "tidepool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Seed a prototype from a local CSV file.
    let csv = dir.path().join("people.csv");
    let mut text = String::from("id,name,city\n");
    for i in 0..500 {
        text.push_str(&format!("u{i},Name {i},City {}\n", i % 7));
    }
    std::fs::write(&csv, text).unwrap();
    let out = run(&["import", csv.to_str().unwrap(), "people", "--key", "id:S"]);
    assert!(out.contains("table people imported: 500 items"), "{out}");
    let c = client(&endpoint);
    assert_eq!(scan_count(&c, "people").await, 500);

    let out = run(&["backup", "people", "--name", "before-change"]);
    assert!(out.contains("AVAILABLE: 500 items"), "{out}");
    let arn = out.split_whitespace().nth(1).unwrap().to_string();
    c.delete_item().table_name("people").key("id", s("u1")).send().await.unwrap();
    let out = run(&["restore", &arn, "people-restored"]);
    assert!(out.contains("table people-restored ACTIVE: 500 items"), "{out}");

    enable_pitr(&c, "people", None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = run(&["export", "people", "--bucket", "backups", "--prefix", "daily"]);
    assert!(out.contains("COMPLETED: 499 items"), "{out}");
    assert!(data.join("s3/backups/daily/AWSDynamoDB").is_dir());
    // The export's own directory imports: its data files, not its
    // manifests; the copies made for it are removed after.
    let export_dir = std::fs::read_dir(data.join("s3/backups/daily/AWSDynamoDB"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("manifest-summary.json").is_file())
        .expect("the export's directory");
    let out = run(&["import", export_dir.to_str().unwrap(), "people-copy", "--key", "id:S"]);
    assert!(out.contains("table people-copy imported: 499 items"), "{out}");
    let left = std::fs::read_dir(data.join("s3/tidepool-imports")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the import's copies are removed");
    let semi = dir.path().join("semi.csv");
    std::fs::write(&semi, "id;city\na;Oslo\nb;Rome\n").unwrap();
    let out = run(&["import", semi.to_str().unwrap(), "semi", "--key", "id:S", "--delimiter", ";"]);
    assert!(out.contains("table semi imported: 2 items"), "{out}");
    // A key prefix of a bucket: its files' names say they are GZIP.
    let export_id = export_dir.file_name().unwrap().to_str().unwrap();
    for (n, prefix) in
        [format!("daily/AWSDynamoDB/{export_id}/data"), format!("daily/AWSDynamoDB/{export_id}/")].iter().enumerate()
    {
        let table = format!("people-prefixed-{n}");
        let out = run(&["import", prefix, &table, "--bucket", "backups", "--key", "id:S"]);
        assert!(out.contains(&format!("table {table} imported: 499 items")), "{out}");
    }
    // A table named by its ARN gets a default backup name that is a name.
    let out = run(&["backup", "arn:aws:dynamodb:us-east-1:000000000000:table/people"]);
    assert!(out.contains("AVAILABLE: 499 items"), "{out}");
    let out = run(&["restore", "people", "people-latest"]);
    assert!(out.contains("table people-latest ACTIVE: 499 items"), "{out}");
    server.kill().unwrap();
    server.wait().unwrap();
}
