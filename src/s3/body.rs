//! Object bodies: uploads streamed to a file (decoding `aws-chunked`), and
//! downloads streamed from one, with `Range`.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame};

use super::{MAX_OBJECT_BYTES, MAX_XML_BODY_BYTES, S3Error, S3Result};
use crate::http::auth::S3Payload;
use crate::http::sigv4::ChunkChain;

/// Chunks in flight between the connection and the file writer (or the
/// file reader and the connection): with 64 KiB reads, about 1 MiB a
/// request.
const CHUNKS_IN_FLIGHT: usize = 16;
/// A download's read size.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// The longest chunk-size line of an `aws-chunked` body (a hex size and a
/// 64-digit chunk signature, with room).
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// The most bytes an `aws-chunked` body may carry after its last chunk:
/// trailing checksum headers take well under a hundred.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// What an upload wrote.
pub(super) struct Written {
    pub(super) md5_hex: String,
}

/// The `aws-chunked` content coding: `<hex size>[;chunk-signature=…]\r\n`,
/// the chunk, `\r\n`, …, a zero-size chunk, then trailers and a blank line.
/// With a [`ChunkChain`], every chunk (the last, empty one included) must
/// carry the signature that chains it to the one before.
#[derive(Default)]
struct Chunked {
    buf: Vec<u8>,
    /// Bytes of the current chunk still to come, and whether its `\r\n`
    /// is still to come after them.
    remaining: usize,
    in_chunk: bool,
    done: bool,
    /// The signatures to check, the current chunk's, and its data's hash.
    chain: Option<ChunkChain>,
    signature: String,
    hash: Option<sha2::Sha256>,
    /// Bytes after the last chunk so far (trailing headers).
    trailer: usize,
}

/// Why an `aws-chunked` body was refused.
#[derive(Debug)]
enum Fault {
    Malformed(String),
    /// A chunk's signature is missing or does not chain.
    Signature,
}

impl From<String> for Fault {
    fn from(m: String) -> Fault {
        Fault::Malformed(m)
    }
}

impl From<&str> for Fault {
    fn from(m: &str) -> Fault {
        Fault::Malformed(m.into())
    }
}

impl From<Fault> for S3Error {
    fn from(f: Fault) -> S3Error {
        match f {
            Fault::Malformed(m) => incomplete(m),
            Fault::Signature => S3Error::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
        }
    }
}

impl Chunked {
    fn signed(chain: Option<ChunkChain>) -> Chunked {
        Chunked { chain, ..Chunked::default() }
    }

    /// Checks the signature of the chunk that just ended (`data_sha256`).
    fn verify(&mut self, data_sha256: &str) -> Result<(), Fault> {
        match &mut self.chain {
            Some(chain) => {
                if chain.next(data_sha256, &self.signature) {
                    Ok(())
                } else {
                    Err(Fault::Signature)
                }
            }
            None => Ok(()),
        }
    }

    /// Decodes what `data` completes into `out`.
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Fault> {
        self.buf.extend_from_slice(data);
        let mut at = 0;
        loop {
            if self.done {
                // Trailers: taken and ignored, up to a bound (nothing after
                // the last chunk is stored, but it must not go on forever).
                self.trailer += self.buf.len() - at;
                self.buf.clear();
                if self.trailer > MAX_TRAILER_BYTES {
                    return Err("the aws-chunked body goes on after its last chunk".into());
                }
                return Ok(());
            }
            if self.in_chunk {
                let take = self.remaining.min(self.buf.len() - at);
                out.extend_from_slice(&self.buf[at..at + take]);
                if let Some(h) = &mut self.hash {
                    sha2::Digest::update(h, &self.buf[at..at + take]);
                }
                at += take;
                self.remaining -= take;
                if self.remaining > 0 {
                    break;
                }
                if self.buf.len() - at < 2 {
                    break;
                }
                if &self.buf[at..at + 2] != b"\r\n" {
                    return Err("a chunk does not end with CRLF".into());
                }
                at += 2;
                self.in_chunk = false;
                if let Some(h) = self.hash.take() {
                    self.verify(&sha256_hex(h))?;
                }
                continue;
            }
            let Some(end) = self.buf[at..].windows(2).position(|w| w == b"\r\n") else {
                if self.buf.len() - at > MAX_CHUNK_LINE_BYTES {
                    return Err("a chunk's size line is too long".into());
                }
                break;
            };
            let line = std::str::from_utf8(&self.buf[at..at + end]).map_err(|_| "a chunk's size line is not text")?;
            let mut fields = line.split(';');
            let size = fields.next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| format!("a chunk's size {size:?} is not hex"))?;
            if self.chain.is_some() {
                let signature = fields.find_map(|f| f.trim().strip_prefix("chunk-signature="));
                self.signature = signature.ok_or(Fault::Signature)?.to_string();
            }
            at += end + 2;
            if size == 0 {
                self.done = true;
                // The last chunk signs no data.
                self.verify(EMPTY_SHA256)?;
            } else {
                self.remaining = size;
                self.in_chunk = true;
                if self.chain.is_some() {
                    self.hash = Some(<sha2::Sha256 as sha2::Digest>::new());
                }
            }
        }
        self.buf.drain(..at);
        Ok(())
    }
}

/// The SHA-256 of nothing, which the last chunk's signature covers.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The SHA-256 a body must have, or the chunk signatures it must carry.
fn split(payload: &S3Payload) -> (Option<&str>, Option<ChunkChain>) {
    match payload {
        S3Payload::Unsigned => (None, None),
        S3Payload::Sha256(h) => (Some(h.as_str()), None),
        S3Payload::Chunks(chain) => (None, Some(chain.clone())),
    }
}

fn is_chunked(headers: &HeaderMap) -> bool {
    let sha = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let coding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
    sha.starts_with("STREAMING-") || coding.split(',').any(|c| c.trim() == "aws-chunked")
}

fn too_large() -> S3Error {
    S3Error::new(StatusCode::BAD_REQUEST, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
}

fn incomplete(e: impl std::fmt::Display) -> S3Error {
    S3Error::new(StatusCode::BAD_REQUEST, "IncompleteBody", format!("The request body could not be read: {e}"))
}

/// Streams `req`'s body into the file `path` (made with its directory),
/// decoding `aws-chunked`, up to [`MAX_OBJECT_BYTES`]; on failure the file
/// is removed.
/// The answer to a body whose SHA-256 is not the one its signature
/// declared.
fn sha256_mismatch() -> S3Error {
    S3Error::new(
        StatusCode::BAD_REQUEST,
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

fn sha256_hex(hasher: sha2::Sha256) -> String {
    use sha2::Digest;
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) async fn write_body(req: Request, path: PathBuf, payload: &S3Payload) -> S3Result<Written> {
    let (sha256, chain) = split(payload);
    let chunked = is_chunked(req.headers()) || chain.is_some();
    let declared = super::headers_of(req.headers(), "x-amz-decoded-content-length")
        .or_else(|| if chunked { None } else { super::headers_of(req.headers(), "content-length") })
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_OBJECT_BYTES) {
        return Err(too_large());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(S3Error::internal)?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let file_path = path.clone();
    // The body's SHA-256 is what was sent on the wire, `aws-chunked` framing
    // included; a signed chunked body declares a STREAMING- form instead.
    let want = sha256.map(str::to_ascii_lowercase);
    let mut wire = want.as_ref().map(|_| <sha2::Sha256 as sha2::Digest>::new());
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut file = std::fs::File::create(&file_path)?;
        let mut md5 = md5::Context::new();
        while let Some(chunk) = rx.blocking_recv() {
            md5.consume(&chunk);
            file.write_all(&chunk)?;
        }
        file.flush()?;
        Ok(format!("{:x}", md5.compute()))
    });
    let fed = feed(req.into_body(), chunked.then(|| Chunked::signed(chain)), &tx, wire.as_mut()).await;
    drop(tx);
    let wrote = writer.await.map_err(S3Error::internal).and_then(|r| r.map_err(S3Error::internal));
    let fed = match (fed, wire.map(sha256_hex), want) {
        (Ok(()), Some(got), Some(want)) if got != want => Err(sha256_mismatch()),
        (fed, _, _) => fed,
    };
    match (fed, wrote) {
        (Ok(()), Ok(md5_hex)) => Ok(Written { md5_hex }),
        (Err(e), _) | (Ok(()), Err(e)) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

async fn feed(
    mut body: Body,
    mut decoder: Option<Chunked>,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    mut wire: Option<&mut sha2::Sha256>,
) -> S3Result<()> {
    let mut total: u64 = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(incomplete)?;
        let Ok(data) = frame.into_data() else { continue };
        if let Some(h) = wire.as_deref_mut() {
            sha2::Digest::update(h, &data);
        }
        let data = match &mut decoder {
            Some(d) => {
                let mut out = Vec::with_capacity(data.len());
                d.feed(&data, &mut out)?;
                Bytes::from(out)
            }
            None => data,
        };
        total += data.len() as u64;
        if total > MAX_OBJECT_BYTES {
            return Err(too_large());
        }
        if !data.is_empty() && tx.send(data).await.is_err() {
            return Err(S3Error::internal("the file writer stopped"));
        }
    }
    if decoder.is_some_and(|d| !d.done) {
        return Err(incomplete("the aws-chunked body ended before its last chunk"));
    }
    Ok(())
}

/// An XML request body, at most [`MAX_XML_BODY_BYTES`].
pub(super) async fn read_xml(req: Request, payload: &S3Payload) -> S3Result<String> {
    let (sha256, chain) = split(payload);
    let chunked = is_chunked(req.headers()) || chain.is_some();
    let bytes = axum::body::to_bytes(req.into_body(), MAX_XML_BODY_BYTES)
        .await
        .map_err(|_| S3Error::new(StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", "Your request was too big."))?;
    if let Some(want) = sha256 {
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, &bytes);
        if sha256_hex(h) != want.to_ascii_lowercase() {
            return Err(sha256_mismatch());
        }
    }
    let bytes = if chunked {
        let mut d = Chunked::signed(chain);
        let mut out = Vec::new();
        d.feed(&bytes, &mut out)?;
        if !d.done {
            return Err(incomplete("the aws-chunked body ended before its last chunk"));
        }
        out
    } else {
        bytes.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| super::S3Error::malformed())
}

/// A `Range: bytes=…` header's first range within `len` bytes, as an
/// inclusive span; `Err` when it cannot be satisfied; `None` for a header
/// that is not a byte range (S3 then sends the whole object).
fn range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let spec = spec.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let span = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (start, end) => {
            let start: u64 = start.parse().ok()?;
            let end: u64 = if end.is_empty() { u64::MAX } else { end.parse().ok()? };
            if start >= len || end < start {
                return Some(Err(()));
            }
            (start, end.min(len - 1))
        }
    };
    Some(Ok(span))
}

/// A file's chunks for a response body.
struct FileBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}

/// GetObject and HeadObject.
pub(super) async fn get_object(path: PathBuf, key: String, headers: &HeaderMap, head: bool) -> S3Result<Response> {
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        _ => return Err(S3Error::no_key(&key)),
    };
    let len = meta.len();
    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    let etag_path = path.clone();
    let etag = tokio::task::spawn_blocking(move || super::etag_of(&etag_path))
        .await
        .map_err(S3Error::internal)?
        .map_err(S3Error::internal)?;
    let span = match super::headers_of(headers, "range").and_then(|r| range(&r, len)) {
        Some(Err(())) => {
            return Err(S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            ));
        }
        Some(Ok(span)) => Some(span),
        None => None,
    };
    let (start, count) = match span {
        Some((a, b)) => (a, b - a + 1),
        None => (0, len),
    };
    let body = if head || count == 0 {
        super::empty_body()
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let send = |r| tx.blocking_send(r).is_ok();
            let mut file =
                match std::fs::File::open(&path).and_then(|mut f| f.seek(std::io::SeekFrom::Start(start)).map(|_| f)) {
                    Ok(f) => f,
                    Err(e) => {
                        send(Err(e));
                        return;
                    }
                };
            let mut left = count;
            while left > 0 {
                let mut buf = vec![0u8; READ_CHUNK_BYTES.min(usize::try_from(left).unwrap_or(READ_CHUNK_BYTES))];
                match file.read(&mut buf) {
                    Ok(0) => {
                        send(Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the object shrank")));
                        return;
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        left -= n as u64;
                        if !send(Ok(Bytes::from(buf))) {
                            return;
                        }
                    }
                    Err(e) => {
                        send(Err(e));
                        return;
                    }
                }
            }
        });
        Body::new(FileBody { rx })
    };
    let status = if span.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).map_err(S3Error::internal);
    h.insert(header::CONTENT_LENGTH, value(count.to_string())?);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("binary/octet-stream"));
    h.insert(header::ETAG, value(etag)?);
    h.insert(header::LAST_MODIFIED, value(super::http_date(modified))?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((a, b)) = span {
        h.insert(header::CONTENT_RANGE, value(format!("bytes {a}-{b}/{len}"))?);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode_across_any_split() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        for split in 0..body.len() {
            let mut d = Chunked::default();
            let mut out = Vec::new();
            d.feed(&body[..split], &mut out).unwrap();
            d.feed(&body[split..], &mut out).unwrap();
            assert!(d.done, "split at {split}");
            assert_eq!(out, b"hello world", "split at {split}");
        }
        let mut d = Chunked::default();
        assert!(d.feed(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn ranges_are_read_as_s3_reads_them() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("items=1-2", 100), None);
    }
}
