//! Inputs built to hurt: deep nesting, long statements, many operators and
//! random text. None may panic or overflow the stack.

use proptest::prelude::*;

use super::super::{MAX_STATEMENT_LEN, Mode, parse, plan};
use super::plan::table;
use crate::value::Value;

fn error_of(text: &str) -> String {
    parse(text).map(|_| "parsed".to_string()).unwrap_or_else(|e| e.to_string())
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let nested = |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
    for (open, close) in [("(", ")"), ("[", "]"), ("<<", ">>"), ("- ", "")] {
        let text = format!("SELECT * FROM T WHERE a = {}", nested(open, close, 2000));
        let err = error_of(&text);
        assert!(err.contains("nested too deeply") || err.contains("operators"), "{open}: {err}");
    }
    let nots = format!("SELECT * FROM T WHERE {}a = 1", "NOT ".repeat(2000));
    assert!(error_of(&nots).contains("nested too deeply") || error_of(&nots).contains("operators"));
    let structs = format!("INSERT INTO T VALUE {}1{}", "{'a': ".repeat(1000), "}".repeat(1000));
    assert!(error_of(&structs).contains("nested too deeply"));
    let calls = format!("SELECT * FROM T WHERE {}a{} = 1", "size(".repeat(1000), ")".repeat(1000));
    let err = error_of(&calls);
    assert!(err.contains("nested too deeply") || err.contains("operators"), "{err}");
}

#[test]
fn nesting_within_the_limits_plans() {
    let t = table(false);
    let text = format!("INSERT INTO T VALUE {{'pk': 'a', 'l': {}1{}}}", "[".repeat(31), "]".repeat(31));
    let stmt = parse(&text).unwrap();
    assert!(plan(&stmt, &[], &t, Mode::Single).is_ok());
    let text = format!("INSERT INTO T VALUE {{'pk': 'a', 'l': {}1{}}}", "[".repeat(33), "]".repeat(33));
    let stmt = parse(&text).unwrap();
    assert_eq!(
        plan(&stmt, &[], &t, Mode::Single).unwrap_err().to_string(),
        "Nesting Levels have exceeded supported limits"
    );
}

#[test]
fn length_and_operator_limits() {
    let long = format!("SELECT * FROM T WHERE a = '{}'", "x".repeat(MAX_STATEMENT_LEN));
    assert!(error_of(&long).contains("Member must have length less than or equal to 8192"));
    let ok = vec!["a = 1"; 150].join(" AND ");
    assert_eq!(error_of(&format!("SELECT * FROM T WHERE {ok}")), "parsed");
    let too_many = vec!["a = 1"; 151].join(" AND ");
    assert_eq!(
        error_of(&format!("SELECT * FROM T WHERE {too_many}")),
        "The expression contains too many operators or functions; maximum: 300"
    );
}

proptest! {
    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}") {
        let _ = parse(&src);
    }

    #[test]
    fn statement_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("SELECT"), Just("INSERT"), Just("INTO"), Just("UPDATE"), Just("DELETE"), Just("FROM"),
                Just("WHERE"), Just("VALUE"), Just("SET"), Just("REMOVE"), Just("RETURNING"), Just("ALL"),
                Just("OLD"), Just("NEW"), Just("MODIFIED"), Just("ORDER"), Just("BY"), Just("DESC"), Just("EXISTS"),
                Just("T"), Just("\"T\""), Just("\"I\""), Just("pk"), Just("sk"), Just("a"), Just("'x'"), Just("1"),
                Just("-2.5e3"), Just("?"), Just("*"), Just("."), Just(","), Just(":"), Just("("), Just(")"),
                Just("["), Just("]"), Just("{"), Just("}"), Just("<<"), Just(">>"), Just("="), Just("<>"),
                Just("<"), Just(">="), Just("+"), Just("-"), Just("AND"), Just("OR"), Just("NOT"), Just("IN"),
                Just("BETWEEN"), Just("IS"), Just("MISSING"), Just("NULL"), Just("TRUE"), Just("size"),
                Just("begins_with"), Just("attribute_exists"), Just("set_add"), Just("list_append"), Just(";"),
            ],
            0..40,
        )
    ) {
        let src = parts.join(" ");
        if let Ok(stmt) = parse(&src) {
            let params = vec![Value::S("p".into()); stmt.params];
            for t in [table(false), table(true)] {
                for mode in [Mode::Single, Mode::Batch, Mode::Transaction] {
                    if let Ok(super::super::Plan::Select(p)) = plan(&stmt, &params, &t, mode)
                        && let Some(f) = &p.filter
                    {
                        let _ = f.eval(&Default::default());
                    }
                }
            }
        }
    }
}

/// The deepest statements the limits let through parse, plan and evaluate
/// within a small stack, even unoptimised.
#[test]
fn the_deepest_accepted_statements_fit_a_small_stack() {
    use super::super::MAX_PARSE_DEPTH;
    let d = MAX_PARSE_DEPTH - 2;
    let texts = vec![
        format!("SELECT * FROM C WHERE {}a = 1{}", "(".repeat(d), ")".repeat(d)),
        format!("SELECT * FROM C WHERE {}a = 1", "NOT ".repeat(d)),
        format!("SELECT * FROM C WHERE a = {}1{}", "[".repeat(d), "]".repeat(d)),
        format!("SELECT * FROM C WHERE {}a{} = 1", "size(".repeat(d), ")".repeat(d)),
        format!("SELECT * FROM C WHERE {}", vec!["a = 1"; 150].join(" AND ")),
        format!("SELECT * FROM C WHERE {}", vec!["(a = 1 OR NOT b = 2)"; 50].join(" AND ")),
        format!("INSERT INTO C VALUE {}1{}", "{'a': ".repeat(d), "}".repeat(d)),
    ];
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let t = table(true);
            for text in texts {
                let stmt = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
                if let Ok(super::super::Plan::Select(p)) = plan(&stmt, &[], &t, Mode::Single)
                    && let Some(f) = &p.filter
                {
                    let _ = f.eval(&Default::default());
                }
            }
        })
        .expect("spawn")
        .join()
        .expect("no panic");
}
