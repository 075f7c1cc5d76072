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
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check("", expect!["error: Statement wasn't well formed, can't be processed: Expected data manipulation"]);
    check("SELECT", expect!["error: Statement wasn't well formed, can't be processed: Unexpected end of statement"]);
    check(
        "SELECT * FROM",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected end of statement"],
    );
    check(
        "SELECT * FROM T WHERE",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected end of statement"],
    );
    check(
        "SELECT * FROM T WHERE a IN",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected end of statement"],
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
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected keyword"],
    );
    check(
        "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING ALL NEW",
        expect!["error: Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause"],
    );
    check(
        "UPDATE T SET a = 1 WHERE pk = 'x' RETURNING SOME NEW *",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected keyword"],
    );
    check("DELETE FROM T", expect!["error: Where clause does not contain a mandatory equality on all key attributes"]);
    check("DELETE FROM T t WHERE pk = 'x'", expect!["error: Aliasing is not supported"]);
    check(
        "DELETE FROM T WHERE pk = 'x' ORDER BY pk",
        expect!["error: Statement wasn't well formed, can't be processed: Unexpected token after expression"],
    );
    check(
        "UPSERT INTO T VALUE {'pk': 'a'}",
        expect!["error: Statement wasn't well formed, can't be processed: Expected data manipulation"],
    );
    check(
        "BEGIN TRANSACTION",
        expect!["error: Statement wasn't well formed, can't be processed: Expected data manipulation"],
    );
}
