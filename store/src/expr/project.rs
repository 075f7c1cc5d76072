//! Projection: keeping only the named parts of an item, with their nesting.
//! `a.b` keeps `{a: {b: ..}}`; `l[1]` keeps that element in a list of its
//! own; several paths into one document merge, list elements staying in
//! index order.

use std::collections::BTreeMap;

use super::ast::{Path, PathElem};
use super::eval::lookup;
use crate::value::{Item, Value};

/// The parts of a document picked so far.
enum Picked {
    /// Everything at this point.
    Whole(Value),
    Map(BTreeMap<String, Picked>),
    List(BTreeMap<usize, Picked>),
}

impl Picked {
    fn into_value(self) -> Value {
        match self {
            Picked::Whole(v) => v,
            Picked::Map(m) => Value::M(m.into_iter().map(|(k, p)| (k, p.into_value())).collect()),
            Picked::List(l) => Value::L(l.into_values().map(Picked::into_value).collect()),
        }
    }
}

/// Inserts `value` at `steps` below `slot`. A `Whole` already there keeps
/// everything, so it wins over anything deeper.
fn insert(slot: &mut Picked, steps: &[PathElem], value: &Value) {
    let Some((first, rest)) = steps.split_first() else {
        *slot = Picked::Whole(value.clone());
        return;
    };
    let child = match (first, slot) {
        (_, Picked::Whole(_)) => return,
        (PathElem::Attr(k), Picked::Map(m)) => m.entry(k.clone()).or_insert_with(|| new_node(rest)),
        (PathElem::Index(i), Picked::List(l)) => l.entry(*i).or_insert_with(|| new_node(rest)),
        // The item cannot hold both a map and a list at one place, so the
        // lookup that found `value` rules this out.
        _ => return,
    };
    insert(child, rest, value);
}

fn new_node(steps: &[PathElem]) -> Picked {
    match steps.first() {
        Some(PathElem::Index(_)) => Picked::List(BTreeMap::new()),
        _ => Picked::Map(BTreeMap::new()),
    }
}

/// The parts of `item` that `paths` name, nested as in the item. Paths that
/// name nothing are skipped.
pub fn project(paths: &[Path], item: &Item) -> Item {
    let mut top: BTreeMap<String, Picked> = BTreeMap::new();
    for path in paths {
        let Some(value) = lookup(item, path) else {
            continue;
        };
        let slot = top.entry(path.top().to_string()).or_insert_with(|| new_node(path.rest()));
        insert(slot, path.rest(), value);
    }
    top.into_iter().map(|(k, p)| (k, p.into_value())).collect()
}
