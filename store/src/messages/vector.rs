//! Tidepool's vector search extension (its own operations and parameters;
//! DynamoDB has no such case, so every text here is Tidepool's).

/// UpdateTable: a new global secondary index keyed on an attribute a vector
/// index uses. ValidationException. Tidepool's text.
pub fn vector_attribute_as_gsi_key(attribute: impl std::fmt::Display) -> String {
    format!(
        "One or more parameter values were invalid: Conflicting attribute definition for '{attribute}'. An attribute cannot be defined in AttributeDefinitions when used as a VectorAttribute."
    )
}
