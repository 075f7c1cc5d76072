//! DynamoDB checks a request's attribute values in one of two layers, and
//! the operation decides which; the layer decides the wording of a bad
//! number or a duplicate set member, and whether a bad expression value is
//! named with its placeholder. Captured by the public conformance suite
//! paritysuite/dynamodb-conformance in four regions, 2026-10-09:
//!
//! - *current*: PutItem, UpdateItem and DeleteItem, which also put their
//!   request-validation faults inside the `1 validation error detected: `
//!   envelope; GetItem, BatchGetItem and Query, bare.
//! - *older*: BatchWriteItem, TransactWriteItems, TransactGetItems, Scan and
//!   PartiQL, bare, with a bad expression value wrapped in
//!   `ExpressionAttributeValues contains invalid value: … for key :v`.
//!
//! The layer of the request being served is kept in a thread-local, set by
//! [`super::dispatch`] around the (synchronous) operation.

use std::cell::Cell;

use tidepool_store::messages;

use super::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Current,
    Older,
}

thread_local! {
    static LAYER: Cell<Layer> = const { Cell::new(Layer::Current) };
    /// The request nests past the depth where DynamoDB reads it in an
    /// older form ([`deep_request`]).
    static DEEP: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` for an item write (PutItem, UpdateItem, DeleteItem) that nests
/// past about 62 levels of item (`deep`): DynamoDB then reads it in an
/// older form, which
/// checks ConditionalOperator and ReturnValues (with their enum sets in
/// hash order) before the values' depth, and envelops nothing else
/// (paritysuite/dynamodb-conformance, `validation-ordering/deepRequests`,
/// 2026-10).
pub fn deep_request<T>(deep: bool, f: impl FnOnce() -> T) -> T {
    let _restore = Restore::deep(deep);
    f()
}

/// Puts a thread-local back as it was when dropped, so a panicking
/// operation (caught by the runtime) leaves no stale flag on its thread.
struct Restore {
    layer: Option<Layer>,
    deep: Option<bool>,
}

impl Restore {
    fn layer(layer: Layer) -> Self {
        Restore { layer: Some(LAYER.with(|l| l.replace(layer))), deep: None }
    }

    fn deep(deep: bool) -> Self {
        Restore { layer: None, deep: Some(DEEP.with(|d| d.replace(deep))) }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(layer) = self.layer {
            LAYER.with(|l| l.set(layer));
        }
        if let Some(deep) = self.deep {
            DEEP.with(|d| d.set(deep));
        }
    }
}

/// Whether the request this thread serves is a deep one.
pub fn is_deep() -> bool {
    DEEP.with(Cell::get)
}

/// The layer that checks `op`'s values.
pub fn of(op: &str) -> Layer {
    match op {
        "BatchWriteItem"
        | "TransactWriteItems"
        | "TransactGetItems"
        | "Scan"
        | "ExecuteStatement"
        | "BatchExecuteStatement"
        | "ExecuteTransaction" => Layer::Older,
        _ => Layer::Current,
    }
}

/// The layer of the request this thread serves.
pub fn current() -> Layer {
    LAYER.with(Cell::get)
}

/// Runs `f` with values checked in `op`'s layer, and puts `op`'s
/// request-validation faults in their envelope.
pub fn serve<T>(op: &str, f: impl FnOnce() -> ApiResult<T>) -> ApiResult<T> {
    let restore = Restore::layer(of(op));
    let out = f().map_err(|e| envelope(op, e));
    drop(restore);
    out
}

/// Whether `op` reports its request-validation faults inside the
/// `1 validation error detected: ` envelope.
pub fn envelops(op: &str) -> bool {
    matches!(op, "PutItem" | "UpdateItem" | "DeleteItem")
}

/// The faults the current layer envelops, by the start of their message:
/// values, placeholders, empty conditions, ReturnValues and `Expected`.
/// Faults found against the table (a key that does not match the schema,
/// an empty key value, a key attribute updated) stay bare.
const ENVELOPED: &[&str] = &[
    "The parameter cannot be converted to a numeric value",
    "Number overflow. ",
    "Number underflow. ",
    "Attempting to store more than 38 significant digits",
    "One or more parameter values were invalid: Input collection",
    "One or more parameter values were invalid: Null attribute value types",
    "ExpressionAttributeValues can only be specified when using expressions",
    "ExpressionAttributeNames can only be specified when using expressions",
    "ExpressionAttributeValues must not be empty",
    "ExpressionAttributeNames must not be empty",
    "Invalid ConditionExpression: The expression can not be empty;",
    "Invalid ConditionExpression: An expression attribute value used in expression is not defined",
    "ReturnValues can only be ALL_OLD or NONE",
    "One or more parameter values were invalid: Value must be provided when Exists",
    "One or more parameter values were invalid: Value cannot be used when Exists is false",
    "One or more parameter values were invalid: Value and AttributeValueList cannot be used together",
    "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator",
    "One or more parameter values were invalid: Invalid number of argument(s) for the",
    // The request's values; not the same words without their reason, an
    // update's result found too deep against the stored item.
    "Nesting Levels have exceeded supported limits: Attributes in the item",
    "Attribute name is too large",
    "Empty attribute name",
];

fn envelope(op: &str, mut e: ApiError) -> ApiError {
    if envelops(op)
        && !is_deep()
        && e.kind.ends_with("#ValidationException")
        && ENVELOPED.iter().any(|p| e.message.starts_with(p))
    {
        e.message = messages::request::envelope([&e.message]);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_item_writes_envelop_and_only_their_request_faults() {
        let fault = || ApiError::validation("ExpressionAttributeValues must not be empty");
        assert_eq!(
            envelope("PutItem", fault()).message,
            "1 validation error detected: ExpressionAttributeValues must not be empty"
        );
        assert_eq!(envelope("Query", fault()).message, "ExpressionAttributeValues must not be empty");
        let schema = ApiError::validation("The provided key element does not match the schema");
        assert_eq!(envelope("DeleteItem", schema).message, "The provided key element does not match the schema");
        assert_eq!(of("Scan"), Layer::Older);
        assert_eq!(of("GetItem"), Layer::Current);
    }
}
