//! Global tables: `ReplicaUpdates` and replicas in UpdateTable and
//! DescribeTable, multi-region strong consistency, the legacy 2017.11.29
//! operations, and replica auto scaling.
