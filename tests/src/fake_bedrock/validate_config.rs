//! Validation of the non-message parts of a Converse request: `system`, `inferenceConfig`, `toolConfig`.

use serde_json::Value;

use super::validate::{non_blank_text, union, Check};

/// `system`: a list of `{"text": …}` (or `cachePoint` / `guardContent`) blocks.
pub(crate) fn system(value: &Value) -> Check {
    let blocks = value
        .as_array()
        .ok_or("system must be a list of SystemContentBlock objects.")?;
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("system.{i}");
        match union(block, "SystemContentBlock", &at)? {
            ("text", text) => non_blank_text(text, &at)?,
            ("cachePoint" | "guardContent", _) => {}
            (other, _) => {
                return Err(format!(
                    "{at}: unknown SystemContentBlock member {other:?} (expected text)."
                ))
            }
        }
    }
    Ok(())
}

/// `inferenceConfig{maxTokens ≥ 1, temperature 0..=1, topP 0..=1, stopSequences [string]}`.
pub(crate) fn inference(value: &Value) -> Check {
    let obj = value
        .as_object()
        .ok_or("inferenceConfig must be a JSON object.")?;
    for (key, v) in obj {
        match key.as_str() {
            "maxTokens" => match v.as_i64() {
                Some(n) if n >= 1 => {}
                _ => return Err(format!("1 validation error detected: Value {v} at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must be an integer greater than or equal to 1")),
            },
            "temperature" | "topP" => match v.as_f64() {
                Some(x) if (0.0..=1.0).contains(&x) => {}
                _ => return Err(format!("1 validation error detected: Value {v} at 'inferenceConfig.{key}' failed to satisfy constraint: Member must be a number between 0 and 1")),
            },
            "stopSequences" => {
                let ok = v.as_array().is_some_and(|seqs| seqs.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())));
                if !ok {
                    return Err("inferenceConfig.stopSequences must be a list of non-empty strings.".into());
                }
            }
            other => return Err(format!("inferenceConfig has an unknown field {other:?} (expected maxTokens, temperature, topP, stopSequences).")),
        }
    }
    Ok(())
}

/// `toolConfig{tools:[{toolSpec{name, description?, inputSchema{json}}}], toolChoice?}`.
pub(crate) fn tools(value: &Value) -> Check {
    let tools = match value.get("tools") {
        Some(Value::Array(t)) if !t.is_empty() => t,
        _ => return Err("toolConfig.tools must be a non-empty list.".into()),
    };
    let mut names = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let at = format!("toolConfig.tools.{i}");
        let spec = match union(tool, "Tool", &at)? {
            ("toolSpec", spec) => spec,
            ("cachePoint", _) => continue,
            (other, _) => {
                return Err(format!(
                    "{at}: unknown Tool member {other:?} (expected toolSpec)."
                ))
            }
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(format!(
                "{at}.toolSpec.name {name:?} must match [a-zA-Z0-9_-]{{1,64}}."
            ));
        }
        if spec.get("description").is_some_and(|d| !d.is_string()) {
            return Err(format!("{at}.toolSpec.description must be a string."));
        }
        let schema = spec
            .get("inputSchema")
            .ok_or_else(|| format!("{at}.toolSpec.inputSchema is required."))?;
        match union(schema, "ToolInputSchema", &at)? {
            ("json", json) if json.is_object() => {}
            _ => {
                return Err(format!(
                    "{at}.toolSpec.inputSchema must be {{\"json\": <JSON schema object>}}."
                ))
            }
        }
        names.push(name);
    }
    let Some(choice) = value.get("toolChoice") else {
        return Ok(());
    };
    match union(choice, "ToolChoice", &"toolConfig.toolChoice")? {
        ("auto" | "any", v) if v.is_object() => Ok(()),
        ("tool", v) => match v.get("name").and_then(Value::as_str) {
            Some(name) if names.contains(&name) => Ok(()),
            other => Err(format!("toolConfig.toolChoice.tool.name {other:?} does not name a tool in toolConfig.tools.")),
        },
        (other, _) => Err(format!("toolConfig.toolChoice must be one of {{\"auto\":{{}}}}, {{\"any\":{{}}}}, {{\"tool\":{{\"name\":…}}}}; got member {other:?}.")),
    }
}
