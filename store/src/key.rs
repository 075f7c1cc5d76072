//! Physical keys. Items live in their table's keyspace under
//! `enc(hash) ++ enc(range)`; index entries live in the table's index
//! keyspace under `index_id(4, BE) ++ enc(index hash) ++ enc(index range) ++
//! enc(table hash) ++ enc(table range)`. `enc` is the order-preserving,
//! self-delimiting encoding of [`encode_key_component`], so a query is a
//! range scan and `begins_with` is a prefix scan.

use crate::table::{IndexDef, KeySchema};
use crate::value::{Item, encode_key_component};

/// Encodes the primary key of `item` (which must hold the key attributes).
pub fn item_key(schema: &KeySchema, item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    for name in schema.names() {
        if let Some(v) = item.get(name) {
            encode_key_component(v, &mut out);
        }
    }
    out
}

/// The key attributes an item key (written by [`item_key`]) encodes, or
/// `None` if `raw` is not one.
pub fn item_key_attrs(schema: &KeySchema, raw: &[u8]) -> Option<Item> {
    let mut keys = Item::new();
    let mut at = 0;
    for attr in schema.attrs() {
        let (v, len) = crate::value::decode_key_component(attr.ty, raw.get(at..)?)?;
        keys.insert(attr.name.clone(), v);
        at += len;
    }
    (at == raw.len()).then_some(keys)
}

/// The index entry key for `item`, or `None` when the item lacks an index key
/// attribute (indexes are sparse) or has it with another type.
pub fn index_key(index: &IndexDef, table: &KeySchema, item: &Item) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(&index.id.to_be_bytes());
    // A multi-attribute key is its attributes' encodings one after another:
    // each is self-delimiting and order-preserving, so entries sort by the
    // partition attributes, then by the sort attributes compared in order,
    // and a prefix of them is a prefix of the entry key.
    for attr in index.key_schema.attrs() {
        let v = item.get(&attr.name)?;
        // An item whose value cannot key the index is not in it: writes
        // refuse such values up front, and an index added to a table that
        // holds some skips those items, as DynamoDB's backfill does.
        if v.attr_type() != attr.ty
            || crate::table::check_key_value(&attr.name, v, index.key_schema.is_hash(&attr.name), Some(&index.name))
                .is_err()
        {
            return None;
        }
        encode_key_component(v, &mut out);
    }
    for name in table.names() {
        encode_key_component(item.get(name)?, &mut out);
    }
    Some(out)
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when no such string exists (all bytes 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_of_prefix() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF]), None);
    }
}
