//! Recursive-descent parser with a Pratt loop for expressions: tokens to [`ast`](super::ast).
//!
//! Statements and definitions are parsed by hand-written functions; expressions go through
//! [`Parser::expr_bp`], which reads binding powers from [`infix_binding_power`] (Puppet's
//! precedence table from `egrammar.ra`, lowest first: relationships, assignment, `or`, `and`,
//! comparisons, equality, shifts, `+ -`, `* / %`, `=~ !~`, `in`, unary operators, `?` selectors,
//! and finally postfix `[]`, `.method`, calls, collectors and resource bodies).
//!
//! The parser never gives up. Each error is recorded and the parser recovers at a boundary that
//! fits where it is: inside a list it skips to the next `,` or the closing bracket, inside a block
//! it skips to the next `;`, `}`, definition keyword, or statement that starts a line. Every loop
//! makes progress or consumes a token, and nesting depth is bounded, so no input can make it hang
//! or overflow the stack.
//!
//! Puppet's statement calls (`include foo`, `fail "x"`) are recognised by name, as Puppet's
//! `transform_calls` does; any other bare name followed by an expression stays two statements.

use super::SyntaxError;
use super::ast::{self, *};
use super::lexer::TokenKind::Name;
use super::lexer::{self, HeredocInfo, Token, TokenKind, TokenKind::*};

/// Functions that may be called without parentheses at statement level (Puppet's list).
const STATEMENT_CALLS: &[&str] = &[
    "require", "realize", "include", "contain", "tag", "debug", "info", "notice", "warning", "err", "alert", "crit",
    "emerg", "fail", "import", "break", "next", "return",
];

/// Deeper nesting than this is reported instead of risking the stack.
const MAX_DEPTH: u32 = 96;

// Binding powers; higher binds tighter. See `infix_binding_power` for the binary operators.
const BP_OR: u8 = 6;
const BP_PREFIX: u8 = 24;
const BP_SELECTOR: u8 = 26;
const BP_POSTFIX: u8 = 28;

enum Infix {
    Relationship(RelationshipOp),
    Assign(AssignOp),
    Binary(BinaryOp),
}

/// `(left, right, operator)`; left-associative operators have `right = left + 1`.
fn infix_binding_power(kind: TokenKind) -> Option<(u8, u8, Infix)> {
    use Infix::*;
    Some(match kind {
        OutEdge => (2, 3, Relationship(RelationshipOp::Before)),
        OutEdgeSub => (2, 3, Relationship(RelationshipOp::Notify)),
        InEdge => (2, 3, Relationship(RelationshipOp::Require)),
        InEdgeSub => (2, 3, Relationship(RelationshipOp::Subscribe)),
        // Right-associative: `$a = $b = 1`.
        TokenKind::Assign => (5, 4, Infix::Assign(AssignOp::Assign)),
        AddAssign => (5, 4, Infix::Assign(AssignOp::AddAssign)),
        SubAssign => (5, 4, Infix::Assign(AssignOp::SubAssign)),
        KwOr => (6, 7, Binary(BinaryOp::Or)),
        KwAnd => (8, 9, Binary(BinaryOp::And)),
        Less => (10, 11, Binary(BinaryOp::Less)),
        LessEq => (10, 11, Binary(BinaryOp::LessEq)),
        Greater => (10, 11, Binary(BinaryOp::Greater)),
        GreaterEq => (10, 11, Binary(BinaryOp::GreaterEq)),
        TokenKind::Eq => (12, 13, Binary(BinaryOp::Eq)),
        TokenKind::NotEq => (12, 13, Binary(BinaryOp::NotEq)),
        TokenKind::LShift => (14, 15, Binary(BinaryOp::LShift)),
        TokenKind::RShift => (14, 15, Binary(BinaryOp::RShift)),
        Plus => (16, 17, Binary(BinaryOp::Add)),
        Minus => (16, 17, Binary(BinaryOp::Sub)),
        Times => (18, 19, Binary(BinaryOp::Mul)),
        TokenKind::Div => (18, 19, Binary(BinaryOp::Div)),
        Modulo => (18, 19, Binary(BinaryOp::Mod)),
        TokenKind::Match => (20, 21, Binary(BinaryOp::Match)),
        TokenKind::NoMatch => (20, 21, Binary(BinaryOp::NoMatch)),
        KwIn => (22, 23, Binary(BinaryOp::In)),
        _ => return None,
    })
}

/// Tokens that can begin a statement (and so an expression).
fn can_start_statement(kind: TokenKind) -> bool {
    match kind {
        Name | TypeRef | Variable | Integer | Float | Regex | SqString | DqStart | HeredocStart | LBrace | LParen
        | WsLParen | LBrack | ListStart | Not | Minus | Times | At | AtAt | Error => true,
        KwAnd | KwOr | KwIn | KwElse | KwElsif | KwInherits => false,
        k => k.is_keyword(),
    }
}

/// Keywords after which a statement surely starts; recovery stops at them.
fn is_definition_keyword(kind: TokenKind) -> bool {
    matches!(kind, KwClass | KwDefine | KwNode | KwFunction | KwIf | KwUnless | KwCase)
}

/// A name-like token: a bare word or any keyword (attribute names, definition names).
fn is_word(kind: TokenKind) -> bool {
    kind == Name || kind.is_keyword()
}

pub(crate) fn parse(src: &str) -> (SourceFile, Vec<SyntaxError>) {
    let lexed = lexer::lex(src);
    let mut parser = Parser {
        src,
        tokens: lexed.tokens,
        strings: lexed.strings,
        heredocs: lexed.heredocs,
        pos: 0,
        prev_end: 0,
        errors: lexed.errors,
        depth: 0,
        no_brace: false,
    };
    let statements = parser.statements(false);
    let file = SourceFile { statements, span: Span::new(0, src.len() as u32) };
    let mut errors = parser.errors;
    // Lexer errors were collected first; present everything in source order.
    errors.sort_by_key(|e| (e.span.start, e.span.end));
    (file, errors)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    strings: Vec<String>,
    heredocs: Vec<HeredocInfo>,
    pos: usize,
    /// End of the last consumed token: where the node being built ends.
    prev_end: u32,
    errors: Vec<SyntaxError>,
    depth: u32,
    /// Set while parsing an `if`/`unless`/`case` condition, where a `{` starts the body, not a
    /// resource body. Reset inside any bracket.
    no_brace: bool,
}

impl Parser<'_> {
    // ---- token cursor -------------------------------------------------------------------

    fn kind(&self) -> TokenKind {
        self.tokens[self.pos].kind
    }

    fn nth(&self, n: usize) -> TokenKind {
        self.tokens.get(self.pos + n).map_or(Eof, |t| t.kind)
    }

    fn tok(&self) -> Token {
        self.tokens[self.pos]
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.kind() == kind
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos];
        if token.kind != Eof {
            self.pos += 1;
            self.prev_end = token.span.end;
        }
        token
    }

    fn eat(&mut self, kind: TokenKind) -> bool {
        if self.at(kind) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: TokenKind) -> bool {
        if self.eat(kind) {
            true
        } else {
            self.error_here();
            false
        }
    }

    fn text(&self, token: Token) -> &str {
        &self.src[token.span.range()]
    }

    fn start(&self) -> u32 {
        self.tok().span.start
    }

    fn span_from(&self, start: u32) -> Span {
        Span::new(start, self.prev_end.max(start))
    }

    fn name_of(&self, token: Token) -> ast::Name {
        ast::Name { text: self.text(token).to_string(), span: token.span }
    }

    fn take_string(&mut self, token: Token) -> String {
        std::mem::take(&mut self.strings[token.value as usize])
    }

    /// Is there a line break between the previous token and the current one?
    fn starts_line(&self) -> bool {
        if self.pos == 0 {
            return true;
        }
        let prev = self.tokens[self.pos - 1].span.end as usize;
        let here = self.tok().span.start as usize;
        prev > here || self.src.as_bytes()[prev..here].contains(&b'\n')
    }

    // ---- diagnostics and recovery -------------------------------------------------------

    fn error(&mut self, span: Span, message: String) {
        // One mistake often trips several rules at the same token; report it once.
        if self.errors.iter().rev().take(8).any(|e| e.span.start == span.start) {
            return;
        }
        self.errors.push(SyntaxError { span, message });
    }

    /// Puppet's generic message for the current token.
    fn error_here(&mut self) {
        let token = self.tok();
        let message = if token.kind == Eof {
            "Syntax error at end of input".to_string()
        } else {
            let text = self.text(token);
            let shown: String = text.chars().take(30).collect();
            let ellipsis = if shown.len() < text.len() { "..." } else { "" };
            format!("Syntax error at '{shown}{ellipsis}'")
        };
        self.error(token.span, message);
    }

    /// Skips to a token in `stop` at nesting depth 0, an unmatched `}`, or the end.
    /// Unmatched `)` and `]` not in `stop` are stray and skipped too.
    fn skip_until(&mut self, stop: &[TokenKind]) {
        let mut depth = 0u32;
        loop {
            let kind = self.kind();
            if kind == Eof || (depth == 0 && stop.contains(&kind)) {
                return;
            }
            match kind {
                LBrace | LParen | WsLParen | LBrack | ListStart => depth += 1,
                RBrace | RParen | RBrack => {
                    if depth == 0 && kind == RBrace {
                        return;
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips a bracketed group starting at the current opening bracket, closer included.
    fn skip_group(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.kind() {
                Eof => return,
                LBrace | LParen | WsLParen | LBrack | ListStart => depth += 1,
                RBrace | RParen | RBrack => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
            if depth == 0 {
                return;
            }
        }
    }

    /// After a bad statement: skip to `;`, the block's `}`, a definition keyword, or a token
    /// that can start a statement at the beginning of a line. Always consumes at least one token
    /// unless at `}` or the end.
    fn recover_statement(&mut self) {
        let start = self.pos;
        loop {
            let kind = self.kind();
            if matches!(kind, Eof | RBrace) {
                return;
            }
            if self.pos > start {
                if kind == Semi {
                    self.bump();
                    return;
                }
                if is_definition_keyword(kind) || (self.starts_line() && can_start_statement(kind)) {
                    return;
                }
            }
            if matches!(kind, LBrace | LParen | WsLParen | LBrack | ListStart) {
                self.skip_group();
            } else {
                self.bump();
            }
        }
    }

    fn with_no_brace<T>(&mut self, no_brace: bool, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.no_brace, no_brace);
        let result = f(self);
        self.no_brace = saved;
        result
    }

    // ---- statements ---------------------------------------------------------------------

    fn statements(&mut self, in_block: bool) -> Vec<Statement> {
        let mut statements = Vec::new();
        loop {
            match self.kind() {
                Semi => {
                    self.bump();
                    continue;
                }
                Eof => break,
                RBrace if in_block => break,
                RBrace => {
                    self.error_here();
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let before = self.pos;
            if !can_start_statement(self.kind()) {
                self.error_here();
                self.recover_statement();
            } else {
                let statement = self.statement();
                statements.push(statement);
            }
            if self.pos == before {
                self.bump();
            }
        }
        statements
    }

    fn statement(&mut self) -> Statement {
        match (self.kind(), self.nth(1), self.nth(2)) {
            (KwClass, next, _) if next != LBrace => self.class_def(),
            (KwDefine, ..) => self.define_def(),
            (KwNode, ..) => self.node_def(),
            (KwFunction, ..) => self.function_def(),
            (KwType, TypeRef, _) => self.type_alias(),
            (KwApplication, next, after) if is_word(next) && matches!(after, LParen | WsLParen | LBrace) => {
                self.application_def()
            }
            (KwSite, LBrace, _) => {
                let start = self.bump().span.start;
                let body = self.block();
                Statement { kind: StatementKind::Site(SiteDef { body }), span: self.span_from(start) }
            }
            (Name, next, after)
                if self.text(self.tok()) == "plan" && is_word(next) && matches!(after, LParen | WsLParen | LBrace) =>
            {
                self.plan_def()
            }
            (Name | TypeRef, KwProduces | KwConsumes, _) => self.capability_mapping(),
            // `Class[prod] produces Cap {}`: a class as the component.
            (TypeRef, LBrack, Name | TypeRef | SqString)
                if self.nth(3) == RBrack && matches!(self.nth(4), KwProduces | KwConsumes) =>
            {
                self.capability_mapping()
            }
            _ => {
                let expr = self.expr();
                let expr = self.statement_call(expr);
                Statement { span: expr.span, kind: StatementKind::Expr(expr) }
            }
        }
    }

    /// `include a, b`: a statement-call name followed by arguments without parentheses.
    fn statement_call(&mut self, expr: Expr) -> Expr {
        let ExprKind::Name(name) = &expr.kind else { return expr };
        if !STATEMENT_CALLS.contains(&name.as_str()) {
            return expr;
        }
        let starts_argument = match self.kind() {
            LBrace | Error => false,
            kind if is_definition_keyword(kind) || matches!(kind, KwDefine | KwType) => false,
            kind => can_start_statement(kind),
        };
        if !starts_argument {
            return expr;
        }
        let start = expr.span.start;
        let mut args = vec![self.expr()];
        while self.eat(Comma) {
            args.push(self.expr());
        }
        Expr { kind: ExprKind::Call(Call { callee: Box::new(expr), args, lambda: None }), span: self.span_from(start) }
    }

    fn block(&mut self) -> Block {
        let start = self.start();
        if !self.at(LBrace) {
            self.error_here();
            return Block { statements: Vec::new(), span: Span::new(start, start) };
        }
        self.bump();
        if self.depth >= MAX_DEPTH {
            self.error(self.tok().span, "Blocks nested too deeply".into());
            self.skip_until(&[]);
            self.eat(RBrace);
            return Block { statements: Vec::new(), span: self.span_from(start) };
        }
        self.depth += 1;
        let statements = self.with_no_brace(false, |p| p.statements(true));
        self.depth -= 1;
        self.expect(RBrace);
        Block { statements, span: self.span_from(start) }
    }

    /// The name after `class`, `define`, `function`, ...; any word is accepted here.
    fn def_name(&mut self) -> ast::Name {
        if is_word(self.kind()) {
            let token = self.bump();
            self.name_of(token)
        } else {
            self.error_here();
            let at = self.start();
            ast::Name { text: String::new(), span: Span::new(at, at) }
        }
    }

    fn opt_params(&mut self) -> Vec<Param> {
        if matches!(self.kind(), LParen | WsLParen) { self.params(RParen) } else { Vec::new() }
    }

    fn class_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let name = self.def_name();
        let params = self.opt_params();
        let parent = if self.eat(KwInherits) { Some(self.def_name()) } else { None };
        let body = self.block();
        let kind = StatementKind::Class(ClassDef { name, params, parent, body });
        Statement { kind, span: self.span_from(start) }
    }

    fn define_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let name = self.def_name();
        let params = self.opt_params();
        let body = self.block();
        Statement { kind: StatementKind::Define(DefineDef { name, params, body }), span: self.span_from(start) }
    }

    fn application_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let name = self.def_name();
        let params = self.opt_params();
        let body = self.block();
        let kind = StatementKind::Application(ApplicationDef { name, params, body });
        Statement { kind, span: self.span_from(start) }
    }

    fn plan_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let name = self.def_name();
        let params = self.opt_params();
        let body = self.block();
        Statement { kind: StatementKind::Plan(PlanDef { name, params, body }), span: self.span_from(start) }
    }

    fn function_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let name = self.def_name();
        let params = self.opt_params();
        let return_type =
            if self.eat(TokenKind::RShift) { Some(self.with_no_brace(true, |p| p.expr_bp(BP_POSTFIX))) } else { None };
        let body = self.block();
        let kind = StatementKind::Function(FunctionDef { name, params, return_type, body });
        Statement { kind, span: self.span_from(start) }
    }

    fn type_alias(&mut self) -> Statement {
        let start = self.bump().span.start;
        let token = self.bump();
        let name = self.name_of(token);
        let value = if self.expect(TokenKind::Assign) { self.expr() } else { self.error_expr() };
        Statement { kind: StatementKind::TypeAlias(TypeAlias { name, value }), span: self.span_from(start) }
    }

    fn node_def(&mut self) -> Statement {
        let start = self.bump().span.start;
        let mut matches = Vec::new();
        loop {
            let before = self.pos;
            if let Some(node_match) = self.node_match() {
                matches.push(node_match);
            }
            if self.pos == before && !matches!(self.kind(), LBrace | Eof | RBrace) {
                self.bump();
            }
            if !self.eat(Comma) || self.at(LBrace) {
                break;
            }
        }
        let body = self.block();
        Statement { kind: StatementKind::Node(NodeDef { matches, body }), span: self.span_from(start) }
    }

    fn node_match(&mut self) -> Option<NodeMatch> {
        let token = self.tok();
        let kind = match token.kind {
            SqString => {
                self.bump();
                NodeMatchKind::Name(self.take_string(token))
            }
            DqStart => {
                let expr = self.primary();
                let text = match expr.kind {
                    ExprKind::String(text) => text,
                    _ => {
                        self.error(expr.span, "A node name cannot be interpolated".into());
                        String::new()
                    }
                };
                return Some(NodeMatch { kind: NodeMatchKind::Name(text), span: expr.span });
            }
            Regex => {
                self.bump();
                NodeMatchKind::Regex(regex_pattern(self.text(token)))
            }
            KwDefault => {
                self.bump();
                NodeMatchKind::Default
            }
            kind if is_word(kind) || matches!(kind, Integer | Float) => {
                // A bare, possibly dotted host name: `web01.example.com`.
                self.bump();
                while self.at(Dot) && (is_word(self.nth(1)) || matches!(self.nth(1), Integer | Float)) {
                    self.bump();
                    self.bump();
                }
                let span = self.span_from(token.span.start);
                return Some(NodeMatch { kind: NodeMatchKind::Name(self.src[span.range()].to_string()), span });
            }
            _ => {
                self.error_here();
                return None;
            }
        };
        Some(NodeMatch { kind, span: token.span })
    }

    fn capability_mapping(&mut self) -> Statement {
        let token = self.bump();
        let mut component = self.name_of(token);
        if self.at(LBrack) {
            // `Class[prod]`: the component is the whole reference, as written.
            self.bump();
            self.bump();
            let close = self.bump();
            let span = Span::new(token.span.start, close.span.end);
            component = ast::Name { text: self.src[span.range()].to_string(), span };
        }
        let kind = if self.bump().kind == KwProduces { MappingKind::Produces } else { MappingKind::Consumes };
        let capability = if matches!(self.kind(), TypeRef | Name) {
            let token = self.bump();
            self.name_of(token)
        } else {
            self.error_here();
            let at = self.start();
            ast::Name { text: String::new(), span: Span::new(at, at) }
        };
        let mut attributes = Vec::new();
        if self.eat(LBrace) {
            attributes = self.with_no_brace(false, |p| p.attributes(false));
            self.expect(RBrace);
        }
        let kind = StatementKind::CapabilityMapping(CapabilityMapping { component, kind, capability, attributes });
        Statement { kind, span: self.span_from(token.span.start) }
    }

    /// `(params)` or `|params|`; the current token is the opener.
    fn params(&mut self, closer: TokenKind) -> Vec<Param> {
        self.bump();
        let mut params = Vec::new();
        self.with_no_brace(false, |p| {
            loop {
                if p.at(closer) || p.at(Eof) {
                    break;
                }
                let before = p.pos;
                if let Some(param) = p.param(closer) {
                    params.push(param);
                }
                if p.eat(Comma) {
                    continue;
                }
                if p.at(closer) {
                    break;
                }
                p.error_here();
                p.skip_until(&[Comma, closer]);
                if p.pos == before {
                    p.bump();
                }
                if !p.eat(Comma) {
                    break;
                }
            }
        });
        self.expect(closer);
        params
    }

    fn param(&mut self, closer: TokenKind) -> Option<Param> {
        let start = self.start();
        let type_expr = if self.at(Variable) || (self.at(Times) && self.nth(1) == Variable) {
            None
        } else {
            Some(self.expr_bp(BP_POSTFIX))
        };
        let captures_rest = self.eat(Times);
        if !self.at(Variable) {
            self.error_here();
            self.skip_until(&[Comma, closer]);
            return None;
        }
        let token = self.bump();
        let name = ast::Name { text: self.text(token)[1..].to_string(), span: token.span };
        let default = if self.eat(TokenKind::Assign) { Some(self.expr_bp(BP_OR)) } else { None };
        Some(Param { name, type_expr, default, captures_rest, span: self.span_from(start) })
    }

    // ---- expressions --------------------------------------------------------------------

    pub(crate) fn expr(&mut self) -> Expr {
        self.expr_bp(0)
    }

    fn error_expr(&self) -> Expr {
        let at = self.start();
        Expr { kind: ExprKind::Error, span: Span::new(at, at) }
    }

    fn expr_bp(&mut self, min_bp: u8) -> Expr {
        if self.depth >= MAX_DEPTH {
            self.error(self.tok().span, "Expression nested too deeply".into());
            // Skip the whole nested group so the enclosing brackets still pair up.
            let start = self.start();
            if matches!(self.kind(), LBrace | LParen | WsLParen | LBrack | ListStart) {
                self.skip_group();
            }
            return Expr { kind: ExprKind::Error, span: self.span_from(start) };
        }
        self.depth += 1;
        let mut lhs = self.prefix();
        loop {
            let kind = self.kind();
            match kind {
                LBrack => {
                    lhs = self.access(lhs);
                    continue;
                }
                Dot => {
                    lhs = self.method_call(lhs);
                    continue;
                }
                LParen if matches!(lhs.kind, ExprKind::Name(_) | ExprKind::TypeRef(_)) => {
                    lhs = self.call(lhs);
                    continue;
                }
                Question if min_bp <= BP_SELECTOR => {
                    lhs = self.selector(lhs);
                    continue;
                }
                LCollect | LLCollect if matches!(lhs.kind, ExprKind::TypeRef(_)) => {
                    lhs = self.collector(lhs);
                    continue;
                }
                LBrace if !self.no_brace && is_resource_target(&lhs) => {
                    lhs = self.resource_body(lhs, ResourceForm::Regular);
                    continue;
                }
                _ => {}
            }
            let Some((left_bp, right_bp, op)) = infix_binding_power(kind) else { break };
            if left_bp < min_bp {
                break;
            }
            self.bump();
            let rhs = self.expr_bp(right_bp);
            let span = lhs.span.cover(rhs.span);
            let (lhs_box, rhs_box) = (Box::new(lhs), Box::new(rhs));
            let kind = match op {
                Infix::Relationship(op) => ExprKind::Relationship { op, lhs: lhs_box, rhs: rhs_box },
                Infix::Assign(op) => ExprKind::Assign { op, target: lhs_box, value: rhs_box },
                Infix::Binary(op) => ExprKind::Binary { op, lhs: lhs_box, rhs: rhs_box },
            };
            lhs = Expr { kind, span };
        }
        self.depth -= 1;
        lhs
    }

    fn prefix(&mut self) -> Expr {
        let op = match self.kind() {
            Not => UnaryOp::Not,
            Minus => UnaryOp::Neg,
            Times => UnaryOp::Splat,
            _ => return self.primary(),
        };
        let start = self.bump().span.start;
        let operand = self.expr_bp(BP_PREFIX);
        Expr { kind: ExprKind::Unary { op, operand: Box::new(operand) }, span: self.span_from(start) }
    }

    fn primary(&mut self) -> Expr {
        let token = self.tok();
        let start = token.span.start;
        let simple = |kind: ExprKind| Expr { kind, span: token.span };
        match token.kind {
            Variable => {
                self.bump();
                simple(ExprKind::Variable(self.text(token)[1..].to_string()))
            }
            Integer => {
                self.bump();
                let value = self.integer(token);
                simple(ExprKind::Integer(value))
            }
            Float => {
                self.bump();
                let value = self.text(token).parse::<f64>().unwrap_or(0.0);
                simple(ExprKind::Float(value))
            }
            SqString => {
                self.bump();
                simple(ExprKind::String(self.take_string(token)))
            }
            DqStart => self.dq_string(),
            HeredocStart => self.heredoc(),
            Regex => {
                self.bump();
                simple(ExprKind::Regex(regex_pattern(self.text(token))))
            }
            KwTrue | KwFalse => {
                self.bump();
                simple(ExprKind::Boolean(token.kind == KwTrue))
            }
            KwUndef => {
                self.bump();
                simple(ExprKind::Undef)
            }
            KwDefault => {
                self.bump();
                simple(ExprKind::Default)
            }
            Name => {
                self.bump();
                simple(ExprKind::Name(self.text(token).to_string()))
            }
            TypeRef => {
                self.bump();
                simple(ExprKind::TypeRef(self.text(token).to_string()))
            }
            // `class { 'apache': }`: the resource-style class declaration.
            KwClass if self.nth(1) == LBrace => {
                self.bump();
                simple(ExprKind::Name("class".into()))
            }
            LBrack | ListStart => {
                self.bump();
                let items = self.with_no_brace(false, |p| p.expr_list(RBrack));
                Expr { kind: ExprKind::Array(items), span: self.span_from(start) }
            }
            LBrace => self.hash(),
            LParen | WsLParen => {
                self.bump();
                let inner = self.with_no_brace(false, |p| p.expr());
                self.expect(RParen);
                Expr { kind: ExprKind::Paren(Box::new(inner)), span: self.span_from(start) }
            }
            KwIf => self.if_expr(),
            KwUnless => self.unless_expr(),
            KwCase => self.case_expr(),
            At | AtAt => self.virtual_resource(),
            // Words Puppet 7 no longer reserves, and keywords used as hash keys (`type => x`) or
            // called as functions (`type($x)`), are plain names.
            kind if kind.is_soft_keyword()
                || (kind.is_keyword() && matches!(self.nth(1), FatArrow | InterpEnd))
                || (kind == KwType && self.nth(1) == LParen) =>
            {
                self.bump();
                simple(ExprKind::Name(self.text(token).to_string()))
            }
            _ => {
                self.error_here();
                let closer = matches!(
                    token.kind,
                    RBrace
                        | RParen
                        | RBrack
                        | Comma
                        | Semi
                        | Colon
                        | FatArrow
                        | PlusArrow
                        | Pipe
                        | InterpEnd
                        | DqEnd
                        | HeredocEnd
                        | RCollect
                        | RRCollect
                        | Eof
                );
                if closer {
                    self.error_expr()
                } else {
                    self.bump();
                    simple(ExprKind::Error)
                }
            }
        }
    }

    fn integer(&mut self, token: Token) -> i64 {
        let text = self.text(token);
        let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            i64::from_str_radix(hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            i64::from_str_radix(&text[1..], 8)
        } else {
            text.parse::<i64>()
        };
        match parsed {
            Ok(value) => value,
            Err(_) => {
                let message = format!("Not a valid decimal number '{text}'");
                self.error(token.span, message);
                0
            }
        }
    }

    /// Comma-separated expressions up to `closer` (consumed), with an optional trailing comma.
    ///
    /// As in Puppet, `key => value` entries may appear without braces (`run_task('x', $t,
    /// version => 1)`); consecutive ones become one hash argument.
    fn expr_list(&mut self, closer: TokenKind) -> Vec<Expr> {
        let mut items: Vec<Expr> = Vec::new();
        let mut open_hash: Option<usize> = None;
        loop {
            if self.at(closer) || self.at(Eof) {
                break;
            }
            let before = self.pos;
            let item = self.expr();
            if self.eat(FatArrow) {
                let value = self.expr();
                let span = item.span.cover(value.span);
                let entry = HashEntry { key: item, value, span };
                match open_hash.and_then(|index| items.get_mut(index)) {
                    Some(Expr { kind: ExprKind::Hash(entries), span: hash_span }) => {
                        *hash_span = hash_span.cover(span);
                        entries.push(entry);
                    }
                    _ => {
                        open_hash = Some(items.len());
                        items.push(Expr { kind: ExprKind::Hash(vec![entry]), span });
                    }
                }
            } else {
                open_hash = None;
                items.push(item);
            }
            if self.eat(Comma) {
                continue;
            }
            if self.at(closer) {
                break;
            }
            self.error_here();
            // A statement starting on a new line most likely means the closer is missing:
            // leave the list and let the enclosing block carry on from there.
            if self.starts_line() && can_start_statement(self.kind()) {
                return items;
            }
            self.skip_until(&[Comma, closer]);
            if self.pos == before {
                self.bump();
            }
            if !self.eat(Comma) {
                break;
            }
        }
        self.expect(closer);
        items
    }

    fn hash(&mut self) -> Expr {
        let start = self.bump().span.start;
        let entries =
            self.arrow_entries().into_iter().map(|(key, value, span)| HashEntry { key, value, span }).collect();
        self.expect(RBrace);
        Expr { kind: ExprKind::Hash(entries), span: self.span_from(start) }
    }

    /// `key => value` entries up to (not including) the closing `}`, as hashes and selectors
    /// write them; a broken entry is reported and skipped up to the next comma.
    fn arrow_entries(&mut self) -> Vec<(Expr, Expr, Span)> {
        let mut entries = Vec::new();
        self.with_no_brace(false, |p| {
            loop {
                if p.at(RBrace) || p.at(Eof) {
                    break;
                }
                let before = p.pos;
                let key = p.expr();
                if p.expect(FatArrow) {
                    let value = p.expr();
                    let span = key.span.cover(value.span);
                    entries.push((key, value, span));
                    if p.eat(Comma) {
                        continue;
                    }
                    if p.at(RBrace) {
                        break;
                    }
                    p.error_here();
                }
                p.skip_until(&[Comma]);
                if p.pos == before {
                    p.bump();
                }
                if !p.eat(Comma) {
                    break;
                }
            }
        });
        entries
    }

    fn dq_string(&mut self) -> Expr {
        let start = self.bump().span.start;
        let parts = self.string_parts(DqEnd);
        Expr { kind: string_kind(parts), span: self.span_from(start) }
    }

    /// Text and interpolations up to `end` (consumed).
    fn string_parts(&mut self, end: TokenKind) -> Vec<StringPart> {
        let mut parts = Vec::new();
        loop {
            let token = self.tok();
            match token.kind {
                StrText => {
                    self.bump();
                    parts.push(StringPart::Text(self.take_string(token)));
                }
                InterpVar => {
                    self.bump();
                    let name = self.text(token)[1..].to_string();
                    parts.push(StringPart::Expr(Expr { kind: ExprKind::Variable(name), span: token.span }));
                }
                InterpStart => {
                    self.bump();
                    // `${type['x']}` names the variable `$type`, keyword or not.
                    if self.kind().is_keyword() && matches!(self.nth(1), LBrack | Dot | InterpEnd) {
                        self.tokens[self.pos].kind = Name;
                    }
                    let expr = self.with_no_brace(false, |p| p.expr());
                    if !self.at(InterpEnd) {
                        self.error_here();
                        self.skip_until(&[InterpEnd]);
                    }
                    self.eat(InterpEnd);
                    parts.push(StringPart::Expr(interpolated_variable(expr)));
                }
                kind if kind == end => {
                    self.bump();
                    break;
                }
                // The lexer always closes what it opens; this is only a safety net.
                _ => break,
            }
        }
        parts
    }

    fn heredoc(&mut self) -> Expr {
        let header = self.bump();
        let info = self.heredocs[header.value as usize].clone();
        let parts = self.string_parts(HeredocEnd);
        // The body lies on the following lines; the expression itself ends at the header.
        self.prev_end = header.span.end;
        let text = Expr { kind: string_kind(parts), span: info.body_span };
        Expr { kind: ExprKind::Heredoc(Heredoc { syntax: info.syntax, text: Box::new(text) }), span: header.span }
    }

    fn access(&mut self, target: Expr) -> Expr {
        let start = target.span.start;
        self.bump();
        let keys = self.with_no_brace(false, |p| p.expr_list(RBrack));
        Expr { kind: ExprKind::Access { target: Box::new(target), keys }, span: self.span_from(start) }
    }

    fn call(&mut self, callee: Expr) -> Expr {
        let start = callee.span.start;
        self.bump();
        let args = self.with_no_brace(false, |p| p.expr_list(RParen));
        let lambda = self.opt_lambda();
        let call = Call { callee: Box::new(callee), args, lambda };
        Expr { kind: ExprKind::Call(call), span: self.span_from(start) }
    }

    fn method_call(&mut self, receiver: Expr) -> Expr {
        let start = receiver.span.start;
        self.bump();
        if !(is_word(self.kind()) || self.at(TypeRef)) {
            self.error_here();
            return Expr { kind: ExprKind::Error, span: self.span_from(start) };
        }
        let token = self.bump();
        let method = self.name_of(token);
        let args = if self.at(LParen) {
            self.bump();
            self.with_no_brace(false, |p| p.expr_list(RParen))
        } else {
            Vec::new()
        };
        let lambda = self.opt_lambda();
        let call = MethodCall { receiver: Box::new(receiver), method, args, lambda };
        Expr { kind: ExprKind::MethodCall(call), span: self.span_from(start) }
    }

    fn opt_lambda(&mut self) -> Option<Lambda> {
        if !self.at(Pipe) {
            return None;
        }
        let start = self.start();
        let params = self.params(Pipe);
        let body = self.block();
        Some(Lambda { params, body, span: self.span_from(start) })
    }

    fn selector(&mut self, subject: Expr) -> Expr {
        let start = subject.span.start;
        self.bump();
        let mut entries = Vec::new();
        if self.expect(LBrace) {
            entries =
                self.arrow_entries().into_iter().map(|(key, value, span)| SelectorEntry { key, value, span }).collect();
            self.expect(RBrace);
        }
        let kind = ExprKind::Selector { subject: Box::new(subject), entries };
        Expr { kind, span: self.span_from(start) }
    }

    fn collector(&mut self, type_ref: Expr) -> Expr {
        let start = type_ref.span.start;
        let exported = self.bump().kind == LLCollect;
        let closer = if exported { RRCollect } else { RCollect };
        let query = if self.at(closer) { None } else { Some(Box::new(self.with_no_brace(false, |p| p.expr()))) };
        if !self.at(closer) {
            self.error_here();
            self.skip_until(&[closer]);
        }
        self.eat(closer);
        let overrides = if self.at(LBrace) && !self.no_brace {
            self.bump();
            let attributes = self.with_no_brace(false, |p| p.attributes(false));
            self.expect(RBrace);
            Some(attributes)
        } else {
            None
        };
        let collector = Collector { type_ref: Box::new(type_ref), exported, query, overrides };
        Expr { kind: ExprKind::Collector(collector), span: self.span_from(start) }
    }

    fn condition(&mut self) -> Expr {
        self.with_no_brace(true, |p| p.expr())
    }

    fn if_expr(&mut self) -> Expr {
        let start = self.bump().span.start;
        let mut branches = Vec::new();
        let condition = self.condition();
        let body = self.block();
        branches.push(CondBranch { condition, body, span: self.span_from(start) });
        while self.at(KwElsif) {
            let branch_start = self.bump().span.start;
            let condition = self.condition();
            let body = self.block();
            branches.push(CondBranch { condition, body, span: self.span_from(branch_start) });
        }
        let else_body = if self.eat(KwElse) { Some(self.block()) } else { None };
        Expr { kind: ExprKind::If(IfExpr { branches, else_body }), span: self.span_from(start) }
    }

    fn unless_expr(&mut self) -> Expr {
        let start = self.bump().span.start;
        let condition = Box::new(self.condition());
        let body = self.block();
        if self.at(KwElsif) {
            self.error_here();
        }
        let else_body = if self.eat(KwElse) { Some(self.block()) } else { None };
        Expr { kind: ExprKind::Unless(UnlessExpr { condition, body, else_body }), span: self.span_from(start) }
    }

    fn case_expr(&mut self) -> Expr {
        let start = self.bump().span.start;
        let subject = Box::new(self.condition());
        let mut options = Vec::new();
        if self.expect(LBrace) {
            loop {
                if self.at(RBrace) || self.at(Eof) {
                    break;
                }
                let before = self.pos;
                let option_start = self.start();
                let mut values = vec![self.condition()];
                while self.eat(Comma) {
                    if self.at(Colon) {
                        break;
                    }
                    values.push(self.condition());
                }
                if !self.expect(Colon) {
                    self.skip_until(&[LBrace]);
                }
                if self.at(LBrace) {
                    let body = self.block();
                    options.push(CaseOption { values, body, span: self.span_from(option_start) });
                } else if self.pos == before {
                    self.bump();
                }
            }
            self.expect(RBrace);
        }
        Expr { kind: ExprKind::Case(CaseExpr { subject, options }), span: self.span_from(start) }
    }

    fn virtual_resource(&mut self) -> Expr {
        let at = self.bump();
        let form = if at.kind == AtAt { ResourceForm::Exported } else { ResourceForm::Virtual };
        let token = self.tok();
        let type_name = match token.kind {
            Name | TypeRef => {
                self.bump();
                let kind = if token.kind == Name {
                    ExprKind::Name(self.text(token).to_string())
                } else {
                    ExprKind::TypeRef(self.text(token).to_string())
                };
                Expr { kind, span: token.span }
            }
            KwClass => {
                self.bump();
                Expr { kind: ExprKind::Name("class".into()), span: token.span }
            }
            _ => {
                self.error_here();
                return Expr { kind: ExprKind::Error, span: self.span_from(at.span.start) };
            }
        };
        if !self.at(LBrace) {
            self.error_here();
            return Expr { kind: ExprKind::Error, span: self.span_from(at.span.start) };
        }
        let mut expr = self.resource_body(type_name, form);
        expr.span.start = at.span.start;
        expr
    }

    /// The `{ ... }` after a resource type, type reference or reference: a resource
    /// declaration (`title: attributes; ...`), resource defaults or a resource override,
    /// told apart by the left-hand side and by whether the body starts with `name =>`.
    fn resource_body(&mut self, lhs: Expr, form: ResourceForm) -> Expr {
        let start = lhs.span.start;
        let brace = self.bump();
        let attribute_form = match (self.kind(), self.nth(1)) {
            (RBrace, _) => !matches!(lhs.kind, ExprKind::Name(_)),
            (kind, FatArrow | PlusArrow) => is_word(kind) || kind == Times,
            _ => false,
        };
        if attribute_form {
            let attributes = self.with_no_brace(false, |p| p.attributes(false));
            self.expect(RBrace);
            let span = self.span_from(start);
            let kind = match (&lhs.kind, form) {
                (ExprKind::TypeRef(_), ResourceForm::Regular) => {
                    ExprKind::ResourceDefaults { type_ref: Box::new(lhs), attributes }
                }
                (ExprKind::Access { .. }, ResourceForm::Regular) => {
                    ExprKind::ResourceOverride { target: Box::new(lhs), attributes }
                }
                _ => {
                    self.error(brace.span, "Resource declaration without a title".into());
                    ExprKind::Error
                }
            };
            return Expr { kind, span };
        }
        let mut bodies = Vec::new();
        self.with_no_brace(false, |p| {
            loop {
                if p.at(RBrace) || p.at(Eof) {
                    break;
                }
                let before = p.pos;
                let title = p.expr();
                let body_start = title.span.start;
                if !p.expect(Colon) {
                    p.skip_until(&[Semi]);
                    if p.pos == before {
                        p.bump();
                    }
                    if p.eat(Semi) {
                        continue;
                    }
                    break;
                }
                let attributes = p.attributes(true);
                bodies.push(ResourceBody { title, attributes, span: p.span_from(body_start) });
                if !p.eat(Semi) {
                    break;
                }
            }
        });
        self.expect(RBrace);
        let span = self.span_from(start);
        if let ExprKind::Access { target, .. } = &lhs.kind
            && !matches!(target.kind, ExprKind::TypeRef(_))
        {
            self.error(brace.span, "Syntax error at '{'".into());
        }
        let resource = ResourceExpr { form, type_name: Box::new(lhs), bodies };
        Expr { kind: ExprKind::Resource(resource), span }
    }

    /// `name => value, name +> value, * => hash` up to `}` (not consumed) or, in a resource
    /// body, `;`.
    fn attributes(&mut self, stop_at_semi: bool) -> Vec<Attribute> {
        let stops: &[TokenKind] = if stop_at_semi { &[Comma, Semi] } else { &[Comma] };
        let mut attributes = Vec::new();
        loop {
            let kind = self.kind();
            if kind == RBrace || kind == Eof || (stop_at_semi && kind == Semi) {
                break;
            }
            let before = self.pos;
            if let Some(attribute) = self.attribute() {
                attributes.push(attribute);
                if self.eat(Comma) {
                    continue;
                }
                let kind = self.kind();
                if kind == RBrace || kind == Eof || (stop_at_semi && kind == Semi) {
                    break;
                }
                self.error_here();
                // A missing comma: the next attribute follows directly; keep it.
                if (is_word(kind) || kind == Times) && matches!(self.nth(1), FatArrow | PlusArrow) {
                    continue;
                }
            }
            self.skip_until(stops);
            if self.pos == before {
                self.bump();
            }
            if !self.eat(Comma) {
                if self.at(Semi) && !stop_at_semi {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        attributes
    }

    fn attribute(&mut self) -> Option<Attribute> {
        let token = self.tok();
        let name = if token.kind == Times {
            self.bump();
            ast::Name { text: "*".into(), span: token.span }
        } else if is_word(token.kind) {
            self.bump();
            self.name_of(token)
        } else {
            self.error_here();
            return None;
        };
        let op = match self.kind() {
            FatArrow => AttributeOp::Set,
            PlusArrow => AttributeOp::Append,
            _ => {
                self.error_here();
                return None;
            }
        };
        self.bump();
        let value = self.expr();
        let span = token.span.cover(value.span);
        Some(Attribute { name, op, value, span })
    }
}

/// What may be followed by a resource body `{`: `file`, `class`, `File`, `File['x']`,
/// `Resource[$type]`.
fn is_resource_target(lhs: &Expr) -> bool {
    match &lhs.kind {
        ExprKind::Name(_) | ExprKind::TypeRef(_) => true,
        ExprKind::Access { target, .. } => matches!(target.kind, ExprKind::TypeRef(_)),
        _ => false,
    }
}

fn string_kind(parts: Vec<StringPart>) -> ExprKind {
    if parts.iter().all(|part| matches!(part, StringPart::Text(_))) {
        let mut text = String::new();
        for part in parts {
            if let StringPart::Text(t) = part {
                text.push_str(&t);
            }
        }
        ExprKind::String(text)
    } else {
        ExprKind::Interpolated(parts)
    }
}

/// Inside `${...}` a leading bare name means a variable: `${x}`, `${x['k']}`, `${x.m}`, `${1}`.
fn interpolated_variable(expr: Expr) -> Expr {
    let Expr { kind, span } = expr;
    let kind = match kind {
        ExprKind::Name(name) => ExprKind::Variable(name),
        ExprKind::Integer(n) => ExprKind::Variable(n.to_string()),
        ExprKind::Access { target, keys } => {
            ExprKind::Access { target: Box::new(interpolated_variable(*target)), keys }
        }
        ExprKind::MethodCall(mut call) => {
            call.receiver = Box::new(interpolated_variable(*call.receiver));
            ExprKind::MethodCall(call)
        }
        other => other,
    };
    Expr { kind, span }
}

/// The pattern of a `/.../` token: without the slashes, `\/` unescaped.
fn regex_pattern(token_text: &str) -> String {
    let inner = &token_text[1..token_text.len() - 1];
    inner.replace("\\/", "/")
}
