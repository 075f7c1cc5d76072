//! Applying an update expression to an item, with DynamoDB's semantics: every
//! value is computed from the item as it was before the update, `SET` past the
//! end of a list appends, `REMOVE` of something missing does nothing, `ADD`
//! treats a missing number as zero and a missing set as empty, and `DELETE`
//! that empties a set removes the attribute.

use std::collections::BTreeSet;

use super::ExprError;
use super::ast::{Path, PathElem, SetValue, UpdateAction, UpdateExpr, UpdateOperand};
use super::eval::lookup;
use crate::value::{Item, MAX_NESTING_DEPTH, Value};

fn operand(o: &UpdateOperand, item: &Item) -> Result<Value, ExprError> {
    match o {
        UpdateOperand::Path(p) => lookup(item, p).cloned().ok_or(ExprError::MissingAttribute),
        UpdateOperand::Value(v) => Ok(v.clone()),
        UpdateOperand::IfNotExists(p, fallback) => match lookup(item, p) {
            Some(v) => Ok(v.clone()),
            None => operand(fallback, item),
        },
        UpdateOperand::ListAppend(a, b) => match (operand(a, item)?, operand(b, item)?) {
            (Value::L(mut x), Value::L(y)) => {
                x.extend(y);
                Ok(Value::L(x))
            }
            _ => Err(ExprError::IncorrectOperandType),
        },
    }
}

fn set_value(v: &SetValue, item: &Item) -> Result<Value, ExprError> {
    let (a, b, plus) = match v {
        SetValue::Operand(o) => return operand(o, item),
        SetValue::Plus(a, b) => (a, b, true),
        SetValue::Minus(a, b) => (a, b, false),
    };
    match (operand(a, item)?, operand(b, item)?) {
        (Value::N(x), Value::N(y)) => Ok(Value::N(if plus { x.checked_add(&y)? } else { x.checked_sub(&y)? })),
        _ => Err(ExprError::IncorrectOperandType),
    }
}

/// The container holding the last step of `path`, or `None` if a step on
/// the way is missing. A step through a value of the wrong type is an error.
fn parent_mut<'i>(item: &'i mut Item, path: &Path) -> Result<Option<&'i mut Value>, ExprError> {
    let Some((_, middle)) = path.rest().split_last() else {
        return Ok(None);
    };
    let Some(mut cur) = item.get_mut(path.top()) else {
        return Ok(None);
    };
    for e in middle {
        let next = match (e, cur) {
            (PathElem::Attr(k), Value::M(m)) => m.get_mut(k),
            (PathElem::Index(i), Value::L(l)) => l.get_mut(*i),
            _ => return Err(ExprError::InvalidUpdatePath),
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn set_path(item: &mut Item, path: &Path, value: Value) -> Result<(), ExprError> {
    let Some(last) = path.rest().last() else {
        item.insert(path.top().to_string(), value);
        return Ok(());
    };
    let parent = parent_mut(item, path)?.ok_or(ExprError::InvalidUpdatePath)?;
    match (last, parent) {
        (PathElem::Attr(k), Value::M(m)) => {
            m.insert(k.clone(), value);
        }
        (PathElem::Index(i), Value::L(l)) => match l.get_mut(*i) {
            Some(slot) => *slot = value,
            None => l.push(value),
        },
        _ => return Err(ExprError::InvalidUpdatePath),
    }
    Ok(())
}

fn remove_path(item: &mut Item, path: &Path) -> Result<(), ExprError> {
    let Some(last) = path.rest().last() else {
        item.remove(path.top());
        return Ok(());
    };
    // A missing element is nothing to remove, but a missing container on
    // the way to it is an invalid path, as for SET.
    let parent = parent_mut(item, path)?.ok_or(ExprError::InvalidUpdatePath)?;
    match (last, parent) {
        (PathElem::Attr(k), Value::M(m)) => {
            m.remove(k);
        }
        (PathElem::Index(i), Value::L(l)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(ExprError::InvalidUpdatePath),
    }
    Ok(())
}

fn union<T: Ord + Clone>(mut a: BTreeSet<T>, b: &BTreeSet<T>) -> BTreeSet<T> {
    a.extend(b.iter().cloned());
    a
}

fn add(current: Option<&Value>, value: &Value) -> Result<Value, ExprError> {
    Ok(match (current, value) {
        (None, v @ (Value::N(_) | Value::Ss(_) | Value::Ns(_) | Value::Bs(_))) => v.clone(),
        (Some(Value::N(x)), Value::N(y)) => Value::N(x.checked_add(y)?),
        (Some(Value::Ss(x)), Value::Ss(y)) => Value::Ss(union(x.clone(), y)),
        (Some(Value::Ns(x)), Value::Ns(y)) => Value::Ns(union(x.clone(), y)),
        (Some(Value::Bs(x)), Value::Bs(y)) => Value::Bs(union(x.clone(), y)),
        _ => return Err(ExprError::IncorrectOperandType),
    })
}

/// The set left after DELETE, or `None` when nothing is left.
fn delete(current: &Value, value: &Value) -> Result<Option<Value>, ExprError> {
    fn minus<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> Option<BTreeSet<T>> {
        let left: BTreeSet<T> = a.difference(b).cloned().collect();
        (!left.is_empty()).then_some(left)
    }
    Ok(match (current, value) {
        (Value::Ss(x), Value::Ss(y)) => minus(x, y).map(Value::Ss),
        (Value::Ns(x), Value::Ns(y)) => minus(x, y).map(Value::Ns),
        (Value::Bs(x), Value::Bs(y)) => minus(x, y).map(Value::Bs),
        _ => return Err(ExprError::IncorrectOperandType),
    })
}

impl UpdateExpr {
    /// Applies the update to `item`. Values are computed from the item as it
    /// was before any action; on error `item` is left unchanged. The caller
    /// checks the resulting item's size and keys.
    pub fn apply(&self, item: &mut Item) -> Result<(), ExprError> {
        let original: &Item = item;
        let mut next = original.clone();
        let mut removes = Vec::new();
        // SET first; its values come from the original. Paths never overlap,
        // so only appends to one list interact: in path order, elements set
        // past a list's end are appended by element number, as DynamoDB
        // documents ("sorted in order by element number").
        let mut sets = Vec::new();
        // ADD and DELETE, applied after SET and REMOVE (`true` for ADD).
        let mut later = Vec::new();
        for action in &self.actions {
            match action {
                UpdateAction::Set(path, v) => sets.push((path, set_value(v, original)?)),
                UpdateAction::Remove(path) => removes.push(path),
                UpdateAction::Add(path, v) => later.push((path, v, true)),
                UpdateAction::Delete(path, v) => later.push((path, v, false)),
            }
        }
        sets.sort_by(|a, b| a.0.cmp(b.0));
        for (path, value) in sets {
            set_path(&mut next, path, value)?;
        }
        // Paths never overlap, so only removals from one list interact:
        // removing the highest index first keeps the others in place.
        removes.sort_unstable_by(|a, b| b.cmp(a));
        for path in removes {
            remove_path(&mut next, path)?;
        }
        // ADD and DELETE in path order too: elements added past a list's
        // end are appended by element number, after those SET appended
        // (dynalite's tests, checked against DynamoDB: `SET c[4] = …,
        // c[2] = … ADD c[8] :b, c[6] :a` appends c[2], c[4], c[6], c[8]).
        later.sort_by(|a, b| a.0.cmp(b.0));
        let mut emptied = Vec::new();
        for (path, v, is_add) in later {
            if is_add {
                let sum = add(lookup(&next, path), v)?;
                set_path(&mut next, path, sum)?;
                continue;
            }
            let Some(current) = lookup(&next, path) else { continue };
            match delete(current, v)? {
                Some(left) => set_path(&mut next, path, left)?,
                // Removed once every action is done, as REMOVE's are, so
                // that the list's other elements keep their places
                // meanwhile.
                None => emptied.push(path),
            }
        }
        emptied.sort_unstable_by(|a, b| b.cmp(a));
        for path in emptied {
            remove_path(&mut next, path)?;
        }
        for name in self.top_level_names() {
            if next.get(name).is_some_and(|v| v.levels() > MAX_NESTING_DEPTH) {
                return Err(ExprError::NestingTooDeep);
            }
        }
        *item = next;
        Ok(())
    }
}
