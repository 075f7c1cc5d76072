//! Seed items for a table the manifest creates (`seed = "items.json"`):
//! read from JSON or CSV and turned into DynamoDB JSON items.
//!
//! - **JSON**: an array of items, or an object with `Items` (what `aws
//!   dynamodb scan` prints, so a scan of one table seeds another). An item
//!   is DynamoDB JSON (`{"id": {"S": "a"}}`) when every value is one typed
//!   value, else plain JSON (`{"id": "a", "n": 1}`: strings are `S`,
//!   numbers `N`, booleans `BOOL`, null `NULL`, arrays `L`, objects `M`).
//! - Key attributes take the type the table declares (`"7"` for an `N`
//!   key is the number 7).
//! - **CSV** (a `.csv` file): a header row of attribute names, then one item
//!   per row. Key attributes take the type the table declares; other cells
//!   are `N` when they read as a number, else `S`; an empty cell is no
//!   attribute. Fields may be quoted (`"a, b"`, `""` for a quote). A
//!   byte-order mark at the start is skipped.
//!
//! Seed items are written as any others: a table with a stream gets their
//! records, and a mapping that starts at `TRIM_HORIZON` sees them.

use std::path::Path;

use serde_json::{Map, Value as Json, json};

/// The largest seed file read: seeding is for fixtures, not bulk loads
/// (`BatchWriteItem` or an import is).
pub const MAX_SEED_BYTES: u64 = 64 * 1024 * 1024;

/// The type tags of DynamoDB JSON.
const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// The items of seed file `path`. `key_types` gives the declared type (`S`,
/// `N` or `B`) of each key attribute, for CSV cells.
pub fn read(path: &Path, key_types: &[(String, String)]) -> Result<Vec<Json>, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if size > MAX_SEED_BYTES {
        return Err(format!("{}: {size} bytes; a seed file may have at most {MAX_SEED_BYTES}", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Spreadsheets often start their exports with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let csv = path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv"));
    let items = if csv { from_csv(text, key_types) } else { from_json(text, key_types) };
    items.map_err(|e| format!("{}: {e}", path.display()))
}

fn from_json(text: &str, key_types: &[(String, String)]) -> Result<Vec<Json>, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match doc {
        Json::Array(list) => list,
        Json::Object(mut o) if o.get("Items").is_some_and(Json::is_array) => match o.remove("Items") {
            Some(Json::Array(list)) => list,
            _ => Vec::new(),
        },
        _ => return Err("expected an array of items, or an object with Items (as `aws dynamodb scan` prints)".into()),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Json::Object(o) if is_dynamodb_json(&o) => Ok(Json::Object(o)),
            Json::Object(o) => Ok(Json::Object(
                o.into_iter()
                    .map(|(k, v)| {
                        // A key attribute takes its declared type: "7" for an N key is 7.
                        let declared = key_types.iter().find(|(name, _)| *name == k).map(|(_, t)| t.as_str());
                        let v = match (declared, v) {
                            (Some("N"), Json::String(s)) => json!({"N": s}),
                            (Some("S"), Json::Number(n)) => json!({"S": n.to_string()}),
                            (_, v) => typed(v),
                        };
                        (k, v)
                    })
                    .collect(),
            )),
            other => Err(format!("item {}: expected an object, found {other}", i + 1)),
        })
        .collect()
}

/// Whether every value of `item` is one typed DynamoDB value.
fn is_dynamodb_json(item: &Map<String, Json>) -> bool {
    !item.is_empty()
        && item
            .values()
            .all(|v| v.as_object().is_some_and(|o| o.len() == 1 && o.keys().all(|k| TYPES.contains(&k.as_str()))))
}

/// Plain JSON as a DynamoDB value.
fn typed(v: Json) -> Json {
    match v {
        Json::String(s) => json!({"S": s}),
        Json::Number(n) => json!({"N": n.to_string()}),
        Json::Bool(b) => json!({"BOOL": b}),
        Json::Null => json!({"NULL": true}),
        Json::Array(a) => json!({"L": a.into_iter().map(typed).collect::<Vec<_>>()}),
        Json::Object(o) => json!({"M": o.into_iter().map(|(k, v)| (k, typed(v))).collect::<Map<_, _>>()}),
    }
}

fn from_csv(text: &str, key_types: &[(String, String)]) -> Result<Vec<Json>, String> {
    let mut rows = csv_rows(text, ',')?.into_iter();
    let header = rows.next().ok_or("no header row")?;
    if header.iter().any(String::is_empty) {
        return Err("the header row has an empty attribute name".into());
    }
    if let Some(twice) = header.iter().enumerate().find(|(i, h)| header[..*i].contains(h)).map(|(_, h)| h) {
        return Err(format!("the header row names {twice} twice"));
    }
    let mut items = Vec::new();
    for (n, row) in rows.enumerate() {
        if row.iter().all(String::is_empty) {
            continue;
        }
        if row.len() > header.len() {
            return Err(format!("row {}: {} cells, the header has {}", n + 2, row.len(), header.len()));
        }
        let mut item = Map::new();
        for (name, cell) in header.iter().zip(row) {
            if cell.is_empty() {
                continue;
            }
            let declared = key_types.iter().find(|(k, _)| k == name).map(|(_, t)| t.as_str());
            let ty = match declared {
                Some(t) => t,
                None if is_number(&cell) => "N",
                None => "S",
            };
            let mut value = Map::new();
            value.insert(ty.to_string(), Json::String(cell));
            item.insert(name.clone(), Json::Object(value));
        }
        items.push(Json::Object(item));
    }
    Ok(items)
}

/// A cell DynamoDB would take as a number.
fn is_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    !digits.is_empty()
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && cell.parse::<f64>().is_ok()
}

/// RFC 4180 rows: `delimiter` (a comma, or ImportTable's choice) between
/// fields, double quotes around fields that hold delimiters, quotes or line
/// breaks, `""` for a quote inside one.
pub(crate) fn csv_rows(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let (mut quoted, mut line) = (false, 1);
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                line += usize::from(c == '\n');
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, c) if c == delimiter => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                line += 1;
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted field opened before line {line} never closes"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_items_are_plain_or_dynamodb_json() {
        let items =
            from_json(r#"[{"id": "a", "n": 1, "ok": true, "tags": ["x"], "m": {"k": null}}, {"id": {"S": "b"}}]"#, &[])
                .unwrap();
        assert_eq!(
            items[0],
            json!({"id": {"S": "a"}, "n": {"N": "1"}, "ok": {"BOOL": true}, "tags": {"L": [{"S": "x"}]}, "m": {"M": {"k": {"NULL": true}}}})
        );
        assert_eq!(items[1], json!({"id": {"S": "b"}}));
        let scan = from_json(r#"{"Items": [{"id": {"S": "c"}}], "Count": 1}"#, &[]).unwrap();
        assert_eq!(scan, vec![json!({"id": {"S": "c"}})]);
        assert!(from_json("[1]", &[]).is_err());
        assert!(from_json(r#"{"id": "a"}"#, &[]).is_err());
        let keys = [("id".to_string(), "N".to_string()), ("sk".to_string(), "S".to_string())];
        let typed_keys = from_json(r#"[{"id": "7", "sk": 2}]"#, &keys).unwrap();
        assert_eq!(typed_keys[0], json!({"id": {"N": "7"}, "sk": {"S": "2"}}));
    }

    #[test]
    fn csv_rows_follow_the_declared_key_types() {
        let keys = [("id".to_string(), "S".to_string())];
        let items = from_csv("id,n,name\n007,3,\"Bond, James\"\n8,,\"say \"\"hi\"\"\"\n\n", &keys).unwrap();
        assert_eq!(items[0], json!({"id": {"S": "007"}, "n": {"N": "3"}, "name": {"S": "Bond, James"}}));
        assert_eq!(items[1], json!({"id": {"S": "8"}, "name": {"S": "say \"hi\""}}));
        assert_eq!(items.len(), 2);
        assert!(from_csv("id\n\"open", &keys).is_err());
        assert!(from_csv("id\na,b", &keys).is_err());
        assert!(from_csv("id,id\na,b", &keys).is_err());
        assert!(!is_number("1e") && !is_number("-") && is_number("-1.5e3") && !is_number("abc"));
    }
}
