//! The typed syntax tree produced by [`parse`](super::parse).
//!
//! Every statement and expression carries a byte [`Span`] into the source text, so later stages
//! (the evaluator in `load`, the lowering step) can point diagnostics at the code and cut exact
//! statement ranges out of a file.
//!
//! The tree follows Puppet's own model: nearly everything is an expression ([`Expr`]), and only
//! definitions (`class`, `define`, `node`, `function`, `plan`, `type`, `application`, `site`, and
//! `produces`/`consumes` capability mappings) are statement-only kinds of [`StatementKind`].
//! Values are cooked: strings have their escapes processed, heredocs have their margin removed,
//! numbers are parsed, and variables are stored without the leading `$`.
//!
//! The tree deliberately knows nothing about meaning: unknown functions, duplicate parameters or
//! a `site` nested inside a class are for the evaluator to reject.
//! Where the parser hit a syntax error it leaves an [`ExprKind::Error`] in place and keeps going.

use std::fmt;
use std::ops::Range;

/// A byte range `start..end` in the source text.
///
/// Offsets are `u32` to keep the tree small; sources over 4 GiB are not supported.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn cover(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A whole `.pp` file.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    pub statements: Vec<Statement>,
    pub span: Span,
}

/// One statement of a file or block.
///
/// The span runs from the first token to the last one (for definitions: the closing `}`), and
/// never includes a trailing `;`.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StatementKind {
    /// `class name (params) inherits parent { ... }`
    Class(ClassDef),
    /// `define name (params) { ... }`
    Define(DefineDef),
    /// `node 'a', /re/, default { ... }`
    Node(NodeDef),
    /// `function name (params) >> ReturnType { ... }`
    Function(FunctionDef),
    /// `plan name (params) { ... }` (Bolt)
    Plan(PlanDef),
    /// `type Name = TypeExpression`
    TypeAlias(TypeAlias),
    /// `application name (params) { ... }` (application orchestration, Puppet 4.3–6.x)
    Application(ApplicationDef),
    /// `site { ... }` (application orchestration)
    Site(SiteDef),
    /// `Component produces Capability { ... }` or `... consumes ...`
    CapabilityMapping(CapabilityMapping),
    /// Everything else: resources, calls, assignments, conditionals, relationships, ...
    Expr(Expr),
}

/// A name as written, with where it was written: definition names, parameter names (without
/// `$`), attribute names, method names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// `{ statements }`; the span includes both braces.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub statements: Vec<Statement>,
    pub span: Span,
}

/// A parameter of a class, define, application, function, plan or lambda:
/// `Type *$name = default`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Without the `$`.
    pub name: Name,
    pub type_expr: Option<Expr>,
    pub default: Option<Expr>,
    /// `*$rest`: collects the remaining arguments (functions and lambdas only).
    pub captures_rest: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClassDef {
    pub name: Name,
    pub params: Vec<Param>,
    pub parent: Option<Name>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DefineDef {
    pub name: Name,
    pub params: Vec<Param>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeDef {
    pub matches: Vec<NodeMatch>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeMatch {
    pub kind: NodeMatchKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeMatchKind {
    /// A quoted or bare (possibly dotted) host name.
    Name(String),
    /// The pattern between the slashes.
    Regex(String),
    Default,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDef {
    pub name: Name,
    pub params: Vec<Param>,
    pub return_type: Option<Expr>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanDef {
    pub name: Name,
    pub params: Vec<Param>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeAlias {
    pub name: Name,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationDef {
    pub name: Name,
    pub params: Vec<Param>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SiteDef {
    pub body: Block,
}

/// `Lamp::Db produces Sql { host => $facts['fqdn'] }`.
///
/// The body is optional in Puppet (`mysql::db produces Sql`); then `attributes` is empty.
#[derive(Clone, Debug, PartialEq)]
pub struct CapabilityMapping {
    /// The producing or consuming resource type, as written (`Lamp::Db` or `lamp::db`), or a
    /// class reference (`Class[prod]`).
    pub component: Name,
    pub kind: MappingKind,
    pub capability: Name,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingKind {
    Produces,
    Consumes,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Undef,
    /// The `default` keyword (selector, case and resource-body default).
    Default,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    /// A single-quoted string, or a double-quoted one without interpolation (escapes cooked).
    String(String),
    /// A double-quoted string with at least one `$var` or `${expr}`.
    Interpolated(Vec<StringPart>),
    Heredoc(Heredoc),
    /// The pattern between the slashes, with `\/` unescaped.
    Regex(String),
    /// Without the `$`: `x`, `::x`, `a::b`, `1` (a match variable).
    Variable(String),
    /// A bare word or qualified name: `present`, `foo::bar`, a function name.
    Name(String),
    /// A capitalised type or resource reference: `File`, `Lamp::Db`, `Optional`.
    TypeRef(String),
    Array(Vec<Expr>),
    Hash(Vec<HashEntry>),
    /// `target[key, ...]`: indexing, resource references (`File['/x']`) and parameterised types.
    Access {
        target: Box<Expr>,
        keys: Vec<Expr>,
    },
    Call(Call),
    MethodCall(MethodCall),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `$x = v`, `$x += v`, `$x -= v`; also `[$a, $b] = ...`.
    Assign {
        op: AssignOp,
        target: Box<Expr>,
        value: Box<Expr>,
    },
    /// `lhs -> rhs` and friends; operands are resources, references, collectors or arrays.
    Relationship {
        op: RelationshipOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `$x ? { key => value, ... }`
    Selector {
        subject: Box<Expr>,
        entries: Vec<SelectorEntry>,
    },
    If(IfExpr),
    Unless(UnlessExpr),
    Case(CaseExpr),
    /// `file { 'title': ... }`, `class { 'x': }`, `@file`, `@@file`.
    Resource(ResourceExpr),
    /// `File { mode => '0644' }`
    ResourceDefaults {
        type_ref: Box<Expr>,
        attributes: Vec<Attribute>,
    },
    /// `File['/x'] { mode => '0644' }`
    ResourceOverride {
        target: Box<Expr>,
        attributes: Vec<Attribute>,
    },
    /// `Type <| query |>` or `Type <<| query |>> { overrides }`
    Collector(Collector),
    /// `( expr )`, kept so spans and dumps match the source.
    Paren(Box<Expr>),
    /// Placeholder where the parser reported a syntax error.
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StringPart {
    Text(String),
    /// `$var` or `${expr}`; in `${name}` and `${name[...]}` the name is already a variable.
    Expr(Expr),
}

/// `@("END":json/L)` ... `END`.
#[derive(Clone, Debug, PartialEq)]
pub struct Heredoc {
    /// The syntax after `:` (`json`, `yaml`, ...).
    pub syntax: Option<String>,
    /// A `String` or `Interpolated` expression whose span covers the body lines.
    pub text: Box<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HashEntry {
    pub key: Expr,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SelectorEntry {
    pub key: Expr,
    pub value: Expr,
    pub span: Span,
}

/// `name(args) |params| { body }`, or a statement call without parentheses (`include foo`).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Usually a `Name`; a `TypeRef` for conversions such as `Integer($x)`.
    pub callee: Box<Expr>,
    pub args: Vec<Expr>,
    pub lambda: Option<Lambda>,
}

/// `receiver.method(args) |params| { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct MethodCall {
    pub receiver: Box<Expr>,
    pub method: Name,
    pub args: Vec<Expr>,
    pub lambda: Option<Lambda>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lambda {
    pub params: Vec<Param>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `*x` (splat into an argument list or array)
    Splat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    LShift,
    RShift,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Match,
    NoMatch,
    In,
}

impl BinaryOp {
    /// The operator as written in Puppet.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Less => "<",
            BinaryOp::LessEq => "<=",
            BinaryOp::Greater => ">",
            BinaryOp::GreaterEq => ">=",
            BinaryOp::LShift => "<<",
            BinaryOp::RShift => ">>",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Match => "=~",
            BinaryOp::NoMatch => "!~",
            BinaryOp::In => "in",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Assign,
    AddAssign,
    SubAssign,
}

/// Named for what the edge means, with the left operand first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationshipOp {
    /// `->`: left is applied before right.
    Before,
    /// `~>`: left before right, and right is refreshed when left changes.
    Notify,
    /// `<-`: right is applied before left.
    Require,
    /// `<~`: right before left, and left is refreshed when right changes.
    Subscribe,
}

impl RelationshipOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RelationshipOp::Before => "->",
            RelationshipOp::Notify => "~>",
            RelationshipOp::Require => "<-",
            RelationshipOp::Subscribe => "<~",
        }
    }
}

/// `if c { } elsif c { } else { }`; `branches` holds the `if` and every `elsif` in order.
#[derive(Clone, Debug, PartialEq)]
pub struct IfExpr {
    pub branches: Vec<CondBranch>,
    pub else_body: Option<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CondBranch {
    pub condition: Expr,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UnlessExpr {
    pub condition: Box<Expr>,
    pub body: Block,
    pub else_body: Option<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaseExpr {
    pub subject: Box<Expr>,
    pub options: Vec<CaseOption>,
}

/// `'a', /b/, default: { body }`
#[derive(Clone, Debug, PartialEq)]
pub struct CaseOption {
    pub values: Vec<Expr>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceForm {
    Regular,
    /// `@type { ... }`
    Virtual,
    /// `@@type { ... }`
    Exported,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceExpr {
    pub form: ResourceForm,
    /// A `Name` (`file`, `lamp::db`, `class`) or, rarely, a `TypeRef`.
    pub type_name: Box<Expr>,
    pub bodies: Vec<ResourceBody>,
}

/// `title: attributes`; a title of `default` makes this the defaults body of the expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceBody {
    pub title: Expr,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

/// `name => value`, `name +> value`, or `* => hash` (then `name.text` is `*`).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: Name,
    pub op: AttributeOp,
    pub value: Expr,
    pub span: Span,
}

impl Attribute {
    /// `* => $hash`: the hash's entries are the attributes.
    pub fn is_splat(&self) -> bool {
        self.name.text == "*"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeOp {
    /// `=>`
    Set,
    /// `+>` (append to the value, in overrides and collectors)
    Append,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Collector {
    pub type_ref: Box<Expr>,
    /// `<<| |>>` collects exported resources; `<| |>` virtual ones.
    pub exported: bool,
    pub query: Option<Box<Expr>>,
    /// The `{ ... }` after the collector, if any.
    pub overrides: Option<Vec<Attribute>>,
}
