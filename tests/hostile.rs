//! Hostile input over raw HTTP: each gets a DynamoDB-shaped 4xx or a bounded
//! wait, and the server keeps serving everyone else.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one raw request and returns (status, body).
async fn raw(addr: std::net::SocketAddr, target: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(t) = target {
        head.push_str(&format!("X-Amz-Target: {t}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before reading a large body.
    let _ = stream.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

fn error_type(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_dynamodb_types() {
    let h = common::harness().await;
    let addr = h.server.addr;
    let list = Some("DynamoDB_20120810.ListTables");
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (list, b"{not json".to_vec(), 400, "SerializationException"),
        (list, b"[1,2]".to_vec(), 400, "SerializationException"),
        (Some("DynamoDB_20120810.Nope"), b"{}".to_vec(), 400, "UnknownOperationException"),
        (None, b"{}".to_vec(), 400, "UnknownOperationException"),
        (list, format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), 400, "SerializationException"),
        (Some("DynamoDB_20120810.GetItem"), br#"{"TableName": 5}"#.to_vec(), 400, "SerializationException"),
        (Some("DynamoDB_20120810.PutItem"), br#"{"TableName":"abc"}"#.to_vec(), 400, "ValidationException"),
        (list, vec![b' '; 17 * 1024 * 1024], 413, "RequestEntityTooLarge"),
    ];
    for (target, body, status, kind) in cases {
        let (got_status, got_body) = raw(addr, target, &body).await;
        assert_eq!(got_status, status, "{target:?}: {got_body}");
        assert_eq!(error_type(&got_body), kind, "{target:?}: {got_body}");
    }
    // Coral's deserializer writes its text as `Message`, the service's
    // validation `message`, in its own namespace.
    let (_, body) = raw(addr, Some("DynamoDB_20120810.GetItem"), br#"{"TableName": 5}"#).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(v["Message"].is_string() && v.get("message").is_none(), "{body}");
    let (_, body) = raw(addr, Some("DynamoDB_20120810.PutItem"), br#"{"TableName":"abc"}"#).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException", "{body}");
    assert!(v["message"].is_string(), "{body}");
}

/// A member of the wrong JSON type ends a request with DynamoDB's
/// deserializer's `SerializationException` before any validation or table
/// lookup, in its words (dynalite's suite, run against DynamoDB); unknown
/// members are ignored and booleans sent as strings are read as DynamoDB
/// reads them.
#[tokio::test]
async fn wrong_member_types_fail_deserialization_before_validation() {
    let h = common::harness().await;
    common::create_table(&h.client, "typed", None).await;
    let addr = h.server.addr;
    let cast = "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class \
                java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class \
                are in module java.base of loader 'bootstrap')";
    let cases = [
        // Validation (a missing table name, key schema) would answer first.
        (
            "DynamoDB_20120810.CreateTable",
            r#"{"ProvisionedThroughput":{"WriteCapacityUnits":"23"}}"#,
            "STRING_VALUE cannot be converted to Long",
        ),
        (
            "DynamoDB_20120810.CreateTable",
            r#"{"TableName":"abc;","KeySchema":[5]}"#,
            "Unexpected value type in payload",
        ),
        // The table lookup, and the ReturnValues enum, would answer first.
        (
            "DynamoDB_20120810.PutItem",
            r#"{"TableName":"missing","ReturnValues":"hi","Item":{"a":{"S":true}}}"#,
            "TRUE_VALUE cannot be converted to String",
        ),
        (
            "DynamoDB_20120810.PutItem",
            r#"{"TableName":"typed","Item":[]}"#,
            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
        ),
        (
            "DynamoDB_20120810.GetItem",
            r#"{"TableName":"typed","Key":{"pk":{"B":"23456"}}}"#,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 5",
        ),
        (
            "DynamoDB_20120810.Query",
            r#"{"TableName":"typed","Limit":34.56,"ConsistentRead":23}"#,
            "NUMBER_VALUE cannot be converted to Boolean",
        ),
        (
            "DynamoDB_20120810.Scan",
            r#"{"TableName":"typed","Limit":"1"}"#,
            "STRING_VALUE cannot be converted to Integer",
        ),
        ("DynamoDB_20120810.BatchWriteItem", r#"{"RequestItems":{"typed":5}}"#, cast),
        (
            "DynamoDB_20120810.BatchGetItem",
            r#"{"RequestItems":{"typed":{"Keys":[[]]}}}"#,
            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
        ),
        (
            "DynamoDB_20120810.ExecuteStatement",
            r#"{"Statement":"SELECT * FROM typed","Parameters":{}}"#,
            "Start of structure or map found where not expected",
        ),
        (
            "DynamoDBStreams_20120810.GetRecords",
            r#"{"ShardIterator":"x","Limit":true}"#,
            "TRUE_VALUE cannot be converted to Integer",
        ),
    ];
    for (target, body, message) in cases {
        let (status, out) = raw(addr, Some(target), body.as_bytes()).await;
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(status, 400, "{target} {body}: {out}");
        assert_eq!(v["__type"], "com.amazon.coral.service#SerializationException", "{target} {body}: {out}");
        assert_eq!(v["Message"], message, "{target} {body}: {out}");
    }
    // Read as DynamoDB reads them: an unknown member is ignored (so this
    // value is empty), a boolean may be a string.
    let (_, out) =
        raw(addr, Some("DynamoDB_20120810.PutItem"), br#"{"TableName":"typed","Item":{"pk":{"S":"a"},"x":{"Q":"1"}}}"#)
            .await;
    assert!(
        out.contains("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        "{out}"
    );
    let put = r#"{"TableName":"typed","Item":{"pk":{"S":"a"},"no":{"BOOL":"no"},"yes":{"BOOL":"TRUE"},"z":{"NULL":"1"}},"Whatever":[1]}"#;
    let (status, out) = raw(addr, Some("DynamoDB_20120810.PutItem"), put.as_bytes()).await;
    assert_eq!(status, 200, "{out}");
    let (_, out) = raw(
        addr,
        Some("DynamoDB_20120810.GetItem"),
        br#"{"TableName":"typed","Key":{"pk":{"S":"a"}},"ConsistentRead":"true"}"#,
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["Item"]["no"], serde_json::json!({"BOOL": false}), "{out}");
    assert_eq!(v["Item"]["yes"], serde_json::json!({"BOOL": true}), "{out}");
    assert_eq!(v["Item"]["z"], serde_json::json!({"NULL": true}), "{out}");
}

#[tokio::test]
async fn deep_expressions_and_documents_are_refused() {
    let h = common::harness().await;
    common::create_table(&h.client, "deep", None).await;
    let addr = h.server.addr;
    let expr = format!("{}attribute_exists(pk){}", "(".repeat(50_000), ")".repeat(50_000));
    let body = serde_json::json!({
        "TableName": "deep",
        "Item": {"pk": {"S": "a"}},
        "ConditionExpression": expr,
    });
    let (status, out) = raw(addr, Some("DynamoDB_20120810.PutItem"), body.to_string().as_bytes()).await;
    assert_eq!((status, error_type(&out).as_str()), (400, "ValidationException"), "{out}");

    let mut doc = serde_json::json!({"S": "leaf"});
    for _ in 0..40 {
        doc = serde_json::json!({"M": {"a": doc}});
    }
    let body = serde_json::json!({"TableName": "deep", "Item": {"pk": {"S": "a"}, "doc": doc}});
    let (status, out) = raw(addr, Some("DynamoDB_20120810.PutItem"), body.to_string().as_bytes()).await;
    assert_eq!((status, error_type(&out).as_str()), (400, "ValidationException"), "{out}");
}

#[tokio::test]
async fn slow_truncated_and_flooding_clients_do_not_block_others() {
    let h = common::harness().await;
    let addr = h.server.addr;
    // A client that sends half a request and stalls, one that promises a body
    // it never sends, and a flood of idle connections.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut truncated = TcpStream::connect(addr).await.unwrap();
    truncated
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Li")
        .await
        .unwrap();
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(TcpStream::connect(addr).await.unwrap());
    }
    let out = tokio::time::timeout(Duration::from_secs(10), h.client.list_tables().send()).await;
    assert!(out.expect("served within the bound").is_ok());
    // The truncated request, once its client gives up, is dropped quietly.
    drop(truncated);
    drop(slow);
    drop(flood);
    assert!(h.client.list_tables().send().await.is_ok());
}

/// An expression nested as deep as DynamoDB serves (`a < b OR (a < b OR
/// (…))`, 149 levels and 299 operators, well under 4 KB) is answered by the
/// real binary, and deeper ones are refused, without the server's stack
/// overflowing: before, about 115 levels took the whole process down.
#[tokio::test]
async fn deeply_nested_conditions_are_answered_by_the_server() {
    use std::ffi::OsStr;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let args = [OsStr::new("--data-dir"), data.as_os_str()];
    let (mut child, endpoint) = common::http::spawn_server_with_nofile(1024, &args, &log);
    let client = common::client(&endpoint);
    common::create_table(&client, "deep", None).await;
    // 149 levels are 299 operators; 150 are one too many (DynamoDB: "too many
    // operators; operator count: 301"); 159 bare parentheses reach the
    // parser's depth limit.
    let parens = format!("{}a < b{}", "(".repeat(159), ")".repeat(159));
    let nested = |depth: usize| format!("a < b {}{}", "OR (a < b ".repeat(depth), ")".repeat(depth));
    for (expr, served) in [(nested(149), true), (nested(150), false), (nested(400), false), (parens, false)] {
        let depth = expr.len();
        let res = client
            .update_item()
            .table_name("deep")
            .key("pk", common::s("k"))
            .update_expression("SET z = :v")
            .expression_attribute_values(":v", common::n(1))
            .condition_expression(&expr)
            .send()
            .await;
        match res {
            Ok(_) => panic!("depth {depth}: the condition cannot hold on a missing item"),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.meta().code().map(str::to_string));
                let want = if served { "ConditionalCheckFailedException" } else { "ValidationException" };
                assert_eq!(code.as_deref(), Some(want), "depth {depth}: {e:?}");
            }
        }
    }
    // Still serving.
    client.put_item().table_name("deep").item("pk", common::s("alive")).send().await.expect("the server lives");
    child.kill().unwrap();
    let _ = child.wait();
}
