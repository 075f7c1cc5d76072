//! The legacy parameters that predate expressions (`Expected`,
//! `KeyConditions`, `QueryFilter`, `ScanFilter`, `AttributeUpdates`,
//! `AttributesToGet`), converted to the same ASTs, with DynamoDB's validation
//! messages.

use std::collections::BTreeMap;

use super::ExprError;
use super::ast::{
    Comparator, Condition, KeyCondition, Operand, Path, RangeCondition, SetValue, UpdateAction, UpdateExpr,
    UpdateOperand,
};
use super::key;
use crate::messages;
use crate::value::{AttrType, Value};

/// One entry of the legacy `Expected` parameter, already decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedAttribute {
    /// `Value`: the value to compare with EQ.
    pub value: Option<Value>,
    /// `Exists`: whether the attribute must exist.
    pub exists: Option<bool>,
    /// `ComparisonOperator`, as sent (`EQ`, `BETWEEN`, ...).
    pub comparison_operator: Option<String>,
    /// `AttributeValueList`; `None` when the request did not carry it.
    pub attribute_value_list: Option<Vec<Value>>,
}

/// One entry of `KeyConditions`, `QueryFilter` or `ScanFilter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyCondition {
    /// `ComparisonOperator`, as sent.
    pub comparison_operator: String,
    /// `AttributeValueList`.
    pub attribute_value_list: Vec<Value>,
}

/// One entry of the legacy `AttributeUpdates` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeValueUpdate {
    /// `PUT` (the default), `ADD` or `DELETE`.
    pub action: Option<String>,
    /// `Value`: what to put, add or delete.
    pub value: Option<Value>,
}

/// The comparison operators the legacy parameters accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
    In,
    Between,
}

const OPERATORS: [(&str, Op); 13] = [
    ("EQ", Op::Eq),
    ("NE", Op::Ne),
    ("LE", Op::Le),
    ("LT", Op::Lt),
    ("GE", Op::Ge),
    ("GT", Op::Gt),
    ("NOT_NULL", Op::NotNull),
    ("NULL", Op::Null),
    ("CONTAINS", Op::Contains),
    ("NOT_CONTAINS", Op::NotContains),
    ("BEGINS_WITH", Op::BeginsWith),
    ("IN", Op::In),
    ("BETWEEN", Op::Between),
];

const OPERATOR_SET: &str = "IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS";

fn invalid(msg: impl Into<String>) -> ExprError {
    ExprError::InvalidParameter(msg.into())
}

fn parse_op(word: &str, field: String) -> Result<(Op, &'static str), ExprError> {
    OPERATORS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(name, op)| (*op, *name))
        .ok_or_else(|| ExprError::UnknownEnumValue { value: word.to_string(), field, allowed: OPERATOR_SET })
}

/// Checks the number and types of arguments for `op`.
fn check_args(op: Op, name: &str, args: &[Value]) -> Result<(), ExprError> {
    let count_ok = match op {
        Op::NotNull | Op::Null => args.is_empty(),
        Op::Between => args.len() == 2,
        Op::In => !args.is_empty(),
        _ => args.len() == 1,
    };
    if !count_ok {
        return Err(invalid(messages::expression::legacy_argument_count(name)));
    }
    let scalar = |t: AttrType| matches!(t, AttrType::S | AttrType::N | AttrType::B);
    let type_ok: fn(AttrType) -> bool = match op {
        Op::Eq | Op::Ne | Op::NotNull | Op::Null => |_| true,
        Op::BeginsWith => |t| matches!(t, AttrType::S | AttrType::B),
        _ => |t| matches!(t, AttrType::S | AttrType::N | AttrType::B),
    };
    if let Some(bad) = args.iter().find(|v| !type_ok(v.attr_type())) {
        return Err(invalid(messages::expression::legacy_argument_type(name, bad.attr_type())));
    }
    let mixed = args.windows(2).any(|w| w[0].attr_type() != w[1].attr_type());
    if matches!(op, Op::Between | Op::In) && args.iter().all(|v| scalar(v.attr_type())) && mixed {
        return Err(invalid(messages::expression::LEGACY_MIXED_TYPES));
    }
    if op == Op::Between && super::eval::order(&args[0], &args[1]) == Some(std::cmp::Ordering::Greater) {
        return Err(invalid(messages::expression::LEGACY_BETWEEN_ORDER));
    }
    Ok(())
}

fn build(op: Op, attr: &str, mut args: Vec<Value>) -> Condition {
    let path = Path::attr(attr);
    let p = || Operand::Path(path.clone());
    let compare = |op: Comparator, v: Value| Condition::Compare { op, left: p(), right: Operand::Value(v) };
    let mut first = || {
        if args.is_empty() { Value::Null } else { args.remove(0) }
    };
    match op {
        Op::Eq => compare(Comparator::Eq, first()),
        Op::Ne => compare(Comparator::Ne, first()),
        Op::Le => compare(Comparator::Le, first()),
        Op::Lt => compare(Comparator::Lt, first()),
        Op::Ge => compare(Comparator::Ge, first()),
        Op::Gt => compare(Comparator::Gt, first()),
        Op::NotNull => Condition::AttributeExists(path.clone()),
        Op::Null => Condition::AttributeNotExists(path.clone()),
        Op::Contains => Condition::Contains(p(), Operand::Value(first())),
        // Unlike `NOT contains(a, :v)`, NOT_CONTAINS fails on a missing
        // attribute (Alternator's tests against DynamoDB).
        Op::NotContains => Condition::And(
            Box::new(Condition::AttributeExists(path.clone())),
            Box::new(Condition::Not(Box::new(Condition::Contains(p(), Operand::Value(first()))))),
        ),
        Op::BeginsWith => Condition::BeginsWith(p(), Operand::Value(first())),
        Op::Between => {
            let low = first();
            let high = first();
            Condition::Between { value: p(), low: Operand::Value(low), high: Operand::Value(high) }
        }
        Op::In => Condition::In { value: p(), list: args.drain(..).map(Operand::Value).collect() },
    }
}

/// Joins conditions with AND or OR as a balanced tree, so evaluation depth
/// grows with the logarithm of the number of conditions.
fn combine(mut conds: Vec<Condition>, or: bool) -> Option<Condition> {
    if conds.len() <= 1 {
        return conds.pop();
    }
    let right = conds.split_off(conds.len() / 2);
    let (a, b) = (combine(conds, or)?, combine(right, or)?);
    Some(if or { Condition::Or(Box::new(a), Box::new(b)) } else { Condition::And(Box::new(a), Box::new(b)) })
}

fn is_or(op: Option<&str>) -> Result<bool, ExprError> {
    match op {
        None | Some("AND") => Ok(false),
        Some("OR") => Ok(true),
        Some(other) => Err(ExprError::UnknownEnumValue {
            value: other.to_string(),
            field: "conditionalOperator".into(),
            allowed: "AND, OR",
        }),
    }
}

/// One `Expected` entry, checked in DynamoDB's order (dynalite's tests,
/// recorded against it): Value with AttributeValueList, then Exists with
/// an operator, then an operator with neither (an empty list is given: its
/// count is wrong instead).
fn expected_one(name: &str, e: &ExpectedAttribute) -> Result<Condition, ExprError> {
    if e.value.is_some() && e.attribute_value_list.is_some() {
        return Err(invalid(messages::expression::expected_value_and_list(name)));
    }
    if let Some(word) = &e.comparison_operator {
        if e.exists.is_some() {
            return Err(invalid(messages::expression::expected_exists_and_operator(name)));
        }
        let args = match (&e.value, &e.attribute_value_list) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(list)) => list.clone(),
            (None, None) => Vec::new(),
        };
        let (op, op_name) = parse_op(word, format!("expected.{name}.member.comparisonOperator"))?;
        if e.value.is_none() && e.attribute_value_list.is_none() && !matches!(op, Op::NotNull | Op::Null) {
            return Err(invalid(messages::expression::expected_operator_without_value(op_name, name)));
        }
        check_args(op, op_name, &args)?;
        return Ok(build(op, name, args));
    }
    if e.attribute_value_list.is_some() {
        return Err(invalid(messages::expression::expected_list_without_operator(name)));
    }
    match (e.exists, &e.value) {
        (Some(false), None) => Ok(Condition::AttributeNotExists(Path::attr(name))),
        (Some(false), Some(_)) => Err(invalid(messages::expression::expected_value_when_not_exists(name))),
        (_, Some(v)) => Ok(build(Op::Eq, name, vec![v.clone()])),
        (Some(true), None) => Err(invalid(messages::expression::expected_exists_without_value(name))),
        (None, None) => Err(invalid(messages::expression::expected_nothing(name))),
    }
}

/// Converts `Expected` (with its `ConditionalOperator`, AND by default) into
/// a condition; `None` when there are no entries.
pub fn expected_to_condition(
    expected: &BTreeMap<String, ExpectedAttribute>,
    conditional_operator: Option<&str>,
) -> Result<Option<Condition>, ExprError> {
    let or = is_or(conditional_operator)?;
    let conds = expected.iter().map(|(name, e)| expected_one(name, e)).collect::<Result<Vec<_>, _>>()?;
    Ok(combine(conds, or))
}

/// Converts `QueryFilter` or `ScanFilter` (with its `ConditionalOperator`)
/// into a condition; `None` when there are no entries.
pub fn filter_to_condition(
    filter: &BTreeMap<String, LegacyCondition>,
    conditional_operator: Option<&str>,
) -> Result<Option<Condition>, ExprError> {
    let or = is_or(conditional_operator)?;
    let mut conds = Vec::with_capacity(filter.len());
    for (name, c) in filter {
        let (op, op_name) = parse_op(&c.comparison_operator, format!("filter.{name}.member.comparisonOperator"))?;
        check_args(op, op_name, &c.attribute_value_list)?;
        conds.push(build(op, name, c.attribute_value_list.clone()));
    }
    Ok(combine(conds, or))
}

/// Checks that each of `KeyConditions`' comparison operators is one of
/// DynamoDB's (and its arguments fit it): what needs no key schema.
pub fn key_condition_operators(conditions: &BTreeMap<String, LegacyCondition>) -> Result<(), ExprError> {
    for (name, c) in conditions {
        let (op, op_name) =
            parse_op(&c.comparison_operator, format!("keyConditions.{name}.member.comparisonOperator"))?;
        check_args(op, op_name, &c.attribute_value_list)?;
    }
    // Too many is counted against the key schema (a multi-attribute index
    // key takes more than two).
    if conditions.is_empty() {
        return Err(ExprError::KeyConditionCount);
    }
    Ok(())
}

/// Converts `KeyConditions` into a key condition. Only EQ, LE, LT, GE, GT,
/// BEGINS_WITH and BETWEEN can select keys.
pub fn key_conditions_to_key_condition(
    conditions: &BTreeMap<String, LegacyCondition>,
) -> Result<KeyCondition, ExprError> {
    let mut parts = Vec::with_capacity(conditions.len());
    let mut not_indexable = Vec::new();
    for (name, c) in conditions {
        let (op, op_name) =
            parse_op(&c.comparison_operator, format!("keyConditions.{name}.member.comparisonOperator"))?;
        check_args(op, op_name, &c.attribute_value_list)?;
        let mut args = c.attribute_value_list.iter().cloned();
        let mut next = || args.next().unwrap_or(Value::Null);
        let range = match op {
            Op::Eq => RangeCondition::Eq(next()),
            Op::Le => RangeCondition::Le(next()),
            Op::Lt => RangeCondition::Lt(next()),
            Op::Ge => RangeCondition::Ge(next()),
            Op::Gt => RangeCondition::Gt(next()),
            Op::BeginsWith => RangeCondition::BeginsWith(next()),
            Op::Between => {
                let low = next();
                RangeCondition::Between(low, next())
            }
            _ => {
                not_indexable.push(name.clone());
                RangeCondition::Eq(Value::Null)
            }
        };
        parts.push((name.clone(), range));
    }
    key::from_legacy(parts, not_indexable)
}

/// Converts `AttributeUpdates` into an update expression. ADD of a list
/// appends to it (creating it if missing), as the legacy API does.
pub fn attribute_updates_to_update(updates: &BTreeMap<String, AttributeValueUpdate>) -> Result<UpdateExpr, ExprError> {
    let mut actions = Vec::with_capacity(updates.len());
    for (name, u) in updates {
        let path = Path::attr(name);
        let action = u.action.as_deref().unwrap_or("PUT");
        let no_value = || invalid(messages::expression::ATTRIBUTE_UPDATES_NO_VALUE);
        actions.push(match (action, &u.value) {
            ("PUT", Some(v)) => UpdateAction::Set(path, SetValue::Operand(UpdateOperand::Value(v.clone()))),
            ("DELETE", None) => UpdateAction::Remove(path),
            ("DELETE", Some(v @ (Value::Ss(_) | Value::Ns(_) | Value::Bs(_)))) => UpdateAction::Delete(path, v.clone()),
            ("DELETE", Some(v)) => {
                return Err(invalid(messages::expression::attribute_updates_delete_type(v.attr_type())));
            }
            ("ADD", Some(v @ (Value::N(_) | Value::Ss(_) | Value::Ns(_) | Value::Bs(_)))) => {
                UpdateAction::Add(path, v.clone())
            }
            ("ADD", Some(Value::L(items))) => {
                let existing =
                    UpdateOperand::IfNotExists(path.clone(), Box::new(UpdateOperand::Value(Value::L(Vec::new()))));
                let appended = UpdateOperand::ListAppend(
                    Box::new(existing),
                    Box::new(UpdateOperand::Value(Value::L(items.clone()))),
                );
                UpdateAction::Set(path, SetValue::Operand(appended))
            }
            ("ADD", Some(v)) => {
                return Err(invalid(messages::expression::attribute_updates_add_type(v.attr_type())));
            }
            ("PUT" | "ADD", None) => return Err(no_value()),
            (other, _) => {
                return Err(ExprError::UnknownEnumValue {
                    value: other.to_string(),
                    field: format!("attributeUpdates.{name}.member.action"),
                    allowed: "ADD, PUT, DELETE",
                });
            }
        });
    }
    Ok(UpdateExpr { actions })
}

/// Converts `AttributesToGet` into projection paths (top-level names, taken
/// literally).
pub fn attributes_to_get_to_paths(names: &[String]) -> Vec<Path> {
    names.iter().map(Path::attr).collect()
}
