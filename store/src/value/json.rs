//! Values rendered as DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, ...), the
//! shape of items in the API, in stream records and in trigger events.
//! Parsing, with the API's validation, is the server's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};

use super::{Item, Value};

/// Renders a value as DynamoDB JSON.
pub fn value_to_json(v: &Value) -> Json {
    let mut o = Map::with_capacity(1);
    let (tag, inner) = match v {
        Value::S(s) => ("S", Json::String(s.clone())),
        Value::N(n) => ("N", Json::String(n.to_string())),
        Value::B(b) => ("B", Json::String(B64.encode(b))),
        Value::Bool(b) => ("BOOL", Json::Bool(*b)),
        Value::Null => ("NULL", Json::Bool(true)),
        Value::M(m) => ("M", item_to_json(m)),
        Value::L(l) => ("L", Json::Array(l.iter().map(value_to_json).collect())),
        Value::Ss(s) => ("SS", Json::Array(s.iter().map(|e| Json::String(e.clone())).collect())),
        Value::Ns(s) => ("NS", Json::Array(s.iter().map(|e| Json::String(e.to_string())).collect())),
        Value::Bs(s) => ("BS", Json::Array(s.iter().map(|e| Json::String(B64.encode(e))).collect())),
    };
    o.insert(tag.to_string(), inner);
    Json::Object(o)
}

/// Renders an item as DynamoDB JSON.
pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}
