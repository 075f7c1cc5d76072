//! S3's object API over the server's port: the part of it that exports and
//! imports need, so that code which uploads an import's files or reads an
//! export with an unmodified S3 client (`forcePathStyle`, the endpoint
//! Tidepool's) runs here as against AWS.
//!
//! A bucket is a directory of `--s3-dir` and an object is the file at its
//! key below it: the same layout ExportTableToPointInTime writes and
//! ImportTable reads ([`crate::dynamodb`]). A request is S3's when it signs
//! for the service `s3` (every S3 SDK signs, and nothing else here signs
//! for it), whatever its path. Path-style addressing (`/<bucket>/<key>`)
//! is served, and virtual-hosted addressing for a `localhost` endpoint
//! (`Host: <bucket>.localhost`, [`hosted_bucket`]).
//!
//! Served: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, ListObjectsV2 and ListObjects, PutObject, GetObject
//! (with `Range`), HeadObject, DeleteObject, DeleteObjects and multipart
//! uploads (Create, UploadPart, Complete, Abort). Anything else answers
//! S3's `NotImplemented`. Bodies in `aws-chunked` encoding (the SDKs'
//! streaming uploads with trailing checksums) are decoded; the checksums
//! they carry are not verified. While authentication is on (`--auth`) a
//! request's SigV4 signature is verified over the path as sent (S3's
//! canonical form), a declared payload SHA-256 is checked against the body
//! as it streams (`XAmzContentSHA256Mismatch`), and the caller's IAM
//! policies are evaluated for S3's actions (`s3:GetObject` on
//! `arn:aws:s3:::bucket/key`, …); a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
//! body has each chunk's signature checked as it is decoded
//! (`http::sigv4::ChunkChain`), a signed trailer is refused.

mod body;
mod list;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::dynamodb::App;
use crate::http::auth::S3Payload;

/// S3's largest object in one PutObject (5 GiB): the bound on the disk one
/// request can fill.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3's longest key (1,024 bytes of UTF-8).
pub const MAX_KEY_BYTES: usize = 1024;
/// S3's highest part number of a multipart upload.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// S3's most keys in one list page and in one DeleteObjects.
pub const MAX_KEYS: usize = 1000;
/// The most bytes of an XML request body (DeleteObjects of 1,000 keys of
/// 1,024 bytes, CompleteMultipartUpload of 10,000 parts): 4 MiB.
pub const MAX_XML_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Where multipart uploads keep their parts until completed: a directory of
/// `--s3-dir` that no bucket name can reach (names start with a letter or
/// digit).
const UPLOADS_DIR: &str = ".tidepool-uploads";

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Whether `req` is S3's: signed for the service `s3`, in its
/// `Authorization` header or a presigned URL's `X-Amz-Credential`, or
/// signed in S3's older query form (`AWSAccessKeyId` and `Signature`, which
/// boto3 still presigns with and no other API here takes).
pub fn addressed(req: &Request) -> bool {
    let scope_is_s3 = |credential: &str| credential.split('/').nth(3) == Some("s3");
    if let Some(auth) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        // Every request passes here: a scan of the header, no allocation.
        return auth.split([',', ' ']).filter_map(|p| p.strip_prefix("Credential=")).any(scope_is_s3);
    }
    req.uri().query().is_some_and(|q| {
        let names = || q.split('&').map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k));
        if names().any(|k| k == "AWSAccessKeyId") && names().any(|k| k == "Signature") {
            return true;
        }
        q.split('&').any(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                k == "X-Amz-Credential"
                    && percent_encoding::percent_decode_str(v).decode_utf8().is_ok_and(|v| scope_is_s3(&v))
            })
        })
    })
}

/// An S3 error answer: its status, code and message.
#[derive(Debug)]
pub struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `<BucketName>` or `<Key>`, when the error names one.
    resource: Option<(&'static str, String)>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error { status, code, message: message.into(), resource: None }
    }

    fn naming(mut self, member: &'static str, value: &str) -> Self {
        self.resource = Some((member, value.to_string()));
        self
    }

    fn no_bucket(bucket: &str) -> Self {
        S3Error::new(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist")
            .naming("BucketName", bucket)
    }

    fn no_key(key: &str) -> Self {
        S3Error::new(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.").naming("Key", key)
    }

    fn invalid(message: impl Into<String>) -> Self {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    fn malformed() -> Self {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "an S3 request failed");
        S3Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("We encountered an internal error: {e}"),
        )
    }

    fn not_implemented(what: &str) -> Self {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("A header you provided implies functionality that is not implemented: {what} is not served here"),
        )
    }

    /// The answer; a HEAD request's has no body, as S3's.
    fn into_response(self, head: bool) -> Response {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            self.code,
            escape(&self.message)
        );
        if let Some((member, value)) = &self.resource {
            xml.push_str(&format!("<{member}>{}</{member}>", escape(value)));
        }
        xml.push_str("</Error>");
        let mut resp = if head { self.status.into_response() } else { xml_response(self.status, xml) };
        resp.headers_mut().insert("x-amz-error-code", HeaderValue::from_static(self.code));
        resp
    }
}

type S3Result<T> = Result<T, S3Error>;

/// XML text with `&`, `<`, `>`, `"` and `'` escaped.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn elements<'x>(xml: &'x str, tag: &str) -> Vec<&'x str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut resp = (status, xml).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// S3's bucket naming rules (3 to 63 lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit): a name that never
/// leaves `--s3-dir`.
pub fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..")
}

/// The file of `key` in `bucket_dir`. A key is a relative path here: one
/// with an empty, `.` or `..` segment, a NUL or a backslash has no file
/// (S3 would take it; this is the layout's limit).
fn object_path(bucket_dir: &Path, key: &str) -> S3Result<PathBuf> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(StatusCode::BAD_REQUEST, "KeyTooLongError", "Your key is too long").naming("Key", key));
    }
    let fits = !key.is_empty()
        && !key.contains(['\0', '\\'])
        && key.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    if !fits {
        return Err(S3Error::invalid(format!(
            "Tidepool keeps an object as the file at its key, so a key must be a relative path: no empty, '.' or '..' segment (key '{key}')"
        )));
    }
    Ok(bucket_dir.join(key))
}

/// The file of `key` for a read or a delete: a key no file can hold is an
/// object that does not exist (`None`), as S3 would find none there.
fn existing_path(bucket_dir: &Path, key: &str) -> S3Result<Option<PathBuf>> {
    match object_path(bucket_dir, key) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.code == "InvalidArgument" => Ok(None),
        Err(e) => Err(e),
    }
}

/// The request's target: `/<bucket>/<key>` with the key percent-decoded.
/// The bucket and key a request names: in its `Host` (virtual-hosted, see
/// [`hosted_bucket`]) when `hosted` accepts that bucket, else in its path.
fn target(host: Option<&str>, path: &str, hosted: impl Fn(&str) -> bool) -> S3Result<(Option<String>, Option<String>)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| S3Error::invalid("The path is not UTF-8 once decoded"))
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    if let Some(bucket) = host.and_then(hosted_bucket).filter(|b| hosted(b)) {
        return Ok((Some(bucket.to_string()), (!rest.is_empty()).then(|| decode(rest)).transpose()?));
    }
    if rest.is_empty() {
        return Ok((None, None));
    }
    match rest.split_once('/') {
        None => Ok((Some(decode(rest)?), None)),
        Some((bucket, "")) => Ok((Some(decode(bucket)?), None)),
        Some((bucket, key)) => Ok((Some(decode(bucket)?), Some(decode(key)?))),
    }
}

/// The bucket a virtual-hosted request names in its `Host`:
/// `<bucket>.localhost` or `<bucket>.s3.localhost` (any port), what the
/// SDKs send to a `localhost` endpoint unless told to use paths (the
/// JavaScript SDK's default). Any other host is path-style.
fn hosted_bucket(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let bucket = name.strip_suffix(".localhost")?;
    let bucket = bucket.strip_suffix(".s3").unwrap_or(bucket);
    (!bucket.is_empty() && bucket != "s3").then_some(bucket)
}

/// The query's parameters, decoded (`+` is a space, as S3 reads it).
fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        // The JS SDK names the operation in `x-id` (`?x-id=PutObject`): a
        // marker, not a parameter.
        .filter(|kv| !kv.starts_with("x-id="))
        // A presigned URL's signature (`X-Amz-Credential`, `X-Amz-Signature`,
        // …) is no parameter of the operation.
        .filter(|kv| !kv.starts_with("X-Amz-"))
        .filter(|kv| !["AWSAccessKeyId=", "Signature=", "Expires="].iter().any(|p| kv.starts_with(p)))
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> S3Result<T> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(S3Error::internal)?
}

fn http_date(t: std::time::SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn iso_date(t: std::time::SystemTime) -> String {
    let ms = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    format!("{}Z", tidepool_store::format_timestamp_millis(ms))
}

/// Serves one S3 request.
pub async fn serve(app: Arc<App>, req: Request) -> Response {
    let head = req.method() == Method::HEAD;
    let sends_body = matches!(*req.method(), Method::PUT | Method::POST);
    let mut resp = answer(app, req, head).await;
    // An error may come before the body was read: the connection is closed
    // after it, so that the unread body is never taken for the next request.
    if sends_body && !resp.status().is_success() {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

async fn answer(app: Arc<App>, req: Request, head: bool) -> Response {
    let origin = crate::http::origin_of(req.extensions());
    let mut access = Access { caller: None, origin, payload: S3Payload::Unsigned, region: app.region.clone() };
    let req = match &app.auth {
        None => req,
        Some(auth) => {
            let (parts, body) = req.into_parts();
            match crate::http::auth::authenticate_s3(auth, &app.region, &parts) {
                Ok((caller, payload)) => {
                    access.caller = Some(caller);
                    access.payload = payload;
                    Request::from_parts(parts, body)
                }
                Err((status, code, message)) => return S3Error::new(status, code, message).into_response(head),
            }
        }
    };
    match route(&app, req, &access).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(head),
    }
}

/// Who may do what (`--auth`): the verified caller, and how its signature
/// authenticates the body.
struct Access {
    /// `None` while authentication is off.
    caller: Option<Arc<crate::iam::Principal>>,
    /// Where the request came from (`aws:SourceIp`, `aws:SecureTransport`).
    origin: crate::iam::Origin,
    payload: S3Payload,
    region: String,
}

impl Access {
    /// Authorizes `action` on `resource` as IAM does for S3 (an
    /// administrator, one without policies, may do anything).
    fn allow(&self, action: &str, resource: &str) -> S3Result<()> {
        self.allow_check(crate::iam::Check::new(action, resource))
    }

    fn allow_check(&self, check: crate::iam::Check) -> S3Result<()> {
        let Some(caller) = &self.caller else { return Ok(()) };
        caller
            .authorize(vec![check], &self.region, &self.origin)
            .map_err(|d| S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", d.message))
    }
}

/// The IAM action a request needs, as S3 names it (DeleteObjects is
/// authorized key by key, as `s3:DeleteObject`).
fn action(method: &Method, q: &[(String, String)], on_object: bool) -> &'static str {
    let has = |name: &str| q.iter().any(|(k, _)| k == name);
    match (method.as_str(), on_object) {
        ("GET" | "HEAD", true) => "s3:GetObject",
        ("PUT", true) => "s3:PutObject",
        ("POST", true) if has("uploads") || has("uploadId") => "s3:PutObject",
        ("DELETE", true) if has("uploadId") => "s3:AbortMultipartUpload",
        ("DELETE", true) => "s3:DeleteObject",
        ("PUT", false) => "s3:CreateBucket",
        ("DELETE", false) => "s3:DeleteBucket",
        ("GET", false) if has("location") => "s3:GetBucketLocation",
        ("POST", false) if has("delete") => "s3:DeleteObject",
        _ => "s3:ListBucket",
    }
}

async fn route(app: &App, req: Request, access: &Access) -> S3Result<Response> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(req.uri().host());
    let root = app.s3_dir.clone();
    // A `*.localhost` host names a bucket only if the bucket exists, or the
    // request makes it (PUT on `/`): an endpoint such as
    // `tidepool.localhost` still serves path-style requests.
    let create = req.method() == Method::PUT && req.uri().path() == "/" && req.uri().query().is_none();
    let (bucket, key) = target(host, req.uri().path(), |b| create || (valid_bucket(b) && root.join(b).is_dir()))?;
    let q = query(req.uri());
    let has = |name: &str| q.iter().any(|(k, _)| k == name);
    let method = req.method().clone();
    let Some(bucket) = bucket else {
        return match method {
            Method::GET => {
                access.allow("s3:ListAllMyBuckets", "arn:aws:s3:::*")?;
                list::buckets(root).await
            }
            _ => Err(method_not_allowed()),
        };
    };
    if !valid_bucket(&bucket) {
        return Err(S3Error::new(StatusCode::BAD_REQUEST, "InvalidBucketName", "The specified bucket is not valid.")
            .naming("BucketName", &bucket));
    }
    let needed = action(&method, &q, key.is_some());
    if needed != "s3:DeleteObject" || key.is_some() {
        let resource = match &key {
            Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
            None => format!("arn:aws:s3:::{bucket}"),
        };
        let mut check = crate::iam::Check::new(needed, resource);
        // ListBucket's condition keys, as S3 sets them (a policy may allow
        // or deny listing by prefix).
        if needed == "s3:ListBucket" {
            for (key, param_name) in
                [("s3:prefix", "prefix"), ("s3:delimiter", "delimiter"), ("s3:max-keys", "max-keys")]
            {
                if let Some(v) = param(&q, param_name) {
                    check = check.with(key, vec![v.to_string()]);
                }
            }
        }
        access.allow_check(check)?;
    }
    let dir = root.join(&bucket);
    let Some(key) = key else {
        return match method {
            Method::PUT if q.is_empty() => create_bucket(app, dir, bucket).await,
            Method::HEAD => {
                if dir.is_dir() {
                    Ok(StatusCode::OK.into_response())
                } else {
                    Err(S3Error::no_bucket(&bucket))
                }
            }
            Method::DELETE if q.is_empty() => delete_bucket(dir, bucket).await,
            Method::GET if has("location") => {
                exists(&dir, &bucket)?;
                let constraint = if app.region == "us-east-1" { String::new() } else { escape(&app.region) };
                Ok(xml_response(
                    StatusCode::OK,
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{XMLNS}\">{constraint}</LocationConstraint>"
                    ),
                ))
            }
            Method::GET if q.iter().all(|(k, _)| list::PARAMS.contains(&k.as_str())) => {
                list::objects(dir, bucket, q).await
            }
            Method::POST if has("delete") => {
                let xml = body::read_xml(req, &access.payload).await?;
                delete_objects(dir, bucket, xml, access).await
            }
            _ => Err(S3Error::not_implemented(&format!(
                "{method} on a bucket with {:?}",
                q.iter().map(|(k, _)| k).collect::<Vec<_>>()
            ))),
        };
    };
    if req.headers().contains_key("x-amz-copy-source") {
        return Err(S3Error::not_implemented("CopyObject and UploadPartCopy"));
    }
    match method {
        Method::PUT if has("partNumber") && has("uploadId") => {
            exists(&dir, &bucket)?;
            let upload = upload_dir(&root, param(&q, "uploadId").unwrap_or_default(), &bucket, &key)?;
            let number = part_number(param(&q, "partNumber").unwrap_or_default())?;
            // A part is written aside, then renamed to its number and MD5:
            // Complete finds exactly the part whose ETag it names, and a
            // failed or dropped upload leaves no partial part.
            let staged = Staged(upload.join(format!("{number:05}-{}.staged", uuid::Uuid::new_v4().simple())));
            let written = body::write_body(req, staged.0.clone(), &access.payload).await?;
            let etag = format!("\"{}\"", written.md5_hex);
            let part = upload.join(format!("{number:05}-{}.part", written.md5_hex));
            std::fs::rename(&staged.0, part).map_err(S3Error::internal)?;
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).map_err(S3Error::internal)?);
            Ok(resp)
        }
        Method::PUT if q.is_empty() => {
            exists(&dir, &bucket)?;
            let path = object_path(&dir, &key)?;
            let staged = Staged(root.join(UPLOADS_DIR).join(format!("put-{}", uuid::Uuid::new_v4().simple())));
            let written = body::write_body(req, staged.0.clone(), &access.payload).await?;
            let etag = format!("\"{}\"", written.md5_hex);
            let tag = etag.clone();
            blocking(move || place(&staged.0, &path, &tag)).await?;
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).map_err(S3Error::internal)?);
            Ok(resp)
        }
        Method::GET | Method::HEAD if q.iter().all(|(k, _)| k.starts_with("response-") || k == "partNumber") => {
            exists(&dir, &bucket)?;
            let Some(path) = existing_path(&dir, &key)? else { return Err(S3Error::no_key(&key)) };
            body::get_object(path, key, req.headers(), method == Method::HEAD).await
        }
        Method::DELETE if has("uploadId") => {
            let upload = upload_dir(&root, param(&q, "uploadId").unwrap_or_default(), &bucket, &key)?;
            blocking(move || std::fs::remove_dir_all(upload).map_err(S3Error::internal)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::DELETE if q.is_empty() => {
            exists(&dir, &bucket)?;
            if let Some(path) = existing_path(&dir, &key)? {
                blocking(move || remove_object(&dir, &path)).await?;
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::POST if has("uploads") => {
            exists(&dir, &bucket)?;
            object_path(&dir, &key)?;
            let id = uuid::Uuid::new_v4().simple().to_string();
            let upload = root.join(UPLOADS_DIR).join(&id);
            std::fs::create_dir_all(&upload).map_err(S3Error::internal)?;
            std::fs::write(upload.join("target"), format!("{bucket}\n{key}")).map_err(S3Error::internal)?;
            Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"{XMLNS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                    escape(&bucket),
                    escape(&key)
                ),
            ))
        }
        Method::POST if has("uploadId") => {
            exists(&dir, &bucket)?;
            let upload = upload_dir(&root, param(&q, "uploadId").unwrap_or_default(), &bucket, &key)?;
            let path = object_path(&dir, &key)?;
            let xml = body::read_xml(req, &access.payload).await?;
            let etag = blocking(move || complete_upload(&upload, &path, &xml)).await?;
            Ok(xml_response(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"{XMLNS}\"><Location>/{b}/{k}</Location><Bucket>{b}</Bucket><Key>{k}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
                    escape(&etag),
                    b = escape(&bucket),
                    k = escape(&key)
                ),
            ))
        }
        _ => Err(S3Error::not_implemented(&format!(
            "{method} on an object with {:?}",
            q.iter().map(|(k, _)| k).collect::<Vec<_>>()
        ))),
    }
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

fn exists(dir: &Path, bucket: &str) -> S3Result<()> {
    if dir.is_dir() { Ok(()) } else { Err(S3Error::no_bucket(bucket)) }
}

async fn create_bucket(app: &App, dir: PathBuf, bucket: String) -> S3Result<Response> {
    if dir.is_dir() {
        // S3 answers 200 in us-east-1 (its legacy behaviour) and 409 elsewhere.
        if app.region != "us-east-1" {
            return Err(S3Error::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .naming("BucketName", &bucket));
        }
    } else {
        std::fs::create_dir_all(&dir).map_err(S3Error::internal)?;
    }
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_str(&format!("/{bucket}")).map_err(S3Error::internal)?);
    Ok(resp)
}

async fn delete_bucket(dir: PathBuf, bucket: String) -> S3Result<Response> {
    exists(&dir, &bucket)?;
    blocking(move || {
        // Directories left by deleted objects' keys are not objects.
        if list::has_files(&dir).map_err(S3Error::internal)? {
            return Err(S3Error::new(
                StatusCode::CONFLICT,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
            )
            .naming("BucketName", &bucket));
        }
        std::fs::remove_dir_all(&dir).map_err(S3Error::internal)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A staged upload's file, removed when dropped unless it was placed (the
/// request failed, or its connection went away mid-body).
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Moves a staged file to its key's path, making the key's directories, and
/// remembers its ETag (keyed by the staged file's size and time, which the
/// rename keeps: a concurrent write of the same key cannot swap them).
fn place(staged: &Path, path: &Path, etag: &str) -> S3Result<()> {
    if path.is_dir() {
        return Err(S3Error::invalid(
            "Tidepool keeps an object as the file at its key: this key is a prefix of other keys' files",
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|_| {
            S3Error::invalid("Tidepool keeps an object as the file at its key: a prefix of this key is another object")
        })?;
    }
    let (len, modified) =
        std::fs::metadata(staged).and_then(|m| Ok((m.len(), m.modified()?))).map_err(S3Error::internal)?;
    std::fs::rename(staged, path).map_err(S3Error::internal)?;
    remember_etag((path.to_path_buf(), len, modified), etag);
    Ok(())
}

/// Removes an object's file and the directories its removal empties (up to
/// the bucket's). A missing object is no error, as in S3.
fn remove_object(bucket_dir: &Path, path: &Path) -> S3Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        // A key under another object's file, or a prefix of other keys,
        // is no object: deleting it is no error.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory
            ) || path.is_dir() =>
        {
            return Ok(());
        }
        Err(e) => return Err(S3Error::internal(e)),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == bucket_dir || !d.starts_with(bucket_dir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

async fn delete_objects(dir: PathBuf, bucket: String, xml: String, access: &Access) -> S3Result<Response> {
    exists(&dir, &bucket)?;
    let quiet = elements(&xml, "Quiet").first().is_some_and(|q| q.trim() == "true");
    let keys: Vec<String> = elements(&xml, "Key").into_iter().map(unescape).collect();
    if keys.is_empty() || !xml.contains("<Delete") {
        return Err(S3Error::malformed());
    }
    if keys.len() > MAX_KEYS {
        return Err(S3Error::malformed());
    }
    // Each key is authorized on its own, as S3 does: a denied one is an
    // error entry, the others are deleted.
    let allowed: Vec<S3Result<()>> =
        keys.iter().map(|k| access.allow("s3:DeleteObject", &format!("arn:aws:s3:::{bucket}/{k}"))).collect();
    let body = blocking(move || {
        let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"{XMLNS}\">");
        for (key, allowed) in keys.into_iter().zip(allowed) {
            let removed = allowed
                .and_then(|()| existing_path(&dir, &key).and_then(|p| p.map_or(Ok(()), |p| remove_object(&dir, &p))));
            match removed {
                Ok(()) if quiet => {}
                Ok(()) => out.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", escape(&key))),
                Err(e) => out.push_str(&format!(
                    "<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>",
                    escape(&key),
                    e.code,
                    escape(&e.message)
                )),
            }
        }
        out.push_str("</DeleteResult>");
        Ok(out)
    })
    .await?;
    Ok(xml_response(StatusCode::OK, body))
}

fn no_upload() -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// A multipart upload's directory, checked against the bucket and key it
/// was started for.
fn upload_dir(root: &Path, id: &str, bucket: &str, key: &str) -> S3Result<PathBuf> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(no_upload());
    }
    let dir = root.join(UPLOADS_DIR).join(id);
    match std::fs::read_to_string(dir.join("target")) {
        Ok(t) if t == format!("{bucket}\n{key}") => Ok(dir),
        _ => Err(no_upload()),
    }
}

fn part_number(text: &str) -> S3Result<u32> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => {
            Err(S3Error::invalid(format!("Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")))
        }
    }
}

/// Joins the parts CompleteMultipartUpload lists into the object; its ETag
/// is S3's: the MD5 of the parts' MD5s, a dash and their count.
fn complete_upload(upload: &Path, path: &Path, xml: &str) -> S3Result<String> {
    use std::io::Write;
    let numbers = elements(xml, "PartNumber");
    let etags = elements(xml, "ETag");
    if numbers.is_empty() || numbers.len() != etags.len() {
        return Err(S3Error::malformed());
    }
    let invalid_part = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        )
    };
    let mut parts = Vec::with_capacity(numbers.len());
    let mut last = 0;
    for (n, etag) in numbers.iter().zip(&etags) {
        let n = part_number(n.trim())?;
        if n <= last {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        last = n;
        let given = unescape(etag.trim()).trim_matches('"').to_ascii_lowercase();
        if given.len() != 32 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid_part());
        }
        let part = upload.join(format!("{n:05}-{given}.part"));
        if !part.is_file() {
            return Err(invalid_part());
        }
        parts.push((part, given));
    }
    let joined = upload.join("joined");
    let mut out = std::fs::File::create(&joined).map_err(S3Error::internal)?;
    let mut md5s = Vec::with_capacity(parts.len() * 16);
    for (part, etag) in &parts {
        let mut f = std::fs::File::open(part).map_err(|_| invalid_part())?;
        std::io::copy(&mut f, &mut out).map_err(S3Error::internal)?;
        md5s.extend(hex::decode(etag).map_err(S3Error::internal)?);
    }
    out.flush().map_err(S3Error::internal)?;
    drop(out);
    let etag = format!("\"{:x}-{}\"", md5::compute(&md5s), parts.len());
    let placed = place(&joined, path, &etag);
    if placed.is_err() {
        let _ = std::fs::remove_file(&joined);
    }
    placed?;
    let _ = std::fs::remove_dir_all(upload);
    Ok(etag)
}

/// Removes the staged files of PutObjects that never finished (the server
/// stopped during one), once at start. Multipart uploads stay until
/// completed or aborted, as in S3.
pub fn clear_staged(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root.join(UPLOADS_DIR)) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("put-")
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(error = %e, file = %entry.path().display(), "could not remove an unfinished S3 upload");
        }
    }
}

/// ETags known without reading their files again, by path, size and
/// modification time: what PutObject and CompleteMultipartUpload computed
/// and what an earlier read hashed. At most [`MAX_KNOWN_ETAGS`]; past that
/// the map starts over.
static KNOWN_ETAGS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<EtagKey, String>>> =
    std::sync::LazyLock::new(Default::default);
/// The ETags kept: 4,096 entries of a few hundred bytes.
const MAX_KNOWN_ETAGS: usize = 4096;

type EtagKey = (PathBuf, u64, std::time::SystemTime);

fn etag_key(path: &Path) -> std::io::Result<EtagKey> {
    let meta = std::fs::metadata(path)?;
    Ok((path.to_path_buf(), meta.len(), meta.modified()?))
}

/// Remembers the ETag of a version of a file.
fn remember_etag(key: EtagKey, etag: &str) {
    let mut known = KNOWN_ETAGS.lock().unwrap_or_else(|p| p.into_inner());
    if known.len() >= MAX_KNOWN_ETAGS
        && let Some(evicted) = known.keys().next().cloned()
    {
        known.remove(&evicted);
    }
    known.insert(key, etag.to_string());
}

/// The largest file not written through S3 whose ETag is its MD5, hashed
/// when first read: 16 MiB, a fraction of a second. A larger one (an
/// export's data file) gets an ETag of its size and time, as S3's own
/// ETags of multipart objects are no MD5 either, so that a HEAD or a list
/// page never reads gigabytes.
const MAX_HASHED_BYTES: u64 = 16 * 1024 * 1024;

/// An object's ETag: the MD5 of its content (quoted), hashed once per
/// version of the file.
pub(crate) fn etag_of(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let key = etag_key(path)?;
    if let Some(etag) = KNOWN_ETAGS.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(etag.clone());
    }
    if key.1 > MAX_HASHED_BYTES {
        let nanos = key.2.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        return Ok(format!("\"{:x}-1\"", md5::compute(format!("{}:{nanos}", key.1))));
    }
    let mut f = std::fs::File::open(path)?;
    let mut ctx = md5::Context::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.consume(&buf[..n]);
    }
    let etag = format!("\"{:x}\"", ctx.compute());
    remember_etag(key, &etag);
    Ok(etag)
}

pub(crate) fn headers_of(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

pub(crate) fn empty_body() -> Body {
    Body::from(Bytes::new())
}
