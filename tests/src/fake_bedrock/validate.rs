//! Validation of Converse / ConverseStream request bodies, mirroring Bedrock's ValidationException rules.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::validate_config;

pub(crate) type Check = Result<(), String>;

/// Location of a content block, printed like Bedrock does (`messages.1.content.0`).
#[derive(Clone, Copy)]
pub(crate) struct Loc(pub(crate) usize, pub(crate) usize);

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "messages.{}.content.{}", self.0, self.1)
    }
}

enum Kind<'a> {
    Other,
    Reasoning,
    ToolUse(&'a str),
    ToolResult(&'a str),
}

/// Validates a Converse request body; the error is the ValidationException message.
pub(crate) fn converse(body: &Value) -> Check {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        _ => return Err("1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null".into()),
    };
    if messages.is_empty() {
        return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
    }
    if let Some(system) = obj.get("system") {
        validate_config::system(system)?;
    }
    if let Some(config) = obj.get("inferenceConfig") {
        validate_config::inference(config)?;
    }
    let has_tool_config = match obj.get("toolConfig") {
        Some(config) => {
            validate_config::tools(config)?;
            true
        }
        None => false,
    };
    let mut previous_uses: Vec<&str> = Vec::new();
    let mut uses_tools = false;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role must be 'user' or 'assistant', got {:?}.",
                message.get("role")
            ));
        }
        if i == 0 && role != "user" {
            return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
        }
        if role != if i % 2 == 0 { "user" } else { "assistant" } {
            return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into());
        }
        let content = match message.get("content") {
            Some(Value::Array(c)) if !c.is_empty() => c,
            _ => return Err(format!("The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again.")),
        };
        let (mut uses, mut results) = (Vec::new(), Vec::new());
        for (j, block) in content.iter().enumerate() {
            let at = Loc(i, j);
            match content_block(block, at)? {
                Kind::ToolUse(_) if role != "assistant" => {
                    return Err(format!(
                        "{at}: toolUse blocks are only allowed in assistant messages."
                    ))
                }
                Kind::ToolResult(_) if role != "user" => {
                    return Err(format!(
                        "{at}: toolResult blocks are only allowed in user messages."
                    ))
                }
                Kind::Reasoning if role != "assistant" => {
                    return Err(format!(
                        "{at}: reasoningContent blocks are only allowed in assistant messages."
                    ))
                }
                Kind::ToolUse(id) => uses.push(id),
                Kind::ToolResult(id) => results.push(id),
                Kind::Other | Kind::Reasoning => {}
            }
        }
        uses_tools |= !uses.is_empty() || !results.is_empty();
        if role == "user" {
            if let Some(id) = results.iter().find(|id| !previous_uses.contains(id)) {
                return Err(format!("messages.{i}.content: the toolUseId {id} of a toolResult block does not match any toolUse block in the previous assistant message."));
            }
            let missing: Vec<&str> = previous_uses
                .iter()
                .copied()
                .filter(|id| !results.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                    missing.join(", ")
                ));
            }
        }
        previous_uses = uses;
    }
    if uses_tools && !has_tool_config {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    Ok(())
}

/// The single `(member, value)` of a union object, or an error naming `what` at `at`.
pub(crate) fn union<'a>(
    value: &'a Value,
    what: &str,
    at: &dyn fmt::Display,
) -> Result<(&'a str, &'a Value), String> {
    let obj: &Map<String, Value> = value
        .as_object()
        .ok_or_else(|| format!("{at}: a {what} must be a JSON object."))?;
    let mut members = obj.iter();
    match (members.next(), members.next()) {
        (Some((key, value)), None) => Ok((key.as_str(), value)),
        _ => Err(format!(
            "{at}: a {what} must set exactly one member, found {}.",
            obj.len()
        )),
    }
}

pub(crate) fn non_blank_text(value: &Value, at: &dyn fmt::Display) -> Check {
    match value.as_str() {
        Some(text) if !text.trim().is_empty() => Ok(()),
        Some(_) => Err(format!("The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again.")),
        None => Err(format!("{at}: text must be a string.")),
    }
}

fn content_block<'a>(block: &'a Value, at: Loc) -> Result<Kind<'a>, String> {
    let (member, value) = union(block, "ContentBlock", &at)?;
    match member {
        "text" => non_blank_text(value, &at)?,
        "image" => image(value, &at)?,
        "document" => document(value, &at)?,
        "toolUse" => {
            let id = non_empty_str(value.get("toolUseId"), "toolUse.toolUseId", &at)?;
            non_empty_str(value.get("name"), "toolUse.name", &at)?;
            if !value.get("input").is_some_and(Value::is_object) {
                return Err(format!("{at}: toolUse.input must be a JSON object."));
            }
            return Ok(Kind::ToolUse(id));
        }
        "toolResult" => {
            let id = non_empty_str(value.get("toolUseId"), "toolResult.toolUseId", &at)?;
            let items = value.get("content").and_then(Value::as_array).ok_or_else(|| format!("{at}: toolResult.content must be a list."))?;
            for item in items {
                match union(item, "ToolResultContentBlock", &at)? {
                    ("text", text) if text.is_string() => {}
                    ("json", _) => {}
                    ("image", image_block) => image(image_block, &at)?,
                    ("document", doc) => document(doc, &at)?,
                    (other, _) => return Err(format!("{at}: unsupported toolResult content member {other:?} (expected text, json, image or document).")),
                }
            }
            match value.get("status").map(|s| s.as_str()) {
                None | Some(Some("success" | "error")) => {}
                Some(s) => return Err(format!("{at}: toolResult.status must be 'success' or 'error', got {s:?}.")),
            }
            return Ok(Kind::ToolResult(id));
        }
        "reasoningContent" => {
            super::features::reasoning_block(value, &at)?;
            return Ok(Kind::Reasoning);
        }
        "cachePoint" | "guardContent" => {}
        other => return Err(format!("{at}: unknown content block member {other:?} (expected text, image, document, toolUse or toolResult).")),
    }
    Ok(Kind::Other)
}

fn non_empty_str<'a>(
    value: Option<&'a Value>,
    what: &str,
    at: &dyn fmt::Display,
) -> Result<&'a str, String> {
    match value.and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("{at}: {what} must be a non-empty string.")),
    }
}

fn image(value: &Value, at: &dyn fmt::Display) -> Check {
    match value.get("format").and_then(Value::as_str) {
        Some("png" | "jpeg" | "gif" | "webp") => {}
        other => {
            return Err(format!(
                "{at}: image.format must be one of png, jpeg, gif, webp, got {other:?}."
            ))
        }
    }
    source(value.get("source"), "image", at, 3_750_000)
}

fn document(value: &Value, at: &dyn fmt::Display) -> Check {
    match value.get("format").and_then(Value::as_str) {
        Some("pdf" | "csv" | "doc" | "docx" | "xls" | "xlsx" | "html" | "txt" | "md") => {}
        other => {
            return Err(format!(
                "{at}: document.format is not supported: {other:?}."
            ))
        }
    }
    let name = non_empty_str(value.get("name"), "document.name", at)?;
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || "-()[]".contains(c))
        && !name.contains("  ");
    if !valid {
        return Err(format!("{at}: document.name may contain only alphanumeric characters, single whitespace characters, hyphens, parentheses and square brackets."));
    }
    source(value.get("source"), "document", at, 4_500_000)
}

fn source(value: Option<&Value>, what: &str, at: &dyn fmt::Display, max_bytes: usize) -> Check {
    let value = value.ok_or_else(|| format!("{at}: {what}.source is required."))?;
    match union(value, "source", at)? {
        ("bytes", Value::String(b64)) => {
            match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) if bytes.len() > max_bytes => Err(format!("{at}: {what}.source.bytes exceeds the {max_bytes} byte limit.")),
                Ok(bytes) if !bytes.is_empty() => Ok(()),
                _ => Err(format!("{at}: {what}.source.bytes must be non-empty standard base64 (no data: URL prefix).")),
            }
        }
        ("s3Location", loc) if loc.get("uri").is_some_and(Value::is_string) => Ok(()),
        ("text", Value::String(_)) | ("content", Value::Array(_)) if what == "document" => Ok(()),
        (other, _) => Err(format!("{at}: invalid {what}.source member {other:?}.")),
    }
}
