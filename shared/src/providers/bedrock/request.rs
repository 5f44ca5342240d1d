//! A [`ChatRequest`] in Bedrock Converse's terms: messages, system, inference and tool config.

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_types::error::operation::BuildError;

use super::document::to_document;
use crate::chat::{
    ChatRequest, ContentBlock, DocumentFormat, ImageFormat, ReasoningBlock, ResponseFormat, Role,
    ToolChoice,
};

/// The tool a structured answer is forced through (LiteLLM's name); its input is the answer.
pub const JSON_TOOL_NAME: &str = "json_tool_call";

/// Everything Converse and ConverseStream take besides the model id.
#[derive(Debug, Clone)]
pub struct ConverseParts {
    pub messages: Vec<bedrock::Message>,
    pub system: Vec<bedrock::SystemContentBlock>,
    pub inference: Option<bedrock::InferenceConfiguration>,
    pub tools: Option<bedrock::ToolConfiguration>,
    /// `additionalModelRequestFields` (reasoning), set per model by the provider.
    pub additional_fields: Option<aws_smithy_types::Document>,
}

pub fn converse_parts(request: &ChatRequest) -> Result<ConverseParts, BuildError> {
    let messages = request
        .messages
        .iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    let mut system = Vec::with_capacity(request.system.len());
    for (i, text) in request.system.iter().enumerate() {
        system.push(bedrock::SystemContentBlock::Text(text.clone()));
        if request.system_cache_points.contains(&i) {
            system.push(bedrock::SystemContentBlock::CachePoint(cache_point()?));
        }
    }
    Ok(ConverseParts {
        messages,
        system,
        inference: inference(request),
        tools: tool_config(request)?,
        additional_fields: None,
    })
}

fn message(message: &crate::chat::Message) -> Result<bedrock::Message, BuildError> {
    let role = match message.role {
        Role::User => bedrock::ConversationRole::User,
        Role::Assistant => bedrock::ConversationRole::Assistant,
    };
    let content = message
        .content
        .iter()
        .map(content_block)
        .collect::<Result<Vec<_>, _>>()?;
    bedrock::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
}

fn cache_point() -> Result<bedrock::CachePointBlock, BuildError> {
    bedrock::CachePointBlock::builder()
        .r#type(bedrock::CachePointType::Default)
        .build()
}

fn content_block(block: &ContentBlock) -> Result<bedrock::ContentBlock, BuildError> {
    Ok(match block {
        ContentBlock::CachePoint => bedrock::ContentBlock::CachePoint(cache_point()?),
        ContentBlock::Document { format, name, data } => bedrock::ContentBlock::Document(
            bedrock::DocumentBlock::builder()
                .format(match format {
                    DocumentFormat::Pdf => bedrock::DocumentFormat::Pdf,
                    DocumentFormat::Csv => bedrock::DocumentFormat::Csv,
                    DocumentFormat::Doc => bedrock::DocumentFormat::Doc,
                    DocumentFormat::Docx => bedrock::DocumentFormat::Docx,
                    DocumentFormat::Xls => bedrock::DocumentFormat::Xls,
                    DocumentFormat::Xlsx => bedrock::DocumentFormat::Xlsx,
                    DocumentFormat::Html => bedrock::DocumentFormat::Html,
                    DocumentFormat::Txt => bedrock::DocumentFormat::Txt,
                    DocumentFormat::Md => bedrock::DocumentFormat::Md,
                })
                .name(name)
                .source(bedrock::DocumentSource::Bytes(Blob::new(data.clone())))
                .build()?,
        ),
        ContentBlock::Reasoning(ReasoningBlock::Thinking { text, signature }) => {
            bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::ReasoningText(
                bedrock::ReasoningTextBlock::builder()
                    .text(text)
                    .set_signature(signature.clone())
                    .build()?,
            ))
        }
        // Bedrock's redacted bytes travel as base64 (the Anthropic-shaped data); data that is
        // not base64 goes as its own bytes.
        ContentBlock::Reasoning(ReasoningBlock::Redacted { data }) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_else(|_| data.clone().into_bytes());
            bedrock::ContentBlock::ReasoningContent(
                bedrock::ReasoningContentBlock::RedactedContent(Blob::new(bytes)),
            )
        }
        ContentBlock::Text(text) => bedrock::ContentBlock::Text(text.clone()),
        ContentBlock::Image { format, data } => bedrock::ContentBlock::Image(
            bedrock::ImageBlock::builder()
                .format(match format {
                    ImageFormat::Png => bedrock::ImageFormat::Png,
                    ImageFormat::Jpeg => bedrock::ImageFormat::Jpeg,
                    ImageFormat::Gif => bedrock::ImageFormat::Gif,
                    ImageFormat::Webp => bedrock::ImageFormat::Webp,
                })
                .source(bedrock::ImageSource::Bytes(Blob::new(data.clone())))
                .build()?,
        ),
        ContentBlock::ToolUse { id, name, input } => bedrock::ContentBlock::ToolUse(
            bedrock::ToolUseBlock::builder()
                .tool_use_id(id)
                .name(name)
                .input(to_document(input))
                .build()?,
        ),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
        } => bedrock::ContentBlock::ToolResult(
            bedrock::ToolResultBlock::builder()
                .tool_use_id(tool_use_id)
                .content(bedrock::ToolResultContentBlock::Text(content.clone()))
                .build()?,
        ),
    })
}

fn inference(request: &ChatRequest) -> Option<bedrock::InferenceConfiguration> {
    let p = &request.params;
    if p.max_tokens.is_none() && p.temperature.is_none() && p.top_p.is_none() && p.stop.is_empty() {
        return None;
    }
    let stop = (!p.stop.is_empty()).then(|| p.stop.clone());
    Some(
        bedrock::InferenceConfiguration::builder()
            .set_max_tokens(p.max_tokens.map(|t| i32::try_from(t).unwrap_or(i32::MAX)))
            .set_temperature(p.temperature)
            .set_top_p(p.top_p)
            .set_stop_sequences(stop)
            .build(),
    )
}

/// Bedrock has no `tool_choice: none`; without earlier tool calls in the conversation the tools
/// are simply left out, with them they stay (Bedrock requires them) under `auto`.
fn tool_config(request: &ChatRequest) -> Result<Option<bedrock::ToolConfiguration>, BuildError> {
    let history_uses_tools = request.messages.iter().flat_map(|m| &m.content).any(|b| {
        matches!(
            b,
            ContentBlock::ToolUse { .. } | ContentBlock::ToolResult { .. }
        )
    });
    if let Some(format) = &request.response_format {
        return json_tool_config(request, format).map(Some);
    }
    if request.tools.is_empty() || (request.tool_choice == ToolChoice::None && !history_uses_tools)
    {
        return Ok(None);
    }
    let tools = tool_specs(request)?;
    let choice = match &request.tool_choice {
        ToolChoice::Auto | ToolChoice::None => None,
        ToolChoice::Required => Some(bedrock::ToolChoice::Any(
            bedrock::AnyToolChoice::builder().build(),
        )),
        ToolChoice::Tool(name) => Some(bedrock::ToolChoice::Tool(
            bedrock::SpecificToolChoice::builder().name(name).build()?,
        )),
    };
    bedrock::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
        .map(Some)
}

/// The caller's tools, each followed by a cache point where it asked for one.
fn tool_specs(request: &ChatRequest) -> Result<Vec<bedrock::Tool>, BuildError> {
    let mut tools = Vec::with_capacity(request.tools.len() + 1);
    for tool in &request.tools {
        tools.push(bedrock::Tool::ToolSpec(
            bedrock::ToolSpecification::builder()
                .name(&tool.name)
                .set_description(tool.description.clone())
                .input_schema(bedrock::ToolInputSchema::Json(to_document(
                    &tool.parameters,
                )))
                .build()?,
        ));
        if tool.cache_point {
            tools.push(bedrock::Tool::CachePoint(cache_point()?));
        }
    }
    Ok(tools)
}

/// A structured answer, as LiteLLM asks Bedrock for one: the caller's tools (Bedrock needs
/// them when the conversation used them) plus [`JSON_TOOL_NAME`] with the schema, forced. With
/// thinking on Claude takes no forced tool, so the choice stays `auto`.
fn json_tool_config(
    request: &ChatRequest,
    format: &ResponseFormat,
) -> Result<bedrock::ToolConfiguration, BuildError> {
    let (description, schema) = match format {
        ResponseFormat::JsonObject => (
            "Respond with a JSON object.".to_owned(),
            serde_json::json!({"type": "object", "additionalProperties": true, "properties": {}}),
        ),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
        } => (
            description
                .clone()
                .unwrap_or_else(|| format!("Respond with `{name}` as JSON matching the schema.")),
            schema.clone(),
        ),
    };
    let mut tools = tool_specs(request)?;
    tools.push(bedrock::Tool::ToolSpec(
        bedrock::ToolSpecification::builder()
            .name(JSON_TOOL_NAME)
            .description(description)
            .input_schema(bedrock::ToolInputSchema::Json(to_document(&schema)))
            .build()?,
    ));
    let choice = if request.reasoning.is_some() {
        None
    } else {
        Some(bedrock::ToolChoice::Tool(
            bedrock::SpecificToolChoice::builder()
                .name(JSON_TOOL_NAME)
                .build()?,
        ))
    };
    bedrock::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{InferenceParams, Message, ToolSpec};
    use serde_json::json;

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            system: vec!["be brief".into()],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::Text("hi".into())],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse {
                        id: "t1".into(),
                        name: "w".into(),
                        input: json!({"c":"P"}),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "t1".into(),
                        content: "sunny".into(),
                    }],
                },
            ],
            params: InferenceParams {
                max_tokens: Some(5),
                temperature: None,
                top_p: Some(0.5),
                stop: vec!["X".into()],
            },
            tools: vec![ToolSpec {
                name: "w".into(),
                description: None,
                parameters: json!({"type":"object"}),
                cache_point: false,
            }],
            tool_choice: ToolChoice::Tool("w".into()),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn converts_messages_system_params_and_tools() {
        let parts = converse_parts(&request()).unwrap();
        assert_eq!(parts.messages.len(), 3);
        assert_eq!(
            parts.messages[1].role(),
            &bedrock::ConversationRole::Assistant
        );
        assert!(parts.messages[2].content()[0].is_tool_result());
        assert_eq!(
            parts.system,
            vec![bedrock::SystemContentBlock::Text("be brief".into())]
        );
        let inference = parts.inference.unwrap();
        assert_eq!(
            (
                inference.max_tokens(),
                inference.top_p(),
                inference.stop_sequences()
            ),
            (Some(5), Some(0.5), &["X".to_string()][..])
        );
        let tools = parts.tools.unwrap();
        assert_eq!(tools.tools().len(), 1);
        assert!(
            matches!(tools.tool_choice(), Some(bedrock::ToolChoice::Tool(t)) if t.name() == "w")
        );
    }

    #[test]
    fn tool_choice_none_drops_tools_without_tool_history() {
        let mut req = request();
        req.messages.truncate(1);
        req.tool_choice = ToolChoice::None;
        req.params = InferenceParams::default();
        let parts = converse_parts(&req).unwrap();
        assert!(parts.tools.is_none() && parts.inference.is_none());
    }
}
