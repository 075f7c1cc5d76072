//! Recursive descent from tokens to a [`Statement`]. Only the grammar and hard
//! limits are checked here; what a statement means for a table is left to
//! [`super::plan`].
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, the predicates (`=`, `<>`,
//! `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN`, `IS`), `+`/`-`/`||`, `*`/`/`/`%`,
//! unary `-`.
//!
//! The errors follow the parser DynamoDB runs (PartiQL's reference parser,
//! which reads a statement as one expression whose terms may be statements):
//! where a term should start, the end of the statement or punctuation is an
//! "Unexpected term", an operator an "Unexpected operator" and a keyword an
//! "Unexpected keyword"; an infix operator with nothing after it is "Missing
//! right-hand side expression of infix operator"; a missing closing token is
//! "Expected RIGHT_PAREN" and the like. A statement that is no statement at
//! all (`x IS INT4`) parses as an expression and is then refused as an
//! unsupported operation named after the expression's kind.
//!
//! Besides the statements DynamoDB documents, PartiQL's FROM-first form of
//! UPDATE is read: `FROM table [WHERE ...] SET ... | REMOVE ... [RETURNING ...]`.

use super::ast::{Action, ArithOp, Expr, Literal, Op, OrderKey, Returning, Select, Span, Statement, SynPath, SynStep};
use super::lexer::{Tok, Token};
use super::reserved::{is_keyword, is_operator_word, type_name};
use super::{MAX_OPERATORS, MAX_PARSE_DEPTH, PartiqlError};
use crate::expr::{Comparator, MAX_PATH_DEPTH};
use crate::messages;

type Result<T> = std::result::Result<T, PartiqlError>;

/// How a table name is read: after `FROM` of a `SELECT` (or a FROM-first
/// update) DynamoDB reads an expression; after `UPDATE`, `DELETE FROM` and
/// `INSERT INTO` a simple path, which must start with a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Expression,
    SimplePath,
}

struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    pos: usize,
    depth: usize,
    params: usize,
    ops: usize,
}

/// Parses a whole statement from its tokens (which end in [`Tok::Eof`]).
pub(crate) fn parse(src: &str, toks: &[Token]) -> Result<Statement> {
    let mut p = Parser { src, toks, pos: 0, depth: 0, params: 0, ops: 0 };
    let op = p.statement()?;
    p.finish()?;
    Ok(Statement { op, params: p.params })
}

/// The name of the operation DynamoDB refuses when a statement is a bare
/// expression: the kind of the expression at its top.
fn operation_name(e: &Expr) -> &'static str {
    match e {
        Expr::Path(p) if p.steps.is_empty() => "Id",
        Expr::Path(_) => "Path",
        Expr::Lit(Literal::Missing) => "Missing",
        Expr::Lit(_) => "Lit",
        Expr::Param(_) => "Parameter",
        Expr::List(_) => "List",
        Expr::Struct(_) => "Struct",
        Expr::Bag(_) => "Bag",
        Expr::Star | Expr::Call { .. } => "Call",
        Expr::Cmp { op, .. } => match op {
            Comparator::Eq => "Eq",
            Comparator::Ne => "Ne",
            Comparator::Lt => "Lt",
            Comparator::Le => "Lte",
            Comparator::Gt => "Gt",
            Comparator::Ge => "Gte",
        },
        Expr::Between { negated: false, .. } => "Between",
        Expr::In { negated: false, .. } => "InCollection",
        Expr::Is { negated: false, .. } => "IsType",
        Expr::Between { .. } | Expr::In { .. } | Expr::Is { .. } | Expr::Not(_) => "Not",
        Expr::And(..) => "And",
        Expr::Or(..) => "Or",
        Expr::Arith { op, .. } => match op {
            ArithOp::Plus => "Plus",
            ArithOp::Minus => "Minus",
            ArithOp::Concat => "Concat",
            ArithOp::Times => "Times",
            ArithOp::Divide => "Divide",
            ArithOp::Modulo => "Modulo",
        },
        Expr::Neg(_) => "Neg",
    }
}

/// How DynamoDB names a token it expected and did not find.
fn token_name(kind: Tok) -> &'static str {
    match kind {
        Tok::LParen => "LEFT_PAREN",
        Tok::RParen => "RIGHT_PAREN",
        Tok::LBracket => "LEFT_BRACKET",
        Tok::RBracket => "RIGHT_BRACKET",
        Tok::LBrace => "LEFT_CURLY",
        Tok::RBrace => "RIGHT_CURLY",
        Tok::BagOpen => "LEFT_DOUBLE_ANGLE_BRACKET",
        Tok::BagClose => "RIGHT_DOUBLE_ANGLE_BRACKET",
        Tok::Comma => "COMMA",
        Tok::Colon => "COLON",
        Tok::Dot => "DOT",
        Tok::Star => "STAR",
        Tok::Semicolon => "SEMICOLON",
        Tok::Param => "QUESTION_MARK",
        Tok::Ident => "IDENTIFIER",
        Tok::Quoted => "QUOTED_IDENTIFIER",
        Tok::Str | Tok::Num => "LITERAL",
        Tok::Eof => "EOF",
        _ => "OPERATOR",
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &'a Token {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[(self.pos + n).min(last)]
    }

    fn bump(&mut self) -> &'a Token {
        let t = self.peek();
        if t.kind != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn is_kw(t: &Token, kw: &str) -> bool {
        t.kind == Tok::Ident && t.text.eq_ignore_ascii_case(kw)
    }

    fn at_kw(&self, kw: &str) -> bool {
        Self::is_kw(self.peek(), kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.at_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Consumes a token of `kind`, or fails naming it ("Expected RIGHT_PAREN").
    fn expect(&mut self, kind: Tok) -> Result<&'a Token> {
        if self.peek().kind == kind {
            Ok(self.bump())
        } else {
            Err(PartiqlError::malformed(messages::partiql::expected_token(token_name(kind))))
        }
    }

    /// Whether only the end of the statement (and perhaps a semicolon) is left.
    fn at_end(&self) -> bool {
        match self.peek().kind {
            Tok::Eof => true,
            Tok::Semicolon => self.peek_at(1).kind == Tok::Eof,
            _ => false,
        }
    }

    /// Refuses anything after a complete statement.
    fn finish(&self) -> Result<()> {
        if self.at_end() {
            return Ok(());
        }
        Err(PartiqlError::malformed(if self.peek().kind == Tok::Semicolon {
            messages::partiql::AFTER_SEMICOLON
        } else {
            messages::partiql::LEFTOVER
        }))
    }

    /// Whether the token at the cursor can start a term.
    fn at_term(&self) -> bool {
        let t = self.peek();
        match t.kind {
            Tok::Ident => !is_keyword(&t.text) || self.peek_at(1).kind == Tok::LParen,
            Tok::Quoted
            | Tok::Str
            | Tok::Num
            | Tok::Param
            | Tok::LParen
            | Tok::LBracket
            | Tok::LBrace
            | Tok::BagOpen
            | Tok::Plus
            | Tok::Minus => true,
            _ => false,
        }
    }

    /// The error for a term that should start at the cursor and does not.
    fn term_error(&self) -> PartiqlError {
        let t = self.peek();
        PartiqlError::malformed(match t.kind {
            Tok::Ident if is_operator_word(&t.text) => messages::partiql::UNEXPECTED_OPERATOR,
            Tok::Ident if is_keyword(&t.text) => messages::partiql::UNEXPECTED_KEYWORD,
            Tok::Eq
            | Tok::Ne
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Plus
            | Tok::Minus
            | Tok::Slash
            | Tok::Percent
            | Tok::Concat => messages::partiql::UNEXPECTED_OPERATOR,
            Tok::Ident
            | Tok::Quoted
            | Tok::Str
            | Tok::Num
            | Tok::Param
            | Tok::LParen
            | Tok::LBracket
            | Tok::LBrace
            | Tok::BagOpen => messages::partiql::UNEXPECTED_TOKEN,
            _ => messages::partiql::UNEXPECTED_TERM,
        })
    }

    /// After an infix operator: something must follow it.
    fn right_hand_side(&self) -> Result<()> {
        if self.peek().kind == Tok::Eof {
            return Err(PartiqlError::malformed(messages::partiql::NO_RIGHT_HAND_SIDE));
        }
        Ok(())
    }

    fn span(&self, t: &Token) -> Span {
        let before = &self.src[..t.start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.src[line_start..t.start].chars().count() + 1;
        let len = self.src[t.start..t.end].chars().count();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span { line: clamp(line), col: clamp(col), len: clamp(len) }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(PartiqlError::malformed(messages::partiql::nested_too_deeply(MAX_PARSE_DEPTH)));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn count_op(&mut self) -> Result<()> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            return Err(PartiqlError::invalid(messages::partiql::too_many_operators(MAX_OPERATORS)));
        }
        Ok(())
    }

    // ---- statements ----

    fn statement(&mut self) -> Result<Op> {
        let t = self.peek();
        if t.kind == Tok::Ident {
            match t.text.to_ascii_uppercase().as_str() {
                "SELECT" => return Ok(Op::Select(self.select()?)),
                "INSERT" => return self.insert(),
                "UPDATE" => return self.update(),
                "DELETE" => return self.delete(),
                "FROM" => return self.update_from_first(),
                "EXISTS" if self.peek_at(1).kind == Tok::LParen && Self::is_kw(self.peek_at(2), "SELECT") => {
                    self.pos += 2;
                    let select = self.select()?;
                    self.expect(Tok::RParen)?;
                    return Ok(Op::Exists(select));
                }
                _ => {}
            }
        }
        // Anything else DynamoDB reads as an expression, and refuses once it
        // has read all of it.
        let e = self.expr()?;
        self.finish()?;
        Err(PartiqlError::invalid(messages::partiql::unsupported_operation(operation_name(&e))))
    }

    fn select(&mut self) -> Result<Select> {
        self.pos += 1; // SELECT
        if self.at_kw("DISTINCT") {
            return Err(PartiqlError::invalid(messages::partiql::DISTINCT));
        }
        self.eat_kw("ALL");
        if self.at_kw("VALUE") || self.at_kw("PIVOT") {
            return Err(PartiqlError::invalid(messages::partiql::VALUE_OR_PIVOT));
        }
        let projection = if self.peek().kind == Tok::Star {
            self.pos += 1;
            if self.peek().kind == Tok::Comma {
                return Err(star_and_others());
            }
            None
        } else {
            let mut items = Vec::new();
            loop {
                if self.peek().kind == Tok::Star {
                    return Err(star_and_others());
                }
                items.push(self.expr()?);
                if self.at_kw("AS") || self.at_alias() {
                    return Err(PartiqlError::invalid(messages::partiql::ALIASING));
                }
                if self.peek().kind != Tok::Comma {
                    break;
                }
                self.pos += 1;
            }
            Some(items)
        };
        if !self.eat_kw("FROM") {
            return Err(PartiqlError::malformed(messages::partiql::FROM_AFTER_SELECT));
        }
        let (table, index) = self.source(Source::Expression)?;
        self.refuse_alias()?;
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let mut order_by = Vec::new();
        if self.eat_kw("ORDER") {
            if !self.eat_kw("BY") {
                return Err(PartiqlError::malformed(messages::partiql::EXPECTED_BY));
            }
            loop {
                let name = self.name()?;
                let descending = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order_by.push(OrderKey { name, descending });
                if self.peek().kind != Tok::Comma {
                    break;
                }
                self.pos += 1;
            }
        }
        for clause in ["GROUP", "HAVING", "LIMIT", "OFFSET"] {
            if self.at_kw(clause) {
                let shown = if clause == "GROUP" { "GROUP BY" } else { clause };
                return Err(PartiqlError::invalid(messages::partiql::unsupported_clause(shown)));
            }
        }
        Ok(Select { projection, table, index, filter, order_by })
    }

    fn insert(&mut self) -> Result<Op> {
        // DynamoDB reads INSERT INTO as one keyword; INSERT alone is a
        // keyword where a term should be.
        if !Self::is_kw(self.peek_at(1), "INTO") {
            return Err(PartiqlError::malformed(messages::partiql::UNEXPECTED_KEYWORD));
        }
        self.pos += 2;
        let table = self.dml_table()?;
        if self.at_kw("VALUES") || self.peek().kind == Tok::LParen {
            return Err(PartiqlError::invalid(messages::partiql::INSERT_MANY));
        }
        if !self.eat_kw("VALUE") {
            // Without VALUE an expression must follow (PartiQL's other
            // INSERT form, which DynamoDB does not run).
            return Err(if self.at_term() {
                PartiqlError::malformed(messages::partiql::LEFTOVER)
            } else {
                self.term_error()
            });
        }
        let value = self.expr()?;
        if self.at_kw("RETURNING") {
            return Err(PartiqlError::invalid(messages::partiql::INSERT_RETURNING));
        }
        Ok(Op::Insert { table, value })
    }

    fn update(&mut self) -> Result<Op> {
        self.pos += 1; // UPDATE
        let (table, index) = self.source(Source::SimplePath)?;
        self.refuse_alias()?;
        let actions = self.actions()?;
        if !self.eat_kw("WHERE") {
            self.returning()?;
            return Err(self.missing_where());
        }
        let filter = self.expr()?;
        let returning = self.returning()?;
        refuse_index(index)?;
        Ok(Op::Update { table, actions, filter, returning })
    }

    /// PartiQL's FROM-first UPDATE: `FROM table [WHERE ...]` then `SET` and
    /// `REMOVE` clauses, then `RETURNING`; the same update as
    /// `UPDATE table SET ... WHERE ...`.
    fn update_from_first(&mut self) -> Result<Op> {
        self.pos += 1; // FROM
        let (table, index) = self.source(Source::Expression)?;
        self.refuse_alias()?;
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let actions = self.actions()?;
        let returning = self.returning()?;
        let Some(filter) = filter else { return Err(self.missing_where()) };
        refuse_index(index)?;
        Ok(Op::Update { table, actions, filter, returning })
    }

    /// The `SET` and `REMOVE` clauses of an update, at least one.
    fn actions(&mut self) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("SET") {
                loop {
                    let path = self.target_path()?;
                    if self.peek().kind != Tok::Eq {
                        return Err(PartiqlError::malformed(messages::partiql::EXPECTED_EQUALS));
                    }
                    self.pos += 1;
                    actions.push(Action::Set(path, self.expr()?));
                    if self.peek().kind != Tok::Comma {
                        break;
                    }
                    self.pos += 1;
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    actions.push(Action::Remove(self.target_path()?));
                    if self.peek().kind != Tok::Comma {
                        break;
                    }
                    self.pos += 1;
                }
            } else if self.at_kw("ADD") || self.at_kw("DELETE") {
                return Err(PartiqlError::invalid(messages::partiql::ONLY_SET_AND_REMOVE));
            } else {
                break;
            }
        }
        if actions.is_empty() {
            return Err(PartiqlError::malformed(messages::partiql::NOT_DML));
        }
        Ok(actions)
    }

    /// A write with no `WHERE`: it names no key, unless something other
    /// than the end of the statement stands where the `WHERE` should.
    fn missing_where(&self) -> PartiqlError {
        match self.finish() {
            Ok(()) => PartiqlError::invalid(messages::partiql::INCOMPLETE_KEY),
            Err(e) => e,
        }
    }

    fn delete(&mut self) -> Result<Op> {
        self.pos += 1; // DELETE
        if !self.eat_kw("FROM") {
            return Err(PartiqlError::malformed(messages::partiql::FROM_AFTER_DELETE));
        }
        let (table, index) = self.source(Source::SimplePath)?;
        self.refuse_alias()?;
        if !self.eat_kw("WHERE") {
            self.returning()?;
            return Err(self.missing_where());
        }
        let filter = self.expr()?;
        let returning = self.returning()?;
        refuse_index(index)?;
        Ok(Op::Delete { table, filter, returning })
    }

    fn returning(&mut self) -> Result<Option<Returning>> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let mapping = || PartiqlError::malformed(messages::partiql::RETURNING_ELEMENT);
        let all = if self.at_kw("ALL") {
            true
        } else if self.at_kw("MODIFIED") {
            false
        } else {
            return Err(mapping());
        };
        let new = if Self::is_kw(self.peek_at(1), "NEW") {
            true
        } else if Self::is_kw(self.peek_at(1), "OLD") {
            false
        } else {
            return Err(mapping());
        };
        self.pos += 2;
        if self.peek().kind != Tok::Star {
            return Err(PartiqlError::invalid(messages::partiql::RETURNING_STAR));
        }
        self.pos += 1;
        if self.peek().kind == Tok::Comma {
            return Err(PartiqlError::invalid(messages::partiql::RETURNING_MANY));
        }
        Ok(Some(match (all, new) {
            (true, false) => Returning::AllOld,
            (false, false) => Returning::ModifiedOld,
            (true, true) => Returning::AllNew,
            (false, true) => Returning::ModifiedNew,
        }))
    }

    /// An attribute name of `ORDER BY`: a bare name that is not a keyword,
    /// or a quoted one.
    fn name(&mut self) -> Result<String> {
        let t = self.peek();
        match t.kind {
            Tok::Ident if !is_keyword(&t.text) => Ok(self.bump().text.clone()),
            Tok::Quoted => Ok(self.bump().text.clone()),
            _ => Err(self.term_error()),
        }
    }

    /// `table` or `table.index`, read as `how` says.
    fn source(&mut self, how: Source) -> Result<(String, Option<String>)> {
        let t = self.peek();
        let mut parts = match t.kind {
            Tok::Ident if !is_keyword(&t.text) => vec![t.text.clone()],
            Tok::Quoted => vec![t.text.clone()],
            _ => {
                return Err(match how {
                    Source::SimplePath => PartiqlError::malformed(messages::partiql::SIMPLE_PATH),
                    Source::Expression => self.term_error(),
                });
            }
        };
        self.pos += 1;
        while self.peek().kind == Tok::Dot {
            self.pos += 1;
            let t = self.peek();
            match t.kind {
                Tok::Ident if !is_keyword(&t.text) => parts.push(t.text.clone()),
                Tok::Quoted => parts.push(t.text.clone()),
                Tok::Star if how == Source::SimplePath => {
                    return Err(PartiqlError::malformed(messages::partiql::SIMPLE_PATH_DOT));
                }
                Tok::Star => {
                    return Err(PartiqlError::invalid(messages::partiql::UNPIVOT));
                }
                _ => return Err(PartiqlError::malformed(messages::partiql::PATH_DOT)),
            }
            self.pos += 1;
        }
        if parts.len() > 2 {
            return Err(PartiqlError::invalid(messages::partiql::FROM_PATH_TOO_LONG));
        }
        if parts.iter().any(String::is_empty) {
            return Err(PartiqlError::invalid(messages::partiql::EMPTY_PATH_COMPONENT));
        }
        let index = if parts.len() == 2 { parts.pop() } else { None };
        let table = parts.pop().unwrap_or_default();
        Ok((table, index))
    }

    /// The table of an INSERT: never an index, refused as it is parsed.
    fn dml_table(&mut self) -> Result<String> {
        let (table, index) = self.source(Source::SimplePath)?;
        if index.is_some() {
            return Err(PartiqlError::invalid(messages::partiql::DML_SINGLE_TABLE));
        }
        Ok(table)
    }

    /// Whether the cursor is at a name that can only be an alias.
    fn at_alias(&self) -> bool {
        let t = self.peek();
        (t.kind == Tok::Ident && !is_keyword(&t.text)) || t.kind == Tok::Quoted
    }

    fn refuse_alias(&self) -> Result<()> {
        if self.at_kw("AS") || self.at_alias() {
            return Err(PartiqlError::invalid(messages::partiql::ALIASING));
        }
        Ok(())
    }

    /// The path an update action writes: a simple path, which starts with a
    /// name.
    fn target_path(&mut self) -> Result<SynPath> {
        let t = self.peek();
        let head = match t.kind {
            Tok::Ident if !is_keyword(&t.text) => t.text.clone(),
            Tok::Quoted => t.text.clone(),
            _ => return Err(PartiqlError::malformed(messages::partiql::SIMPLE_PATH)),
        };
        self.pos += 1;
        self.path_steps(head, t)
    }

    // ---- expressions ----

    fn expr(&mut self) -> Result<Expr> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            self.count_op()?;
            self.right_hand_side()?;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            self.count_op()?;
            self.right_hand_side()?;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr> {
        if self.at_kw("NOT") {
            self.pos += 1;
            self.count_op()?;
            self.enter()?;
            let inner = self.not();
            self.leave();
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr> {
        let left = self.additive()?;
        let cmp = match self.peek().kind {
            Tok::Eq => Some(Comparator::Eq),
            Tok::Ne => Some(Comparator::Ne),
            Tok::Lt => Some(Comparator::Lt),
            Tok::Le => Some(Comparator::Le),
            Tok::Gt => Some(Comparator::Gt),
            Tok::Ge => Some(Comparator::Ge),
            _ => None,
        };
        if let Some(op) = cmp {
            self.pos += 1;
            self.count_op()?;
            self.right_hand_side()?;
            let right = self.additive()?;
            return Ok(Expr::Cmp { op, left: Box::new(left), right: Box::new(right) });
        }
        let negated = self.at_kw("NOT") && ["BETWEEN", "IN", "LIKE"].iter().any(|kw| Self::is_kw(self.peek_at(1), kw));
        if negated {
            self.pos += 1;
        }
        if self.eat_kw("BETWEEN") {
            self.count_op()?;
            self.right_hand_side()?;
            let low = self.additive()?;
            if !self.eat_kw("AND") {
                return Err(PartiqlError::malformed(messages::partiql::EXPECTED_AND));
            }
            if self.at_end() {
                return Err(PartiqlError::malformed(messages::partiql::EXPRESSION_AFTER_AND));
            }
            let high = self.additive()?;
            return Ok(Expr::Between { value: Box::new(left), low: Box::new(low), high: Box::new(high), negated });
        }
        if self.eat_kw("IN") {
            self.count_op()?;
            let list = if self.peek().kind == Tok::LParen {
                self.pos += 1;
                self.enter()?;
                let items = self.expr_list(Tok::RParen);
                self.leave();
                Expr::List(items?)
            } else {
                self.right_hand_side()?;
                self.additive()?
            };
            return Ok(Expr::In { value: Box::new(left), list: Box::new(list), negated });
        }
        if self.eat_kw("LIKE") {
            // Read in full, so the grammar's errors come first, then refused.
            self.right_hand_side()?;
            self.additive()?;
            return Err(PartiqlError::invalid(messages::partiql::unsupported_condition_operator("LIKE")));
        }
        if self.eat_kw("IS") {
            self.count_op()?;
            let negated = self.eat_kw("NOT");
            let ty = self.type_name()?;
            return Ok(Expr::Is { value: Box::new(left), ty, negated });
        }
        Ok(left)
    }

    /// The type name after `IS [NOT]`, with its parameters if any; returns
    /// the name as written, upper-cased, two-word names (`DOUBLE PRECISION`,
    /// `CHARACTER VARYING`) joined by one space.
    fn type_name(&mut self) -> Result<String> {
        let t = self.peek();
        if t.kind != Tok::Ident || !is_keyword(&t.text) {
            return Err(PartiqlError::malformed(messages::partiql::TYPE_NAME));
        }
        let next = self.peek_at(1);
        let (written, words) = if t.text.eq_ignore_ascii_case("DOUBLE") && Self::is_kw(next, "PRECISION") {
            ("DOUBLE PRECISION".to_string(), "double_precision".to_string())
        } else if t.text.eq_ignore_ascii_case("CHARACTER") && Self::is_kw(next, "VARYING") {
            ("CHARACTER VARYING".to_string(), "character_varying".to_string())
        } else {
            (t.text.to_ascii_uppercase(), t.text.clone())
        };
        let Some((canonical, max_params)) = type_name(&words) else {
            return Err(PartiqlError::malformed(messages::partiql::TYPE_NAME));
        };
        self.pos += if written.contains(' ') { 2 } else { 1 };
        if self.peek().kind == Tok::LParen {
            self.pos += 1;
            // Parameters nest like any parenthesised expression.
            self.enter()?;
            let mut params = Vec::new();
            loop {
                params.push(self.expr()?);
                if self.peek().kind != Tok::Comma {
                    break;
                }
                self.pos += 1;
            }
            self.leave();
            self.expect(Tok::RParen)?;
            if params.len() > max_params {
                return Err(PartiqlError::malformed(messages::partiql::type_arity(canonical, max_params)));
            }
            if !params.iter().all(|p| matches!(p, Expr::Lit(Literal::Num(n)) if n.bytes().all(|b| b.is_ascii_digit())))
            {
                return Err(PartiqlError::malformed(messages::partiql::TYPE_PARAMETER));
            }
        }
        Ok(written)
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().kind {
                Tok::Plus => ArithOp::Plus,
                Tok::Minus => ArithOp::Minus,
                Tok::Concat => ArithOp::Concat,
                _ => return Ok(left),
            };
            self.pos += 1;
            self.count_op()?;
            self.right_hand_side()?;
            let right = self.multiplicative()?;
            left = Expr::Arith { op, left: Box::new(left), right: Box::new(right) };
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().kind {
                Tok::Star => ArithOp::Times,
                Tok::Slash => ArithOp::Divide,
                Tok::Percent => ArithOp::Modulo,
                _ => return Ok(left),
            };
            self.pos += 1;
            self.count_op()?;
            self.right_hand_side()?;
            let right = self.unary()?;
            left = Expr::Arith { op, left: Box::new(left), right: Box::new(right) };
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        match self.peek().kind {
            Tok::Minus if self.peek_at(1).kind == Tok::Num => {
                self.pos += 1;
                let n = self.bump();
                Ok(Expr::Lit(Literal::Num(format!("-{}", n.text))))
            }
            Tok::Minus | Tok::Plus => {
                let minus = self.bump().kind == Tok::Minus;
                self.enter()?;
                let inner = self.unary();
                self.leave();
                let inner = inner?;
                Ok(if minus { Expr::Neg(Box::new(inner)) } else { inner })
            }
            _ => self.primary(),
        }
    }

    /// Comma-separated expressions up to `close` (consumed); may be empty.
    fn expr_list(&mut self, close: Tok) -> Result<Vec<Expr>> {
        let mut items = Vec::new();
        if self.peek().kind == close {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.peek().kind == Tok::Comma {
                self.pos += 1;
                continue;
            }
            self.expect(close)?;
            return Ok(items);
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let t = self.peek();
        match t.kind {
            Tok::Num => {
                self.pos += 1;
                Ok(Expr::Lit(Literal::Num(t.text.clone())))
            }
            Tok::Str => {
                self.pos += 1;
                Ok(Expr::Lit(Literal::Str(t.text.clone())))
            }
            Tok::Param => {
                self.pos += 1;
                self.params += 1;
                Ok(Expr::Param(self.params - 1))
            }
            Tok::LParen => {
                self.pos += 1;
                self.enter()?;
                let inner = self.expr();
                self.leave();
                let inner = inner?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Tok::LBracket => {
                self.pos += 1;
                self.enter()?;
                let items = self.expr_list(Tok::RBracket);
                self.leave();
                Ok(Expr::List(items?))
            }
            Tok::BagOpen => {
                self.pos += 1;
                self.enter()?;
                let items = self.expr_list(Tok::BagClose);
                self.leave();
                Ok(Expr::Bag(items?))
            }
            Tok::LBrace => {
                self.pos += 1;
                self.enter()?;
                let fields = self.struct_fields();
                self.leave();
                Ok(Expr::Struct(fields?))
            }
            Tok::Quoted => {
                self.pos += 1;
                self.path_steps(t.text.clone(), t).map(Expr::Path)
            }
            Tok::Ident if is_operator_word(&t.text) => Err(self.term_error()),
            Tok::Ident if t.text.eq_ignore_ascii_case("FROM") => {
                // A FROM-first update where a term should be: read in full
                // for its errors, then refused as a statement out of place.
                self.enter()?;
                let nested = self.update_from_first();
                self.leave();
                nested?;
                Err(PartiqlError::malformed(messages::partiql::NESTED_STATEMENT))
            }
            Tok::Ident => {
                if self.peek_at(1).kind == Tok::LParen {
                    return self.call();
                }
                let upper = t.text.to_ascii_uppercase();
                let lit = match upper.as_str() {
                    "TRUE" => Some(Literal::Bool(true)),
                    "FALSE" => Some(Literal::Bool(false)),
                    "NULL" => Some(Literal::Null),
                    "MISSING" => Some(Literal::Missing),
                    _ => None,
                };
                if let Some(lit) = lit {
                    self.pos += 1;
                    return Ok(Expr::Lit(lit));
                }
                if is_keyword(&t.text) {
                    return Err(self.term_error());
                }
                self.pos += 1;
                self.path_steps(t.text.clone(), t).map(Expr::Path)
            }
            _ => Err(self.term_error()),
        }
    }

    fn struct_fields(&mut self) -> Result<Vec<(Expr, Expr)>> {
        let mut fields = Vec::new();
        if self.peek().kind == Tok::RBrace {
            self.pos += 1;
            return Ok(fields);
        }
        loop {
            let key = self.expr()?;
            self.expect(Tok::Colon)?;
            let value = self.expr()?;
            fields.push((key, value));
            if self.peek().kind == Tok::Comma {
                self.pos += 1;
                continue;
            }
            self.expect(Tok::RBrace)?;
            return Ok(fields);
        }
    }

    fn call(&mut self) -> Result<Expr> {
        let name_tok = self.bump();
        let span = self.span(name_tok);
        self.count_op()?;
        self.expect(Tok::LParen)?;
        self.enter()?;
        let args = if self.peek().kind == Tok::Star && self.peek_at(1).kind == Tok::RParen {
            self.pos += 2;
            Ok(vec![Expr::Star])
        } else {
            self.expr_list(Tok::RParen)
        };
        self.leave();
        Ok(Expr::Call { name: name_tok.text.clone(), args: args?, span })
    }

    /// The steps after a path's first name (`head`, from token `first`).
    fn path_steps(&mut self, head: String, first: &Token) -> Result<SynPath> {
        let span = self.span(first);
        let mut steps = Vec::new();
        loop {
            match self.peek().kind {
                Tok::Dot => {
                    self.pos += 1;
                    let t = self.peek();
                    match t.kind {
                        Tok::Ident if !is_keyword(&t.text) => steps.push(SynStep::Attr(t.text.clone())),
                        Tok::Quoted => steps.push(SynStep::Attr(t.text.clone())),
                        Tok::Star => {
                            return Err(PartiqlError::invalid(messages::partiql::UNPIVOT));
                        }
                        _ => return Err(PartiqlError::malformed(messages::partiql::PATH_DOT)),
                    }
                    self.pos += 1;
                }
                Tok::LBracket => {
                    self.pos += 1;
                    let t = self.peek();
                    match t.kind {
                        Tok::Num if t.text.bytes().all(|b| b.is_ascii_digit()) => {
                            let i = t.text.parse::<usize>().map_err(|_| {
                                PartiqlError::invalid(messages::partiql::list_index_out_of_range(&t.text))
                            })?;
                            steps.push(SynStep::Index(i));
                        }
                        Tok::Str => steps.push(SynStep::Attr(t.text.clone())),
                        Tok::Star => {
                            return Err(PartiqlError::invalid(messages::partiql::WILDCARD));
                        }
                        _ => return Err(PartiqlError::invalid(messages::partiql::UNEXPECTED_PATH_COMPONENT)),
                    }
                    self.pos += 1;
                    self.expect(Tok::RBracket)?;
                }
                _ => break,
            }
            if steps.len() + 1 > MAX_PATH_DEPTH {
                return Err(PartiqlError::invalid(
                    messages::expression::Invalid::PathTooDeep(steps.len() + 1).to_string(),
                ));
            }
        }
        Ok(SynPath { head, steps, span })
    }
}

/// UPDATE and DELETE name a table; DynamoDB parses an index qualifier on
/// them and refuses it once the statement is read (an INSERT's is refused
/// as it is parsed).
fn refuse_index(index: Option<String>) -> Result<()> {
    match index {
        Some(_) => Err(PartiqlError::invalid(messages::partiql::INDEX_NOT_SUPPORTED)),
        None => Ok(()),
    }
}

fn star_and_others() -> PartiqlError {
    PartiqlError::invalid(messages::partiql::STAR_AND_OTHERS)
}
