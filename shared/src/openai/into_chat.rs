//! Turns an OpenAI chat request into a [`ChatRequest`], rejecting what Bedrock cannot honour
//! with a 400 that names the field.

use serde_json::Value;

use std::time::Duration;

use crate::chat::{
    ChatRequest, ContentBlock, InferenceParams, Message, ResponseFormat, Role, RouteOptions,
    ToolChoice, ToolSpec,
};
use crate::error::GatewayError;
use crate::openai::content::{MessageContent, PartKind};
use crate::openai::files::{file_block, image_block};
use crate::openai::reasoning;
use crate::openai::request::{
    self as wire, CacheControl, ChatCompletionRequest, MessageRole, Stop,
};

/// Bedrock's (Anthropic's) limit on prompt-cache points in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// Validates and converts. System and developer messages become the system prompt; tool messages
/// become tool results in a user turn; consecutive turns of one role are merged, as Bedrock wants.
pub fn from_openai(mut req: ChatCompletionRequest) -> Result<ChatRequest, GatewayError> {
    reject_unsupported(&req)?;
    if req.model.trim().is_empty() {
        return Err(GatewayError::invalid_request(
            "`model` must not be empty",
            "model",
        ));
    }
    if req.messages.is_empty() {
        return Err(GatewayError::invalid_request(
            "`messages` must not be empty",
            "messages",
        ));
    }
    crate::chat::caps::check(req.user.as_deref(), req.metadata.as_ref())?;
    let params = inference_params(&req)?;
    let routing = route_options(&req)?;
    let reasoning = reasoning::reasoning(&req)?;
    let response_format = response_format(req.response_format.take())?;
    let tools = tools(req.tools.take().unwrap_or_default())?;
    let tool_choice = tool_choice(req.tool_choice.take(), &tools)?;
    let mut system = Vec::new();
    let mut system_cache_points = Vec::new();
    let mut documents = 0;
    let mut messages: Vec<Message> = Vec::with_capacity(req.messages.len());
    // The ids of the tool calls a tool message may answer: the last assistant turn's.
    let mut open_calls: Vec<String> = Vec::new();
    for (i, message) in req.messages.into_iter().enumerate() {
        match message.role {
            MessageRole::User => open_calls.clear(),
            MessageRole::Assistant => {
                open_calls = message
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|call| call.id.clone())
                    .collect();
            }
            MessageRole::System | MessageRole::Developer | MessageRole::Tool => {}
        }
        let message_cache = cache_point(message.cache_control.as_ref(), || {
            format!("messages[{i}].cache_control")
        })?;
        let (role, mut blocks) = match message.role {
            MessageRole::System | MessageRole::Developer => {
                let (text, part_cache) = text_only(required(message.content, i)?, i)?;
                system.push(text);
                if message_cache || part_cache {
                    system_cache_points.push(system.len() - 1);
                }
                continue;
            }
            MessageRole::User => (
                Role::User,
                user_blocks(required(message.content, i)?, i, &mut documents)?,
            ),
            MessageRole::Assistant => (
                Role::Assistant,
                assistant_blocks(
                    message.content,
                    message.tool_calls,
                    reasoning::blocks(message.thinking_blocks),
                    i,
                )?,
            ),
            MessageRole::Tool => {
                let Some(tool_use_id) = message.tool_call_id else {
                    return Err(GatewayError::invalid_request(
                        "a tool message needs `tool_call_id`",
                        format!("messages[{i}].tool_call_id"),
                    ));
                };
                if !open_calls.contains(&tool_use_id) {
                    return Err(GatewayError::invalid_request(
                        "a tool message must answer a tool call of the assistant message before it",
                        format!("messages[{i}].tool_call_id"),
                    ));
                }
                let (content, part_cache) = text_only(required(message.content, i)?, i)?;
                let mut blocks = vec![ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                }];
                if part_cache {
                    blocks.push(ContentBlock::CachePoint);
                }
                (Role::User, blocks)
            }
        };
        if message_cache && !matches!(blocks.last(), None | Some(ContentBlock::CachePoint)) {
            blocks.push(ContentBlock::CachePoint);
        }
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    match messages.first() {
        None => Err(GatewayError::invalid_request(
            "`messages` must contain at least one user message",
            "messages",
        )),
        Some(first) if first.role != Role::User => Err(GatewayError::invalid_request(
            "`messages`: the first non-system message must come from the user",
            "messages",
        )),
        Some(_) => Ok(ChatRequest {
            model: req.model,
            system,
            messages,
            params,
            tools,
            tool_choice,
            stream: req.stream.unwrap_or(false),
            include_usage: req
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            user: req.user,
            routing,
            guardrails: req.guardrails.unwrap_or_default(),
            metadata: req.metadata,
            system_cache_points,
            reasoning,
            response_format,
        })
        .and_then(check_cache_points),
    }
}

/// At most [`MAX_CACHE_POINTS`] cache points, counting tools, system and messages.
fn check_cache_points(request: ChatRequest) -> Result<ChatRequest, GatewayError> {
    let count = request.tools.iter().filter(|t| t.cache_point).count()
        + request.system_cache_points.len()
        + request
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .filter(|b| matches!(b, ContentBlock::CachePoint))
            .count();
    if count > MAX_CACHE_POINTS {
        return Err(GatewayError::invalid_request(
            format!(
                "at most {MAX_CACHE_POINTS} `cache_control` points are allowed in one request; \
                 this one has {count}"
            ),
            "messages",
        ));
    }
    Ok(request)
}

/// Whether a `cache_control` asks for a cache point; only `ephemeral` exists.
fn cache_point(
    control: Option<&CacheControl>,
    param: impl Fn() -> String,
) -> Result<bool, GatewayError> {
    match control {
        None => Ok(false),
        Some(c) if c.kind == "ephemeral" => Ok(true),
        Some(c) => Err(GatewayError::invalid_request(
            format!("`cache_control.type` must be `ephemeral`; got `{}`", c.kind),
            format!("{}.type", param()),
        )),
    }
}

/// `json_object`, or `json_schema` with its schema; `text` is the default.
fn response_format(
    format: Option<wire::ResponseFormat>,
) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(format) = format else {
        return Ok(None);
    };
    match format.kind.as_str() {
        "text" => Ok(None),
        "json_object" => Ok(Some(ResponseFormat::JsonObject)),
        "json_schema" => {
            let spec = format.json_schema.ok_or_else(|| {
                GatewayError::invalid_request(
                    "`response_format.json_schema` is required for type `json_schema`",
                    "response_format.json_schema",
                )
            })?;
            let schema = match spec.schema {
                Some(schema @ Value::Object(_)) => schema,
                _ => {
                    return Err(GatewayError::invalid_request(
                        "`response_format.json_schema.schema` must be a JSON Schema object",
                        "response_format.json_schema.schema",
                    ))
                }
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name: spec.name.unwrap_or_else(|| "response".to_owned()),
                description: spec.description,
                schema,
            }))
        }
        other => Err(GatewayError::invalid_request(
            format!(
                "`response_format.type` must be text, json_object or json_schema; got `{other}`"
            ),
            "response_format.type",
        )),
    }
}

/// LiteLLM's routing fields of the body.
fn route_options(req: &ChatCompletionRequest) -> Result<RouteOptions, GatewayError> {
    let timeout = match req.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Duration::try_from_secs_f64(t).ok(),
        Some(_) => {
            return Err(GatewayError::invalid_request(
                "`timeout` must be a positive number of seconds",
                "timeout",
            ))
        }
    };
    Ok(RouteOptions {
        fallbacks: req.fallbacks.clone(),
        disable_fallbacks: req.disable_fallbacks.unwrap_or(false),
        num_retries: req.num_retries,
        timeout,
        stream_timeout: None,
    })
}

pub(crate) fn reject_unsupported(req: &ChatCompletionRequest) -> Result<(), GatewayError> {
    fn unsupported(param: &'static str, why: &str) -> Result<(), GatewayError> {
        Err(GatewayError::invalid_request(
            format!("`{param}` is not supported: {why}"),
            param,
        ))
    }
    if req.n.is_some_and(|n| n != 1) {
        return unsupported("n", "only one choice (n=1) can be generated per request");
    }
    if req.logprobs == Some(true) || req.top_logprobs.is_some_and(|n| n > 0) {
        return unsupported("logprobs", "Bedrock does not return log probabilities");
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return unsupported(
            "presence_penalty",
            "Bedrock Converse has no presence penalty",
        );
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return unsupported(
            "frequency_penalty",
            "Bedrock Converse has no frequency penalty",
        );
    }
    if req.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
        return unsupported("logit_bias", "Bedrock Converse has no logit bias");
    }
    if req.audio.is_some()
        || req
            .modalities
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m != "text"))
    {
        return unsupported("modalities", "only text output is available");
    }
    Ok(())
}

fn inference_params(req: &ChatCompletionRequest) -> Result<InferenceParams, GatewayError> {
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(GatewayError::invalid_request(
                "`temperature` must be between 0 and 2",
                "temperature",
            ));
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(GatewayError::invalid_request(
                "`top_p` must be between 0 and 1",
                "top_p",
            ));
        }
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if max_tokens == Some(0) {
        let param = if req.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        return Err(GatewayError::invalid_request(
            format!("`{param}` must be at least 1"),
            param,
        ));
    }
    let stop = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(list)) => list.clone(),
    };
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err(GatewayError::invalid_request(
            "`stop` takes up to 4 non-empty sequences",
            "stop",
        ));
    }
    // OpenAI's temperature runs 0..2, Bedrock's 0..1: clamp rather than reject valid OpenAI values.
    let temperature = req.temperature.map(|t| t.min(1.0));
    Ok(InferenceParams {
        max_tokens,
        temperature,
        top_p: req.top_p,
        stop,
    })
}

fn tools(list: Vec<wire::Tool>) -> Result<Vec<ToolSpec>, GatewayError> {
    list.into_iter()
        .enumerate()
        .map(|(i, tool)| {
            if tool.kind != "function" {
                return Err(GatewayError::invalid_request(
                    format!("tool type `{}` is not supported; use `function`", tool.kind),
                    format!("tools[{i}].type"),
                ));
            }
            let name = tool.function.name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(GatewayError::invalid_request(
                    "a function name must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
                    format!("tools[{i}].function.name"),
                ));
            }
            let cache_point = cache_point(
                tool.cache_control
                    .as_ref()
                    .or(tool.function.cache_control.as_ref()),
                || format!("tools[{i}].cache_control"),
            )?;
            let parameters = tool
                .function
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            Ok(ToolSpec {
                name,
                description: tool.function.description,
                parameters,
                cache_point,
            })
        })
        .collect()
}

fn tool_choice(
    choice: Option<wire::ToolChoice>,
    tools: &[ToolSpec],
) -> Result<ToolChoice, GatewayError> {
    let choice = match choice {
        None => return Ok(ToolChoice::Auto),
        Some(wire::ToolChoice::Mode(mode)) => match mode.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(GatewayError::invalid_request(
                    format!(
                        "`tool_choice` must be none, auto, required or a function; got `{other}`"
                    ),
                    "tool_choice",
                ))
            }
        },
        Some(wire::ToolChoice::Named(named)) => ToolChoice::Tool(named.function.name),
    };
    let needs_tools = matches!(choice, ToolChoice::Required | ToolChoice::Tool(_));
    if needs_tools && tools.is_empty() {
        return Err(GatewayError::invalid_request(
            "`tool_choice` requires `tools`",
            "tool_choice",
        ));
    }
    if let ToolChoice::Tool(name) = &choice {
        if !tools.iter().any(|t| &t.name == name) {
            return Err(GatewayError::invalid_request(
                format!("`tool_choice` names `{name}`, which is not in `tools`"),
                "tool_choice",
            ));
        }
    }
    Ok(choice)
}

fn required(content: Option<MessageContent>, i: usize) -> Result<MessageContent, GatewayError> {
    content.ok_or_else(|| {
        GatewayError::invalid_request(
            "this message needs `content`",
            format!("messages[{i}].content"),
        )
    })
}

/// The message's text, its parts joined by newlines, and whether any part asks for a cache
/// point (which then follows the whole text).
fn text_only(content: MessageContent, i: usize) -> Result<(String, bool), GatewayError> {
    match content {
        MessageContent::Text(text) => Ok((text, false)),
        MessageContent::Parts(parts) => {
            let mut text = String::new();
            let mut cache = false;
            for (j, part) in parts.into_iter().enumerate() {
                match part.kind {
                    PartKind::Text { text: t } => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&t);
                    }
                    _ => {
                        return Err(GatewayError::invalid_request(
                            "only text parts are allowed in this message",
                            format!("messages[{i}].content[{j}]"),
                        ))
                    }
                }
                cache |= cache_point(part.cache_control.as_ref(), || {
                    format!("messages[{i}].content[{j}].cache_control")
                })?;
            }
            Ok((text, cache))
        }
    }
}

/// `documents` counts the documents so far, to name unnamed ones.
fn user_blocks(
    content: MessageContent,
    i: usize,
    documents: &mut usize,
) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        MessageContent::Text(text) => Ok(non_empty_text(text)),
        MessageContent::Parts(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.into_iter().enumerate() {
                let param = || format!("messages[{i}].content[{j}]");
                match part.kind {
                    PartKind::Text { text } => blocks.extend(non_empty_text(text)),
                    PartKind::ImageUrl { image_url } => {
                        blocks.push(image_block(&image_url.url).map_err(|msg| {
                            GatewayError::invalid_request(msg, format!("{}.image_url.url", param()))
                        })?)
                    }
                    PartKind::File { file } => {
                        let block = file_block(&file, *documents).map_err(|msg| {
                            GatewayError::invalid_request(msg, format!("{}.file", param()))
                        })?;
                        if matches!(block, ContentBlock::Document { .. }) {
                            *documents += 1;
                        }
                        blocks.push(block);
                    }
                    PartKind::InputAudio {} => {
                        return Err(GatewayError::invalid_request(
                            "only text, image_url and file content parts are supported",
                            param(),
                        ))
                    }
                }
                let cache = cache_point(part.cache_control.as_ref(), || {
                    format!("{}.cache_control", param())
                })?;
                if cache && !matches!(blocks.last(), None | Some(ContentBlock::CachePoint)) {
                    blocks.push(ContentBlock::CachePoint);
                }
            }
            Ok(blocks)
        }
    }
}

/// Reasoning first (as the model wrote it), then text, then tool calls.
fn assistant_blocks(
    content: Option<MessageContent>,
    tool_calls: Option<Vec<wire::ToolCall>>,
    reasoning: Vec<crate::chat::ReasoningBlock>,
    i: usize,
) -> Result<Vec<ContentBlock>, GatewayError> {
    let mut blocks: Vec<ContentBlock> =
        reasoning.into_iter().map(ContentBlock::Reasoning).collect();
    if let Some(content) = content {
        let (text, cache) = text_only(content, i)?;
        blocks.extend(non_empty_text(text));
        if cache && !blocks.is_empty() {
            blocks.push(ContentBlock::CachePoint);
        }
    }
    for (j, call) in tool_calls.unwrap_or_default().into_iter().enumerate() {
        let arguments = if call.function.arguments.trim().is_empty() {
            "{}"
        } else {
            &call.function.arguments
        };
        let input: Value = serde_json::from_str(arguments).map_err(|_| {
            GatewayError::invalid_request(
                "tool call arguments must be a JSON object",
                format!("messages[{i}].tool_calls[{j}].function.arguments"),
            )
        })?;
        blocks.push(ContentBlock::ToolUse {
            id: call.id,
            name: call.function.name,
            input,
        });
    }
    Ok(blocks)
}

fn non_empty_text(text: String) -> Vec<ContentBlock> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![ContentBlock::Text(text)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<ChatRequest, GatewayError> {
        from_openai(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn system_and_developer_become_the_system_prompt() {
        let req = parse(json!({"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"developer","content":[{"type":"text","text":"no jokes"}]},
            {"role":"user","content":"hi"}]}))
        .unwrap();
        assert_eq!(req.system, vec!["be brief", "no jokes"]);
        assert_eq!(
            req.messages,
            vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text("hi".into())]
            }]
        );
    }

    #[test]
    fn tool_round_trip_alternates_roles() {
        let req = parse(json!({"model":"m","messages":[
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"sunny"},
            {"role":"user","content":"thanks"}],
            "tools":[{"type":"function","function":{"name":"w","parameters":{"type":"object"}}}]}))
        .unwrap();
        assert_eq!(req.messages.len(), 3);
        assert_eq!(
            req.messages[1].content,
            vec![ContentBlock::ToolUse {
                id: "c1".into(),
                name: "w".into(),
                input: json!({"city":"Paris"})
            }]
        );
        assert_eq!(req.messages[2].role, Role::User);
        assert_eq!(
            req.messages[2].content.len(),
            2,
            "tool result and the next user text merge"
        );
        assert_eq!(req.tools[0].name, "w");
    }

    #[test]
    fn data_url_images_decode_and_remote_urls_are_refused() {
        let ok = parse(json!({"model":"m","messages":[{"role":"user","content":[
            {"type":"text","text":"what is this"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}))
        .unwrap();
        assert!(matches!(
            ok.messages[0].content[1],
            ContentBlock::Image {
                format: crate::chat::ImageFormat::Png,
                ..
            }
        ));
        let err = parse(json!({"model":"m","messages":[{"role":"user","content":[
            {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}))
        .unwrap_err();
        assert!(matches!(err, GatewayError::InvalidRequest { .. }));
        assert_eq!(err.param(), Some("messages[0].content[0].image_url.url"));
    }

    #[test]
    fn unsupported_values_name_their_field() {
        for (body, param) in [
            (
                json!({"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}),
                "n",
            ),
            (
                json!({"model":"m","temperature":3,"messages":[{"role":"user","content":"x"}]}),
                "temperature",
            ),
            (
                json!({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}),
                "max_tokens",
            ),
            (json!({"model":"m","messages":[]}), "messages"),
            (
                json!({"model":"m","messages":[{"role":"assistant","content":"x"}]}),
                "messages",
            ),
            (
                json!({"model":"m","tool_choice":"required","messages":[{"role":"user","content":"x"}]}),
                "tool_choice",
            ),
            (
                json!({"model":"m","response_format":{"type":"json_schema"},"messages":[{"role":"user","content":"x"}]}),
                "response_format.json_schema",
            ),
            (
                json!({"model":"m","response_format":{"type":"xml"},"messages":[{"role":"user","content":"x"}]}),
                "response_format.type",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.param(), Some(param));
            assert!(err.message().contains(param), "{}", err.message());
        }
    }

    #[test]
    fn parameters_carry_over() {
        let req = parse(
            json!({"model":"m","temperature":1.5,"top_p":0.9,"max_completion_tokens":50,
            "max_tokens":10,"stop":"END","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"user","content":"x"}],"unknown_field":{"a":1}}),
        )
        .unwrap();
        assert_eq!(
            req.params,
            InferenceParams {
                max_tokens: Some(50),
                temperature: Some(1.0),
                top_p: Some(0.9),
                stop: vec!["END".into()]
            }
        );
        assert!(req.stream && req.include_usage);
    }

    #[test]
    fn cache_control_becomes_cache_points_after_the_marked_block() {
        let eph = json!({"type": "ephemeral"});
        let req = parse(json!({"model":"m",
            "tools":[{"type":"function","function":{"name":"t","cache_control":eph}}],
            "messages":[
                {"role":"system","content":[{"type":"text","text":"sys","cache_control":eph}]},
                {"role":"system","content":"not cached"},
                {"role":"user","content":[{"type":"text","text":"a","cache_control":eph},{"type":"text","text":"b"}]},
                {"role":"assistant","content":"c","cache_control":eph},
                {"role":"user","content":"d"}]}))
        .unwrap();
        assert_eq!(req.system_cache_points, vec![0]);
        assert!(req.tools[0].cache_point);
        assert_eq!(
            req.messages[0].content,
            vec![
                ContentBlock::Text("a".into()),
                ContentBlock::CachePoint,
                ContentBlock::Text("b".into())
            ]
        );
        assert_eq!(
            req.messages[1].content,
            vec![ContentBlock::Text("c".into()), ContentBlock::CachePoint]
        );
    }

    #[test]
    fn reasoning_and_thinking_blocks_carry_over() {
        use crate::chat::{Reasoning, ReasoningBlock, ReasoningEffort};
        let req = parse(json!({"model":"m","reasoning_effort":"minimal","messages":[
            {"role":"user","content":"q"},
            {"role":"assistant","content":"a","thinking_blocks":[
                {"type":"thinking","thinking":"hmm","signature":"sig"},
                {"type":"redacted_thinking","data":"b64"}]},
            {"role":"user","content":"q2"}]}))
        .unwrap();
        assert_eq!(req.reasoning, Some(Reasoning::Effort(ReasoningEffort::Low)));
        assert_eq!(
            req.messages[1].content,
            vec![
                ContentBlock::Reasoning(ReasoningBlock::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into())
                }),
                ContentBlock::Reasoning(ReasoningBlock::Redacted { data: "b64".into() }),
                ContentBlock::Text("a".into()),
            ]
        );
        let thinking = parse(json!({"model":"m","reasoning_effort":"low",
            "thinking":{"type":"enabled","budget_tokens":5000},
            "messages":[{"role":"user","content":"q"}]}))
        .unwrap();
        assert_eq!(
            thinking.reasoning,
            Some(Reasoning::Budget(5000)),
            "thinking wins"
        );
    }

    #[test]
    fn response_formats_carry_their_schema() {
        let req = parse(json!({"model":"m","messages":[{"role":"user","content":"q"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"}}}}))
        .unwrap();
        assert_eq!(
            req.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "w".into(),
                description: None,
                schema: json!({"type":"object"})
            })
        );
        let text = parse(
            json!({"model":"m","messages":[{"role":"user","content":"q"}],
            "response_format":{"type":"text"}}),
        )
        .unwrap();
        assert_eq!(text.response_format, None);
    }
}
