//! Multi-Region strong consistency (`MultiRegionConsistency: STRONG`):
//! three regions, where a write succeeds only once another region has it,
//! and a strongly consistent read in any region returns the latest write.
//!
//! - A write: before it, some other region must answer (a write that
//!   could not reach a second region is refused before it is made); after
//!   it, the request waits until a replicator has delivered everything the
//!   table's stream held at that moment to at least one other region
//!   (`replicator.rs` publishes each acknowledged position).
//! - A strongly consistent GetItem asks another region for its version of
//!   the item (with its stamp) and applies it first if it is newer. Every
//!   acknowledged write is in two of the three regions, and the read
//!   consults two, so it sees it.
//! - With one region down both go on; with two down they fail with
//!   `ServiceUnavailable` (503, retryable).
//!
//! Transactions are refused on such a table, as DynamoDB refuses them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use tidepool_store::replication::{ReplicatedChange, Stamp};

use super::api::TABLE_PATH;
use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};

/// How long a write waits for a second region to hold it.
pub const WRITE_QUORUM_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer heard from this recently needs no ping before a write.
const FRESH: Duration = Duration::from_secs(1);

/// How long a ping or a strongly consistent read waits for a peer.
const PEER_CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// The read endpoint a strongly consistent read asks a peer.
pub const READ_PATH: &str = "/tidepool/replication/read";

fn unavailable(table: &str, why: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        format!("Table {table} has multi-Region strong consistency and {why}"),
    )
}

/// The tables a write request names (PartiQL's from its statements).
fn tables_written(op: &str, raw: &Map<String, Json>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !out.iter().any(|x| x == n) {
            out.push(n.to_string());
        }
    };
    match op {
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            if let Some(t) = raw.get("TableName").and_then(Json::as_str) {
                add(t);
            }
        }
        "BatchWriteItem" => {
            if let Some(m) = raw.get("RequestItems").and_then(Json::as_object) {
                m.keys().for_each(|k| add(k));
            }
        }
        "TransactWriteItems" => {
            for item in raw.get("TransactItems").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default() {
                for member in ["Put", "Update", "Delete", "ConditionCheck"] {
                    if let Some(t) = item.get(member).and_then(|m| m.get("TableName")).and_then(Json::as_str) {
                        add(t);
                    }
                }
            }
        }
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => {
            let statements: Vec<&str> = match op {
                "ExecuteStatement" => raw.get("Statement").and_then(Json::as_str).into_iter().collect(),
                _ => {
                    let member = if op == "ExecuteTransaction" { "TransactStatements" } else { "Statements" };
                    let list = raw.get(member).and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
                    list.iter().filter_map(|s| s.get("Statement").and_then(Json::as_str)).collect()
                }
            };
            for s in statements {
                if let Ok(stmt) = tidepool_store::partiql::parse(s) {
                    add(stmt.table());
                }
            }
        }
        _ => {}
    }
    out
}

/// The strongly consistent tables among those a write names.
fn strong_tables(app: &App, op: &str, raw: &Map<String, Json>) -> Vec<std::sync::Arc<tidepool_store::TableHandle>> {
    if !app.global.has_peers() {
        return Vec::new();
    }
    tables_written(op, raw)
        .into_iter()
        .filter_map(|n| app.store.table(&n).ok())
        .filter(|t| t.def.settings.multi_region_strong)
        .collect()
}

/// Whether serving this request may wait on another region (it must then
/// run on a blocking thread).
pub fn needs_peers(app: &App, op: &str, raw: &Map<String, Json>) -> bool {
    if !app.global.has_peers() {
        return false;
    }
    if op == "GetItem" {
        return raw.get("ConsistentRead").and_then(Json::as_bool) == Some(true)
            && raw
                .get("TableName")
                .and_then(Json::as_str)
                .and_then(|t| app.store.table(t).ok())
                .is_some_and(|t| t.def.settings.multi_region_strong);
    }
    !strong_tables(app, op, raw).is_empty()
}

/// One request to a peer, waited for on this (blocking) thread.
fn call(app: &App, region: &str, path: &'static str, body: Json) -> Option<(u16, Vec<u8>)> {
    let peer = app.global.peer(region)?;
    let rt = app.global.runtime.get()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let body = body.to_string().into_bytes();
    rt.spawn(async move {
        let r = tokio::time::timeout(PEER_CALL_TIMEOUT, peer.post(path, body)).await;
        let _ = tx.send(r.ok().and_then(Result::ok));
    });
    rx.recv().ok().flatten()
}

fn other_regions(t: &tidepool_store::TableHandle) -> Vec<String> {
    t.def.replicas.iter().filter(|r| r.status == "ACTIVE").map(|r| r.region.clone()).collect()
}

/// The DynamoDB operations that write items (the bridge's list).
use crate::bridge::WRITES;

/// What a request needs from other regions before it is served.
pub fn before(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    // Writes staged for a trigger's exactly-once commit are made under the
    // store's write lock, later: no waiting on peers there.
    if !app.global.has_peers() || crate::dynamodb::staging() {
        return Ok(());
    }
    if op == "GetItem" && raw.get("ConsistentRead").and_then(Json::as_bool) == Some(true) {
        return before_consistent_read(app, raw);
    }
    if WRITES.contains(&op) {
        return before_write(app, op, raw);
    }
    Ok(())
}

/// What a request waits for from other regions once served.
pub fn after(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    if WRITES.contains(&op) && app.global.has_peers() && !crate::dynamodb::staging() {
        return after_write(app, op, raw);
    }
    Ok(())
}

/// Before a write: refused outright (nothing written) if no other region
/// of a strongly consistent table answers.
pub fn before_write(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    for t in strong_tables(app, op, raw) {
        if op == "TransactWriteItems" || op == "ExecuteTransaction" {
            return Err(ApiError::validation(format!(
                "Transactions are not supported on table {} with multi-Region strong consistency",
                t.def.name
            )));
        }
        let regions = other_regions(&t);
        if regions.iter().any(|r| app.global.heard_within(r, FRESH)) {
            continue;
        }
        let ping = regions.iter().any(|r| {
            let ok = matches!(call(app, r, TABLE_PATH, json!({"Ping": true})), Some((200, _)));
            if ok {
                app.global.heard(r);
            }
            ok
        });
        if !ping {
            return Err(unavailable(&t.def.name, "no other region of it can be reached"));
        }
    }
    Ok(())
}

/// After a write: waits until every change the table's stream held is in a
/// second region.
pub fn after_write(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    for t in strong_tables(app, op, raw) {
        let Some(spec) = &t.def.stream else { continue };
        let Some(meta) = app.store.stream_by_num(spec.num) else { continue };
        // Each shard's last record now: it and all before it must arrive.
        let heads: HashMap<String, u64> = meta
            .shards
            .iter()
            .filter_map(|s| {
                let last = app.store.subscribe_shard(meta.num, &s.id).and_then(|w| w.borrow().last_seq)?;
                Some((s.id.clone(), last))
            })
            .collect();
        let regions = other_regions(&t);
        let deadline = Instant::now() + WRITE_QUORUM_TIMEOUT;
        loop {
            if regions.iter().any(|r| app.global.delivered(t.def.id, r, &heads)) {
                break;
            }
            if Instant::now() > deadline {
                return Err(unavailable(&t.def.name, "no other region acknowledged the write in time"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// Before a strongly consistent GetItem: another region's newer version of
/// the item, if any, is applied here first.
pub fn before_consistent_read(app: &App, raw: &Map<String, Json>) -> ApiResult<()> {
    let Some(name) = raw.get("TableName").and_then(Json::as_str) else { return Ok(()) };
    let Ok(t) = app.store.table(name) else { return Ok(()) };
    if !t.def.settings.multi_region_strong {
        return Ok(());
    }
    let Some(key) = raw.get("Key") else { return Ok(()) };
    // A malformed key is the local read's to refuse, in DynamoDB's words.
    let Ok(keys) = crate::dynamodb::attr::item_from_json(key) else { return Ok(()) };
    if t.def.check_key_attrs(&keys, true).is_err() {
        return Ok(());
    }
    for region in other_regions(&t) {
        let body = match call(app, &region, READ_PATH, json!({"TableName": name, "Key": key})) {
            Some((200, body)) => body,
            // Reached, but it refused: the local read answers.
            Some((status, _)) if (400..500).contains(&status) => return Ok(()),
            _ => continue,
        };
        app.global.heard(&region);
        let answer: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        let (Some(ms), Some(node)) = (answer["Ms"].as_u64(), answer["Node"].as_u64()) else { return Ok(()) };
        let theirs = Stamp { ms, node: node as u32 };
        // Only a newer version is applied (a write, under the write lock;
        // `apply_replicated` also refuses one older than a tombstone is
        // kept for an item with no stamp here: a region that missed a
        // delete for that long must not bring the item back).
        if app.store.item_with_stamp(name, &keys)?.1.is_some_and(|(mine, _)| mine >= theirs) {
            return Ok(());
        }
        let item = match answer.get("Item").filter(|i| !i.is_null()) {
            Some(i) => Some(crate::dynamodb::attr::item_from_json(i)?),
            None => None,
        };
        app.store.apply_replicated(name, vec![ReplicatedChange { keys, item, stamp: theirs }])?;
        return Ok(());
    }
    Err(unavailable(name, "no other region of it can be reached for a strongly consistent read"))
}

/// `POST /tidepool/replication/read`: this region's version of an item,
/// with its stamp (none for an item never written as a global one).
pub(super) fn read(app: &App, body: &Map<String, Json>) -> ApiResult<Json> {
    let r = crate::dynamodb::request::Req(body);
    let name = r.str("TableName")?;
    let key = crate::dynamodb::attr::item_from_json(r.get("Key").ok_or_else(|| ApiError::validation("Key"))?)?;
    let (item, stamp) = app.store.item_with_stamp(name, &key)?;
    let mut out = json!({});
    if let Some((s, deleted)) = stamp {
        out["Ms"] = json!(s.ms);
        out["Node"] = json!(s.node);
        if !deleted && let Some(i) = item {
            out["Item"] = tidepool_store::value::json::item_to_json(&i);
        }
    }
    Ok(out)
}
