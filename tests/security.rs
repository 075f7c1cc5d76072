//! Authentication with `--auth` (issue 16): SigV4 verified on every API,
//! driven by the official AWS SDKs (Rust, boto3), AWS's own signing crate
//! for presigned URLs, and raw HTTP for what no SDK sends.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use tidepool::ServerConfig;
use tidepool::http::auth::Auth;
use tidepool::http::sigv4::{self, Credential};

const ALICE_KEY: &str = "AKIDALICE";
const ALICE_SECRET: &str = "alice-secret";
const TEMP_KEY: &str = "ASIATEMP";
const TEMP_SECRET: &str = "temp-secret";
const TEMP_TOKEN: &str = "the-session-token";

fn alice() -> Credential {
    Credential {
        user: "alice".into(),
        access_key_id: ALICE_KEY.into(),
        secret_access_key: ALICE_SECRET.into(),
        session_token: None,
    }
}

fn auth() -> Arc<Auth> {
    Arc::new(Auth::new(vec![
        (alice(), None),
        (
            Credential {
                user: "temp".into(),
                access_key_id: TEMP_KEY.into(),
                secret_access_key: TEMP_SECRET.into(),
                session_token: Some(TEMP_TOKEN.into()),
            },
            None,
        ),
    ]))
}

/// A clock some time away from the real one, for the SDK's signer.
#[derive(Debug)]
struct Skewed(Duration, bool);

impl aws_smithy_async::time::TimeSource for Skewed {
    fn now(&self) -> SystemTime {
        if self.1 { SystemTime::now() + self.0 } else { SystemTime::now() - self.0 }
    }
}

fn ddb(endpoint: &str, key: &str, secret: &str, token: Option<&str>, region: &str) -> aws_sdk_dynamodb::Client {
    ddb_at(endpoint, key, secret, token, region, None)
}

/// A `DynamoDB` client's configuration for `endpoint`, signing with `key`,
/// one attempt per call (the errors are the point); no HTTP client yet.
fn ddb_config(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, secret, token.map(str::to_string), None, "test"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

fn ddb_at(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
    clock: Option<Skewed>,
) -> aws_sdk_dynamodb::Client {
    let mut conf = ddb_config(endpoint, key, secret, token, region)
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    if let Some(c) = clock {
        conf = conf.time_source(c);
    }
    aws_sdk_dynamodb::Client::from_conf(conf.build())
}

/// An `aws-sdk-lambda` client for `endpoint` signing with `key`, one
/// attempt per call.
fn lambda_as(endpoint: &str, key: &str, secret: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// A request id in the Lambda API's form: a UUID.
fn assert_uuid(id: Option<&str>, what: &str) {
    let id = id.unwrap_or_else(|| panic!("{what}: no x-amzn-RequestId"));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{what}: x-amzn-RequestId {id} is no UUID");
}

fn message<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn dynamodb_requests_must_be_signed_by_a_known_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth()), ..ServerConfig::default() }).await;
    let ep = server.endpoint();

    // The right secret: served, with streams as well.
    let alice = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&alice, "signed", None).await;
    alice.put_item().table_name("signed").item("pk", common::s("a")).send().await.unwrap();
    let got = alice.get_item().table_name("signed").key("pk", common::s("a")).send().await.unwrap();
    assert!(got.item.is_some());
    // Temporary credentials with their token.
    let temp = ddb(&ep, TEMP_KEY, TEMP_SECRET, Some(TEMP_TOKEN), "us-east-1");
    assert_eq!(temp.list_tables().send().await.unwrap().table_names(), ["signed"]);

    // A wrong secret: DynamoDB's message, with the canonical request.
    let err = ddb(&ep, ALICE_KEY, "wrong", None, "us-east-1").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "InvalidSignatureException");
    let m = message(&err);
    assert!(m.starts_with("The request signature we calculated does not match the signature you provided."), "{m}");
    assert!(m.contains("The Canonical String for this request should have been"), "{m}");

    // An unknown key.
    let err = ddb(&ep, "AKIDNOBODY", "x", None, "us-east-1").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "UnrecognizedClientException");
    assert_eq!(message(&err), "The security token included in the request is invalid.");

    // A wrong token, no token, and a token on long-term keys.
    for (key, secret, token) in
        [(TEMP_KEY, TEMP_SECRET, Some("forged")), (TEMP_KEY, TEMP_SECRET, None), (ALICE_KEY, ALICE_SECRET, Some("x"))]
    {
        let err = ddb(&ep, key, secret, token, "us-east-1").list_tables().send().await.unwrap_err();
        assert_eq!(common::code(&err), "UnrecognizedClientException", "{key} {token:?}");
    }

    // Another region's scope.
    let err = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "eu-west-1").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "InvalidSignatureException");
    assert_eq!(message(&err), "Credential should be scoped to a valid region, not 'eu-west-1'.");

    // A clock 20 minutes behind or ahead: past DynamoDB's 15.
    for ahead in [false, true] {
        let skewed = Skewed(Duration::from_secs(20 * 60), ahead);
        let c = ddb_at(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1", Some(skewed));
        let err = c.list_tables().send().await.unwrap_err();
        assert_eq!(common::code(&err), "InvalidSignatureException");
        let m = message(&err);
        let want = if ahead { "Signature not yet current: " } else { "Signature expired: " };
        assert!(m.starts_with(want) && m.ends_with(" 15 min.)"), "{m}");
    }
    // Within the skew, served.
    let c = ddb_at(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1", Some(Skewed(Duration::from_secs(600), true)));
    c.list_tables().send().await.unwrap();

    // The Streams API signs for `dynamodb` as well.
    let streams = common::streams_client(&ep);
    let err = streams.list_streams().send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("UnrecognizedClientException"));

    server.stop().await.unwrap();
}

/// Raw requests: no signature, a malformed header, a tampered body, and a
/// URL presigned by AWS's own signing crate.
#[tokio::test]
async fn unsigned_tampered_and_presigned_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth()), ..ServerConfig::default() }).await;
    let addr = server.endpoint().trim_start_matches("http://").to_string();
    let target = ("X-Amz-Target", "DynamoDB_20120810.ListTables");
    let json = ("Content-Type", "application/x-amz-json-1.0");

    let a = common::http::send(&addr, "POST", "/", &[target, json], b"{}").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#MissingAuthenticationTokenException");
    assert_eq!(a.json()["message"], "Request is missing Authentication Token");

    let a = common::http::send(&addr, "POST", "/", &[target, json, ("Authorization", "AWS4-")], b"{}").await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#IncompleteSignatureException");
    assert_eq!(
        a.json()["message"],
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-"
    );

    // Signed, then the body changed: the signature no longer holds.
    let alice = alice();
    let body = br#"{"Limit":5}"#;
    let base: Vec<(&str, &[u8])> =
        vec![("host", addr.as_bytes()), ("x-amz-target", target.1.as_bytes()), ("content-type", json.1.as_bytes())];
    let req = sigv4::Request { method: "POST", path: "/", query: None, headers: &base };
    let added = sigv4::sign(&alice, "us-east-1", "dynamodb", &req, body, SystemTime::now());
    let mut headers: Vec<(&str, &str)> = vec![target, json];
    headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let a = common::http::send(&addr, "POST", "/", &headers, body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = common::http::send(&addr, "POST", "/", &headers, br#"{"Limit":6}"#).await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#InvalidSignatureException");

    // Signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD`, Amazon S3's
    // option: DynamoDB and Lambda hash the body they receive, so the
    // signature does not match, whether the body was changed or not.
    let unsigned = unsigned_payload_headers(&addr, "POST", "/", "dynamodb", &[target, json]);
    let mut headers: Vec<(&str, &str)> = vec![target, json];
    headers.extend(unsigned.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(headers.contains(&("x-amz-content-sha256", "UNSIGNED-PAYLOAD")), "{headers:?}");
    for body in [&br#"{"Limit":5}"#[..], br#"{"Limit":1}"#] {
        let a = common::http::send(&addr, "POST", "/", &headers, body).await;
        assert_eq!(a.json()["__type"], "com.amazon.coral.service#InvalidSignatureException", "{}", a.json());
        let m = a.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(m.starts_with("The request signature we calculated does not match the signature you provided."), "{m}");
    }
    let path = "/2015-03-31/functions/";
    let unsigned = unsigned_payload_headers(&addr, "GET", path, "lambda", &[]);
    let headers: Vec<(&str, &str)> = unsigned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = common::http::send(&addr, "GET", path, &headers, b"").await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("x-amzn-errortype"), Some("InvalidSignatureException"));

    // A space after `Credential=` (a key pasted with one before it):
    // refused as AWS refuses it, naming the part that has no `=`.
    let req = sigv4::Request { method: "POST", path: "/", query: None, headers: &base };
    let mut added = sigv4::sign(&alice, "us-east-1", "dynamodb", &req, b"{}", SystemTime::now());
    for (k, v) in &mut added {
        if k == "Authorization" {
            *v = v.replacen("Credential=", "Credential= ", 1);
        }
    }
    let header = added.iter().find(|(k, _)| k == "Authorization").map(|(_, v)| v.clone()).unwrap();
    let credential = header.split(' ').nth(2).unwrap().trim_end_matches(',').to_string();
    assert!(credential.starts_with(ALICE_KEY), "{credential}");
    let mut headers: Vec<(&str, &str)> = vec![target, json];
    headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let a = common::http::send(&addr, "POST", "/", &headers, b"{}").await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#IncompleteSignatureException");
    assert_eq!(
        a.json()["message"],
        format!("'{credential}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'.")
    );

    // Several faults at once answer in DynamoDB's order (dynalite's
    // `index.js`): `host` not signed before an unknown algorithm, that
    // before a credential without five parts, that before its scope.
    let now = sigv4::format_time(SystemTime::now());
    let malformed = |algorithm: &str, credential: &str, signed: &str| {
        format!("{algorithm} Credential={credential}, SignedHeaders={signed}, Signature=00")
    };
    let day = &now[..8];
    let other_region = format!("{ALICE_KEY}/{day}/eu-west-1/dynamodb/aws4_request");
    for (authorization, kind, message) in [
        (
            malformed("AWS4-HMAC-SHA25", "a/b/c/d", "x-amz-date"),
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            malformed("AWS4-HMAC-SHA25", "a/b/c/d", "host;x-amz-date"),
            "IncompleteSignatureException",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). ",
        ),
        (
            malformed("AWS4-HMAC-SHA256", "a/b/c/d", "host;x-amz-date"),
            "IncompleteSignatureException",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'",
        ),
        (
            malformed("AWS4-HMAC-SHA256", &other_region, "host;x-amz-date"),
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'eu-west-1'.",
        ),
    ] {
        let headers = [target, json, ("X-Amz-Date", now.as_str()), ("Authorization", authorization.as_str())];
        let a = common::http::send(&addr, "POST", "/", &headers, b"{}").await;
        assert_eq!(a.status, 400, "{authorization}");
        assert_eq!(a.json()["__type"], format!("com.amazon.coral.service#{kind}"), "{authorization}");
        assert_eq!(a.json()["message"], message, "{authorization}");
    }

    // Presigned by aws-sigv4, the SDKs' signer: the signature in the query.
    let presigned = |secret: &str, expires: u64| {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
        let identity = aws_credential_types::Credentials::new(ALICE_KEY, secret, None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = format!("http://{addr}/");
        let signable =
            SignableRequest::new("POST", &url, [("host", addr.as_str())].into_iter(), SignableBody::Bytes(b"{}"))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| format!("{}={}", sigv4::uri_encode(k, false), sigv4::uri_encode(v, false)))
            .collect();
        format!("/?{}", query.join("&"))
    };
    let a = common::http::send(&addr, "POST", &presigned(ALICE_SECRET, 300), &[target, json], b"{}").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["TableNames"], serde_json::json!([]));
    let a = common::http::send(&addr, "POST", &presigned("wrong", 300), &[target, json], b"{}").await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#InvalidSignatureException");
    // Both a header and a presigned query.
    let a = common::http::send(
        &addr,
        "POST",
        &presigned(ALICE_SECRET, 300),
        &[target, json, ("Authorization", "AWS4-HMAC-SHA256 Credential=x")],
        b"{}",
    )
    .await;
    assert_eq!(
        a.json()["message"],
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
    );

    // A request that cannot verify is refused before its body is read: an
    // unknown key declaring 100 MB gets its answer with no byte sent.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let date = sigv4::format_time(SystemTime::now());
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {}\r\nContent-Type: {}\r\nX-Amz-Date: {date}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDNOBODY/{}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\nContent-Length: 100000000\r\n\r\n",
        target.1,
        json.1,
        &date[..8]
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
    let a = common::http::read_answer(&mut stream).await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#UnrecognizedClientException");
    drop(stream);
    // A SignedHeaders list out of order (the canonical request's size would
    // grow with it) is refused.
    let unsorted = format!(
        "AWS4-HMAC-SHA256 Credential={ALICE_KEY}/{}/us-east-1/dynamodb/aws4_request, SignedHeaders=x-amz-date;host, Signature=00",
        &date[..8]
    );
    let a = common::http::send(
        &addr,
        "POST",
        "/",
        &[target, json, ("X-Amz-Date", &date), ("Authorization", &unsorted)],
        b"{}",
    )
    .await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.service#InvalidSignatureException");

    // The health check and preflights stay open.
    let a = common::http::send(&addr, "GET", "/", &[], b"").await;
    assert_eq!(a.status, 200);
    server.stop().await.unwrap();
}

/// The headers that sign a request to `addr` for `service` with
/// `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body left out), as
/// aws-sigv4 signs for S3.
fn unsigned_payload_headers(
    addr: &str,
    method: &str,
    path: &str,
    service: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(ALICE_KEY, ALICE_SECRET, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("http://{addr}{path}");
    let mut headers = vec![("host", addr)];
    headers.extend(extra.iter().copied());
    let signable = SignableRequest::new(method, &url, headers.into_iter(), SignableBody::UnsignedPayload).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn lambda_and_tidepool_endpoints_answer_in_lambda_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth()), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let lambda = |key: &str, secret: &str| lambda_as(&ep, key, secret);
    lambda(ALICE_KEY, ALICE_SECRET).list_functions().send().await.unwrap();
    let err = lambda(ALICE_KEY, "wrong").list_functions().send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("InvalidSignatureException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = lambda("AKIDNOBODY", "x").get_function().function_name("f").send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("UnrecognizedClientException"));

    let addr = ep.trim_start_matches("http://").to_string();
    // Lambda's front end answers `{"message": ...}` (no `Type`) with 403,
    // and a request id in Lambda's form (a UUID), not DynamoDB's.
    for path in ["/2015-03-31/functions", "/tidepool/info", "/metrics", "/tidepool/cost", "/tidepool/insights"] {
        let a = common::http::send(&addr, "GET", path, &[], b"").await;
        assert_eq!(a.status, 403, "{path}");
        assert_eq!(a.header("x-amzn-errortype"), Some("MissingAuthenticationTokenException"));
        assert_eq!(a.json(), serde_json::json!({"message": "Missing Authentication Token"}));
        assert_uuid(a.header("x-amzn-requestid"), path);
    }
    let err = lambda(ALICE_KEY, "wrong").list_functions().send().await.unwrap_err();
    let raw = err.raw_response().expect("an answer");
    assert_uuid(raw.headers().get("x-amzn-requestid"), "a bad signature");
    let body: serde_json::Value = serde_json::from_slice(raw.body().bytes().unwrap()).unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("The request signature we calculated"), "{body}");

    // The CLI signs with the standard variables.
    let ep2 = ep.clone();
    let cli = move |key: &str, secret: &str| {
        let ep = &ep2;
        std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["functions", "--endpoint", ep])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let (ok, bad) =
        tokio::task::spawn_blocking(move || (cli(ALICE_KEY, ALICE_SECRET), cli(ALICE_KEY, "wrong"))).await.unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidSignatureException"));
    server.stop().await.unwrap();
}

/// boto3, as Python users sign.
#[tokio::test]
async fn boto3_signs_and_is_refused_with_awss_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth()), ..ServerConfig::default() }).await;
    let script = format!(
        r#"
import boto3, botocore
def client(service, key, secret):
    return boto3.client(service, endpoint_url="{ep}", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={{"max_attempts": 1}}))
ok = client("dynamodb", "{key}", "{secret}")
ok.create_table(TableName="boto", KeySchema=[{{"AttributeName": "pk", "KeyType": "HASH"}}],
    AttributeDefinitions=[{{"AttributeName": "pk", "AttributeType": "S"}}], BillingMode="PAY_PER_REQUEST")
ok.put_item(TableName="boto", Item={{"pk": {{"S": "x"}}}})
print("items", ok.scan(TableName="boto")["Count"])
for service, op, key, secret in [("dynamodb", "list_tables", "{key}", "nope"), ("dynamodb", "list_tables", "AKIDNOBODY", "x"),
                                 ("lambda", "list_functions", "{key}", "nope")]:
    try:
        getattr(client(service, key, secret), op)()
        print(service, "served")
    except botocore.exceptions.ClientError as e:
        print(service, e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
"#,
        ep = server.endpoint(),
        key = ALICE_KEY,
        secret = ALICE_SECRET
    );
    let said = common::tools::boto3(script, dir.path()).await;
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        [
            "items 1",
            "dynamodb InvalidSignatureException 400",
            "dynamodb UnrecognizedClientException 400",
            "lambda InvalidSignatureException 403"
        ]
    );
    server.stop().await.unwrap();
}

/// IAM's fine-grained access control: a user limited by
/// `dynamodb:LeadingKeys` to the partition named after it reads and writes
/// its own items and nothing else; an explicit deny wins; the Lambda API is
/// authorized too.
#[tokio::test]
async fn a_user_limited_to_its_own_partition() {
    const BOB_KEY: &str = "AKIDBOB";
    let own_partition = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:Query","dynamodb:BatchGetItem"],
         "Resource":"arn:aws:dynamodb:*:*:table/scores",
         "Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:username}"]}}},
        {"Effect":"Deny","Action":"dynamodb:UpdateItem","Resource":"*",
         "Condition":{"StringEquals":{"dynamodb:ReturnValues":"ALL_OLD"}}},
        {"Effect":"Allow","Action":"lambda:ListFunctions","Resource":"*"},
        {"Effect":"Allow","Action":["dynamodb:ListTables","dynamodb:DescribeLimits"],"Resource":"arn:aws:dynamodb:*:*:table/*"},
        {"Effect":"Allow","Action":"dynamodb:DescribeBackup","Resource":"arn:aws:dynamodb:*:*:table/scores/backup/*"}]}"#;
    let bob = Credential {
        user: "bob".into(),
        access_key_id: BOB_KEY.into(),
        secret_access_key: "bob-secret".into(),
        session_token: None,
    };
    let policies = vec![tidepool::iam::Policy::parse(own_partition).unwrap()];
    let auth = Arc::new(Auth::new(vec![(alice(), None), (bob, Some(policies))]));
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "scores", Some(aws_sdk_dynamodb::types::ScalarAttributeType::N)).await;
    admin.put_item().table_name("scores").item("pk", common::s("alice")).item("sk", common::n(1)).send().await.unwrap();

    let bob = ddb(&ep, BOB_KEY, "bob-secret", None, "us-east-1");
    // Its own partition: put, get, update, query, batch get.
    bob.put_item().table_name("scores").item("pk", common::s("bob")).item("sk", common::n(1)).send().await.unwrap();
    let got =
        bob.get_item().table_name("scores").key("pk", common::s("bob")).key("sk", common::n(1)).send().await.unwrap();
    assert!(got.item.is_some());
    bob.update_item()
        .table_name("scores")
        .key("pk", common::s("bob"))
        .key("sk", common::n(1))
        .update_expression("SET points = :p")
        .expression_attribute_values(":p", common::n(5))
        .send()
        .await
        .unwrap();
    let q = bob
        .query()
        .table_name("scores")
        .key_condition_expression("pk = :me")
        .expression_attribute_values(":me", common::s("bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count, 1);
    // ListTables is on every table (`table/*`), as AWS checks it;
    // DescribeLimits on `*`, which a grant of `table/*` does not cover.
    assert_eq!(bob.list_tables().send().await.unwrap().table_names(), ["scores"]);
    let err = bob.describe_limits().send().await.unwrap_err();
    assert_eq!(
        message(&err),
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: dynamodb:DescribeLimits on resource: * because no identity-based policy allows the dynamodb:DescribeLimits action"
    );

    // Anyone else's: denied, with AWS's message.
    let err = bob
        .get_item()
        .table_name("scores")
        .key("pk", common::s("alice"))
        .key("sk", common::n(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/scores because no identity-based policy allows the dynamodb:GetItem action"
    );
    let err = bob
        .put_item()
        .table_name("scores")
        .item("pk", common::s("alice"))
        .item("sk", common::n(2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    let err = bob
        .query()
        .table_name("scores")
        .key_condition_expression("pk = :them")
        .expression_attribute_values(":them", common::s("alice"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    // Actions it has no statement for, and an explicit deny.
    let err = bob.scan().table_name("scores").send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    let err = bob.delete_table().table_name("scores").send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    let err = bob
        .update_item()
        .table_name("scores")
        .key("pk", common::s("bob"))
        .key("sk", common::n(1))
        .update_expression("SET points = :p")
        .expression_attribute_values(":p", common::n(6))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    assert!(message(&err).ends_with("with an explicit deny in an identity-based policy"), "{}", message(&err));
    // Requests no SDK sends, signed by bob: a put whose `Key` names bob but
    // whose `Item` is alice's; a PartiQL read of alice's partition; a table
    // named by its ARN.
    let addr = ep.trim_start_matches("http://").to_string();
    let bob_cred = Credential {
        user: "bob".into(),
        access_key_id: BOB_KEY.into(),
        secret_access_key: "bob-secret".into(),
        session_token: None,
    };
    let raw = |op: &str, body: String| {
        let target = format!("DynamoDB_20120810.{op}");
        let base: Vec<(&str, &[u8])> = vec![("host", addr.as_bytes()), ("x-amz-target", target.as_bytes())];
        let req = sigv4::Request { method: "POST", path: "/", query: None, headers: &base };
        let mut headers: Vec<(String, String)> =
            sigv4::sign(&bob_cred, "us-east-1", "dynamodb", &req, body.as_bytes(), SystemTime::now());
        headers.push(("X-Amz-Target".into(), target.clone()));
        headers.push(("Content-Type".into(), "application/x-amz-json-1.0".into()));
        (headers, body)
    };
    for (op, body) in [
        (
            "PutItem",
            r#"{"TableName":"scores","Key":{"pk":{"S":"bob"},"sk":{"N":"9"}},"Item":{"pk":{"S":"alice"},"sk":{"N":"9"}}}"#
                .to_string(),
        ),
        ("ExecuteStatement", r#"{"Statement":"SELECT * FROM\"scores\" WHERE pk='alice'"}"#.to_string()),
        (
            "GetItem",
            r#"{"TableName":"arn:aws:dynamodb:us-east-1:000000000000:table/scores","Key":{"pk":{"S":"alice"},"sk":{"N":"1"}}}"#
                .to_string(),
        ),
    ] {
        let (headers, body) = raw(op, body);
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let a = common::http::send(&addr, "POST", "/", &h, body.as_bytes()).await;
        assert_eq!(a.json()["__type"], "com.amazon.coral.service#AccessDeniedException", "{op}: {}", a.json());
        // Coral's authorizer names it `Message`, as DynamoDB answers.
        assert!(a.json()["Message"].as_str().is_some_and(|m| m.starts_with("User: ")), "{op}: {}", a.json());
    }
    // A request whose resource cannot be read from it (a statement that
    // does not parse, no table name) gets its validation error, not a
    // denial on a resource no one can name.
    let err = bob.execute_statement().statement("SELEC * FROM scores").send().await.unwrap_err();
    assert_eq!(common::code(&err), "ValidationException", "{}", message(&err));
    let (headers, body) = raw("GetItem", r#"{"Key":{"pk":{"S":"bob"},"sk":{"N":"1"}}}"#.to_string());
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = common::http::send(&addr, "POST", "/", &h, body.as_bytes()).await;
    assert_eq!(a.json()["__type"], "com.amazon.coral.validate#ValidationException", "{}", a.json());

    // Alice's item is untouched.
    let item = admin
        .get_item()
        .table_name("scores")
        .key("pk", common::s("alice"))
        .key("sk", common::n(1))
        .send()
        .await
        .unwrap();
    assert_eq!(item.item.unwrap().len(), 2);

    // The Lambda API: ListFunctions allowed, GetFunction not (403).
    let lambda = lambda_as(&ep, BOB_KEY, "bob-secret");
    lambda.list_functions().send().await.unwrap();
    let err = lambda.get_function().function_name("anything").send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("AccessDeniedException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    // As Lambda answers a denial: `Message`, capitalized, and a UUID id.
    let raw = err.raw_response().unwrap();
    assert_uuid(raw.headers().get("x-amzn-requestid"), "GetFunction denied");
    let body: serde_json::Value = serde_json::from_slice(raw.body().bytes().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"Message": "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: lambda:GetFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:anything because no identity-based policy allows the lambda:GetFunction action"})
    );

    // `/metrics`, the cost meter and Contributor Insights' reports are
    // actions of their own (`tidepool:GetMetrics`, `tidepool:GetCost`,
    // `tidepool:GetContributorInsights`), which bob's policies do not allow.
    for path in ["/metrics", "/tidepool/cost", "/tidepool/insights"] {
        let base: Vec<(&str, &[u8])> = vec![("host", addr.as_bytes())];
        let req = sigv4::Request { method: "GET", path, query: None, headers: &base };
        let headers = sigv4::sign(&bob_cred, "us-east-1", "tidepool", &req, b"", SystemTime::now());
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let a = common::http::send(&addr, "GET", path, &h, b"").await;
        assert_eq!(a.status, 403, "{path}");
        assert_eq!(a.header("x-amzn-errortype"), Some("AccessDeniedException"), "{path}");
        assert!(a.json()["Message"].as_str().is_some_and(|m| m.starts_with("User: ")), "{path}: {:?}", a.json());
        assert_uuid(a.header("x-amzn-requestid"), path);
    }

    // Backups are checked as the backup the ARN finds: another table's
    // backup id under this table's name is another table's backup.
    let own = admin.create_backup().table_name("scores").backup_name("bkp").send().await.unwrap();
    let own = own.backup_details.unwrap().backup_arn;
    bob.describe_backup().backup_arn(&own).send().await.expect("its own table's backup");
    common::create_table(&admin, "secret", None).await;
    let other = admin.create_backup().table_name("secret").backup_name("bkp").send().await.unwrap();
    let id = other.backup_details.unwrap().backup_arn.rsplit_once("/backup/").unwrap().1.to_string();
    let disguised = format!("arn:aws:dynamodb:us-east-1:000000000000:table/scores/backup/{id}");
    let err = bob.describe_backup().backup_arn(&disguised).send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("AccessDeniedException"));
    server.stop().await.unwrap();
}

/// A user of the auth file with `policies`, signing with `key` and
/// secret `secret`.
fn user_with(name: &str, key: &str, policies: &[&str]) -> (Credential, Option<Vec<tidepool::iam::Policy>>) {
    let credential = Credential {
        user: name.into(),
        access_key_id: key.into(),
        secret_access_key: "secret".into(),
        session_token: None,
    };
    (credential, Some(policies.iter().map(|p| tidepool::iam::Policy::parse(p).unwrap()).collect()))
}

/// `dynamodb:Attributes` holds the attributes a request evaluates as well
/// as those it reads and writes: with the developer guide's example 2 (an
/// allow-list of attributes), a condition or filter on another attribute
/// is denied, in expressions and in the legacy `Expected`, `QueryFilter`
/// and `ScanFilter`, for single-item writes, transactions, queries and
/// scans; the same requests on listed attributes are served.
#[tokio::test]
async fn conditions_and_filters_count_as_attributes() {
    use aws_sdk_dynamodb::types::{
        AttributeAction, AttributeValueUpdate, ComparisonOperator, Condition, ConditionCheck, ExpectedAttributeValue,
        TransactWriteItem,
    };
    let only_some = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["dynamodb:GetItem","dynamodb:Query","dynamodb:Scan","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:ConditionCheckItem"],
        "Resource":"arn:aws:dynamodb:*:*:table/scores",
        "Condition":{"ForAllValues:StringEquals":{"dynamodb:Attributes":["pk","sk","v"]},
                     "StringEqualsIfExists":{"dynamodb:Select":"SPECIFIC_ATTRIBUTES","dynamodb:ReturnValues":["NONE","UPDATED_OLD","UPDATED_NEW"]}}}]}"#;
    let auth = Arc::new(Auth::new(vec![(alice(), None), user_with("frank", "AKIDFRANK", &[only_some])]));
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "scores", Some(aws_sdk_dynamodb::types::ScalarAttributeType::N)).await;
    admin
        .put_item()
        .table_name("scores")
        .item("pk", common::s("frank"))
        .item("sk", common::n(1))
        .item("v", common::n(1))
        .item("secret", common::s("x"))
        .send()
        .await
        .unwrap();
    let frank = ddb(&ep, "AKIDFRANK", "secret", None, "us-east-1");
    let denied = |what: &str, code: String| assert_eq!(code, "AccessDeniedException", "{what}");
    let eq = |v: aws_sdk_dynamodb::types::AttributeValue| {
        Condition::builder().comparison_operator(ComparisonOperator::Eq).attribute_value_list(v).build().unwrap()
    };
    let check = |condition: &str, value: aws_sdk_dynamodb::types::AttributeValue| {
        let check = ConditionCheck::builder()
            .table_name("scores")
            .key("pk", common::s("frank"))
            .key("sk", common::n(1))
            .condition_expression(condition)
            .expression_attribute_values(":x", value)
            .build()
            .unwrap();
        TransactWriteItem::builder().condition_check(check).build()
    };

    // An update's value that reads another attribute reads it.
    let e = frank
        .update_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .update_expression("SET v = if_not_exists(secret, :v)")
        .expression_attribute_values(":v", common::n(2))
        .send()
        .await
        .unwrap_err();
    denied("SET from another attribute", common::code(&e));

    // On the listed attributes: served.
    frank
        .update_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .update_expression("SET v = :v")
        .condition_expression("v = :old")
        .expression_attribute_values(":v", common::n(2))
        .expression_attribute_values(":old", common::n(1))
        .send()
        .await
        .unwrap();
    frank
        .put_item()
        .table_name("scores")
        .item("pk", common::s("frank"))
        .item("sk", common::n(2))
        .item("v", common::n(3))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap();
    let scan = frank
        .scan()
        .table_name("scores")
        .projection_expression("pk, sk, v")
        .filter_expression("v > :z")
        .expression_attribute_values(":z", common::n(0))
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count, 2);
    let query = frank
        .query()
        .table_name("scores")
        .key_condition_expression("pk = :p")
        .filter_expression("#v = :v")
        .expression_attribute_names("#v", "v")
        .expression_attribute_values(":p", common::s("frank"))
        .expression_attribute_values(":v", common::n(2))
        .projection_expression("pk, sk, v")
        .send()
        .await
        .unwrap();
    assert_eq!(query.count, 1);
    frank.transact_write_items().transact_items(check("v = :x", common::n(2))).send().await.unwrap();

    // A condition or filter on `secret`: denied.
    let err = frank
        .update_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .update_expression("SET v = :v")
        .condition_expression("secret = :s")
        .expression_attribute_values(":v", common::n(5))
        .expression_attribute_values(":s", common::s("guess"))
        .send()
        .await
        .unwrap_err();
    denied("a ConditionExpression", common::code(&err));
    assert!(message(&err).contains("dynamodb:UpdateItem"), "{}", message(&err));
    let err = frank
        .update_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .attribute_updates(
            "v",
            AttributeValueUpdate::builder().action(AttributeAction::Put).value(common::n(5)).build(),
        )
        .expected("secret", ExpectedAttributeValue::builder().exists(false).build())
        .send()
        .await
        .unwrap_err();
    denied("Expected", common::code(&err));
    let err = frank
        .put_item()
        .table_name("scores")
        .item("pk", common::s("frank"))
        .item("sk", common::n(3))
        .condition_expression("attribute_not_exists(secret)")
        .send()
        .await
        .unwrap_err();
    denied("a put's ConditionExpression", common::code(&err));
    let err = frank
        .scan()
        .table_name("scores")
        .projection_expression("pk, sk, v")
        .filter_expression("secret = :s")
        .expression_attribute_values(":s", common::s("x"))
        .send()
        .await
        .unwrap_err();
    denied("a scan's FilterExpression", common::code(&err));
    let err = frank
        .scan()
        .table_name("scores")
        .attributes_to_get("pk")
        .attributes_to_get("v")
        .scan_filter("secret", eq(common::s("x")))
        .send()
        .await
        .unwrap_err();
    denied("ScanFilter", common::code(&err));
    let err = frank
        .query()
        .table_name("scores")
        .key_condition_expression("pk = :p")
        .filter_expression("#s = :s")
        .expression_attribute_names("#s", "secret")
        .expression_attribute_values(":p", common::s("frank"))
        .expression_attribute_values(":s", common::s("x"))
        .projection_expression("pk, sk, v")
        .send()
        .await
        .unwrap_err();
    denied("a query's FilterExpression", common::code(&err));
    let err = frank
        .query()
        .table_name("scores")
        .key_conditions("pk", eq(common::s("frank")))
        .query_filter("secret", eq(common::s("x")))
        .attributes_to_get("v")
        .send()
        .await
        .unwrap_err();
    denied("QueryFilter", common::code(&err));
    let err =
        frank.transact_write_items().transact_items(check("secret = :x", common::s("x"))).send().await.unwrap_err();
    denied("a ConditionCheck", common::code(&err));
    // A condition that does not parse names attributes no one can tell:
    // denied, not served.
    let err = frank
        .update_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .update_expression("SET v = :v")
        .condition_expression("v = = :v")
        .expression_attribute_values(":v", common::n(5))
        .send()
        .await
        .unwrap_err();
    denied("an unparsable ConditionExpression", common::code(&err));

    // Nothing denied was written.
    let item = admin
        .get_item()
        .table_name("scores")
        .key("pk", common::s("frank"))
        .key("sk", common::n(1))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["v"], common::n(2));
    server.stop().await.unwrap();
}

/// BatchExecuteStatement authorizes each statement on its own: a statement
/// the caller may not run fails alone with `AccessDenied` (a code of
/// DynamoDB's `BatchStatementErrorCodeEnum`), the others run, reads and
/// writes alike; a denied statement on a table that does not exist is
/// denied, not missing.
#[tokio::test]
async fn a_batch_of_statements_is_authorized_statement_by_statement() {
    use aws_sdk_dynamodb::types::{BatchStatementErrorCodeEnum, BatchStatementRequest};
    let carol_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["dynamodb:PartiQLSelect","dynamodb:PartiQLInsert"],
         "Resource":"arn:aws:dynamodb:*:*:table/open"}]}"#;
    let auth = Auth::new(vec![(alice(), None), user_with("carol", "AKIDCAROL", &[carol_policy])]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    for table in ["open", "closed"] {
        common::create_table(&admin, table, None).await;
        admin.put_item().table_name(table).item("pk", common::s("a")).send().await.unwrap();
    }
    let carol = ddb(&ep, "AKIDCAROL", "secret", None, "us-east-1");
    let statement = |text: &str| BatchStatementRequest::builder().statement(text).build().unwrap();
    let denied = |action: &str, table: &str| {
        format!(
            "User: arn:aws:iam::000000000000:user/carol is not authorized to perform: dynamodb:{action} on resource: arn:aws:dynamodb:us-east-1:000000000000:table/{table} because no identity-based policy allows the dynamodb:{action} action"
        )
    };
    let out = carol
        .batch_execute_statement()
        .statements(statement(r#"SELECT * FROM "open" WHERE pk = 'a'"#))
        .statements(statement(r#"SELECT * FROM "closed" WHERE pk = 'a'"#))
        .statements(statement(r#"SELECT * FROM "missing" WHERE pk = 'a'"#))
        .send()
        .await
        .unwrap();
    let responses = out.responses();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0].item().and_then(|i| i.get("pk")), Some(&common::s("a")));
    assert!(responses[0].error().is_none());
    for (r, table) in [(&responses[1], "closed"), (&responses[2], "missing")] {
        let e = r.error().unwrap_or_else(|| panic!("{table}: {r:?}"));
        assert_eq!(e.code(), Some(&BatchStatementErrorCodeEnum::AccessDenied), "{table}");
        assert_eq!(e.message(), Some(denied("PartiQLSelect", table).as_str()));
        assert!(r.item().is_none());
    }
    // Writes: the allowed insert is made, the denied one is not.
    let out = carol
        .batch_execute_statement()
        .statements(statement(r#"INSERT INTO "closed" VALUE {'pk': 'b'}"#))
        .statements(statement(r#"INSERT INTO "open" VALUE {'pk': 'b'}"#))
        .send()
        .await
        .unwrap();
    let responses = out.responses();
    let e = responses[0].error().expect("the insert into closed is denied");
    assert_eq!(e.code(), Some(&BatchStatementErrorCodeEnum::AccessDenied));
    assert_eq!(e.message(), Some(denied("PartiQLInsert", "closed").as_str()));
    assert!(responses[1].error().is_none(), "{:?}", responses[1]);
    let get = |table: &str| admin.get_item().table_name(table).key("pk", common::s("b")).send();
    assert!(get("open").await.unwrap().item.is_some());
    assert!(get("closed").await.unwrap().item.is_none());
    // The request is validated before its statements are authorized: a
    // denied write still makes a batch of reads and writes, refused whole;
    // no statements, or one that does not parse, are the caller's fault.
    let err = carol
        .batch_execute_statement()
        .statements(statement(r#"SELECT * FROM "open" WHERE pk = 'a'"#))
        .statements(statement(r#"INSERT INTO "closed" VALUE {'pk': 'c'}"#))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "ValidationException");
    assert_eq!(message(&err), "Read and write requests together in the same batch is not supported.");
    let err = carol.batch_execute_statement().set_statements(Some(Vec::new())).send().await.unwrap_err();
    assert_eq!(common::code(&err), "ValidationException");
    let out = carol
        .batch_execute_statement()
        .statements(statement(r#"SELEC * FROM "closed""#))
        .statements(statement(r#"SELECT * FROM "open" WHERE pk = 'a'"#))
        .send()
        .await
        .unwrap();
    let e = out.responses()[0].error().expect("the statement does not parse");
    assert_eq!(e.code(), Some(&BatchStatementErrorCodeEnum::ValidationError));
    assert!(out.responses()[1].error().is_none(), "{:?}", out.responses()[1]);
    assert!(get("closed").await.unwrap().item.is_none());
    server.stop().await.unwrap();
}

/// Policy variables are variables only in version 2012-10-17 documents: in
/// 2008-10-17, and without a `Version`, `${aws:username}` is literal text,
/// so a resource written with it names no table these users have.
#[tokio::test]
async fn policy_variables_need_version_2012_10_17() {
    let doc = |version: &str| {
        format!(
            r#"{{{version}"Statement":[{{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/${{aws:username}}"}}]}}"#
        )
    };
    let (v2012, v2008) = (doc(r#""Version":"2012-10-17","#), doc(r#""Version":"2008-10-17","#));
    let auth = Arc::new(Auth::new(vec![
        (alice(), None),
        user_with("pp5", "AKIDPP5", &[&v2008]),
        user_with("pp6", "AKIDPP6", &[&doc("")]),
        user_with("pp7", "AKIDPP7", &[&v2012]),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), ServerConfig { auth: Some(auth), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    for (name, key, served) in [("pp5", "AKIDPP5", false), ("pp6", "AKIDPP6", false), ("pp7", "AKIDPP7", true)] {
        common::create_table(&admin, name, None).await;
        let got = ddb(&ep, key, "secret", None, "us-east-1")
            .get_item()
            .table_name(name)
            .key("pk", common::s("a"))
            .send()
            .await;
        match got {
            Ok(_) => assert!(served, "{name} was served"),
            Err(e) => {
                assert!(!served, "{name}: {e:?}");
                assert_eq!(common::code(&e), "AccessDeniedException", "{name}");
            }
        }
    }
    server.stop().await.unwrap();
}

/// IAM's global keys describe the principal and the connection:
/// `aws:PrincipalAccount` and `aws:ResourceAccount` are the account;
/// `aws:SourceIp` is the client's address, compared with `IpAddress` and
/// `NotIpAddress` on the DynamoDB and Lambda APIs alike, and absent from
/// a handler's in-process calls; `aws:SecureTransport` is false over
/// plain HTTP and true for a handler's in-process calls.
#[tokio::test]
async fn global_keys_describe_the_principal_and_the_connection() {
    let allow_if = |condition: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["dynamodb:ListTables","dynamodb:GetItem","lambda:ListFunctions"],"Resource":"*","Condition":{condition}}}]}}"#
        )
    };
    let account =
        allow_if(r#"{"StringEquals":{"aws:PrincipalAccount":"000000000000","aws:ResourceAccount":"000000000000"}}"#);
    let loopback = allow_if(r#"{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1"]}}"#);
    let private = allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#);
    let tls_only = allow_if(r#"{"Bool":{"aws:SecureTransport":"true"}}"#);
    let fenced = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    let loopback_policy = tidepool::iam::Policy::parse(&loopback).unwrap();
    let tls_policy = tidepool::iam::Policy::parse(&tls_only).unwrap();
    let auth = Auth::new(vec![
        (alice(), None),
        user_with("acct", "AKIDACCT", &[&account]),
        user_with("local", "AKIDLOCAL", &[&loopback]),
        user_with("private", "AKIDPRIVATE", &[&private]),
        user_with("fenced", "AKIDFENCED", &[fenced]),
        user_with("tls", "AKIDTLS", &[&tls_only]),
    ])
    .with_roles(vec![("iponly".into(), vec![loopback_policy]), ("tlsonly".into(), vec![tls_policy])]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    assert!(ep.starts_with("http://127.0.0.1:"), "{ep}");
    let as_user = |key: &str| ddb(&ep, key, "secret", None, "us-east-1");

    as_user("AKIDACCT").list_tables().send().await.expect("the account's keys");
    as_user("AKIDLOCAL").list_tables().send().await.expect("a loopback client");
    lambda_as(&ep, "AKIDLOCAL", "secret").list_functions().send().await.expect("a loopback client of Lambda");
    let err = as_user("AKIDPRIVATE").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    let err = lambda_as(&ep, "AKIDPRIVATE", "secret").list_functions().send().await.unwrap_err();
    assert_eq!(err.as_service_error().and_then(|e| e.code()), Some("AccessDeniedException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = as_user("AKIDFENCED").list_tables().send().await.unwrap_err();
    assert!(message(&err).ends_with("with an explicit deny in an identity-based policy"), "{}", message(&err));
    let err = as_user("AKIDTLS").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");

    // A handler's in-process call has no source address: the role that a
    // loopback client's policy would allow is allowed nothing by it.
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "ipcheck", None).await;
    as_user("AKIDLOCAL").get_item().table_name("ipcheck").key("pk", common::s("x")).send().await.unwrap();
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    create_store_caller(&lambda, "ip-fn", Some("iponly")).await;
    let get = serde_json::json!({"TableName": "ipcheck", "Key": {"pk": {"S": "x"}}});
    let out = store_call(&lambda, "ip-fn", "GetItem", get.clone()).await;
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    // It crosses no network: secure, as a function's HTTPS calls on AWS
    // are, so a role allowed only secure transport is allowed it.
    create_store_caller(&lambda, "tls-fn", Some("tlsonly")).await;
    let out = store_call(&lambda, "tls-fn", "GetItem", get).await;
    assert!(out["error"].is_null(), "{out}");
    server.stop().await.unwrap();
}

/// A function's execution role: its handler's store calls are authorized
/// with the role's policies (a role the auth file does not list allows
/// nothing).
#[tokio::test]
async fn a_handler_runs_as_its_execution_role() {
    let reader = tidepool::iam::Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:*:*:table/rolecheck"}]}"#,
    )
    .unwrap();
    let auth = Auth::new(vec![(alice(), None)])
        .with_roles(vec![("reader".into(), vec![reader]), ("nobody".into(), Vec::new())]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "rolecheck", None).await;
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    create_store_caller(&lambda, "reader-fn", Some("reader")).await;
    let call = |function: &'static str, operation: &'static str, request: serde_json::Value| {
        store_call(&lambda, function, operation, request)
    };
    let put = serde_json::json!({"TableName": "rolecheck", "Item": {"pk": {"S": "x"}}});
    let get = serde_json::json!({"TableName": "rolecheck", "Key": {"pk": {"S": "x"}}});
    // The reader role may read, not write.
    let out = call("reader-fn", "PutItem", put).await;
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    assert_eq!(
        out["error"]["message"],
        "User: arn:aws:sts::000000000000:assumed-role/reader/reader-fn is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/rolecheck because no identity-based policy allows the dynamodb:PutItem action"
    );
    let out = call("reader-fn", "GetItem", get.clone()).await;
    assert!(out.get("ok").is_some(), "{out}");
    admin.put_item().table_name("rolecheck").item("pk", common::s("x")).send().await.unwrap();
    let out = call("reader-fn", "GetItem", get.clone()).await;
    assert_eq!(out["ok"]["Item"]["pk"]["S"], "x", "{out}");
    // A role the file does not list cannot be given: nor can the default
    // one (no `Role`), nor a listed role's name in another account or
    // under a path (which `iam:PassRole` would check as written).
    let code = tidepool_runtime::examples::example_bytes("misbehave");
    for role in [
        Some("arn:aws:iam::000000000000:role/ghost"),
        None,
        Some("arn:aws:iam::999999999999:role/reader"),
        Some("arn:aws:iam::000000000000:role/team/reader"),
    ] {
        let err = lambda
            .create_function()
            .function_name("ghost-fn")
            .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
            .set_role(role.map(str::to_string))
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(code.clone()))
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        let raw = err.raw_response().expect("an answer");
        assert_eq!(raw.status().as_u16(), 400, "{role:?}");
        let err = err.into_service_error();
        assert_eq!(err.meta().code(), Some("InvalidParameterValueException"), "{role:?}");
        assert_eq!(err.meta().message(), Some("The role defined for the function cannot be assumed by Lambda."));
        assert!(lambda.get_function().function_name("ghost-fn").send().await.is_err());
        let Some(role) = role else { continue };
        let err = lambda
            .update_function_configuration()
            .function_name("reader-fn")
            .role(role)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(err.meta().code(), Some("InvalidParameterValueException"), "{role}");
        assert_eq!(err.meta().message(), Some("The role defined for the function cannot be assumed by Lambda."));
    }
    // The role stayed `reader`.
    let out = call("reader-fn", "GetItem", get.clone()).await;
    assert_eq!(out["ok"]["Item"]["pk"]["S"], "x", "{out}");
    // A published version keeps its own role: `$LATEST` moved to a role
    // without policies, version 1 still reads as `reader`.
    lambda.publish_version().function_name("reader-fn").send().await.unwrap();
    lambda
        .update_function_configuration()
        .function_name("reader-fn")
        .role("arn:aws:iam::000000000000:role/nobody")
        .send()
        .await
        .unwrap();
    let out = call("reader-fn", "GetItem", get.clone()).await;
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("assumed-role/nobody/reader-fn"), "{out}");
    let out = call("reader-fn:1", "GetItem", get).await;
    assert_eq!(out["ok"]["Item"]["pk"]["S"], "x", "{out}");
    server.stop().await.unwrap();
}

/// Creates `name` from the `misbehave` example (whose `store` action makes
/// one DynamoDB call) with execution role `role` (or Lambda's default when
/// `None`), and waits until Active.
async fn create_store_caller(lambda: &aws_sdk_lambda::Client, name: &str, role: Option<&str>) {
    create_from(lambda, name, "misbehave", role).await;
}

/// Creates `name` from example `example` with execution role `role` (or
/// Lambda's default when `None`), and waits until Active.
async fn create_from(lambda: &aws_sdk_lambda::Client, name: &str, example: &str, role: Option<&str>) {
    let code = tidepool_runtime::examples::example_bytes(example);
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
        .set_role(role.map(|r| format!("arn:aws:iam::000000000000:role/{r}")))
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(code))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let c = lambda.get_function_configuration().function_name(name).send().await.unwrap();
        if c.state() == Some(&aws_sdk_lambda::types::State::Active) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{name} never became Active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Function URLs with `AuthType AWS_IAM`: a caller needs
/// `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (required of
/// every URL made since October 2025); `lambda:FunctionUrlAuthType` is the
/// auth type a URL is created or updated with, so that AWS's guardrail
/// policy (deny a URL that is not `AWS_IAM`) holds.
#[tokio::test]
async fn function_urls_need_both_invoke_actions_and_know_their_auth_type() {
    use aws_sdk_lambda::types::FunctionUrlAuthType;
    let auth = Auth::new(vec![
        (alice(), None),
        user_with(
            "urlonly",
            "AKIDURLONLY",
            &[r#"{"Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunctionUrl","Resource":"*"}]}"#],
        ),
        user_with(
            "both",
            "AKIDBOTH",
            &[r#"{"Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunctionUrl","Resource":"*"},
                    {"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*",
                     "Condition":{"Bool":{"lambda:InvokedViaFunctionUrl":"true"}}}]}"#],
        ),
        user_with(
            "guard",
            "AKIDGUARD",
            &[r#"{"Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"},
                    {"Effect":"Deny","Action":["lambda:CreateFunctionUrlConfig","lambda:UpdateFunctionUrlConfig"],"Resource":"*",
                     "Condition":{"StringNotEquals":{"lambda:FunctionUrlAuthType":"AWS_IAM"}}}]}"#],
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    create_from(&admin, "web", "echo", None).await;
    let guard = lambda_as(&ep, "AKIDGUARD", "secret");
    let err = guard
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDeniedException"), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("with an explicit deny"), "{err:?}");
    let created = guard
        .create_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap();
    let err = guard
        .update_function_url_config()
        .function_name("web")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDeniedException"), "{err:?}");
    let url_id = created.function_url().trim_start_matches("http://").split('.').next().unwrap().to_string();
    let addr = ep.trim_start_matches("http://").to_string();
    let path = format!("/lambda-url/{url_id}/hello");
    let call = |user: &str, key: &str| {
        let credential = Credential {
            user: user.into(),
            access_key_id: key.into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        let base: Vec<(&str, &[u8])> = vec![("host", addr.as_bytes())];
        let req = sigv4::Request { method: "POST", path: &path, query: None, headers: &base };
        sigv4::sign(&credential, "us-east-1", "lambda", &req, b"{}", SystemTime::now())
    };
    for (user, key, status) in [("urlonly", "AKIDURLONLY", 403), ("both", "AKIDBOTH", 200)] {
        let headers = call(user, key);
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let a = common::http::send(&addr, "POST", &path, &h, b"{}").await;
        assert_eq!(a.status, status, "{user}: {}", String::from_utf8_lossy(&a.body));
        if status == 403 {
            assert!(String::from_utf8_lossy(&a.body).contains("lambda:InvokeFunction "), "{user}");
        }
    }
    server.stop().await.unwrap();
}

/// A function's resource-based policy (AddPermission, GetPolicy,
/// RemovePermission): statements as Lambda writes them, unique ids, the
/// function's revision as the precondition and changed by each change, and,
/// once authentication is on, the policy granting what the caller's own
/// policies do not.
#[tokio::test]
async fn a_functions_policy_grants_what_it_names() {
    let bob_arn = "arn:aws:iam::000000000000:user/bob";
    let auth = Auth::new(vec![(alice(), None), user_with("bob", "AKIDBOB", &[])]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    let bob = lambda_as(&ep, "AKIDBOB", "secret");
    create_from(&admin, "granted", "echo", None).await;
    // No policy yet: GetPolicy finds none, and bob may not invoke.
    let err = admin.get_policy().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ResourceNotFoundException"), "{err:?}");
    let err = bob.invoke().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDeniedException"), "{err:?}");
    let before = admin.get_function_configuration().function_name("granted").send().await.unwrap();
    let before = before.revision_id().unwrap().to_string();
    // A stale revision is refused; the current one is taken.
    let err = admin
        .add_permission()
        .function_name("granted")
        .statement_id("bob-invokes")
        .action("lambda:InvokeFunction")
        .principal(bob_arn)
        .revision_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("PreconditionFailedException"), "{err:?}");
    let added = admin
        .add_permission()
        .function_name("granted")
        .statement_id("bob-invokes")
        .action("lambda:InvokeFunction")
        .principal(bob_arn)
        .revision_id(&before)
        .send()
        .await
        .unwrap();
    let statement: serde_json::Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(
        statement,
        serde_json::json!({
            "Sid": "bob-invokes", "Effect": "Allow", "Principal": {"AWS": bob_arn},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:granted",
        })
    );
    let after = admin.get_function_configuration().function_name("granted").send().await.unwrap();
    let after = after.revision_id().unwrap().to_string();
    assert_ne!(after, before, "a policy change gives the function a new revision");
    let policy = admin.get_policy().function_name("granted").send().await.unwrap();
    assert_eq!(policy.revision_id(), Some(after.as_str()));
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    assert_eq!(doc["Statement"], serde_json::json!([statement]));
    // The same id again is a conflict; a principal Lambda does not read is refused.
    let again = admin
        .add_permission()
        .function_name("granted")
        .statement_id("bob-invokes")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(again.meta().code(), Some("ResourceConflictException"), "{again:?}");
    assert_eq!(
        again.meta().message(),
        Some(
            "The statement id (bob-invokes) provided already exists. Please provide a new statement id, or remove \
             the existing statement."
        )
    );
    let bad = admin
        .add_permission()
        .function_name("granted")
        .statement_id("odd")
        .action("lambda:InvokeFunction")
        .principal("bob")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(bad.meta().code(), Some("InvalidParameterValueException"), "{bad:?}");
    // The request is validated before its function is looked for.
    let bad = admin
        .add_permission()
        .function_name("missing")
        .statement_id("bad id")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(bad.meta().code(), Some("ValidationException"), "{bad:?}");
    // The policy grants bob the invocation, and nothing else.
    let out = bob.invoke().function_name("granted").payload(aws_sdk_lambda::primitives::Blob::new("{}")).send().await;
    assert!(out.is_ok(), "{out:?}");
    let err = bob.get_function().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDeniedException"), "{err:?}");
    // Removed, it grants nothing; removing it again finds nothing.
    admin.remove_permission().function_name("granted").statement_id("bob-invokes").send().await.unwrap();
    let err = bob.invoke().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDeniedException"), "{err:?}");
    let err = admin
        .remove_permission()
        .function_name("granted")
        .statement_id("bob-invokes")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("ResourceNotFoundException"), "{err:?}");
    let err = admin.get_policy().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ResourceNotFoundException"), "{err:?}");
    // A policy goes with its function.
    admin
        .add_permission()
        .function_name("granted")
        .statement_id("anyone")
        .action("lambda:GetFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
    admin.delete_function().function_name("granted").send().await.unwrap();
    create_from(&admin, "granted", "echo", None).await;
    let err = admin.get_policy().function_name("granted").send().await.unwrap_err().into_service_error();
    assert_eq!(err.meta().code(), Some("ResourceNotFoundException"), "{err:?}");
    server.stop().await.unwrap();
}

/// Invokes a `misbehave` function to make one DynamoDB call from its
/// handler; its answer (`{"ok": ...}` or `{"error": ...}`).
async fn store_call(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    operation: &str,
    request: serde_json::Value,
) -> serde_json::Value {
    let event = serde_json::json!({"action": "store", "operation": operation, "request": request});
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(out.payload().unwrap().as_ref()).unwrap()
}

/// With authentication on and no roles in the auth file, a handler's calls
/// run as an administrator's session of its role: allowed, except where a
/// table's resource-based policy explicitly denies them.
#[tokio::test]
async fn a_handler_without_listed_roles_meets_resource_policy_denials() {
    let dir = tempfile::tempdir().unwrap();
    // The test changes the policy in a row: no cooldown (tested below).
    let server = common::start_with(
        dir.path(),
        ServerConfig { auth: Some(auth()), setting_cooldown: Duration::ZERO, ..ServerConfig::default() },
    )
    .await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "guarded", None).await;
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    create_store_caller(&lambda, "writer-fn", Some("writer")).await;
    let put = serde_json::json!({"TableName": "guarded", "Item": {"pk": {"S": "x"}}});
    let get = serde_json::json!({"TableName": "guarded", "Key": {"pk": {"S": "x"}}});
    let out = store_call(&lambda, "writer-fn", "PutItem", put.clone()).await;
    assert!(out.get("ok").is_some(), "{out}");
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/guarded";
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":["dynamodb:PutItem","dynamodb:DeleteResourcePolicy"],"Resource":"{arn}"}}]}}"#
    );
    admin.put_resource_policy().resource_arn(arn).policy(doc).send().await.unwrap();
    let out = store_call(&lambda, "writer-fn", "PutItem", put).await;
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    assert_eq!(
        out["error"]["message"],
        format!(
            "User: arn:aws:sts::000000000000:assumed-role/writer/writer-fn is not authorized to perform: dynamodb:PutItem on resource: {arn} with an explicit deny in a resource-based policy"
        )
    );
    let out = store_call(&lambda, "writer-fn", "GetItem", get).await;
    assert_eq!(out["ok"]["Item"]["pk"]["S"], "x", "{out}");
    // A trace shows the item only to whom its table's policy does not deny
    // GetItem, an administrator included: this policy denies PutItem.
    let addr = ep.trim_start_matches("http://").to_string();
    let query = "table=guarded&key=%7B%22pk%22%3A%7B%22S%22%3A%22x%22%7D%7D";
    let trace = || async {
        let base: Vec<(&str, &[u8])> = vec![("host", addr.as_bytes())];
        let req = sigv4::Request { method: "GET", path: "/tidepool/trace", query: Some(query), headers: &base };
        let headers = sigv4::sign(&alice(), "us-east-1", "tidepool", &req, b"", SystemTime::now());
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        common::http::send(&addr, "GET", &format!("/tidepool/trace?{query}"), &h, b"").await
    };
    let a = trace().await;
    assert_eq!(a.status, 200, "{:?}", a.json());
    assert_eq!(a.json()["Item"]["pk"]["S"], "x");
    // A role's session is not the account's root: it may not remove the
    // policy that denies it; the administrator may.
    let out = store_call(&lambda, "writer-fn", "DeleteResourcePolicy", serde_json::json!({"ResourceArn": arn})).await;
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    admin.delete_resource_policy().resource_arn(arn).send().await.unwrap();

    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"dynamodb:GetItem","Resource":"{arn}"}}]}}"#
    );
    admin.put_resource_policy().resource_arn(arn).policy(doc).send().await.unwrap();
    let a = trace().await;
    assert_eq!(a.status, 403, "{:?}", a.json());
    assert_eq!(a.header("x-amzn-errortype"), Some("AccessDeniedException"));
    assert!(a.json()["Message"].as_str().unwrap().ends_with("with an explicit deny in a resource-based policy"));
    server.stop().await.unwrap();
}

/// A table's policy, its stream's and its deletion protection each refuse
/// another change for 15 s after one, with ThrottlingException naming when
/// to try again (the live service's texts, DDB-TABLE-206 and -047); the
/// same policy again is taken meanwhile, a stale ExpectedRevisionId is
/// refused first, and `setting_cooldown` shortens the window.
#[tokio::test]
async fn policy_and_deletion_protection_changes_cool_down() {
    use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType};
    let h = common::harness().await;
    // Without the SDK's retries: each refusal is the server's first answer.
    let c = aws_sdk_dynamodb::Client::from_conf(
        h.client.config().to_builder().retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()).build(),
    );
    c.create_table()
        .table_name("cool")
        .key_schema(common::key_elem("pk", KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", ScalarAttributeType::S))
        .stream_specification(common::new_and_old_images())
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/cool";
    let doc = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":"{action}","Resource":"*"}}]}}"#
        )
    };
    let rev = c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:GetItem")).send().await.unwrap();
    let rev = rev.revision_id().unwrap().to_string();
    let after = tidepool_store::format_timestamp_millis(rev.parse::<u64>().unwrap() + 15_000);
    let throttled = |what: &str| {
        format!(
            "Resource-based policy for {what} modified within the previous 15000 milliseconds. Please try again after {after}Z."
        )
    };
    // The same policy again changes nothing and is taken.
    let same = c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:GetItem")).send().await.unwrap();
    assert_eq!(same.revision_id(), Some(rev.as_str()));
    let err = c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:Query")).send().await.unwrap_err();
    assert_eq!((common::code(&err).as_str(), message(&err)), ("ThrottlingException", throttled("table cool")));
    let err = c.delete_resource_policy().resource_arn(arn).send().await.unwrap_err();
    assert_eq!((common::code(&err).as_str(), message(&err)), ("ThrottlingException", throttled("table cool")));
    // The revision is checked first.
    let err = c.delete_resource_policy().resource_arn(arn).expected_revision_id("123").send().await.unwrap_err();
    assert_eq!(common::code(&err), "PolicyNotFoundException");
    // The stream's policy has its own window.
    let t = c.describe_table().table_name("cool").send().await.unwrap().table.unwrap();
    let stream_arn = t.latest_stream_arn().unwrap().to_string();
    let label = t.latest_stream_label().unwrap().to_string();
    let srev = c.put_resource_policy().resource_arn(&stream_arn).policy(doc("dynamodb:GetRecords")).send().await;
    let srev = srev.unwrap().revision_id().unwrap().parse::<u64>().unwrap();
    let err = c
        .put_resource_policy()
        .resource_arn(&stream_arn)
        .policy(doc("dynamodb:DescribeStream"))
        .send()
        .await
        .unwrap_err();
    let after = tidepool_store::format_timestamp_millis(srev + 15_000);
    assert_eq!(
        message(&err),
        format!(
            "Resource-based policy for stream {label} modified within the previous 15000 milliseconds. Please try again after {after}Z."
        )
    );
    // A new stream has its own policy: none yet, and no window.
    let stream = |on: bool| {
        let spec = aws_sdk_dynamodb::types::StreamSpecification::builder().stream_enabled(on);
        let spec = if on { spec.stream_view_type(aws_sdk_dynamodb::types::StreamViewType::KeysOnly) } else { spec };
        c.update_table().table_name("cool").stream_specification(spec.build().unwrap()).send()
    };
    stream(false).await.unwrap();
    // A disabled stream's policy stays readable and changeable (here, within
    // its window: refused in its own words).
    let kept = c.get_resource_policy().resource_arn(&stream_arn).send().await.unwrap();
    assert_eq!(kept.revision_id().unwrap().parse::<u64>().unwrap(), srev);
    let err = c.delete_resource_policy().resource_arn(&stream_arn).send().await.unwrap_err();
    assert!(message(&err).starts_with(&format!("Resource-based policy for stream {label} modified")), "{err:?}");
    stream(true).await.unwrap();
    let t = c.describe_table().table_name("cool").send().await.unwrap().table.unwrap();
    let new_arn = t.latest_stream_arn().unwrap().to_string();
    assert_ne!(new_arn, stream_arn);
    let err = c.get_resource_policy().resource_arn(&new_arn).send().await.unwrap_err();
    assert_eq!(common::code(&err), "PolicyNotFoundException");
    c.put_resource_policy().resource_arn(&new_arn).policy(doc("dynamodb:GetRecords")).send().await.unwrap();
    // Deletion protection: the current value again changes nothing and
    // starts no window; a change does, and even its value again is refused.
    for on in [false, true] {
        c.update_table().table_name("cool").deletion_protection_enabled(on).send().await.unwrap();
    }
    for on in [true, false] {
        let err = c.update_table().table_name("cool").deletion_protection_enabled(on).send().await.unwrap_err();
        assert_eq!(common::code(&err), "ThrottlingException");
        let text = message(&err);
        let prefix = "Deletion protection setting for table cool modified within the previous 15000 milliseconds. Please try again after ";
        let at = text.strip_prefix(prefix).unwrap_or_else(|| panic!("{text}"));
        // An ISO 8601 time in milliseconds, without a zone, as the service writes it.
        assert_eq!((at.len(), &at[10..11], &at[19..20]), (23, "T", "."), "{text}");
    }

    // A shorter window: refused within it, taken after it.
    let h = common::harness_with(ServerConfig {
        setting_cooldown: Duration::from_millis(2_000),
        ..ServerConfig::default()
    })
    .await;
    common::create_table(&h.client, "brief", None).await;
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/brief";
    let c = aws_sdk_dynamodb::Client::from_conf(
        h.client.config().to_builder().retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()).build(),
    );
    c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:GetItem")).send().await.unwrap();
    let err = c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:Query")).send().await.unwrap_err();
    assert!(message(&err).contains("within the previous 2000 milliseconds"), "{}", message(&err));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:Query")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    c.delete_resource_policy().resource_arn(arn).send().await.unwrap();
    let err = c.put_resource_policy().resource_arn(arn).policy(doc("dynamodb:GetItem")).send().await.unwrap_err();
    assert_eq!(common::code(&err), "ThrottlingException", "a deletion starts the window too");
}

/// Resource-based policies: the API (open server), and their part in
/// authorization beside a user's own policies.
#[tokio::test]
async fn resource_based_policies() {
    let policy = |effect: &str, principal: &str, action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{{"AWS":"{principal}"}},"Action":"{action}","Resource":"*"}}]}}"#
        )
    };
    let bob_arn = "arn:aws:iam::000000000000:user/bob";
    // The API, on an open server, without the cooldown between changes
    // (`policy_and_deletion_protection_changes_cool_down`).
    let h = common::harness_with(ServerConfig { setting_cooldown: Duration::ZERO, ..ServerConfig::default() }).await;
    let c = &h.client;
    common::create_table(c, "withpolicy", None).await;
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/withpolicy";
    let err = c.get_resource_policy().resource_arn(arn).send().await.unwrap_err();
    assert_eq!(common::code(&err), "PolicyNotFoundException");
    let doc = policy("Allow", bob_arn, "dynamodb:GetItem");
    let rev = c.put_resource_policy().resource_arn(arn).policy(&doc).send().await.unwrap().revision_id.unwrap();
    let got = c.get_resource_policy().resource_arn(arn).send().await.unwrap();
    assert_eq!((got.policy(), got.revision_id()), (Some(doc.as_str()), Some(rev.as_str())));
    // The same document again keeps its revision; so does the same policy
    // written otherwise (whitespace, member order, a list of one, an
    // account id for its root), and it reads back in DynamoDB's form.
    let again = c.put_resource_policy().resource_arn(arn).policy(&doc).send().await.unwrap();
    assert_eq!(again.revision_id(), Some(rev.as_str()));
    let loose = format!(
        "{{\n  \"Statement\": [{{\"Resource\": [\"*\"], \"Action\": [\"dynamodb:GetItem\"],\n    \"Principal\": {{\"AWS\": \"{bob_arn}\"}}, \"Effect\": \"allow\"}}],\n  \"Version\": \"2012-10-17\"\n}}"
    );
    let same = c.put_resource_policy().resource_arn(arn).policy(&loose).send().await.unwrap();
    assert_eq!(same.revision_id(), Some(rev.as_str()));
    let no_version = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["000000000000"]},"Action":"dynamodb:GetItem","Resource":"*"}}"#;
    let other = c.put_resource_policy().resource_arn(arn).policy(no_version).send().await.unwrap();
    assert_ne!(other.revision_id(), Some(rev.as_str()));
    let got = c.get_resource_policy().resource_arn(arn).send().await.unwrap();
    assert_eq!(
        got.policy(),
        Some(
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"dynamodb:GetItem","Resource":"*"}]}"#
        )
    );
    // A table's policy may name another table, an index or `*`, but no
    // stream; a stream's policy names streams only, checked before its
    // label is (DDB-TABLE-211, -212).
    let naming = |resources: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"dynamodb:GetItem","Resource":{resources}}}]}}"#
        )
    };
    let elsewhere =
        naming(&format!(r#"["{arn}/index/byv", "arn:aws:dynamodb:us-east-1:000000000000:table/other", "*"]"#));
    c.put_resource_policy().resource_arn(arn).policy(&elsewhere).send().await.expect("other tables and indexes");
    let stream_arn = format!("{arn}/stream/2000-01-01T00:00:00.000");
    let invalid = |relative: &str, arn: &str| {
        format!(
            "One or more parameter values were invalid: Invalid policy document: The relative-id \"{relative}\" is invalid for ARN \"{arn}\""
        )
    };
    let err = c.put_resource_policy().resource_arn(arn).policy(naming(&format!(r#""{stream_arn}""#))).send().await;
    let err = err.unwrap_err();
    assert_eq!(common::code(&err), "ValidationException");
    assert_eq!(message(&err), invalid("table/withpolicy/stream/2000-01-01T00:00:00.000", &stream_arn));
    let err = c.put_resource_policy().resource_arn(&stream_arn).policy(&doc).send().await.unwrap_err();
    assert_eq!(common::code(&err), "ResourceNotFoundException", "a stream policy naming `*`: the label is checked");
    let err = c.put_resource_policy().resource_arn(&stream_arn).policy(naming(&format!(r#""{arn}""#))).send().await;
    assert_eq!(message(&err.unwrap_err()), invalid("table/withpolicy", arn));
    let err = c
        .create_table()
        .table_name("streamnamed")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(common::key_elem("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S))
        .resource_policy(naming(&format!(r#""{stream_arn}""#)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), invalid("table/withpolicy/stream/2000-01-01T00:00:00.000", &stream_arn));
    let rev = c.put_resource_policy().resource_arn(arn).policy(&doc).send().await.unwrap().revision_id.unwrap();
    // A table's policy names no stream action.
    let streamish = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":["dynamodb:GetRecords","dynamodb:DescribeStream"],"Resource":"*"}]}"#;
    let err = c.put_resource_policy().resource_arn(arn).policy(streamish).send().await.unwrap_err();
    assert_eq!(
        err.as_service_error().and_then(|e| e.message()),
        Some(
            "One or more parameter values were invalid: Invalid policy document: The following action names are invalid: \"dynamodb:GetRecords\", \"dynamodb:DescribeStream\""
        )
    );
    // A stale revision, or NO_POLICY while one exists, in DynamoDB's words
    // (moto's aws_verified resource policy tests).
    let not_found = "Resource-based policy not found for the provided ResourceArn: ";
    for expected in ["123", "NO_POLICY"] {
        let err = c
            .put_resource_policy()
            .resource_arn(arn)
            .policy(&doc)
            .expected_revision_id(expected)
            .send()
            .await
            .unwrap_err();
        assert_eq!(common::code(&err), "PolicyNotFoundException", "{expected}");
        let want = if expected == "NO_POLICY" {
            format!(
                "{not_found}Requested policy update expecting none to be present for table withpolicy, but a policy exists with revision id {rev}."
            )
        } else {
            format!(
                "{not_found}Requested update for policy with revision id 123, but the policy associated to target table withpolicy has revision id {rev}."
            )
        };
        assert_eq!(message(&err), want);
    }
    let err = c.delete_resource_policy().resource_arn(arn).expected_revision_id("unknown").send().await.unwrap_err();
    assert_eq!(common::code(&err), "PolicyNotFoundException");
    assert_eq!(
        message(&err),
        format!(
            "{not_found}Requested update for policy with revision id unknown, but the policy associated to target table withpolicy has revision id {rev}."
        )
    );
    let err = c
        .put_resource_policy()
        .resource_arn(arn)
        .policy(r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "ValidationException");
    let err = c
        .put_resource_policy()
        .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:table/missing")
        .policy(&doc)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "ResourceNotFoundException");
    let deleted = c.delete_resource_policy().resource_arn(arn).expected_revision_id(&rev).send().await.unwrap();
    assert_eq!(deleted.revision_id(), Some(rev.as_str()));
    // Idempotent, unless a revision is expected; once a policy was deleted
    // the answer names the deletion (a later revision id).
    let again = c.delete_resource_policy().resource_arn(arn).send().await.unwrap();
    let tombstone = again.revision_id().expect("the deletion's revision").to_string();
    assert!(tombstone.parse::<u64>().unwrap() > rev.parse::<u64>().unwrap(), "{tombstone} after {rev}");
    let twice = c.delete_resource_policy().resource_arn(arn).send().await.unwrap();
    assert_eq!(twice.revision_id(), Some(tombstone.as_str()));
    let err = c.delete_resource_policy().resource_arn(arn).expected_revision_id(&rev).send().await.unwrap_err();
    assert_eq!(common::code(&err), "PolicyNotFoundException");
    // A partial wildcard principal is refused, as IAM refuses it.
    let err = c
        .put_resource_policy()
        .resource_arn(arn)
        .policy(policy("Allow", "arn:aws:iam::000000000000:user/*", "dynamodb:GetItem"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&err), "ValidationException");
    assert_eq!(message(&err), "One or more parameter values were invalid: Invalid principal in policy document.");
    // Refusals in DynamoDB's words: (resource ARN, document) -> (type, message).
    let invalid = "One or more parameter values were invalid: ";
    let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
    let bob_get = format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"dynamodb:GetItem""#);
    let cases: Vec<(String, String, &str, String)> = vec![
        (arn.into(), "{".into(), "ValidationException", format!("{invalid}Invalid policy document: This policy contains invalid Json")),
        (arn.into(), r#"{"Statement":[]}"#.into(), "ValidationException", format!("{invalid}Invalid policy document: Could not parse the policy: Statement is empty!")),
        (arn.into(), stmt(&format!("{bob_get}}}")), "ValidationException", format!("{invalid}Invalid policy document: Missing required field Resource")),
        (
            arn.into(),
            stmt(&format!(r#"{bob_get},"Resource":"*","Sid":"a"}},{bob_get},"Resource":"*","Sid":"a"}}"#)),
            "ValidationException",
            format!("{invalid}Invalid policy document: The Statement Ids in the policy are not unique"),
        ),
        (
            arn.into(),
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"dynamodb:GetItem","Resource":"*"}"#),
            "ValidationException",
            "Resource-based policy grants unbounded access in one or more elements. Please revise the policy to ensure least-privilege form of access".into(),
        ),
        (arn.into(), format!("{:<20481}", doc), "ValidationException", format!("{invalid}Maximum policy size of 20480 bytes exceeded")),
        ("withpolicy".into(), doc.clone(), "ValidationException", format!("{invalid}ARNs must start with 'arn:': withpolicy")),
        (
            format!("{arn}/index/byname"),
            doc.clone(),
            "ValidationException",
            format!("{invalid}Invalid resource arn provided, only table or stream is accepted. Provided resource arn: {arn}/index/byname"),
        ),
        (
            "arn:aws:dynamodb:eu-west-1:000000000000:table/withpolicy".into(),
            doc.clone(),
            "ValidationException",
            format!("{invalid}Invalid resource Arn: arn:aws:dynamodb:eu-west-1:000000000000:table/withpolicy"),
        ),
        (
            "arn:aws:dynamodb:us-east-1:111122223333:table/withpolicy".into(),
            doc.clone(),
            "ValidationException",
            "This action is only supported by accounts that match the resource owner\u{2019}s account.".into(),
        ),
        (
            "arn:aws:dynamodb:us-east-1:000000000000:table/missing".into(),
            doc.clone(),
            "ResourceNotFoundException",
            "Requested resource not found: Table: missing not found".into(),
        ),
        (
            format!("{arn}/stream/2026-01-01T00:00:00.000"),
            doc.clone(),
            "ResourceNotFoundException",
            "Requested resource not found: Stream: 2026-01-01T00:00:00.000 not found for Table: withpolicy".into(),
        ),
    ];
    for (resource, document, code, text) in cases {
        let err = c.put_resource_policy().resource_arn(&resource).policy(&document).send().await.unwrap_err();
        assert_eq!((common::code(&err).as_str(), message(&err)), (code, text), "{resource} {document}");
    }
    let anyone = r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"dynamodb:GetItem","Resource":"*""#;
    let err = c.put_resource_policy().resource_arn(arn).policy(stmt(&format!("{anyone}}}"))).send().await.unwrap_err();
    assert!(message(&err).starts_with("Resource-based policy grants unbounded access"), "{}", message(&err));
    let conditioned = format!(r#"{anyone},"Condition":{{"StringEquals":{{"aws:username":"bob"}}}}}}"#);
    c.put_resource_policy().resource_arn(arn).policy(stmt(&conditioned)).send().await.expect("a condition bounds it");
    h.server.stop().await.unwrap();

    // Authorization: bob's own policy allows Query only; the table's policy
    // allows him GetItem and denies him Query.
    let own = tidepool::iam::Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":["dynamodb:Query","dynamodb:Scan"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let bob = Credential {
        user: "bob".into(),
        access_key_id: "AKIDBOB".into(),
        secret_access_key: "bob-secret".into(),
        session_token: None,
    };
    let auth = Arc::new(Auth::new(vec![(alice(), None), (bob, Some(vec![own]))]));
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(
        dir.path(),
        ServerConfig { auth: Some(auth), setting_cooldown: Duration::ZERO, ..ServerConfig::default() },
    )
    .await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    common::create_table(&admin, "shared", None).await;
    admin.put_item().table_name("shared").item("pk", common::s("k")).send().await.unwrap();
    let shared = "arn:aws:dynamodb:us-east-1:000000000000:table/shared";
    let doc = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"dynamodb:GetItem","Resource":"{shared}"}},
            {{"Effect":"Deny","Principal":"*","Action":"dynamodb:Query","Resource":"{shared}"}}]}}"#
    );
    admin.put_resource_policy().resource_arn(shared).policy(doc).send().await.unwrap();
    let bob = ddb(&ep, "AKIDBOB", "bob-secret", None, "us-east-1");
    let got = bob.get_item().table_name("shared").key("pk", common::s("k")).send().await.unwrap();
    assert!(got.item.is_some(), "the resource policy allows GetItem");
    let err = query_k(&bob, "shared").await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    assert!(message(&err).ends_with("with an explicit deny in a resource-based policy"), "{}", message(&err));
    bob.scan().table_name("shared").send().await.unwrap();
    let err = bob.put_item().table_name("shared").item("pk", common::s("x")).send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    // An explicit deny binds the administrator too (IAM: a deny in any
    // policy wins); what the policy does not deny, the administrator may.
    let err = query_k(&admin, "shared").await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        format!(
            "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: dynamodb:Query on resource: \
             {shared} with an explicit deny in a resource-based policy"
        )
    );
    admin.put_item().table_name("shared").item("pk", common::s("y")).send().await.unwrap();
    common::create_table(&admin, "other", None).await;
    query_k(&admin, "other").await.unwrap();
    // Even a policy that denies its own removal to everyone: the
    // administrator may delete it, as the account's root may on AWS.
    let locked = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":["dynamodb:Query","dynamodb:DeleteResourcePolicy","dynamodb:PutResourcePolicy"],"Resource":"{shared}"}}]}}"#
    );
    // DynamoDB's lockout check: a policy that would deny its author
    // PutResourcePolicy needs ConfirmRemoveSelfResourceAccess.
    let err = admin.put_resource_policy().resource_arn(shared).policy(&locked).send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        "The new resource policy will not allow you to update the resource policy in the future."
    );
    let only_delete = format!(
        r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"dynamodb:DeleteResourcePolicy","Resource":"{shared}"}}]}}"#
    );
    let kept = admin.get_resource_policy().resource_arn(shared).send().await.unwrap();
    assert!(kept.policy().unwrap().contains("dynamodb:GetItem"), "the refused policy was not put");
    admin.put_resource_policy().resource_arn(shared).policy(&only_delete).send().await.expect("only Put is checked");
    let confirmed = || {
        admin
            .put_resource_policy()
            .resource_arn(shared)
            .policy(&locked)
            .confirm_remove_self_resource_access(true)
            .send()
    };
    confirmed().await.unwrap();
    let err = confirmed().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    let err = bob.delete_resource_policy().resource_arn(shared).send().await.unwrap_err();
    assert_eq!(common::code(&err), "AccessDeniedException");
    // Once the policy is gone, so is the deny.
    admin.delete_resource_policy().resource_arn(shared).send().await.unwrap();
    query_k(&admin, "shared").await.unwrap();
    server.stop().await.unwrap();
}

/// Query of partition "k" of `table`.
async fn query_k(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<
    aws_sdk_dynamodb::operation::query::QueryOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::query::QueryError>,
> {
    c.query()
        .table_name(table)
        .key_condition_expression("pk = :k")
        .expression_attribute_values(":k", common::s("k"))
        .send()
        .await
}

/// An exactly-once handler's BatchExecuteStatement with a statement its
/// role may not run: the statement is denied when the write is staged and
/// again when it is replayed into the commit, so the commit goes through
/// (the mapping moves on, batch after batch), the allowed statement lands
/// once per batch and the denied one never.
#[tokio::test]
async fn an_exactly_once_handlers_denied_statement_stays_denied_at_commit() {
    let updater = tidepool::iam::Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:PartiQLUpdate","Resource":"arn:aws:dynamodb:*:*:table/open"}]}"#,
    )
    .unwrap();
    let auth = Auth::new(vec![(alice(), None)]).with_roles(vec![("batcher".into(), vec![updater])]);
    let dir = tempfile::tempdir().unwrap();
    let action = serde_json::json!({"action": "store", "operation": "BatchExecuteStatement", "request": {
    "Statements": [
        {"Statement": r#"UPDATE "open" SET n = n + 1 WHERE pk = 'c'"#},
        {"Statement": r#"INSERT INTO "closed" VALUE {'pk': 'c'}"#},
    ]}});
    let manifest = dir.path().join("tidepool.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"[[table]]
name = "source"
partition_key = "pk:S"
stream = "NEW_IMAGE"

[[table]]
name = "open"
partition_key = "pk:S"

[[table]]
name = "closed"
partition_key = "pk:S"

[[function]]
name = "batcher"
code = "example:misbehave"
role = "batcher"
environment = {{ ON_RECORDS = {} }}

[[mapping]]
function = "batcher"
table = "source"
StartingPosition = "TRIM_HORIZON"
BatchSize = 1
ExactlyOnce = true
"#,
            serde_json::to_string(&action.to_string()).unwrap()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let config = ServerConfig { auth: Some(Arc::new(auth)), manifest: Some(manifest), ..ServerConfig::default() };
    let server = common::start_with(&data, config).await;
    let admin = ddb(&server.endpoint(), ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    admin.put_item().table_name("open").item("pk", common::s("c")).item("n", common::n(0)).send().await.unwrap();
    for i in 0..3 {
        admin.put_item().table_name("source").item("pk", common::s(&i.to_string())).send().await.unwrap();
    }
    let count = || async {
        let item = admin.get_item().table_name("open").key("pk", common::s("c")).consistent_read(true).send().await;
        item.unwrap().item.unwrap()["n"].clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count().await != common::n(3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the mapping never committed its batches: n = {:?}",
            count().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each batch committed once: nothing is redelivered and applied again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count().await, common::n(3));
    let closed = admin.scan().table_name("closed").send().await.unwrap();
    assert_eq!(closed.count, 0, "the denied insert was never made");
    server.stop().await.unwrap();
}

/// A deploy gives a function only a role CreateFunction would take: with
/// roles in the auth file, one it lists (the manifest's `role`, or the
/// default one of a function the deploy creates without one).
#[tokio::test]
async fn a_deploy_gives_only_a_role_the_auth_file_lists() {
    let auth = Auth::new(vec![(alice(), None)]).with_roles(vec![("reader".into(), Vec::new())]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server =
        common::start_with(&data, ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let deploy = |role: &str| {
        let path = dir.path().join("tidepool.toml");
        std::fs::write(&path, format!("[[function]]\nname = \"deployed\"\ncode = \"example:misbehave\"\n{role}\n"))
            .unwrap();
        let manifest = tidepool::lambda::manifest::Manifest::load(&path).unwrap();
        let (app, rt) = (server.app.clone(), tokio::runtime::Handle::current());
        tokio::task::spawn_blocking(move || tidepool::lambda::manifest::apply(&app, &manifest, &rt).map(|_| ()))
    };
    let refused = "function deployed: The role defined for the function cannot be assumed by Lambda.";
    for role in [
        r#"role = "ghost""#,
        "",
        r#"role = "arn:aws:iam::999999999999:role/reader""#,
        r#"role = "arn:aws:iam::000000000000:role/team/reader""#,
    ] {
        let err = deploy(role).await.unwrap().unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), ("InvalidParameterValueException", refused), "{role}");
    }
    deploy(r#"role = "reader""#).await.unwrap().unwrap();
    // An existing function: the manifest's role is checked; none leaves its own.
    let err = deploy(r#"role = "ghost""#).await.unwrap().unwrap_err();
    assert_eq!(err.message, refused);
    deploy("").await.unwrap().unwrap();
    let lambda = lambda_as(&server.endpoint(), ALICE_KEY, ALICE_SECRET);
    let config = lambda.get_function_configuration().function_name("deployed").send().await.unwrap();
    assert_eq!(config.role(), Some("arn:aws:iam::000000000000:role/reader"));
    server.stop().await.unwrap();
}

/// The manifest's `auth` switches authentication on for `serve
/// --manifest`, and a function's `role` there names its execution role.
#[tokio::test]
async fn a_manifest_names_the_auth_file_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("auth.toml"),
        format!(
            r#"[[users]]
name = "alice"
access_key_id = "{ALICE_KEY}"
secret_access_key = "{ALICE_SECRET}"

[[roles]]
name = "reader"
policies = ['{{"Statement": [{{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}}]}}']
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tidepool.toml"),
        r#"auth = "auth.toml"

[[table]]
name = "mtable"
partition_key = "pk:S"

[[function]]
name = "mfn"
code = "example:misbehave"
role = "reader"
"#,
    )
    .unwrap();
    let manifest = dir.path().join("tidepool.toml");
    let data = dir.path().join("data");
    let (mut child, ep) =
        common::spawn_server(&["--manifest".as_ref(), manifest.as_os_str(), "--data-dir".as_ref(), data.as_os_str()]);
    let err = ddb(&ep, "AKIDNOBODY", "x", None, "us-east-1").list_tables().send().await.unwrap_err();
    assert_eq!(common::code(&err), "UnrecognizedClientException");
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    let config = lambda.get_function_configuration().function_name("mfn").send().await.unwrap();
    assert_eq!(config.role(), Some("arn:aws:iam::000000000000:role/reader"));
    let event = serde_json::json!({"action": "store", "operation": "PutItem",
        "request": {"TableName": "mtable", "Item": {"pk": {"S": "x"}}}});
    let out = lambda
        .invoke()
        .function_name("mfn")
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    let out: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(out["error"]["type"], "AccessDeniedException", "{out}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A handler's in-process Streams and Lambda requests (its AWS SDK's) run
/// as its role too.
#[tokio::test]
async fn a_handlers_streams_and_lambda_calls_run_as_its_role() {
    use tidepool::bridge::ServerBridge;
    use tidepool_runtime::{InvocationOrigin, StoreBridge};

    let reader = tidepool::iam::Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","lambda:GetFunction"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let auth = Auth::new(vec![(alice(), None)])
        .with_roles(vec![("reader".into(), vec![reader]), ("nobody".into(), Vec::new())]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    lambda
        .create_function()
        .function_name("reader-fn")
        .runtime(aws_sdk_lambda::types::Runtime::from("wasm32-wasip2"))
        .role("arn:aws:iam::000000000000:role/reader")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tidepool_runtime::examples::example_bytes("echo")))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let bridge = Arc::new(ServerBridge::new(Arc::downgrade(&server.app)));
    let origin = InvocationOrigin {
        function_name: "reader-fn".into(),
        function_version: "$LATEST".into(),
        request_id: "r".into(),
        chain_depth: 0,
    };
    let send = |request: axum::http::Request<axum::body::Bytes>| {
        let (b, o) = (bridge.clone(), origin.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap()
                    .block_on(b.http(request, &o))
            })
            .await
            .unwrap()
        }
    };
    let streams = axum::http::Request::post("/")
        .header("x-amz-target", "DynamoDBStreams_20120810.ListStreams")
        .header("content-type", "application/x-amz-json-1.0")
        .body(axum::body::Bytes::from_static(b"{}"))
        .unwrap();
    let response = send(streams).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["__type"], "com.amazon.coral.service#AccessDeniedException", "{body}");
    let list = axum::http::Request::get("/2015-03-31/functions/").body(axum::body::Bytes::new()).unwrap();
    let response = send(list).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-amzn-errortype"], "AccessDeniedException");
    let get = axum::http::Request::get("/2015-03-31/functions/reader-fn").body(axum::body::Bytes::new()).unwrap();
    assert_eq!(send(get).await.status(), 200, "the role allows GetFunction");
    server.stop().await.unwrap();
}

/// A `DynamoDB` client over HTTPS that trusts the CA certificates of
/// `ca_pem` only (none: no certificate at all).
fn ddb_https(endpoint: &str, ca_pem: Option<&[u8]>) -> aws_sdk_dynamodb::Client {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let mut trust = TrustStore::empty().with_native_roots(false);
    if let Some(pem) = ca_pem {
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(TlsContext::builder().with_trust_store(trust).build().expect("a TLS context"))
        .build_https();
    let conf = ddb_config(endpoint, "AKIDTEST", "secret", None, "us-east-1").http_client(http).build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// `--tls self-signed`: HTTPS with a certificate from a local CA kept in the
/// data directory and reused after a restart, trusted by the Rust SDK,
/// boto3 and the tidepool CLI through the CA file; refused by a client that
/// does not trust it; a plain-HTTP request gets no answer. `--tls-cert` and
/// `--tls-key` serve given files.
#[tokio::test]
async fn https_with_a_self_signed_certificate_and_with_given_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--data-dir".as_ref(), data.as_os_str(), "--tls".as_ref(), "self-signed".as_ref()];
    let (mut child, ep) = common::spawn_server(&args);
    assert!(ep.starts_with("https://127.0.0.1:"), "{ep}");
    let ca_file = data.join("tls/ca.pem");
    let ca = std::fs::read(&ca_file).expect("the local CA is written");
    let port = ep.rsplit(':').next().unwrap().to_string();

    // The Rust SDK, trusting the CA: by IP address and by name.
    let client = ddb_https(&ep, Some(&ca));
    common::create_table(&client, "tlstable", None).await;
    client.put_item().table_name("tlstable").item("pk", common::s("a")).send().await.unwrap();
    let by_name = ddb_https(&format!("https://localhost:{port}"), Some(&ca));
    let got = by_name.get_item().table_name("tlstable").key("pk", common::s("a")).send().await.unwrap();
    assert!(got.item().is_some());
    // Not trusting it: the handshake fails, no service answer.
    let err = ddb_https(&ep, None).list_tables().send().await.unwrap_err();
    assert!(err.as_service_error().is_none(), "{err:?}");
    // Plain HTTP to the HTTPS port: no HTTP answer.
    let mut raw = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    let answer = common::http::exchange(&mut raw, &common::http::dynamodb_request("ListTables", "{}")).await;
    assert!(answer.is_none(), "a plain request was answered: {:?}", answer.map(|a| a.status));

    // boto3 with `verify` and the AWS_CA_BUNDLE variable; refused without.
    let script = format!(
        r#"
import boto3, botocore, os
def client(**kw):
    return boto3.client("dynamodb", endpoint_url="{ep}", region_name="us-east-1",
        aws_access_key_id="k", aws_secret_access_key="s",
        config=botocore.config.Config(retries={{"max_attempts": 1}}), **kw)
print(client(verify="{ca}").list_tables()["TableNames"])
os.environ["AWS_CA_BUNDLE"] = "{ca}"
print(client().scan(TableName="tlstable")["Count"])
del os.environ["AWS_CA_BUNDLE"]
try:
    client(verify=True).list_tables()
    print("served")
except botocore.exceptions.SSLError:
    print("refused")
"#,
        ca = ca_file.display()
    );
    let said = common::tools::boto3(script, dir.path()).await;
    assert_eq!(said.lines().collect::<Vec<_>>(), ["['tlstable']", "1", "refused"]);

    // The tidepool CLI: with --ca-bundle, and without (refused, saying why).
    let cli = |extra: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["functions", "--endpoint", &ep])
            .args(extra)
            .env("HOME", dir.path())
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("TIDEPOOL_DATA_DIR")
            .env_remove("XDG_DATA_HOME")
            .output()
            .expect("run the CLI")
    };
    let ok = cli(&["--ca-bundle".as_ref(), ca_file.as_os_str()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let refused = cli(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AWS_CA_BUNDLE"), "{refused:?}");

    // A restart keeps the CA and the certificate: clients trust it still.
    let cert = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, ep) = common::spawn_server(&args);
    assert_eq!(std::fs::read(&ca_file).unwrap(), ca);
    assert_eq!(std::fs::read(data.join("tls/cert.pem")).unwrap(), cert);
    let client = ddb_https(&ep, Some(&ca));
    assert_eq!(client.list_tables().send().await.unwrap().table_names(), ["tlstable"]);
    let _ = child.kill();
    let _ = child.wait();

    // --tls-cert and --tls-key: the same files, given to another server.
    let other = dir.path().join("other");
    let (cert_file, key_file) = (data.join("tls/cert.pem"), data.join("tls/key.pem"));
    let (mut child, ep) = common::spawn_server(&[
        "--data-dir".as_ref(),
        other.as_os_str(),
        "--tls-cert".as_ref(),
        cert_file.as_os_str(),
        "--tls-key".as_ref(),
        key_file.as_os_str(),
    ]);
    assert!(ep.starts_with("https://"), "{ep}");
    assert!(ddb_https(&ep, Some(&ca)).list_tables().send().await.unwrap().table_names().is_empty());
    assert!(!other.join("tls").exists(), "given files need no local CA");
    let _ = child.kill();
    let _ = child.wait();
}

/// Over TLS, `aws:SecureTransport` is `true`, and `aws:SourceIp` is the
/// client's address there too: a policy that allows only requests over
/// TLS from loopback serves them, one that allows only plain HTTP does not.
#[tokio::test]
async fn secure_transport_is_true_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let auth_file = dir.path().join("auth.toml");
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1"]}}},
        {"Effect":"Allow","Action":"dynamodb:DescribeLimits","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let file = format!(
        "[[users]]\nname = \"tester\"\naccess_key_id = \"AKIDTEST\"\nsecret_access_key = \"secret\"\npolicies = ['''{policy}''']\n"
    );
    std::fs::write(&auth_file, file).unwrap();
    let args = [
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--tls".as_ref(),
        "self-signed".as_ref(),
        "--auth".as_ref(),
        auth_file.as_os_str(),
    ];
    let (mut child, ep) = common::spawn_server(&args);
    let ca = std::fs::read(data.join("tls/ca.pem")).expect("the local CA is written");
    let client = ddb_https(&ep, Some(&ca));
    let served = client.list_tables().send().await;
    let refused = client.describe_limits().send().await;
    let _ = child.kill();
    let _ = child.wait();
    served.expect("served over TLS from loopback");
    assert_eq!(common::code(&refused.unwrap_err()), "AccessDeniedException");
}

/// Every file under `dir`.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Every file under `dir` that holds `needle`, as bytes.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    walk_files(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// `--encryption-key`: items, index projections, stream images, PITR
/// history and backups are sealed, so no file of the data directory holds
/// a known value; everything reads back; the wrong key, or none, is
/// refused at open with the key ids; a plain directory holding data is not
/// silently mixed with sealed values.
#[tokio::test]
async fn encryption_at_rest() {
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndex, KeyType, PointInTimeRecoverySpecification, Projection, ProjectionType,
        ScalarAttributeType,
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = tidepool_store::cipher::EncryptionKey::generate().unwrap();
    let config = |key: Option<tidepool_store::cipher::EncryptionKey>| ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(data.clone()),
        encryption: key,
        ..ServerConfig::default()
    };
    let server = tidepool::start(config(Some(key.clone()))).await.unwrap();
    let client = common::client(&server.endpoint());
    client
        .create_table()
        .table_name("vault")
        .key_schema(common::key_elem("pk", KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", ScalarAttributeType::S))
        .attribute_definitions(common::attr_def("g", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byg")
                .key_schema(common::key_elem("g", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .stream_specification(common::new_and_old_images())
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    client
        .update_continuous_backups()
        .table_name("vault")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    const FIRST: &str = "canary-first-8f3b1c";
    const SECOND: &str = "canary-second-5e2d9a";
    // 50 items of 380 KB: past the 16 MiB of memtables a clean stop
    // flushes into table files, and past the 512 bytes over which stream
    // records and history entries go to blob files.
    let padding = "p".repeat(380_000);
    for i in 0..50 {
        client
            .put_item()
            .table_name("vault")
            .item("pk", common::s(&format!("k{i}")))
            .item("g", common::s("group"))
            .item("secret", common::s(&format!("{FIRST}-{i}")))
            .item("padding", common::s(&padding))
            .send()
            .await
            .unwrap();
    }
    // The first value goes to the history; the second is current.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_overwrite = aws_sdk_dynamodb::primitives::DateTime::from(SystemTime::now());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .put_item()
        .table_name("vault")
        .item("pk", common::s("k0"))
        .item("g", common::s("group"))
        .item("secret", common::s(SECOND))
        .item("padding", common::s(&padding))
        .send()
        .await
        .unwrap();
    let backup = client.create_backup().table_name("vault").backup_name("vaultbk").send().await.unwrap();
    let arn = backup.backup_details().unwrap().backup_arn().to_string();
    for _ in 0..200 {
        let d = client.describe_backup().backup_arn(&arn).send().await.unwrap();
        let status = d.backup_description().unwrap().backup_details().unwrap().backup_status().as_str().to_string();
        if status == "AVAILABLE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything reads back: items, the index, the stream's images.
    let got = client.get_item().table_name("vault").key("pk", common::s("k0")).send().await.unwrap();
    assert_eq!(got.item().unwrap()["secret"], common::s(SECOND));
    let by_index: Vec<_> = client
        .query()
        .table_name("vault")
        .index_name("byg")
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", common::s("group"))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(by_index.len(), 50);
    let streams = common::streams_client(&server.endpoint());
    let described = client.describe_table().table_name("vault").send().await.unwrap();
    let stream_arn = described.table().unwrap().latest_stream_arn().unwrap().to_string();
    let shards = streams.describe_stream().stream_arn(&stream_arn).send().await.unwrap();
    let mut images = 0;
    for shard in shards.stream_description().unwrap().shards() {
        let it = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let mut iterator = it.shard_iterator().map(str::to_string);
        // Pages of at most 1 MB: until a page comes back empty.
        while let Some(i) = iterator.take() {
            let records = streams.get_records().shard_iterator(i).send().await.unwrap();
            for r in records.records() {
                let image = r.dynamodb().unwrap().new_image().unwrap();
                assert!(
                    matches!(&image["secret"], aws_sdk_dynamodbstreams::types::AttributeValue::S(s) if s.starts_with("canary-"))
                );
                images += 1;
            }
            if !records.records().is_empty() {
                iterator = records.next_shard_iterator().map(str::to_string);
            }
        }
    }
    assert_eq!(images, 51);
    server.stop().await.unwrap();

    // No file holds either value: table files, indexes, records and
    // history (with their blob files), the journal, the backup.
    let names: Vec<String> = walk_files(&data).iter().map(|p| p.display().to_string()).collect();
    assert!(names.iter().any(|n| n.contains("/tables/")), "table files were written: {names:?}");
    assert!(names.iter().any(|n| n.contains("/blobs/")), "blob files were written: {names:?}");
    assert!(names.iter().any(|n| n.ends_with(".tpbk")), "the backup was written: {names:?}");
    for canary in [FIRST, SECOND] {
        assert_eq!(files_holding(&data, canary.as_bytes()), Vec::<std::path::PathBuf>::new(), "{canary} in the clear");
    }

    // The wrong key, or none: refused at open, naming the key ids.
    let wrong = tidepool_store::cipher::EncryptionKey::generate().unwrap();
    let err = tidepool::start(config(Some(wrong.clone()))).await.err().expect("the wrong key is refused");
    let text = format!("{err:#}");
    assert!(text.contains(&wrong.id()) && text.contains(&key.id()), "{text}");
    let err = tidepool::start(config(None)).await.err().expect("no key is refused");
    assert!(format!("{err:#}").contains("is encrypted"), "{err:#}");

    // The right key: the data, a restore from the backup and a restore to
    // the time before the overwrite all read back.
    let server = tidepool::start(config(Some(key.clone()))).await.unwrap();
    let client = common::client(&server.endpoint());
    let got = client.get_item().table_name("vault").key("pk", common::s("k0")).send().await.unwrap();
    assert_eq!(got.item().unwrap()["secret"], common::s(SECOND));
    client.restore_table_from_backup().backup_arn(&arn).target_table_name("vaultcopy").send().await.unwrap();
    common::until_active(&client, "vaultcopy").await;
    let copy = client.get_item().table_name("vaultcopy").key("pk", common::s("k0")).send().await.unwrap();
    assert_eq!(copy.item().unwrap()["secret"], common::s(SECOND));
    let scanned = client.scan().table_name("vaultcopy").into_paginator().items().send().collect::<Vec<_>>().await;
    assert_eq!(scanned.len(), 50);
    client
        .restore_table_to_point_in_time()
        .source_table_name("vault")
        .target_table_name("vaultthen")
        .restore_date_time(before_overwrite)
        .send()
        .await
        .unwrap();
    common::until_active(&client, "vaultthen").await;
    let then = client.get_item().table_name("vaultthen").key("pk", common::s("k0")).send().await.unwrap();
    assert_eq!(then.item().unwrap()["secret"], common::s(&format!("{FIRST}-0")), "the history's image");
    server.stop().await.unwrap();

    // A plain data directory that holds data does not take a key.
    let plain = dir.path().join("plain");
    let server = common::start_with(&plain, ServerConfig::default()).await;
    let client = common::client(&server.endpoint());
    common::create_table(&client, "open", None).await;
    let put = client.put_item().table_name("open").item("pk", common::s("x"));
    put.item("secret", common::s("canary-plain-77c1")).send().await.unwrap();
    server.stop().await.unwrap();
    // The search finds a value (not a key) where one is stored plain.
    assert!(!files_holding(&plain, b"canary-plain-77c1").is_empty());
    let err = tidepool::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(plain),
        encryption: Some(key),
        ..ServerConfig::default()
    })
    .await
    .err()
    .expect("a plain directory with data is refused a key");
    assert!(format!("{err:#}").contains("without encryption"), "{err:#}");
}

/// The request context keys the Service Authorization Reference and the
/// developer guide describe: a table's tags (`aws:ResourceTag`, on its
/// index and stream too), a request's (`aws:RequestTag`, `aws:TagKeys`),
/// `dynamodb:FullTableScan` of a PartiQL SELECT, the whole request's
/// `ReturnConsumedCapacity` in batches and transactions, the default
/// `ReturnValues` (NONE) and an index read's default `Select`
/// (ALL_PROJECTED_ATTRIBUTES), a policy variable's default value,
/// `aws:userid` as an IAM unique id, and an event source mapping's ARN
/// with `lambda:FunctionArn`.
#[tokio::test]
async fn request_context_keys_as_aws_sets_them() {
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndex, KeysAndAttributes, Projection, ProjectionType, ReturnConsumedCapacity, ReturnValue,
        Select, Tag,
    };
    let doc = |statements: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    let all = r#"{"Effect":"Allow","Action":["dynamodb:*","lambda:*"],"Resource":"*"}"#;
    let abac = doc(&format!(
        r#"{all},{{"Effect":"Deny","Action":"dynamodb:*","Resource":"*","Condition":{{"StringEquals":{{"aws:ResourceTag/env":"prod"}}}}}}"#
    ));
    let tagger = doc(
        r#"{"Effect":"Allow","Action":"dynamodb:CreateTable","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/env":"dev"}}},
           {"Effect":"Allow","Action":["dynamodb:TagResource","dynamodb:UntagResource"],"Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}}"#,
    );
    let no_full_scans = doc(&format!(
        r#"{all},{{"Effect":"Deny","Action":"dynamodb:PartiQLSelect","Resource":"*","Condition":{{"Bool":{{"dynamodb:FullTableScan":"true"}}}}}}"#
    ));
    let no_capacity = doc(&format!(
        r#"{all},{{"Effect":"Deny","Action":"dynamodb:*","Resource":"*","Condition":{{"StringEquals":{{"dynamodb:ReturnConsumedCapacity":["TOTAL","INDEXES"]}}}}}}"#
    ));
    // The developer guide's example 3, as written there.
    let example3 = doc(r#"{"Effect":"Allow","Action":["dynamodb:UpdateItem"],"Resource":"*","Condition":{
            "ForAllValues:StringNotLike":{"dynamodb:Attributes":["FreeGamesAvailable","BossLevelUnlocked"]},
            "StringEquals":{"dynamodb:ReturnValues":["NONE","UPDATED_OLD","UPDATED_NEW"]}}}"#);
    let projected = doc(
        r#"{"Effect":"Allow","Action":"dynamodb:Query","Resource":"*","Condition":{"StringEquals":{"dynamodb:Select":"ALL_PROJECTED_ATTRIBUTES"}}}"#,
    );
    let defaulted = doc(
        r#"{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*","Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:PrincipalTag/team, 'shared'}"]}}}"#,
    );
    let unique = doc(
        r#"{"Effect":"Allow","Action":"dynamodb:ListTables","Resource":"*","Condition":{"StringLike":{"aws:userid":"AIDA?????????????????"}}}"#,
    );
    let mappings = doc(
        r#"{"Effect":"Allow","Action":["lambda:GetEventSourceMapping","lambda:DeleteEventSourceMapping"],
            "Resource":"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:*",
            "Condition":{"StringEquals":{"lambda:FunctionArn":"arn:aws:lambda:us-east-1:000000000000:function:echo"}}}"#,
    );
    let restore_only = doc(
        r#"{"Effect":"Allow","Action":["dynamodb:CreateBackup","dynamodb:RestoreTableFromBackup"],"Resource":"*"}"#,
    );
    // The developer guide's example 1 of "Using IAM with DynamoDB backup and
    // restore": a restore writes its target table.
    let backup_example1 = doc(
        r#"{"Effect":"Allow","Action":["dynamodb:CreateBackup","dynamodb:RestoreTableFromBackup","dynamodb:PutItem",
            "dynamodb:UpdateItem","dynamodb:DeleteItem","dynamodb:GetItem","dynamodb:Query","dynamodb:Scan",
            "dynamodb:BatchWriteItem"],"Resource":"*"}"#,
    );
    // ListStreams has no resource type: granted on `*` alone.
    let stream_lister = doc(
        r#"{"Effect":"Allow","Action":"dynamodb:ListStreams","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/source/stream/*"}"#,
    );
    let auth = Auth::new(vec![
        (alice(), None),
        user_with("abac", "AKIDABAC", &[&abac]),
        user_with("tagger", "AKIDTAGGER", &[&tagger]),
        user_with("fts", "AKIDFTS", &[&no_full_scans]),
        user_with("rcc", "AKIDRCC", &[&no_capacity]),
        user_with("ex3", "AKIDEX3", &[&example3]),
        user_with("projected", "AKIDPROJ", &[&projected]),
        user_with("defaulted", "AKIDDEF", &[&defaulted]),
        user_with("unique", "AKIDUNIQ", &[&unique]),
        user_with("mappings", "AKIDMAPS", &[&mappings]),
        user_with("restorer", "AKIDRESTORE", &[&restore_only]),
        user_with("example1", "AKIDEX1", &[&backup_example1]),
        user_with("lister", "AKIDLIST", &[&stream_lister]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::start_with(dir.path(), ServerConfig { auth: Some(Arc::new(auth)), ..ServerConfig::default() }).await;
    let ep = server.endpoint();
    let admin = ddb(&ep, ALICE_KEY, ALICE_SECRET, None, "us-east-1");
    let as_user = |key: &str| ddb(&ep, key, "secret", None, "us-east-1");
    let denied = |what: &str, e: &dyn std::fmt::Debug, code: String| {
        assert_eq!(code, "AccessDeniedException", "{what}: {e:?}");
    };
    for t in ["dev", "prod"] {
        common::create_table(&admin, t, None).await;
        admin.put_item().table_name(t).item("pk", common::s("shared")).item("v", common::n(1)).send().await.unwrap();
    }
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    admin.tag_resource().resource_arn(server.app.table_arn("prod")).tags(tag("env", "prod")).send().await.unwrap();

    // A table's tags: the deny on env=prod holds there only.
    let abac = as_user("AKIDABAC");
    abac.get_item().table_name("dev").key("pk", common::s("shared")).send().await.expect("an untagged table");
    let e = abac.get_item().table_name("prod").key("pk", common::s("shared")).send().await.unwrap_err();
    assert!(message(&e).ends_with("with an explicit deny in an identity-based policy"), "{}", message(&e));
    // Tag keys are case-sensitive and condition keys are not: a second tag
    // whose key differs only in case does not hide the first.
    common::create_table(&admin, "cased", None).await;
    let cased = server.app.table_arn("cased");
    admin.tag_resource().resource_arn(&cased).tags(tag("env", "prod")).tags(tag("Env", "x")).send().await.unwrap();
    let e = abac.get_item().table_name("cased").key("pk", common::s("shared")).send().await.unwrap_err();
    denied("env=prod beside Env=x", &e, common::code(&e));

    // A request's tags and tag keys.
    let tagger = as_user("AKIDTAGGER");
    let create = |name: &str, env: &str| {
        tagger
            .create_table()
            .table_name(name)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .key_schema(common::key_elem("pk", aws_sdk_dynamodb::types::KeyType::Hash))
            .attribute_definitions(common::attr_def("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S))
            .tags(tag("env", env))
    };
    create("tagged", "dev").send().await.expect("env=dev");
    let e = create("tagged2", "prod").send().await.unwrap_err();
    denied("env=prod", &e, common::code(&e));
    let e = create("tagged3", "dev").tags(tag("ENV", "prod")).send().await.unwrap_err();
    denied("env=dev beside ENV=prod", &e, common::code(&e));
    let arn = server.app.table_arn("dev");
    tagger.tag_resource().resource_arn(&arn).tags(tag("env", "dev")).send().await.expect("the env key");
    let e = tagger.tag_resource().resource_arn(&arn).tags(tag("owner", "x")).send().await.unwrap_err();
    denied("another key", &e, common::code(&e));
    let e = tagger.untag_resource().resource_arn(&arn).tag_keys("owner").send().await.unwrap_err();
    denied("untag another key", &e, common::code(&e));

    // A PartiQL SELECT that scans the table.
    let fts = as_user("AKIDFTS");
    fts.execute_statement().statement(r#"SELECT * FROM "dev" WHERE pk = 'shared'"#).send().await.expect("by key");
    let e = fts.execute_statement().statement(r#"SELECT * FROM "dev""#).send().await.unwrap_err();
    denied("a full scan", &e, common::code(&e));
    let e = fts.execute_statement().statement(r#"SELECT * FROM "dev" WHERE v = 1"#).send().await.unwrap_err();
    denied("a filtered scan", &e, common::code(&e));

    // ReturnConsumedCapacity is the whole request's in a batch.
    let rcc = as_user("AKIDRCC");
    let key = std::collections::HashMap::from([("pk".to_string(), common::s("shared"))]);
    let keys = KeysAndAttributes::builder().keys(key).build().unwrap();
    let batch = || rcc.batch_get_item().request_items("dev", keys.clone());
    batch().send().await.expect("no capacity asked for");
    let e = batch().return_consumed_capacity(ReturnConsumedCapacity::Total).send().await.unwrap_err();
    denied("a batch asking for capacity", &e, common::code(&e));
    let e = rcc
        .execute_statement()
        .statement(r#"SELECT * FROM "dev" WHERE pk = 'shared'"#)
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap_err();
    denied("a statement asking for capacity", &e, common::code(&e));

    // ReturnValues always has a value: NONE when left out.
    let ex3 = as_user("AKIDEX3");
    let update = || {
        ex3.update_item()
            .table_name("dev")
            .key("pk", common::s("shared"))
            .update_expression("SET TopScore = :v")
            .expression_attribute_values(":v", common::n(5))
    };
    update().send().await.expect("example 3, no ReturnValues");
    update().return_values(ReturnValue::UpdatedNew).send().await.expect("UPDATED_NEW");
    let e = update().return_values(ReturnValue::AllNew).send().await.unwrap_err();
    denied("ALL_NEW", &e, common::code(&e));

    // An index read without Select selects its projected attributes.
    admin
        .create_table()
        .table_name("indexed")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(common::key_elem("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S))
        .attribute_definitions(common::attr_def("g", aws_sdk_dynamodb::types::ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byg")
                .key_schema(common::key_elem("g", aws_sdk_dynamodb::types::KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let projected = as_user("AKIDPROJ");
    let query = |index: Option<&str>| {
        projected
            .query()
            .table_name("indexed")
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(if index.is_some() { "g = :v" } else { "pk = :v" })
            .expression_attribute_values(":v", common::s("x"))
    };
    query(Some("byg")).send().await.expect("an index's default");
    query(Some("byg")).select(Select::AllProjectedAttributes).send().await.expect("said so");
    let e = query(None).send().await.unwrap_err();
    denied("a table's default is ALL_ATTRIBUTES", &e, common::code(&e));

    // A policy variable's default stands in for a key without a value.
    let defaulted = as_user("AKIDDEF");
    defaulted.get_item().table_name("dev").key("pk", common::s("shared")).send().await.expect("the default");
    let e = defaulted.get_item().table_name("dev").key("pk", common::s("other")).send().await.unwrap_err();
    denied("another partition", &e, common::code(&e));

    // aws:userid is the user's unique id, not its access key.
    as_user("AKIDUNIQ").list_tables().send().await.expect("an AIDA id");

    // A mapping's operations are on its ARN, with the function it invokes.
    let lambda = lambda_as(&ep, ALICE_KEY, ALICE_SECRET);
    admin
        .create_table()
        .table_name("source")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(common::key_elem("pk", aws_sdk_dynamodb::types::KeyType::Hash))
        .attribute_definitions(common::attr_def("pk", aws_sdk_dynamodb::types::ScalarAttributeType::S))
        .stream_specification(common::new_and_old_images())
        .send()
        .await
        .unwrap();
    let stream = admin.describe_table().table_name("source").send().await.unwrap().table.unwrap().latest_stream_arn;
    let mut uuids = Vec::new();
    for f in ["echo", "always-fail"] {
        common::create_example_function(&lambda, f).await;
        let m = lambda
            .create_event_source_mapping()
            .function_name(f)
            .event_source_arn(stream.clone().unwrap())
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
            .send()
            .await
            .unwrap();
        uuids.push(m.uuid.unwrap());
    }
    let streams_as = |key: &str| {
        let config = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .endpoint_url(&ep)
            .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(key, "secret", None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_dynamodbstreams::Client::from_conf(config)
    };
    let e = streams_as("AKIDLIST").list_streams().table_name("source").send().await.unwrap_err();
    let denial = e.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string();
    assert!(denial.contains("dynamodb:ListStreams on resource: * because"), "{denial}");
    let listed = streams_as("AKIDABAC").list_streams().table_name("source").send().await.expect("granted on *");
    assert_eq!(listed.streams().len(), 1);
    // A stream is tagged on its own, apart from its table: its tags are the
    // `aws:ResourceTag` of its actions.
    let stream_arn = stream.clone().unwrap();
    streams_as("AKIDABAC").describe_stream().stream_arn(&stream_arn).send().await.expect("an untagged stream");
    admin.tag_resource().resource_arn(&stream_arn).tags(tag("env", "prod")).send().await.unwrap();
    let listed = admin.list_tags_of_resource().resource_arn(&stream_arn).send().await.unwrap();
    assert_eq!(listed.tags().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), [("env", "prod")]);
    let table_tags = admin.list_tags_of_resource().resource_arn(server.app.table_arn("source")).send().await.unwrap();
    assert!(table_tags.tags().is_empty(), "{table_tags:?}");
    let e = streams_as("AKIDABAC").describe_stream().stream_arn(&stream_arn).send().await.unwrap_err();
    let denial = e.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string();
    assert!(denial.ends_with("with an explicit deny in an identity-based policy"), "{denial}");
    abac.describe_table().table_name("source").send().await.expect("the table is not tagged");
    admin.untag_resource().resource_arn(&stream_arn).tag_keys("env").send().await.unwrap();
    streams_as("AKIDABAC").describe_stream().stream_arn(&stream_arn).send().await.expect("untagged again");
    let maps = lambda_as(&ep, "AKIDMAPS", "secret");
    maps.get_event_source_mapping().uuid(&uuids[0]).send().await.expect("echo's mapping");
    let e = maps.get_event_source_mapping().uuid(&uuids[1]).send().await.unwrap_err();
    let denial = e.as_service_error().and_then(|e| e.message()).unwrap_or_default().to_string();
    assert!(
        denial
            .contains(&format!("on resource: arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{}", uuids[1])),
        "{denial}"
    );
    maps.delete_event_source_mapping().uuid(&uuids[0]).send().await.expect("delete echo's mapping");

    // A restore needs read and write permissions on its target table.
    let backup = as_user("AKIDRESTORE").create_backup().table_name("dev").backup_name("nightly").send().await.unwrap();
    let backup = backup.backup_details.unwrap().backup_arn;
    // A restore takes an AVAILABLE backup (one being made is in use).
    for _ in 0..600 {
        let d = admin.describe_backup().backup_arn(&backup).send().await.unwrap();
        let status = d.backup_description.and_then(|b| b.backup_details).map(|b| b.backup_status);
        if status == Some(aws_sdk_dynamodb::types::BackupStatus::Available) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restore = |key: &str, target: &str| {
        as_user(key).restore_table_from_backup().backup_arn(&backup).target_table_name(target).send()
    };
    let e = restore("AKIDRESTORE", "restored").await.unwrap_err();
    let target = server.app.table_arn("restored");
    assert_eq!(
        message(&e),
        format!(
            "User: arn:aws:iam::000000000000:user/restorer is not authorized to perform: dynamodb:BatchWriteItem on resource: {target} because no identity-based policy allows the dynamodb:BatchWriteItem action"
        )
    );
    restore("AKIDEX1", "restored").await.expect("the developer guide's example 1");
    server.stop().await.unwrap();
}
