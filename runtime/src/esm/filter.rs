//! Event filtering: EventBridge-style patterns over the record JSON a function
//! receives, with DynamoDB-typed values
//! (`{"dynamodb":{"NewImage":{"status":{"S":["done"]}}}}`).
//!
//! - A pattern's fields are AND'd; the matchers listed for one field are OR'd;
//!   `$or` holds alternative sub-patterns; the patterns of a mapping are OR'd.
//! - Matchers: exact strings, numbers and booleans, `null`, `""`, `prefix`,
//!   `suffix` (both also as `{"equals-ignore-case": ..}`), `equals-ignore-case`,
//!   `anything-but` (a value, a list, or a `prefix`/`suffix`/`equals-ignore-case`),
//!   `numeric` (`=`, `<`, `<=`, `>`, `>=`, a lower then an upper bound) and
//!   `exists`.
//! - A field holding an array matches when any element does.
//! - `numeric` also reads numbers written as strings, since a DynamoDB `N` is
//!   one (`{"N": "5"}`); an exact number matches only a JSON number, as
//!   EventBridge's does.
//! - `exists: true` matches any value that is present (EventBridge only
//!   looks at leaves; Tidepool also accepts an object); `exists: false`
//!   matches an absent field.

use serde_json::Value;

use super::config::{ConfigError, FilterCriteria};

/// Nesting depth of a pattern, against hostile input.
const MAX_PATTERN_DEPTH: usize = 32;

/// The parsed `FilterCriteria` of a mapping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSet {
    patterns: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    fields: Vec<(String, Rule)>,
    /// `$or`: at least one alternative must match (as well as `fields`).
    ors: Vec<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Nested(Node),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix { text: String, ignore_case: bool },
    Suffix { text: String, ignore_case: bool },
    EqualsIgnoreCase(String),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

fn bad(detail: impl std::fmt::Display) -> ConfigError {
    ConfigError::invalid(format!("Invalid filter pattern definition. {detail}"))
}

impl FilterSet {
    /// Parses every pattern of `criteria`.
    pub fn parse(criteria: &FilterCriteria) -> Result<FilterSet, ConfigError> {
        let mut patterns = Vec::with_capacity(criteria.filters.len());
        for f in &criteria.filters {
            patterns.push(parse_pattern(&f.pattern)?);
        }
        Ok(FilterSet { patterns })
    }

    /// Whether there are no patterns (every record passes).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `record` passes: no patterns, or any pattern matches.
    pub fn matches(&self, record: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| node_matches(p, Some(record)))
    }
}

/// Parses one pattern (a JSON object, as a string).
fn parse_pattern(text: &str) -> Result<Node, ConfigError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("The pattern is not JSON: {e}")))?;
    parse_node(&v, 0)
}

fn parse_node(v: &Value, depth: usize) -> Result<Node, ConfigError> {
    if depth > MAX_PATTERN_DEPTH {
        return Err(bad("The pattern is nested too deeply."));
    }
    let obj = v.as_object().ok_or_else(|| bad("A pattern must be a JSON object."))?;
    let mut node = Node { fields: Vec::new(), ors: Vec::new() };
    for (k, v) in obj {
        if k == "$or" {
            let alts = v
                .as_array()
                .filter(|a| a.len() >= 2)
                .ok_or_else(|| bad("$or needs an array of at least two patterns."))?;
            node.ors.push(alts.iter().map(|a| parse_node(a, depth + 1)).collect::<Result<_, _>>()?);
            continue;
        }
        let rule = match v {
            Value::Object(_) => Rule::Nested(parse_node(v, depth + 1)?),
            Value::Array(items) if !items.is_empty() => {
                Rule::Leaf(items.iter().map(parse_matcher).collect::<Result<_, _>>()?)
            }
            Value::Array(_) => return Err(bad(format!("Field {k} has an empty list of values."))),
            _ => return Err(bad(format!("Field {k} must be an object or a list of values."))),
        };
        node.fields.push((k.clone(), rule));
    }
    Ok(node)
}

fn string_or_ignore_case(v: &Value, op: &str) -> Result<(String, bool), ConfigError> {
    match v {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok((s.clone(), true)),
            _ => Err(bad(format!("{op} takes a string or {{\"equals-ignore-case\": string}}."))),
        },
        _ => Err(bad(format!("{op} takes a string."))),
    }
}

fn parse_matcher(v: &Value) -> Result<Matcher, ConfigError> {
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(_) => return Err(bad("Values in a list cannot be lists.")),
        scalar => return Ok(Matcher::Exact(scalar.clone())),
    };
    if obj.len() != 1 {
        return Err(bad("A matcher object has exactly one operator."));
    }
    let (op, arg) = obj.iter().next().expect("one entry");
    Ok(match op.as_str() {
        "prefix" => {
            let (text, ignore_case) = string_or_ignore_case(arg, "prefix")?;
            Matcher::Prefix { text, ignore_case }
        }
        "suffix" => {
            let (text, ignore_case) = string_or_ignore_case(arg, "suffix")?;
            Matcher::Suffix { text, ignore_case }
        }
        "equals-ignore-case" => match arg {
            Value::String(s) => Matcher::EqualsIgnoreCase(s.clone()),
            _ => return Err(bad("equals-ignore-case takes a string.")),
        },
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => return Err(bad("exists takes true or false.")),
        },
        "numeric" => Matcher::Numeric(parse_numeric(arg)?),
        "anything-but" => Matcher::AnythingBut(match arg {
            Value::String(_) | Value::Number(_) => AnythingBut::Values(vec![arg.clone()]),
            Value::Array(items) if !items.is_empty() => {
                if items.iter().all(|i| i.is_string()) || items.iter().all(|i| i.is_number()) {
                    AnythingBut::Values(items.clone())
                } else {
                    return Err(bad("anything-but takes a list of only strings or only numbers."));
                }
            }
            Value::Object(o) if o.len() == 1 => match o.iter().next().expect("one entry") {
                (k, Value::String(s)) if k == "prefix" => AnythingBut::Prefix(s.clone()),
                (k, Value::String(s)) if k == "suffix" => AnythingBut::Suffix(s.clone()),
                (k, Value::String(s)) if k == "equals-ignore-case" => AnythingBut::IgnoreCase(vec![s.clone()]),
                (k, Value::Array(list)) if k == "equals-ignore-case" && !list.is_empty() => AnythingBut::IgnoreCase(
                    list.iter()
                        .map(|s| s.as_str().map(str::to_string).ok_or_else(|| bad("equals-ignore-case takes strings.")))
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad("anything-but takes a value, a list, prefix, suffix or equals-ignore-case.")),
            },
            _ => return Err(bad("anything-but takes a value, a list, prefix, suffix or equals-ignore-case.")),
        }),
        other => return Err(bad(format!("Unrecognized match type {other}."))),
    })
}

fn parse_numeric(arg: &Value) -> Result<Vec<(Cmp, f64)>, ConfigError> {
    let items = arg.as_array().ok_or_else(|| bad("numeric takes a list."))?;
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(bad("numeric takes one or two (operator, number) pairs."));
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("=") => Cmp::Eq,
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some(">") => Cmp::Gt,
            Some(">=") => Cmp::Ge,
            _ => return Err(bad(format!("Unrecognized numeric range operator: {}", pair[0]))),
        };
        let n = pair[1].as_f64().ok_or_else(|| bad(format!("Value of {} must be numeric.", pair[0])))?;
        out.push((op, n));
    }
    if out.len() == 2 {
        let lower = matches!(out[0].0, Cmp::Gt | Cmp::Ge);
        let upper = matches!(out[1].0, Cmp::Lt | Cmp::Le);
        if !lower || !upper || out[0].1 >= out[1].1 {
            return Err(bad("A numeric range is a lower bound (> or >=) then a greater upper bound (< or <=)."));
        }
    }
    Ok(out)
}

fn node_matches(node: &Node, value: Option<&Value>) -> bool {
    // A field holding a list of objects matches when any element does.
    if let Some(Value::Array(items)) = value
        && items.iter().any(Value::is_object)
    {
        return items.iter().any(|i| node_matches(node, Some(i)));
    }
    let obj = value.and_then(Value::as_object);
    let fields = node.fields.iter().all(|(name, rule)| {
        let child = obj.and_then(|o| o.get(name));
        match rule {
            Rule::Nested(n) => node_matches(n, child),
            Rule::Leaf(ms) => ms.iter().any(|m| matcher_matches(m, child)),
        }
    });
    fields && node.ors.iter().all(|alts| alts.iter().any(|n| node_matches(n, value)))
}

fn matcher_matches(m: &Matcher, value: Option<&Value>) -> bool {
    match (m, value) {
        (Matcher::Exists(want), v) => *want == v.is_some(),
        (_, None) => false,
        (_, Some(Value::Array(items))) => items.iter().any(|i| scalar_matches(m, i)),
        (_, Some(v)) => scalar_matches(m, v),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn json_eq(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn scalar_matches(m: &Matcher, v: &Value) -> bool {
    let s = v.as_str();
    match m {
        Matcher::Exact(p) => json_eq(p, v),
        Matcher::Prefix { text, ignore_case: false } => s.is_some_and(|s| s.starts_with(text.as_str())),
        Matcher::Prefix { text, ignore_case: true } => {
            s.is_some_and(|s| s.to_lowercase().starts_with(&text.to_lowercase()))
        }
        Matcher::Suffix { text, ignore_case: false } => s.is_some_and(|s| s.ends_with(text.as_str())),
        Matcher::Suffix { text, ignore_case: true } => {
            s.is_some_and(|s| s.to_lowercase().ends_with(&text.to_lowercase()))
        }
        Matcher::EqualsIgnoreCase(text) => s.is_some_and(|s| s.to_lowercase() == text.to_lowercase()),
        Matcher::AnythingBut(AnythingBut::Values(list)) => !list.iter().any(|p| json_eq(p, v)),
        Matcher::AnythingBut(AnythingBut::Prefix(p)) => s.is_some_and(|s| !s.starts_with(p.as_str())),
        Matcher::AnythingBut(AnythingBut::Suffix(p)) => s.is_some_and(|s| !s.ends_with(p.as_str())),
        Matcher::AnythingBut(AnythingBut::IgnoreCase(list)) => {
            s.is_some_and(|s| !list.iter().any(|p| p.to_lowercase() == s.to_lowercase()))
        }
        Matcher::Numeric(conds) => as_number(v).is_some_and(|n| {
            conds.iter().all(|(op, x)| match op {
                Cmp::Eq => n == *x,
                Cmp::Lt => n < *x,
                Cmp::Le => n <= *x,
                Cmp::Gt => n > *x,
                Cmp::Ge => n >= *x,
            })
        }),
        Matcher::Exists(_) => unreachable!("handled before"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::esm::config::Filter;

    fn set(patterns: &[Value]) -> Result<FilterSet, ConfigError> {
        FilterSet::parse(&FilterCriteria {
            filters: patterns.iter().map(|p| Filter { pattern: p.to_string() }).collect(),
        })
    }

    fn record() -> Value {
        json!({
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": {"pk": {"S": "user#42"}},
                "NewImage": {
                    "pk": {"S": "user#42"},
                    "status": {"S": "Done"},
                    "qty": {"N": "7"},
                    "price": {"N": "12.5"},
                    "flag": {"BOOL": true},
                    "gone": {"NULL": true},
                    "empty": {"S": ""},
                    "tags": {"SS": ["red", "blue"]},
                    "items": {"L": [{"M": {"k": {"S": "a"}}}, {"M": {"k": {"S": "b"}}}]}
                },
                "SizeBytes": 60
            }
        })
    }

    fn image(field: Value) -> Value {
        json!({"dynamodb": {"NewImage": field}})
    }

    #[test]
    fn matchers_table() {
        let r = record();
        let cases: Vec<(Value, bool)> = vec![
            (json!({"eventName": ["INSERT"]}), true),
            (json!({"eventName": ["MODIFY", "INSERT"]}), true),
            (json!({"eventName": ["MODIFY"]}), false),
            (json!({"eventName": ["insert"]}), false),
            (json!({"eventName": [{"equals-ignore-case": "insert"}]}), true),
            (image(json!({"status": {"S": ["Done"]}})), true),
            (image(json!({"status": ["Done"]})), false),
            (image(json!({"status": {"S": [{"prefix": "Do"}]}})), true),
            (image(json!({"status": {"S": [{"prefix": "do"}]}})), false),
            (image(json!({"status": {"S": [{"prefix": {"equals-ignore-case": "do"}}]}})), true),
            (image(json!({"status": {"S": [{"suffix": "ne"}]}})), true),
            (image(json!({"status": {"S": [{"suffix": {"equals-ignore-case": "NE"}}]}})), true),
            (image(json!({"status": {"S": [{"suffix": "x"}]}})), false),
            (image(json!({"status": {"S": [{"anything-but": "Done"}]}})), false),
            (image(json!({"status": {"S": [{"anything-but": ["Open", "Closed"]}]}})), true),
            (image(json!({"status": {"S": [{"anything-but": {"prefix": "Do"}}]}})), false),
            (image(json!({"status": {"S": [{"anything-but": {"suffix": "x"}}]}})), true),
            (image(json!({"status": {"S": [{"anything-but": {"equals-ignore-case": ["done"]}}]}})), false),
            (image(json!({"missing": {"S": [{"anything-but": "x"}]}})), false),
            (image(json!({"qty": {"N": [{"numeric": [">", 5]}]}})), true),
            (image(json!({"qty": {"N": [{"numeric": ["<", 5]}]}})), false),
            (image(json!({"qty": {"N": [{"numeric": ["=", 7]}]}})), true),
            (image(json!({"qty": {"N": [{"numeric": [">=", 7, "<", 8]}]}})), true),
            (image(json!({"qty": {"N": [{"numeric": [">", 7, "<=", 9]}]}})), false),
            (image(json!({"price": {"N": [{"numeric": [">", 12, "<", 13]}]}})), true),
            (image(json!({"status": {"S": [{"numeric": [">", 0]}]}})), false),
            (json!({"dynamodb": {"SizeBytes": [60]}}), true),
            (json!({"dynamodb": {"SizeBytes": [{"numeric": ["<=", 60]}]}}), true),
            (image(json!({"flag": {"BOOL": [true]}})), true),
            (image(json!({"flag": {"BOOL": [false]}})), false),
            (image(json!({"gone": {"NULL": [true]}})), true),
            (image(json!({"empty": {"S": [""]}})), true),
            (image(json!({"status": {"S": [""]}})), false),
            (image(json!({"status": {"S": [{"exists": true}]}})), true),
            (image(json!({"status": [{"exists": true}]})), true),
            (image(json!({"nope": {"S": [{"exists": true}]}})), false),
            (image(json!({"nope": [{"exists": false}]})), true),
            (image(json!({"nope": {"S": [{"exists": false}]}})), true),
            (image(json!({"status": [{"exists": false}]})), false),
            (image(json!({"tags": {"SS": ["blue"]}})), true),
            (image(json!({"tags": {"SS": ["green"]}})), false),
            (image(json!({"items": {"L": {"M": {"k": {"S": ["b"]}}}}})), true),
            (image(json!({"items": {"L": {"M": {"k": {"S": ["c"]}}}}})), false),
            // Fields AND'd.
            (
                json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"qty": {"N": [{"numeric": [">", 100]}]}}}}),
                false,
            ),
            (json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "user#"}]}}}}), true),
            // $or.
            (json!({"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"qty": {"N": ["7"]}}}}]}), true),
            (json!({"$or": [{"eventName": ["REMOVE"]}, {"eventName": ["MODIFY"]}]}), false),
            (
                json!({"eventSource": ["aws:dynamodb"], "$or": [{"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]}]}),
                true,
            ),
            // null matches only a JSON null.
            (json!({"eventName": [null]}), false),
        ];
        for (pattern, want) in cases {
            let s = set(std::slice::from_ref(&pattern)).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(s.matches(&r), want, "{pattern}");
        }
        assert!(set(&[json!({"x": [null]})]).unwrap().matches(&json!({"x": null})));
    }

    #[test]
    fn patterns_are_ored_and_empty_matches_all() {
        let r = record();
        assert!(set(&[]).unwrap().matches(&r));
        assert!(set(&[json!({"eventName": ["REMOVE"]}), json!({"eventName": ["INSERT"]})]).unwrap().matches(&r));
        assert!(!set(&[json!({"eventName": ["REMOVE"]}), json!({"eventName": ["MODIFY"]})]).unwrap().matches(&r));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "{",
            "[]",
            "\"x\"",
            r#"{"a": "x"}"#,
            r#"{"a": []}"#,
            r#"{"a": [[1]]}"#,
            r#"{"a": [{"prefix": 1}]}"#,
            r#"{"a": [{"wat": 1}]}"#,
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            r#"{"a": [{"numeric": [">"]}]}"#,
            r#"{"a": [{"numeric": ["!", 1]}]}"#,
            r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#,
            r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#,
            r#"{"a": [{"numeric": [">", "x"]}]}"#,
            r#"{"a": [{"exists": "yes"}]}"#,
            r#"{"a": [{"anything-but": [1, "x"]}]}"#,
            r#"{"a": [{"anything-but": {"wat": "x"}}]}"#,
            r#"{"$or": [{"a": [1]}]}"#,
        ] {
            let e = FilterSet::parse(&FilterCriteria { filters: vec![Filter { pattern: bad.into() }] }).expect_err(bad);
            assert_eq!(e.error_type(), "InvalidParameterValueException");
            assert!(e.message.starts_with("Invalid filter pattern definition."), "{bad}: {e}");
        }
        let deep = format!("{}{}{}", r#"{"a":"#.repeat(40), "[1]", "}".repeat(40));
        assert!(FilterSet::parse(&FilterCriteria { filters: vec![Filter { pattern: deep }] }).is_err());
    }
}
