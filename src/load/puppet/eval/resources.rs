//! Resource expressions (`lamp::db { 'a': ... }`, recorded as [`Declared`], never applied),
//! their attributes with `* =>` splats and `default:` bodies, and resource references
//! (`Sql[$name]`, `Lamp::Db['a', 'b']`).

use super::{Declared, EvalError, EvalResult, Evaluator, Scope};
use crate::lang::ast::{self, Expr, ExprKind, Span};
use crate::load::puppet::value::Value;
use crate::model::capitalize_type;

impl Evaluator {
    /// `Sql[$name]`, `Lamp::Db['a', 'b']`: one reference per title.
    pub(crate) fn eval_reference(&mut self, scope: &mut Scope, name: &str, keys: &[Expr], span: Span) -> EvalResult {
        let type_name = capitalize_type(name);
        let mut titles = Vec::new();
        for value in self.eval_list(scope, keys)? {
            match value {
                Value::Array(items) => titles.extend(items),
                other => titles.push(other),
            }
        }
        // `Resource['file', 'x']` names the type in its first key.
        let (type_name, titles) = if type_name == "Resource" && titles.len() > 1 {
            (capitalize_type(&titles[0].to_string()), titles[1..].to_vec())
        } else {
            (type_name, titles)
        };
        let mut references = Vec::with_capacity(titles.len());
        for title in titles {
            let title = match title {
                Value::String(text) => text,
                Value::Undef => return Err(EvalError::new(span, format!("{type_name}[] needs a title, got undef"))),
                other => other.to_string(),
            };
            // A class's title is a type name, in Puppet's normal form too: `Class[Prod]`.
            let title = if type_name == "Class" { capitalize_type(&title) } else { title };
            references.push(Value::Reference { type_name: type_name.clone(), title });
        }
        match references.len() {
            1 => Ok(references.pop().unwrap_or(Value::Undef)),
            _ => Ok(Value::Array(references)),
        }
    }

    /// `lamp::db { 'a': ... }`: records a [`Declared`] per title and evaluates to the
    /// reference(s), `Lamp::Db['a']`.
    pub(crate) fn eval_resource(&mut self, scope: &mut Scope, resource: &ast::ResourceExpr, span: Span) -> EvalResult {
        if resource.form != ast::ResourceForm::Regular {
            return Err(EvalError::new(
                span,
                "virtual and exported resources are not supported in site and application code",
            ));
        }
        let type_name = match &resource.type_name.kind {
            ExprKind::Name(name) | ExprKind::TypeRef(name) => name.trim_start_matches("::").to_lowercase(),
            _ => {
                return Err(EvalError::new(
                    resource.type_name.span,
                    "a resource type must be written as a name (`file`, `lamp::db`)",
                ));
            }
        };
        let reference_type = capitalize_type(&type_name);

        // The `default:` body applies to every other body of the expression, wherever it is.
        let mut defaults = Vec::new();
        for body in &resource.bodies {
            if matches!(body.title.kind, ExprKind::Default) {
                defaults = self.eval_attributes(scope, &body.attributes)?;
            }
        }
        let mut references = Vec::new();
        for body in &resource.bodies {
            if matches!(body.title.kind, ExprKind::Default) {
                continue;
            }
            let titles = match self.eval(scope, &body.title)? {
                Value::Array(titles) => titles,
                title => vec![title],
            };
            let mut attributes = self.eval_attributes(scope, &body.attributes)?;
            for (name, value) in &defaults {
                if !attributes.iter().any(|(given, _)| given == name) {
                    attributes.push((name.clone(), value.clone()));
                }
            }
            for title in titles {
                let title = match title {
                    Value::String(text) => text,
                    Value::Undef => {
                        return Err(EvalError::new(
                            body.title.span,
                            "Missing title. The title expression resulted in undef",
                        ));
                    }
                    Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Reference { .. } => {
                        title.to_string()
                    }
                    other => {
                        return Err(EvalError::new(
                            body.title.span,
                            format!("Illegal title type at index 0. Expected String, got {}", other.type_name()),
                        ));
                    }
                };
                // The declared class is named in lower case; its reference is `Class[Prod]`.
                let (reference, title) = if type_name == "class" {
                    let title = title.trim_start_matches("::").to_lowercase();
                    (Value::Reference { type_name: "Class".into(), title: capitalize_type(&title) }, title)
                } else {
                    (Value::Reference { type_name: reference_type.clone(), title: title.clone() }, title)
                };
                references.push(reference);
                self.declared.push(Declared {
                    type_name: type_name.clone(),
                    title,
                    attributes: attributes.clone(),
                    span: body.span,
                });
            }
        }
        match references.len() {
            1 => Ok(references.pop().unwrap_or(Value::Undef)),
            _ => Ok(Value::Array(references)),
        }
    }

    /// A resource body's attributes, in written order, with `* => $hash` expanded.
    pub(crate) fn eval_attributes(
        &mut self,
        scope: &mut Scope,
        attributes: &[ast::Attribute],
    ) -> EvalResult<Vec<(String, Value)>> {
        let mut evaluated: Vec<(String, Value)> = Vec::with_capacity(attributes.len());
        for attribute in attributes {
            if attribute.op == ast::AttributeOp::Append {
                return Err(EvalError::new(
                    attribute.span,
                    format!(
                        "Illegal +> operation on attribute {}. This operator can not be used in a Resource Expression",
                        attribute.name.text
                    ),
                ));
            }
            let value = self.eval(scope, &attribute.value)?;
            let entries = if attribute.is_splat() {
                match value {
                    Value::Hash(entries) => {
                        let mut named = Vec::with_capacity(entries.len());
                        for (key, value) in entries {
                            let Value::String(name) = key else {
                                return Err(EvalError::new(
                                    attribute.value.span,
                                    format!("The '* =>' hash must have String keys, got {}", key.type_name()),
                                ));
                            };
                            named.push((name, value));
                        }
                        named
                    }
                    Value::Undef => Vec::new(),
                    other => {
                        return Err(EvalError::new(
                            attribute.value.span,
                            format!("'* =>' expects a Hash, got {}", other.type_name()),
                        ));
                    }
                }
            } else {
                vec![(attribute.name.text.clone(), value)]
            };
            for (name, value) in entries {
                if evaluated.iter().any(|(given, _)| *given == name) {
                    return Err(EvalError::new(
                        attribute.span,
                        format!("The attribute '{name}' has already been set in this resource body"),
                    ));
                }
                evaluated.push((name, value));
            }
        }
        Ok(evaluated)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::check;

    #[test]
    fn references_and_types() {
        check(
            "$name = 'app1' [Node['dev1'], Sql[$name], Lamp::Db['a'], Class['Foo::Bar'], Lamp::Web['a', 'b']]",
            expect![[r#"
                [Node['dev1'], Sql['app1'], Lamp::Db['a'], Class['Foo::Bar'], [Lamp::Web['a'], Lamp::Web['b']]]
            "#]],
        );
        check(
            "[Optional[String[1]], Sensitive[String], Hash[String, Integer], Enum['a', 'b'], Stdlib::Port, Node, Pattern[/x/]]",
            expect![[r#"
            [Type(Optional[String]), Type(Sensitive[String]), Type(Hash[String, Integer]), Type(Enum['a', 'b']), Type(Stdlib::Port), Type(Node), Type(Pattern[/x/])]
        "#]],
        );
    }

    #[test]
    fn resources() {
        check(
            "lamp::db { ['a', 'b']: user => 'u' ; 'c': user => 'v', port => 1 ; default: port => 5432, user => 'd' }",
            expect![[r#"
                [Lamp::Db['a'], Lamp::Db['b'], Lamp::Db['c']]
                lamp::db[a] user='u' port=5432
                lamp::db[b] user='u' port=5432
                lamp::db[c] user='v' port=1
            "#]],
        );
        check(
            "$extra = {'x' => 1, 'y' => [2]} file { '/tmp/a': ensure => file, * => $extra }",
            expect![[r#"
            File['/tmp/a']
            file[/tmp/a] ensure='file' x=1 y=[2]
        "#]],
        );
        check(
            "class { 'Foo::Bar': p => 1 }",
            expect![[r#"
                Class['Foo::Bar']
                class[foo::bar] p=1
            "#]],
        );
        check(
            "file { '/a': mode => 1, mode => 2 }",
            expect![[r#"
            error 24..33: The attribute 'mode' has already been set in this resource body
        "#]],
        );
        check(
            "file { undef: }",
            expect![[r#"
            error 7..12: Missing title. The title expression resulted in undef
        "#]],
        );
        check(
            "file { []: }",
            expect![[r#"
            []
        "#]],
        );
        check(
            "@file { '/a': }",
            expect![[r#"
            error 0..15: virtual and exported resources are not supported in site and application code
        "#]],
        );
        check(
            "@@file { '/a': }",
            expect![[r#"
            error 0..16: virtual and exported resources are not supported in site and application code
        "#]],
        );
    }
}
