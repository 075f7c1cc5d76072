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

use crate::value::{NumberError, Value};

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

/// Why an expression's text was refused. Displayed after the
/// "Invalid <Parameter>: " prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The text does not follow the grammar.
    #[error("Syntax error; token: \"{token}\", near: \"{near}\"")]
    Syntax {
        /// The offending token, or `<EOF>`.
        token: String,
        /// The source from the token before it to the token after it.
        near: String,
    },
    /// The expression is empty or only whitespace.
    #[error("The expression can not be empty;")]
    Empty,
    /// The expression is longer than [`MAX_EXPRESSION_LEN`]; carries its length.
    #[error("Expression size has exceeded the maximum allowed size; expression size: {0}")]
    TooLong(usize),
    /// The expression has more than [`MAX_OPERATORS`] operators and functions.
    #[error("The expression contains too many operators; operator count: {}", MAX_OPERATORS + 1)]
    TooManyOperators,
    /// Parentheses, `NOT`s or function calls nest deeper than [`MAX_PARSE_DEPTH`].
    #[error("The expression is nested too deeply; maximum depth: {MAX_PARSE_DEPTH}")]
    NestedTooDeeply,
    /// A document path is longer than [`MAX_PATH_DEPTH`]; carries its length.
    #[error("The document path has too many nesting levels; nesting levels: {0}")]
    PathTooDeep(usize),
    /// `IN` has more than [`MAX_IN_OPERANDS`] values; carries the count.
    #[error("The IN operator accepts at most {MAX_IN_OPERANDS} operands; number of operands: {0}")]
    TooManyInOperands(usize),
    /// Two pairs of parentheses enclose the same thing.
    #[error("The expression has redundant parentheses;")]
    RedundantParentheses,
    /// A function that does not exist (in this kind of expression).
    #[error("Invalid function name; function: {0}")]
    UnknownFunction(String),
    /// An update function (`if_not_exists`, `list_append`) in a condition.
    #[error("The function is not allowed in a condition expression; function: {0}")]
    UpdateFunctionInCondition(String),
    /// A boolean function used as an operand, or `size` used as a condition.
    #[error("The function is not allowed to be used this way in an expression; function: {0}")]
    MisusedFunction(String),
    /// A bare attribute name that is a reserved word.
    #[error("Attribute name is a reserved keyword; reserved keyword: {0}")]
    ReservedWord(String),
    /// An update clause appears twice.
    #[error("The \"{0}\" section can only be used once in an update expression;")]
    DuplicateSection(&'static str),
    /// A `#name` missing from `ExpressionAttributeNames`.
    #[error("An expression attribute name used in the document path is not defined; attribute name: {0}")]
    UndefinedName(String),
    /// A `:value` missing from `ExpressionAttributeValues`.
    #[error("An expression attribute value used in expression is not defined; attribute value: {0}")]
    UndefinedValue(String),
    /// One written path is a prefix of (or equal to) another.
    #[error(
        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )]
    OverlappingPaths {
        /// The earlier path, as `[a, b, [2]]`.
        one: String,
        /// The later path.
        two: String,
    },
    /// Two written paths treat the same place as a list and as a map.
    #[error(
        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )]
    ConflictingPaths {
        /// The earlier path, as `[a, b, [2]]`.
        one: String,
        /// The later path.
        two: String,
    },
    /// A function or operator got the wrong number of operands.
    #[error(
        "Incorrect number of operands for operator or function; operator or function: {function}, number of operands: {count}"
    )]
    OperandCount {
        /// The function or operator.
        function: String,
        /// How many operands it got.
        count: usize,
    },
    /// A function needs a document path where something else was written.
    #[error("Operator or function requires a document path; operator or function: {0}")]
    RequiresPath(String),
    /// A constant operand has a type the function or operator cannot take.
    #[error(
        "Incorrect operand type for operator or function; operator or function: {function}, operand type: {operand_type}"
    )]
    OperandType {
        /// The function or operator.
        function: String,
        /// The operand's type tag (`S`, `N`, ...).
        operand_type: String,
    },
    /// ADD or DELETE with a value of a type it cannot take.
    #[error(
        "Incorrect operand type for operator or function; operator: {action}, operand type: {operand_type}, typeSet: ALLOWED_FOR_{action}_OPERAND"
    )]
    ActionOperandType {
        /// `ADD` or `DELETE`.
        action: &'static str,
        /// The type in words, as DynamoDB names it here (`STRING`).
        operand_type: &'static str,
    },
    /// `attribute_type` with a type name that does not exist.
    #[error("Invalid attribute type name found; type: {0}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}")]
    AttributeTypeName(String),
    /// Both operands are the same path.
    #[error(
        "The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: {path}"
    )]
    NotDistinct {
        /// The function or operator.
        operator: String,
        /// The repeated path, as `[a, b]`.
        path: String,
    },
    /// BETWEEN bounds of different types.
    #[error(
        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {low}, upper bound operand: AttributeValue: {high}"
    )]
    BetweenTypes {
        /// The lower bound, as `{N:1}`.
        low: String,
        /// The upper bound.
        high: String,
    },
    /// BETWEEN with the lower bound above the upper.
    #[error(
        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {low}, upper bound operand: AttributeValue: {high}"
    )]
    BetweenOrder {
        /// The lower bound, as `{N:5}`.
        low: String,
        /// The upper bound.
        high: String,
    },
}

/// Everything that can go wrong parsing, converting or evaluating an
/// expression. Each variant displays as the message DynamoDB returns in its
/// `ValidationException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The expression text was refused.
    #[error("Invalid {kind}: {reason}")]
    Invalid {
        /// Which parameter held the expression.
        kind: ExprKind,
        /// What is wrong with it.
        reason: Invalid,
    },
    /// A key condition uses an operator queries cannot use.
    #[error("Invalid operator used in KeyConditionExpression: {0}")]
    KeyConditionOperator(String),
    /// A partition-key condition holds a value of another type than the key.
    #[error("One or more parameter values were invalid: Condition parameter type does not match schema type")]
    KeyConditionType,
    /// A key condition has a shape queries cannot use (a range condition on
    /// the partition key, no equality at all).
    #[error("Query key condition not supported")]
    KeyConditionNotSupported,
    /// A leaf of a key condition names two attributes, none, or has a value
    /// before the attribute of `BETWEEN` or `begins_with` (DynamoDB's
    /// words, as dynalite's tests against DynamoDB record them).
    #[error("Invalid condition in KeyConditionExpression: {0}")]
    KeyConditionInvalid(String),
    /// A key condition applies `size()`. Prefixed as DynamoDB prefixes the
    /// other `KeyConditionExpressions ...` faults since 2026 (captured for
    /// nested attributes and repeated keys).
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations")]
    KeyConditionNestedOperation,
    /// A key condition has more than two conditions.
    #[error("Conditions can be of length 1 or 2 only")]
    KeyConditionCount,
    /// A key condition has more conditions than the key has attributes.
    #[error(
        "The number of query conditions ({given}) exceeds the number of key attributes defined in the schema ({keys})"
    )]
    KeyConditionExcess {
        /// Conditions in the expression.
        given: usize,
        /// Attributes in the key schema of the table or index queried.
        keys: usize,
    },
    /// A key condition constrains a sort-key attribute of a multi-attribute
    /// key while an earlier one has no equality.
    #[error(
        "RANGE key attributes {missing} must have equality conditions specified in the query because a condition is present on key attribute {present}"
    )]
    KeyConditionGap {
        /// The earlier attribute without an equality.
        missing: String,
        /// The later attribute with a condition.
        present: String,
    },
    /// A key condition constrains one attribute twice.
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key")]
    KeyConditionDuplicate,
    /// A key condition names a nested attribute.
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes")]
    KeyConditionNested,
    /// A key condition does not constrain a key attribute it must, or
    /// constrains an attribute that is not a key; carries the key's name.
    #[error("Query condition missed key schema element: {0}")]
    KeyConditionMissing(String),
    /// A legacy `KeyConditions` operator that cannot select a key range.
    #[error("Attempted conditional constraint is not an indexable operation")]
    NotIndexable,
    /// An update reads an attribute the item does not have.
    #[error("The provided expression refers to an attribute that does not exist in the item")]
    MissingAttribute,
    /// An update writes under a parent that is missing or of the wrong type.
    #[error("The document path provided in the update expression is invalid for update")]
    InvalidUpdatePath,
    /// An update combines values of the wrong types at run time.
    #[error("An operand in the update expression has an incorrect data type")]
    IncorrectOperandType,
    /// An update would nest documents deeper than DynamoDB allows.
    #[error("Nesting Levels have exceeded supported limits")]
    NestingTooDeep,
    /// Arithmetic left DynamoDB's number range or precision.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// A legacy parameter holds a word outside its set of allowed values.
    #[error(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    )]
    UnknownEnumValue {
        /// The word sent.
        value: String,
        /// Where it was sent, as `expected.a.member.comparisonOperator`.
        field: String,
        /// The allowed words, comma-separated.
        allowed: &'static str,
    },
    /// A legacy parameter was refused.
    #[error("One or more parameter values were invalid: {0}")]
    InvalidParameter(String),
}

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
