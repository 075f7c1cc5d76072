//! Key conditions: the restricted conditions a query can use to pick a
//! partition and a range of sort keys.

use super::ExprError;
use super::ast::{Comparator, Condition, KeyCondition, Operand, Path, RangeCondition};
use crate::table::KeySchema;
use crate::value::Value;

/// Most conditions a key condition of a table's key can hold: one per key
/// attribute. A multi-attribute index key takes more, counted against its
/// schema by [`KeyCondition::split`].
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
    if conditions.is_empty() {
        return Err(ExprError::KeyConditionCount);
    }
    if conditions.len() > MAX_KEY_CONDITIONS {
        // Legacy KeyConditions (distinct names by construction): counted
        // against the schema, with the legacy wording when too many.
        return Ok(KeyCondition { conditions, legacy: true });
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
    Ok(KeyCondition { conditions, legacy: false })
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
        return Ok(KeyCondition { conditions, legacy: false });
    }
    from_parts(conditions)
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
    /// attributes with no gap, all equalities but the last.
    pub fn split(&self, schema: &KeySchema) -> Result<KeySplit, ExprError> {
        let hash_names: Vec<&str> = schema.hash_attrs().map(|a| a.name.as_str()).collect();
        let range_names: Vec<&str> = schema.range_attrs().map(|a| a.name.as_str()).collect();
        let keys = hash_names.len() + range_names.len();
        if self.conditions.len() > keys {
            if self.legacy {
                return Err(ExprError::KeyConditionCount);
            }
            return Err(ExprError::KeyConditionExcess { given: self.conditions.len(), keys });
        }
        let mut hash: Vec<Option<Value>> = vec![None; hash_names.len()];
        let mut range: Vec<Option<&RangeCondition>> = vec![None; range_names.len()];
        for (name, cond) in &self.conditions {
            if let Some(i) = hash_names.iter().position(|n| n == name) {
                match cond {
                    RangeCondition::Eq(v) => hash[i] = Some(v.clone()),
                    _ => return Err(ExprError::KeyConditionNotSupported),
                }
            } else if let Some(j) = range_names.iter().position(|n| n == name) {
                range[j] = Some(cond);
            } else {
                // DynamoDB names the hash key first when it has no condition.
                let hash_named = self.conditions.iter().any(|(n, _)| hash_names.contains(&n.as_str()));
                let missed = if hash_named { range_names.first().copied().unwrap_or(name) } else { hash_names[0] };
                return Err(ExprError::KeyConditionMissing(missed.to_string()));
            }
        }
        let hash = hash
            .into_iter()
            .zip(&hash_names)
            .map(|(v, n)| v.ok_or_else(|| ExprError::KeyConditionMissing(n.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
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
