//! On-demand backups (CreateBackup, DescribeBackup, ListBackups,
//! DeleteBackup, RestoreTableFromBackup) and point-in-time recovery
//! (UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime).

use std::fmt::Display;

// Tables, as these operations name them.

/// CreateBackup, DescribeContinuousBackups, UpdateContinuousBackups,
/// RestoreTableToPointInTime, ExportTableToPointInTime (its `TableArn`
/// echoed): the table does not exist. TableNotFoundException.
pub fn table_not_found(name: impl Display) -> String {
    format!("Table not found: {name}")
}

/// RestoreTableToPointInTime: the source named by `SourceTableArn` does
/// not exist (answered without its name). TableNotFoundException.
pub const TABLE_NOT_FOUND_BY_ARN: &str = "Table not found";

/// RestoreTableFromBackup, RestoreTableToPointInTime: another restore from
/// a backup is filling the target table. TableInUseException.
pub fn table_being_restored(target: impl Display, backup_arn: impl Display) -> String {
    format!("Table: {target} is already being restored from backup: {backup_arn}")
}

// Backups: found, in use, limits.

/// DescribeBackup, DeleteBackup, RestoreTableFromBackup: no backup has
/// that id (named by its ARN on the wire). BackupNotFoundException.
pub fn backup_not_found(backup: impl Display) -> String {
    format!("Backup not found: {backup}")
}

/// DeleteBackup, RestoreTableFromBackup: the backup is still being
/// created. BackupInUseException.
pub fn backup_being_created(backup: impl Display) -> String {
    format!("Backup is being created: {backup}")
}

/// DeleteBackup: a restore is reading the backup. BackupInUseException.
pub fn backup_restoring_table(backup: impl Display) -> String {
    format!("Backup is being used to restore table: {backup}")
}

/// RestoreTableFromBackup: another restore is reading the backup (one at
/// a time). BackupInUseException.
pub fn backup_restoring_another_table(backup: impl Display) -> String {
    format!("Backup is being used to restore another table: {backup}")
}

/// DeleteBackup of a SYSTEM backup: a restore is reading it.
/// BackupInUseException.
pub fn system_backup_restoring(backup: impl Display) -> String {
    format!("Backup is being restored to a table: {backup}")
}

/// DeleteBackup of a SYSTEM backup: an export is reading its table's
/// history. BackupInUseException. Tidepool's text.
pub fn system_backup_exporting(backup: impl Display) -> String {
    format!("Backup is being read by an export: {backup}")
}

/// DeleteBackup: a SYSTEM backup (of a table deleted with point-in-time
/// recovery on) expires on its own. ValidationException.
pub fn system_backup_not_deletable(arn: impl Display, expires: impl Display) -> String {
    format!(
        "Invalid Request: User is not allowed to delete the system backup with arn {arn}. It will automatically expire on {expires}"
    )
}

/// CreateBackup: more backups wait to be written than the queue holds.
/// LimitExceededException. Tidepool's text.
pub fn too_many_backups_queued(max: impl Display) -> String {
    format!("Too many backups in progress: at most {max} wait to be written; retry later")
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: `max` restores are in
/// progress (the live service's text, with its 50: DDB-TABLE-350 and
/// the LimitExceededException catalogue of DDB-TABLE-443).
/// LimitExceededException.
pub fn too_many_restores(max: impl Display) -> String {
    format!("Subscriber limit exceeded: Only {max} restore operations can be done simultaneously")
}

/// ImportTable: every backup, restore and import slot is taken.
/// LimitExceededException. Tidepool's text.
pub fn too_many_backup_jobs(max: impl Display) -> String {
    format!("Too many backup and restore operations in progress: at most {max} run at once; retry later")
}

/// CreateBackup, RestoreTableFromBackup: the backup's writer or the
/// restore's load stopped as the server shuts down (logged; the backup is
/// removed, the restore starts again at the next open).
/// InternalServerError. Tidepool's text.
pub const SHUTTING_DOWN: &str = "The server is shutting down";

/// RestoreTableFromBackup: the backup's file fails its checks; `why` says
/// which (Tidepool's own account of the file). InternalServerError.
/// Tidepool's text.
pub fn backup_damaged(path: impl Display, why: impl Display) -> String {
    format!("The backup file {path} is damaged: {why}; it cannot be restored")
}

// Backup ARNs and the members these operations share.

/// DescribeBackup, DeleteBackup, RestoreTableFromBackup: `BackupArn` is
/// not a backup's ARN. ValidationException.
pub const INVALID_BACKUP_ARN: &str = "Invalid Backup ARN";

/// DescribeBackup, DeleteBackup, RestoreTableFromBackup: `BackupArn` names
/// an unknown partition, service or region. ValidationException.
pub const BACKUP_ARN_NOT_VALID: &str = "Invalid Request: BackupArn is not valid";

/// DescribeBackup, DeleteBackup, RestoreTableFromBackup,
/// ExportTableToPointInTime: the ARN is another account's.
/// AccessDeniedException.
pub const ACCESS_DENIED: &str = "Access is denied";

/// CreateBackup, DescribeBackup, DeleteBackup, ListBackups,
/// RestoreTableFromBackup, RestoreTableToPointInTime,
/// DescribeContinuousBackups, UpdateContinuousBackups, DescribeExport,
/// DescribeImport: a name or ARN member shorter than `min`. One violation
/// of the ValidationException envelope.
pub fn length_too_short(value: impl Display, member: impl Display, min: impl Display) -> String {
    format!(
        "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
    )
}

/// The backup operations, ExportTableToPointInTime and ImportTable (the
/// bucket): a name or ARN member longer than `max`. One violation of the
/// ValidationException envelope.
pub fn length_too_long(value: impl Display, member: impl Display, max: impl Display) -> String {
    format!(
        "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

/// CreateBackup, ListBackups, RestoreTableFromBackup,
/// RestoreTableToPointInTime, DescribeContinuousBackups,
/// UpdateContinuousBackups: a table or backup name holds a character
/// outside `[a-zA-Z0-9_.-]`, or is empty. One violation of the
/// ValidationException envelope.
pub fn name_pattern_violation(value: impl Display, member: impl Display) -> String {
    format!(
        "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    )
}

// ListBackups.

/// ListBackups: `Limit` under `min`. ValidationException.
pub fn list_backups_limit_too_small(limit: impl Display, min: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to {min}"
    )
}

/// ListBackups: `TimeRangeLowerBound` is after `TimeRangeUpperBound`.
/// ValidationException.
pub const TIME_RANGE_REVERSED: &str =
    "One or more parameter values were invalid: Time range lower bound must be less than or equal to upper bound";

/// ListBackups: `ExclusiveStartBackupArn` is of another region.
/// ValidationException.
pub const START_ARN_OTHER_REGION: &str =
    "Invalid Request: The supplied ExclusiveStartBackupArn does not match the region";

// Restores: the target and the overrides.

/// RestoreTableFromBackup: `TargetTableName` shorter than 3 or longer than
/// 255 characters. CreateGlobalTable, DescribeGlobalTable, UpdateGlobalTable:
/// a global table name so. ValidationException.
pub const TARGET_NAME_LENGTH: &str = "TableName must be at least 3 characters long and at most 255 characters long";

/// RestoreTableFromBackup, RestoreTableToPointInTime: `BillingModeOverride`
/// is not a billing mode. ValidationException.
pub fn billing_mode_override_not_in_set(value: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{value}' at 'billingModeOverride' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
    )
}

/// RestoreTableFromBackup, RestoreTableToPointInTime:
/// `ProvisionedThroughputOverride` with `BillingModeOverride`
/// PAY_PER_REQUEST. ValidationException.
pub const THROUGHPUT_OVERRIDE_ON_DEMAND: &str =
    "Invalid Request: Cannot override ProvisionedThroughput if BillingMode is overridden to PAY_PER_REQUEST";

/// RestoreTableFromBackup, RestoreTableToPointInTime:
/// `ProvisionedThroughputOverride` for a source billed PAY_PER_REQUEST,
/// without `BillingModeOverride`. ValidationException.
pub const THROUGHPUT_OVERRIDE_NOT_PROVISIONED: &str =
    "Invalid Request: Cannot override ProvisionedThroughput unless BillingMode is PROVISIONED";

/// RestoreTableFromBackup, RestoreTableToPointInTime: an
/// `OnDemandThroughputOverride` member (`MaxReadRequestUnits`,
/// `MaxWriteRequestUnits`) for a PROVISIONED table. ValidationException.
pub fn on_demand_override_not_on_demand(member: impl Display) -> String {
    format!(
        "Invalid Request: Cannot override {member} for OnDemandThroughput unless BillingModeOverride is PAY_PER_REQUEST"
    )
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: PROVISIONED without
/// a throughput (neither overridden nor the source's). ValidationException.
pub const THROUGHPUT_OVERRIDE_REQUIRED: &str =
    "Invalid Request: Must override ProvisionedThroughput if BillingMode is overridden to PROVISIONED";

/// RestoreTableFromBackup, RestoreTableToPointInTime: a
/// `GlobalSecondaryIndexOverride` index without throughput for a
/// PROVISIONED table. ValidationException.
pub fn index_throughput_required(index: impl Display) -> String {
    format!("Invalid Request: Must specify provisioned throughput for index {index}")
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: a
/// `GlobalSecondaryIndexOverride` index with throughput for a
/// PAY_PER_REQUEST table. ValidationException.
pub fn index_throughput_on_demand(index: impl Display) -> String {
    format!(
        "Invalid Request: Cannot override ProvisionedThroughput if BillingMode is overridden to PAY_PER_REQUEST for index {index}"
    )
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: an index override
/// (secondary or vector) matches no index of the source.
/// ValidationException.
pub fn no_such_source_index(index: impl Display) -> String {
    format!(
        "Invalid Request: Index {index} does not match a secondary index that existed in the source table and cannot be created during the restore operation"
    )
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: a source of another
/// region without `SSESpecificationOverride`. ValidationException.
pub const CROSS_REGION_NEEDS_SSE: &str =
    "Invalid Request: sseSpecificationOverride must be provided for cross-region restores";

// Point-in-time recovery.

/// RestoreTableToPointInTime, ExportTableToPointInTime: the table has
/// point-in-time recovery off. PointInTimeRecoveryUnavailableException.
pub fn pitr_not_enabled(table: impl Display) -> String {
    format!("Point in time recovery is not enabled for table '{table}'")
}

/// UpdateContinuousBackups: `PointInTimeRecoverySpecification` missing.
/// ValidationException.
pub const PITR_SPECIFICATION_NULL: &str = "1 validation error detected: Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: Member must not be null";

/// UpdateContinuousBackups: `PointInTimeRecoveryEnabled` missing.
/// ValidationException.
pub const PITR_ENABLED_NULL: &str = "1 validation error detected: Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null";

/// UpdateContinuousBackups: `RecoveryPeriodInDays` under `min`.
/// ValidationException.
pub fn recovery_period_too_short(days: impl Display, min: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{days}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to {min}"
    )
}

/// UpdateContinuousBackups: `RecoveryPeriodInDays` over `max`.
/// ValidationException.
pub fn recovery_period_too_long(days: impl Display, max: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{days}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to {max}"
    )
}

/// UpdateContinuousBackups: `RecoveryPeriodInDays` while disabling
/// point-in-time recovery. ValidationException.
pub const RECOVERY_PERIOD_WHEN_DISABLING: &str =
    "Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.";

/// UpdateContinuousBackups: disabling point-in-time recovery while a
/// restore reads the table's history. ResourceInUseException. Tidepool's
/// text.
pub fn pitr_disable_while_restoring(table: impl Display) -> String {
    format!(
        "Table {table} is being restored to another table; point-in-time recovery cannot be disabled until it finishes"
    )
}

/// RestoreTableToPointInTime: `SourceTableArn` begins with `arn:` but is
/// not an ARN, or is not a table's. ValidationException.
pub const SOURCE_ARN_INVALID: &str = "One or more parameter values were invalid: sourceTableArn is not a valid ARN";

/// RestoreTableToPointInTime: both `RestoreDateTime` and
/// `UseLatestRestorableTime`. ValidationException.
pub const BOTH_RESTORE_TIMES: &str = "Invalid Request: Both RestoreDateTime and UseLatestRestorableTime cannot be set for point-in-time restore request. Please specify either RestoreDateTime time or UseLatestRestorableTime";

/// RestoreTableToPointInTime: neither `RestoreDateTime` nor
/// `UseLatestRestorableTime`. ValidationException.
pub const NO_RESTORE_TIME: &str =
    "Invalid Request: Either one of RestoreDateTime or UseLatestRestorableTime must be specified, but not both";

/// RestoreTableToPointInTime: both `SourceTableArn` and `SourceTableName`.
/// ValidationException.
pub const BOTH_SOURCES: &str = "Must provide exactly one of: sourceTableArn, sourceTableName";

/// RestoreTableToPointInTime: neither `SourceTableArn` nor
/// `SourceTableName`. ValidationException.
pub const NO_SOURCE: &str = "The parameter 'TableName' is required but was not present in the request";

/// RestoreTableToPointInTime: `RestoreDateTime` outside the restorable
/// window (times as `2026-10-06T23:16:32Z`). InvalidRestoreTimeException.
pub fn restore_time_outside_window(at: impl Display, earliest: impl Display, latest: impl Display) -> String {
    format!(
        "RestoreDateTime '{at}' must be within EarliestRestorableDateTime '{earliest}' and LatestRestorableDateTime '{latest}'"
    )
}

/// RestoreTableToPointInTime, ExportTableToPointInTime: the table's
/// history does not reach back to the requested time (a restore's or
/// export's failure). ValidationException. Tidepool's text.
pub fn history_too_short(table_id: impl Display) -> String {
    format!("point-in-time recovery of table {table_id} does not reach back to the requested time")
}

/// RestoreTableToPointInTime, ExportTableToPointInTime: point-in-time
/// recovery was switched off while the history was read (a restore's or
/// export's failure). ResourceInUseException. Tidepool's text.
pub fn history_switched_off(table_id: impl Display) -> String {
    format!("point-in-time recovery of table {table_id} was switched off while its history was read")
}

/// RestoreTableFromBackup, RestoreTableToPointInTime: `MaxReadRequestUnits`
/// or `MaxWriteRequestUnits` (`member`) of `OnDemandThroughputOverride`
/// below 1. ValidationException.
pub fn on_demand_out_of_range(member: impl std::fmt::Display) -> String {
    format!("Invalid Request: Requested {member} for OnDemandThroughput is outside of valid range")
}
