//! Today's Converse features in the fake: extended thinking (Claude's `thinking`, Nova 2's
//! `reasoningConfig` in `additionalModelRequestFields`), prompt-cache points, and the rules
//! Bedrock holds them to.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use super::validate::Check;

/// The signature the fake puts on its thinking; a passed-back block must carry it.
pub const FAKE_SIGNATURE: &str = "fake-thinking-signature";

/// Bedrock's (Anthropic's) limit on cache points in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// The thinking a request turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thinking {
    /// Claude's `thinking` with its budget: readable, signed.
    Claude,
    /// Nova 2's `reasoningConfig`: redacted text, as Nova 2 Lite shows it, unsigned.
    Nova,
}

/// The request's thinking, after checking it as Bedrock does.
pub(crate) fn thinking(body: &Value) -> Result<Option<Thinking>, String> {
    let Some(fields) = body.get("additionalModelRequestFields") else {
        return Ok(None);
    };
    let inference = body.get("inferenceConfig");
    if let Some(thinking) = fields.get("thinking") {
        match thinking.get("type").and_then(Value::as_str) {
            Some("disabled") => return Ok(None),
            Some("enabled") => {}
            other => {
                return Err(format!(
                    "thinking.type: expected enabled or disabled, got {other:?}"
                ))
            }
        }
        let budget = thinking
            .get("budget_tokens")
            .and_then(Value::as_u64)
            .ok_or("thinking.enabled.budget_tokens: Field required")?;
        if budget < 1024 {
            return Err(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                    .into(),
            );
        }
        let max = inference
            .and_then(|c| c.get("maxTokens"))
            .and_then(Value::as_u64);
        if max.is_none_or(|max| max <= budget) {
            return Err("`max_tokens` must be greater than `thinking.budget_tokens`.".into());
        }
        let temperature = inference
            .and_then(|c| c.get("temperature"))
            .and_then(Value::as_f64);
        if temperature.is_some_and(|t| t != 1.0) {
            return Err("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at the extended thinking guide".into());
        }
        let forced = body
            .pointer("/toolConfig/toolChoice")
            .and_then(Value::as_object)
            .is_some_and(|choice| choice.contains_key("any") || choice.contains_key("tool"));
        if forced {
            return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
        }
        check_thinking_before_tool_use(body)?;
        return Ok(Some(Thinking::Claude));
    }
    if let Some(config) = fields.get("reasoningConfig") {
        if config.get("type").and_then(Value::as_str) != Some("enabled") {
            return Ok(None);
        }
        match config.get("maxReasoningEffort").and_then(Value::as_str) {
            Some("low" | "medium" | "high") => return Ok(Some(Thinking::Nova)),
            other => {
                return Err(format!(
                    "reasoningConfig.maxReasoningEffort must be low, medium or high, got {other:?}"
                ))
            }
        }
    }
    Ok(None)
}

/// With thinking on, Claude needs the last assistant turn that used a tool to begin with its
/// thinking, passed back signed.
fn check_thinking_before_tool_use(body: &Value) -> Check {
    let messages = body.get("messages").and_then(Value::as_array);
    let last_assistant = messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    let Some(content) = last_assistant.and_then(|m| m.get("content")?.as_array()) else {
        return Ok(());
    };
    let uses_tool = content.iter().any(|b| b.get("toolUse").is_some());
    if !uses_tool {
        return Ok(());
    }
    match content.first().and_then(|b| b.get("reasoningContent")) {
        Some(reasoning) => {
            let text = reasoning.pointer("/reasoningText/signature").and_then(Value::as_str);
            if reasoning.get("redactedContent").is_some() || text == Some(FAKE_SIGNATURE) {
                Ok(())
            } else {
                Err("messages: the thinking block's signature is invalid.".into())
            }
        }
        None => Err("Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.".into()),
    }
}

/// A `reasoningContent` block sent back: `reasoningText{text, signature?}` or `redactedContent`.
pub(crate) fn reasoning_block(value: &Value, at: &dyn std::fmt::Display) -> Check {
    match super::validate::union(value, "ReasoningContentBlock", at)? {
        ("reasoningText", text) if text.get("text").is_some_and(Value::is_string) => {
            match text.get("signature") {
                None | Some(Value::String(_)) => Ok(()),
                Some(_) => Err(format!("{at}: reasoningText.signature must be a string.")),
            }
        }
        ("redactedContent", Value::String(_)) => Ok(()),
        (other, _) => Err(format!("{at}: invalid reasoningContent member {other:?}.")),
    }
}

/// Cache points: at most [`MAX_CACHE_POINTS`], each after a block of its list (never first,
/// never two in a row).
pub(crate) fn check_cache_points(body: &Value) -> Check {
    let mut count = 0;
    let mut lists: Vec<(String, &[Value])> = Vec::new();
    if let Some(tools) = body.pointer("/toolConfig/tools").and_then(Value::as_array) {
        lists.push(("toolConfig.tools".into(), tools));
    }
    if let Some(system) = body.get("system").and_then(Value::as_array) {
        lists.push(("system".into(), system));
    }
    let messages = body.get("messages").and_then(Value::as_array);
    for (i, message) in messages.into_iter().flatten().enumerate() {
        if let Some(content) = message.get("content").and_then(Value::as_array) {
            lists.push((format!("messages.{i}.content"), content));
        }
    }
    for (name, list) in lists {
        let mut previous_is_point = true;
        for (j, block) in list.iter().enumerate() {
            let is_point = block.get("cachePoint").is_some();
            if is_point {
                if previous_is_point {
                    return Err(format!(
                        "{name}.{j}: a cachePoint must follow a content block."
                    ));
                }
                if block.pointer("/cachePoint/type").and_then(Value::as_str) != Some("default") {
                    return Err(format!("{name}.{j}: cachePoint.type must be default."));
                }
                count += 1;
            }
            previous_is_point = is_point;
        }
    }
    if count > MAX_CACHE_POINTS {
        return Err(format!(
            "A maximum of {MAX_CACHE_POINTS} cache points is allowed per request; found {count}."
        ));
    }
    Ok(())
}

/// The prompt up to the last cache point (tools, then system, then messages, as Bedrock
/// caches them) and its tokens (words of its text, tool specs' descriptions included), if the
/// request has a cache point.
pub(crate) fn cached_prefix(body: &Value) -> Option<(String, u64)> {
    let mut blocks: Vec<&Value> = Vec::new();
    if let Some(tools) = body.pointer("/toolConfig/tools").and_then(Value::as_array) {
        blocks.extend(tools);
    }
    if let Some(system) = body.get("system").and_then(Value::as_array) {
        blocks.extend(system);
    }
    let messages = body.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        if let Some(content) = message.get("content").and_then(Value::as_array) {
            blocks.extend(content);
        }
    }
    let last = blocks.iter().rposition(|b| b.get("cachePoint").is_some())?;
    let prefix = &blocks[..last];
    let words: u64 = prefix.iter().map(|b| block_words(b)).sum();
    let text: Vec<String> = prefix.iter().map(|b| b.to_string()).collect();
    Some((text.join("\n"), words))
}

fn block_words(block: &Value) -> u64 {
    let text = block
        .get("text")
        .or_else(|| block.pointer("/toolSpec/description"))
        .and_then(Value::as_str);
    text.map_or(0, |t| t.split_whitespace().count() as u64)
}

/// Tool descriptions' words: input tokens only when the tools hold a cache point (so every
/// other request counts tokens as before).
pub(crate) fn cached_tool_words(body: &Value) -> u64 {
    let tools = body.pointer("/toolConfig/tools").and_then(Value::as_array);
    let tools = tools.map_or(&[][..], Vec::as_slice);
    if !tools.iter().any(|t| t.get("cachePoint").is_some()) {
        return 0;
    }
    tools.iter().map(block_words).sum()
}

/// Prefixes written to the fake's prompt cache, per model id.
#[derive(Default)]
pub(crate) struct PromptCache {
    prefixes: Mutex<HashSet<String>>,
}

impl PromptCache {
    /// `(read, written)` tokens for a prefix: a prefix seen before is read, else written.
    pub(crate) fn use_prefix(&self, model_id: &str, prefix: &str, tokens: u64) -> (u64, u64) {
        let key = format!("{model_id}\n{prefix}");
        let mut prefixes = self.prefixes.lock().unwrap_or_else(PoisonError::into_inner);
        if prefixes.contains(&key) {
            (tokens, 0)
        } else {
            prefixes.insert(key);
            (0, tokens)
        }
    }

    pub(crate) fn clear(&self) {
        self.prefixes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Model parts that take cache points, and Claude models that think (Bedrock's model lists; a
/// copy the fake keeps, as Bedrock does, apart from the gateway's).
const CACHING_MODELS: &[&str] = &[
    "claude-3-7-sonnet",
    "claude-3-5-haiku",
    "claude-sonnet-4",
    "claude-opus-4",
    "claude-haiku-4",
    "nova-micro",
    "nova-lite",
    "nova-pro",
    "nova-premier",
    "nova-2",
];
const THINKING_CLAUDES: &[&str] = &[
    "claude-3-7-sonnet",
    "claude-sonnet-4",
    "claude-opus-4",
    "claude-haiku-4",
];

fn any_cache_point(body: &Value) -> bool {
    let lists = [body.pointer("/toolConfig/tools"), body.get("system")];
    let blocks = lists
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .chain(
            body.get("messages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("content").and_then(Value::as_array)),
        );
    blocks.flatten().any(|b| b.get("cachePoint").is_some())
}

/// What Bedrock refuses by model: cache points on a model without a prompt cache, thinking on
/// a Claude model that cannot think.
pub(crate) fn check_model_features(model_id: &str, body: &Value) -> Check {
    if any_cache_point(body) && !CACHING_MODELS.iter().any(|m| model_id.contains(m)) {
        return Err(
            "You invoked an unsupported model or your request did not allow prompt \
                    caching. See the documentation for more information."
                .into(),
        );
    }
    if body
        .pointer("/additionalModelRequestFields/thinking")
        .is_some()
        && model_id.contains("anthropic.claude")
        && !THINKING_CLAUDES.iter().any(|m| model_id.contains(m))
    {
        return Err(
            "The model returned the following errors: thinking: Extra inputs are not \
                    permitted"
                .into(),
        );
    }
    Ok(())
}
