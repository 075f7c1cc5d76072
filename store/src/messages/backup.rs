//! On-demand backups (CreateBackup, DescribeBackup, ListBackups,
//! DeleteBackup, RestoreTableFromBackup) and point-in-time recovery
//! (UpdateContinuousBackups, DescribeContinuousBackups,
//! RestoreTableToPointInTime).
