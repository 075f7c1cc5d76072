//! Splits expression text into tokens. The lexer never fails: a character that
//! starts no token becomes [`Tok::Unknown`], and the parser reports it as a
//! syntax error at the place it meets it, so every syntax error is worded the
//! same way.

/// What a token is. Its text is the source slice `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `[A-Za-z][A-Za-z0-9_]*`: an attribute name, function name or keyword.
    Ident,
    /// `#` followed by `[A-Za-z0-9_]+`.
    NamePlaceholder,
    /// `:` followed by `[A-Za-z0-9_]+`.
    ValuePlaceholder,
    /// `[0-9]+`, only meaningful as a list index.
    Digits,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// A character that starts no token.
    Unknown,
    /// End of input; always the last token.
    Eof,
}

/// One token and where it sits in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Tokenizes `src`. The result always ends with one [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
            continue;
        }
        let start = i;
        let word_end = |from: usize| {
            let mut j = from;
            while j < bytes.len() && is_word_byte(bytes[j]) {
                j += 1;
            }
            j
        };
        let (kind, end) = match b {
            b'a'..=b'z' | b'A'..=b'Z' => (Tok::Ident, word_end(i + 1)),
            b'0'..=b'9' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                (Tok::Digits, j)
            }
            b'#' | b':' => {
                let end = word_end(i + 1);
                if end == i + 1 {
                    (Tok::Unknown, i + 1)
                } else if b == b'#' {
                    (Tok::NamePlaceholder, end)
                } else {
                    (Tok::ValuePlaceholder, end)
                }
            }
            b'(' => (Tok::LParen, i + 1),
            b')' => (Tok::RParen, i + 1),
            b'[' => (Tok::LBracket, i + 1),
            b']' => (Tok::RBracket, i + 1),
            b',' => (Tok::Comma, i + 1),
            b'.' => (Tok::Dot, i + 1),
            b'=' => (Tok::Eq, i + 1),
            b'+' => (Tok::Plus, i + 1),
            b'-' => (Tok::Minus, i + 1),
            b'<' => match bytes.get(i + 1) {
                Some(b'>') => (Tok::Ne, i + 2),
                Some(b'=') => (Tok::Le, i + 2),
                _ => (Tok::Lt, i + 1),
            },
            b'>' => match bytes.get(i + 1) {
                Some(b'=') => (Tok::Ge, i + 2),
                _ => (Tok::Gt, i + 1),
            },
            _ => {
                // One whole character, so a slice of the source stays valid UTF-8.
                let len = src[i..].chars().next().map_or(1, char::len_utf8);
                (Tok::Unknown, i + len)
            }
        };
        out.push(Token { kind, start, end });
        i = end;
    }
    out.push(Token { kind: Tok::Eof, start: src.len(), end: src.len() });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn check(src: &str, expected: Expect) {
        let text: Vec<String> =
            tokenize(src).iter().map(|t| format!("{:?}({})", t.kind, &src[t.start..t.end])).collect();
        expected.assert_eq(&text.join(" "));
    }

    #[test]
    fn tokens() {
        check(
            "a.b[10] <> :v1 AND #n_2 >= (x)",
            expect![[
                "Ident(a) Dot(.) Ident(b) LBracket([) Digits(10) RBracket(]) Ne(<>) ValuePlaceholder(:v1) Ident(AND) NamePlaceholder(#n_2) Ge(>=) LParen(() Ident(x) RParen()) Eof()"
            ]],
        );
        check(
            "a<b<=c>d=e+f-g,",
            expect![[
                "Ident(a) Lt(<) Ident(b) Le(<=) Ident(c) Gt(>) Ident(d) Eq(=) Ident(e) Plus(+) Ident(f) Minus(-) Ident(g) Comma(,) Eof()"
            ]],
        );
        check("_a # : é$", expect!["Unknown(_) Ident(a) Unknown(#) Unknown(:) Unknown(é) Unknown($) Eof()"]);
        check("", expect!["Eof()"]);
    }
}
