//! The subset of JSON Schema the `json-schema:FILE` evaluator checks, written here rather than
//! pulling the `jsonschema` crate (and its regex, URL and HTTP dependencies) into the Lambda
//! functions' crate for one evaluator.
//!
//! Checked keywords: `type` (one name or a list), `enum`, `const`, `required`, `properties`,
//! `additionalProperties: false`, `items` (one schema), `minItems`/`maxItems`,
//! `minLength`/`maxLength`, `minimum`/`maximum`. Any other keyword is ignored (as a validator
//! ignores unknown keywords), so a schema using `$ref`, `oneOf`, `pattern` … is checked only
//! as far as these keywords go.

use serde_json::Value;

/// A schema must be an object or a boolean.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    match schema {
        Value::Object(_) | Value::Bool(_) => Ok(()),
        _ => Err("a JSON schema is an object or a boolean".into()),
    }
}

/// `Ok` when `doc` is valid under `schema`; else the first violation, with its JSON pointer.
pub fn validate(schema: &Value, doc: &Value) -> Result<(), String> {
    at(schema, doc, "")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, name: &str) -> bool {
    let actual = type_name(v);
    actual == name
        || (name == "number" && actual == "integer")
        || (name == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn bound(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn at(schema: &Value, doc: &Value, path: &str) -> Result<(), String> {
    let fail = |why: String| {
        Err(format!(
            "{}: {why}",
            if path.is_empty() { "/" } else { path }
        ))
    };
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return fail("no value is allowed here".into()),
        Value::Object(_) => schema,
        _ => return Ok(()),
    };
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| has_type(doc, n)) {
            return fail(format!(
                "expected {}, got {}",
                names.join(" or "),
                type_name(doc)
            ));
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(doc) {
            return fail(format!("{doc} is not one of the allowed values"));
        }
    }
    if let Some(want) = schema.get("const") {
        if want != doc {
            return fail(format!("expected {want}"));
        }
    }
    match doc {
        Value::Object(fields) => {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(name) {
                    return fail(format!("missing required property {name:?}"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, value) in fields {
                match properties.and_then(|p| p.get(name)) {
                    Some(sub) => at(sub, value, &format!("{path}/{name}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return fail(format!("property {name:?} is not allowed"))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as f64;
            if bound(schema, "minItems").is_some_and(|m| n < m) {
                return fail(format!("{n} items, fewer than minItems"));
            }
            if bound(schema, "maxItems").is_some_and(|m| n > m) {
                return fail(format!("{n} items, more than maxItems"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    at(item_schema, item, &format!("{path}/{i}"))?;
                }
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as f64;
            if bound(schema, "minLength").is_some_and(|m| n < m) {
                return fail(format!("{n} characters, fewer than minLength"));
            }
            if bound(schema, "maxLength").is_some_and(|m| n > m) {
                return fail(format!("{n} characters, more than maxLength"));
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(0.0);
            if bound(schema, "minimum").is_some_and(|m| x < m) {
                return fail(format!("{x} is below minimum"));
            }
            if bound(schema, "maximum").is_some_and(|m| x > m) {
                return fail(format!("{x} is above maximum"));
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_the_documented_keywords() {
        let schema = json!({
            "type": "object",
            "required": ["answer", "confidence"],
            "additionalProperties": false,
            "properties": {
                "answer": {"type": "string", "minLength": 1, "maxLength": 20},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "sources": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "kind": {"enum": ["fact", "opinion"]}
            }
        });
        assert_eq!(
            validate(&schema, &json!({"answer": "Paris", "confidence": 1})),
            Ok(())
        );
        for (doc, why) in [
            (json!([]), "expected object"),
            (
                json!({"answer": "Paris"}),
                "missing required property \"confidence\"",
            ),
            (json!({"answer": "", "confidence": 0.5}), "/answer"),
            (json!({"answer": "a", "confidence": 2}), "above maximum"),
            (
                json!({"answer": "a", "confidence": 1, "x": 1}),
                "not allowed",
            ),
            (
                json!({"answer": "a", "confidence": 1, "sources": ["a", 1]}),
                "/sources/1",
            ),
            (
                json!({"answer": "a", "confidence": 1, "kind": "guess"}),
                "allowed values",
            ),
        ] {
            let err = validate(&schema, &doc).unwrap_err();
            assert!(err.contains(why), "{doc}: {err}");
        }
        assert!(check_schema(&json!(3)).is_err());
        assert_eq!(validate(&json!({"type": "integer"}), &json!(3.0)), Ok(()));
    }
}
