//! Transactions: TransactWriteItems and TransactGetItems, their cancellation
//! reasons and idempotency tokens.

/// TransactWriteItems, TransactGetItems, ExecuteTransaction: the transaction
/// was cancelled; lists each item's reason code (`None`,
/// `ConditionalCheckFailed`, ...) in the request's order.
/// TransactionCanceledException.
pub fn canceled<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// TransactWriteItems (and a handler's deferred transaction): a
/// `ClientRequestToken` reused within the idempotency window with a
/// different request. IdempotentParameterMismatchException.
pub const TOKEN_MISMATCH: &str = "The request uses the same client token as a previous, but non-identical request.";

/// TransactWriteItems, TransactGetItems: an empty `TransactItems`; carries
/// the list as DynamoDB's Java front end prints it. ValidationException.
pub fn no_items(items: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '[{items}]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// TransactWriteItems, TransactGetItems: more `TransactItems` than the
/// limit; carries the list as DynamoDB's Java front end prints it, and the
/// limit. ValidationException.
pub fn too_many_items(items: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '[{items}]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// TransactWriteItems: an empty `ClientRequestToken`. ValidationException.
pub fn token_too_short(token: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{token}' at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// TransactWriteItems: a `ClientRequestToken` longer than 36 characters.
/// ValidationException.
pub fn token_too_long(token: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{token}' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36"
    )
}

/// TransactWriteItems: an action with none of `Put`, `Delete`, `Update`,
/// `ConditionCheck`. ValidationException.
pub const NO_ACTION: &str = "1 validation error detected: Value '' at 'transactItems' failed to satisfy constraint: TransactWriteRequest should contain Delete or Put or Update or ConditionCheck";

/// TransactWriteItems: an element of `TransactItems` with more than one of
/// `ConditionCheck`, `Put`, `Delete`, `Update` (checked over the whole list
/// before any table is looked up). ValidationException. The live
/// service's words as a user reported them (moto issue 5496, fixed in
/// moto 4.2 with this text).
pub const SEVERAL_ACTIONS: &str = "TransactItems can only contain one of Check, Put, Update or Delete";

/// TransactWriteItems, TransactGetItems, ExecuteTransaction: two actions on
/// one item. ValidationException.
pub const SAME_ITEM_TWICE: &str = "Transaction request cannot include multiple operations on one item";

/// TransactWriteItems: the items put exceed 4 MB in all. ValidationException.
pub const TOO_LARGE: &str = "Transaction request size cannot exceed 4 MB";

/// TransactGetItems: an action other than `Get`. ValidationException.
pub const ONLY_GET: &str = "TransactItems can only contain Get";
