//! Which channel a transaction's input error comes back on, as DynamoDB
//! answers (the conformance suite's captures of the live service): a fault
//! DynamoDB can see in the request alone is a top-level ValidationException;
//! a key value that does not fit the table's schema is found while the
//! transaction runs and cancels it, with a `ValidationError` reason at that
//! action and `None` at the others.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete, Get, GlobalSecondaryIndex, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, Put, ScalarAttributeType, TransactGetItem, TransactWriteItem,
    Update,
};
use common::{attr_def, code, create_table, harness, key_elem, n, s};

const HASH: &str = "hash";
const HASH_B: &str = "hashb";
const COMPOSITE: &str = "composite";
const GSI_B: &str = "gsib";

const SCHEMA_MISMATCH: &str = "The provided key element does not match the schema";
const EMPTY_KEY_S: &str = "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk";
const EMPTY_KEY_B: &str = "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: pk";
const UPDATE_EMPTY_INDEX_S: &str = "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value.";
const UPDATE_EMPTY_INDEX_B: &str = "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty binary value.";

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn list() -> AttributeValue {
    AttributeValue::L(vec![s("x")])
}

fn empty_b() -> AttributeValue {
    AttributeValue::B(Blob::new(Vec::new()))
}

/// `hash` (pk S), `hashb` (pk B), `gsib` (pk S, index `gsib` on bidx B) and
/// `composite` (pk S, sk S) with the suite's indexes: lsi1 (lsi1sk), lsi2
/// (lsi2sk), gsi1 (lsi1sk), gsi2 (lsi1sk, lsi2sk).
async fn tables(c: &Client) {
    create_table(c, HASH, None).await;
    c.create_table()
        .table_name(HASH_B)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::B))
        .send()
        .await
        .unwrap();
    let all = || Projection::builder().projection_type(ProjectionType::All).build();
    c.create_table()
        .table_name(GSI_B)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("bidx", ScalarAttributeType::B))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsib")
                .key_schema(key_elem("bidx", KeyType::Hash))
                .projection(all())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let lsi = |name: &str, sk: &str| {
        LocalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key_elem("pk", KeyType::Hash))
            .key_schema(key_elem(sk, KeyType::Range))
            .projection(all())
            .build()
            .unwrap()
    };
    c.create_table()
        .table_name(COMPOSITE)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .key_schema(key_elem("sk", KeyType::Range))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lsi1sk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("lsi2sk", ScalarAttributeType::S))
        .local_secondary_indexes(lsi("lsi1", "lsi1sk"))
        .local_secondary_indexes(lsi("lsi2", "lsi2sk"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key_elem("lsi1sk", KeyType::Hash))
                .projection(all())
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi2")
                .key_schema(key_elem("lsi1sk", KeyType::Hash))
                .key_schema(key_elem("lsi2sk", KeyType::Range))
                .projection(all())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn put(table: &str, it: &[(&str, AttributeValue)]) -> TransactWriteItem {
    TransactWriteItem::builder().put(Put::builder().table_name(table).set_item(Some(item(it))).build().unwrap()).build()
}

fn update(table: &str, key: &[(&str, AttributeValue)], set: &str, v: AttributeValue) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(item(key)))
                .update_expression(format!("SET {set} = :v"))
                .expression_attribute_values(":v", v)
                .build()
                .unwrap(),
        )
        .build()
}

fn delete(table: &str, key: &[(&str, AttributeValue)]) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(Delete::builder().table_name(table).set_key(Some(item(key))).build().unwrap())
        .build()
}

fn check(table: &str, key: &[(&str, AttributeValue)]) -> TransactWriteItem {
    TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(item(key)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .unwrap(),
        )
        .build()
}

fn get(table: &str, key: &[(&str, AttributeValue)]) -> TransactGetItem {
    TransactGetItem::builder().get(Get::builder().table_name(table).set_key(Some(item(key))).build().unwrap()).build()
}

/// What a request must answer.
enum Want {
    /// TransactionCanceledException: the reason codes in order, and the
    /// messages of the `ValidationError` ones in order.
    Cancelled(&'static [&'static str], &'static [&'static str]),
    /// A plain error: its code and message.
    TopLevel(&'static str, &'static str),
}

/// Checks a cancellation: the summary message lists the codes in order, each
/// reason carries its code, the `ValidationError` ones `messages` in order,
/// the `None` ones no message.
fn check_cancelled(
    case: &str,
    message: Option<&str>,
    reasons: &[CancellationReason],
    codes: &[&str],
    messages: &[&str],
) {
    assert_eq!(
        message,
        Some(
            format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            )
            .as_str()
        ),
        "{case}"
    );
    let got: Vec<_> = reasons.iter().map(|r| r.code().unwrap_or_default()).collect();
    assert_eq!(got, codes, "{case}");
    let failed: Vec<_> = reasons
        .iter()
        .filter(|r| r.code() == Some("ValidationError"))
        .map(|r| r.message().unwrap_or_default())
        .collect();
    assert_eq!(failed, messages, "{case}");
    assert!(reasons.iter().filter(|r| r.code() == Some("None")).all(|r| r.message().is_none()), "{case}");
}

async fn expect_write(c: &Client, case: &str, items: Vec<TransactWriteItem>, want: &Want) {
    let err = c.transact_write_items().set_transact_items(Some(items)).send().await.unwrap_err();
    match want {
        Want::TopLevel(kind, message) => {
            assert_eq!(code(&err), *kind, "{case}: {err:?}");
            assert_eq!(err.as_service_error().and_then(|e| e.meta().message()), Some(*message), "{case}");
        }
        Want::Cancelled(codes, messages) => match err.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(e) => {
                check_cancelled(case, e.message(), e.cancellation_reasons(), codes, messages)
            }
            other => panic!("{case}: expected a cancellation, got {other:?}"),
        },
    }
}

async fn expect_get(c: &Client, case: &str, items: Vec<TransactGetItem>, want: &Want) {
    let err = c.transact_get_items().set_transact_items(Some(items)).send().await.unwrap_err();
    match want {
        Want::TopLevel(kind, message) => {
            assert_eq!(code(&err), *kind, "{case}: {err:?}");
            assert_eq!(err.as_service_error().and_then(|e| e.meta().message()), Some(*message), "{case}");
        }
        Want::Cancelled(codes, messages) => match err.into_service_error() {
            TransactGetItemsError::TransactionCanceledException(e) => {
                check_cancelled(case, e.message(), e.cancellation_reasons(), codes, messages)
            }
            other => panic!("{case}: expected a cancellation, got {other:?}"),
        },
    }
}

#[tokio::test]
async fn transact_write_key_type_faults_cancel_the_transaction() {
    let h = harness().await;
    let c = &h.client;
    tables(c).await;
    const IDX_N: &str = "One or more parameter values were invalid: Type mismatch for Index Key lsi1sk Expected: S Actual: N IndexName: gsi1";
    const IDX_L: &str = "One or more parameter values were invalid: Type mismatch for Index Key lsi1sk Expected: S Actual: L IndexName: gsi1";
    let comp_key = |pk: &str| [("pk", s(pk)), ("sk", s("a"))];
    let one: &[&str] = &["ValidationError"];
    const KEY_N: &str = "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N";
    const KEY_L: &str = "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: L";
    let cases: Vec<(&str, Vec<TransactWriteItem>, Want)> = vec![
        ("Put wrong-typed table key", vec![put(HASH, &[("pk", n(5))])], Want::Cancelled(one, &[KEY_N])),
        ("Put non-scalar table key", vec![put(HASH, &[("pk", list())])], Want::Cancelled(one, &[KEY_L])),
        (
            "Put wrong-typed index key",
            vec![put(COMPOSITE, &[("pk", s("p-idx-n")), ("sk", s("a")), ("lsi1sk", n(5))])],
            Want::Cancelled(one, &[IDX_N]),
        ),
        (
            "Put non-scalar index key",
            vec![put(COMPOSITE, &[("pk", s("p-idx-l")), ("sk", s("a")), ("lsi1sk", list())])],
            Want::Cancelled(one, &[IDX_L]),
        ),
        (
            "Update wrong-typed index key",
            vec![update(COMPOSITE, &comp_key("u-idx-n"), "lsi1sk", n(5))],
            Want::Cancelled(one, &[IDX_N]),
        ),
        (
            "Update non-scalar index key",
            vec![update(COMPOSITE, &comp_key("u-idx-l"), "lsi1sk", list())],
            Want::Cancelled(one, &[IDX_L]),
        ),
        (
            "Update wrong-typed Key",
            vec![update(HASH, &[("pk", n(5))], "a", s("x"))],
            Want::Cancelled(one, &[SCHEMA_MISMATCH]),
        ),
        (
            "Update non-scalar Key",
            vec![update(HASH, &[("pk", list())], "a", s("x"))],
            Want::Cancelled(one, &[SCHEMA_MISMATCH]),
        ),
        ("Delete wrong-typed Key", vec![delete(HASH, &[("pk", n(5))])], Want::Cancelled(one, &[SCHEMA_MISMATCH])),
        ("Delete non-scalar Key", vec![delete(HASH, &[("pk", list())])], Want::Cancelled(one, &[SCHEMA_MISMATCH])),
        (
            "Delete Key missing the sort key",
            vec![delete(COMPOSITE, &[("pk", s("d"))])],
            Want::Cancelled(one, &[SCHEMA_MISMATCH]),
        ),
        (
            "ConditionCheck wrong-typed Key",
            vec![check(HASH, &[("pk", n(5))])],
            Want::Cancelled(one, &[SCHEMA_MISMATCH]),
        ),
        (
            "ConditionCheck non-scalar Key",
            vec![check(HASH, &[("pk", list())])],
            Want::Cancelled(one, &[SCHEMA_MISMATCH]),
        ),
        (
            "the failing action's position, None for the others",
            vec![
                put(HASH, &[("pk", s("survivor"))]),
                delete(HASH, &[("pk", n(5))]),
                check(HASH, &[("pk", s("fresh"))]),
            ],
            Want::Cancelled(&["None", "ValidationError", "None"], &[SCHEMA_MISMATCH]),
        ),
        // DynamoDB stops at the first: the second is None, unchecked
        // (Alternator's tests against DynamoDB).
        (
            "two failing actions",
            vec![put(HASH, &[("pk", list())]), put(HASH_B, &[("pk", s("not-binary"))])],
            Want::Cancelled(&["ValidationError", "None"], &[KEY_L]),
        ),
        (
            "a failing action before a false condition",
            vec![
                put(HASH, &[("pk", n(7))]),
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(HASH)
                            .set_item(Some(item(&[("pk", s("absent"))])))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ],
            Want::Cancelled(
                &["ValidationError", "None"],
                &["One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"],
            ),
        ),
    ];
    for (case, items, want) in cases {
        expect_write(c, case, items, &want).await;
    }
    // A cancelled transaction wrote nothing, not even its valid actions.
    let survivor = c.get_item().table_name(HASH).key("pk", s("survivor")).send().await.unwrap();
    assert!(survivor.item.is_none());
    let scanned = c.scan().table_name(COMPOSITE).send().await.unwrap();
    assert_eq!(scanned.count, 0);
}

#[tokio::test]
async fn transact_write_request_faults_stay_top_level() {
    let h = harness().await;
    let c = &h.client;
    tables(c).await;
    let v = "ValidationException";
    let comp_key = |pk: &str| [("pk", s(pk)), ("sk", s("c"))];
    let cases: Vec<(&str, Vec<TransactWriteItem>, Want)> = vec![
        (
            "Update empty-string index key",
            vec![update(COMPOSITE, &comp_key("u-empty"), "lsi1sk", s(""))],
            Want::TopLevel(v, UPDATE_EMPTY_INDEX_S),
        ),
        (
            "Update empty-binary index key",
            vec![update(GSI_B, &[("pk", s("u-empty-b"))], "bidx", empty_b())],
            Want::TopLevel(v, UPDATE_EMPTY_INDEX_B),
        ),
        (
            "Update empty index key after a passing action",
            vec![put(HASH, &[("pk", s("before"))]), update(COMPOSITE, &comp_key("u-empty-2"), "lsi1sk", s(""))],
            Want::TopLevel(v, UPDATE_EMPTY_INDEX_S),
        ),
        (
            "Put empty-string index key",
            vec![put(COMPOSITE, &[("pk", s("p-empty")), ("sk", s("c")), ("lsi1sk", s(""))])],
            Want::TopLevel(
                v,
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: gsi1, IndexKey: lsi1sk",
            ),
        ),
        (
            "Put empty-binary index key",
            vec![put(GSI_B, &[("pk", s("p-empty-b")), ("bidx", empty_b())])],
            Want::TopLevel(
                v,
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty binary value. IndexName: gsib, IndexKey: bidx",
            ),
        ),
        ("Put empty-string table key", vec![put(HASH, &[("pk", s(""))])], Want::TopLevel(v, EMPTY_KEY_S)),
        ("Put empty-binary table key", vec![put(HASH_B, &[("pk", empty_b())])], Want::TopLevel(v, EMPTY_KEY_B)),
        ("Update empty-string Key", vec![update(HASH, &[("pk", s(""))], "a", s("x"))], Want::TopLevel(v, EMPTY_KEY_S)),
        ("Delete empty-string Key", vec![delete(HASH, &[("pk", s(""))])], Want::TopLevel(v, EMPTY_KEY_S)),
        ("ConditionCheck empty-string Key", vec![check(HASH, &[("pk", s(""))])], Want::TopLevel(v, EMPTY_KEY_S)),
        (
            "Update empty-binary Key",
            vec![update(HASH_B, &[("pk", empty_b())], "a", s("x"))],
            Want::TopLevel(v, EMPTY_KEY_B),
        ),
        ("Delete empty-binary Key", vec![delete(HASH_B, &[("pk", empty_b())])], Want::TopLevel(v, EMPTY_KEY_B)),
        ("ConditionCheck empty-binary Key", vec![check(HASH_B, &[("pk", empty_b())])], Want::TopLevel(v, EMPTY_KEY_B)),
        (
            "Put missing the table key",
            vec![put(HASH, &[("other", s("x"))])],
            Want::TopLevel(v, "One or more parameter values were invalid: Missing the key pk in the item"),
        ),
        (
            "a request fault in a later action wins over a cancelling one",
            vec![put(HASH, &[("pk", n(5))]), delete(HASH, &[("pk", s(""))])],
            Want::TopLevel(v, EMPTY_KEY_S),
        ),
        (
            "an unknown table wins over a cancelling action",
            vec![put(HASH, &[("pk", n(5))]), put("no-such-table", &[("pk", s("x"))])],
            Want::TopLevel("ResourceNotFoundException", "Requested resource not found"),
        ),
        (
            "duplicate items win over a cancelling action",
            vec![put(HASH, &[("pk", list())]), put(HASH, &[("pk", s("dup"))]), delete(HASH, &[("pk", s("dup"))])],
            Want::TopLevel(v, "Transaction request cannot include multiple operations on one item"),
        ),
    ];
    for (case, items, want) in cases {
        expect_write(c, case, items, &want).await;
    }
    // Nothing was written.
    for table in [HASH, HASH_B, COMPOSITE, GSI_B] {
        assert_eq!(c.scan().table_name(table).send().await.unwrap().count, 0, "{table}");
    }
}

#[tokio::test]
async fn transact_get_key_faults_cancel_the_transaction() {
    let h = harness().await;
    let c = &h.client;
    tables(c).await;
    c.put_item().table_name(HASH).item("pk", s("there")).send().await.unwrap();
    let cases: Vec<(&str, Vec<TransactGetItem>, Want)> = vec![
        ("empty Key", vec![get(HASH, &[])], Want::Cancelled(&["ValidationError"], &[SCHEMA_MISMATCH])),
        (
            "empty Key after a valid Get",
            vec![get(HASH, &[("pk", s("there"))]), get(HASH, &[])],
            Want::Cancelled(&["None", "ValidationError"], &[SCHEMA_MISMATCH]),
        ),
        (
            "wrong-typed Key",
            vec![get(HASH, &[("pk", n(5))])],
            Want::Cancelled(&["ValidationError"], &[SCHEMA_MISMATCH]),
        ),
        (
            "non-scalar Key",
            vec![get(HASH, &[("pk", list())])],
            Want::Cancelled(&["ValidationError"], &[SCHEMA_MISMATCH]),
        ),
        (
            "Key with an extra attribute",
            vec![get(HASH, &[("pk", s("there")), ("x", s("y"))])],
            Want::Cancelled(&["ValidationError"], &[SCHEMA_MISMATCH]),
        ),
        (
            "Key missing the sort key",
            vec![get(COMPOSITE, &[("pk", s("p"))]), get(HASH, &[("pk", s("there"))])],
            Want::Cancelled(&["ValidationError", "None"], &[SCHEMA_MISMATCH]),
        ),
        ("empty-string Key", vec![get(HASH, &[("pk", s(""))])], Want::TopLevel("ValidationException", EMPTY_KEY_S)),
        (
            "empty-binary Key",
            vec![get(HASH_B, &[("pk", empty_b())])],
            Want::TopLevel("ValidationException", EMPTY_KEY_B),
        ),
        (
            "a request fault in a later Get wins over a cancelling one",
            vec![get(HASH, &[]), get("no-such-table", &[("pk", s("x"))])],
            Want::TopLevel("ResourceNotFoundException", "Requested resource not found"),
        ),
    ];
    for (case, items, want) in cases {
        expect_get(c, case, items, &want).await;
    }
}
