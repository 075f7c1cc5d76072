//! A new replica's own table while its source region fills it: DynamoDB's
//! replica region shows the table `CREATING` (DescribeTable works), answers
//! every other call naming it as for a missing table, and refuses
//! DeleteTable, until the replica is made (DDB-TABLE-226, DDB-TABLE-298 of
//! the ack-api-quirks catalogue).
//!
//! The region that takes a peer's `Create` marks its new table here
//! (`gfill/<name>` → the table's id in the system entries, so a restart
//! keeps it, and in memory); the source region sends `Filled` once the fill
//! is done and the replicator has caught up, just before it shows the
//! replica `ACTIVE`. A mark names the table by its id: one of a table since
//! deleted holds nothing.

use std::collections::HashMap;

use std::sync::atomic::Ordering;

use tidepool_store::messages;

use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};

const PREFIX: &[u8] = b"gfill/";

fn key(name: &str) -> Vec<u8> {
    [PREFIX, name.as_bytes()].concat()
}

/// The marks (table name → id), read from the system entries the first time.
fn with_marks<T>(app: &App, f: impl FnOnce(&mut HashMap<String, u64>) -> T) -> ApiResult<T> {
    let mut marks = app.global.filling.lock().unwrap_or_else(|p| p.into_inner());
    if marks.is_none() {
        let mut loaded = HashMap::new();
        for (k, v) in app.store.sys_scan(PREFIX)? {
            let (Ok(name), Some(id)) = (
                String::from_utf8(k[PREFIX.len()..].to_vec()),
                std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()),
            ) else {
                continue;
            };
            loaded.insert(name, id);
        }
        *marks = Some(loaded);
    }
    let m = marks.get_or_insert_with(HashMap::new);
    let out = f(m);
    app.global.filling_any.store(if m.is_empty() { NONE } else { SOME }, Ordering::Relaxed);
    Ok(out)
}

/// `GlobalTables::filling_any`: the marks not read yet, none, some.
const NONE: u8 = 1;
const SOME: u8 = 2;

/// Marks table `name` (numbered `id`) as being filled.
pub(super) fn mark(app: &App, name: &str, id: u64) -> ApiResult<()> {
    app.store.sys_write(vec![(key(name), Some(id.to_string().into_bytes()))])?;
    with_marks(app, |m| m.insert(name.to_string(), id))?;
    Ok(())
}

/// The fill of `name` is done (or the table is gone).
pub(super) fn clear(app: &App, name: &str) -> ApiResult<()> {
    if with_marks(app, |m| m.contains_key(name))? {
        app.store.sys_write(vec![(key(name), None)])?;
        with_marks(app, |m| m.remove(name))?;
    }
    Ok(())
}

/// Whether the table `def` is a replica still being filled here.
pub fn is_filling(app: &App, def: &tidepool_store::table::TableDef) -> bool {
    with_marks(app, |m| m.get(&def.name) == Some(&def.id)).unwrap_or(false)
}

/// Whether table `name` (as it is now) is being filled here.
fn filling_now(app: &App, name: &str) -> bool {
    with_marks(app, |m| m.get(name).copied())
        .ok()
        .flatten()
        .is_some_and(|id| app.store.describe_table(name).is_ok_and(|t| t.def.id == id))
}

/// DeleteTable of a replica being filled: refused, as DynamoDB refuses it
/// (the creation cannot be cancelled from either side).
pub fn refuse_delete(app: &App, name: &str) -> ApiResult<()> {
    if filling_now(app, name) {
        return Err(tidepool_store::StoreError::ResourceInUse(messages::global_table::replica_being_made(name)).into());
    }
    Ok(())
}

/// Operations that answer for a replica being filled: DescribeTable (it is
/// `CREATING`), DeleteTable (refused in its own words) and
/// DescribeTableReplicaAutoScaling (DDB-TABLE-298).
const ANSWERED: [&str; 3] = ["DescribeTable", "DeleteTable", "DescribeTableReplicaAutoScaling"];

/// Refuses any other request naming a replica being filled, as for a
/// table that does not exist.
pub(super) fn refuse_named(app: &App, op: &str, tables: &[String]) -> ApiResult<()> {
    if ANSWERED.contains(&op) {
        return Ok(());
    }
    match tables.iter().find(|n| filling_now(app, n)) {
        // The continuous backups operations name a missing table so.
        Some(name) if matches!(op, "DescribeContinuousBackups" | "UpdateContinuousBackups") => {
            Err(crate::dynamodb::backup::table_not_found(name))
        }
        Some(name) => Err(ApiError::not_found(messages::table::table_not_found(name))),
        None => Ok(()),
    }
}

/// Whether a request's members may name a table: the cheap test before the
/// names are read.
pub(super) fn any(app: &App) -> bool {
    match app.global.filling_any.load(Ordering::Relaxed) {
        NONE => false,
        SOME => true,
        _ => !with_marks(app, |m| m.is_empty()).unwrap_or(true),
    }
}
