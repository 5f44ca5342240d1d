//! The `chat.completion` response body.

use serde::Serialize;

use crate::chat::{ChatResponse, ReasoningBlock, Usage};

#[derive(Debug, Serialize)]
pub struct ChatCompletionResponse<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: [Choice<'a>; 1],
    pub usage: UsageBody,
}

#[derive(Debug, Serialize)]
pub struct Choice<'a> {
    pub index: u32,
    pub message: AssistantMessage<'a>,
    pub finish_reason: &'static str,
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage<'a> {
    pub role: &'static str,
    pub content: Option<&'a str>,
    /// The reasoning's text, joined (LiteLLM's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The reasoning blocks with their signatures, as Anthropic shapes them (LiteLLM's field);
    /// a client sends them back on the assistant message for multi-turn thinking.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thinking_blocks: Vec<ThinkingBlockBody<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallBody<'a>>,
}

/// `{"type":"thinking","thinking":..,"signature":..}` or `{"type":"redacted_thinking","data":..}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlockBody<'a> {
    Thinking {
        thinking: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedThinking {
        data: &'a str,
    },
}

impl<'a> From<&'a ReasoningBlock> for ThinkingBlockBody<'a> {
    fn from(block: &'a ReasoningBlock) -> Self {
        match block {
            ReasoningBlock::Thinking { text, signature } => ThinkingBlockBody::Thinking {
                thinking: text,
                signature: signature.as_deref(),
            },
            ReasoningBlock::Redacted { data } => ThinkingBlockBody::RedactedThinking { data },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ToolCallBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct FunctionBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct UsageBody {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// LiteLLM's (Anthropic's) names for the prompt-cache counts, when the provider reported any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u32,
}

impl From<Usage> for UsageBody {
    fn from(u: Usage) -> Self {
        UsageBody {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            prompt_tokens_details: (u.cached_tokens.is_some() || u.cache_write_tokens.is_some())
                .then(|| PromptTokensDetails {
                    cached_tokens: u.cached_tokens.unwrap_or(0),
                }),
            completion_tokens_details: u
                .reasoning_tokens
                .map(|reasoning_tokens| CompletionTokensDetails { reasoning_tokens }),
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cached_tokens,
        }
    }
}

impl<'a> ChatCompletionResponse<'a> {
    /// `model` is the name the client asked for, not the Bedrock model id.
    pub fn new(id: &'a str, created: u64, model: &'a str, response: &'a ChatResponse) -> Self {
        let tool_calls = response
            .tool_calls
            .iter()
            .map(|call| ToolCallBody {
                index: None,
                id: Some(&call.id),
                kind: Some("function"),
                function: FunctionBody {
                    name: Some(&call.name),
                    arguments: &call.arguments,
                },
            })
            .collect();
        ChatCompletionResponse {
            id,
            object: "chat.completion",
            created,
            model,
            choices: [Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: response.content.as_deref(),
                    reasoning_content: reasoning_text(&response.reasoning),
                    thinking_blocks: response.reasoning.iter().map(Into::into).collect(),
                    tool_calls,
                },
                finish_reason: response.finish_reason.as_str(),
                logprobs: None,
            }],
            usage: response.usage.into(),
        }
    }
}

/// The readable reasoning joined, or `None` when there is none.
fn reasoning_text(blocks: &[ReasoningBlock]) -> Option<String> {
    let mut text = String::new();
    for block in blocks {
        if let ReasoningBlock::Thinking { text: t, .. } = block {
            text.push_str(t);
        }
    }
    (!blocks.is_empty()).then_some(text)
}

/// Seconds since the Unix epoch, for `created`.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
