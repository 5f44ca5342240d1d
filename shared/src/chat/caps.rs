//! Length caps on the strings a caller writes that reach records, logs and traces: `user` and
//! `metadata` (its keys, values, `tags`, `session_id`, `project_name`, and its size). Over a cap
//! is a 400 in OpenAI's error shape naming the field, never a silent cut.

use serde_json::Value;

use crate::error::GatewayError;

/// Characters of the body's `user`.
pub const MAX_USER_CHARS: usize = 256;
/// Keys in `metadata` (OpenAI's limit).
pub const MAX_METADATA_KEYS: usize = 16;
/// Characters of a `metadata` key (OpenAI's limit).
pub const MAX_METADATA_KEY_CHARS: usize = 64;
/// Characters of a string value in `metadata` (OpenAI's limit).
pub const MAX_METADATA_VALUE_CHARS: usize = 512;
/// Bytes of the whole `metadata` object as JSON (nested values included).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Entries in `metadata.tags`.
pub const MAX_TAGS: usize = 16;
/// Characters of one tag.
pub const MAX_TAG_CHARS: usize = 128;
/// Characters of a session id (`metadata.session_id`; the `x-session-id` header has the same
/// cap and is ignored beyond it).
pub const MAX_SESSION_ID_CHARS: usize = 128;
/// Characters of `metadata.project_name`.
pub const MAX_PROJECT_NAME_CHARS: usize = 128;

/// `Ok` when `user` and `metadata` are within their caps.
pub fn check(user: Option<&str>, metadata: Option<&Value>) -> Result<(), GatewayError> {
    if let Some(user) = user {
        within("user", user, MAX_USER_CHARS)?;
    }
    let map = match metadata {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(GatewayError::invalid_request(
                "`metadata` must be an object",
                "metadata",
            ))
        }
    };
    if map.len() > MAX_METADATA_KEYS {
        return Err(GatewayError::invalid_request(
            format!("`metadata` may have at most {MAX_METADATA_KEYS} keys"),
            "metadata",
        ));
    }
    if serde_json::to_string(map).map_or(usize::MAX, |s| s.len()) > MAX_METADATA_BYTES {
        return Err(GatewayError::invalid_request(
            format!("`metadata` may be at most {MAX_METADATA_BYTES} bytes as JSON"),
            "metadata",
        ));
    }
    for (key, value) in map {
        if key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(GatewayError::invalid_request(
                format!("`metadata` keys may be at most {MAX_METADATA_KEY_CHARS} characters"),
                "metadata",
            ));
        }
        let field = format!("metadata.{key}");
        match (key.as_str(), value) {
            ("session_id", Value::String(s)) => within(&field, s, MAX_SESSION_ID_CHARS)?,
            ("project_name", Value::String(s)) => within(&field, s, MAX_PROJECT_NAME_CHARS)?,
            ("tags", Value::Array(tags)) => {
                if tags.len() > MAX_TAGS {
                    return Err(GatewayError::invalid_request(
                        format!("`{field}` may have at most {MAX_TAGS} entries"),
                        field,
                    ));
                }
                for (i, tag) in tags.iter().enumerate() {
                    if let Value::String(tag) = tag {
                        within(&format!("{field}[{i}]"), tag, MAX_TAG_CHARS)?;
                    }
                }
            }
            (_, Value::String(s)) => within(&field, s, MAX_METADATA_VALUE_CHARS)?,
            _ => {}
        }
    }
    Ok(())
}

fn within(field: &str, text: &str, max: usize) -> Result<(), GatewayError> {
    if text.chars().nth(max).is_some() {
        return Err(GatewayError::invalid_request(
            format!("`{field}` may be at most {max} characters"),
            field.to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(result: Result<(), GatewayError>) -> Option<String> {
        match result {
            Err(GatewayError::InvalidRequest { param, .. }) => param.map(|p| p.into_owned()),
            _ => None,
        }
    }

    #[test]
    fn each_cap_names_its_field_and_the_cap_itself_passes() {
        let at = |n: usize| "é".repeat(n);
        assert!(check(Some(&at(MAX_USER_CHARS)), None).is_ok());
        assert_eq!(
            param(check(Some(&at(MAX_USER_CHARS + 1)), None)).as_deref(),
            Some("user")
        );
        let full = json!({"session_id": at(MAX_SESSION_ID_CHARS),
                          "project_name": at(MAX_PROJECT_NAME_CHARS),
                          "tags": vec![at(MAX_TAG_CHARS); MAX_TAGS],
                          "note": at(MAX_METADATA_VALUE_CHARS)});
        assert!(check(None, Some(&full)).is_ok());
        for (metadata, field) in [
            (
                json!({"session_id": at(MAX_SESSION_ID_CHARS + 1)}),
                "metadata.session_id",
            ),
            (
                json!({"project_name": at(MAX_PROJECT_NAME_CHARS + 1)}),
                "metadata.project_name",
            ),
            (json!({"tags": vec!["t"; MAX_TAGS + 1]}), "metadata.tags"),
            (
                json!({"tags": ["ok", at(MAX_TAG_CHARS + 1)]}),
                "metadata.tags[1]",
            ),
            (
                json!({"note": at(MAX_METADATA_VALUE_CHARS + 1)}),
                "metadata.note",
            ),
            (json!({at(MAX_METADATA_KEY_CHARS + 1): 1}), "metadata"),
            (json!({"deep": [at(MAX_METADATA_BYTES)]}), "metadata"),
            (json!("a string"), "metadata"),
        ] {
            assert_eq!(param(check(None, Some(&metadata))).as_deref(), Some(field));
        }
        let many: serde_json::Map<String, Value> = (0..=MAX_METADATA_KEYS)
            .map(|i| (format!("k{i}"), json!(1)))
            .collect();
        assert_eq!(
            param(check(None, Some(&Value::Object(many)))).as_deref(),
            Some("metadata")
        );
    }
}
