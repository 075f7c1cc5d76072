//! DynamoDB JSON read straight from its text into store values, without a
//! JSON tree: the fast path of ImportTable's `DYNAMODB_JSON` lines, where
//! the tree and its conversion ([`super::attr::item_from_json`]) were a
//! third of the parser's time (BENCHMARKS.md).
//!
//! It takes only what the tree path takes the same way: a line it does not
//! read (`None`) is read again by that path, which decides whether it is
//! taken and says why not. So it refuses, rather than judges, anything
//! unusual: a member beside `Item`, a repeated name, an AttributeValue with
//! other or several members, a `null`, a value [`super::attr`] would refuse.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tidepool_store::value::{Item, MAX_NESTING_DEPTH, Value};

use super::attr::{check_attribute_name, number};

/// The item of a DynamoDB JSON export line (`{"Item": {...}}`), if this
/// reader takes it; `None` leaves the line to [`super::attr`]'s reading.
pub fn export_line(text: &str) -> Option<Item> {
    let mut de = serde_json::Deserializer::from_str(text);
    let item = de.deserialize_map(Line).ok()?;
    de.end().ok()?;
    Some(item)
}

/// A string, borrowed from the line unless it has escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Not read here: the tree path reads it.
fn refuse<E: de::Error>() -> E {
    E::custom("left to the tree path")
}

struct Line;

impl<'de> Visitor<'de> for Line {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an export line")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut item = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if key.0 != "Item" || item.is_some() {
                return Err(refuse());
            }
            item = Some(map.next_value_seed(Members { depth: None })?);
        }
        item.ok_or_else(refuse)
    }
}

/// A map of attribute names to values: an item's (`depth` `None`, names
/// at its top) or an `M`'s at `depth`.
struct Members {
    depth: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Members {
    type Value = BTreeMap<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members {
    type Value = BTreeMap<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("attribute values by name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        let depth = self.depth.map_or(0, |d| d + 1);
        while let Some(name) = map.next_key::<String>()? {
            check_attribute_name(&name, self.depth.is_none()).map_err(|_| refuse())?;
            let value = map.next_value_seed(Attr { depth })?;
            if out.insert(name, value).is_some() {
                return Err(refuse());
            }
        }
        Ok(out)
    }
}

/// One AttributeValue at `depth` (an item's attribute is at 0).
struct Attr {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Attr {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Attr {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AttributeValue")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(tag) = map.next_key::<Text<'de>>()? else { return Err(refuse()) };
        let value = match &*tag.0 {
            "S" => Value::S(map.next_value()?),
            "N" => Value::N(number(&map.next_value::<Text<'de>>()?.0).map_err(|_| refuse())?),
            "B" => Value::B(binary(&map.next_value::<Text<'de>>()?.0)?),
            "BOOL" => Value::Bool(map.next_value()?),
            "NULL" if map.next_value::<bool>()? => Value::Null,
            "M" | "L" => {
                let value = if tag.0 == "M" {
                    Value::M(map.next_value_seed(Members { depth: Some(self.depth) })?)
                } else {
                    Value::L(map.next_value_seed(List { depth: self.depth + 1 })?)
                };
                // DynamoDB's 32 levels (`attr::typed`): a non-empty map or
                // list whose members would be past them.
                let members = match &value {
                    Value::M(m) => m.len(),
                    Value::L(l) => l.len(),
                    _ => 0,
                };
                if members > 0 && self.depth + 2 > MAX_NESTING_DEPTH {
                    return Err(refuse());
                }
                value
            }
            "SS" => Value::Ss(set(map.next_value::<Vec<String>>()?, Ok)?),
            "NS" => Value::Ns(set(map.next_value::<Vec<Text<'de>>>()?, |s| number(&s.0).map_err(|_| refuse()))?),
            "BS" => Value::Bs(set(map.next_value::<Vec<Text<'de>>>()?, |s| binary(&s.0))?),
            _ => return Err(refuse()),
        };
        // One member only: a second (even a `null` one, which the tree path
        // ignores) is left to that path.
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(refuse());
        }
        Ok(value)
    }
}

/// An `L`'s members, each at `depth`.
struct List {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for List {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of AttributeValues")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Attr { depth: self.depth })? {
            out.push(v);
        }
        Ok(out)
    }
}

fn binary<E: de::Error>(s: &str) -> Result<Vec<u8>, E> {
    B64.decode(s).map_err(|_| refuse())
}

/// A set: not empty, no member twice (after parsing: `1` and `1.0` are the
/// same number).
fn set<T, M: Ord, E: de::Error>(members: Vec<T>, parse: impl Fn(T) -> Result<M, E>) -> Result<BTreeSet<M>, E> {
    if members.is_empty() {
        return Err(refuse());
    }
    let mut out = BTreeSet::new();
    for m in members {
        if !out.insert(parse(m)?) {
            return Err(refuse());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    /// What the tree path makes of a line, as `import.rs` reads it.
    fn tree(text: &str) -> Option<Item> {
        let mut v: Json = serde_json::from_str(text).ok()?;
        let item = v.as_object_mut()?.remove("Item")?;
        super::super::attr::item_from_json(&item).ok()
    }

    #[test]
    fn takes_what_the_tree_path_takes_and_the_same_way() {
        let deep = |n: usize| {
            let mut v = r#"{"S":"x"}"#.to_string();
            for _ in 0..n {
                v = format!(r#"{{"L":[{v}]}}"#);
            }
            format!(r#"{{"Item":{{"a":{v}}}}}"#)
        };
        let lines = [
            r#"{"Item":{"pk":{"S":"a\"b\u00e9"},"n":{"N":"1.50"},"b":{"B":"AAE="},"t":{"BOOL":true},"z":{"NULL":true}}}"#,
            r#"{"Item":{"m":{"M":{"a":{"L":[{"N":"1"},{"SS":["b","a"]}]},"":{"S":""}}},"ns":{"NS":["2","1"]},"bs":{"BS":["AQ=="]}}}"#,
            r#"  {"Item":{"pk":{"S":"x"}}}  "#,
            r#"{"Item":{}}"#,
            // Refused by both, or taken by the tree path only.
            r#"{"Item":{"pk":{"S":"x"}},"Other":1}"#,
            r#"{"Item":{"pk":{"S":"x"},"pk":{"S":"y"}}}"#,
            r#"{"Item":{"pk":{"S":"x","N":null}}}"#,
            r#"{"Item":{"pk":{"S":"x","N":"1"}}}"#,
            r#"{"Item":{"pk":{"Q":"x"}}}"#,
            r#"{"Item":{"pk":{}}}"#,
            r#"{"Item":{"pk":{"NULL":false}}}"#,
            r#"{"Item":{"pk":{"N":"x"}}}"#,
            r#"{"Item":{"pk":{"N":"1e999"}}}"#,
            r#"{"Item":{"pk":{"B":"!!"}}}"#,
            r#"{"Item":{"pk":{"SS":[]}}}"#,
            r#"{"Item":{"pk":{"NS":["1","1.0"]}}}"#,
            r#"{"Item":{"pk":{"SS":["a",null]}}}"#,
            r#"{"Item":{"":{"S":"x"}}}"#,
            r#"{"Item":{"pk":{"S":1}}}"#,
            r#"{"Item":{"pk":{"S":"x"}}} trailing"#,
            r#"{"Item":[]}"#,
            r#"{"Nope":{}}"#,
            r#"[1]"#,
            "",
            &deep(30),
            &deep(31),
            &deep(32),
            &deep(40),
        ];
        for line in lines {
            let fast = export_line(line);
            let slow = tree(line);
            if let Some(item) = &fast {
                assert_eq!(Some(item), slow.as_ref(), "{line}");
            }
            if slow.is_none() {
                assert_eq!(fast, None, "{line}");
            }
        }
        assert!(export_line(lines[0]).is_some() && export_line(lines[1]).is_some());
        assert!(export_line(&deep(30)).is_some(), "a list 31 levels deep is read here");
    }
}
