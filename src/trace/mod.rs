//! Trace a write: from an item, its latest stream record, the trigger
//! invocations whose batch held that record (with their log lines), and
//! the writes those invocations made, each of which can be traced in turn.
//! `GET /tidepool/trace?table=T&key=<the key as DynamoDB JSON>`.
//!
//! The record is the store's ([`Store::latest_record`](tidepool_store::Store::latest_record));
//! the batches are each mapping's recent ones
//! ([`tidepool_runtime::esm::trace`]); the writes are recorded here, by
//! request id, as the store bridge runs a handler's calls ([`Writes`]).
//! All three are bounded and in memory: a trace reaches as far back as
//! they do.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;

use crate::dynamodb::App;
use crate::dynamodb::error::ApiError;

/// Invocations whose writes are kept, the oldest forgotten first.
pub const MAX_TRACED_INVOCATIONS: usize = 10_000;
/// Writes kept per invocation (a batch write counts each item); past it a
/// trace says how many more there were.
pub const MAX_WRITES_PER_INVOCATION: usize = 25;
/// Bytes of the writes kept (keys and table names), over all invocations:
/// keys may be large (up to 2 KB of partition key and 1 KB of sort key), so
/// the count above alone would allow about a gigabyte.
pub const MAX_TRACED_WRITE_BYTES: usize = 16 * 1024 * 1024;
/// Log lines a trace shows per invocation.
pub const MAX_LOG_LINES: usize = 50;

/// One item a handler wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Write {
    pub operation: String,
    pub table_name: String,
    /// The item's key, as DynamoDB JSON.
    pub key: Json,
}

#[derive(Default)]
struct Kept {
    order: VecDeque<String>,
    /// Writes by request id, and how many were not kept.
    by_request: HashMap<String, (Vec<Write>, usize)>,
    /// The bytes of the writes kept ([`Write::bytes`]).
    bytes: usize,
}

impl Write {
    /// About what the write takes in memory.
    fn bytes(&self) -> usize {
        self.operation.len() + self.table_name.len() + self.key.to_string().len() + 64
    }
}

/// The writes of recent invocations, by request id.
#[derive(Default)]
pub struct Writes(Mutex<Kept>);

impl Writes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what invocation `request_id`'s call `operation` (which
    /// succeeded) wrote.
    pub fn record(&self, app: &App, request_id: &str, operation: &str, request: &Map<String, Json>) {
        let writes = written(app, operation, request);
        if writes.is_empty() {
            return;
        }
        let mut kept = self.lock();
        let kept = &mut *kept;
        let new = !kept.by_request.contains_key(request_id);
        // Room is made for the writes that may be kept, no more.
        let room = MAX_WRITES_PER_INVOCATION - kept.by_request.get(request_id).map_or(0, |(l, _)| l.len());
        let added: usize = writes.iter().take(room).map(Write::bytes).sum();
        // The oldest invocations go first, never the one being recorded.
        while (new && kept.order.len() >= MAX_TRACED_INVOCATIONS)
            || (kept.bytes + added > MAX_TRACED_WRITE_BYTES && kept.order.front().is_some_and(|r| r != request_id))
        {
            let Some(old) = kept.order.pop_front() else { break };
            if let Some((list, _)) = kept.by_request.remove(&old) {
                kept.bytes -= list.iter().map(Write::bytes).sum::<usize>();
            }
        }
        if new {
            kept.order.push_back(request_id.to_string());
        }
        let (list, more) = kept.by_request.entry(request_id.to_string()).or_default();
        for w in writes {
            let size = w.bytes();
            if list.len() < MAX_WRITES_PER_INVOCATION && kept.bytes + size <= MAX_TRACED_WRITE_BYTES {
                kept.bytes += size;
                list.push(w);
            } else {
                *more += 1;
            }
        }
    }

    /// What invocation `request_id` wrote (as far as kept), and how many
    /// writes more it made.
    pub fn of(&self, request_id: &str) -> (Vec<Write>, usize) {
        self.lock().by_request.get(request_id).cloned().unwrap_or_default()
    }
}

/// The items a write request names: each with its table and key.
fn written(app: &App, operation: &str, request: &Map<String, Json>) -> Vec<Write> {
    let key_of = |table: &str, item: &Json| -> Option<Json> {
        let handle = app.store.table(table).ok()?;
        let s = &handle.def.key_schema;
        let mut key = Map::new();
        for attr in std::iter::once(&s.hash).chain(&s.more_hash).chain(&s.range).chain(&s.more_range) {
            key.insert(attr.name.clone(), item.get(&attr.name)?.clone());
        }
        Some(Json::Object(key))
    };
    let one = |op: &str, table: Option<&str>, key: Option<Json>| -> Option<Write> {
        Some(Write { operation: op.to_string(), table_name: table?.to_string(), key: key? })
    };
    let table = request.get("TableName").and_then(Json::as_str);
    let mut out = Vec::new();
    match operation {
        "PutItem" => out.extend(one(operation, table, table.zip(request.get("Item")).and_then(|(t, i)| key_of(t, i)))),
        "UpdateItem" | "DeleteItem" => out.extend(one(operation, table, request.get("Key").cloned())),
        "BatchWriteItem" => {
            for (t, requests) in request.get("RequestItems").and_then(Json::as_object).into_iter().flatten() {
                for r in requests.as_array().into_iter().flatten() {
                    if let Some(item) = r.pointer("/PutRequest/Item") {
                        out.extend(one("PutItem", Some(t), key_of(t, item)));
                    } else if let Some(key) = r.pointer("/DeleteRequest/Key") {
                        out.extend(one("DeleteItem", Some(t), Some(key.clone())));
                    }
                }
            }
        }
        "TransactWriteItems" => {
            for action in request.get("TransactItems").and_then(Json::as_array).into_iter().flatten() {
                for (op, name) in [("Put", "PutItem"), ("Update", "UpdateItem"), ("Delete", "DeleteItem")] {
                    let Some(a) = action.get(op) else { continue };
                    let t = a.get("TableName").and_then(Json::as_str);
                    let key = match op {
                        "Put" => t.zip(a.get("Item")).and_then(|(t, i)| key_of(t, i)),
                        _ => a.get("Key").cloned(),
                    };
                    out.extend(one(name, t, key));
                }
            }
        }
        _ => {}
    }
    out
}

/// One invocation in a trace.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Invocation {
    function_name: String,
    #[serde(rename = "UUID")]
    uuid: String,
    #[serde(flatten)]
    batch: tidepool_runtime::esm::trace::TracedBatch,
    finished: String,
    log: Vec<String>,
    writes: Vec<Write>,
    more_writes: usize,
}

/// The trace of the item with key `key` in table `table`, as `caller` (when
/// authentication is on: a principal with policies, or any once some table
/// has a resource-based policy) may see it: the item and its record only
/// if the table's and its stream's resource-based policies do not deny it
/// GetItem and GetRecords (its own policies were checked with the request),
/// and the writes to tables it may read (GetItem).
pub fn trace(app: &App, table: &str, key: &Json, caller: Option<&crate::http::auth::Caller>) -> Result<Json, ApiError> {
    let key_item = crate::dynamodb::attr::item_from_json(key)?;
    // A check with the resource-based policy that governs its resource.
    let check = |action: &str, arn: String| {
        let mut check = crate::iam::Check::new(action, arn);
        check.resource_policy = crate::dynamodb::policy::governing(app, &check.resource);
        check
    };
    let denied =
        |d: crate::iam::Denial| ApiError::new(axum::http::StatusCode::FORBIDDEN, "AccessDeniedException", d.message);
    if let Some(p) = caller {
        p.authorize(vec![check("dynamodb:GetItem", app.table_arn(table))], &app.region).map_err(denied)?;
    }
    // A witness copy is no table to clients (`global_tables::witness`).
    let handle = app.store.table(table).ok().filter(|_| crate::global_tables::witness::visible(app, table));
    let handle = handle.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            format!("Requested resource not found: Table: {table} not found"),
        )
    })?;
    let item = app.store.get_item(&handle, &key_item).map_err(ApiError::from)?;
    let found = app.store.latest_record(table, &key_item).map_err(ApiError::from)?;
    let mut out = json!({
        "TableName": table,
        "Key": key,
        "Item": item.as_ref().map(tidepool_store::value::json::item_to_json),
        "Record": null,
        "Invocations": [],
    });
    let Some((meta, shard, record)) = found else { return Ok(out) };
    let stream_arn = app.stream_arn(&meta.table, &meta.label);
    if let Some(p) = caller {
        p.authorize(vec![check("dynamodb:GetRecords", stream_arn.clone())], &app.region).map_err(denied)?;
    }
    out["StreamArn"] = json!(stream_arn);
    out["ShardId"] = json!(shard);
    out["Record"] =
        record.to_json(meta.view_type, &app.region, false, app.store.stream_config().mark_replicated_writes);
    let Some(lambda) = app.lambda.get() else { return Ok(out) };
    let mut invocations = Vec::new();
    for m in lambda.mappings(None, Some(&stream_arn)) {
        let function = m.function_name.split(':').next().unwrap_or_default().to_string();
        for batch in lambda.engine.batches_with(&m.uuid, &shard, u128::from(record.seq)) {
            let log = lambda
                .logs
                .of_request(&function, &batch.request_id, MAX_LOG_LINES)
                .into_iter()
                .map(|l| l.message)
                .collect();
            let (mut writes, mut more_writes) = app.traces.of(&batch.request_id);
            if let Some(p) = caller {
                let before = writes.len();
                writes.retain(|w| {
                    p.authorize(vec![check("dynamodb:GetItem", app.table_arn(&w.table_name))], &app.region).is_ok()
                });
                more_writes += before - writes.len();
            }
            invocations.push(Invocation {
                function_name: function.clone(),
                uuid: m.uuid.clone(),
                finished: format!("{}Z", tidepool_store::format_timestamp_millis(batch.finished_ms)),
                batch,
                log,
                writes,
                more_writes,
            });
        }
    }
    invocations.sort_by_key(|i| i.batch.finished_ms);
    out["Invocations"] = serde_json::to_value(invocations).unwrap_or(Json::Null);
    Ok(out)
}

/// `GET /tidepool/trace?table=T&key=K`. A write the caller may not read
/// (its table's GetItem) is counted in `MoreWrites`, not shown.
pub async fn serve(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    caller: Option<axum::Extension<crate::http::auth::Caller>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let q = crate::lambda::api::query(&uri);
    // Only a caller with policies is limited, and an administrator by a
    // resource-based policy's explicit deny.
    let caller = caller.map(|c| c.0).filter(|c| c.principal.policies.is_some() || app.store.any_resource_policy());
    let result = tokio::task::spawn_blocking(move || {
        let (Some(table), Some(key)) = (q.get("table"), q.get("key")) else {
            return Err(ApiError::validation(messages::server::TRACE_PARAMETERS_REQUIRED));
        };
        let key: Json =
            serde_json::from_str(key).map_err(|e| ApiError::validation(messages::server::trace_key_not_json(e)))?;
        trace(&app, table, &key, caller.as_ref())
    })
    .await
    .unwrap_or_else(|_| Err(ApiError::internal()));
    match result {
        Ok(j) => axum::Json(j).into_response(),
        Err(e) => crate::lambda::api::Failure::from(&e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::testing::{app, call};

    #[test]
    fn names_the_items_each_write_operation_writes() {
        let app = app();
        call(
            &app,
            "CreateTable",
            json!({
                "TableName": "traced",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
                "BillingMode": "PAY_PER_REQUEST",
            }),
        );
        let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
        let put = json!({"TableName": "traced", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}}});
        let w = written(&app, "PutItem", put.as_object().unwrap());
        assert_eq!(w, [Write { operation: "PutItem".into(), table_name: "traced".into(), key: key.clone() }]);
        let batch = json!({"RequestItems": {"traced": [
            {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "2"}}}},
            {"DeleteRequest": {"Key": key}},
        ]}});
        let w = written(&app, "BatchWriteItem", batch.as_object().unwrap());
        assert_eq!(w.iter().map(|w| w.operation.as_str()).collect::<Vec<_>>(), ["PutItem", "DeleteItem"]);
        let tx = json!({"TransactItems": [
            {"ConditionCheck": {"TableName": "traced", "Key": key}},
            {"Update": {"TableName": "traced", "Key": key}},
        ]});
        assert_eq!(written(&app, "TransactWriteItems", tx.as_object().unwrap()).len(), 1);
        assert!(written(&app, "GetItem", json!({"TableName": "traced", "Key": key}).as_object().unwrap()).is_empty());

        // Kept per invocation within bounds.
        let writes = Writes::default();
        for _ in 0..MAX_WRITES_PER_INVOCATION + 3 {
            writes.record(&app, "r1", "PutItem", put.as_object().unwrap());
        }
        let (kept, more) = writes.of("r1");
        assert_eq!((kept.len(), more), (MAX_WRITES_PER_INVOCATION, 3));
        for i in 0..MAX_TRACED_INVOCATIONS {
            writes.record(&app, &format!("x{i}"), "PutItem", put.as_object().unwrap());
        }
        assert!(writes.of("r1").0.is_empty(), "the oldest invocation forgotten");
        assert_eq!(writes.lock().by_request.len(), MAX_TRACED_INVOCATIONS);
        let total: usize = writes.lock().by_request.values().flat_map(|(l, _)| l).map(Write::bytes).sum();
        assert_eq!(writes.lock().bytes, total);

        // And within bytes: large keys push the oldest out.
        let big = json!({"TableName": "traced", "Key": {"pk": {"S": "k".repeat(2000)}, "sk": {"N": "1"}}});
        let writes = Writes::default();
        for i in 0..20_000 {
            writes.record(&app, &format!("b{i}"), "UpdateItem", big.as_object().unwrap());
        }
        let kept = writes.lock();
        assert!(kept.bytes <= MAX_TRACED_WRITE_BYTES && kept.bytes > MAX_TRACED_WRITE_BYTES / 2, "{}", kept.bytes);
        assert!(kept.by_request.contains_key("b19999") && !kept.by_request.contains_key("b0"));
    }
}
