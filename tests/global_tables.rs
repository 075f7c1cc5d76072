//! Global tables end to end: two real servers, each its own region, peers
//! of each other over HTTP on 127.0.0.1, driven by the AWS SDK.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateReplicationGroupMemberAction, KeySchemaElement, KeyType,
    ReplicaStatus, ReplicationGroupUpdate, ScalarAttributeType,
};
use common::{client, start_with, streams_client};
use tidepool::{Server, ServerConfig};
use tidepool_store::StreamConfig;

type Item = HashMap<String, AttributeValue>;

/// A region's server. Its tests change deletion protection in a row: no
/// cooldown between changes (security.rs tests the cooldown).
async fn region(dir: &std::path::Path, name: &str) -> Server {
    region_marking(dir, name, false).await
}

/// A region's server that marks replicated writes' stream records
/// (`--mark-replicated-writes`) when `mark`.
async fn region_marking(dir: &std::path::Path, name: &str, mark: bool) -> Server {
    let streams = StreamConfig { mark_replicated_writes: mark, ..StreamConfig::default() };
    start_with(
        dir,
        ServerConfig {
            region: name.into(),
            setting_cooldown: std::time::Duration::ZERO,
            streams,
            ..ServerConfig::default()
        },
    )
    .await
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

async fn put(c: &Client, pk: &str, v: &str) {
    c.put_item().table_name("Users").item("pk", s(pk)).item("v", s(v)).send().await.expect("put");
}

async fn scan_all(c: &Client) -> Vec<Item> {
    let mut items = c.scan().table_name("Users").consistent_read(true).send().await.expect("scan").items().to_vec();
    items.sort_by_key(|i| format!("{:?}", i.get("pk")));
    items
}

/// Waits up to 30 s for `ok`.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut ok: impl FnMut() -> F) {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// us-east-1 and eu-west-1, peers of each other (with their directories).
async fn two_regions() -> ([tempfile::TempDir; 2], Server, Server) {
    two_regions_marking(false).await
}

/// [`two_regions`], eu-west-1 marking replicated writes when `eu_marks`.
async fn two_regions_marking(eu_marks: bool) -> ([tempfile::TempDir; 2], Server, Server) {
    let (d1, d2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let us = region(d1.path(), "us-east-1").await;
    let eu = region_marking(d2.path(), "eu-west-1", eu_marks).await;
    us.app.global.set_peer("eu-west-1", &eu.endpoint()).expect("peer");
    eu.app.global.set_peer("us-east-1", &us.endpoint()).expect("peer");
    ([d1, d2], us, eu)
}

/// Registers a scalable target and a target tracking policy on a table's
/// (`kind` "table") or index's ("index") write capacity, through
/// Application Auto Scaling's JSON protocol on the server's port.
async fn autoscale_writes(endpoint: &str, resource: &str, kind: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let call = |op: &'static str, body: serde_json::Value| {
        let target = format!("AnyScaleFrontendService.{op}");
        async move {
            let headers = [("X-Amz-Target", target.as_str()), ("Content-Type", "application/x-amz-json-1.1")];
            let a = common::http::send(addr, "POST", "/", &headers, body.to_string().as_bytes()).await;
            assert_eq!(a.status, 200, "{op}: {}", String::from_utf8_lossy(&a.body));
        }
    };
    let dimension = format!("dynamodb:{kind}:WriteCapacityUnits");
    let target = serde_json::json!({
        "ServiceNamespace": "dynamodb", "ResourceId": resource, "ScalableDimension": dimension,
        "MinCapacity": 1, "MaxCapacity": 100,
    });
    call("RegisterScalableTarget", target).await;
    let policy = serde_json::json!({
        "ServiceNamespace": "dynamodb", "ResourceId": resource, "ScalableDimension": dimension,
        "PolicyName": "writes", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
        },
    });
    call("PutScalingPolicy", policy).await;
}

async fn replica_status(c: &Client, region: &str) -> Option<ReplicaStatus> {
    let t = c.describe_table().table_name("Users").send().await.ok()?.table?;
    t.replicas().iter().find(|r| r.region_name() == Some(region)).and_then(|r| r.replica_status().cloned())
}

#[tokio::test]
async fn two_regions_replicate_both_ways_and_converge_by_last_writer() {
    // eu-west-1 marks replicated writes in its stream; us-east-1 does not.
    let (_dirs, us, eu) = two_regions_marking(true).await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));

    cu.create_table()
        .table_name("Users")
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create");
    // Items written before the table is global are filled into the replica.
    for i in 0..50 {
        put(&cu, &format!("old{i}"), "before").await;
    }

    // A replica in an unknown region, or in the table's own, is refused.
    let create = |r: &str| {
        ReplicationGroupUpdate::builder()
            .create(CreateReplicationGroupMemberAction::builder().region_name(r).build().unwrap())
            .build()
    };
    let refusal = |e: aws_sdk_dynamodb::error::SdkError<_, _>| {
        let e: aws_sdk_dynamodb::operation::update_table::UpdateTableError = e.into_service_error();
        (e.meta().code().unwrap_or_default().to_string(), e.meta().message().unwrap_or_default().to_string())
    };
    let e = cu.update_table().table_name("Users").replica_updates(create("ap-south-1")).send().await.unwrap_err();
    let (code, text) = refusal(e);
    assert_eq!(code, "ValidationException");
    assert!(text.starts_with("Region ap-south-1 is not supported. The latest version of global tables are only supported in the following regions: [eu-west-1]"), "{text}");
    let e = cu.update_table().table_name("Users").replica_updates(create("us-east-1")).send().await.unwrap_err();
    assert_eq!(
        refusal(e).1,
        "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required."
    );
    // A replica change comes alone; an element names one action.
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(create("eu-west-1"))
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e).1,
        "One or more parameter values were invalid: Replica modification must be the only operation in the request"
    );
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(ReplicationGroupUpdate::builder().build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(e).1, "There are no actions specified in the Replica Update Action of the request.");
    let delete = |r: &str| {
        ReplicationGroupUpdate::builder()
            .delete(
                aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder().region_name(r).build().unwrap(),
            )
            .build()
    };
    let e = cu.update_table().table_name("Users").replica_updates(delete("eu-west-1")).send().await.unwrap_err();
    assert_eq!(
        refusal(e).1,
        "Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [eu-west-1]."
    );

    // A region holding a table of the name that is no replica refuses at
    // once, and nothing changes here: no stream, no replica
    // (DDB-TABLE-225).
    keyed_table(&ce, "Users", None).await;
    let e = cu.update_table().table_name("Users").replica_updates(create("eu-west-1")).send().await.unwrap_err();
    assert_eq!(
        refusal(e),
        (
            "ValidationException".to_string(),
            "Failed to create a the new replica of table with name: \u{2018}Users\u{2019} because one or more replicas already existed as tables.".to_string()
        )
    );
    let t = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
    assert!(t.stream_specification().is_none() && t.replicas().is_empty() && t.global_table_version().is_none());
    ce.delete_table().table_name("Users").send().await.expect("the other region's own table goes");

    let out = cu.update_table().table_name("Users").replica_updates(create("eu-west-1")).send().await.expect("add");
    let desc = out.table_description().expect("description");
    assert_eq!(desc.global_table_version(), Some("2019.11.21"));
    // EVENTUAL, the default, is not named.
    assert_eq!(desc.multi_region_consistency(), None);
    // The new replica is not in the answer yet, as DynamoDB's (DDB-TABLE-226);
    // DescribeTable lists it.
    assert!(desc.replicas().is_empty(), "{desc:?}");
    let t = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
    assert_eq!(t.replicas().len(), 1);

    // Writes go on while the replica is made and filled.
    for i in 0..20 {
        put(&cu, &format!("during{i}"), "during").await;
    }
    eventually("the replica to be ACTIVE", || async {
        replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active)
    })
    .await;
    let e = cu.update_table().table_name("Users").replica_updates(create("eu-west-1")).send().await.unwrap_err();
    assert_eq!(
        refusal(e).1,
        "Failed to create a the new replica of table with name: \u{2018}Users\u{2019} because one or more replicas already existed as tables."
    );
    let stream = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
    assert_eq!(
        stream.stream_specification().and_then(|s| s.stream_view_type()).map(|v| v.as_str()),
        Some("NEW_AND_OLD_IMAGES"),
        "a global table's stream carries its changes"
    );
    // The new region knows its table as a replica of the same global table.
    assert_eq!(replica_status(&ce, "us-east-1").await, Some(ReplicaStatus::Active));
    eventually("the fill", || async { scan_all(&ce).await.len() == 70 }).await;

    // Each region's writes reach the other.
    put(&ce, "from-eu", "eu").await;
    put(&cu, "from-us", "us").await;
    ce.delete_item().table_name("Users").key("pk", s("old0")).send().await.expect("delete");
    eventually("both ways", || async {
        let (a, b) = (scan_all(&cu).await, scan_all(&ce).await);
        a == b && a.len() == 71
    })
    .await;

    // Each region reports what it replicates and how late changes arrive.
    let status = common::http::send(&eu.addr.to_string(), "GET", "/tidepool/replication", &[], b"").await.json();
    assert_eq!(status["Region"], "eu-west-1");
    assert_eq!(status["GlobalTables"][0]["TableName"], "Users");
    let latency = &status["ReplicationLatency"][0];
    assert_eq!(latency["SourceRegion"], "us-east-1", "{status}");
    assert!(latency["Samples"].as_u64().unwrap() >= 20 && latency["P99Ms"].as_u64().is_some(), "{status}");

    // Conflicting writes to the same keys in both regions at once: both
    // end with the same item, one of the two written.
    let mut tasks = Vec::new();
    for round in 0..20 {
        for (c, who) in [(cu.clone(), "us"), (ce.clone(), "eu")] {
            tasks.push(tokio::spawn(async move {
                for k in 0..5 {
                    put(&c, &format!("hot{k}"), &format!("{who}-{round}")).await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    eventually("convergence", || async { scan_all(&cu).await == scan_all(&ce).await }).await;
    let items = scan_all(&cu).await;
    for k in 0..5 {
        let hot = items.iter().find(|i| i.get("pk") == Some(&s(&format!("hot{k}")))).expect("hot item");
        let v = hot.get("v").and_then(|v| v.as_s().ok()).expect("v");
        assert!(v.starts_with("us-") || v.starts_with("eu-"), "{v}");
    }

    // A replicated write appears in the receiving region's own stream:
    // with no `userIdentity`, as on AWS, or, where the region marks
    // replicated writes, the replication service's. A local write has none
    // either way.
    let replication = Some(Some("replication.dynamodb.amazonaws.com".to_string()));
    let eu_records = principals(&eu.endpoint(), &ce).await;
    assert_eq!(of(&eu_records, "from-us"), replication, "{eu_records:?}");
    assert_eq!(of(&eu_records, "from-eu"), Some(None), "{eu_records:?}");
    let us_records = principals(&us.endpoint(), &cu).await;
    assert_eq!(of(&us_records, "from-eu"), Some(None), "{us_records:?}");
    assert_eq!(of(&us_records, "from-us"), Some(None), "{us_records:?}");

    // One replica change a request.
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(create("ap-south-1"))
        .replica_updates(create("ca-central-1"))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(e.into_service_error().meta().code(), Some("ValidationException"));
    let gsi = aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
        .create(
            aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                .index_name("by-v")
                .key_schema(KeySchemaElement::builder().attribute_name("v").key_type(KeyType::Hash).build().unwrap())
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build();
    // An index created in one region is created in the other, filled from
    // its own items; one deleted in the other is deleted in the first.
    cu.update_table()
        .table_name("Users")
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("v").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .global_secondary_index_updates(gsi)
        .send()
        .await
        .expect("an index of a global table");
    let by_v = |c: Client| async move {
        let q = c
            .query()
            .table_name("Users")
            .index_name("by-v")
            .key_condition_expression("v = :v")
            .expression_attribute_values(":v", s("before"))
            .send()
            .await
            .ok()?;
        Some(q.count())
    };
    eventually("the index in both regions", || async {
        let (u, e) = (by_v(cu.clone()).await, by_v(ce.clone()).await);
        u.is_some() && u == e
    })
    .await;
    assert!(by_v(ce.clone()).await > Some(0));
    ce.update_table()
        .table_name("Users")
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by-v")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("delete the index");
    eventually("the index gone from both regions", || async {
        let t = cu.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
        t.global_secondary_indexes().is_empty()
    })
    .await;

    // Multi-region strong consistency is not offered: refused, not ignored.
    let e = cu
        .update_table()
        .table_name("Users")
        .multi_region_consistency(aws_sdk_dynamodb::types::MultiRegionConsistency::Strong)
        .send()
        .await
        .expect_err("refused");
    assert_eq!(e.into_service_error().meta().code(), Some("ValidationException"));

    // Stopping replication needs the stream: it cannot be turned off.
    let e = cu
        .update_table()
        .table_name("Users")
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder().stream_enabled(false).build().unwrap(),
        )
        .send()
        .await
        .expect_err("refused");
    assert_eq!(e.into_service_error().meta().code(), Some("ValidationException"));

    // Removing the replica drops the other region's table.
    let delete = remove_replica("eu-west-1");
    cu.update_table().table_name("Users").replica_updates(delete).send().await.expect("remove");
    eventually("the replica's removal", || async {
        let gone = ce.describe_table().table_name("Users").send().await.is_err();
        let t = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
        gone && t.replicas().is_empty() && t.global_table_version().is_none()
    })
    .await;
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

async fn table(c: &Client, name: &str, hash: &str, range: Option<&str>) {
    let mut b = c
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name(hash).attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name(hash).key_type(KeyType::Hash).build().unwrap());
    if let Some(r) = range {
        b = b
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(r)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name(r).key_type(KeyType::Range).build().unwrap());
    }
    b.send().await.expect("create a table");
}

fn score(player: &str, game: &str, points: i64) -> aws_sdk_dynamodb::types::TransactWriteItem {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name("Scores")
        .item("player", s(player))
        .item("game", s(game))
        .item("score", AttributeValue::N(points.to_string()))
        .build()
        .unwrap();
    aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build()
}

/// A trigger in the replica's region fires for the writes replicated
/// there, as on AWS; a transaction commits whole in the region that took
/// it, and its items arrive in the other region.
#[tokio::test]
async fn a_trigger_in_a_replica_region_sees_replicated_writes() {
    let (_dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));
    table(&cu, "Scores", "player", Some("game")).await;
    let add = ReplicationGroupUpdate::builder()
        .create(CreateReplicationGroupMemberAction::builder().region_name("eu-west-1").build().unwrap())
        .build();
    cu.update_table().table_name("Scores").replica_updates(add).send().await.expect("add");
    eventually("the replica", || async {
        let t = cu.describe_table().table_name("Scores").send().await.unwrap().table.unwrap();
        t.replicas().first().and_then(|r| r.replica_status()) == Some(&ReplicaStatus::Active)
    })
    .await;

    // The trigger lives in eu-west-1 only, on its replica's stream.
    table(&ce, "Leaderboard", "game", None).await;
    let lambda = common::lambda_client(&eu.endpoint());
    common::create_example_function(&lambda, "leaderboard").await;
    let arn = ce.describe_table().table_name("Scores").send().await.unwrap().table.unwrap().latest_stream_arn.unwrap();
    lambda
        .create_event_source_mapping()
        .function_name("leaderboard")
        .event_source_arn(&arn)
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
        .send()
        .await
        .expect("the trigger");

    // Writes in us-east-1: single puts, and a transaction of two.
    for (player, points) in [("ann", 10), ("bob", 20), ("cy", 30)] {
        cu.put_item()
            .table_name("Scores")
            .item("player", s(player))
            .item("game", s("g1"))
            .item("score", AttributeValue::N(points.to_string()))
            .send()
            .await
            .expect("put");
    }
    cu.transact_write_items()
        .transact_items(score("dee", "g2", 5))
        .transact_items(score("eve", "g2", 7))
        .send()
        .await
        .expect("transaction");
    // The transaction is whole in its own region at once.
    let g2 = |c: Client| async move {
        c.scan()
            .table_name("Scores")
            .filter_expression("game = :g")
            .expression_attribute_values(":g", s("g2"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count
    };
    assert_eq!(g2(cu.clone()).await, 2);
    eventually("the transaction's items in eu-west-1", || {
        let ce = ce.clone();
        async move { g2(ce).await == 2 }
    })
    .await;

    // eu-west-1's trigger saw every replicated write.
    let total = |game: &'static str| {
        let ce = ce.clone();
        async move {
            let got = ce.get_item().table_name("Leaderboard").key("game", s(game)).send().await.ok()?.item?;
            got.get("total")?.as_n().ok()?.parse::<i64>().ok()
        }
    };
    eventually("the replica's trigger", || async { total("g1").await == Some(60) && total("g2").await == Some(12) })
        .await;

    // DeleteTable of a replica: the other region drops it from its replicas.
    ce.delete_table().table_name("Scores").send().await.expect("delete the replica");
    eventually("the other region to forget the replica", || async {
        let t = cu.describe_table().table_name("Scores").send().await.unwrap().table.unwrap();
        t.replicas().is_empty()
    })
    .await;
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// Each record of table Users' stream in a region, by GetRecords: its
/// key and its `userIdentity`'s principal.
async fn principals(endpoint: &str, c: &Client) -> Vec<(String, Option<String>)> {
    let streams = streams_client(endpoint);
    let arn = c.describe_table().table_name("Users").send().await.unwrap().table.unwrap().latest_stream_arn.unwrap();
    let shards = streams.describe_stream().stream_arn(&arn).send().await.unwrap().stream_description.unwrap().shards;
    let mut principals = Vec::new();
    for sh in shards.unwrap_or_default() {
        let it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(sh.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let recs = streams.get_records().shard_iterator(it).send().await.unwrap();
        for r in recs.records() {
            let key = r.dynamodb().and_then(|d| d.keys()).and_then(|k| k.get("pk")).cloned();
            let who = r.user_identity().and_then(|u| u.principal_id()).map(str::to_string);
            principals.push((format!("{key:?}"), who));
        }
    }
    principals
}

/// The principal of the first of `records` (see [`principals`]) of item
/// `pk`: `None` if there is none, `Some(None)` if it has no `userIdentity`.
fn of(records: &[(String, Option<String>)], pk: &str) -> Option<Option<String>> {
    records.iter().find(|(k, _)| k.contains(&format!("\"{pk}\""))).map(|(_, w)| w.clone())
}

async fn legacy_table(c: &Client, name: &str) {
    c.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a table");
}

/// Version 2017.11.29: tables made in each region, joined by
/// CreateGlobalTable, described and changed by its own operations.
#[tokio::test]
async fn legacy_global_tables_join_existing_tables() {
    use aws_sdk_dynamodb::types::{Replica, ReplicaUpdate};
    let (_dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));
    let code = |e: &dyn aws_sdk_dynamodb::error::ProvideErrorMetadata| e.code().map(str::to_string);
    let group =
        |regions: &[&str]| regions.iter().map(|r| Replica::builder().region_name(*r).build()).collect::<Vec<_>>();

    // The other region's table must exist first.
    legacy_table(&cu, "Legacy").await;
    let e = cu
        .create_global_table()
        .global_table_name("Legacy")
        .set_replication_group(Some(group(&["us-east-1", "eu-west-1"])))
        .send()
        .await
        .expect_err("no table in eu-west-1");
    assert_eq!(code(e.as_service_error().unwrap()).as_deref(), Some("TableNotFoundException"));
    legacy_table(&ce, "Legacy").await;
    let out = cu
        .create_global_table()
        .global_table_name("Legacy")
        .set_replication_group(Some(group(&["us-east-1", "eu-west-1"])))
        .send()
        .await
        .expect("create the global table");
    let d = out.global_table_description.unwrap();
    assert_eq!(d.global_table_name(), Some("Legacy"));
    assert_eq!(d.replication_group().len(), 2);
    assert_eq!(d.global_table_arn(), Some("arn:aws:dynamodb::000000000000:global-table/Legacy"));
    let e = cu
        .create_global_table()
        .global_table_name("Legacy")
        .set_replication_group(Some(group(&["us-east-1", "eu-west-1"])))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(e.as_service_error().unwrap()).as_deref(), Some("GlobalTableAlreadyExistsException"));

    // Both regions describe and list it; DescribeTable does not call it a
    // version 2019.11.21 table.
    for c in [&cu, &ce] {
        let d = c.describe_global_table().global_table_name("Legacy").send().await.expect("describe");
        let d = d.global_table_description.unwrap();
        assert_eq!(d.global_table_status().map(|s| s.as_str()), Some("ACTIVE"));
        let mut regions: Vec<&str> = d.replication_group().iter().filter_map(|r| r.region_name()).collect();
        regions.sort();
        assert_eq!(regions, ["eu-west-1", "us-east-1"]);
        let t = c.describe_table().table_name("Legacy").send().await.unwrap().table.unwrap();
        assert!(t.global_table_version().is_none() && t.replicas().is_empty());
        let l = c.list_global_tables().send().await.expect("list");
        assert_eq!(l.global_tables().len(), 1);
    }
    let e = cu.describe_global_table().global_table_name("Nope").send().await.expect_err("none");
    assert_eq!(code(e.as_service_error().unwrap()).as_deref(), Some("GlobalTableNotFoundException"));
    let l = cu.list_global_tables().region_name("ap-south-1").send().await.expect("list");
    assert!(l.global_tables().is_empty());

    // Writes replicate both ways.
    cu.put_item().table_name("Legacy").item("pk", s("a")).item("v", s("us")).send().await.unwrap();
    ce.put_item().table_name("Legacy").item("pk", s("b")).item("v", s("eu")).send().await.unwrap();
    let count =
        |c: Client| async move { c.scan().table_name("Legacy").consistent_read(true).send().await.unwrap().count };
    eventually("legacy replication", || {
        let (a, b) = (cu.clone(), ce.clone());
        async move { count(a).await == 2 && count(b).await == 2 }
    })
    .await;

    // Settings for the whole group.
    let s1 = cu
        .update_global_table_settings()
        .global_table_name("Legacy")
        .global_table_billing_mode(BillingMode::Provisioned)
        .global_table_provisioned_write_capacity_units(7)
        .send()
        .await
        .expect("settings");
    assert_eq!(s1.replica_settings().len(), 2);
    let s2 = ce.describe_global_table_settings().global_table_name("Legacy").send().await.expect("settings");
    for r in s2.replica_settings() {
        assert_eq!(r.replica_provisioned_write_capacity_units(), Some(7), "{r:?}");
    }

    // No update at all is refused bare (DDB-GLOBALTABLE-004); a request
    // with one bad update changes nothing, its good ones included.
    let e = cu
        .update_global_table()
        .global_table_name("Legacy")
        .set_replica_updates(Some(Vec::new()))
        .send()
        .await
        .expect_err("no updates");
    let kind = code(e.as_service_error().unwrap());
    assert_eq!(
        (kind, message(e)),
        (Some("ValidationException".into()), "One or more parameter values were invalid".to_string())
    );
    let delete_of = |region: &str| {
        ReplicaUpdate::builder()
            .delete(aws_sdk_dynamodb::types::DeleteReplicaAction::builder().region_name(region).build().unwrap())
            .build()
    };
    for second in ["ap-south-1", "eu-west-1"] {
        let e = cu
            .update_global_table()
            .global_table_name("Legacy")
            .replica_updates(delete_of("eu-west-1"))
            .replica_updates(delete_of(second))
            .send()
            .await
            .expect_err("a second Delete of no member");
        assert_eq!(code(e.as_service_error().unwrap()).as_deref(), Some("ReplicaNotFoundException"), "{second}");
        let d = ce.describe_global_table().global_table_name("Legacy").send().await.expect("eu-west-1 still in");
        assert_eq!(d.global_table_description.unwrap().replication_group().len(), 2);
    }

    // Removing a region leaves its table, out of the group.
    let delete = delete_of("eu-west-1");
    cu.update_global_table().global_table_name("Legacy").replica_updates(delete).send().await.expect("remove");
    let d = cu.describe_global_table().global_table_name("Legacy").send().await.unwrap();
    assert_eq!(d.global_table_description.unwrap().replication_group().len(), 1);
    let e = ce.describe_global_table().global_table_name("Legacy").send().await.expect_err("left");
    assert_eq!(code(e.as_service_error().unwrap()).as_deref(), Some("GlobalTableNotFoundException"));
    assert_eq!(count(ce.clone()).await, 2, "its table and items stay");
    ce.put_item().table_name("Legacy").item("pk", s("c")).item("v", s("eu")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(cu.clone()).await, 2, "no longer replicated");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// The local multi-region quick start: `tidepool serve --regions a,b`
/// serves both regions from one process, peers of each other.
#[tokio::test]
async fn serve_regions_starts_a_local_multi_region_set() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["serve", "--in-memory", "--port", "0", "--regions", "us-east-1,eu-west-1"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tidepool");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut endpoints = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let line = lines.next().expect("a listening line").expect("read");
        assert!(line.ends_with(&format!("({region})")), "{line}");
        endpoints.push(line.split(' ').nth(3).expect("the endpoint").to_string());
    }
    let (cu, ce) = (client(&endpoints[0]), client(&endpoints[1]));
    table(&cu, "Users", "pk", None).await;
    let add = ReplicationGroupUpdate::builder()
        .create(CreateReplicationGroupMemberAction::builder().region_name("eu-west-1").build().unwrap())
        .build();
    cu.update_table().table_name("Users").replica_updates(add).send().await.expect("add");
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    put(&cu, "a", "1").await;
    eventually("the write in eu-west-1", || async { scan_all(&ce).await.len() == 1 }).await;
    // SIGTERM: a clean stop, which removes the in-memory data.
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

/// With authentication on, the regions sign their requests to each other
/// (with the auth file's first administrator, which both files hold), and
/// an unsigned request to a peer endpoint is refused.
#[tokio::test]
async fn peers_sign_their_requests_when_auth_is_on() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("auth.toml");
    std::fs::write(
        &file,
        "[[users]]\nname = \"admin\"\naccess_key_id = \"AKIDTEST\"\nsecret_access_key = \"secret\"\n",
    )
    .unwrap();
    let auth = std::sync::Arc::new(tidepool::http::auth::Auth::load(&file).expect("auth file"));
    let start = |sub: &str, name: &str| {
        let config = ServerConfig { region: name.into(), auth: Some(auth.clone()), ..ServerConfig::default() };
        let path = dir.path().join(sub);
        async move { start_with(&path, config).await }
    };
    let us = start("us", "us-east-1").await;
    let eu = start("eu", "eu-west-1").await;
    us.app.global.set_peer("eu-west-1", &eu.endpoint()).expect("peer");
    eu.app.global.set_peer("us-east-1", &us.endpoint()).expect("peer");
    // A signature is scoped to the region of the server it goes to.
    let ce = {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("AKIDTEST", "secret", None, None, "t"))
            .endpoint_url(eu.endpoint())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Client::from_conf(conf)
    };
    let cu = client(&us.endpoint());
    table(&cu, "Users", "pk", None).await;
    let add = ReplicationGroupUpdate::builder()
        .create(CreateReplicationGroupMemberAction::builder().region_name("eu-west-1").build().unwrap())
        .build();
    cu.update_table().table_name("Users").replica_updates(add).send().await.expect("add");
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    put(&cu, "a", "1").await;
    eventually("the signed replication", || async { scan_all(&ce).await.len() == 1 }).await;

    let unsigned = common::http::send(
        &eu.addr.to_string(),
        "POST",
        "/tidepool/replication/drop",
        &[("content-type", "application/json")],
        br#"{"TableName":"Users","From":"us-east-1"}"#,
    )
    .await;
    assert!(unsigned.status >= 400, "an unsigned peer request is refused: {}", unsigned.status);
    assert_eq!(scan_all(&ce).await.len(), 1, "and changes nothing");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// Multi-Region strong consistency: three regions; a write succeeds once
/// a second region has it, a strongly consistent read anywhere sees the
/// latest write; with one region down both go on, with two they fail.
#[tokio::test]
async fn strong_consistency_across_three_regions() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut servers = three_regions(&dirs).await;
    let clients: Vec<Client> = servers.iter().map(|s| client(&s.endpoint())).collect();
    let cu = &clients[0];
    table(cu, "Strong", "pk", None).await;
    cu.update_table()
        .table_name("Strong")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(CreateReplicationGroupMemberAction::builder().region_name("eu-west-1").build().unwrap())
                .build(),
        )
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(CreateReplicationGroupMemberAction::builder().region_name("ap-south-1").build().unwrap())
                .build(),
        )
        .multi_region_consistency(aws_sdk_dynamodb::types::MultiRegionConsistency::Strong)
        .send()
        .await
        .expect("make it strongly consistent");
    eventually("both replicas", || async {
        let t = cu.describe_table().table_name("Strong").send().await.unwrap().table.unwrap();
        t.replicas().len() == 2 && t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
    })
    .await;
    let t = cu.describe_table().table_name("Strong").send().await.unwrap().table.unwrap();
    assert_eq!(t.multi_region_consistency(), Some(&aws_sdk_dynamodb::types::MultiRegionConsistency::Strong));

    let get = |c: &Client| c.get_item().table_name("Strong").key("pk", s("k")).consistent_read(true).send();
    let get_key = |c: &Client, k: &str| c.get_item().table_name("Strong").key("pk", s(k)).consistent_read(true).send();
    let value = |out: aws_sdk_dynamodb::operation::get_item::GetItemOutput| {
        out.item.and_then(|i| i.get("v").and_then(|v| v.as_s().ok()).cloned())
    };
    // Every write is read at once, strongly, in every region.
    for round in 0..20 {
        let writer = &clients[round % 3];
        let v = format!("v{round}");
        writer.put_item().table_name("Strong").item("pk", s("k")).item("v", s(&v)).send().await.expect("put");
        for c in &clients {
            assert_eq!(value(get(c).await.expect("read")), Some(v.clone()), "round {round}");
        }
    }
    // A malformed key is refused as DynamoDB words it, not as an outage.
    let e = cu
        .get_item()
        .table_name("Strong")
        .key("pk", AttributeValue::N("1".into()))
        .consistent_read(true)
        .send()
        .await
        .expect_err("wrong key type");
    assert_eq!(e.into_service_error().meta().code(), Some("ValidationException"));
    // Transactions are refused on such a table.
    let e = cu
        .transact_write_items()
        .transact_items(
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .put(aws_sdk_dynamodb::types::Put::builder().table_name("Strong").item("pk", s("t")).build().unwrap())
                .build(),
        )
        .send()
        .await
        .expect_err("refused");
    assert_eq!(e.into_service_error().meta().code(), Some("ValidationException"));
    // So are an exactly-once handler's writes (they commit as one
    // transaction with its checkpoint), through the bridge its calls take;
    // its reads, a PartiQL SELECT among them, go on.
    let app = std::sync::Arc::downgrade(&servers[0].app);
    let staged = tokio::task::spawn_blocking(move || {
        use tidepool_runtime::StoreBridge;
        let bridge = tidepool::bridge::ServerBridge::new(app);
        let deferring = bridge.deferring().expect("an exactly-once bridge");
        let origin = tidepool_runtime::InvocationOrigin {
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            request_id: "r".into(),
            chain_depth: 0,
        };
        let calls = [
            ("PutItem", r#"{"TableName": "Strong", "Item": {"pk": {"S": "eo"}}}"#),
            ("ExecuteStatement", r#"{"Statement": "DELETE FROM \"Strong\" WHERE pk = 'k'"}"#),
            ("GetItem", r#"{"TableName": "Strong", "Key": {"pk": {"S": "k"}}, "ConsistentRead": true}"#),
            ("ExecuteStatement", r#"{"Statement": "SELECT * FROM \"Strong\" WHERE pk = 'k'"}"#),
        ];
        calls.map(|(op, request)| deferring.call(op, request, &origin).map_err(|e| (e.error_type, e.message)))
    })
    .await
    .unwrap();
    let refused = "Transactions are not supported on table Strong with multi-Region strong consistency: an \
                   exactly-once handler's writes commit as one transaction with its checkpoint (turn ExactlyOnce \
                   off to write to it)";
    for answer in &staged[..2] {
        assert_eq!(answer, &Err(("ValidationException".to_string(), refused.to_string())));
    }
    for answer in &staged[2..] {
        assert!(answer.as_ref().is_ok_and(|a| a.contains("v19")), "{answer:?}");
    }

    // A condition and an update see the latest acknowledged write, even in
    // a region it has not reached: here a write stamped now is in us-east-1
    // and eu-west-1 only (as if ap-south-1's copy were still on its way).
    let latest = tidepool_store::replication::ReplicatedChange {
        keys: [("pk".to_string(), tidepool_store::value::Value::S("c".into()))].into(),
        item: Some(
            [
                ("pk".to_string(), tidepool_store::value::Value::S("c".into())),
                ("v".to_string(), tidepool_store::value::Value::S("latest".into())),
                ("n".to_string(), tidepool_store::value::Value::N("41".parse().unwrap())),
            ]
            .into(),
        ),
        stamp: tidepool_store::replication::Stamp {
            ms: tidepool_store::replication::now_stamp_ms() + 1000,
            node: tidepool_store::replication::region_node("eu-west-1"),
        },
    };
    for s in &servers[..2] {
        s.app.store.apply_replicated("Strong", vec![latest.clone()]).expect("apply");
    }
    let ap = common::client_without_retries(&servers[2].endpoint());
    let out = ap
        .update_item()
        .table_name("Strong")
        .key("pk", s("c"))
        .update_expression("ADD n :one")
        .condition_expression("v = :latest")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":latest", s("latest"))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await
        .expect("the condition holds on the latest version");
    assert_eq!(out.attributes().and_then(|a| a.get("n")), Some(&AttributeValue::N("42".into())));
    // A strongly consistent BatchGetItem too, item by item.
    let mut newer = latest.clone();
    newer.keys.insert("pk".into(), tidepool_store::value::Value::S("b".into()));
    newer.item.as_mut().unwrap().insert("pk".into(), tidepool_store::value::Value::S("b".into()));
    for s in &servers[..2] {
        s.app.store.apply_replicated("Strong", vec![newer.clone()]).expect("apply");
    }
    let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
        .keys([("pk".to_string(), s("b"))].into())
        .keys([("pk".to_string(), s("k"))].into())
        .consistent_read(true)
        .build()
        .unwrap();
    let out = ap.batch_get_item().request_items("Strong", keys).send().await.expect("batch read");
    let mut read: Vec<_> =
        out.responses().and_then(|r| r.get("Strong")).unwrap().iter().map(|i| i["v"].clone()).collect();
    read.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(read, vec![s("latest"), s("v19")]);

    // A strongly consistent Query, Scan and PartiQL SELECT too: here an item
    // written and another deleted in us-east-1 and eu-west-1 only.
    for k in ["q0", "t0"] {
        cu.put_item().table_name("Strong").item("pk", s(k)).item("v", s("old")).send().await.expect("put");
        eventually("q0 and t0 everywhere", || async {
            ap.get_item().table_name("Strong").key("pk", s(k)).send().await.unwrap().item.is_some()
        })
        .await;
    }
    let stamp = tidepool_store::replication::Stamp {
        ms: tidepool_store::replication::now_stamp_ms() + 1000,
        node: tidepool_store::replication::region_node("eu-west-1"),
    };
    let key = |k: &str| -> tidepool_store::value::Item {
        [("pk".to_string(), tidepool_store::value::Value::S(k.into()))].into()
    };
    let mut unseen = Vec::new();
    for (new, gone) in [("q1", "q0"), ("t1", "t0")] {
        let mut item = key(new);
        item.insert("v".into(), tidepool_store::value::Value::S("fresh".into()));
        unseen.push(tidepool_store::replication::ReplicatedChange { keys: key(new), item: Some(item), stamp });
        unseen.push(tidepool_store::replication::ReplicatedChange { keys: key(gone), item: None, stamp });
    }
    for s in &servers[..2] {
        s.app.store.apply_replicated("Strong", unseen.clone()).expect("apply");
    }
    let keys_of = |items: &[Item]| {
        let mut keys: Vec<String> = items.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect();
        keys.sort();
        keys
    };
    let plain = ap.scan().table_name("Strong").send().await.expect("scan");
    assert_eq!(keys_of(plain.items()), ["b", "c", "k", "q0", "t0"], "ap-south-1 has not got them");
    let tget = |k: &str| {
        aws_sdk_dynamodb::types::TransactGetItem::builder()
            .get(aws_sdk_dynamodb::types::Get::builder().table_name("Strong").key("pk", s(k)).build().unwrap())
            .build()
    };
    let out = ap.transact_get_items().transact_items(tget("t1")).transact_items(tget("t0")).send().await;
    let read: Vec<Option<AttributeValue>> =
        out.expect("transact get").responses().iter().map(|r| r.item().and_then(|i| i.get("v").cloned())).collect();
    assert_eq!(read, [Some(s("fresh")), None], "a transaction reads the latest versions");

    let expected = ["b", "c", "k", "q1", "t1"];
    for limit in [None, Some(1), Some(2)] {
        let (mut items, mut start) = (Vec::new(), None);
        loop {
            let page = ap
                .scan()
                .table_name("Strong")
                .consistent_read(true)
                .set_limit(limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("strong scan");
            items.extend_from_slice(page.items());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        assert_eq!(keys_of(&items), expected, "limit {limit:?}");
    }
    let q = |k: &str| {
        ap.query()
            .table_name("Strong")
            .key_condition_expression("pk = :k")
            .expression_attribute_values(":k", s(k))
            .consistent_read(true)
            .send()
    };
    assert_eq!(q("q0").await.expect("query").count, 0, "deleted");
    assert_eq!(q("q1").await.expect("query").items()[0]["v"], s("fresh"));
    let out = ap
        .execute_statement()
        .statement("SELECT * FROM \"Strong\"")
        .consistent_read(true)
        .send()
        .await
        .expect("select");
    assert_eq!(keys_of(out.items()), expected);
    // What the reads brought is here now.
    assert_eq!(keys_of(ap.scan().table_name("Strong").send().await.expect("scan").items()), expected);

    // An item another region is writing: ReplicatedWriteConflictException
    // (retryable) in every region, until that write is done. (Claims lapse
    // after 10 s: what follows takes well under that.)
    let put_d = ap.batch_write_item().request_items(
        "Strong",
        vec![
            aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(aws_sdk_dynamodb::types::PutRequest::builder().item("pk", s("d")).build().unwrap())
                .build(),
        ],
    );
    let claim = |endpoint: String, from: &'static str, release: bool| async move {
        let body = serde_json::json!({
            "TableName": "Strong", "Keys": [{"pk": {"S": "c"}}], "From": from, "Token": 7, "Release": release,
        });
        post(&endpoint, "/tidepool/replication/claim", &body.to_string()).await
    };
    let (status, _) = claim(servers[0].endpoint(), "eu-west-1", false).await;
    assert_eq!(status, 200);
    let (status, _) = claim(servers[1].endpoint(), "us-east-1", false).await;
    assert_eq!(status, 200);
    // A third region may not claim it meanwhile.
    let (status, body) = claim(servers[0].endpoint(), "ap-south-1", false).await;
    assert_eq!(status, 400);
    assert!(body.contains("ReplicatedWriteConflictException"), "{body}");
    for endpoint in [servers[2].endpoint(), servers[0].endpoint(), servers[1].endpoint()] {
        let e = common::client_without_retries(&endpoint)
            .put_item()
            .table_name("Strong")
            .item("pk", s("c"))
            .item("v", s("mine"))
            .send()
            .await
            .expect_err("another region is writing it");
        let e = e.into_service_error();
        assert_eq!(e.meta().code(), Some("ReplicatedWriteConflictException"), "{e:?}");
        assert_eq!(
            e.meta().message(),
            Some(
                "The request was rejected because one or more items in the request are being modified by a request in another Region."
            )
        );
    }
    // A PartiQL write of it too (it claims its item as PutItem does).
    let e = ap
        .execute_statement()
        .statement("UPDATE \"Strong\" SET v = 'partiql' WHERE pk = 'c'")
        .send()
        .await
        .expect_err("another region is writing it");
    assert_eq!(e.into_service_error().meta().code(), Some("ReplicatedWriteConflictException"));
    // Other items are not held up.
    put_d.send().await.expect("another item");
    let e = ap
        .batch_write_item()
        .request_items(
            "Strong",
            ["c", "e"]
                .iter()
                .map(|k| {
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .delete_request(
                            aws_sdk_dynamodb::types::DeleteRequest::builder().key("pk", s(k)).build().unwrap(),
                        )
                        .build()
                })
                .collect(),
        )
        .send()
        .await
        .expect_err("a batch naming the held item");
    assert_eq!(e.into_service_error().meta().code(), Some("ReplicatedWriteConflictException"));
    // The write done (its claims released), the item is free again.
    claim(servers[0].endpoint(), "eu-west-1", true).await;
    claim(servers[1].endpoint(), "us-east-1", true).await;
    ap.put_item().table_name("Strong").item("pk", s("c")).item("v", s("mine")).send().await.expect("free again");
    for c in &clients {
        assert_eq!(get_key(c, "c").await.expect("read").item.and_then(|i| i.get("v").cloned()), Some(s("mine")));
    }

    // Its replicas are removed all together, or not at all; none is added,
    // and no region's table is deleted alone.
    let refusal = |e: aws_sdk_dynamodb::error::SdkError<_, _>| {
        let e: aws_sdk_dynamodb::operation::update_table::UpdateTableError = e.into_service_error();
        e.meta().message().unwrap_or_default().to_string()
    };
    let member = |kind: &str, r: &str| {
        let b = ReplicationGroupUpdate::builder();
        if kind == "create" {
            b.create(CreateReplicationGroupMemberAction::builder().region_name(r).build().unwrap()).build()
        } else {
            b.delete(
                aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder().region_name(r).build().unwrap(),
            )
            .build()
        }
    };
    let only_one = "Deletion of only one table replica is not supported for global tables with MultiRegionConsistency set to STRONG.";
    let e =
        cu.update_table().table_name("Strong").replica_updates(member("delete", "eu-west-1")).send().await.unwrap_err();
    assert_eq!(refusal(e), only_one);
    let e =
        cu.update_table().table_name("Strong").replica_updates(member("create", "sa-east-1")).send().await.unwrap_err();
    assert_eq!(refusal(e), "Cannot add replicas to a global table with strong MultiRegionConsistency");
    let e = clients[1].delete_table().table_name("Strong").send().await.unwrap_err();
    assert_eq!(e.into_service_error().meta().message(), Some(only_one));
    // All together, in one request: a regional table again.
    table(cu, "Gone", "pk", None).await;
    cu.update_table()
        .table_name("Gone")
        .replica_updates(member("create", "eu-west-1"))
        .replica_updates(member("create", "ap-south-1"))
        .multi_region_consistency(aws_sdk_dynamodb::types::MultiRegionConsistency::Strong)
        .send()
        .await
        .expect("strong");
    eventually("Gone's replicas", || async {
        let t = cu.describe_table().table_name("Gone").send().await.unwrap().table.unwrap();
        t.replicas().len() == 2 && t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
    })
    .await;
    cu.update_table()
        .table_name("Gone")
        .replica_updates(member("delete", "eu-west-1"))
        .replica_updates(member("delete", "ap-south-1"))
        .send()
        .await
        .expect("both removed at once");
    eventually("a regional table", || async {
        let t = cu.describe_table().table_name("Gone").send().await.unwrap().table.unwrap();
        let others_gone = clients[1].describe_table().table_name("Gone").send().await.is_err()
            && clients[2].describe_table().table_name("Gone").send().await.is_err();
        t.replicas().is_empty() && t.multi_region_consistency().is_none() && others_gone
    })
    .await;
    cu.delete_table().table_name("Gone").send().await.expect("a regional table is deleted alone");

    // One region down: writes and strong reads go on.
    let ap = servers.pop().unwrap();
    ap.stop().await.unwrap();
    cu.put_item().table_name("Strong").item("pk", s("k")).item("v", s("one-down")).send().await.expect("put");
    assert_eq!(value(get(&clients[1]).await.expect("read")), Some("one-down".into()));

    // Two down: a write fails, as does a strong read, and nothing is written.
    let eu = servers.pop().unwrap();
    eu.stop().await.unwrap();
    let once = common::client_without_retries(&servers[0].endpoint());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = once
        .put_item()
        .table_name("Strong")
        .item("pk", s("k"))
        .item("v", s("lost"))
        .send()
        .await
        .expect_err("no quorum");
    assert_eq!(e.into_service_error().meta().code(), Some("ServiceUnavailable"));
    let e = get(&once).await.expect_err("no quorum");
    assert_eq!(e.into_service_error().meta().code(), Some("ServiceUnavailable"));
    let plain =
        once.get_item().table_name("Strong").key("pk", s("k")).send().await.expect("an eventually consistent read");
    assert_eq!(value(plain), Some("one-down".into()), "the refused write was not made");
    servers.pop().unwrap().stop().await.unwrap();
}

/// ReplicaUpdates' removal of `region`.
fn remove_replica(region: &str) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .delete(
            aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder().region_name(region).build().unwrap(),
        )
        .build()
}

/// Servers in us-east-1, eu-west-1 and ap-south-1 (in `dirs`), each the
/// others' peer.
async fn three_regions(dirs: &[tempfile::TempDir]) -> Vec<Server> {
    let names = ["us-east-1", "eu-west-1", "ap-south-1"];
    let mut servers = Vec::new();
    for (d, n) in dirs.iter().zip(names) {
        servers.push(region(d.path(), n).await);
    }
    for (i, s) in servers.iter().enumerate() {
        for (j, o) in servers.iter().enumerate() {
            if i != j {
                s.app.global.set_peer(names[j], &o.endpoint()).expect("peer");
            }
        }
    }
    servers
}

/// A JSON POST to a peer endpoint: its status and body.
async fn post(endpoint: &str, path: &str, body: &str) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
    let answer = common::http::read_answer(&mut stream).await;
    (answer.status, String::from_utf8_lossy(&answer.body).into_owned())
}

/// Multi-Region strong consistency with two replicas and a witness: the
/// witness region takes part in every write's quorum and serves no client;
/// the replicas are removed with the witness, in one request.
#[tokio::test]
async fn two_replicas_and_a_witness() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut servers = three_regions(&dirs).await;
    let clients: Vec<Client> = servers.iter().map(|s| client(&s.endpoint())).collect();
    let (cu, ce, ca) = (&clients[0], &clients[1], &clients[2]);
    let replica = |r: &str| {
        ReplicationGroupUpdate::builder()
            .create(CreateReplicationGroupMemberAction::builder().region_name(r).build().unwrap())
            .build()
    };
    let witness = |create: bool, r: &str| {
        let b = aws_sdk_dynamodb::types::GlobalTableWitnessGroupUpdate::builder();
        if create {
            b.create(
                aws_sdk_dynamodb::types::CreateGlobalTableWitnessGroupMemberAction::builder()
                    .region_name(r)
                    .build()
                    .unwrap(),
            )
            .build()
        } else {
            b.delete(
                aws_sdk_dynamodb::types::DeleteGlobalTableWitnessGroupMemberAction::builder()
                    .region_name(r)
                    .build()
                    .unwrap(),
            )
            .build()
        }
    };
    let strong = aws_sdk_dynamodb::types::MultiRegionConsistency::Strong;
    let message = |e: aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_table::UpdateTableError,
        _,
    >| { e.into_service_error().meta().message().unwrap_or_default().to_string() };
    table(cu, "Witnessed", "pk", None).await;
    // DynamoDB's refusals: a witness without STRONG, or where a replica is.
    let e = cu
        .update_table()
        .table_name("Witnessed")
        .replica_updates(replica("eu-west-1"))
        .global_table_witness_updates(witness(true, "ap-south-1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(e),
        "MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates parameter is present."
    );
    let e = cu
        .update_table()
        .table_name("Witnessed")
        .replica_updates(replica("eu-west-1"))
        .global_table_witness_updates(witness(true, "eu-west-1"))
        .multi_region_consistency(strong.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(e), "Cannot target multiple regions with the same action");
    let e = cu
        .update_table()
        .table_name("Witnessed")
        .replica_updates(replica("eu-west-1"))
        .multi_region_consistency(strong.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(e), "Unsupported replica count for global tables with MultiRegionConsistency set to STRONG.");

    cu.update_table()
        .table_name("Witnessed")
        .replica_updates(replica("eu-west-1"))
        .global_table_witness_updates(witness(true, "ap-south-1"))
        .multi_region_consistency(strong.clone())
        .send()
        .await
        .expect("a replica and a witness");
    eventually("the replica and the witness", || async {
        let t = cu.describe_table().table_name("Witnessed").send().await.unwrap().table.unwrap();
        let w = t.global_table_witnesses();
        t.replicas().len() == 1
            && t.replicas()[0].replica_status() == Some(&ReplicaStatus::Active)
            && w.len() == 1
            && w[0].region_name() == Some("ap-south-1")
            && w[0].witness_status() == Some(&aws_sdk_dynamodb::types::WitnessStatus::Active)
    })
    .await;
    let t = ce.describe_table().table_name("Witnessed").send().await.unwrap().table.unwrap();
    assert_eq!(t.replicas().iter().filter_map(|r| r.region_name()).collect::<Vec<_>>(), ["us-east-1"]);
    assert_eq!(t.global_table_witnesses().len(), 1);
    // Every region's copy, the witness's too, is filled and unmarked.
    for s in &servers {
        let def = s.app.store.describe_table("Witnessed").expect("a copy in each region").def.clone();
        assert!(!tidepool::global_tables::filling::is_filling(&s.app, &def), "{}", s.app.region);
    }
    // The witness region has no table a client can see.
    assert!(!ca.list_tables().send().await.unwrap().table_names().contains(&"Witnessed".to_string()));
    let e = ca.describe_table().table_name("Witnessed").send().await.unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("ResourceNotFoundException"));
    let e = ca.put_item().table_name("Witnessed").item("pk", s("x")).send().await.unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("ResourceNotFoundException"));
    // Nor a bill or a trace of one.
    let addr = servers[2].addr.to_string();
    let bill = common::http::send(&addr, "GET", "/tidepool/cost", &[], b"").await.json();
    assert!(bill["Tables"].as_array().expect("tables").iter().all(|t| t["TableName"] != "Witnessed"), "{bill}");
    let path = "/tidepool/trace?table=Witnessed&key=%7B%22pk%22%3A%7B%22S%22%3A%22x%22%7D%7D";
    let trace = common::http::send(&addr, "GET", path, &[], b"").await.json();
    assert_eq!(trace["Message"], "Requested resource not found: Table: Witnessed not found", "{trace}");

    // Every write is read at once, strongly, in both replicas.
    let read = |c: &Client, k: &str| {
        let c = c.clone();
        let k = k.to_string();
        async move {
            let out = c.get_item().table_name("Witnessed").key("pk", s(&k)).consistent_read(true).send().await;
            out.expect("read").item.and_then(|i| i.get("v").and_then(|v| v.as_s().ok()).cloned())
        }
    };
    for round in 0..6 {
        let writer = [cu, ce][round % 2];
        let v = format!("v{round}");
        writer.put_item().table_name("Witnessed").item("pk", s("k")).item("v", s(&v)).send().await.expect("put");
        for c in [cu, ce] {
            assert_eq!(read(c, "k").await, Some(v.clone()), "round {round}");
        }
    }
    // The witness keeps what the replicas write (for the quorum).
    let key: tidepool_store::value::Item = [("pk".to_string(), tidepool_store::value::Value::S("k".into()))].into();
    eventually("the witness's copy", || async {
        let copy = servers[2].app.store.describe_table("Witnessed").is_ok_and(|t| t.def.settings.witness_copy);
        let held = servers[2].app.store.item_with_stamp("Witnessed", &key).ok().and_then(|(i, _)| i);
        copy && held.and_then(|i| i.get("v").cloned()) == Some(tidepool_store::value::Value::S("v5".into()))
    })
    .await;

    // Removing a replica without the witness is refused; all together, the
    // table is regional again and the witness's copy is gone.
    let delete = remove_replica("eu-west-1");
    let e = cu.update_table().table_name("Witnessed").replica_updates(delete.clone()).send().await.unwrap_err();
    assert_eq!(message(e), "Update table delete operation does not include all witnesses.");
    cu.update_table()
        .table_name("Witnessed")
        .replica_updates(delete)
        .global_table_witness_updates(witness(false, "ap-south-1"))
        .send()
        .await
        .expect("the replica and the witness removed");
    eventually("a regional table", || async {
        let t = cu.describe_table().table_name("Witnessed").send().await.unwrap().table.unwrap();
        t.replicas().is_empty()
            && t.global_table_witnesses().is_empty()
            && servers[2].app.store.describe_table("Witnessed").is_err()
            && ce.describe_table().table_name("Witnessed").send().await.is_err()
    })
    .await;

    // With the other replica down, the witness completes the quorum.
    table(cu, "Quorum", "pk", None).await;
    cu.update_table()
        .table_name("Quorum")
        .replica_updates(replica("eu-west-1"))
        .global_table_witness_updates(witness(true, "ap-south-1"))
        .multi_region_consistency(strong)
        .send()
        .await
        .expect("a replica and a witness");
    eventually("Quorum's replica and witness", || async {
        let t = cu.describe_table().table_name("Quorum").send().await.unwrap().table.unwrap();
        t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
            && t.global_table_witnesses()
                .iter()
                .all(|w| w.witness_status() == Some(&aws_sdk_dynamodb::types::WitnessStatus::Active))
            && t.global_table_witnesses().len() == 1
    })
    .await;
    let ap = servers.pop().unwrap();
    let eu = servers.pop().unwrap();
    eu.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    cu.put_item()
        .table_name("Quorum")
        .item("pk", s("q"))
        .item("v", s("with-the-witness"))
        .send()
        .await
        .expect("a write the witness holds");
    assert_eq!(
        ap.app
            .store
            .item_with_stamp("Quorum", &[("pk".to_string(), tidepool_store::value::Value::S("q".into()))].into())
            .ok()
            .and_then(|(i, _)| i)
            .and_then(|i| i.get("v").cloned()),
        Some(tidepool_store::value::Value::S("with-the-witness".into()))
    );
    ap.stop().await.unwrap();
    servers.pop().unwrap().stop().await.unwrap();
}

/// A replica's `Create` and `Update` overrides (table class, read capacity,
/// an index's read capacity): recorded and described in every region, and
/// taken by the replica's own table; the table's own value takes an
/// override away.
#[tokio::test]
async fn a_replicas_overrides_are_described_everywhere_and_taken_by_its_table() {
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ProvisionedThroughputOverride,
        ReplicaGlobalSecondaryIndex, TableClass, UpdateReplicationGroupMemberAction,
    };
    let (_dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));
    let throughput =
        |r, w| ProvisionedThroughput::builder().read_capacity_units(r).write_capacity_units(w).build().unwrap();
    let attr = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    let key = |n: &str| KeySchemaElement::builder().attribute_name(n).key_type(KeyType::Hash).build().unwrap();
    cu.create_table()
        .table_name("Users")
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("email"))
        .key_schema(key("pk"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byEmail")
                .key_schema(key("email"))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .provisioned_throughput(throughput(5, 5))
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(5, 6))
        .send()
        .await
        .expect("create");
    let read_override = |r| ProvisionedThroughputOverride::builder().read_capacity_units(r).build();
    let create = CreateReplicationGroupMemberAction::builder()
        .region_name("eu-west-1")
        .table_class_override(TableClass::StandardInfrequentAccess)
        .provisioned_throughput_override(read_override(7))
        .build()
        .unwrap();
    let add = || {
        cu.update_table()
            .table_name("Users")
            .replica_updates(ReplicationGroupUpdate::builder().create(create.clone()).build())
            .send()
    };
    // A provisioned table takes a replica once its writes scale, the
    // table's and each global index's.
    let refused = |e: aws_sdk_dynamodb::error::SdkError<_, _>| {
        let e: aws_sdk_dynamodb::operation::update_table::UpdateTableError = e.into_service_error();
        e.meta().message().unwrap_or_default().to_string()
    };
    // No most read request units on a provisioned table (DDB-TABLE-250).
    let on_demand = aws_sdk_dynamodb::types::OnDemandThroughputOverride::builder().max_read_request_units(100).build();
    let capped = CreateReplicationGroupMemberAction::builder()
        .region_name("eu-west-1")
        .on_demand_throughput_override(on_demand.clone())
        .build()
        .unwrap();
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(ReplicationGroupUpdate::builder().create(capped).build())
        .send()
        .await
        .unwrap_err();
    let max_read =
        "MaxReadRequestUnits for OnDemandThroughput cannot be specified when the table BillingMode is PROVISIONED";
    assert_eq!(refused(e), max_read);
    assert_eq!(
        refused(add().await.unwrap_err()),
        "Table write capacity should either be Pay-Per-Request or AutoScaled."
    );
    autoscale_writes(&us.endpoint(), "table/Users", "table").await;
    assert_eq!(refused(add().await.unwrap_err()), "GSI write capacity should either be Pay-Per-Request or AutoScaled.");
    autoscale_writes(&us.endpoint(), "table/Users/index/byEmail", "index").await;
    add().await.expect("add");
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    // The replica's region has the table's write auto scaling too.
    let targets = common::http::send(
        eu.endpoint().trim_start_matches("http://"),
        "POST",
        "/",
        &[
            ("X-Amz-Target", "AnyScaleFrontendService.DescribeScalableTargets"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        br#"{"ServiceNamespace":"dynamodb"}"#,
    )
    .await
    .json();
    let mut scaled: Vec<(String, String)> = targets["ScalableTargets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| (t["ResourceId"].as_str().unwrap().to_string(), t["ScalableDimension"].as_str().unwrap().to_string()))
        .collect();
    scaled.sort();
    assert_eq!(
        scaled,
        [
            ("table/Users".to_string(), "dynamodb:table:WriteCapacityUnits".to_string()),
            ("table/Users/index/byEmail".to_string(), "dynamodb:index:WriteCapacityUnits".to_string()),
        ]
    );
    // The replica's table has its overrides and the table's other settings.
    let t = ce.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
    assert_eq!(t.table_class_summary().and_then(|c| c.table_class()), Some(&TableClass::StandardInfrequentAccess));
    let p = t.provisioned_throughput().expect("throughput");
    assert_eq!((p.read_capacity_units(), p.write_capacity_units()), (Some(7), Some(6)));
    let replica = |t: &aws_sdk_dynamodb::types::TableDescription| {
        t.replicas().iter().find(|r| r.region_name() == Some("eu-west-1")).cloned().expect("the replica")
    };
    let t = cu.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
    let r = replica(&t);
    assert_eq!(r.provisioned_throughput_override().and_then(|p| p.read_capacity_units()), Some(7));
    assert_eq!(
        r.replica_table_class_summary().and_then(|c| c.table_class()),
        Some(&TableClass::StandardInfrequentAccess)
    );

    // Refused: an Update of nothing, of the key, of a region not a member.
    let refusal = |e: aws_sdk_dynamodb::error::SdkError<_, _>| {
        let e: aws_sdk_dynamodb::operation::update_table::UpdateTableError = e.into_service_error();
        (e.meta().code().unwrap_or_default().to_string(), e.meta().message().unwrap_or_default().to_string())
    };
    let update = |b: aws_sdk_dynamodb::types::builders::UpdateReplicationGroupMemberActionBuilder| {
        ReplicationGroupUpdate::builder().update(b.build().unwrap()).build()
    };
    let in_eu = || UpdateReplicationGroupMemberAction::builder().region_name("eu-west-1");
    let e = cu.update_table().table_name("Users").replica_updates(update(in_eu())).send().await.unwrap_err();
    assert_eq!(refusal(e).1, "There are no actions specified in the Replica Update Action of the request.");
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(update(in_eu().on_demand_throughput_override(on_demand)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(e), ("ValidationException".to_string(), max_read.to_string()));
    let e = cu
        .update_table()
        .table_name("Users")
        .replica_updates(update(in_eu().kms_master_key_id("alias/mine")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e).1,
        "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica."
    );
    let in_ap = UpdateReplicationGroupMemberAction::builder()
        .region_name("ap-south-1")
        .table_class_override(TableClass::Standard);
    let e = cu.update_table().table_name("Users").replica_updates(update(in_ap)).send().await.unwrap_err();
    assert_eq!(
        refusal(e).1,
        "Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [ap-south-1]."
    );

    // An Update: the replica's read capacity and its index's.
    let gsi = ReplicaGlobalSecondaryIndex::builder()
        .index_name("byEmail")
        .provisioned_throughput_override(read_override(4))
        .build()
        .unwrap();
    let out = cu
        .update_table()
        .table_name("Users")
        .replica_updates(update(
            in_eu().provisioned_throughput_override(read_override(9)).global_secondary_indexes(gsi),
        ))
        .send()
        .await
        .expect("update");
    let r = replica(out.table_description().expect("description"));
    assert_eq!(r.provisioned_throughput_override().and_then(|p| p.read_capacity_units()), Some(9));
    assert_eq!(
        r.global_secondary_indexes()[0].provisioned_throughput_override().and_then(|p| p.read_capacity_units()),
        Some(4)
    );
    eventually("the replica's new settings", || async {
        let t = ce.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
        let gsi_read = t.global_secondary_indexes()[0].provisioned_throughput().and_then(|p| p.read_capacity_units());
        t.provisioned_throughput().and_then(|p| p.read_capacity_units()) == Some(9) && gsi_read == Some(4)
    })
    .await;
    eventually("the update's end", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) })
        .await;
    // Untouched: the table class, the write capacity.
    let t = ce.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
    assert_eq!(t.table_class_summary().and_then(|c| c.table_class()), Some(&TableClass::StandardInfrequentAccess));
    assert_eq!(t.provisioned_throughput().and_then(|p| p.write_capacity_units()), Some(6));

    // The table's own read capacity takes the override away.
    cu.update_table()
        .table_name("Users")
        .replica_updates(update(in_eu().provisioned_throughput_override(read_override(5))))
        .send()
        .await
        .expect("update");
    let t = cu.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
    assert!(replica(&t).provisioned_throughput_override().is_none(), "{t:?}");
    eventually("the table's read capacity again", || async {
        let t = ce.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
        t.provisioned_throughput().and_then(|p| p.read_capacity_units()) == Some(5)
    })
    .await;

    // An Update taken by the replica's region for another: that one's
    // table changes class and keeps its own read capacity, not the
    // overridden one of the region that asked.
    ce.update_table()
        .table_name("Users")
        .replica_updates(update(
            UpdateReplicationGroupMemberAction::builder()
                .region_name("us-east-1")
                .table_class_override(TableClass::StandardInfrequentAccess),
        ))
        .send()
        .await
        .expect("update from eu");
    eventually("us's new table class", || async {
        let t = cu.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
        t.table_class_summary().and_then(|c| c.table_class()) == Some(&TableClass::StandardInfrequentAccess)
    })
    .await;
    let t = cu.describe_table().table_name("Users").send().await.expect("describe").table.expect("table");
    assert_eq!(t.provisioned_throughput().and_then(|p| p.read_capacity_units()), Some(5));
    assert_eq!(t.global_secondary_indexes()[0].provisioned_throughput().and_then(|p| p.read_capacity_units()), Some(5));

    // Capacity is group-wide: a client's change in us-east-1 reaches
    // eu-west-1, whose index keeps its own read capacity (an override),
    // and a change of another setting there (Time to Live) carries no
    // capacity back.
    let gsi = ReplicaGlobalSecondaryIndex::builder()
        .index_name("byEmail")
        .provisioned_throughput_override(read_override(4))
        .build()
        .unwrap();
    cu.update_table()
        .table_name("Users")
        .replica_updates(update(in_eu().global_secondary_indexes(gsi)))
        .send()
        .await
        .expect("index override");
    let capacity = |c: Client| async move {
        let t = c.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
        let p = t.provisioned_throughput().cloned().unwrap();
        let g = t.global_secondary_indexes()[0].provisioned_throughput().cloned().unwrap();
        (p.read_capacity_units(), p.write_capacity_units(), g.read_capacity_units(), g.write_capacity_units())
    };
    eventually("eu-west-1's index override", || async { capacity(ce.clone()).await.2 == Some(4) }).await;
    let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires")
        .build()
        .unwrap();
    ce.update_time_to_live().table_name("Users").time_to_live_specification(ttl).send().await.expect("ttl");
    eventually("Time to Live in us-east-1", || async {
        let d = cu.describe_time_to_live().table_name("Users").send().await.unwrap();
        d.time_to_live_description().and_then(|d| d.attribute_name()) == Some("expires")
    })
    .await;
    assert_eq!(capacity(cu.clone()).await, (Some(5), Some(6), Some(5), Some(5)));
    cu.update_table().table_name("Users").provisioned_throughput(throughput(8, 12)).send().await.expect("capacity");
    eventually("the capacity in eu-west-1", || async {
        capacity(ce.clone()).await == (Some(8), Some(12), Some(4), Some(5))
    })
    .await;
    assert_eq!(capacity(cu.clone()).await, (Some(8), Some(12), Some(5), Some(5)));

    // An on-demand table's replica has no read capacity to override; its
    // most read request units are the table's.
    cu.create_table()
        .table_name("Flags")
        .attribute_definitions(attr("pk"))
        .key_schema(key("pk"))
        .on_demand_throughput(
            aws_sdk_dynamodb::types::OnDemandThroughput::builder().max_read_request_units(100).build(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create");
    cu.update_table()
        .table_name("Flags")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(CreateReplicationGroupMemberAction::builder().region_name("eu-west-1").build().unwrap())
                .build(),
        )
        .send()
        .await
        .expect("add");
    eventually("the on-demand replica", || async {
        let t = cu.describe_table().table_name("Flags").send().await.ok().and_then(|o| o.table);
        t.is_some_and(|t| t.replicas().iter().any(|r| r.replica_status() == Some(&ReplicaStatus::Active)))
    })
    .await;
    let e = cu
        .update_table()
        .table_name("Flags")
        .replica_updates(update(in_eu().provisioned_throughput_override(read_override(9))))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e),
        (
            "ValidationException".to_string(),
            "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
                .to_string()
        )
    );
    let t = ce.describe_table().table_name("Flags").send().await.expect("describe").table.expect("table");
    assert_eq!(t.on_demand_throughput().and_then(|o| o.max_read_request_units()), Some(100));
}

/// A table named `name` keyed by `pk`, on demand, with a stream of `view`.
async fn keyed_table(c: &Client, name: &str, view: Option<aws_sdk_dynamodb::types::StreamViewType>) {
    let mut create = c
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest);
    if let Some(v) = view {
        create = create.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(v)
                .build()
                .unwrap(),
        );
    }
    create.send().await.expect("create");
}

fn replica_update(region: &str, create: bool) -> ReplicationGroupUpdate {
    let b = ReplicationGroupUpdate::builder();
    if create {
        b.create(CreateReplicationGroupMemberAction::builder().region_name(region).build().unwrap()).build()
    } else {
        b.delete(
            aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder().region_name(region).build().unwrap(),
        )
        .build()
    }
}

fn message<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> String {
    aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&e).unwrap_or_default().to_string()
}

/// A replica protected against deletion in its own region stays (a Delete
/// from another region and a DeleteTable there are refused in DynamoDB's
/// words), and a region that added a replica in the last 24 hours cannot
/// be deleted until that replica is gone.
#[tokio::test]
async fn deletion_protection_and_the_source_rule_hold_a_global_tables_regions() {
    let (_dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));
    keyed_table(&cu, "Users", None).await;
    let out = cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", true)).send().await;
    // UPDATING, as DynamoDB answers every update it takes.
    let desc = out.expect("add").table_description.expect("description");
    assert_eq!(desc.table_status(), Some(&aws_sdk_dynamodb::types::TableStatus::Updating));
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    let t = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
    assert_eq!(t.table_status(), Some(&aws_sdk_dynamodb::types::TableStatus::Active));
    assert_eq!(t.global_table_settings_replication_mode().map(|m| m.as_str()), Some("ENABLED_WITH_OVERRIDES"));

    ce.update_table().table_name("Users").deletion_protection_enabled(true).send().await.expect("protect");
    let protected = "Cannot delete table Users in region eu-west-1 because it has deletion protection enabled. Disable deletion protection first.";
    let e = cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", false)).send().await;
    assert_eq!(message(e.unwrap_err()), protected);
    assert_eq!(message(ce.delete_table().table_name("Users").send().await.unwrap_err()), protected);
    assert_eq!(replica_status(&cu, "eu-west-1").await, Some(ReplicaStatus::Active));

    // us-east-1 added eu-west-1's replica: neither goes while it is there.
    let source = "Replica cannot be deleted because it has acted as a source region for new replica(s) being added to the table in the last 24 hours.";
    assert_eq!(message(cu.delete_table().table_name("Users").send().await.unwrap_err()), source);
    let e = ce.update_table().table_name("Users").replica_updates(replica_update("us-east-1", false)).send().await;
    assert_eq!(message(e.unwrap_err()), source);

    // Unprotected, the replica goes; then its source may.
    ce.update_table().table_name("Users").deletion_protection_enabled(false).send().await.expect("unprotect");
    cu.update_table()
        .table_name("Users")
        .replica_updates(replica_update("eu-west-1", false))
        .send()
        .await
        .expect("delete");
    eventually("the replica's table gone", || async { ce.describe_table().table_name("Users").send().await.is_err() })
        .await;
    eventually("no replicas", || async {
        cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap().replicas().is_empty()
    })
    .await;
    cu.delete_table().table_name("Users").send().await.expect("a regional table again");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// A table whose stream has keys only takes a replica (DynamoDB keeps any
/// view type, and the replica's stream is the same), and its changes
/// replicate; Time to Live and the table class, changed in one region,
/// reach the other.
#[tokio::test]
async fn a_keys_only_table_replicates_and_group_settings_reach_every_region() {
    use aws_sdk_dynamodb::types::{StreamViewType, TableClass, TimeToLiveSpecification, TimeToLiveStatus};
    let (_dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));
    keyed_table(&cu, "Keys", Some(StreamViewType::KeysOnly)).await;
    let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap();
    cu.update_time_to_live().table_name("Keys").time_to_live_specification(ttl).send().await.expect("ttl");
    // A table with DynamoDB's own key takes no key for a replica
    // (DDB-TABLE-307, -295).
    let keyed = CreateReplicationGroupMemberAction::builder()
        .region_name("eu-west-1")
        .kms_master_key_id("alias/aws/dynamodb")
        .build()
        .unwrap();
    let e = cu
        .update_table()
        .table_name("Keys")
        .replica_updates(ReplicationGroupUpdate::builder().create(keyed).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(e),
        "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica."
    );
    cu.update_table().table_name("Keys").replica_updates(replica_update("eu-west-1", true)).send().await.expect("add");
    let active = || async {
        let t = cu.describe_table().table_name("Keys").send().await.ok().and_then(|o| o.table);
        t.is_some_and(|t| t.replicas().iter().any(|r| r.replica_status() == Some(&ReplicaStatus::Active)))
    };
    eventually("the replica", active).await;
    let t = ce.describe_table().table_name("Keys").send().await.unwrap().table.unwrap();
    assert_eq!(t.stream_specification().and_then(|s| s.stream_view_type()), Some(&StreamViewType::KeysOnly));
    // Time to Live set before the replica was made is the replica's too.
    let ttl_of = |c: Client| async move {
        let d = c.describe_time_to_live().table_name("Keys").send().await.unwrap().time_to_live_description.unwrap();
        (d.time_to_live_status().cloned(), d.attribute_name().map(str::to_string))
    };
    assert_eq!(ttl_of(ce.clone()).await, (Some(TimeToLiveStatus::Enabled), Some("expires".into())));

    // Writes both ways, an update and a delete included.
    let get = |c: Client, pk: &'static str| async move {
        c.get_item().table_name("Keys").key("pk", s(pk)).send().await.unwrap().item.and_then(|i| i.get("v").cloned())
    };
    for (pk, v) in [("a", "1"), ("b", "2")] {
        cu.put_item().table_name("Keys").item("pk", s(pk)).item("v", s(v)).send().await.unwrap();
    }
    cu.update_item()
        .table_name("Keys")
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("3"))
        .send()
        .await
        .unwrap();
    cu.delete_item().table_name("Keys").key("pk", s("b")).send().await.unwrap();
    ce.put_item().table_name("Keys").item("pk", s("c")).item("v", s("4")).send().await.unwrap();
    eventually("the changes in both regions", || async {
        get(ce.clone(), "a").await == Some(s("3"))
            && get(ce.clone(), "b").await.is_none()
            && get(cu.clone(), "c").await == Some(s("4"))
    })
    .await;

    // Settings changed in either region reach the other.
    let off = TimeToLiveSpecification::builder().enabled(false).attribute_name("expires").build().unwrap();
    ce.update_time_to_live().table_name("Keys").time_to_live_specification(off).send().await.expect("ttl off");
    eventually("Time to Live off in us-east-1", || async {
        ttl_of(cu.clone()).await.0 == Some(TimeToLiveStatus::Disabled)
    })
    .await;
    cu.update_table().table_name("Keys").table_class(TableClass::StandardInfrequentAccess).send().await.expect("class");
    eventually("the table class in eu-west-1", || async {
        let t = ce.describe_table().table_name("Keys").send().await.unwrap().table.unwrap();
        t.table_class_summary().and_then(|c| c.table_class()) == Some(&TableClass::StandardInfrequentAccess)
    })
    .await;

    // Encryption with the AWS managed key, asked in one region, reaches
    // the other with its own region's key; each describes the other's
    // (DDB-TABLE-295).
    let kms = aws_sdk_dynamodb::types::SseSpecification::builder()
        .enabled(true)
        .sse_type(aws_sdk_dynamodb::types::SseType::Kms)
        .build();
    cu.update_table().table_name("Keys").sse_specification(kms).send().await.expect("encrypt");
    let key_of = |c: Client| async move {
        let t = c.describe_table().table_name("Keys").send().await.unwrap().table.unwrap();
        t.sse_description().and_then(|d| d.kms_master_key_arn()).map(str::to_string)
    };
    eventually("eu-west-1 encrypted", || async { key_of(ce.clone()).await.is_some() }).await;
    let (us_key, eu_key) = (key_of(cu.clone()).await.unwrap(), key_of(ce.clone()).await.unwrap());
    assert!(us_key.starts_with("arn:aws:kms:us-east-1:000000000000:key/"), "{us_key}");
    assert!(eu_key.starts_with("arn:aws:kms:eu-west-1:000000000000:key/"), "{eu_key}");
    let replica_key = |c: Client, region: &'static str| async move {
        let t = c.describe_table().table_name("Keys").send().await.unwrap().table.unwrap();
        t.replicas()
            .iter()
            .find(|r| r.region_name() == Some(region))
            .and_then(|r| r.kms_master_key_id().map(str::to_string))
    };
    assert_eq!(replica_key(cu.clone(), "eu-west-1").await, Some(eu_key));
    assert_eq!(replica_key(ce.clone(), "us-east-1").await, Some(us_key));
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// Three regions, two of them changing different group-wide settings at
/// once (Time to Live in one, the table class in another), and the third
/// added by a region that had not yet heard of the other's change: every
/// region ends with both changes.
#[tokio::test]
async fn concurrent_group_settings_converge_in_three_regions() {
    use aws_sdk_dynamodb::types::{TableClass, TimeToLiveSpecification, TimeToLiveStatus};
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let servers = three_regions(&dirs).await;
    let clients: Vec<Client> = servers.iter().map(|s| client(&s.endpoint())).collect();
    let (cu, ce, ca) = (&clients[0], &clients[1], &clients[2]);
    keyed_table(cu, "Settings", None).await;
    // Encrypted with a customer managed key: each replica names its own
    // (DDB-TABLE-309).
    let kms = aws_sdk_dynamodb::types::SseSpecification::builder()
        .enabled(true)
        .sse_type(aws_sdk_dynamodb::types::SseType::Kms)
        .kms_master_key_id("us-key")
        .build();
    cu.update_table().table_name("Settings").sse_specification(kms).send().await.expect("encrypt");
    let keyed = |region: &str, key: Option<&str>| {
        let create = CreateReplicationGroupMemberAction::builder()
            .region_name(region)
            .set_kms_master_key_id(key.map(str::to_string));
        ReplicationGroupUpdate::builder().create(create.build().unwrap()).build()
    };
    let add = |u: ReplicationGroupUpdate| cu.update_table().table_name("Settings").replica_updates(u).send();
    let e = add(keyed("eu-west-1", None)).await.unwrap_err();
    assert_eq!(
        message(e),
        "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica."
    );
    let e = add(keyed("eu-west-1", Some("alias/aws/dynamodb"))).await.unwrap_err();
    assert_eq!(message(e), "All replica keys must either be Customer Managed CMK or AWS Managed CMK.");
    let active = |c: Client, n: usize| async move {
        let t = c.describe_table().table_name("Settings").send().await.ok().and_then(|o| o.table);
        t.is_some_and(|t| {
            t.replicas().len() == n && t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
        })
    };
    add(keyed("eu-west-1", Some("eu-key"))).await.unwrap();
    eventually("eu-west-1's replica", || active(cu.clone(), 1)).await;

    // At once: Time to Live in eu-west-1, the class in us-east-1, and
    // ap-south-1 added from us-east-1.
    let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires").build().unwrap();
    let (a, b) = tokio::join!(
        ce.update_time_to_live().table_name("Settings").time_to_live_specification(ttl).send(),
        cu.update_table().table_name("Settings").table_class(TableClass::StandardInfrequentAccess).send(),
    );
    a.expect("ttl");
    b.expect("class");
    add(keyed("ap-south-1", Some("arn:aws:kms:ap-south-1:000000000000:key/ap-key"))).await.unwrap();
    eventually("ap-south-1's replica", || active(cu.clone(), 2)).await;
    for (c, region) in [(cu, "us-east-1"), (ce, "eu-west-1"), (ca, "ap-south-1")] {
        eventually(&format!("both changes in {region}"), || async {
            let t = c.describe_table().table_name("Settings").send().await.unwrap().table.unwrap();
            let class = t.table_class_summary().and_then(|s| s.table_class()).cloned();
            let d = c.describe_time_to_live().table_name("Settings").send().await.unwrap();
            let ttl = d.time_to_live_description().and_then(|d| d.time_to_live_status()).cloned();
            class == Some(TableClass::StandardInfrequentAccess) && ttl == Some(TimeToLiveStatus::Enabled)
        })
        .await;
    }
    // Every region has its own key and describes the others'.
    let key = |region: &str| format!("arn:aws:kms:{region}:000000000000:key/{}-key", &region[..2]);
    for (c, region) in [(cu, "us-east-1"), (ce, "eu-west-1"), (ca, "ap-south-1")] {
        let t = c.describe_table().table_name("Settings").send().await.unwrap().table.unwrap();
        let own = t.sse_description().and_then(|d| d.kms_master_key_arn()).map(str::to_string);
        assert_eq!(own, Some(key(region)), "{region}'s own key");
        let mut others: Vec<(String, Option<String>)> = t
            .replicas()
            .iter()
            .map(|r| (r.region_name().unwrap().to_string(), r.kms_master_key_id().map(str::to_string)))
            .collect();
        others.sort();
        let mut want: Vec<(String, Option<String>)> = ["ap-south-1", "eu-west-1", "us-east-1"]
            .into_iter()
            .filter(|r| *r != region)
            .map(|r| (r.to_string(), Some(key(r))))
            .collect();
        want.sort();
        assert_eq!(others, want, "{region}'s view of the others' keys");
    }
    for s in servers {
        s.stop().await.unwrap();
    }
}

/// The code of an SDK error.
fn error_code<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> String {
    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e).unwrap_or_default().to_string()
}

/// A peer endpoint nothing listens on: a replica made or removed there
/// stays `CREATING` or `DELETING`.
const DEAD_PEER: &str = "http://127.0.0.1:1";

/// While one of its replicas is `CREATING` or `DELETING`, a table takes no
/// other UpdateTable change (DDB-TABLE-227, -228 of the ack-api-quirks
/// catalogue); turning its stream off is refused in its own words.
#[tokio::test]
async fn a_table_takes_no_other_change_while_a_replica_is_added_or_removed() {
    use aws_sdk_dynamodb::types::{GlobalTableSettingsReplicationMode, StreamSpecification, TableClass};
    let (_dirs, us, eu) = two_regions().await;
    let cu = client(&us.endpoint());
    us.app.global.set_peer("ap-south-1", DEAD_PEER).expect("peer");
    keyed_table(&cu, "Users", None).await;
    cu.update_table()
        .table_name("Users")
        .replica_updates(replica_update("ap-south-1", true))
        .send()
        .await
        .expect("add");
    assert_eq!(replica_status(&cu, "ap-south-1").await, Some(ReplicaStatus::Creating));

    let in_use = "The resource which you are attempting to change is in use.";
    let refused = |e: aws_sdk_dynamodb::error::SdkError<_, _>| (error_code(&e), message(e));
    let e = cu.update_table().table_name("Users").deletion_protection_enabled(true).send().await.unwrap_err();
    assert_eq!(refused(e), ("ResourceInUseException".into(), in_use.into()));
    let e = cu
        .update_table()
        .table_name("Users")
        .table_class(TableClass::StandardInfrequentAccess)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused(e), ("ResourceInUseException".into(), in_use.into()));
    let e = cu
        .update_table()
        .table_name("Users")
        .global_table_settings_replication_mode(GlobalTableSettingsReplicationMode::Enabled)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused(e), ("ResourceInUseException".into(), in_use.into()));
    let off = StreamSpecification::builder().stream_enabled(false).build().unwrap();
    let e = cu.update_table().table_name("Users").stream_specification(off).send().await.unwrap_err();
    assert_eq!(
        refused(e),
        (
            "ValidationException".into(),
            "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica."
                .into()
        )
    );
    let e = cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", true)).send().await;
    assert_eq!(refused(e.unwrap_err()), ("ResourceInUseException".into(), in_use.into()));
    let t = cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap();
    assert!(!t.deletion_protection_enabled().unwrap_or(false), "nothing was changed");
    assert!(t.table_class_summary().is_none());

    // The region gone for good, its replica may go; then the table takes
    // changes again.
    let peers = std::collections::BTreeMap::from([("eu-west-1".to_string(), eu.endpoint())]);
    us.app.global.set_peers(&peers).expect("peers");
    cu.update_table()
        .table_name("Users")
        .replica_updates(replica_update("ap-south-1", false))
        .send()
        .await
        .expect("an abandoned replica goes");
    cu.update_table().table_name("Users").deletion_protection_enabled(true).send().await.expect("protect");
    cu.update_table().table_name("Users").deletion_protection_enabled(false).send().await.expect("unprotect");

    // A replica being removed: its region does not answer, so it stays
    // DELETING until it does.
    cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", true)).send().await.expect("add");
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    us.app.global.set_peer("eu-west-1", DEAD_PEER).expect("peer");
    cu.update_table()
        .table_name("Users")
        .replica_updates(replica_update("eu-west-1", false))
        .send()
        .await
        .expect("remove");
    assert_eq!(replica_status(&cu, "eu-west-1").await, Some(ReplicaStatus::Deleting));
    let e = cu.update_table().table_name("Users").deletion_protection_enabled(true).send().await.unwrap_err();
    assert_eq!(refused(e), ("ResourceInUseException".into(), in_use.into()));
    us.app.global.set_peer("eu-west-1", &eu.endpoint()).expect("peer");
    eventually("the replica removed", || async {
        cu.describe_table().table_name("Users").send().await.unwrap().table.unwrap().replicas().is_empty()
    })
    .await;
    cu.update_table().table_name("Users").deletion_protection_enabled(true).send().await.expect("protect");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// A CreateGlobalTable (2017.11.29) that one region refuses leaves nothing
/// behind in any region, and a corrected retry then succeeds.
#[tokio::test]
async fn a_failed_legacy_create_global_table_leaves_nothing_behind() {
    use aws_sdk_dynamodb::types::{Replica, StreamSpecification, StreamViewType};
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let servers = three_regions(&dirs).await;
    let clients: Vec<Client> = servers.iter().map(|s| client(&s.endpoint())).collect();
    let group = || {
        ["us-east-1", "eu-west-1", "ap-south-1"].iter().map(|r| Replica::builder().region_name(*r).build()).collect()
    };
    let create = |name: &'static str| {
        clients[0].create_global_table().global_table_name(name).set_replication_group(Some(group()))
    };
    let nothing_left = |name: &'static str| {
        let clients = clients.clone();
        async move {
            for c in &clients {
                assert!(c.list_global_tables().send().await.unwrap().global_tables().is_empty(), "{name}: listed");
                let e = c.describe_global_table().global_table_name(name).send().await.unwrap_err();
                assert_eq!(error_code(&e), "GlobalTableNotFoundException");
                assert_eq!(
                    message(e),
                    format!("Global table not found: Global table with name: '{name}' does not exist.")
                );
            }
        }
    };

    // The last region's table has no stream: the first two were fit to
    // join, and neither does.
    legacy_table(&clients[0], "Leg").await;
    legacy_table(&clients[1], "Leg").await;
    keyed_table(&clients[2], "Leg", None).await;
    let e = create("Leg").send().await.unwrap_err();
    assert_eq!(error_code(&e), "ValidationException");
    assert!(message(e).starts_with("Region ap-south-1: "));
    nothing_left("Leg").await;
    // The last region's table missing: the same.
    legacy_table(&clients[0], "Leg2").await;
    legacy_table(&clients[1], "Leg2").await;
    let e = create("Leg2").send().await.unwrap_err();
    assert_eq!(error_code(&e), "TableNotFoundException");
    nothing_left("Leg2").await;

    // Corrected, it is made in every region.
    let both = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .unwrap();
    clients[2].update_table().table_name("Leg").stream_specification(both).send().await.expect("a stream");
    create("Leg").send().await.expect("create the global table");
    for c in &clients {
        let d = c.describe_global_table().global_table_name("Leg").send().await.expect("described");
        assert_eq!(d.global_table_description.unwrap().replication_group().len(), 3);
    }
    clients[0].put_item().table_name("Leg").item("pk", s("a")).send().await.unwrap();
    let c = clients[2].clone();
    eventually("replicated", || {
        let c = c.clone();
        async move { c.get_item().table_name("Leg").key("pk", s("a")).send().await.unwrap().item().is_some() }
    })
    .await;

    // The other legacy operations' "not found", in DynamoDB's words.
    let gone = "Global table with name: 'Nope' does not exist.";
    let e = clients[0].describe_global_table_settings().global_table_name("Nope").send().await.unwrap_err();
    assert_eq!((error_code(&e), message(e)), ("GlobalTableNotFoundException".into(), gone.into()));
    let e = clients[0]
        .update_global_table_settings()
        .global_table_name("Nope")
        .global_table_provisioned_write_capacity_units(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!((error_code(&e), message(e)), ("GlobalTableNotFoundException".into(), gone.into()));
    let delete = aws_sdk_dynamodb::types::ReplicaUpdate::builder()
        .delete(aws_sdk_dynamodb::types::DeleteReplicaAction::builder().region_name("eu-west-1").build().unwrap())
        .build();
    let e =
        clients[0].update_global_table().global_table_name("Nope").replica_updates(delete).send().await.unwrap_err();
    assert_eq!((error_code(&e), message(e)), ("GlobalTableNotFoundException".into(), gone.into()));
    for s in servers {
        s.stop().await.unwrap();
    }
}

/// GlobalTableSettingsReplicationMode: ENABLED and DISABLED are taken
/// (again too), ENABLED_WITH_OVERRIDES refused (DDB-TABLE-048).
#[tokio::test]
async fn settings_replication_mode_takes_enabled_and_disabled() {
    use aws_sdk_dynamodb::types::GlobalTableSettingsReplicationMode as Mode;
    let (_dirs, us, eu) = two_regions().await;
    let cu = client(&us.endpoint());
    keyed_table(&cu, "Users", None).await;
    for mode in [Mode::Enabled, Mode::Enabled, Mode::Disabled, Mode::Disabled] {
        let out = cu.update_table().table_name("Users").global_table_settings_replication_mode(mode).send().await;
        out.expect("taken");
    }
    let e = cu
        .update_table()
        .table_name("Users")
        .global_table_settings_replication_mode(Mode::EnabledWithOverrides)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "ValidationException");
    assert_eq!(
        message(e),
        "Value 'ENABLED_WITH_OVERRIDES' at 'GlobalTableSettingsReplicationMode' failed to satisfy constraint: Only ENABLED and DISABLED settings replication are supported for a Regional Table."
    );
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// DescribeTableReplicaAutoScaling and UpdateTableReplicaAutoScaling answer
/// for global tables only (DDB-TABLE-231, DDB-TABLE-254); an on-demand
/// global table takes AutoScalingDisabled alone (DDB-TABLE-190).
#[tokio::test]
async fn replica_auto_scaling_is_for_global_tables() {
    use aws_sdk_dynamodb::types::{AutoScalingSettingsUpdate, ReplicaAutoScalingUpdate};
    let (_dirs, us, eu) = two_regions().await;
    let cu = client(&us.endpoint());
    keyed_table(&cu, "Users", None).await;
    for name in ["Users", "Missing"] {
        let e = cu.describe_table_replica_auto_scaling().table_name(name).send().await.unwrap_err();
        let gone = format!("Global table with name: '{name}' does not exist.");
        assert_eq!((error_code(&e), message(e)), ("ResourceNotFoundException".into(), gone.clone()));
        let e = cu
            .update_table_replica_auto_scaling()
            .table_name(name)
            .provisioned_write_capacity_auto_scaling_update(
                AutoScalingSettingsUpdate::builder().auto_scaling_disabled(true).build(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!((error_code(&e), message(e)), ("ResourceNotFoundException".into(), gone));
    }
    cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", true)).send().await.expect("add");
    // Every region, this one included, in the order of their names, the
    // replica being made too; on demand, nothing scales (DDB-TABLE-232,
    // -265). Once made, its region describes the same.
    let described = |c: Client| async move {
        let d = c.describe_table_replica_auto_scaling().table_name("Users").send().await.expect("a global table");
        let t = d.table_auto_scaling_description().expect("description").clone();
        assert_eq!(t.table_name(), Some("Users"));
        let regions: Vec<_> = t.replicas().iter().map(|r| r.region_name().unwrap_or_default()).collect();
        assert_eq!(regions, ["eu-west-1", "us-east-1"]);
        for r in t.replicas() {
            for s in [
                r.replica_provisioned_read_capacity_auto_scaling_settings(),
                r.replica_provisioned_write_capacity_auto_scaling_settings(),
            ] {
                let s = s.expect("settings");
                assert_eq!(s.auto_scaling_disabled(), Some(true), "{r:?}");
                assert!(s.scaling_policies().is_empty() && s.minimum_units().is_none());
            }
            assert!(r.global_secondary_indexes().is_empty());
        }
    };
    described(cu.clone()).await;
    eventually("the replica", || async { replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active) }).await;
    described(client(&eu.endpoint())).await;
    let disabled = AutoScalingSettingsUpdate::builder().auto_scaling_disabled(true).build();
    cu.update_table_replica_auto_scaling()
        .table_name("Users")
        .provisioned_write_capacity_auto_scaling_update(disabled.clone())
        .replica_updates(
            ReplicaAutoScalingUpdate::builder()
                .region_name("us-east-1")
                .replica_provisioned_read_capacity_auto_scaling_update(disabled)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("disabling is taken on demand");
    let e = cu
        .update_table_replica_auto_scaling()
        .table_name("Users")
        .provisioned_write_capacity_auto_scaling_update(
            AutoScalingSettingsUpdate::builder().minimum_units(1).maximum_units(10).build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "ValidationException");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// A provisioned global table's replica auto scaling is its Application
/// Auto Scaling targets and policies, in DynamoDB's shapes, for this
/// server's region.
#[tokio::test]
async fn replica_auto_scaling_is_the_tables_auto_scaling() {
    use aws_sdk_dynamodb::types::{
        AutoScalingPolicyUpdate, AutoScalingSettingsUpdate, AutoScalingTargetTrackingScalingPolicyConfigurationUpdate,
        GlobalSecondaryIndex, GlobalSecondaryIndexAutoScalingUpdate, Projection, ProjectionType, ProvisionedThroughput,
        ReplicaAutoScalingUpdate,
    };
    let (_dirs, us, eu) = two_regions().await;
    let c = client(&us.endpoint());
    let throughput = |r, w| {
        ProvisionedThroughput::builder().read_capacity_units(r).write_capacity_units(w).build().expect("throughput")
    };
    c.create_table()
        .table_name("scaled")
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("g").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .provisioned_throughput(throughput(5, 5))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byG")
                .key_schema(KeySchemaElement::builder().attribute_name("g").key_type(KeyType::Hash).build().unwrap())
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .provisioned_throughput(throughput(5, 5))
                .build()
                .expect("gsi"),
        )
        .send()
        .await
        .expect("create");
    // A provisioned table's writes are auto scaled before it takes a replica.
    autoscale_writes(&us.endpoint(), "table/scaled", "table").await;
    autoscale_writes(&us.endpoint(), "table/scaled/index/byG", "index").await;
    c.update_table().table_name("scaled").replica_updates(replica_update("eu-west-1", true)).send().await.expect("add");

    // The writes' targets, no reads', in each region: the replica's region
    // has the table's write scaling too.
    eventually("the replica", || async {
        let t = c.describe_table().table_name("scaled").send().await.unwrap().table.unwrap();
        t.replicas().iter().all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
    })
    .await;
    let d = c.describe_table_replica_auto_scaling().table_name("scaled").send().await.expect("describe");
    let t = d.table_auto_scaling_description().expect("description");
    assert_eq!(t.table_name(), Some("scaled"));
    assert_eq!(
        t.replicas().iter().map(|r| r.region_name().unwrap_or_default()).collect::<Vec<_>>(),
        ["eu-west-1", "us-east-1"]
    );
    for r in t.replicas() {
        let w = r.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
        assert_eq!((w.minimum_units(), w.maximum_units(), w.auto_scaling_disabled()), (Some(1), Some(100), None));
        let read = r.replica_provisioned_read_capacity_auto_scaling_settings().expect("read settings");
        assert_eq!(read.auto_scaling_disabled(), Some(true), "not registered");
    }
    let here = |t: &aws_sdk_dynamodb::types::TableAutoScalingDescription| {
        t.replicas().iter().find(|r| r.region_name() == Some("us-east-1")).cloned().expect("this region")
    };

    let policy = |target: f64| {
        AutoScalingPolicyUpdate::builder()
            .target_tracking_scaling_policy_configuration(
                AutoScalingTargetTrackingScalingPolicyConfigurationUpdate::builder()
                    .target_value(target)
                    .scale_in_cooldown(60)
                    .build()
                    .expect("config"),
            )
            .build()
    };
    let writes = AutoScalingSettingsUpdate::builder()
        .minimum_units(10)
        .maximum_units(100)
        .scaling_policy_update(policy(70.0))
        .build();
    // A request with one bad part changes nothing.
    let err = c
        .update_table_replica_auto_scaling()
        .table_name("scaled")
        .provisioned_write_capacity_auto_scaling_update(writes.clone())
        .replica_updates(
            ReplicaAutoScalingUpdate::builder()
                .region_name("us-east-1")
                .replica_provisioned_read_capacity_auto_scaling_update(
                    AutoScalingSettingsUpdate::builder()
                        .minimum_units(1)
                        .maximum_units(50)
                        .scaling_policy_update(policy(95.0))
                        .build(),
                )
                .build()
                .expect("replica update"),
        )
        .send()
        .await
        .expect_err("a target value past 90");
    assert_eq!(error_code(&err), "ValidationException");
    let d = c.describe_table_replica_auto_scaling().table_name("scaled").send().await.expect("describe");
    let replica = here(d.table_auto_scaling_description().expect("description"));
    let w = replica.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
    assert_eq!(w.minimum_units(), Some(1), "nothing changed");
    let r = replica.replica_provisioned_read_capacity_auto_scaling_settings().expect("read settings");
    assert_eq!(r.auto_scaling_disabled(), Some(true), "nothing registered");
    let d = c.describe_table().table_name("scaled").send().await.expect("describe table");
    let pt = d.table().and_then(|t| t.provisioned_throughput()).expect("throughput");
    assert_eq!(pt.write_capacity_units(), Some(5), "and no capacity changed");
    let u = c
        .update_table_replica_auto_scaling()
        .table_name("scaled")
        .provisioned_write_capacity_auto_scaling_update(writes)
        .global_secondary_index_updates(
            GlobalSecondaryIndexAutoScalingUpdate::builder()
                .index_name("byG")
                .provisioned_write_capacity_auto_scaling_update(
                    AutoScalingSettingsUpdate::builder().minimum_units(2).maximum_units(20).build(),
                )
                .build(),
        )
        .replica_updates(
            ReplicaAutoScalingUpdate::builder()
                .region_name("us-east-1")
                .replica_provisioned_read_capacity_auto_scaling_update(
                    AutoScalingSettingsUpdate::builder()
                        .minimum_units(1)
                        .maximum_units(50)
                        .scaling_policy_update(policy(50.0))
                        .build(),
                )
                .replica_global_secondary_index_updates(
                    aws_sdk_dynamodb::types::ReplicaGlobalSecondaryIndexAutoScalingUpdate::builder()
                        .index_name("byG")
                        .provisioned_read_capacity_auto_scaling_update(
                            AutoScalingSettingsUpdate::builder().minimum_units(3).maximum_units(30).build(),
                        )
                        .build(),
                )
                .build()
                .expect("replica update"),
        )
        .send()
        .await
        .expect("update");
    let replica = here(u.table_auto_scaling_description().expect("description"));
    let w = replica.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
    assert_eq!((w.minimum_units(), w.maximum_units(), w.auto_scaling_disabled()), (Some(10), Some(100), None));
    assert_eq!(w.scaling_policies().len(), 1);
    let p = &w.scaling_policies()[0];
    assert_eq!(p.policy_name(), Some("writes"), "the target's policy keeps its name");
    let config = p.target_tracking_scaling_policy_configuration().expect("config");
    assert_eq!((config.target_value(), config.scale_in_cooldown()), (70.0, Some(60)));
    let r = replica.replica_provisioned_read_capacity_auto_scaling_settings().expect("read settings");
    assert_eq!((r.minimum_units(), r.maximum_units()), (Some(1), Some(50)));
    let rp = &r.scaling_policies()[0];
    assert_eq!(rp.policy_name(), Some("DynamoDBReadCapacityUtilization:table/scaled"), "a new policy's name");
    let g = &replica.global_secondary_indexes()[0];
    assert_eq!(g.index_name(), Some("byG"));
    let gw = g.provisioned_write_capacity_auto_scaling_settings().expect("index write settings");
    assert_eq!((gw.minimum_units(), gw.maximum_units()), (Some(2), Some(20)));
    let gr = g.provisioned_read_capacity_auto_scaling_settings().expect("index read settings");
    assert_eq!((gr.minimum_units(), gr.maximum_units()), (Some(3), Some(30)));
    assert!(gr.scaling_policies().is_empty());
    // Registering brought capacity within the bounds at once (5 → 10).
    let d = c.describe_table().table_name("scaled").send().await.expect("describe table");
    let pt = d.table().and_then(|t| t.provisioned_throughput()).expect("throughput");
    assert_eq!(pt.write_capacity_units(), Some(10));

    // AutoScalingDisabled takes the target and its policy away.
    let u = c
        .update_table_replica_auto_scaling()
        .table_name("scaled")
        .replica_updates(
            ReplicaAutoScalingUpdate::builder()
                .region_name("us-east-1")
                .replica_provisioned_read_capacity_auto_scaling_update(
                    AutoScalingSettingsUpdate::builder().auto_scaling_disabled(true).build(),
                )
                .build()
                .expect("replica update"),
        )
        .send()
        .await
        .expect("disable");
    let replica = here(u.table_auto_scaling_description().expect("description"));
    let r = replica.replica_provisioned_read_capacity_auto_scaling_settings().expect("read settings");
    assert_eq!((r.auto_scaling_disabled(), r.minimum_units()), (Some(true), None));
    let w = replica.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
    assert_eq!(w.auto_scaling_disabled(), None);
    // The other region's read scaling is its own: the one disabled here
    // was never registered there, and its writes' scaling is as it was.
    let d = client(&eu.endpoint()).describe_table_replica_auto_scaling().table_name("scaled").send().await.unwrap();
    let theirs = d.table_auto_scaling_description().unwrap().replicas().to_vec();
    let eu_entry = theirs.iter().find(|r| r.region_name() == Some("eu-west-1")).expect("eu-west-1");
    let w = eu_entry.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
    assert_eq!((w.minimum_units(), w.maximum_units()), (Some(1), Some(100)));
    let us_entry = theirs.iter().find(|r| r.region_name() == Some("us-east-1")).expect("us-east-1");
    let w = us_entry.replica_provisioned_write_capacity_auto_scaling_settings().expect("write settings");
    assert_eq!(w.minimum_units(), Some(10), "us-east-1's, as it answers for itself");

    // A region that is no replica and an unknown index are refused.
    let err = c
        .update_table_replica_auto_scaling()
        .table_name("scaled")
        .replica_updates(ReplicaAutoScalingUpdate::builder().region_name("ap-south-1").build().expect("update"))
        .send()
        .await
        .expect_err("no such replica");
    assert_eq!(error_code(&err), "ValidationException");
    let err = c
        .update_table_replica_auto_scaling()
        .table_name("scaled")
        .global_secondary_index_updates(GlobalSecondaryIndexAutoScalingUpdate::builder().index_name("nope").build())
        .send()
        .await
        .expect_err("no such index");
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}

/// A new replica's own table is CREATING in its region until its source
/// region has filled it: DescribeTable shows it, every other call finds no
/// table, and DeleteTable is refused (DDB-TABLE-226, DDB-TABLE-298). Once
/// the source shows the replica ACTIVE, its table holds every item.
#[tokio::test]
async fn a_replica_being_filled_is_creating_in_its_region() {
    use aws_sdk_dynamodb::types::TableStatus;
    let (dirs, us, eu) = two_regions().await;
    let (cu, ce) = (client(&us.endpoint()), client(&eu.endpoint()));

    // A replica's table made in eu-west-1 as us-east-1 makes one, its fill
    // not yet done.
    let create = serde_json::json!({
        "Create": {
            "TableName": "Filling",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
        "Replicas": ["us-east-1"],
        "From": "us-east-1",
    });
    let (status, body) = post(&eu.endpoint(), "/tidepool/replication/table", &create.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let t = ce.describe_table().table_name("Filling").send().await.expect("described").table.unwrap();
    assert_eq!(t.table_status(), Some(&TableStatus::Creating));
    let missing = "Requested resource not found: Table: Filling not found";
    let e = ce.put_item().table_name("Filling").item("pk", s("a")).send().await.unwrap_err();
    assert_eq!((error_code(&e), message(e)), ("ResourceNotFoundException".into(), missing.into()));
    let e = ce.get_item().table_name("Filling").key("pk", s("a")).send().await.unwrap_err();
    assert_eq!((error_code(&e), message(e)), ("ResourceNotFoundException".into(), missing.into()));
    let e = ce.update_table().table_name("Filling").deletion_protection_enabled(true).send().await.unwrap_err();
    assert_eq!(error_code(&e), "ResourceNotFoundException");
    let e = ce.delete_table().table_name("Filling").send().await.unwrap_err();
    assert_eq!(
        (error_code(&e), message(e)),
        (
            "ResourceInUseException".into(),
            "Attempt to change a resource which is still in use: Table: Filling is being used.".into()
        )
    );
    // A restart keeps it so.
    eu.stop().await.unwrap();
    let eu = region(dirs[1].path(), "eu-west-1").await;
    eu.app.global.set_peer("us-east-1", &us.endpoint()).expect("peer");
    us.app.global.set_peer("eu-west-1", &eu.endpoint()).expect("peer");
    let ce = client(&eu.endpoint());
    let t = ce.describe_table().table_name("Filling").send().await.unwrap().table.unwrap();
    assert_eq!(t.table_status(), Some(&TableStatus::Creating));
    let e = ce.put_item().table_name("Filling").item("pk", s("a")).send().await.unwrap_err();
    assert_eq!(error_code(&e), "ResourceNotFoundException");
    // The fill done, it is an ordinary replica's table.
    let done = serde_json::json!({"TableName": "Filling", "Filled": true}).to_string();
    let (status, body) = post(&eu.endpoint(), "/tidepool/replication/table", &done).await;
    assert_eq!(status, 200, "{body}");
    let t = ce.describe_table().table_name("Filling").send().await.unwrap().table.unwrap();
    assert_eq!(t.table_status(), Some(&TableStatus::Active));
    ce.put_item().table_name("Filling").item("pk", s("a")).send().await.expect("a write");

    // The real thing: whenever eu-west-1 shows its table ACTIVE, every item
    // written before the replica was asked for is there.
    keyed_table(&cu, "Users", None).await;
    for i in 0..300 {
        put(&cu, &format!("k{i:03}"), "before").await;
    }
    cu.update_table().table_name("Users").replica_updates(replica_update("eu-west-1", true)).send().await.expect("add");
    eventually("the replica's table active", || async {
        let t = ce.describe_table().table_name("Users").send().await.ok().and_then(|d| d.table);
        t.is_some_and(|t| t.table_status() == Some(&TableStatus::Active))
    })
    .await;
    let last = ce.get_item().table_name("Users").key("pk", s("k299")).send().await.expect("a read");
    assert!(last.item().is_some(), "the fill is done once the table is ACTIVE");
    assert_eq!(scan_all(&ce).await.len(), 300);
    eventually("the replica active at its source", || async {
        replica_status(&cu, "eu-west-1").await == Some(ReplicaStatus::Active)
    })
    .await;
    us.stop().await.unwrap();
    eu.stop().await.unwrap();
}
