//! Tables and their settings: CreateTable, UpdateTable, DeleteTable,
//! DescribeTable, ListTables, key schemas, secondary indexes, billing and
//! throughput, SSE, tags, Time to Live, resource policies, Contributor
//! Insights, Kinesis streaming destinations and the account's limits.

use std::fmt::Display;

// Tables.

/// DeleteTable: a vector index of the table is being filled.
/// ResourceInUseException.
pub const DELETE_WHILE_INDEXES_CHANGE: &str = "Attempt to change a resource which is still in use: Cannot delete table while indexes are being created, updated, or deleted.";

/// CreateTable, UpdateTable: `TableClass` naming no class.
/// ValidationException.
pub const INVALID_TABLE_CLASS: &str = "Invalid table-class parameter provided. Please try again with a valid table-class value: [STANDARD, STANDARD_INFREQUENT_ACCESS].";

/// CreateTable: `GlobalSecondaryIndexes` or `LocalSecondaryIndexes` (`list`)
/// given empty. ValidationException.
pub fn index_list_empty(list: impl Display) -> String {
    format!("One or more parameter values were invalid: List of {list} is empty")
}

// Key schemas.

/// CreateTable, UpdateTable: how a key schema element is echoed in a
/// constraint on the key schema's length (as Java prints it).
/// ValidationException.
pub fn key_schema_element(name: impl Display, key_type: impl Display) -> String {
    format!("KeySchemaElement(attributeName={name}, keyType={key_type})")
}

/// CreateTable: the table's key names more attributes than there are
/// definitions. ValidationException.
pub const KEY_ATTRIBUTE_WITHOUT_DEFINITION: &str = "Invalid KeySchema: Some index key attribute have no definition";

/// CreateTable, UpdateTable: a key attribute has no AttributeDefinitions
/// entry (`keys` and `definitions` as sent). ValidationException.
pub fn key_attributes_not_defined(keys: &[&str], definitions: &[&str]) -> String {
    format!(
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
        keys.join(", "),
        definitions.join(", ")
    )
}

/// CreateTable, UpdateTable: the HASH and RANGE elements name one
/// attribute. ValidationException.
pub const HASH_AND_RANGE_SAME_NAME: &str =
    "Both the Hash Key and the Range Key element in the KeySchema have the same name";

/// CreateTable, UpdateTable: a key schema whose first element is not
/// HASH. ValidationException.
pub const FIRST_ELEMENT_NOT_HASH: &str = "Invalid KeySchema: The first KeySchemaElement is not a HASH key type";

/// CreateTable, UpdateTable: a key schema whose second element is not
/// RANGE. ValidationException.
pub const SECOND_ELEMENT_NOT_RANGE: &str = "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type";

/// CreateTable, UpdateTable: a global index key with a RANGE attribute
/// before a HASH one. ValidationException.
pub const HASH_BEFORE_RANGE: &str = "One or more parameter values were invalid: All HASH key attributes must precede RANGE key attributes in the KeySchema";

/// CreateTable, UpdateTable: a global index key with more than four
/// attributes in `role` (`HASH` or `RANGE`). ValidationException.
pub fn too_many_key_attributes(role: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: The KeySchema exceeds the maximum allowed number of {role} key attributes"
    )
}

/// CreateTable, UpdateTable: a global index key naming one attribute
/// twice. ValidationException.
pub const KEY_ATTRIBUTE_TWICE: &str = "The KeySchema contains multiple key attributes with the same name";

// Attribute definitions.

/// CreateTable: an attribute defined twice. ValidationException.
pub fn attribute_defined_twice(name: impl Display) -> String {
    format!("Attribute Name is duplicated: {name}")
}

/// CreateTable: attributes defined that no key (of the table or an index)
/// uses, with indexes: the definitions as sent, the keys in the order the
/// schemas name them. ValidationException.
pub fn definitions_not_used(definitions: &[&str], keys: &[&str]) -> String {
    format!(
        "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
        definitions.join(", "),
        keys.join(", ")
    )
}

/// CreateTable: attributes defined that the table's key does not use, with
/// no indexes. ValidationException.
pub const DEFINITIONS_NOT_KEY_ATTRIBUTES: &str = "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions";

// Billing mode and capacity.

/// CreateTable, UpdateTable, UpdateTable's `ReplicaUpdates`: capacity
/// units `value` of `member` past DynamoDB's bound, of the table or of
/// `index`. ValidationException.
pub fn capacity_out_of_bounds(value: impl Display, member: impl Display, index: Option<&str>) -> String {
    match index {
        Some(i) => format!("Given value {value} for {member} is out of bounds for index {i}"),
        None => format!("Given value {value} for {member} is out of bounds"),
    }
}

/// CreateTable: a provisioned table (or its global index `index`) without
/// ProvisionedThroughput. ValidationException.
pub fn throughput_required(index: Option<&str>) -> String {
    let text = "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED";
    match index {
        Some(i) => format!("{text} for index {i}"),
        None => text.to_string(),
    }
}

/// CreateTable: an on-demand table (or its global index `index`) with
/// ProvisionedThroughput. ValidationException.
pub fn throughput_on_demand(index: Option<&str>) -> String {
    let text = "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST";
    match index {
        Some(i) => format!("{text} for index {i}"),
        None => text.to_string(),
    }
}

/// CreateTable, UpdateTable: capacity units of 0. ValidationException.
pub const CAPACITY_BELOW_ONE: &str =
    "One or more parameter values were invalid: Each of ReadCapacityUnits and WriteCapacityUnits must be at least 1";

/// UpdateTable: a switch to PROVISIONED that leaves global indexes
/// (`indexes`) without capacity. ValidationException.
pub fn index_throughput_required(indexes: &[&str]) -> String {
    format!(
        "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
        indexes.join(",")
    )
}

/// UpdateTable: the table's capacity asked for is what it has.
/// ValidationException.
pub fn throughput_unchanged(
    read_now: impl Display,
    read_asked: impl Display,
    write_now: impl Display,
    write_asked: impl Display,
) -> String {
    format!(
        "The provisioned throughput for the table will not change. The requested value equals the current value. \
         Current ReadCapacityUnits provisioned for the table: {read_now}. Requested ReadCapacityUnits: {read_asked}. \
         Current WriteCapacityUnits provisioned for the table: {write_now}. Requested WriteCapacityUnits: {write_asked}. \
         Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
    )
}

/// UpdateTable: a global index's capacity asked for is what it has.
/// ValidationException.
pub fn index_throughput_unchanged(
    index: impl Display,
    read_now: impl Display,
    read_asked: impl Display,
    write_now: impl Display,
    write_asked: impl Display,
) -> String {
    format!(
        "The provisioned throughput for the index {index} will not change. The requested value equals the current value. \
         Current ReadCapacityUnits provisioned for index {index}: {read_now}. Requested ReadCapacityUnits: {read_asked}. \
         Current WriteCapacityUnits provisioned for index {index}: {write_now}. Requested WriteCapacityUnits: {write_asked}. \
         Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
    )
}

/// CreateTable, UpdateTable: `MaxReadRequestUnits` or
/// `MaxWriteRequestUnits` (`member`) of `OnDemandThroughput` below 1 (-1
/// only in an update). ValidationException.
pub fn on_demand_out_of_range(member: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Requested {member} for OnDemandThroughput for table is outside of valid range"
    )
}

/// CreateTable, UpdateTable: `WarmThroughput`'s `member` (`Read` or
/// `Write`) units asked for the table (or global index `index`) below
/// what it may be (`reason`: [`WARM_BELOW_ON_DEMAND`],
/// [`warm_below_provisioned`], [`WARM_BELOW_CURRENT`]). ValidationException.
pub fn warm_throughput_too_low(member: impl Display, index: Option<&str>, reason: impl Display) -> String {
    match index {
        Some(i) => format!(
            "One or more parameter values were invalid: Requested {member}UnitsPerSecond for WarmThroughput for index {i} is {reason}"
        ),
        None => format!(
            "One or more parameter values were invalid: Requested {member}UnitsPerSecond for WarmThroughput for table is {reason}"
        ),
    }
}

/// CreateTable, UpdateTable: why warm throughput is too low: below a new
/// on-demand table's initial throughput. ValidationException.
pub const WARM_BELOW_ON_DEMAND: &str = "lower than initial throughput for OnDemand. See: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html#on-demand-capacity-mode-initial";

/// CreateTable, UpdateTable: why warm throughput is too low: below the
/// provisioned `capacity` (`ReadCapacityUnits`, `WriteCapacityUnits`).
/// ValidationException.
pub fn warm_below_provisioned(capacity: impl Display) -> String {
    format!("lower than {capacity} of ProvisionedThroughput")
}

/// UpdateTable: why warm throughput is too low: below what the table or
/// index has now. ValidationException.
pub const WARM_BELOW_CURRENT: &str = "lower than current WarmThroughput, decreasing WarmThroughput is not supported";

/// UpdateTable: a global index update whose `WarmThroughput` names no
/// units. ValidationException.
pub fn index_warm_throughput_empty(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: WarmThroughput must have at least one of ReadUnitsPerSecond or WriteUnitsPerSecond specified for index: {index}"
    )
}

/// GetItem, PutItem, Query, and every read and write: a provisioned
/// table's capacity exceeded by a global index's reads or writes.
/// ProvisionedThroughputExceededException.
pub const INDEX_THROUGHPUT_EXCEEDED: &str = "The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API";

/// GetItem, PutItem, Query, and every read and write: a provisioned
/// table's capacity (or one partition key's) exceeded.
/// ProvisionedThroughputExceededException.
pub const THROUGHPUT_EXCEEDED: &str = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API";

/// GetItem, PutItem, Query, and every read and write: an on-demand table's
/// `OnDemandThroughput` maximum exceeded. ThrottlingException.
pub const MAX_ON_DEMAND_EXCEEDED: &str =
    "Throughput exceeds the maximum OnDemandThroughput configured on table or index";

/// GetItem, PutItem, Query, and every read and write: an on-demand table's
/// partition key past its limit. ThrottlingException.
pub const ON_DEMAND_KEY_RANGE_EXCEEDED: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";

// Secondary indexes.

/// CreateTable: a local index on a table without a sort key.
/// ValidationException.
pub const LOCAL_INDEX_WITHOUT_TABLE_RANGE: &str = "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex";

/// CreateTable: a local index whose key has no range key.
/// ValidationException.
pub fn local_index_without_range(index: impl Display) -> String {
    format!("One or more parameter values were invalid: Index KeySchema does not have a range key for index: {index}")
}

/// CreateTable: a local index whose hash key is not the table's.
/// ValidationException.
pub fn local_index_other_hash(index: impl Display, index_hash: impl Display, table_hash: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {index}. index hash key: {index_hash}, table hash key: {table_hash}"
    )
}

/// CreateTable: a local index with ProvisionedThroughput.
/// ValidationException.
pub fn local_index_throughput(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {index}"
    )
}

/// UpdateTable: a global index created on a provisioned table without its
/// capacity. ValidationException.
pub fn created_index_throughput_required(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Both ReadCapacityUnits and WriteCapacityUnits must be specified for index: {index}"
    )
}

/// UpdateTable: a global index created on an on-demand table with
/// capacity. ValidationException.
pub fn created_index_throughput_on_demand(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: {index} when BillingMode is PAY_PER_REQUEST"
    )
}

/// CreateTable: a global index of a provisioned table without
/// ProvisionedThroughput. ValidationException.
pub fn index_throughput_not_specified(index: impl Display) -> String {
    format!("One or more parameter values were invalid: ProvisionedThroughput is not specified for index: {index}")
}

/// CreateTable: a global index of an on-demand table with
/// ProvisionedThroughput. ValidationException.
pub fn index_throughput_on_demand(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {index} when BillingMode is PAY_PER_REQUEST"
    )
}

/// CreateTable, UpdateTable: an INCLUDE projection (of a secondary or vector
/// index) with no attributes. ValidationException.
pub const INCLUDE_WITHOUT_ATTRIBUTES: &str =
    "One or more parameter values were invalid: NonKeyAttributes must not be empty when ProjectionType is INCLUDE";

/// CreateTable, UpdateTable: a projection naming an attribute twice.
/// ValidationException.
pub fn non_key_attribute_twice(name: impl Display) -> String {
    format!("One or more parameter values were invalid: Duplicate element in NonKeyAttributes: {name}")
}

/// CreateTable, UpdateTable: an INCLUDE projection without
/// NonKeyAttributes. ValidationException.
pub const INCLUDE_WITHOUT_NON_KEY_ATTRIBUTES: &str =
    "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified";

/// CreateTable, UpdateTable: NonKeyAttributes with a projection of type
/// `projection_type` (`ALL`, `KEYS_ONLY`). ValidationException.
pub fn non_key_attributes_with(projection_type: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: ProjectionType is {projection_type}, but NonKeyAttributes is specified"
    )
}

/// CreateTable, UpdateTable: a projection without ProjectionType.
/// ValidationException.
pub const PROJECTION_TYPE_NULL: &str = "One or more parameter values were invalid: Unknown ProjectionType: null";

/// CreateTable, UpdateTable: two indexes (secondary or vector) with one name.
/// ValidationException.
pub fn index_name_twice(index: impl Display) -> String {
    format!("One or more parameter values were invalid: Duplicate index name: {index}")
}

/// CreateTable, UpdateTable: more global indexes than `limit`.
/// ValidationException.
pub fn too_many_global_indexes(limit: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {limit}"
    )
}

/// CreateTable: more local indexes than `limit`. ValidationException.
pub fn too_many_local_indexes(limit: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of {limit}"
    )
}

/// CreateTable, UpdateTable: more projected attributes in all the table's
/// indexes than `limit`. ValidationException.
pub fn too_many_projected_attributes(limit: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: The number of projected attributes in all secondary indexes of the table exceeds the limit of {limit}"
    )
}

/// UpdateTable: an element of `GlobalSecondaryIndexUpdates` with no
/// action. ValidationException.
pub const INDEX_UPDATE_WITHOUT_ACTION: &str = "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null";

/// UpdateTable: an element of `GlobalSecondaryIndexUpdates` with two
/// actions. ValidationException.
pub const INDEX_UPDATE_TWO_ACTIONS: &str = "One or more parameter values were invalid: Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object";

/// UpdateTable: two `GlobalSecondaryIndexUpdates` of one index.
/// ValidationException.
pub fn index_updated_twice(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: {index}"
    )
}

/// UpdateTable: a second index created or deleted while one is (in the
/// request or on the table). LimitExceededException.
pub const ONE_ONLINE_INDEX: &str =
    "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table";

/// UpdateTable: a global index created without AttributeDefinitions.
/// ValidationException.
pub fn index_definitions_missing(index: impl Display) -> String {
    format!("One or more parameter values were invalid: AttributeDefinitions is not specified for index: {index}")
}

/// UpdateTable: an `Update` or `Delete` of a global index, or a `Delete` of a
/// vector index, the table does not have. ResourceNotFoundException.
pub fn updated_index_not_found(index: impl Display, table: impl Display) -> String {
    format!("Requested resource not found: Index {index} for table {table}")
}

/// UpdateTable: an `Update` of a local index. ValidationException.
pub fn update_of_local_index(index: impl Display) -> String {
    format!("Cannot update an index that is not a GlobalSecondaryIndex: {index}")
}

/// UpdateTable: an on-demand table's index `Update` that changes anything
/// but its on-demand or warm throughput. ValidationException.
pub fn on_demand_index_update(index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: The only Updates for index: {index} when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
    )
}

/// UpdateContributorInsights, DescribeContributorInsights,
/// UpdateTableReplicaAutoScaling: no global index `index` on `table`.
/// ResourceNotFoundException.
pub fn index_not_found(index: impl Display, table: impl Display) -> String {
    format!("Requested resource not found: Index: {index} not found for table: {table}")
}

// Streams.

/// CreateTable: a stream enabled without StreamViewType.
/// ValidationException.
pub const CREATED_STREAM_WITHOUT_VIEW_TYPE: &str = "One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required";

/// UpdateTable: a stream enabled without StreamViewType.
/// ValidationException.
pub const STREAM_WITHOUT_VIEW_TYPE: &str =
    "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required";

/// CreateTable: a stream disabled with a StreamViewType.
/// ValidationException.
pub const CREATED_STREAM_DISABLED_WITH_VIEW_TYPE: &str = "One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should not be specified";

/// UpdateTable: a stream disabled with a StreamViewType.
/// ValidationException.
pub const STREAM_DISABLED_WITH_VIEW_TYPE: &str =
    "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified";

// UpdateTable's changes.

/// UpdateTable: a request that changes nothing, naming the members that
/// would (those it does not already have; `rest`, then `last`).
/// ValidationException.
pub fn change_required(rest: &[&str], last: impl Display) -> String {
    format!("At least one of {} or {last} is required", rest.join(", "))
}

/// UpdateTable: members that ask for changes made none (a change already
/// made). ValidationException.
pub const NOTHING_CHANGED: &str = "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required";

/// UpdateTable: SSESpecification with another change. ValidationException.
pub const SSE_CHANGE_ALONE: &str = "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request";

/// UpdateTable: TableClass with another change. ValidationException.
pub const TABLE_CLASS_CHANGE_ALONE: &str =
    "One or more parameter values were invalid: TableClass modification must be the only operation in the request";

/// UpdateTable: DeletionProtectionEnabled with another change.
/// ValidationException.
pub const DELETION_PROTECTION_CHANGE_ALONE: &str = "One or more parameter values were invalid: DeletionProtection modification must be the only operation in the request";

/// UpdateTable: OnDemandThroughput with a change other than BillingMode.
/// ValidationException.
pub const ON_DEMAND_CHANGE_ALONE: &str = "One or more parameter values were invalid: OnDemandThroughput can only be combined with BillingMode in an UpdateTable request";

/// UpdateTable: WarmThroughput with another change. ValidationException.
pub const WARM_CHANGE_ALONE: &str =
    "One or more parameter values were invalid: WarmThroughput must be the only operation in the request";

/// UpdateTable: a stream change with a capacity change (or a switch to
/// PROVISIONED). ValidationException.
pub const STREAM_WITH_CAPACITY: &str =
    "One or more parameter values were invalid: You cannot modify stream status while updating table IOPS";

/// UpdateTable: an index created or deleted with a capacity change.
/// ValidationException.
pub const INDEX_WITH_CAPACITY: &str =
    "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS";

/// UpdateTable: an index created or deleted with a stream change.
/// ValidationException.
pub const INDEX_WITH_STREAM: &str =
    "One or more parameter values were invalid: You cannot create or delete index while changing stream status";

// Server-side encryption.

/// CreateTable, UpdateTable, restores: SSEType AES256. ValidationException.
pub const SSE_AES256: &str = "One or more parameter values were invalid: SSEType AES256 is not supported";

/// CreateTable, UpdateTable, restores: SSEType with `Enabled: false`.
/// ValidationException.
pub const SSE_TYPE_WHEN_DISABLED: &str =
    "One or more parameter values were invalid: SSEType can not be specified if Enabled is false";

/// CreateTable, UpdateTable, restores: KMSMasterKeyId with `Enabled:
/// false`. ValidationException.
pub const SSE_KEY_WHEN_DISABLED: &str =
    "One or more parameter values were invalid: KMSMasterKeyId can not be specified if Enabled is false";

/// CreateTable, UpdateTable, restores: KMSMasterKeyId without SSEType.
/// ValidationException.
pub const SSE_KEY_WITHOUT_TYPE: &str =
    "One or more parameter values were invalid: SSEType KMS is required if KMSMasterKeyId is specified";

/// UpdateTable: the default encryption asked of a table that has it.
/// ValidationException.
pub const ALREADY_ENCRYPTED_BY_DEFAULT: &str =
    "One or more parameter values were invalid: Table is already encrypted by default";

/// UpdateTable: the table's own KMS key asked for by its ARN.
/// ValidationException.
pub const ALREADY_ENCRYPTED_WITH_KEY: &str = "One or more parameter values were invalid: Table is already encrypted with given KMSMasterKeyId. Use KMSMasterKeyId parameter if you want to change Master Key";

// Resource ARNs (tags, resource policies).

/// TagResource, UntagResource, ListTagsOfResource, PutResourcePolicy,
/// GetResourcePolicy, DeleteResourcePolicy: a ResourceArn that is not an ARN;
/// RestoreTableToPointInTime: a `SourceTableArn` so. ValidationException.
pub fn arn_not_an_arn(arn: impl Display) -> String {
    format!("One or more parameter values were invalid: ARNs must start with 'arn:': {arn}")
}

/// TagResource, UntagResource, ListTagsOfResource, and the resource policy
/// operations: an ARN of another service (or of no table or stream).
/// ValidationException.
pub fn arn_not_dynamodb(arn: impl Display) -> String {
    format!("One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: {arn}")
}

/// TagResource, UntagResource, ListTagsOfResource, and the resource policy
/// operations: an index's ARN. ValidationException.
pub fn arn_of_index(arn: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Invalid resource arn provided, only table or stream is accepted. Provided resource arn: {arn}"
    )
}

/// TagResource, UntagResource, ListTagsOfResource: a DynamoDB ARN of another
/// region or account; ExportTableToPointInTime, ListExports: a `TableArn`
/// that is not a DynamoDB table's. ValidationException.
pub fn invalid_table_arn(arn: impl Display) -> String {
    format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}")
}

/// TagResource, UntagResource: a table ARN of no table.
/// ResourceNotFoundException.
pub fn resource_arn_not_found(arn: impl Display) -> String {
    format!("Requested resource not found: ResourceArn: {arn} not found")
}

/// ListTagsOfResource: the tags of a table that is not there, or not the
/// account's, as IAM words a refusal for the account's root user.
/// AccessDeniedException.
pub fn not_authorized(account: impl Display, action: impl Display, resource: impl Display) -> String {
    format!("User: arn:aws:iam::{account}:root is not authorized to perform: {action} on resource: {resource}")
}

// Tags.

/// CreateTable, TagResource: more tags than a resource may have;
/// UntagResource: more keys than that. ValidationException.
pub const TOO_MANY_TAGS: &str = "Number of Tags exceed the current limit for the provided ResourceArn";

/// CreateTable, TagResource, UntagResource: a tag key empty, too long, of
/// characters tags do not take, or left out (`null`). ValidationException.
pub fn invalid_tag_key(key: impl Display) -> String {
    format!("The Tag Key provided is invalid, Key: {key}")
}

/// CreateTable, TagResource: a tag value of characters tags do not take,
/// or left out (`null`). ValidationException.
pub fn invalid_tag_value(value: impl Display) -> String {
    format!("The Tag Value provided is invalid, Value: {value}")
}

/// CreateTable, TagResource: a tag key starting `aws:`.
/// ValidationException.
pub fn tag_key_aws(key: impl Display) -> String {
    format!("Tag Key cannot be prefixed with aws:, Key: {key}")
}

/// CreateTable, TagResource: one tag key twice. ValidationException.
pub fn tag_key_twice(key: impl Display) -> String {
    format!("Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}")
}

/// TagResource: no tags. ValidationException.
///
/// The live service's spelling ("Atleast") is kept.
pub const TAGS_REQUIRED: &str = "Atleast one Tag needs to be provided as Input.";

/// UntagResource: no tag keys. ValidationException.
///
/// The live service's spelling ("Atleast") is kept.
pub const TAG_KEYS_REQUIRED: &str = "Atleast one Tag Key needs to be provided as Input.";

// Time to Live.

/// UpdateTimeToLive: TTL on another attribute (`current`) than the one
/// named. ValidationException.
pub fn ttl_on_other_attribute(current: impl Display) -> String {
    format!("TimeToLive is active on a different AttributeName: current AttributeName is {current}")
}

/// UpdateTimeToLive: TTL enabled again. ValidationException.
pub const TTL_ALREADY_ENABLED: &str = "TimeToLive is already enabled";

/// UpdateTimeToLive: TTL disabled again. ValidationException.
pub const TTL_ALREADY_DISABLED: &str = "TimeToLive is already disabled";
/// A third UpdateTable of `TableClass` within 30 days (DDB-TABLE-443).
pub const TABLE_CLASS_UPDATES_LIMITED: &str =
    "Subscriber limit exceeded: Updates to TableClass are limited to 2 times in 30 day(s).";
/// A second UpdateTimeToLive within the cooldown of a change (DDB-TABLE-143).
pub const TTL_CHANGED_TOO_OFTEN: &str = "Time to live has been modified multiple times within a fixed interval";

/// DescribeTimeToLive: a table being imported (CREATING).
/// ValidationException.
pub const TTL_WHILE_CREATING: &str =
    "Cannot describe time to live while table is in CREATING state: Current table state is CREATING";

// Resource policies.

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a document past
/// `max` bytes. ValidationException.
pub fn policy_too_large(max: impl Display) -> String {
    format!("One or more parameter values were invalid: Maximum policy size of {max} bytes exceeded")
}

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a document that IAM's
/// policy grammar refuses (`why`, in its words). ValidationException.
pub fn policy_invalid(why: impl Display) -> String {
    format!("One or more parameter values were invalid: Invalid policy document: {why}")
}

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: the document `null`.
/// ValidationException.
pub const POLICY_NOT_A_POLICY: &str =
    "One or more parameter values were invalid: Invalid policy document: This text appears not to be a policy";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: the document `{}`,
/// with the parser's position at its end. ValidationException.
pub fn policy_syntax_error(line: impl Display, column: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Invalid policy document: Syntax error at position ({line},{column})"
    )
}

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a document that is
/// not a JSON object. ValidationException.
pub const POLICY_INVALID_JSON: &str =
    "One or more parameter values were invalid: Invalid policy document: This policy contains invalid Json";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: no statement.
/// ValidationException.
pub const POLICY_NO_STATEMENT: &str = "One or more parameter values were invalid: Invalid policy document: Could not parse the policy: Statement is empty!";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a statement without
/// `Effect`. ValidationException.
pub const POLICY_WITHOUT_EFFECT: &str =
    "One or more parameter values were invalid: Invalid policy document: Missing required field Effect";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a statement without
/// `Resource`. ValidationException.
pub const POLICY_WITHOUT_RESOURCE: &str =
    "One or more parameter values were invalid: Invalid policy document: Missing required field Resource";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: two statements with
/// one `Sid`. ValidationException.
pub const POLICY_SIDS_NOT_UNIQUE: &str = "One or more parameter values were invalid: Invalid policy document: The Statement Ids in the policy are not unique";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a table's policy
/// naming actions no table policy takes (`actions`, each as written).
/// ValidationException.
pub fn policy_invalid_actions(actions: &[String]) -> String {
    let quoted: Vec<String> = actions.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "One or more parameter values were invalid: Invalid policy document: The following action names are invalid: {}",
        quoted.join(", ")
    )
}

/// PutResourcePolicy: a policy naming a resource of another kind than the
/// one it is for (a table's naming a stream, a stream's naming a table):
/// `relative` is the part of `arn` after the account. ValidationException.
pub fn policy_resource_invalid(relative: &str, arn: &str) -> String {
    format!(
        "One or more parameter values were invalid: Invalid policy document: The relative-id \"{relative}\" is invalid for ARN \"{arn}\""
    )
}

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a statement without
/// a principal. ValidationException.
pub const POLICY_WITHOUT_PRINCIPAL: &str =
    "One or more parameter values were invalid: Invalid policy document: Policy statements must contain a principal";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a string of the
/// document longer than `max` bytes. ValidationException. Tidepool's text.
pub fn policy_string_too_long(max: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Invalid policy document: a string of the policy is longer than {max} bytes"
    )
}

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a document that
/// allows anyone everything, unconditionally. ValidationException.
pub const POLICY_UNBOUNDED: &str = "Resource-based policy grants unbounded access in one or more elements. Please revise the policy to ensure least-privilege form of access";

/// PutResourcePolicy, CreateTable's `ResourcePolicy`: a principal that
/// names no account, user or role. ValidationException.
pub const POLICY_INVALID_PRINCIPAL: &str =
    "One or more parameter values were invalid: Invalid principal in policy document.";

/// GetResourcePolicy: no policy. PolicyNotFoundException.
pub fn policy_not_found(arn: impl Display) -> String {
    format!("Resource-based policy not found for the provided ResourceArn: {arn}")
}

/// PutResourcePolicy, DeleteResourcePolicy: an `ExpectedRevisionId` (not
/// `NO_POLICY`) while table `table` has no policy: the live service's text
/// as far as the recorded answer goes ("... has no associated"); its last
/// word is this reading. PolicyNotFoundException.
pub fn policy_expected_but_none(expected: impl Display, table: impl Display) -> String {
    format!(
        "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {expected}, but table {table} has no associated policy."
    )
}

/// PutResourcePolicy, DeleteResourcePolicy: an `ExpectedRevisionId` that
/// is not the revision (`current`) of the policy of table `table`.
/// PolicyNotFoundException.
pub fn policy_revision_mismatch(expected: impl Display, table: impl Display, current: impl Display) -> String {
    format!(
        "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {expected}, but the policy associated to target table {table} has revision id {current}."
    )
}

/// PutResourcePolicy: `ExpectedRevisionId` `NO_POLICY` while table `table`
/// has a policy (revision `current`). PolicyNotFoundException.
pub fn policy_exists(table: impl Display, current: impl Display) -> String {
    format!(
        "Resource-based policy not found for the provided ResourceArn: Requested policy update expecting none to be present for table {table}, but a policy exists with revision id {current}."
    )
}

/// PutResourcePolicy (of another document) and DeleteResourcePolicy within
/// `window_ms` of the last change of a table's policy (`kind` "table",
/// `name` its name) or its stream's ("stream", the stream's label); `after`
/// is when a change is taken again (`format_timestamp_millis`). The live
/// service's text, with its `Z` and period (DDB-TABLE-206).
/// ThrottlingException.
pub fn policy_cooldown(kind: &str, name: impl Display, window_ms: u64, after: impl Display) -> String {
    format!(
        "Resource-based policy for {kind} {name} modified within the previous {window_ms} milliseconds. Please try again after {after}Z."
    )
}

/// UpdateTable's `DeletionProtectionEnabled` within `window_ms` of its last
/// change; as above, but the live service's text has no `Z` and no period
/// (DDB-TABLE-047, DDB-TABLE-445). ThrottlingException.
pub fn deletion_protection_cooldown(table: impl Display, window_ms: u64, after: impl Display) -> String {
    format!(
        "Deletion protection setting for table {table} modified within the previous {window_ms} milliseconds. Please try again after {after}"
    )
}

/// The resource policy operations, RestoreTableToPointInTime
/// (`SourceTableArn`): an ARN of another account. ValidationException. (The
/// apostrophe is U+2019, as the live service sends it.)
pub const POLICY_OTHER_ACCOUNT: &str =
    "This action is only supported by accounts that match the resource owner\u{2019}s account.";

/// The resource policy operations: an ARN of another region or partition.
/// ValidationException.
pub fn policy_arn_invalid(arn: impl Display) -> String {
    format!("One or more parameter values were invalid: Invalid resource Arn: {arn}")
}

/// The resource policy operations: a stream ARN whose label is not the
/// table's current stream. ResourceNotFoundException.
pub fn stream_not_found(label: impl Display, table: impl Display) -> String {
    format!("Requested resource not found: Stream: {label} not found for Table: {table}")
}

/// PutResourcePolicy: a document that would deny its caller
/// PutResourcePolicy, unconfirmed. AccessDeniedException.
pub const POLICY_LOCKOUT: &str =
    "The new resource policy will not allow you to update the resource policy in the future.";

// Contributor Insights.

/// UpdateContributorInsights, DescribeContributorInsights,
/// ListContributorInsights: an `IndexName` outside 3 to 255 characters,
/// with no other fault. ValidationException.
pub const INSIGHTS_INDEX_NAME_LENGTH: &str =
    "IndexName must be at least 3 characters long and at most 255 characters long";

/// UpdateContributorInsights: enabling insights on an index being made.
/// ValidationException.
pub const INSIGHTS_INDEX_NOT_ACTIVE: &str = "Table or Index is not in a valid state to update Key Access Insights: IndexStatus must be ACTIVE to enable ContributorInsights.";

/// UpdateContributorInsights: enabling insights on a table being
/// restored. ValidationException.
pub const INSIGHTS_TABLE_NOT_ACTIVE: &str = "Table or Index is not in a valid state to update Key Access Insights: TableStatus must be ACTIVE to enable ContributorInsights.";

/// DescribeContributorInsights: the `ExceptionDescription` of the
/// `FailureException` of insights that failed as CloudWatch's rule limit
/// was reached. LimitExceededException.
pub const INSIGHTS_RULE_LIMIT: &str = "Amazon CloudWatch Contributor Insights rule limit reached. Please disable Contributor Insights for other tables/indexes OR disable other CloudWatch Contributor Insights rules before retrying.";

/// The `/tidepool/insights` report: insights not enabled on `what` ([`insights_of_table`],
/// [`insights_of_index`]). ValidationException. Tidepool's text.
pub fn insights_not_enabled(what: impl Display) -> String {
    format!("Contributor Insights is not enabled on {what}: enable it with UpdateContributorInsights")
}

/// The `/tidepool/insights` report: how [`insights_not_enabled`] names a
/// table. Tidepool's text.
pub fn insights_of_table(table: impl Display) -> String {
    format!("table {table}")
}

/// The `/tidepool/insights` report: how [`insights_not_enabled`] names a
/// global index. Tidepool's text.
pub fn insights_of_index(index: impl Display, table: impl Display) -> String {
    format!("index {index} of table {table}")
}

/// The `/tidepool/insights` report: no `table` query parameter.
/// ValidationException. Tidepool's text.
pub const INSIGHTS_TABLE_REQUIRED: &str = "The query parameter table is required";

/// The `/tidepool/insights` report: `minutes` not 1 to 60.
/// ValidationException. Tidepool's text.
pub const INSIGHTS_MINUTES: &str = "minutes must be a whole number from 1 to 60";

/// The `/tidepool/insights` report: `top` not 1 to `max`.
/// ValidationException. Tidepool's text.
pub fn insights_top(max: impl Display) -> String {
    format!("top must be a whole number from 1 to {max}")
}

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

/// CreateTable: a table of that name exists (ResourceInUseException).
/// RestoreTableFromBackup, RestoreTableToPointInTime: the target table exists
/// (TableAlreadyExistsException).
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

/// UpdateTable: a `Create` in `GlobalSecondaryIndexUpdates` or
/// `VectorIndexUpdates` names an index the table has. ValidationException.
pub const INDEX_ALREADY_EXISTS: &str = "Attempting to create an index which already exists";

/// UpdateTable: a `Create` in `GlobalSecondaryIndexUpdates` would exceed the
/// per-table limit of global secondary indexes; carries the limit.
/// LimitExceededException.
pub fn too_many_gsis(limit: impl std::fmt::Display) -> String {
    format!("Subscriber limit exceeded: Number of global secondary indexes exceeds per-table limit of {limit}")
}

/// UpdateTable: a `Delete` in `GlobalSecondaryIndexUpdates` names a local
/// secondary index. ValidationException.
pub fn delete_not_global_index(index: impl std::fmt::Display) -> String {
    format!("Cannot delete an index that is not a GlobalSecondaryIndex: {index}")
}

/// UpdateTable: `ProvisionedThroughput` on a table that is (or becomes)
/// `PAY_PER_REQUEST`. ValidationException.
pub const THROUGHPUT_WITH_PAY_PER_REQUEST: &str = "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST";

/// UpdateTable: a switch to (or restatement of) `PROVISIONED` without
/// `ProvisionedThroughput`. ValidationException.
pub const PROVISIONED_WITHOUT_THROUGHPUT: &str = "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED";

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
