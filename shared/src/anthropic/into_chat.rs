//! Turns an Anthropic Messages request into a [`ChatRequest`], refusing what the gateway cannot
//! honour with a 400 that names the field (shaped as Anthropic's error at the edge).
//!
//! Extended thinking becomes the chat model's [`Reasoning`] (and thinking blocks sent back its
//! [`ReasoningBlock`]s); every `cache_control` marker becomes a prompt-cache point after the
//! block, system block or tool it marks, as on chat completions.

use base64::Engine;

use crate::anthropic::request::{
    self as wire, CacheControl, CountTokensRequest, ImageSource, InputMessage, MessagesRequest,
    SystemBlock, TextOrBlocks, Thinking, ToolResultBlock,
};
use crate::chat::{
    ChatRequest, ContentBlock, ImageFormat, InferenceParams, Message, Reasoning, ReasoningBlock,
    Role, ToolChoice, ToolSpec,
};
use crate::error::GatewayError;
use crate::openai::into_chat::MAX_CACHE_POINTS;
use crate::openai::reasoning::MIN_THINKING_BUDGET;

/// Stop sequences a request may send (Anthropic documents no limit; this bounds what reaches
/// Bedrock and the records).
pub const MAX_STOP_SEQUENCES: usize = 64;

/// Validates and converts a `/v1/messages` body.
pub fn from_anthropic(req: MessagesRequest) -> Result<ChatRequest, GatewayError> {
    let reasoning = reasoning(req.thinking.as_ref(), Some(req.max_tokens), req.temperature)?;
    if req.max_tokens == 0 {
        return Err(GatewayError::invalid_request(
            "max_tokens: must be at least 1",
            "max_tokens",
        ));
    }
    if req.top_k.is_some() {
        return Err(GatewayError::invalid_request(
            "top_k: not supported by this gateway (Bedrock Converse has no portable top_k); \
             leave it out",
            "top_k",
        ));
    }
    if let Some(t) = req.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(GatewayError::invalid_request(
                "temperature: must be between 0 and 1",
                "temperature",
            ));
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(GatewayError::invalid_request(
                "top_p: must be between 0 and 1",
                "top_p",
            ));
        }
    }
    let stop = req.stop_sequences.unwrap_or_default();
    if stop.len() > MAX_STOP_SEQUENCES || stop.iter().any(String::is_empty) {
        return Err(GatewayError::invalid_request(
            format!("stop_sequences: up to {MAX_STOP_SEQUENCES} non-empty sequences"),
            "stop_sequences",
        ));
    }
    let user = req.metadata.and_then(|m| m.user_id);
    crate::chat::caps::check(user.as_deref(), None)
        .map_err(|_| invalid("metadata.user_id: too long", "metadata.user_id"))?;
    let mut request = conversation(
        req.model,
        req.system,
        req.messages,
        req.tools,
        req.tool_choice,
    )?;
    request.params = InferenceParams {
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop,
    };
    request.stream = req.stream.unwrap_or(false);
    // The pipeline counts a stream's tokens either way; Anthropic's events always carry usage.
    request.include_usage = request.stream;
    request.user = user;
    request.guardrails = req.guardrails.unwrap_or_default();
    request.reasoning = reasoning;
    Ok(request)
}

/// Validates and converts a `/v1/messages/count_tokens` body (no sampling parameters).
pub fn from_count_tokens(req: CountTokensRequest) -> Result<ChatRequest, GatewayError> {
    let reasoning = reasoning(req.thinking.as_ref(), None, None)?;
    let mut request = conversation(
        req.model,
        req.system,
        req.messages,
        req.tools,
        req.tool_choice,
    )?;
    request.reasoning = reasoning;
    Ok(request)
}

/// Anthropic's `thinking`: `{"type":"enabled","budget_tokens":N}` is a thinking budget of at
/// least [`MIN_THINKING_BUDGET`] and below `max_tokens` (the budget counts within it), with
/// `temperature` left out or 1, as Anthropic requires; `disabled` or absent is no thinking.
pub fn reasoning(
    thinking: Option<&Thinking>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
) -> Result<Option<Reasoning>, GatewayError> {
    let Some(thinking) = thinking else {
        return Ok(None);
    };
    let budget = match (thinking.kind.as_str(), thinking.budget_tokens) {
        ("disabled", _) => return Ok(None),
        ("enabled", Some(budget)) if budget >= MIN_THINKING_BUDGET => budget,
        ("enabled", Some(_)) => {
            return Err(invalid(
                format!("thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}"),
                "thinking.budget_tokens",
            ))
        }
        ("enabled", None) => {
            return Err(invalid(
                "thinking.budget_tokens: required when thinking is enabled",
                "thinking.budget_tokens",
            ))
        }
        (other, _) => {
            return Err(invalid(
                format!("thinking.type: must be `enabled` or `disabled`, not `{other}`"),
                "thinking.type",
            ))
        }
    };
    if let Some(max) = max_tokens.filter(|max| *max <= budget) {
        return Err(invalid(
            format!("max_tokens: ({max}) must be greater than thinking.budget_tokens ({budget})"),
            "max_tokens",
        ));
    }
    if temperature.is_some_and(|t| t != 1.0) {
        return Err(invalid(
            "temperature: may only be 1 (or left out) when thinking is enabled",
            "temperature",
        ));
    }
    Ok(Some(Reasoning::Budget(budget)))
}

/// Whether a `cache_control` asks for a cache point; only `ephemeral` exists. Its `ttl` is not
/// passed on (Converse's cache point has none).
fn cache_point(
    control: Option<&CacheControl>,
    param: impl Fn() -> String,
) -> Result<bool, GatewayError> {
    match control {
        None => Ok(false),
        Some(c) if c.kind == "ephemeral" => Ok(true),
        Some(c) => Err(invalid(
            format!("cache_control.type: must be `ephemeral`, not `{}`", c.kind),
            format!("{}.cache_control.type", param()),
        )),
    }
}

/// At most [`MAX_CACHE_POINTS`] cache points in one request (Anthropic's and Bedrock's limit),
/// counting tools, system and messages.
fn check_cache_points(request: &ChatRequest) -> Result<(), GatewayError> {
    let count = request.tools.iter().filter(|t| t.cache_point).count()
        + request.system_cache_points.len()
        + request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter(|b| matches!(b, ContentBlock::CachePoint))
            .count();
    if count > MAX_CACHE_POINTS {
        return Err(invalid(
            format!(
                "a request may have at most {MAX_CACHE_POINTS} blocks with cache_control; \
                 this one has {count}"
            ),
            "cache_control",
        ));
    }
    Ok(())
}

/// What `/v1/messages` and its `count_tokens` share: the model, the system prompt, the turns
/// and the tools.
fn conversation(
    model: String,
    system: Option<TextOrBlocks<SystemBlock>>,
    messages: Vec<InputMessage>,
    tools: Option<Vec<wire::Tool>>,
    tool_choice: Option<wire::ToolChoice>,
) -> Result<ChatRequest, GatewayError> {
    if model.trim().is_empty() {
        return Err(invalid("model: must not be empty", "model"));
    }
    if messages.is_empty() {
        return Err(invalid(
            "messages: at least one message is required",
            "messages",
        ));
    }
    let tools = tool_specs(tools.unwrap_or_default())?;
    let tool_choice = choice(tool_choice, &tools)?;
    let mut system_cache_points = Vec::new();
    let system = match system {
        None => Vec::new(),
        Some(TextOrBlocks::Text(text)) => non_empty(text).into_iter().collect(),
        Some(TextOrBlocks::Blocks(blocks)) => {
            let mut system = Vec::with_capacity(blocks.len());
            for (
                i,
                SystemBlock::Text {
                    text,
                    cache_control,
                },
            ) in blocks.into_iter().enumerate()
            {
                let cache = cache_point(cache_control.as_ref(), || format!("system[{i}]"))?;
                system.extend(non_empty(text));
                // A marker on an empty block caches the system prompt up to the block before.
                if cache
                    && !system.is_empty()
                    && system_cache_points.last() != Some(&(system.len() - 1))
                {
                    system_cache_points.push(system.len() - 1);
                }
            }
            system
        }
    };
    let mut turns: Vec<Message> = Vec::with_capacity(messages.len());
    for (i, message) in messages.into_iter().enumerate() {
        let role = match message.role {
            wire::Role::User => Role::User,
            wire::Role::Assistant => Role::Assistant,
        };
        let blocks = content_blocks(message.content, role, i)?;
        if blocks.is_empty() {
            continue;
        }
        // Consecutive turns of one role merge, as Anthropic's API does and Bedrock requires.
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    match turns.first() {
        None => return Err(invalid("messages: all messages are empty", "messages")),
        Some(first) if first.role != Role::User => {
            return Err(invalid(
                "messages: the first message must use the `user` role",
                "messages[0].role",
            ))
        }
        Some(_) => {}
    }
    let request = ChatRequest {
        model,
        system,
        messages: turns,
        tools,
        tool_choice,
        system_cache_points,
        ..ChatRequest::default()
    };
    check_cache_points(&request)?;
    Ok(request)
}

fn content_blocks(
    content: TextOrBlocks<wire::ContentBlock>,
    role: Role,
    i: usize,
) -> Result<Vec<ContentBlock>, GatewayError> {
    let blocks = match content {
        TextOrBlocks::Text(text) => {
            return Ok(non_empty(text)
                .map(ContentBlock::Text)
                .into_iter()
                .collect())
        }
        TextOrBlocks::Blocks(blocks) => blocks,
    };
    let mut out = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.into_iter().enumerate() {
        let param = |field: &str| format!("messages[{i}].content[{j}]{field}");
        let cache = cache_point(block.cache_control(), || param(""))?;
        match block {
            wire::ContentBlock::Text { text, .. } => {
                out.extend(non_empty(text).map(ContentBlock::Text))
            }
            wire::ContentBlock::Image { source, .. } => {
                if role != Role::User {
                    return Err(invalid(
                        "images are only allowed in user messages",
                        param(""),
                    ));
                }
                out.push(image(source).map_err(|m| invalid(m, param(".source")))?);
            }
            wire::ContentBlock::ToolUse {
                id, name, input, ..
            } => {
                if role != Role::Assistant {
                    return Err(invalid(
                        "tool_use blocks belong in assistant messages",
                        param(""),
                    ));
                }
                let input = match input {
                    serde_json::Value::Null => serde_json::json!({}),
                    input @ serde_json::Value::Object(_) => input,
                    _ => return Err(invalid("tool_use.input must be an object", param(".input"))),
                };
                out.push(ContentBlock::ToolUse { id, name, input });
            }
            wire::ContentBlock::ToolResult {
                tool_use_id,
                content,
                ..
            } => {
                if role != Role::User {
                    return Err(invalid(
                        "tool_result blocks belong in user messages",
                        param(""),
                    ));
                }
                out.push(ContentBlock::ToolResult {
                    tool_use_id,
                    content: tool_result_text(content)
                        .map_err(|m| invalid(m, param(".content")))?,
                });
            }
            wire::ContentBlock::Thinking {
                thinking,
                signature,
            } => {
                if role != Role::Assistant {
                    return Err(invalid(
                        "thinking blocks belong in assistant messages",
                        param(""),
                    ));
                }
                out.push(ContentBlock::Reasoning(ReasoningBlock::Thinking {
                    text: thinking,
                    signature,
                }));
            }
            wire::ContentBlock::RedactedThinking { data } => {
                if role != Role::Assistant {
                    return Err(invalid(
                        "redacted_thinking blocks belong in assistant messages",
                        param(""),
                    ));
                }
                out.push(ContentBlock::Reasoning(ReasoningBlock::Redacted { data }));
            }
            wire::ContentBlock::Document {} => {
                return Err(invalid(
                    "document blocks are not yet supported on /v1/messages",
                    param(".type"),
                ))
            }
        }
        if cache && !matches!(out.last(), None | Some(ContentBlock::CachePoint)) {
            out.push(ContentBlock::CachePoint);
        }
    }
    Ok(out)
}

/// A tool result's content as the text the chat model carries; an image inside one is refused.
fn tool_result_text(content: Option<TextOrBlocks<ToolResultBlock>>) -> Result<String, String> {
    match content {
        None => Ok(String::new()),
        Some(TextOrBlocks::Text(text)) => Ok(text),
        Some(TextOrBlocks::Blocks(blocks)) => {
            let mut text = String::new();
            for block in blocks {
                match block {
                    ToolResultBlock::Text { text: t, .. } => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&t);
                    }
                    ToolResultBlock::Image { .. } => {
                        return Err("images inside tool results are not yet supported".to_owned())
                    }
                }
            }
            Ok(text)
        }
    }
}

/// A base64 image; URLs are refused (the gateway does not fetch addresses for a client).
fn image(source: ImageSource) -> Result<ContentBlock, String> {
    let (media_type, data) = match source {
        ImageSource::Base64 { media_type, data } => (media_type, data),
        ImageSource::Url { .. } => {
            return Err(
                "only base64 image sources are supported (the gateway does not fetch URLs)"
                    .to_owned(),
            )
        }
    };
    let format = match media_type.as_str() {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(format!(
            "media_type `{other}` is not supported (image/png, image/jpeg, image/gif, image/webp)"
        ))
        }
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| "the image data is not valid base64".to_owned())?;
    Ok(ContentBlock::Image { format, data })
}

fn tool_specs(tools: Vec<wire::Tool>) -> Result<Vec<ToolSpec>, GatewayError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            if let Some(kind) = tool.kind.as_deref().filter(|k| *k != "custom") {
                return Err(invalid(
                    format!("tools[{i}].type: server tool `{kind}` is not supported; only client tools (with input_schema)"),
                    format!("tools[{i}].type"),
                ));
            }
            let valid = !tool.name.is_empty()
                && tool.name.len() <= 64
                && tool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(invalid(
                    "tools[].name: 1-64 characters of a-z, A-Z, 0-9, _ or -",
                    format!("tools[{i}].name"),
                ));
            }
            let Some(parameters) = tool.input_schema.filter(serde_json::Value::is_object) else {
                return Err(invalid(
                    "tools[].input_schema: a JSON Schema object is required",
                    format!("tools[{i}].input_schema"),
                ));
            };
            let cache_point = cache_point(tool.cache_control.as_ref(), || format!("tools[{i}]"))?;
            Ok(ToolSpec {
                name: tool.name,
                description: tool.description,
                parameters,
                cache_point,
            })
        })
        .collect()
}

fn choice(
    choice: Option<wire::ToolChoice>,
    tools: &[ToolSpec],
) -> Result<ToolChoice, GatewayError> {
    let Some(choice) = choice else {
        return Ok(ToolChoice::Auto);
    };
    let mapped = match (choice.kind.as_str(), choice.name) {
        ("auto", _) => ToolChoice::Auto,
        ("none", _) => ToolChoice::None,
        ("any", _) => ToolChoice::Required,
        ("tool", Some(name)) => ToolChoice::Tool(name),
        ("tool", None) => {
            return Err(invalid(
                "tool_choice.name: required when type is `tool`",
                "tool_choice.name",
            ))
        }
        (other, _) => {
            return Err(invalid(
                format!("tool_choice.type: must be auto, any, tool or none, not `{other}`"),
                "tool_choice.type",
            ))
        }
    };
    if matches!(mapped, ToolChoice::Required | ToolChoice::Tool(_)) && tools.is_empty() {
        return Err(invalid("tool_choice: requires `tools`", "tool_choice"));
    }
    if let ToolChoice::Tool(name) = &mapped {
        if !tools.iter().any(|t| &t.name == name) {
            return Err(invalid(
                format!("tool_choice.name: `{name}` is not in `tools`"),
                "tool_choice.name",
            ));
        }
    }
    Ok(mapped)
}

fn non_empty(text: String) -> Option<String> {
    (!text.trim().is_empty()).then_some(text)
}

fn invalid(
    message: impl Into<std::borrow::Cow<'static, str>>,
    param: impl Into<std::borrow::Cow<'static, str>>,
) -> GatewayError {
    GatewayError::invalid_request(message, param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(body: Value) -> Result<ChatRequest, GatewayError> {
        from_anthropic(serde_json::from_value(body).unwrap())
    }

    fn base() -> Value {
        json!({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})
    }

    #[test]
    fn system_turns_params_and_metadata_carry_over() {
        let req = parse(json!({"model":"m","max_tokens":64,"temperature":0.3,"top_p":0.8,
            "stop_sequences":["END"],"stream":true,"metadata":{"user_id":"u1"},
            "system":[{"type":"text","text":"one","cache_control":{"type":"ephemeral"}},{"type":"text","text":"two"}],
            "messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},
                        {"role":"assistant","content":"c"},{"role":"user","content":"d"}],
            "service_tier":"auto"}))
        .unwrap();
        assert_eq!(req.system, vec!["one", "two"]);
        assert_eq!(req.messages.len(), 3, "consecutive user turns merge");
        assert_eq!(req.messages[0].content.len(), 2);
        assert_eq!(
            req.params,
            InferenceParams {
                max_tokens: Some(64),
                temperature: Some(0.3),
                top_p: Some(0.8),
                stop: vec!["END".into()]
            }
        );
        assert!(req.stream && req.include_usage);
        assert_eq!(req.user.as_deref(), Some("u1"));
    }

    #[test]
    fn tools_tool_use_and_tool_results_map() {
        let req = parse(json!({"model":"m","max_tokens":10,
            "tools":[{"name":"w","description":"weather","input_schema":{"type":"object"}}],
            "tool_choice":{"type":"any"},
            "messages":[{"role":"user","content":"weather?"},
                {"role":"assistant","content":[{"type":"text","text":"checking"},
                    {"type":"tool_use","id":"t1","name":"w","input":{"city":"Paris"}}]},
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1",
                    "content":[{"type":"text","text":"sunny"},{"type":"text","text":"21C"}]}]}]}))
        .unwrap();
        assert_eq!(req.tool_choice, ToolChoice::Required);
        assert_eq!(req.tools[0].description.as_deref(), Some("weather"));
        assert_eq!(
            req.messages[1].content[1],
            ContentBlock::ToolUse {
                id: "t1".into(),
                name: "w".into(),
                input: json!({"city":"Paris"})
            }
        );
        assert_eq!(
            req.messages[2].content[0],
            ContentBlock::ToolResult {
                tool_use_id: "t1".into(),
                content: "sunny\n21C".into()
            }
        );
    }

    #[test]
    fn refusals_name_their_field() {
        let with = |key: &str, value: Value| {
            let mut body = base();
            body[key] = value;
            body
        };
        for (body, param) in [
            (
                with("thinking", json!({"type":"enabled","budget_tokens":1024})),
                "max_tokens",
            ),
            (
                with("thinking", json!({"type":"enabled","budget_tokens":100})),
                "thinking.budget_tokens",
            ),
            (
                with("thinking", json!({"type":"enabled"})),
                "thinking.budget_tokens",
            ),
            (with("thinking", json!({"type":"auto"})), "thinking.type"),
            (
                with(
                    "messages",
                    json!([{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"persistent"}}]}]),
                ),
                "messages[0].content[0].cache_control.type",
            ),
            (
                with(
                    "messages",
                    json!([{"role":"user","content":[{"type":"thinking","thinking":"x","signature":"s"}]}]),
                ),
                "messages[0].content[0]",
            ),
            (with("top_k", json!(5)), "top_k"),
            (with("temperature", json!(1.5)), "temperature"),
            (with("max_tokens", json!(0)), "max_tokens"),
            (with("stop_sequences", json!([""])), "stop_sequences"),
            (with("tool_choice", json!({"type":"any"})), "tool_choice"),
            (
                with(
                    "tools",
                    json!([{"type":"web_search_20250305","name":"web_search"}]),
                ),
                "tools[0].type",
            ),
            (
                with("tools", json!([{"name":"w"}])),
                "tools[0].input_schema",
            ),
            (
                with("messages", json!([{"role":"assistant","content":"x"}])),
                "messages[0].role",
            ),
            (with("messages", json!([])), "messages"),
            (
                with(
                    "messages",
                    json!([{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]),
                ),
                "messages[0].content[0].source",
            ),
            (
                with(
                    "messages",
                    json!([{"role":"user","content":[{"type":"tool_use","id":"t","name":"w","input":{}}]}]),
                ),
                "messages[0].content[0]",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.param(), Some(param), "{}", err.message());
        }
    }

    #[test]
    fn thinking_becomes_a_budget_and_thinking_blocks_come_back() {
        let mut body = base();
        body["max_tokens"] = json!(4096);
        body["thinking"] = json!({"type":"enabled","budget_tokens":2048});
        body["messages"] = json!([{"role":"user","content":"a"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
                {"type":"redacted_thinking","data":"b3BhcXVl"},{"type":"text","text":"b"}]},
            {"role":"user","content":"c"}]);
        let req = parse(body.clone()).unwrap();
        assert_eq!(req.reasoning, Some(Reasoning::Budget(2048)));
        assert_eq!(
            req.messages[1].content,
            vec![
                ContentBlock::Reasoning(ReasoningBlock::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into())
                }),
                ContentBlock::Reasoning(ReasoningBlock::Redacted {
                    data: "b3BhcXVl".into()
                }),
                ContentBlock::Text("b".into()),
            ]
        );
        body["temperature"] = json!(0.5);
        assert_eq!(parse(body).unwrap_err().param(), Some("temperature"));
    }

    #[test]
    fn cache_control_becomes_cache_points_after_what_it_marks() {
        let req = parse(json!({"model":"m","max_tokens":10,
            "tools":[{"name":"a","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}},
                     {"name":"b","input_schema":{"type":"object"}}],
            "system":[{"type":"text","text":"one","cache_control":{"type":"ephemeral"}},{"type":"text","text":"two"}],
            "messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}},
                                                  {"type":"text","text":"y"}]}]}))
        .unwrap();
        assert!(req.tools[0].cache_point && !req.tools[1].cache_point);
        assert_eq!(req.system_cache_points, vec![0]);
        assert_eq!(
            req.messages[0].content,
            vec![
                ContentBlock::Text("x".into()),
                ContentBlock::CachePoint,
                ContentBlock::Text("y".into())
            ]
        );
        let marked = json!({"type":"text","text":"x","cache_control":{"type":"ephemeral"}});
        let mut body = base();
        body["messages"] =
            json!([{"role":"user","content":[marked, marked, marked, marked, marked]}]);
        assert_eq!(parse(body).unwrap_err().param(), Some("cache_control"));
    }

    #[test]
    fn thinking_disabled_and_cache_control_pass() {
        let mut body = base();
        body["thinking"] = json!({"type":"disabled"});
        body["messages"] = json!([{"role":"user","content":[
            {"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]);
        assert!(parse(body).is_ok());
        let count = from_count_tokens(
            serde_json::from_value(
                json!({"model":"m","messages":[{"role":"user","content":"hi"}]}),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(count.params.max_tokens, None);
    }
}
