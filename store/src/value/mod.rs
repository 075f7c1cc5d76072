//! Attribute values, items, DynamoDB's size accounting, and the on-disk and
//! order-preserving key encodings.

mod codec;
mod number;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub mod json;

pub(crate) use codec::with_scratch;
pub use codec::{
    CodecError, decode_item, decode_key_component, encode_entries, encode_item, encode_item_value,
    encode_key_component, escape_bytes, key_component_len,
};
pub use number::{MAX_DIGITS, Number, NumberError};

/// An item: attribute name to value.
pub type Item = BTreeMap<String, Value>;

/// Maximum item size DynamoDB accepts, in bytes (names plus values).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;
/// Maximum nesting depth of maps and lists in a document.
pub const MAX_NESTING_DEPTH: usize = 32;
/// Maximum byte length of a partition key value.
pub const MAX_PARTITION_KEY_LEN: usize = 2048;
/// Maximum byte length of a sort key value.
pub const MAX_SORT_KEY_LEN: usize = 1024;

/// One DynamoDB attribute value. Sets are kept sorted so equality ignores the
/// order a client sent them in.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, Value>),
    L(Vec<Value>),
    Ss(BTreeSet<String>),
    Ns(BTreeSet<Number>),
    Bs(BTreeSet<Vec<u8>>),
}

/// The type tag of a value, as written in the wire format (`"S"`, `"NS"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum AttrType {
    S,
    N,
    B,
    Bool,
    Null,
    M,
    L,
    Ss,
    Ns,
    Bs,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::S => "S",
            AttrType::N => "N",
            AttrType::B => "B",
            AttrType::Bool => "BOOL",
            AttrType::Null => "NULL",
            AttrType::M => "M",
            AttrType::L => "L",
            AttrType::Ss => "SS",
            AttrType::Ns => "NS",
            AttrType::Bs => "BS",
        }
    }

    pub fn parse(s: &str) -> Option<AttrType> {
        Some(match s {
            "S" => AttrType::S,
            "N" => AttrType::N,
            "B" => AttrType::B,
            "BOOL" => AttrType::Bool,
            "NULL" => AttrType::Null,
            "M" => AttrType::M,
            "L" => AttrType::L,
            "SS" => AttrType::Ss,
            "NS" => AttrType::Ns,
            "BS" => AttrType::Bs,
            _ => return None,
        })
    }

    /// Key attributes and index key attributes may only be S, N or B.
    pub fn is_scalar_key_type(self) -> bool {
        matches!(self, AttrType::S | AttrType::N | AttrType::B)
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Value {
    pub fn attr_type(&self) -> AttrType {
        match self {
            Value::S(_) => AttrType::S,
            Value::N(_) => AttrType::N,
            Value::B(_) => AttrType::B,
            Value::Bool(_) => AttrType::Bool,
            Value::Null => AttrType::Null,
            Value::M(_) => AttrType::M,
            Value::L(_) => AttrType::L,
            Value::Ss(_) => AttrType::Ss,
            Value::Ns(_) => AttrType::Ns,
            Value::Bs(_) => AttrType::Bs,
        }
    }

    /// Size in bytes as DynamoDB bills it (the value only, not its name).
    pub fn size(&self) -> usize {
        match self {
            Value::S(s) => s.len(),
            Value::N(n) => n.billed_size(),
            Value::B(b) => b.len(),
            Value::Bool(_) | Value::Null => 1,
            // A document costs 3 bytes plus 1 byte per element.
            Value::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Value::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Value::Ss(s) => s.iter().map(String::len).sum(),
            Value::Ns(s) => s.iter().map(Number::billed_size).sum(),
            Value::Bs(s) => s.iter().map(Vec::len).sum(),
        }
    }

    /// Levels of the document, DynamoDB's way: the value itself is the
    /// first, and each map or list with members adds one. At most
    /// [`MAX_NESTING_DEPTH`].
    pub fn levels(&self) -> usize {
        match self {
            Value::M(m) => 1 + m.values().map(Value::levels).max().unwrap_or(0),
            Value::L(l) => 1 + l.iter().map(Value::levels).max().unwrap_or(0),
            _ => 1,
        }
    }

    /// Depth of nested documents: a scalar is 0, a map or list is 1 plus the
    /// depth of its deepest element.
    pub fn depth(&self) -> usize {
        match self {
            Value::M(m) => 1 + m.values().map(Value::depth).max().unwrap_or(0),
            Value::L(l) => 1 + l.iter().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::S(s) => write!(f, "S({s:?})"),
            Value::N(n) => write!(f, "N({n})"),
            Value::B(b) => write!(f, "B({b:?})"),
            Value::Bool(b) => write!(f, "BOOL({b})"),
            Value::Null => f.write_str("NULL"),
            Value::M(m) => f.debug_map().entries(m).finish(),
            Value::L(l) => f.debug_list().entries(l).finish(),
            Value::Ss(s) => write!(f, "SS{s:?}"),
            Value::Ns(s) => write!(f, "NS{s:?}"),
            Value::Bs(s) => write!(f, "BS{s:?}"),
        }
    }
}

/// Size of an item as DynamoDB bills it: each attribute name plus its value.
pub fn item_size(item: &Item) -> usize {
    entries_size(item.iter().map(|(k, v)| (k.as_str(), v)))
}

/// [`item_size`] of the item these attributes would make.
pub fn entries_size<'a>(entries: impl Iterator<Item = (&'a str, &'a Value)>) -> usize {
    entries.map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodb() {
        let mut item = Item::new();
        item.insert("id".into(), Value::S("abc".into()));
        item.insert("n".into(), Value::N("12345".parse().unwrap()));
        item.insert("ok".into(), Value::Bool(true));
        // "id"+3, "n"+ (5 digits -> 3+1), "ok"+1
        assert_eq!(item_size(&item), 2 + 3 + 1 + 4 + 2 + 1);
        let m = Value::M(BTreeMap::from([("a".to_string(), Value::Null)]));
        assert_eq!(m.size(), 3 + 1 + 1 + 1);
        assert_eq!(Value::L(vec![Value::Null, Value::Null]).size(), 3 + 2 + 2);
        assert_eq!(m.depth(), 1);
    }

    /// Number sizes as the live service bills them (the conformance suite's
    /// captures).
    #[test]
    fn number_sizes_follow_dynamodb() {
        let cases = [
            ("0", 1),
            ("-0", 1),
            ("1", 2),
            ("12", 2),
            ("123", 3),
            ("1234", 3),
            ("0042", 2),
            ("100", 2),
            ("1010", 3),
            ("0.0000001", 2),
            ("1E125", 2),
            ("1E-100", 2),
            ("15", 2),
            ("0.15", 2),
            ("123456", 4),
            ("1.5", 3),
            ("1.2", 3),
            ("1.200", 3),
            ("1.234", 4),
            ("3.14159", 5),
            ("100.5", 4),
            ("-42", 3),
            ("12345678901234567890123456789012345678", 20),
        ];
        for (text, size) in cases {
            assert_eq!(Value::N(text.parse().unwrap()).size(), size, "{text}");
        }
    }
}
