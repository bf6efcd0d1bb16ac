//! Data types as the evaluator sees them: type expressions (`Optional[String[1]]`, `Node`,
//! `Stdlib::Port`) to [`DataType`]s, the type of a value (`type()`), and Puppet's conversions
//! (`Integer($x)`, `Sensitive.new($x)`), with the number notations they accept.

use super::{EvalError, EvalResult, Evaluator, Scope, article};
use crate::lang::ast::{Expr, ExprKind, Span};
use crate::load::puppet::value::{DataType, Value};
use crate::model::capitalize_type;

impl Evaluator {
    /// A type expression (`Optional[String[1]]`, `Node`, `Stdlib::Port`) to a DataType.
    /// Size and range parameters are ignored.
    pub fn eval_type(&mut self, scope: &mut Scope, expr: &Expr) -> EvalResult<DataType> {
        match &expr.kind {
            ExprKind::TypeRef(name) => return Ok(type_from_name(name)),
            ExprKind::Access { target, keys } => {
                if let ExprKind::TypeRef(name) = &target.kind {
                    return self.parameterized_type(scope, name, keys, expr.span);
                }
            }
            ExprKind::Paren(inner) => return self.eval_type(scope, inner),
            _ => {}
        }
        match self.eval(scope, expr)? {
            Value::Type(data_type) => Ok(data_type),
            other => Err(EvalError::new(expr.span, format!("expected a type, got {}", article(&other.type_name())))),
        }
    }

    /// `Optional[String]`, `Hash[String, Integer]`, `Enum['a', 'b']`, `Node['x']`.
    pub(crate) fn parameterized_type(
        &mut self,
        scope: &mut Scope,
        name: &str,
        keys: &[Expr],
        span: Span,
    ) -> EvalResult<DataType> {
        let name = name.trim_start_matches("::");
        if !is_data_type_name(name) {
            return Ok(if RESOURCE_TYPE_NAMES.contains(&name) {
                match (name, keys) {
                    ("Resource", [key, ..]) => match &key.kind {
                        ExprKind::String(text) | ExprKind::Name(text) | ExprKind::TypeRef(text) => {
                            DataType::Resource(capitalize_type(text))
                        }
                        _ => DataType::Resource(name.to_string()),
                    },
                    _ => DataType::Resource(name.to_string()),
                }
            } else {
                DataType::Other(name.to_string())
            });
        }
        // Types whose parameters ordo does not model are not evaluated at all, so a
        // `Struct[{...}]` or `Callable[...]` never fails.
        if !matches!(name, "Optional" | "Sensitive" | "Array" | "Hash" | "Variant" | "Enum" | "Pattern") {
            return Ok(type_from_name(name));
        }
        let mut args = Vec::with_capacity(keys.len());
        for key in keys {
            args.push(self.eval(scope, key)?);
        }
        let type_arg = |value: &Value| -> Option<DataType> {
            match value {
                Value::Type(data_type) => Some(data_type.clone()),
                Value::String(text) => Some(DataType::Enum(vec![text.clone()])),
                _ => None,
            }
        };
        let bad = |value: &Value| {
            EvalError::new(
                span,
                format!("{name}[] does not accept {} as a type parameter", article(&value.type_name())),
            )
        };
        Ok(match name {
            "Optional" | "Sensitive" => {
                let inner = match args.first() {
                    Some(value) => type_arg(value).ok_or_else(|| bad(value))?,
                    None => DataType::Any,
                };
                if name == "Optional" {
                    DataType::Optional(Box::new(inner))
                } else {
                    DataType::Sensitive(Box::new(inner))
                }
            }
            "Array" => DataType::Array(Box::new(args.first().and_then(type_arg).unwrap_or(DataType::Any))),
            "Hash" => match args.as_slice() {
                [Value::Type(key), Value::Type(value), ..] => {
                    DataType::Hash(Box::new(key.clone()), Box::new(value.clone()))
                }
                _ => DataType::Hash(Box::new(DataType::Any), Box::new(DataType::Any)),
            },
            "Variant" => {
                let mut types = Vec::with_capacity(args.len());
                for value in &args {
                    types.push(type_arg(value).ok_or_else(|| bad(value))?);
                }
                DataType::Variant(types)
            }
            "Enum" => {
                let mut names = Vec::with_capacity(args.len());
                for value in &args {
                    match value {
                        Value::String(text) => names.push(text.clone()),
                        Value::Array(items) if items.iter().all(|item| matches!(item, Value::String(_))) => {
                            names.extend(items.iter().map(ToString::to_string));
                        }
                        other => return Err(bad(other)),
                    }
                }
                DataType::Enum(names)
            }
            _ => {
                let mut patterns = Vec::with_capacity(args.len());
                for value in &args {
                    match value {
                        Value::String(text) | Value::Regex(text) => patterns.push(text.clone()),
                        other => return Err(bad(other)),
                    }
                }
                DataType::Pattern(patterns)
            }
        })
    }

    /// `Type(value)` and `Type.new(value)`: Puppet's conversions, as far as orchestration
    /// code uses them.
    pub(crate) fn convert(
        &mut self,
        scope: &mut Scope,
        name: &str,
        callee: &Expr,
        args: Vec<Value>,
        span: Span,
    ) -> EvalResult {
        let data_type = self.eval_type(scope, callee)?;
        let type_name = name.trim_start_matches("::");
        let Some(value) = args.into_iter().next() else {
            return Err(EvalError::new(span, format!("'{type_name}.new' expects at least 1 argument, got 0")));
        };
        let cannot = |value: &Value| {
            let what = match value {
                Value::String(text) => format!("The string '{text}'"),
                other => format!("A value of type {}", other.type_name()),
            };
            EvalError::new(span, format!("{what} cannot be converted to {type_name}"))
        };
        match (&data_type, value) {
            (DataType::Sensitive(_), value @ Value::Sensitive(_)) => Ok(value),
            (DataType::Sensitive(_), value) => Ok(Value::Sensitive(Box::new(value))),
            (DataType::String, value) => Ok(Value::String(value.to_string())),
            (DataType::Integer, value) => match &value {
                Value::Integer(_) => Ok(value),
                Value::Float(number) if number.is_finite() && number.abs() < 9.2e18 => {
                    Ok(Value::Integer(*number as i64))
                }
                Value::Boolean(flag) => Ok(Value::Integer(i64::from(*flag))),
                Value::String(text) => parse_integer(text).map(Value::Integer).ok_or_else(|| cannot(&value)),
                _ => Err(cannot(&value)),
            },
            (DataType::Float, value) => match &value {
                Value::Integer(number) => Ok(Value::Float(*number as f64)),
                Value::Float(_) => Ok(value),
                Value::Boolean(flag) => Ok(Value::Float(if *flag { 1.0 } else { 0.0 })),
                Value::String(text) => parse_number(text)
                    .map(|number| match number {
                        Value::Integer(integer) => Value::Float(integer as f64),
                        other => other,
                    })
                    .ok_or_else(|| cannot(&value)),
                _ => Err(cannot(&value)),
            },
            (DataType::Numeric, value) => match &value {
                Value::Integer(_) | Value::Float(_) => Ok(value),
                Value::Boolean(flag) => Ok(Value::Integer(i64::from(*flag))),
                Value::String(text) => parse_number(text).ok_or_else(|| cannot(&value)),
                _ => Err(cannot(&value)),
            },
            (DataType::Boolean, value) => match &value {
                Value::Boolean(_) => Ok(value),
                Value::Integer(number) => Ok(Value::Boolean(*number != 0)),
                Value::Float(number) => Ok(Value::Boolean(*number != 0.0)),
                Value::String(text) => match text.to_lowercase().as_str() {
                    "true" | "yes" | "y" => Ok(Value::Boolean(true)),
                    "false" | "no" | "n" | "" => Ok(Value::Boolean(false)),
                    _ => Err(cannot(&value)),
                },
                _ => Err(cannot(&value)),
            },
            (DataType::Array(_), value) => Ok(match value {
                Value::Array(items) => Value::Array(items),
                Value::Hash(entries) => {
                    Value::Array(entries.into_iter().map(|(key, value)| Value::Array(vec![key, value])).collect())
                }
                other => Value::Array(vec![other]),
            }),
            (DataType::Hash(..), value) => match value {
                Value::Hash(entries) => Ok(Value::Hash(entries)),
                Value::Array(items) => hash_from_array(items).map_err(|message| EvalError::new(span, message)),
                other => Err(cannot(&other)),
            },
            _ => Err(EvalError::new(span, format!("Creation of new instance of type '{type_name}' is not supported"))),
        }
    }
}

/// Names of Puppet's data types (as opposed to resource types), which evaluate to types
/// rather than references when accessed with `[...]`.
pub(crate) const DATA_TYPE_NAMES: &[&str] = &[
    "Any",
    "Array",
    "Binary",
    "Boolean",
    "Callable",
    "CatalogEntry",
    "Collection",
    "Data",
    "Default",
    "Deferred",
    "Enum",
    "Error",
    "Float",
    "Hash",
    "Init",
    "Integer",
    "Iterable",
    "Iterator",
    "NotUndef",
    "Numeric",
    "Object",
    "Optional",
    "Pattern",
    "Regexp",
    "RichData",
    "Runtime",
    "Scalar",
    "ScalarData",
    "SemVer",
    "SemVerRange",
    "Sensitive",
    "String",
    "Struct",
    "Timespan",
    "Timestamp",
    "Tuple",
    "Type",
    "TypeSet",
    "URI",
    "Undef",
    "Variant",
];

/// Resource types ordo knows to be resource types when they are used as data types; any other
/// unknown name may be a type alias, so it becomes [`DataType::Other`], which accepts anything.
pub(crate) const RESOURCE_TYPE_NAMES: &[&str] = &[
    "Node",
    "Resource",
    "Class",
    "File",
    "Package",
    "Service",
    "Exec",
    "User",
    "Group",
    "Notify",
    "Cron",
    "Host",
    "Mount",
    "Sshkey",
    "Tidy",
    "Stage",
    "Schedule",
    "Filebucket",
];

pub(crate) fn is_data_type_name(name: &str) -> bool {
    DATA_TYPE_NAMES.contains(&name)
}

/// A type written without parameters: `String`, `Node`, `Stdlib::Port`.
pub(crate) fn type_from_name(name: &str) -> DataType {
    let name = name.trim_start_matches("::");
    match name {
        "Any" => DataType::Any,
        "Undef" => DataType::Undef,
        "Data" => DataType::Data,
        "Scalar" => DataType::Scalar,
        "String" => DataType::String,
        "Integer" => DataType::Integer,
        "Float" => DataType::Float,
        "Numeric" => DataType::Numeric,
        "Boolean" => DataType::Boolean,
        "Array" => DataType::Array(Box::new(DataType::Any)),
        "Hash" => DataType::Hash(Box::new(DataType::Any), Box::new(DataType::Any)),
        "Optional" => DataType::Optional(Box::new(DataType::Any)),
        "Sensitive" => DataType::Sensitive(Box::new(DataType::Any)),
        "Pattern" => DataType::Pattern(Vec::new()),
        "Enum" => DataType::String,
        _ if RESOURCE_TYPE_NAMES.contains(&name) => DataType::Resource(name.to_string()),
        _ => DataType::Other(name.to_string()),
    }
}

/// A plain value given for a `Sensitive[T]` (or `Optional[Sensitive[T]]`) parameter becomes
/// Sensitive when `T` accepts it, as Puppet's typed parameters do.
pub(crate) fn wrap_sensitive(data_type: &DataType, value: Value) -> Value {
    match (data_type, value) {
        (_, value @ (Value::Sensitive(_) | Value::Undef)) => value,
        (DataType::Sensitive(inner), value) if inner.accepts(&value) => Value::Sensitive(Box::new(value)),
        (DataType::Optional(inner), value) => wrap_sensitive(inner, value),
        (_, value) => value,
    }
}

/// An Integer in Puppet's notations: decimal, `0x1F`, `0o17` or `017`, `0b101`, with a sign.
pub(crate) fn parse_integer(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(binary) = lower.strip_prefix("0b") {
        i64::from_str_radix(binary, 2).ok()?
    } else if let Some(octal) = lower.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse::<i64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// An Integer if the text is one, else a Float.
pub(crate) fn parse_number(text: &str) -> Option<Value> {
    if let Some(integer) = parse_integer(text) {
        return Some(Value::Integer(integer));
    }
    let number: f64 = text.trim().parse().ok()?;
    number.is_finite().then_some(Value::Float(number))
}

/// `[[k, v], ...]` or `[k, v, k, v]` to a Hash.
pub(crate) fn hash_from_array(items: Vec<Value>) -> Result<Value, String> {
    let mut entries: Vec<(Value, Value)> = Vec::new();
    let pairs = items.iter().all(|item| matches!(item, Value::Array(pair) if pair.len() == 2));
    let mut push = |key: Value, value: Value| match entries.iter_mut().find(|(existing, _)| *existing == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key, value)),
    };
    if pairs && !items.is_empty() {
        for item in items {
            if let Value::Array(mut pair) = item
                && let (Some(value), Some(key)) = (pair.pop(), pair.pop())
            {
                push(key, value);
            }
        }
    } else {
        if !items.len().is_multiple_of(2) {
            return Err("a Hash needs an even number of elements or an Array of [key, value] pairs".into());
        }
        let mut items = items.into_iter();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            push(key, value);
        }
    }
    Ok(Value::Hash(entries))
}

/// The type of a value, as `type()` gives it.
pub(crate) fn infer(value: &Value) -> DataType {
    match value {
        Value::Undef => DataType::Undef,
        Value::Default => DataType::Other("Default".into()),
        Value::Boolean(_) => DataType::Boolean,
        Value::Integer(_) => DataType::Integer,
        Value::Float(_) => DataType::Float,
        Value::String(_) => DataType::String,
        Value::Regex(_) => DataType::Other("Regexp".into()),
        Value::Array(_) => DataType::Array(Box::new(DataType::Any)),
        Value::Hash(_) => DataType::Hash(Box::new(DataType::Any), Box::new(DataType::Any)),
        Value::Type(_) => DataType::Other("Type".into()),
        Value::Reference { type_name, .. } => DataType::Resource(type_name.clone()),
        Value::Sensitive(inner) => DataType::Sensitive(Box::new(infer(inner))),
    }
}

/// A value as Ruby's `inspect` writes it, for stdlib's messages: `"a"`, `1`, `["a", 1]`.
pub(crate) fn inspect(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Undef => "nil".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(inspect).collect::<Vec<_>>().join(", ")),
        Value::Hash(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(key, value)| format!("{}=>{}", inspect(key), inspect(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::check;

    #[test]
    fn conversions_and_sensitive() {
        check(
            "$s = Sensitive('pw') [$s, $s.unwrap, unwrap($s), Sensitive.new('x'), \"${s}\", String($s), unwrap('plain')]",
            expect![[r#"
            [Sensitive('pw'), 'pw', 'pw', Sensitive('x'), 'Sensitive [value redacted]', 'Sensitive [value redacted]', 'plain']
        "#]],
        );
        check(
            "[String(5), Integer('42'), Integer('0x1F'), Integer(2.9), Float('1.5'), Float(2), Numeric('3'), Numeric('3.5'), Boolean('yes'), Boolean(0), Array(1), Array({'a' => 1}), Hash([['a', 1]])]",
            expect![[r#"
            ['5', 42, 31, 2, 1.5, 2.0, 3, 3.5, true, false, [1], [['a', 1]], {'a' => 1}]
        "#]],
        );
        check(
            "Integer('abc')",
            expect![[r#"
            error 0..14: The string 'abc' cannot be converted to Integer
        "#]],
        );
        check(
            "Boolean('maybe')",
            expect![[r#"
            error 0..16: The string 'maybe' cannot be converted to Boolean
        "#]],
        );
        check(
            "Node('x')",
            expect![[r#"
            error 0..9: Creation of new instance of type 'Node' is not supported
        "#]],
        );
    }
}
