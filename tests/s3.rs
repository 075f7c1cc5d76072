//! S3's object API on the server's port (src/s3), driven by boto3 as an
//! application's code drives S3: a bucket made, an import's file uploaded,
//! ImportTable and ExportTableToPointInTime through it, the export read
//! back with S3 calls, a multipart upload and ranged reads, S3's errors,
//! and the bucket emptied and deleted.

mod common;

/// A Python function that runs an S3 call and gives its error code, or `ok`.
const CODE: &str = r#"def code(f):
    try:
        f()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]"#;

#[tokio::test]
async fn boto3_uploads_an_import_and_reads_an_export_through_s3() {
    let h = common::harness().await;
    let home = tempfile::tempdir().unwrap();
    let big = home.path().join("big.bin");
    let script = format!(
        r#"
import boto3, botocore, gzip, json, os, time
from boto3.s3.transfer import TransferConfig
kw = dict(endpoint_url="{ep}", region_name="us-east-1", aws_access_key_id="any", aws_secret_access_key="any")
config = botocore.config.Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}})
s3 = boto3.client("s3", config=config, **kw)
ddb = boto3.client("dynamodb", **kw)
{CODE}
def settled(describe, member, status):
    for _ in range(300):
        d = describe()[member]
        if d[status] != "IN_PROGRESS":
            return d
        time.sleep(0.1)
    return d
out = {{}}
out["head_missing"] = code(lambda: s3.head_bucket(Bucket="absent-bucket"))
out["put_missing"] = code(lambda: s3.put_object(Bucket="absent-bucket", Key="k", Body=b"x"))
out["bad_name"] = code(lambda: s3.create_bucket(Bucket="Bad_Name"))
s3.create_bucket(Bucket="data")
out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
lines = "".join(json.dumps({{"Item": {{"pk": {{"S": "k%d" % i}}, "n": {{"N": str(i)}}}}}}) + "\n" for i in range(100))
put = s3.put_object(Bucket="data", Key="seed/part 1.json", Body=lines.encode())
out["put_etag_is_md5"] = put["ETag"].strip('"') == __import__("hashlib").md5(lines.encode()).hexdigest()
out["no_key"] = code(lambda: s3.get_object(Bucket="data", Key="seed/nothing"))
# A multipart upload, as boto3's transfer manager makes one: three parts.
blob = os.urandom(11 * 1024 * 1024)
open("{big}", "wb").write(blob)
tc = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file("{big}", "data", "blobs/big.bin", Config=tc)
head = s3.head_object(Bucket="data", Key="blobs/big.bin")
out["multipart_size"] = head["ContentLength"]
out["multipart_etag"] = head["ETag"].strip('"').endswith("-3")
out["multipart_equal"] = s3.get_object(Bucket="data", Key="blobs/big.bin")["Body"].read() == blob
ranged = s3.get_object(Bucket="data", Key="blobs/big.bin", Range="bytes=10-19")
out["range"] = ranged["Body"].read() == blob[10:20] and ranged["ContentRange"] == "bytes 10-19/%d" % len(blob)
# ImportTable from what was uploaded.
imp = ddb.import_table(
    S3BucketSource={{"S3Bucket": "data", "S3KeyPrefix": "seed/"}},
    InputFormat="DYNAMODB_JSON", InputCompressionType="NONE",
    TableCreationParameters={{"TableName": "seeded", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{{"AttributeName": "pk", "AttributeType": "S"}}],
        "KeySchema": [{{"AttributeName": "pk", "KeyType": "HASH"}}]}})
arn = imp["ImportTableDescription"]["ImportArn"]
out["import_answer"] = imp["ImportTableDescription"]["ImportStatus"]
d = settled(lambda: ddb.describe_import(ImportArn=arn), "ImportTableDescription", "ImportStatus")
out["import"] = [d["ImportStatus"], d.get("ImportedItemCount")]
# ExportTableToPointInTime, and the export read back with S3 calls.
table_arn = ddb.describe_table(TableName="seeded")["Table"]["TableArn"]
ddb.update_continuous_backups(TableName="seeded",
    PointInTimeRecoverySpecification={{"PointInTimeRecoveryEnabled": True}})
exp = ddb.export_table_to_point_in_time(TableArn=table_arn, S3Bucket="data", S3Prefix="out")
earn = exp["ExportDescription"]["ExportArn"]
out["export_answer"] = exp["ExportDescription"]["ExportStatus"]
d = settled(lambda: ddb.describe_export(ExportArn=earn), "ExportDescription", "ExportStatus")
out["export"] = d["ExportStatus"]
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="data", Prefix="out/", PaginationConfig={{"PageSize": 2}}):
    keys += [o["Key"] for o in page.get("Contents", [])]
out["keys_sorted"] = keys == sorted(keys)
summary = [k for k in keys if k.endswith("manifest-summary.json")]
manifest = json.loads(s3.get_object(Bucket="data", Key=summary[0])["Body"].read())
out["summary_items"] = manifest["itemCount"]
count = 0
for k in keys:
    if k.endswith(".json.gz"):
        count += len(gzip.decompress(s3.get_object(Bucket="data", Key=k)["Body"].read()).splitlines())
out["exported_lines"] = count
top = s3.list_objects_v2(Bucket="data", Delimiter="/")
out["prefixes"] = [p["Prefix"] for p in top.get("CommonPrefixes", [])]
# A marker inside a common prefix still lists that prefix once.
after = s3.list_objects_v2(Bucket="data", Delimiter="/", StartAfter="blobs/a")
out["after_marker"] = [p["Prefix"] for p in after.get("CommonPrefixes", [])]
paged, token = [], None
while True:
    args = dict(Bucket="data", Delimiter="/", MaxKeys=1)
    if token:
        args["ContinuationToken"] = token
    page = s3.list_objects_v2(**args)
    paged += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
out["paged_prefixes"] = paged
# A presigned URL, fetched without an SDK.
import urllib.request
url = s3.generate_presigned_url("get_object", Params={{"Bucket": "data", "Key": summary[0]}}, ExpiresIn=60)
out["presigned"] = json.loads(urllib.request.urlopen(url).read())["itemCount"]
# Keys no file can hold: none exists, and deleting one is no error.
out["odd_get"] = code(lambda: s3.get_object(Bucket="data", Key="a//b"))
out["odd_delete"] = code(lambda: s3.delete_object(Bucket="data", Key="blobs/"))
out["not_empty"] = code(lambda: s3.delete_bucket(Bucket="data"))
every = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="data") for o in p.get("Contents", [])]
deleted = s3.delete_objects(Bucket="data", Delete={{"Objects": [{{"Key": k}} for k in every]}})
out["deleted"] = len(deleted.get("Deleted", [])) == len(every)
out["delete_bucket"] = code(lambda: s3.delete_bucket(Bucket="data"))
out["gone"] = code(lambda: s3.head_bucket(Bucket="data"))
print(json.dumps(out))
"#,
        ep = h.server.endpoint(),
        CODE = CODE,
        big = big.display(),
    );
    let said = common::tools::boto3(script, home.path()).await;
    let got: serde_json::Value = serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("{e}: {said}"));
    let want = serde_json::json!({
        "head_missing": "404",
        "put_missing": "NoSuchBucket",
        "bad_name": "InvalidBucketName",
        "buckets": ["data"],
        "put_etag_is_md5": true,
        "no_key": "NoSuchKey",
        "multipart_size": 11 * 1024 * 1024,
        "multipart_etag": true,
        "multipart_equal": true,
        "range": true,
        // DynamoDB answers IN_PROGRESS however small the job.
        "import_answer": "IN_PROGRESS",
        "import": ["COMPLETED", 100],
        "export_answer": "IN_PROGRESS",
        "export": "COMPLETED",
        "keys_sorted": true,
        "summary_items": 100,
        "exported_lines": 100,
        "prefixes": ["blobs/", "out/", "seed/"],
        "after_marker": ["blobs/", "out/", "seed/"],
        "paged_prefixes": ["blobs/", "out/", "seed/"],
        "presigned": 100,
        "odd_get": "NoSuchKey",
        "odd_delete": "ok",
        "not_empty": "BucketNotEmpty",
        "deleted": true,
        "delete_bucket": "ok",
        "gone": "404",
    });
    assert_eq!(got, want);
    // The bucket was a directory of `--s3-dir`, and is gone with it.
    assert!(!h.server.app.s3_dir.join("data").exists());
}

/// With `--auth`, S3 requests are verified as AWS verifies them (SigV4 over
/// the path as sent, the declared payload hash checked against the body)
/// and authorized by the caller's IAM policies, with S3's error codes.
#[tokio::test]
async fn with_auth_s3_requests_are_signed_and_authorized() {
    use std::sync::Arc;
    use tidepool::http::auth::Auth;
    use tidepool::http::sigv4::Credential;
    let user = |name: &str, key: &str| Credential {
        user: name.into(),
        access_key_id: key.into(),
        secret_access_key: format!("{key}-secret"),
        session_token: None,
    };
    // The reader may list the bucket and read its objects, nothing else.
    let reader = tidepool::iam::Policy::parse(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]},
            {"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared",
             "Condition": {"StringLike": {"s3:prefix": "private/*"}}}]}"#,
    )
    .unwrap();
    let auth = Arc::new(Auth::new(vec![
        (user("admin", "AKIDADMIN"), None),
        (user("reader", "AKIDREADER"), Some(vec![reader])),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let config = tidepool::ServerConfig { auth: Some(auth), ..tidepool::ServerConfig::default() };
    let server = common::start_with(&dir.path().join("data"), config).await;
    let script = format!(
        r#"
import boto3, botocore, json
def s3(key, secret):
    return boto3.client("s3", endpoint_url="{ep}", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=botocore.config.Config(s3={{"addressing_style": "path"}}, signature_version="s3v4",
            retries={{"max_attempts": 1}}))
{CODE}
admin, reader = s3("AKIDADMIN", "AKIDADMIN-secret"), s3("AKIDREADER", "AKIDREADER-secret")
out = {{}}
out["create"] = code(lambda: admin.create_bucket(Bucket="shared"))
out["put"] = code(lambda: admin.put_object(Bucket="shared", Key="dir/a b+c.json", Body=b'{{"x": 1}}'))
out["reader_get"] = json.loads(reader.get_object(Bucket="shared", Key="dir/a b+c.json")["Body"].read())["x"]
out["reader_list"] = [o["Key"] for o in reader.list_objects_v2(Bucket="shared")["Contents"]]
out["reader_private"] = code(lambda: reader.list_objects_v2(Bucket="shared", Prefix="private/"))
out["reader_put"] = code(lambda: reader.put_object(Bucket="shared", Key="x", Body=b"x"))
out["reader_delete"] = reader.delete_objects(Bucket="shared", Delete={{"Objects": [{{"Key": "dir/a b+c.json"}}]}})["Errors"][0]["Code"]
out["reader_buckets"] = code(lambda: reader.list_buckets())
out["wrong_secret"] = code(lambda: s3("AKIDADMIN", "nope").list_buckets())
out["unknown_key"] = code(lambda: s3("AKIDNOBODY", "nope").list_buckets())
url = reader.generate_presigned_url("get_object", Params={{"Bucket": "shared", "Key": "dir/a b+c.json"}}, ExpiresIn=60)
import urllib.request
out["presigned"] = json.loads(urllib.request.urlopen(url).read())["x"]
print(json.dumps(out))
"#,
        ep = server.endpoint(),
        CODE = CODE,
    );
    let home = tempfile::tempdir().unwrap();
    let said = common::tools::boto3(script, home.path()).await;
    let got: serde_json::Value = serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("{e}: {said}"));
    let want = serde_json::json!({
        "create": "ok",
        "put": "ok",
        "reader_get": 1,
        "reader_list": ["dir/a b+c.json"],
        "reader_private": "AccessDenied",
        "reader_put": "AccessDenied",
        "reader_delete": "AccessDenied",
        "reader_buckets": "AccessDenied",
        "wrong_secret": "SignatureDoesNotMatch",
        "unknown_key": "InvalidAccessKeyId",
        "presigned": 1,
    });
    assert_eq!(got, want);
    server.stop().await.unwrap();
}

/// A body signed chunk by chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, as
/// the Java and other SDKs upload over plain HTTP) is stored when every
/// chunk's signature chains from the request's, and refused with S3's
/// `SignatureDoesNotMatch` when a chunk was changed on the way.
#[tokio::test]
async fn with_auth_a_chunk_signed_upload_is_checked_chunk_by_chunk() {
    use std::sync::Arc;
    use std::time::SystemTime;

    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    use tidepool::http::auth::Auth;
    use tidepool::http::sigv4::{ChunkChain, Credential, sha256_hex};

    const KEY: &str = "AKIDSTREAM";
    const SECRET: &str = "stream-secret";
    let user = Credential {
        user: "admin".into(),
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    let auth = Arc::new(Auth::new(vec![(user, None)]));
    let dir = tempfile::tempdir().unwrap();
    let config = tidepool::ServerConfig { auth: Some(auth), ..tidepool::ServerConfig::default() };
    let server = common::start_with(&dir.path().join("data"), config).await;
    let addr = server.endpoint().trim_start_matches("http://").to_string();

    // Signs `method path` with the payload hash `payload` and `extra`
    // headers, as aws-sigv4 (the SDKs' signer) does for S3.
    let signed = |method: &str, path: &str, payload: &str, extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let identity = aws_credential_types::Credentials::new(KEY, SECRET, None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = format!("http://{addr}{path}");
        let headers = std::iter::once(("host", addr.as_str())).chain(extra.iter().copied());
        let signable = SignableRequest::new(method, &url, headers, SignableBody::Precomputed(payload.into())).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut out: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        out.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
        out
    };
    let send = |method: &'static str, path: String, headers: Vec<(String, String)>, body: Vec<u8>| {
        let addr = addr.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            common::http::send(&addr, method, &path, &h, &body).await
        }
    };
    let a = send("PUT", "/streamed".into(), signed("PUT", "/streamed", "UNSIGNED-PAYLOAD", &[]), vec![]).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));

    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    // The body in chunks of 64 KiB, each signed on from the one before.
    let upload = |key: &str, tamper: bool| {
        let len = data.len().to_string();
        let path = format!("/streamed/{key}");
        let headers = signed(
            "PUT",
            &path,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            &[("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", &len)],
        );
        let auth = headers.iter().find(|(k, _)| k == "authorization").unwrap().1.clone();
        let seed = auth.rsplit("Signature=").next().unwrap().to_string();
        let date = headers.iter().find(|(k, _)| k == "x-amz-date").unwrap().1.clone();
        let mut chain = ChunkChain::for_client(SECRET, "us-east-1", &date, &seed);
        let mut body = Vec::new();
        for chunk in data.chunks(64 * 1024).chain(std::iter::once(&[][..])) {
            let signature = chain.sign_next(&sha256_hex(chunk));
            body.extend_from_slice(format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        if tamper {
            // A byte of the first chunk's data, after it was signed.
            let at = body.iter().position(|b| *b == b'\n').unwrap() + 10;
            body[at] ^= 1;
        }
        (path, headers, body)
    };
    let (path, headers, body) = upload("good.bin", false);
    let a = send("PUT", path.clone(), headers, body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = send("GET", path.clone(), signed("GET", &path, "UNSIGNED-PAYLOAD", &[]), vec![]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, data, "stored without its framing");

    let (path, headers, body) = upload("bad.bin", true);
    let a = send("PUT", path.clone(), headers, body).await;
    assert_eq!(a.status, 403, "{}", String::from_utf8_lossy(&a.body));
    assert!(String::from_utf8_lossy(&a.body).contains("<Code>SignatureDoesNotMatch</Code>"));
    let a = send("GET", path.clone(), signed("GET", &path, "UNSIGNED-PAYLOAD", &[]), vec![]).await;
    assert_eq!(a.status, 404, "nothing was stored");
    server.stop().await.unwrap();
}

/// A virtual-hosted request (`Host: <bucket>.localhost`, the JavaScript
/// SDK's default for a `localhost` endpoint) names its bucket in the host
/// and its key in the whole path.
#[tokio::test]
async fn virtual_hosted_requests_name_the_bucket_in_the_host() {
    let h = common::harness().await;
    let addr = h.server.endpoint().trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    // Open access: any S3-scoped signature is taken unverified.
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let hosted = format!("media.localhost:{port}");
    let send = |method: &'static str, host: String, path: &'static str, body: &'static [u8]| {
        let addr = addr.clone();
        async move {
            let headers =
                [("Host", host.as_str()), ("Authorization", auth), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
            common::http::send(&addr, method, path, &headers, body).await
        }
    };
    let a = send("PUT", hosted.clone(), "/", b"").await;
    assert_eq!(a.status, 200, "CreateBucket: {}", String::from_utf8_lossy(&a.body));
    let a = send("PUT", hosted.clone(), "/photos/cat.txt", b"meow").await;
    assert_eq!(a.status, 200, "PutObject: {}", String::from_utf8_lossy(&a.body));
    let a = send("GET", hosted.clone(), "/?list-type=2", b"").await;
    assert!(
        String::from_utf8_lossy(&a.body).contains("<Key>photos/cat.txt</Key>"),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    // The same object, path-style.
    let a = send("GET", addr.clone(), "/media/photos/cat.txt", b"").await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"meow"[..]));
    let a = send("GET", format!("media.s3.localhost:{port}"), "/photos/cat.txt", b"").await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"meow"[..]));
    // An endpoint that is itself a `*.localhost` name, path-style: its
    // first label is no bucket.
    let a = send("GET", format!("tidepool.localhost:{port}"), "/media/photos/cat.txt", b"").await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"meow"[..]));
    assert!(h.server.app.s3_dir.join("media/photos/cat.txt").is_file());
}
