//! Tables and their settings: CreateTable, UpdateTable, DeleteTable,
//! DescribeTable, ListTables, key schemas, secondary indexes, billing and
//! throughput, SSE, tags, Time to Live, resource policies, Contributor
//! Insights, Kinesis streaming destinations and the account's limits.
