//! Tidepool's vector search extension (its own operations and parameters;
//! DynamoDB has no such case, so every text here is Tidepool's).
