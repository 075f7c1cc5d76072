//! Parser tests: each statement rendered on one line, or its error text.

use expect_test::{Expect, expect};

use super::super::parse;
use super::render;

fn check(input: &str, expected: Expect) {
    let out = match parse(input) {
        Ok(s) => render(&s),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

#[test]
fn selects() {
    check(r#"SELECT * FROM "Music""#, expect!["select * from Music"]);
    check(r#"select a, "b c".d, e[0], f['g'] from Music"#, expect!["select [a b c.d e[0] f.g] from Music"]);
    check(
        r#"SELECT * FROM "Music"."by-year" WHERE "year" = 1999"#,
        expect!["select * from Music.by-year where (= year 1999)"],
    );
    check(
        r#"SELECT * FROM T WHERE pk = 'a' AND sk > 5 ORDER BY sk DESC;"#,
        expect!["select * from T where (and (= pk 'a') (> sk 5)) order sk desc"],
    );
    check(
        r#"SELECT * FROM T WHERE pk IN ['a', 'b'] ORDER BY pk, sk ASC"#,
        expect!["select * from T where (in pk ['a' 'b']) order pk order sk"],
    );
    check(
        r#"SELECT * FROM T WHERE pk IN ('a', ?) OR NOT x BETWEEN ? AND 3"#,
        expect!["select * from T where (or (in pk ['a' ?0]) (not (between x ?1 3))) ; params 2"],
    );
    check(
        r#"SELECT * FROM T WHERE a = 1 OR b = 2 AND c = 3"#,
        expect!["select * from T where (or (= a 1) (and (= b 2) (= c 3)))"],
    );
    check(
        r#"SELECT * FROM T WHERE NOT a = 1 AND (b <> 2 OR c != 3)"#,
        expect!["select * from T where (and (not (= a 1)) (or (<> b 2) (<> c 3)))"],
    );
    check(
        r#"SELECT * FROM T WHERE a NOT IN [1] AND b NOT BETWEEN 1 AND 2"#,
        expect!["select * from T where (and (not-in a [1]) (not-between b 1 2))"],
    );
    check(
        r#"SELECT * FROM T WHERE a IS MISSING AND b IS NOT MISSING AND c is not null AND d IS string"#,
        expect![
            "select * from T where (and (and (and (is a MISSING) (is-not b MISSING)) (is-not c NULL)) (is d STRING))"
        ],
    );
    check(
        r#"SELECT * FROM T WHERE begins_with(sk, 'x') AND size(l) >= 2 AND attribute_type(m, 'M')"#,
        expect![
            "select * from T where (and (and (begins_with@1:23:11 sk 'x') (>= (size@1:48:4 l) 2)) (attribute_type@1:65:14 m 'M'))"
        ],
    );
    check(
        r#"SELECT * FROM T WHERE attribute_exists(a) = true"#,
        expect!["select * from T where (= (attribute_exists@1:23:16 a) true)"],
    );
    check(
        "-- lead\nSELECT * FROM T /* between */ WHERE pk = 'a' -- trail",
        expect!["select * from T where (= pk 'a')"],
    );
    check(
        r#"SELECT * FROM T WHERE n = -.73e1 AND m = 7.31E+6 AND o = -x"#,
        expect!["select * from T where (and (and (= n -.73e1) (= m 7.31E+6)) (= o (neg x)))"],
    );
    check(r#"SELECT * FROM T WHERE 'it''s' = s"#, expect!["select * from T where (= 'it's' s)"]);
}

#[test]
fn select_errors() {
    check(
        "SLECT * FROM T",
        expect!["error: Statement wasn't well formed, can't be processed: Expected data manipulation"],
    );
    check(
        "SELECT * FROM T WHERE pk = 1 foo",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "SELECT * FROM T WHERE pk = 1)",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "SELECT * FROM T ORDER BY pk WHERE pk = 1",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check("SELECT * FROM T t WHERE pk = 1", expect!["error: Aliasing is not supported"]);
    check("SELECT * FROM T AS t", expect!["error: Aliasing is not supported"]);
    check("SELECT a AS b FROM T", expect!["error: Aliasing is not supported"]);
    check(r#"SELECT * FROM "T"."I"."X""#, expect!["error: A path may contain at most 2 components in the FROM clause"]);
    check(r#"SELECT * FROM "T"."""#, expect!["error: Path component cannot be an empty string"]);
    check(r#"SELECT * FROM """#, expect!["error: Path component cannot be an empty string"]);
    check(
        "SELECT *, a FROM T",
        expect!["error: Other attributes should not be present in the projection when '*' is used."],
    );
    check(
        "SELECT a, * FROM T",
        expect!["error: Other attributes should not be present in the projection when '*' is used."],
    );
    check("SELECT DISTINCT a FROM T", expect!["error: Unsupported token in expression: DISTINCT"]);
    check("SELECT * FROM T GROUP BY a", expect!["error: Unsupported clause: GROUP BY"]);
    check("SELECT * FROM T LIMIT 5", expect!["error: Unsupported clause: LIMIT"]);
    check(
        "SELECT * FROM T WHERE pad = 'none'",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected keyword"],
    );
    check(r#"SELECT * FROM T WHERE "pad" = 'none'"#, expect!["select * from T where (= pad 'none')"]);
    check(
        "SELECT * FROM T WHERE m.inner = 1",
        expect!["error: Statement wasn't well formed, can't be processed: Invalid path dot component"],
    );
    check("SELECT * FROM T WHERE a[*].b = 1", expect!["error: Wildcard path component like a[*].b are not supported"]);
    check("SELECT * FROM T WHERE a.*.b = 1", expect!["error: Unpivot path component like a.*.b are not supported"]);
    check(
        "SELECT * FROM T WHERE a[99999999999999999999999] = 1",
        expect!["error: List index is not within the allowable range; index: [99999999999999999999999]"],
    );
    check("SELECT * FROM T WHERE pk = 1 # note", expect!["error: Statement wasn't well formed, can't be processed: "]);
    check("SELECT * FROM T WHERE pk = 1 /* note", expect!["error: Statement wasn't well formed, can't be processed: "]);
    check(
        "SELECT * FROM T WHERE pk = 1 e5",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "SELECT * FROM T WHERE a LIKE 'x%'",
        expect!["error: Unsupported operator in Condition Expression. Operator: LIKE"],
    );
    check(
        "SELECT * FROM T; SELECT * FROM T",
        expect![
            "error: Statement wasn't well formed, can't be processed: Unexpected token after semicolon. (Only one query is allowed.)"
        ],
    );
    check("", expect!["error: Statement wasn't well formed, can't be processed: Unexpected term"]);
    check("SELECT", expect!["error: Statement wasn't well formed, can't be processed: Unexpected term"]);
    check("SELECT * FROM", expect!["error: Statement wasn't well formed, can't be processed: Unexpected term"]);
    check("SELECT * FROM T WHERE", expect!["error: Statement wasn't well formed, can't be processed: Unexpected term"]);
    check(
        "SELECT * FROM T WHERE a IN",
        expect![
            "error: Statement wasn't well formed, can't be processed: Missing right-hand side expression of infix operator"
        ],
    );
}

#[test]
fn writes() {
    check(
        r#"INSERT INTO "T" VALUE {'pk': 'a', 'n': 1, 'l': [1, 'x'], 'm': {'k': NULL}, 's': <<'a', 'b'>>}"#,
        expect!["insert T {'pk': 'a', 'n': 1, 'l': [1 'x'], 'm': {'k': NULL}, 's': <<'a' 'b'>>}"],
    );
    check("INSERT INTO T VALUE {'pk': ?, 'v': ?}", expect!["insert T {'pk': ?0, 'v': ?1} ; params 2"]);
    check(
        "UPDATE T SET a = 1, b = b + 1 SET c = list_append(c, [1]) REMOVE d, e[2] WHERE pk = 'k' RETURNING MODIFIED NEW *",
        expect![
            "update T (set a 1) (set b (+ b 1)) (set c (list_append@1:39:11 c [1])) (remove d) (remove e[2]) where (= pk 'k') returning MODIFIED NEW"
        ],
    );
    check(
        "UPDATE T SET s = set_add(s, <<'x'>>) WHERE pk = 'k' AND attribute_exists(s)",
        expect!["update T (set s (set_add@1:18:7 s <<'x'>>)) where (and (= pk 'k') (attribute_exists@1:57:16 s))"],
    );
    check(
        "DELETE FROM T WHERE pk = 'k' AND sk = 2 RETURNING ALL OLD *",
        expect!["delete T where (and (= pk 'k') (= sk 2)) returning ALL OLD"],
    );
    check(
        "EXISTS(SELECT * FROM T WHERE pk = 'k' AND v > 1)",
        expect!["exists (select * from T where (and (= pk 'k') (> v 1)))"],
    );
}

#[test]
fn write_errors() {
    check(
        "INSERT INTO T VALUE {'pk': 'a'} foo",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "INSERT INTO T t VALUE {'pk': 'a'}",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "INSERT INTO T VALUE {'pk': 'a'} RETURNING ALL OLD *",
        expect!["error: RETURNING is not supported in INSERT"],
    );
    check(
        "INSERT INTO T VALUES ('a')",
        expect![[
            r#"error: Unsupported operation: Inserting multiple items in a single statement is not supported, use "INSERT INTO tableName VALUE item" instead"#
        ]],
    );
    check(
        r#"INSERT INTO "T"."I" VALUE {'pk': 'a'}"#,
        expect!["error: FROM clause may only contain a single table name in data manipulation statements"],
    );
    check(
        "UPDATE T SET a = 1",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
    check("UPDATE T t SET a = 3 WHERE pk = 'x'", expect!["error: Aliasing is not supported"]);
    check(
        "UPDATE T ADD a 1 WHERE pk = 'x'",
        expect!["error: Only SET and REMOVE are supported in update expressions at this time"],
    );
    check(
        "UPDATE T WHERE pk = 'x'",
        expect!["error: Statement wasn't well formed, can't be processed: Expected data manipulation"],
    );
    check(
        "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING ALL NEW",
        expect!["error: Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause"],
    );
    check(
        "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING SOME NEW *",
        expect![
            "error: Statement wasn't well formed, can't be processed: Expected ( MODIFIED | ALL ) ( NEW | OLD ) in each returning element."
        ],
    );
    check("DELETE FROM T", expect!["error: Where clause does not contain a mandatory equality on all key attributes"]);
    check("DELETE FROM T t WHERE pk = 'x'", expect!["error: Aliasing is not supported"]);
    check(
        "DELETE FROM T WHERE pk = 'x' ORDER BY pk",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "UPSERT INTO T VALUE {'pk': 'a'}",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected keyword"],
    );
    check("BEGIN TRANSACTION", expect!["error: Statement wasn't well formed, can't be processed: Unexpected keyword"]);
}

/// A table, one table error (the table cannot be read as DynamoDB reads it)
/// per line, so a class of input is pinned as a whole.
fn check_all(cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        let out = match parse(input) {
            Ok(s) => render(&s),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(&out, expected, "{input}");
    }
}

const MALFORMED: &str = "error: Statement wasn't well formed, can't be processed: ";

fn malformed(detail: &str) -> String {
    format!("{MALFORMED}{detail}")
}

#[test]
fn from_first_updates() {
    check(r#"FROM "T" WHERE pk = 'k' SET c = 1"#, expect!["update T (set c 1) where (= pk 'k')"]);
    check(r#"FROM "T" WHERE pk = 'k' REMOVE b"#, expect!["update T (remove b) where (= pk 'k')"]);
    check(
        r#"FROM "T" WHERE pk = 'k' SET c = 2 REMOVE a SET d = d + 1"#,
        expect!["update T (set c 2) (remove a) (set d (+ d 1)) where (= pk 'k')"],
    );
    check(
        r#"FROM "T" WHERE pk = 'k' AND a = 1 SET d = 3 RETURNING ALL NEW *;"#,
        expect!["update T (set d 3) where (and (= pk 'k') (= a 1)) returning ALL NEW"],
    );
    check(r#"from "T" where pk = ? set e = ?"#, expect!["update T (set e ?1) where (= pk ?0) ; params 2"]);
    let incomplete = "error: Where clause does not contain a mandatory equality on all key attributes";
    check_all(&[
        (r#"FROM "T" SET c = 1"#, incomplete),
        (r#"FROM "T" REMOVE a;"#, incomplete),
        (r#"FROM "T" SET c = 1 RETURNING ALL NEW *"#, incomplete),
        // The WHERE comes before the actions or not at all.
        (r#"FROM "T" SET c = 1 WHERE pk = 'k'"#, &malformed("Unexpected token after expression")),
        (r#"FROM "T" SET c = 1 WHERE pk = 'k' SET d = 2"#, &malformed("Unexpected token after expression")),
        (r#"FROM "T" WHERE pk = 'k'"#, &malformed("Expected data manipulation")),
        (r#"FROM "T""#, &malformed("Expected data manipulation")),
        (
            r#"FROM "T" WHERE pk = 'k' DELETE"#,
            "error: Only SET and REMOVE are supported in update expressions at this time",
        ),
        ("FROM", &malformed("Unexpected term")),
        ("FROM WHERE pk = 'k' SET c = 1", &malformed("Unexpected keyword")),
        (r#"FROM "T" t WHERE pk = 'k' SET c = 1"#, "error: Aliasing is not supported"),
        (r#"FROM "T"."I" WHERE pk = 'k' SET c = 1"#, "error: This operation is not supported on an index"),
        (r#"FROM "T" WHERE pk = 'k' SET"#, &malformed("Expected identifier for simple path")),
        (r#"FROM "T" WHERE pk = 'k' SET c"#, &malformed("Expected '='")),
    ]);
}

#[test]
fn where_a_term_should_start() {
    let term = malformed("Unexpected term");
    check_all(&[
        ("SELECT * FROM T WHERE", &term),
        ("SELECT * FROM T WHERE;", &term),
        ("SELECT * FROM T WHERE   ", &term),
        ("SELECT pk FROM T WHERE", &term),
        ("UPDATE T SET a = 1 WHERE", &term),
        ("DELETE FROM T WHERE", &term),
        ("SELECT * FROM T WHERE NOT", &term),
        ("SELECT * FROM T WHERE (", &term),
        ("SELECT * FROM T WHERE pk = 'a' AND ;", &term),
        ("SELECT * FROM T WHERE )", &term),
        ("SELECT * FROM T WHERE pk = -", &term),
        ("SELECT * FROM T WHERE pk IN [1,]", &term),
        ("SELECT * FROM", &term),
        ("SELECT * FROM;", &term),
        ("SELECT", &term),
        ("SELECT * FROM T ORDER BY", &term),
        ("INSERT INTO T VALUE", &term),
        ("INSERT INTO T", &term),
        ("UPDATE T SET a =", &term),
        (";", &term),
        // Keywords and operators have their own words.
        ("SELECT * FROM T WHERE ORDER BY pk", &malformed("Unexpected keyword")),
        ("SELECT * FROM WHERE pk = 1", &malformed("Unexpected keyword")),
        ("INSERT INTO T WHERE", &malformed("Unexpected keyword")),
        ("SELECT * FROM T WHERE IS NULL", &malformed("Unexpected operator")),
        ("SELECT * FROM T WHERE pk = LIKE", &malformed("Unexpected operator")),
        ("SELECT * FROM T WHERE = 1", &malformed("Unexpected operator")),
        ("SELECT * FROM T WHERE pk = 1 AND OR x = 2", &malformed("Unexpected operator")),
        ("SELECT * FROM T WHERE pk = BETWEEN", &malformed("Unexpected operator")),
        ("SELECT * FROM T WHERE pk < >= 1", &malformed("Unexpected operator")),
    ]);
}

#[test]
fn infix_operators_need_a_right_hand_side() {
    let missing = malformed("Missing right-hand side expression of infix operator");
    check_all(&[
        ("SELECT * FROM T WHERE pk = 'p1' AND", &missing),
        ("SELECT * FROM T WHERE pk = 'p1' OR", &missing),
        ("SELECT * FROM T WHERE pk =", &missing),
        ("SELECT * FROM T WHERE pk <>", &missing),
        ("SELECT * FROM T WHERE pk >=", &missing),
        ("SELECT * FROM T WHERE pk IN", &missing),
        ("SELECT * FROM T WHERE pk NOT IN", &missing),
        ("SELECT * FROM T WHERE pk BETWEEN", &missing),
        ("SELECT * FROM T WHERE pk LIKE", &missing),
        ("SELECT * FROM T WHERE pk = a +", &missing),
        ("SELECT * FROM T WHERE pk = a ||", &missing),
        ("SELECT * FROM T WHERE pk = a *", &missing),
        ("UPDATE T SET a = a - WHERE pk = 1", &malformed("Unexpected keyword")),
        // A semicolon is a token, where a term should start.
        ("SELECT * FROM T WHERE pk = 'p1' AND;", &malformed("Unexpected term")),
        ("SELECT * FROM T WHERE pk BETWEEN 1", &malformed("Expected AND keyword")),
        ("SELECT * FROM T WHERE pk BETWEEN 1 OR 2", &malformed("Expected AND keyword")),
        ("SELECT * FROM T WHERE pk BETWEEN 1 AND", &malformed("Expected expression after AND")),
        ("SELECT * FROM T WHERE pk BETWEEN 1 AND;", &malformed("Expected expression after AND")),
        ("SELECT * FROM T WHERE pk IS", &malformed("Expected type name")),
        ("SELECT * FROM T WHERE pk IS NOT", &malformed("Expected type name")),
    ]);
}

#[test]
fn type_names_after_is() {
    check(
        "SELECT * FROM T WHERE a IS int4 AND b IS NOT Double  Precision AND c IS character varying(10) AND d IS DECIMAL(5, 2)",
        expect![
            "select * from T where (and (and (and (is a INT4) (is-not b DOUBLE PRECISION)) (is c CHARACTER VARYING)) (is d DECIMAL))"
        ],
    );
    let type_name = malformed("Expected type name");
    check_all(&[
        ("SELECT * FROM T WHERE pk = 'a' AND x IS FOO", &type_name),
        ("SELECT * FROM T WHERE x IS DOUBLE", &type_name),
        ("SELECT * FROM T WHERE x IS VARYING", &type_name),
        ("SELECT * FROM T WHERE x IS TRUE", &type_name),
        ("SELECT * FROM T WHERE x IS 'STRING'", &type_name),
        ("SELECT * FROM T WHERE x IS \"STRING\"", &type_name),
        ("SELECT * FROM T WHERE x IS SELECT", &type_name),
        ("SELECT * FROM T WHERE x IS STRING(1)", &malformed("CAST for string must have arity of 0..0")),
        ("SELECT * FROM T WHERE x IS DECIMAL(1, 2, 3)", &malformed("CAST for decimal must have arity of 0..2")),
        ("SELECT * FROM T WHERE x IS VARCHAR(a)", &malformed("Type parameter must be an unsigned integer literal")),
        ("SELECT * FROM T WHERE x IS FLOAT(1.5)", &malformed("Type parameter must be an unsigned integer literal")),
        ("SELECT * FROM T WHERE x IS VARCHAR(10", &malformed("Expected RIGHT_PAREN")),
        ("SELECT * FROM T WHERE x IS VARCHAR()", &malformed("Unexpected term")),
    ]);
}

#[test]
fn expressions_that_are_no_statement() {
    let refused = |kind: &str| format!("error: Unsupported operation: {kind}");
    check_all(&[
        ("x IS INT4", &refused("IsType")),
        ("x IS INT8", &refused("IsType")),
        ("x IS DOUBLE PRECISION", &refused("IsType")),
        ("x IS CHARACTER VARYING", &refused("IsType")),
        ("x is null;", &refused("IsType")),
        ("x IS NOT MISSING", &refused("Not")),
        ("x", &refused("Id")),
        ("\"x\".y[1]", &refused("Path")),
        ("1", &refused("Lit")),
        ("-1.5", &refused("Lit")),
        ("'s'", &refused("Lit")),
        ("NULL", &refused("Lit")),
        ("MISSING", &refused("Missing")),
        ("?", &refused("Parameter")),
        ("[1, 2]", &refused("List")),
        ("{'a': 1}", &refused("Struct")),
        ("<<1>>", &refused("Bag")),
        ("f(x)", &refused("Call")),
        ("EXISTS(1)", &refused("Call")),
        ("x = 1", &refused("Eq")),
        ("x <> 1", &refused("Ne")),
        ("x <= 1", &refused("Lte")),
        ("x > 1", &refused("Gt")),
        ("x BETWEEN 1 AND 2", &refused("Between")),
        ("x NOT BETWEEN 1 AND 2", &refused("Not")),
        ("x IN [1]", &refused("InCollection")),
        ("x = 1 AND y = 2", &refused("And")),
        ("x OR y", &refused("Or")),
        ("NOT x", &refused("Not")),
        ("x + 1", &refused("Plus")),
        ("x || 'a'", &refused("Concat")),
        ("x * 2", &refused("Times")),
        ("x / 2", &refused("Divide")),
        ("x % 2", &refused("Modulo")),
        ("-x", &refused("Neg")),
        // Read in full first.
        ("x IS INT4 foo", &malformed("Unexpected token after expression")),
        ("x IS FOO", &malformed("Expected type name")),
        ("x =", &malformed("Missing right-hand side expression of infix operator")),
        ("", &malformed("Unexpected term")),
        ("BEGIN TRANSACTION", &malformed("Unexpected keyword")),
        ("INSERT T VALUE {'pk': 1}", &malformed("Unexpected keyword")),
        ("EXISTS SELECT", &malformed("Unexpected keyword")),
        ("EXISTS(", &malformed("Unexpected term")),
        // `*` multiplies, and a FROM where a term should be starts a
        // FROM-first update, which wants its SET or REMOVE.
        ("SLECT * FROM T", &malformed("Expected data manipulation")),
        ("SLECT * FROM T WHERE pk = 1", &malformed("Expected data manipulation")),
        ("SLECT * FROM", &malformed("Unexpected term")),
        ("SELECT FROM T", &malformed("Expected data manipulation")),
        ("x * FROM T WHERE pk = 1 SET a = 1", &malformed("Keyword null only expected at the top level in the query")),
    ]);
}

#[test]
fn tables_and_targets_are_simple_paths() {
    let simple = malformed("Expected identifier for simple path");
    check_all(&[
        ("DELETE FROM", &simple),
        ("DELETE FROM   ", &simple),
        ("DELETE FROM;", &simple),
        ("DELETE FROM WHERE pk = 'a'", &simple),
        ("DELETE FROM 'T' WHERE pk = 'a'", &simple),
        ("UPDATE SET a = 1 WHERE pk = 'a'", &simple),
        ("UPDATE", &simple),
        ("INSERT INTO VALUE {'pk': 'a'}", &simple),
        ("INSERT INTO", &simple),
        ("UPDATE T SET WHERE pk = 'a'", &simple),
        ("UPDATE T SET 1 = 1 WHERE pk = 'a'", &simple),
        ("UPDATE T REMOVE WHERE pk = 'a'", &simple),
        ("UPDATE T REMOVE a, WHERE pk = 'a'", &simple),
        ("UPDATE T SET a 1 WHERE pk = 'a'", &malformed("Expected '='")),
        ("UPDATE T", &malformed("Expected data manipulation")),
        ("UPDATE T WHERE pk = 'a'", &malformed("Expected data manipulation")),
        ("DELETE", &malformed("Expected FROM after DELETE")),
        ("DELETE T WHERE pk = 'a'", &malformed("Expected FROM after DELETE")),
        ("DELETE FROM T.", &malformed("Invalid path dot component")),
        ("DELETE FROM T.* WHERE pk = 'a'", &malformed("Invalid path dot component for simple path")),
        ("SELECT * FROM T.WHERE", &malformed("Invalid path dot component")),
        (
            "UPDATE T SET a = 1 RETURNING ALL NEW *",
            "error: Where clause does not contain a mandatory equality on all key attributes",
        ),
        (
            "DELETE FROM T RETURNING ALL OLD *",
            "error: Where clause does not contain a mandatory equality on all key attributes",
        ),
        ("SELECT *", &malformed("Expected FROM after SELECT list")),
        ("SELECT a, b WHERE pk = 1", &malformed("Expected FROM after SELECT list")),
        ("SELECT * FROM T ORDER pk", &malformed("Expected BY")),
    ]);
}

#[test]
fn unclosed_and_unfinished() {
    check_all(&[
        ("SELECT * FROM T WHERE (pk = 1", &malformed("Expected RIGHT_PAREN")),
        ("SELECT * FROM T WHERE pk IN (1, 2", &malformed("Expected RIGHT_PAREN")),
        ("SELECT * FROM T WHERE begins_with(pk, 'a'", &malformed("Expected RIGHT_PAREN")),
        ("SELECT * FROM T WHERE pk IN [1, 2", &malformed("Expected RIGHT_BRACKET")),
        ("SELECT * FROM T WHERE a[1 = 1", &malformed("Expected RIGHT_BRACKET")),
        ("INSERT INTO T VALUE {'pk': 1", &malformed("Expected RIGHT_CURLY")),
        ("INSERT INTO T VALUE {'pk' 1}", &malformed("Expected COLON")),
        ("INSERT INTO T VALUE {'pk': <<1, 2}", &malformed("Expected RIGHT_DOUBLE_ANGLE_BRACKET")),
        ("EXISTS(SELECT * FROM T WHERE pk = 1", &malformed("Expected RIGHT_PAREN")),
        ("SELECT * FROM T;;", &malformed("Unexpected token after semicolon. (Only one query is allowed.)")),
        (
            "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING ALL",
            &malformed("Expected ( MODIFIED | ALL ) ( NEW | OLD ) in each returning element."),
        ),
        (
            "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING NEW *",
            &malformed("Expected ( MODIFIED | ALL ) ( NEW | OLD ) in each returning element."),
        ),
    ]);
}

#[test]
fn numbers_that_cannot_be_converted() {
    // The lexer refuses them, ahead of everything the statement means.
    for text in [
        "SELECT * FROM T WHERE pk = 1e2147483648",
        "SELECT * FROM T WHERE pk = 1e99999999999",
        "SELECT * FROM T WHERE pk = -1e99999999999",
        "SELECT * FROM T WHERE pk = 1.5e-2147483647",
        r#"SELECT * FROM "T"."gsi" WHERE h1 = 1e99999999999"#,
        "INSERT INTO T VALUE {'pk': [1e-2147483648]}",
        "x = 1e99999999999",
    ] {
        assert_eq!(format!("error: {}", parse(text).unwrap_err()), MALFORMED, "{text}");
    }
    check("SELECT * FROM T WHERE pk = 1e2147483647", expect!["select * from T where (= pk 1e2147483647)"]);
}
