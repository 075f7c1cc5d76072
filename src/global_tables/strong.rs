//! Multi-Region strong consistency (`MultiRegionConsistency: STRONG`):
//! three regions, where a write succeeds only once another region has it,
//! and a strongly consistent read in any region returns the latest write.
//!
//! - A write: before it, the items it writes are claimed here and in one
//!   other region, which answers with its version of each (applied here
//!   first if newer, so a condition or an update sees the latest
//!   acknowledged write). An item another region is writing is refused
//!   with `ReplicatedWriteConflictException`: two regions' claims on an
//!   item always meet in one of the three, since each takes two. A write
//!   that could not reach a second region is refused before it is made.
//!   After it, the request waits until a replicator has delivered
//!   everything the table's stream held at that moment to at least one
//!   other region (`replicator.rs` publishes each acknowledged position),
//!   and then releases its claims (each also lapses after
//!   [`CLAIM_TTL`]).
//! - A strongly consistent GetItem (or BatchGetItem, per table read with
//!   `ConsistentRead`) asks another region for its version of each item
//!   (with its stamp) and applies it first if it is newer. Every
//!   acknowledged write is in two of the three regions, and the read
//!   consults two, so it sees it.
//! - A strongly consistent Query or Scan of the table asks another region
//!   for its stamped items (and deletes) in the same key range, from the
//!   same ExclusiveStartKey, up to the same Limit or 1 MB; it applies the
//!   newer ones here and then reads its page here, ending it (with a
//!   LastEvaluatedKey) where the other region's ended if that comes
//!   first, so every item it returns was compared with a second region.
//! - With one region down both go on; with two down they fail with
//!   `ServiceUnavailable` (503, retryable).
//!
//! Transactions are refused on such a table, as DynamoDB refuses them.

use std::collections::HashMap;
use std::ops::Bound;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;
use tidepool_store::replication::{ReplicatedChange, Stamp};
use tidepool_store::value::Item;

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

/// The endpoint a strongly consistent Query or Scan asks a peer for its
/// page of stamped items.
pub const RANGE_PATH: &str = "/tidepool/replication/range";

/// Deletes a peer's page of stamped items holds at most: each costs the
/// reader a lookup.
const MAX_RANGE_DELETES: usize = 1_000;

/// Entries a peer's page of stamped items holds at most, so that its
/// answer stays within a peer call's time and body limit however small
/// the items (a page of small items then ends early, with a
/// LastEvaluatedKey, as DynamoDB's pages may).
const MAX_RANGE_ENTRIES: usize = 5_000;

/// The endpoint where a write claims its items in a peer (and releases
/// them).
pub const CLAIM_PATH: &str = "/tidepool/replication/claim";

/// How long a claim on an item holds at most: more than a write's longest
/// path (a peer call for each of two other regions before it, 3 s, the
/// write, and the wait for a second region after it, 2 s), so a claim
/// does not lapse while its write runs. A region that dies holding claims
/// blocks writes to those items no longer.
pub const CLAIM_TTL: Duration = Duration::from_secs(10);

const CONFLICT: &str = "ReplicatedWriteConflictException";

/// DynamoDB's words for an item being written in another region.
fn conflict() -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, CONFLICT, messages::global_table::WRITE_CONFLICT)
}

fn claims_full(table: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "ThrottlingException",
        messages::global_table::too_many_claims(table),
    )
}

fn unavailable(table: &str, why: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        messages::global_table::strong_unavailable(table, why),
    )
}

/// The tables a write request names (PartiQL's from its statements that
/// run: not a BatchExecuteStatement's denied ones).
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
            for s in crate::dynamodb::statements_of(op, raw) {
                if let Ok(stmt) = tidepool_store::partiql::parse(s) {
                    add(stmt.table());
                }
            }
        }
        _ => {}
    }
    out
}

/// The first strongly consistent table that a staged write request writes
/// to (a PartiQL `SELECT` reads the committed store: not staged).
fn staged_writes_to_strong(app: &App, op: &str, raw: &Map<String, Json>) -> Option<String> {
    use tidepool_store::partiql::Op;
    if !WRITES.contains(&op) {
        return None;
    }
    let names = match op {
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => crate::dynamodb::statements_of(op, raw)
            .into_iter()
            .filter_map(|s| tidepool_store::partiql::parse(s).ok())
            .filter(|s| !matches!(s.op, Op::Select(_)))
            .map(|s| s.table().to_string())
            .collect(),
        _ => tables_written(op, raw),
    };
    names.into_iter().find(|n| app.store.table(n).is_ok_and(|t| t.def.settings.multi_region_strong))
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
    // A replica Create or Delete asks the replica's region first
    // (`api::update`); replica auto scaling asks every replica's region
    // for its settings (`autoscaling::replica`).
    if op == "UpdateTable" && raw.contains_key("ReplicaUpdates") {
        return true;
    }
    if op == "DescribeTableReplicaAutoScaling" || op == "UpdateTableReplicaAutoScaling" {
        return true;
    }
    if matches!(op, "GetItem" | "BatchGetItem" | "TransactGetItems") {
        return !consistent_reads(app, op, raw).is_empty();
    }
    if op == "Query" || op == "Scan" {
        // Read from this thread by `consistent_page`, which blocks.
        return raw.get("ConsistentRead").and_then(Json::as_bool) == Some(true)
            && raw
                .get("TableName")
                .and_then(Json::as_str)
                .and_then(|n| app.store.table(n).ok())
                .is_some_and(|t| t.def.settings.multi_region_strong);
    }
    !strong_tables(app, op, raw).is_empty()
}

/// One request to a peer, waited for on this (blocking) thread: run on the
/// server's runtime, so that it also serves a handler's call, which runs
/// inside another runtime.
pub(super) fn call(app: &App, region: &str, path: &'static str, body: Json) -> Option<(u16, Vec<u8>)> {
    let peer = app.global.peer(region)?;
    let rt = app.global.runtime.get()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let body = body.to_string().into_bytes();
    rt.spawn(async move {
        let r = tokio::time::timeout(PEER_CALL_TIMEOUT, peer.post_quick(path, body)).await;
        let _ = tx.send(r.ok().and_then(Result::ok));
    });
    rx.recv().ok().flatten()
}

fn other_regions(t: &tidepool_store::TableHandle) -> Vec<String> {
    t.def.replicas.iter().filter(|r| r.status == "ACTIVE").map(|r| r.region.clone()).collect()
}

/// [`other_regions`], those heard from lately first: a region that is
/// down costs a timeout.
fn regions_to_ask(app: &App, t: &tidepool_store::TableHandle) -> Vec<String> {
    let mut regions = other_regions(t);
    regions.sort_by_key(|r| !app.global.heard_within(r, FRESH));
    regions
}

/// The DynamoDB operations that write items (the bridge's list).
use crate::bridge::WRITES;

/// A write's claims on items of strongly consistent tables: released by
/// [`release`] once the write is done (or lapsing after [`CLAIM_TTL`]).
#[derive(Default)]
#[must_use]
pub struct Held {
    claims: Vec<Claim>,
}

struct Claim {
    table: String,
    /// The write's own mark on its claims (`GlobalTables::claim`).
    token: u64,
    keys: Vec<Vec<u8>>,
    /// The key attributes of each item, as the peer is sent them.
    key_items: Vec<Json>,
    /// The region that claimed them too.
    peer: String,
    /// Regions asked to claim them that did not answer in time (they may
    /// have claimed them all the same).
    unanswered: Vec<String>,
}

/// A new write's token: unique among this process's writes (and unlikely
/// to meet one of an earlier run's, whose claims lapse anyway).
fn next_token() -> u64 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
    NEXT.get_or_init(|| std::sync::atomic::AtomicU64::new(tidepool_store::replication::now_stamp_ms() << 20))
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a request needs from other regions before it is served.
pub fn before(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<Held> {
    if !app.global.has_peers() {
        return Ok(Held::default());
    }
    // Writes staged for a trigger's exactly-once commit are made later, in
    // one transaction with the mapping's checkpoint, under the store's
    // write lock: they could neither claim their items nor wait for a
    // second region, and DynamoDB refuses transactions on such a table.
    if crate::dynamodb::staging() {
        if let Some(t) = staged_writes_to_strong(app, op, raw) {
            return Err(ApiError::validation(messages::global_table::no_exactly_once_on_strong(t)));
        }
        return Ok(Held::default());
    }
    if matches!(op, "GetItem" | "BatchGetItem" | "TransactGetItems") {
        before_consistent_read(app, op, raw)?;
        return Ok(Held::default());
    }
    if WRITES.contains(&op) {
        return before_write(app, op, raw);
    }
    Ok(Held::default())
}

/// What a request waits for from other regions once served.
pub fn after(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    if WRITES.contains(&op) && app.global.has_peers() && !crate::dynamodb::staging() {
        return after_write(app, op, raw);
    }
    Ok(())
}

/// Releases a write's claims: here, in the peer that shares them (waited
/// for, so that a write to the item in another region right after this
/// one's answer finds it free), and in any region that did not answer the
/// claim in time (in the background).
pub fn release(app: &App, held: Held) {
    for c in held.claims {
        app.global.release(&c.table, &c.keys, &app.region, c.token);
        let body = json!({
            "TableName": c.table, "Keys": c.key_items, "From": app.region, "Token": c.token, "Release": true,
        });
        // No peer holds it for certain when none answered the claim.
        if !c.peer.is_empty() && call(app, &c.peer, CLAIM_PATH, body.clone()).is_none() {
            tracing::debug!(table = c.table, region = c.peer, "a claim's release went unanswered; it lapses");
        }
        for region in c.unanswered {
            let (Some(peer), Some(rt)) = (app.global.peer(&region), app.global.runtime.get()) else { continue };
            let body = body.to_string().into_bytes();
            rt.spawn(async move {
                let _ = tokio::time::timeout(PEER_CALL_TIMEOUT, peer.post_quick(CLAIM_PATH, body)).await;
            });
        }
    }
}

/// The key attributes of the items `op` writes in `t`: `None` when the
/// request does not name them plainly (PartiQL) or names one malformed
/// (the local write refuses it in DynamoDB's words).
fn written_keys(op: &str, raw: &Map<String, Json>, t: &tidepool_store::TableHandle) -> Option<Vec<Item>> {
    let key_of_item = |item: &Item, is_key: bool| -> Option<Item> {
        t.def.check_key_attrs(item, is_key).ok()?;
        Some(t.def.key_schema.names().filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone()))).collect())
    };
    let key_of = |v: Option<&Json>, is_key: bool| -> Option<Item> {
        key_of_item(&crate::dynamodb::attr::item_from_json(v?).ok()?, is_key)
    };
    // The key a PartiQL write of this table names (none for a read, or a
    // statement that does not plan: the local write refuses it).
    let statement_key = |s: &Map<String, Json>| -> Option<Option<Item>> {
        use tidepool_store::partiql::{Mode, Plan};
        let stmt = tidepool_store::partiql::parse(s.get("Statement")?.as_str()?).ok()?;
        if stmt.table() != t.def.name {
            return Some(None);
        }
        let params = crate::dynamodb::partiql::parameters(&crate::dynamodb::request::Req(s)).ok()?;
        match tidepool_store::partiql::plan(&stmt, &params, &t.def, Mode::Single).ok()? {
            Plan::Insert { item } => Some(Some(key_of_item(&item, false)?)),
            Plan::Update { key, .. } | Plan::Delete { key, .. } => Some(Some(key_of_item(&key, true)?)),
            _ => Some(None),
        }
    };
    match op {
        "PutItem" => Some(vec![key_of(raw.get("Item"), false)?]),
        "UpdateItem" | "DeleteItem" => Some(vec![key_of(raw.get("Key"), true)?]),
        "BatchWriteItem" => {
            // Past BatchWriteItem's limits the local write refuses it.
            let tables = raw.get("RequestItems")?.as_object()?;
            let total: usize = tables.values().map(|l| l.as_array().map_or(0, Vec::len)).sum();
            let list = tables.get(&t.def.name)?.as_array()?;
            if list.is_empty() || total > MAX_CLAIM_KEYS {
                return None;
            }
            list.iter()
                .map(|w| match (w.get("PutRequest"), w.get("DeleteRequest")) {
                    (Some(p), None) => key_of(p.get("Item"), false),
                    (None, Some(d)) => key_of(d.get("Key"), true),
                    _ => None,
                })
                .collect()
        }
        // A PartiQL write claims its item as the item writes do.
        "ExecuteStatement" => statement_key(raw)?.map(|k| vec![k]),
        "BatchExecuteStatement" => {
            let list = raw.get("Statements")?.as_array()?;
            let mut keys = Vec::new();
            // A statement that does not parse or plan fails alone (the
            // others are still written, and claim their items); so does a
            // denied one, which claims nothing.
            for (position, s) in list.iter().enumerate() {
                if crate::dynamodb::partiql::is_denied(position) {
                    continue;
                }
                if let Some(Some(k)) = s.as_object().and_then(&statement_key) {
                    keys.push(k);
                }
            }
            (!keys.is_empty() && keys.len() <= MAX_CLAIM_KEYS).then_some(keys)
        }
        _ => None,
    }
}

/// Before a write: its items claimed here and in another region, whose
/// newer versions are applied here first; refused outright (nothing
/// written) if no other region of a strongly consistent table answers, or
/// another region is writing one of the items.
pub fn before_write(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<Held> {
    let mut held = Held::default();
    for t in strong_tables(app, op, raw) {
        if op == "TransactWriteItems" || op == "ExecuteTransaction" {
            release(app, held);
            return Err(ApiError::validation(messages::global_table::no_transactions_on_strong(&t.def.name)));
        }
        let r = match written_keys(op, raw, &t) {
            Some(keys) => claim(app, &t, keys).map(|c| held.claims.extend(c)),
            None => ping(app, &t),
        };
        if let Err(e) = r {
            release(app, held);
            return Err(e);
        }
    }
    Ok(held)
}

/// Some other region of `t` answers (recently, or now).
fn ping(app: &App, t: &tidepool_store::TableHandle) -> ApiResult<()> {
    let regions = other_regions(t);
    if regions.iter().any(|r| app.global.heard_within(r, FRESH)) {
        return Ok(());
    }
    let ping = regions.iter().any(|r| {
        let ok = matches!(call(app, r, TABLE_PATH, json!({"Ping": true})), Some((200, _)));
        if ok {
            app.global.heard(r);
        }
        ok
    });
    if ping { Ok(()) } else { Err(unavailable(&t.def.name, messages::global_table::NO_REGION_REACHED)) }
}

/// Claims `keys` of `t` here and in the first other region that answers,
/// and applies that region's newer versions of them here.
fn claim(app: &App, t: &tidepool_store::TableHandle, keys: Vec<Item>) -> ApiResult<Option<Claim>> {
    let name = t.def.name.clone();
    let token = next_token();
    let mut raw_keys: Vec<Vec<u8>> = keys.iter().map(|k| tidepool_store::key::item_key(&t.def.key_schema, k)).collect();
    raw_keys.sort();
    raw_keys.dedup();
    match app.global.claim(&name, &raw_keys, &app.region, token, CLAIM_TTL) {
        Ok(()) => {}
        Err(super::ClaimRefused::Conflict) => return Err(conflict()),
        Err(super::ClaimRefused::Full) => return Err(claims_full(&name)),
    }
    let key_items: Vec<Json> = keys.iter().map(tidepool_store::value::json::item_to_json).collect();
    let mine = match local_stamps(app, &name, &keys) {
        Ok(s) => s,
        Err(e) => {
            app.global.release(&name, &raw_keys, &app.region, token);
            return Err(e);
        }
    };
    let body = json!({
        "TableName": name, "Keys": key_items, "Stamps": stamps_json(&mine), "From": app.region, "Token": token,
    });
    let mut held =
        Claim { table: name.clone(), token, keys: raw_keys, key_items, peer: String::new(), unanswered: vec![] };
    for region in regions_to_ask(app, t) {
        let answer = match call(app, &region, CLAIM_PATH, body.clone()) {
            Some((200, answer)) => answer,
            Some((status, answer)) if (400..500).contains(&status) => {
                app.global.heard(&region);
                let answer: Json = serde_json::from_slice(&answer).unwrap_or(Json::Null);
                let kind = answer["__type"].as_str().unwrap_or_default();
                let refusal = if kind.ends_with(CONFLICT) {
                    conflict()
                } else if kind.ends_with("ThrottlingException") {
                    claims_full(&name)
                } else {
                    // A replica that does not know the table (yet): another
                    // region may.
                    tracing::debug!(table = name, region, answer = %answer, "a claim was refused");
                    continue;
                };
                release(app, Held { claims: vec![held] });
                return Err(refusal);
            }
            _ => {
                held.unanswered.push(region);
                continue;
            }
        };
        app.global.heard(&region);
        held.peer = region;
        let answer: Json = serde_json::from_slice(&answer).unwrap_or(Json::Null);
        let versions = answer["Items"].as_array().map(Vec::as_slice).unwrap_or_default();
        if let Err(e) = apply_newer(app, &name, &keys, &mine, versions) {
            release(app, Held { claims: vec![held] });
            return Err(e);
        }
        return Ok(Some(held));
    }
    release(app, Held { claims: vec![held] });
    Err(unavailable(&name, messages::global_table::NO_REGION_REACHED))
}

/// This region's stamp of each item (none for one never written as a
/// global one): what a peer is sent, so that it answers only with newer
/// items.
fn local_stamps(app: &App, table: &str, keys: &[Item]) -> ApiResult<Vec<Option<Stamp>>> {
    keys.iter().map(|k| Ok(app.store.item_with_stamp(table, k)?.1.map(|(s, _)| s))).collect()
}

fn stamps_json(stamps: &[Option<Stamp>]) -> Json {
    stamps.iter().map(|s| s.map_or(Json::Null, |s| json!([s.ms, s.node]))).collect()
}

/// Applies here each version another region sent (`{"Ms", "Node",
/// "Item"}`, or `{}` for an item it has no stamp for) that is newer than
/// this region's (`mine`, read before the peer was asked).
fn apply_newer(app: &App, table: &str, keys: &[Item], mine: &[Option<Stamp>], versions: &[Json]) -> ApiResult<()> {
    let mut changes = Vec::new();
    for ((keys, mine), answer) in keys.iter().zip(mine).zip(versions) {
        let (Some(ms), Some(node)) = (answer["Ms"].as_u64(), answer["Node"].as_u64()) else { continue };
        let theirs = Stamp { ms, node: node as u32 };
        // Only a newer version is applied (`apply_replicated` checks again
        // under the write lock, and also refuses one older than a tombstone
        // is kept for an item with no stamp here: a region that missed a
        // delete for that long must not bring the item back).
        if mine.is_some_and(|mine| mine >= theirs) {
            continue;
        }
        let item = match answer.get("Item").filter(|i| !i.is_null()) {
            Some(i) => Some(crate::dynamodb::attr::item_from_json(i)?),
            None => None,
        };
        changes.push(ReplicatedChange { keys: keys.clone(), item, stamp: theirs });
    }
    if !changes.is_empty() {
        app.store.apply_replicated(table, changes)?;
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
                return Err(unavailable(&t.def.name, messages::global_table::NO_REGION_ACKNOWLEDGED));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// The items a strongly consistent read names in strongly consistent
/// tables: GetItem's, and BatchGetItem's of each table read with
/// `ConsistentRead`. A malformed key is left out: the local read refuses
/// it in DynamoDB's words.
fn consistent_reads(app: &App, op: &str, raw: &Map<String, Json>) -> Vec<(String, Vec<Item>)> {
    let strong = |name: &str| app.store.table(name).ok().filter(|t| t.def.settings.multi_region_strong);
    let keys_of = |t: &tidepool_store::TableHandle, list: &[&Json]| -> Option<Vec<Item>> {
        list.iter()
            .map(|k| {
                let keys = crate::dynamodb::attr::item_from_json(k).ok()?;
                t.def.check_key_attrs(&keys, true).ok()?;
                Some(keys)
            })
            .collect()
    };
    let mut out = Vec::new();
    match op {
        "GetItem" if raw.get("ConsistentRead").and_then(Json::as_bool) == Some(true) => {
            let name = raw.get("TableName").and_then(Json::as_str).unwrap_or_default();
            if let (Some(t), Some(key)) = (strong(name), raw.get("Key"))
                && let Some(keys) = keys_of(&t, &[key])
            {
                out.push((name.to_string(), keys));
            }
        }
        "TransactGetItems" => {
            // A transaction reads the latest committed version of each item.
            let mut by_table: Vec<(String, Vec<&Json>)> = Vec::new();
            for get in raw.get("TransactItems").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default() {
                let get = &get["Get"];
                let (Some(name), Some(key)) = (get["TableName"].as_str(), get.get("Key")) else { continue };
                match by_table.iter_mut().find(|(n, _)| n == name) {
                    Some((_, keys)) => keys.push(key),
                    None => by_table.push((name.to_string(), vec![key])),
                }
            }
            for (name, list) in by_table {
                let Some(t) = strong(&name) else { continue };
                // Past TransactGetItems' 100 items the local read refuses it.
                if list.len() > MAX_READ_KEYS {
                    continue;
                }
                if let Some(keys) = keys_of(&t, &list) {
                    out.push((name, keys));
                }
            }
        }
        "BatchGetItem" => {
            let Some(tables) = raw.get("RequestItems").and_then(Json::as_object) else { return out };
            for (name, read) in tables {
                if read.get("ConsistentRead").and_then(Json::as_bool) != Some(true) {
                    continue;
                }
                let Some(t) = strong(name) else { continue };
                let list: Vec<&Json> = read.get("Keys").and_then(Json::as_array).into_iter().flatten().collect();
                // Past BatchGetItem's 100 keys the local read refuses it.
                if list.is_empty() || list.len() > MAX_READ_KEYS {
                    continue;
                }
                if let Some(keys) = keys_of(&t, &list) {
                    out.push((name.clone(), keys));
                }
            }
        }
        _ => {}
    }
    out
}

/// Most items one read of a peer names: BatchGetItem's 100.
const MAX_READ_KEYS: usize = 100;

/// Before a strongly consistent GetItem or BatchGetItem: another region's
/// newer version of each item, if any, is applied here first.
pub fn before_consistent_read(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    for (name, keys) in consistent_reads(app, op, raw) {
        consult_items(app, &name, &keys)?;
    }
    Ok(())
}

/// Another region's newer version of each of `keys` (at most 100) of a
/// strongly consistent table, if any, applied here: what a strongly
/// consistent read of them needs first. A table that is not (or not
/// here) needs nothing.
pub fn consult_items(app: &App, name: &str, keys: &[Item]) -> ApiResult<()> {
    let Ok(t) = app.store.table(name) else { return Ok(()) };
    if !t.def.settings.multi_region_strong || !app.global.has_peers() || crate::dynamodb::staging() {
        return Ok(());
    }
    let key_items: Vec<Json> = keys.iter().map(tidepool_store::value::json::item_to_json).collect();
    let mine = local_stamps(app, name, keys)?;
    let request = json!({"TableName": name, "Keys": key_items, "Stamps": stamps_json(&mine)});
    let mut reached = false;
    for region in regions_to_ask(app, &t) {
        let body = match call(app, &region, READ_PATH, request.clone()) {
            Some((200, body)) => body,
            // A region without the table (not yet, or no longer) has
            // nothing to say: another may.
            Some((_, answer)) if String::from_utf8_lossy(&answer).contains("ResourceNotFoundException") => continue,
            // Reached, but it refused: the local read answers.
            Some((status, _)) if (400..500).contains(&status) => {
                reached = true;
                break;
            }
            _ => continue,
        };
        app.global.heard(&region);
        let answer: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        let versions = answer["Items"].as_array().map(Vec::as_slice).unwrap_or_default();
        apply_newer(app, name, keys, &mine, versions)?;
        reached = true;
        break;
    }
    if !reached {
        return Err(unavailable(name, messages::global_table::NO_REGION_FOR_READ));
    }
    Ok(())
}

/// Before a strongly consistent Query or Scan of a strongly consistent
/// table: another region's stamped items in the page's range (`range` of
/// physical keys, walked `forward` or back from `after`, in `segment`, up
/// to `limit` items) are applied here when newer. Returns where that
/// region's page ended, if it ended before the range did: the read here
/// goes no further ([`tidepool_store::query::ReadParams::until`]). A
/// region that does not answer, or answers something else than such a
/// page, is passed over for the next; with none, `ServiceUnavailable`.
pub fn consistent_page(
    app: &App,
    t: &tidepool_store::TableHandle,
    range: &tidepool_store::query::KeyRange,
    forward: bool,
    after: Option<&Item>,
    segment: Option<(u32, u32)>,
    limit: Option<usize>,
) -> ApiResult<Option<Item>> {
    if !t.def.settings.multi_region_strong || !app.global.has_peers() || crate::dynamodb::staging() {
        return Ok(None);
    }
    // A bad start key is the client's fault, answered as the read here
    // answers it, before any region is asked.
    // (A Query's start key was checked, in its words, before this.)
    tidepool_store::query::check_start(t, &tidepool_store::query::Source::Table, range, after, segment, false)?;
    let name = t.def.name.as_str();
    let request = json!({
        "TableName": name,
        "From": app.region,
        "Lo": bound_json(&range.0),
        "Hi": bound_json(&range.1),
        "Forward": forward,
        "After": after.map(tidepool_store::value::json::item_to_json),
        "Segment": segment.map(|(s, n)| json!([s, n])),
        "Limit": limit,
    });
    for region in regions_to_ask(app, t) {
        let Some((200, body)) = call(app, &region, RANGE_PATH, request.clone()) else { continue };
        let Some((keys, entries, cut)) = peer_page(t, range, forward, after, &body) else {
            tracing::warn!(table = name, region, "a region answered a strongly consistent read with no page");
            continue;
        };
        app.global.heard(&region);
        let mine = local_stamps(app, name, &keys)?;
        apply_newer(app, name, &keys, &mine, &entries)?;
        return Ok(cut);
    }
    Err(unavailable(name, messages::global_table::NO_REGION_FOR_READ))
}

/// Pages of another region a strongly consistent Query of a local index
/// compares at most: the index's order is not the table's, so its
/// partition is compared first, up to this many pages (about 80,000
/// items); past them the read answers from this region's copy of the rest
/// rather than refuse a large partition.
const MAX_PARTITION_PAGES: usize = 16;

/// Before a strongly consistent Query of a local secondary index of a
/// strongly consistent table: another region's newer items of the
/// partition (`range`, the table's keys of it) applied here, up to
/// [`MAX_PARTITION_PAGES`] of them.
pub fn consistent_partition(
    app: &App,
    t: &tidepool_store::TableHandle,
    range: &tidepool_store::query::KeyRange,
) -> ApiResult<()> {
    let mut after = None;
    for _ in 0..MAX_PARTITION_PAGES {
        match consistent_page(app, t, range, true, after.as_ref(), None, None)? {
            Some(cut) => after = Some(cut),
            None => return Ok(()),
        }
    }
    tracing::debug!(table = t.def.name, "a partition too large to compare whole for a local index's strong read");
    Ok(())
}

/// A peer's answer to [`RANGE_PATH`], checked: each entry's keys match
/// the table's schema (and its item's), and the cut lies in the range,
/// past the start. `None` for anything else.
#[allow(clippy::type_complexity)]
fn peer_page(
    t: &tidepool_store::TableHandle,
    range: &tidepool_store::query::KeyRange,
    forward: bool,
    after: Option<&Item>,
    body: &[u8],
) -> Option<(Vec<Item>, Vec<Json>, Option<Item>)> {
    let answer: Json = serde_json::from_slice(body).ok()?;
    let entries = answer.get("Entries")?.as_array()?.clone();
    let mut keys = Vec::with_capacity(entries.len());
    for e in &entries {
        let k = crate::dynamodb::attr::item_from_json(e.get("Keys")?).ok()?;
        t.def.check_key_attrs(&k, true).ok()?;
        e.get("Ms")?.as_u64()?;
        e.get("Node")?.as_u64()?;
        if let Some(item) = e.get("Item") {
            let item = crate::dynamodb::attr::item_from_json(item).ok()?;
            if t.def.key_of(&item) != k {
                return None;
            }
        }
        keys.push(k);
    }
    let cut = match answer.get("Cut").filter(|c| !c.is_null()) {
        Some(c) => {
            let c = crate::dynamodb::attr::item_from_json(c).ok()?;
            t.def.check_key_attrs(&c, true).ok()?;
            let raw = tidepool_store::key::item_key(&t.def.key_schema, &c);
            let past = after.is_none_or(|a| {
                let a = tidepool_store::key::item_key(&t.def.key_schema, a);
                if forward { raw > a } else { raw < a }
            });
            if !past || !tidepool_store::query::in_range(range, &raw) {
                return None;
            }
            Some(c)
        }
        None => None,
    };
    Some((keys, entries, cut))
}

fn bound_json(b: &Bound<Vec<u8>>) -> Json {
    match b {
        Bound::Included(k) => json!({"Included": hex::encode(k)}),
        Bound::Excluded(k) => json!({"Excluded": hex::encode(k)}),
        Bound::Unbounded => Json::Null,
    }
}

fn bound_of(v: Option<&Json>) -> ApiResult<Bound<Vec<u8>>> {
    let bad = || ApiError::validation(messages::global_table::PEER_BAD_BOUND);
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Bound::Unbounded) };
    let key = |s: &Json| s.as_str().and_then(|s| hex::decode(s).ok()).ok_or_else(bad);
    match (v.get("Included"), v.get("Excluded")) {
        (Some(k), None) => Ok(Bound::Included(key(k)?)),
        (None, Some(k)) => Ok(Bound::Excluded(key(k)?)),
        _ => Err(bad()),
    }
}

/// `POST /tidepool/replication/range`: this region's stamped items (and
/// deletes) of a global table in a range of its keys, for another
/// region's strongly consistent Query or Scan: `{"Entries": [{"Keys",
/// "Ms", "Node", "Item"?}], "Cut"?}`.
pub(super) fn range(app: &App, body: &Map<String, Json>) -> ApiResult<Json> {
    use tidepool_store::replication::PageCaps;
    let r = crate::dynamodb::request::Req(body);
    let name = r.str("TableName")?;
    let range = (bound_of(r.get("Lo"))?, bound_of(r.get("Hi"))?);
    let forward = r.get("Forward").and_then(Json::as_bool).unwrap_or(true);
    let after = match r.get("After").filter(|a| !a.is_null()) {
        Some(a) => Some(crate::dynamodb::attr::item_from_json(a)?),
        None => None,
    };
    let segment = match r.get("Segment").and_then(Json::as_array).map(Vec::as_slice) {
        Some([s, n]) => match (s.as_u64(), n.as_u64()) {
            (Some(s), Some(n)) if s < n && n <= u64::from(tidepool_store::query::MAX_TOTAL_SEGMENTS) => {
                Some((s as u32, n as u32))
            }
            _ => return Err(ApiError::validation(messages::global_table::PEER_BAD_SEGMENT)),
        },
        _ => None,
    };
    let t = app.store.table(name)?;
    let from = r.str("From")?;
    if !t.def.replicas.iter().any(|x| x.region == from) {
        return Err(ApiError::validation(messages::global_table::peer_not_replica(name, &app.region, from)));
    }
    let caps = PageCaps {
        limit: r.get("Limit").and_then(Json::as_u64).map_or(usize::MAX, |l| l.max(1) as usize),
        max_bytes: tidepool_store::query::MAX_PAGE_BYTES,
        max_deletes: MAX_RANGE_DELETES,
        max_entries: MAX_RANGE_ENTRIES,
    };
    let (entries, cut) = app.store.stamped_page(name, range, forward, after.as_ref(), segment, caps)?;
    let entries: Vec<Json> = entries
        .iter()
        .map(|e| {
            let mut o = json!({
                "Keys": tidepool_store::value::json::item_to_json(&e.keys),
                "Ms": e.stamp.ms,
                "Node": e.stamp.node,
            });
            if let Some(i) = &e.item {
                o["Item"] = tidepool_store::value::json::item_to_json(i);
            }
            o
        })
        .collect();
    Ok(json!({"Entries": entries, "Cut": cut.as_ref().map(tidepool_store::value::json::item_to_json)}))
}

/// `POST /tidepool/replication/read`: this region's version of an item,
/// with its stamp (none for an item never written as a global one).
pub(super) fn read(app: &App, body: &Map<String, Json>) -> ApiResult<Json> {
    let r = crate::dynamodb::request::Req(body);
    let name = r.str("TableName")?;
    if let Some(list) = r.get("Keys").and_then(Json::as_array) {
        if list.len() > MAX_READ_KEYS {
            return Err(ApiError::validation(messages::global_table::peer_too_many_reads(MAX_READ_KEYS)));
        }
        let keys: Vec<Item> = list.iter().map(crate::dynamodb::attr::item_from_json).collect::<ApiResult<_>>()?;
        return versions(app, name, &keys, &r);
    }
    let key = crate::dynamodb::attr::item_from_json(
        r.get("Key").ok_or_else(|| ApiError::validation(messages::global_table::PEER_KEY))?,
    )?;
    version(app, name, &key)
}

/// This region's version of an item: `{"Ms", "Node"}` and the `Item`
/// unless its stamp marks a delete; `{}` for an item never written as a
/// global one.
fn version(app: &App, table: &str, key: &Item) -> ApiResult<Json> {
    let (item, stamp) = app.store.item_with_stamp(table, key)?;
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

/// Most items one claim names: BatchWriteItem's 25, the most a write
/// names.
const MAX_CLAIM_KEYS: usize = 25;

/// `POST /tidepool/replication/claim`: another region (`From`) claims
/// items of a strongly consistent table for its write (`ReplicatedWrite
/// ConflictException` if a third region, or this one, is writing one of
/// them), answered with this region's version of each (`Items`, in the
/// order of `Keys`); with `Release`, it releases them.
pub(super) fn claim_items(app: &App, body: &Map<String, Json>) -> ApiResult<Json> {
    let r = crate::dynamodb::request::Req(body);
    let name = r.str("TableName")?;
    let from = r.str("From")?;
    let t = app.store.table(name)?;
    if !t.def.replicas.iter().any(|x| x.region == from) {
        return Err(ApiError::validation(messages::global_table::peer_not_replica(name, &app.region, from)));
    }
    let list = r
        .get("Keys")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::validation(messages::global_table::peer_member_required("Keys")))?;
    if list.len() > MAX_CLAIM_KEYS {
        return Err(ApiError::validation(messages::global_table::peer_too_many_claims(MAX_CLAIM_KEYS)));
    }
    let mut keys = Vec::with_capacity(list.len());
    for k in list {
        let k = crate::dynamodb::attr::item_from_json(k)?;
        t.def.check_key_attrs(&k, true)?;
        keys.push(k);
    }
    let token = r
        .get("Token")
        .and_then(Json::as_u64)
        .ok_or_else(|| ApiError::validation(messages::global_table::peer_member_required("Token")))?;
    let mut raw_keys: Vec<Vec<u8>> = keys.iter().map(|k| tidepool_store::key::item_key(&t.def.key_schema, k)).collect();
    raw_keys.sort();
    raw_keys.dedup();
    if r.get("Release").and_then(Json::as_bool) == Some(true) {
        app.global.release(name, &raw_keys, from, token);
        return Ok(json!({}));
    }
    // The asking region's stamp of each item: an item is sent only if
    // newer here.
    match app.global.claim(name, &raw_keys, from, token, CLAIM_TTL) {
        Ok(()) => {}
        Err(super::ClaimRefused::Conflict) => return Err(conflict()),
        Err(super::ClaimRefused::Full) => return Err(claims_full(name)),
    }
    versions(app, name, &keys, &r).inspect_err(|_| app.global.release(name, &raw_keys, from, token))
}

/// `{"Items": [...]}`: this region's version of each of `keys` (in their
/// order), the item itself left out where the asker's stamp (`Stamps`, in
/// the same order) is as new.
fn versions(app: &App, table: &str, keys: &[Item], r: &crate::dynamodb::request::Req<'_>) -> ApiResult<Json> {
    let theirs: Vec<Option<Stamp>> = match r.get("Stamps").and_then(Json::as_array) {
        Some(l) => l
            .iter()
            .map(|s| Some(Stamp { ms: s.get(0)?.as_u64()?, node: u32::try_from(s.get(1)?.as_u64()?).ok()? }))
            .collect(),
        None => Vec::new(),
    };
    let items: ApiResult<Vec<Json>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut v = version(app, table, k)?;
            let mine = v["Ms"].as_u64().zip(v["Node"].as_u64()).map(|(ms, node)| Stamp { ms, node: node as u32 });
            if let (Some(theirs), Some(mine)) = (theirs.get(i).copied().flatten(), mine)
                && mine <= theirs
                && let Some(o) = v.as_object_mut()
            {
                o.remove("Item");
            }
            Ok(v)
        })
        .collect();
    Ok(json!({"Items": items?}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BatchExecuteStatement's denied statement writes nothing: its table
    /// is none of those the request writes (no claim, no wait for a peer).
    #[test]
    fn a_batchs_denied_statements_write_no_table() {
        let raw = json!({"Statements": [
            {"Statement": "INSERT INTO \"strong\" VALUE {'pk': 'a'}"},
            {"Statement": "INSERT INTO \"open\" VALUE {'pk': 'a'}"},
        ]});
        let raw = raw.as_object().unwrap();
        assert_eq!(tables_written("BatchExecuteStatement", raw), ["strong", "open"]);
        let denied = vec![Some("denied".to_string()), None];
        crate::dynamodb::partiql::with_denials(denied, || {
            assert_eq!(tables_written("BatchExecuteStatement", raw), ["open"]);
        });
        assert_eq!(tables_written("BatchExecuteStatement", raw), ["strong", "open"]);
    }
}
