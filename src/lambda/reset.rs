//! `POST /tidepool/reset` and `tidepool reset`: empties a server, for test
//! suites that share one. Everything a client made goes, in the order
//! that leaves nothing dangling: event source mappings, schedules, queued
//! asynchronous events, functions (with their logs), then tables (with their streams, indexes
//! and TTL state). A table with deletion protection is kept and reported,
//! as DeleteTable would refuse it.

use serde_json::{Value as Json, json};
use tidepool_store::StoreError;

use super::LambdaError;
use crate::dynamodb::App;

/// Empties the server; returns what went and what was kept, as
/// `{"Deleted": {"Mappings": n, "Schedules": n, "Functions": [..],
/// "Tables": [..], "Backups": n}, "Kept": [{"Table": t, "Reason": r}]}`.
pub async fn reset(app: &App) -> Result<Json, LambdaError> {
    let lambda = app.lambda.get().ok_or_else(|| LambdaError::new("ServiceException", "Lambda is not started yet"))?;
    let mut mappings = 0;
    // Something deleted by another client meanwhile is gone either way.
    let gone = |r: Result<(), LambdaError>| match r {
        Err(e) if e.kind == "ResourceNotFoundException" => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    };
    for m in lambda.mappings(None, None) {
        mappings += usize::from(gone(lambda.delete_mapping(&m.uuid).await.map(|_| ()))?);
    }
    let mut schedules = 0;
    for (def, _) in lambda.schedules.list() {
        schedules += usize::from(gone(lambda.schedules.delete(&def.name).await.map(|_| ()))?);
    }
    // Queued asynchronous events go with their functions.
    let events = super::events::forget_all(app).await?;
    let registry = lambda.registry.clone();
    let store = app.store.clone();
    let functions = tokio::task::spawn_blocking(move || -> Result<Vec<String>, LambdaError> {
        let mut gone = Vec::new();
        for f in registry.list() {
            match registry.delete(&f.name) {
                Ok(_) => {
                    super::invoke_config::forget_function(&store, &f.name)?;
                    super::urls::forget(&store, &f.name, None)?;
                    super::permissions::forget(&store, &f.name, None)?;
                    gone.push(f.name)
                }
                Err(tidepool_runtime::registry::RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(gone)
    })
    .await
    .map_err(|e| LambdaError::new("ServiceException", e.to_string()))??;
    for name in &functions {
        lambda.logs.remove(name);
    }
    let store = app.store.clone();
    type Deleted = (Vec<String>, Vec<Json>, Vec<tidepool_store::table::TableDef>);
    let (tables, kept, defs) = tokio::task::spawn_blocking(move || -> Result<Deleted, LambdaError> {
        let (mut gone, mut kept, mut defs) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let (names, _) = store.list_tables(None, usize::MAX);
            // A witness copy of another region's global table is not this
            // server's to drop (that region removes it).
            let names: Vec<String> = names
                .into_iter()
                .filter(|n| !kept.iter().any(|k: &Json| k["Table"] == n.as_str()))
                .filter(|n| !store.describe_table(n).is_ok_and(|t| t.def.settings.witness_copy))
                .collect();
            let mut progressed = false;
            for name in names {
                match store.delete_table(&name) {
                    Ok(h) => {
                        gone.push(name);
                        defs.push(h.def.clone());
                        progressed = true;
                    }
                    Err(StoreError::Validation(reason)) => kept.push(json!({"Table": name, "Reason": reason})),
                    // Being restored: it can be deleted once loaded.
                    Err(StoreError::ResourceInUse(reason)) => kept.push(json!({"Table": name, "Reason": reason})),
                    // Deleted meanwhile by someone else: gone either way.
                    Err(StoreError::ResourceNotFound(_)) => progressed = true,
                    Err(e) => return Err(e.into()),
                }
            }
            if !progressed {
                return Ok((gone, kept, defs));
            }
        }
    })
    .await
    .map_err(|e| LambdaError::new("ServiceException", e.to_string()))??;
    for def in &defs {
        app.forget_table(def);
    }
    // Backups outlive their tables; a reset drops them too (and the
    // history kept for tables deleted with point-in-time recovery on).
    let store = app.store.clone();
    let backups = tokio::task::spawn_blocking(move || store.delete_all_backups())
        .await
        .map_err(|e| LambdaError::new("ServiceException", e.to_string()))??;
    tracing::info!(
        mappings,
        schedules,
        events,
        functions = functions.len(),
        tables = tables.len(),
        backups,
        "server reset"
    );
    Ok(json!({
        "Deleted": {
            "Mappings": mappings,
            "Schedules": schedules,
            "QueuedEvents": events,
            "Functions": functions,
            "Tables": tables,
            "Backups": backups,
        },
        "Kept": kept,
    }))
}
