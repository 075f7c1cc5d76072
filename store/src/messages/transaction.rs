//! Transactions: TransactWriteItems and TransactGetItems, their cancellation
//! reasons and idempotency tokens.

/// TransactWriteItems (and a handler's deferred transaction): a
/// `ClientRequestToken` reused with a different request.
/// IdempotentParameterMismatchException.
pub const CLIENT_TOKEN_REUSED: &str =
    "The request uses the same client token as a previous, but non-identical request.";
