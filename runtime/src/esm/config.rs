//! An event source mapping's configuration: every parameter of Lambda's
//! `CreateEventSourceMapping` that applies to DynamoDB Streams, its validation
//! with Lambda's error types, and the `EventSourceMappingConfiguration` JSON
//! the Lambda API returns.
//!
//! The persisted form ([`MappingConfig`], serde) uses the Lambda API's member
//! names, so a request body maps onto [`MappingParams`] and a response is
//! [`MappingConfig::to_lambda_json`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::filter::FilterSet;

/// Lambda's range of `BatchSize` for DynamoDB Streams.
pub const BATCH_SIZE: std::ops::RangeInclusive<i64> = 1..=10_000;
/// Lambda's default `BatchSize`.
pub const DEFAULT_BATCH_SIZE: u32 = 100;
/// Lambda's range of `MaximumBatchingWindowInSeconds`.
pub const BATCHING_WINDOW_SECONDS: std::ops::RangeInclusive<i64> = 0..=300;
/// Lambda's range of `ParallelizationFactor`.
pub const PARALLELIZATION_FACTOR: std::ops::RangeInclusive<i64> = 1..=10;
/// Lambda's range of `MaximumRetryAttempts` (-1 is infinite).
pub const RETRY_ATTEMPTS: std::ops::RangeInclusive<i64> = -1..=10_000;
/// Lambda's range of `MaximumRecordAgeInSeconds` (-1 is infinite; 0..59 are refused).
pub const RECORD_AGE_SECONDS: std::ops::RangeInclusive<i64> = -1..=604_800;
/// The shortest finite `MaximumRecordAgeInSeconds` Lambda accepts.
pub const MIN_FINITE_RECORD_AGE_SECONDS: i64 = 60;
/// Lambda's range of `TumblingWindowInSeconds` (0 is off).
pub const TUMBLING_WINDOW_SECONDS: std::ops::RangeInclusive<i64> = 0..=900;
/// Lambda's default quota of filters per mapping.
pub const MAX_FILTERS: usize = 5;
/// Lambda's limit on one filter pattern's length.
pub const MAX_PATTERN_BYTES: usize = 4096;

/// Where a new mapping starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingPosition {
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    #[serde(rename = "LATEST")]
    Latest,
}

impl StartingPosition {
    pub fn as_str(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
        }
    }
}

/// A mapping's `State`, as Lambda reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MappingState {
    Creating,
    Enabling,
    Enabled,
    Disabling,
    Disabled,
    Updating,
    Deleting,
}

impl MappingState {
    pub fn as_str(self) -> &'static str {
        match self {
            MappingState::Creating => "Creating",
            MappingState::Enabling => "Enabling",
            MappingState::Enabled => "Enabled",
            MappingState::Disabling => "Disabling",
            MappingState::Disabled => "Disabled",
            MappingState::Updating => "Updating",
            MappingState::Deleting => "Deleting",
        }
    }
}

/// `DestinationConfig`: only `OnFailure` applies to stream sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationConfig {
    #[serde(rename = "OnFailure", default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

/// `DestinationConfig.OnFailure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnFailure {
    /// In Tidepool, the ARN of a table of the same store:
    /// `arn:aws:dynamodb:<region>:<account>:table/<name>`.
    #[serde(rename = "Destination", default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// `FilterCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterCriteria {
    #[serde(rename = "Filters", default)]
    pub filters: Vec<Filter>,
}

/// One `FilterCriteria.Filters[]` entry: a pattern as a JSON string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(rename = "Pattern", default)]
    pub pattern: String,
}

/// The one `FunctionResponseTypes` value.
pub const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

/// A mapping as persisted: parameters, status and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingConfig {
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// The function's name, as the engine's caller resolves it.
    pub function_name: String,
    pub function_arn: String,
    /// The stream ARN: `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`.
    pub event_source_arn: String,
    pub batch_size: u32,
    pub maximum_batching_window_in_seconds: u32,
    pub starting_position: StartingPosition,
    pub parallelization_factor: u32,
    /// -1 retries until the records age out or are trimmed.
    pub maximum_retry_attempts: i32,
    /// -1 keeps records until the stream trims them (24 hours).
    pub maximum_record_age_in_seconds: i32,
    pub bisect_batch_on_function_error: bool,
    #[serde(default)]
    pub destination_config: DestinationConfig,
    #[serde(default)]
    pub function_response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_criteria: Option<FilterCriteria>,
    pub tumbling_window_in_seconds: u32,
    /// Tidepool's exactly-once store effects (see the `esm` module): the
    /// function's store writes commit with the checkpoint of their batch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exactly_once: bool,
    pub enabled: bool,
    pub state: MappingState,
    /// Epoch milliseconds of the last change.
    pub last_modified_ms: u64,
    pub last_processing_result: String,
    pub state_transition_reason: String,
}

/// The parameters of a `CreateEventSourceMapping` or
/// `UpdateEventSourceMapping` request body (members the request leaves out
/// are `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingParams {
    pub event_source_arn: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub starting_position: Option<String>,
    pub starting_position_timestamp: Option<Value>,
    pub parallelization_factor: Option<i64>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_in_seconds: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub destination_config: Option<DestinationConfig>,
    pub function_response_types: Option<Vec<String>>,
    pub filter_criteria: Option<FilterCriteria>,
    pub tumbling_window_in_seconds: Option<i64>,
    /// Tidepool's extension: [`MappingConfig::exactly_once`].
    pub exactly_once: Option<bool>,
}

/// Which of Lambda's client errors a refused configuration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// A member outside its modelled constraint (`ValidationException`).
    Validation,
    /// A value Lambda refuses for this source (`InvalidParameterValueException`).
    InvalidParameterValue,
}

/// A refused mapping configuration, with Lambda's error type and wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.error_type())]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    pub message: String,
}

impl ConfigError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ConfigError { kind: ConfigErrorKind::InvalidParameterValue, message: message.into() }
    }

    fn constraint(member: &str, value: impl std::fmt::Display, constraint: &str) -> Self {
        ConfigError {
            kind: ConfigErrorKind::Validation,
            message: format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
            ),
        }
    }

    /// The `__type` / `x-amzn-ErrorType` of the error.
    pub fn error_type(&self) -> &'static str {
        match self.kind {
            ConfigErrorKind::Validation => "ValidationException",
            ConfigErrorKind::InvalidParameterValue => "InvalidParameterValueException",
        }
    }
}

/// Checks `value` against a modelled numeric range of member `member`.
fn in_range(member: &str, value: i64, range: &std::ops::RangeInclusive<i64>) -> Result<(), ConfigError> {
    if value < *range.start() {
        return Err(ConfigError::constraint(
            member,
            value,
            &format!("Member must have value greater than or equal to {}", range.start()),
        ));
    }
    if value > *range.end() {
        return Err(ConfigError::constraint(
            member,
            value,
            &format!("Member must have value less than or equal to {}", range.end()),
        ));
    }
    Ok(())
}

/// The table and label a DynamoDB stream ARN names.
pub fn parse_stream_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:dynamodb:")?;
    let (_, resource) = rest.split_once(":table/")?;
    let (table, label) = resource.split_once("/stream/")?;
    (!table.is_empty() && !label.is_empty()).then_some((table, label))
}

/// The table a DynamoDB table ARN names (no stream or index suffix).
pub fn parse_table_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:dynamodb:")?;
    let (_, table) = rest.split_once(":table/")?;
    (!table.is_empty() && !table.contains('/')).then_some(table)
}

impl MappingConfig {
    /// A new mapping from a `CreateEventSourceMapping` request, for the function
    /// `function_name` whose ARN is `function_arn`, at `now_ms`. The caller
    /// checks that the function and the stream exist.
    pub fn create(
        params: MappingParams,
        function_name: &str,
        function_arn: &str,
        now_ms: u64,
    ) -> Result<MappingConfig, ConfigError> {
        let arn = params
            .event_source_arn
            .clone()
            .ok_or_else(|| ConfigError::constraint("eventSourceArn", "null", "Member must not be null"))?;
        if parse_stream_arn(&arn).is_none() {
            return Err(ConfigError::invalid(format!(
                "Unrecognized event source, must be a DynamoDB stream ARN \
                 (arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>): {arn}"
            )));
        }
        let starting_position = match params.starting_position.as_deref() {
            Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
            Some("LATEST") => StartingPosition::Latest,
            Some("AT_TIMESTAMP") => {
                return Err(ConfigError::invalid(format!("Unsupported starting position for arn type: {arn}")));
            }
            Some(other) => {
                return Err(ConfigError::constraint(
                    "startingPosition",
                    other,
                    "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                ));
            }
            None => {
                return Err(ConfigError::invalid(
                    "1 validation error detected: StartingPosition must be specified for DynamoDB Streams event sources",
                ));
            }
        };
        if params.starting_position_timestamp.is_some() {
            return Err(ConfigError::invalid(format!("Unsupported starting position for arn type: {arn}")));
        }
        let mut config = MappingConfig {
            uuid: uuid::Uuid::new_v4().to_string(),
            function_name: function_name.to_string(),
            function_arn: function_arn.to_string(),
            event_source_arn: arn,
            batch_size: DEFAULT_BATCH_SIZE,
            maximum_batching_window_in_seconds: 0,
            starting_position,
            parallelization_factor: 1,
            maximum_retry_attempts: -1,
            maximum_record_age_in_seconds: -1,
            bisect_batch_on_function_error: false,
            destination_config: DestinationConfig::default(),
            function_response_types: Vec::new(),
            filter_criteria: None,
            tumbling_window_in_seconds: 0,
            exactly_once: false,
            enabled: true,
            state: MappingState::Creating,
            last_modified_ms: now_ms,
            last_processing_result: "No records processed".into(),
            state_transition_reason: "User action".into(),
        };
        config.apply(params)?;
        config.state = if config.enabled { MappingState::Enabled } else { MappingState::Disabled };
        Ok(config)
    }

    /// Applies an `UpdateEventSourceMapping` request at `now_ms`. The event
    /// source and the starting position cannot change (Lambda's update has no
    /// such members); they are ignored. Nothing changes when it fails.
    pub fn update(&mut self, mut params: MappingParams, now_ms: u64) -> Result<(), ConfigError> {
        params.event_source_arn = None;
        params.starting_position = None;
        params.starting_position_timestamp = None;
        let mut next = self.clone();
        next.apply(params)?;
        next.last_modified_ms = now_ms;
        next.state = if next.enabled { MappingState::Enabled } else { MappingState::Disabled };
        next.state_transition_reason = "User action".into();
        *self = next;
        Ok(())
    }

    fn apply(&mut self, p: MappingParams) -> Result<(), ConfigError> {
        if let Some(v) = p.enabled {
            self.enabled = v;
        }
        if let Some(v) = p.batch_size {
            in_range("batchSize", v, &BATCH_SIZE)?;
            self.batch_size = v as u32;
        }
        if let Some(v) = p.maximum_batching_window_in_seconds {
            in_range("maximumBatchingWindowInSeconds", v, &BATCHING_WINDOW_SECONDS)?;
            self.maximum_batching_window_in_seconds = v as u32;
        }
        if let Some(v) = p.parallelization_factor {
            in_range("parallelizationFactor", v, &PARALLELIZATION_FACTOR)?;
            self.parallelization_factor = v as u32;
        }
        if let Some(v) = p.maximum_retry_attempts {
            in_range("maximumRetryAttempts", v, &RETRY_ATTEMPTS)?;
            self.maximum_retry_attempts = v as i32;
        }
        if let Some(v) = p.maximum_record_age_in_seconds {
            in_range("maximumRecordAgeInSeconds", v, &RECORD_AGE_SECONDS)?;
            if v != -1 && v < MIN_FINITE_RECORD_AGE_SECONDS {
                return Err(ConfigError::invalid(
                    "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)",
                ));
            }
            self.maximum_record_age_in_seconds = v as i32;
        }
        if let Some(v) = p.bisect_batch_on_function_error {
            self.bisect_batch_on_function_error = v;
        }
        if let Some(v) = p.destination_config {
            if let Some(arn) = v.on_failure.as_ref().and_then(|o| o.destination.as_deref())
                && !arn.is_empty()
                && parse_table_arn(arn).is_none()
            {
                return Err(ConfigError::invalid(format!(
                    "The provided destination config DestinationConfig.OnFailure.Destination is invalid: {arn}. \
                     Tidepool's on-failure destination is a table of its own store: \
                     arn:aws:dynamodb:<region>:<account>:table/<name>"
                )));
            }
            self.destination_config = v;
        }
        if let Some(v) = p.function_response_types {
            if let Some(bad) = v.iter().find(|t| *t != REPORT_BATCH_ITEM_FAILURES) {
                return Err(ConfigError::constraint(
                    "functionResponseTypes",
                    format!("[{bad}]"),
                    "Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]",
                ));
            }
            let mut v = v;
            v.dedup();
            self.function_response_types = v;
        }
        if let Some(v) = p.filter_criteria {
            if v.filters.len() > MAX_FILTERS {
                return Err(ConfigError::invalid(format!(
                    "The maximum number of filters ({MAX_FILTERS}) per event source mapping was exceeded."
                )));
            }
            for f in &v.filters {
                if f.pattern.len() > MAX_PATTERN_BYTES {
                    return Err(ConfigError::constraint(
                        "filterCriteria.filters.member.pattern",
                        "...",
                        &format!("Member must have length less than or equal to {MAX_PATTERN_BYTES}"),
                    ));
                }
            }
            FilterSet::parse(&v)?;
            self.filter_criteria = if v.filters.is_empty() { None } else { Some(v) };
        }
        if let Some(v) = p.tumbling_window_in_seconds {
            in_range("tumblingWindowInSeconds", v, &TUMBLING_WINDOW_SECONDS)?;
            self.tumbling_window_in_seconds = v as u32;
        }
        if let Some(v) = p.exactly_once {
            self.exactly_once = v;
        }
        if self.exactly_once {
            if self.reports_batch_item_failures() {
                return Err(ConfigError::invalid(
                    "ExactlyOnce cannot be combined with FunctionResponseTypes [ReportBatchItemFailures]: \
                     a partial batch response retries part of a batch, and the writes of the invocation \
                     cannot be told apart by record",
                ));
            }
            if self.parallelization_factor > 1 {
                return Err(ConfigError::invalid("ExactlyOnce requires a ParallelizationFactor of 1"));
            }
        }
        Ok(())
    }

    /// The on-failure destination's ARN, when one is set.
    pub fn destination_arn(&self) -> Option<&str> {
        self.destination_config.on_failure.as_ref().and_then(|o| o.destination.as_deref()).filter(|d| !d.is_empty())
    }

    /// Whether the function's partial batch responses are honoured.
    pub fn reports_batch_item_failures(&self) -> bool {
        self.function_response_types.iter().any(|t| t == REPORT_BATCH_ITEM_FAILURES)
    }

    /// Checks a configuration read back from storage or built by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut copy = self.clone();
        copy.apply(MappingParams {
            batch_size: Some(self.batch_size.into()),
            maximum_batching_window_in_seconds: Some(self.maximum_batching_window_in_seconds.into()),
            parallelization_factor: Some(self.parallelization_factor.into()),
            maximum_retry_attempts: Some(self.maximum_retry_attempts.into()),
            maximum_record_age_in_seconds: Some(self.maximum_record_age_in_seconds.into()),
            destination_config: Some(self.destination_config.clone()),
            function_response_types: Some(self.function_response_types.clone()),
            filter_criteria: self.filter_criteria.clone(),
            tumbling_window_in_seconds: Some(self.tumbling_window_in_seconds.into()),
            exactly_once: Some(self.exactly_once),
            ..MappingParams::default()
        })?;
        if parse_stream_arn(&self.event_source_arn).is_none() {
            return Err(ConfigError::invalid(format!("Unrecognized event source: {}", self.event_source_arn)));
        }
        Ok(())
    }

    /// The mapping's ARN: `arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>`,
    /// region and account taken from the function's ARN.
    pub fn mapping_arn(&self) -> String {
        let mut parts = self.function_arn.split(':');
        let region = parts.nth(3).unwrap_or("us-east-1");
        let account = parts.next().unwrap_or("000000000000");
        format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{}", self.uuid)
    }

    /// The `EventSourceMappingConfiguration` the Lambda API returns.
    pub fn to_lambda_json(&self) -> Value {
        let mut out = json!({
            "UUID": self.uuid,
            "EventSourceMappingArn": self.mapping_arn(),
            "StartingPosition": self.starting_position.as_str(),
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.maximum_batching_window_in_seconds,
            "ParallelizationFactor": self.parallelization_factor,
            "EventSourceArn": self.event_source_arn,
            "FunctionArn": self.function_arn,
            "LastModified": self.last_modified_ms as f64 / 1000.0,
            "LastProcessingResult": self.last_processing_result,
            "State": self.state.as_str(),
            "StateTransitionReason": self.state_transition_reason,
            "DestinationConfig": match self.destination_arn() {
                Some(d) => json!({"OnFailure": {"Destination": d}}),
                None => json!({"OnFailure": {}}),
            },
            "MaximumRecordAgeInSeconds": self.maximum_record_age_in_seconds,
            "BisectBatchOnFunctionError": self.bisect_batch_on_function_error,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "TumblingWindowInSeconds": self.tumbling_window_in_seconds,
            "FunctionResponseTypes": self.function_response_types,
        });
        if let Some(f) = &self.filter_criteria {
            out["FilterCriteria"] = serde_json::to_value(f).unwrap_or(Value::Null);
        }
        if self.exactly_once {
            out["ExactlyOnce"] = Value::Bool(true);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2024-01-01T00:00:00.000";
    const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:f";

    fn params(v: Value) -> MappingParams {
        serde_json::from_value(v).expect("params")
    }

    fn create(v: Value) -> Result<MappingConfig, ConfigError> {
        MappingConfig::create(params(v), "f", FN, 1_700_000_000_000)
    }

    #[test]
    fn defaults_are_lambdas() {
        let c = create(json!({"EventSourceArn": ARN, "StartingPosition": "LATEST"})).unwrap();
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.maximum_retry_attempts, -1);
        assert_eq!(c.maximum_record_age_in_seconds, -1);
        assert_eq!(c.parallelization_factor, 1);
        assert!(c.enabled);
        assert_eq!(c.state, MappingState::Enabled);
        assert_eq!(c.uuid.len(), 36);
        let j = c.to_lambda_json();
        assert_eq!(j["StartingPosition"], "LATEST");
        assert_eq!(j["State"], "Enabled");
        assert_eq!(j["LastProcessingResult"], "No records processed");
        assert_eq!(j["DestinationConfig"], json!({"OnFailure": {}}));
        assert_eq!(j["LastModified"], 1_700_000_000.0);
        assert_eq!(
            j["EventSourceMappingArn"],
            format!("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{}", c.uuid)
        );
        c.validate().unwrap();
        let back: MappingConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn every_parameter_is_checked() {
        let cases: &[(Value, &str, &str)] = &[
            (json!({"BatchSize": 0}), "ValidationException", "greater than or equal to 1"),
            (json!({"BatchSize": 10001}), "ValidationException", "less than or equal to 10000"),
            (json!({"MaximumBatchingWindowInSeconds": 301}), "ValidationException", "maximumBatchingWindowInSeconds"),
            (json!({"ParallelizationFactor": 11}), "ValidationException", "parallelizationFactor"),
            (json!({"MaximumRetryAttempts": -2}), "ValidationException", "maximumRetryAttempts"),
            (json!({"MaximumRecordAgeInSeconds": 59}), "InvalidParameterValueException", "either -1 (forever)"),
            (json!({"MaximumRecordAgeInSeconds": 604801}), "ValidationException", "604800"),
            (json!({"TumblingWindowInSeconds": 901}), "ValidationException", "tumblingWindowInSeconds"),
            (json!({"FunctionResponseTypes": ["Nope"]}), "ValidationException", "ReportBatchItemFailures"),
            (
                json!({"StartingPosition": "AT_TIMESTAMP"}),
                "InvalidParameterValueException",
                "Unsupported starting position",
            ),
            (json!({"StartingPosition": "EARLY"}), "ValidationException", "enum value set"),
            (json!({"FilterCriteria": {"Filters": [{"Pattern": "{"}]}}), "InvalidParameterValueException", "filter"),
            (
                json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:q"}}}),
                "InvalidParameterValueException",
                "destination",
            ),
        ];
        for (extra, ty, needle) in cases {
            let mut body = json!({"EventSourceArn": ARN, "StartingPosition": "TRIM_HORIZON"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let e = create(body).expect_err(&extra.to_string());
            assert_eq!(e.error_type(), *ty, "{extra}: {e}");
            assert!(e.message.contains(needle), "{extra}: {e}");
        }
        let too_many = json!({"Filters": (0..6).map(|_| json!({"Pattern": "{}"})).collect::<Vec<_>>()});
        let e = create(json!({"EventSourceArn": ARN, "StartingPosition": "LATEST", "FilterCriteria": too_many}));
        assert!(e.unwrap_err().message.contains("maximum number of filters"));
        assert!(create(json!({"EventSourceArn": "arn:aws:sqs:us-east-1:1:q", "StartingPosition": "LATEST"})).is_err());
        assert!(create(json!({"EventSourceArn": ARN})).is_err());
    }

    #[test]
    fn bounds_are_accepted() {
        let c = create(json!({
            "EventSourceArn": ARN, "StartingPosition": "TRIM_HORIZON", "BatchSize": 10000,
            "MaximumBatchingWindowInSeconds": 300, "ParallelizationFactor": 10, "MaximumRetryAttempts": 10000,
            "MaximumRecordAgeInSeconds": 60, "TumblingWindowInSeconds": 900, "BisectBatchOnFunctionError": true,
            "FunctionResponseTypes": ["ReportBatchItemFailures"], "Enabled": false,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:dynamodb:us-east-1:000000000000:table/Failures"}},
            "FilterCriteria": {"Filters": [{"Pattern": "{\"eventName\":[\"INSERT\"]}"}]}
        }))
        .unwrap();
        assert_eq!(c.state, MappingState::Disabled);
        assert!(c.reports_batch_item_failures());
        assert_eq!(c.destination_arn(), Some("arn:aws:dynamodb:us-east-1:000000000000:table/Failures"));
        let j = c.to_lambda_json();
        assert_eq!(j["FilterCriteria"]["Filters"][0]["Pattern"], "{\"eventName\":[\"INSERT\"]}");
        assert_eq!(j["TumblingWindowInSeconds"], 900);
    }

    #[test]
    fn update_changes_only_what_it_names_and_is_atomic() {
        let mut c = create(json!({"EventSourceArn": ARN, "StartingPosition": "LATEST"})).unwrap();
        let before = c.clone();
        assert!(c.update(params(json!({"BatchSize": 5, "ParallelizationFactor": 0})), 5).is_err());
        assert_eq!(c, before);
        c.update(params(json!({"BatchSize": 5, "Enabled": false, "StartingPosition": "TRIM_HORIZON"})), 5).unwrap();
        assert_eq!(c.batch_size, 5);
        assert_eq!(c.state, MappingState::Disabled);
        assert_eq!(c.starting_position, StartingPosition::Latest);
        assert_eq!(c.last_modified_ms, 5);
    }

    #[test]
    fn exactly_once_refuses_what_cannot_be_exact() {
        let base = json!({"EventSourceArn": ARN, "StartingPosition": "LATEST", "ExactlyOnce": true});
        let c = create(base.clone()).unwrap();
        assert!(c.exactly_once);
        assert_eq!(c.to_lambda_json()["ExactlyOnce"], true);
        let mut partial = base.clone();
        partial["FunctionResponseTypes"] = json!(["ReportBatchItemFailures"]);
        let e = create(partial).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::InvalidParameterValue);
        assert!(e.message.contains("ReportBatchItemFailures"), "{}", e.message);
        let mut parallel = base;
        parallel["ParallelizationFactor"] = json!(2);
        assert_eq!(create(parallel).unwrap_err().kind, ConfigErrorKind::InvalidParameterValue);
        let mut c =
            create(json!({"EventSourceArn": ARN, "StartingPosition": "LATEST", "ParallelizationFactor": 2})).unwrap();
        assert!(c.update(params(json!({"ExactlyOnce": true})), 1).is_err(), "an update is checked as a whole");
        assert!(!c.exactly_once);
        assert!(c.to_lambda_json().get("ExactlyOnce").is_none(), "the extension stays out of AWS's shape");
    }

    #[test]
    fn arns_parse() {
        assert_eq!(parse_stream_arn(ARN), Some(("T", "2024-01-01T00:00:00.000")));
        assert_eq!(parse_table_arn("arn:aws:dynamodb:r:1:table/Fail"), Some("Fail"));
        assert_eq!(parse_table_arn(ARN), None);
        assert_eq!(parse_stream_arn("arn:aws:dynamodb:r:1:table/T"), None);
    }
}
