//! The pre-expression parameters older tools still send: Expected,
//! AttributeUpdates, KeyConditions, QueryFilter, ScanFilter and
//! AttributesToGet. Decoded here, converted by the store's expression module.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use tidepool_store::expr::{
    self, AttributeValueUpdate, Condition, ExpectedAttribute, KeyCondition, LegacyCondition, Path, UpdateExpr,
};
use tidepool_store::messages;
use tidepool_store::value::Value;

use super::attr::value_from_json;
use super::error::{ApiError, ApiResult};
use super::expr::expr_err;
use super::request::Req;

fn entries<'a>(r: &Req<'a>, member: &str) -> ApiResult<Vec<(&'a String, Req<'a>)>> {
    let m = r.obj_opt(member)?.map(|m| m.0).into_iter().flatten();
    m.map(|(k, v)| match v {
        Json::Object(o) => Ok((k, Req(o))),
        _ => Err(ApiError::serialization(messages::request::expected_structures(member))),
    })
    .collect()
}

fn value_list(r: &Req<'_>) -> ApiResult<Option<Vec<Value>>> {
    r.list_opt("AttributeValueList")?.map(|l| l.iter().map(|v| value_from_json(v, 0)).collect()).transpose()
}

fn conditions(r: &Req<'_>, member: &str) -> ApiResult<BTreeMap<String, LegacyCondition>> {
    entries(r, member)?
        .into_iter()
        .map(|(name, c)| {
            Ok((
                name.clone(),
                LegacyCondition {
                    comparison_operator: c.str("ComparisonOperator")?.to_string(),
                    attribute_value_list: value_list(&c)?.unwrap_or_default(),
                },
            ))
        })
        .collect()
}

/// `Expected` with `ConditionalOperator`.
pub fn expected(r: &Req<'_>) -> ApiResult<Option<Condition>> {
    let map = entries(r, "Expected")?
        .into_iter()
        .map(|(name, e)| {
            Ok((
                name.clone(),
                ExpectedAttribute {
                    value: e.get("Value").map(|v| value_from_json(v, 0)).transpose()?,
                    exists: e.bool_opt("Exists")?,
                    comparison_operator: e.str_opt("ComparisonOperator")?.map(str::to_string),
                    attribute_value_list: value_list(&e)?,
                },
            ))
        })
        .collect::<ApiResult<BTreeMap<_, _>>>()?;
    // A ConditionalOperator with fewer than two conditions to join was
    // refused by `check_params`.
    expr::expected_to_condition(&map, r.str_opt("ConditionalOperator")?).map_err(expr_err)
}

/// `QueryFilter` or `ScanFilter` with `ConditionalOperator`.
pub fn filter(r: &Req<'_>, member: &str) -> ApiResult<Option<Condition>> {
    let map = conditions(r, member)?;
    expr::filter_to_condition(&map, r.str_opt("ConditionalOperator")?).map_err(expr_err)
}

/// `KeyConditions`.
pub fn key_conditions(r: &Req<'_>) -> ApiResult<KeyCondition> {
    let map = conditions(r, "KeyConditions")?;
    expr::key_conditions_to_key_condition(&map).map_err(expr_err)
}

/// `KeyConditions`' comparison operators, each one of DynamoDB's: what
/// needs no key schema.
pub fn key_condition_operators(r: &Req<'_>) -> ApiResult<()> {
    let map = conditions(r, "KeyConditions")?;
    expr::key_condition_operators(&map).map_err(expr_err)
}

/// `AttributeUpdates`.
pub fn attribute_updates(r: &Req<'_>) -> ApiResult<UpdateExpr> {
    let map = entries(r, "AttributeUpdates")?
        .into_iter()
        .map(|(name, u)| {
            super::attr::check_attribute_name(name, true)?;
            Ok((
                name.clone(),
                AttributeValueUpdate {
                    action: u.str_opt("Action")?.map(str::to_string),
                    value: u.get("Value").map(|v| value_from_json(v, 0)).transpose()?,
                },
            ))
        })
        .collect::<ApiResult<BTreeMap<_, _>>>()?;
    expr::attribute_updates_to_update(&map).map_err(expr_err)
}

/// `AttributesToGet`.
pub fn attributes_to_get(names: Vec<String>) -> ApiResult<Vec<Path>> {
    if names.is_empty() {
        return Err(ApiError::validation(messages::expression::ATTRIBUTES_TO_GET_EMPTY));
    }
    for name in &names {
        super::attr::check_attribute_name(name, false)?;
    }
    if let Some(dup) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(ApiError::validation(messages::expression::attributes_to_get_duplicate(dup)));
    }
    Ok(expr::attributes_to_get_to_paths(&names))
}
