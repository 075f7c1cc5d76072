//! Applying update expressions.

use super::super::{ExprError, parse_update};
use super::{item, l, m, n, ns, placeholders, s, ss};
use crate::value::{Item, Value};

fn base() -> Item {
    item(&[
        ("id", s("k")),
        ("num", n("5")),
        ("str", s("abc")),
        ("tags", ss(&["a", "x"])),
        ("nums", ns(&["1", "3"])),
        ("lst", l(vec![n("0"), n("1"), n("2"), n("3")])),
        ("doc", m(&[("k", s("v")), ("nest", m(&[]))])),
    ])
}

fn apply(expr: &str, it: &Item) -> Result<Item, ExprError> {
    let mut ph = placeholders();
    let update = parse_update(expr, &mut ph).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let mut out = it.clone();
    update.apply(&mut out)?;
    Ok(out)
}

/// Applies `expr` to the base item and returns the changed attributes
/// (`None` for removed ones).
fn changes(expr: &str) -> Result<Vec<(String, Option<Value>)>, String> {
    let before = base();
    let after = apply(expr, &before).map_err(|e| e.to_string())?;
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| (k.clone(), after.get(k).cloned()))
        .collect())
}

fn changed(expr: &str) -> Vec<(String, Option<Value>)> {
    changes(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn one(name: &str, v: Value) -> Vec<(String, Option<Value>)> {
    vec![(name.to_string(), Some(v))]
}

#[test]
fn set_actions() {
    assert_eq!(changed("SET fresh2 = :s"), one("fresh2", s("abc")));
    assert_eq!(changed("SET num = :ten"), one("num", n("10")));
    assert_eq!(changed("SET num = num + :one"), one("num", n("6")));
    assert_eq!(changed("SET num = :one - num"), one("num", n("-4")));
    assert_eq!(changed("SET dup = doc.k"), one("dup", s("v")));
    assert_eq!(changed("SET num = if_not_exists(num, :ten)"), Vec::new());
    assert_eq!(changed("SET c = if_not_exists(c, :ten) + :one"), one("c", n("11")));
    assert_eq!(changed("SET lst = list_append(:l, lst)"), one("lst", l(vec![n("1"), n("0"), n("1"), n("2"), n("3")])));
    assert_eq!(changed("SET fresh = list_append(if_not_exists(fresh, :l), :l)"), one("fresh", l(vec![n("1"), n("1")])));
    // Nested paths and list indexes; an index past the end appends.
    assert_eq!(
        changed("SET doc.nest.z = :n, doc.k = :one"),
        one("doc", m(&[("k", n("1")), ("nest", m(&[("z", n("5"))]))]))
    );
    assert_eq!(changed("SET lst[1] = :s"), one("lst", l(vec![n("0"), s("abc"), n("2"), n("3")])));
    assert_eq!(changed("SET lst[99] = :s"), one("lst", l(vec![n("0"), n("1"), n("2"), n("3"), s("abc")])));
    // Several elements past the end are appended by element number, not in
    // the order written.
    assert_eq!(
        changed("SET lst[99] = :s, lst[50] = :one"),
        one("lst", l(vec![n("0"), n("1"), n("2"), n("3"), n("1"), s("abc")]))
    );
    // ... and ADD's after SET's, by element number too.
    assert_eq!(
        changed("SET lst[9] = :s, lst[5] = :one ADD lst[99] :n, lst[50] :ten"),
        one("lst", l(vec![n("0"), n("1"), n("2"), n("3"), n("1"), s("abc"), n("10"), n("5")]))
    );
    // A set emptied inside a list goes once every action is done: the
    // others still find their elements where they were.
    let sets = item(&[("id", s("k")), ("l", l(vec![ss(&["x", "y"]), n("1")])), ("m", l(vec![ss(&["x"]), ss(&["y"])]))]);
    let done = apply("ADD l[1] :one DELETE l[0] :ss", &sets).expect("apply");
    assert_eq!(done.get("l"), Some(&l(vec![n("2")])));
    let done = apply("DELETE m[1] :ss, m[0] :ss", &sets).expect("apply");
    assert_eq!(done.get("m"), Some(&l(vec![])));
    // Values come from the item before the update.
    assert_eq!(changed("SET num = str, str = num"), vec![("num".into(), Some(s("abc"))), ("str".into(), Some(n("5")))]);
}

#[test]
fn set_errors() {
    let missing = "The provided expression refers to an attribute that does not exist in the item";
    let bad_path = "The document path provided in the update expression is invalid for update";
    let bad_type = "An operand in the update expression has an incorrect data type";
    for (expr, want) in [
        ("SET a = nope + :one", missing),
        ("SET a = nope", missing),
        ("SET a = list_append(nope, :l)", missing),
        ("SET a = str + :one", bad_type),
        ("SET a = list_append(num, :l)", bad_type),
        ("SET nope.x = :n", bad_path),
        ("SET str.x = :n", bad_path),
        ("SET doc.nope.x = :n", bad_path),
        ("SET doc[0] = :n", bad_path),
        ("SET lst.x = :n", bad_path),
    ] {
        assert_eq!(changes(expr).unwrap_err(), want, "{expr}");
    }
}

#[test]
fn arithmetic_limits_map_number_errors() {
    let mut ph = super::placeholders();
    let update = parse_update("SET num = num + num", &mut ph).unwrap();
    let mut it = item(&[("num", n("9e125"))]);
    let before = it.clone();
    assert_eq!(
        update.apply(&mut it).unwrap_err().to_string(),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
    assert_eq!(it, before, "a failed update leaves the item alone");
}

#[test]
fn remove_actions() {
    assert_eq!(changed("REMOVE str, nope, doc.nope, lst[99]"), vec![("str".into(), None)]);
    // A missing container on the way is an invalid path (DynamoDB Local's
    // answer; a missing last element is nothing to remove).
    for expr in ["REMOVE absent.x", "REMOVE absent[0]", "REMOVE doc.nope.x", "REMOVE lst[99].x"] {
        assert_eq!(
            changes(expr).unwrap_err(),
            "The document path provided in the update expression is invalid for update",
            "{expr}"
        );
    }
    assert_eq!(changed("REMOVE doc.k"), one("doc", m(&[("nest", m(&[]))])));
    // Indexes refer to the list before the update.
    assert_eq!(changed("REMOVE lst[0], lst[2]"), one("lst", l(vec![n("1"), n("3")])));
    assert_eq!(changed("REMOVE lst[2], lst[0]"), one("lst", l(vec![n("1"), n("3")])));
    assert_eq!(
        changes("REMOVE str.x").unwrap_err(),
        "The document path provided in the update expression is invalid for update"
    );
}

#[test]
fn add_and_delete_actions() {
    assert_eq!(changed("ADD num :n"), one("num", n("10")));
    assert_eq!(changed("ADD hits :n"), one("hits", n("5")));
    assert_eq!(changed("ADD tags :ss"), one("tags", ss(&["a", "x", "y"])));
    assert_eq!(changed("ADD nums :ns"), one("nums", ns(&["1", "2", "3"])));
    assert_eq!(changed("ADD labels :ss"), one("labels", ss(&["x", "y"])));
    assert_eq!(changed("ADD doc.cnt :one"), one("doc", m(&[("k", s("v")), ("nest", m(&[])), ("cnt", n("1"))])));
    assert_eq!(changed("DELETE tags :ss"), one("tags", ss(&["a"])));
    assert_eq!(changed("DELETE nums :ns"), one("nums", ns(&["3"])));
    assert_eq!(changed("DELETE nope :ss"), Vec::new());
    let bad_type = "An operand in the update expression has an incorrect data type";
    for expr in ["ADD tags :ns", "ADD str :n", "ADD num :ss", "DELETE tags :ns", "DELETE str :ss"] {
        assert_eq!(changes(expr).unwrap_err(), bad_type, "{expr}");
    }
}

#[test]
fn delete_emptying_a_set_removes_it() {
    let it = item(&[("tags", ss(&["x", "y"]))]);
    assert_eq!(apply("DELETE tags :ss", &it).unwrap(), Item::new());
}

#[test]
fn all_clauses_together() {
    assert_eq!(
        changed("ADD num :one DELETE tags :ss REMOVE str SET doc.k = num"),
        vec![
            ("doc".into(), Some(m(&[("k", n("5")), ("nest", m(&[]))]))),
            ("num".into(), Some(n("6"))),
            ("str".into(), None),
            ("tags".into(), Some(ss(&["a"]))),
        ]
    );
}

#[test]
fn top_level_names_of_updates() {
    let mut ph = placeholders();
    let update = parse_update("SET a.b = :n, #n = :n REMOVE c[0] ADD d :n DELETE e :ss", &mut ph).unwrap();
    assert_eq!(update.top_level_names().collect::<Vec<_>>(), vec!["a", "name", "c", "d", "e"]);
}

#[test]
fn nesting_past_the_limit_is_refused() {
    // A map nested 32 deep is allowed; setting a map one level further is not.
    let mut deep = m(&[]);
    for _ in 0..31 {
        deep = m(&[("d", deep)]);
    }
    assert_eq!(deep.depth(), 32);
    let mut names = std::collections::HashMap::new();
    let mut values = std::collections::HashMap::new();
    values.insert(":deep".to_string(), deep.clone());
    values.insert(":m".to_string(), m(&[("x", m(&[]))]));
    names.insert("#d".to_string(), "d".to_string());
    let mut ph = super::super::Placeholders::new(names, values);
    let ok = parse_update("SET a = :deep", &mut ph).unwrap();
    let mut it = Item::new();
    ok.apply(&mut it).unwrap();
    let path = format!("a{}", ".d".repeat(31));
    let too_deep = parse_update(&format!("SET {path} = :m"), &mut ph).unwrap();
    assert_eq!(too_deep.apply(&mut it).unwrap_err(), ExprError::NestingTooDeep);
}
