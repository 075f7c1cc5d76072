//! End-to-end tests of the DynamoDB API through the real server with the
//! official `aws-sdk-dynamodb` crate.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, AttributeValueUpdate, BillingMode, ComparisonOperator, Condition, ConditionCheck,
    CreateGlobalSecondaryIndexAction, Delete, ExpectedAttributeValue, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    KeyType, KeysAndAttributes, LocalSecondaryIndex, Projection, ProjectionType, Put, PutRequest,
    ReturnConsumedCapacity, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select,
    StreamViewType, Tag, TransactWriteItem, Update, WriteRequest,
};
use common::{attr_def, code, create_table, harness, key_elem, n, s};

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[tokio::test]
async fn table_lifecycle_reports_what_sdks_read() {
    let h = harness().await;
    let c = &h.client;
    let out = c
        .create_table()
        .table_name("Orders")
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("status", ScalarAttributeType::S))
        .attribute_definitions(attr_def("total", ScalarAttributeType::N))
        .billing_mode(BillingMode::PayPerRequest)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-status")
                .key_schema(key_elem("status", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-total")
                .key_schema(key_elem("pk", KeyType::Hash))
                .key_schema(key_elem("total", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .stream_specification(common::new_and_old_images())
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .unwrap();
    let desc = out.table_description.unwrap();
    assert_eq!(desc.table_status.unwrap().as_str(), "CREATING");
    let arn = desc.table_arn.unwrap();
    assert_eq!(arn, "arn:aws:dynamodb:us-east-1:000000000000:table/Orders");

    let dup = c
        .create_table()
        .table_name("Orders")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&dup), "ResourceInUseException");

    for i in 0..3 {
        c.put_item()
            .table_name("Orders")
            .set_item(Some(item(&[("pk", s("a")), ("sk", n(i)), ("status", s("open")), ("total", n(i * 10))])))
            .send()
            .await
            .unwrap();
    }
    let t = c.describe_table().table_name("Orders").send().await.unwrap().table.unwrap();
    assert_eq!(t.table_status.unwrap().as_str(), "ACTIVE");
    assert_eq!(t.item_count, Some(3));
    assert!(t.table_size_bytes.unwrap() > 0);
    assert!(t.table_id.is_some());
    // To the millisecond, as DynamoDB shows it (within a microsecond: an
    // epoch in seconds is read as a double).
    let nanos = i64::from(t.creation_date_time.expect("a creation time").subsec_nanos());
    assert!(((nanos + 500_000) / 1_000_000 * 1_000_000 - nanos).abs() < 1_000, "{nanos}");
    assert_eq!(t.key_schema.unwrap().len(), 2);
    let gsi = &t.global_secondary_indexes.unwrap()[0];
    assert_eq!(gsi.index_name.as_deref(), Some("by-status"));
    assert_eq!(gsi.item_count, Some(3));
    assert_eq!(gsi.index_status.as_ref().unwrap().as_str(), "ACTIVE");
    assert_eq!(t.local_secondary_indexes.unwrap()[0].index_name.as_deref(), Some("by-total"));
    assert_eq!(t.stream_specification.unwrap().stream_view_type.unwrap(), StreamViewType::NewAndOldImages);
    assert!(t.latest_stream_arn.unwrap().starts_with(&format!("{arn}/stream/")));
    assert_eq!(t.billing_mode_summary.unwrap().billing_mode.unwrap(), BillingMode::PayPerRequest);

    let tags = c.list_tags_of_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags.unwrap()[0].value, "core");
    c.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let tags = c.list_tags_of_resource().resource_arn(&arn).send().await.unwrap();
    assert!(tags.tags.unwrap_or_default().is_empty());

    c.delete_table().table_name("Orders").send().await.unwrap();
    let gone = c.describe_table().table_name("Orders").send().await.unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
}

#[tokio::test]
async fn list_tables_paginates() {
    let h = harness().await;
    for i in 0..5 {
        create_table(&h.client, &format!("table-{i}"), None).await;
    }
    let first = h.client.list_tables().limit(2).send().await.unwrap();
    assert_eq!(first.table_names(), ["table-0", "table-1"]);
    assert_eq!(first.last_evaluated_table_name(), Some("table-1"));
    let all: Vec<String> =
        h.client.list_tables().limit(2).into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn items_round_trip_every_type() {
    let h = harness().await;
    create_table(&h.client, "items1", None).await;
    let original = item(&[
        ("pk", s("k1")),
        ("str", s("")),
        ("num", n("12345678901234567890123456789012345678")),
        ("small", n("-0.000000000000000000000000000001")),
        ("bin", AttributeValue::B(Blob::new(vec![0, 1, 2, 255]))),
        ("yes", AttributeValue::Bool(true)),
        ("nothing", AttributeValue::Null(true)),
        ("list", AttributeValue::L(vec![n(1), s("two")])),
        ("map", AttributeValue::M(item(&[("nested", AttributeValue::M(item(&[("deep", n(3))])))]))),
        ("ss", AttributeValue::Ss(vec!["b".into(), "a".into()])),
        ("ns", AttributeValue::Ns(vec!["1.50".into(), "2".into()])),
        ("bs", AttributeValue::Bs(vec![Blob::new(vec![1]), Blob::new(vec![2])])),
    ]);
    h.client.put_item().table_name("items1").set_item(Some(original.clone())).send().await.unwrap();
    let got = h.client.get_item().table_name("items1").key("pk", s("k1")).send().await.unwrap().item.unwrap();
    assert_eq!(got.len(), original.len());
    assert_eq!(got["num"], original["num"]);
    assert_eq!(got["small"], n("-0.000000000000000000000000000001"));
    assert_eq!(got["bin"], original["bin"]);
    assert_eq!(got["map"], original["map"]);
    let mut ss = got["ss"].as_ss().unwrap().clone();
    ss.sort();
    assert_eq!(ss, ["a", "b"]);
    let mut ns = got["ns"].as_ns().unwrap().clone();
    ns.sort();
    assert_eq!(ns, ["1.5", "2"]);

    let projected = h
        .client
        .get_item()
        .table_name("items1")
        .key("pk", s("k1"))
        .projection_expression("#m.nested.deep, #l[1]")
        .expression_attribute_names("#l", "list")
        .expression_attribute_names("#m", "map")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        projected,
        item(&[
            ("map", AttributeValue::M(item(&[("nested", AttributeValue::M(item(&[("deep", n(3))])))]))),
            ("list", AttributeValue::L(vec![s("two")])),
        ])
    );

    let missing = h.client.get_item().table_name("items1").key("pk", s("nope")).send().await.unwrap();
    assert!(missing.item.is_none());
}

#[tokio::test]
async fn conditional_writes_and_return_values() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "items1", None).await;
    c.put_item()
        .table_name("items1")
        .set_item(Some(item(&[("pk", s("a")), ("v", n(1))])))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap();
    let err = c
        .put_item()
        .table_name("items1")
        .set_item(Some(item(&[("pk", s("a")), ("v", n(2))])))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ConditionalCheckFailedException");
    let svc = err.into_service_error();
    match svc {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => {
            assert_eq!(e.item.unwrap()["v"], n(1));
        }
        other => panic!("unexpected {other:?}"),
    }

    let out = c
        .update_item()
        .table_name("items1")
        .key("pk", s("a"))
        .update_expression("SET v = v + :one, tags = :tags, info.created = :now ADD hits :one REMOVE gone")
        .condition_expression("v = :one")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":tags", AttributeValue::Ss(vec!["x".into()]))
        .expression_attribute_values(":now", s("today"))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await;
    // info does not exist, so info.created is an invalid path.
    let err = out.unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let out = c
        .update_item()
        .table_name("items1")
        .key("pk", s("a"))
        .update_expression("SET v = v + :one, tags = :tags ADD hits :one REMOVE gone")
        .condition_expression("v = :one")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":tags", AttributeValue::Ss(vec!["x".into(), "y".into()]))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap();
    assert_eq!(attrs["v"], n(2));
    assert_eq!(attrs["hits"], n(1));
    assert!(!attrs.contains_key("pk"));

    let out = c
        .update_item()
        .table_name("items1")
        .key("pk", s("a"))
        .update_expression("DELETE tags :x")
        .expression_attribute_values(":x", AttributeValue::Ss(vec!["x".into()]))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes.unwrap()["v"], n(2));

    let key_update = c
        .update_item()
        .table_name("items1")
        .key("pk", s("a"))
        .update_expression("SET pk = :x")
        .expression_attribute_values(":x", s("b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&key_update), "ValidationException");

    // UpdateItem on a missing item creates it (an upsert).
    c.update_item()
        .table_name("items1")
        .key("pk", s("new"))
        .update_expression("SET c = if_not_exists(c, :zero) + :one")
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .unwrap();
    let got = c.get_item().table_name("items1").key("pk", s("new")).send().await.unwrap().item.unwrap();
    assert_eq!(got["c"], n(1));

    let deleted =
        c.delete_item().table_name("items1").key("pk", s("a")).return_values(ReturnValue::AllOld).send().await.unwrap();
    assert_eq!(deleted.attributes.unwrap()["tags"], AttributeValue::Ss(vec!["y".into()]));
}

#[tokio::test]
async fn query_orders_pages_and_filters() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "qtab", Some(ScalarAttributeType::N)).await;
    for i in [10, -5, 2, 100, 0, 7, 33, 1] {
        c.put_item()
            .table_name("qtab")
            .set_item(Some(item(&[("pk", s("p")), ("sk", n(i)), ("odd", AttributeValue::Bool(i % 2 != 0))])))
            .send()
            .await
            .unwrap();
    }
    c.put_item().table_name("qtab").set_item(Some(item(&[("pk", s("other")), ("sk", n(1))]))).send().await.unwrap();
    let sks = |items: &[HashMap<String, AttributeValue>]| -> Vec<String> {
        items.iter().map(|i| i["sk"].as_n().unwrap().clone()).collect()
    };
    let all = c
        .query()
        .table_name("qtab")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(sks(all.items()), ["-5", "0", "1", "2", "7", "10", "33", "100"]);

    let between = c
        .query()
        .table_name("qtab")
        .key_condition_expression("pk = :p AND sk BETWEEN :a AND :b")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":a", n(1))
        .expression_attribute_values(":b", n(10))
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    assert_eq!(sks(between.items()), ["10", "7", "2", "1"]);

    let filtered = c
        .query()
        .table_name("qtab")
        .key_condition_expression("pk = :p AND sk > :z")
        .filter_expression("odd = :t")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":z", n(0))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(sks(filtered.items()), ["1", "7", "33"]);
    assert_eq!(filtered.scanned_count, 6);
    assert_eq!(filtered.consumed_capacity.unwrap().capacity_units, Some(0.5));

    // Pages of 3 cover every item exactly once.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .query()
            .table_name("qtab")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .limit(3)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        assert!(page.items().len() <= 3);
        seen.extend(sks(page.items()));
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["-5", "0", "1", "2", "7", "10", "33", "100"]);

    let count = c
        .query()
        .table_name("qtab")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(count.count, 8);
    assert!(count.items.is_none());

    let legacy = c
        .query()
        .table_name("qtab")
        .key_conditions(
            "pk",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Eq)
                .attribute_value_list(s("p"))
                .build()
                .unwrap(),
        )
        .key_conditions(
            "sk",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Ge)
                .attribute_value_list(n(33))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sks(legacy.items()), ["33", "100"]);
}

#[tokio::test]
async fn string_sort_keys_and_begins_with() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "stab", Some(ScalarAttributeType::S)).await;
    for sk in ["b", "a#2", "a", "a#1", "ab", "B"] {
        c.put_item().table_name("stab").set_item(Some(item(&[("pk", s("p")), ("sk", s(sk))]))).send().await.unwrap();
    }
    let out = c
        .query()
        .table_name("stab")
        .key_condition_expression("pk = :p AND begins_with(sk, :a)")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":a", s("a"))
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.items().iter().map(|i| i["sk"].as_s().unwrap().as_str()).collect();
    assert_eq!(got, ["a", "a#1", "a#2", "ab"]);
}

#[tokio::test]
async fn parallel_scan_covers_each_item_once() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "scan", None).await;
    for i in 0..60 {
        c.put_item()
            .table_name("scan")
            .set_item(Some(item(&[("pk", s(&format!("k{i}"))), ("i", n(i))])))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for segment in 0..4 {
        let mut start = None;
        loop {
            let page = c
                .scan()
                .table_name("scan")
                .segment(segment)
                .total_segments(4)
                .limit(7)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            seen.extend(page.items().iter().map(|i| i["pk"].as_s().unwrap().clone()));
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    seen.sort();
    let mut expected: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);

    let filtered = c
        .scan()
        .table_name("scan")
        .filter_expression("i < :ten")
        .expression_attribute_values(":ten", n(10))
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.count, 10);
    assert_eq!(filtered.scanned_count, 60);

    let bad = c.scan().table_name("scan").segment(4).total_segments(4).send().await.unwrap_err();
    assert_eq!(code(&bad), "ValidationException");
}

#[tokio::test]
async fn gsi_is_sparse_maintained_and_backfilled() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "gtab", None).await;
    c.put_item().table_name("gtab").set_item(Some(item(&[("pk", s("1")), ("color", s("red"))]))).send().await.unwrap();
    c.put_item().table_name("gtab").set_item(Some(item(&[("pk", s("2")), ("color", s("blue"))]))).send().await.unwrap();
    c.put_item().table_name("gtab").set_item(Some(item(&[("pk", s("3"))]))).send().await.unwrap();
    c.update_table()
        .table_name("gtab")
        .attribute_definitions(attr_def("color", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-color")
                        .key_schema(key_elem("color", KeyType::Hash))
                        .projection(Projection::builder().projection_type(ProjectionType::All).build())
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    common::wait_index_active(c, "gtab", "by-color").await;
    let q = |color: &'static str| {
        c.query()
            .table_name("gtab")
            .index_name("by-color")
            .key_condition_expression("color = :c")
            .expression_attribute_values(":c", s(color))
            .send()
    };
    assert_eq!(q("red").await.unwrap().count, 1);
    // Changing the index key moves the entry; removing it drops it.
    c.update_item()
        .table_name("gtab")
        .key("pk", s("1"))
        .update_expression("SET color = :b")
        .expression_attribute_values(":b", s("blue"))
        .send()
        .await
        .unwrap();
    assert_eq!(q("red").await.unwrap().count, 0);
    assert_eq!(q("blue").await.unwrap().count, 2);
    c.update_item().table_name("gtab").key("pk", s("2")).update_expression("REMOVE color").send().await.unwrap();
    assert_eq!(q("blue").await.unwrap().count, 1);
    let wrong_type = c
        .put_item()
        .table_name("gtab")
        .set_item(Some(item(&[("pk", s("4")), ("color", n(5))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_type), "ValidationException");
}

#[tokio::test]
async fn batch_write_and_get() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "btab", None).await;
    let writes: Vec<WriteRequest> = (0..25)
        .map(|i| {
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item(&[("pk", s(&format!("{i}")))]))).build().unwrap())
                .build()
        })
        .collect();
    let out = c.batch_write_item().request_items("btab", writes).send().await.unwrap();
    assert!(out.unprocessed_items.unwrap_or_default().is_empty());
    let too_many: Vec<WriteRequest> = (0..26)
        .map(|i| {
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item(&[("pk", s(&format!("{i}")))]))).build().unwrap())
                .build()
        })
        .collect();
    let err = c.batch_write_item().request_items("btab", too_many).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");

    let keys = KeysAndAttributes::builder()
        .set_keys(Some((0..30).map(|i| item(&[("pk", s(&format!("{i}")))])).collect()))
        .build()
        .unwrap();
    let got = c.batch_get_item().request_items("btab", keys).send().await.unwrap();
    assert_eq!(got.responses.unwrap()["btab"].len(), 25);
}

#[tokio::test]
async fn transactions_are_all_or_nothing_with_reasons_in_order() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "txtab", None).await;
    c.put_item().table_name("txtab").set_item(Some(item(&[("pk", s("acct")), ("bal", n(100))]))).send().await.unwrap();
    let transfer = |amount: i64, token: &str| {
        c.transact_write_items()
            .client_request_token(token)
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("txtab")
                            .key("pk", s("acct"))
                            .update_expression("SET bal = bal - :a")
                            .condition_expression("bal >= :a")
                            .expression_attribute_values(":a", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(Put::builder().table_name("txtab").set_item(Some(item(&[("pk", s(token))]))).build().unwrap())
                    .build(),
            )
    };
    transfer(60, "t1").send().await.unwrap();
    // Same token, same request: applied once.
    transfer(60, "t1").send().await.unwrap();
    let bal = c.get_item().table_name("txtab").key("pk", s("acct")).send().await.unwrap().item.unwrap();
    assert_eq!(bal["bal"], n(40));
    let mismatch = transfer(1, "t1").send().await.unwrap_err();
    assert_eq!(code(&mismatch), "IdempotentParameterMismatchException");

    let err = transfer(60, "t2").send().await.unwrap_err();
    assert_eq!(code(&err), "TransactionCanceledException");
    match err.into_service_error() {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => {
            let codes: Vec<_> =
                e.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default().to_string()).collect();
            assert_eq!(codes, ["ConditionalCheckFailed", "None"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let t2 = c.get_item().table_name("txtab").key("pk", s("t2")).send().await.unwrap();
    assert!(t2.item.is_none(), "a cancelled transaction wrote nothing");

    let same_item = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("txtab")
                        .key("pk", s("acct"))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(Delete::builder().table_name("txtab").key("pk", s("acct")).build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&same_item), "ValidationException");

    let got = c
        .transact_get_items()
        .transact_items(
            aws_sdk_dynamodb::types::TransactGetItem::builder()
                .get(aws_sdk_dynamodb::types::Get::builder().table_name("txtab").key("pk", s("acct")).build().unwrap())
                .build(),
        )
        .transact_items(
            aws_sdk_dynamodb::types::TransactGetItem::builder()
                .get(aws_sdk_dynamodb::types::Get::builder().table_name("txtab").key("pk", s("none")).build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let responses = got.responses.unwrap();
    assert_eq!(responses[0].item.as_ref().unwrap()["bal"], n(40));
    assert!(responses[1].item.is_none());
}

#[tokio::test]
async fn legacy_parameters_still_work() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "old", None).await;
    c.put_item().table_name("old").set_item(Some(item(&[("pk", s("a")), ("v", n(1))]))).send().await.unwrap();
    let err = c
        .put_item()
        .table_name("old")
        .set_item(Some(item(&[("pk", s("a"))])))
        .expected("v", ExpectedAttributeValue::builder().value(n(2)).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ConditionalCheckFailedException");
    c.update_item()
        .table_name("old")
        .key("pk", s("a"))
        .attribute_updates(
            "v",
            AttributeValueUpdate::builder().action(aws_sdk_dynamodb::types::AttributeAction::Add).value(n(5)).build(),
        )
        .send()
        .await
        .unwrap();
    let got =
        c.get_item().table_name("old").key("pk", s("a")).attributes_to_get("v").send().await.unwrap().item.unwrap();
    assert_eq!(got, item(&[("v", n(6))]));
}

#[tokio::test]
async fn client_mistakes_get_dynamodb_errors() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "etab", Some(ScalarAttributeType::N)).await;
    let missing_table = c.get_item().table_name("nope").key("pk", s("a")).send().await.unwrap_err();
    assert_eq!(code(&missing_table), "ResourceNotFoundException");
    let missing_key = c.put_item().table_name("etab").set_item(Some(item(&[("pk", s("a"))]))).send().await.unwrap_err();
    assert_eq!(code(&missing_key), "ValidationException");
    let wrong_type = c
        .put_item()
        .table_name("etab")
        .set_item(Some(item(&[("pk", s("a")), ("sk", s("not a number"))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_type), "ValidationException");
    let unused = c
        .put_item()
        .table_name("etab")
        .set_item(Some(item(&[("pk", s("a")), ("sk", n(1))])))
        .condition_expression("attribute_not_exists(pk)")
        .expression_attribute_values(":unused", n(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&unused), "ValidationException");
    let message = aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&unused.into_service_error())
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("unused in expressions"), "{message}");
    let big = c
        .put_item()
        .table_name("etab")
        .set_item(Some(item(&[("pk", s("a")), ("sk", n(1)), ("blob", s(&"x".repeat(410 * 1024)))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&big), "ValidationException");
    let bad_number = c
        .put_item()
        .table_name("etab")
        .set_item(Some(item(&[("pk", s("a")), ("sk", n("1e400"))])))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_number), "ValidationException");
    let syntax = c
        .query()
        .table_name("etab")
        .key_condition_expression("pk = = :p")
        .expression_attribute_values(":p", s("a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&syntax), "ValidationException");
    let bad_table = c
        .create_table()
        .table_name("x")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_table), "ValidationException");
}

/// A client with `retry` (the shared client's configuration otherwise).
fn client_retrying(endpoint: &str, retry: aws_sdk_dynamodb::config::retry::RetryConfig) -> aws_sdk_dynamodb::Client {
    let conf = common::client(endpoint).config().to_builder().retry_config(retry).build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A client that does not retry, to see the first answer.
fn no_retry_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    client_retrying(endpoint, aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

/// Makes provisioned table `name` (key `pk`) with `read` and `write` units.
async fn create_provisioned(c: &aws_sdk_dynamodb::Client, name: &str, read: i64, write: i64) {
    let throughput = aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .expect("throughput");
    c.create_table()
        .table_name(name)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(throughput)
        .send()
        .await
        .expect("create");
}

/// An item of exactly `units` write units (1 KB each): `pk` and a binary.
fn item_of_units(pk: &str, units: usize) -> HashMap<String, AttributeValue> {
    // Size: "pk" + the key's bytes + "blob" + the binary's bytes.
    let blob = units * 1024 - 2 - pk.len() - 4;
    item(&[("pk", s(pk)), ("blob", AttributeValue::B(Blob::new(vec![7u8; blob])))])
}

#[tokio::test]
async fn capacity_is_enforced_when_asked_and_sdk_retries_get_through() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::start_with(
        dir.path(),
        tidepool::ServerConfig { capacity: tidepool::capacity::Mode::Enforce, ..Default::default() },
    )
    .await;
    let endpoint = server.endpoint();
    let c = no_retry_client(&endpoint);
    c.create_table()
        .table_name("provisioned")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(10)
                .write_capacity_units(10)
                .build()
                .expect("throughput"),
        )
        .warm_throughput(aws_sdk_dynamodb::types::WarmThroughput::builder().read_units_per_second(20_000).build())
        .send()
        .await
        .expect("create");
    let d = c.describe_table().table_name("provisioned").send().await.expect("describe");
    let warm = d.table().and_then(|t| t.warm_throughput()).expect("warm throughput described");
    assert_eq!(warm.read_units_per_second(), Some(20_000));
    assert_eq!(warm.write_units_per_second(), Some(4_000));

    // 10 WCU with 300 s of burst: 3,000 units. Spend them in items of up
    // to 400 KB; what refilled meanwhile admits one more write of 400
    // units, which takes the bucket about 400 units (40 s) into debt.
    for (n, units) in [400, 400, 400, 400, 400, 400, 400, 200, 400].into_iter().enumerate() {
        let put = c.put_item().table_name("provisioned").set_item(Some(item_of_units(&format!("big{n}"), units)));
        let out = put.return_consumed_capacity(ReturnConsumedCapacity::Total).send().await.expect("within burst");
        assert_eq!(out.consumed_capacity().and_then(|c| c.capacity_units()), Some(units as f64));
    }
    // The next write is throttled as DynamoDB throttles it.
    let err = c.put_item().table_name("provisioned").set_item(Some(item(&[("pk", s("small"))]))).send().await;
    let err = err.expect_err("the bucket and its burst are spent");
    assert_eq!(code(&err), "ProvisionedThroughputExceededException");
    let service = err.into_service_error();
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ProvisionedThroughputExceededException(e) = &service
    else {
        panic!("not ProvisionedThroughputExceededException: {service:?}");
    };
    assert_eq!(e.throttling_reasons().len(), 1);
    assert_eq!(e.throttling_reasons()[0].reason(), Some("TableWriteProvisionedThroughputExceeded"));
    assert_eq!(e.throttling_reasons()[0].resource(), Some("arn:aws:dynamodb:us-east-1:000000000000:table/provisioned"));
    // Reads have their own bucket.
    c.get_item().table_name("provisioned").key("pk", s("big0")).send().await.expect("reads are not throttled");
    // A batch of writes, every one throttled, fails as a whole.
    let batch = c
        .batch_write_item()
        .request_items(
            "provisioned",
            vec![
                WriteRequest::builder()
                    .put_request(PutRequest::builder().item("pk", s("b1")).build().expect("put"))
                    .build(),
            ],
        )
        .send()
        .await;
    assert_eq!(code(&batch.expect_err("throttled")), "ProvisionedThroughputExceededException");
    // PartiQL: a batch's throttled statement is its error; a transaction
    // with one is cancelled.
    let insert = |pk: &str| format!("INSERT INTO \"provisioned\" VALUE {{'pk': '{pk}'}}");
    let statement = aws_sdk_dynamodb::types::BatchStatementRequest::builder().statement(insert("p1")).build();
    let out = c
        .batch_execute_statement()
        .statements(statement.expect("statement"))
        .send()
        .await
        .expect("a batch answers per statement");
    let e = out.responses()[0].error().expect("the statement was throttled");
    assert_eq!(e.code(), Some(&aws_sdk_dynamodb::types::BatchStatementErrorCodeEnum::ProvisionedThroughputExceeded));
    let statement = aws_sdk_dynamodb::types::ParameterizedStatement::builder().statement(insert("p2")).build();
    let err =
        c.execute_transaction().transact_statements(statement.expect("statement")).send().await.expect_err("cancelled");
    assert_eq!(code(&err), "TransactionCanceledException");

    // More capacity: the debt carries over and refills at the new rate
    // (0.4 s at 1,000 WCU), and the SDK's own retries (with backoff) get
    // the write through.
    c.update_table()
        .table_name("provisioned")
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(10)
                .write_capacity_units(1000)
                .build()
                .expect("throughput"),
        )
        .send()
        .await
        .expect("update");
    let retrying =
        client_retrying(&endpoint, aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(20));
    retrying
        .put_item()
        .table_name("provisioned")
        .set_item(Some(item(&[("pk", s("small"))])))
        .send()
        .await
        .expect("retried until the bucket refilled");

    // An on-demand table's maximum throttles with ThrottlingException.
    c.create_table()
        .table_name("ondemand")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .on_demand_throughput(aws_sdk_dynamodb::types::OnDemandThroughput::builder().max_write_request_units(2).build())
        .send()
        .await
        .expect("create");
    c.put_item()
        .table_name("ondemand")
        .set_item(Some(item_of_units("a", 50)))
        .send()
        .await
        .expect("the first write finds a full bucket");
    let err = c.put_item().table_name("ondemand").set_item(Some(item(&[("pk", s("b"))]))).send().await;
    let err = err.expect_err("past MaxWriteRequestUnits");
    assert_eq!(code(&err), "ThrottlingException");
    let service = err.into_service_error();
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ThrottlingException(e) = &service else {
        panic!("not ThrottlingException: {service:?}");
    };
    assert_eq!(e.throttling_reasons()[0].reason(), Some("TableWriteMaxOnDemandThroughputExceeded"));
    assert_eq!(e.message(), Some("Throughput exceeds the maximum OnDemandThroughput configured on table or index"));
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn capacity_is_only_reported_by_default() {
    let h = harness().await;
    let c = no_retry_client(&h.server.endpoint());
    create_provisioned(&c, "tiny", 1, 1).await;
    // 800 units on a table of 1 WCU (300 of burst): nothing is throttled.
    for i in 0..2 {
        c.put_item().table_name("tiny").set_item(Some(item_of_units(&format!("k{i}"), 400))).send().await.expect("put");
    }
    c.put_item().table_name("tiny").set_item(Some(item(&[("pk", s("x"))]))).send().await.expect("not throttled");
}

#[tokio::test]
async fn metrics_count_what_the_requests_did() {
    let h = harness().await;
    let c = &h.client;
    let endpoint = h.server.endpoint();
    c.create_table()
        .table_name("metered")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("owner", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byOwner")
                .key_schema(key_elem("owner", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("index"),
        )
        .send()
        .await
        .expect("create");
    // Three puts of about 520 bytes: a write unit each, and one each on the
    // index that projects them.
    for pk in ["a", "b", "c"] {
        let it = item(&[("pk", s(pk)), ("owner", s("ann")), ("blob", AttributeValue::B(Blob::new(vec![1u8; 500])))]);
        c.put_item().table_name("metered").set_item(Some(it)).send().await.expect("put");
    }
    // Reads: two eventually consistent (half a unit each), one strongly
    // consistent (one unit), a Query of one partition (one item: half a
    // unit) that returns it.
    for pk in ["a", "b"] {
        c.get_item().table_name("metered").key("pk", s(pk)).send().await.expect("get");
    }
    c.get_item().table_name("metered").key("pk", s("c")).consistent_read(true).send().await.expect("get");
    let q = c
        .query()
        .table_name("metered")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("a"))
        .send()
        .await
        .expect("query");
    assert_eq!(q.count(), 1);
    // A write whose condition fails (it found a 1-unit item), and a
    // request on a table that does not exist.
    let failed = c
        .put_item()
        .table_name("metered")
        .item("pk", s("a"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert_eq!(code(&failed.expect_err("exists")), "ConditionalCheckFailedException");
    let missing = c.get_item().table_name("nothere").key("pk", s("a")).send().await;
    assert_eq!(code(&missing.expect_err("missing")), "ResourceNotFoundException");

    let m = common::scrape(&endpoint).await;
    let get = |name: &str, labels: &str| -> f64 {
        *m.get(&format!("{name}{labels}")).unwrap_or_else(|| panic!("no sample {name}{labels} in {m:?}"))
    };
    let table = r#"{"table_name":"metered"}"#;
    assert_eq!(get("aws_dynamodb_consumed_write_capacity_units_total", table), 4.0);
    assert_eq!(
        get(
            "aws_dynamodb_consumed_write_capacity_units_total",
            r#"{"global_secondary_index_name":"byOwner","table_name":"metered"}"#
        ),
        3.0
    );
    assert_eq!(get("aws_dynamodb_consumed_read_capacity_units_total", table), 2.5);
    let op = |o: &str| format!(r#"{{"operation":"{o}","table_name":"metered"}}"#);
    assert_eq!(get("aws_dynamodb_successful_request_latency_count", &op("PutItem")), 3.0);
    assert_eq!(get("aws_dynamodb_successful_request_latency_count", &op("GetItem")), 3.0);
    assert!(get("aws_dynamodb_successful_request_latency_sum", &op("GetItem")) > 0.0);
    assert_eq!(get("aws_dynamodb_returned_item_count_total", &op("Query")), 1.0);
    assert_eq!(get("aws_dynamodb_conditional_check_failed_requests_total", table), 1.0);
    assert_eq!(get("aws_dynamodb_user_errors_total", "{}"), 1.0);
    assert!(!m.keys().any(|k| k.contains("nothere")), "a missing table is not a metric");
    // Counters are typed as such (the parser names a family without
    // `_total`), latencies as summaries.
    assert!(m.contains_key("TYPE aws_dynamodb_consumed_read_capacity_units counter"), "{m:?}");
    assert!(m.contains_key("TYPE aws_dynamodb_successful_request_latency summary"), "{m:?}");

    // PartiQL is counted too: a SELECT of one item, strongly consistent.
    c.execute_statement()
        .statement(r#"SELECT * FROM "metered" WHERE pk = 'b'"#)
        .consistent_read(true)
        .send()
        .await
        .expect("select");
    let m = common::scrape(&endpoint).await;
    assert_eq!(m[&format!("aws_dynamodb_consumed_read_capacity_units_total{table}")], 3.5);
    assert_eq!(m[&format!("aws_dynamodb_returned_item_count_total{}", op("ExecuteStatement"))], 1.0);
    assert_eq!(m[&format!("aws_dynamodb_successful_request_latency_count{}", op("ExecuteStatement"))], 1.0);
}

/// `GET path` on the server, its JSON body.
async fn get_json(endpoint: &str, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8(buf).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).expect("json")
}

#[tokio::test]
async fn the_cost_meter_prices_a_known_workload_in_both_modes() {
    let h = harness().await;
    let c = &h.client;
    let endpoint = h.server.endpoint();
    c.create_table()
        .table_name("ondemand")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create");
    create_provisioned(c, "provisioned", 5, 3).await;
    // 20 writes of 3 units, 10 strongly consistent reads of 1 unit.
    for i in 0..20 {
        let it = item_of_units(&format!("k{i}"), 3);
        c.put_item().table_name("ondemand").set_item(Some(it.clone())).send().await.expect("put");
        c.put_item().table_name("provisioned").set_item(Some(it)).send().await.expect("put");
    }
    for i in 0..10 {
        c.get_item()
            .table_name("ondemand")
            .key("pk", s(&format!("k{i}")))
            .consistent_read(true)
            .send()
            .await
            .expect("get");
    }
    let bill = get_json(&endpoint, "/tidepool/cost").await;
    let table = |name: &str| {
        bill["Tables"].as_array().expect("tables").iter().find(|t| t["TableName"] == name).cloned().expect(name)
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 + 1e-9 * b.abs();
    let od = table("ondemand");
    assert_eq!(od["ConsumedWriteUnits"], 60.0);
    assert_eq!(od["ConsumedReadUnits"], 10.0);
    // Prices since 2024-11-01: $0.625 a million writes, $0.125 reads.
    assert!(close(od["CostSoFar"]["writes"].as_f64().unwrap(), 60.0 / 1e6 * 0.625), "{od}");
    assert!(close(od["CostSoFar"]["reads"].as_f64().unwrap(), 10.0 / 1e6 * 0.125), "{od}");
    // Storage: the items and 100 bytes each, $0.25 a GB-month, for the
    // seconds metered.
    let bytes = od["StorageBytes"].as_f64().unwrap();
    assert_eq!(bytes, 20.0 * (3.0 * 1024.0 + 100.0));
    let secs = od["MeteredSeconds"].as_f64().unwrap();
    let storage = bytes / 1024f64.powi(3) * secs / 3600.0 / 730.0 * 0.25;
    assert!(close(od["CostSoFar"]["storage"].as_f64().unwrap(), storage), "{od}");
    // Provisioned: capacity-hours, used or not.
    let pr = table("provisioned");
    let secs = pr["MeteredSeconds"].as_f64().unwrap();
    assert!(close(pr["CostSoFar"]["reads"].as_f64().unwrap(), 5.0 * secs / 3600.0 * 0.00013), "{pr}");
    assert!(close(pr["CostSoFar"]["writes"].as_f64().unwrap(), 3.0 * secs / 3600.0 * 0.00065), "{pr}");
    assert!(close(pr["ProjectedMonthly"]["writes"].as_f64().unwrap(), 3.0 * 730.0 * 0.00065), "{pr}");
    for t in [&od, &pr] {
        let cheaper = t["ProjectedMonthlyRequests"]["Cheaper"].as_str().unwrap();
        let (on_demand, provisioned) = (
            t["ProjectedMonthlyRequests"]["OnDemand"].as_f64().unwrap(),
            t["ProjectedMonthlyRequests"]["Provisioned"].as_f64().unwrap(),
        );
        assert_eq!(cheaper, if provisioned < on_demand { "PROVISIONED" } else { "PAY_PER_REQUEST" });
    }
    // The free tier (25 GB, 25 RCU, 25 WCU a month) covers the storage and
    // the provisioned capacity: what is left of a month is the on-demand
    // table's requests.
    let requests =
        od["ProjectedMonthly"]["reads"].as_f64().unwrap() + od["ProjectedMonthly"]["writes"].as_f64().unwrap();
    assert!(close(bill["ProjectedMonthlyAfterFreeTier"].as_f64().unwrap(), requests), "{bill}");
    // And the meter is in /metrics.
    let m = common::scrape(&endpoint).await;
    assert!(m.contains_key(r#"tidepool_dynamodb_cost_dollars{"table_name":"ondemand"}"#), "{m:?}");

    // Streams' GetRecords calls are billed per call; a restore per GB
    // restored (the backup's size).
    c.update_table()
        .table_name("ondemand")
        .stream_specification(common::new_and_old_images())
        .send()
        .await
        .expect("stream on");
    let streams = common::streams_client(&endpoint);
    let arn = c.describe_table().table_name("ondemand").send().await.expect("describe");
    let arn = arn.table().and_then(|t| t.latest_stream_arn()).expect("stream").to_string();
    let shard = streams.describe_stream().stream_arn(&arn).send().await.expect("describe stream");
    let shard = shard.stream_description().map(|d| d.shards()[0].shard_id().unwrap_or_default().to_string());
    for _ in 0..3 {
        let it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.clone().unwrap_or_default())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator");
        streams.get_records().shard_iterator(it.shard_iterator().unwrap_or_default()).send().await.expect("records");
    }
    let backup = c.create_backup().table_name("ondemand").backup_name("nightly").send().await.expect("backup");
    let backup_arn = backup.backup_details().map(|d| d.backup_arn().to_string()).expect("arn");
    let backup_bytes = loop {
        let d = c.describe_backup().backup_arn(&backup_arn).send().await.expect("describe backup");
        let d = d.backup_description().and_then(|d| d.backup_details()).expect("details");
        if d.backup_status() == &aws_sdk_dynamodb::types::BackupStatus::Available {
            break d.backup_size_bytes().unwrap_or_default();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    c.restore_table_from_backup().target_table_name("restored").backup_arn(&backup_arn).send().await.expect("restore");
    let bill = get_json(&endpoint, "/tidepool/cost").await;
    let table = |name: &str| {
        bill["Tables"].as_array().expect("tables").iter().find(|t| t["TableName"] == name).cloned().expect(name)
    };
    let od = table("ondemand");
    assert_eq!(od["StreamReadRequestUnits"], 3);
    assert!(close(od["CostSoFar"]["streamReads"].as_f64().unwrap(), 3.0 / 1e5 * 0.02), "{od}");
    let restored = table("restored");
    assert!(backup_bytes > 0);
    assert_eq!(restored["RestoredBytes"], backup_bytes);
    let gb = 1024f64.powi(3);
    assert!(close(restored["CostSoFar"]["restores"].as_f64().unwrap(), backup_bytes as f64 / gb * 0.15), "{restored}");
}

/// `aws application-autoscaling` works unchanged against the server's
/// port: a table's writes registered, a target tracking policy put,
/// described, and both removed; a mistake gets the API's error.
#[test]
fn the_aws_cli_manages_auto_scaling() {
    let cli = common::tools::aws_cli_v1();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (mut server, endpoint) = common::spawn_server(&[std::ffi::OsStr::new("--data-dir"), data.as_os_str()]);
    let aws = |args: &[&str]| -> (bool, serde_json::Value, String) {
        let out = cli.command(&endpoint, dir.path()).args(args).output().expect("run aws");
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.success(), json, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let ok = |args: &[&str]| {
        let (ok, json, err) = aws(args);
        assert!(ok, "aws {args:?}: {err}");
        json
    };
    ok(&[
        "dynamodb",
        "create-table",
        "--table-name",
        "Scaled",
        "--attribute-definitions",
        "AttributeName=pk,AttributeType=S",
        "--key-schema",
        "AttributeName=pk,KeyType=HASH",
        "--provisioned-throughput",
        "ReadCapacityUnits=5,WriteCapacityUnits=5",
    ]);
    let target = ["--service-namespace", "dynamodb", "--resource-id", "table/Scaled"];
    let writes = ["--scalable-dimension", "dynamodb:table:WriteCapacityUnits"];
    let (fine, _, err) =
        aws(&[&["application-autoscaling", "put-scaling-policy", "--policy-name", "w"][..], &target, &writes].concat());
    assert!(!fine && err.contains("ObjectNotFoundException"), "{err}");
    let registered = ok(&[
        &["application-autoscaling", "register-scalable-target"][..],
        &target,
        &writes,
        &["--min-capacity", "10", "--max-capacity", "100"],
    ]
    .concat());
    assert!(
        registered["ScalableTargetARN"].as_str().is_some_and(|a| a.starts_with("arn:aws:application-autoscaling:"))
    );
    // The minimum applies at once.
    let table = ok(&["dynamodb", "describe-table", "--table-name", "Scaled"]);
    assert_eq!(table["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"], 10);
    let policy = ok(&[
        &["application-autoscaling", "put-scaling-policy", "--policy-name", "writes", "--policy-type", "TargetTrackingScaling"][..],
        &target,
        &writes,
        &[
            "--target-tracking-scaling-policy-configuration",
            r#"{"TargetValue":70.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"DynamoDBWriteCapacityUtilization"},"ScaleOutCooldown":60,"ScaleInCooldown":60}"#,
        ],
    ]
    .concat());
    assert_eq!(policy["Alarms"].as_array().map(Vec::len), Some(2), "{policy}");
    let targets = ok(&["application-autoscaling", "describe-scalable-targets", "--service-namespace", "dynamodb"]);
    assert_eq!(targets["ScalableTargets"][0]["MaxCapacity"], 100, "{targets}");
    let policies = ok(&["application-autoscaling", "describe-scaling-policies", "--service-namespace", "dynamodb"]);
    let config = &policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(config["TargetValue"], 70.0, "{policies}");
    let activities = ok(&["application-autoscaling", "describe-scaling-activities", "--service-namespace", "dynamodb"]);
    assert_eq!(
        activities["ScalingActivities"][0]["Description"], "Setting write capacity units to 10.",
        "{activities}"
    );
    ok(&[&["application-autoscaling", "delete-scaling-policy", "--policy-name", "writes"][..], &target, &writes]
        .concat());
    ok(&[&["application-autoscaling", "deregister-scalable-target"][..], &target, &writes].concat());
    let targets = ok(&["application-autoscaling", "describe-scalable-targets", "--service-namespace", "dynamodb"]);
    assert_eq!(targets["ScalableTargets"], serde_json::json!([]));
    let _ = server.kill();
    let _ = server.wait();
}

/// Polls DescribeContributorInsights until the status settles.
async fn insights_settled(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
    index: Option<&str>,
) -> aws_sdk_dynamodb::operation::describe_contributor_insights::DescribeContributorInsightsOutput {
    for _ in 0..100 {
        let d = c
            .describe_contributor_insights()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .send()
            .await
            .expect("describe");
        let status = d.contributor_insights_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        if !matches!(status.as_str(), "ENABLING" | "DISABLING") {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("contributor insights of {table} did not settle");
}

#[tokio::test]
async fn contributor_insights_show_the_hot_key() {
    use aws_sdk_dynamodb::types::{
        ContributorInsightsAction as Action, ContributorInsightsMode as Mode, ContributorInsightsStatus as Status,
        GlobalSecondaryIndex, LocalSecondaryIndex, Projection, ProjectionType,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::start_with(
        dir.path(),
        tidepool::ServerConfig { capacity: tidepool::capacity::Mode::Enforce, ..Default::default() },
    )
    .await;
    let endpoint = server.endpoint();
    let c = no_retry_client(&endpoint);
    let projection = Projection::builder().projection_type(ProjectionType::All).build();
    c.create_table()
        .table_name("orders")
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("owner", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byOwner")
                .key_schema(key_elem("owner", KeyType::Hash))
                .projection(projection.clone())
                .build()
                .expect("gsi"),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("byOwnerLocal")
                .key_schema(key_elem("pk", KeyType::Hash))
                .key_schema(key_elem("owner", KeyType::Range))
                .projection(projection)
                .build()
                .expect("lsi"),
        )
        .send()
        .await
        .expect("create");

    // Never enabled: DISABLED, and nothing more.
    let d = c.describe_contributor_insights().table_name("orders").send().await.expect("describe");
    assert_eq!(d.contributor_insights_status(), Some(&Status::Disabled));
    assert!(d.contributor_insights_mode().is_none() && d.last_update_date_time().is_none());
    assert!(d.contributor_insights_rule_list().is_empty());
    let l = c.list_contributor_insights().send().await.expect("list");
    assert!(l.contributor_insights_summaries().is_empty(), "DISABLED is not listed");

    // Enabling answers ENABLING and settles ENABLED with four rules (the
    // table has a sort key) named as DynamoDB names them.
    let u = c
        .update_contributor_insights()
        .table_name("orders")
        .contributor_insights_action(Action::Enable)
        .send()
        .await
        .expect("enable");
    assert_eq!(u.contributor_insights_status(), Some(&Status::Enabling));
    assert_eq!(u.contributor_insights_mode(), Some(&Mode::AccessedAndThrottledKeys));
    let d = insights_settled(&c, "orders", None).await;
    assert_eq!(d.contributor_insights_status(), Some(&Status::Enabled));
    let rules = d.contributor_insights_rule_list();
    assert_eq!(rules.len(), 4, "{rules:?}");
    for (rule, code) in rules.iter().zip(["PKC", "PKT", "SKC", "SKT"]) {
        let prefix = format!("DynamoDBContributorInsights-{code}-orders-");
        let stamp = rule.strip_prefix(&prefix).unwrap_or_else(|| panic!("{rule} starts with {prefix}"));
        assert!(stamp.len() == 13 && stamp.bytes().all(|b| b.is_ascii_digit()), "a timestamp in ms: {rule}");
    }
    assert!(d.last_update_date_time().is_some());
    // The same ENABLE again changes nothing.
    let again = c
        .update_contributor_insights()
        .table_name("orders")
        .contributor_insights_action(Action::Enable)
        .send()
        .await
        .expect("enable again");
    assert_eq!(again.contributor_insights_status(), Some(&Status::Enabled));

    // The global index has its own setting (two rules: no sort key); a
    // local index and an unknown one have none.
    c.update_contributor_insights()
        .table_name("orders")
        .index_name("byOwner")
        .contributor_insights_action(Action::Enable)
        .send()
        .await
        .expect("enable the index");
    let d = insights_settled(&c, "orders", Some("byOwner")).await;
    assert_eq!(d.contributor_insights_rule_list().len(), 2);
    assert!(d.contributor_insights_rule_list()[0].starts_with("DynamoDBContributorInsights-PKC-orders-byOwner-"));
    for index in ["byOwnerLocal", "nothere"] {
        let err = c.describe_contributor_insights().table_name("orders").index_name(index).send().await;
        let err = err.expect_err("no such global index");
        assert_eq!(code(&err), "ResourceNotFoundException");
        assert_eq!(
            err.into_service_error().meta().message(),
            Some(format!("Requested resource not found: Index: {index} not found for table: orders").as_str())
        );
    }
    // Listed: the table before its index, one a page when asked.
    let l = c.list_contributor_insights().table_name("orders").max_results(1).send().await.expect("list");
    assert_eq!(l.contributor_insights_summaries().len(), 1);
    assert!(l.contributor_insights_summaries()[0].index_name().is_none());
    let token = l.next_token().expect("a second page").to_string();
    let l = c.list_contributor_insights().next_token(token).max_results(1).send().await.expect("page 2");
    assert_eq!(l.contributor_insights_summaries()[0].index_name(), Some("byOwner"));
    assert_eq!(l.contributor_insights_summaries()[0].contributor_insights_status(), Some(&Status::Enabled));
    assert!(l.next_token().is_none());

    // Traffic: one hot partition among cold ones, and a hot owner read
    // through the index.
    for i in 0..30 {
        let it = item(&[("pk", s("hot")), ("sk", n(i)), ("owner", s("alice"))]);
        c.put_item().table_name("orders").set_item(Some(it)).send().await.expect("put hot");
    }
    for i in 0..5 {
        let it = item(&[("pk", s(&format!("cold{i}"))), ("sk", n(1)), ("owner", s("bob"))]);
        c.put_item().table_name("orders").set_item(Some(it)).send().await.expect("put cold");
    }
    for _ in 0..10 {
        c.get_item().table_name("orders").key("pk", s("hot")).key("sk", n(7)).send().await.expect("get");
    }
    for _ in 0..3 {
        c.query()
            .table_name("orders")
            .index_name("byOwner")
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s("alice"))
            .send()
            .await
            .expect("query the index");
    }
    // 1,000 WCU a second on one partition key at most: the third write of
    // 400 units spends it, and the next is throttled.
    let big = |sk: i64| {
        // 399 KB and the sort key: 400 units.
        let mut it = item_of_units("hot", 399);
        it.insert("sk".into(), n(sk));
        it
    };
    let mut throttled = 0;
    for sk in 100..106 {
        if let Err(e) = c.put_item().table_name("orders").set_item(Some(big(sk))).send().await {
            assert_eq!(code(&e), "ThrottlingException", "a hot key of an on-demand table");
            throttled += 1;
        }
    }
    assert!(throttled >= 1, "the hot key was throttled");

    let report = get_json(&endpoint, "/tidepool/insights?table=orders").await;
    let rules = report["Rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 4);
    let (pkc, pkt, skc) = (&rules[0], &rules[1], &rules[2]);
    assert_eq!(pkc["Description"], "Most accessed items (partition key)");
    let top = &pkc["Contributors"][0];
    assert_eq!(top["Keys"], serde_json::json!(["hot"]));
    let hot_events = 30 + 10 + 6;
    assert_eq!(top["ApproximateAggregateValue"], hot_events, "{report:#}");
    assert_eq!(pkc["AggregateValue"], hot_events + 5);
    assert_eq!(pkc["Contributors"].as_array().map(Vec::len), Some(6), "the hot key and five cold ones");
    assert_eq!(pkt["Contributors"], serde_json::json!([{"Keys": ["hot"], "ApproximateAggregateValue": throttled}]));
    assert_eq!(skc["KeyLabels"], serde_json::json!(["PartitionKey", "SortKey"]));
    assert_eq!(skc["Contributors"][0], serde_json::json!({"Keys": ["hot", "7"], "ApproximateAggregateValue": 11}));
    // `/tidepool` answers in the Lambda API's error shape.
    let addr = endpoint.trim_start_matches("http://");
    let a = common::http::send(addr, "GET", "/tidepool/insights?table=missing", &[], b"").await;
    assert_eq!((a.status, a.header("x-amzn-errortype")), (404, Some("ResourceNotFoundException")));
    assert_eq!(a.json()["Type"], "User");
    let a = common::http::send(addr, "GET", "/tidepool/insights?table=orders&minutes=0", &[], b"").await;
    assert_eq!((a.status, a.header("x-amzn-errortype")), (400, Some("InvalidParameterValueException")));
    let report = get_json(&endpoint, "/tidepool/insights?table=orders&index=byOwner&top=1").await;
    assert_eq!(
        report["Rules"][0]["Contributors"],
        serde_json::json!([{"Keys": ["alice"], "ApproximateAggregateValue": 3}])
    );

    // THROTTLED_KEYS narrows the rules in place (the same creation time);
    // DISABLE takes them away.
    let stamp = |d: &aws_sdk_dynamodb::operation::describe_contributor_insights::DescribeContributorInsightsOutput| {
        d.contributor_insights_rule_list()[0].rsplit('-').next().map(str::to_string)
    };
    let before = stamp(&insights_settled(&c, "orders", None).await);
    let u = c
        .update_contributor_insights()
        .table_name("orders")
        .contributor_insights_action(Action::Enable)
        .contributor_insights_mode(Mode::ThrottledKeys)
        .send()
        .await
        .expect("narrow");
    assert_eq!(u.contributor_insights_status(), Some(&Status::Enabling));
    let d = insights_settled(&c, "orders", None).await;
    assert_eq!(d.contributor_insights_mode(), Some(&Mode::ThrottledKeys));
    assert_eq!(d.contributor_insights_rule_list().len(), 2);
    assert!(d.contributor_insights_rule_list()[0].contains("-PKT-orders-"));
    assert_eq!(stamp(&d), before);
    let u = c
        .update_contributor_insights()
        .table_name("orders")
        .index_name("byOwner")
        .contributor_insights_action(Action::Disable)
        .send()
        .await
        .expect("disable");
    assert_eq!(u.contributor_insights_status(), Some(&Status::Disabling));
    let d = insights_settled(&c, "orders", Some("byOwner")).await;
    assert_eq!(d.contributor_insights_status(), Some(&Status::Disabled));
    assert!(d.contributor_insights_rule_list().is_empty());
    let l = c.list_contributor_insights().send().await.expect("list");
    assert_eq!(l.contributor_insights_summaries().len(), 1, "the index is DISABLED now");

    // Validation comes first and reports every violation; a missing table
    // is ResourceNotFoundException.
    let err = c
        .update_contributor_insights()
        .table_name("orders")
        .index_name("x")
        .contributor_insights_action(Action::from("START"))
        .send()
        .await
        .expect_err("invalid");
    assert_eq!(code(&err), "ValidationException");
    let message = err.into_service_error().meta().message().unwrap_or_default().to_string();
    assert!(message.starts_with("2 validation errors detected: "), "{message}");
    assert!(message.contains("Value 'START' at 'contributorInsightsAction'"), "{message}");
    let err = c.describe_contributor_insights().table_name("missing").send().await.expect_err("missing");
    assert_eq!(code(&err), "ResourceNotFoundException");

    // The settings survive a restart, and counting goes on.
    server.stop().await.expect("stop");
    let server = common::start_with(
        dir.path(),
        tidepool::ServerConfig { capacity: tidepool::capacity::Mode::Enforce, ..Default::default() },
    )
    .await;
    let endpoint = server.endpoint();
    let c = no_retry_client(&endpoint);
    let d = c.describe_contributor_insights().table_name("orders").send().await.expect("describe");
    assert_eq!(d.contributor_insights_status(), Some(&Status::Enabled));
    assert_eq!(d.contributor_insights_mode(), Some(&Mode::ThrottledKeys));
    assert_eq!(stamp(&d), before);
    let mut throttled = 0;
    for sk in 200..206 {
        if c.put_item().table_name("orders").set_item(Some(big(sk))).send().await.is_err() {
            throttled += 1;
        }
    }
    let report = get_json(&endpoint, "/tidepool/insights?table=orders&top=1").await;
    assert_eq!(report["Rules"][0]["Contributors"][0]["ApproximateAggregateValue"], throttled, "{report:#}");

    // A table deleted and made again starts without insights.
    c.delete_table().table_name("orders").send().await.expect("delete");
    create_table(&c, "orders", None).await;
    let d = c.describe_contributor_insights().table_name("orders").send().await.expect("describe");
    assert_eq!(d.contributor_insights_status(), Some(&Status::Disabled));
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn contributor_insights_past_the_rule_quota_fail_and_take_none() {
    use aws_sdk_dynamodb::types::{ContributorInsightsAction as Action, ContributorInsightsStatus as Status};
    let h = harness().await;
    let c = no_retry_client(&h.server.endpoint());
    let enable = |name: String| {
        let c = c.clone();
        async move {
            let u = c.update_contributor_insights().table_name(name).contributor_insights_action(Action::Enable);
            let u = u.send().await.expect("enable");
            assert_eq!(u.contributor_insights_status(), Some(&Status::Enabling), "accepted either way");
        }
    };
    // CloudWatch's 100 rules: a table without a sort key takes two, one
    // with a sort key four. 2 + 24 * 4 = 98, and four more are too many.
    create_table(&c, "quota", None).await;
    enable("quota".into()).await;
    for i in 0..25 {
        let name = format!("quota-{i:02}");
        create_table(&c, &name, Some(ScalarAttributeType::S)).await;
        enable(name).await;
    }
    let d = insights_settled(&c, "quota-23", None).await;
    assert_eq!(d.contributor_insights_status(), Some(&Status::Enabled));
    let d = insights_settled(&c, "quota-24", None).await;
    assert_eq!(d.contributor_insights_status(), Some(&Status::Failed));
    assert!(d.contributor_insights_rule_list().is_empty(), "a failed enable creates no rules");
    let failure = d.failure_exception().expect("the failure");
    assert_eq!(failure.exception_name(), Some("LimitExceededException"));
    // FAILED is listed; pages of two walk all 26 in order ("quota" before
    // "quota-00").
    let (mut listed, mut token) = (Vec::new(), None);
    loop {
        let l = c.list_contributor_insights().max_results(2).set_next_token(token).send().await.expect("list");
        listed
            .extend(l.contributor_insights_summaries().iter().map(|s| s.table_name().unwrap_or_default().to_string()));
        token = l.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        assert!(listed.len() <= 26, "the pages end: {listed:?}");
    }
    let mut expected: Vec<String> = (0..25).map(|i| format!("quota-{i:02}")).collect();
    expected.insert(0, "quota".into());
    assert_eq!(listed, expected);
    // Freeing two rules lets the four of the failed table in.
    c.update_contributor_insights()
        .table_name("quota")
        .contributor_insights_action(Action::Disable)
        .send()
        .await
        .expect("disable one");
    enable("quota-24".into()).await;
    let d = insights_settled(&c, "quota-24", None).await;
    assert_eq!(d.contributor_insights_status(), Some(&Status::Enabled));
    assert!(d.failure_exception().is_none());
}

#[tokio::test]
async fn capacity_decreases_are_limited_per_utc_day() {
    let h = harness().await;
    let c = no_retry_client(&h.server.endpoint());
    create_provisioned(&c, "shrinking", 50, 50).await;
    let set = |read: i64| {
        let t = aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
            .read_capacity_units(read)
            .write_capacity_units(50)
            .build()
            .expect("throughput");
        c.update_table().table_name("shrinking").provisioned_throughput(t).send()
    };
    // An increase, then DynamoDB's four decreases at any time of the day.
    set(60).await.expect("an increase");
    for read in [40, 30, 20, 10] {
        set(read).await.expect("one of the first four decreases");
    }
    let d = c.describe_table().table_name("shrinking").send().await.expect("describe");
    let pt = d.table().and_then(|t| t.provisioned_throughput()).expect("throughput");
    assert_eq!(pt.number_of_decreases_today(), Some(4));
    assert!(pt.last_increase_date_time().is_some() && pt.last_decrease_date_time().is_some());
    // A fifth within the hour is refused, in DynamoDB's words; increases
    // are not limited.
    let err = set(5).await.expect_err("a fifth decrease within the hour");
    assert_eq!(code(&err), "LimitExceededException");
    let message = err.into_service_error().meta().message().unwrap_or_default().to_string();
    assert!(
        message.starts_with(
            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. \
             After the first 4 decreases, each subsequent decrease in the same UTC day can be performed at most once \
             every 3600 seconds. Number of decreases today: 4. Last decrease at "
        ),
        "{message}"
    );
    let d = c.describe_table().table_name("shrinking").send().await.expect("describe");
    let pt = d.table().and_then(|t| t.provisioned_throughput()).expect("throughput");
    assert_eq!(pt.read_capacity_units(), Some(10), "the refused decrease changed nothing");
    assert!(message.contains(". Next decrease can be made at "), "{message}");
    set(100).await.expect("an increase");
}

/// A global index's warm throughput is kept: given at CreateTable or by
/// UpdateTable, described, and never lowered.
#[tokio::test]
async fn an_index_keeps_its_warm_throughput() {
    use aws_sdk_dynamodb::types::{
        BillingMode, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeyType, Projection, ProjectionType,
        ScalarAttributeType, UpdateGlobalSecondaryIndexAction, WarmThroughput,
    };
    let h = harness().await;
    let c = &h.client;
    let warm = |read: Option<i64>, write: Option<i64>| {
        WarmThroughput::builder().set_read_units_per_second(read).set_write_units_per_second(write).build()
    };
    c.create_table()
        .table_name("warm")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-g")
                .key_schema(key_elem("g", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .warm_throughput(warm(Some(15_000), None))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create");
    let described = || async {
        let t = c.describe_table().table_name("warm").send().await.unwrap().table.unwrap();
        let w = t.global_secondary_indexes()[0].warm_throughput().cloned().unwrap();
        (w.read_units_per_second(), w.write_units_per_second())
    };
    assert_eq!(described().await, (Some(15_000), Some(4_000)));
    let update = |w: WarmThroughput| {
        c.update_table().table_name("warm").global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .update(
                    UpdateGlobalSecondaryIndexAction::builder().index_name("by-g").warm_throughput(w).build().unwrap(),
                )
                .build(),
        )
    };
    update(warm(None, Some(5_000))).send().await.expect("raise the writes");
    assert_eq!(described().await, (Some(15_000), Some(5_000)));
    let e = update(warm(Some(13_000), None)).send().await.expect_err("lower");
    assert_eq!(
        e.into_service_error().meta().message(),
        Some(
            "One or more parameter values were invalid: Requested ReadUnitsPerSecond for WarmThroughput for index by-g is lower than current WarmThroughput, decreasing WarmThroughput is not supported"
        )
    );
}
