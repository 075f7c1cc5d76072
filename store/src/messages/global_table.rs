//! Global tables: `ReplicaUpdates` and replicas in UpdateTable and
//! DescribeTable, multi-region strong consistency, the legacy 2017.11.29
//! operations, and replica auto scaling.

use std::fmt::Display;

// Replicas (version 2019.11.21): UpdateTable's `ReplicaUpdates`.

/// UpdateTable: `ReplicaUpdates` with another change. ValidationException.
pub const REPLICA_CHANGE_ALONE: &str =
    "One or more parameter values were invalid: Replica modification must be the only operation in the request";

/// UpdateTable: witnesses or MultiRegionConsistency with another change,
/// or without `ReplicaUpdates`. ValidationException.
pub const REPLICAS_OR_WITNESSES_ALONE: &str = "One or more parameter values were invalid: Requests that modify replicas or witnesses must not also modify other fields";

/// UpdateTable: an element of `ReplicaUpdates` with two actions.
/// ValidationException.
pub const TWO_REPLICA_ACTIONS: &str = "Update table operation with more than one type of replica actions not allowed.";

/// UpdateTable: an element of `ReplicaUpdates` with no action (or an
/// `Update` of nothing). ValidationException.
pub const NO_REPLICA_ACTION: &str = "There are no actions specified in the Replica Update Action of the request.";

/// UpdateTable: a replica `Create` without its region; UpdateGlobalTable:
/// a replica update with neither action. ValidationException.
pub const PARAMETER_VALUES_INVALID: &str = "One or more parameter values were invalid";

/// UpdateTable: a replica `Update` naming KMSMasterKeyId; a `Create`
/// without one on a table with a customer managed key, or with one on a
/// table with the AWS owned key (DDB-TABLE-309, -307). ValidationException.
pub const REPLICA_KMS_KEY: &str =
    "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica.";

/// UpdateTable: a replica `Create` whose KMSMasterKeyId is of another
/// kind than the table's key (the AWS managed key on a table with a
/// customer managed one, or the reverse). ValidationException.
pub const REPLICA_KEY_KINDS_MIXED: &str = "All replica keys must either be Customer Managed CMK or AWS Managed CMK.";

/// UpdateTable: more than one replica created or deleted in one request.
/// ValidationException.
pub const ONE_REPLICA_CREATE_OR_DELETE: &str =
    "Update table operation with more than one create or delete replica actions not allowed";

/// UpdateTable: replicas (`regions`) deleted or updated that the table
/// does not have. ValidationException.
pub fn not_replicas(regions: &[&str]) -> String {
    format!(
        "Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [{}].",
        regions.join(", ")
    )
}

/// UpdateTable: witnesses (`regions`) deleted that the table does not
/// have. ValidationException.
pub fn not_witnesses(regions: &[&str]) -> String {
    format!(
        "Update global table operation failed because one or more witnesses were not part of the global table. Please retry the request without these witnesses: [{}].",
        regions.join(", ")
    )
}

/// UpdateTable: a replica of this region created or deleted.
/// ValidationException.
pub const LOCAL_REGION: &str = "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.";

/// UpdateTable: a replica in a region this server has no peer for (or an
/// empty region), listing the `regions` it has. ValidationException.
///
/// DynamoDB's words, and then Tidepool's hint (`hint`: [`peers_hint`], or
/// nothing for an empty region).
pub fn unsupported_region(region: impl Display, regions: &[String], hint: impl Display) -> String {
    format!(
        "Region {region} is not supported. The latest version of global tables are only supported in the following regions: [{}].{hint}",
        regions.join(", ")
    )
}

/// UpdateTable: how [`unsupported_region`] tells how to give `region` a
/// peer. Tidepool's text.
pub fn peers_hint(region: impl Display) -> String {
    format!(" (Tidepool: give a region's endpoint with --peers {region}=http://host:port)")
}

/// UpdateTable, DeleteTable: a replica being added or removed.
/// ResourceInUseException.
pub const IN_USE: &str = "The resource which you are attempting to change is in use.";

/// UpdateTable: `GlobalTableSettingsReplicationMode`
/// `ENABLED_WITH_OVERRIDES`, which only DynamoDB sets. ValidationException
/// (DDB-TABLE-048, recorded on a regional table; the catalogue's summary of
/// its messages gives the whole text).
pub const SETTINGS_REPLICATION_WITH_OVERRIDES: &str = "Value 'ENABLED_WITH_OVERRIDES' at 'GlobalTableSettingsReplicationMode' failed to satisfy constraint: Only ENABLED and DISABLED settings replication are supported for a Regional Table.";

/// DeleteTable: the table is a replica its source region is still making.
/// ResourceInUseException (DDB-TABLE-298).
pub fn replica_being_made(name: impl Display) -> String {
    format!("Attempt to change a resource which is still in use: Table: {name} is being used.")
}

/// UpdateTable: a replica created in a region where the table exists.
/// ValidationException.
///
/// The live service's words, "a the" and curly quotes included.
pub fn replica_exists(name: impl Display) -> String {
    format!(
        "Failed to create a the new replica of table with name: \u{2018}{name}\u{2019} because one or more replicas already existed as tables."
    )
}

/// UpdateTable: a replica of a provisioned table whose write capacity is
/// not auto scaled. ValidationException.
pub const TABLE_WRITES_NOT_SCALED: &str = "Table write capacity should either be Pay-Per-Request or AutoScaled.";

/// UpdateTable: a replica of a provisioned table whose global index's
/// write capacity is not auto scaled. ValidationException.
pub const INDEX_WRITES_NOT_SCALED: &str = "GSI write capacity should either be Pay-Per-Request or AutoScaled.";

/// UpdateTable: a replica `Update` with ProvisionedThroughputOverride on
/// an on-demand table. ValidationException.
pub const READ_OVERRIDE_ON_DEMAND: &str =
    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST";

/// UpdateTable: a replica `Create` or `Update` with an
/// `OnDemandThroughputOverride` (the table's or an index's) on a
/// provisioned table. ValidationException.
pub const MAX_READ_OVERRIDE_ON_PROVISIONED: &str =
    "MaxReadRequestUnits for OnDemandThroughput cannot be specified when the table BillingMode is PROVISIONED";

/// UpdateTable: `MaxReadRequestUnits` of an `OnDemandThroughputOverride`
/// below 1 (and not -1). ValidationException.
pub const MAX_READ_OVERRIDE_OUT_OF_RANGE: &str = "One or more parameter values were invalid: Requested MaxReadRequestUnits for OnDemandThroughputOverride is outside of valid range";

/// DeleteTable, UpdateTable: a region that added a replica in the last 24
/// hours deleted. ValidationException.
pub const RECENT_SOURCE: &str = "Replica cannot be deleted because it has acted as a source region for new replica(s) being added to the table in the last 24 hours.";

/// DeleteTable, UpdateTable: a replica whose table has deletion protection
/// (in its own region). ValidationException.
pub fn protected_replica(name: impl Display, region: impl Display) -> String {
    format!(
        "Cannot delete table {name} in region {region} because it has deletion protection enabled. Disable deletion protection first."
    )
}

/// UpdateTable: a strongly consistent table's replicas deleted while a
/// region does not answer whether its replica may go. InternalServerError.
/// Tidepool's text.
pub fn protection_unknown(region: impl Display, name: impl Display) -> String {
    format!("Region {region} did not answer whether its replica of table {name} may be deleted; try again")
}

/// UpdateTable: the stream of a global table's replica disabled.
/// ValidationException.
pub const STREAM_OF_REPLICA: &str =
    "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica.";

/// UpdateTable: a vector index created or deleted on a global table.
/// ValidationException. Tidepool's text.
pub fn vector_index_on_replicas(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} has replicas: Tidepool does not carry vector index changes to other regions yet, so a global table's vector indexes cannot be created or deleted"
    )
}

/// UpdateTable: an index created or deleted on a replica of a 2017.11.29
/// global table. ValidationException. Tidepool's text.
pub fn index_on_legacy_replica(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} is a replica of a version 2017.11.29 global table, whose indexes are made in each region"
    )
}

/// UpdateTable: `ReplicaUpdates` on a replica of a 2017.11.29 global
/// table. ValidationException. Tidepool's text.
pub fn replica_updates_on_legacy(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} is a replica of a version 2017.11.29 global table: use UpdateGlobalTable"
    )
}

// Multi-Region strong consistency.

/// UpdateTable: MultiRegionConsistency STRONG asked with other than two
/// other regions, or a replica added to a strongly consistent table with
/// it. ValidationException.
pub const STRONG_REPLICA_COUNT: &str =
    "Unsupported replica count for global tables with MultiRegionConsistency set to STRONG.";

/// UpdateTable: a witness in this region. ValidationException.
pub const WITNESS_IN_LOCAL_REGION: &str = "Cannot add a witness in the same region as an existing replica when creating a global table with MultiRegionConsistency set to STRONG.";

/// UpdateTable: a region that is both a replica and a witness.
/// ValidationException.
pub const SAME_REGION_TWICE: &str = "Cannot target multiple regions with the same action";

/// UpdateTable: MultiRegionConsistency asked of a table that has replicas.
/// ValidationException.
pub const CONSISTENCY_ON_EXISTING: &str = "MultiRegionConsistency parameter is unsupported on existing global table";

/// UpdateTable: MultiRegionConsistency STRONG asked of a table with items.
/// ValidationException. Tidepool's text.
pub fn strong_needs_empty_table(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} must be empty to be given MultiRegionConsistency STRONG"
    )
}

/// UpdateTable: MultiRegionConsistency STRONG asked of a table whose
/// stream's view type is not NEW_AND_OLD_IMAGES. ValidationException.
pub const STRONG_NEEDS_BOTH_IMAGES: &str = "One or more parameter values were invalid: Table must have DynamoDB Streams enabled with StreamViewType set to NEW_AND_OLD_IMAGES";

/// UpdateTable: witnesses without MultiRegionConsistency STRONG.
/// ValidationException.
pub const WITNESSES_NEED_STRONG: &str =
    "MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates parameter is present.";

/// UpdateTable: MultiRegionConsistency with replica actions other than
/// `Create`. ValidationException.
pub const CONSISTENCY_ONLY_WITH_CREATES: &str =
    "Only Replica Create actions are supported when MultiRegionConsistency parameter is provided.";

/// UpdateTable: a replica or witness added to a strongly consistent table.
/// ValidationException.
pub const NO_REPLICAS_ADDED_TO_STRONG: &str =
    "Cannot add replicas to a global table with strong MultiRegionConsistency";

/// UpdateTable: a strongly consistent table's replicas deleted without
/// all its witnesses. ValidationException.
pub const DELETE_ALL_WITNESSES: &str = "Update table delete operation does not include all witnesses.";

/// DeleteTable, UpdateTable: one replica of a strongly consistent table
/// deleted (they go all together). ValidationException.
pub const DELETE_ALL_STRONG_REPLICAS: &str =
    "Deletion of only one table replica is not supported for global tables with MultiRegionConsistency set to STRONG.";

/// PutItem, UpdateItem, DeleteItem, BatchWriteItem, PartiQL writes: an item
/// being written by a request in another region.
/// ReplicatedWriteConflictException.
pub const WRITE_CONFLICT: &str = "The request was rejected because one or more items in the request are being modified by a request in another Region.";

/// The writes of a strongly consistent table: too many of its items being
/// written at once. ThrottlingException. Tidepool's text.
pub fn too_many_claims(table: impl Display) -> String {
    format!(
        "Table {table} has multi-Region strong consistency and too many of its items are being written at once; retry"
    )
}

/// The reads and writes of a strongly consistent table: no other region
/// answers (`why`: [`NO_REGION_REACHED`], [`NO_REGION_ACKNOWLEDGED`],
/// [`NO_REGION_FOR_READ`]). ServiceUnavailable (503). Tidepool's text.
pub fn strong_unavailable(table: impl Display, why: impl Display) -> String {
    format!("Table {table} has multi-Region strong consistency and {why}")
}

/// Writes: why [`strong_unavailable`]: no other region answers a claim.
/// Tidepool's text.
pub const NO_REGION_REACHED: &str = "no other region of it can be reached";

/// Writes: why [`strong_unavailable`]: no other region acknowledged the
/// write in time. Tidepool's text.
pub const NO_REGION_ACKNOWLEDGED: &str = "no other region acknowledged the write in time";

/// Strongly consistent reads: why [`strong_unavailable`]. Tidepool's text.
pub const NO_REGION_FOR_READ: &str = "no other region of it can be reached for a strongly consistent read";

/// TransactWriteItems, ExecuteTransaction: a strongly consistent table.
/// ValidationException. Tidepool's text.
pub fn no_transactions_on_strong(table: impl Display) -> String {
    format!("Transactions are not supported on table {table} with multi-Region strong consistency")
}

/// A Tidepool extension's refusal, in the words of the one above: an
/// exactly-once handler's writes commit as one transaction.
pub fn no_exactly_once_on_strong(table: impl Display) -> String {
    format!(
        "Transactions are not supported on table {table} with multi-Region strong consistency: an exactly-once \
         handler's writes commit as one transaction with its checkpoint (turn ExactlyOnce off to write to it)"
    )
}

// Global tables version 2017.11.29: CreateGlobalTable, UpdateGlobalTable,
// DescribeGlobalTable, ListGlobalTables.

/// DescribeGlobalTableSettings, UpdateGlobalTableSettings and
/// UpdateGlobalTable: no global table `name`. GlobalTableNotFoundException
/// (DDB-GLOBALTABLE-004 of the ack-api-quirks catalogue); also
/// DescribeTableReplicaAutoScaling and UpdateTableReplicaAutoScaling of a
/// table that is missing or not a global table, as ResourceNotFoundException
/// (DDB-TABLE-231, DDB-TABLE-254).
pub fn legacy_not_found(name: impl Display) -> String {
    format!("Global table with name: '{name}' does not exist.")
}

/// DescribeGlobalTable: no global table `name`.
/// GlobalTableNotFoundException (DDB-GLOBALTABLE-004).
pub fn legacy_described_not_found(name: impl Display) -> String {
    format!("Global table not found: {}", legacy_not_found(name))
}

/// CreateGlobalTable: a global table of that name exists.
/// GlobalTableAlreadyExistsException.
pub const LEGACY_EXISTS: &str = "Global table with this name already exists";

/// CreateGlobalTable, UpdateGlobalTable: a region that is not a peer of
/// this server. ValidationException. Tidepool's text.
pub fn not_a_peer(region: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Region {region} is not a peer of this server (give it with --peers {region}=http://host:port)"
    )
}

/// CreateGlobalTable, UpdateGlobalTable: another region's refusal
/// (`message`, in its words). Its own error type. Tidepool's text.
pub fn region_refused(region: impl Display, message: impl Display) -> String {
    format!("Region {region}: {message}")
}

/// CreateGlobalTable, UpdateGlobalTable: what [`region_refused`] says of a
/// refusal without a message. Tidepool's text.
pub const REFUSED: &str = "refused";

/// CreateGlobalTable, UpdateGlobalTable: another region does not answer
/// (`why`). ServiceUnavailable (503). Tidepool's text.
pub fn region_unavailable(region: impl Display, why: impl Display) -> String {
    format!("Region {region} did not answer: {why}")
}

/// CreateGlobalTable, UpdateGlobalTable: why [`region_unavailable`]: it
/// answered with HTTP `status`. Tidepool's text.
pub fn http_status(status: impl Display) -> String {
    format!("HTTP {status}")
}

/// CreateGlobalTable, UpdateGlobalTable: why [`region_unavailable`]: this
/// server is starting. Tidepool's text.
pub const SERVER_STARTING: &str = "the server is starting";

/// CreateGlobalTable, UpdateGlobalTable: a table without a stream of new
/// and old images. ValidationException. Tidepool's text.
pub fn legacy_needs_both_images(name: impl Display, region: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} in region {region} must have DynamoDB Streams enabled with StreamViewType NEW_AND_OLD_IMAGES"
    )
}

/// CreateGlobalTable, UpdateGlobalTable: a table that is a replica of a
/// global table. GlobalTableAlreadyExistsException. Tidepool's text.
pub fn already_a_replica(name: impl Display, region: impl Display) -> String {
    format!("Table {name} in region {region} is already a replica of a global table")
}

/// CreateGlobalTable, UpdateGlobalTable: a table with items.
/// ValidationException. Tidepool's text.
pub fn legacy_needs_empty_table(name: impl Display, region: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} in region {region} must be empty to join a global table"
    )
}

/// CreateGlobalTable, UpdateGlobalTable: a table whose key schema is not
/// the group's. ValidationException. Tidepool's text.
pub fn other_key_schema(name: impl Display, region: impl Display) -> String {
    format!("One or more parameter values were invalid: Table {name} in region {region} has another key schema")
}

/// CreateGlobalTable: a replication group without this region.
/// ValidationException. Tidepool's text.
pub fn group_without_this_region(region: impl Display) -> String {
    format!("One or more parameter values were invalid: The replication group must include this region, {region}")
}

/// UpdateGlobalTable: a replica created in a region that has one.
/// ReplicaAlreadyExistsException.
pub fn legacy_replica_exists(region: impl Display) -> String {
    format!("Replica already exists in region {region}")
}

/// UpdateGlobalTable: a replica added to a global table with items.
/// ValidationException. Tidepool's text.
pub fn legacy_group_has_items(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Global table {name} has items: a replica can be added only to an empty global table"
    )
}

/// UpdateGlobalTable: a replica deleted that the global table does not
/// have. ReplicaNotFoundException.
pub fn legacy_replica_not_found(region: impl Display) -> String {
    format!("Replica not found in region {region}")
}

/// UpdateGlobalTable: a replica update with neither action (found once
/// the global table is read). ValidationException.
pub const LEGACY_UPDATE_WITHOUT_ACTION: &str =
    "One or more parameter values were invalid: One of ReplicaUpdate.Create, ReplicaUpdate.Delete must not be null";

/// UpdateGlobalTableSettings: neither the billing mode nor the write
/// capacity given. ValidationException.
pub const LEGACY_SETTINGS_CHANGE_REQUIRED: &str = "One or more parameter values were invalid: At least one of GlobalTableBillingMode or GlobalTableProvisionedWriteCapacityUnits is required";

// Replica auto scaling: DescribeTableReplicaAutoScaling,
// UpdateTableReplicaAutoScaling.

/// UpdateTableReplicaAutoScaling: an on-demand table. ValidationException.
/// Tidepool's text.
pub fn scaling_on_demand(table: impl Display) -> String {
    format!("Table {table} is in on-demand mode (PAY_PER_REQUEST): auto scaling applies to provisioned capacity")
}

/// UpdateTableReplicaAutoScaling: a replica update of another region than
/// this server's (`here`). ValidationException. Tidepool's text.
pub fn scaling_other_region(table: impl Display, region: impl Display, here: impl Display) -> String {
    format!("Table {table} has no replica in region {region}: this server is region {here}")
}

/// UpdateTableReplicaAutoScaling: `MinimumUnits` or `MaximumUnits`
/// (`name`) outside 1 to `max`. ValidationException. Tidepool's text.
pub fn scaling_units_out_of_range(name: impl Display, max: impl Display, value: impl Display) -> String {
    format!("{name} must be between 1 and {max}, not {value}")
}

/// UpdateTableReplicaAutoScaling: scaling enabled without its bounds.
/// ValidationException. Tidepool's text.
pub fn scaling_bounds_required(resource: impl Display, dimension: impl Display) -> String {
    format!("MinimumUnits and MaximumUnits are required to enable auto scaling of {resource} ({dimension})")
}

/// UpdateTableReplicaAutoScaling: a least above a most.
/// ValidationException.
pub const SCALING_MIN_ABOVE_MAX: &str = "Minimum capacity cannot be greater than maximum capacity";

/// UpdateTableReplicaAutoScaling: a target value outside 20 to 90.
/// ValidationException. Tidepool's text.
pub fn scaling_target_out_of_range(value: impl Display) -> String {
    format!("The target value {value} is out of range for DynamoDB: it must be between 20.0 and 90.0")
}

/// UpdateTableReplicaAutoScaling: a scaling policy without TargetValue.
/// ValidationException. Tidepool's text.
pub const SCALING_TARGET_REQUIRED: &str = "TargetValue is required";

/// UpdateTableReplicaAutoScaling: a cooldown (`name`) outside a year.
/// ValidationException. Tidepool's text.
pub fn scaling_cooldown_out_of_range(name: impl Display, value: impl Display) -> String {
    format!("{name} must be between 0 and 31536000 seconds, not {value}")
}

/// UpdateTableReplicaAutoScaling: a policy named other than the target's
/// (`policy`). ValidationException. Tidepool's text.
pub fn scaling_policy_exists(resource: impl Display, dimension: impl Display, policy: impl Display) -> String {
    format!("{resource} ({dimension}) already has scaling policy {policy}: name it, or leave PolicyName out")
}

// The peer protocol: what Tidepool servers of a global table ask each other
// (`/tidepool/replication/...`), refused in DynamoDB's error shape. A
// refusal can reach a client through `region_refused`. Tidepool's texts.

/// The peer protocol: a body that is not a JSON object.
/// SerializationException. Tidepool's text.
pub const PEER_BODY_NOT_OBJECT: &str = "The request body is not a JSON object";

/// The peer protocol: required member `name` left out. ValidationException.
/// Tidepool's text.
pub fn peer_member_required(name: impl Display) -> String {
    format!("{name} is required")
}

/// The peer protocol: member `name` that is not `what`, with the parser's
/// `error`. ValidationException. Tidepool's text.
pub fn peer_member_invalid(name: impl Display, what: impl Display, error: impl Display) -> String {
    format!("{name} is not {what}: {error}")
}

/// The peer protocol: a change whose node id is past 32 bits, named by
/// the member alone. ValidationException. Tidepool's text.
pub const PEER_NODE: &str = "Node";

/// The peer protocol: a read without its key, named by the member alone.
/// ValidationException. Tidepool's text.
pub const PEER_KEY: &str = "Key";

/// The peer protocol: a change stamped more than a day ahead.
/// ValidationException. Tidepool's text.
pub fn peer_stamp_ahead(ms: impl Display) -> String {
    format!("A change is stamped {ms} ms, more than a day past this region's clock")
}

/// The peer protocol: a table request with no known part.
/// ValidationException. Tidepool's text.
pub const PEER_TABLE_REQUEST_EMPTY: &str = "One of Create, AddReplica, RemoveReplica is required";

/// The peer protocol: an index change that does not parse.
/// ValidationException. Tidepool's text.
pub fn peer_index_change(error: impl Display) -> String {
    format!("IndexChange is not an UpdateTable request: {error}")
}

/// The peer protocol: an index change from a region the table is not a
/// replica of. ValidationException. Tidepool's text.
pub fn peer_not_replica_of_region(name: impl Display, region: impl Display, from: impl Display) -> String {
    format!("Table {name} in region {region} is not a replica of region {from}'s global table")
}

/// The peer protocol: a drop, read or claim from a region the table is not
/// a replica of. ValidationException. Tidepool's text.
pub fn peer_not_replica(name: impl Display, region: impl Display, from: impl Display) -> String {
    format!("Table {name} in region {region} is not a replica of a global table in region {from}")
}

/// The peer protocol: a replica made where a table of the name is not one.
/// ValidationException. Tidepool's text.
pub fn peer_table_exists(name: impl Display, region: impl Display) -> String {
    format!("Table {name} already exists in region {region} and is not a replica of this global table")
}

/// The peer protocol: a range bound that is not one. ValidationException.
/// Tidepool's text.
pub const PEER_BAD_BOUND: &str = "a bound is an object with Included or Excluded, in hex";

/// The peer protocol: a scan segment that is not one.
/// ValidationException. Tidepool's text.
pub const PEER_BAD_SEGMENT: &str = "Segment is [segment, total segments]";

/// The peer protocol: more keys read at once than `max`.
/// ValidationException. Tidepool's text.
pub fn peer_too_many_reads(max: impl Display) -> String {
    format!("At most {max} keys are read at once")
}

/// The peer protocol: more keys claimed at once than `max`.
/// ValidationException. Tidepool's text.
pub fn peer_too_many_claims(max: impl Display) -> String {
    format!("At most {max} keys are claimed at once")
}

/// Replication between regions (Tidepool's internal apply of another
/// region's changes): the table is not a replica of a global table here.
/// ValidationException. Tidepool's text.
pub fn not_global_table(table: impl std::fmt::Display) -> String {
    format!("Table {table} is not a global table in this region")
}

/// Replication between regions: a replicated change whose item's key is not
/// the change's key. ValidationException. Tidepool's text.
pub const CHANGE_KEY_MISMATCH: &str = "The item's key is not the change's key";
