//! Small text helpers shared by every stage: counted nouns and hexadecimal digests.
//!
//! They live here, below every other module, so that no stage has to import another
//! stage's renderer for a plural or a hex string.

/// `1 node`, `2 nodes`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// Lower-case hexadecimal, as digests are written.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
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
    }
}
