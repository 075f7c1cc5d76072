//! Expressions (condition, filter, key condition, update, projection), their
//! names and values, and the legacy parameters they replace (`Expected`,
//! `QueryFilter`, `ScanFilter`, `AttributesToGet`, `AttributeUpdates`,
//! `ConditionalOperator`).

use crate::expr::{ExprKind, MAX_IN_OPERANDS, MAX_OPERATORS, MAX_PARSE_DEPTH};
use crate::messages::item::NumberError;

/// Why an expression's text was refused. Displayed after the
/// "Invalid <Parameter>: " prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): the text does not follow the grammar.
    /// ValidationException.
    #[error("Syntax error; token: \"{token}\", near: \"{near}\"")]
    Syntax {
        /// The offending token, or `<EOF>`.
        token: String,
        /// The source from the token before it to the token after it.
        near: String,
    },
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): the expression is empty or only whitespace.
    /// ValidationException.
    #[error("The expression can not be empty;")]
    Empty,
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): the expression is longer than
    /// [`crate::expr::MAX_EXPRESSION_LEN`]; carries its length. ValidationException.
    #[error("Expression size has exceeded the maximum allowed size; expression size: {0}")]
    TooLong(usize),
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): more than [`MAX_OPERATORS`] operators and functions.
    /// ValidationException.
    #[error("The expression contains too many operators; operator count: {}", MAX_OPERATORS + 1)]
    TooManyOperators,
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): parentheses, `NOT`s or function calls nest deeper than
    /// [`MAX_PARSE_DEPTH`]. ValidationException.
    /// Tidepool's text (DynamoDB bounds expressions by their operators only).
    #[error("The expression is nested too deeply; maximum depth: {MAX_PARSE_DEPTH}")]
    NestedTooDeeply,
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): a document path is longer than
    /// [`crate::expr::MAX_PATH_DEPTH`]; carries its length. ValidationException.
    #[error("The document path has too many nesting levels; nesting levels: {0}")]
    PathTooDeep(usize),
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): `IN` has more than [`MAX_IN_OPERANDS`] values; carries the count.
    /// ValidationException.
    #[error("The IN operator accepts at most {MAX_IN_OPERANDS} operands; number of operands: {0}")]
    TooManyInOperands(usize),
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): two pairs of parentheses enclose the same thing.
    /// ValidationException.
    #[error("The expression has redundant parentheses;")]
    RedundantParentheses,
    /// Condition and update expressions (and PartiQL's): a function that does not
    /// exist (in this kind of expression). ValidationException.
    #[error("Invalid function name; function: {0}")]
    UnknownFunction(String),
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): an update function (`if_not_exists`, `list_append`) in a condition.
    /// ValidationException.
    #[error("The function is not allowed in a condition expression; function: {0}")]
    UpdateFunctionInCondition(String),
    /// Condition and update expressions (and PartiQL's): a boolean function used as
    /// an operand, or `size` used as a condition. ValidationException.
    #[error("The function is not allowed to be used this way in an expression; function: {0}")]
    MisusedFunction(String),
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): a bare attribute name that is a reserved word.
    /// ValidationException.
    #[error("Attribute name is a reserved keyword; reserved keyword: {0}")]
    ReservedWord(String),
    /// UpdateItem, TransactWriteItems (Update): an update clause appears twice.
    /// ValidationException.
    #[error("The \"{0}\" section can only be used once in an update expression;")]
    DuplicateSection(&'static str),
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): a `#name` missing from `ExpressionAttributeNames`.
    /// ValidationException.
    #[error("An expression attribute name used in the document path is not defined; attribute name: {0}")]
    UndefinedName(String),
    /// Every operation with an expression (any expression parameter, and PartiQL's
    /// `WHERE` and `SET`): a `:value` missing from `ExpressionAttributeValues`.
    /// ValidationException.
    #[error("An expression attribute value used in expression is not defined; attribute value: {0}")]
    UndefinedValue(String),
    /// UpdateExpression, ProjectionExpression: one written path is a prefix of (or
    /// equal to) another. ValidationException.
    #[error(
        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )]
    OverlappingPaths {
        /// The earlier path, as `[a, b, [2]]`.
        one: String,
        /// The later path.
        two: String,
    },
    /// UpdateExpression, ProjectionExpression: two written paths treat the same
    /// place as a list and as a map. ValidationException.
    #[error(
        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {one}, path two: {two}"
    )]
    ConflictingPaths {
        /// The earlier path, as `[a, b, [2]]`.
        one: String,
        /// The later path.
        two: String,
    },
    /// Condition and update expressions (and PartiQL's): a function or operator got
    /// the wrong number of operands. ValidationException.
    #[error(
        "Incorrect number of operands for operator or function; operator or function: {function}, number of operands: {count}"
    )]
    OperandCount {
        /// The function or operator.
        function: String,
        /// How many operands it got.
        count: usize,
    },
    /// Condition and update expressions (and PartiQL's): a function needs a document
    /// path where something else was written. ValidationException.
    #[error("Operator or function requires a document path; operator or function: {0}")]
    RequiresPath(String),
    /// Condition and update expressions (and PartiQL's): a constant operand has a
    /// type the function or operator cannot take. ValidationException.
    #[error(
        "Incorrect operand type for operator or function; operator or function: {function}, operand type: {operand_type}"
    )]
    OperandType {
        /// The function or operator.
        function: String,
        /// The operand's type tag (`S`, `N`, ...).
        operand_type: String,
    },
    /// UpdateExpression: ADD or DELETE with a value of a type it cannot take. ValidationException.
    #[error(
        "Incorrect operand type for operator or function; operator: {action}, operand type: {operand_type}, typeSet: ALLOWED_FOR_{action}_OPERAND"
    )]
    ActionOperandType {
        /// `ADD` or `DELETE`.
        action: &'static str,
        /// The type in words, as DynamoDB names it here (`STRING`).
        operand_type: &'static str,
    },
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): `attribute_type` with a type name that does not exist.
    /// ValidationException.
    #[error("Invalid attribute type name found; type: {0}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}")]
    AttributeTypeName(String),
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): both operands are the same path. ValidationException.
    #[error(
        "The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: {path}"
    )]
    NotDistinct {
        /// The function or operator.
        operator: String,
        /// The repeated path, as `[a, b]`.
        path: String,
    },
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): BETWEEN bounds of different types. ValidationException.
    #[error(
        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {low}, upper bound operand: AttributeValue: {high}"
    )]
    BetweenTypes {
        /// The lower bound, as `{N:1}`.
        low: String,
        /// The upper bound.
        high: String,
    },
    /// ConditionExpression, FilterExpression, KeyConditionExpression (and PartiQL's
    /// `WHERE`): BETWEEN with the lower bound above the upper. ValidationException.
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
    /// Every operation with an expression: the expression text was refused ("Invalid
    /// <Parameter>: <reason>"). ValidationException.
    #[error("Invalid {kind}: {reason}")]
    Invalid {
        /// Which parameter held the expression.
        kind: ExprKind,
        /// What is wrong with it.
        reason: Invalid,
    },
    /// Query: a key condition uses an operator queries cannot use. ValidationException.
    #[error("Invalid operator used in KeyConditionExpression: {0}")]
    KeyConditionOperator(String),
    /// Query: a key condition holds a value of another type than its key
    /// attribute. ValidationException.
    #[error("One or more parameter values were invalid: Condition parameter type does not match schema type")]
    KeyConditionType,
    /// Query: a key condition has a shape queries cannot use (a range condition on
    /// the partition key, no equality at all). ValidationException.
    #[error("Query key condition not supported")]
    KeyConditionNotSupported,
    /// Query: a leaf of a key condition names two attributes, none, or has a value
    /// before the attribute of `BETWEEN` or `begins_with` (DynamoDB's
    /// words, as dynalite's tests against DynamoDB record them); carries one of
    /// the `KEY_CONDITION_*` details below. ValidationException.
    #[error("Invalid condition in KeyConditionExpression: {0}")]
    KeyConditionInvalid(String),
    /// Query: a key condition applies `size()`. ValidationException. Prefixed as
    /// DynamoDB prefixes the other `KeyConditionExpressions ...` faults since 2026
    /// (captured for nested attributes and repeated keys).
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations")]
    KeyConditionNestedOperation,
    /// Query: a key condition (or legacy `KeyConditions`) has more than two
    /// conditions, or none. ValidationException.
    #[error("Conditions can be of length 1 or 2 only")]
    KeyConditionCount,
    /// Query: a key condition has more conditions than the key has attributes. ValidationException.
    #[error(
        "The number of query conditions ({given}) exceeds the number of key attributes defined in the schema ({keys})"
    )]
    KeyConditionExcess {
        /// Conditions in the expression.
        given: usize,
        /// Attributes in the key schema of the table or index queried.
        keys: usize,
    },
    /// Query: a key condition constrains a sort-key attribute of a multi-attribute
    /// key while an earlier one has no equality. ValidationException.
    #[error(
        "RANGE key attributes {missing} must have equality conditions specified in the query because a condition is present on key attribute {present}"
    )]
    KeyConditionGap {
        /// The earlier attribute without an equality.
        missing: String,
        /// The later attribute with a condition.
        present: String,
    },
    /// Query: a key condition constrains one attribute twice. ValidationException.
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key")]
    KeyConditionDuplicate,
    /// Query: a key condition names a nested attribute. ValidationException.
    #[error("Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes")]
    KeyConditionNested,
    /// Query: a key condition does not constrain a key attribute it must, or
    /// constrains an attribute that is not a key; carries the key's name. ValidationException.
    #[error("Query condition missed key schema element: {0}")]
    KeyConditionMissing(String),
    /// Query: a legacy `KeyConditions` operator that cannot select a key range.
    /// ValidationException.
    #[error("Attempted conditional constraint is not an indexable operation")]
    NotIndexable,
    /// UpdateItem, TransactWriteItems (Update): an update reads an attribute the
    /// item does not have. ValidationException.
    #[error("The provided expression refers to an attribute that does not exist in the item")]
    MissingAttribute,
    /// UpdateItem, TransactWriteItems (Update): an update writes under a parent that
    /// is missing or of the
    /// wrong type. ValidationException.
    #[error("The document path provided in the update expression is invalid for update")]
    InvalidUpdatePath,
    /// UpdateItem, TransactWriteItems (Update): an update combines values of the
    /// wrong types at run time.
    /// ValidationException.
    #[error("An operand in the update expression has an incorrect data type")]
    IncorrectOperandType,
    /// UpdateItem, TransactWriteItems (Update): an update would nest documents
    /// deeper than DynamoDB allows; ExecuteStatement, BatchExecuteStatement,
    /// ExecuteTransaction: a literal nested so. ValidationException.
    #[error("Nesting Levels have exceeded supported limits")]
    NestingTooDeep,
    /// UpdateItem, TransactWriteItems (Update): arithmetic left DynamoDB's number
    /// range or precision
    /// ([`NumberError`]'s texts). ValidationException.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// Legacy parameters (`Expected`, `QueryFilter`, `ScanFilter`, `KeyConditions`,
    /// `AttributeUpdates`, `ConditionalOperator`): a word outside its set of allowed
    /// values. ValidationException.
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
    /// Legacy parameters: a value refused; carries one of the `LEGACY_*`/`legacy_*`
    /// details below. ValidationException.
    #[error("One or more parameter values were invalid: {0}")]
    InvalidParameter(String),
}

/// Query: a leaf of a key condition names two attributes. ValidationException
/// (the detail of [`ExprError::KeyConditionInvalid`]).
pub const KEY_CONDITION_MULTIPLE_ATTRIBUTES: &str = "Multiple attribute names used in one condition";

/// Query: a leaf of a key condition names no attribute. ValidationException
/// (the detail of [`ExprError::KeyConditionInvalid`]).
pub const KEY_CONDITION_NO_ATTRIBUTE: &str = "No key attribute specified";

/// Query: `BETWEEN` or `begins_with` with a value before the key attribute.
/// ValidationException (the detail of [`ExprError::KeyConditionInvalid`]).
pub fn key_condition_operand_order(operator: impl std::fmt::Display) -> String {
    format!("{operator} operator must have the key attribute as its first operand")
}

/// PutItem, UpdateItem, DeleteItem (`Expected`), Query (`KeyConditions`,
/// `QueryFilter`), Scan (`ScanFilter`): a `ComparisonOperator` with the wrong
/// number of values. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn legacy_argument_count(operator: impl std::fmt::Display) -> String {
    format!("Invalid number of argument(s) for the {operator} ComparisonOperator")
}

/// PutItem, UpdateItem, DeleteItem (`Expected`), Query (`KeyConditions`,
/// `QueryFilter`), Scan (`ScanFilter`): a value of a type the
/// `ComparisonOperator` cannot take. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn legacy_argument_type(operator: impl std::fmt::Display, value_type: impl std::fmt::Display) -> String {
    format!("ComparisonOperator {operator} is not valid for {value_type} AttributeValue type")
}

/// PutItem, UpdateItem, DeleteItem (`Expected`), Query (`KeyConditions`,
/// `QueryFilter`), Scan (`ScanFilter`): `BETWEEN` or `IN` with values of
/// different scalar types. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub const LEGACY_MIXED_TYPES: &str = "AttributeValues inside AttributeValueList must be of same type";

/// PutItem, UpdateItem, DeleteItem (`Expected`), Query (`KeyConditions`,
/// `QueryFilter`), Scan (`ScanFilter`): `BETWEEN` with the lower bound above
/// the upper. ValidationException (after [`ExprError::InvalidParameter`]'s
/// prefix).
pub const LEGACY_BETWEEN_ORDER: &str =
    "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound";

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with both `Value` and
/// `AttributeValueList`. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_value_and_list(attribute: impl std::fmt::Display) -> String {
    format!("Value and AttributeValueList cannot be used together for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with both `Exists`
/// and `ComparisonOperator`. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_exists_and_operator(attribute: impl std::fmt::Display) -> String {
    format!("Exists and ComparisonOperator cannot be used together for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry whose
/// `ComparisonOperator` needs a value and has none. ValidationException
/// (after [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_operator_without_value(operator: impl std::fmt::Display, attribute: impl std::fmt::Display) -> String {
    format!("Value or AttributeValueList must be used with ComparisonOperator: {operator} for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with
/// `AttributeValueList` and no `ComparisonOperator`. ValidationException
/// (after [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_list_without_operator(attribute: impl std::fmt::Display) -> String {
    format!("AttributeValueList can only be used with a ComparisonOperator for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with `Exists: false`
/// and a `Value`. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_value_when_not_exists(attribute: impl std::fmt::Display) -> String {
    format!("Value cannot be used when Exists is false for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with `Exists: true`
/// and no `Value`. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_exists_without_value(attribute: impl std::fmt::Display) -> String {
    format!("Value must be provided when Exists is true for Attribute: {attribute}")
}

/// PutItem, UpdateItem, DeleteItem: an `Expected` entry with neither
/// `Exists` nor `Value`. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn expected_nothing(attribute: impl std::fmt::Display) -> String {
    format!("Value must be provided when Exists is null for Attribute: {attribute}")
}

/// UpdateItem: an `AttributeUpdates` DELETE with a value that is not a set.
/// ValidationException (after [`ExprError::InvalidParameter`]'s prefix).
pub fn attribute_updates_delete_type(value_type: impl std::fmt::Display) -> String {
    format!("DELETE action with value is not supported for the type {value_type}")
}

/// UpdateItem: an `AttributeUpdates` ADD with a value that is not a number,
/// a set or a list. ValidationException (after
/// [`ExprError::InvalidParameter`]'s prefix).
pub fn attribute_updates_add_type(value_type: impl std::fmt::Display) -> String {
    format!("ADD action is not supported for the type {value_type}")
}

/// UpdateItem: an `AttributeUpdates` PUT or ADD without a value.
/// ValidationException (after [`ExprError::InvalidParameter`]'s prefix).
pub const ATTRIBUTE_UPDATES_NO_VALUE: &str = "Only DELETE action is allowed when no attribute value is specified";

/// PutItem, UpdateItem, DeleteItem, Query, Scan: `ConditionalOperator`
/// without `Expected`, `QueryFilter` or `ScanFilter`, or with an empty one
/// (ExtendDB's suite, run against DynamoDB). ValidationException.
pub const CONDITIONAL_OPERATOR_WITHOUT_CONDITIONS: &str =
    "ConditionalOperator cannot be used without Filter or Expected";

/// PutItem, UpdateItem, DeleteItem, Query, Scan: `ConditionalOperator`
/// with an `Expected`, `QueryFilter` or `ScanFilter` of one condition
/// (ExtendDB's suite, run against DynamoDB). ValidationException.
pub const CONDITIONAL_OPERATOR_ONE_CONDITION: &str =
    "ConditionalOperator can only be used when Filter or Expected has two or more elements";

/// UpdateItem: an `AttributeUpdates` ADD or DELETE with a value of the wrong
/// type for the attribute; the legacy parameter's own wording for
/// [`ExprError::IncorrectOperandType`] (dynalite's recording of DynamoDB).
/// ValidationException.
pub const ATTRIBUTE_UPDATES_TYPE_MISMATCH: &str = "Type mismatch for attribute to update";

/// GetItem, BatchGetItem, Query, Scan: an empty `AttributesToGet`.
/// ValidationException.
pub const ATTRIBUTES_TO_GET_EMPTY: &str = "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// GetItem, BatchGetItem, Query, Scan: a name twice in `AttributesToGet`.
/// ValidationException.
pub fn attributes_to_get_duplicate(name: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: Duplicate value in attribute name: {name}")
}

/// Every operation with `ExpressionAttributeValues`: a value refused, named
/// by its placeholder (the older value layer alone says so); carries why.
/// ValidationException.
pub fn invalid_value(why: impl std::fmt::Display, key: impl std::fmt::Display) -> String {
    format!("ExpressionAttributeValues contains invalid value: {why} for key {key}")
}

/// Every operation with expressions: an empty `ExpressionAttributeNames`.
/// ValidationException.
pub const NAMES_EMPTY: &str = "ExpressionAttributeNames must not be empty";

/// Every operation with expressions: an `ExpressionAttributeNames` entry
/// whose value is empty. ValidationException.
pub fn empty_attribute_name(key: impl std::fmt::Display) -> String {
    format!("ExpressionAttributeNames contains invalid value: Empty attribute name for key {key}")
}

/// Every operation with expressions: an empty `ExpressionAttributeValues`.
/// ValidationException.
pub const VALUES_EMPTY: &str = "ExpressionAttributeValues must not be empty";

/// PutItem, UpdateItem, DeleteItem (the layer that envelops its faults):
/// `ExpressionAttributeValues` without an expression. ValidationException.
pub const VALUES_WITHOUT_EXPRESSION: &str = "ExpressionAttributeValues can only be specified when using expressions";

/// Every other operation with expressions: `ExpressionAttributeValues`
/// without an expression; `members` names the operation's members that take
/// values (`FilterExpression and KeyConditionExpression`). ValidationException.
pub fn values_without_expression_members(members: &str) -> String {
    let verb = if members.contains(" and ") { "are" } else { "is" };
    format!("ExpressionAttributeValues can only be specified when using expressions: {members} {verb} null")
}

/// Every operation with expressions: `ExpressionAttributeNames` without an
/// expression. ValidationException.
pub const NAMES_WITHOUT_EXPRESSION: &str = "ExpressionAttributeNames can only be specified when using expressions";

/// Every operation with expressions: names no expression used; carries
/// them, comma-separated. ValidationException.
pub fn unused_names(keys: impl std::fmt::Display) -> String {
    format!("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{keys}}}")
}

/// Every operation with expressions: values no expression used; carries
/// them, comma-separated. ValidationException.
pub fn unused_values(keys: impl std::fmt::Display) -> String {
    format!("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{keys}}}")
}

/// Every operation with expressions: an `ExpressionAttributeNames` key
/// longer than 255 bytes (`member` is the map's name); carries its length.
/// ValidationException.
pub fn key_too_long_sized(member: impl std::fmt::Display, size: impl std::fmt::Display) -> String {
    format!(
        "{member} contains invalid key: The expression attribute map contains a key that is too long; size of key: {size}"
    )
}

/// Every operation with expressions: an `ExpressionAttributeValues` key
/// longer than 255 bytes (`member` is the map's name); says less than the
/// names' (as DynamoDB does). ValidationException.
pub fn key_too_long(member: impl std::fmt::Display) -> String {
    format!("{member} contains invalid key: The expression attribute map contains a key that is too long;")
}

/// Every operation with expressions: a placeholder key that is not its
/// prefix and one or more of `[A-Za-z0-9_]` (`member` is the map's name).
/// ValidationException.
pub fn key_syntax(member: impl std::fmt::Display, key: impl std::fmt::Display) -> String {
    format!("{member} contains invalid key: Syntax error; key: \"{key}\"")
}

/// PutItem, UpdateItem, DeleteItem, GetItem, BatchGetItem, Query, Scan:
/// legacy and expression parameters together; carries each group's members
/// sent, comma-separated, in the operation's fixed order (not alphabetical:
/// ExtendDB's suite, run against DynamoDB). ValidationException.
pub fn mixed_parameters(legacy: impl std::fmt::Display, expression: impl std::fmt::Display) -> String {
    format!(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{legacy}}} Expression parameters: {{{expression}}}"
    )
}

/// UpdateItem, Query, Scan, GetItem (projection, filter and update
/// expressions): a document path into a key attribute of the table.
/// ValidationException.
pub fn nested_key(attribute: impl std::fmt::Display) -> String {
    format!(
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: {attribute}"
    )
}

/// UpdateItem, Query, Scan, GetItem (projection, filter and update
/// expressions): a document path into a key attribute of an index.
/// ValidationException.
pub fn nested_index_key(attribute: impl std::fmt::Display) -> String {
    format!(
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: IndexKey: {attribute}"
    )
}
