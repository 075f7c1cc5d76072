//! What each table used over time, integrated as it changes and kept
//! across restarts: storage (and point-in-time recovery's and backups')
//! in byte-seconds at each [`ACCRUAL_PERIOD`], provisioned capacity in
//! unit-seconds (so auto scaling's changes are priced as they happened),
//! and the metrics' counts of consumed units and data moved since the last
//! accrual. Each table's accruals are a system entry (`cost/<table>`),
//! written at each period; one made again under the name starts afresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidepool_store::table::BillingMode;

use super::ITEM_OVERHEAD_BYTES;
use crate::dynamodb::App;
use crate::metrics::Moved;

/// How often storage and capacity are sampled, and the accruals saved.
pub const ACCRUAL_PERIOD: Duration = Duration::from_secs(60);

const PREFIX: &str = "cost/";

/// The metrics' counts at the last accrual (this server's: they start at
/// zero with it, as these do when read back).
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    read: f64,
    write: f64,
    moved: [u64; 4],
}

/// One table's accruals (members a later version adds read as zero).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Accrued {
    pub table_id: u64,
    /// When metering began (epoch seconds): the table's creation, or the
    /// first server start that metered it.
    pub since: f64,
    /// When the last accrual was taken.
    pub last: f64,
    pub read_units: f64,
    pub write_units: f64,
    /// Provisioned capacity's unit-seconds (the table and its global
    /// indexes).
    pub read_capacity_secs: f64,
    pub write_capacity_secs: f64,
    /// Byte-seconds stored (items, their overhead, index entries); of the
    /// table alone while point-in-time recovery was on; of its backups.
    pub storage_byte_secs: f64,
    pub pitr_byte_secs: f64,
    pub backup_byte_secs: f64,
    /// Streams read request units, bytes restored, exported, imported.
    pub moved: [u64; 4],
    /// Each secondary index's share of the above, by name.
    pub indexes: std::collections::BTreeMap<String, IndexAccrued>,
    #[serde(skip)]
    seen: Seen,
}

/// One secondary index's accruals (a global index's units and capacity;
/// a local index's units are its table's, and its storage its own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexAccrued {
    pub read_units: f64,
    pub write_units: f64,
    pub read_capacity_secs: f64,
    pub write_capacity_secs: f64,
    pub storage_byte_secs: f64,
    /// Its entries' bytes at the last accrual.
    pub storage_bytes: u64,
    #[serde(skip)]
    seen: (f64, f64),
}

const MOVED: [Moved; 4] = [Moved::StreamReads, Moved::Restored, Moved::Exported, Moved::Imported];

/// The accruals of every table, by name.
#[derive(Default)]
pub struct Meter {
    /// `None` until read back from the store.
    accrued: Mutex<Option<HashMap<String, Accrued>>>,
}

/// What a table holds now, for the next period's accrual.
pub struct Now {
    pub storage_bytes: u64,
    pub table_bytes: u64,
    pub backup_bytes: u64,
    pub pitr: bool,
    pub read_capacity: f64,
    pub write_capacity: f64,
}

impl Meter {
    /// Brings every table's accruals up to `now` (epoch seconds) and
    /// returns them with what each holds now; tables gone are dropped.
    pub fn accrue(&self, app: &App, now: f64) -> Vec<(String, Accrued, Now)> {
        let mut guard = self.lock();
        Self::accrue_locked(&mut guard, app, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, Accrued>>> {
        self.accrued.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accrue_locked(guard: &mut Option<HashMap<String, Accrued>>, app: &App, now: f64) -> Vec<(String, Accrued, Now)> {
        if guard.is_none() {
            // Read back once; a store that cannot be read now is tried
            // again next time (never taken for an empty meter, which the
            // next save would write over the saved one).
            match load(app) {
                Some(map) => *guard = Some(map),
                None => return Vec::new(),
            }
        }
        let Some(accrued) = guard.as_mut() else { return Vec::new() };
        let backups = app.store.backups().unwrap_or_default();
        let started = app.metrics.started();
        let (names, _) = app.store.list_tables(None, usize::MAX);
        let mut out = Vec::with_capacity(names.len());
        for name in &names {
            let Ok(handle) = app.store.describe_table(name) else { continue };
            // A witness copy costs nothing on AWS: a witness region keeps
            // no table (`global_tables::witness`).
            if handle.def.settings.witness_copy {
                continue;
            }
            let def = &handle.def;
            let stats = handle.stats();
            let mut storage = stats.bytes + ITEM_OVERHEAD_BYTES * stats.items;
            // The last counts: the meter never walks an index itself.
            let index_bytes: Vec<u64> =
                def.indexes.iter().map(|idx| app.index_sizes.last(&app.store, &handle, idx).1).collect();
            storage += index_bytes.iter().sum::<u64>();
            let (mut read_capacity, mut write_capacity) = (0.0, 0.0);
            if def.billing_mode == BillingMode::Provisioned {
                for t in def.throughput.iter().chain(def.gsis().filter_map(|i| i.throughput.as_ref())) {
                    read_capacity += t.read as f64;
                    write_capacity += t.write as f64;
                }
            }
            let held = Now {
                storage_bytes: storage,
                table_bytes: stats.bytes,
                backup_bytes: backups.iter().filter(|b| b.table.name == *name).map(|b| b.bytes).sum(),
                pitr: def.pitr.is_some(),
                read_capacity,
                write_capacity,
            };
            let a = accrued.entry(name.clone()).or_default();
            if a.table_id != def.id || a.since == 0.0 {
                let since = started.max(def.created_at).min(now);
                *a = Accrued { table_id: def.id, since, last: since, ..Accrued::default() };
            }
            // Storage and capacity held through the period as they are now.
            let dt = (now - a.last).max(0.0);
            a.storage_byte_secs += held.storage_bytes as f64 * dt;
            if held.pitr {
                a.pitr_byte_secs += held.table_bytes as f64 * dt;
            }
            a.backup_byte_secs += held.backup_bytes as f64 * dt;
            a.read_capacity_secs += held.read_capacity * dt;
            a.write_capacity_secs += held.write_capacity * dt;
            a.last = a.last.max(now);
            let index_units = app.metrics.table(name).map(|m| m.index_consumed()).unwrap_or_default();
            let provisioned = def.billing_mode == BillingMode::Provisioned;
            for (idx, bytes) in def.indexes.iter().zip(&index_bytes) {
                let ia = a.indexes.entry(idx.name.clone()).or_default();
                ia.storage_byte_secs += *bytes as f64 * dt;
                ia.storage_bytes = *bytes;
                if provisioned && let Some(t) = idx.throughput {
                    ia.read_capacity_secs += t.read as f64 * dt;
                    ia.write_capacity_secs += t.write as f64 * dt;
                }
                if let Some((_, r, w)) = index_units.iter().find(|(n, _, _)| *n == idx.name) {
                    ia.read_units += (r - ia.seen.0).max(0.0);
                    ia.write_units += (w - ia.seen.1).max(0.0);
                    ia.seen = (*r, *w);
                }
            }
            a.indexes.retain(|n, _| def.index(n).is_some());
            if let Some(m) = app.metrics.table(name) {
                let (mut read, mut write) = m.consumed();
                for (_, r, w) in m.index_consumed() {
                    read += r;
                    write += w;
                }
                // Counters only grow within a server's life.
                a.read_units += (read - a.seen.read).max(0.0);
                a.write_units += (write - a.seen.write).max(0.0);
                (a.seen.read, a.seen.write) = (read, write);
                for (i, what) in MOVED.into_iter().enumerate() {
                    let n = m.moved(what);
                    a.moved[i] += n.saturating_sub(a.seen.moved[i]);
                    a.seen.moved[i] = n;
                }
            }
            out.push((name.clone(), a.clone(), held));
        }
        accrued.retain(|n, _| names.contains(n));
        out
    }

    /// Accrues and saves every table's accruals (and forgets the gone),
    /// holding the meter throughout: saves never cross.
    pub fn save(&self, app: &App, now: f64) {
        let mut guard = self.lock();
        let tables = Self::accrue_locked(&mut guard, app, now);
        if guard.is_none() {
            // Not read back: nothing to save over.
            return;
        }
        let mut entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        if let Ok(stored) = app.store.sys_scan(PREFIX.as_bytes()) {
            for (k, _) in stored {
                let name = String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned();
                if !tables.iter().any(|(n, _, _)| *n == name) {
                    entries.push((k, None));
                }
            }
        }
        for (name, a, _) in &tables {
            if let Ok(v) = serde_json::to_vec(a) {
                entries.push((format!("{PREFIX}{name}").into_bytes(), Some(v)));
            }
        }
        if let Err(e) = app.store.sys_write(entries) {
            tracing::warn!(error = %e, "could not save the cost meter");
        }
    }
}

/// The saved accruals, or `None` when the store cannot be read now.
fn load(app: &App) -> Option<HashMap<String, Accrued>> {
    let stored = match app.store.sys_scan(PREFIX.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the cost meter back");
            return None;
        }
    };
    Some(
        stored
            .into_iter()
            .filter_map(|(k, v)| {
                let name = String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned();
                serde_json::from_slice::<Accrued>(&v).ok().map(|a| (name, a))
            })
            .collect(),
    )
}

/// Saves the meter every [`ACCRUAL_PERIOD`] while the server runs.
pub async fn run(app: std::sync::Weak<App>) {
    let mut tick = tokio::time::interval(ACCRUAL_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { return };
        let now = super::now_secs();
        let _ = tokio::task::spawn_blocking(move || app.meter.save(&app, now)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dynamodb::testing::{app, call};

    #[test]
    fn capacity_and_storage_are_integrated_as_they_change_and_kept() {
        let app = app();
        call(
            &app,
            "CreateTable",
            json!({
                "TableName": "metered",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5},
            }),
        );
        let since = app.meter.accrue(&app, super::super::now_secs())[0].1.since;
        // A hundred seconds at 10 RCU and an empty table.
        let a = &app.meter.accrue(&app, since + 100.0)[0].1;
        assert!((a.read_capacity_secs - 1000.0).abs() < 1e-6, "{a:?}");
        assert_eq!(a.storage_byte_secs, 0.0);
        // Then 30 RCU and one item for a hundred more.
        call(
            &app,
            "UpdateTable",
            json!({"TableName": "metered", "ProvisionedThroughput": {"ReadCapacityUnits": 30, "WriteCapacityUnits": 5}}),
        );
        call(&app, "PutItem", json!({"TableName": "metered", "Item": {"pk": {"S": "a"}}}));
        let (_, a, held) = &app.meter.accrue(&app, since + 200.0)[0];
        assert!((a.read_capacity_secs - (1000.0 + 3000.0)).abs() < 1e-6, "{a:?}");
        assert!((a.write_capacity_secs - 1000.0).abs() < 1e-6, "{a:?}");
        assert_eq!(held.storage_bytes, 3 + 100, "the item (pk and its value) and its overhead");
        assert!((a.storage_byte_secs - 103.0 * 100.0).abs() < 1e-6, "{a:?}");
        assert_eq!(a.write_units, 1.0);
        // Saved, and read back by another meter (a restart): the accruals
        // go on from there.
        app.meter.save(&app, since + 200.0);
        let again = Meter::default();
        let (_, b, _) = &again.accrue(&app, since + 300.0)[0];
        assert!((b.read_capacity_secs - (4000.0 + 3000.0)).abs() < 1e-6, "{b:?}");
        assert_eq!(b.since, since);
        // The counts since this meter's start are the metrics' (the same
        // server here, so the write is counted again: a restart starts the
        // metrics at zero).
        assert_eq!(b.write_units, 2.0);
    }

    #[test]
    fn each_index_has_its_share() {
        let app = app();
        call(
            &app,
            "CreateTable",
            json!({
                "TableName": "indexed",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
            }),
        );
        call(&app, "PutItem", json!({"TableName": "indexed", "Item": {"pk": {"S": "a"}, "g": {"S": "x"}}}));
        let t = app.store.describe_table("indexed").expect("table");
        let index = t.def.index("byG").expect("index").clone();
        // The meter reads the last counts: a small table's are taken each
        // time it is described (CreateTable's answer took them before the
        // write), a large table's by a background walk.
        call(&app, "DescribeTable", json!({"TableName": "indexed"}));
        let started = std::time::Instant::now();
        while app.index_sizes.last(&app.store, &t, &index).1 == 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "counted");
            std::thread::sleep(Duration::from_millis(10));
        }
        let since = app.meter.accrue(&app, super::super::now_secs())[0].1.since;
        let (_, a, _) = &app.meter.accrue(&app, since + 100.0)[0];
        let i = &a.indexes["byG"];
        assert_eq!(i.write_units, 1.0, "the index's own write");
        assert!(i.storage_bytes > 0);
        assert!((i.storage_byte_secs - i.storage_bytes as f64 * 100.0).abs() < 1e-6, "{i:?}");
        assert_eq!(a.write_units, 2.0, "the table's figures include the index's");
    }
}
