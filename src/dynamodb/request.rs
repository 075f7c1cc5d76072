//! Reading request members with DynamoDB's validation wording.

use serde_json::{Map, Value as Json};
use tidepool_store::messages;

use super::error::{ApiError, ApiResult};

/// A request body: a JSON object.
pub struct Req<'a>(pub &'a Map<String, Json>);

/// "tableName" style member name used in validation messages.
pub(crate) fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn missing(name: &str) -> ApiError {
    ApiError::validation(messages::request::envelope([messages::request::null_at(lower_first(name))]))
}

impl<'a> Req<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Json> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str_opt(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("a string", name))),
        }
    }

    pub fn str(&self, name: &str) -> ApiResult<&'a str> {
        self.str_opt(name)?.ok_or_else(|| missing(name))
    }

    pub fn bool_opt(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("a boolean", name))),
        }
    }

    pub fn int_opt(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::serialization(messages::request::expected_for("an integer", name))),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("an integer", name))),
        }
    }

    pub fn obj_opt(&self, name: &str) -> ApiResult<Option<Req<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Object(m)) => Ok(Some(Req(m))),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("a structure", name))),
        }
    }

    pub fn list_opt(&self, name: &str) -> ApiResult<Option<&'a Vec<Json>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("a list", name))),
        }
    }

    /// A list member whose elements are structures.
    pub fn objects(&self, name: &str) -> ApiResult<Vec<Req<'a>>> {
        let Some(list) = self.list_opt(name)? else { return Ok(Vec::new()) };
        list.iter()
            .map(|e| match e {
                Json::Object(m) => Ok(Req(m)),
                _ => Err(ApiError::serialization(messages::request::expected_in("structures", name))),
            })
            .collect()
    }

    /// A list member whose elements are strings.
    pub fn strings(&self, name: &str) -> ApiResult<Option<Vec<String>>> {
        let Some(list) = self.list_opt(name)? else { return Ok(None) };
        list.iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::serialization(messages::request::expected_in("strings", name)))
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    /// A map member whose values are strings (ExpressionAttributeNames).
    pub fn string_map(&self, name: &str) -> ApiResult<Option<Vec<(String, String)>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or_else(|| ApiError::serialization(messages::request::expected_in("string values", name)))
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(ApiError::serialization(messages::request::expected_for("a map", name))),
        }
    }

    /// An enum member checked against its allowed values.
    /// A timestamp member: epoch seconds, as the SDKs send timestamps.
    pub fn time_opt(&self, name: &str) -> ApiResult<Option<f64>> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(ApiError::serialization(messages::request::not_a_date(name))),
        }
    }

    pub fn enum_opt(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
        self.enum_opt_at(name, &lower_first(name), allowed)
    }

    /// [`Req::enum_opt`] of a member inside another, named by its whole
    /// path in the refusal (`incrementalExportSpecification.exportViewType`).
    pub fn enum_opt_at(&self, name: &str, path: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
        match self.str_opt(name)? {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
                v,
                path,
                messages::request::in_enum(allowed),
            )]))),
        }
    }
}
