//! Inputs built to hurt: deep nesting, long expressions, many operators, and
//! random text. None may panic or overflow the stack.

use proptest::prelude::*;

use super::super::{
    ExprKind, MAX_EXPRESSION_LEN, Placeholders, parse_condition, parse_key_condition, parse_projection, parse_update,
    syntax,
};
use super::placeholders;

fn condition_error(expr: &str) -> String {
    let mut ph = placeholders();
    parse_condition(expr, &mut ph, ExprKind::Condition).unwrap_err().to_string()
}

#[test]
fn deep_parentheses_are_refused_not_overflowed() {
    let deep = format!("{}a = :n{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        condition_error(&deep),
        format!(
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
            deep.len()
        )
    );
    // Past the length check, the parser itself bounds its recursion.
    let err = syntax::parse_condition(&deep, ExprKind::Condition).unwrap_err();
    assert_eq!(err.to_string(), "Invalid ConditionExpression: The expression is nested too deeply; maximum depth: 160");
    let err = syntax::parse_update(&format!("SET a = {}b{}", "(".repeat(100_000), ")".repeat(100_000))).unwrap_err();
    assert_eq!(err.to_string(), "Invalid UpdateExpression: The expression is nested too deeply; maximum depth: 160");
    let nots = format!("{}a = :n", "NOT ".repeat(100_000));
    assert!(syntax::parse_condition(&nots, ExprKind::Condition).is_err());
    let sizes = format!("{}a{} = :n", "size(".repeat(100_000), ")".repeat(100_000));
    assert!(syntax::parse_condition(&sizes, ExprKind::Condition).is_err());
    // Within the length limit too.
    let deep = format!("{}a = :n{}", "(".repeat(2000), ")".repeat(2000));
    assert_eq!(
        condition_error(&deep),
        "Invalid ConditionExpression: The expression is nested too deeply; maximum depth: 160"
    );
}

#[test]
fn nesting_within_the_limit_parses() {
    let expr = format!("{}a = :n{}", "(".repeat(2), ")".repeat(2));
    // Two levels around one condition are redundant, one is fine.
    assert_eq!(condition_error(&expr), "Invalid ConditionExpression: The expression has redundant parentheses;");
    let mut ph = placeholders();
    let nested = format!("{}a = :n{}", "(a = :n AND ".repeat(100), ")".repeat(100));
    assert!(parse_condition(&nested, &mut ph, ExprKind::Condition).is_ok());
}

#[test]
fn length_limit() {
    let mut ph = placeholders();
    let pad = " ".repeat(MAX_EXPRESSION_LEN - "a = :n".len());
    assert!(parse_condition(&format!("a = :n{pad}"), &mut ph, ExprKind::Condition).is_ok());
    let long = format!("a = :n{pad} ");
    assert_eq!(
        parse_condition(&long, &mut ph, ExprKind::Condition).unwrap_err().to_string(),
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
    );
}

#[test]
fn operator_limit() {
    let mut ph = placeholders();
    // 150 comparisons and 149 ANDs: 299 operators.
    let ok = vec!["a = :n"; 150].join(" AND ");
    assert!(parse_condition(&ok, &mut ph, ExprKind::Condition).is_ok());
    let too_many = vec!["a = :n"; 151].join(" AND ");
    assert_eq!(
        condition_error(&too_many),
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
    );
    let sets: Vec<String> = (0..301).map(|i| format!("a{i} = a + :n")).collect();
    let err = parse_update(&format!("SET {}", sets.join(",")), &mut ph).unwrap_err();
    assert!(
        err.to_string().contains("too many operators") || err.to_string().contains("maximum allowed size"),
        "{err}"
    );
    // Parenthesized operands are parsed twice (once as possible arithmetic);
    // their operators still count once.
    let wrapped: Vec<String> = (0..300).map(|i| format!("a{i}=((if_not_exists(b,c)))")).collect();
    assert!(syntax::parse_update(&format!("SET {}", wrapped.join(","))).is_ok());
    let short: Vec<String> = (0..301).map(|i| format!("a{i}=b+c")).collect();
    assert!(
        syntax::parse_update(&format!("SET {}", short.join(",")))
            .unwrap_err()
            .to_string()
            .contains("too many operators")
    );
}

#[test]
fn in_and_path_limits() {
    let list = vec![":n"; 101].join(",");
    assert_eq!(
        condition_error(&format!("a IN ({list})")),
        "Invalid ConditionExpression: The IN operator accepts at most 100 operands; number of operands: 101"
    );
    let mut ph = placeholders();
    let list = vec![":n"; 100].join(",");
    assert!(parse_condition(&format!("a IN ({list})"), &mut ph, ExprKind::Condition).is_ok());
    let path = format!("a{}", ".b".repeat(32));
    assert_eq!(
        condition_error(&format!("{path} = :n")),
        "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 33"
    );
    assert!(parse_condition(&format!("a{} = :n", "[0]".repeat(31)), &mut ph, ExprKind::Condition).is_ok());
    assert_eq!(
        condition_error("a[99999999999999999999999] = :n"),
        r#"Invalid ConditionExpression: Syntax error; token: "99999999999999999999999", near: "[99999999999999999999999]""#
    );
}

proptest! {
    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}") {
        let mut ph = placeholders();
        let _ = parse_condition(&src, &mut ph, ExprKind::Filter);
        let _ = parse_update(&src, &mut ph);
        let _ = parse_projection(&src, &mut ph);
        let _ = parse_key_condition(&src, &mut ph);
    }

    #[test]
    fn expression_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("a"), Just("#n"), Just("#zz"), Just(":n"), Just(":s"), Just(":l"), Just(":ss"), Just(":zz"),
                Just("("), Just(")"), Just("["), Just("]"), Just("0"), Just("."), Just(","), Just("="), Just("<>"),
                Just("<"), Just(">="), Just("+"), Just("-"), Just("AND"), Just("OR"), Just("NOT"), Just("BETWEEN"),
                Just("IN"), Just("SET"), Just("REMOVE"), Just("ADD"), Just("DELETE"), Just("size"),
                Just("contains"), Just("begins_with"), Just("attribute_exists"), Just("if_not_exists"),
                Just("list_append"), Just("name"),
            ],
            0..40,
        )
    ) {
        let src = parts.join(" ");
        let mut ph = placeholders();
        if let Ok(cond) = parse_condition(&src, &mut ph, ExprKind::Condition) {
            let _ = cond.eval(&Default::default());
        }
        if let Ok(update) = parse_update(&src, &mut ph) {
            let _ = update.apply(&mut Default::default());
        }
        let _ = parse_projection(&src, &mut ph);
        let _ = parse_key_condition(&src, &mut Placeholders::default());
    }
}
