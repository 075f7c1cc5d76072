//! Expression parameters of a request: placeholders, the expression / legacy
//! parameter exclusivity rules, ReturnConsumedCapacity.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};
use tidepool_store::expr::{self, Condition, ExprError, ExprKind, Path, Placeholders};
use tidepool_store::messages;
use tidepool_store::table::TableDef;
use tidepool_store::value::{Item, Value};

use super::attr::{item_from_json, value_from_json, value_from_json_unnested};
use super::error::{ApiError, ApiResult};
use super::request::Req;

pub fn expr_err(e: ExprError) -> ApiError {
    ApiError::validation(e.to_string())
}

/// The request's ExpressionAttributeNames and ExpressionAttributeValues.
pub struct Exprs {
    pub ph: Placeholders,
    has_names: bool,
    has_values: bool,
    used_expression: bool,
    /// The members of this operation that take values, as DynamoDB names
    /// them when values come without any: `UpdateExpression and
    /// ConditionExpression`.
    value_members: &'static str,
    /// The operation puts its faults in the `1 validation error detected: `
    /// envelope, and words values without an expression its own way.
    envelops: bool,
    /// A transaction's action: names and values without any expression
    /// are accepted (and ignored), as DynamoDB does there alone.
    in_transaction: bool,
}

/// Members whose presence means the request uses expressions.
const EXPRESSION_MEMBERS: &[&str] = &[
    "ConditionExpression",
    "UpdateExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "SearchConditionExpression",
];

/// DynamoDB names the placeholder whose value is invalid:
/// `ExpressionAttributeValues contains invalid value: <why> for key :k`.
/// Only the older value layer does so ([`super::layer`]), and the current
/// one for a request nesting past about 62 levels (a value nested too
/// deeply: the conformance suite's `limits/nestingDepth`).
fn invalid_value(e: ApiError, key: &str) -> ApiError {
    let current = super::layer::current() == super::layer::Layer::Current && !super::layer::is_deep();
    if !e.kind.ends_with("#ValidationException") || current {
        return e;
    }
    ApiError::validation(messages::expression::invalid_value(&e.message, key))
}

impl Exprs {
    pub fn from_request(r: &Req<'_>) -> ApiResult<Exprs> {
        Exprs::build(r, true)
    }

    /// For a TransactWriteItems action: its values' nesting is checked
    /// only where an Update writes them ([`value_from_json_unnested`]).
    pub fn from_action(r: &Req<'_>) -> ApiResult<Exprs> {
        Exprs::build_with(r, true, value_from_json_unnested)
    }

    /// For GetItem, BatchGetItem and TransactGetItems' `Get`, whose requests
    /// have no `ExpressionAttributeValues` member: DynamoDB ignores one sent.
    pub fn names_only(r: &Req<'_>) -> ApiResult<Exprs> {
        Exprs::build(r, false)
    }

    /// No placeholders, no expression.
    fn empty() -> Exprs {
        Exprs {
            has_names: false,
            has_values: false,
            ph: Placeholders::new(HashMap::new(), HashMap::new()),
            used_expression: false,
            value_members: "ConditionExpression",
            envelops: false,
            in_transaction: false,
        }
    }

    fn build(r: &Req<'_>, with_values: bool) -> ApiResult<Exprs> {
        Exprs::build_with(r, with_values, |v| value_from_json(v, 0))
    }

    /// The maps' entries are checked in DynamoDB's order (captured against
    /// the live service by ExtendDB's suite, 2026): the names' keys (length,
    /// then syntax) and values, then the values' keys and values.
    fn build_with(r: &Req<'_>, with_values: bool, value: fn(&Json) -> ApiResult<Value>) -> ApiResult<Exprs> {
        // Without any expression, [`Exprs::finish`] says that instead.
        let expressions = EXPRESSION_MEMBERS.iter().any(|m| r.get(m).is_some());
        let names = r.string_map("ExpressionAttributeNames")?;
        if expressions && names.as_ref().is_some_and(|n| n.is_empty()) {
            return Err(ApiError::validation(messages::expression::NAMES_EMPTY));
        }
        for (k, v) in names.iter().flatten() {
            placeholder_key("ExpressionAttributeNames", '#', k)?;
            if v.is_empty() {
                return Err(ApiError::validation(messages::expression::empty_attribute_name(k)));
            }
            if v.len() > super::attr::MAX_ATTRIBUTE_NAME_BYTES {
                return Err(ApiError::validation(messages::item::ATTRIBUTE_NAME_TOO_LARGE));
            }
        }
        let values = match r.obj_opt("ExpressionAttributeValues")? {
            _ if !with_values => None,
            None => None,
            Some(m) => {
                if expressions && m.0.is_empty() {
                    return Err(ApiError::validation(messages::expression::VALUES_EMPTY));
                }
                for k in m.0.keys() {
                    placeholder_key("ExpressionAttributeValues", ':', k)?;
                }
                Some(
                    m.0.iter()
                        .map(|(k, v)| Ok((k.clone(), value(v).map_err(|e| invalid_value(e, k))?)))
                        .collect::<ApiResult<HashMap<String, Value>>>()?,
                )
            }
        };
        Ok(Exprs {
            has_names: names.is_some(),
            has_values: values.is_some(),
            ph: Placeholders::new(names.unwrap_or_default().into_iter().collect(), values.unwrap_or_default()),
            ..Exprs::empty()
        })
    }

    /// Names the members of operation `op` (or transaction action) that take
    /// values, for the message when values come without them.
    pub fn for_operation(mut self, op: &str) -> Exprs {
        self.value_members = match op {
            "UpdateItem" | "Update" => "UpdateExpression and ConditionExpression",
            "Query" => "FilterExpression and KeyConditionExpression",
            "Scan" => "FilterExpression",
            "SearchVectors" => "SearchConditionExpression",
            _ => "ConditionExpression",
        };
        self.envelops = super::layer::envelops(op);
        self
    }

    pub fn condition(&mut self, r: &Req<'_>, member: &str, kind: ExprKind) -> ApiResult<Option<Condition>> {
        let Some(text) = r.str_opt(member)? else { return Ok(None) };
        self.used_expression = true;
        expr::parse_condition(text, &mut self.ph, kind).map(Some).map_err(expr_err)
    }

    pub fn projection(&mut self, r: &Req<'_>) -> ApiResult<Option<Vec<Path>>> {
        let Some(text) = r.str_opt("ProjectionExpression")? else { return Ok(None) };
        self.used_expression = true;
        expr::parse_projection(text, &mut self.ph).map(Some).map_err(expr_err)
    }

    pub fn mark_used(&mut self) {
        self.used_expression = true;
    }

    /// For an action of TransactWriteItems or TransactGetItems, which take
    /// names and values with no expression to use them (captured against
    /// the live service by ExtendDB's suite, 2026); with an expression,
    /// unused ones are refused as elsewhere.
    pub fn in_transaction(mut self) -> Exprs {
        self.in_transaction = true;
        self
    }

    /// After all expressions were parsed: unused or orphan placeholders are errors.
    pub fn finish(&self) -> ApiResult<()> {
        if !self.used_expression && self.in_transaction {
            return Ok(());
        }
        if !self.used_expression {
            if self.has_values {
                // The item writes' layer names no members (it envelops the
                // message instead; see `super::layer`).
                if self.envelops {
                    return Err(ApiError::validation(messages::expression::VALUES_WITHOUT_EXPRESSION));
                }
                return Err(ApiError::validation(messages::expression::values_without_expression_members(
                    self.value_members,
                )));
            }
            if self.has_names {
                return Err(ApiError::validation(messages::expression::NAMES_WITHOUT_EXPRESSION));
            }
        }
        let names = self.ph.unused_names();
        if !names.is_empty() {
            return Err(ApiError::validation(messages::expression::unused_names(names.join(", "))));
        }
        let values = self.ph.unused_values();
        if !values.is_empty() {
            return Err(ApiError::validation(messages::expression::unused_values(values.join(", "))));
        }
        Ok(())
    }
}

/// The longest placeholder DynamoDB takes, its prefix included (bytes).
const MAX_PLACEHOLDER: usize = 255;

/// A placeholder key of `member` (`#name`, `:value`): at most 255 bytes,
/// then its prefix and one or more of `[A-Za-z0-9_]`. The values' map says
/// less about a long key than the names' (as DynamoDB does).
fn placeholder_key(member: &str, prefix: char, key: &str) -> ApiResult<()> {
    if key.len() > MAX_PLACEHOLDER {
        return Err(ApiError::validation(if prefix == '#' {
            messages::expression::key_too_long_sized(member, key.len())
        } else {
            messages::expression::key_too_long(member)
        }));
    }
    let ident = key.strip_prefix(prefix).unwrap_or_default();
    if ident.is_empty() || !ident.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ApiError::validation(messages::expression::key_syntax(member, key)));
    }
    Ok(())
}

/// The legacy and the expression parameters operation `op` refuses
/// together, each group in the order DynamoDB names its members (the order
/// of the operation's input shape, a Query's KeyConditions and
/// KeyConditionExpression last: ExtendDB's suite, run against DynamoDB).
fn exclusive_params(op: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match op {
        "PutItem" | "DeleteItem" => (&["Expected", "ConditionalOperator"], &["ConditionExpression"]),
        "UpdateItem" => {
            (&["AttributeUpdates", "Expected", "ConditionalOperator"], &["UpdateExpression", "ConditionExpression"])
        }
        "GetItem" => (&["AttributesToGet"], &["ProjectionExpression"]),
        "Query" => (
            &["AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"],
            &["ProjectionExpression", "FilterExpression", "KeyConditionExpression"],
        ),
        "Scan" => {
            (&["AttributesToGet", "ScanFilter", "ConditionalOperator"], &["ProjectionExpression", "FilterExpression"])
        }
        _ => (&[], &[]),
    }
}

/// The conditions `ConditionalOperator` joins in operation `op`.
fn joined_conditions(op: &str) -> Option<&'static str> {
    match op {
        "PutItem" | "DeleteItem" | "UpdateItem" => Some("Expected"),
        "Query" => Some("QueryFilter"),
        "Scan" => Some("ScanFilter"),
        _ => None,
    }
}

/// The parameters of operation `op`'s request, before anything in them is
/// read: legacy and expression parameters not mixed (KeyConditions goes
/// with either kind, but not with KeyConditionExpression, as Alternator's
/// and ExtendDB's tests against DynamoDB show), `ConditionalOperator` only
/// with two or more conditions to join (before a Query's missing key
/// condition: ExtendDB's suite), and placeholders only with an expression.
/// DynamoDB checks these first (dynalite's tests: before an item's values).
pub fn check_params(op: &str, r: &Req<'_>) -> ApiResult<()> {
    // Maps of the wrong shape are the deserializer's to refuse.
    r.string_map("ExpressionAttributeNames")?;
    r.obj_opt("ExpressionAttributeValues")?;
    let (legacy, modern) = exclusive_params(op);
    // A Query's KeyConditions counts only beside its KeyConditionExpression.
    let legacy = match legacy.split_last() {
        Some((&"KeyConditions", rest)) if r.get("KeyConditionExpression").is_none() => rest,
        _ => legacy,
    };
    check_exclusive(r, legacy, modern)?;
    if let Some(member) = joined_conditions(op)
        && r.get("ConditionalOperator").is_some()
    {
        match r.obj_opt(member)?.map_or(0, |m| m.0.len()) {
            0 => return Err(ApiError::validation(messages::expression::CONDITIONAL_OPERATOR_WITHOUT_CONDITIONS)),
            1 => return Err(ApiError::validation(messages::expression::CONDITIONAL_OPERATOR_ONE_CONDITION)),
            _ => {}
        }
    }
    if EXPRESSION_MEMBERS.iter().any(|m| r.get(m).is_some()) {
        return Ok(());
    }
    // Without an expression, [`Exprs::finish`] refuses placeholders.
    let has = |m: &str| r.get(m).is_some();
    if has("ExpressionAttributeValues") && op != "GetItem" {
        let ex = Exprs { has_values: true, ..Exprs::empty() }.for_operation(op);
        return ex.finish();
    }
    if has("ExpressionAttributeNames") {
        return Exprs { has_names: true, ..Exprs::empty() }.finish();
    }
    Ok(())
}

/// Refuses a request that mixes legacy and expression parameters.
pub fn check_exclusive(r: &Req<'_>, legacy: &[&str], modern: &[&str]) -> ApiResult<()> {
    let l: Vec<&str> = legacy.iter().copied().filter(|m| r.get(m).is_some()).collect();
    let e: Vec<&str> = modern.iter().copied().filter(|m| r.get(m).is_some()).collect();
    if !l.is_empty() && !e.is_empty() {
        return Err(ApiError::validation(messages::expression::mixed_parameters(l.join(", "), e.join(", "))));
    }
    Ok(())
}

/// Refuses a document path into a key attribute of the table (`Key: a`)
/// or of one of its indexes (`IndexKey: d`): key attributes are scalars,
/// so `a.b` or `d[0]` can never name anything. DynamoDB checks the
/// projection, filter and update expressions so (dynalite's suite, run
/// against DynamoDB); the table's key attributes first, then the indexes'.
pub fn scalar_keys<'a>(def: &TableDef, paths: impl IntoIterator<Item = &'a Path>) -> ApiResult<()> {
    let nested: Vec<&str> = paths.into_iter().filter(|p| !p.rest().is_empty()).map(Path::top).collect();
    if nested.is_empty() {
        return Ok(());
    }
    if let Some(k) = def.key_schema.attrs().find(|k| nested.contains(&k.name.as_str())) {
        return Err(ApiError::validation(messages::expression::nested_key(&k.name)));
    }
    let index_key = def.indexes.iter().flat_map(|i| i.key_schema.attrs()).find(|k| nested.contains(&k.name.as_str()));
    match index_key {
        Some(k) => Err(ApiError::validation(messages::expression::nested_index_key(&k.name))),
        None => Ok(()),
    }
}

/// [`scalar_keys`] of an update's paths, unless the update writes under
/// one of the table's key attributes: that is refused when applied, as an
/// update of the key.
pub fn scalar_keys_of_update(def: &TableDef, u: &expr::UpdateExpr) -> ApiResult<()> {
    if u.top_level_names().any(|name| def.key_schema.contains(name)) {
        return Ok(());
    }
    scalar_keys(def, u.paths())
}

/// The `Key` member, checked against the table's key schema.
pub fn key_param(r: &Req<'_>, def: &TableDef) -> ApiResult<Item> {
    let key = item_from_json(r.get("Key").ok_or_else(|| super::request::missing("Key"))?)?;
    def.check_key_attrs(&key, true)?;
    Ok(key)
}

/// The consistent-read flag.
pub fn consistent(r: &Req<'_>) -> ApiResult<bool> {
    Ok(r.bool_opt("ConsistentRead")?.unwrap_or(false))
}

/// Capacity units per index: name, whether it is global, units.
pub type IndexUnits = Vec<(String, bool, f64)>;

/// The read/write member of a ConsumedCapacity entry. DynamoDB reports
/// only `CapacityUnits` for single-item operations, queries, scans and
/// batches, and adds `ReadCapacityUnits` or `WriteCapacityUnits` for
/// transactions (the conformance suite's captures of the live service).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Split {
    None,
    Read,
    Write,
}

/// ReturnConsumedCapacity as asked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    None,
    Total,
    Indexes,
}

impl Capacity {
    pub fn from_request(r: &Req<'_>) -> ApiResult<Capacity> {
        Ok(match r.enum_opt("ReturnConsumedCapacity", &["INDEXES", "TOTAL", "NONE"])? {
            Some("INDEXES") => Capacity::Indexes,
            Some("TOTAL") => Capacity::Total,
            _ => Capacity::None,
        })
    }

    /// The ConsumedCapacity object for `units` on `table` (and per index),
    /// or `None` when not asked for. `split` names the read/write member
    /// DynamoDB adds beside `CapacityUnits`: only transactions have one.
    pub fn render(self, table: &str, units: f64, indexes: &[(String, bool, f64)], split: Split) -> Option<Json> {
        if self == Capacity::None {
            return None;
        }
        let total = units + indexes.iter().map(|(_, _, u)| u).sum::<f64>();
        let entry = |u: f64| {
            let mut e = Map::new();
            e.insert("CapacityUnits".into(), json!(u));
            match split {
                Split::None => {}
                Split::Read => drop(e.insert("ReadCapacityUnits".into(), json!(u))),
                Split::Write => drop(e.insert("WriteCapacityUnits".into(), json!(u))),
            }
            e
        };
        let mut o = Map::new();
        o.insert("TableName".into(), json!(table));
        o.extend(entry(total));
        if self == Capacity::Indexes {
            o.insert("Table".into(), Json::Object(entry(units)));
            let (mut g, mut l) = (Map::new(), Map::new());
            for (name, global, u) in indexes {
                let target = if *global { &mut g } else { &mut l };
                target.insert(name.clone(), Json::Object(entry(*u)));
            }
            if !g.is_empty() {
                o.insert("GlobalSecondaryIndexes".into(), Json::Object(g));
            }
            if !l.is_empty() {
                o.insert("LocalSecondaryIndexes".into(), Json::Object(l));
            }
        }
        Some(Json::Object(o))
    }
}

/// Read units for `bytes` read: 4 KB each, rounded up, at least one; half for
/// eventually consistent reads.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Write units for an item of `bytes`: 1 KB each, rounded up, at least one.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}
