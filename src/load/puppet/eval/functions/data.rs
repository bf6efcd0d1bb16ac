//! Functions that read data: `lookup` and the `hiera` family over the environment's Hiera 5
//! data (see [`crate::load::puppet::hiera`]), and stdlib's `getvar`.

use super::Call;
use crate::load::puppet::eval::{EvalResult, Evaluator, Scope};
use crate::load::puppet::hiera::Merge;
use crate::load::puppet::value::{DataType, Value};

/// `lookup(name, value_type, merge, default)`, `lookup(name, options_hash)` and
/// `lookup(name) |$key| { default }`.
pub fn lookup(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let mut names = match &call.args[0] {
        Value::String(name) => vec![name.clone()],
        Value::Array(names) => names.iter().map(ToString::to_string).collect(),
        other => return Err(call.bad_argument("a String or an Array of Strings", other)),
    };
    let mut value_type = DataType::Any;
    let mut merge = None;
    let mut default = None;
    match &call.args[1..] {
        [Value::Hash(options)] => {
            for (key, value) in options {
                match (key.to_string().as_str(), value) {
                    ("name", Value::String(name)) => names = vec![name.clone()],
                    ("value_type", Value::Type(data_type)) => value_type = data_type.clone(),
                    ("merge", strategy) => {
                        merge = Merge::from_value(strategy).map_err(|message| call.error(message))?
                    }
                    ("default_value", value) => default = Some(value.clone()),
                    _ => {}
                }
            }
        }
        rest => {
            if let Some(Value::Type(data_type)) = rest.first() {
                value_type = data_type.clone();
            }
            if let Some(strategy) = rest.get(1) {
                merge = Merge::from_value(strategy).map_err(|message| call.error(message))?;
            }
            if let Some(value) = rest.get(2) {
                default = Some(value.clone());
            }
        }
    }
    let mut found = None;
    for name in &names {
        if let Some(value) = evaluator.lookup_data(scope, name, merge, call.span)? {
            found = Some(value);
            break;
        }
    }
    let value = match (found, default, call.lambda) {
        (Some(value), _, _) => value,
        (None, _, Some(lambda)) => {
            let key = Value::String(names.first().cloned().unwrap_or_default());
            evaluator.call_lambda(scope, call.name, lambda, vec![key])?
        }
        (None, Some(default), None) => default,
        (None, None, None) => {
            return Err(call.error(format!(
                "Function lookup() did not find a value for the name '{}'",
                names.first().map(String::as_str).unwrap_or_default()
            )));
        }
    };
    if !value_type.accepts(&value) {
        return Err(call.error(format!(
            "Found value has wrong type, expects {} value, got {}",
            crate::load::puppet::eval::article(&value_type.to_string()),
            value.type_name()
        )));
    }
    Ok(value)
}

/// `hiera(key, default)`, `hiera_array` (unique merge) and `hiera_hash` (hash merge).
pub fn hiera(evaluator: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let key = call.args[0].to_string();
    let merge = match call.name {
        "hiera_array" => Merge::Unique,
        "hiera_hash" => Merge::Hash,
        _ => Merge::First,
    };
    // The hiera functions name their strategy, so `lookup_options` never choose one for them.
    let merge = Some(merge);
    match (evaluator.lookup_data(scope, &key, merge, call.span)?, call.args.get(1)) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(call.error(format!("Function {}() did not find a value for the name '{key}'", call.name))),
    }
}

/// stdlib's `getvar('name')` and `getvar('ns::name', default)`: a variable by name.
pub fn getvar(_: &mut Evaluator, scope: &mut Scope, call: &Call) -> EvalResult {
    let name = call.args[0].to_string();
    let name = name.trim_start_matches('$');
    let value = scope.get(name).or_else(|| scope.get(&format!("::{}", name.trim_start_matches("::")))).cloned();
    Ok(value.or_else(|| call.args.get(1).cloned()).unwrap_or(Value::Undef))
}
