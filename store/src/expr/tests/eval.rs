//! Condition evaluation against items, and projection.

use super::super::{ExprKind, parse_condition, parse_projection, project};
use super::{item, l, m, n, ns, placeholders, s, ss};
use crate::value::{Item, Value};

fn sample() -> Item {
    item(&[
        ("str", s("abc")),
        ("uni", s("héllo")),
        ("num", n("5")),
        ("bin", Value::B(vec![1, 2, 3])),
        ("flag", Value::Bool(true)),
        ("nul", Value::Null),
        ("tags", ss(&["x", "y"])),
        ("nums", ns(&["2", "1"])),
        ("lst", l(vec![n("1"), s("two"), m(&[("k", s("v"))])])),
        ("doc", m(&[("k", s("v")), ("nest", m(&[("deep", n("7"))]))])),
    ])
}

fn eval(expr: &str, item: &Item) -> bool {
    let mut ph = placeholders();
    let cond = parse_condition(expr, &mut ph, ExprKind::Condition).unwrap_or_else(|e| panic!("{expr}: {e}"));
    cond.eval(item).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Only strings, numbers and binaries have an order: comparing a constant
/// of another type is refused before any item is read.
#[test]
fn orderings_of_unordered_constants_are_refused() {
    for (expr, t) in [("flag < :bool", "BOOL"), ("n BETWEEN :bool AND :bool", "BOOL"), (":ss >= n", "SS")] {
        let mut ph = placeholders();
        let err = parse_condition(expr, &mut ph, ExprKind::Condition).unwrap_err().to_string();
        assert!(err.ends_with(&format!("operand type: {t}")), "{expr}: {err}");
    }
}

#[test]
fn conditions_follow_dynamodb() {
    let it = sample();
    let cases: &[(&str, bool)] = &[
        // Comparisons of the same type.
        ("str = :s", true),
        ("str <> :s", false),
        ("str < :s2", true),
        ("str <= :s", true),
        ("str > :s2", false),
        ("str >= :pre", true),
        ("num = :n", true),
        ("num < :ten", true),
        ("num > :one", true),
        ("num >= :n AND num <= :n", true),
        ("bin = :b", false),
        ("bin > :b", true),
        // Different types: false, except <>.
        ("num = :s", false),
        ("num < :s", false),
        ("num > :s", false),
        ("num <> :s", true),
        ("flag = :bool", true),
        ("nul = :null", true),
        // Missing attributes: false, except <>.
        ("absent = :n", false),
        ("absent < :n", false),
        ("absent <> :n", true),
        ("doc.nope = :n", false),
        ("str.k = :s", false),
        ("lst[9] = :n", false),
        // Deep equality; sets ignore order.
        ("doc.nest.deep = :n", false),
        ("lst[2] = :m", true),
        ("doc = :m", false),
        ("nums = :ns", true),
        ("tags = :ss", true),
        ("lst[0] = :one", true),
        // Path to path.
        ("num = doc.nest.deep", false),
        ("num < doc.nest.deep", true),
        // BETWEEN is inclusive and typed.
        ("num BETWEEN :one AND :n", true),
        ("num BETWEEN :n AND :ten", true),
        ("num BETWEEN :one AND :one", false),
        ("str BETWEEN :pre AND :s2", true),
        ("absent BETWEEN :one AND :ten", false),
        // IN.
        ("num IN (:one, :n)", true),
        ("num IN (:one, :ten)", false),
        ("str IN (:n, :s)", true),
        ("absent IN (:n)", false),
        // Functions.
        ("attribute_exists(doc.nest.deep)", true),
        ("attribute_exists(lst[3])", false),
        ("attribute_not_exists(absent)", true),
        ("attribute_not_exists(str)", false),
        ("attribute_type(tags, :typeSS)", true),
        ("attribute_type(num, :typeN)", true),
        ("attribute_type(num, :typeS)", false),
        ("attribute_type(absent, :typeS)", false),
        ("begins_with(str, :pre)", true),
        ("begins_with(str, :s2)", false),
        ("begins_with(num, :pre)", false),
        ("begins_with(absent, :pre)", false),
        ("contains(str, :pre)", true),
        ("contains(tags, :s)", false),
        ("contains(nums, :one)", true),
        ("contains(lst, :one)", true),
        ("contains(lst, :m)", true),
        ("contains(lst, :ten)", false),
        ("contains(num, :n)", false),
        ("contains(absent, :n)", false),
        // size: UTF-16 code units of strings (as the live service counts
        // them: "héllo" is 5, not its 6 UTF-8 bytes), bytes of binaries,
        // elements of collections.
        ("size(str) = :n", false),
        ("size(uni) = :n", true),
        ("size(uni) > :n", false),
        ("size(bin) < :n", true),
        ("size(tags) < :n", true),
        ("size(lst) < :n", true),
        ("size(doc) < :n", true),
        ("size(num) = :one", false),
        ("size(num) <> :one", true),
        ("size(absent) < :n", false),
        // Logic.
        ("NOT str = :s", false),
        ("NOT absent = :s", true),
        ("str = :s AND num = :one", false),
        ("str = :s OR num = :one", true),
        ("NOT (str = :s2 OR num = :one)", true),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr, &it), *want, "{expr}");
    }
}

#[test]
fn top_level_names_of_conditions() {
    let mut ph = placeholders();
    let cond =
        parse_condition("b.c = :n AND size(a) > :n OR attribute_exists(b[1])", &mut ph, ExprKind::Filter).unwrap();
    assert_eq!(cond.top_level_names(), vec!["a", "b"]);
}

fn projected(expr: &str, it: &Item) -> Item {
    let mut ph = placeholders();
    project(&parse_projection(expr, &mut ph).unwrap(), it)
}

#[test]
fn projection_keeps_nesting() {
    let it = sample();
    assert_eq!(projected("str, num, absent", &it), item(&[("str", s("abc")), ("num", n("5"))]));
    assert_eq!(
        projected("doc.nest.deep, doc.k", &it),
        item(&[("doc", m(&[("k", s("v")), ("nest", m(&[("deep", n("7"))]))]))])
    );
    assert_eq!(projected("doc.nest.nope, doc.nope", &it), Item::new());
    // List elements are kept in index order, compacted.
    assert_eq!(projected("lst[2].k, lst[0]", &it), item(&[("lst", l(vec![n("1"), m(&[("k", s("v"))])]))]));
    assert_eq!(projected("lst[7], str.x", &it), Item::new());
    // A whole attribute wins over a part of it, whichever comes first.
    let whole = item(&[("doc", it["doc"].clone())]);
    let parts = [super::super::Path::attr("doc"), {
        let mut p = super::super::Path::attr("doc");
        p.push(super::super::PathElem::Attr("k".into()));
        p
    }];
    assert_eq!(project(&parts, &it), whole);
    let reversed = [parts[1].clone(), parts[0].clone()];
    assert_eq!(project(&reversed, &it), whole);
}
