//! Hand-written lexer: source text to a flat token stream.
//!
//! It owns everything about characters: whitespace and comments (skipped), words and keywords,
//! numbers, operators, and the inside of strings. A string is not one token: a double-quoted
//! string becomes `DqStart`, then `StrText` / `InterpVar` / `InterpStart tokens... InterpEnd`
//! parts, then `DqEnd`, so the parser reads interpolated expressions like any other. Heredocs
//! work the same way (`HeredocStart` ... `HeredocEnd`); their body tokens are emitted right after
//! the `@(...)` token even though the body sits on the following lines, and the lexer later skips
//! over the body when it reaches the end of the header's line.
//!
//! Cooked text (escapes processed, heredoc margins removed) goes to `Lexed::strings`; a string
//! token's `value` indexes it.
//!
//! The lexer never fails. Characters it does not know become `Error` tokens, and problems it can
//! describe better than the parser (an unclosed quote, a bad heredoc) are reported as errors here.
//!
//! Two Puppet subtleties are decided here because they depend on whitespace:
//! a `[` preceded by whitespace is `ListStart` (an array, never an index), and a `(` that is the
//! first thing on its line is `WsLParen` (a parenthesised expression, never a call).
//! Whether `/` starts a regex depends on the previous token, as in Puppet's lexer.

use super::SyntaxError;
use super::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare word or qualified name: `foo`, `foo::bar`, `::foo`, `foo-bar`.
    Name,
    /// `Foo::Bar`
    TypeRef,
    /// `$foo` (the span includes the `$`).
    Variable,
    Integer,
    Float,
    /// `/re/` (the span includes the slashes).
    Regex,
    /// A whole single-quoted string; `value` indexes the cooked text.
    SqString,
    DqStart,
    DqEnd,
    /// `@(...)`; `value` indexes `Lexed::heredocs`.
    HeredocStart,
    /// The end-tag line.
    HeredocEnd,
    /// Literal text inside a string; `value` indexes the cooked text.
    StrText,
    /// `${`
    InterpStart,
    /// The `}` closing `${`.
    InterpEnd,
    /// `$name` inside a string.
    InterpVar,

    KwAnd,
    KwApplication,
    KwAttr,
    KwCase,
    KwClass,
    KwConsumes,
    KwDefault,
    KwDefine,
    KwElse,
    KwElsif,
    KwFalse,
    KwFunction,
    KwIf,
    KwImport,
    KwIn,
    KwInherits,
    KwNode,
    KwOr,
    KwPrivate,
    KwProduces,
    KwSite,
    KwTrue,
    KwType,
    KwUndef,
    KwUnit,
    KwUnless,

    LBrace,
    RBrace,
    /// `(` directly usable as a call's argument list.
    LParen,
    /// `(` first on its line: never a call.
    WsLParen,
    RParen,
    /// `[` glued to the previous token: an index or type parameter list.
    LBrack,
    /// `[` after whitespace: always an array.
    ListStart,
    RBrack,
    Comma,
    Semi,
    Colon,
    Dot,
    Question,
    Pipe,
    Assign,
    AddAssign,
    SubAssign,
    FatArrow,
    PlusArrow,
    Eq,
    NotEq,
    Match,
    NoMatch,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    LShift,
    RShift,
    Plus,
    Minus,
    Times,
    Div,
    Modulo,
    Not,
    /// `->`
    OutEdge,
    /// `~>`
    OutEdgeSub,
    /// `<-`
    InEdge,
    /// `<~`
    InEdgeSub,
    /// `<|`
    LCollect,
    /// `|>`
    RCollect,
    /// `<<|`
    LLCollect,
    /// `|>>`
    RRCollect,
    At,
    AtAt,

    Error,
    Eof,
}

impl TokenKind {
    pub(crate) fn is_keyword(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            KwAnd
                | KwApplication
                | KwAttr
                | KwCase
                | KwClass
                | KwConsumes
                | KwDefault
                | KwDefine
                | KwElse
                | KwElsif
                | KwFalse
                | KwFunction
                | KwIf
                | KwImport
                | KwIn
                | KwInherits
                | KwNode
                | KwOr
                | KwPrivate
                | KwProduces
                | KwSite
                | KwTrue
                | KwType
                | KwUndef
                | KwUnit
                | KwUnless
        )
    }

    /// Keywords that Puppet 7 no longer reserves (application orchestration and reserved-for-future
    /// words): they are keywords only where their construct can start, and bare words elsewhere.
    pub(crate) fn is_soft_keyword(self) -> bool {
        use TokenKind::*;
        matches!(self, KwApplication | KwAttr | KwConsumes | KwImport | KwPrivate | KwProduces | KwSite | KwUnit)
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
    /// Index into `Lexed::strings` or `Lexed::heredocs` for the kinds that say so; else 0.
    pub value: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct HeredocInfo {
    pub syntax: Option<String>,
    /// The body lines, without the end-tag line.
    pub body_span: Span,
}

#[derive(Debug, Default)]
pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    pub strings: Vec<String>,
    pub heredocs: Vec<HeredocInfo>,
    pub errors: Vec<SyntaxError>,
}

pub(crate) fn lex(src: &str) -> Lexed {
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        out: Lexed { tokens: Vec::with_capacity(src.len() / 4), ..Lexed::default() },
        heredoc_resume: None,
        interp_depth: 0,
    };
    // A byte order mark is not part of the program.
    if src.starts_with('\u{feff}') {
        lexer.pos = 3;
    }
    loop {
        lexer.skip_trivia();
        if lexer.pos >= lexer.bytes.len() {
            break;
        }
        lexer.token();
    }
    let end = src.len() as u32;
    lexer.push(TokenKind::Eof, end, end, 0);
    lexer.out
}

/// Names that are keywords when they stand alone (not qualified, not hyphenated).
fn keyword(word: &str) -> Option<TokenKind> {
    use TokenKind::*;
    Some(match word {
        "and" => KwAnd,
        "application" => KwApplication,
        "attr" => KwAttr,
        "case" => KwCase,
        "class" => KwClass,
        "consumes" => KwConsumes,
        "default" => KwDefault,
        "define" => KwDefine,
        "else" => KwElse,
        "elsif" => KwElsif,
        "false" => KwFalse,
        "function" => KwFunction,
        "if" => KwIf,
        "import" => KwImport,
        "in" => KwIn,
        "inherits" => KwInherits,
        "node" => KwNode,
        "or" => KwOr,
        "private" => KwPrivate,
        "produces" => KwProduces,
        "site" => KwSite,
        "true" => KwTrue,
        "type" => KwType,
        "undef" => KwUndef,
        "unit" => KwUnit,
        "unless" => KwUnless,
        _ => return None,
    })
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Deep `"${"${"${...` nesting would otherwise recurse without bound.
const MAX_INTERPOLATION_DEPTH: u32 = 64;

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Lexed,
    /// Where lexing continues after the current line, when a heredoc body follows it.
    heredoc_resume: Option<usize>,
    interp_depth: u32,
}

impl Lexer<'_> {
    fn push(&mut self, kind: TokenKind, start: u32, end: u32, value: u32) {
        self.out.tokens.push(Token { kind, span: Span::new(start, end), value });
    }

    fn push_at(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.push(kind, start as u32, end as u32, 0);
    }

    fn error(&mut self, start: usize, end: usize, message: String) {
        self.out.errors.push(SyntaxError { span: Span::new(start as u32, end as u32), message });
    }

    fn peek(&self, offset: usize) -> u8 {
        self.bytes.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn push_string(&mut self, kind: TokenKind, start: usize, end: usize, text: String) {
        let index = self.out.strings.len() as u32;
        self.out.strings.push(text);
        self.push(kind, start as u32, end as u32, index);
    }

    fn skip_trivia(&mut self) {
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    if let Some(resume) = self.heredoc_resume.take() {
                        self.pos = self.pos.max(resume);
                    }
                }
                b'#' => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'/' if self.peek(1) == b'*' => {
                    let start = self.pos;
                    match self.src[self.pos + 2..].find("*/") {
                        Some(offset) => self.pos += 2 + offset + 2,
                        None => {
                            self.error(start, start + 2, "Unclosed multiline comment".into());
                            self.pos = self.bytes.len();
                        }
                    }
                }
                b if b >= 0x80 => {
                    // Puppet skips Unicode blanks such as no-break spaces too.
                    let c = self.src[self.pos..].chars().next().expect("pos is on a char boundary");
                    if c.is_whitespace() || c == '\u{feff}' {
                        self.pos += c.len_utf8();
                    } else {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    /// Lexes one token at `self.pos` (which is not trivia and not at the end).
    fn token(&mut self) {
        use TokenKind::*;
        let start = self.pos;
        let b = self.bytes[start];
        let (kind, len) = match b {
            b'$' => return self.variable(),
            b'"' => return self.dq_string(),
            b'\'' => return self.sq_string(),
            b'0'..=b'9' => return self.number(),
            b'a'..=b'z' | b'_' => return self.word(),
            b'A'..=b'Z' => return self.type_ref(),
            b':' if self.peek(1) == b':' => {
                let next = self.peek(2);
                if next.is_ascii_lowercase() || next == b'_' {
                    return self.word();
                } else if next.is_ascii_uppercase() {
                    return self.type_ref();
                }
                (Error, 2)
            }
            b'@' => match self.peek(1) {
                b'(' => return self.heredoc(),
                b'@' => (AtAt, 2),
                _ => (At, 1),
            },
            b'/' => {
                if self.regex_acceptable() && self.try_regex() {
                    return;
                }
                (Div, 1)
            }
            b'{' => (LBrace, 1),
            b'}' => (RBrace, 1),
            b'(' => (if self.first_on_line(start) { WsLParen } else { LParen }, 1),
            b')' => (RParen, 1),
            b'[' => {
                let spaced = start == 0 || matches!(self.bytes[start - 1], b' ' | b'\t' | b'\r' | b'\n');
                (if spaced { ListStart } else { LBrack }, 1)
            }
            b']' => (RBrack, 1),
            b',' => (Comma, 1),
            b';' => (Semi, 1),
            b':' => (Colon, 1),
            b'.' => (Dot, 1),
            b'?' => (Question, 1),
            b'=' => match self.peek(1) {
                b'=' => (Eq, 2),
                b'~' => (Match, 2),
                b'>' => (FatArrow, 2),
                _ => (Assign, 1),
            },
            b'!' => match self.peek(1) {
                b'=' => (NotEq, 2),
                b'~' => (NoMatch, 2),
                _ => (Not, 1),
            },
            b'<' => match (self.peek(1), self.peek(2)) {
                (b'<', b'|') => (LLCollect, 3),
                (b'|', _) => (LCollect, 2),
                (b'<', _) => (LShift, 2),
                (b'=', _) => (LessEq, 2),
                (b'-', _) => (InEdge, 2),
                (b'~', _) => (InEdgeSub, 2),
                _ => (Less, 1),
            },
            b'>' => match self.peek(1) {
                b'=' => (GreaterEq, 2),
                b'>' => (RShift, 2),
                _ => (Greater, 1),
            },
            b'-' => match self.peek(1) {
                b'>' => (OutEdge, 2),
                b'=' => (SubAssign, 2),
                _ => (Minus, 1),
            },
            b'~' if self.peek(1) == b'>' => (OutEdgeSub, 2),
            b'+' => match self.peek(1) {
                b'>' => (PlusArrow, 2),
                b'=' => (AddAssign, 2),
                _ => (Plus, 1),
            },
            b'*' => (Times, 1),
            b'%' => (Modulo, 1),
            b'|' => match (self.peek(1), self.peek(2)) {
                (b'>', b'>') => (RRCollect, 3),
                (b'>', _) => (RCollect, 2),
                _ => (Pipe, 1),
            },
            _ => {
                // Unknown: one whole character becomes an error token; the parser reports it.
                let c = self.src[start..].chars().next().expect("pos is on a char boundary");
                (Error, c.len_utf8())
            }
        };
        self.pos += len;
        self.push_at(kind, start, start + len);
    }

    fn first_on_line(&self, pos: usize) -> bool {
        let mut i = pos;
        while i > 0 {
            match self.bytes[i - 1] {
                b' ' | b'\t' => i -= 1,
                b'\n' => return true,
                _ => return false,
            }
        }
        true
    }

    /// Puppet's rule: a `/` after something that ends an operand is a division.
    fn regex_acceptable(&self) -> bool {
        use TokenKind::*;
        match self.out.tokens.last() {
            None => true,
            Some(token) => !matches!(
                token.kind,
                RParen
                    | RBrack
                    | RCollect
                    | RRCollect
                    | Name
                    | TypeRef
                    | Integer
                    | Float
                    | SqString
                    | DqEnd
                    | HeredocEnd
                    | Regex
                    | Variable
                    | KwTrue
                    | KwFalse
            ),
        }
    }

    /// A regex must close on the same line; otherwise the `/` is a division.
    fn try_regex(&mut self) -> bool {
        let start = self.pos;
        let mut i = start + 1;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\\' if i + 1 < self.bytes.len() && self.bytes[i + 1] != b'\n' => i += 2,
                b'/' => {
                    self.pos = i + 1;
                    self.push_at(TokenKind::Regex, start, i + 1);
                    return true;
                }
                b'\n' => return false,
                _ => i += 1,
            }
        }
        false
    }

    fn variable(&mut self) {
        let start = self.pos;
        let mut i = start + 1;
        if self.bytes.get(i) == Some(&b':') && self.bytes.get(i + 1) == Some(&b':') {
            i += 2;
        }
        let end = self.scan_var_name(i);
        if end == i {
            self.pos = start + 1;
            self.push_at(TokenKind::Error, start, start + 1);
            return;
        }
        self.pos = end;
        self.push_at(TokenKind::Variable, start, end);
    }

    /// `(\w+::)*\w+` from `i`; returns the end (== `i` when there is no name).
    fn scan_var_name(&self, mut i: usize) -> usize {
        let bytes = self.bytes;
        let mut end = i;
        loop {
            let seg_start = i;
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            if i == seg_start {
                return end;
            }
            end = i;
            if i + 2 < bytes.len() && bytes[i] == b':' && bytes[i + 1] == b':' && is_word_byte(bytes[i + 2]) {
                i += 2;
            } else {
                return end;
            }
        }
    }

    /// Puppet's bare word: `((::)?[a-z_]([\w-]*\w)?)+`.
    fn word(&mut self) {
        let start = self.pos;
        let bytes = self.bytes;
        let mut i = start;
        let mut plain = true;
        loop {
            if bytes.get(i) == Some(&b':') {
                i += 2;
                plain = false;
            }
            let seg_start = i;
            while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'-') {
                i += 1;
            }
            while i > seg_start && bytes[i - 1] == b'-' {
                i -= 1;
            }
            if i + 2 < bytes.len()
                && bytes[i] == b':'
                && bytes[i + 1] == b':'
                && (bytes[i + 2].is_ascii_lowercase() || bytes[i + 2] == b'_')
            {
                continue;
            }
            break;
        }
        self.pos = i;
        let text = &self.src[start..i];
        let kind =
            if plain && !text.contains('-') { keyword(text).unwrap_or(TokenKind::Name) } else { TokenKind::Name };
        self.push_at(kind, start, i);
    }

    /// `(::)?[A-Z]\w*(::[A-Za-z]\w*)*`
    fn type_ref(&mut self) {
        let start = self.pos;
        let bytes = self.bytes;
        let mut i = start;
        if bytes[i] == b':' {
            i += 2;
        }
        loop {
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            if i + 2 < bytes.len() && bytes[i] == b':' && bytes[i + 1] == b':' && bytes[i + 2].is_ascii_alphabetic() {
                i += 2;
                continue;
            }
            break;
        }
        self.pos = i;
        self.push_at(TokenKind::TypeRef, start, i);
    }

    fn number(&mut self) {
        let start = self.pos;
        let bytes = self.bytes;
        let mut i = start;
        let mut kind = TokenKind::Integer;
        let mut problem: Option<&str> = None;
        if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            let digits = i;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
            if i == digits {
                problem = Some("Not a valid hex number");
            }
        } else {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                kind = TokenKind::Float;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(bytes.get(i), Some(b'e' | b'E')) {
                let mut j = i + 1;
                if matches!(bytes.get(j), Some(b'-' | b'+')) {
                    j += 1;
                }
                if bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    kind = TokenKind::Float;
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            if kind == TokenKind::Integer
                && bytes[start] == b'0'
                && i - start > 1
                && bytes[start..i].iter().any(|&b| b > b'7')
            {
                problem = Some("Not a valid octal number");
            }
        }
        // `1abc` is neither a number nor a name.
        if i < bytes.len() && (is_word_byte(bytes[i])) {
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            problem = Some("Illegal number");
        }
        self.pos = i;
        if let Some(problem) = problem {
            let message = format!("{problem} '{}'", &self.src[start..i]);
            self.error(start, i, message);
            self.push_at(TokenKind::Error, start, i);
        } else {
            self.push_at(kind, start, i);
        }
    }

    fn unclosed_quote(&mut self, start: usize, quote: char) {
        let after = if quote == '"' { "'\"'" } else { "\"'\"" };
        let rest: String = self.src[start + 1..].chars().take(20).collect();
        let rest = rest.replace('\n', "\\n");
        self.error(start, start + 1, format!("Unclosed quote after {after} followed by '{rest}'"));
    }

    fn sq_string(&mut self) {
        let start = self.pos;
        let bytes = self.bytes;
        let mut text = String::new();
        let mut i = start + 1;
        let mut run = i;
        loop {
            if i >= bytes.len() {
                text.push_str(&self.src[run..]);
                self.unclosed_quote(start, '\'');
                self.pos = bytes.len();
                self.push_string(TokenKind::SqString, start, bytes.len(), text);
                return;
            }
            match bytes[i] {
                b'\'' => {
                    text.push_str(&self.src[run..i]);
                    self.pos = i + 1;
                    self.push_string(TokenKind::SqString, start, i + 1, text);
                    return;
                }
                b'\\' if matches!(bytes.get(i + 1), Some(b'\\' | b'\'')) => {
                    text.push_str(&self.src[run..i]);
                    text.push(bytes[i + 1] as char);
                    i += 2;
                    run = i;
                }
                _ => i += 1,
            }
        }
    }

    fn dq_string(&mut self) {
        let start = self.pos;
        self.push_at(TokenKind::DqStart, start, start + 1);
        self.pos += 1;
        let mut parts = TextParts::new(self.pos);
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                self.flush(&mut parts);
                self.unclosed_quote(start, '"');
                let end = self.bytes.len();
                self.push_at(TokenKind::DqEnd, end, end);
                return;
            };
            match b {
                b'"' => {
                    self.flush(&mut parts);
                    self.push_at(TokenKind::DqEnd, self.pos, self.pos + 1);
                    self.pos += 1;
                    return;
                }
                b'\\' => self.dq_escape(&mut parts, Escapes::DQ),
                b'$' => self.dollar(&mut parts),
                _ => {
                    let run = self.pos;
                    while self.pos < self.bytes.len() && !matches!(self.bytes[self.pos], b'"' | b'\\' | b'$') {
                        self.pos += 1;
                    }
                    parts.text.push_str(&self.src[run..self.pos]);
                }
            }
        }
    }

    /// An escape at `self.pos` (a backslash) in an interpolating string or heredoc.
    /// Unknown escapes keep their backslash, as in Puppet.
    fn dq_escape(&mut self, parts: &mut TextParts, escapes: Escapes) {
        let next = self.peek(1);
        let cooked = match next {
            b'n' if escapes.n => Some('\n'),
            b't' if escapes.t => Some('\t'),
            b'r' if escapes.r => Some('\r'),
            b's' if escapes.s => Some(' '),
            b'$' if escapes.dollar => Some('$'),
            b'"' if escapes.quotes => Some('"'),
            b'\'' if escapes.quotes => Some('\''),
            b'\\' => Some('\\'),
            b'u' if escapes.u => {
                if let Some((c, len)) = self.unicode_escape() {
                    parts.text.push(c);
                    self.pos += len;
                    return;
                }
                None
            }
            b'\n' if escapes.newline => {
                self.pos += 2;
                return;
            }
            b'\r' if escapes.newline && self.peek(2) == b'\n' => {
                self.pos += 3;
                return;
            }
            _ => None,
        };
        match cooked {
            Some(c) => {
                parts.text.push(c);
                self.pos += 2;
            }
            None => {
                parts.text.push('\\');
                self.pos += 1;
            }
        }
    }

    /// `\uXXXX` or `\u{X...}` at `self.pos`; returns the char and the escape's length.
    fn unicode_escape(&self) -> Option<(char, usize)> {
        let rest = &self.src[self.pos + 2..];
        let (hex, len) = if let Some(braced) = rest.strip_prefix('{') {
            let close = braced.find('}')?;
            (&braced[..close], 2 + 1 + close + 1)
        } else {
            (rest.get(..4)?, 2 + 4)
        };
        if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
        Some((c, len))
    }

    /// A `$` at `self.pos` inside an interpolating string or heredoc.
    fn dollar(&mut self, parts: &mut TextParts) {
        let start = self.pos;
        if self.peek(1) == b'{' {
            self.flush(parts);
            self.push_at(TokenKind::InterpStart, start, start + 2);
            self.pos += 2;
            self.interpolation(start);
            parts.start = self.pos;
            return;
        }
        let mut name_start = start + 1;
        if self.peek(1) == b':' && self.peek(2) == b':' {
            name_start += 2;
        }
        let end = self.scan_var_name(name_start);
        if end == name_start {
            parts.text.push('$');
            self.pos += 1;
            return;
        }
        self.flush(parts);
        self.push_at(TokenKind::InterpVar, start, end);
        self.pos = end;
        parts.start = end;
    }

    /// Lexes ordinary tokens up to the `}` matching an already emitted `${`.
    fn interpolation(&mut self, start: usize) {
        if self.interp_depth >= MAX_INTERPOLATION_DEPTH {
            self.error(start, start + 2, "Interpolation nested too deeply".into());
            self.push_at(TokenKind::InterpEnd, self.pos, self.pos);
            return;
        }
        self.interp_depth += 1;
        let mut depth = 0u32;
        loop {
            self.skip_trivia();
            if self.pos >= self.bytes.len() {
                let end = self.bytes.len();
                self.push_at(TokenKind::InterpEnd, end, end);
                break;
            }
            if self.bytes[self.pos] == b'}' && depth == 0 {
                self.push_at(TokenKind::InterpEnd, self.pos, self.pos + 1);
                self.pos += 1;
                break;
            }
            self.token();
            match self.out.tokens.last().map(|t| t.kind) {
                Some(TokenKind::LBrace) => depth += 1,
                Some(TokenKind::RBrace) => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        self.interp_depth -= 1;
    }

    fn flush(&mut self, parts: &mut TextParts) {
        if !parts.text.is_empty() {
            let text = std::mem::take(&mut parts.text);
            self.push_string(TokenKind::StrText, parts.start, self.pos, text);
        }
        parts.start = self.pos;
    }

    /// `@("TAG":syntax/flags)` at `self.pos`, then its body from the following lines.
    fn heredoc(&mut self) {
        let start = self.pos;
        let header_end = self.bytes[start..].iter().position(|&b| b == b')' || b == b'\n').map(|n| start + n);
        let Some(close) = header_end.filter(|&i| self.bytes[i] == b')') else {
            self.error(start, start + 2, "Syntax error at '@('".into());
            self.pos = start + 2;
            self.push_at(TokenKind::Error, start, start + 2);
            return;
        };
        let spec = &self.src[start + 2..close];
        let Some(spec) = HeredocSpec::parse(spec) else {
            self.error(
                start,
                close + 1,
                "Heredoc invalid syntax spec. Expected the form @(\"ENDTAG\":syntax/escapes)".into(),
            );
            self.pos = close + 1;
            self.push_at(TokenKind::Error, start, close + 1);
            return;
        };
        if let Some(bad) = spec.bad_flag {
            self.error(
                start,
                close + 1,
                format!("Invalid heredoc escape char. Only t, r, n, s, u, L, $ allowed. Got '{bad}'"),
            );
        }
        let index = self.out.heredocs.len() as u32;
        self.push(TokenKind::HeredocStart, start as u32, close as u32 + 1, index);
        let after_header = close + 1;

        // The body starts on the next line, or after the body of an earlier heredoc on this line.
        let body_start = match self.heredoc_resume.take() {
            Some(resume) => resume,
            None => match self.bytes[after_header..].iter().position(|&b| b == b'\n') {
                Some(n) => after_header + n + 1,
                None => self.bytes.len(),
            },
        };
        let end_tag = find_end_tag(self.src, body_start, &spec.tag);
        let (body_end, end_line_end, resume, margin, trim) = match end_tag {
            Some(tag) => (tag.line_start, tag.line_end, tag.resume, tag.margin, tag.trim),
            None => {
                self.error(start, close + 1, "Heredoc without end-tagged line".into());
                let len = self.bytes.len();
                (len, len, len, 0, false)
            }
        };
        self.out.heredocs.push(HeredocInfo {
            syntax: spec.syntax.clone(),
            body_span: Span::new(body_start as u32, body_end as u32),
        });

        self.pos = body_start;
        self.heredoc_body(body_end, margin, trim, &spec);
        self.push_at(TokenKind::HeredocEnd, body_end, end_line_end);
        self.pos = after_header;
        self.heredoc_resume = Some(resume);
    }

    fn heredoc_body(&mut self, body_end: usize, margin: usize, trim: bool, spec: &HeredocSpec) {
        let mut parts = TextParts::new(self.pos);
        let mut at_line_start = true;
        while self.pos < body_end {
            if at_line_start {
                at_line_start = false;
                let mut n = 0;
                while n < margin && self.pos < body_end && matches!(self.bytes[self.pos], b' ' | b'\t') {
                    self.pos += 1;
                    n += 1;
                }
                continue;
            }
            match self.bytes[self.pos] {
                b'\n' => {
                    parts.text.push('\n');
                    self.pos += 1;
                    at_line_start = true;
                }
                b'\\' if spec.escapes.any() => {
                    let newline = matches!(self.peek(1), b'\n' | b'\r');
                    self.dq_escape(&mut parts, spec.escapes);
                    if newline && spec.escapes.newline {
                        at_line_start = true;
                    }
                }
                b'$' if spec.interpolate => self.dollar(&mut parts),
                _ => {
                    // Always take the first character: a `$` or `\` that is literal here (no
                    // interpolation, no escapes) lands in this arm too.
                    let run = self.pos;
                    let first = self.src[run..].chars().next().expect("pos is on a char boundary");
                    self.pos += first.len_utf8();
                    while self.pos < body_end && !matches!(self.bytes[self.pos], b'\n' | b'\\' | b'$') {
                        self.pos += 1;
                    }
                    parts.text.push_str(&self.src[run..self.pos]);
                }
            }
        }
        self.pos = self.pos.min(body_end);
        if trim {
            if parts.text.ends_with("\r\n") {
                parts.text.truncate(parts.text.len() - 2);
            } else if parts.text.ends_with('\n') {
                parts.text.pop();
            }
        }
        self.flush(&mut parts);
    }
}

/// Text being accumulated inside a string, and where it started in the source.
struct TextParts {
    text: String,
    start: usize,
}

impl TextParts {
    fn new(start: usize) -> TextParts {
        TextParts { text: String::new(), start }
    }
}

/// Which escapes are processed; double-quoted strings have them all, heredocs only their flags.
#[derive(Clone, Copy, Default)]
struct Escapes {
    t: bool,
    r: bool,
    n: bool,
    s: bool,
    u: bool,
    dollar: bool,
    newline: bool,
    quotes: bool,
}

impl Escapes {
    const DQ: Escapes =
        Escapes { t: true, r: true, n: true, s: true, u: true, dollar: true, newline: false, quotes: true };

    fn any(self) -> bool {
        self.t || self.r || self.n || self.s || self.u || self.dollar || self.newline
    }
}

struct HeredocSpec {
    tag: String,
    interpolate: bool,
    syntax: Option<String>,
    escapes: Escapes,
    bad_flag: Option<char>,
}

impl HeredocSpec {
    /// The text between `@(` and `)`.
    fn parse(spec: &str) -> Option<HeredocSpec> {
        let spec = spec.trim();
        let (tag, interpolate, rest) = if let Some(quoted) = spec.strip_prefix('"') {
            let close = quoted.find('"')?;
            (&quoted[..close], true, quoted[close + 1..].trim_start())
        } else {
            let end = spec.find([':', '/']).unwrap_or(spec.len());
            (spec[..end].trim_end(), false, &spec[end..])
        };
        if tag.is_empty() {
            return None;
        }
        let (syntax_part, flags) = match rest.find('/') {
            Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
            None => (rest, None),
        };
        let syntax_part = syntax_part.trim();
        let syntax = match syntax_part.strip_prefix(':') {
            Some(syntax) => Some(syntax.trim().to_string()),
            None if syntax_part.is_empty() => None,
            None => return None,
        };
        let mut escapes = Escapes::default();
        let mut bad_flag = None;
        if let Some(flags) = flags {
            let flags = flags.trim();
            if flags.is_empty() {
                escapes = Escapes { newline: true, quotes: false, ..Escapes::DQ };
            }
            for flag in flags.chars() {
                match flag {
                    't' => escapes.t = true,
                    'r' => escapes.r = true,
                    'n' => escapes.n = true,
                    's' => escapes.s = true,
                    'u' => escapes.u = true,
                    'L' => escapes.newline = true,
                    '$' => escapes.dollar = true,
                    other => bad_flag = Some(other),
                }
            }
        }
        Some(HeredocSpec { tag: tag.to_string(), interpolate, syntax, escapes, bad_flag })
    }
}

struct EndTag {
    line_start: usize,
    /// End of the tag text on the end line (before its newline).
    line_end: usize,
    /// Start of the line after the end line.
    resume: usize,
    margin: usize,
    trim: bool,
}

/// Finds the first line at or after `from` that reads `[ws] [|] [ws] [-] [ws] TAG [ws]`.
fn find_end_tag(src: &str, from: usize, tag: &str) -> Option<EndTag> {
    let mut line_start = from;
    while line_start < src.len() {
        let line_end = src[line_start..].find('\n').map_or(src.len(), |n| line_start + n);
        let line = &src[line_start..line_end];
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        let (margin, body) = match body.strip_prefix('|') {
            Some(rest) => (indent, rest.trim_start_matches([' ', '\t'])),
            None => (0, body),
        };
        let (trim, body) = match body.strip_prefix('-') {
            Some(rest) => (true, rest.trim_start_matches([' ', '\t'])),
            None => (false, body),
        };
        if body.trim_end() == tag {
            let resume = if line_end < src.len() { line_end + 1 } else { line_end };
            let text_end = line_start + line.trim_end().len();
            return Some(EndTag { line_start, line_end: text_end, resume, margin, trim });
        }
        line_start = line_end + 1;
    }
    None
}
