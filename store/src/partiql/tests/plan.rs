//! Planner tests: statements against real table definitions, rendered as
//! the plan's access path, key, filter and update, or the error text.

use std::sync::OnceLock;

use expect_test::{Expect, expect};

use super::super::{Access, Mode, Plan, parse, plan};
use crate::catalog::{CreateTableInput, IndexInput, KeyType};
use crate::expr::{Condition, Operand, RangeCondition, SetValue, UpdateAction, UpdateOperand};
use crate::table::{BillingMode, IndexKind, Projection, TableDef};
use crate::value::{AttrType, Item, Number, Value};
use crate::{Store, StoreConfig};

fn input(
    name: &str,
    keys: &[(&str, KeyType)],
    defs: &[(&str, AttrType)],
    indexes: Vec<IndexInput>,
) -> CreateTableInput {
    CreateTableInput {
        name: name.into(),
        key_schema: keys.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        attribute_definitions: defs.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        billing_mode: BillingMode::PayPerRequest,
        throughput: None,
        indexes,
        stream: None,
        tags: Default::default(),
        deletion_protection: false,
        table_class: None,
        settings: Default::default(),
        vector_indexes: Vec::new(),
    }
}

fn index(name: &str, kind: IndexKind, keys: &[(&str, KeyType)], projection: Projection) -> IndexInput {
    IndexInput {
        name: name.into(),
        kind,
        key_schema: keys.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        projection,
        throughput: None,
        projection_fault: None,
    }
}

/// `T` (partition key `pk: S`, a KEYS_ONLY GSI `by-g` on `g`) or `C`
/// (`pk: S`, `sk: N`; GSIs `gsi-inc` on `g`/`gs` including `inc` and `gsi-all`
/// on `g`; LSI `lsi-keys` on `l`), defined by a real store.
pub(super) fn table(composite: bool) -> TableDef {
    static DEFS: OnceLock<(TableDef, TableDef)> = OnceLock::new();
    let (t, c) = DEFS.get_or_init(|| {
        let store = Store::open(StoreConfig::default()).expect("open a temporary store");
        let (h, r) = (KeyType::Hash, KeyType::Range);
        let t = store
            .create_table(input(
                "Hash",
                &[("pk", h)],
                &[("pk", AttrType::S), ("g", AttrType::S)],
                vec![index("by-g", IndexKind::Global, &[("g", h)], Projection::KeysOnly)],
            ))
            .expect("create T");
        let c = store
            .create_table(input(
                "Composite",
                &[("pk", h), ("sk", r)],
                &[
                    ("pk", AttrType::S),
                    ("sk", AttrType::N),
                    ("g", AttrType::S),
                    ("gs", AttrType::N),
                    ("l", AttrType::S),
                ],
                vec![
                    index(
                        "gsi-inc",
                        IndexKind::Global,
                        &[("g", h), ("gs", r)],
                        Projection::Include(vec!["inc".into()]),
                    ),
                    index("gsi-all", IndexKind::Global, &[("g", h)], Projection::All),
                    index("lsi-keys", IndexKind::Local, &[("pk", h), ("l", r)], Projection::KeysOnly),
                ],
            ))
            .expect("create C");
        (t.def.clone(), c.def.clone())
    });
    if composite { c.clone() } else { t.clone() }
}

fn value(v: &Value) -> String {
    format!("{v:?}")
}

fn operand(o: &Operand) -> String {
    match o {
        Operand::Path(p) => p.to_string(),
        Operand::Value(v) => value(v),
        Operand::Size(inner) => format!("(size {})", operand(inner)),
    }
}

fn cond(c: &Condition) -> String {
    match c {
        Condition::Compare { op, left, right } => format!("({} {} {})", op.as_str(), operand(left), operand(right)),
        Condition::Between { value, low, high } => {
            format!("(between {} {} {})", operand(value), operand(low), operand(high))
        }
        Condition::In { value, list } => {
            format!("(in {} {})", operand(value), list.iter().map(operand).collect::<Vec<_>>().join(" "))
        }
        Condition::AttributeExists(p) => format!("(exists {p})"),
        Condition::AttributeNotExists(p) => format!("(not_exists {p})"),
        Condition::AttributeType(p, t) => format!("(type {p} {t})"),
        Condition::BeginsWith(a, b) => format!("(begins_with {} {})", operand(a), operand(b)),
        Condition::Contains(a, b) => format!("(contains {} {})", operand(a), operand(b)),
        Condition::And(a, b) => format!("(and {} {})", cond(a), cond(b)),
        Condition::Or(a, b) => format!("(or {} {})", cond(a), cond(b)),
        Condition::Not(c) => format!("(not {})", cond(c)),
    }
}

fn item(i: &Item) -> String {
    let parts: Vec<String> = i.iter().map(|(k, v)| format!("{k}={}", value(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn range(r: &RangeCondition) -> String {
    match r {
        RangeCondition::Eq(v) => format!("= {}", value(v)),
        RangeCondition::Lt(v) => format!("< {}", value(v)),
        RangeCondition::Le(v) => format!("<= {}", value(v)),
        RangeCondition::Gt(v) => format!("> {}", value(v)),
        RangeCondition::Ge(v) => format!(">= {}", value(v)),
        RangeCondition::Between(a, b) => format!("between {} {}", value(a), value(b)),
        RangeCondition::BeginsWith(v) => format!("begins_with {}", value(v)),
    }
}

fn update_operand(o: &UpdateOperand) -> String {
    match o {
        UpdateOperand::Path(p) => p.to_string(),
        UpdateOperand::Value(v) => value(v),
        UpdateOperand::IfNotExists(p, v) => format!("(if_not_exists {p} {})", update_operand(v)),
        UpdateOperand::ListAppend(a, b) => format!("(list_append {} {})", update_operand(a), update_operand(b)),
    }
}

fn render(p: &Plan) -> String {
    let opt = |c: &Option<Condition>| c.as_ref().map_or("-".to_string(), cond);
    match p {
        Plan::Select(s) => {
            let access = match &s.access {
                Access::Scan => "scan".to_string(),
                Access::Query { hashes, range: r } => format!(
                    "query [{}]{}",
                    hashes.iter().map(value).collect::<Vec<_>>().join(" "),
                    r.as_ref().map_or(String::new(), |r| format!(" sk {}", range(r)))
                ),
                Access::Get { key } => format!("get {}", item(key)),
            };
            let proj = s.projection.as_ref().map_or("*".to_string(), |p| {
                p.iter().map(|x| format!("{}<-{}", x.name, x.path)).collect::<Vec<_>>().join(" ")
            });
            format!(
                "{access}{}{}{} proj {proj} filter {}{}",
                s.index.as_ref().map_or(String::new(), |i| format!(" on {i}")),
                if s.forward { "" } else { " desc" },
                if s.fetch_from_table { " fetch" } else { "" },
                opt(&s.filter),
                ""
            )
        }
        Plan::Insert { item: i } => format!("insert {}", item(i)),
        Plan::Update { key, condition, update, returning } => {
            let acts: Vec<String> = update
                .actions
                .iter()
                .map(|a| match a {
                    UpdateAction::Set(p, SetValue::Operand(o)) => format!("(set {p} {})", update_operand(o)),
                    UpdateAction::Set(p, SetValue::Plus(a, b)) => {
                        format!("(set {p} (+ {} {}))", update_operand(a), update_operand(b))
                    }
                    UpdateAction::Set(p, SetValue::Minus(a, b)) => {
                        format!("(set {p} (- {} {}))", update_operand(a), update_operand(b))
                    }
                    UpdateAction::Remove(p) => format!("(remove {p})"),
                    UpdateAction::Add(p, v) => format!("(add {p} {})", value(v)),
                    UpdateAction::Delete(p, v) => format!("(delete {p} {})", value(v)),
                })
                .collect();
            format!(
                "update {} if {} do {}{}",
                item(key),
                opt(condition),
                acts.join(" "),
                returning.map_or(String::new(), |r| format!(" returning {}", r.as_str()))
            )
        }
        Plan::Delete { key, condition, returning } => {
            format!("delete {} if {}{}", item(key), opt(condition), if *returning { " returning" } else { "" })
        }
        Plan::Check { key, condition } => format!("check {} if {}", item(key), cond(condition)),
    }
}

fn check_with(composite: bool, mode: Mode, text: &str, params: &[Value], expected: Expect) {
    let out = match parse(text).and_then(|s| plan(&s, params, &table(composite), mode)) {
        Ok(p) => render(&p),
        Err(e) => format!("error: {e}"),
    };
    expected.assert_eq(&out);
}

fn check(text: &str, expected: Expect) {
    check_with(true, Mode::Single, text, &[], expected);
}

fn n(v: i64) -> Value {
    Value::N(Number::from(v))
}

#[test]
fn select_access_paths() {
    check("SELECT * FROM C", expect!["scan proj * filter -"]);
    check("SELECT * FROM C WHERE pk = 'a'", expect![[r#"query [S("a")] proj * filter (= pk S("a"))"#]]);
    check(
        "SELECT * FROM C WHERE pk = 'a' AND sk > 3 AND v = 1",
        expect![[r#"query [S("a")] sk > N(3) proj * filter (and (= pk S("a")) (and (> sk N(3)) (= v N(1))))"#]],
    );
    check(
        "SELECT * FROM C WHERE 3 < sk AND 'a' = pk",
        expect![[r#"query [S("a")] sk > N(3) proj * filter (and (< N(3) sk) (= S("a") pk))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk = 'a' AND sk BETWEEN 1 AND 5",
        expect![[r#"query [S("a")] sk between N(1) N(5) proj * filter (and (= pk S("a")) (between sk N(1) N(5)))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk = 'a' AND sk BETWEEN 5 AND 1",
        expect![[r#"query [S("a")] proj * filter (and (= pk S("a")) (between sk N(5) N(1)))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk = 'a' AND sk = 'not a number'",
        expect![[r#"query [S("a")] proj * filter (and (= pk S("a")) (= sk S("not a number")))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk IN ['b', 'a', 'b']",
        expect![[r#"query [S("a") S("b")] proj * filter (in pk S("b") S("a") S("b"))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk = 'a' OR pk = 'b'",
        expect![[r#"scan proj * filter (or (= pk S("a")) (= pk S("b")))"#]],
    );
    check("SELECT * FROM C WHERE NOT pk = 'a'", expect![[r#"scan proj * filter (not (= pk S("a")))"#]]);
    check("SELECT * FROM C WHERE v = 1", expect!["scan proj * filter (= v N(1))"]);
    check_with(
        false,
        Mode::Single,
        "SELECT * FROM T WHERE pk = 'a' AND begins_with(x, 'p')",
        &[],
        expect![[r#"query [S("a")] proj * filter (and (= pk S("a")) (begins_with x S("p")))"#]],
    );
    check(
        r#"SELECT * FROM "C"."gsi-all" WHERE g = 'x'"#,
        expect![[r#"query [S("x")] on gsi-all proj * filter (= g S("x"))"#]],
    );
    check(
        r#"SELECT * FROM "C"."gsi-inc" WHERE g = 'x' AND gs >= 2 AND inc = 1"#,
        expect![[
            r#"query [S("x")] sk >= N(2) on gsi-inc proj * filter (and (= g S("x")) (and (>= gs N(2)) (= inc N(1))))"#
        ]],
    );
    check(
        r#"SELECT * FROM "C"."lsi-keys" WHERE pk = 'p' AND begins_with(l, 'k')"#,
        expect![[
            r#"query [S("p")] sk begins_with S("k") on lsi-keys proj * filter (and (= pk S("p")) (begins_with l S("k")))"#
        ]],
    );
    check(r#"SELECT * FROM "C"."nope" WHERE pk = 'p'"#, expect!["error: The table does not have the specified index"]);
}

#[test]
fn select_projections() {
    check(
        "SELECT a, b.c, d[0], e.f[1][2] FROM C",
        expect!["scan proj a<-a c<-b.c d[0]<-d[0] f[1][2]<-e.f[1][2] filter -"],
    );
    check("SELECT a, x.a FROM C", expect!["error: Duplicate identifiers in select clause: a"]);
    check("SELECT size(a) FROM C", expect!["error: Unexpected path component at 1:8:4"]);
    check(
        r#"SELECT nope FROM "C"."gsi-inc" WHERE g = 'x'"#,
        expect![
            "error: One or more parameter values were invalid: Global secondary index gsi-inc does not project [nope]"
        ],
    );
    check(
        r#"SELECT inc, pk FROM "C"."gsi-inc" WHERE g = 'x'"#,
        expect![[r#"query [S("x")] on gsi-inc proj inc<-inc pk<-pk filter (= g S("x"))"#]],
    );
    check(
        r#"SELECT nope FROM "C"."lsi-keys" WHERE pk = 'p'"#,
        expect![[r#"query [S("p")] on lsi-keys fetch proj nope<-nope filter (= pk S("p"))"#]],
    );
    check(
        r#"SELECT pk FROM "C"."gsi-inc" WHERE g = 'y' AND nope = 'np1'"#,
        expect![
            "error: One or more parameter values were invalid: Secondary index gsi-inc does not project one or more filter attributes: [nope]"
        ],
    );
    check(
        r#"SELECT pk FROM "C"."lsi-keys" WHERE pk = 'p' AND NOT nope IS MISSING"#,
        expect![
            "error: One or more parameter values were invalid: Secondary index lsi-keys does not project one or more filter attributes: [nope]"
        ],
    );
    check(
        r#"SELECT pk FROM "C"."gsi-inc" WHERE nope = 'np1'"#,
        expect![[r#"scan on gsi-inc proj pk<-pk filter (= nope S("np1"))"#]],
    );
    check(
        r#"SELECT pk FROM "C"."gsi-inc" WHERE (g = 'y' AND nope = 'np1') OR g = 'z'"#,
        expect![[r#"scan on gsi-inc proj pk<-pk filter (or (and (= g S("y")) (= nope S("np1"))) (= g S("z")))"#]],
    );
}

#[test]
fn order_by() {
    check(
        "SELECT * FROM C WHERE pk = 'a' ORDER BY sk DESC",
        expect![[r#"query [S("a")] desc proj * filter (= pk S("a"))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk IN ['a', 'b'] ORDER BY pk DESC, sk",
        expect![[r#"query [S("b") S("a")] proj * filter (in pk S("a") S("b"))"#]],
    );
    check(
        "SELECT * FROM C WHERE pk IN ['a', 'b'] ORDER BY sk",
        expect![
            "error: Must have hash key in ORDER BY clause when more than one hash key condition specified in WHERE clause."
        ],
    );
    check(
        "SELECT * FROM C ORDER BY sk",
        expect!["error: Must have WHERE clause in the statement when using ORDER BY clause."],
    );
    check(
        "SELECT * FROM C WHERE v = 1 ORDER BY sk",
        expect![
            "error: Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."
        ],
    );
    check(
        "SELECT * FROM C WHERE pk = 'a' ORDER BY v",
        expect!["error: Variable reference v in ORDER BY clause must be part of the primary key"],
    );
}

#[test]
fn conditions() {
    check(
        "SELECT * FROM C WHERE a IS MISSING AND b IS NOT MISSING",
        expect!["scan proj * filter (and (not_exists a) (exists b))"],
    );
    check(
        "SELECT * FROM C WHERE a IS NULL OR b IS NOT NULL OR c IS BOOL OR d IS NOT LIST",
        expect![
            "scan proj * filter (or (or (type a NULL) (and (exists b) (not (type b NULL)))) (or (type c BOOL) (not (type d L))))"
        ],
    );
    check(
        "SELECT * FROM C WHERE a IS BAG",
        expect![
            "error: Unsupported data type for IS operator: BAG. Supported data types are [MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
        ],
    );
    check(
        "SELECT * FROM C WHERE attribute_exists(a) = true AND ATTRIBUTE_NOT_EXISTS(b) <> false",
        expect!["scan proj * filter (and (exists a) (not_exists b))"],
    );
    check(
        "SELECT * FROM C WHERE attribute_exists('a')",
        expect!["error: Operator or function requires a document path; operator or function: attribute_exists"],
    );
    check(
        "SELECT * FROM C WHERE attribute_exists()",
        expect![
            "error: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 0"
        ],
    );
    check(
        "SELECT * FROM C WHERE attribute_type(a, 'SS') AND attribute_type(b, 'STRING')",
        expect![
            "error: Invalid ConditionExpression: Invalid attribute type name found; type: STRING, valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }"
        ],
    );
    check(
        "SELECT * FROM C WHERE contains(a, 'x') AND begins_with(b, 1)",
        expect![
            "error: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        ],
    );
    check(
        "SELECT * FROM C WHERE size(a) > 2 AND a NOT IN [1, 2] AND b NOT BETWEEN 1 AND 3",
        expect!["scan proj * filter (and (> (size a) N(2)) (and (not (in a N(1) N(2))) (not (between b N(1) N(3)))))"],
    );
    check(
        "SELECT * FROM C WHERE a < TRUE",
        expect!["error: Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"],
    );
    check(
        "SELECT * FROM C WHERE a BETWEEN NULL AND 2",
        expect![
            "error: Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: NULL"
        ],
    );
    check("SELECT * FROM C WHERE a = MISSING", expect!["error: MISSING must be compared using IS operator"]);
    check("SELECT * FROM C WHERE EXISTS(a)", expect!["error: Unrecognized function: exists at 1:23:6"]);
    check(
        "SELECT * FROM C WHERE a + 1 = 2",
        expect!["error: Unsupported operator in Condition Expression. Operator: +"],
    );
    check(
        "SELECT * FROM C WHERE a",
        expect!["error: WHERE clause must contain an expression that resolves to a boolean"],
    );
    check(
        "SELECT * FROM C WHERE a IN []",
        expect![
            "error: IN operator must have a left hand argument of type Variable Reference and right hand argument of type Seq with at least one member"
        ],
    );
    check(
        "SELECT * FROM C WHERE a = {'m': [1, <<'x'>>]}",
        expect![[r#"scan proj * filter (= a {"m": [N(1), SS{"x"}]})"#]],
    );
    check(
        "SELECT * FROM C WHERE a = 1e126",
        expect![
            "error: Number overflow. Attempting to store a number with magnitude larger than supported range under root"
        ],
    );
    check(
        "SELECT * FROM C WHERE a = 123456789012345678901234567890123456789",
        expect!["error: Attempting to store more than 38 significant digits in a Number under root"],
    );
    check(
        "SELECT * FROM C WHERE a = 1e99999999999",
        expect!["error: Statement wasn't well formed, can't be processed: "],
    );
}

#[test]
fn parameters() {
    let ps = [Value::S("a".into()), n(3), Value::L(vec![n(1), n(2)])];
    check_with(
        true,
        Mode::Single,
        "SELECT * FROM C WHERE pk = ? AND sk < ? AND v IN ?",
        &ps,
        expect![[r#"query [S("a")] sk < N(3) proj * filter (and (= pk S("a")) (and (< sk N(3)) (in v N(1) N(2))))"#]],
    );
    check_with(
        true,
        Mode::Single,
        "SELECT * FROM C WHERE pk = ?",
        &ps,
        expect!["error: Number of parameters in request and statement don't match."],
    );
    check_with(
        true,
        Mode::Single,
        "SELECT * FROM C WHERE pk = ? AND sk = ?",
        &ps[..1],
        expect!["error: Number of parameters in request and statement don't match."],
    );
    let bin = [Value::B(vec![1]), Value::B(vec![2])];
    check_with(
        false,
        Mode::Single,
        "INSERT INTO T VALUE {'pk': 'k', 'bs': <<?, ?>>}",
        &bin,
        expect![[r#"insert {bs=BS{[1], [2]}, pk=S("k")}"#]],
    );
}

#[test]
fn inserts() {
    check_with(
        false,
        Mode::Single,
        "INSERT INTO T VALUE {'pk': 'a', 'n': 1.50, 'l': [1, 'x', TRUE, NULL], 'm': {'k': {'z': -2}}, 's': <<'b', 'a'>>, 'ns': <<2, 1>>}",
        &[],
        expect![[
            r#"insert {l=[N(1), S("x"), BOOL(true), NULL], m={"k": {"z": N(-2)}}, n=N(1.5), ns=NS{N(1), N(2)}, pk=S("a"), s=SS{"a", "b"}}"#
        ]],
    );
    check("INSERT INTO C VALUE ?", expect!["error: Number of parameters in request and statement don't match."]);
    check("INSERT INTO C VALUE {'pk': 'a', 'pk': 'b'}", expect!["error: Duplicate keys in tuple. Key: pk under root"]);
    check(
        "INSERT INTO C VALUE {'pk': 'a', 'm': {'x': 1, 'x': 2}}",
        expect!["error: Duplicate keys in tuple. Key: x under root"],
    );
    check(
        "INSERT INTO C VALUE {1: 'a'}",
        expect!["error: Tuple keys must be of type String. Actual type: DECIMAL under root"],
    );
    check(
        "INSERT INTO C VALUE {'pk': 1e126}",
        expect![
            "error: Number overflow. Attempting to store a number with magnitude larger than supported range under root"
        ],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 'm': {'x': 1e126}}",
        expect![
            "error: Number overflow. Attempting to store a number with magnitude larger than supported range under root.x"
        ],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 'l': [1, 1e126]}",
        expect![
            "error: Number overflow. Attempting to store a number with magnitude larger than supported range under root[1]"
        ],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 's': <<'x', 'x'>>}",
        expect!["error: One or more parameter values were invalid: Input collection [x, x] contains duplicates."],
    );
    check("INSERT INTO C VALUE {'pk': 'a', 's': <<>>}", expect!["error: Empty bags are not supported"]);
    check(
        "INSERT INTO C VALUE {'pk': 'a', 's': <<'x', 1>>}",
        expect!["error: Unexpected data type N in String Set under key root"],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 's': <<TRUE>>}",
        expect!["error: Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags"],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 's': set_add(<<'a'>>, <<'b'>>)}",
        expect!["error: Unsupported data type: set_add under key root at 1:38:7"],
    );
    check(
        "INSERT INTO C VALUE {'pk': 'a', 'x': MISSING}",
        expect!["error: Unsupported data type: MISSING under key root"],
    );
}

#[test]
fn updates_and_deletes() {
    check(
        "UPDATE C SET a = 1, b = b + 1, c = 2 - c WHERE pk = 'k' AND sk = 1",
        expect![[r#"update {pk=S("k"), sk=N(1)} if - do (set a N(1)) (set b (+ b N(1))) (set c (- N(2) c))"#]],
    );
    check(
        "UPDATE C SET a = list_append(a, [1]) REMOVE d[2] WHERE sk = 1 AND pk = 'k' AND v > 2 RETURNING ALL NEW *",
        expect![[
            r#"update {pk=S("k"), sk=N(1)} if (> v N(2)) do (set a (list_append a [N(1)])) (remove d[2]) returning ALL NEW"#
        ]],
    );
    check(
        "UPDATE C SET s = set_add(s, <<'x'>>) SET n = SET_DELETE(n, <<1>>) WHERE pk = 'k' AND sk = 1",
        expect![[r#"update {pk=S("k"), sk=N(1)} if - do (add s SS{"x"}) (delete n NS{N(1)})"#]],
    );
    check(
        "UPDATE C SET t = set_add(s, <<'x'>>) WHERE pk = 'k' AND sk = 1",
        expect!["error: The first argument to SET_ADD must equal the assignment value at 1:18:7"],
    );
    check(
        "UPDATE C SET s = set_add(s, 'x') WHERE pk = 'k' AND sk = 1",
        expect!["error: The second argument to SET_ADD must be a value with type SET at 1:26:1"],
    );
    check(
        "UPDATE C SET s = set_add(s) WHERE pk = 'k' AND sk = 1",
        expect!["error: SET_ADD must have exactly two arguments at 1:18:7"],
    );
    check(
        "UPDATE C SET a = if_not_exists(a, 0) + 1 WHERE pk = 'k' AND sk = 1",
        expect![[r#"update {pk=S("k"), sk=N(1)} if - do (set a (+ (if_not_exists a N(0)) N(1)))"#]],
    );
    check(
        "UPDATE C SET a = 1 REMOVE a WHERE pk = 'k' AND sk = 1",
        expect![
            "error: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        ],
    );
    check(
        "UPDATE C SET a = upper(b) WHERE pk = 'k' AND sk = 1",
        expect!["error: Unrecognized function: upper at 1:18:5"],
    );
    check(
        "UPDATE C SET a = b + c + d WHERE pk = 'k' AND sk = 1",
        expect!["error: Unsupported operator in Update Expression. Operator: +"],
    );
    check(
        "UPDATE C SET a = 1 WHERE pk = 'k'",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
    check(
        "UPDATE C SET a = 1 WHERE pk = 'k' OR sk = 1",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
    check(
        "UPDATE C SET a = 1 WHERE pk = 'k' AND pk = 'j' AND sk = 1",
        expect!["error: Multiple conditions on same key pk. Only single item Update/Insert/Delete are supported"],
    );
    check(
        "UPDATE C SET a = 1 WHERE pk = 'k' AND pk = 'k' AND sk = 1",
        expect![[r#"update {pk=S("k"), sk=N(1)} if - do (set a N(1))"#]],
    );
    check(
        "UPDATE C SET a = 1 WHERE pk = 1 AND sk = 1",
        expect!["error: The provided key element does not match the schema"],
    );
    check(
        "DELETE FROM C WHERE pk = 'k' AND sk = 1 AND attribute_exists(a) RETURNING ALL OLD *",
        expect![[r#"delete {pk=S("k"), sk=N(1)} if (exists a) returning"#]],
    );
    check(
        "DELETE FROM C WHERE pk = 'k' AND sk = 1 RETURNING MODIFIED OLD *",
        expect![
            "error: Invalid returning clause: RETURNING MODIFIED OLD *. Only RETURNING ALL OLD * is allowed in DELETE statements."
        ],
    );
    check(
        "DELETE FROM C WHERE pk = 'k' AND sk = 1 RETURNING ALL NEW *",
        expect![
            "error: Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements."
        ],
    );
    check(
        "DELETE FROM C WHERE pk = 'k'",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
}

#[test]
fn batch_and_transaction_rules() {
    let batch = |text: &str, e: Expect| check_with(true, Mode::Batch, text, &[], e);
    let tx = |text: &str, e: Expect| check_with(true, Mode::Transaction, text, &[], e);
    batch("SELECT a FROM C WHERE pk = 'k' AND sk = 1", expect![[r#"get {pk=S("k"), sk=N(1)} proj a<-a filter -"#]]);
    batch(
        "SELECT * FROM C WHERE pk = 'k'",
        expect![
            "error: Select statements within BatchExecuteStatement must specify the primary key in the where clause."
        ],
    );
    batch(
        "SELECT * FROM C WHERE pk = 'k' AND sk = 1 AND attribute_exists(a)",
        expect![
            "error: Select statements within BatchExecuteStatement must specify the primary key in the where clause."
        ],
    );
    batch(
        r#"SELECT * FROM "C"."gsi-all" WHERE g = 'x'"#,
        expect![
            "error: Select statements within BatchExecuteStatement must specify the primary key in the where clause."
        ],
    );
    tx("SELECT * FROM C WHERE pk = 'k' AND sk = 1", expect![[r#"get {pk=S("k"), sk=N(1)} proj * filter -"#]]);
    tx(
        "SELECT * FROM C WHERE pk = 'k' AND sk > 1",
        expect!["error: Select statements within ExecuteTransaction must specify the primary key in the where clause."],
    );
    tx(
        r#"SELECT * FROM "C"."gsi-all" WHERE g = 'x'"#,
        expect!["error: Reads on indices are not supported within transactions."],
    );
    tx(
        "UPDATE C SET a = 1 WHERE pk = 'k' AND sk = 1 RETURNING ALL NEW *",
        expect!["error: RETURNING clause is not supported in ExecuteTransaction."],
    );
    tx(
        "EXISTS(SELECT * FROM C WHERE pk = 'k' AND sk = 1 AND a > 2)",
        expect![[r#"check {pk=S("k"), sk=N(1)} if (> a N(2))"#]],
    );
    tx(
        "EXISTS(SELECT * FROM C WHERE pk = 'k' AND sk = 1)",
        expect!["error: EXISTS() must contain a single item read with additional condition"],
    );
    tx(
        "EXISTS(SELECT * FROM C WHERE pk = 'k' AND a > 2)",
        expect!["error: EXISTS() must contain a single item read with additional condition"],
    );
    tx(
        r#"EXISTS(SELECT * FROM "C"."gsi-all" WHERE pk = 'k' AND sk = 1 AND a > 2)"#,
        expect!["error: Operations on indices are not supported in transactions"],
    );
    check(
        "EXISTS(SELECT * FROM C WHERE pk = 'k' AND sk = 1 AND a > 2)",
        expect!["error: EXISTS can only be used in ExecuteTransaction write requests."],
    );
}

#[test]
fn from_first_updates_plan_as_updates() {
    check(
        "FROM C WHERE pk = 'a' AND sk = 1 AND v > 2 SET w = 1 REMOVE x RETURNING MODIFIED OLD *",
        expect![[r#"update {pk=S("a"), sk=N(1)} if (> v N(2)) do (set w N(1)) (remove x) returning MODIFIED OLD"#]],
    );
    check_with(
        false,
        Mode::Transaction,
        "FROM T WHERE pk = ? SET c = ?",
        &[Value::S("k".into()), n(7)],
        expect![[r#"update {pk=S("k")} if - do (set c N(7))"#]],
    );
    check_with(
        false,
        Mode::Batch,
        "FROM T WHERE pk = 'k' SET c = 1",
        &[],
        expect![[r#"update {pk=S("k")} if - do (set c N(1))"#]],
    );
    check(
        "FROM C WHERE a = 1 SET c = 1",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
    check(
        "FROM C WHERE pk = 'a' SET c = 1",
        expect!["error: Where clause does not contain a mandatory equality on all key attributes"],
    );
    check_with(
        false,
        Mode::Transaction,
        "FROM T WHERE pk = 'k' SET c = 1 RETURNING ALL NEW *",
        &[],
        expect!["error: RETURNING clause is not supported in ExecuteTransaction."],
    );
}

#[test]
fn or_branches_overlapping_on_the_sort_key() {
    let overlap = "error: Overlapping conditions with range keys are not supported in where clause";
    // `C`: pk S, sk N; its local index `lsi-keys` sorts on `l`, a string.
    for text in [
        "pk = 'a' AND x = '1' OR pk = 'a' AND sk = 2",
        "pk = 'a' AND x <> '1' OR pk = 'a' AND sk = 2",
        "pk = 'a' OR pk = 'a' AND sk = 2",
        "pk = 'a' OR pk = 'a'",
        "pk = 'a' AND sk = 2 OR 'a' = pk AND 2 = sk",
        "pk = 'a' AND sk > 1 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND sk <= 2 OR pk = 'a' AND sk >= 2",
        "pk = 'a' AND sk BETWEEN 1 AND 5 OR pk = 'a' AND sk BETWEEN 5 AND 9",
        "pk = 'b' AND sk = 1 OR pk = 'a' AND sk < 3 OR pk = 'a' AND sk > 2",
        "(pk = 'a' AND sk = 1 OR pk = 'a' AND sk = 2) OR pk = 'a' AND sk >= 2",
    ] {
        let out = match parse(&format!("SELECT * FROM C WHERE {text}"))
            .and_then(|s| plan(&s, &[], &table(true), Mode::Single))
        {
            Ok(p) => render(&p),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(out, overlap, "{text}");
    }
    for text in [
        "pk = 'a' AND begins_with(l, 'ab') OR pk = 'a' AND l = 'abc'",
        "pk = 'a' AND begins_with(l, 'ab') OR pk = 'a' AND l > 'ab'",
        "pk = 'a' AND begins_with(l, 'a') OR pk = 'a' AND begins_with(l, 'ab')",
        "pk = 'a' AND l < 'b' OR pk = 'a' AND begins_with(l, 'a')",
    ] {
        let out = match parse(&format!(r#"SELECT * FROM "C"."lsi-keys" WHERE {text}"#))
            .and_then(|s| plan(&s, &[], &table(true), Mode::Single))
        {
            Ok(p) => render(&p),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(out, overlap, "{text}");
    }
    // Branches that do not meet, on other partitions, or with a sort-key
    // condition no key condition expresses (the WHERE is then only a filter).
    check(
        "SELECT * FROM C WHERE pk = 'a' AND sk = 1 OR pk = 'a' AND sk = 2",
        expect![[r#"scan proj * filter (or (and (= pk S("a")) (= sk N(1))) (and (= pk S("a")) (= sk N(2))))"#]],
    );
    for text in [
        "pk = 'a' AND sk < 2 OR pk = 'a' AND sk >= 2",
        "pk = 'a' AND sk BETWEEN 1 AND 4 OR pk = 'a' AND sk BETWEEN 5 AND 9",
        "pk = 'a' AND x = 1 OR pk = 'b' AND sk = 2",
        "pk = 'a' OR pk = 'b'",
        "pk = 'a' AND NOT sk = 1 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND sk <> 1 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND NOT begins_with(sk, 'x') OR pk = 'a' AND sk = 2",
        "pk = 'a' AND NOT sk IN [1, 3] OR pk = 'a' AND sk = 2",
        "pk = 'a' AND sk IN [1, 3] OR pk = 'a' AND sk = 3",
        "pk = 'a' AND NOT sk > 5 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND NOT (sk = 1) OR pk = 'a' AND sk = 2",
        "pk = 'a' OR pk = 'a' AND NOT sk = 1",
        "pk = 'a' AND sk > 1 AND sk < 3 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND sk = 'text' OR pk = 'a' AND sk = 2",
        "pk IN ['a'] OR pk = 'a' AND sk = 2",
        "x = 1 OR pk = 'a' AND sk = 2",
        "pk = 'a' AND (sk = 1 OR sk = 2)",
    ] {
        let out =
            parse(&format!("SELECT * FROM C WHERE {text}")).and_then(|s| plan(&s, &[], &table(true), Mode::Single));
        assert!(out.is_ok(), "{text}: {out:?}");
    }
    for text in [
        "pk = 'a' AND begins_with(l, 'ab') OR pk = 'a' AND l = 'b'",
        "pk = 'a' AND begins_with(l, 'ab') OR pk = 'a' AND l < 'ab'",
        "pk = 'a' AND begins_with(l, 'ab') OR pk = 'a' AND begins_with(l, 'ac')",
    ] {
        let out = parse(&format!(r#"SELECT * FROM "C"."lsi-keys" WHERE {text}"#))
            .and_then(|s| plan(&s, &[], &table(true), Mode::Single));
        assert!(out.is_ok(), "{text}: {out:?}");
    }
    // A table without a sort key has nothing to overlap on.
    check_with(
        false,
        Mode::Single,
        "SELECT * FROM T WHERE pk = 'a' AND x = 1 OR pk = 'a'",
        &[],
        expect![[r#"scan proj * filter (or (and (= pk S("a")) (= x N(1))) (= pk S("a")))"#]],
    );
}

#[test]
fn is_type_names_resolve_aliases() {
    check(
        "SELECT * FROM C WHERE a IS INT AND b IS VARCHAR(3) AND c IS CHARACTER VARYING AND d IS NOT DOUBLE PRECISION AND e IS DEC",
        expect![[
            "scan proj * filter (and (and (type a N) (type b S)) (and (type c S) (and (not (type d N)) (type e N))))"
        ]],
    );
    check(
        "SELECT * FROM C WHERE a IS INT4",
        expect![
            "error: Unsupported data type for IS operator: INT4. Supported data types are [MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
        ],
    );
    check(
        "SELECT * FROM C WHERE a IS TIMESTAMP",
        expect![
            "error: Unsupported data type for IS operator: TIMESTAMP. Supported data types are [MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
        ],
    );
    check(
        "SELECT * FROM C WHERE a * 2 = 1",
        expect!["error: Unsupported operator in Condition Expression. Operator: *"],
    );
    check(
        "UPDATE C SET a = b % 2 WHERE pk = 'a' AND sk = 1",
        expect!["error: Unsupported operator in Update Expression. Operator: %"],
    );
}
