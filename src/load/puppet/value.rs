//! Puppet values, as the evaluator computes them, and data types, as far as orchestration
//! needs them (checking declared parameter types, spotting `Sensitive`).

use std::fmt;

/// A Puppet value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undef,
    /// The `default` keyword.
    Default,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    String(String),
    /// The pattern of a regular expression.
    Regex(String),
    Array(Vec<Value>),
    /// Entries in insertion order, as Puppet keeps them; keys are unique.
    Hash(Vec<(Value, Value)>),
    Type(DataType),
    /// A resource reference: `Sql['app1']`, `Node['dev1.example.net']`, `Lamp::Db['x']`.
    /// The type name is capitalised per segment (`Lamp::Db`).
    Reference {
        type_name: String,
        title: String,
    },
    /// A value that must never be shown.
    Sensitive(Box<Value>),
}

/// A data type, enough to check parameters and recognise secrets.
#[derive(Debug, Clone, PartialEq)]
pub enum DataType {
    Any,
    Undef,
    Data,
    Scalar,
    String,
    Integer,
    Float,
    Numeric,
    Boolean,
    Array(Box<DataType>),
    Hash(Box<DataType>, Box<DataType>),
    Optional(Box<DataType>),
    Sensitive(Box<DataType>),
    Variant(Vec<DataType>),
    Enum(Vec<String>),
    Pattern(Vec<String>),
    /// A resource type used as a data type: `Node`, `Sql`, `Lamp::Db`; `Resource` for any.
    Resource(String),
    /// A type ordo does not model (`Stdlib::Port`, aliases, `Struct[...]`): accepts anything.
    Other(String),
}

impl Value {
    /// Puppet's name for the value's type, for messages ("expects a String value, got Integer").
    pub fn type_name(&self) -> String {
        match self {
            Value::Undef => "Undef".into(),
            Value::Default => "Default".into(),
            Value::Boolean(_) => "Boolean".into(),
            Value::Integer(_) => "Integer".into(),
            Value::Float(_) => "Float".into(),
            Value::String(_) => "String".into(),
            Value::Regex(_) => "Regexp".into(),
            Value::Array(_) => "Array".into(),
            Value::Hash(_) => "Hash".into(),
            Value::Type(_) => "Type".into(),
            Value::Reference { type_name, .. } => type_name.clone(),
            Value::Sensitive(_) => "Sensitive".into(),
        }
    }

    /// Puppet truthiness: only `undef` and `false` are false.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Value::Undef | Value::Boolean(false))
    }

    /// The value as JSON for the model, and whether it is (or contains) a secret.
    /// Types become their names and references their `Type[title]` form.
    pub fn to_json(&self) -> (serde_json::Value, bool) {
        match self {
            Value::Undef | Value::Default => (serde_json::Value::Null, false),
            Value::Boolean(flag) => (serde_json::Value::Bool(*flag), false),
            Value::Integer(number) => (serde_json::Value::from(*number), false),
            Value::Float(number) => (
                serde_json::Number::from_f64(*number).map_or(serde_json::Value::Null, serde_json::Value::Number),
                false,
            ),
            Value::String(text) | Value::Regex(text) => (serde_json::Value::String(text.clone()), false),
            Value::Array(items) => {
                let mut secret = false;
                let items = items
                    .iter()
                    .map(|item| {
                        let (value, item_secret) = item.to_json();
                        secret |= item_secret;
                        value
                    })
                    .collect();
                (serde_json::Value::Array(items), secret)
            }
            Value::Hash(entries) => {
                let mut secret = false;
                let mut map = serde_json::Map::new();
                for (key, value) in entries {
                    let (value, value_secret) = value.to_json();
                    secret |= value_secret;
                    map.insert(key.to_string(), value);
                }
                (serde_json::Value::Object(map), secret)
            }
            Value::Type(data_type) => (serde_json::Value::String(data_type.to_string()), false),
            Value::Reference { .. } => (serde_json::Value::String(self.to_string()), false),
            Value::Sensitive(inner) => (inner.to_json().0, true),
        }
    }

    /// A JSON value (a fact, a capability attribute) as a Puppet value.
    pub fn from_json(value: &serde_json::Value) -> Value {
        match value {
            serde_json::Value::Null => Value::Undef,
            serde_json::Value::Bool(flag) => Value::Boolean(*flag),
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(integer) => Value::Integer(integer),
                None => Value::Float(number.as_f64().unwrap_or_default()),
            },
            serde_json::Value::String(text) => Value::String(text.clone()),
            serde_json::Value::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(map) => Value::Hash(
                map.iter().map(|(key, value)| (Value::String(key.clone()), Value::from_json(value))).collect(),
            ),
        }
    }
}

/// How a value reads inside a string, as Puppet interpolates it (`"${x}"`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => Ok(()),
            Value::Default => f.write_str("default"),
            Value::Boolean(flag) => write!(f, "{flag}"),
            Value::Integer(number) => write!(f, "{number}"),
            Value::Float(number) => write!(f, "{number:?}"),
            Value::String(text) => f.write_str(text),
            Value::Regex(pattern) => write!(f, "/{pattern}/"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_nested(f, item)?;
                }
                f.write_str("]")
            }
            Value::Hash(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_nested(f, key)?;
                    f.write_str(" => ")?;
                    write_nested(f, value)?;
                }
                f.write_str("}")
            }
            Value::Type(data_type) => write!(f, "{data_type}"),
            Value::Reference { type_name, title } => write!(f, "{type_name}[{title}]"),
            Value::Sensitive(_) => f.write_str("Sensitive [value redacted]"),
        }
    }
}

/// Inside arrays and hashes, strings are quoted as Puppet shows them.
fn write_nested(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::String(text) => write!(f, "'{text}'"),
        Value::Undef => f.write_str("undef"),
        other => write!(f, "{other}"),
    }
}

impl DataType {
    /// Whether a value is an instance of this type.
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (DataType::Any | DataType::Other(_), _) => true,
            (DataType::Optional(inner), value) => matches!(value, Value::Undef) || inner.accepts(value),
            (DataType::Undef, value) => matches!(value, Value::Undef),
            (DataType::Sensitive(inner), Value::Sensitive(value)) => inner.accepts(value),
            (DataType::Sensitive(_), _) => false,
            (_, Value::Sensitive(_)) => false,
            (DataType::Data, value) => is_data(value),
            (DataType::Scalar, value) => {
                matches!(
                    value,
                    Value::String(_) | Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Regex(_)
                )
            }
            (DataType::String, Value::String(_)) => true,
            (DataType::Integer, Value::Integer(_)) => true,
            (DataType::Float, Value::Float(_)) => true,
            (DataType::Numeric, Value::Integer(_) | Value::Float(_)) => true,
            (DataType::Boolean, Value::Boolean(_)) => true,
            (DataType::Array(element), Value::Array(items)) => items.iter().all(|item| element.accepts(item)),
            (DataType::Hash(key, value_type), Value::Hash(entries)) => {
                entries.iter().all(|(entry_key, entry_value)| key.accepts(entry_key) && value_type.accepts(entry_value))
            }
            (DataType::Variant(types), value) => types.iter().any(|data_type| data_type.accepts(value)),
            (DataType::Enum(names), Value::String(text)) => names.iter().any(|name| name == text),
            (DataType::Pattern(_), Value::String(_)) => true,
            (DataType::Resource(type_name), Value::Reference { type_name: actual, .. }) => {
                type_name == "Resource" || type_name == actual
            }
            _ => false,
        }
    }

    /// Whether values of this type are secret.
    pub fn is_sensitive(&self) -> bool {
        match self {
            DataType::Sensitive(_) => true,
            DataType::Optional(inner) => inner.is_sensitive(),
            DataType::Variant(types) => types.iter().any(DataType::is_sensitive),
            _ => false,
        }
    }
}

fn is_data(value: &Value) -> bool {
    match value {
        Value::Undef | Value::String(_) | Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => true,
        Value::Array(items) => items.iter().all(is_data),
        Value::Hash(entries) => entries.iter().all(|(key, value)| matches!(key, Value::String(_)) && is_data(value)),
        _ => false,
    }
}

/// Puppet's spelling of the type (`Optional[String]`).
impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Any => f.write_str("Any"),
            DataType::Undef => f.write_str("Undef"),
            DataType::Data => f.write_str("Data"),
            DataType::Scalar => f.write_str("Scalar"),
            DataType::String => f.write_str("String"),
            DataType::Integer => f.write_str("Integer"),
            DataType::Float => f.write_str("Float"),
            DataType::Numeric => f.write_str("Numeric"),
            DataType::Boolean => f.write_str("Boolean"),
            DataType::Array(element) => write!(f, "Array[{element}]"),
            DataType::Hash(key, value) => write!(f, "Hash[{key}, {value}]"),
            DataType::Optional(inner) => write!(f, "Optional[{inner}]"),
            DataType::Sensitive(inner) => write!(f, "Sensitive[{inner}]"),
            DataType::Variant(types) => {
                write!(f, "Variant[{}]", types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
            DataType::Enum(names) => {
                write!(f, "Enum[{}]", names.iter().map(|name| format!("'{name}'")).collect::<Vec<_>>().join(", "))
            }
            DataType::Pattern(patterns) => {
                write!(f, "Pattern[{}]", patterns.iter().map(|p| format!("/{p}/")).collect::<Vec<_>>().join(", "))
            }
            DataType::Resource(name) | DataType::Other(name) => f.write_str(name),
        }
    }
}
