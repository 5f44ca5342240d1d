//! Lenient scalar deserializers: a number or boolean field also accepts the same value as a string.
//!
//! `os.environ/NAME` references always resolve to strings, and PyYAML (which LiteLLM uses) reads
//! `3e-6` as a string, so `timeout: os.environ/TIMEOUT` or `input_cost_per_token: 3e-6` must work.
//! Anything that is not a valid value is still an error, reported at the field's path.

use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_yaml_ng::Value;

/// `Option<f64>` from a number or a numeric string.
pub(super) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    opt_parsed(d, "a number")
}

/// `Option<u64>` from a whole number or a string holding one.
pub(super) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    opt_parsed(d, "a non-negative whole number")
}

/// `Option<u32>` from a whole number or a string holding one.
pub(super) fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    opt_parsed(d, "a non-negative whole number (at most 4294967295)")
}

/// `Option<bool>` from a boolean or a string `true`/`false`/`yes`/`no`/`on`/`off`.
pub(super) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(Some(true)),
            "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(D::Error::custom(expected(
                "true or false",
                &Value::String(s),
            ))),
        },
        Some(other) => Err(D::Error::custom(expected("true or false", &other))),
    }
}

/// `Option<String>` from any scalar (a version written as `1` is the string `"1"`).
pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => scalar_text(&value)
            .map(Some)
            .ok_or_else(|| D::Error::custom(expected("a string", &value))),
    }
}

fn opt_parsed<'de, D, T>(d: D, what: &str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => scalar_text(&value)
            .and_then(|text| text.trim().parse::<T>().ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(expected(what, &value))),
    }
}

/// The text of a scalar (string, number or boolean); `None` for null, lists and maps.
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

fn expected(what: &str, got: &Value) -> String {
    let got = match got {
        Value::String(s) => format!("string {s:?}"),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Null => String::from("null"),
        Value::Sequence(_) => String::from("a list"),
        Value::Mapping(_) => String::from("a map"),
        Value::Tagged(_) => String::from("a tagged value"),
    };
    format!("expected {what}, got {got}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_f64")]
        cost: Option<f64>,
        #[serde(default, deserialize_with = "opt_u32")]
        retries: Option<u32>,
        #[serde(default, deserialize_with = "opt_bool")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "opt_string")]
        version: Option<String>,
    }

    fn probe(yaml: &str) -> Result<Probe, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(yaml)
    }

    #[test]
    fn accepts_numbers_and_numeric_strings() {
        let p = probe("cost: '3e-6'\nretries: '3'\nflag: 'yes'\nversion: 1").unwrap();
        assert_eq!(p.cost, Some(3e-6));
        assert_eq!(p.retries, Some(3));
        assert_eq!(p.flag, Some(true));
        assert_eq!(p.version.as_deref(), Some("1"));
        let p = probe("cost: 0.000015\nretries: 0\nflag: false").unwrap();
        assert_eq!(p.cost, Some(0.000015));
        assert_eq!(p.retries, Some(0));
        assert_eq!(p.flag, Some(false));
        let p = probe("cost:\n").unwrap();
        assert_eq!(p.cost, None);
    }

    #[test]
    fn rejects_non_numbers() {
        let err = probe("retries: three").unwrap_err().to_string();
        assert!(err.contains("got string \"three\""), "{err}");
        assert!(probe("retries: -1").is_err());
        assert!(probe("retries: 1.5").is_err());
        assert!(probe("cost: [1]").is_err());
    }
}
