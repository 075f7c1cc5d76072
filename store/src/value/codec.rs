//! Binary encodings: a compact item format for values on disk, and an
//! order-preserving, self-delimiting encoding for key attributes.
//!
//! Item format: `varint(count)` then, per attribute, `varint(len) name value`.
//! A value is a tag byte followed by its payload. Numbers are stored as their
//! canonical text, which round-trips exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::{AttrType, Item, MAX_NESTING_DEPTH, Number, Value};

/// A stored item could not be decoded: the disk holds something we did not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt item encoding at byte {offset}: {what}")]
pub struct CodecError {
    pub offset: usize,
    pub what: &'static str,
}

const T_S: u8 = 1;
const T_N: u8 = 2;
const T_B: u8 = 3;
const T_FALSE: u8 = 4;
const T_TRUE: u8 = 5;
const T_NULL: u8 = 6;
const T_M: u8 = 7;
const T_L: u8 = 8;
const T_SS: u8 = 9;
const T_NS: u8 = 10;
const T_BS: u8 = 11;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::S(s) => {
            out.push(T_S);
            put_bytes(out, s.as_bytes());
        }
        Value::N(n) => {
            out.push(T_N);
            put_bytes(out, n.to_string().as_bytes());
        }
        Value::B(b) => {
            out.push(T_B);
            put_bytes(out, b);
        }
        Value::Bool(b) => out.push(if *b { T_TRUE } else { T_FALSE }),
        Value::Null => out.push(T_NULL),
        Value::M(m) => {
            out.push(T_M);
            encode_map(out, m);
        }
        Value::L(l) => {
            out.push(T_L);
            put_varint(out, l.len() as u64);
            for e in l {
                encode_value(out, e);
            }
        }
        Value::Ss(s) => {
            out.push(T_SS);
            put_varint(out, s.len() as u64);
            for e in s {
                put_bytes(out, e.as_bytes());
            }
        }
        Value::Ns(s) => {
            out.push(T_NS);
            put_varint(out, s.len() as u64);
            for e in s {
                put_bytes(out, e.to_string().as_bytes());
            }
        }
        Value::Bs(s) => {
            out.push(T_BS);
            put_varint(out, s.len() as u64);
            for e in s {
                put_bytes(out, e);
            }
        }
    }
}

fn encode_map(out: &mut Vec<u8>, m: &BTreeMap<String, Value>) {
    encode_pairs(out, m.len(), m.iter().map(|(k, v)| (k.as_str(), v)));
}

/// A map of `len` attributes, in the order given.
fn encode_pairs<'a>(out: &mut Vec<u8>, len: usize, pairs: impl Iterator<Item = (&'a str, &'a Value)>) {
    put_varint(out, len as u64);
    for (k, v) in pairs {
        put_bytes(out, k.as_bytes());
        encode_value(out, v);
    }
}

/// Encodes some attributes as an item, without building one: `entries`
/// sorted by name, as an item's map would hold them.
pub fn encode_entries(entries: &[(&str, &Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + super::entries_size(entries.iter().copied()) * 2);
    encode_pairs(&mut out, entries.len(), entries.iter().copied());
    out
}

/// Runs `f` on an empty buffer the thread keeps between calls, or on a new
/// one when that is in use or the thread is exiting. Buffers grown past
/// 64 KB are not kept (items reach 400 KB).
pub(crate) fn with_scratch<T>(f: impl Fn(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    const KEEP_BYTES: usize = 64 * 1024;
    let kept = SCRATCH.try_with(|scratch| {
        let mut buf = scratch.try_borrow_mut().ok()?;
        buf.clear();
        let out = f(&mut buf);
        if buf.capacity() > KEEP_BYTES {
            *buf = Vec::new();
        }
        Some(out)
    });
    kept.ok().flatten().unwrap_or_else(|| f(&mut Vec::new()))
}

/// Encodes an item for storage.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_map(&mut out, item);
    out
}

/// Encodes an item as a store value, allocated once at its final size: the
/// encoding goes through a buffer the thread keeps, rather than a vector
/// that grows by doubling and is then copied into the value.
pub fn encode_item_value(item: &Item) -> fjall::Slice {
    with_scratch(|buf| {
        encode_map(buf, item);
        fjall::Slice::from(buf.as_slice())
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> CodecError {
        CodecError { offset: self.pos, what }
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let len = usize::try_from(self.varint()?).map_err(|_| self.err("length overflow"))?;
        let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| self.err("length past end"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err("invalid utf-8"))
    }

    fn number(&mut self) -> Result<Number, CodecError> {
        let b = self.bytes()?;
        std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| self.err("invalid number"))
    }

    /// A count of elements, bounded by the bytes left (each takes at least one).
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(self.err("count past end"));
        }
        Ok(n as usize)
    }

    fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        Ok(match self.byte()? {
            T_S => Value::S(self.string()?),
            T_N => Value::N(self.number()?),
            T_B => Value::B(self.bytes()?.to_vec()),
            T_FALSE => Value::Bool(false),
            T_TRUE => Value::Bool(true),
            T_NULL => Value::Null,
            T_M => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(self.err("nesting too deep"));
                }
                Value::M(self.map(depth + 1)?)
            }
            T_L => {
                if depth >= MAX_NESTING_DEPTH {
                    return Err(self.err("nesting too deep"));
                }
                let n = self.count()?;
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Value::L(l)
            }
            T_SS => {
                let n = self.count()?;
                let mut s = BTreeSet::new();
                for _ in 0..n {
                    s.insert(self.string()?);
                }
                Value::Ss(s)
            }
            T_NS => {
                let n = self.count()?;
                let mut s = BTreeSet::new();
                for _ in 0..n {
                    s.insert(self.number()?);
                }
                Value::Ns(s)
            }
            T_BS => {
                let n = self.count()?;
                let mut s = BTreeSet::new();
                for _ in 0..n {
                    s.insert(self.bytes()?.to_vec());
                }
                Value::Bs(s)
            }
            _ => return Err(CodecError { offset: self.pos - 1, what: "unknown type tag" }),
        })
    }

    fn map(&mut self, depth: usize) -> Result<BTreeMap<String, Value>, CodecError> {
        let n = self.count()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth)?;
            m.insert(k, v);
        }
        Ok(m)
    }
}

/// Decodes an item written by [`encode_item`].
pub fn decode_item(buf: &[u8]) -> Result<Item, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    let item = r.map(0)?;
    if r.pos != buf.len() {
        return Err(r.err("trailing bytes"));
    }
    Ok(item)
}

/// Appends an order-preserving, self-delimiting encoding of a key value
/// (S, N or B). Byte order of encodings equals DynamoDB's sort order within a
/// type: UTF-8 bytes for S, raw bytes for B, numeric for N. Strings and
/// binaries escape 0x00 as `00 FF` and end with `00 01`, so a shorter value
/// sorts before any longer value it prefixes. Returns `false` for a value of
/// another type (which cannot be a key).
pub fn encode_key_component(v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::S(s) => escape_bytes(s.as_bytes(), out, true),
        Value::B(b) => escape_bytes(b, out, true),
        Value::N(n) => n.encode_ordered(out),
        _ => return false,
    }
    true
}

/// Length of the first key component at the start of `bytes`, encoded by
/// [`encode_key_component`] from a value of type `ty`; `None` if `bytes`
/// holds no complete component.
pub fn key_component_len(ty: AttrType, bytes: &[u8]) -> Option<usize> {
    match ty {
        AttrType::N => match bytes.first()? {
            0x80 => Some(1),
            // Tag, exponent, digits, then the terminator: 0x00, or 0xFF once
            // inverted for negatives. Digits are never either.
            0xC0 => bytes.iter().skip(2).position(|b| *b == 0x00).map(|p| p + 3),
            0x40 => bytes.iter().skip(2).position(|b| *b == 0xFF).map(|p| p + 3),
            _ => None,
        },
        AttrType::S | AttrType::B => {
            let mut i = 0;
            while i + 1 < bytes.len() {
                match (bytes[i], bytes[i + 1]) {
                    (0x00, 0x01) => return Some(i + 2),
                    (0x00, _) => i += 2,
                    _ => i += 1,
                }
            }
            None
        }
        _ => None,
    }
}

/// Decodes the key component [`encode_key_component`] wrote at the start
/// of `bytes` from a value of type `ty`: the value and the bytes it took.
pub fn decode_key_component(ty: AttrType, bytes: &[u8]) -> Option<(Value, usize)> {
    match ty {
        AttrType::N => Number::decode_ordered(bytes).map(|(n, len)| (Value::N(n), len)),
        AttrType::S | AttrType::B => {
            let len = key_component_len(ty, bytes)?;
            let mut raw = Vec::with_capacity(len - 2);
            let mut i = 0;
            while i < len - 2 {
                raw.push(bytes[i]);
                // An escaped 0x00 is `00 FF`.
                i += if bytes[i] == 0 { 2 } else { 1 };
            }
            let value = match ty {
                AttrType::S => Value::S(String::from_utf8(raw).ok()?),
                _ => Value::B(raw),
            };
            Some((value, len))
        }
        _ => None,
    }
}

/// The escaped form of a string or binary without its terminator: the byte
/// prefix shared by the encodings of every value that starts with `b`, used
/// for `begins_with` key conditions.
pub fn escape_bytes(b: &[u8], out: &mut Vec<u8>, terminate: bool) {
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    if terminate {
        out.extend_from_slice(&[0x00, 0x01]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let num = (any::<i64>(), -20i32..20).prop_map(|(m, e)| Value::N(format!("{m}e{e}").parse().unwrap()));
        let leaf = prop_oneof![
            ".*".prop_map(Value::S),
            num,
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::B),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            proptest::collection::btree_set(".*", 1..4).prop_map(Value::Ss),
            proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..4), 1..4).prop_map(Value::Bs),
            proptest::collection::btree_set(any::<i32>(), 1..4)
                .prop_map(|s| Value::Ns(s.into_iter().map(|i| Number::from(i64::from(i))).collect())),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::L),
                proptest::collection::btree_map(".*", inner, 0..4).prop_map(Value::M),
            ]
        })
    }

    proptest! {
        #[test]
        fn items_round_trip(item in proptest::collection::btree_map("[a-z]{1,5}", arb_value(), 0..6)) {
            let bytes = encode_item(&item);
            prop_assert_eq!(&decode_item(&bytes).unwrap(), &item);
            // Entries in name order encode as the item holding them.
            let entries: Vec<(&str, &Value)> = item.iter().map(|(k, v)| (k.as_str(), v)).collect();
            prop_assert_eq!(encode_entries(&entries), bytes.clone());
            prop_assert_eq!(&encode_item_value(&item)[..], &bytes[..]);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_item(&bytes);
        }

        #[test]
        fn key_encoding_orders_strings_and_binaries(a in proptest::collection::vec(any::<u8>(), 0..6),
                                                    b in proptest::collection::vec(any::<u8>(), 0..6)) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            encode_key_component(&Value::B(a.clone()), &mut ea);
            encode_key_component(&Value::B(b.clone()), &mut eb);
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
        }

        #[test]
        fn key_component_len_finds_the_end(a in proptest::collection::vec(any::<u8>(), 1..6), m in any::<i64>(), e in -5i32..5,
                                           tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let num: Number = format!("{m}e{e}").parse().unwrap();
            for (ty, v) in [(AttrType::B, Value::B(a.clone())), (AttrType::N, Value::N(num))] {
                let mut enc = Vec::new();
                encode_key_component(&v, &mut enc);
                let len = enc.len();
                enc.extend_from_slice(&tail);
                prop_assert_eq!(key_component_len(ty, &enc), Some(len));
            }
        }

        #[test]
        fn key_components_decode(s in ".{0,6}", b in proptest::collection::vec(any::<u8>(), 0..6), m in any::<i64>(),
                                 e in -130i32..100, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let num: Number = format!("{m}e{e}").parse().unwrap();
            for (ty, v) in [(AttrType::S, Value::S(s.clone())), (AttrType::B, Value::B(b.clone())), (AttrType::N, Value::N(num))] {
                let mut enc = Vec::new();
                encode_key_component(&v, &mut enc);
                let len = enc.len();
                enc.extend_from_slice(&tail);
                prop_assert_eq!(decode_key_component(ty, &enc), Some((v, len)));
            }
        }

        #[test]
        fn key_encoding_orders_numbers(a in any::<i64>(), ea in -5i32..5, b in any::<i64>(), eb in -5i32..5) {
            let na: Number = format!("{a}e{ea}").parse().unwrap();
            let nb: Number = format!("{b}e{eb}").parse().unwrap();
            let (mut xa, mut xb) = (Vec::new(), Vec::new());
            na.encode_ordered(&mut xa);
            nb.encode_ordered(&mut xb);
            prop_assert_eq!(na.cmp(&nb), xa.cmp(&xb));
        }
    }
}
