//! Key conditions: the restricted conditions a query can use to pick a
//! partition and a range of sort keys.

use super::ExprError;
use super::ast::{Comparator, Condition, KeyCondition, Operand, Path, RangeCondition};
use crate::value::Value;

/// Most conditions a key condition can hold: one per key attribute.
const MAX_KEY_CONDITIONS: usize = 2;

fn leaves(cond: Condition, out: &mut Vec<Condition>) -> Result<(), ExprError> {
    match cond {
        Condition::And(a, b) => {
            leaves(*a, out)?;
            leaves(*b, out)
        }
        Condition::Or(..) => Err(ExprError::KeyConditionOperator("OR".into())),
        Condition::Not(_) => Err(ExprError::KeyConditionOperator("NOT".into())),
        leaf => {
            out.push(leaf);
            Ok(())
        }
    }
}

fn key_name(path: Path) -> Result<String, ExprError> {
    if path.rest().is_empty() { Ok(path.top().to_string()) } else { Err(ExprError::KeyConditionNested) }
}

fn refuse_size(ops: &[&Operand]) -> Result<(), ExprError> {
    if ops.iter().any(|o| matches!(o, Operand::Size(_))) {
        return Err(ExprError::KeyConditionOperator("size".into()));
    }
    Ok(())
}

fn leaf(cond: Condition) -> Result<(String, RangeCondition), ExprError> {
    match cond {
        Condition::Compare { op, left, right } => {
            refuse_size(&[&left, &right])?;
            let (path, op, value) = match (left, right) {
                (Operand::Path(p), Operand::Value(v)) => (p, op, v),
                (Operand::Value(v), Operand::Path(p)) => (p, op.mirrored(), v),
                _ => return Err(ExprError::KeyConditionNotSupported),
            };
            let range = match op {
                Comparator::Eq => RangeCondition::Eq(value),
                Comparator::Lt => RangeCondition::Lt(value),
                Comparator::Le => RangeCondition::Le(value),
                Comparator::Gt => RangeCondition::Gt(value),
                Comparator::Ge => RangeCondition::Ge(value),
                Comparator::Ne => return Err(ExprError::KeyConditionOperator("<>".into())),
            };
            Ok((key_name(path)?, range))
        }
        Condition::Between { value, low, high } => {
            refuse_size(&[&value, &low, &high])?;
            match (value, low, high) {
                (Operand::Path(p), Operand::Value(lo), Operand::Value(hi)) => {
                    Ok((key_name(p)?, RangeCondition::Between(lo, hi)))
                }
                _ => Err(ExprError::KeyConditionNotSupported),
            }
        }
        Condition::BeginsWith(a, b) => {
            refuse_size(&[&a, &b])?;
            match (a, b) {
                (Operand::Path(p), Operand::Value(v)) => Ok((key_name(p)?, RangeCondition::BeginsWith(v))),
                _ => Err(ExprError::KeyConditionNotSupported),
            }
        }
        Condition::In { .. } => Err(ExprError::KeyConditionOperator("IN".into())),
        Condition::AttributeExists(_) => Err(ExprError::KeyConditionOperator("attribute_exists".into())),
        Condition::AttributeNotExists(_) => Err(ExprError::KeyConditionOperator("attribute_not_exists".into())),
        Condition::AttributeType(..) => Err(ExprError::KeyConditionOperator("attribute_type".into())),
        Condition::Contains(..) => Err(ExprError::KeyConditionOperator("contains".into())),
        Condition::And(..) | Condition::Or(..) | Condition::Not(_) => Err(ExprError::KeyConditionNotSupported),
    }
}

/// Orders one or two key conditions so that an `=` comes first, and checks
/// they name distinct attributes.
pub(crate) fn from_parts(mut conditions: Vec<(String, RangeCondition)>) -> Result<KeyCondition, ExprError> {
    if conditions.is_empty() || conditions.len() > MAX_KEY_CONDITIONS {
        return Err(ExprError::KeyConditionCount);
    }
    if conditions.len() == 2 && conditions[0].0 == conditions[1].0 {
        return Err(ExprError::KeyConditionDuplicate);
    }
    if !matches!(conditions[0].1, RangeCondition::Eq(_)) {
        conditions.reverse();
    }
    if !matches!(conditions[0].1, RangeCondition::Eq(_)) {
        return Err(ExprError::KeyConditionNotSupported);
    }
    Ok(KeyCondition { conditions })
}

/// Turns a parsed condition into a key condition.
pub(crate) fn from_condition(cond: Condition) -> Result<KeyCondition, ExprError> {
    let mut parts = Vec::new();
    leaves(cond, &mut parts)?;
    let conditions: Vec<(String, RangeCondition)> = parts.into_iter().map(leaf).collect::<Result<_, _>>()?;
    if conditions.len() > MAX_KEY_CONDITIONS {
        // More conditions than any key has attributes: a repeated attribute
        // is named as such, otherwise [`KeyCondition::split`] counts them
        // against the key schema, as DynamoDB does.
        let mut names: Vec<&str> = conditions.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(ExprError::KeyConditionDuplicate);
        }
        return Ok(KeyCondition { conditions });
    }
    from_parts(conditions)
}

impl KeyCondition {
    /// Matches the conditions to a key schema: returns the partition key's
    /// value and the sort key's condition, if any.
    pub fn split(&self, hash_key: &str, range_key: Option<&str>) -> Result<(Value, Option<RangeCondition>), ExprError> {
        let keys = 1 + usize::from(range_key.is_some());
        if self.conditions.len() > keys {
            return Err(ExprError::KeyConditionExcess { given: self.conditions.len(), keys });
        }
        let mut hash = None;
        let mut range = None;
        for (name, cond) in &self.conditions {
            if name == hash_key {
                match cond {
                    RangeCondition::Eq(v) => hash = Some(v.clone()),
                    _ => return Err(ExprError::KeyConditionNotSupported),
                }
            } else if Some(name.as_str()) == range_key {
                range = Some(cond.clone());
            } else {
                // DynamoDB names the hash key first when it has no condition.
                let hash_named = self.conditions.iter().any(|(n, _)| n == hash_key);
                let missed = if hash_named { range_key.unwrap_or(name) } else { hash_key };
                return Err(ExprError::KeyConditionMissing(missed.to_string()));
            }
        }
        let hash = hash.ok_or_else(|| ExprError::KeyConditionMissing(hash_key.to_string()))?;
        Ok((hash, range))
    }
}
