//! Replicators: for each global table and each of its other regions, a
//! task reads the table's stream and sends the changes made here (not
//! those replicated here from elsewhere) to that region, in order per
//! shard, so in order per item.
//!
//! A shard's position is a system entry (`grep/<table id>/<region>/<shard>`)
//! written after the peer acknowledged what precedes it: a crash repeats
//! at most the last batch, which the peer's stamps make harmless. A child
//! shard starts once its parent is read to its end. A peer that is down
//! is retried with backoff; nothing is skipped, and the stream keeps the
//! records for its retention period (24 hours).

use std::collections::{BTreeMap, HashMap};
use std::sync::Weak;
use std::time::Duration;

use tidepool_store::replication::Stamp;
use tidepool_store::stream::{StartingPosition, StreamRecord};

use super::api;
use crate::dynamodb::App;

/// How often the supervisor looks for tables whose replica set changed.
const SUPERVISE_EVERY: Duration = Duration::from_millis(200);

/// How often tombstones past their retention are collected
/// ([`tidepool_store::replication::TOMBSTONE_RETENTION_MS`]).
const COLLECT_TOMBSTONES_EVERY: Duration = Duration::from_secs(600);

/// How often an idle replicator looks at its shards' last sequence
/// numbers (a read of a watch value each, no store read).
const IDLE_POLL: Duration = Duration::from_millis(2);

/// Records read from a shard per batch, and their bytes: one request to
/// the peer, within its body limit.
pub const BATCH_RECORDS: usize = 500;
pub const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Backoff after a failed send: from the first to the last.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts and stops replicators as tables' replica sets change.
pub async fn run(app: Weak<App>) {
    // Replicators by table, region and the replica's creation (a region
    // removed and added again starts afresh).
    let mut running: HashMap<(u64, String, u64), tokio::task::JoinHandle<()>> = HashMap::new();
    // Replica jobs (adding or removing a region), by table and region.
    let mut jobs: HashMap<(u64, String), (String, tokio::task::JoinHandle<()>)> = HashMap::new();
    // Announcements of replicas deleted here, by their `gdel/` key.
    let mut departures: HashMap<Vec<u8>, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut collector: Option<tokio::task::JoinHandle<()>> = None;
    let mut collected_at = tokio::time::Instant::now();
    loop {
        let Some(a) = app.upgrade() else { break };
        announce_departures(&a, &app, &mut departures);
        if collected_at.elapsed() >= COLLECT_TOMBSTONES_EVERY && collector.as_ref().is_none_or(|h| h.is_finished()) {
            collected_at = tokio::time::Instant::now();
            let store = a.store.clone();
            collector = Some(tokio::task::spawn_blocking(move || {
                let _hold = store.hold();
                match store.collect_tombstones(tidepool_store::replication::tombstone_horizon()) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(tombstones = n, "collected global tables' tombstones"),
                    Err(e) => tracing::warn!(error = %e, "collect global tables' tombstones"),
                }
            }));
        }
        let peers = a.global.peer_regions();
        let mut want: Vec<(u64, String, String, u64)> = Vec::new();
        let (names, _) = a.store.list_tables(None, usize::MAX);
        for name in names {
            let Ok(t) = a.store.table(&name) else { continue };
            for r in &t.def.replicas {
                if !peers.contains(&r.region) {
                    continue;
                }
                if r.status != "DELETING" && r.status != "CREATION_FAILED" {
                    want.push((t.def.id, name.clone(), r.region.clone(), r.created_ms));
                }
                let key = (t.def.id, r.region.clone());
                match jobs.get(&key) {
                    // A replica being made, or sent its settings, that is
                    // to be deleted instead: its job stops (it may wait on
                    // a peer that is gone).
                    Some((kind, h)) if kind != "DELETING" && r.status == "DELETING" => h.abort(),
                    Some((_, h)) if !h.is_finished() => continue,
                    _ => {}
                }
                let job = match r.status.as_str() {
                    "ACTIVE" if !r.index_changes.is_empty() => {
                        tokio::spawn(api::send_index_changes(app.clone(), t.def.id, name.clone(), r.region.clone()))
                    }
                    "ACTIVE" if r.overrides.unsent => {
                        tokio::spawn(api::send_overrides(app.clone(), t.def.id, name.clone(), r.region.clone()))
                    }
                    "CREATING" => {
                        tokio::spawn(api::create_replica(app.clone(), t.def.id, name.clone(), r.region.clone()))
                    }
                    "DELETING" => {
                        tokio::spawn(api::delete_replica(app.clone(), t.def.id, name.clone(), r.region.clone()))
                    }
                    _ => continue,
                };
                jobs.insert(key, (r.status.clone(), job));
            }
        }
        drop(a);
        jobs.retain(|_, (_, h)| !h.is_finished());
        running.retain(|k, h| {
            let keep = !h.is_finished() && want.iter().any(|(id, _, r, e)| (*id, r.clone(), *e) == *k);
            if !keep {
                h.abort();
            }
            keep
        });
        for (id, table, region, epoch) in want {
            running
                .entry((id, region.clone(), epoch))
                .or_insert_with(|| tokio::spawn(replicate(app.clone(), id, table, region, epoch)));
        }
        tokio::time::sleep(SUPERVISE_EVERY).await;
    }
    for h in running.into_values().chain(jobs.into_values().map(|(_, h)| h)) {
        h.abort();
    }
}

/// Where a replicator is in one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The next sequence number to read.
    At(u64),
    /// Read to its end (a closed shard).
    Done,
}

fn checkpoint_prefix(table: u64, region: &str) -> Vec<u8> {
    format!("grep/{table:016x}/{region}/").into_bytes()
}

/// Positions of one replica (`epoch`: its creation time), so that a region
/// removed and added again never resumes from its earlier positions.
fn epoch_prefix(table: u64, region: &str, epoch: u64) -> Vec<u8> {
    format!("grep/{table:016x}/{region}/{epoch}/").into_bytes()
}

fn load_positions(app: &App, table: u64, region: &str, epoch: u64) -> BTreeMap<String, Position> {
    let prefix = epoch_prefix(table, region, epoch);
    let mut out = BTreeMap::new();
    for (k, v) in app.store.sys_scan(&prefix).unwrap_or_default() {
        let shard = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        let pos = match <[u8; 8]>::try_from(v.as_slice()) {
            Ok(b) => Position::At(u64::from_be_bytes(b)),
            Err(_) => Position::Done,
        };
        out.insert(shard, pos);
    }
    out
}

fn save_position(
    app: &App,
    table: u64,
    region: &str,
    epoch: u64,
    shard: &str,
    pos: Position,
) -> tidepool_store::error::Result<()> {
    let mut key = epoch_prefix(table, region, epoch);
    key.extend_from_slice(shard.as_bytes());
    let value = match pos {
        Position::At(seq) => seq.to_be_bytes().to_vec(),
        Position::Done => b"done".to_vec(),
    };
    app.store.sys_write(vec![(key, Some(value))])
}

const LEAVING_PREFIX: &[u8] = b"gdel/";

/// Records that this region's replica of `def` was deleted (DeleteTable):
/// the supervisor tells each other region to drop it from its replicas.
pub fn announce_deleted(app: &App, def: &tidepool_store::table::TableDef) {
    let entries: Vec<_> = def
        .replicas
        .iter()
        .map(|r| {
            let key = [LEAVING_PREFIX, def.name.as_bytes(), b"\0", r.region.as_bytes()].concat();
            (key, Some(Vec::new()))
        })
        .collect();
    // A version 2017.11.29 table's group is gone with it here.
    let mut entries = entries;
    if def.replicas.iter().any(|r| r.legacy) {
        entries.push((format!("lgt/{}", def.name).into_bytes(), None));
    }
    if !entries.is_empty()
        && let Err(e) = app.store.sys_write(entries)
    {
        tracing::warn!(table = def.name, error = %e, "record a deleted replica for its peers");
    }
}

/// Tells the regions named by `gdel/` entries that a replica here is gone.
fn announce_departures(
    app: &std::sync::Arc<App>,
    weak: &Weak<App>,
    jobs: &mut HashMap<Vec<u8>, tokio::task::JoinHandle<()>>,
) {
    jobs.retain(|_, h| !h.is_finished());
    for (key, _) in app.store.sys_scan(LEAVING_PREFIX).unwrap_or_default() {
        if jobs.contains_key(&key) {
            continue;
        }
        let rest = String::from_utf8_lossy(&key[LEAVING_PREFIX.len()..]).into_owned();
        let Some((table, region)) = rest.split_once('\0') else { continue };
        let (weak, key2, table, region) = (weak.clone(), key.clone(), table.to_string(), region.to_string());
        jobs.insert(
            key,
            tokio::spawn(async move {
                let me = weak.upgrade().map(|a| a.region.clone()).unwrap_or_default();
                let body = serde_json::json!({"TableName": table, "RemoveReplica": me});
                // A region that no longer has the table has nothing to drop.
                let _ = api::send_until_done(&weak, &region, api::TABLE_PATH, body).await;
                if let Some(a) = weak.upgrade()
                    && let Err(e) = a.store.sys_write(vec![(key2, None)])
                {
                    tracing::warn!(error = %e, "forget a deleted replica's announcement");
                }
            }),
        );
    }
}

/// Drops a replicator's positions (its replica was removed).
pub fn forget_positions(app: &App, table: u64, region: &str) {
    let prefix = checkpoint_prefix(table, region);
    let keys: Vec<_> = app.store.sys_scan(&prefix).unwrap_or_default().into_iter().map(|(k, _)| (k, None)).collect();
    if !keys.is_empty()
        && let Err(e) = app.store.sys_write(keys)
    {
        tracing::warn!(error = %e, "forget replication positions");
    }
}

/// The most JSON one batch to a peer holds: items whose JSON is much larger
/// than their DynamoDB size (lists of booleans, say) end a batch early.
const MAX_BATCH_JSON_BYTES: usize = 8 * 1024 * 1024;

/// The apply endpoint's body for the local changes among `records`, written
/// straight from the items (no JSON tree), and how many records it covers
/// (all, or fewer once [`MAX_BATCH_JSON_BYTES`] is reached); `None` when
/// there are no local changes among them.
///
/// A record without its new image (a stream whose view type has none:
/// DynamoDB takes any view type for a global table) is sent as the item is
/// now (`current`, with its stamp) while it still holds the record's change
/// (the same stamp); once a later change holds it, that change's own
/// record sends it, so nothing not yet durable is sent.
fn changes_body(
    table: &str,
    records: &[StreamRecord],
    current: impl Fn(&tidepool_store::value::Item) -> Option<(Option<tidepool_store::value::Item>, Stamp)>,
) -> (Option<Vec<u8>>, usize) {
    use tidepool_store::value::json::{write_item, write_str};
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"TableName\":");
    write_str(&mut out, table);
    out.extend_from_slice(b",\"Changes\":[");
    let mut any = false;
    let mut covered = records.len();
    for (i, r) in records.iter().enumerate() {
        if out.len() >= MAX_BATCH_JSON_BYTES {
            covered = i;
            break;
        }
        let Some(stamp) = r.stamp else { continue };
        if r.origin.replicated.is_some() {
            continue;
        }
        let fetched;
        let image = match (r.event, &r.new_image) {
            (tidepool_store::stream::EventName::Remove, _) => None,
            (_, Some(i)) => Some(i),
            (_, None) => {
                // Only the item as this record left it: a later change,
                // perhaps not yet durable, goes with its own record (or,
                // replicated here, is its region's to send).
                let Some((item, now)) = current(&r.keys) else { continue };
                if now != stamp {
                    continue;
                }
                fetched = item;
                fetched.as_ref()
            }
        };
        if any {
            out.push(b',');
        }
        any = true;
        out.extend_from_slice(b"{\"Keys\":");
        write_item(&mut out, &r.keys);
        out.extend_from_slice(b",\"Item\":");
        match image {
            Some(i) => write_item(&mut out, i),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(format!(",\"Ms\":{},\"Node\":{}}}", stamp.ms, stamp.node).as_bytes());
    }
    out.extend_from_slice(b"]}");
    (any.then_some(out), covered)
}

/// Ships `table`'s local changes to `region` until the task is aborted or
/// the table goes.
async fn replicate(app: Weak<App>, id: u64, table: String, region: String, epoch: u64) {
    let mut positions = match app.upgrade() {
        Some(a) => load_positions(&a, id, &region, epoch),
        None => return,
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        let Some(a) = app.upgrade() else { return };
        let Ok(handle) = a.store.table(&table) else { return };
        if handle.def.id != id {
            return;
        }
        let Some(peer) = a.global.peer(&region) else { return };
        let Some(meta) = handle.def.stream.as_ref().and_then(|s| a.store.stream_by_num(s.num)) else {
            drop(a);
            tokio::time::sleep(SUPERVISE_EVERY).await;
            continue;
        };
        // Taken before the pass reads: an idle pass read all committed
        // before this value was.
        let passes = a.global.passes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let mut read_any = false;
        let mut behind = false;
        let mut failed = false;
        let mut shards = meta.shards.clone();
        shards.sort_by_key(|s| s.start_seq);
        for shard in &shards {
            if positions.get(&shard.id) == Some(&Position::Done) {
                // Known delivered, also after a restart (`strong.rs`).
                a.global.record_delivered(id, &region, &shard.id, u64::MAX);
                continue;
            }
            // A child waits for its parent, so an item's changes go in order.
            if let Some(p) = &shard.parent
                && meta.shard(p).is_some()
                && positions.get(p) != Some(&Position::Done)
            {
                continue;
            }
            let from = match positions.get(&shard.id) {
                Some(Position::At(seq)) => *seq,
                _ => a
                    .store
                    .shard_position(meta.num, &shard.id, StartingPosition::TrimHorizon)
                    .unwrap_or(shard.start_seq),
            };
            // Only what is durable is sent: a change a crash could still
            // take back must not live on in another region alone. A
            // shard's signal moves once its commit is acknowledged.
            let durable = a.store.subscribe_shard(meta.num, &shard.id).map(|w| *w.borrow());
            let mut page = match a.store.read_shard(meta.num, &shard.id, from, BATCH_RECORDS, BATCH_BYTES) {
                Ok(mut p) => {
                    if let Some(signal) = durable
                        && let Some(cut) = p.records.iter().position(|r| signal.last_seq.is_none_or(|l| r.seq > l))
                    {
                        p.next = Some(p.records[cut].seq);
                        p.records.truncate(cut);
                    }
                    p
                }
                Err(tidepool_store::StoreError::TrimmedDataAccess(_)) => {
                    // Past retention: what is left starts at the trim horizon.
                    tracing::warn!(table, region, shard = shard.id, "replication fell behind the stream's retention");
                    positions.remove(&shard.id);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(table, region, error = %e, "read the stream for replication");
                    failed = true;
                    break;
                }
            };
            let current = |keys: &tidepool_store::value::Item| match a.store.item_with_stamp(&table, keys) {
                Ok((item, Some((stamp, _)))) => Some((item, stamp)),
                _ => None,
            };
            let (body, covered) = changes_body(&table, &page.records, current);
            // Caught up means no shard had more than half a batch waiting:
            // under steady writes a pass never reads nothing.
            behind |= page.records.len() * 2 >= BATCH_RECORDS || covered < page.records.len();
            if covered < page.records.len() {
                page.next = Some(page.records[covered].seq);
                page.records.truncate(covered);
            }
            if let Some(body) = body {
                match peer.post(api::APPLY_PATH, body).await {
                    Ok((200, _)) => {
                        backoff = BACKOFF_MIN;
                        a.global.heard(&region);
                    }
                    Ok((status, body)) => {
                        tracing::warn!(table, region, status, body = %String::from_utf8_lossy(&body), "peer refused changes; retrying");
                        failed = true;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(table, region, error = %e, "peer unreachable");
                        failed = true;
                        break;
                    }
                }
            }
            let next = match page.next {
                Some(n) => Position::At(n),
                None => Position::Done,
            };
            // What the peer now holds, for writes that wait for a second
            // region (`strong.rs`).
            let delivered = match next {
                Position::At(n) => n,
                Position::Done => u64::MAX,
            };
            a.global.record_delivered(id, &region, &shard.id, delivered);
            if positions.get(&shard.id) != Some(&next) {
                // On a blocking thread: a commit may wait for an fsync.
                let saved = {
                    let (a, region, shard) = (a.clone(), region.clone(), shard.id.clone());
                    tokio::task::spawn_blocking(move || save_position(&a, id, &region, epoch, &shard, next)).await
                };
                if let Err(e) = saved.unwrap_or_else(|_| Err(tidepool_store::StoreError::Corrupt("join".into()))) {
                    tracing::warn!(error = %e, "save a replication position");
                    failed = true;
                    break;
                }
                positions.insert(shard.id.clone(), next);
            }
            read_any |= !page.records.is_empty();
        }
        // Positions of shards retention removed are dropped.
        positions.retain(|s, _| meta.shard(s).is_some());
        if failed {
            drop(a);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        if !behind {
            a.global.idle.lock().unwrap_or_else(|p| p.into_inner()).insert((id, region.clone()), passes);
        }
        if read_any {
            continue;
        }
        // Idle: wait until an open shard has a record past the position,
        // or the layout changes.
        let watches: Vec<_> = shards
            .iter()
            .filter(|s| s.end_seq.is_none())
            .filter_map(|s| a.store.subscribe_shard(meta.num, &s.id).map(|w| (s.id.clone(), w)))
            .collect();
        let layout = a.store.subscribe_layout(meta.num);
        let layout_at = layout.as_ref().map(|l| *l.borrow());
        drop(a);
        let waited = std::time::Instant::now();
        loop {
            tokio::time::sleep(IDLE_POLL).await;
            let fresh = watches.iter().any(|(shard, w)| {
                let s = *w.borrow();
                s.closed
                    || match (s.last_seq, positions.get(shard)) {
                        (Some(last), Some(Position::At(at))) => last >= *at,
                        (Some(_), None) => true,
                        _ => false,
                    }
            });
            let moved = layout.as_ref().map(|l| *l.borrow()) != layout_at;
            if fresh || moved || waited.elapsed() > SUPERVISE_EVERY {
                break;
            }
        }
    }
}

/// Whether the replicator of `table` to `region` has read its stream to
/// the end since `after` passes.
pub fn idle_since(app: &App, table: u64, region: &str) -> Option<u64> {
    app.global.idle.lock().unwrap_or_else(|p| p.into_inner()).get(&(table, region.to_string())).copied()
}
