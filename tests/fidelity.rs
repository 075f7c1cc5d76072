//! End-to-end fidelity tests: details of DynamoDB's answers that SDKs and
//! applications read, checked through the real server with the official
//! `aws-sdk-dynamodb` crate. They cover the shape and amounts of
//! ConsumedCapacity (per table and per index, for single-item operations,
//! queries, transactions and idempotent replays), ItemCollectionMetrics,
//! `size()` of strings, redundant parentheses in expressions, the Select and
//! projection conflicts, SSE and on-demand throughput settings, UpdateTable
//! no-ops and duplicate items in TransactGetItems.
//!
//! The expected answers are DynamoDB's, as recorded against the live service
//! by the public conformance suite nubo-db/dynamodb-conformance.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, Capacity, ConsumedCapacity, Get, GlobalSecondaryIndex, ItemCollectionMetrics, KeyType,
    LocalSecondaryIndex, OnDemandThroughput, Projection, ProjectionType, ProvisionedThroughput, Put,
    ReturnConsumedCapacity, ReturnItemCollectionMetrics, ScalarAttributeType, Select, SseSpecification, SseStatus,
    SseType, Tag, TransactGetItem, TransactWriteItem, Update,
};
use common::{attr_def, code, create_table, harness, key_elem, n, s};

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The error code and message of a request that must fail.
fn failure<T: std::fmt::Debug, E: ProvideErrorMetadata, R>(res: Result<T, SdkError<E, R>>) -> (String, String) {
    let err = res.expect_err("the request should fail");
    (code(&err), err.meta().message().unwrap_or_default().to_string())
}

/// Asserts that a per-table or per-index entry carries only `CapacityUnits`.
fn assert_no_split(label: &str, c: &Capacity) {
    assert_eq!(c.read_capacity_units(), None, "{label}: ReadCapacityUnits");
    assert_eq!(c.write_capacity_units(), None, "{label}: WriteCapacityUnits");
}

/// The units of index `name` in an INDEXES map, checking the entry has no read/write split.
fn index_units(label: &str, map: Option<&HashMap<String, Capacity>>, name: &str) -> Option<f64> {
    let entry = map?.get(name)?;
    assert_no_split(&format!("{label}, index {name}"), entry);
    entry.capacity_units()
}

/// What a ConsumedCapacity entry should say.
struct Expected {
    total: f64,
    table: f64,
    gsi: Option<f64>,
    lsi: Option<f64>,
}

/// Checks a ConsumedCapacity entry asked for with INDEXES against `want`;
/// `gsi` and `lsi` name the indexes of the table (when it has them).
fn check_indexes(label: &str, cc: &ConsumedCapacity, want: &Expected, gsi: &str, lsi: &str) {
    assert_eq!(cc.capacity_units(), Some(want.total), "{label}: total CapacityUnits");
    assert_eq!(cc.read_capacity_units(), None, "{label}: ReadCapacityUnits");
    assert_eq!(cc.write_capacity_units(), None, "{label}: WriteCapacityUnits");
    let table = cc.table().unwrap_or_else(|| panic!("{label}: no Table entry"));
    assert_no_split(&format!("{label}, Table"), table);
    assert_eq!(table.capacity_units(), Some(want.table), "{label}: Table CapacityUnits");
    assert_eq!(index_units(label, cc.global_secondary_indexes(), gsi), want.gsi, "{label}: {gsi}");
    assert_eq!(index_units(label, cc.local_secondary_indexes(), lsi), want.lsi, "{label}: {lsi}");
    if want.gsi.is_none() {
        assert!(cc.global_secondary_indexes().is_none(), "{label}: {:?}", cc.global_secondary_indexes());
    }
    if want.lsi.is_none() {
        assert!(cc.local_secondary_indexes().is_none(), "{label}: {:?}", cc.local_secondary_indexes());
    }
}

/// A pay-per-request table `pk`(S) + `sk`(S) with a GSI `gsi-inc` on `gsiPk`
/// (INCLUDE `proj`) and an LSI `lsi1` on `pk` + `lsiSk` (ALL).
async fn create_indexed_table(c: &aws_sdk_dynamodb::Client, name: &str) {
    c.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gsiPk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lsiSk", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi-inc")
                .key_schema(key_elem("gsiPk", KeyType::Hash))
                .projection(
                    Projection::builder().projection_type(ProjectionType::Include).non_key_attributes("proj").build(),
                )
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("lsi1")
                .key_schema(key_elem("pk", KeyType::Hash))
                .key_schema(key_elem("lsiSk", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn single_item_operations_and_queries_report_capacity_units_only() {
    let h = harness().await;
    let c = &h.client;
    // A table with a GSI `by-gk` projecting everything, so INDEXES has a GSI entry to check.
    c.create_table()
        .table_name("cap")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("gk", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-gk")
                .key_schema(key_elem("gk", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    for level in [ReturnConsumedCapacity::Total, ReturnConsumedCapacity::Indexes] {
        let pk = format!("item-{}", level.as_str());
        let mut seen: Vec<(&str, Option<ConsumedCapacity>, Expected)> = Vec::new();
        let put = c
            .put_item()
            .table_name("cap")
            .set_item(Some(item(&[("pk", s(&pk)), ("gk", s("x")), ("v", n(1))])))
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        seen.push(("PutItem", put.consumed_capacity, Expected { total: 2.0, table: 1.0, gsi: Some(1.0), lsi: None }));
        let get = c
            .get_item()
            .table_name("cap")
            .key("pk", s(&pk))
            .consistent_read(true)
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        assert!(get.item.is_some());
        seen.push((
            "GetItem consistent",
            get.consumed_capacity,
            Expected { total: 1.0, table: 1.0, gsi: None, lsi: None },
        ));
        let get = c
            .get_item()
            .table_name("cap")
            .key("pk", s(&pk))
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        seen.push((
            "GetItem eventually consistent",
            get.consumed_capacity,
            Expected { total: 0.5, table: 0.5, gsi: None, lsi: None },
        ));
        let update = c
            .update_item()
            .table_name("cap")
            .key("pk", s(&pk))
            .update_expression("SET #o = :v")
            .expression_attribute_names("#o", "other")
            .expression_attribute_values(":v", s("changed"))
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        seen.push((
            "UpdateItem",
            update.consumed_capacity,
            Expected { total: 2.0, table: 1.0, gsi: Some(1.0), lsi: None },
        ));
        let query = c
            .query()
            .table_name("cap")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(&pk))
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(query.count, 1);
        seen.push(("Query", query.consumed_capacity, Expected { total: 0.5, table: 0.5, gsi: None, lsi: None }));
        let delete = c
            .delete_item()
            .table_name("cap")
            .key("pk", s(&pk))
            .return_consumed_capacity(level.clone())
            .send()
            .await
            .unwrap();
        seen.push((
            "DeleteItem",
            delete.consumed_capacity,
            Expected { total: 2.0, table: 1.0, gsi: Some(1.0), lsi: None },
        ));

        assert_eq!(seen.len(), 6);
        for (op, cc, want) in &seen {
            let label = format!("{op} with {}", level.as_str());
            let cc = cc.as_ref().unwrap_or_else(|| panic!("{label}: no ConsumedCapacity"));
            assert_eq!(cc.table_name(), Some("cap"), "{label}");
            if level == ReturnConsumedCapacity::Indexes {
                check_indexes(&label, cc, want, "by-gk", "none");
            } else {
                assert_eq!(cc.capacity_units(), Some(want.total), "{label}: CapacityUnits");
                assert_eq!(cc.read_capacity_units(), None, "{label}: ReadCapacityUnits");
                assert_eq!(cc.write_capacity_units(), None, "{label}: WriteCapacityUnits");
                assert!(cc.table().is_none(), "{label}: Table is only for INDEXES");
                assert!(cc.global_secondary_indexes().is_none(), "{label}: indexes are only for INDEXES");
            }
        }
    }
}

#[tokio::test]
async fn transactions_report_read_or_write_capacity_units() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "txcap", None).await;
    let put = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder().table_name("txcap").set_item(Some(item(&[("pk", s(pk)), ("v", n(1))]))).build().unwrap(),
            )
            .build()
    };
    let written = c
        .transact_write_items()
        .transact_items(put("a"))
        .transact_items(put("b"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let get = |pk: &str| {
        TransactGetItem::builder().get(Get::builder().table_name("txcap").key("pk", s(pk)).build().unwrap()).build()
    };
    let read = c
        .transact_get_items()
        .transact_items(get("a"))
        .transact_items(get("b"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(read.responses().iter().filter(|r| r.item().is_some()).count(), 2);

    // (operation, entries, CapacityUnits, ReadCapacityUnits, WriteCapacityUnits)
    let cases = [
        ("TransactWriteItems", written.consumed_capacity(), 4.0, None, Some(4.0)),
        ("TransactGetItems", read.consumed_capacity(), 4.0, Some(4.0), None),
    ];
    for (op, entries, total, read_units, write_units) in cases {
        assert_eq!(entries.len(), 1, "{op}: one entry per table: {entries:?}");
        let cc = &entries[0];
        assert_eq!(cc.table_name(), Some("txcap"), "{op}");
        assert_eq!(cc.capacity_units(), Some(total), "{op}: CapacityUnits");
        assert_eq!(cc.read_capacity_units(), read_units, "{op}: ReadCapacityUnits");
        assert_eq!(cc.write_capacity_units(), write_units, "{op}: WriteCapacityUnits");
    }
}

#[tokio::test]
async fn index_write_capacity_counts_what_each_index_stores() {
    let h = harness().await;
    let c = &h.client;
    create_indexed_table(c, "idxcap").await;

    // PutItem, in order: the last case repeats the one before it.
    let put_cases = [
        (
            "put with gsiPk and proj",
            item(&[("pk", s("p1")), ("sk", s("a")), ("gsiPk", s("g1")), ("proj", s("x"))]),
            Expected { total: 2.0, table: 1.0, gsi: Some(1.0), lsi: None },
        ),
        (
            "put with no index attribute",
            item(&[("pk", s("p2")), ("sk", s("a")), ("other", s("x"))]),
            Expected { total: 1.0, table: 1.0, gsi: None, lsi: None },
        ),
        (
            "put with gsiPk, lsiSk and proj",
            item(&[("pk", s("p3")), ("sk", s("a")), ("gsiPk", s("g3")), ("lsiSk", s("l3")), ("proj", s("x"))]),
            Expected { total: 3.0, table: 1.0, gsi: Some(1.0), lsi: Some(1.0) },
        ),
        (
            "the identical put again",
            item(&[("pk", s("p3")), ("sk", s("a")), ("gsiPk", s("g3")), ("lsiSk", s("l3")), ("proj", s("x"))]),
            Expected { total: 1.0, table: 1.0, gsi: None, lsi: None },
        ),
    ];
    for (label, it, want) in &put_cases {
        let out = c
            .put_item()
            .table_name("idxcap")
            .set_item(Some(it.clone()))
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await
            .unwrap();
        let cc = out.consumed_capacity.unwrap_or_else(|| panic!("{label}: no ConsumedCapacity"));
        check_indexes(label, &cc, want, "gsi-inc", "lsi1");
    }

    // UpdateItem, each on a freshly seeded item carrying every index attribute:
    // (label, attribute, new value or None to REMOVE it, total, GSI units, LSI units).
    let update_cases = [
        ("SET other (projected by the LSI only)", "other", Some(s("new")), 2.0, None, Some(1.0)),
        ("SET proj (projected by both)", "proj", Some(s("new")), 3.0, Some(1.0), Some(1.0)),
        ("SET gsiPk to a new value", "gsiPk", Some(s("moved")), 4.0, Some(2.0), Some(1.0)),
        ("REMOVE gsiPk", "gsiPk", None, 3.0, Some(1.0), Some(1.0)),
        ("SET lsiSk to a new value", "lsiSk", Some(s("moved")), 3.0, None, Some(2.0)),
    ];
    for (i, (label, attr, value, total, gsi, lsi)) in update_cases.into_iter().enumerate() {
        let pk = format!("u{i}");
        c.put_item()
            .table_name("idxcap")
            .set_item(Some(item(&[
                ("pk", s(&pk)),
                ("sk", s("a")),
                ("gsiPk", s("g")),
                ("lsiSk", s("l")),
                ("proj", s("p")),
                ("other", s("o")),
            ])))
            .send()
            .await
            .unwrap();
        let out = c
            .update_item()
            .table_name("idxcap")
            .key("pk", s(&pk))
            .key("sk", s("a"))
            .update_expression(if value.is_some() { "SET #a = :v" } else { "REMOVE #a" })
            .expression_attribute_names("#a", attr)
            .set_expression_attribute_values(value.map(|v| item(&[(":v", v)])))
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await
            .unwrap();
        let cc = out.consumed_capacity.unwrap_or_else(|| panic!("{label}: no ConsumedCapacity"));
        check_indexes(label, &cc, &Expected { total, table: 1.0, gsi, lsi }, "gsi-inc", "lsi1");
    }
}

#[tokio::test]
async fn item_collection_metrics_only_for_tables_with_an_lsi() {
    let h = harness().await;
    let c = &h.client;
    create_indexed_table(c, "with-lsi").await;
    create_table(c, "without-lsi", Some(ScalarAttributeType::S)).await;

    let mut seen: Vec<(String, Option<ItemCollectionMetrics>, bool, String)> = Vec::new();
    for (table, has_lsi) in [("with-lsi", true), ("without-lsi", false)] {
        for metrics in [ReturnItemCollectionMetrics::Size, ReturnItemCollectionMetrics::None] {
            let pk = format!("{table}-{}", metrics.as_str());
            let want = has_lsi && metrics == ReturnItemCollectionMetrics::Size;
            let label = |op: &str| format!("{op} on {table} with {}", metrics.as_str());
            let put = c
                .put_item()
                .table_name(table)
                .set_item(Some(item(&[("pk", s(&pk)), ("sk", s("a")), ("lsiSk", s("l"))])))
                .return_item_collection_metrics(metrics.clone())
                .send()
                .await
                .unwrap();
            seen.push((label("PutItem"), put.item_collection_metrics, want, pk.clone()));
            let update = c
                .update_item()
                .table_name(table)
                .key("pk", s(&pk))
                .key("sk", s("a"))
                .update_expression("SET v = :v")
                .expression_attribute_values(":v", n(1))
                .return_item_collection_metrics(metrics.clone())
                .send()
                .await
                .unwrap();
            seen.push((label("UpdateItem"), update.item_collection_metrics, want, pk.clone()));
            let delete = c
                .delete_item()
                .table_name(table)
                .key("pk", s(&pk))
                .key("sk", s("a"))
                .return_item_collection_metrics(metrics.clone())
                .send()
                .await
                .unwrap();
            seen.push((label("DeleteItem"), delete.item_collection_metrics, want, pk));
        }
    }

    assert_eq!(seen.len(), 12);
    for (label, metrics, want, pk) in seen {
        if !want {
            assert!(metrics.is_none(), "{label}: {metrics:?}");
            continue;
        }
        let metrics = metrics.unwrap_or_else(|| panic!("{label}: no ItemCollectionMetrics"));
        assert_eq!(metrics.item_collection_key(), Some(&item(&[("pk", s(&pk))])), "{label}");
        assert_eq!(metrics.size_estimate_range_gb().len(), 2, "{label}: {metrics:?}");
    }
}

#[tokio::test]
async fn size_of_a_string_counts_utf16_code_units() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "sizes", None).await;
    // "é" is one UTF-16 code unit (two UTF-8 bytes); U+1D11E is two (four bytes).
    c.put_item()
        .table_name("sizes")
        .set_item(Some(item(&[("pk", s("k")), ("s", s("é\u{1d11e}"))])))
        .send()
        .await
        .unwrap();

    for (expected, matches) in [(3, true), (6, false), (2, false)] {
        let out = c
            .scan()
            .table_name("sizes")
            .filter_expression("size(s) = :len")
            .expression_attribute_values(":len", n(expected))
            .send()
            .await
            .unwrap();
        assert_eq!(out.count, i32::from(matches), "size(s) = {expected}");
        assert_eq!(out.scanned_count, 1);
    }
}

#[tokio::test]
async fn redundant_parentheses_are_rejected_outside_key_conditions() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "parens", Some(ScalarAttributeType::S)).await;
    c.put_item()
        .table_name("parens")
        .set_item(Some(item(&[("pk", s("p")), ("sk", s("s")), ("a", n(1))])))
        .send()
        .await
        .unwrap();

    let accepted = c
        .query()
        .table_name("parens")
        .key_condition_expression("((#pk = :pk)) AND ((#sk = :sk))")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#sk", "sk")
        .expression_attribute_values(":pk", s("p"))
        .expression_attribute_values(":sk", s("s"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.items(), [item(&[("pk", s("p")), ("sk", s("s")), ("a", n(1))])]);

    let rejected = [
        (
            "Query FilterExpression",
            failure(
                c.query()
                    .table_name("parens")
                    .key_condition_expression("pk = :pk")
                    .filter_expression("((a = :v))")
                    .expression_attribute_values(":pk", s("p"))
                    .expression_attribute_values(":v", n(1))
                    .send()
                    .await,
            ),
        ),
        (
            "Scan FilterExpression",
            failure(
                c.scan()
                    .table_name("parens")
                    .filter_expression("((a = :v))")
                    .expression_attribute_values(":v", n(1))
                    .send()
                    .await,
            ),
        ),
        (
            "PutItem ConditionExpression",
            failure(
                c.put_item()
                    .table_name("parens")
                    .set_item(Some(item(&[("pk", s("p")), ("sk", s("s")), ("a", n(2))])))
                    .condition_expression("((a = :v))")
                    .expression_attribute_values(":v", n(1))
                    .send()
                    .await,
            ),
        ),
        (
            "DeleteItem ConditionExpression",
            failure(
                c.delete_item()
                    .table_name("parens")
                    .key("pk", s("p"))
                    .key("sk", s("s"))
                    .condition_expression("((a = :v))")
                    .expression_attribute_values(":v", n(1))
                    .send()
                    .await,
            ),
        ),
    ];
    for (label, (code, message)) in &rejected {
        assert_eq!(code, "ValidationException", "{label}: {message}");
        assert!(message.contains("redundant parentheses"), "{label}: {message}");
    }
    // None of the rejected writes happened.
    let still = c.get_item().table_name("parens").key("pk", s("p")).key("sk", s("s")).send().await.unwrap();
    assert_eq!(still.item.unwrap()["a"], n(1));
}

#[tokio::test]
async fn select_conflicts_with_projections() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "sel", None).await;
    let query =
        || c.query().table_name("sel").key_condition_expression("pk = :p").expression_attribute_values(":p", s("x"));

    let cases = [
        (
            "Query ALL_ATTRIBUTES + ProjectionExpression",
            failure(query().select(Select::AllAttributes).projection_expression("pk").send().await),
            "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
        ),
        (
            "Query COUNT + ProjectionExpression",
            failure(query().select(Select::Count).projection_expression("pk").send().await),
            // Enveloped in a Query alone (ExtendDB's capture, us-east-1, 2026).
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count",
        ),
        (
            "Scan ALL_ATTRIBUTES + AttributesToGet",
            failure(c.scan().table_name("sel").select(Select::AllAttributes).attributes_to_get("pk").send().await),
            "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES",
        ),
    ];
    for (label, (code, message), want) in cases {
        assert_eq!(code, "ValidationException", "{label}");
        assert_eq!(message, want, "{label}");
    }
}

#[tokio::test]
async fn sse_and_on_demand_throughput_round_trip() {
    let h = harness().await;
    let c = &h.client;
    let create = |name: &str| {
        c.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_elem("pk", KeyType::Hash))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
    };
    create("encrypted").sse_specification(SseSpecification::builder().enabled(true).build()).send().await.unwrap();
    create("plain").send().await.unwrap();
    create("capped")
        .on_demand_throughput(
            OnDemandThroughput::builder().max_read_request_units(10).max_write_request_units(5).build(),
        )
        .send()
        .await
        .unwrap();
    let describe = |name: &'static str| async move {
        c.describe_table().table_name(name).send().await.unwrap().table.unwrap_or_else(|| panic!("{name}: no Table"))
    };

    let sse = describe("encrypted").await.sse_description.expect("SSEDescription");
    assert_eq!(sse.status(), Some(&SseStatus::Enabled));
    assert_eq!(sse.sse_type(), Some(&SseType::Kms));
    let arn = sse.kms_master_key_arn().unwrap_or_default();
    assert!(arn.starts_with("arn:aws:kms:"), "{arn}");
    let plain = describe("plain").await;
    assert!(plain.sse_description.is_none(), "{:?}", plain.sse_description);

    let limits = |t: &aws_sdk_dynamodb::types::TableDescription| {
        let o = t.on_demand_throughput().expect("OnDemandThroughput");
        (o.max_read_request_units(), o.max_write_request_units())
    };
    assert_eq!(limits(&describe("capped").await), (Some(10), Some(5)));
    c.update_table()
        .table_name("capped")
        .on_demand_throughput(
            OnDemandThroughput::builder().max_read_request_units(20).max_write_request_units(15).build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(limits(&describe("capped").await), (Some(20), Some(15)));

    // Re-sends DynamoDB refuses: the default encryption of a table that
    // has it, and the table's own key by its ARN; a key needs SSEType.
    let invalid = "One or more parameter values were invalid: ";
    let update_sse =
        |name: &'static str, spec: SseSpecification| c.update_table().table_name(name).sse_specification(spec).send();
    assert_eq!(
        failure(update_sse("plain", SseSpecification::builder().enabled(false).build()).await).1,
        format!("{invalid}Table is already encrypted by default")
    );
    assert_eq!(
        failure(update_sse("encrypted", SseSpecification::builder().kms_master_key_id(arn).build()).await).1,
        format!("{invalid}SSEType KMS is required if KMSMasterKeyId is specified")
    );
    let same_key = SseSpecification::builder().enabled(true).sse_type(SseType::Kms).kms_master_key_id(arn).build();
    assert_eq!(
        failure(update_sse("encrypted", same_key).await).1,
        format!(
            "{invalid}Table is already encrypted with given KMSMasterKeyId. Use KMSMasterKeyId parameter if you want to change Master Key"
        )
    );
    update_sse("encrypted", SseSpecification::builder().enabled(false).build()).await.expect("back to the default key");
    assert!(describe("encrypted").await.sse_description.is_none());
}

#[tokio::test]
async fn update_table_without_a_change() {
    let h = harness().await;
    let c = &h.client;
    let throughput =
        || ProvisionedThroughput::builder().read_capacity_units(5).write_capacity_units(5).build().unwrap();
    c.create_table()
        .table_name("prov")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput())
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .send()
        .await
        .unwrap();
    let (code, message) =
        failure(c.update_table().table_name("prov").provisioned_throughput(throughput()).send().await);
    assert_eq!(code, "ValidationException");
    assert!(message.starts_with("The provisioned throughput for the table will not change."), "{message}");

    create_table(c, "ondemand", None).await;
    let out = c.update_table().table_name("ondemand").billing_mode(BillingMode::PayPerRequest).send().await.unwrap();
    let summary = out.table_description.and_then(|t| t.billing_mode_summary).expect("BillingModeSummary");
    assert_eq!(summary.billing_mode(), Some(&BillingMode::PayPerRequest));
}

/// Table settings refused in DynamoDB's words (the AWS error catalogue of
/// 2026-10): a malformed table name before the lookup, every constraint it
/// breaks; an unknown table class; tags without a key or a value.
#[tokio::test]
async fn table_settings_are_refused_in_dynamodbs_words() {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    let h = harness().await;
    let c = &h.client;
    create_table(c, "settings", None).await;
    let short = "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3";
    assert_eq!(
        failure(c.update_table().table_name("ab").deletion_protection_enabled(true).send().await),
        ("ValidationException".into(), short.into())
    );
    assert_eq!(failure(c.describe_time_to_live().table_name("ab").send().await).1, short);
    let (_, two) = failure(c.describe_time_to_live().table_name("a!").send().await);
    assert!(two.starts_with("2 validation errors detected: Value 'a!' at 'tableName'"), "{two}");
    assert_eq!(
        failure(
            c.update_table()
                .table_name("settings")
                .table_class(aws_sdk_dynamodb::types::TableClass::from("GLACIER"))
                .send()
                .await
        )
        .1,
        "Invalid table-class parameter provided. Please try again with a valid table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS]."
    );
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/settings";
    assert_eq!(
        failure(c.untag_resource().resource_arn(arn).tag_keys("").send().await).1,
        "The Tag Key provided is invalid, Key: "
    );

    // A request that changes nothing, before the lookup; the list leaves
    // out what the request has.
    let all = "ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required";
    assert_eq!(
        failure(c.update_table().table_name("no-such-table").send().await),
        ("ValidationException".into(), format!("At least one of {all}"))
    );
    assert_eq!(
        failure(
            c.update_table()
                .table_name("settings")
                .multi_region_consistency(aws_sdk_dynamodb::types::MultiRegionConsistency::Strong)
                .send()
                .await
        )
        .1,
        format!("At least one of {}", all.replace("MultiRegionConsistency, ", ""))
    );
    // Warm throughput is a change of its own; deletion protection is
    // named first.
    let warm = aws_sdk_dynamodb::types::WarmThroughput::builder().read_units_per_second(20_000).build();
    let keys_only = || {
        StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::KeysOnly).build().unwrap()
    };
    let invalid = "One or more parameter values were invalid: ";
    assert_eq!(
        failure(
            c.update_table()
                .table_name("settings")
                .warm_throughput(warm.clone())
                .table_class(aws_sdk_dynamodb::types::TableClass::Standard)
                .send()
                .await
        )
        .1,
        format!("{invalid}TableClass modification must be the only operation in the request")
    );
    assert_eq!(
        failure(
            c.update_table()
                .table_name("settings")
                .warm_throughput(warm.clone())
                .stream_specification(keys_only())
                .send()
                .await
        )
        .1,
        format!("{invalid}WarmThroughput must be the only operation in the request")
    );
    assert_eq!(
        failure(
            c.update_table()
                .table_name("settings")
                .billing_mode(BillingMode::Provisioned)
                .stream_specification(keys_only())
                .send()
                .await
        )
        .1,
        format!("{invalid}You cannot modify stream status while updating table IOPS")
    );
    c.update_table().table_name("settings").warm_throughput(warm).send().await.expect("warm throughput alone");
    // A provisioned table's warm throughput follows its capacity: above it
    // is taken, below it is a decrease.
    c.create_table()
        .table_name("provisioned-warm")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder().read_capacity_units(5).write_capacity_units(5).build().unwrap(),
        )
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .send()
        .await
        .unwrap();
    let units = |n: i64| {
        aws_sdk_dynamodb::types::WarmThroughput::builder().read_units_per_second(n).write_units_per_second(n).build()
    };
    c.update_table()
        .table_name("provisioned-warm")
        .warm_throughput(units(50))
        .send()
        .await
        .expect("above the capacity");
    assert_eq!(
        failure(c.update_table().table_name("provisioned-warm").warm_throughput(units(10)).send().await).1,
        format!(
            "{invalid}Requested ReadUnitsPerSecond for WarmThroughput for table is lower than current WarmThroughput, decreasing WarmThroughput is not supported"
        )
    );

    // A stream view type by its path, the values in DynamoDB's order.
    let lower = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from("new_image"))
        .build()
        .unwrap();
    assert_eq!(
        failure(c.update_table().table_name("settings").stream_specification(lower).send().await).1,
        "1 validation error detected: Value 'new_image' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [OLD_IMAGE, KEYS_ONLY, NEW_AND_OLD_IMAGES, NEW_IMAGE]"
    );

    // Definitions no key uses, with indexes: both sets named.
    let unused = c
        .create_table()
        .table_name("unused")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("extra", ScalarAttributeType::N))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .key_schema(key_elem("pk", KeyType::Hash))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name("by-g")
                .key_schema(key_elem("g", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await;
    assert_eq!(
        failure(unused).1,
        format!(
            "{invalid}Some AttributeDefinitions are not used. AttributeDefinitions: [pk, extra, g], keys used: [pk, g]"
        )
    );

    // Capacity changes of a table with a global index.
    create_indexed_table(c, "cap").await;
    let throughput =
        || ProvisionedThroughput::builder().read_capacity_units(4).write_capacity_units(4).build().unwrap();
    let index_update = |t: Option<ProvisionedThroughput>| {
        aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
            .update(
                aws_sdk_dynamodb::types::UpdateGlobalSecondaryIndexAction::builder()
                    .index_name("gsi-inc")
                    .set_provisioned_throughput(t)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let invalid = "One or more parameter values were invalid: ";
    assert_eq!(
        failure(
            c.update_table()
                .table_name("cap")
                .global_secondary_index_updates(index_update(Some(throughput())))
                .send()
                .await
        )
        .1,
        format!(
            "{invalid}The only Updates for index: gsi-inc when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
        )
    );
    assert_eq!(
        failure(
            c.update_table()
                .table_name("cap")
                .billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(throughput())
                .send()
                .await
        )
        .1,
        format!("{invalid}ProvisionedThroughput must be specified for index: gsi-inc")
    );
    c.update_table()
        .table_name("cap")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput())
        .global_secondary_index_updates(index_update(Some(throughput())))
        .send()
        .await
        .expect("the index's throughput given");
    assert_eq!(
        failure(c.update_table().table_name("cap").billing_mode(BillingMode::Provisioned).send().await).1,
        format!("{invalid}ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
    );
    let (_, same) = failure(
        c.update_table()
            .table_name("cap")
            .global_secondary_index_updates(index_update(Some(throughput())))
            .send()
            .await,
    );
    assert!(same.starts_with("The provisioned throughput for the index gsi-inc will not change."), "{same}");

    // On-demand maxima: at least 1, or -1 (none) in an update only.
    let on_demand = |read: i64| OnDemandThroughput::builder().max_read_request_units(read).build();
    let out_of_range =
        format!("{invalid}Requested MaxReadRequestUnits for OnDemandThroughput for table is outside of valid range");
    let create = |name: &str, read: i64| {
        c.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_elem("pk", KeyType::Hash))
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .on_demand_throughput(on_demand(read))
            .send()
    };
    assert_eq!(failure(create("od1", -1).await).1, out_of_range);
    assert_eq!(failure(create("od2", 0).await).1, out_of_range);
    create("od3", 10).await.unwrap();
    c.update_table().table_name("od3").on_demand_throughput(on_demand(-1)).send().await.expect("-1 clears it");
    assert_eq!(
        failure(c.update_table().table_name("od3").on_demand_throughput(on_demand(0)).send().await).1,
        out_of_range
    );

    // A global index added by UpdateTable: its attributes defined, its
    // throughput as the table's mode wants it, in UpdateTable's words.
    let create_index = |table: &str, defs: bool, t: Option<ProvisionedThroughput>| {
        let action = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
            .index_name("added")
            .key_schema(key_elem("pk", KeyType::Hash))
            .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
            .set_provisioned_throughput(t)
            .build()
            .unwrap();
        let mut request = c.update_table().table_name(table).global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder().create(action).build(),
        );
        if defs {
            request = request.attribute_definitions(attr_def("pk", ScalarAttributeType::S));
        }
        request.send()
    };
    assert_eq!(
        failure(create_index("od3", false, None).await).1,
        format!("{invalid}AttributeDefinitions is not specified for index: added")
    );
    // Nothing of a refused request is made: the billing mode stays.
    let refused = c
        .update_table()
        .table_name("od3")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput())
        .global_secondary_index_updates(index_update(None))
        .send()
        .await;
    assert_eq!(failure(refused).0, "ResourceNotFoundException", "od3 has no index gsi-inc");
    let d = c.describe_table().table_name("od3").send().await.unwrap().table.unwrap();
    assert_eq!(d.billing_mode_summary.and_then(|b| b.billing_mode), Some(BillingMode::PayPerRequest));
    assert_eq!(
        failure(create_index("od3", true, Some(throughput())).await).1,
        format!(
            "{invalid}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: added when BillingMode is PAY_PER_REQUEST"
        )
    );
    assert_eq!(
        failure(create_index("cap", true, None).await).1,
        format!("{invalid}Both ReadCapacityUnits and WriteCapacityUnits must be specified for index: added")
    );

    // Tags go on tables (and streams), not indexes.
    let index_arn = format!("{arn}/index/gsi");
    assert_eq!(
        failure(c.list_tags_of_resource().resource_arn(&index_arn).send().await).1,
        format!(
            "{invalid}Invalid resource arn provided, only table or stream is accepted. Provided resource arn: {index_arn}"
        )
    );
    // Listing the tags of a table that is not there is unauthorized, as the
    // live service answers (its account's or another's); tagging it is
    // not found.
    let gone = arn.replace(":table/settings", ":table/nonexistent_table_xyz");
    let other = arn.replace(":000000000000:", ":123456789012:");
    for missing in [&gone, &other] {
        assert_eq!(
            failure(c.list_tags_of_resource().resource_arn(missing).send().await),
            (
                "AccessDeniedException".to_string(),
                format!(
                    "User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:ListTagsOfResource on resource: {missing}"
                )
            )
        );
    }
    let tag = Tag::builder().key("k").value("v").build().unwrap();
    assert_eq!(
        failure(c.tag_resource().resource_arn(&gone).tags(tag).send().await),
        (
            "ResourceNotFoundException".to_string(),
            format!("Requested resource not found: ResourceArn: {gone} not found")
        )
    );
}

#[tokio::test]
async fn transact_get_items_rejects_the_same_item_twice() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "tgdup", None).await;
    let get = || {
        TransactGetItem::builder().get(Get::builder().table_name("tgdup").key("pk", s("a")).build().unwrap()).build()
    };
    let (code, message) = failure(c.transact_get_items().transact_items(get()).transact_items(get()).send().await);
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "Transaction request cannot include multiple operations on one item");
}

#[tokio::test]
async fn idempotent_replay_is_charged_as_a_read() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "replay", None).await;
    let add_one = || {
        c.transact_write_items()
            .client_request_token("add-one-token")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("replay")
                            .key("pk", s("counter"))
                            .update_expression("ADD #c :one")
                            .expression_attribute_names("#c", "count")
                            .expression_attribute_values(":one", n(1))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
    };
    let first = add_one().send().await.unwrap();
    let replay = add_one().send().await.unwrap();
    let counter = c.get_item().table_name("replay").key("pk", s("counter")).send().await.unwrap().item.unwrap();
    assert_eq!(counter["count"], n(1), "the replay did not apply the update again");

    // (answer, ReadCapacityUnits, WriteCapacityUnits)
    let cases = [("first", first, None, Some(2.0)), ("replay", replay, Some(2.0), None)];
    for (label, out, read_units, write_units) in cases {
        let entries = out.consumed_capacity();
        assert_eq!(entries.len(), 1, "{label}: {entries:?}");
        assert_eq!(entries[0].table_name(), Some("replay"), "{label}");
        assert_eq!(entries[0].capacity_units(), Some(2.0), "{label}: CapacityUnits");
        assert_eq!(entries[0].read_capacity_units(), read_units, "{label}: ReadCapacityUnits");
        assert_eq!(entries[0].write_capacity_units(), write_units, "{label}: WriteCapacityUnits");
    }
}

/// Validation before the table is looked up, several violations in one
/// envelope, and messages word for word: each request is sent as raw JSON
/// (the SDKs refuse most of them before sending), mostly naming a table that
/// does not exist, so a `ResourceNotFoundException` would mean the table was
/// resolved first.
#[tokio::test]
async fn validation_comes_first_and_is_worded_as_dynamodb() {
    let h = harness().await;
    create_table(&h.client, "present", None).await;
    let addr = h.server.addr.to_string();
    let long = "a".repeat(256);
    let cases: Vec<(&str, serde_json::Value, String)> = vec![
        (
            "PutItem",
            serde_json::json!({"TableName": "", "Item": {}, "ReturnValues": "INVALID"}),
            "1 validation error detected: Value at 'TableName' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        (
            "GetItem",
            serde_json::json!({"TableName": long.clone(), "Key": {}}),
            format!("1 validation error detected: Value '{long}' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 255"),
        ),
        (
            "UpdateItem",
            serde_json::json!({"TableName": "bad table!@#", "Key": {}}),
            "1 validation error detected: Value 'bad table!@#' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into(),
        ),
        (
            "PutItem",
            serde_json::json!({"TableName": "absent", "Item": {}, "ReturnValues": "INVALID", "ReturnConsumedCapacity": "INVALID", "ReturnItemCollectionMetrics": "INVALID"}),
            "3 validation errors detected: Value 'INVALID' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value 'INVALID' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]; Value 'INVALID' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW]".into(),
        ),
        (
            "Query",
            serde_json::json!({"TableName": "absent", "Limit": 0}),
            "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1".into(),
        ),
        (
            "Scan",
            serde_json::json!({"TableName": "absent", "Limit": 0}),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1".into(),
        ),
        ("BatchGetItem", serde_json::json!({"RequestItems": {}}), "1 validation error detected: Value at 'RequestItems' failed to satisfy constraint: Member must have length greater than or equal to 1".into()),
        ("BatchWriteItem", serde_json::json!({"RequestItems": {}}), "The requestItems parameter is required for BatchWriteItem".into()),
        (
            "BatchGetItem",
            serde_json::json!({"RequestItems": {"present": {"Keys": (0..101).map(|i| serde_json::json!({"pk": {"S": format!("k{i}")}})).collect::<Vec<_>>()}}}),
            "1 validation error detected: Value at 'RequestItems.present.member.Keys' failed to satisfy constraint: Member must have length less than or equal to 100".into(),
        ),
        (
            "BatchWriteItem",
            serde_json::json!({"RequestItems": {"present": [{"PutRequest": {"Item": {"pk": {"N": "5"}}}}]}}),
            "The provided key element does not match the schema".into(),
        ),
        (
            "CreateTable",
            serde_json::json!({"KeySchema": [], "AttributeDefinitions": []}),
            "The parameter 'TableName' is required but was not present in the request".into(),
        ),
        (
            "CreateTable",
            serde_json::json!({"TableName": "dup_key", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
            "Invalid KeySchema: Some index key attribute have no definition".into(),
        ),
        (
            "CreateTable",
            serde_json::json!({"TableName": "bad_kt", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "INVALID"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
            "1 validation error detected: Value 'INVALID' at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]".into(),
        ),
        (
            "CreateTable",
            serde_json::json!({"TableName": "bad_at", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "INVALID"}]}),
            "1 validation error detected: Value 'INVALID' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]".into(),
        ),
        (
            "CreateTable",
            serde_json::json!({"TableName": "three_keys", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "x", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
            "1 validation error detected: Value '[KeySchemaElement(attributeName=pk, keyType=HASH), KeySchemaElement(attributeName=sk, keyType=RANGE), KeySchemaElement(attributeName=x, keyType=RANGE)]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2".into(),
        ),
        (
            "PutItem",
            serde_json::json!({"TableName": "present", "Item": {"pk": {"S": "a"}, "bs": {"BS": []}}}),
            "One or more parameter values were invalid: Binary sets should not be empty".into(),
        ),
    ];
    for (op, body, want) in cases {
        let target = format!("DynamoDB_20120810.{op}");
        let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
        let a = common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await;
        let v = a.json();
        assert_eq!(a.status, 400, "{op}: {v}");
        assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException", "{op}: {v}");
        assert_eq!(v["message"].as_str(), Some(want.as_str()), "{op}");
    }

    // `{"NULL": false}` is refused again since 2026-07 (the conformance
    // suite's sweeps of every region).
    let put = serde_json::json!({"TableName": "present", "Item": {"pk": {"S": "n"}, "x": {"NULL": false}}});
    let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.PutItem")];
    let refused = common::http::send(&addr, "POST", "/", &headers, put.to_string().as_bytes()).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["message"],
        "1 validation error detected: One or more parameter values were invalid: Null attribute value types must have the value of true"
    );
}

/// A standalone UpdateItem is held to a second ceiling beside the finished
/// item: what it writes plus a cost per action (3 bytes, 19 per SET). With a
/// one-byte key value the finished item can be 19 bytes short of 400 KB at
/// most, while PutItem takes the whole 409,600.
#[tokio::test]
async fn update_item_is_charged_for_what_it_writes() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "ceiling", None).await;
    // "pk" + "K" = 3 bytes, "b" = 1 byte plus its value.
    let finished = |pad: usize| 3 + 1 + pad;
    let update = |key: &'static str, pad: usize| {
        c.update_item()
            .table_name("ceiling")
            .key("pk", s(key))
            .update_expression("SET b = :pad")
            .expression_attribute_values(":pad", s(&"x".repeat(pad)))
            .send()
    };
    let most = 409_600 - 19 - 4;
    assert_eq!(finished(most), 409_581);
    update("K", most).await.expect("409,581 bytes through UpdateItem");
    let (kind, message) = failure(update("L", most + 1).await);
    assert_eq!(kind, "ValidationException");
    assert_eq!(message, "Item size to update has exceeded the maximum allowed size");
    // PutItem's ceiling is the item's own.
    c.put_item()
        .table_name("ceiling")
        .item("pk", s("M"))
        .item("b", s(&"x".repeat(409_600 - 4)))
        .send()
        .await
        .expect("409,600 bytes through PutItem");
}

/// Reading an attribute a local index does not project fetches the item
/// from the table, and DynamoDB charges each fetch to the table.
#[tokio::test]
async fn a_local_index_reach_back_is_charged_to_the_table() {
    let h = harness().await;
    let c = &h.client;
    c.create_table()
        .table_name("reach")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lsk", ScalarAttributeType::S))
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-lsk")
                .key_schema(key_elem("pk", KeyType::Hash))
                .key_schema(key_elem("lsk", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .expect("lsi"),
        )
        .send()
        .await
        .expect("create");
    for i in 0..3 {
        c.put_item()
            .table_name("reach")
            .item("pk", s("p"))
            .item("sk", s(&format!("s{i}")))
            .item("lsk", s(&format!("l{i}")))
            .item("extra", s("unprojected"))
            .send()
            .await
            .expect("put");
    }
    let query = |projection: &'static str, limit: Option<i32>| {
        c.query()
            .table_name("reach")
            .index_name("by-lsk")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .projection_expression(projection)
            .set_limit(limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
    };
    let table_units = |cc: Option<&ConsumedCapacity>| cc.and_then(|c| c.table()).and_then(|t| t.capacity_units());
    let all = query("extra", None).await.expect("query");
    assert_eq!(all.items().len(), 3);
    assert!(all.items().iter().all(|i| i.contains_key("extra")));
    // Three eventually consistent fetches of half a unit each.
    assert_eq!(table_units(all.consumed_capacity()), Some(1.5));
    let one = query("extra", Some(1)).await.expect("query");
    assert_eq!(table_units(one.consumed_capacity()), Some(0.5));
    let projected = query("lsk", None).await.expect("query");
    assert_eq!(table_units(projected.consumed_capacity()), Some(0.0));
}

/// DynamoDB Streams details: shards in ShardId order, an unknown
/// ExclusiveStartShardId gives an empty page, a malformed stream ARN is a
/// ValidationException, a shard's own StartingSequenceNumber is a valid
/// AT_SEQUENCE_NUMBER even before the shard holds a record; and TTL
/// attribute names are held to 1 to 255 bytes.
#[tokio::test]
async fn streams_and_ttl_details() {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType, TimeToLiveSpecification};
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let h = harness().await;
    let c = &h.client;
    create_table(c, "streamed", None).await;
    let spec =
        StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewImage).build().unwrap();
    let t = c.update_table().table_name("streamed").stream_specification(spec).send().await.expect("enable stream");
    let arn = t.table_description().and_then(|d| d.latest_stream_arn()).expect("a stream").to_string();
    let streams = common::streams_client(&h.server.endpoint());

    let d = streams.describe_stream().stream_arn(&arn).send().await.expect("describe");
    let shards = d.stream_description().map(|s| s.shards().to_vec()).unwrap_or_default();
    let ids: Vec<&str> = shards.iter().filter_map(|s| s.shard_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert!(!ids.is_empty());
    assert_eq!(ids, sorted);

    let unknown = streams
        .describe_stream()
        .stream_arn(&arn)
        .exclusive_start_shard_id("shardId-00000000000000000000-00000000")
        .send()
        .await
        .expect("describe after an unknown shard");
    assert_eq!(unknown.stream_description().map(|s| s.shards().len()), Some(0));

    let bad = streams.describe_stream().stream_arn("fake-stream").send().await;
    let err = bad.expect_err("a malformed ARN");
    assert_eq!(err.as_service_error().and_then(|e| e.meta().code()), Some("ValidationException"));
    assert_eq!(err.as_service_error().and_then(|e| e.meta().message()), Some("Invalid StreamArn"));

    let shard = &shards[0];
    let start = shard.sequence_number_range().and_then(|r| r.starting_sequence_number()).expect("a start");
    streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard.shard_id().unwrap_or_default())
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(start)
        .send()
        .await
        .expect("the shard's own start, before any record");
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        let res = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(kind.clone())
            .sequence_number(start)
            .send()
            .await;
        let err = res.expect_err("a sequence number with TRIM_HORIZON or LATEST");
        assert_eq!(err.as_service_error().and_then(|e| e.meta().code()), Some("ValidationException"), "{kind:?}");
    }
    let empty = streams.get_records().shard_iterator("").send().await.expect_err("an empty iterator");
    assert_eq!(
        empty.as_service_error().and_then(|e| e.meta().message()),
        Some(
            "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )
    );
    let listed = streams.list_streams().exclusive_start_stream_arn("not-an-arn").send().await;
    let err = listed.expect_err("a malformed ExclusiveStartStreamArn");
    assert_eq!(err.as_service_error().and_then(|e| e.meta().code()), Some("ValidationException"));

    for (name, ok) in [("a".repeat(255), true), ("a".repeat(256), false)] {
        let res = c
            .update_time_to_live()
            .table_name("streamed")
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name(&name).build().unwrap(),
            )
            .send()
            .await;
        if ok {
            res.expect("a 255-byte TTL attribute");
            // A second change within the hour is refused, as DynamoDB
            // refuses it (DDB-TABLE-143); what the request asks is checked
            // first.
            let again = |enabled: bool, attribute: &str| {
                c.update_time_to_live()
                    .table_name("streamed")
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder().enabled(enabled).attribute_name(attribute).build().unwrap(),
                    )
                    .send()
            };
            let (kind, message) = failure(again(false, &name).await);
            assert_eq!(kind, "ValidationException");
            assert_eq!(message, "Time to live has been modified multiple times within a fixed interval");
            let (_, message) = failure(again(true, &name).await);
            assert_eq!(message, "TimeToLive is already enabled");
        } else {
            let (kind, message) = failure(res);
            assert_eq!(kind, "ValidationException");
            assert!(message.ends_with("Member must have length less than or equal to 255"), "{message}");
        }
    }
}

/// An UpdateItem (or a transacted Update) that only removes attributes from
/// an item that does not exist creates nothing.
#[tokio::test]
async fn removing_from_a_missing_item_creates_nothing() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "removals", None).await;
    c.update_item()
        .table_name("removals")
        .key("pk", s("a"))
        .update_expression("REMOVE x")
        .send()
        .await
        .expect("remove");
    c.update_item()
        .table_name("removals")
        .key("pk", s("b"))
        .update_expression("DELETE tags :t")
        .expression_attribute_values(":t", AttributeValue::Ss(vec!["x".into()]))
        .send()
        .await
        .expect("delete from a set");
    c.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("removals")
                        .key("pk", s("c"))
                        .update_expression("REMOVE x")
                        .build()
                        .expect("update"),
                )
                .build(),
        )
        .send()
        .await
        .expect("transacted remove");
    // A SET still creates the item.
    c.update_item()
        .table_name("removals")
        .key("pk", s("d"))
        .update_expression("SET x = :v REMOVE y")
        .expression_attribute_values(":v", n(1))
        .send()
        .await
        .expect("set");
    for (key, exists) in [("a", false), ("b", false), ("c", false), ("d", true)] {
        let got = c.get_item().table_name("removals").key("pk", s(key)).send().await.expect("get");
        assert_eq!(got.item().is_some(), exists, "{key}");
    }
}

/// An index added to a table that holds items whose values cannot key it
/// (wrong type, empty, longer than a key may be, even past fjall's 64 KB
/// key limit) skips those items, as DynamoDB's backfill does.
#[tokio::test]
async fn an_added_index_skips_items_it_cannot_key() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "backfill", None).await;
    let rows = [
        ("huge", s(&"x".repeat(70_000)), s("a")),
        ("long", s(&"x".repeat(2049)), s("a")),
        ("number", n(5), s("a")),
        ("empty", s(""), s("a")),
        ("long-range", s("g"), s(&"y".repeat(1025))),
        ("fine", s("g"), s("a")),
    ];
    for (key, g, r) in rows {
        c.put_item().table_name("backfill").item("pk", s(key)).item("g", g).item("r", r).send().await.expect("put");
    }
    c.update_table()
        .table_name("backfill")
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .attribute_definitions(attr_def("r", ScalarAttributeType::S))
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .create(
                    aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-g")
                        .key_schema(key_elem("g", KeyType::Hash))
                        .key_schema(key_elem("r", KeyType::Range))
                        .projection(Projection::builder().projection_type(ProjectionType::All).build())
                        .build()
                        .expect("create index"),
                )
                .build(),
        )
        .send()
        .await
        .expect("add the index");
    common::wait_index_active(c, "backfill", "by-g").await;
    let scanned = c.scan().table_name("backfill").index_name("by-g").send().await.expect("scan the index");
    let keys: Vec<&AttributeValue> = scanned.items().iter().filter_map(|i| i.get("pk")).collect();
    assert_eq!(keys, vec![&s("fine")]);
}

/// Numbers with spaces around them, an overlong ClientRequestToken, and a
/// Query's ExclusiveStartKey outside its key condition are refused.
#[tokio::test]
async fn numbers_tokens_and_start_keys_are_checked() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "checks", Some(ScalarAttributeType::N)).await;
    for text in [" 5", "5 ", "NaN", "Infinity"] {
        let res = c.put_item().table_name("checks").item("pk", s("a")).item("sk", n(1)).item("x", n(text)).send().await;
        let (kind, message) = failure(res);
        assert_eq!(kind, "ValidationException", "{text:?}");
        // PutItem's value layer envelops it (see `src/dynamodb/layer.rs`).
        assert_eq!(
            message,
            format!("1 validation error detected: The parameter cannot be converted to a numeric value: {text}")
        );
    }
    let res = c
        .transact_write_items()
        .client_request_token("x".repeat(37))
        .transact_items(
            TransactWriteItem::builder()
                .put(Put::builder().table_name("checks").item("pk", s("a")).item("sk", n(1)).build().unwrap())
                .build(),
        )
        .send()
        .await;
    let (kind, message) = failure(res);
    assert_eq!(kind, "ValidationException");
    assert!(
        message.ends_with(
            "at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36"
        ),
        "{message}"
    );
    // Outside the key condition: with no sort-key condition, the partition;
    // otherwise the sort-key condition first, then the partition
    // (dynalite's tests, recorded against DynamoDB).
    for (condition, start_pk, start_sk, want) in [
        ("pk = :p", "b", 1, "The provided starting key is outside query boundaries based on provided conditions"),
        ("pk = :p AND sk > :s", "a", 1, "The provided starting key does not match the range key predicate"),
        ("pk = :p AND sk > :s", "b", 1, "The provided starting key does not match the range key predicate"),
        ("pk = :p AND sk > :s", "b", 7, "The query can return at most one row and cannot be restarted"),
    ] {
        let mut q = c
            .query()
            .table_name("checks")
            .key_condition_expression(condition)
            .expression_attribute_values(":p", s("a"))
            .exclusive_start_key("pk", s(start_pk))
            .exclusive_start_key("sk", n(start_sk));
        if condition.contains(":s") {
            q = q.expression_attribute_values(":s", n(5));
        }
        let (kind, message) = failure(q.send().await);
        assert_eq!(kind, "ValidationException", "{condition}");
        assert_eq!(message, want, "{condition} from ({start_pk}, {start_sk})");
    }
}

/// BatchWriteItem and TransactWriteItems report ItemCollectionMetrics per
/// table when asked, for the tables with a local index.
#[tokio::test]
async fn batches_and_transactions_report_item_collection_metrics() {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let h = harness().await;
    let c = &h.client;
    create_indexed_table(c, "collections").await;
    let put = |pk: &str| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().item("pk", s(pk)).item("sk", s("1")).build().unwrap())
            .build()
    };
    let batch = c
        .batch_write_item()
        .request_items("collections", vec![put("a"), put("b")])
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .expect("batch");
    let metrics = batch.item_collection_metrics().and_then(|m| m.get("collections")).expect("metrics");
    let keys: Vec<_> = metrics.iter().filter_map(|m| m.item_collection_key()).filter_map(|k| k.get("pk")).collect();
    assert_eq!(keys, vec![&s("a"), &s("b")]);
    let tx = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(Put::builder().table_name("collections").item("pk", s("c")).item("sk", s("1")).build().unwrap())
                .build(),
        )
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .expect("transaction");
    let metrics = tx.item_collection_metrics().and_then(|m| m.get("collections")).expect("metrics");
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].size_estimate_range_gb().len(), 2);
    let none = c.batch_write_item().request_items("collections", vec![put("d")]).send().await.expect("batch");
    assert!(none.item_collection_metrics().is_none_or(HashMap::is_empty));
}

/// DynamoDB's words for control-plane refusals (as recorded against the live
/// service), and the data-plane classes the differential test against
/// dynoxide found: one table of cases, each answered through raw HTTP.
#[tokio::test]
async fn refusals_are_worded_as_dynamodb() {
    use serde_json::json;
    let h = harness().await;
    create_table(&h.client, "present", None).await;
    h.client.put_item().table_name("present").item("pk", s("exists")).item("n", common::n(1)).send().await.unwrap();
    let addr = h.server.addr.to_string();
    let v = "ValidationException";
    let nf = "ResourceNotFoundException";
    let key_table = |extra: serde_json::Value| {
        let mut t = json!({"TableName": "made", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]});
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        t
    };
    let big = "x".repeat(401 * 1024);
    let cases: Vec<(&str, serde_json::Value, &str, String)> = vec![
        // What dynalite's tests (checked against DynamoDB) find before the
        // table, or before the key conditions are read against a key.
        (
            "PutItem",
            json!({"TableName": "missing", "Item": {"pk": {"S": "a"}}, "ReturnValues": "ALL_NEW"}),
            v,
            // (Enveloped by the current layer, as `layer.rs` records.)
            "1 validation error detected: ReturnValues can only be ALL_OLD or NONE".into(),
        ),
        (
            "PutItem",
            json!({"TableName": "missing", "Item": {"pk": {"S": "a"}, "b": {"S": big}}}),
            v,
            "Item size has exceeded the maximum allowed size".into(),
        ),
        (
            "Query",
            json!({"TableName": "present", "IndexName": "nope",
                "KeyConditions": {"z": {"ComparisonOperator": "NULL"}}}),
            v,
            "The table does not have the specified index: nope".into(),
        ),
        (
            "Query",
            json!({"TableName": "present", "ExclusiveStartKey": {"a": {"S": "x"}},
                "KeyConditionExpression": "z = :z", "ExpressionAttributeValues": {":z": {"S": "x"}}}),
            v,
            "The provided starting key is invalid".into(),
        ),
        // A restore's overrides are checked before its source is looked up.
        (
            "RestoreTableFromBackup",
            json!({"TargetTableName": "restored", "BackupArn":
                "arn:aws:dynamodb:us-east-1:000000000000:table/gone/backup/01700000000000-abcdefgh",
                "GlobalSecondaryIndexOverride": [{"IndexName": "gsi", "KeySchema": [{"AttributeName": "a"}]}]}),
            v,
            "2 validation errors detected: Value null at 'globalSecondaryIndexOverride.1.member.projection' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexOverride.1.member.keySchema.1.member.keyType' failed to satisfy constraint: Member must not be null".into(),
        ),
        // An index name's own constraints come first (DDB-TABLE-457).
        (
            "RestoreTableFromBackup",
            json!({"TargetTableName": "restored", "BackupArn":
                "arn:aws:dynamodb:us-east-1:000000000000:table/gone/backup/01700000000000-abcdefgh",
                "GlobalSecondaryIndexOverride": [{"IndexName": "x"}]}),
            v,
            "3 validation errors detected: Value 'x' at 'globalSecondaryIndexOverride.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'globalSecondaryIndexOverride.1.member.keySchema' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexOverride.1.member.projection' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            "RestoreTableToPointInTime",
            json!({"TargetTableName": "restored", "SourceTableName": "gone", "UseLatestRestorableTime": true,
                "SSESpecificationOverride": {"SSEType": "DES"}}),
            v,
            "1 validation error detected: Value 'DES' at 'sSESpecificationOverride.sSEType' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]".into(),
        ),
        // A property of the statement: checked before the table is looked up.
        (
            "ExecuteStatement",
            json!({"Statement": "SELECT pk FROM \"missing\" WHERE pk = ? AND val < ?",
                "Parameters": [{"S": "x"}, {"BOOL": true}]}),
            v,
            "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL".into(),
        ),
        (
            "ExecuteStatement",
            json!({"Statement": "SELECT pk FROM \"missing\" WHERE pk = ?", "Parameters": [{"S": "x"}]}),
            nf,
            "Requested resource not found".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "StreamSpecification": {"StreamEnabled": true}}),
            v,
            "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "StreamSpecification": {"StreamEnabled": false, "StreamViewType": "KEYS_ONLY"}}),
            v,
            "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "StreamSpecification": {"StreamEnabled": false}}),
            v,
            "Table has no stream to disable: TableName: present".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"StreamSpecification": {"StreamEnabled": true}})),
            v,
            "One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
            v,
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "nope"}}]}),
            nf,
            "Requested resource not found: Index nope for table present".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}}),
            v,
            "2 validation errors detected: Value '0' at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1; Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"SSESpecification": {"Enabled": true, "SSEType": "AES256"}})),
            v,
            "One or more parameter values were invalid: SSEType AES256 is not supported".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"SSESpecification": {"Enabled": false, "SSEType": "KMS"}})),
            v,
            "One or more parameter values were invalid: SSEType can not be specified if Enabled is false".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "pk", "AttributeType": "S"}]})),
            v,
            "Attribute Name is duplicated: pk".into(),
        ),
        ("DeleteTable", json!({"TableName": "absent"}), nf, "Requested resource not found: Table: absent not found".into()),
        (
            "Scan",
            json!({"TableName": "present", "Segment": 0, "TotalSegments": 1000000, "ExclusiveStartKey": {"pk": {"S": "x"}}}),
            v,
            "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 1000000 Segment: 0".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "missing"}}, "UpdateExpression": "REMOVE pk"}),
            v,
            "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key".into(),
        ),
        (
            "GetItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "x"}}, "AttributesToGet": ["a", "a"]}),
            v,
            "One or more parameter values were invalid: Duplicate value in attribute name: a".into(),
        ),
        (
            "Query",
            json!({"TableName": "present",
                "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}},
                "QueryFilter": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}}),
            v,
            "QueryFilter can only contain non-primary key attributes: Primary key attribute: pk".into(),
        ),
        (
            "Scan",
            json!({"TableName": "present", "FilterExpression": "attribute_exists(a)", "AttributesToGet": ["a"]}),
            v,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {FilterExpression}".into(),
        ),
        (
            "PutItem",
            json!({"TableName": "present", "Item": {"pk": {"S": "x"}}, "ConditionExpression": "a < :v",
                "ExpressionAttributeValues": {":v": {"L": [{"N": "1"}]}}}),
            v,
            "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: <, operand type: L".into(),
        ),
        (
            "PutItem",
            json!({"TableName": "present", "Item": {"pk": {"S": "x"}}, "ConditionExpression": "if_not_exists(a, a) = :v",
                "ExpressionAttributeValues": {":v": {"N": "1"}}}),
            v,
            "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "exists"}},
                "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"SS": ["a"]}}}}),
            v,
            "Type mismatch for attribute to update".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                "GlobalSecondaryIndexes": [{"IndexName": "gix", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "a"]}}]})),
            v,
            "One or more parameter values were invalid: Duplicate element in NonKeyAttributes: a".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "SSESpecification": {"Enabled": true}, "DeletionProtectionEnabled": true}),
            v,
            "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "DeletionProtectionEnabled": true, "BillingMode": "PAY_PER_REQUEST"}),
            v,
            "One or more parameter values were invalid: DeletionProtection modification must be the only operation in the request".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"},
                "BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
            v,
            "One or more parameter values were invalid: You cannot modify stream status while updating table IOPS".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "present", "Tags": [{"Key": "k", "Value": "v"}]}),
            v,
            "One or more parameter values were invalid: ARNs must start with 'arn:': present".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:s3:::bucket", "Tags": [{"Key": "k", "Value": "v"}]}),
            v,
            "One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: arn:aws:s3:::bucket".into(),
        ),
        (
            "UntagResource",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present", "TagKeys": []}),
            v,
            "Atleast one Tag Key needs to be provided as Input.".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present",
                "Tags": [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}]}),
            v,
            "Duplicate Tag Keys provided as input: Duplicate Tag Key found k".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present", "Tags": [{"Key": "aws:x", "Value": "a"}]}),
            v,
            "Tag Key cannot be prefixed with aws:, Key: aws:x".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"GlobalSecondaryIndexes": []})),
            v,
            "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "GlobalSecondaryIndexUpdates": [
                {"Delete": {"IndexName": "i"}, "Update": {"IndexName": "i", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}]}),
            v,
            "One or more parameter values were invalid: Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "i"}}, {"Delete": {"IndexName": "i"}}]}),
            v,
            "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: i".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present", "Tags": []}),
            v,
            "Atleast one Tag needs to be provided as Input.".into(),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present", "Tags": [{"Key": "ok", "Value": "<>"}]}),
            v,
            "The Tag Value provided is invalid, Value: <>".into(),
        ),
        (
            "Query",
            json!({"TableName": "present", "KeyConditionExpression": "pk = :p AND a = :v",
                "ExpressionAttributeValues": {":p": {"S": "x"}, ":v": {"S": "y"}}}),
            v,
            "The number of query conditions (2) exceeds the number of key attributes defined in the schema (1)".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "x"}}, "UpdateExpression": "SET a = :v",
                "ExpressionAttributeValues": {":v": {"N": "abc"}}}),
            v,
            "1 validation error detected: The parameter cannot be converted to a numeric value: abc".into(),
        ),
        (
            "Scan",
            json!({"TableName": "present", "FilterExpression": "a = :v", "ExpressionAttributeValues": {":v": {"N": "abc"}}}),
            v,
            "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: abc for key :v".into(),
        ),
        (
            "PutItem",
            json!({"TableName": "present", "Item": {"pk": {"S": "x"}}, "ExpressionAttributeValues": {":v": {"S": "y"}}}),
            v,
            "1 validation error detected: ExpressionAttributeValues can only be specified when using expressions".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "x"}}, "ExpressionAttributeValues": {":v": {"S": "y"}}}),
            v,
            "1 validation error detected: ExpressionAttributeValues can only be specified when using expressions".into(),
        ),
        (
            "Query",
            json!({"TableName": "present", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}},
                "ExpressionAttributeValues": {":v": {"S": "y"}}}),
            v,
            "ExpressionAttributeValues can only be specified when using expressions: FilterExpression and KeyConditionExpression are null".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "exists"}}, "UpdateExpression": "REMOVE a.b"}),
            v,
            "The document path provided in the update expression is invalid for update".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "present", "Key": {"pk": {"S": "x"}}, "UpdateExpression": "DELETE a :n",
                "ExpressionAttributeValues": {":n": {"N": "1"}}}),
            v,
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND".into(),
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {"absent": {"Keys": [{"pk": {"S": "x"}}, {"pk": {"S": "x"}}]}}}),
            v,
            "Provided list of item keys contains duplicates".into(),
        ),
        // Every write's values before any two are compared.
        (
            "BatchWriteItem",
            json!({"RequestItems": {"present": [
                {"DeleteRequest": {"Key": {"pk": {"S": "x"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "x"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "y"}, "n": {"N": "abc"}}}}]}}),
            v,
            "The parameter cannot be converted to a numeric value: abc".into(),
        ),
        (
            "BatchWriteItem",
            json!({"RequestItems": {"present": [
                {"DeleteRequest": {"Key": {"pk": {"S": "x"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "x"}}}}]}}),
            v,
            "Provided list of item keys contains duplicates".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {"pk": {"S": "x"}}, "UpdateExpression": "SET = :v",
                "ExpressionAttributeValues": {":v": {"S": "y"}}}),
            v,
            "Invalid UpdateExpression: Syntax error; token: \"=\", near: \"SET = :v\"".into(),
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {"pk": {"S": "x"}}, "UpdateExpression": "SET a = :v"}),
            v,
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :v".into(),
        ),
        // Degenerate members (empty structures and strings, zeros), as the
        // live service answers them (the ack-api-quirks catalogue, 2026-10).
        (
            "CreateTable",
            key_table(json!({"KeySchema": [{}]})),
            v,
            "2 validation errors detected: Value null at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must not be null; Value null at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"AttributeDefinitions": [{}]})),
            v,
            "2 validation errors detected: Value null at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must not be null; Value null at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"KeySchema": []})),
            v,
            "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"WarmThroughput": {"ReadUnitsPerSecond": -1, "WriteUnitsPerSecond": -1}})),
            v,
            "One or more parameter values were invalid: Requested ReadUnitsPerSecond for WarmThroughput for table is lower than initial throughput for OnDemand. See: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html#on-demand-capacity-mode-initial".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "WarmThroughput": {"ReadUnitsPerSecond": 0, "WriteUnitsPerSecond": 0}}),
            v,
            "One or more parameter values were invalid: Requested ReadUnitsPerSecond for WarmThroughput for table is lower than current WarmThroughput, decreasing WarmThroughput is not supported".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "absent", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "ghost", "WarmThroughput": {}}}]}),
            v,
            "One or more parameter values were invalid: WarmThroughput must have at least one of ReadUnitsPerSecond or WriteUnitsPerSecond specified for index: ghost".into(),
        ),
        (
            "DescribeTable",
            json!({"TableName": ""}),
            v,
            "2 validation errors detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value '' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into(),
        ),
        (
            "ListTables",
            json!({"ExclusiveStartTableName": ""}),
            v,
            "2 validation errors detected: Value '' at 'exclusiveStartTableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'exclusiveStartTableName' failed to satisfy constraint: Member must have length greater than or equal to 3".into(),
        ),
        (
            "CreateBackup",
            json!({"TableName": "present", "BackupName": ""}),
            v,
            "2 validation errors detected: Value '' at 'backupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'backupName' failed to satisfy constraint: Member must have length greater than or equal to 3".into(),
        ),
        ("DescribeBackup", json!({"BackupArn": ""}), v, "Invalid Backup ARN".into()),
        (
            "DeleteResourcePolicy",
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/present", "ExpectedRevisionId": ""}),
            v,
            "1 validation error detected: Value '' at 'expectedRevisionId' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        (
            "DescribeContributorInsights",
            json!({"TableName": "present", "IndexName": ""}),
            v,
            "IndexName must be at least 3 characters long and at most 255 characters long".into(),
        ),
        (
            "DescribeGlobalTable",
            json!({"GlobalTableName": ""}),
            v,
            "TableName must be at least 3 characters long and at most 255 characters long".into(),
        ),
        (
            "ExportTableToPointInTime",
            json!({"TableArn": "", "S3Bucket": "bucket"}),
            v,
            "Invalid TableArn: Invalid Table ARN".into(),
        ),
    ];
    let more: Vec<(&str, serde_json::Value, &str, String)> = vec![
        (
            "UpdateTable",
            json!({"TableName": "absent", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "gsi1", "ProvisionedThroughput": {}}}]}),
            v,
            "2 validation errors detected: Value null at 'globalSecondaryIndexUpdates.1.member.update.provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexUpdates.1.member.update.provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
                "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"}}}]}),
            v,
            "2 validation errors detected: Value '' at 'globalSecondaryIndexUpdates.1.member.create.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value '' at 'globalSecondaryIndexUpdates.1.member.create.indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "ReplicaUpdates": [{"Update": {}}]}),
            v,
            "1 validation error detected: Value null at 'replicaUpdates.1.member.update.regionName' failed to satisfy constraint: Member must not be null".into(),
        ),
        (
            "UpdateTable",
            json!({"TableName": "present", "ReplicaUpdates": [{"Create": {}}]}),
            v,
            "One or more parameter values were invalid".into(),
        ),
        (
            "CreateTable",
            key_table(json!({"SSESpecification": {"Enabled": true, "SSEType": "KMS", "KMSMasterKeyId": ""}})),
            v,
            "1 validation error detected: Value '' at 'sSESpecification.kMSMasterKeyId' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
    ];
    let mut cases = cases;
    cases.extend(more);
    // Policy documents that are not policies.
    let policy_arn = "arn:aws:dynamodb:us-east-1:000000000000:table/present";
    for (doc, why) in [
        ("{}", "Syntax error at position (1,3)"),
        ("[]", "This policy contains invalid Json"),
        ("null", "This text appears not to be a policy"),
        (r#"{"Version":"2012-10-17","Statement":[{}]}"#, "Missing required field Effect"),
    ] {
        cases.push((
            "PutResourcePolicy",
            json!({"ResourceArn": policy_arn, "Policy": doc}),
            v,
            format!("One or more parameter values were invalid: Invalid policy document: {why}"),
        ));
    }
    for (op, body, kind, want) in cases {
        let target = format!("DynamoDB_20120810.{op}");
        let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
        let a = common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await;
        let got = a.json();
        assert_eq!(a.status, 400, "{op} {body}: {got}");
        assert!(got["__type"].as_str().unwrap_or_default().ends_with(kind), "{op} {body}: {got}");
        assert_eq!(got["message"].as_str(), Some(want.as_str()), "{op} {body}");
    }

    // On an item that does not exist, the same REMOVE is ignored, and
    // creates nothing (Alternator's tests against DynamoDB).
    let remove = json!({"TableName": "present", "Key": {"pk": {"S": "missing"}}, "UpdateExpression": "REMOVE a.b"});
    let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.UpdateItem")];
    assert_eq!(common::http::send(&addr, "POST", "/", &headers, remove.to_string().as_bytes()).await.status, 200);
    let got = h.client.get_item().table_name("present").key("pk", s("missing")).send().await.unwrap();
    assert!(got.item().is_none());

    // GetItem has no ExpressionAttributeValues member: one sent is ignored.
    let get =
        json!({"TableName": "present", "Key": {"pk": {"S": "x"}}, "ExpressionAttributeValues": {":v": {"SS": []}}});
    let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.GetItem")];
    assert_eq!(common::http::send(&addr, "POST", "/", &headers, get.to_string().as_bytes()).await.status, 200);
}

/// A global secondary index whose key has several attributes per role
/// (DynamoDB's multi-attribute keys): creation rules, indexing, Query's key
/// conditions and order, paging, backfill, legacy KeyConditions and the
/// PartiQL refusal, as recorded against the live service by the public
/// conformance suite paritysuite/dynamodb-conformance.
#[tokio::test]
async fn multi_attribute_index_keys() {
    use aws_sdk_dynamodb::types::{
        ComparisonOperator, Condition, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
    };
    let h = harness().await;
    let c = &h.client;
    let all = || Projection::builder().projection_type(ProjectionType::All).build();
    let gsi = |name: &str, keys: &[(&str, KeyType)]| {
        let mut b = GlobalSecondaryIndex::builder().index_name(name).projection(all());
        for (n, kt) in keys {
            b = b.key_schema(key_elem(n, kt.clone()));
        }
        b.build().expect("index")
    };
    let defs = ["pk", "h", "a", "b", "c", "d"];
    let mut create = c.create_table().table_name("multi").billing_mode(BillingMode::PayPerRequest);
    for d in defs {
        create = create.attribute_definitions(attr_def(d, ScalarAttributeType::S));
    }
    create
        .key_schema(key_elem("pk", KeyType::Hash))
        .global_secondary_indexes(gsi(
            "gsi",
            &[
                ("h", KeyType::Hash),
                ("a", KeyType::Range),
                ("b", KeyType::Range),
                ("c", KeyType::Range),
                ("d", KeyType::Range),
            ],
        ))
        .send()
        .await
        .expect("create a table with a multi-attribute index key");
    let described = c.describe_table().table_name("multi").send().await.expect("describe");
    let keys: Vec<(String, String)> = described.table().unwrap().global_secondary_indexes()[0]
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
        .collect();
    let want: Vec<(String, String)> = [("h", "HASH"), ("a", "RANGE"), ("b", "RANGE"), ("c", "RANGE"), ("d", "RANGE")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(keys, want);

    let rows: [(&str, &str, &str, Option<&str>, &str); 6] = [
        ("p1", "T", "live", Some("b"), "r1"),
        ("p2", "T", "live", Some("a"), "r2"),
        ("p3", "T", "live", Some("a"), "r1"),
        ("p4", "T", "draft", Some("c"), "r1"),
        ("p5", "F", "live", Some("a"), "r0"),
        // No `c`: not in the index.
        ("p6", "T", "live", None, "r1"),
    ];
    for (pk, a, b, cc, d) in rows {
        let mut put = c.put_item().table_name("multi").item("pk", s(pk)).item("h", s("o1")).item("a", s(a));
        put = put.item("b", s(b)).item("d", s(d));
        if let Some(cc) = cc {
            put = put.item("c", s(cc));
        }
        put.send().await.expect("put");
    }
    let values: HashMap<String, AttributeValue> =
        [(":h", "o1"), (":a", "T"), (":b", "live"), (":c", "a"), (":d", "r"), (":x", "r1"), (":y", "r1")]
            .iter()
            .map(|(k, v)| (k.to_string(), s(v)))
            .collect();
    let query = |cond: &'static str, forward: bool, limit: Option<i32>| {
        let used: HashMap<String, AttributeValue> =
            values.iter().filter(|(k, _)| cond.contains(k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        c.query()
            .table_name("multi")
            .index_name("gsi")
            .key_condition_expression(cond)
            .set_expression_attribute_values(Some(used))
            .scan_index_forward(forward)
            .set_limit(limit)
            .send()
    };
    let pks = |out: &aws_sdk_dynamodb::operation::query::QueryOutput| -> Vec<String> {
        out.items().iter().map(|i| i["pk"].as_s().unwrap().clone()).collect()
    };
    for (cond, forward, want) in [
        ("h = :h", true, vec!["p5", "p4", "p3", "p2", "p1"]),
        ("h = :h AND a = :a", true, vec!["p4", "p3", "p2", "p1"]),
        ("h = :h AND a = :a", false, vec!["p1", "p2", "p3", "p4"]),
        ("h = :h AND a = :a AND b = :b", true, vec!["p3", "p2", "p1"]),
        ("h = :h AND a = :a AND b = :b AND c = :c", true, vec!["p3", "p2"]),
        ("h = :h AND a = :a AND b = :b AND c > :c", true, vec!["p1"]),
        ("h = :h AND a = :a AND b = :b AND c = :c AND begins_with(d, :d)", true, vec!["p3", "p2"]),
        ("h = :h AND a = :a AND b = :b AND c = :c AND d BETWEEN :x AND :y", true, vec!["p3"]),
        ("h = :h AND a = :a AND b < :b", true, vec!["p4"]),
        ("b = :b AND h = :h AND a = :a", true, vec!["p3", "p2", "p1"]),
    ] {
        let out = query(cond, forward, None).await.unwrap_or_else(|e| panic!("{cond}: {e:?}"));
        assert_eq!(pks(&out), want, "{cond} forward={forward}");
    }
    // A page carries the table key and every index key attribute, and the
    // next page starts after it.
    let first = query("h = :h AND a = :a", true, Some(2)).await.expect("first page");
    assert_eq!(pks(&first), vec!["p4", "p3"]);
    let last = first.last_evaluated_key().expect("a LastEvaluatedKey").clone();
    let mut names: Vec<&str> = last.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["a", "b", "c", "d", "h", "pk"]);
    let used: HashMap<String, AttributeValue> = [(":h".to_string(), s("o1")), (":a".to_string(), s("T"))].into();
    let second = c
        .query()
        .table_name("multi")
        .index_name("gsi")
        .key_condition_expression("h = :h AND a = :a")
        .set_expression_attribute_values(Some(used))
        .set_exclusive_start_key(Some(last))
        .send()
        .await
        .expect("second page");
    assert_eq!(pks(&second), vec!["p2", "p1"]);
    for (cond, message) in [
        (
            "h = :h AND a = :a AND c = :c",
            "RANGE key attributes b must have equality conditions specified in the query because a condition is present on key attribute c",
        ),
        (
            "h = :h AND a = :a AND b > :b AND c = :c",
            "RANGE key attributes b must have equality conditions specified in the query because a condition is present on key attribute c",
        ),
        (
            "h = :h AND b = :b",
            "RANGE key attributes a must have equality conditions specified in the query because a condition is present on key attribute b",
        ),
        ("a = :a", "Query condition missed key schema element: h"),
    ] {
        assert_eq!(failure(query(cond, true, None).await), ("ValidationException".into(), message.into()), "{cond}");
    }
    // Legacy KeyConditions takes more than two conditions on such a key.
    let eq = |v: &str| {
        Condition::builder().comparison_operator(ComparisonOperator::Eq).attribute_value_list(s(v)).build().unwrap()
    };
    let legacy = c
        .query()
        .table_name("multi")
        .index_name("gsi")
        .key_conditions("h", eq("o1"))
        .key_conditions("a", eq("T"))
        .key_conditions(
            "b",
            Condition::builder()
                .comparison_operator(ComparisonOperator::Lt)
                .attribute_value_list(s("live"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("legacy KeyConditions");
    assert_eq!(pks(&legacy), vec!["p4"]);
    // Writing a key attribute with another type is refused; adding the
    // missing attribute puts the item in the index.
    let (code, message) = failure(c.put_item().table_name("multi").item("pk", s("p7")).item("c", n(1)).send().await);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("Type mismatch for Index Key c"), "{message}");
    c.update_item()
        .table_name("multi")
        .key("pk", s("p6"))
        .update_expression("SET c = :c")
        .expression_attribute_values(":c", s("z"))
        .send()
        .await
        .expect("update");
    let out = query("h = :h AND a = :a AND b = :b", true, None).await.expect("query");
    assert_eq!(pks(&out), vec!["p3", "p2", "p1", "p6"]);
    // PartiQL refuses to read such an index, and reads the table.
    let refused =
        "PartiQL statements cannot be executed on tables with multi-attribute HASH keys or multi-attribute RANGE keys.";
    for statement in [r#"SELECT * FROM "multi"."gsi" WHERE h = 'o1'"#, r#"SELECT * FROM "multi"."gsi""#] {
        let res = c.execute_statement().statement(statement).send().await;
        assert_eq!(failure(res), ("ValidationException".into(), refused.into()), "{statement}");
    }
    c.execute_statement().statement(r#"SELECT * FROM "multi" WHERE pk = 'p1'"#).send().await.expect("table read");

    // Two partition-key attributes, one of them a number, added to a table
    // that holds items: the backfill indexes those that have both.
    c.update_table()
        .table_name("multi")
        .attribute_definitions(attr_def("h", ScalarAttributeType::S))
        .attribute_definitions(attr_def("a", ScalarAttributeType::S))
        .attribute_definitions(attr_def("rank", ScalarAttributeType::N))
        .attribute_definitions(attr_def("d", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-h-a")
                        .key_schema(key_elem("h", KeyType::Hash))
                        .key_schema(key_elem("a", KeyType::Hash))
                        .key_schema(key_elem("rank", KeyType::Range))
                        .key_schema(key_elem("d", KeyType::Range))
                        .projection(all())
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("add a multi-attribute index");
    common::wait_index_active(c, "multi", "by-h-a").await;
    for (pk, rank) in [("p1", 10), ("p2", 9), ("p3", 100)] {
        c.update_item()
            .table_name("multi")
            .key("pk", s(pk))
            .update_expression("SET #r = :r")
            .expression_attribute_names("#r", "rank")
            .expression_attribute_values(":r", n(rank))
            .send()
            .await
            .expect("set rank");
    }
    let out = c
        .query()
        .table_name("multi")
        .index_name("by-h-a")
        .key_condition_expression("h = :h AND a = :a AND #r >= :r")
        .expression_attribute_names("#r", "rank")
        .expression_attribute_values(":h", s("o1"))
        .expression_attribute_values(":a", s("T"))
        .expression_attribute_values(":r", n(9))
        .send()
        .await
        .expect("query by two partition attributes");
    assert_eq!(pks(&out), vec!["p2", "p1", "p3"], "numbers order numerically");
    let res = c
        .query()
        .table_name("multi")
        .index_name("by-h-a")
        .key_condition_expression("h = :h")
        .expression_attribute_values(":h", s("o1"))
        .send()
        .await;
    assert_eq!(failure(res), ("ValidationException".into(), "Query condition missed key schema element: a".into()));

    // Creation rules: HASH elements first, at most four of each, global
    // indexes only.
    let refuse = |keys: Vec<(&'static str, KeyType)>, local: bool| {
        let mut create = c
            .create_table()
            .table_name("multi-bad")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_elem("pk", KeyType::Hash));
        for d in ["pk", "h", "a", "b", "c", "d", "e"] {
            create = create.attribute_definitions(attr_def(d, ScalarAttributeType::S));
        }
        if local {
            create = create.key_schema(key_elem("h", KeyType::Range));
            let mut b = LocalSecondaryIndex::builder().index_name("lsi").projection(all());
            for (n, kt) in keys {
                b = b.key_schema(key_elem(n, kt));
            }
            create = create.local_secondary_indexes(b.build().unwrap());
        } else {
            create = create.global_secondary_indexes(gsi("gsi", &keys));
        }
        create.send()
    };
    let (code, message) =
        failure(refuse(vec![("h", KeyType::Hash), ("a", KeyType::Range), ("b", KeyType::Hash)], false).await);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("HASH") && message.contains("precede") && message.contains("RANGE"), "{message}");
    let five = vec![
        ("h", KeyType::Hash),
        ("a", KeyType::Hash),
        ("b", KeyType::Hash),
        ("c", KeyType::Hash),
        ("d", KeyType::Hash),
    ];
    let (code, message) = failure(refuse(five, false).await);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("HASH"), "{message}");
    let (code, message) =
        failure(refuse(vec![("h", KeyType::Hash), ("a", KeyType::Range), ("a", KeyType::Range)], false).await);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("same name"), "{message}");
    let (code, _) =
        failure(refuse(vec![("pk", KeyType::Hash), ("a", KeyType::Range), ("b", KeyType::Range)], true).await);
    assert_eq!(code, "ValidationException");
}

/// DynamoDB's two value layers (the operation decides the wording of a bad
/// number or a duplicate set member, and whether the item writes envelop
/// it), the batch and transaction members checked before any table, an
/// UpdateItem without a Key, and requests nested past 128 levels; as the
/// conformance suite paritysuite/dynamodb-conformance captured them against
/// the live service (2026-10, `tests/tier3/error-messages/valueLayers`,
/// `validation-ordering`).
#[tokio::test]
async fn value_layers_and_request_members_are_worded_as_dynamodb() {
    use serde_json::json;
    let h = harness().await;
    create_table(&h.client, "tbl", None).await;
    let addr = h.server.addr.to_string();
    let one = |m: &str| format!("1 validation error detected: {m}");
    let over = "Number overflow. Attempting to store a number with magnitude larger than supported range";
    let under = "Number underflow. Attempting to store a number with magnitude smaller than supported range";
    let item = |v: serde_json::Value| json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "n": v}});
    let write =
        |v: serde_json::Value| json!({"RequestItems": {"tbl": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "n": v}}}]}});
    let deep = |levels: usize| {
        let mut v = json!({"S": "leaf"});
        for _ in 0..levels {
            v = json!({"M": {"n": v}});
        }
        v
    };
    let dup = "One or more parameter values were invalid: Input collection";
    let cases: Vec<(&str, serde_json::Value, String)> = vec![
        // The current layer: PutItem envelops, GetItem answers bare.
        ("PutItem", item(json!({"N": "1e2147483647"})), one(over)),
        ("PutItem", item(json!({"N": "1e-99999999999"})), one(under)),
        ("PutItem", item(json!({"N": ""})), one("The parameter cannot be converted to a numeric value: ")),
        ("GetItem", json!({"TableName": "tbl", "Key": {"pk": {"N": "1e99999999999"}}}), over.to_string()),
        ("PutItem", item(json!({"SS": ["b", "a", "b"]})), one(&format!("{dup} [\"a\", \"b\", \"b\"] contains duplicates."))),
        (
            "PutItem",
            item(json!({"BS": ["/w==", "AA==", "AA=="]})),
            one(&format!("{dup} [\"AA==\",\"/w==\",\"AA==\"]of type BS contains duplicates.")),
        ),
        ("PutItem", item(json!({"NS": ["2", "1", "2"]})), one(&format!("{dup} contains duplicates."))),
        (
            "PutItem",
            json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "n = :v", "ExpressionAttributeValues": {":v": {"N": "abc"}}}),
            one("The parameter cannot be converted to a numeric value: abc"),
        ),
        (
            "DeleteItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}}, "ReturnValues": "ALL_NEW"}),
            one("ReturnValues can only be ALL_OLD or NONE"),
        ),
        (
            "PutItem",
            json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}}, "Expected": {"a": {"ComparisonOperator": "EQ"}}}),
            one("One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
        ),
        // The older layer: BatchWriteItem, bare, 32-bit exponents.
        ("BatchWriteItem", write(json!({"N": "1e2147483647"})), under.to_string()),
        ("BatchWriteItem", write(json!({"N": ""})), "The parameter cannot be converted to a numeric value".into()),
        ("BatchWriteItem", write(json!({"SS": ["b", "a", "b"]})), format!("{dup} [b, a, b] contains duplicates.")),
        ("BatchWriteItem", write(json!({"NS": ["2", "1", "2"]})), "Input collection contains duplicates".into()),
        // 32 levels at most, the attribute the first; PutItem envelops the
        // fault (the conformance suite's limits/nestingDepth, five regions,
        // 2026-10-08 and -09), BatchWriteItem does not.
        ("PutItem", item(deep(32)), one("Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit")),
        ("BatchWriteItem", write(deep(32)), "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit".into()),
        // Batch and transaction members, before any table.
        (
            "BatchGetItem",
            json!({"RequestItems": {"bad!name": {"Keys": [{"pk": {"S": "a"}}]}}, "ReturnConsumedCapacity": "BOGUS"}),
            "2 validation errors detected: Value '{\"bad!name\":{\"Keys\":[{\"pk\":{\"S\":\"a\"}}]}}' at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 3, Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]; Value 'BOGUS' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]".into(),
        ),
        (
            "BatchWriteItem",
            json!({"RequestItems": {"tbl": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}, "ReturnConsumedCapacity": "BOGUS", "ReturnItemCollectionMetrics": "BOGUS2"}),
            "2 validation errors detected: Value 'BOGUS' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value 'BOGUS2' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]".into(),
        ),
        (
            "TransactGetItems",
            json!({"TransactItems": [{"Get": {"TableName": "tbl", "Key": {"pk": {"S": "a"}}}}, {"Get": {"TableName": "bad!name", "Key": {"pk": {"S": "a"}}}}]}),
            one("Value 'bad!name' at 'transactItems.2.member.get.tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        ),
        (
            "UpdateItem",
            json!({"TableName": "", "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}, "ReturnValues": "INVALID"}),
            "3 validation errors detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'INVALID' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]; Value null at 'key' failed to satisfy constraint: Member must not be null".into(),
        ),
        // A ConditionalOperator outside its set comes first, bare.
        (
            "Query",
            json!({"TableName": "absent", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
                "QueryFilter": {"b": {"ComparisonOperator": "NULL"}, "c": {"ComparisonOperator": "NULL"}},
                "ConditionalOperator": "XOR", "Select": "BOGUS"}),
            "Failed to satisfy constraint: Member must satisfy enum value set: [ALL, OR]".into(),
        ),
        // A key condition reports the first fault in the order written.
        (
            "Query",
            json!({"TableName": "absent", "KeyConditionExpression": "begins_with(sk, :n) AND pk = :missing",
                "ExpressionAttributeValues": {":n": {"N": "1"}}}),
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N".into(),
        ),
        (
            "Query",
            json!({"TableName": "absent", "KeyConditionExpression": "pk = :missing AND begins_with(sk, :n)",
                "ExpressionAttributeValues": {":n": {"N": "1"}}}),
            "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :missing".into(),
        ),
        // A request nested past about 62 levels is read in DynamoDB's older
        // form: ReturnValues first, bare.
        (
            "PutItem",
            json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "d": deep(100)}, "ReturnValues": "ALL_NEW"}),
            "ReturnValues can only be ALL_OLD or NONE".into(),
        ),
        (
            "DeleteItem",
            json!({"TableName": "tbl", "Key": {"pk": deep(100)}, "ReturnValues": "BOGUS"}),
            one("Value 'BOGUS' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"),
        ),
    ];
    for (op, body, want) in cases {
        let target = format!("DynamoDB_20120810.{op}");
        let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
        let a = common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await;
        let got = a.json();
        assert_eq!(a.status, 400, "{op} {body}: {got}");
        assert_eq!(got["__type"], "com.amazon.coral.validate#ValidationException", "{op}: {got}");
        assert_eq!(got["message"].as_str(), Some(want.as_str()), "{op} {body}");
    }
    // {NULL: false} is refused; a value nested 31 levels is stored, and so
    // is zero whatever its exponent (`0e1000`: Alternator's test_number.py,
    // run against DynamoDB).
    for body in [item(deep(31)), item(json!({"N": "0e126"})), item(json!({"N": "0e1000"}))] {
        let ok = common::http::send(
            &addr,
            "POST",
            "/",
            &[("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.PutItem")],
            body.to_string().as_bytes(),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.json());
    }
}

/// An index UpdateTable adds is `CREATING` with `Backfilling` while it is
/// filled from the table's items, and reading it meanwhile is refused as
/// DynamoDB refuses it; then it is `ACTIVE` (`Backfilling` gone) and holds
/// every item. An index made with its table shows no `Backfilling`.
#[tokio::test]
async fn an_added_index_is_creating_and_unreadable_while_it_fills() {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, IndexStatus, PutRequest, WriteRequest,
    };
    let h = harness().await;
    let c = &h.client;
    create_table(c, "filling", None).await;
    const ITEMS: usize = 20_000;
    for chunk in (0..ITEMS).collect::<Vec<_>>().chunks(25) {
        let writes: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                let put = PutRequest::builder()
                    .item("pk", s(&format!("k{i}")))
                    .item("g", s(&format!("g{}", i % 7)))
                    .build()
                    .expect("put");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        c.batch_write_item().request_items("filling", writes).send().await.expect("load");
    }
    let out = c
        .update_table()
        .table_name("filling")
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-g")
                        .key_schema(key_elem("g", KeyType::Hash))
                        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                        .build()
                        .expect("the index"),
                )
                .build(),
        )
        .send()
        .await
        .expect("add the index");
    let gsi = &out.table_description().expect("a description").global_secondary_indexes()[0];
    assert_eq!(gsi.index_status(), Some(&IndexStatus::Creating), "{gsi:?}");
    assert_eq!(gsi.backfilling(), Some(true), "{gsi:?}");
    assert_eq!((gsi.item_count(), gsi.index_size_bytes()), (Some(0), Some(0)), "nothing counted while it fills");
    // One index is created or deleted at a time per table.
    let another = |name: &str| {
        GlobalSecondaryIndexUpdate::builder()
            .create(
                CreateGlobalSecondaryIndexAction::builder()
                    .index_name(name)
                    .key_schema(key_elem("g", KeyType::Hash))
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()
                    .expect("the index"),
            )
            .build()
    };
    let limit = "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table";
    let query = || {
        c.query()
            .table_name("filling")
            .index_name("by-g")
            .key_condition_expression("g = :g")
            .expression_attribute_values(":g", s("g3"))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
    };
    // While it fills, a read is refused with DynamoDB's message; the fill
    // may already be over (a small table fills in milliseconds), and then
    // the read finds every item. (`read::tests` refuse deterministically.)
    let want = (0..ITEMS).filter(|i| i % 7 == 3).count() as i32;
    match query().await {
        Err(err) => {
            assert_eq!(code(&err), "ValidationException");
            assert_eq!(
                err.as_service_error().and_then(|e| e.meta().message()),
                Some("Cannot read from backfilling global secondary index: by-g")
            );
        }
        Ok(out) => assert_eq!(out.count, want, "read once ACTIVE"),
    }
    common::wait_index_active(c, "filling", "by-g").await;
    let d = c.describe_table().table_name("filling").send().await.expect("describe");
    let gsi = &d.table().expect("a table").global_secondary_indexes()[0];
    assert_eq!(gsi.backfilling(), None, "{gsi:?}");
    assert_eq!(query().await.expect("read the index").count, want);
    // Made with its table: ACTIVE at once, no Backfilling member.
    c.create_table()
        .table_name("with-index")
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("g", ScalarAttributeType::S))
        .key_schema(key_elem("pk", KeyType::Hash))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name("by-g")
                .key_schema(key_elem("g", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("the index"),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create");
    let d = c.describe_table().table_name("with-index").send().await.expect("describe");
    let gsi = &d.table().expect("a table").global_secondary_indexes()[0];
    assert_eq!((gsi.index_status(), gsi.backfilling()), (Some(&IndexStatus::Active), None));
    // Two in one request: refused before either is made.
    let err = c
        .update_table()
        .table_name("with-index")
        .global_secondary_index_updates(another("one-more"))
        .global_secondary_index_updates(another("two-more"))
        .send()
        .await
        .expect_err("two index creations at once");
    assert_eq!(
        (code(&err).as_str(), err.as_service_error().and_then(|e| e.meta().message())),
        ("LimitExceededException", Some(limit))
    );
    let d = c.describe_table().table_name("with-index").send().await.expect("describe");
    assert_eq!(d.table().expect("a table").global_secondary_indexes().len(), 1);
}

/// A path into a key attribute (`pk.b`, `gsiPk[0]`) in a projection,
/// filter or update expression is refused: key attributes are scalars
/// (dynalite's suite, run against DynamoDB). An update that writes under a
/// table key is an update of the key.
#[tokio::test]
async fn paths_into_key_attributes_are_refused() {
    let h = harness().await;
    let c = &h.client;
    create_indexed_table(c, "scalars").await;
    let key = item(&[("pk", s("a")), ("sk", s("b"))]);
    let scalars = "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed";
    let want = |what: &str| (String::from("ValidationException"), format!("{scalars}: {what}"));

    let got = failure(
        c.get_item().table_name("scalars").set_key(Some(key.clone())).projection_expression("pk.b").send().await,
    );
    assert_eq!(got, want("Key: pk"));
    let got = failure(
        c.get_item()
            .table_name("scalars")
            .set_key(Some(key.clone()))
            .projection_expression("x, #g[0]")
            .expression_attribute_names("#g", "gsiPk")
            .send()
            .await,
    );
    assert_eq!(got, want("IndexKey: gsiPk"));
    let got = failure(
        c.query()
            .table_name("scalars")
            .key_condition_expression("pk = :a")
            .filter_expression("attribute_exists(lsiSk.c)")
            .expression_attribute_values(":a", s("a"))
            .send()
            .await,
    );
    assert_eq!(got, want("IndexKey: lsiSk"));
    let got = failure(c.scan().table_name("scalars").projection_expression("sk[1]").send().await);
    assert_eq!(got, want("Key: sk"));
    let got = failure(
        c.update_item()
            .table_name("scalars")
            .set_key(Some(key.clone()))
            .update_expression("SET x = list_append(y, gsiPk[1])")
            .send()
            .await,
    );
    assert_eq!(got, want("IndexKey: gsiPk"));
    let update = Update::builder()
        .table_name("scalars")
        .set_key(Some(key.clone()))
        .update_expression("SET x = if_not_exists(gsiPk.a, :v)")
        .expression_attribute_values(":v", n("1"))
        .build()
        .unwrap();
    let got = failure(
        c.transact_write_items().transact_items(TransactWriteItem::builder().update(update).build()).send().await,
    );
    assert_eq!(got, want("IndexKey: gsiPk"));
    let got = failure(
        c.update_item()
            .table_name("scalars")
            .set_key(Some(key.clone()))
            .update_expression("SET pk.b = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
    );
    assert_eq!(
        got.1,
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    );
    // Top-level key attributes and nested paths elsewhere are fine.
    c.put_item()
        .table_name("scalars")
        .set_item(Some(item(&[("pk", s("a")), ("sk", s("b")), ("m", AttributeValue::M(item(&[("c", n("1"))])))])))
        .send()
        .await
        .unwrap();
    let got = c
        .get_item()
        .table_name("scalars")
        .set_key(Some(key))
        .projection_expression("pk, gsiPk, m.c")
        .send()
        .await
        .unwrap();
    assert_eq!(got.item.unwrap().len(), 2);
}

/// An ExclusiveStartKey that does not match the key schema: a Query and a
/// Scan of an index answer the short form, a Scan of a table the long one
/// (measured against DynamoDB in 2026 by ExtendDB's and Floci's suites).
#[tokio::test]
async fn start_keys_off_the_schema_are_refused_per_operation() {
    let h = harness().await;
    let c = &h.client;
    create_indexed_table(c, "starts").await;
    let short = (String::from("ValidationException"), String::from("The provided starting key is invalid"));
    let mistyped = item(&[("pk", n("1")), ("sk", s("b"))]);
    let got = failure(
        c.query()
            .table_name("starts")
            .key_condition_expression("pk = :a")
            .expression_attribute_values(":a", s("a"))
            .set_exclusive_start_key(Some(mistyped.clone()))
            .send()
            .await,
    );
    assert_eq!(got, short);
    let got = failure(c.scan().table_name("starts").set_exclusive_start_key(Some(mistyped.clone())).send().await);
    assert_eq!(got.1, "The provided starting key is invalid: The provided key element does not match the schema");
    let got = failure(
        c.scan().table_name("starts").index_name("gsi-inc").set_exclusive_start_key(Some(mistyped)).send().await,
    );
    assert_eq!(got, short);
    let got = failure(
        c.query()
            .table_name("starts")
            .index_name("lsi1")
            .key_condition_expression("pk = :a")
            .expression_attribute_values(":a", s("a"))
            .set_exclusive_start_key(Some(item(&[("pk", s("a")), ("sk", s("b")), ("lsiSk", n("1"))])))
            .send()
            .await,
    );
    assert_eq!(got, short);
}

/// A table's ARN stands for its name in every member that names a table
/// (DynamoDB since 2024); an index's or another region's ARN names none.
#[tokio::test]
async fn table_arns_stand_for_table_names() {
    use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
    let h = harness().await;
    let c = &h.client;
    create_table(c, "byarn", None).await;
    let arn = c.describe_table().table_name("byarn").send().await.unwrap().table.unwrap().table_arn.unwrap();
    assert_eq!(
        c.describe_table().table_name(&arn).send().await.unwrap().table.unwrap().table_name.as_deref(),
        Some("byarn")
    );
    c.put_item().table_name(&arn).item("pk", s("a")).item("v", n("1")).send().await.unwrap();
    let got = c.get_item().table_name(&arn).key("pk", s("a")).consistent_read(true).send().await.unwrap();
    assert_eq!(got.item.unwrap()["v"], n("1"));
    let q = c
        .query()
        .table_name(&arn)
        .key_condition_expression("pk = :a")
        .expression_attribute_values(":a", s("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count, 1);
    let put = WriteRequest::builder().put_request(PutRequest::builder().item("pk", s("b")).build().unwrap()).build();
    c.batch_write_item().request_items(&arn, vec![put]).send().await.unwrap();
    let keys = KeysAndAttributes::builder().keys(item(&[("pk", s("b"))])).build().unwrap();
    let got = c.batch_get_item().request_items(&arn, keys).send().await.unwrap();
    // Answered as named: the responses under the ARN, its capacity too.
    assert_eq!(got.responses.unwrap()[&arn].len(), 1);
    let got = c
        .get_item()
        .table_name(&arn)
        .key("pk", s("a"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(got.consumed_capacity.unwrap().table_name.as_deref(), Some(arn.as_str()));
    let update = Update::builder()
        .table_name(&arn)
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", n("2"))
        .build()
        .unwrap();
    c.transact_write_items().transact_items(TransactWriteItem::builder().update(update).build()).send().await.unwrap();
    let got = c.get_item().table_name("byarn").key("pk", s("a")).consistent_read(true).send().await.unwrap();
    assert_eq!(got.item.unwrap()["v"], n("2"));
    for other in [format!("{arn}/index/nope"), arn.replace(":us-east-1:", ":eu-west-3:")] {
        let got = failure(c.get_item().table_name(&other).key("pk", s("a")).send().await);
        assert_eq!(got.0, "ResourceNotFoundException", "{other}");
    }
}

/// Placeholder maps' entries, transactions' unused placeholders, null set
/// members and two reworded refusals, as captured against DynamoDB in
/// 2026 (ExtendDB's suite, us-east-1).
#[tokio::test]
async fn placeholders_and_sets_are_checked_as_dynamodb_does() {
    use serde_json::json;
    let h = harness().await;
    create_table(&h.client, "phs", None).await;
    let addr = h.server.addr.to_string();
    let long = "a".repeat(255);
    let cases = [
        (
            "GetItem",
            json!({"TableName": "phs", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#a",
                "ExpressionAttributeNames": {"#a-b": "n"}}),
            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#a-b\"".to_string(),
        ),
        (
            "GetItem",
            json!({"TableName": "phs", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#a",
                "ExpressionAttributeNames": {(format!("#{long}-x")): "n"}}),
            "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 258".to_string(),
        ),
        (
            "GetItem",
            json!({"TableName": "phs", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#a",
                "ExpressionAttributeNames": {"#a": ""}}),
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a".to_string(),
        ),
        (
            "Scan",
            json!({"TableName": "phs", "FilterExpression": "n = :v", "ExpressionAttributeValues": {":a-b": {"S": "x"}}}),
            "ExpressionAttributeValues contains invalid key: Syntax error; key: \":a-b\"".to_string(),
        ),
        (
            "Scan",
            json!({"TableName": "phs", "FilterExpression": "n = :v",
                "ExpressionAttributeValues": {(format!(":{long}")): {"S": "x"}}}),
            "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;".to_string(),
        ),
        (
            "BatchWriteItem",
            json!({"RequestItems": {"phs": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "s": {"SS": ["a", null]}}}}]}}),
            "One or more parameter values were invalid: An string set may not have a null string as a member".to_string(),
        ),
        (
            "Query",
            json!({"TableName": "phs", "KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}},
                "Select": "COUNT", "ProjectionExpression": "pk"}),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count".to_string(),
        ),
        (
            "Scan",
            json!({"TableName": "phs", "Select": "COUNT", "ProjectionExpression": "pk"}),
            "Cannot specify the ProjectionExpression when choosing to get only the Count".to_string(),
        ),
        (
            "Query",
            json!({"TableName": "phs", "KeyConditionExpression": "pk.a = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            "Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes".to_string(),
        ),
    ];
    let send = |op: &str, body: serde_json::Value| {
        let addr = addr.clone();
        let target = format!("DynamoDB_20120810.{op}");
        async move {
            let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
            common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await
        }
    };
    for (op, body, want) in cases {
        let a = send(op, body.clone()).await;
        let v = a.json();
        assert_eq!(a.status, 400, "{op} {body}: {v}");
        assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException", "{op} {body}: {v}");
        assert_eq!(v["message"].as_str(), Some(want.as_str()), "{op} {body}");
    }
    // A transaction's action takes names and values with no expression.
    let put = json!({"TransactItems": [{"Put": {"TableName": "phs", "Item": {"pk": {"S": "t"}},
        "ExpressionAttributeNames": {"#n": "x"}, "ExpressionAttributeValues": {":v": {"N": "1"}}}}]});
    let a = send("TransactWriteItems", put).await;
    assert_eq!(a.status, 200, "{}", a.json());
    let get = json!({"TransactItems": [{"Get": {"TableName": "phs", "Key": {"pk": {"S": "t"}},
        "ExpressionAttributeNames": {"#n": "x"}}}]});
    let a = send("TransactGetItems", get).await;
    assert_eq!(a.status, 200, "{}", a.json());
    assert_eq!(a.json()["Responses"][0]["Item"]["pk"]["S"], "t");
    // With an expression, an unused one is still refused.
    let put = json!({"TransactItems": [{"Put": {"TableName": "phs", "Item": {"pk": {"S": "u"}},
        "ConditionExpression": "attribute_not_exists(pk)", "ExpressionAttributeNames": {"#n": "x"}}}]});
    let a = send("TransactWriteItems", put).await;
    assert_eq!(a.json()["message"], "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}");
}

/// A key condition is read as DynamoDB reads it: every expression of the
/// request first (an empty filter is reported before a bad key condition),
/// then each leaf in full, operands in order, before the key schema; and a
/// legacy `KeyConditions` against the schema in its order, partition key
/// first (dynalite's tests, recorded against DynamoDB). A batch write's
/// item size and request shape need no table.
#[tokio::test]
async fn key_conditions_are_read_as_dynamodb_reads_them() {
    use serde_json::json;
    let h = harness().await;
    create_table(&h.client, "kcs", Some(ScalarAttributeType::N)).await;
    let addr = h.server.addr.to_string();
    let kc = |table: &str, expr: &str| {
        json!({"TableName": table, "KeyConditionExpression": expr,
            "ExpressionAttributeValues": {":s": {"S": "a"}, ":n": {"N": "1"}}})
    };
    let cases = [
        (
            json!({"TableName": "absent", "KeyConditionExpression": "attribute_type(pk, :s)", "FilterExpression": "",
                "ExpressionAttributeValues": {":s": {"S": "N"}}}),
            "Invalid FilterExpression: The expression can not be empty;",
        ),
        (kc("absent", "pk <> :s AND sk = :n"), "Invalid operator used in KeyConditionExpression: <>"),
        (kc("absent", "pk = :s AND (sk = :n OR sk = :n)"), "Invalid operator used in KeyConditionExpression: OR"),
        (
            kc("absent", "pk = sk AND begins_with(pk, :s) AND sk > :n"),
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            kc("absent", ":s BETWEEN pk AND :s AND sk = :n"),
            "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand",
        ),
        (
            kc("absent", "begins_with(:s, pk) AND sk = :n"),
            "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand",
        ),
        (
            kc("absent", "pk = :s AND size(sk) > :n"),
            "Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations",
        ),
        (
            kc("absent", ":s = :n AND pk = :s"),
            "Invalid condition in KeyConditionExpression: No key attribute specified",
        ),
        (kc("kcs", "sk BETWEEN :n AND :n AND x = :s"), "Query condition missed key schema element: pk"),
        (kc("kcs", "pk = :s AND x = :n"), "Query condition missed key schema element: sk"),
        (
            kc("kcs", ":n > pk AND begins_with(x, :s)"),
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (kc("kcs", "pk > :s AND sk = :n"), "Query key condition not supported"),
        (
            json!({"TableName": "kcs", "KeyConditions": {"z": {"ComparisonOperator": "NULL"}}}),
            "Query condition missed key schema element: pk",
        ),
        (
            json!({"TableName": "kcs", "KeyConditions": {
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                "sk": {"ComparisonOperator": "NOT_NULL"}}}),
            "Attempted conditional constraint is not an indexable operation",
        ),
        (
            json!({"TableName": "absent", "KeyConditions": {}, "QueryFilter": {}}),
            "Conditions can be of length 1 or 2 only",
        ),
    ];
    let send = |op: &'static str, body: serde_json::Value| {
        let addr = addr.clone();
        async move {
            let target = format!("DynamoDB_20120810.{op}");
            let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
            common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await
        }
    };
    let batch = |request: serde_json::Value| json!({"RequestItems": {"absent": [request]}});
    let big = "a".repeat(400 * 1024);
    let cases = cases.into_iter().map(|(b, m)| ("Query", b, m)).chain([
        (
            "BatchWriteItem",
            batch(json!({"PutRequest": {"Item": {"pk": {"S": "a"}, "b": {"S": big}}}})),
            "Item size has exceeded the maximum allowed size",
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {}, "UpdateExpression": "SET #a = if_not_exists(:c)",
                "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :c",
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {}, "UpdateExpression": "SET c[1].a = a, #c = if_not_exists(a)",
                "ExpressionAttributeNames": {"#c": "c"}}),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, [1], a], path two: [c]",
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {}, "UpdateExpression": "SET b = list_append(:a, a) ADD a.b :a",
                "ExpressionAttributeValues": {":a": {"S": "a"}}}),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "PutItem",
            json!({"TableName": "absent", "Item": {"a": {}}, "Expected": {"a": {}}, "ConditionExpression": ""}),
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {"kcs": {"Keys": [{"pk": {"S": "a"}}], "ProjectionExpression": "pk.a"}}}),
            "The provided key element does not match the schema",
        ),
        (
            "PutItem",
            json!({"TableName": "absent", "Item": {"pk": {"S": "a"}, "b": {"S": big}}, "Expected": {"a": {}}}),
            "Item size has exceeded the maximum allowed size",
        ),
        (
            "GetItem",
            json!({"TableName": "absent", "Key": {}, "AttributesToGet": ["a", "a"]}),
            "One or more parameter values were invalid: Duplicate value in attribute name: a",
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {"absent": {"Keys": [{"a": {"S": "x"}}, {"a": {"S": "x"}}], "ProjectionExpression": ""}}}),
            "Invalid ProjectionExpression: The expression can not be empty;",
        ),
        (
            "BatchWriteItem",
            batch(json!({})),
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
    ]);
    for (op, body, want) in cases {
        let a = send(op, body.clone()).await;
        let v = a.json();
        assert_eq!(a.status, 400, "{op} {body}: {v}");
        assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException", "{op} {body}: {v}");
        assert_eq!(v["message"].as_str(), Some(want), "{op} {body}");
    }
}

/// CreateTable checks a request in DynamoDB's order (dynalite's tests,
/// recorded against it): the billing mode's throughput, the table's key
/// against its definitions, then each index's key before its projection;
/// UpdateTable an index update's shape and bounds before the table.
#[tokio::test]
async fn create_table_checks_in_dynamodb_order() {
    use serde_json::json;
    let h = harness().await;
    let addr = h.server.addr.to_string();
    let defs = json!([{"AttributeName": "a", "AttributeType": "S"}, {"AttributeName": "b", "AttributeType": "S"}]);
    let range = json!([{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}]);
    let t = json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1});
    let lsi = |keys: serde_json::Value| json!([{"IndexName": "lsi", "KeySchema": keys, "Projection": {}}]);
    let cases = [
        (
            json!({"TableName": "ctx", "AttributeDefinitions": [{"AttributeName": "b", "AttributeType": "S"}],
                "KeySchema": range, "ProvisionedThroughput": t}),
            "Invalid KeySchema: Some index key attribute have no definition",
        ),
        (
            json!({"TableName": "ctx", "AttributeDefinitions": [], "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 1_000_000_000_001_i64, "WriteCapacityUnits": 1}}),
            "Given value 1000000000001 for ReadCapacityUnits is out of bounds",
        ),
        (
            json!({"TableName": "ctx", "AttributeDefinitions": defs, "KeySchema": range, "ProvisionedThroughput": t,
                "LocalSecondaryIndexes": lsi(json!([{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}]))}),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [a, c], AttributeDefinitions: [a, b]",
        ),
        (
            json!({"TableName": "ctx", "AttributeDefinitions": defs, "KeySchema": range, "ProvisionedThroughput": t,
                "LocalSecondaryIndexes": lsi(json!([{"AttributeName": "b", "KeyType": "HASH"}]))}),
            "One or more parameter values were invalid: Index KeySchema does not have a range key for index: lsi",
        ),
        (
            json!({"TableName": "ctx", "AttributeDefinitions": defs, "KeySchema": range, "ProvisionedThroughput": t,
                "LocalSecondaryIndexes": lsi(range.clone())}),
            "One or more parameter values were invalid: Unknown ProjectionType: null",
        ),
        (
            json!({"TableName": "ctx", "AttributeDefinitions": defs, "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                "ProvisionedThroughput": t, "LocalSecondaryIndexes": lsi(json!([{"AttributeName": "c", "KeyType": "HASH"}]))}),
            "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        ),
    ];
    let updates = [
        (
            json!({"TableName": "absent", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "abc",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1_000_000_000_001_i64, "WriteCapacityUnits": 1}}}]}),
            "Given value 1000000000001 for ReadCapacityUnits is out of bounds for index abc",
        ),
        (
            json!({"TableName": "absent", "GlobalSecondaryIndexUpdates": [{}]}),
            "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null",
        ),
    ];
    let cases =
        cases.into_iter().map(|(b, m)| ("CreateTable", b, m)).chain(updates.map(|(b, m)| ("UpdateTable", b, m)));
    for (op, body, want) in cases {
        let target = format!("DynamoDB_20120810.{op}");
        let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
        let a = common::http::send(&addr, "POST", "/", &headers, body.to_string().as_bytes()).await;
        let v = a.json();
        assert_eq!(a.status, 400, "{body}: {v}");
        assert_eq!(v["message"].as_str(), Some(want), "{body}");
    }
}

/// An UpdateTable that declares an attribute the table defines already,
/// with another type, is served and the table's type kept (measured in
/// us-east-1, 2026-08, by ExtendDB's suite).
#[tokio::test]
async fn a_redeclared_attribute_keeps_its_type() {
    use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let h = harness().await;
    let c = &h.client;
    create_table(c, "redecl", None).await;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name("g1-index")
        .key_schema(key_elem("g1", KeyType::Hash))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    c.update_table()
        .table_name("redecl")
        .attribute_definitions(attr_def("pk", ScalarAttributeType::N))
        .attribute_definitions(attr_def("g1", ScalarAttributeType::S))
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .unwrap();
    let table = c.describe_table().table_name("redecl").send().await.unwrap().table.unwrap();
    let types: HashMap<String, String> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_string(), a.attribute_type().as_str().to_string()))
        .collect();
    assert_eq!(types.get("pk").map(String::as_str), Some("S"));
    assert_eq!(types.get("g1").map(String::as_str), Some("S"));
}

/// `LastUpdateToPayPerRequestDateTime` is when the table last became
/// on-demand: its creation, or the UpdateTable that switched it.
#[tokio::test]
async fn the_switch_to_on_demand_is_dated() {
    let h = harness().await;
    let c = &h.client;
    c.create_table()
        .table_name("switched")
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .provisioned_throughput(
            ProvisionedThroughput::builder().read_capacity_units(1).write_capacity_units(1).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    c.update_table().table_name("switched").billing_mode(BillingMode::PayPerRequest).send().await.unwrap();
    let table = c.describe_table().table_name("switched").send().await.unwrap().table.unwrap();
    let created = table.creation_date_time.unwrap();
    let switched = table.billing_mode_summary.unwrap().last_update_to_pay_per_request_date_time.unwrap();
    assert!(switched.as_secs_f64() > created.as_secs_f64(), "{switched:?} after {created:?}");
}

/// BatchGetItem projects each item once, as GetItem does: list elements
/// picked by index come back as GetItem returns them.
#[tokio::test]
async fn batch_get_projects_list_elements_as_get_item_does() {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let h = harness().await;
    let c = &h.client;
    create_table(c, "lists", None).await;
    let list = AttributeValue::L(vec![s("a"), s("b"), s("c")]);
    c.put_item().table_name("lists").item("pk", s("p")).item("l", list).send().await.unwrap();
    for projection in ["l[1]", "l[0], l[2]", "pk, l[2]"] {
        let got = c
            .get_item()
            .table_name("lists")
            .key("pk", s("p"))
            .projection_expression(projection)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        if projection == "l[1]" {
            assert_eq!(got.get("l"), Some(&AttributeValue::L(vec![s("b")])));
        }
        let keys = KeysAndAttributes::builder()
            .keys(HashMap::from([("pk".to_string(), s("p"))]))
            .projection_expression(projection)
            .build()
            .unwrap();
        let batch = c.batch_get_item().request_items("lists", keys).send().await.unwrap();
        assert_eq!(batch.responses.unwrap()["lists"], vec![got], "{projection}");
    }
}

/// DescribeTable lists AttributeDefinitions and an INCLUDE projection's
/// NonKeyAttributes sorted by name, whatever order they were sent in
/// (DDB-TABLE-125 of the ack-api-quirks catalogue, against the service);
/// the indexes keep theirs.
#[tokio::test]
async fn attribute_lists_are_described_sorted_by_name() {
    let h = harness().await;
    let c = &h.client;
    let created = c
        .create_table()
        .table_name("sorted")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("z", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("a", ScalarAttributeType::N))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("g-z")
                .key_schema(key_elem("z", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("zz")
                        .non_key_attributes("aa")
                        .non_key_attributes("mm")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("g-a")
                .key_schema(key_elem("a", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let described = c.describe_table().table_name("sorted").send().await.unwrap();
    for t in [created.table_description.unwrap(), described.table.unwrap()] {
        let names: Vec<&str> = t.attribute_definitions().iter().map(|a| a.attribute_name()).collect();
        assert_eq!(names, ["a", "pk", "sk", "z"]);
        let indexes: Vec<&str> = t.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect();
        assert_eq!(indexes, ["g-z", "g-a"]);
        let projection = t.global_secondary_indexes()[0].projection().unwrap();
        assert_eq!(projection.non_key_attributes(), ["aa", "mm", "zz"]);
    }
}

/// A table's class may be updated twice in 30 days; a third update is
/// refused with DynamoDB's LimitExceededException (DDB-TABLE-443).
#[tokio::test]
async fn table_class_updates_are_limited_to_two_in_thirty_days() {
    use aws_sdk_dynamodb::types::TableClass;
    let h = harness().await;
    let c = &h.client;
    create_table(c, "classy", None).await;
    for class in [TableClass::StandardInfrequentAccess, TableClass::Standard] {
        c.update_table().table_name("classy").table_class(class).send().await.expect("an update of the class");
    }
    let (kind, message) =
        failure(c.update_table().table_name("classy").table_class(TableClass::StandardInfrequentAccess).send().await);
    assert_eq!(kind, "LimitExceededException");
    assert_eq!(message, "Subscriber limit exceeded: Updates to TableClass are limited to 2 times in 30 day(s).");
    let t = c.describe_table().table_name("classy").send().await.unwrap().table.unwrap();
    assert!(t.table_class_summary().is_none_or(|s| s.table_class() == Some(&TableClass::Standard)), "{t:?}");
}
