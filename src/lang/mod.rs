//! The Puppet language front end: lexer, parser, syntax tree with spans, and diagnostics.
//!
//! It covers the whole Puppet 4+ language plus the application-orchestration statements of
//! Puppet 4.3–6.x (`application`, `site`, `produces`/`consumes`). Its single entry point is
//! [`parse`], which turns source text into a [`Parse`]: an [`ast::SourceFile`] and the
//! [`SyntaxError`]s found on the way.
//!
//! ```
//! use ordo::lang::{self, LineIndex};
//!
//! let src = "class lamp { notify { 'hi': } }\n$x = ";
//! let parse = lang::parse(src);
//! assert_eq!(parse.file.statements.len(), 2);
//! let index = LineIndex::new(src);
//! let rendered: Vec<String> = parse.errors.iter().map(|e| e.render(&index)).collect();
//! assert_eq!(rendered, ["2:6: Syntax error at end of input"]);
//! ```
//!
//! What it owns: syntax only. Parsing never fails and never panics; mistakes are values with
//! spans, and the parser recovers and keeps going, so one file reports all its errors.
//! What it deliberately doesn't do: IO, evaluation, or semantic checks (unknown types, duplicate
//! parameters, where a `site` may appear); those belong to `load`. It depends on nothing else in
//! the crate.
//!
//! Layout: [`lexer`] (characters to tokens), [`parser`] (tokens to [`ast`]), [`line_index`]
//! (offsets to line and column), [`dump`] (the text form used by the snapshot tests).

pub mod ast;
mod dump;
mod lexer;
mod line_index;
mod parser;

pub use ast::Span;
pub use line_index::LineIndex;

/// The result of parsing one file: always a tree, plus the errors found.
#[derive(Clone, Debug, PartialEq)]
pub struct Parse {
    pub file: ast::SourceFile,
    /// In source order; empty when the file is valid.
    pub errors: Vec<SyntaxError>,
}

impl Parse {
    /// The tree as indented text, one node per line with its span (used by the corpus tests).
    pub fn dump(&self) -> String {
        dump::dump(&self.file)
    }
}

/// A syntax error: where, and what, in Puppet's wording where Puppet had one
/// (`Syntax error at '}'`, `Syntax error at end of input`, `Unclosed quote after ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

impl SyntaxError {
    /// `line:col: message`, with 1-based line and character column.
    pub fn render(&self, index: &LineIndex) -> String {
        let (line, col) = index.line_col(self.span.start);
        format!("{line}:{col}: {}", self.message)
    }
}

/// Parses Puppet source text. Never fails: see [`Parse::errors`].
pub fn parse(src: &str) -> Parse {
    let (file, errors) = parser::parse(src);
    Parse { file, errors }
}
