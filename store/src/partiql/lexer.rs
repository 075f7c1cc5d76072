//! Splits statement text into tokens. Whitespace, `--` line comments and
//! `/* */` block comments separate tokens. A character that starts no token,
//! an unterminated quote, an unterminated comment or a number literal that
//! cannot be converted is refused here, with an empty detail, as DynamoDB
//! refuses them (before it looks at the table or anything else).

use super::PartiqlError;
use crate::messages;

/// What a token is. Its text is the source slice `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `[A-Za-z_$][A-Za-z0-9_$]*`: a name or keyword.
    Ident,
    /// `"name"`, with `""` standing for one quote.
    Quoted,
    /// `'text'`, with `''` standing for one quote.
    Str,
    /// Digits with an optional fraction and exponent, or `.digits`.
    Num,
    /// `?`
    Param,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `<<`
    BagOpen,
    /// `>>`
    BagClose,
    Comma,
    Dot,
    Colon,
    Star,
    Semicolon,
    Plus,
    Minus,
    Slash,
    Percent,
    /// `||`
    Concat,
    Eq,
    /// `<>` or `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// End of input; always the last token.
    Eof,
}

/// One token: its kind, where it sits, and for names and literals the text
/// with quotes removed and escapes undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Reads a quoted run starting at `start` (the opening quote `q`); returns the
/// unescaped text and the end offset, or `None` when it is not terminated.
fn quoted(src: &str, start: usize, q: u8) -> Option<(String, usize)> {
    let bytes = src.as_bytes();
    let mut out = String::new();
    let mut i = start + 1;
    let mut run = i;
    while i < bytes.len() {
        if bytes[i] == q {
            out.push_str(&src[run..i]);
            if bytes.get(i + 1) == Some(&q) {
                out.push(q as char);
                i += 2;
                run = i;
                continue;
            }
            return Some((out, i + 1));
        }
        i += 1;
    }
    None
}

/// End of the digits starting at `i`.
fn digits_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End of a number whose integer part (possibly empty) starts at `i`.
fn number_end(bytes: &[u8], i: usize) -> usize {
    let mut j = digits_end(bytes, i);
    if bytes.get(j) == Some(&b'.') {
        j = digits_end(bytes, j + 1);
    }
    if matches!(bytes.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(bytes.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if bytes.get(k).is_some_and(u8::is_ascii_digit) {
            j = digits_end(bytes, k);
        }
    }
    j
}

/// Whether DynamoDB can convert a number literal at all. It reads one as
/// Java's `BigDecimal` does: the exponent (leading zeros aside, at most ten
/// digits) must fit in 32 bits, and so must the scale, the digits after the
/// point less the exponent. A literal that converts may still break
/// DynamoDB's number rules; that is reported where it is used.
fn convertible(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    };
    let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
    let exponent: i64 = if exponent.is_empty() {
        0
    } else {
        let (negative, digits) = match exponent.as_bytes()[0] {
            b'-' => (true, &exponent[1..]),
            b'+' => (false, &exponent[1..]),
            _ => (false, exponent),
        };
        let digits = digits.trim_start_matches('0');
        if digits.len() > 10 {
            return false;
        }
        let magnitude: i64 = if digits.is_empty() { 0 } else { digits.parse().unwrap_or(i64::MAX) };
        if negative { -magnitude } else { magnitude }
    };
    let Ok(fraction) = i64::try_from(fraction) else { return false };
    i32::try_from(exponent).is_ok() && i32::try_from(fraction - exponent).is_ok()
}

/// Tokenizes `src`. The result always ends with one [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, PartiqlError> {
    let bytes = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let unreadable = || PartiqlError::malformed(messages::partiql::UNREADABLE);
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let close = src[i + 2..].find("*/").ok_or_else(unreadable)?;
            i += 2 + close + 2;
            continue;
        }
        let start = i;
        let simple = |kind: Tok, len: usize| (kind, start + len, String::new());
        let (kind, end, text) = match b {
            b'"' => {
                let (text, end) = quoted(src, i, b'"').ok_or_else(unreadable)?;
                (Tok::Quoted, end, text)
            }
            b'\'' => {
                let (text, end) = quoted(src, i, b'\'').ok_or_else(unreadable)?;
                (Tok::Str, end, text)
            }
            b'0'..=b'9' => {
                let end = number_end(bytes, i);
                if !convertible(&src[i..end]) {
                    return Err(unreadable());
                }
                (Tok::Num, end, src[i..end].to_string())
            }
            // `.5` is a number unless it follows something a path step can
            // follow, where it is a dot (and then an error).
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !out
                    .last()
                    .is_some_and(|t| matches!(t.kind, Tok::Ident | Tok::Quoted | Tok::RBracket | Tok::RParen)) =>
            {
                let end = number_end(bytes, i);
                if !convertible(&src[i..end]) {
                    return Err(unreadable());
                }
                (Tok::Num, end, src[i..end].to_string())
            }
            b'?' => simple(Tok::Param, 1),
            b'(' => simple(Tok::LParen, 1),
            b')' => simple(Tok::RParen, 1),
            b'[' => simple(Tok::LBracket, 1),
            b']' => simple(Tok::RBracket, 1),
            b'{' => simple(Tok::LBrace, 1),
            b'}' => simple(Tok::RBrace, 1),
            b',' => simple(Tok::Comma, 1),
            b'.' => simple(Tok::Dot, 1),
            b':' => simple(Tok::Colon, 1),
            b'*' => simple(Tok::Star, 1),
            b';' => simple(Tok::Semicolon, 1),
            b'+' => simple(Tok::Plus, 1),
            b'-' => simple(Tok::Minus, 1),
            b'/' => simple(Tok::Slash, 1),
            b'%' => simple(Tok::Percent, 1),
            b'=' => simple(Tok::Eq, 1),
            b'|' if bytes.get(i + 1) == Some(&b'|') => simple(Tok::Concat, 2),
            b'!' if bytes.get(i + 1) == Some(&b'=') => simple(Tok::Ne, 2),
            b'<' => match bytes.get(i + 1) {
                Some(b'<') => simple(Tok::BagOpen, 2),
                Some(b'>') => simple(Tok::Ne, 2),
                Some(b'=') => simple(Tok::Le, 2),
                _ => simple(Tok::Lt, 1),
            },
            b'>' => match bytes.get(i + 1) {
                Some(b'>') => simple(Tok::BagClose, 2),
                Some(b'=') => simple(Tok::Ge, 2),
                _ => simple(Tok::Gt, 1),
            },
            _ if is_ident_start(b as char) => {
                let mut j = i + 1;
                while j < bytes.len() && is_ident_byte(bytes[j]) {
                    j += 1;
                }
                (Tok::Ident, j, src[i..j].to_string())
            }
            _ => return Err(unreadable()),
        };
        out.push(Token { kind, start, end, text });
        i = end;
    }
    out.push(Token { kind: Tok::Eof, start: src.len(), end: src.len(), text: String::new() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check(src: &str, expected: Expect) {
        let out = match tokenize(src) {
            Ok(tokens) => {
                let text: Vec<String> =
                    tokens
                        .iter()
                        .map(|t| {
                            if t.text.is_empty() {
                                format!("{:?}", t.kind)
                            } else {
                                format!("{:?}({})", t.kind, t.text)
                            }
                        })
                        .collect();
                text.join(" ")
            }
            Err(e) => format!("error: {e}"),
        };
        expected.assert_eq(&out);
    }

    #[test]
    fn tokens() {
        check(
            r#"SELECT a.b[1], "x""y" FROM "T" WHERE c <> 'it''s' AND d != ? -- note"#,
            expect![[
                r#"Ident(SELECT) Ident(a) Dot Ident(b) LBracket Num(1) RBracket Comma Quoted(x"y) Ident(FROM) Quoted(T) Ident(WHERE) Ident(c) Ne Str(it's) Ident(AND) Ident(d) Ne Param Eof"#
            ]],
        );
        check(
            "<<1, .5e2, 7.31E+6>> /* c */ {'k': -2} || >= <= > <",
            expect![
                "BagOpen Num(1) Comma Num(.5e2) Comma Num(7.31E+6) BagClose LBrace Str(k) Colon Minus Num(2) RBrace Concat Ge Le Gt Lt Eof"
            ],
        );
        check("a.b", expect!["Ident(a) Dot Ident(b) Eof"]);
        check("1 e5 1e", expect!["Num(1) Ident(e5) Num(1) Ident(e) Eof"]);
        check("", expect!["Eof"]);
    }

    #[test]
    fn unreadable_input() {
        check("a # b", expect!["error: Statement wasn't well formed, can't be processed: "]);
        check("'open", expect!["error: Statement wasn't well formed, can't be processed: "]);
        check("\"open", expect!["error: Statement wasn't well formed, can't be processed: "]);
        check("a /* open", expect!["error: Statement wasn't well formed, can't be processed: "]);
        check("é", expect!["error: Statement wasn't well formed, can't be processed: "]);
    }

    #[test]
    fn unconvertible_numbers() {
        let refused = "error: Statement wasn't well formed, can't be processed: ";
        // The exponent past 32 bits, however far.
        for text in ["1e2147483648", "1e99999999999", "1e-2147483649", "5E+99999999999999999999", ".5e3000000000"] {
            assert_eq!(format!("error: {}", tokenize(text).unwrap_err()), refused, "{text}");
        }
        // The exponent fits but the scale (digits after the point less the
        // exponent) does not.
        for text in ["1.5e-2147483647", "1e-2147483648", ".25e-2147483647"] {
            assert_eq!(format!("error: {}", tokenize(text).unwrap_err()), refused, "{text}");
        }
        // In range for the conversion (whatever DynamoDB's number rules then
        // say of them), and leading zeros of an exponent do not count.
        check(
            "1e2147483647 1e-2147483647 1.5e2147483647 2e000000000000000005 1e126",
            expect![
                "Num(1e2147483647) Num(1e-2147483647) Num(1.5e2147483647) Num(2e000000000000000005) Num(1e126) Eof"
            ],
        );
    }
}
