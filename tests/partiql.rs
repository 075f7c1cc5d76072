//! End-to-end tests of PartiQL (ExecuteStatement, BatchExecuteStatement and
//! ExecuteTransaction) through the real server with the official SDK.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::execute_transaction::ExecuteTransactionError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementErrorCodeEnum, BatchStatementRequest, BillingMode, GlobalSecondaryIndex, KeyType,
    ParameterizedStatement, Projection, ProjectionType, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType,
};
use common::{attr_def, code, create_table, harness, key_elem, n, s};

type Item = HashMap<String, AttributeValue>;

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Runs a statement and returns its items.
async fn run(c: &Client, statement: &str, params: &[AttributeValue]) -> Vec<Item> {
    c.execute_statement()
        .statement(statement)
        .set_parameters((!params.is_empty()).then(|| params.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{statement}: {:?}", e.into_service_error()))
        .items
        .unwrap_or_default()
}

/// Runs a statement that must fail; returns the error code and message.
async fn fails(c: &Client, statement: &str, params: &[AttributeValue]) -> (String, String) {
    let err = c
        .execute_statement()
        .statement(statement)
        .set_parameters((!params.is_empty()).then(|| params.to_vec()))
        .send()
        .await
        .expect_err(statement);
    (code(&err), err.message().unwrap_or_default().to_string())
}

async fn get(c: &Client, table: &str, key: Item) -> Option<Item> {
    c.get_item().table_name(table).set_key(Some(key)).send().await.unwrap().item
}

fn sorted_strings(v: &AttributeValue) -> Vec<String> {
    let mut out = v.as_ss().or_else(|_| v.as_ns()).cloned().unwrap_or_default();
    out.sort();
    out
}

fn pks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i["pk"].as_s().unwrap().clone()).collect()
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i["sk"].as_n().unwrap().clone()).collect()
}

#[tokio::test]
async fn insert_select_update_delete_round_trip() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "music", None).await;

    let inserted = run(
        c,
        r#"INSERT INTO "music" VALUE {'pk': 'song', 'n': 1.50, 'yes': TRUE, 'none': NULL, 'l': [1, 'two'],
           'm': {'k': {'deep': 3}}, 'ss': <<'b', 'a'>>, 'ns': <<2, 1>>, 'bin': ?}"#,
        &[AttributeValue::B(Blob::new(vec![0, 255]))],
    )
    .await;
    assert!(inserted.is_empty(), "an INSERT returns no items");
    let got = get(c, "music", item(&[("pk", s("song"))])).await.expect("inserted");
    assert_eq!(got["n"], n("1.5"));
    assert_eq!(got["yes"], AttributeValue::Bool(true));
    assert_eq!(got["none"], AttributeValue::Null(true));
    assert_eq!(got["l"], AttributeValue::L(vec![n(1), s("two")]));
    assert_eq!(got["m"], AttributeValue::M(item(&[("k", AttributeValue::M(item(&[("deep", n(3))])))])));
    assert_eq!(sorted_strings(&got["ss"]), ["a", "b"]);
    assert_eq!(sorted_strings(&got["ns"]), ["1", "2"]);
    assert_eq!(got["bin"], AttributeValue::B(Blob::new(vec![0, 255])));

    // SELECT *, and selected paths named by their last step.
    let all = run(c, r#"SELECT * FROM music WHERE pk = ?"#, &[s("song")]).await;
    assert_eq!(all, vec![got.clone()]);
    let some = run(c, r#"select "n", m.k.deep, l[1], nope from "music" where pk = 'song'"#, &[]).await;
    assert_eq!(some, vec![item(&[("n", n("1.5")), ("deep", n(3)), ("l[1]", s("two"))])]);

    // UPDATE: SET with arithmetic, list_append, set_add/set_delete; REMOVE.
    let updated = run(
        c,
        "UPDATE music SET n = n + 1, l = list_append(l, [3]) SET ss = set_add(ss, <<'c'>>) \
         SET ns = SET_DELETE(ns, <<1>>) REMOVE \"none\", m.k WHERE pk = 'song' RETURNING ALL NEW *",
        &[],
    )
    .await;
    let after = get(c, "music", item(&[("pk", s("song"))])).await.unwrap();
    assert_eq!(updated, vec![after.clone()]);
    assert_eq!(after["n"], n("2.5"));
    assert_eq!(after["l"], AttributeValue::L(vec![n(1), s("two"), n(3)]));
    assert_eq!(sorted_strings(&after["ss"]), ["a", "b", "c"]);
    assert_eq!(sorted_strings(&after["ns"]), ["2"]);
    assert!(!after.contains_key("none"));
    assert_eq!(after["m"], AttributeValue::M(item(&[])));

    // RETURNING MODIFIED OLD/NEW * return only what the update wrote.
    let old = run(c, "UPDATE music SET n = 7 WHERE pk = 'song' RETURNING MODIFIED OLD *", &[]).await;
    assert_eq!(old, vec![item(&[("n", n("2.5"))])]);
    let new = run(c, "UPDATE music SET n = n - 2 WHERE pk = 'song' RETURNING MODIFIED NEW *", &[]).await;
    assert_eq!(new, vec![item(&[("n", n(5))])]);
    let all_old = run(c, "UPDATE music SET x = 'y' WHERE pk = 'song' RETURNING ALL OLD *", &[]).await;
    assert_eq!(all_old[0]["n"], n(5));
    assert!(!all_old[0].contains_key("x"));
    let removed = run(c, "UPDATE music REMOVE x WHERE pk = 'song' RETURNING MODIFIED NEW *", &[]).await;
    assert!(removed.is_empty(), "nothing modified remains to return");

    // DELETE with RETURNING ALL OLD *; a missing item is not an error.
    let deleted = run(c, "DELETE FROM music WHERE pk = 'song' RETURNING ALL OLD *", &[]).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["pk"], s("song"));
    assert!(get(c, "music", item(&[("pk", s("song"))])).await.is_none());
    assert!(run(c, "DELETE FROM music WHERE pk = 'song' RETURNING ALL OLD *", &[]).await.is_empty());
    assert!(run(c, "DELETE FROM music WHERE pk = 'never'", &[]).await.is_empty());
    // The key is free again.
    run(c, "INSERT INTO music VALUE {'pk': 'song'}", &[]).await;
}

#[tokio::test]
async fn select_runs_as_query_or_scan_with_the_whole_where() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "scores", Some(ScalarAttributeType::N)).await;
    for (pk, sk, tag) in [("a", 1, "x1"), ("a", 2, "y"), ("a", 3, "x3"), ("b", 1, "x"), ("b", 5, "z"), ("c", 9, "x")] {
        let mut it = item(&[("pk", s(pk)), ("sk", n(sk)), ("tag", s(tag))]);
        if sk == 3 {
            it.insert("nums".into(), AttributeValue::L(vec![n(1), n(2), n(3)]));
        }
        c.put_item().table_name("scores").set_item(Some(it)).send().await.unwrap();
    }
    let q = |w: &str| format!("SELECT * FROM scores WHERE {w}");
    assert_eq!(sks(&run(c, &q("pk = 'a'"), &[]).await), ["1", "2", "3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND sk > 1"), &[]).await), ["2", "3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND sk BETWEEN 2 AND 3"), &[]).await), ["2", "3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND begins_with(tag, 'x')"), &[]).await), ["1", "3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND sk <> 2 AND NOT tag = 'x1'"), &[]).await), ["3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' ORDER BY sk DESC"), &[]).await), ["3", "2", "1"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND size(nums) = 3 AND contains(nums, 2)"), &[]).await), ["3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND nums IS NOT MISSING"), &[]).await), ["3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND nums IS MISSING"), &[]).await), ["1", "2"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND attribute_type(nums, 'L') = true"), &[]).await), ["3"]);
    assert_eq!(sks(&run(c, &q("pk = 'a' AND nums[2] = 3"), &[]).await), ["3"]);
    // IN on the partition key reads each partition; ORDER BY the partition key orders them.
    let by_in = run(c, &q("pk IN ['c', 'a'] AND sk >= 3 ORDER BY pk DESC"), &[]).await;
    assert_eq!(pks(&by_in), ["c", "a"]);
    // No partition key condition: a scan with the filter.
    let mut tagged = run(c, &q("tag = 'x' OR sk = 5"), &[]).await;
    tagged.sort_by_key(|i| (i["pk"].as_s().unwrap().clone(), i["sk"].as_n().unwrap().clone()));
    assert_eq!(pks(&tagged), ["b", "b", "c"]);
    assert!(run(c, &q("pk = 'nobody'"), &[]).await.is_empty());
    // A sort key condition of the wrong type matches nothing rather than failing.
    assert!(run(c, &q("pk = 'a' AND sk = 'one'"), &[]).await.is_empty());
}

#[tokio::test]
async fn limit_and_next_token_page_through_results() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "pages", Some(ScalarAttributeType::N)).await;
    for pk in ["a", "b", "c"] {
        for sk in 0..4 {
            c.put_item()
                .table_name("pages")
                .set_item(Some(item(&[("pk", s(pk)), ("sk", n(sk)), ("odd", AttributeValue::Bool(sk % 2 == 1))])))
                .send()
                .await
                .unwrap();
        }
    }
    for statement in [
        "SELECT pk, sk FROM pages",
        "SELECT pk, sk FROM pages WHERE odd = true",
        "SELECT pk, sk FROM pages WHERE pk IN ['c', 'a', 'b']",
        "SELECT pk, sk FROM pages WHERE pk = 'b' AND sk >= 1",
    ] {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let out =
                c.execute_statement().statement(statement).limit(2).set_next_token(token.clone()).send().await.unwrap();
            assert!(out.items().len() <= 2, "{statement}: Limit bounds the items read");
            all.extend(out.items().iter().cloned());
            pages += 1;
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
            assert!(pages < 20, "{statement}: paging terminates");
        }
        let unpaged = run(c, statement, &[]).await;
        assert_eq!(all.len(), unpaged.len(), "{statement}");
        let mut keys: Vec<(String, String)> =
            all.iter().map(|i| (i["pk"].as_s().unwrap().clone(), i["sk"].as_n().unwrap().clone())).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "{statement}: no item twice");
    }
    // A token belongs to its statement.
    let out = c.execute_statement().statement("SELECT * FROM pages").limit(1).send().await.unwrap();
    let token = out.next_token().unwrap().to_string();
    let err = c
        .execute_statement()
        .statement("SELECT * FROM pages WHERE odd = true")
        .next_token(token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c.execute_statement().statement("SELECT * FROM pages").next_token("garbage").send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c.execute_statement().statement("SELECT * FROM pages").limit(0).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn index_reads_follow_the_index() {
    let h = harness().await;
    let c = &h.client;
    c.create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_elem("pk", KeyType::Hash))
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(attr_def("status", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-status")
                .key_schema(key_elem("status", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (pk, status) in [("o1", Some("open")), ("o2", Some("done")), ("o3", Some("open")), ("o4", None)] {
        let mut it = item(&[("pk", s(pk)), ("total", n(10))]);
        if let Some(st) = status {
            it.insert("status".into(), s(st));
        }
        c.put_item().table_name("orders").set_item(Some(it)).send().await.unwrap();
    }
    let mut open = run(c, r#"SELECT * FROM "orders"."by-status" WHERE status = 'open'"#, &[]).await;
    open.sort_by_key(|i| i["pk"].as_s().unwrap().clone());
    assert_eq!(
        open,
        vec![item(&[("pk", s("o1")), ("status", s("open"))]), item(&[("pk", s("o3")), ("status", s("open"))])]
    );
    // The index is sparse: o4 is not in it.
    assert_eq!(run(c, r#"SELECT pk FROM "orders"."by-status""#, &[]).await.len(), 3);
    let (code_, msg) = fails(c, r#"SELECT total FROM "orders"."by-status" WHERE status = 'open'"#, &[]).await;
    assert_eq!(code_, "ValidationException");
    assert_eq!(
        msg,
        "One or more parameter values were invalid: Global secondary index by-status does not project [total]"
    );
    let (_, msg) = fails(c, r#"SELECT pk FROM "orders"."by-status" WHERE status = 'open' AND total > 1"#, &[]).await;
    assert_eq!(
        msg,
        "One or more parameter values were invalid: Secondary index by-status does not project one or more filter attributes: [total]"
    );
    let (_, msg) = fails(c, r#"SELECT * FROM "orders"."nope""#, &[]).await;
    assert_eq!(msg, "The table does not have the specified index");
    let err = c
        .execute_statement()
        .statement(r#"SELECT * FROM "orders"."by-status" WHERE status = 'open'"#)
        .consistent_read(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.message(), Some("Strongly consistent read is not supported on Global Secondary Indexes"));
    // Capacity is charged to the index.
    let out = c
        .execute_statement()
        .statement(r#"SELECT * FROM "orders"."by-status" WHERE status = 'open'"#)
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let cc = out.consumed_capacity().unwrap();
    assert_eq!(cc.table_name(), Some("orders"));
    assert!(cc.global_secondary_indexes().unwrap()["by-status"].capacity_units().unwrap() > 0.0);
}

#[tokio::test]
async fn writes_fail_as_dynamodb_fails_them() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "accounts", Some(ScalarAttributeType::S)).await;
    run(c, "INSERT INTO accounts VALUE {'pk': 'u', 'sk': 'profile', 'age': 30}", &[]).await;

    // INSERT of an existing key.
    let (code_, msg) = fails(c, "INSERT INTO accounts VALUE {'pk': 'u', 'sk': 'profile'}", &[]).await;
    assert_eq!((code_.as_str(), msg.as_str()), ("DuplicateItemException", "Duplicate primary key exists in table"));

    // UPDATE is not an upsert, and its extra WHERE conditions are conditions.
    let (code_, _) = fails(c, "UPDATE accounts SET age = 1 WHERE pk = 'u' AND sk = 'nobody'", &[]).await;
    assert_eq!(code_, "ConditionalCheckFailedException");
    assert!(get(c, "accounts", item(&[("pk", s("u")), ("sk", s("nobody"))])).await.is_none());
    let (code_, _) = fails(c, "UPDATE accounts SET age = 1 WHERE pk = 'u' AND sk = 'profile' AND age > 40", &[]).await;
    assert_eq!(code_, "ConditionalCheckFailedException");
    let err = c
        .execute_statement()
        .statement("UPDATE accounts SET age = 1 WHERE pk = 'u' AND sk = 'profile' AND attribute_not_exists(age)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err();
    let ccf = err.into_service_error();
    assert!(ccf.is_conditional_check_failed_exception());
    let aws_sdk_dynamodb::operation::execute_statement::ExecuteStatementError::ConditionalCheckFailedException(ccf) =
        ccf
    else {
        unreachable!()
    };
    assert_eq!(ccf.item().unwrap()["age"], n(30));
    run(c, "UPDATE accounts SET age = age + 1 WHERE pk = 'u' AND sk = 'profile' AND age BETWEEN 18 AND 65", &[]).await;
    assert_eq!(get(c, "accounts", item(&[("pk", s("u")), ("sk", s("profile"))])).await.unwrap()["age"], n(31));

    // DELETE whose condition is false keeps the item.
    let (code_, _) = fails(c, "DELETE FROM accounts WHERE pk = 'u' AND sk = 'profile' AND age = 1", &[]).await;
    assert_eq!(code_, "ConditionalCheckFailedException");
    assert!(get(c, "accounts", item(&[("pk", s("u")), ("sk", s("profile"))])).await.is_some());

    for (statement, message) in [
        (
            "UPDATE accounts SET age = 1 WHERE pk = 'u'",
            "Where clause does not contain a mandatory equality on all key attributes",
        ),
        (
            "UPDATE accounts SET sk = 'x' WHERE pk = 'u' AND sk = 'profile'",
            "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key",
        ),
        (
            "DELETE FROM accounts WHERE pk = 'u' AND sk = 'profile' RETURNING ALL NEW *",
            "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements.",
        ),
        (
            "INSERT INTO accounts VALUE {'pk': 'only'}",
            "One or more parameter values were invalid: Missing the key sk in the item",
        ),
        (
            "SELECT * FROM accounts WHERE pk = 'u' foo",
            "Statement wasn't well formed, can't be processed: Unexpected token after expression",
        ),
        ("SLECT * FROM accounts", "Statement wasn't well formed, can't be processed: Expected data manipulation"),
        ("SELECT * FROM accounts WHERE pk = ?", "Number of parameters in request and statement don't match."),
        (
            "SELECT * FROM accounts WHERE age < TRUE",
            "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL",
        ),
    ] {
        let (code_, msg) = fails(c, statement, &[]).await;
        assert_eq!(code_, "ValidationException", "{statement}");
        assert_eq!(msg, message, "{statement}");
    }
    let (code_, _) = fails(c, "SELECT * FROM nosuchtable WHERE pk = 'x'", &[]).await;
    assert_eq!(code_, "ResourceNotFoundException");
}

#[tokio::test]
async fn batch_execute_statement_answers_per_statement() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "batch", None).await;
    for pk in ["taken", "guarded", "counted"] {
        run(c, &format!("INSERT INTO batch VALUE {{'pk': '{pk}', 'v': 1}}"), &[]).await;
    }
    let stmt = |text: &str| BatchStatementRequest::builder().statement(text).build().unwrap();

    let out = c
        .batch_execute_statement()
        .statements(stmt("INSERT INTO batch VALUE {'pk': 'new', 'v': 1}"))
        .statements(stmt("INSERT INTO batch VALUE {'pk': 'taken', 'v': 2}"))
        .statements(
            BatchStatementRequest::builder()
                .statement("UPDATE batch SET v = ? WHERE pk = 'guarded' AND v = 5")
                .parameters(n(9))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .unwrap(),
        )
        .statements(stmt("DELETE FROM batch WHERE pk = 'gone' RETURNING ALL OLD *"))
        .statements(stmt("UPDATE nosuch SET v = 1 WHERE pk = 'x'"))
        .statements(stmt("UPDATE batch SET v = v + 1 WHERE pk = 'counted' RETURNING MODIFIED NEW *"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r.len(), 6);
    assert!(r[0].error().is_none());
    assert_eq!(r[0].table_name(), Some("batch"));
    assert_eq!(r[1].error().unwrap().code(), Some(&BatchStatementErrorCodeEnum::DuplicateItem));
    let ccf = r[2].error().unwrap();
    assert_eq!(ccf.code(), Some(&BatchStatementErrorCodeEnum::ConditionalCheckFailed));
    assert_eq!(ccf.item().unwrap()["v"], n(1));
    assert!(r[3].error().is_none() && r[3].item().is_none());
    assert_eq!(r[4].error().unwrap().code(), Some(&BatchStatementErrorCodeEnum::ResourceNotFound));
    assert_eq!(r[5].item().unwrap(), &item(&[("v", n(2))]));
    assert!(get(c, "batch", item(&[("pk", s("new"))])).await.is_some());
    assert_eq!(out.consumed_capacity().len(), 1);

    let out = c
        .batch_execute_statement()
        .statements(stmt("SELECT * FROM batch WHERE pk = 'new'"))
        .statements(stmt("SELECT v FROM batch WHERE pk = 'missing'"))
        .statements(stmt("SLECT * FROM batch"))
        .statements(stmt("SELECT * FROM batch WHERE v = 1"))
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r[0].item().unwrap()["pk"], s("new"));
    assert!(r[1].item().is_none() && r[1].error().is_none());
    let parse = r[2].error().unwrap();
    assert_eq!(parse.code(), Some(&BatchStatementErrorCodeEnum::ValidationError));
    assert_eq!(parse.message(), Some("Statement wasn't well formed, can't be processed: Expected data manipulation"));
    assert_eq!(
        r[3].error().unwrap().message(),
        Some("Select statements within BatchExecuteStatement must specify the primary key in the where clause.")
    );

    for statements in [
        vec![stmt("SELECT * FROM batch WHERE pk = 'new'"), stmt("DELETE FROM batch WHERE pk = 'new'")],
        // Two statements on one item.
        vec![stmt("DELETE FROM batch WHERE pk = 'new'"), stmt("UPDATE batch SET v = 1 WHERE pk = 'new'")],
        (0..26).map(|i| stmt(&format!("DELETE FROM batch WHERE pk = 'k{i}'"))).collect(),
        vec![],
    ] {
        let err = c.batch_execute_statement().set_statements(Some(statements)).send().await.unwrap_err();
        assert_eq!(code(&err), "ValidationException");
    }
    assert!(get(c, "batch", item(&[("pk", s("new"))])).await.is_some(), "a refused batch writes nothing");
}

#[tokio::test]
async fn execute_transaction_is_all_or_nothing() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "ledger", None).await;
    run(c, "INSERT INTO ledger VALUE {'pk': 'alice', 'balance': 100}", &[]).await;
    run(c, "INSERT INTO ledger VALUE {'pk': 'bob', 'balance': 0}", &[]).await;
    run(c, "INSERT INTO ledger VALUE {'pk': 'limits', 'max': 50}", &[]).await;
    let st = |text: &str| ParameterizedStatement::builder().statement(text).build().unwrap();
    let pst = |text: &str, p: AttributeValue| {
        ParameterizedStatement::builder().statement(text).parameters(p).build().unwrap()
    };
    let balance = |name: &'static str| async move {
        get(c, "ledger", item(&[("pk", s(name))])).await.map(|i| i["balance"].as_n().unwrap().clone())
    };

    let out = c
        .execute_transaction()
        .transact_statements(pst("UPDATE ledger SET balance = balance - ? WHERE pk = 'alice' AND balance >= 30", n(30)))
        .transact_statements(st("UPDATE ledger SET balance = balance + 30 WHERE pk = 'bob'"))
        .transact_statements(st("INSERT INTO ledger VALUE {'pk': 'audit-1', 'amount': 30}"))
        .transact_statements(st("EXISTS(SELECT * FROM ledger WHERE pk = 'limits' AND \"max\" >= 30)"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert!(out.responses().is_empty());
    assert_eq!(out.consumed_capacity()[0].write_capacity_units(), Some(8.0));
    assert_eq!(balance("alice").await.as_deref(), Some("70"));
    assert_eq!(balance("bob").await.as_deref(), Some("30"));

    // One failing statement cancels all, with a reason per statement in order.
    let err = c
        .execute_transaction()
        .transact_statements(st("UPDATE ledger SET balance = balance - 500 WHERE pk = 'alice'"))
        .transact_statements(st("UPDATE ledger SET balance = 0 WHERE pk = 'bob' AND balance > 1000"))
        .transact_statements(st("INSERT INTO ledger VALUE {'pk': 'audit-1'}"))
        .transact_statements(st("DELETE FROM ledger WHERE pk = 'carol'"))
        .transact_statements(st("EXISTS(SELECT * FROM ledger WHERE pk = 'limits' AND \"max\" > 1000)"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "TransactionCanceledException");
    let ExecuteTransactionError::TransactionCanceledException(tce) = err.into_service_error() else {
        panic!("expected TransactionCanceledException")
    };
    let codes: Vec<&str> = tce.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default()).collect();
    assert_eq!(codes, ["None", "ConditionalCheckFailed", "DuplicateItem", "None", "ConditionalCheckFailed"]);
    assert_eq!(tce.cancellation_reasons()[2].message(), Some("Duplicate primary key exists in table"));
    assert_eq!(balance("alice").await.as_deref(), Some("70"), "nothing applied");

    // Reads: one item per statement, {} for a missing key.
    let out = c
        .execute_transaction()
        .transact_statements(st("SELECT balance FROM ledger WHERE pk = 'alice'"))
        .transact_statements(st("SELECT * FROM ledger WHERE pk = 'nobody'"))
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r[0].item().unwrap(), &item(&[("balance", n(70))]));
    assert!(r[1].item().is_none());

    for (statements, message) in [
        (
            vec![st("SELECT * FROM ledger WHERE pk = 'alice'"), st("DELETE FROM ledger WHERE pk = 'bob'")],
            "ExecuteTransaction API does not support both read and write operations in the same request.",
        ),
        (
            vec![st("UPDATE ledger SET balance = 1 WHERE pk = 'bob' RETURNING ALL NEW *")],
            "Validation failed in TransactStatements[0]: RETURNING clause is not supported in ExecuteTransaction.",
        ),
        (
            vec![st("DELETE FROM ledger WHERE pk = 'bob'"), st("UPDATE ledger SET balance = 1 WHERE pk = 'bob'")],
            "Transaction request cannot include multiple operations on one item",
        ),
        (
            vec![st("DELETE FROM ledger WHERE pk = 'bob'"), st("SELECT * FROM ledger WHERE balance = 1")],
            "Validation failed in TransactStatements[1]: Select statements within ExecuteTransaction must specify the primary key in the where clause.",
        ),
    ] {
        let err = c.execute_transaction().set_transact_statements(Some(statements)).send().await.unwrap_err();
        assert_eq!(code(&err), "ValidationException");
        assert_eq!(err.message(), Some(message));
    }
    assert_eq!(balance("bob").await.as_deref(), Some("30"));
}

#[tokio::test]
async fn client_request_token_makes_a_transaction_run_once() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "counter", None).await;
    run(c, "INSERT INTO counter VALUE {'pk': 'c', 'n': 0}", &[]).await;
    let send = |statement: &str, token: &str| {
        c.execute_transaction()
            .transact_statements(ParameterizedStatement::builder().statement(statement).build().unwrap())
            .client_request_token(token)
            .send()
    };
    send("UPDATE counter SET n = n + 1 WHERE pk = 'c'", "token-1").await.unwrap();
    send("UPDATE counter SET n = n + 1 WHERE pk = 'c'", "token-1").await.unwrap();
    assert_eq!(get(c, "counter", item(&[("pk", s("c"))])).await.unwrap()["n"], n(1));
    let err = send("UPDATE counter SET n = n + 2 WHERE pk = 'c'", "token-1").await.unwrap_err();
    assert_eq!(code(&err), "IdempotentParameterMismatchException");
    send("UPDATE counter SET n = n + 1 WHERE pk = 'c'", "token-2").await.unwrap();
    assert_eq!(get(c, "counter", item(&[("pk", s("c"))])).await.unwrap()["n"], n(2));
}

#[tokio::test]
async fn capacity_and_hostile_statements() {
    let h = harness().await;
    let c = &h.client;
    create_table(c, "cap", None).await;
    let out = c
        .execute_statement()
        .statement("INSERT INTO cap VALUE {'pk': 'a', 'v': 1}")
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    // As PutItem and GetItem: the units, with no read/write split.
    assert_eq!(out.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    assert_eq!(out.consumed_capacity().unwrap().write_capacity_units(), None);
    let out = c
        .execute_statement()
        .statement("SELECT * FROM cap WHERE pk = 'a'")
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(out.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    assert_eq!(out.consumed_capacity().unwrap().read_capacity_units(), None);

    // Deep nesting, long statements and junk get a 4xx, and the server carries on.
    let deep = format!("SELECT * FROM cap WHERE {}pk = 'a'{}", "(".repeat(4000), ")".repeat(4000));
    let long = format!("SELECT * FROM cap WHERE pk = '{}'", "x".repeat(9000));
    let junk = "\u{0}\u{7f}<<>>{{{{[[[[".to_string();
    for statement in [deep, long, junk, "NOT ".repeat(2000) + "pk = 'a'"] {
        let (code_, _) = fails(c, &statement, &[]).await;
        assert_eq!(code_, "ValidationException");
    }
    assert_eq!(run(c, "SELECT v FROM cap WHERE pk = 'a'", &[]).await, vec![item(&[("v", n(1))])]);
}
