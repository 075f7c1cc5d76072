//! PartiQL for DynamoDB: the `SELECT`, `INSERT`, `UPDATE`, `DELETE` and
//! `EXISTS(SELECT ...)` statements of ExecuteStatement, BatchExecuteStatement
//! and ExecuteTransaction.
//!
//! Two passes, both pure. [`parse`] turns text into a [`Statement`] (syntax
//! only; `?` parameters are counted, not bound). [`plan`] binds the
//! parameters, checks the statement against a table's schema and lowers it
//! onto the expression language of [`crate::expr`]: a `WHERE` becomes a
//! [`crate::expr::Condition`], `SET`/`REMOVE` an [`crate::expr::UpdateExpr`],
//! and the primary key of a write is pulled out of its `WHERE`. Evaluation
//! then reuses the expression machinery, so PartiQL and the expression
//! parameters can never disagree about what a comparison means.
//!
//! Errors are worded as DynamoDB words them. A statement the grammar refuses
//! gets "Statement wasn't well formed, can't be processed: <detail>".

#![warn(missing_docs)]

mod ast;
mod lexer;
mod lower;
mod parser;
mod plan;
mod reserved;

#[cfg(test)]
mod tests;

use crate::error::StoreError;
use crate::messages;

pub use ast::{Action, ArithOp, Expr, Literal, Op, OrderKey, Returning, Select, Span, Statement, SynPath, SynStep};
pub use plan::{Access, Mode, Plan, Projected, SelectPlan, check, plan};

/// DynamoDB caps a statement at 8192 characters (the model's length of a
/// string counts characters, not bytes).
pub const MAX_STATEMENT_LEN: usize = 8192;

/// Whether `text` is longer than [`MAX_STATEMENT_LEN`] characters
/// (counted only past the byte count that could be within it).
pub fn too_long(text: &str) -> bool {
    text.len() > MAX_STATEMENT_LEN && text.chars().count() > MAX_STATEMENT_LEN
}
/// Parentheses, `NOT`s, unary minus, function calls and nested literals nest
/// at most this deep, so the recursive-descent parser cannot overflow the
/// stack however the input is shaped: documents nest 32 deep, and a few
/// levels more leave room for parentheses around them. (A level costs about
/// ten parser frames; unoptimised builds spend ~20 KB of stack on it.)
pub const MAX_PARSE_DEPTH: usize = 40;
/// `AND`, `OR`, comparisons and function calls in one statement; the same
/// bound as an expression parameter, since a `WHERE` becomes one.
pub const MAX_OPERATORS: usize = crate::expr::MAX_OPERATORS;
/// An `IN` list holds at most this many values, as in condition expressions.
pub const MAX_IN_OPERANDS: usize = crate::expr::MAX_IN_OPERANDS;

pub use crate::messages::partiql::PartiqlError;

impl PartiqlError {
    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        PartiqlError::Malformed(detail.into())
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        PartiqlError::Invalid(msg.into())
    }
}

impl From<PartiqlError> for StoreError {
    fn from(e: PartiqlError) -> Self {
        StoreError::Validation(e.to_string())
    }
}

/// Parses one statement. An optional trailing `;` and `--`/`/* */` comments
/// are allowed; anything after the statement is an error.
pub fn parse(text: &str) -> Result<Statement, PartiqlError> {
    if too_long(text) {
        return Err(PartiqlError::invalid(messages::partiql::statement_too_long(MAX_STATEMENT_LEN)));
    }
    let tokens = lexer::tokenize(text)?;
    parser::parse(text, &tokens)
}
