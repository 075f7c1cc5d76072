//! DynamoDB's expression language: condition, filter, key condition, update
//! and projection expressions, and the legacy parameters they replaced.
//!
//! Parsing resolves `#name` and `:value` placeholders through a
//! [`Placeholders`], which records which ones were used so the caller can
//! reject unused ones once every expression of a request has been parsed.
//! Parse errors are worded as DynamoDB words them, prefixed by the parameter
//! name ("Invalid ConditionExpression: ..."). A syntax error wins over every
//! other problem; among the rest, the most fundamental is reported (redundant
//! parentheses, unknown functions, reserved words, undefined placeholders,
//! overlapping paths, then operand checks), as DynamoDB does.
//!
//! Evaluation follows DynamoDB: comparisons between different types are
//! false rather than errors, and update values are computed from the item as
//! it was before the update.

#![warn(missing_docs)]

mod ast;
mod eval;
mod key;
pub use key::KeySplit;
mod legacy;
mod lexer;
mod project;
mod reserved;
mod resolve;
mod syntax;
mod update;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::value::Value;

pub use ast::{
    Comparator, Condition, KeyCondition, Operand, Path, PathElem, RangeCondition, SetValue, UpdateAction, UpdateExpr,
    UpdateOperand,
};
pub use legacy::{
    AttributeValueUpdate, ExpectedAttribute, LegacyCondition, attribute_updates_to_update, attributes_to_get_to_paths,
    expected_to_condition, filter_to_condition, key_condition_operators, key_conditions_to_key_condition,
};
pub use project::project;

/// DynamoDB caps every expression string at 4 KB.
pub const MAX_EXPRESSION_LEN: usize = 4 * 1024;
/// DynamoDB allows at most 300 operators and functions in one expression.
pub const MAX_OPERATORS: usize = 300;
/// Document paths, like documents, nest at most 32 levels.
pub const MAX_PATH_DEPTH: usize = crate::value::MAX_NESTING_DEPTH;
/// `IN` takes at most 100 values, as DynamoDB documents.
pub const MAX_IN_OPERANDS: usize = 100;
/// Parentheses, `NOT`s and nested conditions nest at most this deep, so the
/// recursive-descent parser cannot overflow the stack however the input is
/// shaped. DynamoDB bounds expressions by their 300 operators, and serves
/// 149 levels of `a < b OR (…)` (Alternator's tests against it); the
/// server's threads have the stack for this depth (`THREAD_STACK_BYTES` in
/// `src/main.rs`).
pub const MAX_PARSE_DEPTH: usize = 160;

/// Which request parameter an expression came from; it only changes the
/// prefix of error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExprKind {
    /// `ConditionExpression`.
    Condition,
    /// `FilterExpression`.
    Filter,
    /// `KeyConditionExpression`.
    KeyCondition,
    /// `UpdateExpression`.
    Update,
    /// `ProjectionExpression`.
    Projection,
    /// `SearchConditionExpression` (SearchVectors).
    SearchCondition,
}

impl ExprKind {
    /// The parameter name, as in "Invalid ConditionExpression: ...".
    pub fn parameter(self) -> &'static str {
        match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
            ExprKind::Update => "UpdateExpression",
            ExprKind::Projection => "ProjectionExpression",
            ExprKind::SearchCondition => "SearchConditionExpression",
        }
    }
}

impl fmt::Display for ExprKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.parameter())
    }
}

pub use crate::messages::expression::{ExprError, Invalid};

impl ExprError {
    pub(crate) fn invalid(kind: ExprKind, reason: Invalid) -> Self {
        ExprError::Invalid { kind, reason }
    }
}

/// The `ExpressionAttributeNames` and `ExpressionAttributeValues` of a
/// request, and which of them the request's expressions used.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, Value>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
}

impl Placeholders {
    /// Placeholders keyed with their marker: `"#n" -> "name"`, `":v" -> value`.
    pub fn new(names: HashMap<String, String>, values: HashMap<String, Value>) -> Self {
        Placeholders { names, values, used_names: HashSet::new(), used_values: HashSet::new() }
    }

    /// Names defined but not used by any expression parsed so far, sorted.
    pub fn unused_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.names.keys().filter(|k| !self.used_names.contains(*k)).cloned().collect();
        out.sort();
        out
    }

    /// Values defined but not used by any expression parsed so far, sorted.
    pub fn unused_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self.values.keys().filter(|k| !self.used_values.contains(*k)).cloned().collect();
        out.sort();
        out
    }

    pub(crate) fn name(&mut self, placeholder: &str) -> Option<String> {
        let name = self.names.get(placeholder)?.clone();
        self.used_names.insert(placeholder.to_string());
        Some(name)
    }

    pub(crate) fn value(&mut self, placeholder: &str) -> Option<Value> {
        let value = self.values.get(placeholder)?.clone();
        self.used_values.insert(placeholder.to_string());
        Some(value)
    }
}

fn check_length(expr: &str, kind: ExprKind) -> Result<(), ExprError> {
    if expr.len() > MAX_EXPRESSION_LEN {
        return Err(ExprError::invalid(kind, Invalid::TooLong(expr.len())));
    }
    if expr.trim().is_empty() {
        return Err(ExprError::invalid(kind, Invalid::Empty));
    }
    Ok(())
}

/// Parses a condition, filter or key condition expression (`kind` picks the
/// error prefix) into a [`Condition`].
pub fn parse_condition(expr: &str, ph: &mut Placeholders, kind: ExprKind) -> Result<Condition, ExprError> {
    check_length(expr, kind)?;
    let tree = syntax::parse_condition(expr, kind)?;
    resolve::condition(tree, ph, kind)
}

/// Parses an update expression: `SET`, `REMOVE`, `ADD` and `DELETE` clauses,
/// each at most once, in any order, with no two actions on overlapping paths.
pub fn parse_update(expr: &str, ph: &mut Placeholders) -> Result<UpdateExpr, ExprError> {
    check_length(expr, ExprKind::Update)?;
    let tree = syntax::parse_update(expr)?;
    resolve::update(tree, ph)
}

/// Parses a projection expression: comma-separated, non-overlapping paths.
pub fn parse_projection(expr: &str, ph: &mut Placeholders) -> Result<Vec<Path>, ExprError> {
    check_length(expr, ExprKind::Projection)?;
    let tree = syntax::parse_projection(expr)?;
    resolve::projection(tree, ph)
}

/// Parses a key condition expression: `=` on one attribute, optionally AND'ed
/// with one of `=`, `<`, `<=`, `>`, `>=`, `BETWEEN` or `begins_with` on
/// another. See [`KeyCondition`] for what is and is not decided here.
pub fn parse_key_condition(expr: &str, ph: &mut Placeholders) -> Result<KeyCondition, ExprError> {
    key_condition(parse_key_condition_text(expr, ph)?)
}

/// The first half of [`parse_key_condition`]: the text read as a condition
/// (syntax, placeholders). DynamoDB reads every expression of a request
/// this way before it reads the key condition as one ([`key_condition`]),
/// so an empty `FilterExpression` is reported before an `OR` in the key
/// condition.
pub fn parse_key_condition_text(expr: &str, ph: &mut Placeholders) -> Result<Condition, ExprError> {
    parse_condition(expr, ph, ExprKind::KeyCondition)
}

/// The second half of [`parse_key_condition`]: a parsed condition read as
/// a key condition.
pub fn key_condition(cond: Condition) -> Result<KeyCondition, ExprError> {
    key::from_condition(cond)
}
