//! Built-in functions: [`FUNCTIONS`], one table that is the single source of which functions
//! exist, how many arguments each takes and whether it takes a block, and calls through it.
//!
//! The table holds Puppet 5's own functions, the puppetlabs-stdlib functions that published
//! orchestration code uses, and puppetlabs-app_modeling's helpers; those are Ruby in Puppet,
//! so ordo provides them natively with their documented behaviour. A few functions exist in
//! Puppet but cannot run while the environment is evaluated (they need a catalog or files on
//! a server); they are in the table as [`Body::Unsupported`], so calling one says why.
//!
//! Functions written in the Puppet language (`functions/*.pp`) are the loader's
//! ([`super::code::Code`]); a call looks in this table first, as Puppet's loaders put the
//! system's functions before the environment's, and then at the environment's code.

mod app_modeling;
mod collections;
mod data;
mod iteration;
mod strings;

use super::{EvalError, EvalResult, Evaluator, Raised, Scope, article};
use crate::lang::ast::{self, ExprKind, Span};
use crate::load::puppet::value::Value;

/// Where a function comes from, for the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Puppet 5.5's own functions.
    Puppet,
    /// puppetlabs-stdlib.
    Stdlib,
    /// puppetlabs-app_modeling.
    AppModeling,
}

/// Whether a function takes a block (`|$x| { ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Refused,
    Optional,
    Required,
}

/// A call as a native function sees it: arguments evaluated, the block as written.
pub struct Call<'a> {
    pub name: &'a str,
    pub args: Vec<Value>,
    pub lambda: Option<&'a ast::Lambda>,
    pub span: Span,
}

impl Call<'_> {
    /// An error at the call.
    pub fn error(&self, message: impl Into<String>) -> EvalError {
        EvalError::new(self.span, message)
    }

    /// An argument of the wrong type, in Puppet's wording.
    pub fn bad_argument(&self, expected: &str, got: &Value) -> EvalError {
        self.error(format!("'{}' expects {expected}, got {}", self.name, got.type_name()))
    }

    /// The block; present whenever the table says [`Block::Required`].
    pub fn lambda(&self) -> EvalResult<&ast::Lambda> {
        self.lambda.ok_or_else(|| self.error(format!("'{}' expects a block", self.name)))
    }
}

pub type Native = fn(&mut Evaluator, &mut Scope, &Call) -> EvalResult;

/// What calling a function does.
pub enum Body {
    Native(Native),
    /// Exists in Puppet, but cannot run while ordo evaluates the environment: why.
    Unsupported(&'static str),
}

/// One built-in function.
pub struct Function {
    pub name: &'static str,
    pub origin: Origin,
    pub min_args: usize,
    /// None: any number.
    pub max_args: Option<usize>,
    pub block: Block,
    pub body: Body,
}

const fn native(
    name: &'static str,
    origin: Origin,
    min_args: usize,
    max_args: Option<usize>,
    block: Block,
    body: Native,
) -> Function {
    Function { name, origin, min_args, max_args, block, body: Body::Native(body) }
}

const fn unsupported(name: &'static str, why: &'static str) -> Function {
    Function {
        name,
        origin: Origin::Puppet,
        min_args: 0,
        max_args: None,
        block: Block::Optional,
        body: Body::Unsupported(why),
    }
}

const CATALOG: &str = "it works on a node's catalog, which does not exist while ordo evaluates the environment";
const SERVER_FILES: &str = "it renders files on the Puppet server; do it in the component's own code instead";

use Block::{Optional, Refused, Required};
use Origin::{AppModeling, Puppet, Stdlib};

/// Every built-in function, sorted by name (a test keeps it so, and the user documentation
/// lists exactly these).
#[rustfmt::skip]
pub static FUNCTIONS: &[Function] = &[
    native("abs", Puppet, 1, Some(1), Refused, collections::abs),
    native("alert", Puppet, 0, None, Refused, log),
    native("all", Puppet, 1, Some(1), Required, iteration::iterate),
    native("any", Puppet, 1, Some(1), Required, iteration::iterate),
    native("any2array", Stdlib, 0, None, Refused, collections::any2array),
    native("assert_type", Puppet, 2, Some(2), Optional, iteration::assert_type),
    native("bool2str", Stdlib, 1, Some(3), Refused, strings::bool2str),
    native("break", Puppet, 0, Some(0), Refused, iteration::control),
    native("camelcase", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("capitalize", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("chomp", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("chop", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("collect_component_nodes", AppModeling, 2, Some(2), Refused, app_modeling::collect_component_nodes),
    native("collect_component_titles", AppModeling, 2, Some(2), Refused, app_modeling::collect_component_titles),
    native("concat", Stdlib, 1, None, Refused, collections::concat),
    unsupported("contain", CATALOG),
    native("count", Stdlib, 1, Some(2), Optional, iteration::count),
    unsupported("create_resources", CATALOG),
    native("crit", Puppet, 0, None, Refused, log),
    native("debug", Puppet, 0, None, Refused, log),
    unsupported("defined", CATALOG),
    native("delete", Stdlib, 2, Some(2), Refused, collections::delete),
    native("delete_undef_values", Stdlib, 1, Some(1), Refused, collections::delete_undef_values),
    native("delete_values", Stdlib, 2, Some(2), Refused, collections::delete_values),
    native("difference", Stdlib, 2, Some(2), Refused, collections::set_operation),
    native("dig", Puppet, 1, None, Refused, collections::dig),
    native("downcase", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("each", Puppet, 1, Some(1), Required, iteration::iterate),
    native("emerg", Puppet, 0, None, Refused, log),
    native("empty", Puppet, 1, Some(1), Refused, collections::empty),
    unsupported("ensure_packages", CATALOG),
    unsupported("ensure_resource", CATALOG),
    unsupported("epp", SERVER_FILES),
    native("err", Puppet, 0, None, Refused, log),
    native("fail", Puppet, 0, None, Refused, fail),
    unsupported("file", SERVER_FILES),
    native("filter", Puppet, 1, Some(1), Required, iteration::iterate),
    unsupported("find_file", SERVER_FILES),
    native("flatten", Puppet, 0, None, Refused, collections::flatten_function),
    unsupported("generate", "it runs a command on the Puppet server"),
    native("getvar", Stdlib, 1, Some(2), Refused, data::getvar),
    native("grep", Stdlib, 2, Some(2), Refused, strings::grep),
    native("has_key", Stdlib, 2, Some(2), Refused, collections::has_key),
    native("hash", Stdlib, 1, Some(1), Refused, collections::hash),
    native("hiera", Puppet, 1, Some(3), Refused, data::hiera),
    native("hiera_array", Puppet, 1, Some(3), Refused, data::hiera),
    native("hiera_hash", Puppet, 1, Some(3), Refused, data::hiera),
    unsupported("hiera_include", CATALOG),
    unsupported("include", CATALOG),
    native("info", Puppet, 0, None, Refused, log),
    unsupported("inline_epp", SERVER_FILES),
    unsupported("inline_template", SERVER_FILES),
    native("intersection", Stdlib, 2, Some(2), Refused, collections::set_operation),
    native("is_array", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_bool", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_float", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_hash", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_integer", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_numeric", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("is_string", Stdlib, 1, Some(1), Refused, collections::is_a),
    native("join", Puppet, 1, Some(2), Refused, collections::join),
    native("join_keys_to_values", Stdlib, 2, Some(2), Refused, collections::join_keys_to_values),
    native("keys", Puppet, 1, Some(1), Refused, collections::keys_values),
    native("length", Puppet, 1, Some(1), Refused, collections::length),
    native("lest", Puppet, 1, Some(1), Required, iteration::then_lest),
    native("lookup", Puppet, 1, Some(4), Optional, data::lookup),
    native("lstrip", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("map", Puppet, 1, Some(1), Required, iteration::iterate),
    native("max", Stdlib, 0, None, Refused, collections::min_max),
    native("member", Stdlib, 2, Some(2), Refused, collections::member),
    native("merge", Stdlib, 0, None, Refused, collections::merge_function),
    native("min", Stdlib, 0, None, Refused, collections::min_max),
    native("next", Puppet, 0, Some(1), Refused, iteration::control),
    native("notice", Puppet, 0, None, Refused, log),
    native("num2bool", Stdlib, 1, Some(1), Refused, strings::num2bool),
    native("pick", Stdlib, 0, None, Refused, collections::pick),
    native("pick_default", Stdlib, 0, None, Refused, collections::pick),
    native("prefix", Stdlib, 1, Some(2), Refused, strings::prefix_suffix),
    native("range", Stdlib, 1, Some(3), Refused, collections::range),
    unsupported("realize", CATALOG),
    native("reduce", Puppet, 1, Some(2), Required, iteration::reduce),
    native("regsubst", Puppet, 3, Some(5), Refused, strings::regsubst),
    unsupported("require", CATALOG),
    native("return", Puppet, 0, Some(1), Refused, iteration::control),
    native("reverse", Stdlib, 1, Some(1), Refused, collections::reverse),
    native("reverse_each", Puppet, 1, Some(1), Optional, iteration::reverse_each),
    native("rstrip", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("size", Stdlib, 1, Some(1), Refused, collections::length),
    native("sort", Stdlib, 1, Some(1), Optional, iteration::sort),
    native("split", Puppet, 2, Some(2), Refused, strings::split),
    native("sprintf", Puppet, 1, None, Refused, strings::sprintf_function),
    native("str2bool", Stdlib, 1, Some(1), Refused, strings::str2bool),
    native("strip", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("suffix", Stdlib, 1, Some(2), Refused, strings::prefix_suffix),
    native("swapcase", Stdlib, 1, Some(1), Refused, strings::change_case),
    unsupported("tag", CATALOG),
    unsupported("tagged", CATALOG),
    unsupported("template", SERVER_FILES),
    native("then", Puppet, 1, Some(1), Required, iteration::then_lest),
    native("type", Puppet, 1, Some(2), Refused, collections::type_of),
    native("union", Stdlib, 2, None, Refused, collections::set_operation),
    native("unique", Puppet, 1, Some(1), Refused, collections::unique),
    native("unwrap", Puppet, 1, Some(1), Refused, collections::unwrap),
    native("upcase", Stdlib, 1, Some(1), Refused, strings::change_case),
    native("validate_array", Stdlib, 1, None, Refused, collections::validate),
    native("validate_bool", Stdlib, 1, None, Refused, collections::validate),
    native("validate_hash", Stdlib, 1, None, Refused, collections::validate),
    native("validate_integer", Stdlib, 1, Some(3), Refused, collections::validate),
    native("validate_re", Stdlib, 2, Some(3), Refused, strings::validate_re),
    native("validate_string", Stdlib, 1, None, Refused, collections::validate),
    native("values", Puppet, 1, Some(1), Refused, collections::keys_values),
    native("values_at", Stdlib, 2, Some(2), Refused, collections::values_at),
    native("versioncmp", Puppet, 2, Some(3), Refused, strings::versioncmp_function),
    native("warning", Puppet, 0, None, Refused, log),
    native("with", Puppet, 0, None, Required, iteration::with),
    native("zip", Stdlib, 2, Some(3), Refused, collections::zip),
];

/// The built-in function with this name.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.binary_search_by(|function| function.name.cmp(name)).ok().map(|index| &FUNCTIONS[index])
}

/// Logging functions: Puppet logs on the server, which is of no use to a plan.
fn log(_: &mut Evaluator, _: &mut Scope, _: &Call) -> EvalResult {
    Ok(Value::Undef)
}

fn fail(_: &mut Evaluator, _: &mut Scope, call: &Call) -> EvalResult {
    let message = call.args.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    Err(call.error(message))
}

/// `'name' expects 2 arguments, got 3`, Puppet's wording of an arity mismatch.
pub fn arity_error(name: &str, min: usize, max: Option<usize>, got: usize) -> Option<String> {
    if got >= min && max.is_none_or(|max| got <= max) {
        return None;
    }
    let expected = match max {
        Some(max) if max == min => format!("{min} {}", super::plural(min, "argument")),
        Some(max) => format!("between {min} and {max} arguments"),
        None => format!("at least {min} {}", super::plural(min, "argument")),
    };
    Some(format!("'{name}' expects {expected}, got {got}"))
}

impl Evaluator {
    /// `f(args) |params| { body }`, and conversions such as `Integer($x)`.
    pub(super) fn eval_call(&mut self, scope: &mut Scope, call: &ast::Call, span: Span) -> EvalResult {
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
    pub(super) fn eval_method_call(&mut self, scope: &mut Scope, call: &ast::MethodCall, span: Span) -> EvalResult {
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

    /// Calls a function by name: a built-in, else one written in the Puppet language, else an
    /// error that names the Ruby file defining it when there is one. Its errors are Puppet's
    /// "Error while evaluating a Function Call".
    pub(super) fn call_function(
        &mut self,
        scope: &mut Scope,
        name: &str,
        args: Vec<Value>,
        lambda: Option<&ast::Lambda>,
        span: Span,
    ) -> EvalResult {
        let name = name.to_lowercase();
        self.call_named(scope, &name, args, lambda, span).map_err(|err| err.raised_in(Raised::FunctionCall))
    }

    fn call_named(
        &mut self,
        scope: &mut Scope,
        name: &str,
        args: Vec<Value>,
        lambda: Option<&ast::Lambda>,
        span: Span,
    ) -> EvalResult {
        let Some(function) = lookup(name) else {
            return self.call_code_function(scope, name, args, lambda, span);
        };
        if let Some(message) = arity_error(name, function.min_args, function.max_args, args.len()) {
            return Err(EvalError::new(span, message));
        }
        match (function.block, lambda) {
            (Block::Refused, Some(_)) => {
                return Err(EvalError::new(span, format!("'{name}' does not accept a block")));
            }
            (Block::Required, None) => return Err(EvalError::new(span, format!("'{name}' expects a block"))),
            _ => {}
        }
        match &function.body {
            Body::Native(body) => body(self, scope, &Call { name, args, lambda, span }),
            Body::Unsupported(why) => Err(EvalError::new(
                span,
                format!("{name}() is not supported when ordo evaluates site and application code: {why}"),
            )),
        }
    }
}

/// What iterating over a value visits: `0..n` for an Integer, the elements of an Array, and
/// `[key, value]` pairs of a Hash.
pub(super) fn elements(subject: &Value, span: Span) -> EvalResult<Vec<Value>> {
    match subject {
        Value::Integer(count) => {
            let count = usize::try_from(*count).unwrap_or(0);
            if count > super::MAX_ELEMENTS {
                return Err(EvalError::new(
                    span,
                    format!("cannot iterate over more than {} elements", super::MAX_ELEMENTS),
                ));
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

/// Nested arrays flattened, in order.
pub(super) fn flatten(items: &[Value]) -> Vec<Value> {
    let mut flat = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) => flat.extend(flatten(inner)),
            other => flat.push(other.clone()),
        }
    }
    flat
}

/// An Integer, or a String of decimal digits (as stdlib accepts them).
pub(super) fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(number) => Some(*number),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_names_are_unique() {
        for pair in FUNCTIONS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} must come before {}", pair[1].name, pair[0].name);
        }
        assert!(lookup("keys").is_some() && lookup("nope").is_none());
    }

    #[test]
    fn the_user_documentation_lists_every_function() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/puppet-language.md"))
            .expect("docs/puppet-language.md is readable");
        let section = doc.split("## Functions").nth(1).expect("the documentation has a Functions section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|line| line.split('`').next())
            .collect();
        let names: Vec<&str> = FUNCTIONS.iter().map(|function| function.name).collect();
        assert_eq!(listed, names, "docs/puppet-language.md lists the functions of FUNCTIONS, in order");
    }
}
