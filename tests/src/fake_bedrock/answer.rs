//! Deterministic answers of the fake model for a validated Converse request, with token usage.

use gateway::evaluation::judge::JUDGE_MARKER;
use serde_json::{Map, Value};

/// Text of a blocked answer (guardrail intervened), also used by ApplyGuardrail.
pub const BLOCKED_MESSAGE: &str = "Sorry, I can't help with that.";

/// The single content block of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) block: Block,
    pub(crate) stop_reason: &'static str,
    /// Input tokens neither read from nor written to the prompt cache.
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    /// Thinking before the block: its text and signature.
    pub(crate) reasoning: Option<(String, Option<String>)>,
    pub(crate) cache_read_tokens: u64,
    pub(crate) cache_write_tokens: u64,
}

impl Answer {
    /// The usage object of Converse and of the stream's metadata event.
    pub(crate) fn usage(&self) -> Value {
        let mut usage = serde_json::json!({
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens
                + self.cache_read_tokens + self.cache_write_tokens,
        });
        if self.cache_read_tokens + self.cache_write_tokens > 0 {
            usage["cacheReadInputTokens"] = self.cache_read_tokens.into();
            usage["cacheWriteInputTokens"] = self.cache_write_tokens.into();
        }
        usage
    }
}

/// An answer forced by a fault or a guardrail instead of the normal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forced {
    ContentFiltered,
    GuardrailIntervened,
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn blocks(message: &Value) -> &[Value] {
    message
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text_of(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

/// Computes the answer for a request body that passed validation.
pub(crate) fn compute(body: &Value, forced: Option<Forced>) -> Answer {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let (mut input_words, mut images, mut prior_tool_uses) = (0, 0, 0);
    let system = body.get("system").and_then(Value::as_array);
    for block in system.into_iter().flatten() {
        input_words += text_of(block.get("text")).map_or(0, words);
    }
    for block in messages.iter().flat_map(blocks) {
        input_words += text_of(block.get("text")).map_or(0, words);
        images += u64::from(block.get("image").is_some());
        prior_tool_uses += usize::from(block.get("toolUse").is_some());
        let results = block.get("toolResult").and_then(|r| r.get("content"));
        for item in results.and_then(Value::as_array).into_iter().flatten() {
            input_words += text_of(item.get("text")).map_or(0, words);
        }
    }
    let input_tokens = input_words.max(1) + images + super::features::cached_tool_words(body);
    let system_text: Vec<&str> = system
        .into_iter()
        .flatten()
        .filter_map(|b| text_of(b.get("text")))
        .collect();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let last_blocks = last_user.map_or(&[][..], blocks);
    let tool_results: Vec<&Value> = last_blocks
        .iter()
        .filter_map(|b| b.get("toolResult"))
        .collect();

    let text = match forced {
        Some(Forced::ContentFiltered) => {
            return finish(String::new(), "content_filtered", input_tokens)
        }
        Some(Forced::GuardrailIntervened) => {
            return finish(
                BLOCKED_MESSAGE.to_owned(),
                "guardrail_intervened",
                input_tokens,
            )
        }
        None if !tool_results.is_empty() => tool_results_text(&tool_results),
        None => {
            if let Some(config) = body.get("toolConfig") {
                if let Some(answer) = tool_use(config, prior_tool_uses + 1, input_tokens) {
                    return answer;
                }
            }
            let user_text: Vec<&str> = last_blocks
                .iter()
                .filter_map(|b| text_of(b.get("text")))
                .collect();
            let user_text = user_text.join(" ");
            if system_text.iter().any(|t| t.contains(JUDGE_MARKER)) {
                judge_reply(&user_text)
            } else if user_text.contains("LONG_ANSWER") {
                long_answer()
            } else if images > 0 {
                format!("Fake answer to: {user_text} (with {images} image(s))")
            } else {
                format!("Fake answer to: {user_text}")
            }
        }
    };
    let config = body.get("inferenceConfig");
    let (text, stop_reason) = limit(text, config);
    finish(text, stop_reason, input_tokens)
}

/// The fake plays an LLM judge when the system prompt is a judge template
/// (`gateway::evaluation::judge`): the score is 1 when the answer contains the expected answer
/// (or the context), else 0; 0.75 for helpfulness (neither given). An answer containing
/// `JUDGE_GARBAGE` gets a reply with no score.
fn judge_reply(message: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = message.find(&open)? + open.len();
        let end = message[start..].find(&close)? + start;
        Some(message[start..end].trim().to_lowercase())
    };
    let answer = tag("answer").unwrap_or_default();
    if answer.contains("judge_garbage") {
        return "Hmm, hard to say. It reads fine to me, I suppose.".to_owned();
    }
    let score = match (tag("expected"), tag("context")) {
        (Some(want), _) | (None, Some(want)) => {
            if answer.contains(&want) {
                1.0
            } else {
                0.0
            }
        }
        (None, None) => 0.75,
    };
    format!("{{\"score\": {score}, \"explanation\": \"fake judge\"}}")
}

fn finish(text: String, stop_reason: &'static str, input_tokens: u64) -> Answer {
    Answer {
        output_tokens: words(&text),
        block: Block::Text(text),
        stop_reason,
        input_tokens,
        reasoning: None,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }
}

/// 300 sentences "This is sentence number N of a long answer." joined by spaces.
fn long_answer() -> String {
    let sentences: Vec<String> = (1..=300)
        .map(|n| format!("This is sentence number {n} of a long answer."))
        .collect();
    sentences.join(" ")
}

/// "Tool results: …": each toolResult's items joined by a space, results joined by " | ".
fn tool_results_text(results: &[&Value]) -> String {
    let parts: Vec<String> = results
        .iter()
        .map(|result| {
            let items = result.get("content").and_then(Value::as_array);
            let texts: Vec<String> = items
                .into_iter()
                .flatten()
                .filter_map(|item| match (item.get("text"), item.get("json")) {
                    (Some(Value::String(t)), _) => Some(t.clone()),
                    (_, Some(json)) => Some(json.to_string()),
                    _ => None,
                })
                .collect();
            texts.join(" ")
        })
        .collect();
    format!("Tool results: {}", parts.join(" | "))
}

/// Applies stop sequences (cut before the earliest, trailing whitespace trimmed), then maxTokens.
fn limit(mut text: String, config: Option<&Value>) -> (String, &'static str) {
    let mut stop_reason = "end_turn";
    let stops = config
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array);
    let cut = stops
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s))
        .min();
    if let Some(at) = cut {
        text.truncate(at);
        text.truncate(text.trim_end().len());
        stop_reason = "stop_sequence";
    }
    let max = config
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64);
    if let Some(max) = max {
        if words(&text) > max {
            let kept: Vec<&str> = text.split_whitespace().take(max as usize).collect();
            text = kept.join(" ");
            stop_reason = "max_tokens";
        }
    }
    (text, stop_reason)
}

/// One toolUse block for the tool named by `toolChoice.tool` or else the first tool.
fn tool_use(config: &Value, k: usize, input_tokens: u64) -> Option<Answer> {
    let specs: Vec<&Value> = config
        .get("tools")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.get("toolSpec"))
        .collect();
    let chosen = config
        .pointer("/toolChoice/tool/name")
        .and_then(Value::as_str);
    let spec = match chosen {
        Some(name) => specs
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))?,
        None => specs.first()?,
    };
    let name = spec.get("name").and_then(Value::as_str)?.to_owned();
    let schema = spec.pointer("/inputSchema/json").unwrap_or(&Value::Null);
    let input = sample_input(schema);
    let output_tokens = words(&input.to_string()).max(1);
    Some(Answer {
        block: Block::ToolUse {
            id: format!("tooluse_fake_{k}"),
            name,
            input,
        },
        stop_reason: "tool_use",
        input_tokens,
        output_tokens,
        reasoning: None,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    })
}

/// An object with each `required` property set by its JSON type (first `enum` value if any).
fn sample_input(schema: &Value) -> Value {
    let mut input = Map::new();
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let prop = schema.get("properties").and_then(|p| p.get(name));
        let first_enum = prop
            .and_then(|p| p.get("enum"))
            .and_then(Value::as_array)
            .and_then(|values| values.first());
        let value = match first_enum {
            Some(value) => value.clone(),
            None => sample_value(prop.and_then(|p| p.get("type"))),
        };
        input.insert(name.to_owned(), value);
    }
    Value::Object(input)
}

fn sample_value(json_type: Option<&Value>) -> Value {
    let json_type = match json_type {
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        Some(Value::String(t)) => Some(t.as_str()),
        _ => None,
    };
    match json_type {
        Some("number" | "integer") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(Map::new()),
        _ => Value::from("test"),
    }
}
