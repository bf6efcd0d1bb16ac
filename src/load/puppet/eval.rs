//! The Puppet expression evaluator: turns `site` and application bodies (and capability
//! mappings' attribute expressions) into values and declared resources.
//!
//! It owns Puppet's evaluation semantics as far as orchestration needs them: variables in
//! nested scopes, strings and interpolation, arrays and hashes, access, operators, conditionals
//! and selectors, resource expressions (recorded as [`Declared`], never applied), lambdas and
//! the common built-in and stdlib functions. Parameter binding with type checks lives here too
//! ([`Evaluator::bind_params`]), so a definition's parameters are bound the way Puppet does it.
//!
//! What it deliberately doesn't do: look up definitions, load files, read Hiera, or evaluate
//! classes and defines; the loader (`load::puppet`) decides which bodies to evaluate and what
//! declared resources mean. Anything Puppet supports that orchestration code has no use for
//! (virtual and exported resources, collectors, `lookup`, templates) is an [`EvalError`] with a
//! clear message rather than a silent approximation.
//!
//! Evaluation never panics: every mistake in user code is an [`EvalError`] with a span, and
//! nesting is bounded by [`MAX_DEPTH`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::value::{DataType, Value};
use crate::lang::ast::{self, Expr, ExprKind, Span, Statement, StatementKind};

/// How deeply evaluation may nest (expressions inside expressions, lambdas inside lambdas)
/// before it gives up with an error instead of exhausting the stack.
const MAX_DEPTH: usize = 200;

/// The most elements a function such as `range` may produce, so a typo cannot exhaust memory.
const MAX_ELEMENTS: usize = 1_000_000;

/// An error at a place in the source; `message` in Puppet's wording where Puppet had one.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub span: Span,
    pub message: String,
}

impl EvalError {
    fn new(span: Span, message: impl Into<String>) -> EvalError {
        EvalError { span, message: message.into() }
    }
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
    regexes: HashMap<String, regex::Regex>,
}

impl Default for Evaluator {
    fn default() -> Evaluator {
        Evaluator::new()
    }
}

type EvalResult<T = Value> = Result<T, EvalError>;

impl Evaluator {
    pub fn new() -> Evaluator {
        Evaluator { declared: Vec::new(), warnings: Vec::new(), depth: 0, regexes: HashMap::new() }
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
            ExprKind::Variable(name) => Ok(self.variable(scope, name, span)),
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

    fn eval_unary(&mut self, scope: &mut Scope, op: ast::UnaryOp, operand: &Expr, span: Span) -> EvalResult {
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

    fn eval_binary(&mut self, scope: &mut Scope, op: ast::BinaryOp, lhs: &Expr, rhs: &Expr, span: Span) -> EvalResult {
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
    fn eval_in(&mut self, scope: &mut Scope, left: &Value, right: &Value, span: Span) -> EvalResult {
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

    /// Matches `text` against a pattern and, on success, sets `$0`, `$1`, ... in the
    /// innermost frame.
    fn regex_match(&mut self, scope: &mut Scope, pattern: &str, text: &str, span: Span) -> EvalResult<bool> {
        let regex = self.regex(pattern, span)?;
        let Some(captures) = regex.captures(text) else { return Ok(false) };
        let groups = captures
            .iter()
            .map(|group| group.map_or(Value::Undef, |group| Value::String(group.as_str().to_string())))
            .collect();
        scope.set_matches(groups);
        Ok(true)
    }

    fn regex(&mut self, pattern: &str, span: Span) -> EvalResult<regex::Regex> {
        if let Some(regex) = self.regexes.get(pattern) {
            return Ok(regex.clone());
        }
        // The regex crate is built without Unicode case folding, so a case-insensitive pattern
        // (`(?i)` at its start, or regsubst's `I` flag) is rewritten to match ASCII letters in
        // either case.
        let compiled = match pattern.strip_prefix("(?i)") {
            Some(rest) => fold_ascii_case(rest),
            None => pattern.to_string(),
        };
        let regex = regex::RegexBuilder::new(&compiled).size_limit(1 << 20).build().map_err(|err| {
            // The regex crate's syntax errors span several lines; the last says what is wrong.
            let text = err.to_string();
            let reason = text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
            EvalError::new(span, format!("invalid regular expression /{pattern}/: {reason}"))
        })?;
        self.regexes.insert(pattern.to_string(), regex.clone());
        Ok(regex)
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

    /// An unknown variable is undef with a warning, as in Puppet without `strict_variables`.
    fn variable(&mut self, scope: &Scope, name: &str, span: Span) -> Value {
        match scope.get(name) {
            Some(value) => value.clone(),
            None => {
                // Unmatched match variables (`$1` after a failed match) are quietly undef.
                if !name.bytes().all(|byte| byte.is_ascii_digit()) {
                    self.warnings.push(EvalError::new(span, format!("Unknown variable: '{name}'.")));
                }
                Value::Undef
            }
        }
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

    /// `Sql[$name]`, `Lamp::Db['a', 'b']`: one reference per title.
    fn eval_reference(&mut self, scope: &mut Scope, name: &str, keys: &[Expr], span: Span) -> EvalResult {
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
            let title = if type_name == "Class" { title.trim_start_matches("::").to_lowercase() } else { title };
            references.push(Value::Reference { type_name: type_name.clone(), title });
        }
        match references.len() {
            1 => Ok(references.pop().unwrap_or(Value::Undef)),
            _ => Ok(Value::Array(references)),
        }
    }

    /// `lamp::db { 'a': ... }`: records a [`Declared`] per title and evaluates to the
    /// reference(s), `Lamp::Db['a']`.
    fn eval_resource(&mut self, scope: &mut Scope, resource: &ast::ResourceExpr, span: Span) -> EvalResult {
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
                let (reference_type, title) = if type_name == "class" {
                    ("Class".to_string(), title.trim_start_matches("::").to_lowercase())
                } else {
                    (reference_type.clone(), title)
                };
                references.push(Value::Reference { type_name: reference_type, title: title.clone() });
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
    fn eval_attributes(
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

    /// `f(args) |params| { body }`, and conversions such as `Integer($x)`.
    fn eval_call(&mut self, scope: &mut Scope, call: &ast::Call, span: Span) -> EvalResult {
        let args = self.eval_list(scope, &call.args)?;
        match &call.callee.kind {
            ExprKind::Name(name) => {
                self.call_function(scope, name.trim_start_matches("::"), args, call.lambda.as_ref(), span)
            }
            ExprKind::TypeRef(name) => self.convert(scope, name, &call.callee, args, span),
            _ => Err(EvalError::new(call.callee.span, "only functions and types can be called")),
        }
    }

    /// `receiver.f(args) |params| { body }`: the receiver is the first argument.
    fn eval_method_call(&mut self, scope: &mut Scope, call: &ast::MethodCall, span: Span) -> EvalResult {
        if call.method.text == "new"
            && let ExprKind::TypeRef(name) = &call.receiver.kind
        {
            let args = self.eval_list(scope, &call.args)?;
            return self.convert(scope, name, &call.receiver, args, span);
        }
        let mut args = vec![self.eval(scope, &call.receiver)?];
        args.extend(self.eval_list(scope, &call.args)?);
        self.call_function(scope, &call.method.text, args, call.lambda.as_ref(), span)
    }

    /// `Type(value)` and `Type.new(value)`: Puppet's conversions, as far as orchestration
    /// code uses them.
    fn convert(&mut self, scope: &mut Scope, name: &str, callee: &Expr, args: Vec<Value>, span: Span) -> EvalResult {
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

    /// Calls a built-in function by name.
    fn call_function(
        &mut self,
        scope: &mut Scope,
        name: &str,
        args: Vec<Value>,
        lambda: Option<&ast::Lambda>,
        span: Span,
    ) -> EvalResult {
        match name {
            "range" => {
                arity(name, &args, 1, Some(3), span)?;
                range(&args, span)
            }
            "each" | "map" | "filter" | "any" | "all" => {
                arity(name, &args, 1, Some(1), span)?;
                let lambda = needs_lambda(name, lambda, span)?;
                self.iterate(scope, name, &args[0], lambda, span)
            }
            "reduce" => {
                arity(name, &args, 1, Some(2), span)?;
                let lambda = needs_lambda(name, lambda, span)?;
                let elements = elements(&args[0], span)?;
                let mut elements = elements.into_iter();
                let mut memo = match args.get(1) {
                    Some(start) => start.clone(),
                    None => match elements.next() {
                        Some(first) => first,
                        None => return Ok(Value::Undef),
                    },
                };
                for element in elements {
                    memo = self.call_lambda(scope, name, lambda, vec![memo, element])?;
                    // `reduce` is the one way to feed a value back into itself, so it is where
                    // unbounded nesting (`[$memo]`) could overflow the stack later on.
                    if too_deep(&memo, MAX_DEPTH) {
                        return Err(EvalError::new(
                            span,
                            format!("'reduce' built a value nested more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                }
                Ok(memo)
            }
            "with" => {
                let lambda = needs_lambda(name, lambda, span)?;
                self.call_lambda(scope, name, lambda, args)
            }
            "fail" => {
                let message = args.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
                Err(EvalError::new(
                    span,
                    format!("Evaluation Error: Error while evaluating a Function Call, {message}"),
                ))
            }
            "notice" | "info" | "warning" | "debug" | "err" | "alert" | "crit" | "emerg" => Ok(Value::Undef),
            _ if UNSUPPORTED_FUNCTIONS.contains(&name) => Err(EvalError::new(
                span,
                format!("{name}() is not supported when ordo evaluates site and application code"),
            )),
            "count" if lambda.is_some() => {
                arity(name, &args, 1, Some(1), span)?;
                let lambda = needs_lambda(name, lambda, span)?;
                let mut count = 0;
                for item in elements(&args[0], span)? {
                    let args = match (&item, &args[0], lambda.params.len() >= 2) {
                        (Value::Array(pair), Value::Hash(_), true) => pair.clone(),
                        _ => vec![item],
                    };
                    if self.call_lambda(scope, name, lambda, args)?.is_truthy() {
                        count += 1;
                    }
                }
                Ok(Value::Integer(count))
            }
            "sort" if lambda.is_some() => {
                arity(name, &args, 1, Some(1), span)?;
                let lambda = needs_lambda(name, lambda, span)?;
                let Value::Array(items) = &args[0] else {
                    return Err(bad_argument(name, "an Array", &args[0], span));
                };
                // An insertion sort, so an erroring comparison stops cleanly; sort inputs are small.
                let mut sorted: Vec<Value> = Vec::with_capacity(items.len());
                for item in items {
                    let mut position = sorted.len();
                    while position > 0 {
                        let order =
                            self.call_lambda(scope, name, lambda, vec![sorted[position - 1].clone(), item.clone()])?;
                        if !matches!(order, Value::Integer(number) if number > 0) {
                            break;
                        }
                        position -= 1;
                    }
                    sorted.insert(position, item.clone());
                }
                Ok(Value::Array(sorted))
            }
            "split" => {
                arity(name, &args, 2, Some(2), span)?;
                let Value::String(text) = &args[0] else { return Err(bad_argument(name, "a String", &args[0], span)) };
                let pattern = match &args[1] {
                    Value::String(pattern) | Value::Regex(pattern) => pattern,
                    other => return Err(bad_argument(name, "a String or Regexp pattern", other, span)),
                };
                let mut parts: Vec<Value> = if pattern.is_empty() {
                    text.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    let regex = self.regex(pattern, span)?;
                    regex.split(text).map(|part| Value::String(part.to_string())).collect()
                };
                // Like Ruby's String#split, trailing empty fields are dropped.
                while matches!(parts.last(), Some(Value::String(part)) if part.is_empty()) {
                    parts.pop();
                }
                Ok(Value::Array(parts))
            }
            "regsubst" => {
                arity(name, &args, 3, Some(5), span)?;
                let pattern = match &args[1] {
                    Value::String(pattern) | Value::Regex(pattern) => pattern.clone(),
                    other => return Err(bad_argument(name, "a String or Regexp pattern", other, span)),
                };
                let Value::String(replacement) = &args[2] else {
                    return Err(bad_argument(name, "a String replacement", &args[2], span));
                };
                let flags = args.get(3).map(ToString::to_string).unwrap_or_default();
                let mut prefix = String::new();
                for (flag, inline) in [('M', 's'), ('E', 'x')] {
                    if flags.contains(flag) {
                        prefix.push(inline);
                    }
                }
                let pattern = if prefix.is_empty() { pattern } else { format!("(?{prefix}){pattern}") };
                let pattern = if flags.contains('I') { format!("(?i){pattern}") } else { pattern };
                let regex = self.regex(&pattern, span)?;
                let replacement = ruby_replacement(replacement);
                let global = flags.contains('G');
                let substitute = |text: &str| {
                    let replaced = if global {
                        regex.replace_all(text, replacement.as_str())
                    } else {
                        regex.replace(text, replacement.as_str())
                    };
                    replaced.into_owned()
                };
                map_strings(&args[0], &substitute)
                    .ok_or_else(|| bad_argument(name, "a String or an Array of Strings", &args[0], span))
            }
            "then" | "lest" => {
                arity(name, &args, 1, Some(1), span)?;
                let lambda = needs_lambda(name, lambda, span)?;
                match (name, &args[0]) {
                    ("then", Value::Undef) => Ok(Value::Undef),
                    ("then", value) => self.call_lambda(scope, name, lambda, vec![value.clone()]),
                    (_, Value::Undef) => self.call_lambda(scope, name, lambda, Vec::new()),
                    (_, value) => Ok(value.clone()),
                }
            }
            _ => {
                if lambda.is_some() && !LAMBDA_FUNCTIONS.contains(&name) && PURE_FUNCTIONS.contains(&name) {
                    return Err(EvalError::new(span, format!("'{name}' does not accept a block")));
                }
                pure_function(name, &args, span)
            }
        }
    }

    /// `each`, `map`, `filter`, `any` and `all` over an Integer, Array or Hash. With two
    /// lambda parameters, arrays give `index, value` and hashes `key, value`; with one,
    /// hash entries are `[key, value]` pairs.
    fn iterate(
        &mut self,
        scope: &mut Scope,
        name: &str,
        subject: &Value,
        lambda: &ast::Lambda,
        span: Span,
    ) -> EvalResult {
        let items = elements(subject, span)?;
        let pairs = lambda.params.len() >= 2;
        let mut mapped = Vec::new();
        let mut kept = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let args = match (&item, subject, pairs) {
                (Value::Array(pair), Value::Hash(_), true) => pair.clone(),
                (_, _, true) => vec![Value::Integer(i64::try_from(index).unwrap_or(i64::MAX)), item.clone()],
                (_, _, false) => vec![item.clone()],
            };
            let result = self.call_lambda(scope, name, lambda, args)?;
            match name {
                "map" => mapped.push(result),
                "filter" if result.is_truthy() => kept.push(item),
                "any" if result.is_truthy() => return Ok(Value::Boolean(true)),
                "all" if !result.is_truthy() => return Ok(Value::Boolean(false)),
                _ => {}
            }
        }
        Ok(match name {
            "map" => Value::Array(mapped),
            "filter" => match subject {
                Value::Hash(_) => Value::Hash(
                    kept.into_iter()
                        .filter_map(|pair| match pair {
                            Value::Array(mut pair) if pair.len() == 2 => {
                                let value = pair.pop()?;
                                let key = pair.pop()?;
                                Some((key, value))
                            }
                            _ => None,
                        })
                        .collect(),
                ),
                _ => Value::Array(kept),
            },
            "any" => Value::Boolean(false),
            "all" => Value::Boolean(true),
            _ => subject.clone(),
        })
    }

    /// Calls a lambda in a new frame with the given arguments.
    fn call_lambda(&mut self, scope: &mut Scope, function: &str, lambda: &ast::Lambda, args: Vec<Value>) -> EvalResult {
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
    fn parameterized_type(&mut self, scope: &mut Scope, name: &str, keys: &[Expr], span: Span) -> EvalResult<DataType> {
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

/// `lamp::db` -> `Lamp::Db`: a type name capitalised per `::` segment.
fn capitalize_type(name: &str) -> String {
    name.trim_start_matches("::").split("::").map(capitalize).collect::<Vec<_>>().join("::")
}

/// The first character in upper case, the rest unchanged.
fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Names of Puppet's data types (as opposed to resource types), which evaluate to types
/// rather than references when accessed with `[...]`.
const DATA_TYPE_NAMES: &[&str] = &[
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
const RESOURCE_TYPE_NAMES: &[&str] = &[
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

fn is_data_type_name(name: &str) -> bool {
    DATA_TYPE_NAMES.contains(&name)
}

/// A type written without parameters: `String`, `Node`, `Stdlib::Port`.
fn type_from_name(name: &str) -> DataType {
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

/// Resolves a possibly negative index against a length.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 { len.checked_add(index)? } else { index };
    if (0..len).contains(&index) { usize::try_from(index).ok() } else { None }
}

/// The range selected by `[start, count]` on something of length `len`; a negative count
/// counts the end from the back (`-1` is up to and including the last element).
fn slice_range(start: i64, count: i64, len: usize) -> std::ops::Range<usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { (len_i + start).max(0) } else { start.min(len_i) };
    let end = if count < 0 { len_i + count + 1 } else { start.saturating_add(count).min(len_i) };
    let end = end.max(start);
    usize::try_from(start).unwrap_or(len)..usize::try_from(end).unwrap_or(len)
}

/// `$x[keys]` on an evaluated value.
fn access_value(subject: &Value, keys: &[Value]) -> Result<Value, String> {
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

/// `an Integer`, `a String`: the name with its indefinite article.
fn article(name: &str) -> String {
    let vowel = name.chars().next().is_some_and(|first| "AEIOUaeiou".contains(first));
    if vowel { format!("an {name}") } else { format!("a {name}") }
}

/// Checks a function's argument count, with Puppet's wording.
fn arity(name: &str, args: &[Value], min: usize, max: Option<usize>, span: Span) -> EvalResult<()> {
    let n_args = args.len();
    if n_args >= min && max.is_none_or(|max| n_args <= max) {
        return Ok(());
    }
    let expected = match max {
        Some(max) if max == min => format!("{min} {}", plural(min, "argument")),
        Some(max) => format!("between {min} and {max} arguments"),
        None => format!("at least {min} {}", plural(min, "argument")),
    };
    Err(EvalError::new(span, format!("'{name}' expects {expected}, got {n_args}")))
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 { word.to_string() } else { format!("{word}s") }
}

fn needs_lambda<'a>(name: &str, lambda: Option<&'a ast::Lambda>, span: Span) -> EvalResult<&'a ast::Lambda> {
    lambda.ok_or_else(|| EvalError::new(span, format!("'{name}' expects a block")))
}

/// What iterating over a value visits: `0..n` for an Integer, the elements of an Array, and
/// `[key, value]` pairs of a Hash.
fn elements(subject: &Value, span: Span) -> EvalResult<Vec<Value>> {
    match subject {
        Value::Integer(count) => {
            let count = usize::try_from(*count).unwrap_or(0);
            if count > MAX_ELEMENTS {
                return Err(EvalError::new(span, format!("cannot iterate over more than {MAX_ELEMENTS} elements")));
            }
            Ok((0..count).map(|index| Value::Integer(index as i64)).collect())
        }
        Value::Array(items) => Ok(items.clone()),
        Value::Hash(entries) => {
            Ok(entries.iter().map(|(key, value)| Value::Array(vec![key.clone(), value.clone()])).collect())
        }
        other => Err(EvalError::new(span, format!("{} is not iterable", article(&other.type_name())))),
    }
}

/// stdlib's `range(start, stop, step)`: integers (or numeric strings), single letters, or
/// strings with a common prefix and a numeric suffix (`host01`..`host10`).
fn range(args: &[Value], span: Span) -> EvalResult {
    let step = match args.get(2) {
        None => 1,
        Some(value) => match as_integer(value) {
            Some(step) if step != 0 => step.unsigned_abs(),
            _ => return Err(EvalError::new(span, "range(): the step must be a non-zero Integer")),
        },
    };
    let step = usize::try_from(step).unwrap_or(usize::MAX);
    let (start, stop) = match args {
        [Value::Array(bounds), ..] if bounds.len() == 2 => (&bounds[0], &bounds[1]),
        [start, stop, ..] => (start, stop),
        _ => return Err(EvalError::new(span, "range(): expects a start and a stop")),
    };
    let too_many = || EvalError::new(span, format!("range(): more than {MAX_ELEMENTS} elements"));
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
        return Err(EvalError::new(span, "range(): expects Integers or Strings"));
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
            return Err(EvalError::new(span, "range(): the numbers are too large"));
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
    Err(EvalError::new(span, format!("range(): cannot make a range from '{start}' to '{stop}'")))
}

/// An Integer, or a String of decimal digits (as stdlib accepts them).
fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(number) => Some(*number),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Puppet's metaparameters, which any resource accepts besides its own parameters (with the
/// application-orchestration ones, `export` and `consume`).
const METAPARAMETERS: &[&str] = &[
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

/// A plain value given for a `Sensitive[T]` (or `Optional[Sensitive[T]]`) parameter becomes
/// Sensitive when `T` accepts it, as Puppet's typed parameters do.
fn wrap_sensitive(data_type: &DataType, value: Value) -> Value {
    match (data_type, value) {
        (_, value @ (Value::Sensitive(_) | Value::Undef)) => value,
        (DataType::Sensitive(inner), value) if inner.accepts(&value) => Value::Sensitive(Box::new(value)),
        (DataType::Optional(inner), value) => wrap_sensitive(inner, value),
        (_, value) => value,
    }
}

/// An Integer in Puppet's notations: decimal, `0x1F`, `0o17` or `017`, `0b101`, with a sign.
fn parse_integer(text: &str) -> Option<i64> {
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
fn parse_number(text: &str) -> Option<Value> {
    if let Some(integer) = parse_integer(text) {
        return Some(Value::Integer(integer));
    }
    let number: f64 = text.trim().parse().ok()?;
    number.is_finite().then_some(Value::Float(number))
}

/// `[[k, v], ...]` or `[k, v, k, v]` to a Hash.
fn hash_from_array(items: Vec<Value>) -> Result<Value, String> {
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

/// Puppet's `==`: strings compare case-insensitively, numbers by value, arrays and hashes
/// deeply.
fn puppet_eq(left: &Value, right: &Value) -> bool {
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
fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
        (Value::Integer(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Value::Integer(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        _ => None,
    }
}

fn not_applicable(op: &str, value: &Value, span: Span) -> EvalError {
    EvalError::new(span, format!("Operator '{op}' is not applicable to {}", article(&value.type_name())))
}

/// A number, or a String holding one (Puppet converts numeric strings in arithmetic).
fn to_number(op: &str, value: &Value, span: Span) -> EvalResult {
    match value {
        Value::Integer(_) | Value::Float(_) => Ok(value.clone()),
        Value::String(text) => parse_number(text).ok_or_else(|| not_applicable(op, value, span)),
        other => Err(not_applicable(op, other, span)),
    }
}

/// `+ - * / % << >>` with Puppet's semantics for numbers, arrays and hashes.
fn arithmetic(op: ast::BinaryOp, left: Value, right: Value, span: Span) -> EvalResult {
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

fn as_float(value: &Value) -> f64 {
    match value {
        Value::Integer(number) => *number as f64,
        Value::Float(number) => *number,
        _ => f64::NAN,
    }
}

/// Integer arithmetic as Ruby does it: division and modulo round toward negative infinity.
fn integer_op(op: ast::BinaryOp, a: i64, b: i64, span: Span) -> EvalResult<i64> {
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
fn merge(mut entries: Vec<(Value, Value)>, more: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    for (key, value) in more {
        match entries.iter_mut().find(|(existing, _)| *existing == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries
}

/// Functions Puppet has but ordo cannot run while evaluating orchestration code: they need
/// Hiera, the catalog, or files on a Puppet server.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "lookup",
    "hiera",
    "hiera_array",
    "hiera_hash",
    "hiera_include",
    "include",
    "contain",
    "require",
    "template",
    "inline_template",
    "epp",
    "inline_epp",
    "realize",
    "create_resources",
    "defined",
    "tag",
    "tagged",
    "file",
    "generate",
    "find_file",
];

/// The functions [`pure_function`] implements.
const PURE_FUNCTIONS: &[&str] = &[
    "keys",
    "values",
    "length",
    "size",
    "count",
    "empty",
    "join",
    "upcase",
    "downcase",
    "capitalize",
    "strip",
    "lstrip",
    "rstrip",
    "chomp",
    "sprintf",
    "concat",
    "flatten",
    "unique",
    "sort",
    "min",
    "max",
    "abs",
    "has_key",
    "member",
    "merge",
    "dig",
    "versioncmp",
    "unwrap",
    "pick",
    "pick_default",
    "reverse",
    "delete",
];

/// Functions that take a block; the rest refuse one.
const LAMBDA_FUNCTIONS: &[&str] =
    &["each", "map", "filter", "any", "all", "reduce", "with", "count", "sort", "then", "lest"];

fn bad_argument(name: &str, expected: &str, got: &Value, span: Span) -> EvalError {
    EvalError::new(span, format!("'{name}' expects {expected}, got {}", got.type_name()))
}

/// The functions that only look at their arguments. An unknown name is an error; calling
/// with no arguments is how [`Evaluator::call_function`] asks whether a name exists, so the
/// name check comes before any argument check.
fn pure_function(name: &str, args: &[Value], span: Span) -> EvalResult {
    if !PURE_FUNCTIONS.contains(&name) {
        return Err(EvalError::new(span, format!("Unknown function: '{name}'")));
    }
    if args.is_empty() && !matches!(name, "pick_default" | "merge" | "concat") {
        return arity(name, args, 1, None, span).map(|()| Value::Undef);
    }
    let first = &args[0];
    let one = |args: &[Value]| arity(name, args, 1, Some(1), span);
    match name {
        "keys" | "values" => {
            one(args)?;
            let Value::Hash(entries) = first else { return Err(bad_argument(name, "a Hash", first, span)) };
            let pick = |(key, value): &(Value, Value)| if name == "keys" { key.clone() } else { value.clone() };
            Ok(Value::Array(entries.iter().map(pick).collect()))
        }
        "length" | "size" | "count" => {
            one(args)?;
            let length = match first {
                Value::String(text) => text.chars().count(),
                Value::Array(items) => items.len(),
                Value::Hash(entries) => entries.len(),
                other => return Err(bad_argument(name, "a String, Array or Hash", other, span)),
            };
            Ok(Value::Integer(i64::try_from(length).unwrap_or(i64::MAX)))
        }
        "empty" => {
            one(args)?;
            Ok(Value::Boolean(match first {
                Value::Undef => true,
                Value::String(text) => text.is_empty(),
                Value::Array(items) => items.is_empty(),
                Value::Hash(entries) => entries.is_empty(),
                _ => false,
            }))
        }
        "join" => {
            arity(name, args, 1, Some(2), span)?;
            let Value::Array(items) = first else { return Err(bad_argument(name, "an Array", first, span)) };
            let separator = args.get(1).map(ToString::to_string).unwrap_or_default();
            Ok(Value::String(flatten(items).iter().map(ToString::to_string).collect::<Vec<_>>().join(&separator)))
        }
        "upcase" | "downcase" | "capitalize" | "strip" | "lstrip" | "rstrip" | "chomp" => {
            one(args)?;
            map_strings(first, &|text| match name {
                "upcase" => text.to_uppercase(),
                "downcase" => text.to_lowercase(),
                "capitalize" => capitalize(&text.to_lowercase()),
                "strip" => text.trim().to_string(),
                "lstrip" => text.trim_start().to_string(),
                "rstrip" => text.trim_end().to_string(),
                _ => {
                    let text = text.strip_suffix('\n').unwrap_or(text);
                    text.strip_suffix('\r').unwrap_or(text).to_string()
                }
            })
            .ok_or_else(|| bad_argument(name, "a String or an Array of Strings", first, span))
        }
        "concat" => {
            let mut items = Vec::new();
            for arg in args {
                match arg {
                    Value::Array(more) => items.extend(more.iter().cloned()),
                    other => items.push(other.clone()),
                }
            }
            Ok(Value::Array(items))
        }
        "flatten" => Ok(Value::Array(flatten(args))),
        "unique" => {
            one(args)?;
            match first {
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
                other => Err(bad_argument(name, "an Array or a String", other, span)),
            }
        }
        "reverse" => {
            one(args)?;
            match first {
                Value::Array(items) => Ok(Value::Array(items.iter().rev().cloned().collect())),
                Value::String(text) => Ok(Value::String(text.chars().rev().collect())),
                other => Err(bad_argument(name, "an Array or a String", other, span)),
            }
        }
        "sort" => {
            one(args)?;
            let Value::Array(items) = first else { return Err(bad_argument(name, "an Array", first, span)) };
            let comparable = items.iter().all(|item| matches!(item, Value::Integer(_) | Value::Float(_)))
                || items.iter().all(|item| matches!(item, Value::String(_)));
            if !comparable {
                return Err(EvalError::new(span, "'sort' expects an Array of only Numbers or only Strings"));
            }
            let mut sorted = items.clone();
            sorted.sort_by(|a, b| match (a, b) {
                (Value::String(a), Value::String(b)) => a.cmp(b),
                (a, b) => compare(a, b).unwrap_or(Ordering::Equal),
            });
            Ok(Value::Array(sorted))
        }
        "min" | "max" => {
            let candidates = match args {
                [Value::Array(items)] => items.as_slice(),
                _ => args,
            };
            let mut best: Option<&Value> = None;
            for candidate in candidates {
                let ordering = match best {
                    None => Some(Ordering::Less),
                    Some(current) => compare(candidate, current),
                };
                let Some(ordering) = ordering else {
                    return Err(EvalError::new(span, format!("'{name}' expects only Numbers or only Strings")));
                };
                if best.is_none() || (name == "min" && ordering.is_lt()) || (name == "max" && ordering.is_gt()) {
                    best = Some(candidate);
                }
            }
            Ok(best.cloned().unwrap_or(Value::Undef))
        }
        "abs" => {
            one(args)?;
            match to_number("abs", first, span)? {
                Value::Integer(number) => {
                    number.checked_abs().map(Value::Integer).ok_or_else(|| EvalError::new(span, "integer overflow"))
                }
                Value::Float(number) => Ok(Value::Float(number.abs())),
                other => Err(bad_argument(name, "a Numeric value", &other, span)),
            }
        }
        "has_key" => {
            arity(name, args, 2, Some(2), span)?;
            let Value::Hash(entries) = first else { return Err(bad_argument(name, "a Hash", first, span)) };
            Ok(Value::Boolean(entries.iter().any(|(key, _)| *key == args[1])))
        }
        "member" => {
            arity(name, args, 2, Some(2), span)?;
            let Value::Array(items) = first else { return Err(bad_argument(name, "an Array", first, span)) };
            Ok(Value::Boolean(match &args[1] {
                Value::Array(wanted) => wanted.iter().all(|want| items.contains(want)),
                want => items.contains(want),
            }))
        }
        "merge" => {
            let mut merged = Vec::new();
            for arg in args {
                match arg {
                    Value::Hash(entries) => merged = merge(merged, entries.clone()),
                    Value::Undef => {}
                    Value::String(text) if text.is_empty() => {}
                    other => return Err(bad_argument(name, "Hashes", other, span)),
                }
            }
            Ok(Value::Hash(merged))
        }
        "dig" => {
            let mut current = first.clone();
            for key in &args[1..] {
                current = match (&current, key) {
                    (Value::Undef, _) => return Ok(Value::Undef),
                    (Value::Array(items), Value::Integer(index)) => {
                        resolve_index(*index, items.len()).map_or(Value::Undef, |index| items[index].clone())
                    }
                    (Value::Hash(entries), key) => {
                        entries.iter().find(|(entry_key, _)| entry_key == key).map_or(Value::Undef, |(_, v)| v.clone())
                    }
                    (other, _) => {
                        return Err(EvalError::new(
                            span,
                            format!("'dig' cannot look into {} with {}", article(&other.type_name()), key),
                        ));
                    }
                };
            }
            Ok(current)
        }
        "unwrap" => {
            one(args)?;
            Ok(match first {
                Value::Sensitive(inner) => (**inner).clone(),
                other => other.clone(),
            })
        }
        "pick" | "pick_default" => {
            let found = args
                .iter()
                .find(|arg| !matches!(arg, Value::Undef) && !matches!(arg, Value::String(text) if text.is_empty()));
            match (found, name) {
                (Some(found), _) => Ok(found.clone()),
                (None, "pick") => Err(EvalError::new(span, "pick(): must receive at least one non empty value")),
                (None, _) => Ok(args.last().cloned().unwrap_or(Value::Undef)),
            }
        }
        "delete" => {
            arity(name, args, 2, Some(2), span)?;
            let removed = match &args[1] {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            match first {
                Value::Array(items) => {
                    Ok(Value::Array(items.iter().filter(|item| !removed.contains(item)).cloned().collect()))
                }
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
                other => Err(bad_argument(name, "an Array, Hash or String", other, span)),
            }
        }
        "sprintf" => {
            let Value::String(format) = first else { return Err(bad_argument(name, "a String format", first, span)) };
            sprintf(format, &args[1..]).map(Value::String).map_err(|message| EvalError::new(span, message))
        }
        "versioncmp" => {
            arity(name, args, 2, Some(3), span)?;
            let (Value::String(a), Value::String(b)) = (first, &args[1]) else {
                return Err(EvalError::new(span, "'versioncmp' expects two Strings"));
            };
            Ok(Value::Integer(match versioncmp(a, b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        }
        _ => Err(EvalError::new(span, format!("Unknown function: '{name}'"))),
    }
}

/// Nested arrays flattened, in order.
fn flatten(items: &[Value]) -> Vec<Value> {
    let mut flat = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) => flat.extend(flatten(inner)),
            other => flat.push(other.clone()),
        }
    }
    flat
}

/// A string function applied to a String, or to each String of an Array.
fn map_strings(value: &Value, f: &dyn Fn(&str) -> String) -> Option<Value> {
    match value {
        Value::String(text) => Some(Value::String(f(text))),
        Value::Array(items) => {
            items.iter().map(|item| map_strings(item, f)).collect::<Option<Vec<_>>>().map(Value::Array)
        }
        _ => None,
    }
}

/// A Ruby replacement string (`\\1`, `\\0`) in the regex crate's syntax (`${1}`), with `$`
/// kept literal.
fn ruby_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(digit) if digit.is_ascii_digit() => {
                    out.push_str(&format!("${{{digit}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// `sprintf` with the conversions orchestration code uses: `%s %d %i %x %X %o %b %f %e %g %%`,
/// flags `-+0 `, width and precision.
fn sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&flag) = chars.peek().filter(|flag| "-+0 #".contains(**flag)) {
            flags.push(flag);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&digit) = chars.peek().filter(|digit| digit.is_ascii_digit()) {
            width.push(digit);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&digit) = chars.peek().filter(|digit| digit.is_ascii_digit()) {
                digits.push(digit);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let width: usize = width.parse().unwrap_or(0).min(1024);
        let precision = precision.map(|precision| precision.min(1024));
        let Some(conversion) = chars.next() else { return Err("sprintf: incomplete format specifier".into()) };
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or_else(|| "sprintf: too few arguments".to_string())?;
        let integer = || -> Result<i64, String> {
            match to_number("sprintf", arg, Span::default()) {
                Ok(Value::Integer(number)) => Ok(number),
                Ok(Value::Float(number)) if number.is_finite() => Ok(number as i64),
                _ => Err(format!("sprintf: %{conversion} expects a number, got {}", arg.type_name())),
            }
        };
        let float = || -> Result<f64, String> {
            match to_number("sprintf", arg, Span::default()) {
                Ok(value) => Ok(as_float(&value)),
                Err(_) => Err(format!("sprintf: %{conversion} expects a number, got {}", arg.type_name())),
            }
        };
        let sign = |negative: bool| {
            if negative {
                "-"
            } else if flags.contains('+') {
                "+"
            } else if flags.contains(' ') {
                " "
            } else {
                ""
            }
        };
        let (prefix, body) = match conversion {
            's' => {
                let text = arg.to_string();
                let text = match precision {
                    Some(precision) => text.chars().take(precision).collect(),
                    None => text,
                };
                (String::new(), text)
            }
            'd' | 'i' | 'u' => {
                let number = integer()?;
                (sign(number < 0).to_string(), number.unsigned_abs().to_string())
            }
            'x' | 'X' | 'o' | 'b' | 'B' => {
                let number = integer()?;
                let magnitude = number.unsigned_abs();
                let digits = match conversion {
                    'x' => format!("{magnitude:x}"),
                    'X' => format!("{magnitude:X}"),
                    'o' => format!("{magnitude:o}"),
                    _ => format!("{magnitude:b}"),
                };
                (sign(number < 0).to_string(), digits)
            }
            'f' | 'e' | 'E' | 'g' | 'G' => {
                let number = float()?;
                let precision = precision.unwrap_or(6);
                let digits = match conversion {
                    'f' => format!("{:.precision$}", number.abs()),
                    'e' => format!("{:.precision$e}", number.abs()),
                    'E' => format!("{:.precision$E}", number.abs()),
                    _ => format!("{}", number.abs()),
                };
                (sign(number.is_sign_negative() && number != 0.0).to_string(), digits)
            }
            other => return Err(format!("sprintf: unsupported conversion '%{other}'")),
        };
        let length = prefix.chars().count() + body.chars().count();
        let padding = width.saturating_sub(length);
        if flags.contains('-') {
            out.push_str(&prefix);
            out.push_str(&body);
            out.push_str(&" ".repeat(padding));
        } else if flags.contains('0') && conversion != 's' {
            out.push_str(&prefix);
            out.push_str(&"0".repeat(padding));
            out.push_str(&body);
        } else {
            out.push_str(&" ".repeat(padding));
            out.push_str(&prefix);
            out.push_str(&body);
        }
    }
    Ok(out)
}

/// Puppet's `versioncmp`: compares dotted and dashed versions piece by piece, numbers as
/// numbers (unless zero-padded), everything else case-insensitively.
fn versioncmp(a: &str, b: &str) -> Ordering {
    fn pieces(version: &str) -> Vec<String> {
        let mut pieces: Vec<String> = Vec::new();
        for c in version.chars() {
            let kind = |c: char| {
                if c == '-' || c == '.' {
                    0
                } else if c.is_ascii_digit() {
                    1
                } else {
                    2
                }
            };
            match pieces.last_mut() {
                Some(last) if kind(c) != 0 && last.chars().next().is_some_and(|first| kind(first) == kind(c)) => {
                    last.push(c);
                }
                _ => pieces.push(c.to_string()),
            }
        }
        pieces
    }
    let is_number = |piece: &str| !piece.is_empty() && piece.bytes().all(|byte| byte.is_ascii_digit());
    for (x, y) in pieces(a).iter().zip(pieces(b).iter()) {
        if x == y {
            continue;
        }
        let ordering = match (x.as_str(), y.as_str()) {
            ("-", _) => Ordering::Less,
            (_, "-") => Ordering::Greater,
            (".", _) => Ordering::Less,
            (_, ".") => Ordering::Greater,
            (x, y) if is_number(x) && is_number(y) && !x.starts_with('0') && !y.starts_with('0') => {
                let trimmed = |piece: &str| piece.trim_start_matches('0').to_string();
                let (x, y) = (trimmed(x), trimmed(y));
                x.len().cmp(&y.len()).then_with(|| x.cmp(&y))
            }
            (x, y) => x.to_uppercase().cmp(&y.to_uppercase()),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.cmp(b)
}

/// Rewrites a pattern so ASCII letters match in either case: `ab` becomes `[aA][bB]` and
/// `[a-z]` becomes `[a-zA-Z]`. Escapes, group syntax and POSIX classes are left alone.
fn fold_ascii_case(pattern: &str) -> String {
    let swap = |c: char| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                let Some(escaped) = chars.next() else { break };
                out.push(escaped);
                if matches!(escaped, 'p' | 'P') && chars.peek() == Some(&'{') {
                    for inner in chars.by_ref() {
                        out.push(inner);
                        if inner == '}' {
                            break;
                        }
                    }
                }
            }
            '(' if chars.peek() == Some(&'?') => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if matches!(inner, ':' | '>' | ')') {
                        break;
                    }
                }
            }
            '[' => {
                let mut content = String::new();
                let mut escaped = false;
                for inner in chars.by_ref() {
                    if inner == ']' && !escaped && !content.is_empty() && content != "^" {
                        break;
                    }
                    escaped = inner == '\\' && !escaped;
                    content.push(inner);
                }
                out.push('[');
                out.push_str(&content);
                if !content.contains("[:") {
                    let mut previous_backslash = false;
                    for inner in content.strip_prefix('^').unwrap_or(&content).chars() {
                        out.push(if previous_backslash { inner } else { swap(inner) });
                        previous_backslash = inner == '\\' && !previous_backslash;
                    }
                }
                out.push(']');
            }
            c if c.is_ascii_alphabetic() => {
                out.push('[');
                out.push(c);
                out.push(swap(c));
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
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
    use expect_test::{Expect, expect};

    use super::*;

    /// Evaluates `src` in a fresh scope; renders the last value (or the error) and then the
    /// declared resources, one per line.
    fn check(src: &str, expect: Expect) {
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
    fn check_application(src: &str, args: &str, expect: Expect) {
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
            bind error 55..67: Evaluation Error: Error while evaluating a Function Call, boom
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
        expect![[r#"Err(EvalError { span: 0..1, message: "expression nesting is too deep (more than 200 levels)" })"#]]
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
    fn references_and_types() {
        check(
            "$name = 'app1' [Node['dev1'], Sql[$name], Lamp::Db['a'], Class['Foo::Bar'], Lamp::Web['a', 'b']]",
            expect![[r#"
                [Node['dev1'], Sql['app1'], Lamp::Db['a'], Class['foo::bar'], [Lamp::Web['a'], Lamp::Web['b']]]
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
            Class['foo::bar']
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
    fn iteration() {
        check(
            "$r = [] 5.each |$i| { notice($i) } [range(1, 3), range('a', 'c'), range('host08', 'host10'), range(1, 10, 4), range(3, 1)]",
            expect![[r#"
            [[1, 2, 3], ['a', 'b', 'c'], ['host08', 'host09', 'host10'], [1, 5, 9], []]
        "#]],
        );
        check(
            "[1, 2, 3].map |$x| { $x * 2 }",
            expect![[r#"
            [2, 4, 6]
        "#]],
        );
        check(
            "{'a' => 1, 'b' => 2}.map |$k, $v| { \"${k}=${v}\" }",
            expect![[r#"
            ['a=1', 'b=2']
        "#]],
        );
        check(
            "{'a' => 1, 'b' => 2}.map |$pair| { $pair[0] }",
            expect![[r#"
            ['a', 'b']
        "#]],
        );
        check(
            "['a', 'b'].map |$index, $x| { \"${index}:${x}\" }",
            expect![[r#"
            ['0:a', '1:b']
        "#]],
        );
        check(
            "[[1, 2, 3, 4].filter |$x| { $x % 2 == 0 }, {'a' => 1, 'b' => 2}.filter |$k, $v| { $v > 1 }]",
            expect![[r#"
            [[2, 4], {'b' => 2}]
        "#]],
        );
        check(
            "[[1, 2, 3].reduce |$memo, $x| { $memo + $x }, [1, 2, 3].reduce(10) |$memo, $x| { $memo + $x }]",
            expect![[r#"
            [6, 16]
        "#]],
        );
        check(
            "with(1, 2) |$a, $b| { $a + $b }",
            expect![[r#"
            3
        "#]],
        );
        check(
            "[[1, 2].any |$x| { $x > 1 }, [1, 2].all |$x| { $x > 1 }, [1, 2, 3].count |$x| { $x > 1 }]",
            expect![[r#"
            [true, false, 2]
        "#]],
        );
        check(
            "lamp::web { 'a': } [1, 2].each |$i| { lamp::web { \"w${i}\": index => $i } }",
            expect![[r#"
            [1, 2]
            lamp::web[a]
            lamp::web[w1] index=1
            lamp::web[w2] index=2
        "#]],
        );
        check(
            "[1].each |$a, $b, $c| { 1 }",
            expect![[r#"
            error 9..27: 'each' block expects 3 arguments, got 2
        "#]],
        );
        check(
            "[1].each |String $x| { 1 }",
            expect![[r#"
            error 10..19: 'each' block parameter 'x' expects a String value, got Integer
        "#]],
        );
        check(
            "[1].each",
            expect![[r#"
            error 0..8: 'each' expects a block
        "#]],
        );
        check(
            "range(1, 100000000)",
            expect![[r#"
            error 0..19: range(): more than 1000000 elements
        "#]],
        );
        check(
            "'abc'.each |$x| { 1 }",
            expect![[r#"
            error 0..21: a String is not iterable
        "#]],
        );
        check(
            "[3, 1, 2].sort |$a, $b| { $b - $a }",
            expect![[r#"
            [3, 2, 1]
        "#]],
        );
    }

    #[test]
    fn collection_functions() {
        check(
            "$h = {'a' => 1, 'b' => 2} [keys($h), values($h), $h.length, size([1]), count('abc'), empty([]), empty(''), empty(0), has_key($h, 'a')]",
            expect![[r#"
            [['a', 'b'], [1, 2], 2, 1, 3, true, true, false, true]
        "#]],
        );
        check(
            "[join([1, [2, 3]], '-'), concat([1], [2, 3], 4), flatten([1, [2, [3]]]), unique([1, 2, 1]), sort(['b', 'a', 'C']), sort([3, 1.5, 2])]",
            expect![[r#"
            ['1-2-3', [1, 2, 3, 4], [1, 2, 3], [1, 2], ['C', 'a', 'b'], [1.5, 2, 3]]
        "#]],
        );
        check(
            "[min(3, 1, 2), max([1, 5, 2]), min('b', 'a'), abs(-3), abs(-1.5), member([1, 2], 2), member(['a'], 'A')]",
            expect![[r#"
            [1, 5, 'a', 3, 1.5, true, false]
        "#]],
        );
        check(
            "[merge({'a' => 1}, {'a' => 2, 'b' => 3}), dig({'a' => [{'b' => 1}]}, 'a', 0, 'b'), dig({'a' => 1}, 'x', 'y')]",
            expect![[r#"
            [{'a' => 2, 'b' => 3}, 1, undef]
        "#]],
        );
        check(
            "[pick(undef, '', 'x'), pick_default(undef, ''), reverse([1, 2]), delete(['a', 'b', 'a'], 'a'), delete({'a' => 1, 'b' => 2}, 'a')]",
            expect![[r#"
            ['x', '', [2, 1], ['b'], {'b' => 2}]
        "#]],
        );
        check(
            "sort([1, 'a'])",
            expect![[r#"
            error 0..14: 'sort' expects an Array of only Numbers or only Strings
        "#]],
        );
        check(
            "keys([1])",
            expect![[r#"
            error 0..9: 'keys' expects a Hash, got Array
        "#]],
        );
        check(
            "join()",
            expect![[r#"
            error 0..6: 'join' expects at least 1 argument, got 0
        "#]],
        );
    }

    #[test]
    fn string_functions() {
        check(
            "[upcase('abc'), downcase(['A', 'B']), capitalize('hELLO'), strip('  x '), chomp(\"line\\n\"), split('a,b,,c,,', ','), split('a1b22c', /\\d+/), split('ab', '')]",
            expect![[r#"
            ['ABC', ['a', 'b'], 'Hello', 'x', 'line', ['a', 'b', '', 'c'], ['a', 'b', 'c'], ['a', 'b']]
        "#]],
        );
        check(
            "[sprintf('%s-%d-%05d-%x-%.2f-%%-%-4s|-%+d-%i', 'a', 42, 7, 255, 3.14159, 'b', 5, '12')]",
            expect![[r#"
            ['a-42-00007-ff-3.14-%-b   |-+5-12']
        "#]],
        );
        check(
            "[regsubst('hello world', 'o', '0'), regsubst('hello world', 'o', '0', 'G'), regsubst('web-12', '^(\\w+)-(\\d+)$', '\\2.\\1'), regsubst('ABC', 'b', 'x', 'IG'), regsubst(['a1', 'b1'], '1', '$')]",
            expect![[r#"
            ['hell0 world', 'hell0 w0rld', '12.web', 'AxC', ['a$', 'b$']]
        "#]],
        );
        check(
            "[versioncmp('1.2.10', '1.2.9'), versioncmp('1.0', '1.0'), versioncmp('1.0-rc1', '1.0.1'), versioncmp('2.0a', '2.0B')]",
            expect![[r#"
            [1, 0, -1, -1]
        "#]],
        );
        check(
            "sprintf('%d', 'x')",
            expect![[r#"
            error 0..18: sprintf: %d expects a number, got String
        "#]],
        );
        check(
            "sprintf('%s %s', 'x')",
            expect![[r#"
            error 0..21: sprintf: too few arguments
        "#]],
        );
    }

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

    #[test]
    fn other_functions() {
        check(
            "notice('hi') warning('x')",
            expect![[r#"
            undef
        "#]],
        );
        check(
            "fail('no way')",
            expect![[r#"
            error 0..14: Evaluation Error: Error while evaluating a Function Call, no way
        "#]],
        );
        check(
            "include foo",
            expect![[r#"
            error 0..11: include() is not supported when ordo evaluates site and application code
        "#]],
        );
        check(
            "lookup('x')",
            expect![[r#"
            error 0..11: lookup() is not supported when ordo evaluates site and application code
        "#]],
        );
        check(
            "$x = template('a/b.erb')",
            expect![[r#"
            error 5..24: template() is not supported when ordo evaluates site and application code
        "#]],
        );
        check(
            "frobnicate(1)",
            expect![[r#"
            error 0..13: Unknown function: 'frobnicate'
        "#]],
        );
        check(
            "keys({}) |$x| { 1 }",
            expect![[r#"
            error 0..19: 'keys' does not accept a block
        "#]],
        );
        check(
            "[undef].then |$x| { 1 }",
            expect![[r#"
            1
        "#]],
        );
        check(
            "[undef.then |$x| { 1 }, undef.lest || { 2 }, 3.then |$x| { $x + 1 }]",
            expect![[r#"
            [undef, 2, 4]
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
