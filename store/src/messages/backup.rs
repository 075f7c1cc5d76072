//! On-demand backups (CreateBackup, DescribeBackup, ListBackups,
//! DeleteBackup, RestoreTableFromBackup) and point-in-time recovery
//! (UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime).

/// RestoreTableFromBackup, RestoreTableToPointInTime: `MaxReadRequestUnits`
/// or `MaxWriteRequestUnits` (`member`) of `OnDemandThroughputOverride`
/// below 1. ValidationException.
pub fn on_demand_out_of_range(member: impl std::fmt::Display) -> String {
    format!("Invalid Request: Requested {member} for OnDemandThroughput is outside of valid range")
}
