//! Reports a partial batch failure: every record whose new image has `fail` = `true` (BOOL) is
//! returned in `batchItemFailures` by its sequence number; the others succeed. Use it with
//! `FunctionResponseTypes: ["ReportBatchItemFailures"]`.

wit_bindgen::generate!({ world: "handler", path: "../../wit" });

use aws_lambda_events::event::dynamodb::Event;
use serde_dynamo::AttributeValue;
use serde_json::json;
use tidepool::handler::log::{Level, log};

struct PartialBatch;

impl Guest for PartialBatch {
    fn handle(event: String, _context: Context) -> Result<String, FunctionError> {
        let event: Event = serde_json::from_str(&event)
            .map_err(|e| FunctionError { error_type: "InvalidEvent".into(), error_message: e.to_string() })?;
        let failures: Vec<_> = event
            .records
            .iter()
            .filter(|record| matches!(record.change.new_image.get("fail"), Some(AttributeValue::Bool(true))))
            .map(|record| json!({"itemIdentifier": record.change.sequence_number}))
            .collect();
        log(Level::Info, &format!("{} of {} records failed", failures.len(), event.records.len()));
        Ok(json!({"batchItemFailures": failures}).to_string())
    }
}

export!(PartialBatch);
