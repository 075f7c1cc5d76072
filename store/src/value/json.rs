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

/// Which bytes a JSON string escapes: control characters, `"` and `\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `b` as a JSON string of its base64, encoded in place.
fn write_b64(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    let start = out.len();
    // Padded base64 of n bytes is 4 * ceil(n / 3) characters.
    out.resize(start + b.len().div_ceil(3) * 4, 0);
    let written = B64.encode_slice(b, &mut out[start..]).expect("the buffer is sized for the encoding");
    out.truncate(start + written);
    out.push(b'"');
}

fn write_list<T>(out: &mut Vec<u8>, items: impl Iterator<Item = T>, mut each: impl FnMut(&mut Vec<u8>, T)) {
    out.push(b'[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, v);
    }
    out.push(b']');
}

/// Appends a value as DynamoDB JSON, byte for byte what [`value_to_json`]
/// serializes to, without building the tree.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::S(s) => {
            out.extend_from_slice(b"{\"S\":");
            write_str(out, s);
        }
        Value::N(n) => {
            out.extend_from_slice(b"{\"N\":\"");
            out.extend_from_slice(n.to_string().as_bytes());
            out.push(b'"');
        }
        Value::B(b) => {
            out.extend_from_slice(b"{\"B\":");
            write_b64(out, b);
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"{\"BOOL\":true" } else { b"{\"BOOL\":false" }),
        Value::Null => out.extend_from_slice(b"{\"NULL\":true"),
        Value::M(m) => {
            out.extend_from_slice(b"{\"M\":");
            write_item(out, m);
        }
        Value::L(l) => {
            out.extend_from_slice(b"{\"L\":");
            write_list(out, l.iter(), write_value);
        }
        Value::Ss(s) => {
            out.extend_from_slice(b"{\"SS\":");
            write_list(out, s.iter(), |o, e| write_str(o, e));
        }
        Value::Ns(s) => {
            out.extend_from_slice(b"{\"NS\":");
            write_list(out, s.iter(), |o, e| write_str(o, &e.to_string()));
        }
        Value::Bs(s) => {
            out.extend_from_slice(b"{\"BS\":");
            write_list(out, s.iter(), |o, e| write_b64(o, e));
        }
    }
    out.push(b'}');
}

/// Appends an item as DynamoDB JSON.
pub fn write_item(out: &mut Vec<u8>, item: &Item) {
    out.push(b'{');
    for (i, (k, v)) in item.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Number;

    #[test]
    fn writer_matches_the_tree() {
        let n = |s: &str| s.parse::<Number>().unwrap();
        let item: Item = [
            ("s".to_string(), Value::S("quote \" back \\ nl \n ctl \u{1} é".into())),
            ("n".to_string(), Value::N(n("-1.5e3"))),
            ("b".to_string(), Value::B(vec![0, 255])),
            ("t".to_string(), Value::Bool(true)),
            ("f".to_string(), Value::Bool(false)),
            ("z".to_string(), Value::Null),
            ("l".to_string(), Value::L(vec![Value::S("x".into()), Value::L(vec![])])),
            ("ss".to_string(), Value::Ss(["a".to_string(), "b".to_string()].into())),
            ("ns".to_string(), Value::Ns([n("1"), n("2")].into())),
            ("bs".to_string(), Value::Bs([vec![1u8], vec![2u8]].into())),
            ("m".to_string(), Value::M(Item::new())),
        ]
        .into_iter()
        .collect();
        let mut out = Vec::new();
        write_item(&mut out, &item);
        let parsed: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, item_to_json(&item));
        assert_eq!(String::from_utf8(out).unwrap(), item_to_json(&item).to_string());
    }
}
