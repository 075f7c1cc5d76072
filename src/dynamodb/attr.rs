//! DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, ...) to and from store values,
//! with DynamoDB's validation of each shape.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};
use tidepool_store::messages;
use tidepool_store::value::{Item, MAX_NESTING_DEPTH, Number, Value};

use super::error::{ApiError, ApiResult};

/// The longest attribute name, in bytes, at any depth: DynamoDB's "64 KB",
/// whose last accepted length is 65,535 (Alternator's `test_limits.py`,
/// against the live service).
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65_535;

/// Refuses an attribute name DynamoDB refuses: longer than
/// [`MAX_ATTRIBUTE_NAME_BYTES`] at any depth, or, at the top of an item or
/// key (`top`), empty.
pub fn check_attribute_name(name: &str, top: bool) -> ApiResult<()> {
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(ApiError::validation(messages::item::ATTRIBUTE_NAME_TOO_LARGE));
    }
    if top && name.is_empty() {
        return Err(ApiError::validation(messages::item::EMPTY_ATTRIBUTE_NAME));
    }
    Ok(())
}

/// An AttributeValue's members, one of which it holds.
const TYPES: &[&str] = &["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"];
use super::layer::Layer;

/// A number, read as the request's value layer reads it ([`super::layer`]).
pub(super) fn number(s: &str) -> ApiResult<Number> {
    let parsed = match super::layer::current() {
        Layer::Current => s.parse::<Number>(),
        // The older layer drops the colon when there is nothing to show.
        Layer::Older if s.is_empty() => {
            return Err(ApiError::validation(messages::item::NOT_NUMERIC));
        }
        Layer::Older => Number::parse_legacy(s),
    };
    parsed.map_err(|e| ApiError::validation(e.to_string()))
}

/// A set member sent twice. The current layer quotes the members and lists
/// them in order up to the repeat (the sorted set it was building), then the
/// repeat, then the rest as sent; it names no members of a number set. The
/// older layer lists them as sent, unquoted, and words a number set's
/// duplicate without its prefix and full stop. `sorted` are the members
/// before the repeat in set order, `at` the repeat's position in `sent`.
fn duplicates(kind: &str, sent: &[String], sorted: Vec<String>, at: usize) -> ApiError {
    let current = super::layer::current() == Layer::Current;
    let message = match (kind, current) {
        ("NS", true) => messages::item::NUMBER_SET_DUPLICATES.to_string(),
        ("NS", false) => messages::item::NUMBER_SET_DUPLICATES_OLDER.to_string(),
        (_, true) => {
            let listed: Vec<String> =
                sorted.into_iter().chain(sent[at..].iter().cloned()).map(|m| format!("\"{m}\"")).collect();
            if kind == "BS" {
                messages::item::binary_set_duplicates(listed.join(","))
            } else {
                messages::item::set_duplicates(listed.join(", "))
            }
        }
        (_, false) => {
            if kind == "BS" {
                messages::item::binary_set_duplicates(sent.join(", "))
            } else {
                messages::item::set_duplicates(sent.join(", "))
            }
        }
    };
    ApiError::validation(message)
}

fn string(j: &Json) -> ApiResult<&str> {
    j.as_str().ok_or_else(|| match j {
        Json::Number(n) if n.is_f64() => ApiError::serialization(messages::request::DECIMAL_AS_STRING),
        Json::Number(_) => ApiError::serialization(messages::request::NUMBER_AS_STRING),
        Json::Bool(true) => ApiError::serialization(messages::request::TRUE_AS_STRING),
        Json::Bool(false) => ApiError::serialization(messages::request::FALSE_AS_STRING),
        Json::Object(_) => ApiError::serialization(messages::request::STRUCTURE_NOT_EXPECTED),
        Json::Array(_) => ApiError::serialization(messages::request::COLLECTION_AS_STRING),
        Json::Null => ApiError::serialization(messages::request::UNEXPECTED_NULL),
        Json::String(_) => unreachable!("as_str failed on a string"),
    })
}

fn binary(j: &Json) -> ApiResult<Vec<u8>> {
    let s = string(j)?;
    B64.decode(s).map_err(|_| ApiError::serialization(messages::request::base64_length(s.len())))
}

fn array(j: &Json) -> ApiResult<&Vec<Json>> {
    j.as_array().ok_or_else(|| ApiError::serialization(messages::request::EXPECTED_LIST))
}

fn set<T: Ord + Clone>(
    j: &Json,
    kind: &str,
    parse: impl Fn(&Json) -> ApiResult<T>,
    show: impl Fn(&T) -> String,
) -> ApiResult<BTreeSet<T>> {
    let list = array(j)?;
    if list.is_empty() {
        return Err(ApiError::validation(match kind {
            "BS" => messages::item::EMPTY_BINARY_SET.to_string(),
            _ => messages::item::empty_set(if kind == "NS" { "number" } else { "string" }),
        }));
    }
    // A null member, in each kind's words (DynamoDB's, as DynamoDB Local
    // and ExtendDB's captures record them).
    if list.iter().any(Json::is_null) {
        return Err(ApiError::validation(match kind {
            "SS" => messages::item::STRING_SET_NULL_MEMBER,
            "NS" => messages::item::NOT_NUMERIC,
            _ => messages::item::NULL_ATTRIBUTE_VALUE,
        }));
    }
    let mut out = BTreeSet::new();
    let mut members = Vec::with_capacity(list.len());
    for e in list {
        members.push(parse(e)?);
    }
    for (at, m) in members.iter().enumerate() {
        if !out.insert(m.clone()) {
            let sent: Vec<String> = members.iter().map(&show).collect();
            let sorted: Vec<String> = out.iter().map(&show).collect();
            return Err(duplicates(kind, &sent, sorted, at));
        }
    }
    Ok(out)
}

/// Parses one AttributeValue.
pub fn value_from_json(j: &Json, depth: usize) -> ApiResult<Value> {
    value_within(j, depth, MAX_NESTING_DEPTH)
}

/// Parses one AttributeValue without DynamoDB's nesting limit: a
/// transaction's expression values, which DynamoDB checks only when an
/// Update writes them (a cancellation reason) and never in a comparison. The
/// request's own depth bound (`MAX_BODY_DEPTH`) still holds.
pub fn value_from_json_unnested(j: &Json) -> ApiResult<Value> {
    value_within(j, 0, usize::MAX)
}

fn value_within(j: &Json, depth: usize, max_depth: usize) -> ApiResult<Value> {
    let obj = j.as_object().ok_or_else(|| ApiError::serialization(messages::request::UNEXPECTED_VALUE_TYPE))?;
    // Members other than the ten types are ignored, as DynamoDB's
    // deserializer ignores them (`{"Q": "x"}` is an empty value).
    let mut entries = obj.iter().filter(|(k, v)| !v.is_null() && TYPES.contains(&k.as_str()));
    let (tag, inner) = match (entries.next(), entries.next()) {
        (None, _) => {
            return Err(ApiError::validation(messages::item::EMPTY_ATTRIBUTE_VALUE));
        }
        (Some(e), None) => e,
        (Some(_), Some(_)) => {
            // Each member is read before their number is counted, so a bad
            // one answers first (`{"S": "a", "N": "b"}` is a bad number:
            // dynalite's suite, checked against DynamoDB).
            for (tag, inner) in obj.iter().filter(|(k, v)| !v.is_null() && TYPES.contains(&k.as_str())) {
                typed(tag, inner, depth, max_depth)?;
            }
            return Err(ApiError::validation(messages::item::SEVERAL_DATATYPES));
        }
    };
    typed(tag, inner, depth, max_depth)
}

/// One AttributeValue member, `tag` (one of [`TYPES`]), read as its type.
fn typed(tag: &str, inner: &Json, depth: usize, max_depth: usize) -> ApiResult<Value> {
    Ok(match tag {
        "S" => Value::S(string(inner)?.to_string()),
        "N" => Value::N(number(string(inner)?)?),
        "B" => Value::B(binary(inner)?),
        "BOOL" => {
            Value::Bool(inner.as_bool().ok_or_else(|| ApiError::serialization(messages::request::EXPECTED_BOOLEAN))?)
        }
        // DynamoDB accepted `{"NULL": false}` for a while in 2026, and by
        // 2026-07 refused it again in every region (the conformance suite's
        // sweeps).
        "NULL" => match inner.as_bool() {
            Some(true) => Value::Null,
            Some(false) => {
                return Err(ApiError::validation(messages::item::NULL_FALSE));
            }
            None => return Err(ApiError::serialization(messages::request::EXPECTED_BOOLEAN)),
        },
        "M" | "L" => {
            // 32 levels, the attribute itself the first and its innermost
            // value the last: the members of a map or list at level 32
            // would be at 33.
            let members = inner.as_object().map(|m| m.len()).or(inner.as_array().map(Vec::len)).unwrap_or(0);
            if members > 0 && depth + 2 > max_depth {
                return Err(ApiError::validation(messages::item::NESTED_TOO_DEEPLY));
            }
            if tag == "M" {
                let m = inner.as_object().ok_or_else(|| ApiError::serialization(messages::request::EXPECTED_MAP))?;
                Value::M(
                    m.iter()
                        .map(|(k, v)| {
                            check_attribute_name(k, false)?;
                            Ok((k.clone(), value_within(v, depth + 1, max_depth)?))
                        })
                        .collect::<ApiResult<_>>()?,
                )
            } else {
                let l = array(inner)?;
                Value::L(l.iter().map(|e| value_within(e, depth + 1, max_depth)).collect::<ApiResult<_>>()?)
            }
        }
        "SS" => Value::Ss(set(inner, "SS", |e| Ok(string(e)?.to_string()), String::clone)?),
        "NS" => Value::Ns(set(inner, "NS", |e| number(string(e)?), Number::to_string)?),
        "BS" => Value::Bs(set(inner, "BS", binary, |b| B64.encode(b))?),
        // Not reached: the entries are filtered to the ten types.
        _ => {
            return Err(ApiError::validation(messages::item::EMPTY_ATTRIBUTE_VALUE));
        }
    })
}

fn map_from_json(m: &Map<String, Json>, depth: usize) -> ApiResult<BTreeMap<String, Value>> {
    m.iter()
        .map(|(k, v)| {
            check_attribute_name(k, true)?;
            Ok((k.clone(), value_from_json(v, depth)?))
        })
        .collect()
}

/// Parses an item (attribute name to AttributeValue).
pub fn item_from_json(j: &Json) -> ApiResult<Item> {
    let m = j.as_object().ok_or_else(|| ApiError::serialization(messages::request::EXPECTED_MAP))?;
    map_from_json(m, 0)
}

pub use tidepool_store::value::json::{item_to_json, value_to_json};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_type() {
        let j = json!({
            "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true}, "z": {"NULL": true},
            "m": {"M": {"a": {"L": [{"N": "1"}, {"SS": ["b", "a"]}]}}},
            "ns": {"NS": ["2", "1"]}, "bs": {"BS": ["AQ=="]}
        });
        let item = item_from_json(&j).unwrap();
        let back = item_to_json(&item);
        assert_eq!(back["n"], json!({"N": "1.5"}));
        assert_eq!(back["m"]["M"]["a"]["L"][1], json!({"SS": ["a", "b"]}));
        assert_eq!(item_from_json(&back).unwrap(), item);
    }

    #[test]
    fn rejects_bad_shapes() {
        for (input, kind, msg) in [
            (json!({"a": {}}), "ValidationException", "Supplied AttributeValue is empty"),
            (json!({"a": {"S": "x", "N": "1"}}), "ValidationException", "more than one datatypes"),
            (json!({"a": {"S": "x", "N": "b"}}), "ValidationException", "cannot be converted to a numeric value"),
            (json!({"a": {"NULL": false, "S": "x"}}), "ValidationException", "Null attribute value types"),
            (json!({"a": {"N": "x"}}), "ValidationException", "cannot be converted to a numeric value"),
            (json!({"a": {"SS": []}}), "ValidationException", "may not be empty"),
            (json!({"a": {"SS": ["x", "x"]}}), "ValidationException", "contains duplicates"),
            (json!({"a": {"BS": []}}), "ValidationException", "Binary sets should not be empty"),
            (json!({"a": {"SS": ["a", null]}}), "ValidationException", "An string set may not have a null string"),
            (json!({"a": {"S": 5}}), "SerializationException", "NUMBER_VALUE"),
            (json!({"a": {"Q": "x"}}), "ValidationException", "Supplied AttributeValue is empty"),
        ] {
            let err = item_from_json(&input).unwrap_err();
            assert!(err.kind.ends_with(kind), "{input}: {}", err.kind);
            assert!(err.message.contains(msg), "{input}: {}", err.message);
        }
    }

    #[test]
    fn limits_nesting() {
        let mut j = json!({"S": "leaf"});
        for _ in 0..40 {
            j = json!({"L": [j]});
        }
        let err = value_from_json(&j, 0).unwrap_err();
        assert!(err.message.contains("Nesting Levels"));
    }
}
