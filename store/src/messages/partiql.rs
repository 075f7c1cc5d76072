//! PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.
