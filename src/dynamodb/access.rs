//! What a DynamoDB or Streams request asks of IAM: the actions, resources
//! and condition keys [`crate::iam`] checks when authentication is on and
//! the caller has policies.
//!
//! As DynamoDB authorizes:
//! - an item or table operation is `dynamodb:<Operation>` on the table's
//!   ARN (`.../table/<name>/index/<index>` for a Query or Scan of an index);
//! - BatchGetItem and BatchWriteItem are checked per table, each with the
//!   partition keys of that table's requests;
//! - TransactWriteItems is `dynamodb:PutItem`, `UpdateItem`, `DeleteItem` or
//!   `ConditionCheckItem` per action and TransactGetItems `dynamodb:GetItem`
//!   per item, with `dynamodb:EnclosingOperation`;
//! - PartiQL statements are `dynamodb:PartiQLSelect`, `PartiQLInsert`,
//!   `PartiQLUpdate` or `PartiQLDelete` on their table;
//! - operations on no table (ListTables, ListStreams, DescribeLimits, ...)
//!   are on `*`; backups, exports and imports on their own ARNs.
//!
//! Condition keys: `dynamodb:LeadingKeys` (the partition key values the
//! request touches, as text), `dynamodb:Attributes` (the attribute names it
//! reads or writes: a projection, an item's names, an update's targets and
//! the key's names), `dynamodb:Select` (the request's, else
//! `SPECIFIC_ATTRIBUTES` with a projection and `ALL_ATTRIBUTES` without, so
//! a read without a projection never passes a policy that asks for
//! specific attributes), `dynamodb:ReturnValues`,
//! `dynamodb:ReturnConsumedCapacity`. A request this module cannot read
//! (a bad expression, a missing table) is checked without the keys it could
//! not derive, and the operation then reports its own error.

use base64::Engine;
use serde_json::{Map, Value as Json};
use tidepool_store::expr;
use tidepool_store::table::KeySchema;
use tidepool_store::value::Value;

use super::App;
use super::expr::Exprs;
use super::request::Req;
use crate::iam::Check;

/// The checks `op` with `body` needs.
pub fn checks(app: &App, op: &str, body: &Map<String, Json>, streams: bool) -> Vec<Check> {
    let r = Req(body);
    let arn = |table: &str| app.table_arn(table);
    let table_name = r.str_opt("TableName").ok().flatten().unwrap_or_default().to_string();
    if streams {
        let resource = match op {
            "DescribeStream" | "GetShardIterator" => r.str_opt("StreamArn").ok().flatten().unwrap_or("*").to_string(),
            "ListStreams" => match r.str_opt("TableName").ok().flatten() {
                Some(t) => format!("{}/stream/*", arn(t)),
                None => "*".into(),
            },
            // The iterator names its stream only inside its token.
            _ => "*".into(),
        };
        return vec![Check::new(format!("dynamodb:{op}"), resource)];
    }
    let action = format!("dynamodb:{op}");
    match op {
        "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" => vec![item_check(app, &action, &r, op)],
        "Query" | "Scan" => {
            let mut resource = arn(&table_name);
            if let Some(i) = r.str_opt("IndexName").ok().flatten() {
                resource = format!("{resource}/index/{i}");
            }
            let mut check = Check::new(action, resource);
            let schema = schema_of(app, &table_name, r.str_opt("IndexName").ok().flatten());
            if op == "Query"
                && let Some(schema) = &schema
                && let Some(v) = query_hash(&r, schema)
            {
                check = check.with("dynamodb:LeadingKeys", vec![v]);
            }
            vec![reads(check, &r)]
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(items) = r.obj_opt("RequestItems").ok().flatten() else { return vec![Check::new(action, "*")] };
            items
                .0
                .iter()
                .map(|(table, spec)| {
                    let schema = schema_of(app, table, None);
                    let mut keys = Vec::new();
                    let mut names = Vec::new();
                    let entries: Vec<&Json> = match spec {
                        Json::Object(m) => m.get("Keys").and_then(Json::as_array).map(|a| a.iter().collect()),
                        Json::Array(a) => Some(
                            a.iter()
                                .filter_map(|w| {
                                    w.pointer("/PutRequest/Item").or_else(|| w.pointer("/DeleteRequest/Key"))
                                })
                                .collect(),
                        ),
                        _ => None,
                    }
                    .unwrap_or_default();
                    for e in entries {
                        if let (Some(s), Json::Object(m)) = (&schema, e) {
                            keys.extend(leading(m, s));
                        }
                        if let Json::Object(m) = e {
                            names.extend(m.keys().cloned());
                        }
                    }
                    let mut check = Check::new(action.clone(), arn(table)).with("dynamodb:LeadingKeys", keys);
                    if let Json::Object(m) = spec {
                        check = reads(check, &Req(m));
                    } else {
                        names.sort();
                        names.dedup();
                        check = check.with("dynamodb:Attributes", names);
                    }
                    check
                })
                .collect()
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let list = r.list_opt("TransactItems").ok().flatten().map(Vec::as_slice).unwrap_or_default();
            let mut out = Vec::new();
            for entry in list {
                let Json::Object(m) = entry else { continue };
                for (kind, inner) in m {
                    let Json::Object(inner) = inner else { continue };
                    let action = match kind.as_str() {
                        "Put" => "dynamodb:PutItem",
                        "Update" => "dynamodb:UpdateItem",
                        "Delete" => "dynamodb:DeleteItem",
                        "ConditionCheck" => "dynamodb:ConditionCheckItem",
                        "Get" => "dynamodb:GetItem",
                        _ => continue,
                    };
                    let item_op = action.trim_start_matches("dynamodb:");
                    let enclosing = vec![op.to_string()];
                    out.push(
                        item_check(app, action, &Req(inner), item_op).with("dynamodb:EnclosingOperation", enclosing),
                    );
                }
            }
            if out.is_empty() {
                out.push(Check::new(action, "*"));
            }
            out
        }
        "ExecuteStatement" => vec![partiql_check(app, r.str_opt("Statement").ok().flatten().unwrap_or_default())],
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let member = if op == "ExecuteTransaction" { "TransactStatements" } else { "Statements" };
            let list = r.list_opt(member).ok().flatten().map(Vec::as_slice).unwrap_or_default();
            let mut out: Vec<Check> = list
                .iter()
                .filter_map(|s| s.get("Statement").and_then(Json::as_str))
                .map(|s| partiql_check(app, s).with("dynamodb:EnclosingOperation", vec![op.to_string()]))
                .collect();
            if out.is_empty() {
                out.push(Check::new(action, "*"));
            }
            out
        }
        "ListTables" | "DescribeLimits" | "DescribeEndpoints" | "ListBackups" | "ListExports" | "ListImports" => {
            vec![Check::new(action, "*")]
        }
        "TagResource" | "UntagResource" | "ListTagsOfResource" => {
            vec![Check::new(action, r.str_opt("ResourceArn").ok().flatten().unwrap_or("*"))]
        }
        "DescribeBackup" | "DeleteBackup" | "RestoreTableFromBackup" => {
            vec![Check::new(action, r.str_opt("BackupArn").ok().flatten().unwrap_or("*"))]
        }
        "RestoreTableToPointInTime" => {
            let source = match (r.str_opt("SourceTableArn").ok().flatten(), r.str_opt("SourceTableName").ok().flatten())
            {
                (Some(a), _) => a.to_string(),
                (None, Some(n)) => arn(n),
                (None, None) => "*".into(),
            };
            vec![Check::new(action, source)]
        }
        "ExportTableToPointInTime" => vec![Check::new(action, r.str_opt("TableArn").ok().flatten().unwrap_or("*"))],
        "DescribeExport" => vec![Check::new(action, r.str_opt("ExportArn").ok().flatten().unwrap_or("*"))],
        "DescribeImport" => vec![Check::new(action, r.str_opt("ImportArn").ok().flatten().unwrap_or("*"))],
        "ImportTable" => {
            let name = body.get("TableCreationParameters").and_then(|p| p.get("TableName")).and_then(Json::as_str);
            vec![Check::new(action, name.map_or_else(|| "*".to_string(), arn))]
        }
        _ => vec![Check::new(action, if table_name.is_empty() { "*".to_string() } else { arn(&table_name) })],
    }
}

/// A single-item operation on the request's table: its partition key and
/// attribute names.
fn item_check(app: &App, action: &str, r: &Req<'_>, op: &str) -> Check {
    let table = r.str_opt("TableName").ok().flatten().unwrap_or_default();
    let mut check = Check::new(action, app.table_arn(table));
    let schema = schema_of(app, table, None);
    let key = r.get("Key").or_else(|| r.get("Item"));
    if let (Some(s), Some(Json::Object(k))) = (&schema, key) {
        check = check.with("dynamodb:LeadingKeys", leading(k, s));
    }
    let mut names: Vec<String> = Vec::new();
    if let Some(Json::Object(k)) = key {
        names.extend(k.keys().cloned());
    }
    if op == "UpdateItem" {
        if let Some(Json::Object(u)) = r.get("AttributeUpdates") {
            names.extend(u.keys().cloned());
        }
        if let (Some(text), Ok(mut ex)) = (r.str_opt("UpdateExpression").ok().flatten(), Exprs::from_request(r))
            && let Ok(update) = expr::parse_update(text, &mut ex.ph)
        {
            names.extend(update.top_level_names().map(str::to_string));
        }
    }
    if matches!(op, "GetItem") {
        return reads(check.with("dynamodb:Attributes", names), r);
    }
    names.sort();
    names.dedup();
    let mut check = check.with("dynamodb:Attributes", names);
    if let Some(v) = r.str_opt("ReturnValues").ok().flatten() {
        check = check.with("dynamodb:ReturnValues", vec![v.to_string()]);
    }
    if let Some(v) = r.str_opt("ReturnConsumedCapacity").ok().flatten() {
        check = check.with("dynamodb:ReturnConsumedCapacity", vec![v.to_string()]);
    }
    check
}

/// A read's projection (`dynamodb:Attributes`, added to what `check` has),
/// `dynamodb:Select` and `dynamodb:ReturnConsumedCapacity`.
fn reads(mut check: Check, r: &Req<'_>) -> Check {
    let mut names: Vec<String> = check.context.keys.remove("dynamodb:attributes").unwrap_or_default();
    let mut projected = false;
    if let Some(list) = r.strings("AttributesToGet").ok().flatten() {
        names.extend(list.iter().map(|s| s.to_string()));
        projected = true;
    } else if let (Some(text), Ok(mut ex)) = (r.str_opt("ProjectionExpression").ok().flatten(), Exprs::names_only(r))
        && let Ok(paths) = expr::parse_projection(text, &mut ex.ph)
    {
        names.extend(paths.iter().map(|p| p.top().to_string()));
        projected = true;
    }
    names.sort();
    names.dedup();
    check = check.with("dynamodb:Attributes", names);
    let select = match r.str_opt("Select").ok().flatten() {
        Some(s) => s.to_string(),
        None if projected => "SPECIFIC_ATTRIBUTES".into(),
        None => "ALL_ATTRIBUTES".into(),
    };
    check = check.with("dynamodb:Select", vec![select]);
    if let Some(v) = r.str_opt("ReturnConsumedCapacity").ok().flatten() {
        check = check.with("dynamodb:ReturnConsumedCapacity", vec![v.to_string()]);
    }
    check
}

/// The key schema of `table`, or of its index `index`.
fn schema_of(app: &App, table: &str, index: Option<&str>) -> Option<KeySchema> {
    let handle = app.store.table(table).ok()?;
    match index {
        Some(i) => handle.def.index(i).map(|i| i.key_schema.clone()),
        None => Some(handle.def.key_schema.clone()),
    }
}

/// The partition key value of an item or key, as text.
fn leading(item: &Map<String, Json>, schema: &KeySchema) -> Vec<String> {
    item.get(&schema.hash.name)
        .and_then(|v| super::attr::value_from_json_unnested(v).ok())
        .map(|v| vec![key_text(&v)])
        .unwrap_or_default()
}

fn key_text(v: &Value) -> String {
    match v {
        Value::S(s) => s.clone(),
        Value::N(n) => n.to_string(),
        Value::B(b) => base64::engine::general_purpose::STANDARD.encode(b),
        other => format!("{other:?}"),
    }
}

/// A Query's partition key value, from its key condition.
fn query_hash(r: &Req<'_>, schema: &KeySchema) -> Option<String> {
    if let Some(Json::Object(conds)) = r.get("KeyConditions") {
        let v = conds.get(&schema.hash.name)?.get("AttributeValueList")?.get(0)?;
        return super::attr::value_from_json_unnested(v).ok().map(|v| key_text(&v));
    }
    let text = r.str_opt("KeyConditionExpression").ok().flatten()?;
    let mut ex = Exprs::from_request(r).ok()?;
    let cond = expr::parse_key_condition(text, &mut ex.ph).ok()?;
    let split = cond.split(schema).ok()?;
    split.hash.first().map(key_text)
}

/// A PartiQL statement: its verb's action on its table.
fn partiql_check(app: &App, statement: &str) -> Check {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let verb = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let action = match verb.as_str() {
        "SELECT" => "dynamodb:PartiQLSelect",
        "INSERT" => "dynamodb:PartiQLInsert",
        "UPDATE" => "dynamodb:PartiQLUpdate",
        "DELETE" => "dynamodb:PartiQLDelete",
        _ => "dynamodb:PartiQL",
    };
    // The table: the word after FROM, INTO or UPDATE.
    let after = |kw: &str| {
        words.iter().position(|w| w.eq_ignore_ascii_case(kw)).and_then(|i| words.get(i + 1)).map(|w| {
            let w = w.trim_end_matches(';');
            let name = w.split('.').next().unwrap_or(w);
            name.trim_matches('"').to_string()
        })
    };
    let table = match verb.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => after("UPDATE"),
        _ => None,
    };
    Check::new(action, table.map_or_else(|| "*".to_string(), |t| app.table_arn(&t)))
}
