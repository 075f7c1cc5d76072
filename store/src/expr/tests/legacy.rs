//! Conversion of the legacy parameters.

use std::collections::BTreeMap;

use super::super::{
    AttributeValueUpdate, ExpectedAttribute, LegacyCondition, RangeCondition, attribute_updates_to_update,
    attributes_to_get_to_paths, expected_to_condition, filter_to_condition, key_conditions_to_key_condition, project,
};
use super::{item, l, n, ns, s, ss};
use crate::value::{Item, Value};

/// Legacy filter entries: attribute name, operator, values.
type Entries<'a> = Vec<(&'a str, &'a str, Vec<Value>)>;

fn sample() -> Item {
    item(&[("a", n("5")), ("b", s("hello")), ("set", ss(&["x", "y"]))])
}

fn filter(entries: &[(&str, &str, Vec<Value>)]) -> BTreeMap<String, LegacyCondition> {
    entries
        .iter()
        .map(|(name, op, args)| {
            (
                name.to_string(),
                LegacyCondition { comparison_operator: op.to_string(), attribute_value_list: args.clone() },
            )
        })
        .collect()
}

fn matches(entries: &[(&str, &str, Vec<Value>)], op: Option<&str>) -> Result<bool, String> {
    let cond = filter_to_condition(&filter(entries), op).map_err(|e| e.to_string())?;
    Ok(cond.is_none_or(|c| c.eval(&sample()).expect("legacy conditions evaluate")))
}

#[test]
fn filters() {
    let cases: Vec<(Entries, Option<&str>, bool)> = vec![
        (vec![("a", "EQ", vec![n("5")])], None, true),
        (vec![("a", "NE", vec![n("5")])], None, false),
        (vec![("missing", "NE", vec![n("5")])], None, true),
        (vec![("a", "LT", vec![n("6")])], None, true),
        (vec![("a", "LE", vec![n("5")])], None, true),
        (vec![("a", "GT", vec![n("5")])], None, false),
        (vec![("a", "GE", vec![s("5")])], None, false),
        (vec![("a", "NOT_NULL", vec![])], None, true),
        (vec![("missing", "NULL", vec![])], None, true),
        (vec![("b", "CONTAINS", vec![s("ell")])], None, true),
        (vec![("set", "CONTAINS", vec![s("x")])], None, true),
        (vec![("set", "NOT_CONTAINS", vec![s("x")])], None, false),
        // NOT_CONTAINS needs the attribute (Alternator's tests against DynamoDB).
        (vec![("missing", "NOT_CONTAINS", vec![s("x")])], None, false),
        (vec![("b", "BEGINS_WITH", vec![s("he")])], None, true),
        (vec![("a", "IN", vec![n("1"), n("5")])], None, true),
        (vec![("a", "BETWEEN", vec![n("1"), n("5")])], None, true),
        (vec![("a", "EQ", vec![n("5")]), ("b", "EQ", vec![s("nope")])], None, false),
        (vec![("a", "EQ", vec![n("5")]), ("b", "EQ", vec![s("nope")])], Some("AND"), false),
        (vec![("a", "EQ", vec![n("5")]), ("b", "EQ", vec![s("nope")])], Some("OR"), true),
        (vec![], None, true),
    ];
    for (entries, op, want) in cases {
        assert_eq!(matches(&entries, op), Ok(want), "{entries:?} {op:?}");
    }
}

#[test]
fn filter_validation() {
    let cases: Vec<(Entries, Option<&str>, &str)> = vec![
        (
            vec![("a", "EQ", vec![])],
            None,
            "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        (
            vec![("a", "NULL", vec![n("1")])],
            None,
            "One or more parameter values were invalid: Invalid number of argument(s) for the NULL ComparisonOperator",
        ),
        (
            vec![("a", "BETWEEN", vec![n("1")])],
            None,
            "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        ),
        (
            vec![("a", "LT", vec![ss(&["x"])])],
            None,
            "One or more parameter values were invalid: ComparisonOperator LT is not valid for SS AttributeValue type",
        ),
        (
            vec![("a", "BEGINS_WITH", vec![n("1")])],
            None,
            "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
        ),
        (
            vec![("a", "BETWEEN", vec![n("1"), s("x")])],
            None,
            "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type",
        ),
        (
            vec![("a", "LIKE", vec![n("1")])],
            None,
            "1 validation error detected: Value 'LIKE' at 'filter.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]",
        ),
        (
            vec![("a", "EQ", vec![n("1")])],
            Some("XOR"),
            "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]",
        ),
    ];
    for (entries, op, want) in cases {
        assert_eq!(matches(&entries, op), Err(want.to_string()), "{entries:?}");
    }
}

fn expected(entries: Vec<(&str, ExpectedAttribute)>, op: Option<&str>) -> Result<bool, String> {
    let map: BTreeMap<String, ExpectedAttribute> = entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let cond = expected_to_condition(&map, op).map_err(|e| e.to_string())?;
    Ok(cond.is_none_or(|c| c.eval(&sample()).expect("legacy conditions evaluate")))
}

#[test]
fn expected_forms() {
    let value = |v: Value| ExpectedAttribute { value: Some(v), ..Default::default() };
    let exists = |e: bool, v: Option<Value>| ExpectedAttribute { value: v, exists: Some(e), ..Default::default() };
    let op = |o: &str, list: Vec<Value>| ExpectedAttribute {
        comparison_operator: Some(o.to_string()),
        attribute_value_list: Some(list),
        ..Default::default()
    };
    assert_eq!(expected(vec![("a", value(n("5")))], None), Ok(true));
    assert_eq!(expected(vec![("a", exists(true, Some(n("6"))))], None), Ok(false));
    assert_eq!(expected(vec![("missing", exists(false, None))], None), Ok(true));
    assert_eq!(expected(vec![("a", exists(false, None))], None), Ok(false));
    assert_eq!(expected(vec![("a", op("GT", vec![n("1")])), ("b", op("NULL", vec![]))], Some("OR")), Ok(true));
    assert_eq!(
        expected(
            vec![(
                "a",
                ExpectedAttribute { comparison_operator: Some("EQ".into()), value: Some(n("5")), ..Default::default() }
            )],
            None
        ),
        Ok(true)
    );
    let errors = [
        (exists(false, Some(n("1"))), "Value cannot be used when Exists is false for Attribute: a"),
        (exists(true, None), "Value must be provided when Exists is true for Attribute: a"),
        (ExpectedAttribute::default(), "Value must be provided when Exists is null for Attribute: a"),
        (
            ExpectedAttribute { exists: Some(true), ..op("EQ", vec![n("1")]) },
            "Exists and ComparisonOperator cannot be used together for Attribute: a",
        ),
        (
            ExpectedAttribute { value: Some(n("1")), ..op("EQ", vec![n("1")]) },
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (
            ExpectedAttribute { attribute_value_list: Some(vec![n("1")]), ..Default::default() },
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
        ),
        (op("EQ", vec![n("1"), n("2")]), "Invalid number of argument(s) for the EQ ComparisonOperator"),
        // Value with a list is refused whatever else is there; an empty
        // list is given, with the wrong count.
        (
            ExpectedAttribute { value: Some(n("1")), attribute_value_list: Some(vec![]), ..Default::default() },
            "Value and AttributeValueList cannot be used together for Attribute: a",
        ),
        (op("EQ", vec![]), "Invalid number of argument(s) for the EQ ComparisonOperator"),
        (op("IN", vec![]), "Invalid number of argument(s) for the IN ComparisonOperator"),
        (
            ExpectedAttribute { comparison_operator: Some("LT".into()), ..Default::default() },
            "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: a",
        ),
    ];
    for (e, want) in errors {
        assert_eq!(
            expected(vec![("a", e.clone())], None),
            Err(format!("One or more parameter values were invalid: {want}")),
            "{e:?}"
        );
    }
}

#[test]
fn many_conditions_nest_shallowly() {
    let entries: Vec<(String, &str, Vec<Value>)> = (0..1000).map(|i| (format!("a{i}"), "NULL", vec![])).collect();
    let map: BTreeMap<String, LegacyCondition> = entries
        .iter()
        .map(|(k, op, args)| {
            (k.clone(), LegacyCondition { comparison_operator: op.to_string(), attribute_value_list: args.clone() })
        })
        .collect();
    let cond = filter_to_condition(&map, None).unwrap().unwrap();
    assert!(cond.eval(&sample()).unwrap());
}

#[test]
fn key_conditions() {
    let k = key_conditions_to_key_condition(&filter(&[
        ("sk", "BETWEEN", vec![n("1"), n("9")]),
        ("pk", "EQ", vec![s("x")]),
    ]))
    .unwrap();
    assert_eq!(
        k.conditions,
        vec![
            ("pk".to_string(), RangeCondition::Eq(s("x"))),
            ("sk".to_string(), RangeCondition::Between(n("1"), n("9")))
        ]
    );
    let k =
        key_conditions_to_key_condition(&filter(&[("pk", "EQ", vec![s("x")]), ("sk", "BEGINS_WITH", vec![s("p")])]))
            .unwrap();
    assert_eq!(k.conditions[1], ("sk".to_string(), RangeCondition::BeginsWith(s("p"))));
    assert_eq!(
        key_conditions_to_key_condition(&filter(&[])).unwrap_err().to_string(),
        "Conditions can be of length 1 or 2 only"
    );
    // What the key schema decides: the partition key's attribute first.
    let attr = |n: &str| crate::table::KeyAttr { name: n.to_string(), ty: crate::value::AttrType::S };
    let pk = crate::table::KeySchema::simple(attr("pk"), None);
    for (entries, want) in [
        (vec![("pk", "NE", vec![s("x")])], "Attempted conditional constraint is not an indexable operation"),
        (vec![("pk", "LT", vec![s("x")])], "Query key condition not supported"),
        (
            vec![("pk", "LT", vec![n("1")])],
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        ),
        (vec![("z", "NULL", vec![])], "Query condition missed key schema element: pk"),
        (vec![("pk", "EQ", vec![s("x")]), ("z", "EQ", vec![s("x")])], "Query key condition not supported"),
    ] {
        let k = key_conditions_to_key_condition(&filter(&entries)).unwrap();
        assert_eq!(k.split(&pk).unwrap_err().to_string(), want);
    }
    // More than two are counted against the key schema (a multi-attribute
    // index key takes them), in the legacy wording when too many.
    let three = vec![("a", "EQ", vec![s("x")]), ("b", "EQ", vec![s("x")]), ("c", "EQ", vec![s("x")])];
    let k = key_conditions_to_key_condition(&filter(&three)).unwrap();
    let attr = |n: &str| crate::table::KeyAttr { name: n.to_string(), ty: crate::value::AttrType::S };
    let schema = crate::table::KeySchema::simple(attr("a"), Some(attr("b")));
    assert_eq!(k.split(&schema).unwrap_err().to_string(), "Conditions can be of length 1 or 2 only");
}

fn updates(entries: Vec<(&str, Option<&str>, Option<Value>)>) -> Result<Item, String> {
    let map: BTreeMap<String, AttributeValueUpdate> = entries
        .into_iter()
        .map(|(k, action, value)| (k.to_string(), AttributeValueUpdate { action: action.map(str::to_string), value }))
        .collect();
    let update = attribute_updates_to_update(&map).map_err(|e| e.to_string())?;
    let mut it = item(&[("a", n("5")), ("b", s("x")), ("set", ss(&["x", "y"])), ("list", l(vec![n("1")]))]);
    update.apply(&mut it).map_err(|e| e.to_string())?;
    Ok(it)
}

#[test]
fn attribute_updates() {
    assert_eq!(
        updates(vec![
            ("a", Some("ADD"), Some(n("2"))),
            ("b", Some("DELETE"), None),
            ("c", None, Some(s("new"))),
            ("set", Some("DELETE"), Some(ss(&["x"]))),
            ("list", Some("ADD"), Some(l(vec![n("2")]))),
            ("fresh", Some("ADD"), Some(l(vec![n("3")]))),
            ("nums", Some("ADD"), Some(ns(&["1"]))),
            ("weird name.with dots", Some("PUT"), Some(Value::Bool(true))),
        ]),
        Ok(item(&[
            ("a", n("7")),
            ("c", s("new")),
            ("set", ss(&["y"])),
            ("list", l(vec![n("1"), n("2")])),
            ("fresh", l(vec![n("3")])),
            ("nums", ns(&["1"])),
            ("weird name.with dots", Value::Bool(true)),
        ]))
    );
    let invalid = |m: &str| Err(format!("One or more parameter values were invalid: {m}"));
    assert_eq!(
        updates(vec![("a", Some("PUT"), None)]),
        invalid("Only DELETE action is allowed when no attribute value is specified")
    );
    assert_eq!(updates(vec![("a", Some("ADD"), Some(s("x")))]), invalid("ADD action is not supported for the type S"));
    assert_eq!(
        updates(vec![("a", Some("DELETE"), Some(n("1")))]),
        invalid("DELETE action with value is not supported for the type N")
    );
    assert_eq!(
        updates(vec![("a", Some("UPSERT"), Some(n("1")))]),
        Err("1 validation error detected: Value 'UPSERT' at 'attributeUpdates.a.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]".to_string())
    );
    assert_eq!(
        updates(vec![("b", Some("ADD"), Some(n("1")))]),
        Err("An operand in the update expression has an incorrect data type".to_string())
    );
}

#[test]
fn attributes_to_get() {
    let paths = attributes_to_get_to_paths(&["a".to_string(), "set".to_string(), "x.y".to_string()]);
    let it = item(&[("a", n("5")), ("b", s("hello")), ("set", ss(&["x"])), ("x.y", n("1"))]);
    assert_eq!(project(&paths, &it), item(&[("a", n("5")), ("set", ss(&["x"])), ("x.y", n("1"))]));
}
