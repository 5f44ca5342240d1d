//! The provider-neutral chat request, response and stream events that the request path uses.
//!
//! `openai::into_chat` turns an OpenAI request into a [`ChatRequest`]; providers turn a
//! `ChatRequest` into their own wire format and answer with a [`ChatResponse`] or a stream of [`StreamEvent`]s.

pub mod caps;

use serde_json::Value;

/// A validated chat request, in the shape every provider can take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model group the client asked for (the `model_name` in config).
    pub model: String,
    pub system: Vec<String>,
    /// Alternating user/assistant turns, starting with the user.
    pub messages: Vec<Message>,
    pub params: InferenceParams,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub stream: bool,
    pub include_usage: bool,
    pub user: Option<String>,
    /// How this request wants to be routed (LiteLLM's request fields and headers).
    pub routing: RouteOptions,
    /// Guardrail names the request adds (LiteLLM's body field `guardrails`); it cannot remove
    /// the ones on by default, on its model group, or on its key.
    pub guardrails: Vec<String>,
    /// The body's `metadata` (session id, tags, Phoenix project), for traces only.
    pub metadata: Option<Value>,
}

/// Per-request routing: LiteLLM's body fields `fallbacks`, `disable_fallbacks`, `num_retries`,
/// `timeout`, and headers `x-litellm-timeout`, `x-litellm-stream-timeout`,
/// `x-litellm-num-retries`. Each overrides the config for this request only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteOptions {
    pub fallbacks: Option<Vec<String>>,
    pub disable_fallbacks: bool,
    pub num_retries: Option<u32>,
    pub timeout: Option<std::time::Duration>,
    pub stream_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    Text(String),
    Image {
        format: ImageFormat,
        data: Vec<u8>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceParams {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
    Required,
    Tool(String),
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as OpenAI sends them.
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    /// One of the request's stop sequences ended the answer (`stop` to OpenAI callers).
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop | FinishReason::StopSequence => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub cached_tokens: Option<u32>,
}

/// One event of a streamed answer, in the order the client must see them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The assistant's turn begins.
    Start,
    TextDelta(String),
    /// A tool call begins; `index` counts tool calls from 0.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    Finish(FinishReason),
    Usage(Usage),
}
