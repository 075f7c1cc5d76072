//! Transactions: TransactWriteItems and TransactGetItems, their cancellation
//! reasons and idempotency tokens.
