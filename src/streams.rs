//! The DynamoDB Streams JSON 1.0 protocol, on the same port as DynamoDB:
//! `POST /` with `X-Amz-Target: DynamoDBStreams_20120810.<Operation>`.
//!
//! Shard iterators are opaque tokens: the stream, shard, position and issue
//! time, authenticated with HMAC-SHA256 under a key kept in the store, so a
//! client cannot forge or alter one and iterators stay valid across a
//! restart. They expire after 15 minutes, as AWS's do.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;
use tidepool_store::messages;
use tidepool_store::now_ms;
use tidepool_store::stream::{ShardMeta, StartingPosition, StreamMeta, format_seq, parse_seq};
use tidepool_store::{MAX_READ_BYTES, Store};

use tidepool_store::value::json::write_str;

use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;
use crate::dynamodb::{App, Reply};

pub const TARGET_API: &str = "DynamoDBStreams_20120810";
/// The operations of the Streams API.
const OPERATIONS: [&str; 4] = ["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"];

/// Tidepool's extension of the Streams API, the push subscription of a
/// remote consumer (`tidepool workers --source`): answers as soon as a shard
/// has a durable record past a sequence number, or closes, or the wait
/// ends. Other engines answer it `UnknownOperationException`, which tells a
/// consumer to poll.
pub const WAIT_OPERATION: &str = "WaitForRecords";

/// The longest one `WaitForRecords` call waits (`TimeoutMillis`, and its
/// default): a client's connection is held that long, within the server's
/// idle timeout.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Whether `op` names a Streams operation.
pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op) || op == WAIT_OPERATION
}

/// `WaitForRecords`: `StreamArn`, `ShardId`, `AfterSequenceNumber`
/// (optional: without it any record will do) and `TimeoutMillis` (at most
/// [`MAX_WAIT`]). Answers the shard's `LastSequenceNumber` (absent while it
/// has none), whether it is `Closed`, and whether the wait `TimedOut`.
pub async fn wait_for_records(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("StreamArn")?;
    let shard = r.str("ShardId")?;
    let after = match r.str_opt("AfterSequenceNumber")? {
        Some(s) => {
            Some(parse_seq(s).ok_or_else(|| ApiError::validation(messages::stream::invalid_sequence_number(s)))?)
        }
        None => None,
    };
    let max = MAX_WAIT.as_millis() as i64;
    let wait = match r.int_opt("TimeoutMillis")? {
        None => max,
        Some(n) if (0..=max).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::validation(messages::stream::wait_timeout_out_of_range(n, max)));
        }
    };
    // A call that does not wait (a consumer asking where the shard's newest
    // record is) takes no waiter slot: it holds nothing.
    let _waiting = match wait {
        0 => None,
        _ => Some(app.streams.try_wait().ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "LimitExceededException", messages::stream::TOO_MANY_WAITERS)
        })?),
    };
    let mut stopping = app.streams.stopping.subscribe();
    let m = find_stream(app, arn)?;
    let mut rx = app
        .store
        .subscribe_shard(m.num, shard)
        .ok_or_else(|| ApiError::not_found(messages::stream::shard_not_in_stream(shard, arn)))?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait as u64);
    let answer = |last: Option<u64>, closed: bool, timed_out: bool| {
        let mut out = json!({"Closed": closed, "TimedOut": timed_out});
        if let Some(l) = last {
            out["LastSequenceNumber"] = format_seq(l).into();
        }
        out
    };
    loop {
        let signal = *rx.borrow_and_update();
        if signal.closed || signal.last_seq.is_some_and(|l| after.is_none_or(|a| l > a)) {
            return Ok(answer(signal.last_seq, signal.closed, false));
        }
        if *stopping.borrow_and_update() {
            return Ok(answer(signal.last_seq, signal.closed, true));
        }
        tokio::select! {
            changed = rx.changed() => {
                // The stream went (its table deleted): nothing more will come.
                if changed.is_err() {
                    return Ok(answer(signal.last_seq, true, false));
                }
            }
            _ = stopping.changed() => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(answer(signal.last_seq, signal.closed, true)),
        }
    }
}
/// AWS: shard iterators expire 15 minutes after they are returned.
pub const ITERATOR_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What the Streams API needs beside the store.
pub struct StreamsApi {
    key: [u8; 32],
    pub iterator_lifetime: Duration,
    /// `WaitForRecords` calls waiting now, and how many may (at most
    /// [`MAX_WAITERS`], and a quarter of the server's connections).
    waiting: std::sync::atomic::AtomicUsize,
    max_waiters: std::sync::atomic::AtomicUsize,
    /// Set when the server stops: every wait answers at once, so that the
    /// connections drain.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// `WaitForRecords` calls that may wait at once (and at most a quarter of
/// the server's connections): each holds a connection the server cannot
/// evict while it waits. Past this a call is answered
/// `LimitExceededException` at once, and its consumer polls.
pub const MAX_WAITERS: usize = 256;

impl StreamsApi {
    pub fn new(store: &Store, iterator_lifetime: Duration) -> anyhow::Result<Self> {
        Ok(StreamsApi {
            key: store.secret("shard-iterator")?,
            iterator_lifetime,
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiters: std::sync::atomic::AtomicUsize::new(MAX_WAITERS),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Ends every `WaitForRecords` wait, now and to come (the server stops).
    pub fn stop_waits(&self) {
        self.stopping.send_replace(true);
    }

    /// Holds waiters to a quarter of the server's `connections`: a waiting
    /// connection cannot be evicted for another client.
    pub fn fit_waiters(&self, connections: usize) {
        let max = (connections / 4).clamp(1, MAX_WAITERS);
        self.max_waiters.store(max, std::sync::atomic::Ordering::Relaxed);
    }

    fn try_wait(&self) -> Option<Waiter<'_>> {
        use std::sync::atomic::Ordering;
        let max = self.max_waiters.load(Ordering::Relaxed);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= max {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Waiter(&self.waiting))
    }
}

/// One `WaitForRecords` call counted among the waiters while it lives.
struct Waiter<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The table and label named by a stream ARN.
pub(crate) fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:dynamodb:")?;
    let (_, resource) = rest.split_once(":table/")?;
    resource.split_once("/stream/")
}

/// The stream an ARN names: `ValidationException` for a string that is not
/// a stream ARN (as DynamoDB Streams answers `fake-stream`),
/// `ResourceNotFoundException` for a well-formed ARN of no stream.
fn find_stream(app: &App, arn: &str) -> ApiResult<StreamMeta> {
    let (table, label) = parse_arn(arn).ok_or_else(|| ApiError::validation(messages::stream::INVALID_STREAM_ARN))?;
    app.store
        .stream(table, label)
        // A witness copy's stream is no client's (`global_tables::witness`).
        .filter(|_| crate::global_tables::witness::visible(app, table))
        .ok_or_else(|| ApiError::not_found(messages::stream::stream_not_found(arn)))
}

fn limit(r: &Req<'_>, name: &str, max: i64) -> ApiResult<Option<usize>> {
    match r.int_opt(name)? {
        None => Ok(None),
        Some(n) if (1..=max).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(ApiError::validation(if n < 1 {
            messages::stream::limit_too_small(n)
        } else {
            messages::stream::limit_too_large(n, max)
        })),
    }
}

pub fn dispatch(app: &App, op: &str, r: Req<'_>) -> ApiResult<Reply> {
    match op {
        "ListStreams" => list_streams(app, r).map(Reply::Json),
        "DescribeStream" => describe_stream(app, r).map(Reply::Json),
        "GetShardIterator" => get_shard_iterator(app, r).map(Reply::Json),
        "GetRecords" => get_records(app, r).map(Reply::Raw),
        _ => Err(ApiError::bare(StatusCode::BAD_REQUEST, "UnknownOperationException")),
    }
}

fn list_streams(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = r.str_opt("TableName")?;
    let limit = limit(&r, "Limit", 100)?.unwrap_or(100);
    let start = r.str_opt("ExclusiveStartStreamArn")?;
    if start.is_some_and(|s| parse_arn(s).is_none()) {
        return Err(ApiError::validation(messages::stream::INVALID_EXCLUSIVE_START_STREAM_ARN));
    }
    let arns: Vec<(String, StreamMeta)> = app
        .store
        .list_streams()
        .into_iter()
        .filter(|m| table.is_none_or(|t| m.table == t))
        // A witness copy's stream is no client's (`global_tables::witness`).
        .filter(|m| crate::global_tables::witness::visible(app, &m.table))
        .map(|m| (app.stream_arn(&m.table, &m.label), m))
        .collect();
    let skip = match start {
        Some(s) => arns.iter().position(|(a, _)| a == s).map_or(0, |i| i + 1),
        None => 0,
    };
    let page: Vec<&(String, StreamMeta)> = arns.iter().skip(skip).take(limit).collect();
    let mut out = json!({
        "Streams": page.iter().map(|(arn, m)| json!({"StreamArn": arn, "TableName": m.table, "StreamLabel": m.label})).collect::<Vec<_>>()
    });
    if skip + page.len() < arns.len()
        && let Some((last, _)) = page.last()
    {
        out["LastEvaluatedStreamArn"] = json!(last);
    }
    Ok(out)
}

fn shard_json(s: &ShardMeta) -> Json {
    let mut range = json!({"StartingSequenceNumber": format_seq(s.start_seq)});
    if let Some(e) = s.end_seq {
        range["EndingSequenceNumber"] = json!(format_seq(e));
    }
    let mut o = json!({"ShardId": s.id, "SequenceNumberRange": range});
    if let Some(p) = &s.parent {
        o["ParentShardId"] = json!(p);
    }
    o
}

fn describe_stream(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("StreamArn")?;
    let limit = limit(&r, "Limit", 100)?.unwrap_or(100);
    let start = r.str_opt("ExclusiveStartShardId")?;
    let filter = match r.obj_opt("ShardFilter")? {
        Some(f) => {
            f.enum_opt("Type", &["CHILD_SHARDS"])?
                .ok_or_else(|| crate::dynamodb::request::missing("shardFilter.type"))?;
            Some(
                f.str_opt("ShardId")?
                    .ok_or_else(|| ApiError::validation(messages::stream::CHILD_SHARDS_NEED_SHARD_ID))?,
            )
        }
        None => None,
    };
    let m = find_stream(app, arn)?;
    // Shards in ShardId order, as DynamoDB lists them.
    let mut shards: Vec<&ShardMeta> =
        m.shards.iter().filter(|s| filter.is_none_or(|p| s.parent.as_deref() == Some(p))).collect();
    shards.sort_by(|a, b| a.id.cmp(&b.id));
    // A start shard the stream does not have gives an empty page.
    let skip = match start {
        Some(id) => shards.iter().position(|s| s.id == id).map_or(shards.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&&ShardMeta> = shards.iter().skip(skip).take(limit).collect();
    let key_schema: Vec<Json> = std::iter::once(json!({"AttributeName": m.key_schema.hash.name, "KeyType": "HASH"}))
        .chain(m.key_schema.range.as_ref().map(|r| json!({"AttributeName": r.name, "KeyType": "RANGE"})))
        .collect();
    let mut d = json!({
        "StreamArn": arn,
        "StreamLabel": m.label,
        "StreamStatus": if m.enabled() { "ENABLED" } else { "DISABLED" },
        "StreamViewType": m.view_type.as_str(),
        "CreationRequestDateTime": m.created_ms as f64 / 1000.0,
        "TableName": m.table,
        "KeySchema": key_schema,
        "Shards": page.iter().map(|s| shard_json(s)).collect::<Vec<_>>(),
    });
    if skip + page.len() < shards.len()
        && let Some(last) = page.last()
    {
        d["LastEvaluatedShardId"] = json!(last.id);
    }
    Ok(json!({"StreamDescription": d}))
}

/// What a shard iterator holds.
struct Iterator {
    stream: u64,
    shard: String,
    position: u64,
    issued_ms: u64,
}

const ITERATOR_VERSION: u8 = 1;
const MAC_LEN: usize = 16;

impl StreamsApi {
    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        full[..MAC_LEN].try_into().expect("16 of 32 bytes")
    }

    fn encode(&self, it: &Iterator) -> String {
        let mut p = Vec::with_capacity(64);
        p.push(ITERATOR_VERSION);
        p.extend_from_slice(&it.stream.to_be_bytes());
        p.extend_from_slice(&it.position.to_be_bytes());
        p.extend_from_slice(&it.issued_ms.to_be_bytes());
        p.extend_from_slice(it.shard.as_bytes());
        let tag = self.mac(&p);
        p.extend_from_slice(&tag);
        B64.encode(p)
    }

    /// The ARN of the stream an iterator was issued for (authorization of
    /// GetRecords), if it is a valid iterator of a stream that exists.
    pub(crate) fn stream_of(&self, app: &App, token: &str) -> Option<String> {
        let it = self.decode(token).ok()?;
        let m = app.store.stream_by_num(it.stream)?;
        Some(app.stream_arn(&m.table, &m.label))
    }

    fn decode(&self, token: &str) -> ApiResult<Iterator> {
        let invalid = || ApiError::validation(messages::stream::INVALID_SHARD_ITERATOR);
        let raw = B64.decode(token).map_err(|_| invalid())?;
        if raw.len() < 25 + MAC_LEN || raw[0] != ITERATOR_VERSION {
            return Err(invalid());
        }
        let (p, tag) = raw.split_at(raw.len() - MAC_LEN);
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(p);
        mac.verify_truncated_left(tag).map_err(|_| invalid())?;
        let u = |r: std::ops::Range<usize>| u64::from_be_bytes(p[r].try_into().expect("8 bytes"));
        Ok(Iterator {
            stream: u(1..9),
            position: u(9..17),
            issued_ms: u(17..25),
            shard: String::from_utf8(p[25..].to_vec()).map_err(|_| invalid())?,
        })
    }
}

fn get_shard_iterator(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("StreamArn")?;
    let shard = r.str("ShardId")?;
    let kind = r
        .enum_opt("ShardIteratorType", &["TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"])?
        .ok_or_else(|| crate::dynamodb::request::missing("ShardIteratorType"))?;
    let seq = r.str_opt("SequenceNumber")?;
    let parse = || -> ApiResult<u64> {
        let s = seq.ok_or_else(|| ApiError::validation(messages::stream::sequence_number_required(kind)))?;
        parse_seq(s).ok_or_else(|| ApiError::validation(messages::stream::invalid_sequence_number(s)))
    };
    if seq.is_some() && matches!(kind, "TRIM_HORIZON" | "LATEST") {
        return Err(ApiError::validation(messages::stream::sequence_number_not_allowed(kind)));
    }
    let pos = match kind {
        "TRIM_HORIZON" => StartingPosition::TrimHorizon,
        "LATEST" => StartingPosition::Latest,
        "AT_SEQUENCE_NUMBER" => StartingPosition::AtSequence(parse()?),
        _ => StartingPosition::AfterSequence(parse()?),
    };
    let m = find_stream(app, arn)?;
    let position = app.store.shard_position(m.num, shard, pos)?;
    let token =
        app.streams.encode(&Iterator { stream: m.num, shard: shard.to_string(), position, issued_ms: now_ms() });
    Ok(json!({"ShardIterator": token}))
}

fn get_records(app: &App, r: Req<'_>) -> ApiResult<Vec<u8>> {
    let token = r.str("ShardIterator")?;
    if token.is_empty() || token.len() > 2048 {
        return Err(ApiError::validation(if token.is_empty() {
            messages::stream::SHARD_ITERATOR_EMPTY
        } else {
            messages::stream::SHARD_ITERATOR_TOO_LONG
        }));
    }
    let limit = limit(&r, "Limit", 1000)?.unwrap_or(1000);
    let it = app.streams.decode(token)?;
    let now = now_ms();
    let lifetime = app.streams.iterator_lifetime.as_millis() as u64;
    if now.saturating_sub(it.issued_ms) > lifetime {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredIteratorException",
            messages::stream::iterator_expired(it.issued_ms, now, lifetime),
        ));
    }
    let m = app.store.stream_by_num(it.stream).ok_or_else(|| ApiError::not_found(messages::stream::STREAM_GONE))?;
    let page = app.store.read_shard(it.stream, &it.shard, it.position, limit, MAX_READ_BYTES)?;
    // Each GetRecords call is one streams read request unit (billed).
    if app.store.table(&m.table).is_ok() {
        app.metrics.moved(&m.table, crate::metrics::Moved::StreamReads, 1);
    }
    // Written straight to bytes: a page holds up to 1000 records.
    let mut out = Vec::with_capacity(64 + page.records.iter().map(|r| 256 + 2 * r.size_bytes as usize).sum::<usize>());
    out.extend_from_slice(b"{\"Records\":[");
    let mark = app.store.stream_config().mark_replicated_writes;
    for (i, rec) in page.records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        rec.write_json(&mut out, m.view_type, &app.region, false, None, mark);
    }
    out.push(b']');
    if let Some(next) = page.next {
        let token =
            app.streams.encode(&Iterator { stream: it.stream, shard: it.shard, position: next, issued_ms: now });
        out.extend_from_slice(b",\"NextShardIterator\":");
        write_str(&mut out, &token);
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_parse() {
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/My.Table/stream/2024-01-01T00:00:00.000";
        assert_eq!(parse_arn(arn), Some(("My.Table", "2024-01-01T00:00:00.000")));
        assert_eq!(parse_arn("arn:aws:dynamodb:r:1:table/T/stream/L"), Some(("T", "L")));
        assert_eq!(parse_arn("nonsense"), None);
    }
}
