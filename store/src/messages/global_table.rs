//! Global tables: `ReplicaUpdates` and replicas in UpdateTable and
//! DescribeTable, multi-region strong consistency, the legacy 2017.11.29
//! operations, and replica auto scaling.

/// Replication between regions (Tidepool's internal apply of another
/// region's changes): the table is not a replica of a global table here.
/// ValidationException. Tidepool's text.
pub fn not_global_table(table: impl std::fmt::Display) -> String {
    format!("Table {table} is not a global table in this region")
}

/// Replication between regions: a replicated change whose item's key is not
/// the change's key. ValidationException. Tidepool's text.
pub const CHANGE_KEY_MISMATCH: &str = "The item's key is not the change's key";
