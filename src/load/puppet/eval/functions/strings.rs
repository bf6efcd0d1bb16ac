//! String functions: Puppet's `split`, `regsubst`, `sprintf` and `versioncmp`, and stdlib's
//! case changes, `prefix`/`suffix`, `grep`, `bool2str`/`str2bool`/`num2bool` and `validate_re`.

use std::cmp::Ordering;

use super::Call;
use crate::lang::ast::Span;
use crate::load::puppet::eval::operators::{as_float, to_number};
use crate::load::puppet::eval::types::parse_number;
use crate::load::puppet::eval::{EvalResult, Evaluator, Scope};
use crate::load::puppet::value::Value;

/// A string function applied to a String, or to each String of an Array.
fn map_strings(value: &Value, f: &dyn Fn(&str) -> String) -> Option<Value> {
    match value {
        Value::String(text) => Some(Value::String(f(text))),
        Value::Array(items) => {
            items.iter().map(|item| map_strings(item, f)).collect::<Option<Vec<_>>>().map(Value::Array)
        }
        _ => None,
    }
}

/// The first character in upper case, the rest unchanged.
fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `upcase`, `downcase`, `capitalize`, `camelcase`, `swapcase`, `strip`, `lstrip`, `rstrip`,
/// `chomp` and `chop` over a String or an Array of Strings.
pub fn change_case(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let name = call.name;
    map_strings(&call.args[0], &|text| match name {
        "upcase" => text.to_uppercase(),
        "downcase" => text.to_lowercase(),
        "capitalize" => capitalize(&text.to_lowercase()),
        "camelcase" => text.split('_').map(|word| capitalize(&word.to_lowercase())).collect(),
        "swapcase" => text
            .chars()
            .flat_map(
                |c| if c.is_uppercase() { c.to_lowercase().collect::<Vec<_>>() } else { c.to_uppercase().collect() },
            )
            .collect(),
        "strip" => text.trim().to_string(),
        "lstrip" => text.trim_start().to_string(),
        "rstrip" => text.trim_end().to_string(),
        "chop" => match text.strip_suffix("\r\n") {
            Some(rest) => rest.to_string(),
            None => {
                let mut chars = text.chars();
                chars.next_back();
                chars.as_str().to_string()
            }
        },
        _ => {
            let text = text.strip_suffix('\n').unwrap_or(text);
            text.strip_suffix('\r').unwrap_or(text).to_string()
        }
    })
    .ok_or_else(|| call.bad_argument("a String or an Array of Strings", &call.args[0]))
}

/// stdlib's `prefix` and `suffix` of each element of an Array, or each key of a Hash.
pub fn prefix_suffix(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let affix = match call.args.get(1) {
        None | Some(Value::Undef) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            return Err(call.error(format!(
                "{}(): expected second argument to be a String, got {}",
                call.name,
                other.type_name()
            )));
        }
    };
    let apply = |value: &Value| {
        let text = value.to_string();
        Value::String(if call.name == "prefix" { format!("{affix}{text}") } else { format!("{text}{affix}") })
    };
    match &call.args[0] {
        Value::Array(items) => Ok(Value::Array(items.iter().map(apply).collect())),
        Value::Hash(entries) => {
            Ok(Value::Hash(entries.iter().map(|(key, value)| (apply(key), value.clone())).collect()))
        }
        other => Err(call.error(format!(
            "{}(): expected first argument to be an Array or a Hash, got {}",
            call.name,
            other.type_name()
        ))),
    }
}

/// stdlib's `bool2str(value, true_string, false_string)`.
pub fn bool2str(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Boolean(flag) = call.args[0] else {
        return Err(call.error("bool2str(): Requires a boolean to work with"));
    };
    let words = (call.args.get(1).map(ToString::to_string), call.args.get(2).map(ToString::to_string));
    Ok(Value::String(match (flag, words) {
        (true, (Some(word), Some(_))) | (false, (Some(_), Some(word))) => word,
        (flag, _) => flag.to_string(),
    }))
}

/// stdlib's `str2bool`: `1 t y true yes` are true, `0 f n false no undef undefined` and the
/// empty string false, anything else an error.
pub fn str2bool(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    match &call.args[0] {
        Value::Boolean(flag) => Ok(Value::Boolean(*flag)),
        Value::String(text) => match text.to_lowercase().as_str() {
            "1" | "t" | "y" | "true" | "yes" => Ok(Value::Boolean(true)),
            "" | "0" | "f" | "n" | "false" | "no" | "undef" | "undefined" => Ok(Value::Boolean(false)),
            _ => Err(call.error("str2bool(): Unknown type of boolean given")),
        },
        _ => Err(call.error("str2bool(): Requires string to work with")),
    }
}

/// stdlib's `num2bool`: numbers above zero are true.
pub fn num2bool(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let number = match &call.args[0] {
        Value::Boolean(flag) => return Ok(Value::Boolean(*flag)),
        Value::String(text) => parse_number(text),
        value @ (Value::Integer(_) | Value::Float(_)) => Some(value.clone()),
        _ => None,
    };
    match number {
        Some(Value::Integer(number)) => Ok(Value::Boolean(number > 0)),
        Some(Value::Float(number)) => Ok(Value::Boolean(number.trunc() > 0.0)),
        _ => Err(call.error("num2bool(): Unable to parse argument as a number")),
    }
}

/// The pattern of a String or Regexp argument.
fn pattern<'a>(call: &Call, value: &'a Value) -> EvalResult<&'a str> {
    match value {
        Value::String(pattern) | Value::Regex(pattern) => Ok(pattern),
        other => Err(call.bad_argument("a String or Regexp pattern", other)),
    }
}

pub fn split(evaluator: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::String(text) = &call.args[0] else { return Err(call.bad_argument("a String", &call.args[0])) };
    let pattern = pattern(call, &call.args[1])?;
    let mut parts: Vec<Value> = if pattern.is_empty() {
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        let regex = evaluator.regex(pattern, call.span)?;
        regex.split(text).map(|part| Value::String(part.to_string())).collect()
    };
    // Like Ruby's String#split, trailing empty fields are dropped.
    while matches!(parts.last(), Some(Value::String(part)) if part.is_empty()) {
        parts.pop();
    }
    Ok(Value::Array(parts))
}

/// stdlib's `grep(array, pattern)`: the elements that match.
pub fn grep(evaluator: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Array(items) = &call.args[0] else { return Err(call.bad_argument("an Array", &call.args[0])) };
    let regex = evaluator.regex(pattern(call, &call.args[1])?, call.span)?;
    Ok(Value::Array(items.iter().filter(|item| regex.is_match(&item.to_string())).cloned().collect()))
}

/// stdlib's `validate_re(value, patterns, message)`.
pub fn validate_re(evaluator: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let text = call.args[0].to_string();
    let patterns = match &call.args[1] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    for value in &patterns {
        if evaluator.regex(pattern(call, value)?, call.span)?.is_match(&text) {
            return Ok(Value::Undef);
        }
    }
    let message = match call.args.get(2) {
        Some(message) => message.to_string(),
        None => format!(
            "validate_re(): {} does not match {}",
            crate::load::puppet::eval::types::inspect(&call.args[0]),
            crate::load::puppet::eval::types::inspect(&Value::Array(patterns))
        ),
    };
    Err(call.error(message))
}

pub fn regsubst(evaluator: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let args = &call.args;
    let pattern = pattern(call, &args[1])?.to_string();
    let Value::String(replacement) = &args[2] else { return Err(call.bad_argument("a String replacement", &args[2])) };
    let flags = args.get(3).map(ToString::to_string).unwrap_or_default();
    // Ruby's MULTILINE (`M`) is the dot matching newlines; EXTENDED (`E`) is free spacing.
    let mut inline = String::new();
    for (flag, option) in [('I', 'i'), ('M', 'm'), ('E', 'x')] {
        if flags.contains(flag) {
            inline.push(option);
        }
    }
    let pattern = if inline.is_empty() { pattern } else { format!("(?{inline}){pattern}") };
    let regex = evaluator.regex(&pattern, call.span)?;
    let replacement = crate::load::puppet::eval::regex::ruby_replacement(replacement);
    let global = flags.contains('G');
    let substitute = |text: &str| {
        let replaced = if global {
            regex.replace_all(text, replacement.as_str())
        } else {
            regex.replace(text, replacement.as_str())
        };
        replaced.into_owned()
    };
    map_strings(&args[0], &substitute).ok_or_else(|| call.bad_argument("a String or an Array of Strings", &args[0]))
}

pub fn sprintf_function(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::String(format) = &call.args[0] else { return Err(call.bad_argument("a String format", &call.args[0])) };
    sprintf(format, &call.args[1..]).map(Value::String).map_err(|message| call.error(message))
}

pub fn versioncmp_function(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let (Value::String(a), Value::String(b)) = (&call.args[0], &call.args[1]) else {
        return Err(call.error("'versioncmp' expects two Strings"));
    };
    Ok(Value::Integer(match versioncmp(a, b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

/// `sprintf` with the conversions orchestration code uses: `%s %d %i %x %X %o %b %f %e %g %%`,
/// flags `-+0 `, width and precision.
fn sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&flag) = chars.peek().filter(|flag| "-+0 #".contains(**flag)) {
            flags.push(flag);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&digit) = chars.peek().filter(|digit| digit.is_ascii_digit()) {
            width.push(digit);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&digit) = chars.peek().filter(|digit| digit.is_ascii_digit()) {
                digits.push(digit);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let width: usize = width.parse().unwrap_or(0).min(1024);
        let precision = precision.map(|precision| precision.min(1024));
        let Some(conversion) = chars.next() else { return Err("sprintf: incomplete format specifier".into()) };
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or_else(|| "sprintf: too few arguments".to_string())?;
        let integer = || -> Result<i64, String> {
            match to_number("sprintf", arg, Span::default()) {
                Ok(Value::Integer(number)) => Ok(number),
                Ok(Value::Float(number)) if number.is_finite() => Ok(number as i64),
                _ => Err(format!("sprintf: %{conversion} expects a number, got {}", arg.type_name())),
            }
        };
        let float = || -> Result<f64, String> {
            match to_number("sprintf", arg, Span::default()) {
                Ok(value) => Ok(as_float(&value)),
                Err(_) => Err(format!("sprintf: %{conversion} expects a number, got {}", arg.type_name())),
            }
        };
        let sign = |negative: bool| {
            if negative {
                "-"
            } else if flags.contains('+') {
                "+"
            } else if flags.contains(' ') {
                " "
            } else {
                ""
            }
        };
        let (prefix, body) = match conversion {
            's' => {
                let text = arg.to_string();
                let text = match precision {
                    Some(precision) => text.chars().take(precision).collect(),
                    None => text,
                };
                (String::new(), text)
            }
            'd' | 'i' | 'u' => {
                let number = integer()?;
                (sign(number < 0).to_string(), number.unsigned_abs().to_string())
            }
            'x' | 'X' | 'o' | 'b' | 'B' => {
                let number = integer()?;
                let magnitude = number.unsigned_abs();
                let digits = match conversion {
                    'x' => format!("{magnitude:x}"),
                    'X' => format!("{magnitude:X}"),
                    'o' => format!("{magnitude:o}"),
                    _ => format!("{magnitude:b}"),
                };
                (sign(number < 0).to_string(), digits)
            }
            'f' | 'e' | 'E' | 'g' | 'G' => {
                let number = float()?;
                let precision = precision.unwrap_or(6);
                let digits = match conversion {
                    'f' => format!("{:.precision$}", number.abs()),
                    'e' => format!("{:.precision$e}", number.abs()),
                    'E' => format!("{:.precision$E}", number.abs()),
                    _ => format!("{}", number.abs()),
                };
                (sign(number.is_sign_negative() && number != 0.0).to_string(), digits)
            }
            other => return Err(format!("sprintf: unsupported conversion '%{other}'")),
        };
        let length = prefix.chars().count() + body.chars().count();
        let padding = width.saturating_sub(length);
        if flags.contains('-') {
            out.push_str(&prefix);
            out.push_str(&body);
            out.push_str(&" ".repeat(padding));
        } else if flags.contains('0') && conversion != 's' {
            out.push_str(&prefix);
            out.push_str(&"0".repeat(padding));
            out.push_str(&body);
        } else {
            out.push_str(&" ".repeat(padding));
            out.push_str(&prefix);
            out.push_str(&body);
        }
    }
    Ok(out)
}

/// Puppet's `versioncmp`: compares dotted and dashed versions piece by piece, numbers as
/// numbers (unless zero-padded), everything else case-insensitively.
fn versioncmp(a: &str, b: &str) -> Ordering {
    fn pieces(version: &str) -> Vec<String> {
        let mut pieces: Vec<String> = Vec::new();
        for c in version.chars() {
            let kind = |c: char| {
                if c == '-' || c == '.' {
                    0
                } else if c.is_ascii_digit() {
                    1
                } else {
                    2
                }
            };
            match pieces.last_mut() {
                Some(last) if kind(c) != 0 && last.chars().next().is_some_and(|first| kind(first) == kind(c)) => {
                    last.push(c);
                }
                _ => pieces.push(c.to_string()),
            }
        }
        pieces
    }
    let is_number = |piece: &str| !piece.is_empty() && piece.bytes().all(|byte| byte.is_ascii_digit());
    for (x, y) in pieces(a).iter().zip(pieces(b).iter()) {
        if x == y {
            continue;
        }
        let ordering = match (x.as_str(), y.as_str()) {
            ("-", _) => Ordering::Less,
            (_, "-") => Ordering::Greater,
            (".", _) => Ordering::Less,
            (_, ".") => Ordering::Greater,
            (x, y) if is_number(x) && is_number(y) && !x.starts_with('0') && !y.starts_with('0') => {
                let trimmed = |piece: &str| piece.trim_start_matches('0').to_string();
                let (x, y) = (trimmed(x), trimmed(y));
                x.len().cmp(&y.len()).then_with(|| x.cmp(&y))
            }
            (x, y) => x.to_uppercase().cmp(&y.to_uppercase()),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::load::puppet::eval::testing::check;

    #[test]
    fn stdlib_strings() {
        check(
            "[prefix(['a', 'b'], 'p-'), suffix({'a' => 1}, '.x'), bool2str(true), bool2str(false, 'on', 'off'), str2bool('yes'), str2bool(''), num2bool('2'), camelcase('a_bc'), swapcase('aB'), chop('ab'), grep(['aa', 'b', 'ca'], 'a$')]",
            expect![[r#"
            [['p-a', 'p-b'], {'a.x' => 1}, 'true', 'off', true, false, true, 'ABc', 'Ab', 'a', ['aa', 'ca']]
        "#]],
        );
        check(
            "str2bool('maybe')",
            expect![[r#"
            error 0..17: str2bool(): Unknown type of boolean given
        "#]],
        );
        check(
            "validate_re('abc', ['^x', '^y'])",
            expect![[r#"
            error 0..32: validate_re(): "abc" does not match ["^x", "^y"]
        "#]],
        );
    }
}
