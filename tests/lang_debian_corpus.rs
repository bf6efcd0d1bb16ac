//! Parses every `.pp` file shipped by Debian's `puppet-module-*` packages (about 1,900 files and
//! 165,000 lines of real modules, all accepted by Puppet 7) and requires zero syntax errors.
//!
//! This is the main evidence that `lang` accepts the language as people write it. The corpus is
//! installed system-wide; when it is missing the test fails and says how to install it, so it
//! can never pass vacuously.

mod support;

use ordo::lang::{self, LineIndex};
use support::pp_corpus::{CORPUS, INSTALL, corpus_files};

#[test]
fn debian_puppet_modules_parse_without_errors() {
    let files = corpus_files().unwrap_or_else(|missing| panic!("{missing}"));
    assert!(
        files.len() >= 1000,
        "expected about 1,900 .pp files under {CORPUS}, found {}; install the corpus with:\n    {INSTALL}",
        files.len()
    );

    let (mut n_lines, mut n_bytes) = (0usize, 0usize);
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let src = String::from_utf8_lossy(&bytes);
        n_lines += src.lines().count();
        n_bytes += src.len();
        let parse = lang::parse(&src);
        if !parse.errors.is_empty() {
            let index = LineIndex::new(&src);
            for error in &parse.errors {
                failures.push(format!("{}:{}", path.display(), error.render(&index)));
            }
        }
    }
    println!("Debian corpus: {} files, {n_lines} lines, {n_bytes} bytes, {} errors", files.len(), failures.len());
    assert!(failures.is_empty(), "{} syntax errors in the Debian corpus:\n{}", failures.len(), failures.join("\n"));
}

/// Evaluates the body of every class, defined type and function of the corpus, and each of
/// its files' top-level statements, as the Puppet front end's evaluator would: real code is
/// full of functions, types and expressions ordo does not support, and each must be an error
/// with a place in the file, never a panic.
#[test]
fn evaluating_the_debian_corpus_never_panics() {
    use ordo::lang::ast::StatementKind;
    use ordo::load::puppet::eval::{Evaluator, Scope};

    let files = corpus_files().unwrap_or_else(|missing| panic!("{missing}"));
    let (mut n_bodies, mut n_errors) = (0usize, 0usize);
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let src = String::from_utf8_lossy(&bytes);
        let parse = lang::parse(&src);
        let mut bodies = vec![parse.file.statements.as_slice()];
        for statement in &parse.file.statements {
            match &statement.kind {
                StatementKind::Class(class) => bodies.push(&class.body.statements),
                StatementKind::Define(define) => bodies.push(&define.body.statements),
                StatementKind::Function(function) => bodies.push(&function.body.statements),
                _ => {}
            }
        }
        for body in bodies {
            let mut evaluator = Evaluator::new();
            let mut scope = Scope::new();
            scope.push();
            n_bodies += 1;
            if let Err(error) = evaluator.eval_statements(&mut scope, body) {
                n_errors += 1;
                // (The message may be empty: `fail('')` says nothing more than that it failed.)
                assert!(
                    error.span.start <= error.span.end && (error.span.end as usize) <= src.len(),
                    "{}: an error without a place in the file: {error:?}",
                    path.display()
                );
            }
        }
    }
    println!("Debian corpus: {n_bodies} bodies evaluated, {n_errors} stopped at an error");
    assert!(n_bodies > files.len());
}
