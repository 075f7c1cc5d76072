//! ListBuckets, and ListObjectsV2 and ListObjects over a bucket's files.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;

use super::{MAX_KEYS, S3Error, S3Result, XMLNS, escape, iso_date, param, xml_response};

/// The query parameters of a list request (anything else on a bucket's GET
/// is another operation).
pub(super) const PARAMS: &[&str] = &[
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "marker",
];

/// One object: its key, size and time.
struct Entry {
    key: String,
    size: u64,
    modified: std::time::SystemTime,
    path: PathBuf,
}

/// Every file under `dir` as a key (its path relative to `root`, with `/`).
fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A prefix under another object's file names no directory.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let Ok(rel) = path.strip_prefix(root) else { continue };
            let Some(key) = rel.to_str() else { continue };
            let meta = entry.metadata()?;
            out.push(Entry {
                key: key.replace(std::path::MAIN_SEPARATOR, "/"),
                size: meta.len(),
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                path,
            });
        }
    }
    Ok(())
}

/// Whether a bucket's directory holds any object.
pub(super) fn has_files(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() || (entry.file_type()?.is_dir() && has_files(&entry.path())?) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) async fn buckets(root: PathBuf) -> S3Result<Response> {
    let body = super::blocking(move || {
        let mut names = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && super::valid_bucket(&name) {
                    let created = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                    names.push((name, created));
                }
            }
        }
        names.sort();
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>{OWNER}</ID><DisplayName>tidepool</DisplayName></Owner><Buckets>"
        );
        for (name, created) in names {
            out.push_str(&format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                escape(&name),
                iso_date(created)
            ));
        }
        out.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(out)
    })
    .await?;
    Ok(xml_response(StatusCode::OK, body))
}

/// The owner id S3 lists buckets and objects under (a canonical user id's
/// shape; there is one account here).
const OWNER: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

/// S3's `encoding-type=url`: everything but unreserved characters and `/`
/// percent-encoded.
fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

pub(super) async fn objects(dir: PathBuf, bucket: String, q: Vec<(String, String)>) -> S3Result<Response> {
    super::exists(&dir, &bucket)?;
    let v2 = param(&q, "list-type") == Some("2");
    let prefix = param(&q, "prefix").unwrap_or_default().to_string();
    let delimiter = param(&q, "delimiter").filter(|d| !d.is_empty()).map(str::to_string);
    let url = match param(&q, "encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => return Err(S3Error::invalid("Invalid Encoding Method specified in Request")),
    };
    let max_keys = match param(&q, "max-keys") {
        None => MAX_KEYS,
        Some(m) => match m.parse::<i64>() {
            Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS),
            _ => return Err(S3Error::invalid("Provided max-keys not an integer or within integer range")),
        },
    };
    let token = param(&q, "continuation-token").map(str::to_string);
    let after = match (&token, v2) {
        (Some(t), true) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|_| S3Error::invalid("The continuation token provided is incorrect"))?;
            Some(
                String::from_utf8(bytes)
                    .map_err(|_| S3Error::invalid("The continuation token provided is incorrect"))?,
            )
        }
        _ if v2 => param(&q, "start-after").map(str::to_string),
        _ => param(&q, "marker").map(str::to_string),
    };
    // Only the directory the prefix names is walked (`exp/AWSDynamoDB/`
    // walks that directory, not the bucket).
    let root = dir.clone();
    let start = match prefix.rfind('/') {
        Some(at) if super::object_path(&dir, &prefix[..at]).is_ok() => dir.join(&prefix[..at]),
        _ => dir.clone(),
    };
    let mut entries = super::blocking(move || {
        let mut out = Vec::new();
        walk(&root, &start, &mut out).map_err(S3Error::internal)?;
        Ok(out)
    })
    .await?;
    entries.retain(|e| e.key.starts_with(&prefix));
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    // Keys and common prefixes in one order, past the marker.
    enum Item<'e> {
        Object(&'e Entry),
        Prefix(String),
    }
    let mut items: Vec<Item> = Vec::new();
    for e in &entries {
        let common = delimiter.as_deref().and_then(|d| {
            let rest = &e.key[prefix.len()..];
            rest.find(d).map(|at| format!("{prefix}{}", &rest[..at + d.len()]))
        });
        // Keys up to the marker are past; so is a common prefix the marker
        // names (the previous page ended on it).
        if after.as_deref().is_some_and(|a| e.key.as_str() <= a || common.as_deref() == Some(a)) {
            continue;
        }
        match common {
            Some(p) => {
                if !matches!(items.last(), Some(Item::Prefix(last)) if *last == p) {
                    items.push(Item::Prefix(p));
                }
            }
            None => items.push(Item::Object(e)),
        }
    }
    let truncated = items.len() > max_keys;
    items.truncate(max_keys);
    let last = items.last().map(|i| match i {
        Item::Object(e) => e.key.clone(),
        Item::Prefix(p) => p.clone(),
    });
    let enc = |s: &str| if url { url_encode(s) } else { escape(s) };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        escape(&bucket),
        enc(&prefix)
    );
    if v2 {
        out.push_str(&format!("<KeyCount>{}</KeyCount>", items.len()));
        if let Some(t) = &token {
            out.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", escape(t)));
        }
        if let Some(s) = param(&q, "start-after") {
            out.push_str(&format!("<StartAfter>{}</StartAfter>", enc(s)));
        }
        if truncated && let Some(l) = &last {
            let next = base64::engine::general_purpose::STANDARD.encode(l);
            out.push_str(&format!("<NextContinuationToken>{next}</NextContinuationToken>"));
        }
    } else {
        out.push_str(&format!("<Marker>{}</Marker>", enc(param(&q, "marker").unwrap_or_default())));
        if truncated
            && delimiter.is_some()
            && let Some(l) = &last
        {
            out.push_str(&format!("<NextMarker>{}</NextMarker>", enc(l)));
        }
    }
    out.push_str(&format!("<MaxKeys>{max_keys}</MaxKeys>"));
    if let Some(d) = &delimiter {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
    }
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    out.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
    let owner = !v2 || param(&q, "fetch-owner") == Some("true");
    for item in &items {
        match item {
            Item::Object(e) => {
                let path = e.path.clone();
                let etag = tokio::task::spawn_blocking(move || super::etag_of(&path))
                    .await
                    .map_err(S3Error::internal)?
                    .map_err(S3Error::internal)?;
                out.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size>",
                    enc(&e.key),
                    iso_date(e.modified),
                    escape(&etag),
                    e.size
                ));
                if owner {
                    out.push_str(&format!("<Owner><ID>{OWNER}</ID><DisplayName>tidepool</DisplayName></Owner>"));
                }
                out.push_str("<StorageClass>STANDARD</StorageClass></Contents>");
            }
            Item::Prefix(p) => out.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(p))),
        }
    }
    out.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, out))
}
