//! A usage record as a DynamoDB item and back, generically: serde JSON ↔ `AttributeValue`, so a
//! field added to [`super::UsageRecord`] reaches the table (and the spend API) with no code here.
//!
//! `null` fields are left out of the item (and read back as absent); numbers keep their JSON
//! text (DynamoDB `N`); arrays become lists, objects maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

/// The item's attributes for a JSON object's fields (`null`s left out).
pub fn to_item(object: &Map<String, Value>) -> HashMap<String, AttributeValue> {
    object
        .iter()
        .filter_map(|(name, value)| to_attribute(value).map(|v| (name.clone(), v)))
        .collect()
}

/// One JSON value as an attribute; `None` for `null`.
pub fn to_attribute(value: &Value) -> Option<AttributeValue> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(
            items
                .iter()
                .map(|v| to_attribute(v).unwrap_or(AttributeValue::Null(true)))
                .collect(),
        ),
        Value::Object(fields) => AttributeValue::M(to_item(fields)),
    })
}

/// An item as a JSON object.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    item.iter()
        .map(|(name, value)| (name.clone(), from_attribute(value)))
        .collect()
}

/// One attribute as JSON (sets become arrays; binary, which we never write, becomes `null`).
pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(fields) => Value::Object(from_item(fields)),
        AttributeValue::Ss(items) => items.iter().cloned().map(Value::String).collect(),
        AttributeValue::Ns(items) => items.iter().map(|n| number(n)).collect(),
        _ => Value::Null,
    }
}

fn number(text: &str) -> Value {
    if let Ok(n) = text.parse::<u64>() {
        return Value::Number(n.into());
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::Number(n.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_an_item_without_its_nulls() {
        let value = json!({"id":"r1","n":42,"cost":0.000123,"neg":-3,"ok":true,"none":null,
                           "list":["a","b"],"nested":{"x":1.5,"y":"z"},"empty":""});
        let Value::Object(object) = value else {
            unreachable!()
        };
        let item = to_item(&object);
        assert!(!item.contains_key("none"));
        assert_eq!(item["cost"], AttributeValue::N("0.000123".into()));
        let back = Value::Object(from_item(&item));
        assert_eq!(
            back,
            json!({"id":"r1","n":42,"cost":0.000123,"neg":-3,"ok":true,
                   "list":["a","b"],"nested":{"x":1.5,"y":"z"},"empty":""})
        );
    }
}
