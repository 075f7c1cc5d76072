//! Parser tests: each input rendered as an s-expression, or its error text.

use expect_test::{Expect, expect};

use super::super::{
    Condition, ExprKind, Operand, RangeCondition, SetValue, UpdateAction, UpdateOperand, parse_condition,
    parse_key_condition, parse_projection, parse_update,
};
use super::placeholders;

fn operand(o: &Operand) -> String {
    match o {
        Operand::Path(p) => p.to_string(),
        Operand::Value(v) => format!("{v:?}"),
        Operand::Size(inner) => format!("(size {})", operand(inner)),
    }
}

fn render(c: &Condition) -> String {
    match c {
        Condition::Compare { op, left, right } => {
            format!("({} {} {})", op.as_str(), operand(left), operand(right))
        }
        Condition::Between { value, low, high } => {
            format!("(between {} {} {})", operand(value), operand(low), operand(high))
        }
        Condition::In { value, list } => {
            let list: Vec<String> = list.iter().map(operand).collect();
            format!("(in {} {})", operand(value), list.join(" "))
        }
        Condition::AttributeExists(p) => format!("(exists {p})"),
        Condition::AttributeNotExists(p) => format!("(not_exists {p})"),
        Condition::AttributeType(p, t) => format!("(type {p} {t})"),
        Condition::BeginsWith(a, b) => format!("(begins_with {} {})", operand(a), operand(b)),
        Condition::Contains(a, b) => format!("(contains {} {})", operand(a), operand(b)),
        Condition::And(a, b) => format!("(and {} {})", render(a), render(b)),
        Condition::Or(a, b) => format!("(or {} {})", render(a), render(b)),
        Condition::Not(c) => format!("(not {})", render(c)),
    }
}

fn check_condition(input: &str, expected: Expect) {
    let mut ph = placeholders();
    let out = match parse_condition(input, &mut ph, ExprKind::Condition) {
        Ok(c) => render(&c),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

#[test]
fn conditions() {
    check_condition("a = :s", expect![[r#"(= a S("abc"))"#]]);
    check_condition("a.b[2].c <> :n", expect!["(<> a.b[2].c N(5))"]);
    check_condition("#n.#a[0] >= :n", expect!["(>= name.a[0] N(5))"]);
    check_condition("#x = :n", expect!["(= x.y N(5))"]);
    check_condition("a < :n AND b <= :n OR c > :n", expect!["(or (and (< a N(5)) (<= b N(5))) (> c N(5)))"]);
    check_condition("a < :n OR b <= :n AND c > :n", expect!["(or (< a N(5)) (and (<= b N(5)) (> c N(5))))"]);
    check_condition("NOT a = :n AND b = :n", expect!["(and (not (= a N(5))) (= b N(5)))"]);
    check_condition("NOT (a = :n AND b = :n)", expect!["(not (and (= a N(5)) (= b N(5))))"]);
    check_condition("(a = :n or b = :n) and c = :n", expect!["(and (or (= a N(5)) (= b N(5))) (= c N(5)))"]);
    check_condition("a BETWEEN :one AND :ten AND b = :n", expect!["(and (between a N(1) N(10)) (= b N(5)))"]);
    check_condition("a IN (:one, :n, :ten)", expect!["(in a N(1) N(5) N(10))"]);
    check_condition("(a) = (:n)", expect!["(= a N(5))"]);
    check_condition(
        "attribute_exists(a) AND attribute_not_exists(#n.b)",
        expect!["(and (exists a) (not_exists name.b))"],
    );
    check_condition("attribute_type(a, :typeSS)", expect!["(type a SS)"]);
    check_condition("begins_with(a, :pre)", expect![[r#"(begins_with a S("ab"))"#]]);
    check_condition("contains(a, :n)", expect!["(contains a N(5))"]);
    check_condition("size(a) > :n", expect!["(> (size a) N(5))"]);
    check_condition(":n < size(a.b)", expect!["(< N(5) (size a.b))"]);
    check_condition("a = b", expect!["(= a b)"]);
    check_condition("  a\t=\n:n  ", expect!["(= a N(5))"]);
}

#[test]
fn condition_errors() {
    check_condition(
        "a = :missing",
        expect![
            "error: Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :missing"
        ],
    );
    check_condition(
        "#missing = :n",
        expect![
            "error: Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #missing"
        ],
    );
    check_condition(
        "name = :n",
        expect!["error: Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"],
    );
    check_condition(
        "a.Size = :n",
        expect!["error: Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Size"],
    );
    check_condition(
        "a = = :n",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "=", near: "= = :n""#]],
    );
    check_condition(
        "a = ",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= ""#]],
    );
    check_condition("a", expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "a""#]]);
    check_condition(
        "a = :n AND",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "AND""#]],
    );
    check_condition(
        "a[-1] = :n",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "-", near: "[-1""#]],
    );
    check_condition(
        "_a = :n",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "_", near: "_a""#]],
    );
    check_condition(
        "a = :n $",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "$", near: ":n $""#]],
    );
    check_condition(
        "(a = :n) = :n",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "=", near: ") = :n""#]],
    );
    check_condition("", expect!["error: Invalid ConditionExpression: The expression can not be empty;"]);
    check_condition(
        "((a = :n))",
        expect!["error: Invalid ConditionExpression: The expression has redundant parentheses;"],
    );
    check_condition("foo(a)", expect!["error: Invalid ConditionExpression: Invalid function name; function: foo"]);
    check_condition(
        "size(a)",
        expect![
            "error: Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"
        ],
    );
    check_condition(
        "attribute_exists(a) = :n",
        expect![
            "error: Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"
        ],
    );
    check_condition(
        "attribute_exists(a, b)",
        expect![
            "error: Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
        ],
    );
    check_condition(
        "attribute_exists(:n)",
        expect![
            "error: Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
        ],
    );
    check_condition(
        "attribute_type(a, :typeBad)",
        expect![
            "error: Invalid ConditionExpression: Invalid attribute type name found; type: STRING, valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }"
        ],
    );
    check_condition(
        "attribute_type(a, :n)",
        expect![
            "error: Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"
        ],
    );
    check_condition(
        "begins_with(a, :n)",
        expect![
            "error: Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        ],
    );
    check_condition(
        "size(:n) = :n",
        expect![
            "error: Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"
        ],
    );
    check_condition(
        "a.b = a.b",
        expect![
            "error: Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a, b]"
        ],
    );
    check_condition(
        "a BETWEEN :n AND :s",
        expect![
            "error: Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {S:abc}"
        ],
    );
    check_condition(
        "a BETWEEN :ten AND :one",
        expect![
            "error: Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: AttributeValue: {N:1}"
        ],
    );
    // A syntax error wins over an undefined value; a reserved word over an
    // undefined name.
    check_condition(
        "a = :missing =",
        expect![[r#"error: Invalid ConditionExpression: Syntax error; token: "=", near: ":missing =""#]],
    );
    check_condition(
        "#missing = :n AND name = :n",
        expect!["error: Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"],
    );
}

#[test]
fn error_prefix_follows_kind() {
    let mut ph = placeholders();
    let err = parse_condition("a = :zz", &mut ph, ExprKind::Filter).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :zz"
    );
}

fn update_operand(o: &UpdateOperand) -> String {
    match o {
        UpdateOperand::Path(p) => p.to_string(),
        UpdateOperand::Value(v) => format!("{v:?}"),
        UpdateOperand::IfNotExists(p, f) => format!("(if_not_exists {p} {})", update_operand(f)),
        UpdateOperand::ListAppend(a, b) => {
            format!("(list_append {} {})", update_operand(a), update_operand(b))
        }
    }
}

fn check_update(input: &str, expected: Expect) {
    let mut ph = placeholders();
    let out = match parse_update(input, &mut ph) {
        Ok(u) => u
            .actions
            .iter()
            .map(|a| match a {
                UpdateAction::Set(p, SetValue::Operand(o)) => {
                    format!("(set {p} {})", update_operand(o))
                }
                UpdateAction::Set(p, SetValue::Plus(a, b)) => {
                    format!("(set {p} (+ {} {}))", update_operand(a), update_operand(b))
                }
                UpdateAction::Set(p, SetValue::Minus(a, b)) => {
                    format!("(set {p} (- {} {}))", update_operand(a), update_operand(b))
                }
                UpdateAction::Remove(p) => format!("(remove {p})"),
                UpdateAction::Add(p, v) => format!("(add {p} {v:?})"),
                UpdateAction::Delete(p, v) => format!("(delete {p} {v:?})"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

#[test]
fn updates() {
    check_update("SET a = :n", expect!["(set a N(5))"]);
    check_update(
        "set a = :n, #n.b[1] = c + :one remove d, e[0] ADD f :n DELETE g :ss",
        expect![[
            r#"(set a N(5)) (set name.b[1] (+ c N(1))) (remove d) (remove e[0]) (add f N(5)) (delete g SS{"x", "y"})"#
        ]],
    );
    check_update("SET a = b - :one", expect!["(set a (- b N(1)))"]);
    check_update("SET a = (b - :one)", expect!["(set a (- b N(1)))"]);
    check_update("SET a = (b) - (:one)", expect!["(set a (- b N(1)))"]);
    check_update("SET a = if_not_exists(a, :n) + :one", expect!["(set a (+ (if_not_exists a N(5)) N(1)))"]);
    check_update(
        "SET a = list_append(if_not_exists(a, :l), :l)",
        expect!["(set a (list_append (if_not_exists a [N(1)]) [N(1)]))"],
    );
    check_update("REMOVE a.b, c ADD d :ss", expect![[r#"(remove a.b) (remove c) (add d SS{"x", "y"})"#]]);
}

#[test]
fn update_errors() {
    check_update(
        "SET a = :n SET b = :n",
        expect![[
            r#"error: Invalid UpdateExpression: The "SET" section can only be used once in an update expression;"#
        ]],
    );
    check_update(
        "SET a = :n REMOVE a.b",
        expect![
            "error: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        ],
    );
    check_update(
        "SET a[1] = :n REMOVE a.b",
        expect![
            "error: Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [1]], path two: [a, b]"
        ],
    );
    check_update(
        "SET a = :n, a = :one",
        expect![
            "error: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        ],
    );
    check_update(
        "SET name = :n",
        expect!["error: Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"],
    );
    check_update(
        "SET a = :s + :n",
        expect![
            "error: Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"
        ],
    );
    check_update(
        "SET a = list_append(:n, a)",
        expect![
            "error: Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: N"
        ],
    );
    check_update(
        "SET a = list_append(list_append(:l, :l), :l)",
        expect![
            "error: Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
        ],
    );
    check_update(
        "SET a = if_not_exists(:n, a)",
        expect![
            "error: Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
        ],
    );
    check_update(
        "SET a = list_append(a)",
        expect![
            "error: Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"
        ],
    );
    check_update("SET a = size(b)", expect!["error: Invalid UpdateExpression: Invalid function name; function: size"]);
    check_update(
        "ADD a :s",
        expect![
            "error: Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"
        ],
    );
    check_update(
        "DELETE a :n",
        expect![
            "error: Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"
        ],
    );
    check_update(
        "SET a = :n, REMOVE b",
        expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "REMOVE", near: ", REMOVE b""#]],
    );
    check_update("SET a = 1", expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "1", near: "= 1""#]]);
    check_update(
        "SET a = b + c + d",
        expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "+", near: "c + d""#]],
    );
    check_update("ADD a b", expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "b", near: "a b""#]]);
    check_update("a = :n", expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "a", near: "a =""#]]);
    check_update("SET", expect![[r#"error: Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "SET""#]]);
    check_update("  ", expect!["error: Invalid UpdateExpression: The expression can not be empty;"]);
    check_update(
        "SET a = :zz",
        expect![
            "error: Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :zz"
        ],
    );
}

fn check_projection(input: &str, expected: Expect) {
    let mut ph = placeholders();
    let out = match parse_projection(input, &mut ph) {
        Ok(paths) => paths.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" | "),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

#[test]
fn projections() {
    check_projection("a, b.c, #n[3], #x", expect!["a | b.c | name[3] | x.y"]);
    check_projection(
        "a, a.b",
        expect![
            "error: Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        ],
    );
    check_projection(
        "a, name",
        expect!["error: Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"],
    );
    check_projection(
        "a,",
        expect![[r#"error: Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ",""#]],
    );
    check_projection("a b", expect![[r#"error: Invalid ProjectionExpression: Syntax error; token: "b", near: "a b""#]]);
}

fn check_key(input: &str, expected: Expect) {
    let mut ph = placeholders();
    let out = match parse_key_condition(input, &mut ph) {
        Ok(k) => k
            .conditions
            .iter()
            .map(|(name, c)| {
                let c = match c {
                    RangeCondition::Eq(v) => format!("= {v:?}"),
                    RangeCondition::Lt(v) => format!("< {v:?}"),
                    RangeCondition::Le(v) => format!("<= {v:?}"),
                    RangeCondition::Gt(v) => format!("> {v:?}"),
                    RangeCondition::Ge(v) => format!(">= {v:?}"),
                    RangeCondition::Between(a, b) => format!("between {a:?} {b:?}"),
                    RangeCondition::BeginsWith(v) => format!("begins_with {v:?}"),
                };
                format!("{name} {c}")
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

#[test]
fn key_conditions() {
    check_key("pk = :s", expect![[r#"pk = S("abc")"#]]);
    check_key("pk = :s AND sk < :n", expect![[r#"pk = S("abc") | sk < N(5)"#]]);
    check_key("sk <= :n AND pk = :s", expect![[r#"pk = S("abc") | sk <= N(5)"#]]);
    check_key(":n > sk AND pk = :s", expect![[r#"pk = S("abc") | sk < N(5)"#]]);
    check_key("pk = :s AND sk = :n", expect![[r#"pk = S("abc") | sk = N(5)"#]]);
    check_key("(pk = :s) AND (sk BETWEEN :one AND :ten)", expect![[r#"pk = S("abc") | sk between N(1) N(10)"#]]);
    check_key("#a = :s AND begins_with(sk, :pre)", expect![[r#"a = S("abc") | sk begins_with S("ab")"#]]);
    check_key("pk = :s OR sk = :n", expect!["error: Invalid operator used in KeyConditionExpression: OR"]);
    check_key("NOT pk = :s", expect!["error: Invalid operator used in KeyConditionExpression: NOT"]);
    check_key("pk <> :s", expect!["error: Invalid operator used in KeyConditionExpression: <>"]);
    check_key("pk IN (:s)", expect!["error: Invalid operator used in KeyConditionExpression: IN"]);
    check_key(
        "attribute_exists(pk)",
        expect!["error: Invalid operator used in KeyConditionExpression: attribute_exists"],
    );
    check_key(
        "pk = :s AND sk = :n AND sk > :n",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"
        ],
    );
    check_key(
        "pk = :s AND pk = :n",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"
        ],
    );
    check_key(
        "pk.a = :s",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes"
        ],
    );
    check_key(
        "pk = sk",
        expect!["error: Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"],
    );
    check_key("sk < :n", expect!["sk < N(5)"]);
    // Each leaf is read in full, operands in order, before the next
    // (dynalite's cases, recorded against DynamoDB).
    check_key("pk <> sk", expect!["error: Invalid operator used in KeyConditionExpression: <>"]);
    check_key(
        "pk > sk.a",
        expect!["error: Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"],
    );
    check_key(
        "pk BETWEEN sk AND size(pk)",
        expect!["error: Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"],
    );
    check_key(
        "begins_with(pk, sk)",
        expect!["error: Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"],
    );
    check_key(
        ":s BETWEEN size(pk) AND size(sk) AND sk > :n",
        expect![
            "error: Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"
        ],
    );
    check_key(
        "begins_with(:s, pk) AND sk > :n",
        expect![
            "error: Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand"
        ],
    );
    check_key(
        "size(pk) > sk AND sk.a > pk",
        expect!["error: Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations"],
    );
    check_key(
        "pk > size(sk.a)",
        expect!["error: Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations"],
    );
    check_key(
        "pk.a > sk AND sk.b > pk.c",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes"
        ],
    );
    check_key(
        "pk[0] > sk",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes"
        ],
    );
    check_key(
        ":s > :n AND pk < :s",
        expect!["error: Invalid condition in KeyConditionExpression: No key attribute specified"],
    );
    check_key(
        "(pk > :n AND sk > :n) AND (sk > :n AND x > :n)",
        expect![
            "error: Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"
        ],
    );
    check_key(
        "pk = :s AND (sk.a = :n OR x = :n)",
        expect!["error: Invalid operator used in KeyConditionExpression: OR"],
    );
    check_key(":n < sk AND pk = :s", expect![[r#"pk = S("abc") | sk > N(5)"#]]);
    check_key(
        "pk = :zz",
        expect![
            "error: Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :zz"
        ],
    );
}

/// A key schema of `hash` then `range` names: `sk` and `h2` are numbers
/// (as `:n` is), the others strings (as `:s` is).
fn schema(hash: &[&str], range: &[&str]) -> crate::table::KeySchema {
    use crate::value::AttrType;
    let attr = |n: &&str| crate::table::KeyAttr {
        name: n.to_string(),
        ty: if matches!(*n, "sk" | "h2") { AttrType::N } else { AttrType::S },
    };
    let hash: Vec<_> = hash.iter().map(attr).collect();
    let range: Vec<_> = range.iter().map(attr).collect();
    crate::table::KeySchema {
        hash: hash[0].clone(),
        range: range.first().cloned(),
        more_hash: hash[1..].to_vec(),
        more_range: range.get(1..).map(<[_]>::to_vec).unwrap_or_default(),
    }
}

#[test]
fn key_condition_split_against_schema() {
    let mut ph = placeholders();
    let k = parse_key_condition("pk = :s AND sk = :n", &mut ph).unwrap();
    let split = k.split(&schema(&["sk"], &["pk"])).unwrap();
    assert_eq!(split.hash, vec![super::n("5")]);
    assert_eq!(split.sort, Some(RangeCondition::Eq(super::s("abc"))));
    assert_eq!(
        k.split(&schema(&["pk"], &[])).unwrap_err().to_string(),
        "The number of query conditions (2) exceeds the number of key attributes defined in the schema (1)"
    );
    let three = parse_key_condition("pk = :s AND sk = :n AND x = :n", &mut ph).unwrap();
    assert_eq!(
        three.split(&schema(&["pk"], &["sk"])).unwrap_err().to_string(),
        "The number of query conditions (3) exceeds the number of key attributes defined in the schema (2)"
    );
    let k = parse_key_condition("pk = :s AND x = :n", &mut ph).unwrap();
    assert_eq!(
        k.split(&schema(&["pk"], &["sk"])).unwrap_err().to_string(),
        "Query condition missed key schema element: sk"
    );
    let k = parse_key_condition("sk = :n", &mut ph).unwrap();
    assert_eq!(
        k.split(&schema(&["pk"], &["sk"])).unwrap_err().to_string(),
        "Query condition missed key schema element: pk"
    );
    let k = parse_key_condition("pk = :s AND sk > :n", &mut ph).unwrap();
    assert_eq!(k.split(&schema(&["sk"], &["pk"])).unwrap_err().to_string(), "Query key condition not supported");
}

#[test]
fn key_condition_split_against_a_multi_attribute_schema() {
    let mut ph = placeholders();
    let multi = schema(&["h1", "h2"], &["a", "b", "c"]);
    let k = parse_key_condition("b > :n AND h2 = :n AND a = :s AND h1 = :s", &mut ph).unwrap();
    let split = k.split(&multi).unwrap();
    assert_eq!(split.hash, vec![super::s("abc"), super::n("5")]);
    assert_eq!(split.sort_eq, vec![super::s("abc")]);
    assert_eq!(split.sort, Some(RangeCondition::Gt(super::n("5"))));
    let k = parse_key_condition("h1 = :s AND h2 = :n", &mut ph).unwrap();
    let split = k.split(&multi).unwrap();
    assert_eq!((split.sort_eq.len(), split.sort), (0, None));
    for (text, message) in [
        ("h1 = :s AND a = :s", "Query condition missed key schema element: h2"),
        ("h1 = :s AND h2 > :n", "Query key condition not supported"),
        (
            "h1 = :s AND h2 = :n AND b = :s",
            "RANGE key attributes a must have equality conditions specified in the query because a condition is present on key attribute b",
        ),
        (
            "h1 = :s AND h2 = :n AND a < :s AND c = :s",
            "RANGE key attributes a must have equality conditions specified in the query because a condition is present on key attribute c",
        ),
        (
            "h1 = :s AND h2 = :n AND a = :s AND b = :s AND c = :s AND x = :s",
            "The number of query conditions (6) exceeds the number of key attributes defined in the schema (5)",
        ),
    ] {
        let k = parse_key_condition(text, &mut ph).unwrap();
        assert_eq!(k.split(&multi).unwrap_err().to_string(), message, "{text}");
    }
}

#[test]
fn placeholders_record_use() {
    let mut ph = placeholders();
    parse_condition("#n = :s AND #a = :n", &mut ph, ExprKind::Condition).unwrap();
    parse_update("SET #b = :one", &mut ph).unwrap();
    assert_eq!(ph.unused_names(), vec!["#x"]);
    assert_eq!(
        ph.unused_values(),
        vec![
            ":b", ":bool", ":l", ":m", ":ns", ":null", ":pre", ":s2", ":ss", ":ten", ":typeBad", ":typeN", ":typeS",
            ":typeSS"
        ]
    );
}
