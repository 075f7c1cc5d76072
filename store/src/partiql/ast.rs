//! The syntax tree of a statement, as written: names are resolved, literals
//! are not yet converted to values and `?` parameters are not yet bound.

use std::fmt;

use crate::expr::Comparator;

/// Where a token sits, as DynamoDB reports it: `line:column:length`, counted
/// in characters from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
    /// Length in characters.
    pub len: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.line, self.col, self.len)
    }
}

/// One step of a document path after its first name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SynStep {
    /// `.name`, `."name"` or `['name']`.
    Attr(String),
    /// `[n]`.
    Index(usize),
}

/// A document path as written: a top-level name and further steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynPath {
    /// The top-level attribute name.
    pub head: String,
    /// The steps after it.
    pub steps: Vec<SynStep>,
    /// Where the path starts.
    pub span: Span,
}

impl fmt::Display for SynPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head)?;
        for s in &self.steps {
            match s {
                SynStep::Attr(a) => write!(f, ".{a}")?,
                SynStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`, quotes removed and `''` unescaped.
    Str(String),
    /// A number, as written (sign included); converted when planned so its
    /// errors can name where it sits.
    Num(String),
    /// `TRUE` or `FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
    /// `MISSING`: only meaningful after `IS`.
    Missing,
}

/// `+`, `-`, `||`, `*`, `/` and `%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArithOp {
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `||` (string concatenation; DynamoDB refuses it).
    Concat,
    /// `*` (DynamoDB refuses it, as it refuses `/` and `%`).
    Times,
    /// `/`
    Divide,
    /// `%`
    Modulo,
}

impl ArithOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Plus => "+",
            ArithOp::Minus => "-",
            ArithOp::Concat => "||",
            ArithOp::Times => "*",
            ArithOp::Divide => "/",
            ArithOp::Modulo => "%",
        }
    }
}

/// An expression as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A document path.
    Path(SynPath),
    /// A literal.
    Lit(Literal),
    /// The `n`th `?` of the statement, from 0.
    Param(usize),
    /// `[a, b]`, or `(a, b)` after `IN`.
    List(Vec<Expr>),
    /// `{'k': v, ...}`: keys as written (DynamoDB wants string literals).
    Struct(Vec<(Expr, Expr)>),
    /// `<<a, b>>`: a string, number or binary set.
    Bag(Vec<Expr>),
    /// `*` as a function argument, as in `count(*)`.
    Star,
    /// `name(args)`; the name as written.
    Call {
        /// The function name as written.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
        /// Where the name sits.
        span: Span,
    },
    /// `left op right`.
    Cmp {
        /// The comparison.
        op: Comparator,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `value [NOT] BETWEEN low AND high`.
    Between {
        /// What is tested.
        value: Box<Expr>,
        /// The lower bound.
        low: Box<Expr>,
        /// The upper bound.
        high: Box<Expr>,
        /// Written with `NOT`.
        negated: bool,
    },
    /// `value [NOT] IN list`.
    In {
        /// What is tested.
        value: Box<Expr>,
        /// The candidates: a list, a bag or a parameter.
        list: Box<Expr>,
        /// Written with `NOT`.
        negated: bool,
    },
    /// `value IS [NOT] TYPE`.
    Is {
        /// What is tested.
        value: Box<Expr>,
        /// The type name as written, upper-cased (`DOUBLE PRECISION` for
        /// the two-word names); always one the grammar knows.
        ty: String,
        /// Written with `NOT`.
        negated: bool,
    },
    /// `a AND b`.
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`.
    Or(Box<Expr>, Box<Expr>),
    /// `NOT a`.
    Not(Box<Expr>),
    /// `a + b`, `a - b`, `a || b`, `a * b`, `a / b`, `a % b`.
    Arith {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `-a` of something other than a number literal.
    Neg(Box<Expr>),
}

/// What `RETURNING` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    /// `ALL OLD *`
    AllOld,
    /// `MODIFIED OLD *`
    ModifiedOld,
    /// `ALL NEW *`
    AllNew,
    /// `MODIFIED NEW *`
    ModifiedNew,
}

impl Returning {
    /// The clause as written after `RETURNING`, without the `*`.
    pub fn as_str(self) -> &'static str {
        match self {
            Returning::AllOld => "ALL OLD",
            Returning::ModifiedOld => "MODIFIED OLD",
            Returning::AllNew => "ALL NEW",
            Returning::ModifiedNew => "MODIFIED NEW",
        }
    }
}

/// One key of `ORDER BY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// The attribute name.
    pub name: String,
    /// Written with `DESC`.
    pub descending: bool,
}

/// A `SELECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    /// The selected expressions; `None` for `*`.
    pub projection: Option<Vec<Expr>>,
    /// The table name.
    pub table: String,
    /// The index name, for `"table"."index"`.
    pub index: Option<String>,
    /// The `WHERE` clause.
    pub filter: Option<Expr>,
    /// The `ORDER BY` keys.
    pub order_by: Vec<OrderKey>,
}

/// One action of an `UPDATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `SET path = value`.
    Set(SynPath, Expr),
    /// `REMOVE path`.
    Remove(SynPath),
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `SELECT ... FROM ...`.
    Select(Select),
    /// `INSERT INTO table VALUE {...}`.
    Insert {
        /// The table name.
        table: String,
        /// The item.
        value: Expr,
    },
    /// `UPDATE table SET ... REMOVE ... WHERE ... [RETURNING ...]`.
    Update {
        /// The table name.
        table: String,
        /// The actions in the order written.
        actions: Vec<Action>,
        /// The `WHERE` clause: the key, and perhaps a condition.
        filter: Expr,
        /// The `RETURNING` clause.
        returning: Option<Returning>,
    },
    /// `DELETE FROM table WHERE ... [RETURNING ...]`.
    Delete {
        /// The table name.
        table: String,
        /// The `WHERE` clause: the key, and perhaps a condition.
        filter: Expr,
        /// The `RETURNING` clause.
        returning: Option<Returning>,
    },
    /// `EXISTS(SELECT ...)`: a condition check in a transaction.
    Exists(Select),
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// What it does.
    pub op: Op,
    /// How many `?` parameters it holds.
    pub params: usize,
}

impl Statement {
    /// The table the statement reads or writes.
    pub fn table(&self) -> &str {
        match &self.op {
            Op::Select(s) | Op::Exists(s) => &s.table,
            Op::Insert { table, .. } | Op::Update { table, .. } | Op::Delete { table, .. } => table,
        }
    }

    /// The index a `SELECT` reads, if any.
    pub fn index(&self) -> Option<&str> {
        match &self.op {
            Op::Select(s) | Op::Exists(s) => s.index.as_deref(),
            _ => None,
        }
    }

    /// True for a `SELECT` (a read); false for writes and `EXISTS` checks.
    pub fn is_read(&self) -> bool {
        matches!(self.op, Op::Select(_))
    }

    /// The `RETURNING` clause of an `UPDATE` or `DELETE`.
    pub fn returning(&self) -> Option<Returning> {
        match &self.op {
            Op::Update { returning, .. } | Op::Delete { returning, .. } => *returning,
            _ => None,
        }
    }
}
