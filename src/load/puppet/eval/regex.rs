//! Regular expressions as Ruby reads them, on the regex crate: Ruby's dialect is translated
//! where the two differ in ways real code uses (`^`/`$` always match at line ends, `(?m)` is
//! the dot matching newlines, `\h` is a hex digit, `\Z`), and what the regex crate cannot do
//! (look-around, backreferences) is a located error. Also match variables and replacement
//! strings (`\1`).

use super::{EvalError, EvalResult, Evaluator, Scope};
use crate::lang::ast::Span;
use crate::load::puppet::value::Value;

impl Evaluator {
    /// Matches `text` against a pattern and, on success, sets `$0`, `$1`, ... in the
    /// innermost frame.
    pub(crate) fn regex_match(&mut self, scope: &mut Scope, pattern: &str, text: &str, span: Span) -> EvalResult<bool> {
        let regex = self.regex(pattern, span)?;
        let Some(captures) = regex.captures(text) else { return Ok(false) };
        let groups = captures
            .iter()
            .map(|group| group.map_or(Value::Undef, |group| Value::String(group.as_str().to_string())))
            .collect();
        scope.set_matches(groups);
        Ok(true)
    }

    /// The compiled form of a Ruby pattern, cached by pattern.
    pub(crate) fn regex(&mut self, pattern: &str, span: Span) -> EvalResult<::regex::Regex> {
        if let Some(regex) = self.regexes.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = compile(pattern)
            .map_err(|reason| EvalError::new(span, format!("invalid regular expression /{pattern}/: {reason}")))?;
        self.regexes.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }
}

/// A Ruby pattern compiled, with a bound on the compiled program's size; the error says
/// why it cannot be.
pub(crate) fn compile(pattern: &str) -> Result<::regex::Regex, String> {
    let translated = from_ruby(pattern)?;
    ::regex::RegexBuilder::new(&translated).size_limit(1 << 20).build().map_err(|err| {
        // The regex crate's syntax errors span several lines; the last says what is wrong.
        let text = err.to_string();
        text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string()
    })
}

/// A Ruby pattern in the regex crate's syntax. In Ruby `^` and `$` always match at line
/// boundaries (the crate's `m` flag), Ruby's `m` flag is the crate's `s` (the dot matches a
/// newline), `\h` is a hex digit and `\Z` the end or before a final newline. Ruby features
/// the crate lacks are refused with the reason.
pub(crate) fn from_ruby(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str("(?m)");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else { return Err("trailing backslash".into()) };
                match escaped {
                    'h' if in_class => out.push_str("0-9a-fA-F"),
                    'h' => out.push_str("[0-9a-fA-F]"),
                    'H' if !in_class => out.push_str("[^0-9a-fA-F]"),
                    'Z' if !in_class => out.push_str("(?:\n?\\z)"),
                    'G' => return Err("\\G (the end of the previous match) is not supported".into()),
                    'k' => return Err("backreferences (\\k<name>) are not supported".into()),
                    '1'..='9' if !in_class => return Err(format!("backreferences (\\{escaped}) are not supported")),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after the opening bracket is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as `[:alpha:]` inside a bracket expression.
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                out.push('(');
                out.push('?');
                chars.next();
                match chars.peek() {
                    Some('=' | '!') => return Err("look-ahead is not supported".into()),
                    Some('>') => return Err("atomic groups are not supported".into()),
                    Some('<') => {
                        let mut lookahead = chars.clone();
                        lookahead.next();
                        if matches!(lookahead.peek(), Some('=' | '!')) {
                            return Err("look-behind is not supported".into());
                        }
                    }
                    _ => {
                        // Inline options: Ruby's `m` is the dot matching newlines.
                        while let Some(&flag) = chars.peek() {
                            match flag {
                                'm' => out.push('s'),
                                'i' | 'x' | '-' => out.push(flag),
                                _ => break,
                            }
                            chars.next();
                        }
                    }
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// A Ruby replacement string (`\\1`, `\\0`) in the regex crate's syntax (`${1}`), with `$`
/// kept literal.
pub(crate) fn ruby_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(digit) if digit.is_ascii_digit() => {
                    out.push_str(&format!("${{{digit}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::from_ruby;
    use crate::load::puppet::eval::testing::check;

    #[test]
    fn ruby_dialect() {
        assert_eq!(from_ruby(r"\A\h+\z").unwrap(), r"(?m)\A[0-9a-fA-F]+\z");
        assert_eq!(from_ruby(r"(?m:a.b)[\h-]").unwrap(), r"(?m)(?s:a.b)[0-9a-fA-F-]");
        check(
            r#"[
  "a\nb" =~ /^b$/,
  "a\nb" =~ /\Aa\z/,
  "a\nb" =~ /a(?m).b/,
  "a\nb" =~ /a.b/,
  "ff0" =~ /\A\h+\z/,
  "web-12" =~ /(?<role>\w+)-(?<n>\d+)/,
  $1,
  "x y" =~ /(?x) x \s y /,
  "ab\n" =~ /b\Z/,
]"#,
            expect![[r#"
            [true, false, true, false, true, true, 'web', true, true]
        "#]],
        );
        check(
            "'aa' =~ /(a)\\1/",
            expect![[r#"
                error 8..15: invalid regular expression /(a)\1/: backreferences (\1) are not supported
            "#]],
        );
        check(
            "'ab' =~ /a(?=b)/",
            expect![[r#"
            error 8..16: invalid regular expression /a(?=b)/: look-ahead is not supported
        "#]],
        );
    }
}
