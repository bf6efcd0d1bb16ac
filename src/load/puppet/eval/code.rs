//! The environment's code as the evaluator sees it ([`Code`]): functions written in the
//! Puppet language (`functions/*.pp`), the files of Ruby functions ordo cannot run, Hiera
//! data, and the `strict_variables` setting. Calls of such functions and Hiera lookups live
//! here too.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::functions::arity_error;
use super::{Control, EvalError, EvalResult, Evaluator, Raised, Scope, article};
use crate::lang::ast::{self, Span};
use crate::load::puppet::hiera::{Hiera, Merge};
use crate::load::puppet::value::{DataType, Value};

/// What the environment defines beyond the built-ins; the loader fills it.
#[derive(Debug, Default)]
pub struct Code {
    /// Functions written in the Puppet language, by lowercase name (`mymod::name`).
    pub functions: BTreeMap<String, CodeFunction>,
    /// Ruby functions of the module path, by lowercase name, to the file that defines them.
    pub ruby_functions: BTreeMap<String, String>,
    /// The environment's and modules' Hiera data.
    pub hiera: Hiera,
    /// `strict_variables`: an unknown variable is an error rather than undef with a warning.
    pub strict_variables: bool,
}

/// A function written in the Puppet language and the file that defines it.
#[derive(Debug, Clone)]
pub struct CodeFunction {
    pub definition: ast::FunctionDef,
    pub file: Arc<str>,
}

impl Evaluator {
    /// Calls a function that is not built in: one written in the Puppet language, or else an
    /// error that names the Ruby file defining it, or Puppet's unknown-function error.
    pub(super) fn call_code_function(
        &mut self,
        scope: &mut Scope,
        name: &str,
        args: Vec<Value>,
        lambda: Option<&ast::Lambda>,
        span: Span,
    ) -> EvalResult {
        // Puppet's evaluator, not the function, finds that a function does not exist.
        let Some(function) = self.code.functions.get(name).cloned() else {
            let missing = match self.code.ruby_functions.get(name) {
                Some(file) => EvalError::new(
                    span,
                    format!(
                        "ordo cannot run the Ruby function '{name}' (defined in {file}); only Puppet's built-in functions, \
                         the stdlib functions ordo provides and functions written in the Puppet language can be called"
                    ),
                ),
                None => EvalError::new(span, format!("Unknown function: '{name}'.")),
            };
            return Err(missing.raised_in(Raised::Expression));
        };
        if lambda.is_some() {
            return Err(EvalError::new(span, format!("'{name}' does not accept a block")));
        }
        let params = &function.definition.params;
        let required = params.iter().filter(|param| param.default.is_none() && !param.captures_rest).count();
        let most = if params.iter().any(|param| param.captures_rest) { None } else { Some(params.len()) };
        if let Some(message) = arity_error(name, required, most, args.len()) {
            return Err(EvalError::new(span, message));
        }
        if self.depth >= super::MAX_DEPTH {
            return Err(EvalError::new(
                span,
                format!("calls are nested too deeply (more than {} levels)", super::MAX_DEPTH),
            ));
        }
        self.depth += 1;
        // A function sees its arguments and top scope, never its caller's variables.
        let mut own = scope.top_only();
        own.push();
        let result = self.run_code_function(&mut own, name, &function, args, span);
        self.depth -= 1;
        let value = result?;
        if let Some(return_type) = &function.definition.return_type {
            let return_type = self.eval_type(&mut own, return_type).map_err(|err| err.in_file(&function.file))?;
            if !return_type.accepts(&value) {
                return Err(EvalError::new(
                    span,
                    format!(
                        "value returned from {name} has wrong type, expects {} value, got {}",
                        article(&return_type.to_string()),
                        value.type_name()
                    ),
                ));
            }
        }
        Ok(value)
    }

    /// Binds the arguments (a mismatch is the call's error, at the call) and evaluates the
    /// body (whose errors are in the function's file).
    fn run_code_function(
        &mut self,
        scope: &mut Scope,
        name: &str,
        function: &CodeFunction,
        args: Vec<Value>,
        span: Span,
    ) -> EvalResult {
        let mut args = args.into_iter();
        for param in &function.definition.params {
            let value = if param.captures_rest {
                Value::Array(args.by_ref().collect())
            } else if let Some(value) = args.next() {
                value
            } else if let Some(default) = &param.default {
                self.eval(scope, default).map_err(|err| err.in_file(&function.file))?
            } else {
                Value::Undef
            };
            if let Some(type_expr) = &param.type_expr {
                let data_type = self.eval_type(scope, type_expr).map_err(|err| err.in_file(&function.file))?;
                let data_type = if param.captures_rest { DataType::Array(Box::new(data_type)) } else { data_type };
                let value = super::types::wrap_sensitive(&data_type, value.clone());
                if !data_type.accepts(&value) {
                    let expected = match &data_type {
                        DataType::Array(inner) if param.captures_rest => inner.to_string(),
                        other => other.to_string(),
                    };
                    return Err(EvalError::new(
                        span,
                        format!(
                            "'{name}' parameter '{}' expects {} value, got {}",
                            param.name.text,
                            article(&expected),
                            value.type_name()
                        ),
                    ));
                }
            }
            scope
                .set(&param.name.text, value)
                .map_err(|message| EvalError::new(param.span, message).in_file(&function.file))?;
        }
        // An error in the body is the body's, not the call's.
        match self.eval_statements(scope, &function.definition.body.statements) {
            Err(EvalError { control: Some(control), .. }) if matches!(*control, Control::Return(_)) => match *control {
                Control::Return(value) => Ok(value),
                _ => Ok(Value::Undef),
            },
            other => other.map_err(|err| err.raised_in(Raised::Expression).in_file(&function.file)),
        }
    }

    /// A Hiera lookup with the variables of `scope` (facts among them) in interpolations;
    /// None when no level has the key. Without a merge strategy, the key's `lookup_options`
    /// choose one; their `convert_to` converts the value found, as `Type.new(value)` does.
    pub(crate) fn lookup_data(
        &mut self,
        scope: &mut Scope,
        key: &str,
        merge: Option<Merge>,
        span: Span,
    ) -> EvalResult<Option<Value>> {
        let (found, options) = {
            let variable = |name: &str| lookup_variable(scope, name);
            let hiera = &self.code.hiera;
            let options = hiera.key_options(key, &variable).map_err(|message| EvalError::new(span, message))?;
            // The options are read once: the lookup gets the strategy they choose.
            let merge = merge.or(options.merge).unwrap_or(Merge::First);
            let found = hiera.lookup(key, Some(merge), &variable).map_err(|message| EvalError::new(span, message))?;
            (found, options)
        };
        match (found, options.convert_to) {
            (Some(value), Some((type_name, args))) => {
                self.convert_found(scope, key, value, &type_name, args, span).map(Some)
            }
            (found, _) => Ok(found),
        }
    }

    /// `convert_to` of `lookup_options`: `new(Type, value, args...)` for a type given as text.
    fn convert_found(
        &mut self,
        scope: &mut Scope,
        key: &str,
        value: Value,
        type_name: &str,
        args: Vec<Value>,
        span: Span,
    ) -> EvalResult {
        let parsed = crate::lang::parse(type_name);
        let type_expr = match (parsed.errors.first(), parsed.file.statements.as_slice()) {
            (None, [ast::Statement { kind: ast::StatementKind::Expr(expr), .. }])
                if matches!(expr.kind, ast::ExprKind::TypeRef(_) | ast::ExprKind::Access { .. }) =>
            {
                expr.clone()
            }
            (error, _) => {
                let reason = error.map_or_else(|| "not a data type".to_string(), |error| error.message.clone());
                return Err(EvalError::new(
                    span,
                    format!(
                        "Invalid data type in lookup_options for key '{key}' could not parse '{type_name}', error: '{reason}'"
                    ),
                ));
            }
        };
        let mut arguments = vec![value];
        arguments.extend(args);
        self.convert(scope, type_name, &type_expr, arguments, span).map_err(|err| {
            EvalError::new(span, format!("The convert_to lookup_option for key '{key}' raised error: {}", err.message))
        })
    }
}

/// A variable for a Hiera interpolation: `facts.os.family` digs into `$facts`, `::x` and `x`
/// are top or local variables.
fn lookup_variable(scope: &Scope, name: &str) -> Option<Value> {
    let mut segments = name.split('.');
    let first = segments.next()?;
    let mut value = scope.get(first).or_else(|| scope.get(&format!("::{}", first.trim_start_matches("::"))))?.clone();
    for segment in segments {
        value = match &value {
            Value::Hash(entries) => {
                entries.iter().find(|(key, _)| key.to_string() == segment).map(|(_, value)| value.clone())?
            }
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?.clone(),
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use expect_test::{Expect, expect};

    use super::*;

    /// Defines the functions in `functions` (one file) and evaluates `src` with them.
    fn check(functions: &str, src: &str, expect: Expect) {
        let parse = crate::lang::parse(functions);
        assert!(parse.errors.is_empty(), "{:?}", parse.errors);
        let mut code = Code::default();
        code.ruby_functions.insert("mymod::ruby".into(), "modules/mymod/lib/puppet/functions/mymod/ruby.rb".into());
        for statement in parse.file.statements {
            if let ast::StatementKind::Function(definition) = statement.kind {
                code.functions.insert(
                    definition.name.text.to_lowercase(),
                    CodeFunction { definition, file: Arc::from("modules/mymod/functions/f.pp") },
                );
            }
        }
        let mut evaluator = Evaluator::with_code(Arc::new(code));
        let mut scope = Scope::new();
        scope.set_top("fqdn", Value::String("top.example.net".into()));
        let parse = crate::lang::parse(src);
        let out = match evaluator.eval_statements(&mut scope, &parse.file.statements) {
            Ok(value) => format!("{value}\n"),
            Err(err) => format!("error {:?} in {:?}: {}\n", err.span, err.file, err.message),
        };
        expect.assert_eq(&out);
    }

    const FUNCTIONS: &str = "
function mymod::greet(String $who, String $greeting = 'hello', *$rest) >> String {
  if $who == 'nobody' { return('silence') }
  \"${greeting} ${who} ${rest} ${fqdn}\"
}
function mymod::bad() >> Integer { 'x' }
function mymod::oops() { $x = [1][5] + 1 }
";

    #[test]
    fn functions_written_in_puppet() {
        check(
            FUNCTIONS,
            "$local = 1 mymod::greet('you')",
            expect![[r#"
            hello you [] top.example.net
        "#]],
        );
        check(
            FUNCTIONS,
            "[mymod::greet('nobody'), mymod::greet('a', 'hi', 1, 2)]",
            expect![[r#"
            ['silence', 'hi a [1, 2] top.example.net']
        "#]],
        );
        check(
            FUNCTIONS,
            "mymod::greet(1)",
            expect![[r#"
                error 0..15 in None: 'mymod::greet' parameter 'who' expects a String value, got Integer
            "#]],
        );
        check(
            FUNCTIONS,
            "mymod::greet()",
            expect![[r#"
            error 0..14 in None: 'mymod::greet' expects at least 1 argument, got 0
        "#]],
        );
        check(
            FUNCTIONS,
            "mymod::bad()",
            expect![[r#"
            error 0..12 in None: value returned from mymod::bad has wrong type, expects an Integer value, got String
        "#]],
        );
        check(
            FUNCTIONS,
            "mymod::oops()",
            expect![[r#"
                error 240..250 in Some("modules/mymod/functions/f.pp"): Operator '+' is not applicable to an Undef
            "#]],
        );
        check(
            FUNCTIONS,
            "mymod::ruby(1)",
            expect![[r#"
            error 0..14 in None: ordo cannot run the Ruby function 'mymod::ruby' (defined in modules/mymod/lib/puppet/functions/mymod/ruby.rb); only Puppet's built-in functions, the stdlib functions ordo provides and functions written in the Puppet language can be called
        "#]],
        );
        check(
            FUNCTIONS,
            "nope(1)",
            expect![[r#"
            error 0..7 in None: Unknown function: 'nope'.
        "#]],
        );
    }
}
