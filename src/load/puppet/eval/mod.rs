//! The Puppet expression evaluator: turns `site` and application bodies (and capability
//! mappings' attribute expressions) into values and declared resources.
//!
//! It owns Puppet's evaluation semantics as far as orchestration needs them, in one module per
//! seam: this one has variables in nested scopes, strings and interpolation, arrays and
//! hashes, conditionals and selectors, lambdas, and parameter binding with type checks
//! ([`Evaluator::bind_params`]), so a definition's parameters are bound the way Puppet does it;
//! `operators` has operators and access, `types` data types and conversions, `regex` Ruby's
//! regular expressions, `resources` resource expressions (recorded as [`Declared`], never
//! applied), `functions` the table of built-in functions, and `code` the functions written in
//! the Puppet language and Hiera lookups, over the environment's [`Code`].
//!
//! What it deliberately doesn't do: look up definitions, load files, or evaluate classes and
//! defines; the loader (`load::puppet`) decides which bodies to evaluate, gives it the
//! environment's [`Code`], and decides what declared resources mean. Anything Puppet supports
//! that orchestration code has no use for (virtual and exported resources, collectors,
//! templates) is an [`EvalError`] with a clear message rather than a silent approximation.
//!
//! Evaluation never panics: every mistake in user code is an [`EvalError`] with a span, and
//! nesting is bounded by [`MAX_DEPTH`].

mod code;
pub mod functions;
mod operators;
pub(crate) mod regex;
mod resources;
mod types;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use self::code::{Code, CodeFunction};
use self::operators::{access_value, puppet_eq};
use self::types::{is_data_type_name, type_from_name, wrap_sensitive};
use super::value::{DataType, Value};
use crate::lang::ast::{self, Expr, ExprKind, Span, Statement, StatementKind};

/// How deeply evaluation may nest (expressions inside expressions, lambdas inside lambdas)
/// before it gives up with an error instead of exhausting the stack.
pub(crate) const MAX_DEPTH: usize = 200;

/// The most elements a function such as `range` may produce, so a typo cannot exhaust memory.
pub(crate) const MAX_ELEMENTS: usize = 1_000_000;

/// An error at a place in the source; `message` in Puppet's wording where Puppet had one.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub span: Span,
    pub message: String,
    /// The file the span is in, when it is not the file being evaluated (an error inside a
    /// function written in another file).
    pub file: Option<Arc<str>>,
    /// Set for `next`, `break` and `return`, which unwind like errors to where they stop.
    pub control: Option<Box<Control>>,
    /// What Puppet was evaluating when it raised the error, for its message; None until
    /// known, which is an expression.
    pub raised_in: Option<Raised>,
}

/// Where Puppet raised an evaluation error, which its message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// An expression (the error is reported as it is).
    Expression,
    /// A function's own code: `Error while evaluating a Function Call, ...`.
    FunctionCall,
    /// A resource's parameters: `Error while evaluating a Resource Statement, ...`.
    ResourceStatement,
}

impl EvalError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> EvalError {
        EvalError { span, message: message.into(), file: None, control: None, raised_in: None }
    }

    /// Marks an error as raised in `raised_in`, unless it already is marked.
    pub(crate) fn raised_in(mut self, raised_in: Raised) -> EvalError {
        if self.raised_in.is_none() && self.control.is_none() {
            self.raised_in = Some(raised_in);
        }
        self
    }

    /// Places an error that has no file yet in `file`.
    pub(crate) fn in_file(mut self, file: &Arc<str>) -> EvalError {
        if self.file.is_none() {
            self.file = Some(Arc::clone(file));
        }
        self
    }
}

/// Where `next`, `break` and `return` unwind to.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Ends one call of a block with a value.
    Next(Value),
    /// Ends an iteration.
    Break,
    /// Ends a function written in the Puppet language with a value.
    Return(Value),
}

/// A resource declared by evaluated code, e.g.
/// `lamp::db { 'app1': user => 'u', export => Sql['app1'] }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The type as written, lowercased: `lamp::db`, `file`; `class` for `class { 'x': }`.
    pub type_name: String,
    /// One Declared per title (a body with an array of titles declares several).
    pub title: String,
    /// Attributes in written order, after `* => $hash` splat expansion and merging the
    /// expression's `default:` body (explicit attributes win). Values evaluated.
    pub attributes: Vec<(String, Value)>,
    /// The span of the resource body (title to end of attributes), for diagnostics.
    pub span: Span,
}

/// Variables in nested frames: frame 0 is top scope (`$::x`), the last is the innermost.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Never empty: `pop` keeps the top scope.
    frames: Vec<BTreeMap<String, Value>>,
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new()
    }
}

impl Scope {
    /// A scope with one frame: top scope.
    pub fn new() -> Scope {
        Scope { frames: vec![BTreeMap::new()] }
    }

    /// Sets a top-scope variable (facts, the `facts` hash), replacing any earlier value.
    pub fn set_top(&mut self, name: &str, value: Value) {
        let name = name.strip_prefix("::").unwrap_or(name);
        self.frames[0].insert(name.to_string(), value);
    }

    /// Starts a new local frame (a class or application body, a lambda).
    pub fn push(&mut self) {
        self.frames.push(BTreeMap::new());
    }

    /// The top-scope variables, in name order.
    pub fn top_variables(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.frames[0].iter().map(|(name, value)| (name.as_str(), value))
    }

    /// A scope with this one's top scope and no local frames, as a function body sees it.
    pub fn top_only(&self) -> Scope {
        Scope { frames: vec![self.frames[0].clone()] }
    }

    /// Drops the innermost local frame; top scope is never dropped.
    pub fn pop(&mut self) {
        if self.frames.len() > 1 {
            self.frames.pop();
        }
    }

    /// Sets a variable in the innermost frame; Puppet variables cannot be reassigned.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), String> {
        let frame = self.innermost();
        if frame.contains_key(name) {
            return Err(format!("Cannot reassign variable '${name}'"));
        }
        frame.insert(name.to_string(), value);
        Ok(())
    }

    /// `x` looks from the innermost frame outward; `::x` only in top scope. None when unset.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(top_name) = name.strip_prefix("::") {
            return self.frames[0].get(top_name);
        }
        self.frames.iter().rev().find_map(|frame| frame.get(name))
    }

    /// Sets the match variables `$0`, `$1`, ... of a successful `=~`, replacing earlier ones
    /// in the innermost frame (match variables are the one thing Puppet lets change).
    fn set_matches(&mut self, groups: Vec<Value>) {
        let frame = self.innermost();
        frame.retain(|name, _| !name.bytes().all(|byte| byte.is_ascii_digit()));
        for (index, group) in groups.into_iter().enumerate() {
            frame.insert(index.to_string(), group);
        }
    }

    fn innermost(&mut self) -> &mut BTreeMap<String, Value> {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }
}

/// Evaluates statements and expressions, collecting declared resources and warnings.
pub struct Evaluator {
    /// Resources declared so far, in evaluation order.
    pub declared: Vec<Declared>,
    /// Non-fatal problems (an unknown variable evaluates to undef with a warning, as in Puppet).
    pub warnings: Vec<EvalError>,
    /// The current nesting of `eval` calls, bounded by [`MAX_DEPTH`].
    depth: usize,
    /// Compiled regular expressions by pattern, so a match in a loop compiles once.
    regexes: HashMap<String, ::regex::Regex>,
    /// The environment's functions written in Puppet, Ruby functions' files, Hiera data and
    /// settings.
    pub code: Arc<Code>,
}

impl Default for Evaluator {
    fn default() -> Evaluator {
        Evaluator::new()
    }
}

type EvalResult<T = Value> = Result<T, EvalError>;

impl Evaluator {
    pub fn new() -> Evaluator {
        Evaluator::with_code(Arc::new(Code::default()))
    }

    /// An evaluator that sees the environment's code.
    pub fn with_code(code: Arc<Code>) -> Evaluator {
        Evaluator { declared: Vec::new(), warnings: Vec::new(), depth: 0, regexes: HashMap::new(), code }
    }

    /// Evaluates statements in order and returns the last value (Undef when empty).
    /// Definition statements (class, define, node, ...) are errors here.
    pub fn eval_statements(&mut self, scope: &mut Scope, statements: &[Statement]) -> EvalResult {
        let mut last = Value::Undef;
        for statement in statements {
            last = match &statement.kind {
                StatementKind::Expr(expr) => self.eval(scope, expr)?,
                other => {
                    let keyword = match other {
                        StatementKind::Class(_) => "class",
                        StatementKind::Define(_) => "define",
                        StatementKind::Node(_) => "node",
                        StatementKind::Function(_) => "function",
                        StatementKind::Plan(_) => "plan",
                        StatementKind::TypeAlias(_) => "type",
                        StatementKind::Application(_) => "application",
                        StatementKind::Site(_) => "site",
                        StatementKind::CapabilityMapping(mapping) => match mapping.kind {
                            ast::MappingKind::Produces => "produces",
                            ast::MappingKind::Consumes => "consumes",
                        },
                        StatementKind::Expr(_) => "expression",
                    };
                    return Err(EvalError::new(statement.span, format!("'{keyword}' is not allowed here")));
                }
            };
        }
        Ok(last)
    }

    /// Evaluates one expression.
    pub fn eval(&mut self, scope: &mut Scope, expr: &Expr) -> EvalResult {
        if self.depth >= MAX_DEPTH {
            return Err(EvalError::new(
                expr.span,
                format!("expression nesting is too deep (more than {MAX_DEPTH} levels)"),
            ));
        }
        self.depth += 1;
        let result = self.eval_inner(scope, expr);
        self.depth -= 1;
        result
    }

    fn eval_inner(&mut self, scope: &mut Scope, expr: &Expr) -> EvalResult {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Undef => Ok(Value::Undef),
            ExprKind::Default => Ok(Value::Default),
            ExprKind::Boolean(flag) => Ok(Value::Boolean(*flag)),
            ExprKind::Integer(number) => Ok(Value::Integer(*number)),
            ExprKind::Float(number) => Ok(Value::Float(*number)),
            ExprKind::String(text) => Ok(Value::String(text.clone())),
            ExprKind::Interpolated(parts) => self.eval_interpolated(scope, parts),
            ExprKind::Heredoc(heredoc) => self.eval(scope, &heredoc.text),
            ExprKind::Regex(pattern) => Ok(Value::Regex(pattern.clone())),
            ExprKind::Variable(name) => self.variable(scope, name, span),
            ExprKind::Name(word) => Ok(Value::String(word.clone())),
            ExprKind::TypeRef(name) => Ok(Value::Type(type_from_name(name))),
            ExprKind::Array(items) => Ok(Value::Array(self.eval_list(scope, items)?)),
            ExprKind::Hash(entries) => self.eval_hash(scope, entries),
            ExprKind::Access { target, keys } => self.eval_access(scope, target, keys, span),
            ExprKind::Paren(inner) => self.eval(scope, inner),
            ExprKind::Assign { op, target, value } => self.eval_assign(scope, *op, target, value),
            ExprKind::Resource(resource) => self.eval_resource(scope, resource, span),
            ExprKind::Call(call) => self.eval_call(scope, call, span),
            ExprKind::MethodCall(call) => self.eval_method_call(scope, call, span),
            ExprKind::Unary { op, operand } => self.eval_unary(scope, *op, operand, span),
            ExprKind::Binary { op, lhs, rhs } => self.eval_binary(scope, *op, lhs, rhs, span),
            ExprKind::Relationship { lhs, rhs, .. } => {
                // Ordering between components is the loader's business (`require`, capabilities);
                // here both sides are evaluated for their declarations.
                self.eval(scope, lhs)?;
                self.eval(scope, rhs)
            }
            ExprKind::Selector { subject, entries } => self.eval_selector(scope, subject, entries, span),
            ExprKind::If(if_expr) => {
                for branch in &if_expr.branches {
                    if self.eval(scope, &branch.condition)?.is_truthy() {
                        return self.eval_statements(scope, &branch.body.statements);
                    }
                }
                match &if_expr.else_body {
                    Some(body) => self.eval_statements(scope, &body.statements),
                    None => Ok(Value::Undef),
                }
            }
            ExprKind::Unless(unless) => {
                if !self.eval(scope, &unless.condition)?.is_truthy() {
                    self.eval_statements(scope, &unless.body.statements)
                } else if let Some(body) = &unless.else_body {
                    self.eval_statements(scope, &body.statements)
                } else {
                    Ok(Value::Undef)
                }
            }
            ExprKind::Case(case) => self.eval_case(scope, case),
            ExprKind::ResourceDefaults { .. } => {
                Err(EvalError::new(span, "Resource defaults are not supported in site and application code"))
            }
            ExprKind::ResourceOverride { .. } => {
                Err(EvalError::new(span, "Resource overrides are not supported in site and application code"))
            }
            ExprKind::Collector(_) => {
                Err(EvalError::new(span, "Resource collectors are not supported in site and application code"))
            }
            ExprKind::Error => Err(EvalError::new(span, "syntax error")),
        }
    }

    /// Whether a case option or selector key matches the subject: regexes match strings,
    /// types accept instances, and anything else compares with `==`.
    fn case_matches(&mut self, scope: &mut Scope, subject: &Value, key: &Value, span: Span) -> EvalResult<bool> {
        Ok(match (key, subject) {
            (Value::Regex(pattern), Value::String(text)) => self.regex_match(scope, pattern, text, span)?,
            (Value::Regex(_), _) => false,
            (Value::Type(data_type), subject) => data_type.accepts(subject),
            (key, subject) => puppet_eq(key, subject),
        })
    }

    fn eval_case(&mut self, scope: &mut Scope, case: &ast::CaseExpr) -> EvalResult {
        let subject = self.eval(scope, &case.subject)?;
        let mut default_body = None;
        for option in &case.options {
            for value_expr in &option.values {
                if matches!(value_expr.kind, ExprKind::Default) {
                    default_body.get_or_insert(&option.body);
                    continue;
                }
                for key in self.eval_list(scope, std::slice::from_ref(value_expr))? {
                    if self.case_matches(scope, &subject, &key, value_expr.span)? {
                        return self.eval_statements(scope, &option.body.statements);
                    }
                }
            }
        }
        match default_body {
            Some(body) => self.eval_statements(scope, &body.statements),
            None => Ok(Value::Undef),
        }
    }

    fn eval_selector(
        &mut self,
        scope: &mut Scope,
        subject: &Expr,
        entries: &[ast::SelectorEntry],
        span: Span,
    ) -> EvalResult {
        let subject = self.eval(scope, subject)?;
        let mut default_value = None;
        for entry in entries {
            if matches!(entry.key.kind, ExprKind::Default) {
                default_value.get_or_insert(&entry.value);
                continue;
            }
            for key in self.eval_list(scope, std::slice::from_ref(&entry.key))? {
                if self.case_matches(scope, &subject, &key, entry.key.span)? {
                    return self.eval(scope, &entry.value);
                }
            }
        }
        match default_value {
            Some(value) => self.eval(scope, value),
            None => {
                Err(EvalError::new(span, format!("No matching entry for selector parameter with value '{subject}'")))
            }
        }
    }

    /// `"${name}-${i}"`: each part as its value reads in a string.
    fn eval_interpolated(&mut self, scope: &mut Scope, parts: &[ast::StringPart]) -> EvalResult {
        let mut text = String::new();
        for part in parts {
            match part {
                ast::StringPart::Text(literal) => text.push_str(literal),
                ast::StringPart::Expr(expr) => {
                    let value = self.eval(scope, expr)?;
                    text.push_str(&value.to_string());
                }
            }
        }
        Ok(Value::String(text))
    }

    /// An unknown variable is undef with a warning, as in Puppet without `strict_variables`,
    /// and an error with it.
    fn variable(&mut self, scope: &Scope, name: &str, span: Span) -> EvalResult {
        Ok(match scope.get(name) {
            Some(value) => value.clone(),
            None => {
                // Unmatched match variables (`$1` after a failed match) are quietly undef.
                if name.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Ok(Value::Undef);
                }
                let unknown = EvalError::new(span, format!("Unknown variable: '{name}'."));
                if self.code.strict_variables {
                    return Err(unknown);
                }
                self.warnings.push(unknown);
                Value::Undef
            }
        })
    }

    /// The elements of an array literal or argument list, with `*$x` splatted in.
    fn eval_list(&mut self, scope: &mut Scope, items: &[Expr]) -> EvalResult<Vec<Value>> {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            if let ExprKind::Unary { op: ast::UnaryOp::Splat, operand } = &item.kind {
                match self.eval(scope, operand)? {
                    Value::Array(elements) => values.extend(elements),
                    other => values.push(other),
                }
            } else {
                values.push(self.eval(scope, item)?);
            }
        }
        Ok(values)
    }

    fn eval_hash(&mut self, scope: &mut Scope, entries: &[ast::HashEntry]) -> EvalResult {
        let mut hash: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = self.eval(scope, &entry.key)?;
            let value = self.eval(scope, &entry.value)?;
            if hash.iter().any(|(existing, _)| *existing == key) {
                return Err(EvalError::new(entry.key.span, format!("The key '{key}' is declared more than once")));
            }
            hash.push((key, value));
        }
        Ok(Value::Hash(hash))
    }

    /// `$x = v` and `[$a, $b] = [1, 2]`; evaluates to the assigned value.
    fn eval_assign(&mut self, scope: &mut Scope, op: ast::AssignOp, target: &Expr, value: &Expr) -> EvalResult {
        if op != ast::AssignOp::Assign {
            let written = if op == ast::AssignOp::AddAssign { "+=" } else { "-=" };
            return Err(EvalError::new(target.span, format!("The operator '{written}' is no longer supported")));
        }
        let value = self.eval(scope, value)?;
        self.assign_to(scope, target, value.clone())?;
        Ok(value)
    }

    fn assign_to(&mut self, scope: &mut Scope, target: &Expr, value: Value) -> EvalResult<()> {
        match &target.kind {
            ExprKind::Variable(name) => {
                if name.contains("::") {
                    return Err(EvalError::new(
                        target.span,
                        format!("Cannot assign to a fully qualified variable '${name}'"),
                    ));
                }
                if name.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(EvalError::new(
                        target.span,
                        format!("Illegal attempt to assign to the numeric match result variable '${name}'"),
                    ));
                }
                scope.set(name, value).map_err(|message| EvalError::new(target.span, message))
            }
            ExprKind::Array(targets) => match value {
                Value::Array(values) => {
                    if values.len() != targets.len() {
                        return Err(EvalError::new(
                            target.span,
                            format!(
                                "Mismatched number of variables and values: {} variables, {} values",
                                targets.len(),
                                values.len()
                            ),
                        ));
                    }
                    for (target, value) in targets.iter().zip(values) {
                        self.assign_to(scope, target, value)?;
                    }
                    Ok(())
                }
                Value::Hash(entries) => {
                    for target in targets {
                        let ExprKind::Variable(name) = &target.kind else {
                            return Err(EvalError::new(target.span, "Illegal assignment: expected a variable"));
                        };
                        let key = Value::String(name.clone());
                        let Some((_, value)) = entries.iter().find(|(entry_key, _)| *entry_key == key) else {
                            return Err(EvalError::new(
                                target.span,
                                format!("No value for required variable '${name}'"),
                            ));
                        };
                        self.assign_to(scope, target, value.clone())?;
                    }
                    Ok(())
                }
                other => Err(EvalError::new(
                    target.span,
                    format!(
                        "Illegal assignment: an array of variables needs an Array or Hash value, got {}",
                        other.type_name()
                    ),
                )),
            },
            _ => Err(EvalError::new(target.span, "Illegal assignment: only variables can be assigned")),
        }
    }

    /// `target[keys]`: indexing values, resource references and parameterised types.
    fn eval_access(&mut self, scope: &mut Scope, target: &Expr, keys: &[Expr], span: Span) -> EvalResult {
        if let ExprKind::TypeRef(name) = &target.kind {
            if is_data_type_name(name) {
                let expr =
                    Expr { kind: ExprKind::Access { target: Box::new(target.clone()), keys: keys.to_vec() }, span };
                return Ok(Value::Type(self.eval_type(scope, &expr)?));
            }
            return self.eval_reference(scope, name, keys, span);
        }
        let subject = self.eval(scope, target)?;
        let keys_values = self.eval_list(scope, keys)?;
        access_value(&subject, &keys_values).map_err(|message| EvalError::new(span, message))
    }

    /// Calls a lambda in a new frame with the given arguments.
    pub(crate) fn call_lambda(
        &mut self,
        scope: &mut Scope,
        function: &str,
        lambda: &ast::Lambda,
        args: Vec<Value>,
    ) -> EvalResult {
        if self.depth >= MAX_DEPTH {
            return Err(EvalError::new(
                lambda.span,
                format!("calls are nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        self.depth += 1;
        scope.push();
        let result = self
            .bind_lambda(scope, function, lambda, args)
            .and_then(|()| self.eval_statements(scope, &lambda.body.statements));
        // `next(value)` ends this call of the block with its value; an error in the block is
        // the block's, not the function's that called it.
        let result = result.map_err(|err| err.raised_in(Raised::Expression));
        let result = match result {
            Err(EvalError { control: Some(control), .. }) if matches!(*control, Control::Next(_)) => match *control {
                Control::Next(value) => Ok(value),
                _ => Ok(Value::Undef),
            },
            other => other,
        };
        scope.pop();
        self.depth -= 1;
        result
    }

    fn bind_lambda(
        &mut self,
        scope: &mut Scope,
        function: &str,
        lambda: &ast::Lambda,
        args: Vec<Value>,
    ) -> EvalResult<()> {
        let n_args = args.len();
        let mut args = args.into_iter();
        for param in &lambda.params {
            let value = if param.captures_rest {
                Value::Array(args.by_ref().collect())
            } else if let Some(value) = args.next() {
                value
            } else if let Some(default) = &param.default {
                self.eval(scope, default)?
            } else {
                let required =
                    lambda.params.iter().filter(|param| param.default.is_none() && !param.captures_rest).count();
                return Err(EvalError::new(
                    lambda.span,
                    format!("'{function}' block expects {required} {}, got {n_args}", plural(required, "argument")),
                ));
            };
            if let Some(type_expr) = &param.type_expr {
                let data_type = self.eval_type(scope, type_expr)?;
                if !data_type.accepts(&value) {
                    return Err(EvalError::new(
                        param.span,
                        format!(
                            "'{function}' block parameter '{}' expects {} value, got {}",
                            param.name.text,
                            article(&data_type.to_string()),
                            value.type_name()
                        ),
                    ));
                }
            }
            scope.set(&param.name.text, value).map_err(|message| EvalError::new(param.span, message))?;
        }
        Ok(())
    }

    /// Binds a definition's parameters into the innermost frame of `scope`: given arguments
    /// by name; missing ones take their default, evaluated after the earlier parameters are
    /// bound. Sets `$title` and `$name`. A plain value given for a `Sensitive[T]` parameter is
    /// wrapped. Returns every problem, in Puppet's wording; argument problems are at `span`,
    /// errors in default expressions at the expression.
    pub fn bind_params(
        &mut self,
        scope: &mut Scope,
        owner: &str,
        title: &str,
        params: &[ast::Param],
        args: &[(String, Value)],
        span: Span,
    ) -> Vec<EvalError> {
        let mut errors = Vec::new();
        for (name, _) in args {
            let known = params.iter().any(|param| param.name.text == *name);
            if !known && !METAPARAMETERS.contains(&name.as_str()) && name != "name" {
                errors.push(EvalError::new(span, format!("{owner}: has no parameter named '{name}'")));
            }
        }
        let given = |name: &str| args.iter().find(|(given, _)| given == name).map(|(_, value)| value.clone());
        let reserved = |name: &str| name == "title" || name == "name";
        let _ = scope.set("title", Value::String(title.to_string()));
        if !params.iter().any(|param| param.name.text == "name") {
            let _ = scope.set("name", given("name").unwrap_or_else(|| Value::String(title.to_string())));
        }
        for param in params {
            let name = param.name.text.as_str();
            if name == "title" {
                errors.push(EvalError::new(param.span, format!("{owner}: the parameter '$title' is reserved")));
                continue;
            }
            let declared_type = match &param.type_expr {
                Some(type_expr) => match self.eval_type(scope, type_expr) {
                    Ok(data_type) => Some(data_type),
                    Err(err) => {
                        errors.push(err);
                        None
                    }
                },
                None => None,
            };
            let data_type = declared_type.clone().unwrap_or(DataType::Any);
            let (value, at) = match given(name) {
                Some(value) => (value, span),
                None => match &param.default {
                    Some(default) => match self.eval(scope, default) {
                        Ok(value) => (value, default.span),
                        Err(err) => {
                            errors.push(err);
                            continue;
                        }
                    },
                    None if declared_type.as_ref().is_some_and(|data_type| data_type.accepts(&Value::Undef)) => {
                        (Value::Undef, span)
                    }
                    None if reserved(name) => (Value::String(title.to_string()), span),
                    None => {
                        errors.push(EvalError::new(span, format!("{owner}: expects a value for parameter '{name}'")));
                        continue;
                    }
                },
            };
            let value = wrap_sensitive(&data_type, value);
            if !data_type.accepts(&value) {
                errors.push(EvalError::new(
                    at,
                    format!(
                        "{owner}: parameter '{name}' expects {} value, got {}",
                        article(&data_type.to_string()),
                        value.type_name()
                    ),
                ));
                continue;
            }
            if let Err(message) = scope.set(name, value) {
                errors.push(EvalError::new(param.span, format!("{owner}: {message}")));
            }
        }
        errors
    }
}

/// `an Integer`, `a String`: the name with its indefinite article.
pub(crate) fn article(name: &str) -> String {
    let vowel = name.chars().next().is_some_and(|first| "AEIOUaeiou".contains(first));
    if vowel { format!("an {name}") } else { format!("a {name}") }
}

pub(crate) fn plural(count: usize, word: &str) -> String {
    if count == 1 { word.to_string() } else { format!("{word}s") }
}

/// Puppet's metaparameters, which any resource accepts besides its own parameters (with the
/// application-orchestration ones, `export` and `consume`).
pub(crate) const METAPARAMETERS: &[&str] = &[
    "alias",
    "audit",
    "before",
    "consume",
    "export",
    "loglevel",
    "noop",
    "notify",
    "require",
    "schedule",
    "stage",
    "subscribe",
    "tag",
];

#[cfg(test)]
pub(crate) mod testing {
    //! The `check` helpers of the evaluator's tests: evaluate source and render the result.

    use expect_test::Expect;

    use super::*;

    /// Evaluates `src` in a fresh scope; renders the last value (or the error) and then the
    /// declared resources, one per line.
    pub(crate) fn check(src: &str, expect: Expect) {
        let parse = crate::lang::parse(src);
        let mut out = String::new();
        for error in &parse.errors {
            out.push_str(&format!("syntax: {:?} {}\n", error.span, error.message));
        }
        let mut evaluator = Evaluator::new();
        let mut scope = Scope::new();
        match evaluator.eval_statements(&mut scope, &parse.file.statements) {
            Ok(value) => out.push_str(&format!("{}\n", show(&value))),
            Err(err) => out.push_str(&format!("error {:?}: {}\n", err.span, err.message)),
        }
        render_evaluator(&mut out, &evaluator);
        expect.assert_eq(&out);
    }

    /// A value as Puppet source would write it, with secrets shown so tests can see them.
    fn show(value: &Value) -> String {
        match value {
            Value::Undef => "undef".into(),
            Value::String(text) => format!("'{text}'"),
            Value::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
            Value::Hash(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(key, value)| format!("{} => {}", show(key), show(value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Reference { type_name, title } => format!("{type_name}['{title}']"),
            Value::Sensitive(inner) => format!("Sensitive({})", show(inner)),
            Value::Type(data_type) => format!("Type({data_type})"),
            other => other.to_string(),
        }
    }

    fn render_evaluator(out: &mut String, evaluator: &Evaluator) {
        for declared in &evaluator.declared {
            out.push_str(&format!("{}[{}]", declared.type_name, declared.title));
            for (name, value) in &declared.attributes {
                out.push_str(&format!(" {name}={}", show(value)));
            }
            out.push('\n');
        }
        for warning in &evaluator.warnings {
            out.push_str(&format!("warning {:?}: {}\n", warning.span, warning.message));
        }
    }

    /// Binds the parameters of the `application` in `src` (title `app1`) to the arguments in
    /// the Puppet hash `args`, evaluates its body, and renders like [`check`].
    pub(crate) fn check_application(src: &str, args: &str, expect: Expect) {
        let parse = crate::lang::parse(src);
        let mut out = String::new();
        for error in &parse.errors {
            out.push_str(&format!("syntax: {:?} {}\n", error.span, error.message));
        }
        let mut evaluator = Evaluator::new();
        let mut scope = Scope::new();
        let args: Vec<(String, Value)> =
            match evaluator.eval(&mut scope, &crate::lang::parse(args).file.statements[0].kind.expr()) {
                Ok(Value::Hash(entries)) => entries.into_iter().map(|(key, value)| (key.to_string(), value)).collect(),
                other => panic!("the arguments must be a hash, got {other:?}"),
            };
        let application = parse
            .file
            .statements
            .iter()
            .find_map(|statement| match &statement.kind {
                StatementKind::Application(application) => Some(application),
                _ => None,
            })
            .expect("the test source has an application");
        scope.push();
        let span = Span::new(1000, 1001);
        let errors = evaluator.bind_params(&mut scope, "Lamp[app1]", "app1", &application.params, &args, span);
        for error in &errors {
            out.push_str(&format!("bind error {:?}: {}\n", error.span, error.message));
        }
        if errors.is_empty() {
            match evaluator.eval_statements(&mut scope, &application.body.statements) {
                Ok(value) => out.push_str(&format!("{}\n", show(&value))),
                Err(err) => out.push_str(&format!("error {:?}: {}\n", err.span, err.message)),
            }
        }
        render_evaluator(&mut out, &evaluator);
        expect.assert_eq(&out);
    }

    trait StatementExpr {
        fn expr(&self) -> Expr;
    }

    impl StatementExpr for StatementKind {
        fn expr(&self) -> Expr {
            match self {
                StatementKind::Expr(expr) => expr.clone(),
                other => panic!("expected an expression statement, got {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::testing::{check, check_application};
    use super::*;

    const LAMP: &str = "
application lamp(String $db_user, Sensitive[String] $db_password, Integer $web_instances = 1) {
  $db_name = \"${name}_db\"
  lamp::mysql { $name: user => $db_user, password => $db_password, database => $db_name, export => Sql[$name] }
  range(1, $web_instances).each |$i| {
    lamp::webapp { \"${name}-${i}\": consume => Sql[$name] }
  }
}
";

    #[test]
    fn application_body() {
        check_application(
            LAMP,
            "{ db_user => 'user', db_password => 'secret', web_instances => 2 }",
            expect![[r#"
            [1, 2]
            lamp::mysql[app1] user='user' password=Sensitive('secret') database='app1_db' export=Sql['app1']
            lamp::webapp[app1-1] consume=Sql['app1']
            lamp::webapp[app1-2] consume=Sql['app1']
        "#]],
        );
    }

    #[test]
    fn bind_params_defaults_and_errors() {
        let src = "application lamp(String $user, Integer $port = 8000 + 1, Optional[String] $opt, $untyped, Sensitive[String] $pw = 'dflt', $who = \"${name}:${user}\") { [$user, $port, $opt, $untyped, $pw, $who, $title] }";
        check_application(
            src,
            "{ user => 'u', untyped => [1] }",
            expect![[r#"
            ['u', 8001, undef, [1], Sensitive('dflt'), 'app1:u', 'app1']
        "#]],
        );
        check_application(
            LAMP,
            "{ db_user => 1, db_password => 2, extra => 3, web_instances => 'x', require => Sql['a'] }",
            expect![[r#"
            bind error 1000..1001: Lamp[app1]: has no parameter named 'extra'
            bind error 1000..1001: Lamp[app1]: parameter 'db_user' expects a String value, got Integer
            bind error 1000..1001: Lamp[app1]: parameter 'db_password' expects a Sensitive[String] value, got Integer
            bind error 1000..1001: Lamp[app1]: parameter 'web_instances' expects an Integer value, got String
        "#]],
        );
        check_application(
            LAMP,
            "{ db_password => Sensitive('x') }",
            expect![[r#"
            bind error 1000..1001: Lamp[app1]: expects a value for parameter 'db_user'
        "#]],
        );
        check_application(
            "application lamp(Integer $x = 'a', $y = $nope[0], $z = fail('boom')) {}",
            "{}",
            expect![[r#"
                bind error 30..33: Lamp[app1]: parameter 'x' expects an Integer value, got String
                bind error 40..48: Operator '[]' is not applicable to an Undef value
                bind error 55..67: boom
                warning 40..45: Unknown variable: 'nope'.
            "#]],
        );
    }

    #[test]
    fn scope_frames() {
        let mut scope = Scope::new();
        scope.set_top("fqdn", Value::String("top".into()));
        scope.push();
        assert_eq!(scope.set("x", Value::Integer(1)), Ok(()));
        assert_eq!(scope.set("x", Value::Integer(2)), Err("Cannot reassign variable '$x'".to_string()));
        assert_eq!(scope.set("fqdn", Value::String("local".into())), Ok(()));
        assert_eq!(scope.get("fqdn"), Some(&Value::String("local".into())));
        assert_eq!(scope.get("::fqdn"), Some(&Value::String("top".into())));
        scope.pop();
        assert_eq!(scope.get("x"), None);
        scope.pop();
        assert_eq!(scope.get("::fqdn"), Some(&Value::String("top".into())));
    }

    #[test]
    fn depth_is_bounded() {
        // The parser bounds syntactic nesting, so build a tree deeper than any parse.
        let mut expr = Expr { kind: ExprKind::Integer(1), span: Span::new(0, 1) };
        for _ in 0..250 {
            expr = Expr { kind: ExprKind::Paren(Box::new(expr)), span: Span::new(0, 1) };
        }
        let result = Evaluator::new().eval(&mut Scope::new(), &expr);
        expect![[r#"Err(EvalError { span: 0..1, message: "expression nesting is too deep (more than 200 levels)", file: None, control: None, raised_in: None })"#]]
            .assert_eq(&format!("{result:?}"));
        let nested = (0..30).fold(String::from("1"), |inner, _| format!("with(1) |$x| {{ {inner} }}"));
        check(
            &nested,
            expect![[r#"
            1
        "#]],
        );
    }

    #[test]
    fn site_body() {
        check(
            "
lamp { 'app1':
  db_user => 'user', db_password => Sensitive('secret'), web_instances => 3,
  nodes => { Node['dev1.example.net'] => Lamp::Mysql['app1'],
             Node['dev2.example.net'] => [Lamp::Webapp['app1-1'], Lamp::Webapp['app1-2']] },
}
",
            expect![[r#"
                Lamp['app1']
                lamp[app1] db_user='user' db_password=Sensitive('secret') web_instances=3 nodes={Node['dev1.example.net'] => Lamp::Mysql['app1'], Node['dev2.example.net'] => [Lamp::Webapp['app1-1'], Lamp::Webapp['app1-2']]}
            "#]],
        );
    }

    #[test]
    fn literals() {
        check(
            "[1, 2.5, 'x', true, undef, default, /a.b/, present]",
            expect![[r#"
            [1, 2.5, 'x', true, undef, default, /a.b/, 'present']
        "#]],
        );
    }

    #[test]
    fn strings_and_interpolation() {
        check(
            r#"$name = 'app1' $i = 2 $x = [10, 20] $facts = {'fqdn' => 'h.example', 'os' => {'family' => 'Debian'}} $u = undef
            ["${name}-${i}", "$name/$i", "${facts['fqdn']}", "${x[0]}", "${facts['os']['family']}", "a${u}b", "${x}"]"#,
            expect![[r#"
                ['app1-2', 'app1/2', 'h.example', '10', 'Debian', 'ab', '[10, 20]']
            "#]],
        );
        check(
            "$x = 1\n@(\"END\")\n  value ${x}\n  next\n  | END\n",
            expect![[r#"
            'value 1
            next
            '
        "#]],
        );
    }

    #[test]
    fn variables_and_scopes() {
        check(
            "$x = 1 $y = $x [$x, $::x, $y, $nope]",
            expect![[r#"
            [1, 1, 1, undef]
            warning 30..35: Unknown variable: 'nope'.
        "#]],
        );
        check(
            "$x = 1 $x = 2",
            expect![[r#"
            error 7..9: Cannot reassign variable '$x'
        "#]],
        );
        check(
            "[$a, $b] = [1, 2] [$c, $d] = {'c' => 3, 'd' => 4} [$a, $b, $c, $d]",
            expect![[r#"
            [1, 2, 3, 4]
        "#]],
        );
        check(
            "[$a, $b] = [1]",
            expect![[r#"
            error 0..8: Mismatched number of variables and values: 2 variables, 1 values
        "#]],
        );
        check(
            "$::x = 1",
            expect![[r#"
            error 0..4: Cannot assign to a fully qualified variable '$::x'
        "#]],
        );
        check(
            "$x += 1",
            expect![[r#"
            error 0..2: The operator '+=' is no longer supported
        "#]],
        );
        check(
            "[1, 2].each |$x| { $y = $x } $y",
            expect![[r#"
            undef
            warning 29..31: Unknown variable: 'y'.
        "#]],
        );
    }

    #[test]
    fn arrays_hashes_and_access() {
        check(
            "$a = [1, 2, 3, 4] [$a[0], $a[-1], $a[9], $a[1, 2], $a[1, -1], $a[-2, 5]]",
            expect![[r#"
            [1, 4, undef, [2, 3], [2, 3, 4], [3, 4]]
        "#]],
        );
        check(
            "$h = {'a' => 1, 'b' => {'c' => 2}} [$h['a'], $h['b']['c'], $h['z'], $h['a', 'z', 'b']]",
            expect![[r#"
            [1, 2, undef, [1, {'c' => 2}]]
        "#]],
        );
        check(
            "$s = 'hello' [$s[0], $s[-1], $s[1, 3]]",
            expect![[r#"
            ['h', 'o', 'ell']
        "#]],
        );
        check(
            "{'a' => 1, 'a' => 2}",
            expect![[r#"
            error 11..14: The key 'a' is declared more than once
        "#]],
        );
        check(
            "$u = undef $u['x']",
            expect![[r#"
            error 11..18: Operator '[]' is not applicable to an Undef value
        "#]],
        );
        check(
            "[1, *[2, 3], 4]",
            expect![[r#"
            [1, 2, 3, 4]
        "#]],
        );
    }

    #[test]
    fn conditionals() {
        check(
            "$x = 3 if $x > 5 { 'big' } elsif $x > 2 { 'medium' } else { 'small' }",
            expect![[r#"
            'medium'
        "#]],
        );
        check(
            "if false { 1 }",
            expect![[r#"
            undef
        "#]],
        );
        check(
            "unless 1 > 2 { 'yes' } else { 'no' }",
            expect![[r#"
            'yes'
        "#]],
        );
        check(
            "$os = 'RedHat' case $os { 'debian', 'ubuntu': { 'apt' } /^(Red|Cent)/: { \"yum-${1}\" } default: { 'other' } }",
            expect![[r#"
                'yum-Red'
            "#]],
        );
        check(
            "case 5 { String: { 's' } Integer: { 'i' } }",
            expect![[r#"
            'i'
        "#]],
        );
        check(
            "case 'z' { 'a': { 1 } default: { 2 } }",
            expect![[r#"
            2
        "#]],
        );
        check(
            "case 'z' { 'a': { 1 } }",
            expect![[r#"
            undef
        "#]],
        );
    }

    #[test]
    fn selectors() {
        check(
            "[['a', 'B', 'zz', 7, 1.5].map |$x| { $x ? { 'a' => 1, /^b$/ => 2, Integer => 3, default => 4 } }]",
            expect![[r#"
                [[1, 4, 4, 3, 4]]
            "#]],
        );
        check(
            "'q' ? { 'a' => 1 }",
            expect![[r#"
            error 0..18: No matching entry for selector parameter with value 'q'
        "#]],
        );
        check(
            "$x = 'ab' $x ? { /(a)(b)/ => \"${2}${1}\" }",
            expect![[r#"
            'ba'
        "#]],
        );
    }

    #[test]
    fn relationships_and_unsupported_expressions() {
        check(
            "file { 'a': } -> file { 'b': } ~> Service['c']",
            expect![[r#"
            Service['c']
            file[a]
            file[b]
        "#]],
        );
        check(
            "File { mode => '0644' }",
            expect![[r#"
            error 0..23: Resource defaults are not supported in site and application code
        "#]],
        );
        check(
            "File['/a'] { mode => '0644' }",
            expect![[r#"
            error 0..29: Resource overrides are not supported in site and application code
        "#]],
        );
        check(
            "File <| tag == 'x' |>",
            expect![[r#"
            error 0..21: Resource collectors are not supported in site and application code
        "#]],
        );
        check(
            "Sql <<| |>>",
            expect![[r#"
            error 0..11: Resource collectors are not supported in site and application code
        "#]],
        );
        check(
            "$x = ",
            expect![[r#"
            syntax: 5..5 Syntax error at end of input
            error 5..5: syntax error
        "#]],
        );
        check(
            "(1 + 2) * 3",
            expect![[r#"
            9
        "#]],
        );
    }

    #[test]
    fn pathological_inputs_are_errors() {
        check(
            "range(1, 1000).reduce([]) |$memo, $x| { [$memo] }",
            expect![[r#"
            error 0..49: 'reduce' built a value nested more than 200 levels deep
        "#]],
        );
        check(
            "range(-9000000000000000000, 9000000000000000000, 9000000000000000000)",
            expect![[r#"
            [-9000000000000000000, 0, 9000000000000000000]
        "#]],
        );
        check(
            "-9223372036854775807 - 2",
            expect![[r#"
            error 0..24: integer overflow
        "#]],
        );
        check(
            "[1, 2][1, 2, 3]",
            expect![[r#"
            error 0..15: Array cannot be accessed with [Integer, Integer, Integer]; use an Integer index or [start, count]
        "#]],
        );
        check(
            "sprintf('%05', 1)",
            expect![[r#"
            error 0..17: sprintf: incomplete format specifier
        "#]],
        );
    }

    #[test]
    fn definitions_are_not_allowed() {
        check(
            "define foo() {}",
            expect![[r#"
            error 0..15: 'define' is not allowed here
        "#]],
        );
        check(
            "class foo {}",
            expect![[r#"
            error 0..12: 'class' is not allowed here
        "#]],
        );
        check(
            "site {}",
            expect![[r#"
            error 0..7: 'site' is not allowed here
        "#]],
        );
        check(
            "Lamp::Db produces Sql { host => 'x' }",
            expect![[r#"
            error 0..37: 'produces' is not allowed here
        "#]],
        );
    }
}
