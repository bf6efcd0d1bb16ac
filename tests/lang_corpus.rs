//! Data-driven tests of the Puppet parser (`ordo::lang`).
//!
//! `tests/lang/ok/NNNN_name.pp` must parse without errors, and its tree must match
//! `NNNN_name.ast`. `tests/lang/err/NNNN_name.pp` must report at least one error; the errors
//! (`line:col: message`) must match `NNNN_name.diag` and the recovered tree `NNNN_name.ast`.
//! Refresh the expected files with `UPDATE_EXPECT=1 cargo test --test lang_corpus`, then review
//! the diff: they are snapshots of behaviour.
//!
//! The last test mutates every corpus file (every prefix, every deleted or doubled character)
//! and checks that the parser neither panics nor produces spans outside the input.

use std::path::{Path, PathBuf};

use expect_test::{Expect, expect, expect_file};
use ordo::lang::{self, LineIndex, Parse};

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("lang").join(kind)
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(kind);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pp"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn render_errors(src: &str, parse: &Parse) -> String {
    let index = LineIndex::new(src);
    parse.errors.iter().map(|error| error.render(&index) + "\n").collect()
}

#[test]
fn ok_corpus() {
    let files = cases("ok");
    assert!(files.len() >= 40, "expected at least 40 ok cases, found {}", files.len());
    for path in files {
        let src = read(&path);
        let parse = lang::parse(&src);
        assert!(
            parse.errors.is_empty(),
            "{} should parse without errors, got:\n{}",
            path.display(),
            render_errors(&src, &parse)
        );
        expect_file![path.with_extension("ast")].assert_eq(&parse.dump());
    }
}

#[test]
fn err_corpus() {
    let files = cases("err");
    assert!(files.len() >= 15, "expected at least 15 err cases, found {}", files.len());
    for path in files {
        let src = read(&path);
        let parse = lang::parse(&src);
        assert!(!parse.errors.is_empty(), "{} should report at least one error", path.display());
        expect_file![path.with_extension("diag")].assert_eq(&render_errors(&src, &parse));
        expect_file![path.with_extension("ast")].assert_eq(&parse.dump());
    }
}

/// Parses `src` and checks the invariants that hold for any input.
fn check_any_input(src: &str, what: &dyn Fn() -> String) {
    let parse = lang::parse(src);
    let len = src.len() as u32;
    for error in &parse.errors {
        assert!(
            error.span.start <= error.span.end && error.span.end <= len,
            "{}: error span {:?} outside the input",
            what(),
            error.span
        );
    }
    for statement in &parse.file.statements {
        assert!(statement.span.end <= len, "{}: statement span {:?} outside the input", what(), statement.span);
    }
    // The dump walks the whole tree; it must not panic either.
    let _ = parse.dump();
}

#[test]
fn mutated_corpus_never_panics() {
    let mut files = cases("ok");
    files.extend(cases("err"));
    for path in files {
        let src = read(&path);
        let boundaries: Vec<usize> = src.char_indices().map(|(i, _)| i).chain([src.len()]).collect();
        for (n, window) in boundaries.windows(2).enumerate() {
            let (at, next) = (window[0], window[1]);
            check_any_input(&src[..at], &|| format!("{} truncated at {at}", path.display()));
            let deleted = format!("{}{}", &src[..at], &src[next..]);
            check_any_input(&deleted, &|| format!("{} without byte {at}", path.display()));
            if n % 3 == 0 {
                let doubled = format!("{}{}", &src[..next], &src[at..]);
                check_any_input(&doubled, &|| format!("{} with byte {at} doubled", path.display()));
            }
        }
        check_any_input(&src, &|| path.display().to_string());
    }
}

#[test]
fn pathological_inputs_never_panic() {
    let deep_array = "[".repeat(10_000);
    let deep_block = "if $x { ".repeat(5_000);
    let deep_string = "\"${".repeat(1_000);
    let deep_paren = "(".repeat(10_000) + &")".repeat(10_000);
    let classes = "class a { ".repeat(5_000);
    for src in [
        deep_array.as_str(),
        deep_block.as_str(),
        deep_string.as_str(),
        deep_paren.as_str(),
        classes.as_str(),
        "@(",
        "@(END",
        "@(END)",
        "@(\"\")",
        "\"",
        "'",
        "/*",
        "$",
        "::",
        "~",
        "\u{feff}",
        "\u{a0}x",
        "<<|",
        "|>>",
        "é = ü",
    ] {
        check_any_input(src, &|| format!("{:?}", &src[..src.len().min(20)]));
    }
}

/// Parses `src` and compares its errors (if any) and tree with `expected`.
fn check_parse(src: &str, expected: Expect) {
    let parse = lang::parse(src);
    expected.assert_eq(&(render_errors(src, &parse) + &parse.dump()));
}

#[test]
fn slash_is_a_regex_only_where_an_operand_is_expected() {
    check_parse(
        "$a = $b / 2 =~ /x\\/y/",
        expect![[r#"
        SourceFile@0..21
          Assign@0..21 =
            target: Variable@0..2 $a
            value: Binary@5..21 /
              Variable@5..7 $b
              Binary@10..21 =~
                Integer@10..11 2
                Regex@15..21 /x/y/
    "#]],
    );
}

#[test]
fn only_statement_functions_take_arguments_without_parentheses() {
    check_parse(
        "include a, b\nfoo 'x'",
        expect![[r#"
        SourceFile@0..20
          Call@0..12
            callee: Name@0..7 include
            arg: Name@8..9 a
            arg: Name@11..12 b
          Name@13..16 foo
          String@17..20 "x"
    "#]],
    );
}

#[test]
fn bracket_after_whitespace_starts_an_array() {
    check_parse(
        "$a = $b[1]\n$c = $d [1]",
        expect![[r#"
        SourceFile@0..22
          Assign@0..10 =
            target: Variable@0..2 $a
            value: Access@5..10
              target: Variable@5..7 $b
              key: Integer@8..9 1
          Assign@11..18 =
            target: Variable@11..13 $c
            value: Variable@16..18 $d
          Array@19..22
            Integer@20..21 1
    "#]],
    );
}

#[test]
fn brace_after_if_condition_starts_the_body() {
    check_parse(
        "if $x == present { file { '/x': } }",
        expect![[r#"
        SourceFile@0..35
          If@0..35
            branch: @0..35
              condition: Binary@3..16 ==
                Variable@3..5 $x
                Name@9..16 present
              body: Block@17..35
                Resource@19..33
                  type: Name@19..23 file
                  body: @26..31
                    title: String@26..30 "/x"
    "#]],
    );
}

#[test]
fn recovers_and_reports_several_errors() {
    check_parse(
        "$a = (\nnotify { 'ok': }\n$b = ]\n$c = 1",
        expect![[r#"
        3:1: Syntax error at '$b'
        3:6: Syntax error at ']'
        SourceFile@0..37
          Assign@0..23 =
            target: Variable@0..2 $a
            value: Paren@5..23
              Resource@7..23
                type: Name@7..13 notify
                body: @16..21
                  title: String@16..20 "ok"
          Assign@24..29 =
            target: Variable@24..26 $b
            value: Error@29..29
          Assign@31..37 =
            target: Variable@31..33 $c
            value: Integer@36..37 1
    "#]],
    );
}
