//! Operators with Puppet's semantics: unary and binary operators, `in`, `=~`, comparison
//! (strings case-insensitively), arithmetic on numbers (and numeric strings), arrays and
//! hashes, and access (`$x[1]`, `$x[1, 2]`, `$h['k']`).

use std::cmp::Ordering;

use super::types::{hash_from_array, parse_number};
use super::{EvalError, EvalResult, Evaluator, Scope, article};
use crate::lang::ast::{self, Expr, Span};
use crate::load::puppet::value::Value;

impl Evaluator {
    pub(crate) fn eval_unary(&mut self, scope: &mut Scope, op: ast::UnaryOp, operand: &Expr, span: Span) -> EvalResult {
        let value = self.eval(scope, operand)?;
        match op {
            ast::UnaryOp::Not => Ok(Value::Boolean(!value.is_truthy())),
            ast::UnaryOp::Splat => Ok(match value {
                Value::Array(items) => Value::Array(items),
                other => Value::Array(vec![other]),
            }),
            ast::UnaryOp::Neg => match to_number("-", &value, span)? {
                Value::Integer(number) => {
                    number.checked_neg().map(Value::Integer).ok_or_else(|| EvalError::new(span, "integer overflow"))
                }
                Value::Float(number) => Ok(Value::Float(-number)),
                other => Err(not_applicable("-", &other, span)),
            },
        }
    }

    pub(crate) fn eval_binary(
        &mut self,
        scope: &mut Scope,
        op: ast::BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> EvalResult {
        use ast::BinaryOp as Op;
        let left = self.eval(scope, lhs)?;
        match op {
            Op::And if !left.is_truthy() => return Ok(Value::Boolean(false)),
            Op::Or if left.is_truthy() => return Ok(Value::Boolean(true)),
            _ => {}
        }
        let right = self.eval(scope, rhs)?;
        match op {
            Op::And | Op::Or => Ok(Value::Boolean(right.is_truthy())),
            Op::Eq => Ok(Value::Boolean(puppet_eq(&left, &right))),
            Op::NotEq => Ok(Value::Boolean(!puppet_eq(&left, &right))),
            Op::Less | Op::LessEq | Op::Greater | Op::GreaterEq => {
                let ordering = compare(&left, &right).ok_or_else(|| {
                    EvalError::new(
                        span,
                        format!(
                            "Comparison of: {} {} {}, is not possible",
                            left.type_name(),
                            op.as_str(),
                            right.type_name()
                        ),
                    )
                })?;
                Ok(Value::Boolean(match op {
                    Op::Less => ordering.is_lt(),
                    Op::LessEq => ordering.is_le(),
                    Op::Greater => ordering.is_gt(),
                    _ => ordering.is_ge(),
                }))
            }
            Op::Match | Op::NoMatch => {
                let matched = match &right {
                    Value::Type(data_type) => data_type.accepts(&left),
                    Value::Regex(pattern) | Value::String(pattern) => {
                        let Value::String(text) = &left else {
                            return Err(EvalError::new(
                                span,
                                format!(
                                    "Operator '{}' is not applicable to {}",
                                    op.as_str(),
                                    article(&left.type_name())
                                ),
                            ));
                        };
                        self.regex_match(scope, pattern, text, rhs.span)?
                    }
                    other => {
                        return Err(EvalError::new(
                            span,
                            format!(
                                "Operator '{}' expects a Regexp, String or Type on the right, got {}",
                                op.as_str(),
                                other.type_name()
                            ),
                        ));
                    }
                };
                Ok(Value::Boolean(matched == (op == Op::Match)))
            }
            Op::In => self.eval_in(scope, &left, &right, span),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::LShift | Op::RShift => {
                arithmetic(op, left, right, span)
            }
        }
    }

    /// `left in right`: substring, array member (by `==`), or hash key.
    pub(crate) fn eval_in(&mut self, scope: &mut Scope, left: &Value, right: &Value, span: Span) -> EvalResult {
        let found = match (left, right) {
            (Value::String(needle), Value::String(haystack)) => {
                haystack.to_lowercase().contains(&needle.to_lowercase())
            }
            (Value::Regex(pattern), Value::String(haystack)) => self.regex_match(scope, pattern, haystack, span)?,
            (_, Value::Array(items)) => {
                let mut found = false;
                for item in items {
                    found = match (left, item) {
                        (Value::Regex(pattern), Value::String(text)) => self.regex_match(scope, pattern, text, span)?,
                        (Value::Type(data_type), item) => data_type.accepts(item),
                        (left, item) => puppet_eq(left, item),
                    };
                    if found {
                        break;
                    }
                }
                found
            }
            (_, Value::Hash(entries)) => entries.iter().any(|(key, _)| puppet_eq(left, key)),
            _ => false,
        };
        Ok(Value::Boolean(found))
    }
}

/// Resolves a possibly negative index against a length.
pub(crate) fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 { len.checked_add(index)? } else { index };
    if (0..len).contains(&index) { usize::try_from(index).ok() } else { None }
}

/// The range selected by `[start, count]` on something of length `len`; a negative count
/// counts the end from the back (`-1` is up to and including the last element).
pub(crate) fn slice_range(start: i64, count: i64, len: usize) -> std::ops::Range<usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { (len_i + start).max(0) } else { start.min(len_i) };
    let end = if count < 0 { len_i + count + 1 } else { start.saturating_add(count).min(len_i) };
    let end = end.max(start);
    usize::try_from(start).unwrap_or(len)..usize::try_from(end).unwrap_or(len)
}

/// `$x[keys]` on an evaluated value.
pub(crate) fn access_value(subject: &Value, keys: &[Value]) -> Result<Value, String> {
    match (subject, keys) {
        (Value::Array(items), [Value::Integer(index)]) => {
            Ok(resolve_index(*index, items.len()).map_or(Value::Undef, |index| items[index].clone()))
        }
        (Value::Array(items), [Value::Integer(start), Value::Integer(count)]) => {
            Ok(Value::Array(items[slice_range(*start, *count, items.len())].to_vec()))
        }
        (Value::String(text), [Value::Integer(index)]) => {
            let chars: Vec<char> = text.chars().collect();
            Ok(resolve_index(*index, chars.len()).map_or(Value::Undef, |index| Value::String(chars[index].to_string())))
        }
        (Value::String(text), [Value::Integer(start), Value::Integer(count)]) => {
            let chars: Vec<char> = text.chars().collect();
            Ok(Value::String(chars[slice_range(*start, *count, chars.len())].iter().collect()))
        }
        (Value::Hash(entries), [key]) => {
            Ok(entries.iter().find(|(entry_key, _)| entry_key == key).map_or(Value::Undef, |(_, value)| value.clone()))
        }
        (Value::Hash(entries), keys) if !keys.is_empty() => Ok(Value::Array(
            keys.iter()
                .filter_map(|key| {
                    entries.iter().find(|(entry_key, _)| entry_key == key).map(|(_, value)| value.clone())
                })
                .collect(),
        )),
        (Value::Array(_) | Value::String(_), _) => Err(format!(
            "{} cannot be accessed with [{}]; use an Integer index or [start, count]",
            subject.type_name(),
            keys.iter().map(Value::type_name).collect::<Vec<_>>().join(", ")
        )),
        _ => Err(format!("Operator '[]' is not applicable to {} value", article(&subject.type_name()))),
    }
}

/// Puppet's `==`: strings compare case-insensitively, numbers by value, arrays and hashes
/// deeply.
pub(crate) fn puppet_eq(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(a), Value::String(b)) => a == b || a.to_lowercase() == b.to_lowercase(),
        (Value::Integer(a), Value::Float(b)) | (Value::Float(b), Value::Integer(a)) => (*a as f64) == *b,
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| puppet_eq(a, b)),
        (Value::Hash(a), Value::Hash(b)) => {
            a.len() == b.len()
                && a.iter().all(|(key, value)| {
                    b.iter().any(|(other_key, other_value)| puppet_eq(key, other_key) && puppet_eq(value, other_value))
                })
        }
        (
            Value::Reference { type_name: a_type, title: a_title },
            Value::Reference { type_name: b_type, title: b_title },
        ) => a_type.eq_ignore_ascii_case(b_type) && a_title == b_title,
        (a, b) => a == b,
    }
}

/// `<`, `<=`, `>`, `>=`: numbers by value, strings case-insensitively; None if not comparable.
pub(crate) fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
        (Value::Integer(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Value::Integer(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        _ => None,
    }
}

pub(crate) fn not_applicable(op: &str, value: &Value, span: Span) -> EvalError {
    EvalError::new(span, format!("Operator '{op}' is not applicable to {}", article(&value.type_name())))
}

/// A number, or a String holding one (Puppet converts numeric strings in arithmetic).
pub(crate) fn to_number(op: &str, value: &Value, span: Span) -> EvalResult {
    match value {
        Value::Integer(_) | Value::Float(_) => Ok(value.clone()),
        Value::String(text) => parse_number(text).ok_or_else(|| not_applicable(op, value, span)),
        other => Err(not_applicable(op, other, span)),
    }
}

/// `+ - * / % << >>` with Puppet's semantics for numbers, arrays and hashes.
pub(crate) fn arithmetic(op: ast::BinaryOp, left: Value, right: Value, span: Span) -> EvalResult {
    use ast::BinaryOp as Op;
    let symbol = op.as_str();
    match (op, left, right) {
        (Op::Add, Value::Array(mut items), Value::Array(more)) => {
            items.extend(more);
            Ok(Value::Array(items))
        }
        (Op::Add, Value::Array(mut items), Value::Hash(entries)) => {
            items.extend(entries.into_iter().map(|(key, value)| Value::Array(vec![key, value])));
            Ok(Value::Array(items))
        }
        (Op::Add, Value::Array(mut items), other) | (Op::LShift, Value::Array(mut items), other) => {
            items.push(other);
            Ok(Value::Array(items))
        }
        (Op::Add, Value::Hash(entries), other @ (Value::Hash(_) | Value::Array(_))) => {
            let more = match other {
                Value::Array(items) => match hash_from_array(items) {
                    Ok(Value::Hash(more)) => more,
                    Ok(_) => Vec::new(),
                    Err(message) => return Err(EvalError::new(span, message)),
                },
                Value::Hash(more) => more,
                _ => Vec::new(),
            };
            Ok(Value::Hash(merge(entries, more)))
        }
        (Op::Sub, Value::Array(items), Value::Array(remove)) => Ok(Value::Array(
            items.into_iter().filter(|item| !remove.iter().any(|gone| puppet_eq(item, gone))).collect(),
        )),
        (Op::Sub, Value::Array(items), Value::Hash(remove)) => {
            let remove: Vec<Value> = remove.into_iter().map(|(key, value)| Value::Array(vec![key, value])).collect();
            Ok(Value::Array(
                items.into_iter().filter(|item| !remove.iter().any(|gone| puppet_eq(item, gone))).collect(),
            ))
        }
        (Op::Sub, Value::Array(items), other) => {
            Ok(Value::Array(items.into_iter().filter(|item| !puppet_eq(item, &other)).collect()))
        }
        (Op::Sub, Value::Hash(entries), remove) => {
            let keys = match remove {
                Value::Hash(other) => other.into_iter().map(|(key, _)| key).collect(),
                Value::Array(keys) => keys,
                key => vec![key],
            };
            Ok(Value::Hash(entries.into_iter().filter(|(key, _)| !keys.contains(key)).collect()))
        }
        (_, left @ (Value::Array(_) | Value::Hash(_)), _) => Err(not_applicable(symbol, &left, span)),
        (op, left, right) => {
            let left = to_number(symbol, &left, span)?;
            let right = to_number(symbol, &right, span)?;
            match (left, right) {
                (Value::Integer(a), Value::Integer(b)) => integer_op(op, a, b, span).map(Value::Integer),
                (Value::Float(_) | Value::Integer(_), _) if matches!(op, Op::Mod | Op::LShift | Op::RShift) => {
                    Err(EvalError::new(span, format!("Operator '{symbol}' is not applicable to a Float")))
                }
                (a, b) => {
                    let (a, b) = (as_float(&a), as_float(&b));
                    let result = match op {
                        Op::Add => a + b,
                        Op::Sub => a - b,
                        Op::Mul => a * b,
                        _ if b == 0.0 => return Err(EvalError::new(span, "Division by 0")),
                        _ => a / b,
                    };
                    Ok(Value::Float(result))
                }
            }
        }
    }
}

pub(crate) fn as_float(value: &Value) -> f64 {
    match value {
        Value::Integer(number) => *number as f64,
        Value::Float(number) => *number,
        _ => f64::NAN,
    }
}

/// Integer arithmetic as Ruby does it: division and modulo round toward negative infinity.
pub(crate) fn integer_op(op: ast::BinaryOp, a: i64, b: i64, span: Span) -> EvalResult<i64> {
    use ast::BinaryOp as Op;
    let overflow = || EvalError::new(span, "integer overflow");
    if matches!(op, Op::Div | Op::Mod) && b == 0 {
        return Err(EvalError::new(span, "Division by 0"));
    }
    match op {
        Op::Add => a.checked_add(b).ok_or_else(overflow),
        Op::Sub => a.checked_sub(b).ok_or_else(overflow),
        Op::Mul => a.checked_mul(b).ok_or_else(overflow),
        Op::Div => {
            let quotient = a.checked_div(b).ok_or_else(overflow)?;
            Ok(if a % b != 0 && ((a < 0) != (b < 0)) { quotient - 1 } else { quotient })
        }
        Op::Mod => {
            let remainder = a.checked_rem(b).ok_or_else(overflow)?;
            Ok(if remainder != 0 && ((remainder < 0) != (b < 0)) { remainder + b } else { remainder })
        }
        Op::LShift | Op::RShift => {
            let shift = if op == Op::LShift { b } else { b.checked_neg().ok_or_else(overflow)? };
            let amount = u32::try_from(shift.unsigned_abs().min(63)).unwrap_or(63);
            Ok(if shift >= 0 { a.checked_shl(amount).unwrap_or(0) } else { a >> amount })
        }
        _ => Err(EvalError::new(span, format!("Operator '{}' is not applicable to Integers", op.as_str()))),
    }
}

/// Hash merge: entries of `more` replace those with the same key, new keys go last.
pub(crate) fn merge(mut entries: Vec<(Value, Value)>, more: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    for (key, value) in more {
        match entries.iter_mut().find(|(existing, _)| *existing == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::check;

    #[test]
    fn arithmetic_operators() {
        check(
            "[1 + 2, 7 / 2, -7 / 2, 7 % 3, -7 % 3, 2 * 3.5, 1.0 / 4, 10 - 3, -(2), '3' + 1, 1 << 4, 256 >> 4]",
            expect![[r#"
            [3, 3, -4, 1, 2, 7.0, 0.25, 7, -2, 4, 16, 16]
        "#]],
        );
        check(
            "[[1, 2] + [3], [1, 2, 3, 2] - [2], [1] << 2 << [3], {'a' => 1, 'b' => 2} + {'b' => 3, 'c' => 4}, {'a' => 1, 'b' => 2} - ['a'], {'a' => 1} - 'a']",
            expect![[r#"
            [[1, 2, 3], [1, 3], [1, 2, [3]], {'a' => 1, 'b' => 3, 'c' => 4}, {'b' => 2}, {}]
        "#]],
        );
        check(
            "1 / 0",
            expect![[r#"
            error 0..5: Division by 0
        "#]],
        );
        check(
            "9223372036854775807 + 1",
            expect![[r#"
            error 0..23: integer overflow
        "#]],
        );
        check(
            "'a' + 1",
            expect![[r#"
            error 0..7: Operator '+' is not applicable to a String
        "#]],
        );
        check(
            "{'a' => 1} * 2",
            expect![[r#"
            error 0..14: Operator '*' is not applicable to a Hash
        "#]],
        );
    }

    #[test]
    fn comparison_and_logic() {
        check(
            "['ABC' == 'abc', 1 == 1.0, [1, 'a'] == [1, 'A'], {'a' => 1} == {'a' => 1}, 1 != 2, 'a' < 'B', 2 >= 2, 1.5 < 2]",
            expect![[r#"
            [true, true, true, true, true, true, true, true]
        "#]],
        );
        check(
            "[true and false, false or 1, !undef, !0, undef or false]",
            expect![[r#"
            [false, true, true, false, false]
        "#]],
        );
        check(
            "1 < 'a'",
            expect![[r#"
            error 0..7: Comparison of: Integer < String, is not possible
        "#]],
        );
        check(
            "false and $nope",
            expect![[r#"
            false
        "#]],
        );
    }

    #[test]
    fn matching_and_in() {
        check(
            "if 'web-12' =~ /^(\\w+)-(\\d+)$/ { [$0, $1, $2] }",
            expect![[r#"
            ['web-12', 'web', '12']
        "#]],
        );
        check(
            "['abc' =~ 'b', 'abc' !~ /x/, 5 =~ Integer, 'x' =~ Integer, [1] =~ Array[Integer]]",
            expect![[r#"
            [true, true, true, false, true]
        "#]],
        );
        check(
            "['eat' in 'Eaten', 'B' in ['a', 'b'], 'k' in {'k' => 1}, /^b/ in ['abc', 'bcd'], Integer in ['a', 1], 3 in [1, 2]]",
            expect![[r#"
            [true, true, true, true, true, false]
        "#]],
        );
        check(
            "['DEBIAN' =~ /(?i)^deb[a-i]+n$/, 'x' =~ /(?i)[^a-z]/, 'Ab' =~ /(?i)(?P<x>a)\\w/]",
            expect![[r#"
            [true, false, true]
        "#]],
        );
        check(
            "'a' =~ /(/",
            expect![[r#"
            error 7..10: invalid regular expression /(/: unclosed group
        "#]],
        );
        check(
            "1 =~ /1/",
            expect![[r#"
            error 0..8: Operator '=~' is not applicable to an Integer
        "#]],
        );
    }
}
