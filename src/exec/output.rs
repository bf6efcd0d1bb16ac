//! A node's output as it is kept: secrets masked first, then only the tail.
//!
//! Masking happens on the stream, before anything is cut: every occurrence of a secret (each
//! string leaf of a structured secret, and its JSON-escaped, URL-encoded and base64 forms) is
//! found, overlapping occurrences are merged, and each merged stretch becomes `(sensitive)`.
//! Bytes are only passed on to the tail once no secret that starts at them can still be
//! completed by later output, so a secret split across two writes is masked whole.

use std::sync::Arc;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use serde_json::Value;

use crate::model::Params;

/// How much of a node's output is kept.
pub const TAIL_BYTES: usize = 16 * 1024;

/// What a secret becomes.
pub const MASK: &str = "(sensitive)";

/// Bytes held back at most while a long run of overlapping secrets continues.
const MAX_PENDING: usize = 1024 * 1024;

/// The secret strings of a run and their encoded forms, found all at once.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    searcher: Option<Arc<AhoCorasick>>,
    longest: usize,
}

impl Masker {
    /// A masker for the secret parameters among `params`.
    pub fn for_params<'a>(params: impl IntoIterator<Item = &'a Params>) -> Masker {
        let mut values = Vec::new();
        for params in params {
            values.extend(params.values().filter(|param| param.secret).map(|param| &param.value));
        }
        Masker::new(values)
    }

    /// A masker for these secret values.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Value>) -> Masker {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets {
            // The whole value as scripts see it, and every leaf inside it.
            patterns.push(crate::model::display_value(secret));
            leaves(secret, &mut patterns);
        }
        let mut forms = Vec::new();
        for pattern in patterns.iter().filter(|pattern| !pattern.is_empty()) {
            forms.extend(encoded_forms(pattern));
        }
        forms.sort();
        forms.dedup();
        forms.retain(|form| !form.is_empty());
        if forms.is_empty() {
            return Masker::default();
        }
        let longest = forms.iter().map(String::len).max().unwrap_or(0);
        let searcher = AhoCorasick::new(&forms).expect("secret patterns are plain strings");
        Masker { searcher: Some(Arc::new(searcher)), longest }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.searcher.is_none()
    }

    /// Masks a whole text.
    pub fn mask(&self, text: &str) -> String {
        let mut out = Vec::new();
        let consumed = self.mask_into(text.as_bytes(), true, &mut out);
        debug_assert_eq!(consumed, text.len());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Masks the start of `bytes` into `out` and returns how many bytes were consumed. Unless
    /// `last`, bytes where a secret could still begin and continue past the end are kept back.
    fn mask_into(&self, bytes: &[u8], last: bool, out: &mut Vec<u8>) -> usize {
        let Some(searcher) = &self.searcher else {
            out.extend_from_slice(bytes);
            return bytes.len();
        };
        let safe = if last || bytes.len() > MAX_PENDING {
            bytes.len()
        } else {
            bytes.len().saturating_sub(self.longest.saturating_sub(1))
        };
        // Merge overlapping and adjacent occurrences, so no part of any secret is left.
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for found in searcher.find_overlapping_iter(bytes) {
            match stretches.last_mut() {
                Some(last) if found.start() <= last.1 => last.1 = last.1.max(found.end()),
                _ => stretches.push((found.start(), found.end())),
            }
        }
        let mut position = 0;
        for (start, end) in stretches {
            if start >= safe {
                break;
            }
            if end > safe && !last && bytes.len() <= MAX_PENDING {
                // A stretch that may still grow: keep it for the next round.
                out.extend_from_slice(&bytes[position..start]);
                return start;
            }
            out.extend_from_slice(&bytes[position..start]);
            out.extend_from_slice(MASK.as_bytes());
            position = end;
        }
        let end = safe.max(position);
        out.extend_from_slice(&bytes[position..end]);
        end
    }
}

fn leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| leaves(item, out)),
        Value::Object(map) => map.values().for_each(|item| leaves(item, out)),
        Value::Null => {}
        other => out.push(crate::model::display_value(other)),
    }
}

/// A secret as it may appear in output: as it is, JSON-escaped, URL-encoded and in base64.
fn encoded_forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).expect("a string serialises");
    let json = json[1..json.len() - 1].to_string();
    let url = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string();
    let url_plus = url.replace("%20", "+");
    let standard = base64::engine::general_purpose::STANDARD.encode(secret);
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    vec![secret.to_string(), json, url, url_plus, standard, unpadded, url_safe]
}

/// Output being kept: masked as it streams in, the last [`TAIL_BYTES`] kept.
#[derive(Debug, Default)]
pub struct Output {
    masker: Masker,
    pending: Vec<u8>,
    tail: Vec<u8>,
}

impl Output {
    pub fn new(masker: Masker) -> Output {
        Output { masker, pending: Vec::new(), tail: Vec::new() }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= 4 * 1024 {
            self.flush(false);
        }
    }

    pub fn push_str(&mut self, text: &str) {
        self.push(text.as_bytes());
    }

    fn flush(&mut self, last: bool) {
        let mut masked = Vec::with_capacity(self.pending.len());
        let consumed = self.masker.mask_into(&self.pending, last, &mut masked);
        self.pending.drain(..consumed);
        self.tail.extend_from_slice(&masked);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }

    /// Everything masked so far, as one text (a tail of it when it was long).
    pub fn finish(&mut self) -> String {
        self.flush(true);
        String::from_utf8_lossy(tail(&self.tail, TAIL_BYTES)).into_owned()
    }
}

fn tail(bytes: &[u8], limit: usize) -> &[u8] {
    if bytes.len() <= limit {
        return bytes;
    }
    let mut start = bytes.len() - limit;
    // Start the tail at a line boundary when one is near, so it reads cleanly.
    if let Some(newline) = bytes[start..].iter().position(|&byte| byte == b'\n')
        && newline < 200
    {
        start += newline + 1;
    }
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlapping_secrets_are_masked_whole() {
        let masker = Masker::new([&json!("abcd"), &json!("abcdZZ"), &json!("cdefgh")]);
        assert_eq!(masker.mask("x abcdZZ y"), "x (sensitive) y");
        assert_eq!(masker.mask("x abcdefgh y"), "x (sensitive) y");
    }

    #[test]
    fn structured_secrets_and_their_encodings_are_masked() {
        let masker = Masker::new([&json!({"user": "admin", "pass": "p@ss w\"rd"})]);
        let text = "pass=p@ss w\"rd json=\"p@ss w\\\"rd\" url=p%40ss%20w%22rd form=p%40ss+w%22rd b64=cEBzcyB3InJk";
        let masked = masker.mask(text);
        assert!(!masked.contains("p@ss"), "{masked}");
        assert!(!masked.contains("ss%20w"), "{masked}");
        assert!(!masked.contains("cEBzcyB3InJk"), "{masked}");
        assert!(!masked.contains("admin"), "{masked}");
    }

    #[test]
    fn a_secret_split_across_writes_and_past_the_tail_is_masked() {
        let secret = "TOPSECRET-1234567890";
        let mut output = Output::new(Masker::new([&json!(secret)]));
        output.push_str("start ");
        output.push_str(&secret[..7]);
        output.push_str(&secret[7..]);
        output.push_str(&"x".repeat(TAIL_BYTES - 10));
        output.push_str(secret);
        output.push_str(" end\n");
        let text = output.finish();
        assert!(!text.contains("TOPSEC") && !text.contains("1234567890"), "{}", &text[..40]);
        assert!(text.ends_with("(sensitive) end\n"));
        assert!(text.len() <= TAIL_BYTES);
    }

    #[test]
    fn without_secrets_output_passes_through() {
        let mut output = Output::new(Masker::default());
        output.push_str("hello\n");
        assert_eq!(output.finish(), "hello\n");
    }
}
