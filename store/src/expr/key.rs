//! Key conditions: the restricted conditions a query can use to pick a
//! partition and a range of sort keys.

use super::ExprError;
use super::ast::{Comparator, Condition, KeyCondition, Operand, Path, RangeCondition};
use crate::messages;
use crate::table::KeySchema;
use crate::value::Value;

/// Most conditions a key condition of a table's key can hold: one per key
/// attribute. A multi-attribute index key takes more, counted against its
/// schema by [`KeyCondition::split`].
const MAX_KEY_CONDITIONS: usize = 2;

/// Reads the leaves under the `AND`s in order, each in full before the
/// next, as DynamoDB does: the first fault met is the one reported, and a
/// second condition on an attribute is refused when it is met.
fn leaves(cond: Condition, out: &mut Vec<(String, RangeCondition)>) -> Result<(), ExprError> {
    match cond {
        Condition::And(a, b) => {
            leaves(*a, out)?;
            leaves(*b, out)
        }
        other => {
            let (name, range) = leaf(other)?;
            if out.iter().any(|(n, _)| *n == name) {
                return Err(ExprError::KeyConditionDuplicate);
            }
            out.push((name, range));
            Ok(())
        }
    }
}

fn key_name(path: Path) -> Result<String, ExprError> {
    if path.rest().is_empty() { Ok(path.top().to_string()) } else { Err(ExprError::KeyConditionNested) }
}

/// The operator of a key condition's leaf.
#[derive(Clone, Copy)]
enum KeyOp {
    Compare(Comparator),
    Between,
    BeginsWith,
}

/// One leaf of a key condition, read as DynamoDB reads it: the operator
/// first, then the operands in order (a second attribute, a nested path, a
/// value before the attribute of `BETWEEN` or `begins_with`, a `size()`),
/// then whether any operand named an attribute.
fn leaf(cond: Condition) -> Result<(String, RangeCondition), ExprError> {
    let operator = |name: &str| Err(ExprError::KeyConditionOperator(name.to_string()));
    let (op, operands) = match cond {
        Condition::Compare { op: Comparator::Ne, .. } => return operator("<>"),
        Condition::Compare { op, left, right } => (KeyOp::Compare(op), vec![left, right]),
        Condition::Between { value, low, high } => (KeyOp::Between, vec![value, low, high]),
        Condition::BeginsWith(a, b) => (KeyOp::BeginsWith, vec![a, b]),
        Condition::In { .. } => return operator("IN"),
        Condition::AttributeExists(_) => return operator("attribute_exists"),
        Condition::AttributeNotExists(_) => return operator("attribute_not_exists"),
        Condition::AttributeType(..) => return operator("attribute_type"),
        Condition::Contains(..) => return operator("contains"),
        Condition::Or(..) => return operator("OR"),
        Condition::Not(_) => return operator("NOT"),
        Condition::And(..) => return Err(ExprError::KeyConditionNotSupported),
    };
    let mut key: Option<(String, usize)> = None;
    let mut values = Vec::with_capacity(2);
    for (i, operand) in operands.into_iter().enumerate() {
        match operand {
            Operand::Path(p) => {
                if key.is_some() {
                    return Err(ExprError::KeyConditionInvalid(
                        messages::expression::KEY_CONDITION_MULTIPLE_ATTRIBUTES.into(),
                    ));
                }
                key = Some((key_name(p)?, i));
            }
            Operand::Value(v) => {
                let name = match op {
                    KeyOp::Between => "BETWEEN",
                    KeyOp::BeginsWith => "begins_with",
                    KeyOp::Compare(_) => "",
                };
                if key.is_none() && !name.is_empty() {
                    return Err(ExprError::KeyConditionInvalid(messages::expression::key_condition_operand_order(
                        name,
                    )));
                }
                values.push(v);
            }
            Operand::Size(_) => return Err(ExprError::KeyConditionNestedOperation),
        }
    }
    let Some((attr, at)) = key else {
        return Err(ExprError::KeyConditionInvalid(messages::expression::KEY_CONDITION_NO_ATTRIBUTE.into()));
    };
    // The parser gives each operator its number of operands, and one of
    // them is the attribute: the rest are values.
    let mut values = values.into_iter();
    let mut value = || values.next().ok_or(ExprError::KeyConditionNotSupported);
    let range = match op {
        KeyOp::Between => RangeCondition::Between(value()?, value()?),
        KeyOp::BeginsWith => RangeCondition::BeginsWith(value()?),
        KeyOp::Compare(c) => {
            let v = value()?;
            match if at == 0 { c } else { c.mirrored() } {
                Comparator::Eq => RangeCondition::Eq(v),
                Comparator::Lt => RangeCondition::Lt(v),
                Comparator::Le => RangeCondition::Le(v),
                Comparator::Gt => RangeCondition::Gt(v),
                Comparator::Ge => RangeCondition::Ge(v),
                Comparator::Ne => return Err(ExprError::KeyConditionOperator("<>".into())),
            }
        }
    };
    Ok((attr, range))
}

/// Orders one or two key conditions on distinct attributes so that an `=`
/// comes first. Which attribute each is on, and whether the partition key's
/// is an `=`, is [`KeyCondition::split`]'s to decide against a schema.
fn ordered(mut conditions: Vec<(String, RangeCondition)>, legacy: bool) -> Result<KeyCondition, ExprError> {
    if conditions.is_empty() {
        return Err(ExprError::KeyConditionCount);
    }
    if conditions.len() == 2 && !matches!(conditions[0].1, RangeCondition::Eq(_)) {
        conditions.reverse();
    }
    Ok(KeyCondition { conditions, legacy, not_indexable: Vec::new() })
}

/// Legacy `KeyConditions` (distinct names by construction): those whose
/// operator cannot select keys are named in `not_indexable`, and refused
/// once the schema shows they are on a key attribute.
pub(crate) fn from_legacy(
    conditions: Vec<(String, RangeCondition)>,
    not_indexable: Vec<String>,
) -> Result<KeyCondition, ExprError> {
    let mut k = ordered(conditions, true)?;
    k.not_indexable = not_indexable;
    Ok(k)
}

/// Turns a parsed condition into a key condition.
pub(crate) fn from_condition(cond: Condition) -> Result<KeyCondition, ExprError> {
    let mut conditions = Vec::new();
    leaves(cond, &mut conditions)?;
    if conditions.len() > MAX_KEY_CONDITIONS {
        // More conditions than any key has attributes, on distinct
        // attributes: [`KeyCondition::split`] counts them against the key
        // schema, as DynamoDB does.
        return Ok(KeyCondition { conditions, legacy: false, not_indexable: Vec::new() });
    }
    ordered(conditions, false)
}

/// A key condition matched to a key schema.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySplit {
    /// The value of each partition-key attribute, in the schema's order.
    pub hash: Vec<Value>,
    /// Equalities on the leading sort-key attributes, before `sort`'s.
    pub sort_eq: Vec<Value>,
    /// The condition on the next sort-key attribute, if any.
    pub sort: Option<RangeCondition>,
}

impl KeyCondition {
    /// Matches the conditions to a key schema: an equality on every
    /// partition-key attribute, and conditions on a prefix of the sort-key
    /// attributes with no gap, all equalities but the last. The key's
    /// attributes are checked in the schema's order, partition key first,
    /// as DynamoDB checks them (dynalite's tests, recorded against it).
    pub fn split(&self, schema: &KeySchema) -> Result<KeySplit, ExprError> {
        let hash_attrs: Vec<_> = schema.hash_attrs().collect();
        let hash_names: Vec<&str> = hash_attrs.iter().map(|a| a.name.as_str()).collect();
        let range_names: Vec<&str> = schema.range_attrs().map(|a| a.name.as_str()).collect();
        let keys = hash_names.len() + range_names.len();
        let given = self.conditions.len();
        if given > keys {
            return Err(match self.legacy {
                true if given > MAX_KEY_CONDITIONS => ExprError::KeyConditionCount,
                true => ExprError::KeyConditionNotSupported,
                false => ExprError::KeyConditionExcess { given, keys },
            });
        }
        let find = |name: &str| self.conditions.iter().find(|(n, _)| n == name).map(|(_, c)| c);
        let indexable = |name: &str| match self.not_indexable.iter().any(|n| n == name) {
            true => Err(ExprError::NotIndexable),
            false => Ok(()),
        };
        let mut hash = Vec::with_capacity(hash_names.len());
        for attr in &hash_attrs {
            let name = attr.name.as_str();
            let Some(cond) = find(name) else {
                return Err(ExprError::KeyConditionMissing(name.to_string()));
            };
            indexable(name)?;
            // The values' type before the operator (dynalite's tests).
            if cond.values().any(|v| v.attr_type() != attr.ty) {
                return Err(ExprError::KeyConditionType);
            }
            match cond {
                RangeCondition::Eq(v) => hash.push(v.clone()),
                _ => return Err(ExprError::KeyConditionNotSupported),
            }
        }
        // A condition on an attribute outside the key leaves a sort-key
        // attribute without one (the count above saw to that): DynamoDB
        // names it.
        if self.conditions.iter().any(|(n, _)| !hash_names.contains(&n.as_str()) && !range_names.contains(&n.as_str()))
        {
            let missed =
                range_names.iter().find(|n| find(n).is_none()).or(range_names.first()).unwrap_or(&hash_names[0]);
            return Err(ExprError::KeyConditionMissing(missed.to_string()));
        }
        let mut range: Vec<Option<&RangeCondition>> = Vec::with_capacity(range_names.len());
        for name in &range_names {
            let cond = find(name);
            if cond.is_some() {
                indexable(name)?;
            }
            range.push(cond);
        }
        let Some(last) = range.iter().rposition(Option::is_some) else {
            return Ok(KeySplit { hash, sort_eq: Vec::new(), sort: None });
        };
        let mut sort_eq = Vec::with_capacity(last);
        for (j, cond) in range[..last].iter().enumerate() {
            match cond {
                Some(RangeCondition::Eq(v)) => sort_eq.push(v.clone()),
                _ => {
                    return Err(ExprError::KeyConditionGap {
                        missing: range_names[j].to_string(),
                        present: range_names[last].to_string(),
                    });
                }
            }
        }
        Ok(KeySplit { hash, sort_eq, sort: range[last].cloned() })
    }
}
