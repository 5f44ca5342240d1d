//! Turns an OpenAI chat request into a [`ChatRequest`], rejecting what Bedrock cannot honour
//! with a 400 that names the field.

use base64::Engine;
use serde_json::Value;

use std::time::Duration;

use crate::chat::{
    ChatRequest, ContentBlock, ImageFormat, InferenceParams, Message, Role, RouteOptions,
    ToolChoice, ToolSpec,
};
use crate::error::GatewayError;
use crate::openai::content::{ContentPart, MessageContent};
use crate::openai::request::{self as wire, ChatCompletionRequest, MessageRole, Stop};

/// Validates and converts. System and developer messages become the system prompt; tool messages
/// become tool results in a user turn; consecutive turns of one role are merged, as Bedrock wants.
pub fn from_openai(req: ChatCompletionRequest) -> Result<ChatRequest, GatewayError> {
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
    let tools = tools(req.tools.unwrap_or_default())?;
    let tool_choice = tool_choice(req.tool_choice, &tools)?;
    let mut system = Vec::new();
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
        let (role, blocks) = match message.role {
            MessageRole::System | MessageRole::Developer => {
                system.push(text_only(required(message.content, i)?, i)?);
                continue;
            }
            MessageRole::User => (Role::User, user_blocks(required(message.content, i)?, i)?),
            MessageRole::Assistant => (
                Role::Assistant,
                assistant_blocks(message.content, message.tool_calls, i)?,
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
                let content = text_only(required(message.content, i)?, i)?;
                (
                    Role::User,
                    vec![ContentBlock::ToolResult {
                        tool_use_id,
                        content,
                    }],
                )
            }
        };
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
        }),
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
    if req
        .response_format
        .as_ref()
        .is_some_and(|f| f.kind != "text")
    {
        return unsupported("response_format", "only the `text` format is available");
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
            let parameters = tool
                .function
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            Ok(ToolSpec {
                name,
                description: tool.function.description,
                parameters,
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

fn text_only(content: MessageContent, i: usize) -> Result<String, GatewayError> {
    match content {
        MessageContent::Text(text) => Ok(text),
        MessageContent::Parts(parts) => {
            let mut text = String::new();
            for (j, part) in parts.into_iter().enumerate() {
                match part {
                    ContentPart::Text { text: t } => {
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
            }
            Ok(text)
        }
    }
}

fn user_blocks(content: MessageContent, i: usize) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        MessageContent::Text(text) => Ok(non_empty_text(text)),
        MessageContent::Parts(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.into_iter().enumerate() {
                let param = || format!("messages[{i}].content[{j}]");
                match part {
                    ContentPart::Text { text } => blocks.extend(non_empty_text(text)),
                    ContentPart::ImageUrl { image_url } => {
                        blocks.push(image_block(&image_url.url).map_err(|msg| {
                            GatewayError::invalid_request(msg, format!("{}.image_url.url", param()))
                        })?)
                    }
                    ContentPart::InputAudio {} | ContentPart::File {} => {
                        return Err(GatewayError::invalid_request(
                            "only text and image_url content parts are supported",
                            param(),
                        ))
                    }
                }
            }
            Ok(blocks)
        }
    }
}

fn assistant_blocks(
    content: Option<MessageContent>,
    tool_calls: Option<Vec<wire::ToolCall>>,
    i: usize,
) -> Result<Vec<ContentBlock>, GatewayError> {
    let mut blocks = match content {
        Some(content) => non_empty_text(text_only(content, i)?),
        None => Vec::new(),
    };
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

/// Decodes `data:image/<format>;base64,<data>`. Remote URLs are refused: the gateway does not
/// fetch arbitrary addresses on a client's behalf.
fn image_block(url: &str) -> Result<ContentBlock, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err("only base64 data URLs (data:image/png;base64,...) are supported".to_owned());
    };
    let Some((media, data)) = rest.split_once(";base64,") else {
        return Err("the data URL must be base64-encoded (data:image/png;base64,...)".to_owned());
    };
    let format = match media {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(format!(
                "image type `{other}` is not supported (png, jpeg, gif, webp)"
            ))
        }
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| "the image data is not valid base64".to_owned())?;
    Ok(ContentBlock::Image { format, data })
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
                format: ImageFormat::Png,
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
                "response_format",
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
}
