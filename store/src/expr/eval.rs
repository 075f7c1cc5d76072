//! Evaluating conditions against an item, with DynamoDB's semantics: values
//! of different types never compare as ordered (the comparison is false, not
//! an error), and a missing attribute makes every comparison false except
//! `<>`.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ExprError;
use super::ast::{Comparator, Condition, Operand, Path, PathElem};
use crate::value::{Item, Number, Value};

/// The value at `path` in `item`, if the item has one there.
pub(crate) fn lookup<'i>(item: &'i Item, path: &Path) -> Option<&'i Value> {
    let mut cur = item.get(path.top())?;
    for e in path.rest() {
        cur = match (e, cur) {
            (PathElem::Attr(k), Value::M(m)) => m.get(k)?,
            (PathElem::Index(i), Value::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// What `size()` returns for a value, or `None` for types without a size.
/// Strings are measured in UTF-16 code units, as the live service measures
/// them here (the conformance suite's capture: `"é𝄞"` has size 3, not its
/// 6 UTF-8 bytes), though item sizes elsewhere count UTF-8 bytes.
pub(crate) fn size_of(v: &Value) -> Option<usize> {
    Some(match v {
        Value::S(s) => s.chars().map(char::len_utf16).sum(),
        Value::B(b) => b.len(),
        Value::Ss(s) => s.len(),
        Value::Ns(s) => s.len(),
        Value::Bs(s) => s.len(),
        Value::M(m) => m.len(),
        Value::L(l) => l.len(),
        Value::N(_) | Value::Bool(_) | Value::Null => return None,
    })
}

fn operand<'a>(o: &'a Operand, item: &'a Item) -> Option<Cow<'a, Value>> {
    match o {
        Operand::Path(p) => lookup(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let v = operand(inner, item)?;
            let n = i64::try_from(size_of(&v)?).ok()?;
            Some(Cow::Owned(Value::N(Number::from(n))))
        }
    }
}

/// Order of two values of the same scalar type (S, N or B); `None` otherwise.
pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::S(x), Value::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::N(x), Value::N(y)) => Some(x.cmp(y)),
        (Value::B(x), Value::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `a op b` with DynamoDB's rules; `None` stands for a missing operand.
pub(crate) fn compare(op: Comparator, a: Option<&Value>, b: Option<&Value>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return op == Comparator::Ne;
    };
    match op {
        Comparator::Eq => a == b,
        Comparator::Ne => a != b,
        Comparator::Lt => order(a, b) == Some(Ordering::Less),
        Comparator::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        Comparator::Gt => order(a, b) == Some(Ordering::Greater),
        Comparator::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// `begins_with(a, b)`: string or binary prefix.
pub(crate) fn begins_with(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::S(x), Value::S(y)) => x.starts_with(y.as_str()),
        (Value::B(x), Value::B(y)) => x.starts_with(y),
        _ => false,
    }
}

/// `contains(a, b)`: substring of a string or binary, element of a set of the
/// matching type, or element of a list.
pub(crate) fn contains(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::S(x), Value::S(y)) => x.contains(y.as_str()),
        (Value::B(x), Value::B(y)) => y.is_empty() || x.windows(y.len()).any(|w| w == y.as_slice()),
        (Value::Ss(set), Value::S(y)) => set.contains(y),
        (Value::Ns(set), Value::N(y)) => set.contains(y),
        (Value::Bs(set), Value::B(y)) => set.contains(y),
        (Value::L(list), y) => list.contains(y),
        _ => false,
    }
}

impl Condition {
    /// Whether `item` satisfies the condition. Type mismatches and missing
    /// attributes make a comparison false rather than failing.
    pub fn eval(&self, item: &Item) -> Result<bool, ExprError> {
        Ok(match self {
            Condition::Compare { op, left, right } => {
                compare(*op, operand(left, item).as_deref(), operand(right, item).as_deref())
            }
            Condition::Between { value, low, high } => {
                match (operand(value, item), operand(low, item), operand(high, item)) {
                    (Some(v), Some(lo), Some(hi)) => {
                        matches!(order(&v, &lo), Some(Ordering::Greater | Ordering::Equal))
                            && matches!(order(&v, &hi), Some(Ordering::Less | Ordering::Equal))
                    }
                    _ => false,
                }
            }
            Condition::In { value, list } => match operand(value, item) {
                Some(v) => list.iter().any(|o| operand(o, item).is_some_and(|x| *x == *v)),
                None => false,
            },
            Condition::AttributeExists(p) => lookup(item, p).is_some(),
            Condition::AttributeNotExists(p) => lookup(item, p).is_none(),
            Condition::AttributeType(p, t) => lookup(item, p).is_some_and(|v| v.attr_type() == *t),
            Condition::BeginsWith(a, b) => match (operand(a, item), operand(b, item)) {
                (Some(a), Some(b)) => begins_with(&a, &b),
                _ => false,
            },
            Condition::Contains(a, b) => match (operand(a, item), operand(b, item)) {
                (Some(a), Some(b)) => contains(&a, &b),
                _ => false,
            },
            Condition::And(a, b) => a.eval(item)? && b.eval(item)?,
            Condition::Or(a, b) => a.eval(item)? || b.eval(item)?,
            Condition::Not(c) => !c.eval(item)?,
        })
    }
}
