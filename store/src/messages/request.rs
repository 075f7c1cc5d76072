//! The request as a whole, before any operation looks at it: the wire
//! (serialization, unknown operations, sizes, compression), required
//! parameters, and the `N validation errors detected: ...` envelope of
//! member constraint violations.

use std::fmt::Display;

// The envelope of member constraint violations, and its templates.

/// Any operation: the member constraints a request breaks, reported
/// together (`1 validation error detected: <one>`, or `N validation errors
/// detected: <one>; <two>`); also the envelope PutItem, UpdateItem and
/// DeleteItem put their request-validation faults in. ValidationException.
pub fn envelope<I>(found: I) -> String
where
    I: IntoIterator,
    I::Item: Display,
{
    let found: Vec<String> = found.into_iter().map(|f| f.to_string()).collect();
    let n = found.len();
    let noun = if n == 1 { "error" } else { "errors" };
    format!("{n} validation {noun} detected: {}", found.join("; "))
}

/// Any operation: member `path` (its whole path in the request, as
/// `keySchema.1.member.keyType`) holds `value`, which breaks `constraint`.
/// ValidationException, inside the [`envelope`].
pub fn value_at(value: impl Display, path: impl Display, constraint: impl Display) -> String {
    format!("Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")
}

/// Any operation: member `path` breaks `constraint`, its value not
/// echoed (an empty table name, Query's `Limit`, a scaling policy's name).
/// ValidationException, inside the [`envelope`].
pub fn unechoed_at(path: impl Display, constraint: impl Display) -> String {
    format!("Value at '{path}' failed to satisfy constraint: {constraint}")
}

/// Any operation: a required member `path` is missing or null
/// (`vectorIndexes.1.member.dimensions`, `topK`). ValidationException, inside
/// the [`envelope`].
pub fn null_at(path: impl Display) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// Any operation: a string or list member longer than its model allows
/// (a constraint of [`value_at`]). ValidationException.
pub fn max_length(n: impl Display) -> String {
    format!("Member must have length less than or equal to {n}")
}

/// Any operation: a string or list member shorter than its model allows
/// (a constraint of [`value_at`]). ValidationException.
pub fn min_length(n: impl Display) -> String {
    format!("Member must have length greater than or equal to {n}")
}

/// CreateTable, UpdateTable: a list of names (an index projection's
/// `NonKeyAttributes`) with a member outside 1 to `max` characters (a
/// constraint of [`value_at`], the list echoed as Java prints it).
/// ValidationException.
pub fn members_length(max: impl Display) -> String {
    format!(
        "Member must satisfy constraint: [Member must have length less than or equal to {max}, Member must have length greater than or equal to 1]"
    )
}

/// UpdateTableReplicaAutoScaling: a scaling policy's name outside its
/// lengths (a constraint of [`unechoed_at`]). ValidationException.
pub fn length_between(least: impl Display, most: impl Display) -> String {
    format!("Member must have length between {least} and {most}")
}

/// Any operation: a number member below its model's least (a constraint
/// of [`value_at`]). ValidationException.
pub fn min_value(n: impl Display) -> String {
    format!("Member must have value greater than or equal to {n}")
}

/// Any operation: a number member above its model's most (a constraint of
/// [`value_at`]). ValidationException.
pub fn max_value(n: impl Display) -> String {
    format!("Member must have value less than or equal to {n}")
}

/// Any operation: an enum member outside its set, the set in the order
/// the model (or the live service) lists it (a constraint of
/// [`value_at`]). ValidationException.
pub fn in_enum(allowed: &[&str]) -> String {
    format!("Member must satisfy enum value set: [{}]", allowed.join(", "))
}

/// Any operation: a table or index name with a character outside
/// `[a-zA-Z0-9_.-]` (a constraint of [`value_at`]). ValidationException.
pub const NAME_PATTERN: &str = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";

/// BatchGetItem, BatchWriteItem: a key of `RequestItems` breaks the
/// constraints of a table name, all of them listed (a constraint of
/// [`value_at`]). ValidationException.
pub fn map_keys(constraints: &[String]) -> String {
    format!("Map keys must satisfy constraint: [{}]", constraints.join(", "))
}

/// PutItem, UpdateItem, DeleteItem, Query, Scan: `ConditionalOperator`
/// outside its set, reported bare and alone, before anything else.
/// ValidationException.
///
/// The live service's words, its odd set included (the conformance suite,
/// 2026-10).
pub const CONDITIONAL_OPERATOR_NOT_IN_ENUM: &str =
    "Failed to satisfy constraint: Member must satisfy enum value set: [ALL, OR]";

// Required parameters.

/// CreateTable: `TableName` left out. ValidationException.
pub fn parameter_required(name: impl Display) -> String {
    format!("The parameter '{name}' is required but was not present in the request")
}

// Table ARNs standing for table names.

/// BatchGetItem, BatchWriteItem: one table named twice in `RequestItems`,
/// by its name and by its ARN, with different settings. ValidationException.
/// Tidepool's text.
pub fn table_named_twice(name: impl Display) -> String {
    format!(
        "One or more parameter values were invalid: Table {name} is named more than once in RequestItems, by its name and by its ARN, with different settings"
    )
}

// Serialization: the members' wire types, in the words of DynamoDB's
// deserializer (Coral over Jackson), as dynalite's tests record them.

/// Any operation: a scalar of the wrong kind (`token`: `TRUE_VALUE`,
/// `FALSE_VALUE`, `DECIMAL_VALUE`, `NUMBER_VALUE`, `STRING_VALUE`) where a
/// `java` type (`String`, `Long`, ...) is expected. SerializationException.
pub fn cannot_convert(token: &str, java: impl Display) -> String {
    format!("{token} cannot be converted to {java}")
}

/// Any operation: a list where a scalar or structure of Java class `class`
/// is expected. SerializationException.
pub fn unrecognized_collection_class(class: impl Display) -> String {
    format!("Unrecognized collection type class {class}")
}

/// Any operation: a list where a map of Java type `java` is expected.
/// SerializationException.
pub fn unrecognized_collection_type(java: impl Display) -> String {
    format!("Unrecognized collection type {java}")
}

/// Any operation: an object where a scalar or list is expected.
/// SerializationException.
pub const STRUCTURE_NOT_EXPECTED: &str = "Start of structure or map found where not expected";

/// Any operation: a Boolean member sent as a string that names no Boolean.
/// SerializationException.
pub const UNEXPECTED_TOKEN: &str = "Unexpected token received from parser";

/// Any operation: a scalar where a structure, list or map member is
/// expected. SerializationException.
pub const UNEXPECTED_FIELD_TYPE: &str = "Unexpected field type";

/// Any operation: a scalar where a structure is expected as a list's
/// member or a map's value. SerializationException.
pub const UNEXPECTED_VALUE_TYPE: &str = "Unexpected value type in payload";

/// Any operation: a scalar where a list or map is expected as a list's
/// member or a map's value. SerializationException.
///
/// What Java's reflection says, bug and all: DynamoDB answers with it.
pub const PARAMETERIZED_TYPE_CAST: &str = "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class \
java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class are in module \
java.base of loader 'bootstrap')";

/// Any operation: a binary member that is neither a string nor a list or
/// object. SerializationException.
pub const BLOB_NOT_STRING: &str = "only base-64-encoded strings are convertible to bytes";

/// Any operation: a binary member whose Base64 is not whole quanta (its
/// `length` in bytes). SerializationException.
pub fn base64_length(length: impl Display) -> String {
    format!("Base64 encoded length is expected a multiple of 4 bytes but found: {length}")
}

/// Any operation: a binary member with a character outside Base64's
/// alphabet. SerializationException.
pub fn base64_character(c: impl Display) -> String {
    format!("Invalid Base64 character: '{c}'")
}

/// Any operation: a binary member whose Base64 is not canonical (padding
/// inside, or bits set past the last byte). SerializationException.
///
/// The codec's own spelling ("dectected") is kept.
pub const BASE64_LAST_CHARACTER: &str = "Invalid last non-pad Base64 character dectected";

/// Any operation: member `name` is not of its `kind` (`a string`, `a
/// boolean`, `an integer`, `a structure`, `a list`, `a map`), a type the
/// model's reading did not catch. SerializationException. Tidepool's text.
pub fn expected_for(kind: &str, name: impl Display) -> String {
    format!("Expected {kind} for {name}")
}

/// Any operation: an element of list or map member `name` is not of its
/// `kind` (`structures`, `strings`, `string values`). SerializationException.
/// Tidepool's text.
pub fn expected_in(kind: &str, name: impl Display) -> String {
    format!("Expected {kind} in {name}")
}

/// Any operation: timestamp member `name` is not a number.
/// SerializationException.
pub fn not_a_date(name: impl Display) -> String {
    format!("NUMBER_VALUE cannot be converted to Date for {name}")
}

/// BatchWriteItem: an element of a table's requests that is not a
/// structure. SerializationException. Tidepool's text.
pub const EXPECTED_WRITE_REQUEST: &str = "Expected a WriteRequest structure";

// The wire: sizes, load.

/// Any operation: a request body past the most the operation takes.
/// RequestEntityTooLarge (413); the Lambda API sends it too.
pub fn too_large(limit: impl Display) -> String {
    format!("Request must be smaller than {limit} bytes for the operation")
}

/// Any operation: too many large request bodies being read at once.
/// ThrottlingException. Tidepool's text (the Lambda API sends it too).
pub const TOO_MANY_LARGE_REQUESTS: &str = "Too many large requests are being read at once; retry with backoff";

/// Any operation: a request on a connection past the server's most
/// (`max`). ThrottlingException. Tidepool's text (the Lambda API sends it
/// too).
pub fn too_many_connections(max: impl Display) -> String {
    format!("Too many connections to the server (it serves {max} at once); retry with backoff")
}

// Authentication: Signature Version 4, as AWS words its refusals (the
// Lambda and S3 APIs send the same words).

/// Any operation: a request without an `Authorization` header or a
/// presigned URL's parameters. MissingAuthenticationTokenException.
pub const MISSING_AUTHENTICATION_TOKEN: &str = "Request is missing Authentication Token";

/// Any operation: an access key id no credential has.
/// UnrecognizedClientException.
pub const INVALID_SECURITY_TOKEN: &str = "The security token included in the request is invalid.";

/// Any operation: a session token that is not the credential's (the
/// signature holds). UnrecognizedClientException.
///
/// AWS's words for this case have no final period.
pub const SECURITY_TOKEN_MISMATCH: &str = "The security token included in the request is invalid";

/// Any operation: `host` not among the signed headers.
/// InvalidSignatureException.
pub const HOST_NOT_SIGNED: &str = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// Any operation: a signature that does not match the request's.
/// InvalidSignatureException.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Any operation: what follows [`SIGNATURE_MISMATCH`] when the server
/// explains it: the canonical request and string to sign it computed.
/// InvalidSignatureException.
pub fn signature_explained(canonical: impl Display, to_sign: impl Display) -> String {
    format!(
        "\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
    )
}

/// Any operation: `SignedHeaders` naming more headers than the server
/// takes (`max`). InvalidSignatureException. Tidepool's text.
pub fn too_many_signed_headers(count: impl Display, max: impl Display) -> String {
    format!("SignedHeaders names {count} headers; at most {max} are taken.")
}

/// Any operation: `SignedHeaders` not lower case, sorted and unique.
/// InvalidSignatureException. Tidepool's text.
pub const SIGNED_HEADERS_MALFORMED: &str =
    "SignedHeaders must list lower-case header names, sorted and without repeats, separated by ';'.";

/// Any operation: both an `Authorization` header and a presigned URL's
/// `X-Amz-Algorithm`. InvalidSignatureException.
pub const BOTH_HEADER_AND_QUERY: &str =
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.";

/// Any operation: a part of the `Authorization` header without `=`.
/// IncompleteSignatureException.
pub fn not_a_key_value_pair(part: impl Display, header: impl Display) -> String {
    format!("'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'.")
}

/// Any operation: the `Authorization` header lacks parameter `name` (one
/// sentence of [`authorization_incomplete`]). IncompleteSignatureException.
pub fn authorization_requires(name: impl Display) -> String {
    format!("Authorization header requires '{name}' parameter.")
}

/// Any operation: neither `X-Amz-Date` nor `Date` is given (one sentence
/// of [`authorization_incomplete`]). IncompleteSignatureException.
pub const AUTHORIZATION_REQUIRES_DATE: &str =
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";

/// Any operation: what the `Authorization` header lacks (`missing`, its
/// sentences), then the header. IncompleteSignatureException.
pub fn authorization_incomplete(missing: &[String], header: impl Display) -> String {
    format!("{} Authorization={header}", missing.join(" "))
}

/// Any operation: a signing algorithm other than `supported`.
/// IncompleteSignatureException.
pub fn unsupported_algorithm(algorithm: impl Display, supported: impl Display) -> String {
    format!("Unsupported AWS 'algorithm': '{algorithm}' (only {supported} for now). ")
}

/// Any operation: a presigned URL without query-string parameter `name`
/// (one sentence of [`query_incomplete`]). IncompleteSignatureException.
pub fn query_requires(name: impl Display) -> String {
    format!("AWS query-string parameters must include '{name}'. ")
}

/// Any operation: what a presigned URL's query string lacks (`missing`,
/// its sentences run together). IncompleteSignatureException.
pub fn query_incomplete(missing: impl Display) -> String {
    format!("{missing}Re-examine the query-string parameters.")
}

/// Any operation: a presigned URL's `X-Amz-Expires` past a week (`max`
/// seconds). IncompleteSignatureException.
pub fn expires_too_long(max: impl Display) -> String {
    format!(
        "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {max} seconds"
    )
}

/// Any operation: a presigned URL's `X-Amz-Expires` that is not a number.
/// IncompleteSignatureException.
pub const EXPIRES_NOT_A_NUMBER: &str = "X-Amz-Expires should be a number";

/// Any operation: a credential scope without five parts.
/// IncompleteSignatureException.
pub fn credential_parts(credential: impl Display) -> String {
    format!(
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
    )
}

/// Any operation: a request date not in ISO 8601 basic format.
/// IncompleteSignatureException.
pub fn date_not_iso_basic(date: impl Display) -> String {
    format!("Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601")
}

/// Any operation: a credential scoped to another region (one sentence of
/// the scope's refusal, joined by spaces). InvalidSignatureException.
pub fn scope_region(region: impl Display) -> String {
    format!("Credential should be scoped to a valid region, not '{region}'.")
}

/// Any operation: a credential scoped to another service than `service`
/// (one sentence of the scope's refusal). InvalidSignatureException.
pub fn scope_service(service: impl Display) -> String {
    format!("Credential should be scoped to correct service: '{service}'.")
}

/// Any operation: a credential scope not ending in `aws4_request` (one
/// sentence of the scope's refusal). InvalidSignatureException.
pub fn scope_terminator(terminator: impl Display) -> String {
    format!("Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
}

/// Any operation: a credential scope's date that is not the request's
/// (one sentence of the scope's refusal). InvalidSignatureException.
pub fn scope_date(scope: impl Display, day: impl Display, date: impl Display) -> String {
    format!(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope}' != '{day}', from '{date}'."
    )
}

/// Any operation: a signature older than the skew (or a presigned URL's
/// expiry) allows; `how` is the allowance (`15 min.`, `60 sec.`).
/// InvalidSignatureException.
pub fn signature_expired(date: impl Display, earliest: impl Display, now: impl Display, how: impl Display) -> String {
    format!("Signature expired: {date} is now earlier than {earliest} ({now} - {how})")
}

/// Any operation: a signature dated later than the skew allows.
/// InvalidSignatureException.
pub fn signature_not_yet_current(
    date: impl Display,
    latest: impl Display,
    now: impl Display,
    skew_min: impl Display,
) -> String {
    format!("Signature not yet current: {date} is still later than {latest} ({now} + {skew_min} min.)")
}

/// Any operation: how [`signature_expired`] words an allowance in
/// minutes. InvalidSignatureException.
pub fn minutes(n: impl Display) -> String {
    format!("{n} min.")
}

/// Any operation: how [`signature_expired`] words a presigned URL's
/// allowance in seconds. InvalidSignatureException.
pub fn seconds(n: impl Display) -> String {
    format!("{n} sec.")
}

// A Lambda handler's calls in process (`src/bridge.rs`): their body, and
// what a handler may call.

/// Any operation a handler calls in process: its request body is not JSON
/// (`error` says where). SerializationException. Tidepool's text.
pub fn malformed_body(error: impl std::fmt::Display) -> String {
    format!("Malformed request body: {error}")
}

/// Any operation a handler calls in process: its request body is JSON but
/// not an object. SerializationException. Tidepool's text.
pub const BODY_NOT_OBJECT: &str = "Request body must be a JSON object";

/// A handler's in-process HTTP request (`what`: method and path) that its
/// exactly-once mapping does not allow. AccessDeniedException (Lambda's
/// error shape on Lambda's paths). Tidepool's text.
pub fn not_for_exactly_once_handler_request(what: impl std::fmt::Display) -> String {
    format!(
        "{what} cannot be called by the handler of an exactly-once mapping: only item reads and writes and DynamoDB Streams reads can be"
    )
}

/// A handler's in-process HTTP request (`what`: method and path) to the
/// control plane. AccessDeniedException (Lambda's error shape on Lambda's
/// paths). Tidepool's text.
pub fn not_for_handler_request(what: impl std::fmt::Display) -> String {
    format!(
        "{what} cannot be called by a handler: handlers reach DynamoDB, DynamoDB Streams, and Lambda's Invoke and read operations; the control plane is the operator's"
    )
}

/// An operation other than an item read or write called by the handler of
/// an exactly-once mapping. ValidationException. Tidepool's text.
pub fn not_for_exactly_once_handler(operation: impl std::fmt::Display) -> String {
    format!(
        "{operation} cannot be called by the handler of an exactly-once mapping: only item reads and writes can be (writes are deferred to the checkpoint)"
    )
}

/// ExecuteStatement, BatchExecuteStatement, ExecuteTransaction with a
/// write, called by a worker's exactly-once handler. ValidationException.
/// Tidepool's text.
pub fn partiql_write_not_for_worker_handler(operation: impl std::fmt::Display) -> String {
    format!(
        "{operation} with a write cannot be called by the handler of an exactly-once mapping on a worker: use PutItem, UpdateItem, DeleteItem, BatchWriteItem or TransactWriteItems"
    )
}

/// A write by a worker's exactly-once handler whose commit check of the
/// item needs more operators than an expression may have.
/// ValidationException. Tidepool's text.
pub fn exactly_once_item_too_many_operators(
    table: impl std::fmt::Display,
    max: impl std::fmt::Display,
    operators: impl std::fmt::Display,
) -> String {
    format!(
        "An exactly-once handler on a worker cannot write this item of {table}: its commit checks that the item is as read, attribute by attribute, in one expression of at most {max} operators, and this one needs {operators}"
    )
}

/// A write by a worker's exactly-once handler whose commit check of the
/// item is longer than an expression may be. ValidationException.
/// Tidepool's text.
pub fn exactly_once_item_expression_too_long(
    table: impl std::fmt::Display,
    max: impl std::fmt::Display,
    bytes: impl std::fmt::Display,
) -> String {
    format!(
        "An exactly-once handler on a worker cannot write this item of {table}: its commit checks that the item is as read, attribute by attribute, in one expression of at most {max} bytes, and this one needs {bytes}"
    )
}

/// A write by a worker's exactly-once handler past the most items one
/// batch's writes may touch. ValidationException. Tidepool's text.
pub fn exactly_once_too_many_items(max: impl std::fmt::Display) -> String {
    format!(
        "An exactly-once handler on a worker writes at most {max} items per batch: its writes and the checkpoint commit in one TransactWriteItems of at most 100 actions"
    )
}

/// A write by a worker's exactly-once handler past the most bytes one
/// batch's writes may come to. ValidationException. Tidepool's text.
pub fn exactly_once_too_many_bytes(max: impl std::fmt::Display, bytes: impl std::fmt::Display) -> String {
    format!(
        "An exactly-once handler on a worker writes at most {max} bytes per batch: its writes and the checkpoint commit in one TransactWriteItems of at most 4 MB (these come to {bytes})"
    )
}

/// PutItem, UpdateItem, DeleteItem, Query, Scan: a legacy map parameter
/// (`Expected`, `AttributeUpdates`, `KeyConditions`, `QueryFilter`,
/// `ScanFilter`) with an entry that is not a structure.
/// SerializationException.
pub fn expected_structures(member: impl std::fmt::Display) -> String {
    format!("Expected structures in {member}")
}

/// Every operation reading an attribute value: a JSON decimal where a string
/// is expected. SerializationException.
pub const DECIMAL_AS_STRING: &str = "DECIMAL_VALUE cannot be converted to String";

/// Every operation reading an attribute value: a JSON integer where a string
/// is expected. SerializationException.
pub const NUMBER_AS_STRING: &str = "NUMBER_VALUE cannot be converted to String";

/// Every operation reading an attribute value: `true` where a string is
/// expected. SerializationException.
pub const TRUE_AS_STRING: &str = "TRUE_VALUE cannot be converted to String";

/// Every operation reading an attribute value: `false` where a string is
/// expected. SerializationException.
pub const FALSE_AS_STRING: &str = "FALSE_VALUE cannot be converted to String";

/// Every operation reading an attribute value: an array where a string is
/// expected. SerializationException.
pub const COLLECTION_AS_STRING: &str = "Unrecognized collection type class java.lang.String";

/// Every operation reading an attribute value: `null` where a string is
/// expected. SerializationException.
pub const UNEXPECTED_NULL: &str = "Unexpected null value";

/// Every operation reading an attribute value: a set or `L` that is not an
/// array. SerializationException.
pub const EXPECTED_LIST: &str = "Expected list or null";

/// Every operation reading an attribute value: a `BOOL` or `NULL` that is
/// not a boolean. SerializationException.
pub const EXPECTED_BOOLEAN: &str = "Expected boolean value";

/// Every operation reading an attribute value: an `M` or an item that is not
/// an object. SerializationException.
pub const EXPECTED_MAP: &str = "Expected map or null";

/// BatchGetItem: a `RequestItems` entry (`KeysAndAttributes`) that is not a
/// structure. SerializationException.
pub fn expected_structure(member: impl std::fmt::Display) -> String {
    format!("Expected a structure for {member}")
}

/// BatchWriteItem: a `RequestItems` entry that is not a list.
/// SerializationException.
pub const EXPECTED_WRITE_REQUESTS: &str = "Expected a list of WriteRequest";

/// Every operation: a body in an unknown `Content-Encoding`, or not valid in
/// its coding. InternalServerError (a 500, as DynamoDB answers; Alternator's
/// tests against the live service). Tidepool's text.
pub const UNDECODABLE_BODY: &str = "The request body could not be decoded with its Content-Encoding";

// Authorization (with `--auth` on).

/// Every operation of the DynamoDB and Streams APIs: the caller's policies
/// do not allow `action` on `resource`; `why` is one of the three reasons
/// below, as IAM gives them. AccessDeniedException.
pub fn not_authorized_because(
    user: impl Display,
    action: impl Display,
    resource: impl Display,
    why: impl Display,
) -> String {
    format!("User: {user} is not authorized to perform: {action} on resource: {resource} {why}")
}

/// The reason of [`not_authorized_because`]: a resource-based policy
/// denies it explicitly.
pub const DENIED_BY_RESOURCE_POLICY: &str = "with an explicit deny in a resource-based policy";

/// The reason of [`not_authorized_because`]: an identity-based policy
/// denies it explicitly.
pub const DENIED_BY_IDENTITY_POLICY: &str = "with an explicit deny in an identity-based policy";

/// The reason of [`not_authorized_because`]: nothing allows it.
pub fn no_policy_allows(action: impl Display) -> String {
    format!("because no identity-based policy allows the {action} action")
}
