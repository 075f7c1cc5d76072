//! Export to and import from S3 (ExportTableToPointInTime, DescribeExport,
//! ListExports, ImportTable, DescribeImport, ListImports).

use std::fmt::Display;

// Both directions.

/// ExportTableToPointInTime, ImportTable: every export and import slot is
/// taken; `what` is `export` or `import`. LimitExceededException.
/// Tidepool's text.
pub fn too_many_transfers(max: impl Display, what: impl Display) -> String {
    format!("Too many exports and imports in progress: at most {max} run at once; retry the {what} later")
}

/// ListExports, ListImports: a `NextToken` that no page gave.
/// ValidationException.
pub fn invalid_next_token(token: impl Display) -> String {
    format!("Invalid Request: Provided nextToken is invalid: {token}")
}

/// ExportTableToPointInTime, ImportTable: the bucket name breaks the
/// member's pattern. One violation of the ValidationException envelope.
pub fn bucket_pattern_violation(bucket: impl Display, member: impl Display) -> String {
    format!(
        "Value '{bucket}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9A-Z]+[\\.\\-\\w]*[a-z0-9A-Z]+$"
    )
}

/// ExportTableToPointInTime, ImportTable: an `S3BucketOwner` that is no
/// account id. One violation of the ValidationException envelope.
pub fn owner_pattern_violation(owner: impl Display, member: impl Display) -> String {
    format!(
        "Value '{owner}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{{12}}"
    )
}

/// ExportTableToPointInTime, ImportTable: an `S3Prefix` (`S3KeyPrefix`)
/// that is absolute, names a parent or current directory, has an empty
/// segment or is over 1024 bytes. ValidationException. Tidepool's text.
pub fn invalid_prefix(prefix: impl Display) -> String {
    format!("One or more parameter values were invalid: S3 prefix '{prefix}' is not a valid key prefix here")
}

/// DescribeImport: the ARN has the form of one but names none of this
/// server's. ImportNotFoundException.
pub fn import_not_found(arn: impl Display) -> String {
    format!("Import not found: {arn}")
}

/// DescribeExport: the ARN has the form of one but names none of this
/// server's, its prefix twice, as the live service words it
/// (DDB-EXPORT-006). ExportNotFoundException.
pub fn export_not_found(arn: impl Display) -> String {
    format!("Export not found: Export not found: {arn}")
}

/// DescribeExport: an export's ARN of another region (DDB-EXPORT-006).
/// ExportNotFoundException.
pub const EXPORT_OF_ANOTHER_REGION: &str = "Export not found: Invalid export arn";

/// DescribeExport, DescribeImport: the ARN is not an export's (import's);
/// `noun` is `Export` or `Import`. ValidationException.
pub fn invalid_arn(noun: impl Display) -> String {
    format!("Invalid {noun} ARN")
}

/// DescribeExport, DescribeImport: `FailureMessage` of FailureCode
/// `S3NoSuchBucket`, the bucket missing (S3's words). Not an error
/// response.
pub const NO_SUCH_BUCKET: &str =
    "The specified bucket does not exist (Service: Amazon S3; Status Code: 404; Error Code: NoSuchBucket)";

// ExportTableToPointInTime, ListExports.

/// ExportTableToPointInTime: `TableArn` is empty. ValidationException.
pub const TABLE_ARN_EMPTY: &str = "Invalid TableArn: Invalid Table ARN";

/// ExportTableToPointInTime, ListExports: `TableArn` does not begin with
/// `arn:`. ValidationException.
pub const TABLE_ARN_NOT_ARN: &str = "One or more parameter values were invalid: tableArn is not a valid ARN";

/// ExportTableToPointInTime, ListExports: `TableArn` is a DynamoDB ARN of
/// something other than a table (an index). ValidationException.
pub const TABLE_ARN_NOT_TABLE: &str = "Invalid Request: Table ARN is invalid.";

/// ExportTableToPointInTime: INCREMENTAL_EXPORT without
/// `IncrementalExportSpecification`. ValidationException.
pub const INCREMENTAL_SPECIFICATION_EXPECTED: &str =
    "Invalid Request: Incremental Export Specification expected when export type is set as Incremental Export";

/// ExportTableToPointInTime: `IncrementalExportSpecification` without an
/// `ExportType`. ValidationException.
pub const INCREMENTAL_TYPE_EXPECTED: &str =
    "Invalid Request: Export Type expected to be Incremental Export when incremental export specification is provided";

/// ExportTableToPointInTime: FULL_EXPORT with
/// `IncrementalExportSpecification`. ValidationException. (The space
/// before the comma is DynamoDB's.)
pub const FULL_EXPORT_WITH_SPECIFICATION: &str =
    "Invalid Request: When Export Type is Full Export , Incremental Export Specification should not be provided";

/// ExportTableToPointInTime: `S3SseKmsKeyId` without `S3SseAlgorithm`
/// KMS. ValidationException.
pub const KMS_KEY_NOT_SUPPORTED: &str = "Invalid Request: KMS Key Id is not supported for this encryption type";

/// ExportTableToPointInTime: an incremental export without
/// `ExportFromTime`. ValidationException.
pub const EXPORT_FROM_TIME_REQUIRED: &str =
    "Invalid Request: ExportFromTime must be provided in IncrementalExportSpecification";

/// ExportTableToPointInTime: a `ClientToken` reused for another export.
/// ExportConflictException.
pub const EXPORT_CONFLICT: &str = "Export conflict: Duplicate request detected with conflicting parameters";

/// ExportTableToPointInTime: an incremental export's `ExportFromTime`
/// before point-in-time recovery began (quoted to the second). (The space
/// before the colon is the live service's.) InvalidExportTimeException.
pub fn from_before_creation(from: impl Display) -> String {
    format!("Incremental export period from time cannot be less than the table creation time : {from}")
}

/// ExportTableToPointInTime: an incremental export's `ExportToTime` after
/// now (quoted to the second). InvalidExportTimeException.
pub fn to_after_now(to: impl Display) -> String {
    format!("Incremental export period to time cannot be greater than the current time : {to}")
}

/// ExportTableToPointInTime: an incremental export's `ExportFromTime` not
/// before its `ExportToTime`. InvalidExportTimeException.
pub const FROM_NOT_BEFORE_TO: &str = "Incremental export period from time must be before the export period to time";

/// ExportTableToPointInTime: an incremental export's period under 15
/// minutes. InvalidExportTimeException.
pub const PERIOD_TOO_SHORT: &str =
    "Difference between export period from time and export period to time is less than 15 minutes";

/// ExportTableToPointInTime: an incremental export's period over 24 hours.
/// InvalidExportTimeException.
pub const PERIOD_TOO_LONG: &str =
    "Difference between export period from time and export period to time is more than 24 hours";

/// ExportTableToPointInTime: a full export's `ExportTime` outside the
/// restorable window. InvalidExportTimeException.
pub const EXPORT_TIME_INVALID: &str = "Export Time is invalid";

/// ExportTableToPointInTime: an incremental export's times outside the
/// restorable window (epoch seconds). InvalidExportTimeException.
pub fn export_time_outside_window(from: impl Display, to: impl Display) -> String {
    format!("The specified ExportTime is outside of the point in time recovery window: from {from} to {to}")
}

/// ListExports: `MaxResults` under `min`. ValidationException.
pub fn max_results_too_small(limit: impl Display, min: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to {min}"
    )
}

/// ListExports: `MaxResults` over `max`. ValidationException.
pub fn max_results_too_large(limit: impl Display, max: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {max}"
    )
}

// ImportTable, ListImports.

/// ImportTable: `S3BucketSource` missing. ValidationException.
pub const S3_BUCKET_SOURCE_NULL: &str =
    "1 validation error detected: Value null at 's3BucketSource' failed to satisfy constraint: Member must not be null";

/// ImportTable: `InputFormat` missing. ValidationException.
pub const INPUT_FORMAT_NULL: &str =
    "1 validation error detected: Value null at 'inputFormat' failed to satisfy constraint: Member must not be null";

/// ImportTable: a CSV `Delimiter` that is not one of `,;:|`, tab or space;
/// one of more than one character breaks its length too (the live
/// service's two errors, the pattern's first: DDB-IMPORT-009).
/// ValidationException.
pub fn csv_delimiter_not_in_set(delimiter: &str) -> String {
    use super::request::{envelope, max_length, min_length, value_at};
    let at = |constraint: String| value_at(delimiter, "inputFormatOptions.csv.delimiter", constraint);
    let mut found = vec![at("Member must satisfy regular expression pattern: [,;:|\\t ]".into())];
    match delimiter.chars().count() {
        0 => found.push(at(min_length(1))),
        1 => {}
        _ => found.push(at(max_length(1))),
    }
    envelope(found)
}

/// ImportTable: CSV `InputFormatOptions` for another `InputFormat`.
/// ValidationException.
pub fn unsupported_format_options(format: impl Display) -> String {
    format!("Invalid Request: Unsupported InputFormatOptions for the given input format: {format}.")
}

/// ImportTable: `TableCreationParameters` missing. ValidationException.
pub const TABLE_CREATION_PARAMETERS_NULL: &str = "1 validation error detected: Value null at 'tableCreationParameters' failed to satisfy constraint: Member must not be null";

/// ImportTable: a `ClientToken` reused for another import (the live
/// service's words, DDB-IMPORT-017). ImportConflictException.
pub const IMPORT_CONFLICT: &str = "Import conflict: Duplicate request detected with conflicting parameters";

/// ListImports: `PageSize` under `min`. ValidationException.
pub fn page_size_too_small(limit: impl Display, min: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'pageSize' failed to satisfy constraint: Member must have value greater than or equal to {min}"
    )
}

/// ListImports: `PageSize` over `max`. ValidationException.
pub fn page_size_too_large(limit: impl Display, max: impl Display) -> String {
    format!(
        "1 validation error detected: Value '{limit}' at 'pageSize' failed to satisfy constraint: Member must have value less than or equal to {max}"
    )
}

/// DescribeImport: `FailureMessage` of FailureCode `ItemValidationError`,
/// some lines refused (the table keeps the others). Not an error response.
pub const ITEM_VALIDATION_ERROR: &str = "Some of the items failed validation checks and were not imported. Please check CloudWatch error logs for more details.";
