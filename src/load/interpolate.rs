//! `${name}` interpolation in YAML values.
//!
//! A string that is exactly one `${path}` takes the referenced value with its type (so
//! `port: "${port}"` stays an integer); anything else is string concatenation. A path is a
//! variable name followed by `.key` steps into hashes and arrays (`${facts.os.family}`).
//! `$${` writes a literal `${`. Values derived from a secret are secret too: interpolation
//! reports whether any referenced value was secret, so secrecy flows with the data.

use std::sync::Arc;

use serde_json::Value;

use crate::model::NameMap;

/// Variables visible to an interpolation, each with its secrecy.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    vars: NameMap<(Arc<Value>, bool)>,
}

impl Scope {
    pub fn set(&mut self, name: &str, value: Value, secret: bool) {
        self.set_shared(name, Arc::new(value), secret);
    }

    /// Sets a variable to a value other scopes hold too (a node's facts, shared by every
    /// component on the node), without copying it.
    pub fn set_shared(&mut self, name: &str, value: Arc<Value>, secret: bool) {
        self.vars.insert(name.to_string(), (value, secret));
    }

    #[cfg(test)]
    pub fn with(mut self, name: &str, value: Value) -> Scope {
        self.set(name, value, false);
        self
    }

    fn lookup(&self, path: &str) -> Result<(Value, bool), InterpolationError> {
        let mut steps = path.split('.');
        let name = steps.next().unwrap_or_default().trim();
        let Some((value, secret)) = self.vars.get(name) else {
            return Err(InterpolationError::UnknownVariable {
                name: name.to_string(),
                known: self.vars.keys().cloned().collect(),
            });
        };
        // The path is walked by reference: only the value it ends at is copied, not the
        // whole map (a node's facts) it starts from.
        let mut value: &Value = value;
        for step in steps {
            let next = match value {
                Value::Object(map) => map.get(step),
                Value::Array(items) => step.parse::<usize>().ok().and_then(|index| items.get(index)),
                _ => None,
            };
            value =
                next.ok_or_else(|| InterpolationError::UnknownKey { path: path.to_string(), key: step.to_string() })?;
        }
        Ok((value.clone(), *secret))
    }
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    UnknownVariable { name: String, known: Vec<String> },
    UnknownKey { path: String, key: String },
    Unclosed,
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolationError::UnknownVariable { name, .. } => {
                write!(f, "unknown variable `{name}`")
            }
            InterpolationError::UnknownKey { path, key } => {
                write!(f, "`{path}` has no key `{key}`")
            }
            InterpolationError::Unclosed => write!(f, "unclosed `${{` in interpolation"),
        }
    }
}

/// Interpolates every string inside `value`; returns the result and whether it is secret.
pub fn interpolate(value: &Value, scope: &Scope) -> Result<(Value, bool), InterpolationError> {
    match value {
        Value::String(text) => interpolate_str(text, scope),
        Value::Array(items) => {
            let mut secret = false;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let (item, item_secret) = interpolate(item, scope)?;
                secret |= item_secret;
                out.push(item);
            }
            Ok((Value::Array(out), secret))
        }
        Value::Object(map) => {
            let mut secret = false;
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                let (item, item_secret) = interpolate(item, scope)?;
                secret |= item_secret;
                out.insert(key.clone(), item);
            }
            Ok((Value::Object(out), secret))
        }
        other => Ok((other.clone(), false)),
    }
}

fn interpolate_str(text: &str, scope: &Scope) -> Result<(Value, bool), InterpolationError> {
    if !text.contains('$') {
        return Ok((Value::String(text.to_string()), false));
    }
    // A path seldom has a `$`: looking for the character first spares most lookups a
    // substring search.
    if let Some(path) = text.strip_prefix("${").and_then(|rest| rest.strip_suffix('}'))
        && !path.contains('}')
        && !(path.contains('$') && path.contains("${"))
    {
        return scope.lookup(path);
    }
    let mut secret = false;
    let out = substitute(text, |path| {
        let (value, value_secret) = scope.lookup(path)?;
        secret |= value_secret;
        Ok(crate::model::display_value(&value))
    })?;
    Ok((Value::String(out), secret))
}

/// Interpolates a shell command without putting any value into its text: each `${path}`
/// becomes `"$ORDO_VALUE_N"`, a quoted reference to an environment variable, and the values
/// are returned as those variables. A value holding `; rm -rf /` is then only ever data.
pub fn interpolate_shell(text: &str, scope: &Scope) -> Result<(String, Vec<(String, String)>), InterpolationError> {
    let mut env = Vec::new();
    let out = substitute(text, |path| {
        let (value, _) = scope.lookup(path)?;
        let name = format!("ORDO_VALUE_{}", env.len() + 1);
        env.push((name.clone(), crate::model::display_value(&value)));
        Ok(format!("\"${name}\""))
    })?;
    Ok((out, env))
}

/// Replaces each `${path}` of a text by what `replace` makes of the path; `$${` writes a
/// literal `${`, and any other `$` stays as it is.
fn substitute(
    text: &str,
    mut replace: impl FnMut(&str) -> Result<String, InterpolationError>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(inner) = after.strip_prefix("${") {
            let close = inner.find('}').ok_or(InterpolationError::Unclosed)?;
            out.push_str(&replace(&inner[..close])?);
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut scope = Scope::default().with("title", json!("app1")).with("port", json!(3306));
        scope.set("password", json!("hunter2"), true);
        scope.set("facts", json!({"os": {"family": "Debian"}, "ips": ["10.0.0.1"]}), false);
        scope
    }

    #[test]
    fn whole_references_keep_their_type() {
        assert_eq!(interpolate(&json!("${port}"), &scope()), Ok((json!(3306), false)));
        assert_eq!(interpolate(&json!("${facts.os}"), &scope()), Ok((json!({"family": "Debian"}), false)));
    }

    #[test]
    fn strings_concatenate_and_carry_secrecy() {
        assert_eq!(interpolate(&json!("${title}-1:${port}"), &scope()), Ok((json!("app1-1:3306"), false)));
        assert_eq!(interpolate(&json!("u:${password}"), &scope()), Ok((json!("u:hunter2"), true)));
        assert_eq!(interpolate(&json!("$${title} costs $5"), &scope()), Ok((json!("${title} costs $5"), false)));
        assert_eq!(interpolate(&json!(["${facts.ips.0}"]), &scope()), Ok((json!(["10.0.0.1"]), false)));
    }

    #[test]
    fn shell_commands_get_values_as_variables() {
        let scope = scope().with("host", json!("db; touch /tmp/x"));
        let (command, env) = interpolate_shell("nc -z ${host} ${port} && echo $$HOME $${x}", &scope).unwrap();
        assert_eq!(command, r#"nc -z "$ORDO_VALUE_1" "$ORDO_VALUE_2" && echo $$HOME ${x}"#);
        assert_eq!(env, [("ORDO_VALUE_1".into(), "db; touch /tmp/x".into()), ("ORDO_VALUE_2".into(), "3306".into())]);
    }

    #[test]
    fn mistakes_are_named() {
        let err = interpolate(&json!("${titel}"), &scope()).unwrap_err();
        assert_eq!(err.to_string(), "unknown variable `titel`");
        assert_eq!(interpolate(&json!("${title"), &scope()), Err(InterpolationError::Unclosed));
        assert!(matches!(interpolate(&json!("${facts.nope}"), &scope()), Err(InterpolationError::UnknownKey { .. })));
    }
}
