//! PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

use crate::expr::ExprError;

/// Why a statement was refused. Every variant becomes a DynamoDB
/// `ValidationException` carrying the displayed text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartiqlError {
    /// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: the
    /// grammar refused the text; carries the detail after the colon (empty
    /// for a token the lexer cannot read). ValidationException.
    #[error("Statement wasn't well formed, can't be processed: {0}")]
    Malformed(String),
    /// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: the
    /// statement is well formed but cannot run as written; carries one of the
    /// texts below. ValidationException.
    #[error("{0}")]
    Invalid(String),
    /// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: the
    /// lowered condition or update was refused by the expression rules
    /// ([`ExprError`]'s texts). ValidationException.
    #[error(transparent)]
    Expr(#[from] ExprError),
}

// The details of `PartiqlError::Malformed`, after its "Statement wasn't well
// formed, can't be processed: " prefix.

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a token the
/// lexer cannot read, or a number literal that is not a number: no detail.
/// ValidationException (as [`PartiqlError::Malformed`]).
pub const UNREADABLE: &str = "";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a token of
/// another kind where one is required; carries its grammar name
/// (`RIGHT_PAREN`). ValidationException (as [`PartiqlError::Malformed`]).
pub fn expected_token(token: impl std::fmt::Display) -> String {
    format!("Expected {token}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a token left
/// over after a complete statement. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const LEFTOVER: &str = "Unexpected token after expression";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: anything
/// after a statement's closing semicolon. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const AFTER_SEMICOLON: &str = "Unexpected token after semicolon. (Only one query is allowed.)";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an operator
/// where a term should start. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const UNEXPECTED_OPERATOR: &str = "Unexpected operator";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a keyword
/// where a term should start (or `INSERT` without `INTO`).
/// ValidationException (as [`PartiqlError::Malformed`]).
pub const UNEXPECTED_KEYWORD: &str = "Unexpected keyword";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a name,
/// literal or opening bracket where a term cannot start. ValidationException
/// (as [`PartiqlError::Malformed`]).
pub const UNEXPECTED_TOKEN: &str = "Unexpected token";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: any other
/// token where a term should start. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const UNEXPECTED_TERM: &str = "Unexpected term";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an infix
/// operator at the end of the statement. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const NO_RIGHT_HAND_SIDE: &str = "Missing right-hand side expression of infix operator";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: parentheses,
/// `NOT`s, unary minus, calls or literals nested deeper than the parser
/// allows; carries that depth. ValidationException (as
/// [`PartiqlError::Malformed`]). Tidepool's text (the parser's bound).
pub fn nested_too_deeply(max: impl std::fmt::Display) -> String {
    format!("The expression is nested too deeply; maximum depth: {max}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SELECT`
/// without `FROM`. ValidationException (as [`PartiqlError::Malformed`]).
pub const FROM_AFTER_SELECT: &str = "Expected FROM after SELECT list";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `ORDER`
/// without `BY`. ValidationException (as [`PartiqlError::Malformed`]).
pub const EXPECTED_BY: &str = "Expected BY";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a `SET`
/// target without `=`. ValidationException (as [`PartiqlError::Malformed`]).
pub const EXPECTED_EQUALS: &str = "Expected '='";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a FROM-first,
/// UPDATE or nested FROM with no `SET` or `REMOVE`. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const NOT_DML: &str = "Expected data manipulation";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `DELETE`
/// without `FROM`. ValidationException (as [`PartiqlError::Malformed`]).
pub const FROM_AFTER_DELETE: &str = "Expected FROM after DELETE";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a `RETURNING`
/// element that is not `( MODIFIED | ALL ) ( NEW | OLD )`.
/// ValidationException (as [`PartiqlError::Malformed`]).
pub const RETURNING_ELEMENT: &str = "Expected ( MODIFIED | ALL ) ( NEW | OLD ) in each returning element.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: the table of
/// an INSERT, UPDATE or DELETE, or an update target, that is not a name.
/// ValidationException (as [`PartiqlError::Malformed`]).
pub const SIMPLE_PATH: &str = "Expected identifier for simple path";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `.*` in the
/// table of an INSERT, UPDATE or DELETE. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const SIMPLE_PATH_DOT: &str = "Invalid path dot component for simple path";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a path step
/// after `.` that is not a name. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const PATH_DOT: &str = "Invalid path dot component";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `BETWEEN`
/// without `AND`. ValidationException (as [`PartiqlError::Malformed`]).
pub const EXPECTED_AND: &str = "Expected AND keyword";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `BETWEEN x
/// AND` at the end of the statement. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const EXPRESSION_AFTER_AND: &str = "Expected expression after AND";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `IS`
/// followed by something that names no type. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const TYPE_NAME: &str = "Expected type name";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a type after
/// `IS` with more parameters than it takes. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub fn type_arity(type_name: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!("CAST for {type_name} must have arity of 0..{max}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a type
/// parameter after `IS` that is not an unsigned integer. ValidationException
/// (as [`PartiqlError::Malformed`]).
pub const TYPE_PARAMETER: &str = "Type parameter must be an unsigned integer literal";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a FROM-first
/// update where a term should be. ValidationException (as
/// [`PartiqlError::Malformed`]). DynamoDB's words for it, odd as they read.
pub const NESTED_STATEMENT: &str = "Keyword null only expected at the top level in the query";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an `AND` or
/// `OR` with nothing to join. ValidationException (as
/// [`PartiqlError::Malformed`]).
pub const EXPECTED_EXPRESSION: &str = "Expected expression";

// The texts of `PartiqlError::Invalid`.

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a statement
/// longer than its limit; carries the limit. ValidationException.
pub fn statement_too_long(max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: more
/// operators and functions than an expression may have; carries the limit.
/// ValidationException.
pub fn too_many_operators(max: impl std::fmt::Display) -> String {
    format!("The expression contains too many operators or functions; maximum: {max}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a statement
/// that is an expression rather than a `SELECT`, `INSERT`, `UPDATE`, `DELETE`
/// or `EXISTS`; carries the expression's kind (`Lit`, `Eq`, ...).
/// ValidationException.
pub fn unsupported_operation(operation: impl std::fmt::Display) -> String {
    format!("Unsupported operation: {operation}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SELECT
/// DISTINCT`. ValidationException.
pub const DISTINCT: &str = "Unsupported token in expression: DISTINCT";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SELECT
/// VALUE` or `PIVOT`. ValidationException.
pub const VALUE_OR_PIVOT: &str = "Select projection doesn't support value or pivot keywords";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an alias in
/// the projection or after the table. ValidationException.
pub const ALIASING: &str = "Aliasing is not supported";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `GROUP BY`,
/// `HAVING`, `LIMIT` or `OFFSET`; carries the clause. ValidationException.
pub fn unsupported_clause(clause: impl std::fmt::Display) -> String {
    format!("Unsupported clause: {clause}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `INSERT ...
/// VALUES` or a column list. ValidationException.
pub const INSERT_MANY: &str = "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `INSERT ...
/// RETURNING`. ValidationException.
pub const INSERT_RETURNING: &str = "RETURNING is not supported in INSERT";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `ADD` or
/// `DELETE` as an update clause. ValidationException.
pub const ONLY_SET_AND_REMOVE: &str = "Only SET and REMOVE are supported in update expressions at this time";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an UPDATE or
/// DELETE (or a transaction's SELECT or EXISTS) whose `WHERE` does not name
/// the whole key by equality, or that has no `WHERE`. ValidationException.
pub const INCOMPLETE_KEY: &str = "Where clause does not contain a mandatory equality on all key attributes";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `RETURNING`
/// element without `*`. ValidationException.
pub const RETURNING_STAR: &str = "Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: more than one
/// `RETURNING` element. ValidationException.
pub const RETURNING_MANY: &str = "Invalid syntax with multiple returning elements in RETURNING clause";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `.*` in a
/// path. ValidationException.
pub const UNPIVOT: &str = "Unpivot path component like a.*.b are not supported";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a `FROM`
/// path of more than two components. ValidationException.
pub const FROM_PATH_TOO_LONG: &str = "A path may contain at most 2 components in the FROM clause";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `""` as a
/// table or index name. ValidationException.
pub const EMPTY_PATH_COMPONENT: &str = "Path component cannot be an empty string";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an index
/// named in an INSERT. ValidationException.
pub const DML_SINGLE_TABLE: &str = "FROM clause may only contain a single table name in data manipulation statements";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an operator
/// a condition cannot use (`LIKE`, arithmetic, unary minus); carries it.
/// ValidationException.
pub fn unsupported_condition_operator(operator: impl std::fmt::Display) -> String {
    format!("Unsupported operator in Condition Expression. Operator: {operator}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a list index
/// too large to be one; carries it as written. ValidationException.
pub fn list_index_out_of_range(index: impl std::fmt::Display) -> String {
    format!("List index is not within the allowable range; index: [{index}]")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `[*]` in a
/// path. ValidationException.
pub const WILDCARD: &str = "Wildcard path component like a[*].b are not supported";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a path step
/// in brackets that is neither an index nor a string, `*` as an operand, or a
/// projected item that is not a path. ValidationException.
pub const UNEXPECTED_PATH_COMPONENT: &str = "Unexpected path component";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a projected
/// function call; carries where it is. ValidationException.
pub fn unexpected_path_component_at(at: impl std::fmt::Display) -> String {
    format!("Unexpected path component at {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an UPDATE or
/// DELETE of an index. ValidationException.
pub const INDEX_NOT_SUPPORTED: &str = "This operation is not supported on an index";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `*` and
/// other projected items together. ValidationException.
pub const STAR_AND_OTHERS: &str = "Other attributes should not be present in the projection when '*' is used.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a number of
/// `Parameters` other than the statement's `?`s. ValidationException.
pub const PARAMETER_COUNT: &str = "Number of parameters in request and statement don't match.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a number
/// literal out of DynamoDB's range or precision; carries the number's text
/// ([`crate::messages::item::NumberError`]) and where it sits.
/// ValidationException.
pub fn number_under(error: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("{error} under {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `MISSING` as
/// a value. ValidationException.
pub fn missing_value(at: impl std::fmt::Display) -> String {
    format!("Unsupported data type: MISSING under key {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a function
/// call as a value; carries the function and where it is.
/// ValidationException.
pub fn call_as_value(
    function: impl std::fmt::Display,
    at: impl std::fmt::Display,
    span: impl std::fmt::Display,
) -> String {
    format!("Unsupported data type: {function} under key {at} at {span}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a path as a
/// value (in an item or a nested literal). ValidationException.
pub fn path_as_value(path: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("Unsupported data type: {path} under key {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: any other
/// expression as a value. ValidationException.
pub fn expression_as_value(at: impl std::fmt::Display) -> String {
    format!("Unsupported data type: expression under key {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a number as
/// a tuple key. ValidationException.
pub fn number_tuple_key(at: impl std::fmt::Display) -> String {
    format!("Tuple keys must be of type String. Actual type: DECIMAL under {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an expression
/// as a tuple key. ValidationException.
pub fn expression_tuple_key(at: impl std::fmt::Display) -> String {
    format!("Tuple keys must be of type String. Actual type: EXPRESSION under {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a tuple with
/// a key twice. ValidationException.
pub fn duplicate_tuple_key(key: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("Duplicate keys in tuple. Key: {key} under {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `<<>>`.
/// ValidationException.
pub const EMPTY_BAG: &str = "Empty bags are not supported";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a bag of
/// something other than strings, numbers or binaries. ValidationException.
pub const BAG_TYPE: &str = "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a bag whose
/// members are not all of its first member's type; carries the member's type,
/// the set's (`String`, `Number`, `Binary`) and where it is.
/// ValidationException.
pub fn bag_member_type(
    member_type: impl std::fmt::Display,
    set: impl std::fmt::Display,
    at: impl std::fmt::Display,
) -> String {
    format!("Unexpected data type {member_type} in {set} Set under key {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an `IN`
/// whose left side is not a path, or whose right side is not a non-empty
/// list. ValidationException.
pub const IN_OPERANDS: &str = "IN operator must have a left hand argument of type Variable Reference and right hand argument of type Seq with at least one member";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `IS` on
/// something other than a path. ValidationException.
pub const IS_OPERAND: &str = "The left hand side argument to IS must be a Variable Reference, Literal, or Path";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `IS` with a
/// type DynamoDB does not store; carries it, and lists the types `IS`
/// accepts. ValidationException.
pub fn is_type(type_name: impl std::fmt::Display) -> String {
    format!(
        "Unsupported data type for IS operator: {type_name}. Supported data types are [MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
    )
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a function
/// that does not exist, with where it is. ValidationException.
pub fn unrecognized_function_at(function: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("Unrecognized function: {function} at {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a function
/// that does not exist, where no position is given. ValidationException.
pub fn unrecognized_function(function: impl std::fmt::Display) -> String {
    format!("Unrecognized function: {function}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a `WHERE`
/// that is not a condition. ValidationException.
pub const WHERE_NOT_BOOLEAN: &str = "WHERE clause must contain an expression that resolves to a boolean";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `MISSING`
/// compared with `=` or another operator. ValidationException.
pub const MISSING_COMPARED: &str = "MISSING must be compared using IS operator";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a condition
/// (`AND`, `OR`, `NOT`) as a comparison's operand. ValidationException.
pub const AND_OR_OPERANDS: &str = "The arguments to AND/OR must be Expressions";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SET_ADD` or
/// `SET_DELETE` (`operator` is `ADD` or `DELETE`) without two arguments.
/// ValidationException.
pub fn set_function_arguments(operator: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("SET_{operator} must have exactly two arguments at {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SET_ADD` or
/// `SET_DELETE` whose first argument is not the assignment's target.
/// ValidationException.
pub fn set_function_target(operator: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("The first argument to SET_{operator} must equal the assignment value at {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `SET_ADD` or
/// `SET_DELETE` whose second argument is not a set. ValidationException.
pub fn set_function_not_a_set(operator: impl std::fmt::Display, at: impl std::fmt::Display) -> String {
    format!("The second argument to SET_{operator} must be a value with type SET at {at}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an operator
/// an update value cannot use; carries it (`expression` for any other
/// expression). ValidationException.
pub fn unsupported_update_operator(operator: impl std::fmt::Display) -> String {
    format!("Unsupported operator in Update Expression. Operator: {operator}")
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: `IS` in an
/// update value. ValidationException.
pub const IS_IN_UPDATE: &str = "IS operator is not supported in update expressions";

/// ExecuteTransaction: a statement with `RETURNING`. ValidationException.
pub const TRANSACTION_RETURNING: &str = "RETURNING clause is not supported in ExecuteTransaction.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an INSERT
/// whose value is not a struct. ValidationException.
pub const INSERT_NOT_STRUCT: &str = "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a DELETE
/// returning other than `ALL OLD`; carries what it asked. ValidationException.
pub fn delete_returning(returning: impl std::fmt::Display) -> String {
    format!(
        "Invalid returning clause: RETURNING {returning} *. Only RETURNING ALL OLD * is allowed in DELETE statements."
    )
}

/// ExecuteStatement, BatchExecuteStatement: `EXISTS` outside a transaction.
/// ValidationException.
pub const EXISTS_OUTSIDE_TRANSACTION: &str = "EXISTS can only be used in ExecuteTransaction write requests.";

/// ExecuteTransaction: `EXISTS` of an index. ValidationException.
pub const TRANSACTION_INDEX_OPERATION: &str = "Operations on indices are not supported in transactions";

/// ExecuteTransaction: an `EXISTS` that is not a keyed read with a further
/// condition. ValidationException.
pub const EXISTS_SHAPE: &str = "EXISTS() must contain a single item read with additional condition";

/// ExecuteTransaction: a `SELECT` of an index. ValidationException.
pub const TRANSACTION_INDEX_READ: &str = "Reads on indices are not supported within transactions.";

/// ExecuteStatement, BatchExecuteStatement: a `SELECT` of a vector index
/// (read by SearchVectors alone). ValidationException. Tidepool's text.
pub const VECTOR_INDEX_SCAN: &str = "Scan operation not supported on this index type";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a `SELECT` of
/// an index the table does not have. ValidationException.
pub const NO_SUCH_INDEX: &str = "The table does not have the specified index";

/// ExecuteStatement, BatchExecuteStatement: a `SELECT` of an index whose key
/// has several attributes in a role. ValidationException.
pub const MULTI_ATTRIBUTE_KEY: &str =
    "PartiQL statements cannot be executed on tables with multi-attribute HASH keys or multi-attribute RANGE keys.";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a name
/// projected twice. ValidationException.
pub fn duplicate_projection(name: impl std::fmt::Display) -> String {
    format!("Duplicate identifiers in select clause: {name}")
}

/// ExecuteStatement, BatchExecuteStatement: a `SELECT` of a global secondary
/// index naming attributes it does not project. ValidationException.
pub fn gsi_does_not_project(index: impl std::fmt::Display, missing: impl std::fmt::Display) -> String {
    format!("One or more parameter values were invalid: Global secondary index {index} does not project [{missing}]")
}

/// ExecuteTransaction: a `SELECT` that is not a read of one item by its
/// whole key. ValidationException.
pub const TRANSACTION_SELECT_KEY: &str =
    "Select statements within ExecuteTransaction must specify the primary key in the where clause.";

/// BatchExecuteStatement: a `SELECT` that is not a read of one item by its
/// whole key. ValidationException.
pub const BATCH_SELECT_KEY: &str =
    "Select statements within BatchExecuteStatement must specify the primary key in the where clause.";

/// ExecuteStatement: a keyed `SELECT` of an index whose `WHERE` names
/// attributes the index does not store. ValidationException.
pub fn index_does_not_project_filter(index: impl std::fmt::Display, missing: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Secondary index {index} does not project one or more filter attributes: [{missing}]"
    )
}

/// ExecuteStatement: `ORDER BY` without `WHERE`. ValidationException.
pub const ORDER_BY_WITHOUT_WHERE: &str = "Must have WHERE clause in the statement when using ORDER BY clause.";

/// ExecuteStatement: `ORDER BY` in a `SELECT` that is not a query.
/// ValidationException.
pub const ORDER_BY_WITHOUT_HASH: &str =
    "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause.";

/// ExecuteStatement: `ORDER BY` an attribute outside the key.
/// ValidationException.
pub fn order_by_not_key(name: impl std::fmt::Display) -> String {
    format!("Variable reference {name} in ORDER BY clause must be part of the primary key")
}

/// ExecuteStatement: `ORDER BY` without the hash key when the `WHERE` names
/// several hash key values. ValidationException.
pub const ORDER_BY_HASH: &str =
    "Must have hash key in ORDER BY clause when more than one hash key condition specified in WHERE clause.";

/// ExecuteStatement: two key conditions of a `SELECT` that select the same
/// range. ValidationException.
pub const OVERLAPPING: &str = "Overlapping conditions with range keys are not supported in where clause";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a write's
/// `WHERE` with two different values for one key attribute.
/// ValidationException.
pub fn multiple_key_conditions(key: impl std::fmt::Display) -> String {
    format!("Multiple conditions on same key {key}. Only single item Update/Insert/Delete are supported")
}

// The requests around the statements (checked before any is parsed).

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an empty
/// `Statement`. ValidationException.
pub const STATEMENT_EMPTY: &str = "1 validation error detected: Value '' at 'statement' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an empty
/// `Parameters`. ValidationException.
pub const PARAMETERS_EMPTY: &str = "1 validation error detected: Value '[]' at 'parameters' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// BatchExecuteStatement, ExecuteTransaction: no statements (`member` is
/// `statements` or `transactStatements`). ValidationException.
pub fn no_statements(member: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// BatchExecuteStatement, ExecuteTransaction: more statements than the limit
/// (`member` is `statements` or `transactStatements`); carries the limit.
/// ValidationException.
pub fn too_many_statements(member: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// ExecuteStatement, ListContributorInsights: a `NextToken` that is empty,
/// too long, or not one Tidepool gave. ValidationException.
pub const INVALID_NEXT_TOKEN: &str = "Invalid NextToken";

/// ExecuteStatement: a `NextToken` given for another statement or other
/// parameters. ValidationException.
pub const NEXT_TOKEN_MISMATCH: &str = "NextToken does not match request";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: an INSERT of
/// an item whose key is taken (`DuplicateItemException`, and a
/// transaction's cancellation reason `DuplicateItem`).
pub const DUPLICATE_ITEM: &str = "Duplicate primary key exists in table";

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction: a write plan
/// of a kind no write runs (not reached). ValidationException. Tidepool's
/// text.
pub const UNSUPPORTED_WRITE: &str = "Unsupported operation in a write request";

/// ExecuteStatement: `ConsistentRead` on a global secondary index.
/// ValidationException.
pub const GSI_STRONG_READ: &str = "Strongly consistent read is not supported on Global Secondary Indexes";

/// BatchExecuteStatement: a `SELECT` that is not a read of one item.
/// ValidationException.
pub const SINGLE_ITEM_SELECT: &str = "Only single item select is supported";

/// BatchExecuteStatement: reads and writes in one batch. ValidationException.
pub const BATCH_READS_AND_WRITES: &str = "Read and write requests together in the same batch is not supported.";

/// ExecuteTransaction: a statement refused, named by its position; carries
/// the refusal ([`PartiqlError`]'s text). ValidationException.
pub fn in_transact_statement(position: impl std::fmt::Display, error: impl std::fmt::Display) -> String {
    format!("Validation failed in TransactStatements[{position}]: {error}")
}

/// ExecuteTransaction: reads and writes in one transaction.
/// ValidationException.
pub const TRANSACTION_READS_AND_WRITES: &str =
    "ExecuteTransaction API does not support both read and write operations in the same request.";

/// ExecuteTransaction: a read transaction with a statement that is not a
/// `SELECT` (not reached). ValidationException.
pub const TRANSACTION_UNSUPPORTED: &str = "Unsupported operation in transaction.";

/// ExecuteTransaction: an empty `ClientRequestToken` (not echoed, as
/// TransactWriteItems echoes it). ValidationException.
pub const TOKEN_TOO_SHORT: &str = "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// ExecuteTransaction: a `ClientRequestToken` longer than 36 characters.
/// ValidationException.
pub const TOKEN_TOO_LONG: &str = "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36";
