//! The HTTP front as DynamoDB's: the health check, the 404 of a request
//! that is not an API call, CORS, request ids, `x-amz-crc32`, compressed
//! requests and responses. Expected answers are DynamoDB's, as recorded
//! against the live service by dynalite's connection tests and Alternator's
//! compression tests; each case is sent as raw HTTP because the SDKs cannot
//! send most of them.

mod common;

use std::io::{Read, Write};

use std::net::SocketAddr;

use common::http::Answer;

/// One request on a fresh connection.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    common::http::send(&addr.to_string(), method, path, headers, body).await
}

const JSON10: (&str, &str) = ("Content-Type", "application/x-amz-json-1.0");

fn target(op: &str) -> (&'static str, String) {
    ("X-Amz-Target", format!("DynamoDB_20120810.{op}"))
}

async fn call(addr: SocketAddr, op: &str, extra: &[(&str, &str)], body: &[u8]) -> Answer {
    let t = target(op);
    let mut headers = vec![JSON10, (t.0, t.1.as_str())];
    headers.extend_from_slice(extra);
    send(addr, "POST", "/", &headers, body).await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("deflate");
    e.finish().expect("deflate")
}

fn request_id_ok(a: &Answer) -> bool {
    a.header("x-amzn-requestid")
        .is_some_and(|id| id.len() == 52 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
}

#[tokio::test]
async fn health_not_found_and_cors_are_dynamodbs() {
    let h = common::harness().await;
    let addr = h.server.addr;

    let health = send(addr, "GET", "/", &[], b"").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, b"healthy: dynamodb.us-east-1.amazonaws.com ");
    assert_eq!(health.header("x-amz-crc32"), Some("3128867991"));
    assert_eq!(health.header("server"), Some("Server"));
    assert_eq!(health.header("allow"), None, "DynamoDB sends no Allow");
    assert!(request_id_ok(&health));

    // Not an API call: other methods, OPTIONS without Origin, a body that
    // is not JSON, whatever the path.
    for (method, path, headers, body) in [
        ("PUT", "/", vec![], &b""[..]),
        ("DELETE", "/", vec![], b""),
        ("OPTIONS", "/", vec![], b""),
        ("GET", "/nowhere", vec![], b""),
        ("POST", "/", vec![], b"hi"),
        ("POST", "/", vec![("Content-Type", "whatever")], b"hi"),
        ("POST", "/", vec![("Content-Type", "application/x-amz-json-1.1")], b"hi"),
        ("POST", "/", vec![("Content-Type", "application/jsonasdf")], b"hi"),
    ] {
        let a = send(addr, method, path, &headers, body).await;
        assert_eq!(a.status, 404, "{method} {path} {headers:?}");
        assert_eq!(a.body, b"<UnknownOperationException/>\n");
        assert_eq!(a.header("x-amz-crc32"), Some("3552371480"));
        assert_eq!(a.header("allow"), None, "{method} {path}");
        assert!(request_id_ok(&a));
    }

    // Errors of the front end: the bare type, DynamoDB's checksum of it,
    // and the JSON flavour the request used.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], &'a str, &'a str, &'a str);
    let cases: [Case; 6] = [
        (&[("Content-Type", "application/json")], b"hi", "SerializationException", "3948637019", "application/json"),
        (&[JSON10], b"hi", "SerializationException", "3948637019", "application/x-amz-json-1.0"),
        (
            &[("Content-Type", "  application/json  ;   asfd")],
            b"hi",
            "SerializationException",
            "3948637019",
            "application/json",
        ),
        (&[], b"", "UnknownOperationException", "1368724161", "application/x-amz-json-1.0"),
        (
            &[("Content-Type", "application/json;charset=x")],
            b"{}",
            "UnknownOperationException",
            "1368724161",
            "application/json",
        ),
        (
            &[JSON10, ("X-Amz-Target", "DynamoDB_20120810.ListTable")],
            b"{}",
            "UnknownOperationException",
            "1368724161",
            "application/x-amz-json-1.0",
        ),
    ];
    for (headers, body, kind, crc, content_type) in cases {
        let a = send(addr, "POST", "/", headers, body).await;
        assert_eq!(a.status, 400, "{headers:?}");
        assert_eq!(a.json(), serde_json::json!({"__type": format!("com.amazon.coral.service#{kind}")}));
        assert_eq!(a.header("x-amz-crc32"), Some(crc), "{headers:?}");
        assert_eq!(a.header("content-type"), Some(content_type));
    }

    // CORS: a preflight echoes what was asked; any answer allows any origin.
    let pre = send(
        addr,
        "OPTIONS",
        "/",
        &[
            ("Origin", "http://app"),
            ("Access-Control-Request-Headers", "a, b, c"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(pre.header("access-control-allow-headers"), Some("a, b, c"));
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-max-age"), Some("172800"));
    assert_eq!(pre.header("content-length"), Some("0"));
    assert!(pre.body.is_empty());
    let listed = call(addr, "ListTables", &[("Origin", "http://app")], b"{}").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("access-control-allow-origin"), Some("*"));
    assert!(listed.header("access-control-expose-headers").is_some_and(|v| v.contains("x-amzn-RequestId")));
    assert_eq!(listed.header("x-amz-crc32"), Some(crc32fast::hash(&listed.body).to_string().as_str()));
    assert!(request_id_ok(&listed));
    // A POST to any path is a DynamoDB call (an SDK endpoint with a path).
    let prefixed = {
        let t = target("ListTables");
        send(addr, "POST", "/some/prefix", &[JSON10, (t.0, t.1.as_str())], b"{}").await
    };
    assert_eq!(prefixed.status, 200);
    assert_eq!(prefixed.json(), serde_json::json!({"TableNames": []}));
}

#[tokio::test]
async fn compressed_requests_and_responses() {
    let h = common::harness().await;
    let addr = h.server.addr;
    common::create_table(&h.client, "codings", None).await;
    let big = "x".repeat(5000);
    let put = serde_json::json!({"TableName": "codings", "Item": {"pk": {"S": "big"}, "v": {"S": big}}}).to_string();

    // gzip (several members too) and deflate request bodies are decoded.
    let a = call(addr, "PutItem", &[("Content-Encoding", "gzip")], &gzip(put.as_bytes())).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let (head, tail) = put.as_bytes().split_at(10);
    let two = [gzip(head), gzip(tail)].concat();
    assert_eq!(call(addr, "PutItem", &[("Content-Encoding", "gzip")], &two).await.status, 200);
    assert_eq!(call(addr, "PutItem", &[("Content-Encoding", "deflate")], &zlib(put.as_bytes())).await.status, 200);

    // DynamoDB answers a body it cannot decode with a 500, and writes nothing.
    let small = serde_json::json!({"TableName": "codings", "Item": {"pk": {"S": "never"}}}).to_string().into_bytes();
    let truncated = gzip(&small)[..20].to_vec();
    let two_zlib = [zlib(&small[..10]), zlib(&small[10..])].concat();
    for (coding, body) in [
        ("gzip", small.clone()),
        ("gzip", truncated),
        ("gzip", Vec::new()),
        ("deflate", small.clone()),
        ("deflate", two_zlib),
        ("garbage", small.clone()),
    ] {
        let a = call(addr, "PutItem", &[("Content-Encoding", coding)], &body).await;
        assert_eq!(a.status, 500, "{coding} {}", String::from_utf8_lossy(&a.body));
    }
    let get_never = serde_json::json!({"TableName": "codings", "Key": {"pk": {"S": "never"}}}).to_string();
    assert_eq!(call(addr, "GetItem", &[], get_never.as_bytes()).await.json(), serde_json::json!({}));

    // A small body that decodes past the 16 MB request limit is refused
    // while it decodes (413), never held in full.
    let mut bomb = put.clone().into_bytes();
    bomb.truncate(bomb.len() - 1);
    bomb.extend(std::iter::repeat_n(b' ', 17 * 1024 * 1024));
    bomb.push(b'}');
    let packed = gzip(&bomb);
    assert!(packed.len() < 64 * 1024);
    assert_eq!(call(addr, "PutItem", &[("Content-Encoding", "gzip")], &packed).await.status, 413);

    // Answers of 4 KB and more are compressed in the coding the client
    // prefers; smaller ones, or unknown codings, are sent as they are. The
    // checksum is of the bytes sent.
    let get_big = serde_json::json!({"TableName": "codings", "Key": {"pk": {"S": "big"}}}).to_string();
    for (accept, want) in [
        ("gzip", Some("gzip")),
        ("deflate", Some("deflate")),
        ("br, identity, deflate, gzip", Some("deflate")),
        ("*, gzip;q=0.5", Some("deflate")),
        ("gzip;q=0", None),
        ("br", None),
    ] {
        let a = call(addr, "GetItem", &[("Accept-Encoding", accept)], get_big.as_bytes()).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-encoding"), want, "Accept-Encoding: {accept}");
        assert_eq!(a.header("x-amz-crc32"), Some(crc32fast::hash(&a.body).to_string().as_str()));
        let mut plain = Vec::new();
        match want {
            Some("gzip") => flate2::read::GzDecoder::new(&a.body[..]).read_to_end(&mut plain).expect("gunzip"),
            Some(_) => flate2::read::ZlibDecoder::new(&a.body[..]).read_to_end(&mut plain).expect("inflate"),
            None => {
                plain.clone_from(&a.body);
                plain.len()
            }
        };
        let item: serde_json::Value = serde_json::from_slice(&plain).expect("JSON");
        assert_eq!(item["Item"]["v"]["S"].as_str().map(str::len), Some(5000));
    }
    let small_get = serde_json::json!({"TableName": "codings", "Key": {"pk": {"S": "none"}}}).to_string();
    let a = call(addr, "GetItem", &[("Accept-Encoding", "gzip")], small_get.as_bytes()).await;
    assert_eq!(a.header("content-encoding"), None);
    h.server.stop().await.expect("stop");
}
