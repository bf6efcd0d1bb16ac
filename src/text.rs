//! Small text helpers shared by every stage: counted nouns, hexadecimal digests, and
//! repository text made safe to show (control characters escaped, long values cut).
//!
//! They live here, below every other module, so that no stage has to import another
//! stage's renderer for a plural or a hex string.

/// `1 node`, `2 nodes`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lower-case hexadecimal digits of a byte.
fn hex_pair(byte: u8) -> [u8; 2] {
    [HEX_DIGITS[usize::from(byte >> 4)], HEX_DIGITS[usize::from(byte & 0xf)]]
}

/// Lower-case hexadecimal, as digests are written.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.extend(hex_pair(byte).map(char::from));
    }
    out
}

/// Whether `text` is [`hex`] of `bytes`, without writing it: a store compares hundreds of
/// thousands of written digests with computed ones.
pub fn is_hex_of(text: &str, bytes: &[u8]) -> bool {
    text.len() == bytes.len() * 2
        && text.as_bytes().chunks_exact(2).zip(bytes).all(|(pair, &byte)| pair == hex_pair(byte))
}

/// Text with the characters that could forge output escaped: control characters (newlines,
/// ANSI escapes, NUL) and the Unicode controls that reorder text on screen, each as `\n`,
/// `\t`, `\r` or `\u{..}`. Other text is returned as it is.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_forging) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_forging(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Control characters, and the bidirectional formatting characters that can make text
/// read differently from what it is.
fn is_forging(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How many characters of a value a message repeats at most.
pub const EXCERPT_CHARS: usize = 80;

/// A value as a message repeats it: control characters escaped, and cut after
/// [`EXCERPT_CHARS`] characters with the length of the rest, so a huge value in the input
/// never makes a huge message.
pub fn excerpt(text: &str) -> String {
    let escaped = escape_controls(text);
    match escaped.char_indices().nth(EXCERPT_CHARS) {
        None => escaped.into_owned(),
        Some((cut, _)) => format!("{}... ({} more bytes)", &escaped[..cut], escaped.len() - cut),
    }
}

/// Names joined with `, `, at most `max` of them, then how many more there are.
pub fn join_some<T: AsRef<str>>(names: &[T], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if names.len() > max {
        out.push_str(&format!(" and {} more", names.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_hex() {
        assert_eq!(plural(1, "node"), "1 node");
        assert_eq!(plural(0, "group"), "0 groups");
        assert_eq!(hex(&[0, 0xab, 0x7f]), "00ab7f");
        assert!(is_hex_of("00ab7f", &[0, 0xab, 0x7f]));
        assert!(!is_hex_of("00AB7F", &[0, 0xab, 0x7f]));
        assert!(!is_hex_of("00ab7", &[0, 0xab, 0x7f]));
        assert!(!is_hex_of("00ab7e", &[0, 0xab, 0x7f]));
    }

    #[test]
    fn repository_text_is_escaped_and_cut() {
        assert_eq!(escape_controls("db1.example.net"), "db1.example.net");
        assert_eq!(escape_controls("a\nb\u{1b}[31m\u{202e}c"), "a\\nb\\u{1b}[31m\\u{202e}c");
        assert_eq!(excerpt("short"), "short");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long), format!("{}... (920 more bytes)", "x".repeat(80)));
        assert_eq!(join_some(&["a", "b", "c"], 2), "a, b and 1 more");
        assert_eq!(join_some(&["a", "b"], 2), "a, b");
    }
}
