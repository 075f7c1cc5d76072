//! Bounded copies of a guest's text, for logs: the head of the text and a marker saying how much
//! was cut.

use std::borrow::Cow;

/// Bytes kept free for the marker: `…[truncated 18446744073709551615 bytes]` and a little more.
const MARKER_ROOM: usize = 48;

/// The marker ending a text that lost `cut` bytes.
pub fn marker(cut: u64) -> String {
    format!("…[truncated {cut} bytes]")
}

/// `text` if it is at most `max` bytes long, else its head (cut on a character boundary) and a
/// [`marker`], `max` bytes at most in all (for a `max` of 48 or more).
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(MARKER_ROOM);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(max);
    out.push_str(&text[..end]);
    out.push_str(&marker((text.len() - end) as u64));
    Cow::Owned(out)
}

/// A [`bounded`] view for `tracing` fields: `%Bounded(&text, max)`.
pub struct Bounded<'a>(pub &'a str, pub usize);

impl std::fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&bounded(self.0, self.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_keeps_its_head_and_says_what_was_cut() {
        assert_eq!(bounded("short", 100), "short");
        let long = "é".repeat(100);
        let cut = bounded(&long, 80);
        assert!(cut.len() <= 80, "{cut}");
        assert!(cut.starts_with("éé"));
        let kept = cut.find('…').unwrap();
        assert!(cut.ends_with(&marker((long.len() - kept) as u64)), "{cut}");
        assert_eq!(Bounded(&long, 80).to_string(), cut);
    }
}
