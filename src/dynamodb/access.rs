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
//! - ListTables is on every table (`table/*`, as AWS names it); other
//!   operations on no table (ListStreams, DescribeLimits, ...) are on `*`;
//!   backups, exports and imports on their own ARNs.
//!
//! Condition keys: `dynamodb:LeadingKeys` (the partition key values the
//! request touches, as text), `dynamodb:Attributes` (the attribute names it
//! reads, writes or evaluates: a projection, an item's names, an update's
//! targets and what its values read, the key's names, and the top-level names of a condition or
//! filter, `Expected`, `QueryFilter` and `ScanFilter` included, as the
//! developer guide counts attributes "evaluated in a conditional write or
//! scan filter"; not the key condition's), `dynamodb:Select` (the
//! request's, else `SPECIFIC_ATTRIBUTES` with a projection, and without
//! one DynamoDB's default, `ALL_PROJECTED_ATTRIBUTES` for an index and
//! `ALL_ATTRIBUTES` otherwise, so a read without a projection never passes
//! a policy that asks for specific attributes), `dynamodb:ReturnValues`
//! and `dynamodb:ReturnConsumedCapacity` (`NONE` when left out: the keys
//! "always have a value"), `dynamodb:FullTableScan` (a PartiQL `SELECT`
//! planned as a scan), `aws:ResourceTag/<key>` (the tags of the table an
//! action's table or index belongs to), `aws:RequestTag/<key>` and
//! `aws:TagKeys` (CreateTable's and TagResource's tags, UntagResource's
//! keys).
//!
//! Fail closed: a key this module cannot derive (a partition key missing
//! from an item, an expression that does not parse, a PartiQL statement
//! whose keys are not read here) is given [`UNKNOWN`], a value no policy
//! names, so an `Allow` conditioned on it does not apply (rather than
//! passing over an empty set) and a `Deny` conditioned on it does. Table
//! names given as ARNs are resolved as the operations resolve them, so a
//! check is always on the table the operation touches.

use base64::Engine;
use serde_json::{Map, Value as Json};
use tidepool_store::expr::{self, ExprKind};
use tidepool_store::partiql::Mode;
use tidepool_store::table::KeySchema;
use tidepool_store::value::Value;

use super::App;
use super::expr::Exprs;
use super::request::Req;
use crate::iam::Check;

/// The value of a condition key that could not be derived: no policy
/// names it, so `ForAllValues` over it fails, and a `Deny` on the key
/// applies (`iam::policy`).
pub const UNKNOWN: &str = crate::iam::policy::UNKNOWN_VALUE;
/// Entries of one request that are checked (a batch or transaction holds at
/// most 100; a longer one is refused by its operation, which reads no more).
const MAX_CHECKED_ENTRIES: usize = 128;
/// A resource ARN longer than any DynamoDB takes (1,283 bytes) is checked
/// as [`UNKNOWN`].
const MAX_RESOURCE_BYTES: usize = 2048;

/// A table named by its name or its ARN, as the operations resolve it
/// (`arn::table_of`): the segment after `table/` of the ARN's resource part
/// (so that an ARN whose region or account holds `:table/` names no other
/// table here than there).
fn table_name(raw: &str) -> &str {
    match super::arn::Arn::parse(raw).and_then(|a| a.resource.strip_prefix("table/")) {
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None => raw,
    }
}

/// The checks `op` with `body` needs.
pub fn checks(app: &App, op: &str, body: &Map<String, Json>, streams: bool) -> Vec<Check> {
    let r = Req(body);
    let arn = |table: &str| app.table_arn(table_name(table));
    let table = table_name(r.str_opt("TableName").ok().flatten().unwrap_or_default()).to_string();
    let mut out = checks_of(app, op, body, streams, &table, &arn);
    if !streams {
        with_consumed_capacity(op, &r, &mut out);
        with_request_tags(op, &r, &mut out);
    }
    with_resource_policies(app, &mut out);
    // A request that does not name its resource in a form this can read (a
    // statement that does not parse, a shard iterator or a stream ARN that
    // is not one, a missing or overlong name or ARN) is refused by its
    // operation before it reads or writes anything, with the validation
    // error DynamoDB answers, whoever sends it: its check would only deny
    // it with a resource no one can read. (The operations read those
    // members with the same parsers as here.) Not a call another engine
    // runs (`for_elsewhere`): that one may read what this cannot, so it is
    // refused whole ([`unreadable_elsewhere`]).
    if !ELSEWHERE.with(std::cell::Cell::get) {
        out.retain(|c| c.resource != UNKNOWN);
    }
    out
}

/// For a call another engine runs (inside [`for_elsewhere`]): refused when
/// a check's resource could not be read here (a statement this parser
/// refuses, which that engine's may take), so that no role's limits are
/// passed by a request only the other engine understands.
pub fn unreadable_elsewhere(checks: &[Check]) -> Option<super::error::ApiError> {
    (ELSEWHERE.with(std::cell::Cell::get) && checks.iter().any(|c| c.resource == UNKNOWN))
        .then(|| super::error::ApiError::validation(tidepool_store::messages::server::UNAUTHORIZABLE_ELSEWHERE))
}

/// `dynamodb:ReturnConsumedCapacity`: the request's own member (a batch's
/// and a transaction's is the whole request's), NONE when left out, as
/// the key "contains either TOTAL or NONE".
fn with_consumed_capacity(op: &str, r: &Req<'_>, checks: &mut [Check]) {
    if !TAKE_CONSUMED_CAPACITY.contains(&op) {
        return;
    }
    // The key "contains either TOTAL or NONE": INDEXES asks for the total
    // too (and more), so it is TOTAL here.
    let v = match r.str_opt("ReturnConsumedCapacity").ok().flatten().unwrap_or("NONE") {
        "INDEXES" => "TOTAL".to_string(),
        v => v.to_string(),
    };
    for c in checks {
        c.context.set("dynamodb:ReturnConsumedCapacity", vec![v.clone()]);
    }
}

/// The operations with a `ReturnConsumedCapacity` member.
const TAKE_CONSUMED_CAPACITY: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// Bounds each check's resource and adds its resource-based policy, read
/// once per request, and the tags of the table it names (a table's, an
/// index's or a stream's ARN) as `aws:ResourceTag/<key>`, which DynamoDB
/// sets for every action on those resources.
fn with_resource_policies(app: &App, checks: &mut [Check]) {
    type Tags = Option<std::sync::Arc<std::collections::BTreeMap<String, String>>>;
    let mut policies: std::collections::HashMap<String, Option<std::sync::Arc<crate::iam::Policy>>> =
        std::collections::HashMap::new();
    let mut tags: std::collections::HashMap<String, Tags> = std::collections::HashMap::new();
    let prefix = app.table_arn("");
    for c in checks {
        if c.resource.len() > MAX_RESOURCE_BYTES {
            c.resource = UNKNOWN.into();
        }
        let key = c.resource.split("/index/").next().unwrap_or(&c.resource).to_string();
        c.resource_policy = policies.entry(key).or_insert_with_key(|k| super::policy::governing(app, k)).clone();
        // A stream's own tags, or its table's (an index's).
        let found = match stream_of_resource(&prefix, &c.resource) {
            Some((table, label)) => tags.entry(c.resource.clone()).or_insert_with(|| {
                app.store.stream(table, label).map(|s| std::sync::Arc::new(s.tags)).filter(|t| !t.is_empty())
            }),
            None => {
                let Some(table) = table_of_resource(&prefix, &c.resource) else { continue };
                tags.entry(table.to_string())
                    .or_insert_with_key(|t| app.store.table(t).ok().map(|h| std::sync::Arc::new(h.def.tags.clone())))
            }
        };
        let pairs = found.iter().flat_map(|t| t.iter()).map(|(k, v)| (k.as_str(), v.as_str()));
        set_tags(&mut c.context, "aws:ResourceTag/", pairs);
    }
}

/// Sets `<prefix><key>` for each tag. Condition keys are matched without
/// regard to case and tag keys are not, so tags whose keys differ only in
/// case (`Env`, `env`) share one key: it then holds every value and
/// [`UNKNOWN`], which no `Allow` passes and every `Deny` on the key meets,
/// so that neither tag can stand in for the other.
fn set_tags<'a>(context: &mut crate::iam::Context, prefix: &str, tags: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (k, v) in tags {
        by_key.entry(format!("{prefix}{k}").to_ascii_lowercase()).or_default().push(v.to_string());
    }
    for (k, mut values) in by_key {
        if values.len() > 1 {
            values.push(UNKNOWN.into());
        }
        context.set(&k, values);
    }
}

/// The table and label of a stream ARN of this region (`prefix`: this
/// region's table ARN before the name): a stream carries its own tags.
fn stream_of_resource<'a>(prefix: &str, resource: &'a str) -> Option<(&'a str, &'a str)> {
    resource.strip_prefix(prefix)?.split_once("/stream/").filter(|(t, l)| !t.contains('/') && !l.contains('*'))
}

/// The table whose tags a resource carries: the one a table's or an
/// index's ARN of this region names (`prefix`: this region's table ARN
/// before the name), not a backup's, an export's or `*`. Not a stream's
/// either: "stream resources do not inherit tags from their parent table"
/// (the developer guide's DynamoDB Streams ABAC page); a stream has its
/// own ([`stream_of_resource`]).
fn table_of_resource<'a>(prefix: &str, resource: &'a str) -> Option<&'a str> {
    let rest = resource.strip_prefix(prefix)?;
    match rest.split_once('/') {
        None => Some(rest),
        Some((t, tail)) if tail.starts_with("index/") => Some(t),
        Some(_) => None,
    }
    .filter(|t| !t.is_empty() && !t.contains('*'))
}

/// The tags a request asks for, as `aws:RequestTag/<key>`, and their keys
/// as `aws:TagKeys`: CreateTable's and TagResource's `Tags`, UntagResource's
/// `TagKeys`.
fn with_request_tags(op: &str, r: &Req<'_>, checks: &mut [Check]) {
    let mut tags: Vec<(String, String)> = Vec::new();
    let keys: Vec<String> = match op {
        "CreateTable" | "TagResource" => {
            for t in r.list_opt("Tags").ok().flatten().map(Vec::as_slice).unwrap_or_default() {
                if let (Some(k), Some(v)) = (t.get("Key").and_then(Json::as_str), t.get("Value").and_then(Json::as_str))
                {
                    tags.push((k.to_string(), v.to_string()));
                }
            }
            tags.iter().map(|(k, _)| k.clone()).collect()
        }
        "UntagResource" => {
            r.strings("TagKeys").ok().flatten().unwrap_or_default().iter().map(|k| k.to_string()).collect()
        }
        _ => return,
    };
    if keys.is_empty() {
        return;
    }
    for c in checks {
        set_tags(&mut c.context, "aws:RequestTag/", tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.context.set("aws:TagKeys", keys.clone());
    }
}

fn checks_of(
    app: &App,
    op: &str,
    body: &Map<String, Json>,
    streams: bool,
    named: &str,
    arn: &dyn Fn(&str) -> String,
) -> Vec<Check> {
    let r = Req(body);
    if streams {
        let resource = match op {
            // Rebuilt as the Streams API reads it (any region or account).
            "DescribeStream" | "GetShardIterator" | crate::streams::WAIT_OPERATION => r
                .str_opt("StreamArn")
                .ok()
                .flatten()
                .and_then(crate::streams::parse_arn)
                .map_or_else(|| UNKNOWN.to_string(), |(t, label)| app.stream_arn(t, label)),
            // No resource type (the Service Authorization Reference): a
            // policy grants it on `*` alone, whatever table it names.
            "ListStreams" => "*".into(),
            // GetRecords: the stream its iterator was issued for.
            _ => r
                .str_opt("ShardIterator")
                .ok()
                .flatten()
                .and_then(|t| app.streams.stream_of(app, t))
                .unwrap_or_else(|| UNKNOWN.into()),
        };
        // Waiting for records is reading them.
        let op = if op == crate::streams::WAIT_OPERATION { "GetRecords" } else { op };
        return vec![Check::new(format!("dynamodb:{op}"), resource)];
    }
    let action = format!("dynamodb:{op}");
    match op {
        "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" => {
            vec![item_check(app, &action, &r, op, Exprs::from_request(&r).ok())]
        }
        // SearchVectors is authorized on its vector index's ARN and on its
        // table's (both required, in the Service Authorization Reference).
        "SearchVectors" => {
            let index = r.str_opt("IndexName").ok().flatten().unwrap_or(UNKNOWN);
            let table = arn(named);
            vec![Check::new(action.clone(), format!("{table}/index/{index}")), Check::new(action, table)]
        }
        "Query" | "Scan" => {
            let mut resource = arn(named);
            if let Some(i) = r.str_opt("IndexName").ok().flatten() {
                resource = format!("{resource}/index/{i}");
            }
            let mut check = Check::new(action, resource);
            let schema = schema_of(app, named, r.str_opt("IndexName").ok().flatten());
            if op == "Query"
                && let Some(schema) = &schema
            {
                let v = query_hash(&r, schema).unwrap_or_else(|| UNKNOWN.into());
                check = check.with("dynamodb:LeadingKeys", vec![v]);
            }
            vec![reads(check, &r)]
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(items) = r.obj_opt("RequestItems").ok().flatten() else { return vec![Check::new(action, "*")] };
            items
                .0
                .iter()
                .take(MAX_CHECKED_ENTRIES)
                .map(|(table, spec)| {
                    let schema = schema_of(app, table_name(table), None);
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
                    for e in entries.into_iter().take(MAX_CHECKED_ENTRIES) {
                        match (&schema, e) {
                            (Some(s), Json::Object(m)) => keys.push(leading(m, s)),
                            (Some(_), _) => keys.push(UNKNOWN.into()),
                            (None, _) => {}
                        }
                        if let Json::Object(m) = e {
                            names.extend(m.keys().cloned());
                        }
                    }
                    names.sort();
                    names.dedup();
                    let check = Check::new(action.clone(), arn(table))
                        .with("dynamodb:LeadingKeys", keys)
                        .with("dynamodb:Attributes", names);
                    match spec {
                        Json::Object(m) => reads(check, &Req(m)),
                        _ => check,
                    }
                })
                .collect()
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let list = r.list_opt("TransactItems").ok().flatten().map(Vec::as_slice).unwrap_or_default();
            let mut out = Vec::new();
            for entry in list.iter().take(MAX_CHECKED_ENTRIES) {
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
                    // Each action's expressions are read as the transaction
                    // reads them.
                    let exprs = Exprs::from_action(&Req(inner)).ok();
                    let check = item_check(app, action, &Req(inner), item_op, exprs);
                    out.push(check.with("dynamodb:EnclosingOperation", enclosing));
                }
            }
            if out.is_empty() {
                out.push(Check::new(action, "*"));
            }
            out
        }
        "ExecuteStatement" => vec![partiql_check(app, &r, Mode::Single)],
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let (member, mode) = if op == "ExecuteTransaction" {
                ("TransactStatements", Mode::Transaction)
            } else {
                ("Statements", Mode::Batch)
            };
            let list = r.list_opt(member).ok().flatten().map(Vec::as_slice).unwrap_or_default();
            let mut out: Vec<Check> = list
                .iter()
                .take(MAX_CHECKED_ENTRIES)
                .filter_map(Json::as_object)
                .filter(|s| s.get("Statement").and_then(Json::as_str).is_some())
                .map(|s| partiql_check(app, &Req(s), mode).with("dynamodb:EnclosingOperation", vec![op.to_string()]))
                .collect();
            if out.is_empty() {
                out.push(Check::new(action, "*"));
            }
            out
        }
        // On every table: AWS names `table/*` in its denial, and a policy
        // that grants `table/*` allows it.
        "ListTables" => vec![Check::new(action, app.table_arn("*"))],
        "DescribeLimits"
        | "DescribeEndpoints"
        | "ListBackups"
        | "ListExports"
        | "ListImports"
        | "ListContributorInsights"
        | "ListGlobalTables" => vec![Check::new(action, "*")],
        // A version 2017.11.29 global table's ARN has no region.
        "CreateGlobalTable"
        | "DescribeGlobalTable"
        | "UpdateGlobalTable"
        | "DescribeGlobalTableSettings"
        | "UpdateGlobalTableSettings" => {
            let name = r.str_opt("GlobalTableName").ok().flatten().unwrap_or(UNKNOWN);
            vec![Check::new(action, format!("arn:aws:dynamodb::{}:global-table/{name}", super::ACCOUNT_ID))]
        }
        // On the index's ARN when an index is named.
        "UpdateContributorInsights" | "DescribeContributorInsights" if r.get("IndexName").is_some() => {
            let index = r.str_opt("IndexName").ok().flatten().unwrap_or(UNKNOWN);
            vec![Check::new(action, format!("{}/index/{index}", arn(named)))]
        }
        "TagResource" | "UntagResource" | "ListTagsOfResource" => {
            // A stream's ARN names the stream, tagged on its own.
            let stream = |a: &str| stream_of_resource(&app.table_arn(""), a).is_some();
            let resource = r
                .str_opt("ResourceArn")
                .ok()
                .flatten()
                .map_or_else(|| UNKNOWN.to_string(), |a| if stream(a) { a.to_string() } else { arn(a) });
            vec![Check::new(action, resource)]
        }
        "CreateTable" if r.get("ResourcePolicy").is_some() => {
            vec![Check::new(action, arn(named)), Check::new("dynamodb:PutResourcePolicy", arn(named))]
        }
        "PutResourcePolicy" | "GetResourcePolicy" | "DeleteResourcePolicy" => {
            vec![Check::new(action, r.str_opt("ResourceArn").ok().flatten().unwrap_or(UNKNOWN))]
        }
        "DescribeBackup" | "DeleteBackup" | "RestoreTableFromBackup" => {
            // The backup's own ARN: DynamoDB finds a backup by its id,
            // whatever table name or region the ARN sent has.
            let sent = r.str_opt("BackupArn").ok().flatten().unwrap_or("*");
            let mut out =
                vec![Check::new(action.clone(), app.backup_resource(sent).unwrap_or_else(|| sent.to_string()))];
            if op == "RestoreTableFromBackup" {
                // On the backup and on the table it makes (both required).
                let target = r.str_opt("TargetTableName").ok().flatten().map_or_else(|| UNKNOWN.to_string(), arn);
                out.push(Check::new(action, target));
                out.extend(restore_target(&r, arn));
            }
            out
        }
        "RestoreTableToPointInTime" => {
            let source = match (r.str_opt("SourceTableArn").ok().flatten(), r.str_opt("SourceTableName").ok().flatten())
            {
                (Some(a), _) => arn(a),
                (None, Some(n)) => arn(n),
                (None, None) => "*".into(),
            };
            let mut out = vec![Check::new(action, source)];
            out.extend(restore_target(&r, arn));
            out
        }
        "ExportTableToPointInTime" => {
            vec![Check::new(action, r.str_opt("TableArn").ok().flatten().map_or_else(|| UNKNOWN.to_string(), arn))]
        }
        "DescribeExport" => vec![Check::new(action, r.str_opt("ExportArn").ok().flatten().unwrap_or("*"))],
        "DescribeImport" => vec![Check::new(action, r.str_opt("ImportArn").ok().flatten().unwrap_or("*"))],
        "ImportTable" => {
            let name = body.get("TableCreationParameters").and_then(|p| p.get("TableName")).and_then(Json::as_str);
            vec![Check::new(action, name.map_or_else(|| "*".to_string(), arn))]
        }
        _ => vec![Check::new(action, if named.is_empty() { "*".to_string() } else { arn(named) })],
    }
}

/// The actions a restore needs on its target table besides its own: "read
/// and write permissions on the target table are necessary for restore
/// functionality" (the developer guide's "Using IAM with DynamoDB backup
/// and restore"; the Service Authorization Reference lists them).
fn restore_target(r: &Req<'_>, arn: &dyn Fn(&str) -> String) -> Vec<Check> {
    const TARGET_ACTIONS: [&str; 7] = [
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    ];
    let target = r.str_opt("TargetTableName").ok().flatten().map_or_else(|| UNKNOWN.to_string(), arn);
    TARGET_ACTIONS.iter().map(|a| Check::new(*a, target.clone())).collect()
}

/// A single-item operation on the request's table: its partition key and
/// attribute names.
fn item_check(app: &App, action: &str, r: &Req<'_>, op: &str, exprs: Option<Exprs>) -> Check {
    let table = table_name(r.str_opt("TableName").ok().flatten().unwrap_or_default());
    // No table named: the operation refuses the request (`checks`).
    let resource = if table.is_empty() { UNKNOWN.to_string() } else { app.table_arn(table) };
    let mut check = Check::new(action, resource);
    let schema = schema_of(app, table, None);
    // The member the operation reads its key from: a put's item, else the key.
    let key = if op == "PutItem" { r.get("Item") } else { r.get("Key") };
    if let Some(s) = &schema {
        let v = match key {
            Some(Json::Object(k)) => leading(k, s),
            _ => UNKNOWN.into(),
        };
        check = check.with("dynamodb:LeadingKeys", vec![v]);
    }
    let mut exprs = exprs;
    let mut names: Vec<String> = Vec::new();
    if let Some(Json::Object(k)) = key {
        names.extend(k.keys().cloned());
    }
    if op == "UpdateItem" {
        if let Some(Json::Object(u)) = r.get("AttributeUpdates") {
            names.extend(u.keys().cloned());
        }
        if let Some(text) = r.str_opt("UpdateExpression").ok().flatten() {
            match exprs.as_mut().map(|ex| expr::parse_update(text, &mut ex.ph)) {
                // What it writes and what its values read (`SET v = secret`
                // reads `secret`).
                Some(Ok(update)) => names.extend(update.paths().into_iter().map(|p| p.top().to_string())),
                _ => names.push(UNKNOWN.into()),
            }
        }
    }
    names.extend(legacy_names(r, "Expected"));
    names.extend(evaluated(r, exprs.as_mut(), "ConditionExpression", ExprKind::Condition));
    if matches!(op, "GetItem") {
        return reads(check.with("dynamodb:Attributes", names), r);
    }
    names.sort();
    names.dedup();
    // "The ReturnValues parameter always has a value (NONE unless
    // otherwise specified)" (the developer guide's fine-grained access
    // control), in a transaction's actions too, which have none.
    let returns = r.str_opt("ReturnValues").ok().flatten().unwrap_or("NONE");
    check.with("dynamodb:Attributes", names).with("dynamodb:ReturnValues", vec![returns.to_string()])
}

/// A read's projection (`dynamodb:Attributes`, added to what `check` has),
/// `dynamodb:Select` and `dynamodb:ReturnConsumedCapacity`.
fn reads(mut check: Check, r: &Req<'_>) -> Check {
    let mut names: Vec<String> = check.context.keys.remove("dynamodb:attributes").unwrap_or_default();
    let mut projected = false;
    if let Some(list) = r.strings("AttributesToGet").ok().flatten() {
        names.extend(list.iter().map(|s| s.to_string()));
        projected = true;
    } else if let Some(text) = r.str_opt("ProjectionExpression").ok().flatten() {
        match Exprs::names_only(r).map(|mut ex| expr::parse_projection(text, &mut ex.ph)) {
            Ok(Ok(paths)) => names.extend(paths.iter().map(|p| p.top().to_string())),
            _ => names.push(UNKNOWN.into()),
        }
        projected = true;
    }
    names.extend(filter_names(r));
    names.sort();
    names.dedup();
    check = check.with("dynamodb:Attributes", names);
    // DynamoDB's own default: all of a table's attributes, an index's
    // projected ones (Query and Scan's `Select`).
    let select = match r.str_opt("Select").ok().flatten() {
        Some(s) => s.to_string(),
        None if projected => "SPECIFIC_ATTRIBUTES".into(),
        None if r.str_opt("IndexName").ok().flatten().is_some() => "ALL_PROJECTED_ATTRIBUTES".into(),
        None => "ALL_ATTRIBUTES".into(),
    };
    check.with("dynamodb:Select", vec![select])
}

/// The attribute names a read's filter evaluates: `FilterExpression`
/// (and SearchVectors' `SearchConditionExpression`), `QueryFilter`,
/// `ScanFilter`. A filter is evaluated against every item read, so the
/// attributes it names are disclosed as surely as projected ones.
fn filter_names(r: &Req<'_>) -> Vec<String> {
    let mut names = legacy_names(r, "QueryFilter");
    names.extend(legacy_names(r, "ScanFilter"));
    let mut exprs = Exprs::from_request(r).ok();
    names.extend(evaluated(r, exprs.as_mut(), "FilterExpression", ExprKind::Filter));
    names.extend(evaluated(r, exprs.as_mut(), "SearchConditionExpression", ExprKind::SearchCondition));
    names
}

/// The top-level attribute names the condition expression in `member`
/// evaluates; [`UNKNOWN`] when it (or its placeholders) does not parse.
fn evaluated(r: &Req<'_>, exprs: Option<&mut Exprs>, member: &str, kind: ExprKind) -> Vec<String> {
    if r.get(member).is_none() {
        return Vec::new();
    }
    match exprs.map(|ex| ex.condition(r, member, kind)) {
        Some(Ok(Some(condition))) => condition.top_level_names().into_iter().map(str::to_string).collect(),
        Some(Ok(None)) => Vec::new(),
        _ => vec![UNKNOWN.into()],
    }
}

/// The attribute names a legacy condition map (`Expected`, `QueryFilter`,
/// `ScanFilter`) evaluates: its keys ([`UNKNOWN`] for a member that is no
/// map).
fn legacy_names(r: &Req<'_>, member: &str) -> Vec<String> {
    match r.get(member) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Object(m)) => m.keys().cloned().collect(),
        Some(_) => vec![UNKNOWN.into()],
    }
}

thread_local! {
    /// Set while the checks are for a call that runs on another engine.
    static ELSEWHERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (which computes checks) for a call another engine will run (a
/// worker's handler, `--source`): its tables' key schemas are not known
/// here, so every partition key is [`UNKNOWN`] and a condition on
/// `dynamodb:LeadingKeys` fails closed rather than finding no key to check.
pub fn for_elsewhere<T>(f: impl FnOnce() -> T) -> T {
    ELSEWHERE.with(|e| e.set(true));
    let out = f();
    ELSEWHERE.with(|e| e.set(false));
    out
}

/// The key schema of `table`, or of its index `index`.
fn schema_of(app: &App, table: &str, index: Option<&str>) -> Option<KeySchema> {
    if ELSEWHERE.with(std::cell::Cell::get) {
        // A key attribute no item has: every partition key is UNKNOWN.
        let nowhere = tidepool_store::table::KeyAttr { name: String::new(), ty: tidepool_store::value::AttrType::S };
        return Some(KeySchema::simple(nowhere, None));
    }
    let handle = app.store.table(table).ok()?;
    match index {
        Some(i) => handle.def.index(i).map(|i| i.key_schema.clone()),
        None => Some(handle.def.key_schema.clone()),
    }
}

/// The partition key value of an item or key, as text ([`UNKNOWN`] when
/// it has none).
fn leading(item: &Map<String, Json>, schema: &KeySchema) -> String {
    item.get(&schema.hash.name)
        .and_then(|v| super::attr::value_from_json_unnested(v).ok())
        .map_or_else(|| UNKNOWN.into(), |v| key_text(&v))
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
    // The partition key's value as sent, whatever its type (a wrong one is
    // the operation's fault to report, once allowed).
    cond.conditions.iter().find_map(|(name, c)| match c {
        tidepool_store::expr::RangeCondition::Eq(v) if *name == schema.hash.name => Some(key_text(v)),
        _ => None,
    })
}

/// BatchExecuteStatement's statements, each checked on its own as
/// DynamoDB checks them (a statement denied is that statement's
/// `AccessDenied`, the others run): for each statement in order, its
/// denial's message, or `None` when `authorize` allows it or it does not
/// parse (then it fails as the statement it is).
pub(crate) fn batch_statement_denials(
    app: &App,
    body: &Map<String, Json>,
    authorize: impl Fn(Vec<Check>) -> Result<(), crate::iam::Denial>,
) -> Vec<Option<String>> {
    let list = body.get("Statements").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .take(MAX_CHECKED_ENTRIES)
        .map(|s| {
            let text = s.get("Statement").and_then(Json::as_str)?;
            if tidepool_store::partiql::parse(text).is_err() {
                // Sent to another engine, whose parser may take it: not
                // authorizable here, so the batch is refused whole.
                return ELSEWHERE
                    .with(std::cell::Cell::get)
                    .then(|| tidepool_store::messages::server::UNAUTHORIZABLE_ELSEWHERE.to_string());
            }
            let enclosing = vec!["BatchExecuteStatement".to_string()];
            let statement = Req(s.as_object()?);
            let mut check =
                [partiql_check(app, &statement, Mode::Batch).with("dynamodb:EnclosingOperation", enclosing)];
            with_consumed_capacity("BatchExecuteStatement", &Req(body), &mut check);
            with_resource_policies(app, &mut check);
            authorize(check.into()).err().map(|d| d.message)
        })
        .collect()
}

/// A PartiQL statement (`r`: its `Statement` and `Parameters`), parsed as
/// the operation parses it: its verb's action on its table (or index). Its
/// keys and attributes are not read here, so they are [`UNKNOWN`]; one
/// that does not parse is on [`UNKNOWN`], and the operation reports the
/// syntax error to a caller allowed to send it. A `SELECT` carries
/// `dynamodb:FullTableScan`: whether it is planned as a scan (no equality
/// on the partition key), [`UNKNOWN`] when it cannot be planned.
fn partiql_check(app: &App, r: &Req<'_>, mode: Mode) -> Check {
    use tidepool_store::partiql::{Access, Op, Plan};
    let statement = r.str_opt("Statement").ok().flatten().unwrap_or_default();
    let Ok(parsed) = tidepool_store::partiql::parse(statement) else {
        // Dropped by `checks`: the operation refuses the statement.
        return Check::new("dynamodb:ExecuteStatement", UNKNOWN);
    };
    let full_scan = || -> Option<bool> {
        let table = app.store.table(parsed.table()).ok()?;
        let params = super::partiql::parameters(r).ok()?;
        match tidepool_store::partiql::plan(&parsed, &params, &table.def, mode).ok()? {
            Plan::Select(p) => Some(matches!(p.access, Access::Scan)),
            _ => None,
        }
    };
    let full_scan = match parsed.op {
        Op::Select(_) => Some(full_scan().map_or_else(|| UNKNOWN.to_string(), |f| f.to_string())),
        _ => None,
    };
    let action = match parsed.op {
        Op::Select(_) => "dynamodb:PartiQLSelect",
        Op::Exists(_) => "dynamodb:ConditionCheckItem",
        Op::Insert { .. } => "dynamodb:PartiQLInsert",
        Op::Update { .. } => "dynamodb:PartiQLUpdate",
        Op::Delete { .. } => "dynamodb:PartiQLDelete",
    };
    let mut resource = app.table_arn(parsed.table());
    if let Some(i) = parsed.index() {
        resource = format!("{resource}/index/{i}");
    }
    let check = Check::new(action, resource)
        .with("dynamodb:LeadingKeys", vec![UNKNOWN.into()])
        .with("dynamodb:Attributes", vec![UNKNOWN.into()]);
    match full_scan {
        Some(f) => check.with("dynamodb:FullTableScan", vec![f]),
        None => check,
    }
}

#[cfg(test)]
mod tests {
    use super::{checks, for_elsewhere, table_name, unreadable_elsewhere};

    /// A request whose resource cannot be read here is left to its
    /// operation (which refuses it) when served here, and refused whole
    /// when another engine would run it (whose parser may take it).
    #[test]
    fn unreadable_resources_are_refused_by_the_operation_here_and_whole_elsewhere() {
        let app = super::super::testing::app();
        let body = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let statement = body(serde_json::json!({"Statement": "SELEC * FROM t"}));
        let no_table = body(serde_json::json!({"Key": {"pk": {"S": "a"}}}));
        for (op, b) in [("ExecuteStatement", &statement), ("GetItem", &no_table)] {
            let here = checks(&app, op, b, false);
            assert!(here.is_empty(), "{op}: {here:?}");
            assert!(unreadable_elsewhere(&here).is_none());
            let there = for_elsewhere(|| {
                let c = checks(&app, op, b, false);
                unreadable_elsewhere(&c).map(|e| e.kind)
            });
            assert_eq!(there.as_deref(), Some("com.amazon.coral.validate#ValidationException"), "{op}");
        }
        let readable = body(serde_json::json!({"Statement": "SELECT * FROM t"}));
        let there =
            for_elsewhere(|| unreadable_elsewhere(&checks(&app, "ExecuteStatement", &readable, false)).is_none());
        assert!(there);
    }

    #[test]
    fn a_table_is_read_from_its_arns_resource_part() {
        assert_eq!(table_name("t"), "t");
        assert_eq!(table_name("arn:aws:dynamodb:us-east-1:000000000000:table/t"), "t");
        assert_eq!(table_name("arn:aws:dynamodb:us-east-1:000000000000:table/t/index/g"), "t");
        // As the worker's mirror reads it, not as the first `:table/`.
        assert_eq!(table_name("arn:x:dynamodb:table/Allowed/z:1:table/Secret"), "Secret");
    }
}
