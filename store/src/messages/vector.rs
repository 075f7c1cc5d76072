//! Vector indexes and vector search: `VectorIndexes` in CreateTable,
//! `VectorIndexUpdates` in UpdateTable, `VectorIndexOverride` in restores,
//! SearchVectors, and what a write's item must be for each vector index.
//! DynamoDB has these too: the texts are its own, as the public
//! conformance suite (nubo-db/dynamodb-conformance, `tests/tier2/vectorSearch`
//! and `tests/tier3/error-messages`) and the Developer Guide record them.

use std::fmt::Display;

// A vector index's definition, against the request model (CreateTable,
// UpdateTable's Create, a restore's override): one violation each of the
// ValidationException envelope, its member path under `at`
// (`vectorIndexes.1.member`).

/// CreateTable: `VectorIndexes` is an empty list. ValidationException.
pub const EMPTY_LIST: &str = "One or more parameter values were invalid: List of VectorIndexes is empty";

/// CreateTable, UpdateTable: `IndexName` breaks `rule` (a name
/// constraint: length, pattern). One violation of the ValidationException
/// envelope.
pub fn index_name_violation(name: impl Display, at: impl Display, rule: impl Display) -> String {
    format!("Value '{name}' at '{at}.indexName' failed to satisfy constraint: {rule}")
}

/// CreateTable, UpdateTable: `Dimensions` under 1. One violation of the
/// ValidationException envelope.
pub fn dimensions_too_small(dimensions: impl Display, at: impl Display) -> String {
    format!(
        "Value '{dimensions}' at '{at}.dimensions' failed to satisfy constraint: Member must have value greater than or equal to 1"
    )
}

/// CreateTable, UpdateTable: `DistanceFunction` is not one of `allowed`
/// (comma-separated). One violation of the ValidationException envelope.
pub fn distance_not_in_set(distance: impl Display, at: impl Display, allowed: impl Display) -> String {
    format!(
        "Value '{distance}' at '{at}.distanceFunction' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    )
}

/// CreateTable, UpdateTable: `VectorAttribute.AttributeName` is empty.
/// One violation of the ValidationException envelope.
pub fn attribute_name_empty(name: impl Display, at: impl Display) -> String {
    format!(
        "Value '{name}' at '{at}.vectorAttribute.attributeName' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// CreateTable, UpdateTable: `VectorAttribute.AttributeName` over 255
/// bytes. One violation of the ValidationException envelope.
pub fn attribute_name_too_long(name: impl Display, at: impl Display) -> String {
    format!(
        "Value '{name}' at '{at}.vectorAttribute.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"
    )
}

/// CreateTable, UpdateTable: `SearchSchema` is an empty list. One
/// violation of the ValidationException envelope.
pub fn search_schema_empty(at: impl Display) -> String {
    format!(
        "Value '[]' at '{at}.searchSchema' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
}

/// CreateTable, UpdateTable: the `SearchSchemaElementType` of element
/// `position` (from 1) is not one of `allowed` (comma-separated). One
/// violation of the ValidationException envelope.
pub fn element_type_not_in_set(
    element_type: impl Display,
    at: impl Display,
    position: impl Display,
    allowed: impl Display,
) -> String {
    format!(
        "Value '{element_type}' at '{at}.searchSchema.{position}.member.searchSchemaElementType' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    )
}

// A vector index's definition, against the table (CreateTable, UpdateTable).

/// CreateTable, UpdateTable: the vector attribute is in
/// `AttributeDefinitions`, a search schema names another index's vector
/// attribute, or a new global secondary index is keyed on a vector
/// attribute. ValidationException.
pub fn vector_attribute_defined(attribute: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Conflicting attribute definition for '{attribute}'. An attribute cannot be defined in AttributeDefinitions when used as a VectorAttribute."
    )
}

/// CreateTable, UpdateTable: a vector index on a PROVISIONED table, or a
/// switch to PROVISIONED of a table with vector indexes. ValidationException.
pub const NOT_PAY_PER_REQUEST: &str =
    "One or more parameter values were invalid: Vector indexes are only supported for PAY_PER_REQUEST tables";

/// CreateTable, UpdateTable: `Dimensions` outside 1 to `max`.
/// ValidationException.
pub fn dimensions_out_of_range(max: impl Display) -> String {
    format!("One or more parameter values were invalid: Number of dimensions must be between 1 and {max} inclusive.")
}

/// CreateTable, UpdateTable: a `SearchSchema` attribute that
/// `AttributeDefinitions` does not define. ValidationException.
pub const SEARCH_ATTRIBUTE_UNDEFINED: &str =
    "One or more parameter values were invalid: One element in SearchSchema is not defined in attribute definitions";

/// CreateTable, UpdateTable: an attribute twice in `SearchSchema`.
/// ValidationException.
pub fn duplicate_search_attribute(name: impl Display) -> String {
    format!("One or more parameter values were invalid: Duplicate attribute in SearchSchema: {name}")
}

/// CreateTable, UpdateTable: more than one HASH element in `SearchSchema`.
/// ValidationException.
pub fn too_many_hashes(count: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Value '{count}' at 'SearchSchema' failed to satisfy constraint: Member must have HASH count less than or equal to 1"
    )
}

/// CreateTable, UpdateTable: the vector attribute is also in
/// `SearchSchema`. ValidationException.
pub fn vector_in_search_schema(attribute: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: The vector attribute cannot be part of the SearchSchema: {attribute}"
    )
}

/// CreateTable, UpdateTable: more vector indexes than a table may have.
/// ValidationException.
pub fn too_many_indexes(max: impl Display) -> String {
    format!("One or more parameter values were invalid: VectorIndex count exceeds the per-table limit of {max}")
}

/// CreateTable, UpdateTable: two vector indexes on one attribute with
/// different `Dimensions`. ValidationException.
pub fn dimensions_conflict(attribute: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Conflicting attribute definition for '{attribute}'. All VectorIndexes on the same vector attribute must use the same dimensions."
    )
}

// UpdateTable's `VectorIndexUpdates`.

/// UpdateTable: a `VectorIndexUpdates` entry with neither `Create` nor
/// `Delete`. ValidationException.
pub const NO_UPDATE_ACTION: &str = "One or more parameter values were invalid: One of VectorIndexUpdate.Create, VectorIndexUpdate.Delete must not be null";

/// UpdateTable: creating a vector index whose name is being created.
/// ResourceInUseException. (Two spaces before `Table:`, kept on
/// purpose.)
pub fn index_being_created(table: impl Display, index: impl Display) -> String {
    format!(
        "Attempt to change a resource which is still in use: Index is being created.  Table: {table} Index: {index}"
    )
}

/// UpdateTable: creating a vector index on a table that has as many as it
/// may. LimitExceededException.
pub fn index_limit(max: impl Display) -> String {
    format!("Subscriber limit exceeded: Number of vector secondary indexes exceeds per-table limit of {max}")
}

/// UpdateTable: a vector attribute that is a key attribute (`role`: HASH,
/// RANGE or INDEX) of the table, an index or a search schema.
/// ValidationException.
pub fn attribute_redefined(
    key: impl Display,
    key_type: impl Display,
    role: impl Display,
    attribute: impl Display,
    dimensions: impl Display,
) -> String {
    format!(
        "One or more parameter values were invalid: Attributes cannot be redefined. Please check that your attribute has the same type as previously defined. Existing schema: Schema:[SchemaElement: key{{{key}:{key_type}:{role}}}] New schema: VectorIndexSchema:[VectorAttribute: key{{{attribute}:L:{dimensions}}}]"
    )
}

/// UpdateTable: an attribute definition of the request that the table
/// defines with another type. ValidationException.
pub fn attribute_type_changed(name: impl Display) -> String {
    format!("One or more parameter values were invalid: Attribute {name} already defined with a different type")
}

/// UpdateTable: deleting a vector index still allocating its resources.
/// ResourceInUseException.
pub fn index_allocating(table: impl Display, index: impl Display) -> String {
    format!(
        "Attempt to change a resource which is still in use: Index creation is in resource allocation phase. Retry deletion during backfilling phase or when the index is active. Table: {table} Index: {index}"
    )
}

// Writes: an item against each vector index of its table.

/// PutItem, UpdateItem, BatchWriteItem, TransactWriteItems (any write): the
/// vector attribute is not a list. ValidationException.
pub fn not_a_vector(attribute: impl Display, index: impl Display) -> String {
    format!(
        "One or more parameter values were invalid. Invalid type for parameter {attribute}, Expected: 32-bit floating point number list IndexName: {index}"
    )
}

/// Any write: element `position` (from 0) of the vector is not a number;
/// `actual` is its type. ValidationException.
pub fn element_not_a_number(
    attribute: impl Display,
    position: impl Display,
    actual: impl Display,
    index: impl Display,
) -> String {
    format!(
        "One or more parameter values were invalid. Invalid type for parameter {attribute}[{position}], Expected: 32-bit floating point number, Actual: {actual}. IndexName: {index}"
    )
}

/// Any write: element `position` (from 0) of the vector does not fit a
/// 32-bit float. ValidationException.
pub fn element_out_of_range(
    attribute: impl Display,
    position: impl Display,
    value: impl Display,
    index: impl Display,
) -> String {
    format!(
        "One or more parameter values were invalid. Invalid value for parameter {attribute}[{position}], Value: {value} is outside valid range [-3.4028235E38, 3.4028235E38]. IndexName: {index}"
    )
}

/// Any write: the vector's length is not the index's `Dimensions`.
/// ValidationException.
pub fn wrong_size(
    attribute: impl Display,
    expected: impl Display,
    actual: impl Display,
    index: impl Display,
) -> String {
    format!(
        "One or more parameter values were invalid. Invalid size for parameter {attribute}, Expected: {expected}, Actual: {actual} IndexName: {index}"
    )
}

/// Any write: a search schema attribute of another type than its
/// definition's. ValidationException.
pub fn search_attribute_type(
    attribute: impl Display,
    expected: impl Display,
    actual: impl Display,
    index: impl Display,
) -> String {
    format!(
        "One or more parameter values were invalid. Attribute '{attribute}' type mismatch. Expected: {expected}, Actual: {actual}. IndexName: {index}"
    )
}

// Reads of a vector index other than SearchVectors.

/// Query, Scan, ExecuteStatement: a read of a vector index; `end` is `.`
/// for Query and empty otherwise (DynamoDB's answers differ so).
/// ValidationException.
pub fn not_readable(operation: impl Display, end: impl Display) -> String {
    format!("{operation} operation not supported on this index type{end}")
}

// SearchVectors.

/// SearchVectors: `IndexName` breaks `rule` (named without its value).
/// One violation of the ValidationException envelope.
pub fn search_index_name_violation(rule: impl Display) -> String {
    format!("Value at 'IndexName' failed to satisfy constraint: {rule}")
}

/// SearchVectors: `SearchVector` is an empty list. One violation of the
/// ValidationException envelope.
pub const SEARCH_VECTOR_EMPTY: &str =
    "Value at 'SearchVector' failed to satisfy constraint: Member must have length greater than or equal to 1";

/// SearchVectors: `SearchVector` longer than the most dimensions an index
/// may have. One violation of the ValidationException envelope.
pub fn search_vector_too_long(max: impl Display) -> String {
    format!("Value at 'SearchVector' failed to satisfy constraint: Member must have length less than or equal to {max}")
}

/// SearchVectors: `TopK` under 1. One violation of the ValidationException
/// envelope.
pub const TOP_K_TOO_SMALL: &str =
    "Value at 'TopK' failed to satisfy constraint: Member must have value greater than or equal to 1";

/// SearchVectors: `ReturnConsumedCapacity` is not INDEXES, TOTAL or NONE.
/// One violation of the ValidationException envelope.
pub fn return_consumed_capacity_not_in_set(value: impl Display) -> String {
    format!(
        "Value '{value}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
    )
}

/// SearchVectors: `TopK` over the most it may be. ValidationException.
pub fn top_k_out_of_range(top_k: impl Display, max: impl Display) -> String {
    format!("Provided TopK value '{top_k}' is out of valid range. The value must be between 1 and {max} inclusive")
}

/// SearchVectors: `ExpressionAttributeValues` without a
/// `SearchConditionExpression`. ValidationException.
pub const VALUES_WITHOUT_CONDITION: &str =
    "ExpressionAttributeValues can only be specified when using expressions: SearchConditionExpression is null";

/// SearchVectors: the index is still being filled. ValidationException.
pub fn index_backfilling(index: impl Display) -> String {
    format!("Cannot search backfilling vector index: {index}")
}

/// SearchVectors: `SearchVector` holds a value that is not a number that
/// fits a 32-bit float. ValidationException.
pub const INVALID_SEARCH_VECTOR: &str = "Search vector contains invalid values. All values in the search vector must be a 32-bit floating-point number attribute";

/// SearchVectors: `SearchVector`'s length is not the index's `Dimensions`.
/// ValidationException.
pub fn dimension_mismatch(actual: impl Display, expected: impl Display) -> String {
    format!("Input search vector dimension {actual} does not match vector index dimension {expected}")
}

/// SearchVectors: the search condition names an attribute the search
/// schema does not have. ValidationException. (Its grammar is DynamoDB's.)
pub fn attribute_not_in_search_schema(name: impl Display) -> String {
    format!(
        "SearchConditionExpression must not contain any attributes that is not in SearchSchema. Invalid attribute: {name}"
    )
}

/// SearchVectors: the search condition's path goes below a top-level
/// attribute. ValidationException.
pub const NESTED_CONDITION: &str =
    "Invalid SearchConditionExpression: SearchConditionExpression cannot have conditions on nested attributes";

/// SearchVectors: two conditions on one attribute. ValidationException.
pub const ONE_CONDITION_PER_ATTRIBUTE: &str =
    "Invalid SearchConditionExpression: SearchConditionExpression must only contain one condition per attribute";

/// SearchVectors: no condition on the search schema's HASH attribute.
/// ValidationException.
pub const HASH_CONDITION_REQUIRED: &str = "SearchConditionExpression must be provided when SearchSchema has a HASH key";

/// SearchVectors: the HASH attribute's value is of another type than the
/// search schema's. ValidationException.
pub fn hash_type_mismatch(name: impl Display, actual: impl Display, expected: impl Display) -> String {
    format!(
        "Type of '{name}' attribute in SearchConditionExpression ({actual}) does not match type in search schema ({expected})"
    )
}

/// SearchVectors: a comparison other than `=`, or a term that is not a
/// path against a value (OR, NOT, a function). ValidationException.
pub const INVALID_COMPARATOR: &str =
    "Invalid SearchConditionExpression: Invalid comparator used in SearchConditionExpression";

/// SearchVectors: BETWEEN or IN in the search condition.
/// ValidationException.
pub const INVALID_OPERATOR: &str =
    "Invalid SearchConditionExpression: Invalid operator used in SearchConditionExpression";
