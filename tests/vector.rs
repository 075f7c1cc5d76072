//! Vector indexes and SearchVectors through `aws-sdk-dynamodb`: exact
//! results against a brute-force ranking, partitions and inline filters,
//! projections, metering, DynamoDB's refusals, the phases of an index added
//! by UpdateTable, and indexes kept across a restart and a restore.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, CreateVectorIndexAction, DeleteVectorIndexAction, IndexStatus, KeyType, Projection,
    ProjectionType, ReturnConsumedCapacity, ScalarAttributeType, SearchSchemaElement, SearchSchemaElementType,
    TableStatus, VectorAttributeDefinition, VectorDistanceFunction, VectorIndex, VectorIndexUpdate,
};
use common::{attr_def, client, code, harness, key_elem, s, start_in, until_active};
use tidepool_store::Durability;

const DIMS: usize = 8;
const ITEMS: usize = 300;

fn vec_attr(v: &[f32]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| AttributeValue::N(x.to_string())).collect())
}

fn index(name: &str, distance: VectorDistanceFunction, schema: &[(&str, SearchSchemaElementType)]) -> VectorIndex {
    let mut b = VectorIndex::builder()
        .index_name(name)
        .vector_attribute(VectorAttributeDefinition::builder().attribute_name("embedding").build().unwrap())
        .dimensions(DIMS as i64)
        .distance_function(distance)
        .projection(Projection::builder().projection_type(ProjectionType::All).build());
    for (attr, role) in schema {
        b = b.search_schema(
            SearchSchemaElement::builder()
                .attribute_name(*attr)
                .search_schema_element_type(role.clone())
                .build()
                .unwrap(),
        );
    }
    b.build().unwrap()
}

/// A deterministic vector for item `i`.
fn vector(i: usize) -> Vec<f32> {
    let mut x = (i as u64).wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..DIMS)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn score(distance: &VectorDistanceFunction, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    match distance {
        VectorDistanceFunction::Cosine => 1.0 - dot / (norm(a) * norm(b)),
        VectorDistanceFunction::Euclidean => {
            a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>().sqrt()
        }
        _ => dot,
    }
}

/// `docs`: keyed by `pk`, three plain indexes (one per distance function)
/// and `by-tenant` (HASH `tenant`, INLINE_FILTER `kind`); `ITEMS` items in
/// four tenants and two kinds.
async fn load_docs(c: &Client) {
    c.create_table()
        .table_name("docs")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("tenant", ScalarAttributeType::S))
        .attribute_definitions(attr_def("kind", ScalarAttributeType::N))
        .vector_indexes(index("cosine", VectorDistanceFunction::Cosine, &[]))
        .vector_indexes(index("euclidean", VectorDistanceFunction::Euclidean, &[]))
        .vector_indexes(index("dot", VectorDistanceFunction::DotProduct, &[]))
        .vector_indexes(index(
            "by-tenant",
            VectorDistanceFunction::Cosine,
            &[("tenant", SearchSchemaElementType::Hash), ("kind", SearchSchemaElementType::InlineFilter)],
        ))
        .send()
        .await
        .expect("create docs");
    until_active(c, "docs").await;
    for i in 0..ITEMS {
        c.put_item()
            .table_name("docs")
            .item("pk", s(&format!("d{i:03}")))
            .item("tenant", s(&format!("t{}", i % 4)))
            .item("kind", AttributeValue::N((i % 2).to_string()))
            .item("title", s(&format!("doc {i}")))
            .item("embedding", vec_attr(&vector(i)))
            .send()
            .await
            .expect("put a doc");
    }
}

async fn search(c: &Client, index: &str, q: &[f32], k: i32) -> Vec<(String, f64)> {
    let out = c
        .search_vectors()
        .table_name("docs")
        .index_name(index)
        .set_search_vector(Some(q.iter().map(|x| AttributeValue::N(x.to_string())).collect()))
        .top_k(k)
        .send()
        .await
        .expect("search");
    out.search_results().iter().map(|r| (r.item().unwrap()["pk"].as_s().unwrap().clone(), r.score())).collect()
}

/// The ranking of every item by `distance`, best first, as `(pk, score)`.
fn brute_force(distance: &VectorDistanceFunction, q: &[f32], keep: impl Fn(usize) -> bool) -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> =
        (0..ITEMS).filter(|i| keep(*i)).map(|i| (format!("d{i:03}"), score(distance, q, &vector(i)))).collect();
    let higher_is_closer = *distance == VectorDistanceFunction::DotProduct;
    all.sort_by(|a, b| if higher_is_closer { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
    all
}

#[tokio::test]
async fn a_search_returns_the_exact_nearest_items() {
    let h = harness().await;
    let c = &h.client;
    load_docs(c).await;
    let q = vector(10_000);
    for (name, distance) in [
        ("cosine", VectorDistanceFunction::Cosine),
        ("euclidean", VectorDistanceFunction::Euclidean),
        ("dot", VectorDistanceFunction::DotProduct),
    ] {
        let got = search(c, name, &q, 10).await;
        let want = brute_force(&distance, &q, |_| true);
        let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        let want_keys: Vec<&str> = want[..10].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got_keys, want_keys, "{name}: the ten nearest, in order");
        for ((_, g), (_, w)) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{name}: score {g} against {w}");
        }
    }
    // A partition, then a partition and an inline filter.
    let got = search_where(c, &q, "tenant = :t", &[(":t", s("t1"))]).await;
    let want = brute_force(&VectorDistanceFunction::Cosine, &q, |i| i % 4 == 1);
    assert_eq!(got, want[..5].iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
    let got =
        search_where(c, &q, "tenant = :t AND kind = :k", &[(":t", s("t2")), (":k", AttributeValue::N("0".into()))])
            .await;
    let want = brute_force(&VectorDistanceFunction::Cosine, &q, |i| i % 4 == 2 && i % 2 == 0);
    assert_eq!(got, want[..5].iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
    // Kind 1 never shares a tenant with even items: nothing matches.
    let got =
        search_where(c, &q, "tenant = :t AND kind = :k", &[(":t", s("t2")), (":k", AttributeValue::N("1".into()))])
            .await;
    assert!(got.is_empty());

    // The vector comes back only when asked for, as the index's f32 copy.
    let out = c
        .search_vectors()
        .table_name("docs")
        .index_name("cosine")
        .set_search_vector(Some(vector(7).iter().map(|x| AttributeValue::N(x.to_string())).collect()))
        .top_k(1)
        .send()
        .await
        .unwrap();
    let item = out.search_results()[0].item().unwrap();
    assert_eq!(item["pk"].as_s().unwrap(), "d007");
    assert!(!item.contains_key("embedding"));
    assert_eq!(item["title"].as_s().unwrap(), "doc 7");
    let out = c
        .search_vectors()
        .table_name("docs")
        .index_name("cosine")
        .set_search_vector(Some(vector(7).iter().map(|x| AttributeValue::N(x.to_string())).collect()))
        .top_k(1)
        .projection_expression("pk, embedding")
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let item = out.search_results()[0].item().unwrap();
    let back: Vec<f32> = item["embedding"].as_l().unwrap().iter().map(|v| v.as_n().unwrap().parse().unwrap()).collect();
    assert_eq!(back, vector(7));
    assert_eq!(item.len(), 2);
    let bytes = out.consumed_capacity().unwrap().vector_search_request_bytes().unwrap();
    assert!(bytes >= 1024.0, "metered at 1 KB at least: {bytes}");

    // Writes meter the indexes whose entries change, under INDEXES.
    let put = |v: Vec<f32>| {
        c.put_item()
            .table_name("docs")
            .item("pk", s("d000"))
            .item("tenant", s("t0"))
            .item("kind", AttributeValue::N("0".into()))
            .item("title", s("doc 0"))
            .item("embedding", vec_attr(&v))
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
    };
    let same = put(vector(0)).await.unwrap();
    assert!(same.consumed_capacity().unwrap().vector_indexes().is_none(), "an identical overwrite writes no entry");
    let changed = put(vector(5_000)).await.unwrap();
    let per_index = changed.consumed_capacity().unwrap().vector_indexes().unwrap();
    assert_eq!(per_index.len(), 4);
    assert!(per_index.values().all(|v| v.vector_write_request_bytes().unwrap() >= 1024.0));
    // PartiQL writes too, alone and in a batch.
    let update = |v: usize| {
        format!(
            "UPDATE docs SET embedding = [{}] WHERE pk = 'd000'",
            vector(v).iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", ")
        )
    };
    let one = c
        .execute_statement()
        .statement(update(6_000))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    assert_eq!(one.consumed_capacity().unwrap().vector_indexes().map(|m| m.len()), Some(4));
    let batch = c
        .batch_execute_statement()
        .statements(aws_sdk_dynamodb::types::BatchStatementRequest::builder().statement(update(7_000)).build().unwrap())
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.consumed_capacity()[0].vector_indexes().map(|m| m.len()), Some(4));

    // DescribeTable counts each index's entries.
    let d = c.describe_table().table_name("docs").send().await.unwrap();
    let table = d.table().unwrap();
    assert_eq!(table.vector_indexes().len(), 4);
    for v in table.vector_indexes() {
        assert_eq!(v.index_status(), Some(&IndexStatus::Active));
        assert_eq!(v.item_count(), Some(ITEMS as i64));
        assert!(v.backfilling().is_none(), "made with the table: no Backfilling");
        assert!(v.index_arn().unwrap().ends_with(&format!("/index/{}", v.index_name().unwrap())));
    }
}

async fn search_where(c: &Client, q: &[f32], cond: &str, values: &[(&str, AttributeValue)]) -> Vec<String> {
    let mut req = c
        .search_vectors()
        .table_name("docs")
        .index_name("by-tenant")
        .set_search_vector(Some(q.iter().map(|x| AttributeValue::N(x.to_string())).collect()))
        .top_k(5)
        .search_condition_expression(cond);
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    let out = req.send().await.expect("search with a condition");
    out.search_results().iter().map(|r| r.item().unwrap()["pk"].as_s().unwrap().clone()).collect()
}

/// A refusal's code and message.
async fn refused<T, E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> (String, String) {
    let e = r.err().expect("refused");
    (code(&e), e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_string())
}

#[tokio::test]
async fn refusals_are_dynamodbs() {
    let h = harness().await;
    let c = &h.client;
    load_docs(c).await;
    let q: Vec<AttributeValue> = vector(1).iter().map(|x| AttributeValue::N(x.to_string())).collect();
    let base = || c.search_vectors().table_name("docs").set_search_vector(Some(q.clone())).top_k(3);
    let cases = [
        (
            refused(base().index_name("cosine").top_k(101).send().await).await,
            "Provided TopK value '101' is out of valid range. The value must be between 1 and 100 inclusive",
        ),
        (
            refused(base().index_name("by-tenant").send().await).await,
            "SearchConditionExpression must be provided when SearchSchema has a HASH key",
        ),
        (
            refused(
                base()
                    .index_name("by-tenant")
                    .search_condition_expression("tenant = :t AND kind > :k")
                    .expression_attribute_values(":t", s("t1"))
                    .expression_attribute_values(":k", AttributeValue::N("0".into()))
                    .send()
                    .await,
            )
            .await,
            "Invalid SearchConditionExpression: Invalid comparator used in SearchConditionExpression",
        ),
        (
            refused(
                base()
                    .index_name("by-tenant")
                    .search_condition_expression("tenant IN (:t)")
                    .expression_attribute_values(":t", s("t1"))
                    .send()
                    .await,
            )
            .await,
            "Invalid SearchConditionExpression: Invalid operator used in SearchConditionExpression",
        ),
        (
            refused(
                base()
                    .index_name("cosine")
                    .search_condition_expression("tenant = :t")
                    .expression_attribute_values(":t", s("t1"))
                    .send()
                    .await,
            )
            .await,
            "SearchConditionExpression must not contain any attributes that is not in SearchSchema. Invalid attribute: tenant",
        ),
        (refused(base().index_name("nope").send().await).await, "The table does not have the specified index: nope"),
        (
            refused(
                c.search_vectors()
                    .table_name("docs")
                    .index_name("cosine")
                    .search_vector(AttributeValue::N("1".into()))
                    .top_k(1)
                    .send()
                    .await,
            )
            .await,
            "Input search vector dimension 1 does not match vector index dimension 8",
        ),
        (
            refused(
                c.put_item()
                    .table_name("docs")
                    .item("pk", s("bad"))
                    .item("embedding", vec_attr(&[1.0, 2.0]))
                    .send()
                    .await,
            )
            .await,
            "One or more parameter values were invalid. Invalid size for parameter embedding, Expected: 8, Actual: 2 IndexName: cosine",
        ),
        (
            refused(
                c.query()
                    .table_name("docs")
                    .index_name("cosine")
                    .key_condition_expression("pk = :p")
                    .expression_attribute_values(":p", s("x"))
                    .send()
                    .await,
            )
            .await,
            "Query operation not supported on this index type.",
        ),
        (
            refused(c.scan().table_name("docs").index_name("cosine").send().await).await,
            "Scan operation not supported on this index type",
        ),
    ];
    for ((code, message), want) in cases {
        assert_eq!(code, "ValidationException", "{want}");
        assert_eq!(message, want);
    }
    let (code, _) = refused(base().table_name("missing").index_name("cosine").send().await).await;
    assert_eq!(code, "ResourceNotFoundException");
}

fn added_index(name: &str) -> VectorIndexUpdate {
    VectorIndexUpdate::builder()
        .create(
            CreateVectorIndexAction::builder()
                .index_name(name)
                .vector_attribute(VectorAttributeDefinition::builder().attribute_name("embedding").build().unwrap())
                .dimensions(DIMS as i64)
                .distance_function(VectorDistanceFunction::Euclidean)
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn an_index_added_later_allocates_backfills_then_serves() {
    let h = harness().await;
    let c = &h.client;
    c.create_table()
        .table_name("docs")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .send()
        .await
        .unwrap();
    for i in 0..50 {
        c.put_item()
            .table_name("docs")
            .item("pk", s(&format!("d{i:03}")))
            .item("embedding", vec_attr(&vector(i)))
            .send()
            .await
            .unwrap();
    }
    let out = c.update_table().table_name("docs").vector_index_updates(added_index("later")).send().await.unwrap();
    assert_eq!(out.table_description().unwrap().table_status(), Some(&TableStatus::Updating));
    let d = c.describe_table().table_name("docs").send().await.unwrap();
    let v = &d.table().unwrap().vector_indexes()[0];
    assert_eq!((v.index_status(), v.backfilling()), (Some(&IndexStatus::Creating), Some(false)));
    // Allocating: a delete waits for the backfill, a second index for both.
    let del = VectorIndexUpdate::builder()
        .delete(DeleteVectorIndexAction::builder().index_name("later").build().unwrap())
        .build();
    let (code, message) =
        refused(c.update_table().table_name("docs").vector_index_updates(del.clone()).send().await).await;
    assert_eq!(code, "ResourceInUseException");
    assert!(message.contains("Index creation is in resource allocation phase"), "{message}");
    let (code, message) =
        refused(c.update_table().table_name("docs").vector_index_updates(added_index("later")).send().await).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "ResourceInUseException",
            "Attempt to change a resource which is still in use: Index is being created.  Table: docs Index: later"
        )
    );
    let (code, _) =
        refused(c.update_table().table_name("docs").vector_index_updates(added_index("other")).send().await).await;
    assert_eq!(code, "LimitExceededException");
    let (code, _) = refused(c.delete_table().table_name("docs").send().await).await;
    assert_eq!(code, "ResourceInUseException");
    // Searches are refused until the index is active, then find every item.
    let q: Vec<AttributeValue> = vector(3).iter().map(|x| AttributeValue::N(x.to_string())).collect();
    let started = Instant::now();
    let mut saw_backfilling = false;
    loop {
        let d = c.describe_table().table_name("docs").send().await.unwrap();
        let t = d.table().unwrap();
        let v = &t.vector_indexes()[0];
        if v.backfilling() == Some(true) {
            saw_backfilling = true;
            assert_eq!(t.table_status(), Some(&TableStatus::Active), "the table is ACTIVE while the index fills");
        }
        match c
            .search_vectors()
            .table_name("docs")
            .index_name("later")
            .set_search_vector(Some(q.clone()))
            .top_k(100)
            .send()
            .await
        {
            Ok(out) => {
                assert_eq!(v.index_status(), Some(&IndexStatus::Active));
                assert_eq!(out.search_results().len(), 50);
                assert_eq!(out.search_results()[0].item().unwrap()["pk"].as_s().unwrap(), "d003");
                assert_eq!(out.search_results()[0].score(), 0.0);
                break;
            }
            Err(e) => {
                let message = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_string();
                assert!(
                    message == "The table does not have the specified index: later"
                        || message == "Cannot search backfilling vector index: later",
                    "{message}"
                );
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the index became searchable");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saw_backfilling);
    c.update_table().table_name("docs").vector_index_updates(del).send().await.unwrap();
    let d = c.describe_table().table_name("docs").send().await.unwrap();
    assert!(d.table().unwrap().vector_indexes().is_empty());
    c.delete_table().table_name("docs").send().await.unwrap();
}

#[tokio::test]
async fn indexes_survive_a_restart_and_are_restored_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path(), Durability::default()).await;
    let c = client(&server.endpoint());
    load_docs(&c).await;
    let q = vector(42);
    let backup = c
        .create_backup()
        .table_name("docs")
        .backup_name("vectors")
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_string();
    let described = c.describe_backup().backup_arn(&backup).send().await.unwrap();
    let features = described.backup_description().unwrap().source_table_feature_details().unwrap();
    assert_eq!(features.vector_indexes().len(), 4);
    server.stop().await.unwrap();

    let server = start_in(dir.path(), Durability::default()).await;
    let c = client(&server.endpoint());
    let after = search(&c, "cosine", &q, 10).await;
    assert_eq!(after[0].0, "d042");
    c.restore_table_from_backup().target_table_name("copy").backup_arn(&backup).send().await.unwrap();
    until_active(&c, "copy").await;
    let out = c
        .search_vectors()
        .table_name("copy")
        .index_name("by-tenant")
        .set_search_vector(Some(q.iter().map(|x| AttributeValue::N(x.to_string())).collect()))
        .top_k(3)
        .search_condition_expression("tenant = :t")
        .expression_attribute_values(":t", s("t2"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.search_results()[0].item().unwrap()["pk"].as_s().unwrap(), "d042");
    // An empty override drops every vector index.
    c.restore_table_from_backup()
        .target_table_name("bare")
        .backup_arn(&backup)
        .set_vector_index_override(Some(Vec::new()))
        .send()
        .await
        .unwrap();
    until_active(&c, "bare").await;
    let d = c.describe_table().table_name("bare").send().await.unwrap();
    assert!(d.table().unwrap().vector_indexes().is_empty());
    let names: HashMap<String, ScalarAttributeType> = d
        .table()
        .unwrap()
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_string(), a.attribute_type().clone()))
        .collect();
    assert_eq!(names.len(), 1, "only the key's definition is left: {names:?}");
    server.stop().await.unwrap();
}
