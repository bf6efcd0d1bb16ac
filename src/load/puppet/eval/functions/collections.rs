//! Functions over arrays, hashes and values in general: Puppet's `keys`, `values`, `length`,
//! `empty`, `join`, `flatten`, `unique`, `dig`, `unwrap`, `type`, and stdlib's `concat`,
//! `merge`, `delete`, `pick`, `member`, `has_key`, `range`, `union`, `is_*`, `validate_*`...

use std::cmp::Ordering;

use super::{Call, as_integer, flatten};
use crate::load::puppet::eval::operators::{compare, merge, resolve_index};
use crate::load::puppet::eval::types::{infer, parse_number};
use crate::load::puppet::eval::{EvalResult, Evaluator, MAX_ELEMENTS, Scope};
use crate::load::puppet::value::Value;

fn first<'a>(call: &'a Call) -> &'a Value {
    &call.args[0]
}

pub fn keys_values(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Hash(entries) = first(call) else { return Err(call.bad_argument("a Hash", first(call))) };
    let keys = call.name == "keys";
    Ok(Value::Array(entries.iter().map(|(key, value)| if keys { key.clone() } else { value.clone() }).collect()))
}

pub fn length(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let length = match first(call) {
        Value::String(text) => text.chars().count(),
        Value::Array(items) => items.len(),
        Value::Hash(entries) => entries.len(),
        other => return Err(call.bad_argument("a String, Array or Hash", other)),
    };
    Ok(Value::Integer(i64::try_from(length).unwrap_or(i64::MAX)))
}

pub fn empty(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    Ok(Value::Boolean(match first(call) {
        Value::Undef => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Hash(entries) => entries.is_empty(),
        _ => false,
    }))
}

pub fn join(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Array(items) = first(call) else { return Err(call.bad_argument("an Array", first(call))) };
    let separator = call.args.get(1).map(ToString::to_string).unwrap_or_default();
    Ok(Value::String(flatten(items).iter().map(ToString::to_string).collect::<Vec<_>>().join(&separator)))
}

/// stdlib's `join_keys_to_values(hash, separator)`: `["key=value", ...]`; an array value gives
/// one entry per element.
pub fn join_keys_to_values(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Hash(entries) = first(call) else { return Err(call.bad_argument("a Hash", first(call))) };
    let Value::String(separator) = &call.args[1] else { return Err(call.bad_argument("a String", &call.args[1])) };
    let mut joined = Vec::new();
    for (key, value) in entries {
        match value {
            Value::Array(items) => {
                joined.extend(items.iter().map(|item| Value::String(format!("{key}{separator}{item}"))));
            }
            Value::Undef => joined.push(Value::String(format!("{key}{separator}"))),
            value => joined.push(Value::String(format!("{key}{separator}{value}"))),
        }
    }
    Ok(Value::Array(joined))
}

pub fn concat(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let mut items = Vec::new();
    for arg in &call.args {
        match arg {
            Value::Array(more) => items.extend(more.iter().cloned()),
            other => items.push(other.clone()),
        }
    }
    Ok(Value::Array(items))
}

pub fn flatten_function(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    Ok(Value::Array(flatten(&call.args)))
}

pub fn unique(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    match first(call) {
        Value::Array(items) => {
            let mut unique: Vec<Value> = Vec::with_capacity(items.len());
            for item in items {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        Value::String(text) => {
            let mut seen = Vec::new();
            Ok(Value::String(
                text.chars()
                    .filter(|c| {
                        !seen.contains(c) && {
                            seen.push(*c);
                            true
                        }
                    })
                    .collect(),
            ))
        }
        other => Err(call.bad_argument("an Array or a String", other)),
    }
}

pub fn reverse(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    match first(call) {
        Value::Array(items) => Ok(Value::Array(items.iter().rev().cloned().collect())),
        Value::String(text) => Ok(Value::String(text.chars().rev().collect())),
        other => Err(call.bad_argument("an Array or a String", other)),
    }
}

/// `sort` without a block: only numbers or only strings (compared by code point, as Ruby does).
pub fn sort(subject: &Value, call: &Call) -> EvalResult {
    let Value::Array(items) = subject else { return Err(call.bad_argument("an Array", subject)) };
    let comparable = items.iter().all(|item| matches!(item, Value::Integer(_) | Value::Float(_)))
        || items.iter().all(|item| matches!(item, Value::String(_)));
    if !comparable {
        return Err(call.error("'sort' expects an Array of only Numbers or only Strings"));
    }
    let mut sorted = items.clone();
    sorted.sort_by(|a, b| match (a, b) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (a, b) => compare(a, b).unwrap_or(Ordering::Equal),
    });
    Ok(Value::Array(sorted))
}

pub fn min_max(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let candidates = match call.args.as_slice() {
        [Value::Array(items)] => items.as_slice(),
        args => args,
    };
    let mut best: Option<&Value> = None;
    for candidate in candidates {
        let ordering = match best {
            None => Some(Ordering::Less),
            Some(current) => compare(candidate, current),
        };
        let Some(ordering) = ordering else {
            return Err(call.error(format!("'{}' expects only Numbers or only Strings", call.name)));
        };
        if best.is_none() || (call.name == "min" && ordering.is_lt()) || (call.name == "max" && ordering.is_gt()) {
            best = Some(candidate);
        }
    }
    Ok(best.cloned().unwrap_or(Value::Undef))
}

pub fn abs(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let number = match first(call) {
        Value::String(text) => parse_number(text),
        value @ (Value::Integer(_) | Value::Float(_)) => Some(value.clone()),
        _ => None,
    };
    match number {
        Some(Value::Integer(number)) => {
            number.checked_abs().map(Value::Integer).ok_or_else(|| call.error("integer overflow"))
        }
        Some(Value::Float(number)) => Ok(Value::Float(number.abs())),
        _ => Err(call.bad_argument("a Numeric value", first(call))),
    }
}

pub fn has_key(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Hash(entries) = first(call) else { return Err(call.bad_argument("a Hash", first(call))) };
    Ok(Value::Boolean(entries.iter().any(|(key, _)| *key == call.args[1])))
}

pub fn member(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Array(items) = first(call) else { return Err(call.bad_argument("an Array", first(call))) };
    Ok(Value::Boolean(match &call.args[1] {
        Value::Array(wanted) => wanted.iter().all(|want| items.contains(want)),
        want => items.contains(want),
    }))
}

/// stdlib's `merge`: later hashes win; undef and empty strings are skipped.
pub fn merge_function(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let mut merged = Vec::new();
    for arg in &call.args {
        match arg {
            Value::Hash(entries) => merged = merge(merged, entries.clone()),
            Value::Undef => {}
            Value::String(text) if text.is_empty() => {}
            other => return Err(call.bad_argument("Hashes", other)),
        }
    }
    Ok(Value::Hash(merged))
}

pub fn dig(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let mut current = first(call).clone();
    for key in &call.args[1..] {
        current = match (&current, key) {
            (Value::Undef, _) => return Ok(Value::Undef),
            (Value::Array(items), Value::Integer(index)) => {
                resolve_index(*index, items.len()).map_or(Value::Undef, |index| items[index].clone())
            }
            (Value::Hash(entries), key) => {
                entries.iter().find(|(entry_key, _)| entry_key == key).map_or(Value::Undef, |(_, v)| v.clone())
            }
            (other, _) => {
                return Err(call.error(format!(
                    "'dig' cannot look into {} with {key}",
                    crate::load::puppet::eval::article(&other.type_name())
                )));
            }
        };
    }
    Ok(current)
}

pub fn unwrap(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    Ok(match first(call) {
        Value::Sensitive(inner) => (**inner).clone(),
        other => other.clone(),
    })
}

/// stdlib's `pick` (the first value that is not undef or empty, else an error) and
/// `pick_default` (else the last argument).
pub fn pick(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let found = call
        .args
        .iter()
        .find(|arg| !matches!(arg, Value::Undef) && !matches!(arg, Value::String(text) if text.is_empty()));
    match (found, call.name) {
        (Some(found), _) => Ok(found.clone()),
        (None, "pick") => Err(call.error("pick(): must receive at least one non empty value")),
        (None, _) => Ok(call.args.last().cloned().unwrap_or(Value::Undef)),
    }
}

pub fn delete(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let removed = match &call.args[1] {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    match first(call) {
        Value::Array(items) => Ok(Value::Array(items.iter().filter(|item| !removed.contains(item)).cloned().collect())),
        Value::Hash(entries) => {
            Ok(Value::Hash(entries.iter().filter(|(key, _)| !removed.contains(key)).cloned().collect()))
        }
        Value::String(text) => {
            let mut text = text.clone();
            for gone in &removed {
                text = text.replace(&gone.to_string(), "");
            }
            Ok(Value::String(text))
        }
        other => Err(call.bad_argument("an Array, Hash or String", other)),
    }
}

pub fn delete_undef_values(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    match first(call) {
        Value::Array(items) => Ok(Value::Array(items.iter().filter(|item| **item != Value::Undef).cloned().collect())),
        Value::Hash(entries) => {
            Ok(Value::Hash(entries.iter().filter(|(_, value)| *value != Value::Undef).cloned().collect()))
        }
        other => Err(call.bad_argument("an Array or a Hash", other)),
    }
}

pub fn delete_values(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Hash(entries) = first(call) else { return Err(call.bad_argument("a Hash", first(call))) };
    Ok(Value::Hash(entries.iter().filter(|(_, value)| *value != call.args[1]).cloned().collect()))
}

/// stdlib's `union` (elements of all, first occurrences in order), `intersection` (of the
/// first in the second) and `difference` (of the first not in the second).
pub fn set_operation(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let mut arrays = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        match arg {
            Value::Array(items) => arrays.push(items),
            other => return Err(call.bad_argument("Arrays", other)),
        }
    }
    let mut out: Vec<Value> = Vec::new();
    match call.name {
        "union" => {
            for item in arrays.iter().flat_map(|items| items.iter()) {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
        }
        name => {
            for item in arrays[0] {
                let in_second = arrays[1].contains(item);
                if in_second == (name == "intersection") && !out.contains(item) {
                    out.push(item.clone());
                }
            }
        }
    }
    Ok(Value::Array(out))
}

/// stdlib's `values_at(array, indices)`: indices as an Integer, a `"start-stop"` range, or an
/// Array of those.
pub fn values_at(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Array(items) = first(call) else { return Err(call.bad_argument("an Array", first(call))) };
    let wanted = match &call.args[1] {
        Value::Array(indices) => indices.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for index in wanted {
        let range = match &index {
            Value::String(text) if text.contains('-') => {
                let (start, stop) = text.split_once('-').unwrap_or_default();
                match (start.trim().parse::<usize>(), stop.trim().parse::<usize>()) {
                    (Ok(start), Ok(stop)) if start <= stop => start..stop + 1,
                    _ => return Err(call.error(format!("values_at(): Unknown format of given index '{text}'"))),
                }
            }
            other => match as_integer(other).and_then(|index| usize::try_from(index).ok()) {
                Some(index) => index..index + 1,
                None => return Err(call.error(format!("values_at(): Unknown format of given index '{other}'"))),
            },
        };
        for position in range {
            let Some(item) = items.get(position) else {
                return Err(call.error("values_at(): Given index exceeds size of array given"));
            };
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

pub fn zip(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let (Value::Array(a), Value::Array(b)) = (first(call), &call.args[1]) else {
        return Err(call.error("zip(): Requires array to work with"));
    };
    let flat = call.args.get(2).is_some_and(Value::is_truthy);
    let mut out = Vec::with_capacity(a.len());
    for (index, item) in a.iter().enumerate() {
        let other = b.get(index).cloned().unwrap_or(Value::Undef);
        if flat {
            out.extend([item.clone(), other]);
        } else {
            out.push(Value::Array(vec![item.clone(), other]));
        }
    }
    Ok(Value::Array(out))
}

/// stdlib's `hash([k, v, k, v])`.
pub fn hash(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let Value::Array(items) = first(call) else { return Err(call.error("hash(): Requires array to work with")) };
    crate::load::puppet::eval::types::hash_from_array(flatten(items)).map_err(|message| call.error(message))
}

/// stdlib's `any2array`: an Array as it is, a Hash as `[k, v, ...]`, anything else wrapped;
/// several arguments as an Array of them.
pub fn any2array(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    Ok(match call.args.as_slice() {
        [Value::Array(items)] => Value::Array(items.clone()),
        [Value::Hash(entries)] => {
            Value::Array(entries.iter().flat_map(|(key, value)| [key.clone(), value.clone()]).collect())
        }
        [one] => Value::Array(vec![one.clone()]),
        args => Value::Array(args.to_vec()),
    })
}

/// stdlib's `is_*` checks. `is_string` is false for numeric strings, as stdlib's is.
pub fn is_a(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let value = first(call);
    let number = match value {
        Value::String(text) => parse_number(text),
        Value::Integer(_) | Value::Float(_) => Some(value.clone()),
        _ => None,
    };
    Ok(Value::Boolean(match call.name {
        "is_array" => matches!(value, Value::Array(_)),
        "is_hash" => matches!(value, Value::Hash(_)),
        "is_bool" => matches!(value, Value::Boolean(_)),
        "is_integer" => matches!(number, Some(Value::Integer(_))),
        "is_float" => matches!(number, Some(Value::Float(_))),
        "is_numeric" => number.is_some(),
        _ => matches!(value, Value::String(_)) && number.is_none(),
    }))
}

/// stdlib's `validate_string`, `validate_array`, `validate_hash`, `validate_bool` and
/// `validate_integer`, with stdlib's messages.
pub fn validate(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let (what, accepts): (&str, fn(&Value) -> bool) = match call.name {
        "validate_string" => ("a string", |value| matches!(value, Value::String(_) | Value::Undef)),
        "validate_array" => ("an Array", |value| matches!(value, Value::Array(_))),
        "validate_hash" => ("a Hash", |value| matches!(value, Value::Hash(_))),
        "validate_bool" => ("a boolean", |value| matches!(value, Value::Boolean(_))),
        _ => ("an Integer", |value| as_integer(value).is_some()),
    };
    let checked = if call.name == "validate_integer" { &call.args[..1] } else { &call.args[..] };
    for value in checked {
        let bad = match (call.name, value) {
            ("validate_integer", Value::Array(items)) => items.iter().find(|item| !accepts(item)),
            (_, value) if !accepts(value) => Some(value),
            _ => None,
        };
        if let Some(bad) = bad {
            return Err(call.error(format!(
                "{}(): {} is not {what}.  It looks to be a {}",
                call.name,
                crate::load::puppet::eval::types::inspect(bad),
                bad.type_name()
            )));
        }
    }
    if call.name == "validate_integer" {
        let bound = |index: usize| call.args.get(index).and_then(as_integer);
        let values = match first(call) {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for value in values.iter().filter_map(as_integer) {
            if bound(1).is_some_and(|max| value > max) {
                return Err(call.error(format!(
                    "validate_integer(): Expected {value} to be smaller or equal to {}, got {value}",
                    bound(1).unwrap_or_default()
                )));
            }
            if bound(2).is_some_and(|min| value < min) {
                return Err(call.error(format!(
                    "validate_integer(): Expected {value} to be greater or equal to {}, got {value}",
                    bound(2).unwrap_or_default()
                )));
            }
        }
    }
    Ok(Value::Undef)
}

/// `type(value)`: the value's type (`'detailed'`, `'reduced'` and `'generalized'` alike).
pub fn type_of(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    Ok(Value::Type(infer(first(call))))
}

/// stdlib's `range(start, stop, step)`: integers (or numeric strings), single letters, or
/// strings with a common prefix and a numeric suffix (`host01`..`host10`).
pub fn range(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let args = &call.args;
    let step = match args.get(2) {
        None => 1,
        Some(value) => match as_integer(value) {
            Some(step) if step != 0 => step.unsigned_abs(),
            _ => return Err(call.error("range(): the step must be a non-zero Integer")),
        },
    };
    let step = usize::try_from(step).unwrap_or(usize::MAX);
    let (start, stop) = match args.as_slice() {
        [Value::Array(bounds), ..] if bounds.len() == 2 => (&bounds[0], &bounds[1]),
        [start, stop, ..] => (start, stop),
        _ => return Err(call.error("range(): expects a start and a stop")),
    };
    let too_many = || call.error(format!("range(): more than {MAX_ELEMENTS} elements"));
    if let (Some(start), Some(stop)) = (as_integer(start), as_integer(stop)) {
        if stop < start {
            return Ok(Value::Array(Vec::new()));
        }
        let count = stop.abs_diff(start) / step as u64 + 1;
        if count > MAX_ELEMENTS as u64 {
            return Err(too_many());
        }
        // Every element lies between start and stop, so it fits in an i64; i128 keeps the
        // intermediate product from overflowing.
        let values = (0..count)
            .map(|index| Value::Integer((i128::from(start) + i128::from(index) * step as i128) as i64))
            .collect();
        return Ok(Value::Array(values));
    }
    let (Value::String(start), Value::String(stop)) = (start, stop) else {
        return Err(call.error("range(): expects Integers or Strings"));
    };
    let split = |text: &str| {
        let digits = text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, number) = text.split_at(text.len() - digits);
        (prefix.to_string(), number.to_string())
    };
    let (start_prefix, start_number) = split(start);
    let (stop_prefix, stop_number) = split(stop);
    if !start_number.is_empty() && start_prefix == stop_prefix && !stop_number.is_empty() {
        let (Ok(first), Ok(last)) = (start_number.parse::<u64>(), stop_number.parse::<u64>()) else {
            return Err(call.error("range(): the numbers are too large"));
        };
        if last < first {
            return Ok(Value::Array(Vec::new()));
        }
        if (last - first) / step as u64 + 1 > MAX_ELEMENTS as u64 {
            return Err(too_many());
        }
        let width = start_number.len();
        let values = (first..=last)
            .step_by(step)
            .map(|number| Value::String(format!("{start_prefix}{number:0width$}")))
            .collect();
        return Ok(Value::Array(values));
    }
    let mut start_chars = start.chars();
    let mut stop_chars = stop.chars();
    if let (Some(first), None, Some(last), None) =
        (start_chars.next(), start_chars.next(), stop_chars.next(), stop_chars.next())
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphabetic()
    {
        let values = (first..=last).step_by(step).map(|letter| Value::String(letter.to_string())).collect();
        return Ok(Value::Array(values));
    }
    Err(call.error(format!("range(): cannot make a range from '{start}' to '{stop}'")))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::load::puppet::eval::testing::check;

    #[test]
    fn stdlib_collections() {
        check(
            "[any2array(), any2array('a'), any2array({'a' => 1}), any2array(1, 2), union([1, 2], [2, 3]), intersection([1, 2, 3], [3, 2]), difference([1, 2, 3], [2])]",
            expect![[r#"
            [[], ['a'], ['a', 1], [1, 2], [1, 2, 3], [2, 3], [1, 3]]
        "#]],
        );
        check(
            "[values_at(['a', 'b', 'c', 'd'], [0, '2-3']), zip([1, 2], ['a', 'b']), hash(['a', 1, 'b', 2]), join_keys_to_values({'a' => 1, 'b' => [2, 3]}, '='), delete_undef_values([1, undef, 2]), delete_values({'a' => 1, 'b' => 2}, 2)]",
            expect![[r#"
            [['a', 'c', 'd'], [[1, 'a'], [2, 'b']], {'a' => 1, 'b' => 2}, ['a=1', 'b=2', 'b=3'], [1, 2], {'a' => 1}]
        "#]],
        );
        check(
            "[is_string('a'), is_string('12'), is_integer('12'), is_integer(1.5), is_numeric('1.5'), is_float(1.5), is_array([]), is_hash({}), is_bool(false), validate_string('a', undef), type(1), type('x')]",
            expect![[r#"
            [true, false, true, false, true, true, true, true, true, undef, Type(Integer), Type(String)]
        "#]],
        );
        check(
            "validate_string('a', 1)",
            expect![[r#"
            error 0..23: validate_string(): 1 is not a string.  It looks to be a Integer
        "#]],
        );
        check(
            "validate_integer(5, 3)",
            expect![[r#"
            error 0..22: validate_integer(): Expected 5 to be smaller or equal to 3, got 5
        "#]],
        );
    }
}
