//! Table-driven tests of the expression language.

mod eval;
mod hostile;
mod legacy;
mod parse;
mod update;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::value::{Item, Number, Value};

use super::Placeholders;

pub(super) fn s(v: &str) -> Value {
    Value::S(v.to_string())
}

pub(super) fn n(v: &str) -> Value {
    Value::N(v.parse::<Number>().expect("test number"))
}

pub(super) fn ss(vs: &[&str]) -> Value {
    Value::Ss(vs.iter().map(|v| v.to_string()).collect())
}

pub(super) fn ns(vs: &[&str]) -> Value {
    Value::Ns(vs.iter().map(|v| v.parse::<Number>().expect("test number")).collect::<BTreeSet<_>>())
}

pub(super) fn l(vs: Vec<Value>) -> Value {
    Value::L(vs)
}

pub(super) fn m(entries: &[(&str, Value)]) -> Value {
    Value::M(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>())
}

pub(super) fn item(entries: &[(&str, Value)]) -> Item {
    entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Placeholders used across the tests: `#n` is "name", `#a` is "a", `#x` is
/// "x.y" (a dotted name, not a path), and values of each type.
pub(super) fn placeholders() -> Placeholders {
    let names = HashMap::from(
        [("#n", "name"), ("#a", "a"), ("#b", "b"), ("#x", "x.y")].map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let values = HashMap::from(
        [
            (":s", s("abc")),
            (":s2", s("abd")),
            (":pre", s("ab")),
            (":n", n("5")),
            (":one", n("1")),
            (":ten", n("10")),
            (":b", Value::B(vec![1, 2])),
            (":bool", Value::Bool(true)),
            (":null", Value::Null),
            (":ss", ss(&["x", "y"])),
            (":ns", ns(&["1", "2"])),
            (":l", l(vec![n("1")])),
            (":m", m(&[("k", s("v"))])),
            (":typeS", s("S")),
            (":typeN", s("N")),
            (":typeSS", s("SS")),
            (":typeBad", s("STRING")),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    Placeholders::new(names, values)
}
