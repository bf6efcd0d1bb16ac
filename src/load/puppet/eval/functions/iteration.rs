//! Functions that call their block: iteration (`each`, `map`, `filter`, `any`, `all`,
//! `reduce`, `reverse_each`, `count` and `sort` with a block), `with`, `then` and `lest`,
//! `assert_type`, and the control-flow functions `next`, `break` and `return`.

use super::{Call, elements};
use crate::load::puppet::eval::{Control, EvalError, EvalResult, Evaluator, MAX_DEPTH, Scope, article};
use crate::load::puppet::value::Value;

/// The arguments a block gets for one element: with two parameters, arrays give
/// `index, value` and hashes `key, value`; with one, hash entries are `[key, value]` pairs.
fn block_args(item: &Value, index: usize, subject: &Value, pairs: bool) -> Vec<Value> {
    match (item, subject, pairs) {
        (Value::Array(pair), Value::Hash(_), true) => pair.clone(),
        (_, _, true) => vec![Value::Integer(i64::try_from(index).unwrap_or(i64::MAX)), item.clone()],
        (_, _, false) => vec![item.clone()],
    }
}

/// Calls the block once per element until it returns or `break`s; `next` gives a value.
/// Returns each result with its element, and whether iteration was stopped by `break`.
fn each_result(
    evaluator: &mut Evaluator,
    scope: &mut Scope,
    call: &Call,
    subject: &Value,
    items: Vec<Value>,
    mut visit: impl FnMut(&Value, Value) -> bool,
) -> EvalResult<()> {
    let lambda = call.lambda()?;
    let pairs = lambda.params.len() >= 2;
    for (index, item) in items.iter().enumerate() {
        let args = block_args(item, index, subject, pairs);
        match evaluator.call_lambda(scope, call.name, lambda, args) {
            Ok(result) => {
                if !visit(item, result) {
                    break;
                }
            }
            Err(EvalError { control: Some(control), .. }) if matches!(*control, Control::Break) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// `each`, `map`, `filter`, `any` and `all` over an Integer, Array or Hash.
pub fn iterate(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let subject = &call.args[0];
    let items = elements(subject, call.span)?;
    let mut mapped = Vec::new();
    let mut kept = Vec::new();
    let mut verdict = None;
    each_result(evaluator, scope, call, subject, items, |item, result| match call.name {
        "map" => {
            mapped.push(result);
            true
        }
        "filter" => {
            if result.is_truthy() {
                kept.push(item.clone());
            }
            true
        }
        "any" if result.is_truthy() => {
            verdict = Some(true);
            false
        }
        "all" if !result.is_truthy() => {
            verdict = Some(false);
            false
        }
        _ => true,
    })?;
    Ok(match call.name {
        "map" => Value::Array(mapped),
        "filter" => match subject {
            Value::Hash(_) => Value::Hash(kept.into_iter().filter_map(pair).collect()),
            _ => Value::Array(kept),
        },
        "any" => Value::Boolean(verdict.unwrap_or(false)),
        "all" => Value::Boolean(verdict.unwrap_or(true)),
        _ => subject.clone(),
    })
}

/// A `[key, value]` array as a hash entry.
fn pair(value: Value) -> Option<(Value, Value)> {
    match value {
        Value::Array(mut pair) if pair.len() == 2 => {
            let value = pair.pop()?;
            let key = pair.pop()?;
            Some((key, value))
        }
        _ => None,
    }
}

/// `reverse_each`: the elements last to first, or with a block, each of them so.
pub fn reverse_each(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let subject = &call.args[0];
    let mut items = elements(subject, call.span)?;
    items.reverse();
    if call.lambda.is_none() {
        return Ok(Value::Array(items));
    }
    let reversed = Value::Array(items.clone());
    each_result(evaluator, scope, call, &reversed, items, |_, _| true)?;
    Ok(subject.clone())
}

pub fn reduce(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let lambda = call.lambda()?;
    let mut items = elements(&call.args[0], call.span)?.into_iter();
    let mut memo = match call.args.get(1) {
        Some(start) => start.clone(),
        None => match items.next() {
            Some(first) => first,
            None => return Ok(Value::Undef),
        },
    };
    for item in items {
        memo = match evaluator.call_lambda(scope, call.name, lambda, vec![memo.clone(), item]) {
            Ok(memo) => memo,
            Err(EvalError { control: Some(control), .. }) if matches!(*control, Control::Break) => break,
            Err(err) => return Err(err),
        };
        // `reduce` is the one way to feed a value back into itself, so it is where unbounded
        // nesting (`[$memo]`) could overflow the stack later on.
        if too_deep(&memo, MAX_DEPTH) {
            return Err(call.error(format!("'reduce' built a value nested more than {MAX_DEPTH} levels deep")));
        }
    }
    Ok(memo)
}

pub fn with(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    evaluator.call_lambda(scope, call.name, call.lambda()?, call.args.clone())
}

pub fn then_lest(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let lambda = call.lambda()?;
    match (call.name, &call.args[0]) {
        ("then", Value::Undef) => Ok(Value::Undef),
        ("then", value) => evaluator.call_lambda(scope, call.name, lambda, vec![value.clone()]),
        (_, Value::Undef) => evaluator.call_lambda(scope, call.name, lambda, Vec::new()),
        (_, value) => Ok(value.clone()),
    }
}

/// stdlib's `count`: elements that are not undef (or equal to the second argument); with a
/// block, elements for which it is truthy.
pub fn count(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let subject = &call.args[0];
    if call.lambda.is_none() {
        let items = match subject {
            Value::Array(items) => items.clone(),
            Value::Hash(_) => elements(subject, call.span)?,
            // Puppet 6's `count` counts characters; stdlib's would fail here.
            Value::String(text) => return Ok(Value::Integer(text.chars().count() as i64)),
            other => return Err(call.bad_argument("an Array or a Hash", other)),
        };
        let counted = match call.args.get(1) {
            Some(wanted) => items.iter().filter(|item| *item == wanted).count(),
            None => items.iter().filter(|item| !matches!(item, Value::Undef)).count(),
        };
        return Ok(Value::Integer(counted as i64));
    }
    let mut counted = 0;
    let items = elements(subject, call.span)?;
    each_result(evaluator, scope, call, subject, items, |_, result| {
        if result.is_truthy() {
            counted += 1;
        }
        true
    })?;
    Ok(Value::Integer(counted))
}

/// `sort`: numbers or strings in order; with a block, by the block's comparison.
pub fn sort(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let Some(lambda) = call.lambda else { return super::collections::sort(&call.args[0], call) };
    let Value::Array(items) = &call.args[0] else { return Err(call.bad_argument("an Array", &call.args[0])) };
    // An insertion sort, so an erroring comparison stops cleanly; sort inputs are small.
    let mut sorted: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let mut position = sorted.len();
        while position > 0 {
            let order =
                evaluator.call_lambda(scope, call.name, lambda, vec![sorted[position - 1].clone(), item.clone()])?;
            if !matches!(order, Value::Integer(number) if number > 0) {
                break;
            }
            position -= 1;
        }
        sorted.insert(position, item.clone());
    }
    Ok(Value::Array(sorted))
}

/// `assert_type(Type, value)`: the value when the type accepts it; otherwise the block's
/// result, or Puppet's error.
pub fn assert_type(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let Value::Type(data_type) = &call.args[0] else { return Err(call.bad_argument("a Type", &call.args[0])) };
    let value = &call.args[1];
    if data_type.accepts(value) {
        return Ok(value.clone());
    }
    match call.lambda {
        Some(lambda) => evaluator.call_lambda(
            scope,
            call.name,
            lambda,
            vec![Value::Type(data_type.clone()), Value::String(value.type_name())],
        ),
        None => Err(call.error(format!(
            "assert_type(): expects {} value, got {}",
            article(&data_type.to_string()),
            value.type_name()
        ))),
    }
}

/// `next(value)`, `break()` and `return(value)`: unwind to the block, the iteration or the
/// function; anywhere else they are errors with Puppet's wording.
pub fn control(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let value = call.args.first().cloned().unwrap_or(Value::Undef);
    let control = match call.name {
        "next" => Control::Next(value),
        "break" => Control::Break,
        _ => Control::Return(value),
    };
    let mut error = call.error(format!("{}() from context where this is illegal", call.name));
    error.control = Some(Box::new(control));
    Err(error)
}

/// Whether arrays and hashes nest more than `limit` levels deep.
fn too_deep(value: &Value, limit: usize) -> bool {
    match value {
        _ if limit == 0 => matches!(value, Value::Array(_) | Value::Hash(_) | Value::Sensitive(_)),
        Value::Array(items) => items.iter().any(|item| too_deep(item, limit - 1)),
        Value::Hash(entries) => {
            entries.iter().any(|(key, value)| too_deep(key, limit - 1) || too_deep(value, limit - 1))
        }
        Value::Sensitive(inner) => too_deep(inner, limit - 1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::load::puppet::eval::testing::check;

    #[test]
    fn control_flow() {
        check(
            "[[1, 2, 3].map |$x| { if $x == 2 { next(20) } $x }, [1, 2, 3].filter |$x| { if $x == 2 { break() } true }, [3, 1].reverse_each, [1, 2, 3].reduce |$m, $x| { if $x == 3 { break() } $m + $x }]",
            expect![[r#"
            [[1, 20, 3], [1], [1, 3], 3]
        "#]],
        );
        check(
            "[count([1, undef, 2]), count([1, 1, 2], 1), assert_type(Integer, 1), assert_type(Integer, 'x') |$t, $v| { 0 }]",
            expect![[r#"
            [2, 2, 1, 0]
        "#]],
        );
        check(
            "assert_type(String, 1)",
            expect![[r#"
            error 0..22: assert_type(): expects a String value, got Integer
        "#]],
        );
        check(
            "break()",
            expect![[r#"
            error 0..7: break() from context where this is illegal
        "#]],
        );
    }
}
