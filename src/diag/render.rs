//! Rendering diagnostics for people, with the source line and a caret under the mistake.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel, Severity as ReportSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Config, termcolor};

use crate::diag::{Diagnostic, Severity, SourceMap};
use crate::text::escape_controls;

/// A span clipped to its first line: a whole resource body underlined says no more than its
/// first line does, and buries the message.
fn first_line(sources: &SourceMap, file: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let Some(text) = sources.text(file) else { return range };
    let end = text
        .get(range.clone())
        .and_then(|spanned| spanned.find('\n'))
        .map_or(range.end, |newline| range.start + newline);
    range.start..end.max(range.start + 1).min(text.len().max(range.start))
}

/// Renders diagnostics to text; `color` adds ANSI colours.
pub fn render(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let mut files = SimpleFiles::new();
    let ids: Vec<(String, usize)> =
        sources.iter().map(|(name, text)| (name.to_string(), files.add(name.to_string(), text.to_string()))).collect();
    let file_id = |name: &str| ids.iter().find(|(known, _)| known == name).map(|(_, id)| *id);
    let config = Config::default();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let severity = match diagnostic.severity {
            Severity::Error => ReportSeverity::Error,
            Severity::Warning => ReportSeverity::Warning,
        };
        // Messages repeat names and values from the repository: escaped, so none can add a
        // line or a terminal escape of its own.
        let mut report = Report::new(severity).with_message(escape_controls(&diagnostic.message));
        let mut notes = Vec::new();
        let mut labels = Vec::new();
        if let Some(location) = &diagnostic.location {
            match file_id(&location.file) {
                Some(id) if !location.range.is_empty() => {
                    labels.push(ReportLabel::primary(id, first_line(sources, &location.file, location.range.clone())))
                }
                _ => notes.push(format!("in {}", location.file)),
            }
        }
        for label in &diagnostic.labels {
            if let Some(id) = file_id(&label.location.file) {
                let range = first_line(sources, &label.location.file, label.location.range.clone());
                labels.push(ReportLabel::secondary(id, range).with_message(escape_controls(&label.message)));
            }
        }
        notes.extend(diagnostic.notes.iter().map(|note| escape_controls(note).into_owned()));
        report = report.with_labels(labels).with_notes(notes);
        let rendered = if color {
            let mut writer = termcolor::Ansi::new(Vec::new());
            term::emit_to_write_style(&mut writer, &config, &files, &report)
                .map(|()| String::from_utf8_lossy(&writer.into_inner()).into_owned())
        } else {
            term::emit_into_string(&config, &files, &report)
        };
        match rendered {
            Ok(text) => out.push_str(&text),
            Err(_) => {
                out.push_str(&format!("error: {}\n", escape_controls(&diagnostic.message)));
            }
        }
    }
    out
}
