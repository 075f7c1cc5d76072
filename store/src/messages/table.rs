//! Tables and their settings: CreateTable, UpdateTable, DeleteTable,
//! DescribeTable, ListTables, key schemas, secondary indexes, billing and
//! throughput, SSE, tags, Time to Live, resource policies, Contributor
//! Insights, Kinesis streaming destinations and the account's limits.

/// GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, the batch and
/// transaction operations, and the other operations on an open table: the
/// table does not exist (or is still being restored).
/// ResourceNotFoundException.
pub const RESOURCE_NOT_FOUND: &str = "Requested resource not found";

/// DescribeTable, DeleteTable, UpdateTable and the other operations that
/// name a table: the table does not exist. ResourceNotFoundException.
pub fn table_not_found(table: impl std::fmt::Display) -> String {
    format!("Requested resource not found: Table: {table} not found")
}

/// CreateTable, RestoreTableFromBackup, RestoreTableToPointInTime: a restore
/// is filling a table of that name. ResourceInUseException.
pub fn table_being_used(table: impl std::fmt::Display) -> String {
    format!("Table is being used: {table}")
}

/// CreateTable: a table of that name exists. ResourceInUseException.
pub fn table_already_exists(table: impl std::fmt::Display) -> String {
    format!("Table already exists: {table}")
}

/// DeleteTable, UpdateTable and other changes of a table: the table is
/// still `CREATING` (restored or imported). ResourceInUseException.
pub fn table_being_created(table: impl std::fmt::Display) -> String {
    format!("Attempt to change a resource which is still in use: Table is being created: {table}")
}

/// DeleteTable: deletion protection is on. ValidationException.
pub const DELETION_PROTECTED: &str =
    "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.";

/// DeleteTable: a backup of the table is being made.
/// ResourceInUseException.
pub fn table_being_backed_up(table: impl std::fmt::Display) -> String {
    format!("Attempt to change a resource which is still in use: Table is being backed up: {table}")
}

/// UpdateTable: `StreamSpecification` enables a stream on a table that has
/// one. ValidationException.
pub fn stream_already_enabled(table: impl std::fmt::Display) -> String {
    format!("Table already has an enabled stream: TableName: {table}")
}

/// UpdateTable: `StreamSpecification` disables a stream on a table that has
/// none. ValidationException.
pub fn no_stream_to_disable(table: impl std::fmt::Display) -> String {
    format!("Table has no stream to disable: TableName: {table}")
}

/// UpdateTable: a `Create` in `GlobalSecondaryIndexUpdates` names an index
/// the table has. ValidationException.
pub const INDEX_ALREADY_EXISTS: &str = "Attempting to create an index which already exists";

/// UpdateTable: a `Create` in `GlobalSecondaryIndexUpdates` would exceed the
/// per-table limit of global secondary indexes; carries the limit.
/// LimitExceededException.
pub fn too_many_gsis(limit: impl std::fmt::Display) -> String {
    format!("Subscriber limit exceeded: Number of global secondary indexes exceeds per-table limit of {limit}")
}

/// UpdateTable: a `Delete` in `GlobalSecondaryIndexUpdates` names an index
/// the table does not have. ResourceNotFoundException.
pub fn index_not_found(index: impl std::fmt::Display, table: impl std::fmt::Display) -> String {
    format!("Requested resource not found: Index {index} for table {table}")
}

/// UpdateTable: a `Delete` in `GlobalSecondaryIndexUpdates` names a local
/// secondary index. ValidationException.
pub fn delete_not_global_index(index: impl std::fmt::Display) -> String {
    format!("Cannot delete an index that is not a GlobalSecondaryIndex: {index}")
}

/// UpdateTable: `ProvisionedThroughput` on a table that is (or becomes)
/// `PAY_PER_REQUEST`. ValidationException.
pub const THROUGHPUT_WITH_PAY_PER_REQUEST: &str = "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST";

/// UpdateTable: a switch to `PROVISIONED` without `ProvisionedThroughput`.
/// ValidationException.
pub const PROVISIONED_WITHOUT_THROUGHPUT: &str = "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED";

/// UpdateTable: an index created or deleted while another is being created
/// on the same table. LimitExceededException.
pub const ONE_ONLINE_INDEX: &str =
    "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table";

/// UpdateTable: a decrease of provisioned throughput beyond the day's free
/// decreases, within the interval after the last; the times are seconds
/// since the epoch, written out in UTC. LimitExceededException.
pub fn throughput_decreases_limited(
    free_decreases: impl std::fmt::Display,
    interval_secs: impl std::fmt::Display,
    today: impl std::fmt::Display,
    last: f64,
    next: f64,
) -> String {
    let date = |secs: f64| {
        chrono::DateTime::from_timestamp(secs as i64, 0)
            .map(|d| d.format("%A, %B %-d, %Y at %-I:%M:%S %p Coordinated Universal Time").to_string())
            .unwrap_or_default()
    };
    format!(
        "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. \
         After the first {free_decreases} decreases, each subsequent decrease in the same UTC day can be performed at most \
         once every {interval_secs} seconds. Number of decreases today: {today}. Last decrease at {}. Next decrease can be \
         made at {}",
        date(last),
        date(next),
    )
}

/// CreateTable, UpdateTable, and the operations that name a table or an
/// index: a name shorter than 3 characters; `field` is the member path.
/// ValidationException.
pub fn name_too_short(name: impl std::fmt::Display, field: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 3"
    )
}

/// CreateTable, UpdateTable, and the operations that name a table or an
/// index: a name longer than 255 characters; `field` is the member path.
/// ValidationException.
pub fn name_too_long(name: impl std::fmt::Display, field: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to 255"
    )
}

/// CreateTable, UpdateTable, and the operations that name a table or an
/// index: a name with a character outside `[a-zA-Z0-9_.-]`; `field` is the
/// member path. ValidationException.
pub fn name_pattern(name: impl std::fmt::Display, field: impl std::fmt::Display) -> String {
    format!(
        "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    )
}
