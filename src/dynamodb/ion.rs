//! Amazon Ion text, as DynamoDB's exports and imports use it: one
//! top-level struct per item (`{Item:{...}}`), numbers as decimals, binaries
//! as blobs, sets as lists annotated `$dynamodb_SS`, `$dynamodb_NS` or
//! `$dynamodb_BS`. The writer writes that form; the reader reads the subset
//! of Ion text it needs (structs, lists, strings, symbols, numbers, blobs,
//! booleans, nulls, annotations, comments), bounded in depth.

use base64::Engine;
use tidepool_store::value::{Item, Number, Value};

/// Nesting the reader follows (DynamoDB items nest at most 32 levels).
const MAX_DEPTH: usize = 64;

fn write_name(out: &mut String, name: &str) {
    // A leading `$` would read as a symbol id (`$12`): quoted.
    let bare = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !matches!(name, "true" | "false" | "null" | "nan");
    if bare {
        out.push_str(name);
    } else {
        write_string(out, name);
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A DynamoDB number as an Ion decimal: `103.`, `1.5`, `12d3`.
fn write_number(out: &mut String, n: &Number) {
    let s = n.to_string();
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_start_matches('+'))),
        None => (s.as_str(), None),
    };
    out.push_str(mantissa);
    match exp {
        Some(e) => {
            out.push('d');
            out.push_str(e);
        }
        None if !mantissa.contains('.') => out.push('.'),
        None => {}
    }
}

/// `annotation[a,b,...]`, each element written by `each`.
fn write_list<T>(
    out: &mut String,
    annotation: &str,
    items: impl IntoIterator<Item = T>,
    each: impl Fn(&mut String, T),
) {
    out.push_str(annotation);
    out.push('[');
    for (i, e) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, e);
    }
    out.push(']');
}

fn write_blob(out: &mut String, b: &[u8]) {
    out.push_str(&format!("{{{{{}}}}}", base64::engine::general_purpose::STANDARD.encode(b)));
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::S(s) => write_string(out, s),
        Value::N(n) => write_number(out, n),
        Value::B(b) => write_blob(out, b),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        Value::L(l) => write_list(out, "", l, write_value),
        Value::M(m) => write_struct(out, m),
        Value::Ss(set) => write_list(out, "$dynamodb_SS::", set, |o, e| write_string(o, e)),
        Value::Ns(set) => write_list(out, "$dynamodb_NS::", set, write_number),
        Value::Bs(set) => write_list(out, "$dynamodb_BS::", set, |o, e| write_blob(o, e)),
    }
}

fn write_struct(out: &mut String, m: &Item) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_name(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

/// One line of an ION export: `$ion_1_0 {Item:{...}}`.
pub fn export_line(item: &Item) -> String {
    let mut out = String::from("$ion_1_0 {Item:");
    write_struct(&mut out, item);
    out.push_str("}\n");
    out
}

/// An Ion value as read, before it becomes a DynamoDB value.
#[derive(Debug, Clone, PartialEq)]
pub enum Ion {
    Null,
    Bool(bool),
    /// An int, decimal or float, as written.
    Number(String),
    String(String),
    Symbol(String),
    Blob(Vec<u8>),
    List(Vec<String>, Vec<Ion>),
    Struct(Vec<(String, Ion)>),
}

/// Reads Ion text: a stream of top-level values.
pub struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader { s: text.as_bytes(), pos: 0 }
    }

    fn err(&self, what: &str) -> String {
        format!("Ion text: {what} at byte {}", self.pos)
    }

    fn skip_space(&mut self) {
        loop {
            while self.pos < self.s.len() && (self.s[self.pos] as char).is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.s[self.pos..].starts_with(b"//") {
                while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else if self.s[self.pos..].starts_with(b"/*") {
                match self.s[self.pos + 2..].windows(2).position(|w| w == b"*/") {
                    Some(i) => self.pos += i + 4,
                    None => self.pos = self.s.len(),
                }
            } else {
                return;
            }
        }
    }

    /// The next top-level value, skipping version markers; `None` at the end.
    pub fn next_value(&mut self) -> Result<Option<Ion>, String> {
        loop {
            self.skip_space();
            if self.pos >= self.s.len() {
                return Ok(None);
            }
            let v = self.value(0)?;
            if matches!(&v, Ion::Symbol(s) if s.starts_with("$ion_")) {
                continue;
            }
            return Ok(Some(v));
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Ion, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let mut annotations = Vec::new();
        loop {
            self.skip_space();
            let start = self.pos;
            let v = self.atom(depth)?;
            self.skip_space();
            if self.s[self.pos..].starts_with(b"::") {
                match v {
                    Ion::Symbol(s) | Ion::String(s) if self.s[start] != b'"' => {
                        annotations.push(s);
                        self.pos += 2;
                        continue;
                    }
                    _ => return Err(self.err("an annotation that is not a symbol")),
                }
            }
            return Ok(match v {
                Ion::List(_, items) => Ion::List(annotations, items),
                other => other,
            });
        }
    }

    fn atom(&mut self, depth: usize) -> Result<Ion, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.err("a value is missing")),
            Some(b'{') if self.s[self.pos..].starts_with(b"{{") => self.blob(),
            Some(b'{') => self.structure(depth),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Ion::List(Vec::new(), items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {}
                        _ => return Err(self.err("a list needs ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Ion::String(self.quoted(b'"')?)),
            Some(b'\'') if self.s[self.pos..].starts_with(b"'''") => {
                // Long strings, one or more ('''a''' '''b''' concatenate).
                let mut out = String::new();
                while self.s[self.pos..].starts_with(b"'''") {
                    self.pos += 3;
                    let end = self.s[self.pos..]
                        .windows(3)
                        .position(|w| w == b"'''")
                        .ok_or_else(|| self.err("a long string is not closed"))?;
                    out.push_str(std::str::from_utf8(&self.s[self.pos..self.pos + end]).map_err(|e| e.to_string())?);
                    self.pos += end + 3;
                    self.skip_space();
                }
                Ok(Ion::String(out))
            }
            Some(b'\'') => Ok(Ion::Symbol(self.quoted(b'\'')?)),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric()
                        || matches!(self.s[self.pos], b'.' | b'-' | b'+' | b'_'))
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.pos]).map_err(|e| e.to_string())?;
                Ok(Ion::Number(text.replace('_', "")))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric() || matches!(self.s[self.pos], b'_' | b'$'))
                {
                    self.pos += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.pos]).map_err(|e| e.to_string())?;
                Ok(match word {
                    "true" => Ion::Bool(true),
                    "false" => Ion::Bool(false),
                    "null" => {
                        // `null.string` and the like are nulls too.
                        if self.peek() == Some(b'.') {
                            self.pos += 1;
                            while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphabetic() {
                                self.pos += 1;
                            }
                        }
                        Ion::Null
                    }
                    other => Ion::Symbol(other.to_string()),
                })
            }
            Some(_) => Err(self.err("an unexpected character")),
        }
    }

    fn blob(&mut self) -> Result<Ion, String> {
        self.pos += 2;
        let end =
            self.s[self.pos..].windows(2).position(|w| w == b"}}").ok_or_else(|| self.err("a blob is not closed"))?;
        let text: String = std::str::from_utf8(&self.s[self.pos..self.pos + end])
            .map_err(|e| e.to_string())?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        self.pos += end + 2;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Ion::Blob)
            .map_err(|e| self.err(&format!("a blob: {e}")))
    }

    fn structure(&mut self, depth: usize) -> Result<Ion, String> {
        self.pos += 1;
        let mut fields = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Ion::Struct(fields));
            }
            let name = match self.atom(depth + 1)? {
                Ion::Symbol(s) | Ion::String(s) => s,
                _ => return Err(self.err("a field name")),
            };
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.err("a field needs ':'"));
            }
            self.pos += 1;
            let v = self.value(depth + 1)?;
            fields.push((name, v));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.err("a struct needs ',' or '}'")),
            }
        }
    }

    fn quoted(&mut self, q: u8) -> Result<String, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Err(self.err("a string is not closed")) };
            self.pos += 1;
            match c {
                c if c == q => break,
                b'\\' => {
                    let Some(e) = self.peek() else { return Err(self.err("an escape is cut short")) };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'0' => out.push(0),
                        b'x' | b'u' | b'U' => {
                            let n = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex =
                                self.s.get(self.pos..self.pos + n).ok_or_else(|| self.err("an escape is cut short"))?;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).map_err(|e| e.to_string())?, 16)
                                .map_err(|e| e.to_string())?;
                            self.pos += n;
                            let ch = char::from_u32(code).ok_or_else(|| self.err("an escape is not a character"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

/// A set's members, refused if one repeats (as DynamoDB refuses).
fn unique(items: Vec<Ion>) -> Result<Vec<Ion>, String> {
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err("a set holds a member twice".into());
        }
    }
    Ok(items)
}

/// An Ion value as a DynamoDB value (the mapping of DynamoDB's exports).
pub fn to_value(v: Ion) -> Result<Value, String> {
    let number = |s: &str| -> Result<Number, String> {
        // Ion decimals: `103.`, `1.5d3`; floats `1e3`.
        let t = s.replace(['d', 'D'], "e");
        let t = t.strip_suffix('.').unwrap_or(&t).replace(".e", "e");
        t.parse::<Number>().map_err(|_| format!("'{s}' is not a number DynamoDB can hold"))
    };
    Ok(match v {
        Ion::Null => Value::Null,
        Ion::Bool(b) => Value::Bool(b),
        Ion::Number(n) => Value::N(number(&n)?),
        Ion::String(s) | Ion::Symbol(s) => Value::S(s),
        Ion::Blob(b) => Value::B(b),
        Ion::Struct(fields) => {
            let mut m = Item::new();
            for (k, v) in fields {
                m.insert(k, to_value(v)?);
            }
            Value::M(m)
        }
        Ion::List(annotations, items) => match annotations.first().map(String::as_str) {
            Some(a) if a.starts_with("$dynamodb_") && items.is_empty() => {
                return Err(format!("an empty set ({a}): DynamoDB sets may not be empty"));
            }
            Some("$dynamodb_SS") => Value::Ss(
                unique(items)?
                    .into_iter()
                    .map(|i| match i {
                        Ion::String(s) | Ion::Symbol(s) => Ok(s),
                        _ => Err("a string set holds a value that is not a string".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some("$dynamodb_NS") => Value::Ns(
                unique(items)?
                    .into_iter()
                    .map(|i| match i {
                        Ion::Number(n) => number(&n),
                        _ => Err("a number set holds a value that is not a number".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some("$dynamodb_BS") => Value::Bs(
                unique(items)?
                    .into_iter()
                    .map(|i| match i {
                        Ion::Blob(b) => Ok(b),
                        _ => Err("a binary set holds a value that is not a blob".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => Value::L(items.into_iter().map(to_value).collect::<Result<_, _>>()?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_round_trips_through_ion_text() {
        let text = r#"$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Id:103.,Price:2d1,
            InPublication:false,Pic:{{aGk=}},"odd name":null,List:[1.5,"x",{a:'sym'}]}}"#;
        let mut r = Reader::new(text);
        let Some(Ion::Struct(top)) = r.next_value().unwrap() else { panic!("a struct") };
        let Value::M(item) = to_value(top[0].1.clone()).unwrap() else { panic!("a map") };
        assert_eq!(item["Id"], Value::N("103".parse().unwrap()));
        assert_eq!(item["Price"], Value::N("20".parse().unwrap()));
        assert_eq!(item["Pic"], Value::B(b"hi".to_vec()));
        assert_eq!(item["odd name"], Value::Null);
        assert!(matches!(&item["Authors"], Value::Ss(s) if s.len() == 2));
        let line = export_line(&item);
        let mut again = Reader::new(&line);
        let Some(Ion::Struct(top2)) = again.next_value().unwrap() else { panic!("a struct") };
        assert_eq!(to_value(top2[0].1.clone()).unwrap(), Value::M(item));
        assert!(r.next_value().unwrap().is_none());
    }
}
