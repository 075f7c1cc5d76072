//! DynamoDB's deserialization of a request body: every member the
//! operation's model declares is read as its declared wire type before any
//! validation runs, and the first member of the wrong type ends the request
//! with `SerializationException` in the words of DynamoDB's deserializer
//! (Coral over Jackson), whatever else is wrong with it. So
//! `{"ProvisionedThroughput": {"WriteCapacityUnits": "23"}}` is "STRING_VALUE
//! cannot be converted to Long", not "Value null at 'tableName'...".
//!
//! The model is `shapes/model.json`, reduced from botocore's service models
//! of DynamoDB and DynamoDB Streams by `shapes/generate.py`. The texts are
//! DynamoDB's as dynalite's test suite records them (run against the live
//! service). Members the model does not declare are ignored, as DynamoDB
//! ignores them (an AttributeValue `{"Q": "x"}` is an empty one), and a null
//! is an absent member. Two conversions happen on the way, as in DynamoDB: a
//! Boolean may be sent as the string `true`/`false`/`yes`/`no`/`1`/`0` (any
//! case), and an Integer or Long as a decimal number, truncated.
//!
//! The first error is found in key order of each object (the parsed body
//! keeps no document order), where DynamoDB reads in document order: a
//! request with two members of the wrong type may name the other one.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value as Json};
use tidepool_store::messages;

use super::error::{ApiError, ApiResult};

/// The Java package DynamoDB's request classes live in, which its
/// deserializer names.
const PACKAGE: &str = "com.amazonaws.dynamodb.v20120810";

/// A wire type of the model.
enum Shape {
    String,
    Boolean,
    Integer,
    Long,
    Double,
    Blob,
    Timestamp,
    List(usize),
    Map(usize),
    Structure { name: String, members: HashMap<String, usize> },
}

/// Where a value stands: a structure's member, or a list's member or a
/// map's value. The deserializer words some errors differently by place.
#[derive(Clone, Copy)]
enum Place {
    Field,
    Element,
}

struct Model {
    shapes: Vec<Shape>,
    operations: HashMap<String, usize>,
}

static MODEL: LazyLock<Model> =
    LazyLock::new(|| Model::parse(include_str!("shapes/model.json")).expect("the embedded model parses"));

/// Reads `body` as the input of `op` (`streams` for the Streams API), as
/// DynamoDB's deserializer does, converting where it converts. An
/// operation the model does not know is left alone.
pub fn deserialize(op: &str, streams: bool, body: &mut Map<String, Json>) -> ApiResult<()> {
    let model = &*MODEL;
    let input = match (streams, op.contains('.')) {
        (_, true) => None,
        (true, false) => model.operations.get(&format!("streams.{op}")),
        (false, false) => model.operations.get(op),
    };
    match input.map(|&id| &model.shapes[id]) {
        Some(Shape::Structure { members, .. }) => model.members(members, body),
        _ => Ok(()),
    }
}

fn error(message: impl Into<String>) -> ApiError {
    ApiError::serialization(message)
}

/// A scalar of the wrong kind where `target` (a Java type, short and full)
/// is expected.
fn not_scalar(found: &Json, short: &str, class: &str) -> ApiError {
    error(match found {
        Json::Bool(true) => messages::request::cannot_convert("TRUE_VALUE", short),
        Json::Bool(false) => messages::request::cannot_convert("FALSE_VALUE", short),
        Json::Number(n) if n.is_f64() => messages::request::cannot_convert("DECIMAL_VALUE", short),
        Json::Number(_) => messages::request::cannot_convert("NUMBER_VALUE", short),
        Json::String(_) => messages::request::cannot_convert("STRING_VALUE", short),
        Json::Array(_) => messages::request::unrecognized_collection_class(class),
        Json::Object(_) | Json::Null => messages::request::STRUCTURE_NOT_EXPECTED.to_string(),
    })
}

/// Base64 as DynamoDB's codec reads it: padded, canonical, in whole
/// quanta. Checked without decoding (the value is decoded once, later).
fn base64(text: &str) -> ApiResult<()> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(error(messages::request::base64_length(bytes.len())));
    }
    if let Some(c) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))) {
        return Err(error(messages::request::base64_character(c)));
    }
    // Padding only at the end, at most two; the bits the last character
    // carries past the final byte must be zero.
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..bytes.len() - pad];
    let canonical = pad <= 2
        && !body.contains(&b'=')
        && match pad {
            1 => body.last().is_some_and(|&c| sextet(c) & 0b11 == 0),
            2 => body.last().is_some_and(|&c| sextet(c) & 0b1111 == 0),
            _ => true,
        };
    if canonical { Ok(()) } else { Err(error(messages::request::BASE64_LAST_CHARACTER)) }
}

/// The six bits a Base64 character stands for (the alphabet is checked).
fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

impl Model {
    fn parse(text: &str) -> Option<Model> {
        let json: Json = serde_json::from_str(text).ok()?;
        let shapes = json.get("shapes")?.as_object()?;
        let ids: HashMap<&str, usize> = shapes.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        let id = |name: &Json| name.as_str().and_then(|n| ids.get(n).copied());
        let mut out = Vec::with_capacity(shapes.len());
        for (name, shape) in shapes {
            out.push(match shape {
                Json::String(kind) => match kind.as_str() {
                    "string" => Shape::String,
                    "boolean" => Shape::Boolean,
                    "integer" => Shape::Integer,
                    "long" => Shape::Long,
                    "double" => Shape::Double,
                    "blob" => Shape::Blob,
                    "timestamp" => Shape::Timestamp,
                    _ => return None,
                },
                Json::Array(parts) => match (parts.first()?.as_str()?, parts.get(1)?) {
                    ("list", member) => Shape::List(id(member)?),
                    ("map", value) => Shape::Map(id(value)?),
                    ("structure", Json::Object(members)) => Shape::Structure {
                        name: name.strip_prefix("streams.").unwrap_or(name).to_string(),
                        members: members.iter().map(|(m, s)| Some((m.clone(), id(s)?))).collect::<Option<_>>()?,
                    },
                    _ => return None,
                },
                _ => return None,
            });
        }
        let operations = json
            .get("operations")?
            .as_object()?
            .iter()
            .map(|(op, input)| Some((op.clone(), id(input)?)))
            .collect::<Option<_>>()?;
        Some(Model { shapes: out, operations })
    }

    /// The Java type DynamoDB's deserializer names for a shape.
    fn java(&self, id: usize) -> String {
        match &self.shapes[id] {
            Shape::String => "java.lang.String".into(),
            Shape::Boolean => "java.lang.Boolean".into(),
            Shape::Integer => "java.lang.Integer".into(),
            Shape::Long => "java.lang.Long".into(),
            Shape::Double => "java.lang.Double".into(),
            Shape::Blob => "java.nio.ByteBuffer".into(),
            Shape::Timestamp => "java.util.Date".into(),
            Shape::List(member) => format!("java.util.List<{}>", self.java(*member)),
            Shape::Map(value) => format!("java.util.Map<java.lang.String, {}>", self.java(*value)),
            Shape::Structure { name, .. } => format!("{PACKAGE}.{name}"),
        }
    }

    fn members(&self, members: &HashMap<String, usize>, obj: &mut Map<String, Json>) -> ApiResult<()> {
        for (name, value) in obj.iter_mut() {
            if let Some(&shape) = members.get(name) {
                self.value(shape, Place::Field, value)?;
            }
        }
        Ok(())
    }

    fn value(&self, id: usize, place: Place, v: &mut Json) -> ApiResult<()> {
        if v.is_null() {
            return Ok(());
        }
        match &self.shapes[id] {
            Shape::String => match v {
                Json::String(_) => Ok(()),
                other => Err(not_scalar(other, "String", "java.lang.String")),
            },
            Shape::Boolean => match v {
                Json::Bool(_) => Ok(()),
                Json::String(s) => {
                    let b = match s.to_ascii_lowercase().as_str() {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => return Err(error(messages::request::UNEXPECTED_TOKEN)),
                    };
                    *v = Json::Bool(b);
                    Ok(())
                }
                other => Err(not_scalar(other, "Boolean", "java.lang.Boolean")),
            },
            Shape::Integer | Shape::Long => {
                let (short, class) = match self.shapes[id] {
                    Shape::Integer => ("Integer", "java.lang.Integer"),
                    _ => ("Long", "java.lang.Long"),
                };
                match v {
                    Json::Number(n) => {
                        if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                            && f.is_finite()
                            && f.abs() < 9.2e18
                        {
                            *v = Json::from(f.trunc() as i64);
                        }
                        Ok(())
                    }
                    other => Err(not_scalar(other, short, class)),
                }
            }
            Shape::Double => match v {
                Json::Number(_) => Ok(()),
                other => Err(not_scalar(other, "Double", "java.lang.Double")),
            },
            // Epoch seconds, as the SDKs send a timestamp.
            Shape::Timestamp => match v {
                Json::Number(_) => Ok(()),
                other => Err(not_scalar(other, "Date", "java.util.Date")),
            },
            Shape::Blob => match v {
                Json::String(s) => base64(s),
                Json::Array(_) => Err(error(messages::request::unrecognized_collection_class("java.nio.ByteBuffer"))),
                Json::Object(_) => Err(error(messages::request::STRUCTURE_NOT_EXPECTED)),
                _ => Err(error(messages::request::BLOB_NOT_STRING)),
            },
            Shape::List(member) => match v {
                Json::Array(items) => items.iter_mut().try_for_each(|e| self.value(*member, Place::Element, e)),
                Json::Object(_) => Err(error(messages::request::STRUCTURE_NOT_EXPECTED)),
                _ => Err(error(match place {
                    Place::Field => messages::request::UNEXPECTED_FIELD_TYPE,
                    Place::Element => messages::request::PARAMETERIZED_TYPE_CAST,
                })),
            },
            Shape::Map(value) => match v {
                Json::Object(entries) => entries.values_mut().try_for_each(|e| self.value(*value, Place::Element, e)),
                Json::Array(_) => Err(error(messages::request::unrecognized_collection_type(self.java(id)))),
                _ => Err(error(match place {
                    Place::Field => messages::request::UNEXPECTED_FIELD_TYPE,
                    Place::Element => messages::request::PARAMETERIZED_TYPE_CAST,
                })),
            },
            Shape::Structure { members, .. } => match v {
                Json::Object(obj) => self.members(members, obj),
                Json::Array(_) => Err(error(messages::request::unrecognized_collection_class(self.java(id)))),
                _ => Err(error(match place {
                    Place::Field => messages::request::UNEXPECTED_FIELD_TYPE,
                    Place::Element => messages::request::UNEXPECTED_VALUE_TYPE,
                })),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(op: &str, body: Json) -> Result<Json, String> {
        let Json::Object(mut map) = body else { panic!("not an object") };
        match deserialize(op, false, &mut map) {
            Ok(()) => Ok(Json::Object(map)),
            Err(e) => {
                assert_eq!(e.kind, "com.amazon.coral.service#SerializationException");
                Err(e.message)
            }
        }
    }

    #[test]
    fn the_embedded_model_covers_every_operation() {
        let model = &*MODEL;
        for op in ["PutItem", "Query", "CreateTable", "BatchWriteItem", "ExecuteStatement", "streams.GetRecords"] {
            assert!(model.operations.contains_key(op), "{op}");
        }
    }

    #[test]
    fn wrong_types_answer_in_dynamodbs_words() {
        let key = "Unrecognized collection type java.util.Map<java.lang.String, \
                   com.amazonaws.dynamodb.v20120810.AttributeValue>";
        let writes = "Unrecognized collection type java.util.Map<java.lang.String, \
                      java.util.List<com.amazonaws.dynamodb.v20120810.WriteRequest>>";
        const CAST: &str = "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class \
java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class are in module \
java.base of loader 'bootstrap')";
        for (op, body, message) in [
            ("PutItem", json!({"TableName": true}), "TRUE_VALUE cannot be converted to String"),
            ("PutItem", json!({"TableName": 34.56}), "DECIMAL_VALUE cannot be converted to String"),
            ("PutItem", json!({"TableName": 23}), "NUMBER_VALUE cannot be converted to String"),
            ("PutItem", json!({"TableName": []}), "Unrecognized collection type class java.lang.String"),
            ("PutItem", json!({"TableName": {}}), "Start of structure or map found where not expected"),
            ("PutItem", json!({"Item": 23}), "Unexpected field type"),
            ("PutItem", json!({"Item": []}), key),
            ("PutItem", json!({"Item": {"a": 23}}), "Unexpected value type in payload"),
            (
                "PutItem",
                json!({"Item": {"a": []}}),
                "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
            ),
            ("PutItem", json!({"Item": {"a": {"SS": "x"}}}), "Unexpected field type"),
            ("PutItem", json!({"Item": {"a": {"SS": [1]}}}), "NUMBER_VALUE cannot be converted to String"),
            ("PutItem", json!({"Item": {"a": {"B": 1}}}), "only base-64-encoded strings are convertible to bytes"),
            (
                "PutItem",
                json!({"Item": {"a": {"B": "23456"}}}),
                "Base64 encoded length is expected a multiple of 4 bytes but found: 5",
            ),
            ("PutItem", json!({"Item": {"a": {"B": "+/+="}}}), "Invalid last non-pad Base64 character dectected"),
            ("PutItem", json!({"Item": {"a": {"B": "=+/="}}}), "Invalid last non-pad Base64 character dectected"),
            ("PutItem", json!({"Item": {"a": {"B": "AB=="}}}), "Invalid last non-pad Base64 character dectected"),
            ("PutItem", json!({"Item": {"a": {"B": "AAB="}}}), "Invalid last non-pad Base64 character dectected"),
            ("PutItem", json!({"Item": {"a": {"B": "A==="}}}), "Invalid last non-pad Base64 character dectected"),
            ("PutItem", json!({"Item": {"a": {"B": "A*=="}}}), "Invalid Base64 character: '*'"),
            ("PutItem", json!({"Item": {"a": {"BOOL": "23"}}}), "Unexpected token received from parser"),
            ("PutItem", json!({"Item": {"a": {"BOOL": 23}}}), "NUMBER_VALUE cannot be converted to Boolean"),
            ("PutItem", json!({"Item": {"a": {"L": [{"M": {"b": 5}}]}}}), "Unexpected value type in payload"),
            (
                "PutItem",
                json!({"Expected": {"a": {"Exists": []}}}),
                "Unrecognized collection type class java.lang.Boolean",
            ),
            ("Query", json!({"Limit": "23"}), "STRING_VALUE cannot be converted to Integer"),
            ("Query", json!({"Limit": false}), "FALSE_VALUE cannot be converted to Integer"),
            (
                "CreateTable",
                json!({"ProvisionedThroughput": {"WriteCapacityUnits": "23"}}),
                "STRING_VALUE cannot be converted to Long",
            ),
            ("CreateTable", json!({"ProvisionedThroughput": 23}), "Unexpected field type"),
            ("CreateTable", json!({"KeySchema": [5]}), "Unexpected value type in payload"),
            ("BatchWriteItem", json!({"RequestItems": []}), writes),
            ("BatchWriteItem", json!({"RequestItems": {"t": 5}}), CAST),
            ("BatchWriteItem", json!({"RequestItems": {"t": [{"PutRequest": 5}]}}), "Unexpected field type"),
            ("BatchGetItem", json!({"RequestItems": {"t": {"Keys": [5]}}}), CAST),
            ("BatchGetItem", json!({"RequestItems": {"t": {"Keys": [[]]}}}), key),
        ] {
            assert_eq!(check(op, body.clone()), Err(message.to_string()), "{op} {body}");
        }
    }

    #[test]
    fn base64_is_checked_as_a_strict_decoder_reads_it() {
        use base64::Engine;
        let strict = base64::engine::general_purpose::STANDARD;
        let alphabet = b"AB+/=QgwE";
        for i in 0..alphabet.len().pow(4) {
            let text: String = (0..4).map(|d| alphabet[i / alphabet.len().pow(d) % alphabet.len()] as char).collect();
            for t in [text.clone(), format!("AAAA{text}")] {
                assert_eq!(base64(&t).is_ok(), strict.decode(&t).is_ok(), "{t}");
            }
        }
        for len in 0..12u8 {
            let bytes: Vec<u8> = (0..len).map(|b| b.wrapping_mul(97).wrapping_add(len)).collect();
            assert!(base64(&strict.encode(&bytes)).is_ok());
        }
    }

    #[test]
    fn nulls_unknown_members_and_conversions_pass() {
        let body = check(
            "PutItem",
            json!({
                "TableName": null, "Whatever": 5,
                "Item": {"a": {"Q": 5}, "b": {"BOOL": "no"}, "c": {"NULL": "TRUE"}, "d": {"B": "AAE="}},
            }),
        )
        .unwrap();
        assert_eq!(body["Item"]["b"]["BOOL"], json!(false));
        assert_eq!(body["Item"]["c"]["NULL"], json!(true));
        assert_eq!(check("Query", json!({"Limit": 34.56})).unwrap()["Limit"], json!(34));
        assert!(check("NoSuchOperation", json!({"TableName": 5})).is_ok());
    }
}
