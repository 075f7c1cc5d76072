//! First pass: recursive descent from tokens to a syntax tree that still holds
//! placeholders and unchecked names. Only syntax errors and hard limits are
//! reported here; everything else is left to [`super::resolve`], so a syntax
//! error anywhere wins over other problems, as in DynamoDB.

use super::ast::Comparator;
use super::lexer::{Tok, Token, tokenize};
use super::{ExprError, ExprKind, Invalid, MAX_IN_OPERANDS, MAX_OPERATORS, MAX_PARSE_DEPTH, MAX_PATH_DEPTH};

/// One step of a path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SynElem<'a> {
    /// A bare name (checked against reserved words later).
    Name(&'a str),
    /// A `#placeholder` (resolved later).
    Placeholder(&'a str),
    Index(usize),
}

/// A path as written; the first step is never an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SynPath<'a> {
    pub elems: Vec<SynElem<'a>>,
}

/// A condition or operand as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Syn<'a> {
    Path(SynPath<'a>),
    Value(&'a str),
    Call { name: &'a str, args: Vec<Syn<'a>> },
    Paren(Box<Syn<'a>>),
    Cmp(Comparator, Box<Syn<'a>>, Box<Syn<'a>>),
    Between(Box<Syn<'a>>, Box<Syn<'a>>, Box<Syn<'a>>),
    In(Box<Syn<'a>>, Vec<Syn<'a>>),
    And(Box<Syn<'a>>, Box<Syn<'a>>),
    Or(Box<Syn<'a>>, Box<Syn<'a>>),
    Not(Box<Syn<'a>>),
}

/// Whether a node can stand as a condition, as an operand, or (a function
/// call, checked later) either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Operand,
    Condition,
    Call,
}

impl Syn<'_> {
    fn shape(&self) -> Shape {
        match self {
            Syn::Path(_) | Syn::Value(_) => Shape::Operand,
            Syn::Call { .. } => Shape::Call,
            Syn::Paren(inner) => inner.shape(),
            _ => Shape::Condition,
        }
    }
}

/// The right-hand side of a `SET` action as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SynSet<'a> {
    Operand(Syn<'a>),
    Plus(Syn<'a>, Syn<'a>),
    Minus(Syn<'a>, Syn<'a>),
}

/// An update clause keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Set,
    Remove,
    Add,
    Delete,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Set => "SET",
            Section::Remove => "REMOVE",
            Section::Add => "ADD",
            Section::Delete => "DELETE",
        }
    }

    fn from_word(word: &str) -> Option<Section> {
        [Section::Set, Section::Remove, Section::Add, Section::Delete]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(word))
    }
}

/// One update action as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SynAction<'a> {
    Set(SynPath<'a>, SynSet<'a>),
    Remove(SynPath<'a>),
    Add(SynPath<'a>, &'a str),
    Delete(SynPath<'a>, &'a str),
}

/// An update expression as written: its sections in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SynUpdate<'a> {
    pub sections: Vec<(Section, Vec<SynAction<'a>>)>,
}

/// Keywords of the condition grammar; they can never be bare attribute names.
const CONDITION_KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];
/// Keywords of the update grammar.
const UPDATE_KEYWORDS: &[&str] = &["SET", "REMOVE", "ADD", "DELETE"];

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    kind: ExprKind,
    keywords: &'static [&'static str],
    depth: usize,
    operators: usize,
}

type PResult<T> = Result<T, ExprError>;

impl<'a> Parser<'a> {
    fn new(src: &'a str, kind: ExprKind, keywords: &'static [&'static str]) -> Self {
        Parser { src, tokens: tokenize(src), pos: 0, kind, keywords, depth: 0, operators: 0 }
    }

    fn tok(&self) -> Token {
        // The token list always ends with Eof and `pos` never passes it.
        self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek(&self, ahead: usize) -> Tok {
        self.tokens.get(self.pos + ahead).map_or(Tok::Eof, |t| t.kind)
    }

    fn text(&self, t: Token) -> &'a str {
        &self.src[t.start..t.end]
    }

    fn bump(&mut self) -> Token {
        let t = self.tok();
        if t.kind != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn at(&self, kind: Tok) -> bool {
        self.tok().kind == kind
    }

    fn at_word(&self, word: &str) -> bool {
        let t = self.tok();
        t.kind == Tok::Ident && self.text(t).eq_ignore_ascii_case(word)
    }

    fn is_keyword(&self, t: Token) -> bool {
        t.kind == Tok::Ident && self.keywords.iter().any(|k| k.eq_ignore_ascii_case(self.text(t)))
    }

    fn invalid(&self, reason: Invalid) -> ExprError {
        ExprError::invalid(self.kind, reason)
    }

    /// A syntax error at the current token, worded as DynamoDB does: the
    /// token, and the text from the previous token to the next one.
    fn syntax_error(&self) -> ExprError {
        let i = self.pos.min(self.tokens.len() - 1);
        let t = self.tokens[i];
        let token = if t.kind == Tok::Eof { "<EOF>".to_string() } else { self.text(t).to_string() };
        let start = if i > 0 { self.tokens[i - 1].start } else { t.start };
        let end = self.tokens.get(i + 1).map_or(t.end, |n| n.end);
        ExprError::invalid(self.kind, Invalid::Syntax { token, near: self.src[start..end].to_string() })
    }

    fn expect(&mut self, kind: Tok) -> PResult<Token> {
        if self.at(kind) { Ok(self.bump()) } else { Err(self.syntax_error()) }
    }

    fn count_operator(&mut self) -> PResult<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.invalid(Invalid::TooManyOperators));
        }
        Ok(())
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(self.invalid(Invalid::NestedTooDeeply));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn finish(&self) -> PResult<()> {
        if self.at(Tok::Eof) { Ok(()) } else { Err(self.syntax_error()) }
    }

    // ---- paths -------------------------------------------------------------

    fn name_step(&mut self) -> PResult<SynElem<'a>> {
        let t = self.tok();
        match t.kind {
            Tok::Ident if !self.is_keyword(t) => {
                self.bump();
                Ok(SynElem::Name(self.text(t)))
            }
            Tok::NamePlaceholder => {
                self.bump();
                Ok(SynElem::Placeholder(self.text(t)))
            }
            _ => Err(self.syntax_error()),
        }
    }

    fn path(&mut self) -> PResult<SynPath<'a>> {
        let mut elems = vec![self.name_step()?];
        loop {
            match self.tok().kind {
                Tok::Dot => {
                    self.bump();
                    elems.push(self.name_step()?);
                }
                Tok::LBracket => {
                    self.bump();
                    let t = self.tok();
                    if t.kind != Tok::Digits {
                        return Err(self.syntax_error());
                    }
                    let index = self.text(t).parse::<usize>().map_err(|_| self.syntax_error())?;
                    self.bump();
                    self.expect(Tok::RBracket)?;
                    elems.push(SynElem::Index(index));
                }
                _ => break,
            }
            if elems.len() > MAX_PATH_DEPTH {
                return Err(self.invalid(Invalid::PathTooDeep(elems.len())));
            }
        }
        Ok(SynPath { elems })
    }

    // ---- conditions --------------------------------------------------------

    /// `cond (OR cond)*`. With `allow_operand`, a lone operand is accepted
    /// too (inside parentheses, where `(a) = :v` needs it).
    fn or(&mut self, allow_operand: bool) -> PResult<Syn<'a>> {
        let mut left = self.and(allow_operand)?;
        while self.at_word("OR") {
            if left.shape() == Shape::Operand {
                return Err(self.syntax_error());
            }
            self.count_operator()?;
            self.bump();
            let right = self.and(false)?;
            left = Syn::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, allow_operand: bool) -> PResult<Syn<'a>> {
        let mut left = self.not(allow_operand)?;
        while self.at_word("AND") {
            if left.shape() == Shape::Operand {
                return Err(self.syntax_error());
            }
            self.count_operator()?;
            self.bump();
            let right = self.not(false)?;
            left = Syn::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self, allow_operand: bool) -> PResult<Syn<'a>> {
        if self.at_word("NOT") {
            self.count_operator()?;
            self.bump();
            self.enter()?;
            let inner = self.not(false)?;
            self.leave();
            return Ok(Syn::Not(Box::new(inner)));
        }
        let cond = self.comparison()?;
        if cond.shape() == Shape::Operand && !allow_operand {
            // A bare operand is not a condition: complain about what follows it.
            return Err(self.syntax_error());
        }
        Ok(cond)
    }

    fn comparator(&self) -> Option<Comparator> {
        Some(match self.tok().kind {
            Tok::Eq => Comparator::Eq,
            Tok::Ne => Comparator::Ne,
            Tok::Lt => Comparator::Lt,
            Tok::Le => Comparator::Le,
            Tok::Gt => Comparator::Gt,
            Tok::Ge => Comparator::Ge,
            _ => return None,
        })
    }

    /// An operand where only an operand may stand.
    fn operand(&mut self) -> PResult<Syn<'a>> {
        let op = self.primary()?;
        if op.shape() == Shape::Condition {
            return Err(self.syntax_error());
        }
        Ok(op)
    }

    fn comparison(&mut self) -> PResult<Syn<'a>> {
        let left = self.primary()?;
        let is_operand = left.shape() != Shape::Condition;
        if let Some(op) = self.comparator() {
            if !is_operand {
                return Err(self.syntax_error());
            }
            self.count_operator()?;
            self.bump();
            let right = self.operand()?;
            return Ok(Syn::Cmp(op, Box::new(left), Box::new(right)));
        }
        if self.at_word("BETWEEN") {
            if !is_operand {
                return Err(self.syntax_error());
            }
            self.count_operator()?;
            self.bump();
            let low = self.operand()?;
            if !self.at_word("AND") {
                return Err(self.syntax_error());
            }
            self.bump();
            let high = self.operand()?;
            return Ok(Syn::Between(Box::new(left), Box::new(low), Box::new(high)));
        }
        if self.at_word("IN") {
            if !is_operand {
                return Err(self.syntax_error());
            }
            self.count_operator()?;
            self.bump();
            self.expect(Tok::LParen)?;
            let mut list = vec![self.operand()?];
            while self.at(Tok::Comma) {
                self.bump();
                list.push(self.operand()?);
                if list.len() > MAX_IN_OPERANDS {
                    return Err(self.invalid(Invalid::TooManyInOperands(list.len())));
                }
            }
            self.expect(Tok::RParen)?;
            return Ok(Syn::In(Box::new(left), list));
        }
        Ok(left)
    }

    fn primary(&mut self) -> PResult<Syn<'a>> {
        let t = self.tok();
        match t.kind {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.or(true)?;
                self.leave();
                self.expect(Tok::RParen)?;
                Ok(Syn::Paren(Box::new(inner)))
            }
            Tok::Ident if self.peek(1) == Tok::LParen && !self.is_keyword(t) => self.call(),
            Tok::ValuePlaceholder => {
                self.bump();
                Ok(Syn::Value(self.text(t)))
            }
            Tok::Ident | Tok::NamePlaceholder => Ok(Syn::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }

    fn call(&mut self) -> PResult<Syn<'a>> {
        let name_tok = self.bump();
        self.count_operator()?;
        self.expect(Tok::LParen)?;
        self.enter()?;
        let mut args = vec![self.operand()?];
        while self.at(Tok::Comma) {
            self.bump();
            args.push(self.operand()?);
        }
        self.leave();
        self.expect(Tok::RParen)?;
        Ok(Syn::Call { name: self.text(name_tok), args })
    }

    // ---- updates -----------------------------------------------------------

    /// An operand of a `SET` value: a path, a value, a function call, or one
    /// of those in parentheses.
    fn update_operand(&mut self) -> PResult<Syn<'a>> {
        let t = self.tok();
        match t.kind {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.update_operand()?;
                self.leave();
                self.expect(Tok::RParen)?;
                Ok(Syn::Paren(Box::new(inner)))
            }
            Tok::Ident if self.peek(1) == Tok::LParen && !self.is_keyword(t) => {
                let name_tok = self.bump();
                self.count_operator()?;
                self.bump();
                self.enter()?;
                let mut args = vec![self.update_operand()?];
                while self.at(Tok::Comma) {
                    self.bump();
                    args.push(self.update_operand()?);
                }
                self.leave();
                self.expect(Tok::RParen)?;
                Ok(Syn::Call { name: self.text(name_tok), args })
            }
            Tok::ValuePlaceholder => {
                self.bump();
                Ok(Syn::Value(self.text(t)))
            }
            Tok::Ident | Tok::NamePlaceholder => Ok(Syn::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }

    fn set_value(&mut self) -> PResult<SynSet<'a>> {
        // `(a + b)` is allowed around the whole value.
        if self.at(Tok::LParen) {
            let (save_pos, save_operators) = (self.pos, self.operators);
            self.bump();
            self.enter()?;
            let inner = self.set_value();
            self.leave();
            if let Ok(inner @ (SynSet::Plus(..) | SynSet::Minus(..))) = inner {
                self.expect(Tok::RParen)?;
                return Ok(inner);
            }
            // Not arithmetic: reparse as a parenthesized operand. Work is
            // quadratic in the nesting depth, which MAX_PARSE_DEPTH bounds.
            self.pos = save_pos;
            self.operators = save_operators;
        }
        let left = self.update_operand()?;
        let arith = match self.tok().kind {
            Tok::Plus => true,
            Tok::Minus => false,
            _ => return Ok(SynSet::Operand(left)),
        };
        self.count_operator()?;
        self.bump();
        let right = self.update_operand()?;
        Ok(if arith { SynSet::Plus(left, right) } else { SynSet::Minus(left, right) })
    }

    fn section(&mut self) -> Option<Section> {
        let t = self.tok();
        if t.kind == Tok::Ident { Section::from_word(self.text(t)) } else { None }
    }

    fn update(&mut self) -> PResult<SynUpdate<'a>> {
        let mut sections = Vec::new();
        loop {
            let Some(section) = self.section() else {
                return Err(self.syntax_error());
            };
            self.bump();
            let mut actions = Vec::new();
            loop {
                let path = self.path()?;
                let action = match section {
                    Section::Set => {
                        self.expect(Tok::Eq)?;
                        SynAction::Set(path, self.set_value()?)
                    }
                    Section::Remove => SynAction::Remove(path),
                    Section::Add | Section::Delete => {
                        let t = self.expect(Tok::ValuePlaceholder)?;
                        let value = self.text(t);
                        if section == Section::Add {
                            SynAction::Add(path, value)
                        } else {
                            SynAction::Delete(path, value)
                        }
                    }
                };
                actions.push(action);
                if !self.at(Tok::Comma) {
                    break;
                }
                self.bump();
            }
            sections.push((section, actions));
            if self.at(Tok::Eof) {
                return Ok(SynUpdate { sections });
            }
        }
    }
}

/// Parses condition syntax (also used for filters and key conditions).
pub(crate) fn parse_condition(src: &str, kind: ExprKind) -> Result<Syn<'_>, ExprError> {
    let mut p = Parser::new(src, kind, CONDITION_KEYWORDS);
    let cond = p.or(false)?;
    p.finish()?;
    Ok(cond)
}

/// Parses update syntax.
pub(crate) fn parse_update(src: &str) -> Result<SynUpdate<'_>, ExprError> {
    let mut p = Parser::new(src, ExprKind::Update, UPDATE_KEYWORDS);
    let update = p.update()?;
    p.finish()?;
    Ok(update)
}

/// Parses projection syntax: comma-separated paths.
pub(crate) fn parse_projection(src: &str) -> Result<Vec<SynPath<'_>>, ExprError> {
    let mut p = Parser::new(src, ExprKind::Projection, &[]);
    let mut paths = vec![p.path()?];
    while p.at(Tok::Comma) {
        p.bump();
        paths.push(p.path()?);
    }
    p.finish()?;
    Ok(paths)
}
