//! The store's error type. Client mistakes and domain outcomes (validation,
//! failed conditions, missing tables) are distinct from internal failures so
//! the wire layer can give each its DynamoDB `__type`.

use crate::value::Item;

/// Why a transaction item was cancelled, in the order of the request's items.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    /// `None`, `ConditionalCheckFailed`, `ValidationError`, `TransactionConflict`, ...
    pub code: &'static str,
    pub message: Option<String>,
    /// The item as it was, when the caller asked for it on condition failure.
    pub item: Option<Item>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The request is malformed or violates a limit (DynamoDB `ValidationException`).
    #[error("{0}")]
    Validation(String),
    /// A table or index does not exist (DynamoDB `ResourceNotFoundException`).
    #[error("{0}")]
    ResourceNotFound(String),
    /// The table already exists or is being changed (DynamoDB `ResourceInUseException`).
    #[error("{0}")]
    ResourceInUse(String),
    /// A limit on tables or indexes was reached (`LimitExceededException`).
    #[error("{0}")]
    LimitExceeded(String),
    /// A ConditionExpression evaluated to false. Carries the item as it was,
    /// for `ReturnValuesOnConditionCheckFailure`.
    #[error("{}", crate::messages::item::CONDITIONAL_CHECK_FAILED)]
    ConditionalCheckFailed { item: Option<Item> },
    /// A transaction was cancelled; one reason per request item.
    #[error("{}", crate::messages::transaction::canceled(.0.iter().map(|r| r.code)))]
    TransactionCanceled(Vec<CancellationReason>),
    /// A control-plane refusal DynamoDB names with its own error type, such
    /// as `BackupNotFoundException` or `TableAlreadyExistsException` (all
    /// status 400); `kind` is that type.
    #[error("{message}")]
    Refused { kind: &'static str, message: String },
    /// The same ClientRequestToken was reused with a different request.
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// A stream read started before the oldest retained record
    /// (DynamoDB Streams `TrimmedDataAccessException`).
    #[error("{0}")]
    TrimmedDataAccess(String),
    /// The disk holds data we cannot decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A storage failure left the journal's state unknown; writes are
    /// refused, before anything of them is staged, until the server
    /// reopens the store (see `src/recovery.rs`).
    #[error("{0}")]
    Poisoned(WriteFailure),
    /// This write was committed, but handing it to the disk failed: it
    /// may or may not survive the reopen (a batch handed over in full just
    /// before the failure does). Its outcome is unknown, as after a 500.
    #[error("the write's outcome is unknown: {0}")]
    Unacknowledged(WriteFailure),
    /// The data directory could not be opened (held by another process,
    /// not readable): says which and why.
    #[error("{0}")]
    Open(String),
    /// The storage engine failed.
    #[error("storage engine: {0}")]
    Storage(#[from] fjall::Error),
}

impl StoreError {
    pub fn validation(msg: impl Into<String>) -> Self {
        StoreError::Validation(msg.into())
    }

    /// True when the client caused this and can fix it.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            StoreError::Corrupt(_)
                | StoreError::Poisoned(_)
                | StoreError::Unacknowledged(_)
                | StoreError::Storage(_)
                | StoreError::Open(_)
        )
    }
}

impl From<crate::value::CodecError> for StoreError {
    fn from(e: crate::value::CodecError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Why the store stopped taking writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The disk (or a quota, or a file-size limit) had no room for a write:
    /// once there is room again, a reopened store takes writes.
    OutOfSpace,
    /// Any other failure of the disk or the engine.
    Storage,
}

impl WriteFailure {
    /// Classifies the I/O error behind a failed write.
    pub fn of_io(e: &std::io::Error) -> WriteFailure {
        use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        // ENOSPC, EDQUOT, EFBIG (a `ulimit -f` file-size limit).
        if matches!(e.kind(), StorageFull | QuotaExceeded | FileTooLarge) {
            WriteFailure::OutOfSpace
        } else {
            WriteFailure::Storage
        }
    }

    /// Classifies a failed fjall call on the data directory `dir`. fjall
    /// reports a write after a failed flush in its workers only as
    /// "poisoned"; the file system then tells whether it is out of room.
    pub fn of_fjall(e: &fjall::Error, dir: &std::path::Path) -> WriteFailure {
        match e {
            fjall::Error::Io(e) => WriteFailure::of_io(e),
            fjall::Error::Storage(fjall::LsmError::Io(e)) => WriteFailure::of_io(e),
            _ => match crate::space::headroom(dir) {
                Err(e) => WriteFailure::of_io(&e),
                Ok(_) => WriteFailure::Storage,
            },
        }
    }
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteFailure::OutOfSpace => "writes are paused: the data directory is out of space",
            WriteFailure::Storage => "writes are paused after a storage failure",
        })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
