//! Validation that DynamoDB does before it looks a table up: the request's
//! members against their declared constraints (lengths, patterns, enums,
//! ranges). A malformed request on a missing table is therefore a
//! `ValidationException`, never `ResourceNotFoundException`, and several
//! violations are reported together in DynamoDB's envelope:
//! `N validation errors detected: <one>; <two>`.
//!
//! The constraints and their wording are DynamoDB's, as the public
//! conformance suite (nubo-db/dynamodb-conformance, `tests/tier3/
//! validation-ordering` and `error-messages`) captured them against the live
//! service: a table name's errors stop validation early (nothing else is
//! reported with them); PutItem, DeleteItem, GetItem, Query and Scan report
//! every enum and range violation together; UpdateItem reports only its
//! first.

use serde_json::Value as Json;

use tidepool_store::expr::{self, ExprKind};
use tidepool_store::messages;

use super::attr::item_from_json;
use super::error::{ApiError, ApiResult};
use super::expr::{Exprs, expr_err};
use super::items::update_of;
use super::request::{Req, lower_first};

const RETURN_VALUES: &[&str] = &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
const RETURN_CONSUMED_CAPACITY: &[&str] = &["INDEXES", "TOTAL", "NONE"];
const RETURN_ITEM_COLLECTION_METRICS: &[&str] = &["SIZE", "NONE"];
const SELECT: &[&str] = &["SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"];
const RETURN_ON_FAILURE: &[&str] = &["ALL_OLD", "NONE"];
/// A table name or ARN in a data-plane request: 1 to 255 characters of a
/// name (an ARN may be up to 1024).
const MAX_TABLE_NAME: usize = 255;
const MAX_TABLE_ARN: usize = 1024;

/// One constraint violation, in DynamoDB's words.
pub(super) struct Violation(pub(super) String);

/// Validates the members of `op` that DynamoDB checks before resolving its
/// table. Operations without such checks pass.
pub fn before_lookup(op: &str, r: &Req<'_>) -> ApiResult<()> {
    let enums: &[(&str, &[&str])] = match op {
        "PutItem" => &[
            ("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY),
            ("ReturnItemCollectionMetrics", RETURN_ITEM_COLLECTION_METRICS),
            ("ReturnValues", RETURN_VALUES),
            ("ReturnValuesOnConditionCheckFailure", RETURN_ON_FAILURE),
        ],
        "DeleteItem" | "UpdateItem" => &[
            ("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY),
            ("ReturnItemCollectionMetrics", RETURN_ITEM_COLLECTION_METRICS),
            ("ReturnValues", RETURN_VALUES),
            ("ReturnValuesOnConditionCheckFailure", RETURN_ON_FAILURE),
        ],
        "GetItem" => &[("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)],
        "Query" | "Scan" => &[("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY), ("Select", SELECT)],
        "BatchGetItem" | "BatchWriteItem" | "TransactWriteItems" | "TransactGetItems" | "CreateTable" => {
            return multi_table(op, r);
        }
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let found = nested(op, r);
            return if found.is_empty() { Ok(()) } else { Err(report(found)) };
        }
        // A table's settings: its name's constraints first, all of them.
        "UpdateTable" | "UpdateTimeToLive" | "DescribeTimeToLive" | "DescribeTable" => {
            let mut found = control_table_name(r);
            if found.is_empty() {
                found = update_key_names(r);
                found.extend(nested(op, r));
                found.truncate(MAX_VIOLATIONS);
            }
            return if found.is_empty() { Ok(()) } else { Err(report(found)) };
        }
        _ => return Ok(()),
    };
    if super::layer::is_deep() && super::layer::envelops(op) {
        deep_item_write(op, r)?;
    }
    if op == "UpdateItem" && r.get("Key").is_none_or(Json::is_null) {
        return Err(report(update_without_key(r)));
    }
    // A ConditionalOperator outside its set comes first, bare and alone, in
    // the newer form's words (the conformance suite, 2026-10: beside an
    // unknown Select, and ahead of an Expected value nested 33 or 40 levels).
    if matches!(op, "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan")
        && let Some(Json::String(operator)) = r.get("ConditionalOperator")
        && !matches!(operator.as_str(), "AND" | "OR")
    {
        return Err(ApiError::validation(messages::request::CONDITIONAL_OPERATOR_NOT_IN_ENUM));
    }
    if let Some(v) = table_name(r) {
        return Err(report(vec![v]));
    }
    let mut found = Vec::new();
    if matches!(op, "Query" | "Scan") {
        if let Some(Json::Number(n)) = r.get("Limit")
            && let Some(l) = n.as_i64().filter(|l| *l < 1)
        {
            // The live service words the two differently (its 2026
            // rewording reached Query first).
            found.push(Violation(if op == "Query" {
                messages::request::unechoed_at("Limit", messages::request::min_value(1))
            } else {
                messages::request::value_at(l, "limit", messages::request::min_value(1))
            }));
        }
        if op == "Scan"
            && let Some(Json::Number(n)) = r.get("Segment")
            && let Some(s) = n.as_i64().filter(|s| *s < 0)
        {
            found.push(Violation(messages::request::value_at(s, "segment", messages::request::min_value(0))));
        }
        // An index name's constraints need no table (dynalite's tests,
        // checked against DynamoDB).
        if let Some(Json::String(name)) = r.get("IndexName") {
            let mut rules = name_constraints(name);
            if name.starts_with("arn:") {
                rules.push(messages::request::NAME_PATTERN.to_string());
            }
            for rule in rules {
                found.push(Violation(messages::request::value_at(name, "indexName", rule)));
            }
        }
    }
    found.extend(enum_violations(r, enums));
    if op == "UpdateItem" {
        found.truncate(1);
    }
    if found.is_empty() { Ok(()) } else { Err(report(found)) }
}

/// An UpdateItem without a Key: DynamoDB checks the whole request against
/// its model and reports every member that fails, in its model's order
/// and with its enum sets in their hash order (the conformance suite's
/// capture, 2026-10).
fn update_without_key(r: &Req<'_>) -> Vec<Violation> {
    let mut found = enum_violations(r, &[("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)]);
    if let Some(Json::String(name)) = r.get("TableName") {
        for rule in name_constraints(name) {
            let rule = if name.is_empty() { messages::request::min_length(1) } else { rule };
            found.push(Violation(messages::request::value_at(name, "tableName", rule)));
            if name.is_empty() {
                break;
            }
        }
    }
    found.extend(enum_violations(
        r,
        &[
            ("ReturnValues", &["ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"]),
            ("ReturnItemCollectionMetrics", RETURN_ITEM_COLLECTION_METRICS),
            ("ConditionalOperator", &["OR", "AND"]),
        ],
    ));
    found.push(Violation(messages::request::null_at("key")));
    found
}

/// An item write nested past about 62 levels ([`super::layer::deep_request`]):
/// ConditionalOperator and ReturnValues first, in their older words.
fn deep_item_write(op: &str, r: &Req<'_>) -> ApiResult<()> {
    let older = enum_violations(
        r,
        &[
            ("ConditionalOperator", &["OR", "AND"]),
            ("ReturnValues", &["ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"]),
        ],
    );
    if let Some(first) = older.into_iter().next() {
        return Err(report(vec![first]));
    }
    if op != "UpdateItem"
        && let Some(Json::String(rv)) = r.get("ReturnValues")
        && !matches!(rv.as_str(), "NONE" | "ALL_OLD")
    {
        return Err(ApiError::validation(messages::item::RETURN_VALUES_ALL_OLD_OR_NONE));
    }
    Ok(())
}

/// The enum members `op` has, checked in this order.
fn enum_violations(r: &Req<'_>, members: &[(&str, &[&str])]) -> Vec<Violation> {
    let mut found = Vec::new();
    for (member, allowed) in members {
        enum_at(r.get(member), || lower_first(member), allowed, &mut found);
    }
    found
}

/// A member's `value`, if it is a string outside `allowed`, by its path
/// (made only then).
fn enum_at(value: Option<&Json>, path: impl FnOnce() -> String, allowed: &[&str], found: &mut Vec<Violation>) {
    if let Some(Json::String(v)) = value
        && !allowed.contains(&v.as_str())
    {
        found.push(Violation(messages::request::value_at(v, path(), messages::request::in_enum(allowed))));
    }
}

/// A table name that breaks its member constraints (1 to 255 characters of
/// `[a-zA-Z0-9_.-]`, or an ARN): the constraints it breaks.
pub(super) fn name_constraints(name: &str) -> Vec<String> {
    let mut broken = Vec::new();
    if name.starts_with("arn:") {
        return broken;
    }
    if name.len() > MAX_TABLE_NAME {
        broken.push(messages::request::max_length(MAX_TABLE_NAME));
    }
    if name.len() < 3 {
        broken.push(messages::request::min_length(3));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        broken.push(messages::request::NAME_PATTERN.to_string());
    }
    broken
}

/// The batch, transaction and CreateTable members DynamoDB checks before
/// any table is looked up, as the conformance suite captured them
/// (paritysuite/dynamodb-conformance, `tests/tier3/validation-ordering`,
/// 2026-10): BatchGetItem reports a malformed table name (its map echoed as
/// JSON) with its enum; BatchWriteItem its enums alone, else the table name
/// (its map echoed as Java prints it); TransactWriteItems an overlong
/// ClientRequestToken with its enums; a transaction's table names by
/// position; CreateTable every index name, global indexes first.
fn multi_table(op: &str, r: &Req<'_>) -> ApiResult<()> {
    let items = r.get("RequestItems").and_then(Json::as_object);
    // A map key breaks the constraints: all of them DynamoDB lists.
    let bad_key = || {
        items.and_then(|m| m.keys().find(|k| !name_constraints(k).is_empty())).map(|_| {
            messages::request::map_keys(&[
                messages::request::max_length(MAX_TABLE_NAME),
                messages::request::min_length(3),
                messages::request::NAME_PATTERN.to_string(),
            ])
        })
    };
    let found = match op {
        "BatchGetItem" => {
            let mut found = Vec::new();
            if let (Some(rule), Some(m)) = (bad_key(), items) {
                let echo = serde_json::to_string(m).unwrap_or_default();
                found.push(Violation(messages::request::value_at(echo, "requestItems", rule)));
            }
            found.extend(enum_violations(r, &[("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)]));
            found.extend(nested(op, r));
            found
        }
        "BatchWriteItem" => {
            let found = enum_violations(
                r,
                &[
                    ("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY),
                    ("ReturnItemCollectionMetrics", RETURN_ITEM_COLLECTION_METRICS),
                ],
            );
            let mut found = match (bad_key(), items) {
                (Some(rule), Some(m)) if found.is_empty() => {
                    let echo = super::batch::java::request_items(m);
                    vec![Violation(messages::request::value_at(echo, "requestItems", rule))]
                }
                _ => found,
            };
            found.extend(nested(op, r));
            found
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let write = op == "TransactWriteItems";
            let mut found = Vec::new();
            if let Some(Json::String(t)) = r.get("ClientRequestToken").filter(|_| write)
                && t.len() > 36
            {
                found.push(Violation(messages::request::value_at(
                    t,
                    "clientRequestToken",
                    messages::request::max_length(36),
                )));
            }
            let enums: &[(&str, &[&str])] = if write {
                &[
                    ("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY),
                    ("ReturnItemCollectionMetrics", RETURN_ITEM_COLLECTION_METRICS),
                ]
            } else {
                &[("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)]
            };
            found.extend(enum_violations(r, enums));
            found.extend(nested(op, r));
            if found.is_empty() {
                found.extend(transact_table_name(r).into_iter().take(1));
            }
            found
        }
        "CreateTable" => {
            // In the model's order: the table's names, then each index's
            // name, key and projection (global indexes first).
            let mut found = table_key_names(r);
            let mut index_names = 0;
            for (member, path) in [
                ("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
                ("LocalSecondaryIndexes", "localSecondaryIndexes"),
            ] {
                for (i, index) in r.get(member).and_then(Json::as_array).into_iter().flatten().enumerate() {
                    let at = format!("{path}.{}.member.", i + 1);
                    if let Some(Json::String(name)) = index.get("IndexName") {
                        for rule in name_constraints(name) {
                            found.push(Violation(messages::request::value_at(name, format!("{at}indexName"), rule)));
                            index_names += 1;
                        }
                    }
                    index_key_names(index, &at, &mut found);
                }
            }
            // One index name alone is worded by the table's own check.
            let missing = nested(op, r);
            if index_names < 2 && found.len() == index_names && missing.is_empty() {
                return Ok(());
            }
            found.extend(missing);
            found.truncate(MAX_VIOLATIONS);
            found
        }
        _ => Vec::new(),
    };
    if found.is_empty() { Ok(()) } else { Err(report(found)) }
}

/// The longest key attribute name (a table's or an index's) and a name in
/// an index's `NonKeyAttributes`, in UTF-16 units: the request model's
/// `KeySchemaAttributeName` and `NonKeyAttributeName` (Alternator's
/// `test_limits.py` finds both refused at 256 on the live service).
const MAX_KEY_ATTRIBUTE_NAME: usize = 255;

/// A key attribute name against its length, in UTF-16 units as DynamoDB's
/// model counts: a violation at `path`, or none.
fn key_name_at(name: &Json, path: String, found: &mut Vec<Violation>) {
    let Some(name) = name.as_str() else { return };
    let units = name.encode_utf16().count();
    let rule = if units > MAX_KEY_ATTRIBUTE_NAME {
        messages::request::max_length(MAX_KEY_ATTRIBUTE_NAME)
    } else if units == 0 {
        messages::request::min_length(1)
    } else {
        return;
    };
    found.push(Violation(messages::request::value_at(name, path, rule)));
}

/// The key attribute names of a key schema at `path` (`""`, or an index's
/// `globalSecondaryIndexes.1.member.`).
fn key_schema_names(schema: Option<&Json>, path: &str, found: &mut Vec<Violation>) {
    for (j, k) in elements(schema) {
        if let Some(n) = k.get("AttributeName") {
            key_name_at(n, format!("{path}keySchema.{j}.member.attributeName"), found);
        }
    }
}

/// CreateTable's and UpdateTable's `AttributeDefinitions` names and the
/// table's own key schema names, against their lengths.
fn table_key_names(r: &Req<'_>) -> Vec<Violation> {
    let mut found = Vec::new();
    for (i, d) in elements(r.get("AttributeDefinitions")) {
        if let Some(n) = d.get("AttributeName") {
            key_name_at(n, format!("attributeDefinitions.{i}.member.attributeName"), &mut found);
        }
    }
    key_schema_names(r.get("KeySchema"), "", &mut found);
    found
}

/// An index definition's (at `path`) key attribute names and projected
/// names, against their lengths: one violation each, a projection's list
/// once.
fn index_key_names(index: &Json, path: &str, found: &mut Vec<Violation>) {
    key_schema_names(index.get("KeySchema"), path, found);
    let projected = index.get("Projection").and_then(|p| p.get("NonKeyAttributes")).and_then(Json::as_array);
    if let Some(list) = projected {
        let names: Vec<&str> = list.iter().filter_map(Json::as_str).collect();
        let units = |n: &str| n.encode_utf16().count();
        if names.iter().any(|n| n.is_empty() || units(n) > MAX_KEY_ATTRIBUTE_NAME) {
            found.push(Violation(messages::request::value_at(
                format!("[{}]", names.join(", ")),
                format!("{path}projection.nonKeyAttributes"),
                messages::request::members_length(MAX_KEY_ATTRIBUTE_NAME),
            )));
        }
    }
}

/// UpdateTable's names: its definitions', then each new index's.
fn update_key_names(r: &Req<'_>) -> Vec<Violation> {
    let mut found = table_key_names(r);
    for (i, u) in elements(r.get("GlobalSecondaryIndexUpdates")) {
        if let Some(c) = u.get("Create").filter(|c| c.is_object()) {
            index_key_names(c, &format!("globalSecondaryIndexUpdates.{i}.member.create."), &mut found);
        }
    }
    found
}

/// Most violations DynamoDB reports in one envelope.
const MAX_VIOLATIONS: usize = 10;

fn null_at(path: String) -> Violation {
    Violation(messages::request::null_at(path))
}

/// Each of `required` (in the model's order) that `obj` lacks, by its path
/// under `path` (made only then).
fn nulls_in(obj: &Json, path: impl Fn() -> String, required: &[&str], found: &mut Vec<Violation>) {
    for m in required {
        if obj.get(m).is_none_or(Json::is_null) {
            found.push(null_at(format!("{}.{}", path(), lower_first(m))));
        }
    }
}

/// `member` of `obj`, if it is set and not in `allowed`, by its path.
fn enum_in(obj: &Json, path: &str, member: &str, allowed: &[&str], found: &mut Vec<Violation>) {
    enum_at(obj.get(member), || format!("{path}.{}", lower_first(member)), allowed, found);
}

/// The elements of a list with their 1-based positions: none unless every
/// one is an object, so that a list of the wrong shape is refused by its
/// parse (`SerializationException`), as DynamoDB reads types before it
/// checks constraints.
fn elements(list: Option<&Json>) -> Vec<(usize, &Json)> {
    match list.and_then(Json::as_array) {
        Some(l) if l.iter().all(Json::is_object) => l.iter().enumerate().map(|(i, e)| (i + 1, e)).collect(),
        _ => Vec::new(),
    }
}

/// An index definition's required members (CreateTable's indexes, a
/// created global index), and its key schema's, under `path`.
fn index_nulls(index: &Json, path: &str, found: &mut Vec<Violation>) {
    nulls_in(index, || path.to_string(), &["IndexName", "KeySchema", "Projection"], found);
    for (j, k) in elements(index.get("KeySchema")) {
        nulls_in(k, || format!("{path}.keySchema.{j}.member"), &["AttributeName", "KeyType"], found);
    }
}

/// What DynamoDB's model requires of members inside a request's lists and
/// maps, and their enums, checked before any table is looked up and named
/// by their whole paths (`transactItems.1.member.update.updateExpression`,
/// `requestItems.<table>.member.1.member.putRequest.item`,
/// `globalSecondaryIndexUpdates.1.member.delete.indexName`); at most
/// [`MAX_VIOLATIONS`] of them.
fn nested(op: &str, r: &Req<'_>) -> Vec<Violation> {
    let mut found = Vec::new();
    match op {
        "TransactWriteItems" | "TransactGetItems" => {
            let kinds: &[(&str, &[&str])] = if op == "TransactWriteItems" {
                &[
                    ("ConditionCheck", &["Key", "TableName", "ConditionExpression"]),
                    ("Put", &["Item", "TableName"]),
                    ("Delete", &["Key", "TableName"]),
                    ("Update", &["Key", "UpdateExpression", "TableName"]),
                ]
            } else {
                &[("Get", &["Key", "TableName"])]
            };
            for (i, action) in elements(r.get("TransactItems")) {
                for (kind, required) in kinds {
                    let Some(inner) = action.get(kind).filter(|a| a.is_object()) else { continue };
                    let path = || format!("transactItems.{i}.member.{}", lower_first(kind));
                    nulls_in(inner, path, required, &mut found);
                    if op == "TransactWriteItems" {
                        enum_at(
                            inner.get("ReturnValuesOnConditionCheckFailure"),
                            || format!("{}.returnValuesOnConditionCheckFailure", path()),
                            RETURN_ON_FAILURE,
                            &mut found,
                        );
                    }
                }
            }
        }
        "BatchWriteItem" => {
            for (table, list) in r.get("RequestItems").and_then(Json::as_object).into_iter().flatten() {
                for (j, request) in elements(Some(list)) {
                    let path = |kind: &str| format!("requestItems.{table}.member.{j}.member.{kind}");
                    if let Some(d) = request.get("DeleteRequest").filter(|d| d.is_object()) {
                        nulls_in(d, || path("deleteRequest"), &["Key"], &mut found);
                    }
                    if let Some(p) = request.get("PutRequest").filter(|p| p.is_object()) {
                        nulls_in(p, || path("putRequest"), &["Item"], &mut found);
                    }
                }
            }
        }
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let (list, path) = if op == "ExecuteTransaction" {
                ("TransactStatements", "transactStatements")
            } else {
                ("Statements", "statements")
            };
            for (i, s) in elements(r.get(list)) {
                nulls_in(s, || format!("{path}.{i}.member"), &["Statement"], &mut found);
            }
        }
        "BatchGetItem" => {
            for (table, read) in r.get("RequestItems").and_then(Json::as_object).into_iter().flatten() {
                if read.is_object() {
                    nulls_in(read, || format!("requestItems.{table}.member"), &["Keys"], &mut found);
                }
            }
        }
        "CreateTable" => {
            for (list, path) in [
                ("LocalSecondaryIndexes", "localSecondaryIndexes"),
                ("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
            ] {
                for (i, index) in elements(r.get(list)) {
                    index_nulls(index, &format!("{path}.{i}.member"), &mut found);
                }
            }
        }
        "UpdateTable" => {
            for (i, u) in elements(r.get("GlobalSecondaryIndexUpdates")) {
                let path = format!("globalSecondaryIndexUpdates.{i}.member");
                if let Some(up) = u.get("Update").filter(|x| x.is_object()) {
                    nulls_in(up, || format!("{path}.update"), &["IndexName"], &mut found);
                }
                if let Some(c) = u.get("Create").filter(|x| x.is_object()) {
                    index_nulls(c, &format!("{path}.create"), &mut found);
                }
                if let Some(d) = u.get("Delete").filter(|x| x.is_object()) {
                    nulls_in(d, || format!("{path}.delete"), &["IndexName"], &mut found);
                }
            }
            // (A Create without its region is refused otherwise, after the
            // lookup, in words of its own: `global_tables::api`.)
            for (i, u) in elements(r.get("ReplicaUpdates")) {
                for kind in ["Update", "Delete"] {
                    if let Some(a) = u.get(kind).filter(|x| x.is_object()) {
                        nulls_in(
                            a,
                            || format!("replicaUpdates.{i}.member.{}", lower_first(kind)),
                            &["RegionName"],
                            &mut found,
                        );
                    }
                }
            }
            if let Some(sse) = r.get("SSESpecification").filter(|x| x.is_object()) {
                enum_in(sse, "sSESpecification", "SSEType", &["AES256", "KMS"], &mut found);
            }
        }
        _ => {}
    }
    found.truncate(MAX_VIOLATIONS);
    found
}

/// A restore's overrides: each index override's required members (and its
/// key schema's), and the SSE override's type, named by their whole paths
/// (`globalSecondaryIndexOverride.1.member.projection`). The restores
/// check them after the target's name and before the source is looked up,
/// so an override missing a member of a missing backup is a
/// `ValidationException`.
pub(super) fn restore_overrides(r: &Req<'_>) -> ApiResult<()> {
    let mut found = Vec::new();
    for (list, path) in [
        ("GlobalSecondaryIndexOverride", "globalSecondaryIndexOverride"),
        ("LocalSecondaryIndexOverride", "localSecondaryIndexOverride"),
    ] {
        for (i, index) in elements(r.get(list)) {
            // In the model's order: the name's constraints, then what is
            // missing (DDB-TABLE-457's `rst_gsi_override_name_only`).
            let at = format!("{path}.{i}.member");
            if let Some(Json::String(name)) = index.get("IndexName") {
                for rule in name_constraints(name) {
                    found.push(Violation(messages::request::value_at(name, format!("{at}.indexName"), rule)));
                }
            }
            index_nulls(index, &at, &mut found);
        }
    }
    if let Some(sse) = r.get("SSESpecificationOverride").filter(|x| x.is_object()) {
        enum_in(sse, "sSESpecificationOverride", "SSEType", &["AES256", "KMS"], &mut found);
    }
    found.truncate(MAX_VIOLATIONS);
    if found.is_empty() { Ok(()) } else { Err(report(found)) }
}

/// The first transaction action whose TableName breaks its constraints,
/// named by its position and kind (`transactItems.2.member.get.tableName`).
fn transact_table_name(r: &Req<'_>) -> Option<Violation> {
    let actions = r.get("TransactItems").and_then(Json::as_array)?;
    actions.iter().enumerate().find_map(|(i, action)| {
        let (kind, inner) = action.as_object()?.iter().next()?;
        let Json::String(name) = inner.get("TableName")? else { return None };
        let rule = name_constraints(name).into_iter().next_back()?;
        Some(Violation(messages::request::value_at(
            name,
            format!("transactItems.{}.member.{}.tableName", i + 1, lower_first(kind)),
            rule,
        )))
    })
}

/// The `TableName` member's violation, if any.
fn table_name(r: &Req<'_>) -> Option<Violation> {
    let Some(Json::String(name)) = r.get("TableName") else { return None };
    if name.is_empty() {
        return Some(Violation(messages::request::unechoed_at("TableName", messages::request::min_length(1))));
    }
    if name.starts_with("arn:") {
        return (name.len() > MAX_TABLE_ARN).then(|| {
            Violation(messages::request::value_at(name, "tableName", messages::request::max_length(MAX_TABLE_ARN)))
        });
    }
    if name.len() > MAX_TABLE_NAME {
        return Some(Violation(messages::request::value_at(
            name,
            "tableName",
            messages::request::max_length(MAX_TABLE_NAME),
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        return Some(Violation(messages::request::value_at(name, "tableName", messages::request::NAME_PATTERN)));
    }
    None
}

/// The constraints of a table name (not an ARN) in the operations on a
/// table's settings, every one broken: at least 3 characters, at most
/// 255, of `[a-zA-Z0-9_.-]`.
fn control_table_name(r: &Req<'_>) -> Vec<Violation> {
    let Some(Json::String(name)) = r.get("TableName") else { return Vec::new() };
    if name.starts_with("arn:") {
        return Vec::new();
    }
    let mut found = Vec::new();
    let len = name.chars().count();
    if len < 3 {
        found.push(Violation(messages::request::value_at(name, "tableName", messages::request::min_length(3))));
    }
    if len > MAX_TABLE_NAME {
        found.push(Violation(messages::request::value_at(
            name,
            "tableName",
            messages::request::max_length(MAX_TABLE_NAME),
        )));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        found.push(Violation(messages::request::value_at(name, "tableName", messages::request::NAME_PATTERN)));
    }
    found
}

/// DynamoDB's envelope: `1 validation error detected: …` or
/// `N validation errors detected: …; …`.
pub(super) fn report(found: Vec<Violation>) -> ApiError {
    envelope(&found.into_iter().take(MAX_VIOLATIONS).map(|v| v.0).collect::<Vec<_>>())
}

/// [`report`] of constraint texts.
pub(super) fn envelope(found: &[String]) -> ApiError {
    ApiError::validation(messages::request::envelope(found))
}

/// `Ok` if nothing was found, else DynamoDB's envelope of it.
pub(crate) fn none_of(found: &[String]) -> ApiResult<()> {
    if found.is_empty() { Ok(()) } else { Err(envelope(found)) }
}

/// Faults of a request that need no table: its attribute values, its
/// expressions (syntax, placeholders, unused names and values). Called when
/// the request's table (or one of them) was not found: DynamoDB reports
/// these before it looks a table up, so a request with both faults is a
/// `ValidationException`. Called only then, so that a request on a table
/// that exists parses nothing twice.
pub fn table_free(op: &str, r: &Req<'_>) -> ApiResult<()> {
    let member = |name: &str| r.get(name).and_then(Json::as_object).map(Req);
    match op {
        "PutItem" | "DeleteItem" | "UpdateItem" | "GetItem" | "Query" | "Scan" => one_request(op, r, true),
        "TransactWriteItems" | "TransactGetItems" => {
            for entry in r.get("TransactItems").and_then(Json::as_array).into_iter().flatten() {
                for (kind, inner) in entry.as_object().into_iter().flatten() {
                    let Some(inner) = inner.as_object().map(Req) else { continue };
                    let op = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" | "ConditionCheck" => "DeleteItem",
                        _ => "GetItem",
                    };
                    one_request(op, &inner, false)?;
                }
            }
            Ok(())
        }
        "BatchWriteItem" => {
            let tables = member("RequestItems");
            for writes in tables.iter().flat_map(|t| t.0.values()).filter_map(Json::as_array) {
                for w in writes {
                    // A request with both kinds or neither (the
                    // operation's own checks, which need no table).
                    let Some(w) = w.as_object().map(Req) else {
                        return Err(ApiError::serialization(messages::request::EXPECTED_WRITE_REQUEST));
                    };
                    if w.get("PutRequest").is_some() == w.get("DeleteRequest").is_some() {
                        return Err(ApiError::validation(messages::item::SEVERAL_DATATYPES));
                    }
                    for (kind, field) in [("PutRequest", "Item"), ("DeleteRequest", "Key")] {
                        if let Some(v) = w.obj_opt(kind)?.and_then(|x| x.get(field)) {
                            let item = item_from_json(v)?;
                            if kind == "PutRequest" {
                                super::items::check_item_size(&item)?;
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        "BatchGetItem" => {
            let tables = member("RequestItems");
            for spec in tables.iter().flat_map(|t| t.0.values()).filter_map(Json::as_object) {
                let spec = Req(spec);
                for k in spec.get("Keys").and_then(Json::as_array).into_iter().flatten() {
                    item_from_json(k)?;
                }
                let mut ex = Exprs::names_only(&spec)?;
                ex.projection(&spec)?;
                ex.finish()?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// [`table_free`] for one item request (or one transaction entry, as the
/// operation whose members it has).
fn one_request(op: &str, r: &Req<'_>, top: bool) -> ApiResult<()> {
    if top {
        super::expr::check_params(op, r)?;
    }
    // A legacy projection's names, before any value; a Query's after its
    // filter's (dynalite's tests, recorded against DynamoDB).
    let attributes_to_get = || match r.strings("AttributesToGet")? {
        Some(names) => super::legacy::attributes_to_get(names).map(drop),
        None => Ok(()),
    };
    if op != "Query" {
        attributes_to_get()?;
    }
    for member in ["Item", "Key"] {
        if let Some(v) = r.get(member) {
            let item = item_from_json(v)?;
            // A put's ReturnValues and size right after its item, before
            // its conditions (dynalite's tests, recorded against DynamoDB).
            // (A transaction's Put has no ReturnValues: its size alone.)
            if op == "PutItem" && member == "Item" {
                if top {
                    super::items::put_checks(r, &item)?;
                } else {
                    super::items::check_item_size(&item)?;
                }
            }
        }
    }
    // Legacy filters' values (their nesting, their numbers) need no table,
    // nor do legacy conditions' operators.
    for member in ["ScanFilter", "QueryFilter"] {
        if r.get(member).is_some() {
            super::legacy::filter(r, member)?;
        }
    }
    if op == "Query" {
        attributes_to_get()?;
    }
    if op == "Query" && r.get("KeyConditions").is_some() {
        // Only the operators: the rest is checked against the key schema.
        super::legacy::key_condition_operators(r)?;
    }
    let mut ex = if op == "GetItem" { Exprs::names_only(r)? } else { Exprs::from_request(r)?.for_operation(op) };
    // A transaction's action takes names and values with no expression.
    if !top {
        ex = ex.in_transaction();
    }
    if op == "UpdateItem" {
        update_of(r, &mut ex)?;
    }
    let key_cond = match r.str_opt("KeyConditionExpression")? {
        Some(text) => {
            ex.mark_used();
            Some(expr::parse_key_condition_text(text, &mut ex.ph).map_err(expr_err)?)
        }
        None => None,
    };
    ex.condition(r, "ConditionExpression", ExprKind::Condition)?;
    ex.condition(r, "FilterExpression", ExprKind::Filter)?;
    ex.projection(r)?;
    ex.finish()?;
    // Every expression is read before the key condition is read as one.
    if let Some(cond) = key_cond {
        expr::key_condition(cond).map_err(expr_err)?;
    }
    // A write's legacy conditions need no table either (a transaction's
    // actions have none).
    if top && matches!(op, "PutItem" | "DeleteItem" | "UpdateItem") && r.get("Expected").is_some() {
        super::legacy::expected(r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(op: &str, body: Json) -> Result<(), String> {
        let Json::Object(map) = body else { unreachable!("an object") };
        before_lookup(op, &Req(&map)).map_err(|e| e.message)
    }

    /// Members required inside lists and maps are named by their whole
    /// paths, before any table is looked up (dynalite's tests, checked
    /// against DynamoDB, give the batch paths).
    #[test]
    fn nested_members_by_their_paths() {
        let null = |p: &str| format!("Value null at '{p}' failed to satisfy constraint: Member must not be null");
        let one = |p: &str| Err(format!("1 validation error detected: {}", null(p)));
        let cases: Vec<(&str, Json, Result<(), String>)> = vec![
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Put": {"TableName": "ttt", "Item": {}}}, {"Update": {"TableName": "ttt", "Key": {}}}]}),
                one("transactItems.2.member.update.updateExpression"),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"ConditionCheck": {}}]}),
                Err(format!(
                    "3 validation errors detected: {}; {}; {}",
                    null("transactItems.1.member.conditionCheck.key"),
                    null("transactItems.1.member.conditionCheck.tableName"),
                    null("transactItems.1.member.conditionCheck.conditionExpression")
                )),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Delete": {"TableName": "ttt", "Key": {}, "ReturnValuesOnConditionCheckFailure": "X"}}]}),
                Err("1 validation error detected: Value 'X' at 'transactItems.1.member.delete.returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]".into()),
            ),
            ("TransactGetItems", json!({"TransactItems": [{"Get": {"TableName": "ttt"}}]}), one("transactItems.1.member.get.key")),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"ttt": [{"PutRequest": {"Item": {}}}, {"PutRequest": {}, "DeleteRequest": {}}]}}),
                Err(format!(
                    "2 validation errors detected: {}; {}",
                    null("requestItems.ttt.member.2.member.deleteRequest.key"),
                    null("requestItems.ttt.member.2.member.putRequest.item")
                )),
            ),
            ("BatchGetItem", json!({"RequestItems": {"ttt": {}}}), one("requestItems.ttt.member.keys")),
            (
                "BatchExecuteStatement",
                json!({"Statements": [{"Statement": "SELECT * FROM t"}, {"Parameters": []}]}),
                one("statements.2.member.statement"),
            ),
            ("ExecuteTransaction", json!({"TransactStatements": [{}]}), one("transactStatements.1.member.statement")),
            (
                "Query",
                json!({"TableName": "ttt", "IndexName": "a!"}),
                Err("2 validation errors detected: Value 'a!' at 'indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value 'a!' at 'indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into()),
            ),
            (
                "UpdateTable",
                json!({"TableName": "ttt", "GlobalSecondaryIndexUpdates": [{"Delete": {}}]}),
                one("globalSecondaryIndexUpdates.1.member.delete.indexName"),
            ),
            (
                "UpdateTable",
                json!({"TableName": "ttt", "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "idx", "KeySchema": [{"KeyType": "HASH"}]}}]}),
                Err(format!(
                    "2 validation errors detected: {}; {}",
                    null("globalSecondaryIndexUpdates.1.member.create.projection"),
                    null("globalSecondaryIndexUpdates.1.member.create.keySchema.1.member.attributeName")
                )),
            ),
            ("UpdateTable", json!({"TableName": "ttt", "ReplicaUpdates": [{"Delete": {}}]}), one("replicaUpdates.1.member.delete.regionName")),
            (
                "UpdateTable",
                json!({"TableName": "ttt", "SSESpecification": {"SSEType": "X"}}),
                Err("1 validation error detected: Value 'X' at 'sSESpecification.sSEType' failed to satisfy constraint: Member must satisfy enum value set: [AES256, KMS]".into()),
            ),
            (
                "CreateTable",
                json!({"TableName": "ttt", "LocalSecondaryIndexes": [{"IndexName": "lsi", "KeySchema": []}], "GlobalSecondaryIndexes": [{"Projection": {}}]}),
                Err(format!(
                    "3 validation errors detected: {}; {}; {}",
                    null("localSecondaryIndexes.1.member.projection"),
                    null("globalSecondaryIndexes.1.member.indexName"),
                    null("globalSecondaryIndexes.1.member.keySchema")
                )),
            ),
        ];
        for (op, body, want) in cases {
            assert_eq!(check(op, body.clone()), want, "{op} {body}");
        }
        // An error of a nested structure, named under its parent's path.
        let e = ApiError::validation(
            "2 validation errors detected: Value 'x at 'y' at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]; Value null at 'projection' failed to satisfy constraint: Member must not be null",
        )
        .within("globalSecondaryIndexes.2.member.");
        assert_eq!(
            e.message,
            "2 validation errors detected: Value 'x at 'y' at 'globalSecondaryIndexes.2.member.keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]; Value null at 'globalSecondaryIndexes.2.member.projection' failed to satisfy constraint: Member must not be null"
        );
        let plain =
            ApiError::validation("One or more parameter values were invalid: x at 'y' failed to satisfy constraint");
        assert_eq!(
            plain.within("p.").message,
            "One or more parameter values were invalid: x at 'y' failed to satisfy constraint"
        );
    }

    #[test]
    fn dynamodbs_order_and_envelope() {
        let long = "a".repeat(256);
        let cases: Vec<(&str, Json, Result<(), String>)> = vec![
            ("PutItem", json!({"TableName": "ok_table", "Item": {}}), Ok(())),
            (
                "PutItem",
                json!({"TableName": "", "ReturnValues": "INVALID"}),
                Err(
                    "1 validation error detected: Value at 'TableName' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
                ),
            ),
            (
                "DeleteItem",
                json!({"TableName": "bad table!@#"}),
                Err(
                    "1 validation error detected: Value 'bad table!@#' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into(),
                ),
            ),
            (
                "GetItem",
                json!({"TableName": long.clone()}),
                Err(format!(
                    "1 validation error detected: Value '{long}' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 255"
                )),
            ),
            (
                "DeleteItem",
                json!({"TableName": "t_missing", "ReturnValues": "INVALID", "ReturnConsumedCapacity": "INVALID"}),
                Err(
                    "2 validation errors detected: Value 'INVALID' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value 'INVALID' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW]".into(),
                ),
            ),
            (
                "UpdateItem",
                json!({"TableName": "t_missing", "Key": {"pk": {"S": "a"}}, "ReturnValues": "INVALID", "ReturnConsumedCapacity": "INVALID"}),
                Err(
                    "1 validation error detected: Value 'INVALID' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]".into(),
                ),
            ),
            (
                // Without a Key, every member that fails, in the model's order.
                "UpdateItem",
                json!({"TableName": "", "ConditionalOperator": "XOR"}),
                Err(
                    "3 validation errors detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]; Value null at 'key' failed to satisfy constraint: Member must not be null".into(),
                ),
            ),
            (
                "Query",
                json!({"TableName": "t_missing", "Limit": 0, "Select": "INVALID"}),
                Err(
                    "2 validation errors detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1; Value 'INVALID' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]".into(),
                ),
            ),
            (
                "Scan",
                json!({"TableName": "t", "Segment": -1, "TotalSegments": 4}),
                Err(
                    "1 validation error detected: Value '-1' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0".into(),
                ),
            ),
            ("CreateTable", json!({"TableName": ""}), Ok(())),
        ];
        for (op, body, want) in cases {
            let got = check(op, body.clone());
            assert_eq!(got, want, "{op} {body}");
        }
    }
}
