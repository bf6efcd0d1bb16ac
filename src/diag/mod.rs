//! Diagnostics: mistakes in the user's input, as values.
//!
//! Loading never stops at the first problem: every stage returns what it could build plus a
//! list of [`Diagnostic`]s. They are rendered to text (with the sources kept in a
//! [`SourceMap`]) only at the edges: the command line prints them, the controller stores
//! them with a job; the stages themselves stay free of terminal concerns.

mod render;

use std::ops::Range;
use std::sync::Arc;

pub use render::render;

/// How bad a diagnostic is; errors stop a plan or a run, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a source file: the file's name as the user knows it and a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub range: Range<usize>,
}

/// A secondary place that explains the primary one ("first declared here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub location: Location,
    pub message: String,
}

/// One problem in the user's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Where the problem is; `None` for problems that have no single place (a node cycle).
    pub location: Option<Location>,
    pub labels: Vec<Label>,
    /// Extra lines: suggestions ("did you mean `name`?") and explanations.
    pub notes: Vec<String>,
}

/// The longest message or note kept: a message that repeats input (a value, a list of
/// names) is cut there, so no input makes a huge diagnostic.
pub const MAX_MESSAGE_BYTES: usize = 2000;

fn bounded(text: String) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text;
    }
    let cut = floor_char_boundary(&text, MAX_MESSAGE_BYTES);
    format!("{}... ({} more bytes)", &text[..cut], text.len() - cut)
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: bounded(message.into()),
            location: None,
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    pub fn at(mut self, location: Option<Location>) -> Diagnostic {
        self.location = location;
        self
    }

    pub fn with_label(mut self, location: Option<Location>, message: impl Into<String>) -> Diagnostic {
        if let Some(location) = location {
            self.labels.push(Label { location, message: message.into() });
        }
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(bounded(note.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// True when any diagnostic in the list is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// The text of every file a diagnostic may point into, kept for rendering.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<(String, Arc<str>)>,
}

impl SourceMap {
    pub fn add(&mut self, name: &str, text: &str) {
        self.add_shared(name, Arc::from(text));
    }

    /// Keeps `text` itself, not a copy: a large file read once is not held twice.
    pub fn add_shared(&mut self, name: &str, text: Arc<str>) {
        if !self.files.iter().any(|(existing, _)| existing == name) {
            self.files.push((name.to_string(), text));
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.files.iter().find(|(existing, _)| existing == name).map(|(_, text)| &**text)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(name, text)| (name.as_str(), &**text))
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset of a 1-based line and column (in characters), clamped to the text.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match text[offset..].find('\n') {
            Some(newline) => offset += newline + 1,
            None => return text.len(),
        }
    }
    let line_text = text[offset..].split('\n').next().unwrap_or("");
    let within: usize = line_text.chars().take(column.saturating_sub(1)).map(char::len_utf8).sum();
    offset + within
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The closest candidate to a misspelt name, for "did you mean" notes.
pub fn suggest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(wrong, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(wrong.len()).div_ceil(3))
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_and_offset_round_trip() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (2, 2));
        assert_eq!(line_col(text, 8), (3, 1));
        assert_eq!(offset_of(text, 2, 2), 4);
        assert_eq!(offset_of(text, 3, 1), 8);
        assert_eq!(offset_of(text, 9, 1), text.len());
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("nmae", ["name", "version"]), Some("name"));
        assert_eq!(suggest("zzzzzz", ["name", "version"]), None);
    }
}
