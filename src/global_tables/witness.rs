//! Witnesses of tables with multi-Region strong consistency: a table of
//! two replica regions and a witness region (`GlobalTableWitnessUpdates`).
//!
//! The witness is a third region that takes part in every write's quorum
//! and keeps the replicated items, but serves no client: DynamoDB's witness
//! region has no table. Here it is a Tidepool server among the peers that
//! keeps the global table's items as a *witness copy*: a table that the
//! replication endpoints (apply, claim, read, drop) use as any replica's,
//! flagged `witness_copy`, which the DynamoDB API of that server does not
//! show (ListTables leaves it out; an operation naming it finds no table).
//! The replica regions list it among their replicas with `witness` set,
//! and describe it under `GlobalTableWitnesses`.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;

use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;

/// Witnesses a table has at most (DynamoDB's: two replicas and one).
pub const MAX_WITNESSES: usize = 1;

/// One of UpdateTable's `GlobalTableWitnessUpdates`.
pub(super) struct WitnessUpdate {
    pub create: bool,
    pub region: String,
}

/// UpdateTable's `GlobalTableWitnessUpdates`: an element without a region
/// counts as none, as DynamoDB counts it.
pub(super) fn updates(r: &Req<'_>) -> ApiResult<Vec<WitnessUpdate>> {
    let Some(list) = r.get("GlobalTableWitnessUpdates").and_then(Json::as_array) else { return Ok(Vec::new()) };
    if list.len() > MAX_WITNESSES {
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            Json::Array(list.clone()),
            "globalTableWitnessUpdates",
            messages::request::max_length(MAX_WITNESSES),
        )])));
    }
    let mut out = Vec::new();
    for u in list {
        for (member, create) in [("Create", true), ("Delete", false)] {
            let region = u.get(member).and_then(|m| m.get("RegionName")).and_then(Json::as_str).unwrap_or_default();
            if !region.is_empty() {
                out.push(WitnessUpdate { create, region: region.to_string() });
            }
        }
    }
    Ok(out)
}

/// DescribeTable's `GlobalTableWitnesses` of a table that has one.
pub fn describe(def: &tidepool_store::table::TableDef, d: &mut Map<String, Json>) {
    let witnesses: Vec<Json> = def
        .replicas
        .iter()
        .filter(|r| r.witness)
        .map(|r| json!({"RegionName": r.region, "WitnessStatus": r.status}))
        .collect();
    if !witnesses.is_empty() {
        d.insert("GlobalTableWitnesses".into(), Json::Array(witnesses));
    }
}

/// Whether clients may see table `name` here (it is not a witness copy).
pub fn visible(app: &App, name: &str) -> bool {
    !app.global.hosts_witness.load(Ordering::Relaxed)
        || !app.store.describe_table(name).is_ok_and(|t| t.def.settings.witness_copy)
}

/// Refuses a request that names a witness copy, as for a table that does
/// not exist (checked only on a server that keeps one), and one that names
/// a replica still being filled (`filling.rs`, checked only while there is
/// one).
pub fn refuse_hidden(app: &App, op: &str, raw: &Map<String, Json>) -> ApiResult<()> {
    let witness = app.global.hosts_witness.load(Ordering::Relaxed);
    let filling = super::filling::any(app);
    if !witness && !filling {
        return Ok(());
    }
    let names = tables_named(op, raw);
    if witness && let Some(name) = names.iter().find(|n| !visible(app, n)) {
        return Err(ApiError::not_found(messages::table::table_not_found(name)));
    }
    if filling {
        super::filling::refuse_named(app, op, &names)?;
    }
    Ok(())
}

/// The table a name or table ARN (or an ARN of something in a table) names.
fn table_of(s: &str) -> &str {
    match s.strip_prefix("arn:").and_then(|_| s.split_once(":table/")) {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => s,
    }
}

/// The tables a DynamoDB request names, wherever its operation names them.
fn tables_named(op: &str, raw: &Map<String, Json>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for member in ["TableName", "ResourceArn", "TableArn", "SourceTableName", "SourceTableArn", "GlobalTableName"] {
        if let Some(s) = raw.get(member).and_then(Json::as_str) {
            out.push(table_of(s).to_string());
        }
    }
    if let Some(m) = raw.get("RequestItems").and_then(Json::as_object) {
        out.extend(m.keys().map(|k| table_of(k).to_string()));
    }
    for item in raw.get("TransactItems").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default() {
        for member in ["Get", "Put", "Update", "Delete", "ConditionCheck"] {
            if let Some(t) = item.get(member).and_then(|m| m.get("TableName")).and_then(Json::as_str) {
                out.push(table_of(t).to_string());
            }
        }
    }
    for s in crate::dynamodb::statements_of(op, raw) {
        if let Ok(stmt) = tidepool_store::partiql::parse(s) {
            out.push(stmt.table().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_member() {
        let raw = json!({
            "TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/a/index/i",
            "RequestItems": {"b": []},
            "TransactItems": [{"Put": {"TableName": "c"}}],
        });
        assert_eq!(tables_named("X", raw.as_object().unwrap()), ["a", "b", "c"]);
        let raw = json!({"Statement": "SELECT * FROM \"d\""});
        assert_eq!(tables_named("ExecuteStatement", raw.as_object().unwrap()), ["d"]);
    }
}
