//! DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, ...) to and from store values,
//! with DynamoDB's validation of each shape.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};
use tidepool_store::value::{Item, MAX_NESTING_DEPTH, Number, Value};

use super::error::{ApiError, ApiResult};

fn number(s: &str) -> ApiResult<Number> {
    s.parse::<Number>().map_err(|e| ApiError::validation(e.to_string()))
}

fn string(j: &Json) -> ApiResult<&str> {
    j.as_str().ok_or_else(|| match j {
        Json::Number(_) => ApiError::serialization("NUMBER_VALUE cannot be converted to String"),
        Json::Bool(_) => ApiError::serialization("TRUE_VALUE cannot be converted to String"),
        Json::Object(_) => ApiError::serialization("Start of structure or map found where not expected."),
        Json::Array(_) => ApiError::serialization("Start of list found where not expected"),
        Json::Null => ApiError::serialization("Unexpected null value"),
        Json::String(_) => unreachable!("as_str failed on a string"),
    })
}

fn binary(j: &Json) -> ApiResult<Vec<u8>> {
    let s = string(j)?;
    B64.decode(s).map_err(|_| {
        ApiError::serialization(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            s.len()
        ))
    })
}

fn array(j: &Json) -> ApiResult<&Vec<Json>> {
    j.as_array().ok_or_else(|| ApiError::serialization("Expected list or null"))
}

fn set<T: Ord + std::fmt::Display>(
    j: &Json,
    kind: &str,
    parse: impl Fn(&Json) -> ApiResult<T>,
    show: impl Fn(&Json) -> String,
) -> ApiResult<BTreeSet<T>> {
    let list = array(j)?;
    if list.is_empty() {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: An {kind} set  may not be empty"
        )));
    }
    let mut out = BTreeSet::new();
    for e in list {
        if !out.insert(parse(e)?) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
                list.iter().map(&show).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(out)
}

/// Parses one AttributeValue.
pub fn value_from_json(j: &Json, depth: usize) -> ApiResult<Value> {
    let obj = j.as_object().ok_or_else(|| ApiError::serialization("Unexpected value type in payload"))?;
    let mut entries = obj.iter().filter(|(_, v)| !v.is_null());
    let (tag, inner) = match (entries.next(), entries.next()) {
        (None, _) => {
            return Err(ApiError::validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ));
        }
        (Some(e), None) => e,
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
            ));
        }
    };
    let show_str = |e: &Json| e.as_str().unwrap_or_default().to_string();
    Ok(match tag.as_str() {
        "S" => Value::S(string(inner)?.to_string()),
        "N" => Value::N(number(string(inner)?)?),
        "B" => Value::B(binary(inner)?),
        "BOOL" => Value::Bool(inner.as_bool().ok_or_else(|| ApiError::serialization("Expected boolean value"))?),
        // Since 2026-06 DynamoDB accepts `{"NULL": false}` and stores a NULL
        // (the conformance suite's capture); it used to refuse it.
        "NULL" => match inner.as_bool() {
            Some(_) => Value::Null,
            None => return Err(ApiError::serialization("Expected boolean value")),
        },
        "M" | "L" => {
            if depth >= MAX_NESTING_DEPTH {
                return Err(ApiError::validation(
                    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit",
                ));
            }
            if tag == "M" {
                let m = inner.as_object().ok_or_else(|| ApiError::serialization("Expected map or null"))?;
                Value::M(map_from_json(m, depth + 1)?)
            } else {
                let l = array(inner)?;
                Value::L(l.iter().map(|e| value_from_json(e, depth + 1)).collect::<ApiResult<_>>()?)
            }
        }
        "SS" => Value::Ss(set(inner, "string", |e| Ok(string(e)?.to_string()), show_str)?),
        "NS" => Value::Ns(set(inner, "number", |e| number(string(e)?), show_str)?),
        "BS" => Value::Bs(set_bytes(inner)?),
        other => {
            return Err(ApiError::serialization(format!(
                "Unknown AttributeValue type: {}",
                other.chars().take(32).collect::<String>()
            )));
        }
    })
}

fn set_bytes(j: &Json) -> ApiResult<BTreeSet<Vec<u8>>> {
    struct B(Vec<u8>);
    let list = array(j)?;
    if list.is_empty() {
        return Err(ApiError::validation("One or more parameter values were invalid: Binary sets should not be empty"));
    }
    let mut out = BTreeSet::new();
    for e in list {
        if !out.insert(B(binary(e)?).0) {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Input collection contains duplicates.",
            ));
        }
    }
    Ok(out)
}

fn map_from_json(m: &Map<String, Json>, depth: usize) -> ApiResult<BTreeMap<String, Value>> {
    m.iter().map(|(k, v)| Ok((k.clone(), value_from_json(v, depth)?))).collect()
}

/// Parses an item (attribute name to AttributeValue).
pub fn item_from_json(j: &Json) -> ApiResult<Item> {
    let m = j.as_object().ok_or_else(|| ApiError::serialization("Expected map or null"))?;
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
            (json!({"a": {"N": "x"}}), "ValidationException", "cannot be converted to a numeric value"),
            (json!({"a": {"SS": []}}), "ValidationException", "may not be empty"),
            (json!({"a": {"SS": ["x", "x"]}}), "ValidationException", "contains duplicates"),
            (json!({"a": {"BS": []}}), "ValidationException", "Binary sets should not be empty"),
            (json!({"a": {"S": 5}}), "SerializationException", "NUMBER_VALUE"),
            (json!({"a": {"Q": "x"}}), "SerializationException", "Unknown AttributeValue"),
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
